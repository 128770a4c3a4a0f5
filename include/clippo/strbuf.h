/* A growable byte buffer, kept NUL-terminated so it can hold text: the one used by the kernel
 * source expander, the CLI's writers and the bench report. An allocation failure is sticky (oom)
 * and later appends do nothing, so callers check once at the end. */
#ifndef CLIPPO_STRBUF_H
#define CLIPPO_STRBUF_H

#include <stddef.h>

typedef struct clippo_strbuf {
  char *p; /* NULL until the first append; p[len] == '\0' after any append */
  size_t len, cap;
  int oom; /* 1 after an allocation failed */
} clippo_strbuf;

/** Appends n bytes of data (may hold NULs). */
void clippo_strbuf_add(clippo_strbuf *b, const void *data, size_t n);

/** Appends the string s. */
void clippo_strbuf_str(clippo_strbuf *b, const char *s);

/** Appends printf-formatted text. */
void clippo_strbuf_printf(clippo_strbuf *b, const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/** Frees the buffer and empties it. */
void clippo_strbuf_free(clippo_strbuf *b);

#endif
