/* The report of a retrieval evaluation (cli_recall.h). */
#include "cli_recall.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>

static void print_table(const cli_recall_report *r, const clippo_recall *rec) {
  printf("%s: %s\n  model %s, ", r->title, r->dataset, r->model);
  for (size_t i = 0; i < r->n_counts; i++)
    printf("%s%zu %s", i ? ", " : "", r->counts[i].value, r->counts[i].label);
  printf("\n\n");
  int w = r->label_width;
  printf("  %-*s %8s %8s %8s\n", w, "", "R@1", "R@5", "R@10");
  printf("  %-*s %7.2f%% %7.2f%% %7.2f%%\n", w, r->forward, 100 * rec->i2t[0], 100 * rec->i2t[1],
         100 * rec->i2t[2]);
  printf("  %-*s %7.2f%% %7.2f%% %7.2f%%\n", w, r->backward, 100 * rec->t2i[0], 100 * rec->t2i[1],
         100 * rec->t2i[2]);
}

int cli_recall_print(const cli_recall_report *r, const clippo_recall *rec, int json) {
  if (!json) {
    print_table(r, rec);
    return 0;
  }
  cJSON *o = cJSON_CreateObject(), *x = NULL, *y = NULL;
  int ok = o && cJSON_AddStringToObject(o, "task", r->task) &&
           cJSON_AddStringToObject(o, "dataset", r->dataset) &&
           cJSON_AddStringToObject(o, "model", r->model);
  for (size_t i = 0; ok && i < r->n_counts; i++)
    ok = cJSON_AddNumberToObject(o, r->counts[i].key, (double)r->counts[i].value) != NULL;
  ok = ok && (x = cJSON_AddObjectToObject(o, r->forward_key)) &&
       (y = cJSON_AddObjectToObject(o, r->backward_key));
  static const char *const keys[3] = {"recall@1", "recall@5", "recall@10"};
  for (int k = 0; ok && k < 3; k++)
    ok = cJSON_AddNumberToObject(x, keys[k], rec->i2t[k]) &&
         cJSON_AddNumberToObject(y, keys[k], rec->t2i[k]);
  char *s = ok ? cJSON_PrintUnformatted(o) : NULL;
  if (s) printf("%s\n", s);
  free(s);
  cJSON_Delete(o);
  return s ? 0 : -1;
}
