/* Image decoding, resize and value range against known pixels, hand-computed bilinear values,
 * an independent float64 resize and an independent libjpeg decode; bad files give clear errors. */
#include <dirent.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <png.h>
#include <jpeglib.h>

#include "support.h"

#include "clippo/image.h"

/* ------------------------------------------------------------------------------------------ */
/* Fixture helpers: a temp dir per test group, PNG/JPEG writers, raw files.                    */

static char *g_dir;

static int setup(void **state) {
  (void)state;
  g_dir = test_tmpdir();
  return g_dir ? 0 : -1;
}

static int teardown(void **state) {
  (void)state;
  DIR *d = opendir(g_dir);
  if (d) {
    struct dirent *e;
    char p[4096];
    while ((e = readdir(d)) != NULL) {
      if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
      snprintf(p, sizeof p, "%s/%s", g_dir, e->d_name);
      if (rmdir(p) != 0) unlink(p);
    }
    closedir(d);
  }
  rmdir(g_dir);
  free(g_dir);
  g_dir = NULL;
  return 0;
}

/* Path of a file in the temp dir (static buffer: use before the next call). */
static const char *tpath(const char *name) {
  static char buf[2][4096];
  static int k;
  k ^= 1;
  snprintf(buf[k], sizeof buf[k], "%s/%s", g_dir, name);
  return buf[k];
}

static void write_bytes(const char *path, const void *data, size_t n) {
  FILE *f = fopen(path, "wb");
  assert_non_null(f);
  if (n) assert_int_equal(fwrite(data, 1, n, f), n);
  assert_int_equal(fclose(f), 0);
}

static unsigned char *read_bytes(const char *path, size_t *n) {
  FILE *f = fopen(path, "rb");
  assert_non_null(f);
  fseek(f, 0, SEEK_END);
  long sz = ftell(f);
  fseek(f, 0, SEEK_SET);
  unsigned char *b = malloc((size_t)sz + 1);
  assert_non_null(b);
  assert_int_equal(fread(b, 1, (size_t)sz, f), (size_t)sz);
  fclose(f);
  *n = (size_t)sz;
  return b;
}

typedef struct png_spec {
  int w, h, depth, ctype, interlace;
  const unsigned char *rows; /* packed rows, png_get_rowbytes layout, big-endian 16-bit */
  const png_color *palette;
  int npalette;
  const unsigned char *trans; /* palette alpha */
  int ntrans;
  const png_color_16 *trans_color; /* gray / RGB tRNS */
} png_spec;

static size_t png_rowbytes(const png_spec *s) {
  int ch = s->ctype == PNG_COLOR_TYPE_GRAY         ? 1
           : s->ctype == PNG_COLOR_TYPE_GRAY_ALPHA ? 2
           : s->ctype == PNG_COLOR_TYPE_RGB        ? 3
           : s->ctype == PNG_COLOR_TYPE_RGB_ALPHA  ? 4
                                                   : 1;
  return ((size_t)s->w * (size_t)ch * (size_t)s->depth + 7) / 8;
}

static void write_png(const char *path, const png_spec *s) {
  FILE *f = fopen(path, "wb");
  assert_non_null(f);
  png_structp p = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
  png_infop info = png_create_info_struct(p);
  assert_non_null(p);
  assert_non_null(info);
  if (setjmp(png_jmpbuf(p))) fail_msg("libpng write failed for %s", path);
  png_init_io(p, f);
  png_set_IHDR(p, info, (png_uint_32)s->w, (png_uint_32)s->h, s->depth, s->ctype, s->interlace,
               PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  if (s->palette) png_set_PLTE(p, info, s->palette, s->npalette);
  if (s->trans || s->trans_color)
    png_set_tRNS(p, info, s->trans, s->ntrans, (png_color_16p)s->trans_color);
  png_write_info(p, info);
  const size_t rb = png_rowbytes(s);
  png_bytep *rows = malloc(sizeof(png_bytep) * (size_t)s->h);
  for (int y = 0; y < s->h; y++) rows[y] = (png_bytep)(s->rows + rb * (size_t)y);
  png_write_image(p, rows);
  png_write_end(p, NULL);
  png_destroy_write_struct(&p, &info);
  free(rows);
  fclose(f);
}

/* Encodes to memory; in_cs JCS_RGB (3), JCS_GRAYSCALE (1) or JCS_CMYK (4). */
static unsigned char *encode_jpeg(const unsigned char *px, int w, int h, J_COLOR_SPACE in_cs,
                                  int comps, int quality, int adobe, unsigned long *size) {
  struct jpeg_compress_struct c;
  struct jpeg_error_mgr e;
  c.err = jpeg_std_error(&e);
  jpeg_create_compress(&c);
  unsigned char *out = NULL;
  *size = 0;
  jpeg_mem_dest(&c, &out, size);
  c.image_width = (JDIMENSION)w;
  c.image_height = (JDIMENSION)h;
  c.input_components = comps;
  c.in_color_space = in_cs;
  jpeg_set_defaults(&c);
  jpeg_set_quality(&c, quality, TRUE);
  if (in_cs == JCS_CMYK) c.write_Adobe_marker = adobe ? TRUE : FALSE;
  jpeg_start_compress(&c, TRUE);
  while (c.next_scanline < c.image_height) {
    JSAMPROW r = (JSAMPROW)(px + (size_t)c.next_scanline * (size_t)w * (size_t)comps);
    jpeg_write_scanlines(&c, &r, 1);
  }
  jpeg_finish_compress(&c);
  jpeg_destroy_compress(&c);
  return out;
}

/* Independent reference decode with plain libjpeg and TensorFlow's decode_image settings. */
static unsigned char *ref_decode_jpeg(const unsigned char *data, unsigned long n, J_DCT_METHOD dct,
                                      int *w, int *h) {
  struct jpeg_decompress_struct d;
  struct jpeg_error_mgr e;
  d.err = jpeg_std_error(&e);
  jpeg_create_decompress(&d);
  jpeg_mem_src(&d, data, n);
  jpeg_read_header(&d, TRUE);
  const int cmyk = d.jpeg_color_space == JCS_CMYK || d.jpeg_color_space == JCS_YCCK;
  d.out_color_space = cmyk ? JCS_CMYK : JCS_RGB;
  d.dct_method = dct;
  d.do_fancy_upsampling = TRUE;
  jpeg_start_decompress(&d);
  *w = (int)d.output_width;
  *h = (int)d.output_height;
  const int oc = d.output_components;
  unsigned char *raw = calloc((size_t)*w * (size_t)*h * (size_t)oc, 1);
  while (d.output_scanline < d.output_height) {
    JSAMPROW r = raw + (size_t)d.output_scanline * (size_t)*w * (size_t)oc;
    jpeg_read_scanlines(&d, &r, 1);
  }
  unsigned char *rgb = calloc((size_t)*w * (size_t)*h * 3, 1);
  for (size_t i = 0; i < (size_t)*w * (size_t)*h; i++) {
    if (!cmyk) {
      memcpy(rgb + 3 * i, raw + 3 * i, 3);
      continue;
    }
    const int k = raw[4 * i + 3];
    for (int ch = 0; ch < 3; ch++) {
      const int v = raw[4 * i + (size_t)ch];
      rgb[3 * i + (size_t)ch] =
          (unsigned char)(d.saw_Adobe_marker ? k * v / 255 : (255 - k) * (255 - v) / 255);
    }
  }
  jpeg_finish_decompress(&d);
  jpeg_destroy_decompress(&d);
  free(raw);
  return rgb;
}

static void load_ok(const char *path, clippo_image *img, int w, int h) {
  clippo_error err;
  clippo_error_clear(&err);
  TEST_OK(clippo_image_load(path, img, &err), &err);
  assert_int_equal(img->width, w);
  assert_int_equal(img->height, h);
  assert_non_null(img->data);
}

static void expect_pixels(const clippo_image *img, const unsigned char *rgb, const char *what) {
  const size_t n = (size_t)img->width * (size_t)img->height * 3;
  for (size_t i = 0; i < n; i++)
    if (img->data[i] != rgb[i])
      fail_msg("%s: byte %zu (pixel %zu channel %zu): got %u, expected %u", what, i, i / 3, i % 3,
               img->data[i], rgb[i]);
}

/* Expects status st and the path (or name) inside the message. */
static void expect_error(clippo_status got, const clippo_error *err, clippo_status st,
                         const char *name) {
  if (got != st)
    fail_msg("expected %s, got %s: %s", clippo_status_name(st), clippo_status_name(got), err->msg);
  assert_int_equal(err->status, st);
  if (!strstr(err->msg, name)) fail_msg("message does not name '%s': %s", name, err->msg);
}

static void expect_load_error(const char *path, clippo_status st) {
  clippo_error err;
  clippo_error_clear(&err);
  clippo_image img = {7, 7, (uint8_t *)&img};
  clippo_status got = clippo_image_load(path, &img, &err);
  expect_error(got, &err, st, path);
  assert_null(img.data);
  assert_int_equal(img.width, 0);
  assert_int_equal(img.height, 0);
  float dst[4 * 4 * 3];
  clippo_error_clear(&err);
  got = clippo_image_preprocess_file(path, 4, dst, &err);
  expect_error(got, &err, st, path);
}

/* ------------------------------------------------------------------------------------------ */
/* PNG modes                                                                                  */

static void test_detect(void **state) {
  (void)state;
  assert_int_equal(clippo_image_detect("\x89PNG\r\n\x1a\n....", 12), CLIPPO_IMAGE_PNG);
  assert_int_equal(clippo_image_detect("\xff\xd8\xff\xe0", 4), CLIPPO_IMAGE_JPEG);
  assert_int_equal(clippo_image_detect("\xff\xd8\xff", 3), CLIPPO_IMAGE_JPEG);
  assert_int_equal(clippo_image_detect("\xff\xd8", 2), CLIPPO_IMAGE_UNKNOWN);
  assert_int_equal(clippo_image_detect("GIF89a", 6), CLIPPO_IMAGE_GIF);
  assert_int_equal(clippo_image_detect("BM......", 8), CLIPPO_IMAGE_BMP);
  assert_int_equal(clippo_image_detect("RIFF\0\0\0\0WEBPVP8 ", 16), CLIPPO_IMAGE_WEBP);
  assert_int_equal(clippo_image_detect("\x89PNG\r\n\x1a", 7), CLIPPO_IMAGE_UNKNOWN);
  assert_int_equal(clippo_image_detect("hello", 5), CLIPPO_IMAGE_UNKNOWN);
  assert_int_equal(clippo_image_detect(NULL, 0), CLIPPO_IMAGE_UNKNOWN);
}

static void test_png_rgb_rgba(void **state) {
  (void)state;
  const unsigned char rgb[] = {1,   2,   3,   250, 128, 0, 9,  8,  7, /* row 0 */
                               255, 255, 255, 0,   0,   0, 17, 34, 51};
  png_spec s = {3, 2, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE, rgb, NULL, 0, NULL, 0, NULL};
  /* Saved under a misleading extension: detection is by content. */
  write_png(tpath("rgb.jpg"), &s);
  clippo_image img;
  load_ok(tpath("rgb.jpg"), &img, 3, 2);
  expect_pixels(&img, rgb, "RGB PNG");
  clippo_image_free(&img);

  /* RGBA: alpha dropped, colour kept even where alpha is 0 (no compositing). */
  const unsigned char rgba[] = {10, 20, 30, 0, 40,  50,  60, 128, 70,  80, 90,  255,
                                1,  1,  1,  0, 200, 100, 50, 7,   255, 0,  255, 1};
  const unsigned char want[] = {10, 20, 30, 40,  50,  60, 70,  80, 90,
                                1,  1,  1,  200, 100, 50, 255, 0,  255};
  png_spec a = {3,    2, 8,   PNG_COLOR_TYPE_RGB_ALPHA, PNG_INTERLACE_NONE, rgba, NULL, 0,
                NULL, 0, NULL};
  write_png(tpath("rgba.png"), &a);
  load_ok(tpath("rgba.png"), &img, 3, 2);
  expect_pixels(&img, want, "RGBA PNG");
  clippo_image_free(&img);
}

static void test_png_gray(void **state) {
  (void)state;
  clippo_image img;
  /* L, 8 bits: replicated. */
  const unsigned char g8[] = {0, 77, 255, 128};
  png_spec s = {2, 2, 8, PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_NONE, g8, NULL, 0, NULL, 0, NULL};
  write_png(tpath("l8.png"), &s);
  load_ok(tpath("l8.png"), &img, 2, 2);
  unsigned char want[4 * 3];
  for (int i = 0; i < 4; i++) want[(ptrdiff_t)3 * i] = want[3 * i + 1] = want[3 * i + 2] = g8[i];
  expect_pixels(&img, want, "L PNG");
  clippo_image_free(&img);

  /* L, 2 bits: 0..3 scale to 0, 85, 170, 255. One row of 5 pixels: 00 01 10 11 | 01 (padded). */
  const unsigned char g2[] = {0x1B, 0x40};
  png_spec s2 = {5, 1, 2, PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_NONE, g2, NULL, 0, NULL, 0, NULL};
  write_png(tpath("l2.png"), &s2);
  load_ok(tpath("l2.png"), &img, 5, 1);
  const unsigned char v2[] = {0, 85, 170, 255, 85};
  unsigned char want2[5 * 3];
  for (int i = 0; i < 5; i++) want2[(ptrdiff_t)3 * i] = want2[3 * i + 1] = want2[3 * i + 2] = v2[i];
  expect_pixels(&img, want2, "2-bit L PNG");
  clippo_image_free(&img);

  /* L, 1 bit: 0 -> 0, 1 -> 255. */
  const unsigned char g1[] = {0xA0}; /* 1 0 1 */
  png_spec s1 = {3, 1, 1, PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_NONE, g1, NULL, 0, NULL, 0, NULL};
  write_png(tpath("l1.png"), &s1);
  load_ok(tpath("l1.png"), &img, 3, 1);
  const unsigned char want1[] = {255, 255, 255, 0, 0, 0, 255, 255, 255};
  expect_pixels(&img, want1, "1-bit L PNG");
  clippo_image_free(&img);

  /* L with a tRNS colour: transparency ignored. */
  png_color_16 tc = {0, 0, 0, 0, 77};
  png_spec st = {2, 2, 8, PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_NONE, g8, NULL, 0, NULL, 0, &tc};
  write_png(tpath("l8trns.png"), &st);
  load_ok(tpath("l8trns.png"), &img, 2, 2);
  expect_pixels(&img, want, "L+tRNS PNG");
  clippo_image_free(&img);

  /* LA: gray replicated, alpha dropped. */
  const unsigned char la[] = {5, 0, 60, 255, 255, 10, 128, 128};
  png_spec sa = {2,    2, 8,   PNG_COLOR_TYPE_GRAY_ALPHA, PNG_INTERLACE_NONE, la, NULL, 0,
                 NULL, 0, NULL};
  write_png(tpath("la.png"), &sa);
  load_ok(tpath("la.png"), &img, 2, 2);
  const unsigned char wla[] = {5, 5, 5, 60, 60, 60, 255, 255, 255, 128, 128, 128};
  expect_pixels(&img, wla, "LA PNG");
  clippo_image_free(&img);
}

static void test_png_palette(void **state) {
  (void)state;
  clippo_image img;
  const png_color pal[4] = {{255, 0, 0}, {0, 255, 0}, {0, 0, 255}, {12, 34, 56}};
  const unsigned char idx[] = {0, 1, 2, 3, 3, 2};
  const unsigned char want[] = {255, 0, 0, 0, 255, 0, 0, 0, 255, 12, 34, 56, 12, 34, 56, 0, 0, 255};
  png_spec s = {3, 2, 8, PNG_COLOR_TYPE_PALETTE, PNG_INTERLACE_NONE, idx, pal, 4, NULL, 0, NULL};
  write_png(tpath("p.png"), &s);
  load_ok(tpath("p.png"), &img, 3, 2);
  expect_pixels(&img, want, "P PNG");
  clippo_image_free(&img);

  /* With tRNS: alpha from the palette dropped, colours kept. */
  const unsigned char trans[4] = {0, 128, 255, 3};
  png_spec st = {3, 2, 8, PNG_COLOR_TYPE_PALETTE, PNG_INTERLACE_NONE, idx, pal, 4, trans, 4, NULL};
  write_png(tpath("ptrns.png"), &st);
  load_ok(tpath("ptrns.png"), &img, 3, 2);
  expect_pixels(&img, want, "P+tRNS PNG");
  clippo_image_free(&img);

  /* 4-bit palette indices: rows of 3 pixels packed 2 per byte. */
  const unsigned char idx4[] = {0x01, 0x20, 0x33, 0x20};
  png_spec s4 = {3, 2, 4, PNG_COLOR_TYPE_PALETTE, PNG_INTERLACE_NONE, idx4, pal, 4, NULL, 0, NULL};
  write_png(tpath("p4.png"), &s4);
  load_ok(tpath("p4.png"), &img, 3, 2);
  expect_pixels(&img, want, "4-bit P PNG");
  clippo_image_free(&img);
}

static void test_png_16bit(void **state) {
  (void)state;
  clippo_image img;
  /* 16-bit samples keep their high byte: 0x12FF -> 0x12 (rounding would give 0x13). */
  const unsigned char rgb16[] = {0x12, 0xFF, 0xFF, 0x00, 0x00, 0xFF, /* pixel 0 */
                                 0x80, 0x80, 0x7F, 0xFF, 0xFF, 0xFF};
  const unsigned char want[] = {0x12, 0xFF, 0x00, 0x80, 0x7F, 0xFF};
  png_spec s = {2, 1, 16, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE, rgb16, NULL, 0, NULL, 0, NULL};
  write_png(tpath("rgb16.png"), &s);
  load_ok(tpath("rgb16.png"), &img, 2, 1);
  expect_pixels(&img, want, "16-bit RGB PNG");
  clippo_image_free(&img);

  const unsigned char rgba16[] = {0x12, 0xFF, 0xFF, 0x00, 0x00, 0xFF, 0x00, 0x00,
                                  0x80, 0x80, 0x7F, 0xFF, 0xFF, 0xFF, 0x12, 0x34};
  png_spec sa = {2,    1, 16,  PNG_COLOR_TYPE_RGB_ALPHA, PNG_INTERLACE_NONE, rgba16, NULL, 0,
                 NULL, 0, NULL};
  write_png(tpath("rgba16.png"), &sa);
  load_ok(tpath("rgba16.png"), &img, 2, 1);
  expect_pixels(&img, want, "16-bit RGBA PNG");
  clippo_image_free(&img);

  const unsigned char g16[] = {0xAB, 0xFF, 0x01, 0x00, 0xFF, 0xFF};
  png_spec sg = {3, 1, 16, PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_NONE, g16, NULL, 0, NULL, 0, NULL};
  write_png(tpath("l16.png"), &sg);
  load_ok(tpath("l16.png"), &img, 3, 1);
  const unsigned char wg[] = {0xAB, 0xAB, 0xAB, 0x01, 0x01, 0x01, 0xFF, 0xFF, 0xFF};
  expect_pixels(&img, wg, "16-bit L PNG");
  clippo_image_free(&img);

  const unsigned char la16[] = {0x7F, 0xFF, 0x00, 0x00, 0x00, 0x80, 0xFF, 0xFF};
  png_spec sla = {2,    1, 16,  PNG_COLOR_TYPE_GRAY_ALPHA, PNG_INTERLACE_NONE, la16, NULL, 0,
                  NULL, 0, NULL};
  write_png(tpath("la16.png"), &sla);
  load_ok(tpath("la16.png"), &img, 2, 1);
  const unsigned char wla[] = {0x7F, 0x7F, 0x7F, 0x00, 0x00, 0x00};
  expect_pixels(&img, wla, "16-bit LA PNG");
  clippo_image_free(&img);
}

static void test_png_interlaced(void **state) {
  (void)state;
  const int w = 13, h = 11;
  unsigned char *px = malloc((size_t)w * h * 3);
  test_rng r;
  test_rng_seed(&r, 7);
  for (int i = 0; i < w * h * 3; i++) px[i] = (unsigned char)(test_rng_u64(&r) >> 56);
  png_spec s = {w, h, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_ADAM7, px, NULL, 0, NULL, 0, NULL};
  write_png(tpath("adam7.png"), &s);
  clippo_image img;
  load_ok(tpath("adam7.png"), &img, w, h);
  expect_pixels(&img, px, "Adam7 PNG");
  clippo_image_free(&img);
  free(px);
}

/* ------------------------------------------------------------------------------------------ */
/* JPEG                                                                                       */

static unsigned char *smooth_noisy_rgb(int w, int h, uint64_t seed) {
  unsigned char *px = malloc((size_t)w * h * 3);
  test_rng r;
  test_rng_seed(&r, seed);
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++)
      for (int c = 0; c < 3; c++) {
        double v = 128 + 90 * sin(0.21 * x * (c + 1) + 0.13 * y) + test_rng_uniform(&r, -25, 25);
        px[((size_t)y * w + x) * 3 + c] = (unsigned char)(v < 0 ? 0 : v > 255 ? 255 : v);
      }
  return px;
}

static void test_jpeg_rgb(void **state) {
  (void)state;
  const int w = 37, h = 29; /* odd sizes: partial MCUs, 4:2:0 chroma */
  unsigned char *px = smooth_noisy_rgb(w, h, 11);
  unsigned long n = 0;
  unsigned char *jpg = encode_jpeg(px, w, h, JCS_RGB, 3, 85, 0, &n);
  write_bytes(tpath("rgb.png"), jpg, n); /* wrong extension on purpose */
  clippo_image img;
  load_ok(tpath("rgb.png"), &img, w, h);
  int rw, rh;
  unsigned char *fast = ref_decode_jpeg(jpg, n, JDCT_IFAST, &rw, &rh);
  unsigned char *slow = ref_decode_jpeg(jpg, n, JDCT_ISLOW, &rw, &rh);
  assert_int_equal(rw, w);
  assert_int_equal(rh, h);
  expect_pixels(&img, fast, "JPEG vs libjpeg IFAST + fancy upsampling");
  size_t differ = 0;
  double mae = 0;
  for (size_t i = 0; i < (size_t)w * h * 3; i++) {
    differ += fast[i] != slow[i];
    mae += fabs((double)img.data[i] - px[i]);
  }
  mae /= (double)w * h * 3;
  print_message("JPEG: %zu of %d bytes differ between IFAST and ISLOW; mean |decoded-source| "
                "%.2f\n",
                differ, w * h * 3, mae);
  assert_true(differ > 0); /* the comparison above does tell the DCT methods apart */
  assert_true(mae < 20.0); /* noisy source, 4:2:0 chroma: a sanity bound only */
  clippo_image_free(&img);

  /* Same through the memory API. */
  clippo_error err;
  clippo_error_clear(&err);
  TEST_OK(clippo_image_decode_mem(jpg, n, "mem.jpg", &img, &err), &err);
  expect_pixels(&img, fast, "JPEG from memory");
  clippo_image_free(&img);
  free(fast);
  free(slow);
  free(jpg);
  free(px);
}

static void test_jpeg_gray_cmyk(void **state) {
  (void)state;
  const int w = 19, h = 9;
  unsigned char *rgb = smooth_noisy_rgb(w, h, 5);
  unsigned char *g = malloc((size_t)w * h);
  unsigned char *cmyk = malloc((size_t)w * h * 4);
  for (int i = 0; i < w * h; i++) {
    g[i] = rgb[(ptrdiff_t)3 * i];
    for (int c = 0; c < 3; c++) cmyk[4 * i + c] = rgb[3 * i + c];
    cmyk[4 * i + 3] = (unsigned char)(255 - rgb[3 * i + 1] / 2);
  }
  clippo_image img;
  clippo_error err;
  clippo_error_clear(&err);
  unsigned long n = 0;
  int rw, rh;

  /* Grayscale: replicated exactly. */
  unsigned char *jpg = encode_jpeg(g, w, h, JCS_GRAYSCALE, 1, 90, 0, &n);
  TEST_OK(clippo_image_decode_mem(jpg, n, "gray.jpg", &img, &err), &err);
  unsigned char *ref = ref_decode_jpeg(jpg, n, JDCT_IFAST, &rw, &rh);
  expect_pixels(&img, ref, "gray JPEG");
  for (int i = 0; i < w * h; i++) {
    assert_int_equal(img.data[(ptrdiff_t)3 * i], img.data[3 * i + 1]);
    assert_int_equal(img.data[(ptrdiff_t)3 * i], img.data[3 * i + 2]);
  }
  clippo_image_free(&img);
  free(ref);
  free(jpg);

  /* CMYK with and without an Adobe marker: TensorFlow's conversion formula. */
  for (int adobe = 0; adobe < 2; adobe++) {
    jpg = encode_jpeg(cmyk, w, h, JCS_CMYK, 4, 95, adobe, &n);
    TEST_OK(clippo_image_decode_mem(jpg, n, "cmyk.jpg", &img, &err), &err);
    assert_int_equal(img.width, w);
    ref = ref_decode_jpeg(jpg, n, JDCT_IFAST, &rw, &rh);
    expect_pixels(&img, ref, adobe ? "Adobe CMYK JPEG" : "plain CMYK JPEG");
    /* And close to the formula applied to the source values (lossy). */
    double mae = 0;
    for (int i = 0; i < w * h; i++)
      for (int c = 0; c < 3; c++) {
        const int k = cmyk[4 * i + 3], v = cmyk[4 * i + c];
        const int want = adobe ? k * v / 255 : (255 - k) * (255 - v) / 255;
        mae += fabs((double)img.data[3 * i + c] - want);
      }
    mae /= (double)w * h * 3;
    if (mae > 10) fail_msg("CMYK (adobe=%d) mean error %.2f", adobe, mae);
    clippo_image_free(&img);
    free(ref);
    free(jpg);
  }
  free(rgb);
  free(g);
  free(cmyk);
}

/* ------------------------------------------------------------------------------------------ */
/* Resize                                                                                     */

/* float64 bilinear with half-pixel centres, TensorFlow's index rules. */
static double ref_bilinear(const clippo_image *in, int ow, int oh, int x, int y, int c) {
  double fx = (x + 0.5) * in->width / ow - 0.5, fy = (y + 0.5) * in->height / oh - 0.5;
  double flx = floor(fx), fly = floor(fy);
  int x0 = flx < 0 ? 0 : (int)flx, y0 = fly < 0 ? 0 : (int)fly;
  int x1 = (int)ceil(fx), y1 = (int)ceil(fy);
  if (x1 > in->width - 1) x1 = in->width - 1;
  if (y1 > in->height - 1) y1 = in->height - 1;
  if (x0 > in->width - 1) x0 = in->width - 1;
  if (y0 > in->height - 1) y0 = in->height - 1;
  double xl = fx - flx, yl = fy - fly;
#define P(yy, xx) ((double)in->data[((size_t)(yy)*in->width + (xx)) * 3 + c])
  double top = P(y0, x0) + (P(y0, x1) - P(y0, x0)) * xl;
  double bot = P(y1, x0) + (P(y1, x1) - P(y1, x0)) * xl;
#undef P
  return top + (bot - top) * yl;
}

static void check_resize_against_ref(const clippo_image *in, int ow, int oh) {
  /* float32 source coordinates are off by up to a few ulp of the input size; a value moves by
   * at most 255 per unit of coordinate along each axis. */
  const int maxin = in->width > in->height ? in->width : in->height;
  const double tol = 1e-4 + 255.0 * 2.0 * 4.0 * (maxin + 1) * FLT_EPSILON;
  clippo_error err;
  clippo_error_clear(&err);
  clippo_image out;
  float *f = malloc(sizeof(float) * (size_t)ow * oh * 3);
  TEST_OK(clippo_image_resize_bilinear(in, ow, oh, &out, &err), &err);
  TEST_OK(clippo_image_resize_bilinear_f32(in, ow, oh, f, &err), &err);
  assert_int_equal(out.width, ow);
  assert_int_equal(out.height, oh);
  for (int y = 0; y < oh; y++)
    for (int x = 0; x < ow; x++)
      for (int c = 0; c < 3; c++) {
        const size_t k = ((size_t)y * ow + x) * 3 + c;
        const double want = ref_bilinear(in, ow, oh, x, y, c);
        if (fabs(f[k] - want) > tol)
          fail_msg("%dx%d -> %dx%d at (%d,%d,%d): float %.6f, float64 reference %.6f", in->width,
                   in->height, ow, oh, x, y, c, f[k], want);
        /* uint8 = truncation; where the exact value sits on an integer, float rounding may land
         * on either side of it. */
        const int lo = (int)floor(want - tol), hi = (int)floor(want + tol);
        if (out.data[k] != (uint8_t)(int)floor(want) && !(out.data[k] >= lo && out.data[k] <= hi))
          fail_msg("%dx%d -> %dx%d at (%d,%d,%d): uint8 %u, expected trunc(%.6f)", in->width,
                   in->height, ow, oh, x, y, c, out.data[k], want);
        if (out.data[k] != (uint8_t)f[k])
          fail_msg("uint8 %u is not the truncated float %.6f", out.data[k], f[k]);
      }
  clippo_image_free(&out);
  free(f);
}

static void test_resize_hand(void **state) {
  (void)state;
  /* 2x2 -> 4x4. Red channel: [[0, 100], [200, 40]]. Half-pixel source coordinates are
   * -0.25, 0.25, 0.75, 1.25 -> clamp, 1/4, 3/4, clamp. Rows 0 and 3 are the source rows
   * interpolated along x; rows 1 and 2 mix them with weight 1/4 and 3/4. */
  uint8_t px[] = {0, 10, 255, 100, 20, 0, 200, 30, 1, 40, 40, 2};
  clippo_image in = {2, 2, px};
  const uint8_t want_r[16] = {0,   25,  75, 100, /* row 0: 0 + {0, .25, .75, 1} * 100 */
                              50,  58,  76, 85,  /* 58.75, 76.25 truncated */
                              150, 126, 78, 55,  /* 126.25, 78.75 truncated */
                              200, 160, 80, 40};
  const float want_rf[16] = {0,   25,      75,     100, 50,  58.75f, 76.25f, 85,
                             150, 126.25f, 78.75f, 55,  200, 160,    80,     40};
  clippo_image out;
  clippo_error err;
  clippo_error_clear(&err);
  float f[16 * 3];
  TEST_OK(clippo_image_resize_bilinear(&in, 4, 4, &out, &err), &err);
  TEST_OK(clippo_image_resize_bilinear_f32(&in, 4, 4, f, &err), &err);
  for (int i = 0; i < 16; i++) {
    assert_int_equal(out.data[(ptrdiff_t)3 * i], want_r[i]);
    assert_true(f[(ptrdiff_t)3 * i] == want_rf[i]);
  }
  /* Blue channel [[255, 0], [1, 2]] row 1 (weight 1/4): 191.25, 143.75 (col 1: 255 - 63.75 ->
   * 191.25 top, 1.25 bottom; 191.25 + .25 * (1.25 - 191.25) = 143.75). */
  assert_true(f[(1 * 4 + 1) * 3 + 2] == 143.75f);
  assert_int_equal(out.data[(1 * 4 + 1) * 3 + 2], 143);
  clippo_image_free(&out);

  /* Same size: identity. */
  TEST_OK(clippo_image_resize_bilinear(&in, 2, 2, &out, &err), &err);
  assert_memory_equal(out.data, px, sizeof px);
  clippo_image_free(&out);

  /* 1x1 -> 3x2: constant. */
  uint8_t one[] = {9, 99, 199};
  clippo_image in1 = {1, 1, one};
  TEST_OK(clippo_image_resize_bilinear(&in1, 3, 2, &out, &err), &err);
  for (int i = 0; i < 6; i++) assert_memory_equal(out.data + (ptrdiff_t)3 * i, one, 3);
  clippo_image_free(&out);

  /* 4x1 -> 2x1 downscale: source x = 0.5 and 2.5 -> means of neighbours. */
  uint8_t row[] = {0, 0, 0, 11, 0, 0, 20, 0, 0, 255, 0, 0};
  clippo_image in4 = {4, 1, row};
  TEST_OK(clippo_image_resize_bilinear_f32(&in4, 2, 1, f, &err), &err);
  assert_true(f[0] == 5.5f);
  assert_true(f[3] == 137.5f);
  TEST_OK(clippo_image_resize_bilinear(&in4, 2, 1, &out, &err), &err);
  assert_int_equal(out.data[0], 5);
  assert_int_equal(out.data[3], 137);
  clippo_image_free(&out);
}

/* The example in TensorFlow's tf.image.resize docstring (values printed by TensorFlow): a 5x5
 * identity resized to 3x5. 0.3333335 / 0.6666665 (not 0.3333333) come from float32 arithmetic
 * on scale = 5/3f in TensorFlow's order, so this pins the rounding, not just the formula. */
static void test_resize_tf_example(void **state) {
  (void)state;
  uint8_t px[5 * 5 * 3];
  memset(px, 0, sizeof px);
  for (int i = 0; i < 5; i++) px[(ptrdiff_t)(i * 5 + i) * 3] = 1;
  clippo_image in = {5, 5, px};
  float f[3 * 5 * 3];
  clippo_error err;
  clippo_error_clear(&err);
  TEST_OK(clippo_image_resize_bilinear_f32(&in, 5, 3, f, &err), &err);
  const float want[3][5] = {
      {0.6666667f, 0.3333333f, 0, 0, 0}, {0, 0, 1, 0, 0}, {0, 0, 0, 0.3333335f, 0.6666665f}};
  for (int y = 0; y < 3; y++)
    for (int x = 0; x < 5; x++)
      if (f[(ptrdiff_t)(y * 5 + x) * 3] != want[y][x])
        fail_msg("(%d,%d): %.9g, TensorFlow gives %.9g", y, x, f[(ptrdiff_t)(y * 5 + x) * 3],
                 want[y][x]);
}

static void test_resize_reference(void **state) {
  (void)state;
  test_rng r;
  test_rng_seed(&r, 1234);
  const int sizes[][4] = {{5, 3, 2, 7},      {2, 2, 4, 4},         {3, 5, 7, 2},
                          {1, 9, 4, 4},      {9, 1, 3, 5},         {7, 7, 3, 3},
                          {10, 6, 224, 224}, {375, 500, 224, 224}, {224, 224, 224, 224},
                          {13, 17, 31, 29},  {640, 427, 224, 224}, {100, 3, 1, 1}};
  for (size_t t = 0; t < sizeof sizes / sizeof sizes[0]; t++) {
    clippo_image in = {sizes[t][0], sizes[t][1], NULL};
    const size_t n = (size_t)in.width * in.height * 3;
    in.data = malloc(n);
    for (size_t i = 0; i < n; i++) in.data[i] = (uint8_t)(test_rng_u64(&r) >> 56);
    check_resize_against_ref(&in, sizes[t][2], sizes[t][3]);
    free(in.data);
  }
}

static void test_resize_args(void **state) {
  (void)state;
  uint8_t px[3] = {1, 2, 3};
  clippo_image in = {1, 1, px}, out;
  clippo_error err;
  float f[3];
  clippo_error_clear(&err);
  assert_int_equal(clippo_image_resize_bilinear(&in, 0, 4, &out, &err), CLIPPO_E_ARG);
  assert_int_equal(clippo_image_resize_bilinear(&in, 4, -1, &out, &err), CLIPPO_E_ARG);
  assert_int_equal(clippo_image_resize_bilinear(&in, 1 << 20, 1 << 20, &out, &err), CLIPPO_E_ARG);
  assert_int_equal(clippo_image_resize_bilinear(&in, 1, 1, &in, &err), CLIPPO_E_ARG);
  clippo_image empty = {0, 0, NULL};
  assert_int_equal(clippo_image_resize_bilinear(&empty, 2, 2, &out, &err), CLIPPO_E_ARG);
  assert_int_equal(clippo_image_resize_bilinear_f32(&empty, 2, 2, f, &err), CLIPPO_E_ARG);
  assert_int_equal(clippo_image_preprocess_file("x.png", 0, f, &err), CLIPPO_E_ARG);
}

/* ------------------------------------------------------------------------------------------ */
/* Value range and the whole pipeline                                                         */

static void test_value_range(void **state) {
  (void)state;
  uint8_t px[6] = {0, 255, 128, 51, 1, 254};
  clippo_image img = {2, 1, px};
  float f[6];
  clippo_image_to_input(&img, f);
  assert_true(f[0] == -1.0f);
  assert_true(f[1] == 1.0f);
  for (int i = 0; i < 6; i++) {
    const float want = -1.0f + (float)px[i] / 255.0f * 2.0f;
    assert_true(f[i] == want);
    assert_true(fabs(f[i] - (-1.0 + 2.0 * px[i] / 255.0)) < 1e-6);
  }
}

static void test_preprocess(void **state) {
  (void)state;
  uint8_t px[] = {0, 10, 255, 100, 20, 0, 200, 30, 1, 40, 40, 2};
  png_spec s = {2, 2, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE, px, NULL, 0, NULL, 0, NULL};
  write_png(tpath("pp.png"), &s);
  clippo_error err;
  clippo_error_clear(&err);
  float got[4 * 4 * 3], want[4 * 4 * 3];
  TEST_OK(clippo_image_preprocess_file(tpath("pp.png"), 4, got, &err), &err);
  clippo_image in = {2, 2, px}, out;
  TEST_OK(clippo_image_resize_bilinear(&in, 4, 4, &out, &err), &err);
  clippo_image_to_input(&out, want);
  assert_memory_equal(got, want, sizeof got);
  /* Red of output (1,1) = trunc(58.75) = 58 -> -1 + 2 * 58 / 255. */
  assert_true(got[(ptrdiff_t)(1 * 4 + 1) * 3] == -1.0f + 58.0f / 255.0f * 2.0f);
  clippo_image_free(&out);

  size_t n;
  unsigned char *bytes = read_bytes(tpath("pp.png"), &n);
  float got2[4 * 4 * 3];
  TEST_OK(clippo_image_preprocess_mem(bytes, n, "pp-mem", 4, got2, &err), &err);
  assert_memory_equal(got2, want, sizeof got2);
  free(bytes);

  /* A JPEG into a 224 batch slot: all values in [-1, 1]. */
  unsigned char *rgb = smooth_noisy_rgb(50, 40, 3);
  unsigned long jn;
  unsigned char *jpg = encode_jpeg(rgb, 50, 40, JCS_RGB, 3, 90, 0, &jn);
  write_bytes(tpath("pp.jpg"), jpg, jn);
  float *slot = malloc(sizeof(float) * 224 * 224 * 3);
  TEST_OK(clippo_image_preprocess_file(tpath("pp.jpg"), 224, slot, &err), &err);
  for (size_t i = 0; i < (size_t)224 * 224 * 3; i++)
    assert_true(slot[i] >= -1.0f && slot[i] <= 1.0f);
  free(slot);
  free(jpg);
  free(rgb);
}

/* ------------------------------------------------------------------------------------------ */
/* Bad files                                                                                  */

static uint32_t crc32_bytes(const unsigned char *p, size_t n) {
  uint32_t c = 0xFFFFFFFFu;
  for (size_t i = 0; i < n; i++) {
    c ^= p[i];
    for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
  }
  return c ^ 0xFFFFFFFFu;
}

static void put_be32(unsigned char *p, uint32_t v) {
  p[0] = (unsigned char)(v >> 24);
  p[1] = (unsigned char)(v >> 16);
  p[2] = (unsigned char)(v >> 8);
  p[3] = (unsigned char)v;
}

/* A PNG signature, an IHDR chunk with the given size, an empty IDAT and IEND (valid CRCs). */
static size_t png_header_only(unsigned char *b, uint32_t w, uint32_t h) {
  memcpy(b, "\x89PNG\r\n\x1a\n", 8);
  put_be32(b + 8, 13);
  memcpy(b + 12, "IHDR", 4);
  put_be32(b + 16, w);
  put_be32(b + 20, h);
  b[24] = 8; /* depth */
  b[25] = 2; /* RGB */
  b[26] = b[27] = b[28] = 0;
  put_be32(b + 29, crc32_bytes(b + 12, 17));
  put_be32(b + 33, 0);
  memcpy(b + 37, "IDAT", 4);
  put_be32(b + 41, crc32_bytes(b + 37, 4));
  put_be32(b + 45, 0);
  memcpy(b + 49, "IEND", 4);
  put_be32(b + 53, crc32_bytes(b + 49, 4));
  return 57;
}

static void test_bad_files(void **state) {
  (void)state;
  /* Missing file and directory: IO. */
  expect_load_error(tpath("does-not-exist.png"), CLIPPO_E_IO);
  mkdir(tpath("adir.png"), 0700);
  expect_load_error(tpath("adir.png"), CLIPPO_E_IO);

  /* Empty, text, random bytes: FORMAT. */
  write_bytes(tpath("empty.png"), "", 0);
  expect_load_error(tpath("empty.png"), CLIPPO_E_FORMAT);
  write_bytes(tpath("text.jpg"), "hello, world\n", 13);
  expect_load_error(tpath("text.jpg"), CLIPPO_E_FORMAT);
  unsigned char noise[300];
  test_rng r;
  test_rng_seed(&r, 99);
  for (size_t i = 0; i < sizeof noise; i++) noise[i] = (unsigned char)(test_rng_u64(&r) >> 56);
  noise[0] = 0x42; /* not a known signature */
  noise[1] = 0x00;
  write_bytes(tpath("noise.bin"), noise, sizeof noise);
  expect_load_error(tpath("noise.bin"), CLIPPO_E_FORMAT);

  /* A GIF cut in its header (GIF and WebP decoding: test_image_formats.c); BMP is recognised
   * but not decoded. */
  write_bytes(tpath("anim.gif"), "GIF89a\x01\x00\x01\x00", 10);
  expect_load_error(tpath("anim.gif"), CLIPPO_E_FORMAT);
  write_bytes(tpath("pic.bmp"), "BM\0\0\0\0\0\0", 8);
  expect_load_error(tpath("pic.bmp"), CLIPPO_E_UNSUPPORTED);

  /* A good PNG cut at many points, and with broken CRCs or data. */
  const int w = 16, h = 16;
  unsigned char *px = smooth_noisy_rgb(w, h, 17);
  png_spec s = {w, h, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE, px, NULL, 0, NULL, 0, NULL};
  write_png(tpath("good.png"), &s);
  size_t n;
  unsigned char *png = read_bytes(tpath("good.png"), &n);
  const size_t cuts[] = {8, 9, 20, 33, 40, n / 2, n - 13, n - 1};
  for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
    char name[64];
    snprintf(name, sizeof name, "cut%zu.png", cuts[i]);
    write_bytes(tpath(name), png, cuts[i]);
    expect_load_error(tpath(name), CLIPPO_E_FORMAT);
  }
  unsigned char *bad = malloc(n);
  memcpy(bad, png, n);
  bad[20] ^= 0x01; /* IHDR width changed: CRC mismatch in a critical chunk */
  write_bytes(tpath("badcrc.png"), bad, n);
  expect_load_error(tpath("badcrc.png"), CLIPPO_E_FORMAT);
  memcpy(bad, png, n);
  for (size_t i = 41; i < n - 20; i++) bad[i] = (unsigned char)(test_rng_u64(&r) >> 56);
  write_bytes(tpath("baddata.png"), bad, n);
  expect_load_error(tpath("baddata.png"), CLIPPO_E_FORMAT);
  free(bad);
  free(png);

  /* A good JPEG cut at many points (TensorFlow does not recover truncated files either, not
   * even one missing only its EOI marker), and one with a broken header. */
  unsigned long jn;
  unsigned char *jpg = encode_jpeg(px, w, h, JCS_RGB, 3, 90, 0, &jn);
  const size_t jcuts[] = {3, 4, 30, 200, jn / 2, jn - 2};
  for (size_t i = 0; i < sizeof jcuts / sizeof jcuts[0]; i++) {
    char name[64];
    snprintf(name, sizeof name, "cut%zu.jpg", jcuts[i]);
    write_bytes(tpath(name), jpg, jcuts[i]);
    expect_load_error(tpath(name), CLIPPO_E_FORMAT);
  }
  unsigned char *jb = malloc(jn);
  memcpy(jb, jpg, jn);
  for (size_t i = 3; i < 60 && i < jn; i++) jb[i] = 0x55; /* garbage after SOI */
  write_bytes(tpath("garbage.jpg"), jb, jn);
  expect_load_error(tpath("garbage.jpg"), CLIPPO_E_FORMAT);
  free(jb);
  free(jpg);
  free(px);

  /* Memory API: the name given is in the message; NULL name still works. */
  clippo_error err;
  clippo_error_clear(&err);
  clippo_image img;
  expect_error(clippo_image_decode_mem("nope", 4, "blob-17", &img, &err), &err, CLIPPO_E_FORMAT,
               "blob-17");
  expect_error(clippo_image_decode_mem("nope", 4, NULL, &img, &err), &err, CLIPPO_E_FORMAT,
               "<memory>");
}

/* Helper: SOF0 offset of a baseline JPEG made by libjpeg. */
static size_t find_sof(const unsigned char *j, size_t n) {
  for (size_t i = 2; i + 9 < n; i++)
    if (j[i] == 0xFF && (j[i + 1] == 0xC0 || j[i + 1] == 0xC2)) return i;
  fail_msg("no SOF marker");
  return 0;
}

static void test_dimensions(void **state) {
  (void)state;
  unsigned char b[64];
  /* PNG: zero width / height rejected (libpng or us), huge sizes rejected before allocation
   * (the files end after IHDR, so anything that tried to decode would fail differently). */
  png_header_only(b, 0, 10);
  write_bytes(tpath("w0.png"), b, 57);
  expect_load_error(tpath("w0.png"), CLIPPO_E_FORMAT);
  png_header_only(b, 10, 0);
  write_bytes(tpath("h0.png"), b, 57);
  expect_load_error(tpath("h0.png"), CLIPPO_E_FORMAT);
  png_header_only(b, 1000000, 1000000);
  write_bytes(tpath("huge.png"), b, 57);
  expect_load_error(tpath("huge.png"), CLIPPO_E_UNSUPPORTED);
  png_header_only(b, 0x7FFFFFFF, 1);
  write_bytes(tpath("wide.png"), b, 57);
  expect_load_error(tpath("wide.png"), CLIPPO_E_UNSUPPORTED);
  png_header_only(b, 20000, 20000); /* 4e8 pixels > 2^28 */
  write_bytes(tpath("big.png"), b, 57);
  expect_load_error(tpath("big.png"), CLIPPO_E_UNSUPPORTED);
  png_header_only(b, 4, 4); /* valid size, no pixel data */
  write_bytes(tpath("hdr.png"), b, 57);
  expect_load_error(tpath("hdr.png"), CLIPPO_E_FORMAT);

  /* JPEG: patch the SOF dimensions of a real file. */
  unsigned char px[8 * 8 * 3];
  memset(px, 90, sizeof px);
  unsigned long jn;
  unsigned char *jpg = encode_jpeg(px, 8, 8, JCS_RGB, 3, 90, 0, &jn);
  const size_t sof = find_sof(jpg, jn);
  unsigned char *j = malloc(jn);
  memcpy(j, jpg, jn);
  j[sof + 5] = 0; /* height 0 */
  j[sof + 6] = 0;
  write_bytes(tpath("h0.jpg"), j, jn);
  expect_load_error(tpath("h0.jpg"), CLIPPO_E_FORMAT);
  memcpy(j, jpg, jn);
  j[sof + 5] = j[sof + 7] = 0xEA; /* 60000 x 60000 (libjpeg itself stops at 65500) */
  j[sof + 6] = j[sof + 8] = 0x60;
  write_bytes(tpath("huge.jpg"), j, jn);
  expect_load_error(tpath("huge.jpg"), CLIPPO_E_UNSUPPORTED);

  /* A caller-chosen limit. */
  clippo_error err;
  clippo_error_clear(&err);
  clippo_image img;
  assert_int_equal(clippo_image_decode_mem_limited(jpg, jn, "small.jpg", 63, &img, &err),
                   CLIPPO_E_UNSUPPORTED);
  TEST_OK(clippo_image_decode_mem_limited(jpg, jn, "small.jpg", 64, &img, &err), &err);
  assert_int_equal(img.width, 8);
  for (int i = 0; i < 64 * 3; i++) assert_true(abs(img.data[i] - 90) <= 2);
  clippo_image_free(&img);
  clippo_image_free(&img); /* idempotent */
  free(j);
  free(jpg);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_detect),           cmocka_unit_test(test_png_rgb_rgba),
      cmocka_unit_test(test_png_gray),         cmocka_unit_test(test_png_palette),
      cmocka_unit_test(test_png_16bit),        cmocka_unit_test(test_png_interlaced),
      cmocka_unit_test(test_jpeg_rgb),         cmocka_unit_test(test_jpeg_gray_cmyk),
      cmocka_unit_test(test_resize_hand),      cmocka_unit_test(test_resize_tf_example),
      cmocka_unit_test(test_resize_reference), cmocka_unit_test(test_resize_args),
      cmocka_unit_test(test_value_range),      cmocka_unit_test(test_preprocess),
      cmocka_unit_test(test_bad_files),        cmocka_unit_test(test_dimensions),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
