/* The program's data folders: env CLIPPO_DATA_DIR, the source tree for a build-tree program,
 * the install folder next to an installed program or compiled in. */
#define _XOPEN_SOURCE 700 /* realpath */
#include "cli_paths.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#if defined(__APPLE__)
#include <mach-o/dyld.h>
#include <stdint.h>
#endif

#include "clippo/tasks.h"

/* Set by CMake (CMakeLists.txt); empty when unknown. */
#ifndef CLIPPO_SOURCE_DATA_DIR
#define CLIPPO_SOURCE_DATA_DIR ""
#endif
#ifndef CLIPPO_BUILD_BIN_DIR
#define CLIPPO_BUILD_BIN_DIR ""
#endif
#ifndef CLIPPO_INSTALL_DATA_DIR
#define CLIPPO_INSTALL_DATA_DIR ""
#endif
#ifndef CLIPPO_BIN_TO_DATA_DIR
#define CLIPPO_BIN_TO_DATA_DIR "../share/clippo"
#endif

/* The folder of the running program (symbolic links resolved); -1 when it cannot be told. */
static int exe_dir(char *out, size_t cap) {
#if defined(__linux__)
  ssize_t n = readlink("/proc/self/exe", out, cap - 1);
  if (n <= 0 || (size_t)n >= cap - 1) return -1;
  out[n] = '\0';
#elif defined(__APPLE__)
  char raw[CLI_PATH_MAX];
  uint32_t size = (uint32_t)sizeof raw;
  if (_NSGetExecutablePath(raw, &size) != 0) return -1;
  char *real = realpath(raw, NULL);
  if (!real) return -1;
  int fits = strlen(real) < cap;
  if (fits) snprintf(out, cap, "%s", real);
  free(real);
  if (!fits) return -1;
#else
  (void)out;
  (void)cap;
  return -1;
#endif
  char *slash = strrchr(out, '/');
  if (!slash) return -1;
  slash[slash == out] = '\0'; /* "/clippo" -> "/" */
  return 0;
}

/* 1 when a and b name the same existing folder. */
static int same_dir(const char *a, const char *b) {
  if (!a[0] || !b[0]) return 0;
  char *ra = realpath(a, NULL), *rb = realpath(b, NULL);
  int same = ra && rb && strcmp(ra, rb) == 0;
  free(ra);
  free(rb);
  return same;
}

/* Appends dir to dirs when set and it fits. */
static void add_dir(char dirs[CLI_MAX_DATA_DIRS][CLI_PATH_MAX], size_t *n, const char *dir) {
  if (*n < CLI_MAX_DATA_DIRS && dir[0] && strlen(dir) < CLI_PATH_MAX)
    snprintf(dirs[(*n)++], CLI_PATH_MAX, "%s", dir);
}

size_t cli_data_dirs(char dirs[CLI_MAX_DATA_DIRS][CLI_PATH_MAX]) {
  size_t n = 0;
  const char *env = getenv(CLI_DATA_ENV);
  if (env && *env) {
    add_dir(dirs, &n, env);
    return n;
  }
  char exe[CLI_PATH_MAX];
  if (exe_dir(exe, sizeof exe) != 0) { /* cannot tell where it runs: installed first */
    add_dir(dirs, &n, CLIPPO_INSTALL_DATA_DIR);
    add_dir(dirs, &n, CLIPPO_SOURCE_DATA_DIR);
    return n;
  }
  if (same_dir(exe, CLIPPO_BUILD_BIN_DIR)) {
    add_dir(dirs, &n, CLIPPO_SOURCE_DATA_DIR);
    return n;
  }
  char rel[CLI_PATH_MAX + 64];
  snprintf(rel, sizeof rel, "%s/%s", exe, CLIPPO_BIN_TO_DATA_DIR);
  char *real = realpath(rel, NULL); /* BIN/../share/clippo -> PREFIX/share/clippo */
  add_dir(dirs, &n, real ? real : rel);
  free(real);
  if (!same_dir(rel, CLIPPO_INSTALL_DATA_DIR)) add_dir(dirs, &n, CLIPPO_INSTALL_DATA_DIR);
  return n;
}

int cli_data_file(const char *rel, char *out, size_t cap) {
  char dirs[CLI_MAX_DATA_DIRS][CLI_PATH_MAX];
  size_t n = cli_data_dirs(dirs);
  for (size_t i = 0; i < n; i++) {
    int len = snprintf(out, cap, "%s/%s", dirs[i], rel);
    if (len > 0 && (size_t)len < cap && access(out, R_OK) == 0) return 0;
  }
  const char *env = getenv(CLI_DATA_ENV);
  if (env && *env) {
    snprintf(out, cap, "%s is not in %s=%s", rel, CLI_DATA_ENV, env);
    return -1;
  }
  size_t k = (size_t)snprintf(out, cap, "%s is not in the data folder%s ", rel, n > 1 ? "s" : "");
  for (size_t i = 0; i < n && k < cap; i++)
    k += (size_t)snprintf(out + k, cap - k, "%s%s", i ? ", " : "", dirs[i]);
  if (k < cap)
    snprintf(out + k, cap - k, "%s(set %s to the folder that holds it)", n ? " " : "",
             CLI_DATA_ENV);
  return -1;
}

const char *cli_input_file(const char *path, char *buf, size_t cap) {
  if (!path || !path[0] || path[0] == '/' || access(path, F_OK) == 0) return path;
  char dirs[CLI_MAX_DATA_DIRS][CLI_PATH_MAX];
  size_t n = cli_data_dirs(dirs);
  for (size_t i = 0; i < n; i++) {
    const char *sub[2] = {"", "configs/"};
    for (int s = 0; s < 2; s++) {
      int len = snprintf(buf, cap, "%s/%s%s", dirs[i], sub[s], path);
      if (len > 0 && (size_t)len < cap && access(buf, R_OK) == 0) return buf;
    }
  }
  return path;
}

/* mkdir -p dir (mode 0777 before umask); 0 or -1 with errno. */
static int make_dirs(char *dir) {
  for (char *p = dir + 1;; p++) {
    if (*p != '/' && *p != '\0') continue;
    char c = *p;
    *p = '\0';
    int r = mkdir(dir, 0777);
    int e = errno;
    *p = c;
    if (r != 0 && e != EEXIST) {
      errno = e;
      return -1;
    }
    if (c == '\0') return 0;
  }
}

int cli_default_index(char *out, size_t cap, int create) {
  const char *xdg = getenv("XDG_DATA_HOME"), *home = getenv("HOME");
  char dir[CLI_PATH_MAX];
  if (xdg && xdg[0] == '/')
    snprintf(dir, sizeof dir, "%s/clippo", xdg);
  else if (home && home[0] == '/')
    snprintf(dir, sizeof dir, "%s/.local/share/clippo", home);
  else {
    snprintf(out, cap, "neither XDG_DATA_HOME nor HOME is set to an absolute folder");
    return -1;
  }
  if (create && make_dirs(dir) != 0) {
    snprintf(out, cap, "cannot create the folder %s for the default index: %s", dir,
             strerror(errno));
    return -1;
  }
  int len = snprintf(out, cap, "%s/index.h5", dir);
  if (len < 0 || (size_t)len >= cap) {
    snprintf(out, cap, "the default index path is too long");
    return -1;
  }
  return 0;
}

const char *cli_absolute_path(const char *path, char *buf, size_t cap) {
  char *real = path ? realpath(path, NULL) : NULL;
  if (!real) return path;
  int fits = strlen(real) < cap;
  if (fits) snprintf(buf, cap, "%s", real);
  free(real);
  return fits ? buf : path;
}

int cli_train_data_defaults(const char *cmd, clippo_train_opts *o) {
  char buf[CLI_PATH_MAX];
  const char *dir = cli_fashion_mnist_dir();
  if (dir && !strcmp(o->fmnist, CLIPPO_FMNIST_DIR) && strlen(dir) < sizeof o->fmnist)
    snprintf(o->fmnist, sizeof o->fmnist, "%s", dir);
  if (o->captions[0]) {
    const char *c = cli_input_file(o->captions, buf, sizeof buf);
    if (c != o->captions && strlen(c) < sizeof o->captions)
      snprintf(o->captions, sizeof o->captions, "%s", c);
  } else if (o->fmnist[0]) {
    if (cli_data_file(CLI_DEFAULT_CAPTIONS_FILE, buf, sizeof buf) != 0) {
      fprintf(stderr, "clippo %s: error: no --captions given and %s\n", cmd, buf);
      return 1;
    }
    if (strlen(buf) >= sizeof o->captions) {
      fprintf(stderr, "clippo %s: error: path too long: %s\n", cmd, buf);
      return 1;
    }
    snprintf(o->captions, sizeof o->captions, "%s", buf);
  }
  return 0;
}

const char *cli_fashion_mnist_dir(void) {
  return clippo_fashion_mnist_dir(getenv("CLIPPO_FASHION_MNIST_DIR"));
}

int cli_output_is_input(const char *output, const char *const *inputs, size_t n, size_t *which) {
  struct stat so;
  if (!output || stat(output, &so)) return 0;
  for (size_t i = 0; i < n; i++) {
    struct stat si;
    if (inputs[i] && !stat(inputs[i], &si) && si.st_dev == so.st_dev && si.st_ino == so.st_ino) {
      if (which) *which = i;
      return 1;
    }
  }
  return 0;
}
