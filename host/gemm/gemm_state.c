/* What the GEMM layer keeps per runtime (rt->gemm): the provider record, parsed once instead of
 * on every product, the failure hook of the tests, the count of fallbacks and the providers' own
 * state (oneDNN's primitive cache). Created on first
 * use, released with the runtime. A runtime is used by one thread at a time; the products it
 * queues as native kernels (gemm_host_enqueue) run on the device's thread and only read this
 * state, except the fallback count, which is locked. What changes what they read (declaring
 * weights) waits for them first. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gemm_internal.h"

typedef struct gemm_state {
  unsigned long long device_hash; /* names the record file in the cache folder */
  int native_width;               /* the device's native float vector width */
  int loaded;                     /* rec (or rec_err) belongs to path */
  char path[1100];                /* the record read ("" when there is none) */
  gemm_record rec;
  clippo_error rec_err;                     /* status != CLIPPO_OK: the record is malformed */
  int fault_launch[CLIPPO_GEMM_NPROVIDERS]; /* the failure hook: per provider, the launch that
                                              fails, or -1 (off) */
  pthread_mutex_t fallback_lock;            /* fallbacks, last_fallback (queued products) */
  unsigned long fallbacks;                  /* products finished by a fallback provider */
  char last_fallback[1024];                 /* what happened the last time */
  void *provider[CLIPPO_GEMM_NPROVIDERS];   /* each provider's own state, or NULL */
  void (*provider_release[CLIPPO_GEMM_NPROVIDERS])(void *state);
  struct declared {
    cl_mem mem; /* declared unchanging (clippo_gemm_declare_weights), retained */
    float *map; /* all of it mapped for reading while declared (gemm_weights_map), or NULL */
  } * weights;
  size_t nweights, capweights;
  cl_command_queue map_queue; /* the runtime's queue, where the maps were made */
} gemm_state;

/* Ends a declaration: unmaps the buffer where it was mapped, releases it. */
static void declared_end(cl_command_queue q, struct declared *d) {
  if (d->map && q) clEnqueueUnmapMemObject(q, d->mem, d->map, 0, NULL, NULL);
  clReleaseMemObject(d->mem);
  d->map = NULL;
}

static void state_release(void *p) {
  gemm_state *s = p;
  if (!s) return;
  for (int i = 0; i < CLIPPO_GEMM_NPROVIDERS; i++)
    if (s->provider[i] && s->provider_release[i]) s->provider_release[i](s->provider[i]);
  for (size_t i = 0; i < s->nweights; i++) declared_end(s->map_queue, &s->weights[i]);
  if (s->map_queue) clFinish(s->map_queue); /* the unmaps done before the queue goes */
  free(s->weights);
  pthread_mutex_destroy(&s->fallback_lock);
  free(s);
}

/* The device's native float vector width (4, 8 or 16; 8 when unknown). */
static int query_native_width(const clippo_rt *rt) {
  cl_uint w = 0;
  if (clGetDeviceInfo(rt->device, CL_DEVICE_NATIVE_VECTOR_WIDTH_FLOAT, sizeof w, &w, NULL) !=
      CL_SUCCESS)
    return 8;
  return w >= 16 ? 16 : w >= 8 ? 8 : 4;
}

int gemm_native_width(const clippo_rt *rt) {
  const gemm_state *s = rt->gemm.state;
  return s ? s->native_width : query_native_width(rt);
}

/* FNV-1a over what identifies the device and its compiler. */
static unsigned long long device_hash(const clippo_rt *rt) {
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
  return h;
}

/* rt's state, created on first use. */
static gemm_state *state_of(clippo_rt *rt, clippo_error *err) {
  if (rt->gemm.state) return rt->gemm.state;
  gemm_state *s = calloc(1, sizeof *s);
  if (!s) {
    clippo_fail(err, CLIPPO_E_NOMEM, "out of host memory (GEMM state)");
    return NULL;
  }
  if (pthread_mutex_init(&s->fallback_lock, NULL) != 0) {
    free(s);
    clippo_fail(err, CLIPPO_E_NOMEM, "out of resources (GEMM state's lock)");
    return NULL;
  }
  s->device_hash = device_hash(rt);
  s->native_width = query_native_width(rt);
  for (int i = 0; i < CLIPPO_GEMM_NPROVIDERS; i++) s->fault_launch[i] = -1;
  rt->gemm.state = s;
  rt->gemm.release = state_release;
  return s;
}

/* The record path from the settings and the cache folder; "" when there is none. */
static void record_path(const clippo_rt *rt, unsigned long long hash, char *out, size_t size) {
  if (rt->settings.gemm_record[0])
    snprintf(out, size, "%s", rt->settings.gemm_record);
  else if (rt->cache_dir[0])
    snprintf(out, size, "%s/gemm-%016llx.txt", rt->cache_dir, hash);
  else if (size)
    out[0] = '\0';
}

void clippo_gemm_record_path(const clippo_rt *rt, char *out, size_t size) {
  const gemm_state *s = rt->gemm.state;
  record_path(rt, s ? s->device_hash : device_hash(rt), out, size);
}

clippo_status gemm_record_current(clippo_rt *rt, const gemm_record **out, clippo_error *err) {
  *out = NULL;
  gemm_state *s = state_of(rt, err);
  if (!s) return CLIPPO_E_NOMEM;
  char path[sizeof s->path];
  record_path(rt, s->device_hash, path, sizeof path);
  if (!s->loaded || strcmp(path, s->path) != 0) {
    snprintf(s->path, sizeof s->path, "%s", path);
    s->rec.n = 0;
    clippo_error_clear(&s->rec_err);
    if (path[0]) gemm_record_load(path, &s->rec, &s->rec_err);
    s->loaded = 1;
  }
  if (s->rec_err.status != CLIPPO_OK) {
    if (err) *err = s->rec_err;
    return s->rec_err.status;
  }
  if (s->path[0]) *out = &s->rec;
  return CLIPPO_OK;
}

clippo_status gemm_record_set_current(clippo_rt *rt, const char *path, const gemm_record *rec,
                                      clippo_error *err) {
  gemm_state *s = state_of(rt, err);
  if (!s) return CLIPPO_E_NOMEM;
  snprintf(s->path, sizeof s->path, "%s", path);
  s->rec = *rec;
  clippo_error_clear(&s->rec_err);
  s->loaded = 1;
  return CLIPPO_OK;
}

void clippo_gemm_forget_record(clippo_rt *rt) {
  gemm_state *s = rt->gemm.state;
  if (s) s->loaded = 0;
}

clippo_status clippo_gemm_inject_failure(clippo_rt *rt, clippo_gemm_provider provider, int launch,
                                         clippo_error *err) {
  if ((int)provider < 0 || (int)provider >= CLIPPO_GEMM_NPROVIDERS)
    return clippo_fail(err, CLIPPO_E_ARG, "gemm: no provider %d to fail", (int)provider);
  gemm_state *s = state_of(rt, err);
  if (!s) return CLIPPO_E_NOMEM;
  if (provider == CLIPPO_GEMM_AUTO) {
    for (int i = 0; i < CLIPPO_GEMM_NPROVIDERS; i++) s->fault_launch[i] = -1;
    return CLIPPO_OK;
  }
  s->fault_launch[provider] = launch < 0 ? -1 : launch;
  return CLIPPO_OK;
}

clippo_status gemm_injected_failure(clippo_rt *rt, clippo_gemm_provider p, int launch,
                                    clippo_error *err) {
  const gemm_state *s = rt->gemm.state;
  if (!s || (int)p <= 0 || (int)p >= CLIPPO_GEMM_NPROVIDERS || s->fault_launch[p] != launch)
    return CLIPPO_OK;
  return clippo_fail(err, CLIPPO_E_DEVICE,
                     "gemm provider %s: launch %d failed on device '%s' (injected by "
                     "clippo_gemm_inject_failure)",
                     clippo_gemm_provider_name(p), launch, rt->info.name);
}

void gemm_note_fallback(clippo_rt *rt, const char *what) {
  gemm_state *s = state_of(rt, NULL);
  if (!s) return;
  pthread_mutex_lock(&s->fallback_lock);
  s->fallbacks++;
  snprintf(s->last_fallback, sizeof s->last_fallback, "%s", what);
  pthread_mutex_unlock(&s->fallback_lock);
}

int gemm_weights_declared(const clippo_rt *rt, cl_mem mem) {
  const gemm_state *s = rt->gemm.state;
  for (size_t i = 0; s && mem && i < s->nweights; i++)
    if (s->weights[i].mem == mem) return 1;
  return 0;
}

float *gemm_weights_map(clippo_rt *rt, cl_mem mem) {
  gemm_state *s = rt->gemm.state;
  for (size_t i = 0; s && mem && i < s->nweights; i++) {
    struct declared *d = &s->weights[i];
    if (d->mem != mem) continue;
    if (d->map) return d->map;
    size_t bytes = 0;
    cl_int rc = clGetMemObjectInfo(mem, CL_MEM_SIZE, sizeof bytes, &bytes, NULL);
    if (rc != CL_SUCCESS || bytes == 0) return NULL;
    void *p =
        clEnqueueMapBuffer(rt->queue, mem, CL_TRUE, CL_MAP_READ, 0, bytes, 0, NULL, NULL, &rc);
    if (rc != CL_SUCCESS || !p) return NULL; /* mapped per product then */
    d->map = p;
    s->map_queue = rt->queue;
    return d->map;
  }
  return NULL;
}

clippo_status gemm_weights_declare(clippo_rt *rt, cl_mem mem, clippo_error *err) {
  if (!mem) return clippo_fail(err, CLIPPO_E_ARG, "gemm: declaring weights: no buffer");
  gemm_state *s = state_of(rt, err);
  if (!s) return CLIPPO_E_NOMEM;
  if (gemm_weights_declared(rt, mem)) return CLIPPO_OK;
  gemm_host_wait(rt); /* queued products read the list */
  if (s->nweights == s->capweights) {
    size_t cap = s->capweights ? 2 * s->capweights : 64;
    struct declared *w = realloc(s->weights, cap * sizeof *w);
    if (!w) return clippo_fail(err, CLIPPO_E_NOMEM, "out of host memory (declared weights)");
    s->weights = w;
    s->capweights = cap;
  }
  cl_int cl = clRetainMemObject(mem);
  if (cl != CL_SUCCESS)
    return clippo_fail(err, CLIPPO_E_DEVICE,
                       "gemm: declaring weights: clRetainMemObject: %d on "
                       "device '%s'",
                       (int)cl, rt->info.name);
  s->weights[s->nweights].mem = mem;
  s->weights[s->nweights].map = NULL;
  s->nweights++;
  return CLIPPO_OK;
}

int gemm_weights_undeclare(clippo_rt *rt, cl_mem mem) {
  gemm_state *s = rt->gemm.state;
  for (size_t i = 0; s && mem && i < s->nweights; i++)
    if (s->weights[i].mem == mem) {
      gemm_host_wait(rt); /* queued products read the list and the providers' copies */
      declared_end(rt->queue, &s->weights[i]);
      s->weights[i] = s->weights[--s->nweights];
      return 1;
    }
  return 0;
}

clippo_status gemm_provider_state(clippo_rt *rt, clippo_gemm_provider p, void **out,
                                  clippo_error *err) {
  *out = NULL;
  if ((int)p <= 0 || (int)p >= CLIPPO_GEMM_NPROVIDERS)
    return clippo_fail(err, CLIPPO_E_ARG, "gemm: no provider %d", (int)p);
  gemm_state *s = state_of(rt, err);
  if (!s) return CLIPPO_E_NOMEM;
  *out = s->provider[p];
  return CLIPPO_OK;
}

clippo_status gemm_provider_state_set(clippo_rt *rt, clippo_gemm_provider p, void *state,
                                      void (*release)(void *state), clippo_error *err) {
  if ((int)p <= 0 || (int)p >= CLIPPO_GEMM_NPROVIDERS)
    return clippo_fail(err, CLIPPO_E_ARG, "gemm: no provider %d", (int)p);
  gemm_state *s = state_of(rt, err);
  if (!s) return CLIPPO_E_NOMEM;
  if (s->provider[p] && s->provider[p] != state && s->provider_release[p])
    s->provider_release[p](s->provider[p]);
  s->provider[p] = state;
  s->provider_release[p] = release;
  return CLIPPO_OK;
}

unsigned long clippo_gemm_fallback_count(const clippo_rt *rt, char *last, size_t size) {
  gemm_state *s = rt->gemm.state;
  if (last && size) last[0] = '\0';
  if (!s) return 0;
  gemm_host_wait(rt); /* the products queued so far have counted theirs */
  pthread_mutex_lock(&s->fallback_lock);
  if (last && size) snprintf(last, size, "%s", s->last_fallback);
  unsigned long n = s->fallbacks;
  pthread_mutex_unlock(&s->fallback_lock);
  return n;
}
