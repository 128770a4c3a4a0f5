/* Running a risky parser in a throw-away child process (internal to the library).
 *
 * Some third-party libraries (libhdf5 1.10 above all) crash on crafted or corrupt files, or
 * leave broken state behind after a failed write (a full disk) that crashes the process at exit.
 * Loaders run such a parser first in a forked child, which only reads and discards; the caller
 * then parses in-process only what the child got through. Writers write the temporary file from
 * a child. A child that dies (signal, sanitizer report, CPU or wall-clock limit) turns into a
 * clear error naming the file; a child that blocks never hangs the caller past its limit. */
#ifndef CLIPPO_IO_ISOLATE_H
#define CLIPPO_IO_ISOLATE_H

#include "clippo/status.h"

/** A check to run in the child: returns a status and fills err like any library call. */
typedef clippo_status (*clippo_isolated_fn)(void *ctx, clippo_error *err);

/** Limits of the child: CPU seconds (a busy loop) and wall-clock seconds (a child blocked on
 * a lock or a read, which uses no CPU); 0: no such limit. */
typedef struct clippo_isolate_limits {
  unsigned cpu_s;
  unsigned wall_s;
} clippo_isolate_limits;

/** Runs fn(ctx) in a forked child with stdout/stderr discarded, no core dump, and the limits
 * (NULL: none): past cpu_s the kernel stops it (SIGXCPU), past wall_s the parent kills it
 * (SIGKILL) and stops waiting. Sets *ran to 1 and returns fn's status and message when the
 * child finished; when it died or was stopped, CLIPPO_E_FORMAT (hint not empty: reading) or
 * CLIPPO_E_IO (writing) with "<what>: <library> crashed|took too long while <doing> ...<hint>".
 * When no child can be started (no fork) fn is not run, *ran is 0 and CLIPPO_OK is returned:
 * the caller then does the work in-process, just without the guard. */
clippo_status clippo_run_isolated(clippo_isolated_fn fn, void *ctx, const char *what,
                                  const char *library, const char *doing, const char *hint,
                                  const clippo_isolate_limits *limits, int *ran, clippo_error *err);

#endif
