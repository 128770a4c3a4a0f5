/* Typographic attacks (host/tasks/typographic.c), the host side: colour and position parsing, the
 * rendered label (with a font built here whose 'a' is a solid 8x16 block, so every cell is
 * known), where it lands on an image, the class attack's words, and the model inputs with and
 * without the label. The evaluation with a model is tested through `clippo eval` in
 * tests/cli/typographic.sh. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clippo/tasks.h"
#include "clippo/typographic.h"
#include "support.h"

/* A font with one glyph: 'a' (U+0061) inked over its whole 8x16 cell. */
static clippo_font *block_font(void) {
  static const char hex[] = "0061:FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF\n";
  clippo_font *f = NULL;
  clippo_error err;
  TEST_OK(clippo_font_create(&f, &err), &err);
  TEST_OK(clippo_font_add_hex_buffer(f, hex, strlen(hex), "block.hex", &err), &err);
  return f;
}

static void test_parse(void **state) {
  (void)state;
  clippo_error err;
  uint8_t c[3];
  TEST_OK(clippo_typo_parse_color("255,0,10", c, &err), &err);
  assert_true(c[0] == 255 && c[1] == 0 && c[2] == 10);
  TEST_OK(clippo_typo_parse_color("#00ff80", c, &err), &err);
  assert_true(c[0] == 0 && c[1] == 255 && c[2] == 128);
  TEST_OK(clippo_typo_parse_color("White", c, &err), &err);
  assert_true(c[0] == 255 && c[1] == 255 && c[2] == 255);
  static const char *const bad[] = {"256,0,0", "1,2", "#12345", "purple", "1,2,3,", "-1,2,3", ""};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    assert_int_equal(clippo_typo_parse_color(bad[i], c, &err), CLIPPO_E_ARG);
    assert_non_null(strstr(err.msg, "colour"));
  }
  clippo_typo_opts o;
  clippo_typo_opts_default(&o);
  assert_int_equal(o.anchor, CLIPPO_TYPO_BOTTOM);
  assert_int_equal(o.x, -1);
  TEST_OK(clippo_typo_parse_position("top", &o, &err), &err);
  assert_int_equal(o.anchor, CLIPPO_TYPO_TOP);
  TEST_OK(clippo_typo_parse_position("3,4", &o, &err), &err);
  assert_true(o.x == 3 && o.y == 4);
  TEST_OK(clippo_typo_parse_position("centre", &o, &err), &err);
  assert_true(o.anchor == CLIPPO_TYPO_CENTER && o.x == -1);
  static const char *const badp[] = {"left", "-1,2", "3", "3,4,5", ""};
  for (size_t i = 0; i < sizeof badp / sizeof badp[0]; i++) {
    assert_int_equal(clippo_typo_parse_position(badp[i], &o, &err), CLIPPO_E_ARG);
    assert_non_null(strstr(err.msg, "position"));
  }
}

/* "aa": two solid 8-column glyphs side by side = a 16x16 block of ink, plus a 1-pixel margin
 * right and below (none left and above: the ink starts at the corner). */
static void test_stamp(void **state) {
  (void)state;
  clippo_font *f = block_font();
  clippo_error err;
  clippo_typo_stamp s;
  for (int scale = 1; scale <= 2; scale++) {
    TEST_OK(clippo_typo_stamp_make(f, "AA", 64, scale, &s, &err), &err); /* lowercased */
    assert_int_equal(s.w, 17 * scale);
    assert_int_equal(s.h, 17 * scale);
    for (int y = 0; y < s.h; y++)
      for (int x = 0; x < s.w; x++)
        assert_int_equal(s.mask[y * s.w + x], x < 16 * scale && y < 16 * scale ? 2 : 1);
    clippo_typo_stamp_free(&s);
  }
  /* nothing inked, and too little room for a glyph */
  assert_int_equal(clippo_typo_stamp_make(f, "  ", 64, 1, &s, &err), CLIPPO_E_ARG);
  assert_non_null(strstr(err.msg, "draws no ink"));
  assert_int_equal(clippo_typo_stamp_make(f, "a", 32, 2, &s, &err), CLIPPO_E_ARG);
  assert_non_null(strstr(err.msg, "scale 2"));
  clippo_font_free(f);
}

static void fill_image(clippo_image *img, int size, uint8_t v) {
  img->width = img->height = size;
  img->data = malloc((size_t)size * (size_t)size * 3);
  assert_non_null(img->data);
  memset(img->data, v, (size_t)size * (size_t)size * 3);
}

static const uint8_t *px(const clippo_image *img, int x, int y) {
  return img->data + ((size_t)y * (size_t)img->width + (size_t)x) * 3;
}

static void test_apply(void **state) {
  (void)state;
  clippo_font *f = block_font();
  clippo_error err;
  clippo_typo_stamp s;
  TEST_OK(clippo_typo_stamp_make(f, "aa", 64, 1, &s, &err), &err);
  clippo_typo_opts o;
  clippo_typo_opts_default(&o);
  clippo_image img;
  fill_image(&img, 64, 100);
  clippo_typo_stamp_apply(&s, &o, &img); /* bottom centre: x0 = (64 - 17) / 2, y0 = 64 - 17 */
  assert_int_equal(px(&img, 23, 47)[0], 0);
  assert_int_equal(px(&img, 38, 62)[2], 0);
  assert_int_equal(px(&img, 39, 63)[1], 255); /* margin */
  assert_int_equal(px(&img, 22, 50)[0], 100); /* left of the label */
  assert_int_equal(px(&img, 30, 46)[0], 100); /* above it */
  size_t touched = 0;
  for (int y = 0; y < 64; y++)
    for (int x = 0; x < 64; x++) touched += px(&img, x, y)[0] != 100;
  assert_int_equal(touched, 17 * 17);
  /* top, own colours, no box */
  memset(img.data, 100, (size_t)64 * 64 * 3);
  TEST_OK(clippo_typo_parse_position("top", &o, &err), &err);
  TEST_OK(clippo_typo_parse_color("red", o.ink, &err), &err);
  o.box = 0;
  clippo_typo_stamp_apply(&s, &o, &img);
  assert_true(px(&img, 23, 0)[0] == 255 && px(&img, 23, 0)[1] == 0);
  assert_int_equal(px(&img, 39, 16)[0], 100); /* margin not drawn without a box */
  /* an explicit corner near the edge is clipped */
  memset(img.data, 100, (size_t)64 * 64 * 3);
  o.x = 60;
  o.y = 55;
  clippo_typo_stamp_apply(&s, &o, &img);
  touched = 0;
  for (int y = 0; y < 64; y++)
    for (int x = 0; x < 64; x++) touched += px(&img, x, y)[0] != 100;
  assert_int_equal(touched, 4 * 9);
  clippo_image_free(&img);
  clippo_typo_stamp_free(&s);
  clippo_font_free(f);
}

static void test_attacks(void **state) {
  (void)state;
  clippo_font *f = block_font();
  clippo_error err;
  clippo_typo_opts o;
  clippo_typo_opts_default(&o);
  const char *names[3] = {"a", "aa", "aaa"};
  clippo_typo_attack a;
  TEST_OK(clippo_typo_attack_classes(f, names, 3, 64, &o, &a, &err), &err);
  assert_int_equal(a.nstamps, 3);
  for (size_t c = 0; c < 3; c++) {
    assert_int_equal(a.target[c], (c + 1) % 3);
    /* class c carries the name of class c + 1: (c + 2) glyphs of 8 columns, + margin */
    assert_int_equal(clippo_typo_attack_stamp(&a, c)->w, (int)(8 * ((c + 1) % 3 + 1) + 1));
  }
  clippo_typo_attack_free(&a);
  assert_int_equal(clippo_typo_attack_classes(f, names, 1, 64, &o, &a, &err), CLIPPO_E_ARG);
  TEST_OK(clippo_typo_attack_word(f, "aa", 1, 64, &o, &a, &err), &err);
  assert_int_equal(a.nstamps, 1);
  assert_int_equal(a.target[0], 1);
  assert_ptr_equal(clippo_typo_attack_stamp(&a, 2), &a.stamps[0]);

  /* model inputs: without an attack exactly clippo_pixels_to_inputs; with it the label's
   * pixels are -1 (black ink) and +1 (white box), the rest unchanged */
  const int w = 28, h = 28, size = 64;
  const size_t n = 2, per = (size_t)size * size * 3;
  uint8_t pixels[2 * 28 * 28];
  test_rng r;
  test_rng_seed(&r, 3);
  for (size_t i = 0; i < sizeof pixels; i++) pixels[i] = (uint8_t)(test_rng_u64(&r) & 255);
  size_t labels[2] = {0, 2};
  float *ref = malloc(n * per * sizeof *ref), *clean = malloc(n * per * sizeof *clean);
  float *att = malloc(n * per * sizeof *att);
  assert_non_null(ref);
  assert_non_null(clean);
  assert_non_null(att);
  TEST_OK(clippo_pixels_to_inputs(pixels, n, w, h, 1, size, ref, &err), &err);
  TEST_OK(clippo_typo_pixels_to_inputs(NULL, pixels, labels, n, w, h, 1, size, clean, &err), &err);
  assert_memory_equal(ref, clean, n * per * sizeof *ref);
  TEST_OK(clippo_typo_pixels_to_inputs(&a, pixels, labels, n, w, h, 1, size, att, &err), &err);
  size_t ink = 0, box = 0, same = 0;
  for (size_t i = 0; i < n * per; i++) {
    size_t pix = (i % per) / 3;
    int x = (int)(pix % (size_t)size), y = (int)(pix / (size_t)size);
    int in_label = x >= 23 && x < 40 && y >= 47;
    if (!in_label) {
      same += att[i] == ref[i];
    } else if (x < 39 && y < 63) {
      ink += att[i] == -1.0f;
    } else {
      box += att[i] == 1.0f;
    }
  }
  assert_int_equal(same, n * (per - (size_t)17 * 17 * 3));
  assert_int_equal(ink, n * 16 * 16 * 3);
  assert_int_equal(box, n * (17 * 17 - 16 * 16) * 3);
  assert_int_equal(clippo_typo_pixels_to_inputs(&a, pixels, labels, n, 0, h, 1, size, att, &err),
                   CLIPPO_E_ARG);
  assert_int_equal(clippo_typo_file_to_input(&a, "/nonexistent/x.png", 0, size, att, &err),
                   CLIPPO_E_IO);
  assert_non_null(strstr(err.msg, "/nonexistent/x.png"));
  free(ref);
  free(clean);
  free(att);
  clippo_typo_attack_free(&a);
  clippo_font_free(f);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_parse),
      cmocka_unit_test(test_stamp),
      cmocka_unit_test(test_apply),
      cmocka_unit_test(test_attacks),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
