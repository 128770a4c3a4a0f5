/* The growable buffer of include/clippo/strbuf.h. */
#include "clippo/strbuf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Makes room for n more bytes and the terminating NUL; 0 (and oom set) if it cannot. */
static int reserve(clippo_strbuf *b, size_t n) {
  if (b->oom) return 0;
  if (n > (size_t)-1 - b->len - 1) {
    b->oom = 1;
    return 0;
  }
  size_t need = b->len + n + 1;
  if (need <= b->cap) return 1;
  size_t cap = b->cap ? b->cap : 4096;
  while (cap < need) cap = cap > (size_t)-1 / 2 ? need : cap * 2;
  char *q = realloc(b->p, cap);
  if (!q) {
    b->oom = 1;
    return 0;
  }
  b->p = q;
  b->cap = cap;
  return 1;
}

void clippo_strbuf_add(clippo_strbuf *b, const void *data, size_t n) {
  if (!reserve(b, n)) return;
  if (n) memcpy(b->p + b->len, data, n);
  b->len += n;
  b->p[b->len] = '\0';
}

void clippo_strbuf_str(clippo_strbuf *b, const char *s) { clippo_strbuf_add(b, s, strlen(s)); }

void clippo_strbuf_printf(clippo_strbuf *b, const char *fmt, ...) {
  if (b->oom) return;
  va_list ap, again;
  va_start(ap, fmt);
  va_copy(again, ap);
  int n = vsnprintf(NULL, 0, fmt, ap); /* the length first, then the text */
  va_end(ap);
  if (n < 0) {
    b->oom = 1;
  } else if (reserve(b, (size_t)n)) {
    vsnprintf(b->p + b->len, b->cap - b->len, fmt, again);
    b->len += (size_t)n;
  }
  va_end(again);
}

void clippo_strbuf_free(clippo_strbuf *b) {
  free(b->p);
  b->p = NULL;
  b->len = b->cap = 0;
  b->oom = 0;
}
