/* GEMM provider: CLBlast (row-major, on the runtime's queue, tensor offsets as buffer offsets). */
#include "gemm_internal.h"

#include <clblast_c.h>

/* The name of a CLBlast status code. */
static const char *clblast_status_name(CLBlastStatusCode s) {
  switch (s) {
#define N(x)                                                                                       \
  case x: return #x;
    N(CLBlastSuccess)
    N(CLBlastOpenCLCompilerNotAvailable)
    N(CLBlastTempBufferAllocFailure)
    N(CLBlastOpenCLOutOfResources)
    N(CLBlastOpenCLOutOfHostMemory)
    N(CLBlastOpenCLBuildProgramFailure)
    N(CLBlastInvalidValue)
    N(CLBlastInvalidCommandQueue)
    N(CLBlastInvalidMemObject)
    N(CLBlastInvalidBinary)
    N(CLBlastInvalidBuildOptions)
    N(CLBlastInvalidProgram)
    N(CLBlastInvalidProgramExecutable)
    N(CLBlastInvalidKernelName)
    N(CLBlastInvalidKernelDefinition)
    N(CLBlastInvalidKernel)
    N(CLBlastInvalidArgIndex)
    N(CLBlastInvalidArgValue)
    N(CLBlastInvalidArgSize)
    N(CLBlastInvalidKernelArgs)
    N(CLBlastInvalidLocalNumDimensions)
    N(CLBlastInvalidLocalThreadsTotal)
    N(CLBlastInvalidLocalThreadsDim)
    N(CLBlastInvalidGlobalOffset)
    N(CLBlastInvalidEventWaitList)
    N(CLBlastInvalidEvent)
    N(CLBlastInvalidOperation)
    N(CLBlastInvalidBufferSize)
    N(CLBlastInvalidGlobalWorkSize)
    N(CLBlastNotImplemented)
    N(CLBlastInvalidMatrixA)
    N(CLBlastInvalidMatrixB)
    N(CLBlastInvalidMatrixC)
    N(CLBlastInvalidVectorX)
    N(CLBlastInvalidVectorY)
    N(CLBlastInvalidDimension)
    N(CLBlastInvalidLeadDimA)
    N(CLBlastInvalidLeadDimB)
    N(CLBlastInvalidLeadDimC)
    N(CLBlastInvalidIncrementX)
    N(CLBlastInvalidIncrementY)
    N(CLBlastInsufficientMemoryA)
    N(CLBlastInsufficientMemoryB)
    N(CLBlastInsufficientMemoryC)
    N(CLBlastInsufficientMemoryX)
    N(CLBlastInsufficientMemoryY)
    N(CLBlastInsufficientMemoryTemp)
    N(CLBlastInvalidBatchCount)
    N(CLBlastInvalidOverrideKernel)
    N(CLBlastMissingOverrideParameter)
    N(CLBlastInvalidLocalMemUsage)
    N(CLBlastNoHalfPrecision)
    N(CLBlastNoDoublePrecision)
    N(CLBlastInvalidVectorScalar)
    N(CLBlastInsufficientMemoryScalar)
    N(CLBlastDatabaseError)
    N(CLBlastUnknownError)
    N(CLBlastUnexpectedError)
#undef N
  default: return "an unknown CLBlast status";
  }
}

static clippo_status clblast_result(const clippo_rt *rt, const gemm_call *g, const char *routine,
                                    CLBlastStatusCode s, clippo_error *err);

static clippo_status clblast_run(clippo_rt *rt, const gemm_call *g,
                                 const clippo_gemm_kernel_cfg *cfg, size_t *k_done,
                                 clippo_error *err) {
  *k_done = 0;
  /* CLBlast rejects k == 0; then C = beta * C, which the kernel provider does. */
  if (g->k == 0) return gemm_provider_kernel.run(rt, g, cfg, k_done, err);
  clippo_status st = gemm_injected_failure(rt, CLIPPO_GEMM_CLBLAST, 0, err);
  if (st) return st;
  CLBlastTranspose ta = g->ta ? CLBlastTransposeYes : CLBlastTransposeNo;
  CLBlastTranspose tb = g->tb ? CLBlastTransposeYes : CLBlastTransposeNo;
  CLBlastStatusCode s;
  const char *routine;
  if (g->batch == 1) {
    routine = "CLBlastSgemm";
    s = CLBlastSgemm(CLBlastLayoutRowMajor, ta, tb, g->m, g->n, g->k, g->alpha, g->a->mem,
                     g->a->offset, g->lda, g->b->mem, g->b->offset, g->ldb, g->beta, g->c->mem,
                     g->c->offset, g->ldc, &rt->queue, NULL);
  } else {
    routine = "CLBlastSgemmStridedBatched";
    s = CLBlastSgemmStridedBatched(CLBlastLayoutRowMajor, ta, tb, g->m, g->n, g->k, g->alpha,
                                   g->a->mem, g->a->offset, g->lda, g->sa, g->b->mem, g->b->offset,
                                   g->ldb, g->sb, g->beta, g->c->mem, g->c->offset, g->ldc, g->sc,
                                   g->batch, &rt->queue, NULL);
  }
  return clblast_result(rt, g, routine, s, err);
}

/* CLIPPO_OK, or an error naming the routine, the call, the device and CLBlast's status. */
static clippo_status clblast_result(const clippo_rt *rt, const gemm_call *g, const char *routine,
                                    CLBlastStatusCode s, clippo_error *err) {
  if (s == CLBlastSuccess) return CLIPPO_OK;
  clippo_status st = CLIPPO_E_DEVICE;
  if (s == CLBlastOpenCLBuildProgramFailure || s == CLBlastOpenCLCompilerNotAvailable)
    st = CLIPPO_E_BUILD;
  else if (s == CLBlastNotImplemented || s == CLBlastDatabaseError || s == CLBlastNoHalfPrecision ||
           s == CLBlastInvalidLocalMemUsage)
    st = CLIPPO_E_UNSUPPORTED;
  return clippo_fail(err, st,
                     "%s (%zux%zux%zu, batch %zu, trans_a %d, trans_b %d) failed on device '%s' "
                     "(platform '%s'): %s (%d)",
                     routine, g->m, g->n, g->k, g->batch, g->ta, g->tb, rt->info.name,
                     rt->info.platform, clblast_status_name(s), (int)s);
}

static clippo_status clblast_run_half(clippo_rt *rt, const gemm_call *g, clippo_error *err) {
  clippo_status st = gemm_injected_failure(rt, CLIPPO_GEMM_CLBLAST, 0, err);
  if (st) return st;
  if (!rt->info.fp16)
    return clippo_fail(err, CLIPPO_E_UNSUPPORTED, "device '%s' lacks cl_khr_fp16 (no half GEMM)",
                       rt->info.name);
  CLBlastTranspose ta = g->ta ? CLBlastTransposeYes : CLBlastTransposeNo;
  CLBlastTranspose tb = g->tb ? CLBlastTransposeYes : CLBlastTransposeNo;
  cl_half alpha = clippo_float_to_half(g->alpha), beta = clippo_float_to_half(g->beta);
  CLBlastStatusCode s;
  const char *routine;
  if (g->batch == 1) {
    routine = "CLBlastHgemm";
    s = CLBlastHgemm(CLBlastLayoutRowMajor, ta, tb, g->m, g->n, g->k, alpha, g->a->mem,
                     g->a->offset, g->lda, g->b->mem, g->b->offset, g->ldb, beta, g->c->mem,
                     g->c->offset, g->ldc, &rt->queue, NULL);
  } else {
    routine = "CLBlastHgemmStridedBatched";
    s = CLBlastHgemmStridedBatched(CLBlastLayoutRowMajor, ta, tb, g->m, g->n, g->k, alpha,
                                   g->a->mem, g->a->offset, g->lda, g->sa, g->b->mem, g->b->offset,
                                   g->ldb, g->sb, beta, g->c->mem, g->c->offset, g->ldc, g->sc,
                                   g->batch, &rt->queue, NULL);
  }
  return clblast_result(rt, g, routine, s, err);
}

/* CLBlast runs on any OpenCL device. */
static int clblast_available(const clippo_rt *rt) {
  (void)rt;
  return 1;
}

const gemm_provider gemm_provider_clblast = {
    CLIPPO_GEMM_CLBLAST, "clblast", clblast_available, clblast_run, clblast_run_half, NULL};
