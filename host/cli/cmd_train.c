/* `clippo train`: contrastive training of the one-tower model (big_vision's loss and optimizer
 * chain) from a config file and flags; checkpoints, metrics, a loss plot. Ctrl-C / SIGTERM save
 * the last finished step and print the command that resumes. */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli_interrupt.h"
#include "cli_mpi.h"
#include "cli_optim.h"
#include "cli_paths.h"
#include "cli_train_progress.h"
#include "cli_util.h"
#include "clippo/train.h"

const char clippo_cmd_train_summary[] = "train the model contrastively on image-caption pairs";

static void usage(FILE *out) {
  fprintf(
      out,
      "usage: clippo train [--config F.json] (--init M.{npz,h5} | --model b16|l16|M.json)\n"
      "                    (--images X.npy --texts T.txt | --tsv F.tsv | --fashion-mnist)\n"
      "                    [options] --save OUT.h5\n"
      "\n"
      "Trains CLIPPO as big_vision does: each step embeds N images and their N captions\n"
      "(rendered as images) with the same tower, takes the bidirectional contrastive loss\n"
      "over the batch and applies clip-by-global-norm -> optimizer -> x lr -> + wd * param\n"
      "(\".../kernel\" only) -> x schedule. A config file (configs/train_*.json) gives the\n"
      "defaults; flags override it. With --resume the checkpoint's own options are the base.\n"
      "Input paths in a config are relative to its folder, outputs (save, log, plot) to the\n"
      "current one; a config not found here is looked up in the installed configs folder.\n"
      "\n"
      "Model and data:\n"
      "  --init M           initial parameters (.npz or .h5)\n"
      "  --model NAME       fresh parameters for a preset (b16, l16) or a model JSON\n"
      "  --init-seed S      seed of the fresh initialisation (default 0)\n"
      "  --images X.npy     (N, S, S, 3) float32 in [-1, 1] (or uint8) images ...\n"
      "  --texts T.txt      ... and their N captions, one per line\n"
      "  --tsv F            lines PATH<TAB>CAPTION (PNG/JPEG, paths relative to F)\n"
      "  --fashion-mnist    Fashion-MNIST (env CLIPPO_FASHION_MNIST_DIR, else\n"
      "                     " CLIPPO_FMNIST_DIR ") with captions\n"
      "                     from multilingual templates; --fashion-mnist-dir D, --split\n"
      "                     train|test, --captions F (default: the installed\n"
      "                     configs/fmnist_captions.json)\n"
      "  --limit N          use the first N examples\n"
      "  --text-pairs F     text/text co-training as CLIPPO's paper: lines TEXT<TAB>TEXT, or\n"
      "                     " CLIPPO_TEXT_PAIRS_BUILTIN
      "[:LANG,LANG...] (the caption templates of\n"
      "                     one class in two languages, default en,de,zh: 9720 pairs)\n"
      "  --text-pair-fraction X  of every batch, text pairs rendered on both sides in the\n"
      "                     same loss (default 0.25; round(X * batch) pairs; 1: text only)\n"
      "  --font F           glyph file(s) for the captions (repeatable; default CLIPPO_FONT\n"
      "                     or the system Unifont)\n"
      "  --no-shuffle, --shuffle, --balanced (classes interleaved in every batch)\n"
      "Optimisation:\n"
      "  --optimizer O      adafactor (default), adamw or sgd\n"
      "  --lr X             learning rate (default 1e-3)\n"
      "  --weight-decay X   decoupled, not scaled by lr (default 1e-4; sgd 0)\n"
      "  --clip X, --no-clip  global gradient-norm clip (default 1.0; sgd none)\n"
      "  --schedule S       rsqrt (default), cosine, linear or constant (sgd)\n"
      "  --warmup N, --cooldown N, --timescale N   (default 10000, at most a tenth of the run;\n"
      "                     a warmup + cooldown longer than the run, e.g. a config's for a\n"
      "                     run cut short with --steps, is cut to a tenth each, with a notice)\n"
      "  --momentum X       adafactor momentum (0.9, kept in bfloat16; 0 = none)\n"
      "  --steps N          total steps (default: --epochs, else one epoch)\n"
      "  --epochs N         passes over the data\n"
      "  --batch-size N     pairs per step (default: all of --images, else 32)\n"
      "  --accumulate K     split each batch into K micro-batches (same loss and gradient;\n"
      "                     K in 1..1048576, dividing the batch)\n"
      "  --seed S           data order and caption seed (default 0)\n"
      "Output:\n"
      "  --save OUT.h5      required: the checkpoint (params, optimizer state, step, data\n"
      "                     position; with --resume the checkpoint's own is the default);\n"
      "                     OUT.npz writes big_vision's layout instead (cannot resume)\n"
      "  --checkpoint-every N   also write it every N steps (atomically)\n"
      "  --stop-at N        stop after step N (resume later with --resume)\n"
      "  --resume CKPT.h5   continue a run exactly where the checkpoint left it\n"
      "  --log F.jsonl      one JSON line per step: step, loss, lr, t, grad norm, pairs/s,\n"
      "                     time_s; --resume continues it (steps after the checkpoint\n"
      "                     are dropped, time_s goes on from the last kept step)\n"
      "  --plot F.svg       loss curve (default OUT.loss.svg next to --save)\n"
      "  --device SPEC      OpenCL device (see `clippo devices`)\n"
      "  --quiet            no progress on stderr\n"
      "\n"
      "Ctrl-C (or SIGTERM) stops at the next safe point: the step in progress is abandoned, the\n"
      "checkpoint of the last finished step is written to OUT (atomically) and the command that\n"
      "resumes is printed; exit status 130 (143 for SIGTERM). A second Ctrl-C quits at once.\n"
      "Exit status: 0 when trained, 1 on an error, 2 on a usage error.\n"
      "\n"
      "Examples:\n"
      "  clippo train --config train_fmnist_tiny.json --steps 300 --save fmnist_tiny.h5\n"
      "  clippo train --init weights/fmnist.h5 --tsv pairs.tsv --epochs 3 --save tuned.h5\n"
      "  clippo train --resume fmnist_tiny.h5\n");
}

/* What the command line says; NULL, -1, 0 or NAN: not given. */
typedef struct train_args {
  const char *config, *resume, *device, *init, *model, *images, *texts, *tsv, *fmnist_dir, *split,
      *captions, *save, *log, *plot, *text_pairs;
  long init_seed, limit, steps, epochs, stop_at, batch_size, seed, ckpt_every;
  int accumulate;
  double timescale, momentum, text_pair_fraction;
  int fashion_mnist, shuffle, balanced, quiet;
  cli_optim_args optim;
  const char *font_items[CLIPPO_TRAIN_MAX_FONTS];
  cli_list fonts;
} train_args;

/* Step counts (--steps, --warmup...) up to 2^40; epochs up to 2^20. */
#define MAX_STEPS CLI_MAX_STEPS

/* Parses argv into *a: 0, -1 for --help, else the exit status of a usage error. */
static int parse_args(int argc, char **argv, train_args *a) {
  memset(a, 0, sizeof *a);
  a->init_seed = a->limit = a->steps = a->epochs = a->stop_at = -1;
  a->batch_size = a->seed = a->ckpt_every = -1;
  a->timescale = a->momentum = a->text_pair_fraction = NAN;
  cli_optim_args_init(&a->optim);
  a->shuffle = a->balanced = -1;
  a->fonts = (cli_list){a->font_items, 0, CLIPPO_TRAIN_MAX_FONTS};
  const cli_option own[] = {
      {"--config", CLI_STRING, &a->config, 0, 0},
      {"--resume", CLI_STRING, &a->resume, 0, 0},
      {"--device", CLI_DEVICE, &a->device, 0, 0},
      {"--init", CLI_STRING, &a->init, 0, 0},
      {"--model", CLI_STRING, &a->model, 0, 0},
      {"--init-seed", CLI_LONG, &a->init_seed, 0, LONG_MAX},
      {"--images", CLI_STRING, &a->images, 0, 0},
      {"--texts", CLI_STRING, &a->texts, 0, 0},
      {"--tsv", CLI_STRING, &a->tsv, 0, 0},
      {"--fashion-mnist", CLI_SET, &a->fashion_mnist, 0, 0},
      {"--fashion-mnist-dir", CLI_STRING, &a->fmnist_dir, 0, 0},
      {"--split", CLI_STRING, &a->split, 0, 0},
      {"--captions", CLI_STRING, &a->captions, 0, 0},
      {"--limit", CLI_LONG, &a->limit, 0, LONG_MAX},
      {"--text-pairs", CLI_STRING, &a->text_pairs, 0, 0},
      {"--text-pair-fraction", CLI_DOUBLE, &a->text_pair_fraction, 0, 1},
      {"--font", CLI_LIST, &a->fonts, 0, 0},
      {"--shuffle", CLI_SET, &a->shuffle, 0, 0},
      {"--no-shuffle", CLI_CLEAR, &a->shuffle, 0, 0},
      {"--balanced", CLI_SET, &a->balanced, 0, 0},
      {"--timescale", CLI_DOUBLE, &a->timescale, 0, LONG_MAX},
      {"--momentum", CLI_DOUBLE, &a->momentum, 0, 1},
      {"--steps", CLI_LONG, &a->steps, 1, MAX_STEPS},
      {"--epochs", CLI_LONG, &a->epochs, 1, 1L << 20},
      {"--stop-at", CLI_LONG, &a->stop_at, 1, MAX_STEPS},
      {"--batch-size", CLI_LONG, &a->batch_size, 1, 1L << 24},
      {"--accumulate", CLI_INT, &a->accumulate, 1, CLIPPO_TRAIN_MAX_ACCUMULATE},
      {"--seed", CLI_LONG, &a->seed, 0, LONG_MAX},
      {"--save", CLI_STRING, &a->save, 0, 0},
      {"--checkpoint-every", CLI_LONG, &a->ckpt_every, 0, MAX_STEPS},
      {"--log", CLI_STRING, &a->log, 0, 0},
      {"--plot", CLI_STRING, &a->plot, 0, 0},
      {"--quiet", CLI_SET, &a->quiet, 0, 0},
  };
  int rc =
      cli_parse_with_optim("train", argc, argv, own, sizeof own / sizeof own[0], &a->optim, NULL);
  if (rc == 0 && !isnan(a->timescale) && !(a->timescale > 0))
    rc = cli_usage_error("train", "--timescale must be positive");
  return rc;
}

/* The options the flags start from: the defaults, then the --resume checkpoint's own, then the
 * --config file. 0 or an exit status. */
static int base_options(const train_args *a, clippo_train_opts *o) {
  clippo_error err;
  clippo_error_clear(&err);
  clippo_train_opts_default(o);
  if (a->resume && clippo_train_opts_from_checkpoint(a->resume, o, &err) != CLIPPO_OK)
    return cli_report("train", &err);
  char buf[CLI_PATH_MAX];
  const char *config = a->config ? cli_input_file(a->config, buf, sizeof buf) : NULL;
  if (config && clippo_train_opts_load_json(config, o, &err) != CLIPPO_OK)
    return cli_report("train", &err);
  return 0;
}

/* Copies a given path option into dst[cap]; 2 after a usage error when it is too long. */
static int set_path(char *dst, size_t cap, const char *name, const char *v) {
  if (!v) return 0;
  if (strlen(v) >= cap) return cli_usage_error("train", "%s: path too long", name);
  snprintf(dst, cap, "%s", v);
  return 0;
}

/* The path options over *o; 0 or an exit status. */
static int apply_paths(const train_args *a, clippo_train_opts *o) {
#define P(name, field, v) set_path(o->field, sizeof o->field, name, v)
  if (a->fashion_mnist) snprintf(o->fmnist, sizeof o->fmnist, "%s", CLIPPO_FMNIST_DIR);
  int rc = P("--resume", resume, a->resume) || P("--device", device, a->device) ||
           P("--init", init, a->init) || P("--model", model, a->model) ||
           P("--images", images, a->images) || P("--texts", texts, a->texts) ||
           P("--tsv", tsv, a->tsv) || P("--fashion-mnist-dir", fmnist, a->fmnist_dir) ||
           P("--split", fmnist_split, a->split) || P("--captions", captions, a->captions) ||
           P("--save", save, a->save) || P("--log", log, a->log) || P("--plot", plot, a->plot) ||
           P("--text-pairs", text_pairs, a->text_pairs);
#undef P
  if (rc) return 2;
  if (a->fonts.n) { /* the flags replace the config's fonts */
    o->nfonts = 0;
    for (size_t i = 0; i < a->fonts.n; i++)
      if (set_path(o->fonts[o->nfonts++], CLIPPO_TRAIN_PATH, "--font", a->fonts.items[i])) return 2;
  }
  return 0;
}

/* No font from the flags or the config: env CLIPPO_FONT's, recorded with the run (else the
 * library's default font). 0 or an exit status. */
static int env_fonts(clippo_train_opts *o) {
  if (o->nfonts) return 0;
  const char *items[CLIPPO_TRAIN_MAX_FONTS];
  cli_list fonts = {items, 0, CLIPPO_TRAIN_MAX_FONTS};
  char *owned = NULL;
  if (cli_fonts_from_env("train", &fonts, &owned)) return 1;
  int rc = 0;
  for (size_t i = 0; i < fonts.n && !rc; i++)
    rc = set_path(o->fonts[o->nfonts++], CLIPPO_TRAIN_PATH, "CLIPPO_FONT", items[i]);
  free(owned);
  return rc;
}

/* The other options over *o; 0 or an exit status. */
static int apply_settings(const train_args *a, clippo_train_opts *o) {
  int optim_rc = cli_optim_apply("train", &a->optim, o);
  if (optim_rc) return optim_rc;
  if (a->shuffle >= 0) o->shuffle = a->shuffle;
  if (a->balanced >= 0) o->balanced = a->balanced;
  if (!isnan(a->timescale)) o->timescale = a->timescale;
  if (!isnan(a->momentum)) o->momentum = a->momentum;
  if (a->init_seed >= 0) o->init_seed = (uint64_t)a->init_seed;
  if (a->limit >= 0) o->limit = (size_t)a->limit;
  if (a->steps >= 0) o->steps = a->steps;
  if (a->epochs >= 0) o->epochs = a->epochs;
  if (a->stop_at >= 0) o->stop_at = a->stop_at;
  if (a->batch_size >= 0) o->batch_size = (size_t)a->batch_size;
  if (a->accumulate > 0) o->accumulate = a->accumulate;
  if (a->seed >= 0) o->seed = (uint64_t)a->seed;
  if (a->ckpt_every >= 0) o->checkpoint_every = a->ckpt_every;
  if (!isnan(a->text_pair_fraction)) o->text_pair_fraction = a->text_pair_fraction;
  return 0;
}

/* --text-pairs: the built-in set takes the caption file (the installed one unless given); a
 * relative file not found here is looked up in the installed configs. 0 or an exit status. */
static int text_pair_defaults(clippo_train_opts *o) {
  char buf[CLI_PATH_MAX];
  if (!o->text_pairs[0]) return 0;
  if (!clippo_text_pairs_builtin(o->text_pairs, NULL, 0)) {
    const char *f = cli_input_file(o->text_pairs, buf, sizeof buf);
    if (f != o->text_pairs && strlen(f) < sizeof o->text_pairs)
      snprintf(o->text_pairs, sizeof o->text_pairs, "%s", f);
    return 0;
  }
  if (o->captions[0] || o->fmnist[0]) return 0; /* cli_train_data_defaults fills in captions */
  if (cli_data_file(CLI_DEFAULT_CAPTIONS_FILE, buf, sizeof buf) != 0) {
    fprintf(stderr, "clippo train: error: --text-pairs %s needs --captions F: %s\n", o->text_pairs,
            buf);
    return 1;
  }
  return set_path(o->captions, sizeof o->captions, "--captions", buf);
}

/* Usage errors of the merged options, found before any work; 0 or 2. */
static int check_options(const clippo_train_opts *o) {
  if (!o->init[0] && !o->model[0] && !o->resume[0])
    return cli_usage_error("train", "give --init M, --model NAME or --resume CKPT");
  if (o->init[0] && o->resume[0])
    return cli_usage_error("train", "--init and --resume exclude each other");
  if (!o->save[0])
    return cli_usage_error("train", "give --save OUT.h5: where the trained model is written "
                                    "(nothing is saved without it)");
  return 0;
}

/* Prints s as one shell word. */
static void print_shell_word(FILE *f, const char *s) {
  if (*s && strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-./=:,+@%") ==
                strlen(s)) {
    fputs(s, f);
    return;
  }
  fputc('\'', f);
  for (; *s; s++) {
    if (*s == '\'')
      fputs("'\\''", f);
    else
      fputc(*s, f);
  }
  fputc('\'', f);
}

/* After a run ended by Ctrl-C / SIGTERM: what was saved and the command that resumes. Returns the
 * exit status (128 + the signal). */
static int report_interrupted(const clippo_train_opts *o, const train_args *a,
                              const clippo_train_result *res) {
  const char *from = res->saved[0] ? res->saved : o->resume;
  if (!from[0]) {
    fprintf(stderr, "clippo train: interrupted before the first step finished; nothing saved\n");
    return cli_interrupt_exit_code();
  }
  size_t n = strlen(from);
  if (n > 4 && !strcmp(from + n - 4, ".npz")) {
    fprintf(stderr,
            "clippo train: interrupted after step %lld of %lld; the parameters are in %s, whose "
            "big_vision layout cannot resume (use --save OUT.h5 for that)\n",
            (long long)res->step, (long long)res->total, from);
    return cli_interrupt_exit_code();
  }
  fprintf(stderr, "clippo train: interrupted after step %lld of %lld; checkpoint: %s\n",
          (long long)res->step, (long long)res->total, from);
  fprintf(stderr, "clippo train: resume with: clippo train --resume ");
  print_shell_word(stderr, from);
  if (!res->saved[0] && strcmp(o->save, from)) { /* this call wrote nothing: keep its --save */
    fprintf(stderr, " --save ");
    print_shell_word(stderr, o->save);
  }
  if (o->device[0]) {
    fprintf(stderr, " --device ");
    print_shell_word(stderr, o->device);
  }
  if (a->stop_at > res->step) fprintf(stderr, " --stop-at %ld", a->stop_at);
  fputc('\n', stderr);
  return cli_interrupt_exit_code();
}

/* Runs the training with Ctrl-C / SIGTERM caught; the exit status. */
static int run(clippo_train_opts *o, const train_args *a) {
  const int quiet = a->quiet || clippo_dist_rank(o->dist) > 0; /* rank 0 speaks for all */
  cli_train_progress ps;
  cli_train_progress_init(&ps, "train", "pairs", quiet);
  clippo_train_result res;
  clippo_error err;
  clippo_error_clear(&err);
  cli_interrupt sigs;
  cli_interrupt_install(&sigs);
  o->should_stop = cli_interrupt_poll;
  o->stop_user = NULL;
  clippo_status st = clippo_train_run(o, cli_train_progress_cb, &ps, &res, &err);
  cli_interrupt_restore(&sigs);
  if (ps.open_line) fputc('\n', stderr);
  if (st != CLIPPO_OK) return cli_dist_report("train", o->dist, &err);
  if (res.stopped) return quiet ? cli_interrupt_exit_code() : report_interrupted(o, a, &res);
  if (!quiet) {
    printf("trained %lld steps: loss %.6f -> %.6f\n", (long long)res.steps_done, res.first_loss,
           res.last_loss);
    if (clippo_dist_size(o->dist) > 1)
      printf("ranks: %d, exchanging data: %.1f s\n", clippo_dist_size(o->dist), res.comm_s);
    if (res.saved[0]) printf("checkpoint: %s\n", res.saved);
    if (res.plot[0]) printf("loss plot: %s\n", res.plot);
  }
  return 0;
}

int clippo_cmd_train(int argc, char **argv) {
  train_args a;
  int rc = parse_args(argc, argv, &a);
  if (rc < 0) {
    usage(stdout);
    return 0;
  }
  if (rc) return rc;
  clippo_train_opts o;
  if ((rc = base_options(&a, &o)) || (rc = apply_paths(&a, &o)) || (rc = env_fonts(&o)) ||
      (rc = apply_settings(&a, &o)) || (rc = check_options(&o)))
    return rc;
  if (text_pair_defaults(&o) != 0 || cli_train_data_defaults("train", &o) != 0) return 1;
  clippo_dist *dist = NULL; /* the ranks of `mpirun -np R clippo train` */
  if (cli_dist_start("train", &dist)) return 1;
  o.dist = dist;
  return cli_dist_end(dist, run(&o, &a));
}
