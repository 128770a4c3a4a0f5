/* Opening the device, the model and the font for the model subcommands. */
#include "cli_model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_paths.h"
#include "cli_progress.h"
#include "cli_util.h"

const char *cli_default_model(const char *cmd, char *buf, size_t cap) {
  const char *env = getenv("CLIPPO_MODEL");
  if (env && *env) return env;
  if (cli_data_file(CLI_DEFAULT_MODEL_FILE, buf, cap) == 0) return buf;
  fprintf(stderr, "clippo %s: error: no --model given and the default model %s\n", cmd, buf);
  return NULL;
}

int cli_load_checkpoint(const char *cmd, const char *model_path, clippo_checkpoint *ck) {
  clippo_error err;
  memset(ck, 0, sizeof *ck);
  if (clippo_checkpoint_load(model_path, ck, 0, &err) != CLIPPO_OK) return cli_report(cmd, &err);
  return 0;
}

int cli_open_model_from(const char *cmd, const char *device, const char *model_path,
                        clippo_checkpoint *ck, size_t batch, clippo_rt **rt, clippo_model **model) {
  clippo_error err;
  *rt = NULL;
  *model = NULL;
  clippo_status st = clippo_rt_create(rt, device, &err);
  if (!st) {
    cli_watch_runtime(cmd, *rt); /* a cold kernel cache is announced */
    st = clippo_model_create(*rt, &ck->cfg, &ck->params, model, &err);
    if (st) clippo_error_prefix(&err, "model %s", model_path);
  }
  clippo_checkpoint_free(ck);
  if (!st && batch) st = clippo_model_set_batch(*model, batch, &err);
  if (st) {
    clippo_model_free(*model);
    clippo_rt_destroy(*rt);
    *model = NULL;
    *rt = NULL;
    return cli_report(cmd, &err);
  }
  return 0;
}

int cli_open_model(const char *cmd, const char *device, const char *model_path, size_t batch,
                   clippo_rt **rt, clippo_model **model) {
  clippo_checkpoint ck;
  *rt = NULL;
  *model = NULL;
  if (cli_load_checkpoint(cmd, model_path, &ck)) return 1;
  return cli_open_model_from(cmd, device, model_path, &ck, batch, rt, model);
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
