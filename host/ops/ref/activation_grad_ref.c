/* Plain C reference of kernels/activation_grad.cl (clippo/ops_grad.h). */
#include <math.h>

#include "clippo/ops_grad.h"

double clippo_ref_gelu_deriv(double x) {
  const double c = 0.7978845608028654; /* sqrt(2/pi) */
  double t = tanh(c * (x + 0.044715 * x * x * x));
  return 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * c * (1.0 + 3.0 * 0.044715 * x * x);
}

void clippo_ref_gelu_grad(const float *u, const float *dy, size_t n, double *dx) {
  for (size_t i = 0; i < n; i++) dx[i] = (double)dy[i] * clippo_ref_gelu_deriv(u[i]);
}
