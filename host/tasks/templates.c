/* Prompt templates, class names and big_vision's canonicalisation
 * (evaluators/proj/image_text/prompt_engineering.py and prompt_engineering_constants.py). */
#include "clippo/tasks.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tasks/tasks_internal.h"

/* The 80 prompt templates of the CLIP paper for ImageNet plus "{}", in big_vision's order
 * (CLIP_PAPER_PROMPT_TEMPLATES). */
static const char *const clip_paper[CLIPPO_CLIP_PAPER_TEMPLATES] = {
    "a bad photo of a {}.",
    "a photo of many {}.",
    "a sculpture of a {}.",
    "a photo of the hard to see {}.",
    "a low resolution photo of the {}.",
    "a rendering of a {}.",
    "graffiti of a {}.",
    "a bad photo of the {}.",
    "a cropped photo of the {}.",
    "a tattoo of a {}.",
    "the embroidered {}.",
    "a photo of a hard to see {}.",
    "a bright photo of a {}.",
    "a photo of a clean {}.",
    "a photo of a dirty {}.",
    "a dark photo of the {}.",
    "a drawing of a {}.",
    "a photo of my {}.",
    "the plastic {}.",
    "a photo of the cool {}.",
    "a close-up photo of a {}.",
    "a black and white photo of the {}.",
    "a painting of the {}.",
    "a painting of a {}.",
    "a pixelated photo of the {}.",
    "a sculpture of the {}.",
    "a bright photo of the {}.",
    "a cropped photo of a {}.",
    "a plastic {}.",
    "a photo of the dirty {}.",
    "a jpeg corrupted photo of a {}.",
    "a blurry photo of the {}.",
    "a photo of the {}.",
    "a good photo of the {}.",
    "a rendering of the {}.",
    "a {} in a video game.",
    "a photo of one {}.",
    "a doodle of a {}.",
    "a close-up photo of the {}.",
    "a photo of a {}.",
    "the origami {}.",
    "the {} in a video game.",
    "a sketch of a {}.",
    "a doodle of the {}.",
    "a origami {}.",
    "a low resolution photo of a {}.",
    "the toy {}.",
    "a rendition of the {}.",
    "a photo of the clean {}.",
    "a photo of a large {}.",
    "a rendition of a {}.",
    "a photo of a nice {}.",
    "a photo of a weird {}.",
    "a blurry photo of a {}.",
    "a cartoon {}.",
    "art of a {}.",
    "a sketch of the {}.",
    "a embroidered {}.",
    "a pixelated photo of a {}.",
    "itap of the {}.",
    "a jpeg corrupted photo of the {}.",
    "a good photo of a {}.",
    "a plushie {}.",
    "a photo of the nice {}.",
    "a photo of the small {}.",
    "a photo of the weird {}.",
    "the cartoon {}.",
    "art of the {}.",
    "a drawing of the {}.",
    "a photo of the large {}.",
    "a black and white photo of a {}.",
    "the plushie {}.",
    "a dark photo of a {}.",
    "itap of a {}.",
    "graffiti of the {}.",
    "a toy {}.",
    "itap of my {}.",
    "a photo of a cool {}.",
    "a photo of a small {}.",
    "a tattoo of the {}.",
    "{}",
};

/* CLIP_BEST_PROMPT_TEMPLATES. */
static const char *const clip_best[8] = {
    "itap of a {}.",
    "a bad photo of the {}.",
    "a origami {}.",
    "a photo of the large {}.",
    "a {} in a video game.",
    "art of the {}.",
    "a photo of the small {}.",
    "{}",
};

static const char *const name_only[1] = {"{}"};

const char *const clippo_fashion_mnist_classes[10] = {
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};

const char *const *clippo_templates_builtin(const char *name, size_t *n) {
  if (!name) return NULL;
  if (!strcmp(name, "clip_paper")) {
    *n = CLIPPO_CLIP_PAPER_TEMPLATES;
    return clip_paper;
  }
  if (!strcmp(name, "clip_best")) {
    *n = sizeof clip_best / sizeof clip_best[0];
    return clip_best;
  }
  if (!strcmp(name, "none") || !strcmp(name, "class_name_only")) {
    *n = 1;
    return name_only;
  }
  return NULL;
}

/* ---- canonicalisation ---------------------------------------------------------------------- */

/* Code points are decoded strictly; a byte that does not start a valid sequence is kept as the
 * pseudo code point RAW_BYTE | byte and written back unchanged. */
#define RAW_BYTE 0x80000000u

/* Decodes one strict UTF-8 sequence at s[0..len); returns its length or 0 when invalid. */
static size_t utf8_one(const unsigned char *s, size_t len, uint32_t *cp) {
  unsigned char c = s[0];
  if (c < 0x80) {
    *cp = c;
    return 1;
  }
  size_t n;
  uint32_t v, min;
  if (c >= 0xC2 && c <= 0xDF)
    n = 2, v = c & 0x1Fu, min = 0x80;
  else if (c >= 0xE0 && c <= 0xEF)
    n = 3, v = c & 0x0Fu, min = 0x800;
  else if (c >= 0xF0 && c <= 0xF4)
    n = 4, v = c & 0x07u, min = 0x10000;
  else
    return 0;
  if (len < n) return 0;
  for (size_t i = 1; i < n; i++) {
    if ((s[i] & 0xC0) != 0x80) return 0;
    v = (v << 6) | (s[i] & 0x3Fu);
  }
  if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) return 0;
  *cp = v;
  return n;
}

static size_t utf8_put(uint32_t c, char *out) {
  if (c & RAW_BYTE) {
    out[0] = (char)(unsigned char)(c & 0xFF);
    return 1;
  }
  if (c < 0x80) {
    out[0] = (char)c;
    return 1;
  }
  if (c < 0x800) {
    out[0] = (char)(0xC0 | (c >> 6));
    out[1] = (char)(0x80 | (c & 0x3F));
    return 2;
  }
  if (c < 0x10000) {
    out[0] = (char)(0xE0 | (c >> 12));
    out[1] = (char)(0x80 | ((c >> 6) & 0x3F));
    out[2] = (char)(0x80 | (c & 0x3F));
    return 3;
  }
  out[0] = (char)(0xF0 | (c >> 18));
  out[1] = (char)(0x80 | ((c >> 12) & 0x3F));
  out[2] = (char)(0x80 | ((c >> 6) & 0x3F));
  out[3] = (char)(0x80 | (c & 0x3F));
  return 4;
}

/* Python's string.punctuation. */
static int is_punct(uint32_t c) {
  return c < 0x80 && c > 0x20 && c != 0x7F && strchr("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~", (int)c);
}

/* Python's str.isspace() (and re's \s on str patterns). */
static int is_space(uint32_t c) {
  return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 ||
         c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F ||
         c == 0x205F || c == 0x3000;
}

static int is_cased(uint32_t c) { return !(c & RAW_BYTE) && tasks_unicode_is_cased(c); }
static int is_case_ignorable(uint32_t c) {
  return !(c & RAW_BYTE) && tasks_unicode_is_case_ignorable(c);
}

char *clippo_canonicalize(const char *text, size_t len, const char *keep) {
  size_t klen = keep ? strlen(keep) : 0;
  /* Step 1: '_' -> ' ' (before looking for `keep`, as big_vision does). */
  unsigned char *s = malloc(len + 1);
  if (!s) return NULL;
  for (size_t j = 0; j < len; j++) s[j] = text[j] == '_' ? ' ' : (unsigned char)text[j];
  /* Step 2: punctuation removed except `keep`; decode to code points. Each input byte yields at
   * most one code point. */
  uint32_t *cp = malloc((len + 1) * sizeof *cp);
  if (!cp) {
    free(s);
    return NULL;
  }
  size_t n = 0, i = 0;
  while (i < len) {
    if (klen && i + klen <= len && memcmp(s + i, keep, klen) == 0) {
      for (size_t j = 0; j < klen; j++) cp[n++] = s[i + j];
      i += klen;
      continue;
    }
    uint32_t c;
    size_t k = utf8_one(s + i, len - i, &c);
    if (k == 0) {
      cp[n++] = RAW_BYTE | s[i];
      i++;
      continue;
    }
    i += k;
    if (is_punct(c)) continue;
    cp[n++] = c;
  }
  free(s);
  /* Step 3: lowercase (after punctuation removal, as str.lower() runs on that string). */
  uint32_t *lo = malloc((2 * n + 1) * sizeof *lo);
  if (!lo) {
    free(cp);
    return NULL;
  }
  size_t m = 0;
  for (size_t a = 0; a < n; a++) {
    uint32_t c = cp[a];
    if (c & RAW_BYTE) {
      lo[m++] = c;
    } else if (c == 0x130) { /* LATIN CAPITAL LETTER I WITH DOT ABOVE -> i + COMBINING DOT */
      lo[m++] = 'i';
      lo[m++] = 0x307;
    } else if (c == 0x3A3) { /* final sigma: cased before, no cased letter after */
      int before = 0, after = 0;
      for (size_t b = a; b-- > 0;) {
        if (is_case_ignorable(cp[b])) continue;
        before = is_cased(cp[b]);
        break;
      }
      for (size_t b = a + 1; b < n; b++) {
        if (is_case_ignorable(cp[b])) continue;
        after = is_cased(cp[b]);
        break;
      }
      lo[m++] = (before && !after) ? 0x3C2 : 0x3C3;
    } else {
      lo[m++] = tasks_unicode_lower(c);
    }
  }
  free(cp);
  /* Step 4: whitespace runs -> one space, stripped. */
  char *out = malloc(4 * m + 1);
  if (!out) {
    free(lo);
    return NULL;
  }
  size_t o = 0;
  int pending_space = 0;
  for (size_t a = 0; a < m; a++) {
    if (is_space(lo[a])) {
      if (o > 0) pending_space = 1;
      continue;
    }
    if (pending_space) out[o++] = ' ';
    pending_space = 0;
    o += utf8_put(lo[a], out + o);
  }
  out[o] = '\0';
  free(lo);
  return out;
}

/* ---- templates ----------------------------------------------------------------------------- */

/* Number of non-overlapping "{}" in s (Python's str.split("{}") gives count + 1 parts). */
static size_t count_slots(const char *s) {
  size_t k = 0;
  for (const char *p = strstr(s, "{}"); p; p = strstr(p + 2, "{}")) k++;
  return k;
}

clippo_status clippo_prompt_format(const char *tmpl, const char *name, char **out,
                                   clippo_error *err) {
  *out = NULL;
  if (count_slots(tmpl) != 1)
    return clippo_fail(err, CLIPPO_E_ARG, "prompt template '%s' must hold exactly one '{}'", tmpl);
  const char *p = strstr(tmpl, "{}");
  size_t a = (size_t)(p - tmpl), b = strlen(p + 2), c = strlen(name);
  char *s = malloc(a + b + c + 1);
  if (!s) return clippo_fail(err, CLIPPO_E_NOMEM, "out of host memory formatting a prompt");
  memcpy(s, tmpl, a);
  memcpy(s + a, name, c); // NOLINT(bugprone-not-null-terminated-result): the NUL comes next
  memcpy(s + a + c, p + 2, b + 1);
  *out = s;
  return CLIPPO_OK;
}

void clippo_templates_free(clippo_templates *t) {
  if (!t) return;
  for (size_t i = 0; i < t->count; i++) free(t->items[i]);
  free(t->items);
  memset(t, 0, sizeof *t);
}

/* Appends one template (canonicalised when asked); `where` names it in messages. */
static clippo_status templates_add(clippo_templates *t, const char *s, size_t len, int canon,
                                   const char *where, clippo_error *err) {
  char *v;
  if (canon) {
    v = clippo_canonicalize(s, len, "{}");
  } else {
    v = malloc(len + 1);
    if (v) {
      memcpy(v, s, len);
      v[len] = '\0';
    }
  }
  if (!v) return clippo_fail(err, CLIPPO_E_NOMEM, "out of host memory reading templates");
  if (count_slots(v) != 1) {
    clippo_fail(err, CLIPPO_E_FORMAT, "%s: template '%.*s' must hold exactly one '{}'", where,
                (int)(len > 200 ? 200 : len), s);
    free(v);
    return err->status;
  }
  char **items = realloc(t->items, (t->count + 1) * sizeof *items);
  if (!items) {
    free(v);
    return clippo_fail(err, CLIPPO_E_NOMEM, "out of host memory reading templates");
  }
  t->items = items;
  t->items[t->count++] = v;
  return CLIPPO_OK;
}

clippo_status clippo_templates_parse(const char *text, size_t len, const char *name,
                                     int canonicalize, clippo_templates *out, clippo_error *err) {
  memset(out, 0, sizeof *out);
  if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0) text += 3, len -= 3; /* BOM */
  size_t line = 0;
  clippo_status st = CLIPPO_OK;
  for (size_t pos = 0; pos < len && st == CLIPPO_OK;) {
    size_t end = pos;
    while (end < len && text[end] != '\n') end++;
    line++;
    size_t e = end;
    if (e > pos && text[e - 1] == '\r') e--;
    size_t b = pos;
    while (b < e && (text[b] == ' ' || text[b] == '\t')) b++;
    if (b < e && text[b] != '#') {
      char where[1100];
      snprintf(where, sizeof where, "%s:%zu", name, line);
      st = templates_add(out, text + pos, e - pos, canonicalize, where, err);
    }
    pos = end + 1;
  }
  if (st == CLIPPO_OK && out->count == 0)
    st = clippo_fail(err, CLIPPO_E_FORMAT, "%s holds no template", name);
  if (st) clippo_templates_free(out);
  return st;
}

clippo_status clippo_templates_load(const char *spec, int canonicalize, clippo_templates *out,
                                    clippo_error *err) {
  memset(out, 0, sizeof *out);
  if (!spec || !*spec) spec = "clip_paper";
  size_t n = 0;
  const char *const *builtin = clippo_templates_builtin(spec, &n);
  if (builtin) {
    for (size_t i = 0; i < n; i++) {
      clippo_status st = templates_add(out, builtin[i], strlen(builtin[i]), canonicalize,
                                       "built-in templates", err);
      if (st) {
        clippo_templates_free(out);
        return st;
      }
    }
    return CLIPPO_OK;
  }
  char *data = NULL;
  size_t len = 0;
  clippo_status st = tasks_read_text_file(spec, (size_t)64 << 20, &data, &len, err);
  if (st) {
    if (st == CLIPPO_E_NOTFOUND)
      clippo_fail(err, CLIPPO_E_NOTFOUND,
                  "templates '%s' is neither clip_paper, clip_best, none nor a readable file",
                  spec);
    return st;
  }
  st = clippo_templates_parse(data, len, spec, canonicalize, out, err);
  free(data);
  return st;
}

clippo_status clippo_templates_for_model(const char *model_prompts, int canonicalize,
                                         clippo_templates *out, const char **source,
                                         clippo_error *err) {
  if (model_prompts && *model_prompts) {
    *source = "the model's training prompts";
    return clippo_templates_parse(model_prompts, strlen(model_prompts),
                                  "the model's recorded prompts", canonicalize, out, err);
  }
  *source = "clip_best";
  return clippo_templates_load("clip_best", canonicalize, out, err);
}

/* ---- classes ------------------------------------------------------------------------------- */

void clippo_classes_free(clippo_classes *c) {
  if (!c) return;
  for (size_t i = 0; i < c->count; i++) {
    free(c->labels[i]);
    free(c->prompt_names[i]);
  }
  free(c->labels);
  free(c->prompt_names);
  memset(c, 0, sizeof *c);
}

static clippo_status classes_add_len(clippo_classes *c, const char *name, size_t len,
                                     int canonicalize, clippo_error *err) {
  while (len && (*name == ' ' || *name == '\t' || *name == '\r' || *name == '\n')) name++, len--;
  while (len && (name[len - 1] == ' ' || name[len - 1] == '\t' || name[len - 1] == '\r' ||
                 name[len - 1] == '\n'))
    len--;
  char *label = malloc(len + 1);
  char *pn = canonicalize ? clippo_canonicalize(name, len, ",") : malloc(len + 1);
  if (!label || !pn) {
    free(label);
    free(pn);
    return clippo_fail(err, CLIPPO_E_NOMEM, "out of host memory reading class names");
  }
  memcpy(label, name, len);
  label[len] = '\0';
  if (!canonicalize) memcpy(pn, label, len + 1);
  char *comma = strchr(pn, ',');
  if (comma) *comma = '\0';   /* first_class_name_only */
  comma = strchr(label, ','); /* the label is the first alias too, trimmed */
  if (comma) {
    while (comma > label && (comma[-1] == ' ' || comma[-1] == '\t')) comma--;
    *comma = '\0';
  }
  if (!*pn) {
    clippo_fail(err, CLIPPO_E_ARG, "class name '%s' is empty%s", label,
                canonicalize ? " after canonicalisation (punctuation removed)" : "");
    free(label);
    free(pn);
    return err->status;
  }
  char **l = realloc(c->labels, (c->count + 1) * sizeof *l);
  if (l) c->labels = l;
  char **p = l ? realloc(c->prompt_names, (c->count + 1) * sizeof *p) : NULL;
  if (p) c->prompt_names = p;
  if (!l || !p) {
    free(label);
    free(pn);
    return clippo_fail(err, CLIPPO_E_NOMEM, "out of host memory reading class names");
  }
  c->labels[c->count] = label;
  c->prompt_names[c->count] = pn;
  c->count++;
  return CLIPPO_OK;
}

clippo_status clippo_classes_add(clippo_classes *c, const char *name, int canonicalize,
                                 clippo_error *err) {
  return classes_add_len(c, name, strlen(name), canonicalize, err);
}

clippo_status clippo_classes_parse_list(const char *list, int canonicalize, clippo_classes *c,
                                        clippo_error *err) {
  const char *p = list;
  for (;;) {
    const char *e = strchr(p, ',');
    size_t len = e ? (size_t)(e - p) : strlen(p);
    clippo_status st = classes_add_len(c, p, len, canonicalize, err);
    if (st) return st;
    if (!e) break;
    p = e + 1;
  }
  return CLIPPO_OK;
}

clippo_status clippo_classes_load_file(const char *path, int canonicalize, clippo_classes *c,
                                       clippo_error *err) {
  char *data = NULL;
  size_t len = 0;
  clippo_status st = tasks_read_text_file(path, (size_t)64 << 20, &data, &len, err);
  if (st) return st;
  size_t line = 0, before = c->count;
  for (size_t pos = 0; pos < len && st == CLIPPO_OK;) {
    size_t end = pos;
    while (end < len && data[end] != '\n') end++;
    line++;
    size_t b = pos;
    while (b < end && (data[b] == ' ' || data[b] == '\t' || data[b] == '\r')) b++;
    if (b < end && data[b] != '#') {
      st = classes_add_len(c, data + pos, end - pos, canonicalize, err);
      if (st) clippo_error_prefix(err, "%s:%zu", path, line);
    }
    pos = end + 1;
  }
  free(data);
  if (st == CLIPPO_OK && c->count == before)
    st = clippo_fail(err, CLIPPO_E_FORMAT, "classes file %s holds no class name", path);
  return st;
}

size_t clippo_classes_duplicate_of(const clippo_classes *c, size_t i) {
  for (size_t j = 0; j < i && i < c->count; j++)
    if (!strcmp(c->prompt_names[j], c->prompt_names[i])) return j;
  return (size_t)-1;
}

/* ---- small shared helpers ------------------------------------------------------------------ */

clippo_status tasks_read_text_file(const char *path, size_t max, char **data, size_t *len,
                                   clippo_error *err) {
  *data = NULL;
  *len = 0;
  FILE *fp = fopen(path, "rb");
  if (!fp)
    return clippo_fail(err, errno == ENOENT ? CLIPPO_E_NOTFOUND : CLIPPO_E_IO, "cannot open %s: %s",
                       path, strerror(errno));
  size_t cap = 4096, n = 0;
  char *buf = malloc(cap + 1);
  clippo_status st = CLIPPO_OK;
  for (;;) {
    if (!buf) {
      st = clippo_fail(err, CLIPPO_E_NOMEM, "out of host memory reading %s", path);
      break;
    }
    if (n == cap) {
      if (cap >= max) {
        st = clippo_fail(err, CLIPPO_E_FORMAT, "%s is larger than %zu bytes", path, max);
        break;
      }
      char *nb = realloc(buf, cap * 2 + 1);
      if (!nb) {
        st = clippo_fail(err, CLIPPO_E_NOMEM, "out of host memory reading %s", path);
        break;
      }
      buf = nb;
      cap *= 2;
    }
    size_t got = fread(buf + n, 1, cap - n, fp);
    n += got;
    if (got == 0) {
      if (ferror(fp))
        st = clippo_fail(err, CLIPPO_E_IO, "cannot read %s: %s", path, strerror(errno));
      break;
    }
  }
  fclose(fp);
  if (st) {
    free(buf);
    return st;
  }
  if (n >= 3 && memcmp(buf, "\xEF\xBB\xBF", 3) == 0) { /* a UTF-8 byte order mark */
    memmove(buf, buf + 3, n - 3);
    n -= 3;
  }
  buf[n] = '\0';
  *data = buf;
  *len = n;
  return CLIPPO_OK;
}
