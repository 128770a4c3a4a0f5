/* The optimizers on a device (kernels/optimizer.cl): big_vision's chain
 * clip_by_global_norm -> sgd | scale_by_adam | big_vision.scale_by_adafactor -> x lr ->
 * + wd * param (".../kernel" only) -> x schedule -> x -1, state kept on the device and
 * exported as named host arrays for checkpoints. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "clippo/ops.h"
#include "clippo/train.h"

#define TRY(x)                                                                                     \
  do {                                                                                             \
    clippo_status st_ = (x);                                                                       \
    if (st_ != CLIPPO_OK) return st_;                                                              \
  } while (0)

/* Elements per partial sum of the global norm. */
#define NORM_CHUNK 4096

const char *clippo_opt_name(clippo_opt_kind k) {
  switch (k) {
  case CLIPPO_OPT_SGD: return "sgd";
  case CLIPPO_OPT_ADAMW: return "adamw";
  case CLIPPO_OPT_ADAFACTOR: return "adafactor";
  }
  return "?";
}

clippo_status clippo_opt_parse(const char *name, clippo_opt_kind *out, clippo_error *err) {
  if (!name) return clippo_fail(err, CLIPPO_E_ARG, "optimizer: no name");
  if (!strcasecmp(name, "sgd"))
    *out = CLIPPO_OPT_SGD;
  else if (!strcasecmp(name, "adamw") || !strcasecmp(name, "adam"))
    *out = CLIPPO_OPT_ADAMW;
  else if (!strcasecmp(name, "adafactor"))
    *out = CLIPPO_OPT_ADAFACTOR;
  else
    return clippo_fail(err, CLIPPO_E_ARG, "unknown optimizer '%s' (sgd, adamw or adafactor)", name);
  return CLIPPO_OK;
}

void clippo_opt_config_default(clippo_opt_config *c, clippo_opt_kind kind) {
  memset(c, 0, sizeof *c);
  c->kind = kind;
  c->lr = 1e-3f;
  c->weight_decay = 1e-4f;
  c->clip_norm = 1.0f;
  c->schedule.kind = CLIPPO_SCHED_RSQRT;
  c->schedule.timescale = 10000;
  c->schedule.warmup_steps = 10000;
  c->schedule.cooldown_steps = 10000;
  c->min_dim_size_to_factor = 32;
  c->decay_rate = 0.8f;
  c->beta2_cap = 0.999f;
  c->eps = 1e-30f;
  c->momentum = 0.9;
  c->b1 = 0.9;
  c->b2 = 0.999;
  c->adam_eps = 1e-8f;
  if (kind == CLIPPO_OPT_SGD) {
    c->clip_norm = 0.0f;
    c->weight_decay = 0.0f;
    c->schedule.kind = CLIPPO_SCHED_CONSTANT;
    c->schedule.warmup_steps = 0;
    c->schedule.cooldown_steps = 0;
  }
}

clippo_status clippo_opt_config_check(const clippo_opt_config *c, clippo_error *err) {
  if (c->kind != CLIPPO_OPT_SGD && c->kind != CLIPPO_OPT_ADAMW && c->kind != CLIPPO_OPT_ADAFACTOR)
    return clippo_fail(err, CLIPPO_E_ARG, "optimizer: unknown kind %d", (int)c->kind);
  if (!isfinite(c->lr) || !isfinite(c->weight_decay) || !isfinite(c->clip_norm) ||
      c->clip_norm < 0.0f)
    return clippo_fail(err, CLIPPO_E_ARG,
                       "optimizer: lr, weight decay and clip norm must be finite (clip >= 0)");
  if (c->kind == CLIPPO_OPT_ADAFACTOR) {
    if (c->min_dim_size_to_factor < 1 || !(c->decay_rate > 0.0f) || !(c->beta2_cap <= 1.0f) ||
        !(c->eps >= 0.0f) || !(c->momentum >= 0.0 && c->momentum < 1.0))
      return clippo_fail(err, CLIPPO_E_ARG,
                         "adafactor: need min_dim_size_to_factor >= 1, decay_rate > 0, "
                         "beta2_cap <= 1, eps >= 0, 0 <= momentum < 1");
  }
  if (c->kind == CLIPPO_OPT_ADAMW) {
    if (!(c->b1 >= 0.0 && c->b1 < 1.0) || !(c->b2 >= 0.0 && c->b2 < 1.0) || !(c->adam_eps >= 0.0f))
      return clippo_fail(err, CLIPPO_E_ARG, "adamw: need 0 <= b1, b2 < 1 and eps >= 0");
  }
  return clippo_schedule_check(&c->schedule, err);
}

int clippo_adafactor_factored_dims(int ndim, const int64_t *shape, int min_dim, int *d1, int *d0) {
  if (ndim < 2) return 0;
  /* stable argsort (numpy sorts small arrays by insertion: ties keep their order) */
  int idx[CLIPPO_MAX_DIMS];
  for (int i = 0; i < ndim; i++) idx[i] = i;
  for (int i = 1; i < ndim; i++) {
    int k = idx[i], j = i - 1;
    while (j >= 0 && shape[idx[j]] > shape[k]) {
      idx[j + 1] = idx[j];
      j--;
    }
    idx[j + 1] = k;
  }
  if (shape[idx[ndim - 2]] < min_dim) return 0;
  *d1 = idx[ndim - 2];
  *d0 = idx[ndim - 1];
  return 1;
}

/* ---- device state ------------------------------------------------------------------------ */

typedef struct opt_param {
  char *name;
  int ndim;
  int64_t shape[CLIPPO_MAX_DIMS];
  size_t count;
  int wd; /* weight decay applies (name ends in /kernel) */
  int factored, d0, d1, d0_is_p;
  size_t A, P, B, Q, C;
  int row_ndim, col_ndim;
  int64_t row_shape[CLIPPO_MAX_DIMS], col_shape[CLIPPO_MAX_DIMS];
  clippo_tensor v, v_row, v_col, rcm, m; /* adafactor */
  clippo_tensor row_ab;                  /* factored: a B + b of each row (a P + i) B + b (int32) */
  clippo_tensor mu, nu;                  /* adam */
} opt_param;

struct clippo_optimizer {
  clippo_rt *rt;
  clippo_opt_config cfg;
  size_t n;
  opt_param *p;
  int64_t count;
  clippo_tensor partials;
  size_t npartials;
  float *host_partials;
  clippo_tensor dummy16; /* stands in for the momentum when there is none */
  /* the global norm's chunks as segments of the gradients' buffers (norm_segments): seg holds
   * (first element, length) per chunk, made for the buffers and offsets in seg_mem, seg_off */
  clippo_tensor seg;
  int32_t *seg_host;
  cl_mem *seg_mem;
  size_t *seg_off;
  int seg_ready;
};

static int ends_with(const char *s, const char *suffix) {
  size_t n = strlen(s), k = strlen(suffix);
  return n >= k && strcmp(s + n - k, suffix) == 0;
}

static void drop_axis(const int64_t *shape, int ndim, int axis, int64_t *out) {
  for (int i = 0, k = 0; i < ndim; i++)
    if (i != axis) out[k++] = shape[i];
}

static size_t prod(const int64_t *shape, int from, int to) {
  size_t r = 1;
  for (int i = from; i < to; i++) r *= (size_t)shape[i];
  return r;
}

static clippo_status alloc_zero(clippo_rt *rt, clippo_tensor *t, clippo_dtype dt, int ndim,
                                const int64_t *shape, const char *what, const char *name,
                                clippo_error *err) {
  clippo_status st = clippo_tensor_alloc(rt, t, dt, ndim, shape, err);
  if (st == CLIPPO_OK && clippo_tensor_count(t) > 0) {
    cl_uint zero = 0;
    cl_int rc = clEnqueueFillBuffer(rt->queue, t->mem, &zero, dt == CLIPPO_BF16 ? 2 : 4, 0,
                                    t->bytes, 0, NULL, NULL);
    st = clippo_cl_check(rt, rc, "clEnqueueFillBuffer", err);
  }
  if (st != CLIPPO_OK) clippo_error_prefix(err, "optimizer state %s of %s", what, name);
  return st;
}

/* q->row_ab: a B + b for every row (a P + i) B + b of the factored update's grid. */
static clippo_status upload_row_ab(clippo_rt *rt, opt_param *q, clippo_error *err) {
  const size_t rows = q->A * q->P * q->B;
  if (rows > 0x7FFFFFFFu)
    return clippo_fail(err, CLIPPO_E_UNSUPPORTED, "optimizer: parameter %s has too many rows",
                       q->name);
  int32_t *ab = malloc((rows ? rows : 1) * sizeof *ab);
  if (!ab) return clippo_fail(err, CLIPPO_E_NOMEM, "optimizer: out of host memory");
  for (size_t y = 0; y < rows; y++) ab[y] = (int32_t)(y / (q->P * q->B) * q->B + y % q->B);
  int64_t shape[1] = {(int64_t)rows};
  clippo_status st = clippo_tensor_alloc(rt, &q->row_ab, CLIPPO_I32, 1, shape, err);
  if (st == CLIPPO_OK && rows > 0) st = clippo_tensor_write(rt, &q->row_ab, ab, err);
  free(ab);
  if (st != CLIPPO_OK) clippo_error_prefix(err, "optimizer state adafactor/rows of %s", q->name);
  return st;
}

static void release_param(clippo_rt *rt, opt_param *q) {
  free(q->name);
  clippo_tensor_release(rt, &q->v);
  clippo_tensor_release(rt, &q->v_row);
  clippo_tensor_release(rt, &q->v_col);
  clippo_tensor_release(rt, &q->rcm);
  clippo_tensor_release(rt, &q->row_ab);
  clippo_tensor_release(rt, &q->m);
  clippo_tensor_release(rt, &q->mu);
  clippo_tensor_release(rt, &q->nu);
}

void clippo_optimizer_free(clippo_optimizer *o) {
  if (!o) return;
  for (size_t i = 0; i < o->n; i++) release_param(o->rt, &o->p[i]);
  free(o->p);
  clippo_tensor_release(o->rt, &o->partials);
  clippo_tensor_release(o->rt, &o->dummy16);
  clippo_tensor_release(o->rt, &o->seg);
  free(o->host_partials);
  free(o->seg_host);
  free(o->seg_mem);
  free(o->seg_off);
  free(o);
}

static clippo_status setup_param(clippo_optimizer *o, opt_param *q, const char *name,
                                 const clippo_tensor *t, clippo_error *err) {
  clippo_rt *rt = o->rt;
  const clippo_opt_config *c = &o->cfg;
  q->name = strdup(name);
  if (!q->name) return clippo_fail(err, CLIPPO_E_NOMEM, "optimizer: out of host memory");
  if (t->dtype != CLIPPO_F32)
    return clippo_fail(err, CLIPPO_E_SHAPE, "optimizer: parameter %s is %s, expected float32", name,
                       clippo_dtype_name(t->dtype));
  q->ndim = t->ndim;
  memcpy(q->shape, t->shape, sizeof q->shape);
  q->count = clippo_tensor_count(t);
  if (t->offset + q->count > 0xFFFFFFFFull)
    return clippo_fail(err, CLIPPO_E_UNSUPPORTED,
                       "optimizer: parameter %s has more than 2^32 elements", name);
  q->wd = ends_with(name, "/kernel");
  if (c->kind == CLIPPO_OPT_ADAMW) {
    TRY(alloc_zero(rt, &q->mu, CLIPPO_F32, t->ndim, t->shape, "adam/mu", name, err));
    TRY(alloc_zero(rt, &q->nu, CLIPPO_F32, t->ndim, t->shape, "adam/nu", name, err));
  } else if (c->kind == CLIPPO_OPT_ADAFACTOR) {
    q->factored = clippo_adafactor_factored_dims(t->ndim, t->shape, c->min_dim_size_to_factor,
                                                 &q->d1, &q->d0);
    if (q->factored) {
      int pa = q->d0 < q->d1 ? q->d0 : q->d1, qa = q->d0 < q->d1 ? q->d1 : q->d0;
      q->d0_is_p = q->d0 == pa;
      q->A = prod(t->shape, 0, pa);
      q->P = (size_t)t->shape[pa];
      q->B = prod(t->shape, pa + 1, qa);
      q->Q = (size_t)t->shape[qa];
      q->C = prod(t->shape, qa + 1, t->ndim);
      q->row_ndim = q->col_ndim = t->ndim - 1;
      drop_axis(t->shape, t->ndim, q->d0, q->row_shape);
      drop_axis(t->shape, t->ndim, q->d1, q->col_shape);
      int64_t rs[1] = {(int64_t)(q->A * q->B * q->C)};
      TRY(alloc_zero(rt, &q->v_row, CLIPPO_F32, q->row_ndim, q->row_shape, "adafactor/v_row", name,
                     err));
      TRY(alloc_zero(rt, &q->v_col, CLIPPO_F32, q->col_ndim, q->col_shape, "adafactor/v_col", name,
                     err));
      TRY(alloc_zero(rt, &q->rcm, CLIPPO_F32, 1, rs, "adafactor/row mean", name, err));
      TRY(upload_row_ab(rt, q, err));
    } else {
      TRY(alloc_zero(rt, &q->v, CLIPPO_F32, t->ndim, t->shape, "adafactor/v", name, err));
    }
    if (c->momentum != 0.0)
      TRY(alloc_zero(rt, &q->m, CLIPPO_BF16, t->ndim, t->shape, "adafactor/m", name, err));
  }
  return CLIPPO_OK;
}

clippo_status clippo_optimizer_create(clippo_rt *rt, const clippo_opt_config *cfg, size_t n,
                                      const char *const *names, clippo_tensor *const *params,
                                      clippo_optimizer **out, clippo_error *err) {
  *out = NULL;
  TRY(clippo_opt_config_check(cfg, err));
  clippo_optimizer *o = calloc(1, sizeof *o);
  if (!o) return clippo_fail(err, CLIPPO_E_NOMEM, "optimizer: out of host memory");
  o->rt = rt;
  o->cfg = *cfg;
  o->p = calloc(n ? n : 1, sizeof *o->p);
  clippo_status st =
      o->p ? CLIPPO_OK : clippo_fail(err, CLIPPO_E_NOMEM, "optimizer: out of memory");
  size_t np = 0;
  for (size_t i = 0; st == CLIPPO_OK && i < n; i++) {
    o->n = i + 1;
    st = setup_param(o, &o->p[i], names[i], params[i], err);
    np += (o->p[i].count + NORM_CHUNK - 1) / NORM_CHUNK;
  }
  if (st == CLIPPO_OK) {
    int64_t s1[1] = {(int64_t)(np ? np : 1)}, one[1] = {1};
    o->npartials = np;
    st = clippo_tensor_alloc(rt, &o->partials, CLIPPO_F32, 1, s1, err);
    if (st == CLIPPO_OK) st = alloc_zero(rt, &o->dummy16, CLIPPO_BF16, 1, one, "m", "(none)", err);
    int64_t s2[1] = {2 * s1[0]};
    if (st == CLIPPO_OK) st = clippo_tensor_alloc(rt, &o->seg, CLIPPO_I32, 1, s2, err);
    if (st == CLIPPO_OK) {
      o->host_partials = malloc((size_t)s1[0] * sizeof(float));
      o->seg_host = malloc((size_t)s2[0] * sizeof(int32_t));
      o->seg_mem = calloc(n ? n : 1, sizeof *o->seg_mem);
      o->seg_off = calloc(n ? n : 1, sizeof *o->seg_off);
      if (!o->host_partials || !o->seg_host || !o->seg_mem || !o->seg_off)
        st = clippo_fail(err, CLIPPO_E_NOMEM, "optimizer: out of memory");
    }
  }
  if (st == CLIPPO_OK) st = clippo_rt_finish(rt, err);
  if (st != CLIPPO_OK) {
    clippo_optimizer_free(o);
    return st;
  }
  *out = o;
  return CLIPPO_OK;
}

int64_t clippo_optimizer_count(const clippo_optimizer *o) { return o->count; }

/* ---- global norm --------------------------------------------------------------------------- */

/* sqrt of the sum, in double, of the first count partial sums in partials (host: room for them). */
static clippo_status sum_partials(clippo_rt *rt, const clippo_tensor *partials, size_t count,
                                  float *host, double *norm, clippo_error *err) {
  double s = 0.0;
  if (count > 0) {
    cl_int rc =
        clEnqueueReadBuffer(rt->queue, partials->mem, CL_TRUE, partials->offset * sizeof(float),
                            count * sizeof(float), host, 0, NULL, NULL);
    TRY(clippo_cl_check(rt, rc, "clEnqueueReadBuffer (gradient norm)", err));
    for (size_t i = 0; i < count; i++) s += host[i];
  }
  *norm = sqrt(s);
  return CLIPPO_OK;
}

static clippo_status norm_into(clippo_rt *rt, clippo_tensor *const *x, size_t n,
                               clippo_tensor *partials, float *host, double *norm,
                               clippo_error *err) {
  size_t off = 0;
  for (size_t i = 0; i < n; i++) {
    if (!x[i] || x[i]->dtype != CLIPPO_F32)
      return clippo_fail(err, CLIPPO_E_SHAPE, "global_norm: gradient %zu is not float32", i);
    size_t cnt = clippo_tensor_count(x[i]);
    size_t groups = (cnt + NORM_CHUNK - 1) / NORM_CHUNK;
    if (groups == 0) continue;
    const clippo_op_arg a[] = {CLIPPO_ARG_T(x[i]), CLIPPO_ARG_U(cnt), CLIPPO_ARG_U(NORM_CHUNK),
                               CLIPPO_ARG_T(partials), CLIPPO_ARG_U(off)};
    TRY(clippo_op_launch(rt, "optimizer.cl", "sumsq_partial", CLIPPO_OP_ROWS, groups, a,
                         sizeof a / sizeof a[0], err));
    off += groups;
  }
  return sum_partials(rt, partials, off, host, norm, err);
}

/* The table of o->seg for gradients x (o->n of them, counts as the parameters'), uploaded again
 * only when a gradient moved to another buffer or offset. */
static clippo_status norm_segments(clippo_optimizer *o, clippo_tensor *const *x,
                                   clippo_error *err) {
  int same = o->seg_ready;
  for (size_t i = 0; i < o->n && same; i++)
    same = x[i]->mem == o->seg_mem[i] && x[i]->offset == o->seg_off[i];
  if (same) return CLIPPO_OK;
  size_t c = 0;
  for (size_t i = 0; i < o->n; i++) {
    size_t cnt = o->p[i].count;
    if (x[i]->offset + cnt > 0x7FFFFFFFu)
      return clippo_fail(err, CLIPPO_E_UNSUPPORTED,
                         "global norm: gradient %s ends past 2^31 elements of its buffer",
                         o->p[i].name);
    for (size_t s = 0; s < cnt; s += NORM_CHUNK) {
      o->seg_host[2 * c] = (int32_t)(x[i]->offset + s);
      o->seg_host[2 * c + 1] = (int32_t)(cnt - s < NORM_CHUNK ? cnt - s : NORM_CHUNK);
      c++;
    }
    o->seg_mem[i] = x[i]->mem;
    o->seg_off[i] = x[i]->offset;
  }
  o->seg_ready = 0;
  if (c > 0) TRY(clippo_tensor_write(o->rt, &o->seg, o->seg_host, err));
  o->seg_ready = 1;
  return CLIPPO_OK;
}

/* The global norm of the gradients x (shapes as the parameters): one launch of sumsq_segments
 * per run of consecutive gradients in one buffer (a model's gradient arena: one), the partial
 * sums added on the host in double as norm_into does. */
static clippo_status grads_norm(clippo_optimizer *o, clippo_tensor *const *x, double *norm,
                                clippo_error *err) {
  clippo_rt *rt = o->rt;
  for (size_t i = 0; i < o->n; i++)
    if (!x[i] || x[i]->dtype != CLIPPO_F32 || !x[i]->mem ||
        clippo_tensor_count(x[i]) != o->p[i].count)
      return clippo_fail(err, CLIPPO_E_SHAPE,
                         "global norm: the gradient of %s is not float32 of %zu elements",
                         o->p[i].name, o->p[i].count);
  TRY(norm_segments(o, x, err));
  size_t c0 = 0; /* the run's first chunk */
  for (size_t i = 0; i < o->n;) {
    size_t j = i, c1 = c0;
    while (j < o->n && x[j]->mem == x[i]->mem)
      c1 += (o->p[j++].count + NORM_CHUNK - 1) / NORM_CHUNK;
    if (c1 > c0) {
      int64_t one[1] = {1};
      clippo_tensor buf = clippo_tensor_view(x[i], 0, 1, one);
      buf.offset = 0; /* the segments hold offsets into the whole buffer */
      int64_t ns[1] = {(int64_t)(2 * (c1 - c0))}, np[1] = {(int64_t)(c1 - c0)};
      clippo_tensor seg = clippo_tensor_view(&o->seg, 2 * c0, 1, ns);
      clippo_tensor out = clippo_tensor_view(&o->partials, c0, 1, np);
      const clippo_op_arg a[] = {CLIPPO_ARG_T(&buf), CLIPPO_ARG_T(&seg), CLIPPO_ARG_U(c1 - c0),
                                 CLIPPO_ARG_T(&out)};
      TRY(clippo_op_launch(rt, "optimizer.cl", "sumsq_segments", CLIPPO_OP_ROWS, c1 - c0, a,
                           sizeof a / sizeof a[0], err));
    }
    c0 = c1;
    i = j;
  }
  return sum_partials(rt, &o->partials, c0, o->host_partials, norm, err);
}

clippo_status clippo_global_norm(clippo_rt *rt, clippo_tensor *const *x, size_t n, double *norm,
                                 clippo_error *err) {
  size_t np = 0;
  for (size_t i = 0; i < n; i++) np += (clippo_tensor_count(x[i]) + NORM_CHUNK - 1) / NORM_CHUNK;
  clippo_tensor partials = {0};
  int64_t s1[1] = {(int64_t)(np ? np : 1)};
  TRY(clippo_tensor_alloc(rt, &partials, CLIPPO_F32, 1, s1, err));
  float *host = malloc((size_t)s1[0] * sizeof(float));
  clippo_status st = host ? norm_into(rt, x, n, &partials, host, norm, err)
                          : clippo_fail(err, CLIPPO_E_NOMEM, "global norm: out of host memory");
  free(host);
  clippo_tensor_release(rt, &partials);
  return st;
}

/* ---- one step ------------------------------------------------------------------------------ */

typedef struct step_consts {
  float gnorm, maxn;
  unsigned clip;
  float lr, sched;
  float decay, omd;     /* adafactor second moment */
  float mom_b, mom_1mb; /* adafactor momentum */
  unsigned has_mom;
  float b1, omb1, b2, omb2, bc1, bc2; /* adam */
} step_consts;

/* The arguments every update kernel takes after its own: the clipping, then the tail. */
#define ARGS_CLIP(s) CLIPPO_ARG_F((s)->gnorm), CLIPPO_ARG_F((s)->maxn), CLIPPO_ARG_U((s)->clip)
#define ARGS_TAIL(s, q, wd)                                                                        \
  CLIPPO_ARG_F((s)->lr), CLIPPO_ARG_F((q)->wd ? (wd) : 0.0f), CLIPPO_ARG_F((s)->sched)
#define NARGS(a) (sizeof(a) / sizeof((a)[0]))

/* Launches an update kernel of kernels/optimizer.cl over n elements. */
static clippo_status launch_elems(clippo_rt *rt, const char *kname, size_t n,
                                  const clippo_op_arg *a, size_t na, clippo_error *err) {
  return clippo_op_launch(rt, "optimizer.cl", kname, CLIPPO_OP_ELEMS, n, a, na, err);
}

/* The factored second moment of Adafactor: the two reduced vectors (no_P: outer A, R P, inner
 * B Q C; no_Q: A P B, Q, C), then the mean of v_row over d1. */
static clippo_status adafactor_moments(clippo_optimizer *o, opt_param *q, const clippo_tensor *g,
                                       const step_consts *s, clippo_error *err) {
  clippo_rt *rt = o->rt;
  clippo_tensor *no_p = q->d0_is_p ? &q->v_row : &q->v_col;
  clippo_tensor *no_q = q->d0_is_p ? &q->v_col : &q->v_row;
  size_t lay[2][3] = {{q->A, q->P, q->B * q->Q * q->C}, {q->A * q->P * q->B, q->Q, q->C}};
  clippo_tensor *dst[2] = {no_p, no_q};
  for (int r = 0; r < 2; r++) {
    if (lay[r][2] == 1) { /* contiguous rows */
      const clippo_op_arg a[] = {CLIPPO_ARG_T(g),          ARGS_CLIP(s),
                                 CLIPPO_ARG_F(o->cfg.eps), CLIPPO_ARG_U(lay[r][0]),
                                 CLIPPO_ARG_U(lay[r][1]),  CLIPPO_ARG_T(dst[r]),
                                 CLIPPO_ARG_F(s->decay),   CLIPPO_ARG_F(s->omd)};
      TRY(clippo_op_launch(rt, "optimizer.cl", "af_reduce_rows", CLIPPO_OP_ROWS, lay[r][0], a,
                           NARGS(a), err));
      continue;
    }
    const clippo_op_arg a[] = {CLIPPO_ARG_T(g),          ARGS_CLIP(s),
                               CLIPPO_ARG_F(o->cfg.eps), CLIPPO_ARG_U(lay[r][0]),
                               CLIPPO_ARG_U(lay[r][1]),  CLIPPO_ARG_U(lay[r][2]),
                               CLIPPO_ARG_T(dst[r]),     CLIPPO_ARG_F(s->decay),
                               CLIPPO_ARG_F(s->omd)};
    TRY(clippo_op_launch(rt, "optimizer.cl", "af_reduce", CLIPPO_OP_ROWS, lay[r][0] * lay[r][2], a,
                         NARGS(a), err));
  }
  /* mean of v_row over d1: v_row = no_P (A, B, Q, C) reduced over Q, or no_Q (A, P, B, C)
   * reduced over P */
  size_t ml[3];
  if (q->d0_is_p) {
    ml[0] = q->A * q->B, ml[1] = q->Q, ml[2] = q->C;
  } else {
    ml[0] = q->A, ml[1] = q->P, ml[2] = q->B * q->C;
  }
  const clippo_op_arg a[] = {CLIPPO_ARG_T(&q->v_row), CLIPPO_ARG_U(ml[0]), CLIPPO_ARG_U(ml[1]),
                             CLIPPO_ARG_U(ml[2]), CLIPPO_ARG_T(&q->rcm)};
  return clippo_op_launch(rt, "optimizer.cl", "af_mean", CLIPPO_OP_ROWS, ml[0] * ml[2], a, NARGS(a),
                          err);
}

static clippo_status step_param(clippo_optimizer *o, opt_param *q, clippo_tensor *p,
                                const clippo_tensor *g, const step_consts *s, clippo_error *err) {
  clippo_rt *rt = o->rt;
  const clippo_opt_config *cfg = &o->cfg;
  const size_t n = q->count;
  if (clippo_tensor_count(p) != n || clippo_tensor_count(g) != n || p->dtype != CLIPPO_F32 ||
      g->dtype != CLIPPO_F32)
    return clippo_fail(err, CLIPPO_E_SHAPE,
                       "optimizer: parameter or gradient %s changed shape or dtype (%zu elements "
                       "expected)",
                       q->name, n);
  if (n == 0) return CLIPPO_OK;
  const clippo_tensor *m = q->m.mem ? &q->m : &o->dummy16;
  const float wd = cfg->weight_decay;
  switch (cfg->kind) {
  case CLIPPO_OPT_SGD: {
    const clippo_op_arg a[] = {CLIPPO_ARG_T(p), CLIPPO_ARG_T(g), CLIPPO_ARG_U(n), ARGS_CLIP(s),
                               ARGS_TAIL(s, q, wd)};
    return launch_elems(rt, "opt_sgd", n, a, NARGS(a), err);
  }
  case CLIPPO_OPT_ADAMW: {
    const clippo_op_arg a[] = {CLIPPO_ARG_T(p),
                               CLIPPO_ARG_T(g),
                               CLIPPO_ARG_U(n),
                               ARGS_CLIP(s),
                               CLIPPO_ARG_T(&q->mu),
                               CLIPPO_ARG_T(&q->nu),
                               CLIPPO_ARG_F(s->b1),
                               CLIPPO_ARG_F(s->omb1),
                               CLIPPO_ARG_F(s->b2),
                               CLIPPO_ARG_F(s->omb2),
                               CLIPPO_ARG_F(s->bc1),
                               CLIPPO_ARG_F(s->bc2),
                               CLIPPO_ARG_F(cfg->adam_eps),
                               ARGS_TAIL(s, q, wd)};
    return launch_elems(rt, "opt_adam", n, a, NARGS(a), err);
  }
  case CLIPPO_OPT_ADAFACTOR:
    if (!q->factored) {
      const clippo_op_arg a[] = {CLIPPO_ARG_T(p),        CLIPPO_ARG_T(g),
                                 CLIPPO_ARG_U(n),        ARGS_CLIP(s),
                                 CLIPPO_ARG_T(&q->v),    CLIPPO_ARG_F(s->decay),
                                 CLIPPO_ARG_F(s->omd),   CLIPPO_ARG_F(cfg->eps),
                                 CLIPPO_ARG_T(m),        CLIPPO_ARG_U(s->has_mom),
                                 CLIPPO_ARG_F(s->mom_b), CLIPPO_ARG_F(s->mom_1mb),
                                 ARGS_TAIL(s, q, wd)};
      return launch_elems(rt, "opt_adafactor_full", n, a, NARGS(a), err);
    } else {
      TRY(adafactor_moments(o, q, g, s, err));
      const clippo_op_arg a[] = {CLIPPO_ARG_T(p),          CLIPPO_ARG_T(g),
                                 CLIPPO_ARG_U(q->Q),       ARGS_CLIP(s),
                                 CLIPPO_ARG_U(q->C),       CLIPPO_ARG_T(&q->row_ab),
                                 CLIPPO_ARG_U(q->d0_is_p), CLIPPO_ARG_T(&q->v_row),
                                 CLIPPO_ARG_T(&q->v_col),  CLIPPO_ARG_T(&q->rcm),
                                 CLIPPO_ARG_T(m),          CLIPPO_ARG_U(s->has_mom),
                                 CLIPPO_ARG_F(s->mom_b),   CLIPPO_ARG_F(s->mom_1mb),
                                 ARGS_TAIL(s, q, wd)};
      const size_t grid[3] = {q->Q, q->C, q->A * q->P * q->B};
      return clippo_op_launch_grid(rt, "optimizer.cl", "opt_adafactor_factored", grid, a, NARGS(a),
                                   err);
    }
  }
  return clippo_fail(err, CLIPPO_E_ARG, "optimizer: unknown kind");
}

/* The per-step constants, computed as big_vision / optax compute them (float32 where they do). */
static void make_consts(const clippo_opt_config *cfg, int64_t count, float gnorm, step_consts *s) {
  memset(s, 0, sizeof *s);
  s->gnorm = gnorm;
  s->maxn = cfg->clip_norm;
  /* optax.clip_by_global_norm: keep when g_norm < max_norm */
  s->clip = cfg->clip_norm > 0.0f && !(gnorm < cfg->clip_norm);
  s->lr = cfg->lr;
  s->sched = (float)clippo_schedule_value(&cfg->schedule, count);
  /* big_vision _decay_rate_pow: t = count + 1; min(cap, 1 - t^-decay_rate), float32 */
  float t = (float)(count + 1);
  float d = 1.0f - powf(t, -cfg->decay_rate);
  s->decay = d < cfg->beta2_cap ? d : cfg->beta2_cap;
  s->omd = 1.0f - s->decay;
  s->has_mom = cfg->momentum != 0.0;
  /* the weakly typed decay meets a bfloat16 state: it becomes bfloat16 itself (the product with
   * the state then stays float32 in the kernel, as XLA computes it) */
  s->mom_b = clippo_bf16_to_float(clippo_float_to_bf16((float)cfg->momentum));
  s->mom_1mb = (float)(1.0 - cfg->momentum);
  s->b1 = (float)cfg->b1;
  s->omb1 = (float)(1.0 - cfg->b1);
  s->b2 = (float)cfg->b2;
  s->omb2 = (float)(1.0 - cfg->b2);
  s->bc1 = (float)(1.0 - pow(cfg->b1, (double)(count + 1)));
  s->bc2 = (float)(1.0 - pow(cfg->b2, (double)(count + 1)));
}

clippo_status clippo_optimizer_step(clippo_optimizer *o, clippo_tensor *const *params,
                                    clippo_tensor *const *grads, clippo_opt_stats *stats,
                                    clippo_error *err) {
  clippo_rt *rt = o->rt;
  double gn = 0.0;
  TRY(grads_norm(o, grads, &gn, err));
  if (!isfinite(gn)) {
    /* name the first offending gradient */
    for (size_t i = 0; i < o->n; i++) {
      double g1 = 0.0;
      if (norm_into(rt, &grads[i], 1, &o->partials, o->host_partials, &g1, err) == CLIPPO_OK &&
          !isfinite(g1))
        return clippo_fail(err, CLIPPO_E_NUMERIC,
                           "step %lld: the gradient of %s is not finite (global norm %g)",
                           (long long)o->count + 1, o->p[i].name, gn);
    }
    return clippo_fail(err, CLIPPO_E_NUMERIC, "step %lld: the gradient norm is %g",
                       (long long)o->count + 1, gn);
  }
  step_consts s;
  make_consts(&o->cfg, o->count, (float)gn, &s);
  for (size_t i = 0; i < o->n; i++) {
    clippo_status st = step_param(o, &o->p[i], params[i], grads[i], &s, err);
    if (st != CLIPPO_OK)
      return clippo_error_prefix(err, "optimizer step, parameter %s", o->p[i].name);
  }
  TRY(clippo_rt_finish(rt, err));
  if (stats) {
    stats->step = o->count;
    stats->grad_norm = gn;
    stats->sched = s.sched;
    stats->lr = (double)s.lr * s.sched;
    stats->clipped = (int)s.clip;
  }
  o->count++;
  return CLIPPO_OK;
}

/* ---- state export / import ----------------------------------------------------------------- */

static clippo_status export_tensor(clippo_rt *rt, const clippo_tensor *t, const char *prefix,
                                   const char *name, clippo_params *out, clippo_error *err) {
  char key[1024];
  snprintf(key, sizeof key, "%s/%s", prefix, name);
  clippo_array arr = {0};
  TRY(clippo_array_alloc(&arr, t->dtype, t->ndim, t->shape, err));
  clippo_status st = clippo_tensor_read(rt, t, arr.data, err);
  if (st != CLIPPO_OK) {
    clippo_array_free(&arr);
    return st;
  }
  return clippo_params_add(out, key, &arr, err);
}

clippo_status clippo_optimizer_export(clippo_optimizer *o, clippo_params *out, clippo_error *err) {
  clippo_array cnt = {0};
  int64_t one[1] = {1};
  TRY(clippo_array_alloc(&cnt, CLIPPO_I64, 1, one, err));
  ((int64_t *)cnt.data)[0] = o->count;
  TRY(clippo_params_add(out, "count", &cnt, err));
  for (size_t i = 0; i < o->n; i++) {
    const opt_param *q = &o->p[i];
    if (q->mu.mem) TRY(export_tensor(o->rt, &q->mu, "adam/mu", q->name, out, err));
    if (q->nu.mem) TRY(export_tensor(o->rt, &q->nu, "adam/nu", q->name, out, err));
    if (q->v_row.mem) TRY(export_tensor(o->rt, &q->v_row, "adafactor/v_row", q->name, out, err));
    if (q->v_col.mem) TRY(export_tensor(o->rt, &q->v_col, "adafactor/v_col", q->name, out, err));
    if (q->v.mem) TRY(export_tensor(o->rt, &q->v, "adafactor/v", q->name, out, err));
    if (q->m.mem) TRY(export_tensor(o->rt, &q->m, "adafactor/m", q->name, out, err));
  }
  return CLIPPO_OK;
}

static clippo_status import_tensor(clippo_rt *rt, clippo_tensor *t, const char *prefix,
                                   const char *name, const clippo_params *in, clippo_error *err) {
  char key[1024];
  snprintf(key, sizeof key, "%s/%s", prefix, name);
  const clippo_param *p = clippo_params_find(in, key);
  if (!p) return clippo_fail(err, CLIPPO_E_NOTFOUND, "optimizer state: no array '%s'", key);
  char want[128], got[128];
  int same = p->value.ndim == t->ndim && p->value.dtype == t->dtype;
  for (int d = 0; same && d < t->ndim; d++) same = p->value.shape[d] == t->shape[d];
  if (!same)
    return clippo_fail(err, CLIPPO_E_SHAPE, "optimizer state '%s' is %s %s, expected %s %s", key,
                       clippo_dtype_name(p->value.dtype),
                       clippo_shape_str(p->value.shape, p->value.ndim, got, sizeof got),
                       clippo_dtype_name(t->dtype),
                       clippo_shape_str(t->shape, t->ndim, want, sizeof want));
  return clippo_tensor_write(rt, t, p->value.data, err);
}

clippo_status clippo_optimizer_import(clippo_optimizer *o, const clippo_params *in,
                                      clippo_error *err) {
  const clippo_param *cnt = clippo_params_find(in, "count");
  if (!cnt) return clippo_fail(err, CLIPPO_E_NOTFOUND, "optimizer state: no array 'count'");
  if (clippo_array_count(&cnt->value) != 1 ||
      (cnt->value.dtype != CLIPPO_I64 && cnt->value.dtype != CLIPPO_I32))
    return clippo_fail(err, CLIPPO_E_SHAPE, "optimizer state 'count' must be one integer");
  int64_t count = cnt->value.dtype == CLIPPO_I64 ? ((const int64_t *)cnt->value.data)[0]
                                                 : ((const int32_t *)cnt->value.data)[0];
  if (count < 0) return clippo_fail(err, CLIPPO_E_FORMAT, "optimizer state: negative count");
  for (size_t i = 0; i < o->n; i++) {
    opt_param *q = &o->p[i];
    if (q->mu.mem) TRY(import_tensor(o->rt, &q->mu, "adam/mu", q->name, in, err));
    if (q->nu.mem) TRY(import_tensor(o->rt, &q->nu, "adam/nu", q->name, in, err));
    if (q->v_row.mem) TRY(import_tensor(o->rt, &q->v_row, "adafactor/v_row", q->name, in, err));
    if (q->v_col.mem) TRY(import_tensor(o->rt, &q->v_col, "adafactor/v_col", q->name, in, err));
    if (q->v.mem) TRY(import_tensor(o->rt, &q->v, "adafactor/v", q->name, in, err));
    if (q->m.mem) TRY(import_tensor(o->rt, &q->m, "adafactor/m", q->name, in, err));
  }
  o->count = count;
  return CLIPPO_OK;
}
