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

#include "clippo/status.h"
#include "clippo/text.h"

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
 * plain `text<TAB>label` file with any label strings (an optional header line `text<TAB>label`). */
clippo_status clippo_task_open_glue(const char *task, const char *path, const char *layout,
                                    const char *const *vocab, size_t nvocab, size_t limit,
                                    clippo_task_set **out, clippo_error *err);

/** VQAv2: questions JSON (+ annotations JSON, NULL for unlabelled), images read from
 * images_dir. Without vocab the answers are the top_k most frequent multiple_choice_answer
 * values of this file (ties by first appearance). */
clippo_status clippo_task_open_vqa(const char *questions, const char *annotations,
                                   const char *images_dir, const char *layout,
                                   const char *const *vocab, size_t nvocab, size_t top_k,
                                   size_t limit, clippo_task_set **out, clippo_error *err);

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

#ifdef __cplusplus
}
#endif
#endif
