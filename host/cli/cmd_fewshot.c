/* `clippo fewshot`: big_vision's few-shot linear probe (evaluators/fewshot_lsr.py) on the
 * pre_logits of a model, or on features given as .npy files. */
#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli_model.h"
#include "cli_paths.h"
#include "cli_progress.h"
#include "cli_util.h"
#include "clippo/fewshot.h"
#include "clippo/idx.h"
#include "clippo/image.h"
#include "clippo/npy.h"
#include "clippo/tasks.h"

const char clippo_cmd_fewshot_summary[] =
    "few-shot linear probe (big_vision fewshot_lsr) on pre_logits or given features";

#define CMD "fewshot"
#define MAX_LIST 64
/* Images embedded per device call batch group (progress granularity). */
#define CHUNK 64

static void usage(FILE *out) {
  fprintf(out,
          "usage: clippo fewshot [--model M] --fashion-mnist [OPTIONS]\n"
          "       clippo fewshot [--model M] --train-dir DIR --test-dir DIR [OPTIONS]\n"
          "       clippo fewshot --train-features F --train-labels F --test-features F\n"
          "                      --test-labels F [OPTIONS]\n"
          "\n"
          "Few-shot linear probe exactly as big_vision's evaluators/fewshot_lsr.py: for each seed\n"
          "S (0..N-1) the training examples of each class are permuted with numpy's\n"
          "default_rng(S) (the same draws as big_vision), the first SHOTS of each class are\n"
          "whitened with their own mean and std (+1e-5), a constant feature 100 is appended, and\n"
          "the L2-regularised least-squares fit to targets 2*one_hot-1 (through the eigen-\n"
          "decomposition of X'X or XX', whichever is smaller; LAPACK, float64) classifies the\n"
          "test set. The representation is the image tower's pre_logits (the pooled output\n"
          "before the head, big_vision's 'img/pre_logits'); only the training images some seed\n"
          "draws are embedded.\n"
          "\n"
          "Data:\n"
          "  --fashion-mnist      train-* and t10k-* IDX files from env CLIPPO_FASHION_MNIST_DIR\n"
          "                       or /usr/share/datasets/fashion-mnist\n"
          "  --train-dir DIR      one subfolder per class (its name is the class), PNG/JPEG\n"
          "  --test-dir DIR       files below each; both folders must hold the same classes\n"
          "  --train-features F   features instead of a model: (N, D) float .npy\n"
          "  --train-labels F     N integer labels: .npy, or text with one integer per line\n"
          "  --test-features F, --test-labels F   the same for the test split\n"
          "\n"
          "Options:\n"
          "  --shots LIST         shots per class, comma-separated (default 1,5,10,25)\n"
          "  --seeds N            seeds 0..N-1; mean and std over them (default 3, as\n"
          "                       big_vision's num_seeds)\n"
          "  --l2 LIST            regularisation strengths, each reported (default 1024 = 2^10;\n"
          "                       numbers or powers written 2^K)\n"
          "  --classes LIST       class names for the features' labels, comma-separated, in\n"
          "                       label order (default: labels 0..max)\n"
          "  --classes-file F     the same, one name per line\n"
          "  --test-limit N       use the first N test examples\n"
          "  --json               one JSON object with the results instead of a table\n"
          "  --model M            checkpoint (.npz or .h5); default env CLIPPO_MODEL, else\n"
          "                       " CLI_DEFAULT_MODEL_FILE "\n"
          "  --device SPEC        OpenCL device (see clippo devices); default env CLIPPO_DEVICE\n"
          "  --batch-size B       images per device call (default 8)\n"
          "\n"
          "Images are preprocessed as clippo eval does (gray to RGB, bilinear resize to the\n"
          "model's size, values in [-1, 1]). Accuracies are fractions of the test set; the std\n"
          "is over seeds (population std, numpy's default). A class with fewer training examples\n"
          "than the largest shot count is an error.\n"
          "\n"
          "Examples:\n"
          "  clippo fewshot --fashion-mnist --shots 1,5,10 --seeds 5\n"
          "  clippo fewshot --model my.h5 --train-dir train/ --test-dir test/ --json\n");
}

/* ---------------------------------------------------------------------------------------------
 * Option values
 * ------------------------------------------------------------------------------------------- */

/* Parses "1,5,10,25" into positive integers. */
static int parse_shots(const char *s, size_t *out, size_t *n) {
  *n = 0;
  const char *p = s;
  while (*p) {
    char *end;
    errno = 0;
    unsigned long long v = strtoull(p, &end, 10);
    if (end == p || errno || v == 0 || v > 1000000 || (*end && *end != ',') || *p == '-' ||
        *n == MAX_LIST)
      return cli_usage_error(CMD, "--shots: '%s' is not a list of positive integers", s);
    out[(*n)++] = (size_t)v;
    p = *end ? end + 1 : end;
  }
  if (*n == 0) return cli_usage_error(CMD, "--shots: empty list");
  return 0;
}

/* Parses "1024,2^8,1e-3" into positive finite numbers. */
static int parse_l2(const char *s, double *out, size_t *n) {
  *n = 0;
  const char *p = s;
  while (*p) {
    char *end;
    errno = 0;
    double v = strtod(p, &end);
    if (end != p && *end == '^') {
      const char *e = end + 1;
      double k = strtod(e, &end);
      v = end == e ? NAN : pow(v, k);
    }
    if (end == p || errno || !(v > 0.0) || !isfinite(v) || (*end && *end != ',') || *n == MAX_LIST)
      return cli_usage_error(CMD, "--l2: '%s' is not a list of positive numbers", s);
    out[(*n)++] = v;
    p = *end ? end + 1 : end;
  }
  if (*n == 0) return cli_usage_error(CMD, "--l2: empty list");
  return 0;
}

/* ---------------------------------------------------------------------------------------------
 * Data
 * ------------------------------------------------------------------------------------------- */

/* One split: images (IDX pixels or files) or features, and labels. */
typedef struct fs_split {
  const char *name;   /* "train" / "test" */
  const char *source; /* what to name in messages */
  size_t n;
  size_t *labels;
  clippo_idx pixels;           /* IDX images, or */
  clippo_class_folders folder; /* class folders, or */
  clippo_array features;       /* given features (float32 after loading) */
  float *z;                    /* (n, dim) representation rows once known */
} fs_split;

static void split_free(fs_split *s) {
  free(s->labels);
  clippo_idx_free(&s->pixels);
  clippo_class_folders_free(&s->folder);
  clippo_array_free(&s->features);
  free(s->z);
}

/* Loads an IDX image/label pair (labels as size_t). */
static clippo_status load_idx(const char *images, const char *labels, size_t limit, fs_split *s,
                              clippo_error *err) {
  clippo_idx lb = {0};
  clippo_status st = clippo_idx_load(images, limit, &s->pixels, err);
  if (!st) st = clippo_idx_load(labels, limit, &lb, err);
  if (!st && s->pixels.ndim != 3)
    st = clippo_fail(err, CLIPPO_E_FORMAT, "%s: expected (N, H, W) images", images);
  if (!st && lb.ndim != 1)
    st = clippo_fail(err, CLIPPO_E_FORMAT, "%s: expected (N) labels", labels);
  if (!st && lb.dims[0] != s->pixels.dims[0])
    st = clippo_fail(err, CLIPPO_E_FORMAT, "%s holds %lld images but %s %lld labels", images,
                     (long long)s->pixels.dims[0], labels, (long long)lb.dims[0]);
  if (!st) {
    s->n = (size_t)lb.dims[0];
    s->labels = malloc((s->n ? s->n : 1) * sizeof *s->labels);
    if (!s->labels) st = clippo_fail(err, CLIPPO_E_NOMEM, "out of host memory");
  }
  for (size_t i = 0; !st && i < s->n; i++) s->labels[i] = lb.data[i];
  clippo_idx_free(&lb);
  s->source = images;
  return st;
}

/* Reads integer labels: .npy (integer dtype, or floats holding integers; shape (N) or (N, 1))
 * or text, one non-negative integer per line (trailing blank lines allowed). With classes > 0,
 * a label >= classes is an error naming the file and line (or index). */
static clippo_status load_labels(const char *path, size_t classes, size_t **labels, size_t *n,
                                 clippo_error *err) {
  *labels = NULL;
  *n = 0;
  FILE *f = fopen(path, "rb");
  if (!f) return clippo_fail(err, CLIPPO_E_IO, "cannot open labels %s", path);
  char magic[6] = {0};
  size_t got = fread(magic, 1, sizeof magic, f);
  clippo_status st = CLIPPO_OK;
  if (got == 6 && !memcmp(magic, "\x93NUMPY", 6)) {
    fclose(f);
    clippo_array a = {0};
    st = clippo_npy_load(path, &a, err);
    if (!st && !(a.ndim == 1 || (a.ndim == 2 && a.shape[1] == 1)))
      st = clippo_fail(err, CLIPPO_E_SHAPE, "labels %s: expected shape (N) or (N, 1)", path);
    size_t m = st ? 0 : (size_t)a.shape[0];
    if (!st && !(*labels = malloc((m ? m : 1) * sizeof **labels)))
      st = clippo_fail(err, CLIPPO_E_NOMEM, "out of host memory");
    for (size_t i = 0; !st && i < m; i++) {
      double v;
      switch (a.dtype) {
      case CLIPPO_U8: v = ((const uint8_t *)a.data)[i]; break;
      case CLIPPO_I32: v = ((const int32_t *)a.data)[i]; break;
      case CLIPPO_I64: v = (double)((const int64_t *)a.data)[i]; break;
      case CLIPPO_F32: v = ((const float *)a.data)[i]; break;
      case CLIPPO_F64: v = ((const double *)a.data)[i]; break;
      default: v = NAN; break;
      }
      if (!(v >= 0.0) || v != floor(v) || v > 1e9)
        st = clippo_fail(err, CLIPPO_E_FORMAT,
                         "labels %s: entry %zu is not a non-negative "
                         "integer",
                         path, i);
      else if (classes && (size_t)v >= classes)
        st = clippo_fail(err, CLIPPO_E_FORMAT,
                         "labels %s: entry %zu is %zu, not below the %zu "
                         "classes",
                         path, i, (size_t)v, classes);
      else
        (*labels)[i] = (size_t)v;
    }
    clippo_array_free(&a);
    if (!st) *n = m;
  } else {
    rewind(f);
    char line[256];
    size_t cap = 0, lineno = 0, blank_from = 0;
    while (!st && fgets(line, sizeof line, f)) {
      lineno++;
      size_t len = strlen(line);
      if (len == sizeof line - 1 && line[len - 1] != '\n') {
        st = clippo_fail(err, CLIPPO_E_FORMAT, "%s:%zu: line too long for a label", path, lineno);
        break;
      }
      char *p = line;
      while (isspace((unsigned char)*p)) p++;
      if (!*p) {
        if (!blank_from) blank_from = lineno;
        continue;
      }
      if (blank_from) {
        st = clippo_fail(err, CLIPPO_E_FORMAT, "%s:%zu: empty line (one integer label per line)",
                         path, blank_from);
        break;
      }
      char *end;
      errno = 0;
      unsigned long long v = strtoull(p, &end, 10);
      while (isspace((unsigned char)*end)) end++;
      if (end == p || *p == '-' || *p == '+' || *end || errno) {
        p[strcspn(p, "\r\n")] = '\0';
        st = clippo_fail(err, CLIPPO_E_FORMAT, "%s:%zu: '%s' is not a non-negative integer label",
                         path, lineno, p);
        break;
      }
      if (classes && v >= classes) {
        st = clippo_fail(err, CLIPPO_E_FORMAT, "%s:%zu: label %llu is not below the %zu classes",
                         path, lineno, v, classes);
        break;
      }
      if (*n == cap) {
        cap = cap ? 2 * cap : 1024;
        size_t *nl = realloc(*labels, cap * sizeof *nl);
        if (!nl) {
          st = clippo_fail(err, CLIPPO_E_NOMEM, "out of host memory");
          break;
        }
        *labels = nl;
      }
      (*labels)[(*n)++] = (size_t)v;
    }
    if (!st && ferror(f)) st = clippo_fail(err, CLIPPO_E_IO, "cannot read labels %s", path);
    fclose(f);
  }
  if (st) {
    free(*labels);
    *labels = NULL;
    *n = 0;
  }
  return st;
}

/* Loads a features .npy and its labels. */
static clippo_status load_features(const char *feat, const char *lab, size_t classes, fs_split *s,
                                   clippo_error *err) {
  s->source = feat;
  clippo_status st = clippo_npy_load(feat, &s->features, err);
  if (!st && s->features.ndim != 2)
    st = clippo_fail(err, CLIPPO_E_SHAPE, "features %s: expected shape (N, D), not %d dimensions",
                     feat, s->features.ndim);
  if (!st && (s->features.dtype == CLIPPO_U8 || s->features.dtype == CLIPPO_I32 ||
              s->features.dtype == CLIPPO_I64))
    st = clippo_fail(err, CLIPPO_E_SHAPE, "features %s: expected floats, not %s", feat,
                     clippo_dtype_name(s->features.dtype));
  if (!st) st = clippo_array_to_f32(&s->features, err);
  size_t nl = 0;
  if (!st) st = load_labels(lab, classes, &s->labels, &nl, err);
  if (!st && nl != (size_t)s->features.shape[0])
    st = clippo_fail(err, CLIPPO_E_FORMAT, "%s holds %lld feature rows but %s %zu labels", feat,
                     (long long)s->features.shape[0], lab, nl);
  if (!st) s->n = nl;
  return st;
}

/* ---------------------------------------------------------------------------------------------
 * Embedding
 * ------------------------------------------------------------------------------------------- */

/* Writes the model input of example i of s into dst. */
static clippo_status example_input(const fs_split *s, size_t i, int size, float *dst,
                                   clippo_error *err) {
  if (s->pixels.data) {
    size_t item = clippo_idx_item_size(&s->pixels);
    return clippo_pixels_to_inputs(s->pixels.data + i * item, 1, (int)s->pixels.dims[2],
                                   (int)s->pixels.dims[1], 1, size, dst, err);
  }
  return clippo_image_preprocess_file(s->folder.files.items[i], size, dst, err);
}

/* Embeds the examples of s marked in need (NULL: all) into s->z (allocated, n x dim). */
static clippo_status embed_split(clippo_model *model, fs_split *s, const unsigned char *need,
                                 size_t count, cli_progress *prog, clippo_error *err) {
  const clippo_config *cfg = clippo_model_config(model);
  int size = cfg->image_size;
  size_t dim = clippo_model_output_dim(model, CLIPPO_EMBED_PRE_LOGITS);
  size_t per = (size_t)size * (size_t)size * 3;
  s->z = calloc(s->n * dim + 1, sizeof *s->z);
  float *in = malloc(CHUNK * per * sizeof *in), *z = malloc(CHUNK * dim * sizeof *z);
  size_t rows[CHUNK];
  clippo_status st = CLIPPO_OK;
  if (!s->z || !in || !z) st = clippo_fail(err, CLIPPO_E_NOMEM, "out of host memory");
  size_t i = 0, done = 0;
  while (!st && done < count) {
    size_t m = 0;
    for (; i < s->n && m < CHUNK; i++) {
      if (need && !need[i]) continue;
      st = example_input(s, i, size, in + m * per, err);
      if (st) break;
      rows[m++] = i;
    }
    if (!st) st = clippo_model_embed_images(model, in, m, CLIPPO_EMBED_PRE_LOGITS, z, err);
    for (size_t k = 0; !st && k < m; k++)
      memcpy(s->z + rows[k] * dim, z + k * dim, dim * sizeof *z);
    done += m;
    if (!st) cli_progress_add(prog, m);
    if (!st && m == 0) break;
  }
  free(in);
  free(z);
  return st;
}

/* ---------------------------------------------------------------------------------------------
 * Output
 * ------------------------------------------------------------------------------------------- */

typedef struct fs_report {
  const char *dataset, *model, *representation;
  size_t dim, classes, n_train, n_test, embedded;
  const size_t *shots;
  size_t nshots, seeds;
  const double *l2;
  size_t nl2;
  const double *acc; /* [seed][shot][l2] */
} fs_report;

static double acc_at(const fs_report *r, size_t seed, size_t s, size_t j) {
  return r->acc[(seed * r->nshots + s) * r->nl2 + j];
}

/* Mean and population std over the seeds of (shots s, l2 j). */
static void seed_stats(const fs_report *r, size_t s, size_t j, double *mean, double *sd) {
  double m = 0.0, v = 0.0;
  for (size_t k = 0; k < r->seeds; k++) m += acc_at(r, k, s, j);
  m /= (double)r->seeds;
  for (size_t k = 0; k < r->seeds; k++) v += (acc_at(r, k, s, j) - m) * (acc_at(r, k, s, j) - m);
  *mean = m;
  *sd = sqrt(v / (double)r->seeds);
}

static int print_json(const fs_report *r) {
  cJSON *o = cJSON_CreateObject(), *res = NULL;
  int ok = o && cJSON_AddStringToObject(o, "task", "fewshot") &&
           cJSON_AddStringToObject(o, "dataset", r->dataset) &&
           (!r->model || cJSON_AddStringToObject(o, "model", r->model)) &&
           cJSON_AddStringToObject(o, "representation", r->representation) &&
           cJSON_AddNumberToObject(o, "dim", (double)r->dim) &&
           cJSON_AddNumberToObject(o, "classes", (double)r->classes) &&
           cJSON_AddNumberToObject(o, "train", (double)r->n_train) &&
           cJSON_AddNumberToObject(o, "test", (double)r->n_test) &&
           cJSON_AddNumberToObject(o, "train_embedded", (double)r->embedded) &&
           cJSON_AddNumberToObject(o, "seeds", (double)r->seeds) &&
           (res = cJSON_AddArrayToObject(o, "results"));
  for (size_t s = 0; ok && s < r->nshots; s++)
    for (size_t j = 0; ok && j < r->nl2; j++) {
      double m, sd;
      seed_stats(r, s, j, &m, &sd);
      cJSON *e = cJSON_CreateObject(), *ps = NULL;
      ok = e && cJSON_AddNumberToObject(e, "shots", (double)r->shots[s]) &&
           cJSON_AddNumberToObject(e, "l2", r->l2[j]) &&
           cJSON_AddNumberToObject(e, "accuracy", m) && cJSON_AddNumberToObject(e, "std", sd) &&
           (ps = cJSON_AddArrayToObject(e, "per_seed"));
      for (size_t k = 0; ok && k < r->seeds; k++) {
        cJSON *v = cJSON_CreateNumber(acc_at(r, k, s, j));
        ok = v != NULL;
        if (v) cJSON_AddItemToArray(ps, v);
      }
      if (e) cJSON_AddItemToArray(res, e);
    }
  char *str = ok ? cJSON_PrintUnformatted(o) : NULL;
  if (str) printf("%s\n", str);
  free(str);
  cJSON_Delete(o);
  return str ? 0 : -1;
}

static void print_table(const fs_report *r) {
  printf("Few-shot linear probe (big_vision fewshot_lsr): %s\n", r->dataset);
  if (r->model)
    printf("  model %s, %s (%zu features)\n", r->model, r->representation, r->dim);
  else
    printf("  %s (%zu features)\n", r->representation, r->dim);
  printf("  %zu classes, %zu training examples (%zu embedded), %zu test examples, seeds 0..%zu\n\n",
         r->classes, r->n_train, r->embedded, r->n_test, r->seeds - 1);
  printf("  %6s %10s %9s %8s   %s\n", "shots", "l2", "accuracy", "std", "per seed");
  for (size_t s = 0; s < r->nshots; s++)
    for (size_t j = 0; j < r->nl2; j++) {
      double m, sd;
      seed_stats(r, s, j, &m, &sd);
      printf("  %6zu %10g %8.2f%% %7.2f%%  ", r->shots[s], r->l2[j], 100.0 * m, 100.0 * sd);
      for (size_t k = 0; k < r->seeds; k++) printf(" %.2f", 100.0 * acc_at(r, k, s, j));
      printf("\n");
    }
}

/* ---------------------------------------------------------------------------------------------
 * The command
 * ------------------------------------------------------------------------------------------- */

typedef struct fs_args {
  const char *model, *device, *train_dir, *test_dir, *train_feat, *train_lab, *test_feat;
  const char *test_lab, *classes_list, *classes_file, *shots_s, *l2_s;
  long seeds, test_limit, batch;
  int json, fmnist;
} fs_args;

/* Class names for features: --classes / --classes-file, into names (as given). */
static clippo_status feature_classes(const fs_args *a, clippo_classes *cls, clippo_error *err) {
  if (a->classes_list) return clippo_classes_parse_list(a->classes_list, 0, cls, err);
  if (a->classes_file) return clippo_classes_load_file(a->classes_file, 0, cls, err);
  return CLIPPO_OK;
}

/* Loads both splits; sets the class names (may stay empty for features) and count. */
static clippo_status load_data(const fs_args *a, fs_split *tr, fs_split *te, clippo_classes *cls,
                               size_t *classes, char *dataset, size_t dcap, clippo_error *err) {
  clippo_status st = CLIPPO_OK;
  if (a->fmnist) {
    const char *dir = cli_fashion_mnist_dir();
    if (!dir)
      return clippo_fail(err, CLIPPO_E_NOTFOUND,
                         "Fashion-MNIST not found: set "
                         "CLIPPO_FASHION_MNIST_DIR or install dataset-fashion-mnist");
    char im[CLI_PATH_MAX + 64], lb[CLI_PATH_MAX + 64];
    snprintf(im, sizeof im, "%s/train-images-idx3-ubyte.gz", dir);
    snprintf(lb, sizeof lb, "%s/train-labels-idx1-ubyte.gz", dir);
    st = load_idx(im, lb, 0, tr, err);
    snprintf(im, sizeof im, "%s/t10k-images-idx3-ubyte.gz", dir);
    snprintf(lb, sizeof lb, "%s/t10k-labels-idx1-ubyte.gz", dir);
    if (!st) st = load_idx(im, lb, (size_t)a->test_limit, te, err);
    for (size_t c = 0; !st && c < 10; c++)
      st = clippo_classes_add(cls, clippo_fashion_mnist_classes[c], 0, err);
    *classes = 10;
    snprintf(dataset, dcap, "Fashion-MNIST (%s)", dir);
    tr->source = "Fashion-MNIST training set";
    te->source = "Fashion-MNIST test set";
  } else if (a->train_dir) {
    st = clippo_class_folders_load(a->train_dir, NULL, &tr->folder, err);
    if (!st) st = clippo_class_folders_load(a->test_dir, &tr->folder.names, &te->folder, err);
    if (!st) {
      tr->n = tr->folder.files.count;
      te->n = te->folder.files.count;
      if (a->test_limit > 0 && te->n > (size_t)a->test_limit) te->n = (size_t)a->test_limit;
      tr->labels = tr->folder.labels;
      te->labels = te->folder.labels;
      tr->folder.labels = te->folder.labels = NULL;
      *classes = tr->folder.names.count;
      for (size_t c = 0; !st && c < *classes; c++)
        st = clippo_classes_add(cls, tr->folder.names.items[c], 0, err);
    }
    tr->source = a->train_dir;
    te->source = a->test_dir;
    snprintf(dataset, dcap, "%s | %s", a->train_dir, a->test_dir);
  } else {
    st = feature_classes(a, cls, err);
    size_t given = cls->count;
    if (!st) st = load_features(a->train_feat, a->train_lab, given, tr, err);
    size_t nc = given;
    for (size_t i = 0; !st && !given && i < tr->n; i++)
      if (tr->labels[i] + 1 > nc) nc = tr->labels[i] + 1;
    if (!st) st = load_features(a->test_feat, a->test_lab, nc, te, err);
    if (!st && te->features.shape[1] != tr->features.shape[1])
      st = clippo_fail(err, CLIPPO_E_SHAPE, "%s has %lld features per row but %s %lld",
                       a->train_feat, (long long)tr->features.shape[1], a->test_feat,
                       (long long)te->features.shape[1]);
    if (!st && a->test_limit > 0 && te->n > (size_t)a->test_limit) te->n = (size_t)a->test_limit;
    *classes = nc;
    snprintf(dataset, dcap, "%s | %s", a->train_feat, a->test_feat);
  }
  if (!st && tr->n == 0)
    st = clippo_fail(err, CLIPPO_E_FORMAT, "the training split (%s) is empty", tr->source);
  if (!st && te->n == 0)
    st = clippo_fail(err, CLIPPO_E_FORMAT, "the test split (%s) is empty", te->source);
  return st;
}

/* Embeds what the plan needs (all of the test split) with the model. */
static clippo_status embed_data(const fs_args *a, fs_split *tr, fs_split *te, size_t classes,
                                const clippo_fewshot_plan *plan, size_t *dim, size_t *embedded,
                                int quiet, clippo_error *err) {
  unsigned char *need = malloc(tr->n);
  if (!need) return clippo_fail(err, CLIPPO_E_NOMEM, "out of host memory");
  clippo_status st = clippo_fewshot_needed(tr->labels, tr->n, classes, plan, need, embedded, err);
  clippo_rt *rt = NULL;
  clippo_model *model = NULL;
  if (!st && cli_open_model(CMD, a->device, a->model, (size_t)a->batch, &rt, &model)) {
    free(need);
    err->status = CLIPPO_E_ARG;
    err->msg[0] = '\0'; /* already printed */
    return CLIPPO_E_ARG;
  }
  if (!st) {
    cli_watch_runtime(CMD, rt);
    *dim = clippo_model_output_dim(model, CLIPPO_EMBED_PRE_LOGITS);
    cli_progress prog;
    cli_progress_start(&prog, CMD, "images", *embedded + te->n, quiet);
    st = embed_split(model, tr, need, *embedded, &prog, err);
    if (!st) st = embed_split(model, te, NULL, te->n, &prog, err);
    cli_progress_finish(&prog);
  }
  clippo_model_free(model);
  clippo_rt_destroy(rt);
  free(need);
  return st;
}

int clippo_cmd_fewshot(int argc, char **argv) {
  fs_args a = {0};
  a.shots_s = "1,5,10,25";
  a.l2_s = "1024";
  a.seeds = 3;
  a.batch = 8;
  const cli_option opts[] = {
      {"--json", CLI_SET, &a.json, 0, 0},
      {"--fashion-mnist", CLI_SET, &a.fmnist, 0, 0},
      {"--model", CLI_STRING, &a.model, 0, 0},
      {"--device", CLI_DEVICE, &a.device, 0, 0},
      {"--train-dir", CLI_STRING, &a.train_dir, 0, 0},
      {"--test-dir", CLI_STRING, &a.test_dir, 0, 0},
      {"--train-features", CLI_STRING, &a.train_feat, 0, 0},
      {"--train-labels", CLI_STRING, &a.train_lab, 0, 0},
      {"--test-features", CLI_STRING, &a.test_feat, 0, 0},
      {"--test-labels", CLI_STRING, &a.test_lab, 0, 0},
      {"--classes", CLI_STRING, &a.classes_list, 0, 0},
      {"--classes-file", CLI_STRING, &a.classes_file, 0, 0},
      {"--shots", CLI_STRING, &a.shots_s, 0, 0},
      {"--l2", CLI_STRING, &a.l2_s, 0, 0},
      {"--seeds", CLI_LONG, &a.seeds, 1, 1000},
      {"--test-limit", CLI_LONG, &a.test_limit, 1, 1L << 40},
      {"--batch-size", CLI_LONG, &a.batch, 1, 4096},
  };
  int prc = cli_parse(CMD, argc, argv, opts, sizeof opts / sizeof opts[0], NULL);
  if (prc < 0) {
    usage(stdout);
    return 0;
  }
  if (prc) return prc;
  int dirs = a.train_dir || a.test_dir;
  int feats = a.train_feat || a.train_lab || a.test_feat || a.test_lab;
  if (a.fmnist + dirs + feats != 1)
    return cli_usage_error(CMD, "give exactly one of --fashion-mnist, --train-dir/--test-dir or "
                                "--train-features/--train-labels/--test-features/--test-labels");
  if (dirs && !(a.train_dir && a.test_dir))
    return cli_usage_error(CMD, "--train-dir and --test-dir go together");
  if (feats && !(a.train_feat && a.train_lab && a.test_feat && a.test_lab))
    return cli_usage_error(CMD, "--train-features, --train-labels, --test-features and "
                                "--test-labels go together");
  if ((a.classes_list || a.classes_file) && !feats)
    return cli_usage_error(CMD, "--classes and --classes-file name the classes of features only");
  if (a.classes_list && a.classes_file)
    return cli_usage_error(CMD, "give at most one of --classes and --classes-file");
  if (feats && a.model) return cli_usage_error(CMD, "--model does not apply to given features");
  size_t shots[MAX_LIST], nshots, nl2;
  double l2[MAX_LIST];
  if (parse_shots(a.shots_s, shots, &nshots) || parse_l2(a.l2_s, l2, &nl2)) return 2;
  char model_buf[CLI_PATH_MAX];
  if (!feats && !a.model && !(a.model = cli_default_model(CMD, model_buf, sizeof model_buf)))
    return 1;
  int quiet = 0; /* progress goes to stderr, the JSON to stdout */

  clippo_error err;
  clippo_error_clear(&err);
  fs_split tr, te;
  memset(&tr, 0, sizeof tr);
  memset(&te, 0, sizeof te);
  tr.name = "train";
  te.name = "test";
  clippo_classes cls = {0};
  size_t classes = 0, dim = 0, embedded = 0;
  char dataset[2 * CLI_PATH_MAX + 8];
  double *acc = NULL;
  clippo_fewshot_plan plan = {shots, nshots, (size_t)a.seeds, l2, nl2};
  clippo_status st = load_data(&a, &tr, &te, &cls, &classes, dataset, sizeof dataset, &err);
  if (!st)
    st = clippo_fewshot_check(tr.labels, tr.n, classes, &plan,
                              cls.count ? (const char *const *)cls.labels : NULL, &err);
  if (!st && feats) {
    dim = (size_t)tr.features.shape[1];
    tr.z = tr.features.data;
    te.z = te.features.data;
    tr.features.data = te.features.data = NULL;
    embedded = tr.n;
  } else if (!st) {
    st = embed_data(&a, &tr, &te, classes, &plan, &dim, &embedded, quiet, &err);
  }
  if (!st && !(acc = malloc(plan.seeds * nshots * nl2 * sizeof *acc + 1)))
    st = clippo_fail(&err, CLIPPO_E_NOMEM, "out of host memory");
  if (!st)
    st = clippo_fewshot_run(tr.z, tr.labels, tr.n, te.z, te.labels, te.n, dim, classes, &plan, acc,
                            &err);
  int rc = 0;
  if (!st) {
    fs_report r = {dataset,
                   feats ? NULL : a.model,
                   feats ? "features" : "pre_logits",
                   dim,
                   classes,
                   tr.n,
                   te.n,
                   embedded,
                   shots,
                   nshots,
                   plan.seeds,
                   l2,
                   nl2,
                   acc};
    if (a.json) {
      if (print_json(&r)) st = clippo_fail(&err, CLIPPO_E_NOMEM, "out of memory writing JSON");
    } else {
      print_table(&r);
    }
  }
  if (st) rc = err.msg[0] ? cli_report(CMD, &err) : 1;
  free(acc);
  split_free(&tr);
  split_free(&te);
  clippo_classes_free(&cls);
  return rc;
}
