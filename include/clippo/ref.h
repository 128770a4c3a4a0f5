/* Plain C references of the ops in clippo/ops.h: float inputs, float64 arithmetic and outputs
 * (host/ops/ref/<family>_ref.c). Tests and fuzzers compare the kernels against them. Shapes as
 * in ops.h; all arrays are row-major and must not overlap unless stated. (The GEMM reference
 * lives in clippo/gemm.h.) */
#ifndef CLIPPO_REF_H
#define CLIPPO_REF_H

#include <stddef.h>

#include "clippo/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* patch */

/** images (n, s, s, 3) -> rows (n * t, p * p * 3), t = (s/p)^2, patch flattened (ph, pw, c). */
void clippo_ref_patchify(const float *images, size_t n, size_t s, size_t p, double *rows);

/** y[r, c] = x[r, c] + bias[c] + pos[r % t, c] for x (rows, w). */
void clippo_ref_add_bias_posemb(const float *x, const float *bias, const float *pos, size_t rows,
                                size_t t, size_t w, double *y);

/* layernorm */

/** y = (x - mean) / sqrt(var + eps) * scale + bias per row of w, biased variance. */
void clippo_ref_layernorm(const float *x, const float *scale, const float *bias, size_t rows,
                          size_t w, double eps, double *y);

/** sum = x + r; y = layernorm(sum). sum may be NULL. */
void clippo_ref_add_layernorm(const float *x, const float *r, const float *scale, const float *bias,
                              size_t rows, size_t w, double eps, double *sum, double *y);

/* activation */

/** GELU, tanh approximation: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))). */
double clippo_ref_gelu1(double x);

/** y = gelu(x) over n values. */
void clippo_ref_gelu(const float *x, size_t n, double *y);

/** y[r, c] = gelu(x[r, c] + b[c]) (gelu != 0) or x[r, c] + b[c] (gelu == 0), x (rows, w). */
void clippo_ref_bias_act(const float *x, const float *b, size_t rows, size_t w, int gelu,
                         double *y);

/* elementwise */

/** out = y + x over n values. */
void clippo_ref_add(const float *y, const float *x, size_t n, double *out);

/** out = alpha * x over n values. */
void clippo_ref_scale(const float *x, size_t n, double alpha, double *out);

/** out[r, :] = src[0..w) for r < rows. */
void clippo_ref_broadcast_rows(const float *src, size_t rows, size_t w, double *out);

/* softmax */

/** y = softmax(scale * x) over each row of len. */
void clippo_ref_softmax(const float *x, size_t rows, size_t len, double scale, double *y);

/* normalize */

/** y = z / (||z||_2 + eps) per row of w. */
void clippo_ref_l2normalize(const float *z, size_t rows, size_t w, double eps, double *y);

/** y[b, c] = mean over k < t of x[b * t + k, c]; x (n * t, w), y (n, w). */
void clippo_ref_mean_tokens(const float *x, size_t n, size_t t, size_t w, double *y);

/* attention */

/** dst (n * heads, t, hd)[(b*heads + h)*t + k, d] = (src[(b*t + k) * ld + col0 + h*hd + d] +
 * bias[h*hd + d]) * scale; src has rows = n * t; bias may be NULL. */
void clippo_ref_heads_split(const float *src, size_t rows, size_t ld, size_t col0,
                            const float *bias, double scale, size_t t, size_t heads, size_t hd,
                            double *dst);

/** dst (n * t, heads * hd)[b*t + k, h*hd + d] = src[((b*heads + h)*t + k) * hd + d]. */
void clippo_ref_heads_merge(const float *src, size_t rows, size_t t, size_t heads, size_t hd,
                            double *dst);

/** Scaled dot-product attention from projection rows, in float64 (the reference of
 * clippo_op_attention_flash): per image b < n and head h < heads, with q_i = (q[(b*tq + i) * ldq
 * + h*hd + d] + bq[h*hd + d]) * scale and k_j, v_j likewise from k, v (ldk, ldv; tk rows per
 * image; the biases may be NULL), out[(b*tq + i) * heads*hd + h*hd + d] = sum_j softmax_j(q_i .
 * k_j) v_j[d]. Fails only when scratch memory cannot be allocated. */
clippo_status clippo_ref_attention(const float *q, size_t ldq, const float *k, size_t ldk,
                                   const float *v, size_t ldv, const float *bq, const float *bk,
                                   const float *bv, double scale, size_t n, size_t tq, size_t tk,
                                   size_t heads, size_t hd, double *out, clippo_error *err);

/** Multi-head attention as big_vision computes it, in float64 throughout: for n images,
 * xq (n * tq, w), xkv (n * tk, w); wq, wk, wv (w, w) with column h * hd + d, bq, bk, bv (w);
 * wo (w, w) with row h * hd + d, bo (w); q divided by sqrt(hd) before q k^T; softmax over keys.
 * out (n * tq, w). Fails only when scratch memory cannot be allocated. */
clippo_status clippo_ref_mha(const float *xq, const float *xkv, size_t n, size_t tq, size_t tk,
                             size_t w, size_t heads, const float *wq, const float *bq,
                             const float *wk, const float *bk, const float *wv, const float *bv,
                             const float *wo, const float *bo, double *out, clippo_error *err);

/** Float64 reference of clippo_contrastive_loss (clippo/ops.h) on host arrays; returns the loss.
 * dzimg, dztxt (n * d doubles) and dt may be NULL. Returns NAN when scratch memory cannot be
 * allocated. */
double clippo_ref_contrastive_loss(const float *zimg, const float *ztxt, size_t n, size_t d,
                                   double t, double *dzimg, double *dztxt, double *dt);

#ifdef __cplusplus
}
#endif
#endif
