/* `clippo search`: text->image or image->image search in an index made by `clippo index`. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli_paths.h"
#include "cli_util.h"
#include "clippo/tasks.h"

const char clippo_cmd_search_summary[] = "search an image index by text or by image";

#define MAX_FONTS 64

static void usage(FILE *out) {
  fprintf(
      out,
      "usage: clippo search [--index INDEX.h5] [--model M] [--top-k K] [--json] [--device SPEC]\n"
      "                     [--font F]... (\"TEXT QUERY\" | --image Q.png)\n"
      "\n"
      "Finds the images of INDEX.h5 (made by `clippo index`) closest to a text (rendered\n"
      "and embedded as CLIPPO does) or to an image. Prints rank, score (cosine similarity)\n"
      "and path, best first. The model must be the one the index was built with.\n"
      "\n"
      "Options:\n"
      "  --index F       the index file; default: the per-user index that `clippo index`\n"
      "                  writes without --out ($XDG_DATA_HOME/clippo/index.h5)\n"
      "  --model M       checkpoint (.npz or .h5); default: the model the index records\n"
      "  --image Q       search by image instead of text\n"
      "  --top-k K       results shown (default 10)\n"
      "  --json          one JSON object: {\"query\": Q, \"results\": [{\"rank\": 1, \"score\": "
      "S,\n"
      "                  \"path\": P}, ...]}\n"
      "  --device SPEC   OpenCL device (see clippo devices); default env CLIPPO_DEVICE\n"
      "  --font F        glyph file(s) for rendering the query (default: env CLIPPO_FONT,\n"
      "                  else the system Unifont)\n");
}

int clippo_cmd_search(int argc, char **argv) {
  const char *fonts[MAX_FONTS];
  size_t nfonts = 0;
  const char *index = NULL, *model = NULL, *image = NULL, *text = NULL;
  const char *device = NULL;
  long top_k = 10;
  int json = 0;
  const char **words = calloc((size_t)argc + 1, sizeof *words);
  if (!words) return cli_usage_error("search", "out of memory");
  cli_list font_list = {fonts, 0, MAX_FONTS}, word_list = {words, 0, (size_t)argc};
  const cli_option opts[] = {
      {"--json", CLI_SET, &json, 0, 0},          {"--index", CLI_STRING, &index, 0, 0},
      {"--model", CLI_STRING, &model, 0, 0},     {"--image", CLI_STRING, &image, 0, 0},
      {"--device", CLI_STRING, &device, 0, 0},   {"--font", CLI_LIST, &font_list, 0, 0},
      {"--top-k", CLI_LONG, &top_k, 1, 1000000},
  };
  int prc = cli_parse("search", argc, argv, opts, sizeof opts / sizeof opts[0], &word_list);
  if (prc == 0 && word_list.n > 1)
    prc = cli_usage_error("search", "more than one query ('%s'); quote the text", words[1]);
  text = word_list.n ? words[0] : NULL;
  free(words); /* text points into argv */
  if (prc) {
    if (prc < 0) usage(stdout);
    return prc < 0 ? 0 : prc;
  }
  nfonts = font_list.n;
  if (!text == !image) return cli_usage_error("search", "give exactly one of TEXT or --image");
  char index_buf[CLI_PATH_MAX];
  if (!index) {
    if (cli_default_index(index_buf, sizeof index_buf, 0) != 0) {
      fprintf(stderr, "clippo search: error: %s (give --index)\n", index_buf);
      return 1;
    }
    if (access(index_buf, F_OK) != 0) {
      fprintf(stderr,
              "clippo search: error: no index at %s: run `clippo index FOLDER` first or "
              "give --index\n",
              index_buf);
      return 1;
    }
    index = index_buf;
  }

  clippo_error err;
  clippo_error_clear(&err);
  clippo_index *ix = NULL;
  clippo_task_model tm;
  memset(&tm, 0, sizeof tm);
  float *q = NULL, *scores = NULL;
  size_t *idx = NULL;
  int rc = 0;
  char id[CLIPPO_IDENTITY_MAX], cache_dir[1024];
  clippo_cache_dir(cache_dir, sizeof cache_dir);
  clippo_status st = clippo_index_open_read(index, &ix, &err);
  if (!st && !model) { /* the model the index was built with */
    model = clippo_index_model_path(ix);
    if (access(model, R_OK) != 0)
      st = clippo_fail(&err, CLIPPO_E_NOTFOUND,
                       "index %s was built with model %s, which is not readable (give --model)",
                       index, model);
  }
  if (!st) st = clippo_file_identity(model, cache_dir, id, &err);
  if (!st && strcmp(id, clippo_index_model_id(ix)))
    st = clippo_fail(&err, CLIPPO_E_ARG,
                     "index %s was built with another model (%s, identity %s); %s has identity "
                     "%s",
                     index, clippo_index_model_path(ix), clippo_index_model_id(ix), model, id);
  if (!st) st = clippo_task_model_open(model, device, fonts, nfonts, 1, &tm, &err);
  if (!st && tm.dim != clippo_index_dim(ix))
    st = clippo_fail(&err, CLIPPO_E_ARG, "index %s holds %zu-dim embeddings, the model gives %zu",
                     index, clippo_index_dim(ix), tm.dim);
  if (!st) {
    q = malloc(tm.dim * sizeof *q);
    idx = malloc((size_t)top_k * sizeof *idx);
    scores = malloc((size_t)top_k * sizeof *scores);
    if (!q || !idx || !scores) st = clippo_fail(&err, CLIPPO_E_NOMEM, "out of host memory");
  }
  if (!st && text) {
    st = clippo_embed_texts_batched(&tm, &text, 1, q, &err);
  } else if (!st) {
    unsigned char ok = 0;
    clippo_error ferr;
    st = clippo_embed_image_files(&tm, &image, 1, 1, q, &ok, &ferr, &err);
    if (!st && !ok) {
      err = ferr;
      st = ferr.status ? ferr.status : CLIPPO_E_FORMAT;
    }
  }
  if (!st) {
    size_t m = clippo_index_search(ix, q, (size_t)top_k, idx, scores);
    if (json) {
      cJSON *o = cJSON_CreateObject();
      int ok = o && cJSON_AddStringToObject(o, "query", text ? text : image) &&
               cJSON_AddStringToObject(o, "kind", text ? "text" : "image");
      cJSON *arr = ok ? cJSON_AddArrayToObject(o, "results") : NULL;
      ok = ok && arr;
      for (size_t i = 0; ok && i < m; i++) {
        cJSON *r = cJSON_CreateObject();
        ok = r && cJSON_AddNumberToObject(r, "rank", (double)(i + 1)) &&
             cJSON_AddNumberToObject(r, "score", (double)scores[i]) &&
             cJSON_AddStringToObject(r, "path", clippo_index_path(ix, idx[i]));
        if (r) cJSON_AddItemToArray(arr, r);
      }
      char *s = ok ? cJSON_PrintUnformatted(o) : NULL;
      if (s)
        printf("%s\n", s);
      else
        st = clippo_fail(&err, CLIPPO_E_NOMEM, "out of memory writing JSON");
      free(s);
      cJSON_Delete(o);
    } else {
      if (m == 0)
        fprintf(stderr, "clippo search: the index is empty\n");
      else
        printf("rank  score    path\n");
      for (size_t i = 0; i < m; i++)
        printf("%4zu  %+.4f  %s\n", i + 1, (double)scores[i], clippo_index_path(ix, idx[i]));
    }
  }
  if (st) rc = cli_report("search", &err);
  free(q);
  free(idx);
  free(scores);
  clippo_error e2;
  clippo_index_close(ix, &e2);
  clippo_task_model_close(&tm);
  return rc;
}
