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
  CLI_LIST,   /* repeatable value, appended to *(cli_list *)out */
  CLI_INT,    /* an integer in lo..hi: *(int *)out */
  CLI_DEVICE, /* a device spec, *(const char **)out; when not given, env CLIPPO_DEVICE, which is
                 then checked against the devices present (an error names the variable) */
  CLI_DOUBLE  /* a finite number in lo..hi (hi LONG_MAX: no bound): *(double *)out */
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
 * `positional` (an error "unexpected argument" when it is NULL or full). An unknown option is
 * a usage error that suggests the nearest name ("did you mean"). Returns 0 when parsed, 2 after
 * printing a usage error for cmd, 1 after printing an error about an environment variable
 * (CLI_DEVICE), or -1 when --help / -h was given (the caller prints its usage). */
int cli_parse(const char *cmd, int argc, char **argv, const cli_option *opts, size_t nopts,
              cli_list *positional);

/** The candidate nearest to word (a typo: edit distance at most about a third of its length,
 * or a unique candidate that word begins), or NULL. */
const char *cli_suggest(const char *word, const char *const *cands, size_t n);

/** When env CLIPPO_DEVICE is set and *spec is NULL, sets *spec to it and checks it against the
 * devices present. Returns 0, or 1 after printing an error for cmd that names the variable. */
int cli_device_from_env(const char *cmd, const char **spec);

/** When path is the value of env variable env (the pointer getenv returns) and cannot be read,
 * prints an error for cmd that names the variable ("WHAT PATH (from ENV) is not readable") and
 * returns 1; else 0. */
int cli_check_env_path(const char *cmd, const char *what, const char *path, const char *env);

/** When fonts is empty and env CLIPPO_FONT is set, adds its ':'-separated paths to fonts
 * (*owned holds the copy they point into: free it after use; NULL when unused). Each path from
 * the variable must be readable. Returns 0, or 1 after printing an error naming CLIPPO_FONT. */
int cli_fonts_from_env(const char *cmd, cli_list *fonts, char **owned);

/** Prints "clippo CMD: error: MSG" to stderr and returns exit code 1. */
int cli_report(const char *cmd, const clippo_error *err);

/** Prints a usage error for cmd to stderr and returns exit code 2. */
int cli_usage_error(const char *cmd, const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

#endif
