/* Plain C reference of the matrix product, used by the tests (double-precision sums). */
#include "clippo/gemm.h"

void clippo_ref_gemm(int trans_a, int trans_b, size_t m, size_t n, size_t k, float alpha,
                     const float *a, size_t lda, const float *b, size_t ldb, float beta, float *c,
                     size_t ldc) {
  for (size_t i = 0; i < m; i++) {
    for (size_t j = 0; j < n; j++) {
      double s = 0.0;
      for (size_t p = 0; p < k; p++) {
        double x = trans_a ? a[p * lda + i] : a[i * lda + p];
        double y = trans_b ? b[j * ldb + p] : b[p * ldb + j];
        s += x * y;
      }
      double out = (double)alpha * s;
      if (beta != 0.0f) out += (double)beta * (double)c[i * ldc + j];
      c[i * ldc + j] = (float)out;
    }
  }
}
