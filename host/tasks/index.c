/* The image index: an HDF5 file of image embeddings and their paths, appended in committed
 * chunks so that an interrupted `clippo index` resumes where it stopped. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "clippo/atomic_file.h"
#include "clippo/tasks.h"
#include "tasks/tasks_h5.h"
#include "tasks/tasks_internal.h"

#define INDEX_FORMAT "clippo-index-1"

struct clippo_index {
  char path[PATH_MAX];
  hid_t f; /* open for writing, or -1 */
  char *model_id;
  char *model_path;
  size_t dim;
  int64_t image_size;
  size_t count;
  uint64_t nbytes; /* committed bytes of path_bytes */
  clippo_path_list paths;
  tasks_strmap map;
  float *z; /* read mode: (count, dim) */
};

size_t clippo_index_count(const clippo_index *ix) { return ix->count; }
const char *clippo_index_model_id(const clippo_index *ix) { return ix->model_id; }
const char *clippo_index_model_path(const clippo_index *ix) {
  return ix->model_path ? ix->model_path : "";
}
size_t clippo_index_dim(const clippo_index *ix) { return ix->dim; }
const char *clippo_index_path(const clippo_index *ix, size_t i) {
  return i < ix->paths.count ? ix->paths.items[i] : NULL;
}
const float *clippo_index_embeddings(const clippo_index *ix) { return ix->z; }

int clippo_index_contains(const clippo_index *ix, const char *path) {
  size_t v;
  return tasks_strmap_get(&ix->map, path, &v);
}

static void index_free(clippo_index *ix) {
  if (!ix) return;
  if (ix->f >= 0) {
    H5E_BEGIN_TRY { H5Fclose(ix->f); }
    H5E_END_TRY;
  }
  free(ix->model_id);
  free(ix->model_path);
  clippo_path_list_free(&ix->paths);
  tasks_strmap_free(&ix->map);
  free(ix->z);
  free(ix);
}

clippo_status clippo_index_close(clippo_index *ix, clippo_error *err) {
  if (!ix) return CLIPPO_OK;
  clippo_status st = CLIPPO_OK;
  if (ix->f >= 0) {
    herr_t rc;
    H5E_BEGIN_TRY { rc = H5Fclose(ix->f); }
    H5E_END_TRY;
    ix->f = -1;
    if (rc < 0) st = clippo_fail(err, CLIPPO_E_IO, "cannot close index %s", ix->path);
  }
  index_free(ix);
  return st;
}

/* Creates an empty index file atomically. */
static clippo_status index_create(const char *path, const char *model_id, const char *model_path,
                                  size_t dim, int image_size, clippo_error *err) {
  char *tmp = NULL;
  clippo_status st = clippo_atomic_tmpname(path, &tmp, err);
  if (st) return clippo_error_prefix(err, "cannot create index");
  H5E_BEGIN_TRY {
    hid_t f = H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (f < 0) st = clippo_fail(err, CLIPPO_E_IO, "cannot create index file %s", tmp);
    if (st == CLIPPO_OK) st = h5_set_str(f, "format", INDEX_FORMAT, path, err);
    if (st == CLIPPO_OK) st = h5_set_str(f, "model", model_id, path, err);
    if (st == CLIPPO_OK) st = h5_set_str(f, "model_path", model_path ? model_path : "", path, err);
    if (st == CLIPPO_OK) st = h5_set_i64(f, "dim", (int64_t)dim, path, err);
    if (st == CLIPPO_OK) st = h5_set_i64(f, "image_size", image_size, path, err);
    if (st == CLIPPO_OK) st = h5_set_i64(f, "count", 0, path, err);
    size_t chunk = dim ? ((size_t)1 << 16) / dim : 256;
    if (chunk < 16) chunk = 16;
    if (st == CLIPPO_OK) st = h5_create_ext(f, "z", H5T_IEEE_F32LE, dim, chunk, path, err);
    if (st == CLIPPO_OK) st = h5_create_ext(f, "path_bytes", H5T_STD_U8LE, 0, 65536, path, err);
    if (st == CLIPPO_OK) st = h5_create_ext(f, "path_ends", H5T_STD_U64LE, 0, 1024, path, err);
    if (f >= 0 && H5Fclose(f) < 0 && st == CLIPPO_OK)
      st = clippo_fail(err, CLIPPO_E_IO, "cannot finish index file %s", tmp);
  }
  H5E_END_TRY;
  if (st == CLIPPO_OK)
    st = clippo_atomic_publish(tmp, path, err);
  else
    remove(tmp);
  free(tmp);
  return st;
}

/* Reads the header and the committed paths (and embeddings when want_z) of an open file. */
static clippo_status index_load(clippo_index *ix, hid_t f, int want_z, clippo_error *err) {
  char *fmt = NULL;
  int64_t dim = 0, count = 0;
  clippo_status st = h5_get_str(f, "format", &fmt, ix->path, err);
  if (st != CLIPPO_OK || strcmp(fmt, INDEX_FORMAT))
    st = clippo_fail(err, CLIPPO_E_FORMAT, "%s is an HDF5 file but not a clippo index", ix->path);
  free(fmt);
  if (st == CLIPPO_OK) st = h5_get_str(f, "model", &ix->model_id, ix->path, err);
  if (st == CLIPPO_OK && h5_get_str(f, "model_path", &ix->model_path, ix->path, err) != CLIPPO_OK)
    ix->model_path = NULL;
  if (st == CLIPPO_OK) st = h5_get_i64(f, "dim", &dim, ix->path, err);
  if (st == CLIPPO_OK && h5_get_i64(f, "image_size", &ix->image_size, ix->path, err) != CLIPPO_OK)
    ix->image_size = 0;
  if (st == CLIPPO_OK) st = h5_get_i64(f, "count", &count, ix->path, err);
  if (st == CLIPPO_OK && (dim <= 0 || dim > 65536 || count < 0 || count > ((int64_t)1 << 32)))
    st = clippo_fail(err, CLIPPO_E_FORMAT, "%s: bad index header (dim %lld, count %lld)", ix->path,
                     (long long)dim, (long long)count);
  if (st) return st;
  ix->dim = (size_t)dim;
  size_t n = (size_t)count;
  uint64_t *ends = malloc((n + 1) * sizeof *ends);
  if (!ends) return clippo_fail(err, CLIPPO_E_NOMEM, "out of host memory reading %s", ix->path);
  st = h5_read_rows(f, "path_ends", H5T_NATIVE_UINT64, n, 0, ends, ix->path, err);
  uint64_t nbytes = n ? ends[n - 1] : 0;
  int64_t have_bytes = h5_rows(f, "path_bytes");
  if (st == CLIPPO_OK && (have_bytes < 0 || (uint64_t)have_bytes < nbytes))
    st = clippo_fail(err, CLIPPO_E_FORMAT, "%s: the path list is shorter than its count", ix->path);
  char *bytes = st == CLIPPO_OK ? malloc(nbytes + 1) : NULL;
  if (st == CLIPPO_OK && !bytes)
    st = clippo_fail(err, CLIPPO_E_NOMEM, "out of host memory reading %s", ix->path);
  if (st == CLIPPO_OK)
    st = h5_read_rows(f, "path_bytes", H5T_NATIVE_UCHAR, nbytes, 0, bytes, ix->path, err);
  uint64_t prev = 0;
  for (size_t i = 0; i < n && st == CLIPPO_OK; i++) {
    if (ends[i] < prev || ends[i] > nbytes || ends[i] - prev >= PATH_MAX) {
      st = clippo_fail(err, CLIPPO_E_FORMAT, "%s: corrupt path list at entry %zu", ix->path, i);
      break;
    }
    char p[PATH_MAX];
    memcpy(p, bytes + prev, (size_t)(ends[i] - prev));
    p[ends[i] - prev] = '\0';
    st = clippo_path_list_add(&ix->paths, p, err);
    if (st == CLIPPO_OK) st = tasks_strmap_put(&ix->map, ix->paths.items[i], i, err);
    prev = ends[i];
  }
  free(bytes);
  free(ends);
  if (st == CLIPPO_OK && want_z) {
    ix->z = malloc((n ? n : 1) * ix->dim * sizeof *ix->z);
    if (!ix->z)
      st = clippo_fail(err, CLIPPO_E_NOMEM, "out of host memory reading %s", ix->path);
    else
      st = h5_read_rows(f, "z", H5T_NATIVE_FLOAT, n, ix->dim, ix->z, ix->path, err);
  } else if (st == CLIPPO_OK) {
    int64_t zr = h5_rows(f, "z");
    if (zr < 0 || (uint64_t)zr < n)
      st = clippo_fail(err, CLIPPO_E_FORMAT, "%s: fewer embeddings than its count", ix->path);
  }
  if (st == CLIPPO_OK) {
    ix->count = n;
    ix->nbytes = nbytes;
  }
  return st;
}

static clippo_status open_file(clippo_index *ix, unsigned flags, clippo_error *err) {
  H5E_BEGIN_TRY { ix->f = H5Fopen(ix->path, flags, H5P_DEFAULT); }
  H5E_END_TRY;
  if (ix->f < 0)
    return clippo_fail(err, CLIPPO_E_FORMAT,
                       "cannot open index %s: not an HDF5 file, or damaged (e.g. the machine "
                       "stopped during a write); delete it to start over",
                       ix->path);
  return CLIPPO_OK;
}

clippo_status clippo_index_open_append(const char *path, const char *model_id,
                                       const char *model_path, size_t dim, int image_size,
                                       clippo_index **out, clippo_error *err) {
  *out = NULL;
  clippo_index *ix = calloc(1, sizeof *ix);
  if (!ix) return clippo_fail(err, CLIPPO_E_NOMEM, "out of host memory");
  ix->f = -1;
  snprintf(ix->path, sizeof ix->path, "%s", path);
  struct stat sb;
  clippo_status st = CLIPPO_OK;
  if (stat(path, &sb) != 0) {
    if (errno != ENOENT)
      st = clippo_fail(err, CLIPPO_E_IO, "cannot access index %s: %s", path, strerror(errno));
    else
      st = index_create(path, model_id, model_path, dim, image_size, err);
  }
  if (st == CLIPPO_OK) st = open_file(ix, H5F_ACC_RDWR, err);
  if (st == CLIPPO_OK) {
    H5E_BEGIN_TRY { st = index_load(ix, ix->f, 0, err); }
    H5E_END_TRY;
  }
  if (st == CLIPPO_OK && strcmp(ix->model_id, model_id))
    st = clippo_fail(err, CLIPPO_E_ARG,
                     "index %s was built with another model (%s, identity %s); this model is %s "
                     "(identity %s): use the same model, or write a new index with another --out",
                     path, ix->model_path && *ix->model_path ? ix->model_path : "?", ix->model_id,
                     model_path ? model_path : "?", model_id);
  if (st == CLIPPO_OK && ix->dim != dim)
    st = clippo_fail(err, CLIPPO_E_ARG, "index %s holds %zu-dim embeddings, the model gives %zu",
                     path, ix->dim, dim);
  if (st) {
    index_free(ix);
    return st;
  }
  *out = ix;
  return CLIPPO_OK;
}

clippo_status clippo_index_open_read(const char *path, clippo_index **out, clippo_error *err) {
  *out = NULL;
  clippo_index *ix = calloc(1, sizeof *ix);
  if (!ix) return clippo_fail(err, CLIPPO_E_NOMEM, "out of host memory");
  ix->f = -1;
  snprintf(ix->path, sizeof ix->path, "%s", path);
  struct stat sb;
  clippo_status st = CLIPPO_OK;
  if (stat(path, &sb) != 0)
    st = clippo_fail(err, errno == ENOENT ? CLIPPO_E_NOTFOUND : CLIPPO_E_IO,
                     "cannot open index %s: %s", path, strerror(errno));
  if (st == CLIPPO_OK) st = open_file(ix, H5F_ACC_RDONLY, err);
  if (st == CLIPPO_OK) {
    H5E_BEGIN_TRY {
      st = index_load(ix, ix->f, 1, err);
      H5Fclose(ix->f);
    }
    H5E_END_TRY;
    ix->f = -1;
  }
  if (st) {
    index_free(ix);
    return st;
  }
  *out = ix;
  return CLIPPO_OK;
}

clippo_status clippo_index_append(clippo_index *ix, const char *const *paths, const float *z,
                                  size_t n, clippo_error *err) {
  if (n == 0) return CLIPPO_OK;
  if (ix->f < 0)
    return clippo_fail(err, CLIPPO_E_ARG, "index %s is not open for writing", ix->path);
  size_t nb = 0;
  for (size_t i = 0; i < n; i++) nb += strlen(paths[i]);
  char *bytes = malloc(nb + 1);
  uint64_t *ends = malloc(n * sizeof *ends);
  if (!bytes || !ends) {
    free(bytes);
    free(ends);
    return clippo_fail(err, CLIPPO_E_NOMEM, "out of host memory");
  }
  size_t o = 0;
  for (size_t i = 0; i < n; i++) {
    size_t l = strlen(paths[i]);
    memcpy(bytes + o, paths[i], l);
    o += l;
    ends[i] = ix->nbytes + o;
  }
  clippo_status st = CLIPPO_OK;
  H5E_BEGIN_TRY {
    st = h5_append(ix->f, "z", H5T_NATIVE_FLOAT, ix->count, n, ix->dim, z, ix->path, err);
    if (st == CLIPPO_OK)
      st =
          h5_append(ix->f, "path_bytes", H5T_NATIVE_UCHAR, ix->nbytes, nb, 0, bytes, ix->path, err);
    if (st == CLIPPO_OK)
      st = h5_append(ix->f, "path_ends", H5T_NATIVE_UINT64, ix->count, n, 0, ends, ix->path, err);
    if (st == CLIPPO_OK && H5Fflush(ix->f, H5F_SCOPE_GLOBAL) < 0)
      st = clippo_fail(err, CLIPPO_E_IO, "cannot flush index %s", ix->path);
    if (st == CLIPPO_OK) st = h5_set_i64(ix->f, "count", (int64_t)(ix->count + n), ix->path, err);
    if (st == CLIPPO_OK && H5Fflush(ix->f, H5F_SCOPE_GLOBAL) < 0)
      st = clippo_fail(err, CLIPPO_E_IO, "cannot flush index %s", ix->path);
  }
  H5E_END_TRY;
  free(bytes);
  free(ends);
  for (size_t i = 0; i < n && st == CLIPPO_OK; i++) {
    st = clippo_path_list_add(&ix->paths, paths[i], err);
    if (st == CLIPPO_OK)
      st = tasks_strmap_put(&ix->map, ix->paths.items[ix->count + i], ix->count + i, err);
  }
  if (st == CLIPPO_OK) {
    ix->count += n;
    ix->nbytes += nb;
  }
  return st;
}

size_t clippo_index_search(const clippo_index *ix, const float *q, size_t k, size_t *idx,
                           float *scores) {
  if (!ix->z || ix->count == 0 || k == 0) return 0;
  float *s = malloc(ix->count * sizeof *s);
  if (!s) return 0;
  for (size_t i = 0; i < ix->count; i++) {
    const float *row = ix->z + i * ix->dim;
    double acc = 0.0;
    for (size_t d = 0; d < ix->dim; d++) acc += (double)q[d] * (double)row[d];
    s[i] = (float)acc;
  }
  size_t m = clippo_topk(s, ix->count, k, idx);
  for (size_t i = 0; i < m; i++) scores[i] = s[idx[i]];
  free(s);
  return m;
}
