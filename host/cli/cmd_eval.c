/* `clippo eval`: zero-shot accuracy (IDX files such as Fashion-MNIST, or a folder per class),
 * the typographic attack on them, and image-caption retrieval recalls. */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli_model.h"
#include "cli_mpi.h"
#include "cli_paths.h"
#include "cli_progress.h"
#include "cli_recall.h"
#include "cli_text_pairs.h"
#include "cli_shard.h"
#include "cli_typographic.h"
#include "cli_util.h"
#include "cli_zeroshot.h"
#include "clippo/idx.h"
#include "clippo/tasks.h"

const char clippo_cmd_eval_summary[] =
    "zero-shot accuracy (Fashion-MNIST, IDX, class folders) and retrieval recall";

#define MAX_FONTS 64
#define CHUNK 256

static void usage(FILE *out) {
  fprintf(out,
          "usage: clippo eval [--model M] --fashion-mnist [OPTIONS]\n"
          "       clippo eval [--model M] --idx-images F --idx-labels F [OPTIONS]\n"
          "       clippo eval [--model M] --folder DIR [OPTIONS]\n"
          "       clippo eval [--model M] --tsv F [OPTIONS]\n"
          "       clippo eval [--model M] --text-pairs F [OPTIONS]\n"
          "\n"
          "Zero-shot classification accuracy (top-1, and top-5 with at least 5 classes) as\n"
          "big_vision's evaluator computes it, or image<->text retrieval recall@1/5/10.\n"
          "\n"
          "Data:\n"
          "  --fashion-mnist     the Fashion-MNIST test set (t10k-*-ubyte.gz) from env\n"
          "                      CLIPPO_FASHION_MNIST_DIR or /usr/share/datasets/fashion-mnist;\n"
          "                      prints a few example predictions and the accuracy\n"
          "  --idx-images F      IDX images (N, H, W) gray or (N, H, W, 3), gzip or plain\n"
          "  --idx-labels F      IDX labels (N), as many as images; class names from\n"
          "                      --classes/--classes-file, default the ten Fashion-MNIST classes\n"
          "  --folder DIR        one subfolder per class (its name is the class name), image\n"
          "                      files (PNG, JPEG, GIF, WebP) found recursively in each; a class\n"
          "                      without images shows n/a\n"
          "  --tsv F             image<TAB>caption lines (image paths relative to F's folder):\n"
          "                      recall@1/5/10 image->text and text->image\n"
          "  --text-pairs F      TEXT<TAB>TEXT lines, or the built-in\n"
          "                      " CLIPPO_TEXT_PAIRS_BUILTIN ":LANG,LANG (the caption templates\n"
          "                      of each class in two languages): text->text recall@1/5/10\n"
          "                      both ways; a text matches every text paired with it on a\n"
          "                      line (" CLIPPO_TEXT_PAIRS_BUILTIN ":de,en: German captions ->\n"
          "                      English captions of the same class)\n"
          "\n"
          "Options:\n"
          "  --model M           checkpoint (.npz or .h5); default env CLIPPO_MODEL, else the\n"
          "                      installed default model (" CLI_DEFAULT_MODEL_FILE ")\n"
          "  --classes LIST      comma-separated class names, in label order (IDX)\n"
          "  --classes-file F    one class name per line, in label order (IDX)\n"
          "  --templates T       clip_paper, clip_best, none, or a file of templates; default:\n"
          "                      the model's recorded training prompts, else clip_best\n"
          "  --no-canonicalize   use class names and templates as given\n"
          "  --limit N           use the first N images (or TSV lines)\n"
          "  --examples N        example predictions shown (default 8 with --fashion-mnist,\n"
          "                      else 0)\n"
          "  --json              print one JSON object with the results instead of tables\n"
          "  --skip-bad          skip image files that cannot be decoded (default: error)\n"
          "  --device SPEC       OpenCL device (see clippo devices); default env CLIPPO_DEVICE\n"
          "  --font F            glyph file(s) for rendering texts (default: env CLIPPO_FONT,\n"
          "                      else the system Unifont)\n"
          "  --batch-size B      images or texts per device call (default 8)\n"
          "  --cache FILE        prompt-embedding cache file, or 'off'\n"
          "\n");
  cli_typo_usage(out);
  fprintf(out,
          "\n"
          "Images are preprocessed as big_vision does: gray replicated to RGB, bilinear resize\n"
          "to the model's image size, values to [-1, 1]. Class names and templates are\n"
          "canonicalised as big_vision does unless --no-canonicalize is given: '_' -> space,\n"
          "punctuation removed, lowercase ('T-shirt/top' -> 'tshirttop', 'a photo of a {}.'\n"
          "-> 'a photo of a {}'); a class embedding is the mean of its prompts' embeddings.\n"
          "\n"
          "Examples:\n"
          "  clippo eval --fashion-mnist\n"
          "  clippo eval --folder photos/ --templates clip_paper --json\n"
          "  clippo eval --model my.h5 --tsv captions.tsv --limit 1000\n");
}

/* ---- options ------------------------------------------------------------------------------- */

/* The options of one run. */
typedef struct eval_args {
  const char *text_pairs; /* --text-pairs: text-text retrieval */
  const char *model, *idx_images, *idx_labels, *folder, *tsv, *classes_list, *classes_file;
  const char *templates, *device, *cache;
  long limit, examples, batch;
  int json, fmnist, canon, skip_bad;
  const char *font_items[MAX_FONTS];
  cli_list fonts;
  char *owned_fonts;
  cli_typo_args typo;
  char model_buf[CLI_PATH_MAX], fm_images[CLI_PATH_MAX + 64], fm_labels[CLI_PATH_MAX + 64];
  const clippo_dist *dist; /* `mpirun clippo eval`: the ranks that share the embedding */
} eval_args;

/* Checks the combination of options; 0 or 2 after a usage error. */
static int check_args(const eval_args *a) {
  int modes =
      a->fmnist + (a->idx_images || a->idx_labels) + !!a->folder + !!a->tsv + !!a->text_pairs;
  if (modes != 1)
    return cli_usage_error("eval", "give exactly one of --fashion-mnist, --idx-images/"
                                   "--idx-labels, --folder, --tsv or --text-pairs");
  if ((a->idx_images || a->idx_labels) && !(a->idx_images && a->idx_labels))
    return cli_usage_error("eval", "--idx-images and --idx-labels go together");
  if (a->classes_list && a->classes_file)
    return cli_usage_error("eval", "give at most one of --classes and --classes-file");
  if ((a->classes_list || a->classes_file) && (a->folder || a->tsv || a->text_pairs))
    return cli_usage_error("eval", "--classes applies to IDX data only");
  if (cli_typo_active(&a->typo) && (a->tsv || a->text_pairs))
    return cli_usage_error("eval", "the typographic attack needs IDX or --folder data, not %s",
                           a->tsv ? "--tsv" : "--text-pairs");
  return cli_typo_check("eval", &a->typo);
}

/* The Fashion-MNIST test files into a->idx_images / idx_labels; 0 or 1 after an error. */
static int fashion_mnist_files(eval_args *a) {
  const char *dir = cli_fashion_mnist_dir();
  if (!dir) {
    fprintf(stderr, "clippo eval: error: Fashion-MNIST not found: set CLIPPO_FASHION_MNIST_DIR "
                    "or install it in /usr/share/datasets/fashion-mnist\n");
    return 1;
  }
  snprintf(a->fm_images, sizeof a->fm_images, "%s/t10k-images-idx3-ubyte.gz", dir);
  snprintf(a->fm_labels, sizeof a->fm_labels, "%s/t10k-labels-idx1-ubyte.gz", dir);
  a->idx_images = a->fm_images;
  a->idx_labels = a->fm_labels;
  return 0;
}

/* Parses and checks the command line; 0, -1 for --help (usage printed) or an exit code. */
static int parse_args(int argc, char **argv, eval_args *a) {
  memset(a, 0, sizeof *a);
  a->examples = -1;
  a->batch = 8;
  a->canon = 1;
  a->fonts = (cli_list){a->font_items, 0, MAX_FONTS};
  const cli_option opts[] = {
      {"--json", CLI_SET, &a->json, 0, 0},
      {"--fashion-mnist", CLI_SET, &a->fmnist, 0, 0},
      {"--no-canonicalize", CLI_CLEAR, &a->canon, 0, 0},
      {"--skip-bad", CLI_SET, &a->skip_bad, 0, 0},
      {"--model", CLI_STRING, &a->model, 0, 0},
      {"--idx-images", CLI_STRING, &a->idx_images, 0, 0},
      {"--idx-labels", CLI_STRING, &a->idx_labels, 0, 0},
      {"--folder", CLI_STRING, &a->folder, 0, 0},
      {"--tsv", CLI_STRING, &a->tsv, 0, 0},
      {"--text-pairs", CLI_STRING, &a->text_pairs, 0, 0},
      {"--classes", CLI_STRING, &a->classes_list, 0, 0},
      {"--classes-file", CLI_STRING, &a->classes_file, 0, 0},
      {"--templates", CLI_STRING, &a->templates, 0, 0},
      {"--device", CLI_DEVICE, &a->device, 0, 0},
      {"--cache", CLI_STRING, &a->cache, 0, 0},
      {"--limit", CLI_LONG, &a->limit, 0, 1L << 40},
      {"--examples", CLI_LONG, &a->examples, 0, 1000000},
      {"--batch-size", CLI_LONG, &a->batch, 1, 4096},
      {"--font", CLI_LIST, &a->fonts, 0, 0},
      CLI_TYPO_OPTIONS(&a->typo),
  };
  int prc = cli_parse("eval", argc, argv, opts, sizeof opts / sizeof opts[0], NULL);
  if (prc < 0) usage(stdout);
  if (prc) return prc;
  if (check_args(a)) return 2;
  if (!a->model && !(a->model = cli_default_model("eval", a->model_buf, sizeof a->model_buf)))
    return 1;
  if (cli_check_env_path("eval", "model", a->model, "CLIPPO_MODEL")) return 1;
  if (a->examples < 0) a->examples = a->fmnist ? 8 : 0;
  if (a->fmnist && fashion_mnist_files(a)) return 1;
  return cli_fonts_from_env("eval", &a->fonts, &a->owned_fonts);
}

/* ---- data ---------------------------------------------------------------------------------- */

/* What is evaluated: IDX arrays, or files with labels, or image-caption pairs. */
typedef struct eval_data {
  clippo_classes cls;
  clippo_idx im, lb;
  clippo_path_list files;
  size_t *labels; /* files.count labels */
  clippo_caption_set caps;
  clippo_text_links links; /* --text-pairs */
  char name[CLI_PATH_MAX + 64];
} eval_data;

static void eval_data_free(eval_data *d) {
  clippo_classes_free(&d->cls);
  clippo_idx_free(&d->im);
  clippo_idx_free(&d->lb);
  clippo_path_list_free(&d->files);
  free(d->labels);
  clippo_caption_set_free(&d->caps);
  clippo_text_links_free(&d->links);
}

/* The IDX images and labels: their counts must agree before --limit cuts both. */
static clippo_status load_idx(const eval_args *a, eval_data *d, clippo_error *err) {
  clippo_status st = clippo_idx_load(a->idx_labels, 0, &d->lb, err);
  if (!st && d->lb.ndim != 1)
    st = clippo_fail(err, CLIPPO_E_FORMAT, "%s: expected (N) labels", a->idx_labels);
  size_t n = st ? 0 : (size_t)d->lb.dims[0];
  /* one image more than there are labels is enough to see that the counts differ */
  if (!st) st = clippo_idx_load(a->idx_images, n + 1, &d->im, err);
  if (!st && !(d->im.ndim == 3 || (d->im.ndim == 4 && d->im.dims[3] == 3)))
    st = clippo_fail(err, CLIPPO_E_FORMAT, "%s: expected (N, H, W) or (N, H, W, 3) images",
                     a->idx_images);
  size_t ni = st ? 0 : (size_t)d->im.dims[0];
  if (!st && ni > n)
    st = clippo_fail(err, CLIPPO_E_FORMAT, "%s holds more images than the %zu labels of %s",
                     a->idx_images, n, a->idx_labels);
  else if (!st && ni < n)
    st = clippo_fail(err, CLIPPO_E_FORMAT, "%s holds %zu images but %s holds %zu labels",
                     a->idx_images, ni, a->idx_labels, n);
  if (!st && a->limit > 0 && (size_t)a->limit < n) d->im.dims[0] = d->lb.dims[0] = a->limit;
  if (!st && !a->classes_list && !a->classes_file)
    for (size_t c = 0; !st && c < 10; c++)
      st = clippo_classes_add(&d->cls, clippo_fashion_mnist_classes[c], a->canon, err);
  return st;
}

/* Checks that every IDX label names a class. */
static clippo_status check_labels(const eval_args *a, const eval_data *d, clippo_error *err) {
  for (int64_t i = 0; i < d->lb.dims[0]; i++)
    if (d->lb.data[i] >= d->cls.count)
      return clippo_fail(err, CLIPPO_E_FORMAT,
                         "%s: label %d of item %lld is not below the %zu classes given",
                         a->idx_labels, d->lb.data[i], (long long)i, d->cls.count);
  return CLIPPO_OK;
}

static int cmp_str(const void *x, const void *y) {
  return strcmp(*(char *const *)x, *(char *const *)y);
}

/* The subfolders of dir (sorted, hidden ones skipped). */
static clippo_status class_folders(const char *dir, clippo_path_list *subs, clippo_error *err) {
  DIR *dd = opendir(dir);
  if (!dd) return clippo_fail(err, CLIPPO_E_NOTFOUND, "cannot read folder %s", dir);
  clippo_status st = CLIPPO_OK;
  struct dirent *e;
  char path[4096];
  while (!st && (e = readdir(dd)) != NULL) {
    if (e->d_name[0] == '.') continue;
    snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    struct stat sb;
    if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode))
      st = clippo_path_list_add(subs, e->d_name, err);
  }
  closedir(dd);
  if (!st && subs->count == 0)
    st = clippo_fail(err, CLIPPO_E_FORMAT, "folder %s has no class subfolders", dir);
  if (!st) qsort(subs->items, subs->count, sizeof *subs->items, cmp_str);
  return st;
}

/* One class per subfolder (its name) and the images below it. */
static clippo_status load_folder(const eval_args *a, eval_data *d, clippo_error *err) {
  clippo_path_list subs = {0};
  clippo_status st = class_folders(a->folder, &subs, err);
  size_t cap = 0;
  char path[4096];
  for (size_t c = 0; !st && c < subs.count; c++) {
    st = clippo_classes_add(&d->cls, subs.items[c], a->canon, err);
    snprintf(path, sizeof path, "%s/%s", a->folder, subs.items[c]);
    size_t before = d->files.count;
    const char *p = path;
    if (!st) st = clippo_collect_images(&p, 1, &d->files, err);
    if (!st && d->files.count > cap) {
      cap = d->files.count * 2;
      size_t *nl = realloc(d->labels, cap * sizeof *nl);
      if (!nl) st = clippo_fail(err, CLIPPO_E_NOMEM, "out of host memory");
      if (nl) d->labels = nl;
    }
    for (size_t i = before; !st && i < d->files.count; i++) d->labels[i] = c;
  }
  clippo_path_list_free(&subs);
  if (!st && d->files.count == 0)
    st = clippo_fail(err, CLIPPO_E_FORMAT, "no image file below %s", a->folder);
  if (!st && a->limit > 0 && d->files.count > (size_t)a->limit) {
    for (size_t i = (size_t)a->limit; i < d->files.count; i++) free(d->files.items[i]);
    d->files.count = (size_t)a->limit;
  }
  if (!st) cli_classes_warn_duplicates("eval", &d->cls);
  return st;
}

/* Loads the data of the chosen mode and names it; 0, or 1 after printing the error. */
static int load_data(const eval_args *a, eval_data *d) {
  if (a->text_pairs) {
    snprintf(d->name, sizeof d->name, "%s", a->text_pairs);
    return cli_text_pairs_load("eval", a->text_pairs, a->limit, &d->links);
  }
  clippo_error err;
  clippo_status st = CLIPPO_OK;
  if (a->idx_images) {
    st = load_idx(a, d, &err);
    if (!st && (a->classes_list || a->classes_file) &&
        cli_classes_load("eval", a->classes_list, a->classes_file, a->canon, &d->cls))
      return 1;
    if (!st) st = check_labels(a, d, &err);
    if (a->fmnist)
      snprintf(d->name, sizeof d->name, "Fashion-MNIST test set (%s)", a->idx_images);
    else
      snprintf(d->name, sizeof d->name, "%s", a->idx_images);
  } else if (a->folder) {
    st = load_folder(a, d, &err);
    snprintf(d->name, sizeof d->name, "%s", a->folder);
  } else {
    st = clippo_caption_set_load(a->tsv, (size_t)a->limit, &d->caps, &err);
    snprintf(d->name, sizeof d->name, "%s", a->tsv);
  }
  return st ? cli_report("eval", &err) : 0;
}

/* ---- zero-shot accuracy -------------------------------------------------------------------- */

/* Accumulated zero-shot results. */
typedef struct zs_stats {
  const clippo_classifier *clf;
  const size_t *file_labels; /* folder mode */
  const char *const *files;
  size_t n, top1, top5;
  size_t *per_class_n, *per_class_top1;
  size_t nex, maxex;
  size_t *ex_item, *ex_label, *ex_pred;
  const char **ex_name;
  float *ex_score, *probs;
  size_t idx[8];
} zs_stats;

static void zs_free(zs_stats *s) {
  free(s->per_class_n);
  free(s->per_class_top1);
  free(s->ex_item);
  free(s->ex_label);
  free(s->ex_pred);
  free(s->ex_name);
  free(s->ex_score);
  free(s->probs);
}

static clippo_status zs_init(zs_stats *s, const clippo_classifier *clf, size_t examples,
                             clippo_error *err) {
  memset(s, 0, sizeof *s);
  s->clf = clf;
  s->maxex = examples;
  s->per_class_n = calloc(clf->count, sizeof *s->per_class_n);
  s->per_class_top1 = calloc(clf->count, sizeof *s->per_class_top1);
  s->ex_item = calloc(examples + 1, sizeof *s->ex_item);
  s->ex_label = calloc(examples + 1, sizeof *s->ex_label);
  s->ex_pred = calloc(examples + 1, sizeof *s->ex_pred);
  s->ex_name = calloc(examples + 1, sizeof *s->ex_name);
  s->ex_score = calloc(examples + 1, sizeof *s->ex_score);
  s->probs = malloc(clf->count * sizeof *s->probs);
  if (!s->per_class_n || !s->per_class_top1 || !s->ex_item || !s->ex_label || !s->ex_pred ||
      !s->ex_name || !s->ex_score || !s->probs)
    return clippo_fail(err, CLIPPO_E_NOMEM, "out of host memory");
  return CLIPPO_OK;
}

/* Scores one image embedding against its label. */
static void zs_add(zs_stats *s, const float *z, size_t label, size_t item, const char *name) {
  clippo_classifier_probs(s->clf, z, s->probs);
  size_t m = clippo_topk(s->probs, s->clf->count, 5, s->idx);
  s->n++;
  s->per_class_n[label]++;
  if (m && s->idx[0] == label) {
    s->top1++;
    s->per_class_top1[label]++;
  }
  for (size_t i = 0; i < m; i++)
    if (s->idx[i] == label) s->top5++;
  if (s->nex < s->maxex) {
    s->ex_item[s->nex] = item;
    s->ex_label[s->nex] = label;
    s->ex_pred[s->nex] = s->idx[0];
    s->ex_score[s->nex] = s->probs[s->idx[0]];
    s->ex_name[s->nex] = name;
    s->nex++;
  }
}

/* Zero-shot accuracy on IDX images, in chunks. */
static clippo_status run_idx(const eval_args *a, clippo_task_model *tm, const eval_data *d,
                             zs_stats *s, clippo_error *err) {
  size_t n = (size_t)d->im.dims[0];
  int h = (int)d->im.dims[1], w = (int)d->im.dims[2], ch = d->im.ndim == 4 ? 3 : 1;
  size_t item = clippo_idx_item_size(&d->im);
  float *z = malloc(CHUNK * tm->dim * sizeof *z);
  clippo_status st = z ? CLIPPO_OK : clippo_fail(err, CLIPPO_E_NOMEM, "out of memory");
  cli_progress p;
  cli_progress_start(&p, "eval", "images", n, 0);
  for (size_t c0 = 0; !st && c0 < n; c0 += CHUNK) {
    size_t nc = n - c0 < CHUNK ? n - c0 : CHUNK;
    /* split over the ranks of `mpirun clippo eval` */
    st = cli_shard_embed_pixels(a->dist, tm, d->im.data + c0 * item, nc, w, h, ch, z, err);
    for (size_t i = 0; !st && i < nc; i++)
      zs_add(s, z + i * tm->dim, d->lb.data[c0 + i], c0 + i, NULL);
    if (!st) cli_progress_update(&p, c0 + nc);
  }
  cli_progress_finish(&p);
  free(z);
  return st;
}

static clippo_status folder_image(void *user, size_t i, const float *z, clippo_error *err) {
  zs_stats *s = user;
  (void)err;
  zs_add(s, z, s->file_labels[i], i, s->files[i]);
  return CLIPPO_OK;
}

/* Zero-shot accuracy on the files of the class folders. */
static clippo_status run_folder(const eval_args *a, clippo_task_model *tm, const eval_data *d,
                                zs_stats *s, clippo_error *err) {
  s->file_labels = d->labels;
  s->files = (const char *const *)d->files.items;
  cli_image_sink sink = {folder_image, NULL, s};
  cli_progress p;
  cli_progress_start(&p, "eval", "images", d->files.count, 0);
  size_t skipped = 0;
  clippo_status st = cli_embed_files_on(a->dist, tm, s->files, d->files.count, a->skip_bad, &p,
                                        &sink, &skipped, err);
  cli_progress_finish(&p);
  if (!st && skipped) fprintf(stderr, "clippo eval: %zu file(s) skipped\n", skipped);
  if (!st && s->n == 0) st = clippo_fail(err, CLIPPO_E_FORMAT, "no image could be decoded");
  return st;
}

/* A class's top-1 accuracy as a JSON number, or null without images. */
static cJSON *class_top1_json(const zs_stats *s, size_t c) {
  if (!s->per_class_n[c]) return cJSON_CreateNull();
  return cJSON_CreateNumber((double)s->per_class_top1[c] / (double)s->per_class_n[c]);
}

/* The JSON summary: per class (top1 null without images), top5 null below 5 classes. */
static int report_json(const char *dataset, const zs_stats *s, const clippo_classes *cls,
                       size_t ntemplates, const char *templates, const char *model) {
  cJSON *o = cJSON_CreateObject();
  int ok = o && cJSON_AddStringToObject(o, "task", "zeroshot") &&
           cJSON_AddStringToObject(o, "dataset", dataset) &&
           cJSON_AddStringToObject(o, "model", model) &&
           cJSON_AddNumberToObject(o, "images", (double)s->n) &&
           cJSON_AddNumberToObject(o, "classes", (double)cls->count) &&
           cJSON_AddStringToObject(o, "templates", templates) &&
           cJSON_AddNumberToObject(o, "prompts_per_class", (double)ntemplates) &&
           cJSON_AddNumberToObject(o, "top1", s->n ? (double)s->top1 / (double)s->n : 0.0);
  if (ok && cls->count >= 5)
    ok = cJSON_AddNumberToObject(o, "top5", s->n ? (double)s->top5 / (double)s->n : 0.0) != NULL;
  else if (ok)
    ok = cJSON_AddNullToObject(o, "top5") != NULL;
  cJSON *pc = ok ? cJSON_AddArrayToObject(o, "per_class") : NULL;
  ok = ok && pc;
  for (size_t c = 0; ok && c < cls->count; c++) {
    cJSON *e = cJSON_CreateObject(), *v = class_top1_json(s, c);
    ok = e && v && cJSON_AddStringToObject(e, "label", cls->labels[c]) &&
         cJSON_AddNumberToObject(e, "images", (double)s->per_class_n[c]) &&
         cJSON_AddItemToObject(e, "top1", v);
    if (!ok || !e) cJSON_Delete(v);
    if (e) cJSON_AddItemToArray(pc, e);
  }
  cJSON *ex = ok ? cJSON_AddArrayToObject(o, "examples") : NULL;
  ok = ok && ex;
  for (size_t i = 0; ok && i < s->nex; i++) {
    cJSON *e = cJSON_CreateObject();
    ok = e &&
         (s->ex_name[i] ? cJSON_AddStringToObject(e, "image", s->ex_name[i])
                        : cJSON_AddNumberToObject(e, "index", (double)s->ex_item[i])) &&
         cJSON_AddStringToObject(e, "label", cls->labels[s->ex_label[i]]) &&
         cJSON_AddStringToObject(e, "prediction", cls->labels[s->ex_pred[i]]) &&
         cJSON_AddNumberToObject(e, "score", (double)s->ex_score[i]);
    if (e) cJSON_AddItemToArray(ex, e);
  }
  char *str = ok ? cJSON_PrintUnformatted(o) : NULL;
  if (str) printf("%s\n", str);
  free(str);
  cJSON_Delete(o);
  return str ? 0 : -1;
}

/* Width of the label column (at least min, at most 32). */
static int label_width(const clippo_classes *cls, int min) {
  int w = min;
  for (size_t c = 0; c < cls->count; c++)
    if ((int)strlen(cls->labels[c]) > w) w = (int)strlen(cls->labels[c]);
  return w > 32 ? 32 : w;
}

static void print_examples(const zs_stats *s, const clippo_classes *cls) {
  int w = label_width(cls, 10), named = s->nex && s->ex_name[0];
  printf("Example predictions:\n  %-8s %-*s %-*s %7s\n", named ? "image" : "index", w, "true", w,
         "predicted", "p");
  for (size_t i = 0; i < s->nex; i++) {
    char item[32];
    snprintf(item, sizeof item, "%zu", s->ex_item[i]);
    printf("  %-8s %-*s %-*s %6.1f%%  %s\n", item, w, cls->labels[s->ex_label[i]], w,
           cls->labels[s->ex_pred[i]], 100.0 * (double)s->ex_score[i],
           s->ex_label[i] == s->ex_pred[i] ? "ok" : "WRONG");
    if (s->ex_name[i]) printf("           %s\n", s->ex_name[i]);
  }
  printf("\n");
}

/* The table summary: per class ("n/a" without images), top-5 only with 5 classes or more. */
static void report_table(const char *dataset, const zs_stats *s, const clippo_classes *cls,
                         size_t ntemplates, const char *templates, const char *model) {
  if (s->nex) print_examples(s, cls);
  printf("Zero-shot classification: %s\n", dataset);
  printf("  model %s, %zu classes, templates %s (%zu per class), %zu images\n", model, cls->count,
         templates, ntemplates, s->n);
  int w = label_width(cls, 12);
  printf("\n  %-*s %8s %8s\n", w, "class", "images", "top-1");
  for (size_t c = 0; c < cls->count; c++) {
    if (s->per_class_n[c])
      printf("  %-*s %8zu %7.2f%%\n", w, cls->labels[c], s->per_class_n[c],
             100.0 * (double)s->per_class_top1[c] / (double)s->per_class_n[c]);
    else
      printf("  %-*s %8zu %8s\n", w, cls->labels[c], s->per_class_n[c], "n/a");
  }
  double n = s->n ? (double)s->n : 1.0;
  printf("\n  top-1 accuracy  %6.2f%%  (%zu / %zu)\n", 100.0 * (double)s->top1 / n, s->top1, s->n);
  if (cls->count >= 5)
    printf("  top-5 accuracy  %6.2f%%  (%zu / %zu)\n", 100.0 * (double)s->top5 / n, s->top5, s->n);
}

/* Zero-shot accuracy (or the typographic attack) on IDX or folder data. Returns the exit code. */
static int eval_zeroshot(const eval_args *a, clippo_task_model *tm, const eval_data *d,
                         clippo_templates *tmpl) {
  clippo_classifier clf = {0};
  zs_stats s;
  memset(&s, 0, sizeof s);
  clippo_error err;
  const char *source = NULL;
  int rc = 0;
  clippo_status st = cli_classifier_build("eval", tm, &d->cls, a->templates, a->canon, tmpl,
                                          a->cache, 0, &clf, &source, &err);
  if (!st && cli_typo_active(&a->typo)) {
    rc = cli_typo_run("eval", &a->typo, tm, &clf, &d->cls, a->idx_images ? &d->im : NULL,
                      a->idx_images ? &d->lb : NULL, &d->files, d->labels, d->name, a->model,
                      source, a->json, 0);
  } else {
    if (!st) st = zs_init(&s, &clf, (size_t)a->examples, &err);
    if (!st) st = a->idx_images ? run_idx(a, tm, d, &s, &err) : run_folder(a, tm, d, &s, &err);
    if (!st && a->json) {
      if (report_json(d->name, &s, &d->cls, tmpl->count, source, a->model))
        st = clippo_fail(&err, CLIPPO_E_NOMEM, "out of memory writing JSON");
    } else if (!st) {
      report_table(d->name, &s, &d->cls, tmpl->count, source, a->model);
    }
    if (st) rc = cli_report("eval", &err);
  }
  zs_free(&s);
  clippo_classifier_free(&clf);
  return rc;
}

/* ---- retrieval ----------------------------------------------------------------------------- */

/* Image embeddings of a caption set: rows of the decoded images, in order; ok[i] per image. */
typedef struct tsv_images {
  float *z;
  unsigned char *ok;
  size_t dim;
} tsv_images;

static clippo_status tsv_image(void *user, size_t i, const float *z, clippo_error *err) {
  tsv_images *t = user;
  (void)err;
  memcpy(t->z + i * t->dim, z, t->dim * sizeof *z);
  t->ok[i] = 1;
  return CLIPPO_OK;
}

/* Keeps the pairs whose image decoded: packs zi to mi rows, writes the mt kept captions and
 * their image rows. */
static void keep_decoded(const clippo_caption_set *caps, tsv_images *ti, size_t *remap,
                         const char **texts, size_t *img_of, size_t *mi, size_t *mt) {
  *mi = *mt = 0;
  for (size_t i = 0; i < caps->images.count; i++) {
    remap[i] = ti->ok[i] ? *mi : (size_t)-1;
    if (!ti->ok[i]) continue;
    memmove(ti->z + *mi * ti->dim, ti->z + i * ti->dim, ti->dim * sizeof *ti->z);
    (*mi)++;
  }
  for (size_t t = 0; t < caps->pairs; t++) {
    if (remap[caps->image_of[t]] == (size_t)-1) continue;
    texts[*mt] = caps->captions[t];
    img_of[(*mt)++] = remap[caps->image_of[t]];
  }
}

static int report_recall(const eval_args *a, const clippo_recall *rec, size_t mi, size_t mt) {
  const cli_recall_count counts[] = {{"images", "images", mi}, {"captions", "captions", mt}};
  const cli_recall_report r = {.title = "Retrieval",
                               .task = "retrieval",
                               .dataset = a->tsv,
                               .model = a->model,
                               .counts = counts,
                               .n_counts = 2,
                               .forward = "image->text",
                               .backward = "text->image",
                               .forward_key = "image_to_text",
                               .backward_key = "text_to_image",
                               .label_width = 12};
  return cli_recall_print(&r, rec, a->json);
}

/* Image<->text retrieval recalls of a caption set. Returns the exit code. */
static int eval_retrieval(const eval_args *a, clippo_task_model *tm, const eval_data *d) {
  const clippo_caption_set *caps = &d->caps;
  size_t ni = caps->images.count, nt = caps->pairs, mi = 0, mt = 0, skipped = 0;
  if (!tm->dim) {
    fprintf(stderr, "clippo eval: error: the model has no embedding dimension\n");
    return 1;
  }
  tsv_images ti = {malloc((ni + 1) * tm->dim * sizeof(float)), calloc(ni + 1, 1), tm->dim};
  float *zt = malloc((nt + 1) * tm->dim * sizeof *zt);
  size_t *remap = malloc((ni + 1) * sizeof *remap), *img_of = malloc((nt + 1) * sizeof *img_of);
  const char **texts = malloc((nt + 1) * sizeof *texts);
  clippo_error err;
  clippo_status st = ti.z && ti.ok && zt && remap && img_of && texts
                         ? CLIPPO_OK
                         : clippo_fail(&err, CLIPPO_E_NOMEM, "out of host memory");
  cli_progress p;
  cli_progress_start(&p, "eval", "images", ni, 0);
  cli_image_sink sink = {tsv_image, NULL, &ti};
  if (!st)
    st = cli_embed_files_on(a->dist, tm, (const char *const *)caps->images.items, ni, a->skip_bad,
                            &p, &sink, &skipped, &err);
  cli_progress_finish(&p);
  if (!st) keep_decoded(caps, &ti, remap, texts, img_of, &mi, &mt);
  if (!st && (mi == 0 || mt == 0)) st = clippo_fail(&err, CLIPPO_E_FORMAT, "nothing to evaluate");
  cli_progress_start(&p, "eval", "captions", mt, 0);
  for (size_t c0 = 0; !st && c0 < mt; c0 += CHUNK) {
    size_t nc = mt - c0 < CHUNK ? mt - c0 : CHUNK;
    st = cli_shard_embed_texts(a->dist, tm, texts + c0, nc, zt + c0 * tm->dim, &err);
    if (!st) cli_progress_update(&p, c0 + nc);
  }
  cli_progress_finish(&p);
  clippo_recall rec;
  if (!st) st = clippo_retrieval_recall(ti.z, mi, zt, mt, img_of, tm->dim, &rec, &err);
  if (!st && report_recall(a, &rec, mi, mt))
    st = clippo_fail(&err, CLIPPO_E_NOMEM, "out of memory writing JSON");
  free(ti.z);
  free(ti.ok);
  free(zt);
  free(remap);
  free(img_of);
  free(texts);
  return st ? cli_report("eval", &err) : 0;
}

/* ---- the command ----------------------------------------------------------------------------- */

int clippo_cmd_eval(int argc, char **argv) {
  eval_args a;
  eval_data d;
  memset(&d, 0, sizeof d);
  clippo_task_model tm;
  memset(&tm, 0, sizeof tm);
  clippo_templates tmpl = {0};
  clippo_error err;
  clippo_error_clear(&err);
  int rc = parse_args(argc, argv, &a);
  clippo_dist *dist = NULL; /* `mpirun -np R clippo eval`: rank 0 evaluates, all embed */
  if (!rc && cli_dist_start("eval", &dist)) rc = 1;
  a.dist = dist;
  if (!rc && clippo_dist_rank(dist) > 0) {
    rc = cli_shard_worker("eval", dist, a.model, a.device, a.fonts.items, a.fonts.n,
                          (size_t)a.batch);
    free(a.owned_fonts);
    return cli_dist_end(dist, rc);
  }
  int ready = 0; /* the other ranks serve this one's requests until cli_shard_end */
  if (dist && !rc) {
    char dev[256];
    const char *device = NULL; /* this rank's item of a --device list */
    clippo_status st = cli_shard_device(dist, a.device, dev, sizeof dev, &device, &err);
    if (!st)
      st = cli_task_model_open("eval", a.model, device, a.fonts.items, a.fonts.n, (size_t)a.batch,
                               &tm, &err);
    if (clippo_dist_agree(dist, st, NULL, &err)) rc = cli_dist_report("eval", dist, &err);
    ready = !rc;
  }
  if (!rc) rc = load_data(&a, &d);
  if (!rc && !a.tsv && !a.text_pairs) rc = cli_templates_load("eval", a.templates, a.canon, &tmpl);
  if (!rc && !dist &&
      cli_task_model_open("eval", a.model, a.device, a.fonts.items, a.fonts.n, (size_t)a.batch, &tm,
                          &err))
    rc = cli_report("eval", &err);
  if (!rc) {
    cli_warn_font("eval", tm.model, tm.font);
    if (a.text_pairs)
      rc = cli_text_pairs_eval("eval", d.name, a.model, a.json, &tm, &d.links);
    else
      rc = a.tsv ? eval_retrieval(&a, &tm, &d) : eval_zeroshot(&a, &tm, &d, &tmpl);
  }
  if (ready && cli_shard_end(dist, rc > 0 ? CLIPPO_E_ARG : CLIPPO_OK, &err) && !rc)
    rc = cli_dist_report("eval", dist, &err);
  clippo_templates_free(&tmpl);
  clippo_task_model_close(&tm);
  eval_data_free(&d);
  free(a.owned_fonts);
  return cli_dist_end(dist, rc < 0 ? 0 : rc);
}
