/* Small helpers shared by the subcommands. */
#include "cli_util.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clippo/runtime.h"
#include "clippo/text.h"

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

/* A finite number in lo..hi; -1 after a message when value is not one. */
static int parse_double(const char *name, const char *value, long lo, long hi, double *out) {
  char *end = NULL;
  errno = 0;
  double d = strtod(value, &end);
  if (errno || !end || *end || end == value || !isfinite(d) || d < (double)lo ||
      (hi != LONG_MAX && d > (double)hi)) {
    if (hi == LONG_MAX)
      fprintf(stderr, "clippo: %s must be a number >= %ld, got '%s'\n", name, lo, value);
    else
      fprintf(stderr, "clippo: %s must be a number in %ld..%ld, got '%s'\n", name, lo, hi, value);
    return -1;
  }
  *out = d;
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
  long x = 0;
  switch (o->kind) {
  case CLI_STRING:
  case CLI_DEVICE: *(const char **)o->out = v; return 0;
  case CLI_LONG: return cli_parse_int(o->name, v, o->lo, o->hi, (long *)o->out) ? 2 : 0;
  case CLI_INT:
    if (cli_parse_int(o->name, v, o->lo, o->hi, &x)) return 2;
    *(int *)o->out = (int)x;
    return 0;
  case CLI_LIST: return list_push(cmd, o->name, (cli_list *)o->out, v);
  case CLI_DOUBLE: return parse_double(o->name, v, o->lo, o->hi, (double *)o->out) ? 2 : 0;
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

static int unknown_option(const char *cmd, const char *a, const cli_option *opts, size_t nopts);

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
      if (!o) return unknown_option(cmd, a, opts, nopts);
      int rc = apply_option(cmd, argc, argv, &i, o);
      if (rc) return rc;
      continue;
    }
    if (!positional || positional->n == positional->cap)
      return cli_usage_error(cmd, "unexpected argument '%s'", a);
    positional->items[positional->n++] = a;
  }
  for (size_t k = 0; k < nopts; k++)
    if (opts[k].kind == CLI_DEVICE && cli_device_from_env(cmd, (const char **)opts[k].out))
      return 1;
  return 0;
}

/* Edit distance with adjacent transpositions (optimal string alignment), for short words. */
static size_t edit_distance(const char *a, const char *b) {
  size_t n = strlen(a), m = strlen(b);
  enum { MAXW = 64 };
  if (n >= MAXW || m >= MAXW) return (size_t)-1;
  size_t d[MAXW + 1][MAXW + 1];
  for (size_t i = 0; i <= n; i++) d[i][0] = i;
  for (size_t j = 0; j <= m; j++) d[0][j] = j;
  for (size_t i = 1; i <= n; i++)
    for (size_t j = 1; j <= m; j++) {
      size_t best = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
      if (d[i - 1][j] + 1 < best) best = d[i - 1][j] + 1;
      if (d[i][j - 1] + 1 < best) best = d[i][j - 1] + 1;
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
          d[i - 2][j - 2] + 1 < best)
        best = d[i - 2][j - 2] + 1;
      d[i][j] = best;
    }
  return d[n][m];
}

const char *cli_suggest(const char *word, const char *const *cands, size_t n) {
  size_t len = strlen(word), best = (size_t)-1, prefixed = 0;
  const char *pick = NULL, *prefix_pick = NULL;
  for (size_t i = 0; i < n; i++) {
    size_t dist = edit_distance(word, cands[i]);
    if (dist < best) {
      best = dist;
      pick = cands[i];
    }
    if (len >= 3 && strncmp(cands[i], word, len) == 0) {
      prefixed++;
      prefix_pick = cands[i];
    }
  }
  size_t limit = len / 3 > 1 ? len / 3 : 1;
  if (limit > 3) limit = 3;
  if (pick && best <= limit) return pick;
  return prefixed == 1 ? prefix_pick : NULL;
}

/* The usage error for an unknown option a ("--name" or "--name=value"), with a suggestion. */
static int unknown_option(const char *cmd, const char *a, const cli_option *opts, size_t nopts) {
  char name[128];
  size_t len = strcspn(a, "=");
  snprintf(name, sizeof name, "%.*s", (int)(len < sizeof name ? len : sizeof name - 1), a);
  const char *cands[128];
  size_t n = 0;
  for (size_t k = 0; k < nopts && n < 128; k++) cands[n++] = opts[k].name;
  if (n < 128) cands[n++] = "--help";
  const char *s = cli_suggest(name, cands, n);
  if (s && !strcmp(s, name)) return cli_usage_error(cmd, "option '%s' takes no value", name);
  if (s) return cli_usage_error(cmd, "unknown option '%s' (did you mean '%s'?)", name, s);
  return cli_usage_error(cmd, "unknown option '%s'", name);
}

int cli_device_from_env(const char *cmd, const char **spec) {
  const char *env = getenv("CLIPPO_DEVICE");
  if (*spec || !env || !*env) return 0;
  clippo_device_info info;
  clippo_error err;
  if (clippo_device_select(env, &info, &err) != CLIPPO_OK) {
    fprintf(stderr, "clippo %s: error: %s (from CLIPPO_DEVICE)\n", cmd, err.msg);
    return 1;
  }
  *spec = env;
  return 0;
}

int cli_check_env_path(const char *cmd, const char *what, const char *path, const char *env) {
  if (!path || path != getenv(env) || access(path, R_OK) == 0) return 0;
  fprintf(stderr, "clippo %s: error: %s %s (from %s) is not readable: %s\n", cmd, what, path, env,
          strerror(errno));
  return 1;
}

int cli_fonts_from_env(const char *cmd, cli_list *fonts, char **owned) {
  *owned = NULL;
  const char *env = getenv(CLIPPO_FONT_ENV);
  if (fonts->n || !env || !*env) return 0;
  char *copy = strdup(env);
  if (!copy) {
    fprintf(stderr, "clippo %s: error: out of memory\n", cmd);
    return 1;
  }
  for (char *save = NULL, *p = strtok_r(copy, ":", &save); p; p = strtok_r(NULL, ":", &save)) {
    if (access(p, R_OK) != 0) {
      fprintf(stderr, "clippo %s: error: font file %s (from %s) is not readable: %s\n", cmd, p,
              CLIPPO_FONT_ENV, strerror(errno));
      free(copy);
      return 1;
    }
    if (fonts->n == fonts->cap) {
      fprintf(stderr, "clippo %s: error: %s names more than %zu font files\n", cmd, CLIPPO_FONT_ENV,
              fonts->cap);
      free(copy);
      return 1;
    }
    fonts->items[fonts->n++] = p;
  }
  if (fonts->n == 0) {
    fprintf(stderr, "clippo %s: error: %s='%s' names no font file\n", cmd, CLIPPO_FONT_ENV, env);
    free(copy);
    return 1;
  }
  *owned = copy;
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

/* Sanitizer builds (-DCLIPPO_SANITIZE=ON): LeakSanitizer's suppressions for the OpenCL drivers'
 * own allocations are in tests/lsan.supp (LSAN_OPTIONS=suppressions=tests/lsan.supp; ctest sets
 * it), not compiled in here. No __asan_default_options: forcing fast_unwind_on_malloc=0
 * deadlocks Mesa rusticl's LLVM JIT inside the unwinder. */
