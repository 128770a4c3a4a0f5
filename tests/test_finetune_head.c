/* The fine-tuning head and what it stands on (clippo/finetune.h, clippo/model.h):
 *  - clippo_task_loss (softmax cross-entropy, squared error) against a float64 reference written
 *    here, its dL/dlogits against central finite differences of the loss (h = 1e-3, relative
 *    error <= 1e-4), rows without a target skipped, bad labels refused.
 *  - clippo_task_head_forward / _backward on every device against a float64 reference
 *    (relative error <= 1e-5 for the logits, <= 1e-4 for the gradients), the reference's
 *    gradients against central finite differences of the whole head + loss in double (<= 1e-6),
 *    accumulation (+=) into the gradients.
 *  - The tower's pre-logits training output (clippo_model_set_train_output): the training
 *    forward equals the inference pre-logits (1e-5) and the float64 reference (1e-4); with
 *    L = sum g . pre, every trained parameter's gradient matches central finite differences of
 *    the reference (h = 1e-3, <= 1e-3 relative, as tests/test_model_grad.c); the contrastive
 *    head gets no gradient; switching back to the embedding output works.
 *  - clippo_params_resample_posemb against hand-computed linear interpolation. */
#include "support.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clippo/finetune.h"
#include "clippo/model.h"
#include "clippo/model_ref.h"

/* ---- the loss ------------------------------------------------------------------------------- */

/* float64 reference: mean CE over labelled rows, or mean squared error over scored rows */
static double ref_loss(clippo_task_kind kind, const double *z, size_t n, size_t c,
                       const int *labels, const double *scores) {
  double total = 0;
  size_t cnt = 0;
  for (size_t i = 0; i < n; i++) {
    if (kind == CLIPPO_TASK_SCORE) {
      if (isnan(scores[i])) continue;
      total += (z[i] - scores[i]) * (z[i] - scores[i]);
      cnt++;
      continue;
    }
    if (labels[i] < 0) continue;
    double s = 0;
    for (size_t k = 0; k < c; k++) s += exp(z[i * c + k]);
    total += log(s) - z[i * c + (size_t)labels[i]];
    cnt++;
  }
  return cnt ? total / (double)cnt : 0;
}

static void check_loss(clippo_task_kind kind, size_t n, size_t c) {
  clippo_error err;
  test_rng rng;
  test_rng_seed(&rng, 5 + c);
  float *z = malloc(n * c * sizeof *z), *dz = malloc(n * c * sizeof *dz);
  double *zd = malloc(n * c * sizeof *zd), *scores = malloc(n * sizeof *scores);
  int *labels = malloc(n * sizeof *labels);
  assert_true(z && dz && zd && scores && labels);
  for (size_t i = 0; i < n * c; i++) z[i] = 3.0f * test_rng_normal(&rng);
  for (size_t i = 0; i < n; i++) {
    labels[i] = i % 4 == 3 ? -1 : (int)(test_rng_u64(&rng) % c); /* every 4th: no label */
    scores[i] = i % 4 == 3 ? NAN : 5.0 * test_rng_uniform(&rng, 0.0f, 1.0f);
  }
  double loss = -1;
  size_t counted = 0;
  TEST_OK(clippo_task_loss(kind, z, n, c, labels, scores, dz, &loss, &counted, &err), &err);
  for (size_t i = 0; i < n * c; i++) zd[i] = z[i];
  double want = ref_loss(kind, zd, n, c, labels, scores);
  assert_int_equal(counted, n - n / 4);
  assert_true(fabs(loss - want) <= 1e-12 * fmax(1.0, fabs(want)));
  double num = 0, den = 0;
  for (size_t i = 0; i < n * c; i++) {
    const double h = 1e-3;
    zd[i] = (double)z[i] + h;
    double lp = ref_loss(kind, zd, n, c, labels, scores);
    zd[i] = (double)z[i] - h;
    double lm = ref_loss(kind, zd, n, c, labels, scores);
    zd[i] = z[i];
    double fd = (lp - lm) / (2 * h);
    num += (dz[i] - fd) * (dz[i] - fd);
    den += fd * fd;
    if (i / c % 4 == 3) assert_true(dz[i] == 0.0f); /* no target: no gradient */
  }
  print_message("%s loss %.6f, dL/dlogits vs finite differences: %.2e\n",
                kind == CLIPPO_TASK_SCORE ? "squared error" : "cross-entropy", loss,
                sqrt(num / den));
  assert_true(sqrt(num / den) <= 1e-4);
  free(z), free(dz), free(zd), free(scores), free(labels);
}

static void test_loss(void **state) {
  (void)state;
  check_loss(CLIPPO_TASK_CLASSES, 12, 5);
  check_loss(CLIPPO_TASK_SCORE, 12, 1);
  clippo_error err;
  float z[4] = {0, 0, 1, 1};
  int bad[2] = {0, 2}, none[2] = {-1, -1};
  double loss = 7;
  assert_int_equal(
      clippo_task_loss(CLIPPO_TASK_CLASSES, z, 2, 2, bad, NULL, NULL, &loss, NULL, &err),
      CLIPPO_E_ARG);
  assert_non_null(strstr(err.msg, "label 2"));
  TEST_OK(clippo_task_loss(CLIPPO_TASK_CLASSES, z, 2, 2, none, NULL, NULL, &loss, NULL, &err),
          &err);
  assert_true(loss == 0.0);
  assert_int_equal(
      clippo_task_loss(CLIPPO_TASK_SCORE, z, 2, 2, NULL, NULL, NULL, &loss, NULL, &err),
      CLIPPO_E_ARG);
  /* a huge logit stays finite (log-sum-exp) */
  float big[2] = {1e30f, 0};
  int l0[1] = {1};
  TEST_OK(clippo_task_loss(CLIPPO_TASK_CLASSES, big, 1, 2, l0, NULL, NULL, &loss, NULL, &err),
          &err);
  assert_true(isfinite(loss) && loss > 1e29);
}

/* ---- the head on the device ------------------------------------------------------------------ */

/* rows, width and classes of the head checked */
#define HN ((size_t)6)
#define HW ((size_t)10)
#define HC ((size_t)4)

/* L(pre, K, b) = CE(pre K + b) in double */
static double head_loss(const double *pre, const double *k, const double *b, const int *labels) {
  double z[HN * HC];
  for (size_t i = 0; i < HN; i++)
    for (size_t c = 0; c < HC; c++) {
      double a = b[c];
      for (size_t w = 0; w < HW; w++) a += pre[i * HW + w] * k[w * HC + c];
      z[i * HC + c] = a;
    }
  return ref_loss(CLIPPO_TASK_CLASSES, z, HN, HC, labels, NULL);
}

static clippo_tensor dev(clippo_rt *rt, const float *host, size_t r, size_t c) {
  clippo_error err;
  clippo_tensor t;
  int64_t shape[2] = {(int64_t)r, (int64_t)c};
  TEST_OK(clippo_tensor_alloc(rt, &t, CLIPPO_F32, 2, shape, &err), &err);
  if (host) TEST_OK(clippo_tensor_write(rt, &t, host, &err), &err);
  return t;
}

static void check_head(clippo_rt *rt, void *user) {
  (void)user;
  clippo_error err;
  test_rng rng;
  test_rng_seed(&rng, 11);
  float pre[HN * HW], k[HW * HC], b[HC], logits[HN * HC], dl[HN * HC];
  int labels[HN] = {0, 3, 1, -1, 2, 3};
  test_fill_uniform(&rng, pre, HN * HW, -1, 1);
  test_fill_uniform(&rng, k, HW * HC, -1, 1);
  test_fill_uniform(&rng, b, HC, -1, 1);
  clippo_tensor tpre = dev(rt, pre, HN, HW), tk = dev(rt, k, HW, HC);
  int64_t bshape[1] = {HC};
  clippo_tensor tb;
  TEST_OK(clippo_tensor_alloc(rt, &tb, CLIPPO_F32, 1, bshape, &err), &err);
  TEST_OK(clippo_tensor_write(rt, &tb, b, &err), &err);
  clippo_tensor tz = dev(rt, NULL, HN, HC), tdl = dev(rt, NULL, HN, HC);
  clippo_tensor tgk = dev(rt, NULL, HW, HC), tdpre = dev(rt, NULL, HN, HW);
  clippo_tensor tgb, tws;
  TEST_OK(clippo_tensor_alloc(rt, &tgb, CLIPPO_F32, 1, bshape, &err), &err);
  int64_t wshape[1] = {(int64_t)clippo_task_head_ws_floats(HN, HC)};
  TEST_OK(clippo_tensor_alloc(rt, &tws, CLIPPO_F32, 1, wshape, &err), &err);
  TEST_OK(clippo_tensor_fill(rt, &tgk, 0.0f, &err), &err);
  TEST_OK(clippo_tensor_fill(rt, &tgb, 0.0f, &err), &err);
  TEST_OK(clippo_task_head_forward(rt, &tpre, &tk, &tb, &tz, &err), &err);
  TEST_OK(clippo_tensor_read(rt, &tz, logits, &err), &err);
  /* the float64 reference: logits, loss, analytic gradients */
  double pd[HN * HW], kd[HW * HC], bd[HC], zr[HN * HC];
  for (size_t i = 0; i < HN * HW; i++) pd[i] = pre[i];
  for (size_t i = 0; i < HW * HC; i++) kd[i] = k[i];
  for (size_t i = 0; i < HC; i++) bd[i] = b[i];
  for (size_t i = 0; i < HN; i++)
    for (size_t c = 0; c < HC; c++) {
      double a = bd[c];
      for (size_t w = 0; w < HW; w++) a += pd[i * HW + w] * kd[w * HC + c];
      zr[i * HC + c] = a;
    }
  double e_logits = test_rel_err_f32_f64(logits, zr, HN * HC);
  double loss;
  TEST_OK(
      clippo_task_loss(CLIPPO_TASK_CLASSES, logits, HN, HC, labels, NULL, dl, &loss, NULL, &err),
      &err);
  TEST_OK(clippo_tensor_write(rt, &tdl, dl, &err), &err);
  TEST_OK(clippo_task_head_backward(rt, &tpre, &tk, &tdl, &tgk, &tgb, &tdpre, &tws, &err), &err);
  float gk[HW * HC], gb[HC], gpre[HN * HW];
  TEST_OK(clippo_tensor_read(rt, &tgk, gk, &err), &err);
  TEST_OK(clippo_tensor_read(rt, &tgb, gb, &err), &err);
  TEST_OK(clippo_tensor_read(rt, &tdpre, gpre, &err), &err);
  double rgk[HW * HC] = {0}, rgb[HC] = {0}, rgpre[HN * HW] = {0};
  for (size_t i = 0; i < HN; i++)
    for (size_t c = 0; c < HC; c++) {
      double d = dl[i * HC + c];
      rgb[c] += d;
      for (size_t w = 0; w < HW; w++) {
        rgk[w * HC + c] += pd[i * HW + w] * d;
        rgpre[i * HW + w] += d * kd[w * HC + c];
      }
    }
  double e_gk = test_rel_err_f32_f64(gk, rgk, HW * HC), e_gb = test_rel_err_f32_f64(gb, rgb, HC);
  double e_gp = test_rel_err_f32_f64(gpre, rgpre, HN * HW);
  /* finite differences of the whole head + loss in double, for every entry */
  double num = 0, den = 0;
  double *sets[3] = {kd, bd, pd}, *grads[3] = {rgk, rgb, rgpre};
  size_t sizes[3] = {HW * HC, HC, HN * HW};
  for (size_t s = 0; s < 3; s++)
    for (size_t i = 0; i < sizes[s]; i++) {
      const double h = 1e-5, x0 = sets[s][i];
      sets[s][i] = x0 + h;
      double lp = head_loss(pd, kd, bd, labels);
      sets[s][i] = x0 - h;
      double lm = head_loss(pd, kd, bd, labels);
      sets[s][i] = x0;
      double fd = (lp - lm) / (2 * h);
      num += (grads[s][i] - fd) * (grads[s][i] - fd);
      den += fd * fd;
    }
  double e_fd = sqrt(num / den);
  print_message("head: logits %.2e, dK %.2e, db %.2e, dpre %.2e; reference vs finite "
                "differences %.2e\n",
                e_logits, e_gk, e_gb, e_gp, e_fd);
  assert_true(e_logits <= 1e-5);
  assert_true(e_gk <= 1e-4 && e_gb <= 1e-4 && e_gp <= 1e-4);
  assert_true(e_fd <= 1e-6);
  /* a second backward accumulates */
  TEST_OK(clippo_task_head_backward(rt, &tpre, &tk, &tdl, &tgk, &tgb, NULL, &tws, &err), &err);
  float gk2[HW * HC];
  TEST_OK(clippo_tensor_read(rt, &tgk, gk2, &err), &err);
  for (size_t i = 0; i < HW * HC; i++) assert_true(fabsf(gk2[i] - 2 * gk[i]) <= 1e-6f);
  /* shapes are checked */
  assert_int_equal(clippo_task_head_forward(rt, &tpre, &tgk, &tb, &tdpre, &err), CLIPPO_E_SHAPE);
  clippo_tensor *all[] = {&tpre, &tk, &tb, &tz, &tdl, &tgk, &tdpre, &tgb, &tws};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) clippo_tensor_release(rt, all[i]);
}

static void test_head(void **state) {
  (void)state;
  test_each_device(check_head, NULL);
}

/* ---- the tower's pre-logits output ---------------------------------------------------------- */

static void tiny_config(clippo_config *cfg) {
  clippo_config_b16(cfg);
  cfg->width = 32;
  cfg->depth = 2;
  cfg->heads = 2;
  cfg->mlp_dim = 64;
  cfg->patch = 8;
  cfg->image_size = 16;
  cfg->out_dim = 16;
  snprintf(cfg->pool, sizeof cfg->pool, "map");
}

static double pre_loss(const clippo_config *cfg, const clippo_params *p, const float *images,
                       size_t n, const float *g, double *pre) {
  clippo_error err;
  TEST_OK(clippo_ref_model_forward(cfg, p, images, n, pre, NULL, &err), &err);
  double l = 0;
  for (size_t i = 0; i < n * (size_t)cfg->width; i++) l += (double)g[i] * pre[i];
  return l;
}

static void check_tower(clippo_rt *rt, void *user) {
  (void)user;
  clippo_error err;
  clippo_config cfg;
  tiny_config(&cfg);
  clippo_params params;
  memset(&params, 0, sizeof params);
  TEST_OK(clippo_params_init(&params, &cfg, 3, &err), &err);
  test_rng rng;
  test_rng_seed(&rng, 17);
  for (size_t i = 0; i < params.count; i++) { /* every parameter matters: no zero biases */
    clippo_param *it = &params.items[i];
    float *x = it->value.data;
    size_t len = strlen(it->name);
    for (size_t k = 0;
         len > 5 && !strcmp(it->name + len - 5, "/bias") && k < clippo_array_count(&it->value); k++)
      x[k] = 0.2f * test_rng_normal(&rng);
  }
  const size_t n = 3, S = 16, per = S * S * 3, W = 32;
  float images[3 * 16 * 16 * 3], g[3 * 32], pinf[3 * 32], ptr[3 * 32];
  test_fill_uniform(&rng, images, n * per, -1, 1);
  for (size_t i = 0; i < n * W; i++) g[i] = test_rng_normal(&rng);
  double pref[3 * 32];
  pre_loss(&cfg, &params, images, n, g, pref);
  clippo_model *m = NULL;
  TEST_OK(clippo_model_create(rt, &cfg, &params, &m, &err), &err);
  TEST_OK(clippo_model_set_train_output(m, CLIPPO_EMBED_PRE_LOGITS, &err), &err);
  TEST_OK(clippo_model_embed_images(m, images, n, CLIPPO_EMBED_PRE_LOGITS, pinf, &err), &err);
  clippo_tensor tin, tpre, tg;
  int64_t ishape[4] = {(int64_t)n, (int64_t)S, (int64_t)S, 3};
  TEST_OK(clippo_tensor_alloc(rt, &tin, CLIPPO_F32, 4, ishape, &err), &err);
  TEST_OK(clippo_tensor_write(rt, &tin, images, &err), &err);
  tpre = dev(rt, NULL, n, W);
  tg = dev(rt, g, n, W);
  TEST_OK(clippo_model_train_forward(m, &tin, n, &tpre, &err), &err);
  TEST_OK(clippo_tensor_read(rt, &tpre, ptr, &err), &err);
  double e1 = test_rel_err_f32(ptr, pinf, n * W), e2 = test_rel_err_f32_f64(ptr, pref, n * W);
  print_message("pre-logits training output: vs inference %.2e, vs reference %.2e\n", e1, e2);
  assert_true(e1 <= 1e-5 && e2 <= 1e-4);
  /* a z-sized gradient is refused: the output is (n, width) now */
  clippo_tensor tbad = dev(rt, NULL, n, 16);
  assert_int_equal(clippo_model_backward(m, &tbad, &err), CLIPPO_E_SHAPE);
  clippo_tensor_release(rt, &tbad);
  TEST_OK(clippo_model_zero_grads(m, &err), &err);
  TEST_OK(clippo_model_backward(m, &tg, &err), &err);
  double worst = 0, gmax = 0;
  size_t np = clippo_model_param_count(m);
  double *errn = calloc(np, sizeof *errn), *fdn = calloc(np, sizeof *fdn);
  assert_true(errn && fdn);
  for (size_t i = 0; i < np; i++) {
    const char *name;
    clippo_model_param(m, i, &name);
    clippo_tensor *gt = clippo_model_grad(m, i);
    size_t cnt = clippo_tensor_count(gt);
    float *gd = malloc(cnt * sizeof *gd);
    assert_non_null(gd);
    TEST_OK(clippo_tensor_read(rt, gt, gd, &err), &err);
    if (!strcmp(name, "t") || !strncmp(name, "img/head/", 9)) { /* not part of pre-logits */
      for (size_t k = 0; k < cnt; k++) assert_true(gd[k] == 0.0f);
      free(gd);
      continue;
    }
    clippo_param *hp = clippo_params_find(&params, name);
    float *x = hp->value.data;
    double num = 0, den = 0, buf[3 * 32];
    for (size_t s = 0; s < 4 && s < cnt; s++) {
      size_t k = cnt <= 4 ? s : (size_t)(test_rng_u64(&rng) % cnt);
      float x0 = x[k], h = 1e-3f * (fabsf(x0) > 1.0f ? fabsf(x0) : 1.0f);
      float xp = x0 + h, xm = x0 - h;
      x[k] = xp;
      double lp = pre_loss(&cfg, &params, images, n, g, buf);
      x[k] = xm;
      double lm = pre_loss(&cfg, &params, images, n, g, buf);
      x[k] = x0;
      double fd = (lp - lm) / ((double)xp - (double)xm);
      num += (gd[k] - fd) * (gd[k] - fd);
      den += fd * fd;
    }
    errn[i] = sqrt(num);
    fdn[i] = sqrt(den);
    if (fdn[i] > gmax) gmax = fdn[i];
    free(gd);
  }
  for (size_t i = 0; i < np; i++) {
    const char *name;
    clippo_model_param(m, i, &name);
    if (!strcmp(name, "t") || !strncmp(name, "img/head/", 9)) continue;
    double rel = errn[i] / fmax(fdn[i], 1e-3 * gmax);
    if (rel > worst) worst = rel;
    if (!(rel <= 1e-3)) fail_msg("gradient of %s: relative error %.3g above 1e-3", name, rel);
  }
  print_message("pre-logits backward vs finite differences: worst %.2e (tol 1e-3)\n", worst);
  /* back to the contrastive output: z-sized again, equal to the inference embedding */
  TEST_OK(clippo_model_set_train_output(m, CLIPPO_EMBED_Z, &err), &err);
  clippo_tensor tz = dev(rt, NULL, n, 16);
  float zt[3 * 16], zi[3 * 16];
  TEST_OK(clippo_model_train_forward(m, &tin, n, &tz, &err), &err);
  TEST_OK(clippo_tensor_read(rt, &tz, zt, &err), &err);
  TEST_OK(clippo_model_embed_images(m, images, n, CLIPPO_EMBED_Z, zi, &err), &err);
  assert_true(test_rel_err_f32(zt, zi, n * 16) <= 1e-5);
  assert_int_equal(clippo_model_set_train_output(m, (clippo_embed_kind)7, &err), CLIPPO_E_ARG);
  free(errn), free(fdn);
  clippo_tensor_release(rt, &tin);
  clippo_tensor_release(rt, &tpre);
  clippo_tensor_release(rt, &tg);
  clippo_tensor_release(rt, &tz);
  clippo_model_free(m);
  clippo_params_free(&params);
}

static void test_tower_pre_logits(void **state) {
  (void)state;
  test_each_device(check_tower, NULL);
}

/* ---- position embedding resampling -------------------------------------------------------- */

static void test_resample_posemb(void **state) {
  (void)state;
  clippo_error err;
  clippo_config cfg;
  tiny_config(&cfg); /* 16 px, patch 8: a 2 x 2 grid */
  clippo_params p;
  memset(&p, 0, sizeof p);
  TEST_OK(clippo_params_init(&p, &cfg, 1, &err), &err);
  clippo_param *pe = clippo_params_find(&p, "img/pos_embedding");
  float *x = pe->value.data;
  for (size_t t = 0; t < 4; t++) { /* token (r, c) holds 10 r + c + w / 100 in channel w */
    const size_t r = t / 2, c = t % 2;
    for (size_t w = 0; w < 32; w++) x[t * 32 + w] = (float)(10 * r + c) + (float)w / 100.0f;
  }
  TEST_OK(clippo_params_resample_posemb(&p, &cfg, 32, &err), &err); /* 4 x 4 */
  assert_int_equal(cfg.image_size, 32);
  pe = clippo_params_find(&p, "img/pos_embedding");
  assert_int_equal(pe->value.shape[1], 16);
  const float *y = pe->value.data;
  /* corners to corners: output (r, c) sits at input (r / 3, c / 3): value 10 r / 3 + c / 3 */
  for (size_t r = 0; r < 4; r++)
    for (size_t c = 0; c < 4; c++)
      for (size_t w = 0; w < 32; w += 31) {
        double want = 10.0 * (double)r / 3.0 + (double)c / 3.0 + (double)w / 100.0;
        assert_true(fabs(y[(r * 4 + c) * 32 + w] - want) <= 1e-5);
      }
  TEST_OK(clippo_params_check(&p, &cfg, &err), &err);
  assert_int_equal(clippo_params_resample_posemb(&p, &cfg, 20, &err), CLIPPO_E_ARG);
  assert_non_null(strstr(err.msg, "multiple of the patch size 8"));
  TEST_OK(clippo_params_resample_posemb(&p, &cfg, 32, &err), &err); /* same size: no-op */
  clippo_params_free(&p);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_loss),
      cmocka_unit_test(test_head),
      cmocka_unit_test(test_tower_pre_logits),
      cmocka_unit_test(test_resample_posemb),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
