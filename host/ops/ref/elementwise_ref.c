/* Reference of the elementwise family (kernels/elementwise.cl) in float64. */
#include "clippo/ref.h"

void clippo_ref_add(const float *y, const float *x, size_t n, double *out) {
  for (size_t i = 0; i < n; i++) out[i] = (double)y[i] + (double)x[i];
}

void clippo_ref_scale(const float *x, size_t n, double alpha, double *out) {
  for (size_t i = 0; i < n; i++) out[i] = alpha * x[i];
}

void clippo_ref_broadcast_rows(const float *src, size_t rows, size_t w, double *out) {
  for (size_t r = 0; r < rows; r++)
    for (size_t c = 0; c < w; c++) out[r * w + c] = src[c];
}
