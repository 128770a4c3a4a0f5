/* Typographic attacks (the robustness analysis of the CLIPPO paper, after CLIP's): a misleading
 * word, rendered with the project's renderer (big_vision's render_unifont), is written onto each
 * test image, and zero-shot accuracy is compared with and without it.
 *
 * The word is drawn on the image after it is resized to the model's input size (so its glyph
 * pixels stay sharp) and before the value range is applied: decode | resize | WORD | [-1, 1]. */
#ifndef CLIPPO_TYPOGRAPHIC_H
#define CLIPPO_TYPOGRAPHIC_H

#include <stddef.h>
#include <stdint.h>

#include "clippo/idx.h"
#include "clippo/image.h"
#include "clippo/status.h"
#include "clippo/tasks.h"
#include "clippo/text.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Where the label goes when no explicit corner is given: horizontally centred, vertically at
 * the top, the centre or the bottom of the image. */
typedef enum clippo_typo_anchor {
  CLIPPO_TYPO_TOP = 0,
  CLIPPO_TYPO_CENTER,
  CLIPPO_TYPO_BOTTOM
} clippo_typo_anchor;

/** How the word is drawn. */
typedef struct clippo_typo_opts {
  int scale;                 /* integer magnification of the 16-pixel glyph cells (1) */
  clippo_typo_anchor anchor; /* used when x < 0 (CLIPPO_TYPO_BOTTOM) */
  int x, y;                  /* top-left corner of the label in pixels, or x = -1 (-1) */
  uint8_t ink[3];            /* text colour (0, 0, 0: black) */
  int box;                   /* nonzero: a filled rectangle behind the text (1) */
  uint8_t fill[3];           /* its colour (255, 255, 255: white) */
} clippo_typo_opts;

/** Fills o with the defaults: black text on a white label at the bottom centre, scale 1. */
void clippo_typo_opts_default(clippo_typo_opts *o);

/** Parses a colour: "R,G,B" (0..255 each), "#RRGGBB", or black, white, gray, red, green, blue,
 * yellow. CLIPPO_E_ARG naming the text otherwise. */
clippo_status clippo_typo_parse_color(const char *s, uint8_t rgb[3], clippo_error *err);

/** Parses a position into o: top, center (or centre), bottom, or "X,Y" (the label's top-left
 * corner in pixels of the model-size image, X and Y >= 0). */
clippo_status clippo_typo_parse_position(const char *s, clippo_typo_opts *o, clippo_error *err);

/** A rendered label: w x h cells, each 0 (untouched), 1 (label background) or 2 (ink). */
typedef struct clippo_typo_stamp {
  int w, h;
  uint8_t *mask;
} clippo_typo_stamp;

/** Renders word for images of image_size pixels: render_unifont at image_size / scale (CLIPPO's
 * settings: lowercase, trimmed glyphs, lines wrapped as big_vision wraps them, lines beyond the
 * image dropped), cropped to the ink plus a 1-pixel margin, magnified scale times. A word that
 * draws no ink, or a scale leaving less than a glyph's width, is CLIPPO_E_ARG naming the word. */
clippo_status clippo_typo_stamp_make(const clippo_font *font, const char *word, int image_size,
                                     int scale, clippo_typo_stamp *out, clippo_error *err);

/** Draws the stamp onto img (RGB) at the position o gives, clipped to the image. */
void clippo_typo_stamp_apply(const clippo_typo_stamp *s, const clippo_typo_opts *o,
                             clippo_image *img);

/** Frees the stamp and zeroes it. */
void clippo_typo_stamp_free(clippo_typo_stamp *s);

/** An attack: one word for every image, or for each class the word written onto its images
 * (e.g. the name of another class). */
typedef struct clippo_typo_attack {
  clippo_typo_opts opts;
  size_t nstamps;            /* 1 (one word) or the number of classes */
  clippo_typo_stamp *stamps; /* nstamps labels */
  size_t *target;            /* per stamp: the class its word names, or (size_t)-1 */
} clippo_typo_attack;

/** Prepares an attack with one word for all images. target is the class the word names (for
 * the attack-success rate), or (size_t)-1. */
clippo_status clippo_typo_attack_word(const clippo_font *font, const char *word, size_t target,
                                      int image_size, const clippo_typo_opts *o,
                                      clippo_typo_attack *out, clippo_error *err);

/** Prepares the class attack: the images of class c carry the name of class (c + 1) mod count
 * (names as given, e.g. the labels of a clippo_classes). Needs at least two classes. */
clippo_status clippo_typo_attack_classes(const clippo_font *font, const char *const *names,
                                         size_t count, int image_size, const clippo_typo_opts *o,
                                         clippo_typo_attack *out, clippo_error *err);

/** Frees the attack and zeroes it. */
void clippo_typo_attack_free(clippo_typo_attack *a);

/** The stamp used for an image of class label (stamp 0 for a one-word attack). */
const clippo_typo_stamp *clippo_typo_attack_stamp(const clippo_typo_attack *a, size_t label);

/** decode | resize | attack | value_range for n gray (channels 1) or RGB uint8 images w x h with
 * labels (used to choose the stamp); a NULL attack leaves the images clean (then this is
 * clippo_pixels_to_inputs). Writes n * size * size * 3 floats. */
clippo_status clippo_typo_pixels_to_inputs(const clippo_typo_attack *a, const uint8_t *pixels,
                                           const size_t *labels, size_t n, int w, int h,
                                           int channels, int size, float *dst, clippo_error *err);

/** The same for an image file (errors name the file). */
clippo_status clippo_typo_file_to_input(const clippo_typo_attack *a, const char *path, size_t label,
                                        int size, float *dst, clippo_error *err);

/** Counts of a typographic evaluation. */
typedef struct clippo_typo_counts {
  size_t n;             /* images */
  size_t clean_top1;    /* correct without the word */
  size_t clean_named;   /* without the word, predicted as the class the word names */
  size_t attack_top1;   /* correct with the word */
  size_t attack_named;  /* with the word, predicted as the class the word names */
  size_t control_top1;  /* correct with an empty label of the same size (when run) */
  size_t control_named; /* with an empty label, predicted as the class the word would name */
} clippo_typo_counts;

/** Progress callback: done of total images embedded so far (all passes together). */
typedef void (*clippo_typo_progress_fn)(void *user, size_t done, size_t total);

/** One data set for clippo_typographic_eval: n images, either IDX pixels (gray (N, H, W) or RGB
 * (N, H, W, 3)) or files, and their labels. */
typedef struct clippo_typo_data {
  size_t n;
  const size_t *labels;
  const clippo_idx *pixels; /* or NULL, then: */
  const char *const *files;
} clippo_typo_data;

/** Image i of the data as the model sees it, before the value range: decoded, resized to size x
 * size and, when a is not NULL, with its label drawn (RGB, 8 bits). Errors name the file. */
clippo_status clippo_typo_image(const clippo_typo_attack *a, const clippo_typo_data *d, size_t i,
                                int size, clippo_image *out, clippo_error *err);

/** Zero-shot top-1 of the classifier on the data clean and attacked (and, with control, with
 * blank labels of the same size: how much is occlusion alone). Embeds every image twice (three
 * times with control) in chunks; progress may be NULL. */
clippo_status clippo_typographic_eval(clippo_task_model *tm, const clippo_classifier *clf,
                                      const clippo_typo_data *data, const clippo_typo_attack *a,
                                      int control, clippo_typo_progress_fn progress, void *user,
                                      clippo_typo_counts *out, clippo_error *err);

#ifdef __cplusplus
}
#endif
#endif
