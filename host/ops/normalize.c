/* Launchers of kernels/normalize.cl: L2 normalisation of rows, mean over tokens. */
#include "clippo/ops.h"

#include <math.h>

#include "ops/ops_internal.h"

clippo_status clippo_op_l2normalize(clippo_rt *rt, const clippo_tensor *z, float eps,
                                    clippo_tensor *y, clippo_error *err) {
  static const char op[] = "l2normalize";
  size_t rows = 0, w = 0;
  clippo_status st = ops_check_rows(z, 0, &rows, &w, op, "z", err);
  if (st) return st;
  if ((st = ops_check_count(y, rows * w, op, "y", err))) return st;
  if (!ops_same_or_disjoint(z, y))
    return clippo_fail(err, CLIPPO_E_ARG, "%s: y partially overlaps z", op);
  if (!(eps >= 0.0f) || !isfinite(eps))
    return clippo_fail(err, CLIPPO_E_ARG, "%s: eps %g must be finite and >= 0", op, (double)eps);
  ops_class c = ops_class_of(rt);
  const char *kname = c.group ? "l2norm_group" : "l2norm_row";
  cl_kernel k;
  if ((st = ops_kernel(rt, &c, "normalize.cl", kname, &k, err))) return st;
  ops_args a;
  ops_args_begin(&a, k);
  ops_arg_tensor(&a, z);
  ops_arg_tensor(&a, y);
  ops_arg_u32(&a, rows);
  ops_arg_u32(&a, w);
  ops_arg_f32(&a, eps);
  if (c.group) ops_arg_local_floats(&a, c.local_group);
  if ((st = ops_args_end(rt, &a, kname, err))) return st;
  return ops_launch_rows(rt, &c, k, rows, err);
}

clippo_status clippo_op_mean_tokens(clippo_rt *rt, const clippo_tensor *x, clippo_tensor *y,
                                    clippo_error *err) {
  static const char op[] = "mean_tokens";
  size_t xrows = 0, w = 0, n = 0;
  clippo_status st = ops_check_rows(x, 0, &xrows, &w, op, "x", err);
  if (st) return st;
  if ((st = ops_check_rows(y, w, &n, NULL, op, "y", err))) return st;
  if (n == 0 && xrows == 0) return CLIPPO_OK;
  if (n == 0 || xrows % n != 0 || xrows == 0)
    return clippo_fail(err, CLIPPO_E_SHAPE,
                       "%s: x has %zu rows, not a positive multiple of the %zu rows of y", op,
                       xrows, n);
  if (!ops_disjoint(x, y)) return clippo_fail(err, CLIPPO_E_ARG, "%s: y overlaps x", op);
  size_t t = xrows / n;
  ops_class c = ops_class_of(rt);
  cl_kernel k;
  if ((st = ops_kernel(rt, &c, "normalize.cl", "mean_tokens", &k, err))) return st;
  ops_args a;
  ops_args_begin(&a, k);
  ops_arg_tensor(&a, x);
  ops_arg_tensor(&a, y);
  ops_arg_u32(&a, n);
  ops_arg_u32(&a, t);
  ops_arg_u32(&a, w);
  if ((st = ops_args_end(rt, &a, "mean_tokens", err))) return st;
  return ops_launch_1d(rt, k, ops_chunks(n, w, c.vec), c.local_rows, err);
}
