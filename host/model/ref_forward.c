/* Plain C float64 reference of the CLIPPO forward pass. */
#include <cblas.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clippo/model_ref.h"

typedef struct ref_ctx {
  const clippo_config *cfg;
  const clippo_params *params;
  clippo_error *err;
  int failed;
} ref_ctx;

static const float *P(ref_ctx *c, const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

static const float *P(ref_ctx *c, const char *fmt, ...) {
  char name[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(name, sizeof name, fmt, ap);
  va_end(ap);
  const clippo_param *p = clippo_params_find(c->params, name);
  if (!p || p->value.dtype != CLIPPO_F32) {
    if (!c->failed) clippo_fail(c->err, CLIPPO_E_NOTFOUND, "reference: parameter %s missing", name);
    c->failed = 1;
    return NULL;
  }
  return p->value.data;
}

/* y (rows, n) = x (rows, k) * w (k, n) + b (n), the product by the BLAS's dgemm on a float64 copy
 * of w (exact: every float is a double) */
static void dense(ref_ctx *c, const double *x, size_t rows, size_t k, const float *w,
                  const float *b, size_t n, double *y) {
  if (c->failed) return;
  double *wd = malloc(k * n * sizeof *wd + 1);
  if (!wd) {
    c->failed = 1;
    clippo_fail(c->err, CLIPPO_E_NOMEM, "reference: out of memory (a %zux%zu weight)", k, n);
    return;
  }
  for (size_t i = 0; i < k * n; i++) wd[i] = (double)w[i];
  for (size_t r = 0; r < rows; r++)
    for (size_t j = 0; j < n; j++) y[r * n + j] = b ? b[j] : 0.0;
  cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)rows, (int)n, (int)k, 1.0, x, (int)k,
              wd, (int)n, 1.0, y, (int)n);
  free(wd);
}

static void layernorm(const double *x, size_t rows, size_t w, const float *s, const float *b,
                      double eps, double *y) {
  for (size_t r = 0; r < rows; r++) {
    const double *xr = x + r * w;
    double mean = 0, var = 0;
    for (size_t i = 0; i < w; i++) mean += xr[i];
    mean /= (double)w;
    for (size_t i = 0; i < w; i++) var += (xr[i] - mean) * (xr[i] - mean);
    var /= (double)w;
    double inv = 1.0 / sqrt(var + eps);
    for (size_t i = 0; i < w; i++) y[r * w + i] = (xr[i] - mean) * inv * s[i] + b[i];
  }
}

static double gelu(double x) {
  return 0.5 * x * (1.0 + tanh(0.7978845608028654 /* sqrt(2/pi) */ * (x + 0.044715 * x * x * x)));
}

/* out (n*tq, W) = MHA(xq (n*tq, W), xkv (n*tk, W)) with the weights at prefix. */
static void mha(ref_ctx *c, const char *prefix, const double *xq, size_t tq, const double *xkv,
                size_t tk, size_t n, double *out) {
  const size_t W = (size_t)c->cfg->width, H = (size_t)c->cfg->heads, hd = W / H;
  const float *wq = P(c, "%s/query/kernel", prefix), *bq = P(c, "%s/query/bias", prefix);
  const float *wk = P(c, "%s/key/kernel", prefix), *bk = P(c, "%s/key/bias", prefix);
  const float *wv = P(c, "%s/value/kernel", prefix), *bv = P(c, "%s/value/bias", prefix);
  const float *wo = P(c, "%s/out/kernel", prefix), *bo = P(c, "%s/out/bias", prefix);
  if (c->failed) return;
  /* calloc, not malloc: every element is written before it is read, but the analyzer cannot
   * follow the shapes through the loops */
  double *q = calloc(n * tq * W, sizeof *q), *k = calloc(n * tk * W, sizeof *k);
  double *v = calloc(n * tk * W, sizeof *v), *ctx = calloc(n * tq * W, sizeof *ctx);
  double *s = calloc(tk, sizeof *s);
  if (!q || !k || !v || !ctx || !s) {
    c->failed = 1;
    clippo_fail(c->err, CLIPPO_E_NOMEM, "reference: out of memory");
    goto done;
  }
  dense(c, xq, n * tq, W, wq, bq, W, q);
  dense(c, xkv, n * tk, W, wk, bk, W, k);
  dense(c, xkv, n * tk, W, wv, bv, W, v);
  double scale = 1.0 / sqrt((double)hd);
  for (size_t b = 0; b < n; b++)
    for (size_t h = 0; h < H; h++)
      for (size_t i = 0; i < tq; i++) {
        const double *qi = q + (b * tq + i) * W + h * hd;
        double mx = -INFINITY;
        for (size_t j = 0; j < tk; j++) {
          const double *kj = k + (b * tk + j) * W + h * hd;
          double d = 0;
          for (size_t e = 0; e < hd; e++) d += (qi[e] * scale) * kj[e];
          s[j] = d;
          if (d > mx) mx = d;
        }
        double sum = 0;
        for (size_t j = 0; j < tk; j++) sum += (s[j] = exp(s[j] - mx));
        double *ci = ctx + (b * tq + i) * W + h * hd;
        for (size_t e = 0; e < hd; e++) ci[e] = 0;
        for (size_t j = 0; j < tk; j++) {
          const double *vj = v + (b * tk + j) * W + h * hd;
          double p = s[j] / sum;
          for (size_t e = 0; e < hd; e++) ci[e] += p * vj[e];
        }
      }
  dense(c, ctx, n * tq, W, wo, bo, W, out);
done:
  free(q);
  free(k);
  free(v);
  free(ctx);
  free(s);
}

/* x (rows, W) += Dense1(gelu(Dense0(LN(x)))) */
static void mlp_block(ref_ctx *c, const char *ln, const char *mlp, double *x, size_t rows,
                      double *tmp_w, double *tmp_m) {
  const size_t W = (size_t)c->cfg->width, M = (size_t)c->cfg->mlp_dim;
  const float *s = P(c, "%s/scale", ln), *b = P(c, "%s/bias", ln);
  const float *k0 = P(c, "%s/Dense_0/kernel", mlp), *b0 = P(c, "%s/Dense_0/bias", mlp);
  const float *k1 = P(c, "%s/Dense_1/kernel", mlp), *b1 = P(c, "%s/Dense_1/bias", mlp);
  if (c->failed) return;
  layernorm(x, rows, W, s, b, c->cfg->ln_eps, tmp_w);
  dense(c, tmp_w, rows, W, k0, b0, M, tmp_m);
  for (size_t i = 0; i < rows * M; i++) tmp_m[i] = gelu(tmp_m[i]);
  dense(c, tmp_m, rows, M, k1, b1, W, tmp_w);
  for (size_t i = 0; i < rows * W; i++) x[i] += tmp_w[i];
}

clippo_status clippo_ref_model_forward(const clippo_config *cfg, const clippo_params *params,
                                       const float *images, size_t n, double *pre_logits, double *z,
                                       clippo_error *err) {
  ref_ctx c = {cfg, params, err, 0};
  const size_t S = (size_t)cfg->image_size, Pz = (size_t)cfg->patch, G = S / Pz, T = G * G;
  const size_t W = (size_t)cfg->width, M = (size_t)cfg->mlp_dim, P3 = Pz * Pz * 3;
  const size_t rows = n * T;
  double *patches = calloc(rows * P3 + 1, sizeof(double));
  /* zeroed like patches: every element is written before it is read, but the analyzer cannot
   * follow the shapes through the loops */
  double *x = calloc(rows * W, sizeof(double)), *y = calloc(rows * W, sizeof(double));
  double *a = calloc(rows * W, sizeof(double)), *hm = calloc(rows * M, sizeof(double));
  double *pool = calloc(n * W, sizeof(double));
  if (!patches || !x || !y || !a || !hm || !pool) {
    clippo_fail(err, CLIPPO_E_NOMEM, "reference: out of memory");
    c.failed = 1;
    goto done;
  }
  for (size_t b = 0; b < n; b++)
    for (size_t gr = 0; gr < G; gr++)
      for (size_t gc = 0; gc < G; gc++) {
        double *row = patches + (b * T + gr * G + gc) * P3;
        for (size_t ph = 0; ph < Pz; ph++)
          for (size_t pw = 0; pw < Pz; pw++)
            for (size_t ch = 0; ch < 3; ch++)
              row[(ph * Pz + pw) * 3 + ch] =
                  images[((b * S + gr * Pz + ph) * S + gc * Pz + pw) * 3 + ch];
      }
  const float *ek = P(&c, "img/embedding/kernel"), *eb = P(&c, "img/embedding/bias");
  const float *pos = P(&c, "img/pos_embedding");
  if (c.failed) goto done;
  dense(&c, patches, rows, P3, ek, eb, W, x);
  for (size_t b = 0; b < n; b++)
    for (size_t t = 0; t < T; t++)
      for (size_t i = 0; i < W; i++) x[(b * T + t) * W + i] += pos[t * W + i];
  for (int l = 0; l < cfg->depth && !c.failed; l++) {
    char pre[256], ln[300], at[300], mlp[300];
    snprintf(pre, sizeof pre, "img/Transformer/encoderblock_%d", l);
    snprintf(ln, sizeof ln, "%s/LayerNorm_0", pre);
    const float *s0 = P(&c, "%s/scale", ln), *b0 = P(&c, "%s/bias", ln);
    if (c.failed) break;
    layernorm(x, rows, W, s0, b0, cfg->ln_eps, y);
    snprintf(at, sizeof at, "%s/MultiHeadDotProductAttention_0", pre);
    mha(&c, at, y, T, y, T, n, a);
    for (size_t i = 0; i < rows * W; i++) x[i] += a[i];
    snprintf(ln, sizeof ln, "%s/LayerNorm_1", pre);
    snprintf(mlp, sizeof mlp, "%s/MlpBlock_0", pre);
    mlp_block(&c, ln, mlp, x, rows, y, hm);
  }
  if (c.failed) goto done;
  {
    const float *es = P(&c, "img/Transformer/encoder_norm/scale");
    const float *eb2 = P(&c, "img/Transformer/encoder_norm/bias");
    if (c.failed) goto done;
    layernorm(x, rows, W, es, eb2, cfg->ln_eps, y);
  }
  if (!strcmp(cfg->pool, "map")) {
    const float *probe = P(&c, "img/MAPHead_0/probe");
    if (c.failed) goto done;
    double *pq = a; /* n rows */
    for (size_t b = 0; b < n; b++)
      for (size_t i = 0; i < W; i++) pq[b * W + i] = probe[i];
    mha(&c, "img/MAPHead_0/MultiHeadDotProductAttention_0", pq, 1, y, T, n, pool);
    mlp_block(&c, "img/MAPHead_0/LayerNorm_0", "img/MAPHead_0/MlpBlock_0", pool, n, a, hm);
  } else {
    for (size_t b = 0; b < n; b++)
      for (size_t i = 0; i < W; i++) {
        double sum = 0;
        for (size_t t = 0; t < T; t++) sum += y[(b * T + t) * W + i];
        pool[b * W + i] = sum / (double)T;
      }
  }
  if (c.failed) goto done;
  if (pre_logits) memcpy(pre_logits, pool, n * W * sizeof(double));
  if (z) {
    size_t od = cfg->out_dim > 0 ? (size_t)cfg->out_dim : W;
    if (cfg->out_dim > 0) {
      const float *hk = P(&c, "img/head/kernel"), *hb = P(&c, "img/head/bias");
      if (c.failed) goto done;
      dense(&c, pool, n, W, hk, hb, od, z);
    } else {
      memcpy(z, pool, n * W * sizeof(double));
    }
    for (size_t b = 0; b < n; b++) {
      double nn = 0;
      for (size_t i = 0; i < od; i++) nn += z[b * od + i] * z[b * od + i];
      nn = sqrt(nn) + 1e-8;
      for (size_t i = 0; i < od; i++) z[b * od + i] /= nn;
    }
  }
done:
  free(patches);
  free(x);
  free(y);
  free(a);
  free(hm);
  free(pool);
  return c.failed ? (err ? err->status : CLIPPO_E_ARG) : CLIPPO_OK;
}
