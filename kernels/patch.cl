/* Patch embedding helpers (the (P*P*3, W) projection itself is a GEMM).
 *  - patchify: NHWC images (n, s, s, 3) -> rows (n * t, p * p * 3), t = (s / p)^2, token
 *    index = grid_row * (s / p) + grid_col, each patch flattened as (ph, pw, c) like the conv
 *    kernel reshape (P, P, 3, W) -> (P*P*3, W). Work-item g copies the p * 3 contiguous floats
 *    of patch row ph = g % p of token row g / p.
 *  - bias_posemb: x[r, c] = (x[r, c] + bias[c]) + pos[r % t, c] for x (rows, w): conv bias then
 *    the learnt position embedding, in big_vision's order. Work-item g takes VEC columns. */
#include "common.h"

__kernel void patchify(__global const float *img, uint io, __global float *out, uint oo, uint n,
                       uint s, uint p) {
  uint g = get_global_id(0);
  uint grid = s / p, t = grid * grid;
  if (g >= n * t * p) return;
  uint tr = g / p, ph = g - tr * p; /* token row (n * t + token), patch row */
  uint b = tr / t, tok = tr - b * t;
  uint gy = tok / grid, gx = tok - gy * grid;
  __global const float *src = img + io + ((b * s + gy * p + ph) * s + gx * p) * 3;
  __global float *dst = out + oo + tr * (p * p * 3) + ph * (p * 3);
  uint len = p * 3, c = 0;
  for (; c + VEC <= len; c += VEC) STOREV(LOADV(src + c), dst + c);
  for (; c < len; c++) dst[c] = src[c];
}

__kernel void bias_posemb(__global float *x, uint xo, __global const float *bias, uint bo,
                          __global const float *pos, uint po, uint rows, uint t, uint w) {
  uint g = get_global_id(0);
  uint cpr = (w + VEC - 1) / VEC;
  if (g >= rows * cpr) return;
  uint r = g / cpr;
  uint c = (g - r * cpr) * VEC;
  __global float *px = x + xo + r * w + c;
  __global const float *pb = bias + bo + c;
  __global const float *pp = pos + po + (r % t) * w + c;
  if (c + VEC <= w) {
    STOREV((LOADV(px) + LOADV(pb)) + LOADV(pp), px);
  } else {
    for (uint k = 0; k < w - c; k++) px[k] = (px[k] + pb[k]) + pp[k];
  }
}
