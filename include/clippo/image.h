/* Image files into model inputs, exactly as big_vision preprocesses them for CLIPPO:
 * decode(channels=3) | resize(size) | value_range(-1, 1).
 *
 * Decoding follows TensorFlow's tf.io.decode_image(channels=3, dtype=uint8):
 *  - the format is detected from the magic bytes (PNG, JPEG), never from the file name;
 *  - PNG: gray is replicated to RGB, palettes are expanded, alpha and tRNS transparency are
 *    dropped (not composited), 1/2/4-bit gray is scaled to 8 bits, 16-bit samples keep their
 *    high byte (v >> 8, libpng's png_set_strip_16, as TensorFlow does), Adam7 is deinterlaced,
 *    gamma/colour chunks are ignored;
 *  - JPEG: libjpeg(-turbo) with TensorFlow's decode_image settings: DCT method JDCT_IFAST,
 *    fancy upsampling on, block smoothing default, no recovery of truncated files (a file that
 *    ends before its EOI marker is an error, as in TensorFlow); grayscale is replicated; CMYK and
 *    YCCK are converted to RGB with TensorFlow's formula (inverted when an Adobe marker is
 *    present); corrupt-data warnings are not errors (as in TensorFlow); EXIF orientation is
 *    ignored (TensorFlow ignores it too);
 *  - GIF (giflib): the first frame painted on a black canvas of the logical screen size,
 *    transparent pixels left black, as decode_image(expand_animations=False) does;
 *  - WebP (libwebp): still images, alpha dropped; animated files are CLIPPO_E_UNSUPPORTED;
 *  - BMP is recognised and rejected with CLIPPO_E_UNSUPPORTED (Debian has no maintained BMP
 *    decoder library; gdk-pixbuf disables its own BMP loader by default as unmaintained).
 * Resizing is tf.image.resize(method="bilinear", antialias=False) (half-pixel centres, float32
 * arithmetic in TensorFlow's order, aspect ratio not kept), clipped to [0, 255] and cast back to
 * uint8 by truncation, as big_vision's `resize` op does. */
#ifndef CLIPPO_IMAGE_H
#define CLIPPO_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "clippo/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Largest number of pixels (width * height) a decoded image may have: 2^28 (768 MiB of RGB).
 * Checked from the file header, before any pixel buffer is allocated. */
#define CLIPPO_IMAGE_MAX_PIXELS ((int64_t)1 << 28)
/** Largest width or height accepted (PNG allows up to 2^31 - 1, JPEG up to 65535). */
#define CLIPPO_IMAGE_MAX_SIDE 1000000
/** Largest image file read into memory: 1 GiB. */
#define CLIPPO_IMAGE_MAX_FILE_BYTES ((size_t)1 << 30)

/** An 8-bit RGB image: height rows of width pixels of 3 bytes (R, G, B), top row first, no
 * padding (HWC). Owns its data: free with clippo_image_free. */
typedef struct clippo_image {
  int width;
  int height;
  uint8_t *data;
} clippo_image;

/** Encoded formats recognised by their magic bytes. */
typedef enum clippo_image_format {
  CLIPPO_IMAGE_UNKNOWN = 0,
  CLIPPO_IMAGE_PNG,
  CLIPPO_IMAGE_JPEG,
  CLIPPO_IMAGE_GIF, /* first frame */
  CLIPPO_IMAGE_BMP, /* recognised, not decoded */
  CLIPPO_IMAGE_WEBP /* still images */
} clippo_image_format;

/** The format of an encoded image from its first bytes (TensorFlow's signatures). */
clippo_image_format clippo_image_detect(const void *data, size_t size);

/** Decodes a PNG, JPEG, GIF or WebP held in memory into *img (RGB, 8 bits). `name` (may be
 * NULL) names the source in error messages. Errors: CLIPPO_E_FORMAT (not an image, corrupt,
 * truncated, zero size), CLIPPO_E_UNSUPPORTED (BMP, animated WebP, or over
 * CLIPPO_IMAGE_MAX_PIXELS / CLIPPO_IMAGE_MAX_SIDE), CLIPPO_E_NOMEM. On failure *img is empty. */
clippo_status clippo_image_decode_mem(const void *data, size_t size, const char *name,
                                      clippo_image *img, clippo_error *err);

/** clippo_image_decode_mem with a caller-chosen pixel limit (<= CLIPPO_IMAGE_MAX_PIXELS; a
 * smaller one bounds the memory a hostile file can make the decoder use, e.g. when fuzzing). */
clippo_status clippo_image_decode_mem_limited(const void *data, size_t size, const char *name,
                                              int64_t max_pixels, clippo_image *img,
                                              clippo_error *err);

/** Reads and decodes an image file. CLIPPO_E_IO when it cannot be opened or read (missing file,
 * directory, larger than CLIPPO_IMAGE_MAX_FILE_BYTES); otherwise as clippo_image_decode_mem. Every
 * message names the file. */
clippo_status clippo_image_load(const char *path, clippo_image *img, clippo_error *err);

/** Frees img's pixels and zeroes it; safe on a zeroed struct. */
void clippo_image_free(clippo_image *img);

/** Bilinear resize to out_w x out_h exactly as tf.image.resize(bilinear, antialias=False)
 * followed by big_vision's clip-and-cast to uint8 (truncation). Allocates *out (which must not
 * alias *in). CLIPPO_E_ARG for empty input or non-positive / too large output sizes. */
clippo_status clippo_image_resize_bilinear(const clippo_image *in, int out_w, int out_h,
                                           clippo_image *out, clippo_error *err);

/** The float32 result of tf.image.resize(bilinear, antialias=False), before the cast: writes
 * out_h * out_w * 3 floats (HWC) to dst. CLIPPO_E_ARG as clippo_image_resize_bilinear. */
clippo_status clippo_image_resize_bilinear_f32(const clippo_image *in, int out_w, int out_h,
                                               float *dst, clippo_error *err);

/** big_vision value_range(-1, 1): dst[i] = -1 + 2 * (v / 255) in float32, for the
 * height * width * 3 bytes of img (HWC, i.e. one slot of an NHWC batch). */
void clippo_image_to_input(const clippo_image *img, float *dst);

/** decode | resize(size) | value_range(-1, 1) for an encoded image in memory: writes
 * size * size * 3 floats (HWC) to dst, one slot of an NHWC float32 batch. `name` as in
 * clippo_image_decode_mem. */
clippo_status clippo_image_preprocess_mem(const void *data, size_t nbytes, const char *name,
                                          int size, float *dst, clippo_error *err);

/** clippo_image_preprocess_mem for a file. */
clippo_status clippo_image_preprocess_file(const char *path, int size, float *dst,
                                           clippo_error *err);

#ifdef __cplusplus
}
#endif
#endif
