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

/* Appends v to list; 2 after a usage error when it is full. */
static int list_push(const char *cmd, const char *what, cli_list *list, const char *v) {
  if (list->n == list->cap) return cli_usage_error(cmd, "more than %zu %s", list->cap, what);
  list->items[list->n++] = v;
  return 0;
}

/* Applies option o at argv[*i] (already known to match its name); 0, or 2 after a message. */
static int apply_option(const char *cmd, int argc, char **argv, int *i, const cli_option *o) {
  const char *v = NULL;
  switch (o->kind) {
  case CLI_SET: *(int *)o->out = 1; return 0;
  case CLI_CLEAR: *(int *)o->out = 0; return 0;
  default: break;
  }
  if (cli_opt(argc, argv, i, o->name, &v) <= 0 || !v) return 2;
  switch (o->kind) {
  case CLI_STRING: *(const char **)o->out = v; return 0;
  case CLI_LONG: return cli_parse_int(o->name, v, o->lo, o->hi, (long *)o->out) ? 2 : 0;
  case CLI_LIST: return list_push(cmd, o->name, (cli_list *)o->out, v);
  default: return 2;
  }
}

/* The entry of opts that argv[i] names (flags exactly; value options also as NAME=VALUE). */
static const cli_option *find_option(const char *a, const cli_option *opts, size_t nopts) {
  for (size_t k = 0; k < nopts; k++) {
    size_t n = strlen(opts[k].name);
    if (strncmp(a, opts[k].name, n) != 0) continue;
    int flag = opts[k].kind == CLI_SET || opts[k].kind == CLI_CLEAR;
    if (a[n] == '\0' || (!flag && a[n] == '=')) return &opts[k];
  }
  return NULL;
}

int cli_parse(const char *cmd, int argc, char **argv, const cli_option *opts, size_t nopts,
              cli_list *positional) {
  int only_positional = 0;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!only_positional && a[0] == '-' && a[1] != '\0') {
      if (!strcmp(a, "--help") || !strcmp(a, "-h")) return -1;
      if (!strcmp(a, "--")) {
        only_positional = 1;
        continue;
      }
      const cli_option *o = find_option(a, opts, nopts);
      if (!o) return cli_usage_error(cmd, "unknown option '%s'", a);
      int rc = apply_option(cmd, argc, argv, &i, o);
      if (rc) return rc;
      continue;
    }
    if (!positional || positional->n == positional->cap)
      return cli_usage_error(cmd, "unexpected argument '%s'", a);
    positional->items[positional->n++] = a;
  }
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
