/* Launchers of kernels/attention.cl (head split / merge) and the multi-head attention that
 * strings them together with clippo_gemm, clippo_gemm_batched and the softmax. */
#include "clippo/ops.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "clippo/gemm.h"
#include "ops/ops_internal.h"

clippo_status clippo_op_heads_split(clippo_rt *rt, const clippo_tensor *src, size_t ld, size_t col0,
                                    const clippo_tensor *bias, float scale, size_t t, int heads,
                                    clippo_tensor *dst, clippo_error *err) {
  static const char op[] = "heads_split";
  size_t rows = 0, hd = 0, drows = 0;
  clippo_status st = ops_check_rows(src, ld, &rows, NULL, op, "src", err);
  if (st) return st;
  if ((st = ops_check_rows(dst, 0, &drows, &hd, op, "dst", err))) return st;
  if (heads <= 0 || t == 0 || rows % t != 0)
    return clippo_fail(err, CLIPPO_E_SHAPE, "%s: %zu rows, %zu tokens, %d heads do not fit", op,
                       rows, t, heads);
  size_t w = (size_t)heads * hd;
  if (col0 + w > ld)
    return clippo_fail(err, CLIPPO_E_SHAPE, "%s: columns [%zu, %zu) exceed the %zu of src", op,
                       col0, col0 + w, ld);
  if (drows != rows * (size_t)heads)
    return clippo_fail(err, CLIPPO_E_SHAPE,
                       "%s: dst has %zu rows of %zu, expected (n * heads, t, hd) = %zu rows", op,
                       drows, hd, rows * (size_t)heads);
  if (bias && (st = ops_check_count(bias, w, op, "bias", err))) return st;
  if (!ops_disjoint(src, dst) || (bias && !ops_disjoint(bias, dst)))
    return clippo_fail(err, CLIPPO_E_ARG, "%s: dst overlaps src or bias", op);
  ops_class c = ops_class_of(rt);
  cl_kernel k;
  if ((st = ops_kernel(rt, &c, "attention.cl", "heads_split", &k, err))) return st;
  ops_args a;
  ops_args_begin(&a, k);
  ops_arg_tensor(&a, src);
  ops_arg_u32(&a, ld);
  ops_arg_u32(&a, col0);
  ops_arg_tensor(&a, bias ? bias : src);
  ops_arg_u32(&a, bias != NULL);
  ops_arg_f32(&a, scale);
  ops_arg_tensor(&a, dst);
  ops_arg_u32(&a, rows);
  ops_arg_u32(&a, t);
  ops_arg_u32(&a, (size_t)heads);
  ops_arg_u32(&a, hd);
  if ((st = ops_args_end(rt, &a, "heads_split", err))) return st;
  return ops_launch_1d(rt, k, rows * (size_t)heads, c.local_rows, err);
}

clippo_status clippo_op_qkv_split(clippo_rt *rt, const clippo_tensor *qkv,
                                  const clippo_tensor *bqkv, size_t t, int heads, float q_scale,
                                  clippo_tensor *q, clippo_tensor *k, clippo_tensor *v,
                                  clippo_error *err) {
  static const char op[] = "qkv_split";
  size_t rows = 0, w3 = 0;
  clippo_status st = ops_check_rows(qkv, 0, &rows, &w3, op, "qkv", err);
  if (st) return st;
  if (w3 % 3 != 0)
    return clippo_fail(err, CLIPPO_E_SHAPE, "%s: qkv has %zu columns, not 3 * W", op, w3);
  size_t w = w3 / 3;
  if (bqkv && (st = ops_check_count(bqkv, w3, op, "bqkv", err))) return st;
  clippo_tensor *outs[3] = {q, k, v};
  for (int i = 0; i < 3; i++) {
    clippo_tensor bview;
    int64_t bshape[1] = {(int64_t)w};
    if (bqkv) bview = clippo_tensor_view(bqkv, (size_t)i * w, 1, bshape);
    st = clippo_op_heads_split(rt, qkv, w3, (size_t)i * w, bqkv ? &bview : NULL,
                               i == 0 ? q_scale : 1.0f, t, heads, outs[i], err);
    if (st) return clippo_error_prefix(err, "%s (%c): ", op, "qkv"[i]);
  }
  return CLIPPO_OK;
}

clippo_status clippo_op_heads_merge(clippo_rt *rt, const clippo_tensor *src, size_t t, int heads,
                                    clippo_tensor *dst, clippo_error *err) {
  static const char op[] = "heads_merge";
  size_t srows = 0, hd = 0, rows = 0;
  clippo_status st = ops_check_rows(src, 0, &srows, &hd, op, "src", err);
  if (st) return st;
  if (heads <= 0 || t == 0)
    return clippo_fail(err, CLIPPO_E_ARG, "%s: %d heads, %zu tokens", op, heads, t);
  size_t w = (size_t)heads * hd;
  if ((st = ops_check_rows(dst, w, &rows, NULL, op, "dst", err))) return st;
  if (rows % t != 0 || srows != rows * (size_t)heads)
    return clippo_fail(err, CLIPPO_E_SHAPE,
                       "%s: src (%zu rows of %zu) and dst (%zu rows of %zu) do not fit %zu tokens "
                       "and %d heads",
                       op, srows, hd, rows, w, t, heads);
  if (!ops_disjoint(src, dst)) return clippo_fail(err, CLIPPO_E_ARG, "%s: dst overlaps src", op);
  ops_class c = ops_class_of(rt);
  cl_kernel k;
  if ((st = ops_kernel(rt, &c, "attention.cl", "heads_merge", &k, err))) return st;
  ops_args a;
  ops_args_begin(&a, k);
  ops_arg_tensor(&a, src);
  ops_arg_tensor(&a, dst);
  ops_arg_u32(&a, rows);
  ops_arg_u32(&a, t);
  ops_arg_u32(&a, (size_t)heads);
  ops_arg_u32(&a, hd);
  if ((st = ops_args_end(rt, &a, "heads_merge", err))) return st;
  return ops_launch_1d(rt, k, rows * (size_t)heads, c.local_rows, err);
}

/* Work-items per group of flash_attention (its key tiles have as many rows): 16 for the row
 * variant (CPUs: small groups, so that every core gets some), 32 for the group variant (GPUs), or
 * 16 for heads over 64 (the local tiles, 2 x tile x hd floats, stay within 32 KiB, OpenCL's
 * least local memory). */
static size_t flash_tile(const clippo_rt *rt, const ops_class *c, size_t hd) {
  size_t tile = !c->group || hd > 64 ? 16 : 32;
  while (tile > 1 && rt->info.local_mem && 2 * tile * hd * sizeof(float) > rt->info.local_mem)
    tile /= 2;
  return tile;
}

/* Checks one flash_attention operand: rows of src->ld, at least `rows` of them, columns
 * [col, col + w), a bias of w floats when `bias`. */
static clippo_status check_flash_src(const clippo_attention_src *s, size_t rows, size_t w, int bias,
                                     const char *op, const char *what, clippo_error *err) {
  if (!s || !s->t) return clippo_fail(err, CLIPPO_E_ARG, "%s: %s missing", op, what);
  size_t have = 0;
  clippo_status st = ops_check_rows(s->t, s->ld, &have, NULL, op, what, err);
  if (st) return st;
  if (s->col + w > s->ld)
    return clippo_fail(err, CLIPPO_E_SHAPE, "%s: %s columns [%zu, %zu) exceed its %zu", op, what,
                       s->col, s->col + w, s->ld);
  if (have < rows)
    return clippo_fail(err, CLIPPO_E_SHAPE, "%s: %s has %zu rows, %zu needed", op, what, have,
                       rows);
  if (bias != (s->bias != NULL))
    return clippo_fail(err, CLIPPO_E_ARG, "%s: the biases of q, k and v are all given or none", op);
  if (bias && (st = ops_check_count(s->bias, w, op, "bias", err))) return st;
  return CLIPPO_OK;
}

/* The checks both fused attentions share: q (n * tq rows), k, v (n * tk rows) of w = heads * hd
 * columns, biases all given or none, out (n * tq * w floats) overlapping none of them. */
static clippo_status check_fused_srcs(const clippo_attention_src *in[3], size_t n, size_t tq,
                                      size_t tk, size_t w, const clippo_tensor *out, const char *op,
                                      clippo_error *err) {
  const int bias = in[0] && in[0]->bias != NULL;
  static const char *names[3] = {"q", "k", "v"};
  clippo_status st = CLIPPO_OK;
  for (int i = 0; i < 3 && !st; i++)
    st = check_flash_src(in[i], n * (i ? tk : tq), w, bias, op, names[i], err);
  if (!st) st = ops_check_count(out, n * tq * w, op, "out", err);
  if (st) return st;
  for (int i = 0; i < 3; i++)
    if (!ops_disjoint(out, in[i]->t) || (bias && !ops_disjoint(out, in[i]->bias)))
      return clippo_fail(err, CLIPPO_E_ARG, "%s: out overlaps an input", op);
  return CLIPPO_OK;
}

void ops_attention_src_args(ops_args *a, const clippo_attention_src *in[3], float scale) {
  const int bias = in[0]->bias != NULL;
  for (int i = 0; i < 3; i++) {
    clippo_tensor from = *in[i]->t;
    from.offset += in[i]->col; /* the first head's column of the first row */
    ops_arg_tensor(a, &from);
    ops_arg_u32(a, in[i]->ld);
  }
  for (int i = 0; i < 3; i++) ops_arg_tensor(a, bias ? in[i]->bias : in[i]->t);
  ops_arg_u32(a, (size_t)bias);
  ops_arg_f32(a, scale);
}

clippo_status clippo_op_attention_flash(clippo_rt *rt, const clippo_attention_src *q,
                                        const clippo_attention_src *k,
                                        const clippo_attention_src *v, float scale, size_t n,
                                        size_t tq, size_t tk, int heads, size_t hd,
                                        clippo_tensor *out, clippo_error *err) {
  static const char op[] = "attention_flash";
  if (heads <= 0 || hd == 0 || hd > CLIPPO_FLASH_HD_MAX || n == 0 || tq == 0 || tk == 0)
    return clippo_fail(err, CLIPPO_E_SHAPE,
                       "%s: %zu images of %zu queries and %zu keys, %d heads of %zu (at most %d)",
                       op, n, tq, tk, heads, hd, CLIPPO_FLASH_HD_MAX);
  const size_t w = (size_t)heads * hd;
  const clippo_attention_src *in[3] = {q, k, v};
  clippo_status st = check_fused_srcs(in, n, tq, tk, w, out, op, err);
  if (st) return st;
  ops_class c = ops_class_of(rt);
  size_t tile = flash_tile(rt, &c, hd);
  char defs[64];
  snprintf(defs, sizeof defs, "-DFLASH_HD=%zu -DFLASH_TILE=%zu", hd, tile);
  cl_kernel kern;
  if ((st = ops_kernel_with(rt, &c, "attention.cl", "flash_attention", defs, &kern, err)))
    return st;
  size_t local = ops_fit_local(rt, kern, tile);
  ops_args a;
  ops_args_begin(&a, kern);
  ops_attention_src_args(&a, in, scale);
  ops_arg_tensor(&a, out);
  ops_arg_u32(&a, tq);
  ops_arg_u32(&a, tk);
  ops_arg_u32(&a, (size_t)heads);
  ops_arg_local_floats(&a, tile * hd);
  ops_arg_local_floats(&a, tile * hd);
  if ((st = ops_args_end(rt, &a, "flash_attention", err))) return st;
  size_t groups = n * (size_t)heads * ((tq + local - 1) / local);
  return ops_launch_groups(rt, kern, groups, local, err);
}

/* Local floats of attention_rows_fwd (kt, vl, score rows, query rows) or attention_rows_bwd (vt,
 * kl, dka, dva, ds, pb, query rows, context gradient rows) staging cw columns; tkv is tk rounded
 * up to vec. */
static size_t rows_local(size_t tk, size_t cw, const ops_class *c, int bwd) {
  size_t tkv = ops_attention_rows_tkv(c, tk), r = c->att_rows;
  return bwd ? cw * tkv + 3 * tk * cw + 2 * r * (tkv + cw) : cw * tkv + tk * cw + r * (tkv + cw);
}

/* Most bytes the all-heads kernels stage per work-item: beyond, what one core reads over and over
 * no longer stays in its L2 cache (1 MiB on Zen 4, 1-2 MiB on Xeons), and the per-head build
 * runs instead. The train suite's model (64 tokens, width 128) stages 72 KiB forward and 143 KiB
 * backward; ViT-B/16 at 224 px 1.2 and 2.4 MiB, per head 104 and 268 KiB. */
#define ATT_ALL_HEADS_MAX_BYTES ((size_t)256 * 1024)

int ops_attention_rows_per_head(const ops_class *c, size_t tk, size_t width, int heads, int bwd) {
  return heads > 1 && rows_local(tk, width, c, bwd) * sizeof(float) > ATT_ALL_HEADS_MAX_BYTES;
}

int ops_attention_rows_ok(const clippo_rt *rt, const ops_class *c, size_t tk, size_t width,
                          int heads, int bwd) {
  if (heads <= 0 || width == 0 || width % (size_t)heads != 0 || tk == 0 || c->vec == 0) return 0;
  int forced = rt->settings.attention == CLIPPO_ATTENTION_ROWS;
  int native = (rt->info.type & CL_DEVICE_TYPE_CPU) && rt->info.native_float_vec >= 4;
  if (!forced && !(rt->settings.attention == CLIPPO_ATTENTION_AUTO && native)) return 0;
  size_t hd = width / (size_t)heads;
  if (hd % c->vec != 0) return 0;
  size_t need = 0;
  for (int k = 0; k <= bwd; k++) {
    size_t cw = ops_attention_rows_per_head(c, tk, width, heads, k) ? hd : width;
    size_t f = rows_local(tk, cw, c, k);
    if (f > need) need = f;
  }
  return rt->info.local_mem && need * sizeof(float) <= rt->info.local_mem;
}

int clippo_attention_rows_fits(const clippo_rt *rt, size_t tk, size_t width, int heads) {
  ops_class c = ops_class_of(rt);
  return ops_attention_rows_ok(rt, &c, tk, width, heads, 0);
}

/* Prefetch hints (-DATT_HINTS=1, clang's __builtin_prefetch) only where the kernels compile
 * for the CPU itself: PoCL's. Compilers that go through SPIR-V (Mesa's rusticl) reject the
 * intrinsic. */
static int rows_prefetch(const clippo_rt *rt) { return strstr(rt->info.version, "PoCL") != NULL; }

clippo_status ops_attention_rows_kernel(clippo_rt *rt, const ops_class *c, const char *name,
                                        int per_head, cl_kernel *k, clippo_error *err) {
  char defs[96];
  snprintf(defs, sizeof defs, "-DATT_ROWS=1 -DATT_R=%zu%s%s", c->att_rows,
           per_head ? " -DATT_PER_HEAD=1" : "", rows_prefetch(rt) ? " -DATT_HINTS=1" : "");
  return ops_kernel_with(rt, c, "attention.cl", name, defs, k, err);
}

/* How attention_rows_fwd writes p (its keep_p): 2, streaming stores that bypass the caches, where
 * every row of p starts at a multiple of 64 bytes (VEC 16: the rows' vectors are whole cache
 * lines) and the compiler has them (clang's, as PoCL's and Mesa's); else 1, plain stores. p is
 * read back only by the backward, after the rest of the forward: the train suite's forward
 * attention ran 10.6-10.9 -> 9.8-10.1 ms with them (8 MiB of p per call, 2-vCPU Zen 4). */
static unsigned probs_store(const clippo_rt *rt, const ops_class *c, const clippo_tensor *p,
                            size_t tk) {
  int lines = c->vec == 16 && rt->info.base_align_bits >= 512 && tk % 16 == 0;
  return lines && p->offset % 16 == 0 ? 2 : 1;
}

clippo_status clippo_op_attention_rows(clippo_rt *rt, const clippo_attention_src *q,
                                       const clippo_attention_src *k, const clippo_attention_src *v,
                                       float scale, size_t n, size_t tq, size_t tk, int heads,
                                       size_t hd, clippo_tensor *out, clippo_tensor *p,
                                       clippo_error *err) {
  static const char op[] = "attention_rows";
  if (heads <= 0 || hd == 0 || n == 0 || tq == 0 || tk == 0)
    return clippo_fail(err, CLIPPO_E_SHAPE, "%s: %zu images of %zu queries and %zu keys, %d heads",
                       op, n, tq, tk, heads);
  const size_t w = (size_t)heads * hd;
  const clippo_attention_src *in[3] = {q, k, v};
  clippo_status st = check_fused_srcs(in, n, tq, tk, w, out, op, err);
  if (!st && p) st = ops_check_count(p, n * (size_t)heads * tq * tk, op, "p", err);
  if (st) return st;
  for (int i = 0; p && i < 3; i++)
    if (!ops_disjoint(p, in[i]->t) || !ops_disjoint(p, out) ||
        (in[i]->bias && !ops_disjoint(p, in[i]->bias)))
      return clippo_fail(err, CLIPPO_E_ARG, "%s: p overlaps an input or out", op);
  ops_class c = ops_class_of(rt);
  if (!ops_attention_rows_ok(rt, &c, tk, w, heads, 0))
    return clippo_fail(err, CLIPPO_E_ARG,
                       "%s: not for this device (%s) or shape (%zu keys, %d heads of %zu): see "
                       "clippo_attention_rows_fits",
                       op, rt->info.name, tk, heads, hd);
  cl_kernel kern;
  int per_head = ops_attention_rows_per_head(&c, tk, w, heads, 0);
  const size_t cw = per_head ? hd : w; /* columns each work-item stages */
  if ((st = ops_attention_rows_kernel(rt, &c, "attention_rows_fwd", per_head, &kern, err)))
    return st;
  size_t tkv = ops_attention_rows_tkv(&c, tk);
  ops_args a;
  ops_args_begin(&a, kern);
  ops_attention_src_args(&a, in, scale);
  ops_arg_tensor(&a, out);
  ops_arg_u32(&a, w);
  ops_arg_tensor(&a, p ? p : out);
  ops_arg_u32(&a, p ? probs_store(rt, &c, p, tk) : 0);
  ops_arg_u32(&a, n);
  ops_arg_u32(&a, tq);
  ops_arg_u32(&a, tk);
  ops_arg_u32(&a, hd);
  ops_arg_u32(&a, w);
  ops_arg_local_floats(&a, cw * tkv);
  ops_arg_local_floats(&a, tk * cw);
  ops_arg_local_floats(&a, c.att_rows * tkv);
  ops_arg_local_floats(&a, c.att_rows * cw);
  if ((st = ops_args_end(rt, &a, "attention_rows_fwd", err))) return st;
  return ops_launch_groups(rt, kern, per_head ? n * (size_t)heads : n, 1, err);
}

int clippo_mha_uses_rows(clippo_rt *rt, size_t n, size_t tq, size_t tk, size_t width, int heads) {
  (void)tq;
  unsigned cores = rt->info.compute_units ? rt->info.compute_units : 1;
  ops_class c = ops_class_of(rt);
  size_t items = n; /* work-items: one per image, or per (image, head) */
  if (heads > 0 && ops_attention_rows_per_head(&c, tk, width, heads, 0)) items *= (size_t)heads;
  if (rt->settings.attention != CLIPPO_ATTENTION_ROWS && items < cores) return 0; /* idle cores */
  return clippo_attention_rows_fits(rt, tk, width, heads);
}

int clippo_mha_uses_flash(clippo_rt *rt, size_t n, size_t tq, size_t tk, size_t width, int heads) {
  if (heads <= 0 || width % (size_t)heads != 0 || width / (size_t)heads > CLIPPO_FLASH_HD_MAX)
    return 0;
  if (rt->settings.attention != CLIPPO_ATTENTION_AUTO)
    return rt->settings.attention == CLIPPO_ATTENTION_FLASH;
  /* CPU devices keep the products: on PoCL B/16's softmax(q k^T) v took 0.57-0.66 ms through
   * oneDNN, 1.3 ms through the kernel provider and 8.8 ms as flash_attention (bench ops, sdpa) */
  if (rt->info.type & CL_DEVICE_TYPE_CPU) return 0;
  clippo_gemm_choice ch;
  if (clippo_gemm_choose(rt, 0, 1, tq, tk, width / (size_t)heads, n * (size_t)heads, &ch, NULL))
    return 0;
  return ch.provider == CLIPPO_GEMM_CLBLAST || ch.provider == CLIPPO_GEMM_KERNEL;
}

/* W of a (W, W) kernel (2-D, or (W, H, hd) / (H, hd, W) flattened). */
static size_t square_width(const clippo_tensor *t) {
  size_t n = clippo_tensor_count(t);
  size_t w = (size_t)llround(sqrt((double)n));
  return w * w == n ? w : 0;
}

clippo_status clippo_mha_fuse_qkv(clippo_rt *rt, const clippo_mha_weights *w, clippo_tensor *wqkv,
                                  clippo_tensor *bqkv, clippo_error *err) {
  static const char op[] = "mha_fuse_qkv";
  if (!w || !w->wq || !w->wk || !w->wv || !w->bq || !w->bk || !w->bv)
    return clippo_fail(err, CLIPPO_E_ARG, "%s: wq, wk, wv, bq, bk, bv are all needed", op);
  clippo_status st = ops_check_f32(w->wq, op, "wq", err);
  if (st) return st;
  size_t width = square_width(w->wq);
  if (width == 0)
    return clippo_fail(err, CLIPPO_E_SHAPE, "%s: wq has %zu elements, not W * W", op,
                       clippo_tensor_count(w->wq));
  const clippo_tensor *ws[3] = {w->wq, w->wk, w->wv}, *bs[3] = {w->bq, w->bk, w->bv};
  static const char *wn[3] = {"wq", "wk", "wv"}, *bn[3] = {"bq", "bk", "bv"};
  for (int i = 0; i < 3; i++) {
    if ((st = ops_check_count(ws[i], width * width, op, wn[i], err))) return st;
    if ((st = ops_check_count(bs[i], width, op, bn[i], err))) return st;
  }
  int64_t wshape[2] = {(int64_t)width, (int64_t)(3 * width)}, bshape[1] = {(int64_t)(3 * width)};
  if ((st = clippo_tensor_alloc(rt, wqkv, CLIPPO_F32, 2, wshape, err))) return st;
  if ((st = clippo_tensor_alloc(rt, bqkv, CLIPPO_F32, 1, bshape, err))) {
    clippo_tensor_release(rt, wqkv);
    return st;
  }
  for (int i = 0; i < 3; i++) {
    st = clippo_op_copy2d(rt, ws[i], width, 0, wqkv, 3 * width, (size_t)i * width, width, width,
                          err);
    if (!st)
      st = clippo_op_copy2d(rt, bs[i], width, 0, bqkv, 3 * width, (size_t)i * width, 1, width, err);
    if (st) {
      clippo_tensor_release(rt, wqkv);
      clippo_tensor_release(rt, bqkv);
      return st;
    }
  }
  return CLIPPO_OK;
}

/* Offsets (floats) of the workspace regions. */
typedef struct mha_layout {
  size_t proj, q, k, v, logits, total;
} mha_layout;

static mha_layout mha_layout_of(size_t n, size_t tq, size_t tk, size_t width, size_t heads) {
  mha_layout l;
  l.proj = 0;
  l.q = l.proj + n * tq * width + 2 * n * tk * width;
  l.k = l.q + n * tq * width;
  l.v = l.k + n * tk * width;
  l.logits = l.v + n * tk * width;
  l.total = l.logits + n * heads * tq * tk;
  return l;
}

size_t clippo_mha_workspace_floats(size_t n, size_t tq, size_t tk, size_t width, int heads) {
  return mha_layout_of(n, tq, tk, width, heads > 0 ? (size_t)heads : 0).total;
}

clippo_status clippo_mha_workspace_alloc(clippo_rt *rt, clippo_tensor *ws, size_t n, size_t tq,
                                         size_t tk, size_t width, int heads, clippo_error *err) {
  if (heads <= 0 || width == 0 || width % (size_t)heads != 0)
    return clippo_fail(err, CLIPPO_E_ARG, "mha workspace: width %zu not divisible by %d heads",
                       width, heads);
  int64_t shape[1] = {(int64_t)clippo_mha_workspace_floats(n, tq, tk, width, heads)};
  return clippo_tensor_alloc(rt, ws, CLIPPO_F32, 1, shape, err);
}

/* A 2-D view (rows, cols) of ws at element offset off. */
static clippo_tensor view2(const clippo_tensor *ws, size_t off, size_t rows, size_t cols) {
  int64_t shape[2] = {(int64_t)rows, (int64_t)cols};
  return clippo_tensor_view(ws, off, 2, shape);
}

/* A 1-D view of everything in t from element off on (a GEMM operand that starts mid-row). */
static clippo_tensor tail_view(const clippo_tensor *t, size_t off) {
  int64_t shape[1] = {(int64_t)(clippo_tensor_count(t) - off)};
  return clippo_tensor_view(t, off, 1, shape);
}

clippo_status clippo_mha(clippo_rt *rt, const clippo_mha_weights *w, int heads, size_t n,
                         const clippo_tensor *xq, const clippo_tensor *xkv, clippo_tensor *ws,
                         int accumulate, clippo_tensor *out, clippo_error *err) {
  static const char op[] = "mha";
  size_t rq = 0, rk = 0, width = 0;
  clippo_status st = ops_check_rows(xq, 0, &rq, &width, op, "xq", err);
  if (st) return st;
  if ((st = ops_check_rows(xkv, width, &rk, NULL, op, "xkv", err))) return st;
  if (!w) return clippo_fail(err, CLIPPO_E_ARG, "%s: weights missing", op);
  if (heads <= 0 || width % (size_t)heads != 0)
    return clippo_fail(err, CLIPPO_E_SHAPE, "%s: width %zu not divisible by %d heads", op, width,
                       heads);
  if (n == 0 || rq % n != 0 || rk % n != 0 || rq == 0 || rk == 0)
    return clippo_fail(err, CLIPPO_E_SHAPE,
                       "%s: %zu query rows and %zu key rows are not positive multiples of n = %zu",
                       op, rq, rk, n);
  size_t tq = rq / n, tk = rk / n, hd = width / (size_t)heads, w3 = 3 * width;
  int fused = w->wqkv != NULL && w->bqkv != NULL;
  if (fused) {
    if ((st = ops_check_count(w->wqkv, width * w3, op, "wqkv", err))) return st;
    if ((st = ops_check_count(w->bqkv, w3, op, "bqkv", err))) return st;
  } else {
    const clippo_tensor *ts[6] = {w->wq, w->wk, w->wv, w->bq, w->bk, w->bv};
    static const char *names[6] = {"wq", "wk", "wv", "bq", "bk", "bv"};
    for (int i = 0; i < 6; i++)
      if ((st = ops_check_count(ts[i], i < 3 ? width * width : width, op, names[i], err)))
        return st;
  }
  if ((st = ops_check_count(w->wo, width * width, op, "wo", err))) return st;
  if ((st = ops_check_count(w->bo, width, op, "bo", err))) return st;
  if ((st = ops_check_count(out, rq * width, op, "out", err))) return st;
  if ((st = ops_check_f32(ws, op, "workspace", err))) return st;
  mha_layout L = mha_layout_of(n, tq, tk, width, (size_t)heads);
  if (clippo_tensor_count(ws) < L.total)
    return clippo_fail(err, CLIPPO_E_SHAPE,
                       "%s: workspace has %zu floats, %zu needed (n %zu, tq %zu, tk %zu, W %zu, "
                       "%d heads)",
                       op, clippo_tensor_count(ws), L.total, n, tq, tk, width, heads);
  if (!ops_disjoint(out, xq) || !ops_disjoint(out, xkv) || !ops_disjoint(ws, xq) ||
      !ops_disjoint(ws, xkv) || !ops_disjoint(ws, out))
    return clippo_fail(err, CLIPPO_E_ARG, "%s: out or workspace overlaps an input", op);

  int self = xq->mem == xkv->mem && xq->offset == xkv->offset && rq == rk;
  float q_scale = (float)(1.0 / sqrt((double)hd));
  clippo_tensor bview[3];
  const clippo_tensor *bias[3];
  if (fused) {
    int64_t bshape[1] = {(int64_t)width};
    for (int i = 0; i < 3; i++) {
      bview[i] = clippo_tensor_view(w->bqkv, (size_t)i * width, 1, bshape);
      bias[i] = &bview[i];
    }
  } else {
    bias[0] = w->bq;
    bias[1] = w->bk;
    bias[2] = w->bv;
  }
  const clippo_tensor *wsep[3] = {w->wq, w->wk, w->wv};
  clippo_tensor wtail[3];
  if (fused)
    for (int i = 0; i < 3; i++) wtail[i] = tail_view(w->wqkv, (size_t)i * width);
  const clippo_tensor *wmat[3];
  size_t ldw = fused ? w3 : width;
  for (int i = 0; i < 3; i++) wmat[i] = fused ? &wtail[i] : wsep[i];

  clippo_tensor qh = view2(ws, L.q, n * (size_t)heads * tq, hd);
  clippo_tensor kh = view2(ws, L.k, n * (size_t)heads * tk, hd);
  clippo_tensor vh = view2(ws, L.v, n * (size_t)heads * tk, hd);
  /* Projections: src[i] (rows, ld) holds projection i in columns [col[i], col[i] + W). */
  clippo_tensor src[3];
  size_t ld[3], col[3];
  if (self) {
    clippo_tensor p = view2(ws, L.proj, rq, w3);
    if (fused) {
      st = clippo_gemm(rt, 0, 0, rq, w3, width, 1.0f, xq, width, w->wqkv, w3, 0.0f, &p, w3, err);
    } else {
      for (int i = 0; i < 3 && !st; i++) {
        clippo_tensor c = tail_view(ws, L.proj + (size_t)i * width);
        st = clippo_gemm(rt, 0, 0, rq, width, width, 1.0f, xq, width, wmat[i], ldw, 0.0f, &c, w3,
                         err);
      }
    }
    for (int i = 0; i < 3; i++) {
      src[i] = p;
      ld[i] = w3;
      col[i] = (size_t)i * width;
    }
  } else {
    size_t kvoff = L.proj + rq * width;
    clippo_tensor pq = view2(ws, L.proj, rq, width), pkv = view2(ws, kvoff, rk, 2 * width);
    st = clippo_gemm(rt, 0, 0, rq, width, width, 1.0f, xq, width, wmat[0], ldw, 0.0f, &pq, width,
                     err);
    if (!st && fused) {
      st = clippo_gemm(rt, 0, 0, rk, 2 * width, width, 1.0f, xkv, width, wmat[1], ldw, 0.0f, &pkv,
                       2 * width, err);
    } else if (!st) {
      for (int i = 1; i < 3 && !st; i++) {
        clippo_tensor c = tail_view(ws, kvoff + (size_t)(i - 1) * width);
        st = clippo_gemm(rt, 0, 0, rk, width, width, 1.0f, xkv, width, wmat[i], ldw, 0.0f, &c,
                         2 * width, err);
      }
    }
    src[0] = pq;
    ld[0] = width;
    col[0] = 0;
    src[1] = src[2] = pkv;
    ld[1] = ld[2] = 2 * width;
    col[1] = 0;
    col[2] = width;
  }
  if (st) return clippo_error_prefix(err, "%s: projections: ", op);
  clippo_tensor ctx; /* softmax(q k^T) v with the heads merged: (rq, W) */
  int flash = clippo_mha_uses_flash(rt, n, tq, tk, width, heads);
  if (flash || clippo_mha_uses_rows(rt, n, tq, tk, width, heads)) {
    /* one fused kernel, straight from the projections into the dead per-head q block */
    clippo_attention_src as[3];
    for (int i = 0; i < 3; i++) {
      as[i].t = &src[i];
      as[i].ld = ld[i];
      as[i].col = col[i];
      as[i].bias = bias[i];
    }
    ctx = view2(ws, L.q, rq, width);
    st = flash ? clippo_op_attention_flash(rt, &as[0], &as[1], &as[2], q_scale, n, tq, tk, heads,
                                           hd, &ctx, err)
               : clippo_op_attention_rows(rt, &as[0], &as[1], &as[2], q_scale, n, tq, tk, heads, hd,
                                          &ctx, NULL, err);
    if (st) return clippo_error_prefix(err, "%s: ", op);
  } else {
    clippo_tensor *dst[3] = {&qh, &kh, &vh};
    size_t tok[3] = {tq, tk, tk};
    for (int i = 0; i < 3; i++) {
      st = clippo_op_heads_split(rt, &src[i], ld[i], col[i], bias[i], i == 0 ? q_scale : 1.0f,
                                 tok[i], heads, dst[i], err);
      if (st) return clippo_error_prefix(err, "%s: ", op);
    }
    /* logits[b, h] = q_bh k_bh^T: (tq, hd) x (hd, tk) per (image, head). */
    size_t batch = n * (size_t)heads;
    clippo_tensor logits = view2(ws, L.logits, batch * tq, tk);
    st = ops_attention_probs(rt, tq, tk, hd, &qh, &kh, &logits, batch, err);
    if (st) return clippo_error_prefix(err, "%s: softmax(q k^T): ", op);
    /* ctx[b, h] = p_bh v_bh: (tq, tk) x (tk, hd), into the (dead) per-head q block. */
    st = clippo_gemm_batched(rt, 0, 0, tq, hd, tk, 1.0f, &logits, tk, tq * tk, &vh, hd, tk * hd,
                             0.0f, &qh, hd, tq * hd, batch, err);
    if (st) return clippo_error_prefix(err, "%s: p v: ", op);
    ctx = view2(ws, L.proj, rq, width);
    if (clippo_op_heads_merge(rt, &qh, tq, heads, &ctx, err))
      return clippo_error_prefix(err, "%s: ", op);
  }
  st = clippo_op_linear(rt, &ctx, rq, width, w->wo, width, w->bo, 0, accumulate ? 1.0f : 0.0f, out,
                        err);
  if (st) return clippo_error_prefix(err, "%s: out projection: ", op);
  return CLIPPO_OK;
}
