/* Fine-tuned models (clippo/finetune.h): the tower plus the task head of a `clippo finetune`
 * checkpoint, and prediction over a task set (the tower's pre-logits on the device, the head on
 * the host: a (W, C) product per example). */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clippo/checkpoint.h"
#include "finetune_internal.h"

struct clippo_tuned_model {
  clippo_model *m;
  ft_task_info info;
  float *kernel, *bias; /* (W, C), (C) */
  size_t outputs, width;
};

/* ---- the "finetune" attribute ---------------------------------------------------------------- */

char *ft_attr_json(const clippo_task_set *s, int image_size, int freeze) {
  cJSON *root = cJSON_CreateObject();
  if (!root) return NULL;
  cJSON_AddStringToObject(root, "task", clippo_task_set_task(s));
  cJSON_AddStringToObject(root, "layout", clippo_task_set_layout(s));
  cJSON_AddStringToObject(root, "kind",
                          clippo_task_set_kind(s) == CLIPPO_TASK_SCORE ? "score" : "classes");
  cJSON_AddNumberToObject(root, "image_size", image_size);
  cJSON_AddBoolToObject(root, "freeze", freeze != 0);
  cJSON *cls = cJSON_AddArrayToObject(root, "classes");
  for (size_t c = 0; cls && c < clippo_task_set_num_classes(s); c++)
    cJSON_AddItemToArray(cls, cJSON_CreateString(clippo_task_set_class(s, c)));
  char *out = cJSON_PrintUnformatted(root);
  cJSON_Delete(root);
  return out;
}

void ft_task_info_free(ft_task_info *info) {
  for (size_t i = 0; info->classes && i < info->nclasses; i++) free(info->classes[i]);
  free(info->classes);
  info->classes = NULL;
  info->nclasses = 0;
}

clippo_status ft_attr_parse(const char *path, const char *json, ft_task_info *out,
                            clippo_error *err) {
  memset(out, 0, sizeof *out);
  if (!json)
    return clippo_fail(err, CLIPPO_E_FORMAT,
                       "%s: not a fine-tuned model (no \"%s\" attribute: made by `clippo "
                       "finetune`?)",
                       path, FT_ATTR);
  cJSON *root = cJSON_Parse(json);
  const cJSON *task = cJSON_GetObjectItemCaseSensitive(root, "task");
  const cJSON *layout = cJSON_GetObjectItemCaseSensitive(root, "layout");
  const cJSON *kind = cJSON_GetObjectItemCaseSensitive(root, "kind");
  const cJSON *size = cJSON_GetObjectItemCaseSensitive(root, "image_size");
  const cJSON *freeze = cJSON_GetObjectItemCaseSensitive(root, "freeze");
  const cJSON *cls = cJSON_GetObjectItemCaseSensitive(root, "classes");
  clippo_status st = CLIPPO_OK;
  if (!cJSON_IsString(task) || !cJSON_IsString(layout) || !cJSON_IsString(kind) ||
      !cJSON_IsNumber(size) || !cJSON_IsArray(cls) ||
      (strcmp(kind->valuestring, "score") && strcmp(kind->valuestring, "classes")) ||
      strlen(task->valuestring) >= sizeof out->task ||
      strlen(layout->valuestring) >= sizeof out->layout) {
    st = clippo_fail(err, CLIPPO_E_FORMAT, "%s: the \"%s\" attribute is not valid", path, FT_ATTR);
  } else {
    snprintf(out->task, sizeof out->task, "%s", task->valuestring);
    snprintf(out->layout, sizeof out->layout, "%s", layout->valuestring);
    out->kind = strcmp(kind->valuestring, "score") ? CLIPPO_TASK_CLASSES : CLIPPO_TASK_SCORE;
    out->image_size = (int)size->valuedouble;
    out->freeze = cJSON_IsTrue(freeze);
    size_t n = (size_t)cJSON_GetArraySize(cls);
    out->classes = n ? calloc(n, sizeof *out->classes) : NULL;
    if (n && !out->classes) st = clippo_fail(err, CLIPPO_E_NOMEM, "out of host memory");
    const cJSON *it = NULL;
    cJSON_ArrayForEach(it, cls) {
      if (st) break;
      if (!cJSON_IsString(it)) {
        st = clippo_fail(err, CLIPPO_E_FORMAT, "%s: a class of \"%s\" is not a string", path,
                         FT_ATTR);
        break;
      }
      if (!out->classes) break;
      out->classes[out->nclasses] = strdup(it->valuestring);
      if (!out->classes[out->nclasses++])
        st = clippo_fail(err, CLIPPO_E_NOMEM, "out of host memory");
    }
    if (!st && out->kind == CLIPPO_TASK_CLASSES && out->nclasses < 2)
      st = clippo_fail(err, CLIPPO_E_FORMAT, "%s: a classification task with %zu classes", path,
                       out->nclasses);
  }
  cJSON_Delete(root);
  if (st) ft_task_info_free(out);
  return st;
}

/* ---- prediction --------------------------------------------------------------------------------
 */

clippo_status ft_predict(clippo_model *m, const float *kernel, const float *bias, size_t outputs,
                         const clippo_task_set *s, const clippo_font *font, size_t batch,
                         float *pred, clippo_error *err) {
  const clippo_config *cfg = clippo_model_config(m);
  const size_t S = (size_t)cfg->image_size, slot = S * S * 3;
  const size_t W = clippo_model_output_dim(m, CLIPPO_EMBED_PRE_LOGITS), n = clippo_task_set_size(s);
  if (batch == 0) batch = 32;
  if (batch > n) batch = n;
  float *in = malloc(batch * slot * sizeof *in), *pre = malloc(batch * W * sizeof *pre);
  clippo_status st = in && pre ? CLIPPO_OK : clippo_fail(err, CLIPPO_E_NOMEM, "out of memory");
  for (size_t i0 = 0; !st && i0 < n; i0 += batch) {
    const size_t b = n - i0 < batch ? n - i0 : batch;
    for (size_t j = 0; !st && j < b; j++)
      st = clippo_task_set_input(s, i0 + j, font, (int)S, in + j * slot, err);
    if (!st) st = clippo_model_embed_images(m, in, b, CLIPPO_EMBED_PRE_LOGITS, pre, err);
    for (size_t j = 0; !st && j < b; j++) {
      const float *x = pre + j * W;
      float *y = pred + (i0 + j) * outputs;
      for (size_t c = 0; c < outputs; c++) {
        double acc = bias[c];
        for (size_t k = 0; k < W; k++) acc += (double)x[k] * (double)kernel[k * outputs + c];
        y[c] = (float)acc;
      }
    }
  }
  free(in);
  free(pre);
  return st;
}

/* ---- fine-tuned models
 * --------------------------------------------------------------------------- */

/* The head of ck as host arrays of a W-wide tower with `outputs` outputs. */
static clippo_status take_head(const char *path, const clippo_checkpoint *ck, size_t W,
                               size_t outputs, float **kernel, float **bias, clippo_error *err) {
  const int64_t ks[2] = {(int64_t)W, (int64_t)outputs}, bs[1] = {(int64_t)outputs};
  const float *k = clippo_params_get(&ck->heads, CLIPPO_HEAD_KERNEL, 2, ks, err);
  const float *b = k ? clippo_params_get(&ck->heads, CLIPPO_HEAD_BIAS, 1, bs, err) : NULL;
  if (!k || !b) return clippo_error_prefix(err, "%s: the task head", path);
  for (size_t i = 0; i < W * outputs; i++)
    if (!isfinite(k[i]))
      return clippo_fail(err, CLIPPO_E_NUMERIC, "%s: %s holds a non-finite value at %zu", path,
                         CLIPPO_HEAD_KERNEL, i);
  *kernel = malloc(W * outputs * sizeof **kernel);
  *bias = malloc(outputs * sizeof **bias);
  if (!*kernel || !*bias) return clippo_fail(err, CLIPPO_E_NOMEM, "out of host memory");
  memcpy(*kernel, k, W * outputs * sizeof **kernel);
  memcpy(*bias, b, outputs * sizeof **bias);
  return CLIPPO_OK;
}

clippo_status clippo_tuned_model_load(clippo_rt *rt, const char *path, clippo_tuned_model **out,
                                      clippo_error *err) {
  *out = NULL;
  clippo_tuned_model *tm = calloc(1, sizeof *tm);
  if (!tm) return clippo_fail(err, CLIPPO_E_NOMEM, "out of host memory");
  clippo_checkpoint ck;
  clippo_status st = clippo_checkpoint_load(path, &ck, 0, err);
  if (!st) st = ft_attr_parse(path, clippo_checkpoint_get_attr(&ck, FT_ATTR), &tm->info, err);
  if (!st && tm->info.image_size != ck.cfg.image_size)
    st = clippo_fail(err, CLIPPO_E_FORMAT, "%s: image size %d in \"%s\", %d in the config", path,
                     tm->info.image_size, FT_ATTR, ck.cfg.image_size);
  if (!st) {
    tm->width = (size_t)ck.cfg.width;
    tm->outputs = tm->info.kind == CLIPPO_TASK_SCORE ? 1 : tm->info.nclasses;
    st = take_head(path, &ck, tm->width, tm->outputs, &tm->kernel, &tm->bias, err);
  }
  if (!st) st = clippo_model_create(rt, &ck.cfg, &ck.params, &tm->m, err);
  clippo_checkpoint_free(&ck);
  if (st) {
    clippo_tuned_model_free(tm);
    return st;
  }
  *out = tm;
  return CLIPPO_OK;
}

void clippo_tuned_model_free(clippo_tuned_model *m) {
  if (!m) return;
  clippo_model_free(m->m);
  ft_task_info_free(&m->info);
  free(m->kernel);
  free(m->bias);
  free(m);
}

const char *clippo_tuned_model_task(const clippo_tuned_model *m) { return m->info.task; }
const char *clippo_tuned_model_layout(const clippo_tuned_model *m) { return m->info.layout; }
clippo_task_kind clippo_tuned_model_kind(const clippo_tuned_model *m) { return m->info.kind; }
int clippo_tuned_model_image_size(const clippo_tuned_model *m) { return m->info.image_size; }
size_t clippo_tuned_model_num_classes(const clippo_tuned_model *m) { return m->info.nclasses; }
const char *const *clippo_tuned_model_classes(const clippo_tuned_model *m) {
  return (const char *const *)m->info.classes;
}

clippo_status clippo_tuned_model_predict(clippo_tuned_model *m, const clippo_task_set *s,
                                         const clippo_font *font, size_t batch, float *pred,
                                         clippo_error *err) {
  if (strcmp(clippo_task_set_task(s), m->info.task) || clippo_task_set_outputs(s) != m->outputs ||
      strcmp(clippo_task_set_layout(s), m->info.layout))
    return clippo_fail(err, CLIPPO_E_ARG,
                       "%s: the model was fine-tuned on %s (layout '%s', %zu outputs), not on "
                       "%s (layout '%s', %zu outputs)",
                       clippo_task_set_describe(s), m->info.task, m->info.layout, m->outputs,
                       clippo_task_set_task(s), clippo_task_set_layout(s),
                       clippo_task_set_outputs(s));
  return ft_predict(m->m, m->kernel, m->bias, m->outputs, s, font, batch, pred, err);
}
