/* The optimizer chain of big_vision (optax.make): clip_by_global_norm -> transformation -> x lr
 * -> + wd * param -> x schedule -> x -1, applied to the parameters in the same kernel.
 *
 *  - sumsq_partial: out[first + g] = sum of x^2 over x[g * chunk .. min(n, (g + 1) * chunk)) (the
 * host adds the partial sums in double for the global norm).
 *  - sumsq_segments: the same over a table of segments of one buffer, out[g] the sum over
 *    x[seg[2g] .. + seg[2g + 1]) (many gradients in one buffer: one launch).
 *  - opt_sgd: u = g.
 *  - opt_adam: optax.scale_by_adam (mu, nu float32; bias corrections from the host).
 *  - opt_adafactor_full: optax.scale_by_factored_rms for an unfactored array (v = d v + (1 - d)
 *    (g^2 + eps); u = g v^-1/2), then the bfloat16 momentum.
 *  - af_reduce / af_mean / opt_adafactor_factored: the factored case. The array is seen as
 *    (A, P, B, Q, C) where P and Q are the two factored axes (P first); af_reduce updates a
 *    second-moment vector with the mean of g^2 + eps over one axis (outer, R, inner) layout;
 *    af_reduce_rows the same where inner = 1),
 *    af_mean takes the mean of v_row over the d1 axis, opt_adafactor_factored applies
 *    u = g (v_row / mean)^-1/2 v_col^-1/2 and the rest of the chain.
 *
 * Every update kernel gets the clip (gnorm, maxn, clip: g -> g / gnorm * maxn as optax does),
 * lr, wd (0 unless the parameter's name ends in /kernel) and the schedule value sched:
 * p = p - ((u * lr + wd * p) * sched). The momentum (momentum != 0) follows optax.ema(debias=False,
 * accumulator_dtype=bfloat16) as big_vision runs it compiled (jit/pmap, REFERENCE.md §6):
 * m_new = (1 - b) u + float32(bf16(b) * m_old): the weakly typed decay becomes bfloat16 but XLA
 * keeps the product in float32 (it is exact there: two 8-bit significands), so the product is
 * not rounded to bfloat16. The update uses m_new in float32; only the stored state is rounded,
 * bf16(m_new), to nearest even. */

#include "common.h"

static inline float bf16_to_f(ushort b) { return as_float(((uint)b) << 16); }

static inline ushort f_to_bf16(float f) {
  uint u = as_uint(f);
  if ((u & 0x7f800000u) == 0x7f800000u && (u & 0x007fffffu)) return (ushort)((u >> 16) | 0x40u);
  u += 0x7fffu + ((u >> 16) & 1u);
  return (ushort)(u >> 16);
}

static inline float clip_grad(float g, float gnorm, float maxn, uint clip) {
  return clip ? (g / gnorm) * maxn : g;
}

static inline float apply_momentum(float u, __global ushort *m, uint idx, uint has_mom, float mom_b,
                                   float mom_1mb) {
  if (!has_mom) return u;
  float prod = mom_b * bf16_to_f(m[idx]); /* exact in float32, not rounded to bfloat16 */
  float mn = mom_1mb * u + prod;
  m[idx] = f_to_bf16(mn);
  return mn;
}

static inline float new_param(float u, float p, float lr, float wd, float sched) {
  float upd = u * lr;
  if (wd != 0.0f) upd = upd + wd * p;
  upd = upd * sched;
  return p - upd;
}

__kernel void sumsq_partial(__global const float *x, uint xo, uint n, uint chunk,
                            __global float *out, uint oo, uint first) {
  uint g = get_global_id(0);
  uint start = g * chunk;
  if (start >= n) return;
  uint len = min(chunk, n - start);
  out[oo + first + g] = row_sqdev(x + xo + start, len, 0.0f);
}

__kernel void sumsq_segments(__global const float *x, uint xo, __global const int *seg, uint so,
                             uint nseg, __global float *out, uint oo) {
  uint g = get_global_id(0);
  if (g >= nseg) return;
  out[oo + g] = row_sqdev(x + xo + (uint)seg[so + 2 * g], (uint)seg[so + 2 * g + 1], 0.0f);
}

__kernel void opt_sgd(__global float *p, uint po, __global const float *gr, uint go, uint n,
                      float gnorm, float maxn, uint clip, float lr, float wd, float sched) {
  uint i = get_global_id(0);
  if (i >= n) return;
  float g = clip_grad(gr[go + i], gnorm, maxn, clip);
  p[po + i] = new_param(g, p[po + i], lr, wd, sched);
}

__kernel void opt_adam(__global float *p, uint po, __global const float *gr, uint go, uint n,
                       float gnorm, float maxn, uint clip, __global float *mu, uint muo,
                       __global float *nu, uint nuo, float b1, float omb1, float b2, float omb2,
                       float bc1, float bc2, float eps, float lr, float wd, float sched) {
  uint i = get_global_id(0);
  if (i >= n) return;
  float g = clip_grad(gr[go + i], gnorm, maxn, clip);
  float m = omb1 * g + b1 * mu[muo + i];
  float v = omb2 * (g * g) + b2 * nu[nuo + i];
  mu[muo + i] = m;
  nu[nuo + i] = v;
  float u = (m / bc1) / (sqrt(v / bc2) + eps);
  p[po + i] = new_param(u, p[po + i], lr, wd, sched);
}

__kernel void opt_adafactor_full(__global float *p, uint po, __global const float *gr, uint go,
                                 uint n, float gnorm, float maxn, uint clip, __global float *v,
                                 uint vo, float decay, float omd, float eps, __global ushort *m,
                                 uint mo, uint has_mom, float mom_b, float mom_1mb, float lr,
                                 float wd, float sched) {
  uint i = get_global_id(0);
  if (i >= n) return;
  float g = clip_grad(gr[go + i], gnorm, maxn, clip);
  float nv = decay * v[vo + i] + omd * (g * g + eps);
  v[vo + i] = nv;
  float u = g * rsqrt(nv);
  u = apply_momentum(u, m, mo + i, has_mom, mom_b, mom_1mb);
  p[po + i] = new_param(u, p[po + i], lr, wd, sched);
}

/* v[o] = decay v[o] + omd mean_r (g'^2 + eps) over g[(a * R + r) * inner + in], o = a * inner +
 * in, for o < outer * inner. */
__kernel void af_reduce(__global const float *gr, uint go, float gnorm, float maxn, uint clip,
                        float eps, uint outer, uint R, uint inner, __global float *v, uint vo,
                        float decay, float omd) {
  uint o = get_global_id(0);
  if (o >= outer * inner) return;
  uint a = o / inner, in = o - a * inner;
  __global const float *pg = gr + go + a * R * inner + in;
  float s = 0.0f;
  for (uint r = 0; r < R; r++) {
    float g = clip_grad(pg[r * inner], gnorm, maxn, clip);
    s += g * g + eps;
  }
  v[vo + o] = decay * v[vo + o] + omd * (s / (float)R);
}

/* af_reduce where inner = 1 (each output the mean over a contiguous row of R): one work-item per
 * row, VEC lanes at a time (one work-item per output of af_reduce read the rows across the
 * vector's lanes, R apart). */
__kernel void af_reduce_rows(__global const float *gr, uint go, float gnorm, float maxn, uint clip,
                             float eps, uint rows, uint R, __global float *v, uint vo, float decay,
                             float omd) {
  uint o = get_global_id(0);
  if (o >= rows) return;
  __global const float *pg = gr + go + o * R;
  floatv acc = (floatv)(0.0f);
  uint r = 0;
  for (; r + VEC <= R; r += VEC) {
    floatv g = LOADV(pg + r);
    if (clip) g = (g / gnorm) * maxn;
    acc += g * g + eps;
  }
  float s = hsum(acc);
  for (; r < R; r++) {
    float g = clip_grad(pg[r], gnorm, maxn, clip);
    s += g * g + eps;
  }
  v[vo + o] = decay * v[vo + o] + omd * (s / (float)R);
}

/* out[o] = mean_r x[(a * R + r) * inner + in], o = a * inner + in. */
__kernel void af_mean(__global const float *x, uint xo, uint outer, uint R, uint inner,
                      __global float *out, uint oo) {
  uint o = get_global_id(0);
  if (o >= outer * inner) return;
  uint a = o / inner, in = o - a * inner;
  __global const float *px = x + xo + a * R * inner + in;
  float s = 0.0f;
  for (uint r = 0; r < R; r++) s += px[r * inner];
  out[oo + o] = s / (float)R;
}

/* Element (j, c, y) of the (A, P, B, Q, C) array seen as rows y = (a P + i) B + b of Q C (a 3-D
 * launch: j < Q, c < C, y; no divisions, which the vectorised code ran lane by lane): ab[y] =
 * a B + b, the row's place with P removed (from the host). v_row drops d0, v_col drops d1;
 * d0_is_p tells which of P, Q is d0. rcm (A, B, C) is the mean of v_row over d1. */
__kernel void opt_adafactor_factored(__global float *p, uint po, __global const float *gr, uint go,
                                     uint Q, float gnorm, float maxn, uint clip, uint C,
                                     __global const int *ab, uint abo, uint d0_is_p,
                                     __global const float *vrow, uint vro,
                                     __global const float *vcol, uint vco,
                                     __global const float *rcm, uint rco, __global ushort *m,
                                     uint mo, uint has_mom, float mom_b, float mom_1mb, float lr,
                                     float wd, float sched) {
  uint j = get_global_id(0), c = get_global_id(1), y = get_global_id(2);
  if (j >= Q) return;
  uint r = (uint)ab[abo + y];
  uint e = (y * Q + j) * C + c;
  uint no_p = (r * Q + j) * C + c; /* index with P removed */
  uint no_q = y * C + c;           /* index with Q removed */
  uint ir = r * C + c;
  float vr = vrow[vro + (d0_is_p ? no_p : no_q)];
  float vc = vcol[vco + (d0_is_p ? no_q : no_p)];
  float row_factor = rsqrt(vr / rcm[rco + ir]);
  float col_factor = rsqrt(vc);
  float g = clip_grad(gr[go + e], gnorm, maxn, clip);
  float u = g * row_factor * col_factor;
  u = apply_momentum(u, m, mo + e, has_mom, mom_b, mom_1mb);
  p[po + e] = new_param(u, p[po + e], lr, wd, sched);
}
