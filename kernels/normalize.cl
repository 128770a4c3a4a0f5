/* Reductions over rows and tokens.
 *  - l2norm_row / l2norm_group: y = z / (||z||_2 + eps) per row of w (eps outside the sqrt, as
 *    big_vision: 1e-8), in place allowed; one row per work-item (CPU devices) or per work-group
 *    (GPUs: power-of-two local size, scratch of one float per work-item).
 *  - mean_tokens: y[b, c] = mean over k < t of x[b * t + k, c], x (n * t, w) -> y (n, w) (pool
 *    'gap'); work-item g takes VEC columns of one image. */
#include "common.h"

__kernel void l2norm_row(__global const float *z, uint zo, __global float *y, uint yo, uint rows,
                         uint w, float eps) {
  uint row = get_global_id(0);
  if (row >= rows) return;
  __global const float *pz = z + zo + row * w;
  __global float *py = y + yo + row * w;
  float d = sqrt(row_sqdev(pz, w, 0.0f)) + eps;
  uint c = 0;
  for (; c + VEC <= w; c += VEC) STOREV(LOADV(pz + c) / d, py + c);
  for (; c < w; c++) py[c] = pz[c] / d;
}

__kernel void l2norm_group(__global const float *z, uint zo, __global float *y, uint yo, uint rows,
                           uint w, float eps, __local float *scratch) {
  uint row = get_group_id(0);
  if (row >= rows) return; /* uniform over the group */
  uint lid = get_local_id(0), ls = get_local_size(0);
  __global const float *pz = z + zo + row * w;
  __global float *py = y + yo + row * w;
  float d = sqrt(group_sum(part_sqdev(pz, w, 0.0f, lid, ls), scratch)) + eps;
  uint nfull = w / VEC;
  for (uint j = lid; j < nfull; j += ls) STOREV(LOADV(pz + j * VEC) / d, py + j * VEC);
  for (uint c = nfull * VEC + lid; c < w; c += ls) py[c] = pz[c] / d;
}

__kernel void mean_tokens(__global const float *x, uint xo, __global float *y, uint yo, uint n,
                          uint t, uint w) {
  uint g = get_global_id(0);
  uint cpr = (w + VEC - 1) / VEC;
  if (g >= n * cpr) return;
  uint b = g / cpr;
  uint c = (g - b * cpr) * VEC;
  __global const float *px = x + xo + b * t * w + c;
  __global float *py = y + yo + b * w + c;
  if (c + VEC <= w) {
    floatv acc = (floatv)(0.0f);
    for (uint k = 0; k < t; k++) acc += LOADV(px + k * w);
    STOREV(acc / (float)t, py);
  } else {
    for (uint i = 0; i < w - c; i++) {
      float acc = 0.0f;
      for (uint k = 0; k < t; k++) acc += px[k * w + i];
      py[i] = acc / (float)t;
    }
  }
}
