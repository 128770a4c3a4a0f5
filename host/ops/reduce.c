/* Launcher of kernels/reduce.cl: two-stage column sums (clippo/ops_grad.h). */
#include "clippo/ops_grad.h"

#include "ops/ops_internal.h"

/* Rows up to this many are summed in one pass; above it blocks of at least COLSUM_MIN_BLOCK rows,
 * at most COLSUM_MAX_BLOCKS blocks. */
#define COLSUM_ONE_PASS 512
#define COLSUM_MIN_BLOCK 64
#define COLSUM_MAX_BLOCKS 256

static size_t colsum_block_rows(size_t rows) {
  if (rows <= COLSUM_ONE_PASS) return rows ? rows : 1;
  size_t b = (rows + COLSUM_MAX_BLOCKS - 1) / COLSUM_MAX_BLOCKS;
  return b < COLSUM_MIN_BLOCK ? COLSUM_MIN_BLOCK : b;
}

size_t clippo_colsum_chunks(size_t rows) {
  size_t b = colsum_block_rows(rows);
  return rows <= COLSUM_ONE_PASS ? 1 : (rows + b - 1) / b;
}

size_t clippo_colsum_workspace_floats(size_t rows, size_t w) {
  size_t c = clippo_colsum_chunks(rows);
  return c > 1 ? c * w : 0;
}

/* One launch of colsum_chunks over x (rows, w) viewed from its buffer. */
static clippo_status colsum_launch(clippo_rt *rt, const ops_class *c, const clippo_tensor *x,
                                   size_t rows, size_t w, size_t block_rows, size_t blocks,
                                   clippo_tensor *out, int final, float beta, clippo_error *err) {
  cl_kernel k;
  clippo_status st = ops_kernel(rt, c, "reduce.cl", "colsum_chunks", &k, err);
  if (st) return st;
  ops_args a;
  ops_args_begin(&a, k);
  ops_arg_tensor(&a, x);
  ops_arg_u32(&a, rows);
  ops_arg_u32(&a, w);
  ops_arg_u32(&a, block_rows);
  ops_arg_u32(&a, blocks);
  ops_arg_tensor(&a, out);
  ops_arg_u32(&a, (size_t) final);
  ops_arg_f32(&a, beta);
  if ((st = ops_args_end(rt, &a, "colsum_chunks", err))) return st;
  size_t items = blocks * ((w + c->vec - 1) / c->vec);
  return ops_launch_1d(rt, k, items, c->group ? c->local_elems : c->local_rows, err);
}

clippo_status clippo_op_colsum(clippo_rt *rt, const clippo_tensor *x, float beta,
                               clippo_tensor *out, clippo_tensor *ws, clippo_error *err) {
  static const char op[] = "colsum";
  size_t rows = 0, w = 0;
  clippo_status st = ops_check_rows(x, 0, &rows, &w, op, "x", err);
  if (st) return st;
  if ((st = ops_check_count(out, w, op, "out", err))) return st;
  if (!ops_disjoint(x, out)) return clippo_fail(err, CLIPPO_E_ARG, "%s: out overlaps x", op);
  ops_class c = ops_class_of(rt);
  size_t chunks = clippo_colsum_chunks(rows), block = colsum_block_rows(rows);
  if (chunks == 1) return colsum_launch(rt, &c, x, rows, w, block, 1, out, 1, beta, err);
  size_t need = chunks * w;
  clippo_tensor tmp = {0};
  int64_t shape[2] = {(int64_t)chunks, (int64_t)w};
  clippo_tensor part;
  if (ws) {
    if ((st = ops_check_f32(ws, op, "ws", err))) return st;
    if (clippo_tensor_count(ws) < need)
      return clippo_fail(err, CLIPPO_E_SHAPE, "%s: workspace has %zu floats, %zu needed", op,
                         clippo_tensor_count(ws), need);
    part = clippo_tensor_view(ws, 0, 2, shape);
    if (!ops_disjoint(&part, x) || !ops_disjoint(&part, out))
      return clippo_fail(err, CLIPPO_E_ARG, "%s: workspace overlaps x or out", op);
  } else {
    if (clippo_tensor_alloc(rt, &tmp, CLIPPO_F32, 2, shape, err))
      return clippo_error_prefix(err, "%s: ", op);
    part = tmp;
  }
  st = colsum_launch(rt, &c, x, rows, w, block, chunks, &part, 0, 0.0f, err);
  if (!st) st = colsum_launch(rt, &c, &part, chunks, w, chunks, 1, out, 1, beta, err);
  /* Releasing is safe with work queued: OpenCL frees the buffer once the kernels are done. */
  clippo_tensor_release(rt, &tmp);
  return st;
}
