/* Image writers: PNG through libpng, binary PGM/PPM by hand. Files are written atomically (a
 * temporary file renamed over the target): a failed write leaves an existing file untouched. */
#include "clippo/image_write.h"

#include "clippo/atomic_file.h"

#include <errno.h>
#include <png.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

static clippo_status check_args(const char *path, const uint8_t *pixels, int width, int height,
                                clippo_error *err) {
  if (!path || !pixels) return clippo_fail(err, CLIPPO_E_ARG, "image write: NULL argument");
  if (width < 1 || height < 1 || width > (1 << 20) || height > (1 << 20))
    return clippo_fail(err, CLIPPO_E_ARG, "image %s: bad size %dx%d", path, width, height);
  return CLIPPO_OK;
}

/* libpng reports errors through this record and a longjmp. */
typedef struct png_err_ctx {
  char msg[256];
} png_err_ctx;

static void png_error_cb(png_structp png, png_const_charp msg) {
  png_err_ctx *ctx = png_get_error_ptr(png);
  if (ctx) snprintf(ctx->msg, sizeof ctx->msg, "%s", msg ? msg : "libpng error");
  png_longjmp(png, 1);
}

static void png_warning_cb(png_structp png, png_const_charp msg) {
  (void)png;
  (void)msg;
}

/* The libpng calls; no local is modified after setjmp. Returns 0 on success. */
static int png_write_all(png_structp png, png_infop info, FILE *fp, const uint8_t *pixels,
                         int width, int height, int color_type, size_t stride) {
  if (setjmp(png_jmpbuf(png))) return -1;
  png_init_io(png, fp);
  png_set_IHDR(png, info, (png_uint_32)width, (png_uint_32)height, 8, color_type,
               PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_write_info(png, info);
  for (int y = 0; y < height; y++)
    png_write_row(png, (png_const_bytep)(pixels + (size_t)y * stride));
  png_write_end(png, NULL);
  return 0;
}

clippo_status clippo_png_write(const char *path, const uint8_t *pixels, int width, int height,
                               int channels, clippo_error *err) {
  clippo_status st = check_args(path, pixels, width, height, err);
  if (st) return st;
  int color_type;
  switch (channels) {
  case 1: color_type = PNG_COLOR_TYPE_GRAY; break;
  case 3: color_type = PNG_COLOR_TYPE_RGB; break;
  case 4: color_type = PNG_COLOR_TYPE_RGB_ALPHA; break;
  default:
    return clippo_fail(err, CLIPPO_E_ARG, "PNG %s: %d channels (want 1, 3 or 4)", path, channels);
  }
  clippo_atomic_file af;
  if ((st = clippo_atomic_open(&af, path, err))) return st;
  FILE *fp = af.fp;
  png_err_ctx ctx = {{0}};
  png_structp png =
      png_create_write_struct(PNG_LIBPNG_VER_STRING, &ctx, png_error_cb, png_warning_cb);
  png_infop info = png ? png_create_info_struct(png) : NULL;
  if (!png || !info) {
    st = clippo_fail(err, CLIPPO_E_NOMEM, "PNG %s: out of memory", path);
  } else if (png_write_all(png, info, fp, pixels, width, height, color_type,
                           (size_t)width * (size_t)channels) != 0) {
    st = clippo_fail(err, CLIPPO_E_IO, "PNG %s: %s", path, ctx.msg[0] ? ctx.msg : "write failed");
  }
  if (png) png_destroy_write_struct(&png, info ? &info : NULL);
  if (st) {
    clippo_atomic_abort(&af);
    return st;
  }
  return clippo_atomic_commit(&af, err);
}

clippo_status clippo_pnm_write(const char *path, const uint8_t *pixels, int width, int height,
                               int channels, clippo_error *err) {
  clippo_status st = check_args(path, pixels, width, height, err);
  if (st) return st;
  if (channels != 1 && channels != 3)
    return clippo_fail(err, CLIPPO_E_ARG, "PNM %s: %d channels (want 1 or 3)", path, channels);
  clippo_atomic_file af;
  if ((st = clippo_atomic_open(&af, path, err))) return st;
  size_t n = (size_t)width * (size_t)height * (size_t)channels;
  int bad = fprintf(af.fp, "P%d\n%d %d\n255\n", channels == 1 ? 5 : 6, width, height) < 0;
  if (!bad) bad = fwrite(pixels, 1, n, af.fp) != n;
  if (bad) {
    int saved = errno;
    clippo_atomic_abort(&af);
    return clippo_fail(err, CLIPPO_E_IO, "cannot write %s: %s", path, strerror(saved));
  }
  return clippo_atomic_commit(&af, err);
}

static int has_ext(const char *path, const char *ext) {
  size_t n = strlen(path), k = strlen(ext);
  return n > k && strcasecmp(path + n - k, ext) == 0;
}

clippo_status clippo_image_write(const char *path, const uint8_t *pixels, int width, int height,
                                 int channels, clippo_error *err) {
  if (!path) return clippo_fail(err, CLIPPO_E_ARG, "image write: NULL path");
  if (has_ext(path, ".png")) return clippo_png_write(path, pixels, width, height, channels, err);
  if (has_ext(path, ".pgm") || has_ext(path, ".ppm") || has_ext(path, ".pnm"))
    return clippo_pnm_write(path, pixels, width, height, channels, err);
  return clippo_fail(err, CLIPPO_E_ARG, "image %s: unknown extension (want .png, .pgm or .ppm)",
                     path);
}
