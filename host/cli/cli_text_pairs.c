/* `clippo eval --text-pairs`: both sides of a list of text pairs rendered and embedded by the
 * model, then recall both ways, a text matching every text it is paired with. */
#include "cli_text_pairs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_paths.h"
#include "cli_progress.h"
#include "cli_recall.h"
#include "cli_util.h"

#define CHUNK 256

int cli_text_pairs_load(const char *cmd, const char *spec, long limit, clippo_text_links *links) {
  char langs[256], buf[CLI_PATH_MAX];
  clippo_dataset *d = NULL;
  clippo_error err;
  clippo_status st;
  memset(links, 0, sizeof *links);
  if (clippo_text_pairs_builtin(spec, langs, sizeof langs)) {
    if (cli_data_file(CLI_DEFAULT_CAPTIONS_FILE, buf, sizeof buf) != 0) {
      fprintf(stderr, "clippo %s: error: --text-pairs %s: %s\n", cmd, spec, buf);
      return 1;
    }
    st = clippo_dataset_open_caption_pairs(buf, langs, &d, &err);
  } else {
    st = clippo_dataset_open_text_pairs(spec, limit > 0 ? (size_t)limit : 0, &d, &err);
  }
  size_t n = st ? 0 : clippo_dataset_size(d);
  if (limit > 0 && (size_t)limit < n) n = (size_t)limit;
  for (size_t i = 0; !st && i < n; i++)
    st = clippo_text_links_add(links, clippo_dataset_text_pair(d, i, 0),
                               clippo_dataset_text_pair(d, i, 1), &err);
  clippo_dataset_free(d);
  if (st) {
    clippo_text_links_free(links);
    return cli_report(cmd, &err);
  }
  return 0;
}

/* Embeds n texts into z (n, dim) with progress. */
static clippo_status embed_side(const char *cmd, clippo_task_model *tm, const char *what,
                                const clippo_path_list *texts, float *z, clippo_error *err) {
  cli_progress p;
  cli_progress_start(&p, cmd, what, texts->count, 0);
  clippo_status st = CLIPPO_OK;
  for (size_t c0 = 0; !st && c0 < texts->count; c0 += CHUNK) {
    size_t nc = texts->count - c0 < CHUNK ? texts->count - c0 : CHUNK;
    st = clippo_embed_texts_batched(tm, (const char *const *)texts->items + c0, nc,
                                    z + c0 * tm->dim, err);
    if (!st) cli_progress_update(&p, c0 + nc);
  }
  cli_progress_finish(&p);
  return st;
}

static int report(const char *name, const char *model, int json, const clippo_text_links *l,
                  const clippo_recall *rec) {
  const cli_recall_count counts[] = {{"first texts", "first_texts", l->first.count},
                                     {"second texts", "second_texts", l->second.count},
                                     {"pairs", "pairs", l->links}};
  const cli_recall_report r = {.title = "Text-text retrieval",
                               .task = "text_retrieval",
                               .dataset = name,
                               .model = model,
                               .counts = counts,
                               .n_counts = 3,
                               .forward = "first->second",
                               .backward = "second->first",
                               .forward_key = "first_to_second",
                               .backward_key = "second_to_first",
                               .label_width = 15};
  return cli_recall_print(&r, rec, json);
}

int cli_text_pairs_eval(const char *cmd, const char *name, const char *model, int json,
                        clippo_task_model *tm, const clippo_text_links *links) {
  clippo_error err;
  float *za = malloc((links->first.count + 1) * tm->dim * sizeof *za);
  float *zb = malloc((links->second.count + 1) * tm->dim * sizeof *zb);
  clippo_status st = za && zb ? CLIPPO_OK : clippo_fail(&err, CLIPPO_E_NOMEM, "out of memory");
  if (!st) st = embed_side(cmd, tm, "first texts", &links->first, za, &err);
  if (!st) st = embed_side(cmd, tm, "second texts", &links->second, zb, &err);
  clippo_recall rec;
  if (!st)
    st = clippo_link_recall(za, links->first.count, zb, links->second.count, links->first_of,
                            links->second_of, links->links, tm->dim, &rec, &err);
  if (!st && report(name, model, json, links, &rec))
    st = clippo_fail(&err, CLIPPO_E_NOMEM, "out of memory writing JSON");
  free(za);
  free(zb);
  return st ? cli_report(cmd, &err) : 0;
}
