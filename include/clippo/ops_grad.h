/* Backward ops of the ViT on a device (the gradient half of clippo/ops.h), one family per
 * kernels/<family>_grad.cl + host/ops/<family>_grad.c + host/ops/ref/<family>_grad_ref.c +
 * tests/test_op_<family>_grad.c, plus the column-sum helper (kernels/reduce.cl,
 * host/ops/reduce.c) and the attention backward (host/ops/attention_grad.c, built from the
 * forward ops and clippo_gemm).
 *
 * Conventions as in clippo/ops.h: float32 row-major tensors, views honoured, shapes checked once
 * per call, work only enqueued on rt's in-order queue. Parameter gradients are always
 * accumulated (+=) so that several backward calls sum; activation gradients are overwritten
 * unless an `accumulate` flag says otherwise.
 *
 * Column reductions (bias and LayerNorm scale gradients, the position embedding) over up to
 * ~100k rows run in two stages: chunks of rows summed into partial rows (one work-item per chunk
 * and VEC columns, no local memory: fast on CPU devices), then the partial rows summed. A `ws`
 * argument is a float32 workspace for the partial rows; NULL makes the op allocate a temporary
 * one when it needs it. */
#ifndef CLIPPO_OPS_GRAD_H
#define CLIPPO_OPS_GRAD_H

#include "clippo/ops.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- reduce (kernels/reduce.cl) -------------------------------------------------------- */

/** Number of partial rows the two-stage column sum of `rows` rows uses (1: a single pass, no
 * workspace). */
size_t clippo_colsum_chunks(size_t rows);

/** Floats of workspace clippo_op_colsum needs for x (rows, w): chunks(rows) * w, or 0. */
size_t clippo_colsum_workspace_floats(size_t rows, size_t w);

/** out (w) = beta * out + sum over rows of x (rows, w) (beta == 0 never reads out). ws: at least
 * clippo_colsum_workspace_floats(rows, w) floats not overlapping x or out, or NULL. */
clippo_status clippo_op_colsum(clippo_rt *rt, const clippo_tensor *x, float beta,
                               clippo_tensor *out, clippo_tensor *ws, clippo_error *err);

/* ---- layernorm_grad (kernels/layernorm_grad.cl) ---------------------------------------- */

/** Floats of workspace clippo_op_layernorm_grad needs for (rows, w): per-row statistics 2 * rows
 * plus the partial rows of the scale and bias reductions. */
size_t clippo_layernorm_grad_workspace_floats(size_t rows, size_t w);

/** Backward of y = (x - mean) * rsqrt(var + eps) * scale + bias over rows of w: with
 * xhat = (x - mean) * rstd and g = dy * scale,
 * dx = rstd * (g - mean(g) - xhat * mean(g * xhat)) (overwritten, or added when accumulate),
 * dscale += colsum(dy * xhat), dbias += colsum(dy) (either may be NULL). dy, x, dx (rows, w);
 * dx must not overlap dy or x. ws: clippo_layernorm_grad_workspace_floats(rows, w) floats or
 * NULL. */
clippo_status clippo_op_layernorm_grad(clippo_rt *rt, const clippo_tensor *dy,
                                       const clippo_tensor *x, const clippo_tensor *scale,
                                       float eps, clippo_tensor *dx, int accumulate,
                                       clippo_tensor *dscale, clippo_tensor *dbias,
                                       clippo_tensor *ws, clippo_error *err);

/* ---- activation_grad (kernels/activation_grad.cl) -------------------------------------- */

/** GELU (tanh approximation) backward: dx = dy * gelu'(u) elementwise, u the pre-activation
 * (with its bias); dx may be dy itself (in place) but not overlap u. Any shapes of equal count. */
clippo_status clippo_op_gelu_grad(clippo_rt *rt, const clippo_tensor *u, const clippo_tensor *dy,
                                  clippo_tensor *dx, clippo_error *err);

/** clippo_op_gelu_grad at x = u + b[col] (u (rows, w) and b (w), or b NULL: x = u, any shape),
 * and h = gelu(x) in the same pass (a training backward recomputes the activation for the weight
 * gradient; the forward, clippo_op_linear_gelu_keep, kept u without its bias); h must not
 * overlap u, b, dy or dx, nor dx b. */
clippo_status clippo_op_gelu_grad_keep(clippo_rt *rt, const clippo_tensor *u,
                                       const clippo_tensor *b, const clippo_tensor *dy,
                                       clippo_tensor *dx, clippo_tensor *h, clippo_error *err);

/** Bias-add backward: db (w) += colsum(dy (rows, w)). ws as clippo_op_colsum. */
clippo_status clippo_op_bias_grad(clippo_rt *rt, const clippo_tensor *dy, clippo_tensor *db,
                                  clippo_tensor *ws, clippo_error *err);

/* ---- softmax_grad (kernels/softmax_grad.cl) -------------------------------------------- */

/** Backward of p = softmax(scale * x) per row of len: dx = scale * p * (dp - sum(dp * p)).
 * p, dp, dx (rows, len); dx may be dp itself (in place) but not overlap p. */
clippo_status clippo_op_softmax_grad(clippo_rt *rt, const clippo_tensor *p, const clippo_tensor *dp,
                                     float scale, clippo_tensor *dx, clippo_error *err);

/* ---- normalize_grad (kernels/normalize_grad.cl) ---------------------------------------- */

/** Backward of z = u / (||u||_2 + eps) per row: du = dz / (r + eps) - u (u . dz) / (r (r +
 * eps)^2), r = ||u|| (second term 0 when r = 0); overwritten, or added when accumulate. u, dz,
 * du (rows, w); du may be dz itself (not with accumulate) but must not overlap u. */
clippo_status clippo_op_l2normalize_grad(clippo_rt *rt, const clippo_tensor *u,
                                         const clippo_tensor *dz, float eps, clippo_tensor *du,
                                         int accumulate, clippo_error *err);

/** Backward of the token mean (pool 'gap'): dx[b * t + k, c] = dy[b, c] / t for dy (n, w), dx
 * (n * t, w) (overwritten, or added when accumulate); dx must not overlap dy. */
clippo_status clippo_op_mean_tokens_grad(clippo_rt *rt, const clippo_tensor *dy, size_t t,
                                         clippo_tensor *dx, int accumulate, clippo_error *err);

/* ---- attention_grad (host/ops/attention_grad.c) ---------------------------------------- */

/** What the training forward of one attention keeps for its backward (n images, tq query and tk
 * key tokens, W = heads * hd): per-head q (scaled by 1/sqrt(hd), bias included) (n * heads * tq,
 * hd), k and v (n * heads * tk, hd); the softmax probabilities p (n * heads * tq, tk); the merged
 * context ctx (n * tq, W) that enters the out projection. rows (set by the forward): q, k and v
 * hold the projections as rows instead, (n * tq, W) and (n * tk, W) without bias or scale (the
 * fused attention of CPU devices, kernels/attention.cl's attention_rows_fwd / _bwd). */
typedef struct clippo_mha_saved {
  clippo_tensor q, k, v, p, ctx;
  int rows;
} clippo_mha_saved;

/** Allocates the tensors of *s (owned; release with clippo_mha_saved_release). */
clippo_status clippo_mha_saved_alloc(clippo_rt *rt, clippo_mha_saved *s, size_t n, size_t tq,
                                     size_t tk, size_t width, int heads, clippo_error *err);

/** Releases what clippo_mha_saved_alloc allocated (safe on a zeroed struct). */
void clippo_mha_saved_release(clippo_rt *rt, clippo_mha_saved *s);

/** Floats of scratch clippo_mha_train_forward and clippo_mha_backward need:
 * 2 n tq W + n heads tq tk + 4 n tk W. */
size_t clippo_mha_grad_scratch_floats(size_t n, size_t tq, size_t tk, size_t width, int heads);

/** clippo_mha (same arguments and result) that also fills *s for the backward. Always uses the
 * separate wq, wk, wv, bq, bk, bv (w->wqkv / bqkv are ignored, so parameters updated in place are
 * always current). scratch: clippo_mha_grad_scratch_floats(...) floats, overlapping nothing
 * else. */
clippo_status clippo_mha_train_forward(clippo_rt *rt, const clippo_mha_weights *w, int heads,
                                       size_t n, const clippo_tensor *xq, const clippo_tensor *xkv,
                                       clippo_mha_saved *s, clippo_tensor *scratch, int accumulate,
                                       clippo_tensor *out, clippo_error *err);

/** Gradients of one attention's weights, shapes as in clippo_mha_weights (2-D (W, W) kernels,
 * (W) biases); accumulated (+=). */
typedef struct clippo_mha_grads {
  clippo_tensor *wq, *wk, *wv, *bq, *bk, *bv, *wo, *bo;
} clippo_mha_grads;

/** Backward of out = MHA(xq, xkv) given dout (n * tq, W) and what clippo_mha_train_forward saved
 * for the same xq, xkv and weights: accumulates the weight gradients into *g and writes
 * dxq (n * tq, W) and dxkv (n * tk, W) (added to instead when accumulate). dxq or dxkv may be
 * NULL; when they are the same view (self-attention) both contributions are summed there.
 * scratch as for the forward; ws: colsum workspace for n * max(tq, tk) rows of W, or NULL. */
clippo_status clippo_mha_backward(clippo_rt *rt, const clippo_mha_weights *w, int heads, size_t n,
                                  const clippo_tensor *xq, const clippo_tensor *xkv,
                                  const clippo_mha_saved *s, const clippo_tensor *dout,
                                  const clippo_mha_grads *g, clippo_tensor *dxq,
                                  clippo_tensor *dxkv, int accumulate, clippo_tensor *scratch,
                                  clippo_tensor *ws, clippo_error *err);

/* ---- plain C references (host/ops/ref/<family>_grad_ref.c): float inputs, float64 outputs
 * -------- */

/** out[c] = sum_r x[r, c]. */
void clippo_ref_colsum(const float *x, size_t rows, size_t w, double *out);

/** LayerNorm backward (see clippo_op_layernorm_grad); dx (rows * w), dscale, dbias (w) are
 * overwritten; dscale / dbias may be NULL. */
void clippo_ref_layernorm_grad(const float *dy, const float *x, const float *scale, size_t rows,
                               size_t w, double eps, double *dx, double *dscale, double *dbias);

/** Derivative of the tanh-approximation GELU at x. */
double clippo_ref_gelu_deriv(double x);

/** dx = dy * gelu'(u) over n values. */
void clippo_ref_gelu_grad(const float *u, const float *dy, size_t n, double *dx);

/** dx = scale * p * (dp - sum(dp * p)) per row of len. */
void clippo_ref_softmax_grad(const float *p, const float *dp, size_t rows, size_t len, double scale,
                             double *dx);

/** Backward of y = z / (||z|| + eps) per row of w. */
void clippo_ref_l2normalize_grad(const float *u, const float *dz, size_t rows, size_t w, double eps,
                                 double *du);

/** dx[b * t + k, c] = dy[b, c] / t. */
void clippo_ref_mean_tokens_grad(const float *dy, size_t n, size_t t, size_t w, double *dx);

/** Backward of clippo_ref_mha (same argument meanings) in float64: given dout (n * tq, w),
 * writes dxq (n * tq, w), dxkv (n * tk, w) and the weight gradients dwq, dwk, dwv, dwo (w * w),
 * dbq, dbk, dbv, dbo (w) (all overwritten; any may be NULL). */
clippo_status clippo_ref_mha_grad(const float *xq, const float *xkv, size_t n, size_t tq, size_t tk,
                                  size_t w, size_t heads, const float *wq, const float *bq,
                                  const float *wk, const float *bk, const float *wv,
                                  const float *bv, const float *wo, const float *dout, double *dxq,
                                  double *dxkv, double *dwq, double *dbq, double *dwk, double *dbk,
                                  double *dwv, double *dbv, double *dwo, double *dbo,
                                  clippo_error *err);

#ifdef __cplusplus
}
#endif
#endif
