/* Checkpoints: big_vision .npz files (np.savez layout, zip64 or not, stored or deflated) and the
 * engine's HDF5 files (REFERENCE.md §2-3).
 *
 * HDF5 layout: every parameter is a dataset /params/<big_vision path> (float32; float16,
 * float64 and bfloat16-as-uint16 are converted at load); the config is a set of attributes on
 * "/" (width, depth, heads, mlp_dim, patch, image_size, out_dim, pool, ln_eps, font); "step"
 * (int64) and free-form string attributes sit there too; /opt/<name> holds any other named
 * arrays (optimizer state) in their own dtype. A dataset whose string attribute "dtype" is
 * "bfloat16" or "float16" stores those bits as uint16. */
#ifndef CLIPPO_CHECKPOINT_H
#define CLIPPO_CHECKPOINT_H

#include "clippo/params.h"
#include "clippo/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/** A free-form string attribute (training config JSON, font identity...). */
typedef struct clippo_attr {
  char *key;
  char *value;
} clippo_attr;

/** Parameters whose path starts with this are task heads (clippo/finetune.h), kept in heads. */
#define CLIPPO_CHECKPOINT_HEAD_PREFIX "head_task/"

/** A loaded or to-be-saved checkpoint. Zero-initialise; free with clippo_checkpoint_free. */
typedef struct clippo_checkpoint {
  clippo_config cfg;    /* always valid after a successful load */
  int has_cfg;          /* 1: cfg came from the file; 0: inferred from the shapes */
  clippo_params params; /* float32, unscanned, in big_vision's order */
  clippo_params heads;  /* task heads of a fine-tuned model (params "head_task/..."; may be
                         * empty): not part of the tower, loaded and saved next to it */
  clippo_params opt;    /* other arrays (names without the "opt/" prefix), any dtype */
  long long step;       /* training step; -1 when unknown */
  size_t nattrs;
  clippo_attr *attrs;
} clippo_checkpoint;

/** Loads a checkpoint, .npz or HDF5 told apart by content (magic bytes). opt/ arrays are read
 * only when with_opt is set. The params are converted to float32, unscanned, checked against
 * the config (from the file, or inferred from the shapes when absent) and put in big_vision's
 * order; errors name the file and the tensor. */
clippo_status clippo_checkpoint_load(const char *path, clippo_checkpoint *ck, int with_opt,
                                     clippo_error *err);

/** How a checkpoint is read (zero-initialise for the defaults). An HDF5 file is first read once
 * in a throw-away child process (libhdf5 crashes or loops on some corrupt files); these bound
 * that child. */
typedef struct clippo_load_opts {
  int with_opt;             /* also read the opt/ arrays */
  unsigned h5_check_cpu_s;  /* CPU seconds; 0: 20 s + 1 s per 50 MB of file */
  unsigned h5_check_wall_s; /* wall-clock seconds; 0: 3 x the CPU limit + 30 s */
} clippo_load_opts;

/** clippo_checkpoint_load with options (NULL: the defaults, without opt/ arrays). */
clippo_status clippo_checkpoint_load_opts(const char *path, clippo_checkpoint *ck,
                                          const clippo_load_opts *opts, clippo_error *err);

/** Writes ck as an HDF5 checkpoint, atomically (the previous file survives any failure). The
 * params must match ck->cfg; when ck->has_cfg is 0 the shape fields are inferred from the
 * params and only font and ln_eps are taken from ck->cfg. */
clippo_status clippo_checkpoint_save_h5(const char *path, const clippo_checkpoint *ck,
                                        clippo_error *err);

/** Writes ck as a big_vision .npz (members params/<name>.npy and opt/<name>.npy, stored),
 * atomically. Config, step and attributes are not part of that format and are dropped. */
clippo_status clippo_checkpoint_save_npz(const char *path, const clippo_checkpoint *ck,
                                         clippo_error *err);

/** Frees everything in ck and zeroes it. */
void clippo_checkpoint_free(clippo_checkpoint *ck);

/** Sets (adds or replaces) a free-form string attribute. */
clippo_status clippo_checkpoint_set_attr(clippo_checkpoint *ck, const char *key, const char *value,
                                         clippo_error *err);

/** The value of a free-form attribute, or NULL. */
const char *clippo_checkpoint_get_attr(const clippo_checkpoint *ck, const char *key);

/* ---- lower level ---- */

/** Reads an .npz: members "params/<name>.npy" into *params (converted to float32; when the file
 * has no params/ member at all, every member is taken as a parameter, as big_vision does for
 * params-only files), and when opt is not NULL, members "opt/<name>.npy" into *opt in their own
 * dtype. Other members are skipped without being decompressed. Names lose the prefix and the
 * ".npy" suffix. No unscanning or checking. */
clippo_status clippo_npz_load(const char *path, clippo_params *params, clippo_params *opt,
                              clippo_error *err);

/** Writes params as "params/<name>.npy" and opt (may be NULL) as "opt/<name>.npy" members of an
 * .npz (ZIP_STORED; zip64 where sizes need it), atomically. Arrays keep their dtype. */
clippo_status clippo_npz_save(const char *path, const clippo_params *params,
                              const clippo_params *opt, clippo_error *err);

/** Reads an HDF5 checkpoint into ck (no unscanning or checking; ck->cfg only when the file has
 * config attributes). */
clippo_status clippo_h5_load(const char *path, clippo_checkpoint *ck, int with_opt,
                             clippo_error *err);

/** clippo_h5_load with options (NULL: the defaults, without opt/ arrays). */
clippo_status clippo_h5_load_opts(const char *path, clippo_checkpoint *ck,
                                  const clippo_load_opts *opts, clippo_error *err);

/** Writes ck (config taken as is) to an HDF5 file, atomically. */
clippo_status clippo_h5_save(const char *path, const clippo_checkpoint *ck, clippo_error *err);

/** Rewrites a scanned layout (img/Transformer/encoderblock/<...> with a leading depth axis)
 * as encoderblock_<i>/<...>; no-op for an unscanned tree; mixing both layouts is an error. */
clippo_status clippo_params_unscan(clippo_params *p, clippo_error *err);

/** Reorders p into the order of clippo_params_spec(cfg); p must pass clippo_params_check. */
clippo_status clippo_params_canonical_order(clippo_params *p, const clippo_config *cfg,
                                            clippo_error *err);

#ifdef __cplusplus
}
#endif
#endif
