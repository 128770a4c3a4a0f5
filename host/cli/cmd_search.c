/* `clippo search`: text->image or image->image search in an index made by `clippo index`. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli_model.h"
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
      "and path, best first. The model must be the one the index was built with (the same\n"
      "parameters: a converted copy is fine). Files deleted since they were indexed are left\n"
      "out, and results whose file changed are counted in a note on stderr.\n"
      "\n"
      "Options:\n"
      "  --index F       the index file; default: the per-user index that `clippo index`\n"
      "                  writes without --out ($XDG_DATA_HOME/clippo/index.h5)\n"
      "  --model M       checkpoint (.npz or .h5); default: the model the index records\n"
      "  --image Q       search by image instead of text\n"
      "  --top-k K       results shown (default 10)\n"
      "  --json          one JSON object: {\"query\": Q, \"kind\": \"text\"|\"image\", "
      "\"results\":\n"
      "                  [{\"rank\": 1, \"score\": S, \"path\": P}, ...]}\n"
      "  --device SPEC   OpenCL device (see clippo devices); default env CLIPPO_DEVICE\n"
      "  --font F        glyph file(s) for rendering the query (default: env CLIPPO_FONT,\n"
      "                  else the system Unifont)\n"
      "\n"
      "Examples:\n"
      "  clippo search \"a dog on a beach\"\n"
      "  clippo search --index photos.h5 --top-k 3 --json \"red bicycle\"\n"
      "  clippo search --index photos.h5 --image query.jpg\n");
}

/* The command line. */
typedef struct search_opts {
  const char *index, *model, *image, *text, *device;
  const char *fonts[MAX_FONTS];
  size_t nfonts;
  long top_k;
  int json;
  char index_buf[CLI_PATH_MAX];
} search_opts;

/* Parses argv into o. Returns 0 to go on, else the exit status (-1: --help printed, exit 0). */
static int parse_options(int argc, char **argv, search_opts *o) {
  const char **words = calloc((size_t)argc + 1, sizeof *words);
  if (!words) return cli_usage_error("search", "out of memory");
  cli_list font_list = {o->fonts, 0, MAX_FONTS}, word_list = {words, 0, (size_t)argc};
  const cli_option opts[] = {
      {"--json", CLI_SET, &o->json, 0, 0},          {"--index", CLI_STRING, &o->index, 0, 0},
      {"--model", CLI_STRING, &o->model, 0, 0},     {"--image", CLI_STRING, &o->image, 0, 0},
      {"--device", CLI_STRING, &o->device, 0, 0},   {"--font", CLI_LIST, &font_list, 0, 0},
      {"--top-k", CLI_LONG, &o->top_k, 1, 1000000},
  };
  int rc = cli_parse("search", argc, argv, opts, sizeof opts / sizeof opts[0], &word_list);
  if (rc == 0 && word_list.n > 1)
    rc = cli_usage_error("search", "more than one query ('%s'); quote the text", words[1]);
  o->text = word_list.n ? words[0] : NULL; /* points into argv */
  o->nfonts = font_list.n;
  free(words);
  if (rc < 0) usage(stdout);
  if (rc) return rc;
  if (!o->text == !o->image)
    return cli_usage_error("search", "give exactly one of TEXT or --image");
  if (o->index) return 0;
  if (cli_default_index(o->index_buf, sizeof o->index_buf, 0) != 0) {
    fprintf(stderr, "clippo search: error: %s (give --index)\n", o->index_buf);
    return 1;
  }
  if (access(o->index_buf, F_OK) != 0) {
    fprintf(stderr,
            "clippo search: error: no index at %s: run `clippo index FOLDER` first or give "
            "--index\n",
            o->index_buf);
    return 1;
  }
  o->index = o->index_buf;
  return 0;
}

/* Opens the index, then the model (default: the one the index records) once its identity is
 * known to match. */
static clippo_status open_index_and_model(search_opts *o, clippo_index **ix, clippo_task_model *tm,
                                          clippo_error *err) {
  clippo_status st = clippo_index_open_read(o->index, ix, err);
  if (!st && !o->model) {
    o->model = clippo_index_model_path(*ix);
    if (access(o->model, R_OK) != 0)
      return clippo_fail(err, CLIPPO_E_NOTFOUND,
                         "index %s was built with model %s, which is not readable (give --model: "
                         "any copy of the same parameters will do)",
                         o->index, o->model);
  }
  char id[CLIPPO_IDENTITY_MAX], cache_dir[1024];
  clippo_cache_dir(cache_dir, sizeof cache_dir);
  if (!st) st = clippo_model_identity(o->model, cache_dir, id, err);
  if (!st) st = clippo_index_check_model(*ix, id, o->model, cache_dir, err);
  if (!st) st = cli_task_model_open("search", o->model, o->device, o->fonts, o->nfonts, 1, tm, err);
  if (!st && tm->dim != clippo_index_dim(*ix))
    st = clippo_fail(err, CLIPPO_E_ARG, "index %s holds %zu-dim embeddings, the model gives %zu",
                     o->index, clippo_index_dim(*ix), tm->dim);
  return st;
}

/* Embeds the text or image query into q (tm->dim floats). */
static clippo_status embed_query(const search_opts *o, clippo_task_model *tm, float *q,
                                 clippo_error *err) {
  if (o->text) return clippo_embed_texts_batched(tm, &o->text, 1, q, err);
  unsigned char ok = 0;
  clippo_error ferr;
  clippo_status st = clippo_embed_image_files(tm, &o->image, 1, 1, q, &ok, &ferr, err);
  if (!st && !ok) {
    *err = ferr;
    st = ferr.status ? ferr.status : CLIPPO_E_FORMAT;
  }
  return st;
}

/* The ranked results whose file still exists. */
typedef struct results {
  size_t *idx;
  float *scores;
  size_t n;
  size_t gone;    /* better-ranked entries left out: the file no longer exists */
  size_t changed; /* results whose file changed since it was indexed */
} results;

/* Ranks the index for q and keeps the best k entries whose file still exists, asking for more
 * candidates while deleted files push results out. */
static clippo_status rank(const clippo_index *ix, const float *q, size_t k, results *r,
                          clippo_error *err) {
  size_t count = clippo_index_count(ix), want = k < count ? k : count;
  memset(r, 0, sizeof *r);
  r->idx = malloc((want ? want : 1) * sizeof *r->idx);
  r->scores = malloc((want ? want : 1) * sizeof *r->scores);
  size_t *ci = NULL;
  float *cs = NULL;
  for (size_t ask = want; r->idx && r->scores && r->n < want;) {
    free(ci);
    free(cs);
    ci = malloc(ask * sizeof *ci);
    cs = malloc(ask * sizeof *cs);
    if (!ci || !cs) break;
    size_t m = clippo_index_search(ix, q, ask, ci, cs);
    r->n = r->gone = r->changed = 0;
    for (size_t i = 0; i < m && r->n < want; i++) {
      clippo_file_stamp now, then = clippo_index_stamp(ix, ci[i]);
      clippo_error e2;
      if (clippo_file_stamp_get(clippo_index_path(ix, ci[i]), &now, &e2) == CLIPPO_E_NOTFOUND) {
        r->gone++;
        continue;
      }
      r->changed += !clippo_file_stamp_same(&now, &then) && then.size != CLIPPO_STAMP_UNKNOWN;
      r->idx[r->n] = ci[i];
      r->scores[r->n++] = cs[i];
    }
    if (m < ask || ask == count) break;
    ask = ask * 2 > count ? count : ask * 2;
  }
  int oom = !r->idx || !r->scores || !ci || !cs;
  free(ci);
  free(cs);
  if (oom && want) return clippo_fail(err, CLIPPO_E_NOMEM, "out of host memory ranking");
  return CLIPPO_OK;
}

/* Prints the results as JSON (one object) on stdout. */
static clippo_status print_json(const search_opts *o, const clippo_index *ix, const results *r,
                                clippo_error *err) {
  cJSON *obj = cJSON_CreateObject();
  int ok = obj && cJSON_AddStringToObject(obj, "query", o->text ? o->text : o->image) &&
           cJSON_AddStringToObject(obj, "kind", o->text ? "text" : "image");
  cJSON *arr = ok ? cJSON_AddArrayToObject(obj, "results") : NULL;
  ok = ok && arr;
  for (size_t i = 0; ok && i < r->n; i++) {
    cJSON *e = cJSON_CreateObject();
    ok = e && cJSON_AddNumberToObject(e, "rank", (double)(i + 1)) &&
         cJSON_AddNumberToObject(e, "score", (double)r->scores[i]) &&
         cJSON_AddStringToObject(e, "path", clippo_index_path(ix, r->idx[i]));
    if (e) cJSON_AddItemToArray(arr, e);
  }
  char *s = ok ? cJSON_PrintUnformatted(obj) : NULL;
  clippo_status st = CLIPPO_OK;
  if (s)
    printf("%s\n", s);
  else
    st = clippo_fail(err, CLIPPO_E_NOMEM, "out of memory writing JSON");
  free(s);
  cJSON_Delete(obj);
  return st;
}

/* Prints the results as a table on stdout, and notes about stale entries on stderr. */
static void print_table(const clippo_index *ix, const results *r) {
  if (r->n == 0)
    fprintf(stderr, "clippo search: %s\n",
            r->gone ? "no results: every indexed file is gone" : "the index is empty");
  else
    printf("rank  score    path\n");
  for (size_t i = 0; i < r->n; i++)
    printf("%4zu  %+.4f  %s\n", i + 1, (double)r->scores[i], clippo_index_path(ix, r->idx[i]));
}

static void print_notes(const search_opts *o, const results *r) {
  if (r->gone)
    fprintf(stderr,
            "clippo search: note: %zu indexed file(s) no longer exist and were left out; run "
            "`clippo index` on their folders to update %s\n",
            r->gone, o->index);
  if (r->changed)
    fprintf(stderr,
            "clippo search: note: %zu result(s) changed since they were indexed; run `clippo "
            "index` on their folders to update %s\n",
            r->changed, o->index);
}

int clippo_cmd_search(int argc, char **argv) {
  search_opts o;
  memset(&o, 0, sizeof o);
  o.top_k = 10;
  int rc = parse_options(argc, argv, &o);
  if (rc) return rc < 0 ? 0 : rc;
  clippo_error err;
  clippo_error_clear(&err);
  clippo_index *ix = NULL;
  clippo_task_model tm;
  memset(&tm, 0, sizeof tm);
  results r;
  memset(&r, 0, sizeof r);
  float *q = NULL;
  clippo_status st = open_index_and_model(&o, &ix, &tm, &err);
  if (!st && !(q = malloc(tm.dim * sizeof *q)))
    st = clippo_fail(&err, CLIPPO_E_NOMEM, "out of host memory");
  if (!st) st = embed_query(&o, &tm, q, &err);
  if (!st) st = rank(ix, q, (size_t)o.top_k, &r, &err);
  if (!st && o.json) st = print_json(&o, ix, &r, &err);
  if (!st && !o.json) print_table(ix, &r);
  if (!st) print_notes(&o, &r);
  if (st) rc = cli_report("search", &err);
  free(q);
  free(r.idx);
  free(r.scores);
  clippo_error e2;
  clippo_index_close(ix, &e2);
  clippo_task_model_close(&tm);
  return rc;
}
