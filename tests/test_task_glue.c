/* The GLUE/TSV loader (clippo_task_open_glue, clippo/finetune.h) on temporary files in every
 * GLUE TSV shape (train/dev with labels, test without; CoLA's header-less files, MRPC's byte
 * order mark and CR LF, MNLI's many columns and quote characters) and plain `text<TAB>label`
 * files: sizes, labels, scores, ids, texts, classes, metrics, describe; the errors (missing file,
 * missing columns, empty sentence, invalid UTF-8, NUL bytes, bad score, unknown label, empty
 * file, unknown task, bad layout, wrong vocabulary) name the file and the line; the limit; and
 * clippo_task_set_input renders each text layout as documented (text, join:SEP, split). */
#include "support.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clippo/finetune.h"

typedef test_font_fixture fixture;

static int setup(void **state) { return test_font_fixture_setup(state); }

static int teardown(void **state) { return test_font_fixture_teardown(state); }

/* Writes len bytes (strlen when len is 0) to DIR/name; returns the path (static buffer
 * rotation: valid for a few calls). */
static const char *put(fixture *fx, const char *name, const char *data, size_t len) {
  static char paths[8][1100];
  static int next;
  char *p = paths[next++ % 8];
  snprintf(p, 1100, "%s/%s", fx->dir, name);
  FILE *f = fopen(p, "wb");
  assert_non_null(f);
  if (!len) len = strlen(data);
  assert_int_equal(fwrite(data, 1, len, f), len);
  fclose(f);
  return p;
}

static clippo_task_set *open_ok(const char *task, const char *path, const char *layout,
                                const char *const *vocab, size_t nvocab, size_t limit) {
  clippo_task_set *s = NULL;
  clippo_error err;
  TEST_OK(clippo_task_open_glue(task, path, layout, vocab, nvocab, limit, &s, &err), &err);
  assert_non_null(s);
  return s;
}

/* Opening fails with status want and a message holding every needle (the arguments after want,
 * ending with NULL). */
static void open_fail_(const char *task, const char *path, const char *layout,
                       const char *const *vocab, size_t nvocab, clippo_status want,
                       const char *const *needles) {
  clippo_task_set *s = (clippo_task_set *)1;
  clippo_error err;
  clippo_status st = clippo_task_open_glue(task, path, layout, vocab, nvocab, 0, &s, &err);
  if (st != want)
    fail_msg("%s %s: expected %s, got %s: %s", task, path, clippo_status_name(want),
             clippo_status_name(st), st ? err.msg : "");
  assert_null(s);
  for (size_t k = 0; needles[k]; k++)
    if (!strstr(err.msg, needles[k])) fail_msg("message lacks '%s': %s", needles[k], err.msg);
}
#define open_fail(task, path, layout, vocab, nvocab, want, ...)                                    \
  open_fail_(task, path, layout, vocab, nvocab, want, (const char *const[]){__VA_ARGS__})

static void expect_id(const clippo_task_set *s, size_t i, const char *want) {
  char id[64];
  clippo_task_set_example_id(s, i, id, sizeof id);
  assert_string_equal(id, want);
}

static void expect_classes(const clippo_task_set *s, const char *const *want, size_t n) {
  assert_int_equal(clippo_task_set_num_classes(s), n);
  for (size_t c = 0; c < n; c++) assert_string_equal(clippo_task_set_class(s, c), want[c]);
}

static void expect_metrics(const clippo_task_set *s, const char *a, const char *b) {
  const char *names[8];
  size_t n = clippo_task_set_metric_names(s, names, 8);
  assert_int_equal(n, b ? 2 : 1);
  assert_string_equal(names[0], a);
  if (b) assert_string_equal(names[1], b);
}

/* ---- the GLUE formats ----------------------------------------------------------------------- */

static void test_sst2(void **state) {
  fixture *fx = *state;
  const char *p = put(fx, "train.tsv",
                      "sentence\tlabel\n"
                      "hide new secretions from the parental units \t0\n"
                      "that loves its characters and communicates something \t1\n"
                      "\n"
                      "remains utterly satisfied to remain the same throughout \t0\n",
                      0);
  clippo_task_set *s = open_ok("sst2", p, NULL, NULL, 0, 0);
  assert_int_equal(clippo_task_set_size(s), 3);
  assert_int_equal(clippo_task_set_kind(s), CLIPPO_TASK_CLASSES);
  static const char *const bin[] = {"0", "1"};
  expect_classes(s, bin, 2);
  assert_int_equal(clippo_task_set_label(s, 0), 0);
  assert_int_equal(clippo_task_set_label(s, 1), 1);
  assert_int_equal(clippo_task_set_label(s, 2), 0);
  expect_id(s, 0, "2"); /* no index column: the line number */
  expect_id(s, 2, "5");
  assert_string_equal(clippo_task_set_task(s), "glue:sst2");
  assert_string_equal(clippo_task_set_layout(s), "text");
  assert_string_equal(clippo_task_set_describe(s), "glue:sst2 train.tsv (3 examples)");
  expect_metrics(s, "accuracy", NULL);
  clippo_error err;
  TEST_OK(clippo_task_set_require_targets(s, &err), &err);
  clippo_task_set_free(s);

  p = put(fx, "test.tsv",
          "index\tsentence\n0\tuneasy mishmash of styles and genres .\n1\tthis film 's "
          "relationship to actual tension is the same as what christmas-tree flocking in a "
          "spray can is to actual snow : a poor -- if durable -- imitation .\n",
          0);
  static const char *const vocab[] = {"0", "1"};
  s = open_ok("sst2", p, "text", vocab, 2, 0);
  assert_int_equal(clippo_task_set_size(s), 2);
  assert_int_equal(clippo_task_set_label(s, 0), -1);
  assert_int_equal(clippo_task_set_label(s, 1), -1);
  expect_id(s, 1, "1");
  assert_int_equal(clippo_task_set_require_targets(s, &err), CLIPPO_E_FORMAT);
  clippo_task_set_free(s);
}

static void test_cola(void **state) {
  fixture *fx = *state;
  const char *p = put(fx, "in_domain_train.tsv",
                      "gj04\t1\t\tOur friends won't buy this analysis, let alone the next one we "
                      "propose.\n"
                      "gj04\t0\t*\tOne more pseudo generalization and I'm giving up.\n"
                      "gj04\t1\t\tThe \"more\" we study verbs, the crazier they get.\n",
                      0);
  clippo_task_set *s = open_ok("cola", p, NULL, NULL, 0, 0);
  assert_int_equal(clippo_task_set_size(s), 3);
  assert_int_equal(clippo_task_set_label(s, 0), 1);
  assert_int_equal(clippo_task_set_label(s, 1), 0);
  expect_id(s, 0, "1");
  expect_id(s, 2, "3");
  expect_metrics(s, "matthews", NULL);
  clippo_task_set_free(s);
  p = put(fx, "test.tsv", "index\tsentence\n0\tBill whistled past the house.\n", 0);
  s = open_ok("cola", p, NULL, NULL, 0, 0);
  assert_int_equal(clippo_task_set_size(s), 1);
  assert_int_equal(clippo_task_set_label(s, 0), -1);
  expect_id(s, 0, "0");
  clippo_task_set_free(s);
  /* a header-less CoLA line with 3 columns */
  p = put(fx, "bad.tsv", "gj04\t1\t\tFine.\ngj04\t1\tNo marker column.\n", 0);
  open_fail("cola", p, NULL, NULL, 0, CLIPPO_E_FORMAT, p, ":2:", "3 columns", NULL);
}

#define MNLI_HEAD                                                                                  \
  "index\tpromptID\tpairID\tgenre\tsentence1_binary_parse\tsentence2_binary_parse\tsentence1_"     \
  "parse\tsentence2_parse\tsentence1\tsentence2"

static void test_mnli(void **state) {
  fixture *fx = *state;
  const char *p = put(
      fx, "train.tsv",
      MNLI_HEAD "\tlabel1\tgold_label\n"
                "0\t31193\t31193n\tgovernment\t( ( Conceptually ...\t( ...\t(ROOT ...)\t(ROOT "
                "...)\tConceptually cream skimming has two basic dimensions - product and "
                "geography.\tProduct and geography are what make cream skimming "
                "work. \tneutral\tneutral\n"
                "1\t101457\t101457e\ttelephone\t( you ...\t( ...\t(ROOT ...)\t(ROOT ...)\t\"you "
                "know during the season and i guess\tYou lose the things to the following "
                "level if the people recall.\tentailment\tentailment\n"
                "2\t134793\t134793e\tfiction\tx\ty\tx\ty\tOne of our number will carry out "
                "your instructions minutely.\tA member of my team will execute your orders "
                "with immense precision.\tcontradiction\tcontradiction\n",
      0);
  clippo_task_set *s = open_ok("mnli", p, NULL, NULL, 0, 0);
  static const char *const cls[] = {"contradiction", "entailment", "neutral"};
  expect_classes(s, cls, 3);
  assert_int_equal(clippo_task_set_size(s), 3);
  assert_int_equal(clippo_task_set_label(s, 0), 2);
  assert_int_equal(clippo_task_set_label(s, 1), 1);
  assert_int_equal(clippo_task_set_label(s, 2), 0);
  expect_id(s, 1, "1");
  assert_string_equal(clippo_task_set_layout(s), "join: | ");
  clippo_task_set_free(s);
  /* dev_matched: label1..label5 then gold_label */
  p = put(fx, "dev_matched.tsv",
          MNLI_HEAD "\tlabel1\tlabel2\tlabel3\tlabel4\tlabel5\tgold_label\n"
                    "9815\t63735\t63735n\tslate\ta\tb\ta\tb\tThe new rights are nice enough\t"
                    "Everyone really likes the newest benefits \tneutral\tentailment\tneutral\t"
                    "neutral\tneutral\tneutral\n",
          0);
  s = open_ok("mnli", p, "split", cls, 3, 0);
  assert_int_equal(clippo_task_set_label(s, 0), 2);
  expect_id(s, 0, "9815");
  assert_string_equal(clippo_task_set_layout(s), "split");
  clippo_task_set_free(s);
  /* test: no label column */
  p = put(fx, "test_matched.tsv",
          MNLI_HEAD "\n0\t31349\t31349\tgovernment\ta\tb\ta\tb\tHierbas, ans seco, ans dulce, "
                    "and frigola are just a few names worth keeping a look-out for.\tHierbas is a "
                    "name worth looking out for.\n",
          0);
  s = open_ok("mnli", p, NULL, cls, 3, 0);
  assert_int_equal(clippo_task_set_size(s), 1);
  assert_int_equal(clippo_task_set_label(s, 0), -1);
  clippo_task_set_free(s);
  /* a malformed row (the sentence2 column and what follows are missing) */
  p = put(fx, "bad.tsv",
          MNLI_HEAD "\tlabel1\tgold_label\n"
                    "0\t1\t1n\tfiction\ta\tb\ta\tb\tS1.\tS2.\tneutral\tneutral\n"
                    "1\t2\t2n\tfiction\ta\tb\ta\tb\tS1 \"with a quote\n",
          0);
  open_fail("mnli", p, NULL, NULL, 0, CLIPPO_E_FORMAT, p, ":3:", "9 columns", "has 12", NULL);
  /* gold_label '-' is not a class */
  p = put(fx, "bad2.tsv",
          MNLI_HEAD "\tlabel1\tgold_label\n0\t1\t1n\tfiction\ta\tb\ta\tb\tS1.\tS2.\tneutral\t-\n",
          0);
  open_fail("mnli", p, NULL, NULL, 0, CLIPPO_E_FORMAT, p, ":2:", "unknown label '-'",
            "contradiction, entailment, neutral", NULL);
}

static void test_qqp(void **state) {
  fixture *fx = *state;
  const char *p =
      put(fx, "dev.tsv",
          "id\tqid1\tqid2\tquestion1\tquestion2\tis_duplicate\n"
          "133273\t213221\t213222\tHow is the life of a math student? Could you describe your "
          "own experiences?\tWhich level of prepration is enough for the exam jlpt5?\t0\n"
          "402555\t536040\t536041\tHow do I control my horny emotions?\tHow do you control "
          "your horniness?\t1\n",
          0);
  clippo_task_set *s = open_ok("qqp", p, NULL, NULL, 0, 0);
  assert_int_equal(clippo_task_set_size(s), 2);
  assert_int_equal(clippo_task_set_label(s, 0), 0);
  assert_int_equal(clippo_task_set_label(s, 1), 1);
  expect_id(s, 0, "133273");
  expect_metrics(s, "accuracy", "f1");
  clippo_task_set_free(s);
  p = put(fx, "test.tsv",
          "id\tquestion1\tquestion2\n0\tWhy am I mentally very lonely? How can I solve "
          "it?\tFind the remainder when [math]23^{24}[/math] is divided by 24,23?\n",
          0);
  s = open_ok("qqp", p, NULL, NULL, 0, 0);
  assert_int_equal(clippo_task_set_label(s, 0), -1);
  expect_id(s, 0, "0");
  clippo_task_set_free(s);
  /* an empty question */
  p = put(fx, "bad.tsv",
          "id\tqid1\tqid2\tquestion1\tquestion2\tis_duplicate\n1\t2\t3\tq?\tr?\t0\n"
          "4\t5\t6\tHow?\t \t0\n",
          0);
  open_fail("qqp", p, NULL, NULL, 0, CLIPPO_E_FORMAT, p, ":3:", "empty question2", NULL);
}

static void test_qnli_rte(void **state) {
  fixture *fx = *state;
  const char *p =
      put(fx, "qnli_dev.tsv",
          "index\tquestion\tsentence\tlabel\n"
          "0\tWhat came into force after the new constitution was herald?\tAs of that day, the "
          "new constitution heralding the Second Republic came into force.\tentailment\n"
          "1\tWhat is the first major city in the stream of the Rhine?\tThe most important "
          "tributaries in this area are the Ill below of Strasbourg.\tnot_entailment\n",
          0);
  clippo_task_set *s = open_ok("qnli", p, NULL, NULL, 0, 0);
  static const char *const ent[] = {"entailment", "not_entailment"};
  expect_classes(s, ent, 2);
  assert_int_equal(clippo_task_set_label(s, 0), 0);
  assert_int_equal(clippo_task_set_label(s, 1), 1);
  clippo_task_set_free(s);
  p = put(fx, "dev.tsv",
          "index\tsentence1\tsentence2\tlabel\n"
          "0\tDana Reeve, the widow of the actor Christopher Reeve, has died of lung cancer at "
          "age 44.\tChristopher Reeve had an accident.\tnot_entailment\n"
          "1\tYet, we now are discovering that antibiotics are losing their effectiveness.\t"
          "Bacteria is winning the war against antibiotics.\tentailment\n"
          "2\tA.\tB.\tentailment\n",
          0);
  s = open_ok("rte", p, "join: [SEP] ", NULL, 0, 2);
  assert_int_equal(clippo_task_set_size(s), 2); /* limit */
  assert_int_equal(clippo_task_set_label(s, 0), 1);
  assert_string_equal(clippo_task_set_layout(s), "join: [SEP] ");
  assert_string_equal(clippo_task_set_describe(s), "glue:rte dev.tsv (2 examples)");
  clippo_task_set_free(s);
  /* a missing column */
  p = put(fx, "rte_bad.tsv",
          "index\tsentence1\tsentence2\tlabel\n0\tA.\tB.\tentailment\n1\tA.\tentailment\n", 0);
  open_fail("rte", p, NULL, NULL, 0, CLIPPO_E_FORMAT, p, ":3:", "3 columns", "has 4", NULL);
  /* a file without the sentence columns */
  p = put(fx, "rte_nohead.tsv", "0\tA.\tB.\tentailment\n", 0);
  open_fail("rte", p, NULL, NULL, 0, CLIPPO_E_FORMAT, p, ":1:", "sentence1", NULL);
}

static void test_mrpc(void **state) {
  fixture *fx = *state;
  /* GLUE's MRPC files start with a byte order mark and end lines with CR LF */
  const char *p = put(fx, "train.tsv",
                      "\xEF\xBB\xBFQuality\t#1 ID\t#2 ID\t#1 String\t#2 String\r\n"
                      "1\t702876\t702977\tAmrozi accused his brother , whom he called \" the "
                      "witness \" , of deliberately distorting his evidence .\tReferring to him "
                      "as only \" the witness \" , Amrozi accused his brother of deliberately "
                      "distorting his evidence .\r\n"
                      "0\t2108705\t2108831\tYucaipa owned Dominick 's before selling the chain "
                      "to Safeway in 1998 for $ 2.5 billion .\tYucaipa bought Dominick 's in "
                      "1995 for $ 693 million and sold it to Safeway for $ 1.8 billion in "
                      "1998 .\r\n",
                      0);
  clippo_task_set *s = open_ok("mrpc", p, NULL, NULL, 0, 0);
  assert_int_equal(clippo_task_set_size(s), 2);
  assert_int_equal(clippo_task_set_label(s, 0), 1);
  assert_int_equal(clippo_task_set_label(s, 1), 0);
  expect_id(s, 0, "2");
  expect_metrics(s, "accuracy", "f1");
  clippo_task_set_free(s);
  p = put(fx, "test.tsv",
          "index\t#1 ID\t#2 ID\t#1 String\t#2 String\n0\t1089874\t1089925\tPCCW 's chief "
          "operating officer , Mike Butcher , and Alex Arena , the chief financial officer , "
          "will report directly to Mr So .\tCurrent Chief Operating Officer Mike Butcher and "
          "Group Chief Financial Officer Alex Arena will report to So .\n",
          0);
  s = open_ok("mrpc", p, NULL, NULL, 0, 0);
  assert_int_equal(clippo_task_set_label(s, 0), -1);
  expect_id(s, 0, "0");
  clippo_task_set_free(s);
}

#define STSB_HEAD "index\tgenre\tfilename\tyear\told_index\tsource1\tsource2\tsentence1\tsentence2"

static void test_stsb(void **state) {
  fixture *fx = *state;
  const char *p = put(fx, "dev.tsv",
                      STSB_HEAD "\tscore\n"
                                "0\tmain-captions\tMSRvid\t2012test\t0000\tnone\tnone\tA man "
                                "with a hard hat is dancing.\tA man wearing a hard hat is "
                                "dancing.\t5.000\n"
                                "1\tmain-captions\tMSRvid\t2012test\t0002\tnone\tnone\tA young "
                                "child is riding a horse.\tA child is riding a horse.\t4.750\n",
                      0);
  clippo_task_set *s = open_ok("stsb", p, NULL, NULL, 0, 0);
  assert_int_equal(clippo_task_set_kind(s), CLIPPO_TASK_SCORE);
  assert_int_equal(clippo_task_set_num_classes(s), 0);
  assert_int_equal(clippo_task_set_outputs(s), 1);
  assert_true(clippo_task_set_score(s, 0) == 5.0);
  assert_true(clippo_task_set_score(s, 1) == 4.75);
  expect_metrics(s, "pearson", "spearman");
  clippo_task_set_free(s);
  p = put(fx, "test.tsv",
          STSB_HEAD "\n0\tmain-captions\tMSRvid\t2012test\t0024\tnone\tnone\tA girl is styling "
                    "her hair.\tA girl is brushing her hair.\n",
          0);
  s = open_ok("stsb", p, NULL, NULL, 0, 0);
  assert_true(isnan(clippo_task_set_score(s, 0)));
  clippo_task_set_free(s);
  p = put(fx, "bad.tsv", STSB_HEAD "\tscore\n0\tg\tf\ty\to\ts\ts\tA.\tB.\tabc\n", 0);
  open_fail("stsb", p, NULL, NULL, 0, CLIPPO_E_FORMAT, p, ":2:", "bad score 'abc'", NULL);
  p = put(fx, "bad2.tsv", STSB_HEAD "\tscore\n0\tg\tf\ty\to\ts\ts\tA.\tB.\t7\n", 0);
  open_fail("stsb", p, NULL, NULL, 0, CLIPPO_E_FORMAT, p, ":2:", "bad score '7'", NULL);
  static const char *const v[] = {"0", "1"};
  open_fail("stsb", p, NULL, v, 2, CLIPPO_E_ARG, "score", NULL);
}

static void test_tsv(void **state) {
  fixture *fx = *state;
  const char *p = put(fx, "train.tsv",
                      "text\tlabel\nthe cat sat\tzeta\nhello world\talpha\n"
                      "\"quoted\" text\tmid\nagain\talpha\n",
                      0);
  clippo_task_set *s = open_ok("tsv", p, NULL, NULL, 0, 0);
  static const char *const cls[] = {"alpha", "mid", "zeta"};
  expect_classes(s, cls, 3);
  assert_int_equal(clippo_task_set_size(s), 4);
  assert_int_equal(clippo_task_set_label(s, 0), 2);
  assert_int_equal(clippo_task_set_label(s, 1), 0);
  assert_int_equal(clippo_task_set_label(s, 2), 1);
  assert_int_equal(clippo_task_set_label(s, 3), 0);
  expect_id(s, 0, "2");
  assert_string_equal(clippo_task_set_task(s), "tsv");
  assert_string_equal(clippo_task_set_describe(s), "tsv train.tsv (4 examples)");
  clippo_task_set_free(s);
  /* no header; the training vocabulary defines the indices */
  static const char *const v[] = {"zeta", "alpha", "mid", "extra"};
  p = put(fx, "dev.tsv", "a b\tmid\nc d\tzeta\n", 0);
  s = open_ok("tsv", p, NULL, v, 4, 0);
  assert_int_equal(clippo_task_set_num_classes(s), 4);
  assert_int_equal(clippo_task_set_label(s, 0), 2);
  assert_int_equal(clippo_task_set_label(s, 1), 0);
  expect_id(s, 0, "1");
  clippo_task_set_free(s);
  /* a label outside the vocabulary */
  p = put(fx, "dev2.tsv", "text\tlabel\na b\tmid\nc d\tnope\n", 0);
  open_fail("tsv", p, NULL, v, 4, CLIPPO_E_FORMAT, p, ":3:", "unknown label 'nope'",
            "labels: zeta, alpha, mid, extra", NULL);
  /* unlabelled (text only) */
  p = put(fx, "test.tsv", "text\nfirst\nsecond\n", 0);
  s = open_ok("tsv", p, NULL, v, 4, 0);
  assert_int_equal(clippo_task_set_size(s), 2);
  assert_int_equal(clippo_task_set_label(s, 1), -1);
  clippo_task_set_free(s);
  /* three columns */
  p = put(fx, "bad.tsv", "text\tlabel\na\tb\nx\ty\tz\n", 0);
  open_fail("tsv", p, NULL, NULL, 0, CLIPPO_E_FORMAT, p, ":3:", "3 columns", NULL);
  p = put(fx, "bad3.tsv", "text\tlabel\na\tb\nx\t\n", 0);
  open_fail("tsv", p, NULL, NULL, 0, CLIPPO_E_FORMAT, p, ":3:", "empty label", NULL);
}

/* ---- errors --------------------------------------------------------------------------------- */

static void test_errors(void **state) {
  fixture *fx = *state;
  char missing[1200];
  snprintf(missing, sizeof missing, "%s/nope.tsv", fx->dir);
  open_fail("sst2", missing, NULL, NULL, 0, CLIPPO_E_IO, missing, NULL);
  open_fail("glue", missing, NULL, NULL, 0, CLIPPO_E_ARG, "'glue'", "sst2", "stsb", "tsv", NULL);
  const char *p = put(fx, "empty.tsv", "", 0);
  open_fail("sst2", p, NULL, NULL, 0, CLIPPO_E_FORMAT, p, "empty file", NULL);
  p = put(fx, "blank_lines.tsv", "\n\r\n", 0);
  open_fail("tsv", p, NULL, NULL, 0, CLIPPO_E_FORMAT, p, "empty file", NULL);
  p = put(fx, "head.tsv", "sentence\tlabel\n", 0);
  open_fail("sst2", p, NULL, NULL, 0, CLIPPO_E_FORMAT, p, "no examples", NULL);
  p = put(fx, "label.tsv", "sentence\tlabel\ngood\t1\nbad\t2\n", 0);
  open_fail("sst2", p, NULL, NULL, 0, CLIPPO_E_FORMAT, p, ":3:", "unknown label '2'",
            "(labels: 0, 1)", NULL);
  p = put(fx, "utf8.tsv",
          "sentence\tlabel\ngood\t1\nb\xff"
          "d\t0\n",
          0);
  open_fail("sst2", p, NULL, NULL, 0, CLIPPO_E_FORMAT, p, ":3:", "UTF-8", NULL);
  p = put(fx, "overlong.tsv", "sentence\tlabel\n\xc0\xaf\t1\n", 0);
  open_fail("sst2", p, NULL, NULL, 0, CLIPPO_E_FORMAT, p, ":2:", "UTF-8", NULL);
  static const char nul[] = "sentence\tlabel\ngood\t1\nba\0d\t0\n";
  p = put(fx, "nul.tsv", nul, sizeof nul - 1);
  open_fail("sst2", p, NULL, NULL, 0, CLIPPO_E_FORMAT, p, ":3:", "NUL", NULL);
  p = put(fx, "blank.tsv", "sentence\tlabel\ngood\t1\n  \t0\n", 0);
  open_fail("sst2", p, NULL, NULL, 0, CLIPPO_E_FORMAT, p, ":3:", "empty sentence", NULL);
  /* layouts */
  p = put(fx, "ok.tsv", "sentence\tlabel\ngood\t1\n", 0);
  open_fail("sst2", p, "split", NULL, 0, CLIPPO_E_ARG, "'split'", NULL);
  open_fail("sst2", p, "join: | ", NULL, 0, CLIPPO_E_ARG, "'join: | '", NULL);
  open_fail("sst2", p, "diagonal", NULL, 0, CLIPPO_E_ARG, "'diagonal'", "join:SEP", NULL);
  p = put(fx, "pair.tsv", "index\tsentence1\tsentence2\tlabel\n0\tA.\tB.\tentailment\n", 0);
  open_fail("rte", p, "text", NULL, 0, CLIPPO_E_ARG, "'text'", NULL);
  /* the training vocabulary of a GLUE task must be the task's */
  static const char *const v[] = {"entailment", "contradiction"};
  open_fail("rte", p, NULL, v, 2, CLIPPO_E_ARG, "entailment, not_entailment", NULL);
  /* tsv vocabulary with a duplicate */
  static const char *const dup[] = {"a", "a"};
  p = put(fx, "t.tsv", "x\ta\n", 0);
  open_fail("tsv", p, NULL, dup, 2, CLIPPO_E_ARG, "twice", NULL);
}

/* ---- rendering ------------------------------------------------------------------------------ */

#define S 64

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

static void test_render_layouts(void **state) {
  fixture *fx = *state;
  const char *p = put(fx, "single.tsv", "sentence\tlabel\nA fine film\t1\n", 0);
  clippo_task_set *s = open_ok("sst2", p, NULL, NULL, 0, 0);
  float *got = render(fx, s, 0), *want = render_plain(fx, "A fine film");
  assert_true(varies(got, 0, S));
  assert_memory_equal(got, want, (size_t)S * S * 3 * sizeof *got);
  free(got);
  free(want);
  clippo_task_set_free(s);

  const char *text = "index\tsentence1\tsentence2\tlabel\n"
                     "0\tThe cat sat on the mat.\tA dog ran.\tentailment\n"
                     "1\tX\tY\tentailment\n";
  p = put(fx, "pair.tsv", text, 0);
  /* join, default separator */
  s = open_ok("rte", p, NULL, NULL, 0, 0);
  got = render(fx, s, 0);
  want = render_plain(fx, "The cat sat on the mat. | A dog ran.");
  assert_true(varies(got, 0, S));
  assert_memory_equal(got, want, (size_t)S * S * 3 * sizeof *got);
  free(got);
  free(want);
  clippo_task_set_free(s);
  /* join with another separator */
  s = open_ok("rte", p, "join: [SEP] ", NULL, 0, 0);
  got = render(fx, s, 1);
  want = render_plain(fx, "X [SEP] Y");
  assert_true(varies(got, 0, S));
  assert_memory_equal(got, want, (size_t)S * S * 3 * sizeof *got);
  free(got);
  free(want);
  clippo_task_set_free(s);
  /* split: sentence 1's first S/2 rows on top, sentence 2's first S/2 rows below */
  s = open_ok("rte", p, "split", NULL, 0, 0);
  got = render(fx, s, 0);
  float *top = render_plain(fx, "The cat sat on the mat."),
        *bottom = render_plain(fx, "A dog ran.");
  const size_t half = (size_t)(S / 2) * S * 3;
  assert_true(varies(got, 0, S / 2));
  assert_true(varies(got, S / 2, S));
  assert_memory_equal(got, top, half * sizeof *got);
  assert_memory_equal(got + half, bottom, half * sizeof *got);
  free(got);
  free(top);
  free(bottom);
  clippo_task_set_free(s);
  /* an image narrower than a glyph: an error naming the set and the example */
  s = open_ok("rte", p, NULL, NULL, 0, 0);
  float tiny[4 * 4 * 3];
  clippo_error err;
  assert_int_not_equal(clippo_task_set_input(s, 1, fx->font, 4, tiny, &err), CLIPPO_OK);
  if (!strstr(err.msg, "glue:rte pair.tsv") || !strstr(err.msg, "example 1"))
    fail_msg("message lacks the set or the example: %s", err.msg);
  clippo_task_set_free(s);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_sst2),     cmocka_unit_test(test_cola),
      cmocka_unit_test(test_mnli),     cmocka_unit_test(test_qqp),
      cmocka_unit_test(test_qnli_rte), cmocka_unit_test(test_mrpc),
      cmocka_unit_test(test_stsb),     cmocka_unit_test(test_tsv),
      cmocka_unit_test(test_errors),   cmocka_unit_test(test_render_layouts),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
