/* What `clippo zeroshot` and `clippo eval` share: class names and templates (with the default
 * templates of a model), the classifier with a line saying how many prompts were embedded, and
 * embedding image files with the skip rules. */
#ifndef CLIPPO_CLI_ZEROSHOT_H
#define CLIPPO_CLI_ZEROSHOT_H

#include "cli_progress.h"
#include "clippo/dist.h"
#include "clippo/tasks.h"

/** Adds the classes of a comma-separated list or of a file (searched in the program's data
 * folders too) and warns on stderr about classes that cannot be told apart (the same prompt
 * name). Returns 0, or 1 after printing the error for cmd. */
int cli_classes_load(const char *cmd, const char *list, const char *file, int canon,
                     clippo_classes *cls);

/** Warns on stderr about each class whose prompt name repeats an earlier one. */
void cli_classes_warn_duplicates(const char *cmd, const clippo_classes *cls);

/** Loads the templates of spec (a built-in set or a file searched in the data folders); with
 * spec NULL nothing is loaded yet (cli_classifier_build takes the model's default). Returns 0,
 * or 1 after printing the error for cmd. */
int cli_templates_load(const char *cmd, const char *spec, int canon, clippo_templates *t);

/** Builds the classifier of cls with templates t (when t is empty: the model's recorded
 * prompts, else clip_best, loaded into t) and prints, unless quiet, "N classes x M templates
 * (SOURCE) = P prompts: E embedded, H from the cache". *source gets the name of the templates
 * used (spec, or the default's); cache as clippo_classifier_build ("off" = none). */
clippo_status cli_classifier_build(const char *cmd, clippo_task_model *tm,
                                   const clippo_classes *cls, const char *spec, int canon,
                                   clippo_templates *t, const char *cache, int quiet,
                                   clippo_classifier *clf, const char **source, clippo_error *err);

/** What happens to the image files cli_embed_files goes through. */
typedef struct cli_image_sink {
  /* a decoded file i with its embedding z; a non-zero return stops with that status */
  clippo_status (*image)(void *user, size_t i, const float *z, clippo_error *err);
  /* file i was skipped for the reason in why (already printed unless quiet) */
  clippo_status (*skipped)(void *user, size_t i, const clippo_error *why, clippo_error *err);
  void *user;
} cli_image_sink;

/** Embeds files[0..n) in chunks, passing each to the sink in order. A file that cannot be read
 * or decoded stops the run with its error unless skip_bad; a file in a format that is not
 * supported (BMP) is always skipped. Skipped files are reported on stderr ("clippo CMD:
 * skipping: REASON") through progress, which counts the files. *skipped gets their number. */
clippo_status cli_embed_files(clippo_task_model *tm, const char *const *files, size_t n,
                              int skip_bad, cli_progress *progress, const cli_image_sink *sink,
                              size_t *skipped, clippo_error *err);

/** cli_embed_files with each chunk's files split over the ranks of d (`mpirun clippo eval`; rank
 * 0 calls it, see cli_shard.h); NULL d: one process. */
clippo_status cli_embed_files_on(const clippo_dist *d, clippo_task_model *tm,
                                 const char *const *files, size_t n, int skip_bad,
                                 cli_progress *progress, const cli_image_sink *sink,
                                 size_t *skipped, clippo_error *err);

#endif
