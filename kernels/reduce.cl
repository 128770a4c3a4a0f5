/* Column sums of a (rows, w) row-major array, the first stage of the two-stage reduction behind
 * bias gradients, LayerNorm scale gradients and the position-embedding gradient.
 *
 *  - colsum_chunks: work-item g takes VEC consecutive columns (column chunk g % cpr,
 *    cpr = ceil(w / VEC)) of one block of chunk_rows rows (block g / cpr) and sums them down the
 *    rows. With final == 0 it writes the block's partial row part[block, :]; with final != 0
 *    (a single block) it writes out[c] = beta * out[c] + sum directly (beta == 0: out not read).
 *    The second stage is the same kernel over the partial rows (few enough for one block).
 * No local memory or barriers (slow on CPU devices); on GPUs neighbouring work-items read
 * neighbouring VEC-wide pieces of a row. */
#include "common.h"

__kernel void colsum_chunks(__global const float *x, uint xo, uint rows, uint w, uint chunk_rows,
                            uint blocks, __global float *out, uint oo, uint final, float beta) {
  uint g = get_global_id(0);
  uint cpr = (w + VEC - 1) / VEC;
  if (g >= blocks * cpr) return;
  uint blk = g / cpr;
  uint c = (g - blk * cpr) * VEC;
  uint r0 = blk * chunk_rows;
  uint r1 = min(rows, r0 + chunk_rows);
  __global const float *px = x + xo + c;
  __global float *po = out + oo + (final ? 0 : blk * w) + c;
  if (c + VEC <= w) {
    floatv acc = (floatv)(0.0f);
    for (uint r = r0; r < r1; r++) acc += LOADV(px + r * w);
    if (final && beta != 0.0f) acc += beta * LOADV(po);
    STOREV(acc, po);
  } else {
    for (uint i = 0; i < w - c; i++) {
      float acc = 0.0f;
      for (uint r = r0; r < r1; r++) acc += px[r * w + i];
      if (final && beta != 0.0f) acc += beta * po[i];
      po[i] = acc;
    }
  }
}
