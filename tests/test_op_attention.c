/* Attention: the head split / merge layouts (kernels/attention.cl) and the whole multi-head
 * attention launcher (host/ops/attention.c, with clippo_gemm) against float64 references, on
 * every device: self-attention (T = 17, 196) and the MAP head's 1-query cross-attention, with
 * separate and fused QKV weights, overwriting and accumulating into out, through the batched
 * GEMMs and through the fused flash_attention kernel (both forced by rt->settings.attention)
 * and as the device chooses (CPU devices: attention_rows_fwd where it fits); flash_attention
 * alone on random projections (strided sources, with and without biases, key counts that are
 * not multiples of a tile, head sizes 20 to 128; both kernel variants, whose groups of 16 and 32
 * work-items are the key tiles) against a float64 loop; attention_rows_fwd alone likewise, with
 * its probabilities against a float64 softmax, on the shapes that fit the device, in both of its
 * builds (all heads per image; one head per work-item where all heads would not stay in cache,
 * ViT-B/16's 196 tokens among them).
 * Tolerances: split 3e-7 (two roundings), merge exact, MHA 5e-6 relative (L2 and max),
 * flash_attention 2e-6. */
#include "test_op_common.h"

#include "ops/ops_internal.h" /* ops_attention_rows_per_head: which build a case runs */

#define MHA_TOL 5e-6
#define FLASH_TOL 2e-6

/* Softmax probabilities of one fused case in float64, p[((b * heads + h) * tq + i) * tk + j]. */
static double *ref_probs(const float *q, size_t ldq, const float *k, size_t ldk, const float *bq,
                         const float *bk, double scale, size_t n, size_t tq, size_t tk,
                         size_t heads, size_t hd) {
  double *p = op_doubles(n * heads * tq * tk);
  for (size_t b = 0; b < n; b++)
    for (size_t h = 0; h < heads; h++)
      for (size_t i = 0; i < tq; i++) {
        double *row = p + ((b * heads + h) * tq + i) * tk, mx = -INFINITY, sum = 0;
        for (size_t j = 0; j < tk; j++) {
          double dot = 0;
          for (size_t d = 0; d < hd; d++) {
            size_t c = h * hd + d;
            double qv = (double)q[(b * tq + i) * ldq + c] + (bq ? bq[c] : 0.0);
            double kv = (double)k[(b * tk + j) * ldk + c] + (bk ? bk[c] : 0.0);
            dot += qv * kv;
          }
          row[j] = dot * scale;
          mx = fmax(mx, row[j]);
        }
        for (size_t j = 0; j < tk; j++) sum += row[j] = exp(row[j] - mx);
        for (size_t j = 0; j < tk; j++) row[j] /= sum;
      }
  return p;
}

/* The fused kernels */
enum { FUSED_FLASH, FUSED_ROWS, FUSED_ROWS_P };

/* One fused attention case (flash_attention, attention_rows_fwd, the latter also writing the
 * probabilities): q, k, v in columns of wider rows (ld = the given multiple of W, q at column 0,
 * k at W or 0, v after k), biases when `bias`. */
static void fused_case(clippo_rt *rt, int kind, size_t n, size_t tq, size_t tk, size_t heads,
                       size_t hd, int bias, test_rng *rng) {
  clippo_error err;
  const size_t w = heads * hd, ldq = bias ? 3 * w : w, ldkv = 2 * w + 3; /* a ragged row */
  float *q = op_normal(rng, n * tq * ldq, 0.0f, 1.0f);
  float *kv = op_normal(rng, n * tk * ldkv, 0.0f, 1.0f);
  float *b = op_normal(rng, 3 * w, 0.0f, 0.5f);
  clippo_tensor tqs = op_tensor2(rt, q, n * tq, ldq), tkv = op_tensor2(rt, kv, n * tk, ldkv);
  clippo_tensor tb = op_tensor1(rt, b, 3 * w);
  int64_t bs[1] = {(int64_t)w};
  clippo_tensor bq = clippo_tensor_view(&tb, 0, 1, bs), bk = clippo_tensor_view(&tb, w, 1, bs);
  clippo_tensor bv = clippo_tensor_view(&tb, 2 * w, 1, bs);
  size_t qcol = bias ? w : 0; /* with biases q sits mid-row, as in a fused projection */
  clippo_attention_src sq = {&tqs, ldq, qcol, bias ? &bq : NULL};
  clippo_attention_src sk = {&tkv, ldkv, 1, bias ? &bk : NULL};
  clippo_attention_src sv = {&tkv, ldkv, 1 + w, bias ? &bv : NULL};
  clippo_tensor out = op_tensor2(rt, NULL, n * tq, w);
  clippo_tensor pt = op_tensor2(rt, NULL, n * heads * tq, tk);
  double scale = 1.0 / sqrt((double)hd);
  if (kind == FUSED_FLASH)
    TEST_OK(clippo_op_attention_flash(rt, &sq, &sk, &sv, (float)scale, n, tq, tk, (int)heads, hd,
                                      &out, &err),
            &err);
  else
    TEST_OK(clippo_op_attention_rows(rt, &sq, &sk, &sv, (float)scale, n, tq, tk, (int)heads, hd,
                                     &out, kind == FUSED_ROWS_P ? &pt : NULL, &err),
            &err);
  double *want = op_doubles(n * tq * w);
  TEST_OK(clippo_ref_attention(q + qcol, ldq, kv + 1, ldkv, kv + 1 + w, ldkv, bias ? b : NULL,
                               bias ? b + w : NULL, bias ? b + 2 * w : NULL, (double)(float)scale,
                               n, tq, tk, heads, hd, want, &err),
          &err);
  float *got = op_read(rt, &out);
  char what[128];
  static const char *names[3] = {"flash", "rows", "rows+p"};
  snprintf(what, sizeof what, "%s n%zu tq%zu tk%zu h%zu hd%zu%s", names[kind], n, tq, tk, heads, hd,
           bias ? " bias" : "");
  op_expect(what, got, want, n * tq * w, FLASH_TOL);
  free(got), free(want);
  if (kind == FUSED_ROWS_P) {
    double *wp = ref_probs(q + qcol, ldq, kv + 1, ldkv, bias ? b : NULL, bias ? b + w : NULL,
                           (double)(float)scale, n, tq, tk, heads, hd);
    got = op_read(rt, &pt);
    snprintf(what, sizeof what, "rows p n%zu tq%zu tk%zu h%zu hd%zu", n, tq, tk, heads, hd);
    op_expect(what, got, wp, n * heads * tq * tk, FLASH_TOL);
    free(got), free(wp);
  }
  free(q), free(kv), free(b);
  clippo_tensor_release(rt, &out);
  clippo_tensor_release(rt, &pt);
  clippo_tensor_release(rt, &tqs);
  clippo_tensor_release(rt, &tkv);
  clippo_tensor_release(rt, &tb);
}

static void flash_case(clippo_rt *rt, size_t n, size_t tq, size_t tk, size_t heads, size_t hd,
                       int bias, test_rng *rng) {
  fused_case(rt, FUSED_FLASH, n, tq, tk, heads, hd, bias, rng);
}

static void check_flash(clippo_rt *rt, void *user) {
  (void)user;
  clippo_error err;
  test_rng rng;
  test_rng_seed(&rng, 73);
  flash_case(rt, 2, 196, 196, 12, 64, 1, &rng); /* B/16 */
  flash_case(rt, 3, 1, 196, 4, 64, 1, &rng);    /* the MAP head's one query */
  flash_case(rt, 3, 17, 17, 3, 20, 0, &rng);    /* no bias, odd head size */
  flash_case(rt, 2, 33, 40, 2, 128, 1, &rng);   /* the largest head */
  flash_case(rt, 1, 5, 1, 1, 8, 1, &rng);       /* one key */
  /* refused: heads over the limit, biases for some operands only, out overlapping q */
  const size_t wide = 256, ld = 3 * wide;
  clippo_tensor t = op_tensor2(rt, NULL, 4, ld), o = op_tensor2(rt, NULL, 4, wide);
  clippo_tensor b = op_tensor1(rt, NULL, wide);
  clippo_attention_src s0 = {&t, ld, 0, NULL}, s1 = {&t, ld, wide, NULL};
  clippo_attention_src s2 = {&t, ld, 2 * wide, NULL};
  assert_int_equal(clippo_op_attention_flash(rt, &s0, &s1, &s2, 1.0f, 1, 4, 4, 1, 256, &o, &err),
                   CLIPPO_E_SHAPE);
  assert_non_null(strstr(err.msg, "at most 128"));
  s1.bias = &b;
  assert_int_equal(clippo_op_attention_flash(rt, &s0, &s1, &s2, 1.0f, 1, 4, 4, 2, 128, &o, &err),
                   CLIPPO_E_ARG);
  assert_non_null(strstr(err.msg, "biases"));
  s1.bias = NULL;
  int64_t vs[2] = {4, 256};
  clippo_tensor inside = clippo_tensor_view(&t, 256, 2, vs);
  assert_int_equal(
      clippo_op_attention_flash(rt, &s0, &s1, &s2, 1.0f, 1, 4, 4, 2, 128, &inside, &err),
      CLIPPO_E_ARG);
  assert_non_null(strstr(err.msg, "overlaps"));
  TEST_OK(clippo_op_attention_flash(rt, &s0, &s1, &s2, 1.0f, 1, 4, 4, 2, 128, &o, &err), &err);
  clippo_tensor_release(rt, &t);
  clippo_tensor_release(rt, &o);
  clippo_tensor_release(rt, &b);
}

/* attention_rows_fwd forced (CLIPPO_ATTENTION=rows) where it fits this device (at least one case
 * on each), with and without the probabilities, and its refusals. */
static void check_rows(clippo_rt *rt, void *user) {
  (void)user;
  clippo_attention_mode saved = rt->settings.attention;
  rt->settings.attention = CLIPPO_ATTENTION_ROWS; /* also where auto would not pick them */
  clippo_error err;
  test_rng rng;
  test_rng_seed(&rng, 74);
  /* (n, tq, tk, heads, hd, bias, p, per head): the train suite's model, its MAP head, a MAP head
   * over 196 keys (per head), big heads, keys short of a vector, one key, B/16's self-attention
   * (per head), 8 heads of 48 with more keys than queries, neither a multiple of a vector (per
   * head) */
  static const size_t cases[][8] = {{4, 64, 64, 4, 32, 1, 1, 0},    {3, 1, 64, 4, 32, 1, 1, 0},
                                    {3, 1, 196, 4, 64, 1, 0, 1},    {2, 33, 40, 2, 128, 1, 1, 0},
                                    {3, 17, 17, 2, 16, 0, 1, 0},    {2, 5, 1, 1, 16, 1, 1, 0},
                                    {2, 196, 196, 12, 64, 1, 1, 1}, {2, 37, 150, 8, 48, 1, 0, 1}};
  const size_t ncases = sizeof cases / sizeof cases[0];
  ops_class cls = ops_class_of(rt);
  int ran = 0, per_head = 0;
  for (size_t i = 0; i < ncases; i++) {
    const size_t *c = cases[i];
    int ph = ops_attention_rows_per_head(&cls, c[2], c[3] * c[4], (int)c[3], 0);
    assert_int_equal(ph, (int)c[7]);
    if (!clippo_attention_rows_fits(rt, c[2], c[3] * c[4], (int)c[3])) continue;
    fused_case(rt, c[6] ? FUSED_ROWS_P : FUSED_ROWS, c[0], c[1], c[2], c[3], c[4], (int)c[5], &rng);
    ran++;
    per_head += ph;
  }
  print_message("attention_rows: %d of %zu cases fit %s, %d of them per head\n", ran, ncases,
                rt->info.name, per_head);
  assert_true(ran > 0);
  /* with PoCL's 1 MiB of local memory every case runs, B/16's per head */
  if (rt->info.local_mem >= ((size_t)1 << 20)) assert_true(ran == (int)ncases && per_head == 3);
  /* refused: a shape that fits no device's local memory (one head of 1024 over 196 tokens stages
   * 1.7 MiB), out overlapping q */
  const size_t wide = 1024, t = 196;
  clippo_tensor x = op_tensor2(rt, NULL, t, 3 * wide), o = op_tensor2(rt, NULL, t, wide);
  clippo_attention_src s0 = {&x, 3 * wide, 0, NULL}, s1 = {&x, 3 * wide, wide, NULL};
  clippo_attention_src s2 = {&x, 3 * wide, 2 * wide, NULL};
  assert_int_equal(clippo_attention_rows_fits(rt, t, wide, 1), 0);
  assert_int_equal(
      clippo_op_attention_rows(rt, &s0, &s1, &s2, 1.0f, 1, t, t, 1, wide, &o, NULL, &err),
      CLIPPO_E_ARG);
  assert_non_null(strstr(err.msg, "clippo_attention_rows_fits"));
  int64_t vs[2] = {(int64_t)t, (int64_t)wide};
  clippo_tensor inside = clippo_tensor_view(&x, wide, 2, vs);
  assert_int_equal(
      clippo_op_attention_rows(rt, &s0, &s1, &s2, 1.0f, 1, t, t, 1, wide, &inside, NULL, &err),
      CLIPPO_E_ARG);
  assert_non_null(strstr(err.msg, "overlaps"));
  clippo_tensor_release(rt, &x);
  clippo_tensor_release(rt, &o);
  rt->settings.attention = saved;
}

static void check_split_merge(clippo_rt *rt, void *user) {
  (void)user;
  clippo_error err;
  test_rng rng;
  test_rng_seed(&rng, 71);
  /* (n, t, heads, hd): B/16 layouts and an awkward head size */
  size_t cases[][4] = {{2, 196, 12, 64}, {3, 17, 12, 64}, {2, 5, 3, 20}};
  for (size_t i = 0; i < 3; i++) {
    size_t n = cases[i][0], t = cases[i][1], heads = cases[i][2], hd = cases[i][3];
    size_t w = heads * hd, rows = n * t;
    float *qkv = op_normal(&rng, rows * 3 * w, 0.0f, 1.0f);
    float *b = op_normal(&rng, 3 * w, 0.0f, 0.2f);
    float qs = (float)(1.0 / sqrt((double)hd));
    clippo_tensor tqkv = op_tensor2(rt, qkv, rows, 3 * w), tb = op_tensor1(rt, b, 3 * w);
    int64_t hshape[3] = {(int64_t)(n * heads), (int64_t)t, (int64_t)hd};
    clippo_tensor th[3];
    for (int j = 0; j < 3; j++) th[j] = op_tensor(rt, NULL, 3, hshape);
    TEST_OK(clippo_op_qkv_split(rt, &tqkv, &tb, t, (int)heads, qs, &th[0], &th[1], &th[2], &err),
            &err);
    double *want = op_doubles(rows * w);
    float *got[3];
    for (int j = 0; j < 3; j++) {
      clippo_ref_heads_split(qkv, rows, 3 * w, (size_t)j * w, b + j * w, j == 0 ? qs : 1.0, t,
                             heads, hd, want);
      got[j] = op_read(rt, &th[j]);
      char what[96];
      snprintf(what, sizeof what, "qkv_split %c n%zu t%zu h%zu hd%zu", "qkv"[j], n, t, heads, hd);
      op_expect(what, got[j], want, rows * w, 3e-7);
    }
    /* merge k back: exact */
    clippo_tensor tm = op_tensor2(rt, NULL, rows, w);
    TEST_OK(clippo_op_heads_merge(rt, &th[1], t, (int)heads, &tm, &err), &err);
    float *merged = op_read(rt, &tm);
    clippo_ref_heads_merge(got[1], rows, t, heads, hd, want);
    op_expect("heads_merge", merged, want, rows * w, 0.0);
    /* and the merge of a split without bias/scale gives back the columns */
    TEST_OK(clippo_op_heads_split(rt, &tqkv, 3 * w, 2 * w, NULL, 1.0f, t, (int)heads, &th[2], &err),
            &err);
    TEST_OK(clippo_op_heads_merge(rt, &th[2], t, (int)heads, &tm, &err), &err);
    free(merged);
    merged = op_read(rt, &tm);
    for (size_t r = 0; r < rows; r++)
      assert_memory_equal(merged + r * w, qkv + r * 3 * w + 2 * w, w * sizeof(float));
    free(merged);
    for (int j = 0; j < 3; j++) {
      free(got[j]);
      clippo_tensor_release(rt, &th[j]);
    }
    clippo_tensor_release(rt, &tm);
    clippo_tensor_release(rt, &tqkv);
    clippo_tensor_release(rt, &tb);
    free(want), free(qkv), free(b);
  }
}

/* Host copies of the weights of one attention layer and their device tensors. */
typedef struct mha_fixture {
  size_t w;
  float *h[8]; /* wq, bq, wk, bk, wv, bv, wo, bo */
  clippo_tensor t[8];
  clippo_tensor wqkv, bqkv;
} mha_fixture;

static void fixture_make(clippo_rt *rt, mha_fixture *f, size_t w, test_rng *rng) {
  clippo_error err;
  f->w = w;
  float a = sqrtf(6.0f / (float)(2 * w)); /* xavier uniform */
  for (int i = 0; i < 8; i++) {
    int is_bias = i % 2;
    size_t n = is_bias ? w : w * w;
    f->h[i] = is_bias ? op_normal(rng, n, 0.0f, 0.2f) : op_uniform(rng, n, -a, a);
    f->t[i] = is_bias ? op_tensor1(rt, f->h[i], n) : op_tensor2(rt, f->h[i], w, w);
  }
  clippo_mha_weights mw = {&f->t[0], &f->t[2], &f->t[4], &f->t[1], &f->t[3],
                           &f->t[5], &f->t[6], &f->t[7], NULL,     NULL};
  TEST_OK(clippo_mha_fuse_qkv(rt, &mw, &f->wqkv, &f->bqkv, &err), &err);
}

static clippo_mha_weights fixture_weights(mha_fixture *f, int fused) {
  clippo_mha_weights mw = {&f->t[0], &f->t[2], &f->t[4], &f->t[1], &f->t[3],
                           &f->t[5], &f->t[6], &f->t[7], NULL,     NULL};
  if (fused) {
    mw.wqkv = &f->wqkv;
    mw.bqkv = &f->bqkv;
    mw.wq = mw.wk = mw.wv = mw.bq = mw.bk = mw.bv = NULL;
  }
  return mw;
}

static void fixture_free(clippo_rt *rt, mha_fixture *f) {
  for (int i = 0; i < 8; i++) {
    free(f->h[i]);
    clippo_tensor_release(rt, &f->t[i]);
  }
  clippo_tensor_release(rt, &f->wqkv);
  clippo_tensor_release(rt, &f->bqkv);
}

/* One MHA case: self (tq == tk, same tensor) or MAP-like (xq = a probe tiled over n). */
static void mha_case(clippo_rt *rt, size_t n, size_t tq, size_t tk, size_t w, size_t heads, int map,
                     int *rows_cases) {
  clippo_error err;
  test_rng rng;
  test_rng_seed(&rng, 72 + n * 1000 + tk * 10 + w);
  mha_fixture f;
  fixture_make(rt, &f, w, &rng);
  float *xkv = op_normal(&rng, n * tk * w, 0.0f, 1.0f);
  float *xq = xkv;
  float *probe = NULL;
  if (map) {
    probe = op_uniform(&rng, w, -0.1f, 0.1f);
    xq = malloc(n * tq * w * sizeof *xq);
    for (size_t r = 0; r < n * tq; r++) memcpy(xq + r * w, probe, w * sizeof *xq);
  }
  double *want = op_doubles(n * tq * w);
  TEST_OK(clippo_ref_mha(xq, xkv, n, tq, tk, w, heads, f.h[0], f.h[1], f.h[2], f.h[3], f.h[4],
                         f.h[5], f.h[6], f.h[7], want, &err),
          &err);
  clippo_tensor tkv = op_tensor2(rt, xkv, n * tk, w), tqt = tkv;
  if (map) {
    clippo_tensor tp = op_tensor1(rt, probe, w);
    tqt = op_tensor2(rt, NULL, n * tq, w);
    TEST_OK(clippo_op_broadcast_rows(rt, &tp, &tqt, &err), &err);
    clippo_tensor_release(rt, &tp);
  }
  clippo_tensor ws;
  TEST_OK(clippo_mha_workspace_alloc(rt, &ws, n, tq, tk, w, (int)heads, &err), &err);
  float *base = op_normal(&rng, n * tq * w, 0.0f, 1.0f);
  clippo_tensor out = op_tensor2(rt, base, n * tq, w);
  const clippo_attention_mode modes[4] = {CLIPPO_ATTENTION_GEMM, CLIPPO_ATTENTION_FLASH,
                                          CLIPPO_ATTENTION_AUTO, CLIPPO_ATTENTION_ROWS};
  for (int mi = 0; mi < 4; mi++) {
    rt->settings.attention = modes[mi];
    int rows = clippo_mha_uses_rows(rt, n, tq, tk, w, (int)heads);
    if (mi < 2) assert_int_equal(clippo_mha_uses_flash(rt, n, tq, tk, w, (int)heads), mi);
    if (mi < 2) assert_int_equal(rows, 0);
    if (mi == 3) assert_int_equal(rows, clippo_attention_rows_fits(rt, tk, w, (int)heads));
    if (rows && mi == 2) *rows_cases += 1;
    static const char *mode_names[4] = {"gemm", "flash", "auto", "rows"};
    const char *path = rows && mi == 2 ? "auto:rows" : mode_names[mi];
    for (int fused = 0; fused < 2; fused++) {
      clippo_mha_weights mw = fixture_weights(&f, fused);
      for (int acc = 0; acc < 2; acc++) {
        TEST_OK(clippo_tensor_write(rt, &out, base, &err), &err);
        TEST_OK(clippo_mha(rt, &mw, (int)heads, n, &tqt, &tkv, &ws, acc, &out, &err), &err);
        float *got = op_read(rt, &out);
        if (acc)
          for (size_t i = 0; i < n * tq * w; i++) got[i] -= base[i];
        char what[128];
        snprintf(what, sizeof what, "mha %s %s n%zu tq%zu tk%zu w%zu h%zu%s%s", path,
                 map ? "map" : "self", n, tq, tk, w, heads, fused ? " fused" : "",
                 acc ? " acc" : "");
        op_expect(what, got, want, n * tq * w, MHA_TOL);
        free(got);
      }
    }
  }
  rt->settings.attention = CLIPPO_ATTENTION_AUTO;
  /* a workspace one float short is refused */
  clippo_tensor small = clippo_tensor_view(&ws, 1, ws.ndim, ws.shape);
  small.shape[0] -= 1;
  clippo_mha_weights mw = fixture_weights(&f, 1);
  assert_int_equal(clippo_mha(rt, &mw, (int)heads, n, &tqt, &tkv, &small, 0, &out, &err),
                   CLIPPO_E_SHAPE);
  assert_non_null(strstr(err.msg, "workspace"));
  clippo_tensor_release(rt, &ws);
  clippo_tensor_release(rt, &out);
  if (map) clippo_tensor_release(rt, &tqt);
  clippo_tensor_release(rt, &tkv);
  fixture_free(rt, &f);
  if (map) free(xq);
  free(xkv), free(probe), free(want), free(base);
}

/* The automatic choice takes attention_rows_fwd on CPU devices for some of the cases (n at least
 * the compute units: two cores here). */
static void check_mha_self(clippo_rt *rt, void *user) {
  (void)user;
  int rows = 0;
  mha_case(rt, 2, 17, 17, 128, 2, 0, &rows);
  mha_case(rt, 2, 196, 196, 256, 4, 0, &rows);
  mha_case(rt, 4, 64, 64, 128, 4, 0, &rows); /* the train suite's model */
  print_message("self-attention: %d case(s) through attention_rows as the device picks\n", rows);
  if ((rt->info.type & CL_DEVICE_TYPE_CPU) && rt->info.native_float_vec >= 4 &&
      rt->info.compute_units <= 4)
    assert_true(rows > 0);
}

static void check_mha_map(clippo_rt *rt, void *user) {
  (void)user;
  int rows = 0;
  mha_case(rt, 3, 1, 196, 256, 4, 1, &rows);
  mha_case(rt, 2, 1, 17, 128, 2, 1, &rows);
  mha_case(rt, 4, 1, 64, 128, 4, 1, &rows);
  print_message("MAP head: %d case(s) through attention_rows\n", rows);
}

static void run_split_merge(clippo_rt *rt, void *u) { check_split_merge(rt, u); }

static void run_flash(clippo_rt *rt, void *u) { op_each_variant(rt, check_flash, u); }

static void test_flash(void **state) {
  (void)state;
  test_each_device(run_flash, NULL);
}

static void run_rows(clippo_rt *rt, void *u) { op_each_variant(rt, check_rows, u); }

static void test_rows(void **state) {
  (void)state;
  test_each_device(run_rows, NULL);
}

static void test_split_merge(void **state) {
  (void)state;
  test_each_device(run_split_merge, NULL);
}
static void test_mha_self(void **state) {
  (void)state;
  test_each_device(check_mha_self, NULL);
}
static void test_mha_map(void **state) {
  (void)state;
  test_each_device(check_mha_map, NULL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_split_merge), cmocka_unit_test(test_mha_self),
      cmocka_unit_test(test_mha_map),     cmocka_unit_test(test_flash),
      cmocka_unit_test(test_rows),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
