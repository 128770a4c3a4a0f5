/* clippo_gemm_fused's epilogue, C = act(C + bias), where the provider that multiplied did not
 * apply it as C came out (oneDNN does, host/gemm/provider_onednn.c, with this file's row loop
 * gemm_bias_act_row): C and the bias are mapped to the host after the product and a plain loop
 * applies it. Correct on every device; on a device with its own memory the map copies C both
 * ways, which is why callers ask clippo_gemm_fuses_epilogue and run the bias kernels there
 * instead. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "gemm_internal.h"

#define GELU_2C_LOG2E 2.302208198144325f /* 2 sqrt(2 / pi) log2(e) */
#define GELU_T_MAX_BITS 0x425a0000u      /* 54.5f: 2^(-2 sqrt(2 / pi) log2(e) 54.5) is 2^-125.5 */

/* GELU's tanh form, gelu(x) = 0.5 x (1 + tanh(sqrt(2/pi) t)) with t = x + 0.044715 x^3, as
 * x / (1 + e) for t >= 0 and x e / (1 + e) below, e = exp(-2 sqrt(2/pi) |t|) = 2^-y: 2^-y from the
 * integer part of y put in the exponent's bits and a degree-5 polynomial of the fraction
 * (relative error 1.2e-7 against float64's tanh). Branch-free plain C that GCC vectorises: |t| is
 * clamped on its bits (NaN too; a float clamp before the conversion to int kept GCC from
 * vectorising), no operation that may trap sits under a condition, and the numerator is chosen by
 * t's sign bit (GCC 12 vectorised `t < 0 ? e : 1` with AVX-512's masks only: the AVX2 clone ran
 * scalar, 0.2 G values/s on a Zen 3 core; -0 gives e = 1 - 6e-8 there instead of 1). 3.8 G
 * values/s on two cores of a Zen 4 EPYC, oneDNN's gelu_tanh post-op 2.5-2.8. */
static inline float gelu_value(float x) {
  float t = x + 0.044715f * (x * x * x);
  uint32_t tb = gemm_float_bits(t), at = tb & 0x7fffffffu;
  at = at < GELU_T_MAX_BITS ? at : GELU_T_MAX_BITS;
  float y = -GELU_2C_LOG2E * gemm_bits_float(at); /* in (-125.5, 0] */
  int32_t n = (int32_t)y;                         /* toward zero: the ceiling */
  n -= (float)n > y;                              /* the floor */
  float f = y - (float)n;                         /* in [0, 1) */
  float p = 1.8775767e-3f;
  p = p * f + 8.9893397e-3f;
  p = p * f + 5.5826318e-2f;
  p = p * f + 2.4015361e-1f;
  p = p * f + 6.9315308e-1f;
  p = p * f + 9.9999994e-1f;
  float e = p * gemm_bits_float((uint32_t)(n + 127) << 23);
  uint32_t neg = 0u - (tb >> 31); /* t's sign: e above, 1 below (a float select stays scalar) */
  return x * gemm_bits_float((gemm_float_bits(e) & neg) | (0x3f800000u & ~neg)) / (1.0f + e);
}

GEMM_SIMD_CLONES static void gelu_row(float *to, const float *row, const float *bias, size_t n) {
  if (bias)
    for (size_t j = 0; j < n; j++) to[j] = gelu_value(row[j] + bias[j]);
  else
    for (size_t j = 0; j < n; j++) to[j] = gelu_value(row[j]);
}

GEMM_SIMD_CLONES static void bias_row(float *to, const float *row, const float *bias, size_t n) {
  for (size_t j = 0; j < n; j++) to[j] = row[j] + bias[j];
}

void gemm_bias_act_row(float *to, const float *row, const float *bias, size_t n,
                       clippo_gemm_act act) {
  if (act == CLIPPO_GEMM_ACT_GELU)
    gelu_row(to, row, bias, n);
  else if (bias)
    bias_row(to, row, bias, n);
  else if (to != row)
    memcpy(to, row, n * sizeof *to);
}

/* row = exp(row - max) / sum, as kernels/softmax.cl. */
static void softmax_row(float *row, size_t n) {
  float mx = row[0];
  for (size_t j = 1; j < n; j++) mx = row[j] > mx ? row[j] : mx;
  float sum = 0.0f;
  for (size_t j = 0; j < n; j++) sum += row[j] = expf(row[j] - mx);
  for (size_t j = 0; j < n; j++) row[j] /= sum;
}

/* C = act(C + bias) over host memory (m x n, leading dimension ldc; bias n floats or NULL), or
 * with out (same layout) out = act(C + bias), C unchanged; softmax per row (no bias, no out). */
static void epilogue_rows(float *c, size_t m, size_t n, size_t ldc, const float *bias,
                          clippo_gemm_act act, float *out) {
  for (size_t i = 0; i < m; i++) {
    float *row = c + i * ldc, *to = out ? out + i * ldc : row;
    if (act == CLIPPO_GEMM_ACT_SOFTMAX) { /* no bias, no out (gemm_validate) */
      if (n) softmax_row(row, n);
      continue;
    }
    gemm_bias_act_row(to, row, bias, n, act);
  }
}

void gemm_epilogue_host(const gemm_call *g, const gemm_mapped *mp) {
  for (size_t z = 0; z < g->batch; z++) /* bias and act_out come with batch 1 only */
    epilogue_rows(mp->c + z * g->sc, g->m, g->n, g->ldc, mp->bias, g->act, mp->act_out);
}

clippo_status gemm_epilogue_mapped(clippo_rt *rt, const gemm_call *g, clippo_error *err) {
  gemm_call only_c = *g;
  only_c.k = 0; /* maps C (read and write), the bias and act_out, not A and B */
  gemm_mapped mp;
  clippo_status st = gemm_map(rt, &only_c, "gemm epilogue", &mp, err);
  if (st) return st;
  gemm_epilogue_host(g, &mp);
  return gemm_unmap(rt, &mp, CLIPPO_OK, "gemm epilogue", err);
}
