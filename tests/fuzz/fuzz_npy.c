/* libFuzzer target: arbitrary bytes as an .npy file, parsed from memory (clippo_npy_parse) and
 * loaded from a file (clippo_npy_load); both must agree, a failure must leave the array empty
 * with a message, and what decodes must survive a write / parse round trip bit for bit.
 *   scripts/fuzz.sh builds it (clang, -DCLIPPO_FUZZ=ON) and runs it on tests/fuzz/corpus_npy. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "clippo/npy.h"
#include "fuzz_util.h"

int FUZZ_ENTRY(const uint8_t *data, size_t size);

static size_t fuzz_npy_bytes(const clippo_array *a) {
  return clippo_array_count(a) * clippo_dtype_size(a->dtype);
}

static int fuzz_npy_same(const clippo_array *a, const clippo_array *b) {
  if (a->dtype != b->dtype || a->ndim != b->ndim) return 0;
  for (int i = 0; i < a->ndim; i++)
    if (a->shape[i] != b->shape[i]) return 0;
  size_t n = fuzz_npy_bytes(a);
  return n == 0 || memcmp(a->data, b->data, n) == 0;
}

int FUZZ_ENTRY(const uint8_t *data, size_t size) {
  clippo_error err;
  clippo_error_clear(&err);
  clippo_array a, b;
  clippo_status st = clippo_npy_parse(data, size, "fuzz.npy", &a, &err);
  fuzz_check_error(st != CLIPPO_OK, err.msg);
  if (st != CLIPPO_OK && (a.data || err.status != st)) abort();
  if (st == CLIPPO_OK) {
    if (a.ndim < 0 || a.ndim > CLIPPO_MAX_DIMS) abort();
    if (fuzz_npy_bytes(&a) > size) abort(); /* the data came from the input */
  }

  /* The file path must give the same answer. */
  char path[512];
  fuzz_tmp_path("npy", path, sizeof path);
  if (fuzz_write_file(path, data, size) == 0) {
    clippo_error err2;
    clippo_status st2 = clippo_npy_load(path, &b, &err2);
    remove(path);
    fuzz_check_error(st2 != CLIPPO_OK, err2.msg);
    if ((st2 == CLIPPO_OK) != (st == CLIPPO_OK)) abort();
    if (st2 != CLIPPO_OK && b.data) abort();
    if (st2 == CLIPPO_OK && !fuzz_npy_same(&a, &b)) abort();
    clippo_array_free(&b);
  }

  if (st == CLIPPO_OK) {
    /* Round trip: header_write + data parses back to the same array. */
    char hdr[1024];
    size_t hl = 0, n = fuzz_npy_bytes(&a);
    if (clippo_npy_header_write(&a, hdr, sizeof hdr, &hl, &err) == CLIPPO_OK) {
      unsigned char *buf = malloc(hl + n + 1);
      if (buf) {
        memcpy(buf, hdr, hl);
        if (n) memcpy(buf + hl, a.data, n);
        if (clippo_npy_parse(buf, hl + n, "roundtrip.npy", &b, &err) != CLIPPO_OK) abort();
        if (!fuzz_npy_same(&a, &b)) abort();
        clippo_array_free(&b);
        free(buf);
      }
    }
    /* Conversion to float32 must not fail or read out of bounds. */
    if (clippo_array_to_f32(&a, &err) != CLIPPO_OK) abort();
  }
  clippo_array_free(&a);
  return 0;
}
