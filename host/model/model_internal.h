/* The device-side state of a clippo_model, shared by the forward (forward.c) and the training
 * code (backward). */
#ifndef CLIPPO_MODEL_INTERNAL_H
#define CLIPPO_MODEL_INTERNAL_H

#include "clippo/model.h"
#include "clippo/ops.h"

/** One parameter uploaded to the device. */
typedef struct model_param {
  char *name;        /* big_vision path below params/ */
  clippo_tensor value;
} model_param;

/** Device tensors of one attention block (views of model params plus the fused QKV). */
typedef struct model_mha {
  clippo_mha_weights w;     /* points at the views below */
  clippo_tensor wq, wk, wv, bq, bk, bv, wo, bo; /* 2-D/1-D views of the checkpoint tensors */
  clippo_tensor wqkv, bqkv; /* fused, owned; only for self-attention */
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
  model_workspace ws;
};

#endif
