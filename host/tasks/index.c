/* The image index: an HDF5 file of image embeddings keyed by file path, size and modification
 * time. Rows are only ever appended, in committed chunks, so that an interrupted `clippo index`
 * resumes where it stopped; the last row of a path wins, and a row whose size is
 * CLIPPO_STAMP_REMOVED records that the file is gone. When superseded rows pile up, the file is
 * rewritten (atomically) with its live rows only. */
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

#define INDEX_FORMAT "clippo-index-2"
#define INDEX_FORMAT_V1 "clippo-index-1" /* clippo before 0.2: no sizes and times */
#define COMPACT_CHUNK 4096               /* rows copied at a time when rewriting */

struct clippo_index {
  char path[PATH_MAX];
  hid_t f;      /* open file (read-only while loading, read-write when appending), or -1 */
  int version;  /* 1 or 2 */
  int for_read; /* opened by clippo_index_open_read: entries are the live ones only */
  char *model_id;
  char *model_path;
  size_t dim;
  int64_t image_size;
  size_t rows;               /* committed rows of the file */
  uint64_t nbytes;           /* committed bytes of path_bytes */
  clippo_path_list entries;  /* one per distinct path, in first-row order */
  clippo_file_stamp *stamps; /* per entry: the stamp of its last row */
  size_t *row_of;            /* per entry: its last row */
  size_t ecap;               /* capacity of stamps and row_of */
  size_t live;               /* entries whose file is not removed */
  tasks_strmap map;          /* path -> entry */
  float *z;                  /* read mode: (live, dim), entry order */
};

/* ---- accessors ----------------------------------------------------------------------------- */

size_t clippo_index_count(const clippo_index *ix) { return ix->live; }
const char *clippo_index_model_id(const clippo_index *ix) { return ix->model_id; }
const char *clippo_index_model_path(const clippo_index *ix) {
  return ix->model_path ? ix->model_path : "";
}
size_t clippo_index_dim(const clippo_index *ix) { return ix->dim; }
const char *clippo_index_path(const clippo_index *ix, size_t i) {
  return ix->for_read && i < ix->entries.count ? ix->entries.items[i] : NULL;
}
clippo_file_stamp clippo_index_stamp(const clippo_index *ix, size_t i) {
  clippo_file_stamp none = {CLIPPO_STAMP_UNKNOWN, 0};
  return ix->for_read && i < ix->entries.count ? ix->stamps[i] : none;
}
const float *clippo_index_embeddings(const clippo_index *ix) { return ix->z; }
size_t clippo_index_superseded(const clippo_index *ix) { return ix->rows - ix->live; }

int clippo_index_lookup(const clippo_index *ix, const char *path, clippo_file_stamp *stamp) {
  size_t e;
  if (!tasks_strmap_get(&ix->map, path, &e) || ix->stamps[e].size == CLIPPO_STAMP_REMOVED) return 0;
  if (stamp) *stamp = ix->stamps[e];
  return 1;
}

int clippo_index_contains(const clippo_index *ix, const char *path) {
  return clippo_index_lookup(ix, path, NULL);
}

/* ---- memory -------------------------------------------------------------------------------- */

/* Drops the loaded entries (the header stays). */
static void entries_clear(clippo_index *ix) {
  clippo_path_list_free(&ix->entries);
  tasks_strmap_free(&ix->map);
  free(ix->stamps);
  free(ix->row_of);
  free(ix->z);
  ix->stamps = NULL;
  ix->row_of = NULL;
  ix->z = NULL;
  ix->ecap = 0;
  ix->live = 0;
  ix->rows = 0;
  ix->nbytes = 0;
}

static void close_file(clippo_index *ix) {
  if (ix->f >= 0) {
    H5E_BEGIN_TRY { H5Fclose(ix->f); }
    H5E_END_TRY;
  }
  ix->f = -1;
}

static void index_free(clippo_index *ix) {
  if (!ix) return;
  close_file(ix);
  free(ix->model_id);
  free(ix->model_path);
  entries_clear(ix);
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

/* Records that row `row` holds path with stamp (a new entry, or the entry's newer row). */
static clippo_status note_row(clippo_index *ix, const char *path, clippo_file_stamp stamp,
                              size_t row, clippo_error *err) {
  size_t e;
  if (!tasks_strmap_get(&ix->map, path, &e)) {
    if (ix->entries.count == ix->ecap) {
      size_t cap = ix->ecap ? ix->ecap * 2 : 64;
      clippo_file_stamp *s = realloc(ix->stamps, cap * sizeof *s);
      for (size_t k = ix->ecap; s && k < cap; k++)
        s[k] = (clippo_file_stamp){CLIPPO_STAMP_REMOVED, 0};
      if (s) ix->stamps = s;
      size_t *r = s ? realloc(ix->row_of, cap * sizeof *r) : NULL;
      if (r) ix->row_of = r;
      if (!s || !r) return clippo_fail(err, CLIPPO_E_NOMEM, "out of host memory reading an index");
      ix->ecap = cap;
    }
    clippo_status st = clippo_path_list_add(&ix->entries, path, err);
    e = ix->entries.count - 1;
    /* the map points at the list's own copy, which lives as long as the list */
    if (st == CLIPPO_OK) st = tasks_strmap_put(&ix->map, ix->entries.items[e], e, err);
    if (st) return st;
    ix->stamps[e].size = CLIPPO_STAMP_REMOVED; /* counted live below */
  }
  int was_live = ix->stamps[e].size != CLIPPO_STAMP_REMOVED;
  int is_live = stamp.size != CLIPPO_STAMP_REMOVED;
  ix->live = ix->live - (size_t)was_live + (size_t)is_live;
  ix->stamps[e] = stamp;
  ix->row_of[e] = row;
  return CLIPPO_OK;
}

/* ---- file checks --------------------------------------------------------------------------- */

/* 1 when the file carries HDF5's signature (at 0 or a power of two from 512 on). */
static int has_hdf5_signature(const char *path) {
  static const unsigned char sig[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};
  FILE *fp = fopen(path, "rb");
  if (!fp) return 0;
  int found = 0;
  for (long off = 0; !found && off <= (1L << 16); off = off ? off * 2 : 512) {
    unsigned char head[8];
    if (fseek(fp, off, SEEK_SET) != 0 || fread(head, 1, 8, fp) != 8) break;
    found = !memcmp(head, sig, 8);
  }
  fclose(fp);
  return found;
}

/* Opens an existing file that should be an index (flags: H5F_ACC_RDONLY or H5F_ACC_RDWR). */
static clippo_status open_file(clippo_index *ix, unsigned flags, clippo_error *err) {
  struct stat sb;
  if (stat(ix->path, &sb) != 0)
    return clippo_fail(err, errno == ENOENT ? CLIPPO_E_NOTFOUND : CLIPPO_E_IO,
                       "cannot open index %s: %s", ix->path, strerror(errno));
  if (S_ISDIR(sb.st_mode))
    return clippo_fail(err, CLIPPO_E_ARG, "%s is a folder, not an index file", ix->path);
  if (!has_hdf5_signature(ix->path))
    return clippo_fail(err, CLIPPO_E_FORMAT,
                       "%s is not a clippo index (not an HDF5 file); it was left as it is",
                       ix->path);
  H5E_BEGIN_TRY { ix->f = H5Fopen(ix->path, flags, H5P_DEFAULT); }
  H5E_END_TRY;
  if (ix->f < 0)
    return clippo_fail(err, CLIPPO_E_FORMAT,
                       "cannot open index %s: the HDF5 file is damaged (the machine stopped "
                       "during a write?) or locked by another program; it was left as it is",
                       ix->path);
  return CLIPPO_OK;
}

/* ---- loading ------------------------------------------------------------------------------- */

/* Reads the header attributes. */
static clippo_status load_header(clippo_index *ix, clippo_error *err) {
  char *fmt = NULL;
  int64_t dim = 0, count = 0;
  clippo_status st = h5_get_str(ix->f, "format", &fmt, ix->path, err);
  if (st == CLIPPO_OK && !strcmp(fmt, INDEX_FORMAT))
    ix->version = 2;
  else if (st == CLIPPO_OK && !strcmp(fmt, INDEX_FORMAT_V1))
    ix->version = 1;
  else if (st == CLIPPO_OK)
    st = clippo_fail(err, CLIPPO_E_FORMAT,
                     "%s is a clippo index of an unknown format '%s' (written by a newer "
                     "clippo?); it was left as it is",
                     ix->path, fmt);
  else
    st = clippo_fail(err, CLIPPO_E_FORMAT,
                     "%s is an HDF5 file but not a clippo index (a checkpoint?); it was left as "
                     "it is",
                     ix->path);
  free(fmt);
  if (st == CLIPPO_OK) st = h5_get_str(ix->f, "model", &ix->model_id, ix->path, err);
  if (st == CLIPPO_OK &&
      h5_get_str(ix->f, "model_path", &ix->model_path, ix->path, err) != CLIPPO_OK)
    ix->model_path = NULL;
  if (st == CLIPPO_OK) st = h5_get_i64(ix->f, "dim", &dim, ix->path, err);
  if (st == CLIPPO_OK &&
      h5_get_i64(ix->f, "image_size", &ix->image_size, ix->path, err) != CLIPPO_OK)
    ix->image_size = 0;
  if (st == CLIPPO_OK) st = h5_get_i64(ix->f, "count", &count, ix->path, err);
  if (st == CLIPPO_OK && (dim <= 0 || dim > 65536 || count < 0 || count > ((int64_t)1 << 32)))
    st = clippo_fail(err, CLIPPO_E_FORMAT, "%s: bad index header (dim %lld, count %lld)", ix->path,
                     (long long)dim, (long long)count);
  if (st == CLIPPO_OK) {
    ix->dim = (size_t)dim;
    ix->rows = (size_t)count;
  }
  return st;
}

/* Reads the committed rows' stamps (version 2; version 1 has none: unknown). */
static clippo_status load_stamps(clippo_index *ix, clippo_file_stamp *stamps, clippo_error *err) {
  size_t n = ix->rows;
  if (ix->version == 1) {
    for (size_t i = 0; i < n; i++) stamps[i] = (clippo_file_stamp){CLIPPO_STAMP_UNKNOWN, 0};
    return CLIPPO_OK;
  }
  int64_t *v = malloc((n ? n : 1) * sizeof *v);
  if (!v) return clippo_fail(err, CLIPPO_E_NOMEM, "out of host memory reading %s", ix->path);
  clippo_status st = h5_read_rows(ix->f, "file_size", H5T_NATIVE_INT64, n, 0, v, ix->path, err);
  for (size_t i = 0; st == CLIPPO_OK && i < n; i++) stamps[i].size = v[i];
  if (st == CLIPPO_OK)
    st = h5_read_rows(ix->f, "file_mtime_ns", H5T_NATIVE_INT64, n, 0, v, ix->path, err);
  for (size_t i = 0; st == CLIPPO_OK && i < n; i++) stamps[i].mtime_ns = v[i];
  free(v);
  return st;
}

/* Reads the committed rows' paths and stamps into the entries. */
static clippo_status load_rows(clippo_index *ix, clippo_error *err) {
  size_t n = ix->rows;
  uint64_t *ends = malloc((n + 1) * sizeof *ends);
  clippo_file_stamp *stamps = calloc(n + 1, sizeof *stamps);
  char *bytes = NULL;
  clippo_status st = CLIPPO_OK;
  if (!ends || !stamps)
    st = clippo_fail(err, CLIPPO_E_NOMEM, "out of host memory reading %s", ix->path);
  if (st == CLIPPO_OK)
    st = h5_read_rows(ix->f, "path_ends", H5T_NATIVE_UINT64, n, 0, ends, ix->path, err);
  if (st == CLIPPO_OK) st = load_stamps(ix, stamps, err);
  uint64_t nbytes = st == CLIPPO_OK && n ? ends[n - 1] : 0;
  int64_t have_bytes = st == CLIPPO_OK ? h5_rows(ix->f, "path_bytes") : 0;
  if (st == CLIPPO_OK && (have_bytes < 0 || (uint64_t)have_bytes < nbytes))
    st = clippo_fail(err, CLIPPO_E_FORMAT, "%s: the path list is shorter than its count", ix->path);
  if (st == CLIPPO_OK && !(bytes = malloc(nbytes + 1)))
    st = clippo_fail(err, CLIPPO_E_NOMEM, "out of host memory reading %s", ix->path);
  if (st == CLIPPO_OK)
    st = h5_read_rows(ix->f, "path_bytes", H5T_NATIVE_UCHAR, nbytes, 0, bytes, ix->path, err);
  uint64_t prev = 0;
  for (size_t i = 0; i < n && st == CLIPPO_OK; i++) {
    if (ends[i] < prev || ends[i] > nbytes || ends[i] - prev >= PATH_MAX || ends[i] == prev) {
      st = clippo_fail(err, CLIPPO_E_FORMAT, "%s: corrupt path list at entry %zu", ix->path, i);
      break;
    }
    char p[PATH_MAX];
    memcpy(p, bytes + prev, (size_t)(ends[i] - prev));
    p[ends[i] - prev] = '\0';
    st = note_row(ix, p, stamps[i], i, err);
    prev = ends[i];
  }
  if (st == CLIPPO_OK) {
    int64_t zr = h5_rows(ix->f, "z");
    if (zr < 0 || (uint64_t)zr < n)
      st = clippo_fail(err, CLIPPO_E_FORMAT, "%s: fewer embeddings than its count", ix->path);
  }
  if (st == CLIPPO_OK) ix->nbytes = nbytes;
  free(bytes);
  free(ends);
  free(stamps);
  return st;
}

/* Reads rows [r0, r0 + n) of the (rows, dim) dataset z. */
static clippo_status read_z_range(clippo_index *ix, size_t r0, size_t n, float *out,
                                  clippo_error *err) {
  hid_t d = H5Dopen2(ix->f, "z", H5P_DEFAULT);
  hid_t fs = d >= 0 ? H5Dget_space(d) : -1;
  hsize_t start[2] = {r0, 0}, count[2] = {n, ix->dim};
  hid_t ms = H5Screate_simple(2, count, NULL);
  herr_t rc = -1;
  if (fs >= 0 && ms >= 0 && H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, count, NULL) >= 0)
    rc = H5Dread(d, H5T_NATIVE_FLOAT, ms, fs, H5P_DEFAULT, out);
  if (ms >= 0) H5Sclose(ms);
  if (fs >= 0) H5Sclose(fs);
  if (d >= 0) H5Dclose(d);
  if (rc < 0)
    return clippo_fail(err, CLIPPO_E_FORMAT, "%s: cannot read embeddings %zu..%zu", ix->path, r0,
                       r0 + n);
  return CLIPPO_OK;
}

/* For each row: 1 + the live entry whose last row it is, else 0. */
static size_t *live_rows(const clippo_index *ix, clippo_error *err) {
  size_t *at = calloc(ix->rows ? ix->rows : 1, sizeof *at);
  if (!at) {
    clippo_fail(err, CLIPPO_E_NOMEM, "out of host memory reading %s", ix->path);
    return NULL;
  }
  for (size_t e = 0; e < ix->entries.count; e++)
    if (ix->stamps[e].size != CLIPPO_STAMP_REMOVED) at[ix->row_of[e]] = e + 1;
  return at;
}

/* Read mode: keeps the live entries only, in entry order, with their embeddings. */
static clippo_status load_live(clippo_index *ix, clippo_error *err) {
  size_t *at = live_rows(ix, err);
  if (!at) return err->status;
  clippo_status st = CLIPPO_OK;
  float *z = malloc((ix->live ? ix->live : 1) * ix->dim * sizeof *z);
  float *buf = malloc((size_t)COMPACT_CHUNK * ix->dim * sizeof *buf);
  size_t *slot = malloc((ix->entries.count ? ix->entries.count : 1) * sizeof *slot);
  if (!z || !buf || !slot)
    st = clippo_fail(err, CLIPPO_E_NOMEM, "out of host memory reading %s", ix->path);
  size_t k = 0;
  for (size_t e = 0; st == CLIPPO_OK && e < ix->entries.count; e++)
    slot[e] = ix->stamps[e].size != CLIPPO_STAMP_REMOVED ? k++ : (size_t)-1;
  for (size_t r0 = 0; st == CLIPPO_OK && r0 < ix->rows; r0 += COMPACT_CHUNK) {
    size_t n = ix->rows - r0 < COMPACT_CHUNK ? ix->rows - r0 : COMPACT_CHUNK;
    st = read_z_range(ix, r0, n, buf, err);
    for (size_t r = r0; st == CLIPPO_OK && r < r0 + n; r++)
      if (at[r])
        memcpy(z + slot[at[r] - 1] * ix->dim, buf + (r - r0) * ix->dim, ix->dim * sizeof *z);
  }
  /* drop the removed entries from the lists */
  clippo_path_list keep = {0};
  for (size_t e = 0; st == CLIPPO_OK && e < ix->entries.count; e++) {
    if (slot[e] == (size_t)-1) continue;
    st = clippo_path_list_add(&keep, ix->entries.items[e], err);
    ix->stamps[slot[e]] = ix->stamps[e];
    ix->row_of[slot[e]] = ix->row_of[e];
  }
  tasks_strmap_free(&ix->map);
  memset(&ix->map, 0, sizeof ix->map);
  for (size_t i = 0; st == CLIPPO_OK && i < keep.count; i++)
    st = tasks_strmap_put(&ix->map, keep.items[i], i, err);
  clippo_path_list_free(&ix->entries);
  ix->entries = keep;
  free(at);
  free(buf);
  free(slot);
  if (st == CLIPPO_OK)
    ix->z = z;
  else
    free(z);
  return st;
}

/* Reads the open file: header, then entries (and embeddings when ix->for_read). */
static clippo_status index_load(clippo_index *ix, clippo_error *err) {
  clippo_status st;
  H5E_BEGIN_TRY {
    st = load_header(ix, err);
    if (st == CLIPPO_OK) st = load_rows(ix, err);
    if (st == CLIPPO_OK && ix->for_read) st = load_live(ix, err);
  }
  H5E_END_TRY;
  return st;
}

/* ---- writing ------------------------------------------------------------------------------- */

/* Creates an empty index file (version 2) at path (a temporary name: the caller publishes it). */
static clippo_status create_file(const char *path, const char *shown, const char *model_id,
                                 const char *model_path, size_t dim, int64_t image_size,
                                 clippo_error *err) {
  clippo_status st = CLIPPO_OK;
  H5E_BEGIN_TRY {
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (f < 0) st = clippo_fail(err, CLIPPO_E_IO, "cannot create index file %s", path);
    if (st == CLIPPO_OK) st = h5_set_str(f, "format", INDEX_FORMAT, shown, err);
    if (st == CLIPPO_OK) st = h5_set_str(f, "model", model_id, shown, err);
    if (st == CLIPPO_OK) st = h5_set_str(f, "model_path", model_path ? model_path : "", shown, err);
    if (st == CLIPPO_OK) st = h5_set_i64(f, "dim", (int64_t)dim, shown, err);
    if (st == CLIPPO_OK) st = h5_set_i64(f, "image_size", image_size, shown, err);
    if (st == CLIPPO_OK) st = h5_set_i64(f, "count", 0, shown, err);
    size_t chunk = dim ? ((size_t)1 << 16) / dim : 256;
    if (chunk < 16) chunk = 16;
    if (st == CLIPPO_OK) st = h5_create_ext(f, "z", H5T_IEEE_F32LE, dim, chunk, shown, err);
    if (st == CLIPPO_OK) st = h5_create_ext(f, "path_bytes", H5T_STD_U8LE, 0, 65536, shown, err);
    if (st == CLIPPO_OK) st = h5_create_ext(f, "path_ends", H5T_STD_U64LE, 0, 1024, shown, err);
    if (st == CLIPPO_OK) st = h5_create_ext(f, "file_size", H5T_STD_I64LE, 0, 1024, shown, err);
    if (st == CLIPPO_OK) st = h5_create_ext(f, "file_mtime_ns", H5T_STD_I64LE, 0, 1024, shown, err);
    if (f >= 0 && H5Fclose(f) < 0 && st == CLIPPO_OK)
      st = clippo_fail(err, CLIPPO_E_IO, "cannot finish index file %s", path);
  }
  H5E_END_TRY;
  return st;
}

/* Where rows are appended: an open file, its committed rows and path bytes. */
typedef struct row_sink {
  hid_t f;
  const char *name; /* for messages */
  size_t rows;
  uint64_t nbytes;
  size_t dim;
} row_sink;

/* Appends n rows (z NULL: zero rows) and commits them: the data is written and flushed before
 * the count attribute, so an interruption loses at most these rows. */
static clippo_status sink_append(row_sink *s, const char *const *paths,
                                 const clippo_file_stamp *stamps, const float *z, size_t n,
                                 clippo_error *err) {
  if (n == 0) return CLIPPO_OK;
  size_t nb = 0;
  for (size_t i = 0; i < n; i++) nb += strlen(paths[i]);
  char *bytes = malloc(nb + 1);
  uint64_t *ends = malloc(n * sizeof *ends);
  int64_t *sizes = malloc(n * sizeof *sizes), *mtimes = malloc(n * sizeof *mtimes);
  float *zeros = z ? NULL : calloc(n * s->dim, sizeof *zeros);
  clippo_status st = CLIPPO_OK;
  if (!bytes || !ends || !sizes || !mtimes || (!z && !zeros))
    st = clippo_fail(err, CLIPPO_E_NOMEM, "out of host memory");
  for (size_t i = 0, o = 0; st == CLIPPO_OK && i < n; i++) {
    size_t l = strlen(paths[i]);
    memcpy(bytes + o, paths[i], l);
    o += l;
    ends[i] = s->nbytes + o;
    sizes[i] = stamps[i].size;
    mtimes[i] = stamps[i].mtime_ns;
  }
  const char *fn = s->name;
  H5E_BEGIN_TRY {
    if (st == CLIPPO_OK)
      st = h5_append(s->f, "z", H5T_NATIVE_FLOAT, s->rows, n, s->dim, z ? z : zeros, fn, err);
    if (st == CLIPPO_OK)
      st = h5_append(s->f, "path_bytes", H5T_NATIVE_UCHAR, s->nbytes, nb, 0, bytes, fn, err);
    if (st == CLIPPO_OK)
      st = h5_append(s->f, "path_ends", H5T_NATIVE_UINT64, s->rows, n, 0, ends, fn, err);
    if (st == CLIPPO_OK)
      st = h5_append(s->f, "file_size", H5T_NATIVE_INT64, s->rows, n, 0, sizes, fn, err);
    if (st == CLIPPO_OK)
      st = h5_append(s->f, "file_mtime_ns", H5T_NATIVE_INT64, s->rows, n, 0, mtimes, fn, err);
    if (st == CLIPPO_OK && H5Fflush(s->f, H5F_SCOPE_GLOBAL) < 0)
      st = clippo_fail(err, CLIPPO_E_IO, "cannot flush index %s", fn);
    if (st == CLIPPO_OK) st = h5_set_i64(s->f, "count", (int64_t)(s->rows + n), fn, err);
    if (st == CLIPPO_OK && H5Fflush(s->f, H5F_SCOPE_GLOBAL) < 0)
      st = clippo_fail(err, CLIPPO_E_IO, "cannot flush index %s", fn);
  }
  H5E_END_TRY;
  if (st == CLIPPO_OK) {
    s->rows += n;
    s->nbytes += nb;
  }
  free(bytes);
  free(ends);
  free(sizes);
  free(mtimes);
  free(zeros);
  return st;
}

/* Appends rows to the open index and notes them in its entries. */
static clippo_status index_append_rows(clippo_index *ix, const char *const *paths,
                                       const clippo_file_stamp *stamps, const float *z, size_t n,
                                       clippo_error *err) {
  if (ix->f < 0 || ix->for_read)
    return clippo_fail(err, CLIPPO_E_ARG, "index %s is not open for writing", ix->path);
  row_sink s = {ix->f, ix->path, ix->rows, ix->nbytes, ix->dim};
  clippo_status st = sink_append(&s, paths, stamps, z, n, err);
  for (size_t i = 0; st == CLIPPO_OK && i < n; i++)
    st = note_row(ix, paths[i], stamps[i], ix->rows + i, err);
  if (st == CLIPPO_OK) {
    ix->rows = s.rows;
    ix->nbytes = s.nbytes;
  }
  return st;
}

clippo_status clippo_index_append_stamped(clippo_index *ix, const char *const *paths,
                                          const clippo_file_stamp *stamps, const float *z, size_t n,
                                          clippo_error *err) {
  for (size_t i = 0; i < n; i++)
    if (stamps[i].size == CLIPPO_STAMP_REMOVED)
      return clippo_fail(err, CLIPPO_E_ARG, "the stamp of %s says removed", paths[i]);
  return index_append_rows(ix, paths, stamps, z, n, err);
}

clippo_status clippo_index_append(clippo_index *ix, const char *const *paths, const float *z,
                                  size_t n, clippo_error *err) {
  clippo_file_stamp *stamps = malloc((n ? n : 1) * sizeof *stamps);
  if (!stamps) return clippo_fail(err, CLIPPO_E_NOMEM, "out of host memory");
  for (size_t i = 0; i < n; i++) {
    clippo_error e2;
    if (clippo_file_stamp_get(paths[i], &stamps[i], &e2) != CLIPPO_OK)
      stamps[i] = (clippo_file_stamp){CLIPPO_STAMP_UNKNOWN, 0};
  }
  clippo_status st = index_append_rows(ix, paths, stamps, z, n, err);
  free(stamps);
  return st;
}

clippo_status clippo_index_remove(clippo_index *ix, const char *const *paths, size_t n,
                                  clippo_error *err) {
  const char **gone = malloc((n ? n : 1) * sizeof *gone);
  clippo_file_stamp *stamps = malloc((n ? n : 1) * sizeof *stamps);
  clippo_status st = CLIPPO_OK;
  if (!gone || !stamps) st = clippo_fail(err, CLIPPO_E_NOMEM, "out of host memory");
  size_t m = 0;
  for (size_t i = 0; st == CLIPPO_OK && i < n; i++) {
    if (!clippo_index_contains(ix, paths[i])) continue;
    gone[m] = paths[i];
    stamps[m++] = (clippo_file_stamp){CLIPPO_STAMP_REMOVED, 0};
  }
  if (st == CLIPPO_OK) st = index_append_rows(ix, gone, stamps, NULL, m, err);
  free(gone);
  free(stamps);
  return st;
}

/* Writes the live rows of ix (open) into a new version-2 file and publishes it over ix->path;
 * ix is then reloaded from it, open read-write. */
static clippo_status rewrite(clippo_index *ix, clippo_error *err) {
  char *tmp = NULL;
  clippo_status st = clippo_atomic_tmpname(ix->path, &tmp, err);
  if (st) return clippo_error_prefix(err, "cannot rewrite index");
  st = create_file(tmp, ix->path, ix->model_id, ix->model_path, ix->dim, ix->image_size, err);
  size_t *at = st == CLIPPO_OK ? live_rows(ix, err) : NULL;
  if (st == CLIPPO_OK && !at) st = err->status;
  float *buf = malloc((size_t)COMPACT_CHUNK * ix->dim * sizeof *buf);
  float *zout = malloc((size_t)COMPACT_CHUNK * ix->dim * sizeof *zout);
  const char **pout = malloc(COMPACT_CHUNK * sizeof *pout);
  clippo_file_stamp *sout = malloc(COMPACT_CHUNK * sizeof *sout);
  if (st == CLIPPO_OK && (!buf || !zout || !pout || !sout))
    st = clippo_fail(err, CLIPPO_E_NOMEM, "out of host memory rewriting %s", ix->path);
  row_sink s = {-1, ix->path, 0, 0, ix->dim};
  if (st == CLIPPO_OK) {
    H5E_BEGIN_TRY { s.f = H5Fopen(tmp, H5F_ACC_RDWR, H5P_DEFAULT); }
    H5E_END_TRY;
    if (s.f < 0) st = clippo_fail(err, CLIPPO_E_IO, "cannot open %s for writing", tmp);
  }
  for (size_t r0 = 0; st == CLIPPO_OK && at && r0 < ix->rows; r0 += COMPACT_CHUNK) {
    size_t n = ix->rows - r0 < COMPACT_CHUNK ? ix->rows - r0 : COMPACT_CHUNK, m = 0;
    H5E_BEGIN_TRY { st = read_z_range(ix, r0, n, buf, err); }
    H5E_END_TRY;
    for (size_t r = r0; st == CLIPPO_OK && r < r0 + n; r++) {
      if (!at[r]) continue;
      memcpy(zout + m * ix->dim, buf + (r - r0) * ix->dim, ix->dim * sizeof *zout);
      pout[m] = ix->entries.items[at[r] - 1];
      sout[m++] = ix->stamps[at[r] - 1];
    }
    if (st == CLIPPO_OK) st = sink_append(&s, pout, sout, zout, m, err);
  }
  if (s.f >= 0) {
    herr_t rc;
    H5E_BEGIN_TRY { rc = H5Fclose(s.f); }
    H5E_END_TRY;
    if (rc < 0 && st == CLIPPO_OK) st = clippo_fail(err, CLIPPO_E_IO, "cannot finish %s", tmp);
  }
  free(at);
  free(buf);
  free(zout);
  free(pout);
  free(sout);
  if (st == CLIPPO_OK) {
    close_file(ix);
    st = clippo_atomic_publish(tmp, ix->path, err);
  } else {
    remove(tmp);
  }
  free(tmp);
  if (st) return st;
  entries_clear(ix);
  free(ix->model_id);
  free(ix->model_path);
  ix->model_id = ix->model_path = NULL;
  st = open_file(ix, H5F_ACC_RDWR, err);
  if (st == CLIPPO_OK) st = index_load(ix, err);
  return st;
}

clippo_status clippo_index_compact(clippo_index *ix, int force, clippo_error *err) {
  if (ix->f < 0 || ix->for_read)
    return clippo_fail(err, CLIPPO_E_ARG, "index %s is not open for writing", ix->path);
  size_t dead = ix->rows - ix->live;
  if (!force && (dead == 0 || dead * 4 <= ix->rows)) return CLIPPO_OK;
  return rewrite(ix, err);
}

/* ---- opening ------------------------------------------------------------------------------- */

static clippo_index *index_new(const char *path, clippo_error *err) {
  clippo_index *ix = calloc(1, sizeof *ix);
  if (!ix) {
    clippo_fail(err, CLIPPO_E_NOMEM, "out of host memory");
    return NULL;
  }
  ix->f = -1;
  snprintf(ix->path, sizeof ix->path, "%s", path);
  return ix;
}

clippo_status clippo_index_check_file(const char *path, clippo_error *err) {
  struct stat sb;
  if (stat(path, &sb) != 0 && errno == ENOENT) return CLIPPO_OK;
  clippo_index *ix = index_new(path, err);
  if (!ix) return err->status;
  clippo_status st = open_file(ix, H5F_ACC_RDONLY, err);
  if (st == CLIPPO_OK) {
    H5E_BEGIN_TRY { st = load_header(ix, err); }
    H5E_END_TRY;
  }
  index_free(ix);
  return st;
}

clippo_status clippo_index_check_model(const clippo_index *ix, const char *model_id,
                                       const char *model_path, const char *cache_dir,
                                       clippo_error *err) {
  int same = 0;
  clippo_status st =
      clippo_identity_matches(ix->model_id, model_path, model_id, cache_dir, &same, err);
  if (st) return st;
  const char *legacy = !strncmp(ix->model_id, "c1-", 3)
                           ? " (the index was written by clippo before 0.2, which knew a model "
                             "by its file's bytes: index once more with that very file to record "
                             "its parameter identity, then any copy of it will do)"
                           : "";
  if (!same)
    return clippo_fail(err, CLIPPO_E_ARG,
                       "index %s was built with another model (%s, identity %s); %s has identity "
                       "%s: use that model, or another index%s",
                       ix->path, ix->model_path && *ix->model_path ? ix->model_path : "?",
                       ix->model_id, model_path ? model_path : "?", model_id, legacy);
  return CLIPPO_OK;
}

/* Creates the index file at path, atomically. */
static clippo_status index_create(const char *path, const char *model_id, const char *model_path,
                                  size_t dim, int image_size, clippo_error *err) {
  char *tmp = NULL;
  clippo_status st = clippo_atomic_tmpname(path, &tmp, err);
  if (st) return clippo_error_prefix(err, "cannot create index");
  st = create_file(tmp, path, model_id, model_path, dim, image_size, err);
  if (st == CLIPPO_OK)
    st = clippo_atomic_publish(tmp, path, err);
  else
    remove(tmp);
  free(tmp);
  return st;
}

/* Checks the loaded header of an existing index against the model; upgrades what needs it. */
static clippo_status check_existing(clippo_index *ix, const char *model_id, const char *model_path,
                                    size_t dim, clippo_error *err) {
  clippo_status st = clippo_index_check_model(ix, model_id, model_path, NULL, err);
  if (st == CLIPPO_OK && ix->dim != dim)
    st = clippo_fail(err, CLIPPO_E_ARG, "index %s holds %zu-dim embeddings, the model gives %zu",
                     ix->path, ix->dim, dim);
  if (st) return st;
  if (strcmp(ix->model_id, model_id)) { /* an older identity of the same model */
    char *id = strdup(model_id);
    if (!id) return clippo_fail(err, CLIPPO_E_NOMEM, "out of host memory");
    free(ix->model_id);
    ix->model_id = id;
    H5E_BEGIN_TRY { st = h5_set_str(ix->f, "model", model_id, ix->path, err); }
    H5E_END_TRY;
  }
  if (st == CLIPPO_OK && ix->version == 1) st = rewrite(ix, err); /* to version 2 */
  return st;
}

clippo_status clippo_index_open_append(const char *path, const char *model_id,
                                       const char *model_path, size_t dim, int image_size,
                                       clippo_index **out, clippo_error *err) {
  *out = NULL;
  clippo_status st = clippo_index_check_file(path, err);
  struct stat sb;
  if (st == CLIPPO_OK && stat(path, &sb) != 0) {
    if (errno != ENOENT)
      st = clippo_fail(err, CLIPPO_E_IO, "cannot access index %s: %s", path, strerror(errno));
    else
      st = index_create(path, model_id, model_path, dim, image_size, err);
  }
  if (st) return st;
  clippo_index *ix = index_new(path, err);
  if (!ix) return err->status;
  st = open_file(ix, H5F_ACC_RDWR, err);
  if (st == CLIPPO_OK) st = index_load(ix, err);
  if (st == CLIPPO_OK) st = check_existing(ix, model_id, model_path, dim, err);
  if (st) {
    index_free(ix);
    return st;
  }
  *out = ix;
  return CLIPPO_OK;
}

clippo_status clippo_index_open_read(const char *path, clippo_index **out, clippo_error *err) {
  *out = NULL;
  clippo_index *ix = index_new(path, err);
  if (!ix) return err->status;
  ix->for_read = 1;
  clippo_status st = open_file(ix, H5F_ACC_RDONLY, err);
  if (st == CLIPPO_OK) st = index_load(ix, err);
  close_file(ix);
  if (st) {
    index_free(ix);
    return st;
  }
  *out = ix;
  return CLIPPO_OK;
}

/* ---- what re-indexing must do -------------------------------------------------------------- */

/* Adds path with stamp to the plan's files to embed. */
static clippo_status plan_embed(clippo_index_plan *p, const char *path, clippo_file_stamp stamp,
                                int update, clippo_error *err) {
  if (p->embed.count == p->cap) {
    size_t cap = p->cap ? p->cap * 2 : 64;
    clippo_file_stamp *s = realloc(p->stamps, cap * sizeof *s);
    if (s) p->stamps = s;
    unsigned char *u = s ? realloc(p->is_update, cap) : NULL;
    if (u) p->is_update = u;
    if (!s || !u) return clippo_fail(err, CLIPPO_E_NOMEM, "out of host memory");
    p->cap = cap;
  }
  p->stamps[p->embed.count] = stamp;
  p->is_update[p->embed.count] = (unsigned char)update;
  return clippo_path_list_add(&p->embed, path, err);
}

clippo_status clippo_index_plan_make(const clippo_index *ix, const clippo_path_list *files,
                                     clippo_index_plan *p, clippo_error *err) {
  memset(p, 0, sizeof *p);
  tasks_strmap found = {0};
  clippo_status st = CLIPPO_OK;
  for (size_t i = 0; st == CLIPPO_OK && i < files->count; i++) {
    const char *f = files->items[i];
    size_t dummy;
    if (tasks_strmap_get(&found, f, &dummy)) continue;
    st = tasks_strmap_put(&found, f, i, err);
    clippo_file_stamp now = {CLIPPO_STAMP_UNKNOWN, 0}, then;
    clippo_error e2;
    (void)clippo_file_stamp_get(f, &now, &e2); /* gone since listed: embedding reports it */
    int known = clippo_index_lookup(ix, f, &then);
    if (st || (known && clippo_file_stamp_same(&now, &then))) {
      p->unchanged += st == CLIPPO_OK;
      continue;
    }
    st = plan_embed(p, f, now, known, err);
    if (known)
      p->updated++;
    else
      p->added++;
  }
  /* the index's other entries: gone, or changed outside the paths given */
  for (size_t e = 0; st == CLIPPO_OK && e < ix->entries.count; e++) {
    const char *path = ix->entries.items[e];
    size_t dummy;
    if (ix->stamps[e].size == CLIPPO_STAMP_REMOVED || tasks_strmap_get(&found, path, &dummy))
      continue;
    clippo_file_stamp now;
    clippo_error e2;
    clippo_status fs = clippo_file_stamp_get(path, &now, &e2);
    if (fs == CLIPPO_E_NOTFOUND)
      st = clippo_path_list_add(&p->removed, path, err);
    else if (fs == CLIPPO_OK && !clippo_file_stamp_same(&now, &ix->stamps[e])) {
      st = plan_embed(p, path, now, 1, err);
      if (st == CLIPPO_OK) p->updated++;
    }
  }
  tasks_strmap_free(&found);
  if (st) clippo_index_plan_free(p);
  return st;
}

void clippo_index_plan_free(clippo_index_plan *p) {
  if (!p) return;
  clippo_path_list_free(&p->embed);
  clippo_path_list_free(&p->removed);
  free(p->stamps);
  free(p->is_update);
  memset(p, 0, sizeof *p);
}

/* ---- search -------------------------------------------------------------------------------- */

size_t clippo_index_search(const clippo_index *ix, const float *q, size_t k, size_t *idx,
                           float *scores) {
  size_t n = ix->live;
  if (!ix->z || n == 0 || k == 0) return 0;
  float *s = malloc(n * sizeof *s);
  if (!s) return 0;
  for (size_t i = 0; i < n; i++) {
    const float *row = ix->z + i * ix->dim;
    double acc = 0.0;
    for (size_t d = 0; d < ix->dim; d++) acc += (double)q[d] * (double)row[d];
    s[i] = (float)acc;
  }
  size_t m = clippo_topk(s, n, k, idx);
  for (size_t i = 0; i < m; i++) scores[i] = s[idx[i]];
  free(s);
  return m;
}
