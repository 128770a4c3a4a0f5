/* `clippo bench`: the benchmark suite (clippo/bench.h) on one device or all of them, with the
 * cold/warm kernel build measured in child processes (fresh driver caches), PyTorch CPU run
 * beside it through bench/pytorch_vit.py and the peer runtimes (cli_bench_extern.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli_bench_extern.h"
#include "cli_mpi.h"
#include "cli_util.h"
#include "clippo/bench.h"
#include "clippo/runtime.h"

const char clippo_cmd_bench_summary[] =
    "benchmarks: ops, GEMM vs OpenBLAS, embedding vs PyTorch, peak probe -> JSON/Markdown/SVG";

static void usage(FILE *out) {
  fprintf(out,
          "usage: clippo bench [--device SPEC | --all-devices] [--suite LIST] [--quick]\n"
          "                    [--runs N] [--warmup N] [--budget SECONDS] [--variants b16,l16]\n"
          "                    [--batches 1,8,32] [--images N] [--font FILE]... [--out DIR]\n"
          "                    [--pytorch-script PATH] [--no-pytorch] [--no-peers] [--profile]\n\n"
          "Benchmarks the engine on one OpenCL device (--device, default as everywhere) or on\n"
          "every device (--all-devices) and writes DIR/bench-<device>.json, .md and .svg\n"
          "(default DIR: bench-results). Suites (--suite, comma-separated, default all):\n"
          "  probe  peak multiply-add GFLOP/s and copy/triad GB/s (kernels/probe.cl); every\n"
          "         other row reports its %% of these (runs whenever a device suite does)\n"
          "  ops    forward ops, attention, patch embedding, contrastive loss at B/16 shapes\n"
          "  gemm   every ViT-B/16 matrix product (forward, backward), OpenBLAS on the host "
          "beside it\n"
          "  embed  image embedding of random B/16 and L/16 models at batches 1, 8, 32; PyTorch\n"
          "         CPU (bench/pytorch_vit.py, when python3 can import torch) beside B/16\n"
          "  text   text rendering and B/16 text embedding (font: --font, else CLIPPO_FONT, "
          "else\n"
          "         the system Unifont)\n"
          "  train  training steps/s of a small model (64 px, patch 8, width 128, depth 4)\n"
          "  build  every kernel file built with empty caches (cold) and again (warm)\n"
          "  comm   (not in all; under mpirun -np R, one device per rank) what data-parallel\n"
          "         training exchanges: the B/16's and the default model's gradients summed,\n"
          "         a step's embeddings gathered (bus GB/s), and a default-model training step\n"
          "         split into computing and exchanging; rank 0 writes the report\n"
          "Options:\n"
          "  --quick            small sizes, 3 runs: B/16 only at batch 1, op and GEMM shapes\n"
          "                     at 4 images, 4 kernel files in the build suite\n"
          "  --runs N           timed runs per measurement, median reported (default 5)\n"
          "  --warmup N         untimed runs first (default 1)\n"
          "  --budget SECONDS   fewer timed runs when they would take longer (default 60, "
          "quick 8)\n"
          "  --images N         images of the op and GEMM shapes (default 8)\n"
          "  --pytorch-script P bench/pytorch_vit.py (default: $CLIPPO_SOURCE_DIR/bench/, "
          "./bench/,\n"
          "                     or ../bench/ next to the program)\n"
          "  --no-pytorch       skip the PyTorch comparison\n"
          "  --no-peers         skip the peer runtimes: with bench/peers/.venv (made by\n"
          "                     bench/peers/setup.sh) the embed suite runs ViT-B/16 in ONNX\n"
          "                     Runtime, OpenVINO, PyTorch 2 eager and compiled (float32) and\n"
          "                     ONNX Runtime int8 at each batch, the train suite the PyTorch\n"
          "                     twin's step; ratios are to the fastest float32 peer\n"
          "                     (int8 peers with CLIPPO_PRECISION=int8). The\n"
          "                     peers run before and again after each device's rows,\n"
          "                     then the engine's train and embed rows again: every\n"
          "                     row with two passes keeps its faster one\n"
          "  --profile          also break planned runs down by step (suite \"profile\": B/16's\n"
          "                     batch-1 embedding in the embed suite, the forward + backward\n"
          "                     in the train suite): wall time per kernel and per GEMM shape,\n"
          "                     the queue finished around every step\n"
          "The --out folder is created if needed and checked before anything is measured.\n\n"
          "Examples:\n"
          "  clippo bench --quick --device cpu --out bench-results\n"
          "  RUSTICL_ENABLE=llvmpipe clippo bench --all-devices --quick --no-pytorch\n"
          "  mpirun -np 2 clippo bench --suite comm --device 0:0,0:1\n");
}

/* Finds bench/pytorch_vit.py. */
static void find_script(const char *given, char *out, size_t size) {
  if (given) {
    snprintf(out, size, "%s", given);
    return;
  }
  cli_find_source_file("bench/pytorch_vit.py", out, size);
}

/* PyTorch CPU on the B/16 forward at `batch` images: a row (status "unavailable" with the reason
 * when it cannot run). */
static void run_pytorch(const char *script_opt, size_t batch, const clippo_bench_opts *o,
                        clippo_bench_row *row) {
  char script[1200];
  find_script(script_opt, script, sizeof script);
  if (!cli_file_readable(script)) {
    cli_bench_row_missing(
        row, "embed", "b16", "pytorch-cpu", batch, "unavailable",
        "bench/pytorch_vit.py not found (give --pytorch-script or set CLIPPO_SOURCE_DIR)");
    return;
  }
  const char *py = access("/usr/bin/python3", X_OK) == 0 ? "/usr/bin/python3" : "python3";
  char qs[2600], cmd[3000], line[8192];
  cli_shell_quote(script, qs, sizeof qs);
  snprintf(cmd, sizeof cmd, "%s %s --batch %zu --runs %d --warmup %d --threads 2", py, qs, batch,
           o->quick && o->runs > 2 ? 2 : o->runs, o->warmup);
  fprintf(stderr, "clippo bench: running PyTorch CPU: %s\n", cmd);
  int rc = cli_run_json_command(cmd, line, sizeof line);
  clippo_error err;
  if (rc != 0 || !line[0] || clippo_bench_row_from_json(line, row, &err) != CLIPPO_OK) {
    char note[sizeof row->note];
    snprintf(note, sizeof note, "%s exited with %d%s", script, rc,
             line[0] ? "" : " and printed no JSON");
    cli_bench_row_missing(row, "embed", "b16", "pytorch-cpu", batch,
                          rc < 0 ? "unavailable" : "failed", note);
  }
}

/* Removes a folder tree we created (mkdtemp names need no quoting beyond this). */
static void remove_tree(const char *dir) {
  char q[1200], cmd[1300];
  cli_shell_quote(dir, q, sizeof q);
  snprintf(cmd, sizeof cmd, "rm -rf %s", q);
  if (system(cmd) != 0) fprintf(stderr, "clippo bench: could not remove %s\n", dir);
}

/* The hidden --build-kernels mode: builds every kernel file on spec and prints a JSON row. */
static int build_kernels_child(const char *spec, int quick) {
  clippo_error err;
  clippo_rt *rt = NULL;
  if (clippo_rt_create(&rt, spec, &err)) return cli_report("bench", &err);
  double secs = 0;
  unsigned n = 0;
  clippo_status st =
      clippo_bench_build_kernels(rt, quick ? CLIPPO_BENCH_QUICK_KERNELS : NULL, &secs, &n, &err);
  if (st) {
    clippo_rt_destroy(rt);
    return cli_report("bench", &err);
  }
  clippo_bench_row row;
  memset(&row, 0, sizeof row);
  snprintf(row.suite, sizeof row.suite, "build");
  snprintf(row.name, sizeof row.name, "kernels");
  snprintf(row.impl, sizeof row.impl, "clippo");
  snprintf(row.status, sizeof row.status, "ok");
  snprintf(row.shape, sizeof row.shape, "%u kernel files", n);
  snprintf(row.note, sizeof row.note, "%u from clippo's cache, %u compiled", rt->cache_hits,
           rt->cache_misses);
  row.runs = 1;
  row.median_s = row.min_s = secs;
  char *js = clippo_bench_row_json(&row);
  clippo_rt_destroy(rt);
  if (!js) return 1;
  printf("%s\n", js);
  free(js);
  return 0;
}

/* Cold and warm build of every kernel file: two child processes sharing fresh cache folders
 * (CLIPPO_CACHE_DIR, POCL_CACHE_DIR, MESA_SHADER_CACHE_DIR, XDG_CACHE_HOME); without
 * /proc/self/exe, in this process with a fresh clippo cache only. */
static int bench_build(const char *spec, int quick, clippo_bench_report *rep) {
  const char *tmp = getenv("TMPDIR");
  char root[1024];
  snprintf(root, sizeof root, "%s/clippo-bench-XXXXXX", tmp && *tmp ? tmp : "/tmp");
  clippo_error err;
  if (!mkdtemp(root)) {
    fprintf(stderr, "clippo bench: cannot create a temporary folder in %s: %s\n",
            tmp && *tmp ? tmp : "/tmp", strerror(errno));
    return 1;
  }
  char exe[1024];
  cli_self_exe(exe, sizeof exe);
  for (int pass = 0; pass < 2; pass++) {
    clippo_bench_row row;
    memset(&row, 0, sizeof row);
    if (exe[0]) {
      char qe[2200], qr[2200], qs[200], cmd[8192], line[8192];
      cli_shell_quote(exe, qe, sizeof qe);
      cli_shell_quote(root, qr, sizeof qr);
      cli_shell_quote(spec, qs, sizeof qs);
      snprintf(cmd, sizeof cmd,
               "CLIPPO_CACHE_DIR=%s/clippo POCL_CACHE_DIR=%s/pocl MESA_SHADER_CACHE_DIR=%s/mesa "
               "XDG_CACHE_HOME=%s/xdg %s bench --build-kernels --device %s%s",
               qr, qr, qr, qr, qe, qs, quick ? " --quick" : "");
      int rc = cli_run_json_command(cmd, line, sizeof line);
      if (rc != 0 || clippo_bench_row_from_json(line, &row, &err) != CLIPPO_OK) {
        memset(&row, 0, sizeof row);
        snprintf(row.status, sizeof row.status, "failed");
        snprintf(row.note, sizeof row.note, "the build child process exited with %d", rc);
      } else {
        char note[256];
        snprintf(note, sizeof note,
                 "%s; fresh CLIPPO_CACHE_DIR, POCL_CACHE_DIR, "
                 "MESA_SHADER_CACHE_DIR in a new process",
                 row.note);
        snprintf(row.note, sizeof row.note, "%s", note);
      }
    } else {
      clippo_rt *rt = NULL;
      double secs = 0;
      unsigned n = 0;
      clippo_status st = clippo_rt_create(&rt, spec, &err);
      if (!st) {
        snprintf(rt->cache_dir, sizeof rt->cache_dir, "%s/clippo", root);
        st = clippo_bench_build_kernels(rt, quick ? CLIPPO_BENCH_QUICK_KERNELS : NULL, &secs, &n,
                                        &err);
      }
      snprintf(row.status, sizeof row.status, st ? "failed" : "ok");
      if (st)
        snprintf(row.note, sizeof row.note, "%s", err.msg);
      else
        snprintf(row.note, sizeof row.note,
                 "in this process: fresh clippo cache only, the "
                 "driver's own cache was not reset");
      snprintf(row.shape, sizeof row.shape, "%u kernel files", n);
      row.runs = 1;
      row.median_s = row.min_s = secs;
      clippo_rt_destroy(rt);
    }
    snprintf(row.suite, sizeof row.suite, "build");
    snprintf(row.name, sizeof row.name, pass ? "warm" : "cold");
    snprintf(row.impl, sizeof row.impl, "clippo");
    if (clippo_bench_add(rep, &row, &err)) {
      remove_tree(root);
      return cli_report("bench", &err);
    }
    printf("%-6s %-16s %-14s %10.3f s  %s%s%s\n", row.suite, row.name, row.impl, row.median_s,
           strcmp(row.status, "ok") ? row.status : "", strcmp(row.status, "ok") ? ": " : "",
           row.shape);
  }
  remove_tree(root);
  return 0;
}

/* One line of progress per row. */
static void print_row(const clippo_bench_row *w, void *user) {
  (void)user;
  char metric[96] = "";
  if (strcmp(w->status, "ok") != 0) {
    printf("%-6s %-16s %-14s %s: %s\n", w->suite, w->name, w->impl, w->status, w->note);
    fflush(stdout);
    return;
  }
  double secs = w->median_s;
  if (!strcmp(w->suite, "probe") && w->device_s > 0) secs = w->device_s;
  if (w->rate > 0)
    snprintf(metric, sizeof metric, "%10.2f %s", w->rate, w->rate_unit);
  else if (w->gflops > 0 || (w->flops > 0 && secs > 0))
    snprintf(metric, sizeof metric, "%10.1f GFLOP/s",
             w->gflops > 0 ? w->gflops : w->flops / secs * 1e-9);
  else if (w->gbps > 0 || (w->bytes > 0 && secs > 0))
    snprintf(metric, sizeof metric, "%10.1f GB/s", w->gbps > 0 ? w->gbps : w->bytes / secs * 1e-9);
  char b[16] = "";
  if (w->batch && (!strcmp(w->suite, "embed") || !strcmp(w->suite, "text")))
    snprintf(b, sizeof b, " b%zu", w->batch);
  char name[80];
  snprintf(name, sizeof name, "%s%s", w->name, b);
  printf("%-6s %-16s %-14s %10.3f ms %s\n", w->suite, name, w->impl, secs * 1e3, metric);
  fflush(stdout);
}

/* Parses "1,8,32". */
static int parse_batches(const char *s, clippo_bench_opts *o) {
  o->nbatches = 0;
  const char *p = s;
  while (*p) {
    char *end = NULL;
    errno = 0;
    long v = strtol(p, &end, 10);
    if (errno || end == p || v < 1 || v > 4096 || o->nbatches >= CLIPPO_BENCH_MAX_BATCHES)
      return -1;
    o->batches[o->nbatches++] = (size_t)v;
    if (*end == ',')
      end++;
    else if (*end)
      return -1;
    p = end;
  }
  return o->nbatches ? 0 : -1;
}

/* mkdir -p dir, then a probe file written and removed: 0, or 1 after an error naming dir. */
static int check_out_dir(const char *dir) {
  char path[1200];
  int len = snprintf(path, sizeof path, "%s", dir);
  if (len <= 0 || (size_t)len >= sizeof path - 32) {
    fprintf(stderr, "clippo bench: error: --out folder name too long\n");
    return 1;
  }
  for (char *p = path + 1; *p; p++) {
    if (*p != '/') continue;
    *p = '\0';
    if (mkdir(path, 0777) != 0 && errno != EEXIST) break; /* the final check names the reason */
    *p = '/';
  }
  if (mkdir(path, 0777) != 0 && errno != EEXIST) {
    fprintf(stderr, "clippo bench: error: cannot create the --out folder %s: %s\n", dir,
            strerror(errno));
    return 1;
  }
  snprintf(path + len, sizeof path - (size_t)len, "/.clippo-bench-XXXXXX");
  int fd = mkstemp(path);
  if (fd < 0) {
    fprintf(stderr, "clippo bench: error: cannot write into the --out folder %s: %s\n", dir,
            strerror(errno));
    return 1;
  }
  close(fd);
  unlink(path);
  return 0;
}

/* The devices to measure: all, or the one spec selects. Returns 0, or 1 after an error. */
static int select_devices(int all, const char *spec, clippo_device_info **devs, size_t *n) {
  clippo_error err;
  *devs = NULL;
  *n = 0;
  if (all) {
    if (clippo_devices_list(devs, n, &err)) return cli_report("bench", &err);
    if (*n == 0) {
      free(*devs);
      *devs = NULL;
      fprintf(stderr, "clippo bench: error: no OpenCL device\n");
      return 1;
    }
    return 0;
  }
  *devs = calloc(1, sizeof **devs);
  if (!*devs) return 1;
  if (clippo_device_select(spec, *devs, &err)) {
    free(*devs);
    *devs = NULL;
    return cli_report("bench", &err);
  }
  *n = 1;
  return 0;
}

/* Rows measured once beside the devices' (PyTorch CPU, the peers' first pass), at most: */
enum { MAX_EXTRA = 1 + 5 * CLIPPO_BENCH_MAX_BATCHES + 2 };

/* The suites (train, embed) in which a peer row of rows[0..n) came out. */
static unsigned suites_with_peers(const clippo_bench_row *rows, size_t n) {
  unsigned su = 0;
  for (size_t i = 0; i < n; i++) {
    if (strncmp(rows[i].impl, "peer-", 5) != 0 || strcmp(rows[i].status, "ok") != 0) continue;
    if (!strcmp(rows[i].suite, "train")) su |= CLIPPO_BENCH_TRAIN;
    if (!strcmp(rows[i].suite, "embed")) su |= CLIPPO_BENCH_EMBED;
  }
  return su;
}

/* The engine's rows of rep that `again` measured a second time keep the faster of the two passes
 * (the peers' rule: cli_bench_peers_merge), both timings in the note. */
static void keep_faster_engine_rows(clippo_bench_report *rep, const clippo_bench_report *again) {
  for (size_t j = 0; j < again->nrows; j++) {
    const clippo_bench_row *a = &again->rows[j];
    if (strncmp(a->impl, "clippo", 6) != 0 ||
        (strcmp(a->suite, "train") && strcmp(a->suite, "embed")))
      continue;
    for (size_t i = 0; i < rep->nrows; i++)
      if (cli_bench_same_row(a, &rep->rows[i])) {
        cli_bench_keep_faster(&rep->rows[i], a, "the second after the peers' second");
        break;
      }
  }
}

/* The engine's rows of the suites `su` measured again on the device spec (no profile) and merged
 * into rep by keep_faster_engine_rows. */
static clippo_status engine_again(const char *spec, const clippo_device_info *dev,
                                  const clippo_bench_opts *o, unsigned su, clippo_bench_report *rep,
                                  clippo_error *err) {
  clippo_bench_opts o2 = *o;
  o2.suites = su;
  o2.profile = 0;
  clippo_bench_report again;
  clippo_status st = clippo_bench_report_init(&again, dev, &o2, err);
  if (st) return st;
  clippo_rt *rt = NULL;
  st = clippo_rt_create(&rt, spec, err);
  if (!st) st = clippo_bench_run(rt, &o2, &again, print_row, NULL, err);
  clippo_rt_destroy(rt);
  if (!st) keep_faster_engine_rows(rep, &again);
  clippo_bench_report_free(&again);
  return st;
}

/* Every suite on one device, with the extra rows, the report written to out_dir and summarised;
 * peers_again: the peers run a second time after the device's rows, then the engine's rows of
 * the suites with peers (train, embed) run a second time too, and every row with two passes, the
 * engine's as the peers', keeps its faster one (the same rule on both sides of a ratio, on a
 * machine whose speed drifts between passes). Returns the exit code (0, or 1 when something
 * failed). */
static int bench_device(const clippo_device_info *dev, const clippo_bench_opts *o,
                        const clippo_bench_opts *ro, const clippo_bench_row *extra, size_t nextra,
                        int peers_again, int b16, const char *out_dir) {
  char spec[32];
  snprintf(spec, sizeof spec, "%d:%d", dev->platform_index, dev->device_index);
  printf("== %s %s (%s)\n", spec, dev->name, dev->platform);
  fflush(stdout);
  clippo_error err;
  clippo_bench_report rep;
  if (clippo_bench_report_init(&rep, dev, o, &err)) return cli_report("bench", &err);
  if (ro->suites & CLIPPO_BENCH_BUILD) {
    int b = bench_build(spec, ro->quick, &rep);
    if (b) {
      clippo_bench_report_free(&rep);
      return b;
    }
  }
  clippo_status st = CLIPPO_OK;
  if (ro->suites & ~CLIPPO_BENCH_BUILD) {
    clippo_rt *rt = NULL;
    st = clippo_rt_create(&rt, spec, &err);
    if (!st) st = clippo_bench_run(rt, o, &rep, print_row, NULL, &err);
    clippo_rt_destroy(rt);
  }
  clippo_bench_row rows[MAX_EXTRA], again[MAX_EXTRA];
  if (nextra > MAX_EXTRA) nextra = MAX_EXTRA;
  memcpy(rows, extra, nextra * sizeof *rows);
  if (!st && peers_again) {
    size_t na = cli_bench_peers(ro, b16, again, MAX_EXTRA);
    for (size_t i = 0; i < na; i++) print_row(&again[i], NULL);
    cli_bench_peers_merge(rows, nextra, again, na);
    unsigned su = suites_with_peers(again, na) & ro->suites;
    clippo_error e2;
    if (su && engine_again(spec, dev, o, su, &rep, &e2))
      fprintf(stderr, "clippo bench: the engine's second pass failed (the first is kept): %s\n",
              e2.msg);
  }
  for (size_t i = 0; !st && i < nextra; i++) st = clippo_bench_add(&rep, &rows[i], &err);
  char paths[3][1200];
  if (!st) st = clippo_bench_write(&rep, out_dir, paths, &err);
  if (st) {
    clippo_bench_report_free(&rep);
    return cli_report("bench", &err);
  }
  size_t failed = 0;
  for (size_t i = 0; i < rep.nrows; i++) {
    const clippo_bench_row *w = &rep.rows[i];
    if (!strcmp(w->status, "failed")) failed++;
    if (w->ratio > 0)
      printf("ratio  %-16s %-14s %.2fx %s (batch %zu)\n", w->name, w->suite, w->ratio, w->ratio_to,
             w->batch);
  }
  if (rep.peak_gflops > 0 || rep.peak_gbps > 0)
    printf("peak   %.1f GFLOP/s, %.1f GB/s (%s)\n", rep.peak_gflops, rep.peak_gbps, rep.peak_note);
  for (int k = 0; k < 3; k++) printf("wrote  %s\n", paths[k]);
  clippo_bench_report_free(&rep);
  if (failed) {
    fprintf(stderr, "clippo bench: %zu measurement(s) failed on %s (see the report)\n", failed,
            dev->name);
    return 1;
  }
  return 0;
}

/* Checks the values of --batches and --variants into o; 0 or 2 after a usage error. */
static int check_lists(const char *batches, const char *variants, clippo_bench_opts *o) {
  if (batches && parse_batches(batches, o))
    return cli_usage_error("bench", "--batches wants up to %d sizes in 1..4096, e.g. 1,8,32",
                           CLIPPO_BENCH_MAX_BATCHES);
  if (variants) {
    if (strlen(variants) >= sizeof o->variants)
      return cli_usage_error("bench", "--variants list too long");
    snprintf(o->variants, sizeof o->variants, "%s", variants);
  }
  char list[64];
  snprintf(list, sizeof list, "%s", o->variants[0] ? o->variants : "b16");
  for (char *save = NULL, *v = strtok_r(list, ",", &save); v; v = strtok_r(NULL, ",", &save))
    if (strcmp(v, "b16") && strcmp(v, "l16"))
      return cli_usage_error("bench", "unknown variant '%s' (b16, l16)", v);
  return 0;
}

int clippo_cmd_bench(int argc, char **argv) {
  const char *device = NULL, *suites = NULL, *out_dir = "bench-results", *script = NULL;
  const char *batches = NULL, *variants = NULL, *font_items[16];
  int all = 0, no_pytorch = 0, no_peers = 0, build_child = 0;
  long budget = 0, images = 0;
  clippo_bench_opts o;
  clippo_bench_opts_default(&o);
  cli_list fonts = {font_items, 0, 16};
  const cli_option opts[] = {
      {"--all-devices", CLI_SET, &all, 0, 0},
      {"--quick", CLI_SET, &o.quick, 0, 0},
      {"--no-pytorch", CLI_SET, &no_pytorch, 0, 0},
      {"--no-peers", CLI_SET, &no_peers, 0, 0},
      {"--profile", CLI_SET, &o.profile, 0, 0},
      {"--build-kernels", CLI_SET, &build_child, 0, 0}, /* hidden: the build suite's child */
      {"--device", CLI_STRING, &device, 0, 0},
      {"--suite", CLI_STRING, &suites, 0, 0},
      {"--out", CLI_STRING, &out_dir, 0, 0},
      {"--pytorch-script", CLI_STRING, &script, 0, 0},
      {"--font", CLI_LIST, &fonts, 0, 0},
      {"--variants", CLI_STRING, &variants, 0, 0},
      {"--batches", CLI_STRING, &batches, 0, 0},
      {"--runs", CLI_INT, &o.runs, 1, 1000},
      {"--warmup", CLI_INT, &o.warmup, 1, 100},
      {"--images", CLI_LONG, &images, 1, 256},
      {"--budget", CLI_LONG, &budget, 1, 36000},
  };
  int prc = cli_parse("bench", argc, argv, opts, sizeof opts / sizeof opts[0], NULL);
  if (prc < 0) usage(stdout);
  if (prc) return prc < 0 ? 0 : prc;
  if (budget) o.budget_s = (double)budget;
  if (images) o.images = (size_t)images;
  if (all && device)
    return cli_usage_error("bench", "--device and --all-devices exclude each other");
  if (!all && cli_device_from_env("bench", &device)) return 1;
  clippo_error err;
  if (suites && clippo_bench_parse_suites(suites, &o.suites, &err))
    return cli_usage_error("bench", "%s", err.msg);
  if (check_lists(batches, variants, &o)) return 2;
  if (build_child) return build_kernels_child(device, o.quick);
  /* `mpirun -np R clippo bench --suite comm`: every rank measures, rank 0 reports */
  clippo_dist *dist = NULL;
  char own_dev[256], rank_out[512] = "";
  if (o.suites & CLIPPO_BENCH_COMM) {
    if (cli_dist_start("bench", &dist)) return 1;
    o.dist = dist;
  }
  if (dist) {
    if (all) return cli_dist_end(dist, cli_usage_error("bench", "--all-devices under mpirun"));
    if (clippo_dist_device(dist, device, own_dev, sizeof own_dev, &err))
      return cli_dist_end(dist, cli_dist_report("bench", dist, &err));
    device = own_dev[0] ? own_dev : NULL;
    snprintf(rank_out, sizeof rank_out, "%s/clippo-bench-rank-XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (clippo_dist_rank(dist) > 0) { /* the others' reports go nowhere */
      if (!mkdtemp(rank_out) || !freopen("/dev/null", "w", stdout)) return cli_dist_end(dist, 1);
      out_dir = rank_out;
    }
  }
  if (check_out_dir(out_dir)) return cli_dist_end(dist, 1);
  char *owned_fonts = NULL;
  if (cli_fonts_from_env("bench", &fonts, &owned_fonts)) return 1;
  o.fonts = fonts.items;
  o.nfonts = fonts.n;

  clippo_device_info *devs = NULL;
  size_t ndev = 0;
  int rc = select_devices(all, device, &devs, &ndev);
  clippo_bench_opts ro;
  clippo_bench_opts_resolve(&o, &ro);
  /* Rows measured once for every device: PyTorch CPU beside B/16 at batch 8 (else the first
   * batch), and the peer runtimes. */
  clippo_bench_row extra[MAX_EXTRA];
  size_t nextra = 0;
  char vlist[64];
  snprintf(vlist, sizeof vlist, ",%s,", ro.variants);
  int b16 = strstr(vlist, ",b16,") != NULL;
  if (!rc && (ro.suites & CLIPPO_BENCH_EMBED) && b16 && !no_pytorch) {
    size_t batch = ro.batches[0];
    for (size_t i = 0; i < ro.nbatches; i++)
      if (ro.batches[i] == 8) batch = 8;
    run_pytorch(script, batch, &ro, &extra[nextra]);
    print_row(&extra[nextra++], NULL);
  }
  if (!rc && !no_peers) {
    size_t np = cli_bench_peers(&ro, b16, extra + nextra, MAX_EXTRA - nextra);
    for (size_t i = 0; i < np; i++) print_row(&extra[nextra + i], NULL);
    nextra += np;
  }
  for (size_t d = 0; d < ndev; d++) {
    int r = bench_device(&devs[d], &o, &ro, extra, nextra, !no_peers, b16, out_dir);
    if (r) rc = r;
  }
  free(devs);
  free(owned_fonts);
  if (clippo_dist_rank(dist) > 0) remove_tree(rank_out);
  return cli_dist_end(dist, rc);
}
