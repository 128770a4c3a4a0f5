/* Helpers shared by the op kernels (`#include "common.h"`).
 *
 * VEC (1, 4, 8 or 16; -DVEC=...) is the number of consecutive floats one work-item loads and
 * stores at a time: explicit vectors are what makes CPU devices (PoCL) use SIMD for rows and
 * transcendental functions. `floatv` is the matching vector type. LOADV / STOREV take __global
 * pointers at any float boundary, so tensor views at any element offset work: vloadN / vstoreN,
 * except LOADV where clang compiles for VEC 16 (PoCL, Mesa): one unaligned load through a float16
 * type of float alignment (PoCL 3.1's vload16 became eight 8-byte loads put together by
 * shuffles; train suite on a 2-vCPU Zen 4, CPU time by perf samples: attention_rows_fwd -7.5 %,
 * layernorm_grad_dx_row -15 to -20 %). Stores stay vstoreN (stores through the same type
 * measured no better, within the noise).
 *
 * Every tensor argument is a pair (__global float *p, uint p_off): buffer and element offset. */
#ifndef CLIPPO_KERNELS_COMMON_H
#define CLIPPO_KERNELS_COMMON_H

#ifndef VEC
#define VEC 16
#endif

#if VEC == 16
typedef float16 floatv;
#if defined(__clang__)
typedef float16 __attribute__((aligned(4))) floatv_unaligned;
#define LOADV(p) (*(__global const floatv_unaligned *)(p))
#else
#define LOADV(p) vload16(0, (p))
#endif
#define STOREV(v, p) vstore16((v), 0, (p))
#elif VEC == 8
typedef float8 floatv;
#define LOADV(p) vload8(0, (p))
#define STOREV(v, p) vstore8((v), 0, (p))
#elif VEC == 4
typedef float4 floatv;
#define LOADV(p) vload4(0, (p))
#define STOREV(v, p) vstore4((v), 0, (p))
#elif VEC == 1
typedef float floatv;
#define LOADV(p) (*(p))
#define STOREV(v, p) (*(p) = (v))
#else
#error "VEC must be 1, 4, 8 or 16"
#endif

/* Horizontal sum of a floatv (pairwise, so the rounding error grows with log2(VEC)). */
static inline float hsum(floatv v) {
#if VEC == 16
  float8 a = v.lo + v.hi;
  float4 b = a.lo + a.hi;
  float2 c = b.lo + b.hi;
  return c.x + c.y;
#elif VEC == 8
  float4 b = v.lo + v.hi;
  float2 c = b.lo + b.hi;
  return c.x + c.y;
#elif VEC == 4
  float2 c = v.lo + v.hi;
  return c.x + c.y;
#else
  return v;
#endif
}

/* Horizontal maximum of a floatv. */
static inline float hmax(floatv v) {
#if VEC == 16
  float8 a = fmax(v.lo, v.hi);
  float4 b = fmax(a.lo, a.hi);
  float2 c = fmax(b.lo, b.hi);
  return fmax(c.x, c.y);
#elif VEC == 8
  float4 b = fmax(v.lo, v.hi);
  float2 c = fmax(b.lo, b.hi);
  return fmax(c.x, c.y);
#elif VEC == 4
  float2 c = fmax(v.lo, v.hi);
  return fmax(c.x, c.y);
#else
  return v;
#endif
}

/* Sum of v over the work-group (local size a power of two; scratch holds one float per
 * work-item). Every work-item gets the total. Used only by the work-group-per-row variants,
 * which the launchers pick for GPUs (local memory + barriers are slow on CPU devices). */
static inline float group_sum(float v, __local float *scratch) {
  uint lid = get_local_id(0);
  scratch[lid] = v;
  barrier(CLK_LOCAL_MEM_FENCE);
  for (uint s = get_local_size(0) / 2; s > 0; s >>= 1) {
    if (lid < s) scratch[lid] += scratch[lid + s];
    barrier(CLK_LOCAL_MEM_FENCE);
  }
  float r = scratch[0];
  barrier(CLK_LOCAL_MEM_FENCE);
  return r;
}

/* Maximum of v over the work-group; see group_sum. */
static inline float group_max(float v, __local float *scratch) {
  uint lid = get_local_id(0);
  scratch[lid] = v;
  barrier(CLK_LOCAL_MEM_FENCE);
  for (uint s = get_local_size(0) / 2; s > 0; s >>= 1) {
    if (lid < s) scratch[lid] = fmax(scratch[lid], scratch[lid + s]);
    barrier(CLK_LOCAL_MEM_FENCE);
  }
  float r = scratch[0];
  barrier(CLK_LOCAL_MEM_FENCE);
  return r;
}

/* Sum of the row p[0..n) by one work-item: VEC lanes, then the tail. */
static inline float row_sum(__global const float *p, uint n) {
  floatv acc = (floatv)(0.0f);
  uint c = 0;
  for (; c + VEC <= n; c += VEC) acc += LOADV(p + c);
  float s = hsum(acc);
  for (; c < n; c++) s += p[c];
  return s;
}

/* Sum of (p[c] - m)^2 over the row p[0..n) by one work-item. */
static inline float row_sqdev(__global const float *p, uint n, float m) {
  floatv acc = (floatv)(0.0f);
  uint c = 0;
  for (; c + VEC <= n; c += VEC) {
    floatv d = LOADV(p + c) - m;
    acc += d * d;
  }
  float s = hsum(acc);
  for (; c < n; c++) {
    float d = p[c] - m;
    s += d * d;
  }
  return s;
}

/* Part of the row sum p[0..n) that work-item lid of a group of ls takes: VEC-wide chunks
 * lid, lid + ls, ... and tail element n_full*VEC + lid. */
static inline float part_sum(__global const float *p, uint n, uint lid, uint ls) {
  floatv acc = (floatv)(0.0f);
  uint nfull = n / VEC;
  for (uint j = lid; j < nfull; j += ls) acc += LOADV(p + j * VEC);
  float s = hsum(acc);
  for (uint c = nfull * VEC + lid; c < n; c += ls) s += p[c];
  return s;
}

/* Part of the sum of (p[c] - m)^2 that work-item lid takes; see part_sum. */
static inline float part_sqdev(__global const float *p, uint n, float m, uint lid, uint ls) {
  floatv acc = (floatv)(0.0f);
  uint nfull = n / VEC;
  for (uint j = lid; j < nfull; j += ls) {
    floatv d = LOADV(p + j * VEC) - m;
    acc += d * d;
  }
  float s = hsum(acc);
  for (uint c = nfull * VEC + lid; c < n; c += ls) {
    float d = p[c] - m;
    s += d * d;
  }
  return s;
}

#endif
