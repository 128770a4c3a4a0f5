/* The Adafactor chain against big_vision itself: ../shared/fixtures/bigvision_adafactor holds
 * big_vision's parameters and optimizer state after 3 steps on the tiny fixture (its compiled
 * optax chain, README there). Every device runs the same 3 steps two ways:
 *  - `clippo train` (clippo_train_run with the README's options, device optimizer
 *    kernels/optimizer.cl), its checkpoint read back;
 *  - the device model's gradients fed to the float32 host reference optimizer
 *    (host/ops/ref/optimizer_ref.c), so that the reference itself is checked against big_vision.
 * Both must match big_vision's update (after - init) per tensor group: median elementwise
 * relative error <= 2e-5 (the attention key/bias tensors are left out: their true gradient is
 * exactly zero, README); the per-step loss within 1e-5; the second moments within 1e-4
 * (relative L2); the bfloat16 momentum bit-equal for at least 95 % of each group (float32 noise
 * moves a few values across a rounding boundary; rounding the product, the defect this test
 * caught, leaves 50-65 % equal). */
#include "support.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zip.h>

#include "clippo/checkpoint.h"
#include "clippo/model.h"
#include "clippo/npy.h"
#include "clippo/ops.h"
#include "clippo/text.h"
#include "clippo/train.h"

#define STEPS 3
#define LR 0.003
#define WD 0.001
#define MOMENTUM 0.9
#define TOL_UPDATE 2e-5
#define TOL_LOSS 1e-5
#define TOL_V 1e-4
#define MIN_M_EQUAL 0.95

/* ---- the fixture ----------------------------------------------------------------------------
 */

typedef struct fixture {
  clippo_params init;  /* tiny/model.npz */
  clippo_params after; /* params/<name> after step 3 */
  clippo_params state; /* m/<name>, v/<name>, v_row/<name>, v_col/<name> */
  double loss[STEPS];  /* big_vision's loss at steps 1..3 */
} fixture;

/* Reads one .npz member into a clippo_array. */
static void read_member(zip_t *z, zip_uint64_t i, const char *name, clippo_array *out) {
  zip_stat_t zs;
  assert_int_equal(zip_stat_index(z, i, 0, &zs), 0);
  char *buf = malloc(zs.size ? zs.size : 1);
  assert_non_null(buf);
  zip_file_t *f = zip_fopen_index(z, i, 0);
  assert_non_null(f);
  assert_true(zip_fread(f, buf, zs.size) == (zip_int64_t)zs.size);
  zip_fclose(f);
  clippo_error err;
  TEST_OK(clippo_npy_parse(buf, zs.size, name, out, &err), &err);
  free(buf);
}

static void load_fixture(fixture *fx) {
  memset(fx, 0, sizeof *fx);
  clippo_error err;
  char *init = test_shared_path("fixtures/tiny/model.npz");
  char *path = test_shared_path("fixtures/bigvision_adafactor/params_after_3_steps.npz");
  assert_non_null(init);
  assert_non_null(path);
  if (!test_file_exists(path) || !test_file_exists(init))
    fail_msg("fixture missing: %s or %s (set CLIPPO_SHARED_DIR to the folder holding "
             "fixtures/ and fonts/)",
             path, init);
  TEST_OK(clippo_npz_load(init, &fx->init, NULL, &err), &err);
  int code = 0;
  zip_t *z = zip_open(path, ZIP_RDONLY, &code);
  if (!z) fail_msg("%s: cannot open (libzip error %d)", path, code);
  zip_int64_t n = zip_get_num_entries(z, 0);
  for (zip_int64_t i = 0; i < n; i++) {
    const char *member = zip_get_name(z, (zip_uint64_t)i, 0);
    assert_non_null(member);
    size_t len = strlen(member);
    if (len < 5 || strcmp(member + len - 4, ".npy") != 0) continue;
    char name[512];
    snprintf(name, sizeof name, "%.*s", (int)(len - 4), member);
    if (!strcmp(name, "__log__")) {
      /* read the raw member: the JSON text is stored as UTF-32 code units */
      zip_stat_t zs;
      assert_int_equal(zip_stat_index(z, (zip_uint64_t)i, 0, &zs), 0);
      unsigned char *buf = malloc(zs.size + 1);
      zip_file_t *f = zip_fopen_index(z, (zip_uint64_t)i, 0);
      assert_true(buf && f && zip_fread(f, buf, zs.size) == (zip_int64_t)zs.size);
      zip_fclose(f);
      size_t hl = 10 + (size_t)(buf[8] | buf[9] << 8);
      char *json = calloc(zs.size / 4 + 1, 1);
      size_t k = 0;
      for (size_t b = hl; b + 3 < zs.size; b += 4) json[k++] = (char)buf[b];
      const char *p = json;
      for (int s = 0; s < STEPS; s++) {
        p = strstr(p, "\"loss\":");
        if (!p) fail_msg("%s: __log__ has fewer than %d losses: %s", path, STEPS, json);
        p += 7;
        fx->loss[s] = strtod(p, NULL);
      }
      free(json);
      free(buf);
      continue;
    }
    clippo_params *dst = NULL;
    const char *key = name;
    if (!strncmp(name, "params/", 7)) {
      dst = &fx->after;
      key = name + 7;
    } else if (!strncmp(name, "m/", 2) || !strncmp(name, "v/", 2) || !strncmp(name, "v_row/", 6) ||
               !strncmp(name, "v_col/", 6)) {
      dst = &fx->state;
    } else {
      continue;
    }
    clippo_array a = {0};
    read_member(z, (zip_uint64_t)i, member, &a);
    TEST_OK(clippo_params_add(dst, key, &a, &err), &err);
  }
  zip_close(z);
  free(init);
  free(path);
  if (fx->after.count == 0 || fx->after.count != fx->init.count)
    fail_msg("fixture: %zu parameters after, %zu initial", fx->after.count, fx->init.count);
  if (!(fx->loss[STEPS - 1] > 0)) fail_msg("fixture: no loss log");
}

static void free_fixture(fixture *fx) {
  clippo_params_free(&fx->init);
  clippo_params_free(&fx->after);
  clippo_params_free(&fx->state);
}

/* ---- comparison ------------------------------------------------------------------------------
 */

/* The group of a parameter: its name with the block index replaced ("encoderblock_*"). */
static void group_of(const char *name, char *buf, size_t cap) {
  const char *b = strstr(name, "encoderblock_");
  if (!b) {
    snprintf(buf, cap, "%s", name);
    return;
  }
  const char *rest = b + 13;
  while (*rest >= '0' && *rest <= '9') rest++;
  snprintf(buf, cap, "%.*sencoderblock_*%s", (int)(b - name), name, rest);
}

static int excluded(const char *name) {
  size_t n = strlen(name);
  return n >= 9 && !strcmp(name + n - 9, "/key/bias");
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static double median(double *x, size_t n) {
  if (n == 0) return 0.0;
  qsort(x, n, sizeof *x, cmp_double);
  return n % 2 ? x[n / 2] : 0.5 * (x[n / 2 - 1] + x[n / 2]);
}

/* The state array of the fixture for prefix ("m", "v", "v_row", "v_col") and name. */
static const clippo_array *fx_state(const fixture *fx, const char *prefix, const char *name) {
  char key[600];
  snprintf(key, sizeof key, "%s/%s", prefix, name);
  const clippo_param *p = clippo_params_find(&fx->state, key);
  if (!p) fail_msg("fixture has no %s", key);
  return &p->value;
}

/* Compares params (after 3 steps) and, when state is not NULL, the optimizer state (names as
 * clippo_optimizer_export writes them) with big_vision's. what names the run in messages. */
static int compare(const fixture *fx, const clippo_params *params, const clippo_params *state,
                   const char *what) {
  char groups[64][256];
  size_t ng = 0;
  for (size_t i = 0; i < fx->after.count; i++) {
    if (excluded(fx->after.items[i].name)) continue;
    char g[256];
    group_of(fx->after.items[i].name, g, sizeof g);
    size_t k = 0;
    while (k < ng && strcmp(groups[k], g)) k++;
    if (k == ng) {
      assert_true(ng < 64);
      snprintf(groups[ng++], sizeof groups[0], "%s", g);
    }
  }
  int failed = 0;
  for (size_t gi = 0; gi < ng; gi++) {
    double *rel = NULL;
    size_t nrel = 0, mcount = 0, mequal = 0;
    double vnum = 0, vden = 0;
    for (size_t i = 0; i < fx->after.count; i++) {
      const char *name = fx->after.items[i].name;
      char g[256];
      group_of(name, g, sizeof g);
      if (excluded(name) || strcmp(g, groups[gi])) continue;
      const clippo_array *want = &fx->after.items[i].value;
      const clippo_param *p0 = clippo_params_find(&fx->init, name);
      const clippo_param *got = clippo_params_find(params, name);
      if (!p0 || !got) fail_msg("%s: no parameter %s", what, name);
      size_t n = clippo_array_count(want);
      assert_int_equal(clippo_array_count(&got->value), n);
      assert_int_equal(clippo_array_count(&p0->value), n);
      rel = realloc(rel, (nrel + n) * sizeof *rel);
      assert_non_null(rel);
      const float *a = got->value.data, *b = want->data, *z = p0->value.data;
      for (size_t e = 0; e < n; e++) {
        double du = (double)a[e] - z[e], dw = (double)b[e] - z[e];
        rel[nrel++] = dw != 0.0 ? fabs(du - dw) / fabs(dw) : (du == 0.0 ? 0.0 : 1.0);
      }
      if (!state) continue;
      /* momentum: float32 values of bfloat16 in the fixture, bfloat16 bits here */
      char key[600];
      snprintf(key, sizeof key, "adafactor/m/%s", name);
      const clippo_param *m = clippo_params_find(state, key);
      const clippo_array *fm = fx_state(fx, "m", name);
      if (!m || !fm) fail_msg("%s: momentum %s missing", what, name);
      assert_int_equal(m->value.dtype, CLIPPO_BF16);
      const uint16_t *mb = m->value.data;
      const float *fmv = fm->data;
      for (size_t e = 0; e < n; e++) mequal += clippo_bf16_to_float(mb[e]) == fmv[e];
      mcount += n;
      /* second moments: v, or v_row and v_col */
      int d0 = 0, d1 = 0;
      int fac = clippo_adafactor_factored_dims(want->ndim, want->shape, 32, &d1, &d0);
      static const char *const vs[3] = {"v", "v_row", "v_col"};
      for (int k = fac ? 1 : 0; k < (fac ? 3 : 1); k++) {
        /* the others are optax's size-1 placeholders */
        const clippo_array *fv = fx_state(fx, vs[k], name);
        snprintf(key, sizeof key, "adafactor/%s/%s", vs[k], name);
        const clippo_param *v = clippo_params_find(state, key);
        if (!v) fail_msg("%s: %s missing (big_vision has it)", what, key);
        assert_int_equal(clippo_array_count(&v->value), clippo_array_count(fv));
        const float *x = v->value.data, *y = fv->data;
        for (size_t e = 0; e < clippo_array_count(fv); e++) {
          vnum += ((double)x[e] - y[e]) * ((double)x[e] - y[e]);
          vden += (double)y[e] * y[e];
        }
      }
    }
    double med = median(rel, nrel);
    double max = nrel ? rel[nrel - 1] : 0.0;
    free(rel);
    double verr = vden > 0 ? sqrt(vnum / vden) : sqrt(vnum);
    double meq = mcount ? (double)mequal / (double)mcount : 1.0;
    int bad = !(med <= TOL_UPDATE) || (state && (!(verr <= TOL_V) || meq < MIN_M_EQUAL));
    if (state)
      print_message("[ %-9s] %-62s update median %.2e max %.2e  v %.1e  m equal %5.1f%%%s\n", what,
                    groups[gi], med, max, verr, 100.0 * meq, bad ? "  <-- FAIL" : "");
    else
      print_message("[ %-9s] %-62s update median %.2e max %.2e%s\n", what, groups[gi], med, max,
                    bad ? "  <-- FAIL" : "");
    failed |= bad;
  }
  if (failed)
    print_message("%s: differs from big_vision (update median > %g, v > %g or momentum equal < "
                  "%g)\n",
                  what, TOL_UPDATE, TOL_V, MIN_M_EQUAL);
  return failed;
}

/* ---- run 1: clippo train -------------------------------------------------------------------- */

typedef struct losses {
  double v[STEPS];
  int n;
} losses;

static void on_step(const clippo_train_progress *p, void *user) {
  losses *l = user;
  if (p->message || p->step <= 0 || l->n >= STEPS) return;
  l->v[l->n++] = p->loss;
}

/* Prints the losses against big_vision's; returns 1 when one is off. */
static int check_losses(const fixture *fx, const double *got, const char *what) {
  int bad = 0;
  for (int s = 0; s < STEPS; s++) {
    double e = fabs(got[s] - fx->loss[s]) / fx->loss[s];
    int off = !(e <= TOL_LOSS);
    print_message("[ %-9s] loss step %d %.7f big_vision %.7f (rel %.1e)%s\n", what, s + 1, got[s],
                  fx->loss[s], e, off ? "  <-- FAIL" : "");
    bad |= off;
  }
  return bad;
}

static void train_opts(clippo_train_opts *o, const char *device) {
  clippo_train_opts_default(o);
  snprintf(o->device, sizeof o->device, "%s", device);
  const char *rel[5] = {"fixtures/tiny/model.npz", "fixtures/tiny/images.npy",
                        "fixtures/tiny/texts.txt", "fonts/unifont-9.0.06.hex",
                        "fonts/unifont_upper-9.0.06.hex"};
  char *dst[5] = {o->init, o->images, o->texts, o->fonts[0], o->fonts[1]};
  for (int i = 0; i < 5; i++) {
    char *p = test_shared_path(rel[i]);
    assert_non_null(p);
    if (!test_file_exists(p)) fail_msg("fixture missing: %s", p);
    snprintf(dst[i], CLIPPO_TRAIN_PATH, "%s", p);
    free(p);
  }
  o->nfonts = 2;
  /* the README's command: --optimizer adafactor --lr 0.003 --weight-decay 0.001 --momentum 0.9
   * --schedule constant --no-clip --steps 3 --batch-size 4 --no-shuffle */
  o->optimizer = CLIPPO_OPT_ADAFACTOR;
  o->lr = LR;
  o->weight_decay = WD;
  o->momentum = MOMENTUM;
  snprintf(o->schedule, sizeof o->schedule, "constant");
  o->clip_norm = 0.0;
  o->steps = STEPS;
  o->batch_size = 4;
  o->shuffle = 0;
}

static void check_train(const fixture *fx, const char *device) {
  clippo_error err;
  clippo_train_opts o;
  train_opts(&o, device);
  char *dir = test_tmpdir();
  assert_non_null(dir);
  snprintf(o.save, sizeof o.save, "%s/out.h5", dir);
  losses l = {0};
  clippo_train_result res;
  TEST_OK(clippo_train_run(&o, on_step, &l, &res, &err), &err);
  assert_int_equal(res.steps_done, STEPS);
  assert_int_equal(l.n, STEPS);
  int bad = check_losses(fx, l.v, "train");
  clippo_checkpoint ck = {0};
  TEST_OK(clippo_checkpoint_load(o.save, &ck, 1, &err), &err);
  assert_int_equal(ck.step, STEPS);
  bad |= compare(fx, &ck.params, &ck.opt, "train");
  clippo_checkpoint_free(&ck);
  remove(o.save);
  remove(dir);
  free(dir);
  if (bad) fail_msg("%s: clippo train differs from big_vision (above)", device);
}

/* ---- run 2: device gradients, host reference optimizer -------------------------------------- */

static void check_reference(const fixture *fx, const char *device) {
  clippo_error err;
  clippo_train_opts o;
  train_opts(&o, device);
  clippo_rt *rt = NULL;
  TEST_OK(clippo_rt_create(&rt, device, &err), &err);
  clippo_checkpoint ck = {0};
  TEST_OK(clippo_checkpoint_load(o.init, &ck, 0, &err), &err);
  clippo_model *m = NULL;
  TEST_OK(clippo_model_create(rt, &ck.cfg, &ck.params, &m, &err), &err);
  clippo_opt_config cfg;
  TEST_OK(clippo_train_opt_config(&o, STEPS, &cfg, &err), &err);
  assert_true(cfg.kind == CLIPPO_OPT_ADAFACTOR && cfg.clip_norm == 0.0f && cfg.momentum == 0.9);

  /* the batch: the 4 images, then the 4 texts rendered */
  const size_t N = 4, S = (size_t)ck.cfg.image_size, slot = S * S * 3;
  const size_t D = (size_t)clippo_model_output_dim(m, CLIPPO_EMBED_Z);
  float *inputs = malloc(2 * N * slot * sizeof(float));
  assert_non_null(inputs);
  clippo_dataset *d = NULL;
  TEST_OK(clippo_dataset_open_arrays(o.images, o.texts, &d, &err), &err);
  clippo_font *font = NULL;
  const char *fonts[2] = {o.fonts[0], o.fonts[1]};
  TEST_OK(clippo_font_load(&font, fonts, 2, &err), &err);
  clippo_sampler s;
  TEST_OK(clippo_sampler_init(&s, d, 0, 0, 0, &err), &err);
  TEST_OK(clippo_batch_fill(d, &s, font, (int)S, N, inputs, NULL, &err), &err);
  clippo_sampler_free(&s);
  clippo_dataset_free(d);
  clippo_font_free(font);

  int64_t ishape[4] = {(int64_t)(2 * N), (int64_t)S, (int64_t)S, 3};
  int64_t zshape[2] = {(int64_t)(2 * N), (int64_t)D};
  clippo_tensor tin = {0}, z = {0}, dz = {0};
  TEST_OK(clippo_tensor_alloc(rt, &tin, CLIPPO_F32, 4, ishape, &err), &err);
  TEST_OK(clippo_tensor_write(rt, &tin, inputs, &err), &err);
  TEST_OK(clippo_tensor_alloc(rt, &z, CLIPPO_F32, 2, zshape, &err), &err);
  TEST_OK(clippo_tensor_alloc(rt, &dz, CLIPPO_F32, 2, zshape, &err), &err);
  clippo_loss_ws lws = {0};
  TEST_OK(clippo_loss_ws_alloc(rt, N, &lws, &err), &err);

  /* host copies of the parameters (the reference's state) and of the gradients */
  const size_t np = clippo_model_param_count(m);
  const char **names = calloc(np, sizeof *names);
  clippo_array *hp = calloc(np, sizeof *hp), *hg = calloc(np, sizeof *hg);
  assert_true(names && hp && hg);
  size_t t_index = np;
  for (size_t i = 0; i < np; i++) {
    clippo_tensor *t = clippo_model_param(m, i, &names[i]);
    assert_non_null(t);
    TEST_OK(clippo_array_alloc(&hp[i], CLIPPO_F32, t->ndim, t->shape, &err), &err);
    TEST_OK(clippo_array_alloc(&hg[i], CLIPPO_F32, t->ndim, t->shape, &err), &err);
    TEST_OK(clippo_tensor_read(rt, t, hp[i].data, &err), &err);
    if (!strcmp(names[i], "t")) t_index = i;
  }
  assert_true(t_index < np);
  clippo_params state = {0};
  double loss[STEPS];
  for (int step = 0; step < STEPS; step++) {
    for (size_t i = 0; i < np; i++)
      TEST_OK(clippo_tensor_write(rt, clippo_model_param(m, i, NULL), hp[i].data, &err), &err);
    TEST_OK(clippo_model_zero_grads(m, &err), &err);
    clippo_tensor zo = z;
    TEST_OK(clippo_model_train_forward(m, &tin, 2 * N, &zo, &err), &err);
    if (zo.mem != z.mem || zo.offset != z.offset) TEST_OK(clippo_op_copy(rt, &zo, &z, &err), &err);
    int64_t half[2] = {(int64_t)N, (int64_t)D};
    clippo_tensor zi = clippo_tensor_view(&z, 0, 2, half),
                  zt = clippo_tensor_view(&z, N * D, 2, half);
    clippo_tensor gi = clippo_tensor_view(&dz, 0, 2, half),
                  gt = clippo_tensor_view(&dz, N * D, 2, half);
    double dt = 0.0;
    float t = ((const float *)hp[t_index].data)[0];
    TEST_OK(clippo_contrastive_loss(rt, &zi, &zt, t, &lws, &gi, &gt, &loss[step], &dt, &err), &err);
    TEST_OK(clippo_model_backward(m, &dz, &err), &err);
    for (size_t i = 0; i < np; i++)
      TEST_OK(clippo_tensor_read(rt, clippo_model_grad(m, i), hg[i].data, &err), &err);
    ((float *)hg[t_index].data)[0] += (float)dt;
    TEST_OK(clippo_ref_adafactor_step(&cfg, np, names, hp, hg, &state, NULL, &err), &err);
  }
  int bad = check_losses(fx, loss, "reference");
  clippo_params out = {0};
  for (size_t i = 0; i < np; i++) {
    TEST_OK(clippo_params_add(&out, names[i], &hp[i], &err), &err);
    clippo_array_free(&hg[i]);
  }
  bad |= compare(fx, &out, &state, "reference");

  clippo_params_free(&out);
  clippo_params_free(&state);
  free(hp);
  free(hg);
  free(names);
  free(inputs);
  clippo_loss_ws_release(rt, &lws);
  clippo_tensor_release(rt, &tin);
  clippo_tensor_release(rt, &z);
  clippo_tensor_release(rt, &dz);
  clippo_model_free(m);
  clippo_checkpoint_free(&ck);
  clippo_rt_destroy(rt);
  if (bad) fail_msg("%s: the reference optimizer differs from big_vision (above)", device);
}

/* ---- tests ----------------------------------------------------------------------------------- */

static void run_each_device(void (*fn)(const fixture *, const char *)) {
  fixture fx;
  load_fixture(&fx);
  size_t n = 0;
  char **specs = test_device_specs(&n);
  if (n == 0) {
    test_device_specs_free(specs, n);
    free_fixture(&fx);
    skip();
    return;
  }
  for (size_t i = 0; i < n; i++) {
    print_message("[ device   ] %s\n", specs[i]);
    fn(&fx, specs[i]);
  }
  test_device_specs_free(specs, n);
  free_fixture(&fx);
}

static void test_train_matches_big_vision(void **state) {
  (void)state;
  run_each_device(check_train);
}

static void test_reference_matches_big_vision(void **state) {
  (void)state;
  run_each_device(check_reference);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_train_matches_big_vision),
      cmocka_unit_test(test_reference_matches_big_vision),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
