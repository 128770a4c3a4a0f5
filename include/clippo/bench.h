/* The benchmark suite behind `clippo bench`: per-op timings at ViT-B/16 shapes, every B/16 GEMM
 * shape beside host OpenBLAS, end-to-end image embedding, text rendering and embedding, training
 * steps, the device's measured peak (kernels/probe.cl) and kernel build times. Results are rows
 * of one report per device, written as JSON, a Markdown table and an SVG bar chart.
 *
 * Timing: each measurement runs `warmup` untimed calls, then `runs` timed ones (fewer when a call
 * is so slow that they would exceed the time budget) and keeps the median and the minimum. A call
 * is timed by the wall clock from its first enqueue to clFinish and, where the device supports it,
 * by OpenCL profiling events (markers on the runtime's profiling queue around the call; the probe
 * kernels' own events). */
#ifndef CLIPPO_BENCH_H
#define CLIPPO_BENCH_H

#include <stddef.h>

#include "clippo/dist.h"
#include "clippo/runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Suites: bits of clippo_bench_opts.suites. */
#define CLIPPO_BENCH_PROBE (1u << 0) /* peak FMA GFLOP/s and copy/triad GB/s */
#define CLIPPO_BENCH_OPS (1u << 1)   /* forward ops, attention, patch embedding, loss */
#define CLIPPO_BENCH_GEMM (1u << 2)  /* the B/16 GEMM shapes, clippo and host OpenBLAS */
#define CLIPPO_BENCH_EMBED (1u << 3) /* image embedding, B/16 and L/16, several batches */
#define CLIPPO_BENCH_TEXT (1u << 4)  /* text rendering, text embedding */
#define CLIPPO_BENCH_TRAIN (1u << 5) /* training steps/s of a small model */
#define CLIPPO_BENCH_BUILD (1u << 6) /* cold and warm build of every kernel file */
#define CLIPPO_BENCH_ALL 0x7fu
#define CLIPPO_BENCH_COMM                                                                          \
  (1u << 7) /* exchanges of data-parallel training (under mpirun; not                              \
             * in "all") */

/** Parses a comma-separated list of suite names ("probe,ops,gemm,embed,text,train,build" or
 * "all") into bits; an unknown name is CLIPPO_E_ARG naming it and the valid ones. */
clippo_status clippo_bench_parse_suites(const char *list, unsigned *out, clippo_error *err);

/** Most embedding batch sizes one run takes. */
#define CLIPPO_BENCH_MAX_BATCHES 8

/** What to run. Zero-initialise (or clippo_bench_opts_default) and set what differs. */
typedef struct clippo_bench_opts {
  unsigned suites;   /* CLIPPO_BENCH_* bits; 0: all */
  int quick;         /* small sizes and few runs (seconds, not minutes) */
  int runs;          /* timed runs per measurement; 0: 5 (quick: 3) */
  int warmup;        /* untimed runs first; 0: 1 */
  double budget_s;   /* rough cap on the timed runs of one measurement; 0: 60 (quick: 8) */
  char variants[64]; /* embedding models, "b16,l16"; "": b16,l16 (quick: b16) */
  size_t batches[CLIPPO_BENCH_MAX_BATCHES]; /* embedding batches; nbatches 0: 1,8,32 (quick: 1) */
  size_t nbatches;
  size_t images; /* images of the op and GEMM shapes (196 tokens each); 0: 8 (quick: 4) */
  const char *const *fonts; /* text suite fonts; nfonts 0: clippo_font_load's default */
  size_t nfonts;
  const char *captions;    /* train suite: caption templates; NULL: configs/fmnist_captions.json
                            * when readable, else a built-in set */
  const clippo_dist *dist; /* comm suite: the ranks (NULL: one; every rank runs the suite) */
  int profile; /* planned runs also broken down by step (suite "profile", clippo_step_profile) */
} clippo_bench_opts;

/** Seconds from a monotonic clock (the bench suite's and the bench programs' timer). */
double clippo_bench_now(void);

/** Sorts x[n] ascending (for medians and ranges of timings). */
void clippo_bench_sort(double *x, size_t n);

/** Fills *o with the defaults (every suite, 5 runs, B/16 and L/16 at batches 1, 8, 32). */
void clippo_bench_opts_default(clippo_bench_opts *o);

/** Copies in to *out with every zero field replaced by its default (quick or not). */
void clippo_bench_opts_resolve(const clippo_bench_opts *in, clippo_bench_opts *out);

/** One measurement. Numbers that do not apply are 0. */
typedef struct clippo_bench_row {
  char suite[16];         /* "probe", "ops", "gemm", "embed", "text", "train", "build",
                           * "profile" */
  char name[64];          /* op, GEMM shape, model ("b16") or probe ("fma", "triad") */
  char impl[32];          /* who ran it: "clippo", "openblas-host", "pytorch-cpu" */
  char shape[96];         /* the sizes, in words */
  char status[16];        /* "ok", "unavailable" or "failed" */
  char note[256];         /* provider chosen, first-call time, why unavailable, the error... */
  size_t batch;           /* images or texts per call (embed, text, train) */
  int runs;               /* timed runs behind the median */
  double median_s, min_s; /* wall clock of one call */
  double device_s;        /* median span between OpenCL profiling events around the call */
  double flops;           /* floating-point operations per call */
  double bytes;           /* bytes a memory-bound call must move */
  double gflops, gbps;    /* from median_s (device_s for the probe) */
  double pct_peak;    /* of the probe's GFLOP/s (rows with flops) or GB/s (rows with bytes only);
                       * host baselines only on CPU devices */
  double rate;        /* items per second */
  char rate_unit[16]; /* "images/s", "texts/s", "steps/s" */
  double ratio;       /* this row's speed over ratio_to's (rate, else GFLOP/s) */
  char ratio_to[32];
} clippo_bench_row;

/** The results for one device. */
typedef struct clippo_bench_report {
  clippo_device_info device;
  char slug[96];    /* file-name form of the device, see clippo_bench_slug */
  char started[32]; /* UTC, ISO 8601 */
  char host[512];   /* CPU model, cores, memory, BLAS-related environment */
  int quick, runs, warmup;
  size_t images;      /* images of the op and GEMM shapes */
  char precision[24]; /* the engine's GEMM arithmetic (CLIPPO_PRECISION; "fp32" by default) */
  double peak_gflops; /* measured by the probe; 0: not measured */
  double peak_gbps;
  char peak_note[128]; /* the probe configurations that reached the peaks */
  clippo_bench_row *rows;
  size_t nrows, cap;
} clippo_bench_report;

/** The file-name form of a device: a short platform name ("pocl", "rusticl", else the
 * platform's first word) and the device name, lowercase letters, digits and '-', e.g.
 * "pocl-pthread-haswell-amd-epyc". */
void clippo_bench_slug(const clippo_device_info *dev, char *out, size_t size);

/** Starts an empty report for dev with o's settings (host description and time filled in; the
 * host description reports the BLAS environment found by clippo_settings_from_env, whose errors
 * it returns). */
clippo_status clippo_bench_report_init(clippo_bench_report *r, const clippo_device_info *dev,
                                       const clippo_bench_opts *o, clippo_error *err);

/** Frees the rows and zeroes r. */
void clippo_bench_report_free(clippo_bench_report *r);

/** Appends a copy of row (e.g. a result measured elsewhere: PyTorch, a child process). */
clippo_status clippo_bench_add(clippo_bench_report *r, const clippo_bench_row *row,
                               clippo_error *err);

/** Reads a row from a JSON object with the keys of clippo_bench_row (the output of
 * bench/pytorch_vit.py and of clippo_bench_row_json); missing keys stay zero, status defaults
 * to "ok". */
clippo_status clippo_bench_row_from_json(const char *json, clippo_bench_row *row,
                                         clippo_error *err);

/** One row as a one-line JSON object (malloc'ed; NULL when out of memory). */
char *clippo_bench_row_json(const clippo_bench_row *row);

/** Called after each row is added by clippo_bench_run (the CLI prints progress with it). */
typedef void (*clippo_bench_progress_fn)(const clippo_bench_row *row, void *user);

/** Runs the suites of o on rt's device and appends their rows to r (the probe first, and also
 * whenever another suite needs the peaks for its % of peak). A measurement that fails becomes a
 * row with status "failed" and its error; only running out of host memory stops the run. The
 * build suite is not run here (it needs fresh driver caches: see clippo_bench_build_kernels). */
clippo_status clippo_bench_run(clippo_rt *rt, const clippo_bench_opts *o, clippo_bench_report *r,
                               clippo_bench_progress_fn fn, void *user, clippo_error *err);

/** Builds every embedded kernel file (each kernels/FAMILY.cl; only: a comma-separated list of
 * file names such as "layernorm.cl,softmax.cl", NULL for all) with its default options (the op
 * families with the device class's -DVEC, the others with none) through rt's cache; *seconds
 * gets the wall time and *programs how many were built or loaded. Call it on a fresh runtime:
 * programs rt already holds are not rebuilt. */
clippo_status clippo_bench_build_kernels(clippo_rt *rt, const char *only, double *seconds,
                                         unsigned *programs, clippo_error *err);

/** The kernel files --quick builds in the build suite. */
#define CLIPPO_BENCH_QUICK_KERNELS "layernorm.cl,softmax.cl,activation.cl,attention.cl"

/** Derives GFLOP/s, GB/s, % of peak and ratios (clippo GEMM rows over openblas-host on the same
 * shape, clippo image embedding over pytorch-cpu at the same model and batch). Idempotent; the
 * writers call it. */
void clippo_bench_finish(clippo_bench_report *r);

/** The report as JSON, as a Markdown document and as an SVG bar chart (malloc'ed strings; NULL
 * when out of memory). */
char *clippo_bench_json(const clippo_bench_report *r);
char *clippo_bench_markdown(const clippo_bench_report *r);
char *clippo_bench_svg(const clippo_bench_report *r);

/** Writes dir/bench-<slug>.json, .md and .svg (atomically; dir and its parents are created if
 * missing). paths (may be NULL) receives the three file names in that order. */
clippo_status clippo_bench_write(clippo_bench_report *r, const char *dir, char (*paths)[1200],
                                 clippo_error *err);

#ifdef __cplusplus
}
#endif
#endif
