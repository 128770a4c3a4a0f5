/* The benchmark suite of `clippo bench` (include/clippo/bench.h): the measurements, then the
 * report as JSON, Markdown and an SVG bar chart. */
#include "clippo/bench.h"

#include <cblas.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "clippo/atomic_file.h"
#include "clippo/gemm.h"
#include "clippo/model.h"
#include "clippo/npy.h"
#include "clippo/ops.h"
#include "clippo/params.h"
#include "clippo/text.h"
#include "clippo/train.h"
#include "ops/ops_internal.h"
#include "runtime/kernel_sources.h"

#if defined(__GNUC__) || defined(__clang__)
#define BENCH_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define BENCH_PRINTF(a, b)
#endif

/* ---- names, options -------------------------------------------------------------------- */

static const struct {
  unsigned bit;
  const char *name;
} suite_names[] = {{CLIPPO_BENCH_PROBE, "probe"}, {CLIPPO_BENCH_OPS, "ops"},
                   {CLIPPO_BENCH_GEMM, "gemm"},   {CLIPPO_BENCH_EMBED, "embed"},
                   {CLIPPO_BENCH_TEXT, "text"},   {CLIPPO_BENCH_TRAIN, "train"},
                   {CLIPPO_BENCH_BUILD, "build"}};
#define NSUITES (sizeof suite_names / sizeof suite_names[0])

const char *clippo_bench_suite_name(unsigned bit) {
  for (size_t i = 0; i < NSUITES; i++)
    if (suite_names[i].bit == bit) return suite_names[i].name;
  return "?";
}

clippo_status clippo_bench_parse_suites(const char *list, unsigned *out, clippo_error *err) {
  unsigned bits = 0;
  const char *p = list ? list : "";
  while (*p) {
    const char *e = strchr(p, ',');
    size_t n = e ? (size_t)(e - p) : strlen(p);
    if (n) {
      unsigned b = 0;
      if (n == 3 && !strncmp(p, "all", 3)) b = CLIPPO_BENCH_ALL;
      for (size_t i = 0; i < NSUITES && !b; i++)
        if (strlen(suite_names[i].name) == n && !strncmp(p, suite_names[i].name, n))
          b = suite_names[i].bit;
      if (!b)
        return clippo_fail(err, CLIPPO_E_ARG,
                           "unknown benchmark suite '%.*s' (valid: probe, ops, gemm, embed, "
                           "text, train, build, all)",
                           (int)n, p);
      bits |= b;
    }
    if (!e) break;
    p = e + 1;
  }
  if (!bits) return clippo_fail(err, CLIPPO_E_ARG, "empty list of benchmark suites");
  *out = bits;
  return CLIPPO_OK;
}

void clippo_bench_opts_default(clippo_bench_opts *o) {
  memset(o, 0, sizeof *o);
  o->suites = CLIPPO_BENCH_ALL;
}

void clippo_bench_opts_resolve(const clippo_bench_opts *in, clippo_bench_opts *o) {
  *o = *in;
  if (!o->suites) o->suites = CLIPPO_BENCH_ALL;
  if (o->runs <= 0) o->runs = o->quick ? 3 : 5;
  if (o->warmup <= 0) o->warmup = 1;
  if (o->budget_s <= 0) o->budget_s = o->quick ? 8.0 : 60.0;
  if (!o->variants[0])
    snprintf(o->variants, sizeof o->variants, "%s", o->quick ? "b16" : "b16,l16");
  if (!o->nbatches) {
    if (o->quick) {
      o->batches[0] = 1;
      o->nbatches = 1;
    } else {
      o->batches[0] = 1;
      o->batches[1] = 8;
      o->batches[2] = 32;
      o->nbatches = 3;
    }
  }
  if (!o->images) o->images = o->quick ? 4 : 8;
}

void clippo_bench_slug(const clippo_device_info *dev, char *out, size_t size) {
  char raw[600];
  const char *plat = dev->platform;
  char first[64] = "";
  if (strstr(plat, "Portable Computing Language") || !strncmp(plat, "PoCL", 4)) {
    snprintf(first, sizeof first, "pocl");
  } else {
    size_t i = 0;
    while (plat[i] && plat[i] != ' ' && i + 1 < sizeof first) {
      first[i] = plat[i];
      i++;
    }
    first[i] = '\0';
  }
  snprintf(raw, sizeof raw, "%s %s", first, dev->name);
  size_t o = 0;
  int dash = 1; /* no leading dash */
  for (const char *p = raw; *p && o + 1 < size && o < 80; p++) {
    unsigned char c = (unsigned char)*p;
    if (c >= 'A' && c <= 'Z') c = (unsigned char)(c - 'A' + 'a');
    if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) {
      out[o++] = (char)c;
      dash = 0;
    } else if (!dash) {
      out[o++] = '-';
      dash = 1;
    }
  }
  while (o > 0 && out[o - 1] == '-') o--;
  if (o == 0 && size > 6) o = (size_t)snprintf(out, size, "device");
  if (size) out[o < size ? o : size - 1] = '\0';
}

/* ---- report ---------------------------------------------------------------------------- */

/* Host description: CPU model (Linux /proc/cpuinfo), online CPUs, memory, BLAS environment. */
static void describe_host(char *out, size_t size) {
  char model[256] = "unknown CPU";
  FILE *f = fopen("/proc/cpuinfo", "r");
  if (f) {
    char line[512];
    while (fgets(line, sizeof line, f)) {
      if (!strncmp(line, "model name", 10)) {
        const char *c = strchr(line, ':');
        if (c) {
          c++;
          while (*c == ' ' || *c == '\t') c++;
          snprintf(model, sizeof model, "%s", c);
          model[strcspn(model, "\r\n")] = '\0';
        }
        break;
      }
    }
    fclose(f);
  }
  long cpus = -1;
  double mem_gib = 0;
#ifdef _SC_NPROCESSORS_ONLN
  cpus = sysconf(_SC_NPROCESSORS_ONLN);
#endif
#if defined(_SC_PHYS_PAGES) && defined(_SC_PAGESIZE)
  long pages = sysconf(_SC_PHYS_PAGES), psize = sysconf(_SC_PAGESIZE);
  if (pages > 0 && psize > 0) mem_gib = (double)pages * (double)psize / 1073741824.0;
#endif
  const char *ct = getenv("OPENBLAS_CORETYPE"), *nt = getenv("OPENBLAS_NUM_THREADS");
  snprintf(out, size,
           "%s, %ld CPUs online, %.1f GiB memory; OPENBLAS_CORETYPE=%s, "
           "OPENBLAS_NUM_THREADS=%s",
           model, cpus, mem_gib, ct ? ct : "(unset)", nt ? nt : "(unset)");
}

clippo_status clippo_bench_report_init(clippo_bench_report *r, const clippo_device_info *dev,
                                       const clippo_bench_opts *o, clippo_error *err) {
  (void)err;
  clippo_bench_opts ro;
  clippo_bench_opts_resolve(o, &ro);
  memset(r, 0, sizeof *r);
  r->device = *dev;
  clippo_bench_slug(dev, r->slug, sizeof r->slug);
  time_t t = time(NULL);
  struct tm tm;
  if (gmtime_r(&t, &tm)) strftime(r->started, sizeof r->started, "%Y-%m-%dT%H:%M:%SZ", &tm);
  describe_host(r->host, sizeof r->host);
  r->quick = ro.quick;
  r->runs = ro.runs;
  r->warmup = ro.warmup;
  r->images = ro.images;
  return CLIPPO_OK;
}

void clippo_bench_report_free(clippo_bench_report *r) {
  if (!r) return;
  free(r->rows);
  memset(r, 0, sizeof *r);
}

clippo_status clippo_bench_add(clippo_bench_report *r, const clippo_bench_row *row,
                               clippo_error *err) {
  if (r->nrows == r->cap) {
    size_t cap = r->cap ? 2 * r->cap : 64;
    clippo_bench_row *rows = realloc(r->rows, cap * sizeof *rows);
    if (!rows) return clippo_fail(err, CLIPPO_E_NOMEM, "bench: out of host memory for results");
    r->rows = rows;
    r->cap = cap;
  }
  r->rows[r->nrows++] = *row;
  return CLIPPO_OK;
}

static void row_init(clippo_bench_row *row, const char *suite, const char *name, const char *impl) {
  memset(row, 0, sizeof *row);
  snprintf(row->suite, sizeof row->suite, "%s", suite);
  snprintf(row->name, sizeof row->name, "%s", name);
  snprintf(row->impl, sizeof row->impl, "%s", impl);
  snprintf(row->status, sizeof row->status, "ok");
}

/* ---- JSON rows ------------------------------------------------------------------------- */

static void json_row_fill(cJSON *o, const clippo_bench_row *w) {
  cJSON_AddStringToObject(o, "suite", w->suite);
  cJSON_AddStringToObject(o, "name", w->name);
  cJSON_AddStringToObject(o, "impl", w->impl);
  cJSON_AddStringToObject(o, "shape", w->shape);
  cJSON_AddStringToObject(o, "status", w->status);
  cJSON_AddStringToObject(o, "note", w->note);
  cJSON_AddNumberToObject(o, "batch", (double)w->batch);
  cJSON_AddNumberToObject(o, "runs", w->runs);
  const struct {
    const char *k;
    double v;
  } nums[] = {{"median_s", w->median_s}, {"min_s", w->min_s},       {"device_s", w->device_s},
              {"flops", w->flops},       {"bytes", w->bytes},       {"gflops", w->gflops},
              {"gbps", w->gbps},         {"pct_peak", w->pct_peak}, {"rate", w->rate},
              {"ratio", w->ratio}};
  for (size_t i = 0; i < sizeof nums / sizeof nums[0]; i++)
    cJSON_AddNumberToObject(o, nums[i].k, isfinite(nums[i].v) ? nums[i].v : 0.0);
  cJSON_AddStringToObject(o, "rate_unit", w->rate_unit);
  cJSON_AddStringToObject(o, "ratio_to", w->ratio_to);
}

char *clippo_bench_row_json(const clippo_bench_row *row) {
  cJSON *o = cJSON_CreateObject();
  if (!o) return NULL;
  json_row_fill(o, row);
  char *s = cJSON_PrintUnformatted(o);
  cJSON_Delete(o);
  return s;
}

clippo_status clippo_bench_row_from_json(const char *json, clippo_bench_row *row,
                                         clippo_error *err) {
  memset(row, 0, sizeof *row);
  cJSON *o = cJSON_Parse(json ? json : "");
  if (!o || !cJSON_IsObject(o)) {
    cJSON_Delete(o);
    return clippo_fail(err, CLIPPO_E_FORMAT, "bench: a result line is not a JSON object: %.200s",
                       json ? json : "(null)");
  }
  const struct {
    const char *k;
    char *dst;
    size_t size;
  } strs[] = {{"suite", row->suite, sizeof row->suite},
              {"name", row->name, sizeof row->name},
              {"impl", row->impl, sizeof row->impl},
              {"shape", row->shape, sizeof row->shape},
              {"status", row->status, sizeof row->status},
              {"note", row->note, sizeof row->note},
              {"rate_unit", row->rate_unit, sizeof row->rate_unit},
              {"ratio_to", row->ratio_to, sizeof row->ratio_to}};
  for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, strs[i].k);
    if (cJSON_IsString(v) && v->valuestring)
      snprintf(strs[i].dst, strs[i].size, "%s", v->valuestring);
  }
  const struct {
    const char *k;
    double *dst;
  } nums[] = {{"median_s", &row->median_s}, {"min_s", &row->min_s},
              {"device_s", &row->device_s}, {"flops", &row->flops},
              {"bytes", &row->bytes},       {"gflops", &row->gflops},
              {"gbps", &row->gbps},         {"pct_peak", &row->pct_peak},
              {"rate", &row->rate},         {"ratio", &row->ratio}};
  for (size_t i = 0; i < sizeof nums / sizeof nums[0]; i++) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, nums[i].k);
    if (cJSON_IsNumber(v) && isfinite(v->valuedouble)) *nums[i].dst = v->valuedouble;
  }
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, "batch");
  if (cJSON_IsNumber(v) && v->valuedouble >= 0 && v->valuedouble < 1e9)
    row->batch = (size_t)v->valuedouble;
  v = cJSON_GetObjectItemCaseSensitive(o, "runs");
  if (cJSON_IsNumber(v) && v->valuedouble >= 0 && v->valuedouble < 1e9)
    row->runs = (int)v->valuedouble;
  if (!row->status[0]) snprintf(row->status, sizeof row->status, "ok");
  cJSON_Delete(o);
  return CLIPPO_OK;
}

/* ---- timing ---------------------------------------------------------------------------- */

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* Median of x[n] (sorts x); 0 for n == 0. */
static double median_of(double *x, int n) {
  if (n <= 0) return 0;
  qsort(x, (size_t)n, sizeof *x, cmp_double);
  return n % 2 ? x[n / 2] : 0.5 * (x[n / 2 - 1] + x[n / 2]);
}

typedef clippo_status (*bench_fn)(void *ctx, clippo_error *err);

/* What one measurement found. */
typedef struct timing {
  int runs;
  double median_s, min_s, device_s, first_s;
} timing;

/* The run in progress. */
typedef struct suite {
  clippo_rt *rt;
  clippo_bench_opts o; /* resolved */
  clippo_bench_report *r;
  clippo_bench_progress_fn fn;
  void *user;
  clippo_model *b16;              /* kept for the text suite */
  char fma_best[96], bw_best[32]; /* the probe configurations that reached the peaks */
  int use_fma;                    /* the FMA probe calls fma() (else x * a + b) */
} suite;

/* Seconds between the ends of two profiling events, or 0. */
static double event_span(cl_event a, cl_event b) {
  cl_ulong ta = 0, tb = 0;
  if (!a || !b) return 0;
  if (clGetEventProfilingInfo(a, CL_PROFILING_COMMAND_END, sizeof ta, &ta, NULL) != CL_SUCCESS ||
      clGetEventProfilingInfo(b, CL_PROFILING_COMMAND_END, sizeof tb, &tb, NULL) != CL_SUCCESS ||
      tb < ta)
    return 0;
  return (double)(tb - ta) * 1e-9;
}

/* A device time from profiling events if it is plausible against the wall clock around it
 * (some drivers, e.g. rusticl on llvmpipe, return times of a few nanoseconds), else 0. */
static double plausible(double device_s, double wall_s) {
  if (device_s <= 0 || wall_s <= 0) return 0;
  if (device_s < 0.01 * wall_s || device_s > 1.5 * wall_s) return 0;
  return device_s;
}

/* Runs fn `warmup` times untimed, then up to `runs` timed calls (at least one; stops early when
 * the next call would pass the budget). rt NULL: host work, wall clock only. */
static clippo_status time_calls(const suite *s, clippo_rt *rt, bench_fn fn, void *ctx, timing *t,
                                clippo_error *err) {
  memset(t, 0, sizeof *t);
  clippo_status st = CLIPPO_OK;
  for (int w = 0; w < s->o.warmup && !st; w++) {
    double t0 = now_s();
    st = fn(ctx, err);
    if (!st && rt) st = clippo_rt_finish(rt, err);
    if (w == 0) t->first_s = now_s() - t0;
  }
  if (st) return st;
  int runs = s->o.runs;
  double *wall = calloc((size_t)runs, sizeof *wall), *dev = calloc((size_t)runs, sizeof *dev);
  if (!wall || !dev) {
    free(wall);
    free(dev);
    return clippo_fail(err, CLIPPO_E_NOMEM, "bench: out of host memory");
  }
  int n = 0, nd = 0;
  double spent = 0;
  for (int r = 0; r < runs; r++) {
    cl_event e0 = NULL, e1 = NULL;
    double t0 = now_s();
    if (rt && clEnqueueMarkerWithWaitList(rt->queue, 0, NULL, &e0) != CL_SUCCESS) e0 = NULL;
    st = fn(ctx, err);
    if (!st && rt && e0 && clEnqueueMarkerWithWaitList(rt->queue, 0, NULL, &e1) != CL_SUCCESS)
      e1 = NULL;
    if (!st && rt) st = clippo_rt_finish(rt, err);
    wall[n] = now_s() - t0;
    if (!st) {
      double d = event_span(e0, e1);
      if (d > 0) dev[nd++] = d;
    }
    if (e0) clReleaseEvent(e0);
    if (e1) clReleaseEvent(e1);
    if (st) break;
    spent += wall[n];
    n++;
    if (spent + wall[n - 1] > s->o.budget_s) break;
  }
  if (!st) {
    t->runs = n;
    t->median_s = median_of(wall, n);
    t->min_s = wall[0]; /* sorted */
    t->device_s = nd == n ? plausible(median_of(dev, nd), t->median_s) : 0;
  }
  free(wall);
  free(dev);
  return st;
}

/* Appends a row and reports it. */
static clippo_status emit(suite *s, const clippo_bench_row *row, clippo_error *err) {
  clippo_status st = clippo_bench_add(s->r, row, err);
  if (!st && s->fn) s->fn(&s->r->rows[s->r->nrows - 1], s->user);
  return st;
}

/* Appends a row for a measurement that failed (or cannot run: status "unavailable"). */
static clippo_status emit_status(suite *s, const char *suite_name, const char *name,
                                 const char *impl, const char *shape, const char *status,
                                 const char *note, clippo_error *err) {
  clippo_bench_row row;
  row_init(&row, suite_name, name, impl);
  snprintf(row.shape, sizeof row.shape, "%s", shape ? shape : "");
  snprintf(row.status, sizeof row.status, "%s", status);
  snprintf(row.note, sizeof row.note, "%s", note ? note : "");
  return emit(s, &row, err);
}

/* Fills row from a timing. */
static void row_timing(clippo_bench_row *row, const timing *t) {
  row->runs = t->runs;
  row->median_s = t->median_s;
  row->min_s = t->min_s;
  row->device_s = t->device_s;
}

/* Deterministic values uniform in [lo, hi). */
/* ||got - ref|| / ||ref|| (0 when ref is all zeros). */
static double rel_l2(const float *got, const float *ref, size_t n) {
  double num = 0, den = 0;
  for (size_t j = 0; j < n; j++) {
    double d = (double)got[j] - (double)ref[j];
    num += d * d;
    den += (double)ref[j] * (double)ref[j];
  }
  return den > 0 ? sqrt(num / den) : 0;
}

static void fill_uniform(float *x, size_t n, float lo, float hi, unsigned long long seed) {
  unsigned long long st = seed * 0x9E3779B97F4A7C15ull + 0x632BE59BD9B4E019ull;
  for (size_t i = 0; i < n; i++) {
    st ^= st << 13, st ^= st >> 7, st ^= st << 17;
    x[i] = lo + (hi - lo) * (float)((double)(st >> 11) * (1.0 / 9007199254740992.0));
  }
}

/* A device tensor with values uniform in [lo, hi). */
static clippo_status rand_tensor(clippo_rt *rt, clippo_tensor *t, int ndim, const int64_t *shape,
                                 float lo, float hi, unsigned seed, clippo_error *err) {
  clippo_status st = clippo_tensor_alloc(rt, t, CLIPPO_F32, ndim, shape, err);
  if (st) return st;
  size_t n = clippo_tensor_count(t);
  float *h = malloc((n ? n : 1) * sizeof *h);
  if (!h) return clippo_fail(err, CLIPPO_E_NOMEM, "bench: out of host memory");
  fill_uniform(h, n, lo, hi, seed);
  st = clippo_tensor_write(rt, t, h, err);
  free(h);
  return st;
}

#define TRY(x)                                                                                     \
  do {                                                                                             \
    clippo_status st_ = (x);                                                                       \
    if (st_) return st_;                                                                           \
  } while (0)

/* A failed measurement becomes a row; only host memory exhaustion stops the run. */
#define RECORD_FAILURE(s, suite_name, name, impl, shape, e, outerr)                                \
  do {                                                                                             \
    if ((e)->status == CLIPPO_E_NOMEM) {                                                           \
      *(outerr) = *(e);                                                                            \
      return CLIPPO_E_NOMEM;                                                                       \
    }                                                                                              \
    TRY(emit_status(s, suite_name, name, impl, shape, "failed", (e)->msg, outerr));                \
  } while (0)

/* ---- probe ----------------------------------------------------------------------------- */

typedef struct probe_launch {
  clippo_rt *rt;
  cl_kernel k;
  size_t global, local;
  cl_event ev; /* of the last launch */
} probe_launch;

static clippo_status probe_call(void *ctx, clippo_error *err) {
  probe_launch *p = ctx;
  if (p->ev) clReleaseEvent(p->ev);
  p->ev = NULL;
  cl_int rc =
      clEnqueueNDRangeKernel(p->rt->queue, p->k, 1, NULL, &p->global, &p->local, 0, NULL, &p->ev);
  if (rc != CL_SUCCESS) p->ev = NULL;
  return clippo_cl_check(p->rt, rc, "launching a probe kernel", err);
}

/* Kernel time of the last launch (profiling START..END), or 0. */
static double probe_kernel_s(const probe_launch *p) {
  cl_ulong a = 0, b = 0;
  if (!p->ev ||
      clGetEventProfilingInfo(p->ev, CL_PROFILING_COMMAND_START, sizeof a, &a, NULL) !=
          CL_SUCCESS ||
      clGetEventProfilingInfo(p->ev, CL_PROFILING_COMMAND_END, sizeof b, &b, NULL) != CL_SUCCESS ||
      b <= a)
    return 0;
  return (double)(b - a) * 1e-9;
}

/* Times a probe kernel: warm-up, then runs launches each waited for; median of the kernel
 * times from profiling events (wall clock where events have no times). */
static clippo_status probe_time(const suite *s, probe_launch *p, timing *t, clippo_error *err) {
  memset(t, 0, sizeof *t);
  TRY(probe_call(p, err));
  TRY(clippo_rt_finish(p->rt, err));
  int runs = s->o.runs < 3 ? 3 : s->o.runs;
  double wall[64], dev[64];
  if (runs > 64) runs = 64;
  int nd = 0;
  for (int r = 0; r < runs; r++) {
    double t0 = now_s();
    TRY(probe_call(p, err));
    TRY(clippo_rt_finish(p->rt, err));
    wall[r] = now_s() - t0;
    double d = probe_kernel_s(p);
    if (d > 0) dev[nd++] = d;
  }
  t->runs = runs;
  t->median_s = median_of(wall, runs);
  t->min_s = wall[0];
  t->device_s = nd == runs ? plausible(median_of(dev, nd), t->median_s) : 0;
  return CLIPPO_OK;
}

/* One FMA-throughput configuration. */
typedef struct fma_cfg {
  int vw, chains;
  size_t local;
} fma_cfg;

static clippo_status probe_fma(suite *s, const fma_cfg *c, clippo_error *err) {
  clippo_rt *rt = s->rt;
  int cpu = (rt->info.type & CL_DEVICE_TYPE_CPU) != 0;
  size_t cus = rt->info.compute_units ? rt->info.compute_units : 1;
  size_t local = c->local;
  if (rt->info.max_work_group && local > rt->info.max_work_group) local = rt->info.max_work_group;
  size_t global = cpu ? cus * 16 * local : cus * 2048;
  global = (global + local - 1) / local * local;
  char opts[96], shape[96], note[160];
  snprintf(opts, sizeof opts, "-DVW=%d -DCHAINS=%d%s -w", c->vw, c->chains,
           s->use_fma ? " -DUSE_FMA" : "");
  snprintf(shape, sizeof shape, "%s float%d x %d chains, %zu work-items of %zu",
           s->use_fma ? "fma" : "x*a+b", c->vw, c->chains, global, local);
  clippo_error e;
  probe_launch p = {rt, NULL, global, local, NULL};
  clippo_tensor out;
  memset(&out, 0, sizeof out);
  int64_t sh[1] = {(int64_t)global};
  clippo_status st = clippo_rt_kernel(rt, "probe.cl", "probe_fma", opts, &p.k, &e);
  if (!st) st = clippo_tensor_alloc(rt, &out, CLIPPO_F32, 1, sh, &e);
  float a = 0.999f, b = 0.001f;
  cl_uint iters = 64;
  timing t;
  memset(&t, 0, sizeof t);
  if (!st) {
    cl_int rc = clSetKernelArg(p.k, 0, sizeof out.mem, &out.mem);
    if (rc == CL_SUCCESS) rc = clSetKernelArg(p.k, 1, sizeof a, &a);
    if (rc == CL_SUCCESS) rc = clSetKernelArg(p.k, 2, sizeof b, &b);
    if (rc == CL_SUCCESS) rc = clSetKernelArg(p.k, 3, sizeof iters, &iters);
    st = clippo_cl_check(rt, rc, "clSetKernelArg (probe_fma)", &e);
  }
  /* Compile (some drivers do it at the first launch), then calibrate the trip count so that
   * one launch takes ~50 ms (quick: ~20 ms). */
  if (!st) st = probe_call(&p, &e);
  if (!st) st = clippo_rt_finish(rt, &e);
  double target = s->o.quick ? 0.02 : 0.05;
  for (int cal = 0; cal < 8 && !st; cal++) {
    double t0 = now_s();
    st = probe_call(&p, &e);
    if (!st) st = clippo_rt_finish(rt, &e);
    double wall = now_s() - t0, dt = plausible(probe_kernel_s(&p), wall);
    if (dt <= 0) dt = wall; /* events without usable times: the wall clock */
    if (st || dt > target * 0.5) break;
    double scale = dt > 0 ? target / dt : 64;
    if (scale > 64) scale = 64;
    double ni = (double)iters * scale;
    if (ni > 1 << 24) ni = 1 << 24;
    iters = (cl_uint)ni;
    st = clippo_cl_check(rt, clSetKernelArg(p.k, 3, sizeof iters, &iters), "clSetKernelArg", &e);
  }
  if (!st) st = probe_time(s, &p, &t, &e);
  if (p.ev) clReleaseEvent(p.ev);
  clippo_tensor_release(rt, &out);
  if (st) {
    RECORD_FAILURE(s, "probe", "fma", "clippo", shape, &e, err);
    return CLIPPO_OK;
  }
  clippo_bench_row row;
  row_init(&row, "probe", "fma", "clippo");
  snprintf(row.shape, sizeof row.shape, "%s", shape);
  row_timing(&row, &t);
  row.flops = (double)global * iters * 4.0 * c->chains * c->vw * 2.0;
  double secs = t.device_s > 0 ? t.device_s : t.median_s;
  row.gflops = secs > 0 ? row.flops / secs * 1e-9 : 0;
  snprintf(note, sizeof note, "%u trips; kernel time from profiling events%s", iters,
           t.device_s > 0 ? "" : " unavailable: wall clock");
  snprintf(row.note, sizeof row.note, "%s", note);
  if (row.gflops > s->r->peak_gflops) {
    s->r->peak_gflops = row.gflops;
    snprintf(s->fma_best, sizeof s->fma_best, "%s float%d x %d chains, local %zu",
             s->use_fma ? "fma" : "x*a+b", c->vw, c->chains, local);
  }
  return emit(s, &row, err);
}

/* One memory access layout of the bandwidth probe. */
typedef struct bw_layout {
  int chunked;   /* 1: each work-item streams one contiguous chunk; 0: grid stride */
  unsigned bw;   /* floats per vector */
  size_t local;  /* work-group size */
  size_t per_cu; /* work-items per compute unit; 0: one vector per work-item */
} bw_layout;

/* Copy and triad bandwidth over the arrays a, b, c of `floats` floats with one layout. */
static clippo_status probe_bw_layout(suite *s, const bw_layout *L, clippo_tensor *a,
                                     clippo_tensor *b, clippo_tensor *c, size_t floats,
                                     clippo_error *err) {
  clippo_rt *rt = s->rt;
  size_t cus = rt->info.compute_units ? rt->info.compute_units : 1;
  size_t local = L->local;
  if (rt->info.max_work_group && local > rt->info.max_work_group) local = rt->info.max_work_group;
  size_t nvec = floats / L->bw;
  size_t global = L->per_cu ? cus * L->per_cu : nvec; /* 0: one vector per work-item */
  global = (global + local - 1) / local * local;
  if (global > nvec) global = nvec / local * local;
  if (global == 0) global = local;
  size_t per = nvec / global;
  nvec = per * global;
  char opts[64], shape[96];
  snprintf(opts, sizeof opts, "-DBW=%u -w", L->bw);
  snprintf(shape, sizeof shape, "float%u %s, %zu MiB per array, %zu work-items of %zu", L->bw,
           L->chunked ? "chunks"
           : per > 1  ? "grid stride"
                      : "one per work-item",
           nvec * L->bw * 4 >> 20, global, local);
  cl_uint uper = (cl_uint)per, s0 = L->chunked ? (cl_uint)per : 1u;
  cl_uint s1 = L->chunked ? 1u : (cl_uint)global;
  clippo_error e;
  for (int which = 0; which < 2; which++) {
    const char *name = which ? "triad" : "copy";
    probe_launch p = {rt, NULL, global, local, NULL};
    timing t;
    clippo_status ks =
        clippo_rt_kernel(rt, "probe.cl", which ? "probe_triad" : "probe_copy", opts, &p.k, &e);
    if (!ks) {
      cl_int rc = CL_SUCCESS;
      cl_uint i = 0;
      float sc = 3.0f;
      if (which) {
        rc |= clSetKernelArg(p.k, i++, sizeof a->mem, &a->mem);
        rc |= clSetKernelArg(p.k, i++, sizeof b->mem, &b->mem);
        rc |= clSetKernelArg(p.k, i++, sizeof c->mem, &c->mem);
        rc |= clSetKernelArg(p.k, i++, sizeof sc, &sc);
      } else {
        rc |= clSetKernelArg(p.k, i++, sizeof b->mem, &b->mem);
        rc |= clSetKernelArg(p.k, i++, sizeof a->mem, &a->mem);
      }
      rc |= clSetKernelArg(p.k, i++, sizeof uper, &uper);
      rc |= clSetKernelArg(p.k, i++, sizeof s0, &s0);
      rc |= clSetKernelArg(p.k, i++, sizeof s1, &s1);
      ks =
          clippo_cl_check(rt, rc ? CL_INVALID_ARG_VALUE : CL_SUCCESS, "clSetKernelArg (probe)", &e);
    }
    if (!ks) ks = probe_time(s, &p, &t, &e);
    if (p.ev) clReleaseEvent(p.ev);
    if (ks) {
      clippo_rt_finish(rt, NULL);
      RECORD_FAILURE(s, "probe", name, "clippo", shape, &e, err);
      continue;
    }
    clippo_bench_row row;
    row_init(&row, "probe", name, "clippo");
    snprintf(row.shape, sizeof row.shape, "%s", shape);
    row_timing(&row, &t);
    row.bytes = (double)nvec * L->bw * 4.0 * (which ? 3.0 : 2.0);
    double secs = t.device_s > 0 ? t.device_s : t.median_s;
    row.gbps = secs > 0 ? row.bytes / secs * 1e-9 : 0;
    snprintf(row.note, sizeof row.note, "%s; %s", which ? "a = b + s * c" : "dst = src",
             t.device_s > 0 ? "kernel time from profiling events" : "wall clock");
    if (row.gbps > s->r->peak_gbps) {
      s->r->peak_gbps = row.gbps;
      snprintf(s->bw_best, sizeof s->bw_best, "%s float%u %s", name, L->bw,
               L->chunked ? "chunks"
               : per > 1  ? "grid stride"
                          : "one per work-item");
    }
    TRY(emit(s, &row, err));
  }
  return CLIPPO_OK;
}

/* Copy and triad bandwidth: arrays well past the last-level caches, a few layouts. */
static clippo_status probe_bandwidth(suite *s, clippo_error *err) {
  clippo_rt *rt = s->rt;
  int cpu = (rt->info.type & CL_DEVICE_TYPE_CPU) != 0;
  /* 128 MiB per array (quick: 64 MiB), less when the device cannot hold three. */
  size_t floats = (s->o.quick ? 16u : 32u) << 20;
  while (floats > (1u << 20) && ((unsigned long long)floats * 4 > rt->info.max_alloc ||
                                 (unsigned long long)floats * 4 * 4 > rt->info.global_mem))
    floats /= 2;
  clippo_tensor a, b, c;
  memset(&a, 0, sizeof a);
  memset(&b, 0, sizeof b);
  memset(&c, 0, sizeof c);
  int64_t sh[1] = {(int64_t)floats};
  clippo_error e;
  clippo_status st = clippo_tensor_alloc(rt, &a, CLIPPO_F32, 1, sh, &e);
  if (!st) st = clippo_tensor_alloc(rt, &b, CLIPPO_F32, 1, sh, &e);
  if (!st) st = clippo_tensor_alloc(rt, &c, CLIPPO_F32, 1, sh, &e);
  if (!st) st = clippo_tensor_fill(rt, &a, 0.0f, &e);
  if (!st) st = clippo_tensor_fill(rt, &b, 1.0f, &e);
  if (!st) st = clippo_tensor_fill(rt, &c, 2.0f, &e);
  if (!st) st = clippo_rt_finish(rt, &e);
  /* CPUs: contiguous chunks, one work-item per group (PoCL's style), and one vector per
   * work-item in groups of 64 (implementations that run work-items as SIMD lanes, such as
   * llvmpipe); GPUs: a grid stride and one vector per work-item. */
  static const bw_layout cpu_layouts[] = {{1, 16, 1, 4}, {0, 4, 64, 0}};
  static const bw_layout gpu_layouts[] = {{0, 4, 64, 4096}, {0, 4, 64, 0}};
  const bw_layout *lay = cpu ? cpu_layouts : gpu_layouts;
  size_t nl = 2;
  clippo_status ret = CLIPPO_OK;
  if (st) {
    clippo_rt_finish(rt, NULL);
    if (e.status == CLIPPO_E_NOMEM) {
      *err = e;
      ret = CLIPPO_E_NOMEM;
    } else {
      ret = emit_status(s, "probe", "copy", "clippo", "", "failed", e.msg, err);
    }
  }
  for (size_t i = 0; i < nl && !st && !ret; i++)
    ret = probe_bw_layout(s, &lay[i], &a, &b, &c, floats, err);
  clippo_tensor_release(rt, &a);
  clippo_tensor_release(rt, &b);
  clippo_tensor_release(rt, &c);
  return ret;
}

static clippo_status run_probe(suite *s, clippo_error *err) {
  int cpu = (s->rt->info.type & CL_DEVICE_TYPE_CPU) != 0;
  /* fma() where the device reports IEEE fused multiply-add (PoCL does not define FP_FAST_FMAF
   * but its fma is the hardware instruction; Mesa's llvmpipe emulates it, very slowly). */
  cl_device_fp_config fp = 0;
  if (clGetDeviceInfo(s->rt->device, CL_DEVICE_SINGLE_FP_CONFIG, sizeof fp, &fp, NULL) !=
      CL_SUCCESS)
    fp = 0;
  s->use_fma = (fp & CL_FP_FMA) != 0;
  static const fma_cfg cpu_fma[] = {{8, 8, 1}, {16, 8, 1}, {16, 6, 1}};
  static const fma_cfg cpu_mad[] = {{1, 8, 8}, {8, 8, 1}, {4, 8, 8}};
  static const fma_cfg gpu_cfgs[] = {{1, 8, 64}, {4, 8, 64}, {2, 16, 64}};
  const fma_cfg *cfgs = !cpu ? gpu_cfgs : s->use_fma ? cpu_fma : cpu_mad;
  size_t n = 3;
  if (s->o.quick) n = 2;
  for (size_t i = 0; i < n; i++) TRY(probe_fma(s, &cfgs[i], err));
  TRY(probe_bandwidth(s, err));
  snprintf(s->r->peak_note, sizeof s->r->peak_note, "%s; %s", s->fma_best[0] ? s->fma_best : "-",
           s->bw_best[0] ? s->bw_best : "-");
  return CLIPPO_OK;
}

/* ---- ops ------------------------------------------------------------------------------- */

enum { W = 768, HEADS = 12, T = 196, MLP = 3072, PATCH = 16, IMG = 224 };

typedef struct ops_bench {
  clippo_rt *rt;
  size_t n, rows, loss_n;
  clippo_tensor img, patches, x, r, y, h, bias_w, bias_m, scale_w, pos, logits, qkv, bqkv;
  clippo_tensor qh, kh, vh, merged, probe, pq, pooled, ws, ws_map, out_map, wqkv;
  clippo_tensor w[8], zi, zt, dzi, dzt;
  clippo_loss_ws lws;
  clippo_mha_weights mw, mw_map;
} ops_bench;

static clippo_status ops_setup(ops_bench *b, clippo_error *err) {
  size_t n = b->n, rows = n * T;
  b->rows = rows;
  unsigned seed = 1;
  int64_t s_img[4] = {(int64_t)n, IMG, IMG, 3},
          s_pat[2] = {(int64_t)rows, (int64_t)PATCH * PATCH * 3};
  int64_t s_x[2] = {(int64_t)rows, W}, s_h[2] = {(int64_t)rows, MLP}, s_w[1] = {W};
  int64_t s_m[1] = {MLP}, s_pos[2] = {T, W}, s_lg[2] = {(int64_t)(n * HEADS * T), T};
  int64_t s_qkv[2] = {(int64_t)rows, (int64_t)3 * W};
  int64_t s_hd[3] = {(int64_t)(n * HEADS), T, W / HEADS}, s_ww[2] = {W, W};
  int64_t s_pq[2] = {(int64_t)n, W}, s_z[2] = {(int64_t)b->loss_n, W};
  clippo_rt *rt = b->rt;
  TRY(rand_tensor(rt, &b->img, 4, s_img, -1, 1, seed++, err));
  TRY(rand_tensor(rt, &b->patches, 2, s_pat, -1, 1, seed++, err));
  TRY(rand_tensor(rt, &b->x, 2, s_x, -3, 3, seed++, err));
  TRY(rand_tensor(rt, &b->r, 2, s_x, -1, 1, seed++, err));
  TRY(rand_tensor(rt, &b->y, 2, s_x, -1, 1, seed++, err));
  TRY(rand_tensor(rt, &b->h, 2, s_h, -3, 3, seed++, err));
  TRY(rand_tensor(rt, &b->bias_w, 1, s_w, -0.1f, 0.1f, seed++, err));
  TRY(rand_tensor(rt, &b->bias_m, 1, s_m, -0.1f, 0.1f, seed++, err));
  TRY(rand_tensor(rt, &b->scale_w, 1, s_w, 0.5f, 1.5f, seed++, err));
  TRY(rand_tensor(rt, &b->pos, 2, s_pos, -0.05f, 0.05f, seed++, err));
  TRY(rand_tensor(rt, &b->logits, 2, s_lg, -5, 5, seed++, err));
  TRY(rand_tensor(rt, &b->qkv, 2, s_qkv, -2, 2, seed++, err));
  TRY(rand_tensor(rt, &b->qh, 3, s_hd, 0, 1, seed++, err));
  TRY(rand_tensor(rt, &b->kh, 3, s_hd, 0, 1, seed++, err));
  TRY(rand_tensor(rt, &b->vh, 3, s_hd, 0, 1, seed++, err));
  TRY(rand_tensor(rt, &b->merged, 2, s_x, 0, 1, seed++, err));
  TRY(rand_tensor(rt, &b->probe, 1, s_w, -0.1f, 0.1f, seed++, err));
  TRY(rand_tensor(rt, &b->pq, 2, s_pq, 0, 1, seed++, err));
  TRY(rand_tensor(rt, &b->pooled, 2, s_pq, 0, 1, seed++, err));
  TRY(rand_tensor(rt, &b->out_map, 2, s_pq, 0, 1, seed++, err));
  TRY(rand_tensor(rt, &b->zi, 2, s_z, -0.05f, 0.05f, seed++, err));
  TRY(rand_tensor(rt, &b->zt, 2, s_z, -0.05f, 0.05f, seed++, err));
  TRY(clippo_tensor_alloc(rt, &b->dzi, CLIPPO_F32, 2, s_z, err));
  TRY(clippo_tensor_alloc(rt, &b->dzt, CLIPPO_F32, 2, s_z, err));
  float a = sqrtf(6.0f / (2.0f * W));
  for (int i = 0; i < 8; i++) {
    if (i % 2)
      TRY(rand_tensor(rt, &b->w[i], 1, s_w, -0.1f, 0.1f, seed++, err));
    else
      TRY(rand_tensor(rt, &b->w[i], 2, s_ww, -a, a, seed++, err));
  }
  clippo_mha_weights mw = {&b->w[0], &b->w[2], &b->w[4], &b->w[1], &b->w[3],
                           &b->w[5], &b->w[6], &b->w[7], NULL,     NULL};
  b->mw_map = mw;
  TRY(clippo_mha_fuse_qkv(rt, &mw, &b->wqkv, &b->bqkv, err));
  mw.wqkv = &b->wqkv;
  mw.bqkv = &b->bqkv;
  b->mw = mw;
  TRY(clippo_mha_workspace_alloc(rt, &b->ws, n, T, T, W, HEADS, err));
  TRY(clippo_mha_workspace_alloc(rt, &b->ws_map, n, 1, T, W, HEADS, err));
  TRY(clippo_loss_ws_alloc(rt, b->loss_n, &b->lws, err));
  return clippo_rt_finish(rt, err);
}

static void ops_release(ops_bench *b) {
  clippo_tensor *all[] = {&b->img,    &b->patches, &b->x,       &b->r,      &b->y,       &b->h,
                          &b->bias_w, &b->bias_m,  &b->scale_w, &b->pos,    &b->logits,  &b->qkv,
                          &b->bqkv,   &b->qh,      &b->kh,      &b->vh,     &b->merged,  &b->probe,
                          &b->pq,     &b->pooled,  &b->ws,      &b->ws_map, &b->out_map, &b->wqkv,
                          &b->zi,     &b->zt,      &b->dzi,     &b->dzt};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) clippo_tensor_release(b->rt, all[i]);
  for (int i = 0; i < 8; i++) clippo_tensor_release(b->rt, &b->w[i]);
  clippo_loss_ws_release(b->rt, &b->lws);
}

static clippo_status op_patchify(void *c, clippo_error *e) {
  ops_bench *b = c;
  return clippo_op_patchify(b->rt, &b->img, PATCH, &b->patches, e);
}
static clippo_status op_patch_embed(void *c, clippo_error *e) {
  ops_bench *b = c;
  TRY(clippo_op_patchify(b->rt, &b->img, PATCH, &b->patches, e));
  TRY(clippo_gemm(b->rt, 0, 0, b->rows, W, (size_t)PATCH * PATCH * 3, 1.0f, &b->patches,
                  (size_t)PATCH * PATCH * 3, &b->w[0], W, 0.0f, &b->x, W, e));
  return clippo_op_add_bias_posemb(b->rt, &b->x, &b->bias_w, &b->pos, e);
}
static clippo_status op_layernorm(void *c, clippo_error *e) {
  ops_bench *b = c;
  return clippo_op_layernorm(b->rt, &b->x, &b->scale_w, &b->bias_w, 1e-6f, &b->y, e);
}
static clippo_status op_add_layernorm(void *c, clippo_error *e) {
  ops_bench *b = c;
  return clippo_op_add_layernorm(b->rt, &b->x, &b->r, &b->scale_w, &b->bias_w, 1e-6f, &b->y, e);
}
static clippo_status op_gelu(void *c, clippo_error *e) {
  ops_bench *b = c;
  return clippo_op_gelu(b->rt, &b->h, e);
}
static clippo_status op_bias_gelu(void *c, clippo_error *e) {
  ops_bench *b = c;
  return clippo_op_bias_gelu(b->rt, &b->h, &b->bias_m, e);
}
static clippo_status op_add(void *c, clippo_error *e) {
  ops_bench *b = c;
  return clippo_op_add(b->rt, &b->y, &b->r, e);
}
static clippo_status op_softmax(void *c, clippo_error *e) {
  ops_bench *b = c;
  return clippo_op_softmax(b->rt, &b->logits, 1.0f, e);
}
static clippo_status op_qkv_split(void *c, clippo_error *e) {
  ops_bench *b = c;
  return clippo_op_qkv_split(b->rt, &b->qkv, &b->bqkv, T, HEADS, 0.125f, &b->qh, &b->kh, &b->vh, e);
}
static clippo_status op_heads_merge(void *c, clippo_error *e) {
  ops_bench *b = c;
  return clippo_op_heads_merge(b->rt, &b->qh, T, HEADS, &b->merged, e);
}
static clippo_status op_mean_tokens(void *c, clippo_error *e) {
  ops_bench *b = c;
  return clippo_op_mean_tokens(b->rt, &b->y, &b->pooled, e);
}
static clippo_status op_l2norm(void *c, clippo_error *e) {
  ops_bench *b = c;
  return clippo_op_l2normalize(b->rt, &b->pq, 1e-8f, &b->pq, e);
}
static clippo_status op_mha_self(void *c, clippo_error *e) {
  ops_bench *b = c;
  return clippo_mha(b->rt, &b->mw, HEADS, b->n, &b->y, &b->y, &b->ws, 1, &b->x, e);
}
static clippo_status op_mha_map(void *c, clippo_error *e) {
  ops_bench *b = c;
  TRY(clippo_op_broadcast_rows(b->rt, &b->probe, &b->pq, e));
  return clippo_mha(b->rt, &b->mw_map, HEADS, b->n, &b->pq, &b->y, &b->ws_map, 0, &b->out_map, e);
}
static clippo_status op_loss(void *c, clippo_error *e) {
  ops_bench *b = c;
  double loss = 0, dt = 0;
  return clippo_contrastive_loss(b->rt, &b->zi, &b->zt, 2.302585f, &b->lws, &b->dzi, &b->dzt, &loss,
                                 &dt, e);
}

typedef struct op_entry {
  const char *name;
  bench_fn fn;
  double floats; /* floats moved per call (memory-bound ops), or 0 */
  double flops;  /* per call (compute-bound ops), or 0 */
  char shape[96];
} op_entry;

static clippo_status run_ops(suite *s, clippo_error *err) {
  ops_bench b;
  memset(&b, 0, sizeof b);
  b.rt = s->rt;
  b.n = s->o.images;
  b.loss_n = s->o.quick ? 256 : 1024;
  clippo_error e;
  if (ops_setup(&b, &e)) {
    ops_release(&b);
    RECORD_FAILURE(s, "ops", "setup", "clippo", "", &e, err);
    return CLIPPO_OK;
  }
  double n = (double)b.n, rows = (double)b.rows, hd = W / (double)HEADS, ln = (double)b.loss_n;
  op_entry ops[] = {
      {"patchify", op_patchify, 2.0 * rows * PATCH * PATCH * 3, 0, ""},
      {"patch_embed", op_patch_embed, 0, 2.0 * rows * PATCH * PATCH * 3 * W, ""},
      {"layernorm", op_layernorm, 2.0 * rows * W, 0, ""},
      {"add_layernorm", op_add_layernorm, 4.0 * rows * W, 0, ""},
      {"gelu", op_gelu, 2.0 * rows * MLP, 0, ""},
      {"bias_gelu", op_bias_gelu, 2.0 * rows * MLP, 0, ""},
      {"add", op_add, 3.0 * rows * W, 0, ""},
      {"softmax", op_softmax, 2.0 * n * HEADS * T * T, 0, ""},
      {"qkv_split", op_qkv_split, 6.0 * rows * W, 0, ""},
      {"heads_merge", op_heads_merge, 2.0 * rows * W, 0, ""},
      {"mean_tokens", op_mean_tokens, rows * W + n * W, 0, ""},
      {"l2normalize", op_l2norm, 2.0 * n * W, 0, ""},
      {"attention", op_mha_self, 0,
       2 * rows * W * 3 * W + 4.0 * n * HEADS * T * T * hd + 2 * rows * W * W, ""},
      {"attention_map", op_mha_map, 0,
       2.0 * n * W * W + 2 * rows * W * 2 * W + 4.0 * n * HEADS * T * hd + 2.0 * n * W * W, ""},
      {"loss", op_loss, 0, 3.0 * 2.0 * ln * ln * W, ""},
  };
  size_t nops = sizeof ops / sizeof ops[0];
  for (size_t i = 0; i < nops; i++) {
    const char *nm = ops[i].name;
    if (!strcmp(nm, "softmax"))
      snprintf(ops[i].shape, sizeof ops[i].shape, "%zu x %d rows of %d", b.n * HEADS, T, T);
    else if (!strcmp(nm, "gelu") || !strcmp(nm, "bias_gelu"))
      snprintf(ops[i].shape, sizeof ops[i].shape, "%zu x %d", b.rows, MLP);
    else if (!strcmp(nm, "patchify") || !strcmp(nm, "patch_embed"))
      snprintf(ops[i].shape, sizeof ops[i].shape, "%zu images %dpx, patch %d, width %d", b.n, IMG,
               PATCH, W);
    else if (!strcmp(nm, "attention") || !strcmp(nm, "attention_map"))
      snprintf(ops[i].shape, sizeof ops[i].shape, "%zu x %s%d tokens, width %d, %d heads", b.n,
               nm[9] ? "1 probe over " : "", T, W, HEADS);
    else if (!strcmp(nm, "loss"))
      snprintf(ops[i].shape, sizeof ops[i].shape, "%zu pairs x %d, with gradients", b.loss_n, W);
    else if (!strcmp(nm, "l2normalize"))
      snprintf(ops[i].shape, sizeof ops[i].shape, "%zu x %d", b.n, W);
    else
      snprintf(ops[i].shape, sizeof ops[i].shape, "%zu x %d", b.rows, W);
  }
  clippo_status ret = CLIPPO_OK;
  for (size_t i = 0; i < nops && !ret; i++) {
    timing t;
    if (time_calls(s, s->rt, ops[i].fn, &b, &t, &e)) {
      clippo_rt_finish(s->rt, NULL);
      if (e.status == CLIPPO_E_NOMEM) {
        *err = e;
        ret = CLIPPO_E_NOMEM;
      } else {
        ret = emit_status(s, "ops", ops[i].name, "clippo", ops[i].shape, "failed", e.msg, err);
      }
      continue;
    }
    clippo_bench_row row;
    row_init(&row, "ops", ops[i].name, "clippo");
    snprintf(row.shape, sizeof row.shape, "%s", ops[i].shape);
    row_timing(&row, &t);
    row.batch = !strcmp(ops[i].name, "loss") ? b.loss_n : b.n;
    row.flops = ops[i].flops;
    row.bytes = ops[i].floats * 4.0;
    snprintf(row.note, sizeof row.note, "first call %.1f ms%s", t.first_s * 1e3,
             !strcmp(ops[i].name, "loss") ? "; blocks to read the loss back" : "");
    ret = emit(s, &row, err);
  }
  ops_release(&b);
  return ret;
}

/* ---- gemm ------------------------------------------------------------------------------ */

typedef struct gemm_bench {
  clippo_rt *rt;
  const clippo_gemm_shape *s;
  clippo_tensor a, b, c;
  float *ha, *hb, *hc;
  size_t lda, ldb;
} gemm_bench;

static clippo_status gemm_device(void *ctx, clippo_error *e) {
  gemm_bench *g = ctx;
  const clippo_gemm_shape *s = g->s;
  return clippo_gemm_batched(g->rt, s->trans_a, s->trans_b, s->m, s->n, s->k, 1.0f, &g->a, g->lda,
                             s->m * s->k, &g->b, g->ldb, s->k * s->n, 0.0f, &g->c, s->n,
                             s->m * s->n, s->batch, e);
}

static clippo_status gemm_host(void *ctx, clippo_error *e) {
  (void)e;
  gemm_bench *g = ctx;
  const clippo_gemm_shape *s = g->s;
  for (size_t z = 0; z < s->batch; z++)
    cblas_sgemm(CblasRowMajor, s->trans_a ? CblasTrans : CblasNoTrans,
                s->trans_b ? CblasTrans : CblasNoTrans, (int)s->m, (int)s->n, (int)s->k, 1.0f,
                g->ha + z * s->m * s->k, (int)g->lda, g->hb + z * s->k * s->n, (int)g->ldb, 0.0f,
                g->hc + z * s->m * s->n, (int)s->n);
  return CLIPPO_OK;
}

static void gemm_free(gemm_bench *g) {
  clippo_tensor_release(g->rt, &g->a);
  clippo_tensor_release(g->rt, &g->b);
  clippo_tensor_release(g->rt, &g->c);
  free(g->ha);
  free(g->hb);
  free(g->hc);
}

static clippo_status run_gemm(suite *s, clippo_error *err) {
  clippo_gemm_shape list[32];
  size_t ns = clippo_gemm_vit_b16_shapes(s->o.images, list, 32);
  if (ns > 32) ns = 32;
  for (size_t i = 0; i < ns; i++) {
    const clippo_gemm_shape *sh = &list[i];
    char shape[96];
    if (sh->batch > 1)
      snprintf(shape, sizeof shape, "batch %zu of m %zu n %zu k %zu%s%s", sh->batch, sh->m, sh->n,
               sh->k, sh->trans_a ? ", A^T" : "", sh->trans_b ? ", B^T" : "");
    else
      snprintf(shape, sizeof shape, "m %zu n %zu k %zu%s%s", sh->m, sh->n, sh->k,
               sh->trans_a ? ", A^T" : "", sh->trans_b ? ", B^T" : "");
    double flops = 2.0 * (double)sh->m * (double)sh->n * (double)sh->k * (double)sh->batch;
    gemm_bench g;
    memset(&g, 0, sizeof g);
    g.rt = s->rt;
    g.s = sh;
    g.lda = sh->trans_a ? sh->m : sh->k;
    g.ldb = sh->trans_b ? sh->k : sh->n;
    size_t an = sh->m * sh->k * sh->batch, bn = sh->k * sh->n * sh->batch,
           cn = sh->m * sh->n * sh->batch;
    g.ha = malloc(an * sizeof(float));
    g.hb = malloc(bn * sizeof(float));
    g.hc = malloc(cn * sizeof(float));
    float *out = malloc(cn * sizeof(float));
    if (!g.ha || !g.hb || !g.hc || !out) {
      free(out);
      gemm_free(&g);
      return clippo_fail(err, CLIPPO_E_NOMEM, "bench: out of host memory (GEMM %s)", sh->name);
    }
    fill_uniform(g.ha, an, -0.5f, 0.5f, 11 + i);
    fill_uniform(g.hb, bn, -0.5f, 0.5f, 23 + i);
    int64_t sa[1] = {(int64_t)an}, sb[1] = {(int64_t)bn}, sc[1] = {(int64_t)cn};
    clippo_error e;
    clippo_gemm_choice ch;
    memset(&ch, 0, sizeof ch);
    timing td, th;
    clippo_status st = clippo_tensor_alloc(s->rt, &g.a, CLIPPO_F32, 1, sa, &e);
    if (!st) st = clippo_tensor_alloc(s->rt, &g.b, CLIPPO_F32, 1, sb, &e);
    if (!st) st = clippo_tensor_alloc(s->rt, &g.c, CLIPPO_F32, 1, sc, &e);
    if (!st) st = clippo_tensor_write(s->rt, &g.a, g.ha, &e);
    if (!st) st = clippo_tensor_write(s->rt, &g.b, g.hb, &e);
    if (!st)
      st = clippo_gemm_choose(s->rt, sh->trans_a, sh->trans_b, sh->m, sh->n, sh->k, sh->batch, &ch,
                              &e);
    if (!st) st = time_calls(s, s->rt, gemm_device, &g, &td, &e);
    if (!st) st = clippo_tensor_read(s->rt, &g.c, out, &e);
    clippo_status hs = time_calls(s, NULL, gemm_host, &g, &th, &e);
    (void)hs;
    double rel = st ? -1 : rel_l2(out, g.hc, cn);
    free(out);
    gemm_free(&g);
    if (st) {
      clippo_rt_finish(s->rt, NULL);
      RECORD_FAILURE(s, "gemm", sh->name, "clippo", shape, &e, err);
    } else {
      clippo_bench_row row;
      row_init(&row, "gemm", sh->name, "clippo");
      snprintf(row.shape, sizeof row.shape, "%s", shape);
      row_timing(&row, &td);
      row.flops = flops;
      row.batch = s->o.images;
      snprintf(row.note, sizeof row.note,
               "provider %s (%s), class %s; rel. error vs OpenBLAS "
               "%.1e; first call %.1f ms",
               clippo_gemm_provider_name(ch.provider), ch.source, ch.shape_class, rel,
               td.first_s * 1e3);
      if (rel > 1e-3 || rel != rel) snprintf(row.status, sizeof row.status, "failed");
      TRY(emit(s, &row, err));
    }
    clippo_bench_row hrow;
    row_init(&hrow, "gemm", sh->name, "openblas-host");
    snprintf(hrow.shape, sizeof hrow.shape, "%s", shape);
    row_timing(&hrow, &th);
    hrow.flops = flops;
    hrow.batch = s->o.images;
    snprintf(hrow.note, sizeof hrow.note, "cblas_sgemm on host memory%s",
             sh->batch > 1 ? ", one call per matrix" : "");
    TRY(emit(s, &hrow, err));
  }
  return CLIPPO_OK;
}

/* ---- embed ----------------------------------------------------------------------------- */

/* Floating-point operations of one image through the model (matrix products and attention;
 * LayerNorm, softmax and elementwise work left out). */
static double model_flops(const clippo_config *c) {
  double t = clippo_config_tokens(c), w = c->width, m = c->mlp_dim, p = c->patch;
  double f = 2 * t * (p * p * 3) * w;
  f += c->depth * (2 * t * w * (4 * w + 2 * m) + 4 * t * t * w);
  if (!strcmp(c->pool, "map")) f += 2 * w * w + 4 * t * w * w + 4 * t * w + 2 * w * w + 4 * w * m;
  if (c->out_dim > 0) f += 2 * w * c->out_dim;
  return f;
}

typedef struct embed_bench {
  clippo_model *m;
  const float *img;
  float *out;
  size_t n;
} embed_bench;

static clippo_status embed_call(void *ctx, clippo_error *e) {
  embed_bench *b = ctx;
  return clippo_model_embed_images(b->m, b->img, b->n, CLIPPO_EMBED_Z, b->out, e);
}

/* A randomly initialised model of a preset. */
static clippo_status make_model(clippo_rt *rt, const char *variant, clippo_model **out,
                                double *init_s, clippo_error *err) {
  clippo_config cfg;
  TRY(clippo_config_preset(variant, &cfg, err));
  clippo_params params;
  memset(&params, 0, sizeof params);
  double t0 = now_s();
  clippo_status st = clippo_params_init(&params, &cfg, 1, err);
  if (!st) st = clippo_model_create(rt, &cfg, &params, out, err);
  clippo_params_free(&params);
  if (init_s) *init_s = now_s() - t0;
  return st;
}

/* The row of one timed embedding of n images (f1 FLOPs each); the caller writes the note. */
static void embed_row(clippo_bench_row *row, const char *variant, const char *impl,
                      const char *shape, const timing *t, size_t n, double f1) {
  row_init(row, "embed", variant, impl);
  snprintf(row->shape, sizeof row->shape, "%s", shape);
  row_timing(row, t);
  row->batch = n;
  row->flops = f1 * (double)n;
  row->rate = t->median_s > 0 ? (double)n / t->median_s : 0;
  snprintf(row->rate_unit, sizeof row->rate_unit, "images/s");
}

/* On a device with cl_khr_fp16: the same embedding with fp16 GEMMs (CLBlast's Hgemm) into
 * b->out, timed, and its relative L2 distance to the float32 embeddings `ref`. */
static clippo_status embed_fp16_row(suite *s, const char *variant, const char *shape,
                                    embed_bench *b, const float *ref, double f1, size_t od,
                                    clippo_error *err) {
  clippo_error e;
  timing t;
  clippo_status st = clippo_rt_set_precision(s->rt, CLIPPO_PRECISION_FP16, &e);
  if (!st) st = time_calls(s, s->rt, embed_call, b, &t, &e);
  clippo_rt_set_precision(s->rt, CLIPPO_PRECISION_FP32, NULL);
  if (st) {
    clippo_rt_finish(s->rt, NULL);
    RECORD_FAILURE(s, "embed", variant, "clippo-fp16", shape, &e, err);
    return CLIPPO_OK;
  }
  clippo_bench_row row;
  embed_row(&row, variant, "clippo-fp16", shape, &t, b->n, f1);
  snprintf(row.note, sizeof row.note,
           "GEMMs in float16 (CLBlast Hgemm), other ops float32; embeddings within %.2e "
           "(relative L2) of float32",
           rel_l2(b->out, ref, b->n * od));
  return emit(s, &row, err);
}

static clippo_status run_embed(suite *s, clippo_error *err) {
  char list[64];
  snprintf(list, sizeof list, "%s", s->o.variants);
  for (char *save = NULL, *v = strtok_r(list, ",", &save); v; v = strtok_r(NULL, ",", &save)) {
    clippo_model *m = NULL;
    clippo_error e;
    double init_s = 0;
    if (make_model(s->rt, v, &m, &init_s, &e)) {
      RECORD_FAILURE(s, "embed", v, "clippo", "", &e, err);
      continue;
    }
    const clippo_config *cfg = clippo_model_config(m);
    double f1 = model_flops(cfg);
    for (size_t bi = 0; bi < s->o.nbatches; bi++) {
      size_t n = s->o.batches[bi];
      size_t per = (size_t)cfg->image_size * (size_t)cfg->image_size * 3;
      size_t od = clippo_model_output_dim(m, CLIPPO_EMBED_Z);
      float *img = malloc(n * per * sizeof *img), *out = calloc(n * od, sizeof *out);
      if (!img || !out) {
        free(img);
        free(out);
        clippo_model_free(m);
        return clippo_fail(err, CLIPPO_E_NOMEM, "bench: out of host memory (%zu images)", n);
      }
      fill_uniform(img, n * per, -1, 1, 7 + n);
      embed_bench b = {m, img, out, n};
      char shape[96];
      snprintf(shape, sizeof shape, "%d layers, width %d, %d px, %d tokens; batch %zu", cfg->depth,
               cfg->width, cfg->image_size, clippo_config_tokens(cfg), n);
      timing t;
      clippo_status st = clippo_model_set_batch(m, n, &e);
      if (!st) st = time_calls(s, s->rt, embed_call, &b, &t, &e);
      if (st) {
        free(img);
        free(out);
        clippo_rt_finish(s->rt, NULL);
        RECORD_FAILURE(s, "embed", v, "clippo", shape, &e, err);
        continue;
      }
      clippo_bench_row row;
      embed_row(&row, v, "clippo", shape, &t, n, f1);
      snprintf(row.note, sizeof row.note,
               "first call %.2f s (kernel builds); random init + upload %.1f s; device peak "
               "%.0f MiB",
               t.first_s, init_s, (double)clippo_model_peak_bytes(m) / 1048576.0);
      st = emit(s, &row, err);
      if (!st && s->rt->info.fp16 && s->rt->precision == CLIPPO_PRECISION_FP32) {
        float *out16 = calloc(n * od, sizeof *out16);
        b.out = out16;
        st = out16 ? embed_fp16_row(s, v, shape, &b, out, f1, od, err)
                   : clippo_fail(err, CLIPPO_E_NOMEM, "bench: out of host memory");
        free(out16);
      }
      free(img);
      free(out);
      if (st) {
        clippo_model_free(m);
        return st;
      }
    }
    if (!strcmp(v, "b16") && (s->o.suites & CLIPPO_BENCH_TEXT) && !s->b16)
      s->b16 = m;
    else
      clippo_model_free(m);
  }
  return CLIPPO_OK;
}

/* ---- text ------------------------------------------------------------------------------ */

static const char *const bench_words[] = {
    "a",     "photo", "of",     "the",   "small", "dog",   "running", "on",     "green",
    "grass", "with",  "bright", "blue",  "sky",   "red",   "car",     "parked", "near",
    "old",   "house", "in",     "city",  "at",    "night", "two",     "people", "walking",
    "along", "beach", "sunset", "close", "up",    "bird",  "tree",    "branch", "Hello",
    "World", "text",  "image",  "café",  "naïve", "über",  "straße",  "日本",   "世界"};

/* Deterministic captions of 3..20 words (each malloc'ed). */
static char **make_captions(size_t n) {
  char **t = calloc(n, sizeof *t);
  if (!t) return NULL;
  unsigned long long st = 0x9E3779B97F4A7C15ull;
  size_t nw = sizeof bench_words / sizeof bench_words[0];
  for (size_t i = 0; i < n; i++) {
    t[i] = calloc(512, 1);
    if (!t[i]) {
      for (size_t j = 0; j < i; j++) free(t[j]);
      free(t);
      return NULL;
    }
    st = st * 6364136223846793005ull + 1442695040888963407ull;
    int words = 3 + (int)((st >> 33) % 18);
    for (int w = 0; w < words; w++) {
      st = st * 6364136223846793005ull + 1442695040888963407ull;
      if (w) strcat(t[i], " ");
      strcat(t[i], bench_words[(st >> 33) % nw]);
    }
  }
  return t;
}

static void free_captions(char **t, size_t n) {
  if (!t) return;
  for (size_t i = 0; i < n; i++) free(t[i]);
  free(t);
}

typedef struct text_bench {
  const clippo_font *font;
  clippo_render_opts ro;
  clippo_model *m;
  char **texts;
  size_t n;
  float *buf;
} text_bench;

static clippo_status render_call(void *ctx, clippo_error *e) {
  text_bench *b = ctx;
  return clippo_render_batch(b->font, &b->ro, (const char *const *)b->texts, NULL, b->n, CLIPPO_F32,
                             b->buf, e);
}

static clippo_status embed_texts_call(void *ctx, clippo_error *e) {
  text_bench *b = ctx;
  return clippo_model_embed_texts(b->m, b->font, (const char *const *)b->texts, NULL, b->n,
                                  CLIPPO_EMBED_Z, b->buf, e);
}

static clippo_status run_text(suite *s, clippo_error *err) {
  clippo_font *font = NULL;
  clippo_error e;
  if (clippo_font_load(&font, s->o.fonts, s->o.nfonts, &e)) {
    char note[300];
    snprintf(note, sizeof note, "no font: %s", e.msg);
    TRY(emit_status(s, "text", "render", "clippo", "", "unavailable", note, err));
    return emit_status(s, "text", "embed_texts", "clippo", "", "unavailable", note, err);
  }
  /* Rendering alone: a batch of captions into a float32 (n, 224, 224, 3) buffer on the host. */
  size_t nr = s->o.quick ? 64 : 256;
  text_bench b;
  memset(&b, 0, sizeof b);
  b.font = font;
  clippo_render_opts_default(&b.ro, IMG);
  b.texts = make_captions(nr);
  b.n = nr;
  b.buf = malloc(nr * IMG * IMG * 3 * sizeof(float));
  if (!b.texts || !b.buf) {
    free_captions(b.texts, nr);
    free(b.buf);
    clippo_font_free(font);
    return clippo_fail(err, CLIPPO_E_NOMEM, "bench: out of host memory (text)");
  }
  timing t;
  char shape[96];
  snprintf(shape, sizeof shape, "%zu captions of 3-20 words, %d px, float32", nr, IMG);
  clippo_status ret = CLIPPO_OK;
  if (time_calls(s, NULL, render_call, &b, &t, &e)) {
    if (e.status == CLIPPO_E_NOMEM) {
      *err = e;
      ret = CLIPPO_E_NOMEM;
    } else {
      ret = emit_status(s, "text", "render", "clippo", shape, "failed", e.msg, err);
    }
  } else {
    clippo_bench_row row;
    row_init(&row, "text", "render", "clippo");
    snprintf(row.shape, sizeof row.shape, "%s", shape);
    row_timing(&row, &t);
    row.batch = nr;
    row.rate = t.median_s > 0 ? (double)nr / t.median_s : 0;
    snprintf(row.rate_unit, sizeof row.rate_unit, "texts/s");
    snprintf(row.note, sizeof row.note, "host, one thread; font %s", clippo_font_identity(font));
    ret = emit(s, &row, err);
  }
  /* Rendering + B/16 embedding. */
  size_t ne = s->o.quick ? 2 : 8;
  if (!ret && !s->b16) {
    if (make_model(s->rt, "b16", &s->b16, NULL, &e)) {
      s->b16 = NULL;
      if (e.status == CLIPPO_E_NOMEM) {
        *err = e;
        ret = CLIPPO_E_NOMEM;
      } else {
        ret = emit_status(s, "text", "embed_texts", "clippo", "b16", "failed", e.msg, err);
      }
    }
  }
  if (!ret && s->b16) {
    b.m = s->b16;
    b.n = ne;
    snprintf(shape, sizeof shape, "b16, %zu captions per call", ne);
    clippo_status st = clippo_model_set_batch(b.m, ne, &e);
    if (!st) st = time_calls(s, s->rt, embed_texts_call, &b, &t, &e);
    if (st) {
      clippo_rt_finish(s->rt, NULL);
      if (e.status == CLIPPO_E_NOMEM) {
        *err = e;
        ret = CLIPPO_E_NOMEM;
      } else {
        ret = emit_status(s, "text", "embed_texts", "clippo", shape, "failed", e.msg, err);
      }
    } else {
      clippo_bench_row row;
      row_init(&row, "text", "embed_texts", "clippo");
      snprintf(row.shape, sizeof row.shape, "%s", shape);
      row_timing(&row, &t);
      row.batch = ne;
      row.flops = model_flops(clippo_model_config(b.m)) * (double)ne;
      row.rate = t.median_s > 0 ? (double)ne / t.median_s : 0;
      snprintf(row.rate_unit, sizeof row.rate_unit, "texts/s");
      snprintf(row.note, sizeof row.note, "render + embed, first call %.2f s", t.first_s);
      ret = emit(s, &row, err);
    }
  }
  free_captions(b.texts, nr);
  free(b.buf);
  clippo_font_free(font);
  return ret;
}

/* ---- train ----------------------------------------------------------------------------- */

/* Step times from the training loop's progress callback. */
typedef struct train_clock {
  double last;
  double times[64];
  int n;
} train_clock;

static void train_progress(const clippo_train_progress *p, void *user) {
  train_clock *c = user;
  double t = now_s();
  if (p->step > 0 && c->n < 64) c->times[c->n++] = t - c->last;
  c->last = t;
}

/* Training steps/s of a small model (64 px, patch 8, width 128, depth 4, batch 64) through
 * clippo_train_run on one fixed set of random images and captions written to a temporary
 * folder; the first step (kernel builds) is the warm-up. */
static clippo_status run_train(suite *s, clippo_error *err) {
  const size_t B = 64;
  const int S = 64;
  const char *shape = "64 px, patch 8, width 128, depth 4, 4 heads, MAP head; batch 64 pairs";
  const char *tmp = getenv("TMPDIR");
  char dir[1024], images[1100], texts[1100];
  snprintf(dir, sizeof dir, "%s/clippo-bench-train-XXXXXX", tmp && *tmp ? tmp : "/tmp");
  if (!mkdtemp(dir)) {
    char note[1200];
    snprintf(note, sizeof note, "cannot create a temporary folder %s: %s", dir, strerror(errno));
    return emit_status(s, "train", "steps", "clippo", shape, "failed", note, err);
  }
  snprintf(images, sizeof images, "%s/images.npy", dir);
  snprintf(texts, sizeof texts, "%s/texts.txt", dir);
  clippo_error e;
  clippo_array arr;
  memset(&arr, 0, sizeof arr);
  int64_t shp[4] = {(int64_t)B, S, S, 3};
  clippo_status st = clippo_array_alloc(&arr, CLIPPO_F32, 4, shp, &e);
  if (!st) {
    fill_uniform(arr.data, B * S * S * 3, -1, 1, 99);
    st = clippo_npy_save(images, &arr, &e);
  }
  clippo_array_free(&arr);
  char **caps = st ? NULL : make_captions(B);
  if (!st && !caps) st = clippo_fail(&e, CLIPPO_E_NOMEM, "bench: out of host memory");
  if (!st) {
    FILE *f = fopen(texts, "w");
    if (!f) st = clippo_fail(&e, CLIPPO_E_IO, "cannot write %s: %s", texts, strerror(errno));
    for (size_t i = 0; f && i < B; i++) {
      /* short captions: a 64 px image holds 4 lines */
      char c[40];
      snprintf(c, sizeof c, "%.32s", caps[i]);
      fprintf(f, "%s\n", c);
    }
    if (f && fclose(f) != 0) st = clippo_fail(&e, CLIPPO_E_IO, "cannot write %s", texts);
  }
  free_captions(caps, B);
  clippo_train_opts o;
  clippo_train_opts_default(&o);
  snprintf(o.device, sizeof o.device, "%d:%d", s->rt->info.platform_index,
           s->rt->info.device_index);
  snprintf(o.model, sizeof o.model,
           "{\"width\": 128, \"depth\": 4, \"heads\": 4, \"mlp_dim\": 512, \"patch\": 8, "
           "\"image_size\": 64, \"out_dim\": 128, \"pool\": \"map\"}");
  snprintf(o.images, sizeof o.images, "%s", images);
  snprintf(o.texts, sizeof o.texts, "%s", texts);
  for (size_t i = 0; i < s->o.nfonts && i < CLIPPO_TRAIN_MAX_FONTS; i++) {
    snprintf(o.fonts[i], sizeof o.fonts[i], "%s", s->o.fonts[i]);
    o.nfonts = i + 1;
  }
  o.batch_size = B;
  int runs = s->o.runs > 60 ? 60 : s->o.runs;
  o.steps = s->o.warmup + runs;
  train_clock clk;
  memset(&clk, 0, sizeof clk);
  clippo_train_result res;
  memset(&res, 0, sizeof res);
  double t0 = now_s();
  clk.last = t0;
  if (!st) st = clippo_train_run(&o, train_progress, &clk, &res, &e);
  remove(images);
  remove(texts);
  rmdir(dir);
  if (st) {
    if (e.status == CLIPPO_E_NOMEM) {
      *err = e;
      return CLIPPO_E_NOMEM;
    }
    return emit_status(s, "train", "steps", "clippo", shape, "failed", e.msg, err);
  }
  int skip = s->o.warmup < clk.n ? s->o.warmup : 0;
  int n = clk.n - skip;
  if (n <= 0)
    return emit_status(s, "train", "steps", "clippo", shape, "failed",
                       "the training loop reported no steps", err);
  double first = clk.times[0], *t = clk.times + skip;
  clippo_bench_row row;
  row_init(&row, "train", "steps", "clippo");
  snprintf(row.shape, sizeof row.shape, "%s", shape);
  row.runs = n;
  row.median_s = median_of(t, n);
  row.min_s = t[0];
  row.batch = B;
  clippo_config cfg;
  if (clippo_train_model_config(o.model, &cfg, &e) == CLIPPO_OK)
    row.flops = 3.0 * 2.0 * (double)B * model_flops(&cfg); /* fwd + bwd ~ 3x fwd, 2B inputs */
  row.rate = row.median_s > 0 ? 1.0 / row.median_s : 0;
  snprintf(row.rate_unit, sizeof row.rate_unit, "steps/s");
  snprintf(row.note, sizeof row.note,
           "clippo_train_run, adafactor, random images + rendered captions; first step %.2f s; "
           "GFLOP/s counts forward + backward as 3x forward; loss %.3f -> %.3f",
           first, res.first_loss, res.last_loss);
  return emit(s, &row, err);
}

/* ---- the run --------------------------------------------------------------------------- */

clippo_status clippo_bench_run(clippo_rt *rt, const clippo_bench_opts *o, clippo_bench_report *r,
                               clippo_bench_progress_fn fn, void *user, clippo_error *err) {
  suite s;
  memset(&s, 0, sizeof s);
  s.rt = rt;
  clippo_bench_opts_resolve(o, &s.o);
  s.r = r;
  s.fn = fn;
  s.user = user;
  unsigned su = s.o.suites;
  clippo_status st = CLIPPO_OK;
  if (su & (CLIPPO_BENCH_PROBE | CLIPPO_BENCH_OPS | CLIPPO_BENCH_GEMM | CLIPPO_BENCH_EMBED |
            CLIPPO_BENCH_TEXT | CLIPPO_BENCH_TRAIN))
    st = run_probe(&s, err);
  if (!st && (su & CLIPPO_BENCH_OPS)) st = run_ops(&s, err);
  if (!st && (su & CLIPPO_BENCH_GEMM)) st = run_gemm(&s, err);
  if (!st && (su & CLIPPO_BENCH_EMBED)) st = run_embed(&s, err);
  if (!st && (su & CLIPPO_BENCH_TEXT)) st = run_text(&s, err);
  if (!st && (su & CLIPPO_BENCH_TRAIN)) st = run_train(&s, err);
  clippo_model_free(s.b16);
  clippo_bench_finish(r);
  return st;
}

clippo_status clippo_bench_build_kernels(clippo_rt *rt, const char *only, double *seconds,
                                         unsigned *programs, clippo_error *err) {
  ops_class c = ops_class_of(rt);
  char vec_opts[64];
  snprintf(vec_opts, sizeof vec_opts, "-DVEC=%u -w", c.vec);
  unsigned count = 0;
  double t0 = now_s();
  for (const clippo_kernel_source *k = clippo_kernel_sources; k->name; k++) {
    size_t len = strlen(k->name);
    if (len < 4 || strcmp(k->name + len - 3, ".cl") != 0) continue;
    if (only) {
      const char *hit = strstr(only, k->name);
      if (!hit || (hit != only && hit[-1] != ',') || (hit[len] && hit[len] != ',')) continue;
    }
    /* The op families (they include common.h) are built with the device class's vector width,
     * as the launchers do; gemm.cl, probe.cl and selftest.cl with their own defaults. */
    const char *opts = strstr(k->text, "\"common.h\"") ? vec_opts : "";
    cl_program p;
    clippo_status st = clippo_rt_program(rt, k->name, opts, &p, err);
    if (st) return st;
    count++;
  }
  if (seconds) *seconds = now_s() - t0;
  if (programs) *programs = count;
  return CLIPPO_OK;
}

/* ---- derived numbers ------------------------------------------------------------------- */

static const clippo_bench_row *find_row(const clippo_bench_report *r, const char *suite,
                                        const char *name, const char *impl, size_t batch,
                                        int match_batch) {
  for (size_t i = 0; i < r->nrows; i++) {
    const clippo_bench_row *w = &r->rows[i];
    if (!strcmp(w->suite, suite) && !strcmp(w->name, name) && !strcmp(w->impl, impl) &&
        !strcmp(w->status, "ok") && (!match_batch || w->batch == batch))
      return w;
  }
  return NULL;
}

void clippo_bench_finish(clippo_bench_report *r) {
  for (size_t i = 0; i < r->nrows; i++) {
    clippo_bench_row *w = &r->rows[i];
    if (strcmp(w->status, "ok") != 0) continue;
    double secs = w->median_s;
    if (!strcmp(w->suite, "probe") && w->device_s > 0) secs = w->device_s;
    if (secs > 0 && w->flops > 0) w->gflops = w->flops / secs * 1e-9;
    if (secs > 0 && w->bytes > 0) w->gbps = w->bytes / secs * 1e-9;
    w->pct_peak = 0;
    /* Host baselines (OpenBLAS, PyTorch) share the device's peak only on CPU devices. */
    if (strcmp(w->impl, "clippo") != 0 && !(r->device.type & CL_DEVICE_TYPE_CPU)) continue;
    if (w->gflops > 0 && r->peak_gflops > 0)
      w->pct_peak = 100.0 * w->gflops / r->peak_gflops;
    else if (w->gbps > 0 && r->peak_gbps > 0)
      w->pct_peak = 100.0 * w->gbps / r->peak_gbps;
  }
  for (size_t i = 0; i < r->nrows; i++) {
    clippo_bench_row *w = &r->rows[i];
    if (strcmp(w->status, "ok") != 0 || strcmp(w->impl, "clippo") != 0) continue;
    const clippo_bench_row *base = NULL;
    if (!strcmp(w->suite, "gemm")) base = find_row(r, "gemm", w->name, "openblas-host", 0, 0);
    if (!strcmp(w->suite, "embed"))
      base = find_row(r, "embed", w->name, "pytorch-cpu", w->batch, 1);
    if (!base) continue;
    double mine = w->rate > 0 ? w->rate : w->gflops,
           theirs = base->rate > 0 ? base->rate : base->gflops;
    if (mine > 0 && theirs > 0) {
      w->ratio = mine / theirs;
      snprintf(w->ratio_to, sizeof w->ratio_to, "%s", base->impl);
    }
  }
}

/* ---- output ---------------------------------------------------------------------------- */

char *clippo_bench_json(const clippo_bench_report *r) {
  cJSON *o = cJSON_CreateObject();
  if (!o) return NULL;
  cJSON_AddStringToObject(o, "clippo_bench", "1");
  cJSON_AddStringToObject(o, "clippo_version", CLIPPO_VERSION);
  cJSON_AddStringToObject(o, "started", r->started);
  cJSON *d = cJSON_AddObjectToObject(o, "device");
  if (d) {
    char idx[32];
    snprintf(idx, sizeof idx, "%d:%d", r->device.platform_index, r->device.device_index);
    cJSON_AddStringToObject(d, "index", idx);
    cJSON_AddStringToObject(d, "slug", r->slug);
    cJSON_AddStringToObject(d, "platform", r->device.platform);
    cJSON_AddStringToObject(d, "name", r->device.name);
    cJSON_AddStringToObject(d, "vendor", r->device.vendor);
    cJSON_AddStringToObject(d, "version", r->device.version);
    cJSON_AddStringToObject(d, "driver", r->device.driver);
    cJSON_AddStringToObject(d, "type", clippo_device_type_name(r->device.type));
    cJSON_AddNumberToObject(d, "compute_units", r->device.compute_units);
    cJSON_AddNumberToObject(d, "global_mem", (double)r->device.global_mem);
    cJSON_AddNumberToObject(d, "max_alloc", (double)r->device.max_alloc);
  }
  cJSON_AddStringToObject(o, "host", r->host);
  cJSON *st = cJSON_AddObjectToObject(o, "settings");
  if (st) {
    cJSON_AddBoolToObject(st, "quick", r->quick);
    cJSON_AddNumberToObject(st, "runs", r->runs);
    cJSON_AddNumberToObject(st, "warmup", r->warmup);
    cJSON_AddNumberToObject(st, "images", (double)r->images);
  }
  cJSON *pk = cJSON_AddObjectToObject(o, "peak");
  if (pk) {
    cJSON_AddNumberToObject(pk, "gflops", r->peak_gflops);
    cJSON_AddNumberToObject(pk, "gbps", r->peak_gbps);
    cJSON_AddStringToObject(pk, "note", r->peak_note);
  }
  cJSON *rows = cJSON_AddArrayToObject(o, "rows");
  for (size_t i = 0; rows && i < r->nrows; i++) {
    cJSON *x = cJSON_CreateObject();
    if (!x) break;
    json_row_fill(x, &r->rows[i]);
    cJSON_AddItemToArray(rows, x);
  }
  char *s = cJSON_Print(o);
  cJSON_Delete(o);
  return s;
}

/* A growable string. */
typedef struct sbuf {
  char *p;
  size_t len, cap;
  int oom;
} sbuf;

static void sb_printf(sbuf *b, const char *fmt, ...) BENCH_PRINTF(2, 3);
static void sb_printf(sbuf *b, const char *fmt, ...) {
  if (b->oom) return;
  for (;;) {
    va_list ap;
    va_start(ap, fmt);
    size_t room = b->cap - b->len;
    int n = vsnprintf(b->p ? b->p + b->len : NULL, b->p ? room : 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
      b->oom = 1;
      return;
    }
    if (b->p && (size_t)n < room) {
      b->len += (size_t)n;
      return;
    }
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + (size_t)n + 1) cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) {
      b->oom = 1;
      return;
    }
    b->p = p;
    b->cap = cap;
  }
}

static char *sb_take(sbuf *b) {
  if (b->oom) {
    free(b->p);
    return NULL;
  }
  if (!b->p) return calloc(1, 1);
  return b->p;
}

/* A number for a table, "-" when zero. */
static const char *num(char *buf, size_t size, double v, int prec) {
  if (v == 0 || !isfinite(v))
    snprintf(buf, size, "-");
  else
    snprintf(buf, size, "%.*f", prec, v);
  return buf;
}

/* Markdown cell text: '|' escaped, newlines as spaces. */
static void md_cell(sbuf *b, const char *s) {
  for (; *s; s++) {
    if (*s == '|')
      sb_printf(b, "\\|");
    else if (*s == '\n' || *s == '\r')
      sb_printf(b, " ");
    else
      sb_printf(b, "%c", *s);
  }
}

static const char *suite_titles[][2] = {
    {"probe", "Peak probe (kernels/probe.cl)"},
    {"build", "Kernel build time (every kernels/*.cl)"},
    {"ops", "Ops at ViT-B/16 shapes"},
    {"gemm", "GEMM: every ViT-B/16 product (forward and backward)"},
    {"embed", "End-to-end image embedding"},
    {"text", "Text rendering and embedding"},
    {"train", "Training"}};

char *clippo_bench_markdown(const clippo_bench_report *r) {
  sbuf b = {0};
  char n1[32], n2[32];
  const clippo_device_info *d = &r->device;
  sb_printf(&b, "# clippo bench: %s\n\n", d->name);
  sb_printf(&b, "| | |\n|---|---|\n");
  sb_printf(&b, "| device | %d:%d %s (%s, %s) |\n", d->platform_index, d->device_index, d->name,
            d->platform, clippo_device_type_name(d->type));
  sb_printf(&b, "| OpenCL | %s; driver %s |\n", d->version, d->driver);
  sb_printf(&b, "| compute units, memory | %u, %.1f GiB (max allocation %.1f GiB) |\n",
            d->compute_units, (double)d->global_mem / 1073741824.0,
            (double)d->max_alloc / 1073741824.0);
  sb_printf(&b, "| host | ");
  md_cell(&b, r->host);
  sb_printf(&b, " |\n| started | %s |\n", r->started);
  sb_printf(&b,
            "| settings | %s, median of %d runs after %d warm-up, op/GEMM shapes at %zu "
            "images |\n",
            r->quick ? "--quick" : "full", r->runs, r->warmup, r->images);
  sb_printf(&b, "| measured peak | %s GFLOP/s, %s GB/s (%s) |\n\n",
            num(n1, sizeof n1, r->peak_gflops, 1), num(n2, sizeof n2, r->peak_gbps, 1),
            r->peak_note[0] ? r->peak_note : "not measured");
  sb_printf(&b, "Times are per call: wall clock from the first enqueue to clFinish (median, min) "
                "and the span between OpenCL profiling events around the call (device). "
                "%% of peak is against the measured peak GFLOP/s for rows with a FLOP count, "
                "GB/s otherwise. Ratios: clippo over OpenBLAS on the host (GEMM), clippo over "
                "PyTorch CPU (embedding).\n\n");
  for (size_t si = 0; si < sizeof suite_titles / sizeof suite_titles[0]; si++) {
    const char *sname = suite_titles[si][0];
    int any = 0;
    for (size_t i = 0; i < r->nrows; i++) any |= !strcmp(r->rows[i].suite, sname);
    if (!any) continue;
    sb_printf(&b, "## %s\n\n", suite_titles[si][1]);
    sb_printf(&b, "| name | impl | shape | runs | median ms | min ms | device ms | GFLOP/s | "
                  "GB/s | %% peak | rate | ratio | status | note |\n");
    sb_printf(&b, "|---|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|---|\n");
    for (size_t i = 0; i < r->nrows; i++) {
      const clippo_bench_row *w = &r->rows[i];
      if (strcmp(w->suite, sname) != 0) continue;
      char a[32], c[32], e[32], f[32], g[32], h[32], k[48], l[48];
      sb_printf(&b, "| ");
      md_cell(&b, w->name);
      sb_printf(&b, " | ");
      md_cell(&b, w->impl);
      sb_printf(&b, " | ");
      md_cell(&b, w->shape);
      if (w->rate > 0)
        snprintf(k, sizeof k, "%.2f %s", w->rate, w->rate_unit);
      else
        snprintf(k, sizeof k, "-");
      if (w->ratio > 0)
        snprintf(l, sizeof l, "%.2fx %s", w->ratio, w->ratio_to);
      else
        snprintf(l, sizeof l, "-");
      sb_printf(&b, " | %d | %s | %s | %s | %s | %s | %s | %s | %s | %s | ", w->runs,
                num(a, sizeof a, w->median_s * 1e3, 3), num(c, sizeof c, w->min_s * 1e3, 3),
                num(e, sizeof e, w->device_s * 1e3, 3), num(f, sizeof f, w->gflops, 1),
                num(g, sizeof g, w->gbps, 1), num(h, sizeof h, w->pct_peak, 1), k, l, w->status);
      md_cell(&b, w->note);
      sb_printf(&b, " |\n");
    }
    sb_printf(&b, "\n");
  }
  return sb_take(&b);
}

/* XML-escaped text. */
static void svg_text(sbuf *b, const char *s) {
  for (; *s; s++) {
    switch (*s) {
    case '<': sb_printf(b, "&lt;"); break;
    case '>': sb_printf(b, "&gt;"); break;
    case '&': sb_printf(b, "&amp;"); break;
    case '"': sb_printf(b, "&quot;"); break;
    default: sb_printf(b, "%c", *s);
    }
  }
}

static const char *impl_color(const char *impl) {
  if (!strcmp(impl, "openblas-host")) return "#ed7d31";
  if (!strcmp(impl, "pytorch-cpu")) return "#70ad47";
  return "#4472c4";
}

/* What a panel of the chart shows. */
enum { PANEL_GFLOPS, PANEL_GBPS, PANEL_RATE };

static double panel_value(const clippo_bench_row *w, int kind, const char *unit) {
  if (strcmp(w->status, "ok") != 0) return 0;
  if (kind == PANEL_GFLOPS) return w->gflops;
  if (kind == PANEL_GBPS) return w->flops > 0 ? 0 : w->gbps;
  return !strcmp(w->rate_unit, unit) ? w->rate : 0;
}

char *clippo_bench_svg(const clippo_bench_report *r) {
  /* Panels: GFLOP/s, GB/s, then one per rate unit. */
  struct {
    int kind;
    char unit[16];
    char title[96];
  } panels[8];
  int np = 0;
  panels[np].kind = PANEL_GFLOPS;
  snprintf(panels[np].title, sizeof panels[np].title, "GFLOP/s (dashed: measured peak)");
  panels[np++].unit[0] = '\0';
  panels[np].kind = PANEL_GBPS;
  snprintf(panels[np].title, sizeof panels[np].title, "GB/s, memory-bound ops (dashed: peak)");
  panels[np++].unit[0] = '\0';
  for (size_t i = 0; i < r->nrows && np < 8; i++) {
    const char *u = r->rows[i].rate_unit;
    if (!u[0] || r->rows[i].rate <= 0) continue;
    int seen = 0;
    for (int p = 0; p < np; p++) seen |= panels[p].kind == PANEL_RATE && !strcmp(panels[p].unit, u);
    if (seen) continue;
    panels[np].kind = PANEL_RATE;
    snprintf(panels[np].unit, sizeof panels[np].unit, "%s", u);
    snprintf(panels[np].title, sizeof panels[np].title, "%s", u);
    np++;
  }
  const int width = 960, label_w = 330, bar_w = 500, row_h = 16, head_h = 28;
  int height = 50;
  for (int p = 0; p < np; p++) {
    int n = 0;
    for (size_t i = 0; i < r->nrows; i++)
      n += panel_value(&r->rows[i], panels[p].kind, panels[p].unit) > 0;
    if (n) height += head_h + n * row_h + 14;
  }
  sbuf b = {0};
  sb_printf(&b,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
            "font-family=\"sans-serif\" font-size=\"11\">\n"
            "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n"
            "<text x=\"10\" y=\"20\" font-size=\"14\" font-weight=\"bold\">clippo bench: ",
            width, height);
  svg_text(&b, r->device.name);
  sb_printf(&b, " (");
  svg_text(&b, r->device.platform);
  sb_printf(&b, ")%s</text>\n", r->quick ? " --quick" : "");
  sb_printf(&b, "<text x=\"10\" y=\"36\" fill=\"#555\">blue: clippo, orange: OpenBLAS on the "
                "host, green: PyTorch CPU; ");
  svg_text(&b, r->started);
  sb_printf(&b, "</text>\n");
  int y = 50;
  for (int p = 0; p < np; p++) {
    double vmax = 0;
    int n = 0;
    for (size_t i = 0; i < r->nrows; i++) {
      double v = panel_value(&r->rows[i], panels[p].kind, panels[p].unit);
      if (v > 0) n++;
      if (v > vmax) vmax = v;
    }
    if (!n) continue;
    double peak = panels[p].kind == PANEL_GFLOPS ? r->peak_gflops
                  : panels[p].kind == PANEL_GBPS ? r->peak_gbps
                                                 : 0;
    if (peak > vmax) vmax = peak;
    sb_printf(&b, "<text x=\"10\" y=\"%d\" font-size=\"13\" font-weight=\"bold\">", y + 18);
    svg_text(&b, panels[p].title);
    sb_printf(&b, "</text>\n");
    y += head_h;
    int top = y;
    for (size_t i = 0; i < r->nrows; i++) {
      const clippo_bench_row *w = &r->rows[i];
      double v = panel_value(w, panels[p].kind, panels[p].unit);
      if (v <= 0) continue;
      char label[200];
      if (w->batch && (!strcmp(w->suite, "embed") || !strcmp(w->suite, "text")))
        snprintf(label, sizeof label, "%s %s batch %zu (%s)", w->suite, w->name, w->batch, w->impl);
      else if (!strcmp(w->suite, "probe"))
        snprintf(label, sizeof label, "probe %s: %.*s", w->name, (int)strcspn(w->shape, ","),
                 w->shape);
      else
        snprintf(label, sizeof label, "%s %s (%s)", w->suite, w->name, w->impl);
      double len = vmax > 0 ? v / vmax * bar_w : 0;
      sb_printf(&b, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">", label_w - 6, y + 12);
      svg_text(&b, label);
      sb_printf(&b,
                "</text><rect x=\"%d\" y=\"%d\" width=\"%.1f\" height=\"%d\" fill=\"%s\"/>"
                "<text x=\"%.1f\" y=\"%d\">%.*f</text>\n",
                label_w, y + 2, len, row_h - 4, impl_color(w->impl), label_w + len + 4, y + 12,
                v < 10 ? 2 : 1, v);
      y += row_h;
    }
    if (peak > 0) {
      double x = label_w + peak / vmax * bar_w;
      sb_printf(&b,
                "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#c00\" "
                "stroke-dasharray=\"4,3\"/><text x=\"%.1f\" y=\"%d\" fill=\"#c00\" "
                "text-anchor=\"end\">peak %.3g</text>\n",
                x, top, x, y, x - 2, top - 2, peak);
    }
    sb_printf(&b, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#333\"/>\n", label_w, top,
              label_w, y);
    y += 14;
  }
  sb_printf(&b, "</svg>\n");
  return sb_take(&b);
}

/* mkdir -p */
static int make_dirs(const char *dir) {
  char tmp[1024];
  if (snprintf(tmp, sizeof tmp, "%s", dir) >= (int)sizeof tmp) return -1;
  for (char *p = tmp + 1; *p; p++) {
    if (*p == '/') {
      *p = '\0';
      if (mkdir(tmp, 0755) != 0 && errno != EEXIST) return -1;
      *p = '/';
    }
  }
  if (mkdir(tmp, 0755) != 0 && errno != EEXIST) return -1;
  struct stat sb;
  if (stat(tmp, &sb) != 0) return -1;
  if (!S_ISDIR(sb.st_mode)) {
    errno = ENOTDIR;
    return -1;
  }
  return 0;
}

clippo_status clippo_bench_write(clippo_bench_report *r, const char *dir, char (*paths)[1200],
                                 clippo_error *err) {
  clippo_bench_finish(r);
  if (!dir || !*dir) dir = ".";
  if (make_dirs(dir) != 0)
    return clippo_fail(err, CLIPPO_E_IO,
                       "cannot create the folder %s for the benchmark reports: %s", dir,
                       strerror(errno));
  const char *ext[3] = {"json", "md", "svg"};
  for (int i = 0; i < 3; i++) {
    char path[1200];
    if (snprintf(path, sizeof path, "%s/bench-%s.%s", dir, r->slug, ext[i]) >= (int)sizeof path)
      return clippo_fail(err, CLIPPO_E_ARG, "bench: output folder name too long: %s", dir);
    char *text = i == 0   ? clippo_bench_json(r)
                 : i == 1 ? clippo_bench_markdown(r)
                          : clippo_bench_svg(r);
    if (!text) return clippo_fail(err, CLIPPO_E_NOMEM, "bench: out of memory writing %s", path);
    clippo_status st = clippo_write_file_atomic(path, text, strlen(text), err);
    free(text);
    if (st) return st;
    if (paths) snprintf(paths[i], sizeof paths[i], "%s", path);
  }
  return CLIPPO_OK;
}
