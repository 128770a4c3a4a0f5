/* Launchers of kernels/layernorm.cl: LayerNorm, residual add + LayerNorm, and bias + residual add
 * + LayerNorm. */
#include "clippo/ops.h"

#include "ops/ops_internal.h"

/* x (rows, w) [+= xb[col] + r], y = LN(x); r NULL for the plain op, xb NULL for no bias (only
 * with r). */
static clippo_status layernorm_launch(clippo_rt *rt, const char *op, const clippo_tensor *x,
                                      const clippo_tensor *xb, const clippo_tensor *r,
                                      const clippo_tensor *scale, const clippo_tensor *bias,
                                      float eps, clippo_tensor *y, clippo_error *err) {
  size_t rows = 0, w = 0;
  clippo_status st = ops_check_rows(x, 0, &rows, &w, op, "x", err);
  if (st) return st;
  if ((st = ops_check_count(y, rows * w, op, "y", err))) return st;
  if ((st = ops_check_count(scale, w, op, "scale", err))) return st;
  if ((st = ops_check_count(bias, w, op, "bias", err))) return st;
  if (xb) {
    if ((st = ops_check_count(xb, w, op, "xb", err))) return st;
    if (!ops_disjoint(xb, x) || !ops_disjoint(xb, y))
      return clippo_fail(err, CLIPPO_E_ARG, "%s: xb overlaps x or y", op);
  }
  if (r) {
    if ((st = ops_check_count(r, rows * w, op, "r", err))) return st;
    if (!ops_disjoint(y, x) || !ops_disjoint(y, r))
      return clippo_fail(err, CLIPPO_E_ARG, "%s: y overlaps x or r", op);
    if (!ops_same_or_disjoint(x, r))
      return clippo_fail(err, CLIPPO_E_ARG, "%s: r partially overlaps x", op);
  } else if (!ops_same_or_disjoint(x, y)) {
    return clippo_fail(err, CLIPPO_E_ARG, "%s: y partially overlaps x", op);
  }
  if (!(eps >= 0.0f))
    return clippo_fail(err, CLIPPO_E_ARG, "%s: eps %g must be >= 0", op, (double)eps);
  ops_class c = ops_class_of(rt);
  const char *kname = c.group ? "layernorm_group" : "layernorm_row";
  cl_kernel k;
  if ((st = ops_kernel(rt, &c, "layernorm.cl", kname, &k, err))) return st;
  ops_args a;
  ops_args_begin(&a, k);
  ops_arg_tensor(&a, x);
  ops_arg_tensor(&a, r ? r : x);
  ops_arg_tensor(&a, xb ? xb : scale);
  ops_arg_tensor(&a, scale);
  ops_arg_tensor(&a, bias);
  ops_arg_tensor(&a, y);
  ops_arg_u32(&a, rows);
  ops_arg_u32(&a, w);
  ops_arg_f32(&a, eps);
  ops_arg_u32(&a, r ? (xb ? 2 : 1) : 0);
  if (c.group) ops_arg_local_floats(&a, c.local_group);
  if ((st = ops_args_end(rt, &a, kname, err))) return st;
  return ops_launch_rows(rt, &c, k, rows, err);
}

clippo_status clippo_op_layernorm(clippo_rt *rt, const clippo_tensor *x, const clippo_tensor *scale,
                                  const clippo_tensor *bias, float eps, clippo_tensor *y,
                                  clippo_error *err) {
  return layernorm_launch(rt, "layernorm", x, NULL, NULL, scale, bias, eps, y, err);
}

clippo_status clippo_op_add_layernorm(clippo_rt *rt, clippo_tensor *x, const clippo_tensor *r,
                                      const clippo_tensor *scale, const clippo_tensor *bias,
                                      float eps, clippo_tensor *y, clippo_error *err) {
  return layernorm_launch(rt, "add_layernorm", x, NULL, r, scale, bias, eps, y, err);
}

clippo_status clippo_op_add_bias_layernorm(clippo_rt *rt, clippo_tensor *x, const clippo_tensor *xb,
                                           const clippo_tensor *r, const clippo_tensor *scale,
                                           const clippo_tensor *bias, float eps, clippo_tensor *y,
                                           clippo_error *err) {
  if (!xb || !r) return clippo_fail(err, CLIPPO_E_ARG, "add_bias_layernorm: no xb or r");
  return layernorm_launch(rt, "add_bias_layernorm", x, xb, r, scale, bias, eps, y, err);
}
