/* The contrastive loss of big_vision's image-text trainer and the backward of L2 normalisation.
 *
 *  - contrastive_lse: for logits L (n, n), lse[i] = logsumexp of row i (i < n) and
 *    lse[n + j] = logsumexp of column j; one work-item per row or column (n is a few hundred).
 *  - contrastive_grad: with the lse values, G = dloss/dL for
 *    loss = mean_i 0.5 (lse_row_i - L_ii + lse_col_i - L_ii), i.e.
 *    G_ij = (0.5 / n) (softmax_row_i(L)_j + softmax_col_j(L)_i - 2 [i == j]);
 *    aux[i] = 0.5 (lse_row_i - L_ii + lse_col_i - L_ii) (the per-pair loss) and
 *    aux[n + i] = sum_j G_ij L_ij (its sum is dloss/dt, since L = exp(t) S). G may be L itself.
 *  - l2norm_backward_row / _group: for z = u / (||u|| + eps) per row,
 *    du = dz / (r + eps) - u (u . dz) / (r (r + eps)^2), r = ||u|| (the second term is 0 when
 *    r = 0); du may be dz itself. Row per work-item (CPUs) or per work-group (GPUs). */
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

/* Row sums of u.u and u.dz by one work-item. */
static inline float2 row_dots(__global const float *pu, __global const float *pd, uint w) {
  floatv uu = (floatv)(0.0f), ud = (floatv)(0.0f);
  uint c = 0;
  for (; c + VEC <= w; c += VEC) {
    floatv a = LOADV(pu + c);
    uu += a * a;
    ud += a * LOADV(pd + c);
  }
  float suu = hsum(uu), sud = hsum(ud);
  for (; c < w; c++) {
    suu += pu[c] * pu[c];
    sud += pu[c] * pd[c];
  }
  return (float2)(suu, sud);
}

/* The two coefficients: du = a * dz - b * u. */
static inline float2 l2bw_coeffs(float suu, float sud, float eps) {
  float r = sqrt(suu);
  float d = r + eps;
  float a = 1.0f / d;
  float b = r > 0.0f ? sud / (r * d * d) : 0.0f;
  return (float2)(a, b);
}

__kernel void l2norm_backward_row(__global const float *u, uint uo, __global const float *dz,
                                  uint dzo, __global float *du, uint duo, uint rows, uint w,
                                  float eps) {
  uint row = get_global_id(0);
  if (row >= rows) return;
  __global const float *pu = u + uo + row * w;
  __global const float *pd = dz + dzo + row * w;
  __global float *po = du + duo + row * w;
  float2 s = row_dots(pu, pd, w);
  float2 ab = l2bw_coeffs(s.x, s.y, eps);
  uint c = 0;
  for (; c + VEC <= w; c += VEC) STOREV(ab.x * LOADV(pd + c) - ab.y * LOADV(pu + c), po + c);
  for (; c < w; c++) po[c] = ab.x * pd[c] - ab.y * pu[c];
}

__kernel void l2norm_backward_group(__global const float *u, uint uo, __global const float *dz,
                                    uint dzo, __global float *du, uint duo, uint rows, uint w,
                                    float eps, __local float *scratch) {
  uint row = get_group_id(0);
  if (row >= rows) return; /* uniform over the group */
  uint lid = get_local_id(0), ls = get_local_size(0);
  __global const float *pu = u + uo + row * w;
  __global const float *pd = dz + dzo + row * w;
  __global float *po = du + duo + row * w;
  float puu = 0.0f, pud = 0.0f;
  for (uint c = lid; c < w; c += ls) {
    puu += pu[c] * pu[c];
    pud += pu[c] * pd[c];
  }
  float suu = group_sum(puu, scratch);
  float sud = group_sum(pud, scratch);
  float2 ab = l2bw_coeffs(suu, sud, eps);
  for (uint c = lid; c < w; c += ls) po[c] = ab.x * pd[c] - ab.y * pu[c];
}
