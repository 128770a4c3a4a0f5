/* GEMM internals shared by the files in host/gemm only: a validated call, the provider table,
 * the per-runtime state (the parsed provider record, the failure hook, fallback counts) and the
 * record file. */
#ifndef CLIPPO_GEMM_INTERNAL_H
#define CLIPPO_GEMM_INTERNAL_H

#include <stdint.h>
#include <string.h>

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
  /* clippo_gemm_fused's epilogue, C = act(C + bias) (bias and act_out with batch 1 only): bias
   * NULL and act NONE for none. A provider that applies it sets *epi_done (epi_done NULL: nothing
   * asked). */
  const clippo_tensor *bias;
  clippo_gemm_act act;
  clippo_tensor *act_out; /* NULL: act(C + bias) goes to C; else there, C keeps the product */
  int *epi_done;
  /* How oneDNN multiplies a float32 product of few rows by a declared weight (GEMM_DECLARED_*
   * below): GEMM_DECLARED_AUTO takes the record's choice for the shape class. */
  int declared;
} gemm_call;

/** How a float32 product of few rows (a batch-1 embedding's) with a declared weight B runs on
 * oneDNN, the host team taking a block of B's columns each: BLOCKED multiplies by a copy of the
 * block kept in the layout oneDNN's brgemm chooses, into a dense scratch block copied into C;
 * DIRECT lets oneDNN's matmul pick its own layout and write C's columns in place (gemm:jit on
 * AVX-512 without AMX). Which is faster depends on the CPU: `clippo tune` measures both and
 * records the faster per shape class (declared=...); without a record, BLOCKED. */
enum { GEMM_DECLARED_AUTO = 0, GEMM_DECLARED_BLOCKED = 1, GEMM_DECLARED_DIRECT = 2 };

/** A product with no epilogue, in the public entry points' argument order (stride_* are the batch
 * strides; batch 1 for a single product); the epilogue's fields are set afterwards. */
static inline gemm_call gemm_call_of(int trans_a, int trans_b, size_t m, size_t n, size_t k,
                                     float alpha, const clippo_tensor *a, size_t lda,
                                     size_t stride_a, const clippo_tensor *b, size_t ldb,
                                     size_t stride_b, float beta, clippo_tensor *c, size_t ldc,
                                     size_t stride_c, size_t batch) {
  gemm_call g = {.ta = trans_a != 0,
                 .tb = trans_b != 0,
                 .m = m,
                 .n = n,
                 .k = k,
                 .alpha = alpha,
                 .beta = beta,
                 .a = a,
                 .b = b,
                 .c = c,
                 .lda = lda,
                 .ldb = ldb,
                 .ldc = ldc,
                 .sa = stride_a,
                 .sb = stride_b,
                 .sc = stride_c,
                 .batch = batch,
                 .bias = NULL,
                 .act = CLIPPO_GEMM_ACT_NONE,
                 .act_out = NULL,
                 .epi_done = NULL,
                 .declared = GEMM_DECLARED_AUTO};
  return g;
}

/** 1 when g asks for an epilogue. */
static inline int gemm_has_epilogue(const gemm_call *g) {
  return g->bias != NULL || g->act != CLIPPO_GEMM_ACT_NONE || g->act_out != NULL;
}

/** One provider: an entry of the table in host/gemm/gemm.c (the pattern of a backend interface:
 * a name and function pointers, nothing else to register). */
typedef struct gemm_provider {
  clippo_gemm_provider id;
  const char *name;
  /** 1 if it can run on rt's device at all. */
  int (*available)(const clippo_rt *rt);
  /** Runs a validated, non-empty float32 call on rt's queue with the kernel tiles cfg (used by
   * the kernel provider only). On failure *k_done gets the depth of k whose products were
   * already added into C (with alpha and beta applied), 0 when C is untouched: whoever takes
   * over computes only the rest, with beta 1. */
  clippo_status (*run)(clippo_rt *rt, const gemm_call *g, const clippo_gemm_kernel_cfg *cfg,
                       size_t *k_done, clippo_error *err);
  /** The same on float16 tensors a, b, c with float16 arithmetic, or NULL when the provider has
   * none. C is untouched on failure. */
  clippo_status (*run_half)(clippo_rt *rt, const gemm_call *g, clippo_error *err);
  /** Drops what the provider keeps of weights in mem (clippo_gemm_forget_weights), or NULL when
   * it keeps nothing. */
  void (*forget_weights)(clippo_rt *rt, cl_mem mem);
} gemm_provider;

/** The entries, defined by each provider's file. */
extern const gemm_provider gemm_provider_clblast;
extern const gemm_provider gemm_provider_hostblas;
extern const gemm_provider gemm_provider_kernel;
extern const gemm_provider gemm_provider_onednn;

/** The operands of a call mapped into host memory (host-unified devices): a, b, c point at the
 * first element of each view (a and b are NULL when k == 0). */
typedef struct gemm_mapped {
  float *a, *b, *c;
  const float *bias; /* the epilogue's bias (g->bias), or NULL */
  float *act_out;    /* the epilogue's act_out (g->act_out), or NULL */
  struct gemm_map_region {
    cl_mem mem;
    size_t lo, hi; /* in floats */
    cl_map_flags flags;
    float *ptr; /* mapped address of element lo */
    int kept;   /* in a declared buffer's lasting map (gemm_weights_map): not unmapped */
  } r[5];
  int n;
} gemm_mapped;

/** Maps g's operands (host/gemm/gemm_map.c) after everything queued before; who names the caller
 * in errors ("host BLAS gemm"). On failure nothing stays mapped. */
clippo_status gemm_map(clippo_rt *rt, const gemm_call *g, const char *who, gemm_mapped *m,
                       clippo_error *err);

/** Applies g's epilogue to C after a product by a provider that did not (maps C and the bias). */
clippo_status gemm_epilogue_mapped(clippo_rt *rt, const gemm_call *g, clippo_error *err);

/** Applies g's epilogue to the host memory mp points at (every matrix of the batch). */
void gemm_epilogue_host(const gemm_call *g, const gemm_mapped *mp);

/** The host's vectorisable loops (oneDNN's provider: quantisation; host/gemm/epilogue.c: bias and
 * GELU) compiled also for AVX-512 and AVX2, picked at load time by the CPU (GCC's function
 * multiversioning on x86-64 ELF); the build itself targets baseline x86-64 (SSE2), where they ran
 * 4 lanes wide (the quantisation's took 6 % of an int8 batch-1 embedding). Elsewhere the plain
 * build. */
#if defined(__x86_64__) && defined(__ELF__) && defined(__GNUC__) && !defined(__clang__)
#define GEMM_SIMD_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define GEMM_SIMD_CLONES
#endif

/** The bits of a float, and the float of some bits. */
static inline uint32_t gemm_float_bits(float f) {
  uint32_t u;
  memcpy(&u, &f, sizeof u);
  return u;
}

static inline float gemm_bits_float(uint32_t u) {
  float f;
  memcpy(&f, &u, sizeof f);
  return f;
}

/** to[j] = act(row[j] + bias[j]) for j < n, act NONE or GELU (tanh form), bias NULL for none; to
 * may be row (in place), else the two do not overlap. The same bits on every CPU (host/gemm/
 * epilogue.c): the host epilogues of the GEMM layer and of oneDNN's provider. */
void gemm_bias_act_row(float *to, const float *row, const float *bias, size_t n,
                       clippo_gemm_act act);

/** C = alpha op(A) op(B) + beta C of g by the host BLAS on host memory (a and b unused when
 * g->k == 0); CLIPPO_E_UNSUPPORTED when a size exceeds the BLAS's int. */
clippo_status gemm_hostblas_product(const gemm_call *g, const float *a, const float *b, float *c,
                                    clippo_error *err);

/** The product of a host provider on g's operands in host memory (mp): arg is the provider's own
 * (its arithmetic), fail_at the failure hook's stage (1: before the product, 2: in the epilogue;
 * 0: none), *product_done set once C holds the product (an epilogue, g->epi_done, may still fail
 * after it). */
typedef clippo_status (*gemm_host_fn)(clippo_rt *rt, int arg, int fail_at, const gemm_call *g,
                                      const gemm_mapped *mp, int *product_done, clippo_error *err);

/** 1 when host products can run as commands of rt's queue (gemm_host_enqueue): the device runs
 * native kernels (PoCL), shares the host's memory and its queue is in order. */
int gemm_host_async(const clippo_rt *rt);

/** Queues fn on g as a native kernel of rt's queue (host/gemm/gemm_map.c), between non-blocking
 * maps of the operands and their unmaps: it runs when the commands before it have finished, on
 * the device's thread, and the caller goes on at once. What
 * fails in there cannot reach the caller: the host BLAS computes the product (and the plain loop
 * the epilogue) instead, and the fallback is counted (clippo_gemm_fallback_count). fail_at goes
 * to fn. Sets *g->epi_done: the job always applies the epilogue. who names the provider in
 * notes. */
clippo_status gemm_host_enqueue(clippo_rt *rt, const gemm_call *g, const char *who, gemm_host_fn fn,
                                int arg, int fail_at, clippo_error *err);

/** Finishes on the host what a host provider's run on mp left after it failed with e: the
 * product by the host BLAS unless product_done, then the epilogue by the plain loop where one was
 * asked and not applied (*g->epi_done 0; set after); counts the fallback, naming who (queued: as
 * a product queued by gemm_host_enqueue). */
void gemm_host_finish(clippo_rt *rt, const gemm_call *g, const gemm_mapped *mp, const char *who,
                      int queued, int product_done, const clippo_error *e);

/** Waits for the products queued by gemm_host_enqueue before the caller changes what they read
 * (declared weights, the providers' state). */
void gemm_host_wait(const clippo_rt *rt);

/** The public entry's dispatch (record, validate, run) of one call, for replays of a graph. */
clippo_status gemm_dispatch_call(clippo_rt *rt, clippo_gemm_provider want,
                                 const clippo_gemm_kernel_cfg *cfg, const gemm_call *g,
                                 clippo_error *err);

/** Unmaps what gemm_map mapped; returns st, or the unmap's failure when st is CLIPPO_OK. */
clippo_status gemm_unmap(clippo_rt *rt, gemm_mapped *m, clippo_status st, const char *who,
                         clippo_error *err);

/** Adds mem (retained) to rt's declared weights (clippo_gemm_declare_weights). */
clippo_status gemm_weights_declare(clippo_rt *rt, cl_mem mem, clippo_error *err);

/** Removes mem from the declared weights and releases it; 0 when it was not declared. */
int gemm_weights_undeclare(clippo_rt *rt, cl_mem mem);

/** 1 while mem is declared unchanging (clippo_gemm_declare_weights) on rt. */
int gemm_weights_declared(const clippo_rt *rt, cl_mem mem);

/** All of declared buffer mem mapped for reading, made on first use (a blocking map: after
 * everything queued before) and kept until the declaration ends (unmapped then, or when the
 * runtime goes); NULL when mem is not declared or the map failed. OpenCL lets kernels read a
 * buffer mapped for reading (only writing it is undefined, and a declared buffer is not
 * written), so products need not map and unmap it each time. */
float *gemm_weights_map(clippo_rt *rt, cl_mem mem);

/** A provider's own state in rt's GEMM state (e.g. oneDNN's engine and primitive cache): *out
 * gets what gemm_provider_state_set stored (NULL at first). Creates the GEMM state. */
clippo_status gemm_provider_state(clippo_rt *rt, clippo_gemm_provider p, void **out,
                                  clippo_error *err);

/** Stores provider p's state; release (may be NULL) frees it with the runtime. */
clippo_status gemm_provider_state_set(clippo_rt *rt, clippo_gemm_provider p, void *state,
                                      void (*release)(void *state), clippo_error *err);

/** 1 for the precisions only oneDNN multiplies (bf16, int8). */
static inline int gemm_precision_onednn(clippo_precision p) {
  return p == CLIPPO_PRECISION_BF16 || p == CLIPPO_PRECISION_INT8;
}

/** A validated, non-empty call in bfloat16 or int8 (rt->precision) through oneDNN on a
 * host-unified CPU device (host/gemm/provider_onednn.c); CLIPPO_E_UNSUPPORTED naming the device
 * where that cannot run. */
clippo_status gemm_onednn_run_reduced(clippo_rt *rt, const gemm_call *g, clippo_error *err);

/** int8's weights (B) are quantised to [-levels, levels] with per-column scales: 127 where oneDNN
 * multiplies int8 with dot-product instructions (VNNI, AMX), 63 elsewhere (AVX2, AVX-512 without
 * VNNI), whose kernels add pairs of byte products in saturating int16. Activations keep 127. */
int gemm_onednn_int8_weight_levels(void);

/** A validated, non-empty call in rt->precision below float32 (host/gemm/precision.c); the
 * float32 or float16 products go through gemm_run_validated. */
clippo_status gemm_run_reduced(clippo_rt *rt, clippo_gemm_provider want, const gemm_call *g,
                               clippo_error *err);

/** Runs a validated, non-empty call: the choice (want: a provider, which gets no fallback, or
 * CLIPPO_GEMM_AUTO; cfg: kernel tiles or NULL for the chosen ones) and the fallback, both in
 * host/gemm/gemm.c. half: the tensors are float16 and the providers' run_half multiplies them. */
clippo_status gemm_run_validated(clippo_rt *rt, clippo_gemm_provider want,
                                 const clippo_gemm_kernel_cfg *cfg, int half, const gemm_call *g,
                                 clippo_error *err);

/** The test hook (clippo_gemm_inject_failure): CLIPPO_E_DEVICE, as a failed launch, when
 * provider p's launch number `launch` of a product is the one to fail; else CLIPPO_OK. */
clippo_status gemm_injected_failure(clippo_rt *rt, clippo_gemm_provider p, int launch,
                                    clippo_error *err);

/** Counts a product that a fallback provider finished; what: the sentence
 * clippo_gemm_fallback_count returns. */
void gemm_note_fallback(clippo_rt *rt, const char *what);

/** Default deepest slice of k per launch of the kernel (see clippo_gemm_kernel_cfg.kc). */
#define GEMM_KERNEL_DEFAULT_KC 512

/** The device's native float vector width (4, 8 or 16), from the GEMM state once it exists. */
int gemm_native_width(const clippo_rt *rt);

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
  int declared; /* GEMM_DECLARED_BLOCKED or _DIRECT; GEMM_DECLARED_AUTO: not measured */
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

/** The record rt's products follow (read from clippo_gemm_record_path once, kept in the
 * runtime's GEMM state; read again only when that path changes or after
 * clippo_gemm_forget_record). *out is NULL when there is no record path. A malformed record is
 * its error, every time, until it is fixed and forgotten. */
clippo_status gemm_record_current(clippo_rt *rt, const gemm_record **out, clippo_error *err);

/** Replaces the record rt's products follow (after clippo_gemm_tune wrote it to path). */
clippo_status gemm_record_set_current(clippo_rt *rt, const char *path, const gemm_record *rec,
                                      clippo_error *err);

/** Records the call as a step of the graph recording on rt (host/gemm/gemm_graph.c): the step
 * replays it through clippo_gemm_with(provider, cfg). */
clippo_status gemm_graph_record(clippo_rt *rt, clippo_gemm_provider provider,
                                const clippo_gemm_kernel_cfg *cfg, const gemm_call *g,
                                clippo_error *err);

/** Checks arguments (float32, leading dimensions, buffer bounds). Returns CLIPPO_OK and
 * *empty = 1 when there is nothing to do (m, n or batch zero). */
clippo_status gemm_validate(clippo_rt *rt, const gemm_call *g, int *empty, clippo_error *err);

/** Elements spanned by a batch of rows x cols matrices: (batch-1)*stride + (rows-1)*ld + cols;
 * SIZE_MAX on overflow. */
size_t gemm_extent(size_t rows, size_t cols, size_t ld, size_t stride, size_t batch);

/** A team of host threads for products on host memory (host/gemm/host_team.c): the caller and
 * threads - 1 workers that sleep on a condition variable between jobs (no spinning, so that they
 * leave the cores to the OpenCL device's threads). init (may be NULL) runs once in each worker.
 * Fewer workers start when the system refuses threads; the team works with what it has. */
typedef struct host_team host_team;
clippo_status host_team_create(int threads, void (*init)(void), host_team **out, clippo_error *err);

/** Threads of the team, the caller included (1 for NULL). */
int host_team_size(const host_team *t);

/** Runs fn(ctx, i) for i in [0, parts) (parts capped at the team's size): part 0 on the calling
 * thread, the others on workers; returns when all have finished. */
void host_team_run(host_team *t, int parts, void (*fn)(void *ctx, int part), void *ctx);

/** Stops and joins the workers and frees the team (NULL: nothing). */
void host_team_free(host_team *t);

/** Seconds from a monotonic clock. */
double gemm_now(void);

#endif
