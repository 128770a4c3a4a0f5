/* The optimisation flags `clippo train` and `clippo finetune` share (--optimizer, --lr,
 * --weight-decay, --clip, --no-clip, --schedule, --warmup, --cooldown): their option-table rows and
 * how they go into clippo_train_opts. */
#ifndef CLIPPO_CLI_OPTIM_H
#define CLIPPO_CLI_OPTIM_H

#include <stddef.h>

#include "cli_util.h"
#include "clippo/train.h"

/** Option rows of the shared flags. */
#define CLI_OPTIM_NOPTS 8
/** Largest step count a flag takes. */
#define CLI_MAX_STEPS (1L << 40)

/** The flags as given; NULL / NaN / -1 when absent. */
typedef struct cli_optim_args {
  const char *optimizer, *schedule;
  double lr, weight_decay, clip;
  long warmup, cooldown;
  int no_clip;
} cli_optim_args;

/** Marks every flag absent. */
void cli_optim_args_init(cli_optim_args *a);

/** cli_parse over the command's own option rows plus the optimisation rows filling *optim. */
int cli_parse_with_optim(const char *cmd, int argc, char **argv, const cli_option *own, size_t nown,
                         cli_optim_args *optim, cli_list *positional);

/** Applies the given flags over *o (names and schedules checked); 0, or 2 after a usage error
 * for cmd. */
int cli_optim_apply(const char *cmd, const cli_optim_args *a, clippo_train_opts *o);

#endif
