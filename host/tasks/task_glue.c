/* The GLUE and plain TSV loader of clippo/finetune.h (clippo_task_open_glue): GLUE's own TSV
 * files (train, dev and test splits of SST-2, CoLA, MNLI, QQP, QNLI, RTE, MRPC, STS-B) and
 * `text<TAB>label` files, read into the task set of tasks/task_set_internal.h, and the text
 * layouts that turn one sentence or a sentence pair into the model's input image. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clippo/finetune.h"
#include "tasks/task_set_internal.h"
#include "tasks/tasks_internal.h"

/** Largest TSV file read (GLUE's largest, MNLI train, is ~300 MB with its parse columns). */
#define GLUE_MAX_FILE_BYTES ((size_t)4 << 30)

static const char *const BINARY_LABELS[] = {"0", "1"};
static const char *const MNLI_LABELS[] = {"contradiction", "entailment", "neutral"};
static const char *const ENTAIL_LABELS[] = {"entailment", "not_entailment"};

/* One task's file format. Header-based formats name their columns; CoLA's train/dev files have
 * no header (source, label, author's marker, sentence). */
typedef struct glue_spec {
  const char *name;
  const char *col[2];    /* the sentence columns (col[1] NULL: a single-sentence task) */
  const char *label_col; /* label or score column (absent in test files) */
  const char *id_col;    /* index/id column (optional) */
  const char *const *classes;
  size_t nclasses; /* 0: score task (stsb) or vocabulary from the file (tsv) */
  clippo_task_kind kind;
  int positive; /* class index of the positive class, -1 when unused */
  const char *metrics[TASK_MAX_METRICS];
} glue_spec;

#define CLASSES(v)                                                                                 \
  .classes = (v), .nclasses = sizeof(v) / sizeof((v)[0]), .kind = CLIPPO_TASK_CLASSES
static const glue_spec SPECS[] = {
    {.name = "sst2",
     .col = {"sentence"},
     .label_col = "label",
     .id_col = "index",
     CLASSES(BINARY_LABELS),
     .positive = 1,
     .metrics = {"accuracy"}},
    {.name = "cola",
     .col = {"sentence"},
     .label_col = "label",
     .id_col = "index",
     CLASSES(BINARY_LABELS),
     .positive = 1,
     .metrics = {"matthews"}},
    {.name = "mnli",
     .col = {"sentence1", "sentence2"},
     .label_col = "gold_label",
     .id_col = "index",
     CLASSES(MNLI_LABELS),
     .positive = -1,
     .metrics = {"accuracy"}},
    {.name = "qqp",
     .col = {"question1", "question2"},
     .label_col = "is_duplicate",
     .id_col = "id",
     CLASSES(BINARY_LABELS),
     .positive = 1,
     .metrics = {"accuracy", "f1"}},
    {.name = "qnli",
     .col = {"question", "sentence"},
     .label_col = "label",
     .id_col = "index",
     CLASSES(ENTAIL_LABELS),
     .positive = -1,
     .metrics = {"accuracy"}},
    {.name = "rte",
     .col = {"sentence1", "sentence2"},
     .label_col = "label",
     .id_col = "index",
     CLASSES(ENTAIL_LABELS),
     .positive = -1,
     .metrics = {"accuracy"}},
    {.name = "mrpc",
     .col = {"#1 String", "#2 String"},
     .label_col = "Quality",
     .id_col = "index",
     CLASSES(BINARY_LABELS),
     .positive = 1,
     .metrics = {"accuracy", "f1"}},
    {.name = "stsb",
     .col = {"sentence1", "sentence2"},
     .label_col = "score",
     .id_col = "index",
     .kind = CLIPPO_TASK_SCORE,
     .positive = -1,
     .metrics = {"pearson", "spearman"}},
    {.name = "tsv",
     .col = {"text"},
     .label_col = "label",
     .kind = CLIPPO_TASK_CLASSES,
     .positive = -1,
     .metrics = {"accuracy"}},
};
#undef CLASSES
#define NSPECS (sizeof SPECS / sizeof SPECS[0])

/* ---- text layouts -------------------------------------------------------------------------- */

/* Checks the layout text for the task and writes its canonical form (see clippo_task_open_glue). */
static clippo_status resolve_layout(const glue_spec *sp, const char *layout, char *out,
                                    clippo_error *err) {
  const int pair = sp->col[1] != NULL;
  if (!layout || !*layout) layout = pair ? "join: | " : "text";
  if (strlen(layout) >= TASK_LAYOUT_CAP)
    return clippo_fail(err, CLIPPO_E_ARG, "layout '%.40s...' is longer than %d bytes", layout,
                       TASK_LAYOUT_CAP - 1);
  const int is_text = !strcmp(layout, "text"), is_split = !strcmp(layout, "split"),
            is_join = !strncmp(layout, "join:", 5);
  if (!is_text && !is_split && !is_join)
    return clippo_fail(err, CLIPPO_E_ARG,
                       "unknown layout '%s' for %s%s (text layouts: text, join:SEP, split)", layout,
                       strcmp(sp->name, "tsv") ? "glue:" : "", sp->name);
  if (pair && is_text)
    return clippo_fail(err, CLIPPO_E_ARG,
                       "layout 'text' does not fit glue:%s, a sentence-pair task (use join:SEP "
                       "or split)",
                       sp->name);
  if (!pair && !is_text)
    return clippo_fail(err, CLIPPO_E_ARG,
                       "layout '%s' needs a sentence pair, but %s%s has one sentence (use text)",
                       layout, strcmp(sp->name, "tsv") ? "glue:" : "", sp->name);
  snprintf(out, TASK_LAYOUT_CAP, "%s", layout);
  return CLIPPO_OK;
}

static clippo_status glue_input(const clippo_task_set *s, size_t i, const clippo_font *font,
                                int image_size, float *dst, clippo_error *err) {
  const task_example *e = &s->ex[i];
  clippo_status st;
  if (!strcmp(s->layout, "split") && e->text[1]) {
    const int top = image_size / 2;
    st = task_render_rows(font, e->text[0], image_size, 0, top, 0, dst, err);
    if (!st)
      st = task_render_rows(font, e->text[1], image_size, 0, image_size - top, top, dst, err);
  } else if (!strncmp(s->layout, "join:", 5) && e->text[1]) {
    const char *sep = s->layout + 5;
    size_t a = strlen(e->text[0]), b = strlen(sep), c = strlen(e->text[1]);
    char *t = malloc(a + b + c + 1);
    if (!t) return clippo_fail(err, CLIPPO_E_NOMEM, "%s: out of host memory", s->describe);
    memcpy(t, e->text[0], a);
    memcpy(t + a, sep, b);
    memcpy(t + a + b, e->text[1], c);
    t[a + b + c] = '\0';
    st = task_render_rows(font, t, image_size, 0, image_size, 0, dst, err);
    free(t);
  } else {
    st = task_render_rows(font, e->text[0], image_size, 0, image_size, 0, dst, err);
  }
  if (st && err) clippo_error_prefix(err, "%s: example %s", s->describe, e->id);
  return st;
}

/* ---- parsing helpers ----------------------------------------------------------------------- */

static int blank(const char *s) {
  for (; *s; s++)
    if (*s != ' ' && *s != '\t' && *s != '\r' && *s != '\n' && *s != '\f' && *s != '\v') return 0;
  return 1;
}

static const char *base_name(const char *path) {
  const char *b = strrchr(path, '/');
  return b ? b + 1 : path;
}

/* Appends the list of strings to buf (cap bytes) as "a, b, c", cut with "..." when long. */
static void list_strings(char *buf, size_t cap, const char *const *v, size_t n) {
  size_t used = 0;
  buf[0] = '\0';
  for (size_t k = 0; k < n && used + 8 < cap; k++) {
    if (used > 1000) {
      snprintf(buf + used, cap - used, ", ... (%zu in all)", n);
      return;
    }
    int w = snprintf(buf + used, cap - used, "%s%s", k ? ", " : "", v[k]);
    if (w < 0) return;
    used += (size_t)w;
    if (used >= cap) {
      buf[cap - 1] = '\0';
      return;
    }
  }
}

/* A loader in progress. */
typedef struct glue_parse {
  const glue_spec *sp;
  const char *path;
  char *data; /* the file, split in place */
  size_t len;
  task_example *ex;
  size_t n, cap;
  const char **label_text; /* tsv without vocabulary: each example's label string */
  char **classes;          /* the vocabulary (malloc'ed copies) */
  size_t nclasses;
  tasks_strmap map; /* class name -> index */
  int collect;      /* label_text is kept (tsv without vocabulary) */
  int labelled;
} glue_parse;

static clippo_status set_classes(glue_parse *g, const char *const *v, size_t n, clippo_error *err) {
  if (n && !(g->classes = calloc(n, sizeof *g->classes)))
    return clippo_fail(err, CLIPPO_E_NOMEM, "out of host memory");
  g->nclasses = n;
  for (size_t c = 0; c < n; c++) {
    size_t l = strlen(v[c]);
    if (!(g->classes[c] = malloc(l + 1))) return clippo_fail(err, CLIPPO_E_NOMEM, "out of memory");
    memcpy(g->classes[c], v[c], l + 1);
    size_t prev;
    if (tasks_strmap_get(&g->map, g->classes[c], &prev))
      return clippo_fail(err, CLIPPO_E_ARG, "the class vocabulary holds '%s' twice", v[c]);
    clippo_status st = tasks_strmap_put(&g->map, g->classes[c], c, err);
    if (st) return st;
  }
  return CLIPPO_OK;
}

static clippo_status check_vocab(const glue_spec *sp, const char *const *vocab, size_t nvocab,
                                 clippo_error *err) {
  if (!vocab || !nvocab) return CLIPPO_OK;
  for (size_t c = 0; c < nvocab; c++)
    if (!vocab[c]) return clippo_fail(err, CLIPPO_E_ARG, "class %zu of the vocabulary is NULL", c);
  if (sp->kind == CLIPPO_TASK_SCORE)
    return clippo_fail(err, CLIPPO_E_ARG,
                       "glue:%s is a score task: it takes no class vocabulary (%zu given)",
                       sp->name, nvocab);
  if (!sp->nclasses) return CLIPPO_OK; /* tsv: any */
  int same = nvocab == sp->nclasses;
  for (size_t c = 0; same && c < nvocab; c++) same = !strcmp(vocab[c], sp->classes[c]);
  if (!same) {
    char want[512], got[1200];
    list_strings(want, sizeof want, sp->classes, sp->nclasses);
    list_strings(got, sizeof got, vocab, nvocab);
    return clippo_fail(err, CLIPPO_E_ARG, "glue:%s has the classes (%s), not the given (%s)",
                       sp->name, want, got);
  }
  return CLIPPO_OK;
}

static clippo_status add_example(glue_parse *g, task_example **out, clippo_error *err) {
  if (g->n == g->cap) {
    size_t cap = g->cap ? g->cap * 2 : 256;
    task_example *ex = realloc(g->ex, cap * sizeof *ex);
    if (!ex) return clippo_fail(err, CLIPPO_E_NOMEM, "%s: out of host memory", g->path);
    g->ex = ex;
    if (g->collect) {
      const char **lt = realloc(g->label_text, cap * sizeof *lt);
      if (!lt) return clippo_fail(err, CLIPPO_E_NOMEM, "%s: out of host memory", g->path);
      g->label_text = lt;
    }
    g->cap = cap;
  }
  task_example *e = &g->ex[g->n++];
  memset(e, 0, sizeof *e);
  e->label = -1;
  e->score = NAN;
  *out = e;
  return CLIPPO_OK;
}

/* The next line of the file (NUL-terminated in place, without its '\n' and a trailing '\r');
 * 0 at the end. */
static int next_line(char **pos, char *end, char **line, size_t *len) {
  char *p = *pos;
  if (p >= end) return 0;
  char *nl = memchr(p, '\n', (size_t)(end - p));
  char *e = nl ? nl : end;
  *pos = nl ? nl + 1 : end;
  size_t n = (size_t)(e - p);
  *line = p;
  if (nl) *nl = '\0';
  if (n && p[n - 1] == '\r') p[--n] = '\0';
  *len = n;
  return 1;
}

/* Checks a line's bytes: no NUL, well-formed UTF-8. */
static clippo_status check_line(const glue_parse *g, const char *line, size_t len, size_t lineno,
                                clippo_error *err) {
  if (memchr(line, '\0', len))
    return clippo_fail(err, CLIPPO_E_FORMAT, "%s:%zu: the line holds a NUL byte", g->path, lineno);
  size_t bad = tasks_utf8_bad_offset((const unsigned char *)line, len);
  if (bad < len)
    return clippo_fail(err, CLIPPO_E_FORMAT,
                       "%s:%zu: invalid UTF-8 (byte 0x%02x at byte %zu of the line)", g->path,
                       lineno, (unsigned)(unsigned char)line[bad], bad + 1);
  return CLIPPO_OK;
}

static size_t count_fields(const char *line) {
  size_t n = 1;
  for (; *line; line++) n += *line == '\t';
  return n;
}

/* Splits a line at TABs in place into f[0..n) (n = count_fields). */
static void split_fields(char *line, char **f) {
  size_t k = 0;
  f[k++] = line;
  for (char *p = line; *p; p++)
    if (*p == '\t') {
      *p = '\0';
      f[k++] = p + 1;
    }
}

static clippo_status unknown_label(const glue_parse *g, size_t lineno, const char *label,
                                   clippo_error *err) {
  char list[1200];
  list_strings(list, sizeof list, (const char *const *)g->classes, g->nclasses);
  return clippo_fail(err, CLIPPO_E_FORMAT, "%s:%zu: unknown label '%.80s' (labels: %s)", g->path,
                     lineno, label, list);
}

/* Where a task's columns are in the file: indices into the fields, -1 when absent. */
typedef struct glue_cols {
  long text[2], label, id;
  size_t ncols;
} glue_cols;

/* Fills one example from the fields of a line. */
static clippo_status parse_row(glue_parse *g, const glue_cols *cols, char **f, size_t lineno,
                               clippo_error *err) {
  const glue_spec *sp = g->sp;
  task_example *e = NULL;
  clippo_status st = add_example(g, &e, err);
  if (st) return st;
  for (int k = 0; k < 2; k++) {
    if (cols->text[k] < 0) continue;
    const char *t = f[cols->text[k]];
    if (blank(t))
      return clippo_fail(err, CLIPPO_E_FORMAT, "%s:%zu: empty %s", g->path, lineno, sp->col[k]);
    e->text[k] = t;
  }
  if (cols->id >= 0 && *f[cols->id])
    snprintf(e->id, sizeof e->id, "%.39s", f[cols->id]);
  else
    snprintf(e->id, sizeof e->id, "%zu", lineno);
  if (cols->label < 0) return CLIPPO_OK;
  const char *lab = f[cols->label];
  if (sp->kind == CLIPPO_TASK_SCORE) {
    char *endp;
    double v = strtod(lab, &endp);
    if (!*lab || endp == lab || *endp || !isfinite(v) || v < 0 || v > 5)
      return clippo_fail(err, CLIPPO_E_FORMAT, "%s:%zu: bad score '%.40s' (a number from 0 to 5)",
                         g->path, lineno, lab);
    e->score = v;
    return CLIPPO_OK;
  }
  if (g->collect) {
    if (!*lab) return clippo_fail(err, CLIPPO_E_FORMAT, "%s:%zu: empty label", g->path, lineno);
    g->label_text[g->n - 1] = lab;
    return CLIPPO_OK;
  }
  size_t c;
  if (!tasks_strmap_get(&g->map, lab, &c)) return unknown_label(g, lineno, lab, err);
  e->label = (int)c;
  return CLIPPO_OK;
}

static long find_col(char **h, size_t n, const char *name) {
  if (!name) return -1;
  for (size_t k = 0; k < n; k++)
    if (h[k] && !strcmp(h[k], name)) return (long)k;
  return -1;
}

/* Reads the header (or decides there is none) and the column positions. *data_first: the first
 * line is a data line. */
static clippo_status parse_header(glue_parse *g, char *line, size_t lineno, glue_cols *cols,
                                  int *data_first, clippo_error *err) {
  const glue_spec *sp = g->sp;
  size_t n = count_fields(line);
  char **h = calloc(n, sizeof *h);
  if (!h) return clippo_fail(err, CLIPPO_E_NOMEM, "%s: out of host memory", g->path);
  char *copy = malloc(strlen(line) + 1);
  if (!copy) {
    free(h);
    return clippo_fail(err, CLIPPO_E_NOMEM, "%s: out of host memory", g->path);
  }
  strcpy(copy, line); /* the first line stays intact when it is data */
  split_fields(copy, h);
  clippo_status st = CLIPPO_OK;
  *data_first = 0;
  cols->ncols = n;
  cols->text[0] = find_col(h, n, sp->col[0]);
  cols->text[1] = find_col(h, n, sp->col[1]);
  cols->label = find_col(h, n, sp->label_col);
  cols->id = find_col(h, n, sp->id_col);
  if (!strcmp(sp->name, "tsv")) {
    const int header = cols->text[0] == 0 && (n == 1 || (n == 2 && cols->label == 1));
    if (!header) {
      *data_first = 1;
      if (n > 2)
        st = clippo_fail(err, CLIPPO_E_FORMAT, "%s:%zu: %zu columns, expected text<TAB>label",
                         g->path, lineno, n);
      cols->text[0] = 0;
      cols->label = n == 2 ? 1 : -1;
    }
  } else if (!strcmp(sp->name, "cola") && cols->text[0] < 0) {
    /* CoLA train/dev: no header; source, label, author's marker, sentence */
    *data_first = 1;
    if (n != 4)
      st = clippo_fail(err, CLIPPO_E_FORMAT,
                       "%s:%zu: %zu columns; a CoLA file without header has 4 (source, label, "
                       "marker, sentence)",
                       g->path, lineno, n);
    cols->ncols = 4;
    cols->text[0] = 3;
    cols->label = 1;
    cols->id = -1;
  } else {
    for (int k = 0; k < 2 && !st; k++)
      if (sp->col[k] && cols->text[k] < 0) {
        char list[1200];
        list_strings(list, sizeof list, (const char *const *)h, n);
        st = clippo_fail(err, CLIPPO_E_FORMAT,
                         "%s:%zu: no column '%s' in the header of this glue:%s file (its "
                         "columns: %s)",
                         g->path, lineno, sp->col[k], sp->name, list);
      }
  }
  free(copy);
  free(h);
  return st;
}

static clippo_status parse_file(glue_parse *g, size_t limit, clippo_error *err) {
  char *pos = g->data, *end = g->data + g->len, *line;
  size_t len, lineno = 0;
  glue_cols cols = {{-1, -1}, -1, -1, 0};
  int have_header = 0;
  const char *ref = "header";
  char **f = NULL;
  clippo_status st = CLIPPO_OK;
  while (!st && (!limit || g->n < limit) && next_line(&pos, end, &line, &len)) {
    lineno++;
    if (len == 0) continue; /* blank lines are skipped */
    st = check_line(g, line, len, lineno, err);
    if (st) break;
    if (!have_header) {
      int data_first = 0;
      st = parse_header(g, line, lineno, &cols, &data_first, err);
      if (st) break;
      have_header = 1;
      g->labelled = cols.label >= 0;
      if (!(f = calloc(cols.ncols, sizeof *f))) {
        st = clippo_fail(err, CLIPPO_E_NOMEM, "%s: out of host memory", g->path);
        break;
      }
      if (!data_first) continue;
      ref = strcmp(g->sp->name, "cola") ? "first line" : "CoLA format without header";
    }
    size_t nf = count_fields(line);
    if (nf != cols.ncols) {
      st = clippo_fail(err, CLIPPO_E_FORMAT, "%s:%zu: %zu columns, the %s has %zu", g->path, lineno,
                       nf, ref, cols.ncols);
      break;
    }
    split_fields(line, f);
    st = parse_row(g, &cols, f, lineno, err);
  }
  free(f);
  if (st) return st;
  if (!have_header) return clippo_fail(err, CLIPPO_E_FORMAT, "%s: empty file", g->path);
  if (!g->n)
    return clippo_fail(err, CLIPPO_E_FORMAT, "%s: no examples (only a header line)", g->path);
  return CLIPPO_OK;
}

static int strp_cmp(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* tsv without vocabulary: the classes are the distinct labels sorted by strcmp. */
static clippo_status build_vocab(glue_parse *g, clippo_error *err) {
  if (!g->labelled) return CLIPPO_OK;
  const char **u = malloc(g->n * sizeof *u);
  if (!u) return clippo_fail(err, CLIPPO_E_NOMEM, "%s: out of host memory", g->path);
  memcpy(u, g->label_text, g->n * sizeof *u);
  qsort(u, g->n, sizeof *u, strp_cmp);
  size_t k = 0;
  for (size_t i = 0; i < g->n; i++)
    if (!k || strcmp(u[k - 1], u[i])) u[k++] = u[i];
  clippo_status st = k > (size_t)INT32_MAX
                         ? clippo_fail(err, CLIPPO_E_FORMAT, "%s: too many labels", g->path)
                         : set_classes(g, u, k, err);
  free(u);
  for (size_t i = 0; !st && i < g->n; i++) {
    size_t c = 0;
    tasks_strmap_get(&g->map, g->label_text[i], &c);
    g->ex[i].label = (int)c;
  }
  return st;
}

/* Moves the example strings out of the file into one compact buffer. */
static clippo_status compact(glue_parse *g, char **buf, clippo_error *err) {
  size_t total = 1;
  for (size_t i = 0; i < g->n; i++)
    for (int k = 0; k < 2; k++)
      if (g->ex[i].text[k]) total += strlen(g->ex[i].text[k]) + 1;
  char *b = malloc(total), *p = b;
  if (!b) return clippo_fail(err, CLIPPO_E_NOMEM, "%s: out of host memory", g->path);
  for (size_t i = 0; i < g->n; i++)
    for (int k = 0; k < 2; k++)
      if (g->ex[i].text[k]) {
        size_t l = strlen(g->ex[i].text[k]) + 1;
        memcpy(p, g->ex[i].text[k], l);
        g->ex[i].text[k] = p;
        p += l;
      }
  *buf = b;
  return CLIPPO_OK;
}

static void parse_free(glue_parse *g) {
  free(g->data);
  free(g->ex);
  free(g->label_text);
  if (g->classes)
    for (size_t c = 0; c < g->nclasses; c++) free(g->classes[c]);
  free(g->classes);
  tasks_strmap_free(&g->map);
}

/* Text layouts (the layout argument) of GLUE and TSV sets; the set's layout() reports the form
 * used, defaults filled in:
 *  - "text": the sentence rendered as one text over the whole image. The only layout of the
 *    single-sentence tasks (sst2, cola, tsv) and their default.
 *  - "join:SEP": a sentence pair rendered as one text: sentence 1, the separator SEP (everything
 *    after "join:", spaces included, possibly empty), sentence 2, wrapped as any text. The
 *    default of the pair tasks (mnli, qqp, qnli, rte, mrpc, stsb) is "join: | " (SEP " | ").
 *  - "split": a sentence pair in two halves: sentence 1 rendered alone at the full image size
 *    keeps rows [0, S/2) of the image, sentence 2 rendered alone fills rows [S/2, S) with its own
 *    first rows; each is wrapped at the full width and cut at the bottom of its half.
 * join and split refuse a single-sentence task and text a pair task (CLIPPO_E_ARG naming the
 * layout). A text the renderer refuses (a glyph as wide as the image) fails when the example is
 * rendered, naming the set and the example's id.
 *
 * Files are split at TABs only (no CSV quoting: GLUE's MNLI and QQP hold quote characters as
 * text); a trailing CR and a leading UTF-8 byte order mark are dropped and blank lines skipped.
 * Header-based formats find their columns by name; rows must have as many columns as the header.
 * A file without the label column (a test split) gives label -1 (score NaN) for all examples. */
clippo_status clippo_task_open_glue(const char *task, const char *path, const char *layout,
                                    const char *const *vocab, size_t nvocab, size_t limit,
                                    clippo_task_set **out, clippo_error *err) {
  if (!out) return clippo_fail(err, CLIPPO_E_ARG, "open task: NULL output");
  *out = NULL;
  if (!task || !path) return clippo_fail(err, CLIPPO_E_ARG, "open task: NULL task or path");
  const glue_spec *sp = NULL;
  for (size_t k = 0; k < NSPECS; k++)
    if (!strcmp(task, SPECS[k].name)) sp = &SPECS[k];
  if (!sp)
    return clippo_fail(err, CLIPPO_E_ARG,
                       "unknown text task '%s' (known: sst2, cola, mnli, qqp, qnli, rte, mrpc, "
                       "stsb, tsv)",
                       task);
  char canon[TASK_LAYOUT_CAP];
  clippo_status st = resolve_layout(sp, layout, canon, err);
  if (!st) st = check_vocab(sp, vocab, nvocab, err);
  if (st) return st;
  if (strlen(path) >= TASK_PATH_CAP)
    return clippo_fail(err, CLIPPO_E_ARG, "path longer than %d bytes: %.60s...", TASK_PATH_CAP - 1,
                       path);

  glue_parse g = {.sp = sp, .path = path};
  st = tasks_read_text_file(path, GLUE_MAX_FILE_BYTES, &g.data, &g.len, err);
  if (st) {
    if (err) err->status = CLIPPO_E_IO; /* a missing file too */
    return CLIPPO_E_IO;
  }
  const int from_file = sp->kind == CLIPPO_TASK_CLASSES && !sp->nclasses && !(vocab && nvocab);
  if (sp->kind == CLIPPO_TASK_CLASSES) {
    if (sp->nclasses)
      st = set_classes(&g, sp->classes, sp->nclasses, err);
    else if (!from_file)
      st = set_classes(&g, vocab, nvocab, err);
    g.collect = from_file;
  }
  if (!st) st = parse_file(&g, limit, err);
  if (!st && from_file) st = build_vocab(&g, err);
  clippo_task_set *s = NULL;
  if (!st && !(s = task_set_new()))
    st = clippo_fail(err, CLIPPO_E_NOMEM, "%s: out of host memory", path);
  if (!st) st = compact(&g, &s->buf, err);
  if (st) {
    clippo_task_set_free(s);
    parse_free(&g);
    return st;
  }
  snprintf(s->task, sizeof s->task, "%s%s", strcmp(sp->name, "tsv") ? "glue:" : "", sp->name);
  memcpy(s->layout, canon, sizeof canon);
  snprintf(s->path, sizeof s->path, "%s", path);
  if (g.labelled) snprintf(s->labels_path, sizeof s->labels_path, "%s", path);
  snprintf(s->describe, sizeof s->describe, "%s %.1000s (%zu example%s)", s->task, base_name(path),
           g.n, g.n == 1 ? "" : "s");
  s->kind = sp->kind;
  s->classes = g.classes;
  s->nclasses = g.nclasses;
  g.classes = NULL;
  s->ex = g.ex;
  s->n = g.n;
  g.ex = NULL;
  for (size_t k = 0; k < TASK_MAX_METRICS && sp->metrics[k]; k++)
    s->metrics[s->nmetrics++] = sp->metrics[k];
  s->positive = sp->positive;
  s->input = glue_input;
  parse_free(&g);
  *out = s;
  return CLIPPO_OK;
}
