/* clippo_gemm_fused's epilogue, C = act(C + bias), where the provider that multiplied did not
 * apply it as C came out (oneDNN does, host/gemm/provider_onednn.c): C and the bias are mapped to
 * the host after the product and a plain loop applies it. Correct on every device; on a device
 * with its own memory the map copies C both ways, which is why callers ask
 * clippo_gemm_fuses_epilogue and run the bias kernels there instead. */
#include <math.h>

#include "gemm_internal.h"

#define GELU_C 0.7978845608028654f /* sqrt(2 / pi) */

/* GELU's tanh form as kernels/activation.cl computes it: x / (1 + exp(-2u)). */
static float gelu(float x) {
  float u = GELU_C * (x + 0.044715f * (x * x * x));
  return x / (1.0f + expf(-2.0f * u));
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
    for (size_t j = 0; j < n; j++) {
      float v = bias ? row[j] + bias[j] : row[j];
      to[j] = act == CLIPPO_GEMM_ACT_GELU ? gelu(v) : v;
    }
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
