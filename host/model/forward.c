/* The CLIPPO ViT forward pass: uploads the parameter tree once and runs REFERENCE.md §1 as a
 * straight sequence of op calls over a workspace planned for the batch size. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clippo/checkpoint.h"
#include "clippo/gemm.h"
#include "model_internal.h"

#define TRY(expr)                                                                                  \
  do {                                                                                             \
    clippo_status st_ = (expr);                                                                    \
    if (st_ != CLIPPO_OK) return st_;                                                              \
  } while (0)

static const clippo_tensor *find_param(const clippo_model *m, const char *name) {
  for (size_t i = 0; i < m->nparams; i++)
    if (!strcmp(m->params[i].name, name)) return &m->params[i].value;
  return NULL;
}

/* Looks up a parameter that clippo_params_check guaranteed to exist. */
static clippo_status need(const clippo_model *m, const char *name, const clippo_tensor **out,
                          clippo_error *err) {
  *out = find_param(m, name);
  if (!*out) return clippo_fail(err, CLIPPO_E_NOTFOUND, "parameter %s is missing", name);
  return CLIPPO_OK;
}

/* Binds the views of one MultiHeadDotProductAttention at prefix. */
static clippo_status bind_mha(clippo_model *m, const char *prefix, model_mha *a, int fuse,
                              clippo_error *err) {
  const int64_t W = m->cfg.width;
  const int64_t sq[2] = {W, W}, sv[1] = {W};
  const char *names[8] = {"query/kernel", "key/kernel", "value/kernel", "query/bias",
                          "key/bias",     "value/bias", "out/kernel",   "out/bias"};
  clippo_tensor *dst[8] = {&a->wq, &a->wk, &a->wv, &a->bq, &a->bk, &a->bv, &a->wo, &a->bo};
  for (int i = 0; i < 8; i++) {
    char name[512];
    const clippo_tensor *t;
    snprintf(name, sizeof name, "%s/%s", prefix, names[i]);
    TRY(need(m, name, &t, err));
    int is_kernel = strstr(names[i], "kernel") != NULL;
    *dst[i] = clippo_tensor_view(t, 0, is_kernel ? 2 : 1, is_kernel ? sq : sv);
  }
  a->w.wq = &a->wq;
  a->w.wk = &a->wk;
  a->w.wv = &a->wv;
  a->w.bq = &a->bq;
  a->w.bk = &a->bk;
  a->w.bv = &a->bv;
  a->w.wo = &a->wo;
  a->w.bo = &a->bo;
  a->w.wqkv = NULL;
  a->w.bqkv = NULL;
  if (fuse) {
    TRY(clippo_mha_fuse_qkv(m->rt, &a->w, &a->wqkv, &a->bqkv, err));
    a->w.wqkv = &a->wqkv;
    a->w.bqkv = &a->bqkv;
  }
  return CLIPPO_OK;
}

static clippo_status bind_mlp(clippo_model *m, const char *prefix, const clippo_tensor **k0,
                              const clippo_tensor **b0, const clippo_tensor **k1,
                              const clippo_tensor **b1, clippo_error *err) {
  char name[512];
  snprintf(name, sizeof name, "%s/Dense_0/kernel", prefix);
  TRY(need(m, name, k0, err));
  snprintf(name, sizeof name, "%s/Dense_0/bias", prefix);
  TRY(need(m, name, b0, err));
  snprintf(name, sizeof name, "%s/Dense_1/kernel", prefix);
  TRY(need(m, name, k1, err));
  snprintf(name, sizeof name, "%s/Dense_1/bias", prefix);
  TRY(need(m, name, b1, err));
  return CLIPPO_OK;
}

static clippo_status bind_ln(clippo_model *m, const char *prefix, const clippo_tensor **s,
                             const clippo_tensor **b, clippo_error *err) {
  char name[512];
  snprintf(name, sizeof name, "%s/scale", prefix);
  TRY(need(m, name, s, err));
  snprintf(name, sizeof name, "%s/bias", prefix);
  TRY(need(m, name, b, err));
  return CLIPPO_OK;
}

static clippo_status bind_all(clippo_model *m, clippo_error *err) {
  const clippo_config *c = &m->cfg;
  TRY(need(m, "img/embedding/kernel", &m->emb_k, err));
  TRY(need(m, "img/embedding/bias", &m->emb_b, err));
  TRY(need(m, "img/pos_embedding", &m->pos, err));
  m->blocks = calloc((size_t)c->depth, sizeof *m->blocks);
  if (!m->blocks) return clippo_fail(err, CLIPPO_E_NOMEM, "out of host memory");
  for (int i = 0; i < c->depth; i++) {
    model_block *b = &m->blocks[i];
    char p[256], q[320];
    snprintf(p, sizeof p, "img/Transformer/encoderblock_%d", i);
    snprintf(q, sizeof q, "%s/LayerNorm_0", p);
    TRY(bind_ln(m, q, &b->ln0_s, &b->ln0_b, err));
    snprintf(q, sizeof q, "%s/LayerNorm_1", p);
    TRY(bind_ln(m, q, &b->ln1_s, &b->ln1_b, err));
    snprintf(q, sizeof q, "%s/MultiHeadDotProductAttention_0", p);
    TRY(bind_mha(m, q, &b->mha, 1, err));
    snprintf(q, sizeof q, "%s/MlpBlock_0", p);
    TRY(bind_mlp(m, q, &b->d0_k, &b->d0_b, &b->d1_k, &b->d1_b, err));
  }
  TRY(bind_ln(m, "img/Transformer/encoder_norm", &m->enc_s, &m->enc_b, err));
  if (!strcmp(c->pool, "map")) {
    TRY(need(m, "img/MAPHead_0/probe", &m->probe, err));
    TRY(bind_mha(m, "img/MAPHead_0/MultiHeadDotProductAttention_0", &m->map_mha, 0, err));
    TRY(bind_ln(m, "img/MAPHead_0/LayerNorm_0", &m->map_ln_s, &m->map_ln_b, err));
    TRY(bind_mlp(m, "img/MAPHead_0/MlpBlock_0", &m->map_d0_k, &m->map_d0_b, &m->map_d1_k,
                 &m->map_d1_b, err));
  } else if (strcmp(c->pool, "gap") != 0) {
    return clippo_fail(err, CLIPPO_E_UNSUPPORTED, "pool type '%s' is not supported (map, gap)",
                       c->pool);
  }
  if (c->out_dim > 0) {
    TRY(need(m, "img/head/kernel", &m->head_k, err));
    TRY(need(m, "img/head/bias", &m->head_b, err));
  }
  const clippo_tensor *t = find_param(m, "t");
  m->logit_scale = 1.0f;
  if (t) {
    float tv = 0;
    TRY(clippo_tensor_read(m->rt, t, &tv, err));
    m->logit_scale = expf(tv);
  }
  return CLIPPO_OK;
}

void model_workspace_release(clippo_rt *rt, model_workspace *w) {
  clippo_tensor *all[] = {&w->input,  &w->patches, &w->x, &w->y,   &w->h,  &w->attn_ws,
                          &w->map_ws, &w->probe,   &w->m, &w->mln, &w->hm, &w->z};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) clippo_tensor_release(rt, all[i]);
  w->batch = 0;
}

clippo_status model_workspace_alloc(const clippo_model *m, const model_alloc *al,
                                    model_workspace *w, size_t batch, clippo_error *err) {
  const clippo_config *c = &m->cfg;
  const size_t B = batch, S = (size_t)c->image_size, P = (size_t)c->patch;
  const size_t T = (size_t)clippo_config_tokens(c), W = (size_t)c->width, M = (size_t)c->mlp_dim;
  memset(w, 0, sizeof *w);
  int64_t in_shape[4] = {(int64_t)B, (int64_t)S, (int64_t)S, 3};
  int64_t s_attn[1] = {(int64_t)clippo_mha_workspace_floats(B, T, T, W, c->heads)};
  int64_t s_map[1] = {(int64_t)clippo_mha_workspace_floats(B, 1, T, W, c->heads)};
  clippo_status st = model_alloc_tensor(al, &w->input, 4, in_shape, err);
  if (st == CLIPPO_OK) st = model_alloc2(al, &w->patches, B * T, P * P * 3, err);
  if (st == CLIPPO_OK) st = model_alloc2(al, &w->x, B * T, W, err);
  if (st == CLIPPO_OK) st = model_alloc2(al, &w->y, B * T, W, err);
  if (st == CLIPPO_OK) st = model_alloc2(al, &w->h, B * T, M, err);
  if (st == CLIPPO_OK) st = model_alloc_tensor(al, &w->attn_ws, 1, s_attn, err);
  if (st == CLIPPO_OK && !strcmp(c->pool, "map"))
    st = model_alloc_tensor(al, &w->map_ws, 1, s_map, err);
  if (st == CLIPPO_OK) st = model_alloc2(al, &w->probe, B, W, err);
  if (st == CLIPPO_OK) st = model_alloc2(al, &w->m, B, W, err);
  if (st == CLIPPO_OK) st = model_alloc2(al, &w->mln, B, W, err);
  if (st == CLIPPO_OK) st = model_alloc2(al, &w->hm, B, M, err);
  if (st == CLIPPO_OK)
    st = model_alloc2(al, &w->z, B, c->out_dim > 0 ? (size_t)c->out_dim : W, err);
  if (st != CLIPPO_OK) {
    model_workspace_release(al->rt, w);
    return clippo_error_prefix(err, "activations for batch %zu", batch);
  }
  w->batch = batch;
  return CLIPPO_OK;
}

/* out (rows, n) = x (rows, k) * kernel (k, n) [+ beta * out] */
static clippo_status dense(clippo_rt *rt, const clippo_tensor *x, size_t rows, size_t k,
                           const clippo_tensor *kernel, size_t n, float beta, clippo_tensor *out,
                           clippo_error *err) {
  return clippo_gemm(rt, 0, 0, rows, n, k, 1.0f, x, k, kernel, n, beta, out, n, err);
}

/* A view of the first `rows` rows of a 2-D workspace tensor. */
static clippo_tensor rows_view(const clippo_tensor *t, size_t rows) {
  int64_t shape[2] = {(int64_t)rows, t->shape[1]};
  return clippo_tensor_view(t, 0, 2, shape);
}

/* m (n, W) += MLP(LN(m)) with the given weights: the MAP head's tail, also used for blocks. */
static clippo_status mlp_residual(clippo_model *m, clippo_tensor *x, clippo_tensor *y,
                                  clippo_tensor *h, size_t rows, const clippo_tensor *ln_s,
                                  const clippo_tensor *ln_b, const clippo_tensor *k0,
                                  const clippo_tensor *b0, const clippo_tensor *k1,
                                  const clippo_tensor *b1, clippo_error *err) {
  clippo_rt *rt = m->rt;
  const size_t W = (size_t)m->cfg.width, M = (size_t)m->cfg.mlp_dim;
  TRY(clippo_op_layernorm(rt, x, ln_s, ln_b, m->cfg.ln_eps, y, err));
  TRY(clippo_op_linear(rt, y, rows, W, k0, M, b0, 1, 0.0f, h, err));
  TRY(clippo_op_linear(rt, h, rows, M, k1, W, b1, 0, 1.0f, x, err));
  return CLIPPO_OK;
}

clippo_status model_forward(clippo_model *m, model_workspace *w, size_t n, clippo_embed_kind kind,
                            clippo_tensor *result, clippo_error *err) {
  clippo_rt *rt = m->rt;
  const clippo_config *c = &m->cfg;
  const size_t T = (size_t)clippo_config_tokens(c), W = (size_t)c->width;
  const size_t P3 = (size_t)c->patch * (size_t)c->patch * 3, rows = n * T;
  int64_t in_shape[4] = {(int64_t)n, c->image_size, c->image_size, 3};
  clippo_tensor input = clippo_tensor_view(&w->input, 0, 4, in_shape);
  clippo_tensor patches = rows_view(&w->patches, rows);
  clippo_tensor x = rows_view(&w->x, rows), y = rows_view(&w->y, rows);
  clippo_tensor h = rows_view(&w->h, rows);

  TRY(clippo_op_patchify(rt, &input, c->patch, &patches, err));
  TRY(dense(rt, &patches, rows, P3, m->emb_k, W, 0.0f, &x, err));
  TRY(clippo_op_add_bias_posemb(rt, &x, m->emb_b, m->pos, err));
  for (int i = 0; i < c->depth; i++) {
    model_block *b = &m->blocks[i];
    TRY(clippo_op_layernorm(rt, &x, b->ln0_s, b->ln0_b, c->ln_eps, &y, err));
    TRY(clippo_mha(rt, &b->mha.w, c->heads, n, &y, &y, &w->attn_ws, 1, &x, err));
    TRY(mlp_residual(m, &x, &y, &h, rows, b->ln1_s, b->ln1_b, b->d0_k, b->d0_b, b->d1_k, b->d1_b,
                     err));
  }
  TRY(clippo_op_layernorm(rt, &x, m->enc_s, m->enc_b, c->ln_eps, &y, err));
  clippo_tensor pooled = rows_view(&w->m, n);
  if (!strcmp(c->pool, "map")) {
    clippo_tensor probe = rows_view(&w->probe, n), mln = rows_view(&w->mln, n);
    clippo_tensor hm = rows_view(&w->hm, n);
    TRY(clippo_op_broadcast_rows(rt, m->probe, &probe, err));
    TRY(clippo_mha(rt, &m->map_mha.w, c->heads, n, &probe, &y, &w->map_ws, 0, &pooled, err));
    TRY(mlp_residual(m, &pooled, &mln, &hm, n, m->map_ln_s, m->map_ln_b, m->map_d0_k, m->map_d0_b,
                     m->map_d1_k, m->map_d1_b, err));
  } else {
    TRY(clippo_op_mean_tokens(rt, &y, &pooled, err));
  }
  if (kind == CLIPPO_EMBED_PRE_LOGITS || c->out_dim <= 0) {
    *result = pooled;
    if (kind == CLIPPO_EMBED_Z) TRY(clippo_op_l2normalize(rt, &pooled, 1e-8f, &pooled, err));
    return CLIPPO_OK;
  }
  clippo_tensor z = rows_view(&w->z, n);
  TRY(clippo_op_linear(rt, &pooled, n, W, m->head_k, (size_t)c->out_dim, m->head_b, 0, 0.0f, &z,
                       err));
  TRY(clippo_op_l2normalize(rt, &z, 1e-8f, &z, err));
  *result = z;
  return CLIPPO_OK;
}

/* Calls fn on every buffer of the weights: the parameters and the fused QKV copies. */
static void each_weight_buffer(clippo_model *m, void (*fn)(clippo_model *m, cl_mem mem, void *ctx),
                               void *ctx) {
  for (size_t i = 0; i < m->nparams; i++)
    if (m->params[i].value.mem) fn(m, m->params[i].value.mem, ctx);
  for (int l = 0; m->blocks && l < m->cfg.depth; l++) {
    if (m->blocks[l].mha.wqkv.mem) fn(m, m->blocks[l].mha.wqkv.mem, ctx);
    if (m->blocks[l].mha.bqkv.mem) fn(m, m->blocks[l].mha.bqkv.mem, ctx);
  }
}

static void declare_one(clippo_model *m, cl_mem mem, void *ctx) {
  clippo_error *err = ctx;
  if (err->status == CLIPPO_OK) clippo_gemm_declare_weights(m->rt, mem, err);
}

static void forget_one(clippo_model *m, cl_mem mem, void *ctx) {
  (void)ctx;
  clippo_gemm_forget_weights(m->rt, mem);
}

clippo_status model_weights_declare(clippo_model *m, clippo_error *err) {
  clippo_error e;
  clippo_error_clear(&e);
  each_weight_buffer(m, declare_one, &e);
  if (e.status != CLIPPO_OK) {
    each_weight_buffer(m, forget_one, NULL);
    if (err) *err = e;
    return e.status;
  }
  m->weights_declared = 1;
  return CLIPPO_OK;
}

void model_weights_forget(clippo_model *m) {
  if (!m->weights_declared) return;
  each_weight_buffer(m, forget_one, NULL);
  m->weights_declared = 0;
}

clippo_status clippo_model_create(clippo_rt *rt, const clippo_config *cfg,
                                  const clippo_params *params, clippo_model **out,
                                  clippo_error *err) {
  *out = NULL;
  TRY(clippo_config_validate(cfg, err));
  TRY(clippo_params_check(params, cfg, err));
  clippo_model *m = calloc(1, sizeof *m);
  if (!m) return clippo_fail(err, CLIPPO_E_NOMEM, "out of host memory");
  m->rt = rt;
  m->cfg = *cfg;
  m->params = calloc(params->count ? params->count : 1, sizeof *m->params);
  clippo_status st = m->params ? CLIPPO_OK : clippo_fail(err, CLIPPO_E_NOMEM, "out of host memory");
  for (size_t i = 0; st == CLIPPO_OK && i < params->count; i++) {
    const clippo_param *p = &params->items[i];
    m->params[i].name = strdup(p->name);
    if (!m->params[i].name) st = clippo_fail(err, CLIPPO_E_NOMEM, "out of host memory");
    if (st == CLIPPO_OK) st = clippo_tensor_from_array(rt, &m->params[i].value, &p->value, err);
    if (st != CLIPPO_OK) clippo_error_prefix(err, "uploading parameter %s", p->name);
    m->nparams = i + 1;
  }
  if (st == CLIPPO_OK) st = bind_all(m, err);
  if (st == CLIPPO_OK) st = clippo_model_set_batch(m, 8, err);
  if (st == CLIPPO_OK) st = model_weights_declare(m, err);
  if (st != CLIPPO_OK) {
    clippo_model_free(m);
    return st;
  }
  *out = m;
  return CLIPPO_OK;
}

clippo_status clippo_model_load(clippo_rt *rt, const char *path, clippo_model **out,
                                clippo_error *err) {
  clippo_checkpoint ck;
  memset(&ck, 0, sizeof ck);
  clippo_status st = clippo_checkpoint_load(path, &ck, 0, err);
  if (st != CLIPPO_OK) return st;
  st = clippo_model_create(rt, &ck.cfg, &ck.params, out, err);
  if (st != CLIPPO_OK) clippo_error_prefix(err, "model %s", path);
  clippo_checkpoint_free(&ck);
  return st;
}

void clippo_model_free(clippo_model *m) {
  if (!m) return;
  model_weights_forget(m);
  model_plans_free(m); /* plans and their arenas (plan.c) */
  model_train_free(m); /* training state (train_forward.c) */
  model_workspace_release(m->rt, &m->ws);
  if (m->blocks) {
    for (int i = 0; i < m->cfg.depth; i++) {
      clippo_tensor_release(m->rt, &m->blocks[i].mha.wqkv);
      clippo_tensor_release(m->rt, &m->blocks[i].mha.bqkv);
    }
  }
  free(m->blocks);
  for (size_t i = 0; i < m->nparams; i++) {
    clippo_tensor_release(m->rt, &m->params[i].value);
    free(m->params[i].name);
  }
  free(m->params);
  free(m);
}

const clippo_config *clippo_model_config(const clippo_model *m) { return &m->cfg; }

float clippo_model_logit_scale(const clippo_model *m) { return m->logit_scale; }

size_t clippo_model_output_dim(const clippo_model *m, clippo_embed_kind kind) {
  if (kind == CLIPPO_EMBED_PRE_LOGITS || m->cfg.out_dim <= 0) return (size_t)m->cfg.width;
  return (size_t)m->cfg.out_dim;
}

/* The unplanned path's buffers for m->batch inputs (allocated on first use). */
static clippo_status unplanned_workspace(clippo_model *m, clippo_error *err) {
  if (m->ws.batch == m->batch) return CLIPPO_OK;
  model_workspace_release(m->rt, &m->ws);
  model_alloc al = {m->rt, NULL};
  return model_workspace_alloc(m, &al, &m->ws, m->batch, err);
}

clippo_status clippo_model_set_batch(clippo_model *m, size_t batch, clippo_error *err) {
  if (batch == 0 || batch > 65536)
    return clippo_fail(err, CLIPPO_E_ARG, "batch size %zu out of range 1..65536", batch);
  m->batch = batch;
  if (m->unplanned) return unplanned_workspace(m, err);
  /* plan the full batch now, so that a batch too large for the device fails here */
  return model_plan_cached(m, batch, CLIPPO_EMBED_Z, NULL, err);
}

clippo_status clippo_model_set_planned(clippo_model *m, int planned, clippo_error *err) {
  m->unplanned = !planned;
  if (m->train) { /* the last training forward belongs to the other path */
    m->train->count = 0;
    m->train->last = NULL;
  }
  /* the other path's buffers stay (released with the model): benchmarks switch back and forth */
  return planned ? CLIPPO_OK : unplanned_workspace(m, err);
}

int clippo_model_planned(const clippo_model *m) { return !m->unplanned; }

/* The unplanned forward of b inputs through m->ws. */
static clippo_status embed_unplanned(clippo_model *m, const float *images, size_t b,
                                     clippo_embed_kind kind, float *out, clippo_error *err) {
  const size_t S = (size_t)m->cfg.image_size;
  TRY(unplanned_workspace(m, err));
  int64_t in_shape[4] = {(int64_t)b, (int64_t)S, (int64_t)S, 3};
  clippo_tensor input = clippo_tensor_view(&m->ws.input, 0, 4, in_shape);
  TRY(clippo_tensor_write(m->rt, &input, images, err));
  clippo_tensor result;
  TRY(model_forward(m, &m->ws, b, kind, &result, err));
  return clippo_tensor_read(m->rt, &result, out, err);
}

clippo_status clippo_model_embed_images(clippo_model *m, const float *images, size_t n,
                                        clippo_embed_kind kind, float *out, clippo_error *err) {
  const size_t S = (size_t)m->cfg.image_size, per = S * S * 3;
  const size_t od = clippo_model_output_dim(m, kind);
  for (size_t i = 0; i < n; i += m->batch) {
    size_t b = n - i < m->batch ? n - i : m->batch;
    if (m->unplanned) {
      TRY(embed_unplanned(m, images + i * per, b, kind, out + i * od, err));
    } else {
      clippo_plan *p = NULL;
      TRY(model_plan_cached(m, b, kind, &p, err));
      TRY(clippo_plan_run(p, images + i * per, out + i * od, err));
    }
  }
  return CLIPPO_OK;
}

clippo_status clippo_model_embed_texts(clippo_model *m, const clippo_font *font,
                                       const char *const *texts, const size_t *lens, size_t n,
                                       clippo_embed_kind kind, float *out, clippo_error *err) {
  const size_t S = (size_t)m->cfg.image_size, per = S * S * 3;
  const size_t od = clippo_model_output_dim(m, kind);
  clippo_render_opts o;
  clippo_render_opts_default(&o, (int)S);
  float *buf = malloc(m->batch * per * sizeof *buf);
  if (!buf) return clippo_fail(err, CLIPPO_E_NOMEM, "out of host memory rendering texts");
  clippo_status st = CLIPPO_OK;
  for (size_t i = 0; st == CLIPPO_OK && i < n; i += m->batch) {
    size_t b = n - i < m->batch ? n - i : m->batch;
    st = clippo_render_batch(font, &o, texts + i, lens ? lens + i : NULL, b, CLIPPO_F32, buf, err);
    if (st == CLIPPO_OK) st = clippo_model_embed_images(m, buf, b, kind, out + i * od, err);
  }
  free(buf);
  return st;
}

unsigned long long clippo_model_peak_bytes(const clippo_model *m) { return m->rt->bytes_peak; }
