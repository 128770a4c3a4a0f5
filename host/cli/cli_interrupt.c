/* Ctrl-C and SIGTERM for the long-running subcommands: one flag, set by the handler, polled by
 * the work. */
#include "cli_interrupt.h"

#include <string.h>

/* The signal that asked to stop, or 0. The only state a signal handler may touch; a process
 * handles one command, so one flag serves every command. */
static volatile sig_atomic_t requested = 0;

static void on_signal(int sig) {
  if (requested) {
    /* the second signal: no more waiting for a safe point (async-signal-safe calls only) */
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    sigaction(sig, &dfl, NULL);
    raise(sig); /* delivered when this handler returns */
    return;
  }
  requested = sig;
}

void cli_interrupt_install(cli_interrupt *saved) {
  requested = 0;
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaddset(&sa.sa_mask, SIGINT);
  sigaddset(&sa.sa_mask, SIGTERM);
  sigaction(SIGINT, &sa, &saved->old_int);
  sigaction(SIGTERM, &sa, &saved->old_term);
}

void cli_interrupt_restore(const cli_interrupt *saved) {
  sigaction(SIGINT, &saved->old_int, NULL);
  sigaction(SIGTERM, &saved->old_term, NULL);
}

int cli_interrupt_signal(void) { return (int)requested; }

int cli_interrupt_poll(void *user) {
  (void)user;
  return requested != 0;
}

int cli_interrupt_exit_code(void) { return 128 + (requested ? (int)requested : SIGINT); }
