/* Rows of planned execution (clippo_plan, include/clippo/model.h): the same call with the model
 * planned and unplanned (clippo_model_set_planned), timed in alternation in one loop so that both
 * see the same machine: B/16 embedding at batch 1 (embed suite) and the train suite's 64 px model,
 * forward + backward of 2 x 64 inputs (train suite), and the embedding of one image by that small
 * model, where launches rather than arithmetic set the time. The planned row's ratio is its speed
 * over the unplanned one; the notes give the plan's steps and its arena beside the activations it
 * holds. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/bench_internal.h"
#include "clippo/graph.h"
#include "clippo/params.h"
#include "clippo/train.h"

/* fn on m planned and unplanned: warm-up calls of each, then pairs of timed calls, the order
 * swapped every pair (ABBA), until s->o.runs pairs or the time budget. The model is left planned.
 */
static clippo_status time_both(const bench_suite *s, clippo_model *m, bench_fn fn, void *ctx,
                               timing *planned, timing *unplanned, clippo_error *err) {
  memset(planned, 0, sizeof *planned);
  memset(unplanned, 0, sizeof *unplanned);
  int runs = s->o.runs > 0 ? s->o.runs : 1;
  double *tp = calloc((size_t)runs, sizeof *tp), *tu = calloc((size_t)runs, sizeof *tu);
  clippo_status st =
      tp && tu ? CLIPPO_OK : clippo_fail(err, CLIPPO_E_NOMEM, "bench: out of host memory");
  int n = 0;
  double spent = 0;
  for (int r = -s->o.warmup; !st && r < runs; r++) {
    double pair = 0;
    for (int k = 0; k < 2 && !st; k++) {
      int plan = (k == 0) == (r % 2 == 0); /* planned first on even pairs */
      st = clippo_model_set_planned(m, plan, err);
      double t0 = clippo_bench_now();
      if (!st) st = fn(ctx, err);
      if (!st) st = clippo_rt_finish(s->rt, err);
      double t = clippo_bench_now() - t0;
      pair += t;
      if (r == -s->o.warmup) (plan ? planned : unplanned)->first_s = t;
      if (r >= 0) (plan ? tp : tu)[n] = t;
    }
    if (st || r < 0) continue;
    n++;
    spent += pair;
    if (spent + pair > s->o.budget_s) break;
  }
  clippo_status st2 = clippo_model_set_planned(m, 1, st ? NULL : err);
  if (!st) st = st2;
  if (!st && n > 0) {
    planned->runs = unplanned->runs = n;
    planned->median_s = bench_median(tp, n);
    planned->min_s = tp[0]; /* sorted by bench_median */
    unplanned->median_s = bench_median(tu, n);
    unplanned->min_s = tu[0];
  }
  free(tp);
  free(tu);
  return st;
}

/* The two rows of one comparison; info describes the plan. */
static clippo_status emit_pair(bench_suite *s, const char *suite, const char *name,
                               const char *shape, size_t batch, double flops, double items,
                               const char *unit, const timing *tp, const timing *tu,
                               const clippo_plan_info *info, clippo_error *err) {
  const double mib = 1.0 / 1048576.0;
  clippo_bench_row row;
  bench_row_init(&row, suite, name, "clippo-planned");
  snprintf(row.shape, sizeof row.shape, "%s", shape);
  bench_row_timing(&row, tp);
  row.batch = batch;
  row.flops = flops;
  row.rate = tp->median_s > 0 ? items / tp->median_s : 0;
  snprintf(row.rate_unit, sizeof row.rate_unit, "%s", unit);
  if (tp->median_s > 0 && tu->median_s > 0) {
    row.ratio = tu->median_s / tp->median_s;
    snprintf(row.ratio_to, sizeof row.ratio_to, "clippo-unplanned");
  }
  snprintf(row.note, sizeof row.note,
           "plan recorded once: %zu steps (%zu kernel launches whose %zu arguments are set once, "
           "%zu GEMM calls), %zu activations of %.2f MiB in a %.2f MiB arena shared by lifetime; "
           "saves %.2f ms per call against the unplanned path in the same loop",
           info->steps, info->kernel_steps, info->kernel_args, info->steps - info->kernel_steps,
           info->buffers, (double)info->activation_bytes * mib, (double)info->arena_bytes * mib,
           (tu->median_s - tp->median_s) * 1e3);
  TRY(bench_emit(s, &row, err));
  bench_row_init(&row, suite, name, "clippo-unplanned");
  snprintf(row.shape, sizeof row.shape, "%s", shape);
  bench_row_timing(&row, tu);
  row.batch = batch;
  row.flops = flops;
  row.rate = tu->median_s > 0 ? items / tu->median_s : 0;
  snprintf(row.rate_unit, sizeof row.rate_unit, "%s", unit);
  snprintf(row.note, sizeof row.note,
           "clippo_model_set_planned(m, 0): every op looked up, checked, its arguments set and "
           "launched per call, one buffer per activation (%.2f MiB); timed alternately with the "
           "planned row",
           (double)info->activation_bytes * mib);
  return bench_emit(s, &row, err);
}

/* ---- step profile ---------------------------------------------------------------------------- */

/* Rows of suite "profile" (--profile): fn's planned runs broken down by recorded step
 * (clippo_step_profile), s->o.runs calls with the queue finished around every step; one row per
 * kernel or GEMM shape, longest first, with its time per call and its share of the steps' time
 * (GEMMs with their FLOP count, so the report gives their GFLOP/s).
 * `what` names the call in the rows' shape; unprofiled_s is the call's median without the
 * profile (the note compares). A failure becomes a failed row. */
static clippo_status profile_rows(bench_suite *s, clippo_model *m, bench_fn fn, void *ctx,
                                  const char *what, double unprofiled_s, clippo_error *err) {
  clippo_error e;
  clippo_step_profile *prof = NULL;
  const int runs = s->o.runs > 0 ? s->o.runs : 1;
  clippo_status st = clippo_model_set_planned(m, 1, &e);
  if (!st) st = fn(ctx, &e); /* the plans are recorded before the profile starts */
  if (!st) st = clippo_rt_finish(s->rt, &e);
  if (!st) st = clippo_step_profile_create(&prof, &e);
  const double t0 = clippo_bench_now();
  if (!st) clippo_rt_set_step_profile(s->rt, prof);
  for (int r = 0; r < runs && !st; r++) st = fn(ctx, &e);
  if (!st) st = clippo_rt_finish(s->rt, &e);
  clippo_rt_set_step_profile(s->rt, NULL);
  const double call_s = (clippo_bench_now() - t0) / runs;
  const size_t n = clippo_step_profile_count(prof);
  size_t *order = st ? NULL : calloc(n ? n : 1, sizeof *order);
  if (!st && !order) st = clippo_fail(&e, CLIPPO_E_NOMEM, "bench: out of host memory");
  if (st) {
    clippo_step_profile_free(prof);
    clippo_rt_finish(s->rt, NULL);
    RECORD_FAILURE(s, "profile", what, "clippo", "", &e, err);
    return CLIPPO_OK;
  }
  double steps_s = 0;
  for (size_t i = 0; i < n; i++) { /* insertion sort, longest first */
    double si;
    clippo_step_profile_entry(prof, i, NULL, &si, NULL, NULL);
    steps_s += si;
    size_t j = i;
    for (; j > 0; j--) {
      double sj;
      clippo_step_profile_entry(prof, order[j - 1], NULL, &sj, NULL, NULL);
      if (sj >= si) break;
      order[j] = order[j - 1];
    }
    order[j] = i;
  }
  for (size_t i = 0; i < n && !st; i++) {
    const char *label;
    double sec, flops;
    size_t count;
    clippo_step_profile_entry(prof, order[i], &label, &sec, &flops, &count);
    clippo_bench_row row;
    bench_row_init(&row, "profile", label, "clippo");
    snprintf(row.shape, sizeof row.shape, "%s", what);
    row.runs = runs;
    row.median_s = row.min_s = sec / runs;
    row.flops = flops / runs; /* GEMMs: GFLOP/s and % of peak in the report */
    row.rate = steps_s > 0 ? 100.0 * sec / steps_s : 0;
    snprintf(row.rate_unit, sizeof row.rate_unit, "%% of steps");
    snprintf(row.note, sizeof row.note,
             "%zu steps per call; all steps %.2f ms per call with the queue finished around each "
             "(the call %.2f ms so, %.2f ms unprofiled)",
             count / (size_t)runs, steps_s / runs * 1e3, call_s * 1e3, unprofiled_s * 1e3);
    st = bench_emit(s, &row, err);
  }
  free(order);
  clippo_step_profile_free(prof);
  return st;
}

/* ---- embedding ------------------------------------------------------------------------------ */

typedef struct embed_ctx {
  clippo_model *m;
  const float *img;
  float *out;
  size_t n;
  int reps; /* embeddings per timed call */
} embed_ctx;

static clippo_status embed_call(void *ctx, clippo_error *e) {
  embed_ctx *c = ctx;
  for (int i = 0; i < c->reps; i++)
    TRY(clippo_model_embed_images(c->m, c->img, c->n, CLIPPO_EMBED_Z, c->out, e));
  return CLIPPO_OK;
}

/* The embedding rows of n images, reps embeddings per timed call. */
static clippo_status embed_rows(bench_suite *s, clippo_model *m, const char *variant,
                                const char *shape, const float *img, size_t n, int reps, double f1,
                                int profile, clippo_error *err) {
  clippo_error e;
  size_t od = clippo_model_output_dim(m, CLIPPO_EMBED_Z);
  float *out = calloc(n * od, sizeof *out);
  if (!out) return clippo_fail(err, CLIPPO_E_NOMEM, "bench: out of host memory");
  embed_ctx c = {m, img, out, n, reps};
  timing tp, tu;
  clippo_plan *p = NULL;
  clippo_plan_info info;
  clippo_status st = clippo_model_set_batch(m, n, &e);
  if (!st) st = time_both(s, m, embed_call, &c, &tp, &tu, &e);
  if (!st) st = clippo_plan_create(m, n, CLIPPO_EMBED_Z, &p, &e);
  if (!st) clippo_plan_get_info(p, &info);
  clippo_plan_free(p);
  if (st) {
    free(out);
    clippo_rt_finish(s->rt, NULL);
    RECORD_FAILURE(s, "embed", variant, "clippo-planned", shape, &e, err);
    return CLIPPO_OK;
  }
  st = emit_pair(s, "embed", variant, shape, n, f1 * (double)n * reps, (double)n * reps, "images/s",
                 &tp, &tu, &info, err);
  if (!st && profile) {
    char what[96];
    snprintf(what, sizeof what, "%s embedding, batch %zu (planned)", variant, n);
    st = profile_rows(s, m, embed_call, &c, what, tp.median_s, err);
  }
  free(out);
  return st;
}

clippo_status bench_plan_embed_rows(bench_suite *s, clippo_model *m, const char *variant,
                                    const char *shape, const float *img, size_t n, double f1,
                                    clippo_error *err) {
  return embed_rows(s, m, variant, shape, img, n, 1, f1, s->o.profile, err);
}

/* ---- training ------------------------------------------------------------------------------- */

typedef struct train_ctx {
  clippo_model *m;
  clippo_tensor in, z, dz;
  size_t count;
} train_ctx;

static clippo_status train_call(void *ctx, clippo_error *e) {
  train_ctx *c = ctx;
  TRY(clippo_model_zero_grads(c->m, e));
  TRY(clippo_model_train_forward(c->m, &c->in, c->count, &c->z, e));
  return clippo_model_backward(c->m, &c->dz, e);
}

clippo_status bench_plan_train_rows(bench_suite *s, const char *model_json, size_t pairs,
                                    clippo_error *err) {
  char shape[96];
  snprintf(shape, sizeof shape, "train suite's model; forward + backward of 2 x %zu inputs", pairs);
  clippo_error e;
  clippo_config cfg;
  memset(&cfg, 0, sizeof cfg);
  clippo_params params;
  memset(&params, 0, sizeof params);
  train_ctx c;
  memset(&c, 0, sizeof c);
  c.count = 2 * pairs;
  clippo_status st = clippo_train_model_config(model_json, &cfg, &e);
  if (!st) st = clippo_params_init(&params, &cfg, 1, &e);
  if (!st) st = clippo_model_create(s->rt, &cfg, &params, &c.m, &e);
  clippo_params_free(&params);
  const int64_t S = cfg.image_size,
                od = st ? 1 : (int64_t)clippo_model_output_dim(c.m, CLIPPO_EMBED_Z);
  int64_t is[4] = {(int64_t)c.count, S, S, 3}, zs[2] = {(int64_t)c.count, od};
  if (!st) st = bench_rand_tensor(s->rt, &c.in, 4, is, -1, 1, 5, &e);
  if (!st) st = bench_rand_tensor(s->rt, &c.dz, 2, zs, -0.01f, 0.01f, 6, &e);
  if (!st) st = clippo_tensor_alloc(s->rt, &c.z, CLIPPO_F32, 2, zs, &e);
  timing tp, tu;
  clippo_plan_info info;
  if (!st) st = time_both(s, c.m, train_call, &c, &tp, &tu, &e);
  if (!st) st = train_call(&c, &e); /* planned: the info is the last training plan's */
  if (!st) st = clippo_model_train_plan_info(c.m, &info, &e);
  double flops = 3.0 * (double)c.count * bench_model_flops(&cfg); /* fwd + bwd ~ 3x fwd */
  if (!st) {
    st =
        emit_pair(s, "train", "fwd+bwd", shape, pairs, flops, 1.0, "steps/s", &tp, &tu, &info, err);
    char what[96];
    snprintf(what, sizeof what, "train suite's model, forward + backward of 2 x %zu (planned)",
             pairs);
    if (!st && s->o.profile) st = profile_rows(s, c.m, train_call, &c, what, tp.median_s, err);
  } else if (e.status != CLIPPO_E_NOMEM)
    st = bench_emit_status(s, "train", "fwd+bwd", "clippo-planned", shape, "failed", e.msg, err);
  else
    *err = e;
  /* the same model embedding one image: launch-bound, 20 embeddings per timed call */
  if (!st && c.m) {
    size_t per = (size_t)cfg.image_size * (size_t)cfg.image_size * 3;
    float *img = malloc(per * sizeof *img);
    snprintf(shape, sizeof shape, "train suite's model, %d px; batch 1, 20 calls per timing",
             cfg.image_size);
    if (img) bench_fill_uniform(img, per, -1, 1, 8);
    st = img ? embed_rows(s, c.m, "train-model", shape, img, 1, 20, bench_model_flops(&cfg), 0, err)
             : clippo_fail(err, CLIPPO_E_NOMEM, "bench: out of host memory");
    free(img);
  }
  clippo_rt_finish(s->rt, NULL);
  clippo_tensor_release(s->rt, &c.in);
  clippo_tensor_release(s->rt, &c.z);
  clippo_tensor_release(s->rt, &c.dz);
  clippo_model_free(c.m);
  return st;
}
