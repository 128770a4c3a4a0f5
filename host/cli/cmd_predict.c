/* `clippo predict`: runs a model made by `clippo finetune` over a task file (GLUE TSV, text TSV,
 * VQAv2 questions), rendering exactly as training did; writes one prediction per example and,
 * where the file has labels, the task's metrics. */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cli_model.h"
#include "cli_paths.h"
#include "cli_task.h"
#include "cli_util.h"
#include "clippo/atomic_file.h"
#include "clippo/finetune.h"
#include "clippo/strbuf.h"

const char clippo_cmd_predict_summary[] = "run a fine-tuned model (clippo finetune) on a task file";

static void usage(FILE *out) {
  fprintf(out,
          "usage: clippo predict --model FT.h5 --input FILE [options]\n"
          "\n"
          "Predicts every example of FILE with a model made by `clippo finetune`: the task,\n"
          "the input layout, the image size and the classes come from the model. FILE is in\n"
          "the task's format (a GLUE train/dev/test TSV, a TEXT<TAB>LABEL TSV, VQAv2\n"
          "questions JSON). Predictions go to --out (else standard output) in the task's\n"
          "submission form: GLUE's index<TAB>prediction TSV (the class name, or the STS-B\n"
          "score), id<TAB>prediction for TEXT<TAB>LABEL files (the line number), and for VQA\n"
          "question_id<TAB>answer, or VQA's results JSON [{\"question_id\", \"answer\"}] when\n"
          "--out ends in .json (text tasks: [{\"index\", \"prediction\"}]). When the file has\n"
          "labels, the task's metrics are printed (to standard error without --out).\n"
          "\n"
          "  --model FT.h5      the fine-tuned model\n"
          "  --input FILE       the examples\n"
          "  --annotations F    vqa: VQAv2 annotations of FILE (for the metrics)\n"
          "  --images DIR       vqa: the image folder\n"
          "  --limit N          the first N examples\n"
          "  --out F            write the predictions to F (atomically)\n"
          "  --json             print the metrics as one JSON object\n"
          "  --batch N          inputs per device batch (default 32)\n"
          "  --font F           glyph file(s) (repeatable; default CLIPPO_FONT or the system\n"
          "                     Unifont)\n"
          "  --device SPEC\n"
          "Exit status: 0 done, 1 error, 2 usage error.\n"
          "\n"
          "Examples:\n"
          "  clippo predict --model sst2.h5 --input SST-2/test.tsv --out sst2.pred\n"
          "  clippo predict --model sst2.h5 --input SST-2/dev.tsv --json\n"
          "  clippo predict --model vqa.h5 --input vq.json --annotations va.json --images vimg\n");
}

typedef struct predict_args {
  const char *model, *input, *annotations, *images, *out, *device;
  long limit, batch;
  int json;
  const char *font_items[16];
  cli_list fonts;
} predict_args;

static int parse_args(int argc, char **argv, predict_args *a) {
  memset(a, 0, sizeof *a);
  a->limit = a->batch = -1;
  a->fonts = (cli_list){a->font_items, 0, 16};
  const cli_option opts[] = {
      {"--model", CLI_STRING, &a->model, 0, 0},
      {"--input", CLI_STRING, &a->input, 0, 0},
      {"--annotations", CLI_STRING, &a->annotations, 0, 0},
      {"--images", CLI_STRING, &a->images, 0, 0},
      {"--limit", CLI_LONG, &a->limit, 1, LONG_MAX},
      {"--out", CLI_STRING, &a->out, 0, 0},
      {"--json", CLI_SET, &a->json, 0, 0},
      {"--batch", CLI_LONG, &a->batch, 1, 4096},
      {"--font", CLI_LIST, &a->fonts, 0, 0},
      {"--device", CLI_DEVICE, &a->device, 0, 0},
  };
  int rc = cli_parse("predict", argc, argv, opts, sizeof opts / sizeof opts[0], NULL);
  if (rc) return rc;
  if (!a->model) return cli_usage_error("predict", "give --model FT.h5 (made by clippo finetune)");
  if (!a->input) return cli_usage_error("predict", "give --input FILE");
  return 0;
}

/* Opens the input in the model's task, layout and classes. */
static clippo_status open_input(const predict_args *a, const clippo_tuned_model *m,
                                clippo_task_set **out, clippo_error *err) {
  const char *task = clippo_tuned_model_task(m), *layout = clippo_tuned_model_layout(m);
  const char *const *vocab = clippo_tuned_model_classes(m);
  const size_t nvocab = clippo_tuned_model_num_classes(m);
  const size_t limit = a->limit > 0 ? (size_t)a->limit : 0;
  if (!strcmp(task, "vqa")) {
    if (!a->images)
      return clippo_fail(err, CLIPPO_E_ARG, "the model answers questions (vqa): give --images DIR");
    return clippo_task_open_vqa(a->input, a->annotations, a->images, layout, vocab, nvocab, 0,
                                limit, out, err);
  }
  if (a->annotations || a->images)
    return clippo_fail(err, CLIPPO_E_ARG, "--annotations and --images are for vqa models, not %s",
                       task);
  const char *name = strncmp(task, "glue:", 5) ? task : task + 5;
  return clippo_task_open_glue(name, a->input, layout, vocab, nvocab, limit, out, err);
}

/* The predicted class of row y (the highest logit). */
static size_t argmax(const float *y, size_t C) {
  size_t best = 0;
  for (size_t c = 1; c < C; c++)
    if (y[c] > y[best]) best = c;
  return best;
}

/* The predictions as VQA's results JSON (vqa) or a JSON list of index/prediction objects. */
static clippo_status format_json(const clippo_task_set *s, const float *pred, clippo_strbuf *sb,
                                 clippo_error *err) {
  const size_t n = clippo_task_set_size(s), C = clippo_task_set_outputs(s);
  const int score = clippo_task_set_kind(s) == CLIPPO_TASK_SCORE;
  const int vqa = !strcmp(clippo_task_set_task(s), "vqa");
  cJSON *list = cJSON_CreateArray();
  for (size_t i = 0; list && i < n; i++) {
    char id[64];
    clippo_task_set_example_id(s, i, id, sizeof id);
    const float *y = pred + i * C;
    cJSON *o = cJSON_CreateObject();
    if (!o || !cJSON_AddItemToArray(list, o)) {
      cJSON_Delete(o);
      cJSON_Delete(list);
      list = NULL;
      break;
    }
    char *end = NULL;
    double num = strtod(id, &end);
    if (*id && !*end)
      cJSON_AddNumberToObject(o, vqa ? "question_id" : "index", num);
    else
      cJSON_AddStringToObject(o, vqa ? "question_id" : "index", id);
    if (score)
      cJSON_AddNumberToObject(o, "prediction", (double)y[0]);
    else
      cJSON_AddStringToObject(o, vqa ? "answer" : "prediction",
                              clippo_task_set_class(s, argmax(y, C)));
  }
  char *text = list ? cJSON_PrintUnformatted(list) : NULL;
  cJSON_Delete(list);
  if (!text) return clippo_fail(err, CLIPPO_E_NOMEM, "out of host memory for the predictions");
  clippo_strbuf_str(sb, text);
  clippo_strbuf_str(sb, "\n");
  cJSON_free(text);
  if (sb->oom) return clippo_fail(err, CLIPPO_E_NOMEM, "out of host memory for the predictions");
  return CLIPPO_OK;
}

/* The prediction lines into *sb, under the task's header (GLUE: index, VQA: question_id). */
static clippo_status format_predictions(const clippo_task_set *s, const float *pred,
                                        clippo_strbuf *sb, clippo_error *err) {
  const size_t n = clippo_task_set_size(s), C = clippo_task_set_outputs(s);
  const int score = clippo_task_set_kind(s) == CLIPPO_TASK_SCORE;
  const char *task = clippo_task_set_task(s);
  clippo_strbuf_str(sb, !strcmp(task, "vqa")         ? "question_id\tanswer\n"
                        : !strncmp(task, "glue:", 5) ? "index\tprediction\n"
                                                     : "id\tprediction\n");
  for (size_t i = 0; i < n; i++) {
    char id[64];
    clippo_task_set_example_id(s, i, id, sizeof id);
    const float *y = pred + i * C;
    if (score)
      clippo_strbuf_printf(sb, "%s\t%.4f\n", id, (double)y[0]);
    else
      clippo_strbuf_printf(sb, "%s\t%s\n", id, clippo_task_set_class(s, argmax(y, C)));
  }
  if (sb->oom) return clippo_fail(err, CLIPPO_E_NOMEM, "out of host memory for the predictions");
  return CLIPPO_OK;
}

/* Whether path ends in ".json". */
static int json_path(const char *path) {
  size_t n = path ? strlen(path) : 0;
  return n >= 5 && !strcmp(path + n - 5, ".json");
}

static int labelled(const clippo_task_set *s) {
  for (size_t i = 0; i < clippo_task_set_size(s); i++)
    if (clippo_task_set_label(s, i) >= 0 || !isnan(clippo_task_set_score(s, i))) return 1;
  return 0;
}

int clippo_cmd_predict(int argc, char **argv) {
  predict_args a;
  int rc = parse_args(argc, argv, &a);
  if (rc < 0) {
    usage(stdout);
    return 0;
  }
  if (rc) return rc;
  const char *inputs[] = {a.model, a.input, a.annotations};
  const char *names[] = {"--model", "--input", "--annotations"};
  size_t w = 0;
  if (cli_output_is_input(a.out, inputs, sizeof inputs / sizeof inputs[0], &w))
    return cli_usage_error("predict", "--out %s is the %s file: writing it would destroy it", a.out,
                           names[w]);
  clippo_error err;
  clippo_error_clear(&err);
  clippo_rt *rt = NULL;
  clippo_tuned_model *m = NULL;
  clippo_task_set *s = NULL;
  clippo_font *font = NULL;
  float *pred = NULL;
  clippo_strbuf sb = {0};
  clippo_status st = clippo_rt_create(&rt, a.device, &err);
  if (!st) st = clippo_tuned_model_load(rt, a.model, &m, &err);
  if (!st) st = open_input(&a, m, &s, &err);
  if (!st) st = clippo_font_load(&font, (const char *const *)a.fonts.items, a.fonts.n, &err);
  if (!st) {
    pred = malloc((clippo_task_set_size(s) + 1) * clippo_task_set_outputs(s) * sizeof *pred);
    if (!pred) st = clippo_fail(&err, CLIPPO_E_NOMEM, "out of host memory");
  }
  if (!st)
    st = clippo_tuned_model_predict(m, s, font, a.batch > 0 ? (size_t)a.batch : 32, pred, &err);
  if (!st)
    st =
        json_path(a.out) ? format_json(s, pred, &sb, &err) : format_predictions(s, pred, &sb, &err);
  if (!st && a.out) st = clippo_write_file_atomic(a.out, sb.p, sb.len, &err);
  if (!st && !a.out) fwrite(sb.p, 1, sb.len, stdout);
  clippo_task_metrics met;
  int have = !st && labelled(s);
  if (have) st = clippo_task_set_evaluate(s, pred, &met, &err);
  if (!st && have) {
    FILE *f = a.out || a.json ? stdout : stderr;
    if (a.json) {
      cJSON *in = cJSON_CreateString(clippo_task_set_describe(s));
      char *quoted = in ? cJSON_PrintUnformatted(in) : NULL;
      fprintf(f, "{\"input\": %s, \"count\": %zu, ", quoted ? quoted : "\"\"", met.count);
      cJSON_free(quoted);
      cJSON_Delete(in);
      cli_print_task_metrics(f, &met, 1);
      fprintf(f, "}\n");
    } else {
      fprintf(f, "%s (%zu labelled):", clippo_task_set_describe(s), met.count);
      cli_print_task_metrics(f, &met, 0);
      fprintf(f, "\n");
    }
  }
  rc = st ? cli_report("predict", &err) : 0;
  free(pred);
  clippo_strbuf_free(&sb);
  clippo_font_free(font);
  clippo_task_set_free(s);
  clippo_tuned_model_free(m);
  if (rt) clippo_rt_destroy(rt);
  return rc;
}
