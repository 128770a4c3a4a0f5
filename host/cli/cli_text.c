/* Reading the user's text files (or standard input) as checked UTF-8 lines. */
#include "cli_text.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Largest text input read. */
#define CLI_MAX_TEXT_FILE ((size_t)1 << 28)

/* Length of the valid UTF-8 sequence at p (1..4), or 0 when it is not one. */
static size_t utf8_len(const unsigned char *p, size_t left) {
  unsigned c = p[0];
  size_t n;
  unsigned min;
  if (c < 0x80) return 1;
  if (c >= 0xC2 && c <= 0xDF)
    n = 2, min = 0x80;
  else if (c >= 0xE0 && c <= 0xEF)
    n = 3, min = 0x800;
  else if (c >= 0xF0 && c <= 0xF4)
    n = 4, min = 0x10000;
  else
    return 0;
  if (left < n) return 0;
  unsigned cp = c & (0x7Fu >> n);
  for (size_t i = 1; i < n; i++) {
    if ((p[i] & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (p[i] & 0x3Fu);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return n;
}

int cli_check_text(const char *cmd, const char *name, const char *data, size_t len) {
  const unsigned char *p = (const unsigned char *)data;
  size_t line = 1, col = 1;
  for (size_t i = 0; i < len; col++) {
    if (p[i] == 0) {
      fprintf(stderr,
              "clippo %s: error: %s:%zu: a NUL byte (column %zu): this is a binary file, not "
              "UTF-8 text\n",
              cmd, name, line, col);
      return 1;
    }
    size_t n = utf8_len(p + i, len - i);
    if (n == 0) {
      fprintf(stderr,
              "clippo %s: error: %s:%zu: invalid UTF-8 (byte 0x%02x, column %zu): not a UTF-8 "
              "text file\n",
              cmd, name, line, p[i], col);
      return 1;
    }
    if (p[i] == '\n') line++, col = 0;
    i += n;
  }
  return 0;
}

/* Reads all of fp (at most CLI_MAX_TEXT_FILE bytes) into a malloc'ed buffer. */
static int slurp(const char *cmd, const char *name, FILE *fp, char **data, size_t *size) {
  size_t cap = 0, n = 0, got;
  char *buf = NULL, chunk[65536];
  *data = NULL;
  while ((got = fread(chunk, 1, sizeof chunk, fp)) > 0) {
    if (n + got > CLI_MAX_TEXT_FILE) { /* e.g. /dev/zero: fail before memory runs out */
      free(buf);
      fprintf(stderr, "clippo %s: error: text file %s is larger than %zu bytes\n", cmd, name,
              (size_t)CLI_MAX_TEXT_FILE);
      return 1;
    }
    if (n + got + 1 > cap) {
      cap = (n + got + 1) * 2;
      char *b = realloc(buf, cap);
      if (!b) {
        free(buf);
        fprintf(stderr, "clippo %s: error: out of memory reading %s\n", cmd, name);
        return 1;
      }
      buf = b;
    }
    memcpy(buf + n, chunk, got);
    n += got;
  }
  if (ferror(fp)) {
    int e = errno;
    free(buf);
    fprintf(stderr, "clippo %s: error: cannot read text file %s: %s\n", cmd, name, strerror(e));
    return 1;
  }
  *data = buf;
  *size = n;
  return 0;
}

/* Splits data[size] into t's lines. */
static int split_lines(const char *cmd, const char *name, const char *data, size_t size,
                       cli_texts *t) {
  size_t count = 0;
  for (size_t i = 0; i < size; i++) count += data[i] == '\n';
  if (size > 0 && data[size - 1] != '\n') count++;
  t->lines = calloc(count ? count : 1, sizeof *t->lines);
  t->lens = calloc(count ? count : 1, sizeof *t->lens);
  int oom = !t->lines || !t->lens;
  for (size_t i = 0, start = 0; !oom && t->n < count && i <= size; i++) {
    if (i < size && data[i] != '\n') continue;
    size_t len = i - start;
    if (len > 0 && data[start + len - 1] == '\r') len--;
    char *s = malloc(len + 1);
    if (!s) {
      oom = 1;
      break;
    }
    memcpy(s, data + start, len);
    s[len] = '\0';
    t->lines[t->n] = s;
    t->lens[t->n++] = len;
    start = i + 1;
  }
  if (!oom) return 0;
  cli_texts_free(t);
  fprintf(stderr, "clippo %s: error: out of memory reading %s\n", cmd, name);
  return 1;
}

int cli_read_texts(const char *cmd, const char *path, cli_texts *t) {
  memset(t, 0, sizeof *t);
  int from_stdin = !strcmp(path, "-");
  const char *name = from_stdin ? "<stdin>" : path;
  FILE *fp = from_stdin ? stdin : fopen(path, "rb");
  if (!fp) {
    fprintf(stderr, "clippo %s: error: cannot open text file %s: %s\n", cmd, path, strerror(errno));
    return 1;
  }
  char *data = NULL;
  size_t size = 0;
  int rc = slurp(cmd, name, fp, &data, &size);
  if (!from_stdin) fclose(fp);
  const char *text = data;
  if (!rc && size >= 3 && !memcmp(text, "\xEF\xBB\xBF", 3)) { /* byte-order mark */
    text += 3;
    size -= 3;
  }
  if (!rc) rc = cli_check_text(cmd, name, text, size);
  if (!rc) rc = split_lines(cmd, name, text, size, t);
  free(data);
  return rc;
}

void cli_texts_free(cli_texts *t) {
  for (size_t i = 0; t->lines && i < t->n; i++) free(t->lines[i]);
  free(t->lines);
  free(t->lens);
  memset(t, 0, sizeof *t);
}
