/* The VQA loader (clippo_task_open_vqa, clippo/finetune.h) on temporary VQAv2 question and
 * annotation files and small PNG images: questions and annotations matched by question_id (in
 * another order), the answer vocabulary (top_k most frequent multiple_choice_answer values, ties
 * by first appearance; or a given one), labels (-1 outside the vocabulary), ids, limit; the
 * errors (unmatched question_id, invalid JSON, missing image, bad layout) name their files; an
 * unlabelled set; the VQA accuracy of clippo_task_set_evaluate against hand-computed values; and
 * clippo_task_set_input's "top:F" layout (the question's rows on top, the image resized with its
 * aspect ratio kept and centred on grey below). */
#include "support.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clippo/finetune.h"
#include "clippo/image_write.h"
#include "clippo/text.h"

typedef test_font_fixture fixture;

static int setup(void **state) { return test_font_fixture_setup(state); }

static int teardown(void **state) { return test_font_fixture_teardown(state); }

/* DIR/name (static buffer rotation: valid for a few calls). */
static const char *path_of(const fixture *fx, const char *name) {
  static char paths[8][1100];
  static int next;
  char *p = paths[next++ % 8];
  snprintf(p, 1100, "%s/%s", fx->dir, name);
  return p;
}

/* Writes text to DIR/name; returns the path (as path_of). */
static const char *put(const fixture *fx, const char *name, const char *text) {
  const char *p = path_of(fx, name);
  FILE *f = fopen(p, "wb");
  assert_non_null(f);
  assert_int_equal(fwrite(text, 1, strlen(text), f), strlen(text));
  fclose(f);
  return p;
}

/* A w x h PNG of one colour at DIR/name. */
static void put_png(const fixture *fx, const char *name, int w, int h, uint8_t r, uint8_t g,
                    uint8_t b) {
  uint8_t *px = malloc((size_t)w * h * 3);
  for (size_t k = 0; k < (size_t)w * h; k++) {
    px[3 * k] = r;
    px[3 * k + 1] = g;
    px[3 * k + 2] = b;
  }
  clippo_error err;
  TEST_OK(clippo_png_write(path_of(fx, name), px, w, h, 3, &err), &err);
  free(px);
}

/* ---- JSON builders -------------------------------------------------------------------------- */

typedef struct jbuf {
  char s[16384];
  size_t n;
} jbuf;

static void jcat(jbuf *b, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int w = vsnprintf(b->s + b->n, sizeof b->s - b->n, fmt, ap);
  va_end(ap);
  assert_true(w >= 0 && (size_t)w < sizeof b->s - b->n);
  b->n += (size_t)w;
}

typedef struct q_item {
  long long qid, img;
  const char *question, *mc;
  const char *answers[10]; /* NULL: 10 copies of mc */
} q_item;

/* A questions file of items[order[0..n)] (order NULL: in order), data_subtype sub. */
static const char *put_questions(const fixture *fx, const char *name, const q_item *items, size_t n,
                                 const char *sub) {
  static jbuf b;
  b.n = 0;
  jcat(&b,
       "{\"info\": {\"description\": \"test\"}, \"task_type\": \"Open-Ended\", "
       "\"data_type\": \"mscoco\", \"data_subtype\": \"%s\", \"questions\": [",
       sub);
  for (size_t k = 0; k < n; k++)
    jcat(&b, "%s\n {\"image_id\": %lld, \"question\": \"%s\", \"question_id\": %lld}", k ? "," : "",
         items[k].img, items[k].question, items[k].qid);
  jcat(&b, "]}\n");
  return put(fx, name, b.s);
}

/* An annotations file of items[order[k]] for k < n (order NULL: in order). */
static const char *put_annotations(const fixture *fx, const char *name, const q_item *items,
                                   const size_t *order, size_t n) {
  static jbuf b;
  b.n = 0;
  jcat(&b, "{\"info\": {}, \"data_subtype\": \"val2014\", \"annotations\": [");
  for (size_t k = 0; k < n; k++) {
    const q_item *q = &items[order ? order[k] : k];
    jcat(&b,
         "%s\n {\"question_id\": %lld, \"image_id\": %lld, \"question_type\": \"what\", "
         "\"answer_type\": \"other\", \"multiple_choice_answer\": \"%s\", \"answers\": [",
         k ? "," : "", q->qid, q->img, q->mc);
    for (int j = 0; j < 10; j++)
      jcat(&b, "%s{\"answer\": \"%s\", \"answer_confidence\": \"yes\", \"answer_id\": %d}",
           j ? ", " : "", q->answers[0] ? q->answers[j] : q->mc, j + 1);
    jcat(&b, "]}");
  }
  jcat(&b, "]}\n");
  return put(fx, name, b.s);
}

/* The main set: 9 questions about images 1..4. Answer counts: yes 3, cat 2, 2 2, red 1, dog 1;
 * "cat" appears before "2" both in question order and in annotation order. */
static const q_item QS[] = {
    {101, 1, "what animal is this?", "cat", {0}}, {102, 1, "is it big?", "yes", {0}},
    {201, 2, "how many legs?", "2", {0}},         {202, 2, "what color is it?", "red", {0}},
    {301, 3, "is it small?", "yes", {0}},         {302, 3, "how many eyes?", "2", {0}},
    {401, 4, "what pet is it?", "cat", {0}},      {402, 4, "is it a pet?", "yes", {0}},
    {403, 4, "what chases it?", "dog", {0}},
};
#define NQ (sizeof QS / sizeof QS[0])
/* annotations in another order */
static const size_t AORDER[NQ] = {7, 0, 4, 3, 1, 2, 8, 5, 6};

typedef struct files {
  const char *q, *a;
  char qbuf[1100], abuf[1100];
} files;

/* Writes the main set's images (1.png, 2.png, 3.jpg holding a PNG, COCO_val2014_...4.jpg) and
 * JSON files. */
static void main_set(const fixture *fx, files *f) {
  put_png(fx, "1.png", 8, 8, 10, 20, 30);
  put_png(fx, "2.png", 8, 8, 40, 50, 60);
  put_png(fx, "3.jpg", 8, 8, 70, 80, 90);
  put_png(fx, "COCO_val2014_000000000004.jpg", 8, 8, 100, 110, 120);
  snprintf(f->qbuf, sizeof f->qbuf, "%s", put_questions(fx, "q.json", QS, NQ, "val2014"));
  snprintf(f->abuf, sizeof f->abuf, "%s", put_annotations(fx, "a.json", QS, AORDER, NQ));
  f->q = f->qbuf;
  f->a = f->abuf;
}

static clippo_task_set *open_ok(const fixture *fx, const char *q, const char *a, const char *layout,
                                const char *const *vocab, size_t nvocab, size_t top_k,
                                size_t limit) {
  clippo_task_set *s = NULL;
  clippo_error err;
  TEST_OK(clippo_task_open_vqa(q, a, fx->dir, layout, vocab, nvocab, top_k, limit, &s, &err), &err);
  assert_non_null(s);
  return s;
}

/* Opening fails with status want and a message holding every needle (NULL-terminated). */
static void open_fail_(const fixture *fx, const char *q, const char *a, const char *layout,
                       const char *const *vocab, size_t nvocab, clippo_status want,
                       const char *const *needles) {
  clippo_task_set *s = (clippo_task_set *)1;
  clippo_error err;
  clippo_status st = clippo_task_open_vqa(q, a, fx->dir, layout, vocab, nvocab, 10, 0, &s, &err);
  if (st != want)
    fail_msg("%s: expected %s, got %s: %s", q, clippo_status_name(want), clippo_status_name(st),
             st ? err.msg : "");
  assert_null(s);
  for (size_t k = 0; needles[k]; k++)
    if (!strstr(err.msg, needles[k])) fail_msg("message lacks '%s': %s", needles[k], err.msg);
}
#define open_fail(fx, q, a, layout, vocab, nvocab, want, ...)                                      \
  open_fail_(fx, q, a, layout, vocab, nvocab, want, (const char *const[]){__VA_ARGS__})

static void expect_classes(const clippo_task_set *s, const char *const *want, size_t n) {
  assert_int_equal(clippo_task_set_num_classes(s), n);
  for (size_t c = 0; c < n; c++) assert_string_equal(clippo_task_set_class(s, c), want[c]);
}

static void expect_labels(const clippo_task_set *s, const int *want, size_t n) {
  assert_int_equal(clippo_task_set_size(s), n);
  for (size_t i = 0; i < n; i++)
    if (clippo_task_set_label(s, i) != want[i])
      fail_msg("example %zu: label %d, expected %d", i, clippo_task_set_label(s, i), want[i]);
}

static int has_metric(const clippo_task_set *s, const char *name) {
  const char *names[8];
  size_t n = clippo_task_set_metric_names(s, names, 8);
  for (size_t k = 0; k < n; k++)
    if (!strcmp(names[k], name)) return 1;
  return 0;
}

/* ---- matching, vocabulary, labels ----------------------------------------------------------- */

static void test_match_vocab(void **state) {
  fixture *fx = *state;
  files f;
  main_set(fx, &f);
  clippo_task_set *s = open_ok(fx, f.q, f.a, NULL, NULL, 0, 3, 0);
  assert_int_equal(clippo_task_set_kind(s), CLIPPO_TASK_CLASSES);
  static const char *const top3[] = {"yes", "cat", "2"};
  expect_classes(s, top3, 3);
  /* in question order, whatever the annotation order; "red" and "dog" are outside the top 3 */
  static const int want3[NQ] = {1, 0, 2, -1, 0, 2, 1, 0, -1};
  expect_labels(s, want3, NQ);
  for (size_t i = 0; i < NQ; i++) {
    char id[64], want[32];
    clippo_task_set_example_id(s, i, id, sizeof id);
    snprintf(want, sizeof want, "%lld", QS[i].qid);
    assert_string_equal(id, want);
  }
  assert_string_equal(clippo_task_set_task(s), "vqa");
  assert_string_equal(clippo_task_set_layout(s), "top:0.5");
  assert_non_null(strstr(clippo_task_set_describe(s), "vqa"));
  assert_non_null(strstr(clippo_task_set_describe(s), "q.json"));
  assert_true(has_metric(s, "vqa_accuracy"));
  assert_int_equal(clippo_task_set_outputs(s), 3);
  /* the first example without a target: question 202, answer "red" */
  clippo_error err;
  assert_int_equal(clippo_task_set_require_targets(s, &err), CLIPPO_E_FORMAT);
  if (!strstr(err.msg, f.a) || !strstr(err.msg, "202") || !strstr(err.msg, "red"))
    fail_msg("message lacks the annotations file, question_id 202 or 'red': %s", err.msg);
  /* its classes are the vocabulary of another set: identical, in order */
  const char *vocab[3];
  for (size_t c = 0; c < 3; c++) vocab[c] = clippo_task_set_class(s, c);
  clippo_task_set *t = open_ok(fx, f.q, f.a, NULL, vocab, 3, 0, 0);
  expect_classes(t, top3, 3);
  expect_labels(t, want3, NQ);
  clippo_task_set_free(t);
  clippo_task_set_free(s);

  /* the tie between "cat" and "2" (2 each) goes to the first to appear */
  s = open_ok(fx, f.q, f.a, "top:0.5", NULL, 0, 2, 0);
  static const char *const top2[] = {"yes", "cat"};
  expect_classes(s, top2, 2);
  static const int want2[NQ] = {1, 0, -1, -1, 0, -1, 1, 0, -1};
  expect_labels(s, want2, NQ);
  clippo_task_set_free(s);
  /* top_k larger than the answers: all of them, by count then first appearance */
  s = open_ok(fx, f.q, f.a, NULL, NULL, 0, 100, 0);
  static const char *const all[] = {"yes", "cat", "2", "red", "dog"};
  expect_classes(s, all, 5);
  static const int want5[NQ] = {1, 0, 2, 3, 0, 2, 1, 0, 4};
  expect_labels(s, want5, NQ);
  TEST_OK(clippo_task_set_require_targets(s, &err), &err);
  clippo_task_set_free(s);

  /* a given vocabulary: kept as it is, in its order; answers outside it have no label */
  static const char *const given[] = {"2", "zebra", "yes", "cat"};
  s = open_ok(fx, f.q, f.a, NULL, given, 4, 1, 0);
  expect_classes(s, given, 4);
  static const int wantg[NQ] = {3, 2, 0, -1, 2, 0, 3, 2, -1};
  expect_labels(s, wantg, NQ);
  clippo_task_set_free(s);

  /* limit: the first questions only (the other annotations are ignored) */
  s = open_ok(fx, f.q, f.a, NULL, NULL, 0, 10, 3);
  assert_int_equal(clippo_task_set_size(s), 3);
  static const char *const lim[] = {"cat", "yes", "2"};
  expect_classes(s, lim, 3);
  clippo_task_set_free(s);
}

static void test_mismatch(void **state) {
  fixture *fx = *state;
  files f;
  main_set(fx, &f);
  /* the last three of AORDER (403, 302, 401) have no annotation: 302 comes first */
  const char *a = put_annotations(fx, "a_short.json", QS, AORDER, NQ - 3);
  char apath[1100];
  snprintf(apath, sizeof apath, "%s", a);
  open_fail(fx, f.q, apath, NULL, NULL, 0, CLIPPO_E_FORMAT, f.q, apath, "302", NULL);
  /* an annotation (question_id 999) without a question */
  q_item extra[NQ + 1];
  memcpy(extra, QS, sizeof QS);
  extra[NQ] = (q_item){999, 4, "unasked?", "no", {0}};
  a = put_annotations(fx, "a_extra.json", extra, NULL, NQ + 1);
  snprintf(apath, sizeof apath, "%s", a);
  open_fail(fx, f.q, apath, NULL, NULL, 0, CLIPPO_E_FORMAT, f.q, apath, "999", NULL);
}

static void test_json_errors(void **state) {
  fixture *fx = *state;
  files f;
  main_set(fx, &f);
  const char *bad = put(fx, "bad_q.json", "{\"questions\": [{\"image_id\": 1,\n \"question\": ]}");
  char qbad[1100];
  snprintf(qbad, sizeof qbad, "%s", bad);
  open_fail(fx, qbad, f.a, NULL, NULL, 0, CLIPPO_E_FORMAT, qbad, NULL);
  bad = put(fx, "bad_a.json", "{\"annotations\": [}");
  char abad[1100];
  snprintf(abad, sizeof abad, "%s", bad);
  open_fail(fx, f.q, abad, NULL, NULL, 0, CLIPPO_E_FORMAT, abad, NULL);
  /* valid JSON of the wrong shape */
  bad = put(fx, "shape.json", "{\"annotations\": []}");
  snprintf(qbad, sizeof qbad, "%s", bad);
  open_fail(fx, qbad, f.a, NULL, NULL, 0, CLIPPO_E_FORMAT, qbad, "questions", NULL);
  /* a missing file */
  const char *missing = path_of(fx, "nope.json");
  char mpath[1100];
  snprintf(mpath, sizeof mpath, "%s", missing);
  clippo_task_set *s = (clippo_task_set *)1;
  clippo_error err;
  assert_int_not_equal(clippo_task_open_vqa(mpath, f.a, fx->dir, NULL, NULL, 0, 10, 0, &s, &err),
                       CLIPPO_OK);
  assert_null(s);
  if (!strstr(err.msg, mpath)) fail_msg("message lacks %s: %s", mpath, err.msg);
}

/* ---- images --------------------------------------------------------------------------------- */

static void test_missing_image(void **state) {
  fixture *fx = *state;
  files f;
  main_set(fx, &f);
  /* image 7 does not exist: the loader looks for it when opening */
  static const q_item q7[] = {{701, 7, "where is it?", "here", {0}}};
  const char *q = put_questions(fx, "q7.json", q7, 1, "val2014");
  char qpath[1100], img[1100];
  snprintf(qpath, sizeof qpath, "%s", q);
  snprintf(img, sizeof img, "%s", path_of(fx, "7.png"));
  static const char *const v[] = {"here"};
  open_fail(fx, qpath, NULL, NULL, v, 1, CLIPPO_E_NOTFOUND, qpath, img, "701", NULL);
  /* an image removed after opening: clippo_task_set_input names it */
  static const q_item q8[] = {{801, 8, "where is it?", "here", {0}}};
  put_png(fx, "8.png", 8, 8, 1, 2, 3);
  q = put_questions(fx, "q8.json", q8, 1, "val2014");
  clippo_task_set *s = open_ok(fx, q, NULL, NULL, v, 1, 0, 0);
  snprintf(img, sizeof img, "%s", path_of(fx, "8.png"));
  assert_int_equal(unlink(img), 0);
  float *dst = malloc((size_t)32 * 32 * 3 * sizeof *dst);
  clippo_error err;
  assert_int_not_equal(clippo_task_set_input(s, 0, fx->font, 32, dst, &err), CLIPPO_OK);
  if (!strstr(err.msg, img)) fail_msg("message lacks the image %s: %s", img, err.msg);
  free(dst);
  clippo_task_set_free(s);
}

/* ---- unlabelled sets and evaluation ---------------------------------------------------------- */

static void test_unlabelled(void **state) {
  fixture *fx = *state;
  files f;
  main_set(fx, &f);
  static const char *const vocab[] = {"yes", "cat", "2"};
  clippo_task_set *s = open_ok(fx, f.q, NULL, NULL, vocab, 3, 0, 0);
  assert_int_equal(clippo_task_set_size(s), NQ);
  expect_classes(s, vocab, 3);
  for (size_t i = 0; i < NQ; i++) assert_int_equal(clippo_task_set_label(s, i), -1);
  assert_true(has_metric(s, "vqa_accuracy"));
  clippo_error err;
  assert_int_equal(clippo_task_set_require_targets(s, &err), CLIPPO_E_FORMAT);
  float pred[NQ * 3] = {0};
  clippo_task_metrics m;
  assert_int_not_equal(clippo_task_set_evaluate(s, pred, &m, &err), CLIPPO_OK);
  /* still renders */
  float *dst = malloc((size_t)32 * 32 * 3 * sizeof *dst);
  TEST_OK(clippo_task_set_input(s, 8, fx->font, 32, dst, &err), &err);
  free(dst);
  clippo_task_set_free(s);
  /* no annotations and no vocabulary: no answers to predict */
  open_fail(fx, f.q, NULL, NULL, NULL, 0, CLIPPO_E_ARG, f.q, NULL);
}

static void test_evaluate(void **state) {
  fixture *fx = *state;
  put_png(fx, "1.png", 8, 8, 10, 20, 30);
  static const q_item ev[] = {
      {11,
       1,
       "what is it?",
       "dog",
       {"dog", "cat", "dog", "dog", "dog", "dog", "cat", "dog", "dog", "dog"}},
      {12, 1, "is it?", "yes", {0}},
      {13, 1, "how many?", "2", {"3", "2", "3", "3", "2", "3", "3", "2", "3", "3"}},
      {14, 1, "and this?", "cat", {0}},
  };
  const char *q = put_questions(fx, "qe.json", ev, 4, "val2014");
  char qpath[1100];
  snprintf(qpath, sizeof qpath, "%s", q);
  const char *a = put_annotations(fx, "ae.json", ev, NULL, 4);
  clippo_task_set *s = open_ok(fx, qpath, a, NULL, NULL, 0, 10, 0);
  static const char *const cls[] = {"dog", "yes", "2", "cat"};
  expect_classes(s, cls, 4);
  /* predictions: cat, dog, 2, cat. VQA accuracy (10 answers: the mean over the 10 leave-one-out
   * subsets of 9 of min(matches / 3, 1)):
   *   11 "cat", 2 of 10: (2 * 1/3 + 8 * 2/3) / 10 = 0.6
   *   12 "dog", 0 of 10: 0
   *   13 "2", 3 of 10: (3 * 2/3 + 7 * 1) / 10 = 0.9
   *   14 "cat", 10 of 10: 1
   * mean 2.5 / 4 = 0.625; exact match with the label: 13 and 14, 0.5 */
  const float logits[4 * 4] = {0, 0, 0, 5, 1, 0.5f, 0, 0, -1, -2, 3, 2.9f, 0, 0, 0, 0.1f};
  clippo_task_metrics m;
  clippo_error err;
  TEST_OK(clippo_task_set_evaluate(s, logits, &m, &err), &err);
  assert_int_equal(m.count, 4);
  assert_true(fabs(m.vqa_accuracy - 0.625) < 1e-9);
  if (has_metric(s, "accuracy")) assert_true(fabs(m.accuracy - 0.5) < 1e-9);
  assert_true(fabs(clippo_metric_vqa("cat", ev[0].answers, 10) - 0.6) < 1e-12);
  assert_true(fabs(clippo_metric_vqa("2", ev[2].answers, 10) - 0.9) < 1e-12);
  clippo_task_set_free(s);

  /* top 3: "cat" (14) has no label but its answers still count for the VQA accuracy.
   * predictions dog (1), yes (1), 2 (0.9), dog (0): 2.9 / 4 = 0.725; accuracy over the labelled
   * three: 1 */
  s = open_ok(fx, qpath, a, NULL, NULL, 0, 3, 0);
  expect_classes(s, cls, 3);
  assert_int_equal(clippo_task_set_label(s, 3), -1);
  const float l3[4 * 3] = {1, 0, 0, 0, 1, 0, 0, 0, 1, 1, 0, 0};
  TEST_OK(clippo_task_set_evaluate(s, l3, &m, &err), &err);
  assert_int_equal(m.count, 4);
  assert_true(fabs(m.vqa_accuracy - 0.725) < 1e-9);
  if (has_metric(s, "accuracy")) assert_true(fabs(m.accuracy - 1.0) < 1e-9);
  clippo_task_set_free(s);
}

/* ---- rendering ------------------------------------------------------------------------------ */

#define S 32

static float *render(const fixture *fx, const clippo_task_set *s, size_t i) {
  float *img = malloc((size_t)S * S * 3 * sizeof *img);
  clippo_error err;
  TEST_OK(clippo_task_set_input(s, i, fx->font, S, img, &err), &err);
  return img;
}

static float *render_plain(const fixture *fx, const char *text) {
  float *img = malloc((size_t)S * S * 3 * sizeof *img);
  clippo_render_opts o;
  clippo_render_opts_default(&o, S);
  clippo_error err;
  TEST_OK(clippo_render_text(fx->font, &o, text, strlen(text), CLIPPO_F32, 3, img, &err), &err);
  return img;
}

/* Rows [r0, r1) hold more than one value. */
static int varies(const float *img, int r0, int r1) {
  float lo = img[(size_t)r0 * S * 3], hi = lo;
  for (size_t k = (size_t)r0 * S * 3; k < (size_t)r1 * S * 3; k++) {
    lo = img[k] < lo ? img[k] : lo;
    hi = img[k] > hi ? img[k] : hi;
  }
  return hi > lo;
}

/* Rows [r0, S): the rectangle [x0, x0 + w) x [y0, y0 + h) has colour rgb, the rest the
 * background grey 127. */
static void expect_band(const float *img, int r0, int x0, int y0, int w, int h, const int *rgb) {
  const float grey = -1.0f + 2.0f * (127.0f / 255.0f);
  for (int y = r0; y < S; y++)
    for (int x = 0; x < S; x++)
      for (int c = 0; c < 3; c++) {
        const int in = x >= x0 && x < x0 + w && y >= y0 && y < y0 + h;
        const float want = in ? -1.0f + 2.0f * ((float)rgb[c] / 255.0f) : grey;
        const float got = img[((size_t)y * S + (size_t)x) * 3 + (size_t)c];
        if (fabsf(got - want) > 1e-5f)
          fail_msg("pixel (row %d, col %d, channel %d) = %g, expected %g (%s)", y, x, c,
                   (double)got, (double)want, in ? "image" : "background");
      }
}

static void test_render(void **state) {
  fixture *fx = *state;
  /* square, tall and wide images of one colour */
  put_png(fx, "21.png", 40, 40, 200, 100, 50);
  put_png(fx, "22.png", 10, 40, 0, 255, 30);
  put_png(fx, "23.png", 64, 8, 255, 0, 128);
  static const q_item qs[] = {
      {210, 21, "what colour is the square?", "orange", {0}},
      {220, 22, "is it tall?", "yes", {0}},
      {230, 23, "is it wide?", "yes", {0}},
  };
  const char *q = put_questions(fx, "qr.json", qs, 3, "val2014");
  char qpath[1100];
  snprintf(qpath, sizeof qpath, "%s", q);
  static const char *const v[] = {"yes", "orange"};

  clippo_task_set *s = open_ok(fx, qpath, NULL, "top:0.5", v, 2, 0, 0);
  assert_string_equal(clippo_task_set_layout(s), "top:0.5");
  float *got = render(fx, s, 0), *text = render_plain(fx, qs[0].question);
  /* rows < 16: the first 16 rows of the rendered question */
  assert_true(varies(got, 0, S / 2));
  assert_memory_equal(got, text, (size_t)(S / 2) * S * 3 * sizeof *got);
  /* rows >= 16: 40x40 -> 16x16, centred: columns 8..23 */
  static const int c0[3] = {200, 100, 50};
  expect_band(got, S / 2, 8, 16, 16, 16, c0);
  free(got);
  free(text);
  /* 10x40 -> 4x16 at columns 14..17 */
  got = render(fx, s, 1);
  static const int c1[3] = {0, 255, 30};
  expect_band(got, S / 2, 14, 16, 4, 16, c1);
  assert_true(varies(got, 0, S / 2));
  free(got);
  /* 64x8 -> 32x4 at rows 16 + 6 .. 16 + 9 */
  got = render(fx, s, 2);
  static const int c2[3] = {255, 0, 128};
  expect_band(got, S / 2, 0, 22, 32, 4, c2);
  free(got);
  clippo_task_set_free(s);

  /* another fraction: 8 question rows, a 24-row band; 40x40 -> 24x24 at columns 4..27 */
  s = open_ok(fx, qpath, NULL, "top:0.25", v, 2, 0, 0);
  assert_string_equal(clippo_task_set_layout(s), "top:0.25");
  got = render(fx, s, 0);
  text = render_plain(fx, qs[0].question);
  assert_memory_equal(got, text, (size_t)(S / 4) * S * 3 * sizeof *got);
  expect_band(got, S / 4, 4, 8, 24, 24, c0);
  free(got);
  free(text);
  clippo_task_set_free(s);

  /* bad layouts name themselves */
  open_fail(fx, qpath, NULL, "top:2", v, 2, CLIPPO_E_ARG, "top:2", NULL);
  open_fail(fx, qpath, NULL, "left", v, 2, CLIPPO_E_ARG, "'left'", NULL);
  open_fail(fx, qpath, NULL, "top:0", v, 2, CLIPPO_E_ARG, "top:0", NULL);
  open_fail(fx, qpath, NULL, "top:0.5x", v, 2, CLIPPO_E_ARG, "top:0.5x", NULL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_match_vocab), cmocka_unit_test(test_mismatch),
      cmocka_unit_test(test_json_errors), cmocka_unit_test(test_missing_image),
      cmocka_unit_test(test_unlabelled),  cmocka_unit_test(test_evaluate),
      cmocka_unit_test(test_render),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
