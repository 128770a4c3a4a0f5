/* Host arrays: an n-dimensional, C-ordered block of numbers with a dtype. */
#ifndef CLIPPO_ARRAY_H
#define CLIPPO_ARRAY_H

#include <stddef.h>
#include <stdint.h>

#include "clippo/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Element types the engine reads, writes or computes in. */
typedef enum clippo_dtype {
  CLIPPO_F32 = 0,
  CLIPPO_F64,
  CLIPPO_F16,
  CLIPPO_BF16,
  CLIPPO_U8,
  CLIPPO_I32,
  CLIPPO_I64
} clippo_dtype;

/** Most dimensions an array may have. */
#define CLIPPO_MAX_DIMS 8

/** A host array that owns its data (free with clippo_array_free). */
typedef struct clippo_array {
  clippo_dtype dtype;
  int ndim;
  int64_t shape[CLIPPO_MAX_DIMS];
  void *data;
} clippo_array;

/** Bytes of one element of dtype dt. */
size_t clippo_dtype_size(clippo_dtype dt);

/** A short name for dt ("float32", "bfloat16"...). */
const char *clippo_dtype_name(clippo_dtype dt);

/** Number of elements of a (product of shape; 1 for ndim 0). */
size_t clippo_array_count(const clippo_array *a);

/** Allocates a zeroed array of the given dtype and shape; fails cleanly on overflow or OOM. */
clippo_status clippo_array_alloc(clippo_array *a, clippo_dtype dt, int ndim, const int64_t *shape,
                                 clippo_error *err);

/** Frees a's data and resets it to an empty array; safe on a zeroed struct. */
void clippo_array_free(clippo_array *a);

/** Writes a's shape as "(2, 3, 4)" into buf; returns buf. */
char *clippo_shape_str(const int64_t *shape, int ndim, char *buf, size_t size);

/** Converts a in place to float32 (from f64, f16, bf16, u8, i32, i64). */
clippo_status clippo_array_to_f32(clippo_array *a, clippo_error *err);

/** IEEE binary16 -> float. */
float clippo_half_to_float(uint16_t h);
/** bfloat16 (upper half of a float32) -> float. */
float clippo_bf16_to_float(uint16_t b);
/** float -> bfloat16, round to nearest even (NaN stays NaN). */
uint16_t clippo_float_to_bf16(float f);
/** float -> IEEE binary16, round to nearest even. */
uint16_t clippo_float_to_half(float f);

#ifdef __cplusplus
}
#endif
#endif
