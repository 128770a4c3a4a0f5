/* Collecting image files: explicit files and recursive folder walks (image formats by magic). */
#define _XOPEN_SOURCE 700 /* realpath */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "clippo/image.h"
#include "clippo/tasks.h"
#include "tasks/tasks_internal.h"

#define WALK_MAX_DEPTH 64

clippo_status clippo_path_list_add(clippo_path_list *l, const char *path, clippo_error *err) {
  if (l->count == l->cap) {
    size_t cap = l->cap ? l->cap * 2 : 64;
    char **items = realloc(l->items, cap * sizeof *items);
    if (!items) return clippo_fail(err, CLIPPO_E_NOMEM, "out of host memory listing files");
    l->items = items;
    l->cap = cap;
  }
  char *s = strdup(path);
  if (!s) return clippo_fail(err, CLIPPO_E_NOMEM, "out of host memory listing files");
  l->items[l->count++] = s;
  return CLIPPO_OK;
}

void clippo_path_list_free(clippo_path_list *l) {
  if (!l) return;
  for (size_t i = 0; i < l->count; i++) free(l->items[i]);
  free(l->items);
  memset(l, 0, sizeof *l);
}

/* 1 when the file starts with the signature of an image format (PNG, JPEG, GIF, WebP, and BMP,
 * which decoding rejects with a reason, so that such files are reported, not silently left
 * out). */
static int looks_like_image(const char *path) {
  FILE *fp = fopen(path, "rb");
  if (!fp) return 0;
  unsigned char head[16];
  size_t n = fread(head, 1, sizeof head, fp);
  fclose(fp);
  clippo_image_format f = clippo_image_detect(head, n);
  return f != CLIPPO_IMAGE_UNKNOWN;
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

typedef struct walk_ctx {
  clippo_path_list *out;
  tasks_strmap *seen;
} walk_ctx;

/* Adds path (already canonical) unless seen. */
static clippo_status add_unique(walk_ctx *w, const char *real, clippo_error *err) {
  size_t dummy;
  if (tasks_strmap_get(w->seen, real, &dummy)) return CLIPPO_OK;
  clippo_status st = clippo_path_list_add(w->out, real, err);
  /* the map points at the list's own copy, which lives as long as the list */
  if (st == CLIPPO_OK)
    st = tasks_strmap_put(w->seen, w->out->items[w->out->count - 1], w->out->count - 1, err);
  return st;
}

static clippo_status walk(walk_ctx *w, const char *dir, int depth, clippo_error *err) {
  if (depth > WALK_MAX_DEPTH) return CLIPPO_OK;
  DIR *d = opendir(dir);
  if (!d) return clippo_fail(err, CLIPPO_E_IO, "cannot read folder %s: %s", dir, strerror(errno));
  char **names = NULL;
  size_t n = 0, cap = 0;
  clippo_status st = CLIPPO_OK;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (e->d_name[0] == '.') continue; /* ".", ".." and hidden entries */
    if (n == cap) {
      cap = cap ? cap * 2 : 64;
      char **nn = realloc(names, cap * sizeof *nn);
      if (!nn) {
        st = clippo_fail(err, CLIPPO_E_NOMEM, "out of host memory listing %s", dir);
        break;
      }
      names = nn;
    }
    if (!(names[n] = strdup(e->d_name))) {
      st = clippo_fail(err, CLIPPO_E_NOMEM, "out of host memory listing %s", dir);
      break;
    }
    n++;
  }
  closedir(d);
  if (st == CLIPPO_OK && n > 1)
    qsort(names, n, sizeof *names, cmp_str); /* names is NULL when n is 0 */
  char path[PATH_MAX];
  for (size_t i = 0; i < n && st == CLIPPO_OK; i++) {
    int len = snprintf(path, sizeof path, "%s/%s", dir, names[i]);
    if (len < 0 || (size_t)len >= sizeof path) continue;
    struct stat sb;
    if (stat(path, &sb) != 0) continue; /* dangling link */
    if (S_ISDIR(sb.st_mode))
      st = walk(w, path, depth + 1, err);
    else if (S_ISREG(sb.st_mode) && looks_like_image(path)) {
      char real[PATH_MAX];
      if (realpath(path, real)) st = add_unique(w, real, err);
    }
  }
  for (size_t i = 0; i < n; i++) free(names[i]);
  free(names);
  return st;
}

clippo_status clippo_collect_images(const char *const *paths, size_t n, clippo_path_list *out,
                                    clippo_error *err) {
  tasks_strmap seen = {0};
  walk_ctx w = {out, &seen};
  clippo_status st = CLIPPO_OK;
  for (size_t i = 0; i < out->count && st == CLIPPO_OK; i++)
    st = tasks_strmap_put(&seen, out->items[i], i, err);
  for (size_t i = 0; i < n && st == CLIPPO_OK; i++) {
    char real[PATH_MAX];
    struct stat sb;
    if (stat(paths[i], &sb) != 0 || !realpath(paths[i], real)) {
      st = clippo_fail(err, errno == ENOENT ? CLIPPO_E_NOTFOUND : CLIPPO_E_IO, "%s: %s", paths[i],
                       strerror(errno));
      break;
    }
    if (S_ISDIR(sb.st_mode))
      st = walk(&w, real, 0, err);
    else
      st = add_unique(&w, real, err);
  }
  tasks_strmap_free(&seen);
  return st;
}

clippo_status clippo_file_stamp_get(const char *path, clippo_file_stamp *out, clippo_error *err) {
  out->size = CLIPPO_STAMP_UNKNOWN;
  out->mtime_ns = 0;
  struct stat sb;
  if (stat(path, &sb) != 0) {
    int e = errno;
    return clippo_fail(err, e == ENOENT || e == ENOTDIR ? CLIPPO_E_NOTFOUND : CLIPPO_E_IO, "%s: %s",
                       path, strerror(e));
  }
  if (!S_ISREG(sb.st_mode))
    return clippo_fail(err, CLIPPO_E_NOTFOUND, "%s is no longer a regular file", path);
#if defined(__APPLE__)
  int64_t ns = (int64_t)sb.st_mtimespec.tv_nsec;
#else
  int64_t ns = (int64_t)sb.st_mtim.tv_nsec;
#endif
  out->size = (int64_t)sb.st_size;
  out->mtime_ns = (int64_t)sb.st_mtime * 1000000000 + ns;
  return CLIPPO_OK;
}

int clippo_file_stamp_same(const clippo_file_stamp *a, const clippo_file_stamp *b) {
  return a->size >= 0 && b->size >= 0 && a->size == b->size && a->mtime_ns == b->mtime_ns;
}
