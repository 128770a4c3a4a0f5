/* Matrix products on a device: one interface, several providers (CLBlast, host BLAS and oneDNN
 * on host-unified CPU devices, the project's own kernel), chosen per device and shape class.
 *
 * The choice is data: a small record per device (<cache_dir>/gemm-<devicehash>.txt, written by
 * clippo_gemm_tune / `clippo tune`) maps each shape class to a provider (and, for the kernel
 * provider, a tile configuration). Without a record a default applies: on host-unified CPU
 * devices oneDNN (which picks its kernels from the CPU's feature flags) when the build has it,
 * else the host BLAS; CLBlast on GPUs and accelerators; the kernel elsewhere. rt->settings.gemm
 * (env CLIPPO_GEMM=clblast|hostblas|kernel|onednn) forces one provider (auto or empty: the normal
 * choice); rt->settings.gemm_record (env CLIPPO_GEMM_RECORD) names another record file. The
 * record is read
 * once per runtime (again only when its path changes, after clippo_gemm_forget_record, or when
 * clippo_gemm_tune writes it). When the chosen provider fails (not for bad arguments, not when
 * forced) the next available one computes what is left of the product: a provider that already
 * added part of the depth into C hands over only the rest, so beta is applied once. The error
 * names every provider that failed; clippo_gemm_fallback_count tells that it happened.
 * The GEMM layer sits right above the runtime: the ops use it, it uses no op. */
#ifndef CLIPPO_GEMM_H
#define CLIPPO_GEMM_H

#include "clippo/runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

/** C = alpha * op(A) * op(B) + beta * C, all row-major float32. op(A) is m x k, op(B) is k x n.
 * trans_a/trans_b non-zero mean A/B are stored transposed. Leading dimensions are in elements;
 * tensor offsets (views) are honoured. beta == 0 never reads C. Matrices are checked against
 * the size of their buffers (not the view's shape), so strided views are fine. */
clippo_status clippo_gemm(clippo_rt *rt, int trans_a, int trans_b, size_t m, size_t n, size_t k,
                          float alpha, const clippo_tensor *a, size_t lda, const clippo_tensor *b,
                          size_t ldb, float beta, clippo_tensor *c, size_t ldc, clippo_error *err);

/** `batch` independent products; matrix i of A starts stride_a elements after matrix i-1
 * (likewise B and C). Strides of A and B may be 0 (the same matrix for every entry). */
clippo_status clippo_gemm_batched(clippo_rt *rt, int trans_a, int trans_b, size_t m, size_t n,
                                  size_t k, float alpha, const clippo_tensor *a, size_t lda,
                                  size_t stride_a, const clippo_tensor *b, size_t ldb,
                                  size_t stride_b, float beta, clippo_tensor *c, size_t ldc,
                                  size_t stride_c, size_t batch, clippo_error *err);

/** What clippo_gemm_fused does to C after the product: C = act(C + bias). */
typedef enum clippo_gemm_act {
  CLIPPO_GEMM_ACT_NONE = 0,   /* C + bias */
  CLIPPO_GEMM_ACT_GELU = 1,   /* GELU(C + bias), the tanh form of kernels/activation.cl */
  CLIPPO_GEMM_ACT_SOFTMAX = 2 /* each row of C (no bias): exp(x - max) / sum, as
                                 kernels/softmax.cl (attention probabilities) */
} clippo_gemm_act;

/** clippo_gemm (one product), then C = act(C + bias) with bias n floats (NULL: no bias); with
 * act_out (NULL: none; m x n, leading dimension ldc, not overlapping C or the bias) C keeps the
 * product alone and act(C + bias) goes to act_out instead (a training forward keeps both; one
 * pass over C, whose reader adds the bias again where it needs C + bias). The
 * provider applies it to C as its blocks come out where it can (oneDNN on a host-unified CPU,
 * in every precision: clippo_gemm_fuses_epilogue says 1); anywhere else C is mapped to the host
 * after the product and the epilogue applied there: correct, but slower than clippo_gemm followed
 * by clippo_op_bias_gelu / clippo_op_bias_add on a device with its own memory. bias must not
 * overlap C. */
clippo_status clippo_gemm_fused(clippo_rt *rt, int trans_a, int trans_b, size_t m, size_t n,
                                size_t k, float alpha, const clippo_tensor *a, size_t lda,
                                const clippo_tensor *b, size_t ldb, float beta, clippo_tensor *c,
                                size_t ldc, const clippo_tensor *bias, clippo_gemm_act act,
                                clippo_tensor *act_out, clippo_error *err);

/** clippo_gemm_batched, then act over every matrix of C: CLIPPO_GEMM_ACT_SOFTMAX (each row) or
 * CLIPPO_GEMM_ACT_GELU; no bias. Applied as clippo_gemm_fused's epilogue is (inside the product
 * where the provider does it, else over C mapped afterwards). */
clippo_status clippo_gemm_batched_fused(clippo_rt *rt, int trans_a, int trans_b, size_t m, size_t n,
                                        size_t k, float alpha, const clippo_tensor *a, size_t lda,
                                        size_t stride_a, const clippo_tensor *b, size_t ldb,
                                        size_t stride_b, float beta, clippo_tensor *c, size_t ldc,
                                        size_t stride_c, size_t batch, clippo_gemm_act act,
                                        clippo_error *err);

/** 1 when clippo_gemm_fused (batch 1) or clippo_gemm_batched_fused of this shape runs its
 * epilogue inside the product on rt's device (the provider chosen for the shape does it), 0 when
 * it would map C afterwards. */
int clippo_gemm_fuses_epilogue(clippo_rt *rt, int trans_a, int trans_b, size_t m, size_t n,
                               size_t k, size_t batch);

/** The providers. CLIPPO_GEMM_AUTO means "as chosen for the device and shape". */
typedef enum clippo_gemm_provider {
  CLIPPO_GEMM_AUTO = 0,
  CLIPPO_GEMM_CLBLAST = 1,  /* CLBlast on the device's queue */
  CLIPPO_GEMM_HOSTBLAS = 2, /* OpenBLAS cblas_sgemm on mapped buffers (host-unified devices) */
  CLIPPO_GEMM_KERNEL = 3,   /* kernels/gemm.cl: register tiles for CPU-class devices */
  CLIPPO_GEMM_ONEDNN = 4    /* oneDNN (dnnl_sgemm, matmul primitives) on mapped buffers of
                               host-unified CPU devices; available when built with oneDNN */
} clippo_gemm_provider;
#define CLIPPO_GEMM_NPROVIDERS 5

/** "auto", "clblast", "hostblas", "kernel", "onednn". */
const char *clippo_gemm_provider_name(clippo_gemm_provider p);

/** Parses a provider name (as above); error CLIPPO_E_ARG names the valid ones. */
clippo_status clippo_gemm_provider_parse(const char *name, clippo_gemm_provider *out,
                                         clippo_error *err);

/** 1 if provider p can run on rt's device at all (host BLAS needs host-unified memory; oneDNN a
 * host-unified CPU device and a build with oneDNN). */
int clippo_gemm_provider_available(const clippo_rt *rt, clippo_gemm_provider p);

/** The host BLAS as this process sees it, e.g. "OpenBLAS, core SkylakeX (AVX-512 kernels)". */
void clippo_gemm_hostblas_describe(char *out, size_t size);

/** 1 if this build has the oneDNN provider (CMake CLIPPO_ONEDNN found libdnnl). */
int clippo_gemm_onednn_built(void);

/** oneDNN as this process sees it, e.g. "oneDNN 2.6.3 (commit ...), CPU ISA avx512_core_amx:
 * AVX-512, VNNI, AVX512-BF16, AMX", or why there is none ("not built in: ..."). */
void clippo_gemm_onednn_describe(char *out, size_t size);

/** oneDNN called directly on host memory, the way the onednn provider calls it (dnnl_sgemm per
 * matrix; a batched matmul primitive for batches), in float32: row-major C = alpha op(A) op(B) +
 * beta C for `batch` matrices with the given strides. Primitives are kept in rt's GEMM state (rt
 * may be NULL: created for the call). For benchmarks (oneDNN's own rate beside the provider's).
 * CLIPPO_E_UNSUPPORTED when the build has no oneDNN. */
clippo_status clippo_gemm_onednn_host(clippo_rt *rt, int trans_a, int trans_b, size_t m, size_t n,
                                      size_t k, float alpha, const float *a, size_t lda,
                                      size_t stride_a, const float *b, size_t ldb, size_t stride_b,
                                      float beta, float *c, size_t ldc, size_t stride_c,
                                      size_t batch, clippo_error *err);

/** Tile configuration of the kernel provider: TM rows x (VW*NV) columns per work-item, work-group
 * LX x LY work-items, products deeper than KC run as slices of depth <= KC. Zero fields mean
 * "the default". Written "TMxVWxNV/LXxLY/KC". */
typedef struct clippo_gemm_kernel_cfg {
  int tm, vw, nv, lx, ly, kc;
} clippo_gemm_kernel_cfg;

/** Writes cfg as "TMxVWxNV/LXxLY/KC" (e.g. "4x8x3/8x1/512"). */
void clippo_gemm_kernel_cfg_format(const clippo_gemm_kernel_cfg *cfg, char *out, size_t size);

/** Parses "TMxVWxNV/LXxLY[/KC]"; CLIPPO_E_ARG (naming the text) when malformed or out of range
 * (VW 1, 2, 4, 8 or 16; TM 1..16; NV 1..8; LX*LY <= 1024). */
clippo_status clippo_gemm_kernel_cfg_parse(const char *text, clippo_gemm_kernel_cfg *cfg,
                                           clippo_error *err);

/** Longest shape class name, with its terminator. */
#define CLIPPO_GEMM_CLASS_LEN 16

/** The shape class of a product: "mat" or "bat" (batch > 1), the transposes ("nn", "nt", "tn",
 * "tt") and "s" or "l" (m*n*k*batch below or above 2^24), e.g. "bat_nt_l". */
void clippo_gemm_shape_class(int trans_a, int trans_b, size_t m, size_t n, size_t k, size_t batch,
                             char out[CLIPPO_GEMM_CLASS_LEN]);

/** Which provider a product would use and why. */
typedef struct clippo_gemm_choice {
  clippo_gemm_provider provider;
  clippo_gemm_kernel_cfg kernel; /* the kernel provider's tiles (filled whatever the provider) */
  char shape_class[CLIPPO_GEMM_CLASS_LEN];
  char source[64];     /* "the caller", "env CLIPPO_GEMM", "record", "record (class mat_nn_l)",
                          "default", "float16 arithmetic" (precision fp16) */
  int declared_direct; /* oneDNN, float32, at most 256 rows, B a declared weight: 1 when the
                          record says declared=direct (the matmul writes C itself), else 0 */
} clippo_gemm_choice;

/** Fills *out with the provider a product of this shape would use on rt's device. */
clippo_status clippo_gemm_choose(clippo_rt *rt, int trans_a, int trans_b, size_t m, size_t n,
                                 size_t k, size_t batch, clippo_gemm_choice *out,
                                 clippo_error *err);

/** clippo_gemm_batched with an explicit provider (CLIPPO_GEMM_AUTO: the normal choice, with
 * its fallback) and, for the kernel provider, an explicit tile configuration (NULL: the chosen
 * one). An explicit provider gets no fallback: its failure is returned (C may then hold part of
 * the product). For tests, benchmarks and recorded graphs. */
clippo_status clippo_gemm_with(clippo_rt *rt, clippo_gemm_provider provider,
                               const clippo_gemm_kernel_cfg *cfg, int trans_a, int trans_b,
                               size_t m, size_t n, size_t k, float alpha, const clippo_tensor *a,
                               size_t lda, size_t stride_a, const clippo_tensor *b, size_t ldb,
                               size_t stride_b, float beta, clippo_tensor *c, size_t ldc,
                               size_t stride_c, size_t batch, clippo_error *err);

/** One product shape to measure. */
typedef struct clippo_gemm_shape {
  const char *name;
  int trans_a, trans_b;
  size_t m, n, k, batch;
  int weights; /* 1: B is a weight matrix, declared in inference (clippo_gemm_declare_weights) */
} clippo_gemm_shape;

/** Writes the ViT-B/16 products (forward and backward, attention included) for `images` images
 * of 196 tokens into out[cap]; returns how many there are (which may exceed cap). */
size_t clippo_gemm_vit_b16_shapes(size_t images, clippo_gemm_shape *out, size_t cap);

/** What to measure in clippo_gemm_tune. Zero-initialise for the defaults. */
typedef struct clippo_gemm_tune_opts {
  const clippo_gemm_shape *shapes; /* NULL: the ViT-B/16 shapes at 8 images */
  size_t nshapes;
  unsigned providers; /* bit (1u << provider) per provider to try; 0: every available one */
  int reps;           /* timed runs per measurement (median); 0: 3 */
  int kernel_cfgs;    /* kernel tile configurations to try per class; 0: all candidates */
  int no_save;        /* 1: do not write the record */
} clippo_gemm_tune_opts;

/** One measured shape: GFLOP/s per provider (median); 0 = not tried, -1 = failed, -2 = dropped
 * after the probe (far slower than the best). */
typedef struct clippo_gemm_measurement {
  clippo_gemm_shape shape;
  char shape_class[CLIPPO_GEMM_CLASS_LEN];
  double gflops[CLIPPO_GEMM_NPROVIDERS];
} clippo_gemm_measurement;

/** The choice for one shape class and the total time of its shapes with that provider. */
typedef struct clippo_gemm_class_choice {
  char shape_class[CLIPPO_GEMM_CLASS_LEN];
  clippo_gemm_provider provider;
  clippo_gemm_kernel_cfg kernel;
  double seconds[CLIPPO_GEMM_NPROVIDERS]; /* sum over the class's shapes; 0 = not measured */
  /* Where the choice is oneDNN: its float32 products of few rows (a batch-1 embedding's, at
   * most 256) by a declared weight (clippo_gemm_declare_weights) on the class's weight shapes,
   * cut to 196 rows, seconds summed: [0] multiplying a kept copy in oneDNN's blocked layout into
   * a dense block then copied into C, [1] letting the matmul write C itself. The faster is
   * recorded (declared=blocked|direct); 0 = not measured (then blocked). */
  double declared_seconds[2];
} clippo_gemm_class_choice;

/** The outcome of clippo_gemm_tune (free with clippo_gemm_tune_report_free). */
typedef struct clippo_gemm_tune_report {
  clippo_gemm_measurement *rows;
  size_t nrows;
  clippo_gemm_class_choice *classes;
  size_t nclasses;
  char failures[2048];    /* one line per provider that failed or was dropped, and why */
  char record_path[1100]; /* where the record was written ("" if not) */
} clippo_gemm_tune_report;

/** Measures the providers on each shape (plus kernel tile configurations per class), chooses the
 * fastest provider per shape class and stores the choice in the device's record (merged with
 * classes already there). Each result is checked against the host BLAS first. A provider that
 * fails, or that is over 8x slower than the best on a small probe product measured first, is
 * reported in report->failures and not chosen.
 * report may be NULL. Takes seconds to minutes (CLBlast compiles its kernels on first use). */
clippo_status clippo_gemm_tune(clippo_rt *rt, const clippo_gemm_tune_opts *opts,
                               clippo_gemm_tune_report *report, clippo_error *err);

/** Frees what clippo_gemm_tune put in report. */
void clippo_gemm_tune_report_free(clippo_gemm_tune_report *report);

/** The path of rt's device record (rt->settings.gemm_record, else <cache_dir>/gemm-<hash>.txt);
 * "" when the runtime has no cache directory. */
void clippo_gemm_record_path(const clippo_rt *rt, char *out, size_t size);

/** Declares that the contents of buffer mem stay unchanged until clippo_gemm_forget_weights(rt,
 * mem) (a model's weights, for inference): products whose B lies in mem may then keep a converted
 * copy of B between calls (oneDNN on a host-unified CPU: precision int8 keeps B quantised, bf16
 * rounded, both also in the blocked layout its matmul reads; float32 products of at most 256 rows
 * keep B in the layout their matmul chooses, a second copy of the weights in host memory, see
 * `clippo tune`'s declared=). The runtime holds a
 * reference to mem until the declaration ends (or the runtime is destroyed), so the handle cannot
 * name another buffer meanwhile. Declaring twice is one declaration. */
clippo_status clippo_gemm_declare_weights(clippo_rt *rt, cl_mem mem, clippo_error *err);

/** Ends mem's declaration (before its contents change, or before it is released) and drops every
 * copy kept of it; a mem never declared is fine. */
void clippo_gemm_forget_weights(clippo_rt *rt, cl_mem mem);

/** Makes rt's next product read the record again (e.g. after another process tuned the device).
 * The record is otherwise read once per runtime. */
void clippo_gemm_forget_record(clippo_rt *rt);

/** How many products of rt a fallback provider finished because the chosen one failed; *last
 * (may be NULL) gets what happened the last time ("" if never). Waits for the products queued
 * on the device's thread (host products on PoCL), whose failures are counted there. */
unsigned long clippo_gemm_fallback_count(const clippo_rt *rt, char *last, size_t size);

/** A test hook: from now on, every product `provider` runs on rt fails at its launch number
 * `launch` (0: before anything is written; the kernel provider launches one slice of depth KC
 * at a time, so launch 1 fails after the first slice was added into C; oneDNN's launch 1 fails in
 * its run before the product, launch 2 in the epilogue after it, where a product queued on the
 * device's thread is finished by the host BLAS and the plain epilogue) with CLIPPO_E_DEVICE, as a
 * failed kernel launch does. Each provider has its own; launch -1 turns one off,
 * CLIPPO_GEMM_AUTO turns all off. */
clippo_status clippo_gemm_inject_failure(clippo_rt *rt, clippo_gemm_provider provider, int launch,
                                         clippo_error *err);

/** Plain C reference for the tests: C = alpha * op(A) * op(B) + beta * C on host memory, sums
 * in double precision, one rounding to float at the end; beta == 0 ignores C's old content. */
void clippo_ref_gemm(int trans_a, int trans_b, size_t m, size_t n, size_t k, float alpha,
                     const float *a, size_t lda, const float *b, size_t ldb, float beta, float *c,
                     size_t ldc);

#ifdef __cplusplus
}
#endif
#endif
