/* PNG, JPEG, GIF and WebP decoding into 8-bit RGB with TensorFlow's decode_image(channels=3)
 * semantics (GIF through giflib, WebP through libwebp: no decoder is written here).
 *
 * libpng and libjpeg report fatal errors through longjmp. Every object that must survive a
 * longjmp (library handles, buffers, messages) lives in a context struct owned by the caller of
 * the function that calls setjmp, so no automatic variable of that function is read after a
 * longjmp (C11 7.13.2.1). */
#include "clippo/image.h"

#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <gif_lib.h>
#include <png.h>
#include <webp/decode.h>
/* jpeglib.h needs stdio.h (FILE) and size_t before it. */
#include <jpeglib.h>
#include <jerror.h>

/* Progressive JPEGs with absurd scan counts can take a very long time to decode; real files use
 * about ten scans. (TensorFlow sets no such limit; no real image comes near it.) */
#define JPEG_MAX_SCANS 1000

static const char *src_name(const char *name) { return name ? name : "<memory>"; }

clippo_image_format clippo_image_detect(const void *data, size_t size) {
  const unsigned char *p = data;
  if (!p) return CLIPPO_IMAGE_UNKNOWN;
  if (size >= 3 && p[0] == 0xFF && p[1] == 0xD8 && p[2] == 0xFF) return CLIPPO_IMAGE_JPEG;
  if (size >= 8 && memcmp(p, "\x89PNG\r\n\x1a\n", 8) == 0) return CLIPPO_IMAGE_PNG;
  if (size >= 4 && memcmp(p, "GIF8", 4) == 0) return CLIPPO_IMAGE_GIF;
  if (size >= 2 && p[0] == 'B' && p[1] == 'M') return CLIPPO_IMAGE_BMP;
  if (size > 12 && memcmp(p, "RIFF", 4) == 0 && memcmp(p + 8, "WEBP", 4) == 0)
    return CLIPPO_IMAGE_WEBP;
  return CLIPPO_IMAGE_UNKNOWN;
}

void clippo_image_free(clippo_image *img) {
  if (!img) return;
  free(img->data);
  img->data = NULL;
  img->width = 0;
  img->height = 0;
}

/* Checks decoded dimensions against the limits before anything is allocated. */
static clippo_status check_dims(const char *name, const char *fmt, uint64_t w, uint64_t h,
                                int64_t max_pixels, clippo_error *err) {
  if (w == 0 || h == 0)
    return clippo_fail(err, CLIPPO_E_FORMAT, "%s: %s image has zero size (%llu x %llu)", name, fmt,
                       (unsigned long long)w, (unsigned long long)h);
  if (w > CLIPPO_IMAGE_MAX_SIDE || h > CLIPPO_IMAGE_MAX_SIDE || w * h > (uint64_t)max_pixels)
    return clippo_fail(err, CLIPPO_E_UNSUPPORTED,
                       "%s: %s image of %llu x %llu pixels exceeds the limit (%lld pixels, "
                       "%d per side)",
                       name, fmt, (unsigned long long)w, (unsigned long long)h,
                       (long long)max_pixels, CLIPPO_IMAGE_MAX_SIDE);
  return CLIPPO_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* PNG                                                                                        */

typedef struct png_ctx {
  const char *name;
  const unsigned char *data;
  size_t left;
  int64_t max_pixels;
  png_structp png;
  png_infop info;
  uint8_t *pixels;
  png_bytep *rows;
  int width, height;
  clippo_status st; /* set before a deliberate png_error for a non-format failure */
  char msg[512];
} png_ctx;

static void png_error_cb(png_structp png, png_const_charp msg) {
  png_ctx *c = png_get_error_ptr(png);
  if (c->msg[0] == '\0') snprintf(c->msg, sizeof c->msg, "%s", msg ? msg : "error");
  png_longjmp(png, 1);
}

static void png_warning_cb(png_structp png, png_const_charp msg) {
  (void)png; /* Warnings (bad ancillary CRCs, extra data...) do not stop decoding, as in TF. */
  (void)msg;
}

static void png_read_cb(png_structp png, png_bytep out, png_size_t len) {
  png_ctx *c = png_get_io_ptr(png);
  if (len > c->left) png_error(png, "file truncated (more bytes needed than available)");
  memcpy(out, c->data, len);
  c->data += len;
  c->left -= len;
}

/* Runs libpng; returns 0 on success, 1 on a libpng error (message in c->msg) and 2 on a
 * limit or allocation failure (status and message in c->st, c->msg). */
static int png_run(png_ctx *c, clippo_error *err) {
  if (setjmp(png_jmpbuf(c->png))) return c->st != CLIPPO_OK ? 2 : 1;
  png_set_read_fn(c->png, c, png_read_cb);
  /* Our own size limits apply below; lift libpng's default 1e6 so they decide. */
  png_set_user_limits(c->png, 0x7fffffffU, 0x7fffffffU);
  png_read_info(c->png, c->info);
  png_uint_32 w = 0, h = 0;
  int depth = 0, ctype = 0;
  png_get_IHDR(c->png, c->info, &w, &h, &depth, &ctype, NULL, NULL, NULL);
  clippo_status st = check_dims(c->name, "PNG", w, h, c->max_pixels, err);
  if (st != CLIPPO_OK) {
    c->st = st;
    return 2;
  }
  /* The transformations TensorFlow's png::CommonInitDecode sets for channels=3, 8 bits. */
  const int has_alpha = (ctype & PNG_COLOR_MASK_ALPHA) != 0;
  const int has_trns = png_get_valid(c->png, c->info, PNG_INFO_tRNS) != 0;
  if (has_alpha || has_trns) png_set_strip_alpha(c->png);
  if (depth > 8) png_set_strip_16(c->png); /* keep the high byte */
  png_set_packing(c->png);
  const int passes = png_set_interlace_handling(c->png);
  if (ctype == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(c->png);
  const int is_gray = (ctype & PNG_COLOR_MASK_COLOR) == 0;
  if (is_gray && depth < 8) png_set_expand_gray_1_2_4_to_8(c->png);
  if (is_gray) png_set_gray_to_rgb(c->png);
  png_read_update_info(c->png, c->info);
  if (png_get_channels(c->png, c->info) != 3 || png_get_bit_depth(c->png, c->info) != 8 ||
      png_get_rowbytes(c->png, c->info) != (size_t)w * 3)
    png_error(c->png, "unexpected pixel layout after conversion to RGB");

  const size_t stride = (size_t)w * 3;
  c->pixels = malloc(stride * h);
  c->rows = malloc(sizeof(png_bytep) * h);
  if (!c->pixels || !c->rows) {
    c->st = clippo_fail(err, CLIPPO_E_NOMEM, "%s: out of memory for a %u x %u PNG", c->name,
                        (unsigned)w, (unsigned)h);
    return 2;
  }
  for (png_uint_32 y = 0; y < h; y++) c->rows[y] = c->pixels + stride * y;
  for (int p = 0; p < passes; p++)
    for (png_uint_32 y = 0; y < h; y++) png_read_row(c->png, c->rows[y], NULL);
  /* TensorFlow also reads up to IEND: a file cut after the pixel data is an error there too. */
  png_read_end(c->png, c->info);
  c->width = (int)w;
  c->height = (int)h;
  return 0;
}

static clippo_status decode_png(const unsigned char *data, size_t size, const char *name,
                                int64_t max_pixels, clippo_image *img, clippo_error *err) {
  png_ctx c;
  memset(&c, 0, sizeof c);
  c.name = name;
  c.data = data;
  c.left = size;
  c.max_pixels = max_pixels;
  c.st = CLIPPO_OK;
  c.png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &c, png_error_cb, png_warning_cb);
  if (c.png) c.info = png_create_info_struct(c.png);
  if (!c.png || !c.info) {
    if (c.png) png_destroy_read_struct(&c.png, NULL, NULL);
    return clippo_fail(err, CLIPPO_E_NOMEM, "%s: cannot create a PNG decoder", name);
  }
  const int rc = png_run(&c, err);
  png_destroy_read_struct(&c.png, &c.info, NULL);
  free(c.rows);
  if (rc != 0) {
    free(c.pixels);
    if (rc == 2) return c.st;
    return clippo_fail(err, CLIPPO_E_FORMAT, "%s: invalid PNG: %s", name, c.msg);
  }
  img->data = c.pixels;
  img->width = c.width;
  img->height = c.height;
  return CLIPPO_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* JPEG                                                                                       */

typedef struct jpeg_ctx {
  struct jpeg_error_mgr jerr; /* first: cinfo.err points here */
  struct jpeg_source_mgr src;
  struct jpeg_progress_mgr progress;
  struct jpeg_decompress_struct cinfo;
  jmp_buf jb;
  const char *name;
  const unsigned char *data;
  size_t size;
  int64_t max_pixels;
  uint8_t *pixels;
  JSAMPLE *cmyk_row;
  int width, height;
  clippo_status st;
  char msg[JMSG_LENGTH_MAX + 64];
} jpeg_ctx;

static void jpeg_error_exit_cb(j_common_ptr cinfo) {
  jpeg_ctx *c = (jpeg_ctx *)cinfo->err;
  if (c->msg[0] == '\0') (*cinfo->err->format_message)(cinfo, c->msg);
  longjmp(c->jb, 1);
}

/* Warnings (corrupt entropy data that libjpeg recovers from...) never stop decoding, as in
 * TensorFlow; the library prints nothing. */
static void jpeg_emit_message_cb(j_common_ptr cinfo, int level) {
  if (level < 0) cinfo->err->num_warnings++;
}

static void jpeg_output_message_cb(j_common_ptr cinfo) { (void)cinfo; }

/* The whole file is the buffer: running out of it means the file is truncated. TensorFlow's
 * memory source errors out in the same place (it does not insert a fake EOI by default). */
static void jpeg_init_source_cb(j_decompress_ptr cinfo) { (void)cinfo; }

static boolean jpeg_fill_input_cb(j_decompress_ptr cinfo) {
  jpeg_ctx *c = (jpeg_ctx *)cinfo->err;
  if (c->msg[0] == '\0')
    snprintf(c->msg, sizeof c->msg, "file truncated (premature end of JPEG data)");
  ERREXIT(cinfo, JERR_INPUT_EOF);
  return FALSE;
}

static void jpeg_skip_input_cb(j_decompress_ptr cinfo, long n) {
  struct jpeg_source_mgr *s = cinfo->src;
  if (n <= 0) return;
  if ((size_t)n > s->bytes_in_buffer) {
    s->next_input_byte += s->bytes_in_buffer;
    s->bytes_in_buffer = 0;
    (*s->fill_input_buffer)(cinfo);
    return;
  }
  s->next_input_byte += n;
  s->bytes_in_buffer -= (size_t)n;
}

static void jpeg_term_source_cb(j_decompress_ptr cinfo) { (void)cinfo; }

static void jpeg_progress_cb(j_common_ptr cinfo) {
  if (cinfo->is_decompressor) {
    j_decompress_ptr d = (j_decompress_ptr)cinfo;
    if (d->input_scan_number > JPEG_MAX_SCANS) {
      jpeg_ctx *c = (jpeg_ctx *)cinfo->err;
      snprintf(c->msg, sizeof c->msg, "more than %d progressive scans", JPEG_MAX_SCANS);
      longjmp(c->jb, 1);
    }
  }
}

/* Runs libjpeg; returns 0 on success, 1 on a libjpeg error and 2 on a limit/allocation error. */
static int jpeg_run(jpeg_ctx *c, clippo_error *err) {
  if (setjmp(c->jb)) return c->st != CLIPPO_OK ? 2 : 1;
  j_decompress_ptr ci = &c->cinfo;
  jpeg_create_decompress(ci);
  c->src.next_input_byte = c->data;
  c->src.bytes_in_buffer = c->size;
  c->src.init_source = jpeg_init_source_cb;
  c->src.fill_input_buffer = jpeg_fill_input_cb;
  c->src.skip_input_data = jpeg_skip_input_cb;
  c->src.resync_to_restart = jpeg_resync_to_restart;
  c->src.term_source = jpeg_term_source_cb;
  ci->src = &c->src;
  c->progress.progress_monitor = jpeg_progress_cb;
  ci->progress = &c->progress;
  jpeg_read_header(ci, TRUE);
  /* TensorFlow's jpeg::Uncompress for components=3 with DecodeImage's flags. */
  const int cmyk = ci->jpeg_color_space == JCS_CMYK || ci->jpeg_color_space == JCS_YCCK;
  ci->out_color_space = cmyk ? JCS_CMYK : JCS_RGB;
  ci->do_fancy_upsampling = TRUE;
  ci->scale_num = 1;
  ci->scale_denom = 1;
  ci->dct_method = JDCT_IFAST;
  jpeg_calc_output_dimensions(ci);
  clippo_status st =
      check_dims(c->name, "JPEG", ci->output_width, ci->output_height, c->max_pixels, err);
  if (st != CLIPPO_OK) {
    c->st = st;
    return 2;
  }
  const size_t w = ci->output_width, h = ci->output_height;
  c->pixels = malloc(w * h * 3);
  if (cmyk) c->cmyk_row = malloc(w * 4);
  if (!c->pixels || (cmyk && !c->cmyk_row)) {
    c->st =
        clippo_fail(err, CLIPPO_E_NOMEM, "%s: out of memory for a %zu x %zu JPEG", c->name, w, h);
    return 2;
  }
  jpeg_start_decompress(ci);
  if (ci->output_components != (cmyk ? 4 : 3)) {
    snprintf(c->msg, sizeof c->msg, "unexpected number of output components (%d)",
             ci->output_components);
    return 1;
  }
  while (ci->output_scanline < ci->output_height) {
    uint8_t *line = c->pixels + (size_t)ci->output_scanline * w * 3;
    JSAMPROW row = cmyk ? c->cmyk_row : line;
    if (jpeg_read_scanlines(ci, &row, 1) != 1) {
      snprintf(c->msg, sizeof c->msg, "premature end of data at line %u of %zu",
               (unsigned)ci->output_scanline, h);
      return 1;
    }
    if (cmyk) {
      const int adobe = ci->saw_Adobe_marker;
      for (size_t x = 0; x < w; x++) {
        const int cc = c->cmyk_row[4 * x], m = c->cmyk_row[4 * x + 1];
        const int y = c->cmyk_row[4 * x + 2], k = c->cmyk_row[4 * x + 3];
        if (adobe) { /* Adobe writes inverted CMYK */
          line[3 * x] = (uint8_t)(k * cc / 255);
          line[3 * x + 1] = (uint8_t)(k * m / 255);
          line[3 * x + 2] = (uint8_t)(k * y / 255);
        } else {
          line[3 * x] = (uint8_t)((255 - k) * (255 - cc) / 255);
          line[3 * x + 1] = (uint8_t)((255 - k) * (255 - m) / 255);
          line[3 * x + 2] = (uint8_t)((255 - k) * (255 - y) / 255);
        }
      }
    }
  }
  jpeg_finish_decompress(ci);
  c->width = (int)w;
  c->height = (int)h;
  return 0;
}

static clippo_status decode_jpeg(const unsigned char *data, size_t size, const char *name,
                                 int64_t max_pixels, clippo_image *img, clippo_error *err) {
  jpeg_ctx *c = calloc(1, sizeof *c);
  if (!c) return clippo_fail(err, CLIPPO_E_NOMEM, "%s: cannot create a JPEG decoder", name);
  c->cinfo.err = jpeg_std_error(&c->jerr);
  c->jerr.error_exit = jpeg_error_exit_cb;
  c->jerr.emit_message = jpeg_emit_message_cb;
  c->jerr.output_message = jpeg_output_message_cb;
  c->name = name;
  c->data = data;
  c->size = size;
  c->max_pixels = max_pixels;
  c->st = CLIPPO_OK;
  const int rc = jpeg_run(c, err);
  jpeg_destroy_decompress(&c->cinfo);
  free(c->cmyk_row);
  clippo_status st = CLIPPO_OK;
  if (rc == 0) {
    img->data = c->pixels;
    img->width = c->width;
    img->height = c->height;
  } else {
    free(c->pixels);
    st = rc == 2 ? c->st : clippo_fail(err, CLIPPO_E_FORMAT, "%s: invalid JPEG: %s", name, c->msg);
  }
  free(c);
  return st;
}

/* ------------------------------------------------------------------------------------------ */
/* WebP (libwebp)                                                                             */

static clippo_status decode_webp(const unsigned char *data, size_t size, const char *name,
                                 int64_t max_pixels, clippo_image *img, clippo_error *err) {
  WebPBitstreamFeatures f;
  if (WebPGetFeatures(data, size, &f) != VP8_STATUS_OK)
    return clippo_fail(err, CLIPPO_E_FORMAT, "%s: invalid WebP: cannot read its header", name);
  if (f.has_animation)
    return clippo_fail(err, CLIPPO_E_UNSUPPORTED,
                       "%s: animated WebP images are not supported (save one frame as PNG)", name);
  clippo_status st =
      check_dims(name, "WebP", (uint64_t)f.width, (uint64_t)f.height, max_pixels, err);
  if (st != CLIPPO_OK) return st;
  const size_t stride = (size_t)f.width * 3, bytes = stride * (size_t)f.height;
  uint8_t *px = malloc(bytes);
  if (!px)
    return clippo_fail(err, CLIPPO_E_NOMEM, "%s: out of memory for a %d x %d WebP", name, f.width,
                       f.height);
  /* RGB output drops an alpha channel without compositing, as for PNG. */
  if (!WebPDecodeRGBInto(data, size, px, bytes, (int)stride)) {
    free(px);
    return clippo_fail(err, CLIPPO_E_FORMAT, "%s: invalid WebP: the image data does not decode",
                       name);
  }
  img->data = px;
  img->width = f.width;
  img->height = f.height;
  return CLIPPO_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* GIF (giflib): the first frame on a black canvas of the logical screen, as TensorFlow's
 * decode_image(expand_animations=False) does: pixels outside the frame and transparent ones
 * stay 0. */

typedef struct gif_src {
  const unsigned char *data;
  size_t left;
} gif_src;

static int gif_read_cb(GifFileType *g, GifByteType *out, int n) {
  gif_src *s = g->UserData;
  size_t k = n > 0 ? (size_t)n : 0;
  if (k > s->left) k = s->left;
  memcpy(out, s->data, k);
  s->data += k;
  s->left -= k;
  return (int)k;
}

static clippo_status gif_fail(const char *name, const char *what, int code, clippo_error *err) {
  const char *m = GifErrorString(code);
  return clippo_fail(err, CLIPPO_E_FORMAT, "%s: invalid GIF: %s (%s)", name, what,
                     m ? m : "unknown error");
}

/* Reads the records up to the first image; *transparent gets the transparent colour index of
 * its graphics control block (-1: none); *found is 1 at an image descriptor, 0 at the end. */
static clippo_status gif_seek_image(GifFileType *g, const char *name, int *transparent, int *found,
                                    clippo_error *err) {
  *found = 0;
  for (;;) {
    GifRecordType type;
    if (DGifGetRecordType(g, &type) == GIF_ERROR)
      return gif_fail(name, "bad record", g->Error, err);
    if (type == IMAGE_DESC_RECORD_TYPE) {
      *found = 1;
      return CLIPPO_OK;
    }
    if (type == TERMINATE_RECORD_TYPE) return CLIPPO_OK;
    if (type != EXTENSION_RECORD_TYPE) continue;
    int code = 0;
    GifByteType *ext = NULL;
    if (DGifGetExtension(g, &code, &ext) == GIF_ERROR)
      return gif_fail(name, "bad extension", g->Error, err);
    if (code == GRAPHICS_EXT_FUNC_CODE && ext && ext[0] >= 4) {
      GraphicsControlBlock gcb;
      if (DGifExtensionToGCB(ext[0], ext + 1, &gcb) == GIF_OK) *transparent = gcb.TransparentColor;
    }
    while (ext) {
      if (DGifGetExtensionNext(g, &ext) == GIF_ERROR)
        return gif_fail(name, "bad extension", g->Error, err);
    }
  }
}

/* Decodes the first frame's colour indices (deinterlaced) into idx (w * h bytes). */
static clippo_status gif_read_frame(GifFileType *g, const char *name, int w, int h, int interlace,
                                    GifByteType *idx, clippo_error *err) {
  static const int start[4] = {0, 4, 2, 1}, step[4] = {8, 8, 4, 2};
  for (int pass = 0; pass < (interlace ? 4 : 1); pass++)
    for (int y = interlace ? start[pass] : 0; y < h; y += interlace ? step[pass] : 1)
      if (DGifGetLine(g, idx + (size_t)y * (size_t)w, w) == GIF_ERROR)
        return gif_fail(name, "truncated or corrupt image data", g->Error, err);
  return CLIPPO_OK;
}

/* Paints the frame (w x h at left, top) onto the RGB canvas (cw x ch), clipped to it. */
static clippo_status gif_paint(const GifByteType *idx, int w, int h, int left, int top,
                               const ColorMapObject *cmap, int transparent, uint8_t *canvas, int cw,
                               int ch, const char *name, clippo_error *err) {
  for (int y = 0; y < h && top + y < ch; y++)
    for (int x = 0; x < w && left + x < cw; x++) {
      int c = idx[(size_t)y * (size_t)w + (size_t)x];
      if (c == transparent) continue;
      if (c >= cmap->ColorCount)
        return clippo_fail(err, CLIPPO_E_FORMAT,
                           "%s: invalid GIF: colour index %d outside its %d-colour map", name, c,
                           cmap->ColorCount);
      uint8_t *o = canvas + ((size_t)(top + y) * (size_t)cw + (size_t)(left + x)) * 3;
      o[0] = cmap->Colors[c].Red;
      o[1] = cmap->Colors[c].Green;
      o[2] = cmap->Colors[c].Blue;
    }
  return CLIPPO_OK;
}

static clippo_status decode_gif(const unsigned char *data, size_t size, const char *name,
                                int64_t max_pixels, clippo_image *img, clippo_error *err) {
  gif_src src = {data, size};
  int code = 0;
  GifFileType *g = DGifOpen(&src, gif_read_cb, &code);
  if (!g) return gif_fail(name, "cannot read its header", code, err);
  const int cw = g->SWidth, ch = g->SHeight;
  int transparent = -1, found = 0;
  uint8_t *canvas = NULL;
  GifByteType *idx = NULL;
  clippo_status st = check_dims(name, "GIF", (uint64_t)(cw > 0 ? cw : 0),
                                (uint64_t)(ch > 0 ? ch : 0), max_pixels, err);
  if (!st) st = gif_seek_image(g, name, &transparent, &found, err);
  if (!st && !found)
    st = clippo_fail(err, CLIPPO_E_FORMAT, "%s: invalid GIF: no image in it", name);
  if (!st && DGifGetImageDesc(g) == GIF_ERROR)
    st = gif_fail(name, "bad image descriptor", g->Error, err);
  const GifImageDesc *d = &g->Image;
  const ColorMapObject *cmap = NULL;
  if (!st) {
    cmap = d->ColorMap ? d->ColorMap : g->SColorMap;
    if (!cmap) st = clippo_fail(err, CLIPPO_E_FORMAT, "%s: invalid GIF: no colour map", name);
  }
  if (!st)
    st = check_dims(name, "GIF frame", (uint64_t)(d->Width > 0 ? d->Width : 0),
                    (uint64_t)(d->Height > 0 ? d->Height : 0), max_pixels, err);
  if (!st) {
    canvas = calloc((size_t)cw * (size_t)ch, 3);
    idx = malloc((size_t)d->Width * (size_t)d->Height);
    if (!canvas || !idx)
      st = clippo_fail(err, CLIPPO_E_NOMEM, "%s: out of memory for a %d x %d GIF", name, cw, ch);
  }
  if (!st) st = gif_read_frame(g, name, d->Width, d->Height, d->Interlace, idx, err);
  if (!st)
    st = gif_paint(idx, d->Width, d->Height, d->Left, d->Top, cmap, transparent, canvas, cw, ch,
                   name, err);
  DGifCloseFile(g, &code);
  free(idx);
  if (st) {
    free(canvas);
    return st;
  }
  img->data = canvas;
  img->width = cw;
  img->height = ch;
  return CLIPPO_OK;
}

/* ------------------------------------------------------------------------------------------ */

clippo_status clippo_image_decode_mem_limited(const void *data, size_t size, const char *name,
                                              int64_t max_pixels, clippo_image *img,
                                              clippo_error *err) {
  name = src_name(name);
  if (!img) return clippo_fail(err, CLIPPO_E_ARG, "%s: no output image", name);
  img->width = img->height = 0;
  img->data = NULL;
  if (!data && size) return clippo_fail(err, CLIPPO_E_ARG, "%s: no data", name);
  if (max_pixels <= 0 || max_pixels > CLIPPO_IMAGE_MAX_PIXELS) max_pixels = CLIPPO_IMAGE_MAX_PIXELS;
  if (size == 0) return clippo_fail(err, CLIPPO_E_FORMAT, "%s: empty file, not an image", name);
  clippo_status st;
  switch (clippo_image_detect(data, size)) {
  case CLIPPO_IMAGE_PNG: st = decode_png(data, size, name, max_pixels, img, err); break;
  case CLIPPO_IMAGE_JPEG: st = decode_jpeg(data, size, name, max_pixels, img, err); break;
  case CLIPPO_IMAGE_GIF: st = decode_gif(data, size, name, max_pixels, img, err); break;
  case CLIPPO_IMAGE_WEBP: st = decode_webp(data, size, name, max_pixels, img, err); break;
  case CLIPPO_IMAGE_BMP:
    return clippo_fail(err, CLIPPO_E_UNSUPPORTED,
                       "%s: BMP images are not supported (no maintained BMP decoder library is "
                       "used; convert it to PNG)",
                       name);
  default:
    return clippo_fail(err, CLIPPO_E_FORMAT,
                       "%s: not a PNG, JPEG, GIF or WebP image (unrecognised leading bytes)", name);
  }
  return st;
}

clippo_status clippo_image_decode_mem(const void *data, size_t size, const char *name,
                                      clippo_image *img, clippo_error *err) {
  return clippo_image_decode_mem_limited(data, size, name, CLIPPO_IMAGE_MAX_PIXELS, img, err);
}

/* Reads a whole file (regular or not) into a malloc'd buffer. */
static clippo_status read_file(const char *path, unsigned char **out, size_t *out_size,
                               clippo_error *err) {
  *out = NULL;
  *out_size = 0;
  FILE *f = fopen(path, "rb");
  if (!f) return clippo_fail(err, CLIPPO_E_IO, "%s: cannot open: %s", path, strerror(errno));
  struct stat sb;
  if (fstat(fileno(f), &sb) == 0 && S_ISDIR(sb.st_mode)) {
    fclose(f);
    return clippo_fail(err, CLIPPO_E_IO, "%s: is a directory, not an image file", path);
  }
  size_t cap = (fstat(fileno(f), &sb) == 0 && S_ISREG(sb.st_mode) && sb.st_size > 0)
                   ? (size_t)sb.st_size + 1
                   : 65536;
  if (cap > CLIPPO_IMAGE_MAX_FILE_BYTES + 1) cap = CLIPPO_IMAGE_MAX_FILE_BYTES + 1;
  unsigned char *buf = malloc(cap);
  size_t n = 0;
  clippo_status st = CLIPPO_OK;
  if (!buf) st = clippo_fail(err, CLIPPO_E_NOMEM, "%s: out of memory reading the file", path);
  while (st == CLIPPO_OK) {
    if (n == cap) {
      if (cap > CLIPPO_IMAGE_MAX_FILE_BYTES) {
        st = clippo_fail(err, CLIPPO_E_IO, "%s: file larger than %zu bytes", path,
                         CLIPPO_IMAGE_MAX_FILE_BYTES);
        break;
      }
      size_t ncap = cap * 2;
      if (ncap > CLIPPO_IMAGE_MAX_FILE_BYTES + 1) ncap = CLIPPO_IMAGE_MAX_FILE_BYTES + 1;
      unsigned char *nb = realloc(buf, ncap);
      if (!nb) {
        st = clippo_fail(err, CLIPPO_E_NOMEM, "%s: out of memory reading the file", path);
        break;
      }
      buf = nb;
      cap = ncap;
    }
    size_t got = fread(buf + n, 1, cap - n, f);
    n += got;
    if (got == 0) {
      if (ferror(f))
        st = clippo_fail(err, CLIPPO_E_IO, "%s: read error: %s", path, strerror(errno));
      break;
    }
  }
  fclose(f);
  if (st != CLIPPO_OK) {
    free(buf);
    return st;
  }
  *out = buf;
  *out_size = n;
  return CLIPPO_OK;
}

clippo_status clippo_image_load(const char *path, clippo_image *img, clippo_error *err) {
  if (img) img->width = img->height = 0, img->data = NULL;
  if (!path || !img) return clippo_fail(err, CLIPPO_E_ARG, "clippo_image_load: NULL argument");
  unsigned char *buf = NULL;
  size_t n = 0;
  clippo_status st = read_file(path, &buf, &n, err);
  if (st != CLIPPO_OK) return st;
  st = clippo_image_decode_mem(buf, n, path, img, err);
  free(buf);
  return st;
}
