/* .npy reading/writing: every dtype, versions 1-3, byte order, Fortran order, malformed headers,
 * atomic writes; cross-checked with numpy when /usr/bin/python3 has it. */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clippo/atomic_file.h"
#include "clippo/npy.h"
#include "support.h"

static int have_numpy(void) {
  return system("/usr/bin/python3 -c 'import numpy' >/dev/null 2>&1") == 0;
}

/* Builds an .npy in memory from a raw dict string and data bytes, with the given version. */
static unsigned char *make_npy(int major, const char *dict, const void *data, size_t dlen,
                               size_t *len) {
  size_t pre = major == 1 ? 10 : 12, dl = strlen(dict);
  unsigned char *b = malloc(pre + dl + dlen + 1);
  memcpy(b, "\x93NUMPY", 6);
  b[6] = (unsigned char)major;
  b[7] = 0;
  if (major == 1) {
    b[8] = (unsigned char)(dl & 0xff);
    b[9] = (unsigned char)(dl >> 8);
  } else {
    for (int i = 0; i < 4; i++) b[8 + i] = (unsigned char)(dl >> (8 * i));
  }
  memcpy(b + pre, dict, dl);
  if (dlen) memcpy(b + pre + dl, data, dlen);
  *len = pre + dl + dlen;
  return b;
}

static void expect_fail(const void *buf, size_t len, clippo_status want, const char *needle) {
  clippo_error err;
  clippo_array a;
  clippo_status st = clippo_npy_parse(buf, len, "bad.npy", &a, &err);
  if (st != want)
    fail_msg("expected %s (%s), got %s: %s", clippo_status_name(want), needle,
             clippo_status_name(st), st ? err.msg : "");
  if (!strstr(err.msg, "bad.npy")) fail_msg("message lacks the name: %s", err.msg);
  if (needle && !strstr(err.msg, needle)) fail_msg("message lacks '%s': %s", needle, err.msg);
}

static void test_fixture_images(void **state) {
  (void)state;
  clippo_error err;
  clippo_array a;
  char *p = test_shared_path("fixtures/tiny/images.npy");
  TEST_OK(clippo_npy_load(p, &a, &err), &err);
  assert_int_equal(a.dtype, CLIPPO_F32);
  assert_int_equal(a.ndim, 4);
  assert_int_equal(a.shape[0], 4);
  assert_int_equal(a.shape[1], 32);
  assert_int_equal(a.shape[3], 3);
  const float *x = a.data;
  for (size_t i = 0; i < clippo_array_count(&a); i++) assert_true(x[i] >= -1.0f && x[i] <= 1.0f);
  clippo_array_free(&a);
  free(p);
}

static void test_roundtrip_dtypes(void **state) {
  (void)state;
  clippo_error err;
  char *dir = test_tmpdir();
  char path[1024];
  snprintf(path, sizeof path, "%s/a.npy", dir);
  const clippo_dtype dts[] = {CLIPPO_F32, CLIPPO_F64, CLIPPO_F16, CLIPPO_BF16,
                              CLIPPO_U8,  CLIPPO_I32, CLIPPO_I64};
  const int64_t shapes[][3] = {{2, 3, 5}, {7, 0, 0}, {0, 0, 0}, {3, 0, 4}};
  const int ndims[] = {3, 1, 0, 3};
  test_rng r;
  test_rng_seed(&r, 7);
  for (size_t d = 0; d < sizeof dts / sizeof dts[0]; d++) {
    for (size_t s = 0; s < 4; s++) {
      clippo_array a, b;
      TEST_OK(clippo_array_alloc(&a, dts[d], ndims[s], shapes[s], &err), &err);
      size_t bytes = clippo_array_count(&a) * clippo_dtype_size(a.dtype);
      for (size_t i = 0; i < bytes; i++)
        ((unsigned char *)a.data)[i] = (unsigned char)test_rng_u64(&r);
      TEST_OK(clippo_npy_save(path, &a, &err), &err);
      TEST_OK(clippo_npy_load(path, &b, &err), &err);
      assert_int_equal(b.dtype, a.dtype);
      assert_int_equal(b.ndim, a.ndim);
      for (int k = 0; k < a.ndim; k++) assert_int_equal(b.shape[k], a.shape[k]);
      if (bytes) assert_memory_equal(a.data, b.data, bytes);
      clippo_array_free(&a);
      clippo_array_free(&b);
    }
  }
  /* The header is 64-byte aligned and ends with a newline, as numpy writes it. */
  FILE *f = fopen(path, "rb");
  unsigned char h[10];
  assert_int_equal(fread(h, 1, 10, f), 10);
  fclose(f);
  size_t hl = (size_t)h[8] | (size_t)h[9] << 8;
  assert_int_equal((10 + hl) % 64, 0);
  /* No temporary files are left behind. */
  DIR *dd = opendir(dir);
  struct dirent *e;
  int files = 0;
  while ((e = readdir(dd)))
    if (e->d_name[0] != '.') files++;
  closedir(dd);
  assert_int_equal(files, 1);
  remove(path);
  remove(dir);
  free(dir);
}

static void test_versions_and_byte_order(void **state) {
  (void)state;
  clippo_error err;
  clippo_array a;
  /* v2.0 and v3.0 headers, double quotes, no trailing comma, Python 2 long suffix. */
  float v[6] = {1, 2, 3, 4, 5, 6};
  for (int major = 1; major <= 3; major++) {
    size_t len;
    unsigned char *b = make_npy(major,
                                "{\"descr\": \"<f4\", \"fortran_order\": False, \"shape\": (2L, "
                                "3L)}            \n",
                                v, sizeof v, &len);
    TEST_OK(clippo_npy_parse(b, len, "v.npy", &a, &err), &err);
    assert_int_equal(a.ndim, 2);
    assert_memory_equal(a.data, v, sizeof v);
    clippo_array_free(&a);
    free(b);
  }
  /* Big-endian float32 and int64. */
  unsigned char be[8] = {0x3f, 0x80, 0, 0, 0xc0, 0x00, 0, 0}; /* 1.0, -2.0 */
  size_t len;
  unsigned char *b =
      make_npy(1, "{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }\n", be, 8, &len);
  TEST_OK(clippo_npy_parse(b, len, "be.npy", &a, &err), &err);
  assert_true(((float *)a.data)[0] == 1.0f && ((float *)a.data)[1] == -2.0f);
  clippo_array_free(&a);
  free(b);
  unsigned char be8[8] = {0, 0, 0, 0, 0, 0, 0x01, 0x02};
  b = make_npy(1, "{'descr': '>i8', 'fortran_order': False, 'shape': (), }\n", be8, 8, &len);
  TEST_OK(clippo_npy_parse(b, len, "be8.npy", &a, &err), &err);
  assert_int_equal(a.ndim, 0);
  assert_int_equal(((int64_t *)a.data)[0], 258);
  clippo_array_free(&a);
  free(b);
  /* bfloat16 as |V2 */
  uint16_t bf[2] = {clippo_float_to_bf16(1.5f), clippo_float_to_bf16(-0.25f)};
  b = make_npy(1, "{'descr': '|V2', 'fortran_order': False, 'shape': (2,), }\n", bf, 4, &len);
  TEST_OK(clippo_npy_parse(b, len, "bf.npy", &a, &err), &err);
  assert_int_equal(a.dtype, CLIPPO_BF16);
  TEST_OK(clippo_array_to_f32(&a, &err), &err);
  assert_true(((float *)a.data)[0] == 1.5f && ((float *)a.data)[1] == -0.25f);
  clippo_array_free(&a);
  free(b);
}

static void test_fortran_order(void **state) {
  (void)state;
  clippo_error err;
  clippo_array a;
  /* Fortran-ordered (2,3,4): element (i,j,k) at i + 2*(j + 3*k); value = 100i + 10j + k. */
  int32_t f[24];
  for (int i = 0; i < 2; i++)
    for (int j = 0; j < 3; j++)
      for (int k = 0; k < 4; k++) f[i + 2 * (j + 3 * k)] = 100 * i + 10 * j + k;
  size_t len;
  unsigned char *b = make_npy(1, "{'descr': '<i4', 'fortran_order': True, 'shape': (2, 3, 4), }\n",
                              f, sizeof f, &len);
  TEST_OK(clippo_npy_parse(b, len, "f.npy", &a, &err), &err);
  const int32_t *c = a.data;
  for (int i = 0; i < 2; i++)
    for (int j = 0; j < 3; j++)
      for (int k = 0; k < 4; k++) assert_int_equal(c[(i * 3 + j) * 4 + k], 100 * i + 10 * j + k);
  clippo_array_free(&a);
  free(b);
}

static void test_malformed(void **state) {
  (void)state;
  float v[4] = {1, 2, 3, 4};
  size_t len;
  unsigned char *b;
  const char *ok = "{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }\n";
  /* bad magic, too short */
  expect_fail("hello world, not npy", 20, CLIPPO_E_FORMAT, "magic");
  expect_fail("\x93NUM", 4, CLIPPO_E_FORMAT, NULL);
  /* unknown version */
  b = make_npy(1, ok, v, sizeof v, &len);
  b[6] = 4;
  expect_fail(b, len, CLIPPO_E_FORMAT, "version");
  b[6] = 1;
  /* truncated data and trailing bytes */
  expect_fail(b, len - 1, CLIPPO_E_FORMAT, "truncated");
  expect_fail(b, len - 16 - 3, CLIPPO_E_FORMAT, NULL); /* header cut */
  free(b);
  b = make_npy(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }\n", v, sizeof v, &len);
  expect_fail(b, len, CLIPPO_E_FORMAT, "unexpected bytes");
  free(b);
  /* absurd header lengths: v2 with 4 GiB, v1 longer than the file */
  b = make_npy(2, ok, v, sizeof v, &len);
  b[8] = b[9] = b[10] = b[11] = 0xff;
  expect_fail(b, len, CLIPPO_E_FORMAT, "limit");
  free(b);
  b = make_npy(1, ok, v, sizeof v, &len);
  b[8] = b[9] = 0xff;
  expect_fail(b, len, CLIPPO_E_FORMAT, "truncated");
  free(b);
  /* shape overflow and huge claimed data: rejected before any allocation */
  b = make_npy(1,
               "{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296, "
               "4294967296), }\n",
               v, sizeof v, &len);
  expect_fail(b, len, CLIPPO_E_FORMAT, "overflow");
  free(b);
  b = make_npy(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,), }\n",
               v, sizeof v, &len);
  expect_fail(b, len, CLIPPO_E_FORMAT, "overflow");
  free(b);
  b = make_npy(1, "{'descr': '<f8', 'fortran_order': False, 'shape': (1000000000, 1000), }\n", v,
               sizeof v, &len);
  expect_fail(b, len, CLIPPO_E_FORMAT, "truncated");
  free(b);
  /* dtypes */
  b = make_npy(1, "{'descr': '<c8', 'fortran_order': False, 'shape': (2,), }\n", v, 16, &len);
  expect_fail(b, len, CLIPPO_E_UNSUPPORTED, "<c8");
  free(b);
  b = make_npy(1, "{'descr': '|f4', 'fortran_order': False, 'shape': (4,), }\n", v, 16, &len);
  expect_fail(b, len, CLIPPO_E_UNSUPPORTED, NULL);
  free(b);
  b = make_npy(1, "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (4,), }\n", v, 16,
               &len);
  expect_fail(b, len, CLIPPO_E_UNSUPPORTED, "structured");
  free(b);
  /* keys and syntax */
  b = make_npy(1, "{'descr': '<f4', 'shape': (4,), }\n", v, 16, &len);
  expect_fail(b, len, CLIPPO_E_FORMAT, "fortran_order");
  free(b);
  b = make_npy(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (4,), 'x': 1}\n", v, 16, &len);
  expect_fail(b, len, CLIPPO_E_FORMAT, "'x'");
  free(b);
  const char *bad[] = {
      "{'descr': '<f4', 'fortran_order': Maybe, 'shape': (4,), }\n",
      "{'descr': '<f4', 'fortran_order': False, 'shape': (-4,), }\n",
      "{'descr': '<f4', 'fortran_order': False, 'shape': (4,), \n",
      "{'descr': '<f4', 'fortran_order': False, 'shape': (4,), } junk\n",
      "{'descr': '<f4, 'fortran_order': False, 'shape': (4,), }\n",
      "{'descr': '<f4', 'fortran_order': False, 'shape': (4 4), }\n",
      "['descr', '<f4']\n",
      "",
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    b = make_npy(1, bad[i], v, 16, &len);
    expect_fail(b, len, CLIPPO_E_FORMAT, NULL);
    free(b);
  }
  b = make_npy(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1,1,1,1,1,1,1,1,1,4), }\n", v,
               16, &len);
  expect_fail(b, len, CLIPPO_E_UNSUPPORTED, "dims");
  free(b);
}

static void test_load_errors(void **state) {
  (void)state;
  clippo_error err;
  clippo_array a;
  assert_int_equal(clippo_npy_load("/nonexistent/x.npy", &a, &err), CLIPPO_E_IO);
  assert_non_null(strstr(err.msg, "/nonexistent/x.npy"));
  char *dir = test_tmpdir();
  assert_int_equal(clippo_npy_load(dir, &a, &err), CLIPPO_E_IO);
  /* A truncated file. */
  char path[1024];
  snprintf(path, sizeof path, "%s/t.npy", dir);
  float v[100];
  for (int i = 0; i < 100; i++) v[i] = (float)i + 0.5f;
  int64_t shape[1] = {100};
  clippo_array x = {CLIPPO_F32, 1, {100}, v};
  (void)shape;
  TEST_OK(clippo_npy_save(path, &x, &err), &err);
  FILE *f = fopen(path, "r+b");
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fclose(f);
  assert_int_equal(truncate(path, n - 10), 0);
  assert_int_equal(clippo_npy_load(path, &a, &err), CLIPPO_E_FORMAT);
  assert_non_null(strstr(err.msg, path));
  assert_int_equal(truncate(path, 5), 0);
  assert_int_equal(clippo_npy_load(path, &a, &err), CLIPPO_E_FORMAT);
  /* Saving into a missing folder fails cleanly. */
  snprintf(path, sizeof path, "%s/missing/t.npy", dir);
  assert_int_equal(clippo_npy_save(path, &x, &err), CLIPPO_E_IO);
  snprintf(path, sizeof path, "%s/t.npy", dir);
  remove(path);
  remove(dir);
  free(dir);
}

static void test_atomic_file(void **state) {
  (void)state;
  clippo_error err;
  char *dir = test_tmpdir();
  char path[1024];
  snprintf(path, sizeof path, "%s/f.txt", dir);
  TEST_OK(clippo_write_file_atomic(path, "old", 3, &err), &err);
  /* An aborted write leaves the old content and no temporary file. */
  clippo_atomic_file af;
  TEST_OK(clippo_atomic_open(&af, path, &err), &err);
  TEST_OK(clippo_atomic_write(&af, "partial", 7, &err), &err);
  clippo_atomic_abort(&af);
  FILE *f = fopen(path, "rb");
  char buf[16] = {0};
  assert_int_equal(fread(buf, 1, sizeof buf, f), 3);
  fclose(f);
  assert_string_equal(buf, "old");
  TEST_OK(clippo_write_file_atomic(path, "new!", 4, &err), &err);
  f = fopen(path, "rb");
  memset(buf, 0, sizeof buf);
  assert_int_equal(fread(buf, 1, sizeof buf, f), 4);
  fclose(f);
  assert_string_equal(buf, "new!");
  DIR *dd = opendir(dir);
  struct dirent *e;
  int files = 0;
  while ((e = readdir(dd)))
    if (e->d_name[0] != '.') files++;
  closedir(dd);
  assert_int_equal(files, 1);
  remove(path);
  remove(dir);
  free(dir);
}

static void test_numpy_cross_check(void **state) {
  (void)state;
  if (!have_numpy()) {
    skip();
    return;
  }
  clippo_error err;
  char *dir = test_tmpdir();
  char cmd[4096], path[1024];
  /* numpy writes: fortran order, big-endian, version 2 and 3, bf16-like |V2, 0-d. */
  snprintf(cmd, sizeof cmd,
           "/usr/bin/python3 -c \"import numpy as np; d='%s'\n"
           "a=np.arange(24,dtype='<f8').reshape(2,3,4)\n"
           "np.save(d+'/f.npy', np.asfortranarray(a))\n"
           "np.save(d+'/be.npy', a.astype('>f4'))\n"
           "f=open(d+'/v2.npy','wb'); np.lib.format.write_array(f, a.astype('<i8'), "
           "version=(2,0)); f.close()\n"
           "f=open(d+'/v3.npy','wb'); np.lib.format.write_array(f, a.astype('<f2'), "
           "version=(3,0)); f.close()\n"
           "np.save(d+'/v.npy', a.astype('<f4').view('<u2')[...,1::2].copy().view('V2'))\n"
           "np.save(d+'/s.npy', np.uint8(7))\n\"",
           dir);
  assert_int_equal(system(cmd), 0);
  const char *names[] = {"f", "be", "v2", "v3", "v"};
  for (int i = 0; i < 5; i++) {
    clippo_array a;
    snprintf(path, sizeof path, "%s/%s.npy", dir, names[i]);
    TEST_OK(clippo_npy_load(path, &a, &err), &err);
    assert_int_equal(a.ndim, 3);
    TEST_OK(clippo_array_to_f32(&a, &err), &err);
    for (int k = 0; k < 24; k++) assert_true(((float *)a.data)[k] == (float)k);
    clippo_array_free(&a);
    remove(path);
  }
  clippo_array s;
  snprintf(path, sizeof path, "%s/s.npy", dir);
  TEST_OK(clippo_npy_load(path, &s, &err), &err);
  assert_int_equal(s.ndim, 0);
  assert_int_equal(s.dtype, CLIPPO_U8);
  assert_int_equal(((uint8_t *)s.data)[0], 7);
  clippo_array_free(&s);
  remove(path);
  /* numpy reads what we write, bf16 as |V2. */
  uint16_t bf[3] = {clippo_float_to_bf16(1.0f), clippo_float_to_bf16(2.0f),
                    clippo_float_to_bf16(-3.0f)};
  clippo_array w = {CLIPPO_BF16, 1, {3}, bf};
  snprintf(path, sizeof path, "%s/w.npy", dir);
  TEST_OK(clippo_npy_save(path, &w, &err), &err);
  snprintf(cmd, sizeof cmd,
           "/usr/bin/python3 -c \"import numpy as np; a=np.load('%s'); assert a.dtype.str=='|V2', "
           "a.dtype; f=(np.frombuffer(a.tobytes(),'<u2').astype('<u4')<<16).view('<f4'); "
           "assert list(f)==[1,2,-3], f\"",
           path);
  assert_int_equal(system(cmd), 0);
  remove(path);
  float fv[6] = {1, 2, 3, 4, 5, 6};
  clippo_array w2 = {CLIPPO_F32, 2, {2, 3}, fv};
  TEST_OK(clippo_npy_save(path, &w2, &err), &err);
  snprintf(cmd, sizeof cmd,
           "/usr/bin/python3 -c \"import numpy as np; a=np.load('%s'); "
           "assert a.dtype==np.float32 and a.shape==(2,3) and a[1,2]==6\"",
           path);
  assert_int_equal(system(cmd), 0);
  remove(path);
  remove(dir);
  free(dir);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_fixture_images),
      cmocka_unit_test(test_roundtrip_dtypes),
      cmocka_unit_test(test_versions_and_byte_order),
      cmocka_unit_test(test_fortran_order),
      cmocka_unit_test(test_malformed),
      cmocka_unit_test(test_load_errors),
      cmocka_unit_test(test_atomic_file),
      cmocka_unit_test(test_numpy_cross_check),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
