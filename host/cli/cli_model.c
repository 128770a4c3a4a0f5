/* Opening the device, the model and the font for the model subcommands. */
#include "cli_model.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_paths.h"
#include "cli_progress.h"
#include "cli_util.h"

/* Largest text file read (one text per line). */
#define CLI_MAX_TEXT_FILE ((size_t)1 << 28)

const char *cli_default_model(const char *cmd, char *buf, size_t cap) {
  const char *env = getenv("CLIPPO_MODEL");
  if (env && *env) return env;
  if (cli_data_file(CLI_DEFAULT_MODEL_FILE, buf, cap) == 0) return buf;
  fprintf(stderr, "clippo %s: error: no --model given and the default model %s\n", cmd, buf);
  return NULL;
}

int cli_open_model(const char *cmd, const char *device, const char *model_path, size_t batch,
                   clippo_rt **rt, clippo_model **model) {
  clippo_error err;
  *rt = NULL;
  *model = NULL;
  if (clippo_rt_create(rt, device, &err) != CLIPPO_OK) return cli_report(cmd, &err);
  cli_watch_runtime(cmd, *rt); /* a cold kernel cache is announced */
  if (clippo_model_load(*rt, model_path, model, &err) != CLIPPO_OK ||
      (batch && clippo_model_set_batch(*model, batch, &err) != CLIPPO_OK)) {
    clippo_model_free(*model);
    clippo_rt_destroy(*rt);
    *model = NULL;
    *rt = NULL;
    return cli_report(cmd, &err);
  }
  return 0;
}

clippo_status cli_task_model_open(const char *cmd, const char *model_path, const char *device,
                                  const char *const *fonts, size_t nfonts, size_t batch,
                                  clippo_task_model *tm, clippo_error *err) {
  clippo_rt *rt = NULL;
  memset(tm, 0, sizeof *tm);
  clippo_status st = clippo_rt_create(&rt, device, err);
  if (st) return st;
  cli_watch_runtime(cmd, rt);
  return clippo_task_model_open_on(rt, model_path, fonts, nfonts, batch, tm, err);
}

int cli_open_font(const char *cmd, const char *const *paths, size_t n, const clippo_model *model,
                  clippo_font **font) {
  clippo_error err;
  const char *env_items[64];
  cli_list env_fonts = {env_items, 0, 64};
  char *owned = NULL;
  if (n == 0) { /* CLIPPO_FONT, read here: the library reads no environment */
    if (cli_fonts_from_env(cmd, &env_fonts, &owned)) return 1;
    paths = env_items;
    n = env_fonts.n;
  }
  clippo_status st = clippo_font_load(font, paths, n, &err);
  free(owned);
  if (st != CLIPPO_OK) return cli_report(cmd, &err);
  cli_warn_font(cmd, model, *font);
  return 0;
}

void cli_warn_font(const char *cmd, const clippo_model *model, const clippo_font *font) {
  const char *want = model ? clippo_model_config(model)->font : "";
  const char *have = clippo_font_identity(font);
  if (want[0] && strcmp(want, have) != 0)
    fprintf(stderr,
            "clippo %s: warning: the model was trained with font '%s' but '%s' is loaded; texts "
            "will not look like its training data (use --font)\n",
            cmd, want, have);
}

int cli_read_lines(const char *cmd, const char *path, char ***lines, size_t **lens, size_t *n) {
  *lines = NULL;
  *lens = NULL;
  *n = 0;
  FILE *f = fopen(path, "rb");
  if (!f) {
    fprintf(stderr, "clippo %s: error: cannot open text file %s: %s\n", cmd, path, strerror(errno));
    return 1;
  }
  size_t cap = 0, size = 0;
  char *data = NULL;
  char chunk[65536];
  size_t got;
  while ((got = fread(chunk, 1, sizeof chunk, f)) > 0) {
    if (size + got > CLI_MAX_TEXT_FILE) { /* e.g. /dev/zero: fail before memory runs out */
      free(data);
      fclose(f);
      fprintf(stderr, "clippo %s: error: text file %s is larger than %zu bytes\n", cmd, path,
              (size_t)CLI_MAX_TEXT_FILE);
      return 1;
    }
    if (size + got + 1 > cap) {
      cap = (size + got + 1) * 2;
      char *d = realloc(data, cap);
      if (!d) {
        free(data);
        fclose(f);
        fprintf(stderr, "clippo %s: error: out of memory reading %s\n", cmd, path);
        return 1;
      }
      data = d;
    }
    memcpy(data + size, chunk, got);
    size += got;
  }
  int bad = ferror(f), saved = errno;
  fclose(f);
  if (bad) {
    free(data);
    fprintf(stderr, "clippo %s: error: cannot read text file %s: %s\n", cmd, path, strerror(saved));
    return 1;
  }
  size_t count = 0;
  for (size_t i = 0; i < size; i++) count += data[i] == '\n';
  if (size > 0 && data[size - 1] != '\n') count++;
  char **ls = calloc(count ? count : 1, sizeof *ls);
  size_t *ns = calloc(count ? count : 1, sizeof *ns);
  if (!ls || !ns) {
    free(ls);
    free(ns);
    free(data);
    fprintf(stderr, "clippo %s: error: out of memory reading %s\n", cmd, path);
    return 1;
  }
  size_t start = 0, k = 0;
  for (size_t i = 0; i <= size && k < count; i++) {
    if (i == size || data[i] == '\n') {
      size_t len = i - start;
      if (len > 0 && data[start + len - 1] == '\r') len--;
      ls[k] = malloc(len + 1);
      if (!ls[k]) {
        cli_free_lines(ls, ns, k);
        free(data);
        fprintf(stderr, "clippo %s: error: out of memory reading %s\n", cmd, path);
        return 1;
      }
      memcpy(ls[k], data + start, len);
      ls[k][len] = '\0';
      ns[k++] = len;
      start = i + 1;
    }
  }
  free(data);
  *lines = ls;
  *lens = ns;
  *n = count;
  return 0;
}

void cli_free_lines(char **lines, size_t *lens, size_t n) {
  for (size_t i = 0; i < n; i++) free(lines[i]);
  free(lines);
  free(lens);
}
