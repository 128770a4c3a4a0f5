/* A dense layer (clippo_op_linear): the product with its bias (and GELU) applied by the GEMM
 * provider as C comes out where it can (no kernel launch, no second pass over C from PoCL's
 * threads), else by the bias kernels of kernels/activation.cl after it. */
#include "clippo/gemm.h"
#include "clippo/ops.h"
#include "ops/ops_internal.h"

clippo_status clippo_op_linear(clippo_rt *rt, const clippo_tensor *x, size_t rows, size_t k,
                               const clippo_tensor *kernel, size_t n, const clippo_tensor *b,
                               int gelu, float beta, clippo_tensor *out, clippo_error *err) {
  if (!b) return clippo_fail(err, CLIPPO_E_ARG, "linear: no bias");
  if (gelu && beta != 0.0f)
    return clippo_fail(err, CLIPPO_E_ARG, "linear: GELU after accumulating into out (beta %g)",
                       (double)beta);
  if (clippo_gemm_fuses_epilogue(rt, 0, 0, rows, n, k, 1))
    return clippo_gemm_fused(rt, 0, 0, rows, n, k, 1.0f, x, k, kernel, n, beta, out, n, b,
                             gelu ? CLIPPO_GEMM_ACT_GELU : CLIPPO_GEMM_ACT_NONE, NULL, err);
  clippo_status st = clippo_gemm(rt, 0, 0, rows, n, k, 1.0f, x, k, kernel, n, beta, out, n, err);
  if (st) return st;
  return gelu ? clippo_op_bias_gelu(rt, out, b, err) : clippo_op_bias_add(rt, out, b, err);
}

clippo_status clippo_op_linear_gelu_keep(clippo_rt *rt, const clippo_tensor *x, size_t rows,
                                         size_t k, const clippo_tensor *kernel, size_t n,
                                         const clippo_tensor *b, clippo_tensor *u, clippo_tensor *h,
                                         clippo_error *err) {
  if (!b) return clippo_fail(err, CLIPPO_E_ARG, "linear: no bias");
  if (clippo_gemm_fuses_epilogue(rt, 0, 0, rows, n, k, 1))
    return clippo_gemm_fused(rt, 0, 0, rows, n, k, 1.0f, x, k, kernel, n, 0.0f, u, n, b,
                             CLIPPO_GEMM_ACT_GELU, h, err);
  clippo_status st = clippo_gemm(rt, 0, 0, rows, n, k, 1.0f, x, k, kernel, n, 0.0f, u, n, err);
  if (!st) st = clippo_op_bias_gelu_to(rt, u, b, h, err);
  return st;
}

clippo_status ops_attention_probs(clippo_rt *rt, size_t tq, size_t tk, size_t hd,
                                  const clippo_tensor *q, const clippo_tensor *k, clippo_tensor *p,
                                  size_t batch, clippo_error *err) {
  if (clippo_gemm_fuses_epilogue(rt, 0, 1, tq, tk, hd, batch))
    return clippo_gemm_batched_fused(rt, 0, 1, tq, tk, hd, 1.0f, q, hd, tq * hd, k, hd, tk * hd,
                                     0.0f, p, tk, tq * tk, batch, CLIPPO_GEMM_ACT_SOFTMAX, err);
  clippo_status st = clippo_gemm_batched(rt, 0, 1, tq, tk, hd, 1.0f, q, hd, tq * hd, k, hd, tk * hd,
                                         0.0f, p, tk, tq * tk, batch, err);
  if (st) return st;
  return clippo_op_softmax(rt, p, 1.0f, err);
}
