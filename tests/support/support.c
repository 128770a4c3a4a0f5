/* Helpers shared by the CMocka tests. */
#include "support.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clippo/gemm.h"
#include "clippo/text.h"

/* Tests that skipped in this program (test programs are single-threaded). */
static int skipped_tests;

void test_note_skip(void) { skipped_tests++; }

int test_exit_status(int failed) {
  if (failed) return 1;
  if (skipped_tests) {
    print_message("%d test(s) skipped: exit status %d (ctest: Skipped)\n", skipped_tests,
                  TEST_SKIP_EXIT);
    return TEST_SKIP_EXIT;
  }
  return 0;
}

char *test_shared_path(const char *rel) {
  const char *env = getenv("CLIPPO_SHARED_DIR");
  const char *base = env && *env ? env : CLIPPO_SHARED_DIR;
  size_t n = strlen(base) + strlen(rel) + 2;
  char *p = malloc(n);
  if (!p) fail_msg("out of memory");
  snprintf(p, n, "%s/%s", base, rel);
  if (access(p, R_OK) != 0) {
    char msg[4096];
    snprintf(msg, sizeof msg,
             "missing fixture %s: the tests read fixtures/ and fonts/ from %s (%s); a checkout "
             "needs ../shared beside it, or set CLIPPO_SHARED_DIR",
             p, base, env && *env ? "CLIPPO_SHARED_DIR" : "the build's CLIPPO_SHARED_DIR");
    free(p);
    fail_msg("%s", msg);
  }
  return p;
}

const char *test_source_dir(void) {
  const char *env = getenv("CLIPPO_SOURCE_DIR");
  return env && *env ? env : CLIPPO_SOURCE_DIR;
}

int test_file_exists(const char *path) { return access(path, R_OK) == 0; }

char *test_tmpdir(void) {
  const char *t = getenv("TMPDIR");
  if (!t || !*t) t = "/tmp";
  size_t n = strlen(t) + 32;
  char *p = malloc(n);
  if (!p) return NULL;
  snprintf(p, n, "%s/clippo-test-XXXXXX", t);
  if (!mkdtemp(p)) {
    free(p);
    return NULL;
  }
  return p;
}

int test_font_fixture_setup(void **state) {
  test_font_fixture *fx = calloc(1, sizeof *fx);
  if (!fx) return -1;
  fx->dir = test_tmpdir();
  char *hex = test_shared_path("fonts/unifont-9.0.06.hex");
  clippo_error err;
  const char *paths[] = {hex};
  clippo_status st = fx->dir && hex ? clippo_font_load(&fx->font, paths, 1, &err) : CLIPPO_E_NOMEM;
  free(hex);
  if (st) {
    fprintf(stderr, "font fixture: %s\n", fx->dir && hex ? err.msg : "out of memory");
    free(fx->dir);
    free(fx);
    return -1;
  }
  *state = fx;
  return 0;
}

int test_font_fixture_teardown(void **state) {
  test_font_fixture *fx = *state;
  char cmd[1200];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", fx->dir);
  if (system(cmd) != 0) fprintf(stderr, "cannot remove %s\n", fx->dir);
  free(fx->dir);
  clippo_font_free(fx->font);
  free(fx);
  return 0;
}

char **test_device_specs(size_t *count) {
  *count = 0;
  const char *env = getenv("CLIPPO_TEST_DEVICES");
  char **specs = NULL;
  if (env && *env) {
    char *copy = strdup(env);
    size_t cap = 1;
    for (const char *c = env; *c; c++) cap += *c == ',';
    specs = calloc(cap, sizeof *specs);
    char *save = NULL;
    for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
      specs[(*count)++] = strdup(tok);
    free(copy);
    return specs;
  }
  clippo_device_info *devs = NULL;
  size_t n = 0;
  clippo_error err;
  if (clippo_devices_list(&devs, &n, &err) != CLIPPO_OK || n == 0) {
    free(devs);
    return NULL;
  }
  specs = calloc(n, sizeof *specs);
  for (size_t i = 0; i < n; i++) {
    char buf[32];
    snprintf(buf, sizeof buf, "%d:%d", devs[i].platform_index, devs[i].device_index);
    specs[i] = strdup(buf);
  }
  *count = n;
  free(devs);
  return specs;
}

void test_device_specs_free(char **specs, size_t count) {
  for (size_t i = 0; i < count; i++) free(specs[i]);
  free(specs);
}

void test_each_device(void (*fn)(clippo_rt *rt, void *user), void *user) {
  size_t n = 0;
  char **specs = test_device_specs(&n);
  if (n == 0) {
    test_device_specs_free(specs, n);
    skip();
    return;
  }
  for (size_t i = 0; i < n; i++) {
    clippo_error err;
    clippo_rt *rt = NULL;
    if (clippo_rt_create(&rt, specs[i], &err) != CLIPPO_OK) {
      char msg[CLIPPO_ERROR_MSG + 64];
      snprintf(msg, sizeof msg, "%s: %s", specs[i], err.msg);
      test_device_specs_free(specs, n);
      fail_msg("cannot open device %s", msg);
      return;
    }
    print_message("[ device   ] %s: %s / %s\n", specs[i], rt->info.platform, rt->info.name);
    fn(rt, user);
    clippo_rt_destroy(rt);
  }
  test_device_specs_free(specs, n);
}

void test_rng_seed(test_rng *r, uint64_t seed) { r->s = seed * 0x9E3779B97F4A7C15ull + 1; }

uint64_t test_rng_u64(test_rng *r) {
  uint64_t x = r->s;
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  r->s = x;
  return x * 0x2545F4914F6CDD1Dull;
}

float test_rng_uniform(test_rng *r, float lo, float hi) {
  double u = (double)(test_rng_u64(r) >> 11) / 9007199254740992.0;
  return (float)(lo + (hi - lo) * u);
}

float test_rng_normal(test_rng *r) {
  double u1 = ((double)(test_rng_u64(r) >> 11) + 1.0) / 9007199254740993.0;
  double u2 = (double)(test_rng_u64(r) >> 11) / 9007199254740992.0;
  return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

void test_fill_uniform(test_rng *r, float *x, size_t n, float lo, float hi) {
  for (size_t i = 0; i < n; i++) x[i] = test_rng_uniform(r, lo, hi);
}

double test_rel_err_f32(const float *a, const float *b, size_t n) {
  double num = 0, den = 0;
  for (size_t i = 0; i < n; i++) {
    double d = (double)a[i] - (double)b[i];
    num += d * d;
    den += (double)b[i] * (double)b[i];
  }
  if (den == 0) return sqrt(num);
  return sqrt(num / den);
}

double test_rel_err_f32_f64(const float *a, const double *b, size_t n) {
  double num = 0, den = 0;
  for (size_t i = 0; i < n; i++) {
    double d = (double)a[i] - b[i];
    num += d * d;
    den += b[i] * b[i];
  }
  if (den == 0) return sqrt(num);
  return sqrt(num / den);
}

double test_max_abs_diff(const float *a, const float *b, size_t n) {
  double m = 0;
  for (size_t i = 0; i < n; i++) {
    double d = fabs((double)a[i] - (double)b[i]);
    if (d > m || isnan(d)) m = d;
  }
  return m;
}

int test_onednn_has_bf16(void) {
  char text[256];
  clippo_gemm_onednn_describe(text, sizeof text);
  return strstr(text, "CPU ISA avx512") != NULL;
}
