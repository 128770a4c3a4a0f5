/* Launchers of kernels/activation_grad.cl: GELU backward, and the bias-add backward as a column
 * sum (clippo/ops_grad.h). */
#include "clippo/ops_grad.h"

#include "ops/ops_internal.h"

/* Shared checks of gelu_grad and gelu_grad_keep (op names which). */
static clippo_status gelu_backward_check(const clippo_tensor *u, const clippo_tensor *dy,
                                         const clippo_tensor *dx, const char *op,
                                         clippo_error *err) {
  clippo_status st = ops_check_f32(u, op, "u", err);
  if (st) return st;
  size_t n = clippo_tensor_count(u);
  if ((st = ops_check_count(dy, n, op, "dy", err))) return st;
  if ((st = ops_check_count(dx, n, op, "dx", err))) return st;
  if (!ops_disjoint(dx, u)) return clippo_fail(err, CLIPPO_E_ARG, "%s: dx overlaps u", op);
  if (!ops_same_or_disjoint(dx, dy))
    return clippo_fail(err, CLIPPO_E_ARG, "%s: dx partially overlaps dy", op);
  return CLIPPO_OK;
}

clippo_status clippo_op_gelu_grad(clippo_rt *rt, const clippo_tensor *u, const clippo_tensor *dy,
                                  clippo_tensor *dx, clippo_error *err) {
  clippo_status st = gelu_backward_check(u, dy, dx, "gelu_grad", err);
  if (st) return st;
  size_t n = clippo_tensor_count(u);
  ops_class c = ops_class_of(rt);
  cl_kernel k;
  if ((st = ops_kernel(rt, &c, "activation_grad.cl", "gelu_grad", &k, err))) return st;
  ops_args a;
  ops_args_begin(&a, k);
  ops_arg_tensor(&a, u);
  ops_arg_tensor(&a, dy);
  ops_arg_tensor(&a, dx);
  ops_arg_u32(&a, n);
  if ((st = ops_args_end(rt, &a, "gelu_grad", err))) return st;
  return ops_launch_1d(rt, k, (n + c.vec - 1) / c.vec, c.local_elems, err);
}

clippo_status clippo_op_gelu_grad_keep(clippo_rt *rt, const clippo_tensor *u,
                                       const clippo_tensor *b, const clippo_tensor *dy,
                                       clippo_tensor *dx, clippo_tensor *h, clippo_error *err) {
  const char *op = "gelu_grad_keep";
  if (!h) return clippo_fail(err, CLIPPO_E_ARG, "%s: no h", op);
  clippo_status st = gelu_backward_check(u, dy, dx, op, err);
  if (st) return st;
  size_t n = clippo_tensor_count(u), rows = n ? 1 : 0, cols = n;
  if (b) {
    if ((st = ops_check_rows(u, 0, &rows, &cols, op, "u", err))) return st;
    if ((st = ops_check_count(b, cols, op, "b", err))) return st;
    if (!ops_disjoint(dx, b)) return clippo_fail(err, CLIPPO_E_ARG, "%s: dx overlaps b", op);
  }
  if ((st = ops_check_count(h, n, op, "h", err))) return st;
  if (!ops_disjoint(h, u) || !ops_disjoint(h, dy) || !ops_disjoint(h, dx) ||
      (b && !ops_disjoint(h, b)))
    return clippo_fail(err, CLIPPO_E_ARG, "%s: h overlaps u, b, dy or dx", op);
  ops_class c = ops_class_of(rt);
  cl_kernel k;
  if ((st = ops_kernel(rt, &c, "activation_grad.cl", op, &k, err))) return st;
  ops_args a;
  ops_args_begin(&a, k);
  ops_arg_tensor(&a, u);
  ops_arg_tensor(&a, b ? b : u);
  ops_arg_tensor(&a, dy);
  ops_arg_tensor(&a, dx);
  ops_arg_tensor(&a, h);
  ops_arg_u32(&a, rows);
  ops_arg_u32(&a, cols);
  ops_arg_u32(&a, b != NULL);
  if ((st = ops_args_end(rt, &a, op, err))) return st;
  const size_t grid[3] = {(cols + c.vec - 1) / c.vec, rows, 1}; /* VEC-wide chunks of each row */
  return ops_launch_grid(rt, k, grid, c.local_elems, err);
}

clippo_status clippo_op_bias_grad(clippo_rt *rt, const clippo_tensor *dy, clippo_tensor *db,
                                  clippo_tensor *ws, clippo_error *err) {
  clippo_status st = clippo_op_colsum(rt, dy, 1.0f, db, ws, err);
  if (st) clippo_error_prefix(err, "bias_grad: ");
  return st;
}
