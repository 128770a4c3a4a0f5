/* Float64 references of the contrastive loss (with its gradient) and of the L2-normalisation
 * backward (kernels/loss.cl), for the tests. */
#include <math.h>
#include <stdlib.h>

#include "clippo/ref.h"

double clippo_ref_contrastive_loss(const float *zimg, const float *ztxt, size_t n, size_t d,
                                   double t, double *dzimg, double *dztxt, double *dt) {
  double *l = malloc(n * n * sizeof *l), *lse = malloc(2 * n * sizeof *lse);
  if (!l || !lse) {
    free(l);
    free(lse);
    return NAN;
  }
  const double s = exp(t);
  for (size_t i = 0; i < n; i++)
    for (size_t j = 0; j < n; j++) {
      double acc = 0.0;
      for (size_t k = 0; k < d; k++) acc += (double)zimg[i * d + k] * (double)ztxt[j * d + k];
      l[i * n + j] = s * acc;
    }
  for (size_t i = 0; i < n; i++) {
    double mr = -INFINITY, mc = -INFINITY;
    for (size_t j = 0; j < n; j++) {
      mr = fmax(mr, l[i * n + j]);
      mc = fmax(mc, l[j * n + i]);
    }
    double sr = 0.0, sc = 0.0;
    for (size_t j = 0; j < n; j++) {
      sr += exp(l[i * n + j] - mr);
      sc += exp(l[j * n + i] - mc);
    }
    lse[i] = mr + log(sr);
    lse[n + i] = mc + log(sc);
  }
  double loss = 0.0;
  for (size_t i = 0; i < n; i++)
    loss += 0.5 * ((lse[i] - l[i * n + i]) + (lse[n + i] - l[i * n + i]));
  loss /= (double)n;
  /* G = dloss/dlogits, stored over l */
  double gt = 0.0;
  for (size_t i = 0; i < n; i++)
    for (size_t j = 0; j < n; j++) {
      double x = l[i * n + j];
      double g = 0.5 / (double)n * (exp(x - lse[i]) + exp(x - lse[n + j]) - (i == j ? 2.0 : 0.0));
      gt += g * x;
      l[i * n + j] = g;
    }
  if (dt) *dt = gt;
  if (dzimg)
    for (size_t i = 0; i < n; i++)
      for (size_t k = 0; k < d; k++) {
        double acc = 0.0;
        for (size_t j = 0; j < n; j++) acc += l[i * n + j] * (double)ztxt[j * d + k];
        dzimg[i * d + k] = s * acc;
      }
  if (dztxt)
    for (size_t j = 0; j < n; j++)
      for (size_t k = 0; k < d; k++) {
        double acc = 0.0;
        for (size_t i = 0; i < n; i++) acc += l[i * n + j] * (double)zimg[i * d + k];
        dztxt[j * d + k] = s * acc;
      }
  free(l);
  free(lse);
  return loss;
}
