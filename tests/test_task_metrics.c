/* The task metrics (clippo/finetune.h) against hand-computed values: accuracy, F1 and Matthews
 * correlation from a confusion table, Pearson, Spearman with tied ranks, the VQA accuracy with 10
 * answers (leave-one-out) and with fewer, and clippo_task_set_evaluate on small sets built with
 * task_set_new (argmax ties, skipped unlabelled examples, the reported and NaN fields, errors). */
#include "support.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clippo/finetune.h"
#include "tasks/task_set_internal.h"

#define NEAR(a, b) assert_true(fabs((a) - (b)) < 1e-9)

static void test_accuracy(void **state) {
  (void)state;
  const int pred[] = {0, 1, 2, 1, 0}, gold[] = {0, 1, 1, 1, 2};
  /* hits at 0, 1, 3: 3 / 5 */
  NEAR(clippo_metric_accuracy(pred, gold, 5), 0.6);
  NEAR(clippo_metric_accuracy(pred, gold, 2), 1.0);
  assert_true(isnan(clippo_metric_accuracy(pred, gold, 0)));
}

static void test_f1_matthews(void **state) {
  (void)state;
  /* positive class 1: TP = 3 (1,1), TN = 2 (0,0), FP = 1 (pred 1, gold 0), FN = 2 (pred 0,
   * gold 1) */
  const int pred[] = {1, 1, 1, 0, 0, 1, 0, 0}, gold[] = {1, 1, 1, 0, 0, 0, 1, 1};
  /* F1 = 2 TP / (2 TP + FP + FN) = 6 / 9 */
  NEAR(clippo_metric_f1(pred, gold, 8, 1), 6.0 / 9.0);
  /* MCC = (TP TN - FP FN) / sqrt((TP+FP)(TP+FN)(TN+FP)(TN+FN)) = (6 - 2) / sqrt(4*5*3*4)
   *     = 4 / sqrt(240) = 0.2581988897 */
  NEAR(clippo_metric_matthews(pred, gold, 8, 1), 4.0 / sqrt(240.0));
  /* with class 0 positive: TP = 2, TN = 3, FP = 2, FN = 1: F1 = 4 / 7,
   * MCC = (6 - 2) / sqrt(4 * 3 * 5 * 4) = the same 4 / sqrt(240) */
  NEAR(clippo_metric_f1(pred, gold, 8, 0), 4.0 / 7.0);
  NEAR(clippo_metric_matthews(pred, gold, 8, 0), 4.0 / sqrt(240.0));
  /* other classes count as negative: pred {2, 1}, gold {1, 2} with positive 1: FP 1, FN 1,
   * TP 0, TN 0: F1 = 0, MCC = (0 - 1) / sqrt(1 * 1 * 1 * 1) = -1 */
  const int p2[] = {2, 1}, g2[] = {1, 2};
  NEAR(clippo_metric_f1(p2, g2, 2, 1), 0.0);
  NEAR(clippo_metric_matthews(p2, g2, 2, 1), -1.0);
  /* no predicted and no gold positive: F1 0; all one class: MCC undefined -> 0 */
  const int z[] = {0, 0, 0};
  NEAR(clippo_metric_f1(z, z, 3, 1), 0.0);
  NEAR(clippo_metric_matthews(z, z, 3, 1), 0.0);
  /* perfect: 1 and 1 */
  const int p3[] = {0, 1, 1, 0};
  NEAR(clippo_metric_f1(p3, p3, 4, 1), 1.0);
  NEAR(clippo_metric_matthews(p3, p3, 4, 1), 1.0);
}

static void test_pearson(void **state) {
  (void)state;
  const double x[] = {1, 2, 3, 4, 5}, y[] = {2, 4, 5, 4, 5};
  /* means 3 and 4; dx = -2 -1 0 1 2, dy = -2 0 1 0 1: sxy = 4 + 2 = 6, sxx = 10, syy = 6:
   * r = 6 / sqrt(60) = 0.7745966692 */
  NEAR(clippo_metric_pearson(x, y, 5), 6.0 / sqrt(60.0));
  const double neg[] = {10, 8, 6, 4, 2};
  NEAR(clippo_metric_pearson(x, neg, 5), -1.0);
  const double c[] = {3, 3, 3, 3, 3};
  assert_true(isnan(clippo_metric_pearson(x, c, 5)));
  assert_true(isnan(clippo_metric_pearson(c, x, 5)));
  assert_true(isnan(clippo_metric_pearson(x, y, 1)));
}

static void test_spearman(void **state) {
  (void)state;
  /* x = 1 2 2 3 -> ranks 1 2.5 2.5 4; y = 10 20 30 40 -> ranks 1 2 3 4; rank means 2.5:
   * dx = -1.5 0 0 1.5, dy = -1.5 -0.5 0.5 1.5: sxy = 4.5, sxx = 4.5, syy = 5:
   * rho = 4.5 / sqrt(22.5) = 0.9486832981 */
  const double x[] = {1, 2, 2, 3}, y[] = {10, 20, 30, 40};
  NEAR(clippo_metric_spearman(x, y, 4), 4.5 / sqrt(22.5));
  /* y2 = 5 5 1 9 -> ranks 2.5 2.5 1 4: dy = 0 0 -1.5 1.5: sxy = 2.25, sxx = syy = 4.5:
   * rho = 2.25 / 4.5 = 0.5 */
  const double y2[] = {5, 5, 1, 9};
  NEAR(clippo_metric_spearman(x, y2, 4), 0.5);
  /* monotone but not linear: 1 */
  const double sq[] = {1, 4, 4, 100};
  NEAR(clippo_metric_spearman(x, sq, 4), 1.0);
  const double c[] = {7, 7, 7, 7};
  assert_true(isnan(clippo_metric_spearman(x, c, 4)));
}

static void test_vqa(void **state) {
  (void)state;
  const char *ten[10];
  /* 10 answers with m matches: leaving out a match gives min((m-1)/3, 1) (m subsets), leaving
   * out another min(m/3, 1) (10 - m subsets):
   * m=0: 0; m=1: (1*0 + 9*1/3)/10 = 0.3; m=2: (2*1/3 + 8*2/3)/10 = 0.6;
   * m=3: (3*2/3 + 7*1)/10 = 0.9; m=4: (4*1 + 6*1)/10 = 1 */
  const double want10[] = {0.0, 0.3, 0.6, 0.9, 1.0};
  for (int m = 0; m <= 4; m++) {
    for (int k = 0; k < 10; k++) ten[k] = k < m ? "cat" : (k % 2 ? "dog" : "two cats");
    NEAR(clippo_metric_vqa("cat", ten, 10), want10[m]);
  }
  /* fewer answers: min(m / 3, 1) */
  const char *five[5];
  const double want5[] = {0.0, 1.0 / 3.0, 2.0 / 3.0, 1.0, 1.0};
  for (int m = 0; m <= 4; m++) {
    for (int k = 0; k < 5; k++) five[k] = k < m ? "yes" : "no";
    NEAR(clippo_metric_vqa("yes", five, 5), want5[m]);
  }
  /* case and surrounding spaces do not count; inner text does */
  const char *a[] = {" Yes", "YES ", "yes", "ye s"};
  NEAR(clippo_metric_vqa("yes", a, 4), 1.0);
  NEAR(clippo_metric_vqa("  yEs\t", a, 2), 2.0 / 3.0);
  NEAR(clippo_metric_vqa("yes", a, 0), 0.0);
}

/* ---- clippo_task_set_evaluate --------------------------------------------------------------- */

static clippo_task_set *make_set(clippo_task_kind kind, const char *const *classes, size_t nc,
                                 size_t n) {
  clippo_task_set *s = task_set_new();
  assert_non_null(s);
  assert_int_equal(s->positive, -1);
  s->kind = kind;
  snprintf(s->describe, sizeof s->describe, "unit set (%zu examples)", n);
  if (nc) {
    s->classes = calloc(nc, sizeof *s->classes);
    for (size_t c = 0; c < nc; c++) s->classes[c] = strdup(classes[c]);
    s->nclasses = nc;
  }
  s->ex = calloc(n, sizeof *s->ex);
  s->n = n;
  for (size_t i = 0; i < n; i++) {
    s->ex[i].label = -1;
    s->ex[i].score = NAN;
    snprintf(s->ex[i].id, sizeof s->ex[i].id, "%zu", i + 1);
  }
  return s;
}

static void test_evaluate_classes(void **state) {
  (void)state;
  const char *cls[] = {"0", "1"};
  clippo_task_set *s = make_set(CLIPPO_TASK_CLASSES, cls, 2, 6);
  s->metrics[0] = "accuracy";
  s->metrics[1] = "f1";
  s->metrics[2] = "matthews";
  s->nmetrics = 3;
  s->positive = 1;
  const int gold[] = {1, 0, 1, 1, 0, -1};
  for (int i = 0; i < 6; i++) s->ex[i].label = gold[i];
  /* argmax: 1, 0 (tie -> lowest index), 1, 0, 1, (unlabelled: skipped) */
  const float logits[] = {0.1f, 0.9f, 2.f, 2.f, -1.f, 3.f, 5.f, 4.f, 0.f, 0.5f, 9.f, -9.f};
  clippo_task_metrics m;
  clippo_error err;
  TEST_OK(clippo_task_set_evaluate(s, logits, &m, &err), &err);
  /* pred 1 0 1 0 1 vs gold 1 0 1 1 0: hits 3/5; TP 2, TN 1, FP 1, FN 1:
   * F1 = 4 / (4 + 2) = 2/3, MCC = (2 - 1) / sqrt(3 * 3 * 2 * 2) = 1/6 */
  assert_int_equal(m.count, 5);
  NEAR(m.accuracy, 0.6);
  NEAR(m.f1, 2.0 / 3.0);
  NEAR(m.matthews, 1.0 / 6.0);
  assert_true(isnan(m.pearson) && isnan(m.spearman) && isnan(m.vqa_accuracy) && isnan(m.mse));
  const char *names[8];
  assert_int_equal(clippo_task_set_metric_names(s, names, 8), 3);
  assert_string_equal(names[1], "f1");
  assert_int_equal(clippo_task_set_metric_names(s, names, 1), 1);
  /* accuracy only: the others stay NaN */
  s->nmetrics = 1;
  TEST_OK(clippo_task_set_evaluate(s, logits, &m, &err), &err);
  NEAR(m.accuracy, 0.6);
  assert_true(isnan(m.f1) && isnan(m.matthews));
  /* nothing labelled: an error naming the set */
  for (int i = 0; i < 6; i++) s->ex[i].label = -1;
  assert_int_equal(clippo_task_set_evaluate(s, logits, &m, &err), CLIPPO_E_ARG);
  assert_non_null(strstr(err.msg, "unit set"));
  clippo_task_set_free(s);
}

static void test_evaluate_vqa(void **state) {
  (void)state;
  const char *cls[] = {"yes", "no", "2"};
  clippo_task_set *s = make_set(CLIPPO_TASK_CLASSES, cls, 3, 4);
  s->metrics[0] = "vqa_accuracy";
  s->nmetrics = 1;
  static const char *const a0[] = {"yes", "yes", "no"};
  static const char *const a1[] = {"2", "two", "3"};
  static const char *const a3[] = {"blue", "blue", "blue"};
  s->ex[0].answers = a0;
  s->ex[0].nanswers = 3;
  s->ex[0].label = 0;
  s->ex[1].answers = a1;
  s->ex[1].nanswers = 3;
  s->ex[1].label = 2;
  /* example 2: no answers (not counted); example 3: answer outside the vocabulary (label -1,
   * still scored) */
  s->ex[3].answers = a3;
  s->ex[3].nanswers = 3;
  const float logits[] = {1, 0, 0, 0, 0, 1, 5, 5, 5, 0, 1, 0};
  /* predictions: yes (2/3), 2 (1/3), -, no (0): mean over 3 = 1/3 */
  clippo_task_metrics m;
  clippo_error err;
  TEST_OK(clippo_task_set_evaluate(s, logits, &m, &err), &err);
  assert_int_equal(m.count, 3);
  NEAR(m.vqa_accuracy, (2.0 / 3.0 + 1.0 / 3.0 + 0.0) / 3.0);
  assert_true(isnan(m.accuracy));
  clippo_task_set_free(s);
}

static void test_evaluate_scores(void **state) {
  (void)state;
  clippo_task_set *s = make_set(CLIPPO_TASK_SCORE, NULL, 0, 6);
  s->metrics[0] = "pearson";
  s->metrics[1] = "spearman";
  s->nmetrics = 2;
  const double gold[] = {2, 4, 5, NAN, 4, 5};
  for (int i = 0; i < 6; i++) s->ex[i].score = gold[i];
  const float pred[] = {1, 2, 3, 100, 4, 5};
  clippo_task_metrics m;
  clippo_error err;
  TEST_OK(clippo_task_set_evaluate(s, pred, &m, &err), &err);
  /* the pairs of test_pearson: r = 6 / sqrt(60); Spearman: ranks of gold 1 2.5 4.5 2.5 4.5 vs
   * 1..5: dx = -2 -1 0 1 2, dy = -2 -0.5 1.5 -0.5 1.5: sxy = 4 + 0.5 + 0 - 0.5 + 3 = 7,
   * syy = 4 + 0.25 + 2.25 + 0.25 + 2.25 = 9: rho = 7 / sqrt(90);
   * mse = (1 + 4 + 4 + 0 + 0) / 5 = 1.8 */
  assert_int_equal(m.count, 5);
  NEAR(m.pearson, 6.0 / sqrt(60.0));
  NEAR(m.spearman, 7.0 / sqrt(90.0));
  NEAR(m.mse, 1.8);
  assert_true(isnan(m.accuracy) && isnan(m.f1) && isnan(m.matthews) && isnan(m.vqa_accuracy));
  for (int i = 0; i < 6; i++) s->ex[i].score = NAN;
  assert_int_equal(clippo_task_set_evaluate(s, pred, &m, &err), CLIPPO_E_ARG);
  assert_non_null(strstr(err.msg, "unit set"));
  clippo_task_set_free(s);
}

static void test_accessors(void **state) {
  (void)state;
  const char *cls[] = {"neg", "pos"};
  clippo_task_set *s = make_set(CLIPPO_TASK_CLASSES, cls, 2, 2);
  s->ex[1].label = 1;
  snprintf(s->task, sizeof s->task, "tsv");
  snprintf(s->layout, sizeof s->layout, "text");
  assert_int_equal(clippo_task_set_size(s), 2);
  assert_int_equal(clippo_task_set_num_classes(s), 2);
  assert_string_equal(clippo_task_set_class(s, 1), "pos");
  assert_int_equal(clippo_task_set_label(s, 0), -1);
  assert_int_equal(clippo_task_set_label(s, 1), 1);
  assert_string_equal(clippo_task_set_task(s), "tsv");
  assert_string_equal(clippo_task_set_layout(s), "text");
  char id[4];
  clippo_task_set_example_id(s, 1, id, sizeof id);
  assert_string_equal(id, "2");
  /* no input function: an error, not a crash */
  float px[3];
  clippo_error err;
  clippo_font *font = NULL;
  TEST_OK(clippo_font_create(&font, &err), &err);
  assert_int_equal(clippo_task_set_input(s, 0, font, 1, px, &err), CLIPPO_E_ARG);
  assert_int_equal(clippo_task_set_input(s, 5, font, 1, px, &err), CLIPPO_E_ARG);
  clippo_font_free(font);
  clippo_task_set_free(s);
  clippo_task_set_free(NULL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_accuracy),     cmocka_unit_test(test_f1_matthews),
      cmocka_unit_test(test_pearson),      cmocka_unit_test(test_spearman),
      cmocka_unit_test(test_vqa),          cmocka_unit_test(test_evaluate_classes),
      cmocka_unit_test(test_evaluate_vqa), cmocka_unit_test(test_evaluate_scores),
      cmocka_unit_test(test_accessors),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
