/* The device-side state of a clippo_model, shared by the forward (forward.c) and the training
 * code (backward). */
#ifndef CLIPPO_MODEL_INTERNAL_H
#define CLIPPO_MODEL_INTERNAL_H

#include "clippo/graph.h"
#include "clippo/model.h"
#include "clippo/ops.h"
#include "clippo/ops_grad.h"

/** One parameter uploaded to the device. */
typedef struct model_param {
  char *name; /* big_vision path below params/ */
  clippo_tensor value;
} model_param;

/** Device tensors of one attention block (views of model params plus the fused QKV). */
typedef struct model_mha {
  clippo_mha_weights w;                         /* points at the views below */
  clippo_tensor wq, wk, wv, bq, bk, bv, wo, bo; /* 2-D/1-D views of the checkpoint tensors */
  clippo_tensor wqkv, bqkv;                     /* fused, owned; only for self-attention */
} model_mha;

/** One encoder block. */
typedef struct model_block {
  const clippo_tensor *ln0_s, *ln0_b, *ln1_s, *ln1_b;
  model_mha mha;
  const clippo_tensor *d0_k, *d0_b, *d1_k, *d1_b;
} model_block;

/** Activation buffers for up to `batch` inputs. */
typedef struct model_workspace {
  size_t batch;
  clippo_tensor input;   /* (B, S, S, 3) */
  clippo_tensor patches; /* (B*T, P*P*3) */
  clippo_tensor x;       /* (B*T, W) residual stream */
  clippo_tensor y;       /* (B*T, W) LayerNorm output */
  clippo_tensor h;       /* (B*T, M) MLP hidden */
  clippo_tensor attn_ws; /* clippo_mha workspace for self-attention */
  clippo_tensor map_ws;  /* clippo_mha workspace for the MAP head */
  clippo_tensor probe;   /* (B, W) tiled probe */
  clippo_tensor m;       /* (B, W) pooled */
  clippo_tensor mln;     /* (B, W) */
  clippo_tensor hm;      /* (B, M) */
  clippo_tensor z;       /* (B, out) */
} model_workspace;

/** Device memory shared by a model's plans of one kind (inference or training): pools grown to
 * what the largest plan needs; gen changes whenever a pool is replaced, so that plans rebind. */
#define MODEL_ARENA_POOLS 16
typedef struct model_arena {
  clippo_tensor pools[MODEL_ARENA_POOLS];
  size_t npools;
  unsigned gen;
} model_arena;

/** Plans cached per model and kind (least recently used dropped first). */
#define MODEL_PLAN_CACHE 4

struct clippo_model {
  clippo_rt *rt;
  clippo_config cfg;
  size_t nparams;
  model_param *params;
  /* structured views into params */
  const clippo_tensor *emb_k, *emb_b, *pos;
  model_block *blocks;
  const clippo_tensor *enc_s, *enc_b;
  const clippo_tensor *probe;
  model_mha map_mha;
  const clippo_tensor *map_ln_s, *map_ln_b, *map_d0_k, *map_d0_b, *map_d1_k, *map_d1_b;
  const clippo_tensor *head_k, *head_b;
  float logit_scale;
  size_t batch;
  int unplanned;               /* 1: ops called one by one over ws (clippo_model_set_planned) */
  clippo_embed_kind train_out; /* what the training forward ends with (set_train_output) */
  model_workspace ws;          /* the unplanned path's buffers (batch 0: not allocated) */
  model_arena arena;           /* the inference plans' activations */
  struct clippo_plan *plans[MODEL_PLAN_CACHE]; /* cached inference plans, most recent first */
  struct model_train *train; /* training state (train_forward.c); NULL until used */
  int weights_declared;      /* the weights are declared unchanging to the GEMM layer */
};

/** Declares the buffers of the model's weights (parameters, fused QKV) unchanging to the GEMM
 * layer (clippo_gemm_declare_weights: int8 then quantises them once), from load until something
 * may change them: training, a caller taking a parameter, clippo_model_params_changed, free. */
clippo_status model_weights_declare(clippo_model *m, clippo_error *err);

/** Ends that declaration (the GEMM layer drops its copies); nothing when not declared. */
void model_weights_forget(clippo_model *m);

/* ---- where activations come from (host/model/plan.c) ---- */

/** Activation tensors are device buffers (g NULL: the unplanned path) or slots of graph g (a plan
 * being recorded: plan.c binds them to arena memory by lifetime). */
typedef struct model_alloc {
  clippo_rt *rt;
  clippo_graph *g;
} model_alloc;

/** One float32 activation tensor of shape (ndim, shape) from a. */
clippo_status model_alloc_tensor(const model_alloc *a, clippo_tensor *t, int ndim,
                                 const int64_t *shape, clippo_error *err);

/** A 2-D (rows, cols) model_alloc_tensor. */
clippo_status model_alloc2(const model_alloc *a, clippo_tensor *t, size_t rows, size_t cols,
                           clippo_error *err);

/** Releases the tensors of ws (real buffers; slots are only forgotten) and zeroes it. */
void model_workspace_release(clippo_rt *rt, model_workspace *ws);

/** Allocates ws for `batch` inputs from a. */
clippo_status model_workspace_alloc(const clippo_model *m, const model_alloc *a,
                                    model_workspace *ws, size_t batch, clippo_error *err);

/** The inference forward of the first n inputs already in ws->input; *result gets a view of ws
 * holding the output of kind (ws.z for Z, ws.m for pre-logits). */
clippo_status model_forward(clippo_model *m, model_workspace *ws, size_t n, clippo_embed_kind kind,
                            clippo_tensor *result, clippo_error *err);

/** Frees every cached plan of m (inference and training) and the arenas' memory. */
void model_plans_free(clippo_model *m);

/** The cached inference plan of m for (batch, kind), created when missing; *out may be NULL. */
clippo_status model_plan_cached(clippo_model *m, size_t batch, clippo_embed_kind kind,
                                struct clippo_plan **out, clippo_error *err);

/* ---- training state (host/model/train_forward.c, host/model/backward.c) ---- */

/** Gradient views of one attention: 2-D (W, W) kernels and (W) biases over the gradient tensors,
 * and the struct clippo_mha_backward takes (pointing at them). */
typedef struct model_mha_grad {
  clippo_tensor wq, wk, wv, bq, bk, bv, wo, bo;
  clippo_mha_grads g;
} model_mha_grad;

/** Gradients of one encoder block (pointers into model_train.grads, views for attention). */
typedef struct model_block_grad {
  clippo_tensor *ln0_s, *ln0_b, *ln1_s, *ln1_b;
  model_mha_grad mha;
  clippo_tensor *d0_k, *d0_b, *d1_k, *d1_b;
} model_block_grad;

/** Saved activations of one encoder block for count inputs (rows = count * T). */
typedef struct model_block_act {
  clippo_tensor x_in;  /* (rows, W) block input */
  clippo_tensor x_mid; /* (rows, W) block input + attention */
  clippo_tensor u;     /* (rows, M) MLP pre-activation: LN1(x_mid) Dense_0 + bias */
  clippo_tensor y0;    /* (rows, W) LN0(x_in), the attention's input */
  clippo_tensor y1;    /* (rows, W) LN1(x_mid), the MLP's input */
  clippo_mha_saved att;
} model_block_act;

/** Everything the training forward keeps, for up to `cap` inputs. The allocated tensors live in
 * the *_cap copies; the working set (views of the first `count` inputs) in the plain ones. */
typedef struct model_acts {
  clippo_tensor patches; /* (rows, P*P*3) */
  model_block_act *blocks;
  clippo_tensor x_final; /* (rows, W) encoder output before encoder_norm */
  clippo_mha_saved map_att;
  clippo_tensor m0;     /* (n, W) MAP attention output (input of its LayerNorm) */
  clippo_tensor map_u;  /* (n, M) MAP MLP pre-activation */
  clippo_tensor pooled; /* (n, W) pre-logits */
  clippo_tensor zu;     /* (n, out) head output before L2 normalisation */
  clippo_tensor y;      /* (rows, W) encoder_norm(x_final), the pooling's input */
  /* scratch shared by the forward and the backward */
  clippo_tensor dx, dy;  /* (rows, W) */
  clippo_tensor h, dh;   /* (rows, M): GELU output, its gradient */
  clippo_tensor att;     /* attention scratch (self-attention or MAP, the larger) */
  clippo_tensor red;     /* column-reduction / LayerNorm-backward workspace */
  clippo_tensor nw[5];   /* (n, W): probe tile, MAP LN output (kept), d pooled, d m0, tmp */
  clippo_tensor nm, ndm; /* (n, M): the MAP MLP's GELU output, its gradient */
  clippo_tensor nout;    /* (n, out) d zu */
} model_acts;

typedef struct model_train {
  clippo_tensor *grads;     /* nparams, shapes as the params; NULL until first use: views of */
  clippo_tensor grad_arena; /* one buffer, each gradient at a multiple of 16 floats (zeroed by
                               one fill, their norm one launch: clippo_optimizer_step) */
  clippo_tensor *g_emb_k, *g_emb_b, *g_pos;
  model_block_grad *blocks;
  clippo_tensor *g_enc_s, *g_enc_b, *g_probe;
  model_mha_grad map_mha;
  clippo_tensor *g_map_ln_s, *g_map_ln_b, *g_map_d0_k, *g_map_d0_b, *g_map_d1_k, *g_map_d1_b;
  clippo_tensor *g_head_k, *g_head_b;
  size_t cap;          /* unplanned path: inputs the activations are allocated for (0: none) */
  size_t count;        /* inputs of the last train_forward (0: none since planning) */
  model_acts cap_acts; /* unplanned path: owned tensors */
  model_acts acts;     /* unplanned path: views for `count` inputs */
  unsigned long long grad_bytes, act_bytes;    /* device bytes of the gradients / activations */
  struct clippo_plan *plans[MODEL_PLAN_CACHE]; /* cached training plans, most recent first */
  model_arena arena;                           /* their activations */
  struct clippo_plan *last; /* plan of the last train_forward (planned path), or NULL */
} model_train;

/** Frees the training state of m (called by clippo_model_free). */
void model_train_free(clippo_model *m);

/** The training state of m, created (without gradients or activations) on first call; NULL when
 * out of host memory. */
model_train *model_train_get(clippo_model *m, clippo_error *err);

/** Allocates and binds the gradients (zeroed) if not done yet. */
clippo_status model_train_grads(clippo_model *m, clippo_error *err);

/** Allocates the training activations of a for cap inputs from al. */
clippo_status model_acts_alloc(const clippo_model *m, const model_alloc *al, model_acts *a,
                               size_t cap, clippo_error *err);

/** Releases the tensors of a (views and slots are only forgotten) and zeroes it. */
void model_acts_release(clippo_rt *rt, model_acts *a, int depth);

/** The training forward of n inputs (n, S, S, 3) into z (n, out_dim) over activations a sized for
 * exactly n inputs (views). */
clippo_status model_train_forward_run(clippo_model *m, model_acts *a, const clippo_tensor *inputs,
                                      size_t n, clippo_tensor *z, clippo_error *err);

/** The backward of the training forward that filled a (n inputs) given dz (n, out_dim). */
clippo_status model_backward_run(clippo_model *m, model_acts *a, size_t n, const clippo_tensor *dz,
                                 clippo_error *err);

/* ---- training plans (host/model/plan.c) ---- */

/** The planned training forward (plan for count created and cached on first use). */
clippo_status model_train_plan_forward(clippo_model *m, const clippo_tensor *inputs, size_t count,
                                       clippo_tensor *z, clippo_error *err);

/** The planned backward of the last planned training forward. */
clippo_status model_train_plan_backward(clippo_model *m, const clippo_tensor *dz,
                                        clippo_error *err);

#endif
