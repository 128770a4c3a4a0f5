/* The contrastive loss and the L2-normalisation backward (kernels/loss.cl): the float64
 * references against central finite differences, then the device against the references on
 * random data, every device (both kernel variants for the backward). Tolerances: loss 1e-5
 * relative, gradients 1e-4 (relative L2 and max), finite differences 1e-6. */
#include "test_op_common.h"

#include "clippo/train.h"

#define LOSS_TOL 1e-5
#define GRAD_TOL 1e-4
#define FD_TOL 1e-6

/* Loss of the reference as a function of (zimg, ztxt, t), with one element perturbed. */
static double ref_loss_at(float *z, size_t n, size_t d, double t) {
  return clippo_ref_contrastive_loss(z, z + n * d, n, d, t, NULL, NULL, NULL);
}

static void test_loss_ref_fd(void **state) {
  (void)state;
  test_rng rng;
  test_rng_seed(&rng, 501);
  const size_t n = 5, d = 7;
  /* the reference takes float inputs: perturb in float with a step that is exact in float */
  float *z = op_normal(&rng, 2 * n * d, 0.0f, 0.5f);
  const double t = 1.3;
  double *dz = op_doubles(2 * n * d), dt = 0.0;
  double l0 = clippo_ref_contrastive_loss(z, z + n * d, n, d, t, dz, dz + n * d, &dt);
  assert_true(isfinite(l0) && l0 > 0.0);
  const float h = 1.0f / 1024.0f;
  double maxerr = 0.0, maxg = 0.0;
  for (size_t i = 0; i < 2 * n * d; i++) {
    float keep = z[i];
    z[i] = keep + h;
    double lp = ref_loss_at(z, n, d, t);
    z[i] = keep - h;
    double lm = ref_loss_at(z, n, d, t);
    z[i] = keep;
    double fd = (lp - lm) / (2.0 * (double)h);
    /* central differences: error ~ h^2 * third derivative; compare with a scale-aware bound */
    maxerr = fmax(maxerr, fabs(fd - dz[i]));
    maxg = fmax(maxg, fabs(dz[i]));
  }
  print_message("[ fd       ] contrastive dz max err %.3g (max |g| %.3g)\n", maxerr, maxg);
  assert_true(maxerr <= 1e-4 * maxg);
  const double ht = 1e-5;
  double fdt = (ref_loss_at(z, n, d, t + ht) - ref_loss_at(z, n, d, t - ht)) / (2 * ht);
  print_message("[ fd       ] contrastive dt %.9g vs fd %.9g\n", dt, fdt);
  assert_true(fabs(fdt - dt) <= FD_TOL * fmax(1.0, fabs(dt)));
  /* n = 1: log_softmax of a single logit is 0 */
  double dz1[2 * 7], dt1;
  assert_true(fabs(clippo_ref_contrastive_loss(z, z + d, 1, d, t, dz1, dz1 + d, &dt1)) < 1e-12);
  for (size_t i = 0; i < 2 * d; i++) assert_true(fabs(dz1[i]) < 1e-12);
  free(z);
  free(dz);
}

/* Random unit rows (as the model produces) scaled by a per-row factor. */
static float *unit_rows(test_rng *rng, size_t rows, size_t d, float scale) {
  float *z = op_normal(rng, rows * d, 0.0f, 1.0f);
  for (size_t r = 0; r < rows; r++) {
    double s = 0;
    for (size_t k = 0; k < d; k++) s += (double)z[r * d + k] * z[r * d + k];
    for (size_t k = 0; k < d; k++) z[r * d + k] = (float)(z[r * d + k] / sqrt(s) * scale);
  }
  return z;
}

static void check_loss(clippo_rt *rt, void *user) {
  (void)user;
  clippo_error err;
  test_rng rng;
  test_rng_seed(&rng, 503);
  const size_t cases[][2] = {{1, 8}, {4, 32}, {17, 40}, {64, 768}, {300, 32}};
  const double temps[] = {0.0, 2.302585093, 4.0, 1.0, 3.0};
  for (size_t c = 0; c < 5; c++) {
    size_t n = cases[c][0], d = cases[c][1];
    double t = temps[c];
    float *z = unit_rows(&rng, 2 * n, d, 1.0f);
    /* one (2n, d) tensor, images then texts, as the trainer holds them */
    clippo_tensor tz = op_tensor2(rt, z, 2 * n, d), tdz = op_tensor2(rt, NULL, 2 * n, d);
    int64_t half[2] = {(int64_t)n, (int64_t)d};
    clippo_tensor zi = clippo_tensor_view(&tz, 0, 2, half),
                  zt = clippo_tensor_view(&tz, n * d, 2, half);
    clippo_tensor gi = clippo_tensor_view(&tdz, 0, 2, half);
    clippo_tensor gt = clippo_tensor_view(&tdz, n * d, 2, half);
    clippo_loss_ws ws;
    TEST_OK(clippo_loss_ws_alloc(rt, n, &ws, &err), &err);
    double loss = 0, dt = 0, loss_only = 0;
    TEST_OK(clippo_contrastive_loss(rt, &zi, &zt, (float)t, &ws, &gi, &gt, &loss, &dt, &err), &err);
    double *want = op_doubles(2 * n * d), want_dt = 0;
    double want_loss = clippo_ref_contrastive_loss(z, z + n * d, n, d, (double)(float)t, want,
                                                   want + n * d, &want_dt);
    float *got = op_read(rt, &tdz);
    char what[64];
    snprintf(what, sizeof what, "contrastive dz n%zu d%zu", n, d);
    if (n == 1) {
      for (size_t i = 0; i < 2 * d; i++) assert_true(fabs((double)got[i]) < 1e-6);
      assert_true(fabs(loss) < 1e-6 && fabs(dt) < 1e-6);
    } else {
      op_expect(what, got, want, 2 * n * d, GRAD_TOL);
      print_message("[ loss     ] n%-4zu d%-4zu loss %.7f (ref %.7f) dt %.7f (ref %.7f)\n", n, d,
                    loss, want_loss, dt, want_dt);
      assert_true(fabs(loss - want_loss) <= LOSS_TOL * fabs(want_loss));
      assert_true(fabs(dt - want_dt) <= GRAD_TOL * fmax(fabs(want_dt), 1e-3));
    }
    /* the loss alone */
    TEST_OK(
        clippo_contrastive_loss(rt, &zi, &zt, (float)t, &ws, NULL, NULL, &loss_only, NULL, &err),
        &err);
    assert_true(fabs(loss_only - loss) <= 1e-7 * fmax(1.0, fabs(loss)));
    /* wrong workspace size, mismatched rows, overlapping outputs */
    if (n > 1) {
      int64_t less[2] = {(int64_t)n - 1, (int64_t)d};
      clippo_tensor zs = clippo_tensor_view(&tz, 0, 2, less);
      assert_int_equal(
          clippo_contrastive_loss(rt, &zs, &zt, (float)t, &ws, NULL, NULL, &loss, NULL, &err),
          CLIPPO_E_SHAPE);
      assert_int_equal(
          clippo_contrastive_loss(rt, &zi, &zt, (float)t, &ws, &zi, &gt, &loss, NULL, &err),
          CLIPPO_E_ARG);
    }
    clippo_loss_ws_release(rt, &ws);
    clippo_tensor_release(rt, &tz);
    clippo_tensor_release(rt, &tdz);
    free(z), free(want), free(got);
  }
  /* a loss with exp(t) overflowing is an error, not a NaN */
  float z1[4] = {1, 0, 0, 1};
  clippo_tensor a = op_tensor2(rt, z1, 2, 2);
  int64_t one[2] = {1, 2};
  clippo_tensor ai = clippo_tensor_view(&a, 0, 2, one), at = clippo_tensor_view(&a, 2, 2, one);
  clippo_loss_ws ws;
  TEST_OK(clippo_loss_ws_alloc(rt, 1, &ws, &err), &err);
  double l;
  assert_int_equal(clippo_contrastive_loss(rt, &ai, &at, 1000.0f, &ws, NULL, NULL, &l, NULL, &err),
                   CLIPPO_E_NUMERIC);
  clippo_loss_ws_release(rt, &ws);
  clippo_tensor_release(rt, &a);
}

static void test_loss_device(void **state) {
  (void)state;
  test_each_device(check_loss, NULL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_loss_ref_fd),
      cmocka_unit_test(test_loss_device),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
