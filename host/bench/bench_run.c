/* The benchmark suite of `clippo bench` (include/clippo/bench.h): suite names and options,
 * the timing of one measurement, the rows a measurement emits, and the run over the suites
 * (each suite in its own bench_<suite>.c). */
#include "clippo/bench.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench/bench_internal.h"
#include "clippo/gemm.h"
#include "clippo/ops.h"

/* ---- names, options -------------------------------------------------------------------- */

static const struct {
  unsigned bit;
  const char *name;
} suite_names[] = {{CLIPPO_BENCH_PROBE, "probe"}, {CLIPPO_BENCH_OPS, "ops"},
                   {CLIPPO_BENCH_GEMM, "gemm"},   {CLIPPO_BENCH_EMBED, "embed"},
                   {CLIPPO_BENCH_TEXT, "text"},   {CLIPPO_BENCH_TRAIN, "train"},
                   {CLIPPO_BENCH_BUILD, "build"}, {CLIPPO_BENCH_COMM, "comm"}};
#define NSUITES (sizeof suite_names / sizeof suite_names[0])

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
                           "text, train, build, comm, all)",
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

/* ---- timing ---------------------------------------------------------------------------- */

double clippo_bench_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

void clippo_bench_sort(double *x, size_t n) {
  if (n) qsort(x, n, sizeof *x, cmp_double);
}

/* Median of x[n] (sorts x); 0 for n == 0. */
double bench_median(double *x, int n) {
  if (n <= 0) return 0;
  clippo_bench_sort(x, (size_t)n);
  return n % 2 ? x[n / 2] : 0.5 * (x[n / 2 - 1] + x[n / 2]);
}

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
double bench_plausible(double device_s, double wall_s) {
  if (device_s <= 0 || wall_s <= 0) return 0;
  if (device_s < 0.01 * wall_s || device_s > 1.5 * wall_s) return 0;
  return device_s;
}

/* Runs fn `warmup` times untimed, then up to `runs` timed calls (at least one; stops early when
 * the next call would pass the budget). rt NULL: host work, wall clock only. */
clippo_status bench_time_calls(const bench_suite *s, clippo_rt *rt, bench_fn fn, void *ctx,
                               timing *t, clippo_error *err) {
  memset(t, 0, sizeof *t);
  clippo_status st = CLIPPO_OK;
  for (int w = 0; w < s->o.warmup && !st; w++) {
    double t0 = clippo_bench_now();
    st = fn(ctx, err);
    if (!st && rt) st = clippo_rt_finish(rt, err);
    if (w == 0) t->first_s = clippo_bench_now() - t0;
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
    double t0 = clippo_bench_now();
    if (rt && clEnqueueMarkerWithWaitList(rt->queue, 0, NULL, &e0) != CL_SUCCESS) e0 = NULL;
    st = fn(ctx, err);
    if (!st && rt && e0 && clEnqueueMarkerWithWaitList(rt->queue, 0, NULL, &e1) != CL_SUCCESS)
      e1 = NULL;
    if (!st && rt) st = clippo_rt_finish(rt, err);
    wall[n] = clippo_bench_now() - t0;
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
    t->median_s = bench_median(wall, n);
    t->min_s = wall[0]; /* sorted */
    t->device_s = nd == n ? bench_plausible(bench_median(dev, nd), t->median_s) : 0;
  }
  free(wall);
  free(dev);
  return st;
}

/* Appends a row and reports it. */
clippo_status bench_emit(bench_suite *s, const clippo_bench_row *row, clippo_error *err) {
  clippo_status st = clippo_bench_add(s->r, row, err);
  if (!st && s->fn) s->fn(&s->r->rows[s->r->nrows - 1], s->user);
  return st;
}

/* Appends a row for a measurement that failed (or cannot run: status "unavailable"). */
clippo_status bench_emit_status(bench_suite *s, const char *suite_name, const char *name,
                                const char *impl, const char *shape, const char *status,
                                const char *note, clippo_error *err) {
  clippo_bench_row row;
  bench_row_init(&row, suite_name, name, impl);
  snprintf(row.shape, sizeof row.shape, "%s", shape ? shape : "");
  snprintf(row.status, sizeof row.status, "%s", status);
  snprintf(row.note, sizeof row.note, "%s", note ? note : "");
  return bench_emit(s, &row, err);
}

/* Fills row from a timing. */
void bench_row_timing(clippo_bench_row *row, const timing *t) {
  row->runs = t->runs;
  row->median_s = t->median_s;
  row->min_s = t->min_s;
  row->device_s = t->device_s;
}

/* Deterministic values uniform in [lo, hi). */
/* ||got - ref|| / ||ref|| (0 when ref is all zeros). */
double bench_rel_l2(const float *got, const float *ref, size_t n) {
  double num = 0, den = 0;
  for (size_t j = 0; j < n; j++) {
    double d = (double)got[j] - (double)ref[j];
    num += d * d;
    den += (double)ref[j] * (double)ref[j];
  }
  return den > 0 ? sqrt(num / den) : 0;
}

void bench_fill_uniform(float *x, size_t n, float lo, float hi, unsigned long long seed) {
  unsigned long long st = seed * 0x9E3779B97F4A7C15ull + 0x632BE59BD9B4E019ull;
  for (size_t i = 0; i < n; i++) {
    st ^= st << 13, st ^= st >> 7, st ^= st << 17;
    x[i] = lo + (hi - lo) * (float)((double)(st >> 11) * (1.0 / 9007199254740992.0));
  }
}

/* A device tensor with values uniform in [lo, hi). */
clippo_status bench_rand_tensor(clippo_rt *rt, clippo_tensor *t, int ndim, const int64_t *shape,
                                float lo, float hi, unsigned seed, clippo_error *err) {
  clippo_status st = clippo_tensor_alloc(rt, t, CLIPPO_F32, ndim, shape, err);
  if (st) return st;
  size_t n = clippo_tensor_count(t);
  float *h = malloc((n ? n : 1) * sizeof *h);
  if (!h) return clippo_fail(err, CLIPPO_E_NOMEM, "bench: out of host memory");
  bench_fill_uniform(h, n, lo, hi, seed);
  st = clippo_tensor_write(rt, t, h, err);
  free(h);
  return st;
}

/* ---- the run --------------------------------------------------------------------------- */

clippo_status clippo_bench_run(clippo_rt *rt, const clippo_bench_opts *o, clippo_bench_report *r,
                               clippo_bench_progress_fn fn, void *user, clippo_error *err) {
  bench_suite s;
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
    st = bench_run_probe(&s, err);
  if (!st && (su & CLIPPO_BENCH_OPS)) st = bench_run_ops(&s, err);
  if (!st && (su & CLIPPO_BENCH_GEMM)) st = bench_run_gemm(&s, err);
  if (!st && (su & CLIPPO_BENCH_EMBED)) st = bench_run_embed(&s, err);
  if (!st && (su & CLIPPO_BENCH_TEXT)) st = bench_run_text(&s, err);
  if (!st && (su & CLIPPO_BENCH_TRAIN)) st = bench_run_train(&s, err);
  if (!st && (su & CLIPPO_BENCH_COMM)) st = bench_run_comm(&s, err);
  clippo_model_free(s.b16);
  clippo_bench_finish(r);
  return st;
}

clippo_status clippo_bench_build_kernels(clippo_rt *rt, const char *only, double *seconds,
                                         unsigned *programs, clippo_error *err) {
  char vec_opts[64];
  clippo_ops_build_options(rt, vec_opts, sizeof vec_opts);
  unsigned count = 0;
  double t0 = clippo_bench_now();
  const char *name, *text;
  for (size_t i = 0; (name = clippo_kernel_file(i, &text, NULL)) != NULL; i++) {
    size_t len = strlen(name);
    if (len < 4 || strcmp(name + len - 3, ".cl") != 0) continue;
    if (only) {
      const char *hit = strstr(only, name);
      if (!hit || (hit != only && hit[-1] != ',') || (hit[len] && hit[len] != ',')) continue;
    }
    /* The op families (they include common.h) are built with the device class's vector width,
     * as the launchers do; gemm.cl, probe.cl and selftest.cl with their own defaults. */
    const char *opts = strstr(text, "\"common.h\"") ? vec_opts : "";
    cl_program p;
    clippo_status st = clippo_rt_program(rt, name, opts, &p, err);
    if (st) return st;
    count++;
  }
  if (seconds) *seconds = clippo_bench_now() - t0;
  if (programs) *programs = count;
  return CLIPPO_OK;
}
