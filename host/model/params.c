/* The named parameter tree: storage, lookup, the tensors a config needs, inference of the
 * config from shapes, checking and big_vision initialisation. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clippo/params.h"

/* ---- storage ---- */

void clippo_params_free(clippo_params *p) {
  if (!p) return;
  for (size_t i = 0; i < p->count; i++) {
    free(p->items[i].name);
    clippo_array_free(&p->items[i].value);
  }
  free(p->items);
  memset(p, 0, sizeof *p);
}

clippo_param *clippo_params_find(const clippo_params *p, const char *name) {
  if (!p || !name) return NULL;
  for (size_t i = 0; i < p->count; i++)
    if (strcmp(p->items[i].name, name) == 0) return &p->items[i];
  return NULL;
}

clippo_status clippo_params_add(clippo_params *p, const char *name, clippo_array *value,
                                clippo_error *err) {
  clippo_status st = CLIPPO_OK;
  if (!name || !*name) {
    st = clippo_fail(err, CLIPPO_E_ARG, "parameter with an empty name");
    goto fail;
  }
  if (clippo_params_find(p, name)) {
    st = clippo_fail(err, CLIPPO_E_ARG, "duplicate parameter '%s'", name);
    goto fail;
  }
  if (p->count == p->cap) {
    size_t cap = p->cap ? p->cap * 2 : 64;
    clippo_param *items = realloc(p->items, cap * sizeof *items);
    if (!items) {
      st = clippo_fail(err, CLIPPO_E_NOMEM, "out of host memory adding '%s'", name);
      goto fail;
    }
    p->items = items;
    p->cap = cap;
  }
  char *copy = strdup(name);
  if (!copy) {
    st = clippo_fail(err, CLIPPO_E_NOMEM, "out of host memory adding '%s'", name);
    goto fail;
  }
  p->items[p->count].name = copy;
  p->items[p->count].value = *value;
  p->count++;
  memset(value, 0, sizeof *value);
  return CLIPPO_OK;
fail:
  clippo_array_free(value);
  return st;
}

size_t clippo_params_total(const clippo_params *p) {
  size_t n = 0;
  for (size_t i = 0; p && i < p->count; i++) n += clippo_array_count(&p->items[i].value);
  return n;
}

static int same_shape(const clippo_array *a, int ndim, const int64_t *shape) {
  if (a->ndim != ndim) return 0;
  for (int i = 0; i < ndim; i++)
    if (a->shape[i] != shape[i]) return 0;
  return 1;
}

float *clippo_params_get(const clippo_params *p, const char *name, int ndim, const int64_t *shape,
                         clippo_error *err) {
  char want[256], got[256];
  clippo_param *it = clippo_params_find(p, name);
  clippo_shape_str(shape, ndim, want, sizeof want);
  if (!it) {
    clippo_fail(err, CLIPPO_E_NOTFOUND, "missing parameter '%s' (expected float32 %s)", name, want);
    return NULL;
  }
  if (it->value.dtype != CLIPPO_F32 || !same_shape(&it->value, ndim, shape)) {
    clippo_fail(err, CLIPPO_E_SHAPE, "parameter '%s': expected float32 %s, got %s %s", name, want,
                clippo_dtype_name(it->value.dtype),
                clippo_shape_str(it->value.shape, it->value.ndim, got, sizeof got));
    return NULL;
  }
  return it->value.data;
}

/* ---- the tensors a config needs ---- */

typedef enum init_kind {
  INIT_ZERO,
  INIT_ONE,
  INIT_LECUN,  /* truncated normal, variance 1/fan_in */
  INIT_XAVIER, /* uniform, limit sqrt(6/(fan_in+fan_out)) */
  INIT_NORMAL, /* normal with stddev `std` */
  INIT_CONST   /* every value `std` */
} init_kind;

typedef struct spec_ex {
  clippo_param_spec s;
  init_kind init;
  double std; /* for INIT_NORMAL / INIT_CONST */
  double fan_in, fan_out;
} spec_ex;

typedef struct spec_list {
  spec_ex *v;
  size_t n, cap;
  int oom;
} spec_list;

static void push(spec_list *l, const char *name, init_kind init, double std, double fan_in,
                 double fan_out, int ndim, int64_t d0, int64_t d1, int64_t d2, int64_t d3) {
  if (l->oom) return;
  if (l->n == l->cap) {
    size_t cap = l->cap ? l->cap * 2 : 256;
    spec_ex *v = realloc(l->v, cap * sizeof *v);
    if (!v) {
      l->oom = 1;
      return;
    }
    l->v = v;
    l->cap = cap;
  }
  spec_ex *e = &l->v[l->n++];
  memset(e, 0, sizeof *e);
  snprintf(e->s.name, sizeof e->s.name, "%s", name);
  e->s.ndim = ndim;
  int64_t d[4] = {d0, d1, d2, d3};
  for (int i = 0; i < ndim; i++) e->s.shape[i] = d[i];
  e->init = init;
  e->std = std;
  e->fan_in = fan_in;
  e->fan_out = fan_out;
}

static void push_ln(spec_list *l, const char *pre, int64_t W) {
  char n[128];
  snprintf(n, sizeof n, "%s/scale", pre);
  push(l, n, INIT_ONE, 0, 0, 0, 1, W, 0, 0, 0);
  snprintf(n, sizeof n, "%s/bias", pre);
  push(l, n, INIT_ZERO, 0, 0, 0, 1, W, 0, 0, 0);
}

static void push_mha(spec_list *l, const char *pre, int64_t W, int64_t H) {
  static const char *qkv[3] = {"query", "key", "value"};
  int64_t hd = W / H;
  char n[128];
  for (int i = 0; i < 3; i++) {
    snprintf(n, sizeof n, "%s/MultiHeadDotProductAttention_0/%s/kernel", pre, qkv[i]);
    push(l, n, INIT_XAVIER, 0, (double)W, (double)(H * hd), 3, W, H, hd, 0);
    snprintf(n, sizeof n, "%s/MultiHeadDotProductAttention_0/%s/bias", pre, qkv[i]);
    push(l, n, INIT_ZERO, 0, 0, 0, 2, H, hd, 0, 0);
  }
  snprintf(n, sizeof n, "%s/MultiHeadDotProductAttention_0/out/kernel", pre);
  push(l, n, INIT_XAVIER, 0, (double)(H * hd), (double)W, 3, H, hd, W, 0);
  snprintf(n, sizeof n, "%s/MultiHeadDotProductAttention_0/out/bias", pre);
  push(l, n, INIT_ZERO, 0, 0, 0, 1, W, 0, 0, 0);
}

static void push_mlp(spec_list *l, const char *pre, int64_t W, int64_t M) {
  char n[128];
  snprintf(n, sizeof n, "%s/MlpBlock_0/Dense_0/kernel", pre);
  push(l, n, INIT_XAVIER, 0, (double)W, (double)M, 2, W, M, 0, 0);
  snprintf(n, sizeof n, "%s/MlpBlock_0/Dense_0/bias", pre);
  push(l, n, INIT_NORMAL, 1e-6, 0, 0, 1, M, 0, 0, 0);
  snprintf(n, sizeof n, "%s/MlpBlock_0/Dense_1/kernel", pre);
  push(l, n, INIT_XAVIER, 0, (double)M, (double)W, 2, M, W, 0, 0);
  snprintf(n, sizeof n, "%s/MlpBlock_0/Dense_1/bias", pre);
  push(l, n, INIT_NORMAL, 1e-6, 0, 0, 1, W, 0, 0, 0);
}

static clippo_status build_specs(const clippo_config *cfg, spec_list *l, clippo_error *err) {
  memset(l, 0, sizeof *l);
  clippo_status st = clippo_config_validate(cfg, err);
  if (st) return st;
  int64_t W = cfg->width, H = cfg->heads, M = cfg->mlp_dim, P = cfg->patch;
  int64_t T = clippo_config_tokens(cfg);
  push(l, "img/embedding/kernel", INIT_LECUN, 0, (double)(P * P * 3), (double)W, 4, P, P, 3, W);
  push(l, "img/embedding/bias", INIT_ZERO, 0, 0, 0, 1, W, 0, 0, 0);
  push(l, "img/pos_embedding", INIT_NORMAL, 1.0 / sqrt((double)W), 0, 0, 3, 1, T, W, 0);
  if (!strcmp(cfg->pool, "tok")) push(l, "img/cls", INIT_ZERO, 0, 0, 0, 3, 1, 1, W, 0);
  char pre[128];
  for (int i = 0; i < cfg->depth; i++) {
    snprintf(pre, sizeof pre, "img/Transformer/encoderblock_%d/LayerNorm_0", i);
    push_ln(l, pre, W);
    snprintf(pre, sizeof pre, "img/Transformer/encoderblock_%d/LayerNorm_1", i);
    push_ln(l, pre, W);
    snprintf(pre, sizeof pre, "img/Transformer/encoderblock_%d", i);
    push_mha(l, pre, W, H);
    push_mlp(l, pre, W, M);
  }
  push_ln(l, "img/Transformer/encoder_norm", W);
  if (!strcmp(cfg->pool, "map")) {
    push(l, "img/MAPHead_0/probe", INIT_XAVIER, 0, 1.0, (double)W, 3, 1, 1, W, 0);
    push_mha(l, "img/MAPHead_0", W, H);
    push_ln(l, "img/MAPHead_0/LayerNorm_0", W);
    push_mlp(l, "img/MAPHead_0", W, M);
  }
  if (cfg->out_dim > 0) {
    push(l, "img/head/kernel", INIT_LECUN, 0, (double)W, (double)cfg->out_dim, 2, W, cfg->out_dim,
         0, 0);
    push(l, "img/head/bias", INIT_ZERO, 0, 0, 0, 1, cfg->out_dim, 0, 0, 0);
  }
  push(l, "t", INIT_CONST, log(10.0), 0, 0, 1, 1, 0, 0, 0);
  if (l->oom) {
    free(l->v);
    memset(l, 0, sizeof *l);
    return clippo_fail(err, CLIPPO_E_NOMEM, "out of host memory");
  }
  return CLIPPO_OK;
}

clippo_status clippo_params_spec(const clippo_config *cfg, clippo_param_spec **specs, size_t *n,
                                 clippo_error *err) {
  *specs = NULL;
  *n = 0;
  spec_list l;
  clippo_status st = build_specs(cfg, &l, err);
  if (st) return st;
  clippo_param_spec *out = malloc((l.n ? l.n : 1) * sizeof *out);
  if (!out) {
    free(l.v);
    return clippo_fail(err, CLIPPO_E_NOMEM, "out of host memory");
  }
  for (size_t i = 0; i < l.n; i++) out[i] = l.v[i].s;
  free(l.v);
  *specs = out;
  *n = l.n;
  return CLIPPO_OK;
}

/* ---- inference and checking ---- */

static const clippo_array *find_arr(const clippo_params *p, const char *name) {
  clippo_param *it = clippo_params_find(p, name);
  return it ? &it->value : NULL;
}

clippo_status clippo_config_infer(const clippo_params *p, clippo_config *cfg, clippo_error *err) {
  clippo_config c;
  clippo_config_b16(&c);
  char sh[256];
  const clippo_array *a = find_arr(p, "img/embedding/kernel");
  if (!a)
    return clippo_fail(err, CLIPPO_E_NOTFOUND,
                       "cannot infer the config: missing parameter 'img/embedding/kernel'");
  if (a->ndim != 4 || a->shape[0] != a->shape[1] || a->shape[2] != 3 || a->shape[0] < 1 ||
      a->shape[0] > 1024 || a->shape[3] < 1 || a->shape[3] > 65536)
    return clippo_fail(err, CLIPPO_E_SHAPE,
                       "parameter 'img/embedding/kernel': expected (P, P, 3, W), got %s",
                       clippo_shape_str(a->shape, a->ndim, sh, sizeof sh));
  c.patch = (int)a->shape[0];
  c.width = (int)a->shape[3];
  char name[128];
  c.depth = 0;
  for (;;) {
    snprintf(name, sizeof name, "img/Transformer/encoderblock_%d/LayerNorm_0/scale", c.depth);
    if (!find_arr(p, name) || c.depth >= 1024) break;
    c.depth++;
  }
  if (find_arr(p, "img/MAPHead_0/probe"))
    strcpy(c.pool, "map");
  else if (find_arr(p, "img/cls"))
    strcpy(c.pool, "tok");
  else
    strcpy(c.pool, "gap");
  const char *blk = c.depth > 0 ? "img/Transformer/encoderblock_0" : "img/MAPHead_0";
  if (c.depth > 0 || !strcmp(c.pool, "map")) {
    snprintf(name, sizeof name, "%s/MultiHeadDotProductAttention_0/query/kernel", blk);
    a = find_arr(p, name);
    if (!a)
      return clippo_fail(err, CLIPPO_E_NOTFOUND, "cannot infer the config: missing parameter '%s'",
                         name);
    if (a->ndim != 3 || a->shape[0] != c.width || a->shape[1] < 1 ||
        a->shape[1] * a->shape[2] != c.width)
      return clippo_fail(err, CLIPPO_E_SHAPE, "parameter '%s': expected (%d, H, %d/H), got %s",
                         name, c.width, c.width,
                         clippo_shape_str(a->shape, a->ndim, sh, sizeof sh));
    c.heads = (int)a->shape[1];
    snprintf(name, sizeof name, "%s/MlpBlock_0/Dense_0/kernel", blk);
    a = find_arr(p, name);
    if (!a)
      return clippo_fail(err, CLIPPO_E_NOTFOUND, "cannot infer the config: missing parameter '%s'",
                         name);
    if (a->ndim != 2 || a->shape[0] != c.width || a->shape[1] < 1 || a->shape[1] > (1 << 20))
      return clippo_fail(err, CLIPPO_E_SHAPE, "parameter '%s': expected (%d, M), got %s", name,
                         c.width, clippo_shape_str(a->shape, a->ndim, sh, sizeof sh));
    c.mlp_dim = (int)a->shape[1];
  } else {
    c.heads = 1;
    c.mlp_dim = 4 * c.width;
  }
  a = find_arr(p, "img/pos_embedding");
  if (!a)
    return clippo_fail(err, CLIPPO_E_NOTFOUND,
                       "cannot infer the config: missing parameter 'img/pos_embedding'");
  int64_t g = a->ndim == 3 ? (int64_t)llround(sqrt((double)a->shape[1])) : -1;
  if (a->ndim != 3 || a->shape[0] != 1 || a->shape[2] != c.width || a->shape[1] < 1 ||
      g * g != a->shape[1] || g * c.patch > 16384)
    return clippo_fail(err, CLIPPO_E_SHAPE,
                       "parameter 'img/pos_embedding': expected (1, tokens, %d) with a square "
                       "number of tokens, got %s",
                       c.width, clippo_shape_str(a->shape, a->ndim, sh, sizeof sh));
  c.image_size = (int)g * c.patch;
  a = find_arr(p, "img/head/kernel");
  if (a) {
    if (a->ndim != 2 || a->shape[0] != c.width || a->shape[1] < 1 || a->shape[1] > (1 << 20))
      return clippo_fail(err, CLIPPO_E_SHAPE,
                         "parameter 'img/head/kernel': expected (%d, out_dim), got %s", c.width,
                         clippo_shape_str(a->shape, a->ndim, sh, sizeof sh));
    c.out_dim = (int)a->shape[1];
  } else {
    c.out_dim = 0;
  }
  clippo_status st = clippo_config_validate(&c, err);
  if (st) return clippo_error_prefix(err, "inferred config");
  *cfg = c;
  return CLIPPO_OK;
}

clippo_status clippo_params_check(const clippo_params *p, const clippo_config *cfg,
                                  clippo_error *err) {
  spec_list l;
  clippo_status st = build_specs(cfg, &l, err);
  if (st) return st;
  for (size_t i = 0; i < l.n && !st; i++) {
    if (!clippo_params_get(p, l.v[i].s.name, l.v[i].s.ndim, l.v[i].s.shape, err))
      st = err ? err->status : CLIPPO_E_SHAPE;
  }
  if (!st && p->count != l.n) {
    /* Names are unique in p, so more entries than specs means some are not expected. */
    for (size_t j = 0; j < p->count && !st; j++) {
      int known = 0;
      for (size_t i = 0; i < l.n && !known; i++) known = !strcmp(p->items[j].name, l.v[i].s.name);
      if (!known) {
        char sh[256];
        st = clippo_fail(
            err, CLIPPO_E_FORMAT,
            "unexpected parameter '%s' %s (not part of a %d-block %s-pool model "
            "with out_dim %d)",
            p->items[j].name,
            clippo_shape_str(p->items[j].value.shape, p->items[j].value.ndim, sh, sizeof sh),
            cfg->depth, cfg->pool, cfg->out_dim);
      }
    }
    if (!st)
      st = clippo_fail(err, CLIPPO_E_FORMAT, "parameter count %zu differs from the expected %zu",
                       p->count, l.n);
  }
  free(l.v);
  return st;
}

/* ---- initialisation ---- */

typedef struct rng {
  uint64_t s[4];
} rng;

static uint64_t splitmix(uint64_t *x) {
  uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

/* xoshiro256**. */
static uint64_t rng_next(rng *r) {
  uint64_t *s = r->s;
  uint64_t out = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = rotl(s[3], 45);
  return out;
}

static void rng_seed(rng *r, uint64_t seed, const char *name) {
  uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a of the name */
  for (const char *c = name; *c; c++) h = (h ^ (unsigned char)*c) * 0x100000001b3ull;
  uint64_t x = seed ^ rotl(h, 17);
  for (int i = 0; i < 4; i++) r->s[i] = splitmix(&x);
}

/* Uniform in (0, 1). */
static double rng_unit(rng *r) { return ((double)(rng_next(r) >> 11) + 0.5) * 0x1.0p-53; }

static double rng_normal(rng *r) {
  double u = rng_unit(r), v = rng_unit(r);
  return sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v);
}

clippo_status clippo_params_init(clippo_params *p, const clippo_config *cfg, uint64_t seed,
                                 clippo_error *err) {
  if (p->count)
    return clippo_fail(err, CLIPPO_E_ARG, "clippo_params_init needs an empty parameter set");
  spec_list l;
  clippo_status st = build_specs(cfg, &l, err);
  if (st) return st;
  for (size_t i = 0; i < l.n && !st; i++) {
    const spec_ex *e = &l.v[i];
    clippo_array a;
    if ((st = clippo_array_alloc(&a, CLIPPO_F32, e->s.ndim, e->s.shape, err))) break;
    float *x = a.data;
    size_t n = clippo_array_count(&a);
    rng r;
    rng_seed(&r, seed, e->s.name);
    /* flax lecun_normal: truncated normal on [-2, 2] rescaled to unit variance. */
    double lecun = sqrt(1.0 / e->fan_in) / 0.87962566103423978;
    double xav = sqrt(6.0 / (e->fan_in + e->fan_out));
    switch (e->init) {
    case INIT_ZERO: break; /* calloc'ed */
    case INIT_ONE:
    case INIT_CONST: {
      float v = e->init == INIT_ONE ? 1.0f : (float)e->std;
      for (size_t k = 0; k < n; k++) x[k] = v;
      break;
    }
    case INIT_NORMAL:
      for (size_t k = 0; k < n; k++) x[k] = (float)(e->std * rng_normal(&r));
      break;
    case INIT_LECUN:
      for (size_t k = 0; k < n; k++) {
        double v;
        do v = rng_normal(&r);
        while (v < -2.0 || v > 2.0);
        x[k] = (float)(v * lecun);
      }
      break;
    case INIT_XAVIER: {
      /* The bulk of every model: xoshiro256** written out in the loop (fast without -O). */
      uint64_t s0 = r.s[0], s1 = r.s[1], s2 = r.s[2], s3 = r.s[3];
      const double scale = 2.0 * xav * 0x1.0p-53;
      for (size_t k = 0; k < n; k++) {
        uint64_t o = s1 * 5;
        o = ((o << 7) | (o >> 57)) * 9;
        uint64_t t = s1 << 17;
        s2 ^= s0;
        s3 ^= s1;
        s1 ^= s2;
        s0 ^= s3;
        s2 ^= t;
        s3 = (s3 << 45) | (s3 >> 19);
        x[k] = (float)(((double)(o >> 11) + 0.5) * scale - xav);
      }
      break;
    }
    }
    st = clippo_params_add(p, e->s.name, &a, err);
  }
  free(l.v);
  if (st) clippo_params_free(p);
  return st;
}

/* Linear interpolation weights of output index i of n_out over n_in points, grid corners to
 * corners (scipy.ndimage.zoom, order 1, grid_mode False). */
static void zoom_coord(int i, int n_in, int n_out, int *lo, int *hi, double *frac) {
  double x = n_out > 1 ? (double)i * (double)(n_in - 1) / (double)(n_out - 1) : 0.0;
  int l = (int)floor(x);
  if (l > n_in - 1) l = n_in - 1;
  *lo = l;
  *hi = l + 1 < n_in ? l + 1 : l;
  *frac = x - (double)l;
}

clippo_status clippo_params_resample_posemb(clippo_params *p, clippo_config *cfg, int image_size,
                                            clippo_error *err) {
  if (image_size <= 0 || image_size % cfg->patch != 0 || image_size > 1 << 14)
    return clippo_fail(err, CLIPPO_E_ARG,
                       "image size %d: must be a positive multiple of the patch size %d",
                       image_size, cfg->patch);
  if (image_size == cfg->image_size) return CLIPPO_OK;
  const int g_old = cfg->image_size / cfg->patch, g_new = image_size / cfg->patch;
  const int64_t W = cfg->width;
  const int64_t old_shape[3] = {1, (int64_t)g_old * g_old, W};
  const float *old = clippo_params_get(p, "img/pos_embedding", 3, old_shape, err);
  if (!old) return err ? err->status : CLIPPO_E_SHAPE;
  clippo_array a = {0};
  const int64_t new_shape[3] = {1, (int64_t)g_new * g_new, W};
  clippo_status st = clippo_array_alloc(&a, CLIPPO_F32, 3, new_shape, err);
  if (st) return st;
  float *dst = a.data;
  for (int y = 0; y < g_new; y++) {
    int y0, y1, x0, x1;
    double fy, fx;
    zoom_coord(y, g_old, g_new, &y0, &y1, &fy);
    for (int x = 0; x < g_new; x++) {
      zoom_coord(x, g_old, g_new, &x0, &x1, &fx);
      const float *a00 = old + ((int64_t)y0 * g_old + x0) * W,
                  *a01 = old + ((int64_t)y0 * g_old + x1) * W;
      const float *a10 = old + ((int64_t)y1 * g_old + x0) * W,
                  *a11 = old + ((int64_t)y1 * g_old + x1) * W;
      float *o = dst + ((int64_t)y * g_new + x) * W;
      for (int64_t c = 0; c < W; c++) {
        double top = (1.0 - fx) * a00[c] + fx * a01[c];
        double bot = (1.0 - fx) * a10[c] + fx * a11[c];
        o[c] = (float)((1.0 - fy) * top + fy * bot);
      }
    }
  }
  clippo_param *it = clippo_params_find(p, "img/pos_embedding");
  clippo_array_free(&it->value);
  it->value = a;
  cfg->image_size = image_size;
  return CLIPPO_OK;
}
