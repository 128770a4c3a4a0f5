/* The program's side of distributed runs (clippo/dist.h): a command started by an MPI launcher
 * (mpirun, mpiexec, srun with PMI) joins the other ranks; started alone it is one process and
 * MPI is never touched. Errors name the rank and host in a run of several ranks.
 *
 * Environment: CLIPPO_DIST_TIMEOUT = the longest wait of one exchange between the ranks in
 * seconds (default 600). */
#ifndef CLIPPO_CLI_MPI_H
#define CLIPPO_CLI_MPI_H

#include "clippo/dist.h"

/** The number of ranks an MPI launcher started (its environment: Open MPI, MPICH / Hydra,
 * PMI, PMIx), 0 when the program was not started by one. */
int cli_dist_launched(void);

/** Joins the other ranks when an MPI launcher started more than one: *d gets the communicator
 * (Ctrl-C / SIGTERM, through cli_interrupt, cut its waits short); else *d = NULL (one process).
 * Returns 0, or 1 after printing the error for cmd (e.g. a program built without MPI under
 * mpirun -np 4). */
int cli_dist_start(const char *cmd, clippo_dist **d);

/** Ends the communicator after the command ends with exit status rc, and returns rc: MPI is
 * finalized when every rank ends in step (success, an interrupt every rank saw, a failure every
 * rank agreed on), otherwise the whole job is aborted so that no rank waits for this one. NULL
 * is fine. */
int cli_dist_end(clippo_dist *d, int rc);

/** Prints err for cmd as cli_report does; with several ranks the message names this rank and
 * its host unless it already names a rank, and a failure all ranks agreed on is printed by rank
 * 0 only. Returns 1. */
int cli_dist_report(const char *cmd, const clippo_dist *d, const clippo_error *err);

#endif
