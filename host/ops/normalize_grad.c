/* Launchers of kernels/normalize_grad.cl: L2-normalisation and token-mean backward
 * (clippo/ops_grad.h). */
#include "clippo/ops_grad.h"

#include "ops/ops_internal.h"

clippo_status clippo_op_l2normalize_grad(clippo_rt *rt, const clippo_tensor *u,
                                         const clippo_tensor *dz, float eps, clippo_tensor *du,
                                         int accumulate, clippo_error *err) {
  static const char op[] = "l2normalize_grad";
  size_t rows = 0, w = 0;
  clippo_status st = ops_check_rows(u, 0, &rows, &w, op, "u", err);
  if (st) return st;
  if ((st = ops_check_count(dz, rows * w, op, "dz", err))) return st;
  if ((st = ops_check_count(du, rows * w, op, "du", err))) return st;
  if (!ops_disjoint(du, u)) return clippo_fail(err, CLIPPO_E_ARG, "%s: du overlaps u", op);
  if (accumulate ? !ops_disjoint(du, dz) : !ops_same_or_disjoint(du, dz))
    return clippo_fail(err, CLIPPO_E_ARG, "%s: du overlaps dz", op);
  if (!(eps >= 0.0f))
    return clippo_fail(err, CLIPPO_E_ARG, "%s: eps %g must be >= 0", op, (double)eps);
  ops_class c = ops_class_of(rt);
  const char *kname = c.group ? "l2normalize_grad_group" : "l2normalize_grad_row";
  cl_kernel k;
  if ((st = ops_kernel(rt, &c, "normalize_grad.cl", kname, &k, err))) return st;
  ops_args a;
  ops_args_begin(&a, k);
  ops_arg_tensor(&a, u);
  ops_arg_tensor(&a, dz);
  ops_arg_tensor(&a, du);
  ops_arg_u32(&a, rows);
  ops_arg_u32(&a, w);
  ops_arg_f32(&a, eps);
  ops_arg_u32(&a, accumulate != 0);
  if (c.group) ops_arg_local_floats(&a, c.local_group);
  if ((st = ops_args_end(rt, &a, kname, err))) return st;
  return ops_launch_rows(rt, &c, k, rows, err);
}

clippo_status clippo_op_mean_tokens_grad(clippo_rt *rt, const clippo_tensor *dy, size_t t,
                                         clippo_tensor *dx, int accumulate, clippo_error *err) {
  static const char op[] = "mean_tokens_grad";
  size_t n = 0, w = 0, rows = 0;
  clippo_status st = ops_check_rows(dy, 0, &n, &w, op, "dy", err);
  if (st) return st;
  if ((st = ops_check_rows(dx, w, &rows, NULL, op, "dx", err))) return st;
  if (t == 0 || rows != n * t)
    return clippo_fail(err, CLIPPO_E_SHAPE, "%s: dx has %zu rows, expected %zu images x %zu tokens",
                       op, rows, n, t);
  if (!ops_disjoint(dx, dy)) return clippo_fail(err, CLIPPO_E_ARG, "%s: dx overlaps dy", op);
  ops_class c = ops_class_of(rt);
  cl_kernel k;
  if ((st = ops_kernel(rt, &c, "normalize_grad.cl", "mean_tokens_grad", &k, err))) return st;
  ops_args a;
  ops_args_begin(&a, k);
  ops_arg_tensor(&a, dy);
  ops_arg_tensor(&a, dx);
  ops_arg_u32(&a, n);
  ops_arg_u32(&a, t);
  ops_arg_u32(&a, w);
  ops_arg_u32(&a, accumulate != 0);
  if ((st = ops_args_end(rt, &a, "mean_tokens_grad", err))) return st;
  return ops_launch_1d(rt, k, rows * ((w + c.vec - 1) / c.vec), c.local_elems, err);
}
