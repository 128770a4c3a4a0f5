/* The report of a retrieval evaluation (image<->text, text<->text): a table or one JSON line. */
#ifndef CLIPPO_CLI_RECALL_H
#define CLIPPO_CLI_RECALL_H

#include <stddef.h>

#include "clippo/tasks.h"

/** One count of the evaluated sets: "%zu LABEL" in the table, KEY in the JSON line. */
typedef struct cli_recall_count {
  const char *label, *key;
  size_t value;
} cli_recall_count;

/** What a retrieval report says besides the recalls. */
typedef struct cli_recall_report {
  const char *title, *task; /* table heading, JSON "task" */
  const char *dataset, *model;
  const cli_recall_count *counts;
  size_t n_counts;
  const char *forward, *backward;         /* table row labels of i2t and t2i */
  const char *forward_key, *backward_key; /* their JSON objects */
  int label_width;                        /* width of the table's first column */
} cli_recall_report;

/** Prints R@1/5/10 of rec as a table, or (json) as one JSON line; 0, or -1 when out of memory. */
int cli_recall_print(const cli_recall_report *r, const clippo_recall *rec, int json);

#endif
