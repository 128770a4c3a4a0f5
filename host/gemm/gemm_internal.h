/* GEMM internals shared by the files in host/gemm only. */
#ifndef CLIPPO_GEMM_INTERNAL_H
#define CLIPPO_GEMM_INTERNAL_H

#include "clippo/gemm.h"

/** One validated product (batch >= 1, m, n >= 1). */
typedef struct gemm_call {
  int ta, tb;
  size_t m, n, k;
  float alpha, beta;
  const clippo_tensor *a, *b;
  clippo_tensor *c;
  size_t lda, ldb, ldc;
  size_t sa, sb, sc;
  size_t batch;
} gemm_call;

/** The providers' entry points: each runs the whole call on rt's queue. */
clippo_status gemm_clblast_run(clippo_rt *rt, const gemm_call *g, clippo_error *err);
clippo_status gemm_hostblas_run(clippo_rt *rt, const gemm_call *g, clippo_error *err);
clippo_status gemm_kernel_run(clippo_rt *rt, const gemm_call *g, const clippo_gemm_kernel_cfg *cfg,
                              clippo_error *err);

/** CLBlast's Hgemm on float16 tensors a, b, c (alpha, beta rounded to half); needs cl_khr_fp16. */
clippo_status gemm_clblast_run_half(clippo_rt *rt, const gemm_call *g, clippo_error *err);

/** A validated, non-empty call in rt->precision below float32 (host/gemm/precision.c). */
clippo_status gemm_run_reduced(clippo_rt *rt, const gemm_call *g, clippo_error *err);

/** The float32 dispatch (provider choice, fallback) whatever rt->precision says. */
clippo_status gemm_dispatch_f32(clippo_rt *rt, clippo_gemm_provider provider,
                                const clippo_gemm_kernel_cfg *cfg, const gemm_call *g,
                                clippo_error *err);

/** Default deepest slice of k per launch of the kernel (see clippo_gemm_kernel_cfg.kc). */
#define GEMM_KERNEL_DEFAULT_KC 512

/** The kernel provider's default tiles for a device (used before tuning). */
clippo_gemm_kernel_cfg gemm_kernel_default_cfg(const clippo_rt *rt, int trans_a);

/** Fills zero fields of *cfg from the default; 0 if the result is invalid. */
int gemm_kernel_cfg_complete(const clippo_rt *rt, int trans_a, clippo_gemm_kernel_cfg *cfg);

/** Candidate tile configurations for tuning on rt's device, written to out[GEMM_KERNEL_NCAND];
 * returns out, *count gets how many. */
#define GEMM_KERNEL_NCAND 8
const clippo_gemm_kernel_cfg *gemm_kernel_candidates(const clippo_rt *rt,
                                                     clippo_gemm_kernel_cfg *out, size_t *count);

/** The per-device record: one entry per shape class. */
#define GEMM_RECORD_MAX 32
typedef struct gemm_record_entry {
  char shape_class[CLIPPO_GEMM_CLASS_LEN];
  clippo_gemm_provider provider;
  clippo_gemm_kernel_cfg kernel;
  double gflops[CLIPPO_GEMM_NPROVIDERS];
} gemm_record_entry;

typedef struct gemm_record {
  gemm_record_entry e[GEMM_RECORD_MAX];
  size_t n;
} gemm_record;

/** Reads the record at path; a missing file gives an empty record and CLIPPO_OK. Malformed
 * lines are an error naming the file and line. */
clippo_status gemm_record_load(const char *path, gemm_record *rec, clippo_error *err);

/** Writes the record atomically (creating the folder), with a header naming rt's device. */
clippo_status gemm_record_save(const clippo_rt *rt, const char *path, const gemm_record *rec,
                               clippo_error *err);

/** The entry of a class, or NULL. */
const gemm_record_entry *gemm_record_find(const gemm_record *rec, const char *shape_class);

/** Records the call as a step of the graph recording on rt (host/gemm/gemm_graph.c): the step
 * replays it through clippo_gemm_with(provider, cfg). */
clippo_status gemm_graph_record(clippo_rt *rt, clippo_gemm_provider provider,
                                const clippo_gemm_kernel_cfg *cfg, const gemm_call *g,
                                clippo_error *err);

/** Validates and runs a call with one provider (no fallback). */
clippo_status gemm_run_provider(clippo_rt *rt, clippo_gemm_provider p,
                                const clippo_gemm_kernel_cfg *cfg, const gemm_call *g,
                                clippo_error *err);

/** Checks arguments (dtype, leading dimensions, buffer bounds). Returns CLIPPO_OK and *empty = 1
 * when there is nothing to do (m, n or batch zero). */
clippo_status gemm_validate(clippo_rt *rt, const gemm_call *g, int *empty, clippo_error *err);

/** Elements spanned by a batch of rows x cols matrices: (batch-1)*stride + (rows-1)*ld + cols;
 * SIZE_MAX on overflow. */
size_t gemm_extent(size_t rows, size_t cols, size_t ld, size_t stride, size_t batch);

/** Seconds from a monotonic clock. */
double gemm_now(void);

#endif
