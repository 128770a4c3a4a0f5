/* The training data pipeline (host/train/data.c): the multilingual caption templates
 * (configs/fmnist_captions.json), the seeded sampler (determinism, permutations, seeking,
 * class balance), Fashion-MNIST samples (gray -> RGB, bilinear resize against an independent
 * implementation of TensorFlow's half-pixel resize, within one uint8 level), batches of images
 * followed by their rendered captions, the TSV and fixed-batch sources and their errors; text
 * pairs for text/text co-training (TSV files and their errors, the built-in caption pairs) and
 * their mixing into batches against a plain reference. */
#include "support.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clippo/image_write.h"
#include "clippo/npy.h"
#include "clippo/tasks.h"
#include "clippo/text.h"
#include "clippo/train.h"

static char *source_path(const char *rel) {
  const char *dir = test_source_dir();
  size_t n = strlen(dir) + strlen(rel) + 2;
  char *p = malloc(n);
  snprintf(p, n, "%s/%s", dir, rel);
  return p;
}

/* 1 if s holds a code point >= U+2E80 (CJK) */
static int has_cjk(const char *s) {
  uint32_t cps[512];
  size_t n = clippo_utf8_decode(s, strlen(s), cps, 512);
  for (size_t i = 0; i < n; i++)
    if (cps[i] >= 0x2E80) return 1;
  return 0;
}

static void test_captions(void **state) {
  (void)state;
  clippo_error err;
  char *path = source_path("configs/fmnist_captions.json");
  clippo_captions c;
  TEST_OK(clippo_captions_load(path, &c, &err), &err);
  assert_true(c.nlangs >= 3);
  assert_int_equal(c.nclasses, 10);
  /* at least three languages with 15-20 templates each, in two scripts (entries with fewer
   * templates, e.g. alternative class names, may come on top) */
  int latin = 0, cjk = 0, full = 0;
  for (size_t l = 0; l < c.nlangs; l++) {
    assert_true(c.ntemplates[l] >= 1);
    int lang_cjk = has_cjk(c.classes[l][0]);
    if (c.ntemplates[l] >= 15 && c.ntemplates[l] <= 20) {
      full++;
      cjk |= lang_cjk;
      latin |= !lang_cjk;
    }
    for (size_t k = 0; k < c.ntemplates[l]; k++)
      for (int y = 0; y < 10; y++) {
        char buf[512];
        TEST_OK(clippo_captions_format(&c, l, k, y, buf, sizeof buf, &err), &err);
        assert_non_null(strstr(buf, c.classes[l][y]));
        assert_null(strstr(buf, "{}"));
      }
  }
  assert_true(full >= 3);
  assert_true(latin && cjk); /* two scripts */
  /* English class names are the dataset's */
  assert_string_equal(c.langs[0], "en");
  for (int y = 0; y < 10; y++)
    assert_string_equal(c.classes[0][y], clippo_fashion_mnist_classes[y]);
  /* each draw is one of the (language, template) captions; the pairs are drawn uniformly, so
   * a language comes up in proportion to its templates */
  size_t hits[16] = {0}, total = 0;
  for (size_t l = 0; l < c.nlangs; l++) total += c.ntemplates[l];
  const int draws = 4000;
  for (int r = 0; r < draws; r++) {
    char buf[512], cand[512];
    int y = r % 10, found = 0;
    TEST_OK(clippo_captions_draw(&c, y, clippo_hash3(1, (uint64_t)r, 2), buf, sizeof buf, &err),
            &err);
    for (size_t l = 0; l < c.nlangs && !found; l++)
      for (size_t k = 0; k < c.ntemplates[l] && !found; k++) {
        TEST_OK(clippo_captions_format(&c, l, k, y, cand, sizeof cand, &err), &err);
        if (!strcmp(cand, buf)) {
          found = 1;
          if (l < 16) hits[l]++;
        }
      }
    if (!found) fail_msg("draw '%s' is no template's", buf);
  }
  for (size_t l = 0; l < c.nlangs && l < 16; l++)
    if (c.ntemplates[l] >= 15) {
      double want = (double)draws * (double)c.ntemplates[l] / (double)total;
      assert_true(hits[l] > 0.7 * want && hits[l] < 1.3 * want);
    }
  char small[4];
  assert_int_equal(clippo_captions_format(&c, 0, 0, 0, small, sizeof small, &err), CLIPPO_E_ARG);
  assert_int_equal(clippo_captions_format(&c, 0, 0, 10, small, sizeof small, &err), CLIPPO_E_ARG);
  clippo_captions_free(&c);
  free(path);

  /* malformed files */
  char *dir = test_tmpdir();
  const char *bad[] = {
      "not json",
      "{\"languages\": {}}",
      "{\"languages\": {\"en\": {\"classes\": [\"a\"], \"templates\": [\"no hole\"]}}}",
      "{\"languages\": {\"en\": {\"classes\": [\"a\"], \"templates\": [\"{} {}\"]}}}",
      // NOLINTNEXTLINE(bugprone-suspicious-missing-comma): one string over two lines
      "{\"languages\": {\"en\": {\"classes\": [\"a\", \"b\"], \"templates\": [\"{}\"]},"
      " \"de\": {\"classes\": [\"a\"], \"templates\": [\"{}\"]}}}",
      "{\"languages\": {\"en\": {\"classes\": [\"a\", 3], \"templates\": [\"{}\"]}}}",
      "{\"languages\": {\"en\": {\"classes\": [\"a\"], \"templates\": [\"{}\"], \"x\": 1}}}",
      "{\"languages\": {\"en\": {\"classes\": [\"a\"], \"templates\": [\"{}\"]}}, \"extra\": 1}",
  };
  char p[1024];
  snprintf(p, sizeof p, "%s/caps.json", dir);
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    FILE *fp = fopen(p, "wb");
    fputs(bad[i], fp);
    fclose(fp);
    clippo_captions cb;
    assert_int_equal(clippo_captions_load(p, &cb, &err), CLIPPO_E_FORMAT);
    assert_non_null(strstr(err.msg, "caps.json"));
  }
  snprintf(p, sizeof p, "%s/missing.json", dir);
  assert_int_equal(clippo_captions_load(p, &c, &err), CLIPPO_E_IO);
  free(dir);
}

/* A fake labelled dataset through the arrays source is unlabelled, so the sampler tests use
 * Fashion-MNIST when present and the fixture arrays otherwise. */
static clippo_dataset *open_fixture(void) {
  clippo_error err;
  char *img = test_shared_path("fixtures/tiny/images.npy");
  char *txt = test_shared_path("fixtures/tiny/texts.txt");
  clippo_dataset *d = NULL;
  TEST_OK(clippo_dataset_open_arrays(img, txt, &d, &err), &err);
  free(img);
  free(txt);
  return d;
}

static char *fmnist_path(void) {
  char *p = malloc(strlen(CLIPPO_FMNIST_DIR) + 40);
  sprintf(p, "%s/t10k-images-idx3-ubyte.gz", CLIPPO_FMNIST_DIR);
  if (!test_file_exists(p)) {
    free(p);
    return NULL;
  }
  return p;
}

static void check_order(clippo_sampler *s, size_t n, uint64_t epoch, size_t *out) {
  char *seen = calloc(n, 1);
  for (size_t k = 0; k < n; k++) {
    uint64_t e;
    size_t i = clippo_sampler_next(s, &e);
    assert_int_equal(e, epoch);
    assert_true(i < n);
    assert_false(seen[i]);
    seen[i] = 1;
    if (out) out[k] = i;
  }
  free(seen);
}

static void test_sampler(void **state) {
  (void)state;
  clippo_error err;
  char *fm = fmnist_path();
  clippo_dataset *d = NULL;
  char *caps = source_path("configs/fmnist_captions.json");
  if (fm) {
    TEST_OK(clippo_dataset_open_fmnist(CLIPPO_FMNIST_DIR, "test", caps, 500, &d, &err), &err);
  } else {
    d = open_fixture();
  }
  size_t n = clippo_dataset_size(d);
  assert_true(n > 0);
  size_t *a0 = malloc(n * sizeof *a0), *a1 = malloc(n * sizeof *a1), *b0 = malloc(n * sizeof *b0);
  assert_true(a0 && a1 && b0);
  clippo_sampler s1, s2, s3;
  TEST_OK(clippo_sampler_init(&s1, d, 7, 1, 0, &err), &err);
  TEST_OK(clippo_sampler_init(&s2, d, 7, 1, 0, &err), &err);
  TEST_OK(clippo_sampler_init(&s3, d, 8, 1, 0, &err), &err);
  check_order(&s1, n, 0, a0);
  check_order(&s1, n, 1, a1);
  check_order(&s3, n, 0, b0);
  if (n > 8) {
    assert_true(memcmp(a0, a1, n * sizeof *a0) != 0); /* a new order each epoch */
    assert_true(memcmp(a0, b0, n * sizeof *a0) != 0); /* and per seed */
  }
  /* same seed, same order; seeking reproduces the middle of an epoch */
  for (size_t k = 0; k < n; k++) assert_int_equal(clippo_sampler_next(&s2, NULL), a0[k]);
  TEST_OK(clippo_sampler_seek(&s3, 1, n / 2, &err), &err);
  s3.seed = 7; /* a sampler is only its (seed, epoch, pos) */
  TEST_OK(clippo_sampler_seek(&s3, 0, 0, &err), &err);
  TEST_OK(clippo_sampler_seek(&s3, 1, n / 2, &err), &err);
  for (size_t k = n / 2; k < n; k++) assert_int_equal(clippo_sampler_next(&s3, NULL), a1[k]);
  assert_int_equal(clippo_sampler_seek(&s3, 0, n + 1, &err), CLIPPO_E_ARG);
  TEST_OK(clippo_sampler_seek(&s3, 0, n, &err), &err); /* the end of epoch 0 */
  for (size_t k = 0; k < n; k++) assert_int_equal(clippo_sampler_next(&s3, NULL), a1[k]);
  clippo_sampler_free(&s1);
  clippo_sampler_free(&s2);
  clippo_sampler_free(&s3);
  /* no shuffle: the file order, epoch after epoch */
  TEST_OK(clippo_sampler_init(&s1, d, 7, 0, 0, &err), &err);
  for (size_t k = 0; k < 2 * n; k++) assert_int_equal(clippo_sampler_next(&s1, NULL), k % n);
  clippo_sampler_free(&s1);
  if (fm) {
    /* balanced: each round of 10 holds 10 different classes while all classes last */
    TEST_OK(clippo_sampler_init(&s1, d, 3, 1, 1, &err), &err);
    size_t min_count = n;
    size_t cnt[10] = {0};
    for (size_t i = 0; i < n; i++) cnt[clippo_dataset_label(d, i)]++;
    for (int c = 0; c < 10; c++) min_count = cnt[c] < min_count ? cnt[c] : min_count;
    check_order(&s1, n, 0, a0);
    for (size_t r = 0; r < min_count; r++) {
      int seen[10] = {0};
      for (size_t k = 0; k < 10; k++) {
        int y = clippo_dataset_label(d, a0[r * 10 + k]);
        assert_false(seen[y]);
        seen[y] = 1;
      }
    }
    clippo_sampler_free(&s1);
  } else {
    assert_int_equal(clippo_sampler_init(&s1, d, 3, 1, 1, &err), CLIPPO_E_ARG);
  }
  free(a0), free(a1), free(b0), free(fm), free(caps);
  clippo_dataset_free(d);
}

/* TensorFlow's bilinear resize (half-pixel centres, no antialias), written independently. */
static double tf_bilinear(const uint8_t *in, int iw, int ih, int ow, int oh, int x, int y, int c) {
  double sy = (double)ih / oh, sx = (double)iw / ow;
  double fy = (y + 0.5) * sy - 0.5, fx = (x + 0.5) * sx - 0.5;
  double y0f = floor(fy), x0f = floor(fx);
  int y0 = (int)fmax(y0f, 0), y1 = (int)fmin(ceil(fy), ih - 1);
  int x0 = (int)fmax(x0f, 0), x1 = (int)fmin(ceil(fx), iw - 1);
  double ly = fy - y0f, lx = fx - x0f;
  double tl = in[(y0 * iw + x0) * 3 + c], tr = in[(y0 * iw + x1) * 3 + c];
  double bl = in[(y1 * iw + x0) * 3 + c], br = in[(y1 * iw + x1) * 3 + c];
  double top = tl + (tr - tl) * lx, bot = bl + (br - bl) * lx;
  return top + (bot - top) * ly;
}

static void test_fmnist(void **state) {
  (void)state;
  char *fm = fmnist_path();
  if (!fm) {
    skip();
    return;
  }
  clippo_error err;
  char *caps = source_path("configs/fmnist_captions.json");
  clippo_dataset *d = NULL;
  TEST_OK(clippo_dataset_open_fmnist(NULL, "test", caps, 16, &d, &err), &err);
  assert_int_equal(clippo_dataset_size(d), 16);
  assert_int_equal(clippo_dataset_num_classes(d), 10);
  /* the first test labels of Fashion-MNIST: ankle boot, pullover, trouser, trouser */
  assert_int_equal(clippo_dataset_label(d, 0), 9);
  assert_int_equal(clippo_dataset_label(d, 1), 2);
  assert_int_equal(clippo_dataset_label(d, 2), 1);
  /* at 28 px the image is the raw pixels, replicated to RGB, in [-1, 1]; recover them */
  float *img28 = malloc((size_t)28 * 28 * 3 * sizeof(float));
  TEST_OK(clippo_dataset_image(d, 0, 28, img28, &err), &err);
  uint8_t raw[28 * 28 * 3];
  int nonzero = 0;
  for (int i = 0; i < 28 * 28; i++) {
    float v = img28[(ptrdiff_t)3 * i];
    assert_true(v >= -1.0f && v <= 1.0f);
    assert_true(img28[3 * i + 1] == v && img28[3 * i + 2] == v);
    int u = (int)lround((v + 1.0) * 127.5);
    assert_true(fabs(-1.0 + 2.0 * (u / 255.0) - v) < 1e-6);
    raw[(ptrdiff_t)3 * i] = raw[3 * i + 1] = raw[3 * i + 2] = (uint8_t)u;
    nonzero += u != 0;
  }
  assert_true(nonzero > 50);
  const int sizes[] = {32, 56, 224, 20};
  for (size_t si = 0; si < 4; si++) {
    int s = sizes[si];
    float *img = malloc((size_t)s * s * 3 * sizeof(float));
    TEST_OK(clippo_dataset_image(d, 0, s, img, &err), &err);
    double maxd = 0;
    for (int y = 0; y < s; y++)
      for (int x = 0; x < s; x++) {
        double want = floor(tf_bilinear(raw, 28, 28, s, s, x, y, 0)); /* cast truncates */
        double got = (img[(ptrdiff_t)(y * s + x) * 3] + 1.0) * 127.5;
        maxd = fmax(maxd, fabs(got - want));
        assert_true(img[(y * s + x) * 3 + 2] == img[(ptrdiff_t)(y * s + x) * 3]);
      }
    print_message("[ resize   ] 28 -> %d: max difference %.3g uint8 levels\n", s, maxd);
    assert_true(maxd <= 1.0 + 1e-3);
    free(img);
  }
  free(img28);

  /* a batch: 4 images then the 4 captions rendered at 32 px */
  clippo_font *font = NULL;
  char *hex = test_shared_path("fonts/unifont-9.0.06.hex");
  char *hex2 = test_shared_path("fonts/unifont_upper-9.0.06.hex");
  const char *fonts[2] = {hex, hex2};
  TEST_OK(clippo_font_load(&font, fonts, 2, &err), &err);
  clippo_sampler s;
  TEST_OK(clippo_sampler_init(&s, d, 11, 1, 0, &err), &err);
  const size_t b = 4, m = (size_t)32 * 32 * 3;
  float *in = malloc(2 * b * m * sizeof(float)), *want = malloc(m * sizeof(float));
  char *captions[4];
  TEST_OK(clippo_batch_fill(d, &s, font, 32, b, in, captions, &err), &err);
  clippo_sampler s2;
  TEST_OK(clippo_sampler_init(&s2, d, 11, 1, 0, &err), &err);
  clippo_render_opts o;
  clippo_render_opts_default(&o, 32);
  for (size_t k = 0; k < b; k++) {
    size_t i = clippo_sampler_next(&s2, NULL);
    TEST_OK(clippo_dataset_image(d, i, 32, want, &err), &err);
    assert_memory_equal(in + k * m, want, m * sizeof(float));
    char cap[512];
    TEST_OK(clippo_dataset_caption(d, i, 11, 0, cap, sizeof cap, &err), &err);
    assert_string_equal(cap, captions[k]);
    TEST_OK(clippo_render_text(font, &o, cap, strlen(cap), CLIPPO_F32, 3, want, &err), &err);
    assert_memory_equal(in + (b + k) * m, want, m * sizeof(float));
    print_message("[ caption  ] %zu (class %d): %s\n", i, clippo_dataset_label(d, i), cap);
    free(captions[k]);
  }
  /* captions depend on (seed, epoch, example) only */
  char c1[512], c2[512], c3[512];
  TEST_OK(clippo_dataset_caption(d, 3, 5, 0, c1, sizeof c1, &err), &err);
  TEST_OK(clippo_dataset_caption(d, 3, 5, 0, c2, sizeof c2, &err), &err);
  assert_string_equal(c1, c2);
  int differ = 0;
  for (uint64_t e = 1; e < 20; e++) {
    TEST_OK(clippo_dataset_caption(d, 3, 5, e, c3, sizeof c3, &err), &err);
    differ |= strcmp(c1, c3) != 0;
  }
  assert_true(differ);
  clippo_sampler_free(&s);
  clippo_sampler_free(&s2);
  free(in), free(want), free(hex), free(hex2);
  clippo_font_free(font);
  clippo_dataset_free(d);
  /* errors */
  assert_int_equal(clippo_dataset_open_fmnist(NULL, "valid", caps, 0, &d, &err), CLIPPO_E_ARG);
  assert_int_not_equal(clippo_dataset_open_fmnist("/nonexistent", "test", caps, 0, &d, &err),
                       CLIPPO_OK);
  assert_non_null(strstr(err.msg, "/nonexistent/t10k-images-idx3-ubyte.gz"));
  free(caps);
  free(fm);
}

static void test_arrays_and_tsv(void **state) {
  (void)state;
  clippo_error err;
  clippo_dataset *d = open_fixture();
  assert_int_equal(clippo_dataset_size(d), 4);
  assert_int_equal(clippo_dataset_label(d, 0), -1);
  char cap[256];
  TEST_OK(clippo_dataset_caption(d, 1, 0, 0, cap, sizeof cap, &err), &err);
  assert_true(strlen(cap) > 0 && !strchr(cap, '\n'));
  float *img = malloc((size_t)32 * 32 * 3 * sizeof(float));
  TEST_OK(clippo_dataset_image(d, 2, 32, img, &err), &err);
  char *npy = test_shared_path("fixtures/tiny/images.npy");
  clippo_array a = {0};
  TEST_OK(clippo_npy_load(npy, &a, &err), &err);
  assert_memory_equal(img, (float *)a.data + (ptrdiff_t)2 * 32 * 32 * 3,
                      (size_t)32 * 32 * 3 * sizeof(float));
  assert_int_equal(clippo_dataset_image(d, 2, 64, img, &err), CLIPPO_E_SHAPE);
  clippo_dataset_free(d);

  char *dir = test_tmpdir();
  char tp[1024], p[1024];
  /* more texts than images */
  snprintf(tp, sizeof tp, "%s/t.txt", dir);
  FILE *fp = fopen(tp, "wb");
  fputs("a\nb\nc\nd\ne\n", fp);
  fclose(fp);
  assert_int_equal(clippo_dataset_open_arrays(npy, tp, &d, &err), CLIPPO_E_SHAPE);
  /* CR LF lines, no final newline */
  fp = fopen(tp, "wb");
  fputs("one\r\ntwo\r\n\r\nfour", fp);
  fclose(fp);
  TEST_OK(clippo_dataset_open_arrays(npy, tp, &d, &err), &err);
  TEST_OK(clippo_dataset_caption(d, 1, 0, 0, cap, sizeof cap, &err), &err);
  assert_string_equal(cap, "two");
  TEST_OK(clippo_dataset_caption(d, 2, 0, 0, cap, sizeof cap, &err), &err);
  assert_string_equal(cap, "");
  TEST_OK(clippo_dataset_caption(d, 3, 0, 0, cap, sizeof cap, &err), &err);
  assert_string_equal(cap, "four");
  clippo_dataset_free(d);
  /* images of the wrong shape */
  assert_int_equal(clippo_dataset_open_arrays(tp, tp, &d, &err), CLIPPO_E_FORMAT);
  clippo_array_free(&a);

  /* TSV: two PNGs, a comment, a relative and an absolute path */
  uint8_t px[6 * 4 * 3];
  for (size_t i = 0; i < sizeof px; i++) px[i] = (uint8_t)(i * 7);
  snprintf(p, sizeof p, "%s/a.png", dir);
  TEST_OK(clippo_png_write(p, px, 6, 4, 3, &err), &err);
  snprintf(p, sizeof p, "%s/b.png", dir);
  TEST_OK(clippo_png_write(p, px, 6, 4, 3, &err), &err);
  snprintf(tp, sizeof tp, "%s/pairs.tsv", dir);
  fp = fopen(tp, "wb");
  fprintf(fp, "# path\tcaption\na.png\tein Foto\r\n\n%s/b.png\t一张照片\n", dir);
  fclose(fp);
  TEST_OK(clippo_dataset_open_tsv(tp, 0, &d, &err), &err);
  assert_int_equal(clippo_dataset_size(d), 2);
  TEST_OK(clippo_dataset_caption(d, 0, 0, 0, cap, sizeof cap, &err), &err);
  assert_string_equal(cap, "ein Foto");
  TEST_OK(clippo_dataset_caption(d, 1, 0, 0, cap, sizeof cap, &err), &err);
  assert_string_equal(cap, "一张照片");
  float *im2 = malloc((size_t)8 * 8 * 3 * sizeof(float));
  TEST_OK(clippo_dataset_image(d, 0, 8, im2, &err), &err);
  TEST_OK(clippo_dataset_image(d, 1, 8, img, &err), &err);
  assert_memory_equal(im2, img, (size_t)8 * 8 * 3 * sizeof(float));
  clippo_dataset_free(d);
  TEST_OK(clippo_dataset_open_tsv(tp, 1, &d, &err), &err);
  assert_int_equal(clippo_dataset_size(d), 1);
  clippo_dataset_free(d);
  fp = fopen(tp, "wb");
  fputs("a.png\tok\nno tab here\n", fp);
  fclose(fp);
  assert_int_equal(clippo_dataset_open_tsv(tp, 0, &d, &err), CLIPPO_E_FORMAT);
  assert_non_null(strstr(err.msg, ":2:"));
  fp = fopen(tp, "wb");
  fputs("missing.png\tcaption\n", fp);
  fclose(fp);
  TEST_OK(clippo_dataset_open_tsv(tp, 0, &d, &err), &err);
  assert_int_not_equal(clippo_dataset_image(d, 0, 8, img, &err), CLIPPO_OK);
  assert_non_null(strstr(err.msg, "missing.png"));
  clippo_dataset_free(d);
  free(im2), free(img), free(npy), free(dir);
}

/* Training configs (configs/train_*.json), their JSON round trip, the optimizer config they
 * resolve to, the inline model config, the loss plot. */
static void test_train_opts(void **state) {
  (void)state;
  clippo_error err;
  clippo_train_opts o;
  clippo_train_opts_default(&o);
  char *p = source_path("configs/train_clippo_b16.json");
  TEST_OK(clippo_train_opts_load_json(p, &o, &err), &err);
  free(p);
  assert_int_equal(o.optimizer, CLIPPO_OPT_ADAFACTOR);
  assert_int_equal(o.batch_size, 8192);
  clippo_opt_config c;
  TEST_OK(clippo_train_opt_config(&o, o.steps, &c, &err), &err);
  assert_true(c.lr == 1e-3f && c.weight_decay == 1e-4f && c.clip_norm == 1.0f);
  assert_int_equal(c.schedule.kind, CLIPPO_SCHED_RSQRT);
  assert_int_equal(c.schedule.warmup_steps, 10000);
  assert_true(c.schedule.timescale == 10000.0 && c.momentum == 0.9 && c.eps == 1e-30f);
  /* round trip */
  char *json = NULL;
  TEST_OK(clippo_train_opts_to_json(&o, &json, &err), &err);
  clippo_train_opts o2;
  clippo_train_opts_default(&o2);
  TEST_OK(clippo_train_opts_parse_json(json, "round trip", &o2, &err), &err);
  char *json2 = NULL;
  TEST_OK(clippo_train_opts_to_json(&o2, &json2, &err), &err);
  assert_string_equal(json, json2);
  free(json), free(json2);

  clippo_train_opts_default(&o);
  p = source_path("configs/train_fmnist_tiny.json");
  TEST_OK(clippo_train_opts_load_json(p, &o, &err), &err);
  free(p);
  assert_string_equal(o.fmnist, CLIPPO_FMNIST_DIR);
  /* an input path in a config resolves against the config's folder; its log stays relative */
  size_t clen = strlen(o.captions), tail = strlen("/configs/fmnist_captions.json");
  assert_true(o.captions[0] == '/' && clen > tail);
  assert_string_equal(o.captions + clen - tail, "/configs/fmnist_captions.json");
  assert_string_equal(o.log, "fmnist_tiny.jsonl");
  assert_true(o.balanced && o.shuffle == 1);
  clippo_config mc;
  TEST_OK(clippo_train_model_config(o.model, &mc, &err), &err);
  assert_int_equal(mc.width, 128);
  assert_int_equal(mc.image_size, 64);
  TEST_OK(clippo_train_opts_to_json(&o, &json, &err), &err);
  assert_non_null(strstr(json, "\"model\":{"));
  clippo_train_opts_default(&o2);
  TEST_OK(clippo_train_opts_parse_json(json, "round trip", &o2, &err), &err);
  assert_string_equal(o.model, o2.model);
  free(json);
  TEST_OK(clippo_train_model_config("b16", &mc, &err), &err);
  assert_int_equal(mc.width, 768);
  assert_int_not_equal(clippo_train_model_config("{\"width\": -3}", &mc, &err), CLIPPO_OK);

  /* sgd: constant schedule, no clip, no decay unless asked; short runs cap the warmup */
  clippo_train_opts_default(&o);
  o.optimizer = CLIPPO_OPT_SGD;
  o.lr = 1.0;
  TEST_OK(clippo_train_opt_config(&o, 1, &c, &err), &err);
  assert_true(c.lr == 1.0f && c.clip_norm == 0.0f && c.weight_decay == 0.0f);
  assert_int_equal(c.schedule.kind, CLIPPO_SCHED_CONSTANT);
  assert_true(clippo_schedule_value(&c.schedule, 0) == 1.0);
  o.optimizer = CLIPPO_OPT_ADAMW;
  TEST_OK(clippo_train_opt_config(&o, 200, &c, &err), &err);
  assert_int_equal(c.schedule.warmup_steps, 20);
  assert_int_equal(c.schedule.cooldown_steps, 20);
  o.warmup = 300;
  assert_int_equal(clippo_train_opt_config(&o, 200, &c, &err), CLIPPO_E_ARG);

  /* errors name the key */
  const char *bad[][2] = {{"{\"lr\": \"fast\"}", "lr"},
                          {"{\"stepz\": 3}", "stepz"},
                          {"{\"schedule\": {\"type\": \"rsqrt\", \"warm\": 3}}", "schedule.warm"},
                          {"{\"steps\": -1}", "steps"},
                          {"{\"optimizer\": \"lion\"}", "lion"},
                          {"{\"accumulate\": 0}", "accumulate"},
                          {"[1, 2]", "object"},
                          {"{\"lr\": 1", "JSON"}};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    clippo_train_opts_default(&o);
    assert_int_not_equal(clippo_train_opts_parse_json(bad[i][0], "x.json", &o, &err), CLIPPO_OK);
    if (!strstr(err.msg, bad[i][1])) fail_msg("'%s': message '%s'", bad[i][0], err.msg);
  }
  /* the loss plot */
  char *dir = test_tmpdir();
  char svg[1024];
  snprintf(svg, sizeof svg, "%s/loss.svg", dir);
  float losses[5] = {3.0f, 2.5f, NAN, 2.0f, 1.0f};
  TEST_OK(clippo_train_plot_svg(svg, losses, 5, "a <test>", &err), &err);
  FILE *fp = fopen(svg, "rb");
  char buf[8192];
  size_t n = fread(buf, 1, sizeof buf - 1, fp);
  fclose(fp);
  buf[n] = '\0';
  assert_non_null(strstr(buf, "<polyline"));
  assert_non_null(strstr(buf, "a &lt;test&gt;"));
  assert_non_null(strstr(buf, "</svg>"));
  free(dir);
}

/* ---- text/text co-training ----------------------------------------------------------------- */

/* Writes bytes to dir/name; returns the path (static buffer). */
static const char *write_file(const char *dir, const char *name, const char *bytes, size_t len) {
  static char p[1024];
  snprintf(p, sizeof p, "%s/%s", dir, name);
  FILE *fp = fopen(p, "wb");
  assert_non_null(fp);
  assert_int_equal(fwrite(bytes, 1, len, fp), len);
  fclose(fp);
  return p;
}

/* Text-pair TSV files: what is read, and every malformed file fails naming file and line. */
static void test_text_pair_tsv(void **state) {
  (void)state;
  clippo_error err;
  char *dir = test_tmpdir();
  static const char good[] = "\xEF\xBB\xBF# a comment\n"
                             "a photo of a coat.\tFoto: Mantel\r\n"
                             "\n"
                             "#tag\t\xE4\xB8\x80\xE5\xBC\xA0\xE7\x85\xA7\xE7\x89\x87\n"
                             "last line\twithout newline";
  const char *p = write_file(dir, "pairs.tsv", good, sizeof good - 1);
  clippo_dataset *d = NULL;
  TEST_OK(clippo_dataset_open_text_pairs(p, 0, &d, &err), &err);
  assert_true(clippo_dataset_is_text_pairs(d));
  assert_int_equal(clippo_dataset_size(d), 3);
  assert_string_equal(clippo_dataset_text_pair(d, 0, 0), "a photo of a coat.");
  assert_string_equal(clippo_dataset_text_pair(d, 0, 1), "Foto: Mantel");
  assert_string_equal(clippo_dataset_text_pair(d, 1, 0), "#tag"); /* a TAB: data, not comment */
  assert_string_equal(clippo_dataset_text_pair(d, 1, 1), "一张照片");
  assert_string_equal(clippo_dataset_text_pair(d, 2, 1), "without newline");
  assert_null(clippo_dataset_text_pair(d, 3, 0));
  char cap[64];
  TEST_OK(clippo_dataset_caption(d, 0, 0, 0, cap, sizeof cap, &err), &err);
  assert_string_equal(cap, "Foto: Mantel");
  float img[8 * 8 * 3];
  assert_int_equal(clippo_dataset_image(d, 0, 8, img, &err), CLIPPO_E_ARG);
  clippo_dataset_free(d);
  TEST_OK(clippo_dataset_open_text_pairs(p, 2, &d, &err), &err);
  assert_int_equal(clippo_dataset_size(d), 2);
  clippo_dataset_free(d);

  struct {
    const char *bytes;
    size_t len;
    const char *want; /* in the message, after "bad.tsv" */
  } bad[] = {
      {"a\tb\nno tab here\n", 16,
       ":2: expected TEXT<TAB>TEXT (2 columns), found 1 column (no TAB)"},
      {"a\tb\tc\n", 6, ":1: expected TEXT<TAB>TEXT (2 columns), found 3 columns"},
      {"\tb\n", 3, ":1: the first text is empty"},
      {"# c\na\t\r\n", 8, ":2: the second text is empty"},
      {"ok\tfine\nbad \xC3\x28\tx\n", 17, ":2: invalid UTF-8 at byte 5 of the line"},
      {"\xC0\xAF\tx\n", 5, ":1: invalid UTF-8 at byte 1"},         /* overlong '/' */
      {"x\t\xED\xA0\x80\n", 6, ":1: invalid UTF-8 at byte 3"},     /* a surrogate */
      {"x\t\xF4\x90\x80\x80\n", 7, ":1: invalid UTF-8 at byte 3"}, /* above U+10FFFF */
      {"x\tab\xE4\xB8\n", 7, ":1: invalid UTF-8 at byte 5"},       /* cut short */
      {"a\0b\tc\n", 6, ":1: NUL byte"},
      {"", 0, ": no text pairs (the file is empty)"},
      {"\xEF\xBB\xBF", 3, ": no text pairs (the file is empty)"},
      {"# only\n\n\r\n", 10, ": no text pairs (only blank and comment lines)"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    p = write_file(dir, "bad.tsv", bad[i].bytes, bad[i].len);
    d = (clippo_dataset *)&err; /* must come back NULL */
    assert_int_equal(clippo_dataset_open_text_pairs(p, 0, &d, &err), CLIPPO_E_FORMAT);
    assert_null(d);
    char want[512];
    snprintf(want, sizeof want, "%s%s", p, bad[i].want);
    if (!strstr(err.msg, want)) fail_msg("case %zu: '%s' lacks '%s'", i, err.msg, want);
  }
  char missing[1024];
  snprintf(missing, sizeof missing, "%s/missing.tsv", dir);
  assert_int_equal(clippo_dataset_open_text_pairs(missing, 0, &d, &err), CLIPPO_E_IO);
  assert_non_null(strstr(err.msg, "missing.tsv"));
  free(dir);
}

/* The built-in pairs of configs/fmnist_captions.json against the nested loops written out. */
static void test_caption_pairs(void **state) {
  (void)state;
  clippo_error err;
  char langs[64];
  assert_false(clippo_text_pairs_builtin("pairs.tsv", langs, sizeof langs));
  assert_false(clippo_text_pairs_builtin("fmnist-captionsX", langs, sizeof langs));
  assert_true(clippo_text_pairs_builtin("fmnist-captions", langs, sizeof langs));
  assert_string_equal(langs, "en,de,zh");
  assert_true(clippo_text_pairs_builtin("fmnist-captions:de,en", langs, sizeof langs));
  assert_string_equal(langs, "de,en");
  char *path = source_path("configs/fmnist_captions.json");
  clippo_captions c;
  TEST_OK(clippo_captions_load(path, &c, &err), &err);
  clippo_dataset *d = NULL;
  TEST_OK(clippo_dataset_open_caption_pairs(path, NULL, &d, &err), &err);
  const size_t ids[3] = {0, 1, 2}; /* en, de, zh are the file's first three languages */
  assert_string_equal(c.langs[0], "en");
  assert_string_equal(c.langs[1], "de");
  assert_string_equal(c.langs[2], "zh");
  size_t want_n = 0;
  for (size_t i = 0; i < 3; i++)
    for (size_t j = i + 1; j < 3; j++) want_n += c.nclasses * c.ntemplates[i] * c.ntemplates[j];
  assert_int_equal(clippo_dataset_size(d), want_n);
  assert_int_equal(want_n, 9720);
  size_t k = 0;
  char a[512], b[512];
  for (size_t i = 0; i < 3; i++)
    for (size_t j = i + 1; j < 3; j++)
      for (int y = 0; y < 10; y++)
        for (size_t ta = 0; ta < c.ntemplates[ids[i]]; ta++)
          for (size_t tb = 0; tb < c.ntemplates[ids[j]]; tb++, k++) {
            TEST_OK(clippo_captions_format(&c, ids[i], ta, y, a, sizeof a, &err), &err);
            TEST_OK(clippo_captions_format(&c, ids[j], tb, y, b, sizeof b, &err), &err);
            assert_string_equal(clippo_dataset_text_pair(d, k, 0), a);
            assert_string_equal(clippo_dataset_text_pair(d, k, 1), b);
          }
  clippo_dataset_free(d);
  /* two languages in the order given */
  TEST_OK(clippo_dataset_open_caption_pairs(path, "de,en", &d, &err), &err);
  assert_int_equal(clippo_dataset_size(d), 10 * 18 * 18);
  TEST_OK(clippo_captions_format(&c, 1, 0, 0, a, sizeof a, &err), &err);
  assert_string_equal(clippo_dataset_text_pair(d, 0, 0), a);
  clippo_dataset_free(d);
  const char *bad[][2] = {{"en,xx", "no language 'xx'"},
                          {"en", "at least two languages"},
                          {"en,de,en", "'en' given twice"},
                          {"en,,de", "no language ''"}};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    assert_int_equal(clippo_dataset_open_caption_pairs(path, bad[i][0], &d, &err), CLIPPO_E_ARG);
    if (!strstr(err.msg, bad[i][1])) fail_msg("'%s': message '%s'", bad[i][0], err.msg);
  }
  assert_non_null(strstr(err.msg, "fmnist_captions.json"));
  clippo_captions_free(&c);
  free(path);
}

/* Which pairs of a batch are text/text: the count is round(fraction * B) computed in long
 * double, the rows come from an error-accumulating (Bresenham) walk, written independently of
 * the library's closed form; every share of a split batch holds its part. */
static void test_mix_rows(void **state) {
  (void)state;
  const size_t batches[] = {1, 2, 3, 4, 7, 10, 16, 31, 64, 100, 128, 256, 1000, 8192};
  const double fractions[] = {0.0, 0.01, 0.1, 0.125, 0.25, 1.0 / 3.0, 0.5, 0.75, 0.9, 1.0};
  for (size_t bi = 0; bi < sizeof batches / sizeof batches[0]; bi++)
    for (size_t fi = 0; fi < sizeof fractions / sizeof fractions[0]; fi++) {
      const size_t B = batches[bi];
      const double f = fractions[fi];
      long double exact = (long double)f * (long double)B;
      size_t want = (size_t)floorl(exact + 0.5L);
      const size_t P = clippo_mix_text_count(B, f);
      if (P != want) fail_msg("B %zu fraction %g: %zu text pairs, want %zu", B, f, P, want);
      size_t acc = 0, seen = 0;
      for (size_t j = 0; j < B; j++) {
        acc += P;
        int text = acc >= B;
        if (text) acc -= B;
        seen += (size_t)text;
        if (clippo_mix_is_text(B, P, j) != text)
          fail_msg("B %zu P %zu: pair %zu is %s", B, P, j, text ? "text" : "image");
        assert_int_equal(clippo_mix_text_before(B, P, j + 1), seen);
      }
      assert_int_equal(seen, P);
      /* shares of R ranks (R dividing B): floor or ceil of P / R each */
      for (size_t R = 2; R <= 8; R++) {
        if (B % R) continue;
        size_t total = 0;
        for (size_t r = 0; r < R; r++) {
          size_t c = 0;
          for (size_t j = r * (B / R); j < (r + 1) * (B / R); j++)
            c += (size_t)clippo_mix_is_text(B, P, j);
          assert_true(c == P / R || c == (P + R - 1) / R);
          total += c;
        }
        assert_int_equal(total, P);
      }
    }
  assert_int_equal(clippo_mix_text_count(10, -0.5), 0);
  assert_int_equal(clippo_mix_text_count(10, 2.0), 10);
  assert_int_equal(clippo_mix_text_count(2, 0.25), 1); /* half away from zero */
  assert_false(clippo_mix_is_text(4, 2, 4));           /* past the batch */
}

/* One mixed batch built by hand: image pairs from ds/si, text pairs from tp/ti, rows as the
 * reference walk says; inputs (2n, S, S, 3) of pairs [lo, lo + n). */
static void ref_mixed_batch(const clippo_dataset *ds, clippo_sampler *si, const clippo_dataset *tp,
                            clippo_sampler *ti, const clippo_font *font, int S, size_t B, size_t P,
                            size_t lo, size_t n, float *inputs) {
  clippo_error err;
  const size_t m = (size_t)S * S * 3;
  clippo_render_opts o;
  clippo_render_opts_default(&o, S);
  size_t acc = 0;
  for (size_t j = 0; j < B; j++) {
    acc += P;
    int text = acc >= B;
    if (text) acc -= B;
    uint64_t epoch = 0;
    size_t i = clippo_sampler_next(text ? ti : si, &epoch);
    if (j < lo || j >= lo + n) continue;
    float *first = inputs + (j - lo) * m, *second = inputs + (n + j - lo) * m;
    char cap[512];
    if (text) {
      const char *a = clippo_dataset_text_pair(tp, i, 0), *b = clippo_dataset_text_pair(tp, i, 1);
      TEST_OK(clippo_render_text(font, &o, a, strlen(a), CLIPPO_F32, 3, first, &err), &err);
      snprintf(cap, sizeof cap, "%s", b);
    } else {
      TEST_OK(clippo_dataset_image(ds, i, S, first, &err), &err);
      TEST_OK(clippo_dataset_caption(ds, i, si->seed, epoch, cap, sizeof cap, &err), &err);
    }
    TEST_OK(clippo_render_text(font, &o, cap, strlen(cap), CLIPPO_F32, 3, second, &err), &err);
  }
}

/* Mixed batches against the reference: whole batches over several epochs of both streams,
 * shares of a split batch, determinism by seed, resuming from the two streams' positions, no
 * text pairs = clippo_batch_fill, and bad calls. */
static void test_mix_fill(void **state) {
  (void)state;
  clippo_error err;
  clippo_dataset *ds = open_fixture(); /* 4 images (32 px) with captions */
  char *dir = test_tmpdir();
  static const char tsv[] = "a coat\tein Mantel\na bag\teine Tasche\na shirt\tein Hemd\n"
                            "a dress\tein Kleid\na sandal\teine Sandale\n";
  const char *p = write_file(dir, "mix.tsv", tsv, sizeof tsv - 1);
  clippo_dataset *tp = NULL;
  TEST_OK(clippo_dataset_open_text_pairs(p, 0, &tp, &err), &err);
  char *hex = test_shared_path("fonts/unifont-9.0.06.hex");
  const char *fonts[1] = {hex};
  clippo_font *font = NULL;
  TEST_OK(clippo_font_load(&font, fonts, 1, &err), &err);
  const int S = 32;
  const size_t m = (size_t)S * S * 3;
  const size_t B = 6, P = clippo_mix_text_count(B, 0.5); /* 3 images, 3 text pairs a batch */
  assert_int_equal(P, 3);
  float *got = malloc(2 * B * m * sizeof(float)), *want = malloc(2 * B * m * sizeof(float));
  float *part = malloc(2 * B * m * sizeof(float));
  clippo_sampler si, ti, ri, rt;
  TEST_OK(clippo_sampler_init(&si, ds, 5, 1, 0, &err), &err);
  TEST_OK(clippo_sampler_init(&ti, tp, 9, 1, 0, &err), &err);
  TEST_OK(clippo_sampler_init(&ri, ds, 5, 1, 0, &err), &err);
  TEST_OK(clippo_sampler_init(&rt, tp, 9, 1, 0, &err), &err);
  clippo_batch_mix mix = {ds, &si, tp, &ti, B, P};
  uint64_t mark[4] = {0};
  float *third = malloc(2 * B * m * sizeof(float));
  for (int step = 0; step < 5; step++) { /* 15 images (4 epochs), 15 pairs (3 epochs) */
    char *firsts[6], *seconds[6];
    TEST_OK(clippo_batch_fill_mixed(&mix, font, S, 0, B, got, firsts, seconds, &err), &err);
    ref_mixed_batch(ds, &ri, tp, &rt, font, S, B, P, 0, B, want);
    assert_memory_equal(got, want, 2 * B * m * sizeof(float));
    for (size_t j = 0; j < B; j++) {
      assert_int_equal(firsts[j] != NULL, clippo_mix_is_text(B, P, j));
      if (firsts[j])
        print_message("[ mix      ] step %d pair %zu: %s | %s\n", step, j, firsts[j], seconds[j]);
      free(firsts[j]);
      free(seconds[j]);
    }
    assert_true(si.epoch == ri.epoch && si.pos == ri.pos && ti.epoch == rt.epoch &&
                ti.pos == rt.pos);
    if (step == 1) { /* what a checkpoint after step 2 keeps */
      mark[0] = si.epoch, mark[1] = si.pos, mark[2] = ti.epoch, mark[3] = ti.pos;
    }
    if (step == 2) memcpy(third, got, 2 * B * m * sizeof(float));
  }
  assert_true(ti.epoch >= 2 && si.epoch >= 3); /* both streams rolled over epochs */
  /* resume: fresh samplers moved to the kept positions give step 3 again */
  clippo_sampler s2, t2;
  TEST_OK(clippo_sampler_init(&s2, ds, 5, 1, 0, &err), &err);
  TEST_OK(clippo_sampler_init(&t2, tp, 9, 1, 0, &err), &err);
  TEST_OK(clippo_sampler_seek(&s2, mark[0], mark[1], &err), &err);
  TEST_OK(clippo_sampler_seek(&t2, mark[2], mark[3], &err), &err);
  clippo_batch_mix mix2 = {ds, &s2, tp, &t2, B, P};
  TEST_OK(clippo_batch_fill_mixed(&mix2, font, S, 0, B, got, NULL, NULL, &err), &err);
  assert_memory_equal(got, third, 2 * B * m * sizeof(float));
  /* shares: ranks 0..2 of 3 fill pairs [2r, 2r + 2) of the same batch, each moving its
   * samplers past the whole batch */
  uint64_t start[4] = {s2.epoch, s2.pos, t2.epoch, t2.pos};
  TEST_OK(clippo_batch_fill_mixed(&mix2, font, S, 0, B, want, NULL, NULL, &err), &err);
  const uint64_t end[4] = {s2.epoch, s2.pos, t2.epoch, t2.pos};
  for (size_t r = 0; r < 3; r++) {
    TEST_OK(clippo_sampler_seek(&s2, start[0], start[1], &err), &err);
    TEST_OK(clippo_sampler_seek(&t2, start[2], start[3], &err), &err);
    TEST_OK(clippo_batch_fill_mixed(&mix2, font, S, 2 * r, 2, part, NULL, NULL, &err), &err);
    assert_memory_equal(part, want + 2 * r * m, 2 * m * sizeof(float));               /* firsts */
    assert_memory_equal(part + 2 * m, want + (B + 2 * r) * m, 2 * m * sizeof(float)); /* seconds */
    assert_true(s2.epoch == end[0] && s2.pos == end[1] && t2.epoch == end[2] && t2.pos == end[3]);
  }
  /* the same seeds give the same batch; another text-pair seed another one */
  clippo_sampler a1, a2, b1, b2;
  TEST_OK(clippo_sampler_init(&a1, ds, 5, 1, 0, &err), &err);
  TEST_OK(clippo_sampler_init(&b1, tp, 9, 1, 0, &err), &err);
  TEST_OK(clippo_sampler_init(&a2, ds, 5, 1, 0, &err), &err);
  TEST_OK(clippo_sampler_init(&b2, tp, 10, 1, 0, &err), &err);
  clippo_batch_mix m1 = {ds, &a1, tp, &b1, B, P}, m2 = {ds, &a2, tp, &b2, B, P};
  int differ = 0;
  for (int step = 0; step < 3; step++) {
    TEST_OK(clippo_batch_fill_mixed(&m1, font, S, 0, B, got, NULL, NULL, &err), &err);
    TEST_OK(clippo_batch_fill_mixed(&m2, font, S, 0, B, want, NULL, NULL, &err), &err);
    for (size_t j = 0; j < B; j++) { /* the image pairs agree, the text pairs follow the seed */
      int same = 1;
      for (size_t q = 0; q < m; q++) same &= got[j * m + q] == want[j * m + q];
      if (!clippo_mix_is_text(B, P, j)) assert_true(same);
      differ |= !same;
    }
  }
  assert_true(differ);
  /* no text pairs: exactly clippo_batch_fill */
  TEST_OK(clippo_sampler_seek(&a1, 0, 0, &err), &err);
  TEST_OK(clippo_sampler_seek(&a2, 0, 0, &err), &err);
  clippo_batch_mix m0 = {ds, &a1, NULL, NULL, 4, 0};
  TEST_OK(clippo_batch_fill_mixed(&m0, font, S, 0, 4, got, NULL, NULL, &err), &err);
  TEST_OK(clippo_batch_fill(ds, &a2, font, S, 4, want, NULL, &err), &err);
  assert_memory_equal(got, want, 8 * m * sizeof(float));
  /* text pairs only: no image stream needed */
  clippo_batch_mix mt = {NULL, NULL, tp, &b1, 4, 4};
  TEST_OK(clippo_batch_fill_mixed(&mt, font, S, 0, 4, got, NULL, NULL, &err), &err);
  /* bad calls */
  assert_int_equal(clippo_batch_fill_mixed(&mix2, font, S, 4, 3, got, NULL, NULL, &err),
                   CLIPPO_E_ARG);
  clippo_batch_mix nopairs = {ds, &a1, NULL, NULL, 4, 2};
  assert_int_equal(clippo_batch_fill_mixed(&nopairs, font, S, 0, 4, got, NULL, NULL, &err),
                   CLIPPO_E_ARG);
  clippo_batch_mix noimages = {NULL, NULL, tp, &b1, 4, 2};
  assert_int_equal(clippo_batch_fill_mixed(&noimages, font, S, 0, 4, got, NULL, NULL, &err),
                   CLIPPO_E_ARG);
  clippo_sampler *all[] = {&si, &ti, &ri, &rt, &s2, &t2, &a1, &a2, &b1, &b2};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) clippo_sampler_free(all[i]);
  free(got), free(want), free(part), free(third), free(hex), free(dir);
  clippo_font_free(font);
  clippo_dataset_free(tp);
  clippo_dataset_free(ds);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_captions),       cmocka_unit_test(test_train_opts),
      cmocka_unit_test(test_sampler),        cmocka_unit_test(test_fmnist),
      cmocka_unit_test(test_arrays_and_tsv), cmocka_unit_test(test_text_pair_tsv),
      cmocka_unit_test(test_caption_pairs),  cmocka_unit_test(test_mix_rows),
      cmocka_unit_test(test_mix_fill),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
