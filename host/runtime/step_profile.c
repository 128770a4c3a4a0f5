/* Wall time per kind of recorded step (clippo/graph.h): a table of labels, filled by
 * clippo_graph_run while the profile is attached to the runtime. */
#include <stdlib.h>
#include <string.h>

#include "clippo/graph.h"

typedef struct profile_entry {
  char label[CLIPPO_GRAPH_LABEL_LEN];
  double seconds, flops;
  size_t steps;
} profile_entry;

struct clippo_step_profile {
  profile_entry *entries;
  size_t count, cap;
};

clippo_status clippo_step_profile_create(clippo_step_profile **out, clippo_error *err) {
  *out = calloc(1, sizeof **out);
  if (!*out) return clippo_fail(err, CLIPPO_E_NOMEM, "out of host memory (step profile)");
  return CLIPPO_OK;
}

void clippo_step_profile_free(clippo_step_profile *p) {
  if (!p) return;
  free(p->entries);
  free(p);
}

void clippo_rt_set_step_profile(clippo_rt *rt, clippo_step_profile *p) { rt->step_profile = p; }

clippo_status clippo_step_profile_add(clippo_step_profile *p, const char *label, double seconds,
                                      double flops, clippo_error *err) {
  for (size_t i = 0; i < p->count; i++)
    if (!strcmp(p->entries[i].label, label)) {
      p->entries[i].seconds += seconds;
      p->entries[i].flops += flops;
      p->entries[i].steps++;
      return CLIPPO_OK;
    }
  if (p->count == p->cap) {
    size_t cap = p->cap ? 2 * p->cap : 32;
    profile_entry *e = realloc(p->entries, cap * sizeof *e);
    if (!e) return clippo_fail(err, CLIPPO_E_NOMEM, "out of host memory (step profile)");
    p->entries = e;
    p->cap = cap;
  }
  profile_entry *e = &p->entries[p->count++];
  memset(e, 0, sizeof *e);
  strncpy(e->label, label, sizeof e->label - 1);
  e->seconds = seconds;
  e->flops = flops;
  e->steps = 1;
  return CLIPPO_OK;
}

size_t clippo_step_profile_count(const clippo_step_profile *p) { return p ? p->count : 0; }

void clippo_step_profile_entry(const clippo_step_profile *p, size_t i, const char **label,
                               double *seconds, double *flops, size_t *steps) {
  const profile_entry *e = &p->entries[i];
  if (label) *label = e->label;
  if (seconds) *seconds = e->seconds;
  if (flops) *flops = e->flops;
  if (steps) *steps = e->steps;
}
