/* GEMMs inside a recorded graph (clippo/graph.h): while a graph records, a product becomes a call
 * step that replays the same product, provider choice and fallback included, through
 * clippo_gemm_with. Its operands are checked against their buffers at each replay, when they are
 * bound to real memory. */
#include "clippo/graph.h"
#include "gemm_internal.h"

#include <stdio.h>

/* Everything of a call but its tensors. */
typedef struct gemm_blob {
  clippo_gemm_provider provider;
  int has_cfg;
  clippo_gemm_kernel_cfg cfg;
  int ta, tb;
  size_t m, n, k;
  float alpha, beta;
  size_t lda, ldb, ldc, sa, sb, sc, batch;
  int has_bias;        /* the epilogue's bias is the fourth tensor */
  int has_act_out;     /* the epilogue's act_out is the fifth */
  clippo_gemm_act act; /* the epilogue's activation */
} gemm_blob;

static clippo_status gemm_replay(clippo_rt *rt, const clippo_tensor *t, const void *blob,
                                 clippo_error *err) {
  const gemm_blob *b = blob;
  clippo_tensor c = t[2], out = t[4]; /* t[4] is a zeroed tensor without act_out */
  gemm_call g = gemm_call_of(b->ta, b->tb, b->m, b->n, b->k, b->alpha, &t[0], b->lda, b->sa, &t[1],
                             b->ldb, b->sb, b->beta, &c, b->ldc, b->sc, b->batch);
  g.bias = b->has_bias ? &t[3] : NULL;
  g.act = b->act;
  g.act_out = b->has_act_out ? &out : NULL;
  return gemm_dispatch_call(rt, b->provider, b->has_cfg ? &b->cfg : NULL, &g, err);
}

clippo_status gemm_graph_record(clippo_rt *rt, clippo_gemm_provider provider,
                                const clippo_gemm_kernel_cfg *cfg, const gemm_call *g,
                                clippo_error *err) {
  gemm_blob b = {provider,
                 cfg != NULL,
                 {0, 0, 0, 0, 0, 0},
                 g->ta,
                 g->tb,
                 g->m,
                 g->n,
                 g->k,
                 g->alpha,
                 g->beta,
                 g->lda,
                 g->ldb,
                 g->ldc,
                 g->sa,
                 g->sb,
                 g->sc,
                 g->batch,
                 g->bias != NULL,
                 g->act_out != NULL,
                 g->act};
  if (cfg) b.cfg = *cfg;
  const clippo_tensor *ts[5] = {g->a, g->b, g->c, g->bias, g->act_out};
  size_t nt = g->act_out ? 5 : g->bias ? 4 : 3;
  static const char *const acts[] = {"", " gelu", " softmax"};
  char label[CLIPPO_GRAPH_LABEL_LEN], batch[32] = "";
  if (g->batch > 1) snprintf(batch, sizeof batch, " x%zu", g->batch);
  snprintf(label, sizeof label, "gemm %c%c %zux%zux%zu%s%s%s%s%s", g->ta ? 't' : 'n',
           g->tb ? 't' : 'n', g->m, g->n, g->k, batch, g->beta != 0.0f ? " +C" : "",
           g->bias ? " +bias" : "", acts[g->act <= CLIPPO_GEMM_ACT_SOFTMAX ? g->act : 0],
           g->act_out ? " kept" : "");
  double flops = 2.0 * (double)g->m * (double)g->n * (double)g->k * (double)g->batch;
  clippo_status st =
      clippo_graph_record_call(rt, gemm_replay, ts, nt, &b, sizeof b, label, flops, err);
  if (st) return clippo_error_prefix(err, "gemm %zux%zux%zu", g->m, g->n, g->k);
  return CLIPPO_OK;
}
