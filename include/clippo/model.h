/* The CLIPPO ViT forward pass on a device: weights uploaded once, activations from a planned
 * workspace, images or rendered texts in, embeddings out (REFERENCE.md §1). */
#ifndef CLIPPO_MODEL_H
#define CLIPPO_MODEL_H

#include "clippo/params.h"
#include "clippo/runtime.h"
#include "clippo/text.h"

#ifdef __cplusplus
extern "C" {
#endif

/** A model living on one device (opaque). */
typedef struct clippo_model clippo_model;

/** What an embedding call returns. */
typedef enum clippo_embed_kind {
  CLIPPO_EMBED_Z = 0,        /* head output, L2-normalised: (N, out_dim) */
  CLIPPO_EMBED_PRE_LOGITS = 1 /* pooled output before the head: (N, width) */
} clippo_embed_kind;

/** Uploads params (checked against cfg) to rt's device. The model keeps a pointer to rt. */
clippo_status clippo_model_create(clippo_rt *rt, const clippo_config *cfg,
                                  const clippo_params *params, clippo_model **out,
                                  clippo_error *err);

/** Loads a checkpoint (.npz or .h5: clippo_checkpoint_load) and uploads it. */
clippo_status clippo_model_load(clippo_rt *rt, const char *path, clippo_model **out,
                                clippo_error *err);

/** Frees the model and its device memory; NULL is fine. */
void clippo_model_free(clippo_model *m);

/** The model's config. */
const clippo_config *clippo_model_config(const clippo_model *m);

/** exp(t): the contrastive logit scale (temperature) of the checkpoint; 1 when absent. */
float clippo_model_logit_scale(const clippo_model *m);

/** Columns of the output of kind (out_dim, or width for pre-logits or a model without head). */
size_t clippo_model_output_dim(const clippo_model *m, clippo_embed_kind kind);

/** Sets the largest batch run on the device at once (default 8); larger inputs are split. */
clippo_status clippo_model_set_batch(clippo_model *m, size_t batch, clippo_error *err);

/** Embeds n images: (n, S, S, 3) float32 NHWC in [-1, 1] with S = image_size; writes
 * (n, output_dim(kind)) float32 rows to out in input order. */
clippo_status clippo_model_embed_images(clippo_model *m, const float *images, size_t n,
                                        clippo_embed_kind kind, float *out, clippo_error *err);

/** Renders n texts (UTF-8, lens may be NULL for NUL-terminated) with font at the model's image
 * size (big_vision's render_unifont defaults) and embeds them like images. */
clippo_status clippo_model_embed_texts(clippo_model *m, const clippo_font *font,
                                       const char *const *texts, const size_t *lens, size_t n,
                                       clippo_embed_kind kind, float *out, clippo_error *err);

/** Peak device bytes allocated by this model's runtime so far (weights + workspace). */
unsigned long long clippo_model_peak_bytes(const clippo_model *m);

#ifdef __cplusplus
}
#endif
#endif
