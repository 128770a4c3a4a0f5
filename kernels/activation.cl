/* Activations and bias over a (rows, cols) row-major array, in place or into another array.
 * bias_act: y[r, c] = f(x[r, c] + b[c]) with f = GELU (tanh approximation, flax's default) when
 * gelu != 0, else identity; without bias (has_bias == 0) it is f(x) alone. y may be x itself.
 * Work-item g takes VEC consecutive columns of one row (chunk g % cpr of row g / cpr, cpr =
 * ceil(cols / VEC)); the last chunk of a row may be shorter. A flat array of n floats is rows = 1,
 * cols = n. */
#include "common.h"

#define GELU_C 0.7978845608028654f /* sqrt(2 / pi) */

/* jax.nn.gelu(approximate=True) = x * 0.5 * (1 + tanh(u)), u = sqrt(2/pi) (x + 0.044715 x^3),
 * computed as the identical x / (1 + exp(-2u)): PoCL's vector exp costs about half its tanh, and
 * the form keeps full relative accuracy for negative x (no 1 + tanh cancellation). Overflow of
 * exp for u < -44 gives x / inf = -0, the limit. */
static inline floatv gelu_v(floatv x) {
  floatv u = GELU_C * (x + 0.044715f * (x * x * x));
  return x / (1.0f + exp(-2.0f * u));
}

#if VEC != 1
static inline float gelu_s(float x) {
  float u = GELU_C * (x + 0.044715f * (x * x * x));
  return x / (1.0f + exp(-2.0f * u));
}
#else
#define gelu_s gelu_v
#endif

__kernel void bias_act(__global const float *x, uint xo, __global const float *b, uint bo,
                       __global float *y, uint yo, uint rows, uint cols, uint has_bias,
                       uint gelu) {
  uint g = get_global_id(0);
  uint cpr = (cols + VEC - 1) / VEC;
  if (g >= rows * cpr) return;
  uint r = g / cpr;
  uint c = (g - r * cpr) * VEC;
  __global const float *p = x + xo + r * cols + c;
  __global float *q = y + yo + r * cols + c;
  b += bo + c;
  if (c + VEC <= cols) {
    floatv v = LOADV(p);
    if (has_bias) v += LOADV(b);
    if (gelu) v = gelu_v(v);
    STOREV(v, q);
  } else {
    for (uint i = 0; i < cols - c; i++) {
      float v = p[i];
      if (has_bias) v += b[i];
      if (gelu) v = gelu_s(v);
      q[i] = v;
    }
  }
}
