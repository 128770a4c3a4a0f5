/* Task fine-tuning (CLIPPO paper §4.3 GLUE, §4.4 VQA): task datasets that turn each example into
 * one input image and a target, the task metrics, and the task head trained by
 * `clippo finetune` and run by `clippo predict`.
 *
 * A task set is one loaded split. Text tasks render their sentence (or both sentences of a pair,
 * in the documented pair layout) with the CLIPPO renderer; VQA fuses the image and the rendered
 * question into one input image. Targets are class indices into the set's vocabulary (labels or
 * answers) or a score (STS-B). Sections of this header belong to: the generic task set and the
 * metrics; GLUE/TSV loaders; VQA loaders; the head and the fine-tuning run. */
#ifndef CLIPPO_FINETUNE_H
#define CLIPPO_FINETUNE_H

#include <stddef.h>
#include <stdint.h>

#include "clippo/runtime.h"
#include "clippo/status.h"
#include "clippo/text.h"
#include "clippo/train.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------------------------------------
 * Task sets (generic)
 * ------------------------------------------------------------------------------------------- */

/** What a task predicts: one of num_classes classes (cross-entropy) or a real score (MSE). */
typedef enum clippo_task_kind { CLIPPO_TASK_CLASSES = 0, CLIPPO_TASK_SCORE = 1 } clippo_task_kind;

/** One loaded split of a task (opaque; made by a loader below, freed by clippo_task_set_free). */
typedef struct clippo_task_set clippo_task_set;

/** Number of examples. */
size_t clippo_task_set_size(const clippo_task_set *s);

/** Classes or score. */
clippo_task_kind clippo_task_set_kind(const clippo_task_set *s);

/** Vocabulary size (labels or answers); 0 for score tasks. */
size_t clippo_task_set_num_classes(const clippo_task_set *s);

/** Name of class c (label text or answer), c < num_classes. */
const char *clippo_task_set_class(const clippo_task_set *s, size_t c);

/** Target class of example i; -1 when the example has none (an unlabelled test file, or a VQA
 * answer outside the vocabulary). */
int clippo_task_set_label(const clippo_task_set *s, size_t i);

/** Target score of example i (score tasks); NaN when unlabelled. */
double clippo_task_set_score(const clippo_task_set *s, size_t i);

/** Renders example i into dst: an (S, S, 3) HWC float32 image in [-1, 1] (S = image_size),
 * the model's input. Thread-safe for distinct dst. */
clippo_status clippo_task_set_input(const clippo_task_set *s, size_t i, const clippo_font *font,
                                    int image_size, float *dst, clippo_error *err);

/** A short identifier of example i for prediction files (GLUE index/id column, VQA
 * question_id, else the 1-based line number), written into buf (cap bytes). */
void clippo_task_set_example_id(const clippo_task_set *s, size_t i, char *buf, size_t cap);

/** Names the set in messages and reports ("glue:rte dev.tsv (277 examples)"). */
const char *clippo_task_set_describe(const clippo_task_set *s);

/** The metric names this task reports, GLUE's/VQA's own: e.g. "accuracy", "f1", "matthews",
 * "pearson", "spearman", "vqa_accuracy". Returns the count written (at most max). */
size_t clippo_task_set_metric_names(const clippo_task_set *s, const char **names, size_t max);

/** The task of the set: "glue:sst2" ... "glue:stsb", "tsv", "vqa". */
const char *clippo_task_set_task(const clippo_task_set *s);

/** The set's input layout in canonical text form (what the loader was given, defaults filled
 * in); fine-tuned checkpoints store it so that predict renders exactly as training did. */
const char *clippo_task_set_layout(const clippo_task_set *s);

/* ---------------------------------------------------------------------------------------------
 * Loaders. vocab/nvocab: the training set's classes (so that a validation or test split maps to
 * the same indices; a label outside it is an error naming file and line, a VQA answer outside it
 * becomes label -1); NULL builds the vocabulary from this file. limit: 0 = all examples.
 * layout: NULL = default; the accepted forms are documented at each loader.
 * ------------------------------------------------------------------------------------------- */

/** A GLUE TSV file in its own format: task "sst2", "cola", "mnli", "qqp", "qnli", "rte",
 * "mrpc", "stsb" (train, dev and test files of each; test files have no labels), or "tsv": a
 * plain `text<TAB>label` file with any label strings (an optional header line `text<TAB>label`).
 * Errors name the file and line (a missing column, an unknown label, invalid UTF-8).
 *
 * Layouts (how the text becomes the input image; every line rendered by the CLIPPO renderer):
 *  - "text" (single-sentence tasks, the default): the sentence rendered as one image;
 *  - "join:SEP" (pair tasks; default "join: | "): sentence 1, SEP, sentence 2 rendered as one
 *    text, so the second sentence follows the first on the same lines;
 *  - "split" (pair tasks): sentence 1 rendered in the top half of the image (its first S/2 rows),
 *    sentence 2 in the bottom half (the first S - S/2 rows of its own rendering). */
clippo_status clippo_task_open_glue(const char *task, const char *path, const char *layout,
                                    const char *const *vocab, size_t nvocab, size_t limit,
                                    clippo_task_set **out, clippo_error *err);

/** VQAv2: questions JSON (+ annotations JSON, NULL for unlabelled), images read from
 * images_dir. Without vocab the answers are the top_k most frequent multiple_choice_answer
 * values of this file (ties by first appearance in the questions file; top_k 0 = all). Questions
 * and annotations are matched by question_id; a question without annotation, an annotation without
 * question (when the whole file is read) or a differing image_id is an error naming both files and
 * the id. Answers are compared as written (VQA's punctuation/article normalisation is not applied).
 * Every image must exist when the set is opened. Images: images_dir/<image_id>.png, .jpg, .jpeg, or
 * COCO's images_dir/COCO_<data_subtype>_<12-digit image_id>.jpg (data_subtype from the questions
 * file).
 *
 * Layout "top:F" (0 < F < 1; default "top:0.5"): the question is rendered by the CLIPPO renderer
 * and its first R = round(F * S) rows fill the top of the input; the image is resized (bilinear,
 * as the image pipeline does, aspect ratio kept) to fit the S - R rows below and centred there on
 * grey (value 127). */
clippo_status clippo_task_open_vqa(const char *questions, const char *annotations,
                                   const char *images_dir, const char *layout,
                                   const char *const *vocab, size_t nvocab, size_t top_k,
                                   size_t limit, clippo_task_set **out, clippo_error *err);

/** Fails (CLIPPO_E_FORMAT) naming the file and the first example without a target: an
 * unlabelled line, or a VQA answer outside the vocabulary (its question_id and answer). */
clippo_status clippo_task_set_require_targets(const clippo_task_set *s, clippo_error *err);

/** Frees the set (NULL is a no-op). */
void clippo_task_set_free(clippo_task_set *s);

/** The metrics of one evaluation; fields not reported by the task are NaN. */
typedef struct clippo_task_metrics {
  size_t count; /* examples scored (labelled ones) */
  double accuracy, f1, matthews, pearson, spearman, vqa_accuracy, mse;
} clippo_task_metrics;

/** Scores predictions for the whole set: pred holds size x num_classes logits (classes) or size
 * scores (score tasks). Unlabelled examples are skipped; a set with none labelled is an error. */
clippo_status clippo_task_set_evaluate(const clippo_task_set *s, const float *pred,
                                       clippo_task_metrics *m, clippo_error *err);

/* Plain metric functions (unit-tested against hand-computed values). */

/** Fraction of i with pred[i] == gold[i]. */
double clippo_metric_accuracy(const int *pred, const int *gold, size_t n);
/** F1 of the positive class `positive` (GLUE: class "1" for MRPC/QQP). */
double clippo_metric_f1(const int *pred, const int *gold, size_t n, int positive);
/** Matthews correlation of a binary task (positive class `positive`); 0 when undefined. */
double clippo_metric_matthews(const int *pred, const int *gold, size_t n, int positive);
/** Pearson correlation; NaN when a side is constant. */
double clippo_metric_pearson(const double *x, const double *y, size_t n);
/** Spearman rank correlation (ties get their mean rank); NaN when a side is constant. */
double clippo_metric_spearman(const double *x, const double *y, size_t n);
/** VQA accuracy of one prediction: min(#human answers equal to it / 3, 1), averaged over the
 * 10 leave-one-out subsets of the 10 answers as the official evaluation does when n_answers is
 * 10, else min(matches / 3, 1). */
double clippo_metric_vqa(const char *pred, const char *const *answers, size_t n_answers);

/* ---------------------------------------------------------------------------------------------
 * The task head (host/tasks/task_head.c): a linear layer on the tower's pre-logits, i.e. the
 * pooled output (the MAP head's output for CLIPPO models) before the contrastive head, which a
 * fine-tuned model does not use. logits = pre kernel + bias; cross-entropy over the classes, or
 * mean squared error of logits[:, 0] for a score task.
 * ------------------------------------------------------------------------------------------- */

/** The head's parameter paths in fine-tuned checkpoints (next to the tower's, under /params/). */
#define CLIPPO_HEAD_KERNEL "head_task/kernel" /* (width, outputs) */
#define CLIPPO_HEAD_BIAS "head_task/bias"     /* (outputs) */

/** Outputs of the head of a set: num_classes, or 1 for a score task. */
size_t clippo_task_set_outputs(const clippo_task_set *s);

/** The loss of a batch of n rows of logits (n, outputs) on the host: classes: the mean over the
 * rows with a label (labels[i] >= 0) of the softmax cross-entropy; score: the mean over the rows
 * with a score (not NaN) of (logits[i] - score)^2. dlogits (may be NULL) gets dL/dlogits (zero
 * rows for the examples without target); *counted (may be NULL) the rows that count. A batch
 * without a target has loss 0. Arithmetic in double. */
clippo_status clippo_task_loss(clippo_task_kind kind, const float *logits, size_t n, size_t outputs,
                               const int *labels, const double *scores, float *dlogits,
                               double *loss, size_t *counted, clippo_error *err);

/** logits (n, C) = pre (n, W) kernel (W, C) + bias (C), float32 device tensors on rt. */
clippo_status clippo_task_head_forward(clippo_rt *rt, const clippo_tensor *pre,
                                       const clippo_tensor *kernel, const clippo_tensor *bias,
                                       clippo_tensor *logits, clippo_error *err);

/** Backward of clippo_task_head_forward given dlogits (n, C): g_kernel += pre^T dlogits, g_bias
 * += colsum(dlogits), and, when dpre is not NULL, dpre (n, W) = dlogits kernel^T. ws is scratch
 * of at least clippo_task_head_ws_floats(n, C) floats. */
clippo_status clippo_task_head_backward(clippo_rt *rt, const clippo_tensor *pre,
                                        const clippo_tensor *kernel, const clippo_tensor *dlogits,
                                        clippo_tensor *g_kernel, clippo_tensor *g_bias,
                                        clippo_tensor *dpre, clippo_tensor *ws, clippo_error *err);

/** Scratch floats clippo_task_head_backward needs for n rows of C outputs. */
size_t clippo_task_head_ws_floats(size_t n, size_t c);

/* ---------------------------------------------------------------------------------------------
 * Fine-tuning (host/tasks/finetune.c) and fine-tuned models (host/tasks/tuned_model.c).
 * A fine-tuned checkpoint is an HDF5 checkpoint (clippo/checkpoint.h) holding the tower, the head
 * (CLIPPO_HEAD_KERNEL, CLIPPO_HEAD_BIAS), the optimizer state, and the string attributes
 * "finetune" (JSON: task, layout, kind, classes, image_size, freeze), "train_config" and
 * "train_state" (step, epoch, pos, seed): `clippo finetune --resume` continues it exactly and
 * `clippo predict` renders inputs exactly as training did.
 * ------------------------------------------------------------------------------------------- */

/** Everything `clippo finetune` takes. */
typedef struct clippo_finetune_opts {
  /* the run: device, init (model to start from, .npz/.h5; "" = fresh init from model/init_seed),
   * model, init_seed, fonts, optimizer and schedule settings, steps/epochs, batch_size, seed,
   * save, checkpoint_every, resume, log, should_stop; its data fields are not used */
  clippo_train_opts run;
  const clippo_task_set *train_set; /* training examples (those without target are skipped) */
  const clippo_task_set *val_set;   /* evaluated at the end (and every eval_every steps); NULL */
  int freeze;                       /* 1: the tower is not trained (a linear probe) */
  int image_size;                   /* 0: the model's; else the position embedding resampled */
  int64_t eval_every;               /* steps between validations (0: only at the end) */
  size_t eval_batch;                /* inference batch (0: 32) */
} clippo_finetune_opts;

/** Defaults: clippo_train_opts_default with adamw, lr 1e-4 (1e-3 for a fresh init), weight decay
 * 1e-4, clip 1.0, cosine schedule, 3 epochs, batch 32. */
void clippo_finetune_opts_default(clippo_finetune_opts *o);

/** What a fine-tuning run reports. */
typedef struct clippo_finetune_result {
  int64_t steps_done, step, total;
  int stopped; /* should_stop ended the run */
  double first_loss, last_loss, seconds;
  int has_val;
  clippo_task_metrics val; /* the last validation */
  char saved[CLIPPO_TRAIN_PATH];
  char notice[1024];
} clippo_finetune_result;

/** Fine-tunes (or, with freeze, probes) a tower with a task head on o->train_set. The progress
 * callback sees every step as for clippo_train_run (message at step 0, checkpointed, stopping);
 * validation metrics go to the log as JSON lines {"step", "val": {...}}. */
clippo_status clippo_finetune_run(const clippo_finetune_opts *o, clippo_train_progress_fn fn,
                                  void *user, clippo_finetune_result *res, clippo_error *err);

/** A fine-tuned model on a device (opaque). */
typedef struct clippo_tuned_model clippo_tuned_model;

/** Loads a fine-tuned checkpoint (with its head and "finetune" attribute) onto rt's device. */
clippo_status clippo_tuned_model_load(clippo_rt *rt, const char *path, clippo_tuned_model **out,
                                      clippo_error *err);

/** Frees the model (NULL is fine). */
void clippo_tuned_model_free(clippo_tuned_model *m);

/** The fine-tuned task ("glue:sst2", "tsv", "vqa"), layout, kind, image size, and classes. */
const char *clippo_tuned_model_task(const clippo_tuned_model *m);
const char *clippo_tuned_model_layout(const clippo_tuned_model *m);
clippo_task_kind clippo_tuned_model_kind(const clippo_tuned_model *m);
int clippo_tuned_model_image_size(const clippo_tuned_model *m);
size_t clippo_tuned_model_num_classes(const clippo_tuned_model *m);
const char *const *clippo_tuned_model_classes(const clippo_tuned_model *m);

/** Predicts every example of s: pred gets size x outputs floats (logits, or the score), computed
 * in batches of batch (0: 32). */
clippo_status clippo_tuned_model_predict(clippo_tuned_model *m, const clippo_task_set *s,
                                         const clippo_font *font, size_t batch, float *pred,
                                         clippo_error *err);

#ifdef __cplusplus
}
#endif
#endif
