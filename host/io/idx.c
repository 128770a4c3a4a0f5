/* IDX reader (MNIST / Fashion-MNIST), gzip-compressed or plain (zlib reads both). */
#include "clippo/idx.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

void clippo_idx_free(clippo_idx *idx) {
  if (!idx) return;
  free(idx->data);
  memset(idx, 0, sizeof *idx);
}

size_t clippo_idx_item_size(const clippo_idx *idx) {
  size_t s = 1;
  for (int i = 1; i < idx->ndim; i++) s *= (size_t)idx->dims[i];
  return s;
}

/* Reads exactly n bytes; returns the number read (< n at end of data) or -1 on error. */
static long long gz_read_full(gzFile g, void *buf, size_t n) {
  size_t got = 0;
  while (got < n) {
    size_t want = n - got > (1u << 30) ? (1u << 30) : n - got;
    int r = gzread(g, (char *)buf + got, (unsigned)want);
    if (r < 0) return -1;
    if (r == 0) break;
    got += (size_t)r;
  }
  return (long long)got;
}

static const char *type_name(int t) {
  switch (t) {
  case 0x08: return "unsigned byte";
  case 0x09: return "signed byte";
  case 0x0B: return "int16";
  case 0x0C: return "int32";
  case 0x0D: return "float32";
  case 0x0E: return "float64";
  default: return NULL;
  }
}

clippo_status clippo_idx_load(const char *path, size_t limit, clippo_idx *out, clippo_error *err) {
  memset(out, 0, sizeof *out);
  gzFile g = gzopen(path, "rb");
  if (!g)
    return clippo_fail(err, errno == ENOENT ? CLIPPO_E_NOTFOUND : CLIPPO_E_IO,
                       "cannot open IDX file %s: %s", path, errno ? strerror(errno) : "zlib error");
  clippo_status st = CLIPPO_OK;
  unsigned char head[4 + 4 * CLIPPO_IDX_MAX_DIMS];
  long long r = gz_read_full(g, head, 4);
  int ndim = 0;
  uint64_t total = 1;
  if (r < 0)
    st = clippo_fail(err, CLIPPO_E_FORMAT, "%s: corrupt compressed data", path);
  else if (r < 4)
    st = clippo_fail(err, CLIPPO_E_FORMAT, "%s: too short for an IDX header", path);
  else if (head[0] != 0 || head[1] != 0)
    st = clippo_fail(err, CLIPPO_E_FORMAT,
                     "%s: not an IDX file (magic %02x %02x %02x %02x, want 00 00 TYPE NDIM)", path,
                     head[0], head[1], head[2], head[3]);
  else if (!type_name(head[2]))
    st = clippo_fail(err, CLIPPO_E_FORMAT, "%s: unknown IDX element type 0x%02x", path, head[2]);
  else if (head[2] != 0x08)
    st = clippo_fail(err, CLIPPO_E_UNSUPPORTED,
                     "%s: IDX element type %s is not supported (only "
                     "unsigned bytes)",
                     path, type_name(head[2]));
  else if (head[3] < 1 || head[3] > CLIPPO_IDX_MAX_DIMS)
    st = clippo_fail(err, CLIPPO_E_FORMAT, "%s: %d dimensions (supported: 1..%d)", path, head[3],
                     CLIPPO_IDX_MAX_DIMS);
  if (st == CLIPPO_OK) {
    ndim = head[3];
    r = gz_read_full(g, head + 4, 4 * (size_t)ndim);
    if (r != (long long)4 * ndim)
      st = clippo_fail(err, CLIPPO_E_FORMAT, "%s: truncated IDX header", path);
  }
  for (int i = 0; i < ndim && st == CLIPPO_OK; i++) {
    const unsigned char *p = head + 4 + (ptrdiff_t)4 * i;
    uint64_t d = ((uint64_t)p[0] << 24) | ((uint64_t)p[1] << 16) | ((uint64_t)p[2] << 8) | p[3];
    if (d == 0) {
      st = clippo_fail(err, CLIPPO_E_FORMAT, "%s: dimension %d is 0", path, i);
      break;
    }
    out->dims[i] = (int64_t)d;
    total *= d; /* each d < 2^32 and the product is checked at every step */
    if (total > CLIPPO_IDX_MAX_BYTES)
      st = clippo_fail(err, CLIPPO_E_FORMAT, "%s: IDX data larger than %llu bytes", path,
                       (unsigned long long)CLIPPO_IDX_MAX_BYTES);
  }
  if (st) {
    gzclose(g);
    return st;
  }
  out->ndim = ndim;
  uint64_t item = total / (uint64_t)out->dims[0];
  uint64_t items = (uint64_t)out->dims[0];
  if (limit && limit < items) items = limit;
  uint64_t want = items * item;
  /* grow with the data actually present so that a lying header cannot force a huge buffer */
  size_t cap = want < ((uint64_t)1 << 20) ? (size_t)want : ((size_t)1 << 20);
  uint8_t *buf = malloc(cap ? cap : 1);
  size_t have = 0;
  while (!st && buf && have < want) {
    if (have == cap) {
      size_t nc = cap * 2 > want ? (size_t)want : cap * 2;
      uint8_t *nb = realloc(buf, nc);
      if (!nb) break;
      buf = nb;
      cap = nc;
    }
    r = gz_read_full(g, buf + have, cap - have);
    if (r < 0)
      st = clippo_fail(err, CLIPPO_E_FORMAT, "%s: corrupt compressed data", path);
    else if (r == 0)
      break;
    else
      have += (size_t)r;
  }
  if (!st && !buf)
    st = clippo_fail(err, CLIPPO_E_NOMEM, "out of host memory reading %s", path);
  else if (!st && have < want)
    st = have == cap && cap < want
             ? clippo_fail(err, CLIPPO_E_NOMEM, "out of host memory reading %s", path)
             : clippo_fail(err, CLIPPO_E_FORMAT,
                           "%s: truncated: the header promises %llu bytes of data, the file "
                           "holds %zu",
                           path, (unsigned long long)(total), have);
  if (!st && items == (uint64_t)out->dims[0]) {
    unsigned char extra;
    r = gz_read_full(g, &extra, 1);
    if (r < 0)
      st = clippo_fail(err, CLIPPO_E_FORMAT, "%s: corrupt compressed data", path);
    else if (r > 0)
      st = clippo_fail(err, CLIPPO_E_FORMAT, "%s: unexpected bytes after the IDX data", path);
  }
  gzclose(g);
  if (st) {
    free(buf);
    memset(out, 0, sizeof *out);
    return st;
  }
  out->dims[0] = (int64_t)items;
  out->data = buf;
  return CLIPPO_OK;
}
