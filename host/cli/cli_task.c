/* Printing task metrics for `clippo finetune` and `clippo predict`. */
#include "cli_task.h"

#include <math.h>

static void print_metric(FILE *f, int json, int *first, const char *name, double v) {
  if (isnan(v)) return;
  if (json)
    fprintf(f, "%s\"%s\": %.6f", *first ? "" : ", ", name, v);
  else
    fprintf(f, "%s %s %.4f", *first ? "" : ",", name, v);
  *first = 0;
}

void cli_print_task_metrics(FILE *f, const clippo_task_metrics *m, int json) {
  int first = 1;
  print_metric(f, json, &first, "accuracy", m->accuracy);
  print_metric(f, json, &first, "f1", m->f1);
  print_metric(f, json, &first, "matthews", m->matthews);
  print_metric(f, json, &first, "pearson", m->pearson);
  print_metric(f, json, &first, "spearman", m->spearman);
  print_metric(f, json, &first, "vqa_accuracy", m->vqa_accuracy);
  print_metric(f, json, &first, "mse", m->mse);
}
