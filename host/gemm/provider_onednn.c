/* GEMM provider: oneDNN (Debian libdnnl-dev) on the operands of a host-unified CPU device, mapped
 * into host memory by gemm_map (zero-copy on PoCL). oneDNN picks its kernels from the CPU's
 * feature flags (AVX2, AVX-512, VNNI, AVX512-BF16, AMX), not from a table of CPU models.
 *
 * float32: dnnl_sgemm per matrix for single products (those of at most 256 rows with declared
 * weights: a matmul on a copy of B in the layout it chooses, run_f32_declared, into a block copied
 * into C or into C itself as the device's record says (declared=blocked|direct), each part
 * applying the epilogue to its own columns of C as it writes them; a small transposed B
 * beside a tall A: sgemm on a plain copy of op(B), see NT_COPY_MAX_ELEMS); one matmul primitive
 * over the whole batch (its memory descriptors carry the strides) for batches, where one sgemm
 * per small matrix pays oneDNN's threading once per matrix (but batches of single-row products,
 * which the matmul would pack matrix by matrix: one sgemm per matrix, see GEMV_COST). Large
 * products are cut into parts (matrices of a batch, else blocks of rows or columns of C) run by the
 * provider's host team, one oneDNN thread each (see "threads" below). bfloat16 (precision bf16):
 * reorder primitives round both operands to bfloat16 (to nearest even) into host scratch, a bf16 x
 * bf16 matmul accumulates in float32 straight into C (alpha an output scale, beta a sum post-op);
 * single products are shared by the host team as int8's are (below); batched ones stay float32
 * (below); oneDNN 2.6 has it from AVX-512 up (emulated before AVX512-BF16), below that bf16 is
 * refused (reduced_check). int8 (precision int8), single products (those with weights): the
 * largest magnitude of each row of op(A) and of each column of op(B) gives a symmetric scale
 * (127 / max; 63 / max for B on CPUs without int8 dot products, gemm_onednn_int8_weight_levels);
 * reorders quantise to s8 (to nearest even, saturated), A's bytes are then shifted to u8 (+128,
 * one XOR), a u8 x s8 matmul writes its s32 sums to scratch, and one loop takes off the shift
 * (128 times each column's sum of B, made with B's s8 copy) and dequantises them (times the row's
 * max / 127, times alpha times the column's max / its levels, plus beta C) whichever oneDNN kernel
 * multiplied. u8 because x86's int8 instructions multiply u8 by s8: given s8 x s8, oneDNN 2.6's
 * gemm:jit (its int8 matmul below AVX-512 VNNI) shifts A and sums B's columns in scalar code at
 * every call (98 x 3072 x 768 on one thread of a Zen 3: 6.0 ms s8 x s8, 2.9 ms u8 x s8). Large
 * products run on the host team too: each member quantises its rows of A and its columns of B,
 * then multiplies its rows.
 * Batched products (attention's, between activations: about 4 % of a ViT-B/16's multiply-adds) stay
 * float32 in both precisions: oneDNN 2.6 fuses int8's per-row scales only for one matrix at a time,
 * and one matmul per matrix of the batch costs more than int8 saves; batched bf16 (which ran on
 * OpenMP's team, stopped after each product) measured slower than float32 on the host team (B/16
 * bf16 with AMX at batch 1: 12.08/10.51 -> 13.05/12.83 images/s, cosine unchanged). Primitives are
 * created once per shape (and team member) and kept in a small cache in the runtime's GEMM state
 * (the runtime is used by one thread at a time, so nothing is locked: the calling thread looks up
 * every part's primitives before the team runs them). Without oneDNN in the build the provider is
 * there but never available. */
#include "gemm_internal.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef CLIPPO_HAVE_ONEDNN
/* Most threads of the provider's host team (one stream each; a job has one part each). */
#define TEAM_MAX 64
/* The longest int8 product (refused beyond, before anything is queued): 255 x 127 x k sums of
 * u8 x s8 stay below 2^31. */
#define INT8_K_MAX 65536
#include <oneapi/dnnl/dnnl.h>

#if defined(CLIPPO_ONEDNN_OPENMP) && DNNL_CPU_THREADING_RUNTIME == DNNL_RUNTIME_OMP
#include <omp.h>

/* oneDNN runs on OpenMP, whose idle threads spin-wait after each parallel region (libgomp: some
 * 300000 pauses, milliseconds) and so take the cores from the OpenCL device's kernels that run
 * next (PoCL's own threads): the default model embedded 2.4x slower with them left spinning
 * (bench/results/onednn-*.md). Stopping the team after each product instead costs a thread start
 * per product, and the calling thread spins at the product's end until the new thread has done
 * its share: half of a small model's training step went there (bench/results/host-team-*.md).
 * So float32 products run on the provider's own host team (host_team.c: workers that sleep on a
 * condition variable), each member calling oneDNN on one thread for its part of the product;
 * so do single int8 and bf16 products (each member writes its own rows and columns of the
 * scratch). No environment variable involved.
 * Declared weights (clippo_gemm_declare_weights) are quantised (rounded) once per view and kept
 * (weights_copy) until their declaration ends, densely and in the blocked layout oneDNN's matmul
 * chooses for them (which its brgemm would otherwise make at every call). */
#define ONEDNN_THREADED_MACS 67108864.0 /* 2^26: about a millisecond on one core */

typedef struct threads {
  int saved; /* the thread count to restore, or 0: stop the team at the end */
} threads;

/* own_team: the caller's part of a product split over the host team (one OpenMP thread). */
static threads threads_begin(double macs, int own_team) {
  threads t = {0};
  if (own_team || macs < ONEDNN_THREADED_MACS) {
    t.saved = omp_get_max_threads();
    omp_set_num_threads(1);
  }
  return t;
}

static void threads_end(threads t) {
  if (t.saved)
    omp_set_num_threads(t.saved);
  else
    omp_pause_resource_all(omp_pause_soft);
}

/* The host team's size: OpenMP's thread count (OMP_NUM_THREADS as the user set it, else the
 * CPUs this process may use), at most TEAM_MAX (the streams and a job's parts are arrays). */
static int team_threads(void) {
  int n = omp_get_max_threads();
  return n < TEAM_MAX ? n : TEAM_MAX;
}

/* Each team worker calls oneDNN with one OpenMP thread. */
static void team_member_init(void) { omp_set_num_threads(1); }
#else
typedef int threads;
static threads threads_begin(double macs, int own_team) {
  (void)macs;
  (void)own_team;
  return 0;
}
static void threads_end(threads t) { (void)t; }
/* oneDNN threads itself (not OpenMP): no host team. */
static int team_threads(void) { return 1; }
#define team_member_init NULL
#endif

int clippo_gemm_onednn_built(void) { return 1; }

/* ---- oneDNN's ISA and errors ----------------------------------------------------------------- */

/* What the ISA oneDNN dispatches to means for these products. */
static const char *isa_name(dnnl_cpu_isa_t isa, const char **features) {
  switch ((int)isa) {
  case dnnl_cpu_isa_sse41: *features = "no AVX: slow"; return "sse41";
  case dnnl_cpu_isa_avx: *features = "AVX"; return "avx";
  case dnnl_cpu_isa_avx2: *features = "AVX2 (no int8 dot products, no bfloat16)"; return "avx2";
  case dnnl_cpu_isa_avx2_vnni: *features = "AVX2, AVX-VNNI int8 (no bfloat16)"; return "avx2_vnni";
  case dnnl_cpu_isa_avx512_core:
    *features = "AVX-512 (bfloat16 emulated, no int8 dot products)";
    return "avx512_core";
  case dnnl_cpu_isa_avx512_core_vnni:
    *features = "AVX-512, VNNI int8 (bfloat16 emulated)";
    return "avx512_core_vnni";
  case dnnl_cpu_isa_avx512_core_bf16:
    *features = "AVX-512, VNNI int8, AVX512-BF16";
    return "avx512_core_bf16";
  case dnnl_cpu_isa_avx512_core_amx:
    *features = "AVX-512, VNNI, AVX512-BF16, AMX int8 and bfloat16 tiles";
    return "avx512_core_amx";
  default: *features = "?"; return "other";
  }
}

void clippo_gemm_onednn_describe(char *out, size_t size) {
  const dnnl_version_t *v = dnnl_version();
  const char *features = "";
  const char *isa = isa_name(dnnl_get_effective_cpu_isa(), &features);
  int commit = v->hash && strcmp(v->hash, "N/A") != 0;
  snprintf(out, size, "oneDNN %d.%d.%d%s%.12s%s, CPU ISA %s: %s", v->major, v->minor, v->patch,
           commit ? " (commit " : "", commit ? v->hash : "", commit ? ")" : "", isa, features);
}

static const char *dnnl_status_text(dnnl_status_t s) {
  switch (s) {
  case dnnl_success: return "success";
  case dnnl_out_of_memory: return "out of memory";
  case dnnl_invalid_arguments: return "invalid arguments";
  case dnnl_unimplemented: return "not implemented for these types on this CPU";
  case dnnl_runtime_error: return "runtime error";
  default: return "error";
  }
}

/* A failed oneDNN call as a status naming the call, what oneDNN said and the device. */
static clippo_status dnnl_fail(const clippo_rt *rt, clippo_error *err, dnnl_status_t s,
                               const char *what) {
  clippo_status st = s == dnnl_out_of_memory   ? CLIPPO_E_NOMEM
                     : s == dnnl_unimplemented ? CLIPPO_E_UNSUPPORTED
                                               : CLIPPO_E_DEVICE;
  const char *features = "";
  const char *isa = isa_name(dnnl_get_effective_cpu_isa(), &features);
  return clippo_fail(err, st, "oneDNN gemm: %s: %s (device '%s', oneDNN's CPU ISA %s: %s)", what,
                     dnnl_status_text(s), rt ? rt->info.name : "host", isa, features);
}

#define DNNL_TRY(call, what)                                                                       \
  do {                                                                                             \
    dnnl_status_t s_ = (call);                                                                     \
    if (s_ != dnnl_success) return dnnl_fail(rt, err, s_, what);                                   \
  } while (0)

/* ---- the state: engine, stream, primitive cache, host scratch ------------------------------- */

enum { KIND_F32 = 0, KIND_BF16, KIND_INT8, KIND_EPI, NKIND }; /* KIND_EPI: an epilogue */

/* What a cached primitive set is for. */
typedef struct prim_key {
  int kind, ta, tb;
  int part;  /* the host team's member that runs it (each has its own primitives) */
  int parts; /* int8: members sharing the product (part's share of rows and columns) */
  int blk;   /* B in the matmul's own layout (a declared weight's copy); float32: 1 into a dense
                block, 2 into C (GEMM_DECLARED_BLOCKED, _DIRECT) */
  size_t m, n, k, batch, lda, ldb, ldc, sa, sb, sc;
  float alpha, beta;
} prim_key;

/* Keys compare the bits of alpha and beta: -0 and 0, and NaNs, are distinct keys. */
static int key_equal(const prim_key *x, const prim_key *y) {
  return x->kind == y->kind && x->part == y->part && x->parts == y->parts && x->blk == y->blk &&
         x->ta == y->ta && x->tb == y->tb && x->m == y->m && x->n == y->n && x->k == y->k &&
         x->batch == y->batch && x->lda == y->lda && x->ldb == y->ldb && x->ldc == y->ldc &&
         x->sa == y->sa && x->sb == y->sb && x->sc == y->sc &&
         gemm_float_bits(x->alpha) == gemm_float_bits(y->alpha) &&
         gemm_float_bits(x->beta) == gemm_float_bits(y->beta);
}

typedef struct prim_entry {
  prim_key key;
  unsigned long long used;     /* last use (0: empty slot) */
  dnnl_primitive_t mm, ra, rb; /* the matmul; the reorders of A and B (bf16, int8) */
  dnnl_memory_t a, b, c;       /* the matmul's operands (data set per call) */
  dnnl_memory_t af, bf;        /* the reorders' float32 sources */
  dnnl_memory_t ad, bd;        /* the reorders' destinations (every matrix of the batch) */
  dnnl_memory_t qa, qb;        /* int8: quantisation factors of the reorders */
  size_t r0, r1, c0, c1;       /* int8, bf16: the part's rows of A and columns of B (phase 1) */
  size_t or0, or1, oc0, oc1;   /* int8, bf16: the part's block of C (phase 2) */
  dnnl_memory_desc_t wmd;      /* key.blk: the layout of B the matmul chose */
} prim_entry;

#define CACHE_SIZE 96

/* Host scratch buffers, grown on demand. */
enum { BUF_A, BUF_B, BUF_SCALE, BUF_BITS, BUF_C, BUF_SHIFT, BUF_PAD, NBUF };

/* An int8 (bf16) copy of a declared weight matrix (clippo_gemm_declare_weights): op(B) quantised
 * (rounded) once, kept until the declaration of its buffer ends. */
typedef struct weights_copy {
  int kind;              /* KIND_INT8 (q is s8) or KIND_BF16 (q is bf16, dq unused) */
  cl_mem mem;            /* where B lies (not retained: the declaration holds it) */
  size_t off, ldb, k, n; /* B's first element in mem, its leading dimension, op(B)'s shape */
  int tb;                /* B stored transposed */
  uint32_t alpha;        /* the bits of the alpha in dq */
  void *q;               /* dense op(B), k x n */
  float *dq;             /* per column: alpha times the column's max / its levels */
  int32_t *shift;        /* int8, per column: 128 times its sum of q (single_shift_cols) */
  void *blk;             /* q in a matmul's blocked layout blk_md (NULL: not made yet) */
  dnnl_memory_desc_t blk_md;
  int f32_blk; /* float32: the key.blk it serves (1 blocked, 2 direct): each has its own copy, so
                  that products recorded for both (two shape classes) do not remake it in turns */
} weights_copy;

typedef struct onednn_state {
  dnnl_engine_t engine;
  host_team *team;                 /* float32 products on host threads (NULL: OpenMP's team) */
  dnnl_stream_t streams[TEAM_MAX]; /* one per team member; 0: the calling thread's */
  prim_entry cache[CACHE_SIZE];
  unsigned long long clock;
  void *buf[NBUF];
  size_t cap[NBUF];
  weights_copy *wc; /* int8 copies of declared weights */
  size_t nwc, capwc;
  int wlevels; /* int8: B's largest magnitude becomes this (gemm_onednn_int8_weight_levels) */
  int tn_pad;  /* float32 A^T B with long k: copy operands whose rows are 1 KiB-multiples apart */
  int reduced[NKIND]; /* bf16, int8: 0 not asked yet, 1 oneDNN has the matmul here, -1 it has not */
  int b_plain[NKIND]; /* bf16, int8: 0 not asked yet, 1 the matmul takes B in plain rows, -1 not */
} onednn_state;

/* 1 when oneDNN dispatches below AVX-512 (AVX2 at best), where its sgemm is the AVX2 one. */
static int isa_below_avx512(void) {
  switch ((int)dnnl_get_effective_cpu_isa()) {
  case dnnl_cpu_isa_sse41:
  case dnnl_cpu_isa_avx:
  case dnnl_cpu_isa_avx2:
  case dnnl_cpu_isa_avx2_vnni: return 1;
  default: return 0;
  }
}

static void entry_clear(prim_entry *e) {
  dnnl_primitive_t *p[] = {&e->mm, &e->ra, &e->rb};
  for (size_t i = 0; i < sizeof p / sizeof p[0]; i++)
    if (*p[i]) dnnl_primitive_destroy(*p[i]);
  dnnl_memory_t *mem[] = {&e->a, &e->b, &e->c, &e->af, &e->bf, &e->ad, &e->bd, &e->qa, &e->qb};
  for (size_t i = 0; i < sizeof mem / sizeof mem[0]; i++)
    if (*mem[i]) dnnl_memory_destroy(*mem[i]);
  memset(e, 0, sizeof *e);
}

static void state_free(void *p) {
  onednn_state *s = p;
  if (!s) return;
  for (int i = 0; i < CACHE_SIZE; i++) entry_clear(&s->cache[i]);
  for (int i = 0; i < NBUF; i++) free(s->buf[i]);
  for (size_t i = 0; i < s->nwc; i++) {
    free(s->wc[i].q);
    free(s->wc[i].dq);
    free(s->wc[i].shift);
    free(s->wc[i].blk);
  }
  free(s->wc);
  host_team_free(s->team);
  for (int i = 0; i < TEAM_MAX; i++)
    if (s->streams[i]) dnnl_stream_destroy(s->streams[i]);
  if (s->engine) dnnl_engine_destroy(s->engine);
  free(s);
}

/* The provider's state in rt (NULL rt: one for the caller to free, for clippo_gemm_onednn_host). */
static clippo_status state_get(clippo_rt *rt, onednn_state **out, clippo_error *err) {
  void *p = NULL;
  if (rt) {
    clippo_status st = gemm_provider_state(rt, CLIPPO_GEMM_ONEDNN, &p, err);
    if (st) return st;
  }
  if (p) {
    *out = p;
    return CLIPPO_OK;
  }
  onednn_state *s = calloc(1, sizeof *s);
  if (!s) return clippo_fail(err, CLIPPO_E_NOMEM, "out of host memory (oneDNN gemm state)");
  s->wlevels = gemm_onednn_int8_weight_levels();
  s->tn_pad = isa_below_avx512();
  dnnl_status_t ds = dnnl_engine_create(&s->engine, dnnl_cpu, 0);
  if (ds == dnnl_success)
    ds = dnnl_stream_create(&s->streams[0], s->engine, dnnl_stream_default_flags);
  if (ds == dnnl_success && rt) {
    clippo_status st = host_team_create(team_threads(), team_member_init, &s->team, err);
    if (st) {
      state_free(s);
      return st;
    }
    for (int i = 1; i < host_team_size(s->team) && ds == dnnl_success; i++)
      ds = dnnl_stream_create(&s->streams[i], s->engine, dnnl_stream_default_flags);
  }
  if (ds != dnnl_success) {
    state_free(s);
    return dnnl_fail(rt, err, ds, "creating the CPU engine");
  }
  if (rt) {
    clippo_status st = gemm_provider_state_set(rt, CLIPPO_GEMM_ONEDNN, s, state_free, err);
    if (st) {
      state_free(s);
      return st;
    }
  }
  *out = s;
  return CLIPPO_OK;
}

/* Host scratch buffer `which` of at least `bytes`, 64-byte aligned. */
static void *scratch(onednn_state *s, int which, size_t bytes) {
  if (bytes == 0) bytes = 64;
  if (s->cap[which] >= bytes) return s->buf[which];
  size_t cap = (bytes + 4095) / 4096 * 4096;
  void *p = aligned_alloc(64, cap);
  if (!p) return NULL;
  free(s->buf[which]);
  s->buf[which] = p;
  s->cap[which] = cap;
  return p;
}

/* ---- memory descriptors ---------------------------------------------------------------------- */

/* `batch` rows x cols matrices in row-major storage with leading dimension ld (trans: the
 * storage holds the transpose, cols x rows) and batch stride `stride`. */
static dnnl_status_t md_view(dnnl_memory_desc_t *md, dnnl_data_type_t dt, size_t batch, size_t rows,
                             size_t cols, int trans, size_t ld, size_t stride) {
  size_t extent = trans ? cols * ld : rows * ld;
  dnnl_dims_t dims = {(dnnl_dim_t)batch, (dnnl_dim_t)rows, (dnnl_dim_t)cols};
  dnnl_dims_t strides = {(dnnl_dim_t)(batch > 1 ? stride : extent), (dnnl_dim_t)(trans ? 1 : ld),
                         (dnnl_dim_t)(trans ? ld : 1)};
  return dnnl_memory_desc_init_by_strides(md, 3, dims, dt, strides);
}

/* One rows x cols matrix with leading dimension ld (trans: the storage holds the transpose), as
 * md_view's single matrix but a 2-D descriptor (oneDNN chooses a blocked layout for a 2-D
 * matmul's weights in format "any", not for a 3-D one). */
static dnnl_status_t md_2d(dnnl_memory_desc_t *md, dnnl_data_type_t dt, size_t rows, size_t cols,
                           int trans, size_t ld) {
  dnnl_dims_t dims = {(dnnl_dim_t)rows, (dnnl_dim_t)cols};
  dnnl_dims_t strides = {trans ? 1 : (dnnl_dim_t)ld, trans ? (dnnl_dim_t)ld : 1};
  return dnnl_memory_desc_init_by_strides(md, 2, dims, dt, strides);
}

/* `batch` dense row-major rows x cols matrices. */
static dnnl_status_t md_dense(dnnl_memory_desc_t *md, dnnl_data_type_t dt, size_t batch,
                              size_t rows, size_t cols) {
  dnnl_dims_t dims = {(dnnl_dim_t)batch, (dnnl_dim_t)rows, (dnnl_dim_t)cols};
  return dnnl_memory_desc_init_by_tag(md, 3, dims, dt, dnnl_abc);
}

/* ---- building the primitives of one key ------------------------------------------------------ */

/* Batch counts of A and B: 1 when one matrix serves the whole batch (stride 0). */
static size_t batch_a(const prim_key *k) { return k->batch > 1 && k->sa == 0 ? 1 : k->batch; }
static size_t batch_b(const prim_key *k) { return k->batch > 1 && k->sb == 0 ? 1 : k->batch; }

/* A reorder of a float32 operand view into dense dt, with `count` runtime output scales over the
 * dimensions in `mask` when mask >= 0; *src, *dst and *scales get its memory objects. */
static clippo_status make_reorder(const clippo_rt *rt, onednn_state *s,
                                  const dnnl_memory_desc_t *from, const dnnl_memory_desc_t *to,
                                  int mask, size_t count, dnnl_primitive_t *out, dnnl_memory_t *src,
                                  dnnl_memory_t *dst, dnnl_memory_t *scales, clippo_error *err) {
  dnnl_primitive_attr_t attr = NULL;
  dnnl_primitive_desc_t pd = NULL;
  DNNL_TRY(dnnl_primitive_attr_create(&attr), "creating reorder attributes");
  dnnl_status_t ds = dnnl_success;
  if (mask >= 0) {
    float rv = DNNL_RUNTIME_F32_VAL;
    ds = dnnl_primitive_attr_set_output_scales(attr, 1, mask, &rv);
  }
  if (ds == dnnl_success)
    ds = dnnl_reorder_primitive_desc_create(&pd, from, s->engine, to, s->engine, attr);
  dnnl_primitive_attr_destroy(attr);
  if (ds == dnnl_success) ds = dnnl_primitive_create(out, pd);
  if (pd) dnnl_primitive_desc_destroy(pd);
  if (ds == dnnl_success) ds = dnnl_memory_create(src, from, s->engine, DNNL_MEMORY_NONE);
  if (ds == dnnl_success) ds = dnnl_memory_create(dst, to, s->engine, DNNL_MEMORY_NONE);
  if (ds == dnnl_success && mask >= 0) {
    dnnl_memory_desc_t sd;
    dnnl_dims_t dims = {(dnnl_dim_t)count};
    ds = dnnl_memory_desc_init_by_tag(&sd, 1, dims, dnnl_f32, dnnl_a);
    if (ds == dnnl_success) ds = dnnl_memory_create(scales, &sd, s->engine, DNNL_MEMORY_NONE);
  }
  if (ds != dnnl_success) return dnnl_fail(rt, err, ds, "creating a reorder of an operand");
  return CLIPPO_OK;
}

/* 1 when oneDNN dispatches to AMX (int8 and bfloat16 tiles) on this CPU. */
static int on_amx(void) { return dnnl_get_effective_cpu_isa() == dnnl_cpu_isa_avx512_core_amx; }

/* 1 when oneDNN's int8 kernels multiply with dot-product instructions (AVX-VNNI, AVX512-VNNI,
 * AMX). Without them (AVX2, AVX-512 before VNNI) they add pairs of u8 x s8 products in saturating
 * int16 (vpmaddubsw, A's s8 shifted to u8): a pair of 8-bit weights can exceed 32767 there (a
 * 2-vCPU Zen 3: relative error 0.06-0.09 against the quantised operands), 7-bit weights cannot
 * (2 x 255 x 63 = 32130). */
static int isa_has_int8_dot(void) {
  switch ((int)dnnl_get_effective_cpu_isa()) {
  case dnnl_cpu_isa_avx2_vnni:
  case dnnl_cpu_isa_avx512_core_vnni:
  case dnnl_cpu_isa_avx512_core_bf16:
  case dnnl_cpu_isa_avx512_core_amx: return 1;
  default: return 0;
  }
}

int gemm_onednn_int8_weight_levels(void) { return isa_has_int8_dot() ? 127 : 63; }

/* The matmul of e->key: src x wei -> dst, alpha and beta as attributes (float32 and bfloat16),
 * or none (int8_plain: the s32 sums). wei in format "any" lets oneDNN choose B's layout:
 * e->wmd gets it. */
static dnnl_status_t make_matmul(onednn_state *s, prim_entry *e, const dnnl_memory_desc_t *src,
                                 const dnnl_memory_desc_t *wei, const dnnl_memory_desc_t *dst,
                                 int int8_plain, char *impl, size_t impl_size) {
  const prim_key *k = &e->key;
  dnnl_primitive_attr_t attr = NULL;
  dnnl_post_ops_t po = NULL;
  dnnl_primitive_desc_t pd = NULL;
  dnnl_matmul_desc_t md;
  dnnl_status_t ds = dnnl_matmul_desc_init(&md, src, wei, NULL, dst);
  if (ds == dnnl_success) ds = dnnl_primitive_attr_create(&attr);
  if (ds == dnnl_success) ds = dnnl_post_ops_create(&po);
  if (ds == dnnl_success && !int8_plain && k->alpha != 1.0f)
    ds = dnnl_primitive_attr_set_output_scales(attr, 1, 0, &k->alpha);
  if (ds == dnnl_success && !int8_plain && k->beta != 0.0f)
    ds = dnnl_post_ops_append_sum(po, k->beta);
  if (ds == dnnl_success) ds = dnnl_primitive_attr_set_post_ops(attr, po);
  if (ds == dnnl_success) ds = dnnl_primitive_desc_create(&pd, &md, attr, s->engine, NULL);
  e->wmd = *wei;
  if (ds == dnnl_success) {
    const char *info = NULL;
    if (dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, (void *)&info) == dnnl_success &&
        info)
      snprintf(impl, impl_size, "%s", info);
    if (wei->format_kind == dnnl_format_kind_any) {
      const dnnl_memory_desc_t *chosen = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
      if (chosen)
        e->wmd = *chosen;
      else
        ds = dnnl_runtime_error;
    }
    if (ds == dnnl_success) ds = dnnl_primitive_create(&e->mm, pd);
  }
  if (pd) dnnl_primitive_desc_destroy(pd);
  if (po) dnnl_post_ops_destroy(po);
  if (attr) dnnl_primitive_attr_destroy(attr);
  if (ds == dnnl_success) ds = dnnl_memory_create(&e->a, src, s->engine, DNNL_MEMORY_NONE);
  if (ds == dnnl_success) ds = dnnl_memory_create(&e->b, &e->wmd, s->engine, DNNL_MEMORY_NONE);
  if (ds == dnnl_success) ds = dnnl_memory_create(&e->c, dst, s->engine, DNNL_MEMORY_NONE);
  return ds;
}

/* The row stride (elements of el bytes) of a kept row-major copy of n columns: n rounded up to
 * whole 64-byte lines, then to an odd number of them. oneDNN 2.6's AVX2
 * sgemm (which its matmul runs there, on B in plain rows) packs B down its columns, and rows a
 * multiple of 4 KiB apart (B/16's 3072 and 1536 columns; 768 and 2304 every 4 and 16 rows) share
 * a few sets of the L1 cache. One thread of a 2-vCPU Zen 3, 196 rows, GFLOP/s with n columns
 * apart -> padded: 196x3072x768 34-37 -> 81, 196x1536x768 46 -> 74, 196x768x3072 57 -> 80,
 * 196x2304x768 70 -> 79, 196x768x768 69 -> 86. */
static size_t padded_ld(size_t n, size_t el) {
  size_t per = 64 / el, lines = (n + per - 1) / per;
  return per * (lines % 2 ? lines : lines + 1);
}

/* 1 when md is a plain row-major matrix: no inner blocks, rows dims[1] apart. */
static int plain_rows(const dnnl_memory_desc_t *md) {
  const dnnl_blocking_desc_t *bd = &md->format_desc.blocking;
  return md->format_kind == dnnl_blocked && md->ndims == 2 && bd->inner_nblks == 0 &&
         bd->strides[1] == 1 && bd->strides[0] == md->dims[1];
}

/* Remakes e's matmul (and its memory objects) with B in rows padded_ld apart, where the one made
 * took B in plain rows (e->wmd) and padding changes them. */
static dnnl_status_t matmul_padded_b(onednn_state *s, prim_entry *e, dnnl_data_type_t dt,
                                     const dnnl_memory_desc_t *a, const dnnl_memory_desc_t *c,
                                     int int8_plain, char *impl, size_t impl_size) {
  const prim_key *k = &e->key;
  size_t ld = padded_ld(k->n, dnnl_data_type_size(dt));
  if (!plain_rows(&e->wmd) || ld == k->n) return dnnl_success;
  dnnl_primitive_destroy(e->mm);
  e->mm = NULL;
  dnnl_memory_t *mem[] = {&e->a, &e->b, &e->c};
  for (size_t i = 0; i < sizeof mem / sizeof mem[0]; i++) {
    dnnl_memory_destroy(*mem[i]);
    *mem[i] = NULL;
  }
  dnnl_memory_desc_t b;
  dnnl_status_t ds = md_2d(&b, dt, k->k, k->n, 0, ld);
  return ds == dnnl_success ? make_matmul(s, e, a, &b, c, int8_plain, impl, impl_size) : ds;
}

/* The primitive descriptor (*pd, NULL on failure) of kind's matmul (bf16 x bf16 into float32,
 * u8 x s8 into s32) of two n x n matrices, B in plain rows or, with b_any, in the layout oneDNN
 * chooses: what reduced_check and b_plain_rows ask oneDNN. */
static dnnl_status_t probe_matmul(onednn_state *s, int kind, dnnl_dim_t n, int b_any,
                                  dnnl_primitive_desc_t *pd) {
  int int8 = kind == KIND_INT8;
  dnnl_data_type_t bt = int8 ? dnnl_s8 : dnnl_bf16;
  dnnl_memory_desc_t a, b, c;
  dnnl_dims_t db = {n, n};
  dnnl_matmul_desc_t md;
  *pd = NULL;
  dnnl_status_t ds = md_2d(&a, int8 ? dnnl_u8 : dnnl_bf16, (size_t)n, (size_t)n, 0, (size_t)n);
  if (ds == dnnl_success)
    ds = b_any ? dnnl_memory_desc_init_by_tag(&b, 2, db, bt, dnnl_format_tag_any)
               : md_2d(&b, bt, (size_t)n, (size_t)n, 0, (size_t)n);
  if (ds == dnnl_success)
    ds = md_2d(&c, int8 ? dnnl_s32 : dnnl_f32, (size_t)n, (size_t)n, 0, (size_t)n);
  if (ds == dnnl_success) ds = dnnl_matmul_desc_init(&md, &a, &b, NULL, &c);
  if (ds == dnnl_success) ds = dnnl_primitive_desc_create(pd, &md, NULL, s->engine, NULL);
  return ds;
}

/* 1 when kind's matmul (bf16 x bf16, u8 x s8) takes B in plain rows where it may choose its
 * layout (oneDNN 2.6's gemm:jit: AVX2, AVX-512 before VNNI), asked once with a 64 x 64 x 64
 * primitive descriptor; 0 when it blocks B (brgemm) or the question fails. */
static int b_plain_rows(onednn_state *s, int kind) {
  if (s->b_plain[kind] == 0) {
    dnnl_primitive_desc_t pd = NULL;
    int plain = 0;
    if (probe_matmul(s, kind, 64, 1, &pd) == dnnl_success) {
      const dnnl_memory_desc_t *chosen = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
      plain = chosen && plain_rows(chosen);
    }
    if (pd) dnnl_primitive_desc_destroy(pd);
    s->b_plain[kind] = plain ? 1 : -1;
  }
  return s->b_plain[kind] > 0;
}

/* Rows [*lo, *hi) of `total` that part `part` of `parts` gets (whole blocks of 16; may be empty).
 */
static void part_range(size_t total, int part, int parts, size_t *lo, size_t *hi) {
  size_t units = (total + 15) / 16, p = (size_t)part, n = (size_t)parts;
  size_t a = 16 * (units * p / n), b = 16 * (units * (p + 1) / n);
  *lo = a < total ? a : total;
  *hi = b < total ? b : total;
}

/* A part of a single int8 or bfloat16 product (batch 1): the reorder quantising (rounding) its
 * rows of op(A) into dense s8 (bf16) rows, the one for its columns of op(B) into the dense k x n
 * B, and the matmul of its rows of C (int8: A's rows as u8, shifted after the reorder). int8's
 * s32 sums are written to scratch and dequantised by one loop (dequantise_rows) whatever the path,
 * so that a product with a declared weight's copy and one quantising B anew give the same bits:
 * oneDNN 2.6 fused the scales into its AVX-512 integer GEMM in another order of roundings than the
 * blocked copy's matmul, which has them in reference code only (a 2-vCPU AMD EPYC with VNNI: 1-ulp
 * differences, and an int8 model's embedding moved by 1.5e-2 between the two); on AMX the fused
 * scales also kept the matmul off the tiles (784 x 768 x 768 3.4-12.9 ms fused, 1.5-2.8 ms plain on
 * a 2-vCPU Xeon). bfloat16 takes alpha and beta as attributes. With key.blk (a declared weight's
 * copy) the matmul multiplies all of B in the blocked layout it chooses (e->wmd), or, where it
 * takes B in plain rows (b_plain_rows), the part's columns of B in rows padded_ld apart (e->wmd
 * then describes the whole copy). */
static clippo_status build_single(const clippo_rt *rt, onednn_state *s, prim_entry *e,
                                  clippo_error *err) {
  const prim_key *k = &e->key;
  int int8 = k->kind == KIND_INT8;
  dnnl_data_type_t dt = int8 ? dnnl_s8 : dnnl_bf16;
  dnnl_data_type_t adt = int8 ? dnnl_u8 : dnnl_bf16; /* A in the matmul */
  dnnl_data_type_t cdt = int8 ? dnnl_s32 : dnnl_f32; /* its C */
  const char *what = int8 ? "int8" : "bfloat16";
  part_range(k->m, k->part, k->parts, &e->r0, &e->r1);
  part_range(k->n, k->part, k->parts, &e->c0, &e->c1);
  size_t rows = e->r1 - e->r0, cols = e->c1 - e->c0;
  dnnl_memory_desc_t af, bf, a, b;
  clippo_status st = CLIPPO_OK;
  if (rows) {
    DNNL_TRY(md_view(&af, dnnl_f32, 1, rows, k->k, k->ta, k->lda, 0), "describing A");
    DNNL_TRY(md_dense(&a, dt, 1, rows, k->k), "describing A");
    st = make_reorder(rt, s, &af, &a, int8 ? (1 << 0) | (1 << 1) : -1, rows, &e->ra, &e->af, &e->ad,
                      &e->qa, err);
  }
  if (!st && cols) {
    DNNL_TRY(md_view(&bf, dnnl_f32, 1, k->k, cols, k->tb, k->ldb, 0), "describing B");
    DNNL_TRY(md_view(&b, dt, 1, k->k, cols, 0, k->n, 0), "describing B");
    st = make_reorder(rt, s, &bf, &b, int8 ? (1 << 0) | (1 << 2) : -1, cols, &e->rb, &e->bf, &e->bd,
                      &e->qb, err);
  }
  if (st) return clippo_error_prefix(err, "%s operands", what);
  /* Phase 2 multiplies a block of C: the part's rows (all columns), or, when the product is short
   * (at most 256 rows: batch-1 embeddings), all rows and the part's columns, where oneDNN's GEMM
   * runs 10-15 % faster per thread than on half the rows and each thread reads half of B. Not on
   * AMX: a column block of B is not dense, and oneDNN 2.6 then leaves AMX for its AVX-512 gemm
   * (B/16 int8 at batch 1 on a 2-vCPU Xeon with AMX: 9.7 images/s by columns, 13.9-14.8 by rows).
   * A declared weight's copy too where the matmul takes B in plain rows (then rows padded_ld
   * apart, its columns a view): one thread of a 2-vCPU Zen 3, u8 x s8, 196 x 1536 x 768 2.93 ms
   * against 98 x 3072 x 768 3.25 ms, 196 x 384 x 3072 3.03 against 98 x 768 x 3072 3.32. */
  int blk_plain = k->blk && b_plain_rows(s, k->kind);
  int by_cols = (!k->blk || blk_plain) && k->parts > 1 && k->m <= 256 &&
                (k->n + 15) / 16 >= (size_t)k->parts && !on_amx();
  e->or0 = by_cols ? 0 : e->r0;
  e->or1 = by_cols ? k->m : e->r1;
  e->oc0 = by_cols ? e->c0 : 0;
  e->oc1 = by_cols ? e->c1 : k->n;
  size_t om = e->or1 - e->or0, on = e->oc1 - e->oc0;
  if (!om || !on) return CLIPPO_OK;
  dnnl_memory_desc_t a1, b1, c1;
  char impl[64] = "", msg[64];
  snprintf(msg, sizeof msg, "creating a %s matmul", what);
  if (blk_plain) { /* the part's columns (by_cols) or all of B, in rows padded_ld apart */
    size_t ld = padded_ld(k->n, dnnl_data_type_size(dt));
    DNNL_TRY(md_2d(&a1, adt, om, k->k, 0, k->k), "describing A");
    DNNL_TRY(md_2d(&b1, dt, k->k, on, 0, ld), "describing B");
    DNNL_TRY(md_2d(&c1, cdt, om, on, 0, int8 ? k->n : k->ldc), "describing C");
    dnnl_status_t ds = make_matmul(s, e, &a1, &b1, &c1, int8, impl, sizeof impl);
    if (ds == dnnl_success) ds = md_2d(&e->wmd, dt, k->k, k->n, 0, ld); /* the copy: all of B */
    if (ds != dnnl_success) return dnnl_fail(rt, err, ds, msg);
    return CLIPPO_OK;
  }
  if (k->blk) { /* all of B (by rows), in the blocked layout the matmul chooses */
    dnnl_dims_t db = {(dnnl_dim_t)k->k, (dnnl_dim_t)k->n};
    DNNL_TRY(md_2d(&a1, adt, om, k->k, 0, k->k), "describing A");
    DNNL_TRY(dnnl_memory_desc_init_by_tag(&b1, 2, db, dt, dnnl_format_tag_any), "describing B");
    /* int8: the sums at the block's place of an m x n scratch */
    DNNL_TRY(md_2d(&c1, cdt, om, on, 0, int8 ? k->n : k->ldc), "describing C");
  } else {
    DNNL_TRY(md_dense(&a1, adt, 1, om, k->k), "describing A");
    DNNL_TRY(md_view(&b1, dt, 1, k->k, on, 0, k->n, 0), "describing B");
    DNNL_TRY(md_view(&c1, cdt, 1, om, on, 0, int8 ? k->n : k->ldc, 0), "describing C");
  }
  dnnl_status_t ds = make_matmul(s, e, &a1, &b1, &c1, int8, impl, sizeof impl);
  if (ds != dnnl_success) return dnnl_fail(rt, err, ds, msg);
  return CLIPPO_OK;
}

/* The softmax epilogue (clippo_gemm_batched_fused: each row of each matrix) of k->m dense rows of
 * k->n floats, in place: oneDNN's JIT code takes dense rows only (a strided block runs its
 * reference code, ~200x slower), so rows that are not contiguous run one by one (k->m = 1). Bias
 * and GELU epilogues are plain loops (gemm_bias_act_row), faster than oneDNN's binary add with a
 * gelu_tanh post-op (3.8 against 2.5-2.8 G values/s on two cores of a Zen 4 EPYC) and indifferent
 * to strides. */
static clippo_status build_epilogue(const clippo_rt *rt, onednn_state *s, prim_entry *e,
                                    clippo_error *err) {
  const prim_key *k = &e->key;
  dnnl_memory_desc_t cd;
  dnnl_dims_t dc = {(dnnl_dim_t)k->m, (dnnl_dim_t)k->n};
  DNNL_TRY(dnnl_memory_desc_init_by_tag(&cd, 2, dc, dnnl_f32, dnnl_ab), "describing C");
  dnnl_status_t ds = dnnl_memory_create(&e->c, &cd, s->engine, DNNL_MEMORY_NONE);
  dnnl_primitive_desc_t upd = NULL;
  dnnl_softmax_desc_t sm;
  if (ds == dnnl_success) ds = dnnl_softmax_forward_desc_init(&sm, dnnl_forward_inference, &cd, 1);
  if (ds == dnnl_success) ds = dnnl_primitive_desc_create(&upd, &sm, NULL, s->engine, NULL);
  if (ds == dnnl_success) ds = dnnl_primitive_create(&e->ra, upd);
  if (upd) dnnl_primitive_desc_destroy(upd);
  if (ds != dnnl_success) return dnnl_fail(rt, err, ds, "creating a softmax epilogue");
  return CLIPPO_OK;
}

/* A column block of a single float32 product whose B is a declared weight (key.blk; key.n the
 * block's columns): all rows of A (not transposed) times the block's copy of B in the layout the
 * matmul chooses (e->wmd). GEMM_DECLARED_BLOCKED: into a dense m x n block (oneDNN's brgemm takes
 * no blocked weights with a strided destination), alpha and beta applied when it is copied into
 * C. GEMM_DECLARED_DIRECT: into C's columns (leading dimension key.ldc), alpha and beta as the
 * matmul's attributes; oneDNN then picks another kernel (gemm:jit without AMX). Where oneDNN
 * chooses plain rows for the copy (AVX2), rows padded_ld apart instead. */
static clippo_status build_f32_blocked(const clippo_rt *rt, onednn_state *s, prim_entry *e,
                                       clippo_error *err) {
  const prim_key *k = &e->key;
  dnnl_memory_desc_t a, b, c;
  dnnl_dims_t db = {(dnnl_dim_t)k->k, (dnnl_dim_t)k->n};
  DNNL_TRY(md_2d(&a, dnnl_f32, k->m, k->k, 0, k->lda), "describing A");
  DNNL_TRY(dnnl_memory_desc_init_by_tag(&b, 2, db, dnnl_f32, dnnl_format_tag_any), "describing B");
  DNNL_TRY(md_2d(&c, dnnl_f32, k->m, k->n, 0, k->ldc), "describing C");
  char impl[64] = "";
  DNNL_TRY(make_matmul(s, e, &a, &b, &c, 0, impl, sizeof impl), "creating a float32 matmul");
  DNNL_TRY(matmul_padded_b(s, e, dnnl_f32, &a, &c, 0, impl, sizeof impl),
           "creating a float32 matmul");
  return CLIPPO_OK;
}

/* Fills e (whose key is set) with its primitives. */
static clippo_status build_entry(const clippo_rt *rt, onednn_state *s, prim_entry *e,
                                 clippo_error *err) {
  const prim_key *k = &e->key;
  if (k->kind == KIND_EPI) return build_epilogue(rt, s, e, err);
  if (k->kind == KIND_F32 && k->blk) return build_f32_blocked(rt, s, e, err);
  size_t ba = batch_a(k), bb = batch_b(k);
  dnnl_memory_desc_t af, bf, c;
  DNNL_TRY(md_view(&af, dnnl_f32, ba, k->m, k->k, k->ta, k->lda, k->sa), "describing A");
  DNNL_TRY(md_view(&bf, dnnl_f32, bb, k->k, k->n, k->tb, k->ldb, k->sb), "describing B");
  DNNL_TRY(md_view(&c, dnnl_f32, k->batch, k->m, k->n, 0, k->ldc, k->sc), "describing C");
  char impl[64] = "";
  if (k->kind == KIND_F32) {
    DNNL_TRY(make_matmul(s, e, &af, &bf, &c, 0, impl, sizeof impl), "creating a float32 matmul");
    return CLIPPO_OK;
  }
  return build_single(rt, s, e, err); /* int8 and bf16: single products (batch 1) only */
}

/* The cached primitives of key (built on a miss, evicting the least recently used). */
static clippo_status lookup(const clippo_rt *rt, onednn_state *s, const prim_key *key,
                            prim_entry **out, clippo_error *err) {
  prim_entry *victim = &s->cache[0];
  for (int i = 0; i < CACHE_SIZE; i++) {
    prim_entry *e = &s->cache[i];
    if (e->used && key_equal(&e->key, key)) {
      e->used = ++s->clock;
      *out = e;
      return CLIPPO_OK;
    }
    if (e->used < victim->used) victim = e;
  }
  entry_clear(victim);
  victim->key = *key;
  clippo_status st = build_entry(rt, s, victim, err);
  if (st) {
    entry_clear(victim);
    return st;
  }
  victim->used = ++s->clock;
  *out = victim;
  return CLIPPO_OK;
}

static prim_key key_of(int kind, int ta, int tb, size_t m, size_t n, size_t k, float alpha,
                       size_t lda, size_t sa, size_t ldb, size_t sb, float beta, size_t ldc,
                       size_t sc, size_t batch) {
  prim_key key;
  memset(&key, 0, sizeof key);
  key.kind = kind;
  key.ta = ta;
  key.tb = tb;
  key.m = m;
  key.n = n;
  key.k = k;
  key.batch = batch;
  key.lda = lda;
  key.ldb = ldb;
  key.ldc = ldc;
  /* Strides matter only between matrices. */
  key.sa = batch > 1 ? sa : 0;
  key.sb = batch > 1 ? sb : 0;
  key.sc = batch > 1 ? sc : 0;
  key.alpha = alpha;
  key.beta = beta;
  return key;
}

/* ---- running ------------------------------------------------------------------------------- */

static dnnl_status_t set_handle(dnnl_memory_t m, const void *p) {
  return dnnl_memory_set_data_handle(m, (void *)p);
}

/* Runs reorder r on stream `on` from `from` (float32 view) to `to`, with output scales `scales`
 * (may be NULL), and waits for it. */
static dnnl_status_t run_reorder(dnnl_stream_t on, dnnl_primitive_t r, dnnl_memory_t src,
                                 const float *from, dnnl_memory_t dst, void *to, dnnl_memory_t sm,
                                 const float *scales) {
  dnnl_status_t ds = set_handle(src, from);
  if (ds == dnnl_success) ds = set_handle(dst, to);
  if (ds == dnnl_success && sm) ds = set_handle(sm, scales);
  dnnl_exec_arg_t args[3] = {
      {DNNL_ARG_FROM, src}, {DNNL_ARG_TO, dst}, {DNNL_ARG_ATTR_OUTPUT_SCALES, sm}};
  if (ds == dnnl_success) ds = dnnl_primitive_execute(r, on, sm ? 3 : 2, args);
  if (ds == dnnl_success) ds = dnnl_stream_wait(on);
  return ds;
}

/* C = beta C (k = 0: nothing to multiply). */
static void scale_c(float *c, size_t m, size_t n, size_t ldc, size_t sc, size_t batch, float beta) {
  for (size_t z = 0; z < batch; z++)
    for (size_t i = 0; i < m; i++) {
      float *row = c + z * sc + i * ldc;
      for (size_t j = 0; j < n; j++) row[j] = beta == 0.0f ? 0.0f : beta * row[j];
    }
}

/* Products of fewer multiply-adds run on the calling thread alone (about 30 microseconds on one
 * core: waking a worker costs a good part of that). */
#define TEAM_MACS 4194304.0

/* A batch of single-row products (the MAP head's query against each matrix of keys) is a matrix
 * times a vector per matrix: every multiply-add reads its own element of B. The batched matmul
 * packs each matrix of B for its one row (B/16 batch 8's 96 x 1x196x64 on one core of a Xeon:
 * 200 us) where one dnnl_sgemm per matrix reads it once (163 us; 67 us on two team members), so
 * such batches run per matrix, and count GEMV_COST multiply-adds each for the team's threshold
 * (one core: 163 us for 1.2 M of them against 30 us for 4.2 M in a product reusing B). */
#define GEMV_COST 16.0

static int per_matrix(const prim_key *k) { return k->batch > 1 && k->m == 1; }

/* The multiply-adds k's product counts for the team's threshold: a product of fewer than
 * GEMV_COST rows of A reads each element of B for fewer multiply-adds than that, and counts
 * GEMV_COST each (B/16's MAP head at batch 1, 1 x 3072 x 768: 9 MiB of weights for 2.4 M
 * multiply-adds, 0.8 ms on one thread). */
static double team_macs(const prim_key *k) {
  double rows = k->m < GEMV_COST ? GEMV_COST : (double)k->m;
  return rows * (double)k->n * (double)k->k * (double)k->batch;
}

/* One part of a float32 product: its key (part = the team member), its primitives (batches) and
 * where its operands start. */
typedef struct f32_part {
  prim_key key;
  prim_entry *e;
  const float *a, *b;
  float *c;
  float *pa, *pb;  /* tn_padded: A's and B's chunks of TN_CHUNK rows copied here (NULL: not) */
  size_t lpa, lpb; /* their leading dimensions */
  dnnl_status_t ds;
} f32_part;

/* A^T B (A k x m, B k x n) with k of at least TN_PAD_K, below AVX-512: an operand whose rows lie a
 * multiple of 1 KiB apart (tn_pad_ld) is copied TN_CHUNK rows at a time into rows
 * padded_ld apart, and sgemm runs chunk by chunk (beta 1 after the first). oneDNN 2.6's AVX2 sgemm
 * packs both operands down their k rows, and rows 2 KiB apart share two sets of the L1 cache in
 * 64: one thread of a 2-vCPU Zen 3, the training suite's weight gradients, 128x256x8192 (B's rows
 * 512 floats apart) 11.0-13.1 -> 8.2-8.6 ms with them 528 apart, 256x128x8192 (A's 512) 12.6-13.5
 * -> 8.0-9.8 ms; in the suite's step (two threads, --profile, three runs each) those two
 * products went 54-60 -> 44-47 ms per step. Products with k short or A untransposed showed no
 * difference (4096 x 128 x 512 and 4096 x 512 x 128, rows 512 or 528 floats apart). */
#define TN_PAD_K 1024
#define TN_CHUNK 1024

/* 1 when rows ld floats apart lie a multiple of 1 KiB apart (then in at most 4 of the 64-byte
 * line offsets of the L1's 64 sets). Rows 128 or 384 floats apart gained 10-25 % in the same
 * one-thread runs, but copying both operands of the suite's 128x128x8192 and B of 128x384x8192
 * cost that back in the model (two threads; 18-22 -> 20-24 ms and 32-42 -> 34-41 per step). */
static int tn_pad_ld(size_t ld) { return ld % 256 == 0; }

/* dst (rows x cols, leading dimension ldd) = src (leading dimension lds). */
static void copy_rows(float *restrict dst, size_t ldd, const float *restrict src, size_t lds,
                      size_t rows, size_t cols) {
  for (size_t r = 0; r < rows; r++) memcpy(dst + r * ldd, src + r * lds, cols * sizeof *dst);
}

/* Part p's A^T B through its padded chunks (p->pa, p->pb; either may be NULL: read in place). */
static dnnl_status_t tn_padded(const f32_part *p) {
  const prim_key *k = &p->key;
  dnnl_status_t ds = dnnl_success;
  for (size_t k0 = 0; k0 < k->k && ds == dnnl_success; k0 += TN_CHUNK) {
    const size_t kc = k->k - k0 < TN_CHUNK ? k->k - k0 : TN_CHUNK;
    const float *a = p->a + k0 * k->lda, *b = p->b + k0 * k->ldb;
    size_t lda = k->lda, ldb = k->ldb;
    if (p->pa) {
      copy_rows(p->pa, p->lpa, a, lda, kc, k->m);
      a = p->pa;
      lda = p->lpa;
    }
    if (p->pb) {
      copy_rows(p->pb, p->lpb, b, ldb, kc, k->n);
      b = p->pb;
      ldb = p->lpb;
    }
    ds = dnnl_sgemm('T', 'N', (dnnl_dim_t)k->m, (dnnl_dim_t)k->n, (dnnl_dim_t)kc, k->alpha, a,
                    (dnnl_dim_t)lda, b, (dnnl_dim_t)ldb, k0 ? 1.0f : k->beta, p->c,
                    (dnnl_dim_t)k->ldc);
  }
  return ds;
}

typedef struct f32_job {
  onednn_state *s;
  f32_part p[TEAM_MAX];
} f32_job;

/* Runs one part on its member's stream: dnnl_sgemm for a single product, else its matmul. */
static void f32_run_part(void *ctx, int i) {
  f32_job *j = ctx;
  f32_part *p = &j->p[i];
  const prim_key *k = &p->key;
  if (per_matrix(k)) {
    dnnl_status_t ds = dnnl_success;
    for (size_t z = 0; z < k->batch && ds == dnnl_success; z++)
      ds = dnnl_sgemm(k->ta ? 'T' : 'N', k->tb ? 'T' : 'N', 1, (dnnl_dim_t)k->n, (dnnl_dim_t)k->k,
                      k->alpha, p->a + z * k->sa, (dnnl_dim_t)k->lda, p->b + z * k->sb,
                      (dnnl_dim_t)k->ldb, k->beta, p->c + z * k->sc, (dnnl_dim_t)k->ldc);
    p->ds = ds;
    return;
  }
  if (k->batch == 1 && (p->pa || p->pb)) {
    p->ds = tn_padded(p);
    return;
  }
  if (k->batch == 1) {
    p->ds = dnnl_sgemm(k->ta ? 'T' : 'N', k->tb ? 'T' : 'N', (dnnl_dim_t)k->m, (dnnl_dim_t)k->n,
                       (dnnl_dim_t)k->k, k->alpha, p->a, (dnnl_dim_t)k->lda, p->b,
                       (dnnl_dim_t)k->ldb, k->beta, p->c, (dnnl_dim_t)k->ldc);
    return;
  }
  prim_entry *e = p->e;
  dnnl_status_t ds = set_handle(e->a, p->a);
  if (ds == dnnl_success) ds = set_handle(e->b, p->b);
  if (ds == dnnl_success) ds = set_handle(e->c, p->c);
  dnnl_exec_arg_t args[3] = {{DNNL_ARG_SRC, e->a}, {DNNL_ARG_WEIGHTS, e->b}, {DNNL_ARG_DST, e->c}};
  if (ds == dnnl_success) ds = dnnl_primitive_execute(e->mm, j->s->streams[i], 3, args);
  if (ds == dnnl_success) ds = dnnl_stream_wait(j->s->streams[i]);
  p->ds = ds;
}

/* Cuts k's product into at most `want` parts: whole matrices of a batch, else blocks of 16 rows of
 * C (of columns, when C has more column blocks than row blocks). Returns the number of parts. */
static int f32_cut(const prim_key *k, const float *a, const float *b, float *c, int want,
                   f32_part *out) {
  size_t whole = k->batch > 1 ? k->batch : 0;
  size_t mb = (k->m + 15) / 16, nb = (k->n + 15) / 16;
  int by_rows = mb >= nb;
  size_t units = whole ? whole : by_rows ? mb : nb;
  size_t parts = units < (size_t)want ? units : (size_t)want;
  for (size_t p = 0; p < parts; p++) {
    size_t u0 = units * p / parts, u1 = units * (p + 1) / parts;
    f32_part *o = &out[p];
    size_t m = k->m, n = k->n, batch = 1;
    o->a = a;
    o->b = b;
    o->c = c;
    if (whole) {
      batch = u1 - u0;
      o->a += k->sa * u0; /* sa, sb: 0 when one matrix serves the batch */
      o->b += k->sb * u0;
      o->c += k->sc * u0;
    } else if (by_rows) {
      size_t lo = u0 * 16, hi = u1 * 16 < k->m ? u1 * 16 : k->m;
      m = hi - lo;
      o->a += k->ta ? lo : lo * k->lda;
      o->c += lo * k->ldc;
    } else {
      size_t lo = u0 * 16, hi = u1 * 16 < k->n ? u1 * 16 : k->n;
      n = hi - lo;
      o->b += k->tb ? lo * k->ldb : lo;
      o->c += lo;
    }
    o->key = key_of(KIND_F32, k->ta, k->tb, m, n, k->k, k->alpha, k->lda, k->sa, k->ldb, k->sb,
                    k->beta, k->ldc, k->sc, batch);
    o->key.part = (int)p;
    o->e = NULL;
    o->pa = o->pb = NULL;
  }
  return (int)parts;
}

/* A single product with op(B) = B^T runs on a plain copy of op(B) where B has at most this many
 * elements and A at least NT_COPY_ROWS_PER_COL rows per column of op(B): sgemm multiplied the
 * training suite's products with B transposed 3-20 % slower than with the same B untransposed
 * (8192 x 128 x 512: 5.9 against 5.5 ms on two cores of a Zen 4 EPYC, operands from memory),
 * and the copy (256 KiB there) costs tens of microseconds. */
#define NT_COPY_MAX_ELEMS (1u << 18)
#define NT_COPY_ROWS_PER_COL 16

/* dst (k x n, dense) = the transpose of src (n x k, leading dimension ld), in square tiles. */
static void transpose_into(float *restrict dst, const float *restrict src, size_t n, size_t k,
                           size_t ld) {
  enum { TILE = 32 };
  for (size_t r0 = 0; r0 < n; r0 += TILE)
    for (size_t c0 = 0; c0 < k; c0 += TILE) {
      size_t r1 = r0 + TILE < n ? r0 + TILE : n, c1 = c0 + TILE < k ? c0 + TILE : k;
      for (size_t r = r0; r < r1; r++)
        for (size_t c = c0; c < c1; c++) dst[c * n + r] = src[r * ld + c];
    }
}

/* The float32 product on host memory (k >= 1), cut over the host team when it is large enough. */
static clippo_status run_f32(const clippo_rt *rt, onednn_state *s, const prim_key *key_in,
                             const float *a, const float *b, float *c, clippo_error *err) {
  prim_key plain = *key_in;
  const prim_key *key = key_in;
  if (key->batch == 1 && key->tb && key->k * key->n <= NT_COPY_MAX_ELEMS &&
      key->m >= NT_COPY_ROWS_PER_COL * key->n) {
    float *bt = scratch(s, BUF_B, key->k * key->n * sizeof(float));
    if (bt) { /* else (host memory short) as it is */
      transpose_into(bt, b, key->n, key->k, key->ldb);
      plain.tb = 0;
      plain.ldb = key->n;
      key = &plain;
      b = bt;
    }
  }
  f32_job j;
  j.s = s;
  int want = s->team && team_macs(key) >= TEAM_MACS ? host_team_size(s->team) : 1;
  int parts = f32_cut(key, a, b, c, want, j.p);
  if (s->tn_pad && key->batch == 1 && key->ta && !key->tb && key->k >= TN_PAD_K &&
      (tn_pad_ld(key->lda) || tn_pad_ld(key->ldb))) {
    size_t total = 0; /* floats of the parts' chunks */
    for (int i = 0; i < parts; i++) {
      f32_part *p = &j.p[i];
      p->lpa = tn_pad_ld(key->lda) ? padded_ld(p->key.m, sizeof(float)) : 0;
      p->lpb = tn_pad_ld(key->ldb) ? padded_ld(p->key.n, sizeof(float)) : 0;
      total += TN_CHUNK * (p->lpa + p->lpb);
    }
    float *pad = scratch(s, BUF_PAD, total * sizeof(float));
    for (int i = 0; i < parts && pad; i++) { /* else (host memory short) in place */
      f32_part *p = &j.p[i];
      if (p->lpa) p->pa = pad;
      pad += TN_CHUNK * p->lpa;
      if (p->lpb) p->pb = pad;
      pad += TN_CHUNK * p->lpb;
    }
  }
  for (int i = 0; i < parts; i++) /* the cache is the calling thread's: look up before */
    if (j.p[i].key.batch > 1 && !per_matrix(&j.p[i].key)) {
      clippo_status st = lookup(rt, s, &j.p[i].key, &j.p[i].e, err);
      if (st) return st;
    }
  host_team_run(s->team, parts, f32_run_part, &j);
  for (int i = 0; i < parts; i++)
    if (j.p[i].ds != dnnl_success)
      return dnnl_fail(rt, err, j.p[i].ds,
                       j.p[i].key.batch == 1 ? "dnnl_sgemm" : "running a float32 matmul");
  return CLIPPO_OK;
}

/* |x| as the bits of a float (ordered as the magnitudes for non-NaN x; NaN above infinity). */
static uint32_t abs_bits(float x) { return gemm_float_bits(x) & 0x7fffffffu; }

/* Largest |x| of each of `rows` rows of `cols` elements, leading dimension ld. */
GEMM_SIMD_CLONES static void amax_rows(const float *x, size_t rows, size_t cols, size_t ld,
                                       uint32_t *out) {
  for (size_t r = 0; r < rows; r++) {
    const float *p = x + r * ld;
    uint32_t mx = 0;
    for (size_t j = 0; j < cols; j++) {
      uint32_t u = abs_bits(p[j]);
      mx = u > mx ? u : mx;
    }
    out[r] = mx;
  }
}

/* Largest |x| of each of `cols` columns of `rows` rows, leading dimension ld. */
GEMM_SIMD_CLONES static void amax_cols(const float *x, size_t rows, size_t cols, size_t ld,
                                       uint32_t *out) {
  memset(out, 0, cols * sizeof *out);
  for (size_t r = 0; r < rows; r++) {
    const float *p = x + r * ld;
    for (size_t j = 0; j < cols; j++) {
      uint32_t u = abs_bits(p[j]);
      out[j] = u > out[j] ? u : out[j];
    }
  }
}

/* From the largest magnitudes of n vectors: q[i] = levels / max (0 for an all-zero vector), the
 * quantisation factor, and dq[i] = mul * max / levels, what the products are multiplied by. */
static void scales_of(const uint32_t *bits, size_t n, float mul, float levels, float *q,
                      float *dq) {
  for (size_t i = 0; i < n; i++) {
    float mx = gemm_bits_float(bits[i]);
    q[i] = mx > 0.0f ? levels / mx : 0.0f;
    dq[i] = mul * (mx / levels);
  }
}

/* A single int8 or bfloat16 product shared by the host team: each part quantises (rounds) its
 * rows of op(A) and its columns of op(B) (phase 1), then multiplies its rows of C (phase 2). Parts
 * write disjoint pieces of the shared scratch. */
typedef struct single_job {
  onednn_state *s;
  const prim_key *key;
  const float *a, *b;
  float *c;
  size_t el;                    /* bytes per element of qa and qb: 1 (s8) or 2 (bf16) */
  char *qa, *qb;                /* dense op(A) (m x k) and op(B) (k x n) in s8 or bf16 */
  float *qsa, *dqa, *qsb, *dqb; /* quantisation and dequantisation factors of rows and columns */
  uint32_t *bits;               /* largest magnitudes: m for the rows, then n for the columns */
  int32_t *plain;               /* int8: the m x n sums, dequantised into C */
  int32_t *shift;               /* int8: what A's shift to u8 added to each column's sums */
  int b_ready;                  /* qb and dqb hold a declared weight's copy already */
  const void *wblk;             /* qb in the matmuls' blocked layout (key.blk), else NULL */
  prim_entry *e[TEAM_MAX];
  dnnl_status_t ds[TEAM_MAX];
  const char *what[TEAM_MAX]; /* the step that failed */
} single_job;

/* n bytes of s8 as u8: x + 128, the same as flipping the sign bit. */
GEMM_SIMD_CLONES static void shift_to_u8(unsigned char *restrict x, size_t n) {
  for (size_t i = 0; i < n; i++) x[i] ^= 0x80u;
}

/* shift[c] = 128 times the sum of column c of the dense k x n s8 matrix q, for c in [c0, c1):
 * what a u8 A (s8 + 128) adds to column c of the sums (k <= INT8_K_MAX: no overflow). */
GEMM_SIMD_CLONES static void single_shift_cols(const signed char *restrict q, size_t k, size_t n,
                                               size_t c0, size_t c1, int32_t *restrict shift) {
  int32_t *sh = shift + c0;
  const size_t cols = c1 - c0;
  for (size_t c = 0; c < cols; c++) sh[c] = 0;
  for (size_t r = 0; r < k; r++) {
    const signed char *row = q + r * n + c0;
    for (size_t c = 0; c < cols; c++) sh[c] += row[c];
  }
  for (size_t c = 0; c < cols; c++) sh[c] *= 128;
}

/* Phase 1 of part p: the scales and s8 copies (int8), or the bf16 copies, of its rows of op(A)
 * and columns of op(B). */
static void single_convert_part(void *ctx, int p) {
  single_job *j = ctx;
  const prim_key *k = j->key;
  int int8 = k->kind == KIND_INT8;
  const prim_entry *e = j->e[p];
  dnnl_stream_t on = j->s->streams[p];
  size_t rows = e->r1 - e->r0, cols = e->c1 - e->c0;
  dnnl_status_t ds = dnnl_success;
  if (rows) {
    const float *ap = j->a + (k->ta ? e->r0 : e->r0 * k->lda);
    if (int8) {
      uint32_t *bits = j->bits + e->r0;
      if (k->ta)
        amax_cols(ap, k->k, rows, k->lda, bits);
      else
        amax_rows(ap, rows, k->k, k->lda, bits);
      scales_of(bits, rows, 1.0f, 127.0f, j->qsa + e->r0, j->dqa + e->r0);
    }
    char *qa = j->qa + e->r0 * k->k * j->el;
    ds = run_reorder(on, e->ra, e->af, ap, e->ad, qa, int8 ? e->qa : NULL,
                     int8 ? j->qsa + e->r0 : NULL);
    if (ds == dnnl_success && int8) shift_to_u8((unsigned char *)qa, rows * k->k);
    j->what[p] = int8 ? "quantising A to int8" : "rounding A to bfloat16";
  }
  if (ds == dnnl_success && cols && !j->b_ready) {
    const float *bp = j->b + (k->tb ? e->c0 * k->ldb : e->c0);
    if (int8) {
      uint32_t *bits = j->bits + k->m + e->c0;
      if (k->tb)
        amax_rows(bp, cols, k->k, k->ldb, bits);
      else
        amax_cols(bp, k->k, cols, k->ldb, bits);
      scales_of(bits, cols, k->alpha, (float)j->s->wlevels, j->qsb + e->c0,
                j->dqb + e->c0); /* alpha goes into B's */
    }
    ds = run_reorder(on, e->rb, e->bf, bp, e->bd, j->qb + e->c0 * j->el, int8 ? e->qb : NULL,
                     int8 ? j->qsb + e->c0 : NULL);
    if (ds == dnnl_success && int8)
      single_shift_cols((const signed char *)j->qb, k->k, k->n, e->c0, e->c1, j->shift);
    j->what[p] = int8 ? "quantising B to int8" : "rounding B to bfloat16";
  }
  j->ds[p] = ds;
}

/* C (rows x cols, leading dimension ldc) = the sums acc (leading dimension lda) less each
 * column's shift[c], as floats, times each row's factor ra[i] and each column's cb[c] (+ beta C):
 * int8's dequantisation where it is not a post-op (3-4 % of an int8 batch-1 embedding on AMX;
 * restrict and beta tested outside the loops keep them vectorised). The difference is exact
 * (k <= INT8_K_MAX), so C's bits do not depend on the shift. */
GEMM_SIMD_CLONES static void dequantise_rows(float *restrict c, size_t ldc,
                                             const int32_t *restrict acc, size_t lda, size_t rows,
                                             size_t cols, const int32_t *restrict shift,
                                             const float *restrict ra, const float *restrict cb,
                                             float beta) {
  for (size_t i = 0; i < rows; i++) {
    float *row = c + i * ldc;
    const float r = ra[i];
    const int32_t *sums = acc + i * lda;
    if (beta == 0.0f)
      for (size_t j = 0; j < cols; j++) row[j] = (float)(sums[j] - shift[j]) * r * cb[j];
    else
      for (size_t j = 0; j < cols; j++)
        row[j] = (float)(sums[j] - shift[j]) * r * cb[j] + beta * row[j];
  }
}

/* Phase 2 of part p: its rows of C = alpha times the (dequantised) sums (+ beta C). */
static void single_multiply_part(void *ctx, int p) {
  single_job *j = ctx;
  const prim_key *k = j->key;
  const prim_entry *e = j->e[p];
  dnnl_stream_t on = j->s->streams[p];
  size_t rows = e->or1 - e->or0;
  int int8 = k->kind == KIND_INT8;
  j->what[p] = int8 ? "running an int8 matmul" : "running a bfloat16 matmul";
  if (!e->mm) { /* an empty block of C */
    j->ds[p] = dnnl_success;
    return;
  }
  /* plain: the sums of the block at the same place of an m x n scratch */
  float *cp = j->c + e->or0 * k->ldc + e->oc0;
  int32_t *plain = int8 ? j->plain + e->or0 * k->n + e->oc0 : NULL;
  dnnl_status_t ds = set_handle(e->a, j->qa + e->or0 * k->k * j->el);
  if (ds == dnnl_success)
    ds = set_handle(e->b, (j->wblk ? (const char *)j->wblk : j->qb) + e->oc0 * j->el);
  if (ds == dnnl_success) ds = set_handle(e->c, plain ? (void *)plain : (void *)cp);
  dnnl_exec_arg_t args[3] = {{DNNL_ARG_SRC, e->a}, {DNNL_ARG_WEIGHTS, e->b}, {DNNL_ARG_DST, e->c}};
  if (ds == dnnl_success) ds = dnnl_primitive_execute(e->mm, on, 3, args);
  if (ds == dnnl_success) ds = dnnl_stream_wait(on);
  if (ds == dnnl_success && plain)
    dequantise_rows(cp, k->ldc, plain, k->n, rows, e->oc1 - e->oc0, j->shift + e->oc0,
                    j->dqa + e->or0, j->dqb + e->oc0, k->beta);
  j->ds[p] = ds;
}

/* The first failed part's status as an error. */
static clippo_status single_check(const clippo_rt *rt, const single_job *j, int parts,
                                  clippo_error *err) {
  for (int p = 0; p < parts; p++)
    if (j->ds[p] != dnnl_success) return dnnl_fail(rt, err, j->ds[p], j->what[p]);
  return CLIPPO_OK;
}

/* The copy of declared weight B (mem, off) for key, or NULL; *fresh = 1 when it was just made
 * (not filled yet), 0 when it holds B quantised. NULL also when host memory is short: the product
 * then quantises B into scratch as for any B. */
static weights_copy *weights_find(const clippo_rt *rt, onednn_state *s, const prim_key *key,
                                  cl_mem mem, size_t off, int *fresh) {
  *fresh = 0;
  if (!mem || !gemm_weights_declared(rt, mem)) return NULL;
  for (size_t i = 0; i < s->nwc; i++) {
    weights_copy *w = &s->wc[i];
    if (w->kind == key->kind && w->mem == mem && w->off == off && w->ldb == key->ldb &&
        w->k == key->k && w->n == key->n && w->tb == key->tb &&
        w->alpha == gemm_float_bits(key->alpha) &&
        (key->kind != KIND_F32 || w->f32_blk == key->blk))
      return w;
  }
  if (s->nwc == s->capwc) {
    size_t cap = s->capwc ? 2 * s->capwc : 64;
    weights_copy *wc = realloc(s->wc, cap * sizeof *wc);
    if (!wc) return NULL;
    s->wc = wc;
    s->capwc = cap;
  }
  int f32 = key->kind == KIND_F32; /* kept in the matmuls' layout only (blk) */
  size_t el = key->kind == KIND_INT8 ? 1 : 2;
  weights_copy w = {key->kind,
                    mem,
                    off,
                    key->ldb,
                    key->k,
                    key->n,
                    key->tb,
                    gemm_float_bits(key->alpha),
                    f32 ? NULL : malloc(key->k * key->n * el),
                    f32 ? NULL : malloc(key->n * sizeof(float)),
                    key->kind == KIND_INT8 ? malloc(key->n * sizeof(int32_t)) : NULL,
                    NULL,
                    {0},
                    f32 ? key->blk : 0};
  if (!f32 && (!w.q || !w.dq || (key->kind == KIND_INT8 && !w.shift))) {
    free(w.q);
    free(w.dq);
    free(w.shift);
    return NULL;
  }
  s->wc[s->nwc++] = w;
  *fresh = 1;
  return &s->wc[s->nwc - 1];
}

/* Drops copy w (one whose filling failed, or whose declaration ended). */
static void weights_drop(onednn_state *s, weights_copy *w) {
  free(w->q);
  free(w->dq);
  free(w->shift);
  free(w->blk);
  *w = s->wc[--s->nwc];
}

/* 1 when the parts' matmuls (those with rows) chose one layout of B; *layout gets it (NULL when
 * no part has rows). */
static int parts_share_layout(prim_entry *const *e, int parts, const dnnl_memory_desc_t **layout) {
  *layout = NULL;
  for (int p = 0; p < parts; p++) {
    if (!e[p]->mm) continue;
    if (!*layout)
      *layout = &e[p]->wmd;
    else if (!dnnl_memory_desc_equal(*layout, &e[p]->wmd))
      return 0;
  }
  return 1;
}

/* Looks up the primitives of every part of key (blk: B in the matmuls' own layout). */
static clippo_status lookup_parts(const clippo_rt *rt, onednn_state *s, const prim_key *key,
                                  int parts, int blk, prim_entry **e, clippo_error *err) {
  for (int p = 0; p < parts; p++) { /* the cache is the calling thread's: look up before */
    prim_key pk = *key;
    pk.part = p;
    pk.parts = parts;
    pk.blk = blk;
    clippo_status st = lookup(rt, s, &pk, &e[p], err);
    if (st) return st;
  }
  return CLIPPO_OK;
}

/* Makes w->blk hold op(B) (described by `from`, at src_data: w's dense copy, or B itself for
 * float32) in layout `to` (once per layout; a dense copy stays, for products whose parts chose
 * different layouts). */
static clippo_status weights_block(const clippo_rt *rt, onednn_state *s, weights_copy *w,
                                   const dnnl_memory_desc_t *from, const void *src_data,
                                   const dnnl_memory_desc_t *to, clippo_error *err) {
  if (w->blk && dnnl_memory_desc_equal(&w->blk_md, to)) return CLIPPO_OK;
  free(w->blk);
  w->blk = NULL;
  size_t bytes = (dnnl_memory_desc_get_size(to) + 63) / 64 * 64;
  void *blk = aligned_alloc(64, bytes ? bytes : 64);
  if (!blk) return clippo_fail(err, CLIPPO_E_NOMEM, "out of host memory (blocked weights)");
  dnnl_primitive_desc_t pd = NULL;
  dnnl_primitive_t r = NULL;
  dnnl_memory_t src = NULL, dst = NULL;
  dnnl_status_t ds = dnnl_reorder_primitive_desc_create(&pd, from, s->engine, to, s->engine, NULL);
  if (ds == dnnl_success) ds = dnnl_primitive_create(&r, pd);
  if (ds == dnnl_success) ds = dnnl_memory_create(&src, from, s->engine, (void *)src_data);
  if (ds == dnnl_success) ds = dnnl_memory_create(&dst, to, s->engine, blk);
  dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, src}, {DNNL_ARG_TO, dst}};
  if (ds == dnnl_success) ds = dnnl_primitive_execute(r, s->streams[0], 2, args);
  if (ds == dnnl_success) ds = dnnl_stream_wait(s->streams[0]);
  if (dst) dnnl_memory_destroy(dst);
  if (src) dnnl_memory_destroy(src);
  if (r) dnnl_primitive_destroy(r);
  if (pd) dnnl_primitive_desc_destroy(pd);
  if (ds != dnnl_success) {
    free(blk);
    return dnnl_fail(rt, err, ds, "reordering declared weights into the matmul's layout");
  }
  w->blk = blk;
  w->blk_md = *to;
  return CLIPPO_OK;
}

/* clippo_gemm_fused's epilogue as a product running on the host sees it: asked (0: none), the
 * bias (NULL: none) and act_out (NULL: into C) mapped, and where the product that applied it as
 * it wrote C says so (*fused = 1). */
typedef struct host_epi {
  int asked;
  const float *bias;
  clippo_gemm_act act;
  const float *out;
  int *fused;
} host_epi;

/* Float32 products with declared weights take the blocked copies when they have at most this
 * many rows (batch-1 embeddings; larger ones measured as fast through sgemm). */
#define F32_BLOCKED_ROWS 256

/* A float32 product with declared weights, cut by columns over the host team: part p multiplies
 * all rows of A with its columns' copy of B, either into its block of the scratch, then writing
 * alpha times that (+ beta C) into its columns of C (GEMM_DECLARED_BLOCKED), or straight into its
 * columns of C (dense NULL: GEMM_DECLARED_DIRECT); the epilogue follows on those columns. */
typedef struct f32b_job {
  const onednn_state *s;
  const prim_key *key;
  const float *a;
  float *c, *dense;          /* dense: m x (c1 - c0) per part, at m * c0; NULL: direct */
  const float *bias;         /* the epilogue each part applies (epi_in_copy): its bias or NULL, */
  clippo_gemm_act act;       /* its activation; neither: none applied */
  size_t c0[TEAM_MAX + 1];   /* part p's columns: [c0[p], c0[p + 1]) */
  const void *blk[TEAM_MAX]; /* its columns of B in its matmul's layout */
  prim_entry *e[TEAM_MAX];
  dnnl_status_t ds[TEAM_MAX];
} f32b_job;

/* 1 where a declared-weights product applies clippo_gemm_fused's epilogue act(C + bias) itself:
 * each part to its own rows of columns as it copies its block into C (gemm_bias_act_row), while
 * they are still in the core's cache, instead of a pass of the host team over all of C once every
 * part is done (B/16 batch 1 on a 2-vCPU Zen 4: the residual products 1297-1317 -> 1236-1247 and
 * 4373-4413 -> 4279-4357 us). Not with act_out (C keeps the product) or a softmax. */
static int epi_in_copy(const float *bias, clippo_gemm_act act, const float *out) {
  if (out) return 0;
  return act == CLIPPO_GEMM_ACT_GELU || (act == CLIPPO_GEMM_ACT_NONE && bias);
}

/* row = alpha acc (+ beta row): one row of a part's dense block into C. */
static void block_row_into(float *restrict row, const float *restrict acc, size_t cols, float alpha,
                           float beta) {
  if (beta == 0.0f && alpha == 1.0f)
    memcpy(row, acc, cols * sizeof *row);
  else if (beta == 0.0f)
    for (size_t c = 0; c < cols; c++) row[c] = alpha * acc[c];
  else
    for (size_t c = 0; c < cols; c++) row[c] = alpha * acc[c] + beta * row[c];
}

static void f32b_run_part(void *ctx, int p) {
  f32b_job *j = ctx;
  const prim_entry *e = j->e[p];
  const prim_key *k = j->key;
  const size_t c0 = j->c0[p], cols = j->c0[p + 1] - c0, m = k->m, ldc = k->ldc;
  float *block = j->dense ? j->dense + m * c0 : j->c + c0;
  dnnl_status_t ds = set_handle(e->a, j->a);
  if (ds == dnnl_success) ds = set_handle(e->b, j->blk[p]);
  if (ds == dnnl_success) ds = set_handle(e->c, block);
  dnnl_exec_arg_t args[3] = {{DNNL_ARG_SRC, e->a}, {DNNL_ARG_WEIGHTS, e->b}, {DNNL_ARG_DST, e->c}};
  if (ds == dnnl_success) ds = dnnl_primitive_execute(e->mm, j->s->streams[p], 3, args);
  if (ds == dnnl_success) ds = dnnl_stream_wait(j->s->streams[p]);
  if (ds != dnnl_success) {
    j->ds[p] = ds;
    return;
  }
  const float *bias = j->bias ? j->bias + c0 : NULL;
  const int epi = bias || j->act != CLIPPO_GEMM_ACT_NONE;
  for (size_t i = 0; i < m; i++) {
    float *row = j->c + i * ldc + c0;
    if (j->dense) { /* the block's row into C first; direct: C holds alpha A B (+ beta C) */
      const float *acc = block + i * cols;
      if (epi && k->alpha == 1.0f && k->beta == 0.0f) { /* one pass */
        gemm_bias_act_row(row, acc, bias, cols, j->act);
        continue;
      }
      block_row_into(row, acc, cols, k->alpha, k->beta);
    }
    if (epi) gemm_bias_act_row(row, row, bias, cols, j->act);
  }
  j->ds[p] = ds;
}

/* A single float32 product of at most F32_BLOCKED_ROWS rows (A not transposed) whose B (bmem,
 * boff) is a declared weight: each team member takes a block of columns (multiples of 64) and
 * keeps its block of B in the blocked layout oneDNN's matmul chooses for it while the declaration
 * lasts (one more copy of the weights in host memory, split between the members). dnnl_sgemm
 * packs B again at every call: with B coming from memory (a model's weights), one thread ran
 * 196 x 1536 x 768 at 109-128 GFLOP/s through sgemm, 160-163 on the kept copy. direct: each
 * part's matmul writes C's columns itself (GEMM_DECLARED_DIRECT; with a strided destination
 * oneDNN picks gemm:jit, on a 2-vCPU Zen 4 1-7 % faster per B/16 product than brgemm into the
 * dense block and its copy). *done = 0 (nothing run, no error) where this does not apply or a
 * copy could not be made (host memory short): the caller runs sgemm then. */
static clippo_status run_f32_declared(const clippo_rt *rt, onednn_state *s, const prim_key *key,
                                      const float *a, const float *b, float *c, cl_mem bmem,
                                      size_t boff, int direct, const host_epi *ep, int *done,
                                      clippo_error *err) {
  *done = 0;
  if (key->batch != 1 || key->ta || key->m > F32_BLOCKED_ROWS || !bmem ||
      !gemm_weights_declared(rt, bmem))
    return CLIPPO_OK;
  size_t units = (key->n + 63) / 64;
  int parts = s->team && team_macs(key) >= TEAM_MACS ? host_team_size(s->team) : 1;
  if ((size_t)parts > units) parts = (int)units;
  f32b_job j;
  memset(&j, 0, sizeof j);
  j.s = s;
  j.key = key;
  j.a = a;
  j.c = c;
  if (!direct) {
    j.dense = scratch(s, BUF_C, key->m * key->n * sizeof(float));
    if (!j.dense) return CLIPPO_OK; /* sgemm */
  }
  const int epi = ep && ep->asked && epi_in_copy(ep->bias, ep->act, ep->out);
  j.bias = epi ? ep->bias : NULL;
  j.act = epi ? ep->act : CLIPPO_GEMM_ACT_NONE;
  clippo_status st = CLIPPO_OK;
  for (int p = 0; p <= parts; p++) {
    size_t c0 = 64 * (units * (size_t)p / (size_t)parts);
    j.c0[p] = c0 < key->n ? c0 : key->n;
  }
  for (int p = 0; p < parts && !st; p++) { /* the cache is the calling thread's: look up before */
    prim_key pk = *key;
    pk.n = j.c0[p + 1] - j.c0[p];
    pk.part = p;
    pk.blk = direct ? 2 : 1;
    if (!direct) {
      pk.ldc = pk.n;   /* into the dense block */
      pk.alpha = 1.0f; /* alpha and beta come in when the block is copied into C */
      pk.beta = 0.0f;
    }
    size_t off = key->tb ? j.c0[p] * key->ldb : j.c0[p]; /* the block's first element of B */
    int fresh = 0;
    weights_copy *w = weights_find(rt, s, &pk, bmem, boff + off, &fresh);
    if (!w) return CLIPPO_OK; /* host memory short: sgemm */
    st = lookup(rt, s, &pk, &j.e[p], err);
    if (!st) {
      dnnl_memory_desc_t from;
      dnnl_status_t ds = md_2d(&from, dnnl_f32, pk.k, pk.n, key->tb, key->ldb);
      st = ds == dnnl_success ? weights_block(rt, s, w, &from, b + off, &j.e[p]->wmd, err)
                              : dnnl_fail(rt, err, ds, "describing declared weights");
    }
    if (st && fresh) weights_drop(s, w);
    if (!st) j.blk[p] = w->blk;
  }
  if (st) return st;
  host_team_run(s->team, parts, f32b_run_part, &j);
  for (int p = 0; p < parts; p++)
    if (j.ds[p] != dnnl_success) return dnnl_fail(rt, err, j.ds[p], "running a float32 matmul");
  *done = 1;
  if (epi) *ep->fused = 1;
  return CLIPPO_OK;
}

/* A single int8 or bfloat16 product on host memory (k >= 1, batch 1), shared by the host team
 * when large; bmem and boff locate B (bmem NULL: unknown) for the copies of declared weights.
 * A declared weight's copy is also kept in the blocked layout the matmuls choose for it (all
 * parts multiply all of B then): oneDNN's brgemm otherwise copies B into that layout at every
 * call (B/16's products, one thread of a Xeon with AMX: int8 750-1640 -> 1280-1990 GOP/s,
 * bfloat16 430-710 -> 590-900). */
static clippo_status run_single(const clippo_rt *rt, onednn_state *s, const prim_key *key,
                                const float *a, const float *b, float *c, cl_mem bmem, size_t boff,
                                clippo_error *err) {
  int int8 = key->kind == KIND_INT8;
  const size_t m = key->m, n = key->n, k = key->k;
  double macs = (double)m * (double)n * (double)k;
  size_t blocks = (m + 15) / 16;
  int parts = s->team && macs >= TEAM_MACS ? host_team_size(s->team) : 1;
  if ((size_t)parts > blocks) parts = (int)blocks;
  single_job j;
  memset(&j, 0, sizeof j);
  j.el = int8 ? 1 : 2;
  j.s = s;
  j.key = key;
  j.a = a;
  j.b = b;
  j.c = c;
  int fresh = 0;
  weights_copy *w = weights_find(rt, s, key, bmem, boff, &fresh);
  int blk = w != NULL;
  const dnnl_memory_desc_t *layout = NULL;
  clippo_status st = lookup_parts(rt, s, key, parts, blk, j.e, err);
  if (!st && blk && !parts_share_layout(j.e, parts, &layout)) { /* each would need a copy */
    blk = 0;
    st = lookup_parts(rt, s, key, parts, 0, j.e, err);
  }
  if (st) {
    if (fresh && w) weights_drop(s, w);
    return st;
  }
  j.b_ready = w && !fresh;
  j.qa = scratch(s, BUF_A, m * k * j.el);
  j.qb = w ? w->q : scratch(s, BUF_B, k * n * j.el);
  float *sc = scratch(s, BUF_SCALE, 2 * (m + n) * sizeof(float));
  j.bits = scratch(s, BUF_BITS, (m + n) * sizeof(uint32_t));
  j.plain = int8 ? scratch(s, BUF_C, m * n * sizeof(int32_t)) : NULL;
  j.shift = !int8 ? NULL : w ? w->shift : scratch(s, BUF_SHIFT, n * sizeof(int32_t));
  if (!j.qa || !j.qb || !sc || !j.bits || (int8 && (!j.plain || !j.shift))) {
    if (fresh && w) weights_drop(s, w);
    return clippo_fail(err, CLIPPO_E_NOMEM, "out of host memory (%s operands)",
                       int8 ? "int8" : "bfloat16");
  }
  j.qsa = sc;
  j.dqa = j.qsa + m;
  j.qsb = j.dqa + m;
  j.dqb = w ? w->dq : j.qsb + n;
  host_team_run(s->team, parts, single_convert_part, &j);
  st = single_check(rt, &j, parts, err);
  if (!st && blk) {
    dnnl_memory_desc_t dense;
    dnnl_status_t ds = md_2d(&dense, int8 ? dnnl_s8 : dnnl_bf16, k, n, 0, n);
    if (ds != dnnl_success)
      st = dnnl_fail(rt, err, ds, "describing declared weights");
    else if (layout)
      st = weights_block(rt, s, w, &dense, w->q, layout, err);
    j.wblk = w->blk;
  }
  if (st) {
    if (fresh && w) weights_drop(s, w);
    return st;
  }
  host_team_run(s->team, parts, single_multiply_part, &j);
  return single_check(rt, &j, parts, err);
}

/* The epilogue (clippo_gemm_fused, clippo_gemm_batched_fused) over C, shared by the host team:
 * each member takes a block of the rows of all C's matrices, after every part of the product has
 * written C (so a product cut by columns is finished first). */
typedef struct epi_job {
  onednn_state *s;
  float *c;
  float *out; /* act_out, or NULL */
  const float *bias;
  size_t m, n, ldc, sc, rows; /* rows: batch * m, numbered matrix by matrix */
  clippo_gemm_act act;
  prim_entry *e[TEAM_MAX]; /* softmax: the primitives of the part's rows */
  dnnl_status_t ds[TEAM_MAX];
  int parts;
} epi_job;

static void epi_run_part(void *ctx, int p) {
  epi_job *j = ctx;
  prim_entry *e = j->e[p];
  size_t lo, hi;
  part_range(j->rows, p, j->parts, &lo, &hi);
  if (j->act != CLIPPO_GEMM_ACT_SOFTMAX) { /* bias and GELU: the plain loop, row by row */
    for (size_t r = lo; r < hi; r++) {
      size_t off = r / j->m * j->sc + r % j->m * j->ldc;
      gemm_bias_act_row(j->out ? j->out + off : j->c + off, j->c + off, j->bias, j->n, j->act);
    }
    j->ds[p] = dnnl_success;
    return;
  }
  dnnl_status_t ds = dnnl_success;
  dnnl_exec_arg_t args[2] = {{DNNL_ARG_SRC, e->c}, {DNNL_ARG_DST, e->c}};
  size_t step = e->key.m; /* the block at once, or one row at a time */
  for (size_t r = lo; r < hi && ds == dnnl_success; r += step) {
    ds = set_handle(e->c, j->c + r / j->m * j->sc + r % j->m * j->ldc);
    if (ds == dnnl_success) ds = dnnl_primitive_execute(e->ra, j->s->streams[p], 2, args);
    if (ds == dnnl_success) ds = dnnl_stream_wait(j->s->streams[p]);
  }
  j->ds[p] = ds;
}

/* Epilogues of fewer elements run on the calling thread alone. */
#define EPI_TEAM_ELEMS 65536.0

static clippo_status run_epilogue(const clippo_rt *rt, onednn_state *s, const gemm_call *g,
                                  float *c, const float *bias, float *out, clippo_error *err) {
  epi_job j;
  memset(&j, 0, sizeof j);
  j.s = s;
  j.c = c;
  j.out = out;
  j.bias = bias;
  j.m = g->m;
  j.n = g->n;
  j.act = g->act;
  j.ldc = g->ldc;
  j.sc = g->batch > 1 ? g->sc : 0;
  j.rows = g->batch * g->m;
  /* The rows are one dense block when each is n long and the matrices follow each other. */
  int dense = g->ldc == g->n && (g->batch == 1 || g->sc == g->m * g->n);
  int parts =
      s->team && (double)j.rows * (double)g->n >= EPI_TEAM_ELEMS ? host_team_size(s->team) : 1;
  size_t blocks = (j.rows + 15) / 16;
  if ((size_t)parts > blocks) parts = (int)blocks;
  j.parts = parts;
  for (int p = 0; p < parts && g->act == CLIPPO_GEMM_ACT_SOFTMAX; p++) { /* look up before */
    size_t lo, hi;
    part_range(j.rows, p, parts, &lo, &hi);
    prim_key key;
    memset(&key, 0, sizeof key);
    key.kind = KIND_EPI;
    key.part = p;
    key.n = g->n;
    key.m = dense ? hi - lo : 1; /* dense rows at once, else one by one */
    if (key.m == 0) key.m = 1;   /* an empty block: nothing runs */
    clippo_status st = lookup(rt, s, &key, &j.e[p], err);
    if (st) return clippo_error_prefix(err, "gemm epilogue");
  }
  host_team_run(s->team, parts, epi_run_part, &j);
  for (int p = 0; p < parts; p++)
    if (j.ds[p] != dnnl_success) return dnnl_fail(rt, err, j.ds[p], "running a softmax epilogue");
  return CLIPPO_OK;
}

/* Batched int8 and bf16 products run in float32 (see the top of the file). */
static int effective_kind(int kind, const gemm_call *g) {
  return (kind == KIND_INT8 || kind == KIND_BF16) && g->batch > 1 ? KIND_F32 : kind;
}

/* Runs a product in rt's precision (float32 unless bf16 or int8) on mapped host memory; bmem and
 * boff locate B (bmem NULL: unknown). */
static clippo_status run_product(const clippo_rt *rt, onednn_state *s, int kind, const gemm_call *g,
                                 const float *a, const float *b, float *c, cl_mem bmem, size_t boff,
                                 const host_epi *ep, clippo_error *err) {
  if (g->k == 0) {
    scale_c(c, g->m, g->n, g->ldc, g->sc, g->batch, g->beta);
    return CLIPPO_OK;
  }
  kind = effective_kind(kind, g);
  prim_key key = key_of(kind, g->ta, g->tb, g->m, g->n, g->k, g->alpha, g->lda, g->sa, g->ldb,
                        g->sb, g->beta, g->ldc, g->sc, g->batch);
  switch (kind) {
  case KIND_BF16:
  case KIND_INT8: return run_single(rt, s, &key, a, b, c, bmem, boff, err);
  default: {
    int done = 0;
    clippo_status st = run_f32_declared(rt, s, &key, a, b, c, bmem, boff,
                                        g->declared == GEMM_DECLARED_DIRECT, ep, &done, err);
    return st || done ? st : run_f32(rt, s, &key, a, b, c, err);
  }
  }
}

/* The product, then its epilogue where one was asked (g->epi_done; mp's bias and act_out), on
 * host memory. *product_done is set once C holds the product. fail_at is the failure hook's stage
 * (1: before the product, 2: the epilogue). */
static clippo_status run_host(const clippo_rt *rt, onednn_state *s, int kind, const gemm_call *g,
                              const gemm_mapped *mp, int fail_at, int *product_done,
                              clippo_error *err) {
  if (fail_at == 1)
    return clippo_fail(err, CLIPPO_E_DEVICE, "oneDNN gemm: failed before the product (injected)");
  int fused = 0;
  host_epi ep = {g->epi_done != NULL && fail_at != 2, mp->bias, g->act, mp->act_out, &fused};
  clippo_status st = run_product(rt, s, kind, g, mp->a, mp->b, mp->c, g->b ? g->b->mem : NULL,
                                 g->b ? g->b->offset : 0, &ep, err);
  if (st) return st;
  *product_done = 1;
  if (!g->epi_done) return CLIPPO_OK;
  if (fused) {
    *g->epi_done = 1;
    return CLIPPO_OK;
  }
  st = fail_at == 2 ? clippo_fail(err, CLIPPO_E_DEVICE, "oneDNN gemm: epilogue failed (injected)")
                    : run_epilogue(rt, s, g, mp->c, mp->bias, mp->act_out, err);
  if (!st) *g->epi_done = 1;
  return st;
}

/* run_host on rt's host team with its threads settings (a gemm_host_fn: also the body of a product
 * queued on the device's thread). */
static clippo_status run_team(clippo_rt *rt, int kind, int fail_at, const gemm_call *g,
                              const gemm_mapped *mp, int *product_done, clippo_error *err) {
  onednn_state *s = NULL;
  clippo_status st = state_get(rt, &s, err); /* made by the caller: found */
  if (st) return st;
  threads t =
      threads_begin((double)g->m * (double)g->n * (double)g->k * (double)g->batch, s->team != NULL);
  st = run_host(rt, s, kind, g, mp, fail_at, product_done, err);
  threads_end(t);
  return st;
}

/* Products of at most this many multiply-adds are queued on the device's thread. Below it the
 * blocking map's round trip (40-60 us on PoCL) is as long as the product (B/16's head, 8 x 768 x
 * 768 = 4.7 M, 0.04 ms on two cores); above it queueing gained nothing and cost 8 % of the
 * training suite's forward + backward with 33 M (the default model's products run with PoCL's
 * own threads awake beside the host team). 2-vCPU AMX Xeon, 2026-12-06. */
#define QUEUED_MACS 8e6

/* Runs the product on the host: as a command of rt's queue where the device runs native kernels
 * and the product is small (QUEUED_MACS; PoCL: no round trip to the driver's threads per product,
 * the caller goes on queueing), else between a blocking map of the operands and their unmap. The
 * state is created here, on the caller's thread. An epilogue that fails after the product (the
 * product is in C) is applied by the plain loop: running the product again would add beta C twice.
 */
static clippo_status run_mapped(clippo_rt *rt, int kind, const gemm_call *g, clippo_error *err) {
  onednn_state *s = NULL;
  clippo_status st = state_get(rt, &s, err);
  if (st) return st;
  int fail_at = 0; /* the failure hook's launches 1 and 2: inside the product's run */
  for (int at = 1; at <= 2 && !fail_at; at++)
    if (gemm_injected_failure(rt, CLIPPO_GEMM_ONEDNN, at, NULL)) fail_at = at;
  double macs = (double)g->m * (double)g->n * (double)g->k * (double)g->batch;
  if (macs <= QUEUED_MACS && gemm_host_async(rt))
    return gemm_host_enqueue(rt, g, "oneDNN gemm", run_team, kind, fail_at, err);
  gemm_mapped mp;
  if ((st = gemm_map(rt, g, "oneDNN gemm", &mp, err))) return st;
  int product_done = 0;
  clippo_error e;
  clippo_error_clear(&e);
  st = run_team(rt, kind, fail_at, g, &mp, &product_done, &e);
  if (st && product_done) { /* the epilogue failed */
    gemm_host_finish(rt, g, &mp, "oneDNN gemm", 0, product_done, &e);
    st = CLIPPO_OK;
  } else if (st && err) {
    *err = e;
  }
  return gemm_unmap(rt, &mp, st, "oneDNN gemm", err);
}

/* Drops the int8 copies of weights in mem. */
static void onednn_forget_weights(clippo_rt *rt, cl_mem mem) {
  void *p = NULL;
  if (gemm_provider_state(rt, CLIPPO_GEMM_ONEDNN, &p, NULL) || !p) return;
  onednn_state *s = p;
  for (size_t i = s->nwc; i-- > 0;)
    if (s->wc[i].mem == mem) weights_drop(s, &s->wc[i]);
}

static clippo_status onednn_run(clippo_rt *rt, const gemm_call *g,
                                const clippo_gemm_kernel_cfg *cfg, size_t *k_done,
                                clippo_error *err) {
  (void)cfg;
  *k_done = 0; /* C is written once, at the end of each matrix's product */
  clippo_status inj = gemm_injected_failure(rt, CLIPPO_GEMM_ONEDNN, 0, err);
  if (inj) return inj;
  return run_mapped(rt, KIND_F32, g, err);
}

/* A CPU device whose buffers the host can map without copies (PoCL; rusticl's llvmpipe says it
 * shares the host's memory too). */
static int onednn_available(const clippo_rt *rt) {
  return (rt->info.type & CL_DEVICE_TYPE_CPU) && rt->info.host_unified;
}

/* Whether oneDNN has a matmul of kind's types (bf16 x bf16 into float32, u8 x s8 into s32) on this
 * CPU, asked once with a 16 x 16 x 16 primitive descriptor on the calling thread: oneDNN 2.6 has
 * no bfloat16 matmul below AVX-512 (a 2-vCPU Zen 3 with AVX2: "unimplemented"). Asked before a
 * product is queued on the device's thread, where a failure would be finished by a float32
 * provider (gemm_host_finish): a precision the CPU lacks is an error, never float32 in disguise.
 * (Batched products run in float32 in both precisions and are not asked about.) */
static clippo_status reduced_check(const clippo_rt *rt, onednn_state *s, int kind,
                                   clippo_error *err) {
  if (s->reduced[kind] == 0) {
    dnnl_primitive_desc_t pd = NULL;
    dnnl_status_t ds = probe_matmul(s, kind, 16, 0, &pd);
    if (pd) dnnl_primitive_desc_destroy(pd);
    if (ds != dnnl_success && ds != dnnl_unimplemented)
      return dnnl_fail(rt, err, ds, "asking for a reduced-precision matmul");
    s->reduced[kind] = ds == dnnl_success ? 1 : -1;
  }
  if (s->reduced[kind] > 0) return CLIPPO_OK;
  const char *features = "";
  const char *isa = isa_name(dnnl_get_effective_cpu_isa(), &features);
  return clippo_fail(err, CLIPPO_E_UNSUPPORTED,
                     "oneDNN has no %s matmul on this CPU (device '%s', oneDNN's CPU ISA %s: %s); "
                     "use precision fp32%s",
                     kind == KIND_INT8 ? "int8" : "bfloat16", rt->info.name, isa, features,
                     kind == KIND_INT8 ? "" : " or int8");
}

clippo_status gemm_onednn_run_reduced(clippo_rt *rt, const gemm_call *g, clippo_error *err) {
  const char *name = clippo_precision_name(rt->precision);
  if (!onednn_available(rt))
    return clippo_fail(err, CLIPPO_E_UNSUPPORTED,
                       "precision %s: device '%s' is not a CPU device sharing the host's memory, "
                       "where oneDNN runs %s GEMMs",
                       name, rt->info.name, name);
  int kind = rt->precision == CLIPPO_PRECISION_BF16 ? KIND_BF16 : KIND_INT8;
  onednn_state *s = NULL;
  clippo_status st = gemm_injected_failure(rt, CLIPPO_GEMM_ONEDNN, 0, err);
  if (!st) st = state_get(rt, &s, err);
  if (!st && effective_kind(kind, g) != KIND_F32) st = reduced_check(rt, s, kind, err);
  if (!st && effective_kind(kind, g) == KIND_INT8 && g->k > INT8_K_MAX)
    st = clippo_fail(err, CLIPPO_E_UNSUPPORTED,
                     "int8 product %zux%zux%zu: its 32-bit sums could overflow beyond k = %d", g->m,
                     g->n, g->k, INT8_K_MAX);
  if (!st) st = run_mapped(rt, kind, g, err);
  if (st) clippo_error_prefix(err, "precision %s", name);
  return st;
}

clippo_status clippo_gemm_onednn_host(clippo_rt *rt, int trans_a, int trans_b, size_t m, size_t n,
                                      size_t k, float alpha, const float *a, size_t lda,
                                      size_t stride_a, const float *b, size_t ldb, size_t stride_b,
                                      float beta, float *c, size_t ldc, size_t stride_c,
                                      size_t batch, clippo_error *err) {
  if (!a || !b || !c) return clippo_fail(err, CLIPPO_E_ARG, "oneDNN gemm: a NULL matrix");
  if (m == 0 || n == 0 || batch == 0) return CLIPPO_OK;
  if (rt) gemm_host_wait(rt); /* products queued on the device's thread use the same state */
  onednn_state *s = NULL;
  clippo_status st = state_get(rt, &s, err);
  if (st) return st;
  gemm_call g = gemm_call_of(trans_a, trans_b, m, n, k, alpha, NULL, lda, stride_a, NULL, ldb,
                             stride_b, beta, NULL, ldc, stride_c, batch);
  st = run_product(rt, s, KIND_F32, &g, a, b, c, NULL, 0, NULL, err);
  if (!rt) state_free(s);
  return st;
}

#else /* no oneDNN in this build: the provider is listed but never available */

int clippo_gemm_onednn_built(void) { return 0; }

/* Nothing is kept without oneDNN. */
static void onednn_forget_weights(clippo_rt *rt, cl_mem mem) {
  (void)rt;
  (void)mem;
}

void clippo_gemm_onednn_describe(char *out, size_t size) {
  snprintf(out, size, "not built in (libdnnl-dev missing at build time, or CLIPPO_ONEDNN=OFF)");
}

static clippo_status onednn_run(clippo_rt *rt, const gemm_call *g,
                                const clippo_gemm_kernel_cfg *cfg, size_t *k_done,
                                clippo_error *err) {
  (void)g;
  (void)cfg;
  *k_done = 0;
  return clippo_fail(err, CLIPPO_E_UNSUPPORTED,
                     "GEMM provider onednn: this build has no oneDNN (device '%s')", rt->info.name);
}

static int onednn_available(const clippo_rt *rt) {
  (void)rt;
  return 0;
}

int gemm_onednn_int8_weight_levels(void) { return 127; }

clippo_status gemm_onednn_run_reduced(clippo_rt *rt, const gemm_call *g, clippo_error *err) {
  (void)g;
  return clippo_fail(err, CLIPPO_E_UNSUPPORTED,
                     "precision %s needs oneDNN, which this build lacks (device '%s')",
                     clippo_precision_name(rt->precision), rt->info.name);
}

clippo_status clippo_gemm_onednn_host(clippo_rt *rt, int trans_a, int trans_b, size_t m, size_t n,
                                      size_t k, float alpha, const float *a, size_t lda,
                                      size_t stride_a, const float *b, size_t ldb, size_t stride_b,
                                      float beta, float *c, size_t ldc, size_t stride_c,
                                      size_t batch, clippo_error *err) {
  (void)rt, (void)trans_a, (void)trans_b, (void)m, (void)n, (void)k, (void)alpha, (void)a,
      (void)lda;
  (void)stride_a, (void)b, (void)ldb, (void)stride_b, (void)beta, (void)c, (void)ldc;
  (void)stride_c, (void)batch;
  return clippo_fail(err, CLIPPO_E_UNSUPPORTED, "this build has no oneDNN");
}

#endif

const gemm_provider gemm_provider_onednn = {CLIPPO_GEMM_ONEDNN, "onednn", onednn_available,
                                            onednn_run,         NULL,     onednn_forget_weights};
