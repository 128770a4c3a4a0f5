/* The backward of the CLIPPO ViT (clippo_model_backward): walks the training forward
 * (train_forward.c) in reverse, accumulating every parameter gradient.
 *
 * With dz = dL/dz:
 *   du  = l2normalize'(zu) dz;  head: dWh += pooled^T du, dbh += colsum(du), dpool = du Wh^T
 *   MAP: m1 = m0 + MLP(LN(m0)), m0 = MHA(probe, y): the MLP backward, the LayerNorm backward
 *        (added to the residual path), the attention backward (dprobe = colsum of the query-side
 *        gradient, dy from the key/value side); gap: dy = dpool / T per token
 *   encoder_norm backward into dx; then per block, last first:
 *        x_out = x_mid + MLP(LN1(x_mid)) and x_mid = x_in + MHA(LN0(x_in)), each residual
 *        branch's input gradient added to dx
 *   patch embedding: dpos += sum over images of dx, db += colsum(dx), dW += patches^T dx.
 * LayerNorm outputs are the forward's, kept; GELU outputs are recomputed from the saved
 * pre-activations. */
#include <string.h>

#include "clippo/gemm.h"
#include "model_internal.h"

#define TRY(expr)                                                                                  \
  do {                                                                                             \
    clippo_status st_ = (expr);                                                                    \
    if (st_ != CLIPPO_OK) return st_;                                                              \
  } while (0)

/* Backward of x_out = x_mid + Dense1(gelu(u + b0)) with u = Dense0(y), y = LN(x_mid) and u kept
 * without its bias (clippo_op_linear_gelu_keep): given dx = dL/dx_out (rows, W), accumulates the
 * weight gradients and adds the LayerNorm path into dx, which then holds dL/dx_mid. h and dh
 * (rows, M), dy (rows, W) are scratch. The hidden gradient comes first, so that one pass over u
 * gives both gelu(u + b0) (for Dense_1's weight gradient) and gelu'(u + b0). */
static clippo_status mlp_backward(clippo_model *m, const clippo_tensor *x_mid,
                                  const clippo_tensor *u, clippo_tensor *dx, const clippo_tensor *y,
                                  clippo_tensor *h, clippo_tensor *dh, clippo_tensor *dy,
                                  size_t rows, const clippo_tensor *ln_s, const clippo_tensor *k0,
                                  const clippo_tensor *b0, const clippo_tensor *k1,
                                  clippo_tensor *g_ln_s, clippo_tensor *g_ln_b, clippo_tensor *g_k0,
                                  clippo_tensor *g_b0, clippo_tensor *g_k1, clippo_tensor *g_b1,
                                  clippo_tensor *red, clippo_error *err) {
  clippo_rt *rt = m->rt;
  const size_t W = (size_t)m->cfg.width, M = (size_t)m->cfg.mlp_dim;
  /* Dense_1's input gradient, then GELU's backward with gelu(u) recomputed in the same pass */
  TRY(clippo_gemm(rt, 0, 1, rows, M, W, 1.0f, dx, W, k1, W, 0.0f, dh, M, err));
  TRY(clippo_op_gelu_grad_keep(rt, u, b0, dh, dh, h, err));
  /* Dense_1's weights */
  TRY(clippo_gemm(rt, 1, 0, M, W, rows, 1.0f, h, M, dx, W, 1.0f, g_k1, W, err));
  TRY(clippo_op_bias_grad(rt, dx, g_b1, red, err));
  /* Dense_0 */
  TRY(clippo_gemm(rt, 1, 0, W, M, rows, 1.0f, y, W, dh, M, 1.0f, g_k0, M, err));
  TRY(clippo_op_bias_grad(rt, dh, g_b0, red, err));
  TRY(clippo_gemm(rt, 0, 1, rows, W, M, 1.0f, dh, M, k0, M, 0.0f, dy, W, err));
  /* LayerNorm, added to the residual gradient */
  TRY(clippo_op_layernorm_grad(rt, dy, x_mid, ln_s, m->cfg.ln_eps, dx, 1, g_ln_s, g_ln_b, red,
                               err));
  return CLIPPO_OK;
}

clippo_status model_backward_run(clippo_model *m, model_acts *a, size_t n, const clippo_tensor *dz,
                                 clippo_error *err) {
  clippo_rt *rt = m->rt;
  const clippo_config *c = &m->cfg;
  model_train *t = m->train;
  const size_t T = (size_t)clippo_config_tokens(c), W = (size_t)c->width;
  const size_t P3 = (size_t)c->patch * (size_t)c->patch * 3, rows = n * T;
  const size_t od = c->out_dim > 0 ? (size_t)c->out_dim : W;
  const float eps = c->ln_eps;

  /* L2 normalisation, head (a task head's training output is the pooled output itself) */
  const clippo_tensor *dpool = dz;
  if (m->train_out != CLIPPO_EMBED_PRE_LOGITS) {
    TRY(clippo_op_l2normalize_grad(rt, &a->zu, dz, 1e-8f, &a->nout, 0, err));
    dpool = &a->nout;
  }
  if (m->train_out != CLIPPO_EMBED_PRE_LOGITS && c->out_dim > 0) {
    TRY(clippo_gemm(rt, 1, 0, W, od, n, 1.0f, &a->pooled, W, &a->nout, od, 1.0f, t->g_head_k, od,
                    err));
    TRY(clippo_op_bias_grad(rt, &a->nout, t->g_head_b, &a->red, err));
    TRY(clippo_gemm(rt, 0, 1, n, W, od, 1.0f, &a->nout, od, m->head_k, od, 0.0f, &a->nw[2], W,
                    err));
    dpool = &a->nw[2];
  }
  /* pooling: dy = dL/d encoder_norm output */
  if (!strcmp(c->pool, "map")) {
    clippo_tensor *dm0 = &a->nw[3];
    TRY(clippo_op_copy(rt, dpool, dm0, err));
    TRY(mlp_backward(m, &a->m0, &a->map_u, dm0, &a->nw[1], &a->nm, &a->ndm, &a->nw[4], n,
                     m->map_ln_s, m->map_d0_k, m->map_d0_b, m->map_d1_k, t->g_map_ln_s,
                     t->g_map_ln_b, t->g_map_d0_k, t->g_map_d0_b, t->g_map_d1_k, t->g_map_d1_b,
                     &a->red, err));
    TRY(clippo_op_broadcast_rows(rt, m->probe, &a->nw[0], err));
    TRY(clippo_mha_backward(rt, &m->map_mha.w, c->heads, n, &a->nw[0], &a->y, &a->map_att, dm0,
                            &t->map_mha.g, &a->nw[4], &a->dy, 0, &a->att, &a->red, err));
    int64_t pshape[1] = {(int64_t)W};
    clippo_tensor gprobe = clippo_tensor_view(t->g_probe, 0, 1, pshape);
    TRY(clippo_op_colsum(rt, &a->nw[4], 1.0f, &gprobe, &a->red, err));
  } else {
    TRY(clippo_op_mean_tokens_grad(rt, dpool, T, &a->dy, 0, err));
  }
  /* encoder_norm: dx = dL/d x_final */
  TRY(clippo_op_layernorm_grad(rt, &a->dy, &a->x_final, m->enc_s, eps, &a->dx, 0, t->g_enc_s,
                               t->g_enc_b, &a->red, err));
  /* blocks, last first */
  for (int l = c->depth - 1; l >= 0; l--) {
    model_block *b = &m->blocks[l];
    model_block_grad *g = &t->blocks[l];
    model_block_act *ba = &a->blocks[l];
    clippo_status st = mlp_backward(m, &ba->x_mid, &ba->u, &a->dx, &ba->y1, &a->h, &a->dh, &a->dy,
                                    rows, b->ln1_s, b->d0_k, b->d0_b, b->d1_k, g->ln1_s, g->ln1_b,
                                    g->d0_k, g->d0_b, g->d1_k, g->d1_b, &a->red, err);
    if (!st)
      st = clippo_mha_backward(rt, &b->mha.w, c->heads, n, &ba->y0, &ba->y0, &ba->att, &a->dx,
                               &g->mha.g, &a->dy, &a->dy, 0, &a->att, &a->red, err);
    if (!st)
      st = clippo_op_layernorm_grad(rt, &a->dy, &ba->x_in, b->ln0_s, eps, &a->dx, 1, g->ln0_s,
                                    g->ln0_b, &a->red, err);
    if (st) return clippo_error_prefix(err, "block %d", l);
  }
  /* position embedding (summed over images), patch embedding */
  int64_t pos_shape[2] = {(int64_t)n, (int64_t)(T * W)}, gpos_shape[1] = {(int64_t)(T * W)};
  clippo_tensor dx_img = clippo_tensor_view(&a->dx, 0, 2, pos_shape);
  clippo_tensor gpos = clippo_tensor_view(t->g_pos, 0, 1, gpos_shape);
  TRY(clippo_op_colsum(rt, &dx_img, 1.0f, &gpos, &a->red, err));
  TRY(clippo_op_bias_grad(rt, &a->dx, t->g_emb_b, &a->red, err));
  TRY(clippo_gemm(rt, 1, 0, P3, W, rows, 1.0f, &a->patches, P3, &a->dx, W, 1.0f, t->g_emb_k, W,
                  err));
  return CLIPPO_OK;
}

clippo_status clippo_model_backward(clippo_model *m, const clippo_tensor *dz, clippo_error *err) {
  model_train *t = m->train;
  if (!t || t->count == 0)
    return clippo_fail(err, CLIPPO_E_ARG, "backward: no training forward to differentiate");
  const size_t od = clippo_model_output_dim(m, m->train_out);
  if (!dz || !dz->mem || dz->dtype != CLIPPO_F32 || clippo_tensor_count(dz) != t->count * od)
    return clippo_fail(err, CLIPPO_E_SHAPE,
                       "backward: dz must be a float32 (%zu, %zu) device tensor", t->count, od);
  TRY(model_train_grads(m, err));
  int64_t shape[2] = {(int64_t)t->count, (int64_t)od};
  clippo_tensor dz_v = clippo_tensor_view(dz, 0, 2, shape);
  if (t->last) return model_train_plan_backward(m, &dz_v, err);
  clippo_status st = model_backward_run(m, &t->acts, t->count, &dz_v, err);
  if (st) return clippo_error_prefix(err, "backward");
  return CLIPPO_OK;
}
