/* Small HDF5 helpers for the task files (prompt cache, index). Not public. */
#ifndef CLIPPO_TASKS_H5_H
#define CLIPPO_TASKS_H5_H

#include <hdf5.h>
#include <stddef.h>
#include <stdint.h>

#include "clippo/status.h"

/** Writes (replacing) a fixed-length string attribute on obj. */
clippo_status h5_set_str(hid_t obj, const char *name, const char *value, const char *file,
                         clippo_error *err);

/** Reads a string attribute into a malloc'ed string (*out NULL when absent: CLIPPO_E_NOTFOUND). */
clippo_status h5_get_str(hid_t obj, const char *name, char **out, const char *file,
                         clippo_error *err);

/** Writes (replacing) an int64 scalar attribute. */
clippo_status h5_set_i64(hid_t obj, const char *name, int64_t value, const char *file,
                         clippo_error *err);

/** Reads an integer scalar attribute (CLIPPO_E_NOTFOUND when absent). */
clippo_status h5_get_i64(hid_t obj, const char *name, int64_t *value, const char *file,
                         clippo_error *err);

/** Creates an extendable chunked dataset of rank 1 (cols == 0) or 2 (rows x cols). */
clippo_status h5_create_ext(hid_t loc, const char *name, hid_t type, size_t cols, size_t chunk_rows,
                            const char *file, clippo_error *err);

/** Appends rows [have, have + n) of an extendable dataset (rank 1 or 2 with cols). */
clippo_status h5_append(hid_t loc, const char *name, hid_t memtype, size_t have, size_t n,
                        size_t cols, const void *data, const char *file, clippo_error *err);

/** Reads rows [0, n) of a rank-1 or rank-2 dataset (checking its shape has at least n rows and
 * exactly cols columns) into data. */
clippo_status h5_read_rows(hid_t loc, const char *name, hid_t memtype, size_t n, size_t cols,
                           void *data, const char *file, clippo_error *err);

/** Number of rows of a dataset (its first dimension), or -1 when it cannot be read. */
int64_t h5_rows(hid_t loc, const char *name);

#endif
