/* Class names, templates, the classifier and image files for `zeroshot` and `eval`. */
#include "cli_zeroshot.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli_paths.h"
#include "cli_shard.h"
#include "cli_util.h"

/* Files embedded per call (the model batches inside). */
#define CHUNK 64

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void cli_classes_warn_duplicates(const char *cmd, const clippo_classes *cls) {
  for (size_t i = 1; i < cls->count; i++) {
    size_t j = clippo_classes_duplicate_of(cls, i);
    if (j == (size_t)-1) continue;
    fprintf(stderr,
            "clippo %s: warning: classes %zu '%s' and %zu '%s' have the same prompt name '%s': "
            "they get the same embedding and cannot be told apart\n",
            cmd, j + 1, cls->labels[j], i + 1, cls->labels[i], cls->prompt_names[i]);
  }
}

int cli_classes_load(const char *cmd, const char *list, const char *file, int canon,
                     clippo_classes *cls) {
  clippo_error err;
  char buf[CLI_PATH_MAX];
  clippo_status st =
      list ? clippo_classes_parse_list(list, canon, cls, &err)
           : clippo_classes_load_file(cli_input_file(file, buf, sizeof buf), canon, cls, &err);
  if (st) return cli_report(cmd, &err);
  cli_classes_warn_duplicates(cmd, cls);
  return 0;
}

int cli_templates_load(const char *cmd, const char *spec, int canon, clippo_templates *t) {
  memset(t, 0, sizeof *t);
  if (!spec) return 0;
  clippo_error err;
  char buf[CLI_PATH_MAX];
  size_t n = 0;
  const char *path =
      clippo_templates_builtin(spec, &n) ? spec : cli_input_file(spec, buf, sizeof buf);
  if (clippo_templates_load(path, canon, t, &err)) return cli_report(cmd, &err);
  return 0;
}

clippo_status cli_classifier_build(const char *cmd, clippo_task_model *tm,
                                   const clippo_classes *cls, const char *spec, int canon,
                                   clippo_templates *t, const char *cache, int quiet,
                                   clippo_classifier *clf, const char **source, clippo_error *err) {
  *source = spec;
  if (t->count == 0) {
    clippo_status st = clippo_templates_for_model(tm->prompts, canon, t, source, err);
    if (st) return st;
  }
  if (cache && !strcmp(cache, "off")) cache = "";
  clippo_classifier_stats stats;
  double t0 = now_s();
  clippo_status st = clippo_classifier_build(tm, cls, t, cache, clf, &stats, err);
  if (st) return st;
  if (stats.cache_warning[0]) fprintf(stderr, "clippo %s: warning: %s\n", cmd, stats.cache_warning);
  if (!quiet)
    fprintf(stderr,
            "clippo %s: %zu classes x %zu templates (%s) = %zu prompts: %zu embedded, %zu from "
            "the cache (%.1f s)\n",
            cmd, cls->count, t->count, *source, stats.prompts, stats.embedded, stats.cache_hits,
            now_s() - t0);
  return CLIPPO_OK;
}

/* Hands the files of one embedded chunk (c0.. c0+nc) to the sink; bad ones are skipped or stop
 * the run. */
static clippo_status drain_chunk(size_t c0, size_t nc, size_t dim, const float *z,
                                 const unsigned char *ok, const clippo_error *ferr, int skip_bad,
                                 cli_progress *progress, const cli_image_sink *sink,
                                 size_t *skipped, clippo_error *err) {
  for (size_t i = 0; i < nc; i++) {
    clippo_status st;
    if (ok[i]) {
      st = sink->image(sink->user, c0 + i, z + i * dim, err);
    } else if (skip_bad || ferr[i].status == CLIPPO_E_UNSUPPORTED) {
      cli_progress_message(progress, "skipping: %s", ferr[i].msg);
      (*skipped)++;
      st = sink->skipped ? sink->skipped(sink->user, c0 + i, &ferr[i], err) : CLIPPO_OK;
    } else {
      *err = ferr[i];
      st = err->status ? err->status : CLIPPO_E_FORMAT;
    }
    if (st) return st;
  }
  return CLIPPO_OK;
}

clippo_status cli_embed_files(clippo_task_model *tm, const char *const *files, size_t n,
                              int skip_bad, cli_progress *progress, const cli_image_sink *sink,
                              size_t *skipped, clippo_error *err) {
  return cli_embed_files_on(NULL, tm, files, n, skip_bad, progress, sink, skipped, err);
}

clippo_status cli_embed_files_on(const clippo_dist *d, clippo_task_model *tm,
                                 const char *const *files, size_t n, int skip_bad,
                                 cli_progress *progress, const cli_image_sink *sink,
                                 size_t *skipped, clippo_error *err) {
  *skipped = 0;
  float *z = malloc(CHUNK * tm->dim * sizeof *z);
  unsigned char *ok = malloc(CHUNK);
  clippo_error *ferr = malloc(CHUNK * sizeof *ferr);
  clippo_status st = CLIPPO_OK;
  if (!z || !ok || !ferr) st = clippo_fail(err, CLIPPO_E_NOMEM, "out of host memory");
  for (size_t c0 = 0; !st && c0 < n; c0 += CHUNK) {
    size_t nc = n - c0 < CHUNK ? n - c0 : CHUNK;
    st = cli_shard_embed_files(d, tm, files + c0, nc, 0, z, ok, ferr, err);
    if (!st) st = drain_chunk(c0, nc, tm->dim, z, ok, ferr, skip_bad, progress, sink, skipped, err);
    if (!st) cli_progress_update(progress, c0 + nc);
  }
  free(z);
  free(ok);
  free(ferr);
  return st;
}
