/* L2 normalisation and the mean over tokens (kernels/normalize.cl) against the float64
 * reference, both variants, every device. Tolerance 1e-6 relative (L2 and max). */
#include "test_op_common.h"

#define NORM_TOL 1e-6

static void check_l2(clippo_rt *rt, void *user) {
  (void)user;
  clippo_error err;
  test_rng rng;
  test_rng_seed(&rng, 61);
  size_t cases[][2] = {{13, 768}, {8, 768}, {7, 100}, {3, 5}, {17, 64}};
  for (size_t i = 0; i < 5; i++) {
    size_t rows = cases[i][0], w = cases[i][1], n = rows * w;
    float *z = op_normal(&rng, n, 0.1f, 0.7f);
    double *want = op_doubles(n);
    clippo_ref_l2normalize(z, rows, w, 1e-8, want);
    clippo_tensor tz = op_tensor2(rt, z, rows, w), ty = op_tensor2(rt, NULL, rows, w);
    TEST_OK(clippo_op_l2normalize(rt, &tz, 1e-8f, &ty, &err), &err);
    float *got = op_read(rt, &ty);
    char what[64];
    snprintf(what, sizeof what, "l2normalize %zux%zu", rows, w);
    op_expect(what, got, want, n, NORM_TOL);
    free(got);
    TEST_OK(clippo_op_l2normalize(rt, &tz, 1e-8f, &tz, &err), &err);
    got = op_read(rt, &tz);
    snprintf(what, sizeof what, "l2normalize in place %zux%zu", rows, w);
    op_expect(what, got, want, n, NORM_TOL);
    free(got), free(z), free(want);
    clippo_tensor_release(rt, &tz);
    clippo_tensor_release(rt, &ty);
  }
  /* eps outside the sqrt: a tiny vector keeps a norm < 1 */
  float tiny[4] = {1e-9f, -2e-9f, 0.5e-9f, 1e-9f};
  double want[4];
  clippo_ref_l2normalize(tiny, 1, 4, 1e-8, want);
  clippo_tensor tz = op_tensor2(rt, tiny, 1, 4);
  TEST_OK(clippo_op_l2normalize(rt, &tz, 1e-8f, &tz, &err), &err);
  float *got = op_read(rt, &tz);
  op_expect("l2normalize eps outside sqrt", got, want, 4, NORM_TOL);
  assert_true(fabs(got[1] - (-2e-9 / (sqrt(6.25e-18) + 1e-8))) < 1e-6); /* -0.16, not -2e-5 */
  free(got);
  clippo_tensor_release(rt, &tz);
}

static void check_mean(clippo_rt *rt, void *user) {
  (void)user;
  clippo_error err;
  test_rng rng;
  test_rng_seed(&rng, 62);
  size_t cases[][3] = {{3, 196, 768}, {2, 17, 100}, {4, 1, 64}};
  for (size_t i = 0; i < 3; i++) {
    size_t n = cases[i][0], t = cases[i][1], w = cases[i][2];
    float *x = op_normal(&rng, n * t * w, 0.5f, 2.0f);
    double *want = op_doubles(n * w);
    clippo_ref_mean_tokens(x, n, t, w, want);
    int64_t xshape[3] = {(int64_t)n, (int64_t)t, (int64_t)w};
    clippo_tensor tx = op_tensor(rt, x, 3, xshape), ty = op_tensor2(rt, NULL, n, w);
    TEST_OK(clippo_op_mean_tokens(rt, &tx, &ty, &err), &err);
    float *got = op_read(rt, &ty);
    char what[64];
    snprintf(what, sizeof what, "mean_tokens n%zu t%zu w%zu", n, t, w);
    op_expect(what, got, want, n * w, NORM_TOL);
    free(got), free(x), free(want);
    clippo_tensor_release(rt, &tx);
    clippo_tensor_release(rt, &ty);
  }
}

static void run_l2(clippo_rt *rt, void *u) { op_each_variant(rt, check_l2, u); }

static void test_l2normalize(void **state) {
  (void)state;
  test_each_device(run_l2, NULL);
}
static void test_mean_tokens(void **state) {
  (void)state;
  test_each_device(check_mean, NULL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_l2normalize),
      cmocka_unit_test(test_mean_tokens),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
