/* Training side of clippo_model (include/clippo/model.h): the parameter / gradient API, the
 * activation plan and the training forward, which runs REFERENCE.md §1 like forward.c but keeps
 * what the backward (backward.c) needs:
 *   per block: its input x_in, x_mid = x_in + MHA(LN0(x_in)), the MLP pre-activation u and the
 *   attention's q, k, v, probabilities and context; the encoder output before encoder_norm; for
 *   the MAP head its attention internals, its output m0 and MLP pre-activation; the pooled
 *   pre-logits and the head output before L2 normalisation.
 * LayerNorm outputs are kept too (each block's two, encoder_norm's and the MAP head's): the
 * backward multiplies with them, and recomputing them there read and wrote 8 MiB per LayerNorm at
 * the train suite's shape (10 of them, 1.5 % of a step on a 2-vCPU Zen 4) for 11 % more memory.
 * GELU outputs are recomputed in the backward from the kept pre-activations (the pass that gives
 * GELU's derivative), so they live only in scratch. The attention uses the separate query/key/value
 * weights, so parameters updated in place are always current here (the inference forward's fused
 * copies are refreshed by clippo_model_params_changed). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clippo/gemm.h"
#include "model_internal.h"

#define TRY(expr)                                                                                  \
  do {                                                                                             \
    clippo_status st_ = (expr);                                                                    \
    if (st_ != CLIPPO_OK) return st_;                                                              \
  } while (0)

/* ---- state and gradients ---------------------------------------------------------------- */

model_train *model_train_get(clippo_model *m, clippo_error *err) {
  if (m->train) return m->train;
  model_weights_forget(m); /* training changes them */
  m->train = calloc(1, sizeof *m->train);
  if (!m->train) {
    clippo_fail(err, CLIPPO_E_NOMEM, "out of host memory for the training state");
    return NULL;
  }
  return m->train;
}

/* Every tensor of a model_acts into out (acts_max(depth) slots); returns how many. */
static size_t acts_list(model_acts *a, int depth, clippo_tensor **out) {
  size_t n = 0;
  out[n++] = &a->patches;
  for (int l = 0; a->blocks && l < depth; l++) {
    model_block_act *b = &a->blocks[l];
    clippo_tensor *t[10] = {&b->x_in,  &b->x_mid, &b->u,     &b->y0,    &b->y1,
                            &b->att.q, &b->att.k, &b->att.v, &b->att.p, &b->att.ctx};
    for (int i = 0; i < 10; i++) out[n++] = t[i];
  }
  clippo_tensor *rest[] = {
      &a->x_final,     &a->map_att.q, &a->map_att.k, &a->map_att.v, &a->map_att.p,
      &a->map_att.ctx, &a->m0,        &a->map_u,     &a->pooled,    &a->zu,
      &a->y,           &a->dx,        &a->dy,        &a->h,         &a->att,
      &a->red,         &a->nw[0],     &a->nw[1],     &a->nw[2],     &a->nw[3],
      &a->nw[4],       &a->nm,        &a->nout,      &a->dh,        &a->ndm};
  for (size_t i = 0; i < sizeof rest / sizeof rest[0]; i++) out[n++] = rest[i];
  return n;
}

static size_t acts_max(int depth) { return 1 + 10 * (size_t)depth + 25; }

void model_acts_release(clippo_rt *rt, model_acts *a, int depth) {
  size_t cap = acts_max(depth);
  clippo_tensor **list = malloc(cap * sizeof *list);
  if (list) {
    size_t n = acts_list(a, depth, list);
    for (size_t i = 0; i < n; i++) clippo_tensor_release(rt, list[i]);
    free(list);
  }
  free(a->blocks);
  memset(a, 0, sizeof *a);
}

/* Releases the unplanned path's activations. */
static void acts_release(clippo_model *m) {
  model_train *t = m->train;
  model_acts_release(m->rt, &t->cap_acts, m->cfg.depth);
  model_acts_release(m->rt, &t->acts, m->cfg.depth);
  t->cap = 0;
  t->count = 0;
  t->act_bytes = 0;
}

void model_train_free(clippo_model *m) {
  model_train *t = m->train;
  if (!t) return;
  acts_release(m);
  free(t->grads); /* views of the arena */
  clippo_tensor_release(m->rt, &t->grad_arena);
  free(t->blocks);
  free(t);
  m->train = NULL;
}

/* The gradient of the parameter called name (NULL if absent). */
static clippo_tensor *grad_of(clippo_model *m, const char *name) {
  for (size_t i = 0; i < m->nparams; i++)
    if (!strcmp(m->params[i].name, name)) return &m->train->grads[i];
  return NULL;
}

static clippo_status need_grad(clippo_model *m, const char *name, clippo_tensor **out,
                               clippo_error *err) {
  *out = grad_of(m, name);
  if (!*out) return clippo_fail(err, CLIPPO_E_NOTFOUND, "parameter %s is missing", name);
  return CLIPPO_OK;
}

static clippo_status need_gradf(clippo_model *m, clippo_tensor **out, clippo_error *err,
                                const char *fmt, const char *prefix, const char *leaf) {
  char name[512];
  snprintf(name, sizeof name, fmt, prefix, leaf);
  return need_grad(m, name, out, err);
}

/* Binds the gradient views of the attention at prefix. */
static clippo_status bind_mha_grad(clippo_model *m, const char *prefix, model_mha_grad *g,
                                   clippo_error *err) {
  const int64_t W = m->cfg.width;
  const int64_t sq[2] = {W, W}, sv[1] = {W};
  const char *names[8] = {"query/kernel", "key/kernel", "value/kernel", "query/bias",
                          "key/bias",     "value/bias", "out/kernel",   "out/bias"};
  clippo_tensor *dst[8] = {&g->wq, &g->wk, &g->wv, &g->bq, &g->bk, &g->bv, &g->wo, &g->bo};
  for (int i = 0; i < 8; i++) {
    clippo_tensor *t;
    TRY(need_gradf(m, &t, err, "%s/%s", prefix, names[i]));
    int is_kernel = strstr(names[i], "kernel") != NULL;
    *dst[i] = clippo_tensor_view(t, 0, is_kernel ? 2 : 1, is_kernel ? sq : sv);
  }
  g->g.wq = &g->wq;
  g->g.wk = &g->wk;
  g->g.wv = &g->wv;
  g->g.bq = &g->bq;
  g->g.bk = &g->bk;
  g->g.bv = &g->bv;
  g->g.wo = &g->wo;
  g->g.bo = &g->bo;
  return CLIPPO_OK;
}

static clippo_status bind_mlp_grad(clippo_model *m, const char *prefix, clippo_tensor **k0,
                                   clippo_tensor **b0, clippo_tensor **k1, clippo_tensor **b1,
                                   clippo_error *err) {
  TRY(need_gradf(m, k0, err, "%s/%s", prefix, "Dense_0/kernel"));
  TRY(need_gradf(m, b0, err, "%s/%s", prefix, "Dense_0/bias"));
  TRY(need_gradf(m, k1, err, "%s/%s", prefix, "Dense_1/kernel"));
  TRY(need_gradf(m, b1, err, "%s/%s", prefix, "Dense_1/bias"));
  return CLIPPO_OK;
}

static clippo_status bind_ln_grad(clippo_model *m, const char *prefix, clippo_tensor **s,
                                  clippo_tensor **b, clippo_error *err) {
  TRY(need_gradf(m, s, err, "%s/%s", prefix, "scale"));
  TRY(need_gradf(m, b, err, "%s/%s", prefix, "bias"));
  return CLIPPO_OK;
}

static clippo_status bind_grads(clippo_model *m, clippo_error *err) {
  model_train *t = m->train;
  const clippo_config *c = &m->cfg;
  TRY(need_grad(m, "img/embedding/kernel", &t->g_emb_k, err));
  TRY(need_grad(m, "img/embedding/bias", &t->g_emb_b, err));
  TRY(need_grad(m, "img/pos_embedding", &t->g_pos, err));
  t->blocks = calloc((size_t)c->depth + 1, sizeof *t->blocks);
  if (!t->blocks) return clippo_fail(err, CLIPPO_E_NOMEM, "out of host memory");
  for (int i = 0; i < c->depth; i++) {
    model_block_grad *b = &t->blocks[i];
    char p[256], q[320];
    snprintf(p, sizeof p, "img/Transformer/encoderblock_%d", i);
    snprintf(q, sizeof q, "%s/LayerNorm_0", p);
    TRY(bind_ln_grad(m, q, &b->ln0_s, &b->ln0_b, err));
    snprintf(q, sizeof q, "%s/LayerNorm_1", p);
    TRY(bind_ln_grad(m, q, &b->ln1_s, &b->ln1_b, err));
    snprintf(q, sizeof q, "%s/MultiHeadDotProductAttention_0", p);
    TRY(bind_mha_grad(m, q, &b->mha, err));
    snprintf(q, sizeof q, "%s/MlpBlock_0", p);
    TRY(bind_mlp_grad(m, q, &b->d0_k, &b->d0_b, &b->d1_k, &b->d1_b, err));
  }
  TRY(bind_ln_grad(m, "img/Transformer/encoder_norm", &t->g_enc_s, &t->g_enc_b, err));
  if (!strcmp(c->pool, "map")) {
    TRY(need_grad(m, "img/MAPHead_0/probe", &t->g_probe, err));
    TRY(bind_mha_grad(m, "img/MAPHead_0/MultiHeadDotProductAttention_0", &t->map_mha, err));
    TRY(bind_ln_grad(m, "img/MAPHead_0/LayerNorm_0", &t->g_map_ln_s, &t->g_map_ln_b, err));
    TRY(bind_mlp_grad(m, "img/MAPHead_0/MlpBlock_0", &t->g_map_d0_k, &t->g_map_d0_b, &t->g_map_d1_k,
                      &t->g_map_d1_b, err));
  }
  if (c->out_dim > 0) {
    TRY(need_grad(m, "img/head/kernel", &t->g_head_k, err));
    TRY(need_grad(m, "img/head/bias", &t->g_head_b, err));
  }
  return CLIPPO_OK;
}

/* Floats between the gradients' starts in the arena: 64 bytes, a cache line and the widest
 * vector. */
#define GRAD_ALIGN 16

clippo_status model_train_grads(clippo_model *m, clippo_error *err) {
  model_train *t = model_train_get(m, err);
  if (!t) return CLIPPO_E_NOMEM;
  if (t->grads) return CLIPPO_OK;
  unsigned long long before = m->rt->bytes_allocated;
  size_t total = 0;
  for (size_t i = 0; i < m->nparams; i++) {
    size_t c = clippo_tensor_count(&m->params[i].value);
    total += (c + GRAD_ALIGN - 1) / GRAD_ALIGN * GRAD_ALIGN;
  }
  int64_t shape[1] = {(int64_t)(total ? total : 1)};
  clippo_status st = clippo_tensor_alloc(m->rt, &t->grad_arena, CLIPPO_F32, 1, shape, err);
  if (st) return clippo_error_prefix(err, "gradients (%zu floats)", total);
  if (clippo_tensor_fill(m->rt, &t->grad_arena, 0.0f, err)) {
    clippo_tensor_release(m->rt, &t->grad_arena);
    return clippo_error_prefix(err, "zeroing the gradients");
  }
  t->grads = calloc(m->nparams ? m->nparams : 1, sizeof *t->grads);
  if (!t->grads) {
    clippo_tensor_release(m->rt, &t->grad_arena);
    return clippo_fail(err, CLIPPO_E_NOMEM, "out of host memory for gradients");
  }
  size_t off = 0;
  for (size_t i = 0; i < m->nparams; i++) {
    const clippo_tensor *p = &m->params[i].value;
    size_t c = clippo_tensor_count(p);
    t->grads[i] = clippo_tensor_view(&t->grad_arena, off, p->ndim, p->shape);
    off += (c + GRAD_ALIGN - 1) / GRAD_ALIGN * GRAD_ALIGN;
  }
  st = bind_grads(m, err);
  if (st != CLIPPO_OK) {
    free(t->grads);
    free(t->blocks);
    t->grads = NULL;
    t->blocks = NULL;
    clippo_tensor_release(m->rt, &t->grad_arena);
    return st;
  }
  t->grad_bytes = m->rt->bytes_allocated - before;
  return CLIPPO_OK;
}

/* ---- public parameter API ----------------------------------------------------------------- */

size_t clippo_model_param_count(const clippo_model *m) { return m->nparams; }

clippo_tensor *clippo_model_param(clippo_model *m, size_t i, const char **name) {
  if (i >= m->nparams) return NULL;
  model_weights_forget(m); /* the caller may change it */
  if (name) *name = m->params[i].name;
  return &m->params[i].value;
}

clippo_tensor *clippo_model_grad(clippo_model *m, size_t i) {
  clippo_error err;
  if (i >= m->nparams) return NULL;
  if (model_train_grads(m, &err) != CLIPPO_OK) return NULL;
  return &m->train->grads[i];
}

clippo_status clippo_model_zero_grads(clippo_model *m, clippo_error *err) {
  model_train *t = m->train;
  if (!t || !t->grads) return model_train_grads(m, err); /* allocated zeroed */
  clippo_status st = clippo_tensor_fill(m->rt, &t->grad_arena, 0.0f, err);
  return st ? clippo_error_prefix(err, "zeroing the gradients") : CLIPPO_OK;
}

clippo_status clippo_model_download_params(clippo_model *m, clippo_params *out, clippo_error *err) {
  if (out->count != 0)
    return clippo_fail(err, CLIPPO_E_ARG, "download_params: the output set is not empty");
  for (size_t i = 0; i < m->nparams; i++) {
    const clippo_tensor *p = &m->params[i].value;
    clippo_array a;
    memset(&a, 0, sizeof a);
    clippo_status st = clippo_array_alloc(&a, CLIPPO_F32, p->ndim, p->shape, err);
    if (st == CLIPPO_OK) st = clippo_tensor_read(m->rt, p, a.data, err);
    if (st == CLIPPO_OK)
      st = clippo_params_add(out, m->params[i].name, &a, err);
    else
      clippo_array_free(&a);
    if (st != CLIPPO_OK) {
      clippo_params_free(out);
      return clippo_error_prefix(err, "downloading parameter %s", m->params[i].name);
    }
  }
  return CLIPPO_OK;
}

clippo_status clippo_model_params_changed(clippo_model *m, clippo_error *err) {
  model_weights_forget(m);
  const size_t W = (size_t)m->cfg.width;
  for (int l = 0; l < m->cfg.depth; l++) {
    model_mha *a = &m->blocks[l].mha;
    if (!a->w.wqkv) continue;
    const clippo_tensor *ws[3] = {&a->wq, &a->wk, &a->wv}, *bs[3] = {&a->bq, &a->bk, &a->bv};
    for (size_t i = 0; i < 3; i++) {
      clippo_status st = clippo_op_copy2d(m->rt, ws[i], W, 0, &a->wqkv, 3 * W, i * W, W, W, err);
      if (!st) st = clippo_op_copy2d(m->rt, bs[i], W, 0, &a->bqkv, 3 * W, i * W, 1, W, err);
      if (st) return clippo_error_prefix(err, "refreshing the fused QKV of block %d", l);
    }
  }
  for (size_t i = 0; i < m->nparams; i++)
    if (!strcmp(m->params[i].name, "t")) {
      float tv = 0;
      TRY(clippo_tensor_read(m->rt, &m->params[i].value, &tv, err));
      m->logit_scale = expf(tv);
    }
  return CLIPPO_OK;
}

unsigned long long clippo_model_train_bytes(const clippo_model *m) {
  return m->train ? m->train->grad_bytes + m->train->act_bytes : 0;
}

/* ---- activations ----------------------------------------------------------------------- */

static size_t max_sz(size_t a, size_t b) { return a > b ? a : b; }

/* The saved tensors of one attention (the shapes clippo_mha_saved_alloc gives them). */
static clippo_status saved_alloc(const model_alloc *al, clippo_mha_saved *s, size_t n, size_t tq,
                                 size_t tk, size_t width, int heads, clippo_error *err) {
  const size_t h = (size_t)heads, hd = width / h;
  clippo_status st = model_alloc2(al, &s->q, n * h * tq, hd, err);
  if (!st) st = model_alloc2(al, &s->k, n * h * tk, hd, err);
  if (!st) st = model_alloc2(al, &s->v, n * h * tk, hd, err);
  if (!st) st = model_alloc2(al, &s->p, n * h * tq, tk, err);
  if (!st) st = model_alloc2(al, &s->ctx, n * tq, width, err);
  return st;
}

clippo_status model_acts_alloc(const clippo_model *m, const model_alloc *al, model_acts *a,
                               size_t cap, clippo_error *err) {
  const clippo_config *c = &m->cfg;
  const size_t T = (size_t)clippo_config_tokens(c), W = (size_t)c->width;
  const size_t M = (size_t)c->mlp_dim, P3 = (size_t)c->patch * (size_t)c->patch * 3, rows = cap * T;
  const size_t od = c->out_dim > 0 ? (size_t)c->out_dim : W;
  const int map = !strcmp(c->pool, "map");
  memset(a, 0, sizeof *a);
  a->blocks = calloc((size_t)c->depth + 1, sizeof *a->blocks);
  if (!a->blocks) return clippo_fail(err, CLIPPO_E_NOMEM, "out of host memory");
  clippo_status st = model_alloc2(al, &a->patches, rows, P3, err);
  for (int l = 0; st == CLIPPO_OK && l < c->depth; l++) {
    model_block_act *b = &a->blocks[l];
    st = model_alloc2(al, &b->x_in, rows, W, err);
    if (!st) st = model_alloc2(al, &b->x_mid, rows, W, err);
    if (!st) st = model_alloc2(al, &b->u, rows, M, err);
    if (!st) st = model_alloc2(al, &b->y0, rows, W, err);
    if (!st) st = model_alloc2(al, &b->y1, rows, W, err);
    if (!st) st = saved_alloc(al, &b->att, cap, T, T, W, c->heads, err);
  }
  if (!st) st = model_alloc2(al, &a->x_final, rows, W, err);
  if (!st && map) {
    st = saved_alloc(al, &a->map_att, cap, 1, T, W, c->heads, err);
    if (!st) st = model_alloc2(al, &a->m0, cap, W, err);
    if (!st) st = model_alloc2(al, &a->map_u, cap, M, err);
  }
  if (!st) st = model_alloc2(al, &a->pooled, cap, W, err);
  if (!st) st = model_alloc2(al, &a->zu, cap, od, err);
  if (!st) st = model_alloc2(al, &a->y, rows, W, err);
  if (!st) st = model_alloc2(al, &a->dx, rows, W, err);
  if (!st) st = model_alloc2(al, &a->dy, rows, W, err);
  if (!st) st = model_alloc2(al, &a->h, rows, M, err);
  if (!st) st = model_alloc2(al, &a->dh, rows, M, err);
  size_t att = clippo_mha_grad_scratch_floats(cap, T, T, W, c->heads);
  if (map) att = max_sz(att, clippo_mha_grad_scratch_floats(cap, 1, T, W, c->heads));
  size_t red = clippo_layernorm_grad_workspace_floats(rows, W);
  red = max_sz(red, clippo_colsum_workspace_floats(rows, M));
  red = max_sz(red, clippo_colsum_workspace_floats(cap, T * W));
  red = max_sz(red, clippo_colsum_workspace_floats(cap, od));
  red = max_sz(red, 1);
  int64_t s_att[1] = {(int64_t)att}, s_red[1] = {(int64_t)red};
  if (!st) st = model_alloc_tensor(al, &a->att, 1, s_att, err);
  if (!st) st = model_alloc_tensor(al, &a->red, 1, s_red, err);
  for (int i = 0; !st && i < 5; i++) st = model_alloc2(al, &a->nw[i], cap, W, err);
  if (!st) st = model_alloc2(al, &a->nm, cap, M, err);
  if (!st) st = model_alloc2(al, &a->ndm, cap, M, err);
  if (!st) st = model_alloc2(al, &a->nout, cap, od, err);
  if (st) return clippo_error_prefix(err, "training activations for %zu inputs", cap);
  return CLIPPO_OK;
}

/* Allocates the unplanned path's activations for cap inputs into t->cap_acts. */
static clippo_status acts_alloc(clippo_model *m, size_t cap, clippo_error *err) {
  model_train *t = m->train;
  unsigned long long before = m->rt->bytes_allocated;
  model_alloc al = {m->rt, NULL};
  t->acts.blocks = calloc((size_t)m->cfg.depth + 1, sizeof *t->acts.blocks);
  if (!t->acts.blocks) return clippo_fail(err, CLIPPO_E_NOMEM, "out of host memory");
  TRY(model_acts_alloc(m, &al, &t->cap_acts, cap, err));
  t->cap = cap;
  t->act_bytes = m->rt->bytes_allocated - before;
  return CLIPPO_OK;
}

/* A view of the first n of cap inputs of a tensor whose leading dimension is proportional to
 * the inputs; 1-D workspaces and empty tensors are used whole. */
static clippo_tensor first_inputs(const clippo_tensor *t, size_t cap, size_t n) {
  if (!t->mem || t->ndim < 2 || cap == n) {
    clippo_tensor v = *t;
    v.owner = 0; /* a view: only cap_acts releases */
    return v;
  }
  int64_t shape[CLIPPO_MAX_DIMS];
  for (int i = 0; i < t->ndim; i++) shape[i] = t->shape[i];
  shape[0] = t->shape[0] / (int64_t)cap * (int64_t)n;
  return clippo_tensor_view(t, 0, t->ndim, shape);
}

/* Fills t->acts with views of the first n inputs of t->cap_acts. */
static clippo_status acts_views(clippo_model *m, size_t n, clippo_error *err) {
  model_train *t = m->train;
  size_t cap = acts_max(m->cfg.depth);
  clippo_tensor **src = malloc(cap * sizeof *src), **dst = malloc(cap * sizeof *dst);
  if (!src || !dst) {
    free(src);
    free(dst);
    return clippo_fail(err, CLIPPO_E_NOMEM, "out of host memory");
  }
  size_t k = acts_list(&t->cap_acts, m->cfg.depth, src);
  acts_list(&t->acts, m->cfg.depth, dst);
  for (size_t i = 0; i < k; i++) *dst[i] = first_inputs(src[i], t->cap, n);
  free(src);
  free(dst);
  return CLIPPO_OK;
}

clippo_status clippo_model_set_train_output(clippo_model *m, clippo_embed_kind kind,
                                            clippo_error *err) {
  if (kind != CLIPPO_EMBED_Z && kind != CLIPPO_EMBED_PRE_LOGITS)
    return clippo_fail(err, CLIPPO_E_ARG, "training output: unknown embedding kind %d", (int)kind);
  if (kind == m->train_out) return CLIPPO_OK;
  model_plans_free(m); /* the training plans end with the old output */
  model_train_free(m);
  m->train_out = kind;
  return CLIPPO_OK;
}

/* ---- the training forward ----------------------------------------------------------------- */

/* out (rows, n) = x (rows, k) * kernel (k, n) [+ beta * out] */
static clippo_status dense(clippo_rt *rt, const clippo_tensor *x, size_t rows, size_t k,
                           const clippo_tensor *kernel, size_t n, float beta, clippo_tensor *out,
                           clippo_error *err) {
  return clippo_gemm(rt, 0, 0, rows, n, k, 1.0f, x, k, kernel, n, beta, out, n, err);
}

/* x_out = x_mid + Dense1(gelu(u + b0)), u = Dense0(LN(x_mid)) (kept without b0); y, h scratch. */
static clippo_status mlp_forward(clippo_model *m, const clippo_tensor *x_mid, clippo_tensor *u,
                                 clippo_tensor *x_out, clippo_tensor *y, clippo_tensor *h,
                                 size_t rows, const clippo_tensor *ln_s, const clippo_tensor *ln_b,
                                 const clippo_tensor *k0, const clippo_tensor *b0,
                                 const clippo_tensor *k1, const clippo_tensor *b1,
                                 clippo_error *err) {
  clippo_rt *rt = m->rt;
  const size_t W = (size_t)m->cfg.width, M = (size_t)m->cfg.mlp_dim;
  TRY(clippo_op_layernorm(rt, x_mid, ln_s, ln_b, m->cfg.ln_eps, y, err));
  TRY(clippo_op_linear_gelu_keep(rt, y, rows, W, k0, M, b0, u, h, err));
  TRY(clippo_op_copy(rt, x_mid, x_out, err));
  TRY(clippo_op_linear(rt, h, rows, M, k1, W, b1, 0, 1.0f, x_out, err));
  return CLIPPO_OK;
}

clippo_status model_train_forward_run(clippo_model *m, model_acts *a, const clippo_tensor *inputs,
                                      size_t n, clippo_tensor *z, clippo_error *err) {
  clippo_rt *rt = m->rt;
  const clippo_config *c = &m->cfg;
  const size_t T = (size_t)clippo_config_tokens(c), W = (size_t)c->width;
  const size_t P3 = (size_t)c->patch * (size_t)c->patch * 3, rows = n * T;
  const size_t od = c->out_dim > 0 ? (size_t)c->out_dim : W;
  clippo_tensor *x0 = c->depth > 0 ? &a->blocks[0].x_in : &a->x_final;
  TRY(clippo_op_patchify(rt, inputs, c->patch, &a->patches, err));
  TRY(dense(rt, &a->patches, rows, P3, m->emb_k, W, 0.0f, x0, err));
  TRY(clippo_op_add_bias_posemb(rt, x0, m->emb_b, m->pos, err));
  /* Block l: x_mid = x_in + MHA(LN0(x_in)), x_out = x_mid + Dense1(gelu(Dense0(LN1(x_mid)))).
   * Each residual add rides on the LayerNorm after it (clippo_op_add_layernorm): the attention
   * writes its output alone into x_mid, and Dense1 its product alone into x_out, whose bias and
   * residual the next LayerNorm adds (clippo_op_add_bias_layernorm): no copies of the residual
   * stream, no epilogue pass over Dense1's product. */
  for (int l = 0; l < c->depth; l++) {
    model_block *b = &m->blocks[l];
    model_block_act *ba = &a->blocks[l];
    clippo_tensor *x_out = l + 1 < c->depth ? &a->blocks[l + 1].x_in : &a->x_final;
    if (l == 0) {
      TRY(clippo_op_layernorm(rt, &ba->x_in, b->ln0_s, b->ln0_b, c->ln_eps, &ba->y0, err));
    } else {
      TRY(clippo_op_add_bias_layernorm(rt, &ba->x_in, m->blocks[l - 1].d1_b,
                                       &a->blocks[l - 1].x_mid, b->ln0_s, b->ln0_b, c->ln_eps,
                                       &ba->y0, err));
    }
    TRY(clippo_mha_train_forward(rt, &b->mha.w, c->heads, n, &ba->y0, &ba->y0, &ba->att, &a->att, 0,
                                 &ba->x_mid, err));
    TRY(clippo_op_add_layernorm(rt, &ba->x_mid, &ba->x_in, b->ln1_s, b->ln1_b, c->ln_eps, &ba->y1,
                                err));
    TRY(clippo_op_linear_gelu_keep(rt, &ba->y1, rows, W, b->d0_k, (size_t)c->mlp_dim, b->d0_b,
                                   &ba->u, &a->h, err));
    TRY(dense(rt, &a->h, rows, (size_t)c->mlp_dim, b->d1_k, W, 0.0f, x_out, err));
  }
  if (c->depth > 0) {
    int last = c->depth - 1;
    TRY(clippo_op_add_bias_layernorm(rt, &a->x_final, m->blocks[last].d1_b, &a->blocks[last].x_mid,
                                     m->enc_s, m->enc_b, c->ln_eps, &a->y, err));
  } else {
    TRY(clippo_op_layernorm(rt, &a->x_final, m->enc_s, m->enc_b, c->ln_eps, &a->y, err));
  }
  if (!strcmp(c->pool, "map")) {
    TRY(clippo_op_broadcast_rows(rt, m->probe, &a->nw[0], err));
    TRY(clippo_mha_train_forward(rt, &m->map_mha.w, c->heads, n, &a->nw[0], &a->y, &a->map_att,
                                 &a->att, 0, &a->m0, err));
    TRY(mlp_forward(m, &a->m0, &a->map_u, &a->pooled, &a->nw[1], &a->nm, n, m->map_ln_s,
                    m->map_ln_b, m->map_d0_k, m->map_d0_b, m->map_d1_k, m->map_d1_b, err));
  } else {
    TRY(clippo_op_mean_tokens(rt, &a->y, &a->pooled, err));
  }
  if (m->train_out == CLIPPO_EMBED_PRE_LOGITS) return clippo_op_copy(rt, &a->pooled, z, err);
  if (c->out_dim > 0) {
    TRY(clippo_op_linear(rt, &a->pooled, n, W, m->head_k, od, m->head_b, 0, 0.0f, &a->zu, err));
  } else {
    TRY(clippo_op_copy(rt, &a->pooled, &a->zu, err));
  }
  TRY(clippo_op_l2normalize(rt, &a->zu, 1e-8f, z, err));
  return CLIPPO_OK;
}

clippo_status clippo_model_train_forward(clippo_model *m, const clippo_tensor *inputs, size_t count,
                                         clippo_tensor *z, clippo_error *err) {
  const clippo_config *c = &m->cfg;
  const size_t S = (size_t)c->image_size;
  const size_t od = clippo_model_output_dim(m, m->train_out);
  if (count == 0 || count > 1u << 20)
    return clippo_fail(err, CLIPPO_E_ARG, "train_forward: count %zu out of range 1..2^20", count);
  if (!inputs || !inputs->mem || inputs->dtype != CLIPPO_F32 ||
      clippo_tensor_count(inputs) != count * S * S * 3)
    return clippo_fail(err, CLIPPO_E_SHAPE,
                       "train_forward: inputs must be float32 (%zu, %zu, %zu, 3) on the device",
                       count, S, S);
  if (!z || !z->mem || z->dtype != CLIPPO_F32 || clippo_tensor_count(z) != count * od)
    return clippo_fail(err, CLIPPO_E_SHAPE,
                       "train_forward: z must be a float32 (%zu, %zu) device tensor", count, od);
  model_train *t = model_train_get(m, err);
  if (!t) return CLIPPO_E_NOMEM;
  /* views so that patchify sees (count, S, S, 3) and z (count, od) whatever their shapes */
  int64_t in_shape[4] = {(int64_t)count, (int64_t)S, (int64_t)S, 3};
  int64_t z_shape[2] = {(int64_t)count, (int64_t)od};
  clippo_tensor in_v = clippo_tensor_view(inputs, 0, 4, in_shape);
  clippo_tensor z_v = clippo_tensor_view(z, 0, 2, z_shape);
  t->count = 0;
  t->last = NULL;
  if (!m->unplanned) return model_train_plan_forward(m, &in_v, count, &z_v, err);
  if (count > t->cap) {
    acts_release(m);
    clippo_status st = acts_alloc(m, count, err);
    if (st) {
      acts_release(m);
      return st;
    }
  }
  TRY(acts_views(m, count, err));
  clippo_status st = model_train_forward_run(m, &t->acts, &in_v, count, &z_v, err);
  if (st) return clippo_error_prefix(err, "training forward");
  t->count = count;
  return CLIPPO_OK;
}
