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
  int width;       /* W: token width */
  int depth;       /* D: encoder blocks */
  int heads;       /* H: attention heads (head dim = W / H) */
  int mlp_dim;     /* M: hidden width of the MLP blocks */
  int patch;       /* P: patch size in pixels */
  int image_size;  /* input images are image_size x image_size x 3 */
  int out_dim;     /* head output width; 0 means no head (pre-logits are the output) */
  char pool[8];    /* "map", "gap" or "tok" */
  float ln_eps;    /* LayerNorm epsilon (1e-6) */
  char font[256];  /* font the model was trained with ("" = unknown) */
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

/** Fills cfg with the ViT-B/16 CLIPPO defaults. */
void clippo_config_b16(clippo_config *cfg);

/** Number of tokens (image_size / patch)^2. */
int clippo_config_tokens(const clippo_config *cfg);

/** Checks that a config is self-consistent (positive sizes, heads divide width...). */
clippo_status clippo_config_validate(const clippo_config *cfg, clippo_error *err);

/** Frees every parameter and resets p. */
void clippo_params_free(clippo_params *p);

/** Adds a parameter, taking ownership of *value (which is zeroed). Fails on a duplicate name. */
clippo_status clippo_params_add(clippo_params *p, const char *name, clippo_array *value,
                                clippo_error *err);

/** The parameter called name, or NULL. */
clippo_param *clippo_params_find(const clippo_params *p, const char *name);

/** The data of parameter name if it is float32 with exactly the given shape; else NULL and *err
 * names the tensor and the expected and actual shapes. */
float *clippo_params_get(const clippo_params *p, const char *name, int ndim, const int64_t *shape,
                         clippo_error *err);

/** Infers the config from parameter shapes (width, depth, heads, mlp, patch, image size, out
 * dim, pool). heads is taken from the (W,H,64) attention kernels. */
clippo_status clippo_config_infer(const clippo_params *p, clippo_config *cfg, clippo_error *err);

/** Checks that p holds exactly the tensors cfg needs with the right shapes; the message names the
 * first missing, extra or mis-shaped key with both shapes. */
clippo_status clippo_params_check(const clippo_params *p, const clippo_config *cfg,
                                  clippo_error *err);

/** Makes freshly initialised parameters for cfg as big_vision initialises them (REFERENCE §6),
 * deterministic for a seed. */
clippo_status clippo_params_init(clippo_params *p, const clippo_config *cfg, uint64_t seed,
                                 clippo_error *err);

#ifdef __cplusplus
}
#endif
#endif
