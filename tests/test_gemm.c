/* GEMM tests: every provider on every device against the double-precision reference
 * (clippo_ref_gemm) on random data, relative error <= 1e-5; all transposes, views (offsets),
 * padded leading dimensions, alpha/beta (beta = 0 over NaN), batched strides (gaps, shared B),
 * operands in one buffer, edge tiles of the kernel, argument errors, the provider choice (the
 * runtime's settings, the record read once, fallback classes), a provider failing part-way
 * (fallback with beta applied once) and a small tuning run. CLBlast only sees small shapes (its
 * first use on PoCL compiles for seconds). */
#include "support.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clippo/gemm.h"

#define TOL 1e-5

/* One product to check. */
typedef struct gcase {
  int ta, tb;
  size_t m, n, k, batch;
  size_t pad_a, pad_b, pad_c; /* leading dimension minus columns */
  size_t gap;                 /* batch stride minus matrix size */
  size_t off;                 /* view offset of each operand */
  float alpha, beta;
  int shared;   /* A, B and C in one buffer */
  int b_shared; /* stride_b = 0: one B for the whole batch */
} gcase;

/* Runs c with provider p (kernel tiles cfg, may be NULL); checks C against the reference and
 * that no element outside C's matrices changed. Returns the relative error. */
/* The bits of a float, to compare object representations (NaN payloads included). */
static uint32_t float_bits(float f) {
  uint32_t u;
  memcpy(&u, &f, sizeof u);
  return u;
}

static double run_case(clippo_rt *rt, clippo_gemm_provider p, const clippo_gemm_kernel_cfg *cfg,
                       const gcase *c, uint64_t seed) {
  clippo_error err;
  test_rng rng;
  test_rng_seed(&rng, seed);
  size_t ar = c->ta ? c->k : c->m, ac = c->ta ? c->m : c->k;
  size_t br = c->tb ? c->n : c->k, bc = c->tb ? c->k : c->n;
  size_t lda = ac + c->pad_a, ldb = bc + c->pad_b, ldc = c->n + c->pad_c;
  if (lda == 0) lda = 1;
  if (ldb == 0) ldb = 1;
  size_t sa = ar * lda + c->gap, sb = c->b_shared ? 0 : br * ldb + c->gap, sc = c->m * ldc + c->gap;
  size_t ea = (c->batch - 1) * sa + ar * lda, eb = (c->batch - 1) * sb + br * ldb,
         ec = (c->batch - 1) * sc + c->m * ldc;
  /* Element offsets of the operands in their buffers. */
  size_t oa = c->off, ob = c->shared ? oa + ea + 5 : c->off + 1,
         oc = c->shared ? ob + eb + 3 : c->off + 2;
  size_t na = c->shared ? oc + ec + 7 : oa + ea + 7;
  size_t nb = c->shared ? 0 : ob + eb + 7, nc = c->shared ? 0 : oc + ec + 7;
  float *ha = malloc(na * sizeof(float)), *hb = nb ? malloc(nb * sizeof(float)) : NULL,
        *hc = nc ? malloc(nc * sizeof(float)) : NULL;
  assert_non_null(ha);
  if (!c->shared) {
    assert_non_null(hb);
    assert_non_null(hc);
  }
  test_fill_uniform(&rng, ha, na, -1.0f, 1.0f);
  if (hb) test_fill_uniform(&rng, hb, nb, -1.0f, 1.0f);
  if (hc) test_fill_uniform(&rng, hc, nc, -1.0f, 1.0f);
  float *bufb = c->shared ? ha : hb, *bufc = c->shared ? ha : hc;
  size_t ncbuf = c->shared ? na : nc;
  if (c->beta == 0.0f) /* C's old content must not matter, not even NaN */
    for (size_t z = 0; z < c->batch; z++)
      for (size_t i = 0; i < c->m; i++)
        for (size_t j = 0; j < c->n; j++) bufc[oc + z * sc + i * ldc + j] = NAN;

  clippo_tensor ta, tb, tc;
  int64_t sha[1] = {(int64_t)na}, shb[1] = {(int64_t)nb}, shc[1] = {(int64_t)nc};
  TEST_OK(clippo_tensor_alloc(rt, &ta, CLIPPO_F32, 1, sha, &err), &err);
  TEST_OK(clippo_tensor_write(rt, &ta, ha, &err), &err);
  if (!c->shared) {
    TEST_OK(clippo_tensor_alloc(rt, &tb, CLIPPO_F32, 1, shb, &err), &err);
    TEST_OK(clippo_tensor_write(rt, &tb, hb, &err), &err);
    TEST_OK(clippo_tensor_alloc(rt, &tc, CLIPPO_F32, 1, shc, &err), &err);
    TEST_OK(clippo_tensor_write(rt, &tc, hc, &err), &err);
  }
  /* Views at the operand offsets (shape 1-d: the gemm checks bounds against the buffer). */
  int64_t one[1] = {1};
  clippo_tensor va = clippo_tensor_view(&ta, oa, 1, one);
  clippo_tensor vb = clippo_tensor_view(c->shared ? &ta : &tb, ob, 1, one);
  clippo_tensor vc = clippo_tensor_view(c->shared ? &ta : &tc, oc, 1, one);

  clippo_status st = clippo_gemm_with(rt, p, cfg, c->ta, c->tb, c->m, c->n, c->k, c->alpha, &va,
                                      lda, sa, &vb, ldb, sb, c->beta, &vc, ldc, sc, c->batch, &err);
  if (st != CLIPPO_OK)
    fail_msg("%s %s%s %zux%zux%zu batch %zu: %s", clippo_gemm_provider_name(p), c->ta ? "T" : "N",
             c->tb ? "T" : "N", c->m, c->n, c->k, c->batch, err.msg);
  float *got = malloc((ncbuf ? ncbuf : 1) * sizeof(float));
  assert_non_null(got);
  TEST_OK(clippo_tensor_read(rt, c->shared ? &ta : &tc, got, &err), &err);

  /* Reference on the host copy. */
  float *ref = malloc((ncbuf ? ncbuf : 1) * sizeof(float));
  assert_non_null(ref);
  memcpy(ref, bufc, ncbuf * sizeof(float));
  for (size_t z = 0; z < c->batch; z++)
    clippo_ref_gemm(c->ta, c->tb, c->m, c->n, c->k, c->alpha, ha + oa + z * sa, lda,
                    bufb + ob + z * sb, ldb, c->beta, ref + oc + z * sc, ldc);
  double num = 0, den = 0;
  size_t outside_changed = 0;
  for (size_t i = 0; i < ncbuf; i++) {
    int in_c = 0;
    if (i >= oc && i < oc + ec) {
      size_t r = i - oc, z = r / (sc ? sc : 1), w = r % (sc ? sc : 1);
      if (c->batch == 1) {
        z = 0;
        w = r;
      }
      in_c = z < c->batch && w / ldc < c->m && w % ldc < c->n;
    }
    if (in_c) {
      double d = (double)got[i] - (double)ref[i];
      num += d * d;
      den += (double)ref[i] * (double)ref[i];
    } else if (float_bits(got[i]) != float_bits(ref[i])) { /* bit for bit, NaN included */
      outside_changed++;
    }
  }
  double rel = den > 0 ? sqrt(num / den) : sqrt(num);
  if (outside_changed)
    fail_msg("%s: %zu elements outside C changed (%s%s %zux%zux%zu)", clippo_gemm_provider_name(p),
             outside_changed, c->ta ? "T" : "N", c->tb ? "T" : "N", c->m, c->n, c->k);
  if (!(rel <= TOL))
    fail_msg("%s %s%s %zux%zux%zu batch %zu alpha %g beta %g: relative error %.3g > %g",
             clippo_gemm_provider_name(p), c->ta ? "T" : "N", c->tb ? "T" : "N", c->m, c->n, c->k,
             c->batch, (double)c->alpha, (double)c->beta, rel, TOL);
  free(got);
  free(ref);
  free(ha);
  free(hb);
  free(hc);
  clippo_tensor_release(rt, &ta);
  if (!c->shared) {
    clippo_tensor_release(rt, &tb);
    clippo_tensor_release(rt, &tc);
  }
  return rel;
}

/* oneDNN (last) is checked here in float32 like the others; its bf16 and int8 products, the
 * default choice and its errors in tests/test_gemm_onednn.c. */
static const clippo_gemm_provider all_providers[] = {CLIPPO_GEMM_CLBLAST, CLIPPO_GEMM_HOSTBLAS,
                                                     CLIPPO_GEMM_KERNEL, CLIPPO_GEMM_ONEDNN};
#define NPROV (sizeof all_providers / sizeof all_providers[0])

static void test_ref(void **state) {
  (void)state;
  /* [1 2; 3 4] * [5 6; 7 8] = [19 22; 43 50]; with alpha 2, beta 1 over C = 1. */
  float a[4] = {1, 2, 3, 4}, b[4] = {5, 6, 7, 8}, c[4] = {1, 1, 1, 1};
  clippo_ref_gemm(0, 0, 2, 2, 2, 2.0f, a, 2, b, 2, 1.0f, c, 2);
  assert_true(c[0] == 39 && c[1] == 45 && c[2] == 87 && c[3] == 101);
  /* A^T B^T = (B A)^T: B A = [23 34; 31 46] */
  float d[4] = {NAN, NAN, NAN, NAN};
  clippo_ref_gemm(1, 1, 2, 2, 2, 1.0f, a, 2, b, 2, 0.0f, d, 2);
  assert_true(d[0] == 23 && d[1] == 31 && d[2] == 34 && d[3] == 46);
}

/* Every provider, every transpose combination, views, padding, alpha/beta. */
static void providers_small(clippo_rt *rt, void *user) {
  (void)user;
  for (size_t pi = 0; pi < NPROV; pi++) {
    clippo_gemm_provider p = all_providers[pi];
    if (!clippo_gemm_provider_available(rt, p)) {
      print_message("[   skip   ] %s not available on %s\n", clippo_gemm_provider_name(p),
                    rt->info.name);
      continue;
    }
    for (int t = 0; t < 4; t++) {
      gcase c = {t & 1, t >> 1, 37, 53, 29, 1, 3, 0, 5, 0, 11, 0.75f, -1.25f, 0, 0};
      run_case(rt, p, NULL, &c, 100 + (uint64_t)t);
      /* beta = 0 over NaN, no padding, operands in one buffer */
      gcase d = {t & 1, t >> 1, 37, 53, 29, 1, 0, 2, 0, 0, 0, 1.0f, 0.0f, 1, 0};
      run_case(rt, p, NULL, &d, 200 + (uint64_t)t);
    }
  }
}

static void test_providers_small(void **state) {
  (void)state;
  test_each_device(providers_small, NULL);
}

/* Batched products with gaps between matrices, offsets, shared B and transposes. */
static void providers_batched(clippo_rt *rt, void *user) {
  (void)user;
  for (size_t pi = 0; pi < NPROV; pi++) {
    clippo_gemm_provider p = all_providers[pi];
    if (!clippo_gemm_provider_available(rt, p)) continue;
    for (int t = 0; t < 4; t++) {
      gcase c = {t & 1, t >> 1, 17, 19, 23, 3, 1, 2, 3, 4, 7, 1.5f, 0.5f, 0, 0};
      run_case(rt, p, NULL, &c, 300 + (uint64_t)t);
    }
    /* attention-like: q k^T (B transposed) and p v, in one buffer, beta = 0 */
    gcase qk = {0, 1, 20, 20, 8, 5, 0, 0, 0, 0, 3, 0.125f, 0.0f, 1, 0};
    run_case(rt, p, NULL, &qk, 400);
    gcase av = {0, 0, 20, 8, 20, 5, 0, 0, 0, 0, 3, 1.0f, 0.0f, 1, 0};
    run_case(rt, p, NULL, &av, 401);
    /* one B for every batch entry (stride 0) */
    gcase sh = {0, 0, 9, 13, 6, 4, 0, 1, 0, 2, 0, 1.0f, 1.0f, 0, 1};
    run_case(rt, p, NULL, &sh, 402);
  }
}

static void test_providers_batched(void **state) {
  (void)state;
  test_each_device(providers_batched, NULL);
}

/* Bigger products (not CLBlast: slow on CPU devices), through the automatic choice too. */
static void providers_medium(clippo_rt *rt, void *user) {
  (void)user;
  gcase c = {0, 0, 203, 150, 130, 1, 0, 0, 0, 0, 0, 1.0f, 0.0f, 0, 0};
  gcase d = {1, 1, 64, 200, 96, 2, 5, 3, 1, 8, 4, 1.0f, 1.0f, 0, 0};
  for (size_t pi = 1; pi < NPROV; pi++) {
    clippo_gemm_provider p = all_providers[pi];
    if (!clippo_gemm_provider_available(rt, p)) continue;
    run_case(rt, p, NULL, &c, 500);
    run_case(rt, p, NULL, &d, 501);
  }
  run_case(rt, CLIPPO_GEMM_AUTO, NULL, &c, 502);
}

static void test_providers_medium(void **state) {
  (void)state;
  test_each_device(providers_medium, NULL);
}

/* The kernel's edge tiles with a few tile configurations: sizes 1, below and just above a tile,
 * k = 0 (C = beta * C). */
static void kernel_edges(clippo_rt *rt, void *user) {
  (void)user;
  /* default; a tuning candidate; odd sizes with slices of depth 2 */
  const clippo_gemm_kernel_cfg cfgs[] = {
      {0, 0, 0, 0, 0, 0}, {6, 8, 2, 8, 1, 0}, {3, 4, 1, 2, 3, 2}};
  const size_t sizes[][3] = {{1, 1, 1}, {1, 30, 7}, {7, 1, 5}, {5, 25, 3}, {13, 49, 2}, {9, 17, 0}};
  for (size_t ci = 0; ci < sizeof cfgs / sizeof cfgs[0]; ci++) {
    for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
      for (int t = 0; t < 4; t++) {
        if (ci > 0 && (t & 1)) continue; /* fewer programs to build: A not transposed */
        gcase c = {t & 1,
                   t >> 1,
                   sizes[si][0],
                   sizes[si][1],
                   sizes[si][2],
                   1 + (si % 2),
                   1,
                   0,
                   2,
                   3,
                   5,
                   1.0f,
                   0.5f,
                   (int)(si % 2),
                   0};
        run_case(rt, CLIPPO_GEMM_KERNEL, &cfgs[ci], &c, 600 + si * 10 + (uint64_t)t);
      }
    }
  }
}

static void test_kernel_edges(void **state) {
  (void)state;
  test_each_device(kernel_edges, NULL);
}

/* Bad arguments give clear errors, not crashes; empty products are no-ops. */
static void validation(clippo_rt *rt, void *user) {
  (void)user;
  clippo_error err;
  clippo_tensor a, c, i32;
  int64_t s100[1] = {100}, s200[1] = {200}, s10[1] = {10};
  TEST_OK(clippo_tensor_alloc(rt, &a, CLIPPO_F32, 1, s100, &err), &err);
  TEST_OK(clippo_tensor_alloc(rt, &c, CLIPPO_F32, 1, s200, &err), &err);
  TEST_OK(clippo_tensor_alloc(rt, &i32, CLIPPO_I32, 1, s10, &err), &err);
  /* leading dimension below the columns */
  assert_int_equal(clippo_gemm(rt, 0, 0, 5, 5, 5, 1, &a, 4, &a, 5, 0, &c, 5, &err), CLIPPO_E_ARG);
  assert_non_null(strstr(err.msg, "leading dimension of A"));
  /* past the end of the buffer: 11 x 10 needs 110 floats */
  assert_int_equal(clippo_gemm(rt, 0, 0, 11, 10, 10, 1, &a, 10, &a, 10, 0, &c, 10, &err),
                   CLIPPO_E_SHAPE);
  assert_non_null(strstr(err.msg, "matrix A"));
  assert_non_null(strstr(err.msg, "past the end"));
  /* a view offset pushes B past the end */
  int64_t one[1] = {1};
  clippo_tensor vb = clippo_tensor_view(&a, 60, 1, one);
  assert_int_equal(clippo_gemm(rt, 0, 0, 5, 5, 10, 1, &a, 10, &vb, 5, 0, &c, 5, &err),
                   CLIPPO_E_SHAPE);
  assert_non_null(strstr(err.msg, "matrix B"));
  /* wrong dtype */
  assert_int_equal(clippo_gemm(rt, 0, 0, 2, 2, 2, 1, &i32, 2, &a, 2, 0, &c, 2, &err),
                   CLIPPO_E_SHAPE);
  assert_non_null(strstr(err.msg, "int32"));
  /* overlapping C matrices in a batch */
  assert_int_equal(
      clippo_gemm_batched(rt, 0, 0, 3, 3, 3, 1, &a, 3, 9, &a, 3, 9, 0, &c, 3, 4, 2, &err),
      CLIPPO_E_ARG);
  assert_non_null(strstr(err.msg, "stride of C"));
  /* nothing to do */
  TEST_OK(clippo_gemm(rt, 0, 0, 0, 5, 5, 1, &a, 5, &a, 5, 0, &c, 5, &err), &err);
  TEST_OK(clippo_gemm_batched(rt, 0, 0, 3, 3, 3, 1, &a, 3, 9, &a, 3, 9, 0, &c, 3, 9, 0, &err),
          &err);
  clippo_tensor_release(rt, &a);
  clippo_tensor_release(rt, &c);
  clippo_tensor_release(rt, &i32);
}

static void test_validation(void **state) {
  (void)state;
  test_each_device(validation, NULL);
}

static void write_text(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs(text, f);
  fclose(f);
}

/* The choice: default, env CLIPPO_GEMM, the record and its fallback classes, a broken record. */
static void choice(clippo_rt *rt, void *user) {
  const char *dir = user;
  clippo_error err;
  clippo_gemm_choice ch;
  char path[512];
  snprintf(path, sizeof path, "%s/record.txt", dir);
  unlink(path);
  snprintf(rt->settings.gemm_record, sizeof rt->settings.gemm_record, "%s", path);
  rt->settings.gemm[0] = '\0';
  TEST_OK(clippo_gemm_choose(rt, 0, 0, 1568, 2304, 768, 1, &ch, &err), &err);
  assert_string_equal(ch.shape_class, "mat_nn_l");
  assert_string_equal(ch.source, "default");
  /* the host BLAS, or oneDNN where OpenBLAS does not know the CPU (test_gemm_onednn.c) */
  if ((rt->info.type & CL_DEVICE_TYPE_CPU) && rt->info.host_unified)
    assert_true(ch.provider == CLIPPO_GEMM_HOSTBLAS || ch.provider == CLIPPO_GEMM_ONEDNN);
  if (rt->info.type & CL_DEVICE_TYPE_GPU) assert_int_equal(ch.provider, CLIPPO_GEMM_CLBLAST);

  snprintf(rt->settings.gemm, sizeof rt->settings.gemm, "kernel");
  TEST_OK(clippo_gemm_choose(rt, 0, 1, 196, 196, 64, 96, &ch, &err), &err);
  assert_int_equal(ch.provider, CLIPPO_GEMM_KERNEL);
  assert_string_equal(ch.shape_class, "bat_nt_l");
  assert_string_equal(ch.source, "env CLIPPO_GEMM");
  snprintf(rt->settings.gemm, sizeof rt->settings.gemm, "fastest");
  assert_int_equal(clippo_gemm_choose(rt, 0, 0, 4, 4, 4, 1, &ch, &err), CLIPPO_E_ARG);
  assert_non_null(strstr(err.msg, "CLIPPO_GEMM"));
  rt->settings.gemm[0] = '\0';

  /* The record is read once: written after the first product, it is seen only once forgotten. */
  write_text(path, "# test record\n"
                   "mat_nn_l kernel kernel=6x8x2/4x2/256 kernel_gflops=99.5\n"
                   "bat_nt_s clblast\n");
  TEST_OK(clippo_gemm_choose(rt, 0, 0, 1568, 768, 768, 1, &ch, &err), &err);
  assert_string_equal(ch.source, "default");
  clippo_gemm_forget_record(rt);
  TEST_OK(clippo_gemm_choose(rt, 0, 0, 1568, 768, 768, 1, &ch, &err), &err);
  assert_int_equal(ch.provider, CLIPPO_GEMM_KERNEL);
  assert_string_equal(ch.source, "record");
  assert_int_equal(ch.kernel.tm, 6);
  assert_int_equal(ch.kernel.nv, 2);
  assert_int_equal(ch.kernel.kc, 256);
  /* mat_tn_l is not recorded: the nn class of the same size stands in */
  TEST_OK(clippo_gemm_choose(rt, 1, 0, 768, 3072, 1568, 1, &ch, &err), &err);
  assert_int_equal(ch.provider, CLIPPO_GEMM_KERNEL);
  assert_string_equal(ch.source, "record (class mat_nn_l)");
  TEST_OK(clippo_gemm_choose(rt, 0, 0, 2, 3, 4, 5, &ch, &err), &err);
  assert_int_equal(ch.provider, CLIPPO_GEMM_CLBLAST);
  /* a product through the recorded provider gives the right answer */
  gcase c = {0, 0, 70, 50, 40, 1, 0, 0, 0, 0, 0, 1.0f, 0.0f, 0, 0};
  run_case(rt, CLIPPO_GEMM_AUTO, NULL, &c, 700);

  /* declared=: in the choice of the class (and of those it stands in for), 0 elsewhere */
  write_text(path, "mat_nn_l hostblas declared=direct\nmat_nn_s hostblas declared=blocked\n");
  clippo_gemm_forget_record(rt);
  TEST_OK(clippo_gemm_choose(rt, 0, 0, 196, 768, 768, 1, &ch, &err), &err);
  assert_int_equal(ch.declared_direct, 1);
  TEST_OK(clippo_gemm_choose(rt, 0, 0, 8, 768, 768, 1, &ch, &err), &err);
  assert_int_equal(ch.declared_direct, 0);
  TEST_OK(clippo_gemm_choose(rt, 0, 1, 196, 196, 64, 12, &ch, &err), &err);
  assert_int_equal(ch.declared_direct, 0);

  write_text(path, "mat_nn_l fastest\n");
  clippo_gemm_forget_record(rt);
  assert_int_equal(clippo_gemm_choose(rt, 0, 0, 1568, 768, 768, 1, &ch, &err), CLIPPO_E_FORMAT);
  assert_non_null(strstr(err.msg, "record.txt:1"));
  /* a broken record stays an error on every product, without reading it again */
  assert_int_equal(clippo_gemm_choose(rt, 0, 0, 1568, 768, 768, 1, &ch, &err), CLIPPO_E_FORMAT);
  write_text(path, "mat_nn_x kernel\n");
  clippo_gemm_forget_record(rt);
  assert_int_equal(clippo_gemm_choose(rt, 0, 0, 1568, 768, 768, 1, &ch, &err), CLIPPO_E_FORMAT);
  write_text(path, "mat_nn_l kernel kernel=9x9\n");
  clippo_gemm_forget_record(rt);
  assert_int_equal(clippo_gemm_choose(rt, 0, 0, 1568, 768, 768, 1, &ch, &err), CLIPPO_E_FORMAT);
  /* another path is read at once */
  char other[600];
  snprintf(other, sizeof other, "%s/missing.txt", dir);
  snprintf(rt->settings.gemm_record, sizeof rt->settings.gemm_record, "%s", other);
  TEST_OK(clippo_gemm_choose(rt, 0, 0, 1568, 768, 768, 1, &ch, &err), &err);
  assert_string_equal(ch.source, "default");
  unlink(path);
}

static void test_choice(void **state) {
  (void)state;
  char *dir = test_tmpdir();
  assert_non_null(dir);
  test_each_device(choice, dir);
  rmdir(dir);
  free(dir);
}

/* A provider that fails part-way through a product: the kernel provider adds its first k-slices
 * into C (with beta), then a launch fails (the failure hook). The fallback must add only what is
 * left, so that C = alpha A B + beta C with beta applied once: checked against the reference with
 * beta != 0 on random C, for every transpose, a batch with padded strides and views, a failure
 * before anything was written, and two providers failing in a row (the last one, CLBlast, then
 * computes the rest). A forced provider gets no fallback. */
static void fallback(clippo_rt *rt, void *user) {
  const char *dir = user;
  clippo_error err;
  char path[512], last[1024];
  snprintf(path, sizeof path, "%s/fallback.txt", dir);
  /* the kernel provider for the small classes, in slices of depth 16 */
  write_text(path, "mat_nn_s kernel kernel=4x4x2/8x1/16\nbat_nn_s kernel kernel=4x4x2/8x1/16\n");
  snprintf(rt->settings.gemm_record, sizeof rt->settings.gemm_record, "%s", path);
  rt->settings.gemm[0] = '\0';
  clippo_gemm_choice ch;
  TEST_OK(clippo_gemm_choose(rt, 0, 0, 37, 29, 70, 1, &ch, &err), &err);
  assert_int_equal(ch.provider, CLIPPO_GEMM_KERNEL);
  assert_int_equal(ch.kernel.kc, 16);
  const gcase cases[] = {
      {0, 0, 37, 29, 70, 1, 0, 0, 0, 0, 0, 0.5f, 0.7f, 0, 0},
      {1, 0, 37, 29, 70, 1, 3, 2, 1, 0, 5, 1.0f, -1.5f, 0, 0},
      {0, 1, 37, 29, 70, 1, 0, 4, 2, 0, 3, 1.0f, 1.0f, 0, 0},
      {1, 1, 20, 33, 50, 3, 2, 1, 3, 11, 7, 0.75f, 0.25f, 0, 0},
      {0, 0, 20, 33, 50, 2, 1, 1, 1, 4, 2, 1.0f, 2.0f, 0, 1},
  };
  const int launches[] = {0, 1, 3};
  unsigned long before = clippo_gemm_fallback_count(rt, NULL, 0);
  unsigned long expect = before;
  for (size_t li = 0; li < sizeof launches / sizeof launches[0]; li++) {
    TEST_OK(clippo_gemm_inject_failure(rt, CLIPPO_GEMM_KERNEL, launches[li], &err), &err);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
      run_case(rt, CLIPPO_GEMM_AUTO, NULL, &cases[i], 900 + 10 * li + i);
      expect++;
      assert_int_equal(clippo_gemm_fallback_count(rt, last, sizeof last), expect);
      assert_non_null(strstr(last, launches[li] ? "kernel failed part-way" : "kernel failed"));
      assert_non_null(strstr(last, "injected"));
    }
  }
  print_message("[ fallback ] %s\n", last);
  /* the kernel fails after two slices, the host BLAS and oneDNN (where there are) at once:
   * CLBlast computes the rest */
  TEST_OK(clippo_gemm_inject_failure(rt, CLIPPO_GEMM_KERNEL, 2, &err), &err);
  TEST_OK(clippo_gemm_inject_failure(rt, CLIPPO_GEMM_HOSTBLAS, 0, &err), &err);
  TEST_OK(clippo_gemm_inject_failure(rt, CLIPPO_GEMM_ONEDNN, 0, &err), &err);
  run_case(rt, CLIPPO_GEMM_AUTO, NULL, &cases[1], 990);
  assert_int_equal(clippo_gemm_fallback_count(rt, last, sizeof last), ++expect);
  assert_non_null(strstr(last, "clblast computed the rest"));
  /* forced: the failure is returned as it is, nothing falls back */
  snprintf(rt->settings.gemm, sizeof rt->settings.gemm, "kernel");
  clippo_tensor a, c;
  int64_t sh[1] = {(int64_t)37 * 70};
  TEST_OK(clippo_tensor_alloc(rt, &a, CLIPPO_F32, 1, sh, &err), &err);
  TEST_OK(clippo_tensor_alloc(rt, &c, CLIPPO_F32, 1, sh, &err), &err);
  assert_int_equal(clippo_gemm(rt, 0, 0, 37, 37, 70, 1.0f, &a, 70, &a, 37, 0.0f, &c, 37, &err),
                   CLIPPO_E_DEVICE);
  assert_non_null(strstr(err.msg, "injected"));
  assert_int_equal(clippo_gemm_fallback_count(rt, NULL, 0), expect);
  /* hook off: the kernel provider runs the product itself */
  TEST_OK(clippo_gemm_inject_failure(rt, CLIPPO_GEMM_AUTO, 0, &err), &err);
  rt->settings.gemm[0] = '\0';
  run_case(rt, CLIPPO_GEMM_AUTO, NULL, &cases[3], 995);
  assert_int_equal(clippo_gemm_fallback_count(rt, NULL, 0), expect);
  clippo_tensor_release(rt, &a);
  clippo_tensor_release(rt, &c);
  unlink(path);
}

static void test_fallback(void **state) {
  (void)state;
  char *dir = test_tmpdir();
  assert_non_null(dir);
  test_each_device(fallback, dir);
  rmdir(dir);
  free(dir);
}

/* A small tuning run (no CLBlast: it compiles for seconds on CPU devices) writes a record that
 * the choice then follows. */
static void tune(clippo_rt *rt, void *user) {
  const char *dir = user;
  clippo_error err;
  char path[512];
  snprintf(path, sizeof path, "%s/tuned.txt", dir);
  unlink(path);
  snprintf(rt->settings.gemm_record, sizeof rt->settings.gemm_record, "%s", path);
  rt->settings.gemm[0] = '\0';
  const clippo_gemm_shape shapes[] = {
      {"mlp", 0, 0, 64, 96, 48, 1, 1},
      {"mlp_dx", 0, 1, 64, 48, 96, 1, 0},
      {"attn_qk", 0, 1, 20, 20, 8, 4, 0},
  };
  clippo_gemm_tune_opts o;
  memset(&o, 0, sizeof o);
  o.shapes = shapes;
  o.nshapes = 3;
  o.providers = (1u << CLIPPO_GEMM_HOSTBLAS) | (1u << CLIPPO_GEMM_KERNEL);
  o.reps = 1;
  o.kernel_cfgs = 2;
  clippo_gemm_tune_report rep;
  TEST_OK(clippo_gemm_tune(rt, &o, &rep, &err), &err);
  assert_int_equal(rep.nrows, 3);
  assert_int_equal(rep.nclasses, 3);
  assert_string_equal(rep.record_path, path);
  if (rep.failures[0]) print_message("[   tune   ] %s", rep.failures);
  for (size_t i = 0; i < rep.nrows; i++) {
    /* the kernel is measured, or dropped after the probe (rusticl compiles it badly) */
    assert_true(rep.rows[i].gflops[CLIPPO_GEMM_KERNEL] > 0 ||
                (rep.rows[i].gflops[CLIPPO_GEMM_KERNEL] < 0 && strstr(rep.failures, "probe")));
    assert_true(rep.rows[i].gflops[CLIPPO_GEMM_CLBLAST] == 0);
    print_message("[   tune   ] %-8s %s hostblas %.1f kernel %.1f GFLOP/s\n",
                  rep.rows[i].shape.name, rep.rows[i].shape_class,
                  rep.rows[i].gflops[CLIPPO_GEMM_HOSTBLAS], rep.rows[i].gflops[CLIPPO_GEMM_KERNEL]);
  }
  for (size_t i = 0; i < rep.nclasses; i++) {
    clippo_gemm_choice ch;
    const clippo_gemm_class_choice *cc = &rep.classes[i];
    const clippo_gemm_shape *s = &rep.rows[i].shape;
    assert_string_equal(cc->shape_class, rep.rows[i].shape_class);
    TEST_OK(clippo_gemm_choose(rt, s->trans_a, s->trans_b, s->m, s->n, s->k, s->batch, &ch, &err),
            &err);
    assert_int_equal(ch.provider, cc->provider);
    assert_string_equal(ch.source, "record");
    assert_int_equal(ch.kernel.tm, cc->kernel.tm);
    assert_true(cc->provider == CLIPPO_GEMM_HOSTBLAS || cc->provider == CLIPPO_GEMM_KERNEL);
  }
  clippo_gemm_tune_report_free(&rep);
  unlink(path);
}

static void test_tune(void **state) {
  (void)state;
  char *dir = test_tmpdir();
  assert_non_null(dir);
  test_each_device(tune, dir);
  rmdir(dir);
  free(dir);
}

static void test_names(void **state) {
  (void)state;
  clippo_error err;
  clippo_gemm_provider p;
  TEST_OK(clippo_gemm_provider_parse("HostBLAS", &p, &err), &err);
  assert_int_equal(p, CLIPPO_GEMM_HOSTBLAS);
  assert_string_equal(clippo_gemm_provider_name(CLIPPO_GEMM_CLBLAST), "clblast");
  assert_int_equal(clippo_gemm_provider_parse("cublas", &p, &err), CLIPPO_E_ARG);
  char cls[CLIPPO_GEMM_CLASS_LEN];
  clippo_gemm_shape_class(1, 0, 768, 3072, 1568, 1, cls);
  assert_string_equal(cls, "mat_tn_l");
  clippo_gemm_shape_class(0, 1, 1, 196, 64, 96, cls);
  assert_string_equal(cls, "bat_nt_s");
  clippo_gemm_kernel_cfg kc;
  char text[64];
  TEST_OK(clippo_gemm_kernel_cfg_parse("6x8x2/4x2/300", &kc, &err), &err);
  clippo_gemm_kernel_cfg_format(&kc, text, sizeof text);
  assert_string_equal(text, "6x8x2/4x2/300");
  TEST_OK(clippo_gemm_kernel_cfg_parse("4x16x1/8x1", &kc, &err), &err);
  assert_true(kc.vw == 16 && kc.kc > 0);
  assert_int_equal(clippo_gemm_kernel_cfg_parse("4x3x1/8x1", &kc, &err), CLIPPO_E_ARG);
  assert_int_equal(clippo_gemm_kernel_cfg_parse("4x8x1/8x1/", &kc, &err), CLIPPO_E_ARG);
  assert_int_equal(clippo_gemm_kernel_cfg_parse("4x8x1/64x64", &kc, &err), CLIPPO_E_ARG);
  clippo_gemm_shape vit[32];
  size_t n = clippo_gemm_vit_b16_shapes(8, vit, 32);
  assert_true(n > 8 && n <= 32);
  assert_int_equal(vit[0].m, 1568);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_ref),
      cmocka_unit_test(test_names),
      cmocka_unit_test(test_validation),
      cmocka_unit_test(test_providers_small),
      cmocka_unit_test(test_providers_batched),
      cmocka_unit_test(test_providers_medium),
      cmocka_unit_test(test_kernel_edges),
      cmocka_unit_test(test_choice),
      cmocka_unit_test(test_fallback),
      cmocka_unit_test(test_tune),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
