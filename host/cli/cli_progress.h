/* Progress on stderr for the subcommands' long loops, and the runtime's notices (a cold kernel
 * cache). A bar redrawn in place when stderr is a terminal, else one line every few seconds;
 * nothing for work that ends within the first ~2 seconds.
 *
 * Environment (read by cli_progress_start): CLIPPO_PROGRESS = auto (default) | bar | lines | off,
 * CLIPPO_PROGRESS_INTERVAL = seconds between lines (default 5; 0 prints every update, from the
 * start, which the tests use). */
#ifndef CLIPPO_CLI_PROGRESS_H
#define CLIPPO_CLI_PROGRESS_H

#include <stddef.h>

#include "clippo/runtime.h"

/** The state of one progress display. Fill it with cli_progress_start; no allocation. */
typedef struct cli_progress {
  const char *cmd;  /* lines start "clippo CMD: " */
  const char *unit; /* what is counted: "images", "texts"... */
  size_t total;     /* 0: unknown */
  size_t done;
  double t0;     /* start (monotonic seconds) */
  double last;   /* last time something was drawn */
  double delay;  /* nothing before t0 + delay */
  double period; /* seconds between lines (bar: between redraws) */
  int mode;      /* 0 off, 1 lines, 2 bar */
  int shown;     /* something was drawn */
  int on_screen; /* a bar is on the current terminal line */
} cli_progress;

/** Starts counting `total` items of `unit` for command cmd (strings must outlive p). quiet (or
 * CLIPPO_PROGRESS=off) turns the display off; messages still print. */
void cli_progress_start(cli_progress *p, const char *cmd, const char *unit, size_t total,
                        int quiet);

/** Sets the number of items done and draws when due. */
void cli_progress_update(cli_progress *p, size_t done);

/** Adds n items done and draws when due. */
void cli_progress_add(cli_progress *p, size_t n);

/** Prints "clippo CMD: MESSAGE" on its own line of stderr without garbling the bar (which is
 * redrawn at the next update). */
void cli_progress_message(cli_progress *p, const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/** Ends the display: a final line (or the full bar and a newline) when anything was shown. */
void cli_progress_finish(cli_progress *p);

/** Formats the display text (without "clippo CMD: "): "[=====>    ] 123/1000 images  45.6/s
 * ETA 0:19" (bar_width 0: no bar, and the percentage instead). */
void cli_progress_format(char *buf, size_t cap, const cli_progress *p, double now, int bar_width);

/** Makes rt report its notices on stderr as command cmd: "compiling OpenCL kernels for DEVICE
 * (first run; cached in DIR)" when a kernel is built from source. cmd must outlive rt. NULL rt
 * is fine. */
void cli_watch_runtime(const char *cmd, clippo_rt *rt);

#endif
