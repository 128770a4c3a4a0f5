/* Per-op timings of the forward ops (clippo/ops.h) at ViT-B/16 shapes, one JSON line per op:
 * median and minimum wall time of --reps runs (each run enqueues the op and waits for it), and the
 * effective bandwidth over the bytes the op must move (GB/s) or GFLOP/s for attention.
 *
 *   bench_ops [--device SPEC] [--batch N] [--reps N] [--variant auto|row|group] [--only OP]
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clippo/ops.h"
#include "clippo/runtime.h"

/* B/16 at 224 px. */
enum { W = 768, HEADS = 12, T = 196, MLP = 3072, PATCH = 16, IMG = 224 };

typedef struct bench {
  clippo_rt *rt;
  size_t n, rows;
  clippo_tensor img, patches, x, r, y, h, bias_w, bias_m, scale_w, pos, logits, qkv, bqkv;
  clippo_tensor qh, kh, vh, merged, probe, pq, pooled, ws, ws_map, out_map;
  clippo_tensor w[8], wqkv;
  clippo_mha_weights mw, mw_map;
} bench;

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* A tensor of the given shape with values uniform in [lo, hi). */
static clippo_status rand_tensor(bench *b, clippo_tensor *t, int ndim, const int64_t *shape,
                                 float lo, float hi, unsigned seed, clippo_error *err) {
  clippo_status st = clippo_tensor_alloc(b->rt, t, CLIPPO_F32, ndim, shape, err);
  if (st) return st;
  size_t n = clippo_tensor_count(t);
  float *h = malloc(n * sizeof *h);
  if (!h) return clippo_fail(err, CLIPPO_E_NOMEM, "bench: out of host memory");
  unsigned long long s = seed * 0x9E3779B97F4A7C15ull + 1;
  for (size_t i = 0; i < n; i++) {
    s ^= s << 13, s ^= s >> 7, s ^= s << 17;
    h[i] = lo + (hi - lo) * (float)((s >> 11) * (1.0 / 9007199254740992.0));
  }
  st = clippo_tensor_write(b->rt, t, h, err);
  free(h);
  return st;
}

#define TRY(x)                                                                                     \
  do {                                                                                             \
    clippo_status st_ = (x);                                                                       \
    if (st_) return st_;                                                                           \
  } while (0)

static clippo_status setup(bench *b, clippo_error *err) {
  size_t n = b->n, rows = n * T;
  b->rows = rows;
  unsigned seed = 1;
  int64_t s_img[4] = {(int64_t)n, IMG, IMG, 3},
          s_pat[2] = {(int64_t)rows, (int64_t)PATCH * PATCH * 3};
  int64_t s_x[2] = {(int64_t)rows, W}, s_h[2] = {(int64_t)rows, MLP}, s_w[1] = {W};
  int64_t s_m[1] = {MLP}, s_pos[2] = {T, W}, s_lg[2] = {(int64_t)(n * HEADS * T), T};
  int64_t s_qkv[2] = {(int64_t)rows, (int64_t)3 * W}, s_b3[1] = {(int64_t)3 * W};
  int64_t s_hd[3] = {(int64_t)(n * HEADS), T, W / HEADS}, s_ww[2] = {W, W};
  int64_t s_pq[2] = {(int64_t)n, W};
  TRY(rand_tensor(b, &b->img, 4, s_img, -1, 1, seed++, err));
  TRY(rand_tensor(b, &b->patches, 2, s_pat, -1, 1, seed++, err));
  TRY(rand_tensor(b, &b->x, 2, s_x, -3, 3, seed++, err));
  TRY(rand_tensor(b, &b->r, 2, s_x, -1, 1, seed++, err));
  TRY(rand_tensor(b, &b->y, 2, s_x, -1, 1, seed++, err));
  TRY(rand_tensor(b, &b->h, 2, s_h, -3, 3, seed++, err));
  TRY(rand_tensor(b, &b->bias_w, 1, s_w, -0.1f, 0.1f, seed++, err));
  TRY(rand_tensor(b, &b->bias_m, 1, s_m, -0.1f, 0.1f, seed++, err));
  TRY(rand_tensor(b, &b->scale_w, 1, s_w, 0.5f, 1.5f, seed++, err));
  TRY(rand_tensor(b, &b->pos, 2, s_pos, -0.05f, 0.05f, seed++, err));
  TRY(rand_tensor(b, &b->logits, 2, s_lg, -5, 5, seed++, err));
  TRY(rand_tensor(b, &b->qkv, 2, s_qkv, -2, 2, seed++, err));
  TRY(rand_tensor(b, &b->bqkv, 1, s_b3, -0.1f, 0.1f, seed++, err));
  TRY(rand_tensor(b, &b->qh, 3, s_hd, 0, 1, seed++, err));
  TRY(rand_tensor(b, &b->kh, 3, s_hd, 0, 1, seed++, err));
  TRY(rand_tensor(b, &b->vh, 3, s_hd, 0, 1, seed++, err));
  TRY(rand_tensor(b, &b->merged, 2, s_x, 0, 1, seed++, err));
  TRY(rand_tensor(b, &b->probe, 1, s_w, -0.1f, 0.1f, seed++, err));
  TRY(rand_tensor(b, &b->pq, 2, s_pq, 0, 1, seed++, err));
  TRY(rand_tensor(b, &b->pooled, 2, s_pq, 0, 1, seed++, err));
  TRY(rand_tensor(b, &b->out_map, 2, s_pq, 0, 1, seed++, err));
  float a = sqrtf(6.0f / (2.0f * W));
  for (int i = 0; i < 8; i++) {
    if (i % 2)
      TRY(rand_tensor(b, &b->w[i], 1, s_w, -0.1f, 0.1f, seed++, err));
    else
      TRY(rand_tensor(b, &b->w[i], 2, s_ww, -a, a, seed++, err));
  }
  clippo_mha_weights mw = {&b->w[0], &b->w[2], &b->w[4], &b->w[1], &b->w[3],
                           &b->w[5], &b->w[6], &b->w[7], NULL,     NULL};
  b->mw_map = mw;
  TRY(clippo_mha_fuse_qkv(b->rt, &mw, &b->wqkv, &b->bqkv, err));
  mw.wqkv = &b->wqkv;
  mw.bqkv = &b->bqkv;
  b->mw = mw;
  TRY(clippo_mha_workspace_alloc(b->rt, &b->ws, n, T, T, W, HEADS, err));
  TRY(clippo_mha_workspace_alloc(b->rt, &b->ws_map, n, 1, T, W, HEADS, err));
  return clippo_rt_finish(b->rt, err);
}

/* The ops; each enqueues one op. */
static clippo_status op_patchify(bench *b, clippo_error *e) {
  return clippo_op_patchify(b->rt, &b->img, PATCH, &b->patches, e);
}
static clippo_status op_posemb(bench *b, clippo_error *e) {
  return clippo_op_add_bias_posemb(b->rt, &b->x, &b->bias_w, &b->pos, e);
}
static clippo_status op_layernorm(bench *b, clippo_error *e) {
  return clippo_op_layernorm(b->rt, &b->x, &b->scale_w, &b->bias_w, 1e-6f, &b->y, e);
}
static clippo_status op_add_layernorm(bench *b, clippo_error *e) {
  return clippo_op_add_layernorm(b->rt, &b->x, &b->r, &b->scale_w, &b->bias_w, 1e-6f, &b->y, e);
}
static clippo_status op_bias_gelu(bench *b, clippo_error *e) {
  return clippo_op_bias_gelu(b->rt, &b->h, &b->bias_m, e);
}
static clippo_status op_bias_add(bench *b, clippo_error *e) {
  return clippo_op_bias_add(b->rt, &b->x, &b->bias_w, e);
}
static clippo_status op_add(bench *b, clippo_error *e) {
  return clippo_op_add(b->rt, &b->y, &b->r, e);
}
static clippo_status op_softmax(bench *b, clippo_error *e) {
  return clippo_op_softmax(b->rt, &b->logits, 1.0f, e);
}
static clippo_status op_qkv_split(bench *b, clippo_error *e) {
  return clippo_op_qkv_split(b->rt, &b->qkv, &b->bqkv, T, HEADS, 0.125f, &b->qh, &b->kh, &b->vh, e);
}
static clippo_status op_heads_merge(bench *b, clippo_error *e) {
  return clippo_op_heads_merge(b->rt, &b->qh, T, HEADS, &b->merged, e);
}
static clippo_status op_l2norm(bench *b, clippo_error *e) {
  return clippo_op_l2normalize(b->rt, &b->pq, 1e-8f, &b->pq, e);
}
static clippo_status op_mean_tokens(bench *b, clippo_error *e) {
  return clippo_op_mean_tokens(b->rt, &b->y, &b->pooled, e);
}
static clippo_status op_mha_self(bench *b, clippo_error *e) {
  return clippo_mha(b->rt, &b->mw, HEADS, b->n, &b->y, &b->y, &b->ws, 1, &b->x, e);
}
static clippo_status op_mha_map(bench *b, clippo_error *e) {
  clippo_status st = clippo_op_broadcast_rows(b->rt, &b->probe, &b->pq, e);
  if (st) return st;
  return clippo_mha(b->rt, &b->mw_map, HEADS, b->n, &b->pq, &b->y, &b->ws_map, 0, &b->out_map, e);
}

typedef struct bench_op {
  const char *name;
  clippo_status (*fn)(bench *, clippo_error *);
  double bytes_per_row; /* floats moved per token row (x4 bytes), or 0 */
  double flops;         /* for attention: total flops per call (set at run time) */
} bench_op;

int main(int argc, char **argv) {
  const char *device = NULL, *only = NULL, *variant = "auto";
  size_t n = 8;
  int reps = 20;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--device") && i + 1 < argc)
      device = argv[++i];
    else if (!strcmp(argv[i], "--batch") && i + 1 < argc)
      n = (size_t)atol(argv[++i]);
    else if (!strcmp(argv[i], "--reps") && i + 1 < argc)
      reps = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--variant") && i + 1 < argc)
      variant = argv[++i];
    else if (!strcmp(argv[i], "--only") && i + 1 < argc)
      only = argv[++i];
    else {
      fprintf(stderr, "usage: bench_ops [--device SPEC] [--batch N] [--reps N] [--variant "
                      "auto|row|group] [--only OP]\n");
      return 2;
    }
  }
  if (n == 0 || reps < 1) {
    fprintf(stderr, "bench_ops: --batch and --reps must be positive\n");
    return 2;
  }
  if (strcmp(variant, "auto") != 0) setenv("CLIPPO_OPS_VARIANT", variant, 1);
  clippo_error err;
  bench b;
  memset(&b, 0, sizeof b);
  b.n = n;
  if (clippo_rt_create(&b.rt, device, &err) || setup(&b, &err)) {
    fprintf(stderr, "bench_ops: %s\n", err.msg);
    clippo_rt_destroy(b.rt);
    return 1;
  }
  double hd = W / (double)HEADS, rows = (double)(n * T);
  double mha_self_flops = 2 * rows * W * 3 * W + 4.0 * n * HEADS * T * T * hd + 2 * rows * W * W;
  double mha_map_flops =
      2.0 * n * W * W + 2 * rows * W * 2 * W + 4.0 * n * HEADS * T * hd + 2.0 * n * W * W;
  /* floats moved per token row */
  bench_op ops[] = {
      {"patchify", op_patchify, 2.0 * PATCH * PATCH * 3, 0},
      {"add_bias_posemb", op_posemb, 3.0 * W, 0},
      {"layernorm", op_layernorm, 2.0 * W, 0},
      {"add_layernorm", op_add_layernorm, 4.0 * W, 0},
      {"bias_gelu", op_bias_gelu, 2.0 * MLP, 0},
      {"bias_add", op_bias_add, 2.0 * W, 0},
      {"add", op_add, 3.0 * W, 0},
      {"softmax", op_softmax, 2.0 * HEADS * T, 0},
      {"qkv_split", op_qkv_split, 6.0 * W, 0},
      {"heads_merge", op_heads_merge, 2.0 * W, 0},
      {"l2normalize", op_l2norm, 2.0 * W / T, 0},
      {"mean_tokens", op_mean_tokens, 1.0 * W + (double)W / T, 0},
      {"mha_self", op_mha_self, 0, mha_self_flops},
      {"mha_map", op_mha_map, 0, mha_map_flops},
  };
  double *times = malloc((size_t)reps * sizeof *times);
  int rc = 0;
  for (size_t i = 0; i < sizeof ops / sizeof ops[0] && times; i++) {
    if (only && strcmp(only, ops[i].name) != 0) continue;
    /* warm-up: builds the program and code for this local size */
    if (ops[i].fn(&b, &err) || clippo_rt_finish(b.rt, &err)) {
      fprintf(stderr, "bench_ops: %s: %s\n", ops[i].name, err.msg);
      rc = 1;
      break;
    }
    for (int k = 0; k < reps; k++) {
      double t0 = now_s();
      clippo_status st = ops[i].fn(&b, &err);
      if (!st) st = clippo_rt_finish(b.rt, &err);
      times[k] = now_s() - t0;
      if (st) {
        fprintf(stderr, "bench_ops: %s: %s\n", ops[i].name, err.msg);
        rc = 1;
        break;
      }
    }
    if (rc) break;
    qsort(times, (size_t)reps, sizeof *times, cmp_double);
    double med = reps % 2 ? times[reps / 2] : 0.5 * (times[reps / 2 - 1] + times[reps / 2]);
    printf("{\"bench\":\"ops\",\"op\":\"%s\",\"device\":\"%s\",\"variant\":\"%s\",\"batch\":%zu,"
           "\"rows\":%zu,\"width\":%d,\"reps\":%d,\"median_ms\":%.4f,\"min_ms\":%.4f",
           ops[i].name, b.rt->info.name, variant, n, n * T, W, reps, med * 1e3, times[0] * 1e3);
    if (ops[i].bytes_per_row > 0)
      printf(",\"gbps\":%.2f", ops[i].bytes_per_row * 4.0 * rows / med * 1e-9);
    if (ops[i].flops > 0) printf(",\"gflops\":%.2f", ops[i].flops / med * 1e-9);
    printf("}\n");
    fflush(stdout);
  }
  free(times);
  clippo_tensor *all[] = {&b.img,    &b.patches, &b.x,       &b.r,      &b.y,       &b.h,
                          &b.bias_w, &b.bias_m,  &b.scale_w, &b.pos,    &b.logits,  &b.qkv,
                          &b.bqkv,   &b.qh,      &b.kh,      &b.vh,     &b.merged,  &b.probe,
                          &b.pq,     &b.pooled,  &b.ws,      &b.ws_map, &b.out_map, &b.wqkv};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) clippo_tensor_release(b.rt, all[i]);
  for (int i = 0; i < 8; i++) clippo_tensor_release(b.rt, &b.w[i]);
  clippo_rt_destroy(b.rt);
  return rc;
}
