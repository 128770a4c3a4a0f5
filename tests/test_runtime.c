/* Runtime tests: device listing and specs, kernel builds, the binary cache (cold, warm, corrupt
 * entry), build-failure logs, tensors. */
#include "support.h"

#include "clippo/ops.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static void test_devices_list(void **state) {
  (void)state;
  clippo_error err;
  clippo_device_info *devs = NULL;
  size_t n = 0;
  TEST_OK(clippo_devices_list(&devs, &n, &err), &err);
  for (size_t i = 0; i < n; i++) {
    assert_true(devs[i].name[0] != '\0');
    assert_true(devs[i].compute_units > 0);
    assert_true(devs[i].max_alloc > 0);
  }
  free(devs);
  if (n == 0) skip();
}

static void test_device_spec_select(void **state) {
  (void)state;
  clippo_error err;
  clippo_device_info *devs = NULL;
  size_t n = 0;
  TEST_OK(clippo_devices_list(&devs, &n, &err), &err);
  if (n == 0) {
    free(devs);
    skip();
    return;
  }
  for (size_t i = 0; i < n; i++) {
    char spec[32];
    clippo_device_info got;
    snprintf(spec, sizeof spec, "%d:%d", devs[i].platform_index, devs[i].device_index);
    TEST_OK(clippo_device_select(spec, &got, &err), &err);
    assert_string_equal(got.name, devs[i].name);
    /* a lower-case substring of the device name finds a device with that substring */
    char sub[8] = {0};
    for (int k = 0; k < 4 && devs[i].name[k]; k++) sub[k] = (char)(devs[i].name[k] | 0x20);
    TEST_OK(clippo_device_select(sub, &got, &err), &err);
  }
  clippo_device_info got;
  TEST_OK(clippo_device_select("cpu", &got, &err), &err);
  assert_true(got.type & CL_DEVICE_TYPE_CPU);
  assert_int_equal(clippo_device_select("99:99", &got, &err), CLIPPO_E_NOTFOUND);
  assert_non_null(strstr(err.msg, "99:99"));
  assert_int_equal(clippo_device_select("no-such-device-xyz", &got, &err), CLIPPO_E_NOTFOUND);
  assert_non_null(strstr(err.msg, "available"));
  free(devs);
}

static size_t count_cache_files(const char *dir) {
  DIR *d = opendir(dir);
  if (!d) return 0;
  size_t n = 0;
  struct dirent *e;
  while ((e = readdir(d)))
    if (strstr(e->d_name, ".clbin") && !strstr(e->d_name, ".tmp")) n++;
  closedir(d);
  return n;
}

static void corrupt_cache_files(const char *dir, int truncate_only) {
  DIR *d = opendir(dir);
  assert_non_null(d);
  struct dirent *e;
  while ((e = readdir(d))) {
    if (!strstr(e->d_name, ".clbin")) continue;
    char path[2048];
    snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    if (truncate_only) {
      assert_int_equal(truncate(path, 40), 0);
    } else {
      FILE *f = fopen(path, "r+b");
      assert_non_null(f);
      fseek(f, 100, SEEK_SET);
      fputs("garbage garbage garbage", f);
      fclose(f);
    }
  }
  closedir(d);
}

/* Runs the axpy self-test kernel on rt and checks the result. */
static void run_axpy(clippo_rt *rt) {
  clippo_error err;
  cl_kernel k;
  TEST_OK(clippo_rt_kernel(rt, "selftest.cl", "axpy", "", &k, &err), &err);
  test_rng rng;
  test_rng_seed(&rng, 7);
  enum { N = 1000 };
  float x[N], y[N], out[N];
  test_fill_uniform(&rng, x, N, -2, 2);
  test_fill_uniform(&rng, y, N, -2, 2);
  int64_t shape[1] = {N};
  clippo_tensor tx, ty;
  TEST_OK(clippo_tensor_alloc(rt, &tx, CLIPPO_F32, 1, shape, &err), &err);
  TEST_OK(clippo_tensor_alloc(rt, &ty, CLIPPO_F32, 1, shape, &err), &err);
  TEST_OK(clippo_tensor_write(rt, &tx, x, &err), &err);
  TEST_OK(clippo_tensor_write(rt, &ty, y, &err), &err);
  float a = 1.5f;
  cl_uint n = N;
  clSetKernelArg(k, 0, sizeof a, &a);
  clSetKernelArg(k, 1, sizeof tx.mem, &tx.mem);
  clSetKernelArg(k, 2, sizeof ty.mem, &ty.mem);
  clSetKernelArg(k, 3, sizeof n, &n);
  size_t g = 1024, l = 64;
  TEST_OK(clippo_rt_launch(rt, k, 1, &g, &l, &err), &err);
  TEST_OK(clippo_tensor_read(rt, &ty, out, &err), &err);
  for (int i = 0; i < N; i++) assert_float_equal(out[i], 1.5f * x[i] + y[i], 1e-5);
  clippo_tensor_release(rt, &tx);
  clippo_tensor_release(rt, &ty);
}

typedef struct cache_ctx {
  char *dir;
} cache_ctx;

static void cache_on_device(clippo_rt *rt0, void *user) {
  cache_ctx *c = user;
  char spec[32];
  snprintf(spec, sizeof spec, "%d:%d", rt0->info.platform_index, rt0->info.device_index);
  char dir[1024];
  snprintf(dir, sizeof dir, "%s/%s", c->dir, spec);
  setenv("CLIPPO_CACHE_DIR", dir, 1);
  clippo_error err;

  /* temporary files of cache writers that died (a dead pid; the older ".tmp.<pid>" form too)
   * are swept by the next write; a live writer's and other files are kept */
  assert_int_equal(mkdir(dir, 0755), 0);
  pid_t dead = fork();
  if (dead == 0) _exit(0);
  assert_true(dead > 0);
  assert_int_equal(waitpid(dead, NULL, 0), dead);
  char stale[3][1200], kept[2][1200];
  snprintf(stale[0], sizeof stale[0], "%s/0123.clbin.tmp-%ld-0badf00d", dir, (long)dead);
  snprintf(stale[1], sizeof stale[1], "%s/4567.clbin.tmp.%ld", dir, (long)dead);
  snprintf(stale[2], sizeof stale[2], "%s/89ab.clbin.tmp-%ld-00000001", dir, (long)dead);
  snprintf(kept[0], sizeof kept[0], "%s/0123.clbin.tmp-1-0badf00d", dir); /* pid 1 runs */
  snprintf(kept[1], sizeof kept[1], "%s/notes.txt.tmp-%ld-0badf00d", dir, (long)dead);
  for (int i = 0; i < 5; i++) {
    FILE *f = fopen(i < 3 ? stale[i] : kept[i - 3], "wb");
    assert_non_null(f);
    fputs("partial", f);
    fclose(f);
  }

  /* cold: compiled from source, one entry written */
  clippo_rt *rt = NULL;
  TEST_OK(clippo_rt_create(&rt, spec, &err), &err);
  run_axpy(rt);
  assert_int_equal(rt->cache_misses, 1);
  assert_int_equal(rt->cache_hits, 0);
  double cold = rt->build_seconds;
  clippo_rt_destroy(rt);
  assert_int_equal(count_cache_files(dir), 1);
  for (int i = 0; i < 3; i++)
    if (test_file_exists(stale[i])) fail_msg("stale temporary file %s not removed", stale[i]);
  for (int i = 0; i < 2; i++) {
    if (!test_file_exists(kept[i])) fail_msg("%s removed", kept[i]);
    unlink(kept[i]);
  }

  /* warm: loaded from the cache */
  TEST_OK(clippo_rt_create(&rt, spec, &err), &err);
  run_axpy(rt);
  assert_int_equal(rt->cache_hits, 1);
  assert_int_equal(rt->cache_misses, 0);
  double warm = rt->build_seconds;
  clippo_rt_destroy(rt);
  print_message("[ cache    ] %s: cold %.3f s, warm %.3f s\n", spec, cold, warm);

  /* corrupt entries (garbage inside, then truncated): rebuilt, never fatal */
  for (int mode = 0; mode < 2; mode++) {
    corrupt_cache_files(dir, mode);
    TEST_OK(clippo_rt_create(&rt, spec, &err), &err);
    run_axpy(rt);
    assert_int_equal(rt->cache_misses, 1);
    clippo_rt_destroy(rt);
    TEST_OK(clippo_rt_create(&rt, spec, &err), &err);
    run_axpy(rt);
    assert_int_equal(rt->cache_hits, 1); /* the rebuilt entry is good again */
    clippo_rt_destroy(rt);
  }

  /* an unwritable cache directory is not fatal either */
  setenv("CLIPPO_CACHE_DIR", "/proc/clippo-cannot-write-here", 1);
  TEST_OK(clippo_rt_create(&rt, spec, &err), &err);
  run_axpy(rt);
  clippo_rt_destroy(rt);
  setenv("CLIPPO_CACHE_DIR", "off", 1);
  TEST_OK(clippo_rt_create(&rt, spec, &err), &err);
  run_axpy(rt);
  assert_int_equal(rt->cache_misses, 1);
  clippo_rt_destroy(rt);
}

static void test_program_cache(void **state) {
  (void)state;
  const char *old = getenv("CLIPPO_CACHE_DIR");
  char *saved = old ? strdup(old) : NULL;
  cache_ctx c = {test_tmpdir()};
  assert_non_null(c.dir);
  test_each_device(cache_on_device, &c);
  if (saved)
    setenv("CLIPPO_CACHE_DIR", saved, 1);
  else
    unsetenv("CLIPPO_CACHE_DIR");
  free(saved);
  char cmd[1200];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", c.dir);
  assert_int_equal(system(cmd), 0);
  free(c.dir);
}

static void build_failure_on_device(clippo_rt *rt, void *user) {
  (void)user;
  clippo_error err;
  cl_kernel k;
  clippo_status st = clippo_rt_kernel(rt, "selftest.cl", "broken", "-DSELFTEST_BREAK", &k, &err);
  assert_int_equal(st, CLIPPO_E_BUILD);
  assert_non_null(strstr(err.msg, "selftest.cl"));
  assert_non_null(strstr(err.msg, "undefined_identifier"));
  assert_non_null(strstr(err.msg, rt->info.name));
  st = clippo_rt_kernel(rt, "selftest.cl", "no_such_kernel", "", &k, &err);
  assert_int_equal(st, CLIPPO_E_NOTFOUND);
  st = clippo_rt_kernel(rt, "no_such_file.cl", "x", "", &k, &err);
  assert_int_equal(st, CLIPPO_E_NOTFOUND);
  assert_non_null(strstr(err.msg, "no_such_file.cl"));
}

static void test_build_failure(void **state) {
  (void)state;
  test_each_device(build_failure_on_device, NULL);
}

static void tensors_on_device(clippo_rt *rt, void *user) {
  (void)user;
  clippo_error err;
  clippo_tensor t;
  int64_t shape[2] = {3, 5};
  TEST_OK(clippo_tensor_alloc(rt, &t, CLIPPO_F32, 2, shape, &err), &err);
  assert_int_equal(clippo_tensor_count(&t), 15);
  TEST_OK(clippo_tensor_fill(rt, &t, 2.5f, &err), &err);
  float h[15];
  TEST_OK(clippo_tensor_read(rt, &t, h, &err), &err);
  for (int i = 0; i < 15; i++) assert_float_equal(h[i], 2.5f, 0);
  int64_t vs[1] = {5};
  clippo_tensor v = clippo_tensor_view(&t, 5, 1, vs);
  float row[5] = {1, 2, 3, 4, 5};
  TEST_OK(clippo_tensor_write(rt, &v, row, &err), &err);
  TEST_OK(clippo_tensor_read(rt, &t, h, &err), &err);
  assert_float_equal(h[4], 2.5f, 0);
  assert_float_equal(h[5], 1.0f, 0);
  assert_float_equal(h[9], 5.0f, 0);
  assert_float_equal(h[10], 2.5f, 0);
  assert_true(rt->bytes_allocated >= 60);
  clippo_tensor_release(rt, &t);

  /* an impossible allocation names the size and the device */
  int64_t huge[2] = {1 << 20, 1 << 20};
  clippo_status st = clippo_tensor_alloc(rt, &t, CLIPPO_F32, 2, huge, &err);
  assert_int_equal(st, CLIPPO_E_DEVICE);
  assert_non_null(strstr(err.msg, rt->info.name));
  assert_non_null(strstr(err.msg, "bytes"));
}

static void test_tensors(void **state) {
  (void)state;
  test_each_device(tensors_on_device, NULL);
}

/* Sets env name to value (NULL: unsets it). */
static void set_env(const char *name, const char *value) {
  if (value)
    setenv(name, value, 1);
  else
    unsetenv(name);
}

/* The settings: read from the environment once (clippo_settings_from_env), malformed values
 * named, and a runtime keeps its copy whatever the environment does afterwards. */
static void test_settings(void **state) {
  (void)state;
  static const char *const names[] = {
      "CLIPPO_DEVICE",          "CLIPPO_CACHE_DIR", "XDG_CACHE_HOME",     "HOME",
      "CLIPPO_PRECOMPILED_DIR", "CLIPPO_PRECISION", "CLIPPO_OPS_VARIANT", "CLIPPO_GEMM",
      "CLIPPO_GEMM_RECORD",     "TMPDIR",           "OPENBLAS_CORETYPE",  "OPENBLAS_NUM_THREADS",
      "CLIPPO_ATTENTION"};
  enum { NNAMES = sizeof names / sizeof names[0] };
  char *saved[NNAMES];
  for (size_t i = 0; i < NNAMES; i++) {
    const char *v = getenv(names[i]);
    saved[i] = v ? strdup(v) : NULL;
    unsetenv(names[i]);
  }
  clippo_error err;
  clippo_settings s, d;
  clippo_settings_default(&d);
  assert_string_equal(d.cache_dir, "");
  assert_string_equal(d.tmp_dir, "/tmp");
  assert_int_equal(d.precision, CLIPPO_PRECISION_FP32);
  assert_int_equal(d.ops_variant, CLIPPO_OPS_AUTO);
  assert_int_equal(d.attention, CLIPPO_ATTENTION_AUTO);
  TEST_OK(clippo_settings_from_env(&s, &err), &err);
  assert_memory_equal(&s, &d, sizeof s); /* an empty environment gives the defaults */

  setenv("HOME", "/home/u", 1);
  TEST_OK(clippo_settings_from_env(&s, &err), &err);
  assert_string_equal(s.cache_dir, "/home/u/.cache/clippo");
  setenv("XDG_CACHE_HOME", "/xdg", 1);
  TEST_OK(clippo_settings_from_env(&s, &err), &err);
  assert_string_equal(s.cache_dir, "/xdg/clippo");
  setenv("CLIPPO_CACHE_DIR", "/c", 1);
  TEST_OK(clippo_settings_from_env(&s, &err), &err);
  assert_string_equal(s.cache_dir, "/c");
  setenv("CLIPPO_CACHE_DIR", "off", 1);
  TEST_OK(clippo_settings_from_env(&s, &err), &err);
  assert_string_equal(s.cache_dir, "");

  setenv("CLIPPO_DEVICE", "cpu", 1);
  setenv("CLIPPO_PRECOMPILED_DIR", "/pre", 1);
  setenv("CLIPPO_PRECISION", "fp16-emulated", 1);
  setenv("CLIPPO_OPS_VARIANT", "GROUP", 1);
  setenv("CLIPPO_ATTENTION", "Flash", 1);
  setenv("CLIPPO_GEMM", "kernel", 1);
  setenv("CLIPPO_GEMM_RECORD", "/r.txt", 1);
  setenv("TMPDIR", "/scratch", 1);
  setenv("OPENBLAS_NUM_THREADS", "2", 1);
  TEST_OK(clippo_settings_from_env(&s, &err), &err);
  assert_string_equal(s.device, "cpu");
  assert_string_equal(s.precompiled_dir, "/pre");
  assert_int_equal(s.precision, CLIPPO_PRECISION_FP16_EMULATED);
  assert_int_equal(s.ops_variant, CLIPPO_OPS_GROUP);
  assert_int_equal(s.attention, CLIPPO_ATTENTION_FLASH);
  assert_string_equal(s.gemm, "kernel");
  assert_string_equal(s.gemm_record, "/r.txt");
  assert_string_equal(s.tmp_dir, "/scratch");
  assert_string_equal(s.blas_env, "OPENBLAS_CORETYPE=(unset), OPENBLAS_NUM_THREADS=2");

  /* malformed or too long: an error naming the variable */
  setenv("CLIPPO_OPS_VARIANT", "diagonal", 1);
  assert_int_equal(clippo_settings_from_env(&s, &err), CLIPPO_E_ARG);
  assert_non_null(strstr(err.msg, "CLIPPO_OPS_VARIANT"));
  setenv("CLIPPO_OPS_VARIANT", "row", 1);
  setenv("CLIPPO_ATTENTION", "sparse", 1);
  assert_int_equal(clippo_settings_from_env(&s, &err), CLIPPO_E_ARG);
  assert_non_null(strstr(err.msg, "CLIPPO_ATTENTION"));
  assert_non_null(strstr(err.msg, "gemm, flash, rows, or auto")); /* the choices are named */
  setenv("CLIPPO_ATTENTION", "ROWS", 1);
  TEST_OK(clippo_settings_from_env(&s, &err), &err);
  assert_int_equal(s.attention, CLIPPO_ATTENTION_ROWS);
  setenv("CLIPPO_ATTENTION", "gemm", 1);
  setenv("CLIPPO_PRECISION", "fp8", 1);
  assert_int_equal(clippo_settings_from_env(&s, &err), CLIPPO_E_ARG);
  assert_non_null(strstr(err.msg, "CLIPPO_PRECISION"));
  setenv("CLIPPO_PRECISION", "fp32", 1);
  char longv[2100];
  memset(longv, 'x', sizeof longv - 1);
  longv[sizeof longv - 1] = '\0';
  setenv("CLIPPO_GEMM_RECORD", longv, 1);
  assert_int_equal(clippo_settings_from_env(&s, &err), CLIPPO_E_ARG);
  assert_non_null(strstr(err.msg, "CLIPPO_GEMM_RECORD"));
  unsetenv("CLIPPO_GEMM_RECORD");
  TEST_OK(clippo_settings_from_env(&s, &err), &err);
  assert_int_equal(s.ops_variant, CLIPPO_OPS_ROW);
  assert_int_equal(s.attention, CLIPPO_ATTENTION_GEMM);

  /* a runtime made with given settings keeps them; the environment no longer matters */
  size_t n = 0;
  char **specs = test_device_specs(&n);
  if (n > 0) {
    clippo_settings mine;
    clippo_settings_default(&mine);
    snprintf(mine.device, sizeof mine.device, "%s", specs[0]);
    mine.ops_variant = CLIPPO_OPS_ROW;
    mine.precision = CLIPPO_PRECISION_FP16_EMULATED;
    clippo_rt *rt = NULL;
    TEST_OK(clippo_rt_create_with(&rt, NULL, &mine, &err), &err);
    assert_int_equal(rt->precision, CLIPPO_PRECISION_FP16_EMULATED);
    assert_string_equal(rt->cache_dir, ""); /* none in the settings: no cache */
    setenv("CLIPPO_OPS_VARIANT", "group", 1);
    assert_int_equal(rt->settings.ops_variant, CLIPPO_OPS_ROW);
    char opts[64];
    clippo_ops_build_options(rt, opts, sizeof opts);
    assert_non_null(strstr(opts, "-DVEC="));
    clippo_rt_destroy(rt);
    /* the settings' device when no spec is given */
    snprintf(mine.device, sizeof mine.device, "no-such-device-xyz");
    assert_int_equal(clippo_rt_create_with(&rt, NULL, &mine, &err), CLIPPO_E_NOTFOUND);
    assert_null(rt);
    assert_non_null(strstr(err.msg, "no-such-device-xyz"));
    TEST_OK(clippo_rt_create_with(&rt, specs[0], &mine, &err), &err); /* a spec wins */
    clippo_rt_destroy(rt);
  }
  test_device_specs_free(specs, n);
  for (size_t i = 0; i < NNAMES; i++) {
    set_env(names[i], saved[i]);
    free(saved[i]);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_devices_list),  cmocka_unit_test(test_device_spec_select),
      cmocka_unit_test(test_program_cache), cmocka_unit_test(test_build_failure),
      cmocka_unit_test(test_tensors),       cmocka_unit_test(test_settings),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
