/* LayerNorm backward. Forward: y = xhat * scale + bias, xhat = (x - mean) * rstd,
 * rstd = rsqrt(var + eps) (biased variance). With g = dy * scale:
 *   dx = rstd * (g - mean(g) - xhat * mean(g * xhat))   (per row of w)
 *   dscale = colsum(dy * xhat), dbias = colsum(dy)       (over rows)
 *
 *  - layernorm_grad_dx_row / _group: dx per row (overwritten, or added when accumulate), and the
 *    row's (mean, rstd) into stats[2 * row ..] when has_stats (used by the column kernel). One row
 *    per work-item with VEC-wide loads (CPU devices) or per work-group with local-memory sums
 *    (GPUs; power-of-two local size, scratch of one float per work-item).
 *  - layernorm_grad_cols: the first stage of the scale / bias column sums, shaped like
 *    reduce.cl's colsum_chunks: work-item g takes VEC columns of one block of chunk_rows rows and
 *    writes the block's partial rows ps[blk, :], pb[blk, :]; with final != 0 (one block) it adds
 *    into the gradients directly: ps[c] += ..., pb[c] += .... */
#include "common.h"

__kernel void layernorm_grad_dx_row(__global const float *dy, uint dyo, __global const float *x,
                                    uint xo, __global const float *scale, uint so,
                                    __global float *dx, uint dxo, __global float *stats, uint sto,
                                    uint rows, uint w, float eps, uint accumulate, uint has_stats) {
  uint row = get_global_id(0);
  if (row >= rows) return;
  __global const float *pdy = dy + dyo + row * w;
  __global const float *px = x + xo + row * w;
  __global float *pdx = dx + dxo + row * w;
  scale += so;
  float mean = row_sum(px, w) / (float)w;
  float rstd = rsqrt(row_sqdev(px, w, mean) / (float)w + eps);
  floatv ag = (floatv)(0.0f), agx = (floatv)(0.0f);
  uint c = 0;
  for (; c + VEC <= w; c += VEC) {
    floatv g = LOADV(pdy + c) * LOADV(scale + c);
    ag += g;
    agx += g * ((LOADV(px + c) - mean) * rstd);
  }
  float sg = hsum(ag), sgx = hsum(agx);
  for (; c < w; c++) {
    float g = pdy[c] * scale[c];
    sg += g;
    sgx += g * ((px[c] - mean) * rstd);
  }
  float mg = sg / (float)w, mgx = sgx / (float)w;
  for (c = 0; c + VEC <= w; c += VEC) {
    floatv g = LOADV(pdy + c) * LOADV(scale + c);
    floatv xh = (LOADV(px + c) - mean) * rstd;
    floatv d = rstd * (g - mg - xh * mgx);
    if (accumulate) d += LOADV(pdx + c);
    STOREV(d, pdx + c);
  }
  for (; c < w; c++) {
    float g = pdy[c] * scale[c];
    float xh = (px[c] - mean) * rstd;
    float d = rstd * (g - mg - xh * mgx);
    pdx[c] = accumulate ? pdx[c] + d : d;
  }
  if (has_stats) {
    stats[sto + 2 * row] = mean;
    stats[sto + 2 * row + 1] = rstd;
  }
}

__kernel void layernorm_grad_dx_group(__global const float *dy, uint dyo, __global const float *x,
                                      uint xo, __global const float *scale, uint so,
                                      __global float *dx, uint dxo, __global float *stats, uint sto,
                                      uint rows, uint w, float eps, uint accumulate, uint has_stats,
                                      __local float *scratch) {
  uint row = get_group_id(0);
  if (row >= rows) return; /* uniform over the group */
  uint lid = get_local_id(0), ls = get_local_size(0);
  __global const float *pdy = dy + dyo + row * w;
  __global const float *px = x + xo + row * w;
  __global float *pdx = dx + dxo + row * w;
  scale += so;
  uint nfull = w / VEC;
  float mean = group_sum(part_sum(px, w, lid, ls), scratch) / (float)w;
  float rstd = rsqrt(group_sum(part_sqdev(px, w, mean, lid, ls), scratch) / (float)w + eps);
  floatv ag = (floatv)(0.0f), agx = (floatv)(0.0f);
  for (uint j = lid; j < nfull; j += ls) {
    uint c = j * VEC;
    floatv g = LOADV(pdy + c) * LOADV(scale + c);
    ag += g;
    agx += g * ((LOADV(px + c) - mean) * rstd);
  }
  float sg = hsum(ag), sgx = hsum(agx);
  for (uint c = nfull * VEC + lid; c < w; c += ls) {
    float g = pdy[c] * scale[c];
    sg += g;
    sgx += g * ((px[c] - mean) * rstd);
  }
  float mg = group_sum(sg, scratch) / (float)w;
  float mgx = group_sum(sgx, scratch) / (float)w;
  /* Writes: chunk j (VEC values, the last one possibly shorter) by work-item j % ls. A separate
   * work-item-strided loop over the tail misbehaved on PoCL 3.1 (CPU) when it read and wrote the
   * same element (in place / accumulate): the tail was updated once per work-item. */
  uint nch = (w + VEC - 1) / VEC;
  for (uint j = lid; j < nch; j += ls) {
    uint c = j * VEC;
    if (c + VEC <= w) {
      floatv g = LOADV(pdy + c) * LOADV(scale + c);
      floatv xh = (LOADV(px + c) - mean) * rstd;
      floatv d = rstd * (g - mg - xh * mgx);
      if (accumulate) d += LOADV(pdx + c);
      STOREV(d, pdx + c);
    } else {
      for (uint i = c; i < w; i++) {
        float g = pdy[i] * scale[i];
        float xh = (px[i] - mean) * rstd;
        float d = rstd * (g - mg - xh * mgx);
        pdx[i] = accumulate ? pdx[i] + d : d;
      }
    }
  }
  if (has_stats && lid == 0) {
    stats[sto + 2 * row] = mean;
    stats[sto + 2 * row + 1] = rstd;
  }
}

__kernel void layernorm_grad_cols(__global const float *dy, uint dyo, __global const float *x,
                                  uint xo, __global const float *stats, uint sto, uint rows, uint w,
                                  uint chunk_rows, uint blocks, __global float *ps, uint pso,
                                  __global float *pb, uint pbo, uint final) {
  uint g = get_global_id(0);
  uint cpr = (w + VEC - 1) / VEC;
  if (g >= blocks * cpr) return;
  uint blk = g / cpr;
  uint c = (g - blk * cpr) * VEC;
  uint r0 = blk * chunk_rows;
  uint r1 = min(rows, r0 + chunk_rows);
  __global const float *pdy = dy + dyo + c;
  __global const float *px = x + xo + c;
  __global const float *st = stats + sto;
  uint off = (final ? 0 : blk * w) + c;
  __global float *qs = ps + pso + off;
  __global float *qb = pb + pbo + off;
  if (c + VEC <= w) {
    floatv as = (floatv)(0.0f), ab = (floatv)(0.0f);
    for (uint r = r0; r < r1; r++) {
      float mean = st[2 * r], rstd = st[2 * r + 1];
      floatv d = LOADV(pdy + r * w);
      as += d * ((LOADV(px + r * w) - mean) * rstd);
      ab += d;
    }
    if (final) {
      as += LOADV(qs);
      ab += LOADV(qb);
    }
    STOREV(as, qs);
    STOREV(ab, qb);
  } else {
    for (uint i = 0; i < w - c; i++) {
      float as = 0.0f, ab = 0.0f;
      for (uint r = r0; r < r1; r++) {
        float d = pdy[r * w + i];
        as += d * ((px[r * w + i] - st[2 * r]) * st[2 * r + 1]);
        ab += d;
      }
      qs[i] = final ? qs[i] + as : as;
      qb[i] = final ? qb[i] + ab : ab;
    }
  }
}
