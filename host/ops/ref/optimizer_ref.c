/* Float32 host reference of one Adafactor step (kernels/optimizer.cl, host/train/optimizer.c):
 * big_vision's chain (REFERENCE.md §6) on named host arrays, with the device's arithmetic order.
 * It is itself checked against big_vision's own state after 3 steps
 * (tests/test_bigvision_adafactor.c, ../shared/fixtures/bigvision_adafactor), and
 * tests/test_optimizer.c checks the device against it on shapes and settings the fixture lacks.
 * SGD and AdamW have no reference here: tests/test_optimizer.c checks them against optax's
 * formulas directly. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clippo/train.h"

static float ref_bf16(float x) { return clippo_bf16_to_float(clippo_float_to_bf16(x)); }

/* The named state array, created zeroed (dtype, shape) when missing. */
static clippo_status state_get(clippo_params *st, const char *prefix, const char *name,
                               clippo_dtype dt, int ndim, const int64_t *shape, void **data,
                               clippo_error *err) {
  char key[1024];
  snprintf(key, sizeof key, "%s/%s", prefix, name);
  clippo_param *p = clippo_params_find(st, key);
  if (!p) {
    clippo_array a = {0};
    clippo_status s = clippo_array_alloc(&a, dt, ndim, shape, err);
    if (s == CLIPPO_OK) s = clippo_params_add(st, key, &a, err);
    if (s != CLIPPO_OK) return s;
    p = clippo_params_find(st, key);
    if (!p) return clippo_fail(err, CLIPPO_E_ARG, "reference optimizer: state %s not added", key);
  }
  if (!p->value.data || p->value.dtype != dt || p->value.ndim != ndim ||
      memcmp(p->value.shape, shape, (size_t)ndim * sizeof *shape) != 0)
    return clippo_fail(err, CLIPPO_E_SHAPE, "reference optimizer: state %s has the wrong shape",
                       key);
  *data = p->value.data;
  return CLIPPO_OK;
}

static float finish(float u, float p, float lr, float wd, float sched) {
  float upd = u * lr;
  if (wd != 0.0f) upd = upd + wd * p;
  upd = upd * sched;
  return p - upd;
}

static float momentum(float u, uint16_t *m, size_t i, int has, float b, float omb) {
  if (!has) return u;
  /* compiled optax.ema: the product stays float32 (REFERENCE.md §6), only the state is bf16 */
  float prod = b * clippo_bf16_to_float(m[i]);
  float mn = omb * u + prod;
  m[i] = clippo_float_to_bf16(mn);
  return mn;
}

clippo_status clippo_ref_adafactor_step(const clippo_opt_config *cfg, size_t n,
                                        const char *const *names, clippo_array *params,
                                        const clippo_array *grads, clippo_params *state,
                                        clippo_opt_stats *stats, clippo_error *err) {
  clippo_status s;
  if (cfg->kind != CLIPPO_OPT_ADAFACTOR)
    return clippo_fail(err, CLIPPO_E_UNSUPPORTED, "reference optimizer: only adafactor, not %s",
                       clippo_opt_name(cfg->kind));
  clippo_param *cp = clippo_params_find(state, "count");
  if (!cp) {
    clippo_array a = {0};
    int64_t one[1] = {1};
    if ((s = clippo_array_alloc(&a, CLIPPO_I64, 1, one, err))) return s;
    if ((s = clippo_params_add(state, "count", &a, err))) return s;
    cp = clippo_params_find(state, "count");
    if (!cp) return clippo_fail(err, CLIPPO_E_ARG, "reference optimizer: 'count' not added");
  }
  if (!cp->value.data || cp->value.dtype != CLIPPO_I64 || clippo_array_count(&cp->value) != 1)
    return clippo_fail(err, CLIPPO_E_SHAPE, "reference optimizer: 'count' must be one int64");
  void *cptr = cp->value.data;
  int64_t count = *(int64_t *)cptr;

  double ss = 0.0;
  for (size_t i = 0; i < n; i++) {
    const float *g = grads[i].data;
    size_t cnt = clippo_array_count(&grads[i]);
    for (size_t k = 0; k < cnt; k++) ss += (double)g[k] * g[k];
  }
  double gn = sqrt(ss);
  if (!isfinite(gn)) return clippo_fail(err, CLIPPO_E_NUMERIC, "reference: gradient norm %g", gn);
  const float gnf = (float)gn, maxn = cfg->clip_norm;
  const int clip = cfg->clip_norm > 0.0f && !(gnf < maxn);
  const float lr = cfg->lr;
  const float sched = (float)clippo_schedule_value(&cfg->schedule, count);
  float t = (float)(count + 1);
  float d = 1.0f - powf(t, -cfg->decay_rate);
  const float decay = d < cfg->beta2_cap ? d : cfg->beta2_cap, omd = 1.0f - decay;
  const int has_mom = cfg->momentum != 0.0;
  const float mb = ref_bf16((float)cfg->momentum), momb = (float)(1.0 - cfg->momentum);

  for (size_t i = 0; i < n; i++) {
    clippo_array *pa = &params[i];
    const clippo_array *ga = &grads[i];
    float *p = pa->data;
    const size_t cnt = clippo_array_count(pa);
    if (pa->dtype != CLIPPO_F32 || ga->dtype != CLIPPO_F32 || clippo_array_count(ga) != cnt)
      return clippo_fail(err, CLIPPO_E_SHAPE, "reference: %s: param/grad mismatch", names[i]);
    size_t nl = strlen(names[i]);
    const float wd = (nl >= 7 && !strcmp(names[i] + nl - 7, "/kernel")) ? cfg->weight_decay : 0.0f;
    float *g = malloc((cnt ? cnt : 1) * sizeof *g);
    if (!g) return clippo_fail(err, CLIPPO_E_NOMEM, "reference: out of memory");
    const float *g0 = ga->data;
    for (size_t k = 0; k < cnt; k++) g[k] = clip ? (g0[k] / gnf) * maxn : g0[k];
    s = CLIPPO_OK;
    {
      uint16_t *m = NULL;
      if (has_mom)
        s = state_get(state, "adafactor/m", names[i], CLIPPO_BF16, pa->ndim, pa->shape, (void **)&m,
                      err);
      int d0 = 0, d1 = 0;
      int fac = clippo_adafactor_factored_dims(pa->ndim, pa->shape, cfg->min_dim_size_to_factor,
                                               &d1, &d0);
      if (!s && !fac) {
        float *v = NULL;
        s = state_get(state, "adafactor/v", names[i], CLIPPO_F32, pa->ndim, pa->shape, (void **)&v,
                      err);
        for (size_t k = 0; !s && k < cnt; k++) {
          v[k] = decay * v[k] + omd * (g[k] * g[k] + cfg->eps);
          float u = g[k] * (1.0f / sqrtf(v[k]));
          u = momentum(u, m, k, has_mom, mb, momb);
          p[k] = finish(u, p[k], lr, wd, sched);
        }
      } else if (!s) {
        /* generic N-d: strides of the parameter; v_row drops d0, v_col drops d1 */
        int nd = pa->ndim;
        int64_t rs[CLIPPO_MAX_DIMS] = {0}, cs[CLIPPO_MAX_DIMS] = {0};
        for (int a = 0, k = 0; a < nd; a++)
          if (a != d0) rs[k++] = pa->shape[a];
        for (int a = 0, k = 0; a < nd; a++)
          if (a != d1) cs[k++] = pa->shape[a];
        float *vr = NULL, *vc = NULL;
        s = state_get(state, "adafactor/v_row", names[i], CLIPPO_F32, nd - 1, rs, (void **)&vr,
                      err);
        if (!s)
          s = state_get(state, "adafactor/v_col", names[i], CLIPPO_F32, nd - 1, cs, (void **)&vc,
                        err);
        size_t nr = 1, nc = 1;
        for (int a = 0; a < nd - 1; a++) nr *= (size_t)rs[a], nc *= (size_t)cs[a];
        float *sr = calloc(nr, sizeof *sr), *sc = calloc(nc, sizeof *sc);
        /* row mean over d1 inside v_row: index of v_row without its d1 axis */
        int d1r = d1 > d0 ? d1 - 1 : d1;
        size_t nm = rs[d1r] > 0 ? nr / (size_t)rs[d1r] : 0; /* no division by a 0 dimension */
        float *rm = calloc(nm ? nm : 1, sizeof *rm);
        if (!s && (!sr || !sc || !rm)) s = clippo_fail(err, CLIPPO_E_NOMEM, "reference: memory");
        size_t idx[CLIPPO_MAX_DIMS];
        /* index helpers */
#define FLAT_DROP(out, drop)                                                                       \
  do {                                                                                             \
    size_t f_ = 0;                                                                                 \
    for (int a_ = 0; a_ < nd; a_++)                                                                \
      if (a_ != (drop)) f_ = f_ * (size_t)pa->shape[a_] + idx[a_];                                 \
    (out) = f_;                                                                                    \
  } while (0)
#define UNFLAT(e)                                                                                  \
  do {                                                                                             \
    size_t t_ = (e);                                                                               \
    for (int a_ = nd - 1; a_ >= 0; a_--) {                                                         \
      idx[a_] = t_ % (size_t)pa->shape[a_];                                                        \
      t_ /= (size_t)pa->shape[a_];                                                                 \
    }                                                                                              \
  } while (0)
        if (!s) {
          /* sums in the kernels' order: increasing index along the reduced axis */
          for (size_t e = 0; e < cnt; e++) {
            UNFLAT(e);
            size_t ir, ic;
            FLAT_DROP(ir, d0);
            FLAT_DROP(ic, d1);
            float q = g[e] * g[e] + cfg->eps;
            sr[ir] += q;
            sc[ic] += q;
          }
          for (size_t k = 0; k < nr; k++)
            vr[k] = decay * vr[k] + omd * (sr[k] / (float)pa->shape[d0]);
          for (size_t k = 0; k < nc; k++)
            vc[k] = decay * vc[k] + omd * (sc[k] / (float)pa->shape[d1]);
          /* mean of v_row over its d1 axis */
          for (size_t k = 0; k < nr; k++) {
            size_t t2 = k, f = 0, mul = 1;
            for (int a = nd - 2; a >= 0; a--) {
              /* k < nr = the product of rs[]: no rs[a] is 0 here */
              size_t ix = t2 % (size_t)rs[a]; // NOLINT(clang-analyzer-core.DivideZero)
              t2 /= (size_t)rs[a];
              if (a != d1r) {
                f += ix * mul;
                mul *= (size_t)rs[a];
              }
            }
            rm[f] += vr[k];
          }
          for (size_t k = 0; k < nm; k++) rm[k] = rm[k] / (float)rs[d1r];
          for (size_t e = 0; e < cnt; e++) {
            UNFLAT(e);
            size_t ir, ic, im = 0;
            FLAT_DROP(ir, d0);
            FLAT_DROP(ic, d1);
            for (int a = 0; a < nd; a++)
              if (a != d0 && a != d1) im = im * (size_t)pa->shape[a] + idx[a];
            float rf = 1.0f / sqrtf(vr[ir] / rm[im]);
            float cf = 1.0f / sqrtf(vc[ic]);
            float u = g[e] * rf * cf;
            u = momentum(u, m, e, has_mom, mb, momb);
            p[e] = finish(u, p[e], lr, wd, sched);
          }
        }
#undef FLAT_DROP
#undef UNFLAT
        free(sr);
        free(sc);
        free(rm);
      }
    }
    free(g);
    if (s) return s;
  }
  *(int64_t *)clippo_params_find(state, "count")->value.data = count + 1;
  if (stats) {
    stats->step = count;
    stats->grad_norm = gn;
    stats->sched = sched;
    stats->lr = (double)lr * sched;
    stats->clipped = clip;
  }
  return CLIPPO_OK;
}
