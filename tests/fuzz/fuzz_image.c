/* libFuzzer target: arbitrary bytes into the PNG/JPEG decoder, then a small resize and the value
 * range of whatever decodes. Built only with -DCLIPPO_FUZZ=ON and clang; instrument the library
 * too, or the fuzzer cannot see coverage inside it:
 *   CC=clang CFLAGS='-fsanitize=fuzzer-no-link,address,undefined' \
 *     cmake -S main -B build-fuzz -DCLIPPO_FUZZ=ON -DCLIPPO_BUILD_TESTS=OFF
 *   cmake --build build-fuzz --target fuzz_image
 *   build-fuzz/fuzz_image -max_len=65536 -rss_limit_mb=1024 CORPUS_DIR main/tests/fuzz/corpus_image
 * Decoding is capped at 2^22 pixels so hostile headers cannot make it use much memory. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "clippo/image.h"

#ifndef FUZZ_ENTRY /* test_fuzz_regressions.c renames the entry point */
#define FUZZ_ENTRY LLVMFuzzerTestOneInput
#endif

int FUZZ_ENTRY(const uint8_t *data, size_t size);

int FUZZ_ENTRY(const uint8_t *data, size_t size) {
  clippo_image img = {0, 0, NULL}, small = {0, 0, NULL};
  clippo_error err;
  clippo_error_clear(&err);
  if (clippo_image_detect(data, size) == CLIPPO_IMAGE_UNKNOWN && size > 0 && data[0] == 0) {
    /* Also feed the bare memory path with a NULL name now and then. */
    (void)clippo_image_decode_mem_limited(data, size, NULL, (int64_t)1 << 22, &img, &err);
    clippo_image_free(&img);
    return 0;
  }
  if (clippo_image_decode_mem_limited(data, size, "fuzz-input", (int64_t)1 << 22, &img, &err) !=
      CLIPPO_OK) {
    if (img.data) abort(); /* a failed decode must leave the image empty */
    return 0;
  }
  if (img.width <= 0 || img.height <= 0 || !img.data) abort();
  const int ow = 1 + (int)(size % 7), oh = 1 + (int)(size % 5);
  if (clippo_image_resize_bilinear(&img, ow, oh, &small, &err) == CLIPPO_OK) {
    float out[7 * 5 * 3];
    clippo_image_to_input(&small, out);
    for (int i = 0; i < ow * oh * 3; i++)
      if (!(out[i] >= -1.0f && out[i] <= 1.0f)) abort();
  }
  clippo_image_free(&small);
  clippo_image_free(&img);
  return 0;
}
