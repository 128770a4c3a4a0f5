/* Text-text retrieval (`clippo eval --text-pairs`, host/tasks/eval.c): the links between the
 * distinct texts of both sides of a list of pairs, and recall@1/5/10 both ways over many-to-many
 * links against a float64 brute-force reference (every pair of queries and targets scored, ranks
 * counted by hand); with one link per text it equals the image-caption recall. */
#include "support.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clippo/tasks.h"

/* Unit rows of a random (n, dim) matrix. */
static float *random_unit(size_t n, size_t dim, uint64_t *seed) {
  float *z = malloc(n * dim * sizeof *z);
  for (size_t i = 0; i < n; i++) {
    double norm = 0;
    for (size_t d = 0; d < dim; d++) {
      *seed = *seed * 6364136223846793005ull + 1442695040888963407ull;
      double v = (double)(*seed >> 11) / 9007199254740992.0 - 0.5;
      z[i * dim + d] = (float)v;
      norm += v * v;
    }
    for (size_t d = 0; d < dim; d++) z[i * dim + d] = (float)(z[i * dim + d] / sqrt(norm));
  }
  return z;
}

/* float64 reference of one direction: for each query with a link, the number of targets scoring
 * strictly higher than its best linked target (ties: a lower index first, as clippo_rank_of). */
static void ref_direction(const float *q, size_t nq, const float *t, size_t nt, const size_t *q_of,
                          const size_t *t_of, size_t links, size_t dim, double out[3]) {
  static const size_t ks[3] = {1, 5, 10};
  size_t with = 0;
  out[0] = out[1] = out[2] = 0;
  for (size_t i = 0; i < nq; i++) {
    size_t best = (size_t)-1;
    for (size_t l = 0; l < links; l++) {
      if (q_of[l] != i) continue;
      size_t j = t_of[l], r = 0;
      double sj = 0;
      for (size_t d = 0; d < dim; d++) sj += (double)q[i * dim + d] * (double)t[j * dim + d];
      for (size_t o = 0; o < nt; o++) {
        if (o == j) continue;
        double so = 0;
        for (size_t d = 0; d < dim; d++) so += (double)q[i * dim + d] * (double)t[o * dim + d];
        if ((float)so > (float)sj || ((float)so == (float)sj && o < j)) r++;
      }
      if (r < best) best = r;
    }
    if (best == (size_t)-1) continue;
    with++;
    for (int k = 0; k < 3; k++) out[k] += best < ks[k];
  }
  for (int k = 0; k < 3; k++) out[k] /= (double)with;
}

static void test_links(void **state) {
  (void)state;
  clippo_error err;
  clippo_text_links l;
  memset(&l, 0, sizeof l);
  const char *pairs[][2] = {{"Foto: Hose", "a photo of a trouser."},
                            {"Foto: Hose", "trouser"},
                            {"Bild: Tasche", "a bag"},
                            {"Foto: Hose", "trouser"}, /* again: one more link, no new text */
                            {"Hose", "trouser"}};
  for (size_t i = 0; i < 5; i++)
    TEST_OK(clippo_text_links_add(&l, pairs[i][0], pairs[i][1], &err), &err);
  assert_int_equal(l.first.count, 3);
  assert_int_equal(l.second.count, 3);
  assert_int_equal(l.links, 5);
  assert_string_equal(l.first.items[2], "Hose");
  assert_string_equal(l.second.items[1], "trouser");
  const size_t fa[5] = {0, 0, 1, 0, 2}, fb[5] = {0, 1, 2, 1, 1};
  for (size_t i = 0; i < 5; i++) {
    assert_int_equal(l.first_of[i], fa[i]);
    assert_int_equal(l.second_of[i], fb[i]);
  }
  clippo_text_links_free(&l);
  clippo_text_links_free(&l); /* twice is fine */
  assert_int_equal(l.links, 0);
}

static void test_link_recall(void **state) {
  (void)state;
  clippo_error err;
  uint64_t seed = 42;
  /* many-to-many: 40 queries, 55 targets, random links (some queries and targets without) */
  const size_t na = 40, nb = 55, dim = 8, links = 90;
  float *za = random_unit(na, dim, &seed), *zb = random_unit(nb, dim, &seed);
  size_t a_of[90], b_of[90];
  for (size_t k = 0; k < links; k++) {
    seed = seed * 6364136223846793005ull + 1442695040888963407ull;
    a_of[k] = (size_t)(seed >> 33) % (na - 3); /* the last 3 queries have no link */
    seed = seed * 6364136223846793005ull + 1442695040888963407ull;
    b_of[k] = (size_t)(seed >> 33) % nb;
  }
  /* make some links easy: target = the query itself, slightly moved */
  for (size_t k = 0; k < 10; k++)
    for (size_t d = 0; d < dim; d++) zb[b_of[k] * dim + d] = za[a_of[k] * dim + d] * 0.99f;
  clippo_recall rec;
  TEST_OK(clippo_link_recall(za, na, zb, nb, a_of, b_of, links, dim, &rec, &err), &err);
  double want_ab[3], want_ba[3];
  ref_direction(za, na, zb, nb, a_of, b_of, links, dim, want_ab);
  ref_direction(zb, nb, za, na, b_of, a_of, links, dim, want_ba);
  for (int k = 0; k < 3; k++) {
    print_message("[ recall   ] @%d: a->b %.4f (want %.4f), b->a %.4f (want %.4f)\n",
                  k == 0   ? 1
                  : k == 1 ? 5
                           : 10,
                  rec.i2t[k], want_ab[k], rec.t2i[k], want_ba[k]);
    assert_true(fabs(rec.i2t[k] - want_ab[k]) < 1e-12);
    assert_true(fabs(rec.t2i[k] - want_ba[k]) < 1e-12);
  }
  assert_true(rec.i2t[0] > 0.1 && rec.i2t[2] < 1.0); /* neither empty nor trivial */
  /* one link per text: the image-caption recall (images = a, one caption each) */
  size_t one_a[40], one_b[40];
  for (size_t k = 0; k < na; k++) one_a[k] = one_b[k] = k;
  clippo_recall r1, r2;
  TEST_OK(clippo_link_recall(za, na, zb, na, one_a, one_b, na, dim, &r1, &err), &err);
  TEST_OK(clippo_retrieval_recall(za, na, zb, na, one_a, dim, &r2, &err), &err);
  for (int k = 0; k < 3; k++) {
    assert_true(fabs(r1.i2t[k] - r2.i2t[k]) < 1e-12);
    assert_true(fabs(r1.t2i[k] - r2.t2i[k]) < 1e-12);
  }
  /* errors */
  assert_int_equal(clippo_link_recall(za, na, zb, nb, a_of, b_of, 0, dim, &rec, &err),
                   CLIPPO_E_ARG);
  size_t bad = nb;
  assert_int_equal(clippo_link_recall(za, na, zb, nb, a_of, &bad, 1, dim, &rec, &err),
                   CLIPPO_E_ARG);
  assert_non_null(strstr(err.msg, "out of range"));
  free(za);
  free(zb);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_links),
      cmocka_unit_test(test_link_recall),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
