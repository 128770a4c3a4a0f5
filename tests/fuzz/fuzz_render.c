/* libFuzzer target: UTF-8 decoding and big_vision's text rendering. The first 5 bytes pick the
 * options (image size 1..96, lowercase, monospace, channels, dtype, spacing, min width, max
 * chars), the rest is the text. Checks: the decoder's count does not depend on the output
 * buffer or the limit, every code point is a Unicode scalar value, every pixel is background or
 * ink, and a batch renders like its texts one by one.
 * The glyph table is synthetic (every width 0..16, blank and full glyphs) so runs do not depend
 * on the installed fonts.
 *   scripts/fuzz.sh builds it (clang, -DCLIPPO_FUZZ=ON) and runs it on tests/fuzz/corpus_render. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "clippo/text.h"
#include "fuzz_util.h"

int FUZZ_ENTRY(const uint8_t *data, size_t size);

/* One synthetic glyph: ink columns [a, b) with a pseudo-random pattern. */
static void fuzz_render_glyph(uint32_t cp, uint16_t rows[16]) {
  unsigned a = cp % 7, b = a + (cp / 7) % 17;
  if (b > 16) b = 16;
  uint16_t mask = 0;
  for (unsigned c = a; c < b; c++) mask |= (uint16_t)(0x8000u >> c);
  uint32_t h = cp * 2654435761u;
  for (int r = 0; r < 16; r++) {
    h ^= h >> 13;
    h *= 0x5bd1e995u;
    rows[r] = (uint16_t)((h >> 8) & mask);
  }
  if (cp % 11 == 0) rows[7] = mask; /* some glyphs ink their whole width */
}

static const clippo_font *fuzz_render_font(void) {
  static clippo_font *font = NULL;
  if (font) return font;
  clippo_error err;
  if (clippo_font_create(&font, &err) != CLIPPO_OK) abort();
  static const uint32_t ranges[][2] = {
      {0x0, 0x300}, {0x4e00, 0x4f00}, {0xfff0, 0x10000}, {0x1f600, 0x1f700}, {0x10ff00, 0x110000}};
  for (size_t r = 0; r < sizeof ranges / sizeof ranges[0]; r++)
    for (uint32_t cp = ranges[r][0]; cp < ranges[r][1]; cp++) {
      uint16_t rows[16];
      fuzz_render_glyph(cp, rows);
      if (cp == ' ') memset(rows, 0, sizeof rows);
      if (clippo_font_set_glyph(font, cp, rows, &err) != CLIPPO_OK) abort();
    }
  return font;
}

int FUZZ_ENTRY(const uint8_t *data, size_t size) {
  if (size < 5) return 0;
  const clippo_font *font = fuzz_render_font();
  clippo_render_opts o;
  clippo_render_opts_default(&o, 1 + data[0] % 96);
  o.lowercase = data[1] & 1;
  o.monospace = (data[1] >> 1) & 1;
  const int channels = (data[1] >> 2) & 1 ? 3 : 1;
  const clippo_dtype dtype = (data[1] >> 3) & 1 ? CLIPPO_F32 : CLIPPO_U8;
  o.spacing = data[2] % 17;
  o.min_width = data[3] % 17;
  o.max_chars = data[4];
  o.background = data[1] >> 4 << 4;
  o.ink = 255 - o.background;
  const char *text = (const char *)data + 5;
  const size_t len = size - 5;

  /* Decoder invariants. */
  size_t n = clippo_utf8_decode(text, len, NULL, (size_t)-1);
  if (n > len) abort();
  uint32_t *cps = malloc((n ? n : 1) * sizeof *cps);
  if (!cps) return 0;
  if (clippo_utf8_decode(text, len, cps, n) != n) abort();
  for (size_t i = 0; i < n; i++)
    if (cps[i] >= CLIPPO_MAX_CODEPOINT || (cps[i] >= 0xd800 && cps[i] < 0xe000)) abort();
  if (n > 0 && clippo_utf8_decode(text, len, cps, n - 1) != n - 1) abort();
  free(cps);

  const size_t S = (size_t)o.image_size, isz = clippo_dtype_size(dtype);
  const size_t one = S * S * (size_t)channels * isz;
  unsigned char *img = malloc(one), *batch = malloc(2 * S * S * 3 * isz),
                *img3 = malloc(S * S * 3 * isz);
  if (!img || !batch || !img3) abort();
  clippo_error err;
  clippo_error_clear(&err);
  clippo_status st = clippo_render_text(font, &o, text, len, dtype, channels, img, &err);
  fuzz_check_error(st != CLIPPO_OK, err.msg);
  if (st == CLIPPO_OK) {
    for (size_t i = 0; i < S * S * (size_t)channels; i++) {
      int v;
      if (dtype == CLIPPO_U8) {
        v = img[i];
      } else {
        float f;
        memcpy(&f, img + i * 4, 4);
        if (!(f >= -1.0f && f <= 1.0f)) abort();
        v = (int)((f + 1.0f) * 127.5f + 0.5f);
      }
      if (v != o.background && v != o.ink) abort();
    }
  }
  /* A batch of (first half, second half) equals the two renders on their own. */
  const char *texts[2] = {text, text + len / 2};
  size_t lens[2] = {len / 2, len - len / 2};
  clippo_status bst = clippo_render_batch(font, &o, texts, lens, 2, dtype, batch, &err);
  for (int k = 0; k < 2; k++) {
    clippo_status kst = clippo_render_text(font, &o, texts[k], lens[k], dtype, 3, img3, &err);
    if (bst == CLIPPO_OK &&
        (kst != CLIPPO_OK || memcmp(img3, batch + k * S * S * 3 * isz, S * S * 3 * isz) != 0))
      abort();
  }
  free(img);
  free(img3);
  free(batch);
  return 0;
}
