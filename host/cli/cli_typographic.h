/* The typographic attack of `clippo eval` (--typographic WORD | --typographic-classes): its
 * options, and the run that reports zero-shot accuracy with and without the word. */
#ifndef CLIPPO_CLI_TYPOGRAPHIC_H
#define CLIPPO_CLI_TYPOGRAPHIC_H

#include <stddef.h>
#include <stdio.h>

#include "cli_util.h"
#include "clippo/idx.h"
#include "clippo/tasks.h"

/** The option values (zero-initialise, then let cli_parse fill them). */
typedef struct cli_typo_args {
  const char *word;       /* --typographic WORD */
  int classes;            /* --typographic-classes */
  const char *position;   /* --typo-position */
  const char *color;      /* --typo-color */
  const char *background; /* --typo-background (a colour or "none") */
  long scale;             /* --typo-scale (0: default 1) */
  int control;            /* --typo-control */
  const char *examples;   /* --typo-examples DIR */
} cli_typo_args;

/** Number of option table entries CLI_TYPO_OPTIONS adds. */
#define CLI_TYPO_NOPTIONS 8

/** The cli_option entries of the typographic options, for a subcommand's table. */
#define CLI_TYPO_OPTIONS(t)                                                                        \
  {"--typographic", CLI_STRING, &(t)->word, 0, 0},                                                 \
      {"--typographic-classes", CLI_SET, &(t)->classes, 0, 0},                                     \
      {"--typo-position", CLI_STRING, &(t)->position, 0, 0},                                       \
      {"--typo-color", CLI_STRING, &(t)->color, 0, 0},                                             \
      {"--typo-background", CLI_STRING, &(t)->background, 0, 0},                                   \
      {"--typo-scale", CLI_LONG, &(t)->scale, 1, 64},                                              \
      {"--typo-control", CLI_SET, &(t)->control, 0, 0}, {                                          \
    "--typo-examples", CLI_STRING, &(t)->examples, 0, 0                                            \
  }

/** Prints the help lines of these options. */
void cli_typo_usage(FILE *out);

/** 1 when an attack was asked for. */
int cli_typo_active(const cli_typo_args *t);

/** Checks the options (one attack at most, colours and position parse, styling options only
 * with an attack); prints a usage error for cmd and returns 2, else 0. */
int cli_typo_check(const char *cmd, const cli_typo_args *t);

/** Runs the attack on IDX images (images + labels) or on files with labels, with the model and
 * classifier eval built, and prints the table or JSON. Returns the exit code (0, or 1 after
 * printing the error). */
int cli_typo_run(const char *cmd, const cli_typo_args *t, clippo_task_model *tm,
                 const clippo_classifier *clf, const clippo_classes *cls, const clippo_idx *images,
                 const clippo_idx *labels, const clippo_path_list *files, const size_t *file_labels,
                 const char *dataset, const char *model, const char *templates, int json,
                 int quiet);

#endif
