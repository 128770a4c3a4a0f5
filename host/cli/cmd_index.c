/* `clippo index`: embeds image files into a resumable HDF5 search index that stays true to the
 * files: new files are added, changed ones embedded again, deleted ones dropped. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_interrupt.h"
#include "cli_model.h"
#include "cli_mpi.h"
#include "cli_paths.h"
#include "cli_progress.h"
#include "cli_shard.h"
#include "cli_util.h"
#include "clippo/tasks.h"

const char clippo_cmd_index_summary[] = "embed image files into a searchable index (resumable)";

static void usage(FILE *out) {
  fprintf(out,
          "usage: clippo index [--model M] [--out INDEX.h5] [--device SPEC] [--batch-size B]\n"
          "                    [--chunk N] [--threads T] [--quiet] PATH...\n"
          "\n"
          "Embeds image files into INDEX.h5 for `clippo search`. A PATH is an image file or a\n"
          "folder searched recursively for PNG and JPEG files (recognised by content; hidden\n"
          "entries skipped). Paths are stored absolute, with each file's size and modification\n"
          "time.\n"
          "\n"
          "Running it again brings the index up to date: new files are added, files whose size\n"
          "or modification time changed are embedded again, and entries whose file was deleted\n"
          "are dropped (for every entry of the index, also outside the PATHs given). Indexing\n"
          "a superset of the paths embeds only what is new.\n"
          "\n"
          "Embeddings are committed every --chunk images (default 256). An interrupted run\n"
          "(Ctrl-C finishes the current batch first) resumes when the same command is run\n"
          "again. The index records the model's identity (a hash of its parameter values, the\n"
          "same for .npz and .h5 copies) and refuses to mix models. An existing --out that is\n"
          "not an index is never written to.\n"
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
          "  --quiet           no progress or summary on stderr\n"
          "\n"
          "Progress goes to stderr: a bar when stderr is a terminal, a line every few seconds\n"
          "otherwise (CLIPPO_PROGRESS=off|bar|lines). Files that cannot be decoded are reported\n"
          "and skipped (they are retried on the next run). Exit status: 0 on success (also when\n"
          "some files were skipped), 1 on an error, 2 on a usage error, 130 (Ctrl-C) or 143\n"
          "(SIGTERM) when interrupted.\n"
          "\n"
          "Examples:\n"
          "  clippo index ~/Pictures\n"
          "  clippo index --out photos.h5 ~/Pictures/2023 ~/Pictures/2024\n"
          "  clippo search --index photos.h5 \"a red bicycle\"\n");
}

/* The command line. */
typedef struct index_opts {
  const char *model, *out, *device;
  long batch, chunk, threads;
  int quiet;
  cli_list paths;
  char model_buf[CLI_PATH_MAX], model_abs[CLI_PATH_MAX], out_buf[CLI_PATH_MAX];
  const clippo_dist *dist; /* `mpirun clippo index`: the ranks that share the embedding */
} index_opts;

/* Parses argv into o (o->paths.items has room for argc words). Returns 0 to go on, else the
 * exit status (-1: --help was printed, exit 0). */
static int parse_options(int argc, char **argv, index_opts *o) {
  const cli_option opts[] = {
      {"--quiet", CLI_SET, &o->quiet, 0, 0},          {"--model", CLI_STRING, &o->model, 0, 0},
      {"--out", CLI_STRING, &o->out, 0, 0},           {"--device", CLI_STRING, &o->device, 0, 0},
      {"--batch-size", CLI_LONG, &o->batch, 1, 4096}, {"--chunk", CLI_LONG, &o->chunk, 1, 1 << 20},
      {"--threads", CLI_LONG, &o->threads, 1, 64},
  };
  int rc = cli_parse("index", argc, argv, opts, sizeof opts / sizeof opts[0], &o->paths);
  if (rc < 0) usage(stdout);
  if (rc) return rc;
  if (o->paths.n == 0) return cli_usage_error("index", "no PATH given");
  if (!o->model && !(o->model = cli_default_model("index", o->model_buf, sizeof o->model_buf)))
    return 1;
  if (!o->out && cli_default_index(o->out_buf, sizeof o->out_buf, 1) != 0) {
    fprintf(stderr, "clippo index: error: %s (give --out)\n", o->out_buf);
    return 1;
  }
  if (!o->out) o->out = o->out_buf;
  o->model = cli_absolute_path(o->model, o->model_abs, sizeof o->model_abs); /* for search */
  return 0;
}

/* Everything a run holds. */
typedef struct index_job {
  clippo_path_list found;
  clippo_task_model tm;
  clippo_index *ix;
  clippo_index_plan plan;
  /* one chunk: embeddings, per-file results, and the rows to commit */
  float *z, *zok;
  unsigned char *ok;
  clippo_error *ferr;
  const char **okp, **gone;
  clippo_file_stamp *oks;
  size_t added, updated, removed, skipped;
  cli_progress progress;
} index_job;

static void job_free(index_job *j) {
  clippo_error e2;
  clippo_index_close(j->ix, &e2);
  clippo_index_plan_free(&j->plan);
  clippo_path_list_free(&j->found);
  clippo_task_model_close(&j->tm);
  free(j->z);
  free(j->zok);
  free(j->ok);
  free(j->ferr);
  free(j->okp);
  free(j->gone);
  free(j->oks);
}

/* Checks --out, lists the files, opens the model and the index, plans the work. */
static clippo_status job_open(const index_opts *o, index_job *j, clippo_error *err) {
  clippo_status st = clippo_index_check_file(o->out, err);
  if (st) return clippo_error_prefix(err, "--out");
  st = clippo_collect_images(o->paths.items, o->paths.n, &j->found, err);
  char dev[256];
  const char *device = NULL; /* this rank's item of a --device list */
  if (!st) st = cli_shard_device(o->dist, o->device, dev, sizeof dev, &device, err);
  if (!st)
    st = cli_task_model_open("index", o->model, device, NULL, 0, (size_t)o->batch, &j->tm, err);
  if (!st)
    st = clippo_index_open_append(o->out, j->tm.identity, o->model, j->tm.dim, j->tm.image_size,
                                  &j->ix, err);
  if (!st) st = clippo_index_plan_make(j->ix, &j->found, &j->plan, err);
  size_t ch = (size_t)o->chunk, dim = j->tm.dim;
  if (!st) {
    j->z = malloc(ch * dim * sizeof *j->z);
    j->zok = malloc(ch * dim * sizeof *j->zok);
    j->ok = malloc(ch);
    j->ferr = malloc(ch * sizeof *j->ferr);
    j->okp = malloc(ch * sizeof *j->okp);
    j->gone = malloc(ch * sizeof *j->gone);
    j->oks = malloc(ch * sizeof *j->oks);
    if (!j->z || !j->zok || !j->ok || !j->ferr || !j->okp || !j->gone || !j->oks)
      st = clippo_fail(err, CLIPPO_E_NOMEM, "out of host memory");
  }
  return st;
}

/* Drops the entries whose file is gone. */
static clippo_status remove_gone(index_job *j, clippo_error *err) {
  const clippo_path_list *r = &j->plan.removed;
  clippo_status st = clippo_index_remove(j->ix, (const char *const *)r->items, r->count, err);
  if (!st) j->removed += r->count;
  return st;
}

/* Embeds plan entries [c0, c0 + n) batch by batch (so that Ctrl-C and the progress react
 * within a chunk) and commits them; a changed file that no longer decodes loses its entry. */
static clippo_status embed_chunk(const index_opts *o, index_job *j, size_t c0, size_t n,
                                 clippo_error *err) {
  const char *const *paths = (const char *const *)j->plan.embed.items + c0;
  /* a batch per rank at a time, split over the ranks */
  size_t dim = j->tm.dim, m = 0, ngone = 0, s0 = 0;
  size_t b = (size_t)o->batch * (size_t)clippo_dist_size(o->dist);
  clippo_status st = CLIPPO_OK;
  for (; !st && s0 < n && !cli_interrupt_signal(); s0 += b) {
    size_t ns = n - s0 < b ? n - s0 : b;
    st = cli_shard_embed_files(o->dist, &j->tm, paths + s0, ns, (int)o->threads, j->z + s0 * dim,
                               j->ok + s0, j->ferr + s0, err);
    for (size_t i = s0; !st && i < s0 + ns; i++) {
      int update = j->plan.is_update[c0 + i];
      if (!j->ok[i]) {
        cli_progress_message(&j->progress, "skipping: %s", j->ferr[i].msg);
        j->skipped++;
        if (update) j->gone[ngone++] = paths[i];
        continue;
      }
      memcpy(j->zok + m * dim, j->z + i * dim, dim * sizeof *j->z);
      j->oks[m] = j->plan.stamps[c0 + i];
      j->okp[m++] = paths[i];
      if (update)
        j->updated++;
      else
        j->added++;
    }
    if (!st) cli_progress_add(&j->progress, ns);
  }
  if (!st) st = clippo_index_append_stamped(j->ix, j->okp, j->oks, j->zok, m, err);
  if (!st) st = clippo_index_remove(j->ix, j->gone, ngone, err);
  if (!st) j->removed += ngone;
  return st;
}

/* Embeds everything the plan asks for, chunk by chunk, until done or interrupted. */
static clippo_status embed_all(const index_opts *o, index_job *j, clippo_error *err) {
  size_t total = j->plan.embed.count, ch = (size_t)o->chunk;
  clippo_status st = CLIPPO_OK;
  cli_progress_start(&j->progress, "index", "images", total, o->quiet);
  for (size_t c0 = 0; !st && c0 < total && !cli_interrupt_signal(); c0 += ch)
    st = embed_chunk(o, j, c0, total - c0 < ch ? total - c0 : ch, err);
  cli_progress_finish(&j->progress);
  return st;
}

static void print_plan(const index_opts *o, const index_job *j) {
  const clippo_index_plan *p = &j->plan;
  if (o->quiet) return;
  fprintf(stderr,
          "clippo index: %zu image file(s) found, %zu already in %s, %zu to embed (%zu new, %zu "
          "changed), %zu to remove (file gone)\n",
          j->found.count, p->unchanged, o->out, p->embed.count, p->added, p->updated,
          p->removed.count);
}

int clippo_cmd_index(int argc, char **argv) {
  index_opts o;
  memset(&o, 0, sizeof o);
  o.batch = 8;
  o.chunk = 256;
  o.threads = 4;
  const char **words = calloc((size_t)argc + 1, sizeof *words);
  if (!words) return cli_usage_error("index", "out of memory");
  o.paths = (cli_list){words, 0, (size_t)argc};
  int rc = parse_options(argc, argv, &o);
  clippo_dist *dist = NULL; /* `mpirun -np R clippo index`: rank 0 indexes, all embed */
  if (!rc && cli_dist_start("index", &dist)) rc = 1;
  if (rc) {
    free(words);
    return rc < 0 ? 0 : rc;
  }
  o.dist = dist;
  if (clippo_dist_rank(dist) > 0) {
    rc = cli_shard_worker("index", dist, o.model, o.device, NULL, 0, (size_t)o.batch);
    free(words);
    return cli_dist_end(dist, rc);
  }
  index_job j;
  memset(&j, 0, sizeof j);
  clippo_error err;
  clippo_error_clear(&err);
  clippo_status st = job_open(&o, &j, &err);
  st = clippo_dist_agree(dist, st, NULL, &err); /* every rank ready, or all stop */
  const int served = !st;                       /* the other ranks wait for cli_shard_end */
  if (!st) print_plan(&o, &j);
  cli_interrupt sigs; /* Ctrl-C / SIGTERM: finish the batch, commit, stop; twice: at once */
  cli_interrupt_install(&sigs);
  if (!st) st = remove_gone(&j, &err);
  if (!st) st = embed_all(&o, &j, &err);
  cli_interrupt_restore(&sigs);
  int stopped = cli_interrupt_signal() != 0;
  if (!st && !stopped) st = clippo_index_compact(j.ix, 0, &err);
  if (!st && !o.quiet)
    fprintf(stderr,
            "clippo index: %zu added, %zu updated, %zu removed, %zu skipped; %s holds %zu "
            "image(s)\n",
            j.added, j.updated, j.removed, j.skipped, o.out, clippo_index_count(j.ix));
  if (!st && j.ix) {
    st = clippo_index_close(j.ix, &err);
    j.ix = NULL;
  }
  if (served) st = cli_shard_end(dist, st, &err); /* the other ranks are done too */
  if (st) {
    rc = cli_dist_report("index", dist, &err);
  } else if (stopped) {
    fprintf(stderr, "clippo index: interrupted; run the same command again to resume\n");
    rc = cli_interrupt_exit_code();
  }
  job_free(&j);
  free(words);
  return cli_dist_end(dist, rc);
}
