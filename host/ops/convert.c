/* Launchers of kernels/convert.cl: float32 <-> float16 storage for the fp16 GEMM path. */
#include "clippo/ops.h"

#include "ops/ops_internal.h"

clippo_status clippo_op_to_half(clippo_rt *rt, const clippo_tensor *src, clippo_tensor *dst,
                                clippo_error *err) {
  static const char op[] = "to_half";
  clippo_status st = ops_check_f32(src, op, "src", err);
  if (st) return st;
  size_t n = clippo_tensor_count(src);
  if ((st = ops_check_dtype_count(dst, CLIPPO_F16, n, op, "dst", err))) return st;
  if (n == 0) return CLIPPO_OK;
  ops_class c = ops_class_of(rt);
  cl_kernel k;
  if ((st = ops_kernel(rt, &c, "convert.cl", "cvt_to_half", &k, err))) return st;
  ops_args a;
  ops_args_begin(&a, k);
  ops_arg_tensor(&a, src);
  ops_arg_tensor(&a, dst);
  ops_arg_u32(&a, n);
  if ((st = ops_args_end(rt, &a, "cvt_to_half", err))) return st;
  return ops_launch_1d(rt, k, n, c.local_elems, err);
}

clippo_status clippo_op_from_half(clippo_rt *rt, const clippo_tensor *src, size_t batch,
                                  size_t rows, size_t cols, float beta, clippo_tensor *dst,
                                  size_t ld, size_t stride, clippo_error *err) {
  static const char op[] = "from_half";
  size_t total = batch * rows * cols;
  if (rows && cols && (total / rows / cols != batch || total > 0xFFFFF000ull))
    return clippo_fail(err, CLIPPO_E_UNSUPPORTED, "%s: %zu x %zu x %zu elements exceed 2^32", op,
                       batch, rows, cols);
  clippo_status st = ops_check_dtype_count(src, CLIPPO_F16, total, op, "src", err);
  if (st) return st;
  if ((st = ops_check_f32(dst, op, "dst", err))) return st;
  if (total == 0) return CLIPPO_OK;
  if (ld < cols)
    return clippo_fail(err, CLIPPO_E_ARG, "%s: leading dimension %zu is smaller than %zu columns",
                       op, ld, cols);
  size_t one = (rows - 1) * ld + cols;
  if (batch > 1 && stride < one)
    return clippo_fail(err, CLIPPO_E_ARG,
                       "%s: batch stride %zu is smaller than one %zu x %zu matrix (ld %zu)", op,
                       stride, rows, cols, ld);
  size_t extent = (batch - 1) * stride + one, have = clippo_tensor_count(dst);
  if (extent > have || extent > 0xFFFFF000ull)
    return clippo_fail(err, CLIPPO_E_SHAPE,
                       "%s: %zu matrices of %zu x %zu (ld %zu, stride %zu) need %zu elements of "
                       "dst, which has %zu",
                       op, batch, rows, cols, ld, stride, extent, have);
  ops_class c = ops_class_of(rt);
  cl_kernel k;
  if ((st = ops_kernel(rt, &c, "convert.cl", "cvt_from_half", &k, err))) return st;
  ops_args a;
  ops_args_begin(&a, k);
  ops_arg_tensor(&a, src);
  ops_arg_tensor(&a, dst);
  ops_arg_u32(&a, rows);
  ops_arg_u32(&a, cols);
  ops_arg_u32(&a, ld);
  ops_arg_u32(&a, stride);
  ops_arg_u32(&a, total);
  ops_arg_f32(&a, beta);
  if ((st = ops_args_end(rt, &a, "cvt_from_half", err))) return st;
  return ops_launch_1d(rt, k, total, c.local_elems, err);
}
