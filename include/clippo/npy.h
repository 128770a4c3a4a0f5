/* NumPy .npy files (format versions 1.0, 2.0 and 3.0): reading, writing, header parsing.
 * Dtypes: <f4 <f8 <f2 |u1 <i4 <i8 (big-endian variants are converted) and bfloat16 stored as
 * |V2 (upper 16 bits of a float32). Fortran-ordered arrays are transposed to C order. */
#ifndef CLIPPO_NPY_H
#define CLIPPO_NPY_H

#include <stddef.h>
#include <stdint.h>

#include "clippo/array.h"
#include "clippo/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Largest header (magic + version + length + dictionary) accepted, in bytes. */
#define CLIPPO_NPY_MAX_HEADER (1u << 20)
/** Bytes needed to read the preamble (magic, version, header length) of any version. */
#define CLIPPO_NPY_PREAMBLE 12

/** A parsed .npy header. */
typedef struct clippo_npy_header {
  clippo_dtype dtype;
  int ndim;
  int64_t shape[CLIPPO_MAX_DIMS];
  int fortran_order; /* data is in Fortran (column-major) order */
  int swap;          /* data byte order differs from the host's */
  size_t header_len; /* bytes before the data */
  size_t data_len;   /* bytes of data: count * itemsize */
} clippo_npy_header;

/** Loads the .npy file at path into *out (C order, host byte order). */
clippo_status clippo_npy_load(const char *path, clippo_array *out, clippo_error *err);

/** Writes a as an .npy file at path (version 1.0), atomically. */
clippo_status clippo_npy_save(const char *path, const clippo_array *a, clippo_error *err);

/** Parses a whole .npy held in buf[len] into *out; name (a file or member name) appears in
 * error messages. */
clippo_status clippo_npy_parse(const void *buf, size_t len, const char *name, clippo_array *out,
                               clippo_error *err);

/** Reads the preamble in buf[avail] (avail >= CLIPPO_NPY_PREAMBLE, or the whole file when it is
 * shorter) and sets *header_len to the number of bytes before the data (bounded by
 * CLIPPO_NPY_MAX_HEADER). */
clippo_status clippo_npy_preamble(const void *buf, size_t avail, const char *name,
                                  size_t *header_len, clippo_error *err);

/** Parses the header in buf[avail] (which holds at least the whole header) of an .npy whose
 * total size is file_len; checks dtype, shape overflow and that the data exactly fills the rest
 * of the file, before anything is allocated. */
clippo_status clippo_npy_parse_header(const void *buf, size_t avail, uint64_t file_len,
                                      const char *name, clippo_npy_header *h, clippo_error *err);

/** Allocates *out for header h (C-order shape), ready to receive h->data_len raw bytes. */
clippo_status clippo_npy_alloc(const clippo_npy_header *h, clippo_array *out, clippo_error *err);

/** Converts raw data just read into *a (allocated by clippo_npy_alloc) to host byte order and C
 * order. */
clippo_status clippo_npy_fix_data(const clippo_npy_header *h, clippo_array *a, clippo_error *err);

/** Writes the .npy header (preamble + padded dictionary) for a into buf[cap]; sets *len. The
 * data follows as a's raw bytes. Fails if cap is too small (CLIPPO_NPY_MAX_HEADER always fits). */
clippo_status clippo_npy_header_write(const clippo_array *a, char *buf, size_t cap, size_t *len,
                                      clippo_error *err);

#ifdef __cplusplus
}
#endif
#endif
