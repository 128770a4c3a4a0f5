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

/** Prints "clippo CMD: error: MSG" to stderr and returns exit code 1. */
int cli_report(const char *cmd, const clippo_error *err);

/** Prints a usage error for cmd to stderr and returns exit code 2. */
int cli_usage_error(const char *cmd, const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

#endif
