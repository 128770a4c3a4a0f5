/* Typographic attacks: a word rendered with render_unifont, composed onto resized test images,
 * and the zero-shot accuracy with and without it. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "clippo/model.h"
#include "clippo/typographic.h"

/* Images preprocessed and embedded at a time. */
#define CHUNK 64

void clippo_typo_opts_default(clippo_typo_opts *o) {
  o->scale = 1;
  o->anchor = CLIPPO_TYPO_BOTTOM;
  o->x = o->y = -1;
  o->ink[0] = o->ink[1] = o->ink[2] = 0;
  o->box = 1;
  o->fill[0] = o->fill[1] = o->fill[2] = 255;
}

clippo_status clippo_typo_parse_color(const char *s, uint8_t rgb[3], clippo_error *err) {
  static const struct {
    const char *name;
    uint8_t rgb[3];
  } named[] = {{"black", {0, 0, 0}},     {"white", {255, 255, 255}}, {"gray", {127, 127, 127}},
               {"red", {255, 0, 0}},     {"green", {0, 255, 0}},     {"blue", {0, 0, 255}},
               {"yellow", {255, 255, 0}}};
  for (size_t i = 0; i < sizeof named / sizeof named[0]; i++)
    if (!strcasecmp(s, named[i].name)) {
      memcpy(rgb, named[i].rgb, 3);
      return CLIPPO_OK;
    }
  unsigned v[3];
  char tail;
  if (s[0] == '#' && strlen(s) == 7 && strspn(s + 1, "0123456789abcdefABCDEF") == 6 &&
      sscanf(s + 1, "%2x%2x%2x", &v[0], &v[1], &v[2]) == 3) {
    for (int k = 0; k < 3; k++) rgb[k] = (uint8_t)v[k];
    return CLIPPO_OK;
  }
  if (strspn(s, "0123456789, ") == strlen(s) &&
      sscanf(s, "%u ,%u ,%u%c", &v[0], &v[1], &v[2], &tail) == 3 && v[0] < 256 && v[1] < 256 &&
      v[2] < 256) {
    for (int k = 0; k < 3; k++) rgb[k] = (uint8_t)v[k];
    return CLIPPO_OK;
  }
  return clippo_fail(err, CLIPPO_E_ARG,
                     "colour '%s': expected R,G,B (0..255), #RRGGBB or one of black, white, gray, "
                     "red, green, blue, yellow",
                     s);
}

clippo_status clippo_typo_parse_position(const char *s, clippo_typo_opts *o, clippo_error *err) {
  static const struct {
    const char *name;
    clippo_typo_anchor anchor;
  } named[] = {{"top", CLIPPO_TYPO_TOP},
               {"center", CLIPPO_TYPO_CENTER},
               {"centre", CLIPPO_TYPO_CENTER},
               {"bottom", CLIPPO_TYPO_BOTTOM}};
  for (size_t i = 0; i < sizeof named / sizeof named[0]; i++)
    if (!strcasecmp(s, named[i].name)) {
      o->anchor = named[i].anchor;
      o->x = o->y = -1;
      return CLIPPO_OK;
    }
  unsigned x, y;
  char tail;
  if (strspn(s, "0123456789, ") == strlen(s) && sscanf(s, "%u ,%u%c", &x, &y, &tail) == 2 &&
      x <= 1000000 && y <= 1000000) {
    o->x = (int)x;
    o->y = (int)y;
    return CLIPPO_OK;
  }
  return clippo_fail(err, CLIPPO_E_ARG,
                     "position '%s': expected top, center, bottom or X,Y (pixels from the top-left "
                     "corner)",
                     s);
}

void clippo_typo_stamp_free(clippo_typo_stamp *s) {
  if (!s) return;
  free(s->mask);
  memset(s, 0, sizeof *s);
}

clippo_status clippo_typo_stamp_make(const clippo_font *font, const char *word, int image_size,
                                     int scale, clippo_typo_stamp *out, clippo_error *err) {
  memset(out, 0, sizeof *out);
  if (scale < 1 || image_size < 1)
    return clippo_fail(err, CLIPPO_E_ARG, "typographic label: bad scale %d or image size %d", scale,
                       image_size);
  int rs = image_size / scale;
  if (rs <= CLIPPO_GLYPH_SIZE)
    return clippo_fail(err, CLIPPO_E_ARG,
                       "typographic label '%s': scale %d leaves %d pixels of a %d-pixel image, not "
                       "more than a %d-pixel glyph",
                       word, scale, rs, image_size, CLIPPO_GLYPH_SIZE);
  clippo_render_opts ro;
  clippo_render_opts_default(&ro, rs);
  ro.background = 0;
  ro.ink = 255;
  uint8_t *r = malloc((size_t)rs * (size_t)rs);
  if (!r) return clippo_fail(err, CLIPPO_E_NOMEM, "out of host memory");
  clippo_status st = clippo_render_text(font, &ro, word, strlen(word), CLIPPO_U8, 1, r, err);
  if (st) {
    free(r);
    return clippo_error_prefix(err, "typographic label '%s'", word);
  }
  int r0 = rs, r1 = -1, c0 = rs, c1 = -1;
  for (int y = 0; y < rs; y++)
    for (int x = 0; x < rs; x++)
      if (r[(size_t)y * (size_t)rs + (size_t)x]) {
        if (y < r0) r0 = y;
        if (y > r1) r1 = y;
        if (x < c0) c0 = x;
        if (x > c1) c1 = x;
      }
  if (r1 < 0) {
    free(r);
    return clippo_fail(err, CLIPPO_E_ARG, "typographic label '%s' draws no ink with this font",
                       word);
  }
  /* the ink plus a 1-pixel margin, within the rendered square */
  r0 = r0 > 0 ? r0 - 1 : 0;
  c0 = c0 > 0 ? c0 - 1 : 0;
  r1 = r1 + 1 < rs ? r1 + 1 : rs - 1;
  c1 = c1 + 1 < rs ? c1 + 1 : rs - 1;
  out->w = (c1 - c0 + 1) * scale;
  out->h = (r1 - r0 + 1) * scale;
  out->mask = malloc((size_t)out->w * (size_t)out->h);
  if (!out->mask) {
    free(r);
    memset(out, 0, sizeof *out);
    return clippo_fail(err, CLIPPO_E_NOMEM, "out of host memory");
  }
  for (int y = 0; y < out->h; y++)
    for (int x = 0; x < out->w; x++) {
      int sy = r0 + y / scale, sx = c0 + x / scale;
      out->mask[(size_t)y * (size_t)out->w + (size_t)x] =
          r[(size_t)sy * (size_t)rs + (size_t)sx] ? 2 : 1;
    }
  free(r);
  return CLIPPO_OK;
}

void clippo_typo_stamp_apply(const clippo_typo_stamp *s, const clippo_typo_opts *o,
                             clippo_image *img) {
  int x0 = o->x, y0 = o->y;
  if (x0 < 0) {
    x0 = (img->width - s->w) / 2;
    if (o->anchor == CLIPPO_TYPO_TOP)
      y0 = 0;
    else if (o->anchor == CLIPPO_TYPO_CENTER)
      y0 = (img->height - s->h) / 2;
    else
      y0 = img->height - s->h;
  }
  for (int y = 0; y < s->h; y++) {
    int iy = y0 + y;
    if (iy < 0 || iy >= img->height) continue;
    for (int x = 0; x < s->w; x++) {
      int ix = x0 + x;
      if (ix < 0 || ix >= img->width) continue;
      uint8_t m = s->mask[(size_t)y * (size_t)s->w + (size_t)x];
      const uint8_t *c = m == 2 ? o->ink : o->box ? o->fill : NULL;
      if (m && c) memcpy(img->data + ((size_t)iy * (size_t)img->width + (size_t)ix) * 3, c, 3);
    }
  }
}

void clippo_typo_attack_free(clippo_typo_attack *a) {
  if (!a) return;
  for (size_t i = 0; i < a->nstamps; i++) clippo_typo_stamp_free(&a->stamps[i]);
  free(a->stamps);
  free(a->target);
  memset(a, 0, sizeof *a);
}

/* Allocates an attack of n stamps. */
static clippo_status attack_alloc(clippo_typo_attack *a, size_t n, const clippo_typo_opts *o,
                                  clippo_error *err) {
  memset(a, 0, sizeof *a);
  a->opts = *o;
  a->stamps = calloc(n, sizeof *a->stamps);
  a->target = calloc(n, sizeof *a->target);
  if (!a->stamps || !a->target) {
    clippo_typo_attack_free(a);
    return clippo_fail(err, CLIPPO_E_NOMEM, "out of host memory");
  }
  a->nstamps = n;
  return CLIPPO_OK;
}

clippo_status clippo_typo_attack_word(const clippo_font *font, const char *word, size_t target,
                                      int image_size, const clippo_typo_opts *o,
                                      clippo_typo_attack *out, clippo_error *err) {
  clippo_status st = attack_alloc(out, 1, o, err);
  if (!st) st = clippo_typo_stamp_make(font, word, image_size, o->scale, &out->stamps[0], err);
  if (!st) out->target[0] = target;
  if (st) clippo_typo_attack_free(out);
  return st;
}

clippo_status clippo_typo_attack_classes(const clippo_font *font, const char *const *names,
                                         size_t count, int image_size, const clippo_typo_opts *o,
                                         clippo_typo_attack *out, clippo_error *err) {
  if (count < 2)
    return clippo_fail(err, CLIPPO_E_ARG, "the class attack needs at least two classes");
  clippo_status st = attack_alloc(out, count, o, err);
  for (size_t c = 0; !st && c < count; c++) {
    out->target[c] = (c + 1) % count;
    st = clippo_typo_stamp_make(font, names[out->target[c]], image_size, o->scale, &out->stamps[c],
                                err);
  }
  if (st) clippo_typo_attack_free(out);
  return st;
}

const clippo_typo_stamp *clippo_typo_attack_stamp(const clippo_typo_attack *a, size_t label) {
  return a->nstamps == 1 ? &a->stamps[0] : &a->stamps[label % a->nstamps];
}

/* Resized image -> optional label -> model input. */
static void finish_input(const clippo_typo_attack *a, size_t label, clippo_image *img, float *dst) {
  if (a) clippo_typo_stamp_apply(clippo_typo_attack_stamp(a, label), &a->opts, img);
  clippo_image_to_input(img, dst);
}

clippo_status clippo_typo_pixels_to_inputs(const clippo_typo_attack *a, const uint8_t *pixels,
                                           const size_t *labels, size_t n, int w, int h,
                                           int channels, int size, float *dst, clippo_error *err) {
  if (w <= 0 || h <= 0 || size <= 0 || (channels != 1 && channels != 3))
    return clippo_fail(err, CLIPPO_E_ARG, "bad image geometry %dx%dx%d -> %d", w, h, channels,
                       size);
  size_t px = (size_t)w * (size_t)h, per = (size_t)size * (size_t)size * 3;
  clippo_image in = {w, h, malloc(px * 3)};
  if (!in.data) return clippo_fail(err, CLIPPO_E_NOMEM, "out of host memory");
  clippo_status st = CLIPPO_OK;
  for (size_t i = 0; i < n && !st; i++) {
    const uint8_t *src = pixels + i * px * (size_t)channels;
    if (channels == 3)
      memcpy(in.data, src, px * 3);
    else
      for (size_t p = 0; p < px; p++)
        in.data[3 * p] = in.data[3 * p + 1] = in.data[3 * p + 2] = src[p];
    clippo_image out = {0, 0, NULL};
    st = clippo_image_resize_bilinear(&in, size, size, &out, err);
    if (!st) finish_input(a, labels ? labels[i] : 0, &out, dst + i * per);
    clippo_image_free(&out);
  }
  free(in.data);
  return st;
}

clippo_status clippo_typo_file_to_input(const clippo_typo_attack *a, const char *path, size_t label,
                                        int size, float *dst, clippo_error *err) {
  clippo_image img = {0, 0, NULL}, out = {0, 0, NULL};
  clippo_status st = clippo_image_load(path, &img, err);
  if (!st) st = clippo_image_resize_bilinear(&img, size, size, &out, err);
  if (st == CLIPPO_E_ARG) clippo_error_prefix(err, "%s", path);
  if (!st) finish_input(a, label, &out, dst);
  clippo_image_free(&img);
  clippo_image_free(&out);
  return st;
}

/* The same attack with every ink cell turned into label background: the occlusion control. */
static clippo_status control_attack(const clippo_typo_attack *a, clippo_typo_attack *out,
                                    clippo_error *err) {
  clippo_status st = attack_alloc(out, a->nstamps, &a->opts, err);
  for (size_t i = 0; !st && i < a->nstamps; i++) {
    const clippo_typo_stamp *s = &a->stamps[i];
    size_t cells = (size_t)s->w * (size_t)s->h;
    out->target[i] = a->target[i];
    out->stamps[i].mask = malloc(cells ? cells : 1);
    if (!out->stamps[i].mask) {
      st = clippo_fail(err, CLIPPO_E_NOMEM, "out of host memory");
      break;
    }
    out->stamps[i].w = s->w;
    out->stamps[i].h = s->h;
    for (size_t k = 0; k < cells; k++) out->stamps[i].mask[k] = s->mask[k] ? 1 : 0;
  }
  /* the label's rectangle in the fill colour, without the text (drawn even when the attack
   * itself has no box: an empty label without one would draw nothing) */
  out->opts.box = 1;
  if (st) clippo_typo_attack_free(out);
  return st;
}

clippo_status clippo_typo_image(const clippo_typo_attack *a, const clippo_typo_data *d, size_t i,
                                int size, clippo_image *out, clippo_error *err) {
  memset(out, 0, sizeof *out);
  if (i >= d->n) return clippo_fail(err, CLIPPO_E_ARG, "image %zu of %zu", i, d->n);
  clippo_image in = {0, 0, NULL};
  clippo_status st = CLIPPO_OK;
  if (d->pixels) {
    const clippo_idx *p = d->pixels;
    int w = (int)p->dims[2], h = (int)p->dims[1], ch = p->ndim == 4 ? 3 : 1;
    size_t px = (size_t)w * (size_t)h;
    const uint8_t *src = p->data + i * clippo_idx_item_size(p);
    in = (clippo_image){w, h, malloc(px * 3)};
    if (!in.data) return clippo_fail(err, CLIPPO_E_NOMEM, "out of host memory");
    if (ch == 3)
      memcpy(in.data, src, px * 3);
    else
      for (size_t q = 0; q < px; q++)
        in.data[3 * q] = in.data[3 * q + 1] = in.data[3 * q + 2] = src[q];
  } else {
    st = clippo_image_load(d->files[i], &in, err);
  }
  if (!st) st = clippo_image_resize_bilinear(&in, size, size, out, err);
  if (st == CLIPPO_E_ARG && !d->pixels) clippo_error_prefix(err, "%s", d->files[i]);
  if (!st && a) clippo_typo_stamp_apply(clippo_typo_attack_stamp(a, d->labels[i]), &a->opts, out);
  clippo_image_free(&in);
  return st;
}

/* Inputs of images [i0, i0 + m) of data with attack a (NULL: clean). */
static clippo_status chunk_inputs(const clippo_typo_data *d, const clippo_typo_attack *a, size_t i0,
                                  size_t m, int size, float *dst, clippo_error *err) {
  size_t per = (size_t)size * (size_t)size * 3;
  for (size_t i = 0; i < m; i++) {
    clippo_image img;
    clippo_status st = clippo_typo_image(a, d, i0 + i, size, &img, err);
    if (st) return st;
    clippo_image_to_input(&img, dst + i * per);
    clippo_image_free(&img);
  }
  return CLIPPO_OK;
}

/* Top-1 class of each embedded row. */
static void classify(const clippo_classifier *clf, const float *z, size_t m, float *logits,
                     size_t *pred) {
  for (size_t i = 0; i < m; i++) {
    clippo_classifier_logits(clf, z + i * clf->dim, logits);
    clippo_topk(logits, clf->count, 1, &pred[i]);
  }
}

clippo_status clippo_typographic_eval(clippo_task_model *tm, const clippo_classifier *clf,
                                      const clippo_typo_data *data, const clippo_typo_attack *a,
                                      int control, clippo_typo_progress_fn progress, void *user,
                                      clippo_typo_counts *out, clippo_error *err) {
  memset(out, 0, sizeof *out);
  for (size_t i = 0; i < data->n; i++)
    if (data->labels[i] >= clf->count)
      return clippo_fail(err, CLIPPO_E_ARG, "image %zu has label %zu, not below the %zu classes", i,
                         data->labels[i], clf->count);
  if (a->nstamps != 1 && a->nstamps != clf->count)
    return clippo_fail(err, CLIPPO_E_ARG, "the attack has %zu words for %zu classes", a->nstamps,
                       clf->count);
  clippo_typo_attack ctl = {0};
  clippo_status st = control ? control_attack(a, &ctl, err) : CLIPPO_OK;
  int size = tm->image_size;
  size_t per = (size_t)size * (size_t)size * 3, passes = control ? 3 : 2;
  float *in = malloc(CHUNK * per * sizeof *in), *z = malloc(CHUNK * tm->dim * sizeof *z);
  float *logits = malloc(clf->count * sizeof *logits);
  size_t pred[CHUNK];
  if (!st && (!in || !z || !logits)) st = clippo_fail(err, CLIPPO_E_NOMEM, "out of host memory");
  size_t done = 0;
  for (size_t i0 = 0; !st && i0 < data->n; i0 += CHUNK) {
    size_t m = data->n - i0 < CHUNK ? data->n - i0 : CHUNK;
    for (size_t pass = 0; !st && pass < passes; pass++) {
      const clippo_typo_attack *use = pass == 0 ? NULL : pass == 1 ? a : &ctl;
      st = chunk_inputs(data, use, i0, m, size, in, err);
      if (!st) st = clippo_model_embed_images(tm->model, in, m, CLIPPO_EMBED_Z, z, err);
      if (st) break;
      classify(clf, z, m, logits, pred);
      for (size_t i = 0; i < m; i++) {
        size_t label = data->labels[i0 + i];
        size_t named = a->target[a->nstamps == 1 ? 0 : label];
        int right = pred[i] == label, hit = pred[i] == named;
        if (pass == 0) {
          out->clean_top1 += right;
          out->clean_named += hit;
        } else if (pass == 1) {
          out->attack_top1 += right;
          out->attack_named += hit;
        } else {
          out->control_top1 += right;
          out->control_named += hit;
        }
      }
      done += m;
      if (progress) progress(user, done, passes * data->n);
    }
    if (!st) out->n += m;
  }
  free(in);
  free(z);
  free(logits);
  clippo_typo_attack_free(&ctl);
  return st;
}
