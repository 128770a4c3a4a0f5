/* The VQA loader of clippo/finetune.h (clippo_task_open_vqa): VQAv2's question and annotation
 * JSON files matched by question_id, the answer vocabulary (the most frequent
 * multiple_choice_answer values), the image files, and the layout that fuses the image and the
 * rendered question into one input image, as CLIPPO's paper does for VQA. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>

#include "clippo/finetune.h"
#include "clippo/image.h"
#include "tasks/task_set_internal.h"
#include "tasks/tasks_internal.h"

/** Largest JSON file read (VQAv2's train annotations are ~330 MB). */
#define VQA_MAX_FILE_BYTES ((size_t)4 << 30)
/** The default layout: the question in the top half, the image in the bottom half. */
#define VQA_DEFAULT_LAYOUT "top:0.5"
/** Grey of the image band around the resized image (value 127 of 255). */
#define VQA_BACKGROUND 127

/* Image file names tried for an image_id, in order: <id>.png, <id>.jpg, <id>.jpeg, and COCO's
 * COCO_<data_subtype>_<12-digit id>.jpg. */
#define VQA_NAME_FORMS 4

typedef struct vqa_priv {
  double top;           /* fraction of the rows given to the question */
  const char **answers; /* every example's human answers, one block */
} vqa_priv;

static void vqa_priv_free(void *p) {
  vqa_priv *v = p;
  if (!v) return;
  free(v->answers);
  free(v);
}

/* Parses "top:F" (0 < F < 1) into *top and its canonical text. */
static clippo_status parse_layout(const char *layout, double *top, char *canon, clippo_error *err) {
  if (!layout || !*layout) layout = VQA_DEFAULT_LAYOUT;
  char *end = (char *)layout;
  double f = strncmp(layout, "top:", 4) ? NAN : strtod(layout + 4, &end);
  if (isnan(f) || !end || end == layout + 4 || *end || !(f > 0 && f < 1))
    return clippo_fail(err, CLIPPO_E_ARG,
                       "unknown vqa layout '%.80s' (top:F: the question in the top fraction F of "
                       "the image, 0 < F < 1, the image below it; default " VQA_DEFAULT_LAYOUT ")",
                       layout);
  *top = f;
  snprintf(canon, TASK_LAYOUT_CAP, "top:%g", f);
  return CLIPPO_OK;
}

/* The line (1-based) of byte offset `at` in text. */
static size_t line_of(const char *text, size_t at) {
  size_t line = 1;
  for (size_t k = 0; k < at && text[k]; k++) line += text[k] == '\n';
  return line;
}

/* Reads and parses a JSON file; *arr = its member `key`, which must be an array. */
static clippo_status read_json(const char *path, const char *key, cJSON **root, const cJSON **arr,
                               clippo_error *err) {
  char *data = NULL;
  size_t len = 0;
  clippo_status st = tasks_read_text_file(path, VQA_MAX_FILE_BYTES, &data, &len, err);
  if (st) return st;
  const char *parse_end = NULL;
  *root = cJSON_ParseWithLengthOpts(data, len, &parse_end, 0);
  if (!*root) {
    size_t at = parse_end && parse_end >= data ? (size_t)(parse_end - data) : 0;
    st = clippo_fail(err, CLIPPO_E_FORMAT, "%s:%zu: invalid JSON", path, line_of(data, at));
    free(data);
    return st;
  }
  free(data);
  *arr = cJSON_GetObjectItemCaseSensitive(*root, key);
  if (!cJSON_IsArray(*arr))
    return clippo_fail(err, CLIPPO_E_FORMAT, "%s: no \"%s\" array (VQAv2 %s file expected)", path,
                       key, strcmp(key, "questions") ? "annotation" : "question");
  return CLIPPO_OK;
}

/* An integer member (question_id, image_id): a number with an integral value in [0, 2^53]. */
static int get_id(const cJSON *o, const char *name, int64_t *v) {
  const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, name);
  if (!cJSON_IsNumber(x)) return 0;
  double d = x->valuedouble;
  if (!(d >= 0 && d <= 9007199254740992.0) || d != floor(d)) return 0;
  *v = (int64_t)d;
  return 1;
}

/* A string member that is well-formed UTF-8 (cJSON keeps raw bytes as they are). */
static const char *get_text(const cJSON *o, const char *name) {
  const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, name);
  if (!cJSON_IsString(x) || !x->valuestring) return NULL;
  size_t n = strlen(x->valuestring);
  return tasks_utf8_bad_offset((const unsigned char *)x->valuestring, n) == n ? x->valuestring
                                                                              : NULL;
}

/* One question or annotation, for matching by question_id. */
typedef struct vqa_key {
  int64_t qid;
  size_t idx;
} vqa_key;

static int key_cmp(const void *a, const void *b) {
  const vqa_key *x = a, *y = b;
  if (x->qid != y->qid) return x->qid < y->qid ? -1 : 1;
  return x->idx < y->idx ? -1 : x->idx > y->idx;
}

static const vqa_key *key_find(const vqa_key *k, size_t n, int64_t qid) {
  size_t lo = 0, hi = n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (k[mid].qid < qid)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo < n && k[lo].qid == qid ? &k[lo] : NULL;
}

/* A loader in progress. */
typedef struct vqa_load {
  const char *qpath, *apath, *dir;
  const char *subtype; /* data_subtype of the questions file, for COCO names ("" when absent) */
  cJSON *qroot, *aroot;
  size_t n;
  int64_t *qid, *img;
  const char **question;
  const cJSON **ann; /* matched annotation of each question; NULL when unlabelled */
  const char **mc;   /* multiple_choice_answer of each question */
  int *form;         /* which image name form exists */
  vqa_key *akeys;
  size_t nann;
} vqa_load;

static void load_free(vqa_load *L) {
  cJSON_Delete(L->qroot);
  cJSON_Delete(L->aroot);
  free(L->qid);
  free(L->img);
  free(L->question);
  free(L->ann);
  free(L->mc);
  free(L->form);
  free(L->akeys);
}

static int image_name(const vqa_load *L, int64_t img, int form, char *buf, size_t cap) {
  static const char *const ext[] = {"png", "jpg", "jpeg"};
  int w = form < 3
              ? snprintf(buf, cap, "%s/%lld.%s", L->dir, (long long)img, ext[form])
              : snprintf(buf, cap, "%s/COCO_%s_%012lld.jpg", L->dir, L->subtype, (long long)img);
  return w > 0 && (size_t)w < cap;
}

/* Finds the image file of question k (the first name form that is a regular file). */
static clippo_status find_image(vqa_load *L, size_t k, clippo_error *err) {
  char path[TASK_PATH_CAP + 64];
  for (int f = 0; f < VQA_NAME_FORMS; f++) {
    if (f == 3 && !*L->subtype) break;
    struct stat sb;
    if (image_name(L, L->img[k], f, path, sizeof path) && !stat(path, &sb) && S_ISREG(sb.st_mode)) {
      L->form[k] = f;
      return CLIPPO_OK;
    }
  }
  image_name(L, L->img[k], 0, path, sizeof path);
  return clippo_fail(err, CLIPPO_E_NOTFOUND,
                     "%s: question_id %lld: no image %lld in %s (tried %s and .jpg/.jpeg%s)",
                     L->qpath, (long long)L->qid[k], (long long)L->img[k], L->dir, path,
                     *L->subtype ? ", COCO_<data_subtype>_<id>.jpg" : "");
}

static clippo_status read_questions(vqa_load *L, size_t limit, clippo_error *err) {
  const cJSON *arr = NULL;
  clippo_status st = read_json(L->qpath, "questions", &L->qroot, &arr, err);
  if (st) return st;
  const cJSON *sub = cJSON_GetObjectItemCaseSensitive(L->qroot, "data_subtype");
  L->subtype = cJSON_IsString(sub) && sub->valuestring && !strchr(sub->valuestring, '/')
                   ? sub->valuestring
                   : "";
  size_t n = (size_t)cJSON_GetArraySize(arr);
  if (limit && limit < n) n = limit;
  if (!n) return clippo_fail(err, CLIPPO_E_FORMAT, "%s: no questions", L->qpath);
  L->n = n;
  L->qid = calloc(n, sizeof *L->qid);
  L->img = calloc(n, sizeof *L->img);
  L->question = calloc(n, sizeof *L->question);
  L->ann = calloc(n, sizeof *L->ann);
  L->mc = calloc(n, sizeof *L->mc);
  L->form = calloc(n, sizeof *L->form);
  vqa_key *keys = calloc(n, sizeof *keys);
  if (!L->qid || !L->img || !L->question || !L->ann || !L->mc || !L->form || !keys) {
    free(keys);
    return clippo_fail(err, CLIPPO_E_NOMEM, "%s: out of host memory", L->qpath);
  }
  size_t k = 0;
  const cJSON *q = NULL;
  cJSON_ArrayForEach(q, arr) {
    if (k == n) break;
    if (!get_id(q, "question_id", &L->qid[k]) || !get_id(q, "image_id", &L->img[k])) {
      free(keys);
      return clippo_fail(err, CLIPPO_E_FORMAT,
                         "%s: question %zu: no integer question_id and image_id", L->qpath, k + 1);
    }
    L->question[k] = get_text(q, "question");
    if (!L->question[k] || !*L->question[k]) {
      free(keys);
      return clippo_fail(err, CLIPPO_E_FORMAT,
                         "%s: question_id %lld: the question is missing, empty or not valid "
                         "UTF-8",
                         L->qpath, (long long)L->qid[k]);
    }
    keys[k] = (vqa_key){L->qid[k], k};
    k++;
  }
  qsort(keys, n, sizeof *keys, key_cmp);
  for (size_t j = 1; j < n; j++)
    if (keys[j].qid == keys[j - 1].qid) {
      int64_t dup = keys[j].qid;
      free(keys);
      return clippo_fail(err, CLIPPO_E_FORMAT, "%s: question_id %lld appears twice", L->qpath,
                         (long long)dup);
    }
  free(keys);
  for (k = 0; k < n; k++)
    if ((st = find_image(L, k, err))) return st;
  return CLIPPO_OK;
}

/* Reads the annotations and matches them with the questions by question_id. With a limit, the
 * annotations of questions not loaded are ignored; without, every annotation needs a question. */
static clippo_status read_annotations(vqa_load *L, size_t limit, clippo_error *err) {
  const cJSON *arr = NULL;
  clippo_status st = read_json(L->apath, "annotations", &L->aroot, &arr, err);
  if (st) return st;
  size_t na = (size_t)cJSON_GetArraySize(arr), k = 0;
  L->akeys = calloc(na ? na : 1, sizeof *L->akeys);
  const cJSON **aobj = calloc(na ? na : 1, sizeof *aobj);
  if (!L->akeys || !aobj) {
    free(aobj);
    return clippo_fail(err, CLIPPO_E_NOMEM, "%s: out of host memory", L->apath);
  }
  const cJSON *a = NULL;
  cJSON_ArrayForEach(a, arr) {
    int64_t qid;
    if (!get_id(a, "question_id", &qid)) {
      free(aobj);
      return clippo_fail(err, CLIPPO_E_FORMAT, "%s: annotation %zu: no integer question_id",
                         L->apath, k + 1);
    }
    L->akeys[k] = (vqa_key){qid, k};
    aobj[k++] = a;
  }
  L->nann = na;
  qsort(L->akeys, na, sizeof *L->akeys, key_cmp);
  for (size_t j = 1; j < na; j++)
    if (L->akeys[j].qid == L->akeys[j - 1].qid) {
      free(aobj);
      return clippo_fail(err, CLIPPO_E_FORMAT, "%s: question_id %lld is annotated twice", L->apath,
                         (long long)L->akeys[j].qid);
    }
  for (k = 0; k < L->n && !st; k++) {
    const vqa_key *f = key_find(L->akeys, na, L->qid[k]);
    if (!f) {
      st = clippo_fail(err, CLIPPO_E_FORMAT,
                       "%s and %s do not match: question_id %lld has no annotation", L->qpath,
                       L->apath, (long long)L->qid[k]);
      break;
    }
    const cJSON *an = aobj[f->idx];
    int64_t img;
    if (get_id(an, "image_id", &img) && img != L->img[k]) {
      st = clippo_fail(err, CLIPPO_E_FORMAT,
                       "%s and %s do not match: question_id %lld is about image %lld in one and "
                       "%lld in the other",
                       L->qpath, L->apath, (long long)L->qid[k], (long long)L->img[k],
                       (long long)img);
      break;
    }
    L->mc[k] = get_text(an, "multiple_choice_answer");
    if (!L->mc[k] || !*L->mc[k]) {
      st = clippo_fail(err, CLIPPO_E_FORMAT,
                       "%s: question_id %lld: multiple_choice_answer is missing, empty or not "
                       "valid UTF-8",
                       L->apath, (long long)L->qid[k]);
      break;
    }
    const cJSON *ans = cJSON_GetObjectItemCaseSensitive(an, "answers"), *x = NULL;
    if (ans && !cJSON_IsArray(ans)) {
      st = clippo_fail(err, CLIPPO_E_FORMAT, "%s: question_id %lld: \"answers\" is not an array",
                       L->apath, (long long)L->qid[k]);
      break;
    }
    cJSON_ArrayForEach(x, ans) {
      if (!get_text(x, "answer")) {
        st = clippo_fail(err, CLIPPO_E_FORMAT,
                         "%s: question_id %lld: an answer without an \"answer\" string (or not "
                         "valid UTF-8)",
                         L->apath, (long long)L->qid[k]);
        break;
      }
    }
    L->ann[k] = an;
  }
  if (!st && !limit && na != L->n) {
    /* every annotation must belong to a question: find the first that does not */
    vqa_key *qk = calloc(L->n ? L->n : 1, sizeof *qk);
    if (!qk) st = clippo_fail(err, CLIPPO_E_NOMEM, "%s: out of host memory", L->apath);
    for (size_t j = 0; qk && j < L->n; j++) qk[j] = (vqa_key){L->qid[j], j};
    if (qk) qsort(qk, L->n, sizeof *qk, key_cmp);
    for (size_t j = 0; qk && j < na && !st; j++) {
      int64_t qid;
      if (get_id(aobj[j], "question_id", &qid) && !key_find(qk, L->n, qid))
        st = clippo_fail(err, CLIPPO_E_FORMAT,
                         "%s and %s do not match: question_id %lld (annotation %zu) is not a "
                         "question",
                         L->apath, L->qpath, (long long)qid, j + 1);
    }
    free(qk);
  }
  free(aobj);
  return st;
}

/* The answer vocabulary: the given one, or the top_k most frequent multiple_choice_answer values
 * (ties by first appearance; top_k 0 = all). */
static clippo_status make_vocab(vqa_load *L, clippo_task_set *s, const char *const *vocab,
                                size_t nvocab, size_t top_k, clippo_error *err) {
  const char **names = NULL;
  size_t *count = NULL, n = 0;
  tasks_strmap map = {0};
  clippo_status st = CLIPPO_OK;
  if (vocab && nvocab) {
    names = malloc(nvocab * sizeof *names);
    if (!names) return clippo_fail(err, CLIPPO_E_NOMEM, "out of host memory");
    for (size_t c = 0; c < nvocab; c++) {
      if (!vocab[c]) {
        free(names);
        return clippo_fail(err, CLIPPO_E_ARG, "answer %zu of the vocabulary is NULL", c);
      }
      names[c] = vocab[c];
    }
    n = nvocab;
  } else {
    if (!L->apath)
      return clippo_fail(err, CLIPPO_E_ARG,
                         "%s: without annotations the answers come from a vocabulary (the "
                         "model's), and none was given",
                         L->qpath);
    names = malloc(L->n * sizeof *names);
    count = calloc(L->n, sizeof *count);
    if (!names || !count) st = clippo_fail(err, CLIPPO_E_NOMEM, "out of host memory");
    for (size_t k = 0; !st && k < L->n; k++) {
      size_t c;
      if (tasks_strmap_get(&map, L->mc[k], &c)) {
        count[c]++;
        continue;
      }
      names[n] = L->mc[k];
      count[n] = 1;
      st = tasks_strmap_put(&map, L->mc[k], n++, err);
    }
    /* stable order by count (descending), ties by first appearance: insertion sort on ranks */
    for (size_t i = 1; !st && i < n; i++) {
      const char *nm = names[i];
      size_t ct = count[i], j = i;
      for (; j > 0 && count[j - 1] < ct; j--) {
        names[j] = names[j - 1];
        count[j] = count[j - 1];
      }
      names[j] = nm;
      count[j] = ct;
    }
    if (top_k && n > top_k) n = top_k;
  }
  tasks_strmap_free(&map);
  if (!st && !n)
    st = clippo_fail(err, CLIPPO_E_FORMAT, "%s: no answers to learn",
                     L->apath ? L->apath : L->qpath);
  if (!st && !(s->classes = calloc(n, sizeof *s->classes)))
    st = clippo_fail(err, CLIPPO_E_NOMEM, "out of host memory");
  for (size_t c = 0; !st && c < n; c++) {
    size_t l = strlen(names[c]);
    if (!(s->classes[c] = malloc(l + 1))) {
      st = clippo_fail(err, CLIPPO_E_NOMEM, "out of host memory");
      break;
    }
    memcpy(s->classes[c], names[c], l + 1);
    s->nclasses = c + 1;
  }
  free(names);
  free(count);
  return st;
}

/* Copies the strings the set keeps into s->buf and fills the examples. */
static clippo_status fill_examples(vqa_load *L, clippo_task_set *s, vqa_priv *v,
                                   clippo_error *err) {
  size_t bytes = 0, nans = 0;
  char path[TASK_PATH_CAP + 64];
  for (size_t k = 0; k < L->n; k++) {
    image_name(L, L->img[k], L->form[k], path, sizeof path);
    bytes += strlen(L->question[k]) + strlen(path) + 2;
    const cJSON *x = NULL,
                *ans = L->ann[k] ? cJSON_GetObjectItemCaseSensitive(L->ann[k], "answers") : NULL;
    cJSON_ArrayForEach(x, ans) {
      bytes += strlen(cJSON_GetObjectItemCaseSensitive(x, "answer")->valuestring) + 1;
      nans++;
    }
    if (L->ann[k] && !cJSON_GetArraySize(ans)) {
      nans++;
      bytes += strlen(L->mc[k]) + 1;
    }
    if (L->mc[k]) bytes += strlen(L->mc[k]) + 1;
  }
  s->ex = calloc(L->n ? L->n : 1, sizeof *s->ex);
  s->buf = malloc(bytes ? bytes : 1);
  v->answers = calloc(nans ? nans : 1, sizeof *v->answers);
  if (!s->ex || !s->buf || !v->answers)
    return clippo_fail(err, CLIPPO_E_NOMEM, "%s: out of host memory", L->qpath);
  tasks_strmap map = {0};
  clippo_status st = CLIPPO_OK;
  for (size_t c = 0; c < s->nclasses && !st; c++)
    st = tasks_strmap_put(&map, s->classes[c], c, err);
  char *o = s->buf;
  size_t ai = 0;
#define KEEP(dst, str)                                                                             \
  do {                                                                                             \
    size_t l_ = strlen(str);                                                                       \
    memcpy(o, (str), l_ + 1);                                                                      \
    (dst) = o;                                                                                     \
    o += l_ + 1;                                                                                   \
  } while (0)
  for (size_t k = 0; k < L->n && !st; k++) {
    task_example *e = &s->ex[k];
    e->label = -1;
    e->score = NAN;
    snprintf(e->id, sizeof e->id, "%lld", (long long)L->qid[k]);
    KEEP(e->text[0], L->question[k]);
    image_name(L, L->img[k], L->form[k], path, sizeof path);
    KEEP(e->image, path);
    if (!L->ann[k] || !L->mc[k]) continue;
    KEEP(e->answer, L->mc[k]);
    size_t c;
    if (tasks_strmap_get(&map, e->answer, &c)) e->label = (int)c;
    e->answers = v->answers + ai;
    const cJSON *x = NULL, *ans = cJSON_GetObjectItemCaseSensitive(L->ann[k], "answers");
    cJSON_ArrayForEach(x, ans)
        KEEP(v->answers[ai++], cJSON_GetObjectItemCaseSensitive(x, "answer")->valuestring);
    if (!cJSON_GetArraySize(ans)) KEEP(v->answers[ai++], L->mc[k]);
    e->nanswers = (size_t)(v->answers + ai - e->answers);
  }
#undef KEEP
  tasks_strmap_free(&map);
  s->n = L->n;
  return st;
}

/* Renders example i: the question's first rows on top, the image resized into the band below
 * (aspect ratio kept, centred on grey). */
static clippo_status vqa_input(const clippo_task_set *s, size_t i, const clippo_font *font,
                               int image_size, float *dst, clippo_error *err) {
  const vqa_priv *v = s->priv;
  const task_example *e = &s->ex[i];
  const int S = image_size, R = (int)lround(v->top * S), H = S - R;
  if (R < 1 || H < 1)
    return clippo_fail(err, CLIPPO_E_ARG,
                       "%s: layout %s leaves no rows for the %s at image size %d", s->describe,
                       s->layout, R < 1 ? "question" : "image", S);
  uint8_t grey_px[3] = {VQA_BACKGROUND, VQA_BACKGROUND, VQA_BACKGROUND};
  float grey[3];
  clippo_image_to_input(&(clippo_image){.width = 1, .height = 1, .data = grey_px}, grey);
  for (size_t p = (size_t)R * (size_t)S; p < (size_t)S * (size_t)S; p++)
    memcpy(dst + 3 * p, grey, sizeof grey);
  clippo_status st = task_render_rows(font, e->text[0], S, 0, R, 0, dst, err);
  clippo_image img = {0}, small = {0};
  if (!st) st = clippo_image_load(e->image, &img, err);
  if (!st) {
    const double scale = fmin((double)S / img.width, (double)H / img.height);
    int ow = (int)lround(img.width * scale), oh = (int)lround(img.height * scale);
    ow = ow < 1 ? 1 : ow > S ? S : ow;
    oh = oh < 1 ? 1 : oh > H ? H : oh;
    st = clippo_image_resize_bilinear(&img, ow, oh, &small, err);
    if (!st) {
      const int x0 = (S - ow) / 2, y0 = R + (H - oh) / 2;
      for (int y = 0; y < oh; y++) {
        clippo_image row = {.width = ow, .height = 1, .data = small.data + (size_t)y * ow * 3};
        clippo_image_to_input(&row, dst + ((size_t)(y0 + y) * S + (size_t)x0) * 3);
      }
    }
  }
  clippo_image_free(&img);
  clippo_image_free(&small);
  if (st && err) clippo_error_prefix(err, "%s: question_id %s", s->describe, e->id);
  return st;
}

clippo_status clippo_task_open_vqa(const char *questions, const char *annotations,
                                   const char *images_dir, const char *layout,
                                   const char *const *vocab, size_t nvocab, size_t top_k,
                                   size_t limit, clippo_task_set **out, clippo_error *err) {
  if (!out) return clippo_fail(err, CLIPPO_E_ARG, "vqa: NULL output");
  *out = NULL;
  if (!questions || !images_dir)
    return clippo_fail(err, CLIPPO_E_ARG, "vqa: give the questions file and the image folder");
  if (strlen(questions) >= TASK_PATH_CAP || (annotations && strlen(annotations) >= TASK_PATH_CAP) ||
      strlen(images_dir) >= TASK_PATH_CAP)
    return clippo_fail(err, CLIPPO_E_ARG, "vqa: a path is longer than %d bytes", TASK_PATH_CAP - 1);
  double top = 0;
  char canon[TASK_LAYOUT_CAP];
  clippo_status st = parse_layout(layout, &top, canon, err);
  if (st) return st;
  clippo_task_set *s = task_set_new();
  vqa_priv *v = calloc(1, sizeof *v);
  if (!s || !v) {
    free(s);
    free(v);
    return clippo_fail(err, CLIPPO_E_NOMEM, "vqa: out of host memory");
  }
  v->top = top;
  s->priv = v;
  s->priv_free = vqa_priv_free;
  vqa_load L = {.qpath = questions, .apath = annotations, .dir = images_dir, .subtype = ""};
  st = read_questions(&L, limit, err);
  if (!st && annotations) st = read_annotations(&L, limit, err);
  if (!st) st = make_vocab(&L, s, vocab, nvocab, top_k, err);
  if (!st) st = fill_examples(&L, s, v, err);
  load_free(&L);
  if (st) {
    clippo_task_set_free(s);
    return st;
  }
  snprintf(s->task, sizeof s->task, "vqa");
  snprintf(s->layout, sizeof s->layout, "%s", canon);
  snprintf(s->path, sizeof s->path, "%s", questions);
  snprintf(s->labels_path, sizeof s->labels_path, "%s", annotations ? annotations : "");
  const char *b = strrchr(questions, '/');
  snprintf(s->describe, sizeof s->describe, "vqa %s (%zu questions, %zu answers)",
           b ? b + 1 : questions, s->n, s->nclasses);
  s->kind = CLIPPO_TASK_CLASSES;
  s->metrics[0] = "vqa_accuracy";
  s->metrics[1] = "accuracy";
  s->nmetrics = 2;
  s->input = vqa_input;
  *out = s;
  return CLIPPO_OK;
}
