/* Helpers shared by the libFuzzer targets (tests/fuzz/fuzz_*.c) and by the regression replayer
 * (tests/test_fuzz_regressions.c, which #includes the targets with FUZZ_ENTRY renamed).
 *
 * Each target defines FUZZ_ENTRY (LLVMFuzzerTestOneInput unless the includer renames it): it
 * feeds the bytes to one parser and abort()s when an invariant breaks; crashes and sanitizer
 * reports are findings too. Loaders that take a path get the bytes through a scratch file that
 * is removed again before the entry returns. */
#ifndef CLIPPO_FUZZ_UTIL_H
#define CLIPPO_FUZZ_UTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef FUZZ_ENTRY
#define FUZZ_ENTRY LLVMFuzzerTestOneInput
#endif

/* A scratch file name unique to this process and tag: in /dev/shm when it is writable (no disk
 * traffic), else in $TMPDIR or /tmp. */
static inline void fuzz_tmp_path(const char *tag, char *buf, size_t cap) {
  const char *dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : getenv("TMPDIR");
  if (!dir || !*dir) dir = "/tmp";
  snprintf(buf, cap, "%s/clippo-fuzz-%ld-%s", dir, (long)getpid(), tag);
}

/* Writes data[size] to path; 0 on success. */
static inline int fuzz_write_file(const char *path, const uint8_t *data, size_t size) {
  FILE *f = fopen(path, "wb");
  if (!f) return -1;
  int ok = size == 0 || fwrite(data, 1, size, f) == size;
  if (fclose(f) != 0) ok = 0;
  return ok ? 0 : -1;
}

/* The message of a failed call must say something. */
static inline void fuzz_check_error(int failed, const char *msg) {
  if (failed && (!msg || !msg[0])) abort();
}

#endif
