/* Optimizers (kernels/optimizer.cl, host/train/optimizer.c) on random parameters and gradients,
 * every device: sgd and adamw against optax's formulas evaluated here in double; adafactor with
 * factored (2-D, 3-D with either axis order) and unfactored arrays against the float32 host
 * reference (host/ops/ref/optimizer_ref.c, itself checked against big_vision by
 * tests/test_bigvision_adafactor.c); clipping on and off, weight decay only on ".../kernel".
 * Tolerances: parameters 1e-6 relative, their updates 1e-4, second moments 1e-5; bfloat16
 * momentum bits equal (at most 1 ulp on a rare rounding boundary). Also: optax's factored dims,
 * the schedules, export/import resuming bit for bit, a NaN gradient stopping the step. */
#include "support.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clippo/train.h"

static void test_factored_dims(void **state) {
  (void)state;
  struct {
    int64_t shape[4];
    int ndim, ok, d1, d0;
  } cases[] = {
      {{768, 3072}, 2, 1, 0, 1},   {{768, 12, 64}, 3, 1, 2, 0},
      {{12, 64, 768}, 3, 1, 1, 2}, {{16, 16, 3, 768}, 4, 0, 0, 0},
      {{1, 196, 768}, 3, 1, 1, 2}, {{64, 64}, 2, 1, 0, 1},
      {{768}, 1, 0, 0, 0},         {{1, 1, 768}, 3, 0, 0, 0},
      {{31, 500}, 2, 0, 0, 0},     {{32, 500}, 2, 1, 0, 1},
      {{64, 4, 16}, 3, 0, 0, 0},   {{40, 40, 40}, 3, 1, 1, 2},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    int d1 = -1, d0 = -1;
    int ok = clippo_adafactor_factored_dims(cases[i].ndim, cases[i].shape, 32, &d1, &d0);
    assert_int_equal(ok, cases[i].ok);
    if (ok) {
      assert_int_equal(d1, cases[i].d1);
      assert_int_equal(d0, cases[i].d0);
    }
  }
}

static void test_schedules(void **state) {
  (void)state;
  clippo_schedule s = {0};
  s.kind = CLIPPO_SCHED_RSQRT;
  s.total_steps = 100000;
  s.warmup_steps = 10000;
  s.cooldown_steps = 10000;
  s.timescale = 10000;
  clippo_error err;
  TEST_OK(clippo_schedule_check(&s, &err), &err);
  /* REFERENCE §6: min(1, c/warm) * (c > warm ? 1/sqrt((c + ts - warm)/ts) : 1) * min(1, (T-c)/cool)
   */
  int64_t steps[] = {0, 1, 5000, 10000, 10001, 20000, 50000, 95000, 99999, 100000};
  for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
    double c = (double)steps[i];
    double want = fmin(1.0, c / 10000.0) *
                  (c > 10000 ? 1.0 / sqrt((c + 10000 - 10000) / 10000.0) : 1.0) *
                  fmin(1.0, (100000 - c) / 10000.0);
    double got = clippo_schedule_value(&s, steps[i]);
    assert_true(fabs(got - want) < 1e-12);
  }
  s.kind = CLIPPO_SCHED_COSINE;
  s.warmup_steps = 10;
  s.cooldown_steps = 0;
  s.total_steps = 110;
  assert_true(clippo_schedule_value(&s, 0) == 0.0);
  assert_true(fabs(clippo_schedule_value(&s, 5) - 0.5) < 1e-12);
  assert_true(fabs(clippo_schedule_value(&s, 10) - 1.0) < 1e-12);
  assert_true(fabs(clippo_schedule_value(&s, 60) - 0.5) < 1e-12);
  assert_true(fabs(clippo_schedule_value(&s, 110)) < 1e-12);
  s.kind = CLIPPO_SCHED_LINEAR;
  s.linear_end = 0.1;
  assert_true(fabs(clippo_schedule_value(&s, 60) - 0.55) < 1e-12);
  s.kind = CLIPPO_SCHED_CONSTANT;
  s.warmup_steps = 0;
  assert_true(clippo_schedule_value(&s, 0) == 1.0 && clippo_schedule_value(&s, 109) == 1.0);
  s.warmup_steps = 110;
  assert_int_equal(clippo_schedule_check(&s, &err), CLIPPO_E_ARG);
  clippo_sched_kind k;
  TEST_OK(clippo_sched_parse("rsqrt", &k, &err), &err);
  assert_int_equal(k, CLIPPO_SCHED_RSQRT);
  assert_int_equal(clippo_sched_parse("exp", &k, &err), CLIPPO_E_ARG);
}

/* ---- device vs reference ------------------------------------------------------------------- */

#define NP 7
static const char *const pnames[NP] = {"a/kernel", "b/kernel", "c/kernel", "d/kernel",
                                       "d/bias",   "e/kernel", "t"};
static const int pndim[NP] = {2, 3, 3, 3, 1, 4, 1};
static const int64_t pshape[NP][4] = {{40, 48}, {36, 3, 40},   {5, 33, 64}, {64, 5, 33},
                                      {48},     {8, 8, 3, 16}, {1}};

/* Factored arrays with axes after the second factored one (C > 1), one also with axes before
 * (A > 1) and between (B > 1): the layouts the model's kernels do not have. */
#define NL 3
static const char *const lnames[NL] = {"f/kernel", "g/kernel", "h/kernel"};
static const int lndim[NL] = {4, 4, 4};
static const int64_t lshape[NL][4] = {{40, 2, 36, 3}, {3, 40, 36, 2}, {2, 33, 3, 40}};

#define NP_MAX 7 /* the larger set */

/* A set of parameters: names, ranks and shapes. */
typedef struct param_set {
  int n;
  const char *const *names;
  const int *ndim;
  const int64_t (*shape)[4];
} param_set;

typedef struct opt_case {
  clippo_opt_kind kind;
  float clip, wd, lr;
  clippo_sched_kind sched;
  int64_t warmup;
  double momentum;
} opt_case;

static void fill_normal(test_rng *r, clippo_array *a, float mean, float sd) {
  float *x = a->data;
  for (size_t i = 0; i < clippo_array_count(a); i++) x[i] = mean + sd * test_rng_normal(r);
}

static double rel_f32(const float *a, const float *b, size_t n) {
  return test_rel_err_f32(a, b, n);
}

/* Compares the exported device state with the reference state. */
static void compare_state(const clippo_params *dev, const clippo_params *ref, const char *what) {
  for (size_t i = 0; i < ref->count; i++) {
    const clippo_param *r = &ref->items[i];
    const clippo_param *d = clippo_params_find(dev, r->name);
    if (!d) fail_msg("%s: device state has no '%s'", what, r->name);
    assert_int_equal(d->value.dtype, r->value.dtype);
    assert_int_equal(d->value.ndim, r->value.ndim);
    for (int k = 0; k < r->value.ndim; k++) assert_int_equal(d->value.shape[k], r->value.shape[k]);
    size_t n = clippo_array_count(&r->value);
    if (r->value.dtype == CLIPPO_I64) {
      assert_int_equal(((int64_t *)d->value.data)[0], ((int64_t *)r->value.data)[0]);
    } else if (r->value.dtype == CLIPPO_BF16) {
      const uint16_t *a = d->value.data, *b = r->value.data;
      size_t diff = 0;
      for (size_t k = 0; k < n; k++) {
        int dd = (int)a[k] - (int)b[k];
        if (dd) diff++;
        if (dd > 1 || dd < -1)
          fail_msg("%s: %s[%zu] bf16 %04x vs %04x", what, r->name, k, a[k], b[k]);
      }
      if (diff * 100 > n) fail_msg("%s: %s: %zu of %zu bf16 values differ", what, r->name, diff, n);
    } else {
      double e = rel_f32(d->value.data, r->value.data, n);
      if (!(e <= 1e-5)) fail_msg("%s: state %s rel err %.3g", what, r->name, e);
    }
  }
  /* and nothing more than the reference has */
  assert_int_equal(dev->count, ref->count);
}

/* The state array prefix/name of *st as float32 (created zeroed). */
static float *host_state(clippo_params *st, const char *prefix, const char *name,
                         const clippo_array *like) {
  char key[256];
  snprintf(key, sizeof key, "%s/%s", prefix, name);
  clippo_param *p = clippo_params_find(st, key);
  if (!p) {
    clippo_error err;
    clippo_array a = {0};
    TEST_OK(clippo_array_alloc(&a, CLIPPO_F32, like->ndim, like->shape, &err), &err);
    memset(a.data, 0, clippo_array_count(&a) * sizeof(float));
    TEST_OK(clippo_params_add(st, key, &a, &err), &err);
    p = clippo_params_find(st, key);
  }
  assert_non_null(p);
  return p->value.data;
}

/* One sgd or adamw step as optax writes it (clip_by_global_norm -> identity | scale_by_adam ->
 * x lr -> + wd p for ".../kernel" -> x schedule -> x -1), in double, on host arrays; the state
 * ("count", "adam/mu/<p>", "adam/nu/<p>") is kept in float32 as the device keeps it. */
static void host_step(const clippo_opt_config *cfg, const param_set *ps, clippo_array *hp,
                      const clippo_array *hg, clippo_params *st, clippo_opt_stats *stats) {
  clippo_error err;
  clippo_param *cp = clippo_params_find(st, "count");
  if (!cp) {
    clippo_array a = {0};
    int64_t one[1] = {1};
    TEST_OK(clippo_array_alloc(&a, CLIPPO_I64, 1, one, &err), &err);
    ((int64_t *)a.data)[0] = 0;
    TEST_OK(clippo_params_add(st, "count", &a, &err), &err);
    cp = clippo_params_find(st, "count");
  }
  int64_t count = ((int64_t *)cp->value.data)[0];
  double gn = 0.0;
  for (int i = 0; i < ps->n; i++)
    for (size_t k = 0; k < clippo_array_count(&hg[i]); k++)
      gn += (double)((float *)hg[i].data)[k] * ((float *)hg[i].data)[k];
  gn = sqrt(gn);
  const int clip = cfg->clip_norm > 0.0f && !(gn < cfg->clip_norm);
  const double sched = clippo_schedule_value(&cfg->schedule, count);
  const double bc1 = 1.0 - pow(cfg->b1, (double)(count + 1));
  const double bc2 = 1.0 - pow(cfg->b2, (double)(count + 1));
  for (int i = 0; i < ps->n; i++) {
    float *p = hp[i].data;
    const float *g0 = hg[i].data;
    size_t nl = strlen(ps->names[i]);
    double wd = nl >= 7 && !strcmp(ps->names[i] + nl - 7, "/kernel") ? cfg->weight_decay : 0.0;
    float *mu = NULL, *nu = NULL;
    if (cfg->kind == CLIPPO_OPT_ADAMW) {
      mu = host_state(st, "adam/mu", ps->names[i], &hp[i]);
      nu = host_state(st, "adam/nu", ps->names[i], &hp[i]);
    }
    for (size_t k = 0; k < clippo_array_count(&hp[i]); k++) {
      double g = clip ? (double)g0[k] / gn * cfg->clip_norm : (double)g0[k];
      double u = g;
      if (cfg->kind == CLIPPO_OPT_ADAMW) {
        double m = cfg->b1 * mu[k] + (1.0 - cfg->b1) * g;
        double v = cfg->b2 * nu[k] + (1.0 - cfg->b2) * g * g;
        mu[k] = (float)m;
        nu[k] = (float)v;
        u = (m / bc1) / (sqrt(v / bc2) + cfg->adam_eps);
      }
      p[k] = (float)((double)p[k] - sched * ((double)cfg->lr * u + wd * p[k]));
    }
  }
  ((int64_t *)cp->value.data)[0] = count + 1;
  stats->step = count;
  stats->grad_norm = gn;
  stats->sched = sched;
  stats->lr = cfg->lr * sched;
  stats->clipped = clip;
}

static void run_case(clippo_rt *rt, const opt_case *oc, const param_set *ps, int steps) {
  const int np = ps->n;
  clippo_error err;
  test_rng rng;
  test_rng_seed(&rng, 700 + (uint64_t)oc->kind * 10 + (oc->clip > 0));
  clippo_opt_config cfg;
  clippo_opt_config_default(&cfg, oc->kind);
  cfg.clip_norm = oc->clip;
  cfg.weight_decay = oc->wd;
  cfg.lr = oc->lr;
  cfg.schedule.kind = oc->sched;
  cfg.schedule.total_steps = 10;
  cfg.schedule.warmup_steps = oc->warmup;
  cfg.schedule.cooldown_steps = 2;
  cfg.schedule.timescale = 3;
  cfg.momentum = oc->momentum;
  clippo_array hp[NP_MAX], hg[NP_MAX];
  clippo_tensor tp[NP_MAX], tg[NP_MAX];
  clippo_tensor *pp[NP_MAX], *pg[NP_MAX];
  for (int i = 0; i < np; i++) {
    memset(&hp[i], 0, sizeof hp[i]);
    memset(&hg[i], 0, sizeof hg[i]);
    TEST_OK(clippo_array_alloc(&hp[i], CLIPPO_F32, ps->ndim[i], ps->shape[i], &err), &err);
    TEST_OK(clippo_array_alloc(&hg[i], CLIPPO_F32, ps->ndim[i], ps->shape[i], &err), &err);
    fill_normal(&rng, &hp[i], 0.1f, 1.0f);
    TEST_OK(clippo_tensor_from_array(rt, &tp[i], &hp[i], &err), &err);
    TEST_OK(clippo_tensor_alloc(rt, &tg[i], CLIPPO_F32, ps->ndim[i], ps->shape[i], &err), &err);
    pp[i] = &tp[i];
    pg[i] = &tg[i];
  }
  clippo_optimizer *o = NULL;
  TEST_OK(clippo_optimizer_create(rt, &cfg, np, ps->names, pp, &o, &err), &err);
  clippo_params ref_state = {0};
  for (int s = 0; s < steps; s++) {
    for (int i = 0; i < np; i++) {
      /* gradients of mixed magnitudes, some tiny (eps matters less), per step different */
      fill_normal(&rng, &hg[i], 0.0f, i == 4 ? 1e-3f : 0.3f);
      TEST_OK(clippo_tensor_write(rt, &tg[i], hg[i].data, &err), &err);
    }
    clippo_opt_stats ds, rs;
    TEST_OK(clippo_optimizer_step(o, pp, pg, &ds, &err), &err);
    float *before[NP_MAX];
    for (int i = 0; i < np; i++) {
      size_t n = clippo_array_count(&hp[i]);
      before[i] = malloc(n * sizeof(float));
      memcpy(before[i], hp[i].data, n * sizeof(float));
    }
    if (oc->kind == CLIPPO_OPT_ADAFACTOR) {
      TEST_OK(clippo_ref_adafactor_step(&cfg, np, ps->names, hp, hg, &ref_state, &rs, &err), &err);
      assert_true(ds.sched == rs.sched);
    } else {
      host_step(&cfg, ps, hp, hg, &ref_state, &rs);
      assert_true(fabs(ds.sched - rs.sched) <= 1e-7 * fabs(rs.sched));
    }
    assert_int_equal(ds.step, s);
    assert_int_equal(ds.clipped, rs.clipped);
    assert_true(fabs(ds.grad_norm - rs.grad_norm) <= 1e-5 * rs.grad_norm);
    if (oc->clip > 0) assert_true(ds.clipped); /* the clip norms used here are small */
    for (int i = 0; i < np; i++) {
      size_t n = clippo_array_count(&hp[i]);
      float *got = malloc(n * sizeof(float));
      TEST_OK(clippo_tensor_read(rt, &tp[i], got, &err), &err);
      double e = rel_f32(got, hp[i].data, n);
      /* the update p_new - p_old on both sides */
      double num = 0, den = 0;
      for (size_t k = 0; k < n; k++) {
        double du = (double)got[k] - before[i][k],
               dr = (double)((float *)hp[i].data)[k] - before[i][k];
        num += (du - dr) * (du - dr);
        den += dr * dr;
      }
      double eu = den > 0 ? sqrt(num / den) : sqrt(num);
      print_message("[ %-9s] step %d %-9s param rel %.3g update rel %.3g%s\n",
                    clippo_opt_name(oc->kind), s, ps->names[i], e, eu,
                    ds.clipped ? " (clipped)" : "");
      if (!(e <= 1e-6) || !(eu <= 1e-4))
        fail_msg("%s step %d %s: param rel %.3g, update rel %.3g", clippo_opt_name(oc->kind), s,
                 ps->names[i], e, eu);
      if (s == 0 && ds.sched == 0.0f) assert_true(eu == 0.0); /* warmup: first step does nothing */
      free(got);
      free(before[i]);
    }
  }
  clippo_params dev_state = {0};
  TEST_OK(clippo_optimizer_export(o, &dev_state, &err), &err);
  compare_state(&dev_state, &ref_state, clippo_opt_name(oc->kind));
  /* names of the state as documented */
  if (oc->kind == CLIPPO_OPT_ADAFACTOR && ps->names == pnames) {
    assert_non_null(clippo_params_find(&dev_state, "adafactor/v_row/a/kernel"));
    assert_non_null(clippo_params_find(&dev_state, "adafactor/v_col/a/kernel"));
    assert_null(clippo_params_find(&dev_state, "adafactor/v/a/kernel"));
    assert_non_null(clippo_params_find(&dev_state, "adafactor/v/e/kernel"));
    /* v_row drops the largest axis (d0), v_col the second largest (d1) */
    const clippo_param *vr = clippo_params_find(&dev_state, "adafactor/v_row/b/kernel");
    assert_int_equal(vr->value.ndim, 2);
    assert_int_equal(vr->value.shape[0], 36);
    assert_int_equal(vr->value.shape[1], 3);
    if (oc->momentum != 0.0) {
      const clippo_param *m = clippo_params_find(&dev_state, "adafactor/m/t");
      assert_non_null(m);
      assert_int_equal(m->value.dtype, CLIPPO_BF16);
    }
  }
  clippo_params_free(&dev_state);
  clippo_params_free(&ref_state);
  clippo_optimizer_free(o);
  for (int i = 0; i < np; i++) {
    clippo_array_free(&hp[i]);
    clippo_array_free(&hg[i]);
    clippo_tensor_release(rt, &tp[i]);
    clippo_tensor_release(rt, &tg[i]);
  }
}

static void check_against_ref(clippo_rt *rt, void *user) {
  (void)user;
  const opt_case cases[] = {
      {CLIPPO_OPT_SGD, 0.0f, 0.0f, 0.5f, CLIPPO_SCHED_CONSTANT, 0, 0.9},
      {CLIPPO_OPT_SGD, 0.5f, 0.1f, 0.1f, CLIPPO_SCHED_COSINE, 2, 0.9},
      {CLIPPO_OPT_ADAMW, 0.0f, 0.1f, 0.01f, CLIPPO_SCHED_RSQRT, 0, 0.9},
      {CLIPPO_OPT_ADAMW, 1.0f, 0.05f, 0.01f, CLIPPO_SCHED_LINEAR, 1, 0.9},
      {CLIPPO_OPT_ADAFACTOR, 1.0f, 1e-4f, 1e-3f, CLIPPO_SCHED_RSQRT, 0, 0.9},
      {CLIPPO_OPT_ADAFACTOR, 0.0f, 0.1f, 0.01f, CLIPPO_SCHED_RSQRT, 1, 0.9},
      {CLIPPO_OPT_ADAFACTOR, 2.0f, 0.0f, 0.01f, CLIPPO_SCHED_CONSTANT, 0, 0.0},
  };
  const param_set model_like = {NP, pnames, pndim, pshape}, layouts = {NL, lnames, lndim, lshape};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    run_case(rt, &cases[i], &model_like, 4);
  /* the other factored layouts, without the momentum (whose bfloat16 rounding can differ by an
   * ulp on a boundary, which the tolerances above are set for with the first set's data) */
  const opt_case layout_case = {CLIPPO_OPT_ADAFACTOR, 1.0f, 0.1f, 0.01f,
                                CLIPPO_SCHED_RSQRT,   0,    0.0};
  run_case(rt, &layout_case, &layouts, 4);
}

static void test_against_ref(void **state) {
  (void)state;
  test_each_device(check_against_ref, NULL);
}

/* The momentum is rounded to nearest even, not truncated: 0.1f = 0x3DCCCCCD -> 0x3DCD. */
static void check_bf16_rounding(clippo_rt *rt, void *user) {
  (void)user;
  clippo_error err;
  clippo_opt_config cfg;
  clippo_opt_config_default(&cfg, CLIPPO_OPT_ADAFACTOR);
  cfg.clip_norm = 0.0f;
  cfg.schedule.kind = CLIPPO_SCHED_CONSTANT;
  cfg.schedule.warmup_steps = cfg.schedule.cooldown_steps = 0;
  const size_t n = 64;
  float g[64];
  for (size_t i = 0; i < n; i++) g[i] = ldexpf(i % 2 ? -1.0f : 1.0f, (int)(i % 9) - 4);
  int64_t shape[1] = {(int64_t)n};
  clippo_tensor tp, tg;
  TEST_OK(clippo_tensor_alloc(rt, &tp, CLIPPO_F32, 1, shape, &err), &err);
  TEST_OK(clippo_tensor_alloc(rt, &tg, CLIPPO_F32, 1, shape, &err), &err);
  TEST_OK(clippo_tensor_fill(rt, &tp, 1.0f, &err), &err);
  TEST_OK(clippo_tensor_write(rt, &tg, g, &err), &err);
  clippo_tensor *pp[1] = {&tp}, *pg[1] = {&tg};
  const char *names[1] = {"x"};
  clippo_optimizer *o = NULL;
  TEST_OK(clippo_optimizer_create(rt, &cfg, 1, names, pp, &o, &err), &err);
  TEST_OK(clippo_optimizer_step(o, pp, pg, NULL, &err), &err);
  clippo_params st = {0};
  TEST_OK(clippo_optimizer_export(o, &st, &err), &err);
  const clippo_param *m = clippo_params_find(&st, "adafactor/m/x");
  assert_non_null(m);
  const uint16_t *mb = m->value.data;
  for (size_t i = 0; i < n; i++) assert_int_equal(mb[i], i % 2 ? 0xBDCD : 0x3DCD);
  clippo_params_free(&st);
  clippo_optimizer_free(o);
  clippo_tensor_release(rt, &tp);
  clippo_tensor_release(rt, &tg);
}

static void test_bf16_rounding(void **state) {
  (void)state;
  test_each_device(check_bf16_rounding, NULL);
}

/* a and b hold the same bits (same element count). */
static void expect_same_tensor(clippo_rt *rt, const clippo_tensor *a, const clippo_tensor *b) {
  clippo_error err;
  size_t n = clippo_tensor_count(a);
  float *ha = malloc(n * 4), *hb = malloc(n * 4);
  assert_true(ha && hb && clippo_tensor_count(b) == n);
  TEST_OK(clippo_tensor_read(rt, a, ha, &err), &err);
  TEST_OK(clippo_tensor_read(rt, b, hb, &err), &err);
  assert_memory_equal(ha, hb, n * 4);
  free(ha), free(hb);
}

/* Two steps, export, a new optimizer importing the state, a third step == three steps straight,
 * bit for bit; a NaN gradient stops the step without touching anything. */
static void check_resume(clippo_rt *rt, void *user) {
  (void)user;
  clippo_error err;
  test_rng rng;
  test_rng_seed(&rng, 811);
  clippo_opt_config cfg;
  clippo_opt_config_default(&cfg, CLIPPO_OPT_ADAFACTOR);
  cfg.lr = 0.01f;
  cfg.schedule.total_steps = 10;
  cfg.schedule.warmup_steps = 1;
  cfg.schedule.cooldown_steps = 3;
  cfg.schedule.timescale = 2;
  clippo_tensor ta[NP], tb[NP], tg[3][NP];
  clippo_tensor *pa[NP], *pb[NP], *pg[3][NP];
  for (int i = 0; i < NP; i++) {
    clippo_array h = {0};
    TEST_OK(clippo_array_alloc(&h, CLIPPO_F32, pndim[i], pshape[i], &err), &err);
    fill_normal(&rng, &h, 0.0f, 1.0f);
    TEST_OK(clippo_tensor_from_array(rt, &ta[i], &h, &err), &err);
    TEST_OK(clippo_tensor_from_array(rt, &tb[i], &h, &err), &err);
    for (int s = 0; s < 3; s++) {
      fill_normal(&rng, &h, 0.0f, 0.2f);
      TEST_OK(clippo_tensor_from_array(rt, &tg[s][i], &h, &err), &err);
      pg[s][i] = &tg[s][i];
    }
    clippo_array_free(&h);
    pa[i] = &ta[i];
    pb[i] = &tb[i];
  }
  clippo_optimizer *oa = NULL, *ob = NULL, *oc = NULL;
  TEST_OK(clippo_optimizer_create(rt, &cfg, NP, pnames, pa, &oa, &err), &err);
  TEST_OK(clippo_optimizer_create(rt, &cfg, NP, pnames, pb, &ob, &err), &err);
  for (int s = 0; s < 3; s++) TEST_OK(clippo_optimizer_step(oa, pa, pg[s], NULL, &err), &err);
  for (int s = 0; s < 2; s++) TEST_OK(clippo_optimizer_step(ob, pb, pg[s], NULL, &err), &err);
  clippo_params st = {0};
  TEST_OK(clippo_optimizer_export(ob, &st, &err), &err);
  clippo_optimizer_free(ob);
  TEST_OK(clippo_optimizer_create(rt, &cfg, NP, pnames, pb, &oc, &err), &err);
  TEST_OK(clippo_optimizer_import(oc, &st, &err), &err);
  assert_int_equal(clippo_optimizer_count(oc), 2);
  TEST_OK(clippo_optimizer_step(oc, pb, pg[2], NULL, &err), &err);
  for (int i = 0; i < NP; i++) expect_same_tensor(rt, &ta[i], &tb[i]);
  /* a state missing an array, or with the wrong shape, is refused */
  clippo_param *vr = clippo_params_find(&st, "adafactor/v_row/a/kernel");
  vr->value.shape[0] = 48;
  vr->value.shape[1] = 40;
  assert_int_equal(clippo_optimizer_import(oc, &st, &err), CLIPPO_E_SHAPE);
  free(vr->name);
  vr->name = strdup("renamed");
  assert_int_equal(clippo_optimizer_import(oc, &st, &err), CLIPPO_E_NOTFOUND);
  clippo_params_free(&st);

  /* NaN in one gradient: CLIPPO_E_NUMERIC naming it; nothing changes */
  float nan1 = NAN;
  cl_int rc = clEnqueueWriteBuffer(rt->queue, tg[0][2].mem, CL_TRUE, 5 * sizeof(float),
                                   sizeof(float), &nan1, 0, NULL, NULL);
  assert_int_equal(rc, CL_SUCCESS);
  size_t n0 = clippo_tensor_count(&tb[0]);
  float *before = malloc(n0 * 4), *after = malloc(n0 * 4);
  TEST_OK(clippo_tensor_read(rt, &tb[0], before, &err), &err);
  assert_int_equal(clippo_optimizer_step(oc, pb, pg[0], NULL, &err), CLIPPO_E_NUMERIC);
  assert_non_null(strstr(err.msg, "c/kernel"));
  assert_int_equal(clippo_optimizer_count(oc), 3);
  TEST_OK(clippo_tensor_read(rt, &tb[0], after, &err), &err);
  assert_memory_equal(before, after, n0 * 4);
  free(before), free(after);

  /* the global norm */
  double gn = 0, want = 0;
  TEST_OK(clippo_global_norm(rt, pg[1], NP, &gn, &err), &err);
  for (int i = 0; i < NP; i++) {
    size_t n = clippo_tensor_count(&tg[1][i]);
    float *h = malloc(n * 4);
    TEST_OK(clippo_tensor_read(rt, &tg[1][i], h, &err), &err);
    for (size_t k = 0; k < n; k++) want += (double)h[k] * h[k];
    free(h);
  }
  want = sqrt(want);
  assert_true(fabs(gn - want) <= 1e-6 * want);

  /* The step's own norm over gradients sharing one buffer (one launch per run of them, as a
   * model's gradient arena): the first four as views of a buffer whose gaps hold NaN, the rest in
   * their own buffers. The same step as with every gradient apart, bit for bit (same chunks). */
  size_t total = 0, offs[NP];
  for (int i = 0; i < 4; i++) offs[i] = total, total += clippo_tensor_count(&tg[1][i]) + 5;
  int64_t sh[1] = {(int64_t)total};
  clippo_tensor arena, tv[NP], tp1[NP], tp2[NP];
  clippo_tensor *pv[NP], *pp1[NP], *pp2[NP];
  TEST_OK(clippo_tensor_alloc(rt, &arena, CLIPPO_F32, 1, sh, &err), &err);
  TEST_OK(clippo_tensor_fill(rt, &arena, NAN, &err), &err);
  clippo_opt_config sgd;
  clippo_opt_config_default(&sgd, CLIPPO_OPT_SGD);
  sgd.clip_norm = 1e-3f; /* clipped: the norm scales every update */
  for (int i = 0; i < NP; i++) {
    size_t n = clippo_tensor_count(&tg[1][i]);
    float *h = malloc(n * 4);
    TEST_OK(clippo_tensor_read(rt, &tg[1][i], h, &err), &err);
    tv[i] = i < 4 ? clippo_tensor_view(&arena, offs[i], tg[1][i].ndim, tg[1][i].shape) : tg[1][i];
    if (i < 4) TEST_OK(clippo_tensor_write(rt, &tv[i], h, &err), &err);
    TEST_OK(clippo_tensor_read(rt, &ta[i], h, &err), &err);
    int64_t s1[1] = {(int64_t)n};
    TEST_OK(clippo_tensor_alloc(rt, &tp1[i], CLIPPO_F32, 1, s1, &err), &err);
    TEST_OK(clippo_tensor_alloc(rt, &tp2[i], CLIPPO_F32, 1, s1, &err), &err);
    TEST_OK(clippo_tensor_write(rt, &tp1[i], h, &err), &err);
    TEST_OK(clippo_tensor_write(rt, &tp2[i], h, &err), &err);
    free(h);
    pv[i] = &tv[i], pp1[i] = &tp1[i], pp2[i] = &tp2[i];
  }
  clippo_optimizer *o1 = NULL, *o2 = NULL;
  clippo_opt_stats s1, s2;
  TEST_OK(clippo_optimizer_create(rt, &sgd, NP, pnames, pp1, &o1, &err), &err);
  TEST_OK(clippo_optimizer_create(rt, &sgd, NP, pnames, pp2, &o2, &err), &err);
  TEST_OK(clippo_optimizer_step(o1, pp1, pv, &s1, &err), &err);
  TEST_OK(clippo_optimizer_step(o2, pp2, pg[1], &s2, &err), &err);
  assert_true(fabs(s1.grad_norm - want) <= 1e-6 * want);
  assert_true(s1.grad_norm == s2.grad_norm);
  for (int i = 0; i < NP; i++) {
    expect_same_tensor(rt, &tp1[i], &tp2[i]);
    clippo_tensor_release(rt, &tp1[i]);
    clippo_tensor_release(rt, &tp2[i]);
  }
  clippo_optimizer_free(o1);
  clippo_optimizer_free(o2);
  clippo_tensor_release(rt, &arena);

  clippo_optimizer_free(oa);
  clippo_optimizer_free(oc);
  for (int i = 0; i < NP; i++) {
    clippo_tensor_release(rt, &ta[i]);
    clippo_tensor_release(rt, &tb[i]);
    for (int s = 0; s < 3; s++) clippo_tensor_release(rt, &tg[s][i]);
  }
}

static void test_resume(void **state) {
  (void)state;
  test_each_device(check_resume, NULL);
}

static void test_config_checks(void **state) {
  (void)state;
  clippo_error err;
  clippo_opt_config c;
  clippo_opt_config_default(&c, CLIPPO_OPT_ADAFACTOR);
  c.schedule.total_steps = 100000;
  TEST_OK(clippo_opt_config_check(&c, &err), &err);
  c.momentum = 1.5;
  assert_int_equal(clippo_opt_config_check(&c, &err), CLIPPO_E_ARG);
  clippo_opt_kind k;
  TEST_OK(clippo_opt_parse("AdaFactor", &k, &err), &err);
  assert_int_equal(k, CLIPPO_OPT_ADAFACTOR);
  assert_int_equal(clippo_opt_parse("lamb", &k, &err), CLIPPO_E_ARG);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_factored_dims), cmocka_unit_test(test_schedules),
      cmocka_unit_test(test_config_checks), cmocka_unit_test(test_against_ref),
      cmocka_unit_test(test_bf16_rounding), cmocka_unit_test(test_resume),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
