/* The typographic attack of `clippo eval`: options, the run, the report. */
#include "cli_typographic.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "cli_progress.h"
#include "clippo/image_write.h"
#include "clippo/typographic.h"

void cli_typo_usage(FILE *out) {
  fprintf(out,
          "Typographic attack (IDX, Fashion-MNIST or --folder data):\n"
          "  --typographic WORD  write WORD onto every test image and report the zero-shot\n"
          "                      accuracy with and without it\n"
          "  --typographic-classes  write on each image the name of another class (class c\n"
          "                      gets the name of class c+1, the last the first's)\n"
          "  --typo-position P   top, center, bottom (default; centred horizontally) or X,Y\n"
          "                      (top-left corner, pixels of the model-size image)\n"
          "  --typo-scale K      glyph magnification: K x 16-pixel cells (default 1)\n"
          "  --typo-color C      text colour: R,G,B, #RRGGBB or black, white, gray, red, green,\n"
          "                      blue, yellow (default black)\n"
          "  --typo-background C label background colour, or none (default white)\n"
          "  --typo-control      also run a blank label of the same size (occlusion alone)\n"
          "  --typo-examples DIR write the first 8 labelled images there as PNG (model size)\n"
          "The word is rendered as CLIPPO renders text (Unifont, lowercase) onto the image\n"
          "after it is resized to the model's size.\n");
}

int cli_typo_active(const cli_typo_args *t) { return t->word != NULL || t->classes; }

/* Builds the drawing options from the arguments. */
static clippo_status typo_opts(const cli_typo_args *t, clippo_typo_opts *o, clippo_error *err) {
  clippo_typo_opts_default(o);
  if (t->scale) o->scale = (int)t->scale;
  clippo_status st = CLIPPO_OK;
  if (t->position) st = clippo_typo_parse_position(t->position, o, err);
  if (!st && t->color) st = clippo_typo_parse_color(t->color, o->ink, err);
  if (!st && t->background) {
    if (!strcmp(t->background, "none"))
      o->box = 0;
    else
      st = clippo_typo_parse_color(t->background, o->fill, err);
  }
  return st;
}

int cli_typo_check(const char *cmd, const cli_typo_args *t) {
  if (t->word && t->classes)
    return cli_usage_error(cmd, "give at most one of --typographic and --typographic-classes");
  if (t->word && !*t->word) return cli_usage_error(cmd, "--typographic: empty word");
  if (!cli_typo_active(t) &&
      (t->position || t->color || t->background || t->scale || t->control || t->examples))
    return cli_usage_error(cmd, "--typo-* options need --typographic or --typographic-classes");
  clippo_typo_opts o;
  clippo_error err;
  if (typo_opts(t, &o, &err)) return cli_usage_error(cmd, "%s", err.msg);
  return 0;
}

/* The class a word names: equal to a class label (ignoring case) or to its canonical prompt
 * name once canonicalised; (size_t)-1 when none. */
static size_t word_target(const char *word, const clippo_classes *cls) {
  char *canon = clippo_canonicalize(word, strlen(word), ",");
  size_t hit = (size_t)-1;
  for (size_t c = 0; c < cls->count && hit == (size_t)-1; c++) {
    size_t n = strlen(word);
    int same = strlen(cls->labels[c]) == n;
    for (size_t i = 0; same && i < n; i++) same = (word[i] | 0x20) == (cls->labels[c][i] | 0x20);
    if (same || (canon && !strcmp(canon, cls->prompt_names[c]))) hit = c;
  }
  free(canon);
  return hit;
}

typedef struct typo_progress {
  cli_progress p;
} typo_progress;

static void on_progress(void *user, size_t done, size_t total) {
  (void)total;
  cli_progress_update(&((typo_progress *)user)->p, done);
}

static double frac(size_t a, size_t n) { return n ? (double)a / (double)n : 0.0; }

static void rgb_str(const uint8_t c[3], char *buf, size_t cap) {
  snprintf(buf, cap, "%u,%u,%u", c[0], c[1], c[2]);
}

/* Describes the attack in words. */
static void describe(const cli_typo_args *t, const clippo_typo_opts *o, const clippo_classes *cls,
                     char *buf, size_t cap) {
  char ink[16], fill[16], pos[32];
  rgb_str(o->ink, ink, sizeof ink);
  rgb_str(o->fill, fill, sizeof fill);
  if (o->x >= 0)
    snprintf(pos, sizeof pos, "at %d,%d", o->x, o->y);
  else
    snprintf(pos, sizeof pos, "%s",
             o->anchor == CLIPPO_TYPO_TOP      ? "top"
             : o->anchor == CLIPPO_TYPO_CENTER ? "center"
                                               : "bottom");
  int n = t->classes ? snprintf(buf, cap, "the next class's name ('%s' on %s images, ...)",
                                cls->labels[1 % cls->count], cls->labels[0])
                     : snprintf(buf, cap, "'%s'", t->word);
  if (n < 0 || (size_t)n >= cap) return;
  snprintf(buf + n, cap - (size_t)n, ", colour %s on %s, %s, scale %d", ink,
           o->box ? fill : "no background", pos, o->scale);
}

static int print_json(const cli_typo_args *t, const clippo_typo_opts *o,
                      const clippo_typo_counts *k, size_t target, const clippo_classes *cls,
                      const char *dataset, const char *model, const char *templates) {
  cJSON *obj = cJSON_CreateObject();
  int ok = obj && cJSON_AddStringToObject(obj, "task", "typographic") &&
           cJSON_AddStringToObject(obj, "dataset", dataset) &&
           cJSON_AddStringToObject(obj, "model", model) &&
           cJSON_AddStringToObject(obj, "templates", templates) &&
           cJSON_AddNumberToObject(obj, "images", (double)k->n) &&
           cJSON_AddNumberToObject(obj, "classes", (double)cls->count) &&
           cJSON_AddStringToObject(obj, "attack", t->classes ? "next_class_name" : "word");
  if (ok && t->word) ok = cJSON_AddStringToObject(obj, "word", t->word) != NULL;
  if (ok && t->word && target != (size_t)-1)
    ok = cJSON_AddStringToObject(obj, "word_class", cls->labels[target]) != NULL;
  char ink[16], fill[16];
  rgb_str(o->ink, ink, sizeof ink);
  rgb_str(o->fill, fill, sizeof fill);
  ok = ok && cJSON_AddStringToObject(obj, "color", ink) &&
       cJSON_AddStringToObject(obj, "background", o->box ? fill : "none") &&
       cJSON_AddNumberToObject(obj, "scale", o->scale);
  if (ok && o->x >= 0) {
    char pos[32];
    snprintf(pos, sizeof pos, "%d,%d", o->x, o->y);
    ok = cJSON_AddStringToObject(obj, "position", pos) != NULL;
  } else if (ok) {
    ok = cJSON_AddStringToObject(obj, "position",
                                 o->anchor == CLIPPO_TYPO_TOP      ? "top"
                                 : o->anchor == CLIPPO_TYPO_CENTER ? "center"
                                                                   : "bottom") != NULL;
  }
  int named = t->classes || target != (size_t)-1;
  ok = ok && cJSON_AddNumberToObject(obj, "clean_top1", frac(k->clean_top1, k->n)) &&
       cJSON_AddNumberToObject(obj, "attack_top1", frac(k->attack_top1, k->n)) &&
       cJSON_AddNumberToObject(obj, "drop", frac(k->clean_top1, k->n) - frac(k->attack_top1, k->n));
  if (ok && named)
    ok = cJSON_AddNumberToObject(obj, "clean_predicts_word", frac(k->clean_named, k->n)) &&
         cJSON_AddNumberToObject(obj, "attack_predicts_word", frac(k->attack_named, k->n));
  if (ok && t->control)
    ok = cJSON_AddNumberToObject(obj, "control_top1", frac(k->control_top1, k->n)) &&
         (!named ||
          cJSON_AddNumberToObject(obj, "control_predicts_word", frac(k->control_named, k->n)));
  char *s = ok ? cJSON_PrintUnformatted(obj) : NULL;
  if (s) printf("%s\n", s);
  free(s);
  cJSON_Delete(obj);
  return s ? 0 : -1;
}

static void print_table(const cli_typo_args *t, const clippo_typo_opts *o,
                        const clippo_typo_counts *k, size_t target, const clippo_classes *cls,
                        const char *dataset, const char *model, const char *templates) {
  char what[512];
  describe(t, o, cls, what, sizeof what);
  int named = t->classes || target != (size_t)-1;
  printf("Typographic attack: %s\n", dataset);
  printf("  model %s, %zu classes, templates %s, %zu images\n", model, cls->count, templates, k->n);
  printf("  label: %s\n", what);
  if (t->word && named) printf("  the word names class '%s'\n", cls->labels[target]);
  printf("\n  %-24s %9s", "", "top-1");
  if (named) printf("  %s", "predicted the written class");
  printf("\n  %-24s %8.2f%%", "clean", 100.0 * frac(k->clean_top1, k->n));
  if (named) printf("  %8.2f%%", 100.0 * frac(k->clean_named, k->n));
  printf("\n  %-24s %8.2f%%", "with the label", 100.0 * frac(k->attack_top1, k->n));
  if (named) printf("  %8.2f%%", 100.0 * frac(k->attack_named, k->n));
  if (t->control) {
    printf("\n  %-24s %8.2f%%", "blank label (control)", 100.0 * frac(k->control_top1, k->n));
    if (named) printf("  %8.2f%%", 100.0 * frac(k->control_named, k->n));
  }
  printf("\n\n  accuracy drop %.2f points (%zu -> %zu of %zu)\n",
         100.0 * (frac(k->clean_top1, k->n) - frac(k->attack_top1, k->n)), k->clean_top1,
         k->attack_top1, k->n);
}

/* Number of labelled images --typo-examples writes. */
#define EXAMPLES 8

/* Writes the first labelled images as DIR/typographic-NNN.png. */
static clippo_status write_examples(const char *dir, const clippo_typo_attack *a,
                                    const clippo_typo_data *d, int size, clippo_error *err) {
  clippo_status st = CLIPPO_OK;
  for (size_t i = 0; !st && i < d->n && i < EXAMPLES; i++) {
    clippo_image img;
    char path[4200];
    snprintf(path, sizeof path, "%s/typographic-%03zu.png", dir, i);
    st = clippo_typo_image(a, d, i, size, &img, err);
    if (!st) st = clippo_png_write(path, img.data, img.width, img.height, 3, err);
    clippo_image_free(&img);
  }
  return st;
}

int cli_typo_run(const char *cmd, const cli_typo_args *t, clippo_task_model *tm,
                 const clippo_classifier *clf, const clippo_classes *cls, const clippo_idx *images,
                 const clippo_idx *labels, const clippo_path_list *files, const size_t *file_labels,
                 const char *dataset, const char *model, const char *templates, int json,
                 int quiet) {
  clippo_error err;
  clippo_error_clear(&err);
  clippo_typo_opts o;
  clippo_typo_attack atk = {0};
  size_t *lab = NULL, target = (size_t)-1;
  clippo_typo_data data = {0};
  clippo_status st = typo_opts(t, &o, &err);
  if (!st && t->classes)
    st = clippo_typo_attack_classes(tm->font, (const char *const *)cls->labels, cls->count,
                                    tm->image_size, &o, &atk, &err);
  else if (!st) {
    target = word_target(t->word, cls);
    st = clippo_typo_attack_word(tm->font, t->word, target, tm->image_size, &o, &atk, &err);
  }
  if (!st && images) {
    data.n = (size_t)labels->dims[0];
    lab = malloc((data.n ? data.n : 1) * sizeof *lab);
    if (!lab) st = clippo_fail(&err, CLIPPO_E_NOMEM, "out of host memory");
    for (size_t i = 0; !st && i < data.n; i++) lab[i] = labels->data[i];
    data.labels = lab;
    data.pixels = images;
  } else if (!st) {
    data.n = files->count;
    data.labels = file_labels;
    data.files = (const char *const *)files->items;
  }
  if (!st && t->examples) st = write_examples(t->examples, &atk, &data, tm->image_size, &err);
  clippo_typo_counts k;
  if (!st) {
    typo_progress pr;
    cli_progress_start(&pr.p, cmd, "images", (t->control ? 3 : 2) * data.n, quiet);
    st = clippo_typographic_eval(tm, clf, &data, &atk, t->control, on_progress, &pr, &k, &err);
    cli_progress_finish(&pr.p);
  }
  if (!st && json) {
    if (print_json(t, &o, &k, target, cls, dataset, model, templates))
      st = clippo_fail(&err, CLIPPO_E_NOMEM, "out of memory writing JSON");
  } else if (!st) {
    print_table(t, &o, &k, target, cls, dataset, model, templates);
  }
  free(lab);
  clippo_typo_attack_free(&atk);
  return st ? cli_report(cmd, &err) : 0;
}
