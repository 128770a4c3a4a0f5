/* Training (REFERENCE.md §6): big_vision's optimizer chain and schedules, the data pipeline
 * (Fashion-MNIST with multilingual captions, image-caption TSV, one fixed batch) and the training
 * loop with checkpoints that resume bit for bit. The contrastive loss is an op (clippo/ops.h,
 * kernels/loss.cl, host/ops/loss.c, reference in clippo/ref.h).
 *
 * Device code: kernels/optimizer.cl (host/train/optimizer.c); plain C reference in
 * host/ops/ref/optimizer_ref.c (Adafactor). */
#ifndef CLIPPO_TRAIN_H
#define CLIPPO_TRAIN_H

#include <stddef.h>
#include <stdint.h>

#include "clippo/dist.h"
#include "clippo/ops.h"
#include "clippo/params.h"
#include "clippo/runtime.h"
#include "clippo/text.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ==== schedules ============================================================================= */

/** big_vision's decay types (utils.create_learning_rate_schedule) plus a constant one. */
typedef enum clippo_sched_kind {
  CLIPPO_SCHED_CONSTANT = 0,
  CLIPPO_SCHED_RSQRT,
  CLIPPO_SCHED_COSINE,
  CLIPPO_SCHED_LINEAR
} clippo_sched_kind;

/** A learning-rate multiplier schedule (base 1; the optimizer multiplies by lr separately). */
typedef struct clippo_schedule {
  clippo_sched_kind kind;
  int64_t total_steps;    /* total steps of the run (cosine, linear, cooldown) */
  int64_t warmup_steps;   /* linear warmup from 0: x min(1, step / warmup) */
  int64_t cooldown_steps; /* linear cooldown to 0: x min(1, (total - step) / cooldown) */
  double timescale;       /* rsqrt: 1 / sqrt(1 + (step + shift - warmup) / timescale) */
  double shift;           /* rsqrt */
  double linear_end;      /* linear: value reached at total_steps */
} clippo_schedule;

/** "constant", "rsqrt", "cosine", "linear". */
const char *clippo_sched_name(clippo_sched_kind k);

/** Parses a schedule name (the above; "none" = constant). */
clippo_status clippo_sched_parse(const char *name, clippo_sched_kind *out, clippo_error *err);

/** Checks a schedule (non-negative counts, warmup < total unless total <= 1, timescale > 0). */
clippo_status clippo_schedule_check(const clippo_schedule *s, clippo_error *err);

/** Fits warmup and cooldown into the run: when warmup + cooldown exceeds total_steps (the
 * multiplier would never reach 1), each one longer than a tenth of the run is cut to a tenth
 * (as the defaults are). Returns a bit set: 1 when the warmup was cut, 2 the cooldown. */
int clippo_schedule_fit(clippo_schedule *s);

/** The multiplier at step (0 = the first update), as big_vision computes it. */
double clippo_schedule_value(const clippo_schedule *s, int64_t step);

/* ==== optimizers (kernels/optimizer.cl, host/train/optimizer.c) ============================= */

/** Gradient transformations (big_vision `optax_name`). */
typedef enum clippo_opt_kind {
  CLIPPO_OPT_SGD = 0,  /* identity (big_vision.sgd) */
  CLIPPO_OPT_ADAMW,    /* optax.scale_by_adam; weight decay decoupled as below */
  CLIPPO_OPT_ADAFACTOR /* big_vision.scale_by_adafactor */
} clippo_opt_kind;

/** "sgd", "adamw", "adafactor". */
const char *clippo_opt_name(clippo_opt_kind k);

/** Parses an optimizer name (the above; "adam" = adamw). */
clippo_status clippo_opt_parse(const char *name, clippo_opt_kind *out, clippo_error *err);

/** The whole chain, as big_vision's optax.make builds it:
 * clip_by_global_norm(clip_norm) -> transformation -> x lr -> + weight_decay * param (only for
 * parameters whose name ends in "/kernel") -> x schedule(step) -> x -1, so that
 * p -= sched * (lr * u + wd * p). */
typedef struct clippo_opt_config {
  clippo_opt_kind kind;
  float lr;
  float weight_decay;
  float clip_norm; /* 0: no clipping */
  clippo_schedule schedule;
  /* adafactor (big_vision defaults) */
  int min_dim_size_to_factor; /* 32 */
  float decay_rate;           /* 0.8: decay_t = min(beta2_cap, 1 - (count + 1)^-decay_rate) */
  float beta2_cap;            /* 0.999 */
  float eps;                  /* 1e-30, added to g^2 */
  double momentum;            /* 0.9: EMA without debias, stored in bfloat16; 0 = none */
  /* adamw (optax defaults) */
  double b1, b2;  /* 0.9, 0.999 */
  float adam_eps; /* 1e-8 */
} clippo_opt_config;

/** Fills *c with big_vision's CLIPPO settings for kind: lr 1e-3, wd 1e-4, clip 1.0, rsqrt
 * schedule (timescale 10k, warmup 10k, cooldown 10k); for sgd a constant schedule, no clip. */
void clippo_opt_config_default(clippo_opt_config *c, clippo_opt_kind kind);

/** Checks an optimizer config. */
clippo_status clippo_opt_config_check(const clippo_opt_config *c, clippo_error *err);

/** optax's _factored_dims: for an array of ndim >= 2 whose second largest dimension is at least
 * min_dim, sets *d1 (second largest) and *d0 (largest) (ties: the later axis is d0, as a stable
 * argsort gives) and returns 1; else returns 0. */
int clippo_adafactor_factored_dims(int ndim, const int64_t *shape, int min_dim, int *d1, int *d0);

/** What one optimizer step did. */
typedef struct clippo_opt_stats {
  int64_t step;     /* the count used by this update (0 for the first) */
  double grad_norm; /* global L2 norm of the gradients before clipping */
  double sched;     /* schedule multiplier */
  double lr;        /* lr * sched */
  int clipped;      /* 1 if the gradients were scaled down */
} clippo_opt_stats;

/** An optimizer for a fixed list of device parameters (opaque). */
typedef struct clippo_optimizer clippo_optimizer;

/** Creates the optimizer and its zeroed state on rt's device for n parameters (names: big_vision
 * paths, shapes taken from params[i]; float32). */
clippo_status clippo_optimizer_create(clippo_rt *rt, const clippo_opt_config *cfg, size_t n,
                                      const char *const *names, clippo_tensor *const *params,
                                      clippo_optimizer **out, clippo_error *err);

/** Frees the optimizer and its device state; NULL is fine. */
void clippo_optimizer_free(clippo_optimizer *o);

/** The number of updates done so far (the schedule's step of the next update). */
int64_t clippo_optimizer_count(const clippo_optimizer *o);

/** Global L2 norm of n device float32 tensors (partial sums on the device, the rest in double on
 * the host). Blocks. */
clippo_status clippo_global_norm(clippo_rt *rt, clippo_tensor *const *x, size_t n, double *norm,
                                 clippo_error *err);

/** One update of params (the tensors given at creation, in the same order) from grads. Fails
 * with CLIPPO_E_NUMERIC, leaving params and state untouched, when the gradient norm is not
 * finite. stats may be NULL. The grads are not modified. */
clippo_status clippo_optimizer_step(clippo_optimizer *o, clippo_tensor *const *params,
                                    clippo_tensor *const *grads, clippo_opt_stats *stats,
                                    clippo_error *err);

/** Adds the state to *out as named host arrays (names without a leading "opt/"):
 * "count" (int64, shape (1)); adafactor: "adafactor/v_row/<p>", "adafactor/v_col/<p>" (factored
 * params: the second moments with the largest / second largest axis removed),
 * "adafactor/v/<p>" (other params), "adafactor/m/<p>" (bfloat16 momentum); adamw: "adam/mu/<p>",
 * "adam/nu/<p>". */
clippo_status clippo_optimizer_export(clippo_optimizer *o, clippo_params *out, clippo_error *err);

/** Restores the state from arrays named as by clippo_optimizer_export (other names are
 * ignored); every array the optimizer needs must be present with the right shape and dtype. */
clippo_status clippo_optimizer_import(clippo_optimizer *o, const clippo_params *in,
                                      clippo_error *err);

/** Float32 host reference of one Adafactor clippo_optimizer_step on host arrays (same arithmetic
 * order; checked against big_vision itself by tests/test_bigvision_adafactor.c), for the tests.
 * cfg->kind must be CLIPPO_OPT_ADAFACTOR (else CLIPPO_E_UNSUPPORTED). params[i] (float32) are
 * updated in place; grads[i] float32 of the same shapes; state holds named arrays as
 * clippo_optimizer_export writes them (missing ones are created zeroed; "count" is read and
 * incremented). stats may be NULL. */
clippo_status clippo_ref_adafactor_step(const clippo_opt_config *cfg, size_t n,
                                        const char *const *names, clippo_array *params,
                                        const clippo_array *grads, clippo_params *state,
                                        clippo_opt_stats *stats, clippo_error *err);

/* ==== data (host/train/data.c) ============================================================== */

/** Caption templates and class names in several languages (configs/fmnist_captions.json). */
typedef struct clippo_captions {
  size_t nlangs;
  size_t nclasses;
  char **langs;       /* nlangs language codes */
  char ***classes;    /* [lang][class] */
  size_t *ntemplates; /* per language */
  char ***templates;  /* [lang][k], each with exactly one "{}" */
} clippo_captions;

/** Loads a caption file: {"languages": {"<code>": {"classes": [...], "templates": ["... {}
 * ..."]}, ...}}; every language must list the same number of classes and every template hold
 * exactly one "{}". */
clippo_status clippo_captions_load(const char *path, clippo_captions *c, clippo_error *err);

/** Frees and zeroes c. */
void clippo_captions_free(clippo_captions *c);

/** Writes template k of language lang with class label into buf[cap]. */
clippo_status clippo_captions_format(const clippo_captions *c, size_t lang, size_t k, int label,
                                     char *buf, size_t cap, clippo_error *err);

/** The caption of an example of class label for a random draw r: the (language, template) pair
 * is uniform over all pairs of all languages. */
clippo_status clippo_captions_draw(const clippo_captions *c, int label, uint64_t r, char *buf,
                                   size_t cap, clippo_error *err);

/** A training set of (image, caption) examples (opaque). */
typedef struct clippo_dataset clippo_dataset;

/** Where Debian's fashion-mnist data package puts the IDX files. */
#define CLIPPO_FMNIST_DIR "/usr/share/datasets/fashion-mnist"

/** Fashion-MNIST from dir (train-images-idx3-ubyte.gz... for split "train", t10k-... for
 * "test"), captions drawn from the caption file per (seed, epoch, example); limit > 0 keeps the
 * first limit examples. Images: 28x28 gray replicated to RGB, bilinear resize, [-1, 1]. */
clippo_status clippo_dataset_open_fmnist(const char *dir, const char *split,
                                         const char *captions_path, size_t limit,
                                         clippo_dataset **out, clippo_error *err);

/** An image-caption TSV: lines "PATH<TAB>CAPTION" (PATH relative to the TSV's folder unless
 * absolute; blank lines and lines starting with '#' skipped). Images are read when used
 * (PNG/JPEG, big_vision preprocessing). */
clippo_status clippo_dataset_open_tsv(const char *path, size_t limit, clippo_dataset **out,
                                      clippo_error *err);

/** One fixed set: images (N, S, S, 3) .npy, float32 in [-1, 1] (as the model sees them) or
 * uint8 (then value_range(-1, 1)); texts one caption per line (N lines; '\r' stripped). */
clippo_status clippo_dataset_open_arrays(const char *images_npy, const char *texts_path,
                                         clippo_dataset **out, clippo_error *err);

/** Frees the dataset; NULL is fine. */
void clippo_dataset_free(clippo_dataset *d);

/** Number of examples. */
size_t clippo_dataset_size(const clippo_dataset *d);

/** Number of classes (Fashion-MNIST: 10), 0 for unlabelled sets. */
size_t clippo_dataset_num_classes(const clippo_dataset *d);

/** Class of example i, -1 for unlabelled sets. */
int clippo_dataset_label(const clippo_dataset *d, size_t i);

/** A short description ("fashion-mnist train (60000 examples)"). */
const char *clippo_dataset_describe(const clippo_dataset *d);

/** Image of example i as (size, size, 3) float32 in [-1, 1]; arrays sets need their own size. */
clippo_status clippo_dataset_image(const clippo_dataset *d, size_t i, int size, float *dst,
                                   clippo_error *err);

/** Caption of example i for (seed, epoch) into buf[cap] (fixed captions ignore seed and
 * epoch). */
clippo_status clippo_dataset_caption(const clippo_dataset *d, size_t i, uint64_t seed,
                                     uint64_t epoch, char *buf, size_t cap, clippo_error *err);

/** splitmix64 step: the engine's deterministic pseudo-random numbers for data. */
uint64_t clippo_splitmix64(uint64_t *state);

/** Hash of (seed, a, b) into a well-mixed 64-bit value. */
uint64_t clippo_hash3(uint64_t seed, uint64_t a, uint64_t b);

/** Order in which examples are visited: epoch after epoch, each a permutation drawn from
 * (seed, epoch) (identity without shuffle); "balanced" interleaves the classes so that every
 * run of num_classes consecutive items holds each class once while they last. The whole state
 * is (seed, epoch, pos): resuming from those gives the same order. */
typedef struct clippo_sampler {
  size_t n;
  uint64_t seed;
  int shuffle;
  int balanced;
  uint64_t epoch;    /* current epoch */
  uint64_t pos;      /* next position in the epoch's order */
  size_t *order;     /* the epoch's order */
  const int *labels; /* borrowed, for balanced */
  size_t nclasses;
} clippo_sampler;

/** Sets up a sampler over the n examples of d. */
clippo_status clippo_sampler_init(clippo_sampler *s, const clippo_dataset *d, uint64_t seed,
                                  int shuffle, int balanced, clippo_error *err);

/** Moves to (epoch, pos) (pos <= n; n means the epoch is used up). */
clippo_status clippo_sampler_seek(clippo_sampler *s, uint64_t epoch, uint64_t pos,
                                  clippo_error *err);

/** The next example; *epoch gets its epoch (may be NULL). Rolls into the next epoch. */
size_t clippo_sampler_next(clippo_sampler *s, uint64_t *epoch);

/** Frees the sampler's order. */
void clippo_sampler_free(clippo_sampler *s);

/** Fills inputs (2b, S, S, 3) float32: the images of the next b examples, then their captions
 * rendered with font (big_vision's render_unifont settings at size S). captions (may be NULL)
 * receives b malloc'ed caption strings (free them). */
clippo_status clippo_batch_fill(const clippo_dataset *d, clippo_sampler *s, const clippo_font *font,
                                int image_size, size_t b, float *inputs, char **captions,
                                clippo_error *err);

/* ---- text/text co-training (CLIPPO, Tschannen et al. 2023, sec. 3.3 and 4.3) ----------------
 * A fraction of every batch is pairs of texts instead of image-caption pairs: both texts are
 * rendered and embedded by the same tower and take part in the same contrastive loss over the
 * whole batch (the paper mixes consecutive C4 sentences into 25-100 % of the batch). */

/** The built-in text-pair set: "fmnist-captions" or "fmnist-captions:LANG,LANG,..." names the
 * caption templates of the run's caption file (clippo_dataset_open_caption_pairs). */
#define CLIPPO_TEXT_PAIRS_BUILTIN "fmnist-captions"

/** 1 when spec names the built-in set; then langs[cap] gets its languages ("en,de,zh" unless
 * given after a ':'). */
int clippo_text_pairs_builtin(const char *spec, char *langs, size_t cap);

/** A text-pair TSV: lines "TEXT<TAB>TEXT" in UTF-8 (a byte order mark, blank lines, '\r' before
 * the newline and lines starting with '#' without a TAB are skipped); limit > 0 keeps the first
 * limit pairs. A line with one column or more than two, an empty text, invalid UTF-8 or a NUL
 * byte, and a file without a pair (empty), are CLIPPO_E_FORMAT naming the file and the line. The
 * set has no images (clippo_dataset_image fails); clippo_dataset_caption gives the second
 * text, clippo_dataset_text_pair either. */
clippo_status clippo_dataset_open_text_pairs(const char *path, size_t limit, clippo_dataset **out,
                                             clippo_error *err);

/** The text pairs of a caption file (clippo_captions_load): the same class described in two
 * languages. langs: comma-separated language codes of the file, at least two ("" or NULL:
 * "en,de,zh"). For every two languages (i < j in the given order), every class, every template
 * of language i and every template of language j (in this nesting): the pair (caption i,
 * caption j). configs/fmnist_captions.json gives 3 x 10 x 18 x 18 = 9720 pairs;
 * scripts/fmnist_text_pairs.sh writes the same pairs as a TSV. */
clippo_status clippo_dataset_open_caption_pairs(const char *captions_path, const char *langs,
                                                clippo_dataset **out, clippo_error *err);

/** 1 for a set of text pairs. */
int clippo_dataset_is_text_pairs(const clippo_dataset *d);

/** Text side (0: first, 1: second) of pair i of a text-pair set; NULL otherwise. */
const char *clippo_dataset_text_pair(const clippo_dataset *d, size_t i, int side);

/** The text/text pairs of a batch of `batch` pairs: round(fraction * batch) (half away from
 * zero; 0 for fraction <= 0, all for fraction >= 1). */
size_t clippo_mix_text_count(size_t batch, double fraction);

/** How many of the first j pairs of a batch with `text` text/text pairs are text/text:
 * floor(j * text / batch). The text/text pairs are spread evenly over the batch (so that every
 * share of a data-parallel batch and every micro-batch holds its part). */
size_t clippo_mix_text_before(size_t batch, size_t text, size_t j);

/** 1 when pair j of such a batch is a text/text pair (clippo_mix_text_before steps at j). */
int clippo_mix_is_text(size_t batch, size_t text, size_t j);

/** The two streams a mixed batch draws from: image-caption pairs (data, sampler; may be NULL
 * when every pair is text/text) and text pairs (pairs, pair_sampler; may be NULL when none
 * is). */
typedef struct clippo_batch_mix {
  const clippo_dataset *data;
  clippo_sampler *sampler;
  const clippo_dataset *pairs; /* clippo_dataset_open_text_pairs / _caption_pairs */
  clippo_sampler *pair_sampler;
  size_t batch; /* pairs in the (global) batch */
  size_t text;  /* of which text/text (clippo_mix_text_count) */
} clippo_batch_mix;

/** Fills inputs (2n, S, S, 3) float32 with pairs [lo, lo + n) of the next mixed batch: the
 * first sides (an image, or the rendered first text of a text pair), then the second sides (the
 * rendered caption or second text). Pair j of the batch takes the next item of the text-pair
 * stream when clippo_mix_is_text(batch, text, j), else of the image stream; both samplers move
 * past the whole batch, the pairs outside [lo, lo + n) (other ranks' shares) only skipped.
 * firsts (may be NULL) gets n malloc'ed first texts (NULL for image pairs), seconds (may be
 * NULL) n malloc'ed second texts (captions); free them. */
clippo_status clippo_batch_fill_mixed(const clippo_batch_mix *mix, const clippo_font *font,
                                      int image_size, size_t lo, size_t n, float *inputs,
                                      char **firsts, char **seconds, clippo_error *err);

/* ==== the training loop (host/train/trainer.c) ============================================== */

/** Longest path the options hold. */
#define CLIPPO_TRAIN_PATH 1024
/** Most font files. */
#define CLIPPO_TRAIN_MAX_FONTS 16

/** Everything `clippo train` takes (a config file and flags fill it). */
typedef struct clippo_train_opts {
  char device[256];
  /* model */
  char init[CLIPPO_TRAIN_PATH];  /* initial params (.npz / .h5); "" = fresh init */
  char model[CLIPPO_TRAIN_PATH]; /* fresh init: preset ("b16"), a model JSON file
                                  * (configs/b16.json) or an inline JSON object ("{...}") */
  uint64_t init_seed;
  /* data: exactly one source */
  char images[CLIPPO_TRAIN_PATH], texts[CLIPPO_TRAIN_PATH]; /* one fixed batch */
  char tsv[CLIPPO_TRAIN_PATH];
  char fmnist[CLIPPO_TRAIN_PATH];   /* folder with the IDX files */
  char fmnist_split[16];            /* "train" (default) or "test" */
  char captions[CLIPPO_TRAIN_PATH]; /* caption templates; needed with fmnist (the program gives
                                     * its installed configs/fmnist_captions.json) */
  size_t limit;                     /* keep the first N examples (0: all) */
  int shuffle;                      /* -1: default (on, off for --images) */
  int balanced;
  /* text/text co-training: a text-pair TSV or the built-in CLIPPO_TEXT_PAIRS_BUILTIN[:LANGS]
   * (made from captions), "" = none; and the fraction of every batch that is text pairs (NaN:
   * 0.25 with text_pairs) */
  char text_pairs[CLIPPO_TRAIN_PATH];
  double text_pair_fraction;
  char fonts[CLIPPO_TRAIN_MAX_FONTS][CLIPPO_TRAIN_PATH];
  size_t nfonts;
  /* optimisation: the optimizer's defaults (clippo_train_opt_config) unless overridden;
   * NaN / -1 / "" mean "not set" */
  clippo_opt_kind optimizer;
  double lr, weight_decay, clip_norm; /* clip_norm 0: no clipping */
  char schedule[16];                  /* constant, rsqrt, cosine, linear */
  int64_t warmup, cooldown;
  double timescale, shift, linear_end;
  int min_dim_size_to_factor;
  double decay_rate, beta2_cap, eps, momentum; /* adafactor */
  double b1, b2, adam_eps;                     /* adamw */
  int64_t steps;                               /* total steps (0: from epochs) */
  int64_t epochs;                              /* used when steps == 0 */
  int64_t stop_at;   /* stop (with a checkpoint) after this step; 0: run to the end */
  size_t batch_size; /* pairs per step (0: the whole set for --images, else 32) */
  int accumulate;    /* micro-batches per step, 1..CLIPPO_TRAIN_MAX_ACCUMULATE (the loss stays
                      * the whole batch's) */
  uint64_t seed;
  /* output */
  char save[CLIPPO_TRAIN_PATH];
  int64_t checkpoint_every;
  char resume[CLIPPO_TRAIN_PATH];
  char log[CLIPPO_TRAIN_PATH];
  char plot[CLIPPO_TRAIN_PATH];
  /* control of this invocation, not part of the run's record: polled during the run (may be
   * NULL); when it returns nonzero the step in progress is abandoned (parameters and data
   * position stay those of the last finished step), a checkpoint of that step is written to
   * save (unless already written) and the run ends with clippo_train_result.stopped set */
  int (*should_stop)(void *user);
  void *stop_user;
  /* data-parallel training over the ranks of a communicator (clippo/dist.h; NULL: this process
   * alone): batch_size is the global batch, split over the ranks; rank 0 alone writes the
   * checkpoint, the metrics log and the plot; the ranks compare a checksum of their parameters
   * at the start, at every checkpoint and every dist_check_every steps (0: 100) */
  const clippo_dist *dist;
  int64_t dist_check_every;
} clippo_train_opts;

/** Most micro-batches of --accumulate. */
#define CLIPPO_TRAIN_MAX_ACCUMULATE (1 << 20)

/** Default options (adafactor with big_vision's settings, batch from the data, seed 0). */
void clippo_train_opts_default(clippo_train_opts *o);

/** The optimizer config for a run of total_steps: clippo_opt_config_default(o->optimizer) with
 * the options' overrides; warmup, cooldown and timescale not given are big_vision's 10k,
 * capped at a tenth of the run (for sgd: a constant schedule without warmup). */
clippo_status clippo_train_opt_config(const clippo_train_opts *o, int64_t total_steps,
                                      clippo_opt_config *c, clippo_error *err);

/** As clippo_train_opt_config, but a warmup and cooldown that together do not fit the run (the
 * learning rate would never reach its full value, e.g. a config's schedule for a run shortened
 * with --steps) are fitted with clippo_schedule_fit instead of refused; *note (cap bytes, may
 * be NULL) gets a one-line notice naming --warmup / --cooldown when they were changed, else "". */
clippo_status clippo_train_opt_config_fitted(const clippo_train_opts *o, int64_t total_steps,
                                             clippo_opt_config *c, char *note, size_t cap,
                                             clippo_error *err);

/** Applies a training config JSON file over *o. Keys (all optional): device, init, model,
 * init_seed, images, texts, tsv, fashion_mnist, fashion_mnist_split, captions, limit,
 * text_pairs, text_pair_fraction (0..1), shuffle, balanced, fonts (array), optimizer, lr,
 * weight_decay, clip_norm (0/null = off), schedule ({type, warmup, cooldown, timescale, shift,
 * end}), adafactor ({min_dim_size_to_factor, decay_rate, beta2_cap, eps, momentum}), adam ({b1,
 * b2, eps}), steps, epochs, stop_at, batch_size, accumulate, seed, save, checkpoint_every, log,
 * plot. Unknown keys and wrong types are errors naming the file and key. Relative input paths
 * (init, a model .json file, images, texts, tsv, the fashion_mnist folder, captions, a
 * text_pairs file, fonts, resume) resolve against the config file's folder and are stored
 * absolute; output paths (save, log, plot) stay as written, relative to the current folder. */
clippo_status clippo_train_opts_load_json(const char *path, clippo_train_opts *o,
                                          clippo_error *err);

/** Parses a training config from a JSON string (name is used in messages). */
clippo_status clippo_train_opts_parse_json(const char *json, const char *name, clippo_train_opts *o,
                                           clippo_error *err);

/** The model config a fresh run starts from: a preset name ("b16", "l16"), a model JSON file
 * (clippo_config_load_json) or an inline JSON object with the same keys (read through a
 * temporary file in /tmp; clippo_train_model_config_in chooses the folder). */
clippo_status clippo_train_model_config(const char *model, clippo_config *cfg, clippo_error *err);

/** As clippo_train_model_config, with an inline object's temporary file in tmp_dir (the
 * runtime's settings.tmp_dir; NULL or "": /tmp). */
clippo_status clippo_train_model_config_in(const char *model, const char *tmp_dir,
                                           clippo_config *cfg, clippo_error *err);

/** Writes the options as a JSON object into a malloc'ed string (*out; free it). */
clippo_status clippo_train_opts_to_json(const clippo_train_opts *o, char **out, clippo_error *err);

/** A run's loss per step, kept in its checkpoints (optimizer group, "train/loss") so that a
 * resumed run continues the history (its plot, first and last loss). Zero-initialise it. */
typedef struct clippo_loss_history {
  float *loss;
  size_t n, cap;
} clippo_loss_history;

/** Appends one step's loss. */
clippo_status clippo_loss_history_push(clippo_loss_history *h, float loss, clippo_error *err);

/** Adds the history to a checkpoint's optimizer group as "train/loss". */
clippo_status clippo_loss_history_save(const clippo_loss_history *h, clippo_params *opt,
                                       clippo_error *err);

/** Appends a checkpoint's "train/loss" (float32) to the history; none there is not an error. */
clippo_status clippo_loss_history_load(clippo_loss_history *h, const clippo_params *opt,
                                       clippo_error *err);

/** Frees the history and zeroes it. */
void clippo_loss_history_free(clippo_loss_history *h);

/** Checks, before a run's work, that the folder of an output file is writable (nothing to check
 * when path is empty); `what` names the file in the message ("checkpoint", "metrics log"). */
clippo_status clippo_train_check_output_dir(const char *path, const char *what, clippo_error *err);

/** The options a checkpoint was trained with (its "train_config" attribute) over *o. */
clippo_status clippo_train_opts_from_checkpoint(const char *path, clippo_train_opts *o,
                                                clippo_error *err);

/** Progress of the loop, handed to the callback after every step. */
typedef struct clippo_train_progress {
  int64_t step;  /* steps done */
  int64_t total; /* total steps */
  uint64_t epoch;
  double loss;
  double t;  /* the temperature parameter (logit scale exp(t)) */
  double lr; /* lr * schedule */
  double grad_norm;
  double pairs_per_s; /* over the last step */
  double elapsed_s;
  double eta_s;
  int checkpointed;    /* 1 if a checkpoint was written after this step */
  int stopping;        /* 1 (once): should_stop asked to stop; step is the last finished one and
                        * its checkpoint is about to be written (loss, rates, times: 0) */
  const char *message; /* step 0 (once, before the first step): what is being trained */
} clippo_train_progress;

/** Called once with step 0 and a message before the first step, then after every step, and
 * once with stopping set when should_stop ends the run; may be NULL. */
typedef void (*clippo_train_progress_fn)(const clippo_train_progress *p, void *user);

/** What a finished run reports. */
typedef struct clippo_train_result {
  int64_t steps_done; /* steps this call ran */
  int64_t step;       /* the run's step at the end (steps_done plus the resumed checkpoint's) */
  int64_t total;      /* the run's total steps */
  int stopped;        /* 1 when should_stop ended the run early */
  double first_loss, last_loss;
  char saved[CLIPPO_TRAIN_PATH]; /* last checkpoint written ("" if none) */
  char plot[CLIPPO_TRAIN_PATH];  /* loss plot written ("" if none) */
  char notice[1024];             /* the data source, model and device (also the step-0 message) */
  double comm_s;                 /* seconds the ranks spent exchanging data (0 for one rank) */
} clippo_train_result;

/** Runs the training loop. A non-finite loss or gradient stops it with CLIPPO_E_NUMERIC before
 * the parameters are touched; the last checkpoint written stays as it was. */
clippo_status clippo_train_run(const clippo_train_opts *o, clippo_train_progress_fn fn, void *user,
                               clippo_train_result *res, clippo_error *err);

/** Writes a loss curve (steps 1..n) as an SVG polyline to path (atomically). */
clippo_status clippo_train_plot_svg(const char *path, const float *loss, size_t n,
                                    const char *title, clippo_error *err);

#ifdef __cplusplus
}
#endif
#endif
