/* Launchers of kernels/loss.cl: big_vision's bidirectional contrastive loss with its gradient,
 * and the backward of L2 normalisation. The logits and gradient products go through
 * clippo_gemm; the softmax statistics of rows and columns are one kernel, the gradient of the
 * logits another. */
#include "clippo/ops.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "clippo/gemm.h"
#include "ops/ops_internal.h"

#define TRY(x)                                                                                     \
  do {                                                                                             \
    clippo_status st_ = (x);                                                                       \
    if (st_ != CLIPPO_OK) return st_;                                                              \
  } while (0)

clippo_status clippo_loss_ws_alloc(clippo_rt *rt, size_t n, clippo_loss_ws *ws, clippo_error *err) {
  memset(ws, 0, sizeof *ws);
  if (n == 0) return clippo_fail(err, CLIPPO_E_ARG, "contrastive loss: no pairs");
  if (n > 65536)
    return clippo_fail(err, CLIPPO_E_UNSUPPORTED, "contrastive loss: %zu pairs (at most 65536)", n);
  int64_t sq[2] = {(int64_t)n, (int64_t)n}, v[1] = {(int64_t)(2 * n)};
  clippo_status st = clippo_tensor_alloc(rt, &ws->logits, CLIPPO_F32, 2, sq, err);
  if (!st) st = clippo_tensor_alloc(rt, &ws->lse, CLIPPO_F32, 1, v, err);
  if (!st) st = clippo_tensor_alloc(rt, &ws->aux, CLIPPO_F32, 1, v, err);
  if (!st) {
    ws->host = malloc(2 * n * sizeof(float));
    if (!ws->host) st = clippo_fail(err, CLIPPO_E_NOMEM, "contrastive loss: out of host memory");
  }
  if (st) {
    clippo_loss_ws_release(rt, ws);
    return st;
  }
  ws->n = n;
  return CLIPPO_OK;
}

void clippo_loss_ws_release(clippo_rt *rt, clippo_loss_ws *ws) {
  if (!ws) return;
  clippo_tensor_release(rt, &ws->logits);
  clippo_tensor_release(rt, &ws->lse);
  clippo_tensor_release(rt, &ws->aux);
  free(ws->host);
  memset(ws, 0, sizeof *ws);
}

clippo_status clippo_contrastive_loss(clippo_rt *rt, const clippo_tensor *zimg,
                                      const clippo_tensor *ztxt, float t, clippo_loss_ws *ws,
                                      clippo_tensor *dzimg, clippo_tensor *dztxt, double *loss,
                                      double *dt, clippo_error *err) {
  static const char op[] = "contrastive_loss";
  size_t n = 0, d = 0, n2 = 0;
  TRY(ops_check_rows(zimg, 0, &n, &d, op, "zimg", err));
  TRY(ops_check_rows(ztxt, d, &n2, NULL, op, "ztxt", err));
  if (n != n2)
    return clippo_fail(err, CLIPPO_E_SHAPE, "%s: zimg has %zu rows, ztxt %zu", op, n, n2);
  if (!ws || ws->n != n)
    return clippo_fail(err, CLIPPO_E_ARG, "%s: workspace is for %zu pairs, the batch has %zu", op,
                       ws ? ws->n : 0, n);
  if ((dzimg == NULL) != (dztxt == NULL))
    return clippo_fail(err, CLIPPO_E_ARG, "%s: give both gradient outputs or neither", op);
  if (dzimg) {
    TRY(ops_check_count(dzimg, n * d, op, "dzimg", err));
    TRY(ops_check_count(dztxt, n * d, op, "dztxt", err));
    if (!ops_disjoint(dzimg, dztxt) || !ops_disjoint(dzimg, zimg) || !ops_disjoint(dzimg, ztxt) ||
        !ops_disjoint(dztxt, zimg) || !ops_disjoint(dztxt, ztxt))
      return clippo_fail(err, CLIPPO_E_ARG, "%s: gradient outputs overlap the inputs", op);
  }
  const float scale = expf(t);
  if (!isfinite(scale))
    return clippo_fail(err, CLIPPO_E_NUMERIC, "%s: the logit scale exp(t) = exp(%g) is not finite",
                       op, (double)t);
  /* logits = exp(t) zimg ztxt^T */
  TRY(clippo_gemm(rt, 0, 1, n, n, d, scale, zimg, d, ztxt, d, 0.0f, &ws->logits, n, err));

  ops_class c = ops_class_of(rt);
  cl_kernel k;
  ops_args a;
  TRY(ops_kernel(rt, &c, "loss.cl", "contrastive_lse", &k, err));
  ops_args_begin(&a, k);
  ops_arg_tensor(&a, &ws->logits);
  ops_arg_u32(&a, n);
  ops_arg_tensor(&a, &ws->lse);
  TRY(ops_args_end(rt, &a, "contrastive_lse", err));
  TRY(ops_launch_1d(rt, k, 2 * n, c.local_rows, err));

  TRY(ops_kernel(rt, &c, "loss.cl", "contrastive_grad", &k, err));
  ops_args_begin(&a, k);
  ops_arg_tensor(&a, &ws->logits);
  ops_arg_u32(&a, n);
  ops_arg_tensor(&a, &ws->lse);
  ops_arg_tensor(&a, &ws->logits); /* G overwrites the logits */
  ops_arg_tensor(&a, &ws->aux);
  TRY(ops_args_end(rt, &a, "contrastive_grad", err));
  TRY(ops_launch_1d(rt, k, n, c.local_rows, err));

  if (dzimg) {
    /* dzimg = exp(t) G ztxt; dztxt = exp(t) G^T zimg */
    TRY(clippo_gemm(rt, 0, 0, n, d, n, scale, &ws->logits, n, ztxt, d, 0.0f, dzimg, d, err));
    TRY(clippo_gemm(rt, 1, 0, n, d, n, scale, &ws->logits, n, zimg, d, 0.0f, dztxt, d, err));
  }
  TRY(clippo_tensor_read(rt, &ws->aux, ws->host, err));
  double l = 0.0, g = 0.0;
  for (size_t i = 0; i < n; i++) {
    l += ws->host[i];
    g += ws->host[n + i];
  }
  if (loss) *loss = l / (double)n;
  if (dt) *dt = g;
  return CLIPPO_OK;
}
