/* Reading texts given by the user: a UTF-8 text file (or standard input), one text per line,
 * checked to be text so that a binary file passed by mistake is an error, not garbage. */
#ifndef CLIPPO_CLI_TEXT_H
#define CLIPPO_CLI_TEXT_H

#include <stddef.h>

/** Texts read from a file: lines[i] (NUL-terminated) of lens[i] bytes. */
typedef struct cli_texts {
  char **lines;
  size_t *lens;
  size_t n;
} cli_texts;

/** Checks that data[len] read from `name` is text: no NUL byte and valid UTF-8 (no overlong
 * forms, surrogates or code points above U+10FFFF). Returns 0, or 1 after printing "clippo CMD:
 * error: NAME:LINE: ..." saying what was found. */
int cli_check_text(const char *cmd, const char *name, const char *data, size_t len);

/** Reads a UTF-8 text file ("-": standard input) as one text per line ('\n'; a trailing '\r' is
 * dropped; no final empty line; a leading UTF-8 byte-order mark is skipped), checked with
 * cli_check_text. Returns 0 with t filled (free with cli_texts_free), or 1 after printing an
 * error naming the file. */
int cli_read_texts(const char *cmd, const char *path, cli_texts *t);

/** Frees what cli_read_texts allocated and zeroes t. */
void cli_texts_free(cli_texts *t);

#endif
