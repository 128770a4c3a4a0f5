/* A plain C float64 reference of the whole CLIPPO forward pass (REFERENCE.md §1), used by the
 * tests to check the device forward on any model size. Slow on purpose: simple loops. */
#ifndef CLIPPO_MODEL_REF_H
#define CLIPPO_MODEL_REF_H

#include "clippo/params.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Computes, for n NHWC float32 images (n, S, S, 3), the pre-logits (n, width) and, when the
 * model has a head, the L2-normalised embeddings (n, out_dim), in double precision. Either output
 * may be NULL. */
clippo_status clippo_ref_model_forward(const clippo_config *cfg, const clippo_params *params,
                                       const float *images, size_t n, double *pre_logits, double *z,
                                       clippo_error *err);

#ifdef __cplusplus
}
#endif
#endif
