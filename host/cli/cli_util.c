/* Small helpers shared by the subcommands. */
#include "cli_util.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cli_opt(int argc, char **argv, int *i, const char *name, const char **value) {
  const char *a = argv[*i];
  size_t n = strlen(name);
  if (strncmp(a, name, n) != 0) return 0;
  if (a[n] == '=') {
    *value = a + n + 1;
    return 1;
  }
  if (a[n] != '\0') return 0;
  if (*i + 1 >= argc) {
    fprintf(stderr, "clippo: option %s needs a value\n", name);
    return -1;
  }
  *value = argv[++*i];
  return 1;
}

int cli_flag(char **argv, int i, const char *name) { return strcmp(argv[i], name) == 0; }

int cli_parse_int(const char *name, const char *value, long lo, long hi, long *out) {
  char *end = NULL;
  errno = 0;
  long v = strtol(value, &end, 10);
  if (errno || !end || *end || end == value || v < lo || v > hi) {
    fprintf(stderr, "clippo: %s must be an integer in %ld..%ld, got '%s'\n", name, lo, hi, value);
    return -1;
  }
  *out = v;
  return 0;
}

int cli_report(const char *cmd, const clippo_error *err) {
  fprintf(stderr, "clippo %s: error: %s\n", cmd, err->msg[0] ? err->msg : "unknown failure");
  return 1;
}

int cli_usage_error(const char *cmd, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "clippo %s: ", cmd);
  vfprintf(stderr, fmt, ap);
  fprintf(stderr, "\nTry 'clippo %s --help'.\n", cmd);
  va_end(ap);
  return 2;
}

/* ---- sanitizer builds (-DCLIPPO_SANITIZE=ON) ---- */
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CLIPPO_CLI_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) && !defined(CLIPPO_CLI_ASAN)
#define CLIPPO_CLI_ASAN 1
#endif
#ifdef CLIPPO_CLI_ASAN
/* The OpenCL ICD loader and drivers (Mesa clover and rusticl, PoCL, their LLVM) leak a few
 * blocks per process that are not ours to free; LeakSanitizer reports them at exit of every
 * run that touches a device. Suppress leaks allocated below those libraries; ours still show. */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void) {
  return "leak:libOpenCL.so\nleak:libMesaOpenCL.so\nleak:libRusticlOpenCL.so\nleak:libpocl.so\n"
         "leak:libLLVM\nleak:libclang-cpp\nleak:libhdf5\n";
}
const char *__lsan_default_options(void);
const char *__lsan_default_options(void) { return "print_suppressions=0"; }
/* No __asan_default_options: ASAN_OPTIONS cannot be read that early (getenv gives NULL), and
 * forcing fast_unwind_on_malloc=0 deadlocks Mesa rusticl's LLVM JIT inside the unwinder. */
#endif
