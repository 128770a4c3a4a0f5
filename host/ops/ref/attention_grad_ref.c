/* Plain C reference of the attention backward (host/ops/attention_grad.c), float64 throughout:
 * recomputes the forward internals, then back-propagates (clippo/ops_grad.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "clippo/ops_grad.h"

/* y (rows, n) = x (rows, k) * w (k, n) + b (n) with float weights. */
static void dense_f(const float *x, size_t rows, size_t k, const float *w, const float *b, size_t n,
                    double *y) {
  for (size_t r = 0; r < rows; r++)
    for (size_t j = 0; j < n; j++) {
      double s = b ? b[j] : 0.0;
      for (size_t i = 0; i < k; i++) s += (double)x[r * k + i] * w[i * n + j];
      y[r * n + j] = s;
    }
}

/* Accumulates the gradients of y = x w + b for dy (rows, n): dw (k, n) += x^T dy, db += colsum,
 * dx (rows, k) = dy w^T (overwritten; NULL to skip). */
static void dense_back(const float *x, size_t rows, size_t k, const float *w, size_t n,
                       const double *dy, double *dx, double *dw, double *db) {
  for (size_t r = 0; r < rows; r++) {
    for (size_t j = 0; j < n; j++) {
      double g = dy[r * n + j];
      if (db) db[j] += g;
      if (dw)
        for (size_t i = 0; i < k; i++) dw[i * n + j] += (double)x[r * k + i] * g;
    }
    if (dx)
      for (size_t i = 0; i < k; i++) {
        double s = 0;
        for (size_t j = 0; j < n; j++) s += dy[r * n + j] * w[i * n + j];
        dx[r * k + i] = s;
      }
  }
}

clippo_status clippo_ref_mha_grad(const float *xq, const float *xkv, size_t n, size_t tq, size_t tk,
                                  size_t w, size_t heads, const float *wq, const float *bq,
                                  const float *wk, const float *bk, const float *wv,
                                  const float *bv, const float *wo, const float *dout, double *dxq,
                                  double *dxkv, double *dwq, double *dbq, double *dwk, double *dbk,
                                  double *dwv, double *dbv, double *dwo, double *dbo,
                                  clippo_error *err) {
  const size_t hd = w / heads, rq = n * tq, rk = n * tk;
  const double s = 1.0 / sqrt((double)hd);
  double *q = calloc(rq * w, sizeof *q), *k = calloc(rk * w, sizeof *k);
  double *v = calloc(rk * w, sizeof *v), *ctx = calloc(rq * w, sizeof *ctx);
  double *p = calloc(n * heads * tq * tk + 1, sizeof *p);
  double *dctx = calloc(rq * w, sizeof *dctx), *dq = calloc(rq * w, sizeof *dq);
  double *dk = calloc(rk * w, sizeof *dk), *dv = calloc(rk * w, sizeof *dv);
  double *dp = calloc(tk + 1, sizeof *dp);
  double *tmp = calloc((rq > rk ? rq : rk) * w, sizeof *tmp);
  clippo_status st = CLIPPO_OK;
  if (!q || !k || !v || !ctx || !p || !dctx || !dq || !dk || !dv || !dp || !tmp) {
    st = clippo_fail(err, CLIPPO_E_NOMEM, "reference mha grad: out of memory");
    goto done;
  }
  double *zero[8] = {dwq, dbq, dwk, dbk, dwv, dbv, dwo, dbo};
  for (int i = 0; i < 8; i++)
    if (zero[i]) memset(zero[i], 0, (i % 2 == 0 ? w * w : w) * sizeof(double));
  dense_f(xq, rq, w, wq, bq, w, q);
  dense_f(xkv, rk, w, wk, bk, w, k);
  dense_f(xkv, rk, w, wv, bv, w, v);
  for (size_t i = 0; i < rq * w; i++) q[i] *= s;
  for (size_t b = 0; b < n; b++)
    for (size_t h = 0; h < heads; h++)
      for (size_t i = 0; i < tq; i++) {
        double *pr = p + ((b * heads + h) * tq + i) * tk, mx = -INFINITY, sum = 0;
        const double *qi = q + (b * tq + i) * w + h * hd;
        for (size_t j = 0; j < tk; j++) {
          const double *kj = k + (b * tk + j) * w + h * hd;
          double dd = 0;
          for (size_t e = 0; e < hd; e++) dd += qi[e] * kj[e];
          pr[j] = dd;
          if (dd > mx) mx = dd;
        }
        for (size_t j = 0; j < tk; j++) sum += (pr[j] = exp(pr[j] - mx));
        for (size_t j = 0; j < tk; j++) pr[j] /= sum;
        double *ci = ctx + (b * tq + i) * w + h * hd;
        for (size_t j = 0; j < tk; j++)
          for (size_t e = 0; e < hd; e++) ci[e] += pr[j] * v[(b * tk + j) * w + h * hd + e];
      }
  /* out projection: dwo += ctx^T dout, dbo += colsum(dout), dctx = dout wo^T */
  for (size_t r = 0; r < rq; r++)
    for (size_t j = 0; j < w; j++) {
      double g = dout[r * w + j];
      if (dbo) dbo[j] += g;
      if (dwo)
        for (size_t i = 0; i < w; i++) dwo[i * w + j] += ctx[r * w + i] * g;
    }
  for (size_t r = 0; r < rq; r++)
    for (size_t i = 0; i < w; i++) {
      double acc = 0;
      for (size_t j = 0; j < w; j++) acc += (double)dout[r * w + j] * wo[i * w + j];
      dctx[r * w + i] = acc;
    }
  for (size_t b = 0; b < n; b++)
    for (size_t h = 0; h < heads; h++)
      for (size_t i = 0; i < tq; i++) {
        const double *pr = p + ((b * heads + h) * tq + i) * tk;
        const double *dci = dctx + (b * tq + i) * w + h * hd;
        double sdp = 0;
        for (size_t j = 0; j < tk; j++) {
          const double *vj = v + (b * tk + j) * w + h * hd;
          double *dvj = dv + (b * tk + j) * w + h * hd;
          double acc = 0;
          for (size_t e = 0; e < hd; e++) {
            acc += dci[e] * vj[e];
            dvj[e] += pr[j] * dci[e];
          }
          dp[j] = acc;
          sdp += acc * pr[j];
        }
        const double *qi = q + (b * tq + i) * w + h * hd;
        double *dqi = dq + (b * tq + i) * w + h * hd;
        for (size_t j = 0; j < tk; j++) {
          double ds = pr[j] * (dp[j] - sdp);
          const double *kj = k + (b * tk + j) * w + h * hd;
          double *dkj = dk + (b * tk + j) * w + h * hd;
          for (size_t e = 0; e < hd; e++) {
            dqi[e] += ds * kj[e] * s; /* through q = proj * s */
            dkj[e] += ds * qi[e];
          }
        }
      }
  dense_back(xq, rq, w, wq, w, dq, dxq, dwq, dbq);
  dense_back(xkv, rk, w, wk, w, dk, dxkv, dwk, dbk);
  if (dxkv) {
    dense_back(xkv, rk, w, wv, w, dv, tmp, dwv, dbv);
    for (size_t i = 0; i < rk * w; i++) dxkv[i] += tmp[i];
  } else {
    dense_back(xkv, rk, w, wv, w, dv, NULL, dwv, dbv);
  }
done:
  free(q), free(k), free(v), free(ctx), free(p), free(dctx), free(dq), free(dk), free(dv);
  free(dp), free(tmp);
  return st;
}
