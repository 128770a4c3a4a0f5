/* Layout transforms around the batched attention GEMMs. W = heads * hd.
 *  - heads_split: from projection rows src (n * t, ld), columns [col0, col0 + W) with column
 *    h * hd + d for head h (big_vision's (W, H, hd) kernels flattened), to per-(image, head)
 *    blocks dst (n * heads, t, hd), fusing the projection bias and a scale:
 *    dst[(b * heads + h) * t + k, d] = (src[(b * t + k) * ld + col0 + h * hd + d] + bias[h * hd
 *    + d]) * scale (has_bias 0: no bias). The scale is 1/sqrt(hd) for q (big_vision divides q, not
 *    the logits), 1 for k and v.
 *  - heads_merge: the inverse layout without bias: (n * heads, t, hd) -> (n * t, W), column
 *    h * hd + d.
 * Work-item g handles the hd contiguous floats of one (token row, head) pair: g = row * heads +
 * h. */
#include "common.h"

__kernel void heads_split(__global const float *src, uint so, uint ld, uint col0,
                          __global const float *bias, uint bo, uint has_bias, float scale,
                          __global float *dst, uint dso, uint rows, uint t, uint heads, uint hd) {
  uint g = get_global_id(0);
  if (g >= rows * heads) return;
  uint row = g / heads, h = g - row * heads;
  uint b = row / t, k = row - b * t;
  __global const float *ps = src + so + row * ld + col0 + h * hd;
  __global const float *pb = bias + bo + h * hd;
  __global float *pd = dst + dso + ((b * heads + h) * t + k) * hd;
  uint d = 0;
  if (has_bias) {
    for (; d + VEC <= hd; d += VEC) STOREV((LOADV(ps + d) + LOADV(pb + d)) * scale, pd + d);
    for (; d < hd; d++) pd[d] = (ps[d] + pb[d]) * scale;
  } else {
    for (; d + VEC <= hd; d += VEC) STOREV(LOADV(ps + d) * scale, pd + d);
    for (; d < hd; d++) pd[d] = ps[d] * scale;
  }
}

__kernel void heads_merge(__global const float *src, uint so, __global float *dst, uint dso,
                          uint rows, uint t, uint heads, uint hd) {
  uint g = get_global_id(0);
  if (g >= rows * heads) return;
  uint row = g / heads, h = g - row * heads;
  uint b = row / t, k = row - b * t;
  __global const float *ps = src + so + ((b * heads + h) * t + k) * hd;
  __global float *pd = dst + dso + row * (heads * hd) + h * hd;
  uint d = 0;
  for (; d + VEC <= hd; d += VEC) STOREV(LOADV(ps + d), pd + d);
  for (; d < hd; d++) pd[d] = ps[d];
}
