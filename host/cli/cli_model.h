/* Opening the device, the model and the font the way every model subcommand does. */
#ifndef CLIPPO_CLI_MODEL_H
#define CLIPPO_CLI_MODEL_H

#include "clippo/checkpoint.h"
#include "clippo/model.h"
#include "clippo/tasks.h"
#include "clippo/text.h"

/** The model a model subcommand uses without --model: env CLIPPO_MODEL when set, else the
 * default model (weights/fmnist.h5) in the data folders (cli_paths.h), written to buf. Returns
 * the path, or NULL after printing an error for cmd that says where it looked. */
const char *cli_default_model(const char *cmd, char *buf, size_t cap);

/** Reads the checkpoint at model_path into ck (before any device is opened, so that a bad file is
 * reported at once); on failure prints the error for cmd and returns 1, else 0. */
int cli_load_checkpoint(const char *cmd, const char *model_path, clippo_checkpoint *ck);

/** Opens the device (spec may be NULL) and uploads the loaded checkpoint ck (read from
 * model_path, named in errors) as the model; ck is freed either way. On failure prints the error
 * for cmd and returns 1 (everything released), else 0. batch 0 keeps the default. */
int cli_open_model_from(const char *cmd, const char *device, const char *model_path,
                        clippo_checkpoint *ck, size_t batch, clippo_rt **rt, clippo_model **model);

/** cli_load_checkpoint, then cli_open_model_from. */
int cli_open_model(const char *cmd, const char *device, const char *model_path, size_t batch,
                   clippo_rt **rt, clippo_model **model);

/** clippo_task_model_open for command cmd, on a runtime created first and watched
 * (cli_watch_runtime), so that a cold kernel cache is announced while the model loads. */
clippo_status cli_task_model_open(const char *cmd, const char *model_path, const char *device,
                                  const char *const *fonts, size_t nfonts, size_t batch,
                                  clippo_task_model *tm, clippo_error *err);

/** Loads the font files (n == 0: env CLIPPO_FONT, else the system default); warns on stderr when
 * the model records a different font. Returns 0, or 1 after printing the error. */
int cli_open_font(const char *cmd, const char *const *paths, size_t n, const clippo_model *model,
                  clippo_font **font);

/** Warns on stderr (for cmd) when the model records a font other than the one loaded. */
void cli_warn_font(const char *cmd, const clippo_model *model, const clippo_font *font);

#endif
