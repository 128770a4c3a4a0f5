/* The train suite: training steps/s of a small model through clippo_train_run. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench/bench_internal.h"
#include "clippo/npy.h"
#include "clippo/train.h"

/* ---- train ----------------------------------------------------------------------------- */

/* Step times from the training loop's progress callback. */
typedef struct train_clock {
  double last;
  double times[64];
  int n;
} train_clock;

static void train_progress(const clippo_train_progress *p, void *user) {
  train_clock *c = user;
  double t = clippo_bench_now();
  if (p->step > 0 && c->n < 64) c->times[c->n++] = t - c->last;
  c->last = t;
}

/* Training steps/s of a small model (64 px, patch 8, width 128, depth 4, batch 64) through
 * clippo_train_run on one fixed set of random images and captions written to a temporary
 * folder; the first step (kernel builds) is the warm-up. */
clippo_status bench_run_train(bench_suite *s, clippo_error *err) {
  const size_t B = 64;
  const int S = 64;
  const char *shape = "64 px, patch 8, width 128, depth 4, 4 heads, MAP head; batch 64 pairs";
  char dir[1100], images[1200], texts[1200];
  snprintf(dir, sizeof dir, "%s/clippo-bench-train-XXXXXX", s->rt->settings.tmp_dir);
  if (!mkdtemp(dir)) {
    char note[1300];
    snprintf(note, sizeof note, "cannot create a temporary folder %s: %s", dir, strerror(errno));
    return bench_emit_status(s, "train", "steps", "clippo", shape, "failed", note, err);
  }
  snprintf(images, sizeof images, "%s/images.npy", dir);
  snprintf(texts, sizeof texts, "%s/texts.txt", dir);
  clippo_error e;
  clippo_array arr;
  memset(&arr, 0, sizeof arr);
  int64_t shp[4] = {(int64_t)B, S, S, 3};
  clippo_status st = clippo_array_alloc(&arr, CLIPPO_F32, 4, shp, &e);
  if (!st) {
    bench_fill_uniform(arr.data, B * S * S * 3, -1, 1, 99);
    st = clippo_npy_save(images, &arr, &e);
  }
  clippo_array_free(&arr);
  char **caps = st ? NULL : bench_make_captions(B);
  if (!st && !caps) st = clippo_fail(&e, CLIPPO_E_NOMEM, "bench: out of host memory");
  if (!st) {
    FILE *f = fopen(texts, "w");
    if (!f) st = clippo_fail(&e, CLIPPO_E_IO, "cannot write %s: %s", texts, strerror(errno));
    for (size_t i = 0; f && i < B; i++) {
      /* short captions: a 64 px image holds 4 lines */
      char c[40];
      snprintf(c, sizeof c, "%.32s", caps[i]);
      fprintf(f, "%s\n", c);
    }
    if (f && fclose(f) != 0) st = clippo_fail(&e, CLIPPO_E_IO, "cannot write %s", texts);
  }
  bench_free_captions(caps, B);
  clippo_train_opts o;
  clippo_train_opts_default(&o);
  snprintf(o.device, sizeof o.device, "%d:%d", s->rt->info.platform_index,
           s->rt->info.device_index);
  snprintf(o.model, sizeof o.model,
           "{\"width\": 128, \"depth\": 4, \"heads\": 4, \"mlp_dim\": 512, \"patch\": 8, "
           "\"image_size\": 64, \"out_dim\": 128, \"pool\": \"map\"}");
  snprintf(o.images, sizeof o.images, "%s", images);
  snprintf(o.texts, sizeof o.texts, "%s", texts);
  for (size_t i = 0; i < s->o.nfonts && i < CLIPPO_TRAIN_MAX_FONTS; i++) {
    snprintf(o.fonts[i], sizeof o.fonts[i], "%s", s->o.fonts[i]);
    o.nfonts = i + 1;
  }
  o.batch_size = B;
  int runs = s->o.runs > 60 ? 60 : s->o.runs;
  o.steps = s->o.warmup + runs;
  train_clock clk;
  memset(&clk, 0, sizeof clk);
  clippo_train_result res;
  memset(&res, 0, sizeof res);
  double t0 = clippo_bench_now();
  clk.last = t0;
  if (!st) st = clippo_train_run(&o, train_progress, &clk, &res, &e);
  remove(images);
  remove(texts);
  rmdir(dir);
  if (st) {
    if (e.status == CLIPPO_E_NOMEM) {
      *err = e;
      return CLIPPO_E_NOMEM;
    }
    return bench_emit_status(s, "train", "steps", "clippo", shape, "failed", e.msg, err);
  }
  int skip = s->o.warmup < clk.n ? s->o.warmup : 0;
  int n = clk.n - skip;
  if (n <= 0)
    return bench_emit_status(s, "train", "steps", "clippo", shape, "failed",
                             "the training loop reported no steps", err);
  double first = clk.times[0], *t = clk.times + skip;
  clippo_bench_row row;
  bench_row_init(&row, "train", "steps", "clippo");
  snprintf(row.shape, sizeof row.shape, "%s", shape);
  row.runs = n;
  row.median_s = bench_median(t, n);
  row.min_s = t[0];
  row.batch = B;
  clippo_config cfg;
  if (clippo_train_model_config(o.model, &cfg, &e) == CLIPPO_OK)
    row.flops = 3.0 * 2.0 * (double)B * bench_model_flops(&cfg); /* fwd + bwd ~ 3x fwd, 2B inputs */
  row.rate = row.median_s > 0 ? 1.0 / row.median_s : 0;
  snprintf(row.rate_unit, sizeof row.rate_unit, "steps/s");
  snprintf(row.note, sizeof row.note,
           "clippo_train_run, adafactor, random images + rendered captions; first step %.2f s; "
           "GFLOP/s counts forward + backward as 3x forward; loss %.3f -> %.3f",
           first, res.first_loss, res.last_loss);
  TRY(bench_emit(s, &row, err));
  return bench_plan_train_rows(s, o.model, B, err); /* planned vs unplanned (bench_plan.c) */
}
