/* The communicator behind clippo/dist.h: a table of the primitive collectives, filled by an
 * implementation (host/dist/dist_mpi.c), and what every implementation shares. Private to
 * host/dist. */
#ifndef CLIPPO_DIST_INTERNAL_H
#define CLIPPO_DIST_INTERNAL_H

#include "clippo/dist.h"

/** Longest host name kept per rank. */
#define DIST_HOST_MAX 64

/** The primitive collectives of an implementation; each waits at most d->opts.timeout_s and
 * fails naming the operation what. */
typedef struct dist_vtable {
  clippo_status (*allreduce)(clippo_dist *d, void *buf, size_t count, clippo_dist_type type,
                             clippo_dist_op op, const char *what, clippo_error *err);
  clippo_status (*allgather)(clippo_dist *d, const void *send, size_t bytes, void *recv,
                             const char *what, clippo_error *err);
  clippo_status (*bcast)(clippo_dist *d, int root, void *buf, size_t bytes, const char *what,
                         clippo_error *err);
  /* counts[r] bytes from each rank into recv at root (counts known on every rank) */
  clippo_status (*gatherv)(clippo_dist *d, int root, const void *send, size_t bytes, void *recv,
                           const size_t *counts, const char *what, clippo_error *err);
  clippo_status (*barrier)(clippo_dist *d, const char *what, clippo_error *err);
  /* finalize (abort == 0) or abort the job, then free the implementation's part */
  void (*finish)(clippo_dist *d, int abort);
} dist_vtable;

/** A communicator. */
struct clippo_dist {
  const dist_vtable *vt;
  clippo_dist_options opts;
  int rank, size, local_rank, local_size;
  char *hosts; /* size * DIST_HOST_MAX bytes: the host name of every rank */
  char who[DIST_HOST_MAX + 32];
  int broken; /* a collective failed: the ranks are no longer in step */
  int agreed; /* clippo_dist_agree returned a failure every rank knows */
  void *impl;
};

/** Fills d->who from rank and hosts. */
void dist_set_who(clippo_dist *d);

/** Sets *err to "WHO: what: no answer ..." for a collective that ran past the timeout. */
clippo_status dist_fail_timeout(clippo_dist *d, const char *what, double waited, clippo_error *err);

#endif
