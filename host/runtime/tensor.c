/* Device tensors: allocation with clear failures, transfers, views. */
#include "internal.h"

#include <stdio.h>
#include <string.h>

size_t clippo_tensor_count(const clippo_tensor *t) {
  size_t n = 1;
  for (int i = 0; i < t->ndim; i++) n *= (size_t)t->shape[i];
  return n;
}

clippo_status clippo_tensor_check(const clippo_tensor *t, clippo_dtype dt, const char *op,
                                  const char *what, clippo_error *err) {
  if (!t || !t->mem) return clippo_fail(err, CLIPPO_E_ARG, "%s: tensor '%s' is missing", op, what);
  if (t->dtype != dt)
    return clippo_fail(err, CLIPPO_E_SHAPE, "%s: tensor '%s' is %s, expected %s", op, what,
                       clippo_dtype_name(t->dtype), clippo_dtype_name(dt));
  size_t n = clippo_tensor_count(t);
  if (t->offset > CLIPPO_TENSOR_MAX_KERNEL_ELEMS || n > CLIPPO_TENSOR_MAX_KERNEL_ELEMS - t->offset)
    return clippo_fail(err, CLIPPO_E_UNSUPPORTED,
                       "%s: tensor '%s' (%zu elements at offset %zu) exceeds 2^32 elements", op,
                       what, n, t->offset);
  return CLIPPO_OK;
}

clippo_status clippo_tensor_check_count(const clippo_tensor *t, clippo_dtype dt, size_t count,
                                        const char *op, const char *what, clippo_error *err) {
  clippo_status st = clippo_tensor_check(t, dt, op, what, err);
  if (st) return st;
  size_t n = clippo_tensor_count(t);
  if (n != count) {
    char buf[128];
    return clippo_fail(err, CLIPPO_E_SHAPE,
                       "%s: tensor '%s' has shape %s (%zu elements), expected %zu", op, what,
                       clippo_shape_str(t->shape, t->ndim, buf, sizeof buf), n, count);
  }
  return CLIPPO_OK;
}

clippo_status clippo_tensor_alloc(clippo_rt *rt, clippo_tensor *t, clippo_dtype dt, int ndim,
                                  const int64_t *shape, clippo_error *err) {
  memset(t, 0, sizeof *t);
  char sh[160];
  if (ndim < 0 || ndim > CLIPPO_MAX_DIMS)
    return clippo_fail(err, CLIPPO_E_SHAPE, "tensor rank %d out of range", ndim);
  size_t n = 1;
  for (int i = 0; i < ndim; i++) {
    if (shape[i] < 0 || (shape[i] > 0 && n > ((size_t)1 << 40) / (size_t)shape[i]))
      return clippo_fail(err, CLIPPO_E_SHAPE, "tensor shape %s is invalid or too large",
                         clippo_shape_str(shape, ndim, sh, sizeof sh));
    n *= (size_t)shape[i];
  }
  size_t bytes = n * clippo_dtype_size(dt);
  clippo_shape_str(shape, ndim, sh, sizeof sh);
  if (bytes > rt->info.max_alloc)
    return clippo_fail(err, CLIPPO_E_DEVICE,
                       "tensor %s %s needs %zu bytes, more than device '%s' allows in one buffer "
                       "(%llu bytes): try a smaller --batch-size",
                       sh, clippo_dtype_name(dt), bytes, rt->info.name, rt->info.max_alloc);
  cl_int rc;
  cl_mem m = clCreateBuffer(rt->ctx, CL_MEM_READ_WRITE, bytes ? bytes : 4, NULL, &rc);
  if (rc != CL_SUCCESS)
    return clippo_fail(err, CLIPPO_E_DEVICE,
                       "allocating %zu bytes for tensor %s %s on device '%s' failed: %s (device "
                       "memory %llu bytes, %llu already allocated by clippo)",
                       bytes, sh, clippo_dtype_name(dt), rt->info.name, clippo_cl_error_name(rc),
                       rt->info.global_mem, rt->bytes_allocated);
  t->mem = m;
  t->dtype = dt;
  t->ndim = ndim;
  for (int i = 0; i < ndim; i++) t->shape[i] = shape[i];
  t->owner = 1;
  t->bytes = bytes;
  rt->bytes_allocated += bytes;
  if (rt->bytes_allocated > rt->bytes_peak) rt->bytes_peak = rt->bytes_allocated;
  return CLIPPO_OK;
}

void clippo_tensor_release(clippo_rt *rt, clippo_tensor *t) {
  if (!t) return;
  if (t->owner && t->mem) {
    clReleaseMemObject(t->mem);
    if (rt && rt->bytes_allocated >= t->bytes) rt->bytes_allocated -= t->bytes;
  }
  memset(t, 0, sizeof *t);
}

/* Transfers are not part of a recorded graph (clippo/graph.h): they would happen at recording
 * time only. */
static clippo_status recording_fail(clippo_error *err, const char *what) {
  return clippo_fail(err, CLIPPO_E_ARG, "%s a tensor while a graph is being recorded", what);
}

clippo_status clippo_tensor_write(clippo_rt *rt, clippo_tensor *t, const void *host,
                                  clippo_error *err) {
  size_t es = clippo_dtype_size(t->dtype);
  size_t bytes = clippo_tensor_count(t) * es;
  if (bytes == 0) return CLIPPO_OK;
  if (rt->recording) return recording_fail(err, "writing");
  cl_int rc =
      clEnqueueWriteBuffer(rt->queue, t->mem, CL_TRUE, t->offset * es, bytes, host, 0, NULL, NULL);
  return clippo_cl_check(rt, rc, "clEnqueueWriteBuffer (uploading a tensor)", err);
}

clippo_status clippo_tensor_read(clippo_rt *rt, const clippo_tensor *t, void *host,
                                 clippo_error *err) {
  size_t es = clippo_dtype_size(t->dtype);
  size_t bytes = clippo_tensor_count(t) * es;
  if (bytes == 0) return CLIPPO_OK;
  if (rt->recording) return recording_fail(err, "reading");
  cl_int rc =
      clEnqueueReadBuffer(rt->queue, t->mem, CL_TRUE, t->offset * es, bytes, host, 0, NULL, NULL);
  return clippo_cl_check(rt, rc, "clEnqueueReadBuffer (downloading a tensor)", err);
}

clippo_status clippo_tensor_from_array(clippo_rt *rt, clippo_tensor *t, const clippo_array *a,
                                       clippo_error *err) {
  clippo_status st = clippo_tensor_alloc(rt, t, a->dtype, a->ndim, a->shape, err);
  if (st != CLIPPO_OK) return st;
  st = clippo_tensor_write(rt, t, a->data, err);
  if (st != CLIPPO_OK) clippo_tensor_release(rt, t);
  return st;
}

clippo_status clippo_tensor_fill(clippo_rt *rt, clippo_tensor *t, float value, clippo_error *err) {
  if (t->dtype != CLIPPO_F32)
    return clippo_fail(err, CLIPPO_E_SHAPE, "clippo_tensor_fill needs a float32 tensor, got %s",
                       clippo_dtype_name(t->dtype));
  size_t n = clippo_tensor_count(t);
  if (n == 0) return CLIPPO_OK;
  if (rt->recording) return recording_fail(err, "filling");
  cl_int rc = clEnqueueFillBuffer(rt->queue, t->mem, &value, sizeof value, t->offset * 4, n * 4, 0,
                                  NULL, NULL);
  return clippo_cl_check(rt, rc, "clEnqueueFillBuffer", err);
}

clippo_tensor clippo_tensor_view(const clippo_tensor *t, size_t offset, int ndim,
                                 const int64_t *shape) {
  clippo_tensor v;
  memset(&v, 0, sizeof v);
  v.mem = t->mem;
  v.offset = t->offset + offset;
  v.dtype = t->dtype;
  v.ndim = ndim;
  for (int i = 0; i < ndim && i < CLIPPO_MAX_DIMS; i++) v.shape[i] = shape[i];
  v.owner = 0;
  v.bytes = 0;
  return v;
}
