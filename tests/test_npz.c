/* .npz checkpoints: the fixture, generated files (stored, zip64, deflated, scanned), the writer
 * (checked by numpy when available) and malformed archives. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ckpt_gen.h"
#include "clippo/checkpoint.h"
#include "clippo/npy.h"
#include "support.h"

static int have_numpy(void) {
  return system("/usr/bin/python3 -c 'import numpy' >/dev/null 2>&1") == 0;
}

static void assert_params_equal(const clippo_params *a, const clippo_params *b) {
  assert_int_equal(a->count, b->count);
  for (size_t i = 0; i < a->count; i++) {
    const clippo_param *x = &a->items[i];
    const clippo_param *y = clippo_params_find(b, x->name);
    if (!y) fail_msg("'%s' missing", x->name);
    assert_int_equal(x->value.dtype, y->value.dtype);
    assert_int_equal(x->value.ndim, y->value.ndim);
    for (int k = 0; k < x->value.ndim; k++) assert_int_equal(x->value.shape[k], y->value.shape[k]);
    size_t bytes = clippo_array_count(&x->value) * clippo_dtype_size(x->value.dtype);
    if (bytes && memcmp(x->value.data, y->value.data, bytes)) fail_msg("'%s' differs", x->name);
  }
}

static void test_fixture(void **state) {
  (void)state;
  clippo_error err;
  char *path = test_shared_path("fixtures/tiny/model.npz");
  clippo_params p = {0}, opt = {0};
  TEST_OK(clippo_npz_load(path, &p, NULL, &err), &err);
  assert_int_equal(p.count, 55);
  assert_non_null(clippo_params_find(&p, "img/embedding/kernel"));
  assert_null(clippo_params_find(&p, "img/embedding/kernel.npy"));
  for (size_t i = 0; i < p.count; i++) assert_int_equal(p.items[i].value.dtype, CLIPPO_F32);
  int64_t one = 1;
  float *t = clippo_params_get(&p, "t", 1, &one, &err);
  assert_non_null(t);
  assert_true(fabs(exp((double)t[0]) - 10.000000319754372) < 1e-5);
  clippo_params_free(&p);
  TEST_OK(clippo_npz_load(path, &p, &opt, &err), &err);
  assert_int_equal(p.count, 55);
  assert_true(opt.count > 0);
  int bf16 = 0;
  for (size_t i = 0; i < opt.count; i++) bf16 += opt.items[i].value.dtype == CLIPPO_BF16;
  assert_true(bf16 > 0);
  clippo_param *o = clippo_params_find(&opt, "1/0/2/1/img/embedding/kernel");
  assert_non_null(o);
  assert_int_equal(o->value.dtype, CLIPPO_BF16);
  assert_int_equal(o->value.ndim, 4);
  clippo_params_free(&p);
  clippo_params_free(&opt);
  free(path);
}

static void check_variant(const char *dir, int zip64, int deflate, int scanned) {
  clippo_error err;
  char path[1024];
  snprintf(path, sizeof path, "%s/g_%d%d%d.npz", dir, zip64, deflate, scanned);
  clippo_config cfg;
  ckpt_gen_tiny(&cfg);
  cfg.depth = 3;
  ckpt_gen_opts o = {
      .seed = 11, .scanned = scanned, .with_opt = 1, .zip64 = zip64, .deflate = deflate};
  clippo_params want = {0}, got = {0}, opt = {0};
  TEST_OK(ckpt_gen_write(path, &cfg, &o, &want, &err), &err);
  if (zip64 && !deflate) { /* the local header of the first member has 0xFFFFFFFF sizes */
    FILE *f = fopen(path, "rb");
    unsigned char h[30];
    assert_int_equal(fread(h, 1, 30, f), 30);
    fclose(f);
    for (int i = 18; i < 26; i++) assert_int_equal(h[i], 0xff);
  }
  TEST_OK(clippo_npz_load(path, &got, &opt, &err), &err);
  assert_true(opt.count == 1 + 2 * want.count);
  TEST_OK(clippo_params_unscan(&got, &err), &err);
  assert_params_equal(&want, &got);
  clippo_config inferred;
  TEST_OK(clippo_config_infer(&got, &inferred, &err), &err);
  assert_int_equal(inferred.depth, 3);
  TEST_OK(clippo_params_check(&got, &cfg, &err), &err);
  clippo_params_free(&want);
  clippo_params_free(&got);
  clippo_params_free(&opt);
  remove(path);
}

static void test_generated_variants(void **state) {
  (void)state;
  char *dir = test_tmpdir();
  for (int zip64 = 0; zip64 < 2; zip64++)
    for (int deflate = 0; deflate < 2; deflate++)
      for (int scanned = 0; scanned < 2; scanned++) check_variant(dir, zip64, deflate, scanned);
  remove(dir);
  free(dir);
}

static void test_unscan_errors(void **state) {
  (void)state;
  clippo_error err;
  clippo_config cfg;
  ckpt_gen_tiny(&cfg);
  clippo_params p = {0};
  TEST_OK(ckpt_gen_params(&cfg, 3, &p, &err), &err);
  /* A scanned tensor next to unscanned blocks. */
  clippo_array a;
  int64_t sh[2] = {2, 64};
  TEST_OK(clippo_array_alloc(&a, CLIPPO_F32, 2, sh, &err), &err);
  TEST_OK(clippo_params_add(&p, "img/Transformer/encoderblock/LayerNorm_0/scale", &a, &err), &err);
  assert_int_equal(clippo_params_unscan(&p, &err), CLIPPO_E_FORMAT);
  assert_non_null(strstr(err.msg, "scanned"));
  clippo_params_free(&p);
  /* Scanned tensors with different layer counts. */
  TEST_OK(clippo_array_alloc(&a, CLIPPO_F32, 2, sh, &err), &err);
  TEST_OK(clippo_params_add(&p, "img/Transformer/encoderblock/LayerNorm_0/scale", &a, &err), &err);
  sh[0] = 3;
  TEST_OK(clippo_array_alloc(&a, CLIPPO_F32, 2, sh, &err), &err);
  TEST_OK(clippo_params_add(&p, "img/Transformer/encoderblock/LayerNorm_0/bias", &a, &err), &err);
  assert_int_equal(clippo_params_unscan(&p, &err), CLIPPO_E_SHAPE);
  assert_non_null(strstr(err.msg, "LayerNorm_0/bias"));
  clippo_params_free(&p);
}

static void test_writer_and_numpy(void **state) {
  (void)state;
  clippo_error err;
  char *dir = test_tmpdir();
  char path[1024], cmd[4096];
  snprintf(path, sizeof path, "%s/w.npz", dir);
  clippo_config cfg;
  ckpt_gen_tiny(&cfg);
  clippo_params p = {0}, opt = {0}, p2 = {0}, opt2 = {0};
  TEST_OK(ckpt_gen_params(&cfg, 5, &p, &err), &err);
  clippo_array a;
  int64_t sh[2] = {3, 2};
  TEST_OK(clippo_array_alloc(&a, CLIPPO_BF16, 2, sh, &err), &err);
  for (int i = 0; i < 6; i++) ((uint16_t *)a.data)[i] = clippo_float_to_bf16((float)i + 1.0f);
  TEST_OK(clippo_params_add(&opt, "1/0/2/1/x", &a, &err), &err);
  TEST_OK(clippo_array_alloc(&a, CLIPPO_I32, 0, sh, &err), &err);
  ((int32_t *)a.data)[0] = 42;
  TEST_OK(clippo_params_add(&opt, "1/0/0/0", &a, &err), &err);
  TEST_OK(clippo_npz_save(path, &p, &opt, &err), &err);
  TEST_OK(clippo_npz_load(path, &p2, &opt2, &err), &err);
  assert_params_equal(&p, &p2);
  assert_params_equal(&opt, &opt2);
  /* Saving nothing is refused; saving into a missing folder fails with E_IO. */
  clippo_params empty = {0};
  assert_int_equal(clippo_npz_save(path, &empty, NULL, &err), CLIPPO_E_ARG);
  char bad[1100];
  snprintf(bad, sizeof bad, "%s/missing/w.npz", dir);
  assert_int_equal(clippo_npz_save(bad, &p, NULL, &err), CLIPPO_E_IO);
  if (have_numpy()) {
    snprintf(cmd, sizeof cmd,
             "/usr/bin/python3 -c \"import numpy as np, zipfile\n"
             "z=zipfile.ZipFile('%s'); assert all(i.compress_type==0 for i in z.infolist())\n"
             "d=np.load('%s'); k=d.files\n"
             "assert 'params/img/embedding/kernel' in k and 'params/t' in k, k\n"
             "assert d['params/img/embedding/kernel'].shape==(8,8,3,64)\n"
             "assert d['params/img/embedding/kernel'].dtype==np.float32\n"
             "assert d['opt/1/0/2/1/x'].dtype.str=='|V2' and d['opt/1/0/2/1/x'].shape==(3,2)\n"
             "assert int(d['opt/1/0/0/0'])==42\n"
             "assert len([x for x in k if x.startswith('params/')])==%zu\"",
             path, path, p.count);
    assert_int_equal(system(cmd), 0);
    /* And numpy/zipfile read the zip64 files the generator writes, like released ones. */
    snprintf(path, sizeof path, "%s/z.npz", dir);
    ckpt_gen_opts o = {.seed = 1, .with_opt = 1, .zip64 = 1};
    TEST_OK(ckpt_gen_write(path, &cfg, &o, NULL, &err), &err);
    snprintf(cmd, sizeof cmd,
             "/usr/bin/python3 -c \"import numpy as np\n"
             "d=np.load('%s'); assert d['params/img/pos_embedding'].shape==(1,16,64)\n"
             "assert d['opt/1/0/2/1/t'].dtype.str=='|V2'\"",
             path);
    assert_int_equal(system(cmd), 0);
    remove(path);
  }
  clippo_params_free(&p);
  clippo_params_free(&opt);
  clippo_params_free(&p2);
  clippo_params_free(&opt2);
  snprintf(path, sizeof path, "%s/w.npz", dir);
  remove(path);
  remove(dir);
  free(dir);
}

/* Loads path and expects status want with the path and needle in the message. */
static void expect_load_fail(const char *path, clippo_status want, const char *needle) {
  clippo_error err;
  clippo_params p = {0}, opt = {0};
  clippo_status st = clippo_npz_load(path, &p, &opt, &err);
  if (st != want)
    fail_msg("%s: expected %s, got %s: %s", path, clippo_status_name(want), clippo_status_name(st),
             st ? err.msg : "");
  if (!strstr(err.msg, path)) fail_msg("message lacks the path: %s", err.msg);
  if (needle && !strstr(err.msg, needle)) fail_msg("message lacks '%s': %s", needle, err.msg);
  assert_int_equal(p.count, 0);
  assert_int_equal(opt.count, 0);
}

static void write_members(const char *path, const char *name, const void *data, size_t len,
                          int zip64) {
  clippo_error err;
  ckpt_gen_member m[2] = {{"params/t.npy", NULL, 0}, {name, data, len}};
  void *tb = NULL;
  float one = 1.0f;
  clippo_array t = {CLIPPO_F32, 1, {1}, &one};
  TEST_OK(ckpt_gen_npy_bytes(&t, &tb, &m[0].len, &err), &err);
  m[0].data = tb;
  TEST_OK(ckpt_gen_zip(path, m, 2, zip64, 0, &err), &err);
  free(tb);
}

static void test_malformed(void **state) {
  (void)state;
  clippo_error err;
  char *dir = test_tmpdir();
  char path[1024];
  clippo_config cfg;
  ckpt_gen_tiny(&cfg);
  ckpt_gen_opts o = {.seed = 2, .with_opt = 1};
  /* Missing file; garbage; truncated archive. */
  snprintf(path, sizeof path, "%s/missing.npz", dir);
  expect_load_fail(path, CLIPPO_E_IO, NULL);
  snprintf(path, sizeof path, "%s/garbage.npz", dir);
  FILE *f = fopen(path, "wb");
  for (int i = 0; i < 5000; i++) fputc((i * 7919) & 0xff, f);
  fclose(f);
  expect_load_fail(path, CLIPPO_E_FORMAT, NULL);
  remove(path);
  for (int zip64 = 0; zip64 < 2; zip64++) {
    snprintf(path, sizeof path, "%s/trunc%d.npz", dir, zip64);
    o.zip64 = zip64;
    TEST_OK(ckpt_gen_write(path, &cfg, &o, NULL, &err), &err);
    f = fopen(path, "rb");
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fclose(f);
    assert_int_equal(truncate(path, n / 2), 0);
    expect_load_fail(path, CLIPPO_E_FORMAT, NULL);
    remove(path);
    /* A flipped byte inside the first member's data: the CRC check catches it. */
    snprintf(path, sizeof path, "%s/crc%d.npz", dir, zip64);
    TEST_OK(ckpt_gen_write(path, &cfg, &o, NULL, &err), &err);
    f = fopen(path, "r+b");
    fseek(f, 400, SEEK_SET);
    int c = fgetc(f);
    fseek(f, 400, SEEK_SET);
    fputc(c ^ 0x55, f);
    fclose(f);
    expect_load_fail(path, CLIPPO_E_FORMAT, "params/img/embedding/kernel.npy");
    remove(path);
  }
  /* Absurd .npy header length in a member. */
  float v[4] = {1, 2, 3, 4};
  unsigned char buf[256];
  clippo_array arr = {CLIPPO_F32, 1, {4}, v};
  size_t hl = 0;
  TEST_OK(clippo_npy_header_write(&arr, (char *)buf, sizeof buf, &hl, &err), &err);
  memcpy(buf + hl, v, 16);
  unsigned char bad[256];
  memcpy(bad, buf, hl + 16);
  bad[6] = 2;
  bad[8] = bad[9] = bad[10] = bad[11] = 0xff;
  snprintf(path, sizeof path, "%s/hdr.npz", dir);
  write_members(path, "params/img/x.npy", bad, hl + 16, 1);
  expect_load_fail(path, CLIPPO_E_FORMAT, "params/img/x.npy");
  remove(path);
  /* A shape far larger than the member. */
  const char *dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (1000000000, 1000), }";
  memcpy(bad, buf, hl + 16);
  memset(bad + 10, ' ', hl - 11);
  /* patches bytes inside the header: no terminating NUL wanted */
  memcpy(bad + 10, dict, strlen(dict)); // NOLINT(bugprone-not-null-terminated-result)
  write_members(path, "params/img/y.npy", bad, hl + 16, 0);
  expect_load_fail(path, CLIPPO_E_FORMAT, "params/img/y.npy");
  remove(path);
  /* A member that is not .npy at all. */
  write_members(path, "params/img/z.npy", "just text, no numpy here", 25, 0);
  expect_load_fail(path, CLIPPO_E_FORMAT, "params/img/z.npy");
  remove(path);
  /* An integer parameter: wrong dtype, naming the key. */
  int32_t iv[4] = {1, 2, 3, 4};
  clippo_array ia = {CLIPPO_I32, 1, {4}, iv};
  void *ib = NULL;
  size_t il = 0;
  TEST_OK(ckpt_gen_npy_bytes(&ia, &ib, &il, &err), &err);
  write_members(path, "params/img/head/bias.npy", ib, il, 0);
  expect_load_fail(path, CLIPPO_E_SHAPE, "img/head/bias");
  free(ib);
  /* Duplicate member names. */
  clippo_array fa = {CLIPPO_F32, 1, {4}, v};
  TEST_OK(ckpt_gen_npy_bytes(&fa, &ib, &il, &err), &err);
  write_members(path, "params/t.npy", ib, il, 1);
  expect_load_fail(path, CLIPPO_E_FORMAT, "twice");
  free(ib);
  remove(path);
  remove(dir);
  free(dir);
}

static void test_params_only_file(void **state) {
  (void)state;
  clippo_error err;
  char *dir = test_tmpdir();
  char path[1024];
  snprintf(path, sizeof path, "%s/p.npz", dir);
  clippo_config cfg;
  ckpt_gen_tiny(&cfg);
  clippo_params p = {0}, q = {0};
  TEST_OK(ckpt_gen_params(&cfg, 9, &p, &err), &err);
  TEST_OK(ckpt_gen_write_arrays(path, &p, 0, 0, &err), &err); /* no "params/" prefix */
  TEST_OK(clippo_npz_load(path, &q, NULL, &err), &err);
  assert_params_equal(&p, &q);
  clippo_params_free(&p);
  clippo_params_free(&q);
  remove(path);
  remove(dir);
  free(dir);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_fixture),       cmocka_unit_test(test_generated_variants),
      cmocka_unit_test(test_unscan_errors), cmocka_unit_test(test_writer_and_numpy),
      cmocka_unit_test(test_malformed),     cmocka_unit_test(test_params_only_file),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
