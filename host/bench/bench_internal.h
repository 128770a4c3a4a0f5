/* Shared by the files of host/bench only: the run in progress, the timing of one measurement,
 * the rows a measurement emits, random data, and each suite's entry point. Not a public header. */
#ifndef CLIPPO_BENCH_INTERNAL_H
#define CLIPPO_BENCH_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "clippo/bench.h"
#include "clippo/model.h"

#if defined(__GNUC__) || defined(__clang__)
#define BENCH_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define BENCH_PRINTF(a, b)
#endif

/** One call to measure; ctx is the suite's own state. */
typedef clippo_status (*bench_fn)(void *ctx, clippo_error *err);

/** What one measurement found. */
typedef struct timing {
  int runs;
  double median_s, min_s, device_s, first_s;
} timing;

/** The run in progress. */
typedef struct bench_suite {
  clippo_rt *rt;
  clippo_bench_opts o; /* resolved */
  clippo_bench_report *r;
  clippo_bench_progress_fn fn;
  void *user;
  clippo_model *b16;              /* kept for the text suite */
  char fma_best[96], bw_best[32]; /* the probe configurations that reached the peaks */
  int use_fma;                    /* the FMA probe calls fma() (else x * a + b) */
} bench_suite;

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
    TRY(bench_emit_status(s, suite_name, name, impl, shape, "failed", (e)->msg, outerr));          \
  } while (0)

/** Median of x[n] (sorts x); 0 for n == 0. */
double bench_median(double *x, int n);

/** A device time from profiling events if it is plausible against the wall clock around it
 * (some drivers, e.g. rusticl on llvmpipe, return times of a few nanoseconds), else 0. */
double bench_plausible(double device_s, double wall_s);

/** Runs fn `warmup` times untimed, then up to `runs` timed calls (at least one; stops early when
 * the next call would pass the budget). rt NULL: host work, wall clock only. */
clippo_status bench_time_calls(const bench_suite *s, clippo_rt *rt, bench_fn fn, void *ctx,
                               timing *t, clippo_error *err);

/** An empty "ok" row of a suite. */
void bench_row_init(clippo_bench_row *row, const char *suite, const char *name, const char *impl);

/** Fills row from a timing. */
void bench_row_timing(clippo_bench_row *row, const timing *t);

/** Appends a row and reports it. */
clippo_status bench_emit(bench_suite *s, const clippo_bench_row *row, clippo_error *err);

/** Appends a row for a measurement that failed (or cannot run: status "unavailable"). */
clippo_status bench_emit_status(bench_suite *s, const char *suite_name, const char *name,
                                const char *impl, const char *shape, const char *status,
                                const char *note, clippo_error *err);

/** ||got - ref|| / ||ref|| (0 when ref is all zeros). */
double bench_rel_l2(const float *got, const float *ref, size_t n);

/** Deterministic values uniform in [lo, hi). */
void bench_fill_uniform(float *x, size_t n, float lo, float hi, unsigned long long seed);

/** A device float32 tensor with values uniform in [lo, hi). */
clippo_status bench_rand_tensor(clippo_rt *rt, clippo_tensor *t, int ndim, const int64_t *shape,
                                float lo, float hi, unsigned seed, clippo_error *err);

/** Floating-point operations of one image through a model (matrix products and attention). */
double bench_model_flops(const clippo_config *c);

/** A randomly initialised model of a preset; *init_s (may be NULL) gets the time it took. */
clippo_status bench_make_model(clippo_rt *rt, const char *variant, clippo_model **out,
                               double *init_s, clippo_error *err);

/** n deterministic captions of 3..20 words (each malloc'ed), or NULL. */
char **bench_make_captions(size_t n);
void bench_free_captions(char **t, size_t n);

/** Planned vs unplanned rows (bench_plan.c): the embedding of n images img by m (f1 FLOPs each),
 * and forward + backward of 2 x pairs inputs of the model model_json (clippo_train_opts.model). */
clippo_status bench_plan_embed_rows(bench_suite *s, clippo_model *m, const char *variant,
                                    const char *shape, const float *img, size_t n, double f1,
                                    clippo_error *err);
clippo_status bench_plan_train_rows(bench_suite *s, const char *model_json, size_t pairs,
                                    clippo_error *err);

/* The suites, each appending its rows (bench_<suite>.c). */
clippo_status bench_run_probe(bench_suite *s, clippo_error *err);
clippo_status bench_run_ops(bench_suite *s, clippo_error *err);
clippo_status bench_run_gemm(bench_suite *s, clippo_error *err);
clippo_status bench_run_embed(bench_suite *s, clippo_error *err);
clippo_status bench_run_text(bench_suite *s, clippo_error *err);
clippo_status bench_run_train(bench_suite *s, clippo_error *err);
clippo_status bench_run_comm(bench_suite *s, clippo_error *err);

#endif
