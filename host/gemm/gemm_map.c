/* The operands of a product mapped into host memory, for the providers that multiply on the host
 * (host BLAS, oneDNN) on host-unified devices. The map is blocking and the queue in order (an
 * out-of-order queue is finished first), so every kernel queued before has finished when the host
 * reads; the unmap is queued before anything that follows. On PoCL mapping is zero-copy. Operands
 * sharing a buffer are mapped once, as one region. On an in-order queue only the last map blocks
 * (when it returns, the maps before it have completed too): each blocking map is a round trip to
 * the driver's threads, which cost small products (B/16's head: 8 x 768 x 768) as much as the
 * product. Regions only read from a declared buffer (a model's weights and biases) use the map
 * it keeps while declared (gemm_weights_map) and are neither mapped nor unmapped here: one map
 * and one unmap fewer per weight product (B/16 batch 1 on a 2-vCPU Xeon: float32 +1.7 %, int8
 * +5 %). Where the device runs native kernels (PoCL), a small product is instead queued as one
 * (gemm_host_enqueue), between non-blocking maps and the unmaps: no round trip at all; B/16's
 * head (8 x 768 x 768) in the GEMM suite 32-70 % -> 131-271 % of oneDNN on the host. */
#include "gemm_internal.h"

#include <stdio.h>
#include <stdlib.h>

/* Adds [lo, hi) of mem to the regions, merging with the one of the same buffer. */
static void add_region(gemm_mapped *m, cl_mem mem, size_t lo, size_t hi, cl_map_flags flags) {
  if (hi <= lo) return;
  for (int i = 0; i < m->n; i++) {
    if (m->r[i].mem == mem) {
      if (lo < m->r[i].lo) m->r[i].lo = lo;
      if (hi > m->r[i].hi) m->r[i].hi = hi;
      m->r[i].flags |= flags;
      return;
    }
  }
  m->r[m->n].mem = mem;
  m->r[m->n].lo = lo;
  m->r[m->n].hi = hi;
  m->r[m->n].flags = flags;
  m->r[m->n].ptr = NULL;
  m->r[m->n].kept = 0;
  m->n++;
}

/* The mapped address of t's first element, or NULL. */
static float *region_ptr(const gemm_mapped *m, const clippo_tensor *t) {
  for (int i = 0; i < m->n; i++)
    if (m->r[i].mem == t->mem && m->r[i].ptr) return m->r[i].ptr + (t->offset - m->r[i].lo);
  return NULL;
}

/* gemm_map, or with queued set every map non-blocking (gemm_host_enqueue: what reads the
 * pointers is itself a command of the queue, after the maps). */
static clippo_status map_operands(clippo_rt *rt, const gemm_call *g, const char *who, int queued,
                                  gemm_mapped *m, clippo_error *err) {
  size_t ar = g->ta ? g->k : g->m, ac = g->ta ? g->m : g->k;
  size_t br = g->tb ? g->n : g->k, bc = g->tb ? g->k : g->n;
  m->n = 0;
  m->a = m->b = m->c = NULL;
  m->bias = NULL;
  m->act_out = NULL;
  add_region(m, g->c->mem, g->c->offset,
             g->c->offset + gemm_extent(g->m, g->n, g->ldc, g->sc, g->batch),
             CL_MAP_READ | CL_MAP_WRITE);
  if (g->k) {
    add_region(m, g->a->mem, g->a->offset,
               g->a->offset + gemm_extent(ar, ac, g->lda, g->sa, g->batch), CL_MAP_READ);
    add_region(m, g->b->mem, g->b->offset,
               g->b->offset + gemm_extent(br, bc, g->ldb, g->sb, g->batch), CL_MAP_READ);
  }
  if (g->bias) add_region(m, g->bias->mem, g->bias->offset, g->bias->offset + g->n, CL_MAP_READ);
  if (g->act_out)
    add_region(m, g->act_out->mem, g->act_out->offset,
               g->act_out->offset + gemm_extent(g->m, g->n, g->ldc, 0, 1), CL_MAP_WRITE);
  clippo_status st = CLIPPO_OK;
  /* A blocking map waits for earlier commands only on an in-order queue. */
  cl_command_queue_properties qp = 0;
  int in_order =
      clGetCommandQueueInfo(rt->queue, CL_QUEUE_PROPERTIES, sizeof qp, &qp, NULL) == CL_SUCCESS &&
      !(qp & CL_QUEUE_OUT_OF_ORDER_EXEC_MODE_ENABLE);
  if (!in_order && (st = clippo_cl_check(rt, clFinish(rt->queue), "clFinish", err)))
    return clippo_error_prefix(err, "%s", who);
  /* Regions only read from a declared buffer use its lasting map. */
  int last = -1; /* the last region mapped here */
  for (int i = 0; i < m->n; i++) {
    float *base = m->r[i].flags == CL_MAP_READ ? gemm_weights_map(rt, m->r[i].mem) : NULL;
    if (base) {
      m->r[i].ptr = base + m->r[i].lo;
      m->r[i].kept = 1;
    } else {
      last = i;
    }
  }
  for (int i = 0; i < m->n && !st; i++) {
    if (m->r[i].kept) continue;
    cl_int rc = CL_SUCCESS;
    cl_bool blocking = !queued && (!in_order || i == last) ? CL_TRUE : CL_FALSE;
    m->r[i].ptr = clEnqueueMapBuffer(rt->queue, m->r[i].mem, blocking, m->r[i].flags,
                                     m->r[i].lo * sizeof(float),
                                     (m->r[i].hi - m->r[i].lo) * sizeof(float), 0, NULL, NULL, &rc);
    if (rc != CL_SUCCESS || !m->r[i].ptr) {
      m->r[i].ptr = NULL;
      st = clippo_cl_check(rt, rc != CL_SUCCESS ? rc : CL_INVALID_VALUE, "clEnqueueMapBuffer", err);
      clippo_error_prefix(err, "%s", who);
    }
  }
  if (st) return gemm_unmap(rt, m, st, who, err);
  m->c = region_ptr(m, g->c);
  if (g->k) {
    m->a = region_ptr(m, g->a);
    m->b = region_ptr(m, g->b);
  }
  if (g->bias) m->bias = region_ptr(m, g->bias);
  if (g->act_out) m->act_out = region_ptr(m, g->act_out);
  return CLIPPO_OK;
}

clippo_status gemm_map(clippo_rt *rt, const gemm_call *g, const char *who, gemm_mapped *m,
                       clippo_error *err) {
  return map_operands(rt, g, who, 0, m, err);
}

clippo_status gemm_unmap(clippo_rt *rt, gemm_mapped *m, clippo_status st, const char *who,
                         clippo_error *err) {
  for (int i = 0; i < m->n; i++) {
    if (!m->r[i].ptr || m->r[i].kept) continue;
    cl_int rc = clEnqueueUnmapMemObject(rt->queue, m->r[i].mem, m->r[i].ptr, 0, NULL, NULL);
    m->r[i].ptr = NULL;
    if (rc != CL_SUCCESS && !st) {
      st = clippo_cl_check(rt, rc, "clEnqueueUnmapMemObject", err);
      clippo_error_prefix(err, "%s", who);
    }
  }
  m->n = 0;
  m->a = m->b = m->c = NULL;
  m->bias = NULL;
  m->act_out = NULL;
  return st;
}

/* ---- products as commands of the queue (native kernels) ------------------------------------ */

/* A product queued by gemm_host_enqueue, owned by its native kernel (which frees it). The tensors
 * are copies (the caller's may be gone when it runs); mp holds the operands' addresses, mapped by
 * non-blocking maps queued before the job and unmapped after it. The buffers are not handed to the
 * driver as the native kernel's memory objects: PoCL 3.1 puts their addresses at the wrong places
 * when there are several (each location gets the next object's). */
typedef struct host_job {
  clippo_rt *rt;
  gemm_host_fn fn;
  int arg, fail_at;
  const char *who;
  gemm_call g;
  clippo_tensor a, b, c, bias, act_out;
  gemm_mapped mp;
  int epi_done;
} host_job;

int gemm_host_async(const clippo_rt *rt) {
  if (!rt->info.native_kernels || !rt->info.host_unified || !rt->queue) return 0;
  cl_command_queue_properties qp = 0;
  return clGetCommandQueueInfo(rt->queue, CL_QUEUE_PROPERTIES, sizeof qp, &qp, NULL) ==
             CL_SUCCESS &&
         !(qp & CL_QUEUE_OUT_OF_ORDER_EXEC_MODE_ENABLE);
}

void gemm_host_wait(const clippo_rt *rt) {
  if (rt && rt->queue && rt->info.native_kernels) clFinish(rt->queue);
}

void gemm_host_finish(clippo_rt *rt, const gemm_call *g, const gemm_mapped *mp, const char *who,
                      int queued, int product_done, const clippo_error *e) {
  const char *rest = "the plain loop applied the epilogue";
  clippo_error be;
  clippo_error_clear(&be);
  clippo_status bs = CLIPPO_OK;
  if (!product_done) {
    rest = g->epi_done ? "the host BLAS computed the product, the plain loop its epilogue"
                       : "the host BLAS computed the product";
    bs = gemm_hostblas_product(g, mp->a, mp->b, mp->c, &be);
  }
  if (bs == CLIPPO_OK && g->epi_done && !*g->epi_done) {
    gemm_epilogue_host(g, mp);
    *g->epi_done = 1;
  }
  const char *how = queued ? "queued for" : "by";
  char what[1024];
  if (bs == CLIPPO_OK)
    snprintf(what, sizeof what, "gemm %zux%zux%zu (batch %zu) %s %s: %.500s; %s", g->m, g->n, g->k,
             g->batch, how, who, e->msg, rest);
  else
    snprintf(what, sizeof what,
             "gemm %zux%zux%zu (batch %zu) %s %s: %.400s; then the host BLAS: %.400s; C is not "
             "the product",
             g->m, g->n, g->k, g->batch, how, who, e->msg, be.msg);
  gemm_note_fallback(rt, what);
}

/* Runs a queued product on the device's thread; what fails is finished on the host. */
static void CL_CALLBACK run_job(void *p) {
  host_job *j = *(host_job **)p;
  int product_done = 0;
  clippo_error e;
  clippo_error_clear(&e);
  if (j->fn(j->rt, j->arg, j->fail_at, &j->g, &j->mp, &product_done, &e) != CLIPPO_OK)
    gemm_host_finish(j->rt, &j->g, &j->mp, j->who, 1, product_done, &e);
  free(j);
}

/* Copies t into *copy; NULL stays NULL. */
static const clippo_tensor *keep(const clippo_tensor *t, clippo_tensor *copy) {
  if (!t) return NULL;
  *copy = *t;
  copy->owner = 0;
  return copy;
}

clippo_status gemm_host_enqueue(clippo_rt *rt, const gemm_call *g, const char *who, gemm_host_fn fn,
                                int arg, int fail_at, clippo_error *err) {
  host_job *j = calloc(1, sizeof *j);
  if (!j) return clippo_fail(err, CLIPPO_E_NOMEM, "%s: out of host memory (queued product)", who);
  j->rt = rt;
  j->fn = fn;
  j->arg = arg;
  j->fail_at = fail_at;
  j->who = who;
  j->g = *g;
  j->g.c = (clippo_tensor *)keep(g->c, &j->c);
  j->g.a = keep(g->a, &j->a);
  j->g.b = keep(g->b, &j->b);
  j->g.bias = keep(g->bias, &j->bias);
  j->g.act_out = (clippo_tensor *)keep(g->act_out, &j->act_out);
  j->g.epi_done = g->epi_done ? &j->epi_done : NULL;
  gemm_mapped mp;
  clippo_status st = map_operands(rt, &j->g, who, 1, &mp, err);
  if (st) {
    free(j);
    return st;
  }
  j->mp = mp;
  cl_int rc = clEnqueueNativeKernel(rt->queue, run_job, &j, sizeof j, 0, NULL, NULL, 0, NULL, NULL);
  if (rc != CL_SUCCESS) {
    free(j);
    st = clippo_cl_check(rt, rc, "clEnqueueNativeKernel", err);
    clippo_error_prefix(err, "%s", who);
    return gemm_unmap(rt, &mp, st, who, err);
  }
  if (g->epi_done) *g->epi_done = 1;
  return gemm_unmap(rt, &mp, CLIPPO_OK, who, err);
}
