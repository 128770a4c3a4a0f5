/* `clippo render`: renders a text as big_vision's render_unifont does, into PNG, PGM or .npy. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli_util.h"
#include "clippo/array.h"
#include "clippo/image_write.h"
#include "clippo/npy.h"
#include "clippo/text.h"

const char clippo_cmd_render_summary[] = "render a text to an image as CLIPPO sees it";

#define MAX_FONTS 64
/* Largest text read with --text-file (a power of two). */
#define MAX_TEXT_BYTES ((size_t)1 << 28)

static void usage(FILE *out) {
  fprintf(out,
          "usage: clippo render [--font F]... [--image-size N] (--text-file F | TEXT) --out "
          "OUT.{png,pgm,npy}\n"
          "\n"
          "Renders TEXT (or the raw bytes of file F, '-' for stdin) the way big_vision's\n"
          "render_unifont does for CLIPPO: Unifont glyphs, lowercase, trimmed, wrapped.\n"
          "PNG and PGM hold one channel (0 = ink, 127 = background); .npy holds the\n"
          "(N, N, 3) uint8 image the model sees before value_range.\n"
          "\n"
          "Options:\n"
          "  --font F          a Unifont .hex file or any font FreeType opens; repeat to add\n"
          "                    files (later ones override earlier glyphs). Default: env\n"
          "                    CLIPPO_FONT (colon-separated), else the system Unifont.\n"
          "                    The released models used unifont-9.0.06.hex +\n"
          "                    unifont_upper-9.0.06.hex (weights/get-unifont.sh).\n"
          "  --image-size N    image width and height in pixels (default 224)\n"
          "  --text-file F     render the whole content of F (no newline stripped)\n"
          "  --out OUT         output file: .png, .pgm or .npy\n"
          "  --scale K         enlarge a PNG K times (nearest neighbour) for viewing\n"
          "  --max-chars N     keep the first N code points, 0 = all (default 768)\n"
          "  --no-lowercase    keep upper-case ASCII letters\n"
          "  --monospace       do not trim glyphs\n"
          "  --spacing N       blank columns left of each glyph (default 1)\n"
          "  --min-width N     minimum glyph width (default 4)\n"
          "  --background V    background value 0..255 (default 127)\n"
          "  --ink V           ink value 0..255 (default 0)\n"
          "  --quiet           print nothing on success\n\n"
          "A UTF-8 byte order mark at the start of --text-file is dropped.\n\n"
          "Examples:\n"
          "  clippo render \"a photo of a cat\" --out cat.png --scale 4\n"
          "  clippo render --image-size 64 --text-file caption.txt --out caption.npy\n"
          "  clippo render --font unifont-9.0.06.hex --font unifont_upper-9.0.06.hex \"a dog\" "
          "--out dog.pgm\n");
}

static int has_ext(const char *path, const char *ext) {
  size_t n = strlen(path), k = strlen(ext);
  return n > k && strcasecmp(path + n - k, ext) == 0;
}

/* Reads all of path ('-' = stdin) into a fresh buffer. */
static clippo_status slurp(const char *path, char **data, size_t *len, clippo_error *err) {
  int is_stdin = strcmp(path, "-") == 0;
  FILE *fp = is_stdin ? stdin : fopen(path, "rb");
  if (!fp)
    return clippo_fail(err, CLIPPO_E_IO, "cannot read text file %s: %s", path, strerror(errno));
  size_t cap = 4096, n = 0;
  char *buf = malloc(cap);
  clippo_status st = CLIPPO_OK;
  while (buf) {
    if (n == cap) {
      if (cap >= MAX_TEXT_BYTES) { /* e.g. /dev/zero */
        st = clippo_fail(err, CLIPPO_E_ARG, "text file %s is larger than %zu bytes", path,
                         (size_t)MAX_TEXT_BYTES);
        break;
      }
      char *nb = realloc(buf, cap * 2);
      if (!nb) break;
      buf = nb;
      cap *= 2;
    }
    size_t got = fread(buf + n, 1, cap - n, fp);
    n += got;
    if (got == 0) break;
  }
  if (st)
    ; /* too large */
  else if (!buf || n == cap)
    st = clippo_fail(err, CLIPPO_E_NOMEM, "text file %s: out of memory", path);
  else if (ferror(fp))
    st = clippo_fail(err, CLIPPO_E_IO, "cannot read text file %s: %s", path, strerror(errno));
  if (!is_stdin) fclose(fp);
  if (st) {
    free(buf);
    return st;
  }
  if (n >= 3 && memcmp(buf, "\xEF\xBB\xBF", 3) == 0) { /* a UTF-8 byte order mark */
    memmove(buf, buf + 3, n - 3);
    n -= 3;
  }
  *data = buf;
  *len = n;
  return CLIPPO_OK;
}

/* The rendered text in the output's format: (n, n, 3) uint8 in arr for .npy, else n x n bytes
 * in *img. */
static clippo_status render(const clippo_font *font, const clippo_render_opts *o, const char *text,
                            size_t len, int to_npy, clippo_array *arr, uint8_t **img,
                            clippo_error *err) {
  const size_t n = (size_t)o->image_size;
  clippo_status st = CLIPPO_OK;
  if (to_npy) {
    int64_t shape[3] = {(int64_t)n, (int64_t)n, 3};
    st = clippo_array_alloc(arr, CLIPPO_U8, 3, shape, err);
    if (!st) *img = arr->data;
  } else if (!(*img = malloc(n * n))) {
    st = clippo_fail(err, CLIPPO_E_NOMEM, "out of memory");
  }
  if (!st) st = clippo_render_text(font, o, text, len, CLIPPO_U8, to_npy ? 3 : 1, *img, err);
  return st;
}

/* Writes a one-channel n x n image as PNG enlarged `scale` times (nearest neighbour). */
static clippo_status write_scaled_png(const char *out, const uint8_t *img, size_t n, int scale,
                                      clippo_error *err) {
  size_t m = n * (size_t)scale;
  uint8_t *big = malloc(m * m);
  if (!big) return clippo_fail(err, CLIPPO_E_NOMEM, "out of memory for a %zux%zu image", m, m);
  for (size_t y = 0; y < m; y++)
    for (size_t x = 0; x < m; x++)
      big[y * m + x] = img[(y / (size_t)scale) * n + x / (size_t)scale];
  clippo_status st = clippo_png_write(out, big, (int)m, (int)m, 1, err);
  free(big);
  return st;
}

int clippo_cmd_render(int argc, char **argv) {
  const char *font_items[MAX_FONTS], *text_items[1] = {NULL};
  const char *text_file = NULL, *out = NULL;
  int scale = 1, quiet = 0, keep_case = 0;
  clippo_render_opts o;
  clippo_render_opts_default(&o, 224);
  cli_list fonts = {font_items, 0, MAX_FONTS}, texts = {text_items, 0, 1};
  const cli_option opts[] = {
      {"--no-lowercase", CLI_SET, &keep_case, 0, 0},
      {"--monospace", CLI_SET, &o.monospace, 0, 0},
      {"--quiet", CLI_SET, &quiet, 0, 0},
      {"--font", CLI_LIST, &fonts, 0, 0},
      {"--image-size", CLI_INT, &o.image_size, 1, 16384},
      {"--text-file", CLI_STRING, &text_file, 0, 0},
      {"--out", CLI_STRING, &out, 0, 0},
      {"--scale", CLI_INT, &scale, 1, 64},
      {"--max-chars", CLI_INT, &o.max_chars, 0, 1L << 30},
      {"--spacing", CLI_INT, &o.spacing, 0, 16},
      {"--min-width", CLI_INT, &o.min_width, 0, 16},
      {"--background", CLI_INT, &o.background, 0, 255},
      {"--ink", CLI_INT, &o.ink, 0, 255},
  };
  int prc = cli_parse("render", argc, argv, opts, sizeof opts / sizeof opts[0], &texts);
  if (prc < 0) usage(stdout);
  if (prc) return prc < 0 ? 0 : prc;
  if (keep_case) o.lowercase = 0;
  const char *text = texts.n ? texts.items[0] : NULL;
  if (!text == !text_file)
    return cli_usage_error("render", "give exactly one of TEXT or --text-file");
  if (!out) return cli_usage_error("render", "--out is required");
  int to_png = has_ext(out, ".png"), to_pgm = has_ext(out, ".pgm"), to_npy = has_ext(out, ".npy");
  if (!to_png && !to_pgm && !to_npy)
    return cli_usage_error("render", "--out must end in .png, .pgm or .npy: '%s'", out);
  if (scale != 1 && !to_png) return cli_usage_error("render", "--scale applies to PNG output only");
  char *owned_fonts = NULL;
  if (cli_fonts_from_env("render", &fonts, &owned_fonts)) return 1;

  clippo_error err;
  clippo_error_clear(&err);
  clippo_font *font = NULL;
  char *file_text = NULL;
  size_t len = text ? strlen(text) : 0;
  uint8_t *img = NULL;
  clippo_array arr = {0};
  const size_t n = (size_t)o.image_size, m = n * (size_t)scale;
  clippo_status st = clippo_render_opts_check(&o, &err);
  if (!st && text_file) st = slurp(text_file, &file_text, &len, &err);
  if (!st) st = clippo_font_load(&font, fonts.items, fonts.n, &err);
  if (!st) st = render(font, &o, text ? text : file_text, len, to_npy, &arr, &img, &err);
  if (!st && to_npy)
    st = clippo_npy_save(out, &arr, &err);
  else if (!st && scale > 1)
    st = write_scaled_png(out, img, n, scale, &err);
  else if (!st)
    st = clippo_image_write(out, img, (int)n, (int)n, 1, &err);
  int rc = st ? cli_report("render", &err) : 0;
  if (!st && !quiet) {
    printf("wrote %s (%zux%zu", out, m, m);
    if (scale > 1) printf(": %zux%zu scaled %dx", n, n, scale);
    printf(", font %s)\n", clippo_font_identity(font));
  }
  if (to_npy)
    clippo_array_free(&arr);
  else
    free(img);
  free(file_text);
  free(owned_fonts);
  clippo_font_free(font);
  return rc;
}
