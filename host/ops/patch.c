/* Launchers of kernels/patch.cl: patchify and bias + position embedding. */
#include "clippo/ops.h"

#include "ops/ops_internal.h"

clippo_status clippo_op_patchify(clippo_rt *rt, const clippo_tensor *images, int patch,
                                 clippo_tensor *rows, clippo_error *err) {
  static const char op[] = "patchify";
  clippo_status st = ops_check_f32(images, op, "images", err);
  if (st) return st;
  char buf[128];
  if (images->ndim != 4 || images->shape[3] != 3 || images->shape[1] != images->shape[2])
    return clippo_fail(err, CLIPPO_E_SHAPE, "%s: images have shape %s, expected (n, s, s, 3)", op,
                       clippo_shape_str(images->shape, images->ndim, buf, sizeof buf));
  size_t n = (size_t)images->shape[0], s = (size_t)images->shape[1];
  if (patch <= 0 || s % (size_t)patch != 0)
    return clippo_fail(err, CLIPPO_E_SHAPE, "%s: image size %zu is not a multiple of patch %d", op,
                       s, patch);
  size_t p = (size_t)patch, grid = s / p, t = grid * grid;
  size_t nrows = 0;
  if ((st = ops_check_rows(rows, p * p * 3, &nrows, NULL, op, "rows", err))) return st;
  if (nrows != n * t)
    return clippo_fail(err, CLIPPO_E_SHAPE, "%s: rows has %zu rows, expected n * t = %zu * %zu", op,
                       nrows, n, t);
  if (!ops_disjoint(images, rows))
    return clippo_fail(err, CLIPPO_E_ARG, "%s: rows overlaps images", op);
  ops_class c = ops_class_of(rt);
  cl_kernel k;
  if ((st = ops_kernel(rt, &c, "patch.cl", "patchify", &k, err))) return st;
  ops_args a;
  ops_args_begin(&a, k);
  ops_arg_tensor(&a, images);
  ops_arg_tensor(&a, rows);
  ops_arg_u32(&a, n);
  ops_arg_u32(&a, s);
  ops_arg_u32(&a, p);
  if ((st = ops_args_end(rt, &a, "patchify", err))) return st;
  return ops_launch_1d(rt, k, n * t * p, c.local_elems, err);
}

clippo_status clippo_op_add_bias_posemb(clippo_rt *rt, clippo_tensor *x, const clippo_tensor *bias,
                                        const clippo_tensor *pos, clippo_error *err) {
  static const char op[] = "add_bias_posemb";
  size_t rows = 0, w = 0, t = 0;
  clippo_status st = ops_check_rows(x, 0, &rows, &w, op, "x", err);
  if (st) return st;
  if ((st = ops_check_count(bias, w, op, "bias", err))) return st;
  if ((st = ops_check_rows(pos, w, &t, NULL, op, "pos", err))) return st;
  if (t == 0 || rows % t != 0)
    return clippo_fail(err, CLIPPO_E_SHAPE,
                       "%s: x has %zu rows, not a multiple of the %zu position embeddings", op,
                       rows, t);
  ops_class c = ops_class_of(rt);
  cl_kernel k;
  if ((st = ops_kernel(rt, &c, "patch.cl", "bias_posemb", &k, err))) return st;
  ops_args a;
  ops_args_begin(&a, k);
  ops_arg_tensor(&a, x);
  ops_arg_tensor(&a, bias);
  ops_arg_tensor(&a, pos);
  ops_arg_u32(&a, rows);
  ops_arg_u32(&a, t);
  ops_arg_u32(&a, w);
  if ((st = ops_args_end(rt, &a, "bias_posemb", err))) return st;
  return ops_launch_1d(rt, k, ops_chunks(rows, w, c.vec), c.local_elems, err);
}
