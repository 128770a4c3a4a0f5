/* Host arrays: allocation, shape strings, dtype conversion. */
#include "clippo/array.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

size_t clippo_dtype_size(clippo_dtype dt) {
  switch (dt) {
  case CLIPPO_F32: return 4;
  case CLIPPO_F64: return 8;
  case CLIPPO_F16:
  case CLIPPO_BF16: return 2;
  case CLIPPO_U8: return 1;
  case CLIPPO_I32: return 4;
  case CLIPPO_I64: return 8;
  }
  return 0;
}

const char *clippo_dtype_name(clippo_dtype dt) {
  switch (dt) {
  case CLIPPO_F32: return "float32";
  case CLIPPO_F64: return "float64";
  case CLIPPO_F16: return "float16";
  case CLIPPO_BF16: return "bfloat16";
  case CLIPPO_U8: return "uint8";
  case CLIPPO_I32: return "int32";
  case CLIPPO_I64: return "int64";
  }
  return "unknown";
}

size_t clippo_array_count(const clippo_array *a) {
  size_t n = 1;
  for (int i = 0; i < a->ndim; i++) n *= (size_t)a->shape[i];
  return n;
}

clippo_status clippo_array_alloc(clippo_array *a, clippo_dtype dt, int ndim, const int64_t *shape,
                                 clippo_error *err) {
  memset(a, 0, sizeof *a);
  if (ndim < 0 || ndim > CLIPPO_MAX_DIMS)
    return clippo_fail(err, CLIPPO_E_SHAPE, "array rank %d out of range 0..%d", ndim,
                       CLIPPO_MAX_DIMS);
  size_t n = 1;
  for (int i = 0; i < ndim; i++) {
    if (shape[i] < 0)
      return clippo_fail(err, CLIPPO_E_SHAPE, "negative dimension %lld", (long long)shape[i]);
    if (shape[i] > 0 && n > SIZE_MAX / 16 / (size_t)shape[i])
      return clippo_fail(err, CLIPPO_E_SHAPE, "array too large");
    n *= (size_t)shape[i];
  }
  size_t bytes = n * clippo_dtype_size(dt);
  a->data = calloc(bytes ? bytes : 1, 1);
  if (!a->data)
    return clippo_fail(err, CLIPPO_E_NOMEM, "out of host memory allocating %zu bytes", bytes);
  a->dtype = dt;
  a->ndim = ndim;
  for (int i = 0; i < ndim; i++) a->shape[i] = shape[i];
  return CLIPPO_OK;
}

void clippo_array_free(clippo_array *a) {
  if (!a) return;
  free(a->data);
  memset(a, 0, sizeof *a);
}

char *clippo_shape_str(const int64_t *shape, int ndim, char *buf, size_t size) {
  size_t off = 0;
  off += (size_t)snprintf(buf, size, "(");
  for (int i = 0; i < ndim && off < size; i++)
    off += (size_t)snprintf(buf + off, size - off, "%s%lld", i ? ", " : "", (long long)shape[i]);
  if (ndim == 1 && off < size) off += (size_t)snprintf(buf + off, size - off, ",");
  if (off < size) snprintf(buf + off, size - off, ")");
  return buf;
}

float clippo_bf16_to_float(uint16_t b) {
  uint32_t u = (uint32_t)b << 16;
  float f;
  memcpy(&f, &u, 4);
  return f;
}

uint16_t clippo_float_to_bf16(float f) {
  uint32_t u;
  memcpy(&u, &f, 4);
  if ((u & 0x7f800000u) == 0x7f800000u && (u & 0x007fffffu)) return (uint16_t)((u >> 16) | 0x40);
  u += 0x7fffu + ((u >> 16) & 1u);
  return (uint16_t)(u >> 16);
}

float clippo_half_to_float(uint16_t h) {
  uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
  int exp = (h >> 10) & 0x1f;
  uint32_t mant = h & 0x3ffu;
  float f;
  if (exp == 0) {
    f = ldexpf((float)mant, -24);
    uint32_t u;
    memcpy(&u, &f, 4);
    u |= sign;
    memcpy(&f, &u, 4);
    return f;
  }
  uint32_t u;
  if (exp == 31)
    u = sign | 0x7f800000u | (mant << 13);
  else
    u = sign | ((uint32_t)(exp - 15 + 127) << 23) | (mant << 13);
  memcpy(&f, &u, 4);
  return f;
}

uint16_t clippo_float_to_half(float f) {
  uint32_t u;
  memcpy(&u, &f, 4);
  uint16_t sign = (uint16_t)((u >> 16) & 0x8000u);
  uint32_t absu = u & 0x7fffffffu;
  if (absu >= 0x7f800000u) return (uint16_t)(sign | 0x7c00u | (absu > 0x7f800000u ? 0x200u : 0));
  if (absu >= 0x477ff000u) return (uint16_t)(sign | 0x7c00u); /* overflow to inf */
  if (absu < 0x38800000u) {                                   /* subnormal or zero */
    float a;
    memcpy(&a, &absu, 4);
    float scaled = a * 16777216.0f; /* 2^24 */
    uint32_t m = (uint32_t)nearbyintf(scaled);
    return (uint16_t)(sign | m);
  }
  uint32_t mant = absu & 0x7fffffu;
  uint32_t exp = (absu >> 23) - 127 + 15;
  uint32_t h = (exp << 10) | (mant >> 13);
  uint32_t rest = mant & 0x1fffu;
  if (rest > 0x1000u || (rest == 0x1000u && (h & 1u))) h++;
  return (uint16_t)(sign | h);
}

clippo_status clippo_array_to_f32(clippo_array *a, clippo_error *err) {
  if (a->dtype == CLIPPO_F32) return CLIPPO_OK;
  size_t n = clippo_array_count(a);
  float *out = malloc(n ? n * sizeof(float) : 1);
  if (!out) return clippo_fail(err, CLIPPO_E_NOMEM, "out of host memory converting %zu values", n);
  for (size_t i = 0; i < n; i++) {
    switch (a->dtype) {
    case CLIPPO_F64: out[i] = (float)((const double *)a->data)[i]; break;
    case CLIPPO_F16: out[i] = clippo_half_to_float(((const uint16_t *)a->data)[i]); break;
    case CLIPPO_BF16: out[i] = clippo_bf16_to_float(((const uint16_t *)a->data)[i]); break;
    case CLIPPO_U8: out[i] = (float)((const uint8_t *)a->data)[i]; break;
    case CLIPPO_I32: out[i] = (float)((const int32_t *)a->data)[i]; break;
    case CLIPPO_I64: out[i] = (float)((const int64_t *)a->data)[i]; break;
    case CLIPPO_F32: break;
    }
  }
  free(a->data);
  a->data = out;
  a->dtype = CLIPPO_F32;
  return CLIPPO_OK;
}
