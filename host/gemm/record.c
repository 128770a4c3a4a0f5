/* The per-device provider record: a small text file in the runtime's cache folder.
 *
 *   # clippo-cl gemm provider record v1
 *   # device: <platform> / <name> / <version> / <driver>
 *   <class> <provider> kernel=<TMxVWxNV/LXxLY/KC> clblast_gflops=<x> hostblas_gflops=<x>
 *   kernel_gflops=<x> onednn_gflops=<x> [declared=blocked|direct]   (all on one line)
 *
 * One line per shape class; GFLOP/s are informative (0 = not measured, negative = failed).
 * declared= is how oneDNN multiplies few rows by a declared weight (gemm_internal.h), where
 * measured. */
#include "gemm_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "clippo/atomic_file.h"

static const char header[] = "# clippo-cl gemm provider record v1";

const gemm_record_entry *gemm_record_find(const gemm_record *rec, const char *shape_class) {
  for (size_t i = 0; i < rec->n; i++)
    if (!strcmp(rec->e[i].shape_class, shape_class)) return &rec->e[i];
  return NULL;
}

/* 1 if s looks like a class name: mat|bat _ [nt][nt] _ [sl]. */
static int valid_class(const char *s) {
  return strlen(s) == 8 && (!strncmp(s, "mat_", 4) || !strncmp(s, "bat_", 4)) &&
         (s[4] == 'n' || s[4] == 't') && (s[5] == 'n' || s[5] == 't') && s[6] == '_' &&
         (s[7] == 's' || s[7] == 'l');
}

clippo_status gemm_record_load(const char *path, gemm_record *rec, clippo_error *err) {
  rec->n = 0;
  FILE *f = fopen(path, "r");
  if (!f) {
    if (errno == ENOENT) return CLIPPO_OK;
    return clippo_fail(err, CLIPPO_E_IO, "cannot read the gemm provider record %s: %s", path,
                       strerror(errno));
  }
  char line[512];
  int lineno = 0;
  clippo_status st = CLIPPO_OK;
  while (fgets(line, sizeof line, f)) {
    lineno++;
    if (!strchr(line, '\n') && !feof(f)) {
      st = clippo_fail(err, CLIPPO_E_FORMAT, "%s:%d: line too long", path, lineno);
      break;
    }
    char *save = NULL;
    char *tok = strtok_r(line, " \t\r\n", &save);
    if (!tok || tok[0] == '#') continue;
    if (!valid_class(tok)) {
      st = clippo_fail(err, CLIPPO_E_FORMAT,
                       "%s:%d: '%s' is not a gemm shape class (like mat_nn_l); delete the file "
                       "or run `clippo tune` again",
                       path, lineno, tok);
      break;
    }
    if (rec->n >= GEMM_RECORD_MAX) {
      st = clippo_fail(err, CLIPPO_E_FORMAT, "%s:%d: more than %d classes", path, lineno,
                       GEMM_RECORD_MAX);
      break;
    }
    gemm_record_entry e;
    memset(&e, 0, sizeof e);
    snprintf(e.shape_class, sizeof e.shape_class, "%s", tok);
    const char *pname = strtok_r(NULL, " \t\r\n", &save);
    if (!pname || clippo_gemm_provider_parse(pname, &e.provider, NULL) != CLIPPO_OK ||
        e.provider == CLIPPO_GEMM_AUTO) {
      st =
          clippo_fail(err, CLIPPO_E_FORMAT,
                      "%s:%d: class %s: expected a provider (clblast, hostblas, kernel or onednn), "
                      "got '%s'",
                      path, lineno, e.shape_class, pname ? pname : "");
      break;
    }
    while ((tok = strtok_r(NULL, " \t\r\n", &save))) {
      char *eq = strchr(tok, '=');
      if (!eq) continue;
      *eq = '\0';
      const char *val = eq + 1;
      if (!strcmp(tok, "kernel")) {
        clippo_error e2;
        if (clippo_gemm_kernel_cfg_parse(val, &e.kernel, &e2)) {
          st = clippo_fail(err, CLIPPO_E_FORMAT, "%s:%d: class %s: %s", path, lineno, e.shape_class,
                           e2.msg);
          break;
        }
      } else if (!strcmp(tok, "declared")) {
        if (!strcmp(val, "blocked")) {
          e.declared = GEMM_DECLARED_BLOCKED;
        } else if (!strcmp(val, "direct")) {
          e.declared = GEMM_DECLARED_DIRECT;
        } else {
          st = clippo_fail(err, CLIPPO_E_FORMAT,
                           "%s:%d: class %s: declared= is 'blocked' or 'direct', not '%s'", path,
                           lineno, e.shape_class, val);
          break;
        }
      } else {
        for (int p = 1; p < CLIPPO_GEMM_NPROVIDERS; p++) {
          char key[32];
          snprintf(key, sizeof key, "%s_gflops",
                   clippo_gemm_provider_name((clippo_gemm_provider)p));
          if (!strcmp(tok, key)) e.gflops[p] = strtod(val, NULL);
        }
      }
    }
    if (st) break;
    if (!gemm_record_find(rec, e.shape_class)) rec->e[rec->n++] = e;
  }
  if (!st && ferror(f))
    st = clippo_fail(err, CLIPPO_E_IO, "error reading the gemm provider record %s", path);
  fclose(f);
  if (st) rec->n = 0;
  return st;
}

/* mkdir -p for the folder part of path. */
static clippo_status make_parent(const char *path, clippo_error *err) {
  char buf[1100];
  snprintf(buf, sizeof buf, "%s", path);
  char *slash = strrchr(buf, '/');
  if (!slash || slash == buf) return CLIPPO_OK;
  *slash = '\0';
  for (char *p = buf + 1; *p; p++) {
    if (*p != '/') continue;
    *p = '\0';
    if (mkdir(buf, 0777) != 0 && errno != EEXIST)
      return clippo_fail(err, CLIPPO_E_IO, "cannot create folder %s: %s", buf, strerror(errno));
    *p = '/';
  }
  if (mkdir(buf, 0777) != 0 && errno != EEXIST)
    return clippo_fail(err, CLIPPO_E_IO, "cannot create folder %s: %s", buf, strerror(errno));
  return CLIPPO_OK;
}

clippo_status gemm_record_save(const clippo_rt *rt, const char *path, const gemm_record *rec,
                               clippo_error *err) {
  clippo_status st = make_parent(path, err);
  if (st) return st;
  size_t cap = 1024 + rec->n * 256, len = 0;
  char *text = malloc(cap);
  if (!text) return clippo_fail(err, CLIPPO_E_NOMEM, "out of memory writing %s", path);
  len += (size_t)snprintf(text + len, cap - len, "%s\n# device: %s / %s / %s / %s\n", header,
                          rt->info.platform, rt->info.name, rt->info.version, rt->info.driver);
  len += (size_t)snprintf(text + len, cap - len,
                          "# class provider kernel=TMxVWxNV/LXxLY/KC then GFLOP/s measured per "
                          "provider (negative: failed)\n");
  for (size_t i = 0; i < rec->n && len < cap; i++) {
    const gemm_record_entry *e = &rec->e[i];
    char cfg[64];
    clippo_gemm_kernel_cfg_format(&e->kernel, cfg, sizeof cfg);
    len += (size_t)snprintf(text + len, cap - len, "%s %s kernel=%s", e->shape_class,
                            clippo_gemm_provider_name(e->provider), cfg);
    for (int p = 1; p < CLIPPO_GEMM_NPROVIDERS && len < cap; p++)
      len += (size_t)snprintf(text + len, cap - len, " %s_gflops=%.1f",
                              clippo_gemm_provider_name((clippo_gemm_provider)p), e->gflops[p]);
    if (e->declared != GEMM_DECLARED_AUTO && len < cap)
      len += (size_t)snprintf(text + len, cap - len, " declared=%s",
                              e->declared == GEMM_DECLARED_DIRECT ? "direct" : "blocked");
    if (len < cap) len += (size_t)snprintf(text + len, cap - len, "\n");
  }
  if (len >= cap) len = cap - 1;
  st = clippo_write_file_atomic(path, text, len, err);
  free(text);
  if (st) return clippo_error_prefix(err, "writing the gemm provider record");
  return CLIPPO_OK;
}
