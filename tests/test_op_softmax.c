/* Softmax kernels (kernels/softmax.cl) against the float64 reference, both variants, every
 * device. Tolerance 1e-5 relative (L2 and max). Logits spread like attention logits (sd 3,
 * offsets up to +-40 so that the max subtraction matters). */
#include "test_op_common.h"

#define SM_TOL 1e-5

typedef struct sm_case {
  size_t rows, len;
  float scale;
} sm_case;

/* rows = n * heads * tq for self-attention (T = 196, 17) and the MAP head (tq = 1); len 1 and
 * odd lengths exercise the tails. */
static const sm_case cases[] = {{(size_t)2 * 3 * 196, 196, 1.0f},
                                {(size_t)2 * 12 * 17, 17, 0.125f},
                                {13, 196, 1.0f},
                                {5, 1, 1.0f},
                                {7, 100, 2.5f},
                                {3, 1000, 1.0f}};

static void check_softmax(clippo_rt *rt, void *user) {
  (void)user;
  clippo_error err;
  test_rng rng;
  test_rng_seed(&rng, 21);
  for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
    size_t rows = cases[ci].rows, len = cases[ci].len, n = rows * len;
    float *x = op_normal(&rng, n, 0.0f, 3.0f);
    for (size_t r = 0; r < rows; r++) {
      float off = test_rng_uniform(&rng, -40.0f, 40.0f);
      for (size_t c = 0; c < len; c++) x[r * len + c] += off;
    }
    double *want = op_doubles(n);
    clippo_ref_softmax(x, rows, len, cases[ci].scale, want);
    clippo_tensor tx = op_tensor2(rt, x, rows, len);
    TEST_OK(clippo_op_softmax(rt, &tx, cases[ci].scale, &err), &err);
    float *got = op_read(rt, &tx);
    char what[96];
    snprintf(what, sizeof what, "softmax %zux%zu scale %g", rows, len, (double)cases[ci].scale);
    op_expect(what, got, want, n, SM_TOL);
    /* rows sum to 1 */
    for (size_t r = 0; r < rows; r++) {
      double s = 0;
      for (size_t c = 0; c < len; c++) s += got[r * len + c];
      assert_true(fabs(s - 1.0) < 1e-5);
    }
    free(got);
    clippo_tensor_release(rt, &tx);
    free(x), free(want);
  }
}

/* Large logits without a max subtraction would overflow exp. */
static void check_stable(clippo_rt *rt, void *user) {
  (void)user;
  clippo_error err;
  size_t len = 196;
  float x[196];
  for (size_t c = 0; c < len; c++) x[c] = 80.0f + (float)(c % 7);
  double want[196];
  clippo_ref_softmax(x, 1, len, 2.0, want);
  clippo_tensor tx = op_tensor2(rt, x, 1, len);
  TEST_OK(clippo_op_softmax(rt, &tx, 2.0f, &err), &err);
  float *got = op_read(rt, &tx);
  op_expect("softmax large logits", got, want, len, SM_TOL);
  free(got);
  clippo_tensor_release(rt, &tx);
}

static void run_softmax(clippo_rt *rt, void *u) { op_each_variant(rt, check_softmax, u); }
static void run_stable(clippo_rt *rt, void *u) { op_each_variant(rt, check_stable, u); }

static void test_softmax(void **state) {
  (void)state;
  test_each_device(run_softmax, NULL);
}
static void test_softmax_stable(void **state) {
  (void)state;
  test_each_device(run_stable, NULL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_softmax),
      cmocka_unit_test(test_softmax_stable),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
