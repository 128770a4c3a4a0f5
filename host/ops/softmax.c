/* Launcher of kernels/softmax.cl: scaled, stable row softmax in place. */
#include "clippo/ops.h"

#include <math.h>

#include "ops/ops_internal.h"

clippo_status clippo_op_softmax(clippo_rt *rt, clippo_tensor *x, float scale, clippo_error *err) {
  static const char op[] = "softmax";
  size_t rows = 0, len = 0;
  clippo_status st = ops_check_rows(x, 0, &rows, &len, op, "x", err);
  if (st) return st;
  if (!isfinite(scale))
    return clippo_fail(err, CLIPPO_E_ARG, "%s: scale %g is not finite", op, (double)scale);
  ops_class c = ops_class_of(rt);
  const char *kname = c.group ? "softmax_group" : "softmax_row";
  cl_kernel k;
  if ((st = ops_kernel(rt, &c, "softmax.cl", kname, &k, err))) return st;
  ops_args a;
  ops_args_begin(&a, k);
  ops_arg_tensor(&a, x);
  ops_arg_u32(&a, rows);
  ops_arg_u32(&a, len);
  ops_arg_f32(&a, scale);
  if (c.group) ops_arg_local_floats(&a, c.local_group);
  if ((st = ops_args_end(rt, &a, kname, err))) return st;
  return ops_launch_rows(rt, &c, k, rows, err);
}
