/* Writing embeddings where `clippo embed --out` says: .npy, JSON, JSON lines, CSV or standard
 * output (JSON lines). */
#ifndef CLIPPO_CLI_EMBED_WRITE_H
#define CLIPPO_CLI_EMBED_WRITE_H

#include <stddef.h>

/** Output formats, told by --out's extension (case-insensitive) or "-". */
typedef enum cli_embed_format {
  CLI_EMBED_UNKNOWN = 0,
  CLI_EMBED_NPY,   /* .npy: (N, dim) float32 */
  CLI_EMBED_JSON,  /* .json: one array of objects */
  CLI_EMBED_JSONL, /* .jsonl: one object per line */
  CLI_EMBED_CSV,   /* .csv: a header, then one row per input */
  CLI_EMBED_STDOUT /* "-": JSON lines on standard output */
} cli_embed_format;

/** The format of an --out path; CLI_EMBED_UNKNOWN for any other extension. */
cli_embed_format cli_embed_format_of(const char *out);

/** The formats and extensions accepted, for messages. */
extern const char cli_embed_formats_help[];

/** Names input i (a text, an image path, "x.npy[3]") into buf and returns it. */
typedef const char *(*cli_embed_namer)(const void *ctx, size_t i, char *buf, size_t cap);

/** What is written: n rows of dim floats, each from an input of kind "text" or "image". */
typedef struct cli_embeddings {
  float *z; /* (n, dim); not modified */
  size_t n, dim;
  const char *kind;
  cli_embed_namer name;
  const void *ctx;
} cli_embeddings;

/** Writes e to out in format f, atomically for files (the previous file survives a failure).
 * JSON objects are {"index": I, KIND: NAME, "embedding": [...]}; CSV columns are index, KIND,
 * z0..z{dim-1}; floats with 9 significant digits (exact for float32). Returns 0, or 1 after
 * printing an error for cmd. */
int cli_embed_write(const char *cmd, const char *out, cli_embed_format f, const cli_embeddings *e);

#endif
