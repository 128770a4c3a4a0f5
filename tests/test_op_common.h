/* Helpers shared by the op tests (tests/test_op_*.c): device tensors from host floats, random
 * data, comparison against a float64 reference, and running a check under both kernel variants
 * (rt->settings.ops_variant, see clippo/ops.h). Header-only: each test includes it once. */
#ifndef CLIPPO_TEST_OP_COMMON_H
#define CLIPPO_TEST_OP_COMMON_H

#include "support.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clippo/ops.h"
#include "clippo/ref.h"

/* A device tensor of the given shape filled from host (NULL: left uninitialised). */
static inline clippo_tensor op_tensor(clippo_rt *rt, const float *host, int ndim,
                                      const int64_t *shape) {
  clippo_error err;
  clippo_tensor t;
  TEST_OK(clippo_tensor_alloc(rt, &t, CLIPPO_F32, ndim, shape, &err), &err);
  if (host) TEST_OK(clippo_tensor_write(rt, &t, host, &err), &err);
  return t;
}

/* A 2-D device tensor (rows, cols). */
static inline clippo_tensor op_tensor2(clippo_rt *rt, const float *host, size_t rows, size_t cols) {
  int64_t shape[2] = {(int64_t)rows, (int64_t)cols};
  return op_tensor(rt, host, 2, shape);
}

/* A 1-D device tensor (n). */
static inline clippo_tensor op_tensor1(clippo_rt *rt, const float *host, size_t n) {
  int64_t shape[1] = {(int64_t)n};
  return op_tensor(rt, host, 1, shape);
}

/* Reads t into a fresh malloc'ed float array. */
static inline float *op_read(clippo_rt *rt, const clippo_tensor *t) {
  clippo_error err;
  size_t n = clippo_tensor_count(t);
  float *h = malloc((n ? n : 1) * sizeof *h);
  assert_non_null(h);
  TEST_OK(clippo_tensor_read(rt, t, h, &err), &err);
  return h;
}

/* n floats uniform in [lo, hi), never all zero. */
static inline float *op_uniform(test_rng *r, size_t n, float lo, float hi) {
  float *x = calloc(n ? n : 1, sizeof *x);
  assert_non_null(x);
  test_fill_uniform(r, x, n, lo, hi);
  return x;
}

/* n floats mean + sd * N(0, 1). */
static inline float *op_normal(test_rng *r, size_t n, float mean, float sd) {
  float *x = calloc(n ? n : 1, sizeof *x);
  assert_non_null(x);
  for (size_t i = 0; i < n; i++) x[i] = mean + sd * test_rng_normal(r);
  return x;
}

/* n doubles (zeroed; the tests write them all before reading). */
static inline double *op_doubles(size_t n) {
  double *x = calloc(n ? n : 1, sizeof *x);
  assert_non_null(x);
  return x;
}

/* The kernel variant op_each_variant is running, for the messages. */
static const char *op_variant_name = "auto";

/* Compares got against the float64 reference want: both the relative L2 error ||got - want|| /
 * ||want|| and the largest absolute error relative to max |want| must be <= tol. Prints both. */
static inline void op_expect(const char *what, const float *got, const double *want, size_t n,
                             double tol) {
  double rel = test_rel_err_f32_f64(got, want, n);
  double maxd = 0, maxw = 0;
  for (size_t i = 0; i < n; i++) {
    double d = fabs((double)got[i] - want[i]);
    if (d > maxd || isnan(d)) maxd = d;
    if (fabs(want[i]) > maxw) maxw = fabs(want[i]);
  }
  double maxrel = maxw > 0 ? maxd / maxw : maxd;
  print_message("[ %-8s ] %-40s rel %.3g max %.3g (tol %.1g)\n", op_variant_name, what, rel, maxrel,
                tol);
  if (!(rel <= tol) || !(maxrel <= tol))
    fail_msg("%s: error rel %.3g / max %.3g above %.1g", what, rel, maxrel, tol);
}

/* Runs fn(rt, user) with each kernel variant forced (rt->settings.ops_variant), then restores
 * the runtime's own setting. */
static inline void op_each_variant(clippo_rt *rt, void (*fn)(clippo_rt *, void *), void *user) {
  static const clippo_ops_variant variants[2] = {CLIPPO_OPS_ROW, CLIPPO_OPS_GROUP};
  static const char *names[2] = {"row", "group"};
  clippo_ops_variant saved = rt->settings.ops_variant;
  for (int i = 0; i < 2; i++) {
    rt->settings.ops_variant = variants[i];
    op_variant_name = names[i];
    fn(rt, user);
  }
  rt->settings.ops_variant = saved;
  op_variant_name = "auto";
}

#endif
