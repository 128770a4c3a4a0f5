/* Shared task helpers: hashing, a string map, the cache folder. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clippo/runtime.h"
#include "clippo/tasks.h"
#include "tasks/tasks_internal.h"

double tasks_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

uint64_t tasks_hash64(const void *data, size_t len) {
  /* FNV-1a followed by a multiply-xorshift finaliser: fine for table keys and short names. */
  const unsigned char *p = data;
  uint64_t h = 0xcbf29ce484222325ull;
  for (size_t i = 0; i < len; i++) h = (h ^ p[i]) * 0x100000001b3ull;
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdull;
  h ^= h >> 33;
  return h;
}

int tasks_strmap_get(const tasks_strmap *m, const char *key, size_t *val) {
  if (!m->cap) return 0;
  size_t mask = m->cap - 1;
  for (size_t i = (size_t)tasks_hash64(key, strlen(key)) & mask;; i = (i + 1) & mask) {
    if (!m->keys[i]) return 0;
    if (!strcmp(m->keys[i], key)) {
      *val = m->vals[i];
      return 1;
    }
  }
}

static void strmap_insert(const char **keys, size_t *vals, size_t cap, const char *key, size_t val,
                          int *added) {
  size_t mask = cap - 1;
  for (size_t i = (size_t)tasks_hash64(key, strlen(key)) & mask;; i = (i + 1) & mask) {
    if (!keys[i]) {
      keys[i] = key;
      vals[i] = val;
      *added = 1;
      return;
    }
    if (!strcmp(keys[i], key)) {
      keys[i] = key;
      vals[i] = val;
      *added = 0;
      return;
    }
  }
}

clippo_status tasks_strmap_put(tasks_strmap *m, const char *key, size_t val, clippo_error *err) {
  if ((m->count + 1) * 2 > m->cap) {
    size_t cap = m->cap ? m->cap * 2 : 64;
    const char **keys = calloc(cap, sizeof *keys);
    size_t *vals = calloc(cap, sizeof *vals);
    if (!keys || !vals) {
      free(keys);
      free(vals);
      return clippo_fail(err, CLIPPO_E_NOMEM, "out of host memory (string table)");
    }
    int added;
    for (size_t i = 0; i < m->cap; i++)
      if (m->keys[i]) strmap_insert(keys, vals, cap, m->keys[i], m->vals[i], &added);
    free(m->keys);
    free(m->vals);
    m->keys = keys;
    m->vals = vals;
    m->cap = cap;
  }
  int added = 0;
  strmap_insert(m->keys, m->vals, m->cap, key, val, &added);
  m->count += (size_t)added;
  return CLIPPO_OK;
}

void tasks_strmap_free(tasks_strmap *m) {
  free(m->keys);
  free(m->vals);
  memset(m, 0, sizeof *m);
}

void clippo_cache_dir(char *dir, size_t cap) {
  if (cap) dir[0] = '\0';
  clippo_settings s;
  clippo_error err;
  /* the runtime's settings are the one reader of the environment */
  if (clippo_settings_from_env(&s, &err) == CLIPPO_OK) snprintf(dir, cap, "%s", s.cache_dir);
}

/* Offset of the first byte of s[0..n) that is not part of well-formed UTF-8 (no overlongs,
 * surrogates or code points above U+10FFFF); n when all is well-formed. */
size_t tasks_utf8_bad_offset(const unsigned char *s, size_t n) {
  size_t i = 0;
  while (i < n) {
    unsigned char c = s[i];
    if (c < 0x80) {
      i++;
      continue;
    }
    size_t k;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF)
      k = 1;
    else if (c >= 0xE0 && c <= 0xEF) {
      k = 2;
      if (c == 0xE0) lo = 0xA0;
      if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      k = 3;
      if (c == 0xF0) lo = 0x90;
      if (c == 0xF4) hi = 0x8F;
    } else
      return i;
    if (n - i <= k) return i;
    if (s[i + 1] < lo || s[i + 1] > hi) return i;
    for (size_t j = 2; j <= k; j++)
      if (s[i + j] < 0x80 || s[i + j] > 0xBF) return i;
    i += k + 1;
  }
  return n;
}
