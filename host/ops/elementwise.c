/* Launchers of kernels/elementwise.cl: residual add, scale, copies and row broadcast. */
#include "clippo/ops.h"

#include "ops/ops_internal.h"

clippo_status clippo_op_add(clippo_rt *rt, clippo_tensor *y, const clippo_tensor *x,
                            clippo_error *err) {
  static const char op[] = "add";
  clippo_status st = ops_check_f32(y, op, "y", err);
  if (st) return st;
  size_t n = clippo_tensor_count(y);
  if ((st = ops_check_count(x, n, op, "x", err))) return st;
  if (!ops_same_or_disjoint(x, y))
    return clippo_fail(err, CLIPPO_E_ARG, "%s: x partially overlaps y", op);
  ops_class c = ops_class_of(rt);
  cl_kernel k;
  if ((st = ops_kernel(rt, &c, "elementwise.cl", "ew_add", &k, err))) return st;
  ops_args a;
  ops_args_begin(&a, k);
  ops_arg_tensor(&a, y);
  ops_arg_tensor(&a, x);
  ops_arg_u32(&a, n);
  if ((st = ops_args_end(rt, &a, "ew_add", err))) return st;
  return ops_launch_1d(rt, k, ops_chunks(1, n, c.vec), c.local_elems, err);
}

clippo_status clippo_op_scale(clippo_rt *rt, clippo_tensor *x, float alpha, clippo_error *err) {
  clippo_status st = ops_check_f32(x, "scale", "x", err);
  if (st) return st;
  size_t n = clippo_tensor_count(x);
  ops_class c = ops_class_of(rt);
  cl_kernel k;
  if ((st = ops_kernel(rt, &c, "elementwise.cl", "ew_scale", &k, err))) return st;
  ops_args a;
  ops_args_begin(&a, k);
  ops_arg_tensor(&a, x);
  ops_arg_u32(&a, n);
  ops_arg_f32(&a, alpha);
  if ((st = ops_args_end(rt, &a, "ew_scale", err))) return st;
  return ops_launch_1d(rt, k, ops_chunks(1, n, c.vec), c.local_elems, err);
}

/* The copy kernel (acc: adding into dst) without checks beyond the counts given. */
static clippo_status copy2d_launch(clippo_rt *rt, const clippo_tensor *src, size_t so, size_t lds,
                                   clippo_tensor *dst, size_t dso, size_t ldd, size_t rows,
                                   size_t cols, int acc, clippo_error *err) {
  ops_class c = ops_class_of(rt);
  cl_kernel k;
  clippo_status st = ops_kernel(rt, &c, "elementwise.cl", "ew_copy2d", &k, err);
  if (st) return st;
  clippo_tensor s = *src, d = *dst;
  s.offset += so;
  d.offset += dso;
  ops_args a;
  ops_args_begin(&a, k);
  ops_arg_tensor(&a, &s);
  ops_arg_u32(&a, lds);
  ops_arg_tensor(&a, &d);
  ops_arg_u32(&a, ldd);
  ops_arg_u32(&a, rows);
  ops_arg_u32(&a, cols);
  ops_arg_u32(&a, acc != 0);
  if ((st = ops_args_end(rt, &a, "ew_copy2d", err))) return st;
  return ops_launch_1d(rt, k, ops_chunks(rows, cols, c.vec), c.local_elems, err);
}

clippo_status clippo_op_copy(clippo_rt *rt, const clippo_tensor *src, clippo_tensor *dst,
                             clippo_error *err) {
  static const char op[] = "copy";
  clippo_status st = ops_check_f32(src, op, "src", err);
  if (st) return st;
  size_t n = clippo_tensor_count(src);
  if ((st = ops_check_count(dst, n, op, "dst", err))) return st;
  if (!ops_disjoint(src, dst)) return clippo_fail(err, CLIPPO_E_ARG, "%s: dst overlaps src", op);
  if (n == 0) return CLIPPO_OK;
  return copy2d_launch(rt, src, 0, n, dst, 0, n, 1, n, 0, err);
}

clippo_status clippo_op_broadcast_rows(clippo_rt *rt, const clippo_tensor *src, clippo_tensor *dst,
                                       clippo_error *err) {
  static const char op[] = "broadcast_rows";
  clippo_status st = ops_check_f32(src, op, "src", err);
  if (st) return st;
  size_t w = clippo_tensor_count(src), rows = 0;
  if (w == 0) return clippo_fail(err, CLIPPO_E_SHAPE, "%s: src is empty", op);
  if ((st = ops_check_rows(dst, w, &rows, NULL, op, "dst", err))) return st;
  if (!ops_disjoint(src, dst)) return clippo_fail(err, CLIPPO_E_ARG, "%s: dst overlaps src", op);
  return copy2d_launch(rt, src, 0, 0, dst, 0, w, rows, w, 0, err);
}

/* copy2d and add2d (op names which). */
static clippo_status block2d(clippo_rt *rt, const char *op, const clippo_tensor *src, size_t lds,
                             size_t src_col, clippo_tensor *dst, size_t ldd, size_t dst_col,
                             size_t rows, size_t cols, int acc, clippo_error *err) {
  clippo_status st = ops_check_f32(src, op, "src", err);
  if (st) return st;
  if ((st = ops_check_f32(dst, op, "dst", err))) return st;
  if (rows == 0 || cols == 0) return CLIPPO_OK;
  if (ldd < dst_col + cols || (lds != 0 && lds < src_col + cols))
    return clippo_fail(err, CLIPPO_E_ARG,
                       "%s: leading dimensions (src %zu, dst %zu) narrower than columns %zu+%zu "
                       "/ %zu+%zu",
                       op, lds, ldd, src_col, cols, dst_col, cols);
  size_t need_s = (rows - 1) * lds + src_col + cols, need_d = (rows - 1) * ldd + dst_col + cols;
  if (clippo_tensor_count(src) < need_s || clippo_tensor_count(dst) < need_d)
    return clippo_fail(err, CLIPPO_E_SHAPE,
                       "%s: src (%zu elements) or dst (%zu) smaller than the block (%zu, %zu)", op,
                       clippo_tensor_count(src), clippo_tensor_count(dst), need_s, need_d);
  if (!ops_disjoint(src, dst)) return clippo_fail(err, CLIPPO_E_ARG, "%s: dst overlaps src", op);
  return copy2d_launch(rt, src, src_col, lds, dst, dst_col, ldd, rows, cols, acc, err);
}

clippo_status clippo_op_copy2d(clippo_rt *rt, const clippo_tensor *src, size_t lds, size_t src_col,
                               clippo_tensor *dst, size_t ldd, size_t dst_col, size_t rows,
                               size_t cols, clippo_error *err) {
  return block2d(rt, "copy2d", src, lds, src_col, dst, ldd, dst_col, rows, cols, 0, err);
}

clippo_status clippo_op_add2d(clippo_rt *rt, const clippo_tensor *src, size_t lds, size_t src_col,
                              clippo_tensor *dst, size_t ldd, size_t dst_col, size_t rows,
                              size_t cols, clippo_error *err) {
  return block2d(rt, "add2d", src, lds, src_col, dst, ldd, dst_col, rows, cols, 1, err);
}
