/* The training loop (host/train/trainer.c) with the tiny fixture model (image size 32), every
 * device: the first loss is the fixture's, one sgd step with lr 1 moves the parameters by minus
 * the gradient (checked against central finite differences of the float64 reference model and
 * loss), gradient accumulation gives the same step, the loss falls over 20 steps, a run resumed
 * from a mid-run checkpoint ends bit for bit where the uninterrupted run ends (also after a stop
 * asked for in the middle of a step), and a non-finite loss stops the run keeping the last
 * checkpoint. */
#include "support.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clippo/checkpoint.h"
#include "clippo/model_ref.h"
#include "clippo/text.h"
#include "clippo/train.h"

typedef struct run_ctx {
  const char *device;
  char dir[1024];
  double losses[64];
  int nlosses;
} run_ctx;

static void on_step(const clippo_train_progress *p, void *user) {
  run_ctx *c = user;
  if (p->message || p->step <= 0) return;
  if (c->nlosses < 64) c->losses[c->nlosses++] = p->loss;
}

static void base_opts(clippo_train_opts *o, const run_ctx *c) {
  clippo_train_opts_default(o);
  snprintf(o->device, sizeof o->device, "%s", c->device);
  char *m = test_shared_path("fixtures/tiny/model.npz");
  char *im = test_shared_path("fixtures/tiny/images.npy");
  char *tx = test_shared_path("fixtures/tiny/texts.txt");
  char *f1 = test_shared_path("fonts/unifont-9.0.06.hex");
  char *f2 = test_shared_path("fonts/unifont_upper-9.0.06.hex");
  snprintf(o->init, sizeof o->init, "%s", m);
  snprintf(o->images, sizeof o->images, "%s", im);
  snprintf(o->texts, sizeof o->texts, "%s", tx);
  snprintf(o->fonts[0], sizeof o->fonts[0], "%s", f1);
  snprintf(o->fonts[1], sizeof o->fonts[1], "%s", f2);
  o->nfonts = 2;
  free(m), free(im), free(tx), free(f1), free(f2);
}

static void load_ck(const char *path, clippo_checkpoint *ck) {
  clippo_error err;
  memset(ck, 0, sizeof *ck);
  TEST_OK(clippo_checkpoint_load(path, ck, 1, &err), &err);
}

/* float64 loss of the reference model with params p on the fixture batch (inputs rendered). */
static double ref_loss(const clippo_config *cfg, const clippo_params *p, const float *inputs,
                       size_t n) {
  clippo_error err;
  size_t d = (size_t)cfg->out_dim;
  double *z = malloc(2 * n * d * sizeof *z);
  TEST_OK(clippo_ref_model_forward(cfg, p, inputs, 2 * n, NULL, z, &err), &err);
  /* the loss in double from the double embeddings (the loss reference takes floats) */
  const float *tp = clippo_params_find(p, "t")->value.data;
  double s = exp((double)tp[0]);
  double loss = 0;
  for (size_t i = 0; i < n; i++) {
    double mr = -INFINITY, mc = -INFINITY, lii = 0;
    double lr[64], lc[64];
    for (size_t j = 0; j < n; j++) {
      double a = 0, b = 0;
      for (size_t k = 0; k < d; k++) {
        a += z[i * d + k] * z[(n + j) * d + k];
        b += z[j * d + k] * z[(n + i) * d + k];
      }
      lr[j] = s * a;
      lc[j] = s * b;
      mr = fmax(mr, lr[j]);
      mc = fmax(mc, lc[j]);
      if (i == j) lii = lr[j];
    }
    double sr = 0, sc = 0;
    for (size_t j = 0; j < n; j++) sr += exp(lr[j] - mr), sc += exp(lc[j] - mc);
    loss += 0.5 * ((mr + log(sr) - lii) + (mc + log(sc) - lii));
  }
  free(z);
  return loss / (double)n;
}

static void check_sgd_gradient(run_ctx *c) {
  clippo_error err;
  clippo_train_opts o;
  base_opts(&o, c);
  o.optimizer = CLIPPO_OPT_SGD;
  o.lr = 1.0;
  o.clip_norm = 0.0;
  o.weight_decay = 0.0;
  o.steps = 1;
  o.batch_size = 4;
  snprintf(o.save, sizeof o.save, "%s/sgd.h5", c->dir);
  c->nlosses = 0;
  clippo_train_result res;
  TEST_OK(clippo_train_run(&o, on_step, c, &res, &err), &err);
  assert_int_equal(res.steps_done, 1);
  /* the first loss is the fixture's */
  char *meta = test_shared_path("fixtures/tiny/meta.json");
  FILE *fp = fopen(meta, "rb");
  if (!fp) fail_msg("%s: cannot open", meta);
  char buf[1024];
  size_t n = fread(buf, 1, sizeof buf - 1, fp);
  fclose(fp);
  buf[n] = '\0';
  const char *lk = strstr(buf, "\"loss\":");
  if (!lk) fail_msg("%s: no \"loss\" in the first %zu bytes", meta, n);
  double want_loss = strtod(lk + 7, NULL);
  print_message("[ train    ] first loss %.7f (fixture %.7f)\n", res.first_loss, want_loss);
  assert_true(fabs(res.first_loss - want_loss) <= 1e-4 * want_loss);
  free(meta);

  /* init - out = gradient; check a few entries against finite differences */
  clippo_checkpoint init, out;
  load_ck(o.init, &init);
  load_ck(o.save, &out);
  assert_int_equal(out.step, 1);
  /* the inputs the model saw: fixture images then the rendered texts */
  const size_t N = 4, S = 32, m = S * S * 3;
  float *inputs = malloc(2 * N * m * sizeof(float));
  clippo_dataset *d = NULL;
  TEST_OK(clippo_dataset_open_arrays(o.images, o.texts, &d, &err), &err);
  clippo_font *font = NULL;
  const char *fonts[2] = {o.fonts[0], o.fonts[1]};
  TEST_OK(clippo_font_load(&font, fonts, 2, &err), &err);
  clippo_sampler s;
  TEST_OK(clippo_sampler_init(&s, d, 0, 0, 0, &err), &err);
  TEST_OK(clippo_batch_fill(d, &s, font, 32, N, inputs, NULL, &err), &err);
  struct {
    const char *name;
    size_t index;
  } probes[] = {{"t", 0},
                {"img/head/bias", 3},
                {"img/head/kernel", 77},
                {"img/MAPHead_0/probe", 5},
                {"img/MAPHead_0/MlpBlock_0/Dense_1/kernel", 1000},
                {"img/Transformer/encoder_norm/scale", 7},
                {"img/Transformer/encoderblock_1/MultiHeadDotProductAttention_0/query/kernel", 321},
                {"img/Transformer/encoderblock_0/LayerNorm_0/bias", 2},
                {"img/pos_embedding", 100},
                {"img/embedding/kernel", 555},
                {"img/embedding/bias", 9}};
  for (size_t k = 0; k < sizeof probes / sizeof probes[0]; k++) {
    clippo_param *pi = clippo_params_find(&init.params, probes[k].name);
    clippo_param *po = clippo_params_find(&out.params, probes[k].name);
    assert_non_null(pi);
    assert_non_null(po);
    float *v = pi->value.data;
    size_t i = probes[k].index;
    double g = (double)v[i] - (double)((float *)po->value.data)[i];
    float keep = v[i];
    float h = 1e-3f * fmaxf(1.0f, fabsf(keep));
    v[i] = keep + h;
    double hp = (double)v[i] - keep;
    double lp = ref_loss(&init.cfg, &init.params, inputs, N);
    v[i] = keep - h;
    double hm = keep - (double)v[i];
    double lm = ref_loss(&init.cfg, &init.params, inputs, N);
    v[i] = keep;
    double fd = (lp - lm) / (hp + hm);
    print_message("[ grad     ] %-75s[%zu] %+.6e fd %+.6e\n", probes[k].name, i, g, fd);
    assert_true(fabs(g - fd) <= 2e-3 * fabs(fd) + 2e-6);
  }
  clippo_sampler_free(&s);
  clippo_dataset_free(d);
  clippo_font_free(font);
  free(inputs);

  /* --accumulate 2 and 4 give the same step */
  for (int K = 2; K <= 4; K *= 2) {
    o.accumulate = K;
    snprintf(o.save, sizeof o.save, "%s/sgd_acc%d.h5", c->dir, K);
    TEST_OK(clippo_train_run(&o, NULL, NULL, &res, &err), &err);
    clippo_checkpoint acc;
    load_ck(o.save, &acc);
    double num = 0, den = 0;
    for (size_t p = 0; p < out.params.count; p++) {
      const clippo_param *a = &out.params.items[p];
      const clippo_param *b = clippo_params_find(&acc.params, a->name);
      const clippo_param *z = clippo_params_find(&init.params, a->name);
      for (size_t e = 0; e < clippo_array_count(&a->value); e++) {
        double ga = (double)((float *)z->value.data)[e] - ((float *)a->value.data)[e];
        double gb = (double)((float *)z->value.data)[e] - ((float *)b->value.data)[e];
        num += (ga - gb) * (ga - gb);
        den += ga * ga;
      }
    }
    print_message("[ train    ] accumulate %d: step differs by %.3g (relative)\n", K,
                  sqrt(num / den));
    assert_true(sqrt(num / den) < 1e-4);
    clippo_checkpoint_free(&acc);
  }
  clippo_checkpoint_free(&init);
  clippo_checkpoint_free(&out);
}

static void check_loss_falls(run_ctx *c) {
  clippo_error err;
  clippo_train_opts o;
  base_opts(&o, c);
  o.optimizer = CLIPPO_OPT_ADAFACTOR;
  o.lr = 0.01;
  o.warmup = 0;
  o.cooldown = 0;
  o.steps = 20;
  o.batch_size = 4;
  snprintf(o.log, sizeof o.log, "%s/metrics.jsonl", c->dir);
  snprintf(o.plot, sizeof o.plot, "%s/loss.svg", c->dir);
  c->nlosses = 0;
  clippo_train_result res;
  TEST_OK(clippo_train_run(&o, on_step, c, &res, &err), &err);
  assert_int_equal(c->nlosses, 20);
  print_message("[ train    ] adafactor, fixed batch: loss %.4f -> %.4f -> %.4f\n", c->losses[0],
                c->losses[9], c->losses[19]);
  assert_true(c->losses[19] < 0.5 * c->losses[0]);
  assert_true(test_file_exists(o.plot));
  FILE *fp = fopen(o.log, "rb");
  assert_non_null(fp);
  char line[1024];
  int lines = 0;
  while (fgets(line, sizeof line, fp)) {
    lines++;
    assert_non_null(strstr(line, "\"grad_norm\""));
    assert_non_null(strstr(line, "\"pairs_per_s\""));
  }
  fclose(fp);
  assert_int_equal(lines, 20);
}

static void compare_ckpts(const char *a, const char *b) {
  clippo_checkpoint x, y;
  load_ck(a, &x);
  load_ck(b, &y);
  assert_int_equal(x.step, y.step);
  assert_int_equal(x.params.count, y.params.count);
  for (size_t i = 0; i < x.params.count; i++) {
    const clippo_param *p = &x.params.items[i], *q = clippo_params_find(&y.params, p->name);
    assert_non_null(q);
    if (memcmp(p->value.data, q->value.data, clippo_array_count(&p->value) * 4))
      fail_msg("%s differs between %s and %s", p->name, a, b);
  }
  assert_int_equal(x.opt.count, y.opt.count);
  for (size_t i = 0; i < x.opt.count; i++) {
    const clippo_param *p = &x.opt.items[i], *q = clippo_params_find(&y.opt, p->name);
    assert_non_null(q);
    size_t bytes = clippo_array_count(&p->value) * clippo_dtype_size(p->value.dtype);
    assert_int_equal(p->value.dtype, q->value.dtype);
    if (memcmp(p->value.data, q->value.data, bytes))
      fail_msg("optimizer state %s differs between %s and %s", p->name, a, b);
  }
  clippo_checkpoint_free(&x);
  clippo_checkpoint_free(&y);
}

static void check_resume(run_ctx *c) {
  clippo_error err;
  clippo_train_opts o;
  base_opts(&o, c);
  char *fm = malloc(strlen(CLIPPO_FMNIST_DIR) + 40);
  sprintf(fm, "%s/t10k-images-idx3-ubyte.gz", CLIPPO_FMNIST_DIR);
  if (test_file_exists(fm)) {
    /* Fashion-MNIST: shuffled, captions drawn per epoch, accumulation */
    o.images[0] = o.texts[0] = '\0';
    snprintf(o.fmnist, sizeof o.fmnist, "%s", CLIPPO_FMNIST_DIR);
    snprintf(o.fmnist_split, sizeof o.fmnist_split, "test");
    snprintf(o.captions, sizeof o.captions, "%s/configs/fmnist_captions.json", test_source_dir());
    o.limit = 24;
    o.batch_size = 8;
    o.accumulate = 2;
    o.balanced = 1;
  } else {
    o.shuffle = 1;
    o.batch_size = 2;
  }
  free(fm);
  o.optimizer = CLIPPO_OPT_ADAFACTOR;
  o.lr = 0.01;
  o.warmup = 1;
  o.cooldown = 2;
  o.timescale = 2;
  o.steps = 6;
  o.seed = 5;
  snprintf(o.save, sizeof o.save, "%s/full.h5", c->dir);
  TEST_OK(clippo_train_run(&o, NULL, NULL, NULL, &err), &err);
  /* interrupted at step 3 (for Fashion-MNIST: at the end of an epoch), then resumed with the
   * checkpoint's own options */
  o.stop_at = 3;
  snprintf(o.save, sizeof o.save, "%s/part.h5", c->dir);
  clippo_train_result res;
  TEST_OK(clippo_train_run(&o, NULL, NULL, &res, &err), &err);
  assert_int_equal(res.steps_done, 3);
  clippo_train_opts r;
  clippo_train_opts_default(&r);
  TEST_OK(clippo_train_opts_from_checkpoint(o.save, &r, &err), &err);
  assert_int_equal(r.stop_at, 0);
  assert_string_equal(r.device, ""); /* not kept: bit for bit holds on the same device */
  snprintf(r.device, sizeof r.device, "%s", c->device);
  snprintf(r.resume, sizeof r.resume, "%s", o.save);
  snprintf(r.save, sizeof r.save, "%s/resumed.h5", c->dir);
  TEST_OK(clippo_train_run(&r, NULL, NULL, &res, &err), &err);
  assert_int_equal(res.steps_done, 3);
  char full[1100];
  snprintf(full, sizeof full, "%s/full.h5", c->dir);
  compare_ckpts(full, r.save);
  /* resuming with another optimizer is refused */
  r.optimizer = CLIPPO_OPT_ADAMW;
  snprintf(r.resume, sizeof r.resume, "%s", o.save);
  assert_int_equal(clippo_train_run(&r, NULL, NULL, &res, &err), CLIPPO_E_ARG);
}

/* should_stop for the tests: asks to stop from its at-th call on. */
typedef struct stop_ctx {
  int calls, at;
} stop_ctx;

static int stop_after(void *user) {
  stop_ctx *s = user;
  return ++s->calls >= s->at;
}

/* A stop (Ctrl-C in `clippo train`) at a step boundary and in the middle of a step (between
 * micro-batches): the run ends at the last finished step with its checkpoint written (the step
 * in progress abandoned, the data position put back), and resuming from that checkpoint ends bit
 * for bit where the uninterrupted run ends. A resumed run stopped before its first step writes
 * nothing. */
static void check_stop(run_ctx *c) {
  clippo_error err;
  clippo_train_opts o;
  base_opts(&o, c);
  o.optimizer = CLIPPO_OPT_ADAFACTOR;
  o.lr = 0.01;
  o.shuffle = 1;
  o.batch_size = 2; /* 4 examples: step 3 starts the second epoch */
  o.accumulate = 2;
  o.steps = 5;
  o.seed = 3;
  char full[1100];
  snprintf(full, sizeof full, "%s/stop_full.h5", c->dir);
  snprintf(o.save, sizeof o.save, "%s", full);
  stop_ctx never = {0, 1 << 30};
  o.should_stop = stop_after;
  o.stop_user = &never;
  clippo_train_result res;
  TEST_OK(clippo_train_run(&o, NULL, NULL, &res, &err), &err);
  assert_int_equal(res.stopped, 0);
  assert_int_equal(never.calls % 5, 0);
  const int polls = never.calls / 5; /* per step */
  print_message("[ train    ] %d stop polls per step (accumulate 2)\n", polls);
  assert_true(polls >= 3);
  for (int mid = 0; mid < 2; mid++) {
    stop_ctx sc = {0, 2 * polls + (mid ? 3 : 1)};
    o.stop_user = &sc;
    snprintf(o.save, sizeof o.save, "%s/stop_part%d.h5", c->dir, mid);
    TEST_OK(clippo_train_run(&o, NULL, NULL, &res, &err), &err);
    assert_int_equal(res.stopped, 1);
    assert_int_equal(res.step, 2);
    assert_int_equal(res.steps_done, 2);
    assert_int_equal(res.total, 5);
    assert_string_equal(res.saved, o.save);
    clippo_checkpoint ck;
    load_ck(o.save, &ck);
    assert_int_equal(ck.step, 2);
    clippo_checkpoint_free(&ck);
    clippo_train_opts r;
    clippo_train_opts_default(&r);
    TEST_OK(clippo_train_opts_from_checkpoint(o.save, &r, &err), &err);
    assert_null(r.should_stop);
    snprintf(r.device, sizeof r.device, "%s", c->device);
    snprintf(r.resume, sizeof r.resume, "%s", o.save);
    snprintf(r.save, sizeof r.save, "%s/stop_resumed%d.h5", c->dir, mid);
    TEST_OK(clippo_train_run(&r, NULL, NULL, &res, &err), &err);
    assert_int_equal(res.step, 5);
    assert_int_equal(res.steps_done, 3);
    compare_ckpts(full, r.save);
    if (mid) {
      /* stopped before its first step: nothing new to write */
      stop_ctx at_once = {0, 1};
      r.should_stop = stop_after;
      r.stop_user = &at_once;
      snprintf(r.resume, sizeof r.resume, "%s", o.save);
      snprintf(r.save, sizeof r.save, "%s/stop_none.h5", c->dir);
      TEST_OK(clippo_train_run(&r, NULL, NULL, &res, &err), &err);
      assert_int_equal(res.stopped, 1);
      assert_int_equal(res.steps_done, 0);
      assert_int_equal(res.step, 2);
      assert_string_equal(res.saved, "");
      assert_false(test_file_exists(r.save));
    }
  }
}

static void check_nan_stops(run_ctx *c) {
  clippo_error err;
  clippo_train_opts o;
  base_opts(&o, c);
  o.optimizer = CLIPPO_OPT_SGD;
  o.lr = 1e30;
  o.clip_norm = 0.0;
  o.steps = 6;
  o.batch_size = 4;
  o.checkpoint_every = 1;
  snprintf(o.save, sizeof o.save, "%s/nan.h5", c->dir);
  clippo_train_result res;
  clippo_status st = clippo_train_run(&o, NULL, NULL, &res, &err);
  print_message("[ train    ] lr 1e30: %s (%lld steps)\n", err.msg, (long long)res.steps_done);
  assert_int_equal(st, CLIPPO_E_NUMERIC);
  assert_non_null(strstr(err.msg, "stopped"));
  assert_true(res.steps_done < 6);
  if (res.steps_done > 0) {
    clippo_checkpoint ck;
    load_ck(o.save, &ck);
    assert_int_equal(ck.step, res.steps_done);
    clippo_checkpoint_free(&ck);
  }
}

static void each_device(clippo_rt *rt, void *user) {
  (void)user;
  run_ctx c;
  memset(&c, 0, sizeof c);
  char spec[32];
  snprintf(spec, sizeof spec, "%d:%d", rt->info.platform_index, rt->info.device_index);
  c.device = spec;
  char *dir = test_tmpdir();
  snprintf(c.dir, sizeof c.dir, "%s", dir);
  free(dir);
  check_sgd_gradient(&c);
  check_loss_falls(&c);
  check_resume(&c);
  check_stop(&c);
  check_nan_stops(&c);
}

static void test_train(void **state) {
  (void)state;
  test_each_device(each_device, NULL);
}

/* A warmup + cooldown longer than the run: cut to a tenth of the run each, with a notice naming
 * the flags (the strict clippo_train_opt_config still refuses a warmup longer than the run). */
static void test_schedule_fit(void **state) {
  (void)state;
  clippo_schedule s = {0};
  s.kind = CLIPPO_SCHED_RSQRT;
  s.timescale = 200;
  s.total_steps = 50;
  s.warmup_steps = 100;
  s.cooldown_steps = 200;
  assert_int_equal(clippo_schedule_fit(&s), 3);
  assert_int_equal(s.warmup_steps, 5);
  assert_int_equal(s.cooldown_steps, 5);
  s.total_steps = 1000;
  s.warmup_steps = 100;
  s.cooldown_steps = 200;
  assert_int_equal(clippo_schedule_fit(&s), 0);
  assert_int_equal(s.warmup_steps, 100);
  assert_int_equal(s.cooldown_steps, 200);
  s.total_steps = 250; /* each fits, together they do not: only the long one is cut */
  s.warmup_steps = 10;
  s.cooldown_steps = 245;
  assert_int_equal(clippo_schedule_fit(&s), 2);
  assert_int_equal(s.warmup_steps, 10);
  assert_int_equal(s.cooldown_steps, 25);

  clippo_error err;
  clippo_train_opts o;
  clippo_train_opts_default(&o);
  o.warmup = 300;
  o.cooldown = 0;
  clippo_opt_config c;
  char note[512];
  assert_int_equal(clippo_train_opt_config(&o, 200, &c, &err), CLIPPO_E_ARG);
  TEST_OK(clippo_train_opt_config_fitted(&o, 200, &c, note, sizeof note, &err), &err);
  assert_int_equal(c.schedule.warmup_steps, 20);
  assert_non_null(strstr(note, "--warmup"));
  assert_non_null(strstr(note, "--cooldown"));
  o.cooldown = 500; /* the learning rate of every step used to shrink by (200 - step) / 500 */
  o.warmup = 0;
  TEST_OK(clippo_train_opt_config_fitted(&o, 200, &c, note, sizeof note, &err), &err);
  assert_int_equal(c.schedule.cooldown_steps, 20);
  assert_true(clippo_schedule_value(&c.schedule, 0) == 1.0);
  o.cooldown = 20;
  TEST_OK(clippo_train_opt_config_fitted(&o, 200, &c, note, sizeof note, &err), &err);
  assert_string_equal(note, "");
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_schedule_fit),
                                     cmocka_unit_test(test_train)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
