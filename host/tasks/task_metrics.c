/* The task metrics of clippo/finetune.h: accuracy, F1 and Matthews correlation of class
 * predictions, Pearson and Spearman correlation of scores, and the VQA accuracy of one answer.
 * All arithmetic in double. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "clippo/finetune.h"

double clippo_metric_accuracy(const int *pred, const int *gold, size_t n) {
  if (!n) return NAN;
  size_t hit = 0;
  for (size_t i = 0; i < n; i++) hit += pred[i] == gold[i];
  return (double)hit / (double)n;
}

/* The binary confusion counts with `positive` as the positive class (any other class is
 * negative). */
static void confusion(const int *pred, const int *gold, size_t n, int positive, double *tp,
                      double *tn, double *fp, double *fn) {
  *tp = *tn = *fp = *fn = 0;
  for (size_t i = 0; i < n; i++) {
    int p = pred[i] == positive, g = gold[i] == positive;
    if (p && g)
      *tp += 1;
    else if (p)
      *fp += 1;
    else if (g)
      *fn += 1;
    else
      *tn += 1;
  }
}

double clippo_metric_f1(const int *pred, const int *gold, size_t n, int positive) {
  double tp, tn, fp, fn;
  confusion(pred, gold, n, positive, &tp, &tn, &fp, &fn);
  /* F1 = 2 P R / (P + R) = 2 TP / (2 TP + FP + FN); 0 when there is no predicted and no gold
   * positive (sklearn's zero_division=0) */
  double den = 2 * tp + fp + fn;
  return den > 0 ? 2 * tp / den : 0.0;
}

double clippo_metric_matthews(const int *pred, const int *gold, size_t n, int positive) {
  double tp, tn, fp, fn;
  confusion(pred, gold, n, positive, &tp, &tn, &fp, &fn);
  double den = (tp + fp) * (tp + fn) * (tn + fp) * (tn + fn);
  if (!(den > 0)) return 0.0;
  return (tp * tn - fp * fn) / sqrt(den);
}

double clippo_metric_pearson(const double *x, const double *y, size_t n) {
  if (n < 2) return NAN;
  double mx = 0, my = 0;
  for (size_t i = 0; i < n; i++) {
    mx += x[i];
    my += y[i];
  }
  mx /= (double)n;
  my /= (double)n;
  double sxy = 0, sxx = 0, syy = 0;
  for (size_t i = 0; i < n; i++) {
    double dx = x[i] - mx, dy = y[i] - my;
    sxy += dx * dy;
    sxx += dx * dx;
    syy += dy * dy;
  }
  if (!(sxx > 0) || !(syy > 0)) return NAN;
  double r = sxy / sqrt(sxx * syy);
  return r > 1 ? 1 : r < -1 ? -1 : r;
}

typedef struct rank_item {
  double v;
  size_t i;
} rank_item;

static int rank_cmp(const void *a, const void *b) {
  const rank_item *x = a, *y = b;
  if (x->v < y->v) return -1;
  if (x->v > y->v) return 1;
  return x->i < y->i ? -1 : x->i > y->i;
}

/* 1-based ranks of v[0..n) into r; tied values get the mean of their ranks. 0 when out of
 * memory. */
static int ranks(const double *v, size_t n, double *r) {
  rank_item *it = malloc(n * sizeof *it);
  if (!it) return 0;
  for (size_t i = 0; i < n; i++) it[i] = (rank_item){v[i], i};
  qsort(it, n, sizeof *it, rank_cmp);
  for (size_t a = 0; a < n;) {
    size_t b = a + 1;
    while (b < n && it[b].v == it[a].v) b++;
    /* positions a..b-1 hold ranks a+1..b: their mean is (a + 1 + b) / 2 */
    double mean = 0.5 * (double)(a + 1 + b);
    for (size_t k = a; k < b; k++) r[it[k].i] = mean;
    a = b;
  }
  free(it);
  return 1;
}

double clippo_metric_spearman(const double *x, const double *y, size_t n) {
  if (n < 2) return NAN;
  double *rx = malloc(2 * n * sizeof *rx);
  if (!rx) return NAN;
  double *ry = rx + n;
  double r = NAN;
  if (ranks(x, n, rx) && ranks(y, n, ry)) r = clippo_metric_pearson(rx, ry, n);
  free(rx);
  return r;
}

/* Answers are compared after ASCII lowercasing and trimming leading and trailing ASCII
 * whitespace (a simplification of the official VQA normalisation, which also maps number words,
 * articles and punctuation). */
static int ascii_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static unsigned char ascii_lower(char c) {
  return (unsigned char)(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
}

static void answer_span(const char *s, const char **b, size_t *len) {
  if (!s) s = "";
  while (*s && ascii_space(*s)) s++;
  size_t n = strlen(s);
  while (n && ascii_space(s[n - 1])) n--;
  *b = s;
  *len = n;
}

static int answer_equal(const char *pb, size_t pn, const char *a) {
  const char *ab;
  size_t an;
  answer_span(a, &ab, &an);
  if (an != pn) return 0;
  for (size_t k = 0; k < pn; k++)
    if (ascii_lower(pb[k]) != ascii_lower(ab[k])) return 0;
  return 1;
}

double clippo_metric_vqa(const char *pred, const char *const *answers, size_t n_answers) {
  const char *pb;
  size_t pn;
  answer_span(pred, &pb, &pn);
  size_t matches = 0;
  unsigned char same[10];
  for (size_t k = 0; k < n_answers; k++) {
    int eq = answers && answer_equal(pb, pn, answers[k]);
    matches += (size_t)eq;
    if (k < 10) same[k] = (unsigned char)eq;
  }
  if (n_answers != 10) return fmin((double)matches / 3.0, 1.0);
  /* the official evaluation: the mean over the 10 subsets that leave one answer out of
   * min(#matches among the other 9 / 3, 1) */
  double acc = 0;
  for (size_t k = 0; k < 10; k++) acc += fmin((double)(matches - same[k]) / 3.0, 1.0);
  return acc / 10.0;
}
