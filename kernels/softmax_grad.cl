/* Softmax backward. Forward p = softmax(scale * x) per row of len; given dp = dL/dp:
 *   dx = scale * p * (dp - sum(dp * p))
 *  - softmax_grad_row: one row per work-item, VEC-wide (CPU devices);
 *  - softmax_grad_group: one row per work-group (GPUs), power-of-two local size, scratch of one
 *    float per work-item.
 * dx may be dp itself (each element is read before it is written by the same work-item). */
#include "common.h"

__kernel void softmax_grad_row(__global const float *p, uint po, __global const float *dp, uint dpo,
                               __global float *dx, uint dxo, uint rows, uint len, float scale) {
  uint row = get_global_id(0);
  if (row >= rows) return;
  __global const float *pp = p + po + row * len;
  __global const float *pd = dp + dpo + row * len;
  __global float *px = dx + dxo + row * len;
  floatv acc = (floatv)(0.0f);
  uint c = 0;
  for (; c + VEC <= len; c += VEC) acc += LOADV(pd + c) * LOADV(pp + c);
  float s = hsum(acc);
  for (; c < len; c++) s += pd[c] * pp[c];
  for (c = 0; c + VEC <= len; c += VEC) STOREV(scale * LOADV(pp + c) * (LOADV(pd + c) - s), px + c);
  for (; c < len; c++) px[c] = scale * pp[c] * (pd[c] - s);
}

__kernel void softmax_grad_group(__global const float *p, uint po, __global const float *dp,
                                 uint dpo, __global float *dx, uint dxo, uint rows, uint len,
                                 float scale, __local float *scratch) {
  uint row = get_group_id(0);
  if (row >= rows) return; /* uniform over the group */
  uint lid = get_local_id(0), ls = get_local_size(0);
  __global const float *pp = p + po + row * len;
  __global const float *pd = dp + dpo + row * len;
  __global float *px = dx + dxo + row * len;
  uint nfull = len / VEC;
  floatv acc = (floatv)(0.0f);
  for (uint j = lid; j < nfull; j += ls) acc += LOADV(pd + j * VEC) * LOADV(pp + j * VEC);
  float s = hsum(acc);
  for (uint c = nfull * VEC + lid; c < len; c += ls) s += pd[c] * pp[c];
  s = group_sum(s, scratch);
  /* Writes: chunk j (VEC values, the last one possibly shorter) by work-item j % ls. A separate
   * work-item-strided loop over the tail misbehaved on PoCL 3.1 (CPU) when it read and wrote the
   * same element (in place / accumulate): the tail was updated once per work-item. */
  uint nch = (len + VEC - 1) / VEC;
  for (uint j = lid; j < nch; j += ls) {
    uint c = j * VEC;
    if (c + VEC <= len) {
      STOREV(scale * LOADV(pp + c) * (LOADV(pd + c) - s), px + c);
    } else {
      for (uint i = c; i < len; i++) px[i] = scale * pp[i] * (pd[i] - s);
    }
  }
}
