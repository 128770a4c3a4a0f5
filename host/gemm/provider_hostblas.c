/* GEMM provider: the host's BLAS (OpenBLAS cblas_sgemm) on mapped buffers of a host-unified
 * device. The map is blocking and the queue in order, so every kernel queued before has finished
 * when the host reads; the unmap is queued before anything that follows. On PoCL mapping is
 * zero-copy. Operands sharing a buffer are mapped once, as one region. */
#include "gemm_internal.h"

#include <cblas.h>
#include <string.h>

typedef struct map_region {
  cl_mem mem;
  size_t lo, hi; /* in floats */
  cl_map_flags flags;
  float *ptr; /* mapped address of element lo */
} map_region;

/* Adds [lo, hi) of mem to the regions, merging with the one of the same buffer. */
static void add_region(map_region *r, int *n, cl_mem mem, size_t lo, size_t hi,
                       cl_map_flags flags) {
  if (hi <= lo) return;
  for (int i = 0; i < *n; i++) {
    if (r[i].mem == mem) {
      if (lo < r[i].lo) r[i].lo = lo;
      if (hi > r[i].hi) r[i].hi = hi;
      r[i].flags |= flags;
      return;
    }
  }
  r[*n].mem = mem;
  r[*n].lo = lo;
  r[*n].hi = hi;
  r[*n].flags = flags;
  r[*n].ptr = NULL;
  (*n)++;
}

static float *region_ptr(const map_region *r, int n, const clippo_tensor *t) {
  for (int i = 0; i < n; i++)
    if (r[i].mem == t->mem && r[i].ptr) return r[i].ptr + (t->offset - r[i].lo);
  return NULL;
}

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
  size_t ar = g->ta ? g->k : g->m, ac = g->ta ? g->m : g->k;
  size_t br = g->tb ? g->n : g->k, bc = g->tb ? g->k : g->n;
  map_region r[3];
  int nr = 0;
  add_region(r, &nr, g->c->mem, g->c->offset,
             g->c->offset + gemm_extent(g->m, g->n, g->ldc, g->sc, g->batch),
             CL_MAP_READ | CL_MAP_WRITE);
  add_region(r, &nr, g->a->mem, g->a->offset,
             g->a->offset + gemm_extent(ar, ac, g->lda, g->sa, g->batch), CL_MAP_READ);
  add_region(r, &nr, g->b->mem, g->b->offset,
             g->b->offset + gemm_extent(br, bc, g->ldb, g->sb, g->batch), CL_MAP_READ);
  clippo_status st = CLIPPO_OK;
  /* A blocking map waits for earlier commands only on an in-order queue. */
  cl_command_queue_properties qp = 0;
  if (clGetCommandQueueInfo(rt->queue, CL_QUEUE_PROPERTIES, sizeof qp, &qp, NULL) != CL_SUCCESS ||
      (qp & CL_QUEUE_OUT_OF_ORDER_EXEC_MODE_ENABLE))
    st = clippo_cl_check(rt, clFinish(rt->queue), "clFinish (host BLAS gemm)", err);
  for (int i = 0; i < nr && !st; i++) {
    cl_int rc = CL_SUCCESS;
    r[i].ptr = clEnqueueMapBuffer(rt->queue, r[i].mem, CL_TRUE, r[i].flags, r[i].lo * sizeof(float),
                                  (r[i].hi - r[i].lo) * sizeof(float), 0, NULL, NULL, &rc);
    if (rc != CL_SUCCESS || !r[i].ptr) {
      r[i].ptr = NULL;
      st = clippo_cl_check(rt, rc != CL_SUCCESS ? rc : CL_INVALID_VALUE,
                           "clEnqueueMapBuffer (host BLAS gemm)", err);
    }
  }
  if (!st) {
    float dummy[1] = {0.0f};
    float *c = region_ptr(r, nr, g->c);
    const float *a = g->k ? region_ptr(r, nr, g->a) : dummy;
    const float *b = g->k ? region_ptr(r, nr, g->b) : dummy;
    enum CBLAS_TRANSPOSE ta = g->ta ? CblasTrans : CblasNoTrans;
    enum CBLAS_TRANSPOSE tb = g->tb ? CblasTrans : CblasNoTrans;
    for (size_t z = 0; z < g->batch; z++) {
      /* BLAS reads C when beta != 0 only; with beta == 0 old NaNs in C vanish as required. */
      cblas_sgemm(CblasRowMajor, ta, tb, (int)g->m, (int)g->n, (int)g->k, g->alpha,
                  a + (g->k ? z * g->sa : 0), (int)g->lda, b + (g->k ? z * g->sb : 0), (int)g->ldb,
                  g->beta, c + z * g->sc, (int)g->ldc);
    }
  }
  for (int i = 0; i < nr; i++) {
    if (!r[i].ptr) continue;
    cl_int rc = clEnqueueUnmapMemObject(rt->queue, r[i].mem, r[i].ptr, 0, NULL, NULL);
    if (rc != CL_SUCCESS && !st)
      st = clippo_cl_check(rt, rc, "clEnqueueUnmapMemObject (host BLAS gemm)", err);
  }
  return st;
}

/* Mapping is zero-copy only where the device shares the host's memory. */
static int hostblas_available(const clippo_rt *rt) { return rt->info.host_unified != 0; }

const gemm_provider gemm_provider_hostblas = {CLIPPO_GEMM_HOSTBLAS, "hostblas", hostblas_available,
                                              hostblas_run, NULL};
