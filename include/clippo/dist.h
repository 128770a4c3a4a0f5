/* Distributed runs: data-parallel training and sharded indexing / evaluation over several
 * processes ("ranks"), on one machine or many. A clippo_dist is a communicator: MPI when the
 * program is built with it (cmake -DCLIPPO_MPI=ON|AUTO) and started by an MPI launcher
 * (mpirun), else one rank. Every function takes NULL as the one-rank communicator, so the
 * library's callers (the trainer, the tasks, the bench suite) have no #ifdefs and no MPI
 * dependency: the MPI implementation is linked into the program only (host/dist/dist_mpi.c).
 *
 * Every collective is called by all ranks in the same order. None blocks forever: each waits at
 * most the communicator's timeout (a rank that died, hangs or is far behind), then fails with an
 * error naming this rank, its host and the operation; after such a failure the communicator is
 * broken and clippo_dist_finish aborts the job instead of finalizing it. */
#ifndef CLIPPO_DIST_H
#define CLIPPO_DIST_H

#include <stddef.h>
#include <stdint.h>

#include "clippo/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/** A communicator (opaque). NULL is the one-rank communicator. */
typedef struct clippo_dist clippo_dist;

/** Element types of the reductions. */
typedef enum clippo_dist_type {
  CLIPPO_DIST_F32 = 0,
  CLIPPO_DIST_F64,
  CLIPPO_DIST_I64
} clippo_dist_type;

/** Reduction operators. */
typedef enum clippo_dist_op {
  CLIPPO_DIST_SUM = 0,
  CLIPPO_DIST_MAX,
  CLIPPO_DIST_MIN
} clippo_dist_op;

/** How a communicator is started (clippo_dist_mpi_init). */
typedef struct clippo_dist_options {
  double timeout_s; /* the longest wait of one collective (0: 600 s) */
  /* polled while a collective waits (may be NULL): once it has returned nonzero for
   * interrupt_grace_s seconds (0: 10 s) and the collective has still not completed, the wait
   * fails (Ctrl-C on a job whose peers died) */
  int (*interrupted)(void *user);
  void *interrupted_user;
  double interrupt_grace_s;
} clippo_dist_options;

/** Starts MPI (MPI_Init_thread, errors returned, not fatal) and makes the communicator of all
 * ranks; exchanges host names and finds each rank's node-local rank. Linked into the program:
 * host/dist/dist_mpi.c in an MPI build; host/dist/dist_nompi.c otherwise, which fails with
 * CLIPPO_E_UNSUPPORTED saying how to build with MPI. */
clippo_status clippo_dist_mpi_init(const clippo_dist_options *opts, clippo_dist **out,
                                   clippo_error *err);

/** The MPI library this program was built with ("Open MPI v4.1.4, MPI 3.1"), or a sentence
 * saying it was built without MPI; writes at most cap bytes into buf and returns buf. Usable
 * before clippo_dist_mpi_init. */
const char *clippo_dist_mpi_version(char *buf, size_t cap);

/** 1 when this program was built with MPI. */
int clippo_dist_mpi_built(void);

/** Ends the communicator and frees it: MPI_Finalize when every rank ends normally (failed == 0,
 * or a failure that clippo_dist_agree made known to all ranks), else MPI_Abort, which ends every
 * other rank too (a rank alone with an error must not leave the others waiting). NULL is fine. */
void clippo_dist_finish(clippo_dist *d, int failed);

/** This rank (0..size-1), the number of ranks, the rank among the ranks of its machine and
 * their number. NULL: 0, 1, 0, 1. */
int clippo_dist_rank(const clippo_dist *d);
int clippo_dist_size(const clippo_dist *d);
int clippo_dist_local_rank(const clippo_dist *d);
int clippo_dist_local_size(const clippo_dist *d);

/** The host name of rank r ("" when unknown; NULL d: this machine's name is not looked up). */
const char *clippo_dist_host(const clippo_dist *d, int r);

/** "rank R (HOST)" of this rank, for messages; "" for one rank. */
const char *clippo_dist_who(const clippo_dist *d);

/** The collective timeout in seconds. */
double clippo_dist_timeout(const clippo_dist *d);

/** In-place sum / max / min over all ranks of buf[0..count) (MPI_Allreduce with MPI_IN_PLACE;
 * counts past INT_MAX are split). what names the data in errors ("gradients"). */
clippo_status clippo_dist_allreduce(const clippo_dist *d, void *buf, size_t count,
                                    clippo_dist_type type, clippo_dist_op op, const char *what,
                                    clippo_error *err);

/** Every rank's `bytes` bytes of send, in rank order, into recv (size * bytes). */
clippo_status clippo_dist_allgather(const clippo_dist *d, const void *send, size_t bytes,
                                    void *recv, const char *what, clippo_error *err);

/** Root's buf[0..bytes) to every rank. */
clippo_status clippo_dist_bcast(const clippo_dist *d, int root, void *buf, size_t bytes,
                                const char *what, clippo_error *err);

/** Gathers a byte string of any length from every rank at root: *out (malloc'ed, free it) gets
 * them in rank order and counts[r] (size entries, caller's) their lengths; on other ranks *out
 * is NULL and counts untouched (may be NULL there). */
clippo_status clippo_dist_gather_bytes(const clippo_dist *d, int root, const void *send,
                                       size_t bytes, void **out, size_t *counts, const char *what,
                                       clippo_error *err);

/** Waits until every rank has arrived (within the timeout). */
clippo_status clippo_dist_barrier(const clippo_dist *d, const char *what, clippo_error *err);

/** *any = 1 when flag is nonzero on any rank. */
clippo_status clippo_dist_any(const clippo_dist *d, int flag, int *any, const char *what,
                              clippo_error *err);

/** Agrees on the outcome of work every rank did on its own (opening its device, loading its
 * files): returns CLIPPO_OK when st is CLIPPO_OK on every rank. Otherwise every rank returns
 * the failure of the lowest failing rank, its message prefixed with "rank R (HOST): ", and
 * *origin (may be NULL) gets R; the communicator remembers that all ranks know (see
 * clippo_dist_finish). err holds this rank's own error on entry when st fails. */
clippo_status clippo_dist_agree(const clippo_dist *d, clippo_status st, int *origin,
                                clippo_error *err);

/** 1 after clippo_dist_agree or clippo_dist_check_same returned a failure (every rank knows
 * it). */
int clippo_dist_agreed(const clippo_dist *d);

/** Fails with CLIPPO_E_NUMERIC naming the ranks and hosts whose value differs from rank 0's
 * (what: "parameters after step 100"); every rank gets the same outcome (a failure counts as
 * agreed, see clippo_dist_agreed). */
clippo_status clippo_dist_check_same(const clippo_dist *d, uint64_t value, const char *what,
                                     clippo_error *err);

/** A cheap 64-bit checksum of bytes (continuing from h; start with 0): every bit counts, runs
 * at memory speed. */
uint64_t clippo_dist_hash(uint64_t h, const void *data, size_t bytes);

/** The device spec of this rank from spec: a comma-separated list names one device per
 * node-local rank (rank l on a machine takes item l; fewer items than ranks on a machine is an
 * error naming the host); one item is every rank's. With no spec (NULL or "") and several
 * ranks on this machine, each takes its own GPU ("P:D" of the l-th GPU) when the machine has
 * one per rank, else out is "" (the default device). Writes out[cap]. */
clippo_status clippo_dist_device(const clippo_dist *d, const char *spec, char *out, size_t cap,
                                 clippo_error *err);

#ifdef __cplusplus
}
#endif
#endif
