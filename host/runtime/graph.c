/* Recorded launch sequences (include/clippo/graph.h): recording turns each kernel launch into a
 * step with its own kernel object (arguments set once) and each GEMM into a call step; slots are
 * stand-in buffers whose uses are remembered so that binding them to real memory sets exactly the
 * arguments that name them. Buffers a step uses that are not slots (weights, gradients, an op's
 * temporary) are retained by the step, so they live as long as the graph. */
#include "clippo/graph.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* One argument (kernel steps) or tensor (call steps) that names a slot. */
typedef struct graph_use {
  size_t step;
  size_t index;  /* the MEM argument (its offset follows), or the call's tensor */
  size_t offset; /* element offset of the recorded view inside the slot */
} graph_use;

typedef struct graph_slot {
  cl_mem stand_in; /* identifies the slot while recording; never holds data */
  clippo_dtype dtype;
  size_t count; /* elements */
  int used;
  size_t first, last; /* steps that use it (inclusive) */
  graph_use *uses;
  size_t nuses, cap_uses;
  int bound;
  cl_mem mem;    /* bound memory */
  size_t offset; /* element offset of the bound view */
} graph_slot;

typedef struct graph_step {
  cl_kernel kernel; /* kernel steps: owned, arguments set */
  cl_uint dims;
  size_t global[3], local[3];
  int has_local;
  clippo_graph_fn fn;                 /* call steps */
  char label[CLIPPO_GRAPH_LABEL_LEN]; /* call steps: the name in a step profile */
  double flops;                       /* call steps: their work in a step profile */
  clippo_tensor tensors[CLIPPO_GRAPH_MAX_TENSORS];
  void *blob;
  cl_mem *held; /* retained buffers that are not slots */
  size_t nheld;
} graph_step;

/* The arguments noted for one of the runtime's kernels while recording. */
typedef struct graph_pending {
  cl_kernel k;
  clippo_graph_arg args[CLIPPO_GRAPH_MAX_ARGS];
  unsigned char known[CLIPPO_GRAPH_MAX_ARGS];
} graph_pending;

struct clippo_graph {
  clippo_rt *rt;
  graph_slot *slots;
  size_t nslots, cap_slots;
  graph_step *steps;
  size_t nsteps, cap_steps, nkernels, nargs; /* nargs: of the kernel steps */
  graph_pending *pending;
  size_t npending, cap_pending;
  int failed; /* a recording hook failed: the steps are incomplete */
};

/* Grows *p (of *cap elements of size elem) to hold at least need; 0 when out of memory. */
static int grow(void **p, size_t *cap, size_t need, size_t elem) {
  if (need <= *cap) return 1;
  size_t n = *cap ? *cap * 2 : 16;
  while (n < need) n *= 2;
  void *q = realloc(*p, n * elem);
  if (!q) return 0;
  memset((char *)q + *cap * elem, 0, (n - *cap) * elem);
  *p = q;
  *cap = n;
  return 1;
}

static clippo_status nomem(clippo_error *err) {
  return clippo_fail(err, CLIPPO_E_NOMEM, "out of host memory recording a graph");
}

clippo_status clippo_graph_create(clippo_rt *rt, clippo_graph **out, clippo_error *err) {
  *out = NULL;
  if (!rt) return clippo_fail(err, CLIPPO_E_ARG, "graph: no runtime");
  clippo_graph *g = calloc(1, sizeof *g);
  if (!g) return nomem(err);
  g->rt = rt;
  *out = g;
  return CLIPPO_OK;
}

static void step_release(graph_step *s) {
  if (s->kernel) clReleaseKernel(s->kernel);
  for (size_t i = 0; i < s->nheld; i++) clReleaseMemObject(s->held[i]);
  free(s->held);
  free(s->blob);
  memset(s, 0, sizeof *s);
}

void clippo_graph_free(clippo_graph *g) {
  if (!g) return;
  if (g->rt->recording == g) g->rt->recording = NULL;
  for (size_t i = 0; i < g->nsteps; i++) step_release(&g->steps[i]);
  for (size_t i = 0; i < g->nslots; i++) {
    if (g->slots[i].stand_in) clReleaseMemObject(g->slots[i].stand_in);
    free(g->slots[i].uses);
  }
  free(g->steps);
  free(g->slots);
  free(g->pending);
  free(g);
}

clippo_status clippo_graph_slot(clippo_graph *g, clippo_dtype dt, int ndim, const int64_t *shape,
                                clippo_tensor *t, size_t *slot, clippo_error *err) {
  memset(t, 0, sizeof *t);
  if (g->rt->recording == g)
    return clippo_fail(err, CLIPPO_E_ARG, "graph: slots must be added before recording");
  if (ndim < 0 || ndim > CLIPPO_MAX_DIMS)
    return clippo_fail(err, CLIPPO_E_SHAPE, "graph slot: rank %d out of range", ndim);
  size_t n = 1;
  for (int i = 0; i < ndim; i++) {
    if (shape[i] < 0 || (shape[i] > 0 && n > ((size_t)1 << 40) / (size_t)shape[i]))
      return clippo_fail(err, CLIPPO_E_SHAPE, "graph slot: shape is invalid or too large");
    n *= (size_t)shape[i];
  }
  if (!grow((void **)&g->slots, &g->cap_slots, g->nslots + 1, sizeof *g->slots)) return nomem(err);
  cl_int rc;
  cl_mem m = clCreateBuffer(g->rt->ctx, CL_MEM_READ_WRITE, 4, NULL, &rc);
  if (rc != CL_SUCCESS) return clippo_cl_check(g->rt, rc, "clCreateBuffer (graph slot)", err);
  graph_slot *s = &g->slots[g->nslots];
  memset(s, 0, sizeof *s);
  s->stand_in = m;
  s->dtype = dt;
  s->count = n;
  t->mem = m;
  t->dtype = dt;
  t->ndim = ndim;
  for (int i = 0; i < ndim; i++) t->shape[i] = shape[i];
  t->owner = 0;
  t->bytes = n * clippo_dtype_size(dt);
  *slot = g->nslots++;
  return CLIPPO_OK;
}

clippo_status clippo_graph_begin(clippo_graph *g, clippo_error *err) {
  if (g->rt->recording)
    return clippo_fail(err, CLIPPO_E_ARG, "graph: the runtime is already recording a graph");
  g->npending = 0;
  g->rt->recording = g;
  return CLIPPO_OK;
}

void clippo_graph_end(clippo_graph *g) {
  if (g->rt->recording == g) g->rt->recording = NULL;
  free(g->pending);
  g->pending = NULL;
  g->npending = g->cap_pending = 0;
}

size_t clippo_graph_step_count(const clippo_graph *g) { return g->nsteps; }

size_t clippo_graph_kernel_steps(const clippo_graph *g) { return g->nkernels; }

size_t clippo_graph_kernel_args(const clippo_graph *g) { return g->nargs; }

size_t clippo_graph_slot_count(const clippo_graph *g) { return g->nslots; }

int clippo_graph_slot_of(const clippo_graph *g, const clippo_tensor *t, size_t *slot) {
  for (size_t i = 0; t && t->mem && i < g->nslots; i++)
    if (g->slots[i].stand_in == t->mem) {
      *slot = i;
      return 1;
    }
  return 0;
}

size_t clippo_graph_slot_bytes(const clippo_graph *g, size_t slot) {
  if (slot >= g->nslots) return 0;
  return g->slots[slot].count * clippo_dtype_size(g->slots[slot].dtype);
}

int clippo_graph_slot_span(const clippo_graph *g, size_t slot, size_t *first, size_t *last) {
  if (slot >= g->nslots || !g->slots[slot].used) return 0;
  *first = g->slots[slot].first;
  *last = g->slots[slot].last;
  return 1;
}

int clippo_graph_recording(const clippo_rt *rt) { return rt && rt->recording != NULL; }

/* The slot whose stand-in is mem, or NULL. */
static graph_slot *slot_of(clippo_graph *g, cl_mem mem) {
  if (!mem) return NULL;
  for (size_t i = 0; i < g->nslots; i++)
    if (g->slots[i].stand_in == mem) return &g->slots[i];
  return NULL;
}

/* Notes that step uses slot s through argument/tensor index at element offset off. */
static clippo_status add_use(graph_slot *s, size_t step, size_t index, size_t off,
                             clippo_error *err) {
  if (!grow((void **)&s->uses, &s->cap_uses, s->nuses + 1, sizeof *s->uses)) return nomem(err);
  s->uses[s->nuses++] = (graph_use){step, index, off};
  if (!s->used || step < s->first) s->first = step;
  if (!s->used || step > s->last) s->last = step;
  s->used = 1;
  return CLIPPO_OK;
}

/* Retains mem for step s (a buffer that is not a slot). */
static clippo_status hold(graph_step *s, cl_mem mem, clippo_error *err) {
  if (!mem) return CLIPPO_OK;
  for (size_t i = 0; i < s->nheld; i++)
    if (s->held[i] == mem) return CLIPPO_OK;
  cl_mem *h = realloc(s->held, (s->nheld + 1) * sizeof *h);
  if (!h) return nomem(err);
  s->held = h;
  clRetainMemObject(mem);
  s->held[s->nheld++] = mem;
  return CLIPPO_OK;
}

static graph_pending *pending_of(clippo_graph *g, cl_kernel k) {
  for (size_t i = 0; i < g->npending; i++)
    if (g->pending[i].k == k) return &g->pending[i];
  return NULL;
}

clippo_status clippo_graph_note_args(const clippo_rt *rt, cl_kernel k, const clippo_graph_arg *args,
                                     size_t n, clippo_error *err) {
  clippo_graph *g = rt ? rt->recording : NULL;
  if (!g) return CLIPPO_OK;
  if (n > CLIPPO_GRAPH_MAX_ARGS) {
    g->failed = 1;
    return clippo_fail(err, CLIPPO_E_UNSUPPORTED, "graph: a kernel with %zu arguments (at most %d)",
                       n, CLIPPO_GRAPH_MAX_ARGS);
  }
  graph_pending *p = pending_of(g, k);
  if (!p) {
    if (!grow((void **)&g->pending, &g->cap_pending, g->npending + 1, sizeof *g->pending)) {
      g->failed = 1;
      return nomem(err);
    }
    p = &g->pending[g->npending++];
    memset(p, 0, sizeof *p);
    p->k = k;
  }
  for (size_t i = 0; i < n; i++) {
    if (args[i].size > sizeof args[i].value && args[i].kind != CLIPPO_GRAPH_ARG_LOCAL) {
      g->failed = 1;
      return clippo_fail(err, CLIPPO_E_UNSUPPORTED, "graph: kernel argument %zu has %zu bytes", i,
                         args[i].size);
    }
    p->args[i] = args[i];
    p->known[i] = 1;
  }
  return CLIPPO_OK;
}

static void kernel_name(cl_kernel k, char *name, size_t size) {
  if (clGetKernelInfo(k, CL_KERNEL_FUNCTION_NAME, size, name, NULL) != CL_SUCCESS)
    snprintf(name, size, "?");
}

/* A fresh kernel object for the same program and function as k. */
static clippo_status clone_kernel(clippo_rt *rt, cl_kernel k, const char *name, cl_kernel *out,
                                  clippo_error *err) {
  cl_program prog;
  cl_int rc = clGetKernelInfo(k, CL_KERNEL_PROGRAM, sizeof prog, &prog, NULL);
  if (rc == CL_SUCCESS) *out = clCreateKernel(prog, name, &rc);
  if (rc != CL_SUCCESS) {
    char call[200];
    snprintf(call, sizeof call, "creating a recorded copy of kernel %s", name);
    return clippo_cl_check(rt, rc, call, err);
  }
  return CLIPPO_OK;
}

/* Sets the recorded arguments on the step's own kernel and notes slot uses. */
static clippo_status step_args(clippo_graph *g, graph_step *s, size_t step, const graph_pending *p,
                               cl_uint nargs, const char *name, clippo_error *err) {
  for (cl_uint i = 0; i < nargs; i++) {
    clippo_graph_arg a = p->args[i];
    if (a.kind == CLIPPO_GRAPH_ARG_MEM) {
      cl_mem mem;
      memcpy(&mem, a.value, sizeof mem);
      graph_slot *sl = slot_of(g, mem);
      if (sl) {
        if (i + 1 >= nargs || p->args[i + 1].kind != CLIPPO_GRAPH_ARG_OFFSET)
          return clippo_fail(err, CLIPPO_E_UNSUPPORTED,
                             "graph: kernel %s argument %u is a slot without an offset", name, i);
        cl_uint off;
        memcpy(&off, p->args[i + 1].value, sizeof off);
        clippo_status st = add_use(sl, step, i, off, err);
        if (st) return st;
        if (sl->bound) { /* bound before recording: use its memory now */
          clippo_graph_arg o = p->args[i + 1];
          cl_uint boff = (cl_uint)(sl->offset + off);
          memcpy(a.value, &sl->mem, sizeof sl->mem);
          memcpy(o.value, &boff, sizeof boff);
          cl_int rc = clSetKernelArg(s->kernel, i + 1, sizeof boff, o.value);
          if (rc != CL_SUCCESS) return clippo_cl_check(g->rt, rc, "clSetKernelArg (slot)", err);
        }
      } else {
        clippo_status st = hold(s, mem, err);
        if (st) return st;
      }
    } else if (a.kind == CLIPPO_GRAPH_ARG_OFFSET && i > 0 &&
               p->args[i - 1].kind == CLIPPO_GRAPH_ARG_MEM) {
      cl_mem prev;
      memcpy(&prev, p->args[i - 1].value, sizeof prev);
      const graph_slot *sl = slot_of(g, prev);
      if (sl && sl->bound) continue; /* set with its MEM argument */
    }
    const void *v = a.kind == CLIPPO_GRAPH_ARG_LOCAL ? NULL : a.value;
    cl_int rc = clSetKernelArg(s->kernel, i, a.size, v);
    if (rc != CL_SUCCESS) {
      char call[200];
      snprintf(call, sizeof call, "clSetKernelArg(%s, arg %u) for a recorded step", name, i);
      return clippo_cl_check(g->rt, rc, call, err);
    }
  }
  return CLIPPO_OK;
}

/* Removes the uses a half-recorded step left in the slots. */
static void drop_uses(clippo_graph *g, size_t step) {
  for (size_t i = 0; i < g->nslots; i++) {
    graph_slot *s = &g->slots[i];
    while (s->nuses && s->uses[s->nuses - 1].step == step) s->nuses--;
  }
}

clippo_status clippo_graph_record_launch(clippo_rt *rt, cl_kernel k, cl_uint dims,
                                         const size_t *global, const size_t *local,
                                         clippo_error *err) {
  clippo_graph *g = rt->recording;
  if (!g) return clippo_fail(err, CLIPPO_E_ARG, "graph: not recording");
  for (cl_uint i = 0; i < dims; i++)
    if (global[i] == 0) return CLIPPO_OK; /* clippo_rt_launch launches nothing either */
  char name[128];
  kernel_name(k, name, sizeof name);
  g->failed = 1; /* until the step is complete */
  if (dims < 1 || dims > 3)
    return clippo_fail(err, CLIPPO_E_ARG, "graph: kernel %s launched with %u dimensions", name,
                       dims);
  cl_uint nargs = 0;
  cl_int rc = clGetKernelInfo(k, CL_KERNEL_NUM_ARGS, sizeof nargs, &nargs, NULL);
  if (rc != CL_SUCCESS) return clippo_cl_check(rt, rc, "clGetKernelInfo(CL_KERNEL_NUM_ARGS)", err);
  const graph_pending *p = pending_of(g, k);
  if (nargs > CLIPPO_GRAPH_MAX_ARGS)
    return clippo_fail(err, CLIPPO_E_UNSUPPORTED, "graph: kernel %s has %u arguments", name, nargs);
  for (cl_uint i = 0; i < nargs; i++)
    if (!p || !p->known[i])
      return clippo_fail(err, CLIPPO_E_UNSUPPORTED,
                         "graph: kernel %s launched while recording with argument %u not noted "
                         "(set through clippo_graph_note_args)",
                         name, i);
  if (!grow((void **)&g->steps, &g->cap_steps, g->nsteps + 1, sizeof *g->steps)) return nomem(err);
  size_t idx = g->nsteps;
  graph_step *s = &g->steps[idx];
  memset(s, 0, sizeof *s);
  s->dims = dims;
  for (cl_uint i = 0; i < dims; i++) {
    s->global[i] = global[i];
    s->local[i] = local ? local[i] : 0;
  }
  s->has_local = local != NULL;
  clippo_status st = clone_kernel(rt, k, name, &s->kernel, err);
  if (!st) st = step_args(g, s, idx, p, nargs, name, err);
  if (st) {
    drop_uses(g, idx);
    step_release(s);
    return st;
  }
  g->nsteps++;
  g->nkernels++;
  g->nargs += nargs;
  g->failed = 0;
  return CLIPPO_OK;
}

clippo_status clippo_graph_record_call(clippo_rt *rt, clippo_graph_fn fn,
                                       const clippo_tensor *const *tensors, size_t ntensors,
                                       const void *blob, size_t size, const char *label,
                                       double flops, clippo_error *err) {
  clippo_graph *g = rt->recording;
  if (!g) return clippo_fail(err, CLIPPO_E_ARG, "graph: not recording");
  g->failed = 1; /* until the step is complete */
  if (ntensors > CLIPPO_GRAPH_MAX_TENSORS)
    return clippo_fail(err, CLIPPO_E_UNSUPPORTED, "graph: a call with %zu tensors", ntensors);
  if (!grow((void **)&g->steps, &g->cap_steps, g->nsteps + 1, sizeof *g->steps)) return nomem(err);
  size_t idx = g->nsteps;
  graph_step *s = &g->steps[idx];
  memset(s, 0, sizeof *s);
  s->fn = fn;
  snprintf(s->label, sizeof s->label, "%s", label ? label : "call");
  s->flops = flops;
  s->blob = malloc(size ? size : 1);
  clippo_status st = s->blob ? CLIPPO_OK : nomem(err);
  if (!st && size) memcpy(s->blob, blob, size);
  for (size_t i = 0; !st && i < ntensors; i++) {
    if (!tensors[i]) continue;
    s->tensors[i] = *tensors[i];
    s->tensors[i].owner = 0;
    graph_slot *sl = slot_of(g, tensors[i]->mem);
    st = sl ? add_use(sl, idx, i, tensors[i]->offset, err) : hold(s, tensors[i]->mem, err);
    if (!st && sl && sl->bound) {
      s->tensors[i].mem = sl->mem;
      s->tensors[i].offset = sl->offset + tensors[i]->offset;
    }
  }
  if (st) {
    drop_uses(g, idx);
    step_release(s);
    return st;
  }
  g->nsteps++;
  g->failed = 0;
  return CLIPPO_OK;
}

clippo_status clippo_graph_bind(clippo_graph *g, size_t slot, const clippo_tensor *t,
                                clippo_error *err) {
  if (slot >= g->nslots) return clippo_fail(err, CLIPPO_E_ARG, "graph: no slot %zu", slot);
  graph_slot *s = &g->slots[slot];
  if (!t || !t->mem)
    return clippo_fail(err, CLIPPO_E_ARG, "graph: slot %zu bound to nothing", slot);
  if (t->dtype != s->dtype || clippo_tensor_count(t) < s->count)
    return clippo_fail(err, CLIPPO_E_SHAPE,
                       "graph: slot %zu (%zu %s elements) bound to a tensor of %zu %s elements",
                       slot, s->count, clippo_dtype_name(s->dtype), clippo_tensor_count(t),
                       clippo_dtype_name(t->dtype));
  if (t->offset + s->count > CLIPPO_TENSOR_MAX_KERNEL_ELEMS)
    return clippo_fail(err, CLIPPO_E_UNSUPPORTED,
                       "graph: slot %zu bound at element offset %zu exceeds 2^32 elements", slot,
                       t->offset);
  if (s->bound && s->mem == t->mem && s->offset == t->offset) return CLIPPO_OK;
  s->bound = 0;
  for (size_t i = 0; i < s->nuses; i++) {
    const graph_use *u = &s->uses[i];
    graph_step *st = &g->steps[u->step];
    if (st->kernel) {
      cl_uint off = (cl_uint)(t->offset + u->offset);
      cl_int rc = clSetKernelArg(st->kernel, (cl_uint)u->index, sizeof(cl_mem), &t->mem);
      if (rc == CL_SUCCESS)
        rc = clSetKernelArg(st->kernel, (cl_uint)u->index + 1, sizeof off, &off);
      if (rc != CL_SUCCESS)
        return clippo_cl_check(g->rt, rc, "clSetKernelArg (binding a slot)", err);
    } else {
      st->tensors[u->index].mem = t->mem;
      st->tensors[u->index].offset = t->offset + u->offset;
    }
  }
  s->bound = 1;
  s->mem = t->mem;
  s->offset = t->offset;
  return CLIPPO_OK;
}

/* Finishes the queue and adds the time since t0 to prof under step s's label. */
static clippo_status profile_step(clippo_rt *rt, clippo_step_profile *prof, const graph_step *s,
                                  double t0, clippo_error *err) {
  clippo_status st = clippo_rt_finish(rt, err);
  if (st) return st;
  double seconds = clippo_now() - t0;
  char name[CLIPPO_GRAPH_LABEL_LEN];
  if (s->kernel)
    kernel_name(s->kernel, name, sizeof name);
  else
    snprintf(name, sizeof name, "%s", s->label);
  return clippo_step_profile_add(prof, name, seconds, s->kernel ? 0.0 : s->flops, err);
}

clippo_status clippo_graph_run(clippo_graph *g, size_t from, size_t to, clippo_error *err) {
  clippo_rt *rt = g->rt;
  if (rt->recording) return clippo_fail(err, CLIPPO_E_ARG, "graph: run while recording");
  if (g->failed) return clippo_fail(err, CLIPPO_E_ARG, "graph: its recording failed");
  if (to > g->nsteps || from > to)
    return clippo_fail(err, CLIPPO_E_ARG, "graph: steps %zu..%zu of %zu", from, to, g->nsteps);
  for (size_t i = 0; i < g->nslots; i++) {
    const graph_slot *s = &g->slots[i];
    if (s->used && !s->bound && s->first < to && s->last >= from)
      return clippo_fail(err, CLIPPO_E_ARG, "graph: slot %zu is used but not bound", i);
  }
  clippo_step_profile *prof = rt->step_profile;
  if (prof && from < to) {
    clippo_status st = clippo_rt_finish(rt, err);
    if (st) return clippo_error_prefix(err, "profiling recorded steps");
  }
  for (size_t i = from; i < to; i++) {
    graph_step *s = &g->steps[i];
    double t0 = prof ? clippo_now() : 0.0;
    if (s->kernel) {
      cl_int rc = clEnqueueNDRangeKernel(rt->queue, s->kernel, s->dims, NULL, s->global,
                                         s->has_local ? s->local : NULL, 0, NULL, NULL);
      if (rc != CL_SUCCESS) {
        char name[128], call[256];
        kernel_name(s->kernel, name, sizeof name);
        snprintf(call, sizeof call, "launching recorded step %zu (kernel %s)", i, name);
        return clippo_cl_check(rt, rc, call, err);
      }
    } else {
      clippo_status st = s->fn(rt, s->tensors, s->blob, err);
      if (st) return clippo_error_prefix(err, "recorded step %zu", i);
    }
    if (prof) {
      clippo_status st = profile_step(rt, prof, s, t0, err);
      if (st) return clippo_error_prefix(err, "profiling recorded step %zu", i);
    }
  }
  return CLIPPO_OK;
}
