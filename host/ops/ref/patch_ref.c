/* Reference of the patch family (kernels/patch.cl) in float64. */
#include "clippo/ref.h"

void clippo_ref_patchify(const float *images, size_t n, size_t s, size_t p, double *rows) {
  size_t grid = s / p, t = grid * grid, pc = p * p * 3;
  for (size_t b = 0; b < n; b++)
    for (size_t tok = 0; tok < t; tok++) {
      size_t gy = tok / grid, gx = tok % grid;
      double *dst = rows + (b * t + tok) * pc;
      for (size_t ph = 0; ph < p; ph++)
        for (size_t pw = 0; pw < p; pw++)
          for (size_t c = 0; c < 3; c++)
            dst[(ph * p + pw) * 3 + c] = images[((b * s + gy * p + ph) * s + gx * p + pw) * 3 + c];
    }
}

void clippo_ref_add_bias_posemb(const float *x, const float *bias, const float *pos, size_t rows,
                                size_t t, size_t w, double *y) {
  for (size_t r = 0; r < rows; r++)
    for (size_t c = 0; c < w; c++)
      y[r * w + c] = (double)x[r * w + c] + (double)bias[c] + (double)pos[(r % t) * w + c];
}
