/* Where the program finds its own data (the default model, configs, prompt and class files),
 * whichever folder it is run from, installed or in its build folder. */
#ifndef CLIPPO_CLI_PATHS_H
#define CLIPPO_CLI_PATHS_H

#include <stddef.h>

#include "clippo/train.h"

/** Longest path the program builds. */
#define CLI_PATH_MAX 4096

/** Environment variable naming the data folder (overrides every other place). */
#define CLI_DATA_ENV "CLIPPO_DATA_DIR"

/** The default model and the Fashion-MNIST caption templates, relative to a data folder. */
#define CLI_DEFAULT_MODEL_FILE "weights/fmnist.h5"
#define CLI_DEFAULT_CAPTIONS_FILE "configs/fmnist_captions.json"

/** Most data folders searched. */
#define CLI_MAX_DATA_DIRS 3

/** The data folders in the order they are searched: the folder in env CLIPPO_DATA_DIR alone
 * when it is set; else, for the program in the build folder it was built in, the source tree;
 * else the folder installed next to the program (BIN/../share/clippo, so that an installed tree
 * can be moved), then the install folder compiled in (CMAKE_INSTALL_FULL_DATADIR/clippo).
 * Writes at most CLI_MAX_DATA_DIRS entries and returns their count. */
size_t cli_data_dirs(char dirs[CLI_MAX_DATA_DIRS][CLI_PATH_MAX]);

/** Finds data file rel (e.g. CLI_DEFAULT_MODEL_FILE) in the first data folder that has it and
 * writes its path to out: returns 0. When none has it, writes to out a message naming the
 * places searched (and CLIPPO_DATA_DIR when it is set) and returns -1. */
int cli_data_file(const char *rel, char *out, size_t cap);

/** A file named by the user that may be one of the program's own (a training config, a prompt,
 * caption or classes file): the path itself when it exists, is absolute or is not a data file;
 * else a relative path absent from the current folder resolves to DATA/path or
 * DATA/configs/path in the first data folder that has it (written to buf). So
 * `--templates configs/fmnist_prompts_en.txt` works from any folder. */
const char *cli_input_file(const char *path, char *buf, size_t cap);

/** The index `clippo index` and `clippo search` use without --out / --index: a per-user file,
 * $XDG_DATA_HOME/clippo/index.h5 (default ~/.local/share/clippo/index.h5). With create, its
 * folder is created. Returns 0, or -1 with a message in out. */
int cli_default_index(char *out, size_t cap, int create);

/** path made absolute (symbolic links resolved) in buf when it exists; else path itself. */
const char *cli_absolute_path(const char *path, char *buf, size_t cap);

/** 1 when output and one of the inputs (NULL entries skipped) are the same existing file (also
 * through links), so that writing output would destroy an input; *which gets its index. */
int cli_output_is_input(const char *output, const char *const *inputs, size_t n, size_t *which);

/** Fills the training options' defaults that live in data folders: Fashion-MNIST's system
 * folder becomes env CLIPPO_FASHION_MNIST_DIR when set, Fashion-MNIST captions default to the
 * installed CLI_DEFAULT_CAPTIONS_FILE, a relative --captions absent here is looked up as
 * cli_input_file does. Returns 0, or 1 after printing an error for cmd. */
int cli_train_data_defaults(const char *cmd, clippo_train_opts *o);

/** The Fashion-MNIST folder given by env CLIPPO_FASHION_MNIST_DIR, else the system one when
 * present (see clippo_fashion_mnist_dir); NULL when neither. */
const char *cli_fashion_mnist_dir(void);

#endif
