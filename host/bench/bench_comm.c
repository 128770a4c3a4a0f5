/* The comm suite (`mpirun -np R clippo bench --suite comm`): what data-parallel training
 * exchanges between the ranks, timed through the communicator the trainer uses
 * (clippo/dist.h): the in-place sum of a step's gradients (the B/16's 374 MB and the default
 * model's) in the trainer's 64 MiB buckets, the all-gather of a step's embeddings, and a
 * training step of the default model's architecture split into computing and exchanging. Bus
 * bandwidth is NCCL's: a ring allreduce moves 2 (R - 1) / R of the buffer through each link, an
 * allgather (R - 1) / R of the gathered bytes. With one rank nothing is exchanged: the rows say
 * so and the step is all compute. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench/bench_internal.h"
#include "clippo/dist.h"
#include "clippo/npy.h"
#include "clippo/params.h"
#include "clippo/train.h"

/* The default model's architecture (weights/fmnist.h5, configs/train_fmnist.json). */
#define DEFAULT_MODEL                                                                              \
  "{\"width\": 128, \"depth\": 4, \"heads\": 4, \"mlp_dim\": 512, \"patch\": 8, "                  \
  "\"image_size\": 64, \"out_dim\": 128, \"pool\": \"map\"}"

/* Floats of one exchange: the trainer's bucket. */
#define BUCKET ((size_t)16 << 20)

typedef struct comm_ctx {
  const clippo_dist *d;
  float *buf, *recv;
  size_t count; /* floats summed, or floats each rank gives to the gather */
} comm_ctx;

static clippo_status do_allreduce(void *p, clippo_error *err) {
  comm_ctx *c = p;
  for (size_t at = 0; at < c->count; at += BUCKET) {
    size_t n = c->count - at < BUCKET ? c->count - at : BUCKET;
    TRY(clippo_dist_allreduce(c->d, c->buf + at, n, CLIPPO_DIST_F32, CLIPPO_DIST_SUM,
                              "bench: summing", err));
  }
  return CLIPPO_OK;
}

static clippo_status do_allgather(void *p, clippo_error *err) {
  comm_ctx *c = p;
  return clippo_dist_allgather(c->d, c->buf, c->count * sizeof(float), c->recv, "bench: gathering",
                               err);
}

/* The number of parameters of a model config (a preset name or a JSON object). */
static clippo_status param_floats(const char *model, const char *tmp, size_t *n,
                                  clippo_error *err) {
  clippo_config cfg;
  TRY(clippo_train_model_config_in(model, tmp, &cfg, err));
  clippo_param_spec *specs = NULL;
  size_t ns = 0;
  TRY(clippo_params_spec(&cfg, &specs, &ns, err));
  *n = 0;
  for (size_t i = 0; i < ns; i++) {
    size_t c = 1;
    for (int k = 0; k < specs[i].ndim; k++) c *= (size_t)specs[i].shape[k];
    *n += c;
  }
  free(specs);
  return CLIPPO_OK;
}

/* One timed exchange as a row: allreduce (gather 0) of count floats, or an allgather of count
 * floats from each rank. */
static clippo_status exchange_row(bench_suite *s, const char *name, const char *shape, size_t count,
                                  int gather, clippo_error *err) {
  const clippo_dist *d = s->o.dist;
  const int R = clippo_dist_size(d);
  if (R < 2)
    return bench_emit_status(s, "comm", name, "clippo", shape, "unavailable",
                             "one rank: nothing to exchange (run under mpirun -np R)", err);
  comm_ctx c = {d, malloc((count ? count : 1) * sizeof(float)), NULL, count};
  if (gather) c.recv = malloc((size_t)R * (count ? count : 1) * sizeof(float));
  if (!c.buf || (gather && !c.recv)) {
    free(c.buf);
    free(c.recv);
    return clippo_fail(err, CLIPPO_E_NOMEM, "bench: out of host memory for %zu MB",
                       count * sizeof(float) >> 20);
  }
  bench_fill_uniform(c.buf, count, -1, 1, 7);
  timing t;
  clippo_status st = bench_time_calls(s, NULL, gather ? do_allgather : do_allreduce, &c, &t, err);
  free(c.buf);
  free(c.recv);
  if (st) return st; /* a collective that failed leaves the ranks out of step: stop */
  clippo_bench_row row;
  bench_row_init(&row, "comm", name, "clippo");
  snprintf(row.shape, sizeof row.shape, "%s", shape);
  bench_row_timing(&row, &t);
  double bytes = (double)count * 4.0 * (gather ? (double)R : 1.0);
  double moved = gather ? bytes * (R - 1) / R : 2.0 * bytes * (R - 1) / R;
  row.bytes = moved;
  row.gbps = t.median_s > 0 ? moved / t.median_s * 1e-9 : 0;
  snprintf(row.note, sizeof row.note,
           "%d ranks; %.1f MB %s; bus bandwidth %.2f GB/s = %s of the buffer / time (NCCL's "
           "busbw); algorithm bandwidth %.2f GB/s",
           R, bytes * 1e-6, gather ? "gathered" : "summed in place in 64 MiB buckets", row.gbps,
           gather ? "(R-1)/R" : "2(R-1)/R", t.median_s > 0 ? bytes / t.median_s * 1e-9 : 0);
  return bench_emit(s, &row, err);
}

/* Random images and short captions for the training step, in a temporary folder. */
static clippo_status write_data(const char *dir, size_t n, int S, char *images, size_t icap,
                                char *texts, size_t tcap, clippo_error *err) {
  snprintf(images, icap, "%s/images.npy", dir);
  snprintf(texts, tcap, "%s/texts.txt", dir);
  clippo_array arr;
  memset(&arr, 0, sizeof arr);
  int64_t shp[4] = {(int64_t)n, S, S, 3};
  TRY(clippo_array_alloc(&arr, CLIPPO_F32, 4, shp, err));
  bench_fill_uniform(arr.data, n * (size_t)S * (size_t)S * 3, -1, 1, 99);
  clippo_status st = clippo_npy_save(images, &arr, err);
  clippo_array_free(&arr);
  FILE *f = st ? NULL : fopen(texts, "w");
  if (!st && !f) st = clippo_fail(err, CLIPPO_E_IO, "cannot write %s: %s", texts, strerror(errno));
  for (size_t i = 0; f && i < n; i++) fprintf(f, "pair %zu of the batch\n", i);
  if (f && fclose(f) != 0) st = clippo_fail(err, CLIPPO_E_IO, "cannot write %s", texts);
  return st;
}

/* Step times from the training loop's progress callback. */
typedef struct step_clock {
  double last, times[64];
  int n;
} step_clock;

static void on_step(const clippo_train_progress *p, void *user) {
  step_clock *c = user;
  double t = clippo_bench_now();
  if (p->step > 0 && c->n < 64) c->times[c->n++] = t - c->last;
  c->last = t;
}

/* A data-parallel training step of the default model's architecture, 64 pairs per rank, through
 * clippo_train_run: its time, and the part spent exchanging (embeddings, gradients, checks). */
static clippo_status step_row(bench_suite *s, clippo_error *err) {
  const clippo_dist *d = s->o.dist;
  const int R = clippo_dist_size(d);
  const size_t per = 64, B = per * (size_t)R;
  char shape[96];
  snprintf(shape, sizeof shape, "default model (64 px, width 128, depth 4); %zu = %d x %zu pairs",
           B, R, per);
  char dir[1100], images[1200], texts[1200];
  snprintf(dir, sizeof dir, "%s/clippo-bench-comm-XXXXXX", s->rt->settings.tmp_dir);
  clippo_error e;
  clippo_status st =
      mkdtemp(dir) ? CLIPPO_OK
                   : clippo_fail(&e, CLIPPO_E_IO, "cannot create %s: %s", dir, strerror(errno));
  if (!st) st = write_data(dir, B, 64, images, sizeof images, texts, sizeof texts, &e);
  clippo_train_opts o;
  clippo_train_opts_default(&o);
  snprintf(o.device, sizeof o.device, "%d:%d", s->rt->info.platform_index,
           s->rt->info.device_index);
  snprintf(o.model, sizeof o.model, "%s", DEFAULT_MODEL);
  snprintf(o.images, sizeof o.images, "%s", images);
  snprintf(o.texts, sizeof o.texts, "%s", texts);
  for (size_t i = 0; i < s->o.nfonts && i < CLIPPO_TRAIN_MAX_FONTS; i++) {
    snprintf(o.fonts[i], sizeof o.fonts[i], "%s", s->o.fonts[i]);
    o.nfonts = i + 1;
  }
  o.batch_size = B;
  o.optimizer = CLIPPO_OPT_ADAMW;
  o.dist = d;
  int runs = s->o.runs > 60 ? 60 : s->o.runs;
  o.steps = s->o.warmup + runs;
  step_clock clk;
  memset(&clk, 0, sizeof clk);
  clippo_train_result res;
  memset(&res, 0, sizeof res);
  clk.last = clippo_bench_now();
  const double t0 = clk.last;
  /* every rank enters the run, even one whose data failed (no data source: it fails, and the
   * ranks agree on that) */
  if (st) o.images[0] = '\0';
  clippo_error e2;
  clippo_status tst = clippo_train_run(&o, on_step, &clk, &res, &e2);
  const double total = clippo_bench_now() - t0;
  if (!st && tst) {
    st = tst;
    e = e2;
  }
  remove(images);
  remove(texts);
  rmdir(dir);
  if (st) {
    if (e.status == CLIPPO_E_NOMEM || R > 1) { /* the ranks are out of step: stop */
      *err = e;
      return st;
    }
    return bench_emit_status(s, "comm", "train-step", "clippo", shape, "failed", e.msg, err);
  }
  int skip = s->o.warmup < clk.n ? s->o.warmup : 0, n = clk.n - skip;
  if (n <= 0)
    return bench_emit_status(s, "comm", "train-step", "clippo", shape, "failed",
                             "the training loop reported no steps", err);
  clippo_bench_row row;
  bench_row_init(&row, "comm", "train-step", "clippo");
  snprintf(row.shape, sizeof row.shape, "%s", shape);
  row.runs = n;
  row.median_s = bench_median(clk.times + skip, n);
  row.min_s = clk.times[skip];
  row.batch = B;
  row.rate = row.median_s > 0 ? 1.0 / row.median_s : 0;
  snprintf(row.rate_unit, sizeof row.rate_unit, "steps/s");
  double comm = res.comm_s / (double)(clk.n ? clk.n : 1),
         share = total > 0 ? res.comm_s / total : 0;
  snprintf(row.note, sizeof row.note,
           "%d ranks, AdamW; per step %.3f s computing, %.3f s exchanging (%.1f %% of the run: "
           "embeddings gathered, gradients summed, checksums)",
           R, row.median_s - comm > 0 ? row.median_s - comm : 0, comm, 100.0 * share);
  return bench_emit(s, &row, err);
}

clippo_status bench_run_comm(bench_suite *s, clippo_error *err) {
  clippo_error e;
  size_t b16 = 0, def = 0;
  const char *tmp = s->rt->settings.tmp_dir;
  if (param_floats("b16", tmp, &b16, &e) || param_floats(DEFAULT_MODEL, tmp, &def, &e)) {
    *err = e;
    return e.status;
  }
  char shape[96];
  snprintf(shape, sizeof shape, "B/16 gradients, %zu float32 (%.0f MB)", b16, (double)b16 * 4e-6);
  TRY(exchange_row(s, "allreduce-b16", shape, b16, 0, err));
  snprintf(shape, sizeof shape, "default-model gradients, %zu float32 (%.1f MB)", def,
           (double)def * 4e-6);
  TRY(exchange_row(s, "allreduce-default", shape, def, 0, err));
  /* a step's embeddings: 2 x 32 pairs of 768 per rank (B/16), 2 x 64 of 128 (default) */
  TRY(exchange_row(s, "allgather-b16", "B/16 embeddings, 2 x 32 pairs x 768 per rank",
                   (size_t)2 * 32 * 768, 1, err));
  TRY(exchange_row(s, "allgather-default", "default-model embeddings, 2 x 64 pairs x 128 per rank",
                   (size_t)2 * 64 * 128, 1, err));
  return step_row(s, err);
}
