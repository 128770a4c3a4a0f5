/* The progress of a training run (`clippo train`, `clippo finetune`) on stderr: the run's notices
 * a line each, then a bar redrawn in place on a terminal, else a line every twentieth of the run
 * (and the first and last steps). */
#ifndef CLIPPO_CLI_TRAIN_PROGRESS_H
#define CLIPPO_CLI_TRAIN_PROGRESS_H

#include <stdint.h>

#include "clippo/train.h"

/** The display's state; start it with cli_train_progress_init. */
typedef struct cli_train_progress {
  const char *cmd;  /* lines start "clippo CMD: " */
  const char *unit; /* what a step counts: "pairs", "examples" */
  int quiet, tty, open_line;
  int64_t every;
} cli_train_progress;

/** A display for command cmd counting unit (strings must outlive it); quiet prints nothing. */
void cli_train_progress_init(cli_train_progress *ps, const char *cmd, const char *unit, int quiet);

/** The run's progress callback; user is a cli_train_progress. */
void cli_train_progress_cb(const clippo_train_progress *p, void *user);

#endif
