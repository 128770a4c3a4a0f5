/* float16 storage (kernels/convert.cl) and the reduced-precision GEMM path (host/gemm/precision.c)
 * on every device, on random data. Tolerances: to_half bit-exact against the C rounding
 * (clippo_float_to_half); from_half 1e-7 relative (one rounding of v + beta * dst); GEMMs in
 * fp16-emulated 1e-3 relative against a float64 product of the float16-rounded operands (the
 * float16 product is within 2^-11 of it); fp16 (Hgemm, half accumulation, only on devices with
 * cl_khr_fp16) 2e-2. */
#include "test_op_common.h"

#include "clippo/gemm.h"

static clippo_tensor half_tensor(clippo_rt *rt, size_t n) {
  clippo_error err;
  clippo_tensor t;
  int64_t shape[1] = {(int64_t)n};
  TEST_OK(clippo_tensor_alloc(rt, &t, CLIPPO_F16, 1, shape, &err), &err);
  return t;
}

static void check_to_half(clippo_rt *rt, void *user) {
  (void)user;
  clippo_error err;
  test_rng rng;
  test_rng_seed(&rng, 71);
  size_t n = 4099;
  float *x = op_normal(&rng, n, 0.0f, 1.0f);
  /* magnitudes from subnormal half to overflow, exact ties, signed zero */
  for (size_t i = 0; i < n; i += 3) x[i] *= ldexpf(1.0f, (int)(i % 46) - 28);
  const float special[] = {65504.0f,      65520.0f,      65519.99f,          -70000.0f,
                           5.9604645e-8f, 2.9802322e-8f, 1.0f + 1.0f / 2048, 1.0f + 3.0f / 2048,
                           -0.0f,         6.1035156e-5f};
  memcpy(x, special, sizeof special);
  clippo_tensor tx = op_tensor1(rt, x, n), th = half_tensor(rt, n);
  TEST_OK(clippo_tensor_to_half(rt, &tx, &th, &err), &err);
  uint16_t *got = malloc(n * sizeof *got);
  assert_non_null(got);
  TEST_OK(clippo_tensor_read(rt, &th, got, &err), &err);
  size_t bad = 0;
  for (size_t i = 0; i < n; i++) {
    uint16_t want = clippo_float_to_half(x[i]);
    if (got[i] != want && bad++ < 5)
      print_message("to_half(%.9g) = 0x%04x, want 0x%04x\n", (double)x[i], got[i], want);
  }
  assert_int_equal(bad, 0);
  /* a float32 destination is refused with the tensor named */
  clippo_tensor wrong = op_tensor1(rt, NULL, n);
  assert_int_equal(clippo_tensor_to_half(rt, &tx, &wrong, &err), CLIPPO_E_SHAPE);
  assert_non_null(strstr(err.msg, "'dst'"));
  clippo_tensor_release(rt, &wrong);
  clippo_tensor_release(rt, &tx);
  clippo_tensor_release(rt, &th);
  free(x), free(got);
}

static void check_from_half(clippo_rt *rt, void *user) {
  (void)user;
  clippo_error err;
  test_rng rng;
  test_rng_seed(&rng, 72);
  const size_t batch = 3, rows = 7, cols = 13, ld = 17, stride = 7 * 17 + 5;
  const size_t n = batch * rows * cols, dn = (batch - 1) * stride + (rows - 1) * ld + cols + 4;
  float *src = op_normal(&rng, n, 0.0f, 2.0f);
  uint16_t *h = malloc(n * sizeof *h);
  assert_non_null(h);
  for (size_t i = 0; i < n; i++) h[i] = clippo_float_to_half(src[i]);
  clippo_tensor th = half_tensor(rt, n);
  TEST_OK(clippo_tensor_write(rt, &th, h, &err), &err);
  const float betas[2] = {0.0f, -0.75f};
  for (int bi = 0; bi < 2; bi++) {
    float *dst = op_normal(&rng, dn, 1.0f, 1.0f);
    if (bi == 0)
      for (size_t i = 0; i < dn; i += 7) dst[i] = NAN; /* beta 0 must not read dst */
    clippo_tensor td = op_tensor1(rt, dst, dn);
    TEST_OK(clippo_tensor_from_half(rt, &th, batch, rows, cols, betas[bi], &td, ld, stride, &err),
            &err);
    float *got = op_read(rt, &td);
    double *want = op_doubles(dn);
    int *inside = calloc(dn, sizeof *inside);
    assert_non_null(inside);
    for (size_t i = 0; i < dn; i++) want[i] = dst[i];
    for (size_t b = 0; b < batch; b++)
      for (size_t r = 0; r < rows; r++)
        for (size_t c = 0; c < cols; c++) {
          size_t d = b * stride + r * ld + c;
          double v = clippo_half_to_float(h[(b * rows + r) * cols + c]);
          want[d] = betas[bi] == 0.0f ? v : v + (double)betas[bi] * dst[d];
          inside[d] = 1;
        }
    size_t m = 0;
    for (size_t i = 0; i < dn; i++) {
      if (!inside[i]) { /* the gaps keep their values, bit for bit */
        assert_memory_equal(&got[i], &dst[i], sizeof(float));
      } else {
        got[m] = got[i];
        want[m++] = want[i];
      }
    }
    op_expect(bi ? "from_half beta -0.75" : "from_half beta 0", got, want, m, 1e-7);
    clippo_tensor_release(rt, &td);
    free(dst), free(got), free(want), free(inside);
  }
  /* a stride smaller than a matrix is refused */
  clippo_tensor td = op_tensor1(rt, NULL, dn);
  assert_int_equal(clippo_tensor_from_half(rt, &th, batch, rows, cols, 0.0f, &td, ld, 10, &err),
                   CLIPPO_E_ARG);
  assert_int_equal(clippo_tensor_from_half(rt, &th, batch, rows, cols, 0.0f, &td, 5, stride, &err),
                   CLIPPO_E_ARG);
  clippo_tensor_release(rt, &td);
  clippo_tensor_release(rt, &th);
  free(src), free(h);
}

static float round_half(float x) { return clippo_half_to_float(clippo_float_to_half(x)); }

/* One batched GEMM in the runtime's current precision against float64 references: `rounded`
 * multiplies the float16-rounded operands, `exact` the float32 ones. Returns the relative L2
 * error against `exact` after checking the one against `rounded` with tol. */
static double gemm_case(clippo_rt *rt, int ta, int tb, size_t m, size_t n, size_t k, size_t batch,
                        float alpha, float beta, double tol, test_rng *rng) {
  clippo_error err;
  const size_t ar = ta ? k : m, ac = ta ? m : k, br = tb ? n : k, bc = tb ? k : n;
  const size_t lda = ac + 3, ldb = bc + 1, ldc = n + 2;
  const size_t sa = ar * lda + 5, sb = br * ldb, sc = m * ldc + 3;
  const size_t na = batch * sa, nb = batch * sb, nc = batch * sc;
  float *a = op_normal(rng, na, 0.0f, 1.0f), *b = op_normal(rng, nb, 0.0f, 1.0f);
  float *c = op_normal(rng, nc, 0.0f, 1.0f);
  double *want = op_doubles(batch * m * n), *exact = op_doubles(batch * m * n);
  for (size_t q = 0; q < batch; q++)
    for (size_t i = 0; i < m; i++)
      for (size_t j = 0; j < n; j++) {
        double s = 0, e = 0;
        for (size_t l = 0; l < k; l++) {
          float av = ta ? a[q * sa + l * lda + i] : a[q * sa + i * lda + l];
          float bv = tb ? b[q * sb + j * ldb + l] : b[q * sb + l * ldb + j];
          s += (double)round_half(av) * round_half(bv);
          e += (double)av * bv;
        }
        double cv = c[q * sc + i * ldc + j];
        want[(q * m + i) * n + j] = alpha * s + beta * cv;
        exact[(q * m + i) * n + j] = alpha * e + beta * cv;
      }
  clippo_tensor tA = op_tensor1(rt, a, na), tB = op_tensor1(rt, b, nb), tC = op_tensor1(rt, c, nc);
  TEST_OK(clippo_gemm_batched(rt, ta, tb, m, n, k, alpha, &tA, lda, sa, &tB, ldb, sb, beta, &tC,
                              ldc, sc, batch, &err),
          &err);
  float *got = op_read(rt, &tC);
  float *packed = malloc(batch * m * n * sizeof *packed);
  assert_non_null(packed);
  for (size_t q = 0; q < batch; q++)
    for (size_t i = 0; i < m; i++) {
      memcpy(packed + (q * m + i) * n, got + q * sc + i * ldc, n * sizeof *packed);
      /* the padding between rows and matrices is untouched */
      for (size_t j = n; j < ldc && (q * sc + i * ldc + j) < nc; j++)
        assert_memory_equal(&got[q * sc + i * ldc + j], &c[q * sc + i * ldc + j], sizeof(float));
    }
  char what[96];
  snprintf(what, sizeof what, "%s gemm %c%c %zux%zux%zu b%zu", clippo_precision_name(rt->precision),
           ta ? 't' : 'n', tb ? 't' : 'n', m, n, k, batch);
  op_expect(what, packed, want, batch * m * n, tol);
  double rel = test_rel_err_f32_f64(packed, exact, batch * m * n);
  clippo_tensor_release(rt, &tA);
  clippo_tensor_release(rt, &tB);
  clippo_tensor_release(rt, &tC);
  free(a), free(b), free(c), free(want), free(exact), free(got), free(packed);
  return rel;
}

static void gemm_cases(clippo_rt *rt, double tol) {
  test_rng rng;
  test_rng_seed(&rng, 73);
  double worst_exact = 0;
  const size_t cases[][7] = {{0, 0, 37, 29, 300, 1, 0},
                             {0, 1, 16, 33, 64, 3, 1},
                             {1, 0, 9, 40, 19, 2, 1},
                             {1, 1, 5, 7, 130, 1, 0},
                             {0, 0, 1, 64, 257, 1, 1}};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    const size_t *q = cases[i];
    double r = gemm_case(rt, (int)q[0], (int)q[1], q[2], q[3], q[4], q[5], q[6] ? 0.125f : 1.0f,
                         q[6] ? 0.5f : 0.0f, tol, &rng);
    if (r > worst_exact) worst_exact = r;
  }
  /* the rounding really happens: far from the float32 product */
  print_message("%s: largest rel. error against the float32 product %.3g\n",
                clippo_precision_name(rt->precision), worst_exact);
  assert_true(worst_exact > 1e-4);
}

static void check_gemm_reduced(clippo_rt *rt, void *user) {
  (void)user;
  clippo_error err;
  TEST_OK(clippo_rt_set_precision(rt, CLIPPO_PRECISION_FP16_EMULATED, &err), &err);
  gemm_cases(rt, 1e-3);
  if (rt->info.fp16) {
    TEST_OK(clippo_rt_set_precision(rt, CLIPPO_PRECISION_FP16, &err), &err);
    gemm_cases(rt, 2e-2);
  } else {
    assert_int_equal(clippo_rt_set_precision(rt, CLIPPO_PRECISION_FP16, &err),
                     CLIPPO_E_UNSUPPORTED);
    assert_non_null(strstr(err.msg, rt->info.name));
    assert_non_null(strstr(err.msg, "cl_khr_fp16"));
    print_message("device '%s' lacks cl_khr_fp16: the Hgemm path is not run here\n", rt->info.name);
  }
  TEST_OK(clippo_rt_set_precision(rt, CLIPPO_PRECISION_FP32, &err), &err);
  assert_int_equal(rt->precision, CLIPPO_PRECISION_FP32);
}

static void test_to_half(void **state) {
  (void)state;
  test_each_device(check_to_half, NULL);
}
static void test_from_half(void **state) {
  (void)state;
  test_each_device(check_from_half, NULL);
}
static void test_gemm_reduced(void **state) {
  (void)state;
  test_each_device(check_gemm_reduced, NULL);
}

static void test_precision_names(void **state) {
  (void)state;
  clippo_error err;
  clippo_precision p;
  for (int i = 0; i < 3; i++) {
    TEST_OK(clippo_precision_parse(clippo_precision_name((clippo_precision)i), &p, &err), &err);
    assert_int_equal(p, i);
  }
  assert_int_equal(clippo_precision_parse("fp8", &p, &err), CLIPPO_E_ARG);
  assert_non_null(strstr(err.msg, "fp8"));
  /* a bad CLIPPO_PRECISION makes opening a device fail with the variable named */
  setenv("CLIPPO_PRECISION", "double", 1);
  clippo_rt *rt = NULL;
  assert_int_not_equal(clippo_rt_create(&rt, NULL, &err), CLIPPO_OK);
  assert_null(rt);
  assert_non_null(strstr(err.msg, "CLIPPO_PRECISION"));
  unsetenv("CLIPPO_PRECISION");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_to_half),
      cmocka_unit_test(test_from_half),
      cmocka_unit_test(test_gemm_reduced),
      cmocka_unit_test(test_precision_names),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
