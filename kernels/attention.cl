/* Layout transforms around the batched attention GEMMs, and the fused attention that needs
 * neither. W = heads * hd.
 *  - heads_split: from projection rows src (n * t, ld), columns [col0, col0 + W) with column
 *    h * hd + d for head h (big_vision's (W, H, hd) kernels flattened), to per-(image, head)
 *    blocks dst (n * heads, t, hd), fusing the projection bias and a scale:
 *    dst[(b * heads + h) * t + k, d] = (src[(b * t + k) * ld + col0 + h * hd + d] + bias[h * hd
 *    + d]) * scale (has_bias 0: no bias). The scale is 1/sqrt(hd) for q (big_vision divides q, not
 *    the logits), 1 for k and v.
 *  - heads_merge: the inverse layout without bias: (n * heads, t, hd) -> (n * t, W), column
 *    h * hd + d.
 * Work-item g handles the hd contiguous floats of one (token row, head) pair: g = row * heads +
 * h.
 *  - flash_attention: the whole softmax(q k^T) v of every (image, head) in one kernel, read from
 *    the projection rows and written merged (see below).
 *  - attention_rows_fwd / _bwd: the same for CPU devices, one work-item per image, and its
 *    backward (see below). */
#include "common.h"

__kernel void heads_split(__global const float *src, uint so, uint ld, uint col0,
                          __global const float *bias, uint bo, uint has_bias, float scale,
                          __global float *dst, uint dso, uint rows, uint t, uint heads, uint hd) {
  uint g = get_global_id(0);
  if (g >= rows * heads) return;
  uint row = g / heads, h = g - row * heads;
  uint b = row / t, k = row - b * t;
  __global const float *ps = src + so + row * ld + col0 + h * hd;
  __global const float *pb = bias + bo + h * hd;
  __global float *pd = dst + dso + ((b * heads + h) * t + k) * hd;
  uint d = 0;
  if (has_bias) {
    for (; d + VEC <= hd; d += VEC) STOREV((LOADV(ps + d) + LOADV(pb + d)) * scale, pd + d);
    for (; d < hd; d++) pd[d] = (ps[d] + pb[d]) * scale;
  } else {
    for (; d + VEC <= hd; d += VEC) STOREV(LOADV(ps + d) * scale, pd + d);
    for (; d < hd; d++) pd[d] = ps[d] * scale;
  }
}

__kernel void heads_merge(__global const float *src, uint so, __global float *dst, uint dso,
                          uint rows, uint t, uint heads, uint hd) {
  uint g = get_global_id(0);
  if (g >= rows * heads) return;
  uint row = g / heads, h = g - row * heads;
  uint b = row / t, k = row - b * t;
  __global const float *ps = src + so + ((b * heads + h) * t + k) * hd;
  __global float *pd = dst + dso + row * (heads * hd) + h * hd;
  uint d = 0;
  for (; d + VEC <= hd; d += VEC) STOREV(LOADV(ps + d), pd + d);
  for (; d < hd; d++) pd[d] = ps[d];
}

/* Fused attention in the flash style (online softmax): work-group g takes a block of as many
 * query rows as it has work-items of one (image b, head h) pair, one row per work-item, and walks
 * the keys in tiles of that many rows, each tile's keys and values (bias added) staged in local
 * memory by the group; a row keeps its running maximum m, its sum l of exp(s - m) and its
 * accumulator acc = sum exp(s - m) v, rescaled by exp(m_old - m_new) whenever a tile raises the
 * maximum. Neither the (tq, tk) probabilities nor per-head copies of q, k, v are ever stored.
 *   q row i: (q[(b * tq + i) * ldq + h * hd + d] + bq[h * hd + d]) * scale (big_vision divides
 *   q), key / value row j: k[(b * tk + j) * ldk + h * hd + d] + bk[h * hd + d] (likewise v);
 *   out[(b * tq + i) * heads * hd + h * hd + d] = sum_j softmax_j(q . k_j) v_j[d].
 * Built with -DFLASH_HD=hd (the head size, private arrays) and -DFLASH_TILE (the most work-items
 * a group may have: the score array and the local tiles, FLASH_TILE * FLASH_HD floats each, are
 * sized by it). Groups are numbered (b * heads + h) * ceil(tq / local size) + query block. */
#ifdef FLASH_HD
__kernel void flash_attention(__global const float *q, uint qo, uint ldq, __global const float *k,
                              uint ko, uint ldk, __global const float *v, uint vo, uint ldv,
                              __global const float *bq, uint bqo, __global const float *bk,
                              uint bko, __global const float *bv, uint bvo, uint has_bias,
                              float scale, __global float *out, uint oo, uint tq, uint tk,
                              uint heads, __local float *ks, __local float *vs) {
  const uint lid = get_local_id(0), ls = get_local_size(0);
  const uint qblocks = (tq + ls - 1) / ls, g = get_group_id(0);
  const uint bh = g / qblocks, qb = g - bh * qblocks;
  const uint b = bh / heads, hc = (bh - b * heads) * FLASH_HD; /* the head's first column */
  const uint i = qb * ls + lid;
  const int active = i < tq;
  float qr[FLASH_HD], acc[FLASH_HD];
  for (uint d = 0; d < FLASH_HD; d++) {
    float x = 0.0f;
    if (active) {
      x = q[qo + (b * tq + i) * ldq + hc + d];
      if (has_bias) x += bq[bqo + hc + d];
    }
    qr[d] = x * scale;
    acc[d] = 0.0f;
  }
  float m = -INFINITY, l = 0.0f;
  for (uint j0 = 0; j0 < tk; j0 += ls) {
    const uint nk = min(ls, tk - j0);
    barrier(CLK_LOCAL_MEM_FENCE); /* the previous tile is no longer read */
    if (lid < nk) {
      const uint row = b * tk + j0 + lid;
      for (uint d = 0; d < FLASH_HD; d++) {
        float kx = k[ko + row * ldk + hc + d], vx = v[vo + row * ldv + hc + d];
        if (has_bias) {
          kx += bk[bko + hc + d];
          vx += bv[bvo + hc + d];
        }
        ks[lid * FLASH_HD + d] = kx;
        vs[lid * FLASH_HD + d] = vx;
      }
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    /* loops of constant trip counts with the tile's end as a condition: a compiler can unroll
     * them and keep s in registers (GPUs) */
    float s[FLASH_TILE];
    float mt = m;
    for (uint j = 0; j < FLASH_TILE; j++) {
      if (j < nk) {
        float dot = 0.0f;
        for (uint d = 0; d < FLASH_HD; d++) dot = fma(qr[d], ks[j * FLASH_HD + d], dot);
        s[j] = dot;
        mt = fmax(mt, dot);
      }
    }
    const float corr = exp(m - mt);
    l *= corr;
    for (uint d = 0; d < FLASH_HD; d++) acc[d] *= corr;
    for (uint j = 0; j < FLASH_TILE; j++) {
      if (j < nk) {
        const float p = exp(s[j] - mt);
        l += p;
        for (uint d = 0; d < FLASH_HD; d++) acc[d] = fma(p, vs[j * FLASH_HD + d], acc[d]);
      }
    }
    m = mt;
  }
  if (active) {
    __global float *o = out + oo + (b * tq + i) * (heads * FLASH_HD) + hc;
    const float inv = 1.0f / l;
    for (uint d = 0; d < FLASH_HD; d++) o[d] = acc[d] * inv;
  }
}
#endif

/* Fused attention for CPU devices, forward and backward: one work-item (local size 1) per image
 * b, explicit floatv arithmetic. q, k, v are the projections as rows (n * t, ld) without bias or
 * scale; head h has columns [h * hd, (h + 1) * hd), w = heads * hd. The image's keys and values
 * are staged in __local buffers (one work-group per work-item) reading whole rows in order, the
 * query rows are taken ATT_R (8, 4 or 1) at a time with all their heads, so every global tensor
 * streams through once. In the program built with -DATT_ROWS=1; hd must be a multiple of VEC.
 * Built with -DATT_PER_HEAD=1 instead, work-item g takes one head h = g % heads of image
 * b = g / heads: it stages only that head's columns (cw = hd of them, where cw = w above), so
 * the local buffers are heads times smaller (ViT-B/16's 197 tokens: what all heads need is more
 * than a CPU core's L2 cache, and than PoCL's 1 MiB of local memory) and a single image still
 * gives every core work. Below, local buffers hold cw columns: cw = w, or hd per head.
 * The sizes are arguments, not build options: loops of constant trip counts were unrolled into
 * code that took Mesa's llvmpipe minutes to compile. tkv is tk rounded up to VEC, the
 * transposed tensors (w, tkv) are zero past tk.
 *  - attention_rows_fwd: out[(b * tq + i) * ldo + h * hd + d] = sum_j softmax_j(s_ij) v'_j[d],
 *    s_ij = sum_d (q_i[d] + bq[d]) scale (k_j[d] + bk[d]), v' = v + bv; with keep_p also
 *    p[((b * heads + h) * tq + i) * tk + j] = softmax_j(s_ij) (clippo_mha_saved's p).
 *    Local: kt (cw * tkv), vl (tk * cw), s (ATT_R * tkv), qr (ATT_R * cw).
 *  - attention_rows_bwd: given p and dc (the context's gradient as rows, ldc), with Q = (q + bq)
 *    scale, K = k + bk, V = v + bv, dS = p * (dP - rowsum(dP * p)), dP = dc V^T:
 *    dq = scale dS K, dk = dS^T Q, dv = p^T dc, written as rows like q, k, v (ldd); with
 *    keep_sums also each image's column sums of dq, dk and dv (the bias gradients' terms):
 *    sums[(m * n + b) * w + c] for m = 0, 1, 2 (three (n, w) blocks).
 *    Local: vt (cw * tkv), kl, dka, dva (tk * cw each), ds, pb (ATT_R * tkv each), qs,
 *    dcr (ATT_R * cw each). */
#ifdef ATT_ROWS
/* ATT_R (-DATT_R=8, 4 or 1) query rows at a time; ATT_EACH_ROW(X) expands X(r) for each of them,
 * so that every row has its own accumulator variables, which stay in registers. */
#if ATT_R == 8
#define ATT_EACH_ROW(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7)
#elif ATT_R == 4
#define ATT_EACH_ROW(X) X(0) X(1) X(2) X(3)
#elif ATT_R == 1
#define ATT_EACH_ROW(X) X(0)
#else
#error "ATT_R must be 1, 4 or 8"
#endif
/* A floatv in __local memory at a multiple of VEC floats (local buffers are aligned for any
 * type): one aligned access, where vloadN / vstoreN may be split into pieces. */
#define LV(p) (*(__local floatv *)(p))

#define ATT_ZERO(r) floatv a##r = (floatv)(0.0f);

/* xt[c * tkv + j] = x[(row0 + j) * ld + c] (+ bias[c]) for c < w, zero for tk <= j < tkv. */
#if VEC == 16
/* In tiles of VEC x VEC: VEC rows loaded as vectors t0.., transposed in registers, stored as
 * VEC columns (one scalar load and store per element cost about five times as much).
 * ATT_TRANSPOSE: the tile's recursive block swaps. At granularity g the upper g lanes of each
 * block of 2g in row i (i & g == 0) trade places with the lower g lanes of the block in row
 * i + g; after the swaps at g = 8, 4, 2, 1, row c holds column c. Other vector widths take
 * the scalar loop (VEC 16 is the CPU devices', where the fused attention runs by default). */
#define ATT_SWAP(a, b, ma, mb)                                                                     \
  {                                                                                                \
    const floatv lo_ = shuffle2(a, b, ma);                                                         \
    b = shuffle2(a, b, mb);                                                                        \
    a = lo_;                                                                                       \
  }
#define ATT_EACH_LANE(X)                                                                           \
  X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11) X(12) X(13) X(14) X(15)
#define ATT_M8A (uint16)(0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23)
#define ATT_M8B (uint16)(8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31)
#define ATT_M4A (uint16)(0, 1, 2, 3, 16, 17, 18, 19, 8, 9, 10, 11, 24, 25, 26, 27)
#define ATT_M4B (uint16)(4, 5, 6, 7, 20, 21, 22, 23, 12, 13, 14, 15, 28, 29, 30, 31)
#define ATT_M2A (uint16)(0, 1, 16, 17, 4, 5, 20, 21, 8, 9, 24, 25, 12, 13, 28, 29)
#define ATT_M2B (uint16)(2, 3, 18, 19, 6, 7, 22, 23, 10, 11, 26, 27, 14, 15, 30, 31)
#define ATT_M1A (uint16)(0, 16, 2, 18, 4, 20, 6, 22, 8, 24, 10, 26, 12, 28, 14, 30)
#define ATT_M1B (uint16)(1, 17, 3, 19, 5, 21, 7, 23, 9, 25, 11, 27, 13, 29, 15, 31)
#define ATT_TRANSPOSE()                                                                            \
  ATT_SWAP(t0, t8, ATT_M8A, ATT_M8B) ATT_SWAP(t1, t9, ATT_M8A, ATT_M8B)                           \
  ATT_SWAP(t2, t10, ATT_M8A, ATT_M8B) ATT_SWAP(t3, t11, ATT_M8A, ATT_M8B)                         \
  ATT_SWAP(t4, t12, ATT_M8A, ATT_M8B) ATT_SWAP(t5, t13, ATT_M8A, ATT_M8B)                         \
  ATT_SWAP(t6, t14, ATT_M8A, ATT_M8B) ATT_SWAP(t7, t15, ATT_M8A, ATT_M8B)                         \
  ATT_SWAP(t0, t4, ATT_M4A, ATT_M4B) ATT_SWAP(t1, t5, ATT_M4A, ATT_M4B)                           \
  ATT_SWAP(t2, t6, ATT_M4A, ATT_M4B) ATT_SWAP(t3, t7, ATT_M4A, ATT_M4B)                           \
  ATT_SWAP(t8, t12, ATT_M4A, ATT_M4B) ATT_SWAP(t9, t13, ATT_M4A, ATT_M4B)                         \
  ATT_SWAP(t10, t14, ATT_M4A, ATT_M4B) ATT_SWAP(t11, t15, ATT_M4A, ATT_M4B)                       \
  ATT_SWAP(t0, t2, ATT_M2A, ATT_M2B) ATT_SWAP(t1, t3, ATT_M2A, ATT_M2B)                           \
  ATT_SWAP(t4, t6, ATT_M2A, ATT_M2B) ATT_SWAP(t5, t7, ATT_M2A, ATT_M2B)                           \
  ATT_SWAP(t8, t10, ATT_M2A, ATT_M2B) ATT_SWAP(t9, t11, ATT_M2A, ATT_M2B)                         \
  ATT_SWAP(t12, t14, ATT_M2A, ATT_M2B) ATT_SWAP(t13, t15, ATT_M2A, ATT_M2B)                       \
  ATT_SWAP(t0, t1, ATT_M1A, ATT_M1B) ATT_SWAP(t2, t3, ATT_M1A, ATT_M1B)                           \
  ATT_SWAP(t4, t5, ATT_M1A, ATT_M1B) ATT_SWAP(t6, t7, ATT_M1A, ATT_M1B)                           \
  ATT_SWAP(t8, t9, ATT_M1A, ATT_M1B) ATT_SWAP(t10, t11, ATT_M1A, ATT_M1B)                         \
  ATT_SWAP(t12, t13, ATT_M1A, ATT_M1B) ATT_SWAP(t14, t15, ATT_M1A, ATT_M1B)
static inline void att_stage_t(__global const float *x, uint ld, __global const float *bias,
                               uint has_bias, uint row0, uint tk, uint tkv, uint w,
                               __local float *xt) {
  const floatv zero = (floatv)(0.0f);
  for (uint c0 = 0; c0 < w; c0 += VEC) { /* w is a multiple of VEC (the head size is) */
    const floatv bc = has_bias ? LOADV(bias + c0) : zero;
    __global const float *xc = x + row0 * ld + c0;
    for (uint j0 = 0; j0 < tkv; j0 += VEC) { /* rows past tk are zero */
#define ATT_T_LOAD(i) floatv t##i = j0 + i < tk ? LOADV(xc + (j0 + i) * ld) + bc : zero;
      ATT_EACH_LANE(ATT_T_LOAD)
#undef ATT_T_LOAD
      ATT_TRANSPOSE()
#define ATT_T_STORE(i) LV(xt + (c0 + i) * tkv + j0) = t##i;
      ATT_EACH_LANE(ATT_T_STORE)
#undef ATT_T_STORE
    }
  }
}
#else
static inline void att_stage_t(__global const float *x, uint ld, __global const float *bias,
                               uint has_bias, uint row0, uint tk, uint tkv, uint w,
                               __local float *xt) {
  for (uint c = 0; c < w; c++) { /* contiguous stores, strided loads (gathers) */
    const float bc = has_bias ? bias[c] : 0.0f;
    __global const float *xc = x + row0 * ld + c;
    for (uint j = 0; j < tk; j++) xt[c * tkv + j] = xc[j * ld] + bc;
    for (uint j = tk; j < tkv; j++) xt[c * tkv + j] = 0.0f;
  }
}
#endif

/* xl[j * w + c] = x[(row0 + j) * ld + c] (+ bias[c]) for j < tk. */
static inline void att_stage(__global const float *x, uint ld, __global const float *bias,
                             uint has_bias, uint row0, uint tk, uint w, __local float *xl) {
  for (uint j = 0; j < tk; j++) {
    __global const float *xr = x + (row0 + j) * ld;
    for (uint c = 0; c < w; c += VEC) {
      floatv y = LOADV(xr + c);
      if (has_bias) y += LOADV(bias + c);
      LV(xl + j * w + c) = y;
    }
  }
}

/* a[r * w + c] = (x[(row0 + r) * ld + c] (+ bias[c])) * scale for the rows r < nr, zero
 * after. (Local, not private, arrays: indexed at run time, private arrays become long chains of
 * selects in some compilers; Mesa's took minutes per build.) */
static inline void att_rows(__global const float *x, uint ld, __global const float *bias,
                            uint has_bias, float scale, uint row0, uint nr, uint w,
                            __local float *a) {
  for (uint r = 0; r < ATT_R; r++)
    for (uint c = 0; c < w; c += VEC) {
      floatv y = (floatv)(0.0f);
      if (r < nr) {
        y = LOADV(x + (row0 + r) * ld + c);
        if (has_bias) y += LOADV(bias + c);
      }
      LV(a + r * w + c) = y * scale;
    }
}

/* s[r * tkv + j] = sum_{d < hd} a[r * w + col + d] xt[(col + d) * tkv + j] for the ATT_R
 * rows. */
static inline void att_rows_times_t(__local const float *a, uint col, uint hd, uint w,
                                    __local const float *xt, uint tkv, __local float *s) {
  for (uint jb = 0; jb < tkv; jb += VEC) {
    ATT_EACH_ROW(ATT_ZERO)
    for (uint d = col; d < col + hd; d++) {
      const floatv x = LV(xt + d * tkv + jb);
#define ATT_DOT(r) a##r = fma((floatv)(a[r * w + d]), x, a##r);
      ATT_EACH_ROW(ATT_DOT)
#undef ATT_DOT
    }
#define ATT_PUT(r) LV(s + r * tkv + jb) = a##r;
    ATT_EACH_ROW(ATT_PUT)
#undef ATT_PUT
  }
}

/* A store of v at p that bypasses the caches (keep_p 2: p is read back only by the backward, much
 * later); the host asks for it only where p and every row of it lie on 64-byte boundaries, as the
 * streaming store of a whole float16 needs. Plain stores where the compiler lacks the builtin. */
#if defined(__clang__) && VEC == 16
#define ATT_STREAM(v, p) __builtin_nontemporal_store((v), (__global floatv *)(p))
#else
#define ATT_STREAM(v, p) STOREV((v), (p))
#endif

/* A hint to bring the cache line holding *p closer (built with -DATT_HINTS=1: PoCL's compiler;
 * nothing elsewhere). The backward asks for the next block's rows of q, dc and p while it works
 * on the current one: alone at the train suite's shape (2-vCPU Zen 4) 16.8-17.9 -> 16.1-17.2 ms
 * for 4 calls. The forward's query rows gained nothing measurable so. */
#if defined(ATT_HINTS) && defined(__clang__)
#define ATT_PREFETCH(p) __builtin_prefetch(p)
#else
#define ATT_PREFETCH(p)
#endif
#define ATT_LINE_FLOATS 16 /* floats per 64-byte cache line: one hint each */

/* The image b and the heads [*h0, *h1) work-item g takes (see above); 0 past the last image. */
static inline uint att_item(uint n, uint heads, uint *b, uint *h0, uint *h1) {
  const uint g = get_global_id(0);
#ifdef ATT_PER_HEAD
  *b = g / heads;
  *h0 = g - *b * heads;
  *h1 = *h0 + 1;
#else
  *b = g;
  *h0 = 0;
  *h1 = heads;
#endif
  return *b < n;
}

/* Hints for the rows of the next work-item (g + 1: the next image, or with ATT_PER_HEAD the next
 * head of this image, then the next image's first): its t rows of x0, x1 and x2 (NULL: none),
 * cw columns from the next item's first, one hint per cache line (x0.. point at this item's
 * columns). Issued once this item's keys and values are staged, so that the next item's loads
 * meet the cache while this one computes (PoCL runs a thread's work-items in order; the hints
 * are empty elsewhere, see ATT_PREFETCH). With common.h's unaligned loads, CPU time by perf
 * samples over the train suite (2-vCPU Zen 4): attention_rows_fwd -13.5 %, _bwd -4.4 %; B/16
 * batch 1's attention_rows_fwd -3.5 %. */
static inline void att_prefetch_next(__global const float *x0, uint ld0, __global const float *x1,
                                     uint ld1, __global const float *x2, uint ld2, uint n, uint t,
                                     uint b, uint h0, uint heads, uint hd, uint cw) {
  uint nb = b + 1, nh = 0;
#ifdef ATT_PER_HEAD
  if (h0 + 1 < heads) nb = b, nh = h0 + 1;
#endif
  if (nb >= n) return;
  const int dc = (int)(nh * hd) - (int)(h0 * hd);
  for (uint j = nb * t; j < (nb + 1) * t; j++)
    for (uint c = 0; c < cw; c += ATT_LINE_FLOATS) {
      ATT_PREFETCH(x0 + (long)j * ld0 + dc + c);
      ATT_PREFETCH(x1 + (long)j * ld1 + dc + c);
      if (x2) ATT_PREFETCH(x2 + (long)j * ld2 + dc + c);
    }
}

__kernel void attention_rows_fwd(__global const float *q, uint qo, uint ldq,
                                 __global const float *k, uint ko, uint ldk,
                                 __global const float *v, uint vo, uint ldv,
                                 __global const float *bq, uint bqo, __global const float *bk,
                                 uint bko, __global const float *bv, uint bvo, uint has_bias,
                                 float scale, __global float *out, uint oo, uint ldo,
                                 __global float *p, uint po, uint keep_p, uint n, uint tq, uint tk,
                                 uint hd, uint w, __local float *kt, __local float *vl,
                                 __local float *s, __local float *qr) {
  const uint tkv = (tk + VEC - 1) / VEC * VEC, heads = w / hd;
  uint b, h0, h1;
  if (!att_item(n, heads, &b, &h0, &h1)) return;
  const uint c0 = h0 * hd, cw = (h1 - h0) * hd; /* the staged columns [c0, c0 + cw) */
  q += qo + c0, k += ko + c0, v += vo + c0, out += oo + c0, p += po;
  bq += bqo + c0, bk += bko + c0, bv += bvo + c0;
  att_stage_t(k, ldk, bk, has_bias, b * tk, tk, tkv, cw, kt);
  att_stage(v, ldv, bv, has_bias, b * tk, tk, cw, vl);
  if (tq == tk) att_prefetch_next(k, ldk, v, ldv, q, ldq, n, tk, b, h0, heads, hd, cw);
  for (uint i0 = 0; i0 < tq; i0 += ATT_R) {
    const uint nr = min((uint)ATT_R, tq - i0);
    /* the scores times log2(e), so that the softmax takes exp2 (PoCL: half the cost of exp) */
    att_rows(q, ldq, bq, has_bias, scale * M_LOG2E_F, b * tq + i0, nr, cw, qr);
    for (uint h = h0; h < h1; h++) {
      const uint col = (h - h0) * hd; /* the head's first staged column */
      att_rows_times_t(qr, col, hd, cw, kt, tkv, s);
      /* softmax of the ATT_R rows side by side (independent chains; rows past tq hold zeros),
       * the padding past tk masked */
#define ATT_ROW_PTR(r) __local float *s##r = s + r * tkv;
      ATT_EACH_ROW(ATT_ROW_PTR)
#undef ATT_ROW_PTR
      for (uint j = tk; j < tkv; j++) {
#define ATT_MASK(r) s##r[j] = -INFINITY;
        ATT_EACH_ROW(ATT_MASK)
#undef ATT_MASK
      }
#define ATT_MAX0(r) floatv m##r = LV(s##r);
      ATT_EACH_ROW(ATT_MAX0)
#undef ATT_MAX0
      for (uint jb = VEC; jb < tkv; jb += VEC) {
#define ATT_MAX(r) m##r = max(m##r, LV(s##r + jb));
        ATT_EACH_ROW(ATT_MAX)
#undef ATT_MAX
      }
#define ATT_HMAX(r)                                                                                \
  const float x##r = hmax(m##r);                                                                   \
  floatv z##r = (floatv)(0.0f);
      ATT_EACH_ROW(ATT_HMAX)
#undef ATT_HMAX
      for (uint jb = 0; jb < tkv; jb += VEC) {
#define ATT_EXP(r)                                                                                 \
  {                                                                                                \
    const floatv e = exp2(LV(s##r + jb) - x##r);                                                   \
    z##r += e;                                                                                     \
    LV(s##r + jb) = e;                                                                             \
  }
        ATT_EACH_ROW(ATT_EXP)
#undef ATT_EXP
      }
#define ATT_INV(r) const float v##r = 1.0f / hsum(z##r);
      ATT_EACH_ROW(ATT_INV)
#undef ATT_INV
      for (uint jb = 0; jb < tkv; jb += VEC) {
#define ATT_SCALE(r) LV(s##r + jb) *= v##r;
        ATT_EACH_ROW(ATT_SCALE)
#undef ATT_SCALE
      }
      for (uint r = 0; keep_p && r < nr; r++) {
        __local const float *sr = s + r * tkv;
        __global float *pr = p + ((b * heads + h) * tq + i0 + r) * tk;
        uint j = 0;
        if (keep_p == 2) /* whole aligned cache lines (see ATT_STREAM) */
          for (; j < tk; j += VEC) ATT_STREAM(LV(sr + j), pr + j);
        for (; j + VEC <= tk; j += VEC) STOREV(LV(sr + j), pr + j);
        for (; j < tk; j++) pr[j] = sr[j];
      }
      for (uint c = col; c < col + hd; c += VEC) { /* out = p v', VEC columns at a time */
        ATT_EACH_ROW(ATT_ZERO)
        for (uint j = 0; j < tk; j++) {
          const floatv x = LV(vl + j * cw + c);
#define ATT_PV(r) a##r = fma((floatv)(s##r[j]), x, a##r);
          ATT_EACH_ROW(ATT_PV)
#undef ATT_PV
        }
        __global float *o = out + (b * tq + i0) * ldo + c;
#define ATT_OUT(r) if (r < nr) STOREV(a##r, o + r * ldo);
        ATT_EACH_ROW(ATT_OUT)
#undef ATT_OUT
      }
    }
  }
}

__kernel void attention_rows_bwd(__global const float *q, uint qo, uint ldq,
                                 __global const float *k, uint ko, uint ldk,
                                 __global const float *v, uint vo, uint ldv,
                                 __global const float *bq, uint bqo, __global const float *bk,
                                 uint bko, __global const float *bv, uint bvo, uint has_bias,
                                 float scale, __global const float *p, uint po,
                                 __global const float *dc, uint dco, uint ldc, __global float *dq,
                                 uint dqo, __global float *dk, uint dko, __global float *dv,
                                 uint dvo, uint ldd, __global float *sums, uint so,
                                 uint keep_sums, uint n, uint tq, uint tk, uint hd, uint w,
                                 __local float *vt,
                                 __local float *kl, __local float *dka, __local float *dva,
                                 __local float *ds, __local float *pb, __local float *qs,
                                 __local float *dcr) {
  const uint tkv = (tk + VEC - 1) / VEC * VEC, heads = w / hd;
  uint b, h0, h1;
  if (!att_item(n, heads, &b, &h0, &h1)) return;
  const uint c0 = h0 * hd, cw = (h1 - h0) * hd; /* the staged columns [c0, c0 + cw) */
  q += qo + c0, k += ko + c0, v += vo + c0, p += po, dc += dco + c0;
  bq += bqo + c0, bk += bko + c0, bv += bvo + c0;
  dq += dqo + c0, dk += dko + c0, dv += dvo + c0, sums += so + c0;
  __global float *sq = sums + b * w, *sk = sums + (n + b) * w;
  __global float *sv = sums + (2 * n + b) * w;
  if (keep_sums)
    for (uint c = 0; c < cw; c++) sq[c] = 0.0f;
  att_stage_t(v, ldv, bv, has_bias, b * tk, tk, tkv, cw, vt);
  att_stage(k, ldk, bk, has_bias, b * tk, tk, cw, kl);
  att_prefetch_next(v, ldv, k, ldk, NULL, 0, n, tk, b, h0, heads, hd, cw);
  for (uint i = 0; i < tk * cw; i++) dka[i] = dva[i] = 0.0f;
  for (uint i0 = 0; i0 < tq; i0 += ATT_R) {
    const uint nr = min((uint)ATT_R, tq - i0);
    att_rows(q, ldq, bq, has_bias, scale, b * tq + i0, nr, cw, qs);
    att_rows(dc, ldc, bq, 0, 1.0f, b * tq + i0, nr, cw, dcr);
    if (i0 + ATT_R < tq) { /* the next block's rows of q, dc and p, ahead of their loads */
      const uint nx = min((uint)ATT_R, tq - i0 - ATT_R);
      for (uint r = 0; r < nx; r++) {
        const uint row = b * tq + i0 + ATT_R + r;
        for (uint c = 0; c < cw; c += ATT_LINE_FLOATS) {
          ATT_PREFETCH(q + row * ldq + c);
          ATT_PREFETCH(dc + row * ldc + c);
        }
        for (uint h = h0; h < h1; h++)
          for (uint j = 0; j < tk; j += ATT_LINE_FLOATS)
            ATT_PREFETCH(p + ((b * heads + h) * tq + i0 + ATT_R + r) * tk + j);
      }
    }
    for (uint h = h0; h < h1; h++) {
      const uint col = (h - h0) * hd; /* the head's first staged column */
      att_rows_times_t(dcr, col, hd, cw, vt, tkv, ds); /* dP */
      for (uint r = 0; r < ATT_R; r++) { /* dS = p (dP - rowsum(dP p)), zero past tk or tq */
        __local float *dr = ds + r * tkv, *pr = pb + r * tkv;
        __global const float *pg = p + ((b * heads + h) * tq + i0 + r) * tk;
        for (uint j = 0; j < tkv; j++) pr[j] = r < nr && j < tk ? pg[j] : 0.0f;
        floatv dot = (floatv)(0.0f);
        for (uint jb = 0; jb < tkv; jb += VEC) dot += LV(dr + jb) * LV(pr + jb);
        const float rs = hsum(dot);
        for (uint jb = 0; jb < tkv; jb += VEC) LV(dr + jb) = LV(pr + jb) * (LV(dr + jb) - rs);
      }
#define ATT_ROW_PTR(r) __local const float *ds##r = ds + r * tkv, *pb##r = pb + r * tkv;
      ATT_EACH_ROW(ATT_ROW_PTR) /* one base per row: no index arithmetic in the loop below */
#undef ATT_ROW_PTR
      for (uint c = col; c < col + hd; c += VEC) { /* dq rows, dk and dv sums */
        ATT_EACH_ROW(ATT_ZERO)
#define ATT_QE(r) const floatv q##r = LV(qs + r * cw + c), e##r = LV(dcr + r * cw + c);
        ATT_EACH_ROW(ATT_QE) /* the rows' q and dc vectors in registers for the loop */
#undef ATT_QE
        __local const float *xk = kl + c;
        __local float *ka = dka + c, *va = dva + c;
        for (uint j = 0; j < tk; j++, xk += cw, ka += cw, va += cw) {
          const floatv x = LV(xk);
          floatv gk = LV(ka), gv = LV(va);
#define ATT_GRAD(r)                                                                                \
  {                                                                                                \
    const floatv g = (floatv)(ds##r[j]);                                                           \
    a##r = fma(g, x, a##r);                                                                        \
    gk = fma(g, q##r, gk);                                                                         \
    gv = fma((floatv)(pb##r[j]), e##r, gv);                                                        \
  }
          ATT_EACH_ROW(ATT_GRAD)
#undef ATT_GRAD
          LV(ka) = gk;
          LV(va) = gv;
        }
        __global float *o = dq + (b * tq + i0) * ldd + c;
#define ATT_OUT(r) if (r < nr) STOREV(a##r * scale, o + r * ldd);
        ATT_EACH_ROW(ATT_OUT)
#undef ATT_OUT
        if (keep_sums) { /* rows past tq are zero (their dS is) */
#define ATT_SUM(r) +a##r
          STOREV(LOADV(sq + c) + ((floatv)(0.0f) ATT_EACH_ROW(ATT_SUM)) * scale, sq + c);
#undef ATT_SUM
        }
      }
    }
  }
  for (uint c = 0; c < cw; c += VEC) {
    floatv gk = (floatv)(0.0f), gv = gk;
    for (uint j = 0; j < tk; j++) {
      const floatv xk = LV(dka + j * cw + c), xv = LV(dva + j * cw + c);
      STOREV(xk, dk + (b * tk + j) * ldd + c);
      STOREV(xv, dv + (b * tk + j) * ldd + c);
      gk += xk;
      gv += xv;
    }
    if (keep_sums) {
      STOREV(gk, sk + c);
      STOREV(gv, sv + c);
    }
  }
}
#endif
