/* The GEMM suite: every ViT-B/16 matrix product through clippo_gemm beside host OpenBLAS and, in
 * builds with oneDNN, oneDNN called directly on host memory (its own rate). */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/bench_internal.h"
#include "clippo/gemm.h"

/* ---- gemm ------------------------------------------------------------------------------ */

typedef struct gemm_bench {
  clippo_rt *rt;
  const clippo_gemm_shape *s;
  clippo_tensor a, b, c;
  float *ha, *hb, *hc;
  size_t lda, ldb;
  int reps;     /* products per timing (each row the same) */
  int declared; /* B declared as weights (clippo_gemm_declare_weights) */
} gemm_bench;

/* Products of a shape timed together, so that the bench's own synchronisation (a marker before
 * and after, and a finish, per timing: some 0.2 ms on PoCL) does not stand for the product's
 * cost: as many as fill GEMM_TIMING_S, at most GEMM_MAX_REPS. Each product still maps its
 * operands and waits for the ones before, as it does inside a model. */
#define GEMM_TIMING_S 0.005
#define GEMM_MAX_REPS 20

static clippo_status gemm_device(void *ctx, clippo_error *e) {
  gemm_bench *g = ctx;
  const clippo_gemm_shape *s = g->s;
  clippo_status st = CLIPPO_OK;
  for (int r = 0; r < g->reps && !st; r++)
    st = clippo_gemm_batched(g->rt, s->trans_a, s->trans_b, s->m, s->n, s->k, 1.0f, &g->a, g->lda,
                             s->m * s->k, &g->b, g->ldb, s->k * s->n, 0.0f, &g->c, s->n,
                             s->m * s->n, s->batch, e);
  return st;
}

static clippo_status gemm_host(void *ctx, clippo_error *e) {
  (void)e;
  gemm_bench *g = ctx;
  const clippo_gemm_shape *s = g->s;
  for (int r = 0; r < g->reps; r++)
    for (size_t z = 0; z < s->batch; z++)
      cblas_sgemm(CblasRowMajor, s->trans_a ? CblasTrans : CblasNoTrans,
                  s->trans_b ? CblasTrans : CblasNoTrans, (int)s->m, (int)s->n, (int)s->k, 1.0f,
                  g->ha + z * s->m * s->k, (int)g->lda, g->hb + z * s->k * s->n, (int)g->ldb, 0.0f,
                  g->hc + z * s->m * s->n, (int)s->n);
  return CLIPPO_OK;
}

/* oneDNN on host memory, as the onednn provider calls it, without OpenCL. */
static clippo_status gemm_onednn(void *ctx, clippo_error *e) {
  gemm_bench *g = ctx;
  const clippo_gemm_shape *s = g->s;
  clippo_status st = CLIPPO_OK;
  for (int r = 0; r < g->reps && !st; r++)
    st = clippo_gemm_onednn_host(g->rt, s->trans_a, s->trans_b, s->m, s->n, s->k, 1.0f, g->ha,
                                 g->lda, s->m * s->k, g->hb, g->ldb, s->k * s->n, 0.0f, g->hc, s->n,
                                 s->m * s->n, s->batch, e);
  return st;
}

/* The products per timing for a product that took t seconds. */
static int gemm_reps(double t) {
  if (!(t > 0) || t >= GEMM_TIMING_S) return 1;
  double r = GEMM_TIMING_S / t;
  return r >= GEMM_MAX_REPS ? GEMM_MAX_REPS : (int)r + 1;
}

/* t's times per product (reps per timing). */
static void per_product(timing *t, int reps) {
  t->median_s /= reps;
  t->min_s /= reps;
  t->device_s /= reps;
  t->first_s /= reps;
}

/* Largest relative L2 error against OpenBLAS's float32 product that a precision may show on the
 * suite's random operands (what tests/test_gemm_onednn.c and test_gemm.c hold each one to). */
static double gemm_tolerance(clippo_precision p) {
  switch (p) {
  case CLIPPO_PRECISION_BF16:
  case CLIPPO_PRECISION_FP16:
  case CLIPPO_PRECISION_FP16_EMULATED: return 1e-2;
  case CLIPPO_PRECISION_INT8: return 3e-2;
  default: return 1e-3;
  }
}

static void gemm_free(gemm_bench *g) {
  if (g->declared) clippo_gemm_forget_weights(g->rt, g->b.mem);
  clippo_tensor_release(g->rt, &g->a);
  clippo_tensor_release(g->rt, &g->b);
  clippo_tensor_release(g->rt, &g->c);
  free(g->ha);
  free(g->hb);
  free(g->hc);
}

clippo_status bench_run_gemm(bench_suite *s, clippo_error *err) {
  clippo_gemm_shape list[32];
  size_t ns = clippo_gemm_vit_b16_shapes(s->o.images, list, 32);
  if (ns > 32) ns = 32;
  for (size_t i = 0; i < ns; i++) {
    const clippo_gemm_shape *sh = &list[i];
    char shape[96];
    if (sh->batch > 1)
      snprintf(shape, sizeof shape, "batch %zu of m %zu n %zu k %zu%s%s", sh->batch, sh->m, sh->n,
               sh->k, sh->trans_a ? ", A^T" : "", sh->trans_b ? ", B^T" : "");
    else
      snprintf(shape, sizeof shape, "m %zu n %zu k %zu%s%s", sh->m, sh->n, sh->k,
               sh->trans_a ? ", A^T" : "", sh->trans_b ? ", B^T" : "");
    double flops = 2.0 * (double)sh->m * (double)sh->n * (double)sh->k * (double)sh->batch;
    gemm_bench g;
    memset(&g, 0, sizeof g);
    g.rt = s->rt;
    g.s = sh;
    g.lda = sh->trans_a ? sh->m : sh->k;
    g.ldb = sh->trans_b ? sh->k : sh->n;
    size_t an = sh->m * sh->k * sh->batch, bn = sh->k * sh->n * sh->batch,
           cn = sh->m * sh->n * sh->batch;
    g.ha = malloc(an * sizeof(float));
    g.hb = malloc(bn * sizeof(float));
    g.hc = malloc(cn * sizeof(float));
    float *out = malloc(cn * sizeof(float));
    if (!g.ha || !g.hb || !g.hc || !out) {
      free(out);
      gemm_free(&g);
      return clippo_fail(err, CLIPPO_E_NOMEM, "bench: out of host memory (GEMM %s)", sh->name);
    }
    bench_fill_uniform(g.ha, an, -0.5f, 0.5f, 11 + i);
    bench_fill_uniform(g.hb, bn, -0.5f, 0.5f, 23 + i);
    int64_t sa[1] = {(int64_t)an}, sb[1] = {(int64_t)bn}, sc[1] = {(int64_t)cn};
    clippo_error e;
    clippo_gemm_choice ch;
    memset(&ch, 0, sizeof ch);
    timing td, th;
    clippo_status st = clippo_tensor_alloc(s->rt, &g.a, CLIPPO_F32, 1, sa, &e);
    if (!st) st = clippo_tensor_alloc(s->rt, &g.b, CLIPPO_F32, 1, sb, &e);
    if (!st) st = clippo_tensor_alloc(s->rt, &g.c, CLIPPO_F32, 1, sc, &e);
    if (!st) st = clippo_tensor_write(s->rt, &g.a, g.ha, &e);
    if (!st) st = clippo_tensor_write(s->rt, &g.b, g.hb, &e);
    /* A model declares its weights until they are trained (clippo_model_create): so run here. */
    if (!st && sh->weights && !(st = clippo_gemm_declare_weights(s->rt, g.b.mem, &e)))
      g.declared = 1;
    if (!st)
      st = clippo_gemm_choose(s->rt, sh->trans_a, sh->trans_b, sh->m, sh->n, sh->k, sh->batch, &ch,
                              &e);
    /* one product to warm up, one timed for the count per timing */
    g.reps = 1;
    double t_one = 0, t_first = 0;
    for (int w = 0; w < 2 && !st; w++) {
      double t0 = clippo_bench_now();
      st = gemm_device(&g, &e);
      if (!st) st = clippo_rt_finish(s->rt, &e);
      t_one = clippo_bench_now() - t0;
      if (w == 0) t_first = t_one;
    }
    g.reps = gemm_reps(t_one);
    if (!st) st = bench_time_calls(s, s->rt, gemm_device, &g, &td, &e);
    if (!st) per_product(&td, g.reps);
    if (!st) st = clippo_tensor_read(s->rt, &g.c, out, &e);
    clippo_status hs = bench_time_calls(s, NULL, gemm_host, &g, &th, &e);
    (void)hs;
    per_product(&th, g.reps);
    double rel = st ? -1 : bench_rel_l2(out, g.hc, cn);
    /* oneDNN's own rate (it overwrites the host result, compared already). */
    timing tn;
    clippo_error ne;
    clippo_status ns_ = CLIPPO_E_UNSUPPORTED;
    if (clippo_gemm_onednn_built()) ns_ = bench_time_calls(s, NULL, gemm_onednn, &g, &tn, &ne);
    if (ns_ == CLIPPO_OK) per_product(&tn, g.reps);
    free(out);
    gemm_free(&g);
    if (st) {
      clippo_rt_finish(s->rt, NULL);
      RECORD_FAILURE(s, "gemm", sh->name, "clippo", shape, &e, err);
    } else {
      clippo_bench_row row;
      bench_row_init(&row, "gemm", sh->name, "clippo");
      snprintf(row.shape, sizeof row.shape, "%s", shape);
      bench_row_timing(&row, &td);
      row.flops = flops;
      row.batch = s->o.images;
      char vs_dnnl[48] = "";
      if (ns_ == CLIPPO_OK && td.median_s > 0)
        snprintf(vs_dnnl, sizeof vs_dnnl, "; %.0f%% of oneDNN on the host",
                 100.0 * tn.median_s / td.median_s);
      snprintf(row.note, sizeof row.note,
               "provider %s (%s), class %s; rel. error vs OpenBLAS "
               "%.1e; first call %.1f ms; %d products per timing%s%s",
               clippo_gemm_provider_name(ch.provider), ch.source, ch.shape_class, rel,
               t_first * 1e3, g.reps, sh->weights ? "; B declared as weights" : "", vs_dnnl);
      double tol = gemm_tolerance(s->rt->precision);
      if (rel > tol || rel != rel) {
        snprintf(row.status, sizeof row.status, "failed");
        size_t used = strlen(row.note);
        snprintf(row.note + used, sizeof row.note - used, "; above %.0e for precision %s", tol,
                 clippo_precision_name(s->rt->precision));
      }
      TRY(bench_emit(s, &row, err));
    }
    clippo_bench_row hrow;
    bench_row_init(&hrow, "gemm", sh->name, "openblas-host");
    snprintf(hrow.shape, sizeof hrow.shape, "%s", shape);
    bench_row_timing(&hrow, &th);
    hrow.flops = flops;
    hrow.batch = s->o.images;
    snprintf(hrow.note, sizeof hrow.note, "cblas_sgemm on host memory%s",
             sh->batch > 1 ? ", one call per matrix" : "");
    TRY(bench_emit(s, &hrow, err));
    if (ns_ == CLIPPO_E_UNSUPPORTED) continue; /* no oneDNN in this build */
    if (ns_) {
      RECORD_FAILURE(s, "gemm", sh->name, "onednn-host", shape, &ne, err);
      continue;
    }
    clippo_bench_row nrow;
    bench_row_init(&nrow, "gemm", sh->name, "onednn-host");
    snprintf(nrow.shape, sizeof nrow.shape, "%s", shape);
    bench_row_timing(&nrow, &tn);
    nrow.flops = flops;
    nrow.batch = s->o.images;
    snprintf(nrow.note, sizeof nrow.note, "oneDNN on host memory (%s)",
             sh->batch > 1 ? "one batched matmul primitive" : "dnnl_sgemm");
    TRY(bench_emit(s, &nrow, err));
  }
  return CLIPPO_OK;
}
