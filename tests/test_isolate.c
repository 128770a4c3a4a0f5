/* The guarded child process (host/io/isolate.c) that HDF5 reads and writes run in: a finished
 * child hands back its status and message; one that crashes, spins past its CPU limit or blocks
 * past its wall-clock limit (an injected hang: the child waits on a pipe nobody writes) becomes
 * a clear error, and the caller is back within the limit. */
#include "support.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "io/isolate.h"

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static clippo_status child_ok(void *ctx, clippo_error *err) {
  (void)ctx;
  (void)err;
  return CLIPPO_OK;
}

static clippo_status child_fails(void *ctx, clippo_error *err) {
  return clippo_fail(err, CLIPPO_E_SHAPE, "dataset %s: bad shape", (const char *)ctx);
}

static clippo_status child_crashes(void *ctx, clippo_error *err) {
  (void)ctx;
  (void)err;
  abort();
}

static clippo_status child_spins(void *ctx, clippo_error *err) {
  (void)err;
  volatile unsigned long *x = ctx;
  for (;;) (*x)++;
  return CLIPPO_OK;
}

/* Blocks without using CPU: reads a pipe whose write end stays open in this process. */
static clippo_status child_blocks(void *ctx, clippo_error *err) {
  (void)err;
  const int *fds = ctx;
  char c;
  for (;;) {
    ssize_t n = read(fds[0], &c, 1);
    if (n < 0 && errno == EINTR) continue;
    break;
  }
  return CLIPPO_OK;
}

static void test_status_passes_back(void **state) {
  (void)state;
  clippo_error err;
  int ran = 0;
  clippo_isolate_limits lim = {5, 30};
  TEST_OK(clippo_run_isolated(child_ok, NULL, "f.h5", "libtest", "reading it", ": corrupt", &lim,
                              &ran, &err),
          &err);
  assert_int_equal(ran, 1);
  assert_int_equal(clippo_run_isolated(child_fails, "/w", "f.h5", "libtest", "reading it",
                                       ": corrupt", &lim, &ran, &err),
                   CLIPPO_E_SHAPE);
  assert_string_equal(err.msg, "dataset /w: bad shape");
}

static void test_crash(void **state) {
  (void)state;
  clippo_error err;
  int ran = 0;
  assert_int_equal(clippo_run_isolated(child_crashes, NULL, "f.h5", "libtest", "reading it",
                                       ": corrupt", NULL, &ran, &err),
                   CLIPPO_E_FORMAT);
  print_message("%s\n", err.msg);
  assert_non_null(strstr(err.msg, "f.h5: libtest crashed"));
  assert_non_null(strstr(err.msg, "while reading it"));
  /* writing (no hint): an I/O error */
  assert_int_equal(clippo_run_isolated(child_crashes, NULL, "f.h5", "libtest", "writing it", "",
                                       NULL, &ran, &err),
                   CLIPPO_E_IO);
}

static void test_cpu_limit(void **state) {
  (void)state;
  clippo_error err;
  int ran = 0;
  unsigned long x = 0;
  clippo_isolate_limits lim = {1, 60};
  double t0 = now_s();
  assert_int_equal(clippo_run_isolated(child_spins, &x, "f.h5", "libtest", "reading it",
                                       ": corrupt", &lim, &ran, &err),
                   CLIPPO_E_FORMAT);
  double dt = now_s() - t0;
  print_message("%s (%.2f s)\n", err.msg, dt);
  assert_non_null(strstr(err.msg, "took too long"));
  assert_true(dt < 30.0);
}

static void test_wall_limit_stops_a_blocked_child(void **state) {
  (void)state;
  int fds[2];
  assert_int_equal(pipe(fds), 0);
  clippo_error err;
  int ran = 0;
  clippo_isolate_limits lim = {1, 1}; /* the CPU limit never fires: the child sleeps */
  double t0 = now_s();
  clippo_status st = clippo_run_isolated(child_blocks, fds, "f.h5", "libtest", "reading it",
                                         ": corrupt", &lim, &ran, &err);
  double dt = now_s() - t0;
  print_message("%s (%.2f s)\n", err.msg, dt);
  assert_int_equal(st, CLIPPO_E_FORMAT);
  assert_int_equal(ran, 1);
  assert_non_null(strstr(err.msg, "f.h5: libtest took too long (no result after 1 s"));
  assert_true(dt >= 0.9 && dt < 10.0);
  /* the child is gone (reaped): nothing is left to wait for */
  assert_int_equal(waitpid(-1, NULL, WNOHANG), -1);
  close(fds[0]);
  close(fds[1]);
  /* without a wall-clock limit the same child would block forever; with the write end closed
   * it finishes and passes its status back */
  assert_int_equal(pipe(fds), 0);
  close(fds[1]);
  TEST_OK(clippo_run_isolated(child_blocks, fds, "f.h5", "libtest", "reading it", ": corrupt", NULL,
                              &ran, &err),
          &err);
  close(fds[0]);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_status_passes_back),
      cmocka_unit_test(test_crash),
      cmocka_unit_test(test_cpu_limit),
      cmocka_unit_test(test_wall_limit_stops_a_blocked_child),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
