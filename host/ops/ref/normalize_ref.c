/* Reference of the normalize family (kernels/normalize.cl) in float64. */
#include "clippo/ref.h"

#include <math.h>

void clippo_ref_l2normalize(const float *z, size_t rows, size_t w, double eps, double *y) {
  for (size_t r = 0; r < rows; r++) {
    double s = 0;
    for (size_t c = 0; c < w; c++) s += (double)z[r * w + c] * z[r * w + c];
    double d = sqrt(s) + eps;
    for (size_t c = 0; c < w; c++) y[r * w + c] = z[r * w + c] / d;
  }
}

void clippo_ref_mean_tokens(const float *x, size_t n, size_t t, size_t w, double *y) {
  for (size_t b = 0; b < n; b++)
    for (size_t c = 0; c < w; c++) {
      double s = 0;
      for (size_t k = 0; k < t; k++) s += x[(b * t + k) * w + c];
      y[b * w + c] = s / (double)t;
    }
}
