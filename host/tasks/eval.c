/* Evaluation helpers: Fashion-MNIST location, raw pixels to model inputs, image-caption lists
 * and retrieval recalls; text-text links and their recalls. */
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

/* ---- text-text retrieval ------------------------------------------------------------------- */

void clippo_text_links_free(clippo_text_links *l) {
  if (!l) return;
  clippo_path_list_free(&l->first);
  clippo_path_list_free(&l->second);
  free(l->first_of);
  free(l->second_of);
  for (int i = 0; i < 2; i++) {
    if (l->index[i]) tasks_strmap_free((tasks_strmap *)l->index[i]);
    free(l->index[i]);
  }
  memset(l, 0, sizeof *l);
}

/* The index of text in the distinct texts of one side (added when new). */
static clippo_status link_side(clippo_path_list *texts, void **index, const char *text, size_t *idx,
                               clippo_error *err) {
  if (!*index && !(*index = calloc(1, sizeof(tasks_strmap))))
    return clippo_fail(err, CLIPPO_E_NOMEM, "out of host memory");
  tasks_strmap *m = *index;
  if (tasks_strmap_get(m, text, idx)) return CLIPPO_OK;
  *idx = texts->count;
  clippo_status st = clippo_path_list_add(texts, text, err);
  return st ? st : tasks_strmap_put(m, texts->items[*idx], *idx, err);
}

clippo_status clippo_text_links_add(clippo_text_links *l, const char *a, const char *b,
                                    clippo_error *err) {
  size_t ia = 0, ib = 0;
  clippo_status st = link_side(&l->first, &l->index[0], a, &ia, err);
  if (!st) st = link_side(&l->second, &l->index[1], b, &ib, err);
  if (st) return st;
  if (l->links == l->cap) {
    size_t nc = l->cap ? 2 * l->cap : 256;
    size_t *fa = realloc(l->first_of, nc * sizeof *fa);
    if (fa) l->first_of = fa;
    size_t *fb = fa ? realloc(l->second_of, nc * sizeof *fb) : NULL;
    if (fb) l->second_of = fb;
    if (!fa || !fb) return clippo_fail(err, CLIPPO_E_NOMEM, "out of host memory");
    l->cap = nc;
  }
  l->first_of[l->links] = ia;
  l->second_of[l->links] = ib;
  l->links++;
  return CLIPPO_OK;
}

/* For queries q (nq, dim) against targets t (nt, dim): adds to hits[k] the queries one of whose
 * linked targets ranks below ks[k]; *with gets the number of queries with a link. q_of / t_of:
 * the links (query index, target index). */
static clippo_status link_hits(const float *q, size_t nq, const float *t, size_t nt,
                               const size_t *q_of, const size_t *t_of, size_t links, size_t dim,
                               double hits[3], size_t *with, clippo_error *err) {
  static const size_t ks[3] = {1, 5, 10};
  /* the links grouped by query (counting sort) */
  size_t *start = calloc(nq + 1, sizeof *start), *tg = malloc((links + 1) * sizeof *tg);
  size_t *fill = calloc(nq + 1, sizeof *fill);
  float *s = malloc((nt + 1) * sizeof *s);
  if (!start || !tg || !fill || !s) {
    free(start), free(tg), free(fill), free(s);
    return clippo_fail(err, CLIPPO_E_NOMEM, "out of host memory");
  }
  for (size_t k = 0; k < links; k++) start[q_of[k] + 1]++;
  for (size_t i = 0; i < nq; i++) start[i + 1] += start[i];
  for (size_t k = 0; k < links; k++) tg[start[q_of[k]] + fill[q_of[k]]++] = t_of[k];
  *with = 0;
  for (size_t i = 0; i < nq; i++) {
    if (start[i] == start[i + 1]) continue;
    (*with)++;
    for (size_t j = 0; j < nt; j++) {
      double acc = 0.0;
      for (size_t d = 0; d < dim; d++) acc += (double)q[i * dim + d] * (double)t[j * dim + d];
      s[j] = (float)acc;
    }
    size_t best = (size_t)-1;
    for (size_t k = start[i]; k < start[i + 1]; k++) {
      size_t r = clippo_rank_of(s, nt, tg[k]);
      if (r < best) best = r;
    }
    for (int k = 0; k < 3; k++)
      if (best < ks[k]) hits[k] += 1.0;
  }
  free(start), free(tg), free(fill), free(s);
  return CLIPPO_OK;
}

clippo_status clippo_link_recall(const float *za, size_t na, const float *zb, size_t nb,
                                 const size_t *a_of, const size_t *b_of, size_t links, size_t dim,
                                 clippo_recall *out, clippo_error *err) {
  memset(out, 0, sizeof *out);
  if (na == 0 || nb == 0 || links == 0)
    return clippo_fail(err, CLIPPO_E_ARG, "nothing to evaluate");
  for (size_t k = 0; k < links; k++)
    if (a_of[k] >= na || b_of[k] >= nb)
      return clippo_fail(err, CLIPPO_E_ARG, "link %zu (%zu, %zu) out of range", k, a_of[k],
                         b_of[k]);
  size_t wa = 0, wb = 0;
  clippo_status st = link_hits(za, na, zb, nb, a_of, b_of, links, dim, out->i2t, &wa, err);
  if (!st) st = link_hits(zb, nb, za, na, b_of, a_of, links, dim, out->t2i, &wb, err);
  for (int k = 0; !st && k < 3; k++) {
    out->i2t[k] /= (double)wa;
    out->t2i[k] /= (double)wb;
  }
  return st;
}
