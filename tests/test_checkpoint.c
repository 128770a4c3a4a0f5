/* Checkpoints: the fixture with its inferred config, npz -> h5 -> npz round trips, HDF5 storage
 * conversions, atomic writes and malformed HDF5 files. */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ckpt_gen.h"
#include "clippo/checkpoint.h"
#include "support.h"

static void assert_params_equal(const clippo_params *a, const clippo_params *b) {
  assert_int_equal(a->count, b->count);
  for (size_t i = 0; i < a->count; i++) {
    const clippo_param *x = &a->items[i], *y = &b->items[i];
    if (strcmp(x->name, y->name)) fail_msg("order differs at %zu: %s vs %s", i, x->name, y->name);
    assert_int_equal(x->value.dtype, y->value.dtype);
    assert_int_equal(x->value.ndim, y->value.ndim);
    for (int k = 0; k < x->value.ndim; k++) assert_int_equal(x->value.shape[k], y->value.shape[k]);
    size_t bytes = clippo_array_count(&x->value) * clippo_dtype_size(x->value.dtype);
    if (bytes && memcmp(x->value.data, y->value.data, bytes)) fail_msg("'%s' differs", x->name);
  }
}

/* Same names, dtypes, shapes and bytes, in any order. */
static void assert_same_set(const clippo_params *a, const clippo_params *b) {
  assert_int_equal(a->count, b->count);
  for (size_t i = 0; i < a->count; i++) {
    const clippo_param *x = &a->items[i], *y = clippo_params_find(b, x->name);
    if (!y) fail_msg("'%s' missing", x->name);
    assert_int_equal(x->value.dtype, y->value.dtype);
    assert_int_equal(x->value.ndim, y->value.ndim);
    for (int k = 0; k < x->value.ndim; k++) assert_int_equal(x->value.shape[k], y->value.shape[k]);
    size_t bytes = clippo_array_count(&x->value) * clippo_dtype_size(x->value.dtype);
    if (bytes && memcmp(x->value.data, y->value.data, bytes)) fail_msg("'%s' differs", x->name);
  }
}

static int count_files(const char *dir) {
  DIR *d = opendir(dir);
  struct dirent *e;
  int n = 0;
  while ((e = readdir(d)))
    if (e->d_name[0] != '.') n++;
  closedir(d);
  return n;
}

static int json_int(const cJSON *o, const char *k) {
  const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, k);
  return it ? (int)it->valuedouble : -1;
}

static void test_fixture_config(void **state) {
  (void)state;
  clippo_error err;
  char *path = test_shared_path("fixtures/tiny/model.npz");
  char *meta_path = test_shared_path("fixtures/tiny/meta.json");
  FILE *f = fopen(meta_path, "rb");
  assert_non_null(f);
  char text[4096] = {0};
  assert_true(fread(text, 1, sizeof text - 1, f) > 0);
  fclose(f);
  cJSON *meta = cJSON_Parse(text);
  assert_non_null(meta);
  clippo_checkpoint ck;
  TEST_OK(clippo_checkpoint_load(path, &ck, 0, &err), &err);
  assert_int_equal(ck.has_cfg, 0);
  assert_int_equal(ck.cfg.width, json_int(meta, "width"));
  assert_int_equal(ck.cfg.depth, json_int(meta, "depth"));
  assert_int_equal(ck.cfg.heads, json_int(meta, "heads"));
  assert_int_equal(ck.cfg.mlp_dim, json_int(meta, "mlp_dim"));
  assert_int_equal(ck.cfg.patch, json_int(meta, "patch"));
  assert_int_equal(ck.cfg.image_size, json_int(meta, "image"));
  assert_int_equal(ck.cfg.out_dim, json_int(meta, "out_dim"));
  assert_int_equal(ck.cfg.width, 64);
  assert_int_equal(ck.cfg.depth, 2);
  assert_int_equal(ck.cfg.heads, 4);
  assert_int_equal(ck.cfg.mlp_dim, 128);
  assert_int_equal(ck.cfg.patch, 8);
  assert_int_equal(ck.cfg.image_size, 32);
  assert_int_equal(ck.cfg.out_dim, 32);
  assert_string_equal(ck.cfg.pool, "map");
  assert_int_equal(ck.opt.count, 0);
  assert_int_equal(ck.step, -1);
  /* Canonical order: the first and last tensors. */
  assert_string_equal(ck.params.items[0].name, "img/embedding/kernel");
  assert_string_equal(ck.params.items[ck.params.count - 1].name, "t");
  clippo_checkpoint_free(&ck);
  cJSON_Delete(meta);
  free(meta_path);
  free(path);
}

static void test_roundtrip(void **state) {
  (void)state;
  clippo_error err;
  char *fixture = test_shared_path("fixtures/tiny/model.npz");
  char *dir = test_tmpdir();
  char h5[1024], npz[1024], h5b[1024];
  snprintf(h5, sizeof h5, "%s/a.h5", dir);
  snprintf(npz, sizeof npz, "%s/b.npz", dir);
  snprintf(h5b, sizeof h5b, "%s/c.h5", dir);
  clippo_checkpoint a, b, c, d;
  TEST_OK(clippo_checkpoint_load(fixture, &a, 1, &err), &err);
  assert_true(a.opt.count > 0);
  a.step = 1234;
  strcpy(a.cfg.font, "unifont-9.0.06");
  a.has_cfg = 1;
  TEST_OK(clippo_checkpoint_set_attr(&a, "train_config", "{\"lr\": 0.001}", &err), &err);
  TEST_OK(clippo_checkpoint_set_attr(&a, "note", "first", &err), &err);
  TEST_OK(clippo_checkpoint_set_attr(&a, "note", "second", &err), &err);
  TEST_OK(clippo_checkpoint_save_h5(h5, &a, &err), &err);
  TEST_OK(clippo_checkpoint_load(h5, &b, 1, &err), &err);
  assert_int_equal(b.has_cfg, 1);
  assert_string_equal(b.cfg.font, "unifont-9.0.06");
  assert_int_equal(b.cfg.width, 64);
  assert_string_equal(b.cfg.pool, "map");
  assert_true(fabsf(b.cfg.ln_eps - 1e-6f) < 1e-12f);
  assert_int_equal(b.step, 1234);
  assert_string_equal(clippo_checkpoint_get_attr(&b, "train_config"), "{\"lr\": 0.001}");
  assert_string_equal(clippo_checkpoint_get_attr(&b, "note"), "second");
  assert_params_equal(&a.params, &b.params);
  assert_same_set(&a.opt, &b.opt); /* same dtypes (bf16, int32 scalars) and bits */
  TEST_OK(clippo_checkpoint_save_npz(npz, &b, &err), &err);
  TEST_OK(clippo_checkpoint_load(npz, &c, 1, &err), &err);
  assert_params_equal(&a.params, &c.params);
  assert_same_set(&a.opt, &c.opt);
  /* The npz we wrote equals the fixture member by member (params/ and opt/). */
  clippo_params p1 = {0}, o1 = {0}, p2 = {0}, o2 = {0};
  TEST_OK(clippo_npz_load(fixture, &p1, &o1, &err), &err);
  TEST_OK(clippo_npz_load(npz, &p2, &o2, &err), &err);
  assert_params_equal(&p1, &p2);
  assert_same_set(&o1, &o2);
  clippo_params_free(&p1);
  clippo_params_free(&o1);
  clippo_params_free(&p2);
  clippo_params_free(&o2);
  /* Without opt: none is read; the h5 still round-trips. */
  TEST_OK(clippo_checkpoint_load(h5, &d, 0, &err), &err);
  assert_int_equal(d.opt.count, 0);
  TEST_OK(clippo_checkpoint_save_h5(h5b, &d, &err), &err);
  clippo_checkpoint_free(&d);
  TEST_OK(clippo_checkpoint_load(h5b, &d, 1, &err), &err);
  assert_params_equal(&a.params, &d.params);
  assert_int_equal(d.opt.count, 0);
  clippo_checkpoint_free(&a);
  clippo_checkpoint_free(&b);
  clippo_checkpoint_free(&c);
  clippo_checkpoint_free(&d);
  assert_int_equal(count_files(dir), 3); /* no temporary files left */
  remove(h5);
  remove(npz);
  remove(h5b);
  remove(dir);
  free(dir);
  free(fixture);
}

static void test_scanned_checkpoint(void **state) {
  (void)state;
  clippo_error err;
  char *dir = test_tmpdir();
  char path[1024], h5[1024];
  snprintf(path, sizeof path, "%s/s.npz", dir);
  snprintf(h5, sizeof h5, "%s/s.h5", dir);
  clippo_config cfg;
  ckpt_gen_tiny(&cfg);
  cfg.depth = 4;
  ckpt_gen_opts o = {.seed = 4, .scanned = 1, .with_opt = 1, .zip64 = 1};
  clippo_params want = {0};
  TEST_OK(ckpt_gen_write(path, &cfg, &o, &want, &err), &err);
  clippo_checkpoint ck, ck2;
  TEST_OK(clippo_checkpoint_load(path, &ck, 1, &err), &err);
  assert_int_equal(ck.cfg.depth, 4);
  assert_params_equal(&want, &ck.params);
  TEST_OK(clippo_checkpoint_save_h5(h5, &ck, &err), &err);
  TEST_OK(clippo_checkpoint_load(h5, &ck2, 1, &err), &err);
  assert_params_equal(&want, &ck2.params);
  assert_same_set(&ck.opt, &ck2.opt);
  clippo_checkpoint_free(&ck);
  clippo_checkpoint_free(&ck2);
  clippo_params_free(&want);
  /* Other configs: gap pool without head, tok pool. */
  const char *pools[2] = {"gap", "tok"};
  for (int i = 0; i < 2; i++) {
    ckpt_gen_tiny(&cfg);
    strcpy(cfg.pool, pools[i]);
    cfg.out_dim = i ? 16 : 0;
    o.scanned = i;
    TEST_OK(ckpt_gen_write(path, &cfg, &o, NULL, &err), &err);
    TEST_OK(clippo_checkpoint_load(path, &ck, 0, &err), &err);
    assert_string_equal(ck.cfg.pool, pools[i]);
    assert_int_equal(ck.cfg.out_dim, cfg.out_dim);
    clippo_checkpoint_free(&ck);
  }
  remove(path);
  remove(h5);
  remove(dir);
  free(dir);
}

/* Loads path expecting status want; the message names the path and needle. */
static void expect_fail(const char *path, clippo_status want, const char *needle) {
  clippo_error err;
  clippo_checkpoint ck;
  clippo_status st = clippo_checkpoint_load(path, &ck, 1, &err);
  if (st != want)
    fail_msg("%s: expected %s, got %s: %s", path, clippo_status_name(want), clippo_status_name(st),
             st ? err.msg : "");
  if (!strstr(err.msg, path)) fail_msg("message lacks the path: %s", err.msg);
  if (needle && !strstr(err.msg, needle)) fail_msg("message lacks '%s': %s", needle, err.msg);
  assert_int_equal(ck.params.count, 0);
}

/* Writes a tiny HDF5 checkpoint with p (no checks) and the tiny config. */
static void save_raw_h5(const char *path, clippo_params *p, const clippo_params *opt) {
  clippo_error err;
  clippo_checkpoint ck;
  memset(&ck, 0, sizeof ck);
  ck.step = -1;
  ckpt_gen_tiny(&ck.cfg);
  ck.has_cfg = 1;
  ck.params = *p;
  if (opt) ck.opt = *opt;
  TEST_OK(clippo_h5_save(path, &ck, &err), &err);
}

static void test_malformed_h5(void **state) {
  (void)state;
  clippo_error err;
  char *dir = test_tmpdir();
  char path[1024];
  clippo_config cfg;
  ckpt_gen_tiny(&cfg);
  clippo_params p = {0};
  TEST_OK(ckpt_gen_params(&cfg, 8, &p, &err), &err);
  snprintf(path, sizeof path, "%s/m.h5", dir);
  /* Missing tensor. */
  clippo_param *it = clippo_params_find(&p, "img/MAPHead_0/probe");
  clippo_array saved = it->value;
  char *saved_name = it->name;
  it->name = strdup("img/MAPHead_0/probe_renamed");
  save_raw_h5(path, &p, NULL);
  expect_fail(path, CLIPPO_E_NOTFOUND, "img/MAPHead_0/probe");
  free(it->name);
  it->name = saved_name;
  /* Wrong shape. */
  it->value.shape[2] = 32;
  it->value.shape[1] = 2;
  save_raw_h5(path, &p, NULL);
  expect_fail(path, CLIPPO_E_SHAPE, "img/MAPHead_0/probe");
  it->value = saved;
  it->value.shape[1] = 1;
  it->value.shape[2] = 64;
  /* Extra tensor. */
  clippo_array x;
  int64_t sh[1] = {3};
  TEST_OK(clippo_array_alloc(&x, CLIPPO_F32, 1, sh, &err), &err);
  TEST_OK(clippo_params_add(&p, "img/extra/bias", &x, &err), &err);
  save_raw_h5(path, &p, NULL);
  expect_fail(path, CLIPPO_E_FORMAT, "img/extra/bias");
  clippo_params_free(&p);
  /* Truncated file and garbage behind an HDF5 signature. */
  TEST_OK(ckpt_gen_params(&cfg, 8, &p, &err), &err);
  save_raw_h5(path, &p, NULL);
  FILE *f = fopen(path, "rb");
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fclose(f);
  assert_int_equal(truncate(path, n / 2), 0);
  expect_fail(path, CLIPPO_E_FORMAT, NULL);
  f = fopen(path, "wb");
  fwrite("\x89HDF\r\n\x1a\n", 1, 8, f);
  for (int i = 0; i < 3000; i++) fputc((i * 31) & 0xff, f);
  fclose(f);
  expect_fail(path, CLIPPO_E_FORMAT, NULL);
  f = fopen(path, "wb");
  fputs("neither zip nor hdf5", f);
  fclose(f);
  expect_fail(path, CLIPPO_E_FORMAT, "not a checkpoint");
  snprintf(path, sizeof path, "%s/none.h5", dir);
  expect_fail(path, CLIPPO_E_IO, NULL);
  snprintf(path, sizeof path, "%s/m.h5", dir);
  remove(path);
  clippo_params_free(&p);
  remove(dir);
  free(dir);
}

/* Builds HDF5 files by hand: storage types, partial configs, wrong dtypes, links. */
static hid_t new_file(const char *path, const clippo_params *p, int with_cfg, int skip_heads) {
  hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  if (with_cfg) {
    const char *keys[] = {"width", "depth", "heads", "mlp_dim", "patch", "image_size", "out_dim"};
    long long vals[] = {64, 2, 4, 128, 8, 32, 32};
    for (int i = 0; i < 7; i++) {
      if (skip_heads && i == 2) continue;
      hid_t s = H5Screate(H5S_SCALAR);
      hid_t a = H5Acreate2(f, keys[i], H5T_STD_I32LE, s, H5P_DEFAULT, H5P_DEFAULT);
      H5Awrite(a, H5T_NATIVE_LLONG, &vals[i]);
      H5Aclose(a);
      H5Sclose(s);
    }
    hid_t t = H5Tcopy(H5T_C_S1); /* a fixed-length string, as some writers do */
    H5Tset_size(t, 3);
    hid_t s = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(f, "pool", t, s, H5P_DEFAULT, H5P_DEFAULT);
    H5Awrite(a, t, "map");
    H5Aclose(a);
    H5Sclose(s);
    H5Tclose(t);
  }
  hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
  H5Pset_create_intermediate_group(lcpl, 1);
  for (size_t i = 0; p && i < p->count; i++) {
    const clippo_array *v = &p->items[i].value;
    hsize_t dims[8];
    for (int k = 0; k < v->ndim; k++) dims[k] = (hsize_t)v->shape[k];
    char name[512];
    snprintf(name, sizeof name, "params/%s", p->items[i].name);
    hid_t s = H5Screate_simple(v->ndim, dims, NULL);
    hid_t d = H5Dcreate2(f, name, H5T_IEEE_F32LE, s, lcpl, H5P_DEFAULT, H5P_DEFAULT);
    H5Dwrite(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, v->data);
    H5Dclose(d);
    H5Sclose(s);
  }
  H5Pclose(lcpl);
  return f;
}

static void replace_dataset(hid_t f, const char *name, hid_t ftype, hid_t mtype, const void *data,
                            int ndim, const hsize_t *dims, const char *dtype_attr) {
  char full[512];
  snprintf(full, sizeof full, "params/%s", name);
  H5Ldelete(f, full, H5P_DEFAULT);
  hid_t s = H5Screate_simple(ndim, dims, NULL);
  hid_t d = H5Dcreate2(f, full, ftype, s, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  H5Dwrite(d, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, data);
  if (dtype_attr) {
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, H5T_VARIABLE);
    hid_t as = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(d, "dtype", t, as, H5P_DEFAULT, H5P_DEFAULT);
    H5Awrite(a, t, &dtype_attr);
    H5Aclose(a);
    H5Sclose(as);
    H5Tclose(t);
  }
  H5Dclose(d);
  H5Sclose(s);
}

static void test_h5_storage_types(void **state) {
  (void)state;
  clippo_error err;
  char *dir = test_tmpdir();
  char path[1024];
  snprintf(path, sizeof path, "%s/t.h5", dir);
  clippo_config cfg;
  ckpt_gen_tiny(&cfg);
  clippo_params p = {0};
  TEST_OK(ckpt_gen_params(&cfg, 21, &p, &err), &err);
  H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
  /* float64, IEEE half (custom 16-bit float type), and bfloat16 bits in uint16 + attribute. */
  hsize_t d64 = 64;
  double f64[64];
  uint16_t bf[64], hf[64];
  for (int i = 0; i < 64; i++) {
    f64[i] = 0.125 * (i + 1);
    bf[i] = clippo_float_to_bf16(-0.5f * (float)(i + 1));
    hf[i] = clippo_float_to_half(0.25f * (float)(i + 1));
  }
  hid_t f = new_file(path, &p, 1, 0);
  replace_dataset(f, "img/embedding/bias", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, f64, 1, &d64, NULL);
  replace_dataset(f, "img/Transformer/encoder_norm/bias", H5T_STD_U16LE, H5T_NATIVE_UINT16, bf, 1,
                  &d64, "bfloat16");
  hid_t half = H5Tcopy(H5T_IEEE_F32LE);
  H5Tset_fields(half, 15, 10, 5, 0, 10);
  H5Tset_size(half, 2);
  H5Tset_ebias(half, 15);
  hid_t mhalf = H5Tcopy(half);
  replace_dataset(f, "img/Transformer/encoder_norm/scale", half, mhalf, hf, 1, &d64, NULL);
  H5Tclose(half);
  H5Tclose(mhalf);
  H5Fclose(f);
  clippo_checkpoint ck;
  TEST_OK(clippo_checkpoint_load(path, &ck, 1, &err), &err);
  assert_int_equal(ck.has_cfg, 1);
  assert_string_equal(ck.cfg.pool, "map");
  int64_t s64[1] = {64};
  const float *b = clippo_params_get(&ck.params, "img/embedding/bias", 1, s64, &err);
  const float *nb =
      clippo_params_get(&ck.params, "img/Transformer/encoder_norm/bias", 1, s64, &err);
  const float *ns =
      clippo_params_get(&ck.params, "img/Transformer/encoder_norm/scale", 1, s64, &err);
  assert_true(b && nb && ns);
  for (int i = 0; i < 64; i++) {
    assert_true(b[i] == 0.125f * (float)(i + 1));
    assert_true(nb[i] == -0.5f * (float)(i + 1));
    assert_true(ns[i] == 0.25f * (float)(i + 1));
  }
  clippo_checkpoint_free(&ck);
  /* An integer parameter is rejected, naming file and dataset. */
  f = new_file(path, &p, 1, 0);
  int32_t iv[64] = {1};
  replace_dataset(f, "img/embedding/bias", H5T_STD_I32LE, H5T_NATIVE_INT32, iv, 1, &d64, NULL);
  H5Fclose(f);
  expect_fail(path, CLIPPO_E_SHAPE, "/params/img/embedding/bias");
  /* A partial config. */
  f = new_file(path, &p, 1, 1);
  H5Fclose(f);
  expect_fail(path, CLIPPO_E_FORMAT, "'heads'");
  /* No config at all: inferred. */
  f = new_file(path, &p, 0, 0);
  H5Fclose(f);
  TEST_OK(clippo_checkpoint_load(path, &ck, 1, &err), &err);
  assert_int_equal(ck.has_cfg, 0);
  assert_int_equal(ck.cfg.heads, 4);
  clippo_checkpoint_free(&ck);
  /* A soft link among the params. */
  f = new_file(path, &p, 1, 0);
  H5Lcreate_soft("/params/t", f, "params/img/link", H5P_DEFAULT, H5P_DEFAULT);
  H5Fclose(f);
  expect_fail(path, CLIPPO_E_UNSUPPORTED, "img/link");
  /* A dataset claiming far more data than the file holds. */
  f = new_file(path, &p, 1, 0);
  hsize_t huge[2] = {1u << 20, 1u << 20};
  hid_t s = H5Screate_simple(2, huge, NULL);
  hid_t d =
      H5Dcreate2(f, "params/img/huge", H5T_IEEE_F32LE, s, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  H5Dclose(d);
  H5Sclose(s);
  H5Fclose(f);
  expect_fail(path, CLIPPO_E_FORMAT, "img/huge");
  remove(path);
  clippo_params_free(&p);
  remove(dir);
  free(dir);
}

static void test_atomic_save(void **state) {
  (void)state;
  clippo_error err;
  char *dir = test_tmpdir();
  char path[1024];
  snprintf(path, sizeof path, "%s/keep.h5", dir);
  clippo_config cfg;
  ckpt_gen_tiny(&cfg);
  clippo_checkpoint ck;
  memset(&ck, 0, sizeof ck);
  ck.step = 5;
  ck.cfg = cfg;
  ck.has_cfg = 1;
  TEST_OK(ckpt_gen_params(&cfg, 1, &ck.params, &err), &err);
  TEST_OK(clippo_checkpoint_save_h5(path, &ck, &err), &err);
  /* A failure in the middle of writing (conflicting opt names) keeps the old file. */
  clippo_array a, b;
  int64_t sh[1] = {2};
  TEST_OK(clippo_array_alloc(&a, CLIPPO_F32, 1, sh, &err), &err);
  TEST_OK(clippo_array_alloc(&b, CLIPPO_F32, 1, sh, &err), &err);
  TEST_OK(clippo_params_add(&ck.opt, "x", &a, &err), &err);
  TEST_OK(clippo_params_add(&ck.opt, "x/y", &b, &err), &err);
  ck.step = 6;
  clippo_status st = clippo_checkpoint_save_h5(path, &ck, &err);
  assert_int_equal(st, CLIPPO_E_IO);
  assert_non_null(strstr(err.msg, "x/y"));
  /* Parameters that do not match the config are refused before anything is written. */
  clippo_params_free(&ck.opt);
  ck.cfg.depth = 3;
  assert_int_equal(clippo_checkpoint_save_h5(path, &ck, &err), CLIPPO_E_NOTFOUND);
  assert_non_null(strstr(err.msg, "encoderblock_2"));
  assert_int_equal(clippo_checkpoint_save_npz(path, &ck, &err), CLIPPO_E_NOTFOUND);
  assert_int_equal(count_files(dir), 1);
  clippo_checkpoint back;
  TEST_OK(clippo_checkpoint_load(path, &back, 1, &err), &err);
  assert_int_equal(back.step, 5);
  clippo_checkpoint_free(&back);
  /* Reserved attribute names. */
  ck.cfg.depth = 2;
  TEST_OK(clippo_checkpoint_set_attr(&ck, "width", "9", &err), &err);
  assert_int_equal(clippo_checkpoint_save_h5(path, &ck, &err), CLIPPO_E_ARG);
  clippo_checkpoint_free(&ck);
  assert_int_equal(count_files(dir), 1);
  remove(path);
  remove(dir);
  free(dir);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_fixture_config),     cmocka_unit_test(test_roundtrip),
      cmocka_unit_test(test_scanned_checkpoint), cmocka_unit_test(test_malformed_h5),
      cmocka_unit_test(test_h5_storage_types),   cmocka_unit_test(test_atomic_save),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
