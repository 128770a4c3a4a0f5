/* big_vision's resize(size) and value_range(-1, 1), bit-exact with TensorFlow's CPU kernels.
 *
 * tf.image.resize(method="bilinear", antialias=False) runs ResizeBilinear with
 * half_pixel_centers=True. Per output coordinate i (TensorFlow's compute_interpolation_weights):
 *   scale = (float)in_size / (float)out_size
 *   in    = ((float)i + 0.5f) * scale - 0.5f
 *   lower = max(floor(in), 0),  upper = min(ceil(in), in_size - 1),  lerp = in - floor(in)
 * and per pixel (compute_lerp), all in float32:
 *   top = tl + (tr - tl) * xl;  bottom = bl + (br - bl) * xl;  out = top + (bottom - top) * yl.
 * Each operation is a separate statement so no compiler fuses them into an FMA (TensorFlow's
 * SSE code rounds after every multiply and add). big_vision then clips to [0, 255] and casts to
 * uint8, which truncates. value_range computes (v - 0) / (255 - 0) then -1 + t * 2 in float32. */
#include "clippo/image.h"

#include <math.h>
#include <stdlib.h>

typedef struct interp {
  size_t lower, upper; /* source indices */
  float lerp;
} interp;

static void interp_weights(int out_size, int in_size, interp *t) {
  const float scale = (float)in_size / (float)out_size;
  for (int i = 0; i < out_size; i++) {
    const float a = (float)i + 0.5f;
    const float b = a * scale;
    const float in = b - 0.5f;
    const float in_f = floorf(in);
    long lo = (long)in_f;
    long hi = (long)ceilf(in);
    if (lo < 0) lo = 0;
    if (lo > in_size - 1) lo = in_size - 1; /* never reached; keeps indices in range */
    if (hi > in_size - 1) hi = in_size - 1;
    if (hi < 0) hi = 0;
    t[i].lower = (size_t)lo;
    t[i].upper = (size_t)hi;
    t[i].lerp = in - in_f;
  }
}

static float lerp2(float tl, float tr, float bl, float br, float xl, float yl) {
  const float dt = tr - tl;
  const float mt = dt * xl;
  const float top = tl + mt;
  const float db = br - bl;
  const float mb = db * xl;
  const float bottom = bl + mb;
  const float dv = bottom - top;
  const float mv = dv * yl;
  return top + mv;
}

static clippo_status check_resize_args(const clippo_image *in, int out_w, int out_h,
                                       const void *dst, clippo_error *err) {
  if (!in || !in->data || in->width <= 0 || in->height <= 0 || !dst)
    return clippo_fail(err, CLIPPO_E_ARG, "image resize: empty input image or no output");
  if (out_w <= 0 || out_h <= 0 || out_w > CLIPPO_IMAGE_MAX_SIDE || out_h > CLIPPO_IMAGE_MAX_SIDE ||
      (int64_t)out_w * out_h > CLIPPO_IMAGE_MAX_PIXELS)
    return clippo_fail(err, CLIPPO_E_ARG, "image resize: invalid output size %d x %d", out_w,
                       out_h);
  return CLIPPO_OK;
}

/* The resize into floats (fdst) or clipped, truncated bytes (bdst). */
static clippo_status resize_impl(const clippo_image *in, int out_w, int out_h, float *fdst,
                                 uint8_t *bdst, clippo_error *err) {
  const size_t iw = (size_t)in->width;
  interp *xs = malloc(sizeof(interp) * (size_t)out_w);
  interp *ys = malloc(sizeof(interp) * (size_t)out_h);
  if (!xs || !ys) {
    free(xs);
    free(ys);
    return clippo_fail(err, CLIPPO_E_NOMEM, "image resize: out of memory");
  }
  const int same = out_w == in->width && out_h == in->height;
  interp_weights(out_w, in->width, xs);
  interp_weights(out_h, in->height, ys);
  for (int y = 0; y < out_h; y++) {
    const uint8_t *r0 = in->data + ys[y].lower * iw * 3;
    const uint8_t *r1 = in->data + ys[y].upper * iw * 3;
    const float yl = ys[y].lerp;
    const size_t o = (size_t)y * (size_t)out_w * 3;
    for (int x = 0; x < out_w; x++) {
      const size_t x0 = xs[x].lower * 3, x1 = xs[x].upper * 3;
      const float xl = xs[x].lerp;
      for (int ch = 0; ch < 3; ch++) {
        float v;
        if (same) /* TensorFlow's no-op path: a plain cast */
          v = (float)r0[(size_t)x * 3 + (size_t)ch];
        else
          v = lerp2((float)r0[x0 + ch], (float)r0[x1 + ch], (float)r1[x0 + ch], (float)r1[x1 + ch],
                    xl, yl);
        const size_t k = o + (size_t)x * 3 + (size_t)ch;
        if (fdst) {
          fdst[k] = v;
        } else {
          if (!(v > 0.0f)) v = 0.0f; /* tf.clip_by_value(0, 255); NaN cannot occur */
          if (v > 255.0f) v = 255.0f;
          bdst[k] = (uint8_t)v; /* tf.cast: truncation toward zero */
        }
      }
    }
  }
  free(xs);
  free(ys);
  return CLIPPO_OK;
}

clippo_status clippo_image_resize_bilinear_f32(const clippo_image *in, int out_w, int out_h,
                                               float *dst, clippo_error *err) {
  clippo_status st = check_resize_args(in, out_w, out_h, dst, err);
  if (st != CLIPPO_OK) return st;
  return resize_impl(in, out_w, out_h, dst, NULL, err);
}

clippo_status clippo_image_resize_bilinear(const clippo_image *in, int out_w, int out_h,
                                           clippo_image *out, clippo_error *err) {
  clippo_status st = check_resize_args(in, out_w, out_h, out, err);
  if (st != CLIPPO_OK) return st;
  if (out == in) return clippo_fail(err, CLIPPO_E_ARG, "image resize: output aliases input");
  out->width = out->height = 0;
  out->data = malloc((size_t)out_w * (size_t)out_h * 3);
  if (!out->data)
    return clippo_fail(err, CLIPPO_E_NOMEM, "image resize: out of memory for %d x %d", out_w,
                       out_h);
  st = resize_impl(in, out_w, out_h, NULL, out->data, err);
  if (st != CLIPPO_OK) {
    free(out->data);
    out->data = NULL;
    return st;
  }
  out->width = out_w;
  out->height = out_h;
  return CLIPPO_OK;
}

void clippo_image_to_input(const clippo_image *img, float *dst) {
  if (!img || !img->data || !dst) return;
  const size_t n = (size_t)img->width * (size_t)img->height * 3;
  for (size_t i = 0; i < n; i++) {
    const float t = (float)img->data[i] / 255.0f;
    const float s = t * 2.0f;
    dst[i] = -1.0f + s;
  }
}

clippo_status clippo_image_preprocess_mem(const void *data, size_t nbytes, const char *name,
                                          int size, float *dst, clippo_error *err) {
  if (size <= 0 || size > CLIPPO_IMAGE_MAX_SIDE || !dst)
    return clippo_fail(err, CLIPPO_E_ARG, "%s: invalid preprocessing size %d or no output",
                       name ? name : "<memory>", size);
  clippo_image img = {0, 0, NULL}, small = {0, 0, NULL};
  clippo_status st = clippo_image_decode_mem(data, nbytes, name, &img, err);
  if (st == CLIPPO_OK) st = clippo_image_resize_bilinear(&img, size, size, &small, err);
  if (st == CLIPPO_OK) clippo_image_to_input(&small, dst);
  clippo_image_free(&img);
  clippo_image_free(&small);
  return st;
}

clippo_status clippo_image_preprocess_file(const char *path, int size, float *dst,
                                           clippo_error *err) {
  if (size <= 0 || size > CLIPPO_IMAGE_MAX_SIDE || !dst)
    return clippo_fail(err, CLIPPO_E_ARG, "%s: invalid preprocessing size %d or no output",
                       path ? path : "(null)", size);
  clippo_image img = {0, 0, NULL}, small = {0, 0, NULL};
  clippo_status st = clippo_image_load(path, &img, err);
  if (st == CLIPPO_OK) st = clippo_image_resize_bilinear(&img, size, size, &small, err);
  if (st == CLIPPO_OK) clippo_image_to_input(&small, dst);
  clippo_image_free(&img);
  clippo_image_free(&small);
  return st;
}
