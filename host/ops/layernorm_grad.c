/* Launchers of kernels/layernorm_grad.cl: LayerNorm backward (clippo/ops_grad.h). */
#include "clippo/ops_grad.h"

#include "ops/ops_internal.h"

size_t clippo_layernorm_grad_workspace_floats(size_t rows, size_t w) {
  return 2 * rows + 2 * clippo_colsum_chunks(rows) * w;
}

/* rows per block of the first stage, as clippo_colsum_chunks splits them */
static size_t block_rows(size_t rows, size_t chunks) {
  return chunks <= 1 ? (rows ? rows : 1) : (rows + chunks - 1) / chunks;
}

clippo_status clippo_op_layernorm_grad(clippo_rt *rt, const clippo_tensor *dy,
                                       const clippo_tensor *x, const clippo_tensor *scale,
                                       float eps, clippo_tensor *dx, int accumulate,
                                       clippo_tensor *dscale, clippo_tensor *dbias,
                                       clippo_tensor *ws, clippo_error *err) {
  static const char op[] = "layernorm_grad";
  size_t rows = 0, w = 0;
  clippo_status st = ops_check_rows(x, 0, &rows, &w, op, "x", err);
  if (st) return st;
  if ((st = ops_check_count(dy, rows * w, op, "dy", err))) return st;
  if ((st = ops_check_count(dx, rows * w, op, "dx", err))) return st;
  if ((st = ops_check_count(scale, w, op, "scale", err))) return st;
  if (dscale && (st = ops_check_count(dscale, w, op, "dscale", err))) return st;
  if (dbias && (st = ops_check_count(dbias, w, op, "dbias", err))) return st;
  if (!ops_disjoint(dx, dy) || !ops_disjoint(dx, x))
    return clippo_fail(err, CLIPPO_E_ARG, "%s: dx overlaps dy or x", op);
  if (!(eps >= 0.0f))
    return clippo_fail(err, CLIPPO_E_ARG, "%s: eps %g must be >= 0", op, (double)eps);
  int cols = dscale != NULL || dbias != NULL;
  size_t chunks = clippo_colsum_chunks(rows);
  size_t need = clippo_layernorm_grad_workspace_floats(rows, w);
  clippo_tensor tmp = {0}, *space = ws;
  if (cols) {
    if (ws) {
      if ((st = ops_check_f32(ws, op, "ws", err))) return st;
      if (clippo_tensor_count(ws) < need)
        return clippo_fail(err, CLIPPO_E_SHAPE, "%s: workspace has %zu floats, %zu needed", op,
                           clippo_tensor_count(ws), need);
      int64_t shape[1] = {(int64_t)need};
      clippo_tensor used = clippo_tensor_view(ws, 0, 1, shape);
      if (!ops_disjoint(&used, x) || !ops_disjoint(&used, dy) || !ops_disjoint(&used, dx) ||
          (dscale && !ops_disjoint(&used, dscale)) || (dbias && !ops_disjoint(&used, dbias)))
        return clippo_fail(err, CLIPPO_E_ARG, "%s: workspace overlaps another argument", op);
    } else {
      int64_t shape[1] = {(int64_t)need};
      if (clippo_tensor_alloc(rt, &tmp, CLIPPO_F32, 1, shape, err))
        return clippo_error_prefix(err, "%s: ", op);
      space = &tmp;
    }
  }
  int64_t sshape[1] = {(int64_t)(2 * rows)}, pshape[2] = {(int64_t)chunks, (int64_t)w};
  clippo_tensor stats = {0}, part_s = {0}, part_b = {0};
  if (cols) {
    stats = clippo_tensor_view(space, 0, 1, sshape);
    part_s = clippo_tensor_view(space, 2 * rows, 2, pshape);
    part_b = clippo_tensor_view(space, 2 * rows + chunks * w, 2, pshape);
  }

  ops_class c = ops_class_of(rt);
  const char *kname = c.group ? "layernorm_grad_dx_group" : "layernorm_grad_dx_row";
  cl_kernel k;
  if ((st = ops_kernel(rt, &c, "layernorm_grad.cl", kname, &k, err))) goto done;
  ops_args a;
  ops_args_begin(&a, k);
  ops_arg_tensor(&a, dy);
  ops_arg_tensor(&a, x);
  ops_arg_tensor(&a, scale);
  ops_arg_tensor(&a, dx);
  ops_arg_tensor(&a, cols ? &stats : dx);
  ops_arg_u32(&a, rows);
  ops_arg_u32(&a, w);
  ops_arg_f32(&a, eps);
  ops_arg_u32(&a, accumulate != 0);
  ops_arg_u32(&a, cols);
  if (c.group) ops_arg_local_floats(&a, c.local_group);
  if ((st = ops_args_end(rt, &a, kname, err))) goto done;
  st = ops_launch_rows(rt, &c, k, rows, err);
  if (st || !cols) goto done;

  /* scale / bias gradients: one pass straight into them, or partial rows then colsum */
  int final = chunks == 1;
  clippo_tensor *ts = final ? (dscale ? dscale : &part_s) : &part_s;
  clippo_tensor *tb = final ? (dbias ? dbias : &part_b) : &part_b;
  if ((st = ops_kernel(rt, &c, "layernorm_grad.cl", "layernorm_grad_cols", &k, err))) goto done;
  ops_args_begin(&a, k);
  ops_arg_tensor(&a, dy);
  ops_arg_tensor(&a, x);
  ops_arg_tensor(&a, &stats);
  ops_arg_u32(&a, rows);
  ops_arg_u32(&a, w);
  ops_arg_u32(&a, block_rows(rows, chunks));
  ops_arg_u32(&a, chunks);
  ops_arg_tensor(&a, ts);
  ops_arg_tensor(&a, tb);
  ops_arg_u32(&a, (size_t) final);
  if ((st = ops_args_end(rt, &a, "layernorm_grad_cols", err))) goto done;
  size_t items = chunks * ((w + c.vec - 1) / c.vec);
  st = ops_launch_1d(rt, k, items, c.group ? c.local_elems : c.local_rows, err);
  if (st || final) goto done;
  if (dscale) st = clippo_op_colsum(rt, &part_s, 1.0f, dscale, NULL, err);
  if (!st && dbias) st = clippo_op_colsum(rt, &part_b, 1.0f, dbias, NULL, err);
  if (st) clippo_error_prefix(err, "%s: ", op);
done:
  clippo_tensor_release(rt, &tmp);
  return st;
}
