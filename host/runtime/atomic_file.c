/* Atomic file replacement: temporary file in the same folder, fsync, rename, fsync folder.
 * In the runtime layer (the lowest) so that the kernel cache and every layer above use the same
 * primitive and the same clean-up of temporary files left by dead writers. */
#include "clippo/atomic_file.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

/* The pid in a temporary file name "<target>.tmp-<pid>-<hex>" (or, as the kernel cache wrote
 * them before it used this module, "<target>.tmp.<pid>") when name is one, whose target starts
 * with base (NULL: any) and ends in suffix (NULL: any); else 0. */
static long tmp_pid(const char *name, const char *base, const char *suffix) {
  const char *t = strstr(name, ".tmp");
  for (; t; t = strstr(t + 1, ".tmp")) {
    size_t tl = (size_t)(t - name);
    if (base && (tl != strlen(base) || strncmp(name, base, tl) != 0)) continue;
    size_t sl = suffix ? strlen(suffix) : 0;
    if (sl && (tl < sl || strncmp(t - sl, suffix, sl) != 0)) continue;
    int legacy = t[4] == '.'; /* only in a folder sweep, never next to a user's file */
    if (t[4] != '-' && !(legacy && !base)) continue;
    char *end = NULL;
    long pid = strtol(t + 5, &end, 10);
    if (end == t + 5 || pid <= 0 || (legacy ? *end != '\0' : *end != '-')) continue;
    return pid;
  }
  return 0;
}

/* Removes the temporary files in dir (see tmp_pid) left by writers that died (kill -9, power
 * loss in the middle of a save): those whose pid is no longer running. Best effort, errors
 * ignored. A writer in another pid namespace sharing the folder could look dead: its rename
 * then fails cleanly and it reports the error. */
static void remove_stale_in(const char *dir, const char *base, const char *suffix) {
  DIR *d = opendir(dir);
  if (!d) return;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    const char *n = e->d_name;
    long pid = tmp_pid(n, base, suffix);
    if (pid <= 0 || pid == (long)getpid()) continue;
    if (kill((pid_t)pid, 0) == 0 || errno != ESRCH) continue; /* alive, or not ours to judge */
    size_t fl = strlen(dir) + strlen(n) + 2;
    char *full = malloc(fl);
    if (!full) break;
    snprintf(full, fl, "%s/%s", dir, n);
    struct stat sb;
    if (lstat(full, &sb) == 0 && S_ISREG(sb.st_mode)) (void)unlink(full);
    free(full);
  }
  closedir(d);
}

/* remove_stale_in for the temporary files of one target path. */
static void remove_stale_tmps(const char *path) {
  const char *slash = strrchr(path, '/');
  const char *base = slash ? slash + 1 : path;
  size_t dl = slash ? (size_t)(slash - path) : 0;
  char *dir = malloc(dl + 2);
  if (!dir) return;
  if (!slash)
    strcpy(dir, ".");
  else if (dl == 0)
    strcpy(dir, "/");
  else {
    memcpy(dir, path, dl);
    dir[dl] = '\0';
  }
  remove_stale_in(dir, base, NULL);
  free(dir);
}

void clippo_atomic_clean_dir(const char *dir, const char *suffix) {
  if (dir && *dir) remove_stale_in(dir, NULL, suffix);
}

/* Creates "<path>.tmp-<pid>-<hex>" with O_EXCL; returns the open descriptor and the name. */
static clippo_status make_tmp(const char *path, char **tmp_out, int *fd_out, clippo_error *err) {
  if (!path || !*path) return clippo_fail(err, CLIPPO_E_ARG, "empty output path");
  struct stat sb;
  if (stat(path, &sb) == 0 && !S_ISREG(sb.st_mode))
    return clippo_fail(err, CLIPPO_E_IO, "%s: %s; give a file name", path,
                       S_ISDIR(sb.st_mode) ? "is a directory" : "exists and is not a regular file");
  remove_stale_tmps(path);
  size_t n = strlen(path) + 64;
  char *tmp = malloc(n);
  if (!tmp) return clippo_fail(err, CLIPPO_E_NOMEM, "out of host memory");
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  uint64_t x = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 30) ^ (uint64_t)(uintptr_t)tmp;
  for (int attempt = 0; attempt < 100; attempt++) {
    x += 0x9e3779b97f4a7c15ull; /* splitmix64 step: a fresh name per attempt */
    uint64_t z = x;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    snprintf(tmp, n, "%s.tmp-%ld-%08x", path, (long)getpid(), (unsigned)(z & 0xffffffffu));
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL, 0666);
    if (fd >= 0) {
      *tmp_out = tmp;
      *fd_out = fd;
      return CLIPPO_OK;
    }
    if (errno != EEXIST) {
      int e = errno;
      free(tmp);
      return clippo_fail(err, CLIPPO_E_IO, "%s: cannot create a temporary file next to it: %s",
                         path, strerror(e));
    }
  }
  free(tmp);
  return clippo_fail(err, CLIPPO_E_IO, "%s: cannot find a free temporary file name", path);
}

/* Best effort: makes the rename durable. Some file systems refuse fsync on folders. */
static void fsync_parent(const char *path) {
  const char *slash = strrchr(path, '/');
  char *dir;
  if (!slash)
    dir = strdup(".");
  else if (slash == path)
    dir = strdup("/");
  else {
    dir = malloc((size_t)(slash - path) + 1);
    if (dir) {
      memcpy(dir, path, (size_t)(slash - path));
      dir[slash - path] = '\0';
    }
  }
  if (!dir) return;
  int fd = open(dir, O_RDONLY);
  if (fd >= 0) {
    (void)fsync(fd);
    close(fd);
  }
  free(dir);
}

clippo_status clippo_atomic_open(clippo_atomic_file *af, const char *path, clippo_error *err) {
  memset(af, 0, sizeof *af);
  int fd = -1;
  clippo_status st = make_tmp(path, &af->tmp_path, &fd, err);
  if (st) return st;
  af->path = strdup(path);
  af->fp = fdopen(fd, "wb");
  if (!af->path || !af->fp) {
    if (!af->fp) close(fd);
    clippo_atomic_abort(af);
    return clippo_fail(err, CLIPPO_E_NOMEM, "%s: out of host memory", path);
  }
  return CLIPPO_OK;
}

clippo_status clippo_atomic_write(clippo_atomic_file *af, const void *data, size_t len,
                                  clippo_error *err) {
  if (!af->fp) return clippo_fail(err, CLIPPO_E_ARG, "write to a closed atomic file");
  if (len && fwrite(data, 1, len, af->fp) != len)
    return clippo_fail(err, CLIPPO_E_IO, "%s: write failed: %s", af->path, strerror(errno));
  return CLIPPO_OK;
}

void clippo_atomic_abort(clippo_atomic_file *af) {
  if (!af) return;
  if (af->fp) fclose(af->fp);
  if (af->tmp_path) remove(af->tmp_path);
  free(af->tmp_path);
  free(af->path);
  memset(af, 0, sizeof *af);
}

clippo_status clippo_atomic_commit(clippo_atomic_file *af, clippo_error *err) {
  if (!af->fp || !af->tmp_path || !af->path) {
    clippo_atomic_abort(af);
    return clippo_fail(err, CLIPPO_E_ARG, "commit of an atomic file that is not open");
  }
  int bad = fflush(af->fp) != 0 || ferror(af->fp);
  int e = errno;
  if (!bad && fsync(fileno(af->fp)) != 0) bad = 1, e = errno;
  if (fclose(af->fp) != 0 && !bad) bad = 1, e = errno;
  af->fp = NULL;
  if (bad) {
    clippo_status st =
        clippo_fail(err, CLIPPO_E_IO, "%s: cannot write the file: %s", af->path, strerror(e));
    clippo_atomic_abort(af);
    return st;
  }
  if (rename(af->tmp_path, af->path) != 0) {
    e = errno;
    clippo_status st = clippo_fail(err, CLIPPO_E_IO, "%s: cannot rename %s over it: %s", af->path,
                                   af->tmp_path, strerror(e));
    clippo_atomic_abort(af);
    return st;
  }
  fsync_parent(af->path);
  free(af->tmp_path);
  free(af->path);
  memset(af, 0, sizeof *af);
  return CLIPPO_OK;
}

clippo_status clippo_write_file_atomic(const char *path, const void *data, size_t len,
                                       clippo_error *err) {
  clippo_atomic_file af;
  clippo_status st = clippo_atomic_open(&af, path, err);
  if (st) return st;
  st = clippo_atomic_write(&af, data, len, err);
  if (st) {
    clippo_atomic_abort(&af);
    return st;
  }
  return clippo_atomic_commit(&af, err);
}

clippo_status clippo_atomic_tmpname(const char *path, char **tmp, clippo_error *err) {
  int fd = -1;
  *tmp = NULL;
  clippo_status st = make_tmp(path, tmp, &fd, err);
  if (st) return st;
  close(fd);
  return CLIPPO_OK;
}

clippo_status clippo_atomic_publish(const char *tmp, const char *path, clippo_error *err) {
  int fd = open(tmp, O_RDONLY);
  if (fd < 0) {
    int e = errno;
    remove(tmp);
    return clippo_fail(err, CLIPPO_E_IO, "%s: cannot reopen temporary file %s: %s", path, tmp,
                       strerror(e));
  }
  if (fsync(fd) != 0) {
    int e = errno;
    close(fd);
    remove(tmp);
    return clippo_fail(err, CLIPPO_E_IO, "%s: fsync of %s failed: %s", path, tmp, strerror(e));
  }
  close(fd);
  if (rename(tmp, path) != 0) {
    int e = errno;
    remove(tmp);
    return clippo_fail(err, CLIPPO_E_IO, "%s: cannot rename %s over it: %s", path, tmp,
                       strerror(e));
  }
  fsync_parent(path);
  return CLIPPO_OK;
}
