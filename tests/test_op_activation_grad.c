/* GELU backward (kernels/activation_grad.cl) and the bias-add backward / column sums
 * (kernels/reduce.cl).
 * 1. Reference GELU derivative against central finite differences of clippo_ref_gelu1:
 *    relative L2 error <= 1e-7 (h = 1e-4, float64).
 * 2. Kernels (every device) against the references: gelu_grad (gelu_grad_keep: dx and h, with
 * and without a bias per column) within
 * 2e-6 relative (L2 and max; float tanh), column sums within 1e-5 for 1 to 100000 rows (one pass
 * and two stages), with accumulation (beta) and views. */
#include "test_op_common.h"

#include "clippo/ops_grad.h"

#define FD_TOL 1e-7
#define GELU_TOL 2e-6
#define SUM_TOL 1e-5

static void test_reference_fd(void **state) {
  (void)state;
  test_rng rng;
  test_rng_seed(&rng, 41);
  size_t n = 200;
  double num = 0, den = 0;
  for (size_t i = 0; i < n; i++) {
    double x = test_rng_uniform(&rng, -6.0f, 6.0f), h = 1e-4;
    double fd = (clippo_ref_gelu1(x + h) - clippo_ref_gelu1(x - h)) / (2 * h);
    double an = clippo_ref_gelu_deriv(x);
    num += (fd - an) * (fd - an);
    den += an * an;
  }
  double e = sqrt(num / den);
  print_message("gelu' reference vs finite differences: rel %.3g (tol %.0g)\n", e, FD_TOL);
  assert_true(e <= FD_TOL);
}

static void check_gelu_grad(clippo_rt *rt, void *user) {
  (void)user;
  clippo_error err;
  test_rng rng;
  test_rng_seed(&rng, 42);
  const size_t sizes[] = {1, 15, 16, 17, 1000, 196 * 3072 + 5};
  for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
    size_t n = sizes[si];
    float *u = op_normal(&rng, n, 0.0f, 2.5f), *dy = op_normal(&rng, n, 0.0f, 1.0f);
    double *want = op_doubles(n);
    clippo_ref_gelu_grad(u, dy, n, want);
    clippo_tensor tu = op_tensor1(rt, u, n), tdy = op_tensor1(rt, dy, n);
    clippo_tensor tdx = op_tensor1(rt, NULL, n);
    TEST_OK(clippo_op_gelu_grad(rt, &tu, &tdy, &tdx, &err), &err);
    float *got = op_read(rt, &tdx);
    char what[64];
    snprintf(what, sizeof what, "gelu_grad n=%zu", n);
    op_expect(what, got, want, n, GELU_TOL);
    free(got);
    /* in place over dy */
    TEST_OK(clippo_op_gelu_grad(rt, &tu, &tdy, &tdy, &err), &err);
    got = op_read(rt, &tdy);
    snprintf(what, sizeof what, "gelu_grad in place n=%zu", n);
    op_expect(what, got, want, n, GELU_TOL);
    free(got);
    assert_int_equal(clippo_op_gelu_grad(rt, &tu, &tdy, &tu, &err), CLIPPO_E_ARG);
    /* keeping gelu(u) too: dx as above (from a fresh dy, in place), h against the forward's
     * reference */
    double *want_h = op_doubles(n);
    clippo_ref_gelu(u, n, want_h);
    clippo_tensor th = op_tensor1(rt, NULL, n), tdy2 = op_tensor1(rt, dy, n);
    TEST_OK(clippo_op_gelu_grad_keep(rt, &tu, NULL, &tdy2, &tdy2, &th, &err), &err);
    got = op_read(rt, &tdy2);
    snprintf(what, sizeof what, "gelu_grad_keep dx n=%zu", n);
    op_expect(what, got, want, n, GELU_TOL);
    free(got);
    got = op_read(rt, &th);
    snprintf(what, sizeof what, "gelu_grad_keep h n=%zu", n);
    op_expect(what, got, want_h, n, GELU_TOL);
    free(got);
    assert_int_equal(clippo_op_gelu_grad_keep(rt, &tu, NULL, &tdy2, &tdx, &tu, &err), CLIPPO_E_ARG);
    assert_int_equal(clippo_op_gelu_grad_keep(rt, &tu, NULL, &tdy2, &tdx, &tdy2, &err),
                     CLIPPO_E_ARG);
    clippo_tensor_release(rt, &th);
    clippo_tensor_release(rt, &tdy2);
    free(want_h);
    clippo_tensor_release(rt, &tu);
    clippo_tensor_release(rt, &tdy);
    clippo_tensor_release(rt, &tdx);
    free(u), free(dy), free(want);
  }
}

/* gelu_grad_keep at u + b[col]: rows of widths around the vector width and a training forward's
 * (the kept pre-activation has no bias; the backward adds it) against the references at the sum
 * (formed in float, as the kernel does). */
static void check_gelu_grad_bias(clippo_rt *rt, void *user) {
  (void)user;
  clippo_error err;
  test_rng rng;
  test_rng_seed(&rng, 44);
  const size_t shapes[][2] = {{1, 1}, {3, 15}, {5, 16}, {4, 17}, {7, 100}, {512, 512}};
  for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
    size_t rows = shapes[si][0], w = shapes[si][1], n = rows * w;
    float *u = op_normal(&rng, n, 0.0f, 2.5f), *dy = op_normal(&rng, n, 0.0f, 1.0f);
    float *b = op_normal(&rng, w, 0.0f, 1.0f), *x = malloc(n * sizeof(float));
    assert_non_null(x);
    for (size_t i = 0; i < n; i++) x[i] = u[i] + b[i % w];
    double *want = op_doubles(n), *want_h = op_doubles(n);
    clippo_ref_gelu_grad(x, dy, n, want);
    clippo_ref_gelu(x, n, want_h);
    clippo_tensor tu = op_tensor2(rt, u, rows, w), tb = op_tensor1(rt, b, w);
    clippo_tensor tdy = op_tensor2(rt, dy, rows, w), th = op_tensor2(rt, NULL, rows, w);
    TEST_OK(clippo_op_gelu_grad_keep(rt, &tu, &tb, &tdy, &tdy, &th, &err), &err);
    char what[64];
    float *got = op_read(rt, &tdy);
    snprintf(what, sizeof what, "gelu_grad_keep + bias dx %zux%zu", rows, w);
    op_expect(what, got, want, n, GELU_TOL);
    free(got);
    got = op_read(rt, &th);
    snprintf(what, sizeof what, "gelu_grad_keep + bias h %zux%zu", rows, w);
    op_expect(what, got, want_h, n, GELU_TOL);
    free(got);
    /* a bias of the wrong width, or an h over u, is refused */
    clippo_tensor tb2 = op_tensor1(rt, NULL, w + 1);
    assert_int_equal(clippo_op_gelu_grad_keep(rt, &tu, &tb2, &tdy, &tdy, &th, &err),
                     CLIPPO_E_SHAPE);
    assert_int_equal(clippo_op_gelu_grad_keep(rt, &tu, &tb, &tdy, &tdy, &tu, &err), CLIPPO_E_ARG);
    clippo_tensor_release(rt, &tb2);
    clippo_tensor_release(rt, &tu);
    clippo_tensor_release(rt, &tb);
    clippo_tensor_release(rt, &tdy);
    clippo_tensor_release(rt, &th);
    free(u), free(dy), free(b), free(x), free(want), free(want_h);
  }
}

static void check_colsum(clippo_rt *rt, void *user) {
  (void)user;
  clippo_error err;
  test_rng rng;
  test_rng_seed(&rng, 43);
  const size_t shapes[][2] = {{1, 5},     {7, 64},      {512, 33},  {513, 768},
                              {3000, 17}, {100000, 64}, {100000, 3}};
  for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
    size_t rows = shapes[si][0], w = shapes[si][1], n = rows * w;
    float *x = op_normal(&rng, n, 0.3f, 1.0f), *b0 = op_uniform(&rng, w, -1.0f, 1.0f);
    double *want = op_doubles(w);
    clippo_ref_colsum(x, rows, w, want);
    clippo_tensor tx = op_tensor2(rt, x, rows, w), to = op_tensor1(rt, b0, w);
    int64_t wsh[1] = {(int64_t)(clippo_colsum_workspace_floats(rows, w) + 1)};
    clippo_tensor tws = op_tensor(rt, NULL, 1, wsh);
    TEST_OK(clippo_op_colsum(rt, &tx, 0.0f, &to, &tws, &err), &err);
    float *got = op_read(rt, &to);
    char what[64];
    snprintf(what, sizeof what, "colsum %zux%zu", rows, w);
    op_expect(what, got, want, w, SUM_TOL);
    free(got);
    /* bias gradient: db += colsum(dy), twice, no workspace */
    TEST_OK(clippo_op_bias_grad(rt, &tx, &to, NULL, &err), &err);
    TEST_OK(clippo_op_bias_grad(rt, &tx, &to, NULL, &err), &err);
    got = op_read(rt, &to);
    for (size_t i = 0; i < w; i++) want[i] *= 3.0;
    snprintf(what, sizeof what, "colsum + 2 bias_grad %zux%zu", rows, w);
    op_expect(what, got, want, w, SUM_TOL);
    free(got);
    clippo_tensor_release(rt, &tx);
    clippo_tensor_release(rt, &to);
    clippo_tensor_release(rt, &tws);
    free(x), free(b0), free(want);
  }
  /* a (n, t * w) view summing position-embedding gradients, at an offset; beta 0.5 */
  size_t n = 6, tw = (size_t)4 * 10, off = 7;
  float *buf = op_normal(&rng, n * tw + off, 0.0f, 1.0f), *o0 = op_uniform(&rng, tw, -1.f, 1.f);
  double *want = op_doubles(tw);
  clippo_ref_colsum(buf + off, n, tw, want);
  for (size_t i = 0; i < tw; i++) want[i] += 0.5 * o0[i];
  clippo_tensor whole = op_tensor1(rt, buf, n * tw + off), to = op_tensor1(rt, o0, tw);
  int64_t shape[2] = {(int64_t)n, (int64_t)tw};
  clippo_tensor v = clippo_tensor_view(&whole, off, 2, shape);
  TEST_OK(clippo_op_colsum(rt, &v, 0.5f, &to, NULL, &err), &err);
  float *got = op_read(rt, &to);
  op_expect("colsum view beta 0.5", got, want, tw, SUM_TOL);
  /* errors: wrong out size, too small a workspace */
  clippo_tensor bad = op_tensor1(rt, NULL, tw - 1);
  assert_int_equal(clippo_op_colsum(rt, &v, 0.0f, &bad, NULL, &err), CLIPPO_E_SHAPE);
  clippo_tensor big = op_tensor2(rt, NULL, 5000, 8), o8 = op_tensor1(rt, NULL, 8);
  clippo_tensor small = op_tensor1(rt, NULL, 4);
  assert_int_equal(clippo_op_colsum(rt, &big, 0.0f, &o8, &small, &err), CLIPPO_E_SHAPE);
  assert_non_null(strstr(err.msg, "workspace"));
  clippo_tensor *all[] = {&whole, &to, &bad, &big, &o8, &small};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) clippo_tensor_release(rt, all[i]);
  free(buf), free(o0), free(want), free(got);
}

static void run_colsum(clippo_rt *rt, void *u) { op_each_variant(rt, check_colsum, u); }

static void test_gelu_grad(void **state) {
  (void)state;
  test_each_device(check_gelu_grad, NULL);
}
static void test_gelu_grad_bias(void **state) {
  (void)state;
  test_each_device(check_gelu_grad_bias, NULL);
}
static void test_colsum(void **state) {
  (void)state;
  test_each_device(run_colsum, NULL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_reference_fd),
      cmocka_unit_test(test_gelu_grad),
      cmocka_unit_test(test_gelu_grad_bias),
      cmocka_unit_test(test_colsum),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
