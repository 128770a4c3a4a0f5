/* Residual add, scale, copy, row broadcast and 2-D block copy and add (kernels/elementwise.cl)
 * against the float64 reference on every device. Tolerance: 1e-7 relative for add/scale (one
 * rounding), exact (0) for the copies and the block add (the same float sum). */
#include "test_op_common.h"

static void check_add_scale(clippo_rt *rt, void *user) {
  (void)user;
  clippo_error err;
  test_rng rng;
  test_rng_seed(&rng, 41);
  size_t sizes[] = {37 * 768 + 5, (size_t)17 * 64, 3};
  for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
    size_t n = sizes[i];
    float *y = op_normal(&rng, n, 0.0f, 3.0f), *x = op_normal(&rng, n, 0.5f, 1.0f);
    double *want = op_doubles(n);
    char what[64];
    clippo_tensor ty = op_tensor1(rt, y, n), tx = op_tensor1(rt, x, n);
    clippo_ref_add(y, x, n, want);
    TEST_OK(clippo_op_add(rt, &ty, &tx, &err), &err);
    float *got = op_read(rt, &ty);
    snprintf(what, sizeof what, "add n=%zu", n);
    op_expect(what, got, want, n, 1e-7);
    free(got);
    clippo_ref_scale(x, n, 0.37, want);
    TEST_OK(clippo_op_scale(rt, &tx, 0.37f, &err), &err);
    got = op_read(rt, &tx);
    snprintf(what, sizeof what, "scale n=%zu", n);
    op_expect(what, got, want, n, 1e-7);
    free(got);
    clippo_tensor_release(rt, &ty);
    clippo_tensor_release(rt, &tx);
    free(y), free(x), free(want);
  }
}

static void check_copies(clippo_rt *rt, void *user) {
  (void)user;
  clippo_error err;
  test_rng rng;
  test_rng_seed(&rng, 42);
  /* copy */
  size_t n = 1000 + 9;
  float *x = op_uniform(&rng, n, -1.0f, 1.0f);
  clippo_tensor ts = op_tensor1(rt, x, n), td = op_tensor2(rt, NULL, 1, n);
  TEST_OK(clippo_op_copy(rt, &ts, &td, &err), &err);
  float *got = op_read(rt, &td);
  assert_memory_equal(got, x, n * sizeof(float));
  free(got), free(x);
  clippo_tensor_release(rt, &ts);
  clippo_tensor_release(rt, &td);
  /* broadcast the MAP probe (1, 1, W) over N rows */
  size_t bcases[][2] = {{13, 768}, {3, 17}, {8, 64}};
  for (size_t i = 0; i < 3; i++) {
    size_t rows = bcases[i][0], w = bcases[i][1];
    float *p = op_normal(&rng, w, 0.0f, 0.1f);
    int64_t pshape[3] = {1, 1, (int64_t)w};
    clippo_tensor tp = op_tensor(rt, p, 3, pshape), tb = op_tensor2(rt, NULL, rows, w);
    TEST_OK(clippo_op_broadcast_rows(rt, &tp, &tb, &err), &err);
    double *want = op_doubles(rows * w);
    clippo_ref_broadcast_rows(p, rows, w, want);
    got = op_read(rt, &tb);
    char what[64];
    snprintf(what, sizeof what, "broadcast_rows %zux%zu", rows, w);
    op_expect(what, got, want, rows * w, 0.0);
    free(got), free(want), free(p);
    clippo_tensor_release(rt, &tp);
    clippo_tensor_release(rt, &tb);
  }
  /* a (5, 7) block from columns 3.. of a (5, 20) matrix into columns 9.. of a (5, 17) one */
  float *src = op_uniform(&rng, (size_t)5 * 20, -1.0f, 1.0f),
        *dst = op_uniform(&rng, (size_t)5 * 17, 2.0f, 3.0f);
  clippo_tensor a = op_tensor2(rt, src, 5, 20), b = op_tensor2(rt, dst, 5, 17);
  TEST_OK(clippo_op_copy2d(rt, &a, 20, 3, &b, 17, 9, 5, 7, &err), &err);
  got = op_read(rt, &b);
  for (size_t r = 0; r < 5; r++)
    for (size_t c = 0; c < 17; c++) {
      float want = (c >= 9 && c < 16) ? src[r * 20 + 3 + c - 9] : dst[r * 17 + c];
      assert_true(got[r * 17 + c] == want);
    }
  /* a block past the end of dst is refused */
  assert_int_equal(clippo_op_copy2d(rt, &a, 20, 3, &b, 17, 12, 5, 7, &err), CLIPPO_E_ARG);
  /* the same block added (one rounding each): a (5, 33) block, wider than a vector */
  free(got), free(src), free(dst);
  clippo_tensor_release(rt, &a);
  clippo_tensor_release(rt, &b);
  src = op_uniform(&rng, (size_t)5 * 40, -1.0f, 1.0f);
  dst = op_uniform(&rng, (size_t)5 * 37, 2.0f, 3.0f);
  a = op_tensor2(rt, src, 5, 40), b = op_tensor2(rt, dst, 5, 37);
  TEST_OK(clippo_op_add2d(rt, &a, 40, 3, &b, 37, 2, 5, 33, &err), &err);
  got = op_read(rt, &b);
  for (size_t r = 0; r < 5; r++)
    for (size_t c = 0; c < 37; c++) {
      float want = (c >= 2 && c < 35) ? dst[r * 37 + c] + src[r * 40 + 3 + c - 2] : dst[r * 37 + c];
      assert_true(got[r * 37 + c] == want);
    }
  assert_int_equal(clippo_op_add2d(rt, &a, 40, 3, &b, 37, 5, 5, 33, &err), CLIPPO_E_ARG);
  free(got), free(src), free(dst);
  clippo_tensor_release(rt, &a);
  clippo_tensor_release(rt, &b);
}

static void test_add_scale(void **state) {
  (void)state;
  test_each_device(check_add_scale, NULL);
}
static void test_copies(void **state) {
  (void)state;
  test_each_device(check_copies, NULL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_add_scale),
      cmocka_unit_test(test_copies),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
