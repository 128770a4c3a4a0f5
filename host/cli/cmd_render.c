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
  fprintf(out, "usage: clippo render [--font F]... [--image-size N] (--text-file F | TEXT) --out "
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
               "  --quiet           print nothing on success\n");
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
  *data = buf;
  *len = n;
  return CLIPPO_OK;
}

static int parse_opt_int(const char *name, const char *v, long lo, long hi, int *out) {
  long x;
  if (cli_parse_int(name, v, lo, hi, &x) != 0) return -1;
  *out = (int)x;
  return 0;
}

int clippo_cmd_render(int argc, char **argv) {
  const char *fonts[MAX_FONTS];
  size_t nfonts = 0;
  const char *text = NULL, *text_file = NULL, *out = NULL;
  int scale = 1, quiet = 0;
  clippo_render_opts o;
  clippo_render_opts_default(&o, 224);
  int only_positional = 0;
  for (int i = 1; i < argc; i++) {
    const char *v = NULL;
    int r;
    const char *a = argv[i];
    if (!only_positional && a[0] == '-' && a[1] != '\0') {
      if (cli_flag(argv, i, "--help") || cli_flag(argv, i, "-h")) {
        usage(stdout);
        return 0;
      }
      if (cli_flag(argv, i, "--")) {
        only_positional = 1;
        continue;
      }
      if (cli_flag(argv, i, "--no-lowercase")) {
        o.lowercase = 0;
        continue;
      }
      if (cli_flag(argv, i, "--monospace")) {
        o.monospace = 1;
        continue;
      }
      if (cli_flag(argv, i, "--quiet")) {
        quiet = 1;
        continue;
      }
#define OPT(name)                                                                                  \
  if ((r = cli_opt(argc, argv, &i, name, &v)) < 0) return 2;                                       \
  if (r > 0)
      OPT("--font") {
        if (nfonts == MAX_FONTS) return cli_usage_error("render", "more than %d fonts", MAX_FONTS);
        fonts[nfonts++] = v;
        continue;
      }
      OPT("--image-size") {
        if (parse_opt_int("--image-size", v, 1, 16384, &o.image_size)) return 2;
        continue;
      }
      OPT("--text-file") {
        text_file = v;
        continue;
      }
      OPT("--out") {
        out = v;
        continue;
      }
      OPT("--scale") {
        if (parse_opt_int("--scale", v, 1, 64, &scale)) return 2;
        continue;
      }
      OPT("--max-chars") {
        if (parse_opt_int("--max-chars", v, 0, 1L << 30, &o.max_chars)) return 2;
        continue;
      }
      OPT("--spacing") {
        if (parse_opt_int("--spacing", v, 0, 16, &o.spacing)) return 2;
        continue;
      }
      OPT("--min-width") {
        if (parse_opt_int("--min-width", v, 0, 16, &o.min_width)) return 2;
        continue;
      }
      OPT("--background") {
        if (parse_opt_int("--background", v, 0, 255, &o.background)) return 2;
        continue;
      }
      OPT("--ink") {
        if (parse_opt_int("--ink", v, 0, 255, &o.ink)) return 2;
        continue;
      }
#undef OPT
      return cli_usage_error("render", "unknown option '%s'", a);
    }
    if (text) return cli_usage_error("render", "more than one TEXT argument ('%s')", a);
    text = a;
  }
  if (!text == !text_file)
    return cli_usage_error("render", "give exactly one of TEXT or --text-file");
  if (!out) return cli_usage_error("render", "--out is required");
  int to_png = has_ext(out, ".png"), to_pgm = has_ext(out, ".pgm"), to_npy = has_ext(out, ".npy");
  if (!to_png && !to_pgm && !to_npy)
    return cli_usage_error("render", "--out must end in .png, .pgm or .npy: '%s'", out);
  if (scale != 1 && !to_png) return cli_usage_error("render", "--scale applies to PNG output only");

  clippo_error err;
  clippo_error_clear(&err);
  clippo_font *font = NULL;
  char *file_text = NULL;
  size_t len = 0;
  uint8_t *img = NULL, *big = NULL;
  clippo_array arr = {0};
  int rc = 0;
  clippo_status st = clippo_render_opts_check(&o, &err);
  if (!st && text_file) st = slurp(text_file, &file_text, &len, &err);
  if (!st && text) len = strlen(text);
  if (!st) st = clippo_font_load(&font, fonts, nfonts, &err);
  const size_t n = (size_t)o.image_size;
  if (!st) {
    int channels = to_npy ? 3 : 1;
    if (to_npy) {
      int64_t shape[3] = {(int64_t)n, (int64_t)n, 3};
      st = clippo_array_alloc(&arr, CLIPPO_U8, 3, shape, &err);
      img = arr.data;
    } else if (!(img = malloc(n * n))) {
      st = clippo_fail(&err, CLIPPO_E_NOMEM, "out of memory");
    }
    if (!st)
      st = clippo_render_text(font, &o, text ? text : file_text, len, CLIPPO_U8, channels, img,
                              &err);
  }
  if (!st) {
    if (to_npy) {
      st = clippo_npy_save(out, &arr, &err);
    } else if (to_png && scale > 1) {
      size_t m = n * (size_t)scale;
      big = malloc(m * m);
      if (!big) {
        st = clippo_fail(&err, CLIPPO_E_NOMEM, "out of memory for a %zux%zu image", m, m);
      } else {
        for (size_t y = 0; y < m; y++)
          for (size_t x = 0; x < m; x++) big[y * m + x] = img[(y / scale) * n + x / scale];
        st = clippo_png_write(out, big, (int)m, (int)m, 1, &err);
      }
    } else {
      st = clippo_image_write(out, img, (int)n, (int)n, 1, &err);
    }
  }
  if (st) {
    rc = cli_report("render", &err);
  } else if (!quiet) {
    printf("wrote %s (%zux%zu, font %s)\n", out, n, n, clippo_font_identity(font));
  }
  free(big);
  if (to_npy)
    clippo_array_free(&arr);
  else
    free(img);
  free(file_text);
  clippo_font_free(font);
  return rc;
}
