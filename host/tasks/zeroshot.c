/* A model ready for tasks, batched embedding of image files and texts, and zero-shot
 * classification as big_vision's discriminative_classifier evaluator does it. */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clippo/checkpoint.h"
#include "clippo/image.h"
#include "clippo/tasks.h"
#include "tasks/tasks_internal.h"

/* ---- math ---------------------------------------------------------------------------------- */

void clippo_class_embedding(const float *z, size_t n, size_t dim, float *out) {
  double norm = 0.0;
  for (size_t d = 0; d < dim; d++) {
    double s = 0.0;
    for (size_t i = 0; i < n; i++) s += (double)z[i * dim + d];
    out[d] = n ? (float)(s / (double)n) : 0.0f;
    norm += (double)out[d] * (double)out[d];
  }
  float scale = (float)(1.0 / (1e-8 + sqrt(norm)));
  for (size_t d = 0; d < dim; d++) out[d] *= scale;
}

void clippo_softmax_scaled(const float *logits, size_t n, float scale, float *probs) {
  if (n == 0) return;
  double mx = -INFINITY;
  for (size_t i = 0; i < n; i++) {
    double v = (double)scale * (double)logits[i];
    if (v > mx) mx = v;
  }
  double sum = 0.0;
  for (size_t i = 0; i < n; i++) sum += exp((double)scale * (double)logits[i] - mx);
  for (size_t i = 0; i < n; i++)
    probs[i] = (float)(exp((double)scale * (double)logits[i] - mx) / sum);
}

/* a beats b: greater, or equal with a lower index (NaN loses to everything). */
static int beats(const float *s, size_t a, size_t b) {
  if (isnan(s[a])) return 0;
  if (isnan(s[b])) return 1;
  return s[a] > s[b] || (s[a] == s[b] && a < b);
}

size_t clippo_topk(const float *scores, size_t n, size_t k, size_t *idx) {
  if (k > n) k = n;
  size_t m = 0;
  for (size_t i = 0; i < n; i++) {
    /* insertion into the sorted prefix idx[0..m) */
    if (m == k && !beats(scores, i, idx[m - 1])) continue;
    size_t j = m < k ? m++ : m - 1;
    while (j > 0 && beats(scores, i, idx[j - 1])) {
      idx[j] = idx[j - 1];
      j--;
    }
    idx[j] = i;
  }
  return m;
}

size_t clippo_rank_of(const float *scores, size_t n, size_t target) {
  size_t r = 0;
  for (size_t i = 0; i < n; i++)
    if (i != target && beats(scores, i, target)) r++;
  return r;
}

/* ---- task model ---------------------------------------------------------------------------- */

/* Loads the checkpoint onto tm->rt, keeping its recorded prompts. */
static clippo_status load_model(clippo_task_model *tm, const char *path, clippo_error *err) {
  clippo_checkpoint ck;
  clippo_status st = clippo_checkpoint_load(path, &ck, 0, err);
  if (st != CLIPPO_OK) {
    clippo_checkpoint_free(&ck);
    return st;
  }
  st = clippo_model_create(tm->rt, &ck.cfg, &ck.params, &tm->model, err);
  if (st != CLIPPO_OK) clippo_error_prefix(err, "model %s", path);
  const char *prompts = clippo_checkpoint_get_attr(&ck, CLIPPO_PROMPTS_ATTR);
  if (st == CLIPPO_OK && prompts && *prompts && !(tm->prompts = strdup(prompts)))
    st = clippo_fail(err, CLIPPO_E_NOMEM, "out of host memory");
  clippo_checkpoint_free(&ck);
  return st;
}

clippo_status clippo_task_model_open(const char *model_path, const char *device,
                                     const char *const *fonts, size_t nfonts, size_t batch,
                                     clippo_task_model *tm, clippo_error *err) {
  clippo_rt *rt = NULL;
  memset(tm, 0, sizeof *tm);
  clippo_status st = clippo_rt_create(&rt, device, err);
  if (st == CLIPPO_OK)
    st = clippo_task_model_open_on(rt, model_path, fonts, nfonts, batch, tm, err);
  return st;
}

clippo_status clippo_task_model_open_on(clippo_rt *rt, const char *model_path,
                                        const char *const *fonts, size_t nfonts, size_t batch,
                                        clippo_task_model *tm, clippo_error *err) {
  memset(tm, 0, sizeof *tm);
  tm->rt = rt;
  clippo_status st = clippo_font_load(&tm->font, fonts, nfonts, err);
  if (st == CLIPPO_OK) snprintf(tm->cache_dir, sizeof tm->cache_dir, "%s", tm->rt->cache_dir);
  if (st == CLIPPO_OK) st = clippo_model_identity(model_path, tm->cache_dir, tm->identity, err);
  if (st == CLIPPO_OK) st = load_model(tm, model_path, err);
  if (st == CLIPPO_OK) {
    tm->batch = batch ? batch : 8;
    st = clippo_model_set_batch(tm->model, tm->batch, err);
  }
  if (st == CLIPPO_OK) {
    tm->image_size = clippo_model_config(tm->model)->image_size;
    tm->dim = clippo_model_output_dim(tm->model, CLIPPO_EMBED_Z);
    if (tm->dim == 0) st = clippo_fail(err, CLIPPO_E_FORMAT, "model %s has no output", model_path);
  }
  if (st) clippo_task_model_close(tm);
  return st;
}

void clippo_task_model_close(clippo_task_model *tm) {
  if (!tm) return;
  clippo_model_free(tm->model);
  clippo_rt_destroy(tm->rt);
  clippo_font_free(tm->font);
  free(tm->prompts);
  memset(tm, 0, sizeof *tm);
}

typedef struct decode_job {
  const char *const *paths;
  size_t n, stride, first;
  int size;
  float *batch;
  unsigned char *ok;
  clippo_error *errs;
} decode_job;

static void *decode_worker(void *arg) {
  decode_job *j = arg;
  size_t per = (size_t)j->size * (size_t)j->size * 3;
  for (size_t i = j->first; i < j->n; i += j->stride) {
    clippo_error e;
    clippo_status st = clippo_image_preprocess_file(j->paths[i], j->size, j->batch + i * per, &e);
    j->ok[i] = st == CLIPPO_OK;
    if (st != CLIPPO_OK && j->errs) j->errs[i] = e;
  }
  return NULL;
}

clippo_status clippo_embed_image_files(clippo_task_model *tm, const char *const *paths, size_t n,
                                       int threads, float *z, unsigned char *ok,
                                       clippo_error *file_errs, clippo_error *err) {
  if (threads <= 0) threads = 4;
  if (threads > 64) threads = 64;
  size_t bs = tm->batch ? tm->batch : 8;
  size_t per = (size_t)tm->image_size * (size_t)tm->image_size * 3;
  float *buf = malloc(bs * per * sizeof *buf);
  float *zb = malloc(bs * tm->dim * sizeof *zb);
  if (!buf || !zb) {
    free(buf);
    free(zb);
    return clippo_fail(err, CLIPPO_E_NOMEM, "out of host memory for a batch of %zu images", bs);
  }
  clippo_status st = CLIPPO_OK;
  for (size_t b0 = 0; b0 < n && st == CLIPPO_OK; b0 += bs) {
    size_t nb = n - b0 < bs ? n - b0 : bs;
    size_t nt = (size_t)threads < nb ? (size_t)threads : nb;
    decode_job jobs[64];
    pthread_t tid[64];
    int started[64];
    unsigned char *okb = ok + b0; /* the workers write ok[] */
    for (size_t t = 0; t < nt; t++) {
      jobs[t] = (decode_job){paths + b0,     nb,  nt,  t,
                             tm->image_size, buf, okb, file_errs ? file_errs + b0 : NULL};
      started[t] = t > 0 && pthread_create(&tid[t], NULL, decode_worker, &jobs[t]) == 0;
    }
    decode_worker(&jobs[0]);
    for (size_t t = 1; t < nt; t++) {
      if (started[t])
        pthread_join(tid[t], NULL);
      else
        decode_worker(&jobs[t]);
    }
    /* pack the decoded images, embed them, scatter the rows back */
    size_t m = 0;
    for (size_t i = 0; i < nb; i++) {
      if (!ok[b0 + i]) continue;
      if (m != i) memcpy(buf + m * per, buf + i * per, per * sizeof *buf);
      m++;
    }
    if (m) st = clippo_model_embed_images(tm->model, buf, m, CLIPPO_EMBED_Z, zb, err);
    size_t r = 0;
    for (size_t i = 0; i < nb && st == CLIPPO_OK; i++) {
      if (ok[b0 + i])
        memcpy(z + (b0 + i) * tm->dim, zb + (r++) * tm->dim, tm->dim * sizeof *z);
      else
        memset(z + (b0 + i) * tm->dim, 0, tm->dim * sizeof *z);
    }
  }
  free(buf);
  free(zb);
  return st;
}

clippo_status clippo_embed_texts_batched(clippo_task_model *tm, const char *const *texts, size_t n,
                                         float *z, clippo_error *err) {
  size_t bs = tm->batch ? tm->batch : 8;
  for (size_t b0 = 0; b0 < n; b0 += bs) {
    size_t nb = n - b0 < bs ? n - b0 : bs;
    clippo_status st = clippo_model_embed_texts(tm->model, tm->font, texts + b0, NULL, nb,
                                                CLIPPO_EMBED_Z, z + b0 * tm->dim, err);
    if (st) return st;
  }
  return CLIPPO_OK;
}

/* ---- classifier ---------------------------------------------------------------------------- */

void clippo_classifier_free(clippo_classifier *c) {
  if (!c) return;
  free(c->z);
  memset(c, 0, sizeof *c);
}

clippo_status clippo_classifier_build(clippo_task_model *tm, const clippo_classes *classes,
                                      const clippo_templates *templates, const char *cache_path,
                                      clippo_classifier *out, clippo_classifier_stats *stats,
                                      clippo_error *err) {
  memset(out, 0, sizeof *out);
  clippo_classifier_stats local;
  if (!stats) stats = &local;
  memset(stats, 0, sizeof *stats);
  if (classes->count == 0) return clippo_fail(err, CLIPPO_E_ARG, "no class names given");
  if (templates->count == 0) return clippo_fail(err, CLIPPO_E_ARG, "no prompt templates given");
  size_t nc = classes->count, nt = templates->count, dim = tm->dim;
  if (nc > ((size_t)1 << 24) / nt) return clippo_fail(err, CLIPPO_E_ARG, "too many prompts");
  size_t np = nc * nt;
  stats->prompts = np;
  char cache_file[1100];
  if (!cache_path && tm->cache_dir[0])
    snprintf(cache_file, sizeof cache_file, "%s/prompts.h5", tm->cache_dir);
  else
    snprintf(cache_file, sizeof cache_file, "%s", cache_path ? cache_path : "");
  clippo_prompt_cache *cache = NULL;
  char **prompts = calloc(np, sizeof *prompts);
  float *zp = malloc(np * dim * sizeof *zp);
  size_t *miss = malloc(np * sizeof *miss); /* unique prompts to embed */
  size_t *src = malloc(np * sizeof *src);   /* prompt i takes row src[i] of zp */
  tasks_strmap seen = {0};
  clippo_status st = CLIPPO_OK;
  if (!prompts || !zp || !miss || !src) st = clippo_fail(err, CLIPPO_E_NOMEM, "out of host memory");
  if (st == CLIPPO_OK)
    st = clippo_prompt_cache_open(cache_file, tm->identity, clippo_font_identity(tm->font), dim,
                                  &cache, err);
  if (st == CLIPPO_OK)
    snprintf(stats->cache_warning, sizeof stats->cache_warning, "%s",
             clippo_prompt_cache_warning(cache));
  size_t nmiss = 0;
  for (size_t c = 0; c < nc && st == CLIPPO_OK; c++) {
    for (size_t t = 0; t < nt && st == CLIPPO_OK; t++) {
      size_t i = c * nt + t;
      st = clippo_prompt_format(templates->items[t], classes->prompt_names[c], &prompts[i], err);
      if (st) break;
      size_t j;
      if (tasks_strmap_get(&seen, prompts[i], &j)) {
        src[i] = j; /* the same prompt text appeared before */
      } else if (clippo_prompt_cache_get(cache, prompts[i], zp + i * dim)) {
        src[i] = i;
        stats->cache_hits++;
        st = tasks_strmap_put(&seen, prompts[i], i, err);
      } else {
        src[i] = i;
        miss[nmiss++] = i;
        st = tasks_strmap_put(&seen, prompts[i], i, err);
      }
    }
  }
  /* embed the missing prompts in batches */
  size_t bs = tm->batch ? tm->batch : 8;
  const char **texts = st == CLIPPO_OK ? malloc(bs * sizeof *texts) : NULL;
  float *zb = st == CLIPPO_OK ? malloc(bs * dim * sizeof *zb) : NULL;
  if (st == CLIPPO_OK && (!texts || !zb)) st = clippo_fail(err, CLIPPO_E_NOMEM, "out of memory");
  for (size_t b0 = 0; b0 < nmiss && st == CLIPPO_OK; b0 += bs) {
    size_t nb = nmiss - b0 < bs ? nmiss - b0 : bs;
    for (size_t k = 0; k < nb; k++) texts[k] = prompts[miss[b0 + k]];
    st = clippo_model_embed_texts(tm->model, tm->font, texts, NULL, nb, CLIPPO_EMBED_Z, zb, err);
    for (size_t k = 0; k < nb && st == CLIPPO_OK; k++) {
      memcpy(zp + miss[b0 + k] * dim, zb + k * dim, dim * sizeof *zb);
      st = clippo_prompt_cache_put(cache, texts[k], zb + k * dim, err);
    }
    stats->embedded += nb;
  }
  free(texts);
  free(zb);
  if (st == CLIPPO_OK && nmiss) {
    clippo_error e2;
    if (clippo_prompt_cache_save(cache, &e2) != CLIPPO_OK)
      snprintf(stats->cache_warning, sizeof stats->cache_warning, "%s", e2.msg);
  }
  float *cls = st == CLIPPO_OK ? malloc(nc * dim * sizeof *cls) : NULL;
  float *tmp = st == CLIPPO_OK ? malloc(nt * dim * sizeof *tmp) : NULL;
  if (st == CLIPPO_OK && (!cls || !tmp)) st = clippo_fail(err, CLIPPO_E_NOMEM, "out of memory");
  for (size_t c = 0; c < nc && st == CLIPPO_OK; c++) {
    for (size_t t = 0; t < nt; t++)
      memcpy(tmp + t * dim, zp + src[c * nt + t] * dim, dim * sizeof *tmp);
    clippo_class_embedding(tmp, nt, dim, cls + c * dim);
  }
  free(tmp);
  if (st == CLIPPO_OK) {
    out->count = nc;
    out->dim = dim;
    out->z = cls;
    out->logit_scale = clippo_model_logit_scale(tm->model);
  } else {
    free(cls);
  }
  tasks_strmap_free(&seen);
  if (prompts)
    for (size_t i = 0; i < np; i++) free(prompts[i]);
  free(prompts);
  free(zp);
  free(miss);
  free(src);
  clippo_prompt_cache_free(cache);
  return st;
}

void clippo_classifier_logits(const clippo_classifier *c, const float *zimg, float *logits) {
  for (size_t k = 0; k < c->count; k++) {
    const float *w = c->z + k * c->dim;
    double s = 0.0;
    for (size_t d = 0; d < c->dim; d++) s += (double)zimg[d] * (double)w[d];
    logits[k] = (float)s;
  }
}

void clippo_classifier_probs(const clippo_classifier *c, const float *zimg, float *probs) {
  clippo_classifier_logits(c, zimg, probs);
  clippo_softmax_scaled(probs, c->count, c->logit_scale, probs);
}
