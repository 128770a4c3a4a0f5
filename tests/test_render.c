/* The text renderer: bit-exact against the big_vision fixtures, against a second implementation
 * that follows TensorFlow's data flow step by step, and on edge cases. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "clippo/text.h"
#include "support.h"

typedef struct fixture {
  clippo_font *font;
} fixture;

static int setup(void **state) {
  fixture *fx = calloc(1, sizeof *fx);
  char *lo = test_shared_path("fonts/unifont-9.0.06.hex");
  char *up = test_shared_path("fonts/unifont_upper-9.0.06.hex");
  const char *paths[2] = {lo, up};
  clippo_error err;
  clippo_status st = clippo_font_load(&fx->font, paths, 2, &err);
  free(lo);
  free(up);
  if (st) {
    fprintf(stderr, "font load failed: %s\n", err.msg);
    free(fx);
    return -1;
  }
  *state = fx;
  return 0;
}

static int teardown(void **state) {
  fixture *fx = *state;
  clippo_font_free(fx->font);
  free(fx);
  return 0;
}

static char *read_all(const char *path, size_t *len) {
  FILE *fp = fopen(path, "rb");
  if (!fp) fail_msg("cannot open %s", path);
  fseek(fp, 0, SEEK_END);
  long n = ftell(fp);
  fseek(fp, 0, SEEK_SET);
  char *buf = malloc((size_t)n + 1);
  assert_non_null(buf);
  assert_int_equal(fread(buf, 1, (size_t)n, fp), (size_t)n);
  fclose(fp);
  buf[n] = '\0';
  *len = (size_t)n;
  return buf;
}

/* Parses a binary PGM (P5, maxval 255); returns the pixels. */
static uint8_t *read_pgm(const char *path, int *w, int *h) {
  size_t len;
  char *buf = read_all(path, &len);
  int maxval = 0, consumed = 0;
  if (sscanf(buf, "P5 %d %d %d%n", w, h, &maxval, &consumed) != 3 || maxval != 255)
    fail_msg("%s: not a P5 PGM with maxval 255", path);
  consumed++; /* the single whitespace after maxval */
  size_t npix = (size_t)*w * (size_t)*h;
  assert_int_equal(len - (size_t)consumed, npix);
  uint8_t *px = malloc(npix);
  memcpy(px, buf + consumed, npix);
  free(buf);
  return px;
}

static uint8_t *render_gray(const clippo_font *font, const clippo_render_opts *o, const char *text,
                            size_t len) {
  uint8_t *img = malloc((size_t)o->image_size * (size_t)o->image_size);
  clippo_error err;
  TEST_OK(clippo_render_text(font, o, text, len, CLIPPO_U8, 1, img, &err), &err);
  return img;
}

static uint8_t *render_str(const clippo_font *font, int size, const char *text) {
  clippo_render_opts o;
  clippo_render_opts_default(&o, size);
  return render_gray(font, &o, text, strlen(text));
}

/* Every case of fixtures/render, bit-exact; also the RGB uint8 and float32 outputs. */
static void test_fixtures(void **state) {
  fixture *fx = *state;
  char *cases_path = test_shared_path("fixtures/render/cases.json");
  size_t len;
  char *json = read_all(cases_path, &len);
  cJSON *root = cJSON_Parse(json);
  assert_non_null(root);
  assert_true(cJSON_IsArray(root));
  int ncases = 0;
  const cJSON *c;
  cJSON_ArrayForEach(c, root) {
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(c, "name");
    const cJSON *size = cJSON_GetObjectItemCaseSensitive(c, "image_size");
    assert_true(cJSON_IsString(name) && cJSON_IsNumber(size));
    char rel[256];
    snprintf(rel, sizeof rel, "fixtures/render/%s.txt", name->valuestring);
    char *txt_path = test_shared_path(rel);
    snprintf(rel, sizeof rel, "fixtures/render/%s.pgm", name->valuestring);
    char *pgm_path = test_shared_path(rel);
    size_t tlen;
    char *text = read_all(txt_path, &tlen);
    int w, h;
    uint8_t *want = read_pgm(pgm_path, &w, &h);
    assert_int_equal(w, size->valueint);
    assert_int_equal(h, size->valueint);
    clippo_render_opts o;
    clippo_render_opts_default(&o, size->valueint);
    uint8_t *got = render_gray(fx->font, &o, text, tlen);
    size_t npix = (size_t)w * (size_t)h, bad = 0;
    for (size_t i = 0; i < npix; i++) bad += got[i] != want[i];
    if (bad) fail_msg("%s (size %d): %zu of %zu pixels differ", name->valuestring, w, bad, npix);

    /* The same through the batch API in uint8 RGB and float32 RGB. */
    const char *texts[1] = {text};
    uint8_t *rgb = malloc(npix * 3);
    float *f = malloc(npix * 3 * sizeof *f);
    clippo_error err;
    TEST_OK(clippo_render_batch(fx->font, &o, texts, &tlen, 1, CLIPPO_U8, rgb, &err), &err);
    TEST_OK(clippo_render_batch(fx->font, &o, texts, &tlen, 1, CLIPPO_F32, f, &err), &err);
    for (size_t i = 0; i < npix * 3; i++) {
      uint8_t v = want[i / 3];
      if (rgb[i] != v) fail_msg("%s: RGB value %zu differs", name->valuestring, i);
      float x = (float)v / 255.0f;
      float y = x * 2.0f;
      if (f[i] != -1.0f + y) fail_msg("%s: float value %zu differs", name->valuestring, i);
    }
    free(rgb);
    free(f);
    free(got);
    free(want);
    free(text);
    free(txt_path);
    free(pgm_path);
    ncases++;
  }
  assert_true(ncases >= 20);
  cJSON_Delete(root);
  free(json);
  free(cases_path);
}

/* ---- a second implementation, following the TensorFlow ops of pp_ops.py ------------------- */

/* letters -> trimmed ragged columns -> row ids -> gathered lines -> dense -> transpose ->
 * reshape -> crop -> pad -> brightness. Slow and literal on purpose. */
static uint8_t *tf_style_render(const clippo_font *font, const clippo_render_opts *o,
                                const char *text, size_t len, int *ok) {
  const int S = o->image_size;
  size_t n = clippo_utf8_decode(text, len, NULL, (size_t)-1);
  uint32_t *ids = malloc((n + 1) * sizeof *ids);
  clippo_utf8_decode(text, len, ids, n);
  if (o->max_chars > 0 && n > (size_t)o->max_chars) n = (size_t)o->max_chars;
  /* letters[i][row][col] */
  uint8_t(*letters)[16][16] = malloc((n + 1) * sizeof *letters);
  for (size_t i = 0; i < n; i++) {
    uint32_t cp = ids[i];
    if (o->lowercase && cp >= 'A' && cp <= 'Z') cp = cp - 'A' + 'a';
    const uint16_t *rows = clippo_font_glyph(font, cp, NULL);
    for (int r = 0; r < 16; r++)
      for (int c = 0; c < 16; c++) letters[i][r][c] = (rows[r] >> (15 - c)) & 1;
  }
  /* trim_letter: ragged (n, width_i) columns; col_start[i] is the first kept column. */
  int *lens = calloc(n + 1, sizeof *lens), *col_start = calloc(n + 1, sizeof *col_start);
  int maxw = INT32_MIN;
  for (size_t i = 0; i < n; i++) {
    if (o->monospace) {
      col_start[i] = 0;
      lens[i] = 16;
    } else {
      int v[16], first = 0, last = 0, any = 0;
      for (int c = 0; c < 16; c++) {
        v[c] = 0;
        for (int r = 0; r < 16; r++) v[c] = v[c] > letters[i][r][c] ? v[c] : letters[i][r][c];
      }
      for (int c = 0; c < 16; c++)
        if (v[c]) {
          if (!any) first = c;
          last = c;
          any = 1;
        }
      first = first - o->spacing > 0 ? first - o->spacing : 0;
      last = last + o->spacing > first + o->min_width ? last + o->spacing : first + o->min_width;
      /* Python slice [first:last] on 16 columns. */
      int hi = last < 16 ? last : 16;
      col_start[i] = first;
      lens[i] = hi > first ? hi - first : 0;
    }
    if (lens[i] > maxw) maxw = lens[i];
  }
  uint8_t *img = calloc((size_t)S * (size_t)S, 1);
  *ok = 1;
  int64_t *row_idx = calloc(n + 1, sizeof *row_idx);
  int64_t nlines = 0;
  if (n > 0) {
    float div = (float)(S - maxw);
    if (div <= 0) {
      *ok = 0;
      goto out;
    }
    int64_t cum = 0;
    for (size_t i = 0; i < n; i++) {
      cum += lens[i];
      float rl = (float)cum;
      row_idx[i] = (int64_t)floorf(rl / div);
    }
    nlines = row_idx[n - 1] + 1;
  }
  {
    /* gather + merge_dims: per line, the concatenated columns. */
    int64_t maxlinew = 0;
    int64_t *linew = calloc((size_t)nlines + 1, sizeof *linew);
    for (size_t i = 0; i < n; i++) linew[row_idx[i]] += lens[i];
    for (int64_t k = 0; k < nlines; k++) maxlinew = linew[k] > maxlinew ? linew[k] : maxlinew;
    /* to_tensor: (nlines, maxlinew, 16), zero padded. */
    size_t dense_n = (size_t)nlines * (size_t)maxlinew * 16;
    uint8_t *dense = calloc(dense_n + 1, 1);
    int64_t *fill = calloc((size_t)nlines + 1, sizeof *fill);
    for (size_t i = 0; i < n; i++) {
      int64_t k = row_idx[i];
      for (int c = 0; c < lens[i]; c++, fill[k]++)
        for (int r = 0; r < 16; r++)
          dense[((size_t)k * (size_t)maxlinew + (size_t)fill[k]) * 16 + (size_t)r] =
              letters[i][r][col_start[i] + c];
    }
    /* transpose (0, 2, 1) and reshape (-1, maxlinew): pixel row k*16 + r, column x. */
    int64_t H = nlines * 16;
    for (int y = 0; y < S; y++)
      for (int x = 0; x < S; x++) {
        int bit = 0;
        if (y < H && x < maxlinew) {
          int64_t k = y / 16, r = y % 16;
          bit = dense[((size_t)k * (size_t)maxlinew + (size_t)x) * 16 + (size_t)r];
        }
        /* uint8 arithmetic: bit * (ink - bg) + bg, modulo 256. */
        img[(size_t)y * (size_t)S + (size_t)x] =
            (uint8_t)((unsigned)(bit * (o->ink - o->background) + o->background) & 0xFFu);
      }
    assert_true(maxlinew <= S);
    free(fill);
    free(dense);
    free(linew);
  }
out:
  free(row_idx);
  free(lens);
  free(col_start);
  free(letters);
  free(ids);
  return img;
}

/* Appends code point cp as UTF-8. */
static size_t put_utf8(char *s, uint32_t cp) {
  if (cp < 0x80) {
    s[0] = (char)cp;
    return 1;
  }
  if (cp < 0x800) {
    s[0] = (char)(0xC0 | (cp >> 6));
    s[1] = (char)(0x80 | (cp & 0x3F));
    return 2;
  }
  if (cp < 0x10000) {
    s[0] = (char)(0xE0 | (cp >> 12));
    s[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
    s[2] = (char)(0x80 | (cp & 0x3F));
    return 3;
  }
  s[0] = (char)(0xF0 | (cp >> 18));
  s[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
  s[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
  s[3] = (char)(0x80 | (cp & 0x3F));
  return 4;
}

/* Random texts (ASCII, CJK, emoji, controls, odd-width glyphs, invalid bytes) at random sizes and
 * options: the renderer equals the literal TensorFlow-style implementation. */
static void test_random_vs_tf_style(void **state) {
  fixture *fx = *state;
  test_rng rng;
  test_rng_seed(&rng, 1234);
  static const uint32_t specials[] = {0x0BC1, 0x0A83, 0x0378, 0x00E9, 0x00C9,   0x0009,  0x000A,
                                      0x0001, 0x0020, 0x3000, 0xFFFD, 0x10FFFD, 0x1F600, 0x1D400};
  char *text = malloc(4 * 1200 + 64);
  int rendered = 0;
  for (int iter = 0; iter < 300; iter++) {
    clippo_render_opts o;
    int size = 17 + (int)(test_rng_u64(&rng) % 300);
    if (iter % 7 == 0) size = 224;
    clippo_render_opts_default(&o, size);
    if (iter % 3 == 1) {
      o.spacing = (int)(test_rng_u64(&rng) % 4);
      o.min_width = (int)(test_rng_u64(&rng) % 8);
      o.lowercase = (int)(test_rng_u64(&rng) % 2);
      o.monospace = test_rng_u64(&rng) % 5 == 0;
      o.max_chars = (int)(test_rng_u64(&rng) % 900);
      o.background = (int)(test_rng_u64(&rng) % 256);
      o.ink = (int)(test_rng_u64(&rng) % 256);
    }
    int nchars = (int)(test_rng_u64(&rng) % (iter % 10 == 0 ? 1100 : 120));
    size_t len = 0;
    for (int i = 0; i < nchars; i++) {
      uint64_t kind = test_rng_u64(&rng) % 10;
      uint32_t cp;
      if (kind < 4)
        cp = 0x20 + (uint32_t)(test_rng_u64(&rng) % 95);
      else if (kind == 4)
        cp = 0x4E00 + (uint32_t)(test_rng_u64(&rng) % 0x5000);
      else if (kind == 5)
        cp = 0x1F600 + (uint32_t)(test_rng_u64(&rng) % 0x50);
      else if (kind == 6)
        cp = specials[test_rng_u64(&rng) % (sizeof specials / sizeof specials[0])];
      else if (kind == 7)
        cp = 0x80 + (uint32_t)(test_rng_u64(&rng) % 0x2000);
      else if (kind == 8) {
        text[len++] = (char)(0x80 + test_rng_u64(&rng) % 0x80); /* raw (often invalid) byte */
        continue;
      } else
        cp = 'A' + (uint32_t)(test_rng_u64(&rng) % 26);
      len += put_utf8(text + len, cp);
    }
    int ok;
    uint8_t *want = tf_style_render(fx->font, &o, text, len, &ok);
    uint8_t *got = malloc((size_t)size * (size_t)size);
    clippo_error err;
    clippo_status st = clippo_render_text(fx->font, &o, text, len, CLIPPO_U8, 1, got, &err);
    if (!ok) {
      assert_int_equal(st, CLIPPO_E_ARG);
    } else {
      TEST_OK(st, &err);
      size_t bad = 0;
      for (size_t i = 0; i < (size_t)size * (size_t)size; i++) bad += got[i] != want[i];
      if (bad)
        fail_msg("iteration %d (size %d, %d chars): %zu pixels differ", iter, size, nchars, bad);
      rendered++;
    }
    free(want);
    free(got);
  }
  assert_true(rendered > 250);
  free(text);
}

/* ---- edge cases ----------------------------------------------------------------------------- */

static int all_equal(const uint8_t *img, size_t n, uint8_t v) {
  for (size_t i = 0; i < n; i++)
    if (img[i] != v) return 0;
  return 1;
}

/* First column holding ink in pixel rows [y0, y1), or -1. */
static int first_ink_col(const uint8_t *img, int size, int y0, int y1) {
  for (int x = 0; x < size; x++)
    for (int y = y0; y < y1 && y < size; y++)
      if (img[y * size + x] == 0) return x;
  return -1;
}

static int ink_in_rows(const uint8_t *img, int size, int y0, int y1) {
  for (int y = y0; y < y1 && y < size; y++)
    for (int x = 0; x < size; x++)
      if (img[y * size + x] == 0) return 1;
  return 0;
}

static void test_empty_and_spaces(void **state) {
  fixture *fx = *state;
  const char *texts[] = {"", " ", "          ", "\xE3\x80\x80 \xC2\xA0"};
  for (size_t t = 0; t < sizeof texts / sizeof texts[0]; t++) {
    uint8_t *img = render_str(fx->font, 224, texts[t]);
    assert_true(all_equal(img, (size_t)224 * 224, 127));
    free(img);
  }
  /* Float32: the background after value_range. */
  clippo_render_opts o;
  clippo_render_opts_default(&o, 32);
  float *f = malloc((size_t)32 * 32 * 3 * sizeof *f);
  clippo_error err;
  TEST_OK(clippo_render_text(fx->font, &o, "", 0, CLIPPO_F32, 3, f, &err), &err);
  for (int i = 0; i < 32 * 32 * 3; i++) assert_true(f[i] == -1.0f + 2.0f * (127.0f / 255.0f));
  free(f);
  /* NULL with length 0 is the empty text. */
  uint8_t img[32 * 32];
  TEST_OK(clippo_render_text(fx->font, &o, NULL, 0, CLIPPO_U8, 1, img, &err), &err);
  assert_true(all_equal(img, sizeof img, 127));
  /* A blank glyph is 4 columns: "a" after four spaces starts at x = 16 + 1 (its first ink). */
  uint8_t *a = render_str(fx->font, 224, "a");
  uint8_t *sa = render_str(fx->font, 224, "    a");
  assert_int_equal(first_ink_col(a, 224, 0, 16), 1);
  assert_int_equal(first_ink_col(sa, 224, 0, 16), 17);
  free(a);
  free(sa);
}

static void test_max_chars(void **state) {
  fixture *fx = *state;
  /* 'x' trims to 7 columns: 768 of them fill 24+ lines of a 512 image, 800 more. */
  char *t800 = malloc(2 * 800 + 1);
  memset(t800, 'x', 800);
  t800[800] = '\0';
  clippo_render_opts o;
  clippo_render_opts_default(&o, 512);
  uint8_t *a = render_gray(fx->font, &o, t800, 800);
  uint8_t *b = render_gray(fx->font, &o, t800, 768);
  assert_memory_equal(a, b, (size_t)512 * 512);
  o.max_chars = 0; /* keep all */
  uint8_t *c = render_gray(fx->font, &o, t800, 800);
  assert_memory_not_equal(a, c, (size_t)512 * 512);
  free(a);
  free(b);
  free(c);
  /* The limit counts code points, not bytes: 800 x 'é' (2 bytes each). */
  for (int i = 0; i < 800; i++) memcpy(t800 + (ptrdiff_t)2 * i, "\xC3\xA9", 2);
  o.max_chars = 768;
  a = render_gray(fx->font, &o, t800, 1600);
  b = render_gray(fx->font, &o, t800, 1536);
  assert_memory_equal(a, b, (size_t)512 * 512);
  free(a);
  free(b);
  free(t800);
}

typedef struct utf8_case {
  const char *in;
  size_t len;
  uint32_t out[8];
  size_t n;
} utf8_case;

/* Expected values from Python: bytes.decode('utf-8', errors='replace'). */
static const utf8_case utf8_cases[] = {
    {"\xe2\x82", 2, {0xFFFD}, 1},
    {"\xe2\x82\x61", 3, {0xFFFD, 0x61}, 2},
    {"\xed\xa0\x80", 3, {0xFFFD, 0xFFFD, 0xFFFD}, 3},
    {"\xc0\x80", 2, {0xFFFD, 0xFFFD}, 2},
    {"\xe0\x80\x80", 3, {0xFFFD, 0xFFFD, 0xFFFD}, 3},
    {"\xf0\x80\x80\x80", 4, {0xFFFD, 0xFFFD, 0xFFFD, 0xFFFD}, 4},
    {"\xf4\x90\x80\x80", 4, {0xFFFD, 0xFFFD, 0xFFFD, 0xFFFD}, 4},
    {"\xf5\x80", 2, {0xFFFD, 0xFFFD}, 2},
    {"\xff\xfe", 2, {0xFFFD, 0xFFFD}, 2},
    {"\x80\xbf", 2, {0xFFFD, 0xFFFD}, 2},
    {"\xf0\x9f\x98", 3, {0xFFFD}, 1},
    {"\xf0\x9f\x98\x80", 4, {0x1F600}, 1},
    {"\xe0\xa0", 2, {0xFFFD}, 1},
    {"\xc2", 1, {0xFFFD}, 1},
    {"\x61\xc3\x28\x62", 4, {0x61, 0xFFFD, 0x28, 0x62}, 4},
    {"\xf0\x90\x80\x80", 4, {0x10000}, 1},
    {"\xef\xbf\xbf", 3, {0xFFFF}, 1},
    {"\xed\x9f\xbf", 3, {0xD7FF}, 1},
    {"\xee\x80\x80", 3, {0xE000}, 1},
    {"\xf4\x8f\xbf\xbf", 4, {0x10FFFF}, 1},
    {"\xc1\xbf", 2, {0xFFFD, 0xFFFD}, 2},
    {"\xe1\x80\xe1\x80\x80", 5, {0xFFFD, 0x1000}, 2},
    {"a\0b", 3, {0x61, 0, 0x62}, 3},
};

static void test_utf8(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof utf8_cases / sizeof utf8_cases[0]; i++) {
    const utf8_case *c = &utf8_cases[i];
    uint32_t out[16];
    size_t n = clippo_utf8_decode(c->in, c->len, out, 16);
    if (n != c->n) fail_msg("case %zu: %zu code points, want %zu", i, n, c->n);
    for (size_t k = 0; k < n; k++)
      if (out[k] != c->out[k])
        fail_msg("case %zu: [%zu] = U+%X, want U+%X", i, k, out[k], c->out[k]);
    assert_int_equal(clippo_utf8_decode(c->in, c->len, NULL, 16), n);
  }
  /* max stops decoding. */
  uint32_t out[2];
  assert_int_equal(clippo_utf8_decode("abcdef", 6, out, 2), 2);
  assert_int_equal(out[1], 'b');
}

static void test_invalid_utf8_renders_fffd(void **state) {
  fixture *fx = *state;
  /* "\xe2\x82" (one maximal subpart) renders as one U+FFFD, "\xed\xa0\x80" as three. */
  uint8_t *a = render_str(fx->font, 224, "x\xe2\x82y");
  uint8_t *b = render_str(fx->font, 224, "x\xEF\xBF\xBDy");
  assert_memory_equal(a, b, (size_t)224 * 224);
  free(a);
  free(b);
  a = render_str(fx->font, 224, "\xed\xa0\x80");
  b = render_str(fx->font, 224, "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
  assert_memory_equal(a, b, (size_t)224 * 224);
  free(a);
  free(b);
}

static void test_astral_and_missing(void **state) {
  fixture *fx = *state;
  uint16_t m;
  clippo_font_glyph(fx->font, 0x1F600, &m); /* emoji, from unifont_upper */
  assert_true(m != 0);
  clippo_font_glyph(fx->font, 0x10FFFD, &m); /* no glyph: blank */
  assert_int_equal(m, 0);
  clippo_font_glyph(fx->font, 0x200000, &m); /* out of range: blank */
  assert_int_equal(m, 0);
  uint8_t *img = render_str(fx->font, 224, "\xF0\x9F\x98\x80");
  assert_true(ink_in_rows(img, 224, 0, 16));
  free(img);
  /* A missing glyph is 4 blank columns, like a space. */
  uint8_t *a = render_str(fx->font, 224,
                          "\xF4\x8F\xBF\xBD"
                          "a");
  uint8_t *b = render_str(fx->font, 224, " a");
  assert_memory_equal(a, b, (size_t)224 * 224);
  free(a);
  free(b);
  /* U+0BC1 has ink in column 15 only: f = 14, end min(18, 16) -> 2 columns wide. */
  a = render_str(fx->font, 224,
                 "\xE0\xAF\x81"
                 "a");
  assert_int_equal(first_ink_col(a, 224, 0, 16), 1); /* its own ink */
  b = render_str(fx->font, 224,
                 "\xE0\xAF\x81"
                 "\xE0\xAF\x81"
                 "a");
  uint8_t *c = render_str(fx->font, 224, "a");
  /* 'a' after two 2-wide glyphs: its ink (first at column 1) shifts by 4. */
  int ca = first_ink_col(c, 224, 0, 16);
  int x = -1;
  for (int col = 4; col < 224 && x < 0; col++)
    for (int y = 0; y < 16; y++)
      if (b[y * 224 + col] == 0) {
        x = col;
        break;
      }
  assert_int_equal(x, ca + 4);
  free(a);
  free(b);
  free(c);
}

static void test_controls_no_line_break(void **state) {
  fixture *fx = *state;
  uint16_t m;
  clippo_font_glyph(fx->font, '\n', &m);
  assert_true(m != 0); /* drawn as its own (boxed) glyph */
  uint8_t *img = render_str(fx->font, 224, "a\nb\tc\x01");
  assert_true(ink_in_rows(img, 224, 0, 16));
  assert_false(ink_in_rows(img, 224, 16, 224)); /* one line only */
  free(img);
}

static void test_overflow_and_partial_lines(void **state) {
  fixture *fx = *state;
  char text[3001];
  for (int i = 0; i < 3000; i++) text[i] = (char)('a' + i % 26);
  text[3000] = '\0';
  clippo_render_opts o;
  clippo_render_opts_default(&o, 40);
  o.max_chars = 0;
  uint8_t *img = render_gray(fx->font, &o, text, 3000);
  /* Rows 32..39 show the top half of line 2. */
  assert_true(ink_in_rows(img, 40, 32, 40));
  free(img);
  /* Size 24: div = 24 - 7, so "aa" fill line 0 and the 'l' (ink from its row 2) goes to line
   * 1, of which rows 16..23 show. */
  uint8_t *small = render_str(fx->font, 24, "aal");
  assert_true(ink_in_rows(small, 24, 0, 16));
  assert_true(ink_in_rows(small, 24, 16, 24));
  /* 'l' (rows 0x18 / 0x08 above its 0x3E foot): trimmed from column 1, so its visible top starts
   * at x = 3 - 1. */
  assert_int_equal(first_ink_col(small, 24, 16, 24), 2);
  free(small);
  /* size 8 keeps the top 8 rows of line 0. */
  uint8_t *tiny = render_str(fx->font, 8, "i");
  free(tiny);
}

static void test_lowercase_ascii_only(void **state) {
  fixture *fx = *state;
  uint8_t *a = render_str(fx->font, 64, "HELLO World");
  uint8_t *b = render_str(fx->font, 64, "hello world");
  assert_memory_equal(a, b, (size_t)64 * 64);
  free(a);
  free(b);
  /* 'É' stays 'É'. */
  a = render_str(fx->font, 64, "\xC3\x89");
  b = render_str(fx->font, 64, "\xC3\xA9");
  assert_memory_not_equal(a, b, (size_t)64 * 64);
  free(a);
  free(b);
  /* '@' and '[' (next to A-Z) are unchanged. */
  a = render_str(fx->font, 64, "@[");
  b = render_str(fx->font, 64, "`{");
  assert_memory_not_equal(a, b, (size_t)64 * 64);
  free(a);
  free(b);
  /* lowercase off keeps capitals. */
  clippo_render_opts o;
  clippo_render_opts_default(&o, 64);
  o.lowercase = 0;
  a = render_gray(fx->font, &o, "A", 1);
  b = render_gray(fx->font, &o, "a", 1);
  assert_memory_not_equal(a, b, (size_t)64 * 64);
  free(a);
  free(b);
}

static void test_errors(void **state) {
  fixture *fx = *state;
  clippo_render_opts o;
  clippo_error err;
  uint8_t img[16 * 16 * 3];
  /* A 16-wide glyph in a 16-pixel image cannot be laid out (big_vision fails too). */
  clippo_render_opts_default(&o, 16);
  assert_int_equal(clippo_render_text(fx->font, &o, "a\t", 2, CLIPPO_U8, 1, img, &err),
                   CLIPPO_E_ARG); /* U+0009's glyph spans all 16 columns */
  assert_non_null(strstr(err.msg, "widest glyph"));
  /* Narrow glyphs fit. */
  TEST_OK(clippo_render_text(fx->font, &o, "ab", 2, CLIPPO_U8, 1, img, &err), &err);
  o.image_size = 0;
  assert_int_equal(clippo_render_text(fx->font, &o, "a", 1, CLIPPO_U8, 1, img, &err), CLIPPO_E_ARG);
  clippo_render_opts_default(&o, 16);
  o.spacing = -1;
  assert_int_equal(clippo_render_text(fx->font, &o, "a", 1, CLIPPO_U8, 1, img, &err), CLIPPO_E_ARG);
  clippo_render_opts_default(&o, 16);
  o.ink = 256;
  assert_int_equal(clippo_render_text(fx->font, &o, "a", 1, CLIPPO_U8, 1, img, &err), CLIPPO_E_ARG);
  clippo_render_opts_default(&o, 16);
  assert_int_equal(clippo_render_text(fx->font, &o, "a", 1, CLIPPO_I32, 1, img, &err),
                   CLIPPO_E_ARG);
  assert_int_equal(clippo_render_text(fx->font, &o, "a", 1, CLIPPO_U8, 2, img, &err), CLIPPO_E_ARG);
  assert_int_equal(clippo_render_text(NULL, &o, "a", 1, CLIPPO_U8, 1, img, &err), CLIPPO_E_ARG);
  /* A batch names the failing text. */
  const char *texts[2] = {"ok", "\t"};
  assert_int_equal(clippo_render_batch(fx->font, &o, texts, NULL, 2, CLIPPO_U8, img, &err),
                   CLIPPO_E_ARG);
  assert_non_null(strstr(err.msg, "text 1"));
}

/* The batch writes N images back to back in NHWC float32, equal to single renders. */
static void test_batch(void **state) {
  fixture *fx = *state;
  const char *texts[4] = {"a photo of a cat", "", "\xF0\x9F\x98\x80 emoji", "The END"};
  clippo_render_opts o;
  clippo_render_opts_default(&o, 48);
  const size_t per = (size_t)48 * 48 * 3;
  float *batch = malloc(4 * per * sizeof *batch);
  float *one = malloc(per * sizeof *one);
  clippo_error err;
  TEST_OK(clippo_render_batch(fx->font, &o, texts, NULL, 4, CLIPPO_F32, batch, &err), &err);
  for (int i = 0; i < 4; i++) {
    TEST_OK(clippo_render_text(fx->font, &o, texts[i], strlen(texts[i]), CLIPPO_F32, 3, one, &err),
            &err);
    assert_memory_equal(batch + i * per, one, per * sizeof *one);
  }
  /* ink -1, background -1 + 2 * 127/255 */
  int saw_ink = 0;
  for (size_t i = 0; i < per; i++) {
    assert_true(batch[i] == -1.0f || batch[i] == -1.0f + 2.0f * (127.0f / 255.0f));
    saw_ink |= batch[i] == -1.0f;
  }
  assert_true(saw_ink);
  free(batch);
  free(one);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_utf8),
      cmocka_unit_test(test_fixtures),
      cmocka_unit_test(test_random_vs_tf_style),
      cmocka_unit_test(test_empty_and_spaces),
      cmocka_unit_test(test_max_chars),
      cmocka_unit_test(test_invalid_utf8_renders_fffd),
      cmocka_unit_test(test_astral_and_missing),
      cmocka_unit_test(test_controls_no_line_break),
      cmocka_unit_test(test_overflow_and_partial_lines),
      cmocka_unit_test(test_lowercase_ascii_only),
      cmocka_unit_test(test_errors),
      cmocka_unit_test(test_batch),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
