/* Elementwise kernels. Work-item g takes VEC consecutive elements (the last chunk may be
 * shorter).
 *  - ew_add:    y[i] += x[i] over n floats (residual add);
 *  - ew_scale:  x[i] *= alpha over n floats;
 *  - ew_copy2d: dst[r * ldd + c] = src[r * lds + c] (+= with acc) for a (rows, cols) block: a
 *    plain copy (rows 1), a broadcast of one row over many (lds 0), or a column block of a wider
 *    matrix. */
#include "common.h"

__kernel void ew_add(__global float *y, uint yo, __global const float *x, uint xo, uint n) {
  uint i = get_global_id(0) * VEC;
  if (i >= n) return;
  __global float *py = y + yo + i;
  __global const float *px = x + xo + i;
  if (i + VEC <= n) {
    STOREV(LOADV(py) + LOADV(px), py);
  } else {
    for (uint k = 0; k < n - i; k++) py[k] += px[k];
  }
}

__kernel void ew_scale(__global float *x, uint xo, uint n, float alpha) {
  uint i = get_global_id(0) * VEC;
  if (i >= n) return;
  __global float *p = x + xo + i;
  if (i + VEC <= n) {
    STOREV(LOADV(p) * alpha, p);
  } else {
    for (uint k = 0; k < n - i; k++) p[k] *= alpha;
  }
}

__kernel void ew_copy2d(__global const float *src, uint so, uint lds, __global float *dst, uint dso,
                        uint ldd, uint rows, uint cols, uint acc) {
  uint g = get_global_id(0);
  uint cpr = (cols + VEC - 1) / VEC;
  if (g >= rows * cpr) return;
  uint r = g / cpr;
  uint c = (g - r * cpr) * VEC;
  __global const float *ps = src + so + r * lds + c;
  __global float *pd = dst + dso + r * ldd + c;
  if (c + VEC <= cols) {
    floatv x = LOADV(ps);
    if (acc) x += LOADV(pd);
    STOREV(x, pd);
  } else {
    for (uint k = 0; k < cols - c; k++) pd[k] = acc ? pd[k] + ps[k] : ps[k];
  }
}
