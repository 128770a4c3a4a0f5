/* Recorded launch sequences (runtime layer, host/runtime/graph.c): a sequence of op calls is run
 * once in "recording" mode, where nothing is enqueued; every kernel launch becomes a step with its
 * own kernel object whose arguments are set once, every GEMM a step that calls the GEMM layer
 * again. The activations the steps use are "slots": stand-in tensors during recording, bound to
 * device memory afterwards (a slot's arguments are set again only when it is bound elsewhere).
 * Running the graph then only enqueues. The model layer builds its plans (clippo_plan) on it.
 *
 * While a graph records on a runtime (clippo_graph_begin .. clippo_graph_end), ops must not read,
 * write or fill tensors (those calls fail), kernels must get their arguments through
 * clippo_graph_note_args before clippo_rt_launch, and the GEMM layer records its calls with
 * clippo_graph_record_call. A runtime records at most one graph at a time. */
#ifndef CLIPPO_GRAPH_H
#define CLIPPO_GRAPH_H

#include "clippo/runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

/** A recorded sequence of launches (opaque). */
typedef struct clippo_graph clippo_graph;

/** Creates an empty graph on rt (freed before rt). */
clippo_status clippo_graph_create(clippo_rt *rt, clippo_graph **out, clippo_error *err);

/** Frees the graph, its kernel objects and the references it holds; NULL is fine. */
void clippo_graph_free(clippo_graph *g);

/** Adds a slot: *t becomes a stand-in tensor of dtype/shape (no device memory of that size) that
 * recorded ops may use, views included; *slot gets its index. Only before clippo_graph_begin. */
clippo_status clippo_graph_slot(clippo_graph *g, clippo_dtype dt, int ndim, const int64_t *shape,
                                clippo_tensor *t, size_t *slot, clippo_error *err);

/** Starts recording on the graph's runtime: launches and GEMMs are recorded, not run. */
clippo_status clippo_graph_begin(clippo_graph *g, clippo_error *err);

/** Stops recording (also after a failed op: the graph then stays unusable for runs). */
void clippo_graph_end(clippo_graph *g);

/** Number of steps recorded so far. */
size_t clippo_graph_step_count(const clippo_graph *g);

/** Kernel launches among the steps (the rest are calls into the GEMM layer). */
size_t clippo_graph_kernel_steps(const clippo_graph *g);

/** Arguments of those kernel launches, all set at recording (slots again when bound). */
size_t clippo_graph_kernel_args(const clippo_graph *g);

/** 1 and *slot when t (or a view of it) is a slot's stand-in, else 0. */
int clippo_graph_slot_of(const clippo_graph *g, const clippo_tensor *t, size_t *slot);

/** Number of slots. */
size_t clippo_graph_slot_count(const clippo_graph *g);

/** Bytes of slot i (its element count times its dtype's size). */
size_t clippo_graph_slot_bytes(const clippo_graph *g, size_t slot);

/** 1 and the first and last step that use slot i (inclusive), or 0 when no step uses it. */
int clippo_graph_slot_span(const clippo_graph *g, size_t slot, size_t *first, size_t *last);

/** Binds slot i to device memory t (same dtype, at least as many elements; a view is fine): sets
 * the slot's arguments in every step that uses it. Binding the tensor already bound does
 * nothing. */
clippo_status clippo_graph_bind(clippo_graph *g, size_t slot, const clippo_tensor *t,
                                clippo_error *err);

/** Enqueues steps [from, to) on the runtime's queue (every slot they use must be bound). With a
 * step profile attached to the runtime (clippo_rt_set_step_profile) it also finishes the queue
 * before the first step and after each one and adds each step's wall time to the profile. */
clippo_status clippo_graph_run(clippo_graph *g, size_t from, size_t to, clippo_error *err);

/* ---- where a recorded graph's time goes ---------------------------------------------------- */

/** Longest label of a step, terminating zero included (longer ones are cut). */
#define CLIPPO_GRAPH_LABEL_LEN 64

/** Wall time per kind of step, for breakdowns (`clippo bench --profile`): while attached to a
 * runtime, clippo_graph_run adds each step's time under its label, a kernel launch's kernel name
 * or a call's label (a GEMM's "gemm nt 8192x512x128 ..."). The queue is finished around every
 * step, so work that would overlap is serialised: a breakdown of a run, not its speed. */
typedef struct clippo_step_profile clippo_step_profile;

/** An empty profile. */
clippo_status clippo_step_profile_create(clippo_step_profile **out, clippo_error *err);

/** Frees a profile (detach it from its runtime first); NULL is fine. */
void clippo_step_profile_free(clippo_step_profile *p);

/** Attaches p to rt (NULL detaches); rt does not own it. */
void clippo_rt_set_step_profile(clippo_rt *rt, clippo_step_profile *p);

/** Adds one step of `seconds` and `flops` floating-point operations (0: not counted) under label
 * (clippo_graph_run does this). */
clippo_status clippo_step_profile_add(clippo_step_profile *p, const char *label, double seconds,
                                      double flops, clippo_error *err);

/** Number of labels so far (0 for NULL). */
size_t clippo_step_profile_count(const clippo_step_profile *p);

/** Label i (0 .. count - 1, in order of first appearance): its text, the seconds and the
 * floating-point operations summed over its steps, and how many steps ran; any output may be
 * NULL. */
void clippo_step_profile_entry(const clippo_step_profile *p, size_t i, const char **label,
                               double *seconds, double *flops, size_t *steps);

/* ---- hooks for the layers that enqueue work ------------------------------------------------ */

/** 1 while a graph records on rt. */
int clippo_graph_recording(const clippo_rt *rt);

/** Most arguments one recorded kernel may have. */
#define CLIPPO_GRAPH_MAX_ARGS 48

/** What one kernel argument is. */
typedef enum clippo_graph_arg_kind {
  CLIPPO_GRAPH_ARG_BYTES = 0, /* a plain value of `size` bytes */
  CLIPPO_GRAPH_ARG_MEM,       /* a cl_mem; the next argument is its element offset (OFFSET) */
  CLIPPO_GRAPH_ARG_OFFSET,    /* the cl_uint element offset of the preceding MEM argument */
  CLIPPO_GRAPH_ARG_LOCAL      /* __local memory of `size` bytes */
} clippo_graph_arg_kind;

/** One kernel argument as set with clSetKernelArg. */
typedef struct clippo_graph_arg {
  clippo_graph_arg_kind kind;
  size_t size;
  unsigned char value[16]; /* BYTES/OFFSET: the value; MEM: the cl_mem */
} clippo_graph_arg;

/** Tells the recording graph that arguments 0..n-1 of k were set to args (the op layer calls this
 * after setting them). Fails when n > CLIPPO_GRAPH_MAX_ARGS or a value is larger than 16 bytes.
 * Nothing happens when rt is not recording. */
clippo_status clippo_graph_note_args(const clippo_rt *rt, cl_kernel k, const clippo_graph_arg *args,
                                     size_t n, clippo_error *err);

/** Records a launch of k (called by clippo_rt_launch while recording): the step gets its own
 * kernel object with the arguments noted for k. */
clippo_status clippo_graph_record_launch(clippo_rt *rt, cl_kernel k, cl_uint dims,
                                         const size_t *global, const size_t *local,
                                         clippo_error *err);

/** Replays a recorded call: tensors as recorded (slots replaced by their bound memory), blob as
 * recorded. */
typedef clippo_status (*clippo_graph_fn)(clippo_rt *rt, const clippo_tensor *tensors,
                                         const void *blob, clippo_error *err);

/** Most tensors of one recorded call. */
#define CLIPPO_GRAPH_MAX_TENSORS 5

/** Records a call step (the GEMM layer): fn(rt, tensors, blob) is run at each replay. tensors[i]
 * may be NULL (then passed as a zeroed tensor); blob (size bytes) is copied; label (NULL: "call")
 * names the step in a step profile, flops (0: not counted) is the floating-point work it adds
 * there per run. */
clippo_status clippo_graph_record_call(clippo_rt *rt, clippo_graph_fn fn,
                                       const clippo_tensor *const *tensors, size_t ntensors,
                                       const void *blob, size_t size, const char *label,
                                       double flops, clippo_error *err);

#ifdef __cplusplus
}
#endif
#endif
