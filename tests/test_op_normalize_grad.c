/* Backward of L2 normalisation and of the token mean (kernels/normalize_grad.cl).
 * 1. The reference backwards against central finite differences of the reference forwards
 *    (clippo_ref_l2normalize with eps 1e-8, clippo_ref_mean_tokens): relative L2 <= 1e-6.
 * 2. The kernels (both variants, every device) against the references: within 1e-5 relative
 *    (L2 and max), overwrite and accumulate, in place, a zero row (gradient dz / eps). */
#include "test_op_common.h"

#include "clippo/ops_grad.h"

#define FD_TOL 1e-6
#define NG_TOL 1e-5

static double rel_l2(const double *a, const double *b, size_t n) {
  double num = 0, den = 0;
  for (size_t i = 0; i < n; i++) num += (a[i] - b[i]) * (a[i] - b[i]), den += b[i] * b[i];
  return den > 0 ? sqrt(num / den) : sqrt(num);
}

static void test_reference_fd(void **state) {
  (void)state;
  test_rng rng;
  test_rng_seed(&rng, 61);
  /* l2 normalize */
  size_t rows = 3, w = 11, n = rows * w;
  float *u = op_normal(&rng, n, 0.1f, 1.0f), *g = op_normal(&rng, n, 0.0f, 1.0f);
  double *y = op_doubles(n), *an = op_doubles(n), *fd = op_doubles(n);
  clippo_ref_l2normalize_grad(u, g, rows, w, 1e-8, an);
  for (size_t i = 0; i < n; i++) {
    float u0 = u[i], h = 1e-3f, up = u0 + h, um = u0 - h;
    double l[2];
    for (int s = 0; s < 2; s++) {
      u[i] = s ? um : up;
      clippo_ref_l2normalize(u, rows, w, 1e-8, y);
      l[s] = 0;
      for (size_t j = 0; j < n; j++) l[s] += (double)g[j] * y[j];
    }
    u[i] = u0;
    fd[i] = (l[0] - l[1]) / ((double)up - (double)um);
  }
  double e1 = rel_l2(an, fd, n);
  /* mean tokens: x (nb * t, w) -> y (nb, w) */
  size_t nb = 2, t = 5, wm = 4, nx = nb * t * wm, ny = nb * wm;
  float *x = op_normal(&rng, nx, 0.0f, 1.0f), *gy = op_normal(&rng, ny, 0.0f, 1.0f);
  double *ym = op_doubles(ny), *anm = op_doubles(nx), *fdm = op_doubles(nx);
  clippo_ref_mean_tokens_grad(gy, nb, t, wm, anm);
  for (size_t i = 0; i < nx; i++) {
    float x0 = x[i], h = 1e-3f, xp = x0 + h, xm = x0 - h;
    double l[2];
    for (int s = 0; s < 2; s++) {
      x[i] = s ? xm : xp;
      clippo_ref_mean_tokens(x, nb, t, wm, ym);
      l[s] = 0;
      for (size_t j = 0; j < ny; j++) l[s] += (double)gy[j] * ym[j];
    }
    x[i] = x0;
    fdm[i] = (l[0] - l[1]) / ((double)xp - (double)xm);
  }
  double e2 = rel_l2(anm, fdm, nx);
  print_message("reference vs finite differences: l2normalize %.3g, mean_tokens %.3g (tol %.0g)\n",
                e1, e2, FD_TOL);
  assert_true(e1 <= FD_TOL && e2 <= FD_TOL);
  free(u), free(g), free(y), free(an), free(fd), free(x), free(gy), free(ym), free(anm), free(fdm);
}

static void check_l2_grad(clippo_rt *rt, void *user) {
  (void)user;
  clippo_error err;
  test_rng rng;
  test_rng_seed(&rng, 62);
  const size_t shapes[][2] = {{4, 768}, {17, 16}, {9, 33}, {300, 128}, {2, 3}};
  for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
    size_t rows = shapes[si][0], w = shapes[si][1], n = rows * w;
    float *u = op_normal(&rng, n, 0.2f, 3.0f), *dz = op_normal(&rng, n, 0.0f, 1.0f);
    if (si == 1)
      for (size_t c = 0; c < w; c++) u[w + c] = 0.0f; /* a zero row */
    float *d0 = op_uniform(&rng, n, -1.0f, 1.0f);
    double *want = op_doubles(n), *want2 = op_doubles(n);
    clippo_ref_l2normalize_grad(u, dz, rows, w, 1e-8, want);
    for (size_t i = 0; i < n; i++) want2[i] = want[i] + d0[i];
    clippo_tensor tu = op_tensor2(rt, u, rows, w), tdz = op_tensor2(rt, dz, rows, w);
    clippo_tensor tdu = op_tensor2(rt, d0, rows, w);
    TEST_OK(clippo_op_l2normalize_grad(rt, &tu, &tdz, 1e-8f, &tdu, 1, &err), &err);
    float *got = op_read(rt, &tdu);
    char what[64];
    double tol = NG_TOL;
    snprintf(what, sizeof what, "l2normalize_grad += %zux%zu", rows, w);
    op_expect(what, got, want2, n, tol);
    free(got);
    TEST_OK(clippo_op_l2normalize_grad(rt, &tu, &tdz, 1e-8f, &tdz, 0, &err), &err);
    got = op_read(rt, &tdz);
    snprintf(what, sizeof what, "l2normalize_grad in place %zux%zu", rows, w);
    op_expect(what, got, want, n, tol);
    free(got);
    assert_int_equal(clippo_op_l2normalize_grad(rt, &tu, &tdz, 1e-8f, &tu, 0, &err), CLIPPO_E_ARG);
    clippo_tensor_release(rt, &tu);
    clippo_tensor_release(rt, &tdz);
    clippo_tensor_release(rt, &tdu);
    free(u), free(dz), free(d0), free(want), free(want2);
  }
}

static void check_mean_tokens_grad(clippo_rt *rt, void *user) {
  (void)user;
  clippo_error err;
  test_rng rng;
  test_rng_seed(&rng, 63);
  const size_t shapes[][3] = {{3, 196, 768}, {5, 4, 17}, {1, 1, 5}, {8, 64, 128}};
  for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
    size_t nb = shapes[si][0], t = shapes[si][1], w = shapes[si][2];
    size_t ny = nb * w, nx = nb * t * w;
    float *dy = op_normal(&rng, ny, 0.0f, 1.0f), *x0 = op_uniform(&rng, nx, -1.0f, 1.0f);
    double *want = op_doubles(nx);
    clippo_ref_mean_tokens_grad(dy, nb, t, w, want);
    clippo_tensor tdy = op_tensor2(rt, dy, nb, w), tdx = op_tensor2(rt, x0, nb * t, w);
    TEST_OK(clippo_op_mean_tokens_grad(rt, &tdy, t, &tdx, 0, &err), &err);
    float *got = op_read(rt, &tdx);
    char what[64];
    snprintf(what, sizeof what, "mean_tokens_grad %zux%zux%zu", nb, t, w);
    op_expect(what, got, want, nx, NG_TOL);
    free(got);
    TEST_OK(clippo_op_mean_tokens_grad(rt, &tdy, t, &tdx, 1, &err), &err);
    got = op_read(rt, &tdx);
    for (size_t i = 0; i < nx; i++) want[i] *= 2.0;
    snprintf(what, sizeof what, "mean_tokens_grad += %zux%zux%zu", nb, t, w);
    op_expect(what, got, want, nx, NG_TOL);
    free(got);
    if (t > 1)
      assert_int_equal(clippo_op_mean_tokens_grad(rt, &tdy, t + 1, &tdx, 0, &err), CLIPPO_E_SHAPE);
    clippo_tensor_release(rt, &tdy);
    clippo_tensor_release(rt, &tdx);
    free(dy), free(x0), free(want);
  }
}

static void run_l2(clippo_rt *rt, void *u) { op_each_variant(rt, check_l2_grad, u); }

static void test_l2normalize_grad(void **state) {
  (void)state;
  test_each_device(run_l2, NULL);
}
static void test_mean_tokens_grad(void **state) {
  (void)state;
  test_each_device(check_mean_tokens_grad, NULL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_reference_fd),
      cmocka_unit_test(test_l2normalize_grad),
      cmocka_unit_test(test_mean_tokens_grad),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
