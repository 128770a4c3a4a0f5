/* GELU backward (tanh approximation, flax's default):
 *   gelu(u)  = 0.5 u (1 + tanh(a)),  a = sqrt(2/pi) (u + 0.044715 u^3)
 *   gelu'(u) = 0.5 (1 + tanh(a)) + 0.5 u (1 - tanh(a)^2) sqrt(2/pi) (1 + 3 * 0.044715 u^2)
 *  - gelu_grad: dx = dy * gelu'(u) over n values; work-item g takes the VEC values starting at
 *    g * VEC (the last chunk may be shorter). dx may be dy itself.
 *  - gelu_grad_keep: the same at x = u + b[col] over (rows, cols) (b only with has_bias; a flat
 *    array is rows = 1, cols = n), and h = gelu(x) from the same tanh (a training backward needs
 *    both: gelu(x) for the next layer's weight gradient, gelu'(x) for its own; the forward kept u
 *    without its bias). Work-item (g, r) of a 2-D launch takes the VEC columns from g * VEC of
 *    row r (no division of a flat index per work-item: 25 % slower in the training step). */
#include "common.h"

#define GELU_C 0.7978845608028654f /* sqrt(2 / pi) */
#define GELU_2C_LOG2E 2.302208198144325f /* 2 sqrt(2 / pi) log2(e) */

/* gelu'(u) into *d and gelu(u) = 0.5 u (1 + tanh(a)) as the result, sharing tanh. tanh(a) =
 * sign(a) (1 - e) / (1 + e) with e = exp(-2 |a|): 1 + tanh(a) and 1 - tanh(a)^2 = 4 e / (1 + e)^2
 * are then formed without cancellation, also where tanh(a) rounds to +-1. e is exp2 of the
 * argument times log2(e), folded into the constant: PoCL's vector exp2 costs half its exp. */
static inline floatv gelu_both_v(floatv u, floatv *d) {
  floatv u2 = u * u;
  floatv t = u + 0.044715f * (u2 * u), a = GELU_C * t;
  floatv e = exp2(-GELU_2C_LOG2E * fabs(t));
  floatv inv = 1.0f / (1.0f + e);
  floatv one_plus_t = select(2.0f * e * inv, 2.0f * inv, isgreaterequal(a, (floatv)(0.0f)));
  floatv sech2 = 4.0f * e * inv * inv;
  *d = 0.5f * one_plus_t + (0.5f * u) * (sech2 * (GELU_C * (1.0f + 0.134145f * u2)));
  return (0.5f * u) * one_plus_t;
}

#if VEC != 1
static inline float gelu_both_s(float u, float *d) {
  float u2 = u * u;
  float t = u + 0.044715f * (u2 * u), a = GELU_C * t;
  float e = exp2(-GELU_2C_LOG2E * fabs(t));
  float inv = 1.0f / (1.0f + e);
  float one_plus_t = a >= 0.0f ? 2.0f * inv : 2.0f * e * inv;
  float sech2 = 4.0f * e * inv * inv;
  *d = 0.5f * one_plus_t + (0.5f * u) * (sech2 * (GELU_C * (1.0f + 0.134145f * u2)));
  return (0.5f * u) * one_plus_t;
}
#else
#define gelu_both_s gelu_both_v
#endif

/* gelu'(u) alone (the compiler drops gelu(u)). */
static inline floatv gelu_deriv_v(floatv u) {
  floatv d;
  (void)gelu_both_v(u, &d);
  return d;
}

#if VEC != 1
static inline float gelu_deriv_s(float u) {
  float d;
  (void)gelu_both_s(u, &d);
  return d;
}
#else
#define gelu_deriv_s gelu_deriv_v
#endif

__kernel void gelu_grad(__global const float *u, uint uo, __global const float *dy, uint dyo,
                        __global float *dx, uint dxo, uint n) {
  uint g = get_global_id(0);
  uint c = g * VEC;
  if (c >= n) return;
  __global const float *pu = u + uo + c;
  __global const float *pd = dy + dyo + c;
  __global float *px = dx + dxo + c;
  if (c + VEC <= n) {
    STOREV(LOADV(pd) * gelu_deriv_v(LOADV(pu)), px);
  } else {
    for (uint i = 0; i < n - c; i++) px[i] = pd[i] * gelu_deriv_s(pu[i]);
  }
}

__kernel void gelu_grad_keep(__global const float *u, uint uo, __global const float *b, uint bo,
                             __global const float *dy, uint dyo, __global float *dx, uint dxo,
                             __global float *h, uint ho, uint rows, uint cols, uint has_bias) {
  uint c = get_global_id(0) * VEC, r = get_global_id(1);
  if (c >= cols || r >= rows) return;
  uint o = r * cols + c;
  __global const float *pu = u + uo + o;
  __global const float *pd = dy + dyo + o;
  __global float *px = dx + dxo + o;
  __global float *ph = h + ho + o;
  b += bo + c;
  if (c + VEC <= cols) {
    floatv x = LOADV(pu);
    if (has_bias) x += LOADV(b);
    floatv d;
    floatv hv = gelu_both_v(x, &d);
    STOREV(LOADV(pd) * d, px);
    STOREV(hv, ph);
  } else {
    for (uint i = 0; i < cols - c; i++) {
      float d;
      ph[i] = gelu_both_s(has_bias ? pu[i] + b[i] : pu[i], &d);
      px[i] = pd[i] * d;
    }
  }
}
