/* GEMMs in reduced precision (rt->precision). BF16 and INT8 go to oneDNN on the host
 * (host/gemm/provider_onednn.c: bfloat16 operands with float32 sums; dynamic symmetric int8 with
 * per-row scales of A and per-column scales of B). For FP16 the operands are rounded to float16 in
 * scratch buffers (the runtime's conversions), multiplied, and the float16 product is scattered
 * back into the float32 C with beta. FP16 multiplies with a provider that has float16 arithmetic
 * (CLBlast's Hgemm, cl_khr_fp16); FP16_EMULATED widens the rounded operands again and multiplies
 * them with the usual float32 providers, which shows what float16 storage costs in accuracy on any
 * device. Both go through the one choice of gemm_run_validated. */
#include "gemm_internal.h"

/* rt->scratch slots: the half copies of A, B and the product, and (emulating) the float32
 * widenings of A and B and the float32 product. */
enum { SCRATCH_A16, SCRATCH_B16, SCRATCH_C16, SCRATCH_A32, SCRATCH_B32, SCRATCH_C32 };
_Static_assert(SCRATCH_C32 + 1 == CLIPPO_RT_SCRATCH, "one runtime scratch buffer per slot");

/* A 1-D view of n elements of dtype dt from rt's scratch slot, growing it when needed. */
static clippo_status scratch(clippo_rt *rt, int slot, clippo_dtype dt, size_t n, clippo_tensor *out,
                             clippo_error *err) {
  clippo_tensor *s = &rt->scratch[slot];
  if (!s->mem || s->dtype != dt || (size_t)s->shape[0] < n) {
    clippo_tensor_release(rt, s);
    int64_t shape[1] = {(int64_t)n};
    clippo_status st = clippo_tensor_alloc(rt, s, dt, 1, shape, err);
    if (st) return clippo_error_prefix(err, "fp16 GEMM scratch");
  }
  int64_t shape[1] = {(int64_t)n};
  *out = clippo_tensor_view(s, 0, 1, shape);
  return CLIPPO_OK;
}

/* The elements an operand spans, from its offset, as a 1-D float32 view. */
static clippo_tensor span(const clippo_tensor *t, size_t extent) {
  int64_t shape[1] = {(int64_t)extent};
  return clippo_tensor_view(t, 0, 1, shape);
}

/* Rounds the span of one operand into half scratch slot `hs` (and, emulating, widens it again
 * into float scratch slot `fs`); *out is what the multiplication reads. */
static clippo_status round_operand(clippo_rt *rt, const clippo_tensor *t, size_t extent, int hs,
                                   int fs, clippo_tensor *out, clippo_error *err) {
  clippo_tensor src = span(t, extent), h;
  clippo_status st = scratch(rt, hs, CLIPPO_F16, extent, &h, err);
  if (st == CLIPPO_OK) st = clippo_tensor_to_half(rt, &src, &h, err);
  if (st != CLIPPO_OK || rt->precision == CLIPPO_PRECISION_FP16) {
    *out = h;
    return st;
  }
  if ((st = scratch(rt, fs, CLIPPO_F32, extent, out, err))) return st;
  return clippo_tensor_from_half(rt, &h, 1, 1, extent, 0.0f, out, extent, 0, err);
}

/* bfloat16 and int8: oneDNN's, whatever the record says; a caller or CLIPPO_GEMM forcing another
 * provider is an error. */
static clippo_status run_onednn(clippo_rt *rt, clippo_gemm_provider want, const gemm_call *g,
                                clippo_error *err) {
  const char *by = "the caller";
  if (want == CLIPPO_GEMM_AUTO && rt->settings.gemm[0]) {
    if (clippo_gemm_provider_parse(rt->settings.gemm, &want, err) != CLIPPO_OK)
      return clippo_error_prefix(err, "env CLIPPO_GEMM");
    by = "env CLIPPO_GEMM";
  }
  if (want != CLIPPO_GEMM_AUTO && want != CLIPPO_GEMM_ONEDNN)
    return clippo_fail(err, CLIPPO_E_UNSUPPORTED,
                       "%s asks for GEMM provider %s, but precision %s runs through oneDNN only "
                       "(device '%s')",
                       by, clippo_gemm_provider_name(want), clippo_precision_name(rt->precision),
                       rt->info.name);
  return gemm_onednn_run_reduced(rt, g, err);
}

clippo_status gemm_run_reduced(clippo_rt *rt, clippo_gemm_provider want, const gemm_call *g,
                               clippo_error *err) {
  if (gemm_precision_onednn(rt->precision)) return run_onednn(rt, want, g, err);
  const size_t ar = g->ta ? g->k : g->m, ac = g->ta ? g->m : g->k;
  const size_t br = g->tb ? g->n : g->k, bc = g->tb ? g->k : g->n;
  const size_t ea = gemm_extent(ar, ac, g->lda, g->sa, g->batch);
  const size_t eb = gemm_extent(br, bc, g->ldb, g->sb, g->batch);
  const size_t mn = g->m * g->n, ec = mn * g->batch;
  clippo_tensor a, b, ch;
  clippo_status st = round_operand(rt, g->a, ea, SCRATCH_A16, SCRATCH_A32, &a, err);
  if (st == CLIPPO_OK) st = round_operand(rt, g->b, eb, SCRATCH_B16, SCRATCH_B32, &b, err);
  if (st == CLIPPO_OK) st = scratch(rt, SCRATCH_C16, CLIPPO_F16, ec, &ch, err);
  if (st != CLIPPO_OK) return st;
  gemm_call p = *g; /* the packed product: C' (batch, m, n) = alpha * A' B' */
  p.a = &a;
  p.b = &b;
  p.beta = 0.0f;
  p.ldc = g->n;
  p.sc = mn;
  p.bias = NULL; /* the epilogue comes after beta C is added back (gemm_dispatch) */
  p.act = CLIPPO_GEMM_ACT_NONE;
  p.act_out = NULL;
  p.epi_done = NULL;
  if (rt->precision == CLIPPO_PRECISION_FP16) {
    p.c = &ch;
    st = gemm_run_validated(rt, want, NULL, 1, &p, err);
  } else {
    clippo_tensor cf;
    st = scratch(rt, SCRATCH_C32, CLIPPO_F32, ec, &cf, err);
    p.c = &cf;
    if (st == CLIPPO_OK) st = gemm_run_validated(rt, want, NULL, 0, &p, err);
    if (st == CLIPPO_OK) st = clippo_tensor_to_half(rt, &cf, &ch, err);
  }
  if (st != CLIPPO_OK) return st;
  return clippo_tensor_from_half(rt, &ch, g->batch, g->m, g->n, g->beta, g->c, g->ldc,
                                 g->batch > 1 ? g->sc : 0, err);
}
