/* Plain C reference of kernels/normalize_grad.cl (clippo/ops_grad.h). */
#include <math.h>

#include "clippo/ops_grad.h"

void clippo_ref_l2normalize_grad(const float *u, const float *dz, size_t rows, size_t w, double eps,
                                 double *du) {
  for (size_t r = 0; r < rows; r++) {
    const float *ur = u + r * w, *zr = dz + r * w;
    double uu = 0, ud = 0;
    for (size_t c = 0; c < w; c++) {
      uu += (double)ur[c] * ur[c];
      ud += (double)ur[c] * zr[c];
    }
    double n = sqrt(uu), ne = n + eps;
    double b = n > 0 ? ud / (n * ne * ne) : 0.0;
    for (size_t c = 0; c < w; c++) du[r * w + c] = zr[c] / ne - b * ur[c];
  }
}

void clippo_ref_mean_tokens_grad(const float *dy, size_t n, size_t t, size_t w, double *dx) {
  for (size_t b = 0; b < n; b++)
    for (size_t k = 0; k < t; k++)
      for (size_t c = 0; c < w; c++) dx[(b * t + k) * w + c] = (double)dy[b * w + c] / (double)t;
}
