/* `clippo zeroshot`: zero-shot classification of image files with prompt templates. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_model.h"
#include "cli_paths.h"
#include "cli_util.h"
#include "clippo/tasks.h"

const char clippo_cmd_zeroshot_summary[] = "classify images zero-shot from class names";

#define MAX_FONTS 64
#define CHUNK 64

static void usage(FILE *out) {
  fprintf(out,
          "usage: clippo zeroshot [--model M] (--classes \"a,b,c\" | --classes-file F)\n"
          "                       [--templates clip_paper|clip_best|none|FILE] [--top-k K] "
          "[--json]\n"
          "                       [--device SPEC] [--font F]... [--batch-size B] [--skip-bad] "
          "IMAGE...\n"
          "\n"
          "Classifies PNG/JPEG images among the given classes as big_vision's zero-shot\n"
          "evaluator does: each class is embedded through prompt templates (the class name\n"
          "put into 'a photo of a {}.' etc.), the mean of the prompt embeddings is the class\n"
          "embedding; an image gets softmax(exp(t) * cosine) over the classes.\n"
          "\n"
          "Options:\n"
          "  --model M           checkpoint (.npz or .h5); default: env CLIPPO_MODEL, else the\n"
          "                      installed default model (" CLI_DEFAULT_MODEL_FILE ")\n"
          "  --classes LIST      comma-separated class names\n"
          "  --classes-file F    one class name per line ('#' comments; commas inside a line\n"
          "                      separate aliases, the first one is used)\n"
          "  --templates T       clip_paper (default: the 80 CLIP-paper ImageNet prompts plus\n"
          "                      '{}'), clip_best (8), none (the class name alone), or a file\n"
          "                      with one template per line, each holding '{}'\n"
          "  --no-canonicalize   use class names and templates as given (default: big_vision's\n"
          "                      canonical form: '_' -> space, punctuation removed, lowercase)\n"
          "  --top-k K           predictions shown per image (default 5)\n"
          "  --json              one JSON object per image and line:\n"
          "                      {\"image\": PATH, \"predictions\": [{\"label\": L, \"score\": "
          "P}, ...]}\n"
          "                      best first; score = softmax probability over all classes\n"
          "  --device SPEC       OpenCL device (see clippo devices); default env CLIPPO_DEVICE\n"
          "  --font F            glyph file(s) for rendering the prompts (default: env\n"
          "                      CLIPPO_FONT, else the system Unifont)\n"
          "  --batch-size B      images or prompts per device call (default 8)\n"
          "  --cache FILE        prompt-embedding cache (default $CLIPPO_CACHE_DIR/prompts.h5,\n"
          "                      else ~/.cache/clippo/prompts.h5); 'off' disables it\n"
          "  --skip-bad          go on past files that cannot be read or decoded and list them\n"
          "                      on stderr at the end\n"
          "\n"
          "Exit status: 0 on success; 1 on an error (without --skip-bad, the first unreadable\n"
          "or corrupt image stops the run with a message naming it); with --skip-bad, 0 when\n"
          "at least one image was classified (bad files are listed on stderr), 1 when none\n"
          "was; 2 on a usage error.\n");
}

static void print_table(const char *path, const clippo_classes *cls, const size_t *idx,
                        const float *probs, size_t k) {
  printf("%s\n", path);
  int w = 5;
  for (size_t i = 0; i < k; i++) {
    int l = (int)strlen(cls->labels[idx[i]]);
    if (l > w) w = l;
  }
  if (w > 48) w = 48;
  for (size_t i = 0; i < k; i++)
    printf("  %2zu. %-*s %7.2f%%\n", i + 1, w, cls->labels[idx[i]], 100.0 * probs[idx[i]]);
}

static int print_json(const char *path, const clippo_classes *cls, const size_t *idx,
                      const float *probs, size_t k) {
  cJSON *o = cJSON_CreateObject();
  int ok = o && cJSON_AddStringToObject(o, "image", path);
  cJSON *arr = ok ? cJSON_AddArrayToObject(o, "predictions") : NULL;
  ok = ok && arr;
  for (size_t i = 0; ok && i < k; i++) {
    cJSON *p = cJSON_CreateObject();
    ok = p && cJSON_AddStringToObject(p, "label", cls->labels[idx[i]]) &&
         cJSON_AddNumberToObject(p, "score", (double)probs[idx[i]]);
    if (p) cJSON_AddItemToArray(arr, p);
  }
  char *s = ok ? cJSON_PrintUnformatted(o) : NULL;
  if (s) printf("%s\n", s);
  free(s);
  cJSON_Delete(o);
  return s ? 0 : -1;
}

int clippo_cmd_zeroshot(int argc, char **argv) {
  const char *fonts[MAX_FONTS];
  size_t nfonts = 0;
  const char *model = NULL, *classes_list = NULL, *classes_file = NULL;
  const char *templates_spec = "clip_paper", *device = NULL, *cache = NULL;
  long top_k = 5, batch = 8;
  int json = 0, skip_bad = 0, canon = 1;
  const char **images = calloc((size_t)argc + 1, sizeof *images);
  size_t nimages = 0;
  if (!images) return cli_usage_error("zeroshot", "out of memory");
  cli_list font_list = {fonts, 0, MAX_FONTS}, image_list = {images, 0, (size_t)argc};
  const cli_option opts[] = {
      {"--json", CLI_SET, &json, 0, 0},
      {"--skip-bad", CLI_SET, &skip_bad, 0, 0},
      {"--no-canonicalize", CLI_CLEAR, &canon, 0, 0},
      {"--model", CLI_STRING, &model, 0, 0},
      {"--classes", CLI_STRING, &classes_list, 0, 0},
      {"--classes-file", CLI_STRING, &classes_file, 0, 0},
      {"--templates", CLI_STRING, &templates_spec, 0, 0},
      {"--device", CLI_STRING, &device, 0, 0},
      {"--cache", CLI_STRING, &cache, 0, 0},
      {"--font", CLI_LIST, &font_list, 0, 0},
      {"--top-k", CLI_LONG, &top_k, 1, 1000000},
      {"--batch-size", CLI_LONG, &batch, 1, 4096},
  };
  int prc = cli_parse("zeroshot", argc, argv, opts, sizeof opts / sizeof opts[0], &image_list);
  if (prc) {
    free(images);
    if (prc < 0) usage(stdout);
    return prc < 0 ? 0 : prc;
  }
  nfonts = font_list.n;
  nimages = image_list.n;
  int usage_rc = 0;
  if (!classes_list == !classes_file)
    usage_rc = cli_usage_error("zeroshot", "give exactly one of --classes or --classes-file");
  else if (nimages == 0)
    usage_rc = cli_usage_error("zeroshot", "no IMAGE given");
  char model_buf[CLI_PATH_MAX], classes_buf[CLI_PATH_MAX], tmpl_buf[CLI_PATH_MAX];
  if (!usage_rc && !model && !(model = cli_default_model("zeroshot", model_buf, sizeof model_buf)))
    usage_rc = 1;
  if (usage_rc) {
    free(images);
    return usage_rc;
  }
  classes_file = cli_input_file(classes_file, classes_buf, sizeof classes_buf);
  templates_spec = cli_input_file(templates_spec, tmpl_buf, sizeof tmpl_buf);
  if (cache && !strcmp(cache, "off")) cache = "";

  clippo_error err;
  clippo_error_clear(&err);
  clippo_classes cls = {0};
  clippo_templates tmpl = {0};
  clippo_task_model tm;
  memset(&tm, 0, sizeof tm);
  clippo_classifier clf = {0};
  clippo_classifier_stats stats;
  clippo_path_list bad = {0};
  float *z = NULL, *probs = NULL;
  size_t *idx = NULL;
  unsigned char *ok = NULL;
  clippo_error *ferr = NULL;
  size_t classified = 0;
  int rc = 0;
  clippo_status st = classes_list ? clippo_classes_parse_list(classes_list, canon, &cls, &err)
                                  : clippo_classes_load_file(classes_file, canon, &cls, &err);
  if (!st) st = clippo_templates_load(templates_spec, canon, &tmpl, &err);
  if (!st) st = clippo_task_model_open(model, device, fonts, nfonts, (size_t)batch, &tm, &err);
  if (!st) {
    cli_warn_font("zeroshot", tm.model, tm.font);
    st = clippo_classifier_build(&tm, &cls, &tmpl, cache, &clf, &stats, &err);
    if (!st && stats.cache_warning[0])
      fprintf(stderr, "clippo zeroshot: warning: %s\n", stats.cache_warning);
  }
  size_t k = (size_t)top_k < cls.count ? (size_t)top_k : cls.count;
  if (!st) {
    z = malloc(CHUNK * tm.dim * sizeof *z);
    probs = malloc(cls.count * sizeof *probs);
    idx = malloc(cls.count * sizeof *idx);
    ok = malloc(CHUNK);
    ferr = malloc(CHUNK * sizeof *ferr);
    if (!z || !probs || !idx || !ok || !ferr)
      st = clippo_fail(&err, CLIPPO_E_NOMEM, "out of host memory");
  }
  for (size_t c0 = 0; !st && c0 < nimages; c0 += CHUNK) {
    size_t nc = nimages - c0 < CHUNK ? nimages - c0 : CHUNK;
    st = clippo_embed_image_files(&tm, images + c0, nc, 0, z, ok, ferr, &err);
    for (size_t i = 0; !st && i < nc; i++) {
      if (!ok[i]) {
        if (!skip_bad) {
          err = ferr[i];
          st = err.status ? err.status : CLIPPO_E_FORMAT;
          break;
        }
        st = clippo_path_list_add(&bad, images[c0 + i], &err);
        fprintf(stderr, "clippo zeroshot: skipping: %s\n", ferr[i].msg);
        continue;
      }
      clippo_classifier_probs(&clf, z + i * tm.dim, probs);
      size_t m = clippo_topk(probs, cls.count, k, idx);
      if (json) {
        if (print_json(images[c0 + i], &cls, idx, probs, m))
          st = clippo_fail(&err, CLIPPO_E_NOMEM, "out of memory writing JSON");
      } else {
        print_table(images[c0 + i], &cls, idx, probs, m);
      }
      classified++;
    }
    fflush(stdout);
  }
  if (st) {
    rc = cli_report("zeroshot", &err);
  } else if (bad.count) {
    fprintf(stderr, "clippo zeroshot: %zu file(s) could not be classified:\n", bad.count);
    for (size_t i = 0; i < bad.count; i++) fprintf(stderr, "  %s\n", bad.items[i]);
    if (classified == 0) {
      fprintf(stderr, "clippo zeroshot: error: no image could be classified\n");
      rc = 1;
    }
  }
  free(z);
  free(probs);
  free(idx);
  free(ok);
  free(ferr);
  free(images);
  clippo_path_list_free(&bad);
  clippo_classifier_free(&clf);
  clippo_task_model_close(&tm);
  clippo_templates_free(&tmpl);
  clippo_classes_free(&cls);
  return rc;
}
