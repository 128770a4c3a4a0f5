/* GEMM provider: the host's BLAS (OpenBLAS cblas_sgemm) on the operands of a host-unified device,
 * mapped into host memory by gemm_map (host/gemm/gemm_map.c: zero-copy on PoCL). */
#include "gemm_internal.h"

#include <cblas.h>
#include <stdio.h>
#include <strings.h>

#ifdef CLIPPO_HAVE_OPENBLAS_CORENAME
/* OpenBLAS's x86 core names by the widest vector instructions of their kernels. */
static int core_level(const char *core) {
  static const char *const avx512[] = {"SkylakeX", "Cooperlake", "SapphireRapids"};
  static const char *const avx2[] = {"Haswell", "Zen"};
  static const char *const avx[] = {"Sandybridge", "Bulldozer", "Piledriver", "Steamroller",
                                    "Excavator"};
  for (size_t i = 0; i < sizeof avx512 / sizeof avx512[0]; i++)
    if (!strcasecmp(core, avx512[i])) return 3;
  for (size_t i = 0; i < sizeof avx2 / sizeof avx2[0]; i++)
    if (!strcasecmp(core, avx2[i])) return 2;
  for (size_t i = 0; i < sizeof avx / sizeof avx[0]; i++)
    if (!strcasecmp(core, avx[i])) return 1;
  return 0;
}

void clippo_gemm_hostblas_describe(char *out, size_t size) {
  const char *core = openblas_get_corename();
  static const char *const names[] = {"SSE", "AVX", "AVX2", "AVX-512"};
  int level = core ? core_level(core) : -1;
  snprintf(out, size, "OpenBLAS, core %s (%s kernels)", core ? core : "?",
           level >= 0 ? names[level] : "?");
}
#else
void clippo_gemm_hostblas_describe(char *out, size_t size) {
  snprintf(out, size, "a CBLAS other than OpenBLAS (its kernels unknown)");
}
#endif

clippo_status gemm_hostblas_product(const gemm_call *g, const float *a, const float *b, float *c,
                                    clippo_error *err) {
  const size_t imax = 2147483647;
  if (g->m > imax || g->n > imax || g->k > imax || g->lda > imax || g->ldb > imax || g->ldc > imax)
    return clippo_fail(err, CLIPPO_E_UNSUPPORTED,
                       "host BLAS gemm: sizes or leading dimensions above 2^31-1 (%zux%zux%zu)",
                       g->m, g->n, g->k);
  float dummy[1] = {0.0f};
  if (!g->k) a = b = dummy;
  enum CBLAS_TRANSPOSE ta = g->ta ? CblasTrans : CblasNoTrans;
  enum CBLAS_TRANSPOSE tb = g->tb ? CblasTrans : CblasNoTrans;
  for (size_t z = 0; z < g->batch; z++) {
    /* BLAS reads C when beta != 0 only; with beta == 0 old NaNs in C vanish as required. */
    cblas_sgemm(CblasRowMajor, ta, tb, (int)g->m, (int)g->n, (int)g->k, g->alpha,
                a + (g->k ? z * g->sa : 0), (int)g->lda, b + (g->k ? z * g->sb : 0), (int)g->ldb,
                g->beta, c + z * g->sc, (int)g->ldc);
  }
  return CLIPPO_OK;
}

static clippo_status hostblas_run(clippo_rt *rt, const gemm_call *g,
                                  const clippo_gemm_kernel_cfg *cfg, size_t *k_done,
                                  clippo_error *err) {
  (void)cfg;
  *k_done = 0; /* one call per matrix, none of which can fail part-way */
  clippo_status inj = gemm_injected_failure(rt, CLIPPO_GEMM_HOSTBLAS, 0, err);
  if (inj) return inj;
  gemm_mapped mp;
  clippo_status st = gemm_map(rt, g, "host BLAS gemm", &mp, err);
  if (st) return st;
  st = gemm_hostblas_product(g, mp.a, mp.b, mp.c, err);
  return gemm_unmap(rt, &mp, st, "host BLAS gemm", err);
}

/* Mapping is zero-copy only where the device shares the host's memory. */
static int hostblas_available(const clippo_rt *rt) { return rt->info.host_unified != 0; }

const gemm_provider gemm_provider_hostblas = {CLIPPO_GEMM_HOSTBLAS, "hostblas", hostblas_available,
                                              hostblas_run,         NULL,       NULL};
