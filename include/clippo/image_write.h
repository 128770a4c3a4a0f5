/* Image writers: PNG (libpng) and binary PGM/PPM, 8-bit gray or RGB. */
#ifndef CLIPPO_IMAGE_WRITE_H
#define CLIPPO_IMAGE_WRITE_H

#include <stdint.h>

#include "clippo/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Writes an 8-bit PNG; pixels are height rows of width * channels bytes (channels 1 = gray,
 * 3 = RGB, 4 = RGBA). */
clippo_status clippo_png_write(const char *path, const uint8_t *pixels, int width, int height,
                               int channels, clippo_error *err);

/** Writes a binary PNM: P5 (PGM, channels 1) or P6 (PPM, channels 3), maxval 255. */
clippo_status clippo_pnm_write(const char *path, const uint8_t *pixels, int width, int height,
                               int channels, clippo_error *err);

/** Writes by the path's extension: .png, or .pgm / .ppm / .pnm. */
clippo_status clippo_image_write(const char *path, const uint8_t *pixels, int width, int height,
                                 int channels, clippo_error *err);

#ifdef __cplusplus
}
#endif
#endif
