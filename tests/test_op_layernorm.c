/* LayerNorm kernels (kernels/layernorm.cl; plain, after a residual add, after a bias and a
 * residual add) against the float64 reference, both variants, every device. Tolerance: 1e-5
 * relative (L2 and max) — inputs have a non-zero row mean and a spread like ViT activations, so a
 * one-pass variance in float would fail it. */
#include "test_op_common.h"

#define LN_TOL 1e-5

typedef struct ln_case {
  size_t rows, w;
} ln_case;

/* Awkward row counts (not multiples of the local sizes), widths 64 and 768 and odd ones. */
static const ln_case cases[] = {{13, 64}, {37, 768}, {196, 768}, {17, 768}, {5, 100}, {3, 7}};

static void check_layernorm(clippo_rt *rt, void *user) {
  (void)user;
  clippo_error err;
  test_rng rng;
  test_rng_seed(&rng, 11);
  for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
    size_t rows = cases[ci].rows, w = cases[ci].w, n = rows * w;
    float *x = op_normal(&rng, n, 0.0f, 1.0f);
    /* per-row offset and spread: mean up to +-8, std 0.5..3 */
    for (size_t r = 0; r < rows; r++) {
      float off = test_rng_uniform(&rng, -8.0f, 8.0f), sd = test_rng_uniform(&rng, 0.5f, 3.0f);
      for (size_t c = 0; c < w; c++) x[r * w + c] = off + sd * x[r * w + c];
    }
    float *scale = op_uniform(&rng, w, 0.5f, 1.5f), *bias = op_uniform(&rng, w, -0.5f, 0.5f);
    double *want = op_doubles(n);
    clippo_ref_layernorm(x, scale, bias, rows, w, 1e-6, want);
    clippo_tensor tx = op_tensor2(rt, x, rows, w), ty = op_tensor2(rt, NULL, rows, w);
    clippo_tensor ts = op_tensor1(rt, scale, w), tb = op_tensor1(rt, bias, w);
    TEST_OK(clippo_op_layernorm(rt, &tx, &ts, &tb, 1e-6f, &ty, &err), &err);
    float *got = op_read(rt, &ty);
    char what[96];
    snprintf(what, sizeof what, "layernorm %zux%zu", rows, w);
    op_expect(what, got, want, n, LN_TOL);
    free(got);
    /* in place */
    TEST_OK(clippo_op_layernorm(rt, &tx, &ts, &tb, 1e-6f, &tx, &err), &err);
    got = op_read(rt, &tx);
    snprintf(what, sizeof what, "layernorm in place %zux%zu", rows, w);
    op_expect(what, got, want, n, LN_TOL);
    free(got);
    clippo_tensor_release(rt, &tx);
    clippo_tensor_release(rt, &ty);
    clippo_tensor_release(rt, &ts);
    clippo_tensor_release(rt, &tb);
    free(x), free(scale), free(bias), free(want);
  }
}

static void check_add_layernorm(clippo_rt *rt, void *user) {
  (void)user;
  clippo_error err;
  test_rng rng;
  test_rng_seed(&rng, 12);
  for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
    size_t rows = cases[ci].rows, w = cases[ci].w, n = rows * w;
    float *x = op_normal(&rng, n, 1.0f, 3.0f), *r = op_normal(&rng, n, -0.5f, 1.0f);
    float *scale = op_uniform(&rng, w, 0.5f, 1.5f), *bias = op_uniform(&rng, w, -0.5f, 0.5f);
    double *want = op_doubles(n), *sum = op_doubles(n);
    clippo_ref_add_layernorm(x, r, scale, bias, rows, w, 1e-6, sum, want);
    clippo_tensor tx = op_tensor2(rt, x, rows, w), tr = op_tensor2(rt, r, rows, w);
    clippo_tensor ty = op_tensor2(rt, NULL, rows, w);
    clippo_tensor ts = op_tensor1(rt, scale, w), tb = op_tensor1(rt, bias, w);
    TEST_OK(clippo_op_add_layernorm(rt, &tx, &tr, &ts, &tb, 1e-6f, &ty, &err), &err);
    float *got = op_read(rt, &ty), *gsum = op_read(rt, &tx);
    char what[96];
    snprintf(what, sizeof what, "add_layernorm y %zux%zu", rows, w);
    op_expect(what, got, want, n, LN_TOL);
    snprintf(what, sizeof what, "add_layernorm x+r %zux%zu", rows, w);
    op_expect(what, gsum, sum, n, 1e-7);
    /* y overlapping x is refused */
    assert_int_equal(clippo_op_add_layernorm(rt, &tx, &tr, &ts, &tb, 1e-6f, &tx, &err),
                     CLIPPO_E_ARG);
    free(got), free(gsum);
    clippo_tensor_release(rt, &tx);
    clippo_tensor_release(rt, &tr);
    clippo_tensor_release(rt, &ty);
    clippo_tensor_release(rt, &ts);
    clippo_tensor_release(rt, &tb);
    free(x), free(r), free(scale), free(bias), free(want), free(sum);
  }
}

/* x = (x + r) + xb[col] (the product, its residual, its bias), then LayerNorm: against the
 * reference of add_layernorm at x + r formed in float first, as the kernel adds, and xb. */
static void check_add_bias_layernorm(clippo_rt *rt, void *user) {
  (void)user;
  clippo_error err;
  test_rng rng;
  test_rng_seed(&rng, 14);
  for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
    size_t rows = cases[ci].rows, w = cases[ci].w, n = rows * w;
    float *x = op_normal(&rng, n, 1.0f, 3.0f), *r = op_normal(&rng, n, -0.5f, 1.0f);
    float *xb = op_normal(&rng, w, 0.3f, 1.0f), *xpb = malloc(n * sizeof(float)); /* x + r */
    float *scale = op_uniform(&rng, w, 0.5f, 1.5f), *bias = op_uniform(&rng, w, -0.5f, 0.5f);
    assert_non_null(xpb);
    float *xbr = malloc(n * sizeof(float)); /* xb broadcast over the rows */
    assert_non_null(xbr);
    for (size_t i = 0; i < n; i++) xpb[i] = x[i] + r[i], xbr[i] = xb[i % w];
    double *want = op_doubles(n), *sum = op_doubles(n);
    clippo_ref_add_layernorm(xpb, xbr, scale, bias, rows, w, 1e-6, sum, want);
    clippo_tensor tx = op_tensor2(rt, x, rows, w), tr = op_tensor2(rt, r, rows, w);
    clippo_tensor ty = op_tensor2(rt, NULL, rows, w), txb = op_tensor1(rt, xb, w);
    clippo_tensor ts = op_tensor1(rt, scale, w), tb = op_tensor1(rt, bias, w);
    TEST_OK(clippo_op_add_bias_layernorm(rt, &tx, &txb, &tr, &ts, &tb, 1e-6f, &ty, &err), &err);
    float *got = op_read(rt, &ty), *gsum = op_read(rt, &tx);
    char what[96];
    snprintf(what, sizeof what, "add_bias_layernorm y %zux%zu", rows, w);
    op_expect(what, got, want, n, LN_TOL);
    snprintf(what, sizeof what, "add_bias_layernorm x+r+xb %zux%zu", rows, w);
    op_expect(what, gsum, sum, n, 1e-7);
    /* a bias of the wrong width, or over y, is refused */
    clippo_tensor tb2 = op_tensor1(rt, NULL, w + 1);
    assert_int_equal(clippo_op_add_bias_layernorm(rt, &tx, &tb2, &tr, &ts, &tb, 1e-6f, &ty, &err),
                     CLIPPO_E_SHAPE);
    int64_t one[1] = {(int64_t)w};
    clippo_tensor yb = clippo_tensor_view(&ty, 0, 1, one);
    assert_int_equal(clippo_op_add_bias_layernorm(rt, &tx, &yb, &tr, &ts, &tb, 1e-6f, &ty, &err),
                     CLIPPO_E_ARG);
    free(got), free(gsum);
    clippo_tensor_release(rt, &tb2);
    clippo_tensor_release(rt, &tx);
    clippo_tensor_release(rt, &tr);
    clippo_tensor_release(rt, &ty);
    clippo_tensor_release(rt, &txb);
    clippo_tensor_release(rt, &ts);
    clippo_tensor_release(rt, &tb);
    free(x), free(r), free(xb), free(xpb), free(xbr), free(scale), free(bias), free(want),
        free(sum);
  }
}

/* A view at an odd element offset, rows of 768 (what the model's views look like). */
static void check_view(clippo_rt *rt, void *user) {
  (void)user;
  clippo_error err;
  test_rng rng;
  test_rng_seed(&rng, 13);
  size_t rows = 9, w = 768, n = rows * w, off = 5;
  float *buf = op_normal(&rng, n + off + 3, 0.3f, 2.0f);
  float *scale = op_uniform(&rng, w, 0.5f, 1.5f), *bias = op_uniform(&rng, w, -0.5f, 0.5f);
  double *want = op_doubles(n);
  clippo_ref_layernorm(buf + off, scale, bias, rows, w, 1e-6, want);
  clippo_tensor whole = op_tensor1(rt, buf, n + off + 3);
  int64_t shape[2] = {(int64_t)rows, (int64_t)w};
  clippo_tensor v = clippo_tensor_view(&whole, off, 2, shape);
  clippo_tensor ts = op_tensor1(rt, scale, w), tb = op_tensor1(rt, bias, w);
  TEST_OK(clippo_op_layernorm(rt, &v, &ts, &tb, 1e-6f, &v, &err), &err);
  float *got = op_read(rt, &whole);
  op_expect("layernorm view at offset 5", got + off, want, n, LN_TOL);
  assert_true(got[0] == buf[0] && got[n + off + 2] == buf[n + off + 2]);
  free(got);
  clippo_tensor_release(rt, &whole);
  clippo_tensor_release(rt, &ts);
  clippo_tensor_release(rt, &tb);
  free(buf), free(scale), free(bias), free(want);
}

static void check_shapes(clippo_rt *rt, void *user) {
  (void)user;
  clippo_error err;
  clippo_tensor x = op_tensor2(rt, NULL, 4, 64), y = op_tensor2(rt, NULL, 4, 64);
  clippo_tensor s = op_tensor1(rt, NULL, 63), b = op_tensor1(rt, NULL, 64);
  assert_int_equal(clippo_op_layernorm(rt, &x, &s, &b, 1e-6f, &y, &err), CLIPPO_E_SHAPE);
  assert_non_null(strstr(err.msg, "scale"));
  clippo_tensor_release(rt, &x);
  clippo_tensor_release(rt, &y);
  clippo_tensor_release(rt, &s);
  clippo_tensor_release(rt, &b);
}

static void run_layernorm(clippo_rt *rt, void *u) { op_each_variant(rt, check_layernorm, u); }
static void run_add_bias_layernorm(clippo_rt *rt, void *u) {
  op_each_variant(rt, check_add_bias_layernorm, u);
}
static void run_add_layernorm(clippo_rt *rt, void *u) {
  op_each_variant(rt, check_add_layernorm, u);
}
static void run_view(clippo_rt *rt, void *u) { op_each_variant(rt, check_view, u); }

static void test_layernorm(void **state) {
  (void)state;
  test_each_device(run_layernorm, NULL);
}
static void test_add_layernorm(void **state) {
  (void)state;
  test_each_device(run_add_layernorm, NULL);
}
static void test_add_bias_layernorm(void **state) {
  (void)state;
  test_each_device(run_add_bias_layernorm, NULL);
}
static void test_layernorm_view(void **state) {
  (void)state;
  test_each_device(run_view, NULL);
}
static void test_layernorm_shapes(void **state) {
  (void)state;
  test_each_device(check_shapes, NULL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_layernorm),          cmocka_unit_test(test_add_layernorm),
      cmocka_unit_test(test_add_bias_layernorm), cmocka_unit_test(test_layernorm_view),
      cmocka_unit_test(test_layernorm_shapes),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
