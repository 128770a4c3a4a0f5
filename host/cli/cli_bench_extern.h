/* What `clippo bench` runs beside the engine in other processes: bench/pytorch_vit.py and the
 * peer runtimes of bench/peers/peers.py (ONNX Runtime, OpenVINO, PyTorch 2) in their virtual
 * environment, each printing one JSON result row. */
#ifndef CLIPPO_CLI_BENCH_EXTERN_H
#define CLIPPO_CLI_BENCH_EXTERN_H

#include <stddef.h>

#include "clippo/bench.h"

/** Single-quotes s for /bin/sh into out[size]. */
void cli_shell_quote(const char *s, char *out, size_t size);

/** Runs a shell command and keeps its last stdout line that starts with '{' in line[size].
 * Returns the exit status (-1 when it could not run). */
int cli_run_json_command(const char *cmd, char *line, size_t size);

/** The path of this program in out[size], or "" (Linux only: /proc/self/exe). */
void cli_self_exe(char *out, size_t size);

/** 1 if p names a file this process can read. */
int cli_file_readable(const char *p);

/** Fills row as a measurement that did not happen: suite, name, impl, batch, status
 * ("unavailable" or "failed") and the note saying why. */
void cli_bench_row_missing(clippo_bench_row *row, const char *suite, const char *name,
                           const char *impl, size_t batch, const char *status, const char *note);

/** Finds the source-tree file `rel` (e.g. "bench/pytorch_vit.py"): under $CLIPPO_SOURCE_DIR,
 * the working folder, or the folder above this program's; out gets "" when none is readable. */
void cli_find_source_file(const char *rel, char *out, size_t size);

/** The peers' rows: for the embed suite (with B/16 among ro's variants) ViT-B/16 embedding at each
 * of ro's batches in ONNX Runtime, OpenVINO, PyTorch eager and torch.compile (float32) and ONNX
 * Runtime int8; for the train suite the PyTorch twin's training step (eager and compiled). Run
 * by bench/peers/.venv/bin/python (made by bench/peers/setup.sh); without it one row says
 * "unavailable" and how to make it. At most cap rows go to rows; returns how many. */
size_t cli_bench_peers(const clippo_bench_opts *ro, int b16, clippo_bench_row *rows, size_t cap);

/* 1 when a and b measure the same thing (suite, name, impl, batch). */
int cli_bench_same_row(const clippo_bench_row *a, const clippo_bench_row *b);

/* r keeps the faster of its pass and a's (both ok), or a's where only a's came out; the note
 * gives both medians: "faster of two passes, <what>: first, second ms". */
void cli_bench_keep_faster(clippo_bench_row *r, const clippo_bench_row *a, const char *what);

/** Merges a second pass of the peers (cli_bench_peers after a device's own measurements) into
 * the first, rows matched by suite, name, impl and batch: a row measured in both keeps the faster
 * pass (the smaller median), its note giving both medians; a row that failed once keeps the pass
 * that worked. So every device's rows are measured between two passes of the peers, and a
 * machine slowing down or speeding up between the two blocks does not tilt the ratios toward
 * the engine. */
void cli_bench_peers_merge(clippo_bench_row *rows, size_t n, const clippo_bench_row *again,
                           size_t nagain);

#endif
