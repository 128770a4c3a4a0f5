/* Other processes `clippo bench` runs beside the engine (cli_bench_extern.h). */
#include "cli_bench_extern.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

void cli_shell_quote(const char *s, char *out, size_t size) {
  size_t o = 0;
  if (size < 3) {
    if (size) out[0] = '\0';
    return;
  }
  out[o++] = '\'';
  for (; *s && o + 6 < size; s++) {
    if (*s == '\'') {
      memcpy(out + o, "'\\''", 4);
      o += 4;
    } else {
      out[o++] = *s;
    }
  }
  out[o++] = '\'';
  out[o] = '\0';
}

int cli_run_json_command(const char *cmd, char *line, size_t size) {
  line[0] = '\0';
  fflush(stdout);
  FILE *p = popen(cmd, "r");
  if (!p) return -1;
  char buf[8192];
  while (fgets(buf, sizeof buf, p))
    if (buf[0] == '{') {
      buf[strcspn(buf, "\r\n")] = '\0';
      snprintf(line, size, "%s", buf);
    }
  int rc = pclose(p);
  if (rc == -1) return -1;
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : 128;
}

void cli_self_exe(char *out, size_t size) {
  ssize_t n = readlink("/proc/self/exe", out, size - 1);
  out[n > 0 ? (size_t)n : 0] = '\0';
}

int cli_file_readable(const char *p) { return p && *p && access(p, R_OK) == 0; }

void cli_find_source_file(const char *rel, char *out, size_t size) {
  const char *src = getenv("CLIPPO_SOURCE_DIR");
  if (src && *src) {
    snprintf(out, size, "%s/%s", src, rel);
    if (cli_file_readable(out)) return;
  }
  snprintf(out, size, "%s", rel);
  if (cli_file_readable(out)) return;
  char exe[1024];
  cli_self_exe(exe, sizeof exe);
  char *slash = strrchr(exe, '/');
  if (slash) {
    *slash = '\0';
    snprintf(out, size, "%s/../%s", exe, rel);
    if (cli_file_readable(out)) return;
  }
  out[0] = '\0';
}

void cli_bench_row_missing(clippo_bench_row *row, const char *suite, const char *name,
                           const char *impl, size_t batch, const char *status, const char *note) {
  memset(row, 0, sizeof *row);
  snprintf(row->suite, sizeof row->suite, "%s", suite);
  snprintf(row->name, sizeof row->name, "%s", name);
  snprintf(row->impl, sizeof row->impl, "%s", impl);
  snprintf(row->status, sizeof row->status, "%s", status);
  snprintf(row->note, sizeof row->note, "%s", note);
  row->batch = batch;
}

/* One peers.py measurement (args after the script) into row. */
static void run_peer(const char *py, const char *script, const char *args, const char *suite,
                     const char *name, const char *impl, size_t batch, clippo_bench_row *row) {
  char qpy[1200], qs[1200], cmd[3000], line[16384];
  cli_shell_quote(py, qpy, sizeof qpy);
  cli_shell_quote(script, qs, sizeof qs);
  snprintf(cmd, sizeof cmd, "%s %s %s 2>/dev/null", qpy, qs, args);
  fprintf(stderr, "clippo bench: running peer: %s\n", cmd);
  int rc = cli_run_json_command(cmd, line, sizeof line);
  clippo_error err;
  if (rc != 0 || !line[0] || clippo_bench_row_from_json(line, row, &err) != CLIPPO_OK) {
    char note[256];
    snprintf(note, sizeof note, "peers.py %s exited with %d%s", args, rc,
             line[0] ? "" : " and printed no JSON");
    cli_bench_row_missing(row, suite, name, impl, batch, rc < 0 ? "unavailable" : "failed", note);
  }
}

size_t cli_bench_peers(const clippo_bench_opts *ro, int b16, clippo_bench_row *rows, size_t cap) {
  int embed = b16 && (ro->suites & CLIPPO_BENCH_EMBED), train = ro->suites & CLIPPO_BENCH_TRAIN;
  if ((!embed && !train) || cap == 0) return 0;
  char script[1200], venv[1200];
  cli_find_source_file("bench/peers/peers.py", script, sizeof script);
  cli_find_source_file("bench/peers/.venv/bin/python", venv, sizeof venv);
  if (!script[0] || !venv[0] || access(venv, X_OK) != 0) {
    cli_bench_row_missing(
        &rows[0], embed ? "embed" : "train", embed ? "b16" : "steps", "peers", 0, "unavailable",
        "no peers' environment (bench/peers/.venv): run `bash bench/peers/setup.sh` in "
        "the source tree (or set CLIPPO_SOURCE_DIR)");
    return 1;
  }
  static const char *const runtimes[] = {"onnxruntime", "openvino", "torch", "torch-compile",
                                         "onnxruntime-int8"};
  int runs = ro->quick && ro->runs > 2 ? 2 : ro->runs, warm = ro->warmup > 0 ? ro->warmup : 1;
  size_t n = 0;
  char args[256], impl[64];
  for (size_t b = 0; embed && b < ro->nbatches; b++)
    for (size_t r = 0; r < sizeof runtimes / sizeof runtimes[0] && n < cap; r++) {
      snprintf(args, sizeof args, "embed --runtime %s --batch %zu --runs %d --warmup %d",
               runtimes[r], ro->batches[b], runs, warm);
      snprintf(impl, sizeof impl, "peer-%s", runtimes[r]);
      run_peer(venv, script, args, "embed", "b16", impl, ro->batches[b], &rows[n++]);
    }
  for (int c = 0; train && c < 2 && n < cap; c++) {
    snprintf(args, sizeof args, "train --batch 64 --runs %d --warmup %d%s", runs, warm + 1,
             c ? " --compile" : "");
    run_peer(venv, script, args, "train", "steps", c ? "peer-torch-compile" : "peer-torch", 64,
             &rows[n++]);
  }
  return n;
}

int cli_bench_same_row(const clippo_bench_row *a, const clippo_bench_row *b) {
  return !strcmp(a->suite, b->suite) && !strcmp(a->name, b->name) && !strcmp(a->impl, b->impl) &&
         a->batch == b->batch;
}

void cli_bench_keep_faster(clippo_bench_row *r, const clippo_bench_row *a, const char *what) {
  int ok1 = !strcmp(r->status, "ok"), ok2 = !strcmp(a->status, "ok");
  if (ok1 && ok2) {
    double first = r->median_s, second = a->median_s;
    if (second < first) *r = *a;
    char note[sizeof r->note];
    snprintf(note, sizeof note, "faster of two passes, %s: %.3f, %.3f ms%s%s", what, first * 1e3,
             second * 1e3, r->note[0] ? "; " : "", r->note);
    snprintf(r->note, sizeof r->note, "%s", note);
  } else if (!ok1 && ok2) {
    *r = *a;
  }
}

void cli_bench_peers_merge(clippo_bench_row *rows, size_t n, const clippo_bench_row *again,
                           size_t nagain) {
  for (size_t i = 0; i < n; i++) {
    if (strncmp(rows[i].impl, "peer-", 5) != 0) continue;
    for (size_t j = 0; j < nagain; j++)
      if (cli_bench_same_row(&again[j], &rows[i])) {
        cli_bench_keep_faster(&rows[i], &again[j], "around the engine's rows");
        break;
      }
  }
}
