/* The contrastive loss of big_vision's image-text trainer (the backward of L2 normalisation is in
 * normalize_grad.cl).
 *
 *  - contrastive_lse: for logits L (n, n), lse[i] = logsumexp of row i (i < n) and
 *    lse[n + j] = logsumexp of column j; one work-item per row or column (n is a few hundred).
 *  - contrastive_grad: with the lse values, G = dloss/dL for
 *    loss = mean_i 0.5 (lse_row_i - L_ii + lse_col_i - L_ii), i.e.
 *    G_ij = (0.5 / n) (softmax_row_i(L)_j + softmax_col_j(L)_i - 2 [i == j]);
 *    aux[i] = 0.5 (lse_row_i - L_ii + lse_col_i - L_ii) (the per-pair loss) and
 *    aux[n + i] = sum_j G_ij L_ij (its sum is dloss/dt, since L = exp(t) S). G may be L itself. */
#include "common.h"

__kernel void contrastive_lse(__global const float *l, uint lo, uint n, __global float *lse,
                              uint so) {
  uint g = get_global_id(0);
  if (g >= 2 * n) return;
  __global const float *p = l + lo;
  /* row i: elements p[i * n + j]; column j: elements p[j + i * n] */
  uint base = g < n ? g * n : g - n;
  uint stride = g < n ? 1 : n;
  float m = -INFINITY;
  for (uint k = 0; k < n; k++) m = fmax(m, p[base + k * stride]);
  float s = 0.0f;
  for (uint k = 0; k < n; k++) s += exp(p[base + k * stride] - m);
  lse[so + g] = m + log(s);
}

__kernel void contrastive_grad(__global const float *l, uint lo, uint n, __global const float *lse,
                               uint so, __global float *gr, uint go, __global float *aux, uint ao) {
  uint i = get_global_id(0);
  if (i >= n) return;
  __global const float *pl = l + lo + i * n;
  __global float *pg = gr + go + i * n;
  __global const float *ls = lse + so;
  const float lse_r = ls[i];
  const float c = 0.5f / (float)n;
  const float lii = pl[i];
  float dt = 0.0f;
  for (uint j = 0; j < n; j++) {
    float x = pl[j];
    float s = exp(x - lse_r) + exp(x - ls[n + j]);
    if (j == i) s -= 2.0f;
    float gv = c * s;
    dt += gv * x;
    pg[j] = gv;
  }
  aux[ao + i] = 0.5f * ((lse_r - lii) + (ls[n + i] - lii));
  aux[ao + n + i] = dt;
}
