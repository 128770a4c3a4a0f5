/* GELU, bias + GELU (in place and into another tensor) and bias add (kernels/activation.cl)
 * against the float64 reference on every device. Tolerance: 1e-6 relative (L2 and max) for GELU
 * (a few ulp of exp and division), 1e-7 for the bias add (one rounding). */
#include "test_op_common.h"

#define GELU_TOL 1e-6
#define ADD_TOL 1e-7

typedef struct act_case {
  size_t rows, w;
} act_case;

/* MLP hidden widths (3072), model widths, odd widths for the vector tails. */
static const act_case cases[] = {{37, 3072}, {17, 768}, {13, 64}, {5, 100}, {3, 7}};

static void check_gelu(clippo_rt *rt, void *user) {
  (void)user;
  clippo_error err;
  test_rng rng;
  test_rng_seed(&rng, 31);
  size_t sizes[] = {1000 * 16 + 7, 3, (size_t)196 * 64};
  for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
    size_t n = sizes[i];
    float *x = op_uniform(&rng, n, -6.0f, 6.0f);
    double *want = op_doubles(n);
    clippo_ref_gelu(x, n, want);
    clippo_tensor t = op_tensor1(rt, x, n);
    TEST_OK(clippo_op_gelu(rt, &t, &err), &err);
    float *got = op_read(rt, &t);
    char what[64];
    snprintf(what, sizeof what, "gelu n=%zu", n);
    op_expect(what, got, want, n, GELU_TOL);
    /* out of place: y = gelu(x), x unchanged */
    clippo_tensor src = op_tensor1(rt, x, n), dst = op_tensor1(rt, x, n);
    TEST_OK(clippo_op_gelu_to(rt, &src, &dst, &err), &err);
    float *got_to = op_read(rt, &dst), *kept = op_read(rt, &src);
    snprintf(what, sizeof what, "gelu_to n=%zu", n);
    op_expect(what, got_to, want, n, GELU_TOL);
    for (size_t j = 0; j < n; j++)
      if (kept[j] != x[j]) fail_msg("gelu_to n=%zu changed x[%zu]", n, j);
    assert_int_equal(clippo_op_gelu_to(rt, &src, &src, &err), CLIPPO_E_ARG);
    free(got_to), free(kept);
    clippo_tensor_release(rt, &src);
    clippo_tensor_release(rt, &dst);
    free(got), free(x), free(want);
    clippo_tensor_release(rt, &t);
  }
}

static void check_bias(clippo_rt *rt, void *user) {
  (void)user;
  clippo_error err;
  test_rng rng;
  test_rng_seed(&rng, 32);
  for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
    size_t rows = cases[ci].rows, w = cases[ci].w, n = rows * w;
    float *x = op_normal(&rng, n, 0.0f, 2.0f), *b = op_normal(&rng, w, 0.0f, 0.5f);
    double *want = op_doubles(n);
    char what[96];
    for (int gelu = 0; gelu < 2; gelu++) {
      clippo_ref_bias_act(x, b, rows, w, gelu, want);
      clippo_tensor tx = op_tensor2(rt, x, rows, w), tb = op_tensor1(rt, b, w);
      if (gelu)
        TEST_OK(clippo_op_bias_gelu(rt, &tx, &tb, &err), &err);
      else
        TEST_OK(clippo_op_bias_add(rt, &tx, &tb, &err), &err);
      float *got = op_read(rt, &tx);
      snprintf(what, sizeof what, "%s %zux%zu", gelu ? "bias_gelu" : "bias_add", rows, w);
      op_expect(what, got, want, n, gelu ? GELU_TOL : ADD_TOL);
      free(got);
      if (gelu) { /* into another tensor, x unchanged */
        clippo_tensor tu = op_tensor2(rt, x, rows, w), ty = op_tensor2(rt, NULL, rows, w);
        TEST_OK(clippo_op_bias_gelu_to(rt, &tu, &tb, &ty, &err), &err);
        got = op_read(rt, &ty);
        snprintf(what, sizeof what, "bias_gelu_to %zux%zu", rows, w);
        op_expect(what, got, want, n, GELU_TOL);
        free(got);
        got = op_read(rt, &tu);
        assert_memory_equal(got, x, n * sizeof(float));
        free(got);
        assert_int_equal(clippo_op_bias_gelu_to(rt, &tu, &tb, &tu, &err), CLIPPO_E_ARG);
        clippo_tensor_release(rt, &tu);
        clippo_tensor_release(rt, &ty);
      }
      clippo_tensor_release(rt, &tx);
      clippo_tensor_release(rt, &tb);
    }
    free(x), free(b), free(want);
  }
  /* a bias of the wrong width is refused */
  clippo_tensor tx = op_tensor2(rt, NULL, 4, 64), tb = op_tensor1(rt, NULL, 32);
  assert_int_equal(clippo_op_bias_gelu(rt, &tx, &tb, &err), CLIPPO_E_SHAPE);
  clippo_tensor_release(rt, &tx);
  clippo_tensor_release(rt, &tb);
}

static void test_gelu(void **state) {
  (void)state;
  test_each_device(check_gelu, NULL);
}
static void test_bias_act(void **state) {
  (void)state;
  test_each_device(check_bias, NULL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_gelu),
      cmocka_unit_test(test_bias_act),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
