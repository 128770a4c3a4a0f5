/* The embed and text suites: end-to-end image embedding of randomly initialised B/16 and L/16
 * models (float32 and, on fp16 devices, fp16 GEMMs), text rendering and text embedding. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/bench_internal.h"
#include "clippo/model.h"
#include "clippo/params.h"
#include "clippo/text.h"

/* ---- embed ----------------------------------------------------------------------------- */

/* Floating-point operations of one image through the model (matrix products and attention;
 * LayerNorm, softmax and elementwise work left out). */
double bench_model_flops(const clippo_config *c) {
  double t = clippo_config_tokens(c), w = c->width, m = c->mlp_dim, p = c->patch;
  double f = 2 * t * (p * p * 3) * w;
  f += c->depth * (2 * t * w * (4 * w + 2 * m) + 4 * t * t * w);
  if (!strcmp(c->pool, "map")) f += 2 * w * w + 4 * t * w * w + 4 * t * w + 2 * w * w + 4 * w * m;
  if (c->out_dim > 0) f += 2 * w * c->out_dim;
  return f;
}

typedef struct embed_bench {
  clippo_model *m;
  const float *img;
  float *out;
  size_t n;
} embed_bench;

static clippo_status embed_call(void *ctx, clippo_error *e) {
  embed_bench *b = ctx;
  return clippo_model_embed_images(b->m, b->img, b->n, CLIPPO_EMBED_Z, b->out, e);
}

/* A randomly initialised model of a preset. */
clippo_status bench_make_model(clippo_rt *rt, const char *variant, clippo_model **out,
                               double *init_s, clippo_error *err) {
  clippo_config cfg;
  TRY(clippo_config_preset(variant, &cfg, err));
  clippo_params params;
  memset(&params, 0, sizeof params);
  double t0 = clippo_bench_now();
  clippo_status st = clippo_params_init(&params, &cfg, 1, err);
  if (!st) st = clippo_model_create(rt, &cfg, &params, out, err);
  clippo_params_free(&params);
  if (init_s) *init_s = clippo_bench_now() - t0;
  return st;
}

/* The row of one timed embedding of n images (f1 FLOPs each); the caller writes the note. */
static void embed_row(clippo_bench_row *row, const char *variant, const char *impl,
                      const char *shape, const timing *t, size_t n, double f1) {
  bench_row_init(row, "embed", variant, impl);
  snprintf(row->shape, sizeof row->shape, "%s", shape);
  bench_row_timing(row, t);
  row->batch = n;
  row->flops = f1 * (double)n;
  row->rate = t->median_s > 0 ? (double)n / t->median_s : 0;
  snprintf(row->rate_unit, sizeof row->rate_unit, "images/s");
}

/* On a device with cl_khr_fp16: the same embedding with fp16 GEMMs (CLBlast's Hgemm) into
 * b->out, timed, and its relative L2 distance to the float32 embeddings `ref`. */
static clippo_status embed_fp16_row(bench_suite *s, const char *variant, const char *shape,
                                    embed_bench *b, const float *ref, double f1, size_t od,
                                    clippo_error *err) {
  clippo_error e;
  timing t;
  clippo_status st = clippo_rt_set_precision(s->rt, CLIPPO_PRECISION_FP16, &e);
  if (!st) st = bench_time_calls(s, s->rt, embed_call, b, &t, &e);
  clippo_rt_set_precision(s->rt, CLIPPO_PRECISION_FP32, NULL);
  if (st) {
    clippo_rt_finish(s->rt, NULL);
    RECORD_FAILURE(s, "embed", variant, "clippo-fp16", shape, &e, err);
    return CLIPPO_OK;
  }
  clippo_bench_row row;
  embed_row(&row, variant, "clippo-fp16", shape, &t, b->n, f1);
  snprintf(row.note, sizeof row.note,
           "GEMMs in float16 (CLBlast Hgemm), other ops float32; embeddings within %.2e "
           "(relative L2) of float32",
           bench_rel_l2(b->out, ref, b->n * od));
  return bench_emit(s, &row, err);
}

clippo_status bench_run_embed(bench_suite *s, clippo_error *err) {
  char list[64];
  snprintf(list, sizeof list, "%s", s->o.variants);
  for (char *save = NULL, *v = strtok_r(list, ",", &save); v; v = strtok_r(NULL, ",", &save)) {
    clippo_model *m = NULL;
    clippo_error e;
    double init_s = 0;
    if (bench_make_model(s->rt, v, &m, &init_s, &e)) {
      RECORD_FAILURE(s, "embed", v, "clippo", "", &e, err);
      continue;
    }
    const clippo_config *cfg = clippo_model_config(m);
    double f1 = bench_model_flops(cfg);
    for (size_t bi = 0; bi < s->o.nbatches; bi++) {
      size_t n = s->o.batches[bi];
      size_t per = (size_t)cfg->image_size * (size_t)cfg->image_size * 3;
      size_t od = clippo_model_output_dim(m, CLIPPO_EMBED_Z);
      float *img = malloc(n * per * sizeof *img), *out = calloc(n * od, sizeof *out);
      if (!img || !out) {
        free(img);
        free(out);
        clippo_model_free(m);
        return clippo_fail(err, CLIPPO_E_NOMEM, "bench: out of host memory (%zu images)", n);
      }
      bench_fill_uniform(img, n * per, -1, 1, 7 + n);
      embed_bench b = {m, img, out, n};
      char shape[96];
      snprintf(shape, sizeof shape, "%d layers, width %d, %d px, %d tokens; batch %zu", cfg->depth,
               cfg->width, cfg->image_size, clippo_config_tokens(cfg), n);
      timing t;
      clippo_status st = clippo_model_set_batch(m, n, &e);
      if (!st) st = bench_time_calls(s, s->rt, embed_call, &b, &t, &e);
      if (st) {
        free(img);
        free(out);
        clippo_rt_finish(s->rt, NULL);
        RECORD_FAILURE(s, "embed", v, "clippo", shape, &e, err);
        continue;
      }
      clippo_bench_row row;
      embed_row(&row, v, "clippo", shape, &t, n, f1);
      snprintf(row.note, sizeof row.note,
               "first call %.2f s (kernel builds); random init + upload %.1f s; device peak "
               "%.0f MiB",
               t.first_s, init_s, (double)clippo_model_peak_bytes(m) / 1048576.0);
      st = bench_emit(s, &row, err);
      if (!st && n == 1 && !strcmp(v, "b16")) /* planned vs unplanned (bench_plan.c) */
        st = bench_plan_embed_rows(s, m, v, shape, img, n, f1, err);
      if (!st && s->rt->info.fp16 && s->rt->precision == CLIPPO_PRECISION_FP32) {
        float *out16 = calloc(n * od, sizeof *out16);
        b.out = out16;
        st = out16 ? embed_fp16_row(s, v, shape, &b, out, f1, od, err)
                   : clippo_fail(err, CLIPPO_E_NOMEM, "bench: out of host memory");
        free(out16);
      }
      free(img);
      free(out);
      if (st) {
        clippo_model_free(m);
        return st;
      }
    }
    if (!strcmp(v, "b16") && (s->o.suites & CLIPPO_BENCH_TEXT) && !s->b16)
      s->b16 = m;
    else
      clippo_model_free(m);
  }
  return CLIPPO_OK;
}

enum { IMG = 224 }; /* rendered image size of the text suite */

/* ---- text ------------------------------------------------------------------------------ */

static const char *const bench_words[] = {
    "a",     "photo", "of",     "the",   "small", "dog",   "running", "on",     "green",
    "grass", "with",  "bright", "blue",  "sky",   "red",   "car",     "parked", "near",
    "old",   "house", "in",     "city",  "at",    "night", "two",     "people", "walking",
    "along", "beach", "sunset", "close", "up",    "bird",  "tree",    "branch", "Hello",
    "World", "text",  "image",  "café",  "naïve", "über",  "straße",  "日本",   "世界"};

/* Deterministic captions of 3..20 words (each malloc'ed). */
char **bench_make_captions(size_t n) {
  char **t = calloc(n, sizeof *t);
  if (!t) return NULL;
  unsigned long long st = 0x9E3779B97F4A7C15ull;
  size_t nw = sizeof bench_words / sizeof bench_words[0];
  for (size_t i = 0; i < n; i++) {
    t[i] = calloc(512, 1);
    if (!t[i]) {
      for (size_t j = 0; j < i; j++) free(t[j]);
      free(t);
      return NULL;
    }
    st = st * 6364136223846793005ull + 1442695040888963407ull;
    int words = 3 + (int)((st >> 33) % 18);
    for (int w = 0; w < words; w++) {
      st = st * 6364136223846793005ull + 1442695040888963407ull;
      if (w) strcat(t[i], " ");
      strcat(t[i], bench_words[(st >> 33) % nw]);
    }
  }
  return t;
}

void bench_free_captions(char **t, size_t n) {
  if (!t) return;
  for (size_t i = 0; i < n; i++) free(t[i]);
  free(t);
}

typedef struct text_bench {
  const clippo_font *font;
  clippo_render_opts ro;
  clippo_model *m;
  char **texts;
  size_t n;
  float *buf;
} text_bench;

static clippo_status render_call(void *ctx, clippo_error *e) {
  text_bench *b = ctx;
  return clippo_render_batch(b->font, &b->ro, (const char *const *)b->texts, NULL, b->n, CLIPPO_F32,
                             b->buf, e);
}

static clippo_status embed_texts_call(void *ctx, clippo_error *e) {
  text_bench *b = ctx;
  return clippo_model_embed_texts(b->m, b->font, (const char *const *)b->texts, NULL, b->n,
                                  CLIPPO_EMBED_Z, b->buf, e);
}

clippo_status bench_run_text(bench_suite *s, clippo_error *err) {
  clippo_font *font = NULL;
  clippo_error e;
  if (clippo_font_load(&font, s->o.fonts, s->o.nfonts, &e)) {
    char note[300];
    snprintf(note, sizeof note, "no font: %s", e.msg);
    TRY(bench_emit_status(s, "text", "render", "clippo", "", "unavailable", note, err));
    return bench_emit_status(s, "text", "embed_texts", "clippo", "", "unavailable", note, err);
  }
  /* Rendering alone: a batch of captions into a float32 (n, 224, 224, 3) buffer on the host. */
  size_t nr = s->o.quick ? 64 : 256;
  text_bench b;
  memset(&b, 0, sizeof b);
  b.font = font;
  clippo_render_opts_default(&b.ro, IMG);
  b.texts = bench_make_captions(nr);
  b.n = nr;
  b.buf = malloc(nr * IMG * IMG * 3 * sizeof(float));
  if (!b.texts || !b.buf) {
    bench_free_captions(b.texts, nr);
    free(b.buf);
    clippo_font_free(font);
    return clippo_fail(err, CLIPPO_E_NOMEM, "bench: out of host memory (text)");
  }
  timing t;
  char shape[96];
  snprintf(shape, sizeof shape, "%zu captions of 3-20 words, %d px, float32", nr, IMG);
  clippo_status ret = CLIPPO_OK;
  if (bench_time_calls(s, NULL, render_call, &b, &t, &e)) {
    if (e.status == CLIPPO_E_NOMEM) {
      *err = e;
      ret = CLIPPO_E_NOMEM;
    } else {
      ret = bench_emit_status(s, "text", "render", "clippo", shape, "failed", e.msg, err);
    }
  } else {
    clippo_bench_row row;
    bench_row_init(&row, "text", "render", "clippo");
    snprintf(row.shape, sizeof row.shape, "%s", shape);
    bench_row_timing(&row, &t);
    row.batch = nr;
    row.rate = t.median_s > 0 ? (double)nr / t.median_s : 0;
    snprintf(row.rate_unit, sizeof row.rate_unit, "texts/s");
    snprintf(row.note, sizeof row.note, "host, one thread; font %s", clippo_font_identity(font));
    ret = bench_emit(s, &row, err);
  }
  /* Rendering + B/16 embedding. */
  size_t ne = s->o.quick ? 2 : 8;
  if (!ret && !s->b16) {
    if (bench_make_model(s->rt, "b16", &s->b16, NULL, &e)) {
      s->b16 = NULL;
      if (e.status == CLIPPO_E_NOMEM) {
        *err = e;
        ret = CLIPPO_E_NOMEM;
      } else {
        ret = bench_emit_status(s, "text", "embed_texts", "clippo", "b16", "failed", e.msg, err);
      }
    }
  }
  if (!ret && s->b16) {
    b.m = s->b16;
    b.n = ne;
    snprintf(shape, sizeof shape, "b16, %zu captions per call", ne);
    clippo_status st = clippo_model_set_batch(b.m, ne, &e);
    if (!st) st = bench_time_calls(s, s->rt, embed_texts_call, &b, &t, &e);
    if (st) {
      clippo_rt_finish(s->rt, NULL);
      if (e.status == CLIPPO_E_NOMEM) {
        *err = e;
        ret = CLIPPO_E_NOMEM;
      } else {
        ret = bench_emit_status(s, "text", "embed_texts", "clippo", shape, "failed", e.msg, err);
      }
    } else {
      clippo_bench_row row;
      bench_row_init(&row, "text", "embed_texts", "clippo");
      snprintf(row.shape, sizeof row.shape, "%s", shape);
      bench_row_timing(&row, &t);
      row.batch = ne;
      row.flops = bench_model_flops(clippo_model_config(b.m)) * (double)ne;
      row.rate = t.median_s > 0 ? (double)ne / t.median_s : 0;
      snprintf(row.rate_unit, sizeof row.rate_unit, "texts/s");
      snprintf(row.note, sizeof row.note, "render + embed, first call %.2f s", t.first_s);
      ret = bench_emit(s, &row, err);
    }
  }
  bench_free_captions(b.texts, nr);
  free(b.buf);
  clippo_font_free(font);
  return ret;
}
