/* Task tests: canonicalisation, templates, classes, class-embedding math, top-k/softmax, IDX
 * parsing (valid and corrupt), the prompt cache, file identity, image collection, the index,
 * caption sets and recalls, and a zero-shot classifier on the tiny fixture model. */
#include "support.h"

#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "clippo/idx.h"
#include "clippo/image.h"
#include "clippo/image_write.h"
#include "clippo/tasks.h"

/* ---- helpers ------------------------------------------------------------------------------- */

static void write_file(const char *path, const void *data, size_t len) {
  FILE *fp = fopen(path, "wb");
  assert_non_null(fp);
  assert_int_equal(fwrite(data, 1, len, fp), len);
  fclose(fp);
}

static void write_gz(const char *path, const void *data, size_t len) {
  gzFile g = gzopen(path, "wb");
  assert_non_null(g);
  if (len) assert_int_equal(gzwrite(g, data, (unsigned)len), (int)len);
  gzclose(g);
}

static char *join(const char *dir, const char *name) {
  size_t n = strlen(dir) + strlen(name) + 2;
  char *p = malloc(n);
  snprintf(p, n, "%s/%s", dir, name);
  return p;
}

static void rm_rf(const char *dir) {
  char cmd[4200];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  assert_int_equal(system(cmd), 0);
}

static void check_canon(const char *in, const char *keep, const char *want) {
  char *got = clippo_canonicalize(in, strlen(in), keep);
  assert_non_null(got);
  if (strcmp(got, want))
    fail_msg("canonicalize('%s', keep '%s') = '%s', want '%s'", in, keep ? keep : "", got, want);
  free(got);
}

/* ---- canonicalisation ---------------------------------------------------------------------- */

static void test_canonicalize(void **state) {
  (void)state;
  /* big_vision's prompt_engineering_test.py */
  check_canon("test_test", NULL, "test test");
  check_canon("test___test", NULL, "test test");
  check_canon("test", NULL, "test");
  check_canon("test.", NULL, "test");
  check_canon(" test ", NULL, "test");
  check_canon("test\ntest", NULL, "test test");
  check_canon("test  test", NULL, "test test");
  check_canon("test {}", NULL, "test");
  check_canon("test {}", "{}", "test {}");
  check_canon(" test  {}...", "{}", "test {}");
  check_canon("test {}  {}  {}", "{}", "test {} {} {}");
  /* lone braces go, '{}' stays; "{{}}" splits as "{" "{}" "}" */
  check_canon("{x} {}", "{}", "x {}");
  check_canon("{{}}", "{}", "{}");
  /* class names keep ',' */
  check_canon("T-shirt/top", ",", "tshirttop");
  check_canon("Ankle boot", ",", "ankle boot");
  check_canon("tiger, Panthera tigris", ",", "tiger, panthera tigris");
  check_canon("A close-up photo of a {}.", "{}", "a closeup photo of a {}");
  check_canon("it's (a) \"test\"!?#$%&*+:;<=>@[\\]^`|~", NULL, "its a test");
  /* Unicode: lowercased like str.lower(), not punctuation, Unicode whitespace collapsed */
  check_canon("\xC3\x89"
              "COLE_Fran\xC3\x87"
              "aise",
              NULL,
              "\xC3\xA9"
              "cole fran\xC3\xA7"
              "aise");
  check_canon("\xCE\xA3\xCE\x91\xCE\xA3 \xCE\x9F\xCE\x94\xCE\x9F\xCE\xA3", NULL,
              "\xCF\x83\xCE\xB1\xCF\x82 \xCE\xBF\xCE\xB4\xCE\xBF\xCF\x82"); /* ΣΑΣ ΟΔΟΣ */
  check_canon("\xD0\x9C\xD0\x9E\xD0\xA1\xD0\x9A\xD0\x92\xD0\x90", NULL,
              "\xD0\xBC\xD0\xBE\xD1\x81\xD0\xBA\xD0\xB2\xD0\xB0");           /* МОСКВА */
  check_canon("\xC4\xB0stanbul", NULL, "i\xCC\x87stanbul");                  /* İ -> i + U+0307 */
  check_canon("\xEF\xBC\xA1\xEF\xBC\xA2", NULL, "\xEF\xBD\x81\xEF\xBD\x82"); /* fullwidth AB */
  check_canon("\xC2\xA0 a\xE3\x80\x80"
              "b\xE2\x80\x83",
              NULL, "a b"); /* NBSP, ideographic sp */
  check_canon("\xE2\x80\x94"
              "dash\xE2\x80\x94",
              NULL,
              "\xE2\x80\x94"
              "dash\xE2\x80\x94");
  check_canon("\xE7\x8B\x97", NULL, "\xE7\x8B\x97"); /* 狗 unchanged */
  /* invalid UTF-8 passes through unchanged */
  check_canon("\xFF_A\xC3", NULL,
              "\xFF"
              " a\xC3");
  check_canon("", NULL, "");
  check_canon(" _ . ", NULL, "");
}

static void test_templates(void **state) {
  (void)state;
  clippo_error err;
  size_t n = 0;
  const char *const *t = clippo_templates_builtin("clip_paper", &n);
  assert_non_null(t);
  assert_int_equal(n, 81);
  assert_int_equal(CLIPPO_CLIP_PAPER_TEMPLATES, 81);
  assert_string_equal(t[0], "a bad photo of a {}.");
  assert_string_equal(t[80], "{}");
  assert_null(clippo_templates_builtin("nope", &n));
  clippo_templates tp;
  TEST_OK(clippo_templates_load("clip_paper", 1, &tp, &err), &err);
  assert_int_equal(tp.count, 81);
  for (size_t i = 0; i < tp.count; i++) {
    const char *p = strstr(tp.items[i], "{}");
    assert_non_null(p);
    assert_null(strstr(p + 2, "{}"));
    assert_null(strchr(tp.items[i], '.'));
    assert_null(strchr(tp.items[i], '-'));
  }
  assert_string_equal(tp.items[0], "a bad photo of a {}");
  assert_string_equal(tp.items[20], "a closeup photo of a {}");
  /* all 81 are distinct after canonicalisation */
  for (size_t i = 0; i < tp.count; i++)
    for (size_t j = i + 1; j < tp.count; j++) assert_string_not_equal(tp.items[i], tp.items[j]);
  clippo_templates_free(&tp);
  TEST_OK(clippo_templates_load("none", 1, &tp, &err), &err);
  assert_int_equal(tp.count, 1);
  assert_string_equal(tp.items[0], "{}");
  clippo_templates_free(&tp);
  TEST_OK(clippo_templates_load("clip_best", 0, &tp, &err), &err);
  assert_int_equal(tp.count, 8);
  assert_string_equal(tp.items[0], "itap of a {}.");
  clippo_templates_free(&tp);

  char *dir = test_tmpdir();
  char *f = join(dir, "t.txt");
  const char good[] = "# my templates\r\n\r\nA photo of a {}.\r\n  a {} in the WILD\n{}";
  write_file(f, good, sizeof good - 1);
  TEST_OK(clippo_templates_load(f, 1, &tp, &err), &err);
  assert_int_equal(tp.count, 3);
  assert_string_equal(tp.items[0], "a photo of a {}");
  assert_string_equal(tp.items[1], "a {} in the wild");
  assert_string_equal(tp.items[2], "{}");
  clippo_templates_free(&tp);
  const char bad1[] = "a photo of a {}\nno slot here\n";
  write_file(f, bad1, sizeof bad1 - 1);
  assert_int_equal(clippo_templates_load(f, 1, &tp, &err), CLIPPO_E_FORMAT);
  assert_non_null(strstr(err.msg, ":2"));
  assert_non_null(strstr(err.msg, "no slot here"));
  const char bad2[] = "{} and {}\n";
  write_file(f, bad2, sizeof bad2 - 1);
  assert_int_equal(clippo_templates_load(f, 1, &tp, &err), CLIPPO_E_FORMAT);
  const char bad3[] = "# only a comment\n\n";
  write_file(f, bad3, sizeof bad3 - 1);
  assert_int_equal(clippo_templates_load(f, 1, &tp, &err), CLIPPO_E_FORMAT);
  assert_int_equal(clippo_templates_load("/no/such/templates.txt", 1, &tp, &err),
                   CLIPPO_E_NOTFOUND);
  assert_non_null(strstr(err.msg, "clip_paper"));

  char *s = NULL;
  TEST_OK(clippo_prompt_format("a photo of a {}", "red car", &s, &err), &err);
  assert_string_equal(s, "a photo of a red car");
  free(s);
  TEST_OK(clippo_prompt_format("{}", "x", &s, &err), &err);
  assert_string_equal(s, "x");
  free(s);
  assert_int_equal(clippo_prompt_format("no slot", "x", &s, &err), CLIPPO_E_ARG);
  assert_int_equal(clippo_prompt_format("{} {}", "x", &s, &err), CLIPPO_E_ARG);
  free(f);
  rm_rf(dir);
  free(dir);
}

static void test_classes(void **state) {
  (void)state;
  clippo_error err;
  clippo_classes c = {0};
  TEST_OK(clippo_classes_parse_list(" cat, dog ,red_car,T-shirt/top", 1, &c, &err), &err);
  assert_int_equal(c.count, 4);
  assert_string_equal(c.labels[0], "cat");
  assert_string_equal(c.labels[1], "dog");
  assert_string_equal(c.labels[2], "red_car");
  assert_string_equal(c.prompt_names[2], "red car");
  assert_string_equal(c.labels[3], "T-shirt/top");
  assert_string_equal(c.prompt_names[3], "tshirttop");
  clippo_classes_free(&c);
  TEST_OK(clippo_classes_parse_list("Red_Car", 0, &c, &err), &err);
  assert_string_equal(c.prompt_names[0], "Red_Car");
  clippo_classes_free(&c);
  assert_int_equal(clippo_classes_parse_list("cat,,dog", 1, &c, &err), CLIPPO_E_ARG);
  clippo_classes_free(&c);
  assert_int_equal(clippo_classes_parse_list("cat,?!", 1, &c, &err), CLIPPO_E_ARG);
  assert_non_null(strstr(err.msg, "?!"));
  clippo_classes_free(&c);

  char *dir = test_tmpdir();
  char *f = join(dir, "classes.txt");
  const char txt[] = "# comment\ntiger, Panthera tigris\n\n  Ankle boot  \r\n";
  write_file(f, txt, sizeof txt - 1);
  TEST_OK(clippo_classes_load_file(f, 1, &c, &err), &err);
  assert_int_equal(c.count, 2);
  assert_string_equal(c.labels[0], "tiger"); /* the first alias is the label */
  assert_string_equal(c.prompt_names[0], "tiger");
  assert_string_equal(c.prompt_names[1], "ankle boot");
  clippo_classes_free(&c);
  const char bad[] = "ok\n...\n";
  write_file(f, bad, sizeof bad - 1);
  assert_int_equal(clippo_classes_load_file(f, 1, &c, &err), CLIPPO_E_ARG);
  assert_non_null(strstr(err.msg, ":2"));
  clippo_classes_free(&c);
  for (int i = 0; i < 10; i++) assert_non_null(clippo_fashion_mnist_classes[i]);
  assert_string_equal(clippo_fashion_mnist_classes[9], "Ankle boot");
  free(f);
  rm_rf(dir);
  free(dir);
}

/* ---- math ---------------------------------------------------------------------------------- */

static void test_class_embedding(void **state) {
  (void)state;
  test_rng rng;
  test_rng_seed(&rng, 7);
  const size_t n = 81, dim = 48;
  float *z = malloc(n * dim * sizeof *z), out[48];
  for (size_t i = 0; i < n; i++) {
    double s = 0;
    for (size_t d = 0; d < dim; d++) {
      z[i * dim + d] = test_rng_normal(&rng) + 0.3f;
      s += (double)z[i * dim + d] * z[i * dim + d];
    }
    for (size_t d = 0; d < dim; d++) z[i * dim + d] = (float)(z[i * dim + d] / (1e-8 + sqrt(s)));
  }
  clippo_class_embedding(z, n, dim, out);
  /* reference: numpy mean over axis 0, then / (1e-8 + norm) */
  double ref[48], norm = 0;
  for (size_t d = 0; d < dim; d++) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += z[i * dim + d];
    ref[d] = s / (double)n;
    norm += ref[d] * ref[d];
  }
  for (size_t d = 0; d < dim; d++) ref[d] /= 1e-8 + sqrt(norm);
  double e = test_rel_err_f32_f64(out, ref, dim);
  print_message("class embedding rel err %.3g (tolerance 1e-6)\n", e);
  assert_true(e < 1e-6);
  double on = 0;
  for (size_t d = 0; d < dim; d++) on += (double)out[d] * out[d];
  assert_true(fabs(on - 1.0) < 1e-5);
  /* one prompt: the embedding itself (already unit) */
  clippo_class_embedding(z, 1, dim, out);
  assert_true(test_rel_err_f32(out, z, dim) < 1e-6);
  free(z);
}

static void test_softmax_topk(void **state) {
  (void)state;
  float l[5] = {0.1f, 0.5f, -0.2f, 0.5f, 0.3f}, p[5];
  clippo_softmax_scaled(l, 5, 10.0f, p);
  double sum = 0, den = 0;
  for (int i = 0; i < 5; i++) {
    sum += p[i];
    den += exp(10.0 * l[i]);
  }
  assert_true(fabs(sum - 1.0) < 1e-6);
  for (int i = 0; i < 5; i++) assert_true(fabs(p[i] - exp(10.0 * l[i]) / den) < 1e-6);
  size_t idx[5];
  assert_int_equal(clippo_topk(l, 5, 3, idx), 3);
  assert_int_equal(idx[0], 1); /* tie with 3: lower index first */
  assert_int_equal(idx[1], 3);
  assert_int_equal(idx[2], 4);
  assert_int_equal(clippo_topk(l, 5, 10, idx), 5);
  assert_int_equal(idx[4], 2);
  assert_int_equal(clippo_rank_of(l, 5, 1), 0);
  assert_int_equal(clippo_rank_of(l, 5, 3), 1);
  assert_int_equal(clippo_rank_of(l, 5, 2), 4);
  /* large logits do not overflow */
  float big[2] = {100.0f, 99.0f};
  clippo_softmax_scaled(big, 2, 100.0f, p);
  assert_true(fabs(p[0] - 1.0) < 1e-6 && p[1] >= 0.0f);
  /* a random check of top-k against sorting */
  test_rng rng;
  test_rng_seed(&rng, 3);
  float s[200];
  size_t id[20];
  test_fill_uniform(&rng, s, 200, -1, 1);
  clippo_topk(s, 200, 20, id);
  for (int i = 1; i < 20; i++) assert_true(s[id[i - 1]] >= s[id[i]]);
  for (size_t i = 0; i < 200; i++) {
    int in = 0;
    for (int k = 0; k < 20; k++) in |= id[k] == i;
    if (!in) assert_true(s[i] <= s[id[19]]);
  }
}

/* ---- IDX ----------------------------------------------------------------------------------- */

static void test_idx(void **state) {
  (void)state;
  clippo_error err;
  char *dir = test_tmpdir();
  char *f = join(dir, "x.gz");
  /* 5 images of 3x4 */
  unsigned char buf[4 + 12 + 60 + 8];
  unsigned char h3[16] = {0, 0, 8, 3, 0, 0, 0, 5, 0, 0, 0, 3, 0, 0, 0, 4};
  memcpy(buf, h3, 16);
  for (int i = 0; i < 60; i++) buf[16 + i] = (unsigned char)(i * 7 + 1);
  write_gz(f, buf, 76);
  clippo_idx x;
  TEST_OK(clippo_idx_load(f, 0, &x, &err), &err);
  assert_int_equal(x.ndim, 3);
  assert_int_equal(x.dims[0], 5);
  assert_int_equal(x.dims[1], 3);
  assert_int_equal(x.dims[2], 4);
  assert_int_equal(clippo_idx_item_size(&x), 12);
  assert_memory_equal(x.data, buf + 16, 60);
  clippo_idx_free(&x);
  TEST_OK(clippo_idx_load(f, 2, &x, &err), &err);
  assert_int_equal(x.dims[0], 2);
  assert_memory_equal(x.data, buf + 16, 24);
  clippo_idx_free(&x);
  /* plain (not compressed) labels */
  char *g = join(dir, "labels");
  unsigned char lab[8 + 3] = {0, 0, 8, 1, 0, 0, 0, 3, 9, 0, 4};
  write_file(g, lab, sizeof lab);
  TEST_OK(clippo_idx_load(g, 0, &x, &err), &err);
  assert_int_equal(x.ndim, 1);
  assert_int_equal(x.dims[0], 3);
  assert_int_equal(x.data[0], 9);
  clippo_idx_free(&x);

  struct {
    const char *what;
    unsigned char head[16];
    size_t head_len;
    size_t data_len;
    clippo_status want;
    const char *msg;
  } bad[] = {
      {"bad magic", {1, 0, 8, 1, 0, 0, 0, 3}, 8, 3, CLIPPO_E_FORMAT, "not an IDX"},
      {"float type", {0, 0, 0x0D, 1, 0, 0, 0, 3}, 8, 12, CLIPPO_E_UNSUPPORTED, "float32"},
      {"unknown type", {0, 0, 0x42, 1, 0, 0, 0, 3}, 8, 3, CLIPPO_E_FORMAT, "0x42"},
      {"zero dims", {0, 0, 8, 0}, 4, 3, CLIPPO_E_FORMAT, "dimensions"},
      {"five dims",
       {0, 0, 8, 5, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1},
       16,
       3,
       CLIPPO_E_FORMAT,
       "dimensions"},
      {"zero size", {0, 0, 8, 2, 0, 0, 0, 3, 0, 0, 0, 0}, 12, 3, CLIPPO_E_FORMAT, "is 0"},
      {"huge",
       {0, 0, 8, 3, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 2},
       16,
       3,
       CLIPPO_E_FORMAT,
       "larger"},
      {"truncated data",
       {0, 0, 8, 2, 0, 0, 0, 3, 0, 0, 0, 4},
       12,
       11,
       CLIPPO_E_FORMAT,
       "truncated"},
      {"trailing data", {0, 0, 8, 1, 0, 0, 0, 3}, 8, 4, CLIPPO_E_FORMAT, "after"},
      {"truncated header", {0, 0, 8, 3, 0, 0, 0, 3}, 8, 0, CLIPPO_E_FORMAT, "header"},
      {"too short", {0, 0}, 2, 0, CLIPPO_E_FORMAT, "short"},
      /* a lying header: 1 GiB promised, 10 bytes present: fails without a 1 GiB buffer */
      {"lying size", {0, 0, 8, 1, 0x40, 0, 0, 0}, 8, 10, CLIPPO_E_FORMAT, "truncated"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    unsigned char data[64];
    memcpy(data, bad[i].head, bad[i].head_len);
    memset(data + bad[i].head_len, 5, bad[i].data_len);
    write_gz(f, data, bad[i].head_len + bad[i].data_len);
    clippo_status st = clippo_idx_load(f, 0, &x, &err);
    if (st != bad[i].want || !strstr(err.msg, bad[i].msg) || !strstr(err.msg, f))
      fail_msg("%s: got %s '%s'", bad[i].what, clippo_status_name(st), err.msg);
    assert_null(x.data);
  }
  /* a corrupt gzip stream */
  write_gz(f, buf, 76);
  FILE *fp = fopen(f, "r+b");
  fseek(fp, 20, SEEK_SET);
  fputc(0x55, fp);
  fputc(0xAA, fp);
  fclose(fp);
  assert_int_not_equal(clippo_idx_load(f, 0, &x, &err), CLIPPO_OK);
  assert_int_equal(clippo_idx_load("/no/such/file.gz", 0, &x, &err), CLIPPO_E_NOTFOUND);
  free(f);
  free(g);
  rm_rf(dir);
  free(dir);
}

static void test_fashion_mnist_files(void **state) {
  (void)state;
  const char *dir = clippo_fashion_mnist_dir(getenv("CLIPPO_FASHION_MNIST_DIR"));
  if (!dir) {
    skip();
    return;
  }
  clippo_error err;
  char *f = join(dir, "t10k-images-idx3-ubyte.gz"), *g = join(dir, "t10k-labels-idx1-ubyte.gz");
  clippo_idx im, lb;
  TEST_OK(clippo_idx_load(f, 100, &im, &err), &err);
  TEST_OK(clippo_idx_load(g, 0, &lb, &err), &err);
  assert_int_equal(im.ndim, 3);
  assert_int_equal(im.dims[0], 100);
  assert_int_equal(im.dims[1], 28);
  assert_int_equal(im.dims[2], 28);
  assert_int_equal(lb.dims[0], 10000);
  for (int i = 0; i < 10000; i++) assert_true(lb.data[i] < 10);
  assert_int_equal(lb.data[0], 9); /* the first test image is an ankle boot */
  /* pixels -> inputs equals replicate + clippo_image_resize_bilinear + value range */
  float *in = malloc((size_t)2 * 32 * 32 * 3 * sizeof *in);
  TEST_OK(clippo_pixels_to_inputs(im.data, 2, 28, 28, 1, 32, in, &err), &err);
  clippo_image rgb = {28, 28, malloc((size_t)28 * 28 * 3)}, out = {0, 0, NULL};
  for (int p = 0; p < 28 * 28; p++)
    rgb.data[(ptrdiff_t)3 * p] = rgb.data[3 * p + 1] = rgb.data[3 * p + 2] = im.data[28 * 28 + p];
  TEST_OK(clippo_image_resize_bilinear(&rgb, 32, 32, &out, &err), &err);
  for (int p = 0; p < 32 * 32 * 3; p++)
    assert_true(in[32 * 32 * 3 + p] == -1.0f + 2.0f * ((float)out.data[p] / 255.0f));
  clippo_image_free(&out);
  clippo_image_free(&rgb);
  free(in);
  clippo_idx_free(&im);
  clippo_idx_free(&lb);
  free(f);
  free(g);
}

/* ---- identity and prompt cache ------------------------------------------------------------- */

static void test_identity(void **state) {
  (void)state;
  clippo_error err;
  char *dir = test_tmpdir();
  char *a = join(dir, "a.bin"), *b = join(dir, "b.bin"), *cache = join(dir, "cache");
  size_t n = (9u << 20) + 13; /* spans several read buffers and a partial block */
  unsigned char *data = malloc(n);
  test_rng rng;
  test_rng_seed(&rng, 11);
  for (size_t i = 0; i < n; i++) data[i] = (unsigned char)test_rng_u64(&rng);
  write_file(a, data, n);
  write_file(b, data, n);
  char ia[CLIPPO_IDENTITY_MAX], ib[CLIPPO_IDENTITY_MAX], ic[CLIPPO_IDENTITY_MAX], hex[33];
  TEST_OK(clippo_file_identity(a, NULL, ia, &err), &err);
  TEST_OK(clippo_file_identity(b, cache, ib, &err), &err);
  assert_string_equal(ia, ib); /* content, not path */
  clippo_hash128_hex(data, n, hex);
  char want[CLIPPO_IDENTITY_MAX];
  snprintf(want, sizeof want, "c1-%s-%zu", hex, n);
  assert_string_equal(ia, want);
  char *memo = join(cache, "identities.tsv");
  assert_true(test_file_exists(memo));
  TEST_OK(clippo_file_identity(b, cache, ic, &err), &err); /* from the memo */
  assert_string_equal(ic, ib);
  data[n / 2] ^= 1;
  write_file(b, data, n - 1);
  TEST_OK(clippo_file_identity(b, cache, ic, &err), &err);
  assert_string_not_equal(ic, ib);
  /* hash: one-byte changes and lengths matter */
  char h1[33], h2[33], h3[33];
  clippo_hash128_hex("abc", 3, h1);
  clippo_hash128_hex("abd", 3, h2);
  clippo_hash128_hex("abc\0", 4, h3);
  assert_string_not_equal(h1, h2);
  assert_string_not_equal(h1, h3);
  char *none = join(dir, "none");
  assert_int_equal(clippo_file_identity(none, NULL, ic, &err), CLIPPO_E_NOTFOUND);
  free(none);
  free(memo);
  free(data);
  free(a);
  free(b);
  free(cache);
  rm_rf(dir);
  free(dir);
}

static size_t count_entries(const char *dir) {
  char cmd[4200];
  snprintf(cmd, sizeof cmd, "ls -A '%s' | wc -l", dir);
  FILE *p = popen(cmd, "r");
  size_t n = 0;
  if (p) {
    if (fscanf(p, "%zu", &n) != 1) n = 0;
    pclose(p);
  }
  return n;
}

static void test_prompt_cache(void **state) {
  (void)state;
  clippo_error err;
  char *dir = test_tmpdir();
  char *path = join(dir, "sub/prompts.h5");
  float z1[4] = {1, 2, 3, 4}, z2[4] = {-1, 0.5f, 0.25f, 8}, got[4];
  clippo_prompt_cache *c = NULL;
  TEST_OK(clippo_prompt_cache_open(path, "model-A", "unifont-9.0.06", 4, &c, &err), &err);
  assert_int_equal(clippo_prompt_cache_count(c), 0);
  assert_string_equal(clippo_prompt_cache_warning(c), "");
  TEST_OK(clippo_prompt_cache_put(c, "a photo of a cat", z1, &err), &err);
  TEST_OK(clippo_prompt_cache_put(c, "\xE7\x8B\x97 \xFF", z2, &err), &err);
  assert_int_equal(clippo_prompt_cache_get(c, "a photo of a cat", got), 1);
  assert_memory_equal(got, z1, sizeof z1);
  TEST_OK(clippo_prompt_cache_save(c, &err), &err);
  clippo_prompt_cache_free(c);
  assert_true(test_file_exists(path));
  /* reopen: same key finds both */
  TEST_OK(clippo_prompt_cache_open(path, "model-A", "unifont-9.0.06", 4, &c, &err), &err);
  assert_int_equal(clippo_prompt_cache_count(c), 2);
  assert_int_equal(clippo_prompt_cache_get(c, "\xE7\x8B\x97 \xFF", got), 1);
  assert_memory_equal(got, z2, sizeof z2);
  assert_int_equal(clippo_prompt_cache_get(c, "a photo of a dog", got), 0);
  clippo_prompt_cache_free(c);
  /* another model, another font, another size: nothing */
  TEST_OK(clippo_prompt_cache_open(path, "model-B", "unifont-9.0.06", 4, &c, &err), &err);
  assert_int_equal(clippo_prompt_cache_count(c), 0);
  TEST_OK(clippo_prompt_cache_put(c, "a photo of a cat", z2, &err), &err);
  TEST_OK(clippo_prompt_cache_save(c, &err), &err);
  clippo_prompt_cache_free(c);
  TEST_OK(clippo_prompt_cache_open(path, "model-A", "other-font", 4, &c, &err), &err);
  assert_int_equal(clippo_prompt_cache_count(c), 0);
  clippo_prompt_cache_free(c);
  /* both models' groups survived the second save */
  TEST_OK(clippo_prompt_cache_open(path, "model-A", "unifont-9.0.06", 4, &c, &err), &err);
  assert_int_equal(clippo_prompt_cache_count(c), 2);
  assert_int_equal(clippo_prompt_cache_get(c, "a photo of a cat", got), 1);
  assert_memory_equal(got, z1, sizeof z1);
  clippo_prompt_cache_free(c);
  TEST_OK(clippo_prompt_cache_open(path, "model-B", "unifont-9.0.06", 4, &c, &err), &err);
  assert_int_equal(clippo_prompt_cache_get(c, "a photo of a cat", got), 1);
  assert_memory_equal(got, z2, sizeof z2);
  clippo_prompt_cache_free(c);
  /* at most 8 groups are kept */
  for (int i = 0; i < 10; i++) {
    char id[32];
    snprintf(id, sizeof id, "model-%d", i);
    TEST_OK(clippo_prompt_cache_open(path, id, "f", 4, &c, &err), &err);
    TEST_OK(clippo_prompt_cache_put(c, "x", z1, &err), &err);
    TEST_OK(clippo_prompt_cache_save(c, &err), &err);
    clippo_prompt_cache_free(c);
  }
  hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  H5G_info_t info;
  assert_true(f >= 0 && H5Gget_info(f, &info) >= 0);
  assert_int_equal(info.nlinks, 8);
  H5Fclose(f);
  char *sub = join(dir, "sub");
  assert_int_equal(count_entries(sub), 1); /* no temporary file left behind */
  /* a corrupt file is ignored with a warning, then replaced */
  write_file(path, "garbage", 7);
  TEST_OK(clippo_prompt_cache_open(path, "model-A", "unifont-9.0.06", 4, &c, &err), &err);
  assert_int_equal(clippo_prompt_cache_count(c), 0);
  assert_non_null(strstr(clippo_prompt_cache_warning(c), path));
  TEST_OK(clippo_prompt_cache_put(c, "y", z2, &err), &err);
  TEST_OK(clippo_prompt_cache_save(c, &err), &err);
  clippo_prompt_cache_free(c);
  TEST_OK(clippo_prompt_cache_open(path, "model-A", "unifont-9.0.06", 4, &c, &err), &err);
  assert_int_equal(clippo_prompt_cache_count(c), 1);
  assert_string_equal(clippo_prompt_cache_warning(c), "");
  clippo_prompt_cache_free(c);
  /* memory-only cache */
  TEST_OK(clippo_prompt_cache_open("", "m", "f", 4, &c, &err), &err);
  TEST_OK(clippo_prompt_cache_put(c, "z", z1, &err), &err);
  TEST_OK(clippo_prompt_cache_save(c, &err), &err);
  assert_string_equal(clippo_prompt_cache_path(c), "");
  clippo_prompt_cache_free(c);
  free(sub);
  free(path);
  rm_rf(dir);
  free(dir);
}

/* ---- files, index, captions ---------------------------------------------------------------- */

static void write_png(const char *path, unsigned seed) {
  uint8_t px[8 * 8 * 3];
  for (int i = 0; i < 8 * 8 * 3; i++) px[i] = (uint8_t)(seed * 31 + (unsigned)i * 7);
  clippo_error err;
  TEST_OK(clippo_png_write(path, px, 8, 8, 3, &err), &err);
}

static void test_collect_images(void **state) {
  (void)state;
  clippo_error err;
  char *dir = test_tmpdir();
  char cmd[4200];
  snprintf(cmd, sizeof cmd, "mkdir -p '%s/d/sub/deeper' '%s/d/.hidden'", dir, dir);
  assert_int_equal(system(cmd), 0);
  char *p1 = join(dir, "d/b.png"), *p2 = join(dir, "d/a.dat"), *p3 = join(dir, "d/sub/c.jpg");
  char *p4 = join(dir, "d/notes.txt"), *p5 = join(dir, "d/.hidden/h.png");
  char *p6 = join(dir, "d/sub/deeper/z.png");
  write_png(p1, 1);
  write_png(p2, 2); /* a PNG with another extension: found by content */
  const unsigned char jpeg_magic[] = {0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10, 'J', 'F', 'I', 'F', 0};
  write_file(p3, jpeg_magic, sizeof jpeg_magic);
  write_file(p4, "hello", 5);
  write_png(p5, 5);
  write_png(p6, 6);
  char *d = join(dir, "d");
  const char *args[3] = {d, p1, p4};
  clippo_path_list l = {0};
  TEST_OK(clippo_collect_images(args, 3, &l, &err), &err);
  /* sorted walk: a.dat, b.png, sub/c.jpg, sub/deeper/z.png; p1 again is a duplicate; p4 is
   * an explicit file (kept: it fails later when decoded) */
  assert_int_equal(l.count, 5);
  assert_non_null(strstr(l.items[0], "/d/a.dat"));
  assert_non_null(strstr(l.items[1], "/d/b.png"));
  assert_non_null(strstr(l.items[2], "/d/sub/c.jpg"));
  assert_non_null(strstr(l.items[3], "/d/sub/deeper/z.png"));
  assert_non_null(strstr(l.items[4], "/d/notes.txt"));
  for (size_t i = 0; i < l.count; i++) assert_true(l.items[i][0] == '/');
  clippo_path_list_free(&l);
  const char *missing[1] = {"/no/such/dir"};
  assert_int_equal(clippo_collect_images(missing, 1, &l, &err), CLIPPO_E_NOTFOUND);
  assert_non_null(strstr(err.msg, "/no/such/dir"));
  clippo_path_list_free(&l);
  free(p1);
  free(p2);
  free(p3);
  free(p4);
  free(p5);
  free(p6);
  free(d);
  rm_rf(dir);
  free(dir);
}

static void unit(float *v, size_t n) {
  double s = 0;
  for (size_t i = 0; i < n; i++) s += (double)v[i] * v[i];
  for (size_t i = 0; i < n; i++) v[i] = (float)(v[i] / sqrt(s));
}

static void test_index(void **state) {
  (void)state;
  clippo_error err;
  char *dir = test_tmpdir();
  char *path = join(dir, "index.h5");
  enum { DIM = 16, N = 40 };
  float z[N * DIM];
  test_rng rng;
  test_rng_seed(&rng, 5);
  for (int i = 0; i < N; i++) {
    test_fill_uniform(&rng, z + (ptrdiff_t)i * DIM, DIM, -1, 1);
    unit(z + (ptrdiff_t)i * DIM, DIM);
  }
  char names[N][64];
  const char *np[N];
  for (int i = 0; i < N; i++) {
    snprintf(names[i], sizeof names[i], "/images/%s/%03d.png", i % 2 ? "odd" : "even", i);
    np[i] = names[i];
  }
  clippo_index *ix = NULL;
  TEST_OK(clippo_index_open_append(path, "model-A", "a.npz", DIM, 32, &ix, &err), &err);
  assert_int_equal(clippo_index_count(ix), 0);
  TEST_OK(clippo_index_append(ix, np, z, 25, &err), &err);
  assert_true(clippo_index_contains(ix, names[3]));
  assert_false(clippo_index_contains(ix, names[30]));
  TEST_OK(clippo_index_close(ix, &err), &err);
  /* another model is refused, naming both */
  assert_int_equal(clippo_index_open_append(path, "model-B", "b.npz", DIM, 32, &ix, &err),
                   CLIPPO_E_ARG);
  assert_non_null(strstr(err.msg, "model-A"));
  assert_non_null(strstr(err.msg, "model-B"));
  assert_non_null(strstr(err.msg, "a.npz"));
  /* an interrupted write: rows past the committed count are ignored */
  hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
  assert_true(f >= 0);
  hid_t d = H5Dopen2(f, "z", H5P_DEFAULT);
  hsize_t big[2] = {30, DIM};
  assert_true(H5Dset_extent(d, big) >= 0);
  H5Dclose(d);
  d = H5Dopen2(f, "path_ends", H5P_DEFAULT);
  hsize_t bige[1] = {27};
  assert_true(H5Dset_extent(d, bige) >= 0);
  H5Dclose(d);
  H5Fclose(f);
  TEST_OK(clippo_index_open_append(path, "model-A", "a.npz", DIM, 32, &ix, &err), &err);
  assert_int_equal(clippo_index_count(ix), 25);
  TEST_OK(clippo_index_append(ix, np + 25, z + (ptrdiff_t)25 * DIM, N - 25, &err), &err);
  TEST_OK(clippo_index_close(ix, &err), &err);
  TEST_OK(clippo_index_open_read(path, &ix, &err), &err);
  assert_int_equal(clippo_index_count(ix), N);
  assert_int_equal(clippo_index_dim(ix), DIM);
  assert_string_equal(clippo_index_model_id(ix), "model-A");
  assert_string_equal(clippo_index_model_path(ix), "a.npz");
  for (int i = 0; i < N; i++) assert_string_equal(clippo_index_path(ix, (size_t)i), names[i]);
  assert_memory_equal(clippo_index_embeddings(ix), z, sizeof z);
  size_t idx[5];
  float sc[5];
  assert_int_equal(clippo_index_search(ix, z + (ptrdiff_t)33 * DIM, 5, idx, sc), 5);
  assert_int_equal(idx[0], 33);
  assert_true(fabsf(sc[0] - 1.0f) < 1e-5f);
  for (int i = 1; i < 5; i++) assert_true(sc[i] <= sc[i - 1]);
  TEST_OK(clippo_index_close(ix, &err), &err);
  /* not an index / not HDF5 */
  char *junk = join(dir, "junk.h5");
  write_file(junk, "not hdf5", 8);
  assert_int_equal(clippo_index_open_read(junk, &ix, &err), CLIPPO_E_FORMAT);
  assert_non_null(strstr(err.msg, junk));
  assert_int_equal(clippo_index_open_append(junk, "m", "x", DIM, 32, &ix, &err), CLIPPO_E_FORMAT);
  char *other = join(dir, "other.h5");
  f = H5Fcreate(other, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  H5Fclose(f);
  assert_int_equal(clippo_index_open_read(other, &ix, &err), CLIPPO_E_FORMAT);
  assert_non_null(strstr(err.msg, "not a clippo index"));
  char *none = join(dir, "none.h5");
  assert_int_equal(clippo_index_open_read(none, &ix, &err), CLIPPO_E_NOTFOUND);
  free(none);
  free(junk);
  free(other);
  free(path);
  rm_rf(dir);
  free(dir);
}

static void test_captions_recall(void **state) {
  (void)state;
  clippo_error err;
  char *dir = test_tmpdir();
  char *tsv = join(dir, "caps.tsv");
  const char txt[] = "a.png\ta cat\r\n\nb.png\ta dog\n/abs/c.png\ta red car\na.png\tkitty";
  write_file(tsv, txt, sizeof txt - 1);
  clippo_caption_set s;
  TEST_OK(clippo_caption_set_load(tsv, 0, &s, &err), &err);
  assert_int_equal(s.pairs, 4);
  assert_int_equal(s.images.count, 3);
  char *a = join(dir, "a.png");
  assert_string_equal(s.images.items[0], a);
  assert_string_equal(s.images.items[2], "/abs/c.png");
  assert_string_equal(s.captions[0], "a cat");
  assert_string_equal(s.captions[3], "kitty");
  assert_int_equal(s.image_of[3], 0);
  clippo_caption_set_free(&s);
  TEST_OK(clippo_caption_set_load(tsv, 2, &s, &err), &err);
  assert_int_equal(s.pairs, 2);
  clippo_caption_set_free(&s);
  write_file(tsv, "a.png\tok\nno tab here\n", 21);
  assert_int_equal(clippo_caption_set_load(tsv, 0, &s, &err), CLIPPO_E_FORMAT);
  assert_non_null(strstr(err.msg, ":2"));

  /* recall: image i has direction e_i; caption t of image j points at e_j plus noise, except
   * caption 3 which points at image 0 but belongs to image 2 */
  enum { NI = 12, D = 12 };
  float zi[NI * D] = {0}, zt[NI * D];
  size_t of[NI];
  for (int i = 0; i < NI; i++) zi[i * D + i] = 1;
  for (int t = 0; t < NI; t++) {
    of[t] = (size_t)t;
    for (int d = 0; d < D; d++) zt[t * D + d] = d == t ? 1.0f : 0.01f * (float)((t + d) % 3);
  }
  memset(zt + (ptrdiff_t)3 * D, 0, D * sizeof *zt);
  zt[3 * D + 0] = 1;
  of[3] = 2;
  clippo_recall r;
  TEST_OK(clippo_retrieval_recall(zi, NI, zt, NI, of, D, &r, &err), &err);
  /* t2i: captions 0..11 except 3 find their image first: 11/12 at R@1 */
  assert_true(fabs(r.t2i[0] - 11.0 / 12.0) < 1e-9);
  assert_true(fabs(r.t2i[2] - 1.0) < 1e-9);
  /* i2t: image 3 has no caption (ignored); the others find theirs first: 11/11 */
  assert_true(fabs(r.i2t[0] - 1.0) < 1e-9);
  free(a);
  free(tsv);
  rm_rf(dir);
  free(dir);
}

/* ---- classifier on the tiny model ---------------------------------------------------------- */

static void test_classifier_tiny(void **state) {
  (void)state;
  char *model = test_shared_path("fixtures/tiny/model.npz");
  char *font = test_shared_path("fonts/unifont-9.0.06.hex");
  char *font2 = test_shared_path("fonts/unifont_upper-9.0.06.hex"); /* each fails if missing */
  size_t nspecs = 0;
  char **specs = test_device_specs(&nspecs);
  if (nspecs == 0) {
    test_device_specs_free(specs, nspecs);
    free(model);
    free(font);
    free(font2);
    skip();
    return;
  }
  char *dir = test_tmpdir();
  char *cache = join(dir, "prompts.h5");
  const char *fonts[2] = {font, font2};
  for (size_t sp = 0; sp < nspecs; sp++) {
    clippo_error err;
    clippo_task_model tm;
    TEST_OK(clippo_task_model_open(model, specs[sp], fonts, 2, 3, &tm, &err), &err);
    print_message("[ device   ] %s: %s\n", specs[sp], tm.rt->info.name);
    assert_int_equal(tm.image_size, 32);
    assert_int_equal(tm.dim, 32);
    assert_true(strncmp(tm.identity, "p1-", 3) == 0);
    clippo_classes cls = {0};
    TEST_OK(clippo_classes_parse_list("cat,Dog_House,sneaker", 1, &cls, &err), &err);
    clippo_templates tp = {0};
    TEST_OK(clippo_templates_load("clip_best", 1, &tp, &err), &err);
    remove(cache);
    clippo_classifier c1, c2;
    clippo_classifier_stats st1, st2;
    TEST_OK(clippo_classifier_build(&tm, &cls, &tp, cache, &c1, &st1, &err), &err);
    assert_int_equal(st1.prompts, 24);
    assert_int_equal(st1.cache_hits, 0);
    assert_int_equal(st1.embedded, 24);
    assert_true(fabsf(c1.logit_scale - 10.0f) < 1e-4f);
    /* reference: embed the prompts directly, average and renormalise in double */
    for (size_t c = 0; c < cls.count; c++) {
      char *texts[8];
      for (size_t t = 0; t < tp.count; t++)
        TEST_OK(clippo_prompt_format(tp.items[t], cls.prompt_names[c], &texts[t], &err), &err);
      if (c == 1) assert_string_equal(texts[0], "itap of a dog house");
      float zt[8 * 32];
      TEST_OK(clippo_model_embed_texts(tm.model, tm.font, (const char *const *)texts, NULL,
                                       tp.count, CLIPPO_EMBED_Z, zt, &err),
              &err);
      double ref[32], nrm = 0;
      for (int d = 0; d < 32; d++) {
        double s = 0;
        for (size_t t = 0; t < tp.count; t++) s += zt[t * 32 + (size_t)d];
        ref[d] = s / (double)tp.count;
        nrm += ref[d] * ref[d];
      }
      for (int d = 0; d < 32; d++) ref[d] /= 1e-8 + sqrt(nrm);
      double e = test_rel_err_f32_f64(c1.z + c * 32, ref, 32);
      if (e > 1e-5) fail_msg("class %zu: rel err %.3g > 1e-5", c, e);
      for (size_t t = 0; t < tp.count; t++) free(texts[t]);
    }
    /* second build: everything from the cache, identical result */
    TEST_OK(clippo_classifier_build(&tm, &cls, &tp, cache, &c2, &st2, &err), &err);
    assert_int_equal(st2.cache_hits, 24);
    assert_int_equal(st2.embedded, 0);
    assert_memory_equal(c1.z, c2.z, cls.count * 32 * sizeof(float));
    /* probabilities of an image sum to 1 and follow the logits */
    float img[32 * 32 * 3], zi[32], p[3], l[3];
    test_rng rng;
    test_rng_seed(&rng, 9);
    test_fill_uniform(&rng, img, (size_t)32 * 32 * 3, -1, 1);
    TEST_OK(clippo_model_embed_images(tm.model, img, 1, CLIPPO_EMBED_Z, zi, &err), &err);
    clippo_classifier_probs(&c1, zi, p);
    clippo_classifier_logits(&c1, zi, l);
    double sum = p[0] + p[1] + p[2];
    assert_true(fabs(sum - 1.0) < 1e-5);
    double den = exp(10.0 * l[0]) + exp(10.0 * l[1]) + exp(10.0 * l[2]);
    assert_true(fabs(p[1] - exp(10.0 * l[1]) / den) < 1e-5);
    clippo_classifier_free(&c1);
    clippo_classifier_free(&c2);
    clippo_templates_free(&tp);
    clippo_classes_free(&cls);
    clippo_task_model_close(&tm);
  }
  test_device_specs_free(specs, nspecs);
  rm_rf(dir);
  free(dir);
  free(cache);
  free(model);
  free(font);
  free(font2);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_canonicalize),
      cmocka_unit_test(test_templates),
      cmocka_unit_test(test_classes),
      cmocka_unit_test(test_class_embedding),
      cmocka_unit_test(test_softmax_topk),
      cmocka_unit_test(test_idx),
      cmocka_unit_test(test_fashion_mnist_files),
      cmocka_unit_test(test_identity),
      cmocka_unit_test(test_prompt_cache),
      cmocka_unit_test(test_collect_images),
      cmocka_unit_test(test_index),
      cmocka_unit_test(test_captions_recall),
      cmocka_unit_test(test_classifier_tiny),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
