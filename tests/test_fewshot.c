/* Few-shot linear probes (host/tasks/fewshot.c, host/tasks/nprandom.c): numpy's default_rng and
 * permutations against values numpy 1.24 printed, the least-squares solver against a plain-C
 * float64 ridge solve (Cholesky of X'X + l2 I, written here) in both of its branches (N >= D
 * and D > N), the accuracy against a direct argmax, and the driver against the pieces. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clippo/fewshot.h"
#include "support.h"

/* numpy.random.default_rng(seed).bit_generator.random_raw(3), numpy 1.24.2. */
static void test_np_rng_raw(void **state) {
  (void)state;
  static const struct {
    uint64_t seed;
    uint64_t raw[3];
  } cases[] = {
      {0, {0xa30febcfd9c2825fULL, 0x4510bdf882d9d721ULL, 0x0a7d3da94ecde8b8ULL}},
      {1, {0x8306bdf37922e4ffULL, 0xf35196bbc152a866ULL, 0x24e7a4f608ec18cdULL}},
      {12345, {0x3a32b18db2ffc19dULL, 0x51171315c9e4c4deULL, 0xcc2024823444efd9ULL}},
      {4294967301ULL, {0xc6323ec321deb8d1ULL, 0x78814821c73a0583ULL, 0xb22536d8e0ec17c0ULL}},
      {18446744073709551615ULL,
       {0xae163a7a8c47568fULL, 0xd86659f5f3382359ULL, 0x01e52b195bc2d24aULL}},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    clippo_np_rng r;
    clippo_np_rng_seed(&r, cases[i].seed);
    for (int k = 0; k < 3; k++) assert_true(clippo_np_rng_next64(&r) == cases[i].raw[k]);
  }
  /* next32 hands out the low half, then the buffered high half */
  clippo_np_rng r;
  clippo_np_rng_seed(&r, 0);
  assert_int_equal(clippo_np_rng_next32(&r), 0xd9c2825fu);
  assert_int_equal(clippo_np_rng_next32(&r), 0xa30febcfu);
  assert_true(clippo_np_rng_next64(&r) == 0x4510bdf882d9d721ULL);
  assert_true(clippo_np_rng_interval(&r, 0) == 0);
}

/* rng.permutation(np.arange(10)) then rng.permutation(np.arange(100, 107)), same generator. */
static void test_np_permutation(void **state) {
  (void)state;
  static const size_t want[3][17] = {
      {4, 6, 2, 7, 3, 5, 9, 0, 8, 1, 103, 102, 100, 106, 104, 105, 101},
      {8, 4, 7, 0, 1, 2, 5, 9, 6, 3, 101, 105, 106, 100, 102, 103, 104},
      {2, 0, 7, 6, 9, 5, 3, 4, 8, 1, 106, 101, 104, 103, 102, 105, 100},
  };
  for (uint64_t seed = 0; seed < 3; seed++) {
    clippo_np_rng r;
    clippo_np_rng_seed(&r, seed);
    size_t a[10], b[7];
    for (size_t i = 0; i < 10; i++) a[i] = i;
    for (size_t i = 0; i < 7; i++) b[i] = 100 + i;
    clippo_np_rng_shuffle(&r, a, 10);
    clippo_np_rng_shuffle(&r, b, 7);
    for (size_t i = 0; i < 10; i++) assert_int_equal(a[i], want[seed][i]);
    for (size_t i = 0; i < 7; i++) assert_int_equal(b[i], want[seed][10 + i]);
  }
}

/* labels[i] = (7 i) % 5 with labels[3] = 4; big_vision's class_indices for seeds 0 and 3. */
static void test_draw(void **state) {
  (void)state;
  size_t labels[37];
  for (size_t i = 0; i < 37; i++) labels[i] = (7 * i) % 5;
  labels[3] = 4;
  static const size_t want0[37] = {10, 20, 15, 30, 25, 0,  5,  35, 28, 33, 13, 18, 8,
                                   23, 16, 11, 1,  36, 21, 31, 26, 6,  34, 24, 14, 29,
                                   9,  19, 4,  12, 32, 22, 17, 2,  3,  7,  27};
  static const size_t want3[37] = {30, 35, 10, 5,  20, 25, 15, 0,  33, 8,  13, 28, 18,
                                   23, 21, 36, 26, 31, 16, 1,  6,  11, 34, 29, 19, 24,
                                   14, 9,  4,  22, 7,  12, 3,  27, 17, 32, 2};
  static const size_t counts[5] = {8, 6, 8, 7, 8};
  clippo_error err;
  clippo_fewshot_draw d;
  TEST_OK(clippo_fewshot_draw_make(labels, 37, 5, 0, &d, &err), &err);
  for (size_t c = 0; c < 5; c++) assert_int_equal(d.count[c], counts[c]);
  for (size_t i = 0; i < 37; i++) assert_int_equal(d.order[i], want0[i]);
  clippo_fewshot_draw_free(&d);
  TEST_OK(clippo_fewshot_draw_make(labels, 37, 5, 3, &d, &err), &err);
  for (size_t i = 0; i < 37; i++) assert_int_equal(d.order[i], want3[i]);
  clippo_fewshot_draw_free(&d);
  /* a label out of range names the example */
  labels[11] = 5;
  assert_int_equal(clippo_fewshot_draw_make(labels, 37, 5, 0, &d, &err), CLIPPO_E_ARG);
  assert_non_null(strstr(err.msg, "training example 11"));
}

/* ---- a plain float64 reference of the ridge solution ---- */

/* The whitened design matrix (n, dim + 1) with the bias column, as big_vision builds it. */
static double *ref_design(const float *x, size_t n, size_t dim, double *mean, double *sd) {
  double *xw = malloc(n * (dim + 1) * sizeof *xw);
  assert_non_null(xw);
  for (size_t j = 0; j < dim; j++) {
    double m = 0.0, v = 0.0;
    for (size_t i = 0; i < n; i++) m += x[i * dim + j];
    m /= (double)n;
    for (size_t i = 0; i < n; i++) v += ((double)x[i * dim + j] - m) * ((double)x[i * dim + j] - m);
    mean[j] = m;
    sd[j] = sqrt(v / (double)n) + 1e-5;
  }
  for (size_t i = 0; i < n; i++) {
    for (size_t j = 0; j < dim; j++) xw[i * (dim + 1) + j] = (x[i * dim + j] - mean[j]) / sd[j];
    xw[i * (dim + 1) + dim] = 100.0;
  }
  return xw;
}

/* W = (X'X + l2 I)^-1 X'Y by Cholesky (the primal form, whatever n and dim). */
static double *ref_ridge(const double *xw, const size_t *y, size_t n, size_t d1, size_t nc,
                         double l2) {
  double *a = calloc(d1 * d1, sizeof *a), *w = calloc(d1 * nc, sizeof *w);
  assert_non_null(a);
  assert_non_null(w);
  for (size_t p = 0; p < d1; p++)
    for (size_t q = 0; q < d1; q++) {
      double s = p == q ? l2 : 0.0;
      for (size_t i = 0; i < n; i++) s += xw[i * d1 + p] * xw[i * d1 + q];
      a[p * d1 + q] = s;
    }
  for (size_t p = 0; p < d1; p++)
    for (size_t c = 0; c < nc; c++) {
      double s = 0.0;
      for (size_t i = 0; i < n; i++) s += xw[i * d1 + p] * (y[i] == c ? 1.0 : -1.0);
      w[p * nc + c] = s;
    }
  /* a = L L' in place (lower triangle) */
  for (size_t j = 0; j < d1; j++) {
    double s = a[j * d1 + j];
    for (size_t k = 0; k < j; k++) s -= a[j * d1 + k] * a[j * d1 + k];
    assert_true(s > 0.0);
    a[j * d1 + j] = sqrt(s);
    for (size_t i = j + 1; i < d1; i++) {
      double t = a[i * d1 + j];
      for (size_t k = 0; k < j; k++) t -= a[i * d1 + k] * a[j * d1 + k];
      a[i * d1 + j] = t / a[j * d1 + j];
    }
  }
  for (size_t c = 0; c < nc; c++) {
    for (size_t i = 0; i < d1; i++) { /* L z = b */
      double t = w[i * nc + c];
      for (size_t k = 0; k < i; k++) t -= a[i * d1 + k] * w[k * nc + c];
      w[i * nc + c] = t / a[i * d1 + i];
    }
    for (size_t i = d1; i-- > 0;) { /* L' w = z */
      double t = w[i * nc + c];
      for (size_t k = i + 1; k < d1; k++) t -= a[k * d1 + i] * w[k * nc + c];
      w[i * nc + c] = t / a[i * d1 + i];
    }
  }
  free(a);
  return w;
}

/* Random features with a class-dependent shift, so the probe has something to find. */
static void make_data(test_rng *r, size_t n, size_t dim, size_t nc, float *x, size_t *y) {
  for (size_t i = 0; i < n; i++) {
    y[i] = i % nc;
    for (size_t j = 0; j < dim; j++)
      x[i * dim + j] = 3.0f * test_rng_normal(r) + (j % nc == y[i] ? 2.0f : 0.0f) + 0.5f * (float)j;
  }
}

static void check_branch(size_t n, size_t dim, size_t nc, uint64_t seed) {
  test_rng r;
  test_rng_seed(&r, seed);
  float *x = malloc(n * dim * sizeof *x);
  size_t *y = malloc(n * sizeof *y);
  assert_non_null(x);
  assert_non_null(y);
  make_data(&r, n, dim, nc, x, y);
  clippo_error err;
  clippo_lsr c;
  TEST_OK(clippo_lsr_fit(x, y, n, dim, nc, &c, &err), &err);
  size_t d1 = dim + 1;
  assert_int_equal(c.k, n >= d1 ? d1 : n);
  double *mean = malloc(dim * sizeof *mean), *sd = malloc(dim * sizeof *sd);
  assert_non_null(mean);
  assert_non_null(sd);
  double *xw = ref_design(x, n, dim, mean, sd);
  for (size_t j = 0; j < dim; j++) {
    assert_true(fabs(c.mean[j] - mean[j]) <= 1e-12 * (1.0 + fabs(mean[j])));
    assert_true(fabs(c.std[j] - sd[j]) <= 1e-12 * (1.0 + sd[j]));
  }
  for (size_t k = 1; k < c.k; k++) assert_true(c.eigs[k] >= c.eigs[k - 1]);
  double *w = malloc(d1 * nc * sizeof *w);
  assert_non_null(w);
  static const double l2s[3] = {1e-2, 1024.0, 1e6};
  for (size_t t = 0; t < 3; t++) {
    TEST_OK(clippo_lsr_weights(&c, l2s[t], w, &err), &err);
    double *ref = ref_ridge(xw, y, n, d1, nc, l2s[t]);
    double num = 0.0, den = 0.0;
    for (size_t i = 0; i < d1 * nc; i++) {
      num += (w[i] - ref[i]) * (w[i] - ref[i]);
      den += ref[i] * ref[i];
    }
    double rel = sqrt(num / den);
    if (!(rel < 1e-8))
      fail_msg("n %zu dim %zu l2 %g: weights differ from the reference by %.3g (relative)", n, dim,
               l2s[t], rel);
    free(ref);
  }
  /* accuracy: direct argmax with the reference weights on fresh test rows */
  size_t nt = 97;
  float *xt = malloc(nt * dim * sizeof *xt);
  size_t *yt = malloc(nt * sizeof *yt);
  assert_non_null(xt);
  assert_non_null(yt);
  make_data(&r, nt, dim, nc, xt, yt);
  for (size_t i = 0; i < nt; i += 5) yt[i] = (yt[i] + 1) % nc; /* some wrong labels */
  double *ref = ref_ridge(xw, y, n, d1, nc, 1024.0);
  size_t right = 0;
  for (size_t i = 0; i < nt; i++) {
    size_t best = 0;
    double bs = -INFINITY;
    for (size_t k = 0; k < nc; k++) {
      double s = 100.0 * ref[dim * nc + k];
      for (size_t j = 0; j < dim; j++) s += (xt[i * dim + j] - mean[j]) / sd[j] * ref[j * nc + k];
      if (s > bs) {
        bs = s;
        best = k;
      }
    }
    right += best == yt[i];
  }
  double acc;
  TEST_OK(clippo_lsr_accuracy(&c, 1024.0, xt, yt, nt, &acc, &err), &err);
  assert_true(fabs(acc - (double)right / (double)nt) < 1e-12);
  assert_true(right > 0 && right < nt); /* neither trivial nor impossible */
  free(ref);
  free(xt);
  free(yt);
  free(w);
  free(xw);
  free(mean);
  free(sd);
  free(x);
  free(y);
  clippo_lsr_free(&c);
}

static void test_lsr_n_ge_d(void **state) {
  (void)state;
  check_branch(250, 40, 10, 1); /* 25 shots of 10 classes, N >= D */
  check_branch(41, 40, 4, 2);   /* N == D + 1: still the X'X branch */
}

static void test_lsr_d_gt_n(void **state) {
  (void)state;
  check_branch(10, 128, 10, 3); /* 1 shot of 10 classes, 128 features */
  check_branch(40, 40, 4, 4);   /* N == D: the bias column makes D + 1 > N */
  check_branch(2, 5, 2, 5);
}

static void test_lsr_errors(void **state) {
  (void)state;
  float x[6] = {1, 2, 3, 4, 5, 6};
  size_t y[3] = {0, 1, 2};
  clippo_error err;
  clippo_lsr c;
  assert_int_equal(clippo_lsr_fit(x, y, 0, 2, 3, &c, &err), CLIPPO_E_ARG);
  assert_int_equal(clippo_lsr_fit(x, y, 3, 2, 2, &c, &err), CLIPPO_E_ARG);
  assert_non_null(strstr(err.msg, "point 2"));
  x[3] = NAN;
  assert_int_equal(clippo_lsr_fit(x, y, 3, 2, 3, &c, &err), CLIPPO_E_NUMERIC);
  assert_non_null(strstr(err.msg, "feature 1 of point 1"));
  x[3] = 4;
  TEST_OK(clippo_lsr_fit(x, y, 3, 2, 3, &c, &err), &err);
  double w[9], acc;
  assert_int_equal(clippo_lsr_weights(&c, 0.0, w, &err), CLIPPO_E_ARG);
  assert_int_equal(clippo_lsr_weights(&c, NAN, w, &err), CLIPPO_E_ARG);
  TEST_OK(clippo_lsr_accuracy(&c, 1.0, x, y, 0, &acc, &err), &err);
  assert_true(acc == 0.0);
  clippo_lsr_free(&c);
}

/* The driver: the same accuracies as drawing and fitting by hand; needed rows; plan checks. */
static void test_run(void **state) {
  (void)state;
  const size_t n = 120, dim = 6, nc = 4, nt = 50;
  test_rng r;
  test_rng_seed(&r, 11);
  float *x = malloc(n * dim * sizeof *x), *xt = malloc(nt * dim * sizeof *xt);
  size_t *y = malloc(n * sizeof *y), *yt = malloc(nt * sizeof *yt);
  assert_non_null(x);
  assert_non_null(xt);
  assert_non_null(y);
  assert_non_null(yt);
  make_data(&r, n, dim, nc, x, y);
  make_data(&r, nt, dim, nc, xt, yt);
  const size_t shots[2] = {1, 5};
  const double l2[2] = {1024.0, 1.0};
  clippo_fewshot_plan plan = {shots, 2, 3, l2, 2};
  clippo_error err;
  unsigned char need[120];
  size_t count;
  TEST_OK(clippo_fewshot_needed(y, n, nc, &plan, need, &count, &err), &err);
  assert_true(count >= (size_t)5 * nc && count <= (size_t)3 * 5 * nc);
  /* rows that are not needed are never read: poison them */
  for (size_t i = 0; i < n; i++)
    if (!need[i])
      for (size_t j = 0; j < dim; j++) x[i * dim + j] = NAN;
  double acc[3 * 2 * 2];
  TEST_OK(clippo_fewshot_run(x, y, n, xt, yt, nt, dim, nc, &plan, acc, &err), &err);
  for (size_t seed = 0; seed < 3; seed++) {
    clippo_fewshot_draw d;
    TEST_OK(clippo_fewshot_draw_make(y, n, nc, seed, &d, &err), &err);
    for (size_t s = 0; s < 2; s++) {
      float sx[20 * 6];
      size_t sy[20], m = 0;
      for (size_t c = 0; c < nc; c++)
        for (size_t i = 0; i < shots[s]; i++, m++) {
          memcpy(sx + m * dim, x + d.order[d.start[c] + i] * dim, dim * sizeof *sx);
          sy[m] = c;
        }
      clippo_lsr c;
      TEST_OK(clippo_lsr_fit(sx, sy, m, dim, nc, &c, &err), &err);
      for (size_t j = 0; j < 2; j++) {
        double a;
        TEST_OK(clippo_lsr_accuracy(&c, l2[j], xt, yt, nt, &a, &err), &err);
        assert_true(a == acc[(seed * 2 + s) * 2 + j]);
      }
      clippo_lsr_free(&c);
    }
    clippo_fewshot_draw_free(&d);
  }
  /* a class with fewer examples than the largest shot count */
  const size_t big[1] = {31};
  clippo_fewshot_plan p2 = {big, 1, 1, l2, 1};
  const char *names[4] = {"cat", "dog", "car", "ship"};
  assert_int_equal(clippo_fewshot_check(y, n, nc, &p2, names, &err), CLIPPO_E_ARG);
  assert_non_null(strstr(err.msg, "class 0 (cat) has 30 training example(s), fewer than 31"));
  assert_int_equal(clippo_fewshot_run(x, y, n, xt, yt, nt, dim, nc, &p2, acc, &err), CLIPPO_E_ARG);
  const size_t zero[1] = {0};
  clippo_fewshot_plan p3 = {zero, 1, 1, l2, 1};
  assert_int_equal(clippo_fewshot_check(y, n, nc, &p3, NULL, &err), CLIPPO_E_ARG);
  const double bad_l2[1] = {-1.0};
  clippo_fewshot_plan p4 = {shots, 2, 1, bad_l2, 1};
  assert_int_equal(clippo_fewshot_check(y, n, nc, &p4, NULL, &err), CLIPPO_E_ARG);
  yt[7] = 9;
  assert_int_equal(clippo_fewshot_run(x, y, n, xt, yt, nt, dim, nc, &plan, acc, &err),
                   CLIPPO_E_ARG);
  assert_non_null(strstr(err.msg, "test example 7"));
  free(x);
  free(xt);
  free(y);
  free(yt);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_np_rng_raw), cmocka_unit_test(test_np_permutation),
      cmocka_unit_test(test_draw),       cmocka_unit_test(test_lsr_n_ge_d),
      cmocka_unit_test(test_lsr_d_gt_n), cmocka_unit_test(test_lsr_errors),
      cmocka_unit_test(test_run),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
