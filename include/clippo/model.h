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
  CLIPPO_EMBED_Z = 0,         /* head output, L2-normalised: (N, out_dim) */
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

/* ---- planned execution (host/model/plan.c) ---------------------------------------------------
 * A plan is the forward for one batch size recorded once (clippo/graph.h): every kernel launch
 * with its own kernel object whose arguments are set once, every GEMM as a recorded call, and the
 * activations placed by lifetime in one arena (buffers whose live ranges do not overlap share
 * memory). Running it only writes the inputs, enqueues and reads the outputs; results are
 * bit-identical to the unplanned path. clippo_model_embed_* create and cache a plan per batch
 * size and kind; the training forward and backward do the same per input count. The plans of a
 * model share its arena; free the plans you create before their model. */

/** A planned forward (opaque). */
typedef struct clippo_plan clippo_plan;

/** What a plan holds. */
typedef struct clippo_plan_info {
  size_t batch;        /* inputs per run */
  size_t steps;        /* recorded steps (kernel launches + GEMM calls) */
  size_t kernel_steps; /* of which kernel launches */
  size_t kernel_args;  /* their arguments: set once here, at every call by the unplanned path */
  size_t buffers;      /* activation buffers placed in the arena */
  unsigned long long activation_bytes; /* their sizes summed: what one buffer each would take */
  unsigned long long arena_bytes;      /* the arena they share by lifetime */
} clippo_plan_info;

/** Plans the inference forward of exactly batch inputs with output kind. */
clippo_status clippo_plan_create(clippo_model *m, size_t batch, clippo_embed_kind kind,
                                 clippo_plan **out, clippo_error *err);

/** Runs a plan: images (batch, S, S, 3) float32 NHWC in [-1, 1] in, (batch, output_dim(kind))
 * float32 rows out, like clippo_model_embed_images. */
clippo_status clippo_plan_run(clippo_plan *p, const float *images, float *out, clippo_error *err);

/** The plan's sizes. */
void clippo_plan_get_info(const clippo_plan *p, clippo_plan_info *out);

/** Frees a plan made with clippo_plan_create; NULL is fine. */
void clippo_plan_free(clippo_plan *p);

/** Planned execution on (1, the default) or off (0: every op called one by one over one buffer
 * per activation, as before plans existed; kept for benchmarks and tests) for the embedding and
 * training calls of m. */
clippo_status clippo_model_set_planned(clippo_model *m, int planned, clippo_error *err);

/** 1 when m runs planned. */
int clippo_model_planned(const clippo_model *m);

/** The sizes of the training plan of the last planned clippo_model_train_forward;
 * CLIPPO_E_ARG when there is none. */
clippo_status clippo_model_train_plan_info(const clippo_model *m, clippo_plan_info *out,
                                           clippo_error *err);

/* ---- training (host/model/train_forward.c, host/model/backward.c) ---------------------------
 * One tower, same weights for images and rendered texts: the trainer passes 2N inputs (N images
 * then their N rendered captions) to one train_forward. The forward and backward for a count are
 * planned at the first train_forward for that count (a plan per count, kept with the model; the
 * unplanned path keeps its activations while later counts fit); gradients, one per parameter with
 * the parameter's shape, at first use. Parameters
 * are indexed 0..param_count-1 in checkpoint order; their device tensors may be updated in place
 * by an optimizer (then call clippo_model_params_changed before inference calls). */

/** What the training calls work on: CLIPPO_EMBED_Z (the default: clippo_model_train_forward writes
 * the L2-normalised embeddings of the contrastive loss) or CLIPPO_EMBED_PRE_LOGITS (it writes the
 * pooled output before the model's own head, (count, width), and clippo_model_backward takes
 * dL/d pooled: for task heads trained on top of the tower; the model's head then gets no
 * gradient). Changing it drops the training plans, activations and gradients. */
clippo_status clippo_model_set_train_output(clippo_model *m, clippo_embed_kind kind,
                                            clippo_error *err);

/** Training forward of count inputs (count, S, S, 3) float32 on rt's device: computes the
 * L2-normalised embeddings (or the pooled output: clippo_model_set_train_output) into z
 * (count, output_dim of that kind) (device, caller-allocated) and
 * keeps every activation the backward needs. Always reads the current parameter tensors. */
clippo_status clippo_model_train_forward(clippo_model *m, const clippo_tensor *inputs, size_t count,
                                         clippo_tensor *z, clippo_error *err);

/** Backward of the last clippo_model_train_forward: given dz = dL/dz (count, out_dim) on the
 * device, accumulates (+=) dL/dparam into every parameter's gradient (the temperature `t` is not
 * touched: its slot is for the loss code). */
clippo_status clippo_model_backward(clippo_model *m, const clippo_tensor *dz, clippo_error *err);

/** Number of parameter tensors. */
size_t clippo_model_param_count(const clippo_model *m);

/** Parameter i's device tensor (checkpoint shape), its big_vision name in *name (may be NULL);
 * NULL when i is out of range. The caller may change it, so this ends the model's declaration of
 * its weights as unchanging (clippo_gemm_declare_weights: int8 and bf16 stop keeping them
 * quantised; a model is declared from load until this, training, params_changed or free). */
clippo_tensor *clippo_model_param(clippo_model *m, size_t i, const char **name);

/** The gradient of parameter i (same shape, zero-initialised at first use); NULL when i is out of
 * range or the gradients cannot be allocated. */
clippo_tensor *clippo_model_grad(clippo_model *m, size_t i);

/** Sets every gradient to zero (allocating them if needed). */
clippo_status clippo_model_zero_grads(clippo_model *m, clippo_error *err);

/** Reads every parameter back into out (which must be empty: zero-initialised), names and shapes
 * as in the checkpoint, float32. On failure out is left empty. */
clippo_status clippo_model_download_params(clippo_model *m, clippo_params *out, clippo_error *err);

/** Tells the model its parameter tensors were changed in place (by an optimizer): refreshes what
 * the inference forward derives from them (the fused QKV weights of the blocks, exp(t)) and drops
 * the GEMM layer's converted copies of them (int8, bf16). Needed
 * before clippo_model_embed_* after an update; the training forward does not need it. */
clippo_status clippo_model_params_changed(clippo_model *m, clippo_error *err);

/** Device bytes held by the training state (activations, scratch, gradients); 0 before the first
 * training call. */
unsigned long long clippo_model_train_bytes(const clippo_model *m);

#ifdef __cplusplus
}
#endif
#endif
