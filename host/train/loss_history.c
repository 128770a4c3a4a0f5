/* A run's loss history and its place in checkpoints (clippo/train.h), shared by `clippo train`
 * and `clippo finetune`. */
#include <stdlib.h>
#include <string.h>

#include "clippo/train.h"

/** Name of the history in a checkpoint's optimizer group. */
#define LOSS_HISTORY_NAME "train/loss"

clippo_status clippo_loss_history_push(clippo_loss_history *h, float loss, clippo_error *err) {
  if (h->n == h->cap) {
    size_t cap = h->cap ? h->cap * 2 : 1024;
    float *grown = realloc(h->loss, cap * sizeof *grown);
    if (!grown) return clippo_fail(err, CLIPPO_E_NOMEM, "out of host memory");
    h->loss = grown;
    h->cap = cap;
  }
  h->loss[h->n++] = loss;
  return CLIPPO_OK;
}

clippo_status clippo_loss_history_save(const clippo_loss_history *h, clippo_params *opt,
                                       clippo_error *err) {
  clippo_array a = {0};
  int64_t shape[1] = {(int64_t)h->n};
  clippo_status st = clippo_array_alloc(&a, CLIPPO_F32, 1, shape, err);
  if (!st && h->n) memcpy(a.data, h->loss, h->n * sizeof(float));
  if (!st) st = clippo_params_add(opt, LOSS_HISTORY_NAME, &a, err);
  clippo_array_free(&a);
  return st;
}

clippo_status clippo_loss_history_load(clippo_loss_history *h, const clippo_params *opt,
                                       clippo_error *err) {
  const clippo_param *p = clippo_params_find(opt, LOSS_HISTORY_NAME);
  if (!p || p->value.dtype != CLIPPO_F32) return CLIPPO_OK;
  const float *v = p->value.data;
  clippo_status st = CLIPPO_OK;
  for (size_t i = 0; !st && i < clippo_array_count(&p->value); i++)
    st = clippo_loss_history_push(h, v[i], err);
  return st;
}

void clippo_loss_history_free(clippo_loss_history *h) {
  free(h->loss);
  memset(h, 0, sizeof *h);
}
