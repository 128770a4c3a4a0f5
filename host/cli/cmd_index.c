/* `clippo index`: embeds image files into a resumable HDF5 search index. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli_model.h"
#include "cli_paths.h"
#include "cli_util.h"
#include "clippo/tasks.h"

const char clippo_cmd_index_summary[] = "embed image files into a searchable index (resumable)";

/* Set by SIGINT / SIGTERM: finish the chunk being written, then stop. */
static volatile sig_atomic_t interrupted = 0;

static void on_signal(int sig) {
  (void)sig;
  interrupted = 1;
}

static void usage(FILE *out) {
  fprintf(out,
          "usage: clippo index [--model M] [--out INDEX.h5] [--device SPEC] [--batch-size B]\n"
          "                    [--chunk N] [--threads T] [--quiet] PATH...\n"
          "\n"
          "Embeds image files into INDEX.h5 for `clippo search`. A PATH is an image file or a\n"
          "folder searched recursively for PNG and JPEG files (recognised by content; hidden\n"
          "entries skipped). Paths are stored absolute.\n"
          "\n"
          "Embeddings are committed every --chunk images (default 256). An interrupted run\n"
          "(Ctrl-C finishes the current chunk first) resumes when the same command is run\n"
          "again: images already in the index are skipped, so indexing a superset of the\n"
          "paths adds only the new ones. The index records the model's identity (a hash of\n"
          "the checkpoint content) and refuses to mix models.\n"
          "\n"
          "Options:\n"
          "  --model M         checkpoint (.npz or .h5); default: env CLIPPO_MODEL, else the\n"
          "                    installed default model (" CLI_DEFAULT_MODEL_FILE ")\n"
          "  --out F           the index file (created when absent); default: the per-user\n"
          "                    index $XDG_DATA_HOME/clippo/index.h5 (~/.local/share/clippo/)\n"
          "  --device SPEC     OpenCL device (see clippo devices); default env CLIPPO_DEVICE\n"
          "  --batch-size B    images per device call (default 8)\n"
          "  --chunk N         images per commit (default 256)\n"
          "  --threads T       image decoding threads (default 4)\n"
          "  --quiet           no progress on stderr\n"
          "\n"
          "Progress goes to stderr: a bar when stderr is a terminal, a line every few seconds\n"
          "otherwise. Files that cannot be decoded are reported and skipped (they are retried\n"
          "on the next run). Exit status: 0 on success (also when some files were skipped), 1\n"
          "on an error, 2 on a usage error, 130 when interrupted.\n");
}

int clippo_cmd_index(int argc, char **argv) {
  const char *model = NULL, *out = NULL, *device = NULL;
  long batch = 8, chunk = 256, threads = 4;
  int quiet = 0;
  const char **paths = calloc((size_t)argc + 1, sizeof *paths);
  size_t npaths = 0;
  if (!paths) return cli_usage_error("index", "out of memory");
  cli_list path_list = {paths, 0, (size_t)argc};
  const cli_option opts[] = {
      {"--quiet", CLI_SET, &quiet, 0, 0},          {"--model", CLI_STRING, &model, 0, 0},
      {"--out", CLI_STRING, &out, 0, 0},           {"--device", CLI_STRING, &device, 0, 0},
      {"--batch-size", CLI_LONG, &batch, 1, 4096}, {"--chunk", CLI_LONG, &chunk, 1, 1 << 20},
      {"--threads", CLI_LONG, &threads, 1, 64},
  };
  int prc = cli_parse("index", argc, argv, opts, sizeof opts / sizeof opts[0], &path_list);
  if (prc) {
    free(paths);
    if (prc < 0) usage(stdout);
    return prc < 0 ? 0 : prc;
  }
  npaths = path_list.n;
  int urc = 0;
  char model_buf[CLI_PATH_MAX], model_abs[CLI_PATH_MAX], out_buf[CLI_PATH_MAX];
  if (npaths == 0)
    urc = cli_usage_error("index", "no PATH given");
  else if (!model && !(model = cli_default_model("index", model_buf, sizeof model_buf)))
    urc = 1;
  else if (!out && cli_default_index(out_buf, sizeof out_buf, 1) != 0) {
    fprintf(stderr, "clippo index: error: %s (give --out)\n", out_buf);
    urc = 1;
  } else if (!out)
    out = out_buf;
  model = cli_absolute_path(model, model_abs, sizeof model_abs); /* recorded for search */
  if (urc) {
    free(paths);
    return urc;
  }

  clippo_error err;
  clippo_error_clear(&err);
  clippo_path_list all = {0}, todo = {0};
  clippo_task_model tm;
  memset(&tm, 0, sizeof tm);
  clippo_index *ix = NULL;
  float *z = NULL, *zok = NULL;
  unsigned char *ok = NULL;
  clippo_error *ferr = NULL;
  const char **okp = NULL;
  size_t done = 0, skipped = 0;
  int rc = 0;
  clippo_status st = clippo_collect_images(paths, npaths, &all, &err);
  if (!st) st = clippo_task_model_open(model, device, NULL, 0, (size_t)batch, &tm, &err);
  if (!st) st = clippo_index_open_append(out, tm.identity, model, tm.dim, tm.image_size, &ix, &err);
  for (size_t i = 0; !st && i < all.count; i++)
    if (!clippo_index_contains(ix, all.items[i]))
      st = clippo_path_list_add(&todo, all.items[i], &err);
  size_t ch = (size_t)chunk;
  if (!st) {
    z = malloc(ch * tm.dim * sizeof *z);
    zok = malloc(ch * tm.dim * sizeof *zok);
    ok = malloc(ch);
    ferr = malloc(ch * sizeof *ferr);
    okp = malloc(ch * sizeof *okp);
    if (!z || !zok || !ok || !ferr || !okp)
      st = clippo_fail(&err, CLIPPO_E_NOMEM, "out of host memory");
  }
  int tty = isatty(STDERR_FILENO);
  if (!st && !quiet)
    fprintf(stderr, "clippo index: %zu image file(s) found, %zu already in %s, %zu to embed\n",
            all.count, all.count - todo.count, out, todo.count);
  struct sigaction sa, old_int, old_term;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = (int)SA_RESETHAND; /* a second Ctrl-C stops at once */
  sigaction(SIGINT, &sa, &old_int);
  sigaction(SIGTERM, &sa, &old_term);
  double t0 = 0;
  {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    t0 = (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
  }
  double last_print = t0;
  char line[256];
  for (size_t c0 = 0; !st && c0 < todo.count && !interrupted; c0 += ch) {
    size_t nc = todo.count - c0 < ch ? todo.count - c0 : ch;
    const char *const *batch_paths = (const char *const *)todo.items + c0;
    /* embed in sub-batches so that Ctrl-C and the progress line react within a batch */
    size_t m = 0;
    for (size_t s0 = 0; !st && s0 < nc; s0 += (size_t)batch) {
      size_t ns = nc - s0 < (size_t)batch ? nc - s0 : (size_t)batch;
      st = clippo_embed_image_files(&tm, batch_paths + s0, ns, (int)threads, z + s0 * tm.dim,
                                    ok + s0, ferr + s0, &err);
      for (size_t i = s0; !st && i < s0 + ns; i++) {
        if (!ok[i]) {
          if (tty && !quiet) fprintf(stderr, "\r\033[K");
          fprintf(stderr, "clippo index: skipping: %s\n", ferr[i].msg);
          skipped++;
          continue;
        }
        memcpy(zok + m * tm.dim, z + i * tm.dim, tm.dim * sizeof *z);
        okp[m++] = batch_paths[i];
      }
      struct timespec ts;
      clock_gettime(CLOCK_MONOTONIC, &ts);
      double now = (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
      size_t d = c0 + s0 + ns;
      if (!quiet && (tty || now - last_print >= 5.0 || d == todo.count)) {
        clippo_progress_format(line, sizeof line, d, todo.count, now - t0, tty ? 30 : 0);
        if (tty)
          fprintf(stderr, "\r\033[K%s", line);
        else
          fprintf(stderr, "clippo index: %s\n", line);
        last_print = now;
      }
      if (interrupted) break; /* commit what was embedded so far */
    }
    if (!st) st = clippo_index_append(ix, okp, zok, m, &err);
    if (!st) done += m;
  }
  if (tty && !quiet && todo.count) fprintf(stderr, "\n");
  sigaction(SIGINT, &old_int, NULL);
  sigaction(SIGTERM, &old_term, NULL);
  if (ix) {
    clippo_error e2;
    size_t total = clippo_index_count(ix);
    if (clippo_index_close(ix, &e2) != CLIPPO_OK && !st) {
      err = e2;
      st = e2.status;
    }
    if (!st && !quiet)
      fprintf(stderr, "clippo index: %zu added, %zu skipped; %s holds %zu image(s)\n", done,
              skipped, out, total);
  }
  if (st) {
    rc = cli_report("index", &err);
  } else if (interrupted) {
    fprintf(stderr, "clippo index: interrupted; run the same command again to resume\n");
    rc = 130;
  }
  free(z);
  free(zok);
  free(ok);
  free(ferr);
  free(okp);
  free(paths);
  clippo_path_list_free(&all);
  clippo_path_list_free(&todo);
  clippo_task_model_close(&tm);
  return rc;
}
