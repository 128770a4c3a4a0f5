/* `clippo train`: contrastive training of the one-tower model (big_vision's loss and optimizer
 * chain) from a config file and flags; checkpoints, metrics, a loss plot. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli_paths.h"
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
      "  --font F           glyph file(s) for the captions (repeatable; default CLIPPO_FONT\n"
      "                     or the system Unifont)\n"
      "  --no-shuffle, --shuffle, --balanced (classes interleaved in every batch)\n"
      "Optimisation:\n"
      "  --optimizer O      adafactor (default), adamw or sgd\n"
      "  --lr X             learning rate (default 1e-3)\n"
      "  --weight-decay X   decoupled, not scaled by lr (default 1e-4; sgd 0)\n"
      "  --clip X, --no-clip  global gradient-norm clip (default 1.0; sgd none)\n"
      "  --schedule S       rsqrt (default), cosine, linear or constant (sgd)\n"
      "  --warmup N, --cooldown N, --timescale N   (default 10000, at most a tenth of the run)\n"
      "  --momentum X       adafactor momentum (0.9, kept in bfloat16; 0 = none)\n"
      "  --steps N          total steps (default: --epochs, else one epoch)\n"
      "  --epochs N         passes over the data\n"
      "  --batch-size N     pairs per step (default: all of --images, else 32)\n"
      "  --accumulate K     split each batch into K micro-batches (same loss and gradient)\n"
      "  --seed S           data order and caption seed (default 0)\n"
      "Output:\n"
      "  --save OUT.h5      checkpoint (params, optimizer state, step, data position);\n"
      "                     OUT.npz writes big_vision's layout instead (cannot resume)\n"
      "  --checkpoint-every N   also write it every N steps (atomically)\n"
      "  --stop-at N        stop after step N (resume later with --resume)\n"
      "  --resume CKPT.h5   continue a run exactly where the checkpoint left it\n"
      "  --log F.jsonl      one JSON line per step: step, loss, lr, t, grad norm, pairs/s,\n"
      "                     time_s; --resume continues it (steps after the checkpoint\n"
      "                     are dropped, time_s goes on from the last kept step)\n"
      "  --plot F.svg       loss curve (default OUT.loss.svg next to --save)\n"
      "  --device SPEC      OpenCL device (see `clippo devices`)\n"
      "  --quiet            no progress on stderr\n");
}

typedef struct progress_state {
  int quiet, tty, open_line;
  int64_t every;
} progress_state;

static void fmt_time(double s, char *buf, size_t cap) {
  if (!isfinite(s) || s < 0) s = 0;
  long t = (long)(s + 0.5);
  if (t >= 3600)
    snprintf(buf, cap, "%ldh%02ldm", t / 3600, (t / 60) % 60);
  else if (t >= 60)
    snprintf(buf, cap, "%ldm%02lds", t / 60, t % 60);
  else
    snprintf(buf, cap, "%lds", t);
}

static void on_progress(const clippo_train_progress *p, void *user) {
  progress_state *ps = user;
  if (ps->quiet) return;
  if (p->message) {
    fprintf(stderr, "clippo train: %s\n", p->message);
    return;
  }
  char eta[32];
  fmt_time(p->eta_s, eta, sizeof eta);
  if (ps->tty) {
    int width = 24, fill = p->total > 0 ? (int)(width * p->step / p->total) : width;
    char bar[32];
    for (int i = 0; i < width; i++) bar[i] = i < fill ? '=' : ' ';
    bar[width] = '\0';
    fprintf(stderr, "\rstep %lld/%lld [%s] loss %.4f  %.1f pairs/s  ETA %s%s ", (long long)p->step,
            (long long)p->total, bar, p->loss, p->pairs_per_s, eta,
            p->checkpointed ? "  (saved)" : "");
    ps->open_line = 1;
    if (p->step == p->total) {
      fputc('\n', stderr);
      ps->open_line = 0;
    }
  } else if (p->step % ps->every == 0 || p->step == p->total || p->step == 1) {
    fprintf(stderr, "step %lld/%lld loss %.6f lr %.3g grad-norm %.4g %.1f pairs/s ETA %s%s\n",
            (long long)p->step, (long long)p->total, p->loss, p->lr, p->grad_norm, p->pairs_per_s,
            eta, p->checkpointed ? " (saved)" : "");
  }
  fflush(stderr);
}

static int parse_double(const char *name, const char *v, double lo, double *out) {
  char *end = NULL;
  errno = 0;
  double d = strtod(v, &end);
  if (errno || !end || *end || end == v || !isfinite(d) || d < lo) {
    fprintf(stderr, "clippo train: %s must be a number >= %g, got '%s'\n", name, lo, v);
    return -1;
  }
  *out = d;
  return 0;
}

static int parse_count(const char *name, const char *v, long long lo, long long *out) {
  char *end = NULL;
  errno = 0;
  long long x = strtoll(v, &end, 10);
  if (errno || !end || *end || end == v || x < lo) {
    fprintf(stderr, "clippo train: %s must be an integer >= %lld, got '%s'\n", name, lo, v);
    return -1;
  }
  *out = x;
  return 0;
}

static int set_path(char *dst, size_t cap, const char *name, const char *v) {
  if (strlen(v) >= cap) {
    fprintf(stderr, "clippo train: %s: path too long\n", name);
    return -1;
  }
  snprintf(dst, cap, "%s", v);
  return 0;
}

int clippo_cmd_train(int argc, char **argv) {
  clippo_train_opts o;
  clippo_train_opts_default(&o);
  clippo_error err;
  clippo_error_clear(&err);
  const char *config = NULL, *resume = NULL;
  int quiet = 0;
  /* first pass: --help, --config, --resume (they set the base the flags override) */
  for (int i = 1; i < argc; i++) {
    const char *v = NULL;
    int r;
    if (cli_flag(argv, i, "--help") || cli_flag(argv, i, "-h")) {
      usage(stdout);
      return 0;
    }
    if ((r = cli_opt(argc, argv, &i, "--config", &v)) < 0) return 2;
    if (r > 0)
      config = v;
    else if ((r = cli_opt(argc, argv, &i, "--resume", &v)) < 0)
      return 2;
    else if (r > 0)
      resume = v;
  }
  if (resume && clippo_train_opts_from_checkpoint(resume, &o, &err) != CLIPPO_OK)
    return cli_report("train", &err);
  char config_buf[CLI_PATH_MAX];
  config = cli_input_file(config, config_buf, sizeof config_buf);
  if (config && clippo_train_opts_load_json(config, &o, &err) != CLIPPO_OK)
    return cli_report("train", &err);
  int fonts_from_flags = 0;
  for (int i = 1; i < argc; i++) {
    const char *v = NULL;
    const char *a = argv[i];
    int r;
    double d;
    long long c;
#define FLAG(name) if (cli_flag(argv, i, name))
#define OPT(name)                                                                                  \
  if ((r = cli_opt(argc, argv, &i, name, &v)) < 0) return 2;                                       \
  if (r > 0)
#define PATH(name, field)                                                                          \
  OPT(name) {                                                                                      \
    if (set_path(o.field, sizeof o.field, name, v)) return 2;                                      \
    continue;                                                                                      \
  }
#define NUM(name, field, lo)                                                                       \
  OPT(name) {                                                                                      \
    if (parse_double(name, v, lo, &d)) return 2;                                                   \
    o.field = d;                                                                                   \
    continue;                                                                                      \
  }
#define COUNT(name, field, lo)                                                                     \
  OPT(name) {                                                                                      \
    if (parse_count(name, v, lo, &c)) return 2;                                                    \
    o.field = c;                                                                                   \
    continue;                                                                                      \
  }
    OPT("--config") continue;
    OPT("--resume") {
      if (set_path(o.resume, sizeof o.resume, "--resume", v)) return 2;
      continue;
    }
    PATH("--device", device)
    PATH("--init", init)
    PATH("--model", model)
    COUNT("--init-seed", init_seed, 0)
    PATH("--images", images)
    PATH("--texts", texts)
    PATH("--tsv", tsv)
    FLAG("--fashion-mnist") {
      snprintf(o.fmnist, sizeof o.fmnist, "%s", CLIPPO_FMNIST_DIR);
      continue;
    }
    PATH("--fashion-mnist-dir", fmnist)
    PATH("--split", fmnist_split)
    PATH("--captions", captions)
    COUNT("--limit", limit, 0)
    FLAG("--shuffle") {
      o.shuffle = 1;
      continue;
    }
    FLAG("--no-shuffle") {
      o.shuffle = 0;
      continue;
    }
    FLAG("--balanced") {
      o.balanced = 1;
      continue;
    }
    OPT("--font") {
      if (!fonts_from_flags) o.nfonts = 0; /* flags replace the config's fonts */
      fonts_from_flags = 1;
      if (o.nfonts == CLIPPO_TRAIN_MAX_FONTS)
        return cli_usage_error("train", "more than %d fonts", CLIPPO_TRAIN_MAX_FONTS);
      if (set_path(o.fonts[o.nfonts], CLIPPO_TRAIN_PATH, "--font", v)) return 2;
      o.nfonts++;
      continue;
    }
    OPT("--optimizer") {
      if (clippo_opt_parse(v, &o.optimizer, &err) != CLIPPO_OK)
        return cli_usage_error("train", "%s", err.msg);
      continue;
    }
    NUM("--lr", lr, 0.0)
    NUM("--weight-decay", weight_decay, 0.0)
    NUM("--clip", clip_norm, 0.0)
    FLAG("--no-clip") {
      o.clip_norm = 0.0;
      continue;
    }
    OPT("--schedule") {
      clippo_sched_kind k;
      if (clippo_sched_parse(v, &k, &err) != CLIPPO_OK)
        return cli_usage_error("train", "%s", err.msg);
      snprintf(o.schedule, sizeof o.schedule, "%s", clippo_sched_name(k));
      continue;
    }
    COUNT("--warmup", warmup, 0)
    COUNT("--cooldown", cooldown, 0)
    NUM("--timescale", timescale, 1e-9)
    NUM("--momentum", momentum, 0.0)
    COUNT("--steps", steps, 1)
    COUNT("--epochs", epochs, 1)
    COUNT("--stop-at", stop_at, 1)
    COUNT("--batch-size", batch_size, 1)
    COUNT("--accumulate", accumulate, 1)
    COUNT("--seed", seed, 0)
    PATH("--save", save)
    COUNT("--checkpoint-every", checkpoint_every, 0)
    PATH("--log", log)
    PATH("--plot", plot)
    FLAG("--quiet") {
      quiet = 1;
      continue;
    }
#undef FLAG
#undef OPT
#undef PATH
#undef NUM
#undef COUNT
    return cli_usage_error("train", "unknown option '%s'", a);
  }
  if (o.accumulate > 1 << 20) return cli_usage_error("train", "--accumulate is too large");
  if (!o.init[0] && !o.model[0] && !o.resume[0])
    return cli_usage_error("train", "give --init M, --model NAME or --resume CKPT");
  if (o.init[0] && o.resume[0])
    return cli_usage_error("train", "--init and --resume exclude each other");
  if (!o.save[0] && (o.checkpoint_every > 0 || o.stop_at > 0))
    return cli_usage_error("train", "--checkpoint-every and --stop-at need --save");

  progress_state ps = {quiet, isatty(2), 0, 1};
  int64_t total = o.steps > 0 ? o.steps : 0;
  ps.every = total >= 20 ? total / 20 : 1;
  clippo_train_result res;
  if (cli_train_data_defaults("train", &o) != 0) return 1;
  clippo_status st = clippo_train_run(&o, on_progress, &ps, &res, &err);
  if (ps.open_line) fputc('\n', stderr);
  if (st != CLIPPO_OK) return cli_report("train", &err);
  if (!quiet) {
    printf("trained %lld steps: loss %.6f -> %.6f\n", (long long)res.steps_done, res.first_loss,
           res.last_loss);
    if (res.saved[0]) printf("checkpoint: %s\n", res.saved);
    if (res.plot[0]) printf("loss plot: %s\n", res.plot);
  }
  return 0;
}
