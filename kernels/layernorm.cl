/* LayerNorm over the last axis: y = (x - mean) * (rsqrt(var + eps) * scale) + bias, with the
 * biased variance computed in a second pass over the row (numerically sound, as flax's result in
 * float32 within ~1e-6). With add != 0 the residual r is added first and the sum is stored back
 * into x (x += r; y = LN(x)); with add == 2 also a bias per column, x = (x + r) + xb (a dense
 * layer's product before its residual and its bias, added in the order of a product accumulated
 * onto the residual and its bias epilogue: one pass instead of a copy and an epilogue).
 *
 * Two variants with the same arguments:
 *  - layernorm_row: one row per work-item, VEC-wide loads (CPU devices);
 *  - layernorm_group: one row per work-group, local-memory reductions (GPUs); needs a power-of-two
 *    local size and `scratch` of one float per work-item.
 * y may be x itself (in place), but not partially overlap it. */
#include "common.h"

__kernel void layernorm_row(__global float *x, uint xo, __global const float *r, uint ro,
                            __global const float *xb, uint xbo, __global const float *scale,
                            uint so, __global const float *bias, uint bo, __global float *y,
                            uint yo, uint rows, uint w, float eps, uint add) {
  uint row = get_global_id(0);
  if (row >= rows) return;
  __global float *xr = x + xo + row * w;
  __global float *yr = y + yo + row * w;
  scale += so;
  bias += bo;
  xb += xbo;
  if (add) {
    __global const float *rr = r + ro + row * w;
    uint c = 0;
    if (add == 2) {
      for (; c + VEC <= w; c += VEC)
        STOREV(LOADV(xr + c) + LOADV(rr + c) + LOADV(xb + c), xr + c);
      for (; c < w; c++) xr[c] = xr[c] + rr[c] + xb[c];
    } else {
      for (; c + VEC <= w; c += VEC) STOREV(LOADV(xr + c) + LOADV(rr + c), xr + c);
      for (; c < w; c++) xr[c] += rr[c];
    }
  }
  float mean = row_sum(xr, w) / (float)w;
  float var = row_sqdev(xr, w, mean) / (float)w;
  float rstd = rsqrt(var + eps);
  uint c = 0;
  for (; c + VEC <= w; c += VEC) {
    floatv mul = rstd * LOADV(scale + c);
    STOREV((LOADV(xr + c) - mean) * mul + LOADV(bias + c), yr + c);
  }
  for (; c < w; c++) yr[c] = (xr[c] - mean) * (rstd * scale[c]) + bias[c];
}

__kernel void layernorm_group(__global float *x, uint xo, __global const float *r, uint ro,
                              __global const float *xb, uint xbo, __global const float *scale,
                              uint so, __global const float *bias, uint bo, __global float *y,
                              uint yo, uint rows, uint w, float eps, uint add,
                              __local float *scratch) {
  uint row = get_group_id(0);
  if (row >= rows) return; /* uniform over the group */
  uint lid = get_local_id(0), ls = get_local_size(0);
  __global float *xr = x + xo + row * w;
  __global float *yr = y + yo + row * w;
  scale += so;
  bias += bo;
  uint nfull = w / VEC;
  if (add) {
    /* Each work-item later reads back exactly the elements it writes here. */
    __global const float *rr = r + ro + row * w;
    xb += xbo;
    if (add == 2) {
      for (uint j = lid; j < nfull; j += ls)
        STOREV(LOADV(xr + j * VEC) + LOADV(rr + j * VEC) + LOADV(xb + j * VEC), xr + j * VEC);
      for (uint c = nfull * VEC + lid; c < w; c += ls) xr[c] = xr[c] + rr[c] + xb[c];
    } else {
      for (uint j = lid; j < nfull; j += ls)
        STOREV(LOADV(xr + j * VEC) + LOADV(rr + j * VEC), xr + j * VEC);
      for (uint c = nfull * VEC + lid; c < w; c += ls) xr[c] += rr[c];
    }
  }
  float mean = group_sum(part_sum(xr, w, lid, ls), scratch) / (float)w;
  float var = group_sum(part_sqdev(xr, w, mean, lid, ls), scratch) / (float)w;
  float rstd = rsqrt(var + eps);
  for (uint j = lid; j < nfull; j += ls) {
    uint c = j * VEC;
    floatv mul = rstd * LOADV(scale + c);
    STOREV((LOADV(xr + c) - mean) * mul + LOADV(bias + c), yr + c);
  }
  for (uint c = nfull * VEC + lid; c < w; c += ls)
    yr[c] = (xr[c] - mean) * (rstd * scale[c]) + bias[c];
}
