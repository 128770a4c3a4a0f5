/* Matrix products on a device: one interface, several providers (CLBlast, host BLAS on
 * host-unified CPU devices, the project's own kernel), chosen per device and shape class. */
#ifndef CLIPPO_GEMM_H
#define CLIPPO_GEMM_H

#include "clippo/runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

/** C = alpha * op(A) * op(B) + beta * C, all row-major float32. op(A) is m x k, op(B) is k x n.
 * trans_a/trans_b non-zero mean A/B are stored transposed. Leading dimensions are in elements;
 * tensor offsets (views) are honoured. */
clippo_status clippo_gemm(clippo_rt *rt, int trans_a, int trans_b, size_t m, size_t n, size_t k,
                          float alpha, const clippo_tensor *a, size_t lda, const clippo_tensor *b,
                          size_t ldb, float beta, clippo_tensor *c, size_t ldc, clippo_error *err);

/** `batch` independent products; matrix i of A starts stride_a elements after matrix i-1
 * (likewise B and C). */
clippo_status clippo_gemm_batched(clippo_rt *rt, int trans_a, int trans_b, size_t m, size_t n,
                                  size_t k, float alpha, const clippo_tensor *a, size_t lda,
                                  size_t stride_a, const clippo_tensor *b, size_t ldb,
                                  size_t stride_b, float beta, clippo_tensor *c, size_t ldc,
                                  size_t stride_c, size_t batch, clippo_error *err);

#ifdef __cplusplus
}
#endif
#endif
