/* Writing embeddings as .npy, JSON, JSON lines or CSV. */
#include "cli_embed_write.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli_util.h"
#include "clippo/atomic_file.h"
#include "clippo/npy.h"
#include "clippo/strbuf.h"

const char cli_embed_formats_help[] =
    ".npy, .json, .jsonl, .csv, or - (JSON lines on standard output)";

static int has_ext(const char *path, const char *ext) {
  size_t n = strlen(path), k = strlen(ext);
  return n > k && strcasecmp(path + n - k, ext) == 0;
}

cli_embed_format cli_embed_format_of(const char *out) {
  if (!strcmp(out, "-")) return CLI_EMBED_STDOUT;
  if (has_ext(out, ".npy")) return CLI_EMBED_NPY;
  if (has_ext(out, ".jsonl")) return CLI_EMBED_JSONL;
  if (has_ext(out, ".json")) return CLI_EMBED_JSON;
  if (has_ext(out, ".csv")) return CLI_EMBED_CSV;
  return CLI_EMBED_UNKNOWN;
}

static void put_float(clippo_strbuf *b, float v) { clippo_strbuf_printf(b, "%.9g", (double)v); }

/* s as a JSON string (quotes, backslashes and control characters escaped). */
static void put_json_string(clippo_strbuf *b, const char *s) {
  clippo_strbuf_add(b, "\"", 1);
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    char esc[8];
    if (*p == '"' || *p == '\\') {
      esc[0] = '\\';
      esc[1] = (char)*p;
      clippo_strbuf_add(b, esc, 2);
    } else if (*p < 0x20) {
      snprintf(esc, sizeof esc, "\\u%04x", *p);
      clippo_strbuf_add(b, esc, 6);
    } else {
      clippo_strbuf_add(b, (const char *)p, 1);
    }
  }
  clippo_strbuf_add(b, "\"", 1);
}

/* s as a CSV field (quoted, quotes doubled). */
static void put_csv_string(clippo_strbuf *b, const char *s) {
  clippo_strbuf_add(b, "\"", 1);
  for (const char *p = s; *p; p++) {
    if (*p == '"')
      clippo_strbuf_add(b, "\"\"", 2);
    else
      clippo_strbuf_add(b, p, 1);
  }
  clippo_strbuf_add(b, "\"", 1);
}

/* One JSON object for row i. */
static void json_row(clippo_strbuf *b, const cli_embeddings *e, size_t i) {
  char name[4200], num[32];
  snprintf(num, sizeof num, "{\"index\": %zu, ", i);
  clippo_strbuf_str(b, num);
  put_json_string(b, e->kind);
  clippo_strbuf_str(b, ": ");
  put_json_string(b, e->name(e->ctx, i, name, sizeof name));
  clippo_strbuf_str(b, ", \"embedding\": [");
  for (size_t d = 0; d < e->dim; d++) {
    if (d) clippo_strbuf_str(b, ", ");
    put_float(b, e->z[i * e->dim + d]);
  }
  clippo_strbuf_str(b, "]}");
}

/* Where the text goes: standard output, or a file written atomically. */
typedef struct sink {
  clippo_atomic_file af; /* af.fp NULL: standard output */
  int failed;
  clippo_error err;
} sink;

/* Writes and empties b. */
static void flush_to(sink *s, clippo_strbuf *b) {
  if (!s->failed && b->len) {
    if (s->af.fp)
      s->failed = clippo_atomic_write(&s->af, b->p, b->len, &s->err) != CLIPPO_OK;
    else
      s->failed = fwrite(b->p, 1, b->len, stdout) != b->len;
  }
  b->len = 0;
}

/* The header line of a CSV output. */
static void csv_header(clippo_strbuf *b, const cli_embeddings *e) {
  clippo_strbuf_str(b, "index,");
  clippo_strbuf_str(b, e->kind);
  for (size_t d = 0; d < e->dim; d++) {
    char h[32];
    snprintf(h, sizeof h, ",z%zu", d);
    clippo_strbuf_str(b, h);
  }
  clippo_strbuf_str(b, "\n");
}

/* One CSV line for row i. */
static void csv_row(clippo_strbuf *b, const cli_embeddings *e, size_t i) {
  char name[4200], num[32];
  snprintf(num, sizeof num, "%zu,", i);
  clippo_strbuf_str(b, num);
  put_csv_string(b, e->name(e->ctx, i, name, sizeof name));
  for (size_t d = 0; d < e->dim; d++) {
    clippo_strbuf_str(b, ",");
    put_float(b, e->z[i * e->dim + d]);
  }
  clippo_strbuf_str(b, "\n");
}

/* Writes the JSON, JSON lines or CSV text row by row. */
static void write_text(sink *s, clippo_strbuf *b, cli_embed_format f, const cli_embeddings *e) {
  int array = f == CLI_EMBED_JSON;
  if (f == CLI_EMBED_CSV) csv_header(b, e);
  if (array) clippo_strbuf_str(b, "[\n");
  for (size_t i = 0; i < e->n && !b->oom && !s->failed; i++) {
    if (f == CLI_EMBED_CSV) {
      csv_row(b, e, i);
    } else {
      json_row(b, e, i);
      clippo_strbuf_str(b, array && i + 1 < e->n ? ",\n" : "\n");
    }
    flush_to(s, b);
  }
  if (array) clippo_strbuf_str(b, "]\n");
  flush_to(s, b);
}

int cli_embed_write(const char *cmd, const char *out, cli_embed_format f, const cli_embeddings *e) {
  clippo_error err;
  if (f == CLI_EMBED_NPY) {
    clippo_array a;
    memset(&a, 0, sizeof a);
    a.dtype = CLIPPO_F32;
    a.ndim = 2;
    a.shape[0] = (int64_t)e->n;
    a.shape[1] = (int64_t)e->dim;
    a.data = e->z; /* only read */
    return clippo_npy_save(out, &a, &err) != CLIPPO_OK ? cli_report(cmd, &err) : 0;
  }
  sink s;
  memset(&s, 0, sizeof s);
  if (f != CLI_EMBED_STDOUT && clippo_atomic_open(&s.af, out, &err) != CLIPPO_OK)
    return cli_report(cmd, &err);
  clippo_strbuf b = {0};
  write_text(&s, &b, f, e);
  int oom = b.oom;
  clippo_strbuf_free(&b);
  if (f == CLI_EMBED_STDOUT) {
    if (fflush(stdout) != 0) s.failed = 1;
    if (s.failed || oom)
      fprintf(stderr, "clippo %s: error: cannot write to standard output%s\n", cmd,
              oom ? " (out of memory)" : "");
    return s.failed || oom;
  }
  if (s.failed || oom) {
    clippo_atomic_abort(&s.af);
    if (oom) fprintf(stderr, "clippo %s: error: out of memory writing %s\n", cmd, out);
    return oom ? 1 : cli_report(cmd, &s.err);
  }
  return clippo_atomic_commit(&s.af, &err) != CLIPPO_OK ? cli_report(cmd, &err) : 0;
}
