/* A data set stored as one subfolder per class: class names from the subfolder names (sorted),
 * image files found recursively below each. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "clippo/tasks.h"

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The visible subfolders of dir, sorted. */
static clippo_status list_subfolders(const char *dir, clippo_path_list *subs, clippo_error *err) {
  DIR *d = opendir(dir);
  if (!d) return clippo_fail(err, CLIPPO_E_NOTFOUND, "cannot read folder %s", dir);
  clippo_status st = CLIPPO_OK;
  struct dirent *e;
  char path[4096];
  while (!st && (e = readdir(d)) != NULL) {
    if (e->d_name[0] == '.') continue;
    snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    struct stat sb;
    if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode))
      st = clippo_path_list_add(subs, e->d_name, err);
  }
  closedir(d);
  if (!st && subs->count == 0)
    st = clippo_fail(err, CLIPPO_E_FORMAT, "folder %s has no class subfolders", dir);
  if (!st) qsort(subs->items, subs->count, sizeof *subs->items, cmp_str);
  return st;
}

void clippo_class_folders_free(clippo_class_folders *f) {
  if (!f) return;
  clippo_path_list_free(&f->names);
  clippo_path_list_free(&f->files);
  free(f->labels);
  memset(f, 0, sizeof *f);
}

clippo_status clippo_class_folders_load(const char *dir, const clippo_path_list *names,
                                        clippo_class_folders *out, clippo_error *err) {
  memset(out, 0, sizeof *out);
  clippo_status st = list_subfolders(dir, &out->names, err);
  if (!st && names) {
    /* the same classes, in the same order, as the folder they must match */
    for (size_t c = 0; !st && c < out->names.count; c++) {
      size_t k = 0;
      while (k < names->count && strcmp(names->items[k], out->names.items[c]) != 0) k++;
      if (k == names->count)
        st = clippo_fail(err, CLIPPO_E_FORMAT,
                         "%s/%s: class '%s' is not among the %zu classes "
                         "expected",
                         dir, out->names.items[c], out->names.items[c], names->count);
    }
    for (size_t k = 0; !st && k < names->count; k++) {
      size_t c = 0;
      while (c < out->names.count && strcmp(names->items[k], out->names.items[c]) != 0) c++;
      if (c == out->names.count)
        st = clippo_fail(err, CLIPPO_E_FORMAT, "folder %s has no subfolder for class '%s'", dir,
                         names->items[k]);
    }
  }
  size_t cap = 0;
  char path[4096];
  for (size_t c = 0; !st && c < out->names.count; c++) {
    snprintf(path, sizeof path, "%s/%s", dir, out->names.items[c]);
    size_t before = out->files.count;
    const char *p = path;
    st = clippo_collect_images(&p, 1, &out->files, err);
    if (!st && out->files.count > cap) {
      cap = out->files.count * 2;
      size_t *nl = realloc(out->labels, cap * sizeof *nl);
      if (!nl)
        st = clippo_fail(err, CLIPPO_E_NOMEM, "out of host memory");
      else
        out->labels = nl;
    }
    for (size_t i = before; !st && i < out->files.count; i++) out->labels[i] = c;
  }
  if (!st && out->files.count == 0)
    st = clippo_fail(err, CLIPPO_E_FORMAT, "no image file below %s", dir);
  if (st) clippo_class_folders_free(out);
  return st;
}
