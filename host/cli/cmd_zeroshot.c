/* `clippo zeroshot`: zero-shot classification of image files with prompt templates. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli_model.h"
#include "cli_paths.h"
#include "cli_progress.h"
#include "cli_util.h"
#include "cli_zeroshot.h"
#include "clippo/tasks.h"

const char clippo_cmd_zeroshot_summary[] = "classify images zero-shot from class names";

#define MAX_FONTS 64

static void usage(FILE *out) {
  fprintf(
      out,
      "usage: clippo zeroshot [--model M] (--classes \"a,b,c\" | --classes-file F)\n"
      "                       [--templates clip_paper|clip_best|none|FILE] [--top-k K] [--json]\n"
      "                       [--device SPEC] [--font F]... [--batch-size B] [--skip-bad] "
      "IMAGE...\n"
      "\n"
      "Classifies images (PNG, JPEG, GIF, WebP) among the given classes as big_vision's\n"
      "zero-shot evaluator does: each class is embedded through prompt templates (the class\n"
      "name put into 'a photo of a {}.' etc.), the mean of the prompt embeddings is the class\n"
      "embedding; an image gets softmax(exp(t) * cosine) over the classes.\n"
      "\n"
      "Options:\n"
      "  --model M           checkpoint (.npz or .h5); default: env CLIPPO_MODEL, else the\n"
      "                      installed default model (" CLI_DEFAULT_MODEL_FILE ")\n"
      "  --classes LIST      comma-separated class names\n"
      "  --classes-file F    one class name per line ('#' comments; commas inside a line\n"
      "                      separate aliases: the first one is the label and the prompt name)\n"
      "  --templates T       clip_paper (the 80 CLIP-paper ImageNet prompts plus '{}'),\n"
      "                      clip_best (8), none (the class name alone), or a file with one\n"
      "                      template per line, each holding '{}'. Default: the prompts the\n"
      "                      model records as its training prompts (checkpoint attribute\n"
      "                      'prompts'), else clip_best\n"
      "  --no-canonicalize   use class names and templates as given (default: big_vision's\n"
      "                      canonical form: '_' -> space, punctuation removed, lowercase)\n"
      "  --top-k K           predictions shown per image (default 5)\n"
      "  --json              one JSON object per image and line:\n"
      "                      {\"image\": PATH, \"predictions\": [{\"label\": L, \"score\": P}, "
      "...]}\n"
      "                      best first; score = softmax probability over all classes; a file\n"
      "                      skipped gets {\"image\": PATH, \"skipped\": true, \"error\": MSG}\n"
      "  --device SPEC       OpenCL device (see clippo devices); default env CLIPPO_DEVICE\n"
      "  --font F            glyph file(s) for rendering the prompts (default: env\n"
      "                      CLIPPO_FONT, else the system Unifont)\n"
      "  --batch-size B      images or prompts per device call (default 8)\n"
      "  --cache FILE        prompt-embedding cache (default $CLIPPO_CACHE_DIR/prompts.h5,\n"
      "                      else ~/.cache/clippo/prompts.h5); 'off' disables it\n"
      "  --skip-bad          go on past files that cannot be read or decoded and list them\n"
      "                      on stderr at the end\n"
      "\n"
      "Class and template files may start with a UTF-8 byte order mark. Two classes with the\n"
      "same prompt name get a warning. BMP files are always skipped with the reason (no\n"
      "maintained BMP decoder is used); convert them to PNG.\n"
      "\n"
      "Exit status: 0 on success; 1 on an error (without --skip-bad, the first unreadable\n"
      "or corrupt image stops the run with a message naming it); with --skip-bad, 0 when\n"
      "at least one image was classified (bad files are listed on stderr), 1 when none\n"
      "was; 2 on a usage error.\n"
      "\n"
      "Examples:\n"
      "  clippo zeroshot --classes \"cat,dog,bird\" photos/*.jpg\n"
      "  clippo zeroshot --model clippo_b16_yfcc100m.npz --classes-file classes.txt --templates "
      "clip_paper --json img.png\n"
      "  clippo zeroshot --classes \"shirt,sneaker,bag\" --skip-bad --top-k 1 shop/\n");
}

/* The options of one run. */
typedef struct zs_args {
  const char *model, *classes_list, *classes_file, *templates, *device, *cache;
  long top_k, batch;
  int json, skip_bad, canon;
  const char *font_items[MAX_FONTS];
  cli_list fonts, images;
  char *owned_fonts;
  char model_buf[4096];
} zs_args;

/* Parses and checks the command line; returns 0, -1 for --help (usage printed) or an exit
 * code. a->images.items is allocated (free it). */
static int parse_args(int argc, char **argv, zs_args *a) {
  memset(a, 0, sizeof *a);
  a->top_k = 5;
  a->batch = 8;
  a->canon = 1;
  a->fonts = (cli_list){a->font_items, 0, MAX_FONTS};
  a->images = (cli_list){calloc((size_t)argc + 1, sizeof(char *)), 0, (size_t)argc};
  if (!a->images.items) return cli_usage_error("zeroshot", "out of memory");
  const cli_option opts[] = {
      {"--json", CLI_SET, &a->json, 0, 0},
      {"--skip-bad", CLI_SET, &a->skip_bad, 0, 0},
      {"--no-canonicalize", CLI_CLEAR, &a->canon, 0, 0},
      {"--model", CLI_STRING, &a->model, 0, 0},
      {"--classes", CLI_STRING, &a->classes_list, 0, 0},
      {"--classes-file", CLI_STRING, &a->classes_file, 0, 0},
      {"--templates", CLI_STRING, &a->templates, 0, 0},
      {"--device", CLI_DEVICE, &a->device, 0, 0},
      {"--cache", CLI_STRING, &a->cache, 0, 0},
      {"--font", CLI_LIST, &a->fonts, 0, 0},
      {"--top-k", CLI_LONG, &a->top_k, 1, 1000000},
      {"--batch-size", CLI_LONG, &a->batch, 1, 4096},
  };
  int prc = cli_parse("zeroshot", argc, argv, opts, sizeof opts / sizeof opts[0], &a->images);
  if (prc < 0) usage(stdout);
  if (prc) return prc;
  if (!a->classes_list == !a->classes_file)
    return cli_usage_error("zeroshot", "give exactly one of --classes or --classes-file");
  if (a->images.n == 0) return cli_usage_error("zeroshot", "no IMAGE given");
  if (!a->model && !(a->model = cli_default_model("zeroshot", a->model_buf, sizeof a->model_buf)))
    return 1;
  if (cli_check_env_path("zeroshot", "model", a->model, "CLIPPO_MODEL")) return 1;
  if (cli_fonts_from_env("zeroshot", &a->fonts, &a->owned_fonts)) return 1;
  return 0;
}

/* Output of the run: one table or JSON line per image, and the list of skipped files. */
typedef struct zs_out {
  const zs_args *a;
  const clippo_classes *cls;
  const clippo_classifier *clf;
  const char *const *images;
  size_t k, classified;
  float *probs;
  size_t *idx;
  clippo_path_list bad;
} zs_out;

/* Prints JSON object o on its own line of stdout. */
static clippo_status print_json_line(cJSON *o, clippo_error *err) {
  char *s = o ? cJSON_PrintUnformatted(o) : NULL;
  cJSON_Delete(o);
  if (!s) return clippo_fail(err, CLIPPO_E_NOMEM, "out of memory writing JSON");
  printf("%s\n", s);
  free(s);
  return CLIPPO_OK;
}

static clippo_status print_json(const zs_out *o, const char *path, size_t m, clippo_error *err) {
  cJSON *j = cJSON_CreateObject();
  int ok = j && cJSON_AddStringToObject(j, "image", path);
  cJSON *arr = ok ? cJSON_AddArrayToObject(j, "predictions") : NULL;
  ok = ok && arr;
  for (size_t i = 0; ok && i < m; i++) {
    cJSON *p = cJSON_CreateObject();
    ok = p && cJSON_AddStringToObject(p, "label", o->cls->labels[o->idx[i]]) &&
         cJSON_AddNumberToObject(p, "score", (double)o->probs[o->idx[i]]);
    if (p) cJSON_AddItemToArray(arr, p);
  }
  if (!ok) {
    cJSON_Delete(j);
    j = NULL;
  }
  return print_json_line(j, err);
}

static void print_table(const zs_out *o, const char *path, size_t m) {
  printf("%s\n", path);
  int w = 5;
  for (size_t i = 0; i < m; i++) {
    int l = (int)strlen(o->cls->labels[o->idx[i]]);
    if (l > w) w = l;
  }
  if (w > 48) w = 48;
  for (size_t i = 0; i < m; i++)
    printf("  %2zu. %-*s %7.2f%%\n", i + 1, w, o->cls->labels[o->idx[i]],
           100.0 * o->probs[o->idx[i]]);
}

static clippo_status on_image(void *user, size_t i, const float *z, clippo_error *err) {
  zs_out *o = user;
  clippo_classifier_probs(o->clf, z, o->probs);
  size_t m = clippo_topk(o->probs, o->cls->count, o->k, o->idx);
  clippo_status st = CLIPPO_OK;
  if (o->a->json)
    st = print_json(o, o->images[i], m, err);
  else
    print_table(o, o->images[i], m);
  fflush(stdout);
  o->classified++;
  return st;
}

static clippo_status on_skipped(void *user, size_t i, const clippo_error *why, clippo_error *err) {
  zs_out *o = user;
  clippo_status st = clippo_path_list_add(&o->bad, o->images[i], err);
  if (!st && o->a->json) {
    cJSON *j = cJSON_CreateObject();
    if (j &&
        !(cJSON_AddStringToObject(j, "image", o->images[i]) &&
          cJSON_AddTrueToObject(j, "skipped") && cJSON_AddStringToObject(j, "error", why->msg))) {
      cJSON_Delete(j);
      j = NULL;
    }
    st = print_json_line(j, err);
    fflush(stdout);
  }
  return st;
}

/* Classifies every image; the skipped ones are listed at the end. Returns the exit code. */
static int classify(const zs_args *a, clippo_task_model *tm, const clippo_classes *cls,
                    const clippo_classifier *clf) {
  zs_out o = {a, cls, clf, a->images.items, 0, 0, NULL, NULL, {0}};
  o.k = (size_t)a->top_k < cls->count ? (size_t)a->top_k : cls->count;
  o.probs = malloc(cls->count * sizeof *o.probs);
  o.idx = malloc(cls->count * sizeof *o.idx);
  clippo_error err;
  clippo_status st =
      o.probs && o.idx ? CLIPPO_OK : clippo_fail(&err, CLIPPO_E_NOMEM, "out of host memory");
  cli_progress progress;
  cli_progress_start(&progress, "zeroshot", "images", a->images.n, 0);
  cli_image_sink sink = {on_image, on_skipped, &o};
  size_t skipped = 0;
  if (!st)
    st = cli_embed_files(tm, a->images.items, a->images.n, a->skip_bad, &progress, &sink, &skipped,
                         &err);
  cli_progress_finish(&progress);
  int rc = st ? cli_report("zeroshot", &err) : 0;
  if (!st && o.bad.count) {
    fprintf(stderr, "clippo zeroshot: %zu file(s) could not be classified:\n", o.bad.count);
    for (size_t i = 0; i < o.bad.count; i++) fprintf(stderr, "  %s\n", o.bad.items[i]);
  }
  if (!st && o.classified == 0) {
    fprintf(stderr, "clippo zeroshot: error: no image could be classified\n");
    rc = 1;
  }
  free(o.probs);
  free(o.idx);
  clippo_path_list_free(&o.bad);
  return rc;
}

int clippo_cmd_zeroshot(int argc, char **argv) {
  zs_args a;
  int rc = parse_args(argc, argv, &a);
  clippo_classes cls = {0};
  clippo_templates tmpl = {0};
  clippo_task_model tm;
  memset(&tm, 0, sizeof tm);
  clippo_classifier clf = {0};
  clippo_error err;
  const char *source = NULL;
  if (!rc) rc = cli_classes_load("zeroshot", a.classes_list, a.classes_file, a.canon, &cls);
  if (!rc) rc = cli_templates_load("zeroshot", a.templates, a.canon, &tmpl);
  if (!rc && cli_task_model_open("zeroshot", a.model, a.device, a.fonts.items, a.fonts.n,
                                 (size_t)a.batch, &tm, &err))
    rc = cli_report("zeroshot", &err);
  if (!rc) {
    cli_warn_font("zeroshot", tm.model, tm.font);
    if (cli_classifier_build("zeroshot", &tm, &cls, a.templates, a.canon, &tmpl, a.cache, 0, &clf,
                             &source, &err))
      rc = cli_report("zeroshot", &err);
  }
  if (!rc) rc = classify(&a, &tm, &cls, &clf);
  clippo_classifier_free(&clf);
  clippo_task_model_close(&tm);
  clippo_templates_free(&tmpl);
  clippo_classes_free(&cls);
  free(a.images.items);
  free(a.owned_fonts);
  return rc < 0 ? 0 : rc;
}
