/* Reference of the softmax family (kernels/softmax.cl) in float64. */
#include "clippo/ref.h"

#include <math.h>

void clippo_ref_softmax(const float *x, size_t rows, size_t len, double scale, double *y) {
  for (size_t r = 0; r < rows; r++) {
    const float *p = x + r * len;
    double *q = y + r * len;
    double m = -INFINITY, s = 0;
    for (size_t c = 0; c < len; c++)
      if (scale * p[c] > m) m = scale * p[c];
    for (size_t c = 0; c < len; c++) s += (q[c] = exp(scale * p[c] - m));
    for (size_t c = 0; c < len; c++) q[c] /= s;
  }
}
