/* float32 <-> float16 storage on the device (kernels/convert.cl), below both the GEMM layer (its
 * reduced-precision path) and the ops. Core OpenCL 1.2: no cl_khr_fp16 needed. */
#include <stdio.h>

#include "clippo/runtime.h"

/* Sets the arguments (sizes[i] bytes at values[i]) and launches k over n work-items. */
static clippo_status launch(clippo_rt *rt, cl_kernel k, const char *name, size_t nargs,
                            const size_t *sizes, const void *const *values, size_t n,
                            clippo_error *err) {
  if (rt->recording)
    return clippo_fail(err, CLIPPO_E_ARG, "%s: conversions are not recorded in graphs", name);
  for (size_t i = 0; i < nargs; i++) {
    cl_int rc = clSetKernelArg(k, (cl_uint)i, sizes[i], values[i]);
    if (rc != CL_SUCCESS) {
      char call[96];
      snprintf(call, sizeof call, "clSetKernelArg(%s, arg %zu)", name, i);
      return clippo_cl_check(rt, rc, call, err);
    }
  }
  size_t local = (rt->info.type & CL_DEVICE_TYPE_CPU) ? 64 : 256, kmax = 0;
  if (clGetKernelWorkGroupInfo(k, rt->device, CL_KERNEL_WORK_GROUP_SIZE, sizeof kmax, &kmax,
                               NULL) == CL_SUCCESS &&
      kmax > 0)
    while (local > kmax && local > 1) local /= 2;
  size_t global = (n + local - 1) / local * local;
  return clippo_rt_launch(rt, k, 1, &global, &local, err);
}

/* -w: PoCL prints ABI notes for half pointers on some targets. */
static const char convert_options[] = "-w";

clippo_status clippo_tensor_to_half(clippo_rt *rt, const clippo_tensor *src, clippo_tensor *dst,
                                    clippo_error *err) {
  static const char op[] = "to_half";
  clippo_status st = clippo_tensor_check(src, CLIPPO_F32, op, "src", err);
  if (st) return st;
  size_t n = clippo_tensor_count(src);
  if ((st = clippo_tensor_check_count(dst, CLIPPO_F16, n, op, "dst", err))) return st;
  if (n == 0) return CLIPPO_OK;
  cl_kernel k;
  if ((st = clippo_rt_kernel(rt, "convert.cl", "cvt_to_half", convert_options, &k, err))) return st;
  cl_uint so = (cl_uint)src->offset, dof = (cl_uint)dst->offset, un = (cl_uint)n;
  const size_t sizes[] = {sizeof(cl_mem), sizeof so, sizeof(cl_mem), sizeof dof, sizeof un};
  const void *const values[] = {&src->mem, &so, &dst->mem, &dof, &un};
  return launch(rt, k, "cvt_to_half", 5, sizes, values, n, err);
}

clippo_status clippo_tensor_from_half(clippo_rt *rt, const clippo_tensor *src, size_t batch,
                                      size_t rows, size_t cols, float beta, clippo_tensor *dst,
                                      size_t ld, size_t stride, clippo_error *err) {
  static const char op[] = "from_half";
  size_t total = batch * rows * cols;
  if (rows && cols && (total / rows / cols != batch || total > CLIPPO_TENSOR_MAX_KERNEL_ELEMS))
    return clippo_fail(err, CLIPPO_E_UNSUPPORTED, "%s: %zu x %zu x %zu elements exceed 2^32", op,
                       batch, rows, cols);
  clippo_status st = clippo_tensor_check_count(src, CLIPPO_F16, total, op, "src", err);
  if (st) return st;
  if ((st = clippo_tensor_check(dst, CLIPPO_F32, op, "dst", err))) return st;
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
  if (extent > have || extent > CLIPPO_TENSOR_MAX_KERNEL_ELEMS)
    return clippo_fail(err, CLIPPO_E_SHAPE,
                       "%s: %zu matrices of %zu x %zu (ld %zu, stride %zu) need %zu elements of "
                       "dst, which has %zu",
                       op, batch, rows, cols, ld, stride, extent, have);
  cl_kernel k;
  if ((st = clippo_rt_kernel(rt, "convert.cl", "cvt_from_half", convert_options, &k, err)))
    return st;
  cl_uint so = (cl_uint)src->offset, dof = (cl_uint)dst->offset, ur = (cl_uint)rows,
          uc = (cl_uint)cols, ul = (cl_uint)ld, us = (cl_uint)stride, ut = (cl_uint)total;
  cl_float b = beta;
  const size_t sizes[] = {sizeof(cl_mem), sizeof so, sizeof(cl_mem), sizeof dof, sizeof ur,
                          sizeof uc,      sizeof ul, sizeof us,      sizeof ut,  sizeof b};
  const void *const values[] = {&src->mem, &so, &dst->mem, &dof, &ur, &uc, &ul, &us, &ut, &b};
  return launch(rt, k, "cvt_from_half", 10, sizes, values, total, err);
}
