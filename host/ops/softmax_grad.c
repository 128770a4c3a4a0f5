/* Launchers of kernels/softmax_grad.cl: softmax backward (clippo/ops_grad.h). */
#include "clippo/ops_grad.h"

#include "ops/ops_internal.h"

clippo_status clippo_op_softmax_grad(clippo_rt *rt, const clippo_tensor *p, const clippo_tensor *dp,
                                     float scale, clippo_tensor *dx, clippo_error *err) {
  static const char op[] = "softmax_grad";
  size_t rows = 0, len = 0;
  clippo_status st = ops_check_rows(p, 0, &rows, &len, op, "p", err);
  if (st) return st;
  if ((st = ops_check_count(dp, rows * len, op, "dp", err))) return st;
  if ((st = ops_check_count(dx, rows * len, op, "dx", err))) return st;
  if (!ops_disjoint(dx, p)) return clippo_fail(err, CLIPPO_E_ARG, "%s: dx overlaps p", op);
  if (!ops_same_or_disjoint(dx, dp))
    return clippo_fail(err, CLIPPO_E_ARG, "%s: dx partially overlaps dp", op);
  ops_class c = ops_class_of(rt);
  const char *kname = c.group ? "softmax_grad_group" : "softmax_grad_row";
  cl_kernel k;
  if ((st = ops_kernel(rt, &c, "softmax_grad.cl", kname, &k, err))) return st;
  ops_args a;
  ops_args_begin(&a, k);
  ops_arg_tensor(&a, p);
  ops_arg_tensor(&a, dp);
  ops_arg_tensor(&a, dx);
  ops_arg_u32(&a, rows);
  ops_arg_u32(&a, len);
  ops_arg_f32(&a, scale);
  if (c.group) ops_arg_local_floats(&a, c.local_group);
  if ((st = ops_args_end(rt, &a, kname, err))) return st;
  return ops_launch_rows(rt, &c, k, rows, err);
}
