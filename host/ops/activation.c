/* Launchers of kernels/activation.cl: GELU, bias + GELU, bias add (in place or into another
 * tensor). */
#include "clippo/ops.h"

#include "ops/ops_internal.h"

/* y (rows, cols) = f(x + b) with b NULL for no bias; y may be x. */
static clippo_status bias_act(clippo_rt *rt, const clippo_tensor *x, clippo_tensor *y, size_t rows,
                              size_t cols, const clippo_tensor *b, int gelu, clippo_error *err) {
  ops_class c = ops_class_of(rt);
  cl_kernel k;
  clippo_status st = ops_kernel(rt, &c, "activation.cl", "bias_act", &k, err);
  if (st) return st;
  ops_args a;
  ops_args_begin(&a, k);
  ops_arg_tensor(&a, x);
  ops_arg_tensor(&a, b ? b : x);
  ops_arg_tensor(&a, y);
  ops_arg_u32(&a, rows);
  ops_arg_u32(&a, cols);
  ops_arg_u32(&a, b != NULL);
  ops_arg_u32(&a, gelu != 0);
  if ((st = ops_args_end(rt, &a, "bias_act", err))) return st;
  return ops_launch_1d(rt, k, ops_chunks(rows, cols, c.vec), c.local_elems, err);
}

clippo_status clippo_op_gelu(clippo_rt *rt, clippo_tensor *x, clippo_error *err) {
  clippo_status st = ops_check_f32(x, "gelu", "x", err);
  if (st) return st;
  size_t n = clippo_tensor_count(x);
  return bias_act(rt, x, x, n ? 1 : 0, n, NULL, 1, err);
}

clippo_status clippo_op_gelu_to(clippo_rt *rt, const clippo_tensor *x, clippo_tensor *y,
                                clippo_error *err) {
  clippo_status st = ops_check_f32(x, "gelu_to", "x", err);
  if (!st) st = ops_check_f32(y, "gelu_to", "y", err);
  if (st) return st;
  size_t n = clippo_tensor_count(x);
  if ((st = ops_check_count(y, n, "gelu_to", "y", err))) return st;
  if (!ops_disjoint(x, y))
    return clippo_fail(err, CLIPPO_E_ARG, "gelu_to: y overlaps x (use clippo_op_gelu in place)");
  return bias_act(rt, x, y, n ? 1 : 0, n, NULL, 1, err);
}

/* Shared checks of the bias ops. */
static clippo_status bias_op(clippo_rt *rt, const char *op, clippo_tensor *x,
                             const clippo_tensor *b, int gelu, clippo_error *err) {
  size_t rows = 0, w = 0;
  clippo_status st = ops_check_rows(x, 0, &rows, &w, op, "x", err);
  if (st) return st;
  if ((st = ops_check_count(b, w, op, "b", err))) return st;
  if (!ops_disjoint(x, b)) return clippo_fail(err, CLIPPO_E_ARG, "%s: b overlaps x", op);
  return bias_act(rt, x, x, rows, w, b, gelu, err);
}

clippo_status clippo_op_bias_gelu(clippo_rt *rt, clippo_tensor *x, const clippo_tensor *b,
                                  clippo_error *err) {
  return bias_op(rt, "bias_gelu", x, b, 1, err);
}

clippo_status clippo_op_bias_gelu_to(clippo_rt *rt, const clippo_tensor *x, const clippo_tensor *b,
                                     clippo_tensor *y, clippo_error *err) {
  const char *op = "bias_gelu_to";
  size_t rows = 0, w = 0;
  clippo_status st = ops_check_rows(x, 0, &rows, &w, op, "x", err);
  if (st) return st;
  if ((st = ops_check_count(b, w, op, "b", err))) return st;
  if ((st = ops_check_count(y, rows * w, op, "y", err))) return st;
  if (!ops_disjoint(y, x) || !ops_disjoint(y, b))
    return clippo_fail(err, CLIPPO_E_ARG, "%s: y overlaps x or b", op);
  return bias_act(rt, x, y, rows, w, b, 1, err);
}

clippo_status clippo_op_bias_add(clippo_rt *rt, clippo_tensor *x, const clippo_tensor *b,
                                 clippo_error *err) {
  return bias_op(rt, "bias_add", x, b, 0, err);
}
