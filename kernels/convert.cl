/* float32 <-> IEEE binary16 storage conversions for the fp16 GEMM path (host/runtime/convert.c).
 * vload_half and vstore_half_rte are core OpenCL 1.2: every device can store and convert half
 * data; only arithmetic in half needs cl_khr_fp16 (CLBlast's Hgemm does that part).
 * Plain C reference: clippo_float_to_half / clippo_half_to_float (host/runtime/array.c). */

/* dst[i] = half(src[i]), round to nearest even; overflow gives +-inf, NaN stays NaN. */
__kernel void cvt_to_half(__global const float *src, uint src_off, __global half *dst,
                          uint dst_off, uint n) {
  uint i = get_global_id(0);
  if (i < n) vstore_half_rte(src[src_off + i], dst_off + i, dst);
}

/* Scatters a packed (batch, rows, cols) half array into a strided float32 one:
 * dst[b * stride + i * ld + j] = float(src[(b * rows + i) * cols + j]) + beta * dst[...]
 * (dst is not read when beta is 0, as BLAS does). */
__kernel void cvt_from_half(__global const half *src, uint src_off, __global float *dst,
                            uint dst_off, uint rows, uint cols, uint ld, uint stride, uint total,
                            float beta) {
  uint g = get_global_id(0);
  if (g >= total) return;
  uint per = rows * cols;
  uint b = g / per, r = g - b * per;
  uint i = r / cols, j = r - i * cols;
  float v = vload_half(src_off + g, src);
  uint d = dst_off + b * stride + i * ld + j;
  dst[d] = beta == 0.0f ? v : v + beta * dst[d];
}
