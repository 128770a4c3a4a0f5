/* GEMM provider: the host's BLAS (OpenBLAS cblas_sgemm) on the operands of a host-unified device,
 * mapped into host memory by gemm_map (host/gemm/gemm_map.c: zero-copy on PoCL). */
#include "gemm_internal.h"

#include <cblas.h>

static clippo_status hostblas_run(clippo_rt *rt, const gemm_call *g,
                                  const clippo_gemm_kernel_cfg *cfg, size_t *k_done,
                                  clippo_error *err) {
  (void)cfg;
  *k_done = 0; /* one call per matrix, none of which can fail part-way */
  clippo_status inj = gemm_injected_failure(rt, CLIPPO_GEMM_HOSTBLAS, 0, err);
  if (inj) return inj;
  const size_t imax = 2147483647;
  if (g->m > imax || g->n > imax || g->k > imax || g->lda > imax || g->ldb > imax || g->ldc > imax)
    return clippo_fail(err, CLIPPO_E_UNSUPPORTED,
                       "host BLAS gemm: sizes or leading dimensions above 2^31-1 (%zux%zux%zu)",
                       g->m, g->n, g->k);
  gemm_mapped mp;
  clippo_status st = gemm_map(rt, g, "host BLAS gemm", &mp, err);
  if (st) return st;
  float dummy[1] = {0.0f};
  const float *a = g->k ? mp.a : dummy, *b = g->k ? mp.b : dummy;
  enum CBLAS_TRANSPOSE ta = g->ta ? CblasTrans : CblasNoTrans;
  enum CBLAS_TRANSPOSE tb = g->tb ? CblasTrans : CblasNoTrans;
  for (size_t z = 0; z < g->batch; z++) {
    /* BLAS reads C when beta != 0 only; with beta == 0 old NaNs in C vanish as required. */
    cblas_sgemm(CblasRowMajor, ta, tb, (int)g->m, (int)g->n, (int)g->k, g->alpha,
                a + (g->k ? z * g->sa : 0), (int)g->lda, b + (g->k ? z * g->sb : 0), (int)g->ldb,
                g->beta, mp.c + z * g->sc, (int)g->ldc);
  }
  return gemm_unmap(rt, &mp, CLIPPO_OK, "host BLAS gemm", err);
}

/* Mapping is zero-copy only where the device shares the host's memory. */
static int hostblas_available(const clippo_rt *rt) { return rt->info.host_unified != 0; }

const gemm_provider gemm_provider_hostblas = {CLIPPO_GEMM_HOSTBLAS, "hostblas", hostblas_available,
                                              hostblas_run, NULL};
