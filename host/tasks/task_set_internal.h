/* The task set behind clippo_task_set (include/clippo/finetune.h), shared by the generic code
 * (task_set.c: accessors, evaluation, rendering rows of a text), the GLUE/TSV loader (task_glue.c)
 * and the VQA loader (task_vqa.c). Not public. */
#ifndef CLIPPO_TASK_SET_INTERNAL_H
#define CLIPPO_TASK_SET_INTERNAL_H

#include <stddef.h>

#include "clippo/finetune.h"

/** Longest task name, layout text, description and path kept by a set. */
#define TASK_NAME_CAP 32
#define TASK_LAYOUT_CAP 128
#define TASK_DESCRIBE_CAP 1200
#define TASK_PATH_CAP 1024
/** Most metrics a task reports. */
#define TASK_MAX_METRICS 4

/** One example. Strings are owned by the set (its buffer or its loader's private data). */
typedef struct task_example {
  const char *text[2]; /* sentence 1 and 2 (text[1] NULL: single sentence); VQA: text[0] question */
  int label;           /* class index, -1 when none */
  double score;        /* score tasks; NaN when none */
  char id[40];         /* index / id column, question_id, or the 1-based line number */
  /* VQA */
  const char *image;          /* path of the image file */
  const char *answer;         /* the multiple_choice_answer (the training target); NULL if none */
  const char *const *answers; /* the human answers (for VQA accuracy); NULL/0 when unlabelled */
  size_t nanswers;
} task_example;

/** How an example becomes the model's input image (the loader sets it). */
typedef clippo_status (*task_input_fn)(const clippo_task_set *s, size_t i, const clippo_font *font,
                                       int image_size, float *dst, clippo_error *err);

struct clippo_task_set {
  char task[TASK_NAME_CAP];         /* "glue:sst2", ..., "tsv", "vqa" */
  char layout[TASK_LAYOUT_CAP];     /* canonical layout text */
  char describe[TASK_DESCRIBE_CAP]; /* "glue:rte dev.tsv (277 examples)" */
  char path[TASK_PATH_CAP];         /* the file loaded (questions file for VQA) */
  char labels_path[TASK_PATH_CAP];  /* where the targets come from: path, or the VQA
                                     * annotations file ("" when unlabelled) */
  clippo_task_kind kind;
  char **classes; /* nclasses malloc'ed strings; NULL for score tasks */
  size_t nclasses;
  task_example *ex; /* n examples (malloc'ed) */
  size_t n;
  const char *metrics[TASK_MAX_METRICS]; /* static strings */
  size_t nmetrics;
  int positive;        /* class index of the positive class for F1 / Matthews; -1 when unused */
  char *buf;           /* owned storage the example strings may point into (free'd) */
  task_input_fn input; /* renders example i */
  void *priv;          /* loader's private data, freed with priv_free */
  void (*priv_free)(void *priv);
};

/** Allocates an empty set (zeroed, positive = -1); NULL when out of memory. */
clippo_task_set *task_set_new(void);

/** Renders text into dst (S, S, 3) with the CLIPPO renderer's defaults, keeping rows
 * [row0, row0 + rows) of the rendered image at destination rows [dst_row0, dst_row0 + rows);
 * the other rows of dst are not touched. */
clippo_status task_render_rows(const clippo_font *font, const char *text, int image_size, int row0,
                               int rows, int dst_row0, float *dst, clippo_error *err);

#endif
