/* Row softmax in place with the logits scaled first: x = softmax(scale * x) over rows of len.
 * Stable: exp(scale * x - max) / sum.
 *  - softmax_row: one row per work-item with VEC-wide exp (CPU devices: scalar exp is not
 *    vectorised across work-items by PoCL, explicit vectors are ~9x faster);
 *  - softmax_group: one row per work-group (GPUs), power-of-two local size, `scratch` of one float
 *    per work-item. */
#include "common.h"

__kernel void softmax_row(__global float *x, uint xo, uint rows, uint len, float scale) {
  uint row = get_global_id(0);
  if (row >= rows) return;
  __global float *p = x + xo + row * len;
  uint c;
  floatv mv = (floatv)(-INFINITY);
  for (c = 0; c + VEC <= len; c += VEC) mv = fmax(mv, LOADV(p + c) * scale);
  float m = hmax(mv);
  for (; c < len; c++) m = fmax(m, p[c] * scale);
  floatv sv = (floatv)(0.0f);
  for (c = 0; c + VEC <= len; c += VEC) {
    floatv e = exp(LOADV(p + c) * scale - m);
    STOREV(e, p + c);
    sv += e;
  }
  float s = hsum(sv);
  for (; c < len; c++) {
    float e = exp(p[c] * scale - m);
    p[c] = e;
    s += e;
  }
  for (c = 0; c + VEC <= len; c += VEC) STOREV(LOADV(p + c) / s, p + c);
  for (; c < len; c++) p[c] /= s;
}

__kernel void softmax_group(__global float *x, uint xo, uint rows, uint len, float scale,
                            __local float *scratch) {
  uint row = get_group_id(0);
  if (row >= rows) return; /* uniform over the group */
  uint lid = get_local_id(0), ls = get_local_size(0);
  __global float *p = x + xo + row * len;
  uint nfull = len / VEC;
  floatv mv = (floatv)(-INFINITY);
  for (uint j = lid; j < nfull; j += ls) mv = fmax(mv, LOADV(p + j * VEC) * scale);
  float m = hmax(mv);
  for (uint c = nfull * VEC + lid; c < len; c += ls) m = fmax(m, p[c] * scale);
  m = group_max(m, scratch);
  floatv sv = (floatv)(0.0f);
  for (uint j = lid; j < nfull; j += ls) {
    floatv e = exp(LOADV(p + j * VEC) * scale - m);
    STOREV(e, p + j * VEC);
    sv += e;
  }
  float s = hsum(sv);
  for (uint c = nfull * VEC + lid; c < len; c += ls) {
    float e = exp(p[c] * scale - m);
    p[c] = e;
    s += e;
  }
  s = group_sum(s, scratch);
  /* Each work-item rescales the elements it wrote. */
  for (uint j = lid; j < nfull; j += ls) STOREV(LOADV(p + j * VEC) / s, p + j * VEC);
  for (uint c = nfull * VEC + lid; c < len; c += ls) p[c] /= s;
}
