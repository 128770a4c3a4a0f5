/* Evaluation helpers: Fashion-MNIST location, raw pixels to model inputs, image-caption lists
 * and retrieval recalls. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clippo/image.h"
#include "clippo/tasks.h"
#include "tasks/tasks_internal.h"

#define FMNIST_DEBIAN_DIR "/usr/share/datasets/fashion-mnist"

const char *clippo_fashion_mnist_dir(const char *given) {
  if (given && *given) return given;
  if (access(FMNIST_DEBIAN_DIR "/t10k-images-idx3-ubyte.gz", R_OK) == 0) return FMNIST_DEBIAN_DIR;
  return NULL;
}

clippo_status clippo_pixels_to_inputs(const uint8_t *pixels, size_t n, int w, int h, int channels,
                                      int size, float *dst, clippo_error *err) {
  if (w <= 0 || h <= 0 || size <= 0 || (channels != 1 && channels != 3))
    return clippo_fail(err, CLIPPO_E_ARG, "bad image geometry %dx%dx%d -> %d", w, h, channels,
                       size);
  size_t px = (size_t)w * (size_t)h;
  clippo_image in = {w, h, malloc(px * 3)};
  if (!in.data) return clippo_fail(err, CLIPPO_E_NOMEM, "out of host memory");
  size_t per = (size_t)size * (size_t)size * 3;
  clippo_status st = CLIPPO_OK;
  for (size_t i = 0; i < n && st == CLIPPO_OK; i++) {
    const uint8_t *src = pixels + i * px * (size_t)channels;
    if (channels == 3) {
      memcpy(in.data, src, px * 3);
    } else {
      for (size_t p = 0; p < px; p++)
        in.data[3 * p] = in.data[3 * p + 1] = in.data[3 * p + 2] = src[p];
    }
    clippo_image out = {0, 0, NULL};
    st = clippo_image_resize_bilinear(&in, size, size, &out, err);
    if (st == CLIPPO_OK) clippo_image_to_input(&out, dst + i * per);
    clippo_image_free(&out);
  }
  free(in.data);
  return st;
}

void clippo_caption_set_free(clippo_caption_set *s) {
  if (!s) return;
  for (size_t i = 0; i < s->pairs; i++) free(s->captions[i]);
  free(s->captions);
  free(s->image_of);
  clippo_path_list_free(&s->images);
  memset(s, 0, sizeof *s);
}

clippo_status clippo_caption_set_load(const char *path, size_t limit, clippo_caption_set *out,
                                      clippo_error *err) {
  memset(out, 0, sizeof *out);
  char *data = NULL;
  size_t len = 0;
  clippo_status st = tasks_read_text_file(path, (size_t)1 << 30, &data, &len, err);
  if (st) return st;
  char base[PATH_MAX];
  snprintf(base, sizeof base, "%s", path);
  char *slash = strrchr(base, '/');
  if (slash)
    slash[1] = '\0';
  else
    base[0] = '\0';
  tasks_strmap seen = {0};
  size_t cap = 0, line = 0;
  for (size_t pos = 0; pos < len && st == CLIPPO_OK;) {
    if (limit && out->pairs >= limit) break;
    size_t end = pos;
    while (end < len && data[end] != '\n') end++;
    line++;
    size_t e = end;
    if (e > pos && data[e - 1] == '\r') e--;
    data[e] = '\0';
    char *l = data + pos;
    pos = end + 1;
    if (!*l || strspn(l, " \t") == strlen(l)) continue;
    char *tab = strchr(l, '\t');
    if (!tab || tab == l) {
      st = clippo_fail(err, CLIPPO_E_FORMAT, "%s:%zu: expected IMAGE<TAB>CAPTION", path, line);
      break;
    }
    *tab = '\0';
    char img[PATH_MAX];
    int n = snprintf(img, sizeof img, "%s%s", l[0] == '/' ? "" : base, l);
    if (n < 0 || (size_t)n >= sizeof img) {
      st = clippo_fail(err, CLIPPO_E_FORMAT, "%s:%zu: image path too long", path, line);
      break;
    }
    if (out->pairs == cap) {
      cap = cap ? 2 * cap : 256;
      char **c = realloc(out->captions, cap * sizeof *c);
      if (c) out->captions = c;
      size_t *io = c ? realloc(out->image_of, cap * sizeof *io) : NULL;
      if (io) out->image_of = io;
      if (!c || !io) {
        st = clippo_fail(err, CLIPPO_E_NOMEM, "out of host memory reading %s", path);
        break;
      }
    }
    size_t idx;
    if (!tasks_strmap_get(&seen, img, &idx)) {
      idx = out->images.count;
      st = clippo_path_list_add(&out->images, img, err);
      if (st == CLIPPO_OK) st = tasks_strmap_put(&seen, out->images.items[idx], idx, err);
      if (st) break;
    }
    char *cap_s = strdup(tab + 1);
    if (!cap_s) {
      st = clippo_fail(err, CLIPPO_E_NOMEM, "out of host memory reading %s", path);
      break;
    }
    out->captions[out->pairs] = cap_s;
    out->image_of[out->pairs] = idx;
    out->pairs++;
  }
  tasks_strmap_free(&seen);
  free(data);
  if (st == CLIPPO_OK && out->pairs == 0)
    st = clippo_fail(err, CLIPPO_E_FORMAT, "%s holds no image-caption pair", path);
  if (st) clippo_caption_set_free(out);
  return st;
}

clippo_status clippo_retrieval_recall(const float *zi, size_t n_images, const float *zt,
                                      size_t pairs, const size_t *image_of, size_t dim,
                                      clippo_recall *out, clippo_error *err) {
  static const size_t ks[3] = {1, 5, 10};
  memset(out, 0, sizeof *out);
  if (n_images == 0 || pairs == 0) return clippo_fail(err, CLIPPO_E_ARG, "nothing to evaluate");
  size_t m = n_images > pairs ? n_images : pairs;
  float *s = malloc(m * sizeof *s);
  size_t *best = malloc(n_images * sizeof *best); /* best caption rank per image */
  if (!s || !best) {
    free(s);
    free(best);
    return clippo_fail(err, CLIPPO_E_NOMEM, "out of host memory");
  }
  for (size_t i = 0; i < n_images; i++) best[i] = (size_t)-1;
  for (size_t i = 0; i < n_images; i++) {
    for (size_t t = 0; t < pairs; t++) {
      double acc = 0.0;
      for (size_t d = 0; d < dim; d++) acc += (double)zi[i * dim + d] * (double)zt[t * dim + d];
      s[t] = (float)acc;
    }
    for (size_t t = 0; t < pairs; t++) {
      if (image_of[t] != i) continue;
      size_t r = clippo_rank_of(s, pairs, t);
      if (r < best[i]) best[i] = r;
    }
  }
  size_t with_caption = 0;
  for (size_t i = 0; i < n_images; i++) {
    if (best[i] == (size_t)-1) continue;
    with_caption++;
    for (int k = 0; k < 3; k++)
      if (best[i] < ks[k]) out->i2t[k] += 1.0;
  }
  for (size_t t = 0; t < pairs; t++) {
    const float *q = zt + t * dim;
    for (size_t i = 0; i < n_images; i++) {
      double acc = 0.0;
      for (size_t d = 0; d < dim; d++) acc += (double)q[d] * (double)zi[i * dim + d];
      s[i] = (float)acc;
    }
    size_t r = clippo_rank_of(s, n_images, image_of[t]);
    for (int k = 0; k < 3; k++)
      if (r < ks[k]) out->t2i[k] += 1.0;
  }
  for (int k = 0; k < 3; k++) {
    out->i2t[k] /= (double)(with_caption ? with_caption : 1);
    out->t2i[k] /= (double)pairs;
  }
  free(s);
  free(best);
  return CLIPPO_OK;
}
