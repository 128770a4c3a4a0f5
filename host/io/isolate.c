/* Running a risky parser in a forked child: see isolate.h. */
#include "io/isolate.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

/* What the child sends back: its status and message. */
typedef struct isolated_result {
  int status;
  char msg[CLIPPO_ERROR_MSG];
} isolated_result;

#ifdef CLIPPO_FUZZ_BUILD
#include <sanitizer/common_interface_defs.h>

/* Fuzzing builds: a child that died of a sanitizer report in our own code (not inside the
 * third-party library) is a finding, not a corrupt file. Its report went to the file `log`:
 * print it and abort so that libFuzzer records the input. */
static void fuzz_check_child_report(FILE *log, const char *library) {
  if (!log) return;
  rewind(log);
  char line[1024];
  int ours = 0, in_stack = 0, decided = 0;
  while (fgets(line, sizeof line, log)) {
    if (strstr(line, "runtime error:")) ours = 1; /* UBSan: only instrumented code reports */
    if (decided || !strstr(line, "    #")) {
      if (in_stack) decided = 1; /* the first stack ended */
      continue;
    }
    in_stack = 1;
    /* Walk the first stack from the top: our sources before the library = ours. */
    if (strstr(line, "/host/") || strstr(line, "/tests/")) {
      ours = 1;
      decided = 1;
    } else if (strstr(line, library)) {
      decided = 1;
    }
  }
  if (in_stack && !decided) ours = 1; /* no library frame at all */
  if (!ours) return;
  rewind(log);
  fprintf(stderr, "clippo_run_isolated: the child crashed outside %s:\n", library);
  while (fgets(line, sizeof line, log)) fputs(line, stderr);
  abort();
}
#endif

/* Writes all of buf; 0 on success. */
static int write_all(int fd, const void *buf, size_t n) {
  const char *p = buf;
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return -1;
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

/* Seconds on the monotonic clock. */
static double mono_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Reads up to n bytes of the child's result from fd until EOF, n bytes or the deadline
 * (deadline <= 0: none). Returns the bytes read; *late is set when the deadline passed. */
static size_t read_result(int fd, void *buf, size_t n, double deadline, int *late) {
  size_t got = 0;
  *late = 0;
  while (got < n) {
    if (deadline > 0) {
      double left = deadline - mono_s();
      if (left <= 0) {
        *late = 1;
        break;
      }
      struct pollfd pfd = {fd, POLLIN, 0};
      int pr = poll(&pfd, 1, left > 1e6 ? 1000000000 : (int)(left * 1000.0) + 1);
      if (pr < 0 && errno == EINTR) continue;
      if (pr < 0) break;
      if (pr == 0) continue; /* the loop checks the deadline */
    }
    ssize_t r = read(fd, (char *)buf + got, n - got);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    got += (size_t)r;
  }
  return got;
}

/* Waits for the child; past the deadline (deadline <= 0: none) kills it first. Returns
 * waitpid's result; *late is set when it had to be killed. */
static pid_t reap(pid_t pid, int *wst, double deadline, int *late) {
  for (;;) {
    pid_t w = waitpid(pid, wst, deadline > 0 && !*late ? WNOHANG : 0);
    if (w < 0 && errno == EINTR) continue;
    if (w != 0) return w;
    if (mono_s() >= deadline) {
      *late = 1;
      kill(pid, SIGKILL);
      continue;
    }
    struct timespec nap = {0, 5000000}; /* 5 ms */
    nanosleep(&nap, NULL);
  }
}

clippo_status clippo_run_isolated(clippo_isolated_fn fn, void *ctx, const char *what,
                                  const char *library, const char *doing, const char *hint,
                                  const clippo_isolate_limits *limits, int *ran,
                                  clippo_error *err) {
  unsigned timeout_s = limits ? limits->cpu_s : 0, wall_s = limits ? limits->wall_s : 0;
  int fds[2];
  *ran = 0;
  if (pipe(fds) != 0) return CLIPPO_OK; /* no guard possible; the caller works in-process */
  /* Programs other threads start must not hold the pipe open. */
  (void)fcntl(fds[0], F_SETFD, FD_CLOEXEC);
  (void)fcntl(fds[1], F_SETFD, FD_CLOEXEC);
  FILE *log = NULL;
#ifdef CLIPPO_FUZZ_BUILD
  log = tmpfile();
#endif
  const pid_t parent = getpid();
  (void)parent; /* used on Linux only */
#ifdef CLIPPO_FUZZ_BUILD
  if (!wall_s || wall_s > 10) wall_s = 10; /* with the 3 s CPU limit below */
#endif
  const double deadline = wall_s ? mono_s() + (double)wall_s : 0.0;
  pid_t pid = fork();
  if (pid < 0) {
    close(fds[0]);
    close(fds[1]);
    if (log) fclose(log);
    return CLIPPO_OK;
  }
  *ran = 1;
  if (pid == 0) {
    /* The child: quiet, no core file, bounded CPU time; _exit skips atexit handlers (HDF5's
     * flush of files the parent has open, leak checkers). */
    close(fds[0]);
#ifdef __linux__
    /* Die with the parent (kill -9 of a training run): nobody would use the result. */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(4); /* the parent died before prctl */
#endif
    int null = open("/dev/null", O_RDWR);
    if (null >= 0) {
      dup2(null, 1);
      dup2(log ? fileno(log) : null, 2);
      if (null > 2) close(null);
    }
#ifdef CLIPPO_FUZZ_BUILD
    /* libFuzzer's death callback would save the input as a crash of the fuzzer itself; the
     * parent decides (fuzz_check_child_report). A short CPU limit keeps -timeout meaningful. */
    __sanitizer_set_death_callback(NULL);
    if (!timeout_s || timeout_s > 3) timeout_s = 3;
#endif
    struct rlimit rl = {0, 0};
    setrlimit(RLIMIT_CORE, &rl);
    if (timeout_s) {
      rl.rlim_cur = rl.rlim_max = timeout_s;
      setrlimit(RLIMIT_CPU, &rl);
    }
    isolated_result *r = calloc(1, sizeof *r);
    if (!r) _exit(3);
    clippo_error e;
    clippo_error_clear(&e);
    r->status = (int)fn(ctx, &e);
    snprintf(r->msg, sizeof r->msg, "%s", r->status ? e.msg : "");
    int wrote = write_all(fds[1], r, sizeof *r);
    free(r);
    _exit(wrote == 0 ? 0 : 3);
  }
  close(fds[1]);
  isolated_result *r = calloc(1, sizeof *r);
  int late = 0;
  /* the whole result, or EOF when the child died, or the deadline */
  size_t got = r ? read_result(fds[0], r, sizeof *r, deadline, &late) : 0;
  close(fds[0]);
  if (late) kill(pid, SIGKILL);
  int wst = 0;
  pid_t w = reap(pid, &wst, deadline, &late);
  int exited_ok = w == pid ? WIFEXITED(wst) && WEXITSTATUS(wst) == 0 : 1; /* ECHILD: trust pipe */
  clippo_status st;
  if (r && got == sizeof *r && exited_ok && !late) {
    st = (clippo_status)r->status;
    if (st != CLIPPO_OK) {
      r->msg[sizeof r->msg - 1] = '\0';
      st = clippo_fail(err, st, "%s", r->msg[0] ? r->msg : "failed");
    }
  } else if (!r) {
    st = clippo_fail(err, CLIPPO_E_NOMEM, "%s: out of host memory", what);
  } else {
#ifdef CLIPPO_FUZZ_BUILD
    fuzz_check_child_report(log, library);
#endif
    char how[96];
    if (late) {
      snprintf(how, sizeof how, "took too long (no result after %u s, stopped)", wall_s);
    } else if (w == pid && WIFSIGNALED(wst)) {
      int sig = WTERMSIG(wst);
      snprintf(how, sizeof how, "%s (signal %d)",
               sig == SIGXCPU || sig == SIGKILL ? "took too long" : "crashed", sig);
    } else if (w == pid && WIFEXITED(wst)) {
      snprintf(how, sizeof how, "crashed (exit status %d)", WEXITSTATUS(wst));
    } else {
      snprintf(how, sizeof how, "crashed");
    }
    st = clippo_fail(err, hint && hint[0] ? CLIPPO_E_FORMAT : CLIPPO_E_IO,
                     "%s: %s %s while %s (in a guarded child process)%s", what, library, how, doing,
                     hint ? hint : "");
  }
  free(r);
  if (log) fclose(log);
  return st;
}
