/* Sharded embedding for `mpirun -np R clippo index|eval`: rank 0 runs the command as one
 * process would (it reads the files, plans, scores, writes the index or the report), and every
 * batch it embeds is split over the ranks: each embeds its share on its own device, rank 0
 * gathers the rows back in order. The other ranks only serve these requests. The results are
 * those of one process (the same embeddings, in the same order), the work is divided by R.
 *
 * With one process (d NULL or of one rank) each function is the plain library call. */
#ifndef CLIPPO_CLI_SHARD_H
#define CLIPPO_CLI_SHARD_H

#include <stdint.h>

#include "clippo/dist.h"
#include "clippo/tasks.h"

/** This rank's device spec from a --device value (a list names one per node-local rank, see
 * clippo_dist_device): *device gets spec itself for one process, else buf[cap] holding this
 * rank's item (or NULL: the default device). */
clippo_status cli_shard_device(const clippo_dist *d, const char *spec, char *buf, size_t cap,
                               const char **device, clippo_error *err);

/** Rank 0: clippo_embed_image_files over the ranks (the same arguments and results). */
clippo_status cli_shard_embed_files(const clippo_dist *d, clippo_task_model *tm,
                                    const char *const *paths, size_t n, int threads, float *z,
                                    unsigned char *ok, clippo_error *file_errs, clippo_error *err);

/** Rank 0: n uint8 images (w x h, 1 or 3 channels; clippo_pixels_to_inputs) embedded
 * (CLIPPO_EMBED_Z) into z[n][dim] over the ranks. */
clippo_status cli_shard_embed_pixels(const clippo_dist *d, clippo_task_model *tm,
                                     const uint8_t *pixels, size_t n, int w, int h, int channels,
                                     float *z, clippo_error *err);

/** Rank 0: clippo_embed_texts_batched over the ranks. */
clippo_status cli_shard_embed_texts(const clippo_dist *d, clippo_task_model *tm,
                                    const char *const *texts, size_t n, float *z,
                                    clippo_error *err);

/** Rank 0, when the command is done (st: its outcome): releases the other ranks, then every
 * rank agrees on the outcome (clippo_dist_agree). Returns the agreed status. */
clippo_status cli_shard_end(const clippo_dist *d, clippo_status st, clippo_error *err);

/** The whole life of a rank other than 0 in `clippo CMD` (index, eval): opens the model on its
 * device (spec: the --device value) like rank 0, agrees with the others that every rank is
 * ready, serves rank 0's requests until cli_shard_end, agrees on the outcome. Returns the exit
 * status (errors are printed as cli_dist_report does). */
int cli_shard_worker(const char *cmd, const clippo_dist *d, const char *model, const char *spec,
                     const char *const *fonts, size_t nfonts, size_t batch);

#endif
