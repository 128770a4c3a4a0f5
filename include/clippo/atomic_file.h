/* Atomic file replacement: write a temporary file in the target's folder, flush and fsync it,
 * then rename it over the target. A reader sees either the old file or the complete new one;
 * a crash or an error never leaves a half-written target behind, and the temporary files of a
 * writer that died are removed by the next writer. (host/runtime/atomic_file.c: the lowest
 * layer, used by the kernel cache and by io.) */
#ifndef CLIPPO_ATOMIC_FILE_H
#define CLIPPO_ATOMIC_FILE_H

#include <stddef.h>
#include <stdio.h>

#include "clippo/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/** A file being written atomically. Zero-initialise, then clippo_atomic_open. */
typedef struct clippo_atomic_file {
  char *path;     /* final path */
  char *tmp_path; /* temporary file next to it */
  FILE *fp;       /* open for writing ("wb") */
} clippo_atomic_file;

/** Creates a fresh temporary file next to path (mode 0666 minus umask) and opens it for
 * writing in af->fp. */
clippo_status clippo_atomic_open(clippo_atomic_file *af, const char *path, clippo_error *err);

/** Writes len bytes to af; the error names the final path. */
clippo_status clippo_atomic_write(clippo_atomic_file *af, const void *data, size_t len,
                                  clippo_error *err);

/** Flushes, fsyncs and closes the temporary file, renames it over af->path and fsyncs the
 * folder. On failure the temporary file is removed and the target is untouched. Always
 * releases af. */
clippo_status clippo_atomic_commit(clippo_atomic_file *af, clippo_error *err);

/** Discards the temporary file and releases af; the target is untouched. Safe on a zeroed or
 * already released af. */
void clippo_atomic_abort(clippo_atomic_file *af);

/** Writes data[len] to path atomically. */
clippo_status clippo_write_file_atomic(const char *path, const void *data, size_t len,
                                       clippo_error *err);

/** For libraries that create files by name (HDF5, libzip): reserves a unique, empty temporary
 * file next to path and returns its name in *tmp (free() it). Finish with
 * clippo_atomic_publish, or remove() it on failure. */
clippo_status clippo_atomic_tmpname(const char *path, char **tmp, clippo_error *err);

/** Fsyncs the finished file tmp, renames it over path and fsyncs the folder. On failure tmp is
 * removed and path is untouched. */
clippo_status clippo_atomic_publish(const char *tmp, const char *path, clippo_error *err);

/** Removes, in folder dir, the temporary files of writers that died (kill -9, power loss) for
 * targets whose names end in suffix (NULL: any): "<target>.tmp-<pid>-<hex>" (and the kernel
 * cache's older "<target>.tmp.<pid>") whose pid no longer runs. Best effort, no errors.
 * clippo_atomic_open and clippo_atomic_tmpname already do this for their own target. */
void clippo_atomic_clean_dir(const char *dir, const char *suffix);

#ifdef __cplusplus
}
#endif
#endif
