/* Glyph tables: a sparse, paged table of 16x16 one-bit glyphs, the Unifont .hex parser, font
 * identity strings and the choice of loader by file kind. */
#include "clippo/text.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#define PAGE_BITS 8
#define PAGE_SIZE (1u << PAGE_BITS)
#define NUM_PAGES (CLIPPO_MAX_CODEPOINT >> PAGE_BITS)

/* 256 consecutive code points: rows, column masks and which ones a font defined. */
typedef struct glyph_page {
  uint16_t rows[PAGE_SIZE][CLIPPO_GLYPH_SIZE];
  uint16_t mask[PAGE_SIZE];
  uint8_t defined[PAGE_SIZE / 8];
} glyph_page;

struct clippo_font {
  glyph_page *pages[NUM_PAGES];
  size_t count;
  char *identity;
};

static const uint16_t blank_glyph[CLIPPO_GLYPH_SIZE];

clippo_status clippo_font_create(clippo_font **out, clippo_error *err) {
  if (!out) return clippo_fail(err, CLIPPO_E_ARG, "clippo_font_create: out is NULL");
  *out = calloc(1, sizeof **out);
  if (!*out) return clippo_fail(err, CLIPPO_E_NOMEM, "out of memory for a glyph table");
  (*out)->identity = calloc(1, 1);
  if (!(*out)->identity) {
    free(*out);
    *out = NULL;
    return clippo_fail(err, CLIPPO_E_NOMEM, "out of memory for a glyph table");
  }
  return CLIPPO_OK;
}

void clippo_font_free(clippo_font *font) {
  if (!font) return;
  for (size_t i = 0; i < NUM_PAGES; i++) free(font->pages[i]);
  free(font->identity);
  free(font);
}

const char *clippo_font_identity(const clippo_font *font) { return font ? font->identity : ""; }

size_t clippo_font_glyph_count(const clippo_font *font) { return font ? font->count : 0; }

const uint16_t *clippo_font_glyph(const clippo_font *font, uint32_t cp, uint16_t *colmask) {
  const glyph_page *pg = NULL;
  if (font && cp < CLIPPO_MAX_CODEPOINT) pg = font->pages[cp >> PAGE_BITS];
  if (!pg) {
    if (colmask) *colmask = 0;
    return blank_glyph;
  }
  uint32_t i = cp & (PAGE_SIZE - 1);
  if (colmask) *colmask = pg->mask[i];
  return pg->rows[i];
}

clippo_status clippo_font_set_glyph(clippo_font *font, uint32_t cp, const uint16_t rows[16],
                                    clippo_error *err) {
  if (!font || !rows) return clippo_fail(err, CLIPPO_E_ARG, "clippo_font_set_glyph: NULL argument");
  if (cp >= CLIPPO_MAX_CODEPOINT)
    return clippo_fail(err, CLIPPO_E_ARG, "code point U+%X is beyond U+10FFFF", (unsigned)cp);
  glyph_page **slot = &font->pages[cp >> PAGE_BITS];
  if (!*slot) {
    *slot = calloc(1, sizeof **slot);
    if (!*slot) return clippo_fail(err, CLIPPO_E_NOMEM, "out of memory for glyphs");
  }
  glyph_page *pg = *slot;
  uint32_t i = cp & (PAGE_SIZE - 1);
  uint16_t m = 0;
  for (int r = 0; r < CLIPPO_GLYPH_SIZE; r++) {
    pg->rows[i][r] = rows[r];
    m |= rows[r];
  }
  pg->mask[i] = m;
  if (!(pg->defined[i >> 3] & (1u << (i & 7)))) {
    pg->defined[i >> 3] |= (uint8_t)(1u << (i & 7));
    font->count++;
  }
  return CLIPPO_OK;
}

/* ---- identity ------------------------------------------------------------------------------ */

static int ends_with_ci(const char *s, size_t n, const char *suffix) {
  size_t k = strlen(suffix);
  return n >= k && strncasecmp(s + n - k, suffix, k) == 0;
}

/* The identity token of a file name: base name, font extensions and "_upper" removed. */
static char *identity_token(const char *path) {
  static const char *const exts[] = {".gz",  ".hex", ".otf", ".ttf",  ".ttc",   ".otc", ".bdf",
                                     ".pcf", ".pfa", ".pfb", ".woff", ".woff2", ".pt3", ".fnt"};
  const char *base = strrchr(path, '/');
  base = base ? base + 1 : path;
  size_t n = strlen(base);
  for (int again = 1; again;) {
    again = 0;
    for (size_t e = 0; e < sizeof exts / sizeof exts[0]; e++) {
      if (ends_with_ci(base, n, exts[e]) && n > strlen(exts[e])) {
        n -= strlen(exts[e]);
        again = 1;
      }
    }
  }
  char *tok = malloc(n + 1);
  if (!tok) return NULL;
  memcpy(tok, base, n);
  tok[n] = '\0';
  char *up = strstr(tok, "_upper");
  if (up) memmove(up, up + 6, strlen(up + 6) + 1);
  /* '+' separates tokens: keep it out of a token. */
  for (char *c = tok; *c; c++)
    if (*c == '+') *c = '_';
  return tok;
}

static clippo_status identity_add(clippo_font *font, const char *path, clippo_error *err) {
  char *tok = identity_token(path);
  if (!tok) return clippo_fail(err, CLIPPO_E_NOMEM, "out of memory");
  size_t k = strlen(tok);
  /* Already present as a whole token? */
  for (const char *p = font->identity; *p;) {
    const char *e = strchr(p, '+');
    size_t len = e ? (size_t)(e - p) : strlen(p);
    if (len == k && memcmp(p, tok, k) == 0) {
      free(tok);
      return CLIPPO_OK;
    }
    p += len + (e ? 1 : 0);
  }
  size_t old = strlen(font->identity);
  char *id = realloc(font->identity, old + k + 2);
  if (!id) {
    free(tok);
    return clippo_fail(err, CLIPPO_E_NOMEM, "out of memory");
  }
  if (old) id[old++] = '+';
  memcpy(id + old, tok, k + 1);
  font->identity = id;
  free(tok);
  return CLIPPO_OK;
}

/* ---- files --------------------------------------------------------------------------------- */

static clippo_status too_large(const char *path, clippo_error *err) {
  return clippo_fail(err, CLIPPO_E_IO, "font file %s: larger than %zu MiB (not a font file?)", path,
                     CLIPPO_FONT_MAX_FILE_BYTES >> 20);
}

/* Checks what stat says of a font file: exists, not a directory, not over the size cap. */
static clippo_status check_stat(const char *path, clippo_error *err) {
  struct stat st;
  if (stat(path, &st) != 0)
    return clippo_fail(err, errno == ENOENT ? CLIPPO_E_NOTFOUND : CLIPPO_E_IO, "font file %s: %s",
                       path, strerror(errno));
  if (S_ISDIR(st.st_mode))
    return clippo_fail(err, CLIPPO_E_IO, "font file %s: is a directory", path);
  if (S_ISREG(st.st_mode) && (uintmax_t)st.st_size > CLIPPO_FONT_MAX_FILE_BYTES)
    return too_large(path, err);
  return CLIPPO_OK;
}

/* Reads a whole file (regular or a stream), at most CLIPPO_FONT_MAX_FILE_BYTES; the message names
 * the path. */
static clippo_status read_file(const char *path, char **data, size_t *len, clippo_error *err) {
  clippo_status cs = check_stat(path, err);
  if (cs) return cs;
  FILE *fp = fopen(path, "rb");
  if (!fp) return clippo_fail(err, CLIPPO_E_IO, "font file %s: %s", path, strerror(errno));
  struct stat st;
  size_t cap = fstat(fileno(fp), &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0 &&
                       (uintmax_t)st.st_size <= CLIPPO_FONT_MAX_FILE_BYTES
                   ? (size_t)st.st_size + 1
                   : 65536;
  size_t n = 0;
  char *buf = malloc(cap);
  if (!buf) {
    fclose(fp);
    return clippo_fail(err, CLIPPO_E_NOMEM, "font file %s: out of memory", path);
  }
  for (;;) {
    if (n == cap) {
      /* one byte past the cap tells a file of exactly the cap from a larger one */
      if (cap > CLIPPO_FONT_MAX_FILE_BYTES) {
        free(buf);
        fclose(fp);
        return too_large(path, err);
      }
      size_t ncap =
          cap * 2 > CLIPPO_FONT_MAX_FILE_BYTES + 1 ? CLIPPO_FONT_MAX_FILE_BYTES + 1 : cap * 2;
      char *nb = realloc(buf, ncap);
      if (!nb) {
        free(buf);
        fclose(fp);
        return clippo_fail(err, CLIPPO_E_NOMEM, "font file %s: out of memory", path);
      }
      buf = nb;
      cap = ncap;
    }
    size_t got = fread(buf + n, 1, cap - n, fp);
    n += got;
    if (got == 0) break;
  }
  int bad = ferror(fp);
  int saved = errno;
  fclose(fp);
  if (bad) {
    free(buf);
    return clippo_fail(err, CLIPPO_E_IO, "font file %s: read error: %s", path, strerror(saved));
  }
  *data = buf;
  *len = n;
  return CLIPPO_OK;
}

static int hexval(unsigned char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

static int is_blank(unsigned char c) { return c == ' ' || c == '\t' || c == '\r'; }

/* One line `CP:HEX` (already stripped of its end); 0 on success, else sets why. */
static int parse_hex_line(const unsigned char *p, size_t n, uint32_t *cp, uint16_t rows[16],
                          const char **why) {
  size_t i = 0;
  uint32_t v = 0;
  while (i < n && hexval(p[i]) >= 0) {
    if (i >= 8) {
      *why = "code point has more than 8 hex digits";
      return -1;
    }
    v = (v << 4) | (uint32_t)hexval(p[i]);
    i++;
  }
  if (i == 0 || i >= n || p[i] != ':') {
    *why = "expected CODEPOINT:HEXDIGITS";
    return -1;
  }
  if (v >= CLIPPO_MAX_CODEPOINT) {
    *why = "code point beyond U+10FFFF";
    return -1;
  }
  const unsigned char *g = p + i + 1;
  size_t gn = n - i - 1;
  for (size_t k = 0; k < gn; k++) {
    if (hexval(g[k]) < 0) {
      *why = "glyph bits hold a non-hex character";
      return -1;
    }
  }
  if (gn == 64) {
    for (int r = 0; r < 16; r++) {
      const unsigned char *q = g + (ptrdiff_t)4 * r;
      rows[r] = (uint16_t)((hexval(q[0]) << 12) | (hexval(q[1]) << 8) | (hexval(q[2]) << 4) |
                           hexval(q[3]));
    }
  } else if (gn == 32) {
    /* An 8x16 glyph: its 16 bytes fill the left half of the 16x16 cell. */
    for (int r = 0; r < 16; r++) {
      const unsigned char *q = g + (ptrdiff_t)2 * r;
      rows[r] = (uint16_t)(((hexval(q[0]) << 4) | hexval(q[1])) << 8);
    }
  } else {
    *why = "glyph must have 32 or 64 hex digits";
    return -1;
  }
  *cp = v;
  return 0;
}

clippo_status clippo_font_add_hex_buffer(clippo_font *font, const char *data, size_t len,
                                         const char *name, clippo_error *err) {
  if (!font || (!data && len)) return clippo_fail(err, CLIPPO_E_ARG, "add_hex: NULL argument");
  if (!name) name = "<hex>";
  const unsigned char *p = (const unsigned char *)data;
  const unsigned char *end = p + len;
  if (len >= 2 && p[0] == 0x1f && p[1] == 0x8b)
    return clippo_fail(err, CLIPPO_E_FORMAT, "%s: is gzip-compressed; gunzip it first", name);
  if (len >= 3 && p[0] == 0xEF && p[1] == 0xBB && p[2] == 0xBF) p += 3; /* UTF-8 byte order mark */
  size_t line = 0, glyphs = 0;
  while (p < end) {
    line++;
    const unsigned char *eol = memchr(p, '\n', (size_t)(end - p));
    if (!eol) eol = end;
    const unsigned char *a = p, *b = eol;
    while (b > a && is_blank(b[-1])) b--;
    while (a < b && is_blank(a[0])) a++;
    if (a < b) {
      uint32_t cp = 0;
      uint16_t rows[16];
      const char *why = "";
      if (parse_hex_line(a, (size_t)(b - a), &cp, rows, &why) != 0)
        return clippo_fail(err, CLIPPO_E_FORMAT, "%s:%zu: malformed Unifont hex line: %s", name,
                           line, why);
      clippo_status st = clippo_font_set_glyph(font, cp, rows, err);
      if (st) return clippo_error_prefix(err, "%s:%zu", name, line);
      glyphs++;
    }
    p = eol + (eol < end ? 1 : 0);
  }
  if (glyphs == 0)
    return clippo_fail(err, CLIPPO_E_FORMAT, "%s: no glyphs (empty Unifont hex file)", name);
  return identity_add(font, name, err);
}

clippo_status clippo_font_add_hex(clippo_font *font, const char *path, clippo_error *err) {
  if (!font || !path) return clippo_fail(err, CLIPPO_E_ARG, "add_hex: NULL argument");
  char *data = NULL;
  size_t len = 0;
  clippo_status st = read_file(path, &data, &len, err);
  if (st) return st;
  st = clippo_font_add_hex_buffer(font, data, len, path, err);
  free(data);
  return st;
}

/* Whether the start of a file looks like Unifont hex: 4-8 hex digits then ':' then a hex digit. */
static int sniff_hex(const char *path) {
  FILE *fp = fopen(path, "rb");
  if (!fp) return 0;
  unsigned char buf[16];
  size_t n = fread(buf, 1, sizeof buf, fp);
  fclose(fp);
  size_t i = n >= 3 && buf[0] == 0xEF && buf[1] == 0xBB && buf[2] == 0xBF ? 3 : 0, i0 = i;
  while (i < n && hexval(buf[i]) >= 0) i++;
  return i - i0 >= 4 && i - i0 <= 8 && i + 1 < n && buf[i] == ':' && hexval(buf[i + 1]) >= 0;
}

static int has_hex_extension(const char *path) {
  size_t n = strlen(path);
  return ends_with_ci(path, n, ".hex") || ends_with_ci(path, n, ".hex.gz");
}

clippo_status clippo_font_add_file(clippo_font *font, const char *path, clippo_error *err) {
  if (!font || !path) return clippo_fail(err, CLIPPO_E_ARG, "add_file: NULL argument");
  if (!*path) return clippo_fail(err, CLIPPO_E_ARG, "empty font file name");
  clippo_status cs = check_stat(path, err);
  if (cs) return cs;
  if (has_hex_extension(path) || sniff_hex(path)) return clippo_font_add_hex(font, path, err);
  clippo_status s = clippo_font_add_freetype(font, path, err);
  if (s) return s;
  return identity_add(font, path, err);
}

const char *clippo_font_default_path(void) {
  static const char *const candidates[] = {"/usr/share/unifont/unifont.hex",
                                           "/usr/share/fonts/opentype/unifont/unifont.otf"};
  for (size_t i = 0; i < sizeof candidates / sizeof candidates[0]; i++) {
    FILE *fp = fopen(candidates[i], "rb");
    if (fp) {
      fclose(fp);
      return candidates[i];
    }
  }
  return NULL;
}

clippo_status clippo_font_load(clippo_font **out, const char *const *paths, size_t n,
                               clippo_error *err) {
  if (!out) return clippo_fail(err, CLIPPO_E_ARG, "clippo_font_load: out is NULL");
  *out = NULL;
  clippo_font *font = NULL;
  clippo_status st = clippo_font_create(&font, err);
  if (st) return st;
  if (n > 0) {
    for (size_t i = 0; i < n && !st; i++) st = clippo_font_add_file(font, paths[i], err);
  } else {
    const char *def = clippo_font_default_path();
    if (!def)
      st = clippo_fail(err, CLIPPO_E_NOTFOUND,
                       "no font given and no system Unifont found "
                       "(/usr/share/unifont/unifont.hex or "
                       "/usr/share/fonts/opentype/unifont/unifont.otf); name font files with "
                       "--font or %s, e.g. the 9.0.06 files weights/get-unifont.sh fetches",
                       CLIPPO_FONT_ENV);
    else
      st = clippo_font_add_file(font, def, err);
  }
  if (st) {
    clippo_font_free(font);
    return st;
  }
  *out = font;
  return CLIPPO_OK;
}
