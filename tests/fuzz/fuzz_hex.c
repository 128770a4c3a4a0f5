/* libFuzzer target: arbitrary bytes as a Unifont .hex file (clippo_font_add_hex_buffer), on top
 * of a table that already holds one glyph; then a short text is rendered with what loaded.
 * Checks: a failure has a message; glyph counts only grow; the glyphs are readable for every
 * code point the file could name.
 *   scripts/fuzz.sh builds it (clang, -DCLIPPO_FUZZ=ON) and runs it on tests/fuzz/corpus_hex. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "clippo/text.h"
#include "fuzz_util.h"

int FUZZ_ENTRY(const uint8_t *data, size_t size);

int FUZZ_ENTRY(const uint8_t *data, size_t size) {
  clippo_font *font = NULL;
  clippo_error err;
  clippo_error_clear(&err);
  if (clippo_font_create(&font, &err) != CLIPPO_OK) abort();
  const uint16_t rows[16] = {0x8001, 0x4002, 0x2004, 0x1008};
  if (clippo_font_set_glyph(font, 'a', rows, &err) != CLIPPO_OK) abort();
  clippo_status st =
      clippo_font_add_hex_buffer(font, (const char *)data, size, "fuzz/unifont-x.hex", &err);
  fuzz_check_error(st != CLIPPO_OK, err.msg);
  size_t count = clippo_font_glyph_count(font);
  if (count < 1 || count > CLIPPO_MAX_CODEPOINT) abort();
  if (st == CLIPPO_OK && strcmp(clippo_font_identity(font), "unifont-x") != 0) abort();
  /* Glyph lookups anywhere, including past the end of Unicode. */
  static const uint32_t probe[] = {0, 'a', 0xfffd, 0x10ffff, 0x110000, 0xffffffffu};
  for (size_t i = 0; i < sizeof probe / sizeof probe[0]; i++) {
    uint16_t m = 0;
    const uint16_t *g = clippo_font_glyph(font, probe[i], &m);
    uint16_t acc = 0;
    for (int r = 0; r < 16; r++) acc |= g[r];
    if (acc != m) abort();
  }
  clippo_render_opts o;
  clippo_render_opts_default(&o, 48);
  unsigned char img[48 * 48];
  static const char text[] = "Hello, w\xc3\xb6rld \xef\xbf\xbd\xf0\x9f\x98\x80 \xff";
  st = clippo_render_text(font, &o, text, sizeof text - 1, CLIPPO_U8, 1, img, &err);
  fuzz_check_error(st != CLIPPO_OK, err.msg);
  clippo_font_free(font);
  return 0;
}
