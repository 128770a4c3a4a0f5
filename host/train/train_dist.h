/* Data-parallel training over the ranks of a communicator (clippo/dist.h), as big_vision runs
 * it on a pod: the global batch of B pairs is split into R shares of B / R; each rank embeds
 * its share, every rank gathers all 2B embeddings and computes the contrastive loss over the
 * whole batch and its gradient, keeps the rows of its own share and backpropagates them through
 * its copy of the tower; the parameter gradients are summed over the ranks (in place, in
 * buckets), and every rank applies the same optimizer step. A checksum of the parameters
 * compared across ranks catches ranks that drift apart.
 *
 * With one rank (no communicator) every function here does what the single-process trainer
 * does and nothing more. Private to host/train. */
#ifndef CLIPPO_TRAIN_DIST_H
#define CLIPPO_TRAIN_DIST_H

#include "clippo/dist.h"
#include "clippo/ops.h"
#include "clippo/train.h"

/** The distributed part of a training run. Zero it, then train_dist_setup. */
typedef struct train_dist {
  const clippo_dist *d; /* NULL: one process */
  int rank, size;
  size_t Bg, Bl, D;        /* the global batch, this rank's share, the embedding width */
  clippo_tensor Zg, dZg;   /* (2 Bg, D): all embeddings (images, then texts) and dL/dZ */
  clippo_loss_ws lws;      /* the loss scratch for Bg pairs */
  float *send, *recv, *zg; /* 2 Bl D, R 2 Bl D and 2 Bg D floats */
  float *bucket;           /* the gradient bucket */
  size_t bucket_floats;    /* its size */
  double comm_s;           /* seconds spent exchanging (embeddings, gradients, checksums) */
} train_dist;

/** Most floats of one gradient bucket (64 MiB): the host copy the sum is made in. */
#define TRAIN_DIST_BUCKET ((size_t)16 << 20)

/** 1 when the run has more than one rank. */
int train_dist_active(const train_dist *td);

/** Sets up the run's share of a global batch of Bg pairs (Bg divisible by the ranks, else
 * CLIPPO_E_ARG) with embeddings of width D; *Bl gets this rank's share. */
clippo_status train_dist_setup(train_dist *td, clippo_rt *rt, const clippo_dist *d, size_t Bg,
                               size_t D, size_t *Bl, clippo_error *err);

/** Releases what train_dist_setup allocated. */
void train_dist_release(train_dist *td, clippo_rt *rt);

/** Fills inputs with this rank's share of the next global batch (as clippo_batch_fill with
 * b = Bl) and moves the sampler past the whole global batch. */
clippo_status train_dist_fill(const train_dist *td, const clippo_dataset *data, clippo_sampler *s,
                              const clippo_font *font, int image_size, float *inputs,
                              clippo_error *err);

/** The loss over the global batch from this rank's embeddings Z (2 Bl, D: its images, then its
 * texts): gathers every rank's, computes the loss and dL/dZ over all 2 Bg rows and writes the
 * rows of this rank's pairs into dZ (2 Bl, D). *loss is the global loss on every rank; *dt is
 * this rank's share of dL/dt (all of it on rank 0, 0 elsewhere), so that the summed gradients
 * hold it once. */
clippo_status train_dist_loss(train_dist *td, clippo_rt *rt, const clippo_tensor *Z, float t,
                              clippo_tensor *dZ, double *loss, double *dt, clippo_error *err);

/** Sums the n gradient tensors over the ranks in place (bucket by bucket through the host). */
clippo_status train_dist_reduce(train_dist *td, clippo_rt *rt, clippo_tensor *const *grads,
                                size_t n, clippo_error *err);

/** Compares a checksum of the n parameter tensors across the ranks; fails naming the ranks that
 * differ (when: "at the start", "after step 12"). */
clippo_status train_dist_check(train_dist *td, clippo_rt *rt, clippo_tensor *const *params,
                               size_t n, const char *when, clippo_error *err);

/** *stop = 1 when flag is set on any rank (the decision to stop is taken together). */
clippo_status train_dist_any(train_dist *td, int flag, int *stop, clippo_error *err);

#endif
