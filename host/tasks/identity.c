/* Model identity: a 128-bit content hash of the model file, remembered per (path, size, mtime,
 * inode) in the cache folder so an unchanged file is hashed once. */
#define _XOPEN_SOURCE 700 /* realpath */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "clippo/atomic_file.h"
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

clippo_status clippo_file_identity(const char *path, const char *cache_dir,
                                   char out[CLIPPO_IDENTITY_MAX], clippo_error *err) {
  out[0] = '\0';
  struct stat sb;
  if (stat(path, &sb) != 0)
    return clippo_fail(err, errno == ENOENT ? CLIPPO_E_NOTFOUND : CLIPPO_E_IO,
                       "cannot open model %s: %s", path, strerror(errno));
  if (!S_ISREG(sb.st_mode))
    return clippo_fail(err, CLIPPO_E_IO, "model %s is not a regular file", path);
  char real[PATH_MAX];
  int memo_ok = cache_dir && *cache_dir && realpath(path, real) && !strpbrk(real, "\t\n\r");
#if defined(__APPLE__)
  long long mt_ns = 0;
#else
  long long mt_ns = (long long)sb.st_mtim.tv_nsec;
#endif
  char key[PATH_MAX + 160];
  if (memo_ok)
    snprintf(key, sizeof key, "%lld\t%lld\t%lld\t%llu\t%llu\t", (long long)sb.st_size,
             (long long)sb.st_mtime, mt_ns, (unsigned long long)sb.st_ino,
             (unsigned long long)sb.st_dev);
  char memo_path[PATH_MAX];
  char *memo = NULL;
  size_t memo_len = 0;
  if (memo_ok) {
    snprintf(memo_path, sizeof memo_path, "%s/identities.tsv", cache_dir);
    clippo_error e2;
    if (tasks_read_text_file(memo_path, (size_t)1 << 20, &memo, &memo_len, &e2) != CLIPPO_OK)
      memo = NULL;
    /* line: KEY IDENTITY \t REALPATH */
    for (char *line = memo; line && *line;) {
      char *nl = strchr(line, '\n');
      if (!nl) break;
      size_t klen = strlen(key);
      if (!strncmp(line, key, klen)) {
        char *id = line + klen, *tab = strchr(id, '\t');
        if (tab && tab < nl && (size_t)(tab - id) < CLIPPO_IDENTITY_MAX &&
            (size_t)(nl - tab - 1) == strlen(real) && !strncmp(tab + 1, real, strlen(real))) {
          memcpy(out, id, (size_t)(tab - id));
          out[tab - id] = '\0';
          if (!strncmp(out, "c1-", 3)) {
            free(memo);
            return CLIPPO_OK;
          }
          out[0] = '\0';
        }
      }
      line = nl + 1;
    }
  }
  char hex[33];
  uint64_t size = 0;
  clippo_status st = hash_file(path, hex, &size, err);
  if (st) {
    free(memo);
    return st;
  }
  snprintf(out, CLIPPO_IDENTITY_MAX, "c1-%s-%llu", hex, (unsigned long long)size);
  if (memo_ok) {
    /* New entry first, then up to MEMO_MAX - 1 older lines for other files. */
    size_t cap = strlen(key) + strlen(out) + strlen(real) + 4 + memo_len;
    char *nb = malloc(cap);
    if (nb) {
      size_t o = (size_t)snprintf(nb, cap, "%s%s\t%s\n", key, out, real);
      int kept = 1;
      for (char *line = memo; line && *line && kept < MEMO_MAX;) {
        char *nl = strchr(line, '\n');
        if (!nl) break;
        char *tab = strrchr(line, '\t');
        int same_path = tab && tab < nl && (size_t)(nl - tab - 1) == strlen(real) &&
                        !strncmp(tab + 1, real, strlen(real));
        if (!same_path) {
          memcpy(nb + o, line, (size_t)(nl - line + 1));
          o += (size_t)(nl - line + 1);
          kept++;
        }
        line = nl + 1;
      }
      make_dirs(cache_dir);
      clippo_error e2;
      (void)clippo_write_file_atomic(memo_path, nb, o, &e2); /* a cache: failure is harmless */
      free(nb);
    }
  }
  free(memo);
  return CLIPPO_OK;
}
