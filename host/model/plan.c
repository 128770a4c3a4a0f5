/* Planned execution (include/clippo/model.h): the forward (forward.c) or the training forward and
 * backward (train_forward.c, backward.c) are run once against graph slots instead of buffers
 * (clippo/graph.h), which records their launches; then every activation is placed in an arena by
 * its lifetime, the first to the last step that uses it, so that activations whose lifetimes do
 * not overlap share memory (greedy by size: the largest first, each at the lowest offset that
 * overlaps no placed activation with an overlapping lifetime). A run binds the slots to the arena
 * once (again only when the arena grew) and enqueues the recorded steps.
 *
 * Lifetimes are widened where the recorded order is not the whole story: the input of an
 * inference plan is written before its first step and its output read after its last; in a
 * training plan every activation the forward writes and the backward reads lives to the end, so
 * that the backward can be run again on the same forward (gradients accumulate). */
#include <stdlib.h>
#include <string.h>

#include "model_internal.h"

#define TRY(expr)                                                                                  \
  do {                                                                                             \
    clippo_status st_ = (expr);                                                                    \
    if (st_ != CLIPPO_OK) return st_;                                                              \
  } while (0)

/* Arena offsets are multiples of this many bytes. */
#define PLAN_ALIGN 256
/* No slot index: an external tensor absent from this plan. */
#define NO_SLOT ((size_t)-1)

/* One activation placed in the arena. */
typedef struct plan_buf {
  size_t slot;
  size_t bytes;       /* the slot's bytes rounded up to PLAN_ALIGN */
  size_t first, last; /* lifetime in steps, inclusive */
  size_t pool, offset;
} plan_buf;

struct clippo_plan {
  clippo_model *m;
  int training;
  int cached; /* owned by the model's cache */
  size_t batch;
  clippo_embed_kind kind;
  clippo_graph *g;
  model_workspace ws; /* inference: slot tensors */
  model_acts acts;    /* training: slot tensors */
  plan_buf *bufs;
  size_t nbufs;
  size_t need[MODEL_ARENA_POOLS]; /* bytes per arena pool */
  size_t npools;
  model_arena *arena;
  unsigned bound_gen; /* arena generation the slots are bound to */
  int bound;
  size_t in_slot, out_slot; /* inference: input and result slots */
  clippo_tensor result;     /* inference: the result as recorded (a view of out_slot) */
  size_t ext_in, ext_z, ext_dz;
  size_t fwd_steps; /* training: steps of the forward; the backward follows */
  clippo_plan_info info;
};

clippo_status model_alloc_tensor(const model_alloc *a, clippo_tensor *t, int ndim,
                                 const int64_t *shape, clippo_error *err) {
  if (!a->g) return clippo_tensor_alloc(a->rt, t, CLIPPO_F32, ndim, shape, err);
  size_t slot;
  return clippo_graph_slot(a->g, CLIPPO_F32, ndim, shape, t, &slot, err);
}

clippo_status model_alloc2(const model_alloc *a, clippo_tensor *t, size_t rows, size_t cols,
                           clippo_error *err) {
  int64_t shape[2] = {(int64_t)rows, (int64_t)cols};
  return model_alloc_tensor(a, t, 2, shape, err);
}

/* ---- lifetime-based placement --------------------------------------------------------------- */

static size_t align_up(size_t x) { return (x + PLAN_ALIGN - 1) / PLAN_ALIGN * PLAN_ALIGN; }

static int by_size_desc(const void *pa, const void *pb) {
  const plan_buf *a = pa, *b = pb;
  if (a->bytes != b->bytes) return a->bytes < b->bytes ? 1 : -1;
  if (a->first != b->first) return a->first < b->first ? -1 : 1;
  return a->slot < b->slot ? -1 : (a->slot > b->slot);
}

static int by_offset(const void *pa, const void *pb) {
  const plan_buf *const *a = pa, *const *b = pb;
  return (*a)->offset < (*b)->offset ? -1 : ((*a)->offset > (*b)->offset);
}

/* The lowest offset in pool p at which b overlaps no placed buffer (bufs[0..placed)) that is
 * alive at the same time; SIZE_MAX when it would pass cap. live is scratch for placed pointers. */
static size_t lowest_fit(const plan_buf *bufs, size_t placed, const plan_buf *b, size_t p,
                         size_t cap, const plan_buf **live) {
  size_t n = 0;
  for (size_t j = 0; j < placed; j++)
    if (bufs[j].pool == p && bufs[j].first <= b->last && b->first <= bufs[j].last)
      live[n++] = &bufs[j];
  qsort(live, n, sizeof *live, by_offset);
  size_t at = 0;
  for (size_t j = 0; j < n; j++) {
    if (live[j]->offset >= at + b->bytes) break; /* the gap before live[j] fits */
    size_t end = live[j]->offset + live[j]->bytes;
    if (end > at) at = end;
  }
  return at + b->bytes <= cap ? at : SIZE_MAX;
}

/* Places bufs (sorted here) in pools of at most cap bytes; need[] gets each pool's size. dev names
 * the device in errors. */
static clippo_status place(plan_buf *bufs, size_t n, size_t cap, const char *dev, size_t *need,
                           size_t *npools, clippo_error *err) {
  qsort(bufs, n, sizeof *bufs, by_size_desc);
  const plan_buf **live = malloc((n ? n : 1) * sizeof *live);
  if (!live) return clippo_fail(err, CLIPPO_E_NOMEM, "out of host memory planning activations");
  *npools = 0;
  clippo_status st = CLIPPO_OK;
  for (size_t i = 0; i < n && !st; i++) {
    plan_buf *b = &bufs[i];
    if (b->bytes > cap) {
      st = clippo_fail(err, CLIPPO_E_DEVICE,
                       "an activation needs %zu bytes, more than device '%s' allows in one buffer "
                       "(%zu bytes): try a smaller --batch-size",
                       b->bytes, dev, cap);
      break;
    }
    size_t p = 0, at = SIZE_MAX;
    for (; p < *npools && at == SIZE_MAX; p++) at = lowest_fit(bufs, i, b, p, cap, live);
    if (at == SIZE_MAX) {
      if (*npools == MODEL_ARENA_POOLS) {
        st = clippo_fail(err, CLIPPO_E_DEVICE,
                         "the activations need more than %d buffers of %zu bytes on device '%s': "
                         "try a smaller --batch-size",
                         MODEL_ARENA_POOLS, cap, dev);
        break;
      }
      need[*npools] = 0;
      p = (*npools)++;
      at = 0;
    } else {
      p--; /* the loop stepped past the pool that fitted */
    }
    b->pool = p;
    b->offset = at;
    if (at + b->bytes > need[p]) need[p] = at + b->bytes;
  }
  free(live);
  return st;
}

/* Collects the plan's arena activations with their lifetimes and places them. */
static clippo_status plan_layout(clippo_plan *p, clippo_error *err) {
  clippo_rt *rt = p->m->rt;
  const size_t nslots = clippo_graph_slot_count(p->g), nsteps = clippo_graph_step_count(p->g);
  p->bufs = calloc(nslots ? nslots : 1, sizeof *p->bufs);
  if (!p->bufs) return clippo_fail(err, CLIPPO_E_NOMEM, "out of host memory planning activations");
  unsigned long long sum = 0;
  for (size_t s = 0; s < nslots; s++) {
    size_t first, last;
    if (s == p->ext_in || s == p->ext_z || s == p->ext_dz) continue;
    int used = clippo_graph_slot_span(p->g, s, &first, &last);
    if (!p->training && (s == p->in_slot || s == p->out_slot)) {
      if (!used) first = last = 0;
      if (s == p->in_slot) first = 0;
      if (s == p->out_slot) last = nsteps ? nsteps - 1 : 0;
      used = 1;
    }
    if (!used) continue;
    if (p->training && first < p->fwd_steps && last >= p->fwd_steps) last = nsteps - 1;
    plan_buf *b = &p->bufs[p->nbufs++];
    b->slot = s;
    b->bytes = align_up(clippo_graph_slot_bytes(p->g, s));
    b->first = first;
    b->last = last;
    sum += clippo_graph_slot_bytes(p->g, s);
  }
  unsigned long long limit = rt->info.max_alloc ? rt->info.max_alloc : 1ull << 62;
  if (limit > CLIPPO_TENSOR_MAX_KERNEL_ELEMS * sizeof(float))
    limit = CLIPPO_TENSOR_MAX_KERNEL_ELEMS * sizeof(float);
  size_t cap = (size_t)limit / PLAN_ALIGN * PLAN_ALIGN;
  TRY(place(p->bufs, p->nbufs, cap, rt->info.name, p->need, &p->npools, err));
  p->info.batch = p->batch;
  p->info.steps = nsteps;
  p->info.kernel_steps = clippo_graph_kernel_steps(p->g);
  p->info.kernel_args = clippo_graph_kernel_args(p->g);
  p->info.buffers = p->nbufs;
  p->info.activation_bytes = sum;
  p->info.arena_bytes = 0;
  for (size_t i = 0; i < p->npools; i++) p->info.arena_bytes += p->need[i];
  return CLIPPO_OK;
}

/* ---- arena and binding ---------------------------------------------------------------------- */

/* Grows the arena's pools to at least need[0..n). */
static clippo_status arena_fit(clippo_rt *rt, model_arena *a, const size_t *need, size_t n,
                               clippo_error *err) {
  for (size_t i = 0; i < n; i++) {
    if (i < a->npools && a->pools[i].bytes >= need[i]) continue;
    clippo_tensor_release(rt, &a->pools[i]);
    a->gen++; /* plans bound to the old pool rebind */
    int64_t shape[1] = {(int64_t)(need[i] / sizeof(float))};
    clippo_status st = clippo_tensor_alloc(rt, &a->pools[i], CLIPPO_F32, 1, shape, err);
    if (i >= a->npools) a->npools = i + 1;
    if (st) return clippo_error_prefix(err, "activation arena");
  }
  return CLIPPO_OK;
}

static void arena_release(clippo_rt *rt, model_arena *a) {
  for (size_t i = 0; i < a->npools; i++) clippo_tensor_release(rt, &a->pools[i]);
  a->npools = 0;
  a->gen++;
}

static unsigned long long arena_bytes(const model_arena *a) {
  unsigned long long b = 0;
  for (size_t i = 0; i < a->npools; i++) b += a->pools[i].bytes;
  return b;
}

/* The plan's buffer of slot s, or NULL. */
static const plan_buf *buf_of(const clippo_plan *p, size_t s) {
  for (size_t i = 0; i < p->nbufs; i++)
    if (p->bufs[i].slot == s) return &p->bufs[i];
  return NULL;
}

/* The arena memory of recorded tensor t (a slot's stand-in or a view of it). */
static clippo_status real_tensor(const clippo_plan *p, const clippo_tensor *t, clippo_tensor *out,
                                 clippo_error *err) {
  size_t s;
  const plan_buf *b = clippo_graph_slot_of(p->g, t, &s) ? buf_of(p, s) : NULL;
  if (!b) return clippo_fail(err, CLIPPO_E_ARG, "plan: a tensor outside the arena");
  *out = clippo_tensor_view(&p->arena->pools[b->pool], b->offset / sizeof(float) + t->offset,
                            t->ndim, t->shape);
  return CLIPPO_OK;
}

/* Makes sure the arena holds the plan and its slots point there. */
static clippo_status plan_bind(clippo_plan *p, clippo_error *err) {
  clippo_rt *rt = p->m->rt;
  TRY(arena_fit(rt, p->arena, p->need, p->npools, err));
  if (p->bound && p->bound_gen == p->arena->gen) return CLIPPO_OK;
  p->bound = 0;
  for (size_t i = 0; i < p->nbufs; i++) {
    const plan_buf *b = &p->bufs[i];
    int64_t shape[1] = {(int64_t)(clippo_graph_slot_bytes(p->g, b->slot) / sizeof(float))};
    clippo_tensor v =
        clippo_tensor_view(&p->arena->pools[b->pool], b->offset / sizeof(float), 1, shape);
    TRY(clippo_graph_bind(p->g, b->slot, &v, err));
  }
  p->bound = 1;
  p->bound_gen = p->arena->gen;
  return CLIPPO_OK;
}

/* ---- creating plans ------------------------------------------------------------------------- */

static void plan_destroy(clippo_plan *p) {
  if (!p) return;
  clippo_rt *rt = p->m->rt;
  clippo_graph_free(p->g);
  model_workspace_release(rt, &p->ws); /* slots: only forgotten */
  model_acts_release(rt, &p->acts, p->m->cfg.depth);
  free(p->bufs);
  free(p);
}

/* Records the inference forward of batch inputs into p->g. */
static clippo_status record_inference(clippo_plan *p, clippo_error *err) {
  clippo_model *m = p->m;
  model_alloc al = {m->rt, p->g};
  TRY(model_workspace_alloc(m, &al, &p->ws, p->batch, err));
  TRY(clippo_graph_begin(p->g, err));
  clippo_status st = model_forward(m, &p->ws, p->batch, p->kind, &p->result, err);
  clippo_graph_end(p->g);
  if (st) return st;
  if (!clippo_graph_slot_of(p->g, &p->ws.input, &p->in_slot) ||
      !clippo_graph_slot_of(p->g, &p->result, &p->out_slot))
    return clippo_fail(err, CLIPPO_E_ARG, "plan: the forward's input or output is not a slot");
  return CLIPPO_OK;
}

/* Records the training forward and backward of batch inputs into p->g. */
static clippo_status record_training(clippo_plan *p, clippo_error *err) {
  clippo_model *m = p->m;
  const clippo_config *c = &m->cfg;
  const int64_t S = c->image_size, od = (int64_t)clippo_model_output_dim(m, m->train_out);
  TRY(model_train_grads(m, err)); /* the backward's gradient views */
  model_alloc al = {m->rt, p->g};
  int64_t in_shape[4] = {(int64_t)p->batch, S, S, 3}, z_shape[2] = {(int64_t)p->batch, od};
  clippo_tensor in, z, dz;
  TRY(clippo_graph_slot(p->g, CLIPPO_F32, 4, in_shape, &in, &p->ext_in, err));
  TRY(clippo_graph_slot(p->g, CLIPPO_F32, 2, z_shape, &z, &p->ext_z, err));
  TRY(clippo_graph_slot(p->g, CLIPPO_F32, 2, z_shape, &dz, &p->ext_dz, err));
  TRY(model_acts_alloc(m, &al, &p->acts, p->batch, err));
  TRY(clippo_graph_begin(p->g, err));
  clippo_status st = model_train_forward_run(m, &p->acts, &in, p->batch, &z, err);
  p->fwd_steps = clippo_graph_step_count(p->g);
  if (!st) st = model_backward_run(m, &p->acts, p->batch, &dz, err);
  clippo_graph_end(p->g);
  return st;
}

static clippo_status plan_new(clippo_model *m, int training, size_t batch, clippo_embed_kind kind,
                              clippo_plan **out, clippo_error *err) {
  *out = NULL;
  if (batch == 0 || batch > (training ? 1u << 20 : 65536u))
    return clippo_fail(err, CLIPPO_E_ARG, "plan: batch %zu out of range", batch);
  if (kind != CLIPPO_EMBED_Z && kind != CLIPPO_EMBED_PRE_LOGITS)
    return clippo_fail(err, CLIPPO_E_ARG, "plan: unknown embedding kind %d", (int)kind);
  clippo_plan *p = calloc(1, sizeof *p);
  if (!p) return clippo_fail(err, CLIPPO_E_NOMEM, "out of host memory for a plan");
  p->m = m;
  p->training = training;
  p->batch = batch;
  p->kind = kind;
  p->in_slot = p->out_slot = p->ext_in = p->ext_z = p->ext_dz = NO_SLOT;
  clippo_status st = clippo_graph_create(m->rt, &p->g, err);
  if (!st) st = training ? record_training(p, err) : record_inference(p, err);
  if (!st) st = plan_layout(p, err);
  if (!st && training) {
    model_train *t = model_train_get(m, err);
    if (!t) st = CLIPPO_E_NOMEM;
    p->arena = t ? &t->arena : NULL;
  } else {
    p->arena = &m->arena;
  }
  if (st) {
    plan_destroy(p);
    clippo_error_prefix(err, "planning the %s of %zu inputs",
                        training ? "training step" : "forward", batch);
    return st;
  }
  *out = p;
  return CLIPPO_OK;
}

/* ---- public plan API ------------------------------------------------------------------------ */

clippo_status clippo_plan_create(clippo_model *m, size_t batch, clippo_embed_kind kind,
                                 clippo_plan **out, clippo_error *err) {
  return plan_new(m, 0, batch, kind, out, err);
}

clippo_status clippo_plan_run(clippo_plan *p, const float *images, float *out, clippo_error *err) {
  if (p->training) return clippo_fail(err, CLIPPO_E_ARG, "plan: a training plan");
  clippo_rt *rt = p->m->rt;
  TRY(plan_bind(p, err));
  clippo_tensor in, res;
  TRY(real_tensor(p, &p->ws.input, &in, err));
  TRY(real_tensor(p, &p->result, &res, err));
  TRY(clippo_tensor_write(rt, &in, images, err));
  TRY(clippo_graph_run(p->g, 0, clippo_graph_step_count(p->g), err));
  return clippo_tensor_read(rt, &res, out, err);
}

void clippo_plan_get_info(const clippo_plan *p, clippo_plan_info *out) { *out = p->info; }

void clippo_plan_free(clippo_plan *p) {
  if (p && !p->cached) plan_destroy(p);
}

/* ---- the model's caches --------------------------------------------------------------------- */

/* Finds (and moves to the front) or creates (dropping the least recently used) the plan. */
static clippo_status cache_get(clippo_model *m, clippo_plan **cache, int training, size_t batch,
                               clippo_embed_kind kind, clippo_plan **out, clippo_error *err) {
  size_t i = 0;
  while (i < MODEL_PLAN_CACHE && cache[i] &&
         (cache[i]->batch != batch || (!training && cache[i]->kind != kind)))
    i++;
  clippo_plan *p = i < MODEL_PLAN_CACHE ? cache[i] : NULL;
  if (!p) {
    TRY(plan_new(m, training, batch, kind, &p, err));
    p->cached = 1;
    i = MODEL_PLAN_CACHE - 1;
    if (cache[i]) {
      if (m->train && m->train->last == cache[i]) {
        m->train->last = NULL;
        m->train->count = 0;
      }
      plan_destroy(cache[i]);
    }
  }
  memmove(cache + 1, cache, i * sizeof *cache);
  cache[0] = p;
  if (out) *out = p;
  return CLIPPO_OK;
}

clippo_status model_plan_cached(clippo_model *m, size_t batch, clippo_embed_kind kind,
                                clippo_plan **out, clippo_error *err) {
  clippo_plan *p = NULL;
  TRY(cache_get(m, m->plans, 0, batch, kind, &p, err));
  TRY(plan_bind(p, err)); /* the arena is sized now: a batch too large fails here */
  if (out) *out = p;
  return CLIPPO_OK;
}

void model_plans_free(clippo_model *m) {
  for (size_t i = 0; i < MODEL_PLAN_CACHE; i++) {
    plan_destroy(m->plans[i]);
    m->plans[i] = NULL;
  }
  arena_release(m->rt, &m->arena);
  model_train *t = m->train;
  if (!t) return;
  for (size_t i = 0; i < MODEL_PLAN_CACHE; i++) {
    plan_destroy(t->plans[i]);
    t->plans[i] = NULL;
  }
  t->last = NULL;
  arena_release(m->rt, &t->arena);
}

/* ---- training ------------------------------------------------------------------------------- */

clippo_status model_train_plan_forward(clippo_model *m, const clippo_tensor *inputs, size_t count,
                                       clippo_tensor *z, clippo_error *err) {
  model_train *t = m->train;
  clippo_plan *p = NULL;
  TRY(cache_get(m, t->plans, 1, count, CLIPPO_EMBED_Z, &p, err));
  clippo_status st = plan_bind(p, err);
  if (!st) st = clippo_graph_bind(p->g, p->ext_in, inputs, err);
  if (!st) st = clippo_graph_bind(p->g, p->ext_z, z, err);
  if (!st) st = clippo_graph_run(p->g, 0, p->fwd_steps, err);
  t->act_bytes = arena_bytes(&t->arena);
  if (st) return clippo_error_prefix(err, "training forward");
  t->count = count;
  t->last = p;
  return CLIPPO_OK;
}

clippo_status model_train_plan_backward(clippo_model *m, const clippo_tensor *dz,
                                        clippo_error *err) {
  clippo_plan *p = m->train->last;
  clippo_status st = CLIPPO_OK;
  if (!p->bound || p->bound_gen != p->arena->gen)
    st = clippo_fail(err, CLIPPO_E_ARG, "the training forward's activations were released");
  if (!st) st = clippo_graph_bind(p->g, p->ext_dz, dz, err);
  if (!st) st = clippo_graph_run(p->g, p->fwd_steps, clippo_graph_step_count(p->g), err);
  if (st) return clippo_error_prefix(err, "backward");
  return CLIPPO_OK;
}

clippo_status clippo_model_train_plan_info(const clippo_model *m, clippo_plan_info *out,
                                           clippo_error *err) {
  if (!m->train || !m->train->last)
    return clippo_fail(err, CLIPPO_E_ARG, "no planned training forward has run on this model");
  *out = m->train->last->info;
  return CLIPPO_OK;
}
