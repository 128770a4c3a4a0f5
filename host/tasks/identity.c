/* Model identity: a 128-bit hash of a model's parameter values (names, shapes, float32 values in
 * name order, and the config fields that change the function), so that the same parameters in
 * any file format or checkpoint kind have one identity; and the older identity, a hash of the
 * file's bytes, which indexes written before 0.2 record. Both are remembered per (path, size,
 * mtime, inode) in the cache folder so that an unchanged file is hashed once. */
#define _XOPEN_SOURCE 700 /* realpath */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "clippo/atomic_file.h"
#include "clippo/checkpoint.h"
#include "clippo/tasks.h"
#include "tasks/tasks_internal.h"

/* ---- a streaming 128-bit hash (4 lanes of 64 bits over 32-byte blocks) ---------------------- */

#define HK1 0x9E3779B97F4A7C15ull
#define HK2 0xC2B2AE3D27D4EB4Full
#define HK3 0x165667B19E3779F9ull
#define HK4 0xD6E8FEB86659FD93ull

typedef struct hash128 {
  uint64_t lane[4];
  unsigned char buf[32];
  size_t nbuf;
  uint64_t total;
} hash128;

static uint64_t rotl64(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }

static uint64_t load_le64(const unsigned char *p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
  return v;
}

static uint64_t lane_step(uint64_t acc, uint64_t w) {
  acc ^= w * HK2;
  acc = rotl64(acc, 29) * HK1;
  return acc;
}

static uint64_t avalanche(uint64_t h) {
  h ^= h >> 31;
  h *= HK4;
  h ^= h >> 29;
  h *= HK3;
  h ^= h >> 32;
  return h;
}

static void hash128_init(hash128 *h) {
  memset(h, 0, sizeof *h);
  h->lane[0] = HK1 + HK2;
  h->lane[1] = HK2;
  h->lane[2] = 0;
  h->lane[3] = (uint64_t)0 - HK1;
}

static void hash128_block(hash128 *h, const unsigned char *p) {
  h->lane[0] = lane_step(h->lane[0], load_le64(p));
  h->lane[1] = lane_step(h->lane[1], load_le64(p + 8));
  h->lane[2] = lane_step(h->lane[2], load_le64(p + 16));
  h->lane[3] = lane_step(h->lane[3], load_le64(p + 24));
}

static void hash128_update(hash128 *h, const void *data, size_t len) {
  const unsigned char *p = data;
  h->total += len;
  if (h->nbuf) {
    size_t take = 32 - h->nbuf < len ? 32 - h->nbuf : len;
    memcpy(h->buf + h->nbuf, p, take);
    h->nbuf += take;
    p += take;
    len -= take;
    if (h->nbuf < 32) return;
    hash128_block(h, h->buf);
    h->nbuf = 0;
  }
  while (len >= 32) {
    hash128_block(h, p);
    p += 32;
    len -= 32;
  }
  memcpy(h->buf, p, len);
  h->nbuf = len;
}

static void hash128_final(hash128 *h, char out[33]) {
  unsigned char tail[32];
  memset(tail, 0, sizeof tail);
  memcpy(tail, h->buf, h->nbuf);
  tail[31] ^= (unsigned char)(0x80 | h->nbuf); /* marks the tail length */
  hash128_block(h, tail);
  uint64_t a = h->total * HK3, b = ~h->total * HK4;
  for (int i = 0; i < 4; i++) {
    a = rotl64(a ^ lane_step(0, h->lane[i]), 27) * HK1 + HK4;
    b = rotl64(b ^ lane_step(0, h->lane[3 - i] + HK3), 31) * HK2 + HK1;
  }
  a = avalanche(a ^ (b >> 17));
  b = avalanche(b ^ a);
  snprintf(out, 33, "%016llx%016llx", (unsigned long long)a, (unsigned long long)b);
}

void clippo_hash128_hex(const void *data, size_t len, char out[33]) {
  hash128 h;
  hash128_init(&h);
  hash128_update(&h, data, len);
  hash128_final(&h, out);
}

/* ---- file identity ------------------------------------------------------------------------- */

static clippo_status hash_file(const char *path, char out[33], uint64_t *size, clippo_error *err) {
  FILE *fp = fopen(path, "rb");
  if (!fp)
    return clippo_fail(err, errno == ENOENT ? CLIPPO_E_NOTFOUND : CLIPPO_E_IO,
                       "cannot open model %s: %s", path, strerror(errno));
  size_t cap = (size_t)4 << 20;
  unsigned char *buf = malloc(cap);
  if (!buf) {
    fclose(fp);
    return clippo_fail(err, CLIPPO_E_NOMEM, "out of host memory hashing %s", path);
  }
  hash128 h;
  hash128_init(&h);
  size_t got;
  while ((got = fread(buf, 1, cap, fp)) > 0) hash128_update(&h, buf, got);
  int bad = ferror(fp);
  int e = errno;
  fclose(fp);
  free(buf);
  if (bad) return clippo_fail(err, CLIPPO_E_IO, "cannot read model %s: %s", path, strerror(e));
  hash128_final(&h, out);
  *size = h.total;
  return CLIPPO_OK;
}

/* mkdir -p (best effort; errors show up when the file is written). */
static void make_dirs(const char *dir) {
  char tmp[PATH_MAX];
  snprintf(tmp, sizeof tmp, "%s", dir);
  for (char *p = tmp + 1; *p; p++) {
    if (*p != '/') continue;
    *p = '\0';
    mkdir(tmp, 0777);
    *p = '/';
  }
  mkdir(tmp, 0777);
}

void tasks_make_dirs(const char *dir) { make_dirs(dir); }

#define MEMO_MAX 256

/* A memo file: lines "SIZE\tMTIME\tNS\tINO\tDEV\tIDENTITY\tREALPATH" for the last MEMO_MAX files.
 */
typedef struct memo {
  int ok;              /* 0: no caching (no cache folder, or an odd path) */
  char key[160];       /* the stat part of a line, with its trailing tab */
  char real[PATH_MAX]; /* the canonical path */
  char path[PATH_MAX]; /* the memo file */
} memo;

/* Stats the model file (which must be a regular file) and prepares the memo key. */
static clippo_status memo_prepare(const char *path, const char *cache_dir, const char *file,
                                  memo *m, clippo_error *err) {
  memset(m, 0, sizeof *m);
  struct stat sb;
  if (stat(path, &sb) != 0)
    return clippo_fail(err, errno == ENOENT ? CLIPPO_E_NOTFOUND : CLIPPO_E_IO,
                       "cannot open model %s: %s", path, strerror(errno));
  if (!S_ISREG(sb.st_mode))
    return clippo_fail(err, CLIPPO_E_IO, "model %s is not a regular file", path);
  m->ok = cache_dir && *cache_dir && realpath(path, m->real) && !strpbrk(m->real, "\t\n\r");
#if defined(__APPLE__)
  long long mt_ns = 0;
#else
  long long mt_ns = (long long)sb.st_mtim.tv_nsec;
#endif
  if (m->ok) {
    snprintf(m->key, sizeof m->key, "%lld\t%lld\t%lld\t%llu\t%llu\t", (long long)sb.st_size,
             (long long)sb.st_mtime, mt_ns, (unsigned long long)sb.st_ino,
             (unsigned long long)sb.st_dev);
    int n = snprintf(m->path, sizeof m->path, "%s/%s", cache_dir, file);
    if (n < 0 || (size_t)n >= sizeof m->path) m->ok = 0;
  }
  return CLIPPO_OK;
}

/* 1 when the line [line, nl) ends with "\t" + real. */
static int line_is_for(const char *line, const char *nl, const char *real) {
  size_t rl = strlen(real);
  return (size_t)(nl - line) > rl && nl[-(ptrdiff_t)rl - 1] == '\t' && !strncmp(nl - rl, real, rl);
}

/* Looks the file up in the memo text; copies an identity starting with prefix into out. */
static int memo_find(const memo *m, const char *text, const char *prefix, char *out) {
  size_t klen = strlen(m->key);
  for (const char *line = text; line && *line;) {
    const char *nl = strchr(line, '\n');
    if (!nl) break;
    if (!strncmp(line, m->key, klen) && line_is_for(line, nl, m->real)) {
      const char *id = line + klen, *tab = strchr(id, '\t');
      size_t n = tab ? (size_t)(tab - id) : 0;
      if (tab && tab < nl && n < CLIPPO_IDENTITY_MAX && !strncmp(id, prefix, strlen(prefix))) {
        memcpy(out, id, n);
        out[n] = '\0';
        return 1;
      }
    }
    line = nl + 1;
  }
  return 0;
}

/* Rewrites the memo file: the new line first, then up to MEMO_MAX - 1 lines of other files.
 * A cache: failures are ignored. */
static void memo_store(const memo *m, const char *text, size_t text_len, const char *id) {
  size_t cap = strlen(m->key) + strlen(id) + strlen(m->real) + 4 + text_len;
  char *nb = malloc(cap);
  if (!nb) return;
  size_t o = (size_t)snprintf(nb, cap, "%s%s\t%s\n", m->key, id, m->real);
  int kept = 1;
  for (const char *line = text; line && *line && kept < MEMO_MAX;) {
    const char *nl = strchr(line, '\n');
    if (!nl) break;
    if (!line_is_for(line, nl, m->real)) {
      memcpy(nb + o, line, (size_t)(nl - line + 1));
      o += (size_t)(nl - line + 1);
      kept++;
    }
    line = nl + 1;
  }
  char dir[PATH_MAX];
  snprintf(dir, sizeof dir, "%s", m->path);
  char *slash = strrchr(dir, '/');
  if (slash) *slash = '\0';
  make_dirs(dir);
  clippo_error e2;
  (void)clippo_write_file_atomic(m->path, nb, o, &e2);
  free(nb);
}

/* How an identity is computed from the file. */
typedef clippo_status (*identity_fn)(const char *path, char out[CLIPPO_IDENTITY_MAX],
                                     clippo_error *err);

/* The identity of path through the memo file `file` of cache_dir (prefix: what a valid memo
 * entry starts with), computing it with fn on a miss. */
static clippo_status memo_identity(const char *path, const char *cache_dir, const char *file,
                                   const char *prefix, identity_fn fn,
                                   char out[CLIPPO_IDENTITY_MAX], clippo_error *err) {
  out[0] = '\0';
  memo m;
  clippo_status st = memo_prepare(path, cache_dir, file, &m, err);
  if (st) return st;
  char *text = NULL;
  size_t text_len = 0;
  if (m.ok) {
    clippo_error e2;
    if (tasks_read_text_file(m.path, (size_t)1 << 20, &text, &text_len, &e2) != CLIPPO_OK)
      text = NULL;
    if (text && memo_find(&m, text, prefix, out)) {
      free(text);
      return CLIPPO_OK;
    }
  }
  st = fn(path, out, err);
  if (st == CLIPPO_OK && m.ok) memo_store(&m, text, text ? text_len : 0, out);
  free(text);
  return st;
}

/* The file-content identity "c1-<hash>-<size>". */
static clippo_status content_identity(const char *path, char out[CLIPPO_IDENTITY_MAX],
                                      clippo_error *err) {
  char hex[33];
  uint64_t size = 0;
  clippo_status st = hash_file(path, hex, &size, err);
  if (st == CLIPPO_OK)
    snprintf(out, CLIPPO_IDENTITY_MAX, "c1-%s-%llu", hex, (unsigned long long)size);
  return st;
}

clippo_status clippo_file_identity(const char *path, const char *cache_dir,
                                   char out[CLIPPO_IDENTITY_MAX], clippo_error *err) {
  return memo_identity(path, cache_dir, "identities.tsv", "c1-", content_identity, out, err);
}

/* ---- parameter identity -------------------------------------------------------------------- */

static void hash_u64(hash128 *h, uint64_t v) {
  unsigned char b[8];
  for (int i = 0; i < 8; i++) b[i] = (unsigned char)(v >> (8 * i));
  hash128_update(h, b, sizeof b);
}

/* name, then shape, then the float32 values as little-endian bit patterns. */
static void hash_param(hash128 *h, const clippo_param *p) {
  /* p is a memcpy'd copy of a loaded parameter, which the analyzer does not follow */
  size_t nl = strlen(p->name); // NOLINT(clang-analyzer-core.CallAndMessage)
  hash_u64(h, nl);
  hash128_update(h, p->name, nl);
  hash_u64(h, (uint64_t)p->value.ndim);
  for (int d = 0; d < p->value.ndim; d++) hash_u64(h, (uint64_t)p->value.shape[d]);
  const float *x = p->value.data;
  size_t n = clippo_array_count(&p->value);
  unsigned char buf[4096];
  size_t o = 0;
  for (size_t i = 0; i < n; i++) {
    uint32_t bits;
    memcpy(&bits, &x[i], sizeof bits);
    for (int k = 0; k < 4; k++) buf[o++] = (unsigned char)(bits >> (8 * k));
    if (o == sizeof buf) {
      hash128_update(h, buf, o);
      o = 0;
    }
  }
  hash128_update(h, buf, o);
}

static int cmp_param_name(const void *a, const void *b) {
  const clippo_param *x = a, *y = b;
  return strcmp(x->name, y->name);
}

clippo_status clippo_params_identity(const clippo_config *cfg, const clippo_params *params,
                                     char out[CLIPPO_IDENTITY_MAX], clippo_error *err) {
  out[0] = '\0';
  for (size_t i = 0; i < params->count; i++)
    if (params->items[i].value.dtype != CLIPPO_F32)
      return clippo_fail(err, CLIPPO_E_ARG, "parameter %s is not float32", params->items[i].name);
  /* name order: shallow copies of the entries, sorted */
  clippo_param *order = malloc((params->count ? params->count : 1) * sizeof *order);
  if (!order) return clippo_fail(err, CLIPPO_E_NOMEM, "out of host memory hashing parameters");
  if (params->count) memcpy(order, params->items, params->count * sizeof *order);
  if (params->count > 1) qsort(order, params->count, sizeof *order, cmp_param_name);
  hash128 h;
  hash128_init(&h);
  /* what the shapes do not say but changes the function */
  char head[128];
  int hn = snprintf(head, sizeof head, "clippo-params-1 heads=%d pool=%s ln_eps=%.9g", cfg->heads,
                    cfg->pool, (double)cfg->ln_eps);
  hash128_update(&h, head, (size_t)hn + 1);
  hash_u64(&h, params->count);
  for (size_t i = 0; i < params->count; i++) hash_param(&h, &order[i]);
  free(order);
  char hex[33];
  hash128_final(&h, hex);
  snprintf(out, CLIPPO_IDENTITY_MAX, "p1-%s", hex);
  return CLIPPO_OK;
}

/* Loads the model file's parameters and hashes them. */
static clippo_status param_identity(const char *path, char out[CLIPPO_IDENTITY_MAX],
                                    clippo_error *err) {
  clippo_checkpoint ck;
  memset(&ck, 0, sizeof ck);
  clippo_status st = clippo_checkpoint_load(path, &ck, 0, err);
  if (st == CLIPPO_OK) st = clippo_params_identity(&ck.cfg, &ck.params, out, err);
  clippo_checkpoint_free(&ck);
  return st;
}

clippo_status clippo_model_identity(const char *path, const char *cache_dir,
                                    char out[CLIPPO_IDENTITY_MAX], clippo_error *err) {
  return memo_identity(path, cache_dir, "model-identities.tsv", "p1-", param_identity, out, err);
}

clippo_status clippo_identity_matches(const char *recorded, const char *model_path,
                                      const char *model_id, const char *cache_dir, int *match,
                                      clippo_error *err) {
  *match = 0;
  if (!strncmp(recorded, "c1-", 3) && strncmp(model_id, "c1-", 3) != 0) {
    /* written before identities hashed parameter values: compare file contents */
    char id[CLIPPO_IDENTITY_MAX];
    clippo_status st = clippo_file_identity(model_path, cache_dir, id, err);
    if (st) return st;
    *match = !strcmp(recorded, id);
    return CLIPPO_OK;
  }
  *match = !strcmp(recorded, model_id);
  return CLIPPO_OK;
}
