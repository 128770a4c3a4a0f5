/* Device ceilings for `clippo bench` (host/tasks/bench_suite.c): multiply-add throughput and
 * memory bandwidth, against which every benchmark reports its % of peak.
 *
 * probe_fma: every work-item runs CHAINS independent chains of VW-wide multiply-adds,
 * x = x * a + b, 4 times per loop trip, iters trips: iters * 4 * CHAINS * VW * 2 flops.
 * With 0 < a < 1 the values settle near b / (1 - a): no overflow, no denormals. The chains are
 * summed into out[global id] so that nothing can be dropped.
 *
 * probe_copy / probe_triad: BW-wide vectors, `per` of them per work-item; work-item g touches
 * vectors g * s0 + j * s1 (j < per): contiguous chunks on CPUs (s0 = per, s1 = 1), a grid stride
 * on GPUs (s0 = 1, s1 = global size) so that neighbouring work-items read neighbouring vectors.
 *
 * Build options: -DVW=1|2|4|8|16 -DCHAINS=1..16 -DBW=1|2|4|8|16. */
#ifndef VW
#define VW 8
#endif
#ifndef CHAINS
#define CHAINS 8
#endif
#ifndef BW
#define BW 4
#endif

#define CAT_(a, b) a##b
#define CAT(a, b) CAT_(a, b)

#if VW == 1
#define floatV float
#else
#define floatV CAT(float, VW)
#endif

#if BW == 1
#define floatB float
#else
#define floatB CAT(float, BW)
#endif

/* fma() where the device says it is fast (or the host asks: -DUSE_FMA, when the device reports
 * CL_FP_FMA), else a multiply and an add the compiler may fuse; 2 flops either way. */
#if defined(FP_FAST_FMAF) || defined(USE_FMA)
#define MADD(x, a, b) fma(x, a, b)
#else
#define MADD(x, a, b) ((x) * (a) + (b))
#endif

/* The chains as separate variables, written out: compilers keep them in registers (an array
 * indexed in loops stays in memory on some). */
#if CHAINS > 0
#define D0 floatV x0 = (floatV)(g + 0e-3f);
#define S0 x0 = MADD(x0, va, vb);
#define R0 s += x0;
#else
#define D0
#define S0
#define R0
#endif
#if CHAINS > 1
#define D1 floatV x1 = (floatV)(g + 1e-3f);
#define S1 x1 = MADD(x1, va, vb);
#define R1 s += x1;
#else
#define D1
#define S1
#define R1
#endif
#if CHAINS > 2
#define D2 floatV x2 = (floatV)(g + 2e-3f);
#define S2 x2 = MADD(x2, va, vb);
#define R2 s += x2;
#else
#define D2
#define S2
#define R2
#endif
#if CHAINS > 3
#define D3 floatV x3 = (floatV)(g + 3e-3f);
#define S3 x3 = MADD(x3, va, vb);
#define R3 s += x3;
#else
#define D3
#define S3
#define R3
#endif
#if CHAINS > 4
#define D4 floatV x4 = (floatV)(g + 4e-3f);
#define S4 x4 = MADD(x4, va, vb);
#define R4 s += x4;
#else
#define D4
#define S4
#define R4
#endif
#if CHAINS > 5
#define D5 floatV x5 = (floatV)(g + 5e-3f);
#define S5 x5 = MADD(x5, va, vb);
#define R5 s += x5;
#else
#define D5
#define S5
#define R5
#endif
#if CHAINS > 6
#define D6 floatV x6 = (floatV)(g + 6e-3f);
#define S6 x6 = MADD(x6, va, vb);
#define R6 s += x6;
#else
#define D6
#define S6
#define R6
#endif
#if CHAINS > 7
#define D7 floatV x7 = (floatV)(g + 7e-3f);
#define S7 x7 = MADD(x7, va, vb);
#define R7 s += x7;
#else
#define D7
#define S7
#define R7
#endif
#if CHAINS > 8
#define D8 floatV x8 = (floatV)(g + 8e-3f);
#define S8 x8 = MADD(x8, va, vb);
#define R8 s += x8;
#else
#define D8
#define S8
#define R8
#endif
#if CHAINS > 9
#define D9 floatV x9 = (floatV)(g + 9e-3f);
#define S9 x9 = MADD(x9, va, vb);
#define R9 s += x9;
#else
#define D9
#define S9
#define R9
#endif
#if CHAINS > 10
#define D10 floatV x10 = (floatV)(g + 10e-3f);
#define S10 x10 = MADD(x10, va, vb);
#define R10 s += x10;
#else
#define D10
#define S10
#define R10
#endif
#if CHAINS > 11
#define D11 floatV x11 = (floatV)(g + 11e-3f);
#define S11 x11 = MADD(x11, va, vb);
#define R11 s += x11;
#else
#define D11
#define S11
#define R11
#endif
#if CHAINS > 12
#define D12 floatV x12 = (floatV)(g + 12e-3f);
#define S12 x12 = MADD(x12, va, vb);
#define R12 s += x12;
#else
#define D12
#define S12
#define R12
#endif
#if CHAINS > 13
#define D13 floatV x13 = (floatV)(g + 13e-3f);
#define S13 x13 = MADD(x13, va, vb);
#define R13 s += x13;
#else
#define D13
#define S13
#define R13
#endif
#if CHAINS > 14
#define D14 floatV x14 = (floatV)(g + 14e-3f);
#define S14 x14 = MADD(x14, va, vb);
#define R14 s += x14;
#else
#define D14
#define S14
#define R14
#endif
#if CHAINS > 15
#define D15 floatV x15 = (floatV)(g + 15e-3f);
#define S15 x15 = MADD(x15, va, vb);
#define R15 s += x15;
#else
#define D15
#define S15
#define R15
#endif
#define DECLS D0 D1 D2 D3 D4 D5 D6 D7 D8 D9 D10 D11 D12 D13 D14 D15
#define STEP S0 S1 S2 S3 S4 S5 S6 S7 S8 S9 S10 S11 S12 S13 S14 S15
#define SUMS R1 R2 R3 R4 R5 R6 R7 R8 R9 R10 R11 R12 R13 R14 R15

__kernel void probe_fma(__global float *out, const float a, const float b, const uint iters) {
  const float g = (float)(get_global_id(0) & 1023u) * 1e-6f;
  DECLS
  const floatV va = (floatV)(a), vb = (floatV)(b);
  for (uint i = 0; i < iters; i++) {
    STEP STEP STEP STEP /* UNROLL = 4 */
  }
  floatV s = x0;
  SUMS
#if VW == 1
  out[get_global_id(0)] = s;
#else
  float h[VW];
  CAT(vstore, VW)(s, 0, h);
  float r = 0.0f;
  for (int j = 0; j < VW; j++) r += h[j];
  out[get_global_id(0)] = r;
#endif
}

__kernel void probe_copy(__global const floatB *src, __global floatB *dst, const uint per,
                         const uint s0, const uint s1) {
  uint i = (uint)get_global_id(0) * s0;
  for (uint j = 0; j < per; j++, i += s1) dst[i] = src[i];
}

__kernel void probe_triad(__global floatB *a, __global const floatB *b, __global const floatB *c,
                          const float s, const uint per, const uint s0, const uint s1) {
  uint i = (uint)get_global_id(0) * s0;
  for (uint j = 0; j < per; j++, i += s1) a[i] = b[i] + s * c[i];
}
