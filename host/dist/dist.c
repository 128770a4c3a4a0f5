/* The communicator's functions (clippo/dist.h): the one-rank behaviour when d is NULL or has one
 * rank, the implementation's table otherwise, and what is built on the primitives (agreeing on
 * a failure, comparing checksums, gathering strings, choosing a device per rank). */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clippo/runtime.h"
#include "dist/dist_internal.h"

/* 1 when d is a communicator of more than one rank (collectives go through its table). */
static int many(const clippo_dist *d) { return d && d->vt && d->size > 1; }

/* Fails when an earlier collective of d failed: the ranks are out of step. */
static clippo_status check_usable(const clippo_dist *d, const char *what, clippo_error *err) {
  if (d->broken)
    return clippo_fail(err, CLIPPO_E_ARG, "%s: %s: an earlier exchange between the ranks failed",
                       d->who, what);
  return CLIPPO_OK;
}

/* Marks d broken after a failed collective (the pointer is const for the callers, whose view
 * of the communicator does not change; the state is the communicator's own). */
static clippo_status broken_after(const clippo_dist *d, clippo_status st) {
  if (st != CLIPPO_OK) ((clippo_dist *)d)->broken = 1;
  return st;
}

void dist_set_who(clippo_dist *d) {
  const char *h = clippo_dist_host(d, d->rank);
  snprintf(d->who, sizeof d->who, "rank %d (%s)", d->rank, h[0] ? h : "?");
}

clippo_status dist_fail_timeout(clippo_dist *d, const char *what, double waited,
                                clippo_error *err) {
  d->broken = 1;
  return clippo_fail(err, CLIPPO_E_DEVICE,
                     "%s: %s: no answer from the other ranks in %.0f s (a rank died, hangs or is "
                     "far behind; CLIPPO_DIST_TIMEOUT sets the limit)",
                     d->who, what, waited);
}

void clippo_dist_finish(clippo_dist *d, int failed) {
  if (!d) return;
  if (d->vt) d->vt->finish(d, (failed || d->broken) && !d->agreed);
  free(d->hosts);
  free(d);
}

int clippo_dist_rank(const clippo_dist *d) { return d ? d->rank : 0; }
int clippo_dist_size(const clippo_dist *d) { return d ? d->size : 1; }
int clippo_dist_local_rank(const clippo_dist *d) { return d ? d->local_rank : 0; }
int clippo_dist_local_size(const clippo_dist *d) { return d ? d->local_size : 1; }

const char *clippo_dist_host(const clippo_dist *d, int r) {
  if (!d || !d->hosts || r < 0 || r >= d->size) return "";
  return d->hosts + (size_t)r * DIST_HOST_MAX;
}

const char *clippo_dist_who(const clippo_dist *d) { return many(d) ? d->who : ""; }

double clippo_dist_timeout(const clippo_dist *d) { return d ? d->opts.timeout_s : 0.0; }

clippo_status clippo_dist_allreduce(const clippo_dist *d, void *buf, size_t count,
                                    clippo_dist_type type, clippo_dist_op op, const char *what,
                                    clippo_error *err) {
  if (!many(d) || count == 0) return CLIPPO_OK;
  if (check_usable(d, what, err)) return err->status;
  return broken_after(d, d->vt->allreduce((clippo_dist *)d, buf, count, type, op, what, err));
}

clippo_status clippo_dist_allgather(const clippo_dist *d, const void *send, size_t bytes,
                                    void *recv, const char *what, clippo_error *err) {
  if (!many(d)) {
    if (bytes) memmove(recv, send, bytes);
    return CLIPPO_OK;
  }
  if (check_usable(d, what, err)) return err->status;
  return broken_after(d, d->vt->allgather((clippo_dist *)d, send, bytes, recv, what, err));
}

clippo_status clippo_dist_bcast(const clippo_dist *d, int root, void *buf, size_t bytes,
                                const char *what, clippo_error *err) {
  if (!many(d) || bytes == 0) return CLIPPO_OK;
  if (root < 0 || root >= d->size)
    return clippo_fail(err, CLIPPO_E_ARG, "%s: broadcast from rank %d of %d", what, root, d->size);
  if (check_usable(d, what, err)) return err->status;
  return broken_after(d, d->vt->bcast((clippo_dist *)d, root, buf, bytes, what, err));
}

clippo_status clippo_dist_gather_bytes(const clippo_dist *d, int root, const void *send,
                                       size_t bytes, void **out, size_t *counts, const char *what,
                                       clippo_error *err) {
  *out = NULL;
  if (!many(d)) {
    *out = malloc(bytes ? bytes : 1);
    if (!*out) return clippo_fail(err, CLIPPO_E_NOMEM, "%s: out of host memory", what);
    if (bytes) memcpy(*out, send, bytes);
    if (counts) counts[0] = bytes;
    return CLIPPO_OK;
  }
  if (check_usable(d, what, err)) return err->status;
  const size_t n = (size_t)d->size;
  int64_t mine = (int64_t)bytes, *all = malloc(n * sizeof *all);
  size_t *cnt = malloc(n * sizeof *cnt);
  clippo_status st = all && cnt ? CLIPPO_OK : clippo_fail(err, CLIPPO_E_NOMEM, "out of memory");
  if (!st) st = clippo_dist_allgather(d, &mine, sizeof mine, all, what, err);
  size_t total = 0;
  for (size_t r = 0; !st && r < n; r++) {
    cnt[r] = (size_t)all[r];
    total += cnt[r];
  }
  void *recv = NULL;
  if (!st && d->rank == root) {
    recv = malloc(total ? total : 1);
    if (!recv)
      st = clippo_fail(err, CLIPPO_E_NOMEM, "%s: out of host memory for %zu bytes", what, total);
  }
  /* every rank enters the gather, or the others would wait for this one until the timeout */
  clippo_status st2 =
      broken_after(d, d->vt->gatherv((clippo_dist *)d, root, send, bytes, recv, cnt, what, err));
  if (!st) st = st2;
  if (!st && d->rank == root) {
    *out = recv;
    recv = NULL;
    if (counts) memcpy(counts, cnt, n * sizeof *cnt);
  }
  free(recv);
  free(all);
  free(cnt);
  return st;
}

clippo_status clippo_dist_barrier(const clippo_dist *d, const char *what, clippo_error *err) {
  if (!many(d)) return CLIPPO_OK;
  if (check_usable(d, what, err)) return err->status;
  return broken_after(d, d->vt->barrier((clippo_dist *)d, what, err));
}

clippo_status clippo_dist_any(const clippo_dist *d, int flag, int *any, const char *what,
                              clippo_error *err) {
  int64_t v = flag != 0;
  clippo_status st = clippo_dist_allreduce(d, &v, 1, CLIPPO_DIST_I64, CLIPPO_DIST_MAX, what, err);
  *any = st == CLIPPO_OK && v != 0;
  return st;
}

clippo_status clippo_dist_agree(const clippo_dist *d, clippo_status st, int *origin,
                                clippo_error *err) {
  if (origin) *origin = st ? 0 : -1;
  if (!many(d)) return st;
  /* the lowest failing rank, then its status and message from it */
  int64_t first = st != CLIPPO_OK ? d->rank : d->size;
  clippo_error mine;
  if (st != CLIPPO_OK) mine = *err;
  clippo_status cst =
      clippo_dist_allreduce(d, &first, 1, CLIPPO_DIST_I64, CLIPPO_DIST_MIN, "agreeing", err);
  if (cst) return cst;
  if (first >= d->size) return CLIPPO_OK;
  const int f = (int)first;
  clippo_error msg;
  memset(&msg, 0, sizeof msg);
  if (d->rank == f) msg = mine;
  cst = clippo_dist_bcast(d, f, &msg, sizeof msg, "agreeing", err);
  if (cst) return cst;
  msg.msg[sizeof msg.msg - 1] = '\0';
  if (msg.status == CLIPPO_OK) msg.status = CLIPPO_E_ARG;
  const char *h = clippo_dist_host(d, f);
  clippo_fail(err, msg.status, "rank %d (%s): %s", f, h[0] ? h : "?", msg.msg);
  if (origin) *origin = f;
  ((clippo_dist *)d)->agreed = 1;
  return msg.status;
}

int clippo_dist_agreed(const clippo_dist *d) { return d ? d->agreed : 0; }

clippo_status clippo_dist_check_same(const clippo_dist *d, uint64_t value, const char *what,
                                     clippo_error *err) {
  if (!many(d)) return CLIPPO_OK;
  const size_t n = (size_t)d->size;
  uint64_t *all = calloc(n, sizeof *all);
  if (!all) return clippo_fail(err, CLIPPO_E_NOMEM, "out of host memory");
  clippo_status st = clippo_dist_allgather(d, &value, sizeof value, all, what, err);
  if (st) {
    free(all);
    return st;
  }
  char list[1024] = "";
  size_t used = 0, bad = 0;
  for (size_t r = 1; r < n; r++) {
    if (all[r] == all[0]) continue;
    if (bad++ < 8 && used < sizeof list)
      used += (size_t)snprintf(list + used, sizeof list - used, "%srank %zu (%s) %016llx",
                               bad > 1 ? ", " : "", r, clippo_dist_host(d, (int)r),
                               (unsigned long long)all[r]);
  }
  if (bad)
    st = clippo_fail(err, CLIPPO_E_NUMERIC,
                     "%s differ between the ranks: rank 0 (%s) has checksum %016llx, %s%s (the "
                     "ranks must start from the same files and run the same program on the same "
                     "kind of device)",
                     what, clippo_dist_host(d, 0), (unsigned long long)all[0], list,
                     bad > 8 ? ", ..." : "");
  if (bad) ((clippo_dist *)d)->agreed = 1; /* every rank saw the same checksums */
  free(all);
  return st;
}

/* ---- checksums ----------------------------------------------------------------------------- */

static uint64_t rotl64(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }

uint64_t clippo_dist_hash(uint64_t h, const void *data, size_t bytes) {
  const uint64_t k1 = 0x9E3779B185EBCA87ULL, k2 = 0xC2B2AE3D27D4EB4FULL;
  const unsigned char *p = data;
  h ^= (uint64_t)bytes * k2;
  for (; bytes >= 8; bytes -= 8, p += 8) {
    uint64_t w;
    memcpy(&w, p, 8);
    h = rotl64(h ^ (w * k1), 31) * k2;
  }
  uint64_t tail = 0;
  for (size_t i = 0; i < bytes; i++) tail |= (uint64_t)p[i] << (8 * i);
  h = rotl64(h ^ (tail * k1), 31) * k2;
  h ^= h >> 33;
  h *= k1;
  h ^= h >> 29;
  return h;
}

/* ---- devices ------------------------------------------------------------------------------- */

/* The l-th GPU of this machine as "P:D" into out, when it has at least n GPUs; else out = "". */
static clippo_status own_gpu(int l, int n, char *out, size_t cap, clippo_error *err) {
  clippo_device_info *devs = NULL;
  size_t count = 0;
  out[0] = '\0';
  clippo_status st = clippo_devices_list(&devs, &count, err);
  if (st) return st;
  int gpus = 0;
  for (size_t i = 0; i < count; i++)
    if (devs[i].type & CL_DEVICE_TYPE_GPU) gpus++;
  for (size_t i = 0, g = 0; gpus >= n && i < count; i++) {
    if (!(devs[i].type & CL_DEVICE_TYPE_GPU)) continue;
    if ((int)g++ == l) snprintf(out, cap, "%d:%d", devs[i].platform_index, devs[i].device_index);
  }
  free(devs);
  return CLIPPO_OK;
}

clippo_status clippo_dist_device(const clippo_dist *d, const char *spec, char *out, size_t cap,
                                 clippo_error *err) {
  const int l = clippo_dist_local_rank(d), ln = clippo_dist_local_size(d);
  if (cap) out[0] = '\0';
  if (!spec || !spec[0]) return ln > 1 ? own_gpu(l, ln, out, cap, err) : CLIPPO_OK;
  if (!strchr(spec, ',')) {
    if (strlen(spec) >= cap) return clippo_fail(err, CLIPPO_E_ARG, "device spec too long");
    snprintf(out, cap, "%s", spec);
    return CLIPPO_OK;
  }
  int items = 1;
  for (const char *c = spec; *c; c++) items += *c == ',';
  if (l >= items)
    return clippo_fail(err, CLIPPO_E_ARG,
                       "device list '%s' names %d devices, but %s runs %d ranks: give one device "
                       "per rank on each machine",
                       spec, items, d && d->hosts ? clippo_dist_host(d, d->rank) : "this machine",
                       ln);
  const char *s = spec;
  for (int i = 0; i < l; i++) s = strchr(s, ',') + 1;
  size_t n = strcspn(s, ",");
  if (n == 0) return clippo_fail(err, CLIPPO_E_ARG, "device list '%s': item %d is empty", spec, l);
  if (n >= cap) return clippo_fail(err, CLIPPO_E_ARG, "device spec too long");
  memcpy(out, s, n);
  out[n] = '\0';
  return CLIPPO_OK;
}
