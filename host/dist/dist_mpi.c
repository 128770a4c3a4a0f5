/* The MPI communicator (clippo/dist.h), linked into the program of an MPI build. Only the MPI
 * standard (3.0 and later): nonblocking collectives completed by polling MPI_Test against a
 * deadline, so that no collective waits forever for a rank that died or hangs; errors are
 * returned (MPI_ERRORS_RETURN), never fatal inside MPI. */
#include <limits.h>
#include <mpi.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dist/dist_internal.h"

/* The implementation's part of a communicator. */
typedef struct mpi_part {
  MPI_Comm world; /* a duplicate of MPI_COMM_WORLD: our messages never meet anyone else's */
  int started;    /* this call ran MPI_Init_thread (and so ends MPI) */
} mpi_part;

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static MPI_Comm comm_of(const clippo_dist *d) { return ((const mpi_part *)d->impl)->world; }

/* An MPI error as a clippo error naming this rank and the operation. */
static clippo_status mpi_fail(clippo_dist *d, int rc, const char *call, const char *what,
                              clippo_error *err) {
  char msg[MPI_MAX_ERROR_STRING];
  int len = 0;
  if (MPI_Error_string(rc, msg, &len) != MPI_SUCCESS) snprintf(msg, sizeof msg, "error %d", rc);
  d->broken = 1;
  return clippo_fail(err, CLIPPO_E_DEVICE, "%s: %s: %s failed: %s", d->who, what, call, msg);
}

/* Waits for q: spins for the first milliseconds (small collectives complete at once), then
 * polls with short sleeps. Fails at the deadline, or when the interrupt callback has asked to
 * stop for longer than the grace period. */
static clippo_status wait_for(clippo_dist *d, MPI_Request *q, const char *call, const char *what,
                              clippo_error *err) {
  const double t0 = now_s(), limit = d->opts.timeout_s;
  double interrupted_at = 0.0;
  const long sleep_ns = 200000;
  for (;;) {
    int done = 0;
    int rc = MPI_Test(q, &done, MPI_STATUS_IGNORE);
    if (rc != MPI_SUCCESS) return mpi_fail(d, rc, call, what, err);
    if (done) return CLIPPO_OK;
    double t = now_s();
    if (t - t0 > limit) return dist_fail_timeout(d, what, t - t0, err);
    if (d->opts.interrupted && d->opts.interrupted(d->opts.interrupted_user)) {
      if (interrupted_at == 0.0) interrupted_at = t;
      if (t - interrupted_at > d->opts.interrupt_grace_s) {
        d->broken = 1;
        return clippo_fail(err, CLIPPO_E_DEVICE,
                           "%s: %s: interrupted while waiting for the other ranks", d->who, what);
      }
    }
    /* MPI moves the data only inside MPI_Test: for the first second test as often as the
     * cores allow (yielding them to ranks still computing), then every 200 us (a rank that
     * waits that long waits for another's compute, not for the wire) */
    if (t - t0 < 1.0) {
      sched_yield();
      continue;
    }
    struct timespec ts = {0, sleep_ns};
    nanosleep(&ts, NULL);
  }
}

static MPI_Datatype mpi_type(clippo_dist_type t, size_t *size) {
  switch (t) {
  case CLIPPO_DIST_F64: *size = 8; return MPI_DOUBLE;
  case CLIPPO_DIST_I64: *size = 8; return MPI_INT64_T;
  default: *size = 4; return MPI_FLOAT;
  }
}

static MPI_Op mpi_op(clippo_dist_op op) {
  return op == CLIPPO_DIST_MAX ? MPI_MAX : op == CLIPPO_DIST_MIN ? MPI_MIN : MPI_SUM;
}

/* The static analyzer's MPI checker wants an MPI_Wait for every request: these are completed by
 * MPI_Test in wait_for (or abandoned with the job when it times out). */
// NOLINTBEGIN(clang-analyzer-optin.mpi.MPI-Checker)
static clippo_status m_allreduce(clippo_dist *d, void *buf, size_t count, clippo_dist_type type,
                                 clippo_dist_op op, const char *what, clippo_error *err) {
  size_t esize = 0;
  MPI_Datatype t = mpi_type(type, &esize);
  for (size_t done = 0; done < count;) {
    size_t n = count - done > (size_t)INT_MAX ? (size_t)INT_MAX : count - done;
    MPI_Request q;
    int rc = MPI_Iallreduce(MPI_IN_PLACE, (char *)buf + done * esize, (int)n, t, mpi_op(op),
                            comm_of(d), &q);
    if (rc != MPI_SUCCESS) return mpi_fail(d, rc, "MPI_Iallreduce", what, err);
    clippo_status st = wait_for(d, &q, "MPI_Iallreduce", what, err);
    if (st) return st;
    done += n;
  }
  return CLIPPO_OK;
}

static clippo_status too_big(clippo_dist *d, size_t bytes, const char *what, clippo_error *err) {
  return clippo_fail(err, CLIPPO_E_UNSUPPORTED, "%s: %s: %zu bytes in one exchange (at most %d)",
                     d->who, what, bytes, INT_MAX);
}

static clippo_status m_allgather(clippo_dist *d, const void *send, size_t bytes, void *recv,
                                 const char *what, clippo_error *err) {
  if (bytes > (size_t)INT_MAX) return too_big(d, bytes, what, err);
  MPI_Request q;
  int rc = MPI_Iallgather(send, (int)bytes, MPI_BYTE, recv, (int)bytes, MPI_BYTE, comm_of(d), &q);
  if (rc != MPI_SUCCESS) return mpi_fail(d, rc, "MPI_Iallgather", what, err);
  return wait_for(d, &q, "MPI_Iallgather", what, err);
}

static clippo_status m_bcast(clippo_dist *d, int root, void *buf, size_t bytes, const char *what,
                             clippo_error *err) {
  for (size_t done = 0; done < bytes;) {
    size_t n = bytes - done > (size_t)INT_MAX ? (size_t)INT_MAX : bytes - done;
    MPI_Request q;
    int rc = MPI_Ibcast((char *)buf + done, (int)n, MPI_BYTE, root, comm_of(d), &q);
    if (rc != MPI_SUCCESS) return mpi_fail(d, rc, "MPI_Ibcast", what, err);
    clippo_status st = wait_for(d, &q, "MPI_Ibcast", what, err);
    if (st) return st;
    done += n;
  }
  return CLIPPO_OK;
}

static clippo_status m_gatherv(clippo_dist *d, int root, const void *send, size_t bytes, void *recv,
                               const size_t *counts, const char *what, clippo_error *err) {
  const int n = d->size;
  int *cnt = malloc((size_t)n * sizeof *cnt), *displ = malloc((size_t)n * sizeof *displ);
  if (!cnt || !displ) {
    free(cnt);
    free(displ);
    return clippo_fail(err, CLIPPO_E_NOMEM, "out of host memory");
  }
  size_t total = 0;
  for (int r = 0; r < n; r++) {
    cnt[r] = (int)counts[r];
    displ[r] = (int)total;
    total += counts[r];
  }
  clippo_status st = CLIPPO_OK;
  if (total > (size_t)INT_MAX) st = too_big(d, total, what, err);
  if (!st) {
    MPI_Request q;
    int rc =
        MPI_Igatherv(send, (int)bytes, MPI_BYTE, recv, cnt, displ, MPI_BYTE, root, comm_of(d), &q);
    st = rc != MPI_SUCCESS ? mpi_fail(d, rc, "MPI_Igatherv", what, err)
                           : wait_for(d, &q, "MPI_Igatherv", what, err);
  }
  free(cnt);
  free(displ);
  return st;
}

static clippo_status m_barrier(clippo_dist *d, const char *what, clippo_error *err) {
  MPI_Request q;
  int rc = MPI_Ibarrier(comm_of(d), &q);
  if (rc != MPI_SUCCESS) return mpi_fail(d, rc, "MPI_Ibarrier", what, err);
  return wait_for(d, &q, "MPI_Ibarrier", what, err);
}

// NOLINTEND(clang-analyzer-optin.mpi.MPI-Checker)

static void m_finish(clippo_dist *d, int abort) {
  mpi_part *p = d->impl;
  if (!p) return;
  if (abort) MPI_Abort(MPI_COMM_WORLD, 1); /* does not return */
  if (p->world != MPI_COMM_NULL) MPI_Comm_free(&p->world);
  if (p->started) MPI_Finalize();
  free(p);
  d->impl = NULL;
}

static const dist_vtable mpi_vtable = {m_allreduce, m_allgather, m_bcast,
                                       m_gatherv,   m_barrier,   m_finish};

/* The node-local rank and size (ranks sharing memory: one machine). */
static int local_ranks(clippo_dist *d) {
  MPI_Comm node;
  int rc = MPI_Comm_split_type(comm_of(d), MPI_COMM_TYPE_SHARED, d->rank, MPI_INFO_NULL, &node);
  if (rc != MPI_SUCCESS) return rc;
  rc = MPI_Comm_rank(node, &d->local_rank);
  if (rc == MPI_SUCCESS) rc = MPI_Comm_size(node, &d->local_size);
  MPI_Comm_free(&node);
  return rc;
}

clippo_status clippo_dist_mpi_init(const clippo_dist_options *opts, clippo_dist **out,
                                   clippo_error *err) {
  *out = NULL;
  clippo_dist *d = calloc(1, sizeof *d);
  mpi_part *p = calloc(1, sizeof *p);
  if (!d || !p) {
    free(d);
    free(p);
    return clippo_fail(err, CLIPPO_E_NOMEM, "out of host memory");
  }
  d->vt = &mpi_vtable;
  d->impl = p;
  p->world = MPI_COMM_NULL;
  if (opts) d->opts = *opts;
  if (!(d->opts.timeout_s > 0)) d->opts.timeout_s = 600.0;
  if (!(d->opts.interrupt_grace_s > 0)) d->opts.interrupt_grace_s = 10.0;
  snprintf(d->who, sizeof d->who, "MPI");
  int inited = 0, provided = 0, rc = MPI_Initialized(&inited);
  if (rc == MPI_SUCCESS && !inited) {
    rc = MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided);
    p->started = rc == MPI_SUCCESS;
  }
  if (rc == MPI_SUCCESS) rc = MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  if (rc == MPI_SUCCESS) rc = MPI_Comm_dup(MPI_COMM_WORLD, &p->world);
  if (rc == MPI_SUCCESS) rc = MPI_Comm_set_errhandler(p->world, MPI_ERRORS_RETURN);
  if (rc == MPI_SUCCESS) rc = MPI_Comm_rank(p->world, &d->rank);
  if (rc == MPI_SUCCESS) rc = MPI_Comm_size(p->world, &d->size);
  if (rc == MPI_SUCCESS) rc = local_ranks(d);
  clippo_status st = CLIPPO_OK;
  if (rc != MPI_SUCCESS) st = mpi_fail(d, rc, "starting MPI", "MPI", err);
  /* every rank's host name, for messages that name a rank */
  char host[DIST_HOST_MAX];
  memset(host, 0, sizeof host);
  int len = 0;
  char name[MPI_MAX_PROCESSOR_NAME];
  if (!st && MPI_Get_processor_name(name, &len) == MPI_SUCCESS)
    snprintf(host, sizeof host, "%.*s", len, name);
  if (!st) {
    d->hosts = calloc((size_t)d->size, DIST_HOST_MAX);
    if (!d->hosts) st = clippo_fail(err, CLIPPO_E_NOMEM, "out of host memory");
  }
  snprintf(d->who, sizeof d->who, "rank %d (%s)", d->rank, host);
  if (!st) st = m_allgather(d, host, DIST_HOST_MAX, d->hosts, "exchanging host names", err);
  if (st) {
    if (p->world != MPI_COMM_NULL) MPI_Comm_free(&p->world);
    /* a rank that cannot start leaves the others waiting: end the job */
    if (p->started) MPI_Abort(MPI_COMM_WORLD, 1);
    free(p);
    free(d->hosts);
    free(d);
    return st;
  }
  dist_set_who(d);
  *out = d;
  return CLIPPO_OK;
}

const char *clippo_dist_mpi_version(char *buf, size_t cap) {
  char lib[MPI_MAX_LIBRARY_VERSION_STRING];
  int len = 0, major = 0, minor = 0;
  if (MPI_Get_library_version(lib, &len) != MPI_SUCCESS) len = 0;
  MPI_Get_version(&major, &minor);
  lib[len < (int)sizeof lib ? len : (int)sizeof lib - 1] = '\0';
  /* the first line, without the details ("Open MPI v4.1.4, package: ..., ident: ...") */
  size_t n = strcspn(lib, ",\n");
  snprintf(buf, cap, "%.*s (MPI %d.%d)", (int)n, lib, major, minor);
  return buf;
}

int clippo_dist_mpi_built(void) { return 1; }
