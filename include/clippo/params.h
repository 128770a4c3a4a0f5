/* The parameter tree: named float32 host arrays at big_vision's paths, and the model config. */
#ifndef CLIPPO_PARAMS_H
#define CLIPPO_PARAMS_H

#include "clippo/array.h"
#include "clippo/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Architecture of a one-tower CLIPPO ViT (REFERENCE.md §1). */
typedef struct clippo_config {
  int width;      /* W: token width */
  int depth;      /* D: encoder blocks */
  int heads;      /* H: attention heads (head dim = W / H) */
  int mlp_dim;    /* M: hidden width of the MLP blocks */
  int patch;      /* P: patch size in pixels */
  int image_size; /* input images are image_size x image_size x 3 */
  int out_dim;    /* head output width; 0 means no head (pre-logits are the output) */
  char pool[8];   /* "map", "gap" or "tok" */
  float ln_eps;   /* LayerNorm epsilon (1e-6) */
  char font[256]; /* font the model was trained with ("" = unknown) */
} clippo_config;

/** One named parameter; name is the big_vision path below "params/", e.g. "img/head/kernel". */
typedef struct clippo_param {
  char *name;
  clippo_array value; /* always float32 once loaded */
} clippo_param;

/** A set of named parameters (the order is the order they were added). */
typedef struct clippo_params {
  size_t count;
  size_t cap;
  clippo_param *items;
} clippo_params;

/** One tensor a config needs: its big_vision path and shape. */
typedef struct clippo_param_spec {
  char name[128];
  int ndim;
  int64_t shape[4];
} clippo_param_spec;

/** Fills cfg with the ViT-B/16 CLIPPO defaults. */
void clippo_config_b16(clippo_config *cfg);

/** Fills cfg with the ViT-L/16 CLIPPO config (width 1024, depth 24, heads 16, mlp 4096). */
void clippo_config_l16(clippo_config *cfg);

/** Fills cfg with a named preset: "b16" / "B/16" or "l16" / "L/16". */
clippo_status clippo_config_preset(const char *name, clippo_config *cfg, clippo_error *err);

/** Loads a config from a JSON object file (configs/b16.json). Keys: width, depth, heads,
 * mlp_dim, patch, image_size, out_dim (integers), pool, font (strings), ln_eps (number), and
 * optionally "variant" ("B/16", "L/16") giving the defaults the other keys override; keys
 * absent fall back to B/16. Unknown keys and wrong types are errors; the result is
 * validated. */
clippo_status clippo_config_load_json(const char *path, clippo_config *cfg, clippo_error *err);

/** Number of tokens (image_size / patch)^2. */
int clippo_config_tokens(const clippo_config *cfg);

/** Checks that a config is self-consistent (positive sizes, heads divide width...). */
clippo_status clippo_config_validate(const clippo_config *cfg, clippo_error *err);

/** Frees every parameter and resets p. */
void clippo_params_free(clippo_params *p);

/** Adds a parameter, taking ownership of *value (which is zeroed, also on failure: the data is
 * then freed). Fails with CLIPPO_E_ARG on a duplicate name. */
clippo_status clippo_params_add(clippo_params *p, const char *name, clippo_array *value,
                                clippo_error *err);

/** The parameter called name, or NULL. */
clippo_param *clippo_params_find(const clippo_params *p, const char *name);

/** The data of parameter name if it is float32 with exactly the given shape; else NULL and *err
 * names the tensor and the expected and actual shapes. */
float *clippo_params_get(const clippo_params *p, const char *name, int ndim, const int64_t *shape,
                         clippo_error *err);

/** Total number of elements over all parameters. */
size_t clippo_params_total(const clippo_params *p);

/** The tensors cfg needs, in big_vision's order, in *specs (free() it) and *n. */
clippo_status clippo_params_spec(const clippo_config *cfg, clippo_param_spec **specs, size_t *n,
                                 clippo_error *err);

/** Infers the config from parameter shapes (width, depth, heads, mlp, patch, image size, out
 * dim, pool). heads is taken from the (W,H,64) attention kernels. */
clippo_status clippo_config_infer(const clippo_params *p, clippo_config *cfg, clippo_error *err);

/** Checks that p holds exactly the tensors cfg needs with the right shapes; the message names the
 * first missing (CLIPPO_E_NOTFOUND), extra (CLIPPO_E_FORMAT) or mis-shaped / non-float32
 * (CLIPPO_E_SHAPE) key with both shapes. */
clippo_status clippo_params_check(const clippo_params *p, const clippo_config *cfg,
                                  clippo_error *err);

/** Makes freshly initialised parameters for cfg as big_vision initialises them (REFERENCE §6),
 * deterministic for a seed: lecun-normal (truncated) patch and head kernels, pos_embedding
 * normal(1/sqrt(W)), xavier-uniform attention/MLP kernels and MAP probe, MLP biases
 * normal(1e-6), other biases 0, LayerNorm scales 1, t = log(10). Each tensor draws from its own
 * stream (seed, name), so the values do not depend on the order. *p must be empty. */
clippo_status clippo_params_init(clippo_params *p, const clippo_config *cfg, uint64_t seed,
                                 clippo_error *err);

/** Resamples the position embedding in p (parameters of a model with *cfg) to the token grid of
 * image_size and sets cfg->image_size: high-resolution fine-tuning as big_vision's
 * vit.resample_posemb does when a checkpoint is loaded at another size (scipy.ndimage.zoom of the
 * (grid, grid, W) array, order 1: linear, grid corners to corners). image_size must be a
 * positive multiple of cfg->patch; the same size is a no-op. */
clippo_status clippo_params_resample_posemb(clippo_params *p, clippo_config *cfg, int image_size,
                                            clippo_error *err);

#ifdef __cplusplus
}
#endif
#endif
