/* Launchers of kernels/activation_grad.cl: GELU backward, and the bias-add backward as a column
 * sum (clippo/ops_grad.h). */
#include "clippo/ops_grad.h"

#include "ops/ops_internal.h"

/* gelu_grad and gelu_grad_keep (h NULL: the first). */
static clippo_status gelu_backward(clippo_rt *rt, const clippo_tensor *u, const clippo_tensor *dy,
                                   clippo_tensor *dx, clippo_tensor *h, clippo_error *err) {
  const char *op = h ? "gelu_grad_keep" : "gelu_grad";
  clippo_status st = ops_check_f32(u, op, "u", err);
  if (st) return st;
  size_t n = clippo_tensor_count(u);
  if ((st = ops_check_count(dy, n, op, "dy", err))) return st;
  if ((st = ops_check_count(dx, n, op, "dx", err))) return st;
  if (!ops_disjoint(dx, u)) return clippo_fail(err, CLIPPO_E_ARG, "%s: dx overlaps u", op);
  if (!ops_same_or_disjoint(dx, dy))
    return clippo_fail(err, CLIPPO_E_ARG, "%s: dx partially overlaps dy", op);
  if (h) {
    if ((st = ops_check_count(h, n, op, "h", err))) return st;
    if (!ops_disjoint(h, u) || !ops_disjoint(h, dy) || !ops_disjoint(h, dx))
      return clippo_fail(err, CLIPPO_E_ARG, "%s: h overlaps u, dy or dx", op);
  }
  ops_class c = ops_class_of(rt);
  cl_kernel k;
  if ((st = ops_kernel(rt, &c, "activation_grad.cl", op, &k, err))) return st;
  ops_args a;
  ops_args_begin(&a, k);
  ops_arg_tensor(&a, u);
  ops_arg_tensor(&a, dy);
  ops_arg_tensor(&a, dx);
  if (h) ops_arg_tensor(&a, h);
  ops_arg_u32(&a, n);
  if ((st = ops_args_end(rt, &a, op, err))) return st;
  return ops_launch_1d(rt, k, (n + c.vec - 1) / c.vec, c.local_elems, err);
}

clippo_status clippo_op_gelu_grad(clippo_rt *rt, const clippo_tensor *u, const clippo_tensor *dy,
                                  clippo_tensor *dx, clippo_error *err) {
  return gelu_backward(rt, u, dy, dx, NULL, err);
}

clippo_status clippo_op_gelu_grad_keep(clippo_rt *rt, const clippo_tensor *u,
                                       const clippo_tensor *dy, clippo_tensor *dx, clippo_tensor *h,
                                       clippo_error *err) {
  if (!h) return clippo_fail(err, CLIPPO_E_ARG, "gelu_grad_keep: no h");
  return gelu_backward(rt, u, dy, dx, h, err);
}

clippo_status clippo_op_bias_grad(clippo_rt *rt, const clippo_tensor *dy, clippo_tensor *db,
                                  clippo_tensor *ws, clippo_error *err) {
  clippo_status st = clippo_op_colsum(rt, dy, 1.0f, db, ws, err);
  if (st) clippo_error_prefix(err, "bias_grad: ");
  return st;
}
