/* Internal helpers of the op launchers in host/ops: device class, kernel lookup with the
 * class's build options, shape checks, argument setting and launches. Not a public header. */
#ifndef CLIPPO_OPS_INTERNAL_H
#define CLIPPO_OPS_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "clippo/graph.h"
#include "clippo/runtime.h"

/** How an op's kernels are shaped for one device. */
typedef struct ops_class {
  int group;          /* 1: one row per work-group (GPUs); 0: one row per work-item (CPUs) */
  unsigned vec;       /* VEC build option: floats per vector load */
  size_t local_rows;  /* local size of the one-row-per-work-item kernels */
  size_t local_elems; /* local size of the elementwise kernels */
  size_t local_group; /* local size (power of two) of the one-row-per-work-group kernels */
  size_t att_rows;    /* query rows of attention_rows_* at a time: 8 where the device's native
                         float vectors are 16 wide (AVX-512: 32 vector registers), 4 where they
                         are 4 or 8 wide, 1 where they are one float (compilers that vectorise
                         across work-items, GPUs' and llvmpipe's: more rows only multiply the
                         code, which llvmpipe took ~15 s a kernel to compile at 4) */
} ops_class;

/** The class of rt's device. CPU devices get the row variants, other devices the work-group
 * variants; rt->settings.ops_variant (env CLIPPO_OPS_VARIANT=row|group) overrides (tests and
 * benchmarks use it). */
ops_class ops_class_of(const clippo_rt *rt);

/** Kernel `name` of kernels/<file> built for class c (options "-DVEC=<vec> -w"). */
clippo_status ops_kernel(clippo_rt *rt, const ops_class *c, const char *file, const char *name,
                         cl_kernel *k, clippo_error *err);

/** ops_kernel with more build options after the class's (defines, e.g. "-DFLASH_HD=64"; NULL or
 * "": none). */
clippo_status ops_kernel_with(clippo_rt *rt, const ops_class *c, const char *file, const char *name,
                              const char *defines, cl_kernel *k, clippo_error *err);

/** Checks t is a float32 tensor with a buffer whose offset + count fit the kernels' 32-bit
 * indices. `op` and `what` name the op and the argument in the message. */
clippo_status ops_check_f32(const clippo_tensor *t, const char *op, const char *what,
                            clippo_error *err);

/** Checks t is a tensor of dtype dt (same limits as ops_check_f32). */
clippo_status ops_check_dtype(const clippo_tensor *t, clippo_dtype dt, const char *op,
                              const char *what, clippo_error *err);

/** Checks t is a tensor of dtype dt with count elements. */
clippo_status ops_check_dtype_count(const clippo_tensor *t, clippo_dtype dt, size_t count,
                                    const char *op, const char *what, clippo_error *err);

/** Checks t (float32) has count elements. */
clippo_status ops_check_count(const clippo_tensor *t, size_t count, const char *op,
                              const char *what, clippo_error *err);

/** Checks t (float32) is an array of rows of `cols` (its last dimension) and returns the number
 * of rows (count / cols). cols 0 means "whatever the last dimension is" (then *cols_out gets it
 * when not NULL). */
clippo_status ops_check_rows(const clippo_tensor *t, size_t cols, size_t *rows, size_t *cols_out,
                             const char *op, const char *what, clippo_error *err);

/** 1 if a and b are the same view (buffer and offset) or do not overlap at all. */
int ops_same_or_disjoint(const clippo_tensor *a, const clippo_tensor *b);

/** 1 if a and b share no element. */
int ops_disjoint(const clippo_tensor *a, const clippo_tensor *b);

/** Kernel arguments set in order; the first failure is kept and reported by ops_args_end, which
 * also hands the arguments to a graph being recorded on the runtime (clippo/graph.h). */
typedef struct ops_args {
  cl_kernel k;
  cl_uint next;
  cl_int rc;
  cl_uint failed_at;
  clippo_graph_arg rec[CLIPPO_GRAPH_MAX_ARGS]; /* copies of the arguments, for recording */
} ops_args;

void ops_args_begin(ops_args *a, cl_kernel k);
/** A tensor: its cl_mem then its element offset (uint). */
void ops_arg_tensor(ops_args *a, const clippo_tensor *t);
void ops_arg_u32(ops_args *a, size_t v);
void ops_arg_f32(ops_args *a, float v);
/** A __local float array of n elements. */
void ops_arg_local_floats(ops_args *a, size_t n);
clippo_status ops_args_end(const clippo_rt *rt, ops_args *a, const char *kname, clippo_error *err);

/** Launches k over `items` work-items (rounded up to a multiple of local; the kernels check
 * bounds). items 0 launches nothing. */
clippo_status ops_launch_1d(clippo_rt *rt, cl_kernel k, size_t items, size_t local,
                            clippo_error *err);

/** local, halved until k can run groups of that size on rt's device (at least 1). */
size_t ops_fit_local(clippo_rt *rt, cl_kernel k, size_t local);

/** Launches k over a 3-D grid of size[0] x size[1] x size[2] work-items, groups of `local` (fitted
 * to k, narrowed to rows shorter than it) along the first dimension, which is rounded up to it
 * (the kernels check it). An empty grid launches nothing. */
clippo_status ops_launch_grid(clippo_rt *rt, cl_kernel k, const size_t size[3], size_t local,
                              clippo_error *err);

/** Launches `groups` work-groups of `local` work-items. */
clippo_status ops_launch_groups(clippo_rt *rt, cl_kernel k, size_t groups, size_t local,
                                clippo_error *err);

/** Launches a kernel over `rows` rows the way class c shapes them: one work-group of
 * c->local_group per row (c->group), else one work-item per row in groups of c->local_rows. */
clippo_status ops_launch_rows(clippo_rt *rt, const ops_class *c, cl_kernel k, size_t rows,
                              clippo_error *err);

/** Number of VEC-wide chunks covering a (rows, cols) array row by row. */
static inline size_t ops_chunks(size_t rows, size_t cols, unsigned vec) {
  return rows * ((cols + vec - 1) / vec);
}

/** 1 when the fused CPU attention can run for tk keys, width W and `heads` heads on rt's device
 * (class c), the backward too when bwd: rt->settings.attention CLIPPO_ATTENTION_ROWS, or
 * automatic on a CPU device that runs explicit vectors natively (native float vector width at
 * least 4: PoCL, not Mesa's llvmpipe, which also took minutes to compile it); the head size a
 * multiple of c->vec and the kernels' local buffers within the device's local memory. */
int ops_attention_rows_ok(const clippo_rt *rt, const ops_class *c, size_t tk, size_t width,
                          int heads, int bwd);

/** tk rounded up to c->vec: the padded key count of attention_rows_* (its tkv). */
static inline size_t ops_attention_rows_tkv(const ops_class *c, size_t tk) {
  return (tk + c->vec - 1) / c->vec * c->vec;
}

/** Sets the arguments both fused attention kernels (flash_attention, attention_rows_*) start
 * with: q, k, v (each from its first head's column, with its ld), their biases (all given or none:
 * the sources again), has_bias and scale. */
void ops_attention_src_args(ops_args *a, const clippo_attention_src *in[3], float scale);

/** 1 when attention_rows_fwd (bwd: _bwd) runs per (image, head) for tk keys, width W and `heads`
 * heads (its -DATT_PER_HEAD=1 build, staging hd columns), 0 when per image with all heads: what
 * all heads stage would no longer stay in a core's cache. */
int ops_attention_rows_per_head(const ops_class *c, size_t tk, size_t width, int heads, int bwd);

/** Kernel `name` (attention_rows_fwd or _bwd) of kernels/attention.cl (its -DATT_ROWS=1 build;
 * per_head: with -DATT_PER_HEAD=1, one work-item per (image, head)). */
clippo_status ops_attention_rows_kernel(clippo_rt *rt, const ops_class *c, const char *name,
                                        int per_head, cl_kernel *k, clippo_error *err);

/** Attention probabilities P = softmax(Q K^T) of `batch` (image, head) pairs: Q (tq, hd), K (tk,
 * hd), P (tq, tk) per pair, each block after the other (host/ops/linear.c). The softmax runs
 * inside the product where the GEMM provider does that (clippo_gemm_fuses_epilogue), else as
 * kernels/softmax.cl after it. */
clippo_status ops_attention_probs(clippo_rt *rt, size_t tq, size_t tk, size_t hd,
                                  const clippo_tensor *q, const clippo_tensor *k, clippo_tensor *p,
                                  size_t batch, clippo_error *err);

#endif
