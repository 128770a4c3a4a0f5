/* Plain C reference of kernels/reduce.cl (clippo/ops_grad.h). */
#include "clippo/ops_grad.h"

void clippo_ref_colsum(const float *x, size_t rows, size_t w, double *out) {
  for (size_t c = 0; c < w; c++) out[c] = 0.0;
  for (size_t r = 0; r < rows; r++)
    for (size_t c = 0; c < w; c++) out[c] += (double)x[r * w + c];
}
