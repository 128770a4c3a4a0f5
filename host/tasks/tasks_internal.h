/* Helpers shared by the task sources (not public). */
#ifndef CLIPPO_TASKS_INTERNAL_H
#define CLIPPO_TASKS_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "clippo/status.h"

/** Reads a whole file (at most max bytes) into a NUL-terminated buffer, without a leading UTF-8
 * byte order mark. A missing file is CLIPPO_E_NOTFOUND. */
clippo_status tasks_read_text_file(const char *path, size_t max, char **data, size_t *len,
                                   clippo_error *err);

/** Offset of the first byte of s[0..n) that is not well-formed UTF-8 (no overlongs, surrogates
 * or code points above U+10FFFF); n when all of it is well-formed. */
size_t tasks_utf8_bad_offset(const unsigned char *s, size_t n);

/** 64-bit hash of a byte string (for hash tables and group names). */
uint64_t tasks_hash64(const void *data, size_t len);

/** A map from strings (not owned: the caller keeps them alive) to indices. */
typedef struct tasks_strmap {
  size_t cap; /* power of two, 0 when empty */
  size_t count;
  const char **keys;
  size_t *vals;
} tasks_strmap;

/** Looks key up; returns 1 and sets *val when present. */
int tasks_strmap_get(const tasks_strmap *m, const char *key, size_t *val);

/** Inserts or replaces key -> val. */
clippo_status tasks_strmap_put(tasks_strmap *m, const char *key, size_t val, clippo_error *err);

/** Frees the table (not the keys). */
void tasks_strmap_free(tasks_strmap *m);

/** mkdir -p, best effort. */
void tasks_make_dirs(const char *dir);

/** Python's str.lower() of one code point when it maps to one code point (else c). */
uint32_t tasks_unicode_lower(uint32_t c);

/** Unicode "Cased" and "Case_Ignorable" properties (for the final-sigma rule). */
int tasks_unicode_is_cased(uint32_t c);
int tasks_unicode_is_case_ignorable(uint32_t c);

/** Monotonic seconds. */
double tasks_now(void);

#endif
