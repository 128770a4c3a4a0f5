/* Training data: Fashion-MNIST with captions drawn from multilingual templates, image-caption
 * TSV files, one fixed batch (.npy images + a text file), text pairs for text/text co-training
 * (a TSV or the caption templates of the same class in two languages); a seeded sampler whose
 * whole state is (seed, epoch, position); batches of images (or first texts) followed by their
 * rendered captions (or second texts). */
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clippo/idx.h"
#include "clippo/image.h"
#include "clippo/npy.h"
#include "clippo/train.h"

#define TRY(x)                                                                                     \
  do {                                                                                             \
    clippo_status st_ = (x);                                                                       \
    if (st_ != CLIPPO_OK) return st_;                                                              \
  } while (0)

/* Longest caption kept (bytes): the renderer keeps 768 code points, at most 3072 bytes. */
#define CAPTION_MAX 8192

/* ---- random numbers ------------------------------------------------------------------------ */

uint64_t clippo_splitmix64(uint64_t *state) {
  uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

uint64_t clippo_hash3(uint64_t seed, uint64_t a, uint64_t b) {
  uint64_t s = seed;
  uint64_t h = clippo_splitmix64(&s);
  s = h ^ (a * 0xD1B54A32D192ED03ull);
  h = clippo_splitmix64(&s);
  s = h ^ (b * 0x8CB92BA72F3D8DD7ull);
  return clippo_splitmix64(&s);
}

/* Uniform in [0, n) (n > 0); the modulo bias is below 2^-40 for the sizes used here. */
static uint64_t below(uint64_t *state, uint64_t n) { return clippo_splitmix64(state) % n; }

/* ---- files --------------------------------------------------------------------------------- */

static clippo_status read_all(const char *path, const char *what, char **data, size_t *len,
                              clippo_error *err) {
  FILE *fp = fopen(path, "rb");
  if (!fp)
    return clippo_fail(err, CLIPPO_E_IO, "cannot open %s %s: %s", what, path, strerror(errno));
  size_t cap = 1 << 16, n = 0;
  char *buf = malloc(cap + 1);
  clippo_status st = CLIPPO_OK;
  while (buf) {
    if (n == cap) {
      if (cap > ((size_t)1 << 32)) {
        st = clippo_fail(err, CLIPPO_E_FORMAT, "%s %s is larger than 4 GiB", what, path);
        break;
      }
      char *nb = realloc(buf, cap * 2 + 1);
      if (!nb) break;
      buf = nb;
      cap *= 2;
    }
    size_t got = fread(buf + n, 1, cap - n, fp);
    n += got;
    if (got == 0) break;
  }
  if (st == CLIPPO_OK && !buf)
    st = clippo_fail(err, CLIPPO_E_NOMEM, "%s %s: out of memory", what, path);
  if (st == CLIPPO_OK && ferror(fp))
    st = clippo_fail(err, CLIPPO_E_IO, "cannot read %s %s: %s", what, path, strerror(errno));
  fclose(fp);
  if (st != CLIPPO_OK) {
    free(buf);
    return st;
  }
  buf[n] = '\0';
  *data = buf;
  *len = n;
  return CLIPPO_OK;
}

/* ---- captions ------------------------------------------------------------------------------ */

void clippo_captions_free(clippo_captions *c) {
  if (!c) return;
  for (size_t l = 0; l < c->nlangs; l++) {
    if (c->langs) free(c->langs[l]);
    if (c->classes && c->classes[l]) {
      for (size_t k = 0; k < c->nclasses; k++) free(c->classes[l][k]);
      free(c->classes[l]);
    }
    if (c->templates && c->templates[l]) {
      for (size_t k = 0; k < c->ntemplates[l]; k++) free(c->templates[l][k]);
      free(c->templates[l]);
    }
  }
  free(c->langs);
  free(c->classes);
  free(c->templates);
  free(c->ntemplates);
  memset(c, 0, sizeof *c);
}

static size_t count_holes(const char *s) {
  size_t n = 0;
  for (const char *p = s; p && (p = strstr(p, "{}")); p += 2) n++;
  return n;
}

/* Copies the strings of a JSON array into a fresh array; *n gets the count. */
static clippo_status string_array(const cJSON *arr, const char *path, const char *what, char ***out,
                                  size_t *n, clippo_error *err) {
  if (!cJSON_IsArray(arr) || cJSON_GetArraySize(arr) == 0)
    return clippo_fail(err, CLIPPO_E_FORMAT, "%s: '%s' must be a non-empty array of strings", path,
                       what);
  size_t cnt = (size_t)cJSON_GetArraySize(arr);
  char **v = calloc(cnt, sizeof *v);
  if (!v) return clippo_fail(err, CLIPPO_E_NOMEM, "%s: out of memory", path);
  *out = v;
  *n = cnt;
  size_t i = 0;
  const cJSON *e;
  cJSON_ArrayForEach(e, arr) {
    if (!cJSON_IsString(e))
      return clippo_fail(err, CLIPPO_E_FORMAT, "%s: '%s'[%zu] is not a string", path, what, i);
    v[i] = strdup(e->valuestring);
    if (!v[i]) return clippo_fail(err, CLIPPO_E_NOMEM, "%s: out of memory", path);
    i++;
  }
  return CLIPPO_OK;
}

static clippo_status captions_parse(const cJSON *root, const char *path, clippo_captions *c,
                                    clippo_error *err) {
  const cJSON *langs = cJSON_GetObjectItemCaseSensitive(root, "languages");
  if (!cJSON_IsObject(langs) || cJSON_GetArraySize(langs) == 0)
    return clippo_fail(err, CLIPPO_E_FORMAT, "%s: needs an object \"languages\"", path);
  for (const cJSON *k = root->child; k; k = k->next)
    if (strcmp(k->string, "languages") && strcmp(k->string, "description"))
      return clippo_fail(err, CLIPPO_E_FORMAT, "%s: unknown key '%s'", path, k->string);
  size_t nl = (size_t)cJSON_GetArraySize(langs);
  c->langs = calloc(nl, sizeof *c->langs);
  c->classes = calloc(nl, sizeof *c->classes);
  c->templates = calloc(nl, sizeof *c->templates);
  c->ntemplates = calloc(nl, sizeof *c->ntemplates);
  if (!c->langs || !c->classes || !c->templates || !c->ntemplates)
    return clippo_fail(err, CLIPPO_E_NOMEM, "%s: out of memory", path);
  size_t l = 0;
  const cJSON *lang;
  cJSON_ArrayForEach(lang, langs) {
    c->nlangs = l + 1;
    c->langs[l] = strdup(lang->string);
    if (!c->langs[l]) return clippo_fail(err, CLIPPO_E_NOMEM, "%s: out of memory", path);
    if (!cJSON_IsObject(lang))
      return clippo_fail(err, CLIPPO_E_FORMAT, "%s: language '%s' must be an object", path,
                         lang->string);
    for (const cJSON *k = lang->child; k; k = k->next)
      if (strcmp(k->string, "classes") && strcmp(k->string, "templates"))
        return clippo_fail(err, CLIPPO_E_FORMAT, "%s: language '%s': unknown key '%s'", path,
                           lang->string, k->string);
    char what[160];
    size_t ncls = 0;
    snprintf(what, sizeof what, "languages.%s.classes", lang->string);
    clippo_status st = string_array(cJSON_GetObjectItemCaseSensitive(lang, "classes"), path, what,
                                    &c->classes[l], &ncls, err);
    if (l == 0) c->nclasses = ncls;
    if (st != CLIPPO_OK) {
      /* keep what was allocated freeable: the class count of this language may differ */
      if (c->classes[l] && ncls != c->nclasses) {
        for (size_t i = 0; i < ncls; i++) free(c->classes[l][i]);
        free(c->classes[l]);
        c->classes[l] = NULL;
      }
      return st;
    }
    if (ncls != c->nclasses) {
      for (size_t i = 0; i < ncls; i++) free(c->classes[l][i]);
      free(c->classes[l]);
      c->classes[l] = NULL;
      return clippo_fail(err, CLIPPO_E_FORMAT,
                         "%s: language '%s' has %zu classes, language '%s' %zu", path, lang->string,
                         ncls, c->langs[0], c->nclasses);
    }
    snprintf(what, sizeof what, "languages.%s.templates", lang->string);
    TRY(string_array(cJSON_GetObjectItemCaseSensitive(lang, "templates"), path, what,
                     &c->templates[l], &c->ntemplates[l], err));
    for (size_t k = 0; k < c->ntemplates[l]; k++)
      if (count_holes(c->templates[l][k]) != 1)
        return clippo_fail(err, CLIPPO_E_FORMAT,
                           "%s: template '%s' of language '%s' must hold exactly one \"{}\"", path,
                           c->templates[l][k], lang->string);
    l++;
  }
  return CLIPPO_OK;
}

clippo_status clippo_captions_load(const char *path, clippo_captions *c, clippo_error *err) {
  memset(c, 0, sizeof *c);
  char *text = NULL;
  size_t len = 0;
  TRY(read_all(path, "caption file", &text, &len, err));
  cJSON *root = cJSON_ParseWithLength(text, len);
  clippo_status st = CLIPPO_OK;
  if (!root || !cJSON_IsObject(root)) {
    const char *where = cJSON_GetErrorPtr();
    long off = where && where >= text && where <= text + len ? (long)(where - text) : -1;
    st =
        clippo_fail(err, CLIPPO_E_FORMAT, "%s: not a JSON object (error near byte %ld)", path, off);
  } else {
    st = captions_parse(root, path, c, err);
  }
  cJSON_Delete(root);
  free(text);
  if (st != CLIPPO_OK) clippo_captions_free(c);
  return st;
}

clippo_status clippo_captions_format(const clippo_captions *c, size_t lang, size_t k, int label,
                                     char *buf, size_t cap, clippo_error *err) {
  if (lang >= c->nlangs || k >= c->ntemplates[lang] || label < 0 || (size_t)label >= c->nclasses ||
      cap == 0)
    return clippo_fail(err, CLIPPO_E_ARG,
                       "caption: language %zu, template %zu or class %d out of range", lang, k,
                       label);
  const char *t = c->templates[lang][k];
  const char *hole = strstr(t, "{}");
  const char *name = c->classes[lang][label];
  int n = snprintf(buf, cap, "%.*s%s%s", (int)(hole - t), t, name, hole + 2);
  if (n < 0 || (size_t)n >= cap)
    return clippo_fail(err, CLIPPO_E_ARG, "caption longer than %zu bytes", cap - 1);
  return CLIPPO_OK;
}

clippo_status clippo_captions_draw(const clippo_captions *c, int label, uint64_t r, char *buf,
                                   size_t cap, clippo_error *err) {
  size_t total = 0;
  for (size_t l = 0; l < c->nlangs; l++) total += c->ntemplates[l];
  if (total == 0) return clippo_fail(err, CLIPPO_E_ARG, "caption: no templates");
  size_t k = (size_t)(r % total);
  for (size_t l = 0; l < c->nlangs; l++) {
    if (k < c->ntemplates[l]) return clippo_captions_format(c, l, k, label, buf, cap, err);
    k -= c->ntemplates[l];
  }
  return clippo_fail(err, CLIPPO_E_ARG, "caption: internal error");
}

/* ---- datasets ------------------------------------------------------------------------------ */

typedef enum data_kind { DATA_FMNIST, DATA_TSV, DATA_ARRAYS, DATA_TEXT_PAIRS } data_kind;

struct clippo_dataset {
  data_kind kind;
  size_t n;
  char desc[CLIPPO_TRAIN_PATH + 64];
  /* Fashion-MNIST */
  clippo_idx images;
  int *labels;
  size_t nclasses;
  clippo_captions caps;
  /* TSV and arrays; text pairs: firsts and texts (the second texts) */
  char **paths;
  char **texts;
  char **firsts;
  /* arrays */
  clippo_array arr; /* (N, S, S, 3) float32 or uint8 */
  int size;
};

void clippo_dataset_free(clippo_dataset *d) {
  if (!d) return;
  clippo_idx_free(&d->images);
  free(d->labels);
  clippo_captions_free(&d->caps);
  for (size_t i = 0; i < d->n; i++) {
    if (d->paths) free(d->paths[i]);
    if (d->texts) free(d->texts[i]);
    if (d->firsts) free(d->firsts[i]);
  }
  free(d->paths);
  free(d->texts);
  free(d->firsts);
  clippo_array_free(&d->arr);
  free(d);
}

size_t clippo_dataset_size(const clippo_dataset *d) { return d->n; }

size_t clippo_dataset_num_classes(const clippo_dataset *d) { return d->nclasses; }

int clippo_dataset_label(const clippo_dataset *d, size_t i) {
  return d->labels && i < d->n ? d->labels[i] : -1;
}

const char *clippo_dataset_describe(const clippo_dataset *d) {
  return d ? d->desc : "no image-caption pairs";
}

clippo_status clippo_dataset_open_fmnist(const char *dir, const char *split,
                                         const char *captions_path, size_t limit,
                                         clippo_dataset **out, clippo_error *err) {
  *out = NULL;
  if (!dir || !*dir) dir = CLIPPO_FMNIST_DIR;
  if (!split || !*split) split = "train";
  const char *pre = NULL;
  if (!strcmp(split, "train"))
    pre = "train";
  else if (!strcmp(split, "test"))
    pre = "t10k";
  else
    return clippo_fail(err, CLIPPO_E_ARG, "fashion-mnist: split must be train or test, not '%s'",
                       split);
  clippo_dataset *d = calloc(1, sizeof *d);
  if (!d) return clippo_fail(err, CLIPPO_E_NOMEM, "out of memory");
  d->kind = DATA_FMNIST;
  char ipath[CLIPPO_TRAIN_PATH + 64], lpath[CLIPPO_TRAIN_PATH + 64];
  snprintf(ipath, sizeof ipath, "%s/%s-images-idx3-ubyte.gz", dir, pre);
  snprintf(lpath, sizeof lpath, "%s/%s-labels-idx1-ubyte.gz", dir, pre);
  clippo_idx lab = {0};
  clippo_status st = clippo_captions_load(captions_path, &d->caps, err);
  if (st == CLIPPO_OK) st = clippo_idx_load(ipath, limit, &d->images, err);
  if (st == CLIPPO_OK) st = clippo_idx_load(lpath, limit, &lab, err);
  if (st == CLIPPO_OK &&
      (d->images.ndim != 3 || d->images.dims[1] != 28 || d->images.dims[2] != 28))
    st = clippo_fail(err, CLIPPO_E_FORMAT, "%s: expected (N, 28, 28) images", ipath);
  if (st == CLIPPO_OK && (lab.ndim != 1 || lab.dims[0] != d->images.dims[0]))
    st = clippo_fail(err, CLIPPO_E_FORMAT, "%s: expected %lld labels", lpath,
                     (long long)d->images.dims[0]);
  if (st == CLIPPO_OK && d->caps.nclasses < 10)
    st = clippo_fail(err, CLIPPO_E_FORMAT, "%s: has %zu classes, Fashion-MNIST needs 10",
                     captions_path, d->caps.nclasses);
  if (st == CLIPPO_OK) {
    d->n = (size_t)d->images.dims[0];
    d->nclasses = 10;
    d->labels = malloc((d->n ? d->n : 1) * sizeof *d->labels);
    if (!d->labels) st = clippo_fail(err, CLIPPO_E_NOMEM, "out of memory");
    for (size_t i = 0; st == CLIPPO_OK && i < d->n; i++) {
      if (lab.data[i] >= 10)
        st = clippo_fail(err, CLIPPO_E_FORMAT, "%s: label %u of item %zu is not in 0..9", lpath,
                         lab.data[i], i);
      else
        d->labels[i] = lab.data[i];
    }
  }
  clippo_idx_free(&lab);
  if (st != CLIPPO_OK) {
    d->n = 0;
    clippo_dataset_free(d);
    return st;
  }
  snprintf(d->desc, sizeof d->desc, "fashion-mnist %s (%zu examples, %zu caption languages)", split,
           d->n, d->caps.nlangs);
  *out = d;
  return CLIPPO_OK;
}

/* The folder part of path ("" for none), with a trailing '/'. */
static void dir_of(const char *path, char *out, size_t cap) {
  const char *slash = strrchr(path, '/');
  size_t n = slash ? (size_t)(slash - path) + 1 : 0;
  if (n >= cap) n = cap - 1;
  memcpy(out, path, n);
  out[n] = '\0';
}

clippo_status clippo_dataset_open_tsv(const char *path, size_t limit, clippo_dataset **out,
                                      clippo_error *err) {
  *out = NULL;
  char *text = NULL;
  size_t len = 0;
  TRY(read_all(path, "TSV file", &text, &len, err));
  clippo_dataset *d = calloc(1, sizeof *d);
  size_t cap = 0;
  clippo_status st = d ? CLIPPO_OK : clippo_fail(err, CLIPPO_E_NOMEM, "out of memory");
  if (st == CLIPPO_OK) d->kind = DATA_TSV;
  char dir[CLIPPO_TRAIN_PATH];
  dir_of(path, dir, sizeof dir);
  size_t line = 0;
  for (char *p = text; st == CLIPPO_OK && p < text + len && (!limit || d->n < limit);) {
    char *eol = memchr(p, '\n', (size_t)(text + len - p));
    char *end = eol ? eol : text + len;
    line++;
    char *next = eol ? eol + 1 : text + len;
    if (end > p && end[-1] == '\r') end--;
    *end = '\0';
    if (memchr(p, '\0', (size_t)(end - p)) != NULL)
      st = clippo_fail(err, CLIPPO_E_FORMAT, "%s:%zu: NUL byte in the line", path, line);
    if (st == CLIPPO_OK && *p != '\0' && *p != '#') {
      char *tab = strchr(p, '\t');
      if (!tab || tab == p) {
        st = clippo_fail(err, CLIPPO_E_FORMAT, "%s:%zu: expected PATH<TAB>CAPTION", path, line);
        break;
      }
      *tab = '\0';
      if (d->n == cap) {
        size_t nc = cap ? cap * 2 : 256;
        char **np = realloc(d->paths, nc * sizeof *np), **nt = NULL;
        if (np) d->paths = np;
        if (np) nt = realloc(d->texts, nc * sizeof *nt);
        if (nt) d->texts = nt;
        if (!np || !nt) {
          st = clippo_fail(err, CLIPPO_E_NOMEM, "%s: out of memory", path);
          break;
        }
        cap = nc;
      }
      size_t plen = strlen(dir) + strlen(p) + 1;
      char *full = malloc(plen);
      char *cap_s = strdup(tab + 1);
      if (!full || !cap_s) {
        free(full);
        free(cap_s);
        st = clippo_fail(err, CLIPPO_E_NOMEM, "%s: out of memory", path);
        break;
      }
      snprintf(full, plen, "%s%s", p[0] == '/' ? "" : dir, p);
      d->paths[d->n] = full;
      d->texts[d->n] = cap_s;
      d->n++;
    }
    p = next;
  }
  free(text);
  if (st == CLIPPO_OK && d->n == 0) st = clippo_fail(err, CLIPPO_E_FORMAT, "%s: no examples", path);
  if (st != CLIPPO_OK) {
    clippo_dataset_free(d);
    return st;
  }
  snprintf(d->desc, sizeof d->desc, "%s (%zu image-caption pairs)", path, d->n);
  *out = d;
  return CLIPPO_OK;
}

clippo_status clippo_dataset_open_arrays(const char *images_npy, const char *texts_path,
                                         clippo_dataset **out, clippo_error *err) {
  *out = NULL;
  clippo_dataset *d = calloc(1, sizeof *d);
  if (!d) return clippo_fail(err, CLIPPO_E_NOMEM, "out of memory");
  d->kind = DATA_ARRAYS;
  char *text = NULL;
  size_t len = 0;
  clippo_status st = clippo_npy_load(images_npy, &d->arr, err);
  const clippo_array *a = &d->arr;
  char sh[128];
  if (st == CLIPPO_OK &&
      (a->ndim != 4 || a->shape[3] != 3 || a->shape[1] != a->shape[2] || a->shape[1] <= 0 ||
       a->shape[0] <= 0 || (a->dtype != CLIPPO_F32 && a->dtype != CLIPPO_U8)))
    st = clippo_fail(err, CLIPPO_E_SHAPE,
                     "%s: images must be (N, S, S, 3) float32 in [-1, 1] or uint8, not %s %s",
                     images_npy, clippo_dtype_name(a->dtype),
                     clippo_shape_str(a->shape, a->ndim, sh, sizeof sh));
  if (st == CLIPPO_OK) st = read_all(texts_path, "text file", &text, &len, err);
  size_t n = st == CLIPPO_OK ? (size_t)a->shape[0] : 0;
  if (st == CLIPPO_OK) {
    d->size = (int)a->shape[1];
    /* lines; a final newline does not start another caption */
    size_t lines = 0;
    for (size_t i = 0; i < len; i++) lines += text[i] == '\n';
    if (len > 0 && text[len - 1] != '\n') lines++;
    if (lines != n)
      st = clippo_fail(err, CLIPPO_E_SHAPE, "%s has %zu lines, %s has %zu images", texts_path,
                       lines, images_npy, n);
  }
  if (st == CLIPPO_OK) {
    d->texts = calloc(n, sizeof *d->texts);
    if (!d->texts) st = clippo_fail(err, CLIPPO_E_NOMEM, "out of memory");
  }
  char *p = text;
  for (size_t i = 0; st == CLIPPO_OK && i < n; i++) {
    char *eol = memchr(p, '\n', (size_t)(text + len - p));
    char *end = eol ? eol : text + len;
    char *next = eol ? eol + 1 : end;
    if (end > p && end[-1] == '\r') end--;
    size_t l = (size_t)(end - p);
    d->texts[i] = malloc(l + 1);
    if (!d->texts[i]) {
      st = clippo_fail(err, CLIPPO_E_NOMEM, "out of memory");
      break;
    }
    memcpy(d->texts[i], p, l);
    d->texts[i][l] = '\0';
    d->n = i + 1;
    p = next;
  }
  free(text);
  if (st != CLIPPO_OK) {
    clippo_dataset_free(d);
    return st;
  }
  snprintf(d->desc, sizeof d->desc, "%s + %s (%zu pairs, %dx%d)", images_npy, texts_path, d->n,
           d->size, d->size);
  *out = d;
  return CLIPPO_OK;
}

clippo_status clippo_dataset_image(const clippo_dataset *d, size_t i, int size, float *dst,
                                   clippo_error *err) {
  if (i >= d->n) return clippo_fail(err, CLIPPO_E_ARG, "example %zu of %zu", i, d->n);
  if (size <= 0) return clippo_fail(err, CLIPPO_E_ARG, "image size %d", size);
  switch (d->kind) {
  case DATA_FMNIST: {
    /* gray -> RGB (decode_image(channels=3) replicates), resize, value_range(-1, 1) */
    uint8_t rgb[28 * 28 * 3];
    const uint8_t *g = d->images.data + i * 28 * 28;
    for (size_t k = 0; k < (size_t)28 * 28; k++)
      rgb[3 * k] = rgb[3 * k + 1] = rgb[3 * k + 2] = g[k];
    clippo_image in = {28, 28, rgb}, small = {0, 0, NULL};
    TRY(clippo_image_resize_bilinear(&in, size, size, &small, err));
    clippo_image_to_input(&small, dst);
    clippo_image_free(&small);
    return CLIPPO_OK;
  }
  case DATA_TSV: {
    clippo_status st = clippo_image_preprocess_file(d->paths[i], size, dst, err);
    return st;
  }
  case DATA_ARRAYS: {
    if (size != d->size)
      return clippo_fail(err, CLIPPO_E_SHAPE,
                         "the images are %dx%d, the model takes %dx%d (resize them first)", d->size,
                         d->size, size, size);
    size_t m = (size_t)size * (size_t)size * 3;
    if (d->arr.dtype == CLIPPO_F32) {
      memcpy(dst, (const float *)d->arr.data + i * m, m * sizeof(float));
    } else {
      clippo_image im = {size, size, (uint8_t *)d->arr.data + i * m};
      clippo_image_to_input(&im, dst);
    }
    return CLIPPO_OK;
  }
  case DATA_TEXT_PAIRS:
    return clippo_fail(err, CLIPPO_E_ARG, "%s holds text pairs, no images", d->desc);
  }
  return clippo_fail(err, CLIPPO_E_ARG, "unknown dataset kind");
}

clippo_status clippo_dataset_caption(const clippo_dataset *d, size_t i, uint64_t seed,
                                     uint64_t epoch, char *buf, size_t cap, clippo_error *err) {
  if (i >= d->n) return clippo_fail(err, CLIPPO_E_ARG, "example %zu of %zu", i, d->n);
  if (d->kind == DATA_FMNIST)
    return clippo_captions_draw(&d->caps, d->labels[i], clippo_hash3(seed, epoch, i), buf, cap,
                                err);
  const char *t = d->texts[i];
  size_t l = strlen(t);
  if (l >= cap) {
    /* cut at a character boundary (the renderer keeps 768 code points anyway) */
    l = cap - 1;
    while (l > 0 && ((unsigned char)t[l] & 0xC0) == 0x80) l--;
  }
  memcpy(buf, t, l);
  buf[l] = '\0';
  return CLIPPO_OK;
}

/* ---- text pairs ---------------------------------------------------------------------------- */

/* Byte offset of the first ill-formed UTF-8 sequence in s[0..n) (overlongs, surrogates, code
 * points above U+10FFFF, truncated sequences, stray continuation bytes), or n when it is all
 * well-formed. */
static size_t utf8_invalid_at(const unsigned char *s, size_t n) {
  for (size_t i = 0; i < n;) {
    unsigned c = s[i];
    size_t len = c < 0x80             ? 1
                 : (c & 0xE0) == 0xC0 ? 2
                 : (c & 0xF0) == 0xE0 ? 3
                 : (c & 0xF8) == 0xF0 ? 4
                                      : 0;
    if (len == 0 || i + len > n) return i;
    uint32_t cp = len == 1 ? c : len == 2 ? (c & 0x1F) : len == 3 ? (c & 0x0F) : (c & 0x07);
    for (size_t k = 1; k < len; k++) {
      if ((s[i + k] & 0xC0) != 0x80) return i;
      cp = (cp << 6) | (s[i + k] & 0x3F);
    }
    static const uint32_t min_cp[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min_cp[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return i;
    i += len;
  }
  return n;
}

/* Appends the pair (a, b) to a text-pair set (*cap: its room). */
static clippo_status add_pair(clippo_dataset *d, size_t *cap, const char *a, size_t alen,
                              const char *b, size_t blen, clippo_error *err) {
  if (d->n == *cap) {
    size_t nc = *cap ? *cap * 2 : 256;
    char **nf = realloc(d->firsts, nc * sizeof *nf);
    if (nf) d->firsts = nf;
    char **nt = nf ? realloc(d->texts, nc * sizeof *nt) : NULL;
    if (nt) d->texts = nt;
    if (!nf || !nt) return clippo_fail(err, CLIPPO_E_NOMEM, "text pairs: out of memory");
    *cap = nc;
  }
  char *x = malloc(alen + 1), *y = malloc(blen + 1);
  if (!x || !y) {
    free(x);
    free(y);
    return clippo_fail(err, CLIPPO_E_NOMEM, "text pairs: out of memory");
  }
  memcpy(x, a, alen);
  x[alen] = '\0';
  memcpy(y, b, blen);
  y[blen] = '\0';
  d->firsts[d->n] = x;
  d->texts[d->n] = y;
  d->n++;
  return CLIPPO_OK;
}

/* Checks one line "TEXT<TAB>TEXT" of a text-pair TSV (p[0..len), no newline) and adds it. */
static clippo_status pair_line(clippo_dataset *d, size_t *cap, const char *path, size_t line,
                               const char *p, size_t len, clippo_error *err) {
  if (memchr(p, '\0', len))
    return clippo_fail(err, CLIPPO_E_FORMAT, "%s:%zu: NUL byte in the line", path, line);
  size_t bad = utf8_invalid_at((const unsigned char *)p, len);
  if (bad < len)
    return clippo_fail(err, CLIPPO_E_FORMAT, "%s:%zu: invalid UTF-8 at byte %zu of the line", path,
                       line, bad + 1);
  size_t cols = 1;
  for (size_t i = 0; i < len; i++) cols += p[i] == '\t';
  if (cols != 2)
    return clippo_fail(err, CLIPPO_E_FORMAT,
                       "%s:%zu: expected TEXT<TAB>TEXT (2 columns), found %zu column%s", path, line,
                       cols, cols == 1 ? " (no TAB)" : "s");
  const char *tab = memchr(p, '\t', len);
  size_t alen = (size_t)(tab - p), blen = len - alen - 1;
  if (alen == 0 || blen == 0)
    return clippo_fail(err, CLIPPO_E_FORMAT, "%s:%zu: the %s text is empty", path, line,
                       alen == 0 ? "first" : "second");
  return add_pair(d, cap, p, alen, tab + 1, blen, err);
}

clippo_status clippo_dataset_open_text_pairs(const char *path, size_t limit, clippo_dataset **out,
                                             clippo_error *err) {
  *out = NULL;
  char *text = NULL;
  size_t len = 0;
  TRY(read_all(path, "text-pair file", &text, &len, err));
  clippo_dataset *d = calloc(1, sizeof *d);
  clippo_status st = d ? CLIPPO_OK : clippo_fail(err, CLIPPO_E_NOMEM, "out of memory");
  if (st == CLIPPO_OK) d->kind = DATA_TEXT_PAIRS;
  size_t cap = 0, line = 0, start = 0;
  if (len >= 3 && !memcmp(text, "\xEF\xBB\xBF", 3)) start = 3; /* a byte order mark */
  for (size_t pos = start; st == CLIPPO_OK && pos < len && (!limit || d->n < limit);) {
    const char *p = text + pos;
    const char *eol = memchr(p, '\n', len - pos);
    size_t n = eol ? (size_t)(eol - p) : len - pos;
    pos += n + 1;
    line++;
    if (n > 0 && p[n - 1] == '\r') n--;
    if (n == 0 || (p[0] == '#' && !memchr(p, '\t', n))) continue; /* blank, comment */
    st = pair_line(d, &cap, path, line, p, n, err);
  }
  free(text);
  if (st == CLIPPO_OK && d->n == 0)
    st = clippo_fail(err, CLIPPO_E_FORMAT, "%s: no text pairs (%s)", path,
                     len <= start ? "the file is empty" : "only blank and comment lines");
  if (st != CLIPPO_OK) {
    clippo_dataset_free(d);
    return st;
  }
  snprintf(d->desc, sizeof d->desc, "%s (%zu text pairs)", path, d->n);
  *out = d;
  return CLIPPO_OK;
}

int clippo_text_pairs_builtin(const char *spec, char *langs, size_t cap) {
  const size_t k = strlen(CLIPPO_TEXT_PAIRS_BUILTIN);
  if (!spec || strncmp(spec, CLIPPO_TEXT_PAIRS_BUILTIN, k) || (spec[k] && spec[k] != ':')) return 0;
  if (langs && cap) snprintf(langs, cap, "%s", spec[k] == ':' ? spec + k + 1 : "en,de,zh");
  return 1;
}

/* The indices in c of the comma-separated language codes of langs (*n of them, at least two,
 * none twice). */
static clippo_status pick_langs(const clippo_captions *c, const char *path, const char *langs,
                                size_t *idx, size_t *n, clippo_error *err) {
  *n = 0;
  for (const char *p = langs;;) {
    size_t len = strcspn(p, ",");
    size_t l = 0;
    while (l < c->nlangs && (strlen(c->langs[l]) != len || strncmp(c->langs[l], p, len))) l++;
    if (l == c->nlangs) {
      char have[256] = "";
      for (size_t i = 0; i < c->nlangs; i++)
        snprintf(have + strlen(have), sizeof have - strlen(have), "%s%s", i ? ", " : "",
                 c->langs[i]);
      return clippo_fail(err, CLIPPO_E_ARG, "%s: no language '%.*s' (it has %s)", path, (int)len, p,
                         have);
    }
    for (size_t i = 0; i < *n; i++)
      if (idx[i] == l)
        return clippo_fail(err, CLIPPO_E_ARG, "text pairs: language '%s' given twice", c->langs[l]);
    idx[(*n)++] = l;
    if (!p[len]) break;
    p += len + 1;
  }
  if (*n < 2)
    return clippo_fail(err, CLIPPO_E_ARG,
                       "text pairs from %s need at least two languages, not '%s'", path, langs);
  return CLIPPO_OK;
}

clippo_status clippo_dataset_open_caption_pairs(const char *captions_path, const char *langs,
                                                clippo_dataset **out, clippo_error *err) {
  *out = NULL;
  if (!langs || !*langs) langs = "en,de,zh";
  clippo_captions c;
  TRY(clippo_captions_load(captions_path, &c, err));
  size_t *idx = calloc(c.nlangs + strlen(langs) + 1, sizeof *idx), nl = 0, cap = 0;
  clippo_dataset *d = calloc(1, sizeof *d);
  char *a = malloc(CAPTION_MAX), *b = malloc(CAPTION_MAX);
  clippo_status st =
      idx && d && a && b ? CLIPPO_OK : clippo_fail(err, CLIPPO_E_NOMEM, "out of memory");
  if (st == CLIPPO_OK) {
    d->kind = DATA_TEXT_PAIRS;
    st = pick_langs(&c, captions_path, langs, idx, &nl, err);
  }
  /* language pairs in the given order, then class, template of the first, of the second */
  for (size_t i = 0; st == CLIPPO_OK && i < nl; i++)
    for (size_t j = i + 1; st == CLIPPO_OK && j < nl; j++)
      for (size_t y = 0; st == CLIPPO_OK && y < c.nclasses; y++)
        for (size_t ka = 0; st == CLIPPO_OK && ka < c.ntemplates[idx[i]]; ka++)
          for (size_t kb = 0; st == CLIPPO_OK && kb < c.ntemplates[idx[j]]; kb++) {
            st = clippo_captions_format(&c, idx[i], ka, (int)y, a, CAPTION_MAX, err);
            if (st == CLIPPO_OK)
              st = clippo_captions_format(&c, idx[j], kb, (int)y, b, CAPTION_MAX, err);
            if (st == CLIPPO_OK) st = add_pair(d, &cap, a, strlen(a), b, strlen(b), err);
          }
  if (st == CLIPPO_OK)
    snprintf(d->desc, sizeof d->desc, "%s:%s (%zu text pairs of the same class from %s)",
             CLIPPO_TEXT_PAIRS_BUILTIN, langs, d->n, captions_path);
  free(idx);
  free(a);
  free(b);
  clippo_captions_free(&c);
  if (st != CLIPPO_OK) {
    clippo_dataset_free(d);
    return st;
  }
  *out = d;
  return CLIPPO_OK;
}

int clippo_dataset_is_text_pairs(const clippo_dataset *d) {
  return d && d->kind == DATA_TEXT_PAIRS;
}

const char *clippo_dataset_text_pair(const clippo_dataset *d, size_t i, int side) {
  if (!d || d->kind != DATA_TEXT_PAIRS || i >= d->n) return NULL;
  return side ? d->texts[i] : d->firsts[i];
}

/* ---- sampler ------------------------------------------------------------------------------- */

static void shuffle(size_t *v, size_t n, uint64_t *state) {
  for (size_t i = n; i > 1; i--) {
    size_t j = (size_t)below(state, i);
    size_t t = v[i - 1];
    v[i - 1] = v[j];
    v[j] = t;
  }
}

/* Builds the order of epoch s->epoch. */
static clippo_status make_order(clippo_sampler *s, clippo_error *err) {
  uint64_t state = clippo_hash3(s->seed, s->epoch, 0x5EEDull);
  if (!s->balanced) {
    for (size_t i = 0; i < s->n; i++) s->order[i] = i;
    if (s->shuffle) shuffle(s->order, s->n, &state);
    return CLIPPO_OK;
  }
  /* per class lists (shuffled), then rounds over the classes in a per-round order */
  size_t nc = s->nclasses;
  size_t *count = calloc(nc, sizeof *count), *start = calloc(nc + 1, sizeof *start);
  size_t *pos = calloc(nc, sizeof *pos), *idx = calloc(s->n ? s->n : 1, sizeof *idx);
  size_t *cls = malloc(nc * sizeof *cls);
  if (!count || !start || !pos || !idx || !cls) {
    free(count), free(start), free(pos), free(idx), free(cls);
    return clippo_fail(err, CLIPPO_E_NOMEM, "sampler: out of memory");
  }
  for (size_t i = 0; i < s->n; i++) count[s->labels[i]]++;
  for (size_t c = 0; c < nc; c++) start[c + 1] = start[c] + count[c];
  for (size_t i = 0; i < s->n; i++) {
    size_t c = (size_t)s->labels[i];
    idx[start[c] + pos[c]++] = i;
  }
  if (s->shuffle)
    for (size_t c = 0; c < nc; c++) shuffle(idx + start[c], count[c], &state);
  memset(pos, 0, nc * sizeof *pos);
  size_t k = 0;
  while (k < s->n) {
    for (size_t c = 0; c < nc; c++) cls[c] = c;
    if (s->shuffle) shuffle(cls, nc, &state);
    for (size_t j = 0; j < nc; j++) {
      size_t c = cls[j];
      if (pos[c] < count[c]) s->order[k++] = idx[start[c] + pos[c]++];
    }
  }
  free(count), free(start), free(pos), free(idx), free(cls);
  return CLIPPO_OK;
}

clippo_status clippo_sampler_init(clippo_sampler *s, const clippo_dataset *d, uint64_t seed,
                                  int shuffle_on, int balanced, clippo_error *err) {
  memset(s, 0, sizeof *s);
  if (d->n == 0) return clippo_fail(err, CLIPPO_E_ARG, "sampler: empty dataset");
  if (balanced && !d->labels)
    return clippo_fail(err, CLIPPO_E_ARG,
                       "class-balanced batches need a labelled dataset (Fashion-MNIST)");
  s->n = d->n;
  s->seed = seed;
  s->shuffle = shuffle_on != 0;
  s->balanced = balanced != 0;
  s->labels = d->labels;
  s->nclasses = d->nclasses;
  s->order = malloc(s->n * sizeof *s->order);
  if (!s->order) return clippo_fail(err, CLIPPO_E_NOMEM, "sampler: out of memory");
  clippo_status st = make_order(s, err);
  if (st != CLIPPO_OK) clippo_sampler_free(s);
  return st;
}

clippo_status clippo_sampler_seek(clippo_sampler *s, uint64_t epoch, uint64_t pos,
                                  clippo_error *err) {
  if (pos > s->n) /* pos == n: the epoch is used up, the next item starts the next one */
    return clippo_fail(err, CLIPPO_E_ARG, "sampler: position %llu of an epoch of %zu",
                       (unsigned long long)pos, s->n);
  if (epoch != s->epoch) {
    s->epoch = epoch;
    TRY(make_order(s, err));
  }
  s->pos = pos;
  return CLIPPO_OK;
}

size_t clippo_sampler_next(clippo_sampler *s, uint64_t *epoch) {
  if (s->pos >= s->n) {
    s->epoch++;
    s->pos = 0;
    /* make_order only fails on memory; keep the previous order then (still deterministic
     * enough to continue, and never out of range) */
    clippo_error e;
    (void)make_order(s, &e);
  }
  if (epoch) *epoch = s->epoch;
  return s->order[s->pos++];
}

void clippo_sampler_free(clippo_sampler *s) {
  if (!s) return;
  free(s->order);
  s->order = NULL;
}

/* ---- batches ------------------------------------------------------------------------------- */

clippo_status clippo_batch_fill(const clippo_dataset *d, clippo_sampler *s, const clippo_font *font,
                                int image_size, size_t b, float *inputs, char **captions,
                                clippo_error *err) {
  const size_t m = (size_t)image_size * (size_t)image_size * 3;
  char **texts = calloc(b ? b : 1, sizeof *texts);
  char *buf = malloc(CAPTION_MAX);
  clippo_status st = texts && buf ? CLIPPO_OK : clippo_fail(err, CLIPPO_E_NOMEM, "out of memory");
  for (size_t k = 0; st == CLIPPO_OK && k < b; k++) {
    uint64_t epoch = 0;
    size_t i = clippo_sampler_next(s, &epoch);
    st = clippo_dataset_image(d, i, image_size, inputs + k * m, err);
    if (st == CLIPPO_OK) st = clippo_dataset_caption(d, i, s->seed, epoch, buf, CAPTION_MAX, err);
    if (st == CLIPPO_OK) {
      texts[k] = strdup(buf);
      if (!texts[k]) st = clippo_fail(err, CLIPPO_E_NOMEM, "out of memory");
    }
    if (st != CLIPPO_OK) clippo_error_prefix(err, "example %zu", i);
  }
  if (st == CLIPPO_OK) {
    clippo_render_opts o;
    clippo_render_opts_default(&o, image_size);
    st = clippo_render_batch(font, &o, (const char *const *)texts, NULL, b, CLIPPO_F32,
                             inputs + b * m, err);
  }
  for (size_t k = 0; k < b && texts; k++) {
    if (captions && st == CLIPPO_OK)
      captions[k] = texts[k];
    else
      free(texts[k]);
  }
  free(texts);
  free(buf);
  return st;
}

/* ---- batches with text pairs --------------------------------------------------------------- */

size_t clippo_mix_text_count(size_t batch, double fraction) {
  if (!(fraction > 0.0)) return 0;
  if (fraction >= 1.0) return batch;
  return (size_t)llround(fraction * (double)batch);
}

size_t clippo_mix_text_before(size_t batch, size_t text, size_t j) {
  if (batch == 0) return 0;
  if (j > batch) j = batch;
  return (size_t)(((uint64_t)j * text) / batch);
}

int clippo_mix_is_text(size_t batch, size_t text, size_t j) {
  return j < batch &&
         clippo_mix_text_before(batch, text, j + 1) > clippo_mix_text_before(batch, text, j);
}

clippo_status clippo_batch_fill_mixed(const clippo_batch_mix *mix, const clippo_font *font,
                                      int image_size, size_t lo, size_t n, float *inputs,
                                      char **firsts, char **seconds, clippo_error *err) {
  const size_t B = mix->batch, P = mix->text;
  if (P > B || lo > B || n > B - lo || (P > 0 && (!mix->pairs || !mix->pair_sampler)) ||
      (P < B && (!mix->data || !mix->sampler)))
    return clippo_fail(err, CLIPPO_E_ARG,
                       "batch of %zu pairs (%zu text/text): rows %zu..%zu or a source missing", B,
                       P, lo, lo + n);
  const size_t m = (size_t)image_size * (size_t)image_size * 3;
  char **second = calloc(n ? n : 1, sizeof *second);
  char *buf = malloc(CAPTION_MAX);
  clippo_render_opts ro;
  clippo_render_opts_default(&ro, image_size);
  clippo_status st = second && buf ? CLIPPO_OK : clippo_fail(err, CLIPPO_E_NOMEM, "out of memory");
  if (firsts)
    for (size_t k = 0; k < n; k++) firsts[k] = NULL;
  for (size_t j = 0; st == CLIPPO_OK && j < B; j++) {
    const int text = clippo_mix_is_text(B, P, j);
    uint64_t epoch = 0;
    size_t i = clippo_sampler_next(text ? mix->pair_sampler : mix->sampler, &epoch);
    if (j < lo || j >= lo + n) continue; /* another share of the batch */
    const size_t k = j - lo;
    if (text) {
      const char *a = mix->pairs->firsts[i];
      st = clippo_render_text(font, &ro, a, strlen(a), CLIPPO_F32, 3, inputs + k * m, err);
      if (st == CLIPPO_OK && firsts && !(firsts[k] = strdup(a)))
        st = clippo_fail(err, CLIPPO_E_NOMEM, "out of memory");
      if (st == CLIPPO_OK && !(second[k] = strdup(mix->pairs->texts[i])))
        st = clippo_fail(err, CLIPPO_E_NOMEM, "out of memory");
      if (st != CLIPPO_OK) clippo_error_prefix(err, "text pair %zu", i);
      continue;
    }
    st = clippo_dataset_image(mix->data, i, image_size, inputs + k * m, err);
    if (st == CLIPPO_OK)
      st = clippo_dataset_caption(mix->data, i, mix->sampler->seed, epoch, buf, CAPTION_MAX, err);
    if (st == CLIPPO_OK && !(second[k] = strdup(buf)))
      st = clippo_fail(err, CLIPPO_E_NOMEM, "out of memory");
    if (st != CLIPPO_OK) clippo_error_prefix(err, "example %zu", i);
  }
  if (st == CLIPPO_OK)
    st = clippo_render_batch(font, &ro, (const char *const *)second, NULL, n, CLIPPO_F32,
                             inputs + n * m, err);
  for (size_t k = 0; k < n && second; k++) {
    if (seconds && st == CLIPPO_OK)
      seconds[k] = second[k];
    else
      free(second[k]);
    if (firsts && st != CLIPPO_OK) {
      free(firsts[k]);
      firsts[k] = NULL;
    }
  }
  free(second);
  free(buf);
  return st;
}
