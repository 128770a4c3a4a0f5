/* GIF (giflib) and WebP (libwebp) decoding: files written by the libraries' own encoders are
 * decoded to the expected pixels (first GIF frame on a black screen, transparency, interlace,
 * local colour maps; lossless WebP exactly, lossy WebP closely); bad and unsupported files fail
 * with the right status and the file's name. */
#include <gif_lib.h>
#include <stdlib.h>
#include <string.h>
#include <webp/encode.h>

#include "clippo/image.h"
#include "support.h"

/* ---- a GIF writer into memory (giflib's encoder) ------------------------------------------ */

typedef struct membuf {
  unsigned char *data;
  size_t n, cap;
} membuf;

static int mem_write(GifFileType *g, const GifByteType *p, int n) {
  membuf *b = g->UserData;
  if (b->n + (size_t)n > b->cap) {
    b->cap = (b->n + (size_t)n) * 2 + 64;
    b->data = realloc(b->data, b->cap);
    assert_non_null(b->data);
  }
  memcpy(b->data + b->n, p, (size_t)n);
  b->n += (size_t)n;
  return n;
}

/* One frame of a GIF: w x h colour indices at (left, top). */
typedef struct gif_frame {
  int left, top, w, h, interlace, transparent; /* transparent: -1 none */
  const GifByteType *idx;
  const GifColorType *local; /* NULL: the global map */
  int nlocal;
} gif_frame;

/* A GIF of a sw x sh screen with a 4-colour global map and the given frames. */
static membuf make_gif(int sw, int sh, const GifColorType *global, const gif_frame *frames,
                       int nframes) {
  membuf b = {0};
  int e = 0;
  GifFileType *g = EGifOpen(&b, mem_write, &e);
  assert_non_null(g);
  EGifSetGifVersion(g, true);
  ColorMapObject *gmap = GifMakeMapObject(4, global);
  assert_int_equal(EGifPutScreenDesc(g, sw, sh, 2, 0, gmap), GIF_OK);
  for (int f = 0; f < nframes; f++) {
    const gif_frame *fr = &frames[f];
    if (fr->transparent >= 0) {
      GraphicsControlBlock gcb = {0, false, 0, fr->transparent};
      GifByteType ext[4];
      size_t len = EGifGCBToExtension(&gcb, ext);
      assert_int_equal(EGifPutExtension(g, GRAPHICS_EXT_FUNC_CODE, (int)len, ext), GIF_OK);
    }
    ColorMapObject *lmap = fr->local ? GifMakeMapObject(fr->nlocal, fr->local) : NULL;
    assert_int_equal(
        EGifPutImageDesc(g, fr->left, fr->top, fr->w, fr->h, fr->interlace ? true : false, lmap),
        GIF_OK);
    /* rows in file order: interlaced files store passes 0,8,..; 4,12,..; 2,6,..; 1,3,.. */
    static const int start[4] = {0, 4, 2, 1}, step[4] = {8, 8, 4, 2};
    for (int pass = 0; pass < (fr->interlace ? 4 : 1); pass++)
      for (int y = fr->interlace ? start[pass] : 0; y < fr->h; y += fr->interlace ? step[pass] : 1)
        assert_int_equal(EGifPutLine(g, (GifPixelType *)fr->idx + (size_t)y * (size_t)fr->w, fr->w),
                         GIF_OK);
    GifFreeMapObject(lmap);
  }
  GifFreeMapObject(gmap);
  assert_int_equal(EGifCloseFile(g, &e), GIF_OK);
  return b;
}

static const GifColorType palette[4] = {{10, 20, 30}, {200, 0, 0}, {0, 200, 0}, {0, 0, 200}};

static void expect_rgb(const clippo_image *img, int x, int y, int r, int g, int b) {
  const uint8_t *p = img->data + ((size_t)y * (size_t)img->width + (size_t)x) * 3;
  if (p[0] != r || p[1] != g || p[2] != b)
    fail_msg("pixel (%d, %d) is %d,%d,%d, expected %d,%d,%d", x, y, p[0], p[1], p[2], r, g, b);
}

static void test_gif_first_frame(void **state) {
  (void)state;
  /* a 3 x 2 frame at (1, 1) of a 5 x 4 screen; index 3 is transparent */
  const GifByteType idx[6] = {1, 2, 3, 0, 1, 2};
  gif_frame fr = {1, 1, 3, 2, 0, 3, idx, NULL, 0};
  const GifByteType idx2[20] = {1};
  gif_frame second = {0, 0, 5, 4, 0, -1, idx2, NULL, 0}; /* a later frame is not used */
  gif_frame frames[2] = {fr, second};
  membuf b = make_gif(5, 4, palette, frames, 2);
  clippo_image img;
  clippo_error err;
  TEST_OK(clippo_image_decode_mem(b.data, b.n, "t.gif", &img, &err), &err);
  assert_int_equal(img.width, 5);
  assert_int_equal(img.height, 4);
  expect_rgb(&img, 0, 0, 0, 0, 0); /* outside the frame: black */
  expect_rgb(&img, 1, 1, 200, 0, 0);
  expect_rgb(&img, 2, 1, 0, 200, 0);
  expect_rgb(&img, 3, 1, 0, 0, 0); /* transparent: black */
  expect_rgb(&img, 1, 2, 10, 20, 30);
  expect_rgb(&img, 3, 2, 0, 200, 0);
  expect_rgb(&img, 4, 3, 0, 0, 0);
  clippo_image_free(&img);
  free(b.data);
}

static void test_gif_interlaced_local_map(void **state) {
  (void)state;
  enum { W = 3, H = 11 };
  GifByteType idx[W * H];
  for (int y = 0; y < H; y++)
    for (int x = 0; x < W; x++) idx[y * W + x] = (GifByteType)((y + x) % 2);
  const GifColorType local[2] = {{1, 2, 3}, {250, 251, 252}};
  gif_frame fr = {0, 0, W, H, 1, -1, idx, local, 2};
  membuf b = make_gif(W, H, palette, &fr, 1);
  clippo_image img;
  clippo_error err;
  TEST_OK(clippo_image_decode_mem(b.data, b.n, "i.gif", &img, &err), &err);
  for (int y = 0; y < H; y++)
    for (int x = 0; x < W; x++) {
      int v = (y + x) % 2;
      expect_rgb(&img, x, y, v ? 250 : 1, v ? 251 : 2, v ? 252 : 3);
    }
  clippo_image_free(&img);
  free(b.data);
}

static void expect_error(const void *data, size_t n, const char *name, clippo_status want) {
  clippo_image img = {7, 7, NULL};
  clippo_error err;
  clippo_error_clear(&err);
  assert_int_equal(clippo_image_decode_mem(data, n, name, &img, &err), want);
  assert_null(img.data);
  if (!strstr(err.msg, name)) fail_msg("'%s' does not name %s", err.msg, name);
}

static void test_gif_bad(void **state) {
  (void)state;
  const GifByteType idx[4] = {0, 1, 2, 3};
  gif_frame fr = {0, 0, 2, 2, 0, -1, idx, NULL, 0};
  membuf b = make_gif(2, 2, palette, &fr, 1);
  /* cut anywhere: an error, never a crash */
  for (size_t cut = 0; cut + 1 < b.n; cut++) {
    clippo_image img;
    clippo_error err;
    clippo_status st = clippo_image_decode_mem(b.data, cut, "cut.gif", &img, &err);
    if (st == CLIPPO_OK) fail_msg("a GIF cut to %zu of %zu bytes decoded", cut, b.n);
  }
  expect_error(b.data, 13, "head.gif", CLIPPO_E_FORMAT);
  free(b.data);
  /* an index beyond a 2-colour local map */
  const GifColorType two[2] = {{0, 0, 0}, {9, 9, 9}};
  gif_frame bad = {0, 0, 2, 2, 0, -1, idx, two, 2};
  b = make_gif(2, 2, palette, &bad, 1);
  expect_error(b.data, b.n, "range.gif", CLIPPO_E_FORMAT);
  free(b.data);
  /* no image at all */
  expect_error("GIF89a\x01\x00\x01\x00\x00\x00\x00;", 14, "empty.gif", CLIPPO_E_FORMAT);
  /* a screen over the pixel limit fails before anything is allocated */
  expect_error("GIF89a\xff\xff\xff\xff\x00\x00\x00;", 14, "huge.gif", CLIPPO_E_UNSUPPORTED);
  /* BMP: recognised, rejected with the reason */
  expect_error("BM\0\0\0\0\0\0\0\0\0\0\0\0", 14, "pic.bmp", CLIPPO_E_UNSUPPORTED);
}

static void test_webp(void **state) {
  (void)state;
  enum { W = 13, H = 7 };
  uint8_t rgb[W * H * 3];
  for (int i = 0; i < W * H * 3; i++) rgb[i] = (uint8_t)(i * 37 + 11);
  uint8_t *enc = NULL;
  size_t n = WebPEncodeLosslessRGB(rgb, W, H, W * 3, &enc);
  assert_true(n > 0);
  clippo_image img;
  clippo_error err;
  TEST_OK(clippo_image_decode_mem(enc, n, "ll.webp", &img, &err), &err);
  assert_int_equal(img.width, W);
  assert_int_equal(img.height, H);
  assert_memory_equal(img.data, rgb, sizeof rgb);
  clippo_image_free(&img);
  for (size_t cut = 0; cut + 1 < n; cut += 7) {
    clippo_status st = clippo_image_decode_mem(enc, cut, "cut.webp", &img, &err);
    if (st == CLIPPO_OK) fail_msg("a WebP cut to %zu of %zu bytes decoded", cut, n);
  }
  WebPFree(enc);
  /* lossy, with alpha (dropped): close to the source */
  uint8_t rgba[W * H * 4], flat[W * H * 3];
  for (int i = 0; i < W * H; i++) {
    for (int c = 0; c < 3; c++) flat[i * 3 + c] = rgba[i * 4 + c] = (uint8_t)(60 + 40 * c);
    rgba[i * 4 + 3] = (uint8_t)(i % 2 ? 255 : 100);
  }
  n = WebPEncodeRGBA(rgba, W, H, W * 4, 95.0f, &enc);
  assert_true(n > 0);
  TEST_OK(clippo_image_decode_mem(enc, n, "lossy.webp", &img, &err), &err);
  for (int i = 0; i < W * H * 3; i++)
    if (abs(img.data[i] - flat[i]) > 8) fail_msg("byte %d: %d vs %d", i, img.data[i], flat[i]);
  clippo_image_free(&img);
  WebPFree(enc);
  /* a RIFF/WEBP header with nothing valid after it */
  expect_error("RIFF\x20\0\0\0WEBPVP8 \x10\0\0\0garbagegarbage..", 36, "bad.webp", CLIPPO_E_FORMAT);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_gif_first_frame),
      cmocka_unit_test(test_gif_interlaced_local_map),
      cmocka_unit_test(test_gif_bad),
      cmocka_unit_test(test_webp),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
