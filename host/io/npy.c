/* NumPy .npy reading and writing: header parser (v1.0/2.0/3.0), byte order, Fortran order. */
#include "clippo/npy.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "clippo/atomic_file.h"

static const unsigned char npy_magic[6] = {0x93, 'N', 'U', 'M', 'P', 'Y'};

static int host_is_le(void) {
  const uint16_t one = 1;
  unsigned char b;
  memcpy(&b, &one, 1);
  return b == 1;
}

clippo_status clippo_npy_preamble(const void *buf, size_t avail, const char *name,
                                  size_t *header_len, clippo_error *err) {
  const unsigned char *b = buf;
  if (!name) name = "<npy>";
  if (avail < 10 || memcmp(b, npy_magic, 6) != 0)
    return clippo_fail(err, CLIPPO_E_FORMAT, "%s: not a .npy file (bad magic or too short)", name);
  int major = b[6], minor = b[7];
  size_t total;
  if (major == 1) {
    total = 10 + ((size_t)b[8] | (size_t)b[9] << 8);
  } else if (major == 2 || major == 3) {
    if (avail < 12) return clippo_fail(err, CLIPPO_E_FORMAT, "%s: truncated .npy preamble", name);
    uint32_t hl =
        (uint32_t)b[8] | (uint32_t)b[9] << 8 | (uint32_t)b[10] << 16 | (uint32_t)b[11] << 24;
    if (hl > CLIPPO_NPY_MAX_HEADER)
      return clippo_fail(err, CLIPPO_E_FORMAT,
                         "%s: .npy header length %u exceeds the limit of %u bytes", name,
                         (unsigned)hl, (unsigned)CLIPPO_NPY_MAX_HEADER);
    total = 12 + (size_t)hl;
  } else {
    return clippo_fail(err, CLIPPO_E_FORMAT, "%s: unsupported .npy format version %d.%d", name,
                       major, minor);
  }
  if (minor != 0)
    return clippo_fail(err, CLIPPO_E_FORMAT, "%s: unsupported .npy format version %d.%d", name,
                       major, minor);
  if (total > CLIPPO_NPY_MAX_HEADER)
    return clippo_fail(err, CLIPPO_E_FORMAT, "%s: .npy header length %zu exceeds the limit", name,
                       total);
  *header_len = total;
  return CLIPPO_OK;
}

/* ---- a small parser for the header's Python dict literal ---- */

typedef struct cursor {
  const char *p, *end;
} cursor;

static void skip_ws(cursor *c) {
  while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r')) c->p++;
}

static int eat(cursor *c, char ch) {
  skip_ws(c);
  if (c->p < c->end && *c->p == ch) {
    c->p++;
    return 1;
  }
  return 0;
}

/* A quoted string without escapes; 0 on syntax error or if it does not fit in out[cap]. */
static int parse_string(cursor *c, char *out, size_t cap) {
  skip_ws(c);
  if (c->p >= c->end || (*c->p != '\'' && *c->p != '"')) return 0;
  char q = *c->p++;
  size_t n = 0;
  while (c->p < c->end && *c->p != q) {
    if (*c->p == '\\' || n + 1 >= cap) return 0;
    out[n++] = *c->p++;
  }
  if (c->p >= c->end) return 0;
  c->p++;
  out[n] = '\0';
  return 1;
}

static int parse_word(cursor *c, const char *w) {
  skip_ws(c);
  size_t n = strlen(w);
  if ((size_t)(c->end - c->p) >= n && memcmp(c->p, w, n) == 0) {
    c->p += n;
    return 1;
  }
  return 0;
}

/* A non-negative integer literal (optional Python 2 'L' suffix); -1 syntax, -2 overflow. */
static int parse_dim(cursor *c, int64_t *v) {
  skip_ws(c);
  if (c->p >= c->end || *c->p < '0' || *c->p > '9') return -1;
  int64_t x = 0;
  while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
    int d = *c->p++ - '0';
    if (x > (INT64_MAX - d) / 10) return -2;
    x = x * 10 + d;
  }
  if (c->p < c->end && (*c->p == 'L' || *c->p == 'l')) c->p++;
  *v = x;
  return 0;
}

/* Maps a descr string to a dtype; sets *swap when its byte order is not the host's. */
static int parse_descr(const char *d, clippo_dtype *dt, int *swap) {
  char order = d[0];
  if (order != '<' && order != '>' && order != '=' && order != '|') return 0;
  const char *t = d + 1;
  int le = host_is_le();
  int file_le = order == '<' ? 1 : order == '>' ? 0 : le;
  *swap = 0;
  if (strcmp(t, "u1") == 0 || strcmp(t, "B") == 0) {
    *dt = CLIPPO_U8;
    return 1;
  }
  if (strcmp(t, "V2") == 0) { /* bfloat16 as written by JAX / ml_dtypes: little-endian bytes */
    if (order == '>') return 0;
    *dt = CLIPPO_BF16;
    *swap = !le;
    return 1;
  }
  if (order == '|') return 0; /* multi-byte numbers need a byte order */
  if (strcmp(t, "f4") == 0)
    *dt = CLIPPO_F32;
  else if (strcmp(t, "f8") == 0)
    *dt = CLIPPO_F64;
  else if (strcmp(t, "f2") == 0)
    *dt = CLIPPO_F16;
  else if (strcmp(t, "i4") == 0)
    *dt = CLIPPO_I32;
  else if (strcmp(t, "i8") == 0)
    *dt = CLIPPO_I64;
  else
    return 0;
  *swap = file_le != le;
  return 1;
}

clippo_status clippo_npy_parse_header(const void *buf, size_t avail, uint64_t file_len,
                                      const char *name, clippo_npy_header *h, clippo_error *err) {
  if (!name) name = "<npy>";
  memset(h, 0, sizeof *h);
  size_t hl = 0;
  clippo_status st = clippo_npy_preamble(buf, avail, name, &hl, err);
  if (st) return st;
  if (hl > avail || hl > file_len)
    return clippo_fail(err, CLIPPO_E_FORMAT,
                       "%s: truncated .npy header (needs %zu bytes, file has %llu)", name, hl,
                       (unsigned long long)file_len);
  const char *b = buf;
  size_t pre = ((const unsigned char *)buf)[6] == 1 ? 10 : 12;
  cursor c = {b + pre, b + hl};
  char descr[32] = "", key[32];
  int have_descr = 0, have_fortran = 0, have_shape = 0;
  if (!eat(&c, '{')) goto syntax;
  for (;;) {
    if (eat(&c, '}')) break;
    if (!parse_string(&c, key, sizeof key) || !eat(&c, ':')) goto syntax;
    if (strcmp(key, "descr") == 0) {
      skip_ws(&c);
      if (c.p < c.end && (*c.p == '[' || *c.p == '('))
        return clippo_fail(err, CLIPPO_E_UNSUPPORTED,
                           "%s: structured .npy dtypes are not supported", name);
      if (!parse_string(&c, descr, sizeof descr)) goto syntax;
      have_descr = 1;
    } else if (strcmp(key, "fortran_order") == 0) {
      if (parse_word(&c, "True"))
        h->fortran_order = 1;
      else if (parse_word(&c, "False"))
        h->fortran_order = 0;
      else
        goto syntax;
      have_fortran = 1;
    } else if (strcmp(key, "shape") == 0) {
      if (!eat(&c, '(')) goto syntax;
      h->ndim = 0;
      for (;;) {
        if (eat(&c, ')')) break;
        int64_t v;
        int r = parse_dim(&c, &v);
        if (r == -2)
          return clippo_fail(err, CLIPPO_E_FORMAT, "%s: .npy shape dimension overflows", name);
        if (r) goto syntax;
        if (h->ndim >= CLIPPO_MAX_DIMS)
          return clippo_fail(err, CLIPPO_E_UNSUPPORTED, "%s: .npy array has more than %d dims",
                             name, CLIPPO_MAX_DIMS);
        h->shape[h->ndim++] = v;
        if (eat(&c, ',')) continue;
        if (eat(&c, ')')) break;
        goto syntax;
      }
      have_shape = 1;
    } else {
      return clippo_fail(err, CLIPPO_E_FORMAT, "%s: unexpected key '%s' in .npy header", name, key);
    }
    if (eat(&c, ',')) continue;
    if (eat(&c, '}')) break;
    goto syntax;
  }
  skip_ws(&c);
  while (c.p < c.end && *c.p == '\0') c.p++; /* some writers pad with NULs */
  if (c.p != c.end) goto syntax;
  if (!have_descr || !have_fortran || !have_shape)
    return clippo_fail(err, CLIPPO_E_FORMAT, "%s: .npy header lacks '%s'", name,
                       !have_descr     ? "descr"
                       : !have_fortran ? "fortran_order"
                                       : "shape");
  if (!parse_descr(descr, &h->dtype, &h->swap))
    return clippo_fail(err, CLIPPO_E_UNSUPPORTED,
                       "%s: .npy dtype '%s' is not supported (use <f4 <f8 <f2 |u1 <i4 <i8 or "
                       "bfloat16 as |V2)",
                       name, descr);
  /* Bound the product of the non-zero dimensions too: an empty array must not carry dimensions
   * whose products overflow wherever shapes are multiplied later. */
  uint64_t count = 1, nonzero = 1;
  size_t isz = clippo_dtype_size(h->dtype);
  for (int i = 0; i < h->ndim; i++) {
    uint64_t d = (uint64_t)h->shape[i];
    if (d && nonzero > UINT64_MAX / 16 / d)
      return clippo_fail(err, CLIPPO_E_FORMAT, "%s: .npy shape overflows", name);
    if (d) nonzero *= d;
    count *= d;
  }
  uint64_t bytes = count * isz;
  if (bytes > SIZE_MAX / 2)
    return clippo_fail(err, CLIPPO_E_FORMAT, "%s: .npy array of %llu bytes is too large", name,
                       (unsigned long long)bytes);
  uint64_t have = file_len - hl;
  char sbuf[256];
  if (bytes > have)
    return clippo_fail(err, CLIPPO_E_FORMAT,
                       "%s: truncated .npy data: %s %s needs %llu bytes, file has %llu", name,
                       clippo_dtype_name(h->dtype), clippo_shape_str(h->shape, h->ndim, sbuf, 256),
                       (unsigned long long)bytes, (unsigned long long)have);
  if (bytes < have)
    return clippo_fail(err, CLIPPO_E_FORMAT,
                       "%s: %llu unexpected bytes after the .npy data of %s %s", name,
                       (unsigned long long)(have - bytes), clippo_dtype_name(h->dtype),
                       clippo_shape_str(h->shape, h->ndim, sbuf, 256));
  h->header_len = hl;
  h->data_len = (size_t)bytes;
  return CLIPPO_OK;
syntax:
  return clippo_fail(err, CLIPPO_E_FORMAT, "%s: malformed .npy header near offset %zu", name,
                     (size_t)(c.p - b));
}

clippo_status clippo_npy_alloc(const clippo_npy_header *h, clippo_array *out, clippo_error *err) {
  return clippo_array_alloc(out, h->dtype, h->ndim, h->shape, err);
}

static void swap_bytes(unsigned char *p, size_t n, size_t isz) {
  for (size_t i = 0; i < n; i++, p += isz)
    for (size_t a = 0, b = isz - 1; a < b; a++, b--) {
      unsigned char t = p[a];
      p[a] = p[b];
      p[b] = t;
    }
}

clippo_status clippo_npy_fix_data(const clippo_npy_header *h, clippo_array *a, clippo_error *err) {
  size_t isz = clippo_dtype_size(h->dtype);
  size_t n = clippo_array_count(a);
  if (h->swap && isz > 1) swap_bytes(a->data, n, isz);
  if (!h->fortran_order || h->ndim < 2 || n == 0) return CLIPPO_OK;
  unsigned char *dst = malloc(n * isz);
  if (!dst) return clippo_fail(err, CLIPPO_E_NOMEM, "out of host memory transposing an array");
  const unsigned char *src = a->data;
  /* Walk the C-order index; the Fortran offset of index i is sum i_k * prod_{j<k} d_j. */
  size_t fstride[CLIPPO_MAX_DIMS], idx[CLIPPO_MAX_DIMS] = {0};
  size_t s = 1;
  for (int k = 0; k < h->ndim; k++) {
    fstride[k] = s;
    s *= (size_t)h->shape[k];
  }
  size_t off = 0;
  for (size_t i = 0; i < n; i++) {
    memcpy(dst + i * isz, src + off * isz, isz);
    for (int k = h->ndim - 1; k >= 0; k--) {
      off += fstride[k];
      if (++idx[k] < (size_t)h->shape[k]) break;
      off -= fstride[k] * idx[k];
      idx[k] = 0;
    }
  }
  free(a->data);
  a->data = dst;
  return CLIPPO_OK;
}

clippo_status clippo_npy_parse(const void *buf, size_t len, const char *name, clippo_array *out,
                               clippo_error *err) {
  memset(out, 0, sizeof *out);
  clippo_npy_header h;
  clippo_status st = clippo_npy_parse_header(buf, len, len, name, &h, err);
  if (st) return st;
  st = clippo_npy_alloc(&h, out, err);
  if (st) return clippo_error_prefix(err, "%s", name ? name : "<npy>");
  if (h.data_len) memcpy(out->data, (const char *)buf + h.header_len, h.data_len);
  st = clippo_npy_fix_data(&h, out, err);
  if (st) clippo_array_free(out);
  return st;
}

clippo_status clippo_npy_load(const char *path, clippo_array *out, clippo_error *err) {
  memset(out, 0, sizeof *out);
  FILE *f = fopen(path, "rb");
  if (!f) return clippo_fail(err, CLIPPO_E_IO, "%s: cannot open: %s", path, strerror(errno));
  clippo_status st = CLIPPO_OK;
  char *hdr = NULL;
  struct stat sb;
  if (fstat(fileno(f), &sb) != 0 || !S_ISREG(sb.st_mode)) {
    st = clippo_fail(err, CLIPPO_E_IO, "%s: not a regular file", path);
    goto done;
  }
  uint64_t size = (uint64_t)sb.st_size;
  unsigned char pre[CLIPPO_NPY_PREAMBLE];
  size_t got = fread(pre, 1, sizeof pre, f);
  size_t hl = 0;
  if ((st = clippo_npy_preamble(pre, got, path, &hl, err))) goto done;
  if (hl > size) {
    st = clippo_fail(err, CLIPPO_E_FORMAT, "%s: truncated .npy header", path);
    goto done;
  }
  hdr = malloc(hl);
  if (!hdr) {
    st = clippo_fail(err, CLIPPO_E_NOMEM, "%s: out of host memory", path);
    goto done;
  }
  memcpy(hdr, pre, got < hl ? got : hl);
  if (hl > got && fread(hdr + got, 1, hl - got, f) != hl - got) {
    st = clippo_fail(err, CLIPPO_E_FORMAT, "%s: truncated .npy header", path);
    goto done;
  }
  if (hl < got && fseek(f, (long)hl, SEEK_SET) != 0) {
    st = clippo_fail(err, CLIPPO_E_IO, "%s: seek failed", path);
    goto done;
  }
  clippo_npy_header h;
  if ((st = clippo_npy_parse_header(hdr, hl, size, path, &h, err))) goto done;
  if ((st = clippo_npy_alloc(&h, out, err))) {
    clippo_error_prefix(err, "%s", path);
    goto done;
  }
  if (h.data_len && fread(out->data, 1, h.data_len, f) != h.data_len) {
    st = clippo_fail(err, ferror(f) ? CLIPPO_E_IO : CLIPPO_E_FORMAT, "%s: truncated .npy data",
                     path);
    goto done;
  }
  st = clippo_npy_fix_data(&h, out, err);
done:
  if (st) clippo_array_free(out);
  free(hdr);
  fclose(f);
  return st;
}

static const char *descr_of(clippo_dtype dt) {
  int le = host_is_le();
  switch (dt) {
  case CLIPPO_F32: return le ? "<f4" : ">f4";
  case CLIPPO_F64: return le ? "<f8" : ">f8";
  case CLIPPO_F16: return le ? "<f2" : ">f2";
  case CLIPPO_BF16: return "|V2";
  case CLIPPO_U8: return "|u1";
  case CLIPPO_I32: return le ? "<i4" : ">i4";
  case CLIPPO_I64: return le ? "<i8" : ">i8";
  }
  return NULL;
}

clippo_status clippo_npy_header_write(const clippo_array *a, char *buf, size_t cap, size_t *len,
                                      clippo_error *err) {
  const char *descr = descr_of(a->dtype);
  if (!descr) return clippo_fail(err, CLIPPO_E_ARG, "cannot write dtype %d to .npy", a->dtype);
  if (a->ndim < 0 || a->ndim > CLIPPO_MAX_DIMS)
    return clippo_fail(err, CLIPPO_E_ARG, "cannot write an array of rank %d", a->ndim);
  char dict[512], shp[256];
  clippo_shape_str(a->shape, a->ndim, shp, sizeof shp);
  int n = snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': %s, }",
                   descr, shp);
  if (n < 0 || (size_t)n >= sizeof dict)
    return clippo_fail(err, CLIPPO_E_ARG, "array shape too long for an .npy header");
  /* Version 1.0 (2-byte length) always fits such a short dict; pad to a multiple of 64. */
  size_t total = 10 + (size_t)n + 1;
  total = (total + 63) / 64 * 64;
  if (total > cap) return clippo_fail(err, CLIPPO_E_ARG, "buffer too small for an .npy header");
  size_t hl = total - 10;
  memcpy(buf, npy_magic, 6);
  buf[6] = 1;
  buf[7] = 0;
  buf[8] = (char)(hl & 0xff);
  buf[9] = (char)(hl >> 8);
  memcpy(buf + 10, dict, (size_t)n);
  memset(buf + 10 + n, ' ', total - 10 - (size_t)n - 1);
  buf[total - 1] = '\n';
  *len = total;
  return CLIPPO_OK;
}

clippo_status clippo_npy_save(const char *path, const clippo_array *a, clippo_error *err) {
  char hdr[1024];
  size_t hl = 0;
  clippo_status st = clippo_npy_header_write(a, hdr, sizeof hdr, &hl, err);
  if (st) return clippo_error_prefix(err, "%s", path);
  size_t bytes = clippo_array_count(a) * clippo_dtype_size(a->dtype);
  if (bytes && !a->data) return clippo_fail(err, CLIPPO_E_ARG, "%s: array has no data", path);
  clippo_atomic_file af;
  if ((st = clippo_atomic_open(&af, path, err))) return st;
  if ((st = clippo_atomic_write(&af, hdr, hl, err)) ||
      (st = clippo_atomic_write(&af, a->data, bytes, err))) {
    clippo_atomic_abort(&af);
    return st;
  }
  return clippo_atomic_commit(&af, err);
}
