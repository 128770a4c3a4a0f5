/* Shared by `clippo finetune` and `clippo predict`: printing task metrics. */
#ifndef CLIPPO_CLI_TASK_H
#define CLIPPO_CLI_TASK_H

#include <stdio.h>

#include "clippo/finetune.h"

/** Prints the metrics the task reports: "accuracy 0.8123, f1 0.7000" or, with json, JSON
 * members ("accuracy": 0.812300, ...) without braces. */
void cli_print_task_metrics(FILE *f, const clippo_task_metrics *m, int json);

#endif
