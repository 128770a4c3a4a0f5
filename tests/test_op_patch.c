/* patchify and bias + position embedding (kernels/patch.cl) against the float64 reference on
 * every device. Tolerance: exact for patchify (a permutation), 3e-7 relative for the two adds. */
#include "test_op_common.h"

static void check_patchify(clippo_rt *rt, void *user) {
  (void)user;
  clippo_error err;
  test_rng rng;
  test_rng_seed(&rng, 51);
  /* (n, s, p): B/16 at 224 (T = 196), a 4x4 grid, P = 14 (P*3 = 42: vector tail) */
  size_t cases[][3] = {{2, 224, 16}, {3, 64, 16}, {1, 28, 14}};
  for (size_t i = 0; i < 3; i++) {
    size_t n = cases[i][0], s = cases[i][1], p = cases[i][2];
    size_t t = (s / p) * (s / p), pc = p * p * 3, count = n * s * s * 3;
    float *img = op_uniform(&rng, count, -1.0f, 1.0f);
    int64_t ishape[4] = {(int64_t)n, (int64_t)s, (int64_t)s, 3};
    int64_t rshape[3] = {(int64_t)n, (int64_t)t, (int64_t)pc};
    clippo_tensor ti = op_tensor(rt, img, 4, ishape), tr = op_tensor(rt, NULL, 3, rshape);
    TEST_OK(clippo_op_patchify(rt, &ti, (int)p, &tr, &err), &err);
    double *want = op_doubles(count);
    clippo_ref_patchify(img, n, s, p, want);
    float *got = op_read(rt, &tr);
    char what[64];
    snprintf(what, sizeof what, "patchify n%zu s%zu p%zu", n, s, p);
    op_expect(what, got, want, count, 0.0);
    /* spot check against the definition: token 15 of image n-1, patch pixel (2, 3), channel 1 */
    size_t grid = s / p, tok = 15 % t, b = n - 1;
    float direct = img[((b * s + (tok / grid) * p + 2) * s + (tok % grid) * p + 3) * 3 + 1];
    assert_true(got[(b * t + tok) * pc + (2 * p + 3) * 3 + 1] == direct);
    free(got), free(want), free(img);
    clippo_tensor_release(rt, &ti);
    clippo_tensor_release(rt, &tr);
  }
  /* a size that is not a multiple of the patch is refused */
  int64_t ishape[4] = {1, 30, 30, 3}, rshape[2] = {4, (int64_t)16 * 16 * 3};
  clippo_tensor ti = op_tensor(rt, NULL, 4, ishape), tr = op_tensor(rt, NULL, 2, rshape);
  assert_int_equal(clippo_op_patchify(rt, &ti, 16, &tr, &err), CLIPPO_E_SHAPE);
  clippo_tensor_release(rt, &ti);
  clippo_tensor_release(rt, &tr);
}

static void check_posemb(clippo_rt *rt, void *user) {
  (void)user;
  clippo_error err;
  test_rng rng;
  test_rng_seed(&rng, 52);
  size_t cases[][3] = {{2, 196, 768}, {3, 17, 64}, {2, 196, 64}, {5, 3, 100}};
  for (size_t i = 0; i < 4; i++) {
    size_t n = cases[i][0], t = cases[i][1], w = cases[i][2], rows = n * t;
    float *x = op_normal(&rng, rows * w, 0.0f, 1.0f), *b = op_normal(&rng, w, 0.0f, 0.1f);
    float *pos = op_normal(&rng, t * w, 0.0f, 1.0f / sqrtf((float)w));
    int64_t pshape[3] = {1, (int64_t)t, (int64_t)w};
    clippo_tensor tx = op_tensor2(rt, x, rows, w), tb = op_tensor1(rt, b, w);
    clippo_tensor tp = op_tensor(rt, pos, 3, pshape);
    TEST_OK(clippo_op_add_bias_posemb(rt, &tx, &tb, &tp, &err), &err);
    double *want = op_doubles(rows * w);
    clippo_ref_add_bias_posemb(x, b, pos, rows, t, w, want);
    float *got = op_read(rt, &tx);
    char what[64];
    snprintf(what, sizeof what, "bias_posemb n%zu t%zu w%zu", n, t, w);
    op_expect(what, got, want, rows * w, 3e-7);
    free(got), free(want), free(x), free(b), free(pos);
    clippo_tensor_release(rt, &tx);
    clippo_tensor_release(rt, &tb);
    clippo_tensor_release(rt, &tp);
  }
}

static void test_patchify(void **state) {
  (void)state;
  test_each_device(check_patchify, NULL);
}
static void test_bias_posemb(void **state) {
  (void)state;
  test_each_device(check_posemb, NULL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_patchify),
      cmocka_unit_test(test_bias_posemb),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
