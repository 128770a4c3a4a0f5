/* The GEMM interface: argument checks, the provider table, and the one place that decides which
 * provider runs a product (forced, the record, the device type's default) and what happens when
 * it fails (the next providers of the table take over what is left of the product). */
#include "gemm_internal.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

double gemm_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* The providers, in the order a failed product falls through them: the project's kernel (it
 * needs nothing but OpenCL), the host BLAS, oneDNN, CLBlast. */
static const gemm_provider *const table[] = {&gemm_provider_kernel, &gemm_provider_hostblas,
                                             &gemm_provider_onednn, &gemm_provider_clblast};
#define NTABLE (sizeof table / sizeof table[0])

/* The entry of a provider id, or NULL (CLIPPO_GEMM_AUTO, out of range). */
static const gemm_provider *provider_of(clippo_gemm_provider id) {
  for (size_t i = 0; i < NTABLE; i++)
    if (table[i]->id == id) return table[i];
  return NULL;
}

const char *clippo_gemm_provider_name(clippo_gemm_provider p) {
  if (p == CLIPPO_GEMM_AUTO) return "auto";
  const gemm_provider *e = provider_of(p);
  return e ? e->name : "?";
}

clippo_status clippo_gemm_provider_parse(const char *name, clippo_gemm_provider *out,
                                         clippo_error *err) {
  if (name && !strcasecmp(name, "auto")) {
    *out = CLIPPO_GEMM_AUTO;
    return CLIPPO_OK;
  }
  for (size_t i = 0; i < NTABLE; i++) {
    if (name && !strcasecmp(name, table[i]->name)) {
      *out = table[i]->id;
      return CLIPPO_OK;
    }
  }
  char names[128] = "auto";
  for (size_t i = 0; i < NTABLE; i++) {
    size_t used = strlen(names);
    snprintf(names + used, sizeof names - used, "%s%s", i + 1 < NTABLE ? ", " : " or ",
             table[i]->name);
  }
  return clippo_fail(err, CLIPPO_E_ARG, "unknown GEMM provider '%s' (expected %s)",
                     name ? name : "(null)", names);
}

int clippo_gemm_provider_available(const clippo_rt *rt, clippo_gemm_provider p) {
  const gemm_provider *e = provider_of(p);
  return e && e->available(rt);
}
void clippo_gemm_shape_class(int trans_a, int trans_b, size_t m, size_t n, size_t k, size_t batch,
                             char out[CLIPPO_GEMM_CLASS_LEN]) {
  /* Work in double: the product of four sizes may overflow size_t. */
  double macs = (double)m * (double)n * (double)k * (double)(batch ? batch : 1);
  snprintf(out, CLIPPO_GEMM_CLASS_LEN, "%s_%c%c_%c", batch > 1 ? "bat" : "mat", trans_a ? 't' : 'n',
           trans_b ? 't' : 'n', macs < 16777216.0 ? 's' : 'l');
}

size_t gemm_extent(size_t rows, size_t cols, size_t ld, size_t stride, size_t batch) {
  if (rows == 0 || cols == 0 || batch == 0) return 0;
  size_t e = cols;
  if (rows > 1) {
    if (ld > (SIZE_MAX - e) / (rows - 1)) return SIZE_MAX;
    e += (rows - 1) * ld;
  }
  if (batch > 1) {
    if (stride != 0 && stride > (SIZE_MAX - e) / (batch - 1)) return SIZE_MAX;
    e += (batch - 1) * stride;
  }
  return e;
}

/* Checks that one matrix operand lies inside its buffer. */
static clippo_status check_operand(clippo_rt *rt, const char *which, const clippo_tensor *t,
                                   size_t rows, size_t cols, size_t ld, size_t stride, size_t batch,
                                   clippo_error *err) {
  if (!t || !t->mem) return clippo_fail(err, CLIPPO_E_ARG, "gemm: matrix %s has no buffer", which);
  if (t->dtype != CLIPPO_F32)
    return clippo_fail(err, CLIPPO_E_SHAPE, "gemm: matrix %s is %s, expected float32", which,
                       clippo_dtype_name(t->dtype));
  if (ld < cols || ld == 0)
    return clippo_fail(err, CLIPPO_E_ARG,
                       "gemm: leading dimension of %s is %zu, less than max(1, its %zu columns)",
                       which, ld, cols);
  size_t ext = gemm_extent(rows, cols, ld, stride, batch);
  if (ext == 0) return CLIPPO_OK;
  size_t bytes = 0;
  cl_int rc = clGetMemObjectInfo(t->mem, CL_MEM_SIZE, sizeof bytes, &bytes, NULL);
  if (rc != CL_SUCCESS) {
    clippo_cl_check(rt, rc, "clGetMemObjectInfo(CL_MEM_SIZE)", err);
    return clippo_error_prefix(err, "gemm: matrix %s", which);
  }
  size_t have = bytes / sizeof(float);
  if (ext == SIZE_MAX || t->offset > have || ext > have - t->offset)
    return clippo_fail(err, CLIPPO_E_SHAPE,
                       "gemm: matrix %s (%zu x %zu, leading dimension %zu, batch %zu, stride %zu, "
                       "view offset %zu) reaches past the end of its buffer of %zu floats",
                       which, rows, cols, ld, batch, stride, t->offset, have);
  return CLIPPO_OK;
}

/* 1 when [x, x + nx) and [y, y + ny) (in floats from each view's offset) share a buffer and meet.
 */
static int spans_overlap(const clippo_tensor *x, size_t nx, const clippo_tensor *y, size_t ny) {
  if (x->mem != y->mem || nx == 0 || ny == 0) return 0;
  return x->offset < y->offset + ny && y->offset < x->offset + nx;
}

clippo_status gemm_validate(clippo_rt *rt, const gemm_call *g, int *empty, clippo_error *err) {
  *empty = 0;
  if (!rt) return clippo_fail(err, CLIPPO_E_ARG, "gemm: no runtime");
  size_t ar = g->ta ? g->k : g->m, ac = g->ta ? g->m : g->k;
  size_t br = g->tb ? g->n : g->k, bc = g->tb ? g->k : g->n;
  clippo_status st;
  if ((st = check_operand(rt, "C", g->c, g->m, g->n, g->ldc, g->sc, g->batch, err))) return st;
  if (g->batch > 1 && g->m > 0 && g->n > 0 && g->sc < gemm_extent(g->m, g->n, g->ldc, 0, 1))
    return clippo_fail(err, CLIPPO_E_ARG,
                       "gemm: batch stride of C (%zu) is smaller than one %zu x %zu matrix with "
                       "leading dimension %zu: the products would overwrite each other",
                       g->sc, g->m, g->n, g->ldc);
  /* A and B are only read when k > 0; their leading dimensions are still checked. */
  size_t kk = g->k ? g->batch : 0;
  if ((st = check_operand(rt, "A", g->a, ar, ac, g->lda, g->sa, kk, err))) return st;
  if ((st = check_operand(rt, "B", g->b, br, bc, g->ldb, g->sb, kk, err))) return st;
  if (gemm_has_epilogue(g)) {
    if (g->act != CLIPPO_GEMM_ACT_NONE && g->act != CLIPPO_GEMM_ACT_GELU &&
        g->act != CLIPPO_GEMM_ACT_SOFTMAX)
      return clippo_fail(err, CLIPPO_E_ARG, "gemm: unknown epilogue activation %d", (int)g->act);
    if ((g->batch != 1 || g->act == CLIPPO_GEMM_ACT_SOFTMAX) && (g->bias || g->act_out))
      return clippo_fail(err, CLIPPO_E_ARG,
                         "gemm: a bias or act_out needs a single product (batch 1) and no softmax");
    size_t cext = gemm_extent(g->m, g->n, g->ldc, 0, 1);
    if (g->bias) {
      if ((st = check_operand(rt, "bias", g->bias, 1, g->n, g->n, 0, 1, err))) return st;
      if (spans_overlap(g->bias, g->n, g->c, cext))
        return clippo_fail(err, CLIPPO_E_ARG, "gemm: the epilogue's bias overlaps C");
    }
    if (g->act_out) {
      if ((st = check_operand(rt, "act_out", g->act_out, g->m, g->n, g->ldc, 0, 1, err))) return st;
      if (spans_overlap(g->act_out, cext, g->c, cext) ||
          (g->bias && spans_overlap(g->act_out, cext, g->bias, g->n)))
        return clippo_fail(err, CLIPPO_E_ARG,
                           "gemm: the epilogue's act_out overlaps C or the bias");
    }
  }
  if (g->m == 0 || g->n == 0 || g->batch == 0) *empty = 1;
  return CLIPPO_OK;
}

/* The default before tuning. On host-unified CPUs oneDNN when the build has it: it picks its
 * kernels from the CPU's feature flags and runs on the host team (host_team.c), and it measured
 * ahead of OpenBLAS even where OpenBLAS's table knows the CPU (2-vCPU Xeon with AVX-512 that
 * OpenBLAS 0.3.21 runs as SkylakeX: B/16 batch 1 +38 %, batch 8 +12 %, the training step +30 %,
 * the default model's Fashion-MNIST evaluation -19 % time; bench/results/onednn-default-*.md).
 * Without oneDNN the host BLAS; CLBlast on GPUs/accelerators. */
static clippo_gemm_provider default_provider(const clippo_rt *rt) {
  if ((rt->info.type & CL_DEVICE_TYPE_CPU) && rt->info.host_unified)
    return gemm_provider_onednn.available(rt) ? CLIPPO_GEMM_ONEDNN : CLIPPO_GEMM_HOSTBLAS;
  if (rt->info.type & (CL_DEVICE_TYPE_GPU | CL_DEVICE_TYPE_ACCELERATOR)) return CLIPPO_GEMM_CLBLAST;
  return CLIPPO_GEMM_KERNEL;
}

/* The record entry that best stands for a class: itself, then the same kind ("mat"/"bat") and
 * size with no transposes, then the same kind and size, then the same kind. */
static const gemm_record_entry *record_lookup(const clippo_rt *rt, const gemm_record *rec,
                                              const char *cls) {
  const gemm_record_entry *e = gemm_record_find(rec, cls);
  if (e && clippo_gemm_provider_available(rt, e->provider)) return e;
  char nn[CLIPPO_GEMM_CLASS_LEN];
  snprintf(nn, sizeof nn, "%.3s_nn_%c", cls, cls[7]);
  e = gemm_record_find(rec, nn);
  if (e && clippo_gemm_provider_available(rt, e->provider)) return e;
  for (int pass = 0; pass < 2; pass++) {
    for (size_t i = 0; i < rec->n; i++) {
      const gemm_record_entry *x = &rec->e[i];
      if (strncmp(x->shape_class, cls, 3) != 0) continue;
      if (pass == 0 && x->shape_class[7] != cls[7]) continue;
      if (clippo_gemm_provider_available(rt, x->provider)) return x;
    }
  }
  return NULL;
}

/* Which providers run a product, in order: the choice, then (unless it was forced) the fallbacks.
 */
typedef struct gemm_plan {
  clippo_gemm_choice choice;
  const gemm_provider *order[NTABLE];
  size_t n;
  int declared; /* GEMM_DECLARED_BLOCKED, or the record's choice for the class */
} gemm_plan;

/* THE decision for a product of this shape: the provider `want` when the caller names one, else
 * the one settings.gemm (env CLIPPO_GEMM) forces, else the record's for the shape class, else the
 * device type's default; forced providers get no fallback, the others the rest of the table.
 * half: float16 arithmetic, which only providers with run_half have (the record, measured in
 * float32, does not apply). cfg: kernel tiles overriding the record's (NULL: none). */
static clippo_status plan(clippo_rt *rt, int ta, int tb, size_t m, size_t n, size_t k, size_t batch,
                          clippo_gemm_provider want, const clippo_gemm_kernel_cfg *cfg, int half,
                          gemm_plan *out, clippo_error *err) {
  memset(out, 0, sizeof *out);
  clippo_gemm_choice *ch = &out->choice;
  clippo_gemm_shape_class(ta, tb, m, n, k, batch, ch->shape_class);
  const gemm_record *rec = NULL;
  clippo_status st = gemm_record_current(rt, &rec, err); /* creates the GEMM state */
  if (st) return st;
  ch->kernel = gemm_kernel_default_cfg(rt, ta);
  const char *forced_by = want != CLIPPO_GEMM_AUTO ? "the caller" : NULL;
  if (!forced_by && rt->settings.gemm[0]) {
    if (clippo_gemm_provider_parse(rt->settings.gemm, &want, err) != CLIPPO_OK)
      return clippo_error_prefix(err, "env CLIPPO_GEMM");
    if (want != CLIPPO_GEMM_AUTO) forced_by = "env CLIPPO_GEMM";
  }
  const gemm_record_entry *e = rec ? record_lookup(rt, rec, ch->shape_class) : NULL;
  out->declared = e && e->declared ? e->declared : GEMM_DECLARED_BLOCKED;
  ch->declared_direct = out->declared == GEMM_DECLARED_DIRECT;
  if (e && e->kernel.tm) {
    ch->kernel = e->kernel;
    gemm_kernel_cfg_complete(rt, ta, &ch->kernel);
  }
  if (cfg) {
    ch->kernel = *cfg;
    if (!gemm_kernel_cfg_complete(rt, ta, &ch->kernel))
      return clippo_fail(err, CLIPPO_E_ARG,
                         "gemm: invalid kernel tile configuration %dx%dx%d/%dx%d/%d", cfg->tm,
                         cfg->vw, cfg->nv, cfg->lx, cfg->ly, cfg->kc);
  }
  if (forced_by) {
    const gemm_provider *p = provider_of(want);
    if (!p || !p->available(rt))
      return clippo_fail(err, CLIPPO_E_UNSUPPORTED,
                         "%s asks for GEMM provider %s, which cannot run on device '%s'%s",
                         forced_by, clippo_gemm_provider_name(want), rt->info.name,
                         want == CLIPPO_GEMM_HOSTBLAS ? " (it needs host-unified memory)"
                         : want != CLIPPO_GEMM_ONEDNN ? ""
                         : clippo_gemm_onednn_built()
                             ? " (it needs a CPU device sharing the host's memory)"
                             : " (this build has no oneDNN: libdnnl-dev was missing or "
                               "CLIPPO_ONEDNN=OFF)");
    if (half && !p->run_half)
      return clippo_fail(err, CLIPPO_E_UNSUPPORTED,
                         "%s asks for GEMM provider %s, which has no float16 arithmetic (precision "
                         "fp16); use fp16-emulated or another provider",
                         forced_by, p->name);
    ch->provider = want;
    snprintf(ch->source, sizeof ch->source, "%s", forced_by);
    out->order[out->n++] = p;
    return CLIPPO_OK;
  }
  if (half) {
    snprintf(ch->source, sizeof ch->source, "float16 arithmetic");
  } else if (e) {
    ch->provider = e->provider;
    if (!strcmp(e->shape_class, ch->shape_class))
      snprintf(ch->source, sizeof ch->source, "record");
    else
      snprintf(ch->source, sizeof ch->source, "record (class %s)", e->shape_class);
  } else {
    ch->provider = default_provider(rt);
    snprintf(ch->source, sizeof ch->source, "default");
  }
  const gemm_provider *first = provider_of(ch->provider);
  if (first && first->available(rt)) out->order[out->n++] = first;
  for (size_t i = 0; i < NTABLE; i++)
    if (table[i] != first && table[i]->available(rt) && (!half || table[i]->run_half))
      out->order[out->n++] = table[i];
  if (out->n == 0)
    return clippo_fail(err, CLIPPO_E_UNSUPPORTED, "no GEMM provider%s can run on device '%s'",
                       half ? " with float16 arithmetic" : "", rt->info.name);
  ch->provider = out->order[0]->id;
  return CLIPPO_OK;
}

clippo_status clippo_gemm_choose(clippo_rt *rt, int trans_a, int trans_b, size_t m, size_t n,
                                 size_t k, size_t batch, clippo_gemm_choice *out,
                                 clippo_error *err) {
  gemm_plan p;
  memset(out, 0, sizeof *out);
  if (!rt) return clippo_fail(err, CLIPPO_E_ARG, "gemm: no runtime");
  clippo_status st = plan(rt, trans_a, trans_b, m, n, k, batch, CLIPPO_GEMM_AUTO, NULL,
                          rt->precision == CLIPPO_PRECISION_FP16, &p, err);
  if (st == CLIPPO_OK) *out = p.choice;
  if (st == CLIPPO_OK && gemm_precision_onednn(rt->precision) && k > 0) {
    /* bfloat16 and int8 products go through oneDNN (host/gemm/precision.c). */
    out->provider = CLIPPO_GEMM_ONEDNN;
    snprintf(out->source, sizeof out->source, "precision %s", clippo_precision_name(rt->precision));
  }
  return st;
}

/* What is left of g after its first k_done steps of depth were added into C: the rest of A's
 * columns and B's rows (views av, bv of the same buffers), added to C with beta 1. */
static gemm_call rest_of(const gemm_call *g, size_t k_done, clippo_tensor *av, clippo_tensor *bv) {
  gemm_call r = *g;
  *av = *g->a;
  *bv = *g->b;
  av->owner = bv->owner = 0;
  av->offset += g->ta ? k_done * g->lda : k_done;
  bv->offset += g->tb ? k_done : k_done * g->ldb;
  r.a = av;
  r.b = bv;
  r.k = g->k - k_done;
  r.beta = 1.0f;
  return r;
}

clippo_status gemm_run_validated(clippo_rt *rt, clippo_gemm_provider want,
                                 const clippo_gemm_kernel_cfg *cfg, int half, const gemm_call *g,
                                 clippo_error *err) {
  gemm_plan p;
  clippo_status st = plan(rt, g->ta, g->tb, g->m, g->n, g->k, g->batch, want, cfg, half, &p, err);
  if (st) return st;
  gemm_call base = *g;
  if (base.declared == GEMM_DECLARED_AUTO) base.declared = p.declared;
  g = &base;
  gemm_call cur = base;
  clippo_tensor av, bv;
  size_t done = 0; /* depth already in C */
  char msgs[CLIPPO_ERROR_MSG] = "";
  clippo_error e;
  for (size_t i = 0; i < p.n; i++) {
    const gemm_provider *pv = p.order[i];
    size_t k_done = 0;
    clippo_error_clear(&e);
    if (cur.epi_done) *cur.epi_done = 0; /* a failed provider's epilogue does not count */
    st = half ? pv->run_half(rt, &cur, &e) : pv->run(rt, &cur, &p.choice.kernel, &k_done, &e);
    if (st == CLIPPO_OK) {
      if (i > 0) {
        char what[1024];
        snprintf(what, sizeof what, "gemm %zux%zux%zu (batch %zu): %.600s; %s computed the rest",
                 g->m, g->n, g->k, g->batch, msgs, pv->name);
        gemm_note_fallback(rt, what);
      }
      return CLIPPO_OK;
    }
    /* Bad arguments are the caller's, and a forced provider's failure is final. */
    if (st == CLIPPO_E_ARG || st == CLIPPO_E_SHAPE || p.n == 1) {
      if (err) *err = e;
      return st;
    }
    size_t used = strlen(msgs);
    snprintf(msgs + used, sizeof msgs - used, "%s%s failed%s: %.900s", i ? "; then " : "", pv->name,
             k_done ? " part-way" : "", e.msg);
    if (k_done > 0 && k_done < cur.k) {
      done += k_done;
      cur = rest_of(g, done, &av, &bv);
    }
  }
  return clippo_fail(err, st,
                     "gemm %zux%zux%zu (batch %zu) failed with every provider on device '%s': "
                     "%.3500s",
                     g->m, g->n, g->k, g->batch, rt->info.name, msgs);
}

/* Every public entry point: a graph being recorded takes the call as a step; else the call is
 * checked and run in float32 or, when the runtime asks for it and there is something to multiply
 * (k == 0 leaves C = beta * C in float32), in reduced precision. */
static clippo_status gemm_dispatch(clippo_rt *rt, clippo_gemm_provider want,
                                   const clippo_gemm_kernel_cfg *cfg, const gemm_call *g,
                                   clippo_error *err) {
  if (!rt) return clippo_fail(err, CLIPPO_E_ARG, "gemm: no runtime");
  if (rt->recording) return gemm_graph_record(rt, want, cfg, g, err);
  int empty = 0;
  clippo_status st = gemm_validate(rt, g, &empty, err);
  if (st || empty) return st;
  gemm_call call = *g;
  int done = 0;
  call.epi_done = gemm_has_epilogue(g) ? &done : NULL;
  if (rt->precision != CLIPPO_PRECISION_FP32 && g->k > 0)
    st = gemm_run_reduced(rt, want, &call, err);
  else
    st = gemm_run_validated(rt, want, cfg, 0, &call, err);
  /* A provider that could not apply the epilogue left C as the product: apply it now. */
  if (st == CLIPPO_OK && call.epi_done && !done) st = gemm_epilogue_mapped(rt, &call, err);
  return st;
}

clippo_status gemm_dispatch_call(clippo_rt *rt, clippo_gemm_provider want,
                                 const clippo_gemm_kernel_cfg *cfg, const gemm_call *g,
                                 clippo_error *err) {
  return gemm_dispatch(rt, want, cfg, g, err);
}

clippo_status clippo_gemm_fused(clippo_rt *rt, int trans_a, int trans_b, size_t m, size_t n,
                                size_t k, float alpha, const clippo_tensor *a, size_t lda,
                                const clippo_tensor *b, size_t ldb, float beta, clippo_tensor *c,
                                size_t ldc, const clippo_tensor *bias, clippo_gemm_act act,
                                clippo_tensor *act_out, clippo_error *err) {
  gemm_call g =
      gemm_call_of(trans_a, trans_b, m, n, k, alpha, a, lda, 0, b, ldb, 0, beta, c, ldc, 0, 1);
  g.bias = bias;
  g.act = act;
  g.act_out = act_out;
  return gemm_dispatch(rt, CLIPPO_GEMM_AUTO, NULL, &g, err);
}

int clippo_gemm_fuses_epilogue(clippo_rt *rt, int trans_a, int trans_b, size_t m, size_t n,
                               size_t k, size_t batch) {
  clippo_gemm_choice ch;
  if (!rt || batch == 0 ||
      clippo_gemm_choose(rt, trans_a, trans_b, m, n, k, batch, &ch, NULL) != CLIPPO_OK)
    return 0;
  /* float16 products on the host would map C afterwards (host/gemm/precision.c). */
  return ch.provider == CLIPPO_GEMM_ONEDNN && rt->precision != CLIPPO_PRECISION_FP16;
}

clippo_status clippo_gemm_batched_fused(clippo_rt *rt, int trans_a, int trans_b, size_t m, size_t n,
                                        size_t k, float alpha, const clippo_tensor *a, size_t lda,
                                        size_t stride_a, const clippo_tensor *b, size_t ldb,
                                        size_t stride_b, float beta, clippo_tensor *c, size_t ldc,
                                        size_t stride_c, size_t batch, clippo_gemm_act act,
                                        clippo_error *err) {
  gemm_call g = gemm_call_of(trans_a, trans_b, m, n, k, alpha, a, lda, stride_a, b, ldb, stride_b,
                             beta, c, ldc, stride_c, batch);
  g.act = act;
  return gemm_dispatch(rt, CLIPPO_GEMM_AUTO, NULL, &g, err);
}

clippo_status clippo_gemm_with(clippo_rt *rt, clippo_gemm_provider provider,
                               const clippo_gemm_kernel_cfg *cfg, int trans_a, int trans_b,
                               size_t m, size_t n, size_t k, float alpha, const clippo_tensor *a,
                               size_t lda, size_t stride_a, const clippo_tensor *b, size_t ldb,
                               size_t stride_b, float beta, clippo_tensor *c, size_t ldc,
                               size_t stride_c, size_t batch, clippo_error *err) {
  gemm_call g = gemm_call_of(trans_a, trans_b, m, n, k, alpha, a, lda, stride_a, b, ldb, stride_b,
                             beta, c, ldc, stride_c, batch);
  return gemm_dispatch(rt, provider, cfg, &g, err);
}

clippo_status clippo_gemm_declare_weights(clippo_rt *rt, cl_mem mem, clippo_error *err) {
  if (!rt) return clippo_fail(err, CLIPPO_E_ARG, "gemm: no runtime");
  return gemm_weights_declare(rt, mem, err);
}

void clippo_gemm_forget_weights(clippo_rt *rt, cl_mem mem) {
  if (!rt || !gemm_weights_undeclare(rt, mem)) return;
  for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
    if (table[i]->forget_weights) table[i]->forget_weights(rt, mem);
}

clippo_status clippo_gemm(clippo_rt *rt, int trans_a, int trans_b, size_t m, size_t n, size_t k,
                          float alpha, const clippo_tensor *a, size_t lda, const clippo_tensor *b,
                          size_t ldb, float beta, clippo_tensor *c, size_t ldc, clippo_error *err) {
  gemm_call g =
      gemm_call_of(trans_a, trans_b, m, n, k, alpha, a, lda, 0, b, ldb, 0, beta, c, ldc, 0, 1);
  return gemm_dispatch(rt, CLIPPO_GEMM_AUTO, NULL, &g, err);
}

clippo_status clippo_gemm_batched(clippo_rt *rt, int trans_a, int trans_b, size_t m, size_t n,
                                  size_t k, float alpha, const clippo_tensor *a, size_t lda,
                                  size_t stride_a, const clippo_tensor *b, size_t ldb,
                                  size_t stride_b, float beta, clippo_tensor *c, size_t ldc,
                                  size_t stride_c, size_t batch, clippo_error *err) {
  gemm_call g = gemm_call_of(trans_a, trans_b, m, n, k, alpha, a, lda, stride_a, b, ldb, stride_b,
                             beta, c, ldc, stride_c, batch);
  return gemm_dispatch(rt, CLIPPO_GEMM_AUTO, NULL, &g, err);
}
