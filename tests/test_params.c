/* The parameter tree: B/16 and L/16 counts, big_vision initialisation statistics, config
 * inference and checking, JSON configs. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ckpt_gen.h"
#include "clippo/params.h"
#include "support.h"

static void test_counts(void **state) {
  (void)state;
  clippo_error err;
  clippo_config cfg;
  clippo_params p = {0};
  clippo_config_b16(&cfg);
  TEST_OK(clippo_params_init(&p, &cfg, 0, &err), &err);
  assert_int_equal(p.count, 215);
  assert_int_equal(clippo_params_total(&p), 93474817);
  TEST_OK(clippo_params_check(&p, &cfg, &err), &err);
  clippo_params_free(&p);
  clippo_config_l16(&cfg);
  TEST_OK(clippo_params_init(&p, &cfg, 0, &err), &err);
  assert_int_equal(p.count, 407);
  assert_int_equal(clippo_params_total(&p), 316681985);
  clippo_config inferred;
  TEST_OK(clippo_config_infer(&p, &inferred, &err), &err);
  assert_int_equal(inferred.width, 1024);
  assert_int_equal(inferred.depth, 24);
  assert_int_equal(inferred.heads, 16);
  assert_int_equal(inferred.mlp_dim, 4096);
  assert_int_equal(inferred.image_size, 224);
  assert_int_equal(inferred.out_dim, 768);
  clippo_params_free(&p);
}

/* Mean and standard deviation, and max |x|. */
static void stats(const clippo_params *p, const char *name, double *mean, double *sd,
                  double *maxabs) {
  clippo_param *it = clippo_params_find(p, name);
  if (!it) fail_msg("missing %s", name);
  size_t n = clippo_array_count(&it->value);
  const float *x = it->value.data;
  double s = 0, s2 = 0, m = 0;
  for (size_t i = 0; i < n; i++) {
    s += x[i];
    s2 += (double)x[i] * x[i];
    if (fabs((double)x[i]) > m) m = fabs((double)x[i]);
  }
  *mean = s / (double)n;
  *sd = sqrt(s2 / (double)n - *mean * *mean);
  *maxabs = m;
}

static void test_init_statistics(void **state) {
  (void)state;
  clippo_error err;
  clippo_config cfg;
  clippo_config_b16(&cfg);
  clippo_params p = {0};
  TEST_OK(clippo_params_init(&p, &cfg, 42, &err), &err);
  double mean, sd, mx, W = 768, M = 3072;
  /* Patch kernel: lecun normal (truncated at 2 sd of the underlying normal), sd 1/sqrt(fan_in). */
  stats(&p, "img/embedding/kernel", &mean, &sd, &mx);
  double lec = 1 / sqrt(16 * 16 * 3.0);
  assert_true(fabs(sd / lec - 1) < 0.01 && fabs(mean) < 0.01 * lec);
  assert_true(mx <= 2 * lec / 0.87962566103423978 * 1.0001);
  stats(&p, "img/head/kernel", &mean, &sd, &mx);
  assert_true(fabs(sd * sqrt(W) - 1) < 0.01);
  stats(&p, "img/pos_embedding", &mean, &sd, &mx);
  assert_true(fabs(sd * sqrt(W) - 1) < 0.02);
  /* Xavier uniform: limit sqrt(6/(fan_in+fan_out)), sd limit/sqrt(3). */
  stats(&p, "img/Transformer/encoderblock_3/MultiHeadDotProductAttention_0/query/kernel", &mean,
        &sd, &mx);
  double lim = sqrt(6 / (W + W));
  assert_true(fabs(sd / (lim / sqrt(3)) - 1) < 0.01 && mx <= lim);
  stats(&p, "img/Transformer/encoderblock_0/MultiHeadDotProductAttention_0/out/kernel", &mean, &sd,
        &mx);
  assert_true(fabs(sd / (lim / sqrt(3)) - 1) < 0.01 && mx <= lim);
  stats(&p, "img/Transformer/encoderblock_11/MlpBlock_0/Dense_0/kernel", &mean, &sd, &mx);
  lim = sqrt(6 / (W + M));
  assert_true(fabs(sd / (lim / sqrt(3)) - 1) < 0.01 && mx <= lim);
  stats(&p, "img/MAPHead_0/probe", &mean, &sd, &mx);
  assert_true(mx <= sqrt(6 / (1 + W)) && sd > 0.5 * sqrt(6 / (1 + W)) / sqrt(3));
  /* MLP biases ~ N(0, 1e-6); attention biases 0; LayerNorm 1 / 0; t = log(10). */
  stats(&p, "img/Transformer/encoderblock_5/MlpBlock_0/Dense_0/bias", &mean, &sd, &mx);
  assert_true(sd > 0.8e-6 && sd < 1.2e-6);
  stats(&p, "img/MAPHead_0/MlpBlock_0/Dense_1/bias", &mean, &sd, &mx);
  assert_true(sd > 0.7e-6 && sd < 1.3e-6);
  stats(&p, "img/Transformer/encoderblock_5/MultiHeadDotProductAttention_0/key/bias", &mean, &sd,
        &mx);
  assert_true(mx == 0);
  stats(&p, "img/Transformer/encoder_norm/scale", &mean, &sd, &mx);
  assert_true(mean == 1 && sd == 0);
  stats(&p, "img/head/bias", &mean, &sd, &mx);
  assert_true(mx == 0);
  int64_t one = 1;
  const float *t = clippo_params_get(&p, "t", 1, &one, &err);
  assert_non_null(t);
  assert_true(fabsf(t[0] - logf(10.0f)) < 1e-6f);
  /* Deterministic for a seed, different across seeds. */
  clippo_config tiny;
  ckpt_gen_tiny(&tiny);
  clippo_params a = {0}, b = {0}, c = {0};
  TEST_OK(clippo_params_init(&a, &tiny, 7, &err), &err);
  TEST_OK(clippo_params_init(&b, &tiny, 7, &err), &err);
  TEST_OK(clippo_params_init(&c, &tiny, 8, &err), &err);
  for (size_t i = 0; i < a.count; i++) {
    size_t bytes = clippo_array_count(&a.items[i].value) * 4;
    assert_memory_equal(a.items[i].value.data, b.items[i].value.data, bytes);
  }
  assert_true(memcmp(a.items[0].value.data, c.items[0].value.data, 64) != 0);
  assert_int_equal(clippo_params_init(&a, &tiny, 7, &err), CLIPPO_E_ARG); /* not empty */
  clippo_params_free(&a);
  clippo_params_free(&b);
  clippo_params_free(&c);
  clippo_params_free(&p);
}

static void test_infer_and_check(void **state) {
  (void)state;
  clippo_error err;
  clippo_config cfg, got;
  ckpt_gen_tiny(&cfg);
  clippo_params p = {0};
  TEST_OK(ckpt_gen_params(&cfg, 1, &p, &err), &err);
  TEST_OK(clippo_config_infer(&p, &got, &err), &err);
  assert_int_equal(got.width, 64);
  assert_int_equal(got.depth, 2);
  assert_int_equal(got.heads, 4);
  assert_int_equal(got.mlp_dim, 128);
  assert_int_equal(got.patch, 8);
  assert_int_equal(got.image_size, 32);
  assert_int_equal(got.out_dim, 32);
  assert_string_equal(got.pool, "map");
  TEST_OK(clippo_params_check(&p, &cfg, &err), &err);
  /* Wrong shape: names the key and both shapes. */
  clippo_param *it = clippo_params_find(&p, "img/head/kernel");
  it->value.shape[0] = 32;
  it->value.shape[1] = 64;
  assert_int_equal(clippo_params_check(&p, &cfg, &err), CLIPPO_E_SHAPE);
  assert_non_null(strstr(err.msg, "img/head/kernel"));
  assert_non_null(strstr(err.msg, "(64, 32)"));
  assert_non_null(strstr(err.msg, "(32, 64)"));
  assert_int_equal(clippo_config_infer(&p, &got, &err), CLIPPO_E_SHAPE);
  it->value.shape[0] = 64;
  it->value.shape[1] = 32;
  /* Wrong dtype. */
  it->value.dtype = CLIPPO_I32;
  assert_int_equal(clippo_params_check(&p, &cfg, &err), CLIPPO_E_SHAPE);
  assert_non_null(strstr(err.msg, "int32"));
  it->value.dtype = CLIPPO_F32;
  /* Extra tensor. */
  clippo_array x;
  int64_t sh[1] = {4};
  TEST_OK(clippo_array_alloc(&x, CLIPPO_F32, 1, sh, &err), &err);
  TEST_OK(clippo_params_add(&p, "img/Transformer/encoderblock_2/LayerNorm_0/scale", &x, &err),
          &err);
  assert_int_equal(clippo_params_check(&p, &cfg, &err), CLIPPO_E_FORMAT);
  assert_non_null(strstr(err.msg, "encoderblock_2/LayerNorm_0/scale"));
  /* Duplicate. */
  TEST_OK(clippo_array_alloc(&x, CLIPPO_F32, 1, sh, &err), &err);
  assert_int_equal(clippo_params_add(&p, "t", &x, &err), CLIPPO_E_ARG);
  assert_null(x.data);
  clippo_params_free(&p);
  /* Missing tensor. */
  TEST_OK(ckpt_gen_params(&cfg, 1, &p, &err), &err);
  clippo_param *last = &p.items[p.count - 1];
  free(last->name);
  clippo_array_free(&last->value);
  p.count--;
  assert_int_equal(clippo_params_check(&p, &cfg, &err), CLIPPO_E_NOTFOUND);
  assert_non_null(strstr(err.msg, "'t'"));
  clippo_params_free(&p);
  /* gap pool without head; tok pool. */
  strcpy(cfg.pool, "gap");
  cfg.out_dim = 0;
  TEST_OK(ckpt_gen_params(&cfg, 1, &p, &err), &err);
  TEST_OK(clippo_config_infer(&p, &got, &err), &err);
  assert_string_equal(got.pool, "gap");
  assert_int_equal(got.out_dim, 0);
  clippo_params_free(&p);
  strcpy(cfg.pool, "tok");
  TEST_OK(ckpt_gen_params(&cfg, 1, &p, &err), &err);
  TEST_OK(clippo_config_infer(&p, &got, &err), &err);
  assert_string_equal(got.pool, "tok");
  clippo_params_free(&p);
  /* Nothing to infer from. */
  assert_int_equal(clippo_config_infer(&p, &got, &err), CLIPPO_E_NOTFOUND);
  assert_non_null(strstr(err.msg, "img/embedding/kernel"));
}

static void test_get(void **state) {
  (void)state;
  clippo_error err;
  clippo_config cfg;
  ckpt_gen_tiny(&cfg);
  clippo_params p = {0};
  TEST_OK(ckpt_gen_params(&cfg, 1, &p, &err), &err);
  int64_t ok[2] = {64, 32}, bad[2] = {64, 33};
  assert_non_null(clippo_params_get(&p, "img/head/kernel", 2, ok, &err));
  assert_null(clippo_params_get(&p, "img/head/kernel", 2, bad, &err));
  assert_int_equal(err.status, CLIPPO_E_SHAPE);
  assert_non_null(strstr(err.msg, "(64, 33)"));
  assert_null(clippo_params_get(&p, "img/nothing", 2, ok, &err));
  assert_int_equal(err.status, CLIPPO_E_NOTFOUND);
  assert_non_null(strstr(err.msg, "img/nothing"));
  clippo_params_free(&p);
}

static void test_config_validate(void **state) {
  (void)state;
  clippo_error err;
  clippo_config c;
  clippo_config_b16(&c);
  TEST_OK(clippo_config_validate(&c, &err), &err);
  assert_int_equal(clippo_config_tokens(&c), 196);
  c.heads = 7;
  assert_int_equal(clippo_config_validate(&c, &err), CLIPPO_E_ARG);
  assert_non_null(strstr(err.msg, "heads"));
  clippo_config_b16(&c);
  c.image_size = 225;
  assert_int_equal(clippo_config_validate(&c, &err), CLIPPO_E_ARG);
  clippo_config_b16(&c);
  strcpy(c.pool, "max");
  assert_int_equal(clippo_config_validate(&c, &err), CLIPPO_E_ARG);
  clippo_config_b16(&c);
  c.ln_eps = 0;
  assert_int_equal(clippo_config_validate(&c, &err), CLIPPO_E_ARG);
  clippo_config_b16(&c);
  c.width = -1;
  assert_int_equal(clippo_config_validate(&c, &err), CLIPPO_E_ARG);
  TEST_OK(clippo_config_preset("L/16", &c, &err), &err);
  assert_int_equal(c.width, 1024);
  assert_int_equal(clippo_config_preset("h14", &c, &err), CLIPPO_E_NOTFOUND);
}

static void write_text(const char *path, const char *text) {
  FILE *f = fopen(path, "wb");
  fputs(text, f);
  fclose(f);
}

static void test_json_configs(void **state) {
  (void)state;
  clippo_error err;
  clippo_config c, want;
  char path[1024];
  snprintf(path, sizeof path, "%s/configs/b16.json", test_source_dir());
  TEST_OK(clippo_config_load_json(path, &c, &err), &err);
  clippo_config_b16(&want);
  assert_int_equal(c.width, want.width);
  assert_int_equal(c.depth, want.depth);
  assert_int_equal(c.heads, want.heads);
  assert_int_equal(c.mlp_dim, want.mlp_dim);
  assert_int_equal(c.out_dim, want.out_dim);
  assert_int_equal(c.image_size, want.image_size);
  assert_string_equal(c.pool, "map");
  assert_true(c.ln_eps == want.ln_eps);
  snprintf(path, sizeof path, "%s/configs/l16.json", test_source_dir());
  TEST_OK(clippo_config_load_json(path, &c, &err), &err);
  assert_int_equal(c.width, 1024);
  assert_int_equal(c.depth, 24);
  assert_int_equal(c.heads, 16);
  assert_int_equal(c.mlp_dim, 4096);
  char *dir = test_tmpdir();
  snprintf(path, sizeof path, "%s/c.json", dir);
  write_text(path, "{\"variant\": \"B/16\", \"depth\": 2, \"image_size\": 64, \"font\": \"x\"}");
  TEST_OK(clippo_config_load_json(path, &c, &err), &err);
  assert_int_equal(c.depth, 2);
  assert_int_equal(c.image_size, 64);
  assert_string_equal(c.font, "x");
  const char *bad[] = {
      "{\"widht\": 768}",       "{\"width\": \"768\"}",
      "{\"width\": 76.5}",      "{\"heads\": 7}",
      "{\"pool\": 3}",          "[1, 2]",
      "{\"width\": 768",        "",
      "{\"variant\": \"X/1\"}", "{\"ln_eps\": -1}",
  };
  const clippo_status want_st[] = {
      CLIPPO_E_FORMAT, CLIPPO_E_FORMAT, CLIPPO_E_FORMAT, CLIPPO_E_ARG,      CLIPPO_E_FORMAT,
      CLIPPO_E_FORMAT, CLIPPO_E_FORMAT, CLIPPO_E_FORMAT, CLIPPO_E_NOTFOUND, CLIPPO_E_FORMAT};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    write_text(path, bad[i]);
    clippo_status st = clippo_config_load_json(path, &c, &err);
    if (st != want_st[i])
      fail_msg("'%s': expected %s, got %s (%s)", bad[i], clippo_status_name(want_st[i]),
               clippo_status_name(st), err.msg);
    assert_non_null(strstr(err.msg, path));
  }
  remove(path);
  assert_int_equal(clippo_config_load_json(path, &c, &err), CLIPPO_E_IO);
  remove(dir);
  free(dir);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_counts),          cmocka_unit_test(test_init_statistics),
      cmocka_unit_test(test_infer_and_check), cmocka_unit_test(test_get),
      cmocka_unit_test(test_config_validate), cmocka_unit_test(test_json_configs),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
