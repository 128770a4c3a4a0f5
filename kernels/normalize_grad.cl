/* Backward of the reductions in normalize.cl.
 *  - l2normalize_grad_row / _group: for z = u / (r + eps), r = ||u||_2 per row of w:
 *    du = dz / (r + eps) - u (u . dz) / (r (r + eps)^2) (the second term is 0 when r = 0);
 *    overwritten, or added when accumulate. One row per work-item (CPU devices) or per
 *    work-group (GPUs; power-of-two local size, scratch of one float per work-item). du may be
 *    dz itself.
 *  - mean_tokens_grad: backward of y[b, c] = mean_k x[b * t + k, c]: dx[b * t + k, c] =
 *    dy[b, c] / t (overwritten, or added when accumulate); work-item g takes VEC columns of one
 *    row of dx. */
#include "common.h"

__kernel void l2normalize_grad_row(__global const float *u, uint uo, __global const float *dz,
                                   uint dzo, __global float *du, uint duo, uint rows, uint w,
                                   float eps, uint accumulate) {
  uint row = get_global_id(0);
  if (row >= rows) return;
  __global const float *pu = u + uo + row * w;
  __global const float *pz = dz + dzo + row * w;
  __global float *pd = du + duo + row * w;
  floatv uu = (floatv)(0.0f), ud = (floatv)(0.0f);
  uint c = 0;
  for (; c + VEC <= w; c += VEC) {
    floatv a = LOADV(pu + c);
    uu += a * a;
    ud += a * LOADV(pz + c);
  }
  float suu = hsum(uu), sud = hsum(ud);
  for (; c < w; c++) {
    suu += pu[c] * pu[c];
    sud += pu[c] * pz[c];
  }
  float r = sqrt(suu), re = r + eps;
  float a = 1.0f / re;
  float b = r > 0.0f ? sud / (r * re * re) : 0.0f;
  for (c = 0; c + VEC <= w; c += VEC) {
    floatv d = a * LOADV(pz + c) - b * LOADV(pu + c);
    if (accumulate) d += LOADV(pd + c);
    STOREV(d, pd + c);
  }
  for (; c < w; c++) {
    float d = a * pz[c] - b * pu[c];
    pd[c] = accumulate ? pd[c] + d : d;
  }
}

__kernel void l2normalize_grad_group(__global const float *u, uint uo, __global const float *dz,
                                     uint dzo, __global float *du, uint duo, uint rows, uint w,
                                     float eps, uint accumulate, __local float *scratch) {
  uint row = get_group_id(0);
  if (row >= rows) return; /* uniform over the group */
  uint lid = get_local_id(0), ls = get_local_size(0);
  __global const float *pu = u + uo + row * w;
  __global const float *pz = dz + dzo + row * w;
  __global float *pd = du + duo + row * w;
  uint nfull = w / VEC;
  floatv uu = (floatv)(0.0f), ud = (floatv)(0.0f);
  for (uint j = lid; j < nfull; j += ls) {
    floatv v = LOADV(pu + j * VEC);
    uu += v * v;
    ud += v * LOADV(pz + j * VEC);
  }
  float suu = hsum(uu), sud = hsum(ud);
  for (uint c = nfull * VEC + lid; c < w; c += ls) {
    suu += pu[c] * pu[c];
    sud += pu[c] * pz[c];
  }
  float tuu = group_sum(suu, scratch);
  float tud = group_sum(sud, scratch);
  /* Writes: chunk j (VEC values, the last one possibly shorter) by work-item j % ls. A separate
   * work-item-strided loop over the tail misbehaved on PoCL 3.1 (CPU) when it read and wrote the
   * same element (in place / accumulate): the tail was updated once per work-item. */
  uint nch = (w + VEC - 1) / VEC;
  float r = sqrt(tuu), re = r + eps;
  float a = 1.0f / re;
  float b = r > 0.0f ? tud / (r * re * re) : 0.0f;
  for (uint j = lid; j < nch; j += ls) {
    uint c = j * VEC;
    if (c + VEC <= w) {
      floatv d = a * LOADV(pz + c) - b * LOADV(pu + c);
      if (accumulate) d += LOADV(pd + c);
      STOREV(d, pd + c);
    } else {
      for (uint i = c; i < w; i++) {
        float d = a * pz[i] - b * pu[i];
        pd[i] = accumulate ? pd[i] + d : d;
      }
    }
  }
}

__kernel void mean_tokens_grad(__global const float *dy, uint dyo, __global float *dx, uint dxo,
                               uint n, uint t, uint w, uint accumulate) {
  uint g = get_global_id(0);
  uint cpr = (w + VEC - 1) / VEC;
  if (g >= n * t * cpr) return;
  uint row = g / cpr;
  uint c = (g - row * cpr) * VEC;
  uint b = row / t;
  __global const float *py = dy + dyo + b * w + c;
  __global float *px = dx + dxo + row * w + c;
  float inv = 1.0f / (float)t;
  if (c + VEC <= w) {
    floatv d = LOADV(py) * inv;
    if (accumulate) d += LOADV(px);
    STOREV(d, px);
  } else {
    for (uint i = 0; i < w - c; i++) px[i] = accumulate ? px[i] + py[i] * inv : py[i] * inv;
  }
}
