/* Ctrl-C and SIGTERM for the long-running subcommands (`train`, `index`): the first signal asks
 * the work to stop at its next safe point (the command saves what it has and exits 128 + the
 * signal number); a second signal ends the process at once with the default action. */
#ifndef CLIPPO_CLI_INTERRUPT_H
#define CLIPPO_CLI_INTERRUPT_H

#include <signal.h>

/** The signal actions that were in place before cli_interrupt_install. */
typedef struct cli_interrupt {
  struct sigaction old_int, old_term;
} cli_interrupt;

/** Catches SIGINT and SIGTERM (the previous actions go to *saved) and clears the request. */
void cli_interrupt_install(cli_interrupt *saved);

/** Puts back the actions cli_interrupt_install replaced. */
void cli_interrupt_restore(const cli_interrupt *saved);

/** The signal that asked to stop (SIGINT or SIGTERM), or 0. */
int cli_interrupt_signal(void);

/** cli_interrupt_signal() != 0, shaped as a library "should stop" callback (user unused). */
int cli_interrupt_poll(void *user);

/** The exit status of a command stopped by the signal: 128 + its number (130 for SIGINT, 143
 * for SIGTERM). */
int cli_interrupt_exit_code(void);

#endif
