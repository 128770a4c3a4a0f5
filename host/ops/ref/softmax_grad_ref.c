/* Plain C reference of kernels/softmax_grad.cl (clippo/ops_grad.h). */
#include "clippo/ops_grad.h"

void clippo_ref_softmax_grad(const float *p, const float *dp, size_t rows, size_t len, double scale,
                             double *dx) {
  for (size_t r = 0; r < rows; r++) {
    const float *pr = p + r * len, *dr = dp + r * len;
    double s = 0;
    for (size_t c = 0; c < len; c++) s += (double)dr[c] * pr[c];
    for (size_t c = 0; c < len; c++) dx[r * len + c] = scale * pr[c] * ((double)dr[c] - s);
  }
}
