/* Attention for training (host/ops/attention_grad.c).
 * 1. The float64 reference backward (clippo_ref_mha_grad) against central finite differences of
 *    the float64 reference forward (clippo_ref_mha) for every input and weight: relative L2 error
 *    <= 1e-6 per tensor, cross-attention and self-attention (dx = dxq + dxkv).
 * 2. On every device: clippo_mha_train_forward against clippo_ref_mha and the inference
 *    clippo_mha (1e-5 relative), then clippo_mha_backward against the reference: every gradient
 *    within 1e-4 relative (L2 and max; float32 GEMM chains; 1e-3 for the key bias, whose exact
 *    gradient is zero), for self-attention (shared dx,
 *    accumulate) and the MAP head's one-query attention; weight gradients accumulate. Both the
 *    batched products and the fused attention_rows kernels (as picked, and forced), these in both
 *    builds: all heads per work-item, and one head per work-item where all heads would not stay
 *    in cache (the last two cases on PoCL). */
#include "test_op_common.h"

#include "clippo/gemm.h"
#include "clippo/ops_grad.h"
#include "ops/ops_internal.h" /* ops_attention_rows_per_head: which build a case runs */
#include "runtime/internal.h" /* clippo_fnv1a: the inputs' hash of a cached reference */

#define FD_TOL 1e-6
#define AG_TOL 1e-4

/* weights: wq, wk, wv, wo (w*w) then bq, bk, bv, bo (w) */
typedef struct att {
  size_t n, tq, tk, w, heads;
  float *xq, *xkv, *wt[4], *bs[4], *dout;
} att;

static void att_make(att *a, test_rng *rng, size_t n, size_t tq, size_t tk, size_t w, size_t heads,
                     int self) {
  a->n = n, a->tq = tq, a->tk = tk, a->w = w, a->heads = heads;
  a->xkv = op_normal(rng, n * tk * w, 0.0f, 1.0f);
  a->xq = self ? a->xkv : op_normal(rng, n * tq * w, 0.2f, 1.0f);
  float sd = 1.5f / sqrtf((float)w);
  for (int i = 0; i < 4; i++) {
    a->wt[i] = op_normal(rng, w * w, 0.0f, sd);
    a->bs[i] = op_normal(rng, w, 0.0f, 0.3f);
  }
  a->dout = op_normal(rng, n * tq * w, 0.0f, 1.0f);
}

static void att_free(att *a) {
  if (a->xq != a->xkv) free(a->xq);
  free(a->xkv);
  for (int i = 0; i < 4; i++) free(a->wt[i]), free(a->bs[i]);
  free(a->dout);
}

static double att_loss(const att *a, double *out) {
  clippo_error err;
  TEST_OK(clippo_ref_mha(a->xq, a->xkv, a->n, a->tq, a->tk, a->w, a->heads, a->wt[0], a->bs[0],
                         a->wt[1], a->bs[1], a->wt[2], a->bs[2], a->wt[3], a->bs[3], out, &err),
          &err);
  double l = 0;
  for (size_t i = 0; i < a->n * a->tq * a->w; i++) l += (double)a->dout[i] * out[i];
  return l;
}

/* grads[0..9]: dxq, dxkv, dwq, dbq, dwk, dbk, dwv, dbv, dwo, dbo */
static void att_ref_grad(const att *a, double **g) {
  clippo_error err;
  TEST_OK(clippo_ref_mha_grad(a->xq, a->xkv, a->n, a->tq, a->tk, a->w, a->heads, a->wt[0], a->bs[0],
                              a->wt[1], a->bs[1], a->wt[2], a->bs[2], a->wt[3], a->dout, g[0], g[1],
                              g[2], g[3], g[4], g[5], g[6], g[7], g[8], g[9], &err),
          &err);
}

static double **grads_alloc(const att *a) {
  double **g = malloc(10 * sizeof *g);
  assert_non_null(g);
  g[0] = op_doubles(a->n * a->tq * a->w);
  g[1] = op_doubles(a->n * a->tk * a->w);
  for (int i = 2; i < 10; i++) g[i] = op_doubles(i % 2 == 0 ? a->w * a->w : a->w);
  return g;
}

static void grads_free(double **g) {
  for (int i = 0; i < 10; i++) free(g[i]);
  free(g);
}

/* Relative L2 error of an against central differences; *fdn gets ||fd||. */
static double fd_check(att *a, float *p, size_t n, const double *an, double *out, double *fdn) {
  double num = 0, den = 0;
  for (size_t i = 0; i < n; i++) {
    float p0 = p[i], h = 1e-4f, pp = p0 + h, pm = p0 - h;
    p[i] = pp;
    double lp = att_loss(a, out);
    p[i] = pm;
    double lm = att_loss(a, out);
    p[i] = p0;
    double fd = (lp - lm) / ((double)pp - (double)pm);
    num += (fd - an[i]) * (fd - an[i]);
    den += fd * fd;
  }
  *fdn = sqrt(den);
  return den > 0 ? sqrt(num / den) : sqrt(num);
}

static void test_reference_fd(void **state) {
  (void)state;
  test_rng rng;
  test_rng_seed(&rng, 71);
  for (int self = 0; self < 2; self++) {
    att a;
    att_make(&a, &rng, 2, self ? 4 : 3, 4, 8, 2, self);
    double **g = grads_alloc(&a), *out = op_doubles(a.n * a.tq * a.w);
    att_ref_grad(&a, g);
    static const char *names[10] = {"dxq", "dxkv", "dwq", "dbq", "dwk",
                                    "dbk", "dwv",  "dbv", "dwo", "dbo"};
    double worst = 0;
    for (int i = 0; i < 10; i++) {
      float *p;
      size_t n;
      double *an = g[i];
      double *sum = NULL;
      if (i < 2) {
        if (self && i == 1) continue;
        p = i == 0 ? a.xq : a.xkv;
        n = (i == 0 ? a.tq : a.tk) * a.n * a.w;
        if (self) { /* xq and xkv are one tensor: its gradient is the sum */
          sum = op_doubles(n);
          for (size_t j = 0; j < n; j++) sum[j] = g[0][j] + g[1][j];
          an = sum;
        }
      } else {
        int k = (i - 2) / 2;
        p = i % 2 == 0 ? a.wt[k] : a.bs[k];
        n = i % 2 == 0 ? a.w * a.w : a.w;
      }
      double fdn = 0, e = fd_check(&a, p, n, an, out, &fdn);
      if (i == 5) {
        /* dbk is zero in exact arithmetic (softmax ignores a constant added to every logit of a
         * row): check both sides are at rounding level instead */
        double m = 0;
        for (size_t j = 0; j < n; j++) m = fmax(m, fabs(an[j]));
        print_message("%s reference dbk: max |analytic| %.3g, ||fd|| %.3g (both ~0)\n",
                      self ? "self" : "cross", m, fdn);
        assert_true(m <= 1e-12 && fdn <= 1e-8);
      } else {
        print_message("%s reference %s vs finite differences: rel %.3g\n", self ? "self" : "cross",
                      names[i], e);
        if (e > worst) worst = e;
      }
      free(sum);
    }
    assert_true(worst <= FD_TOL);
    grads_free(g);
    free(out);
    att_free(&a);
  }
}

typedef struct dev_case {
  size_t n, tq, tk, w, heads;
  int self;
} dev_case;

/* ... and one key per image: the fused backward's per-image bias sums do not fit the scratch
 * regions it borrows there, so the column sums of dq, dk, dv run apart; the last (self-attention,
 * narrow, many tokens) leaves room for the fused backward's one product of the three projections'
 * weight gradients and one of the input gradient (the first two self-attention cases do not);
 * the last two run the fused backward per head: self-attention with 8 heads of 64 over 40 tokens
 * (its forward with all heads), and a MAP head's one query over 150 keys (the forward per head
 * too) */
static const dev_case dcases[] = {
    {3, 17, 17, 64, 4, 1}, {3, 1, 17, 64, 4, 0},  {2, 5, 9, 24, 3, 0},    {2, 49, 49, 128, 2, 1},
    {2, 3, 1, 32, 2, 0},   {4, 40, 40, 32, 2, 1}, {2, 40, 40, 512, 8, 1}, {3, 1, 150, 512, 8, 0}};

#define NDCASES (sizeof dcases / sizeof dcases[0])

/* A case's float64 reference forward and gradients, computed on its first run and reused by every
 * device, mode and kernel variant (the same seed draws the same inputs each time; the inputs'
 * hash is kept and checked, so a reference is never used for other data). */
typedef struct ref_cache {
  uint64_t inputs; /* FNV-1a (clippo_fnv1a) over the case's inputs; 0: not computed yet */
  double *want;    /* the forward */
  double **g;      /* the gradients (grads_alloc) */
} ref_cache;

typedef struct device_run {
  int fused;    /* cases that ran the fused kernels */
  int per_head; /* ... whose backward ran per head */
  ref_cache ref[NDCASES];
} device_run;

static uint64_t att_hash(const att *a) {
  const size_t f = sizeof(float), q = a->n * a->tq * a->w * f, w = a->w * f;
  unsigned long long h = 1469598103934665603ull;
  h = clippo_fnv1a(h, a->xq, q);
  h = clippo_fnv1a(h, a->xkv, a->n * a->tk * w);
  h = clippo_fnv1a(h, a->dout, q);
  for (int i = 0; i < 4; i++) h = clippo_fnv1a(clippo_fnv1a(h, a->wt[i], a->w * w), a->bs[i], w);
  return h | 1; /* never 0 */
}

/* The reference forward and gradients of a, from the cache or computed into it. */
static const ref_cache *reference_of(ref_cache *rc, const att *a) {
  uint64_t h = att_hash(a);
  if (rc->inputs) {
    assert_true(rc->inputs == h);
    return rc;
  }
  clippo_error err;
  rc->want = op_doubles(a->n * a->tq * a->w);
  TEST_OK(clippo_ref_mha(a->xq, a->xkv, a->n, a->tq, a->tk, a->w, a->heads, a->wt[0], a->bs[0],
                         a->wt[1], a->bs[1], a->wt[2], a->bs[2], a->wt[3], a->bs[3], rc->want,
                         &err),
          &err);
  rc->g = grads_alloc(a);
  att_ref_grad(a, rc->g);
  rc->inputs = h;
  return rc;
}

static void check_device(clippo_rt *rt, void *user) {
  device_run *run = user;
  ops_class cls = ops_class_of(rt);
  clippo_error err;
  test_rng rng;
  test_rng_seed(&rng, 72);
  for (size_t ci = 0; ci < sizeof dcases / sizeof dcases[0]; ci++) {
    const dev_case *c = &dcases[ci];
    att a;
    att_make(&a, &rng, c->n, c->tq, c->tk, c->w, c->heads, c->self);
    size_t W = c->w, rq = c->n * c->tq, rk = c->n * c->tk;
    clippo_tensor txkv = op_tensor2(rt, a.xkv, rk, W);
    clippo_tensor txq = c->self ? txkv : op_tensor2(rt, a.xq, rq, W);
    clippo_tensor tw[4], tb[4], gw[4], gb[4];
    float *gw0[4], *gb0[4];
    for (int i = 0; i < 4; i++) {
      tw[i] = op_tensor2(rt, a.wt[i], W, W);
      tb[i] = op_tensor1(rt, a.bs[i], W);
      gw0[i] = op_uniform(&rng, W * W, -0.1f, 0.1f);
      gb0[i] = op_uniform(&rng, W, -0.1f, 0.1f);
      gw[i] = op_tensor2(rt, gw0[i], W, W);
      gb[i] = op_tensor1(rt, gb0[i], W);
    }
    clippo_mha_weights mw = {&tw[0], &tw[1], &tw[2], &tb[0], &tb[1],
                             &tb[2], &tw[3], &tb[3], NULL,   NULL};
    clippo_mha_grads mg = {&gw[0], &gw[1], &gw[2], &gb[0], &gb[1], &gb[2], &gw[3], &gb[3]};
    clippo_mha_saved sv = {0};
    TEST_OK(clippo_mha_saved_alloc(rt, &sv, c->n, c->tq, c->tk, W, (int)c->heads, &err), &err);
    int64_t ssh[1] = {
        (int64_t)clippo_mha_grad_scratch_floats(c->n, c->tq, c->tk, W, (int)c->heads)};
    clippo_tensor scratch = op_tensor(rt, NULL, 1, ssh);
    /* forward, accumulating onto a residual */
    float *res = op_uniform(&rng, rq * W, -1.0f, 1.0f);
    clippo_tensor tout = op_tensor2(rt, res, rq, W);
    TEST_OK(clippo_mha_train_forward(rt, &mw, (int)c->heads, c->n, &txq, &txkv, &sv, &scratch, 1,
                                     &tout, &err),
            &err);
    run->fused += sv.rows;
    run->per_head += sv.rows && ops_attention_rows_per_head(&cls, c->tk, W, (int)c->heads, 1);
    const ref_cache *ref = reference_of(&run->ref[ci], &a);
    const double *want = ref->want;
    float *got = op_read(rt, &tout);
    for (size_t i = 0; i < rq * W; i++) got[i] -= res[i];
    char what[96];
    snprintf(what, sizeof what, "train forward n%zu tq%zu tk%zu w%zu h%zu", c->n, c->tq, c->tk, W,
             c->heads);
    op_expect(what, got, want, rq * W, 1e-5);
    free(got);
    /* the inference op on the same data */
    clippo_tensor iws, iout = op_tensor2(rt, NULL, rq, W);
    TEST_OK(clippo_mha_workspace_alloc(rt, &iws, c->n, c->tq, c->tk, W, (int)c->heads, &err), &err);
    TEST_OK(clippo_mha(rt, &mw, (int)c->heads, c->n, &txq, &txkv, &iws, 0, &iout, &err), &err);
    got = op_read(rt, &iout);
    snprintf(what, sizeof what, "clippo_mha (inference) n%zu tq%zu", c->n, c->tq);
    op_expect(what, got, want, rq * W, 1e-5);
    free(got);

    /* backward */
    double *const *g = ref->g;
    clippo_tensor tdout = op_tensor2(rt, a.dout, rq, W);
    float *dx0 = op_uniform(&rng, rk * W, -1.0f, 1.0f);
    clippo_tensor tdxkv = op_tensor2(rt, dx0, rk, W);
    clippo_tensor tdxq = c->self ? tdxkv : op_tensor2(rt, NULL, rq, W);
    /* self: accumulate both into one tensor holding dx0; cross: overwrite both */
    TEST_OK(clippo_mha_backward(rt, &mw, (int)c->heads, c->n, &txq, &txkv, &sv, &tdout, &mg, &tdxq,
                                &tdxkv, c->self, &scratch, NULL, &err),
            &err);
    double *wdx = op_doubles(rk * W);
    for (size_t i = 0; i < rk * W; i++) wdx[i] = c->self ? g[0][i] + g[1][i] + dx0[i] : g[1][i];
    got = op_read(rt, &tdxkv);
    snprintf(what, sizeof what, "%s n%zu tq%zu", c->self ? "dx (+=)" : "dxkv", c->n, c->tq);
    op_expect(what, got, wdx, rk * W, AG_TOL);
    free(got);
    if (!c->self) {
      got = op_read(rt, &tdxq);
      snprintf(what, sizeof what, "dxq n%zu tq%zu", c->n, c->tq);
      op_expect(what, got, g[0], rq * W, AG_TOL);
      free(got);
    }
    static const char *wn[4] = {"dwq", "dwk", "dwv", "dwo"}, *bn[4] = {"dbq", "dbk", "dbv", "dbo"};
    for (int i = 0; i < 4; i++) {
      double *ww = op_doubles(W * W), *wb = op_doubles(W);
      for (size_t j = 0; j < W * W; j++) ww[j] = g[2 + 2 * i][j] + gw0[i][j];
      for (size_t j = 0; j < W; j++) wb[j] = g[3 + 2 * i][j] + gb0[i][j];
      got = op_read(rt, &gw[i]);
      snprintf(what, sizeof what, "%s += n%zu tq%zu", wn[i], c->n, c->tq);
      op_expect(what, got, ww, W * W, AG_TOL);
      free(got);
      got = op_read(rt, &gb[i]);
      snprintf(what, sizeof what, "%s += n%zu tq%zu", bn[i], c->n, c->tq);
      /* dbk is zero in exact arithmetic: what is left is float noise of a column sum with
       * cancellation, compared against the initial values gb0 (~0.1) */
      op_expect(what, got, wb, W, i == 1 ? 1e-3 : AG_TOL);
      free(got), free(ww), free(wb);
    }
    /* a scratch too small is refused */
    int64_t small_shape[1] = {8};
    clippo_tensor small = op_tensor(rt, NULL, 1, small_shape);
    assert_int_equal(clippo_mha_backward(rt, &mw, (int)c->heads, c->n, &txq, &txkv, &sv, &tdout,
                                         &mg, NULL, NULL, 0, &small, NULL, &err),
                     CLIPPO_E_SHAPE);
    clippo_tensor_release(rt, &small);
    free(wdx), free(dx0), free(res);
    clippo_mha_saved_release(rt, &sv);
    clippo_tensor *all[] = {&scratch, &tout, &iws, &iout, &tdout, &tdxkv};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) clippo_tensor_release(rt, all[i]);
    if (!c->self) clippo_tensor_release(rt, &tdxq), clippo_tensor_release(rt, &txq);
    clippo_tensor_release(rt, &txkv);
    for (int i = 0; i < 4; i++) {
      clippo_tensor_release(rt, &tw[i]), clippo_tensor_release(rt, &tb[i]);
      clippo_tensor_release(rt, &gw[i]), clippo_tensor_release(rt, &gb[i]);
      free(gw0[i]), free(gb0[i]);
    }
    att_free(&a);
  }
}

/* Each device runs every case three times: through the batched products (CLIPPO_ATTENTION=gemm),
 * as the device picks (CPU devices with native vectors, PoCL: the fused attention_rows kernels
 * where the head size allows) and with the fused kernels forced (rows: both compilers run them);
 * at least one case must take them where they are picked or forced. */
static void run_device(clippo_rt *rt, void *u) {
  device_run *run = u;
  clippo_attention_mode saved = rt->settings.attention;
  static const clippo_attention_mode modes[3] = {CLIPPO_ATTENTION_GEMM, CLIPPO_ATTENTION_AUTO,
                                                 CLIPPO_ATTENTION_ROWS};
  static const char *names[3] = {"gemm", "auto", "rows"};
  for (int i = 0; i < 3; i++) {
    rt->settings.attention = modes[i];
    run->fused = run->per_head = 0;
    op_each_variant(rt, check_device, run);
    print_message("attention %s: %d fused case(s), %d per head\n", names[i], run->fused,
                  run->per_head);
    if (i == 0) assert_int_equal(run->fused, 0);
    int native = (rt->info.type & CL_DEVICE_TYPE_CPU) && rt->info.native_float_vec >= 4;
    if (i == 2 || (i == 1 && native)) assert_true(run->fused > 0);
    if (i == 1 && !native) assert_int_equal(run->fused, 0);
    /* PoCL's 1 MiB of local memory holds the per-head kernels of the last two cases */
    if ((i == 2 || (i == 1 && native)) && rt->info.local_mem >= ((size_t)1 << 20))
      assert_true(run->per_head > 0);
  }
  rt->settings.attention = saved;
}

static void test_reference(void **state) { test_reference_fd(state); }
static void test_device(void **state) {
  (void)state;
  device_run run = {0};
  test_each_device(run_device, &run);
  for (size_t i = 0; i < NDCASES; i++) {
    free(run.ref[i].want);
    if (run.ref[i].g) grads_free(run.ref[i].g);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_reference),
      cmocka_unit_test(test_device),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
