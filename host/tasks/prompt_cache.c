/* The prompt-embedding cache: an HDF5 file with one group per (model identity, font identity,
 * embedding size), written atomically.
 *
 * Layout: root attribute format = "clippo-prompt-cache-1"; group "g<16 hex>" (a hash of the
 * key) with attributes model, font (strings), dim, count, written (unix time), and datasets
 * z (count, dim) float32, prompt_bytes (uint8: the prompts' UTF-8 bytes back to back) and
 * prompt_ends (uint64: end offset of each prompt). */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clippo/atomic_file.h"
#include "clippo/tasks.h"
#include "tasks/tasks_h5.h"
#include "tasks/tasks_internal.h"

#define CACHE_FORMAT "clippo-prompt-cache-1"
#define CACHE_MAX_GROUPS 8

struct clippo_prompt_cache {
  char path[PATH_MAX]; /* "" = memory only */
  char *model_id;
  char *font_id;
  size_t dim;
  char group[40];
  size_t count, cap;
  char **prompts;
  float *z;
  tasks_strmap map;
  int dirty;
  char warning[512];
};

size_t clippo_prompt_cache_count(const clippo_prompt_cache *c) { return c ? c->count : 0; }
const char *clippo_prompt_cache_warning(const clippo_prompt_cache *c) {
  return c ? c->warning : "";
}
const char *clippo_prompt_cache_path(const clippo_prompt_cache *c) { return c ? c->path : ""; }

void clippo_prompt_cache_free(clippo_prompt_cache *c) {
  if (!c) return;
  for (size_t i = 0; i < c->count; i++) free(c->prompts[i]);
  free(c->prompts);
  free(c->z);
  free(c->model_id);
  free(c->font_id);
  tasks_strmap_free(&c->map);
  free(c);
}

static clippo_status cache_reserve(clippo_prompt_cache *c, size_t need, clippo_error *err) {
  if (need <= c->cap) return CLIPPO_OK;
  size_t cap = c->cap ? c->cap : 256;
  while (cap < need) cap *= 2;
  char **p = realloc(c->prompts, cap * sizeof *p);
  if (p) c->prompts = p;
  float *z = p ? realloc(c->z, cap * c->dim * sizeof *z) : NULL;
  if (z) c->z = z;
  if (!p || !z) return clippo_fail(err, CLIPPO_E_NOMEM, "out of host memory (prompt cache)");
  c->cap = cap;
  return CLIPPO_OK;
}

int clippo_prompt_cache_get(const clippo_prompt_cache *c, const char *prompt, float *z) {
  size_t i;
  if (!c || !tasks_strmap_get(&c->map, prompt, &i)) return 0;
  memcpy(z, c->z + i * c->dim, c->dim * sizeof *z);
  return 1;
}

/* Adds without marking dirty. */
static clippo_status cache_add(clippo_prompt_cache *c, const char *prompt, size_t len,
                               const float *z, clippo_error *err) {
  char *key = malloc(len + 1);
  if (!key) return clippo_fail(err, CLIPPO_E_NOMEM, "out of host memory (prompt cache)");
  memcpy(key, prompt, len);
  key[len] = '\0';
  size_t i;
  if (tasks_strmap_get(&c->map, key, &i)) {
    memcpy(c->z + i * c->dim, z, c->dim * sizeof *z);
    free(key);
    return CLIPPO_OK;
  }
  clippo_status st = cache_reserve(c, c->count + 1, err);
  if (st == CLIPPO_OK) st = tasks_strmap_put(&c->map, key, c->count, err);
  if (st) {
    free(key);
    return st;
  }
  c->prompts[c->count] = key;
  memcpy(c->z + c->count * c->dim, z, c->dim * sizeof *z);
  c->count++;
  return CLIPPO_OK;
}

clippo_status clippo_prompt_cache_put(clippo_prompt_cache *c, const char *prompt, const float *z,
                                      clippo_error *err) {
  clippo_status st = cache_add(c, prompt, strlen(prompt), z, err);
  if (st == CLIPPO_OK) c->dirty = 1;
  return st;
}

/* Loads our group from an open file; failures become a warning (the cache is then empty). */
static void cache_load_group(clippo_prompt_cache *c, hid_t f) {
  clippo_error e;
  if (H5Lexists(f, c->group, H5P_DEFAULT) <= 0) return;
  hid_t g = H5Gopen2(f, c->group, H5P_DEFAULT);
  if (g < 0) {
    snprintf(c->warning, sizeof c->warning, "prompt cache %s: group %s unreadable", c->path,
             c->group);
    return;
  }
  char *model = NULL, *font = NULL;
  int64_t dim = 0, count = 0;
  uint64_t *ends = NULL;
  unsigned char *bytes = NULL;
  float *z = NULL;
  int ok = h5_get_str(g, "model", &model, c->path, &e) == CLIPPO_OK &&
           h5_get_str(g, "font", &font, c->path, &e) == CLIPPO_OK &&
           h5_get_i64(g, "dim", &dim, c->path, &e) == CLIPPO_OK &&
           h5_get_i64(g, "count", &count, c->path, &e) == CLIPPO_OK;
  if (ok && (strcmp(model, c->model_id) || strcmp(font, c->font_id) || dim != (int64_t)c->dim))
    ok = 0; /* a hash collision with another key: ignore it, it is overwritten on save */
  int64_t nbytes = ok ? h5_rows(g, "prompt_bytes") : -1;
  if (ok && (count < 0 || count > ((int64_t)1 << 28) || nbytes < 0 || nbytes > ((int64_t)1 << 34)))
    ok = 0;
  if (ok) {
    ends = malloc(((size_t)count + 1) * sizeof *ends);
    bytes = malloc((size_t)nbytes + 1);
    z = malloc(((size_t)count + 1) * c->dim * sizeof *z);
    ok = ends && bytes && z &&
         h5_read_rows(g, "prompt_ends", H5T_NATIVE_UINT64, (size_t)count, 0, ends, c->path, &e) ==
             CLIPPO_OK &&
         h5_read_rows(g, "prompt_bytes", H5T_NATIVE_UCHAR, (size_t)nbytes, 0, bytes, c->path, &e) ==
             CLIPPO_OK &&
         h5_read_rows(g, "z", H5T_NATIVE_FLOAT, (size_t)count, c->dim, z, c->path, &e) == CLIPPO_OK;
  }
  uint64_t prev = 0;
  for (int64_t i = 0; ok && i < count; i++) {
    if (ends[i] < prev || ends[i] > (uint64_t)nbytes ||
        cache_add(c, (const char *)bytes + prev, (size_t)(ends[i] - prev), z + (size_t)i * c->dim,
                  &e) != CLIPPO_OK)
      ok = 0;
    prev = ok ? ends[i] : prev;
  }
  if (!ok) {
    for (size_t i = 0; i < c->count; i++) free(c->prompts[i]);
    c->count = 0;
    tasks_strmap_free(&c->map);
    snprintf(c->warning, sizeof c->warning,
             "prompt cache %s: the entries for this model are damaged and will be rewritten",
             c->path);
  }
  free(model);
  free(font);
  free(ends);
  free(bytes);
  free(z);
  H5Gclose(g);
}

clippo_status clippo_prompt_cache_open(const char *path, const char *model_id, const char *font_id,
                                       size_t dim, clippo_prompt_cache **out, clippo_error *err) {
  *out = NULL;
  if (dim == 0) return clippo_fail(err, CLIPPO_E_ARG, "prompt cache: embedding size is 0");
  clippo_prompt_cache *c = calloc(1, sizeof *c);
  if (!c) return clippo_fail(err, CLIPPO_E_NOMEM, "out of host memory (prompt cache)");
  c->dim = dim;
  c->model_id = strdup(model_id ? model_id : "");
  c->font_id = strdup(font_id ? font_id : "");
  if (!c->model_id || !c->font_id) {
    clippo_prompt_cache_free(c);
    return clippo_fail(err, CLIPPO_E_NOMEM, "out of host memory (prompt cache)");
  }
  snprintf(c->path, sizeof c->path, "%s", path ? path : "");
  size_t klen = strlen(c->model_id) + strlen(c->font_id) + 32;
  char *key = malloc(klen);
  if (!key) {
    clippo_prompt_cache_free(c);
    return clippo_fail(err, CLIPPO_E_NOMEM, "out of host memory (prompt cache)");
  }
  snprintf(key, klen, "%s\n%s\n%zu", c->model_id, c->font_id, dim);
  snprintf(c->group, sizeof c->group, "g%016llx",
           (unsigned long long)tasks_hash64(key, strlen(key)));
  free(key);
  FILE *probe = c->path[0] ? fopen(c->path, "rb") : NULL;
  if (probe) {
    fclose(probe);
    hid_t f = -1;
    H5E_BEGIN_TRY {
      f = H5Fopen(c->path, H5F_ACC_RDONLY, H5P_DEFAULT);
      if (f >= 0) {
        char *fmt = NULL;
        clippo_error e;
        if (h5_get_str(f, "format", &fmt, c->path, &e) != CLIPPO_OK || strcmp(fmt, CACHE_FORMAT))
          snprintf(c->warning, sizeof c->warning,
                   "prompt cache %s is not a clippo prompt cache; it will be replaced", c->path);
        else
          cache_load_group(c, f);
        free(fmt);
        H5Fclose(f);
      } else {
        snprintf(c->warning, sizeof c->warning,
                 "prompt cache %s is unreadable (corrupt?); it will be replaced", c->path);
      }
    }
    H5E_END_TRY;
  }
  *out = c;
  return CLIPPO_OK;
}

typedef struct group_entry {
  char name[64];
  int64_t written;
} group_entry;

static int by_written_desc(const void *a, const void *b) {
  const group_entry *x = a, *y = b;
  return x->written < y->written ? 1 : x->written > y->written ? -1 : strcmp(x->name, y->name);
}

/* Copies the most recently written other groups of the old file into dst. */
static void copy_other_groups(clippo_prompt_cache *c, hid_t dst) {
  hid_t src = H5Fopen(c->path, H5F_ACC_RDONLY, H5P_DEFAULT);
  if (src < 0) return;
  char *fmt = NULL;
  clippo_error e;
  H5G_info_t info;
  if (h5_get_str(src, "format", &fmt, c->path, &e) == CLIPPO_OK && !strcmp(fmt, CACHE_FORMAT) &&
      H5Gget_info(src, &info) >= 0 && info.nlinks > 0 && info.nlinks < 100000) {
    group_entry *g = calloc((size_t)info.nlinks, sizeof *g);
    size_t n = 0;
    for (hsize_t i = 0; g && i < info.nlinks; i++) {
      ssize_t len = H5Lget_name_by_idx(src, ".", H5_INDEX_NAME, H5_ITER_INC, i, g[n].name,
                                       sizeof g[n].name, H5P_DEFAULT);
      if (len <= 0 || (size_t)len >= sizeof g[n].name || g[n].name[0] != 'g' ||
          !strcmp(g[n].name, c->group))
        continue;
      hid_t gr = H5Gopen2(src, g[n].name, H5P_DEFAULT);
      if (gr < 0) continue;
      if (h5_get_i64(gr, "written", &g[n].written, c->path, &e) != CLIPPO_OK) g[n].written = 0;
      H5Gclose(gr);
      n++;
    }
    if (g) qsort(g, n, sizeof *g, by_written_desc);
    for (size_t i = 0; g && i < n && i < CACHE_MAX_GROUPS - 1; i++)
      H5Ocopy(src, g[i].name, dst, g[i].name, H5P_DEFAULT, H5P_DEFAULT);
    free(g);
  }
  free(fmt);
  H5Fclose(src);
}

/* Writes a rank-1 or rank-2 fixed-size dataset. */
static clippo_status write_plain(hid_t loc, const char *name, hid_t ftype, hid_t mtype, size_t rows,
                                 size_t cols, const void *data, const char *file,
                                 clippo_error *err) {
  hsize_t dims[2] = {rows, cols};
  hid_t sp = H5Screate_simple(cols ? 2 : 1, dims, NULL);
  hid_t d = sp >= 0 ? H5Dcreate2(loc, name, ftype, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT) : -1;
  herr_t rc = d >= 0 ? H5Dwrite(d, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) : -1;
  if (d >= 0) H5Dclose(d);
  if (sp >= 0) H5Sclose(sp);
  if (rc < 0) return clippo_fail(err, CLIPPO_E_IO, "%s: cannot write dataset '%s'", file, name);
  return CLIPPO_OK;
}

clippo_status clippo_prompt_cache_save(clippo_prompt_cache *c, clippo_error *err) {
  if (!c || !c->dirty || !c->path[0] || c->count == 0) return CLIPPO_OK;
  char dir[PATH_MAX];
  snprintf(dir, sizeof dir, "%s", c->path);
  char *slash = strrchr(dir, '/');
  if (slash && slash != dir) {
    *slash = '\0';
    tasks_make_dirs(dir);
  }
  size_t nbytes = 0;
  for (size_t i = 0; i < c->count; i++) nbytes += strlen(c->prompts[i]);
  uint64_t *ends = malloc((c->count + 1) * sizeof *ends);
  unsigned char *bytes = malloc(nbytes + 1);
  if (!ends || !bytes) {
    free(ends);
    free(bytes);
    return clippo_fail(err, CLIPPO_E_NOMEM, "out of host memory (prompt cache)");
  }
  size_t o = 0;
  for (size_t i = 0; i < c->count; i++) {
    size_t l = strlen(c->prompts[i]);
    memcpy(bytes + o, c->prompts[i], l);
    o += l;
    ends[i] = o;
  }
  char *tmp = NULL;
  clippo_status st = clippo_atomic_tmpname(c->path, &tmp, err);
  if (st) {
    free(ends);
    free(bytes);
    return clippo_error_prefix(err, "cannot write the prompt cache");
  }
  H5E_BEGIN_TRY {
    hid_t f = H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (f < 0) st = clippo_fail(err, CLIPPO_E_IO, "cannot create the prompt cache file %s", tmp);
    if (st == CLIPPO_OK) st = h5_set_str(f, "format", CACHE_FORMAT, c->path, err);
    if (st == CLIPPO_OK) copy_other_groups(c, f);
    hid_t g = -1;
    if (st == CLIPPO_OK) {
      g = H5Gcreate2(f, c->group, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
      if (g < 0) st = clippo_fail(err, CLIPPO_E_IO, "%s: cannot create a group", c->path);
    }
    if (st == CLIPPO_OK) st = h5_set_str(g, "model", c->model_id, c->path, err);
    if (st == CLIPPO_OK) st = h5_set_str(g, "font", c->font_id, c->path, err);
    if (st == CLIPPO_OK) st = h5_set_i64(g, "dim", (int64_t)c->dim, c->path, err);
    if (st == CLIPPO_OK) st = h5_set_i64(g, "count", (int64_t)c->count, c->path, err);
    if (st == CLIPPO_OK) st = h5_set_i64(g, "written", (int64_t)time(NULL), c->path, err);
    if (st == CLIPPO_OK)
      st = write_plain(g, "z", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, c->count, c->dim, c->z, c->path,
                       err);
    if (st == CLIPPO_OK)
      st = write_plain(g, "prompt_bytes", H5T_STD_U8LE, H5T_NATIVE_UCHAR, nbytes ? nbytes : 0, 0,
                       bytes, c->path, err);
    if (st == CLIPPO_OK)
      st = write_plain(g, "prompt_ends", H5T_STD_U64LE, H5T_NATIVE_UINT64, c->count, 0, ends,
                       c->path, err);
    if (g >= 0) H5Gclose(g);
    if (f >= 0 && H5Fclose(f) < 0 && st == CLIPPO_OK)
      st = clippo_fail(err, CLIPPO_E_IO, "cannot finish the prompt cache file %s", tmp);
  }
  H5E_END_TRY;
  free(ends);
  free(bytes);
  if (st == CLIPPO_OK)
    st = clippo_atomic_publish(tmp, c->path, err);
  else
    remove(tmp);
  free(tmp);
  if (st == CLIPPO_OK) c->dirty = 0;
  return st;
}
