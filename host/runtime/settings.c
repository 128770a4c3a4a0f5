/* The engine's settings from the environment (include/clippo/runtime.h: clippo_settings). This is
 * the only file below the command-line program that calls getenv: every layer reads the copy a
 * runtime keeps, so a value cannot change in the middle of a run and nothing re-reads the
 * environment on every launch. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "clippo/runtime.h"

void clippo_settings_default(clippo_settings *s) {
  memset(s, 0, sizeof *s);
  s->precision = CLIPPO_PRECISION_FP32;
  s->ops_variant = CLIPPO_OPS_AUTO;
  snprintf(s->tmp_dir, sizeof s->tmp_dir, "/tmp");
  snprintf(s->blas_env, sizeof s->blas_env,
           "OPENBLAS_CORETYPE=(unset), OPENBLAS_NUM_THREADS=(unset)");
}

/* Copies env `name` (unset or empty: "") into dst[size]; too long is CLIPPO_E_ARG. */
static clippo_status read_var(const char *name, char *dst, size_t size, clippo_error *err) {
  const char *v = getenv(name);
  if (!v) v = "";
  if (strlen(v) >= size)
    return clippo_fail(err, CLIPPO_E_ARG, "env %s is longer than %zu characters", name, size - 1);
  snprintf(dst, size, "%s", v);
  return CLIPPO_OK;
}

/* $CLIPPO_CACHE_DIR ("off" disables), else $XDG_CACHE_HOME/clippo, else ~/.cache/clippo. */
static clippo_status read_cache_dir(clippo_settings *s, clippo_error *err) {
  char c[1024], x[1024], h[1024];
  clippo_status st = read_var("CLIPPO_CACHE_DIR", c, sizeof c, err);
  if (!st) st = read_var("XDG_CACHE_HOME", x, sizeof x, err);
  if (!st) st = read_var("HOME", h, sizeof h, err);
  if (st) return st;
  const char *base = c[0] ? c : x[0] ? x : h;
  const char *tail = c[0] ? "" : x[0] ? "/clippo" : h[0] ? "/.cache/clippo" : "";
  if (!strcmp(c, "off")) base = tail = "";
  if (strlen(base) + strlen(tail) >= sizeof s->cache_dir)
    return clippo_fail(err, CLIPPO_E_ARG, "the cache folder %s%s is longer than %zu characters",
                       base, tail, sizeof s->cache_dir - 1);
  snprintf(s->cache_dir, sizeof s->cache_dir, "%s%s", base, tail);
  return CLIPPO_OK;
}

/* A choice of two from env `var`: unset, empty or "auto" give 0, names[i] (any case) gives i + 1;
 * anything else is CLIPPO_E_ARG naming the variable, the value and the choices (`what` says what
 * they are). */
static clippo_status read_choice(const char *var, const char *const names[], int count,
                                 const char *what, int *out, clippo_error *err) {
  char v[32];
  clippo_status st = read_var(var, v, sizeof v, err);
  if (st) return st;
  *out = 0;
  if (!v[0] || !strcasecmp(v, "auto")) return CLIPPO_OK;
  char list[96] = "";
  for (int i = 0; i < count; i++) {
    if (!strcasecmp(v, names[i])) {
      *out = i + 1;
      return CLIPPO_OK;
    }
    size_t used = strlen(list);
    snprintf(list + used, sizeof list - used, "%s, ", names[i]);
  }
  return clippo_fail(err, CLIPPO_E_ARG, "env %s: unknown %s '%s' (%sor auto)", var, what, v, list);
}

clippo_status clippo_settings_from_env(clippo_settings *s, clippo_error *err) {
  clippo_settings_default(s);
  char prec[32], ct[64], nt[64];
  clippo_status st = read_var("CLIPPO_DEVICE", s->device, sizeof s->device, err);
  if (!st) st = read_cache_dir(s, err);
  if (!st)
    st = read_var("CLIPPO_PRECOMPILED_DIR", s->precompiled_dir, sizeof s->precompiled_dir, err);
  if (!st) st = read_var("CLIPPO_PRECISION", prec, sizeof prec, err);
  if (!st && prec[0]) {
    st = clippo_precision_parse(prec, &s->precision, err);
    if (st) clippo_error_prefix(err, "env CLIPPO_PRECISION");
  }
  static const char *const variants[2] = {"row", "group"};
  static const char *const attention[3] = {"gemm", "flash", "rows"};
  int choice = 0;
  if (!st) st = read_choice("CLIPPO_OPS_VARIANT", variants, 2, "op kernel variant", &choice, err);
  if (!st) s->ops_variant = (clippo_ops_variant)choice; /* CLIPPO_OPS_ROW = 1, _GROUP = 2 */
  if (!st) st = read_choice("CLIPPO_ATTENTION", attention, 3, "attention", &choice, err);
  if (!st) s->attention = (clippo_attention_mode)choice; /* _GEMM = 1, _FLASH = 2, _ROWS = 3 */
  if (!st) st = read_var("CLIPPO_GEMM", s->gemm, sizeof s->gemm, err);
  if (!st) st = read_var("CLIPPO_GEMM_RECORD", s->gemm_record, sizeof s->gemm_record, err);
  if (!st) st = read_var("TMPDIR", s->tmp_dir, sizeof s->tmp_dir, err);
  if (!st && !s->tmp_dir[0]) snprintf(s->tmp_dir, sizeof s->tmp_dir, "/tmp");
  /* What the host BLAS runs with, as found: reported, never changed. */
  if (!st) st = read_var("OPENBLAS_CORETYPE", ct, sizeof ct, err);
  if (!st) st = read_var("OPENBLAS_NUM_THREADS", nt, sizeof nt, err);
  if (!st)
    snprintf(s->blas_env, sizeof s->blas_env, "OPENBLAS_CORETYPE=%s, OPENBLAS_NUM_THREADS=%s",
             ct[0] ? ct : "(unset)", nt[0] ? nt : "(unset)");
  return st;
}
