/* Running a risky parser in a throw-away child process (internal to the library).
 *
 * Some third-party libraries (libhdf5 1.10 above all) crash on crafted or corrupt files, or
 * leave broken state behind after a failed write (a full disk) that crashes the process at exit.
 * Loaders run such a parser first in a forked child, which only reads and discards; the caller
 * then parses in-process only what the child got through. Writers write the temporary file from
 * a child. A child that dies (signal, sanitizer report, time limit) turns into a clear error
 * naming the file. */
#ifndef CLIPPO_IO_ISOLATE_H
#define CLIPPO_IO_ISOLATE_H

#include "clippo/status.h"

/** A check to run in the child: returns a status and fills err like any library call. */
typedef clippo_status (*clippo_isolated_fn)(void *ctx, clippo_error *err);

/** Runs fn(ctx) in a forked child with stdout/stderr discarded, no core dump and a CPU-time
 * limit of timeout_s seconds (0: none). Sets *ran to 1 and returns fn's status and message when
 * the child finished; when it died, CLIPPO_E_FORMAT (reading) or CLIPPO_E_IO (writing) with
 * "<what>: <library> crashed while <doing> ...<hint>". When no child can be started (no fork)
 * fn is not run, *ran is 0 and CLIPPO_OK is returned: the caller then does the work
 * in-process, just without the guard. */
clippo_status clippo_run_isolated(clippo_isolated_fn fn, void *ctx, const char *what,
                                  const char *library, const char *doing, const char *hint,
                                  unsigned timeout_s, int *ran, clippo_error *err);

#endif
