/* Shared by the fine-tuning run (finetune.c) and fine-tuned models (tuned_model.c). Not public. */
#ifndef CLIPPO_FINETUNE_INTERNAL_H
#define CLIPPO_FINETUNE_INTERNAL_H

#include <stddef.h>

#include "clippo/finetune.h"
#include "clippo/model.h"

/** Name of the checkpoint attribute describing the task of a fine-tuned model. */
#define FT_ATTR "finetune"

/** Predicts every example of s with the tower m and a head held on the host (kernel (W, C) and
 * bias (C) float32): pred (size, C). Inputs are rendered batch by batch (batch inputs). */
clippo_status ft_predict(clippo_model *m, const float *kernel, const float *bias, size_t outputs,
                         const clippo_task_set *s, const clippo_font *font, size_t batch,
                         float *pred, clippo_error *err);

/** The "finetune" attribute of a model fine-tuned on s (malloc'ed JSON; free it). */
char *ft_attr_json(const clippo_task_set *s, int image_size, int freeze);

/** What a "finetune" attribute says. classes: malloc'ed array of malloc'ed strings. */
typedef struct ft_task_info {
  char task[32];
  char layout[128];
  clippo_task_kind kind;
  int image_size;
  int freeze;
  char **classes;
  size_t nclasses;
} ft_task_info;

/** Parses a "finetune" attribute (path names the checkpoint in messages). */
clippo_status ft_attr_parse(const char *path, const char *json, ft_task_info *out,
                            clippo_error *err);

/** Frees the classes of info. */
void ft_task_info_free(ft_task_info *info);

#endif
