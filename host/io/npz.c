/* big_vision .npz checkpoints via libzip: reading params/ (and opt/) members, writing. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zip.h>

#include "clippo/atomic_file.h"
#include "clippo/checkpoint.h"
#include "clippo/npy.h"

/* Deflate cannot expand data by more than about 1032:1; a larger claimed ratio is a lie. */
#define MAX_DEFLATE_RATIO 1100u

static clippo_status zip_open_error(const char *path, int code, clippo_error *err) {
  zip_error_t ze;
  zip_error_init_with_code(&ze, code);
  clippo_status st = code == ZIP_ER_NOENT || code == ZIP_ER_OPEN || code == ZIP_ER_READ
                         ? CLIPPO_E_IO
                         : CLIPPO_E_FORMAT;
  clippo_fail(err, st, "%s: cannot open as .npz (zip): %s%s", path, zip_error_strerror(&ze),
              code == ZIP_ER_NOZIP ? " (no end-of-archive record: truncated or not a zip file)"
                                   : "");
  zip_error_fini(&ze);
  return st;
}

/* Reads exactly n bytes; a short read is a format error naming the member. */
static clippo_status read_full(zip_file_t *f, void *buf, uint64_t n, const char *path,
                               const char *member, clippo_error *err) {
  unsigned char *p = buf;
  while (n > 0) {
    zip_int64_t got = zip_fread(f, p, n);
    if (got < 0)
      return clippo_fail(err, CLIPPO_E_FORMAT, "%s: member %s: read failed: %s", path, member,
                         zip_file_strerror(f));
    if (got == 0)
      return clippo_fail(err, CLIPPO_E_FORMAT, "%s: member %s: data ends early", path, member);
    p += got;
    n -= (uint64_t)got;
  }
  return CLIPPO_OK;
}

/* Reads one .npy member into *out (dtype as stored). */
static clippo_status read_member(zip_t *z, zip_uint64_t idx, const char *path, const char *member,
                                 uint64_t file_size, clippo_array *out, clippo_error *err) {
  memset(out, 0, sizeof *out);
  zip_stat_t zs;
  zip_stat_init(&zs);
  if (zip_stat_index(z, idx, ZIP_FL_UNCHANGED, &zs) != 0 || !(zs.valid & ZIP_STAT_SIZE))
    return clippo_fail(err, CLIPPO_E_FORMAT, "%s: member %s: no size in the zip directory", path,
                       member);
  uint64_t size = zs.size;
  if ((zs.valid & ZIP_STAT_ENCRYPTION_METHOD) && zs.encryption_method != ZIP_EM_NONE)
    return clippo_fail(err, CLIPPO_E_UNSUPPORTED, "%s: member %s is encrypted", path, member);
  /* The sizes come from the zip directory: bound them by the archive before trusting them. */
  if (!(zs.valid & ZIP_STAT_COMP_SIZE) || !(zs.valid & ZIP_STAT_COMP_METHOD) ||
      zs.comp_size > file_size || (zs.comp_method == ZIP_CM_STORE && zs.comp_size != size) ||
      (zs.comp_method != ZIP_CM_STORE && size > zs.comp_size * MAX_DEFLATE_RATIO + 4096))
    return clippo_fail(err, CLIPPO_E_FORMAT,
                       "%s: member %s: implausible size %llu for %llu stored bytes in a %llu-byte "
                       "archive",
                       path, member, (unsigned long long)size, (unsigned long long)zs.comp_size,
                       (unsigned long long)file_size);
  zip_file_t *f = zip_fopen_index(z, idx, 0);
  if (!f)
    return clippo_fail(err, CLIPPO_E_FORMAT, "%s: member %s: cannot open: %s", path, member,
                       zip_strerror(z));
  size_t label_len = strlen(path) + strlen(member) + 16;
  char *label = malloc(label_len);
  char *hdr = NULL;
  clippo_status st = CLIPPO_OK;
  if (!label) {
    st = clippo_fail(err, CLIPPO_E_NOMEM, "%s: out of host memory", path);
    goto done;
  }
  snprintf(label, label_len, "%s: member %s", path, member);
  unsigned char pre[CLIPPO_NPY_PREAMBLE];
  size_t npre = size < sizeof pre ? (size_t)size : sizeof pre;
  if ((st = read_full(f, pre, npre, path, member, err))) goto done;
  size_t hl = 0;
  if ((st = clippo_npy_preamble(pre, npre, label, &hl, err))) goto done;
  if (hl > size) {
    st = clippo_fail(err, CLIPPO_E_FORMAT, "%s: truncated .npy header", label);
    goto done;
  }
  hdr = malloc(hl > npre ? hl : npre);
  if (!hdr) {
    st = clippo_fail(err, CLIPPO_E_NOMEM, "%s: out of host memory", label);
    goto done;
  }
  memcpy(hdr, pre, npre);
  if (hl > npre && (st = read_full(f, hdr + npre, hl - npre, path, member, err))) goto done;
  clippo_npy_header h;
  if ((st = clippo_npy_parse_header(hdr, hl > npre ? hl : npre, size, label, &h, err))) goto done;
  if ((st = clippo_npy_alloc(&h, out, err))) {
    clippo_error_prefix(err, "%s", label);
    goto done;
  }
  /* Bytes of the data already read with the preamble (only for tiny headers). */
  size_t early = npre > hl ? npre - hl : 0;
  if (early > h.data_len) early = h.data_len;
  if (early) memcpy(out->data, pre + hl, early);
  if ((st =
           read_full(f, (unsigned char *)out->data + early, h.data_len - early, path, member, err)))
    goto done;
  /* Reading to the end makes libzip verify the CRC. */
  unsigned char extra;
  zip_int64_t more = zip_fread(f, &extra, 1);
  if (more != 0) {
    st = clippo_fail(err, CLIPPO_E_FORMAT, "%s: %s", label,
                     more < 0 ? zip_file_strerror(f) : "more data than the zip directory says");
    goto done;
  }
  st = clippo_npy_fix_data(&h, out, err);
done:
  if (zip_fclose(f) != 0 && !st)
    st = clippo_fail(err, CLIPPO_E_FORMAT, "%s: member %s: checksum or read error", path, member);
  if (st) clippo_array_free(out);
  free(hdr);
  free(label);
  return st;
}

static int starts_with(const char *s, const char *p) { return strncmp(s, p, strlen(p)) == 0; }

/* The key of a member: name without prefix and ".npy" suffix, in buf. */
static void member_key(const char *name, size_t skip, char *buf, size_t cap) {
  snprintf(buf, cap, "%s", name + skip);
  size_t n = strlen(buf);
  if (n > 4 && strcmp(buf + n - 4, ".npy") == 0) buf[n - 4] = '\0';
}

clippo_status clippo_npz_load(const char *path, clippo_params *params, clippo_params *opt,
                              clippo_error *err) {
  struct stat sb;
  if (stat(path, &sb) != 0)
    return clippo_fail(err, CLIPPO_E_IO, "%s: cannot open: %s", path, strerror(errno));
  if (!S_ISREG(sb.st_mode)) return clippo_fail(err, CLIPPO_E_IO, "%s: not a regular file", path);
  int code = 0;
  zip_t *z = zip_open(path, ZIP_RDONLY, &code);
  if (!z) return zip_open_error(path, code, err);
  zip_int64_t n = zip_get_num_entries(z, 0);
  int has_params = 0;
  for (zip_int64_t i = 0; i < n && !has_params; i++) {
    const char *name = zip_get_name(z, (zip_uint64_t)i, ZIP_FL_ENC_RAW);
    has_params = name && starts_with(name, "params/");
  }
  clippo_status st = CLIPPO_OK;
  char key[1024];
  for (zip_int64_t i = 0; i < n && !st; i++) {
    const char *name = zip_get_name(z, (zip_uint64_t)i, ZIP_FL_ENC_RAW);
    if (!name) {
      st = clippo_fail(err, CLIPPO_E_FORMAT, "%s: zip entry %lld has no name", path, (long long)i);
      break;
    }
    size_t len = strlen(name);
    if (len == 0 || name[len - 1] == '/') continue; /* folder entries */
    clippo_params *dst = NULL;
    size_t skip = 0;
    if (starts_with(name, "opt/")) {
      dst = opt;
      skip = 4;
    } else if (has_params) {
      if (starts_with(name, "params/")) {
        dst = params;
        skip = 7;
      }
    } else {
      dst = params;
    }
    if (!dst) continue;
    if (len - skip >= sizeof key) {
      st = clippo_fail(err, CLIPPO_E_FORMAT, "%s: member name too long: %.80s...", path, name);
      break;
    }
    member_key(name, skip, key, sizeof key);
    if (!key[0]) {
      st = clippo_fail(err, CLIPPO_E_FORMAT, "%s: member %s has an empty name", path, name);
      break;
    }
    clippo_array a;
    if ((st = read_member(z, (zip_uint64_t)i, path, name, (uint64_t)sb.st_size, &a, err))) break;
    if (dst == params && a.dtype != CLIPPO_F32) {
      if (a.dtype != CLIPPO_BF16 && a.dtype != CLIPPO_F16 && a.dtype != CLIPPO_F64) {
        st = clippo_fail(err, CLIPPO_E_SHAPE,
                         "%s: parameter '%s' has dtype %s; expected a float (float32, bfloat16, "
                         "float16, float64)",
                         path, key, clippo_dtype_name(a.dtype));
        clippo_array_free(&a);
        break;
      }
      if ((st = clippo_array_to_f32(&a, err))) {
        clippo_array_free(&a);
        clippo_error_prefix(err, "%s: %s", path, key);
        break;
      }
    }
    if ((st = clippo_params_add(dst, key, &a, err))) {
      st = clippo_fail(err, CLIPPO_E_FORMAT, "%s: member %s appears twice", path, name);
      break;
    }
  }
  zip_discard(z); /* read-only: nothing to write back */
  if (st) {
    clippo_params_free(params);
    if (opt) clippo_params_free(opt);
  }
  return st;
}

/* ---- writing ---- */

/* A libzip source streaming one .npy member (header, then the array's bytes) without copies. */
typedef struct member_src {
  char hdr[1024];
  size_t hl;
  const unsigned char *data;
  uint64_t dlen, pos;
  zip_error_t ze;
} member_src;

static zip_int64_t member_cb(void *ud, void *data, zip_uint64_t len, zip_source_cmd_t cmd) {
  member_src *m = ud;
  switch (cmd) {
  case ZIP_SOURCE_OPEN: m->pos = 0; return 0;
  case ZIP_SOURCE_READ: {
    uint64_t total = m->hl + m->dlen, done = 0;
    unsigned char *out = data;
    while (done < len && m->pos < total) {
      uint64_t k;
      if (m->pos < m->hl) {
        k = m->hl - m->pos;
        if (k > len - done) k = len - done;
        memcpy(out + done, m->hdr + m->pos, (size_t)k);
      } else {
        k = total - m->pos;
        if (k > len - done) k = len - done;
        memcpy(out + done, m->data + (m->pos - m->hl), (size_t)k);
      }
      done += k;
      m->pos += k;
    }
    return (zip_int64_t)done;
  }
  case ZIP_SOURCE_CLOSE: return 0;
  case ZIP_SOURCE_STAT: {
    zip_stat_t *st = data;
    if (len < sizeof *st) return -1;
    zip_stat_init(st);
    st->size = m->hl + m->dlen;
    st->mtime = 315662400; /* 1980-01-02: reproducible files, like numpy's default */
    st->valid |= ZIP_STAT_SIZE | ZIP_STAT_MTIME;
    return sizeof *st;
  }
  case ZIP_SOURCE_ERROR: return zip_error_to_data(&m->ze, data, len);
  case ZIP_SOURCE_FREE:
    zip_error_fini(&m->ze);
    free(m);
    return 0;
  case ZIP_SOURCE_SUPPORTS:
    return zip_source_make_command_bitmap(ZIP_SOURCE_OPEN, ZIP_SOURCE_READ, ZIP_SOURCE_CLOSE,
                                          ZIP_SOURCE_STAT, ZIP_SOURCE_ERROR, ZIP_SOURCE_FREE, -1);
  default: zip_error_set(&m->ze, ZIP_ER_INVAL, 0); return -1;
  }
}

static clippo_status add_members(zip_t *z, const char *path, const clippo_params *p,
                                 const char *prefix, clippo_error *err) {
  for (size_t i = 0; p && i < p->count; i++) {
    const clippo_param *it = &p->items[i];
    member_src *m = calloc(1, sizeof *m);
    if (!m) return clippo_fail(err, CLIPPO_E_NOMEM, "%s: out of host memory", path);
    zip_error_init(&m->ze);
    clippo_status st = clippo_npy_header_write(&it->value, m->hdr, sizeof m->hdr, &m->hl, err);
    m->data = it->value.data;
    m->dlen = (uint64_t)clippo_array_count(&it->value) * clippo_dtype_size(it->value.dtype);
    if (!st && m->dlen && !m->data) st = clippo_fail(err, CLIPPO_E_ARG, "array has no data");
    if (st) {
      zip_error_fini(&m->ze);
      free(m);
      return clippo_error_prefix(err, "%s: %s%s", path, prefix, it->name);
    }
    size_t nl = strlen(prefix) + strlen(it->name) + 5;
    char *name = malloc(nl);
    zip_source_t *src = name ? zip_source_function(z, member_cb, m) : NULL;
    if (!src) {
      zip_error_fini(&m->ze);
      free(m);
      free(name);
      return clippo_fail(err, CLIPPO_E_NOMEM, "%s: out of host memory", path);
    }
    snprintf(name, nl, "%s%s.npy", prefix, it->name);
    zip_int64_t idx = zip_file_add(z, name, src, ZIP_FL_ENC_UTF_8);
    if (idx < 0) {
      zip_source_free(src);
      clippo_status e = clippo_fail(err, CLIPPO_E_ARG, "%s: cannot add member %s: %s", path, name,
                                    zip_strerror(z));
      free(name);
      return e;
    }
    free(name);
    if (zip_set_file_compression(z, (zip_uint64_t)idx, ZIP_CM_STORE, 0) != 0)
      return clippo_fail(err, CLIPPO_E_UNSUPPORTED, "%s: cannot store members: %s", path,
                         zip_strerror(z));
  }
  return CLIPPO_OK;
}

clippo_status clippo_npz_save(const char *path, const clippo_params *params,
                              const clippo_params *opt, clippo_error *err) {
  if ((!params || !params->count) && (!opt || !opt->count))
    return clippo_fail(err, CLIPPO_E_ARG, "%s: no arrays to write", path);
  char *tmp = NULL;
  clippo_status st = clippo_atomic_tmpname(path, &tmp, err);
  if (st) return st;
  int code = 0;
  zip_t *z = zip_open(tmp, ZIP_CREATE | ZIP_TRUNCATE, &code);
  if (!z) {
    remove(tmp);
    free(tmp);
    return zip_open_error(path, code, err);
  }
  if (!(st = add_members(z, path, params, "params/", err)))
    st = add_members(z, path, opt, "opt/", err);
  if (st) {
    zip_discard(z);
    remove(tmp);
    free(tmp);
    return st;
  }
  if (zip_close(z) != 0) {
    st = clippo_fail(err, CLIPPO_E_IO, "%s: writing the .npz failed: %s", path, zip_strerror(z));
    zip_discard(z);
    remove(tmp);
    free(tmp);
    return st;
  }
  st = clippo_atomic_publish(tmp, path, err);
  free(tmp);
  return st;
}
