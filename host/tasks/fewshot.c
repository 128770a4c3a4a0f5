/* big_vision's few-shot linear probe (evaluators/fewshot_lsr.py) in float64: the per-class
 * draws, the eigen-decomposition cache (_precompute_cache) and the accuracy for any l2
 * (_eig_fewshot_acc_fn). Matrix products through CBLAS, the symmetric eigen-decomposition
 * through LAPACKE_dsyevd. */
#include <cblas.h>
#include <lapacke.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "clippo/fewshot.h"

/* Test rows whitened and multiplied at a time. */
#define TEST_CHUNK 1024

void clippo_fewshot_draw_free(clippo_fewshot_draw *d) {
  if (!d) return;
  free(d->order);
  free(d->start);
  free(d->count);
  memset(d, 0, sizeof *d);
}

clippo_status clippo_fewshot_draw_make(const size_t *labels, size_t n, size_t classes,
                                       uint64_t seed, clippo_fewshot_draw *out, clippo_error *err) {
  memset(out, 0, sizeof *out);
  if (classes == 0) return clippo_fail(err, CLIPPO_E_ARG, "few-shot draw: no classes");
  for (size_t i = 0; i < n; i++)
    if (labels[i] >= classes)
      return clippo_fail(err, CLIPPO_E_ARG, "training example %zu has label %zu, not below %zu", i,
                         labels[i], classes);
  out->classes = classes;
  out->order = malloc((n ? n : 1) * sizeof *out->order);
  out->start = calloc(classes, sizeof *out->start);
  out->count = calloc(classes, sizeof *out->count);
  if (!out->order || !out->start || !out->count) {
    clippo_fewshot_draw_free(out);
    return clippo_fail(err, CLIPPO_E_NOMEM, "out of host memory");
  }
  /* np.where(labels == c)[0] for every c: a stable counting sort */
  for (size_t i = 0; i < n; i++) out->count[labels[i]]++;
  for (size_t c = 1; c < classes; c++) out->start[c] = out->start[c - 1] + out->count[c - 1];
  size_t *fill = calloc(classes, sizeof *fill);
  if (!fill) {
    clippo_fewshot_draw_free(out);
    return clippo_fail(err, CLIPPO_E_NOMEM, "out of host memory");
  }
  for (size_t i = 0; i < n; i++) out->order[out->start[labels[i]] + fill[labels[i]]++] = i;
  free(fill);
  /* rng = np.random.default_rng(seed); [rng.permutation(idx_c) for c in range(classes)] */
  clippo_np_rng rng;
  clippo_np_rng_seed(&rng, seed);
  for (size_t c = 0; c < classes; c++)
    clippo_np_rng_shuffle(&rng, out->order + out->start[c], out->count[c]);
  return CLIPPO_OK;
}

void clippo_lsr_free(clippo_lsr *c) {
  if (!c) return;
  free(c->mean);
  free(c->std);
  free(c->eigs);
  free(c->lhs);
  free(c->rhs);
  memset(c, 0, sizeof *c);
}

/* Whitens row x (dim floats) into dst (dim + 1 doubles) with the bias feature last. */
static void whiten_row(const clippo_lsr *c, const float *x, double *dst) {
  for (size_t j = 0; j < c->dim; j++) dst[j] = ((double)x[j] - c->mean[j]) / c->std[j];
  dst[c->dim] = CLIPPO_LSR_BIAS;
}

/* Whitening statistics of the training rows: mean and population std (+ eps). */
static void whitening_stats(const float *x, size_t n, size_t dim, double *mean, double *std) {
  for (size_t j = 0; j < dim; j++) mean[j] = 0.0;
  for (size_t i = 0; i < n; i++)
    for (size_t j = 0; j < dim; j++) mean[j] += (double)x[i * dim + j];
  for (size_t j = 0; j < dim; j++) mean[j] /= (double)n;
  for (size_t j = 0; j < dim; j++) std[j] = 0.0;
  for (size_t i = 0; i < n; i++)
    for (size_t j = 0; j < dim; j++) {
      double d = (double)x[i * dim + j] - mean[j];
      std[j] += d * d;
    }
  for (size_t j = 0; j < dim; j++) std[j] = sqrt(std[j] / (double)n) + CLIPPO_LSR_STD_EPS;
}

/* Symmetric eigen-decomposition in place: a (m, m) row-major, upper triangle filled, becomes
 * the eigenvectors (columns); eigs ascending. */
static clippo_status eigh(double *a, size_t m, double *eigs, clippo_error *err) {
  lapack_int info =
      LAPACKE_dsyevd(LAPACK_ROW_MAJOR, 'V', 'U', (lapack_int)m, a, (lapack_int)m, eigs);
  if (info != 0)
    return clippo_fail(err, CLIPPO_E_NUMERIC,
                       "few-shot solver: LAPACK dsyevd failed on a %zux%zu matrix (info %d)", m, m,
                       (int)info);
  return CLIPPO_OK;
}

clippo_status clippo_lsr_fit(const float *x, const size_t *y, size_t n, size_t dim, size_t classes,
                             clippo_lsr *out, clippo_error *err) {
  memset(out, 0, sizeof *out);
  if (n == 0 || dim == 0 || classes == 0)
    return clippo_fail(err, CLIPPO_E_ARG,
                       "few-shot solver: empty problem (%zu points, %zu "
                       "features, %zu classes)",
                       n, dim, classes);
  if (n > (size_t)INT32_MAX / 2 || dim > (size_t)INT32_MAX / 2)
    return clippo_fail(err, CLIPPO_E_ARG, "few-shot solver: problem too large for LAPACK");
  for (size_t i = 0; i < n; i++) {
    if (y[i] >= classes)
      return clippo_fail(err, CLIPPO_E_ARG,
                         "few-shot solver: label %zu of point %zu is not below "
                         "%zu",
                         y[i], i, classes);
    for (size_t j = 0; j < dim; j++)
      if (!isfinite(x[i * dim + j]))
        return clippo_fail(err, CLIPPO_E_NUMERIC,
                           "few-shot solver: feature %zu of point %zu is not finite", j, i);
  }
  size_t d1 = dim + 1, k = n >= d1 ? d1 : n;
  out->n = n;
  out->dim = dim;
  out->classes = classes;
  out->k = k;
  out->mean = malloc(dim * sizeof *out->mean);
  out->std = malloc(dim * sizeof *out->std);
  out->eigs = malloc(k * sizeof *out->eigs);
  out->lhs = malloc(d1 * k * sizeof *out->lhs);
  out->rhs = malloc(k * classes * sizeof *out->rhs);
  double *xw = malloc(n * d1 * sizeof *xw), *yy = malloc(n * classes * sizeof *yy);
  double *a = malloc(k * k * sizeof *a);
  double *t = malloc(k * classes * sizeof *t);
  clippo_status st = CLIPPO_OK;
  if (!out->mean || !out->std || !out->eigs || !out->lhs || !out->rhs || !xw || !yy || !a || !t)
    st = clippo_fail(err, CLIPPO_E_NOMEM, "out of host memory");
  if (!st) {
    whitening_stats(x, n, dim, out->mean, out->std);
    for (size_t i = 0; i < n; i++) {
      whiten_row(out, x + i * dim, xw + i * d1);
      for (size_t c = 0; c < classes; c++) yy[i * classes + c] = c == y[i] ? 1.0 : -1.0;
    }
    int in = (int)n, id1 = (int)d1, ic = (int)classes, ik = (int)k;
    if (n >= d1) {
      /* (A) eigh(X'X) = Q e Q'; rhs = Q'(X'Y); lhs = Q */
      cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, id1, in, 1.0, xw, id1, 0.0, a, id1);
      st = eigh(a, d1, out->eigs, err);
      if (!st) {
        cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, id1, ic, in, 1.0, xw, id1, yy, ic, 0.0,
                    t, ic);
        cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, ik, ic, id1, 1.0, a, ik, t, ic, 0.0,
                    out->rhs, ic);
        memcpy(out->lhs, a, d1 * k * sizeof *a);
      }
    } else {
      /* (B) eigh(XX') = Q e Q'; rhs = Q'Y; lhs = X'Q */
      cblas_dsyrk(CblasRowMajor, CblasUpper, CblasNoTrans, in, id1, 1.0, xw, id1, 0.0, a, in);
      st = eigh(a, n, out->eigs, err);
      if (!st) {
        cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, ik, ic, in, 1.0, a, ik, yy, ic, 0.0,
                    out->rhs, ic);
        cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, id1, ik, in, 1.0, xw, id1, a, ik, 0.0,
                    out->lhs, ik);
      }
    }
  }
  free(xw);
  free(yy);
  free(a);
  free(t);
  if (st) clippo_lsr_free(out);
  return st;
}

clippo_status clippo_lsr_weights(const clippo_lsr *c, double l2, double *w, clippo_error *err) {
  if (!(l2 > 0.0) || !isfinite(l2))
    return clippo_fail(err, CLIPPO_E_ARG, "few-shot solver: l2 must be positive and finite (%g)",
                       l2);
  size_t d1 = c->dim + 1;
  double *scaled = malloc(d1 * c->k * sizeof *scaled);
  if (!scaled) return clippo_fail(err, CLIPPO_E_NOMEM, "out of host memory");
  /* w = (lhs * 1 / (eigs + l2)) @ rhs */
  for (size_t i = 0; i < d1; i++)
    for (size_t j = 0; j < c->k; j++)
      scaled[i * c->k + j] = c->lhs[i * c->k + j] / (c->eigs[j] + l2);
  cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)d1, (int)c->classes, (int)c->k, 1.0,
              scaled, (int)c->k, c->rhs, (int)c->classes, 0.0, w, (int)c->classes);
  free(scaled);
  return CLIPPO_OK;
}

clippo_status clippo_lsr_accuracy(const clippo_lsr *c, double l2, const float *x_test,
                                  const size_t *y_test, size_t n_test, double *acc,
                                  clippo_error *err) {
  *acc = 0.0;
  size_t d1 = c->dim + 1, nc = c->classes;
  double *w = malloc(d1 * nc * sizeof *w);
  size_t chunk = n_test < TEST_CHUNK ? (n_test ? n_test : 1) : TEST_CHUNK;
  double *xw = malloc(chunk * d1 * sizeof *xw), *s = malloc(chunk * nc * sizeof *s);
  clippo_status st = CLIPPO_OK;
  if (!w || !xw || !s) st = clippo_fail(err, CLIPPO_E_NOMEM, "out of host memory");
  if (!st) st = clippo_lsr_weights(c, l2, w, err);
  size_t right = 0;
  for (size_t i0 = 0; !st && i0 < n_test; i0 += chunk) {
    size_t m = n_test - i0 < chunk ? n_test - i0 : chunk;
    for (size_t i = 0; i < m; i++) whiten_row(c, x_test + (i0 + i) * c->dim, xw + i * d1);
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)m, (int)nc, (int)d1, 1.0, xw,
                (int)d1, w, (int)nc, 0.0, s, (int)nc);
    for (size_t i = 0; i < m; i++) {
      /* jnp.argmax: the first maximum */
      size_t best = 0;
      for (size_t k = 1; k < nc; k++)
        if (s[i * nc + k] > s[i * nc + best]) best = k;
      right += best == y_test[i0 + i];
    }
  }
  if (!st && n_test) *acc = (double)right / (double)n_test;
  free(w);
  free(xw);
  free(s);
  return st;
}

static size_t max_shots(const clippo_fewshot_plan *plan) {
  size_t m = 0;
  for (size_t s = 0; s < plan->nshots; s++)
    if (plan->shots[s] > m) m = plan->shots[s];
  return m;
}

clippo_status clippo_fewshot_check(const size_t *labels, size_t n, size_t classes,
                                   const clippo_fewshot_plan *plan, const char *const *class_names,
                                   clippo_error *err) {
  if (plan->nshots == 0 || plan->seeds == 0 || plan->nl2 == 0)
    return clippo_fail(err, CLIPPO_E_ARG, "few-shot: need at least one shot count, seed and l2");
  for (size_t s = 0; s < plan->nshots; s++)
    if (plan->shots[s] == 0) return clippo_fail(err, CLIPPO_E_ARG, "few-shot: shots must be > 0");
  for (size_t j = 0; j < plan->nl2; j++)
    if (!(plan->l2[j] > 0.0) || !isfinite(plan->l2[j]))
      return clippo_fail(err, CLIPPO_E_ARG, "few-shot: l2 must be positive and finite (%g)",
                         plan->l2[j]);
  if (classes == 0) return clippo_fail(err, CLIPPO_E_ARG, "few-shot: no classes");
  size_t *count = calloc(classes, sizeof *count);
  if (!count) return clippo_fail(err, CLIPPO_E_NOMEM, "out of host memory");
  clippo_status st = CLIPPO_OK;
  for (size_t i = 0; !st && i < n; i++) {
    if (labels[i] >= classes)
      st = clippo_fail(err, CLIPPO_E_ARG, "training example %zu has label %zu, not below %zu", i,
                       labels[i], classes);
    else
      count[labels[i]]++;
  }
  size_t need = max_shots(plan);
  for (size_t c = 0; !st && c < classes; c++)
    if (count[c] < need) {
      if (class_names)
        st = clippo_fail(err, CLIPPO_E_ARG,
                         "class %zu (%s) has %zu training example(s), fewer than %zu shots", c,
                         class_names[c], count[c], need);
      else
        st = clippo_fail(err, CLIPPO_E_ARG,
                         "class %zu has %zu training example(s), fewer than %zu shots", c, count[c],
                         need);
    }
  free(count);
  return st;
}

clippo_status clippo_fewshot_needed(const size_t *labels, size_t n, size_t classes,
                                    const clippo_fewshot_plan *plan, unsigned char *need,
                                    size_t *count, clippo_error *err) {
  *count = 0;
  clippo_status st = clippo_fewshot_check(labels, n, classes, plan, NULL, err);
  if (st) return st;
  memset(need, 0, n);
  size_t k = max_shots(plan);
  for (size_t seed = 0; seed < plan->seeds; seed++) {
    clippo_fewshot_draw d;
    st = clippo_fewshot_draw_make(labels, n, classes, (uint64_t)seed, &d, err);
    if (st) return st;
    for (size_t c = 0; c < classes; c++)
      for (size_t i = 0; i < k; i++) {
        size_t idx = d.order[d.start[c] + i];
        *count += !need[idx];
        need[idx] = 1;
      }
    clippo_fewshot_draw_free(&d);
  }
  return CLIPPO_OK;
}

clippo_status clippo_fewshot_run(const float *train_x, const size_t *train_y, size_t n_train,
                                 const float *test_x, const size_t *test_y, size_t n_test,
                                 size_t dim, size_t classes, const clippo_fewshot_plan *plan,
                                 double *acc, clippo_error *err) {
  clippo_status st = clippo_fewshot_check(train_y, n_train, classes, plan, NULL, err);
  if (st) return st;
  for (size_t i = 0; i < n_test; i++) {
    if (test_y[i] >= classes)
      return clippo_fail(err, CLIPPO_E_ARG, "test example %zu has label %zu, not below %zu", i,
                         test_y[i], classes);
    for (size_t j = 0; j < dim; j++)
      if (!isfinite(test_x[i * dim + j]))
        return clippo_fail(err, CLIPPO_E_NUMERIC, "feature %zu of test example %zu is not finite",
                           j, i);
  }
  size_t k = max_shots(plan);
  float *x = malloc(k * classes * dim * sizeof *x + 1);
  size_t *y = malloc(k * classes * sizeof *y + 1);
  if (!x || !y) st = clippo_fail(err, CLIPPO_E_NOMEM, "out of host memory");
  for (size_t seed = 0; !st && seed < plan->seeds; seed++) {
    clippo_fewshot_draw d;
    st = clippo_fewshot_draw_make(train_y, n_train, classes, (uint64_t)seed, &d, err);
    for (size_t s = 0; !st && s < plan->nshots; s++) {
      /* all_idx = concatenate([indices[:shots] for indices in class_indices]) */
      size_t shots = plan->shots[s], m = 0;
      for (size_t c = 0; c < classes; c++)
        for (size_t i = 0; i < shots; i++, m++) {
          size_t idx = d.order[d.start[c] + i];
          memcpy(x + m * dim, train_x + idx * dim, dim * sizeof *x);
          y[m] = c;
        }
      clippo_lsr cache;
      st = clippo_lsr_fit(x, y, m, dim, classes, &cache, err);
      for (size_t j = 0; !st && j < plan->nl2; j++)
        st = clippo_lsr_accuracy(&cache, plan->l2[j], test_x, test_y, n_test,
                                 &acc[(seed * plan->nshots + s) * plan->nl2 + j], err);
      clippo_lsr_free(&cache);
    }
    clippo_fewshot_draw_free(&d);
  }
  free(x);
  free(y);
  return st;
}
