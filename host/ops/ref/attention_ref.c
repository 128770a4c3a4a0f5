/* Reference of the attention family (kernels/attention.cl, host/ops/attention.c) in float64:
 * head layouts and a whole multi-head attention written directly from big_vision's definition. */
#include "clippo/ref.h"

#include <math.h>
#include <stdlib.h>

void clippo_ref_heads_split(const float *src, size_t rows, size_t ld, size_t col0,
                            const float *bias, double scale, size_t t, size_t heads, size_t hd,
                            double *dst) {
  for (size_t row = 0; row < rows; row++) {
    size_t b = row / t, k = row % t;
    for (size_t h = 0; h < heads; h++)
      for (size_t d = 0; d < hd; d++) {
        double v = src[row * ld + col0 + h * hd + d];
        if (bias) v += bias[h * hd + d];
        dst[((b * heads + h) * t + k) * hd + d] = v * scale;
      }
  }
}

void clippo_ref_heads_merge(const float *src, size_t rows, size_t t, size_t heads, size_t hd,
                            double *dst) {
  size_t w = heads * hd;
  for (size_t row = 0; row < rows; row++) {
    size_t b = row / t, k = row % t;
    for (size_t h = 0; h < heads; h++)
      for (size_t d = 0; d < hd; d++)
        dst[row * w + h * hd + d] = src[((b * heads + h) * t + k) * hd + d];
  }
}

clippo_status clippo_ref_attention(const float *q, size_t ldq, const float *k, size_t ldk,
                                   const float *v, size_t ldv, const float *bq, const float *bk,
                                   const float *bv, double scale, size_t n, size_t tq, size_t tk,
                                   size_t heads, size_t hd, double *out, clippo_error *err) {
  double *p = calloc(tk ? tk : 1, sizeof *p), *qi = calloc(hd ? hd : 1, sizeof *qi);
  if (!p || !qi) {
    free(p), free(qi);
    return clippo_fail(err, CLIPPO_E_NOMEM, "ref attention: out of memory");
  }
  const size_t w = heads * hd;
  for (size_t b = 0; b < n; b++)
    for (size_t h = 0; h < heads; h++)
      for (size_t i = 0; i < tq; i++) {
        const size_t c0 = h * hd;
        for (size_t d = 0; d < hd; d++)
          qi[d] = ((double)q[(b * tq + i) * ldq + c0 + d] + (bq ? bq[c0 + d] : 0.0)) * scale;
        double m = -INFINITY, s = 0;
        for (size_t j = 0; j < tk; j++) {
          const float *kj = k + (b * tk + j) * ldk + c0;
          double dot = 0;
          for (size_t d = 0; d < hd; d++) dot += qi[d] * ((double)kj[d] + (bk ? bk[c0 + d] : 0.0));
          p[j] = dot;
          if (dot > m) m = dot;
        }
        for (size_t j = 0; j < tk; j++) s += (p[j] = exp(p[j] - m));
        double *o = out + (b * tq + i) * w + c0;
        for (size_t d = 0; d < hd; d++) o[d] = 0;
        for (size_t j = 0; j < tk; j++) {
          const float *vj = v + (b * tk + j) * ldv + c0;
          for (size_t d = 0; d < hd; d++)
            o[d] += p[j] / s * ((double)vj[d] + (bv ? bv[c0 + d] : 0.0));
        }
      }
  free(p), free(qi);
  return CLIPPO_OK;
}

/* y (rows, w) = x (rows, w) W (w, w) + b, x and W float, y double. */
static void dense(const float *x, size_t rows, size_t w, const float *wt, const float *b,
                  double *y) {
  for (size_t r = 0; r < rows; r++) {
    double *yr = y + r * w;
    for (size_t j = 0; j < w; j++) yr[j] = b[j];
    for (size_t i = 0; i < w; i++) {
      double xi = x[r * w + i];
      const float *wr = wt + i * w;
      for (size_t j = 0; j < w; j++) yr[j] += xi * wr[j];
    }
  }
}

clippo_status clippo_ref_mha(const float *xq, const float *xkv, size_t n, size_t tq, size_t tk,
                             size_t w, size_t heads, const float *wq, const float *bq,
                             const float *wk, const float *bk, const float *wv, const float *bv,
                             const float *wo, const float *bo, double *out, clippo_error *err) {
  if (heads == 0 || w % heads != 0)
    return clippo_fail(err, CLIPPO_E_ARG, "ref mha: width %zu not divisible by %zu heads", w,
                       heads);
  size_t hd = w / heads;
  /* calloc, not malloc: every element is written before it is read, but the analyzer cannot
   * follow the shapes through the loops */
  double *q = calloc(n * tq * w, sizeof *q), *k = calloc(n * tk * w, sizeof *k);
  double *v = calloc(n * tk * w, sizeof *v), *ctx = calloc(tq * w, sizeof *ctx);
  double *p = calloc(tk ? tk : 1, sizeof *p);
  if (!q || !k || !v || !ctx || !p) {
    free(q), free(k), free(v), free(ctx), free(p);
    return clippo_fail(err, CLIPPO_E_NOMEM, "ref mha: out of memory");
  }
  dense(xq, n * tq, w, wq, bq, q);
  dense(xkv, n * tk, w, wk, bk, k);
  dense(xkv, n * tk, w, wv, bv, v);
  double rs = 1.0 / sqrt((double)hd);
  for (size_t b = 0; b < n; b++) {
    for (size_t h = 0; h < heads; h++)
      for (size_t i = 0; i < tq; i++) {
        const double *qi = q + (b * tq + i) * w + h * hd;
        double m = -INFINITY, s = 0;
        for (size_t j = 0; j < tk; j++) {
          const double *kj = k + (b * tk + j) * w + h * hd;
          double dot = 0;
          for (size_t d = 0; d < hd; d++) dot += (qi[d] * rs) * kj[d];
          p[j] = dot;
          if (dot > m) m = dot;
        }
        for (size_t j = 0; j < tk; j++) s += (p[j] = exp(p[j] - m));
        double *ci = ctx + i * w + h * hd;
        for (size_t d = 0; d < hd; d++) ci[d] = 0;
        for (size_t j = 0; j < tk; j++) {
          const double *vj = v + (b * tk + j) * w + h * hd;
          double pj = p[j] / s;
          for (size_t d = 0; d < hd; d++) ci[d] += pj * vj[d];
        }
      }
    for (size_t i = 0; i < tq; i++) {
      double *o = out + (b * tq + i) * w;
      for (size_t j = 0; j < w; j++) o[j] = bo[j];
      for (size_t c = 0; c < w; c++) {
        double cc = ctx[i * w + c];
        for (size_t j = 0; j < w; j++) o[j] += cc * wo[c * w + j];
      }
    }
  }
  free(q), free(k), free(v), free(ctx), free(p);
  return CLIPPO_OK;
}
