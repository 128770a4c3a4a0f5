/* Data-parallel training over the ranks of a communicator (see train_dist.h). */
#include "train/train_dist.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TRY(x)                                                                                     \
  do {                                                                                             \
    clippo_status st_ = (x);                                                                       \
    if (st_ != CLIPPO_OK) return st_;                                                              \
  } while (0)

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int train_dist_active(const train_dist *td) { return td->size > 1; }

clippo_status train_dist_setup(train_dist *td, clippo_rt *rt, const clippo_dist *d, size_t Bg,
                               size_t D, size_t *Bl, clippo_error *err) {
  memset(td, 0, sizeof *td);
  td->d = d;
  td->rank = clippo_dist_rank(d);
  td->size = clippo_dist_size(d);
  td->Bg = Bg;
  td->D = D;
  const size_t R = (size_t)td->size;
  if (Bg % R)
    return clippo_fail(err, CLIPPO_E_ARG,
                       "the batch of %zu pairs does not split over %zu ranks: give a batch "
                       "divisible by the number of ranks (e.g. --batch-size %zu)",
                       Bg, R, (Bg / R + 1) * R);
  td->Bl = *Bl = Bg / R;
  if (!train_dist_active(td)) return CLIPPO_OK;
  int64_t shape[2] = {(int64_t)(2 * Bg), (int64_t)D};
  TRY(clippo_tensor_alloc(rt, &td->Zg, CLIPPO_F32, 2, shape, err));
  TRY(clippo_tensor_alloc(rt, &td->dZg, CLIPPO_F32, 2, shape, err));
  TRY(clippo_loss_ws_alloc(rt, Bg, &td->lws, err));
  td->send = malloc(2 * td->Bl * D * sizeof(float));
  td->recv = malloc(2 * Bg * D * sizeof(float));
  td->zg = malloc(2 * Bg * D * sizeof(float));
  if (!td->send || !td->recv || !td->zg)
    return clippo_fail(err, CLIPPO_E_NOMEM, "out of host memory for the gathered embeddings");
  return CLIPPO_OK;
}

void train_dist_release(train_dist *td, clippo_rt *rt) {
  clippo_tensor_release(rt, &td->Zg);
  clippo_tensor_release(rt, &td->dZg);
  clippo_loss_ws_release(rt, &td->lws);
  free(td->send);
  free(td->recv);
  free(td->zg);
  free(td->bucket);
  memset(td, 0, sizeof *td);
}

clippo_status train_dist_fill(const train_dist *td, const clippo_dataset *data, clippo_sampler *s,
                              const clippo_font *font, int image_size, float *inputs,
                              clippo_error *err) {
  /* the shares of the ranks before this one, this rank's, then those after it: the global
   * order of the examples is the single-process one */
  for (size_t k = 0; k < (size_t)td->rank * td->Bl; k++) (void)clippo_sampler_next(s, NULL);
  TRY(clippo_batch_fill(data, s, font, image_size, td->Bl, inputs, NULL, err));
  for (size_t k = 0; k < (size_t)(td->size - 1 - td->rank) * td->Bl; k++)
    (void)clippo_sampler_next(s, NULL);
  return CLIPPO_OK;
}

/* rows [r0, r0 + n) of a (rows, w) tensor */
static clippo_tensor rows(const clippo_tensor *t, size_t r0, size_t n, size_t w) {
  int64_t shape[2] = {(int64_t)n, (int64_t)w};
  return clippo_tensor_view(t, r0 * w, 2, shape);
}

clippo_status train_dist_loss(train_dist *td, clippo_rt *rt, const clippo_tensor *Z, float t,
                              clippo_tensor *dZ, double *loss, double *dt, clippo_error *err) {
  const size_t Bg = td->Bg, Bl = td->Bl, D = td->D, R = (size_t)td->size, r = (size_t)td->rank;
  const size_t half = Bl * D; /* floats of one rank's images (or texts) */
  TRY(clippo_tensor_read(rt, Z, td->send, err));
  double t0 = now_s();
  clippo_status st = clippo_dist_allgather(td->d, td->send, 2 * half * sizeof(float), td->recv,
                                           "gathering the embeddings", err);
  td->comm_s += now_s() - t0;
  if (st) return st;
  /* rank q's block is [images_q; texts_q]: all images (rank order), then all texts */
  for (size_t q = 0; q < R; q++) {
    memcpy(td->zg + q * half, td->recv + q * 2 * half, half * sizeof(float));
    memcpy(td->zg + Bg * D + q * half, td->recv + q * 2 * half + half, half * sizeof(float));
  }
  TRY(clippo_tensor_write(rt, &td->Zg, td->zg, err));
  clippo_tensor zi = rows(&td->Zg, 0, Bg, D), zt = rows(&td->Zg, Bg, Bg, D);
  clippo_tensor gi = rows(&td->dZg, 0, Bg, D), gt = rows(&td->dZg, Bg, Bg, D);
  TRY(clippo_contrastive_loss(rt, &zi, &zt, t, &td->lws, &gi, &gt, loss, dt, err));
  if (r != 0) *dt = 0.0;
  /* this rank's rows of dL/dZ */
  clippo_tensor src = rows(&td->dZg, r * Bl, Bl, D), dst = rows(dZ, 0, Bl, D);
  TRY(clippo_op_copy(rt, &src, &dst, err));
  src = rows(&td->dZg, Bg + r * Bl, Bl, D);
  dst = rows(dZ, Bl, Bl, D);
  return clippo_op_copy(rt, &src, &dst, err);
}

/* A piece of a tensor that sits in the bucket. */
typedef struct piece {
  size_t tensor, offset, count, at;
} piece;

/* The bucket, allocated at its first use: min(total floats, TRAIN_DIST_BUCKET). */
static clippo_status need_bucket(train_dist *td, clippo_tensor *const *x, size_t n,
                                 clippo_error *err) {
  if (td->bucket) return CLIPPO_OK;
  size_t total = 0;
  for (size_t i = 0; i < n; i++) total += clippo_tensor_count(x[i]);
  td->bucket_floats = total < TRAIN_DIST_BUCKET ? (total ? total : 1) : TRAIN_DIST_BUCKET;
  td->bucket = malloc(td->bucket_floats * sizeof(float));
  if (!td->bucket)
    return clippo_fail(err, CLIPPO_E_NOMEM, "out of host memory for a %zu MiB gradient bucket",
                       td->bucket_floats * sizeof(float) >> 20);
  return CLIPPO_OK;
}

/* The view of piece p of tensor t (flat). */
static clippo_tensor piece_view(const clippo_tensor *t, const piece *p) {
  int64_t shape[1] = {(int64_t)p->count};
  return clippo_tensor_view(t, p->offset, 1, shape);
}

/* Walks the n tensors bucket by bucket: reads each bucket's pieces from the device, then calls
 * done(td, rt, x, pieces, np, filled, err) for the full bucket. */
typedef clippo_status (*bucket_fn)(train_dist *td, clippo_rt *rt, clippo_tensor *const *x,
                                   const piece *pieces, size_t np, size_t filled, void *user,
                                   clippo_error *err);

static clippo_status each_bucket(train_dist *td, clippo_rt *rt, clippo_tensor *const *x, size_t n,
                                 bucket_fn done, void *user, clippo_error *err) {
  TRY(need_bucket(td, x, n, err));
  /* a bucket holds at most one piece per tensor, so n + 1 pieces always suffice */
  piece *pieces = malloc((n + 1) * sizeof *pieces);
  if (!pieces) return clippo_fail(err, CLIPPO_E_NOMEM, "out of host memory");
  size_t np = 0, filled = 0;
  clippo_status st = CLIPPO_OK;
  for (size_t i = 0; !st && i < n; i++) {
    size_t count = clippo_tensor_count(x[i]);
    for (size_t off = 0; !st && off < count;) {
      size_t room = td->bucket_floats - filled, take = count - off < room ? count - off : room;
      piece p = {i, off, take, filled};
      clippo_tensor v = piece_view(x[i], &p);
      st = clippo_tensor_read(rt, &v, td->bucket + filled, err);
      pieces[np++] = p;
      filled += take;
      off += take;
      if (!st && filled == td->bucket_floats) {
        st = done(td, rt, x, pieces, np, filled, user, err);
        np = filled = 0;
      }
    }
  }
  if (!st && filled) st = done(td, rt, x, pieces, np, filled, user, err);
  free(pieces);
  return st;
}

static clippo_status reduce_bucket(train_dist *td, clippo_rt *rt, clippo_tensor *const *x,
                                   const piece *pieces, size_t np, size_t filled, void *user,
                                   clippo_error *err) {
  (void)user;
  double t0 = now_s();
  clippo_status st = clippo_dist_allreduce(td->d, td->bucket, filled, CLIPPO_DIST_F32,
                                           CLIPPO_DIST_SUM, "summing the gradients", err);
  td->comm_s += now_s() - t0;
  for (size_t k = 0; !st && k < np; k++) {
    clippo_tensor v = piece_view(x[pieces[k].tensor], &pieces[k]);
    st = clippo_tensor_write(rt, &v, td->bucket + pieces[k].at, err);
  }
  return st;
}

clippo_status train_dist_reduce(train_dist *td, clippo_rt *rt, clippo_tensor *const *grads,
                                size_t n, clippo_error *err) {
  if (!train_dist_active(td)) return CLIPPO_OK;
  return each_bucket(td, rt, grads, n, reduce_bucket, NULL, err);
}

static clippo_status hash_bucket(train_dist *td, clippo_rt *rt, clippo_tensor *const *x,
                                 const piece *pieces, size_t np, size_t filled, void *user,
                                 clippo_error *err) {
  (void)rt, (void)x, (void)pieces, (void)np, (void)err;
  uint64_t *h = user;
  *h = clippo_dist_hash(*h, td->bucket, filled * sizeof(float));
  return CLIPPO_OK;
}

clippo_status train_dist_check(train_dist *td, clippo_rt *rt, clippo_tensor *const *params,
                               size_t n, const char *when, clippo_error *err) {
  if (!train_dist_active(td)) return CLIPPO_OK;
  uint64_t h = 0;
  TRY(each_bucket(td, rt, params, n, hash_bucket, &h, err));
  char what[96];
  snprintf(what, sizeof what, "the parameters %s", when);
  double t0 = now_s();
  clippo_status st = clippo_dist_check_same(td->d, h, what, err);
  td->comm_s += now_s() - t0;
  return st;
}

clippo_status train_dist_any(train_dist *td, int flag, int *stop, clippo_error *err) {
  *stop = flag != 0;
  if (!train_dist_active(td)) return CLIPPO_OK;
  return clippo_dist_any(td->d, flag, stop, "deciding whether to stop", err);
}
