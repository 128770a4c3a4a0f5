/* Multi-head attention for training: a forward that keeps q, k, v, the probabilities and the
 * merged context, and the backward built from clippo_gemm / clippo_gemm_batched, the head
 * split / merge ops, the softmax backward and column sums (clippo/ops_grad.h).
 *
 * Forward (per image b and head h, q scaled by s = 1/sqrt(hd)):
 *   Q = (xq Wq + bq) s, K = xkv Wk + bk, V = xkv Wv + bv   (split into heads)
 *   P = softmax(Q K^T), C = P V, ctx = merge(C), out = ctx Wo + bo
 * Backward given dout:
 *   dbo += colsum(dout), dWo += ctx^T dout, dC = split(dout Wo^T)
 *   dP = dC V^T, dV = P^T dC, dS = P * (dP - rowsum(dP * P))
 *   dQ' = s dS K (gradient of the unscaled projection), dK = dS^T Q
 *   dW{q,k,v} += x^T merge(d{Q',K,V}), db += colsum(...), dx = merge(...) W^T. */
#include "clippo/ops_grad.h"

#include <math.h>
#include <stdio.h>

#include "clippo/gemm.h"
#include "ops/ops_internal.h"

static clippo_tensor view2(const clippo_tensor *t, size_t off, size_t rows, size_t cols) {
  int64_t shape[2] = {(int64_t)rows, (int64_t)cols};
  return clippo_tensor_view(t, off, 2, shape);
}

/* A 1-D view of everything in t from element off on (a GEMM operand starting mid-row). */
static clippo_tensor tail_view(const clippo_tensor *t, size_t off) {
  int64_t shape[1] = {(int64_t)(clippo_tensor_count(t) - off)};
  return clippo_tensor_view(t, off, 1, shape);
}

void clippo_mha_saved_release(clippo_rt *rt, clippo_mha_saved *s) {
  clippo_tensor_release(rt, &s->q);
  clippo_tensor_release(rt, &s->k);
  clippo_tensor_release(rt, &s->v);
  clippo_tensor_release(rt, &s->p);
  clippo_tensor_release(rt, &s->ctx);
}

static clippo_status alloc2(clippo_rt *rt, clippo_tensor *t, size_t a, size_t b,
                            clippo_error *err) {
  int64_t shape[2] = {(int64_t)a, (int64_t)b};
  return clippo_tensor_alloc(rt, t, CLIPPO_F32, 2, shape, err);
}

clippo_status clippo_mha_saved_alloc(clippo_rt *rt, clippo_mha_saved *s, size_t n, size_t tq,
                                     size_t tk, size_t width, int heads, clippo_error *err) {
  if (heads <= 0 || width == 0 || width % (size_t)heads != 0)
    return clippo_fail(err, CLIPPO_E_ARG, "mha saved: width %zu not divisible by %d heads", width,
                       heads);
  size_t h = (size_t)heads, hd = width / h;
  clippo_status st = alloc2(rt, &s->q, n * h * tq, hd, err);
  if (!st) st = alloc2(rt, &s->k, n * h * tk, hd, err);
  if (!st) st = alloc2(rt, &s->v, n * h * tk, hd, err);
  if (!st) st = alloc2(rt, &s->p, n * h * tq, tk, err);
  if (!st) st = alloc2(rt, &s->ctx, n * tq, width, err);
  if (st) {
    clippo_mha_saved_release(rt, s);
    return clippo_error_prefix(err, "mha saved activations: ");
  }
  return CLIPPO_OK;
}

size_t clippo_mha_grad_scratch_floats(size_t n, size_t tq, size_t tk, size_t width, int heads) {
  size_t h = heads > 0 ? (size_t)heads : 0;
  return 2 * n * tq * width + n * h * tq * tk + 4 * n * tk * width;
}

/* Shapes shared by the forward and the backward. */
typedef struct mha_dims {
  size_t n, tq, tk, rq, rk, width, hd, heads;
  float q_scale;
} mha_dims;

static clippo_status check_common(const char *op, const clippo_mha_weights *w, int heads, size_t n,
                                  const clippo_tensor *xq, const clippo_tensor *xkv,
                                  const clippo_mha_saved *s, clippo_tensor *scratch, mha_dims *d,
                                  clippo_error *err) {
  size_t rq = 0, rk = 0, width = 0;
  clippo_status st = ops_check_rows(xq, 0, &rq, &width, op, "xq", err);
  if (st) return st;
  if ((st = ops_check_rows(xkv, width, &rk, NULL, op, "xkv", err))) return st;
  if (!w || !w->wq || !w->wk || !w->wv || !w->bq || !w->bk || !w->bv || !w->wo || !w->bo)
    return clippo_fail(err, CLIPPO_E_ARG, "%s: wq, wk, wv, bq, bk, bv, wo, bo are all needed", op);
  if (heads <= 0 || width % (size_t)heads != 0)
    return clippo_fail(err, CLIPPO_E_SHAPE, "%s: width %zu not divisible by %d heads", op, width,
                       heads);
  if (n == 0 || rq % n != 0 || rk % n != 0 || rq == 0 || rk == 0)
    return clippo_fail(err, CLIPPO_E_SHAPE,
                       "%s: %zu query rows and %zu key rows are not positive multiples of n = %zu",
                       op, rq, rk, n);
  const clippo_tensor *ts[8] = {w->wq, w->wk, w->wv, w->wo, w->bq, w->bk, w->bv, w->bo};
  static const char *names[8] = {"wq", "wk", "wv", "wo", "bq", "bk", "bv", "bo"};
  for (int i = 0; i < 8; i++)
    if ((st = ops_check_count(ts[i], i < 4 ? width * width : width, op, names[i], err))) return st;
  d->n = n;
  d->tq = rq / n;
  d->tk = rk / n;
  d->rq = rq;
  d->rk = rk;
  d->width = width;
  d->heads = (size_t)heads;
  d->hd = width / (size_t)heads;
  d->q_scale = (float)(1.0 / sqrt((double)d->hd));
  size_t H = d->heads;
  if ((st = ops_check_count(&s->q, rq * width, op, "saved q", err))) return st;
  if ((st = ops_check_count(&s->k, rk * width, op, "saved k", err))) return st;
  if ((st = ops_check_count(&s->v, rk * width, op, "saved v", err))) return st;
  if ((st = ops_check_count(&s->p, n * H * d->tq * d->tk, op, "saved p", err))) return st;
  if ((st = ops_check_count(&s->ctx, rq * width, op, "saved ctx", err))) return st;
  if ((st = ops_check_f32(scratch, op, "scratch", err))) return st;
  size_t need = clippo_mha_grad_scratch_floats(n, d->tq, d->tk, width, heads);
  if (clippo_tensor_count(scratch) < need)
    return clippo_fail(err, CLIPPO_E_SHAPE,
                       "%s: scratch has %zu floats, %zu needed (n %zu, tq %zu, tk %zu, W %zu, %d "
                       "heads)",
                       op, clippo_tensor_count(scratch), need, n, d->tq, d->tk, width, heads);
  return CLIPPO_OK;
}

/* 1 when the training attention runs fused (attention_rows_fwd / _bwd, the saved q, k, v as rows):
 * ops_attention_rows_ok for both kernels; else the batched products with head split / merge. */
static int rows_path(clippo_rt *rt, const mha_dims *d, ops_class *c) {
  *c = ops_class_of(rt);
  return ops_attention_rows_ok(rt, c, d->tk, d->width, (int)d->heads, 1);
}

/* The saved projection rows of a fused forward as the fused kernels' operands: rows[i] views
 * s->q, s->k, s->v as (n * t, W), as[i] points at them with the biases. */
static void saved_srcs(const clippo_mha_weights *w, const mha_dims *d, const clippo_mha_saved *s,
                       clippo_tensor rows[3], clippo_attention_src as[3]) {
  const clippo_tensor *xs[3] = {&s->q, &s->k, &s->v}, *bias[3] = {w->bq, w->bk, w->bv};
  size_t t[3] = {d->rq, d->rk, d->rk};
  for (int i = 0; i < 3; i++) {
    rows[i] = view2(xs[i], 0, t[i], d->width);
    as[i].t = &rows[i];
    as[i].ld = d->width;
    as[i].col = 0;
    as[i].bias = bias[i];
  }
}

/* The fused forward: s->q, s->k, s->v are already the projections as rows; writes s->p and
 * s->ctx. */
static clippo_status rows_forward(clippo_rt *rt, const clippo_mha_weights *w, const mha_dims *d,
                                  clippo_mha_saved *s, clippo_error *err) {
  clippo_tensor rows[3];
  clippo_attention_src as[3];
  saved_srcs(w, d, s, rows, as);
  return clippo_op_attention_rows(rt, &as[0], &as[1], &as[2], d->q_scale, d->n, d->tq, d->tk,
                                  (int)d->heads, d->hd, &s->ctx, &s->p, err);
}

/* The fused backward from dc (the context's gradient as rows): dq (the unscaled query
 * projection's gradient), dk, dv as rows (n * t, W) ldd apart; with sums (3 n, W) also each image's
 * column sums of dq, then dk, then dv (NULL: not computed). */
static clippo_status rows_backward(clippo_rt *rt, const ops_class *c, const clippo_mha_weights *w,
                                   const mha_dims *d, const clippo_mha_saved *s,
                                   const clippo_tensor *dc, clippo_tensor *dq, clippo_tensor *dk,
                                   clippo_tensor *dv, size_t ldd, clippo_tensor *sums,
                                   clippo_error *err) {
  cl_kernel kern;
  int per_head = ops_attention_rows_per_head(c, d->tk, d->width, (int)d->heads, 1);
  const size_t cw = per_head ? d->hd : d->width; /* columns each work-item stages */
  clippo_status st = ops_attention_rows_kernel(rt, c, "attention_rows_bwd", per_head, &kern, err);
  if (st) return st;
  size_t tkv = ops_attention_rows_tkv(c, d->tk);
  clippo_tensor rows[3];
  clippo_attention_src as[3];
  saved_srcs(w, d, s, rows, as);
  const clippo_attention_src *in[3] = {&as[0], &as[1], &as[2]};
  ops_args a;
  ops_args_begin(&a, kern);
  ops_attention_src_args(&a, in, d->q_scale);
  ops_arg_tensor(&a, &s->p);
  ops_arg_tensor(&a, dc);
  ops_arg_u32(&a, d->width);
  ops_arg_tensor(&a, dq);
  ops_arg_tensor(&a, dk);
  ops_arg_tensor(&a, dv);
  ops_arg_u32(&a, ldd);
  ops_arg_tensor(&a, sums ? sums : dq);
  ops_arg_u32(&a, sums != NULL);
  ops_arg_u32(&a, d->n);
  ops_arg_u32(&a, d->tq);
  ops_arg_u32(&a, d->tk);
  ops_arg_u32(&a, d->hd);
  ops_arg_u32(&a, d->width);
  ops_arg_local_floats(&a, cw * tkv);
  for (int i = 0; i < 3; i++) ops_arg_local_floats(&a, d->tk * cw);
  size_t r = c->att_rows;
  ops_arg_local_floats(&a, r * tkv);
  ops_arg_local_floats(&a, r * tkv);
  ops_arg_local_floats(&a, r * cw);
  ops_arg_local_floats(&a, r * cw);
  if ((st = ops_args_end(rt, &a, "attention_rows_bwd", err))) return st;
  return ops_launch_groups(rt, kern, per_head ? d->n * d->heads : d->n, 1, err);
}

clippo_status clippo_mha_train_forward(clippo_rt *rt, const clippo_mha_weights *w, int heads,
                                       size_t n, const clippo_tensor *xq, const clippo_tensor *xkv,
                                       clippo_mha_saved *s, clippo_tensor *scratch, int accumulate,
                                       clippo_tensor *out, clippo_error *err) {
  static const char op[] = "mha_train_forward";
  mha_dims d;
  clippo_status st = check_common(op, w, heads, n, xq, xkv, s, scratch, &d, err);
  if (st) return st;
  if ((st = ops_check_count(out, d.rq * d.width, op, "out", err))) return st;
  const clippo_tensor *saved[5] = {&s->q, &s->k, &s->v, &s->p, &s->ctx};
  for (int i = 0; i < 5; i++)
    if (!ops_disjoint(saved[i], xq) || !ops_disjoint(saved[i], xkv) ||
        !ops_disjoint(saved[i], out) || !ops_disjoint(saved[i], scratch))
      return clippo_fail(err, CLIPPO_E_ARG, "%s: saved tensors overlap another argument", op);
  if (!ops_disjoint(out, xq) || !ops_disjoint(out, xkv) || !ops_disjoint(scratch, xq) ||
      !ops_disjoint(scratch, xkv) || !ops_disjoint(scratch, out))
    return clippo_fail(err, CLIPPO_E_ARG, "%s: out or scratch overlaps an input", op);
  const size_t W = d.width, rq = d.rq, rk = d.rk, hd = d.hd, B = d.n * d.heads;
  int self = xq->mem == xkv->mem && xq->offset == xkv->offset && rq == rk;
  ops_class cls;
  s->rows = rows_path(rt, &d, &cls);
  if (s->rows) { /* projections straight into the saved rows, then the fused kernel */
    const clippo_tensor *wr[3] = {w->wq, w->wk, w->wv}, *xr[3] = {xq, xkv, xkv};
    clippo_tensor *to[3] = {&s->q, &s->k, &s->v};
    size_t nr[3] = {rq, rk, rk};
    for (int i = 0; i < 3 && !st; i++) {
      clippo_tensor c = view2(to[i], 0, nr[i], W);
      st = clippo_gemm(rt, 0, 0, nr[i], W, W, 1.0f, xr[i], W, wr[i], W, 0.0f, &c, W, err);
    }
    if (st) return clippo_error_prefix(err, "%s: projections: ", op);
    if (rows_forward(rt, w, &d, s, err)) return clippo_error_prefix(err, "%s: ", op);
    goto out_projection;
  }

  /* projections, then heads (bias added, q scaled) */
  clippo_tensor src[3];
  size_t ld[3], col[3];
  const clippo_tensor *wm[3] = {w->wq, w->wk, w->wv}, *bias[3] = {w->bq, w->bk, w->bv};
  if (self) {
    clippo_tensor proj = view2(scratch, 0, rq, 3 * W);
    for (int i = 0; i < 3 && !st; i++) {
      clippo_tensor c = tail_view(scratch, (size_t)i * W);
      st = clippo_gemm(rt, 0, 0, rq, W, W, 1.0f, xq, W, wm[i], W, 0.0f, &c, 3 * W, err);
      src[i] = proj;
      ld[i] = 3 * W;
      col[i] = (size_t)i * W;
    }
  } else {
    clippo_tensor pq = view2(scratch, 0, rq, W), pkv = view2(scratch, rq * W, rk, 2 * W);
    st = clippo_gemm(rt, 0, 0, rq, W, W, 1.0f, xq, W, wm[0], W, 0.0f, &pq, W, err);
    for (int i = 1; i < 3 && !st; i++) {
      clippo_tensor c = tail_view(scratch, rq * W + (size_t)(i - 1) * W);
      st = clippo_gemm(rt, 0, 0, rk, W, W, 1.0f, xkv, W, wm[i], W, 0.0f, &c, 2 * W, err);
    }
    src[0] = pq;
    ld[0] = W;
    col[0] = 0;
    src[1] = src[2] = pkv;
    ld[1] = ld[2] = 2 * W;
    col[1] = 0;
    col[2] = W;
  }
  if (st) return clippo_error_prefix(err, "%s: projections: ", op);
  clippo_tensor *dst[3] = {&s->q, &s->k, &s->v};
  size_t tok[3] = {d.tq, d.tk, d.tk};
  for (int i = 0; i < 3; i++) {
    st = clippo_op_heads_split(rt, &src[i], ld[i], col[i], bias[i], i == 0 ? d.q_scale : 1.0f,
                               tok[i], heads, dst[i], err);
    if (st) return clippo_error_prefix(err, "%s: ", op);
  }
  /* P = softmax(Q K^T) per (image, head) */
  st = ops_attention_probs(rt, d.tq, d.tk, hd, &s->q, &s->k, &s->p, B, err);
  if (st) return clippo_error_prefix(err, "%s: softmax(q k^T): ", op);
  /* C = P V (heads layout, in scratch after the projections), merged into ctx */
  clippo_tensor ch = view2(scratch, rq * W + 2 * rk * W, B * d.tq, hd);
  st = clippo_gemm_batched(rt, 0, 0, d.tq, hd, d.tk, 1.0f, &s->p, d.tk, d.tq * d.tk, &s->v, hd,
                           d.tk * hd, 0.0f, &ch, hd, d.tq * hd, B, err);
  if (st) return clippo_error_prefix(err, "%s: p v: ", op);
  if (clippo_op_heads_merge(rt, &ch, d.tq, heads, &s->ctx, err))
    return clippo_error_prefix(err, "%s: ", op);
out_projection:
  st = clippo_gemm(rt, 0, 0, rq, W, W, 1.0f, &s->ctx, W, w->wo, W, accumulate ? 1.0f : 0.0f, out, W,
                   err);
  if (st) return clippo_error_prefix(err, "%s: out projection: ", op);
  if (clippo_op_bias_add(rt, out, w->bo, err)) return clippo_error_prefix(err, "%s: ", op);
  return CLIPPO_OK;
}

static int same_view(const clippo_tensor *a, const clippo_tensor *b) {
  return a->mem == b->mem && a->offset == b->offset &&
         clippo_tensor_count(a) == clippo_tensor_count(b);
}

clippo_status clippo_mha_backward(clippo_rt *rt, const clippo_mha_weights *w, int heads, size_t n,
                                  const clippo_tensor *xq, const clippo_tensor *xkv,
                                  const clippo_mha_saved *s, const clippo_tensor *dout,
                                  const clippo_mha_grads *g, clippo_tensor *dxq,
                                  clippo_tensor *dxkv, int accumulate, clippo_tensor *scratch,
                                  clippo_tensor *ws, clippo_error *err) {
  static const char op[] = "mha_backward";
  mha_dims d;
  clippo_status st = check_common(op, w, heads, n, xq, xkv, s, scratch, &d, err);
  if (st) return st;
  const size_t W = d.width, rq = d.rq, rk = d.rk, hd = d.hd, B = d.n * d.heads;
  const size_t tq = d.tq, tk = d.tk;
  if ((st = ops_check_count(dout, rq * W, op, "dout", err))) return st;
  if (!g || !g->wq || !g->wk || !g->wv || !g->bq || !g->bk || !g->bv || !g->wo || !g->bo)
    return clippo_fail(err, CLIPPO_E_ARG, "%s: every weight gradient is needed", op);
  const clippo_tensor *gt[8] = {g->wq, g->wk, g->wv, g->wo, g->bq, g->bk, g->bv, g->bo};
  static const char *gn[8] = {"dwq", "dwk", "dwv", "dwo", "dbq", "dbk", "dbv", "dbo"};
  for (int i = 0; i < 8; i++)
    if ((st = ops_check_count(gt[i], i < 4 ? W * W : W, op, gn[i], err))) return st;
  if (dxq && (st = ops_check_count(dxq, rq * W, op, "dxq", err))) return st;
  if (dxkv && (st = ops_check_count(dxkv, rk * W, op, "dxkv", err))) return st;
  int shared_dx = dxq && dxkv && same_view(dxq, dxkv);
  if (dxq && dxkv && !shared_dx && !ops_disjoint(dxq, dxkv))
    return clippo_fail(err, CLIPPO_E_ARG, "%s: dxq partially overlaps dxkv", op);
  if ((dxq && (!ops_disjoint(dxq, scratch) || !ops_disjoint(dxq, dout))) ||
      (dxkv && (!ops_disjoint(dxkv, scratch) || !ops_disjoint(dxkv, dout))) ||
      !ops_disjoint(scratch, dout) || !ops_disjoint(scratch, xq) || !ops_disjoint(scratch, xkv))
    return clippo_fail(err, CLIPPO_E_ARG, "%s: dxq, dxkv, dout, xq, xkv or scratch overlap", op);

  /* scratch regions: A (rq W) dctx then dQ' merged; Bh (rq W) dC then dQ' heads; DP (B tq tk);
   * DKH, DVH (rk W) heads; DK, DV (rk W) merged */
  size_t oA = 0, oB = rq * W, oDP = 2 * rq * W, oDKH = oDP + B * tq * tk, oDVH = oDKH + rk * W;
  size_t oDK = oDVH + rk * W, oDV = oDK + rk * W;
  clippo_tensor A = view2(scratch, oA, rq, W), Bh = view2(scratch, oB, B * tq, hd);
  clippo_tensor DP = view2(scratch, oDP, B * tq, tk);
  clippo_tensor DKH = view2(scratch, oDKH, B * tk, hd), DVH = view2(scratch, oDVH, B * tk, hd);
  clippo_tensor DK = view2(scratch, oDK, rk, W), DV = view2(scratch, oDV, rk, W);

  /* out projection */
  if ((st = clippo_op_colsum(rt, dout, 1.0f, g->bo, ws, err))) goto fail;
  if ((st = clippo_gemm(rt, 1, 0, W, W, rq, 1.0f, &s->ctx, W, dout, W, 1.0f, g->wo, W, err)))
    goto fail;
  if ((st = clippo_gemm(rt, 0, 1, rq, W, W, 1.0f, dout, W, w->wo, W, 0.0f, &A, W, err))) goto fail;
  const clippo_tensor *dproj[3] = {&A, &DK, &DV};
  clippo_tensor DQ = view2(scratch, oB, rq, W);
  int bias_done = 0; /* the bias gradients already have their column sums */
  if (s->rows) {     /* the fused kernel, from and into rows */
    ops_class cls;
    if (!rows_path(rt, &d, &cls)) {
      st = clippo_fail(err, CLIPPO_E_ARG,
                       "the forward ran the fused attention (attention_rows), which this device "
                       "or setting no longer runs (was rt->settings.attention changed?)");
      goto fail;
    }
    /* each image's column sums of dq, dk, dv (for the biases) in the regions the batched path
     * uses for dP and the per-head dK, dV, when they hold them (tk > 1 always does) */
    size_t nW = d.n * W;
    int sums = 3 * nW <= oDK - oDP;
    clippo_tensor S = view2(scratch, oDP, 3 * d.n, W);
    /* Self-attention into one input gradient: dq, dk, dv side by side as one (rq, 3W) block
     * over the per-head regions, so that their three weight gradients are one product (into G,
     * then added to each) and so is the input gradient (with the weights packed side by side):
     * deeper and wider products than three of W x W (2-vCPU EPYC, 8192 rows, W 128: 3.9-4.2
     * against 4.5-4.7 ms for the weights, 4.2 against 4.3 for the input). G and the packed
     * weights (W x 3W each) follow the sums. */
    size_t oG = oDP + 3 * nW, oWp = oG + 3 * W * W;
    int qkv = sums && xq->mem == xkv->mem && xq->offset == xkv->offset && rq == rk && shared_dx &&
              oWp + 3 * W * W <= oDKH;
    clippo_tensor DQKV = view2(scratch, oDKH, rq, 3 * W), dqs[3] = {DQ, DK, DV};
    if (qkv)
      for (int i = 0; i < 3; i++) dqs[i] = tail_view(scratch, oDKH + (size_t)i * W);
    if ((st = rows_backward(rt, &cls, w, &d, s, &A, &dqs[0], &dqs[1], &dqs[2], qkv ? 3 * W : W,
                            sums ? &S : NULL, err)))
      goto fail;
    dproj[0] = &DQ;
    if (sums) {
      clippo_tensor *gb[3] = {g->bq, g->bk, g->bv};
      for (int i = 0; i < 3; i++) {
        clippo_tensor part = view2(scratch, oDP + (size_t)i * nW, d.n, W);
        if ((st = clippo_op_colsum(rt, &part, 1.0f, gb[i], ws, err))) goto fail;
      }
      bias_done = 1;
    }
    if (!qkv) goto projections;
    clippo_tensor G = view2(scratch, oG, W, 3 * W), Wp = view2(scratch, oWp, W, 3 * W);
    clippo_tensor *gw[3] = {g->wq, g->wk, g->wv};
    const clippo_tensor *wr[3] = {w->wq, w->wk, w->wv};
    if ((st = clippo_gemm(rt, 1, 0, W, 3 * W, rq, 1.0f, xq, W, &DQKV, 3 * W, 0.0f, &G, 3 * W, err)))
      goto fail;
    for (int i = 0; i < 3; i++)
      if ((st = clippo_op_add2d(rt, &G, 3 * W, (size_t)i * W, gw[i], W, 0, W, W, err))) goto fail;
    for (int i = 0; i < 3; i++)
      if ((st = clippo_op_copy2d(rt, wr[i], W, 0, &Wp, 3 * W, (size_t)i * W, W, W, err))) goto fail;
    if ((st = clippo_gemm(rt, 0, 1, rq, W, 3 * W, 1.0f, &DQKV, 3 * W, &Wp, 3 * W,
                          accumulate ? 1.0f : 0.0f, dxq, W, err)))
      goto fail;
    return CLIPPO_OK;
  }
  if ((st = clippo_op_heads_split(rt, &A, W, 0, NULL, 1.0f, tq, heads, &Bh, err))) goto fail;
  /* dP = dC V^T, dV = P^T dC */
  if ((st = clippo_gemm_batched(rt, 0, 1, tq, tk, hd, 1.0f, &Bh, hd, tq * hd, &s->v, hd, tk * hd,
                                0.0f, &DP, tk, tq * tk, B, err)))
    goto fail;
  if ((st = clippo_gemm_batched(rt, 1, 0, tk, hd, tq, 1.0f, &s->p, tk, tq * tk, &Bh, hd, tq * hd,
                                0.0f, &DVH, hd, tk * hd, B, err)))
    goto fail;
  /* dS, then dQ' = s dS K and dK = dS^T Q */
  if ((st = clippo_op_softmax_grad(rt, &s->p, &DP, 1.0f, &DP, err))) goto fail;
  if ((st = clippo_gemm_batched(rt, 0, 0, tq, hd, tk, d.q_scale, &DP, tk, tq * tk, &s->k, hd,
                                tk * hd, 0.0f, &Bh, hd, tq * hd, B, err)))
    goto fail;
  if ((st = clippo_gemm_batched(rt, 1, 0, tk, hd, tq, 1.0f, &DP, tk, tq * tk, &s->q, hd, tq * hd,
                                0.0f, &DKH, hd, tk * hd, B, err)))
    goto fail;
  if ((st = clippo_op_heads_merge(rt, &Bh, tq, heads, &A, err))) goto fail;
  if ((st = clippo_op_heads_merge(rt, &DKH, tk, heads, &DK, err))) goto fail;
  if ((st = clippo_op_heads_merge(rt, &DVH, tk, heads, &DV, err))) goto fail;
projections: /* projection weights and biases */;
  const clippo_tensor *xs[3] = {xq, xkv, xkv};
  clippo_tensor *gw[3] = {g->wq, g->wk, g->wv}, *gb[3] = {g->bq, g->bk, g->bv};
  size_t rows[3] = {rq, rk, rk};
  for (int i = 0; i < 3; i++) {
    if (!bias_done && (st = clippo_op_colsum(rt, dproj[i], 1.0f, gb[i], ws, err))) goto fail;
    if ((st = clippo_gemm(rt, 1, 0, W, W, rows[i], 1.0f, xs[i], W, dproj[i], W, 1.0f, gw[i], W,
                          err)))
      goto fail;
  }
  /* input gradients */
  int wrote_shared = 0;
  if (dxq) {
    st = clippo_gemm(rt, 0, 1, rq, W, W, 1.0f, dproj[0], W, w->wq, W, accumulate ? 1.0f : 0.0f, dxq,
                     W, err);
    if (st) goto fail;
    wrote_shared = shared_dx;
  }
  if (dxkv) {
    float beta = (accumulate || wrote_shared) ? 1.0f : 0.0f;
    if ((st = clippo_gemm(rt, 0, 1, rk, W, W, 1.0f, &DK, W, w->wk, W, beta, dxkv, W, err)))
      goto fail;
    if ((st = clippo_gemm(rt, 0, 1, rk, W, W, 1.0f, &DV, W, w->wv, W, 1.0f, dxkv, W, err)))
      goto fail;
  }
  return CLIPPO_OK;
fail:
  clippo_error_prefix(err, "%s: ", op);
  return st; /* not clippo_error_prefix's value, which is CLIPPO_E_ARG when err is NULL */
}
