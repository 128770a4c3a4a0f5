/* IDX files (the MNIST / Fashion-MNIST format), plain or gzip-compressed.
 *
 * Layout: two zero bytes, a type byte (0x08 unsigned byte is the one supported), the number of
 * dimensions (1..4), then each dimension as a big-endian uint32, then the data in C order. */
#ifndef CLIPPO_IDX_H
#define CLIPPO_IDX_H

#include <stddef.h>
#include <stdint.h>

#include "clippo/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Largest number of dimensions accepted. */
#define CLIPPO_IDX_MAX_DIMS 4
/** Largest amount of data accepted (after decompression): 4 GiB. */
#define CLIPPO_IDX_MAX_BYTES ((uint64_t)1 << 32)

/** An IDX array of unsigned bytes. dims[0] is the number of items (after any limit). */
typedef struct clippo_idx {
  int ndim;
  int64_t dims[CLIPPO_IDX_MAX_DIMS];
  uint8_t *data; /* prod(dims) bytes, C order */
} clippo_idx;

/** Loads an IDX file (gzip-compressed or not: detected from the content) of unsigned bytes.
 * The header is validated (magic, type, number of dimensions, non-zero sizes, total size)
 * before anything is allocated; the buffer then grows with the data actually read, so a header
 * that lies cannot make it allocate much more than the file holds. With limit > 0 only the
 * first `limit` items (rows of dims[0]) are read. A file shorter than its header says, or with
 * bytes after the data (when the whole file is read), is CLIPPO_E_FORMAT naming the file. */
clippo_status clippo_idx_load(const char *path, size_t limit, clippo_idx *out, clippo_error *err);

/** Frees the data and zeroes idx; safe on a zeroed struct. */
void clippo_idx_free(clippo_idx *idx);

/** Number of bytes of one item: prod(dims[1..ndim)). */
size_t clippo_idx_item_size(const clippo_idx *idx);

#ifdef __cplusplus
}
#endif
#endif
