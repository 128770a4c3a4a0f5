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
 *    the projection rows and written merged (see below). */
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
