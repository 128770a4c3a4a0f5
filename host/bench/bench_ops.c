/* The ops suite: each forward op, attention, patch embedding and the loss at ViT-B/16 shapes.
 * Attention runs three ways: as the model runs it (clippo_mha_uses_flash), and each of its two
 * paths forced (rows clippo-gemm, clippo-flash); sdpa is the part the paths differ in. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "bench/bench_internal.h"
#include "clippo/gemm.h"
#include "clippo/ops.h"
#include "clippo/train.h"

/* ---- ops ------------------------------------------------------------------------------- */

enum { W = 768, HEADS = 12, T = 196, MLP = 3072, PATCH = 16, IMG = 224 };

typedef struct ops_bench {
  clippo_rt *rt;
  size_t n, rows, loss_n;
  clippo_tensor img, patches, x, r, y, h, bias_w, bias_m, scale_w, pos, logits, qkv, bqkv;
  clippo_tensor qh, kh, vh, merged, probe, pq, pooled, ws, ws_map, out_map, wqkv;
  clippo_tensor w[8], w_in, zi, zt, dzi, dzt;
  clippo_loss_ws lws;
  clippo_mha_weights mw, mw_map;
} ops_bench;

static clippo_status ops_setup(ops_bench *b, clippo_error *err) {
  size_t n = b->n, rows = n * T;
  b->rows = rows;
  unsigned seed = 1;
  int64_t s_img[4] = {(int64_t)n, IMG, IMG, 3},
          s_pat[2] = {(int64_t)rows, (int64_t)PATCH * PATCH * 3};
  int64_t s_x[2] = {(int64_t)rows, W}, s_h[2] = {(int64_t)rows, MLP}, s_w[1] = {W};
  int64_t s_m[1] = {MLP}, s_pos[2] = {T, W}, s_lg[2] = {(int64_t)(n * HEADS * T), T};
  int64_t s_qkv[2] = {(int64_t)rows, (int64_t)3 * W};
  int64_t s_hd[3] = {(int64_t)(n * HEADS), T, W / HEADS}, s_ww[2] = {W, W};
  int64_t s_pq[2] = {(int64_t)n, W}, s_z[2] = {(int64_t)b->loss_n, W};
  clippo_rt *rt = b->rt;
  TRY(bench_rand_tensor(rt, &b->img, 4, s_img, -1, 1, seed++, err));
  TRY(bench_rand_tensor(rt, &b->patches, 2, s_pat, -1, 1, seed++, err));
  TRY(bench_rand_tensor(rt, &b->x, 2, s_x, -3, 3, seed++, err));
  TRY(bench_rand_tensor(rt, &b->r, 2, s_x, -1, 1, seed++, err));
  TRY(bench_rand_tensor(rt, &b->y, 2, s_x, -1, 1, seed++, err));
  TRY(bench_rand_tensor(rt, &b->h, 2, s_h, -3, 3, seed++, err));
  TRY(bench_rand_tensor(rt, &b->bias_w, 1, s_w, -0.1f, 0.1f, seed++, err));
  TRY(bench_rand_tensor(rt, &b->bias_m, 1, s_m, -0.1f, 0.1f, seed++, err));
  TRY(bench_rand_tensor(rt, &b->scale_w, 1, s_w, 0.5f, 1.5f, seed++, err));
  TRY(bench_rand_tensor(rt, &b->pos, 2, s_pos, -0.05f, 0.05f, seed++, err));
  TRY(bench_rand_tensor(rt, &b->logits, 2, s_lg, -5, 5, seed++, err));
  TRY(bench_rand_tensor(rt, &b->qkv, 2, s_qkv, -2, 2, seed++, err));
  TRY(bench_rand_tensor(rt, &b->qh, 3, s_hd, 0, 1, seed++, err));
  TRY(bench_rand_tensor(rt, &b->kh, 3, s_hd, 0, 1, seed++, err));
  TRY(bench_rand_tensor(rt, &b->vh, 3, s_hd, 0, 1, seed++, err));
  TRY(bench_rand_tensor(rt, &b->merged, 2, s_x, 0, 1, seed++, err));
  TRY(bench_rand_tensor(rt, &b->probe, 1, s_w, -0.1f, 0.1f, seed++, err));
  TRY(bench_rand_tensor(rt, &b->pq, 2, s_pq, 0, 1, seed++, err));
  TRY(bench_rand_tensor(rt, &b->pooled, 2, s_pq, 0, 1, seed++, err));
  TRY(bench_rand_tensor(rt, &b->out_map, 2, s_pq, 0, 1, seed++, err));
  TRY(bench_rand_tensor(rt, &b->zi, 2, s_z, -0.05f, 0.05f, seed++, err));
  TRY(bench_rand_tensor(rt, &b->zt, 2, s_z, -0.05f, 0.05f, seed++, err));
  TRY(clippo_tensor_alloc(rt, &b->dzi, CLIPPO_F32, 2, s_z, err));
  TRY(clippo_tensor_alloc(rt, &b->dzt, CLIPPO_F32, 2, s_z, err));
  int64_t s_in[2] = {W, MLP};
  TRY(bench_rand_tensor(rt, &b->w_in, 2, s_in, -0.05f, 0.05f, seed++, err));
  float a = sqrtf(6.0f / (2.0f * W));
  for (int i = 0; i < 8; i++) {
    if (i % 2)
      TRY(bench_rand_tensor(rt, &b->w[i], 1, s_w, -0.1f, 0.1f, seed++, err));
    else
      TRY(bench_rand_tensor(rt, &b->w[i], 2, s_ww, -a, a, seed++, err));
  }
  clippo_mha_weights mw = {&b->w[0], &b->w[2], &b->w[4], &b->w[1], &b->w[3],
                           &b->w[5], &b->w[6], &b->w[7], NULL,     NULL};
  b->mw_map = mw;
  TRY(clippo_mha_fuse_qkv(rt, &mw, &b->wqkv, &b->bqkv, err));
  mw.wqkv = &b->wqkv;
  mw.bqkv = &b->bqkv;
  b->mw = mw;
  TRY(clippo_mha_workspace_alloc(rt, &b->ws, n, T, T, W, HEADS, err));
  TRY(clippo_mha_workspace_alloc(rt, &b->ws_map, n, 1, T, W, HEADS, err));
  TRY(clippo_loss_ws_alloc(rt, b->loss_n, &b->lws, err));
  return clippo_rt_finish(rt, err);
}

static void ops_release(ops_bench *b) {
  clippo_tensor *all[] = {&b->img,    &b->patches, &b->x,       &b->r,      &b->y,       &b->h,
                          &b->bias_w, &b->bias_m,  &b->scale_w, &b->pos,    &b->logits,  &b->qkv,
                          &b->bqkv,   &b->qh,      &b->kh,      &b->vh,     &b->merged,  &b->probe,
                          &b->pq,     &b->pooled,  &b->ws,      &b->ws_map, &b->out_map, &b->wqkv,
                          &b->zi,     &b->zt,      &b->dzi,     &b->dzt,    &b->w_in};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) clippo_tensor_release(b->rt, all[i]);
  for (int i = 0; i < 8; i++) clippo_tensor_release(b->rt, &b->w[i]);
  clippo_loss_ws_release(b->rt, &b->lws);
}

static clippo_status op_patchify(void *c, clippo_error *e) {
  ops_bench *b = c;
  return clippo_op_patchify(b->rt, &b->img, PATCH, &b->patches, e);
}
static clippo_status op_patch_embed(void *c, clippo_error *e) {
  ops_bench *b = c;
  TRY(clippo_op_patchify(b->rt, &b->img, PATCH, &b->patches, e));
  TRY(clippo_gemm(b->rt, 0, 0, b->rows, W, (size_t)PATCH * PATCH * 3, 1.0f, &b->patches,
                  (size_t)PATCH * PATCH * 3, &b->w[0], W, 0.0f, &b->x, W, e));
  return clippo_op_add_bias_posemb(b->rt, &b->x, &b->bias_w, &b->pos, e);
}
static clippo_status op_layernorm(void *c, clippo_error *e) {
  ops_bench *b = c;
  return clippo_op_layernorm(b->rt, &b->x, &b->scale_w, &b->bias_w, 1e-6f, &b->y, e);
}
static clippo_status op_add_layernorm(void *c, clippo_error *e) {
  ops_bench *b = c;
  return clippo_op_add_layernorm(b->rt, &b->x, &b->r, &b->scale_w, &b->bias_w, 1e-6f, &b->y, e);
}
static clippo_status op_gelu(void *c, clippo_error *e) {
  ops_bench *b = c;
  return clippo_op_gelu(b->rt, &b->h, e);
}
static clippo_status op_bias_gelu(void *c, clippo_error *e) {
  ops_bench *b = c;
  return clippo_op_bias_gelu(b->rt, &b->h, &b->bias_m, e);
}
/* The MLP's first layer with its bias and GELU as the model runs it (inside the product where
 * the provider does that), and as a product followed by the bias + GELU kernel. */
static clippo_status op_dense_gelu(void *c, clippo_error *e) {
  ops_bench *b = c;
  return clippo_op_linear(b->rt, &b->y, b->rows, W, &b->w_in, MLP, &b->bias_m, 1, 0.0f, &b->h, e);
}
static clippo_status op_dense_gelu_unfused(void *c, clippo_error *e) {
  ops_bench *b = c;
  TRY(clippo_gemm(b->rt, 0, 0, b->rows, MLP, W, 1.0f, &b->y, W, &b->w_in, MLP, 0.0f, &b->h, MLP,
                  e));
  return clippo_op_bias_gelu(b->rt, &b->h, &b->bias_m, e);
}
static clippo_status op_add(void *c, clippo_error *e) {
  ops_bench *b = c;
  return clippo_op_add(b->rt, &b->y, &b->r, e);
}
static clippo_status op_softmax(void *c, clippo_error *e) {
  ops_bench *b = c;
  return clippo_op_softmax(b->rt, &b->logits, 1.0f, e);
}
static clippo_status op_qkv_split(void *c, clippo_error *e) {
  ops_bench *b = c;
  return clippo_op_qkv_split(b->rt, &b->qkv, &b->bqkv, T, HEADS, 0.125f, &b->qh, &b->kh, &b->vh, e);
}
static clippo_status op_heads_merge(void *c, clippo_error *e) {
  ops_bench *b = c;
  return clippo_op_heads_merge(b->rt, &b->qh, T, HEADS, &b->merged, e);
}
static clippo_status op_mean_tokens(void *c, clippo_error *e) {
  ops_bench *b = c;
  return clippo_op_mean_tokens(b->rt, &b->y, &b->pooled, e);
}
static clippo_status op_l2norm(void *c, clippo_error *e) {
  ops_bench *b = c;
  return clippo_op_l2normalize(b->rt, &b->pq, 1e-8f, &b->pq, e);
}
static clippo_status op_mha_self(void *c, clippo_error *e) {
  ops_bench *b = c;
  return clippo_mha(b->rt, &b->mw, HEADS, b->n, &b->y, &b->y, &b->ws, 1, &b->x, e);
}
static clippo_status op_mha_map(void *c, clippo_error *e) {
  ops_bench *b = c;
  TRY(clippo_op_broadcast_rows(b->rt, &b->probe, &b->pq, e));
  return clippo_mha(b->rt, &b->mw_map, HEADS, b->n, &b->pq, &b->y, &b->ws_map, 0, &b->out_map, e);
}
/* clippo_mha with its softmax(q k^T) v forced one way (rt->settings.attention), then restored. */
static clippo_status mha_forced(ops_bench *b, clippo_attention_mode mode,
                                clippo_status (*fn)(void *, clippo_error *), clippo_error *e) {
  clippo_attention_mode saved = b->rt->settings.attention;
  b->rt->settings.attention = mode;
  clippo_status st = fn(b, e);
  b->rt->settings.attention = saved;
  return st;
}
static clippo_status op_mha_self_gemm(void *c, clippo_error *e) {
  return mha_forced(c, CLIPPO_ATTENTION_GEMM, op_mha_self, e);
}
static clippo_status op_mha_self_flash(void *c, clippo_error *e) {
  return mha_forced(c, CLIPPO_ATTENTION_FLASH, op_mha_self, e);
}
static clippo_status op_mha_map_gemm(void *c, clippo_error *e) {
  return mha_forced(c, CLIPPO_ATTENTION_GEMM, op_mha_map, e);
}
static clippo_status op_mha_map_flash(void *c, clippo_error *e) {
  return mha_forced(c, CLIPPO_ATTENTION_FLASH, op_mha_map, e);
}
/* softmax(q k^T) v of every head, from the fused projection qkv (bias and q's scale applied) into
 * merged, as clippo_mha's two paths compute it: the head split, q k^T with the softmax (inside the
 * product where the provider does that), p v and the head merge; or the one flash_attention
 * kernel. */
static clippo_status op_sdpa_gemm(void *c, clippo_error *e) {
  ops_bench *b = c;
  clippo_rt *rt = b->rt;
  const size_t t = T, hd = W / HEADS, th = t * hd, tt = t * t, batch = b->n * HEADS;
  TRY(clippo_op_qkv_split(rt, &b->qkv, &b->bqkv, t, HEADS, 0.125f, &b->qh, &b->kh, &b->vh, e));
  if (clippo_gemm_fuses_epilogue(rt, 0, 1, t, t, hd, batch)) {
    TRY(clippo_gemm_batched_fused(rt, 0, 1, t, t, hd, 1.0f, &b->qh, hd, th, &b->kh, hd, th, 0.0f,
                                  &b->logits, t, tt, batch, CLIPPO_GEMM_ACT_SOFTMAX, e));
  } else {
    TRY(clippo_gemm_batched(rt, 0, 1, t, t, hd, 1.0f, &b->qh, hd, th, &b->kh, hd, th, 0.0f,
                            &b->logits, t, tt, batch, e));
    TRY(clippo_op_softmax(rt, &b->logits, 1.0f, e));
  }
  TRY(clippo_gemm_batched(rt, 0, 0, t, hd, t, 1.0f, &b->logits, t, tt, &b->vh, hd, th, 0.0f, &b->qh,
                          hd, th, batch, e));
  return clippo_op_heads_merge(rt, &b->qh, t, HEADS, &b->merged, e);
}
static clippo_status op_sdpa_flash(void *c, clippo_error *e) {
  ops_bench *b = c;
  const size_t w = W;
  int64_t bs[1] = {W};
  clippo_tensor bq = clippo_tensor_view(&b->bqkv, 0, 1, bs);
  clippo_tensor bk = clippo_tensor_view(&b->bqkv, w, 1, bs);
  clippo_tensor bv = clippo_tensor_view(&b->bqkv, 2 * w, 1, bs);
  clippo_attention_src q = {&b->qkv, 3 * w, 0, &bq}, k = {&b->qkv, 3 * w, w, &bk};
  clippo_attention_src v = {&b->qkv, 3 * w, 2 * w, &bv};
  return clippo_op_attention_flash(b->rt, &q, &k, &v, 0.125f, b->n, T, T, HEADS, w / HEADS,
                                   &b->merged, e);
}
static clippo_status op_loss(void *c, clippo_error *e) {
  ops_bench *b = c;
  double loss = 0, dt = 0;
  return clippo_contrastive_loss(b->rt, &b->zi, &b->zt, 2.302585f, &b->lws, &b->dzi, &b->dzt, &loss,
                                 &dt, e);
}

typedef struct op_entry {
  const char *name;
  bench_fn fn;
  double floats; /* floats moved per call (memory-bound ops), or 0 */
  double flops;  /* per call (compute-bound ops), or 0 */
  char shape[96];
  const char *impl; /* the row's implementation name; NULL: "clippo" */
} op_entry;

/* How op ran, for its row's note ("; ..."), or "". */
static const char *op_how(clippo_rt *rt, const ops_bench *b, const op_entry *op) {
  if (!strcmp(op->name, "loss")) return "; blocks to read the loss back";
  if (!strcmp(op->name, "dense_gelu")) {
    if (op->impl) return "; product, then the bias_gelu kernel";
    return clippo_gemm_fuses_epilogue(rt, 0, 0, b->rows, MLP, W, 1)
               ? "; bias + GELU inside the product (GEMM epilogue)"
               : "; the provider has no epilogue: product + bias_gelu kernel";
  }
  if (op->impl && strstr(op->impl, "-flash"))
    return "; one flash_attention kernel (online softmax)";
  if (op->impl && strstr(op->impl, "-gemm"))
    return "; head split, batched products with the softmax, head merge";
  if (!strncmp(op->name, "attention", 9))
    return clippo_mha_uses_flash(rt, b->n, T, T, W, HEADS)
               ? "; as the model runs it: flash_attention"
               : "; as the model runs it: batched products";
  return "";
}

clippo_status bench_run_ops(bench_suite *s, clippo_error *err) {
  ops_bench b;
  memset(&b, 0, sizeof b);
  b.rt = s->rt;
  b.n = s->o.images;
  b.loss_n = s->o.quick ? 256 : 1024;
  clippo_error e;
  if (ops_setup(&b, &e)) {
    ops_release(&b);
    RECORD_FAILURE(s, "ops", "setup", "clippo", "", &e, err);
    return CLIPPO_OK;
  }
  double n = (double)b.n, rows = (double)b.rows, hd = W / (double)HEADS, ln = (double)b.loss_n;
  double mha_flops = 2 * rows * W * 3 * W + 4.0 * n * HEADS * T * T * hd + 2 * rows * W * W;
  double map_flops =
      2.0 * n * W * W + 2 * rows * W * 2 * W + 4.0 * n * HEADS * T * hd + 2.0 * n * W * W;
  op_entry ops[] = {
      {"patchify", op_patchify, 2.0 * rows * PATCH * PATCH * 3, 0, "", NULL},
      {"patch_embed", op_patch_embed, 0, 2.0 * rows * PATCH * PATCH * 3 * W, "", NULL},
      {"layernorm", op_layernorm, 2.0 * rows * W, 0, "", NULL},
      {"add_layernorm", op_add_layernorm, 4.0 * rows * W, 0, "", NULL},
      {"gelu", op_gelu, 2.0 * rows * MLP, 0, "", NULL},
      {"bias_gelu", op_bias_gelu, 2.0 * rows * MLP, 0, "", NULL},
      {"dense_gelu", op_dense_gelu, 0, 2.0 * rows * W * MLP, "", NULL},
      {"dense_gelu", op_dense_gelu_unfused, 0, 2.0 * rows * W * MLP, "", "clippo-unfused"},
      {"add", op_add, 3.0 * rows * W, 0, "", NULL},
      {"softmax", op_softmax, 2.0 * n * HEADS * T * T, 0, "", NULL},
      {"qkv_split", op_qkv_split, 6.0 * rows * W, 0, "", NULL},
      {"heads_merge", op_heads_merge, 2.0 * rows * W, 0, "", NULL},
      {"mean_tokens", op_mean_tokens, rows * W + n * W, 0, "", NULL},
      {"l2normalize", op_l2norm, 2.0 * n * W, 0, "", NULL},
      {"sdpa", op_sdpa_gemm, 0, 4.0 * n * HEADS * T * T * hd, "", "clippo-gemm"},
      {"sdpa", op_sdpa_flash, 0, 4.0 * n * HEADS * T * T * hd, "", "clippo-flash"},
      {"attention", op_mha_self, 0, mha_flops, "", NULL},
      {"attention", op_mha_self_gemm, 0, mha_flops, "", "clippo-gemm"},
      {"attention", op_mha_self_flash, 0, mha_flops, "", "clippo-flash"},
      {"attention_map", op_mha_map, 0, map_flops, "", NULL},
      {"attention_map", op_mha_map_gemm, 0, map_flops, "", "clippo-gemm"},
      {"attention_map", op_mha_map_flash, 0, map_flops, "", "clippo-flash"},
      {"loss", op_loss, 0, 3.0 * 2.0 * ln * ln * W, "", NULL},
  };
  size_t nops = sizeof ops / sizeof ops[0];
  for (size_t i = 0; i < nops; i++) {
    const char *nm = ops[i].name;
    if (!strcmp(nm, "softmax"))
      snprintf(ops[i].shape, sizeof ops[i].shape, "%zu x %d rows of %d", b.n * HEADS, T, T);
    else if (!strcmp(nm, "gelu") || !strcmp(nm, "bias_gelu"))
      snprintf(ops[i].shape, sizeof ops[i].shape, "%zu x %d", b.rows, MLP);
    else if (!strcmp(nm, "dense_gelu"))
      snprintf(ops[i].shape, sizeof ops[i].shape, "%zu x %d -> %d, bias + GELU", b.rows, W, MLP);
    else if (!strcmp(nm, "patchify") || !strcmp(nm, "patch_embed"))
      snprintf(ops[i].shape, sizeof ops[i].shape, "%zu images %dpx, patch %d, width %d", b.n, IMG,
               PATCH, W);
    else if (!strcmp(nm, "attention") || !strcmp(nm, "attention_map"))
      snprintf(ops[i].shape, sizeof ops[i].shape, "%zu x %s%d tokens, width %d, %d heads", b.n,
               nm[9] ? "1 probe over " : "", T, W, HEADS);
    else if (!strcmp(nm, "sdpa"))
      snprintf(ops[i].shape, sizeof ops[i].shape,
               "%zu x %d heads, %d tokens of %d: softmax(q k^T) v from qkv", b.n, HEADS, T,
               W / HEADS);
    else if (!strcmp(nm, "loss"))
      snprintf(ops[i].shape, sizeof ops[i].shape, "%zu pairs x %d, with gradients", b.loss_n, W);
    else if (!strcmp(nm, "l2normalize"))
      snprintf(ops[i].shape, sizeof ops[i].shape, "%zu x %d", b.n, W);
    else
      snprintf(ops[i].shape, sizeof ops[i].shape, "%zu x %d", b.rows, W);
  }
  clippo_status ret = CLIPPO_OK;
  for (size_t i = 0; i < nops && !ret; i++) {
    timing t;
    if (bench_time_calls(s, s->rt, ops[i].fn, &b, &t, &e)) {
      clippo_rt_finish(s->rt, NULL);
      if (e.status == CLIPPO_E_NOMEM) {
        *err = e;
        ret = CLIPPO_E_NOMEM;
      } else {
        ret = bench_emit_status(s, "ops", ops[i].name, ops[i].impl ? ops[i].impl : "clippo",
                                ops[i].shape, "failed", e.msg, err);
      }
      continue;
    }
    clippo_bench_row row;
    const char *impl = ops[i].impl ? ops[i].impl : "clippo";
    bench_row_init(&row, "ops", ops[i].name, impl);
    snprintf(row.shape, sizeof row.shape, "%s", ops[i].shape);
    bench_row_timing(&row, &t);
    row.batch = !strcmp(ops[i].name, "loss") ? b.loss_n : b.n;
    row.flops = ops[i].flops;
    row.bytes = ops[i].floats * 4.0;
    snprintf(row.note, sizeof row.note, "first call %.1f ms%s", t.first_s * 1e3,
             op_how(s->rt, &b, &ops[i]));
    ret = bench_emit(s, &row, err);
  }
  ops_release(&b);
  return ret;
}
