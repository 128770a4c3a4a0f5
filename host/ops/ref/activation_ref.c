/* Reference of the activation family (kernels/activation.cl) in float64. */
#include "clippo/ref.h"

#include <math.h>

double clippo_ref_gelu1(double x) {
  const double c = 0.79788456080286535588; /* sqrt(2 / pi) */
  return 0.5 * x * (1.0 + tanh(c * (x + 0.044715 * x * x * x)));
}

void clippo_ref_gelu(const float *x, size_t n, double *y) {
  for (size_t i = 0; i < n; i++) y[i] = clippo_ref_gelu1(x[i]);
}

void clippo_ref_bias_act(const float *x, const float *b, size_t rows, size_t w, int gelu,
                         double *y) {
  for (size_t r = 0; r < rows; r++)
    for (size_t c = 0; c < w; c++) {
      double v = (double)x[r * w + c] + (double)b[c];
      y[r * w + c] = gelu ? clippo_ref_gelu1(v) : v;
    }
}
