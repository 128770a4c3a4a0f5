/* The oneDNN GEMM provider beyond what tests/test_gemm.c checks of every provider in float32:
 * the default choice on CPU devices sharing the host's memory, forcing it, oneDNN called on host
 * memory, and the bf16 and int8 precisions on every device, against float64 products of the
 * operands rounded or quantised the way the precisions promise:
 *   bf16: each operand rounded to bfloat16 (to nearest even), float32 sums: relative error (L2
 *         over C) <= 1e-6 against float64 of the rounded operands;
 *   int8: single products: per row of op(A) and per column of op(B) q = round(x * 127 / max|.|)
 *         (to nearest even), then C = alpha * (max_row / 127) * (max_col / 127) * sum q q + beta C:
 *         relative error <= 1e-6 against float64 of that; batched products stay float32 (the same
 *         bound against float64 of the operands as given);
 * and both far enough from the float32 product to show the rounding happened. All transposes,
 * batches with gaps, a shared B, views with offsets, padded leading dimensions, alpha and beta
 * (beta = 0 over NaN), an all-zero row. Devices where the precisions cannot run must refuse them
 * naming the device. Skipped (visibly) when the build has no oneDNN. */
#include "support.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clippo/gemm.h"
#include "clippo/ops.h"
#include "gemm/gemm_internal.h" /* the SIMD levels behind the default choice */
#include "test_gemm_record.h"

#define TOL_REDUCED 1e-6

/* Skips the running test when the build has no oneDNN. */
#define NEED_ONEDNN()                                                                              \
  do {                                                                                             \
    if (!clippo_gemm_onednn_built()) {                                                             \
      print_message("[   skip   ] this build has no oneDNN (CLIPPO_ONEDNN=OFF or libdnnl-dev "     \
                    "missing)\n");                                                                 \
      skip();                                                                                      \
      return;                                                                                      \
    }                                                                                              \
  } while (0)

static int onednn_device(const clippo_rt *rt) {
  return (rt->info.type & CL_DEVICE_TYPE_CPU) && rt->info.host_unified;
}

/* One product to check. */
typedef struct rcase {
  int ta, tb;
  size_t m, n, k, batch;
  size_t pad;        /* added to every leading dimension */
  size_t gap;        /* batch stride minus matrix size */
  size_t off;        /* view offset of each operand */
  int b_shared;      /* stride_b = 0 */
  int zero_row;      /* row 1 of op(A) of every matrix is zero */
  float alpha, beta; /* beta 0: C starts as NaN */
} rcase;

static float round_bf16(float x) {
  uint32_t u;
  memcpy(&u, &x, sizeof u);
  u = (u + 0x7fffu + ((u >> 16) & 1u)) & 0xffff0000u;
  memcpy(&x, &u, sizeof x);
  return x;
}

/* Element (i, j) of op(X) of matrix z. */
static float at(const float *x, int trans, size_t ld, size_t stride, size_t z, size_t i, size_t j) {
  return trans ? x[z * stride + j * ld + i] : x[z * stride + i * ld + j];
}

/* 1 if the precision rounds the operands of c (int8 and bf16 leave batched products float32). */
static int rounds(clippo_precision prec, const rcase *c) {
  return prec != CLIPPO_PRECISION_FP32 && c->batch == 1;
}

/* 1 when c in precision prec must be refused on this CPU. */
static int refused_here(clippo_precision prec, const rcase *c) {
  return prec == CLIPPO_PRECISION_BF16 && rounds(prec, c) && !test_onednn_has_bf16();
}

/* The operand values the precision multiplies, as op(A) (batch, m, k) and op(B) (batch, k, n)
 * dense doubles, dequantised for int8. */
static void effective(clippo_precision prec, const rcase *c, const float *a, size_t lda, size_t sa,
                      const float *b, size_t ldb, size_t sb, double *ea, double *eb) {
  if (!rounds(prec, c)) {
    for (size_t z = 0; z < c->batch; z++)
      for (size_t kk = 0; kk < c->k; kk++) {
        for (size_t i = 0; i < c->m; i++)
          ea[(z * c->m + i) * c->k + kk] = (double)at(a, c->ta, lda, sa, z, i, kk);
        for (size_t j = 0; j < c->n; j++)
          eb[(z * c->k + kk) * c->n + j] = (double)at(b, c->tb, ldb, sb, z, kk, j);
      }
    return;
  }
  for (size_t z = 0; z < c->batch; z++) {
    for (size_t i = 0; i < c->m; i++) {
      float mx = 0.0f;
      for (size_t kk = 0; kk < c->k; kk++) mx = fmaxf(mx, fabsf(at(a, c->ta, lda, sa, z, i, kk)));
      float q = mx > 0.0f ? 127.0f / mx : 0.0f, dq = mx / 127.0f;
      for (size_t kk = 0; kk < c->k; kk++) {
        float x = at(a, c->ta, lda, sa, z, i, kk);
        double v = prec == CLIPPO_PRECISION_BF16 ? (double)round_bf16(x)
                                                 : (double)nearbyintf(x * q) * (double)dq;
        ea[(z * c->m + i) * c->k + kk] = v;
      }
    }
    /* B's columns: 7 bits where oneDNN's int8 kernels lack dot products (saturating int16) */
    const float levels = (float)gemm_onednn_int8_weight_levels();
    for (size_t j = 0; j < c->n; j++) {
      float mx = 0.0f;
      for (size_t kk = 0; kk < c->k; kk++) mx = fmaxf(mx, fabsf(at(b, c->tb, ldb, sb, z, kk, j)));
      float q = mx > 0.0f ? levels / mx : 0.0f, dq = mx / levels;
      for (size_t kk = 0; kk < c->k; kk++) {
        float x = at(b, c->tb, ldb, sb, z, kk, j);
        double v = prec == CLIPPO_PRECISION_BF16 ? (double)round_bf16(x)
                                                 : (double)nearbyintf(x * q) * (double)dq;
        eb[(z * c->k + kk) * c->n + j] = v;
      }
    }
  }
}

/* Runs c in precision prec on rt; checks C against float64 of the effective operands (within
 * TOL_REDUCED), that nothing outside C changed, and returns the relative error against float64
 * of the operands as given (what the precision costs). */
static double run_reduced(clippo_rt *rt, clippo_precision prec, const rcase *c, uint64_t seed,
                          double *err_rounded) {
  clippo_error err;
  test_rng rng;
  test_rng_seed(&rng, seed);
  size_t ar = c->ta ? c->k : c->m, ac = c->ta ? c->m : c->k;
  size_t br = c->tb ? c->n : c->k, bc = c->tb ? c->k : c->n;
  size_t lda = ac + c->pad, ldb = bc + c->pad, ldc = c->n + c->pad;
  size_t sa = ar * lda + c->gap, sb = c->b_shared ? 0 : br * ldb + c->gap, sc = c->m * ldc + c->gap;
  size_t na = c->off + (c->batch - 1) * sa + ar * lda + 3;
  size_t nb = c->off + (c->batch - 1) * sb + br * ldb + 3;
  size_t nc = c->off + (c->batch - 1) * sc + c->m * ldc + 3;
  float *ha = malloc(na * sizeof(float)), *hb = malloc(nb * sizeof(float)),
        *hc = malloc(nc * sizeof(float)), *got = malloc(nc * sizeof(float));
  double *ea = malloc(c->batch * c->m * c->k * sizeof(double)),
         *eb = malloc(c->batch * c->k * c->n * sizeof(double));
  assert_true(ha && hb && hc && got && ea && eb);
  test_fill_uniform(&rng, ha, na, -1.0f, 1.0f);
  test_fill_uniform(&rng, hb, nb, -1.0f, 1.0f);
  test_fill_uniform(&rng, hc, nc, -1.0f, 1.0f);
  /* Scale B's columns (and A's rows) unevenly, as activations and weights are. */
  for (size_t i = 0; i < nb; i++) hb[i] *= 0.05f + (float)(i % 7);
  if (c->zero_row && c->m > 1)
    for (size_t z = 0; z < c->batch; z++)
      for (size_t kk = 0; kk < c->k; kk++) {
        size_t idx = c->ta ? z * sa + kk * lda + 1 : z * sa + lda + kk;
        ha[c->off + idx] = 0.0f;
      }
  if (c->beta == 0.0f)
    for (size_t z = 0; z < c->batch; z++)
      for (size_t i = 0; i < c->m; i++)
        for (size_t j = 0; j < c->n; j++) hc[c->off + z * sc + i * ldc + j] = NAN;

  clippo_tensor ta, tb, tc;
  int64_t sha[1] = {(int64_t)na}, shb[1] = {(int64_t)nb}, shc[1] = {(int64_t)nc}, one[1] = {1};
  TEST_OK(clippo_tensor_alloc(rt, &ta, CLIPPO_F32, 1, sha, &err), &err);
  TEST_OK(clippo_tensor_alloc(rt, &tb, CLIPPO_F32, 1, shb, &err), &err);
  TEST_OK(clippo_tensor_alloc(rt, &tc, CLIPPO_F32, 1, shc, &err), &err);
  TEST_OK(clippo_tensor_write(rt, &ta, ha, &err), &err);
  TEST_OK(clippo_tensor_write(rt, &tb, hb, &err), &err);
  TEST_OK(clippo_tensor_write(rt, &tc, hc, &err), &err);
  clippo_tensor va = clippo_tensor_view(&ta, c->off, 1, one);
  clippo_tensor vb = clippo_tensor_view(&tb, c->off, 1, one);
  clippo_tensor vc = clippo_tensor_view(&tc, c->off, 1, one);
  TEST_OK(clippo_rt_set_precision(rt, prec, &err), &err);
  clippo_gemm_provider want = prec == CLIPPO_PRECISION_FP32 ? CLIPPO_GEMM_ONEDNN : CLIPPO_GEMM_AUTO;
  clippo_status st = clippo_gemm_with(rt, want, NULL, c->ta, c->tb, c->m, c->n, c->k, c->alpha, &va,
                                      lda, sa, &vb, ldb, sb, c->beta, &vc, ldc, sc, c->batch, &err);
  clippo_error said = err;
  TEST_OK(clippo_rt_set_precision(rt, CLIPPO_PRECISION_FP32, &err), &err);
  if (refused_here(prec, c)) {
    /* refused with an error naming the device and the CPU's ISA, C untouched */
    if (st != CLIPPO_E_UNSUPPORTED || !strstr(said.msg, "no bfloat16 matmul on this CPU") ||
        !strstr(said.msg, rt->info.name) || !strstr(said.msg, "ISA"))
      fail_msg("bf16 %zux%zux%zu on a CPU without a bfloat16 matmul: status %d, '%s'", c->m, c->n,
               c->k, (int)st, said.msg);
    TEST_OK(clippo_tensor_read(rt, &tc, got, &err), &err);
    for (size_t i = 0; i < nc; i++)
      if (!(got[i] == hc[i] || (isnan(got[i]) && isnan(hc[i]))))
        fail_msg("bf16 refused, yet element %zu of C changed", i);
    *err_rounded = 0;
    clippo_tensor_release(rt, &ta);
    clippo_tensor_release(rt, &tb);
    clippo_tensor_release(rt, &tc);
    free(ha), free(hb), free(hc), free(got), free(ea), free(eb);
    return -1;
  }
  err = said;
  if (st)
    fail_msg("%s %s%s %zux%zux%zu batch %zu: %s", clippo_precision_name(prec), c->ta ? "T" : "N",
             c->tb ? "T" : "N", c->m, c->n, c->k, c->batch, err.msg);
  TEST_OK(clippo_tensor_read(rt, &tc, got, &err), &err);

  effective(prec, c, ha + c->off, lda, sa, hb + c->off, ldb, sb, ea, eb);
  double num = 0, den = 0, num32 = 0;
  size_t outside = 0;
  for (size_t i = 0; i < nc; i++) {
    size_t r = i - c->off, z = 0, w = r;
    int in_c = i >= c->off;
    if (in_c && c->batch > 1) {
      z = r / sc;
      w = r % sc;
    }
    in_c = in_c && z < c->batch && w / ldc < c->m && w % ldc < c->n;
    if (!in_c) {
      outside += !(got[i] == hc[i] || (isnan(got[i]) && isnan(hc[i])));
      continue;
    }
    size_t row = w / ldc, col = w % ldc;
    double want = 0, exact = 0;
    for (size_t kk = 0; kk < c->k; kk++) {
      want += ea[(z * c->m + row) * c->k + kk] * eb[(z * c->k + kk) * c->n + col];
      exact += (double)at(ha + c->off, c->ta, lda, sa, z, row, kk) *
               (double)at(hb + c->off, c->tb, ldb, sb, z, kk, col);
    }
    double old = c->beta == 0.0f ? 0.0 : (double)c->beta * (double)hc[i];
    want = (double)c->alpha * want + old;
    exact = (double)c->alpha * exact + old;
    num += ((double)got[i] - want) * ((double)got[i] - want);
    num32 += ((double)got[i] - exact) * ((double)got[i] - exact);
    den += want * want;
  }
  double rel = sqrt(num / den), cost = sqrt(num32 / den);
  *err_rounded = rel;
  if (outside) fail_msg("%zu elements outside C changed", outside);
  if (!(rel <= TOL_REDUCED))
    fail_msg("%s %s%s %zux%zux%zu batch %zu alpha %g beta %g: relative error %.3g > %g against "
             "the %s operands",
             clippo_precision_name(prec), c->ta ? "T" : "N", c->tb ? "T" : "N", c->m, c->n, c->k,
             c->batch, (double)c->alpha, (double)c->beta, rel, TOL_REDUCED,
             prec == CLIPPO_PRECISION_BF16 ? "rounded" : "quantised");
  clippo_tensor_release(rt, &ta);
  clippo_tensor_release(rt, &tb);
  clippo_tensor_release(rt, &tc);
  free(ha);
  free(hb);
  free(hc);
  free(got);
  free(ea);
  free(eb);
  return cost;
}

static const rcase cases[] = {
    /* ta tb  m   n   k batch pad gap off shared zero alpha beta */
    {0, 0, 37, 53, 29, 1, 0, 0, 0, 0, 1, 1.0f, 0.0f},
    {0, 1, 37, 53, 29, 1, 3, 0, 5, 0, 0, 0.75f, -1.25f},
    {1, 0, 37, 53, 29, 1, 2, 0, 11, 0, 1, 1.0f, 1.0f},
    {1, 1, 37, 53, 29, 1, 1, 0, 3, 0, 0, 2.0f, 0.0f},
    {0, 0, 64, 200, 96, 1, 0, 0, 0, 0, 0, 1.0f, 0.0f},
    /* B transposed and small beside A: multiplied on a plain copy of op(B) (padded, offset) */
    {0, 1, 70, 4, 33, 1, 2, 0, 3, 0, 0, 1.0f, 0.5f},
    {1, 1, 90, 5, 17, 1, 0, 0, 1, 0, 1, 0.75f, 0.0f},
    /* batches: gaps, transposes, a shared B, attention-like shapes */
    {0, 1, 20, 20, 8, 5, 0, 0, 3, 0, 1, 0.125f, 0.0f},
    {0, 0, 20, 8, 20, 5, 1, 4, 3, 0, 0, 1.0f, 0.5f},
    {1, 0, 17, 19, 23, 3, 2, 7, 1, 0, 1, 1.5f, 0.0f},
    {1, 1, 17, 19, 23, 3, 0, 2, 0, 0, 0, 1.0f, 1.0f},
    {0, 0, 9, 13, 6, 4, 1, 2, 2, 1, 0, 1.0f, 0.0f},
    /* single-row batches (one sgemm per matrix): transposes, gaps, a shared B, beta */
    {0, 1, 1, 50, 16, 6, 1, 3, 2, 0, 0, 0.5f, 1.0f},
    {1, 0, 1, 30, 20, 4, 0, 2, 1, 1, 0, 1.0f, 0.0f},
    {1, 1, 1, 21, 9, 3, 2, 0, 0, 0, 0, 2.0f, -0.5f},
};

static void reduced(clippo_rt *rt, void *user) {
  clippo_precision prec = *(const clippo_precision *)user;
  if (!onednn_device(rt)) {
    clippo_error err;
    assert_int_equal(clippo_rt_set_precision(rt, prec, &err), CLIPPO_E_UNSUPPORTED);
    assert_non_null(strstr(err.msg, rt->info.name));
    print_message("[  refused ] %s\n", err.msg);
    return;
  }
  double worst = 0, least = 1, exact = 0;
  size_t refused = 0;
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    double rel = 0, cost = run_reduced(rt, prec, &cases[i], 100 + i, &rel);
    exact = rel > exact ? rel : exact;
    refused += refused_here(prec, &cases[i]);
    if (!rounds(prec, &cases[i]) || refused_here(prec, &cases[i])) continue;
    worst = cost > worst ? cost : worst;
    least = cost < least ? cost : least;
  }
  if (refused) { /* no bfloat16 matmul here: every single product refused, batches float32 */
    char text[256];
    clippo_gemm_onednn_describe(text, sizeof text);
    print_message("[ %-8s ] %zu single products refused (%s), batched ones float32 within %.2e\n",
                  clippo_precision_name(prec), refused, text, exact);
    assert_true(exact <= 1e-6);
    return;
  }
  print_message("[ %-8s ] relative error to the %s operands up to %.2e; to the float32 "
                "operands %.2e .. %.2e\n",
                clippo_precision_name(prec),
                prec == CLIPPO_PRECISION_BF16 ? "rounded" : "quantised", exact, least, worst);
  /* The rounding happened (bfloat16 keeps 8 bits, int8 about 7) and costs what it should. */
  assert_true(least > 1e-4);
  assert_true(worst < (prec == CLIPPO_PRECISION_BF16 ? 1e-2 : 3e-2));
}

/* Products large enough (>= 2^22 multiply-adds; in float32, fewer than 16 rows of A count 16 per
 * element of B) for the provider to cut them over its host team.
 * float32: by rows of C (transposed or not, padded, offset, beta), by columns (C wider than
 * tall), by whole matrices of a batch (gaps, a shared B, a batch smaller and one not divisible by
 * the team; single-row matrices, one sgemm each). int8 and bf16 (the single products): each part
 * quantises (rounds) its rows of A and its columns of B (a part may have none: B narrower than the
 * team's blocks of 16), then multiplies its rows. Each part on its own thread: the same 1e-6
 * against float64 (of the quantised operands) as any product. */
static const rcase team_cases[] = {
    /* ta tb  m    n    k  batch pad gap off shared zero alpha beta */
    {0, 0, 301, 64, 256, 1, 0, 0, 0, 0, 1, 1.0f, 0.0f},
    {1, 1, 301, 64, 256, 1, 3, 0, 5, 0, 0, 0.5f, 1.0f},
    {0, 1, 40, 701, 200, 1, 1, 0, 2, 0, 0, 1.0f, -0.5f},
    {1, 0, 40, 701, 200, 1, 0, 0, 0, 0, 1, 2.0f, 0.0f},
    {0, 1, 96, 96, 80, 7, 1, 3, 1, 0, 0, 0.125f, 0.0f},
    {0, 0, 196, 64, 196, 3, 0, 5, 0, 1, 0, 1.0f, 1.0f},
    {0, 0, 2000, 16, 200, 1, 2, 0, 7, 0, 0, 1.0f, 0.25f},
    {0, 1, 1, 196, 64, 25, 1, 2, 3, 0, 0, 1.0f, 0.5f},
    /* fewer rows than GEMV_COST: B's elements count 16 multiply-adds each (cut by columns) */
    {0, 0, 1, 701, 400, 1, 1, 0, 3, 0, 0, 1.0f, 0.5f},
    {1, 1, 5, 640, 420, 1, 0, 0, 2, 0, 1, 0.5f, 0.0f},
    /* B transposed and small beside A (a plain copy of op(B)): rows cut, padded, offset */
    {0, 1, 2000, 48, 200, 1, 3, 0, 5, 0, 0, 1.0f, 0.5f},
    {1, 1, 1100, 64, 96, 1, 2, 0, 0, 0, 1, 0.5f, 0.0f},
    /* A^T B with long k and rows a multiple of 1 KiB apart (below AVX-512 copied in chunks of
     * 1024 rows, the last one short): cut by rows and by columns, beta kept after the first
     * chunk, C starting as NaN */
    {1, 0, 300, 44, 2500, 1, 212, 0, 0, 0, 0, 0.75f, 0.5f},
    {1, 0, 44, 300, 2500, 1, 212, 0, 3, 0, 1, 1.0f, 0.0f},
};

static void team_split(clippo_rt *rt, void *user) {
  (void)user;
  if (!onednn_device(rt)) return;
  double worst = 0, worst8 = 0, worst16 = 0;
  for (size_t i = 0; i < sizeof team_cases / sizeof team_cases[0]; i++) {
    double rel = 0;
    run_reduced(rt, CLIPPO_PRECISION_FP32, &team_cases[i], 300 + i, &rel);
    worst = rel > worst ? rel : worst;
    if (team_cases[i].batch > 1) continue;
    run_reduced(rt, CLIPPO_PRECISION_INT8, &team_cases[i], 400 + i, &rel);
    worst8 = rel > worst8 ? rel : worst8;
    run_reduced(rt, CLIPPO_PRECISION_BF16, &team_cases[i], 450 + i, &rel);
    worst16 = rel > worst16 ? rel : worst16;
  }
  print_message("[ team     ] products cut over the host team: relative error up to %.2e "
                "(float32), %.2e (int8, to the quantised operands), %.2e (bf16, to the rounded "
                "ones%s)\n",
                worst, worst8, worst16, test_onednn_has_bf16() ? "" : "; refused on this CPU");
}

static void test_team_split(void **state) {
  (void)state;
  NEED_ONEDNN();
  test_each_device(team_split, NULL);
}

static void test_bf16(void **state) {
  (void)state;
  NEED_ONEDNN();
  clippo_precision p = CLIPPO_PRECISION_BF16;
  test_each_device(reduced, &p);
}

static void test_int8(void **state) {
  (void)state;
  NEED_ONEDNN();
  clippo_precision p = CLIPPO_PRECISION_INT8;
  test_each_device(reduced, &p);
}

/* C (m x n) = alpha A B in precision prec with B a view at element `off` of tb (k x n, ld n). */
static void product(clippo_rt *rt, clippo_precision prec, const clippo_tensor *ta,
                    const clippo_tensor *tb, size_t off, size_t m, size_t n, size_t k, float alpha,
                    float *out) {
  clippo_error err;
  clippo_tensor tc;
  int64_t one[1] = {1}, shc[1] = {(int64_t)(m * n)};
  TEST_OK(clippo_tensor_alloc(rt, &tc, CLIPPO_F32, 1, shc, &err), &err);
  clippo_tensor vb = clippo_tensor_view(tb, off, 1, one);
  TEST_OK(clippo_rt_set_precision(rt, prec, &err), &err);
  clippo_status st = clippo_gemm(rt, 0, 0, m, n, k, alpha, ta, k, &vb, n, 0.0f, &tc, n, &err);
  TEST_OK(clippo_rt_set_precision(rt, CLIPPO_PRECISION_FP32, &err), &err);
  TEST_OK(st, &err);
  TEST_OK(clippo_tensor_read(rt, &tc, out, &err), &err);
  clippo_tensor_release(rt, &tc);
}

/* The operands of the declared-weights tests, drawn from rng: A (rows x k) in ta; B, two k x n
 * matrices one after the other (two views), in tb (to be declared) and in tw (undeclared: its
 * products are the expected ones); hb its values, hb2 = 0.5 - 2 hb another B written later. */
typedef struct declared_case {
  size_t nb; /* floats of B */
  float *hb, *hb2;
  clippo_tensor ta, tb, tw;
} declared_case;

static void declared_case_make(clippo_rt *rt, test_rng *rng, size_t rows, size_t k, size_t n,
                               declared_case *d) {
  clippo_error err;
  d->nb = 2 * k * n;
  float *ha = malloc(rows * k * sizeof(float));
  d->hb = malloc(d->nb * sizeof(float));
  d->hb2 = malloc(d->nb * sizeof(float));
  assert_true(ha && d->hb && d->hb2);
  test_fill_uniform(rng, ha, rows * k, -1.0f, 1.0f);
  test_fill_uniform(rng, d->hb, d->nb, -1.0f, 1.0f);
  for (size_t i = 0; i < d->nb; i++) d->hb2[i] = 0.5f - 2.0f * d->hb[i];
  int64_t sha[1] = {(int64_t)(rows * k)}, shb[1] = {(int64_t)d->nb};
  TEST_OK(clippo_tensor_alloc(rt, &d->ta, CLIPPO_F32, 1, sha, &err), &err);
  TEST_OK(clippo_tensor_alloc(rt, &d->tb, CLIPPO_F32, 1, shb, &err), &err);
  TEST_OK(clippo_tensor_alloc(rt, &d->tw, CLIPPO_F32, 1, shb, &err), &err);
  TEST_OK(clippo_tensor_write(rt, &d->ta, ha, &err), &err);
  TEST_OK(clippo_tensor_write(rt, &d->tb, d->hb, &err), &err);
  TEST_OK(clippo_tensor_write(rt, &d->tw, d->hb, &err), &err);
  free(ha);
}

static void declared_case_free(clippo_rt *rt, declared_case *d) {
  clippo_tensor_release(rt, &d->tw);
  clippo_tensor_release(rt, &d->ta);
  clippo_tensor_release(rt, &d->tb);
  free(d->hb);
  free(d->hb2);
}

/* Declared weights (clippo_gemm_declare_weights): int8 (bf16) quantises (rounds) B once and uses
 * that copy until the declaration ends. The copy is used (B changed without forgetting still gives
 * the old product: the contract's other side), each view of the buffer (offset) and each alpha has
 * its own, forgetting makes the next product read B again. Products large enough for the host
 * team and small ones. (Float32's copies: declared_f32.) */
static void declared(clippo_rt *rt, void *user) {
  const clippo_precision prec = *(const clippo_precision *)user;
  if (!onednn_device(rt)) return;
  if (prec == CLIPPO_PRECISION_BF16 && !test_onednn_has_bf16()) { /* refused: test_bf16 checks */
    print_message("[ declared ] bf16: no bfloat16 matmul on this CPU (refusal: test_bf16)\n");
    return;
  }
  /* m x n x k: by rows over the team; cut by columns where the matmul takes B in plain rows (at
   * most 256 rows; n not a multiple of 16); the calling thread alone */
  const size_t shapes[3][3] = {{300, 96, 256}, {200, 168, 160}, {8, 40, 24}};
  for (int sh = 0; sh < 3; sh++) {
    const size_t m = shapes[sh][0], n = shapes[sh][1], k = shapes[sh][2];
    clippo_error err;
    test_rng rng;
    test_rng_seed(&rng, 500 + (uint64_t)sh);
    declared_case d;
    declared_case_make(rt, &rng, m, k, n, &d);
    clippo_tensor *ta = &d.ta, *tb = &d.tb, *tw = &d.tw;
    const float *hb2 = d.hb2;
    float *fresh = malloc(m * n * sizeof(float)), *got = malloc(m * n * sizeof(float));
    assert_true(fresh && got);
    TEST_OK(clippo_gemm_declare_weights(rt, tb->mem, &err), &err);
    TEST_OK(clippo_gemm_declare_weights(rt, tb->mem, &err), &err); /* twice: one declaration */
    const size_t offs[2] = {0, k * n};
    const float alphas[2] = {1.0f, -0.75f};
    for (int rep = 0; rep < 2; rep++) /* the first fills the copies, the second uses them */
      for (int o = 0; o < 2; o++)
        for (int al = 0; al < 2; al++) {
          product(rt, prec, ta, tw, offs[o], m, n, k, alphas[al], fresh);
          product(rt, prec, ta, tb, offs[o], m, n, k, alphas[al], got);
          assert_memory_equal(got, fresh, m * n * sizeof(float));
        }
    /* B changes without the declaration ending: the copy is what gets multiplied */
    TEST_OK(clippo_tensor_write(rt, tb, hb2, &err), &err);
    product(rt, prec, ta, tw, k * n, m, n, k, 1.0f, fresh);
    product(rt, prec, ta, tb, k * n, m, n, k, 1.0f, got);
    assert_memory_equal(got, fresh, m * n * sizeof(float));
    TEST_OK(clippo_tensor_write(rt, tw, hb2, &err), &err);
    /* forgetting: the next int8 product quantises the new B (declared again: a new copy) */
    clippo_gemm_forget_weights(rt, tb->mem);
    clippo_gemm_forget_weights(rt, tb->mem); /* not declared any more: nothing */
    for (int rep = 0; rep < 2; rep++) {
      product(rt, prec, ta, tw, k * n, m, n, k, 1.0f, fresh);
      product(rt, prec, ta, tb, k * n, m, n, k, 1.0f, got);
      assert_memory_equal(got, fresh, m * n * sizeof(float));
      TEST_OK(clippo_gemm_declare_weights(rt, tb->mem, &err), &err);
    }
    clippo_gemm_forget_weights(rt, tb->mem);
    /* a declared buffer may be released by its owner: the declaration holds its own reference */
    TEST_OK(clippo_gemm_declare_weights(rt, tw->mem, &err), &err);
    product(rt, prec, ta, tw, 0, m, n, k, 1.0f, got);
    declared_case_free(rt, &d);
    free(fresh);
    free(got);
  }
  clippo_error err;
  assert_int_equal(clippo_gemm_declare_weights(rt, NULL, &err), CLIPPO_E_ARG);
  print_message("[ declared ] %s copies of declared weights: used, per view and alpha, "
                "dropped when forgotten\n",
                clippo_precision_name(prec));
}

/* C (m x n) = alpha op(B-view) products for declared_f32: A is m x k, B at offset off of tb
 * (k x n, or n x k when transposed), C starts as c0 and gets beta C added. */
static void product_f32(clippo_rt *rt, const clippo_tensor *ta, const clippo_tensor *tb, size_t off,
                        int trans_b, size_t m, size_t n, size_t k, float alpha, float beta,
                        const float *c0, float *out) {
  clippo_error err;
  clippo_tensor tc;
  int64_t one[1] = {1}, shc[1] = {(int64_t)(m * n)};
  TEST_OK(clippo_tensor_alloc(rt, &tc, CLIPPO_F32, 1, shc, &err), &err);
  TEST_OK(clippo_tensor_write(rt, &tc, c0, &err), &err);
  clippo_tensor vb = clippo_tensor_view(tb, off, 1, one);
  TEST_OK(
      clippo_gemm(rt, 0, trans_b, m, n, k, alpha, ta, k, &vb, trans_b ? k : n, beta, &tc, n, &err),
      &err);
  TEST_OK(clippo_tensor_read(rt, &tc, out, &err), &err);
  clippo_tensor_release(rt, &tc);
}

/* Float32 products of at most 256 rows keep a declared B in the blocked layout oneDNN's matmul
 * chooses (one copy per block of columns a team member takes): they equal the products of an
 * undeclared B (to float32 rounding: another kernel), for each transpose, alpha, beta and view;
 * the copy is what gets multiplied (B changed while declared gives the old product), larger
 * products read B as it is, and forgetting makes the next product read B again. Shapes: one cut
 * over the host team with a last block of columns narrower than 64, and a small one. */
static void declared_f32(clippo_rt *rt, void *user) {
  (void)user;
  if (!onednn_device(rt)) return;
  const size_t shapes[2][3] = {{200, 200, 128}, {8, 40, 24}};
  for (int sh = 0; sh < 2; sh++) {
    const size_t m = shapes[sh][0], n = shapes[sh][1], k = shapes[sh][2];
    const size_t big = 300; /* rows above 256: no copy */
    clippo_error err;
    test_rng rng;
    test_rng_seed(&rng, 900 + (uint64_t)sh);
    declared_case d;
    declared_case_make(rt, &rng, big, k, n, &d);
    clippo_tensor *ta = &d.ta, *tb = &d.tb, *tw = &d.tw;
    const float *hb2 = d.hb2;
    float *c0 = malloc(big * n * sizeof(float));
    float *want = malloc(big * n * sizeof(float)), *got = malloc(big * n * sizeof(float));
    assert_true(c0 && want && got);
    test_fill_uniform(&rng, c0, big * n, -1.0f, 1.0f);
    TEST_OK(clippo_gemm_declare_weights(rt, tb->mem, &err), &err);
    const size_t offs[2] = {0, k * n};
    const float alphas[2] = {1.0f, -0.75f}, betas[2] = {0.0f, 0.5f};
    double worst = 0;
    for (int rep = 0; rep < 2; rep++) /* the first makes the copies, the second uses them */
      for (int t = 0; t < 2; t++)
        for (int o = 0; o < 2; o++)
          for (int v = 0; v < 2; v++) {
            product_f32(rt, ta, tw, offs[o], t, m, n, k, alphas[v], betas[v], c0, want);
            product_f32(rt, ta, tb, offs[o], t, m, n, k, alphas[v], betas[v], c0, got);
            double rel = test_rel_err_f32(got, want, m * n);
            if (!(rel <= 1e-5))
              fail_msg("declared float32 %zux%zux%zu trans %d off %zu alpha %g: relative error "
                       "%.3g",
                       m, n, k, t, offs[o], (double)alphas[v], rel);
            worst = rel > worst ? rel : worst;
          }
    /* B changes without the declaration ending: the copy is what gets multiplied */
    product_f32(rt, ta, tw, 0, 0, m, n, k, 1.0f, 0.0f, c0, want); /* tw still holds hb */
    TEST_OK(clippo_tensor_write(rt, tb, hb2, &err), &err);
    TEST_OK(clippo_tensor_write(rt, tw, hb2, &err), &err);
    product_f32(rt, ta, tb, 0, 0, m, n, k, 1.0f, 0.0f, c0, got);
    assert_true(test_rel_err_f32(got, want, m * n) <= 1e-5);
    /* the declared buffer stays mapped for reading between products: kernels and reads still
     * see it (ew_copy reads it into tw) */
    TEST_OK(clippo_op_copy(rt, tb, tw, &err), &err);
    TEST_OK(clippo_tensor_read(rt, tw, want, &err), &err);
    assert_memory_equal(want, hb2, k * n * sizeof(float));
    /* more rows than 256: B as it is */
    product_f32(rt, ta, tw, 0, 0, big, n, k, 1.0f, 0.0f, c0, want);
    product_f32(rt, ta, tb, 0, 0, big, n, k, 1.0f, 0.0f, c0, got);
    assert_true(test_rel_err_f32(got, want, big * n) <= 1e-5);
    /* forgetting: the next product reads the new B */
    clippo_gemm_forget_weights(rt, tb->mem);
    product_f32(rt, ta, tw, 0, 0, m, n, k, 1.0f, 0.0f, c0, want);
    product_f32(rt, ta, tb, 0, 0, m, n, k, 1.0f, 0.0f, c0, got);
    assert_true(test_rel_err_f32(got, want, m * n) <= 1e-5);
    print_message("[ declared ] float32 %zux%zux%zu: blocked copies within %.2g of B's products\n",
                  m, n, k, worst);
    declared_case_free(rt, &d);
    free(c0);
    free(want);
    free(got);
  }
}

/* declared_f32 again with a record asking for declared=direct (oneDNN's matmul writing C's
 * columns itself), as `clippo tune` records where that is faster. */
static void declared_f32_direct(clippo_rt *rt, void *user) {
  (void)user;
  if (!onednn_device(rt)) return;
  temp_record r;
  temp_record_begin(rt, "record.txt",
                    "mat_nn_l onednn declared=direct\nmat_nn_s onednn declared=direct\n"
                    "mat_nt_l onednn declared=direct\nmat_nt_s onednn declared=direct\n",
                    &r);
  declared_f32(rt, NULL);
  temp_record_end(rt, &r);
}

/* Blocked and direct keep a copy of a declared weight each (their layouts differ): a weight
 * multiplied both ways (its products in two shape classes recorded differently) is not copied
 * again at every switch. Seen through the copies' contract: B changed while declared, the mode
 * used before keeps multiplying its copy of the old B, the mode used for the first time copies
 * the new one. */
static void declared_f32_modes(clippo_rt *rt, void *user) {
  (void)user;
  if (!onednn_device(rt)) return;
  const size_t m = 200, n = 200, k = 128; /* 5.1 M multiply-adds: class mat_nn_s */
  clippo_error err;
  test_rng rng;
  test_rng_seed(&rng, 950);
  declared_case d;
  declared_case_make(rt, &rng, m, k, n, &d);
  float *c0 = calloc(m * n, sizeof(float)), *old_b = malloc(m * n * sizeof(float));
  float *new_b = malloc(m * n * sizeof(float)), *got = malloc(m * n * sizeof(float));
  assert_true(c0 && old_b && new_b && got);
  temp_record r;
  temp_record_begin(rt, "record.txt", "mat_nn_s onednn declared=direct\n", &r);
  product_f32(rt, &d.ta, &d.tw, 0, 0, m, n, k, 1.0f, 0.0f, c0, old_b); /* tw: undeclared */
  TEST_OK(clippo_gemm_declare_weights(rt, d.tb.mem, &err), &err);
  product_f32(rt, &d.ta, &d.tb, 0, 0, m, n, k, 1.0f, 0.0f, c0, got); /* direct's copy */
  assert_true(test_rel_err_f32(got, old_b, m * n) <= 1e-5);
  TEST_OK(clippo_tensor_write(rt, &d.tb, d.hb2, &err), &err); /* B changes, still declared */
  TEST_OK(clippo_tensor_write(rt, &d.tw, d.hb2, &err), &err);
  product_f32(rt, &d.ta, &d.tw, 0, 0, m, n, k, 1.0f, 0.0f, c0, new_b);
  for (int round = 0; round < 2; round++) {
    temp_record_set(rt, &r, "mat_nn_s onednn declared=blocked\n");
    product_f32(rt, &d.ta, &d.tb, 0, 0, m, n, k, 1.0f, 0.0f, c0, got); /* blocked: new B */
    assert_true(test_rel_err_f32(got, new_b, m * n) <= 1e-5);
    temp_record_set(rt, &r, "mat_nn_s onednn declared=direct\n");
    product_f32(rt, &d.ta, &d.tb, 0, 0, m, n, k, 1.0f, 0.0f, c0, got); /* direct: its copy */
    assert_true(test_rel_err_f32(got, old_b, m * n) <= 1e-5);
  }
  clippo_gemm_forget_weights(rt, d.tb.mem);
  temp_record_end(rt, &r);
  declared_case_free(rt, &d);
  free(c0);
  free(old_b);
  free(new_b);
  free(got);
}

/* `clippo tune` with oneDNN alone on a weight shape: both ways of multiplying declared weights
 * are measured (on at most 196 rows) and the faster is in the record, which the products then
 * follow (declared_f32_direct checks the direct path's results). */
static void tune_declared(clippo_rt *rt, void *user) {
  (void)user;
  if (!onednn_device(rt)) return;
  clippo_error err;
  temp_record r;
  temp_record_begin(rt, "tuned.txt", NULL, &r);
  const clippo_gemm_shape shapes[] = {{"mlp_in", 0, 0, 400, 320, 96, 1, 1}};
  clippo_gemm_tune_opts o;
  memset(&o, 0, sizeof o);
  o.shapes = shapes;
  o.nshapes = 1;
  o.providers = 1u << CLIPPO_GEMM_ONEDNN;
  o.reps = 1;
  clippo_gemm_tune_report rep;
  TEST_OK(clippo_gemm_tune(rt, &o, &rep, &err), &err);
  assert_int_equal(rep.nclasses, 1);
  const clippo_gemm_class_choice *cc = &rep.classes[0];
  assert_int_equal(cc->provider, CLIPPO_GEMM_ONEDNN);
  assert_true(cc->declared_seconds[0] > 0 && cc->declared_seconds[1] > 0);
  int direct = cc->declared_seconds[1] < cc->declared_seconds[0];
  char text[1024] = "";
  FILE *f = fopen(r.path, "r");
  assert_non_null(f);
  size_t got = fread(text, 1, sizeof text - 1, f);
  fclose(f);
  text[got] = '\0';
  assert_non_null(strstr(text, direct ? "declared=direct" : "declared=blocked"));
  print_message("[ declared ] tune: %s (blocked %.3f ms, direct %.3f ms)\n",
                direct ? "direct" : "blocked", cc->declared_seconds[0] * 1e3,
                cc->declared_seconds[1] * 1e3);
  /* a record with another value is refused, naming the file and line */
  temp_record_set(rt, &r, "# comment\nmat_nn_s onednn declared=sideways\n");
  clippo_gemm_choice ch;
  assert_int_equal(clippo_gemm_choose(rt, 0, 0, 8, 8, 8, 1, &ch, &err), CLIPPO_E_FORMAT);
  assert_non_null(strstr(err.msg, "tuned.txt:2"));
  assert_non_null(strstr(err.msg, "sideways"));
  clippo_gemm_tune_report_free(&rep);
  temp_record_end(rt, &r);
}

static void test_declared_weights(void **state) {
  (void)state;
  NEED_ONEDNN();
  clippo_precision precs[2] = {CLIPPO_PRECISION_INT8, CLIPPO_PRECISION_BF16};
  for (int i = 0; i < 2; i++) test_each_device(declared, &precs[i]);
  test_each_device(declared_f32, NULL);
  test_each_device(declared_f32_direct, NULL);
  test_each_device(declared_f32_modes, NULL);
  test_each_device(tune_declared, NULL);
}

/* The default provider (the host BLAS), forcing oneDNN, the choice in reduced precision, the
 * errors. */
static void choice(clippo_rt *rt, void *user) {
  (void)user;
  clippo_error err;
  clippo_gemm_choice ch;
  rt->settings.gemm_record[0] = '\0';
  snprintf(rt->settings.gemm_record, sizeof rt->settings.gemm_record, "%s",
           "/nonexistent/clippo-test-record.txt");
  rt->settings.gemm[0] = '\0';
  clippo_gemm_forget_record(rt);
  TEST_OK(clippo_gemm_choose(rt, 0, 0, 1568, 3072, 768, 1, &ch, &err), &err);
  assert_int_equal(clippo_gemm_provider_available(rt, CLIPPO_GEMM_ONEDNN), onednn_device(rt));
  if (!onednn_device(rt)) {
    assert_int_not_equal(ch.provider, CLIPPO_GEMM_ONEDNN);
    snprintf(rt->settings.gemm, sizeof rt->settings.gemm, "onednn");
    assert_int_equal(clippo_gemm_choose(rt, 0, 0, 4, 4, 4, 1, &ch, &err), CLIPPO_E_UNSUPPORTED);
    assert_non_null(strstr(err.msg, rt->info.name));
    rt->settings.gemm[0] = '\0';
    return;
  }
  /* without a record oneDNN is the default on a host-unified CPU, whatever the host BLAS is; the
   * host BLAS comes from tune or CLIPPO_GEMM */
  char blas[256];
  clippo_gemm_hostblas_describe(blas, sizeof blas);
  print_message("[ default  ] %s (host BLAS: %s)\n", clippo_gemm_provider_name(ch.provider), blas);
  assert_int_equal(ch.provider, CLIPPO_GEMM_ONEDNN);
  assert_string_equal(ch.source, "default");
  snprintf(rt->settings.gemm, sizeof rt->settings.gemm, "OneDNN");
  TEST_OK(clippo_gemm_choose(rt, 0, 1, 196, 196, 64, 96, &ch, &err), &err);
  assert_int_equal(ch.provider, CLIPPO_GEMM_ONEDNN);
  assert_string_equal(ch.source, "env CLIPPO_GEMM");
  rt->settings.gemm[0] = '\0';
  /* reduced precision: oneDNN whatever the record says; another forced provider is an error */
  TEST_OK(clippo_rt_set_precision(rt, CLIPPO_PRECISION_INT8, &err), &err);
  TEST_OK(clippo_gemm_choose(rt, 0, 0, 1568, 3072, 768, 1, &ch, &err), &err);
  assert_int_equal(ch.provider, CLIPPO_GEMM_ONEDNN);
  assert_string_equal(ch.source, "precision int8");
  clippo_tensor a, c;
  int64_t sh[1] = {64};
  TEST_OK(clippo_tensor_alloc(rt, &a, CLIPPO_F32, 1, sh, &err), &err);
  TEST_OK(clippo_tensor_alloc(rt, &c, CLIPPO_F32, 1, sh, &err), &err);
  TEST_OK(clippo_tensor_fill(rt, &a, 0.5f, &err), &err);
  snprintf(rt->settings.gemm, sizeof rt->settings.gemm, "hostblas");
  assert_int_equal(clippo_gemm(rt, 0, 0, 8, 8, 8, 1.0f, &a, 8, &a, 8, 0.0f, &c, 8, &err),
                   CLIPPO_E_UNSUPPORTED);
  assert_non_null(strstr(err.msg, "oneDNN only"));
  rt->settings.gemm[0] = '\0';
  /* a failing oneDNN product is an error (no float32 provider stands in silently) */
  TEST_OK(clippo_gemm_inject_failure(rt, CLIPPO_GEMM_ONEDNN, 0, &err), &err);
  assert_int_equal(clippo_gemm(rt, 0, 0, 8, 8, 8, 1.0f, &a, 8, &a, 8, 0.0f, &c, 8, &err),
                   CLIPPO_E_DEVICE);
  assert_non_null(strstr(err.msg, "precision int8"));
  TEST_OK(clippo_gemm_inject_failure(rt, CLIPPO_GEMM_AUTO, 0, &err), &err);
  /* 0.5 * 0.5 * 8 = 2, exactly representable after quantisation */
  TEST_OK(clippo_gemm(rt, 0, 0, 8, 8, 8, 1.0f, &a, 8, &a, 8, 0.0f, &c, 8, &err), &err);
  float out[64];
  TEST_OK(clippo_tensor_read(rt, &c, out, &err), &err);
  for (int i = 0; i < 64; i++) assert_true(fabsf(out[i] - 2.0f) < 1e-6f);
  /* a product too long for int8's 32-bit sums is refused, C untouched */
  clippo_tensor big;
  int64_t shbig[1] = {65537};
  TEST_OK(clippo_tensor_alloc(rt, &big, CLIPPO_F32, 1, shbig, &err), &err);
  TEST_OK(clippo_tensor_fill(rt, &big, 0.5f, &err), &err);
  TEST_OK(clippo_tensor_fill(rt, &c, -3.0f, &err), &err);
  assert_int_equal(
      clippo_gemm(rt, 0, 0, 1, 1, 65537, 1.0f, &big, 65537, &big, 1, 0.0f, &c, 1, &err),
      CLIPPO_E_UNSUPPORTED);
  assert_non_null(strstr(err.msg, "overflow beyond k = 65536"));
  TEST_OK(clippo_tensor_read(rt, &c, out, &err), &err);
  assert_true(out[0] == -3.0f);
  clippo_tensor_release(rt, &big);
  TEST_OK(clippo_rt_set_precision(rt, CLIPPO_PRECISION_FP32, &err), &err);
  clippo_tensor_release(rt, &a);
  clippo_tensor_release(rt, &c);
  /* a device that does not share the host's memory refuses bf16 and int8, naming itself */
  rt->info.host_unified = 0;
  assert_int_equal(clippo_rt_set_precision(rt, CLIPPO_PRECISION_BF16, &err), CLIPPO_E_UNSUPPORTED);
  assert_non_null(strstr(err.msg, rt->info.name));
  assert_int_equal(rt->precision, CLIPPO_PRECISION_FP32);
  assert_int_equal(clippo_gemm_provider_available(rt, CLIPPO_GEMM_ONEDNN), 0);
  rt->info.host_unified = 1;
}

static void test_choice(void **state) {
  (void)state;
  NEED_ONEDNN();
  test_each_device(choice, NULL);
}

/* oneDNN on host memory (the bench's row) against the reference, single and batched. */
#define HM ((size_t)33)
#define HN ((size_t)21)
#define HK ((size_t)17)
#define HB ((size_t)4)

static void test_host(void **state) {
  (void)state;
  NEED_ONEDNN();
  clippo_error err;
  test_rng rng;
  test_rng_seed(&rng, 7);
  float a[HB * HM * HK], b[HB * HK * HN], c[HB * HM * HN], ref[HB * HM * HN];
  test_fill_uniform(&rng, a, HB * HM * HK, -1, 1);
  test_fill_uniform(&rng, b, HB * HK * HN, -1, 1);
  for (int t = 0; t < 4; t++) {
    int ta = t & 1, tb = t >> 1;
    size_t lda = ta ? HM : HK, ldb = tb ? HK : HN;
    for (size_t batch = 1; batch <= HB; batch += HB - 1) {
      test_fill_uniform(&rng, c, HB * HM * HN, -1, 1);
      memcpy(ref, c, sizeof c);
      TEST_OK(clippo_gemm_onednn_host(NULL, ta, tb, HM, HN, HK, 0.5f, a, lda, HM * HK, b, ldb,
                                      HK * HN, 2.0f, c, HN, HM * HN, batch, &err),
              &err);
      for (size_t z = 0; z < batch; z++)
        clippo_ref_gemm(ta, tb, HM, HN, HK, 0.5f, a + z * HM * HK, lda, b + z * HK * HN, ldb, 2.0f,
                        ref + z * HM * HN, HN);
      double rel = test_rel_err_f32(c, ref, HB * HM * HN);
      if (!(rel <= 1e-5)) fail_msg("host %d%d batch %zu: relative error %.3g", ta, tb, batch, rel);
    }
  }
  char text[256];
  clippo_gemm_onednn_describe(text, sizeof text);
  print_message("[ onednn   ] %s\n", text);
  assert_non_null(strstr(text, "oneDNN "));
  assert_non_null(strstr(text, "CPU ISA"));
}

/* Many shapes (more than the primitive cache holds) and each shape again: the cache evicts and
 * rebuilds without mixing shapes up, and a repeated product gives the same bits. */
static uint32_t float_bits(float f) {
  uint32_t u;
  memcpy(&u, &f, sizeof u);
  return u;
}

#define CN ((size_t)64 * 64 * 2)

static void cache(clippo_rt *rt, void *user) {
  (void)user;
  if (!onednn_device(rt)) return;
  clippo_error err;
  int64_t sh[1] = {(int64_t)CN};
  clippo_tensor a, c1, c2;
  TEST_OK(clippo_tensor_alloc(rt, &a, CLIPPO_F32, 1, sh, &err), &err);
  TEST_OK(clippo_tensor_alloc(rt, &c1, CLIPPO_F32, 1, sh, &err), &err);
  TEST_OK(clippo_tensor_alloc(rt, &c2, CLIPPO_F32, 1, sh, &err), &err);
  float *h = malloc(CN * sizeof(float)), *r1 = malloc(CN * sizeof(float)),
        *r2 = malloc(CN * sizeof(float));
  assert_true(h && r1 && r2);
  test_rng rng;
  test_rng_seed(&rng, 9);
  test_fill_uniform(&rng, h, CN, -1, 1);
  TEST_OK(clippo_tensor_write(rt, &a, h, &err), &err);
  TEST_OK(clippo_rt_set_precision(rt, CLIPPO_PRECISION_BF16, &err), &err);
  for (int pass = 0; pass < 2; pass++)
    for (size_t s = 1; s <= 60; s++) {
      clippo_tensor *c = pass ? &c2 : &c1;
      TEST_OK(clippo_gemm_batched(rt, 0, 1, s, 40, 30, 1.0f, &a, 30, (size_t)64 * 30, &a, 30, 0,
                                  0.0f, c, 40, (size_t)64 * 40, 2, &err),
              &err);
      if (pass == 0) continue;
      TEST_OK(clippo_gemm_batched(rt, 0, 1, s, 40, 30, 1.0f, &a, 30, (size_t)64 * 30, &a, 30, 0,
                                  0.0f, &c1, 40, (size_t)64 * 40, 2, &err),
              &err);
      TEST_OK(clippo_tensor_read(rt, &c1, r1, &err), &err);
      TEST_OK(clippo_tensor_read(rt, &c2, r2, &err), &err);
      for (size_t z = 0; z < 2; z++)
        for (size_t i = 0; i < s * 40; i++)
          if (float_bits(r1[z * (size_t)64 * 40 + i]) != float_bits(r2[z * (size_t)64 * 40 + i]))
            fail_msg("m = %zu: matrix %zu element %zu differs between two runs", s, z, i);
    }
  TEST_OK(clippo_rt_set_precision(rt, CLIPPO_PRECISION_FP32, &err), &err);
  free(h);
  free(r1);
  free(r2);
  clippo_tensor_release(rt, &a);
  clippo_tensor_release(rt, &c1);
  clippo_tensor_release(rt, &c2);
}

static void test_cache(void **state) {
  (void)state;
  NEED_ONEDNN();
  test_each_device(cache, NULL);
}

static void test_names(void **state) {
  (void)state;
  clippo_error err;
  clippo_gemm_provider p;
  TEST_OK(clippo_gemm_provider_parse("onednn", &p, &err), &err);
  assert_int_equal(p, CLIPPO_GEMM_ONEDNN);
  assert_string_equal(clippo_gemm_provider_name(CLIPPO_GEMM_ONEDNN), "onednn");
  clippo_precision prec;
  TEST_OK(clippo_precision_parse("bf16", &prec, &err), &err);
  assert_int_equal(prec, CLIPPO_PRECISION_BF16);
  TEST_OK(clippo_precision_parse("int8", &prec, &err), &err);
  assert_int_equal(prec, CLIPPO_PRECISION_INT8);
  assert_string_equal(clippo_precision_name(CLIPPO_PRECISION_INT8), "int8");
  assert_int_equal(clippo_precision_parse("int4", &prec, &err), CLIPPO_E_ARG);
  assert_non_null(strstr(err.msg, "bf16, int8"));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_names),  cmocka_unit_test(test_host),
      cmocka_unit_test(test_choice), cmocka_unit_test(test_bf16),
      cmocka_unit_test(test_int8),   cmocka_unit_test(test_declared_weights),
      cmocka_unit_test(test_cache),  cmocka_unit_test(test_team_split),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
