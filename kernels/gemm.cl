/* GEMM for CPU-class OpenCL devices: C = alpha * op(A) * op(B) + beta * C, row-major float32.
 *
 * Two steps. The pack kernels copy op(A) (m x k) into row panels (panel t: rows [t*TM, t*TM+TM)
 * as k columns of TM contiguous floats) and op(B) (k x n) into column panels (panel t: columns
 * [t*TN, t*TN+TN) as k rows of TN contiguous floats), zero-padded past m and n. Whatever the
 * layouts, transposes and edges, gemm_tile then streams two contiguous panels: each work-item
 * keeps a TM x TN tile of C in registers as TM*NV vectors of VW floats (no local memory, no
 * barriers: on PoCL those cost ~10x) and only its stores are guarded. Work-item (x, y, z) of
 * gemm_tile computes B panel x against A panel y for matrix z of the batch.
 *
 * Build options: -DTM=rows per work-item, -DVW=1|2|4|8|16 (vector width), -DNV=vectors per row
 * (TN = VW*NV). Sizes, leading dimensions, offsets and batch strides are in elements. */
#ifndef TM
#define TM 4
#endif
#ifndef VW
#define VW 8
#endif
#ifndef NV
#define NV 3
#endif

#define TN (VW * NV)
#define CAT_(a, b) a##b
#define CAT(a, b) CAT_(a, b)
#if VW == 1
#define floatV float
#define vloadV(i, p) ((p)[i])
#define vstoreV(v, i, p) ((p)[i] = (v))
#else
#define floatV CAT(float, VW)
#define vloadV CAT(vload, VW)
#define vstoreV CAT(vstore, VW)
#endif
#define UNROLL _Pragma("unroll")

/* dst (per batch entry: ceil(n/TN) panels of k x TN) = op(B), op(B) k x n; B is stored k x n
 * (trans_b = 0) or n x k (trans_b = 1) with leading dimension ldb. Work-item (x, y, z) writes
 * row x of panel y of batch entry z. */
__kernel void gemm_pack_b(const __global float *B, ulong b_off, uint ldb, ulong stride_b,
                          uint trans_b, __global float *dst, ulong dst_stride, uint n, uint k) {
  const uint kk = get_global_id(0);
  const uint t = get_global_id(1);
  if (kk >= k || t * TN >= n) return;
  const __global float *bp = B + b_off + get_global_id(2) * stride_b;
  __global float *d = dst + get_global_id(2) * dst_stride + ((size_t)t * k + kk) * TN;
  const uint c0 = t * TN;
  if (!trans_b && c0 + TN <= n) {
    UNROLL for (int v = 0; v < NV; v++) vstoreV(vloadV(v, bp + (size_t)kk * ldb + c0), v, d);
  } else if (!trans_b) {
    UNROLL for (int j = 0; j < TN; j++) d[j] = c0 + j < n ? bp[(size_t)kk * ldb + c0 + j] : 0.0f;
  } else {
    UNROLL for (int j = 0; j < TN; j++) d[j] = c0 + j < n ? bp[(size_t)(c0 + j) * ldb + kk] : 0.0f;
  }
}

/* dst (per batch entry: ceil(m/TM) panels of k x TM) = op(A) transposed panel-wise, op(A) m x k;
 * A is stored m x k (trans_a = 0) or k x m (trans_a = 1). Work-item (x, y, z) writes column x of
 * panel y of batch entry z. */
__kernel void gemm_pack_a(const __global float *A, ulong a_off, uint lda, ulong stride_a,
                          uint trans_a, __global float *dst, ulong dst_stride, uint m, uint k) {
  const uint kk = get_global_id(0);
  const uint t = get_global_id(1);
  if (kk >= k || t * TM >= m) return;
  const __global float *ap = A + a_off + get_global_id(2) * stride_a;
  __global float *d = dst + get_global_id(2) * dst_stride + ((size_t)t * k + kk) * TM;
  const uint r0 = t * TM;
  if (trans_a) {
    UNROLL for (int i = 0; i < TM; i++) d[i] = r0 + i < m ? ap[(size_t)kk * lda + r0 + i] : 0.0f;
  } else {
    UNROLL for (int i = 0; i < TM; i++) d[i] = r0 + i < m ? ap[(size_t)(r0 + i) * lda + kk] : 0.0f;
  }
}

/* C = alpha * Ap[:, k0:k0+kc] * Bp[k0:k0+kc, :] + beta * C with Ap, Bp packed by gemm_pack_a /
 * gemm_pack_b for depth kp (batch strides stride_ap, stride_bp). The host splits a deep product
 * into such slices (beta = 1 after the first) so that the panels of a work-group stay in cache.
 * beta == 0 never reads C. */
__kernel void gemm_tile(const __global float *Ap, ulong stride_ap, const __global float *Bp,
                        ulong stride_bp, __global float *C, ulong c_off, uint ldc, ulong stride_c,
                        uint m, uint n, uint kp, uint k0, uint kc, float alpha, float beta) {
  const uint col0 = get_global_id(0) * TN;
  const uint row0 = get_global_id(1) * TM;
  const ulong z = get_global_id(2);
  if (col0 >= n || row0 >= m) return;
  const __global float *aq = Ap + z * stride_ap + ((size_t)get_global_id(1) * kp + k0) * TM;
  const __global float *bq = Bp + z * stride_bp + ((size_t)get_global_id(0) * kp + k0) * TN;
  __global float *cp = C + c_off + z * stride_c;

  floatV acc[TM][NV];
  UNROLL for (int i = 0; i < TM; i++) {
    UNROLL for (int v = 0; v < NV; v++) acc[i][v] = (floatV)(0.0f);
  }
  for (uint kk = 0; kk < kc; kk++) {
    floatV b[NV];
    UNROLL for (int v = 0; v < NV; v++) b[v] = vloadV(v, bq);
    UNROLL for (int i = 0; i < TM; i++) {
      const floatV a = (floatV)(aq[i]);
      UNROLL for (int v = 0; v < NV; v++) acc[i][v] = fma(a, b[v], acc[i][v]);
    }
    aq += TM;
    bq += TN;
  }

  UNROLL for (int i = 0; i < TM; i++) {
    const uint r = row0 + i;
    if (r < m) {
      __global float *crow = cp + (size_t)r * ldc + col0;
      UNROLL for (int v = 0; v < NV; v++) {
        const uint c = col0 + v * VW;
        if (c + VW <= n) {
          floatV out = alpha * acc[i][v];
          if (beta != 0.0f) out = fma((floatV)(beta), vloadV(v, crow), out);
          vstoreV(out, v, crow);
        } else if (c < n) {
          float t[VW];
          vstoreV(alpha * acc[i][v], 0, t);
          for (uint e = 0; e < VW && c + e < n; e++) {
            float o = t[e];
            if (beta != 0.0f) o = fma(beta, crow[v * VW + e], o);
            crow[v * VW + e] = o;
          }
        }
      }
    }
  }
}
