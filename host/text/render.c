/* big_vision's render_unifont (pp/proj/clippo/pp_ops.py), reproduced bit for bit:
 *  1. lowercase ASCII A-Z (tf.strings.lower works on bytes, ASCII only), decode UTF-8 with
 *     U+FFFD for ill-formed subparts, keep the first max_chars code points;
 *  2. trim each glyph: over inked columns first..last, f = max(first - spacing, 0),
 *     l = max(last + spacing, f + min_width) as an exclusive end clipped to 16 (blank: first =
 *     last = 0);
 *  3. with maxw the widest trimmed glyph, div = size - maxw and C_i the running width sum
 *     including glyph i, glyph i goes on line floor(float32(C_i) / float32(div)); a line's
 *     glyphs are packed from x = 0, line k occupies pixel rows 16k..16k+15, rows >= size dropped.
 */
#include "clippo/text.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Decodes the code point at p[0..len) (len >= 1) into *cp; returns the bytes it takes (>= 1).
 * An ill-formed sequence gives U+FFFD for its maximal valid prefix (at least one byte); the
 * byte that broke it starts the next sequence. */
static size_t utf8_next(const unsigned char *p, size_t len, uint32_t *cp) {
  unsigned b = p[0];
  uint32_t c;
  int need;
  unsigned lo = 0x80, hi = 0xBF;
  if (b < 0x80) {
    *cp = b;
    return 1;
  } else if (b >= 0xC2 && b <= 0xDF) {
    c = b & 0x1F;
    need = 1;
  } else if (b >= 0xE0 && b <= 0xEF) {
    c = b & 0x0F;
    need = 2;
    if (b == 0xE0) lo = 0xA0; /* no overlongs */
    if (b == 0xED) hi = 0x9F; /* no surrogates */
  } else if (b >= 0xF0 && b <= 0xF4) {
    c = b & 0x07;
    need = 3;
    if (b == 0xF0) lo = 0x90; /* no overlongs */
    if (b == 0xF4) hi = 0x8F; /* nothing above U+10FFFF */
  } else {
    /* 80..C1 (stray continuation, overlong lead) and F5..FF: one replacement each. */
    *cp = 0xFFFD;
    return 1;
  }
  size_t j = 1;
  for (int k = 0; k < need; k++, j++) {
    if (j >= len || p[j] < lo || p[j] > hi) {
      *cp = 0xFFFD;
      return j;
    }
    c = (c << 6) | (p[j] & 0x3Fu);
    lo = 0x80;
    hi = 0xBF;
  }
  *cp = c;
  return j;
}

size_t clippo_utf8_decode(const char *s, size_t len, uint32_t *out, size_t max) {
  const unsigned char *p = (const unsigned char *)s;
  size_t i = 0, n = 0;
  while (i < len && n < max) {
    uint32_t cp;
    i += utf8_next(p + i, len - i, &cp);
    if (out) out[n] = cp;
    n++;
  }
  return n;
}

void clippo_render_opts_default(clippo_render_opts *o, int image_size) {
  o->image_size = image_size;
  o->max_chars = 768;
  o->lowercase = 1;
  o->monospace = 0;
  o->spacing = 1;
  o->min_width = 4;
  o->background = 127;
  o->ink = 0;
}

/* Largest supported image side. */
#define MAX_IMAGE_SIZE 16384

clippo_status clippo_render_opts_check(const clippo_render_opts *o, clippo_error *err) {
  if (!o) return clippo_fail(err, CLIPPO_E_ARG, "render options are NULL");
  if (o->image_size < 1 || o->image_size > MAX_IMAGE_SIZE)
    return clippo_fail(err, CLIPPO_E_ARG, "render: image size %d out of range 1..%d", o->image_size,
                       MAX_IMAGE_SIZE);
  if (o->spacing < 0 || o->spacing > 16)
    return clippo_fail(err, CLIPPO_E_ARG, "render: spacing %d out of range 0..16", o->spacing);
  if (o->min_width < 0 || o->min_width > 16)
    return clippo_fail(err, CLIPPO_E_ARG, "render: min width %d out of range 0..16", o->min_width);
  if (o->background < 0 || o->background > 255 || o->ink < 0 || o->ink > 255)
    return clippo_fail(err, CLIPPO_E_ARG, "render: background %d / ink %d out of range 0..255",
                       o->background, o->ink);
  return CLIPPO_OK;
}

/* big_vision's float32 value_range(-1, 1) of a uint8 value: (v - 0) / (255 - 0), then
 * -1 + x * 2, each step rounded to float32. */
static float value_range(int v) {
  float x = (float)v;
  x = x / 255.0f;
  float y = x * 2.0f;
  return -1.0f + y;
}

/* Scratch space of one renderer call: one background row of the output (size * 3 values of up
 * to 4 bytes), the ink mask (size*size, 0/1) and a flag per row with ink. */
static size_t scratch_bytes(int size) {
  return (size_t)size * (size_t)size + (size_t)size + (size_t)size * 3 * sizeof(float);
}

/* Writes the mask into dst in the requested layout: every row starts as a copy of the
 * background row; only rows with ink are looked at pixel by pixel. */
static void emit(const uint8_t *mask, const uint8_t *row_ink, void *bg_row, int size,
                 const clippo_render_opts *o, clippo_dtype dtype, int channels, void *dst) {
  const size_t S = (size_t)size, C = (size_t)channels;
  const size_t row_bytes = S * C * clippo_dtype_size(dtype);
  if (dtype == CLIPPO_U8) {
    const uint8_t bg = (uint8_t)o->background, ink = (uint8_t)o->ink;
    memset(bg_row, bg, S * C);
    for (size_t y = 0; y < S; y++) {
      uint8_t *d = (uint8_t *)dst + y * S * C;
      memcpy(d, bg_row, row_bytes);
      if (!row_ink[y]) continue;
      const uint8_t *m = mask + y * S;
      for (size_t x = 0; x < S; x++)
        if (m[x])
          for (size_t c = 0; c < C; c++) d[x * C + c] = ink;
    }
  } else {
    const float bg = value_range(o->background), ink = value_range(o->ink);
    float *b = bg_row;
    for (size_t i = 0; i < S * C; i++) b[i] = bg;
    for (size_t y = 0; y < S; y++) {
      float *d = (float *)dst + y * S * C;
      memcpy(d, bg_row, row_bytes);
      if (!row_ink[y]) continue;
      const uint8_t *m = mask + y * S;
      for (size_t x = 0; x < S; x++)
        if (m[x])
          for (size_t c = 0; c < C; c++) d[x * C + c] = ink;
    }
  }
}

/* Index of the first (leftmost) set column of a non-zero mask; bit 15 = column 0. */
static int first_col(uint16_t m) {
  int c = 0;
  while (!(m & (0x8000u >> c))) c++;
  return c;
}

static int last_col(uint16_t m) {
  int c = 15;
  while (!(m & (0x8000u >> c))) c--;
  return c;
}

/* The columns kept of a glyph: first kept column *f and width *w (big_vision's trimming). */
static void glyph_span(const clippo_render_opts *o, uint16_t m, int *f, int *w) {
  if (o->monospace) {
    *f = 0;
    *w = 16;
    return;
  }
  int first = m ? first_col(m) : 0;
  int last = m ? last_col(m) : 0;
  int ff = first - o->spacing;
  if (ff < 0) ff = 0;
  int l = last + o->spacing;
  if (l < ff + o->min_width) l = ff + o->min_width;
  if (l > 16) l = 16;
  *f = ff;
  *w = l > ff ? l - ff : 0;
}

/* The glyph rows and mask of the code point at text[i] (lowercased as asked); returns the bytes
 * it takes. */
static size_t next_glyph(const clippo_font *font, const clippo_render_opts *o, const char *text,
                         size_t len, size_t i, const uint16_t **rows, uint16_t *m) {
  uint32_t cp;
  size_t k = utf8_next((const unsigned char *)text + i, len - i, &cp);
  /* Lowercasing A-Z bytes before decoding equals lowercasing A-Z code points after: ASCII
   * bytes always decode as themselves. */
  if (o->lowercase && cp >= 'A' && cp <= 'Z') cp += 'a' - 'A';
  *rows = clippo_font_glyph(font, cp, m);
  return k;
}

/* Lays the text out into mask (size*size bytes, 0/1, zeroed by the caller). Two passes over the
 * text and no memory of its own: the widest glyph of the whole (cut) text first, then the
 * placement, which stops at the first line below the image. */
static clippo_status layout(const clippo_font *font, const clippo_render_opts *o, const char *text,
                            size_t len, uint8_t *mask, uint8_t *row_ink, clippo_error *err) {
  const int size = o->image_size;
  const size_t limit = o->max_chars > 0 ? (size_t)o->max_chars : (size_t)-1;
  const uint16_t *rows;
  uint16_t m;
  int f, w, maxw = 0;
  size_t n = 0;
  for (size_t i = 0; i < len && n < limit; n++) {
    i += next_glyph(font, o, text, len, i, &rows, &m);
    glyph_span(o, m, &f, &w);
    if (w > maxw) maxw = w;
  }
  if (n == 0) return CLIPPO_OK;
  const int div = size - maxw;
  if (div <= 0)
    return clippo_fail(err, CLIPPO_E_ARG,
                       "render: image size %d is not wider than the widest glyph (%d columns); "
                       "big_vision cannot lay this text out",
                       size, maxw);
  const float fdiv = (float)div;
  int64_t cum = 0, cur_line = -1;
  int x = 0;
  n = 0;
  for (size_t i = 0; i < len && n < limit; n++) {
    i += next_glyph(font, o, text, len, i, &rows, &m);
    glyph_span(o, m, &f, &w);
    cum += w;
    int64_t line = (int64_t)floorf((float)cum / fdiv);
    if (line * 16 >= size) break; /* lines only move down */
    if (line != cur_line) {
      cur_line = line;
      x = 0;
    }
    if (w > 0 && x + w <= size) {
      const int y0 = (int)line * 16;
      const int nrows = size - y0 < 16 ? size - y0 : 16;
      for (int r = 0; r < nrows; r++) {
        uint32_t bits = (uint32_t)(uint16_t)(rows[r] << f);
        if (!bits) continue;
        row_ink[y0 + r] = 1;
        uint8_t *dst = mask + (size_t)(y0 + r) * (size_t)size + (size_t)x;
        for (int c = 0; c < w; c++) dst[c] = (uint8_t)((bits >> (15 - c)) & 1u);
      }
    }
    x += w;
  }
  return CLIPPO_OK;
}

/* Renders one text given scratch space of scratch_bytes(size). */
static clippo_status render_one(const clippo_font *font, const clippo_render_opts *o,
                                const char *text, size_t len, clippo_dtype dtype, int channels,
                                void *dst, uint8_t *scratch, clippo_error *err) {
  const size_t S = (size_t)o->image_size;
  void *bg_row = scratch; /* first: malloc aligns it for floats */
  uint8_t *mask = scratch + S * 3 * sizeof(float), *row_ink = mask + S * S;
  memset(mask, 0, S * S + S);
  clippo_status st = layout(font, o, text, len, mask, row_ink, err);
  if (st) return st;
  emit(mask, row_ink, bg_row, o->image_size, o, dtype, channels, dst);
  return CLIPPO_OK;
}

static clippo_status check_call(const clippo_font *font, const clippo_render_opts *o,
                                clippo_dtype dtype, int channels, const void *dst,
                                clippo_error *err) {
  if (!font || !dst) return clippo_fail(err, CLIPPO_E_ARG, "render: NULL font or destination");
  clippo_status st = clippo_render_opts_check(o, err);
  if (st) return st;
  if (dtype != CLIPPO_U8 && dtype != CLIPPO_F32)
    return clippo_fail(err, CLIPPO_E_ARG, "render: output dtype %s (want uint8 or float32)",
                       clippo_dtype_name(dtype));
  if (channels != 1 && channels != 3)
    return clippo_fail(err, CLIPPO_E_ARG, "render: %d channels (want 1 or 3)", channels);
  return CLIPPO_OK;
}

clippo_status clippo_render_text(const clippo_font *font, const clippo_render_opts *o,
                                 const char *text, size_t len, clippo_dtype dtype, int channels,
                                 void *dst, clippo_error *err) {
  clippo_status st = check_call(font, o, dtype, channels, dst, err);
  if (st) return st;
  if (!text && len) return clippo_fail(err, CLIPPO_E_ARG, "render: NULL text");
  uint8_t *mask = malloc(scratch_bytes(o->image_size));
  if (!mask) return clippo_fail(err, CLIPPO_E_NOMEM, "render: out of memory");
  st = render_one(font, o, text ? text : "", len, dtype, channels, dst, mask, err);
  free(mask);
  return st;
}

clippo_status clippo_render_batch(const clippo_font *font, const clippo_render_opts *o,
                                  const char *const *texts, const size_t *lens, size_t n,
                                  clippo_dtype dtype, void *dst, clippo_error *err) {
  clippo_status st = check_call(font, o, dtype, 3, dst, err);
  if (st) return st;
  if (!texts && n) return clippo_fail(err, CLIPPO_E_ARG, "render: NULL text list");
  const size_t npix = (size_t)o->image_size * (size_t)o->image_size;
  const size_t stride = npix * 3 * clippo_dtype_size(dtype);
  uint8_t *mask = malloc(scratch_bytes(o->image_size));
  if (!mask) return clippo_fail(err, CLIPPO_E_NOMEM, "render: out of memory");
  for (size_t i = 0; i < n && !st; i++) {
    const char *t = texts[i] ? texts[i] : "";
    size_t len = lens ? lens[i] : strlen(t);
    if (!texts[i] && lens && lens[i]) {
      st = clippo_fail(err, CLIPPO_E_ARG, "render: text %zu is NULL", i);
      break;
    }
    st = render_one(font, o, t, len, dtype, 3, (char *)dst + i * stride, mask, err);
    if (st) clippo_error_prefix(err, "text %zu of the batch", i);
  }
  free(mask);
  return st;
}
