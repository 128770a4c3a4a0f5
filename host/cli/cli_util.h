/* Small helpers shared by the subcommands: option matching and error printing. */
#ifndef CLIPPO_CLI_UTIL_H
#define CLIPPO_CLI_UTIL_H

#include "clippo/status.h"

/** If argv[*i] is `name VALUE` or `name=VALUE`, stores VALUE, advances *i and returns 1; returns
 * -1 (after printing a message) when the value is missing; else 0. */
int cli_opt(int argc, char **argv, int *i, const char *name, const char **value);

/** 1 if argv[i] equals name. */
int cli_flag(char **argv, int i, const char *name);

/** Parses a positive int option value; prints a message and returns -1 when invalid. */
int cli_parse_int(const char *name, const char *value, long lo, long hi, long *out);

/** What an option of a cli_option table does with its word(s). */
typedef enum cli_kind {
  CLI_SET,    /* flag: *(int *)out = 1 */
  CLI_CLEAR,  /* flag: *(int *)out = 0 */
  CLI_STRING, /* NAME VALUE or NAME=VALUE: *(const char **)out = VALUE */
  CLI_LONG,   /* an integer in lo..hi: *(long *)out */
  CLI_LIST    /* repeatable value, appended to *(cli_list *)out */
} cli_kind;

/** Values of a repeatable option (or the positional arguments): items has room for cap. */
typedef struct cli_list {
  const char **items;
  size_t n, cap;
} cli_list;

/** One entry of a subcommand's option table. */
typedef struct cli_option {
  const char *name;
  cli_kind kind;
  void *out;
  long lo, hi; /* CLI_LONG only */
} cli_option;

/** Parses argv[1..] against a table: options in any order, `--` ends them; other words go to
 * `positional` (an error "unexpected argument" when it is NULL or full). Returns 0 when
 * parsed, 2 after printing a usage error for cmd, or -1 when --help / -h was given (the caller
 * prints its usage). */
int cli_parse(const char *cmd, int argc, char **argv, const cli_option *opts, size_t nopts,
              cli_list *positional);

/** Prints "clippo CMD: error: MSG" to stderr and returns exit code 1. */
int cli_report(const char *cmd, const clippo_error *err);

/** Prints a usage error for cmd to stderr and returns exit code 2. */
int cli_usage_error(const char *cmd, const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

#endif
