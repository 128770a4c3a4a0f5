/* `clippo eval`: zero-shot accuracy (IDX files such as Fashion-MNIST, or a folder per class) and
 * image-caption retrieval recalls. */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli_model.h"
#include "cli_paths.h"
#include "cli_util.h"
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
          "\n"
          "Zero-shot classification accuracy (top-1, top-5) as big_vision's evaluator computes\n"
          "it, or image<->text retrieval recall@1/5/10.\n"
          "\n"
          "Data:\n"
          "  --fashion-mnist     the Fashion-MNIST test set (t10k-*-ubyte.gz) from env\n"
          "                      CLIPPO_FASHION_MNIST_DIR or /usr/share/datasets/fashion-mnist;\n"
          "                      prints a few example predictions and the accuracy\n"
          "  --idx-images F      IDX images (N, H, W) gray or (N, H, W, 3), gzip or plain\n"
          "  --idx-labels F      IDX labels (N); class names from --classes/--classes-file,\n"
          "                      default the ten Fashion-MNIST classes\n"
          "  --folder DIR        one subfolder per class (its name is the class name), PNG/JPEG\n"
          "                      files found recursively in each\n"
          "  --tsv F             image<TAB>caption lines (image paths relative to F's folder):\n"
          "                      recall@1/5/10 image->text and text->image\n"
          "\n"
          "Options:\n"
          "  --model M           checkpoint (.npz or .h5); default env CLIPPO_MODEL, else the\n"
          "                      installed default model (" CLI_DEFAULT_MODEL_FILE ")\n"
          "  --classes LIST      comma-separated class names, in label order (IDX)\n"
          "  --classes-file F    one class name per line, in label order (IDX)\n"
          "  --templates T       clip_paper (default), clip_best, none, or a file of templates\n"
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
          "\n"
          "Images are preprocessed as big_vision does: gray replicated to RGB, bilinear resize\n"
          "to the model's image size, values to [-1, 1]. Class names and templates are\n"
          "canonicalised as big_vision does unless --no-canonicalize is given: '_' -> space,\n"
          "punctuation removed, lowercase ('T-shirt/top' -> 'tshirttop', 'a photo of a {}.'\n"
          "-> 'a photo of a {}'); a class embedding is the mean of its prompts' embeddings.\n");
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Accumulated zero-shot results. */
typedef struct zs_stats {
  size_t n, top1, top5;
  size_t *per_class_n, *per_class_top1;
  size_t nex, maxex;
  size_t *ex_item, *ex_label, *ex_pred;
  float *ex_score;
} zs_stats;

static void zs_free(zs_stats *s) {
  free(s->per_class_n);
  free(s->per_class_top1);
  free(s->ex_item);
  free(s->ex_label);
  free(s->ex_pred);
  free(s->ex_score);
}

/* Scores one image embedding against its label. */
static void zs_add(zs_stats *s, const clippo_classifier *clf, const float *z, size_t label,
                   size_t item, float *probs, size_t *idx) {
  clippo_classifier_probs(clf, z, probs);
  size_t m = clippo_topk(probs, clf->count, 5, idx);
  s->n++;
  s->per_class_n[label]++;
  if (m && idx[0] == label) {
    s->top1++;
    s->per_class_top1[label]++;
  }
  for (size_t i = 0; i < m; i++)
    if (idx[i] == label) s->top5++;
  if (s->nex < s->maxex) {
    s->ex_item[s->nex] = item;
    s->ex_label[s->nex] = label;
    s->ex_pred[s->nex] = idx[0];
    s->ex_score[s->nex] = probs[idx[0]];
    s->nex++;
  }
}

static void progress(const char *what, size_t done, size_t total, double t0, double *last,
                     int quiet) {
  if (quiet) return;
  int tty = isatty(STDERR_FILENO);
  double t = now_s();
  if (!tty && t - *last < 5.0 && done < total) return;
  char line[256];
  clippo_progress_format(line, sizeof line, done, total, t - t0, tty ? 30 : 0);
  if (tty)
    fprintf(stderr, "\r\033[K%s %s%s", what, line, done == total ? "\n" : "");
  else
    fprintf(stderr, "clippo eval: %s %s\n", what, line);
  *last = t;
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Subfolders of dir (sorted, hidden ones skipped) as class names, and their images. */
static clippo_status folder_dataset(const char *dir, int canon, clippo_classes *cls,
                                    clippo_path_list *files, size_t **labels, clippo_error *err) {
  DIR *d = opendir(dir);
  if (!d) return clippo_fail(err, CLIPPO_E_NOTFOUND, "cannot read folder %s", dir);
  clippo_path_list subs = {0};
  clippo_status st = CLIPPO_OK;
  struct dirent *e;
  char path[4096];
  while (!st && (e = readdir(d)) != NULL) {
    if (e->d_name[0] == '.') continue;
    snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    struct stat sb;
    if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode))
      st = clippo_path_list_add(&subs, e->d_name, err);
  }
  closedir(d);
  if (!st && subs.count == 0)
    st = clippo_fail(err, CLIPPO_E_FORMAT, "folder %s has no class subfolders", dir);
  if (!st) qsort(subs.items, subs.count, sizeof *subs.items, cmp_str);
  size_t cap = 0;
  *labels = NULL;
  for (size_t c = 0; !st && c < subs.count; c++) {
    st = clippo_classes_add(cls, subs.items[c], canon, err);
    snprintf(path, sizeof path, "%s/%s", dir, subs.items[c]);
    size_t before = files->count;
    const char *p = path;
    if (!st) st = clippo_collect_images(&p, 1, files, err);
    if (!st && files->count > cap) {
      cap = files->count * 2;
      size_t *nl = realloc(*labels, cap * sizeof *nl);
      if (!nl)
        st = clippo_fail(err, CLIPPO_E_NOMEM, "out of host memory");
      else
        *labels = nl;
    }
    for (size_t i = before; !st && i < files->count; i++) (*labels)[i] = c;
  }
  if (!st && files->count == 0)
    st = clippo_fail(err, CLIPPO_E_FORMAT, "no PNG or JPEG image below %s", dir);
  clippo_path_list_free(&subs);
  return st;
}

/* Prints the zero-shot summary (table or JSON). */
static int report_zeroshot(const char *dataset, const zs_stats *s, const clippo_classes *cls,
                           size_t ntemplates, const char *templates, const char *model, int json,
                           char **ex_names) {
  double top1 = s->n ? (double)s->top1 / (double)s->n : 0.0;
  double top5 = s->n ? (double)s->top5 / (double)s->n : 0.0;
  if (json) {
    cJSON *o = cJSON_CreateObject();
    int ok = o != NULL;
    ok = ok && cJSON_AddStringToObject(o, "task", "zeroshot");
    ok = ok && cJSON_AddStringToObject(o, "dataset", dataset);
    ok = ok && cJSON_AddStringToObject(o, "model", model);
    ok = ok && cJSON_AddNumberToObject(o, "images", (double)s->n);
    ok = ok && cJSON_AddNumberToObject(o, "classes", (double)cls->count);
    ok = ok && cJSON_AddStringToObject(o, "templates", templates);
    ok = ok && cJSON_AddNumberToObject(o, "prompts_per_class", (double)ntemplates);
    ok = ok && cJSON_AddNumberToObject(o, "top1", top1);
    ok = ok && cJSON_AddNumberToObject(o, "top5", top5);
    cJSON *pc = ok ? cJSON_AddArrayToObject(o, "per_class") : NULL;
    ok = ok && pc;
    for (size_t c = 0; ok && c < cls->count; c++) {
      cJSON *e = cJSON_CreateObject();
      ok = e && cJSON_AddStringToObject(e, "label", cls->labels[c]) &&
           cJSON_AddNumberToObject(e, "images", (double)s->per_class_n[c]) &&
           cJSON_AddNumberToObject(
               e, "top1",
               s->per_class_n[c] ? (double)s->per_class_top1[c] / (double)s->per_class_n[c] : 0.0);
      if (e) cJSON_AddItemToArray(pc, e);
    }
    cJSON *ex = ok ? cJSON_AddArrayToObject(o, "examples") : NULL;
    ok = ok && ex;
    for (size_t i = 0; ok && i < s->nex; i++) {
      cJSON *e = cJSON_CreateObject();
      ok = e != NULL;
      if (ok && ex_names)
        ok = cJSON_AddStringToObject(e, "image", ex_names[i]) != NULL;
      else if (ok)
        ok = cJSON_AddNumberToObject(e, "index", (double)s->ex_item[i]) != NULL;
      ok = ok && cJSON_AddStringToObject(e, "label", cls->labels[s->ex_label[i]]) &&
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
  if (s->nex) {
    int w = 10;
    for (size_t c = 0; c < cls->count; c++)
      if ((int)strlen(cls->labels[c]) > w) w = (int)strlen(cls->labels[c]);
    if (w > 32) w = 32;
    printf("Example predictions:\n  %-8s %-*s %-*s %7s\n", ex_names ? "image" : "index", w, "true",
           w, "predicted", "p");
    for (size_t i = 0; i < s->nex; i++) {
      char item[32];
      snprintf(item, sizeof item, "%zu", s->ex_item[i]);
      printf("  %-8s %-*s %-*s %6.1f%%  %s\n", item, w, cls->labels[s->ex_label[i]], w,
             cls->labels[s->ex_pred[i]], 100.0 * (double)s->ex_score[i],
             s->ex_label[i] == s->ex_pred[i] ? "ok" : "WRONG");
      if (ex_names) printf("           %s\n", ex_names[i]);
    }
    printf("\n");
  }
  printf("Zero-shot classification: %s\n", dataset);
  printf("  model %s, %zu classes, templates %s (%zu per class), %zu images\n", model, cls->count,
         templates, ntemplates, s->n);
  int w = 12;
  for (size_t c = 0; c < cls->count; c++)
    if ((int)strlen(cls->labels[c]) > w) w = (int)strlen(cls->labels[c]);
  if (w > 32) w = 32;
  printf("\n  %-*s %8s %8s\n", w, "class", "images", "top-1");
  for (size_t c = 0; c < cls->count; c++)
    printf("  %-*s %8zu %7.2f%%\n", w, cls->labels[c], s->per_class_n[c],
           s->per_class_n[c] ? 100.0 * (double)s->per_class_top1[c] / (double)s->per_class_n[c]
                             : 0.0);
  printf("\n  top-1 accuracy  %6.2f%%  (%zu / %zu)\n", 100.0 * top1, s->top1, s->n);
  printf("  top-5 accuracy  %6.2f%%  (%zu / %zu)\n", 100.0 * top5, s->top5, s->n);
  return 0;
}

int clippo_cmd_eval(int argc, char **argv) {
  const char *fonts[MAX_FONTS];
  size_t nfonts = 0;
  const char *model = NULL, *idx_images = NULL, *idx_labels = NULL;
  const char *folder = NULL, *tsv = NULL, *classes_list = NULL, *classes_file = NULL;
  const char *templates_spec = "clip_paper", *device = NULL, *cache = NULL;
  long limit = 0, examples = -1, batch = 8;
  int json = 0, fmnist = 0, canon = 1, skip_bad = 0;
  cli_list font_list = {fonts, 0, MAX_FONTS};
  const cli_option opts[] = {
      {"--json", CLI_SET, &json, 0, 0},
      {"--fashion-mnist", CLI_SET, &fmnist, 0, 0},
      {"--no-canonicalize", CLI_CLEAR, &canon, 0, 0},
      {"--skip-bad", CLI_SET, &skip_bad, 0, 0},
      {"--model", CLI_STRING, &model, 0, 0},
      {"--idx-images", CLI_STRING, &idx_images, 0, 0},
      {"--idx-labels", CLI_STRING, &idx_labels, 0, 0},
      {"--folder", CLI_STRING, &folder, 0, 0},
      {"--tsv", CLI_STRING, &tsv, 0, 0},
      {"--classes", CLI_STRING, &classes_list, 0, 0},
      {"--classes-file", CLI_STRING, &classes_file, 0, 0},
      {"--templates", CLI_STRING, &templates_spec, 0, 0},
      {"--device", CLI_STRING, &device, 0, 0},
      {"--cache", CLI_STRING, &cache, 0, 0},
      {"--limit", CLI_LONG, &limit, 0, 1L << 40},
      {"--examples", CLI_LONG, &examples, 0, 1000000},
      {"--batch-size", CLI_LONG, &batch, 1, 4096},
      {"--font", CLI_LIST, &font_list, 0, 0},
  };
  int prc = cli_parse("eval", argc, argv, opts, sizeof opts / sizeof opts[0], NULL);
  if (prc < 0) {
    usage(stdout);
    return 0;
  }
  if (prc) return prc;
  nfonts = font_list.n;
  int modes = fmnist + (idx_images || idx_labels) + !!folder + !!tsv;
  if (modes != 1)
    return cli_usage_error("eval", "give exactly one of --fashion-mnist, --idx-images/"
                                   "--idx-labels, --folder or --tsv");
  if ((idx_images || idx_labels) && !(idx_images && idx_labels))
    return cli_usage_error("eval", "--idx-images and --idx-labels go together");
  if (classes_list && classes_file)
    return cli_usage_error("eval", "give at most one of --classes and --classes-file");
  if ((classes_list || classes_file) && (folder || tsv))
    return cli_usage_error("eval", "--classes applies to IDX data only");
  char model_buf[CLI_PATH_MAX], tmpl_buf[CLI_PATH_MAX], classes_buf[CLI_PATH_MAX];
  if (!model && !(model = cli_default_model("eval", model_buf, sizeof model_buf))) return 1;
  templates_spec = cli_input_file(templates_spec, tmpl_buf, sizeof tmpl_buf);
  classes_file = cli_input_file(classes_file, classes_buf, sizeof classes_buf);
  if (examples < 0) examples = fmnist ? 8 : 0;
  if (cache && !strcmp(cache, "off")) cache = "";
  char fm_images[4200], fm_labels[4200];
  if (fmnist) {
    const char *dir = cli_fashion_mnist_dir();
    if (!dir) {
      fprintf(stderr, "clippo eval: error: Fashion-MNIST not found: set CLIPPO_FASHION_MNIST_DIR "
                      "or install it in /usr/share/datasets/fashion-mnist\n");
      return 1;
    }
    snprintf(fm_images, sizeof fm_images, "%s/t10k-images-idx3-ubyte.gz", dir);
    snprintf(fm_labels, sizeof fm_labels, "%s/t10k-labels-idx1-ubyte.gz", dir);
    idx_images = fm_images;
    idx_labels = fm_labels;
  }
  int quiet = json && !isatty(STDERR_FILENO);

  clippo_error err;
  clippo_error_clear(&err);
  clippo_classes cls = {0};
  clippo_templates tmpl = {0};
  clippo_task_model tm;
  memset(&tm, 0, sizeof tm);
  clippo_classifier clf = {0};
  clippo_classifier_stats cstats;
  clippo_idx im = {0}, lb = {0};
  clippo_path_list files = {0};
  clippo_caption_set caps = {0};
  size_t *labels = NULL;
  zs_stats zs;
  memset(&zs, 0, sizeof zs);
  float *inputs = NULL, *z = NULL, *probs = NULL;
  size_t idxbuf[8];
  char **ex_names = NULL;
  int rc = 0;
  clippo_status st = CLIPPO_OK;

  /* ---- load the data and the class names ---- */
  if (idx_images) {
    st = clippo_idx_load(idx_images, (size_t)limit, &im, &err);
    if (!st) st = clippo_idx_load(idx_labels, (size_t)limit, &lb, &err);
    if (!st && !(im.ndim == 3 || (im.ndim == 4 && im.dims[3] == 3)))
      st = clippo_fail(&err, CLIPPO_E_FORMAT, "%s: expected (N, H, W) or (N, H, W, 3) images",
                       idx_images);
    if (!st && lb.ndim != 1)
      st = clippo_fail(&err, CLIPPO_E_FORMAT, "%s: expected (N) labels", idx_labels);
    if (!st && lb.dims[0] != im.dims[0])
      st = clippo_fail(&err, CLIPPO_E_FORMAT, "%s holds %lld images but %s %lld labels", idx_images,
                       (long long)im.dims[0], idx_labels, (long long)lb.dims[0]);
    if (!st) {
      if (classes_list)
        st = clippo_classes_parse_list(classes_list, canon, &cls, &err);
      else if (classes_file)
        st = clippo_classes_load_file(classes_file, canon, &cls, &err);
      else
        for (size_t c = 0; !st && c < 10; c++)
          st = clippo_classes_add(&cls, clippo_fashion_mnist_classes[c], canon, &err);
    }
    for (int64_t i = 0; !st && i < lb.dims[0]; i++)
      if (lb.data[i] >= cls.count)
        st = clippo_fail(&err, CLIPPO_E_FORMAT,
                         "%s: label %d of item %lld is not below the %zu "
                         "classes given",
                         idx_labels, lb.data[i], (long long)i, cls.count);
  } else if (folder) {
    st = folder_dataset(folder, canon, &cls, &files, &labels, &err);
    if (!st && limit > 0 && files.count > (size_t)limit) {
      for (size_t i = (size_t)limit; i < files.count; i++) free(files.items[i]);
      files.count = (size_t)limit;
    }
  } else {
    st = clippo_caption_set_load(tsv, (size_t)limit, &caps, &err);
  }
  if (!st && !tsv) st = clippo_templates_load(templates_spec, canon, &tmpl, &err);
  if (!st) st = clippo_task_model_open(model, device, fonts, nfonts, (size_t)batch, &tm, &err);
  if (!st) cli_warn_font("eval", tm.model, tm.font);
  if (!st && !tsv) {
    double t0 = now_s();
    st = clippo_classifier_build(&tm, &cls, &tmpl, cache, &clf, &cstats, &err);
    if (!st && cstats.cache_warning[0])
      fprintf(stderr, "clippo eval: warning: %s\n", cstats.cache_warning);
    if (!st && !quiet)
      fprintf(stderr,
              "clippo eval: %zu class embeddings from %zu prompts (%zu cached, %zu "
              "embedded) in %.1f s\n",
              cls.count, cstats.prompts, cstats.cache_hits, cstats.embedded, now_s() - t0);
    zs.per_class_n = calloc(cls.count, sizeof *zs.per_class_n);
    zs.per_class_top1 = calloc(cls.count, sizeof *zs.per_class_top1);
    zs.maxex = (size_t)examples;
    zs.ex_item = calloc(zs.maxex + 1, sizeof *zs.ex_item);
    zs.ex_label = calloc(zs.maxex + 1, sizeof *zs.ex_label);
    zs.ex_pred = calloc(zs.maxex + 1, sizeof *zs.ex_pred);
    zs.ex_score = calloc(zs.maxex + 1, sizeof *zs.ex_score);
    probs = malloc(cls.count * sizeof *probs);
    if (!st && (!zs.per_class_n || !zs.per_class_top1 || !zs.ex_item || !zs.ex_label ||
                !zs.ex_pred || !zs.ex_score || !probs))
      st = clippo_fail(&err, CLIPPO_E_NOMEM, "out of host memory");
  }

  /* ---- IDX zero-shot ---- */
  if (!st && idx_images) {
    size_t n = (size_t)im.dims[0], per = (size_t)tm.image_size * (size_t)tm.image_size * 3;
    int h = (int)im.dims[1], w = (int)im.dims[2], ch = im.ndim == 4 ? 3 : 1;
    size_t item = clippo_idx_item_size(&im);
    inputs = malloc(CHUNK * per * sizeof *inputs);
    z = malloc(CHUNK * tm.dim * sizeof *z);
    if (!inputs || !z) st = clippo_fail(&err, CLIPPO_E_NOMEM, "out of host memory");
    double t0 = now_s(), last = t0;
    for (size_t c0 = 0; !st && c0 < n; c0 += CHUNK) {
      size_t nc = n - c0 < CHUNK ? n - c0 : CHUNK;
      st = clippo_pixels_to_inputs(im.data + c0 * item, nc, w, h, ch, tm.image_size, inputs, &err);
      if (!st) st = clippo_model_embed_images(tm.model, inputs, nc, CLIPPO_EMBED_Z, z, &err);
      for (size_t i = 0; !st && i < nc; i++)
        zs_add(&zs, &clf, z + i * tm.dim, lb.data[c0 + i], c0 + i, probs, idxbuf);
      if (!st) progress("images", c0 + nc, n, t0, &last, quiet);
    }
    if (!st) {
      char name[4400];
      if (fmnist)
        snprintf(name, sizeof name, "Fashion-MNIST test set (%s)", idx_images);
      else
        snprintf(name, sizeof name, "%s", idx_images);
      if (report_zeroshot(name, &zs, &cls, tmpl.count, templates_spec, model, json, NULL))
        st = clippo_fail(&err, CLIPPO_E_NOMEM, "out of memory writing JSON");
    }
  }

  /* ---- folder zero-shot ---- */
  if (!st && folder) {
    size_t n = files.count, skipped = 0;
    unsigned char *ok = malloc(CHUNK);
    clippo_error *ferr = malloc(CHUNK * sizeof *ferr);
    z = malloc(CHUNK * tm.dim * sizeof *z);
    ex_names = calloc(zs.maxex + 1, sizeof *ex_names);
    if (!ok || !ferr || !z || !ex_names) st = clippo_fail(&err, CLIPPO_E_NOMEM, "out of memory");
    double t0 = now_s(), last = t0;
    for (size_t c0 = 0; !st && c0 < n; c0 += CHUNK) {
      size_t nc = n - c0 < CHUNK ? n - c0 : CHUNK;
      st = clippo_embed_image_files(&tm, (const char *const *)files.items + c0, nc, 0, z, ok, ferr,
                                    &err);
      for (size_t i = 0; !st && i < nc; i++) {
        if (!ok[i]) {
          if (!skip_bad) {
            err = ferr[i];
            st = err.status ? err.status : CLIPPO_E_FORMAT;
            break;
          }
          fprintf(stderr, "clippo eval: skipping: %s\n", ferr[i].msg);
          skipped++;
          continue;
        }
        size_t before = zs.nex;
        zs_add(&zs, &clf, z + i * tm.dim, labels[c0 + i], c0 + i, probs, idxbuf);
        if (zs.nex > before) ex_names[before] = files.items[c0 + i];
      }
      if (!st) progress("images", c0 + nc, n, t0, &last, quiet);
    }
    free(ok);
    free(ferr);
    if (!st && zs.n == 0) st = clippo_fail(&err, CLIPPO_E_FORMAT, "no image could be decoded");
    if (!st &&
        report_zeroshot(folder, &zs, &cls, tmpl.count, templates_spec, model, json, ex_names))
      st = clippo_fail(&err, CLIPPO_E_NOMEM, "out of memory writing JSON");
    if (!st && skipped) fprintf(stderr, "clippo eval: %zu file(s) skipped\n", skipped);
  }

  /* ---- TSV retrieval ---- */
  if (!st && tsv) {
    size_t ni = caps.images.count, nt = caps.pairs;
    float *zi = malloc(ni * tm.dim * sizeof *zi), *zt = malloc(nt * tm.dim * sizeof *zt);
    unsigned char *ok = malloc(ni);
    clippo_error *ferr = malloc(CHUNK * sizeof *ferr);
    if (!zi || !zt || !ok || !ferr) st = clippo_fail(&err, CLIPPO_E_NOMEM, "out of memory");
    double t0 = now_s(), last = t0;
    for (size_t c0 = 0; !st && c0 < ni; c0 += CHUNK) {
      size_t nc = ni - c0 < CHUNK ? ni - c0 : CHUNK;
      st = clippo_embed_image_files(&tm, (const char *const *)caps.images.items + c0, nc, 0,
                                    zi + c0 * tm.dim, ok + c0, ferr, &err);
      for (size_t i = 0; !st && i < nc; i++) {
        if (ok[c0 + i]) continue;
        if (!skip_bad) {
          err = ferr[i];
          st = err.status ? err.status : CLIPPO_E_FORMAT;
        } else {
          fprintf(stderr, "clippo eval: skipping: %s\n", ferr[i].msg);
        }
      }
      if (!st) progress("images", c0 + nc, ni, t0, &last, quiet);
    }
    /* drop the pairs of undecodable images */
    size_t *remap = malloc((ni + 1) * sizeof *remap);
    size_t mi = 0, mt = 0;
    if (!st && !remap) st = clippo_fail(&err, CLIPPO_E_NOMEM, "out of memory");
    for (size_t i = 0; !st && i < ni; i++) {
      remap[i] = ok[i] ? mi : (size_t)-1;
      if (ok[i]) {
        memmove(zi + mi * tm.dim, zi + i * tm.dim, tm.dim * sizeof *zi);
        mi++;
      }
    }
    const char **texts = !st ? malloc((nt + 1) * sizeof *texts) : NULL;
    size_t *img_of = !st ? malloc((nt + 1) * sizeof *img_of) : NULL;
    if (!st && (!texts || !img_of)) st = clippo_fail(&err, CLIPPO_E_NOMEM, "out of memory");
    for (size_t t = 0; !st && t < nt; t++) {
      if (remap[caps.image_of[t]] == (size_t)-1) continue;
      texts[mt] = caps.captions[t];
      img_of[mt++] = remap[caps.image_of[t]];
    }
    if (!st && (mi == 0 || mt == 0)) st = clippo_fail(&err, CLIPPO_E_FORMAT, "nothing to evaluate");
    t0 = now_s();
    last = t0;
    for (size_t c0 = 0; !st && c0 < mt; c0 += CHUNK) {
      size_t nc = mt - c0 < CHUNK ? mt - c0 : CHUNK;
      st = clippo_embed_texts_batched(&tm, texts + c0, nc, zt + c0 * tm.dim, &err);
      if (!st) progress("captions", c0 + nc, mt, t0, &last, quiet);
    }
    clippo_recall rec;
    if (!st) st = clippo_retrieval_recall(zi, mi, zt, mt, img_of, tm.dim, &rec, &err);
    if (!st && json) {
      cJSON *o = cJSON_CreateObject(), *a = NULL, *b = NULL;
      int okj = o && cJSON_AddStringToObject(o, "task", "retrieval") &&
                cJSON_AddStringToObject(o, "dataset", tsv) &&
                cJSON_AddStringToObject(o, "model", model) &&
                cJSON_AddNumberToObject(o, "images", (double)mi) &&
                cJSON_AddNumberToObject(o, "captions", (double)mt) &&
                (a = cJSON_AddObjectToObject(o, "image_to_text")) &&
                (b = cJSON_AddObjectToObject(o, "text_to_image"));
      static const char *const keys[3] = {"recall@1", "recall@5", "recall@10"};
      for (int k = 0; okj && k < 3; k++)
        okj = cJSON_AddNumberToObject(a, keys[k], rec.i2t[k]) &&
              cJSON_AddNumberToObject(b, keys[k], rec.t2i[k]);
      char *s = okj ? cJSON_PrintUnformatted(o) : NULL;
      if (s)
        printf("%s\n", s);
      else
        st = clippo_fail(&err, CLIPPO_E_NOMEM, "out of memory writing JSON");
      free(s);
      cJSON_Delete(o);
    } else if (!st) {
      printf("Retrieval: %s\n  model %s, %zu images, %zu captions\n\n", tsv, model, mi, mt);
      printf("  %-12s %8s %8s %8s\n", "", "R@1", "R@5", "R@10");
      printf("  %-12s %7.2f%% %7.2f%% %7.2f%%\n", "image->text", 100 * rec.i2t[0], 100 * rec.i2t[1],
             100 * rec.i2t[2]);
      printf("  %-12s %7.2f%% %7.2f%% %7.2f%%\n", "text->image", 100 * rec.t2i[0], 100 * rec.t2i[1],
             100 * rec.t2i[2]);
    }
    free(zi);
    free(zt);
    free(ok);
    free(ferr);
    free(remap);
    free(texts);
    free(img_of);
  }

  if (st) rc = cli_report("eval", &err);
  free(inputs);
  free(z);
  free(probs);
  free(labels);
  free(ex_names);
  zs_free(&zs);
  clippo_idx_free(&im);
  clippo_idx_free(&lb);
  clippo_path_list_free(&files);
  clippo_caption_set_free(&caps);
  clippo_classifier_free(&clf);
  clippo_task_model_close(&tm);
  clippo_templates_free(&tmpl);
  clippo_classes_free(&cls);
  return rc;
}
