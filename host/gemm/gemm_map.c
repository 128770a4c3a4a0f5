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
 * +5 %). */
#include "gemm_internal.h"

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

clippo_status gemm_map(clippo_rt *rt, const gemm_call *g, const char *who, gemm_mapped *m,
                       clippo_error *err) {
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
    cl_bool blocking = !in_order || i == last ? CL_TRUE : CL_FALSE;
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
