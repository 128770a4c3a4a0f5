/* Reference of the layernorm family (kernels/layernorm.cl) in float64. */
#include "clippo/ref.h"

#include <math.h>

/* LayerNorm of one row given in double. */
static void ln_row(const double *x, const float *scale, const float *bias, size_t w, double eps,
                   double *y) {
  double mean = 0, var = 0;
  for (size_t c = 0; c < w; c++) mean += x[c];
  mean /= (double)w;
  for (size_t c = 0; c < w; c++) var += (x[c] - mean) * (x[c] - mean);
  var /= (double)w;
  double rstd = 1.0 / sqrt(var + eps);
  for (size_t c = 0; c < w; c++) y[c] = (x[c] - mean) * rstd * scale[c] + bias[c];
}

void clippo_ref_layernorm(const float *x, const float *scale, const float *bias, size_t rows,
                          size_t w, double eps, double *y) {
  for (size_t r = 0; r < rows; r++) {
    /* Widen the row into y, then normalise in place (ln_row reads each x[c] before writing
     * y[c] only in its last loop, which reads x[c] first). */
    double *yr = y + r * w;
    for (size_t c = 0; c < w; c++) yr[c] = x[r * w + c];
    ln_row(yr, scale, bias, w, eps, yr);
  }
}

void clippo_ref_add_layernorm(const float *x, const float *r, const float *scale, const float *bias,
                              size_t rows, size_t w, double eps, double *sum, double *y) {
  for (size_t i = 0; i < rows; i++) {
    double *yr = y + i * w;
    for (size_t c = 0; c < w; c++) {
      yr[c] = (double)x[i * w + c] + (double)r[i * w + c];
      if (sum) sum[i * w + c] = yr[c];
    }
    ln_row(yr, scale, bias, w, eps, yr);
  }
}
