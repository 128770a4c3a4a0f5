/* LayerNorm backward (kernels/layernorm_grad.cl).
 * 1. The float64 reference backward against central finite differences of the float64 reference
 *    forward (clippo_ref_layernorm) on random data: relative L2 error <= 1e-6.
 * 2. The kernels (both variants, every device) against the reference backward: dx, dscale and
 *    dbias within 1e-5 relative (L2 and max), with row counts that take the one-pass and the
 *    two-stage column reductions (up to 20000 rows), odd widths, accumulation and views. */
#include "test_op_common.h"

#include "clippo/ops_grad.h"

#define FD_TOL 1e-6
#define LNG_TOL 1e-5

/* ---- finite differences of the reference ---- */

typedef struct ln_fd {
  float *x, *scale, *bias, *dy;
  size_t rows, w;
  double *y;
} ln_fd;

/* L = sum dy * LN(x) */
static double ln_loss(ln_fd *c) {
  clippo_ref_layernorm(c->x, c->scale, c->bias, c->rows, c->w, 1e-6, c->y);
  double l = 0;
  for (size_t i = 0; i < c->rows * c->w; i++) l += (double)c->dy[i] * c->y[i];
  return l;
}

static double fd_at(ln_fd *c, float *p) {
  float p0 = *p, h = 1e-3f * (fabsf(p0) > 1.0f ? fabsf(p0) : 1.0f);
  float pp = p0 + h, pm = p0 - h;
  *p = pp;
  double lp = ln_loss(c);
  *p = pm;
  double lm = ln_loss(c);
  *p = p0;
  return (lp - lm) / ((double)pp - (double)pm);
}

static double rel_l2(const double *a, const double *b, size_t n) {
  double num = 0, den = 0;
  for (size_t i = 0; i < n; i++) {
    num += (a[i] - b[i]) * (a[i] - b[i]);
    den += b[i] * b[i];
  }
  return den > 0 ? sqrt(num / den) : sqrt(num);
}

static void test_reference_fd(void **state) {
  (void)state;
  test_rng rng;
  test_rng_seed(&rng, 31);
  const size_t shapes[3][2] = {{3, 7}, {4, 16}, {2, 33}};
  for (int si = 0; si < 3; si++) {
    size_t rows = shapes[si][0], w = shapes[si][1], n = rows * w;
    ln_fd c = {op_normal(&rng, n, 0.5f, 2.0f),
               op_uniform(&rng, w, 0.5f, 1.5f),
               op_uniform(&rng, w, -0.5f, 0.5f),
               op_uniform(&rng, n, -1.0f, 1.0f),
               rows,
               w,
               op_doubles(n)};
    double *dx = op_doubles(n), *ds = op_doubles(w), *db = op_doubles(w);
    double *fdx = op_doubles(n), *fds = op_doubles(w), *fdb = op_doubles(w);
    clippo_ref_layernorm_grad(c.dy, c.x, c.scale, rows, w, 1e-6, dx, ds, db);
    for (size_t i = 0; i < n; i++) fdx[i] = fd_at(&c, &c.x[i]);
    for (size_t i = 0; i < w; i++) fds[i] = fd_at(&c, &c.scale[i]);
    for (size_t i = 0; i < w; i++) fdb[i] = fd_at(&c, &c.bias[i]);
    double ex = rel_l2(dx, fdx, n), es = rel_l2(ds, fds, w), eb = rel_l2(db, fdb, w);
    print_message("reference vs finite differences %zux%zu: dx %.3g dscale %.3g dbias %.3g "
                  "(tol %.0g)\n",
                  rows, w, ex, es, eb, FD_TOL);
    assert_true(ex <= FD_TOL && es <= FD_TOL && eb <= FD_TOL);
    free(c.x), free(c.scale), free(c.bias), free(c.dy), free(c.y);
    free(dx), free(ds), free(db), free(fdx), free(fds), free(fdb);
  }
}

/* ---- kernels against the reference ---- */

typedef struct lng_case {
  size_t rows, w;
} lng_case;

static const lng_case cases[] = {{13, 64},  {37, 768},   {5, 100},   {3, 7},
                                 {600, 96}, {1500, 130}, {20000, 64}};

static void check_layernorm_grad(clippo_rt *rt, void *user) {
  (void)user;
  clippo_error err;
  test_rng rng;
  test_rng_seed(&rng, 32);
  for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
    size_t rows = cases[ci].rows, w = cases[ci].w, n = rows * w;
    float *x = op_normal(&rng, n, 0.0f, 1.0f);
    for (size_t r = 0; r < rows; r++) {
      float off = test_rng_uniform(&rng, -4.0f, 4.0f), sd = test_rng_uniform(&rng, 0.5f, 3.0f);
      for (size_t c = 0; c < w; c++) x[r * w + c] = off + sd * x[r * w + c];
    }
    float *dy = op_normal(&rng, n, 0.1f, 1.0f), *scale = op_uniform(&rng, w, 0.5f, 1.5f);
    float *dx0 = op_uniform(&rng, n, -1.0f, 1.0f), *g0 = op_uniform(&rng, 2 * w, -1.0f, 1.0f);
    double *dx = op_doubles(n), *ds = op_doubles(w), *db = op_doubles(w);
    clippo_ref_layernorm_grad(dy, x, scale, rows, w, 1e-6, dx, ds, db);
    clippo_tensor tx = op_tensor2(rt, x, rows, w), tdy = op_tensor2(rt, dy, rows, w);
    clippo_tensor ts = op_tensor1(rt, scale, w), tdx = op_tensor2(rt, dx0, rows, w);
    clippo_tensor tds = op_tensor1(rt, g0, w), tdb = op_tensor1(rt, g0 + w, w);
    int64_t wshape[1] = {(int64_t)clippo_layernorm_grad_workspace_floats(rows, w)};
    clippo_tensor tws = op_tensor(rt, NULL, 1, wshape);
    /* overwrite dx with the workspace given; accumulate dscale, dbias */
    TEST_OK(clippo_op_layernorm_grad(rt, &tdy, &tx, &ts, 1e-6f, &tdx, 0, &tds, &tdb, &tws, &err),
            &err);
    float *gdx = op_read(rt, &tdx), *gds = op_read(rt, &tds), *gdb = op_read(rt, &tdb);
    double *wds = op_doubles(w), *wdb = op_doubles(w);
    for (size_t i = 0; i < w; i++) wds[i] = ds[i] + g0[i], wdb[i] = db[i] + g0[w + i];
    char what[96];
    snprintf(what, sizeof what, "layernorm_grad dx %zux%zu", rows, w);
    op_expect(what, gdx, dx, n, LNG_TOL);
    snprintf(what, sizeof what, "layernorm_grad dscale += %zux%zu", rows, w);
    op_expect(what, gds, wds, w, LNG_TOL);
    snprintf(what, sizeof what, "layernorm_grad dbias += %zux%zu", rows, w);
    op_expect(what, gdb, wdb, w, LNG_TOL);
    free(gdx), free(gds), free(gdb);
    /* accumulate into dx (which now holds dx): 2 dx; no workspace, bias gradient only */
    TEST_OK(clippo_op_layernorm_grad(rt, &tdy, &tx, &ts, 1e-6f, &tdx, 1, NULL, &tdb, NULL, &err),
            &err);
    gdx = op_read(rt, &tdx);
    gdb = op_read(rt, &tdb);
    for (size_t i = 0; i < n; i++) dx[i] *= 2.0;
    for (size_t i = 0; i < w; i++) wdb[i] += db[i];
    snprintf(what, sizeof what, "layernorm_grad dx += %zux%zu", rows, w);
    op_expect(what, gdx, dx, n, LNG_TOL);
    snprintf(what, sizeof what, "layernorm_grad dbias only %zux%zu", rows, w);
    op_expect(what, gdb, wdb, w, LNG_TOL);
    free(gdx), free(gdb);
    clippo_tensor *all[] = {&tx, &tdy, &ts, &tdx, &tds, &tdb, &tws};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) clippo_tensor_release(rt, all[i]);
    free(x), free(dy), free(scale), free(dx0), free(g0), free(dx), free(ds), free(db), free(wds),
        free(wdb);
  }
}

/* Views at odd offsets and the argument checks. */
static void check_view_and_errors(clippo_rt *rt, void *user) {
  (void)user;
  clippo_error err;
  test_rng rng;
  test_rng_seed(&rng, 33);
  size_t rows = 9, w = 50, n = rows * w, off = 3;
  float *buf = op_normal(&rng, 3 * n + off, 0.2f, 1.5f), *scale = op_uniform(&rng, w, 0.5f, 1.5f);
  double *dx = op_doubles(n), *ds = op_doubles(w), *db = op_doubles(w);
  clippo_ref_layernorm_grad(buf + off + n, buf + off, scale, rows, w, 1e-6, dx, ds, db);
  clippo_tensor whole = op_tensor1(rt, buf, 3 * n + off);
  int64_t shape[2] = {(int64_t)rows, (int64_t)w};
  clippo_tensor vx = clippo_tensor_view(&whole, off, 2, shape);
  clippo_tensor vdy = clippo_tensor_view(&whole, off + n, 2, shape);
  clippo_tensor vdx = clippo_tensor_view(&whole, off + 2 * n, 2, shape);
  clippo_tensor ts = op_tensor1(rt, scale, w), tg = op_tensor1(rt, NULL, 2 * w);
  TEST_OK(clippo_tensor_fill(rt, &tg, 0.0f, &err), &err);
  int64_t wshape[1] = {(int64_t)w};
  clippo_tensor vds = clippo_tensor_view(&tg, 0, 1, wshape),
                vdb = clippo_tensor_view(&tg, w, 1, wshape);
  TEST_OK(clippo_op_layernorm_grad(rt, &vdy, &vx, &ts, 1e-6f, &vdx, 0, &vds, &vdb, NULL, &err),
          &err);
  float *got = op_read(rt, &whole), *gg = op_read(rt, &tg);
  op_expect("layernorm_grad views dx", got + off + 2 * n, dx, n, LNG_TOL);
  op_expect("layernorm_grad views dscale", gg, ds, w, LNG_TOL);
  op_expect("layernorm_grad views dbias", gg + w, db, w, LNG_TOL);
  assert_true(got[0] == buf[0]);
  /* dx overlapping dy is refused; a wrong scale shape is named */
  assert_int_equal(
      clippo_op_layernorm_grad(rt, &vdy, &vx, &ts, 1e-6f, &vdy, 0, NULL, NULL, NULL, &err),
      CLIPPO_E_ARG);
  clippo_tensor bad = op_tensor1(rt, NULL, w - 1);
  assert_int_equal(
      clippo_op_layernorm_grad(rt, &vdy, &vx, &bad, 1e-6f, &vdx, 0, NULL, NULL, NULL, &err),
      CLIPPO_E_SHAPE);
  assert_non_null(strstr(err.msg, "scale"));
  clippo_tensor_release(rt, &bad);
  clippo_tensor_release(rt, &whole);
  clippo_tensor_release(rt, &ts);
  clippo_tensor_release(rt, &tg);
  free(got), free(gg), free(buf), free(scale), free(dx), free(ds), free(db);
}

static void run_grad(clippo_rt *rt, void *u) { op_each_variant(rt, check_layernorm_grad, u); }
static void run_view(clippo_rt *rt, void *u) { op_each_variant(rt, check_view_and_errors, u); }

static void test_layernorm_grad(void **state) {
  (void)state;
  test_each_device(run_grad, NULL);
}
static void test_layernorm_grad_views(void **state) {
  (void)state;
  test_each_device(run_view, NULL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_reference_fd),
      cmocka_unit_test(test_layernorm_grad),
      cmocka_unit_test(test_layernorm_grad_views),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
