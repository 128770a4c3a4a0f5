/* The generic task set of clippo/finetune.h: accessors, evaluation of predictions with the task's
 * metrics, and rendering rows of a text (the loaders' text layouts build on it). The loaders
 * (task_glue.c, task_vqa.c) fill the struct of tasks/task_set_internal.h. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clippo/finetune.h"
#include "tasks/task_set_internal.h"

clippo_task_set *task_set_new(void) {
  clippo_task_set *s = calloc(1, sizeof *s);
  if (s) s->positive = -1;
  return s;
}

size_t clippo_task_set_size(const clippo_task_set *s) { return s ? s->n : 0; }

clippo_task_kind clippo_task_set_kind(const clippo_task_set *s) {
  return s ? s->kind : CLIPPO_TASK_CLASSES;
}

size_t clippo_task_set_num_classes(const clippo_task_set *s) {
  return s && s->kind == CLIPPO_TASK_CLASSES ? s->nclasses : 0;
}

const char *clippo_task_set_class(const clippo_task_set *s, size_t c) {
  return s && s->classes && c < s->nclasses ? s->classes[c] : "";
}

int clippo_task_set_label(const clippo_task_set *s, size_t i) {
  return s && i < s->n ? s->ex[i].label : -1;
}

double clippo_task_set_score(const clippo_task_set *s, size_t i) {
  return s && i < s->n ? s->ex[i].score : NAN;
}

clippo_status clippo_task_set_input(const clippo_task_set *s, size_t i, const clippo_font *font,
                                    int image_size, float *dst, clippo_error *err) {
  if (!s || !font || !dst)
    return clippo_fail(err, CLIPPO_E_ARG, "task input: NULL set, font or destination");
  if (i >= s->n)
    return clippo_fail(err, CLIPPO_E_ARG, "%s: example %zu out of range", s->describe, i);
  if (image_size < 1)
    return clippo_fail(err, CLIPPO_E_ARG, "%s: image size %d must be positive", s->describe,
                       image_size);
  if (!s->input)
    return clippo_fail(err, CLIPPO_E_ARG, "%s: the set cannot render its examples", s->describe);
  return s->input(s, i, font, image_size, dst, err);
}

void clippo_task_set_example_id(const clippo_task_set *s, size_t i, char *buf, size_t cap) {
  if (!buf || !cap) return;
  snprintf(buf, cap, "%s", s && i < s->n ? s->ex[i].id : "");
}

const char *clippo_task_set_describe(const clippo_task_set *s) { return s ? s->describe : ""; }

size_t clippo_task_set_metric_names(const clippo_task_set *s, const char **names, size_t max) {
  size_t k = 0;
  for (; s && names && k < s->nmetrics && k < max; k++) names[k] = s->metrics[k];
  return k;
}

const char *clippo_task_set_task(const clippo_task_set *s) { return s ? s->task : ""; }

const char *clippo_task_set_layout(const clippo_task_set *s) { return s ? s->layout : ""; }

void clippo_task_set_free(clippo_task_set *s) {
  if (!s) return;
  if (s->classes)
    for (size_t c = 0; c < s->nclasses; c++) free(s->classes[c]);
  free(s->classes);
  free(s->ex);
  free(s->buf);
  if (s->priv && s->priv_free) s->priv_free(s->priv);
  free(s);
}

/* ---- evaluation ---------------------------------------------------------------------------- */

static int has_metric(const clippo_task_set *s, const char *name) {
  for (size_t k = 0; k < s->nmetrics; k++)
    if (s->metrics[k] && !strcmp(s->metrics[k], name)) return 1;
  return 0;
}

/* The predicted class of a logits row: the first index of the largest value (a NaN never wins
 * over a number). */
static int argmax_row(const float *row, size_t c) {
  size_t best = 0;
  for (size_t k = 1; k < c; k++)
    if (row[k] > row[best] || (isnan(row[best]) && !isnan(row[k]))) best = k;
  return (int)best;
}

static clippo_status evaluate_classes(const clippo_task_set *s, const float *pred,
                                      clippo_task_metrics *m, clippo_error *err) {
  const size_t C = s->nclasses;
  if (!C) return clippo_fail(err, CLIPPO_E_ARG, "%s: the set has no classes", s->describe);
  int *p = malloc(2 * (s->n ? s->n : 1) * sizeof *p);
  if (!p) return clippo_fail(err, CLIPPO_E_NOMEM, "%s: out of host memory", s->describe);
  int *g = p + s->n;
  const int vqa = has_metric(s, "vqa_accuracy");
  size_t nl = 0, nv = 0, counted = 0;
  double vqa_sum = 0;
  for (size_t i = 0; i < s->n; i++) {
    const task_example *e = &s->ex[i];
    const int label_ok = e->label >= 0 && (size_t)e->label < C;
    const int answers_ok = vqa && e->answers && e->nanswers > 0;
    if (!label_ok && !answers_ok) continue;
    const int cls = argmax_row(pred + i * C, C);
    counted++;
    if (label_ok) {
      p[nl] = cls;
      g[nl] = e->label;
      nl++;
    }
    if (answers_ok) {
      vqa_sum += clippo_metric_vqa(s->classes[cls], e->answers, e->nanswers);
      nv++;
    }
  }
  if (!counted) {
    free(p);
    return clippo_fail(err, CLIPPO_E_ARG, "%s: no example has a label to score predictions on",
                       s->describe);
  }
  m->count = counted;
  if (nl && has_metric(s, "accuracy")) m->accuracy = clippo_metric_accuracy(p, g, nl);
  if (nl && s->positive >= 0 && has_metric(s, "f1"))
    m->f1 = clippo_metric_f1(p, g, nl, s->positive);
  if (nl && s->positive >= 0 && has_metric(s, "matthews"))
    m->matthews = clippo_metric_matthews(p, g, nl, s->positive);
  if (nv) m->vqa_accuracy = vqa_sum / (double)nv;
  free(p);
  return CLIPPO_OK;
}

static clippo_status evaluate_scores(const clippo_task_set *s, const float *pred,
                                     clippo_task_metrics *m, clippo_error *err) {
  double *x = malloc(2 * (s->n ? s->n : 1) * sizeof *x);
  if (!x) return clippo_fail(err, CLIPPO_E_NOMEM, "%s: out of host memory", s->describe);
  double *y = x + s->n;
  size_t n = 0;
  double se = 0;
  for (size_t i = 0; i < s->n; i++) {
    if (isnan(s->ex[i].score)) continue;
    x[n] = (double)pred[i];
    y[n] = s->ex[i].score;
    se += (x[n] - y[n]) * (x[n] - y[n]);
    n++;
  }
  if (!n) {
    free(x);
    return clippo_fail(err, CLIPPO_E_ARG, "%s: no example has a score to score predictions on",
                       s->describe);
  }
  m->count = n;
  m->mse = se / (double)n;
  if (has_metric(s, "pearson")) m->pearson = clippo_metric_pearson(x, y, n);
  if (has_metric(s, "spearman")) m->spearman = clippo_metric_spearman(x, y, n);
  free(x);
  return CLIPPO_OK;
}

clippo_status clippo_task_set_evaluate(const clippo_task_set *s, const float *pred,
                                       clippo_task_metrics *m, clippo_error *err) {
  if (!s || !m || (!pred && s->n))
    return clippo_fail(err, CLIPPO_E_ARG, "task evaluation: NULL set, predictions or metrics");
  *m = (clippo_task_metrics){
      .count = 0,
      .accuracy = NAN,
      .f1 = NAN,
      .matthews = NAN,
      .pearson = NAN,
      .spearman = NAN,
      .vqa_accuracy = NAN,
      .mse = NAN,
  };
  return s->kind == CLIPPO_TASK_SCORE ? evaluate_scores(s, pred, m, err)
                                      : evaluate_classes(s, pred, m, err);
}

/* ---- rendering ----------------------------------------------------------------------------- */

clippo_status task_render_rows(const clippo_font *font, const char *text, int image_size, int row0,
                               int rows, int dst_row0, float *dst, clippo_error *err) {
  if (image_size < 1 || row0 < 0 || rows < 0 || dst_row0 < 0 || row0 > image_size - rows ||
      dst_row0 > image_size - rows)
    return clippo_fail(err, CLIPPO_E_ARG,
                       "render rows: rows [%d, %d) to row %d do not fit a %dx%d image", row0,
                       row0 + rows, dst_row0, image_size, image_size);
  if (!rows) return CLIPPO_OK;
  const size_t S = (size_t)image_size, row = S * 3;
  float *img = malloc(S * row * sizeof *img);
  if (!img) return clippo_fail(err, CLIPPO_E_NOMEM, "render: out of host memory");
  clippo_render_opts o;
  clippo_render_opts_default(&o, image_size);
  clippo_status st = clippo_render_text(font, &o, text ? text : "", text ? strlen(text) : 0,
                                        CLIPPO_F32, 3, img, err);
  if (!st)
    memcpy(dst + (size_t)dst_row0 * row, img + (size_t)row0 * row,
           (size_t)rows * row * sizeof *img);
  free(img);
  return st;
}
