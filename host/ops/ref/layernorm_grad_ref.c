/* Plain C reference of kernels/layernorm_grad.cl (clippo/ops_grad.h). */
#include <math.h>

#include "clippo/ops_grad.h"

void clippo_ref_layernorm_grad(const float *dy, const float *x, const float *scale, size_t rows,
                               size_t w, double eps, double *dx, double *dscale, double *dbias) {
  if (dscale)
    for (size_t c = 0; c < w; c++) dscale[c] = 0.0;
  if (dbias)
    for (size_t c = 0; c < w; c++) dbias[c] = 0.0;
  for (size_t r = 0; r < rows; r++) {
    const float *xr = x + r * w, *dyr = dy + r * w;
    double mean = 0, var = 0;
    for (size_t c = 0; c < w; c++) mean += xr[c];
    mean /= (double)w;
    for (size_t c = 0; c < w; c++) var += (xr[c] - mean) * (xr[c] - mean);
    var /= (double)w;
    double rstd = 1.0 / sqrt(var + eps);
    double mg = 0, mgx = 0;
    for (size_t c = 0; c < w; c++) {
      double xh = (xr[c] - mean) * rstd, g = (double)dyr[c] * scale[c];
      mg += g;
      mgx += g * xh;
      if (dscale) dscale[c] += (double)dyr[c] * xh;
      if (dbias) dbias[c] += (double)dyr[c];
    }
    mg /= (double)w;
    mgx /= (double)w;
    for (size_t c = 0; c < w; c++) {
      double xh = (xr[c] - mean) * rstd, g = (double)dyr[c] * scale[c];
      dx[r * w + c] = rstd * (g - mg - xh * mgx);
    }
  }
}
