/* The optimisation flags shared by `clippo train` and `clippo finetune`. */
#include "cli_optim.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clippo/train.h"

void cli_optim_args_init(cli_optim_args *a) {
  a->optimizer = a->schedule = NULL;
  a->lr = a->weight_decay = a->clip = NAN;
  a->warmup = a->cooldown = -1;
  a->no_clip = 0;
}

/* Writes the CLI_OPTIM_NOPTS option-table rows that fill *a into dst. */
static void cli_optim_options(cli_optim_args *a, cli_option *dst) {
  const cli_option rows[CLI_OPTIM_NOPTS] = {
      {"--optimizer", CLI_STRING, &a->optimizer, 0, 0},
      {"--lr", CLI_DOUBLE, &a->lr, 0, LONG_MAX},
      {"--weight-decay", CLI_DOUBLE, &a->weight_decay, 0, LONG_MAX},
      {"--clip", CLI_DOUBLE, &a->clip, 0, LONG_MAX},
      {"--no-clip", CLI_SET, &a->no_clip, 0, 0},
      {"--schedule", CLI_STRING, &a->schedule, 0, 0},
      {"--warmup", CLI_LONG, &a->warmup, 0, CLI_MAX_STEPS},
      {"--cooldown", CLI_LONG, &a->cooldown, 0, CLI_MAX_STEPS},
  };
  for (size_t i = 0; i < CLI_OPTIM_NOPTS; i++) dst[i] = rows[i];
}

int cli_parse_with_optim(const char *cmd, int argc, char **argv, const cli_option *own, size_t nown,
                         cli_optim_args *optim, cli_list *positional) {
  cli_option *opts = malloc((nown + CLI_OPTIM_NOPTS) * sizeof *opts);
  if (!opts) {
    fprintf(stderr, "clippo %s: error: out of host memory\n", cmd);
    return 1;
  }
  memcpy(opts, own, nown * sizeof *opts);
  cli_optim_options(optim, opts + nown);
  int rc = cli_parse(cmd, argc, argv, opts, nown + CLI_OPTIM_NOPTS, positional);
  free(opts);
  return rc;
}

int cli_optim_apply(const char *cmd, const cli_optim_args *a, clippo_train_opts *o) {
  clippo_error err;
  if (a->optimizer && clippo_opt_parse(a->optimizer, &o->optimizer, &err) != CLIPPO_OK)
    return cli_usage_error(cmd, "%s", err.msg);
  if (a->schedule) {
    clippo_sched_kind k;
    if (clippo_sched_parse(a->schedule, &k, &err) != CLIPPO_OK)
      return cli_usage_error(cmd, "%s", err.msg);
    snprintf(o->schedule, sizeof o->schedule, "%s", clippo_sched_name(k));
  }
  if (!isnan(a->lr)) o->lr = a->lr;
  if (!isnan(a->weight_decay)) o->weight_decay = a->weight_decay;
  if (!isnan(a->clip)) o->clip_norm = a->clip;
  if (a->no_clip) o->clip_norm = 0.0;
  if (a->warmup >= 0) o->warmup = a->warmup;
  if (a->cooldown >= 0) o->cooldown = a->cooldown;
  return 0;
}
