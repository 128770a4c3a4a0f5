/* Distributed runs of the program: joining the ranks an MPI launcher started, reporting errors
 * with the rank and host, ending the job. */
#include "cli_mpi.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_interrupt.h"
#include "cli_util.h"

/* The environment variables in which launchers give the number of ranks. */
static const char *const size_vars[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE",
                                        "MPI_LOCALNRANKS", "MV2_COMM_WORLD_SIZE"};

int cli_dist_launched(void) {
  for (size_t i = 0; i < sizeof size_vars / sizeof size_vars[0]; i++) {
    const char *v = getenv(size_vars[i]);
    if (v && *v) {
      long n = strtol(v, NULL, 10);
      return n > 0 && n < (1L << 24) ? (int)n : 1;
    }
  }
  /* PMIx launchers (prterun, srun --mpi=pmix) may give only the rank: size unknown, assume many */
  return getenv("PMIX_RANK") ? 2 : 0;
}

int cli_dist_start(const char *cmd, clippo_dist **d) {
  *d = NULL;
  if (cli_dist_launched() < 2) return 0;
  clippo_dist_options opts;
  memset(&opts, 0, sizeof opts);
  opts.timeout_s = 600.0;
  const char *t = getenv("CLIPPO_DIST_TIMEOUT");
  if (t && *t) {
    char *end = NULL;
    double v = strtod(t, &end);
    if (!end || *end || !(v > 0) || v > 1e7) {
      fprintf(stderr, "clippo %s: error: CLIPPO_DIST_TIMEOUT='%s' is not a number of seconds\n",
              cmd, t);
      return 1;
    }
    opts.timeout_s = v;
  }
  opts.interrupted = cli_interrupt_poll;
  clippo_error err;
  clippo_error_clear(&err);
  if (clippo_dist_mpi_init(&opts, d, &err) != CLIPPO_OK) return cli_report(cmd, &err);
  return 0;
}

int cli_dist_end(clippo_dist *d, int rc) {
  /* an interrupt that stopped the command stopped every rank in step (they decide together);
   * a rank that broke off a wait marks the communicator broken, and that aborts anyway */
  int in_step = rc == 0 || rc == cli_interrupt_exit_code();
  clippo_dist_finish(d, !in_step);
  return rc;
}

int cli_dist_report(const char *cmd, const clippo_dist *d, const clippo_error *err) {
  if (clippo_dist_size(d) < 2) return cli_report(cmd, err);
  /* a failure every rank agreed on (its message names the rank it is about): rank 0 says it
   * for all */
  if (clippo_dist_agreed(d)) return clippo_dist_rank(d) > 0 ? 1 : cli_report(cmd, err);
  if (!strncmp(err->msg, "rank ", 5)) return cli_report(cmd, err);
  clippo_error e = *err;
  clippo_error_prefix(&e, "%s", clippo_dist_who(d));
  return cli_report(cmd, &e);
}
