/* Text layer: glyph tables (Unifont .hex, any FreeType font) and big_vision's render_unifont.
 *
 * A clippo_font is a table of 16x16 one-bit glyphs indexed by code point (sparse: pages of 256
 * code points are allocated only when a font defines one). Fonts are added file by file; a later
 * file overrides the glyphs of earlier ones. Once loaded, a font is read-only and may be shared by
 * any number of threads rendering at the same time.
 *
 * The renderer reproduces big_vision's `render_unifont` op (pp/proj/clippo/pp_ops.py) bit for bit:
 * UTF-8 decoding with U+FFFD replacement, ASCII lowercasing, per-glyph trimming, line wrapping at
 * `image_size - widest glyph`, lines at y = 16k clipped to the image. */
#ifndef CLIPPO_TEXT_H
#define CLIPPO_TEXT_H

#include <stddef.h>
#include <stdint.h>

#include "clippo/array.h"
#include "clippo/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Glyph cell size in pixels (width and height). */
#define CLIPPO_GLYPH_SIZE 16
/** One past the largest Unicode code point. */
#define CLIPPO_MAX_CODEPOINT 0x110000u
/** Largest font file read (bytes; Unifont's full .hex is ~10 MB, big CJK font collections
 * ~120 MB): a larger file, or a stream such as /dev/zero that does not end by then, fails
 * naming the file. */
#define CLIPPO_FONT_MAX_FILE_BYTES ((size_t)256 << 20)
/** The environment variable the program reads for font files (colon-separated) when none are
 * given on its command line. */
#define CLIPPO_FONT_ENV "CLIPPO_FONT"

/** A glyph table (opaque). */
typedef struct clippo_font clippo_font;

/** Creates an empty glyph table (every code point blank). */
clippo_status clippo_font_create(clippo_font **out, clippo_error *err);

/** Adds the glyphs of one font file: a Unifont .hex file (by extension, or by content when the
 * first line looks like `XXXX:HEX`), otherwise any font FreeType opens (BDF, PCF, OTF, TTF...),
 * rasterised monochrome into 16x16 cells. Glyphs it defines replace earlier ones. On failure the
 * table may hold part of the file's glyphs; the message names the file (and line for .hex). */
clippo_status clippo_font_add_file(clippo_font *font, const char *path, clippo_error *err);

/** Adds a Unifont .hex file: lines `CODEPOINT:HEX` (code point 1-8 hex digits <= 10FFFF; 64 hex
 * digits = 16x16 glyph, 32 = 8x16 glyph filling the left half; rows MSB first). Blank lines and
 * CR LF endings are accepted; anything else malformed fails naming the file and line. */
clippo_status clippo_font_add_hex(clippo_font *font, const char *path, clippo_error *err);

/** Adds .hex content from memory; name is used in messages and in the identity. */
clippo_status clippo_font_add_hex_buffer(clippo_font *font, const char *data, size_t len,
                                         const char *name, clippo_error *err);

/** Adds every Unicode-mapped glyph of a font FreeType opens, rasterised monochrome into 16x16
 * cells: scalable fonts are sized so ascender - descender spans 16 pixels, bitmap fonts use the
 * strike nearest 16 pixels; glyphs sit on the font's baseline at their left bearing. */
clippo_status clippo_font_add_freetype(clippo_font *font, const char *path, clippo_error *err);

/** Loads a glyph table from paths[0..n-1] in order (later files override earlier ones). With
 * n == 0, the system default (clippo_font_default_path). (The program reads CLIPPO_FONT and
 * passes its files here; the library reads no environment.) */
clippo_status clippo_font_load(clippo_font **out, const char *const *paths, size_t n,
                               clippo_error *err);

/** The system default font file: Debian's /usr/share/unifont/unifont.hex if readable, else
 * /usr/share/fonts/opentype/unifont/unifont.otf if readable, else NULL. */
const char *clippo_font_default_path(void);

/** Frees a glyph table; NULL is fine. */
void clippo_font_free(clippo_font *font);

/** The identity string of the loaded font set, e.g. "unifont-9.0.06" for unifont-9.0.06.hex +
 * unifont_upper-9.0.06.hex: each file's base name without extension and without the "_upper"
 * part, duplicates dropped, joined with '+' in load order ("" for an empty table). Checkpoints
 * record it to detect a model used with another font. Valid until the font is freed. */
const char *clippo_font_identity(const clippo_font *font);

/** Number of code points with a glyph (blank glyphs a file defines count too). */
size_t clippo_font_glyph_count(const clippo_font *font);

/** The 16 rows of the glyph of code point cp (bit 15 = leftmost column, 1 = ink); an all-zero
 * glyph when cp has none. If colmask is not NULL it receives the OR of the rows. */
const uint16_t *clippo_font_glyph(const clippo_font *font, uint32_t cp, uint16_t *colmask);

/** Sets the glyph of code point cp (rows as for clippo_font_glyph). */
clippo_status clippo_font_set_glyph(clippo_font *font, uint32_t cp, const uint16_t rows[16],
                                    clippo_error *err);

/** Decodes UTF-8 like Python's bytes.decode('utf-8', errors='replace'): each maximal subpart of
 * an ill-formed sequence (truncated sequences, overlongs, surrogates, > U+10FFFF, stray bytes)
 * becomes one U+FFFD. Writes at most max code points to out (out may be NULL to count) and
 * returns the number written; decoding stops once max code points are produced. */
size_t clippo_utf8_decode(const char *s, size_t len, uint32_t *out, size_t max);

/** Rendering options; the defaults are big_vision's CLIPPO settings. */
typedef struct clippo_render_opts {
  int image_size; /* output width = height in pixels, >= 1 (224 for the released models) */
  int max_chars;  /* keep the first max_chars code points; <= 0 keeps all (768) */
  int lowercase;  /* nonzero: map ASCII A-Z to a-z before rendering (1) */
  int monospace;  /* nonzero: every glyph is 16 columns wide, no trimming (0) */
  int spacing;    /* blank columns kept left of a glyph's ink, 0..16 (1) */
  int min_width;  /* minimum trimmed glyph width, 0..16 (4) */
  int background; /* background value 0..255 (127) */
  int ink;        /* ink value 0..255 (0) */
} clippo_render_opts;

/** Fills *o with the CLIPPO defaults at the given image size. */
void clippo_render_opts_default(clippo_render_opts *o, int image_size);

/** Checks the options (sizes and value ranges). */
clippo_status clippo_render_opts_check(const clippo_render_opts *o, clippo_error *err);

/** Renders text[0..len) (UTF-8, may be invalid) into dst: an image_size x image_size image with
 * `channels` interleaved channels (1 or 3, all equal), rows contiguous (HWC). dtype CLIPPO_U8
 * writes the uint8 values (ink / background); CLIPPO_F32 writes them after big_vision's
 * value_range(-1, 1): -1 + 2 * (v / 255) in float32. Fails (CLIPPO_E_ARG) on bad options and
 * when the text holds a glyph at least as wide as the image (big_vision cannot lay it out). */
clippo_status clippo_render_text(const clippo_font *font, const clippo_render_opts *o,
                                 const char *text, size_t len, clippo_dtype dtype, int channels,
                                 void *dst, clippo_error *err);

/** Renders n texts into a caller's (n, S, S, 3) NHWC batch buffer of dtype CLIPPO_U8 or
 * CLIPPO_F32 (S = o->image_size). lens may be NULL (texts are then NUL-terminated). */
clippo_status clippo_render_batch(const clippo_font *font, const clippo_render_opts *o,
                                  const char *const *texts, const size_t *lens, size_t n,
                                  clippo_dtype dtype, void *dst, clippo_error *err);

#ifdef __cplusplus
}
#endif
#endif
