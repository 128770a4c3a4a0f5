/* Softmax backward (kernels/softmax_grad.cl).
 * 1. The reference backward against central finite differences of the reference forward
 *    (clippo_ref_softmax, with a scale): relative L2 error <= 1e-6.
 * 2. The kernels (both variants, every device) against the reference: within 1e-5 relative (L2
 *    and max), in place and out of place, row lengths 1..1000 and the attention shapes. */
#include "test_op_common.h"

#include "clippo/ops_grad.h"

#define FD_TOL 1e-6
#define SMG_TOL 1e-5

static double sm_loss(const float *x, const float *g, size_t rows, size_t len, double scale,
                      double *y) {
  clippo_ref_softmax(x, rows, len, scale, y);
  double l = 0;
  for (size_t i = 0; i < rows * len; i++) l += (double)g[i] * y[i];
  return l;
}

static void test_reference_fd(void **state) {
  (void)state;
  test_rng rng;
  test_rng_seed(&rng, 51);
  const size_t rows = 4, len = 9, n = rows * len;
  const double scale = 0.7;
  float *x = op_normal(&rng, n, 0.0f, 2.0f), *g = op_normal(&rng, n, 0.0f, 1.0f);
  double *y = op_doubles(n), *an = op_doubles(n), *fd = op_doubles(n);
  float *p = malloc(n * sizeof *p);
  assert_non_null(p);
  clippo_ref_softmax(x, rows, len, scale, y);
  for (size_t i = 0; i < n; i++) p[i] = (float)y[i];
  /* the reference takes float p: use the float-rounded p on both sides by comparing with the
   * gradient evaluated at the exact p (float rounding of p adds ~1e-7 relative) */
  clippo_ref_softmax_grad(p, g, rows, len, scale, an);
  for (size_t i = 0; i < n; i++) {
    float x0 = x[i], h = 1e-3f, xp = x0 + h, xm = x0 - h;
    x[i] = xp;
    double lp = sm_loss(x, g, rows, len, scale, y);
    x[i] = xm;
    double lm = sm_loss(x, g, rows, len, scale, y);
    x[i] = x0;
    fd[i] = (lp - lm) / ((double)xp - (double)xm);
  }
  double num = 0, den = 0;
  for (size_t i = 0; i < n; i++) num += (an[i] - fd[i]) * (an[i] - fd[i]), den += fd[i] * fd[i];
  double e = sqrt(num / den);
  print_message("softmax_grad reference vs finite differences: rel %.3g (tol %.0g)\n", e, FD_TOL);
  assert_true(e <= FD_TOL);
  free(x), free(g), free(y), free(an), free(fd), free(p);
}

static void check_softmax_grad(clippo_rt *rt, void *user) {
  (void)user;
  clippo_error err;
  test_rng rng;
  test_rng_seed(&rng, 52);
  const size_t shapes[][2] = {{5, 1},     {7, 3},  {33, 16}, {(size_t)4 * 196, 196},
                              {12, 1000}, {48, 17}};
  for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
    size_t rows = shapes[si][0], len = shapes[si][1], n = rows * len;
    float *x = op_normal(&rng, n, 0.0f, 2.0f), *dp = op_normal(&rng, n, 0.0f, 1.0f);
    double *y = op_doubles(n), *want = op_doubles(n);
    clippo_ref_softmax(x, rows, len, 1.0, y);
    float *p = malloc(n * sizeof *p);
    assert_non_null(p);
    for (size_t i = 0; i < n; i++) p[i] = (float)y[i];
    clippo_ref_softmax_grad(p, dp, rows, len, 0.125, want);
    clippo_tensor tp = op_tensor2(rt, p, rows, len), tdp = op_tensor2(rt, dp, rows, len);
    clippo_tensor tdx = op_tensor2(rt, NULL, rows, len);
    TEST_OK(clippo_op_softmax_grad(rt, &tp, &tdp, 0.125f, &tdx, &err), &err);
    float *got = op_read(rt, &tdx);
    char what[64];
    snprintf(what, sizeof what, "softmax_grad %zux%zu", rows, len);
    op_expect(what, got, want, n, SMG_TOL);
    free(got);
    TEST_OK(clippo_op_softmax_grad(rt, &tp, &tdp, 0.125f, &tdp, &err), &err);
    got = op_read(rt, &tdp);
    snprintf(what, sizeof what, "softmax_grad in place %zux%zu", rows, len);
    op_expect(what, got, want, n, SMG_TOL);
    free(got);
    assert_int_equal(clippo_op_softmax_grad(rt, &tp, &tdp, 1.0f, &tp, &err), CLIPPO_E_ARG);
    clippo_tensor_release(rt, &tp);
    clippo_tensor_release(rt, &tdp);
    clippo_tensor_release(rt, &tdx);
    free(x), free(dp), free(y), free(want), free(p);
  }
}

static void run_grad(clippo_rt *rt, void *u) { op_each_variant(rt, check_softmax_grad, u); }

static void test_softmax_grad(void **state) {
  (void)state;
  test_each_device(run_grad, NULL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_reference_fd),
      cmocka_unit_test(test_softmax_grad),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
