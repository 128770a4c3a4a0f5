/* clippo_gemm_fused: C = act(alpha op(A) op(B) + beta C + bias) on every device, with the
 * default provider and each one forced (oneDNN applies the epilogue as C comes out, the others
 * leave it to the GEMM layer, which maps C afterwards), in float32 and, where oneDNN runs them,
 * bf16 and int8. The reference is the same device's clippo_gemm of the same operands (the product
 * in the same precision, bit for bit the same path) followed by the epilogue in float64:
 * |got - want| <= 2e-6 (1 + |want|) (GELU in float32 as oneDNN's or the loop's exp gives it).
 * Shapes cover the host team's row and column cuts, a block narrower than one cut, one row (the
 * head), a padded leading dimension (rows one by one), views with offsets, beta 0 over NaN and
 * beta 1 (the residual), and act_out (C keeps the product, act(C + bias) goes to a second
 * matrix), each with B undeclared and declared unchanging (clippo_gemm_declare_weights: oneDNN
 * then multiplies its blocked copy of B, and where it does each part of the product applies the
 * bias and GELU to its own columns as it writes them: the 197-row cases; providers that read no
 * declarations repeat the small cases declared). Elements outside C and
 * act_out, and the bias, must not change; bad epilogues are refused. Batched products with a
 * softmax (each row of each matrix; the attention probabilities) or GELU: dense, with gaps between
 * matrices and with a padded ldc (rows one by one), against the same device's plain batched product
 * + float64. clippo_op_linear and clippo_op_linear_gelu_keep are checked against clippo_gemm + the
 * bias and GELU kernels. With oneDNN made to fail before the product or in the epilogue (the
 * failure hook), every case must still come out right, the fallbacks counted. */
#include "support.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clippo/gemm.h"
#include "clippo/ops.h"
#include "gemm/gemm_internal.h"
#include "test_gemm_record.h"

#define TOL 2e-6

typedef struct ecase {
  size_t m, n, k;
  size_t pad; /* ldc = n + pad */
  size_t off; /* view offset of every operand */
  float beta; /* 0: C starts as NaN */
  int gelu;
  int keep; /* act_out: C keeps the product, act(C + bias) goes to a second matrix */
} ecase;

static double gelu64(double x) {
  return 0.5 * x * (1.0 + tanh(0.7978845608028654 * (x + 0.044715 * x * x * x)));
}

/* Runs and checks one case on rt with its current provider setting and precision; declared: B's
 * buffer declared unchanging for both products. */
static void run_case(clippo_rt *rt, const ecase *c, const char *what, uint64_t seed, int declared) {
  clippo_error err;
  test_rng rng;
  test_rng_seed(&rng, seed);
  size_t lda = c->k, ldb = c->n, ldc = c->n + c->pad;
  size_t na = c->off + c->m * lda, nb = c->off + c->k * ldb, nc = c->off + c->m * ldc + 5;
  size_t nbias = c->off + c->n + 3;
  float *ha = malloc(na * sizeof(float)), *hb = malloc(nb * sizeof(float));
  float *hc = malloc(nc * sizeof(float)), *hbias = malloc(nbias * sizeof(float));
  float *prod = malloc(nc * sizeof(float)), *got = malloc(nc * sizeof(float));
  float *bias_after = malloc(nbias * sizeof(float));
  float *ho = malloc(nc * sizeof(float)), *gout = malloc(nc * sizeof(float));
  assert_true(ha && hb && hc && hbias && prod && got && bias_after && ho && gout);
  test_fill_uniform(&rng, ha, na, -1.0f, 1.0f);
  test_fill_uniform(&rng, hb, nb, -0.3f, 0.3f);
  test_fill_uniform(&rng, hc, nc, -2.0f, 2.0f);
  test_fill_uniform(&rng, hbias, nbias, -1.5f, 1.5f);
  test_fill_uniform(&rng, ho, nc, -9.0f, 9.0f);
  if (c->beta == 0.0f)
    for (size_t i = 0; i < c->m; i++)
      for (size_t j = 0; j < c->n; j++) hc[c->off + i * ldc + j] = NAN;
  clippo_tensor ta, tb, tc, tbias, tout;
  int64_t sa[1] = {(int64_t)na}, sb[1] = {(int64_t)nb}, sc[1] = {(int64_t)nc};
  int64_t sbias[1] = {(int64_t)nbias}, one[1] = {1};
  TEST_OK(clippo_tensor_alloc(rt, &ta, CLIPPO_F32, 1, sa, &err), &err);
  TEST_OK(clippo_tensor_alloc(rt, &tb, CLIPPO_F32, 1, sb, &err), &err);
  TEST_OK(clippo_tensor_alloc(rt, &tc, CLIPPO_F32, 1, sc, &err), &err);
  TEST_OK(clippo_tensor_alloc(rt, &tbias, CLIPPO_F32, 1, sbias, &err), &err);
  TEST_OK(clippo_tensor_alloc(rt, &tout, CLIPPO_F32, 1, sc, &err), &err);
  TEST_OK(clippo_tensor_write(rt, &tout, ho, &err), &err);
  TEST_OK(clippo_tensor_write(rt, &ta, ha, &err), &err);
  TEST_OK(clippo_tensor_write(rt, &tb, hb, &err), &err);
  TEST_OK(clippo_tensor_write(rt, &tbias, hbias, &err), &err);
  if (declared) TEST_OK(clippo_gemm_declare_weights(rt, tb.mem, &err), &err);
  clippo_tensor va = clippo_tensor_view(&ta, c->off, 1, one);
  clippo_tensor vb = clippo_tensor_view(&tb, c->off, 1, one);
  clippo_tensor vc = clippo_tensor_view(&tc, c->off, 1, one);
  clippo_tensor vbias = clippo_tensor_view(&tbias, c->off, 1, one);
  clippo_tensor vout = clippo_tensor_view(&tout, c->off, 1, one);
  /* The product alone, then the fused call on the same C. */
  TEST_OK(clippo_tensor_write(rt, &tc, hc, &err), &err);
  TEST_OK(
      clippo_gemm(rt, 0, 0, c->m, c->n, c->k, 1.0f, &va, lda, &vb, ldb, c->beta, &vc, ldc, &err),
      &err);
  TEST_OK(clippo_tensor_read(rt, &tc, prod, &err), &err);
  TEST_OK(clippo_tensor_write(rt, &tc, hc, &err), &err);
  clippo_gemm_act act = c->gelu ? CLIPPO_GEMM_ACT_GELU : CLIPPO_GEMM_ACT_NONE;
  clippo_status st =
      clippo_gemm_fused(rt, 0, 0, c->m, c->n, c->k, 1.0f, &va, lda, &vb, ldb, c->beta, &vc, ldc,
                        &vbias, act, c->keep ? &vout : NULL, &err);
  if (st)
    fail_msg("%s %zux%zux%zu pad %zu beta %g gelu %d keep %d declared %d: %s", what, c->m, c->n,
             c->k, c->pad, (double)c->beta, c->gelu, c->keep, declared, err.msg);
  TEST_OK(clippo_tensor_read(rt, &tc, got, &err), &err);
  TEST_OK(clippo_tensor_read(rt, &tout, gout, &err), &err);
  TEST_OK(clippo_tensor_read(rt, &tbias, bias_after, &err), &err);
  double worst = 0;
  size_t outside = 0;
  for (size_t i = 0; i < nc; i++) {
    size_t r = i - c->off;
    int in_c = i >= c->off && r / ldc < c->m && r % ldc < c->n;
    if (!in_c) {
      outside += !(got[i] == hc[i] || (isnan(got[i]) && isnan(hc[i])));
      outside += gout[i] != ho[i];
      continue;
    }
    double v = (double)prod[i] + (double)hbias[c->off + r % ldc];
    double want = c->gelu ? gelu64(v) : v;
    double e = fabs((double)(c->keep ? gout[i] : got[i]) - want) / (1.0 + fabs(want));
    if (c->keep) { /* C keeps the product */
      double ek = fabs((double)got[i] - (double)prod[i]) / (1.0 + fabs((double)prod[i]));
      if (!(ek <= e)) e = ek;
    } else {
      outside += gout[i] != ho[i];
    }
    if (!(e <= worst)) worst = e; /* NaN too */
  }
  for (size_t i = 0; i < nbias; i++) outside += bias_after[i] != hbias[i];
  if (!(worst <= TOL) || outside)
    fail_msg("%s %zux%zux%zu pad %zu off %zu beta %g gelu %d keep %d declared %d: error %.3g "
             "(tolerance %g), %zu elements outside C, of the bias or (without keep) of act_out "
             "changed",
             what, c->m, c->n, c->k, c->pad, c->off, (double)c->beta, c->gelu, c->keep, declared,
             worst, TOL, outside);
  if (declared) clippo_gemm_forget_weights(rt, tb.mem);
  clippo_tensor_release(rt, &ta);
  clippo_tensor_release(rt, &tb);
  clippo_tensor_release(rt, &tc);
  clippo_tensor_release(rt, &tbias);
  clippo_tensor_release(rt, &tout);
  free(ho);
  free(gout);
  free(ha);
  free(hb);
  free(hc);
  free(hbias);
  free(prod);
  free(got);
  free(bias_after);
}

static const ecase cases[] = {
    {197, 3072, 64, 0, 0, 0.0f, 1, 0}, /* batch-1 MLP: a column cut, dense rows */
    {197, 768, 96, 0, 7, 1.0f, 0, 0},  /* the residual projection, with offsets */
    {300, 96, 50, 0, 3, 0.0f, 1, 0},   /* a row cut */
    {40, 701, 33, 0, 0, 1.0f, 1, 0},   /* odd sizes, beta 1 with GELU */
    {1, 768, 768, 0, 0, 0.0f, 0, 0},   /* the head: one row */
    {5, 9, 3, 0, 1, 0.0f, 1, 0},       /* smaller than any cut */
    {260, 700, 40, 13, 2, 1.0f, 1, 0}, /* padded ldc: rows one by one */
    {3, 40000, 2, 0, 0, 0.0f, 1, 0},   /* wide and short: the team, 16-row blocks empty */
    {300, 512, 64, 0, 5, 0.0f, 1, 1},  /* act_out: a training forward's u and gelu(u) */
    {197, 3072, 64, 0, 0, 1.0f, 1, 1},
    {260, 700, 40, 13, 2, 0.0f, 1, 1}, /* act_out with a padded ldc: rows one by one */
    {40, 701, 33, 0, 0, 0.0f, 0, 1},   /* act_out as a copy of C + bias */
};

/* A batched product with an activation over every matrix (clippo_gemm_batched_fused). */
typedef struct bcase {
  size_t batch, m, n, k;
  size_t pad, gap; /* ldc = n + pad; stride_c = m * ldc + gap */
  clippo_gemm_act act;
} bcase;

static const bcase bcases[] = {
    {12, 197, 197, 64, 0, 0, CLIPPO_GEMM_ACT_SOFTMAX}, /* B/16 attention, one image: dense */
    {5, 7, 33, 16, 0, 3, CLIPPO_GEMM_ACT_SOFTMAX},     /* gaps between matrices: row by row */
    {3, 40, 50, 8, 6, 0, CLIPPO_GEMM_ACT_SOFTMAX},     /* padded ldc */
    {4, 30, 300, 20, 0, 0, CLIPPO_GEMM_ACT_GELU},      /* GELU without a bias */
    {2, 1, 5000, 3, 0, 0, CLIPPO_GEMM_ACT_SOFTMAX},    /* long rows, fewer than one block */
};

static void run_batched(clippo_rt *rt, const bcase *c, const char *what, uint64_t seed) {
  clippo_error err;
  test_rng rng;
  test_rng_seed(&rng, seed);
  size_t ldc = c->n + c->pad, sc = c->m * ldc + c->gap;
  size_t na = c->batch * c->m * c->k, nb = c->batch * c->k * c->n, nc = c->batch * sc + 4;
  float *ha = malloc(na * sizeof(float)), *hb = malloc(nb * sizeof(float));
  float *hc = malloc(nc * sizeof(float)), *prod = malloc(nc * sizeof(float));
  float *got = malloc(nc * sizeof(float));
  assert_true(ha && hb && hc && prod && got);
  test_fill_uniform(&rng, ha, na, -2.0f, 2.0f);
  test_fill_uniform(&rng, hb, nb, -2.0f, 2.0f);
  test_fill_uniform(&rng, hc, nc, -1.0f, 1.0f);
  clippo_tensor ta, tb, tc;
  int64_t sa[1] = {(int64_t)na}, sb[1] = {(int64_t)nb}, s_c[1] = {(int64_t)nc};
  TEST_OK(clippo_tensor_alloc(rt, &ta, CLIPPO_F32, 1, sa, &err), &err);
  TEST_OK(clippo_tensor_alloc(rt, &tb, CLIPPO_F32, 1, sb, &err), &err);
  TEST_OK(clippo_tensor_alloc(rt, &tc, CLIPPO_F32, 1, s_c, &err), &err);
  TEST_OK(clippo_tensor_write(rt, &ta, ha, &err), &err);
  TEST_OK(clippo_tensor_write(rt, &tb, hb, &err), &err);
  TEST_OK(clippo_tensor_write(rt, &tc, hc, &err), &err);
  TEST_OK(clippo_gemm_batched(rt, 0, 1, c->m, c->n, c->k, 1.0f, &ta, c->k, c->m * c->k, &tb, c->k,
                              c->n * c->k, 0.0f, &tc, ldc, sc, c->batch, &err),
          &err);
  TEST_OK(clippo_tensor_read(rt, &tc, prod, &err), &err);
  TEST_OK(clippo_tensor_write(rt, &tc, hc, &err), &err);
  clippo_status st =
      clippo_gemm_batched_fused(rt, 0, 1, c->m, c->n, c->k, 1.0f, &ta, c->k, c->m * c->k, &tb, c->k,
                                c->n * c->k, 0.0f, &tc, ldc, sc, c->batch, c->act, &err);
  if (st)
    fail_msg("%s batched %zu x %zux%zux%zu act %d: %s", what, c->batch, c->m, c->n, c->k,
             (int)c->act, err.msg);
  TEST_OK(clippo_tensor_read(rt, &tc, got, &err), &err);
  double worst = 0;
  size_t outside = 0;
  for (size_t i = 0; i < nc; i++) {
    size_t z = i / sc, w = i % sc;
    if (z >= c->batch || w / ldc >= c->m || w % ldc >= c->n) outside += got[i] != hc[i];
  }
  for (size_t z = 0; z < c->batch; z++)
    for (size_t r = 0; r < c->m; r++) {
      const float *pr = prod + z * sc + r * ldc, *gr = got + z * sc + r * ldc;
      double mx = pr[0], sum = 0;
      for (size_t j = 1; j < c->n; j++) mx = pr[j] > mx ? pr[j] : mx;
      for (size_t j = 0; j < c->n; j++) sum += exp((double)pr[j] - mx);
      for (size_t j = 0; j < c->n; j++) {
        double want = c->act == CLIPPO_GEMM_ACT_SOFTMAX ? exp((double)pr[j] - mx) / sum
                                                        : gelu64((double)pr[j]);
        double e = fabs((double)gr[j] - want) / (1.0 + fabs(want));
        if (!(e <= worst)) worst = e;
      }
    }
  if (!(worst <= TOL) || outside)
    fail_msg("%s batched %zu x %zux%zux%zu pad %zu gap %zu act %d: error %.3g (tolerance %g), %zu "
             "elements outside C changed",
             what, c->batch, c->m, c->n, c->k, c->pad, c->gap, (int)c->act, worst, TOL, outside);
  clippo_tensor_release(rt, &ta);
  clippo_tensor_release(rt, &tb);
  clippo_tensor_release(rt, &tc);
  free(ha);
  free(hb);
  free(hc);
  free(prod);
  free(got);
}

/* Every case in the runtime's current provider choice and precision, B undeclared and declared.
 * declared_small: the provider reads no declarations (only oneDNN does), so declaring B must
 * change nothing: shown on the cases of at most 2^20 multiply-adds, which keeps the slowest
 * devices (llvmpipe runs the kernel at ~0.1 GFLOP/s) from repeating the large ones. */
static void run_all(clippo_rt *rt, const char *what, int declared_small) {
  for (int declared = 0; declared < 2; declared++)
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
      const ecase *c = &cases[i];
      if (declared && declared_small && c->m * c->n * c->k > ((size_t)1 << 20)) continue;
      run_case(rt, c, what, 7 + i, declared);
    }
  for (size_t i = 0; i < sizeof bcases / sizeof bcases[0]; i++)
    run_batched(rt, &bcases[i], what, 70 + i);
}

static void on_device(clippo_rt *rt, void *user) {
  (void)user;
  clippo_error err;
  const clippo_gemm_provider forced[] = {CLIPPO_GEMM_AUTO, CLIPPO_GEMM_ONEDNN, CLIPPO_GEMM_HOSTBLAS,
                                         CLIPPO_GEMM_KERNEL, CLIPPO_GEMM_CLBLAST};
  for (size_t i = 0; i < sizeof forced / sizeof forced[0]; i++) {
    if (forced[i] != CLIPPO_GEMM_AUTO && !clippo_gemm_provider_available(rt, forced[i])) continue;
    snprintf(rt->settings.gemm, sizeof rt->settings.gemm, "%s",
             forced[i] == CLIPPO_GEMM_AUTO ? "" : clippo_gemm_provider_name(forced[i]));
    char what[96];
    snprintf(what, sizeof what, "%s: provider %s", rt->info.name,
             clippo_gemm_provider_name(forced[i]));
    int fuses = clippo_gemm_fuses_epilogue(rt, 0, 0, 197, 3072, 64, 1);
    if (forced[i] == CLIPPO_GEMM_ONEDNN) assert_int_equal(fuses, 1);
    if (forced[i] == CLIPPO_GEMM_KERNEL || forced[i] == CLIPPO_GEMM_CLBLAST ||
        forced[i] == CLIPPO_GEMM_HOSTBLAS)
      assert_int_equal(fuses, 0);
    run_all(rt, what, forced[i] != CLIPPO_GEMM_AUTO && forced[i] != CLIPPO_GEMM_ONEDNN);
  }
  rt->settings.gemm[0] = '\0';
  if (!clippo_gemm_provider_available(rt, CLIPPO_GEMM_ONEDNN)) return;
  /* a record asking oneDNN to write C in place for declared weights (declared=direct, as
   * `clippo tune` records where that is faster): the declared cases of 256 rows or fewer take
   * that path, each part's bias and GELU applied on its columns of C */
  temp_record r;
  temp_record_begin(rt, "record.txt",
                    "mat_nn_l onednn declared=direct\nmat_nn_s onednn declared=direct\n", &r);
  char direct[96];
  snprintf(direct, sizeof direct, "%s: declared=direct", rt->info.name);
  run_all(rt, direct, 0);
  temp_record_end(rt, &r);
  /* oneDNN failing inside its run, before the product (1) and in the epilogue after it (2):
   * queued on the device's thread (PoCL) the host BLAS and the plain loop finish the product,
   * else the next provider or the plain loop; the results stay right and the fallbacks are
   * counted */
  for (int at = 1; at <= 2; at++) {
    TEST_OK(clippo_gemm_inject_failure(rt, CLIPPO_GEMM_ONEDNN, at, &err), &err);
    unsigned long before = clippo_gemm_fallback_count(rt, NULL, 0);
    char what[96], last[1024];
    snprintf(what, sizeof what, "%s: oneDNN failing at launch %d", rt->info.name, at);
    run_all(rt, what, 0);
    unsigned long after = clippo_gemm_fallback_count(rt, last, sizeof last);
    print_message("[ fallback ] %s: %lu products; last: %s\n", what, after - before, last);
    assert_true(after > before);
    assert_non_null(strstr(last, "injected"));
    TEST_OK(clippo_gemm_inject_failure(rt, CLIPPO_GEMM_AUTO, 0, &err), &err);
  }
  const clippo_precision reduced[] = {CLIPPO_PRECISION_BF16, CLIPPO_PRECISION_INT8};
  for (size_t i = 0; i < 2; i++) {
    TEST_OK(clippo_rt_set_precision(rt, reduced[i], &err), &err);
    assert_int_equal(clippo_gemm_fuses_epilogue(rt, 0, 0, 197, 3072, 64, 1), 1);
    if (reduced[i] == CLIPPO_PRECISION_BF16 && !test_onednn_has_bf16()) {
      /* oneDNN has no bfloat16 matmul below AVX-512: the fused product is refused, naming it */
      clippo_tensor a, c, bias;
      int64_t sa[1] = {(int64_t)64 * 64}, sb[1] = {64};
      TEST_OK(clippo_tensor_alloc(rt, &a, CLIPPO_F32, 1, sa, &err), &err);
      TEST_OK(clippo_tensor_alloc(rt, &c, CLIPPO_F32, 1, sa, &err), &err);
      TEST_OK(clippo_tensor_alloc(rt, &bias, CLIPPO_F32, 1, sb, &err), &err);
      assert_int_equal(clippo_gemm_fused(rt, 0, 0, 48, 64, 64, 1.0f, &a, 64, &a, 64, 0.0f, &c, 64,
                                         &bias, CLIPPO_GEMM_ACT_GELU, NULL, &err),
                       CLIPPO_E_UNSUPPORTED);
      assert_non_null(strstr(err.msg, "no bfloat16 matmul on this CPU"));
      print_message("[ bf16     ] %s: %s\n", rt->info.name, err.msg);
      clippo_tensor_release(rt, &a);
      clippo_tensor_release(rt, &c);
      clippo_tensor_release(rt, &bias);
      TEST_OK(clippo_rt_set_precision(rt, CLIPPO_PRECISION_FP32, &err), &err);
      continue;
    }
    char what[96];
    snprintf(what, sizeof what, "%s: precision %s", rt->info.name,
             clippo_precision_name(reduced[i]));
    run_all(rt, what, 0);
    TEST_OK(clippo_rt_set_precision(rt, CLIPPO_PRECISION_FP32, &err), &err);
  }
}

static void test_fused(void **state) {
  (void)state;
  test_each_device(on_device, NULL);
}

/* Bad epilogues: a bias overlapping C, a bias past its buffer's end, an unknown activation. */
static void bad_on_device(clippo_rt *rt, void *user) {
  (void)user;
  clippo_error err;
  clippo_tensor a, c;
  int64_t sa[2] = {4, 4}, sc[1] = {4 * 4 + 2};
  TEST_OK(clippo_tensor_alloc(rt, &a, CLIPPO_F32, 2, sa, &err), &err);
  TEST_OK(clippo_tensor_alloc(rt, &c, CLIPPO_F32, 1, sc, &err), &err);
  int64_t one[1] = {1};
  clippo_tensor in_c = clippo_tensor_view(&c, 10, 1, one),
                past = clippo_tensor_view(&c, 16, 1, one);
  assert_int_equal(clippo_gemm_fused(rt, 0, 0, 4, 4, 4, 1.0f, &a, 4, &a, 4, 0.0f, &c, 4, &in_c,
                                     CLIPPO_GEMM_ACT_NONE, NULL, &err),
                   CLIPPO_E_ARG);
  assert_non_null(strstr(err.msg, "bias overlaps C"));
  clippo_tensor cv = clippo_tensor_view(&c, 0, 1, one);
  assert_int_equal(clippo_gemm_fused(rt, 0, 0, 4, 4, 4, 1.0f, &a, 4, &a, 4, 0.0f, &a, 4, &past,
                                     CLIPPO_GEMM_ACT_NONE, NULL, &err),
                   CLIPPO_E_SHAPE);
  assert_non_null(strstr(err.msg, "bias"));
  assert_int_equal(clippo_gemm_fused(rt, 0, 0, 4, 4, 4, 1.0f, &a, 4, &a, 4, 0.0f, &cv, 4, NULL,
                                     (clippo_gemm_act)7, NULL, &err),
                   CLIPPO_E_ARG);
  assert_non_null(strstr(err.msg, "activation"));
  clippo_tensor c_tail = clippo_tensor_view(&c, 2, 1, one);
  assert_int_equal(clippo_gemm_fused(rt, 0, 0, 4, 4, 4, 1.0f, &a, 4, &a, 4, 0.0f, &cv, 4, NULL,
                                     CLIPPO_GEMM_ACT_GELU, &c_tail, &err),
                   CLIPPO_E_ARG);
  assert_non_null(strstr(err.msg, "act_out overlaps"));
  clippo_tensor bias_ok = clippo_tensor_view(&c, 16, 1, one);
  assert_int_equal(clippo_gemm_fused(rt, 0, 0, 2, 2, 2, 1.0f, &a, 2, &a, 2, 0.0f, &cv, 2, &bias_ok,
                                     CLIPPO_GEMM_ACT_SOFTMAX, NULL, &err),
                   CLIPPO_E_ARG);
  assert_non_null(strstr(err.msg, "no softmax"));
  clippo_tensor_release(rt, &a);
  clippo_tensor_release(rt, &c);
}

static void test_bad(void **state) {
  (void)state;
  test_each_device(bad_on_device, NULL);
}

/* clippo_op_linear (fused where the provider does it) against clippo_gemm + the bias kernels,
 * with the default choice: the model's dense layers. */
static void linear_on_device(clippo_rt *rt, void *user) {
  (void)user;
  clippo_error err;
  test_rng rng;
  test_rng_seed(&rng, 99);
  const size_t rows = 197, k = 64, n = 3072;
  float *hx = malloc(rows * k * sizeof(float)), *hw = malloc(k * n * sizeof(float));
  float *hb = malloc(n * sizeof(float)), *hr = malloc(rows * n * sizeof(float));
  float *got = malloc(rows * n * sizeof(float)), *want = malloc(rows * n * sizeof(float));
  assert_true(hx && hw && hb && hr && got && want);
  test_fill_uniform(&rng, hx, rows * k, -1.0f, 1.0f);
  test_fill_uniform(&rng, hw, k * n, -0.3f, 0.3f);
  test_fill_uniform(&rng, hb, n, -1.0f, 1.0f);
  test_fill_uniform(&rng, hr, rows * n, -1.0f, 1.0f);
  int64_t sx[2] = {(int64_t)rows, (int64_t)k}, sw[2] = {(int64_t)k, (int64_t)n};
  int64_t sbias[1] = {(int64_t)n}, so[2] = {(int64_t)rows, (int64_t)n};
  clippo_tensor x, w, b, o;
  TEST_OK(clippo_tensor_alloc(rt, &x, CLIPPO_F32, 2, sx, &err), &err);
  TEST_OK(clippo_tensor_alloc(rt, &w, CLIPPO_F32, 2, sw, &err), &err);
  TEST_OK(clippo_tensor_alloc(rt, &b, CLIPPO_F32, 1, sbias, &err), &err);
  TEST_OK(clippo_tensor_alloc(rt, &o, CLIPPO_F32, 2, so, &err), &err);
  TEST_OK(clippo_tensor_write(rt, &x, hx, &err), &err);
  TEST_OK(clippo_tensor_write(rt, &w, hw, &err), &err);
  TEST_OK(clippo_tensor_write(rt, &b, hb, &err), &err);
  for (int gelu = 0; gelu < 2; gelu++) {
    float beta = gelu ? 0.0f : 1.0f;
    TEST_OK(clippo_tensor_write(rt, &o, hr, &err), &err);
    TEST_OK(clippo_gemm(rt, 0, 0, rows, n, k, 1.0f, &x, k, &w, n, beta, &o, n, &err), &err);
    TEST_OK(gelu ? clippo_op_bias_gelu(rt, &o, &b, &err) : clippo_op_bias_add(rt, &o, &b, &err),
            &err);
    TEST_OK(clippo_tensor_read(rt, &o, want, &err), &err);
    TEST_OK(clippo_tensor_write(rt, &o, hr, &err), &err);
    TEST_OK(clippo_op_linear(rt, &x, rows, k, &w, n, &b, gelu, beta, &o, &err), &err);
    TEST_OK(clippo_tensor_read(rt, &o, got, &err), &err);
    double worst = 0;
    for (size_t i = 0; i < rows * n; i++) {
      double e = fabs((double)got[i] - (double)want[i]) / (1.0 + fabs((double)want[i]));
      if (!(e <= worst)) worst = e;
    }
    if (!(worst <= TOL))
      fail_msg("%s: linear (gelu %d) differs from gemm + bias kernel by %.3g", rt->info.name, gelu,
               worst);
  }
  assert_int_equal(clippo_op_linear(rt, &x, rows, k, &w, n, &b, 1, 1.0f, &o, &err), CLIPPO_E_ARG);
  /* The training forward's form: u = x w kept (without b), h = gelu(u + b). */
  clippo_tensor h;
  float *got_h = malloc(rows * n * sizeof(float)), *want_h = malloc(rows * n * sizeof(float));
  assert_true(got_h && want_h);
  TEST_OK(clippo_tensor_alloc(rt, &h, CLIPPO_F32, 2, so, &err), &err);
  TEST_OK(clippo_gemm(rt, 0, 0, rows, n, k, 1.0f, &x, k, &w, n, 0.0f, &o, n, &err), &err);
  TEST_OK(clippo_tensor_read(rt, &o, want, &err), &err);
  TEST_OK(clippo_op_copy(rt, &o, &h, &err), &err);
  TEST_OK(clippo_op_bias_gelu(rt, &h, &b, &err), &err);
  TEST_OK(clippo_tensor_read(rt, &h, want_h, &err), &err);
  TEST_OK(clippo_tensor_write(rt, &o, hr, &err), &err);
  TEST_OK(clippo_tensor_write(rt, &h, hr, &err), &err);
  TEST_OK(clippo_op_linear_gelu_keep(rt, &x, rows, k, &w, n, &b, &o, &h, &err), &err);
  TEST_OK(clippo_tensor_read(rt, &o, got, &err), &err);
  TEST_OK(clippo_tensor_read(rt, &h, got_h, &err), &err);
  double worst_keep = 0;
  for (size_t i = 0; i < rows * n; i++) {
    double e = fabs((double)got[i] - (double)want[i]) / (1.0 + fabs((double)want[i]));
    double eh = fabs((double)got_h[i] - (double)want_h[i]) / (1.0 + fabs((double)want_h[i]));
    if (!(e <= worst_keep)) worst_keep = e;
    if (!(eh <= worst_keep)) worst_keep = eh;
  }
  if (!(worst_keep <= TOL))
    fail_msg("%s: linear_gelu_keep differs from gemm + copy + bias_gelu by %.3g", rt->info.name,
             worst_keep);
  clippo_tensor_release(rt, &h);
  free(got_h);
  free(want_h);
  clippo_tensor_release(rt, &x);
  clippo_tensor_release(rt, &w);
  clippo_tensor_release(rt, &b);
  clippo_tensor_release(rt, &o);
  free(hx);
  free(hw);
  free(hb);
  free(hr);
  free(got);
  free(want);
}

static void test_linear(void **state) {
  (void)state;
  test_each_device(linear_on_device, NULL);
}

/* gemm_bias_act_row, the host epilogues' row loop, against float64: GELU's tanh form on a grid of
 * -12..12 in steps of 1/512 (the range where its exp is not clamped), random rows with a bias
 * (out of place and in place), and values past the clamp, huge and special: |x| 20, 1e4, 1e30
 * (gelu within TOL of x above zero, of 0 below), +inf, NaN; the bias alone; a copy. */
static void test_bias_act_row(void **state) {
  (void)state;
  enum { GRID = 24 * 512 + 1, N = 1000 };
  static float x[GRID], y[GRID];
  for (int i = 0; i < GRID; i++) x[i] = -12.0f + (float)i / 512.0f;
  gemm_bias_act_row(y, x, NULL, GRID, CLIPPO_GEMM_ACT_GELU);
  double worst = 0;
  for (int i = 0; i < GRID; i++) {
    double want = gelu64((double)x[i]), e = fabs((double)y[i] - want) / (1.0 + fabs(want));
    if (!(e <= worst)) worst = e;
  }
  if (!(worst <= TOL)) fail_msg("gelu on the grid: error %.3g (tolerance %g)", worst, TOL);
  test_rng rng;
  test_rng_seed(&rng, 91);
  float row[N], bias[N], out[N], keep[N];
  test_fill_uniform(&rng, row, N, -8.0f, 8.0f);
  test_fill_uniform(&rng, bias, N, -2.0f, 2.0f);
  memcpy(keep, row, sizeof row);
  gemm_bias_act_row(out, row, bias, N, CLIPPO_GEMM_ACT_GELU);
  gemm_bias_act_row(row, row, bias, N, CLIPPO_GEMM_ACT_GELU); /* in place */
  for (int i = 0; i < N; i++) {
    double want = gelu64((double)keep[i] + (double)bias[i]);
    assert_true(fabs((double)out[i] - want) <= TOL * (1.0 + fabs(want)));
    assert_true(out[i] == row[i]);
  }
  const float big[] = {20.0f, -20.0f, 1e4f, -1e4f, 1e30f, -1e30f, INFINITY};
  gemm_bias_act_row(out, big, NULL, 7, CLIPPO_GEMM_ACT_GELU);
  for (int i = 0; i < 7; i++) {
    double want = big[i] > 0 ? (double)big[i] : 0.0;
    if (!((double)out[i] == want || fabs((double)out[i] - want) <= TOL * (1.0 + fabs(want))))
      fail_msg("gelu(%g) = %g, want %g", (double)big[i], (double)out[i], want);
  }
  const float nan_in[1] = {NAN};
  gemm_bias_act_row(out, nan_in, NULL, 1, CLIPPO_GEMM_ACT_GELU);
  assert_true(isnan(out[0]));
  gemm_bias_act_row(out, keep, bias, N, CLIPPO_GEMM_ACT_NONE);
  for (int i = 0; i < N; i++) assert_true(out[i] == keep[i] + bias[i]);
  gemm_bias_act_row(out, bias, NULL, N, CLIPPO_GEMM_ACT_NONE);
  assert_memory_equal(out, bias, sizeof bias);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_bias_act_row),
      cmocka_unit_test(test_fused),
      cmocka_unit_test(test_bad),
      cmocka_unit_test(test_linear),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
