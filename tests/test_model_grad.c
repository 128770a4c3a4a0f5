/* The model's training forward and backward (host/model/train_forward.c, backward.c) against the
 * float64 reference forward (clippo_ref_model_forward), on tiny random models: width 32, depth 2,
 * heads 2, mlp 64, patch 8, image 16 (4 tokens); pool map with a head of 16, pool gap with a
 * head of 16, and pool map without a head.
 *  - train_forward's z equals the inference forward's z (1e-5 relative) and the reference
 *    (1e-4), also for a smaller count than the one the activations were planned for.
 *  - With L = sum(g . z) for a fixed random g, the gradient of every parameter tensor (backward
 *    given dz = g) matches central finite differences of the reference forward (double, h =
 *    1e-3 on up to 6 sampled entries per tensor): ||dev - fd|| / max(||fd||, 1e-3 G) <= 1e-3 per
 *    tensor, G the largest per-tensor gradient norm (the key bias gradient is zero in exact
 *    arithmetic; the floor keeps its float noise from counting as a relative error). The
 *    temperature's gradient slot stays zero.
 *  - A second backward doubles every gradient (accumulation; 1e-6); zero_grads clears them;
 *    gradients are additive over inputs (160 = 100 + 60 inputs, two-stage reductions; 1e-5).
 *  - params_changed after an in-place update makes the inference forward use the new weights;
 *    download_params returns them. */
#include "support.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clippo/model.h"
#include "clippo/model_ref.h"

#define Z_TOL 1e-5
#define GRAD_TOL 1e-3
#define SAMPLES 6

typedef struct case_cfg {
  const char *pool;
  int out_dim;
} case_cfg;

static void tiny_config(clippo_config *cfg, const case_cfg *cc) {
  clippo_config_b16(cfg);
  cfg->width = 32;
  cfg->depth = 2;
  cfg->heads = 2;
  cfg->mlp_dim = 64;
  cfg->patch = 8;
  cfg->image_size = 16;
  cfg->out_dim = cc->out_dim;
  snprintf(cfg->pool, sizeof cfg->pool, "%s", cc->pool);
}

static int ends_with(const char *s, const char *suffix) {
  size_t a = strlen(s), b = strlen(suffix);
  return a >= b && !strcmp(s + a - b, suffix);
}

/* big_vision's initialisation, then LayerNorm scales 1 + 0.2 N, biases 0.2 N, query kernels x 3
 * (sharper attention) so that every parameter matters. */
static void make_params(const clippo_config *cfg, uint64_t seed, clippo_params *p) {
  clippo_error err;
  memset(p, 0, sizeof *p);
  TEST_OK(clippo_params_init(p, cfg, seed, &err), &err);
  test_rng rng;
  test_rng_seed(&rng, seed + 1);
  for (size_t i = 0; i < p->count; i++) {
    clippo_param *it = &p->items[i];
    float *x = it->value.data;
    size_t n = clippo_array_count(&it->value);
    for (size_t k = 0; k < n; k++) {
      if (ends_with(it->name, "/scale"))
        x[k] = 1.0f + 0.2f * test_rng_normal(&rng);
      else if (ends_with(it->name, "/bias"))
        x[k] = 0.2f * test_rng_normal(&rng);
      else if (ends_with(it->name, "query/kernel"))
        x[k] *= 3.0f;
    }
  }
}

/* L = sum g . z over the reference forward of n images. */
static double ref_loss(const clippo_config *cfg, const clippo_params *p, const float *images,
                       size_t n, const float *g, double *z) {
  clippo_error err;
  TEST_OK(clippo_ref_model_forward(cfg, p, images, n, NULL, z, &err), &err);
  size_t od = cfg->out_dim > 0 ? (size_t)cfg->out_dim : (size_t)cfg->width;
  double l = 0;
  /* g holds n * od values (callers allocate them with the same od); the analyzer cannot see it */
  // NOLINTNEXTLINE(clang-analyzer-core.UndefinedBinaryOperatorResult)
  for (size_t i = 0; i < n * od; i++) l += (double)g[i] * z[i];
  return l;
}

static clippo_tensor dev_tensor(clippo_rt *rt, const float *host, int ndim, const int64_t *shape) {
  clippo_error err;
  clippo_tensor t;
  TEST_OK(clippo_tensor_alloc(rt, &t, CLIPPO_F32, ndim, shape, &err), &err);
  if (host) TEST_OK(clippo_tensor_write(rt, &t, host, &err), &err);
  return t;
}

static float *read_all(clippo_rt *rt, const clippo_tensor *t) {
  clippo_error err;
  size_t n = clippo_tensor_count(t);
  float *h = malloc((n ? n : 1) * sizeof *h);
  assert_non_null(h);
  TEST_OK(clippo_tensor_read(rt, t, h, &err), &err);
  return h;
}

static void check_case(clippo_rt *rt, const case_cfg *cc) {
  clippo_error err;
  clippo_config cfg;
  tiny_config(&cfg, cc);
  clippo_params params;
  make_params(&cfg, 7, &params);
  const size_t S = (size_t)cfg.image_size, per = S * S * 3, cap = 4, n = 3;
  const size_t od = cfg.out_dim > 0 ? (size_t)cfg.out_dim : (size_t)cfg.width;
  test_rng rng;
  test_rng_seed(&rng, 99);
  float *images = malloc(cap * per * sizeof *images), *g = malloc(cap * od * sizeof *g);
  assert_non_null(images);
  assert_non_null(g);
  test_fill_uniform(&rng, images, cap * per, -1.0f, 1.0f);
  for (size_t i = 0; i < cap * od; i++) g[i] = test_rng_normal(&rng);
  double *zref = malloc(cap * od * sizeof *zref);
  assert_non_null(zref);

  clippo_model *m = NULL;
  TEST_OK(clippo_model_create(rt, &cfg, &params, &m, &err), &err);
  print_message("[ %s out %d ] %zu parameter tensors\n", cc->pool, cc->out_dim,
                clippo_model_param_count(m));
  int64_t in_shape[4] = {(int64_t)cap, (int64_t)S, (int64_t)S, 3},
          z_shape[2] = {(int64_t)cap, (int64_t)od};
  clippo_tensor tin = dev_tensor(rt, images, 4, in_shape), tz = dev_tensor(rt, NULL, 2, z_shape);
  float *zinf = malloc(cap * od * sizeof *zinf);
  assert_non_null(zinf);
  TEST_OK(clippo_model_embed_images(m, images, cap, CLIPPO_EMBED_Z, zinf, &err), &err);
  ref_loss(&cfg, &params, images, cap, g, zref);

  /* z: planned for cap inputs, then a smaller count through views */
  for (size_t pass = 0; pass < 2; pass++) {
    size_t cnt = pass == 0 ? cap : n;
    int64_t vin[4] = {(int64_t)cnt, (int64_t)S, (int64_t)S, 3}, vz[2] = {(int64_t)cnt, (int64_t)od};
    clippo_tensor in_v = clippo_tensor_view(&tin, 0, 4, vin),
                  z_v = clippo_tensor_view(&tz, 0, 2, vz);
    TEST_OK(clippo_model_train_forward(m, &in_v, cnt, &z_v, &err), &err);
    float *zt = read_all(rt, &z_v);
    double e1 = test_rel_err_f32(zt, zinf, cnt * od), e2 = test_rel_err_f32_f64(zt, zref, cnt * od);
    print_message("[ %s out %d ] train z (%zu inputs): vs inference %.3g, vs reference %.3g\n",
                  cc->pool, cc->out_dim, cnt, e1, e2);
    assert_true(e1 <= Z_TOL && e2 <= 1e-4);
    free(zt);
  }
  print_message("[ %s out %d ] training state: %llu device bytes\n", cc->pool, cc->out_dim,
                clippo_model_train_bytes(m));

  /* gradients of L = sum g . z for the n inputs of the last forward */
  int64_t dz_shape[2] = {(int64_t)n, (int64_t)od};
  clippo_tensor tdz = dev_tensor(rt, g, 2, dz_shape);
  TEST_OK(clippo_model_zero_grads(m, &err), &err);
  TEST_OK(clippo_model_backward(m, &tdz, &err), &err);
  size_t np = clippo_model_param_count(m);
  float **gd = calloc(np, sizeof *gd);
  assert_non_null(gd);
  for (size_t i = 0; i < np; i++) {
    clippo_tensor *gt = clippo_model_grad(m, i);
    assert_non_null(gt);
    gd[i] = read_all(rt, gt);
  }
  /* finite differences of the reference on sampled entries */
  double *zb = malloc(n * od * sizeof *zb);
  assert_non_null(zb);
  double *errn = calloc(np, sizeof *errn), *fdn = calloc(np, sizeof *fdn);
  assert_non_null(errn);
  assert_non_null(fdn);
  double gmax = 0;
  for (size_t i = 0; i < np; i++) {
    const char *name;
    clippo_model_param(m, i, &name);
    clippo_param *hp = clippo_params_find(&params, name);
    assert_non_null(hp);
    float *x = hp->value.data;
    size_t cnt = clippo_array_count(&hp->value);
    if (!strcmp(name, "t")) {
      assert_true(gd[i][0] == 0.0f); /* the loss code owns dL/dt */
      continue;
    }
    double num = 0, den = 0;
    for (size_t s = 0; s < SAMPLES && s < cnt; s++) {
      size_t k = cnt <= SAMPLES ? s : (size_t)(test_rng_u64(&rng) % cnt);
      float x0 = x[k], h = 1e-3f * (fabsf(x0) > 1.0f ? fabsf(x0) : 1.0f);
      float xp = x0 + h, xm = x0 - h;
      x[k] = xp;
      double lp = ref_loss(&cfg, &params, images, n, g, zb);
      x[k] = xm;
      double lm = ref_loss(&cfg, &params, images, n, g, zb);
      x[k] = x0;
      double fd = (lp - lm) / ((double)xp - (double)xm);
      num += (gd[i][k] - fd) * (gd[i][k] - fd);
      den += fd * fd;
    }
    errn[i] = sqrt(num);
    fdn[i] = sqrt(den);
    if (fdn[i] > gmax) gmax = fdn[i];
  }
  double worst = 0;
  for (size_t i = 0; i < np; i++) {
    const char *name;
    clippo_model_param(m, i, &name);
    if (!strcmp(name, "t")) continue;
    double rel = errn[i] / fmax(fdn[i], 1e-3 * gmax);
    if (rel > worst) worst = rel;
    print_message("  %-70s |fd| %.3e rel %.2e\n", name, fdn[i], rel);
    if (!(rel <= GRAD_TOL))
      fail_msg("gradient of %s: relative error %.3g above %.0e", name, rel, GRAD_TOL);
  }
  print_message("[ %s out %d ] worst gradient error %.3g (tol %.0e)\n", cc->pool, cc->out_dim,
                worst, GRAD_TOL);

  /* accumulation: a second backward doubles every gradient; zero_grads clears */
  TEST_OK(clippo_model_backward(m, &tdz, &err), &err);
  double acc_worst = 0;
  for (size_t i = 0; i < np; i++) {
    float *g2 = read_all(rt, clippo_model_grad(m, i));
    size_t cnt = clippo_tensor_count(clippo_model_grad(m, i));
    for (size_t k = 0; k < cnt; k++) gd[i][k] *= 2.0f;
    double e = test_rel_err_f32(g2, gd[i], cnt);
    if (cnt && fabs((double)gd[i][0]) + fabs((double)gd[i][cnt - 1]) > 0 && e > acc_worst)
      acc_worst = e;
    free(g2);
  }
  print_message("[ %s out %d ] two backwards vs 2x one: %.3g\n", cc->pool, cc->out_dim, acc_worst);
  assert_true(acc_worst <= 1e-6);
  TEST_OK(clippo_model_zero_grads(m, &err), &err);
  for (size_t i = 0; i < np; i++) {
    float *g0 = read_all(rt, clippo_model_grad(m, i));
    for (size_t k = 0; k < clippo_tensor_count(clippo_model_grad(m, i)); k++)
      assert_true(g0[k] == 0.0f);
    free(g0);
  }

  /* an in-place update of a query kernel and t; params_changed; inference and download */
  size_t qi = np;
  for (size_t i = 0; i < np; i++) {
    const char *name;
    clippo_model_param(m, i, &name);
    if (strstr(name, "encoderblock_0/MultiHeadDotProductAttention_0/query/kernel")) qi = i;
  }
  assert_true(qi < np);
  const char *qname;
  clippo_tensor *qt = clippo_model_param(m, qi, &qname);
  clippo_param *hq = clippo_params_find(&params, qname);
  float *qx = hq->value.data;
  for (size_t k = 0; k < clippo_array_count(&hq->value); k++) qx[k] *= -0.5f;
  TEST_OK(clippo_tensor_write(rt, qt, qx, &err), &err);
  TEST_OK(clippo_model_params_changed(m, &err), &err);
  TEST_OK(clippo_model_embed_images(m, images, cap, CLIPPO_EMBED_Z, zinf, &err), &err);
  ref_loss(&cfg, &params, images, cap, g, zref);
  double e = test_rel_err_f32_f64(zinf, zref, cap * od);
  print_message("[ %s out %d ] inference after params_changed vs reference: %.3g\n", cc->pool,
                cc->out_dim, e);
  assert_true(e <= 1e-4);
  clippo_params down;
  memset(&down, 0, sizeof down);
  TEST_OK(clippo_model_download_params(m, &down, &err), &err);
  assert_int_equal(down.count, params.count);
  for (size_t i = 0; i < down.count; i++) {
    clippo_param *hp = clippo_params_find(&params, down.items[i].name);
    assert_non_null(hp);
    size_t cnt = clippo_array_count(&hp->value);
    assert_int_equal(clippo_array_count(&down.items[i].value), cnt);
    assert_memory_equal(down.items[i].value.data, hp->value.data, cnt * sizeof(float));
  }
  assert_int_equal(clippo_model_download_params(m, &down, &err), CLIPPO_E_ARG);
  clippo_params_free(&down);

  /* bad arguments */
  assert_int_equal(clippo_model_backward(m, &tz, &err), CLIPPO_E_SHAPE);
  assert_int_equal(clippo_model_train_forward(m, &tin, cap + 1, &tz, &err), CLIPPO_E_SHAPE);
  assert_null(clippo_model_grad(m, np));
  assert_null(clippo_model_param(m, np, NULL));

  for (size_t i = 0; i < np; i++) free(gd[i]);
  free(gd), free(errn), free(fdn), free(zb), free(zinf), free(zref), free(images), free(g);
  clippo_tensor_release(rt, &tin);
  clippo_tensor_release(rt, &tz);
  clippo_tensor_release(rt, &tdz);
  clippo_model_free(m);
  clippo_params_free(&params);
}

static const case_cfg cases[] = {{"map", 16}, {"gap", 16}, {"map", 0}};

static void run_cases(clippo_rt *rt, void *user) {
  (void)user;
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) check_case(rt, &cases[i]);
}

static void test_model_grad(void **state) {
  (void)state;
  test_each_device(run_cases, NULL);
}

/* backward before any training forward is refused */
static void check_no_forward(clippo_rt *rt, void *user) {
  (void)user;
  clippo_error err;
  clippo_config cfg;
  tiny_config(&cfg, &cases[0]);
  clippo_params params;
  make_params(&cfg, 3, &params);
  clippo_model *m = NULL;
  TEST_OK(clippo_model_create(rt, &cfg, &params, &m, &err), &err);
  int64_t shape[2] = {1, 16};
  clippo_tensor dz = dev_tensor(rt, NULL, 2, shape);
  assert_int_equal(clippo_model_backward(m, &dz, &err), CLIPPO_E_ARG);
  assert_int_equal(clippo_model_train_bytes(m), 0);
  clippo_tensor_release(rt, &dz);
  clippo_model_free(m);
  clippo_params_free(&params);
}

/* Gradients are additive over inputs: the gradient for 160 inputs (640 token rows, so the bias
 * and LayerNorm reductions take the two-stage path) equals the sum of the gradients for its first
 * 100 and last 60 inputs (through views of the 160-input plan), within 1e-5 (key biases, zero in
 * exact arithmetic, left out). */
static void check_additive(clippo_rt *rt, void *user) {
  (void)user;
  clippo_error err;
  clippo_config cfg;
  tiny_config(&cfg, &cases[0]);
  clippo_params params;
  make_params(&cfg, 5, &params);
  clippo_model *m = NULL;
  TEST_OK(clippo_model_create(rt, &cfg, &params, &m, &err), &err);
  const size_t S = (size_t)cfg.image_size, per = S * S * 3, od = (size_t)cfg.out_dim;
  const size_t all = 160, first = 100;
  test_rng rng;
  test_rng_seed(&rng, 123);
  float *images = malloc(all * per * sizeof *images), *g = malloc(all * od * sizeof *g);
  assert_non_null(images);
  assert_non_null(g);
  test_fill_uniform(&rng, images, all * per, -1.0f, 1.0f);
  for (size_t i = 0; i < all * od; i++) g[i] = test_rng_normal(&rng);
  int64_t in_shape[4] = {(int64_t)all, (int64_t)S, (int64_t)S, 3};
  int64_t z_shape[2] = {(int64_t)all, (int64_t)od};
  clippo_tensor tin = dev_tensor(rt, images, 4, in_shape), tz = dev_tensor(rt, NULL, 2, z_shape);
  clippo_tensor tg = dev_tensor(rt, g, 2, z_shape);
  size_t np = clippo_model_param_count(m);
  float **whole = calloc(np, sizeof *whole);
  assert_non_null(whole);
  TEST_OK(clippo_model_train_forward(m, &tin, all, &tz, &err), &err);
  TEST_OK(clippo_model_zero_grads(m, &err), &err);
  TEST_OK(clippo_model_backward(m, &tg, &err), &err);
  for (size_t i = 0; i < np; i++) whole[i] = read_all(rt, clippo_model_grad(m, i));
  TEST_OK(clippo_model_zero_grads(m, &err), &err);
  const size_t parts[2][2] = {{0, first}, {first, all - first}};
  for (int k = 0; k < 2; k++) {
    size_t off = parts[k][0], cnt = parts[k][1];
    int64_t vin[4] = {(int64_t)cnt, (int64_t)S, (int64_t)S, 3}, vz[2] = {(int64_t)cnt, (int64_t)od};
    clippo_tensor in_v = clippo_tensor_view(&tin, off * per, 4, vin);
    clippo_tensor z_v = clippo_tensor_view(&tz, 0, 2, vz);
    clippo_tensor g_v = clippo_tensor_view(&tg, off * od, 2, vz);
    TEST_OK(clippo_model_train_forward(m, &in_v, cnt, &z_v, &err), &err);
    TEST_OK(clippo_model_backward(m, &g_v, &err), &err);
  }
  double worst = 0;
  for (size_t i = 0; i < np; i++) {
    float *sum = read_all(rt, clippo_model_grad(m, i));
    size_t cnt = clippo_tensor_count(clippo_model_grad(m, i));
    const char *name;
    clippo_model_param(m, i, &name);
    double e = 0;
    if (strcmp(name, "t") != 0 && !strstr(name, "key/bias"))
      e = test_rel_err_f32(sum, whole[i], cnt);
    if (e > worst) worst = e;
    free(sum);
    free(whole[i]);
  }
  print_message("gradient of 160 inputs vs 100 + 60: worst %.3g (tol 1e-5)\n", worst);
  assert_true(worst <= 1e-5);
  free(whole), free(images), free(g);
  clippo_tensor_release(rt, &tin);
  clippo_tensor_release(rt, &tz);
  clippo_tensor_release(rt, &tg);
  clippo_model_free(m);
  clippo_params_free(&params);
}

static void test_grad_additive(void **state) {
  (void)state;
  test_each_device(check_additive, NULL);
}

static void test_backward_without_forward(void **state) {
  (void)state;
  test_each_device(check_no_forward, NULL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_model_grad),
      cmocka_unit_test(test_grad_additive),
      cmocka_unit_test(test_backward_without_forward),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
