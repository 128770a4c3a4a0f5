/* Test helper: random checkpoints in big_vision's .npz layout (unscanned or scanned, with or
 * without opt/ members, stored / zip64 / deflated), and a raw zip writer for malformed files. */
#ifndef CLIPPO_TEST_CKPT_GEN_H
#define CLIPPO_TEST_CKPT_GEN_H

#include <stddef.h>
#include <stdint.h>

#include "clippo/params.h"

/** How to write a generated checkpoint. */
typedef struct ckpt_gen_opts {
  uint64_t seed;
  int scanned;  /* blocks stacked as img/Transformer/encoderblock/... with a leading depth axis */
  int with_opt; /* opt/ members as big_vision writes them: int32 scalars, bf16 (|V2), float32 */
  int zip64;    /* every member zip64 with 0xFFFFFFFF local sizes, like released checkpoints */
  int deflate;  /* deflated members, like np.savez_compressed */
} ckpt_gen_opts;

/** The tiny test model: width 64, depth 2, heads 4, mlp 128, patch 8, image 32, out 32, map. */
void ckpt_gen_tiny(clippo_config *cfg);

/** Random non-zero float32 parameters with the shapes cfg needs (unscanned, big_vision order). */
clippo_status ckpt_gen_params(const clippo_config *cfg, uint64_t seed, clippo_params *p,
                              clippo_error *err);

/** Writes a random checkpoint for cfg to path. When params is not NULL it receives the
 * (unscanned) float32 parameters that were written. */
clippo_status ckpt_gen_write(const char *path, const clippo_config *cfg, const ckpt_gen_opts *o,
                             clippo_params *params, clippo_error *err);

/** One raw member of a zip written by ckpt_gen_zip. */
typedef struct ckpt_gen_member {
  const char *name;
  const void *data;
  size_t len;
} ckpt_gen_member;

/** Writes a zip archive: stored members with zip64 headers everywhere when zip64 is set (local
 * sizes 0xFFFFFFFF plus zip64 extra fields, zip64 end records), deflated through libzip when
 * deflate is set, else plain stored members through libzip. */
clippo_status ckpt_gen_zip(const char *path, const ckpt_gen_member *m, size_t n, int zip64,
                           int deflate, clippo_error *err);

/** The bytes of a as an .npy file, in *buf (free()) and *len. */
clippo_status ckpt_gen_npy_bytes(const clippo_array *a, void **buf, size_t *len, clippo_error *err);

/** Writes named arrays (names used as member names + ".npy") as a zip, like ckpt_gen_zip. */
clippo_status ckpt_gen_write_arrays(const char *path, const clippo_params *arrays, int zip64,
                                    int deflate, clippo_error *err);

#endif
