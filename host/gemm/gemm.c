/* The GEMM interface: argument checks, the provider choice (env, record, default) and the
 * fallback when a provider fails. */
#include "gemm_internal.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

double gemm_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static const char *const provider_names[CLIPPO_GEMM_NPROVIDERS] = {"auto", "clblast", "hostblas",
                                                                   "kernel"};

const char *clippo_gemm_provider_name(clippo_gemm_provider p) {
  if ((int)p < 0 || (int)p >= CLIPPO_GEMM_NPROVIDERS) return "?";
  return provider_names[p];
}

clippo_status clippo_gemm_provider_parse(const char *name, clippo_gemm_provider *out,
                                         clippo_error *err) {
  for (int i = 0; i < CLIPPO_GEMM_NPROVIDERS; i++) {
    if (name && !strcasecmp(name, provider_names[i])) {
      *out = (clippo_gemm_provider)i;
      return CLIPPO_OK;
    }
  }
  return clippo_fail(err, CLIPPO_E_ARG,
                     "unknown GEMM provider '%s' (expected auto, clblast, hostblas or kernel)",
                     name ? name : "(null)");
}

int clippo_gemm_provider_available(const clippo_rt *rt, clippo_gemm_provider p) {
  switch (p) {
  case CLIPPO_GEMM_CLBLAST: return 1;
  case CLIPPO_GEMM_HOSTBLAS: return rt->info.host_unified != 0;
  case CLIPPO_GEMM_KERNEL: return 1;
  default: return 0;
  }
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
  if (g->m == 0 || g->n == 0 || g->batch == 0) *empty = 1;
  return CLIPPO_OK;
}

void clippo_gemm_record_path(const clippo_rt *rt, char *out, size_t size) {
  const char *env = getenv("CLIPPO_GEMM_RECORD");
  if (env && *env) {
    snprintf(out, size, "%s", env);
    return;
  }
  if (!rt->cache_dir[0]) {
    if (size) out[0] = '\0';
    return;
  }
  /* FNV-1a over what identifies the device and its compiler. */
  const char *parts[5] = {rt->info.platform, rt->info.name, rt->info.vendor, rt->info.version,
                          rt->info.driver};
  unsigned long long h = 1469598103934665603ull;
  for (int i = 0; i < 5; i++) {
    for (const unsigned char *p = (const unsigned char *)parts[i]; *p; p++) {
      h ^= *p;
      h *= 1099511628211ull;
    }
    h ^= 0xff;
    h *= 1099511628211ull;
  }
  snprintf(out, size, "%s/gemm-%016llx.txt", rt->cache_dir, h);
}

/* The default before tuning: host BLAS on host-unified CPUs, CLBlast on GPUs/accelerators. */
static clippo_gemm_provider default_provider(const clippo_rt *rt) {
  if ((rt->info.type & CL_DEVICE_TYPE_CPU) && rt->info.host_unified) return CLIPPO_GEMM_HOSTBLAS;
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

clippo_status clippo_gemm_choose(clippo_rt *rt, int trans_a, int trans_b, size_t m, size_t n,
                                 size_t k, size_t batch, clippo_gemm_choice *out,
                                 clippo_error *err) {
  memset(out, 0, sizeof *out);
  clippo_gemm_shape_class(trans_a, trans_b, m, n, k, batch, out->shape_class);
  out->kernel = gemm_kernel_default_cfg(rt, trans_a);
  clippo_gemm_provider forced = CLIPPO_GEMM_AUTO;
  const char *env = getenv("CLIPPO_GEMM");
  if (env && *env) {
    clippo_status st = clippo_gemm_provider_parse(env, &forced, err);
    if (st) return clippo_error_prefix(err, "env CLIPPO_GEMM");
  }
  char path[1100];
  clippo_gemm_record_path(rt, path, sizeof path);
  const gemm_record_entry *e = NULL;
  gemm_record rec;
  rec.n = 0;
  if (path[0]) {
    clippo_status st = gemm_record_load(path, &rec, err);
    if (st) return st;
    e = record_lookup(rt, &rec, out->shape_class);
  }
  if (e && e->kernel.tm) {
    out->kernel = e->kernel;
    gemm_kernel_cfg_complete(rt, trans_a, &out->kernel);
  }
  if (forced != CLIPPO_GEMM_AUTO) {
    if (!clippo_gemm_provider_available(rt, forced))
      return clippo_fail(err, CLIPPO_E_UNSUPPORTED,
                         "env CLIPPO_GEMM=%s: that provider cannot run on device '%s' (host BLAS "
                         "needs a device with host-unified memory)",
                         env, rt->info.name);
    out->provider = forced;
    snprintf(out->source, sizeof out->source, "env CLIPPO_GEMM");
  } else if (e) {
    out->provider = e->provider;
    if (!strcmp(e->shape_class, out->shape_class))
      snprintf(out->source, sizeof out->source, "record");
    else
      snprintf(out->source, sizeof out->source, "record (class %s)", e->shape_class);
  } else {
    out->provider = default_provider(rt);
    snprintf(out->source, sizeof out->source, "default");
  }
  return CLIPPO_OK;
}

clippo_status gemm_run_provider(clippo_rt *rt, clippo_gemm_provider p,
                                const clippo_gemm_kernel_cfg *cfg, const gemm_call *g,
                                clippo_error *err) {
  if (!clippo_gemm_provider_available(rt, p))
    return clippo_fail(err, CLIPPO_E_UNSUPPORTED, "gemm provider %s cannot run on device '%s'%s",
                       clippo_gemm_provider_name(p), rt->info.name,
                       p == CLIPPO_GEMM_HOSTBLAS ? " (it needs host-unified memory)" : "");
  clippo_gemm_kernel_cfg def;
  if (!cfg) {
    def = gemm_kernel_default_cfg(rt, g->ta);
    cfg = &def;
  }
  switch (p) {
  case CLIPPO_GEMM_CLBLAST:
    /* CLBlast rejects k == 0; then C = beta * C, which the kernel does. */
    if (g->k == 0) return gemm_kernel_run(rt, g, cfg, err);
    return gemm_clblast_run(rt, g, err);
  case CLIPPO_GEMM_HOSTBLAS: return gemm_hostblas_run(rt, g, err);
  case CLIPPO_GEMM_KERNEL: return gemm_kernel_run(rt, g, cfg, err);
  default: return clippo_fail(err, CLIPPO_E_ARG, "gemm: no provider given");
  }
}

clippo_status gemm_dispatch_f32(clippo_rt *rt, clippo_gemm_provider provider,
                                const clippo_gemm_kernel_cfg *cfg, const gemm_call *g,
                                clippo_error *err) {
  int empty = 0;
  if (!rt) return clippo_fail(err, CLIPPO_E_ARG, "gemm: no runtime"); /* as gemm_validate */
  clippo_status st = gemm_validate(rt, g, &empty, err);
  if (st || empty) return st;
  if (provider != CLIPPO_GEMM_AUTO) {
    clippo_gemm_kernel_cfg c;
    if (cfg) {
      c = *cfg;
      if (!gemm_kernel_cfg_complete(rt, g->ta, &c))
        return clippo_fail(err, CLIPPO_E_ARG,
                           "gemm: invalid kernel tile configuration %dx%dx%d/%dx%d/%d", cfg->tm,
                           cfg->vw, cfg->nv, cfg->lx, cfg->ly, cfg->kc);
    } else {
      clippo_gemm_choice ch;
      if ((st = clippo_gemm_choose(rt, g->ta, g->tb, g->m, g->n, g->k, g->batch, &ch, err)))
        return st;
      c = ch.kernel;
    }
    return gemm_run_provider(rt, provider, &c, g, err);
  }
  clippo_gemm_choice ch;
  if ((st = clippo_gemm_choose(rt, g->ta, g->tb, g->m, g->n, g->k, g->batch, &ch, err))) return st;
  if (cfg) {
    ch.kernel = *cfg;
    if (!gemm_kernel_cfg_complete(rt, g->ta, &ch.kernel))
      return clippo_fail(err, CLIPPO_E_ARG, "gemm: invalid kernel tile configuration");
  }
  st = gemm_run_provider(rt, ch.provider, &ch.kernel, g, err);
  if (st == CLIPPO_OK || st == CLIPPO_E_ARG || st == CLIPPO_E_SHAPE ||
      !strcmp(ch.source, "env CLIPPO_GEMM"))
    return st;
  /* The chosen provider failed: try the others, keeping every message. */
  char msgs[CLIPPO_ERROR_MSG];
  snprintf(msgs, sizeof msgs, "%s: %.2000s", clippo_gemm_provider_name(ch.provider), err->msg);
  static const clippo_gemm_provider order[] = {CLIPPO_GEMM_KERNEL, CLIPPO_GEMM_HOSTBLAS,
                                               CLIPPO_GEMM_CLBLAST};
  for (size_t i = 0; i < sizeof order / sizeof order[0]; i++) {
    clippo_gemm_provider p = order[i];
    if (p == ch.provider || !clippo_gemm_provider_available(rt, p)) continue;
    clippo_status st2 = gemm_run_provider(rt, p, &ch.kernel, g, err);
    if (st2 == CLIPPO_OK) return CLIPPO_OK;
    size_t used = strlen(msgs);
    snprintf(msgs + used, sizeof msgs - used, "; then %s: %.900s", clippo_gemm_provider_name(p),
             err->msg);
  }
  return clippo_fail(err, st,
                     "gemm %zux%zux%zu (batch %zu) failed with every provider on device "
                     "'%s': %.3500s",
                     g->m, g->n, g->k, g->batch, rt->info.name, msgs);
}

/* Every public entry point: float32, or the reduced-precision path when the runtime asks for
 * it and there is something to multiply (k == 0 leaves C = beta * C in float32). */
static clippo_status gemm_dispatch(clippo_rt *rt, clippo_gemm_provider provider,
                                   const clippo_gemm_kernel_cfg *cfg, const gemm_call *g,
                                   clippo_error *err) {
  if (rt && rt->recording) return gemm_graph_record(rt, provider, cfg, g, err);
  if (!rt || rt->precision == CLIPPO_PRECISION_FP32 || g->k == 0)
    return gemm_dispatch_f32(rt, provider, cfg, g, err);
  int empty = 0;
  clippo_status st = gemm_validate(rt, g, &empty, err);
  if (st || empty) return st;
  return gemm_run_reduced(rt, g, err);
}

clippo_status clippo_gemm_with(clippo_rt *rt, clippo_gemm_provider provider,
                               const clippo_gemm_kernel_cfg *cfg, int trans_a, int trans_b,
                               size_t m, size_t n, size_t k, float alpha, const clippo_tensor *a,
                               size_t lda, size_t stride_a, const clippo_tensor *b, size_t ldb,
                               size_t stride_b, float beta, clippo_tensor *c, size_t ldc,
                               size_t stride_c, size_t batch, clippo_error *err) {
  gemm_call g = {trans_a != 0, trans_b != 0, m,   n,        k,        alpha,    beta, a, b, c,
                 lda,          ldb,          ldc, stride_a, stride_b, stride_c, batch};
  return gemm_dispatch(rt, provider, cfg, &g, err);
}

clippo_status clippo_gemm(clippo_rt *rt, int trans_a, int trans_b, size_t m, size_t n, size_t k,
                          float alpha, const clippo_tensor *a, size_t lda, const clippo_tensor *b,
                          size_t ldb, float beta, clippo_tensor *c, size_t ldc, clippo_error *err) {
  gemm_call g = {trans_a != 0, trans_b != 0, m,   n, k, alpha, beta, a, b, c,
                 lda,          ldb,          ldc, 0, 0, 0,     1};
  return gemm_dispatch(rt, CLIPPO_GEMM_AUTO, NULL, &g, err);
}

clippo_status clippo_gemm_batched(clippo_rt *rt, int trans_a, int trans_b, size_t m, size_t n,
                                  size_t k, float alpha, const clippo_tensor *a, size_t lda,
                                  size_t stride_a, const clippo_tensor *b, size_t ldb,
                                  size_t stride_b, float beta, clippo_tensor *c, size_t ldc,
                                  size_t stride_c, size_t batch, clippo_error *err) {
  gemm_call g = {trans_a != 0, trans_b != 0, m,   n,        k,        alpha,    beta, a, b, c,
                 lda,          ldb,          ldc, stride_a, stride_b, stride_c, batch};
  return gemm_dispatch(rt, CLIPPO_GEMM_AUTO, NULL, &g, err);
}
