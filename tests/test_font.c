/* Glyph tables: the Unifont .hex parser (speed, layout, overrides, malformed lines), FreeType
 * fonts (a generated BDF, Debian's unifont.otf when present), identity strings, errors. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "clippo/text.h"
#include "support.h"

#if defined(__SANITIZE_ADDRESS__)
#define SLOW_BUILD 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SLOW_BUILD 1
#endif
#endif
#ifndef SLOW_BUILD
#define SLOW_BUILD 0
#endif

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Rows of a glyph given as hex (32 or 64 digits), as the table stores them. */
static void hex_rows(const char *hex, uint16_t rows[16]) {
  size_t n = strlen(hex);
  for (int r = 0; r < 16; r++) {
    unsigned v = 0;
    if (n == 64) {
      sscanf(hex + (ptrdiff_t)4 * r, "%4x", &v);
      rows[r] = (uint16_t)v;
    } else {
      sscanf(hex + (ptrdiff_t)2 * r, "%2x", &v);
      rows[r] = (uint16_t)(v << 8);
    }
  }
}

static const char *A_HEX = "0000000018242442427E424242420000";
static const char *SHI_HEX = "0000000000000000000000000000000000000000000000000000000000000000";

static clippo_font *load_906(double *secs) {
  char *lo = test_shared_path("fonts/unifont-9.0.06.hex");
  char *up = test_shared_path("fonts/unifont_upper-9.0.06.hex");
  const char *paths[2] = {lo, up};
  clippo_font *font = NULL;
  clippo_error err;
  double t0 = now_s();
  TEST_OK(clippo_font_load(&font, paths, 2, &err), &err);
  if (secs) *secs = now_s() - t0;
  free(lo);
  free(up);
  return font;
}

static void test_hex_906(void **state) {
  (void)state;
  double secs;
  clippo_font *font = load_906(&secs);
  printf("loaded unifont 9.0.06 (lower + upper) in %.3f s\n", secs);
  assert_true(secs < (SLOW_BUILD ? 3.0 : 0.3));
  assert_int_equal(clippo_font_glyph_count(font), 65691);
  assert_string_equal(clippo_font_identity(font), "unifont-9.0.06");
  uint16_t want[16], m;
  hex_rows(A_HEX, want);
  const uint16_t *g = clippo_font_glyph(font, 'A', &m);
  assert_memory_equal(g, want, sizeof want);
  assert_int_equal(m, 0x7E00); /* columns 1..6 */
  /* A wide glyph uses the whole cell. */
  clippo_font_glyph(font, 0x4E16, &m);
  assert_true((m & 0x00FF) != 0);
  /* Upper planes. */
  clippo_font_glyph(font, 0x10000, &m);
  assert_true(m != 0);
  clippo_font_free(font);
}

static void expect_format_error(const char *content, const char *want_in_msg) {
  clippo_font *font = NULL;
  clippo_error err;
  TEST_OK(clippo_font_create(&font, &err), &err);
  clippo_status st = clippo_font_add_hex_buffer(font, content, strlen(content), "bad.hex", &err);
  if (st != CLIPPO_E_FORMAT)
    fail_msg("'%s': status %s, want CLIPPO_E_FORMAT", content, clippo_status_name(st));
  if (!strstr(err.msg, want_in_msg)) fail_msg("message '%s' lacks '%s'", err.msg, want_in_msg);
  clippo_font_free(font);
}

static void test_hex_malformed(void **state) {
  (void)state;
  expect_format_error("0041:0000000018242442427E424242420000\n0042:00zz\n", "bad.hex:2:");
  expect_format_error("0041:0000000018242442427E42424242000\n", "bad.hex:1:"); /* 31 digits */
  expect_format_error("0041 0000000018242442427E424242420000\n", "bad.hex:1:");
  expect_format_error("\n\n110000:0000000018242442427E424242420000\n", "bad.hex:3:");
  expect_format_error(":0000000018242442427E424242420000\n", "bad.hex:1:");
  expect_format_error("0041:\n", "glyph must have 32 or 64");
  expect_format_error("123456789:0000000018242442427E424242420000\n", "bad.hex:1:");
  expect_format_error("", "no glyphs");
  expect_format_error("\x1f\x8b\x08\x00", "gunzip");
}

static void test_hex_lenient_and_override(void **state) {
  (void)state;
  clippo_font *font = NULL;
  clippo_error err;
  TEST_OK(clippo_font_create(&font, &err), &err);
  /* CR LF, blank lines, lower-case digits, no final newline. */
  const char *a = "\r\n0041:0000000018242442427e424242420000\r\n\n4E16:"
                  "0000000000000000000000000000000000000000000000000000000000000001";
  TEST_OK(clippo_font_add_hex_buffer(font, a, strlen(a), "/some/dir/first-1.0.hex", &err), &err);
  assert_int_equal(clippo_font_glyph_count(font), 2);
  uint16_t want[16], m;
  hex_rows(A_HEX, want);
  assert_memory_equal(clippo_font_glyph(font, 'A', NULL), want, sizeof want);
  clippo_font_glyph(font, 0x4E16, &m);
  assert_int_equal(m, 1); /* last column of the last row */
  /* A later file overrides: a narrow glyph replacing a wide one clears the right half. */
  const char *b = "4E16:FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF\n";
  TEST_OK(clippo_font_add_hex_buffer(font, b, strlen(b), "second_upper-1.0.hex", &err), &err);
  assert_int_equal(clippo_font_glyph_count(font), 2);
  clippo_font_glyph(font, 0x4E16, &m);
  assert_int_equal(m, 0xFF00);
  assert_string_equal(clippo_font_identity(font), "first-1.0+second-1.0");
  /* The same name again adds nothing to the identity. */
  TEST_OK(clippo_font_add_hex_buffer(font, b, strlen(b), "second-1.0.hex", &err), &err);
  assert_string_equal(clippo_font_identity(font), "first-1.0+second-1.0");
  (void)SHI_HEX;
  clippo_font_free(font);
}

static void test_file_errors(void **state) {
  (void)state;
  char *dir = test_tmpdir();
  char path[4096];
  clippo_font *font = NULL;
  clippo_error err;
  /* Missing file. */
  snprintf(path, sizeof path, "%s/missing.hex", dir);
  const char *p1[1] = {path};
  assert_int_equal(clippo_font_load(&font, p1, 1, &err), CLIPPO_E_NOTFOUND);
  assert_null(font);
  assert_non_null(strstr(err.msg, "missing.hex"));
  /* A directory. */
  p1[0] = dir;
  assert_int_not_equal(clippo_font_load(&font, p1, 1, &err), CLIPPO_OK);
  assert_non_null(strstr(err.msg, "directory"));
  /* A file FreeType cannot open. */
  snprintf(path, sizeof path, "%s/notafont.ttf", dir);
  FILE *fp = fopen(path, "wb");
  fputs("this is not a font\n", fp);
  fclose(fp);
  p1[0] = path;
  assert_int_equal(clippo_font_load(&font, p1, 1, &err), CLIPPO_E_FORMAT);
  assert_non_null(strstr(err.msg, "notafont.ttf"));
  assert_non_null(strstr(err.msg, "FreeType"));
  unlink(path);
  /* A malformed .hex file names file and line. */
  snprintf(path, sizeof path, "%s/broken.hex", dir);
  fp = fopen(path, "wb");
  fputs("0041:0000000018242442427E424242420000\n0042:0000\n", fp);
  fclose(fp);
  assert_int_equal(clippo_font_load(&font, p1, 1, &err), CLIPPO_E_FORMAT);
  assert_non_null(strstr(err.msg, "broken.hex:2:"));
  unlink(path);
  /* Hex content under another extension is recognised. */
  snprintf(path, sizeof path, "%s/glyphs.txt", dir);
  fp = fopen(path, "wb");
  fputs("0041:0000000018242442427E424242420000\n", fp);
  fclose(fp);
  TEST_OK(clippo_font_load(&font, p1, 1, &err), &err);
  assert_int_equal(clippo_font_glyph_count(font), 1);
  assert_string_equal(clippo_font_identity(font), "glyphs.txt");
  clippo_font_free(font);
  unlink(path);
  rmdir(dir);
  free(dir);
}

/* Font files are capped at CLIPPO_FONT_MAX_FILE_BYTES: a larger regular file (.hex or FreeType)
 * fails at once, a stream that does not end (/dev/zero as a .hex) after the cap, naming it. */
static void test_file_size_cap(void **state) {
  (void)state;
  char *dir = test_tmpdir();
  assert_non_null(dir);
  char path[4096];
  clippo_font *font = NULL;
  clippo_error err;
  const char *p1[1] = {path};
  const char *names[2] = {"big.hex", "big.ttf"};
  for (int i = 0; i < 2; i++) {
    snprintf(path, sizeof path, "%s/%s", dir, names[i]);
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    fclose(fp);
    assert_int_equal(truncate(path, (off_t)CLIPPO_FONT_MAX_FILE_BYTES + 1), 0); /* sparse */
    assert_int_equal(clippo_font_load(&font, p1, 1, &err), CLIPPO_E_IO);
    assert_null(font);
    assert_non_null(strstr(err.msg, names[i]));
    assert_non_null(strstr(err.msg, "larger than"));
    unlink(path);
  }
  snprintf(path, sizeof path, "%s/zero.hex", dir);
  if (symlink("/dev/zero", path) == 0) {
    assert_int_equal(clippo_font_load(&font, p1, 1, &err), CLIPPO_E_IO);
    assert_non_null(strstr(err.msg, "zero.hex"));
    assert_non_null(strstr(err.msg, "larger than"));
    unlink(path);
  } else {
    fail_msg("cannot create the symlink %s -> /dev/zero", path);
  }
  rmdir(dir);
  free(dir);
}

/* Writes a BDF font holding 'A' (8x16) and U+4E16 (16x16) as the given hex glyphs. */
static void write_bdf(const char *path, const char *a_hex, const char *wide_hex) {
  FILE *fp = fopen(path, "wb");
  assert_non_null(fp);
  fprintf(fp, "STARTFONT 2.1\nFONT -clippo-test-medium-r-normal--16-160-75-75-c-80-iso10646-1\n"
              "SIZE 16 75 75\nFONTBOUNDINGBOX 16 16 0 -2\nSTARTPROPERTIES 5\nFONT_ASCENT 14\n"
              "FONT_DESCENT 2\nCHARSET_REGISTRY \"ISO10646\"\nCHARSET_ENCODING \"1\"\n"
              "DEFAULT_CHAR 65\nENDPROPERTIES\nCHARS 2\n");
  fprintf(fp, "STARTCHAR A\nENCODING 65\nSWIDTH 500 0\nDWIDTH 8 0\nBBX 8 16 0 -2\nBITMAP\n");
  for (int r = 0; r < 16; r++) fprintf(fp, "%.2s\n", a_hex + (ptrdiff_t)2 * r);
  fprintf(fp, "ENDCHAR\nSTARTCHAR uni4E16\nENCODING 19990\nSWIDTH 1000 0\nDWIDTH 16 0\n"
              "BBX 16 16 0 -2\nBITMAP\n");
  for (int r = 0; r < 16; r++) fprintf(fp, "%.4s\n", wide_hex + (ptrdiff_t)4 * r);
  fprintf(fp, "ENDCHAR\nENDFONT\n");
  fclose(fp);
}

static void test_freetype_bdf(void **state) {
  (void)state;
  clippo_font *ref = load_906(NULL);
  /* The 9.0.06 glyphs of 'A' and U+4E16 as hex. */
  char a_hex[33], w_hex[65];
  const uint16_t *ga = clippo_font_glyph(ref, 'A', NULL);
  const uint16_t *gw = clippo_font_glyph(ref, 0x4E16, NULL);
  for (int r = 0; r < 16; r++) {
    snprintf(a_hex + (ptrdiff_t)2 * r, 3, "%02X", ga[r] >> 8);
    snprintf(w_hex + (ptrdiff_t)4 * r, 5, "%04X", gw[r]);
  }
  char *dir = test_tmpdir();
  char path[4096];
  snprintf(path, sizeof path, "%s/test-font.bdf", dir);
  write_bdf(path, a_hex, w_hex);
  clippo_font *font = NULL;
  clippo_error err;
  const char *p1[1] = {path};
  TEST_OK(clippo_font_load(&font, p1, 1, &err), &err);
  assert_int_equal(clippo_font_glyph_count(font), 2);
  assert_memory_equal(clippo_font_glyph(font, 'A', NULL), ga, 16 * sizeof(uint16_t));
  assert_memory_equal(clippo_font_glyph(font, 0x4E16, NULL), gw, 16 * sizeof(uint16_t));
  assert_string_equal(clippo_font_identity(font), "test-font");
  /* Rendering with it equals rendering with the hex glyphs. */
  clippo_render_opts o;
  clippo_render_opts_default(&o, 64);
  o.lowercase = 0; /* the BDF has no 'a' */
  uint8_t a[64 * 64], b[64 * 64];
  TEST_OK(clippo_render_text(font, &o, "AA\xE4\xB8\x96", 5, CLIPPO_U8, 1, a, &err), &err);
  TEST_OK(clippo_render_text(ref, &o, "AA\xE4\xB8\x96", 5, CLIPPO_U8, 1, b, &err), &err);
  assert_memory_equal(a, b, sizeof a);
  clippo_font_free(font);
  clippo_font_free(ref);
  unlink(path);
  rmdir(dir);
  free(dir);
}

/* Debian's unifont.otf (when installed): its ASCII glyphs equal the 9.0.06 hex ones. */
static void test_freetype_otf(void **state) {
  (void)state;
  const char *otf = "/usr/share/fonts/opentype/unifont/unifont.otf";
  if (!test_file_exists(otf)) {
    skip();
    return;
  }
  clippo_font *ref = load_906(NULL);
  clippo_font *font = NULL;
  clippo_error err;
  const char *p1[1] = {otf};
  double t0 = now_s();
  TEST_OK(clippo_font_load(&font, p1, 1, &err), &err);
  printf("loaded %s (%zu glyphs) in %.2f s\n", otf, clippo_font_glyph_count(font), now_s() - t0);
  assert_true(clippo_font_glyph_count(font) > 50000);
  assert_string_equal(clippo_font_identity(font), "unifont");
  for (uint32_t cp = 0x21; cp < 0x7F; cp++) {
    const uint16_t *a = clippo_font_glyph(font, cp, NULL), *b = clippo_font_glyph(ref, cp, NULL);
    if (memcmp(a, b, 16 * sizeof(uint16_t))) fail_msg("glyph U+%04X differs", cp);
  }
  clippo_font_free(font);
  clippo_font_free(ref);
}

static void test_env_and_identity(void **state) {
  (void)state;
  /* The library reads no environment: CLIPPO_FONT (read by the program) changes nothing. */
  const char *prev = getenv(CLIPPO_FONT_ENV);
  char *old = prev ? strdup(prev) : NULL;
  setenv(CLIPPO_FONT_ENV, "/no/such/font.hex", 1);
  clippo_font *font = NULL;
  clippo_error err;
  if (clippo_font_default_path()) {
    TEST_OK(clippo_font_load(&font, NULL, 0, &err), &err);
    assert_string_equal(clippo_font_identity(font), "unifont");
    clippo_font_free(font);
  } else {
    assert_int_equal(clippo_font_load(&font, NULL, 0, &err), CLIPPO_E_NOTFOUND);
  }
  if (old) {
    setenv(CLIPPO_FONT_ENV, old, 1);
    free(old);
  } else {
    unsetenv(CLIPPO_FONT_ENV);
  }
  /* Explicit glyphs and bounds. */
  TEST_OK(clippo_font_create(&font, &err), &err);
  assert_string_equal(clippo_font_identity(font), "");
  uint16_t rows[16] = {0x8000};
  assert_int_equal(clippo_font_set_glyph(font, 0x110000, rows, &err), CLIPPO_E_ARG);
  TEST_OK(clippo_font_set_glyph(font, 0x10FFFF, rows, &err), &err);
  uint16_t m;
  clippo_font_glyph(font, 0x10FFFF, &m);
  assert_int_equal(m, 0x8000);
  clippo_font_free(font);
}

/* Random and mutated input never crashes the parser: it loads or fails with CLIPPO_E_FORMAT. */
static void test_hex_random_input(void **state) {
  (void)state;
  test_rng rng;
  test_rng_seed(&rng, 99);
  const char *good = "0041:0000000018242442427E424242420000\n4E16:"
                     "0000000000000000000000000000000000000000000000000000000000000001\n";
  size_t glen = strlen(good);
  char buf[256];
  for (int iter = 0; iter < 2000; iter++) {
    size_t n;
    if (iter % 2) {
      n = test_rng_u64(&rng) % sizeof buf;
      for (size_t i = 0; i < n; i++) buf[i] = (char)test_rng_u64(&rng);
    } else {
      n = glen;
      memcpy(buf, good, n);
      for (int k = 0; k < 3; k++) buf[test_rng_u64(&rng) % n] = (char)test_rng_u64(&rng);
    }
    clippo_font *font = NULL;
    clippo_error err;
    TEST_OK(clippo_font_create(&font, &err), &err);
    clippo_status st = clippo_font_add_hex_buffer(font, buf, n, "fuzz.hex", &err);
    if (st != CLIPPO_OK && st != CLIPPO_E_FORMAT) fail_msg("status %s", clippo_status_name(st));
    if (st) assert_non_null(strstr(err.msg, "fuzz.hex"));
    clippo_font_free(font);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_hex_906),
      cmocka_unit_test(test_hex_malformed),
      cmocka_unit_test(test_hex_lenient_and_override),
      cmocka_unit_test(test_file_errors),
      cmocka_unit_test(test_file_size_cap),
      cmocka_unit_test(test_freetype_bdf),
      cmocka_unit_test(test_freetype_otf),
      cmocka_unit_test(test_env_and_identity),
      cmocka_unit_test(test_hex_random_input),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
