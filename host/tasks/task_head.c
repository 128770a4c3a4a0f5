/* The task head of fine-tuning (clippo/finetune.h): a linear layer on the pre-logits, run on the
 * device with the GEMM layer and the bias ops; its loss (softmax cross-entropy or squared error)
 * on the host, where the logits of a batch are a few kilobytes. */
#include <math.h>
#include <string.h>

#include "clippo/finetune.h"
#include "clippo/gemm.h"
#include "clippo/ops.h"
#include "clippo/ops_grad.h"
#include "task_set_internal.h"

clippo_status clippo_task_loss(clippo_task_kind kind, const float *logits, size_t n, size_t outputs,
                               const int *labels, const double *scores, float *dlogits,
                               double *loss, size_t *counted, clippo_error *err) {
  if (outputs == 0 || (kind == CLIPPO_TASK_SCORE && outputs != 1))
    return clippo_fail(err, CLIPPO_E_ARG, "task loss: %zu outputs for a %s task", outputs,
                       kind == CLIPPO_TASK_SCORE ? "score" : "classification");
  if ((kind == CLIPPO_TASK_CLASSES && !labels) || (kind == CLIPPO_TASK_SCORE && !scores))
    return clippo_fail(err, CLIPPO_E_ARG, "task loss: no targets");
  size_t cnt = 0;
  for (size_t i = 0; i < n; i++) {
    if (kind == CLIPPO_TASK_CLASSES && labels[i] >= (int)outputs)
      return clippo_fail(err, CLIPPO_E_ARG, "task loss: label %d of row %zu >= %zu classes",
                         labels[i], i, outputs);
    cnt += kind == CLIPPO_TASK_CLASSES ? labels[i] >= 0 : !isnan(scores[i]);
  }
  double total = 0.0;
  for (size_t i = 0; i < n; i++) {
    const float *z = logits + i * outputs;
    float *dz = dlogits ? dlogits + i * outputs : NULL;
    if (dz) memset(dz, 0, outputs * sizeof *dz);
    if (kind == CLIPPO_TASK_SCORE) {
      if (isnan(scores[i])) continue;
      double d = (double)z[0] - scores[i];
      total += d * d;
      if (dz) dz[0] = (float)(2.0 * d / (double)cnt);
      continue;
    }
    if (labels[i] < 0) continue;
    double mx = z[0];
    for (size_t c = 1; c < outputs; c++) mx = fmax(mx, (double)z[c]);
    double sum = 0.0;
    for (size_t c = 0; c < outputs; c++) sum += exp((double)z[c] - mx);
    const double lse = mx + log(sum);
    total += lse - (double)z[labels[i]];
    if (dz) {
      for (size_t c = 0; c < outputs; c++) {
        double p = exp((double)z[c] - lse);
        dz[c] = (float)((p - (c == (size_t)labels[i] ? 1.0 : 0.0)) / (double)cnt);
      }
    }
  }
  if (!isfinite(total))
    return clippo_fail(err, CLIPPO_E_NUMERIC, "task loss: not finite (diverged logits)");
  if (loss) *loss = cnt ? total / (double)cnt : 0.0;
  if (counted) *counted = cnt;
  return CLIPPO_OK;
}

/* rows and columns of a 2-D float32 device tensor; 0 when it is not one */
static int dims2(const clippo_tensor *t, size_t *r, size_t *c) {
  if (!t || !t->mem || t->dtype != CLIPPO_F32 || t->ndim != 2) return 0;
  *r = (size_t)t->shape[0];
  *c = (size_t)t->shape[1];
  return 1;
}

static clippo_status head_shapes(const clippo_tensor *pre, const clippo_tensor *kernel,
                                 const clippo_tensor *out, size_t *n, size_t *w, size_t *c,
                                 clippo_error *err) {
  size_t n2 = 0, c2 = 0, w2 = 0;
  if (!dims2(pre, n, w) || !dims2(kernel, &w2, c) || !dims2(out, &n2, &c2) || w2 != *w ||
      n2 != *n || c2 != *c)
    return clippo_fail(err, CLIPPO_E_SHAPE,
                       "task head: pre (n, W), kernel (W, C) and logits (n, C) must be float32 "
                       "2-D device tensors of matching shapes");
  return CLIPPO_OK;
}

clippo_status clippo_task_head_forward(clippo_rt *rt, const clippo_tensor *pre,
                                       const clippo_tensor *kernel, const clippo_tensor *bias,
                                       clippo_tensor *logits, clippo_error *err) {
  size_t n = 0, w = 0, c = 0;
  clippo_status st = head_shapes(pre, kernel, logits, &n, &w, &c, err);
  if (st) return st;
  if (!bias || clippo_tensor_count(bias) != c)
    return clippo_fail(err, CLIPPO_E_SHAPE, "task head: bias must hold %zu floats", c);
  st = clippo_gemm(rt, 0, 0, n, c, w, 1.0f, pre, w, kernel, c, 0.0f, logits, c, err);
  if (!st) st = clippo_op_bias_add(rt, logits, bias, err);
  if (st) clippo_error_prefix(err, "task head");
  return st;
}

size_t clippo_task_head_ws_floats(size_t n, size_t c) {
  size_t f = clippo_colsum_workspace_floats(n, c);
  return f ? f : 1;
}

clippo_status clippo_task_head_backward(clippo_rt *rt, const clippo_tensor *pre,
                                        const clippo_tensor *kernel, const clippo_tensor *dlogits,
                                        clippo_tensor *g_kernel, clippo_tensor *g_bias,
                                        clippo_tensor *dpre, clippo_tensor *ws, clippo_error *err) {
  size_t n = 0, w = 0, c = 0;
  clippo_status st = head_shapes(pre, kernel, dlogits, &n, &w, &c, err);
  if (st) return st;
  if (!g_kernel || clippo_tensor_count(g_kernel) != w * c || !g_bias ||
      clippo_tensor_count(g_bias) != c)
    return clippo_fail(err, CLIPPO_E_SHAPE, "task head: gradients of (%zu, %zu) and (%zu)", w, c,
                       c);
  if (dpre && clippo_tensor_count(dpre) != n * w)
    return clippo_fail(err, CLIPPO_E_SHAPE, "task head: dpre must hold (%zu, %zu)", n, w);
  st = clippo_gemm(rt, 1, 0, w, c, n, 1.0f, pre, w, dlogits, c, 1.0f, g_kernel, c, err);
  if (!st) st = clippo_op_bias_grad(rt, dlogits, g_bias, ws, err);
  if (!st && dpre)
    st = clippo_gemm(rt, 0, 1, n, w, c, 1.0f, dlogits, c, kernel, c, 0.0f, dpre, w, err);
  if (st) clippo_error_prefix(err, "task head backward");
  return st;
}

size_t clippo_task_set_outputs(const clippo_task_set *s) {
  return clippo_task_set_kind(s) == CLIPPO_TASK_SCORE ? 1 : clippo_task_set_num_classes(s);
}

clippo_status clippo_task_set_require_targets(const clippo_task_set *s, clippo_error *err) {
  for (size_t i = 0; i < s->n; i++) {
    const task_example *e = &s->ex[i];
    if (s->kind == CLIPPO_TASK_SCORE ? !isnan(e->score) : e->label >= 0) continue;
    if (e->answer)
      return clippo_fail(err, CLIPPO_E_FORMAT,
                         "%s: question_id %s: the answer '%s' is not one of the %zu answers the "
                         "model knows",
                         s->labels_path[0] ? s->labels_path : s->path, e->id, e->answer,
                         s->nclasses);
    return clippo_fail(err, CLIPPO_E_FORMAT, "%s: example %s has no label", s->path, e->id);
  }
  return CLIPPO_OK;
}
