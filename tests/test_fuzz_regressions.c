/* Replays every seed (tests/fuzz/corpus_NAME/) and every past finding
 * (tests/fuzz/regressions/NAME/) through the libFuzzer target of that parser, in the ordinary
 * Release and ASan/UBSan builds: each input must end in a clean error or a correct result (the
 * targets abort() on a broken invariant; a crash or sanitizer report fails the test too).
 * The targets are #included with their entry point renamed, so this is exactly what
 * scripts/fuzz.sh runs. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "support.h"

/* The fuzz targets are compiled in here on purpose (see above). */
// NOLINTBEGIN(bugprone-suspicious-include)
#define FUZZ_ENTRY fuzz_entry_npy
#include "fuzz/fuzz_npy.c"
#undef FUZZ_ENTRY
#define FUZZ_ENTRY fuzz_entry_npz
#include "fuzz/fuzz_npz.c"
#undef FUZZ_ENTRY
#define FUZZ_ENTRY fuzz_entry_h5
#include "fuzz/fuzz_h5.c"
#undef FUZZ_ENTRY
#define FUZZ_ENTRY fuzz_entry_hex
#include "fuzz/fuzz_hex.c"
#undef FUZZ_ENTRY
#define FUZZ_ENTRY fuzz_entry_render
#include "fuzz/fuzz_render.c"
#undef FUZZ_ENTRY
#define FUZZ_ENTRY fuzz_entry_config
#include "fuzz/fuzz_config.c"
#undef FUZZ_ENTRY
#define FUZZ_ENTRY fuzz_entry_image
#include "fuzz/fuzz_image.c"
#undef FUZZ_ENTRY
// NOLINTEND(bugprone-suspicious-include)

typedef int (*fuzz_fn)(const uint8_t *data, size_t size);

static int cmp_names(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Runs fn on every regular file of dir (sorted); returns how many ran. */
static size_t replay_dir(const char *dir, fuzz_fn fn) {
  DIR *d = opendir(dir);
  if (!d) return 0;
  char *names[4096];
  size_t n = 0;
  struct dirent *e;
  while ((e = readdir(d)) && n < 4096)
    if (e->d_name[0] != '.') names[n++] = strdup(e->d_name);
  closedir(d);
  qsort(names, n, sizeof names[0], cmp_names);
  size_t ran = 0;
  for (size_t i = 0; i < n; i++) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, names[i]);
    free(names[i]);
    struct stat sb;
    if (stat(path, &sb) != 0 || !S_ISREG(sb.st_mode)) continue;
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    size_t len = (size_t)sb.st_size;
    uint8_t *buf = malloc(len ? len : 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, len, f), len);
    fclose(f);
    printf("replay %s (%zu bytes)\n", path, len);
    fflush(stdout);
    /* An exact-size copy: ASan sees any read past the input. */
    uint8_t *exact = malloc(len ? len : 1);
    assert_non_null(exact);
    if (len) memcpy(exact, buf, len);
    assert_int_equal(fn(exact, len), 0);
    free(exact);
    free(buf);
    ran++;
  }
  return ran;
}

static void replay(const char *name, fuzz_fn fn) {
  char dir[4096];
  snprintf(dir, sizeof dir, "%s/tests/fuzz/corpus_%s", test_source_dir(), name);
  size_t seeds = replay_dir(dir, fn);
  snprintf(dir, sizeof dir, "%s/tests/fuzz/regressions/%s", test_source_dir(), name);
  size_t regressions = replay_dir(dir, fn);
  printf("%s: %zu seeds, %zu regression inputs replayed\n", name, seeds, regressions);
  assert_true(seeds + regressions > 0);
}

static void test_npy(void **state) {
  (void)state;
  replay("npy", fuzz_entry_npy);
}
static void test_npz(void **state) {
  (void)state;
  replay("npz", fuzz_entry_npz);
}
static void test_h5(void **state) {
  (void)state;
  replay("h5", fuzz_entry_h5);
}
static void test_hex(void **state) {
  (void)state;
  replay("hex", fuzz_entry_hex);
}
static void test_render(void **state) {
  (void)state;
  replay("render", fuzz_entry_render);
}
static void test_config(void **state) {
  (void)state;
  replay("config", fuzz_entry_config);
}
static void test_image(void **state) {
  (void)state;
  replay("image", fuzz_entry_image);
}

int main(void) {
  /* regressions/h5 holds a file that keeps libhdf5 busy until the guard's CPU limit stops it:
   * fuzz_h5.c passes a short one (clippo_load_opts). */
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_npy),   cmocka_unit_test(test_npz),    cmocka_unit_test(test_h5),
      cmocka_unit_test(test_hex),   cmocka_unit_test(test_render), cmocka_unit_test(test_config),
      cmocka_unit_test(test_image),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
