/* Forward ops of the ViT on a device: one family per kernels/<family>.cl, host/ops/<family>.c,
 * host/ops/ref/<family>_ref.c (plain C reference, include/clippo/ref.h) and
 * tests/test_op_<family>.c.
 *
 * Conventions:
 * - All tensors are float32, row-major; an "x (rows, w)" argument is any tensor whose last
 *   dimension is w (rows = count / w). Views (offsets) are honoured. Shapes are checked once per
 *   call; a mismatch returns CLIPPO_E_SHAPE naming the op and the argument.
 * - Ops only enqueue work on rt's in-order queue; call clippo_rt_finish (or read a tensor) to
 *   wait. Empty tensors launch nothing.
 * - Kernel shapes depend on the device class: CPU devices run one row per work-item with wide
 *   explicit vectors and no local memory; other devices one row per work-group with local-memory
 *   reductions. rt->settings.ops_variant (env CLIPPO_OPS_VARIANT=row|group when the runtime is
 *   created) forces one variant (tests and benchmarks use it; results agree to rounding). */
#ifndef CLIPPO_OPS_H
#define CLIPPO_OPS_H

#include "clippo/runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

/** The build options the op launchers give kernels/<family>.cl on rt's device (e.g.
 * "-DVEC=16 -w"): what `clippo bench --suite build` and offline compilation must use. */
void clippo_ops_build_options(const clippo_rt *rt, char *out, size_t size);

/** One argument of clippo_op_launch, in the kernel's order: a tensor (passed as its cl_mem then
 * its element offset as a uint), a uint or a float. Build them with CLIPPO_ARG_T/U/F. */
typedef struct clippo_op_arg {
  const clippo_tensor *t; /* CLIPPO_ARG_TENSOR */
  size_t u;               /* CLIPPO_ARG_U32 */
  float f;                /* CLIPPO_ARG_F32 */
  enum { CLIPPO_ARG_TENSOR, CLIPPO_ARG_U32, CLIPPO_ARG_F32 } kind;
} clippo_op_arg;

#define CLIPPO_ARG_T(x) ((clippo_op_arg){.t = (x), .kind = CLIPPO_ARG_TENSOR})
#define CLIPPO_ARG_U(x) ((clippo_op_arg){.u = (size_t)(x), .kind = CLIPPO_ARG_U32})
#define CLIPPO_ARG_F(x) ((clippo_op_arg){.f = (float)(x), .kind = CLIPPO_ARG_F32})

/** How clippo_op_launch groups its work-items: as the elementwise ops or as the one-row-per-
 * work-item ops do on rt's device. */
typedef enum clippo_op_grouping { CLIPPO_OP_ELEMS = 0, CLIPPO_OP_ROWS } clippo_op_grouping;

/** Launches kernel `name` of kernels/<file> built with the ops' options (clippo_ops_build_options)
 * over `items` work-items (the kernel checks bounds) with args in order; a graph being recorded
 * gets the launch. For the layers above that bring their own kernels (the optimizer's
 * kernels/optimizer.cl). Tensor arguments (any dtype) must have a buffer and stay below 2^32
 * elements. */
clippo_status clippo_op_launch(clippo_rt *rt, const char *file, const char *name,
                               clippo_op_grouping grouping, size_t items, const clippo_op_arg *args,
                               size_t nargs, clippo_error *err);

/** clippo_op_launch over a 3-D grid: work-item (x, y, z) for x < size[0] (the kernel checks it;
 * the first dimension is rounded up to the local size), y < size[1], z < size[2], in groups
 * along the first dimension. For kernels that would otherwise split a flat index by divisions. */
clippo_status clippo_op_launch_grid(clippo_rt *rt, const char *file, const char *name,
                                    const size_t size[3], const clippo_op_arg *args, size_t nargs,
                                    clippo_error *err);

/* ---- patch (kernels/patch.cl) ---------------------------------------------------------- */

/** Cuts NHWC images (n, s, s, 3) into patch rows (n * t, p * p * 3), t = (s / p)^2, token =
 * grid_row * (s / p) + grid_col, each patch flattened as (ph, pw, c), matching the patch kernel
 * (P, P, 3, W) reshaped to (P*P*3, W). s must be a multiple of p. */
clippo_status clippo_op_patchify(clippo_rt *rt, const clippo_tensor *images, int patch,
                                 clippo_tensor *rows, clippo_error *err);

/** x (n * t, w) += bias (w) + pos[t, :] with pos (t, w) (or (1, t, w)): the conv bias then the
 * position embedding (computed as (x + bias) + pos). */
clippo_status clippo_op_add_bias_posemb(clippo_rt *rt, clippo_tensor *x, const clippo_tensor *bias,
                                        const clippo_tensor *pos, clippo_error *err);

/* ---- layernorm (kernels/layernorm.cl) -------------------------------------------------- */

/** y = (x - mean) * rsqrt(var + eps) * scale + bias over rows of w (biased variance, two-pass).
 * x, y (rows, w); scale, bias (w). y may be x itself (in place). */
clippo_status clippo_op_layernorm(clippo_rt *rt, const clippo_tensor *x, const clippo_tensor *scale,
                                  const clippo_tensor *bias, float eps, clippo_tensor *y,
                                  clippo_error *err);

/** Residual add fused with LayerNorm: x += r; y = layernorm(x). x, r, y (rows, w); y must not
 * overlap x or r. */
clippo_status clippo_op_add_layernorm(clippo_rt *rt, clippo_tensor *x, const clippo_tensor *r,
                                      const clippo_tensor *scale, const clippo_tensor *bias,
                                      float eps, clippo_tensor *y, clippo_error *err);

/** clippo_op_add_layernorm with a bias per column too: x = (x + r) + xb[col]; y = layernorm(x)
 * (x a dense layer's product without its bias xb (w), r the residual: the residual's copy, the
 * layer's epilogue and the next LayerNorm in one pass; the sums rounded in the order of a product
 * accumulated onto its residual, then its bias). xb must not overlap x or y. */
clippo_status clippo_op_add_bias_layernorm(clippo_rt *rt, clippo_tensor *x, const clippo_tensor *xb,
                                           const clippo_tensor *r, const clippo_tensor *scale,
                                           const clippo_tensor *bias, float eps, clippo_tensor *y,
                                           clippo_error *err);

/* ---- activation (kernels/activation.cl) ------------------------------------------------ */

/** x = gelu(x) in place (tanh approximation: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))),
 * any shape. */
clippo_status clippo_op_gelu(clippo_rt *rt, clippo_tensor *x, clippo_error *err);

/** y = gelu(x) into another tensor of as many floats (not overlapping x), any shapes. */
clippo_status clippo_op_gelu_to(clippo_rt *rt, const clippo_tensor *x, clippo_tensor *y,
                                clippo_error *err);

/** y = gelu(x + b[col]) into another tensor (not overlapping x or b); x and y (rows, w), b (w). */
clippo_status clippo_op_bias_gelu_to(clippo_rt *rt, const clippo_tensor *x, const clippo_tensor *b,
                                     clippo_tensor *y, clippo_error *err);

/** x = gelu(x + b[col]) in place; x (rows, w), b (w). */
clippo_status clippo_op_bias_gelu(clippo_rt *rt, clippo_tensor *x, const clippo_tensor *b,
                                  clippo_error *err);

/** x += b[col] in place; x (rows, w), b (w). */
clippo_status clippo_op_bias_add(clippo_rt *rt, clippo_tensor *x, const clippo_tensor *b,
                                 clippo_error *err);

/** A dense layer: out (rows, n) = x (rows, k) kernel (k, n) + beta out + b[col], then GELU when
 * gelu != 0 (beta 0 with GELU). The bias and GELU are applied inside the product where the GEMM
 * provider does that (clippo_gemm_fuses_epilogue: oneDNN on a host-unified CPU), else by
 * clippo_op_bias_gelu / clippo_op_bias_add after clippo_gemm. */
clippo_status clippo_op_linear(clippo_rt *rt, const clippo_tensor *x, size_t rows, size_t k,
                               const clippo_tensor *kernel, size_t n, const clippo_tensor *b,
                               int gelu, float beta, clippo_tensor *out, clippo_error *err);

/** A dense layer whose pre-activation is kept (a training forward): u (rows, n) = x kernel, the
 * product without its bias, and h = gelu(u + b[col]) (u and h must not overlap): one pass over u
 * after the product, inside it where the GEMM provider does that (clippo_gemm_fused with
 * act_out), else clippo_gemm and clippo_op_bias_gelu_to. The backward adds b to u again
 * (clippo_op_gelu_grad_keep). */
clippo_status clippo_op_linear_gelu_keep(clippo_rt *rt, const clippo_tensor *x, size_t rows,
                                         size_t k, const clippo_tensor *kernel, size_t n,
                                         const clippo_tensor *b, clippo_tensor *u, clippo_tensor *h,
                                         clippo_error *err);

/* ---- elementwise (kernels/elementwise.cl) ---------------------------------------------- */

/** y += x (residual add); same element count, any shapes. x must not partially overlap y. */
clippo_status clippo_op_add(clippo_rt *rt, clippo_tensor *y, const clippo_tensor *x,
                            clippo_error *err);

/** x *= alpha in place. */
clippo_status clippo_op_scale(clippo_rt *rt, clippo_tensor *x, float alpha, clippo_error *err);

/** dst = src (same element count, any shapes; must not overlap). */
clippo_status clippo_op_copy(clippo_rt *rt, const clippo_tensor *src, clippo_tensor *dst,
                             clippo_error *err);

/** Tiles one row over many: src has w elements (e.g. the MAP probe (1, 1, w)), dst (rows, w)
 * gets dst[r, :] = src for every row. */
clippo_status clippo_op_broadcast_rows(clippo_rt *rt, const clippo_tensor *src, clippo_tensor *dst,
                                       clippo_error *err);

/** Copies a (rows, cols) block: dst[r * ldd + dst_col + c] = src[r * lds + src_col + c] for
 * r < rows, c < cols; both tensors must hold every element touched. lds 0 repeats one row. */
clippo_status clippo_op_copy2d(clippo_rt *rt, const clippo_tensor *src, size_t lds, size_t src_col,
                               clippo_tensor *dst, size_t ldd, size_t dst_col, size_t rows,
                               size_t cols, clippo_error *err);

/** clippo_op_copy2d adding instead: dst[r * ldd + dst_col + c] += src[r * lds + src_col + c]
 * (a column block of a wider matrix into its own tensor: the fused QKV gradients). */
clippo_status clippo_op_add2d(clippo_rt *rt, const clippo_tensor *src, size_t lds, size_t src_col,
                              clippo_tensor *dst, size_t ldd, size_t dst_col, size_t rows,
                              size_t cols, clippo_error *err);

/* ---- softmax (kernels/softmax.cl) ------------------------------------------------------ */

/** x = softmax(scale * x) in place over rows of len (the last dimension), stable (max
 * subtracted). */
clippo_status clippo_op_softmax(clippo_rt *rt, clippo_tensor *x, float scale, clippo_error *err);

/* ---- normalize (kernels/normalize.cl) -------------------------------------------------- */

/** y = z / (||z||_2 + eps) per row (big_vision: eps = 1e-8, outside the sqrt); z, y (rows, w);
 * y may be z itself. */
clippo_status clippo_op_l2normalize(clippo_rt *rt, const clippo_tensor *z, float eps,
                                    clippo_tensor *y, clippo_error *err);

/** Mean over tokens (pool 'gap'): x (n * t, w) -> y (n, w); n is rows(y). */
clippo_status clippo_op_mean_tokens(clippo_rt *rt, const clippo_tensor *x, clippo_tensor *y,
                                    clippo_error *err);

/* ---- attention (kernels/attention.cl, host/ops/attention.c) ---------------------------- */

/** Splits heads out of projection rows: src (n * t, ld) holds, in columns [col0, col0 + W),
 * W = heads * hd, the projection with column h * hd + d for head h (big_vision's (W, H, hd)
 * kernel flattened). dst (n * heads, t, hd) gets (src + bias) * scale per (image, head) block.
 * bias (W) may be NULL; scale is 1/sqrt(hd) for queries, 1 for keys and values. */
clippo_status clippo_op_heads_split(clippo_rt *rt, const clippo_tensor *src, size_t ld, size_t col0,
                                    const clippo_tensor *bias, float scale, size_t t, int heads,
                                    clippo_tensor *dst, clippo_error *err);

/** Splits the fused QKV projection qkv (n * t, 3W) (q in columns [0, W), k in [W, 2W), v in
 * [2W, 3W)) into q, k, v (n * heads, t, hd) each, adding bqkv (3W, may be NULL) and scaling q by
 * q_scale (1/sqrt(hd) in big_vision). */
clippo_status clippo_op_qkv_split(clippo_rt *rt, const clippo_tensor *qkv,
                                  const clippo_tensor *bqkv, size_t t, int heads, float q_scale,
                                  clippo_tensor *q, clippo_tensor *k, clippo_tensor *v,
                                  clippo_error *err);

/** One operand of clippo_op_attention_flash: projection rows t (n * tokens, ld) whose columns
 * [col, col + W), W = heads * hd, hold the heads (column h * hd + d), and the projection's bias
 * (W floats; NULL: none). */
typedef struct clippo_attention_src {
  const clippo_tensor *t;
  size_t ld, col;
  const clippo_tensor *bias;
} clippo_attention_src;

/** Largest head size clippo_op_attention_flash takes. */
#define CLIPPO_FLASH_HD_MAX 128

/** Scaled dot-product attention of n images in one kernel (kernels/attention.cl
 * flash_attention), in the flash style: per (image, head), softmax over keys of
 * ((q + bq) * scale) (k + bk)^T, times (v + bv), with an online softmax over tiles of keys, so
 * that neither the (tq, tk) probabilities nor per-head copies of q, k, v are stored. q has
 * n * tq rows, k and v n * tk; the biases are all given or all NULL; hd <= CLIPPO_FLASH_HD_MAX.
 * out (n * tq, heads * hd) gets the heads merged (column h * hd + d) and must not overlap an
 * input. */
clippo_status clippo_op_attention_flash(clippo_rt *rt, const clippo_attention_src *q,
                                        const clippo_attention_src *k,
                                        const clippo_attention_src *v, float scale, size_t n,
                                        size_t tq, size_t tk, int heads, size_t hd,
                                        clippo_tensor *out, clippo_error *err);

/** The same attention as clippo_op_attention_flash (same operands and result) as CPU devices run
 * it best (kernels/attention.cl attention_rows_fwd): one work-item per image, its keys and values
 * staged in local memory, query rows 8 (AVX-512) or 4 at a time with all their heads, explicit
 * vectors; where all heads' keys and values would not stay in a core's cache (over 256 KiB
 * staged: ViT-B/16's 197 tokens), one work-item per (image, head) staging that head's only.
 * With p (n * heads * tq * tk floats) the probabilities are also written,
 * p[((b * heads + h) * tq + i) * tk + j]. Refused (CLIPPO_E_ARG) where
 * clippo_attention_rows_fits says no. */
clippo_status clippo_op_attention_rows(clippo_rt *rt, const clippo_attention_src *q,
                                       const clippo_attention_src *k, const clippo_attention_src *v,
                                       float scale, size_t n, size_t tq, size_t tk, int heads,
                                       size_t hd, clippo_tensor *out, clippo_tensor *p,
                                       clippo_error *err);

/** 1 when clippo_op_attention_rows runs on rt's device for tk keys, width W and `heads` heads:
 * rt->settings.attention CLIPPO_ATTENTION_ROWS, or automatic on a CPU device that runs explicit
 * vectors natively (CL_DEVICE_NATIVE_VECTOR_WIDTH_FLOAT >= 4: PoCL); the op class's vector width
 * dividing the head size, and local memory for the image's keys and values (W x tk floats each,
 * and the query and score rows; hd x tk each where a work-item takes one head). */
int clippo_attention_rows_fits(const clippo_rt *rt, size_t tk, size_t width, int heads);

/** Merges heads: src (n * heads, t, hd) -> dst (n * t, heads * hd) with column h * hd + d. */
clippo_status clippo_op_heads_merge(clippo_rt *rt, const clippo_tensor *src, size_t t, int heads,
                                    clippo_tensor *dst, clippo_error *err);

/** Weights of one big_vision MultiHeadDotProductAttention, flattened to 2D (W = width, hd =
 * W / heads): query/key/value kernels (W, H, hd) as (W, W) with column h * hd + d, their biases
 * (H, hd) as (W); the out kernel (H, hd, W) as (W, W) with row h * hd + d, its bias (W).
 * wqkv/bqkv: optional fused (W, 3W) / (3W) from clippo_mha_fuse_qkv; when set they are used
 * instead of wq..bv (which may then be NULL). */
typedef struct clippo_mha_weights {
  const clippo_tensor *wq, *wk, *wv;
  const clippo_tensor *bq, *bk, *bv;
  const clippo_tensor *wo, *bo;
  const clippo_tensor *wqkv, *bqkv;
} clippo_mha_weights;

/** Builds the fused QKV weight on the device: allocates wqkv (W, 3W) = [wq | wk | wv] and
 * bqkv (3W) = [bq | bk | bv] (release both with clippo_tensor_release). Do it once at load. */
clippo_status clippo_mha_fuse_qkv(clippo_rt *rt, const clippo_mha_weights *w, clippo_tensor *wqkv,
                                  clippo_tensor *bqkv, clippo_error *err);

/** Floats of workspace clippo_mha needs for n images of tq query and tk key tokens:
 * projections n*tq*W + 2*n*tk*W, per-head q, k, v as many again, logits n*heads*tq*tk. */
size_t clippo_mha_workspace_floats(size_t n, size_t tq, size_t tk, size_t width, int heads);

/** Allocates a 1-D float32 workspace tensor of clippo_mha_workspace_floats(...) elements. */
clippo_status clippo_mha_workspace_alloc(clippo_rt *rt, clippo_tensor *ws, size_t n, size_t tq,
                                         size_t tk, size_t width, int heads, clippo_error *err);

/** 1 when clippo_mha computes softmax(q k^T) v with clippo_op_attention_rows on rt's device for
 * n images of tq query and tk key tokens: where clippo_attention_rows_fits says so, and when
 * chosen automatically, with at least as many images as compute units (one work-item per
 * image). */
int clippo_mha_uses_rows(clippo_rt *rt, size_t n, size_t tq, size_t tk, size_t width, int heads);

/** 1 when clippo_mha computes softmax(q k^T) v with clippo_op_attention_flash on rt's device for
 * n images of tq query and tk key tokens, 0 when with the head split, batched GEMMs and merge:
 * rt->settings.attention (env CLIPPO_ATTENTION=gemm|flash) when set, else flash on devices
 * other than CPUs (GPUs, accelerators) whose GEMM provider for q k^T runs on the device itself
 * (CLBlast, the kernel provider); CPU devices keep the products (oneDNN's are an order of
 * magnitude faster there). Heads larger than CLIPPO_FLASH_HD_MAX: 0. */
int clippo_mha_uses_flash(clippo_rt *rt, size_t n, size_t tq, size_t tk, size_t width, int heads);

/** Multi-head dot-product attention as big_vision computes it, for n images:
 * q = xq Wq + bq, k = xkv Wk + bk, v = xkv Wv + bv; per head q / sqrt(hd) is multiplied with
 * k^T, softmax over keys (no mask), times v; heads merged and projected: out = ctx Wo + bo.
 * xq (n * tq, W), xkv (n * tk, W) with tq != tk allowed (the MAP head: 1 probe row per image,
 * kv = the encoder output). When xq and xkv are the same view the q, k, v projections are one
 * GEMM (with w->wqkv) or write one (n * t, 3W) block. ws: float32 workspace with at least
 * clippo_mha_workspace_floats(n, tq, tk, W, heads) elements, not overlapping the other
 * tensors. out (n * tq, W) must not overlap xq / xkv; with accumulate != 0 the result is added
 * to out (out += MHA(...), a fused residual), else out is overwritten. softmax(q k^T) v runs
 * fused (clippo_op_attention_flash) where clippo_mha_uses_flash says so, else fused for CPUs
 * (clippo_op_attention_rows) where clippo_mha_uses_rows says so. */
clippo_status clippo_mha(clippo_rt *rt, const clippo_mha_weights *w, int heads, size_t n,
                         const clippo_tensor *xq, const clippo_tensor *xkv, clippo_tensor *ws,
                         int accumulate, clippo_tensor *out, clippo_error *err);

/* ---- loss (kernels/loss.cl): big_vision's contrastive loss ------------------------------ */

/** Device scratch of the contrastive loss for n pairs (zero-initialise, then alloc). */
typedef struct clippo_loss_ws {
  size_t n;
  clippo_tensor logits; /* (n, n): the logits, then dloss/dlogits */
  clippo_tensor lse;    /* (2n): row then column log-sum-exp */
  clippo_tensor aux;    /* (2n): per-pair loss, per-row sums of G * logits */
  float *host;          /* 2n floats */
} clippo_loss_ws;

/** Allocates the scratch for n pairs. */
clippo_status clippo_loss_ws_alloc(clippo_rt *rt, size_t n, clippo_loss_ws *ws, clippo_error *err);

/** Releases the scratch (safe on a zeroed struct). */
void clippo_loss_ws_release(clippo_rt *rt, clippo_loss_ws *ws);

/** big_vision's bidirectional contrastive loss over n pairs: logits = zimg ztxt^T exp(t),
 * loss = mean(0.5 (-diag log_softmax(logits, 1) - diag log_softmax(logits, 0))).
 * zimg, ztxt (n, d) float32 (rows of any tensor views); ws allocated for n. When dzimg and dztxt
 * are not NULL they receive dloss/dzimg and dloss/dztxt (n, d) (overwritten) and *dt (may be NULL)
 * dloss/dt. *loss gets the loss. Blocks: reads 2n floats back. */
clippo_status clippo_contrastive_loss(clippo_rt *rt, const clippo_tensor *zimg,
                                      const clippo_tensor *ztxt, float t, clippo_loss_ws *ws,
                                      clippo_tensor *dzimg, clippo_tensor *dztxt, double *loss,
                                      double *dt, clippo_error *err);

#ifdef __cplusplus
}
#endif
#endif
