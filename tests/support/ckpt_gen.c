/* Test helper: random checkpoints in big_vision's .npz layout and a raw zip writer. */
#include "ckpt_gen.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zip.h>

#include "clippo/npy.h"
#include "support.h"

void ckpt_gen_tiny(clippo_config *cfg) {
  clippo_config_b16(cfg);
  cfg->width = 64;
  cfg->depth = 2;
  cfg->heads = 4;
  cfg->mlp_dim = 128;
  cfg->patch = 8;
  cfg->image_size = 32;
  cfg->out_dim = 32;
}

clippo_status ckpt_gen_params(const clippo_config *cfg, uint64_t seed, clippo_params *p,
                              clippo_error *err) {
  clippo_param_spec *specs = NULL;
  size_t n = 0;
  clippo_status st = clippo_params_spec(cfg, &specs, &n, err);
  if (st) return st;
  test_rng r;
  test_rng_seed(&r, seed);
  for (size_t i = 0; i < n && !st; i++) {
    clippo_array a;
    if ((st = clippo_array_alloc(&a, CLIPPO_F32, specs[i].ndim, specs[i].shape, err))) break;
    float *x = a.data;
    float off = 0.01f * (float)(i + 1);
    for (size_t k = 0; k < clippo_array_count(&a); k++) {
      float v = off + 0.05f * test_rng_normal(&r);
      x[k] = v == 0.0f ? 1e-3f : v;
    }
    st = clippo_params_add(p, specs[i].name, &a, err);
  }
  free(specs);
  if (st) clippo_params_free(p);
  return st;
}

/* ---- a raw zip writer (stored members, zip64 everywhere) ---- */

static uint32_t crc32_update(uint32_t crc, const unsigned char *p, size_t n, const uint32_t *t) {
  crc = ~crc;
  for (size_t i = 0; i < n; i++) crc = t[(crc ^ p[i]) & 0xffu] ^ (crc >> 8);
  return ~crc;
}

static void put16(unsigned char *b, uint16_t v) {
  b[0] = (unsigned char)v;
  b[1] = (unsigned char)(v >> 8);
}
static void put32(unsigned char *b, uint32_t v) {
  for (int i = 0; i < 4; i++) b[i] = (unsigned char)(v >> (8 * i));
}
static void put64(unsigned char *b, uint64_t v) {
  for (int i = 0; i < 8; i++) b[i] = (unsigned char)(v >> (8 * i));
}

static clippo_status zip64_raw(const char *path, const ckpt_gen_member *m, size_t n,
                               clippo_error *err) {
  uint32_t table[256];
  for (uint32_t i = 0; i < 256; i++) {
    uint32_t c = i;
    for (int k = 0; k < 8; k++) c = (c & 1) ? 0xedb88320u ^ (c >> 1) : c >> 1;
    table[i] = c;
  }
  FILE *f = fopen(path, "wb");
  if (!f) return clippo_fail(err, CLIPPO_E_IO, "%s: cannot create", path);
  uint64_t *offs = calloc(n ? n : 1, sizeof *offs);
  uint32_t *crcs = calloc(n ? n : 1, sizeof *crcs);
  uint64_t pos = 0;
  int bad = !offs || !crcs;
  unsigned char h[64];
  for (size_t i = 0; i < n && !bad; i++) {
    size_t nl = strlen(m[i].name);
    crcs[i] = crc32_update(0, m[i].data, m[i].len, table);
    offs[i] = pos;
    memset(h, 0, sizeof h);
    put32(h, 0x04034b50u);
    put16(h + 4, 45);
    put16(h + 8, 0);     /* stored */
    put16(h + 12, 0x21); /* 1980-01-01 */
    put32(h + 14, crcs[i]);
    put32(h + 18, 0xffffffffu);
    put32(h + 22, 0xffffffffu);
    put16(h + 26, (uint16_t)nl);
    put16(h + 28, 20);
    unsigned char x[20];
    put16(x, 1);
    put16(x + 2, 16);
    put64(x + 4, m[i].len);
    put64(x + 12, m[i].len);
    bad |= fwrite(h, 1, 30, f) != 30 || fwrite(m[i].name, 1, nl, f) != nl ||
           fwrite(x, 1, 20, f) != 20 || (m[i].len && fwrite(m[i].data, 1, m[i].len, f) != m[i].len);
    pos += 30 + nl + 20 + m[i].len;
  }
  uint64_t cd_start = pos;
  for (size_t i = 0; i < n && !bad; i++) {
    size_t nl = strlen(m[i].name);
    memset(h, 0, sizeof h);
    put32(h, 0x02014b50u);
    put16(h + 4, 45 | (3 << 8));
    put16(h + 6, 45);
    put16(h + 14, 0x21);
    put32(h + 16, crcs[i]);
    put32(h + 20, 0xffffffffu);
    put32(h + 24, 0xffffffffu);
    put16(h + 28, (uint16_t)nl);
    put16(h + 30, 28);
    put32(h + 38, 0644u << 16);
    put32(h + 42, 0xffffffffu);
    unsigned char x[28];
    put16(x, 1);
    put16(x + 2, 24);
    put64(x + 4, m[i].len);
    put64(x + 12, m[i].len);
    put64(x + 20, offs[i]);
    bad |=
        fwrite(h, 1, 46, f) != 46 || fwrite(m[i].name, 1, nl, f) != nl || fwrite(x, 1, 28, f) != 28;
    pos += 46 + nl + 28;
  }
  uint64_t cd_size = pos - cd_start;
  unsigned char e[56 + 20 + 22];
  memset(e, 0, sizeof e);
  put32(e, 0x06064b50u); /* zip64 end of central directory record */
  put64(e + 4, 44);
  put16(e + 12, 45);
  put16(e + 14, 45);
  put64(e + 24, n);
  put64(e + 32, n);
  put64(e + 40, cd_size);
  put64(e + 48, cd_start);
  put32(e + 56, 0x07064b50u); /* zip64 locator */
  put64(e + 64, pos);
  put32(e + 72, 1);
  put32(e + 76, 0x06054b50u); /* end of central directory, everything deferred to zip64 */
  put16(e + 84, 0xffff);
  put16(e + 86, 0xffff);
  put32(e + 88, 0xffffffffu);
  put32(e + 92, 0xffffffffu);
  bad |= fwrite(e, 1, sizeof e, f) != sizeof e;
  bad |= fclose(f) != 0;
  free(offs);
  free(crcs);
  return bad ? clippo_fail(err, CLIPPO_E_IO, "%s: write failed", path) : CLIPPO_OK;
}

static clippo_status zip_libzip(const char *path, const ckpt_gen_member *m, size_t n, int deflate,
                                clippo_error *err) {
  int code = 0;
  zip_t *z = zip_open(path, ZIP_CREATE | ZIP_TRUNCATE, &code);
  if (!z) return clippo_fail(err, CLIPPO_E_IO, "%s: zip_open failed (%d)", path, code);
  for (size_t i = 0; i < n; i++) {
    zip_source_t *s = zip_source_buffer(z, m[i].data, m[i].len, 0);
    zip_int64_t idx = s ? zip_file_add(z, m[i].name, s, ZIP_FL_ENC_UTF_8) : -1;
    if (idx < 0 || zip_set_file_compression(z, (zip_uint64_t)idx,
                                            deflate ? ZIP_CM_DEFLATE : ZIP_CM_STORE, 0) != 0) {
      if (s && idx < 0) zip_source_free(s);
      clippo_status st = clippo_fail(err, CLIPPO_E_IO, "%s: %s", path, zip_strerror(z));
      zip_discard(z);
      return st;
    }
  }
  if (zip_close(z) != 0) {
    clippo_status st = clippo_fail(err, CLIPPO_E_IO, "%s: %s", path, zip_strerror(z));
    zip_discard(z);
    return st;
  }
  return CLIPPO_OK;
}

clippo_status ckpt_gen_zip(const char *path, const ckpt_gen_member *m, size_t n, int zip64,
                           int deflate, clippo_error *err) {
  if (zip64 && !deflate) return zip64_raw(path, m, n, err);
  return zip_libzip(path, m, n, deflate, err);
}

clippo_status ckpt_gen_npy_bytes(const clippo_array *a, void **buf, size_t *len,
                                 clippo_error *err) {
  char hdr[1024];
  size_t hl = 0;
  clippo_status st = clippo_npy_header_write(a, hdr, sizeof hdr, &hl, err);
  if (st) return st;
  size_t bytes = clippo_array_count(a) * clippo_dtype_size(a->dtype);
  unsigned char *b = malloc(hl + bytes);
  if (!b) return clippo_fail(err, CLIPPO_E_NOMEM, "out of memory");
  memcpy(b, hdr, hl);
  if (bytes) memcpy(b + hl, a->data, bytes);
  *buf = b;
  *len = hl + bytes;
  return CLIPPO_OK;
}

clippo_status ckpt_gen_write_arrays(const char *path, const clippo_params *arrays, int zip64,
                                    int deflate, clippo_error *err) {
  size_t n = arrays->count;
  ckpt_gen_member *m = calloc(n ? n : 1, sizeof *m);
  char **names = calloc(n ? n : 1, sizeof *names);
  clippo_status st = (!m || !names) ? clippo_fail(err, CLIPPO_E_NOMEM, "out of memory") : 0;
  for (size_t i = 0; i < n && !st; i++) {
    size_t nl = strlen(arrays->items[i].name) + 5;
    names[i] = malloc(nl);
    if (!names[i]) {
      st = clippo_fail(err, CLIPPO_E_NOMEM, "out of memory");
      break;
    }
    snprintf(names[i], nl, "%s.npy", arrays->items[i].name);
    m[i].name = names[i];
    void *b = NULL;
    st = ckpt_gen_npy_bytes(&arrays->items[i].value, &b, &m[i].len, err);
    m[i].data = b;
  }
  if (!st) st = ckpt_gen_zip(path, m, n, zip64, deflate, err);
  for (size_t i = 0; i < n; i++) {
    if (m) free((void *)m[i].data);
    if (names) free(names[i]);
  }
  free(m);
  free(names);
  return st;
}

static clippo_status add_copy(clippo_params *dst, const char *name, const clippo_array *src,
                              clippo_dtype dt, float scale, clippo_error *err) {
  clippo_array a;
  clippo_status st = clippo_array_alloc(&a, dt, src->ndim, src->shape, err);
  if (st) return st;
  size_t n = clippo_array_count(src);
  const float *x = src->data;
  for (size_t i = 0; i < n; i++) {
    if (dt == CLIPPO_F32)
      ((float *)a.data)[i] = x[i] * scale;
    else
      ((uint16_t *)a.data)[i] = clippo_float_to_bf16(x[i] * scale);
  }
  return clippo_params_add(dst, name, &a, err);
}

#define SCAN "img/Transformer/encoderblock/"
#define BLOCK0 "img/Transformer/encoderblock_0/"

clippo_status ckpt_gen_write(const char *path, const clippo_config *cfg, const ckpt_gen_opts *o,
                             clippo_params *params, clippo_error *err) {
  clippo_params p = {0}, all = {0};
  clippo_status st = ckpt_gen_params(cfg, o->seed, &p, err);
  if (st) return st;
  char name[512];
  for (size_t i = 0; i < p.count && !st; i++) {
    const clippo_param *it = &p.items[i];
    const char *blk = strstr(it->name, "img/Transformer/encoderblock_");
    if (o->scanned && blk == it->name) {
      if (strncmp(it->name, BLOCK0, strlen(BLOCK0))) continue;
      /* Stack block d's tensor of the same sub-path along a new leading axis. */
      const char *sub = it->name + strlen(BLOCK0);
      int64_t shape[CLIPPO_MAX_DIMS];
      shape[0] = cfg->depth;
      for (int k = 0; k < it->value.ndim; k++) shape[k + 1] = it->value.shape[k];
      clippo_array a;
      if ((st = clippo_array_alloc(&a, CLIPPO_F32, it->value.ndim + 1, shape, err))) break;
      size_t per = clippo_array_count(&it->value);
      for (int d = 0; d < cfg->depth; d++) {
        snprintf(name, sizeof name, "img/Transformer/encoderblock_%d/%s", d, sub);
        clippo_param *src = clippo_params_find(&p, name);
        memcpy((float *)a.data + (size_t)d * per, src->value.data, per * sizeof(float));
      }
      snprintf(name, sizeof name, "params/" SCAN "%s", sub);
      st = clippo_params_add(&all, name, &a, err);
    } else {
      snprintf(name, sizeof name, "params/%s", it->name);
      st = add_copy(&all, name, &it->value, CLIPPO_F32, 1.0f, err);
    }
  }
  if (!st && o->with_opt) {
    int32_t count = 7;
    int64_t none[1] = {0};
    clippo_array c;
    if (!(st = clippo_array_alloc(&c, CLIPPO_I32, 0, none, err))) {
      memcpy(c.data, &count, 4);
      st = clippo_params_add(&all, "opt/1/0/0/0", &c, err);
    }
    for (size_t i = 0; i < p.count && !st; i++) {
      snprintf(name, sizeof name, "opt/1/0/2/1/%s", p.items[i].name);
      st = add_copy(&all, name, &p.items[i].value, CLIPPO_BF16, 0.25f, err);
      snprintf(name, sizeof name, "opt/1/0/0/3/%s", p.items[i].name);
      if (!st) st = add_copy(&all, name, &p.items[i].value, CLIPPO_F32, 0.5f, err);
    }
  }
  if (!st) st = ckpt_gen_write_arrays(path, &all, o->zip64, o->deflate, err);
  clippo_params_free(&all);
  if (!st && params)
    *params = p;
  else
    clippo_params_free(&p);
  return st;
}
