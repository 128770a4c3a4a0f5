/* The training loop of `clippo train`: batches of N images and their N rendered captions go
 * through the one-tower model as 2N inputs, big_vision's contrastive loss over the whole batch,
 * the backward, the optimizer chain; metrics as JSON lines, checkpoints that resume bit for bit
 * (parameters, optimizer state, step, data order), a loss-curve SVG at the end.
 *
 * Gradient accumulation (--accumulate K) keeps the loss of the whole batch: the K micro-batches
 * are embedded first (no gradients), the loss and dL/dz are computed over all 2N embeddings,
 * then each micro-batch runs forward again with activations kept and backward with its rows of
 * dL/dz, summing into the parameter gradients (one extra forward per micro-batch). */
#include <cjson/cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clippo/atomic_file.h"
#include "clippo/checkpoint.h"
#include "clippo/model.h"
#include "clippo/ops.h"
#include "clippo/train.h"
#include "train/train_dist.h"

#define TRY(x)                                                                                     \
  do {                                                                                             \
    clippo_status st_ = (x);                                                                       \
    if (st_ != CLIPPO_OK) return st_;                                                              \
  } while (0)

typedef struct trainer {
  const clippo_train_opts *o;
  clippo_rt *rt;
  clippo_model *m;
  clippo_config cfg;
  clippo_font *font;
  clippo_dataset *data; /* NULL when every pair of a batch is a text pair */
  clippo_sampler sampler;
  clippo_dataset *pairs;       /* text pairs of text/text co-training (NULL: none) */
  clippo_sampler pair_sampler; /* their order, a stream of its own */
  size_t P;                    /* text/text pairs per (global) batch */
  clippo_optimizer *opt;
  clippo_opt_config ocfg;
  size_t nparams;
  const char **names;
  clippo_tensor **params, **grads;
  size_t t_index;
  size_t B, K, b, D, slot; /* batch, micro-batches, micro size, embedding width, floats/input */
  int S;
  float *host_inputs;
  clippo_tensor inputs, micro, Z, dZ, zmicro, dzmicro;
  clippo_loss_ws lws;
  clippo_loss_history losses;
  double time_offset; /* time_s of the last step logged before a resume */
  int64_t step, total;
  int64_t saved_step; /* the step of the last checkpoint written by this run (-1: none) */
  FILE *log;
  char *opts_json;
  char last_ckpt[CLIPPO_TRAIN_PATH];
  char device_name[200]; /* JSON-safe copy of the device name */
  train_dist dist;       /* the ranks of a data-parallel run; B above is this rank's share */
  size_t Bg;             /* the global batch */
  int writer;            /* 1 on the rank that writes the checkpoint, log and plot (rank 0) */
} trainer;

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int ends_with(const char *s, const char *suffix) {
  size_t n = strlen(s), k = strlen(suffix);
  return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* rows [r0, r0 + n) of a (rows, w) tensor */
static clippo_tensor rows(const clippo_tensor *t, size_t r0, size_t n, size_t w) {
  int64_t shape[2] = {(int64_t)n, (int64_t)w};
  return clippo_tensor_view(t, r0 * w, 2, shape);
}

/* ---- checkpoints --------------------------------------------------------------------------- */

/* The text-pair stream's position as the checkpoint's train_state keys (", \"pairs_epoch\": E,
 * \"pairs_pos\": P"), "" without co-training. */
static void pair_state_json(const trainer *tr, char *out, size_t cap) {
  out[0] = '\0';
  if (tr->pairs)
    snprintf(out, cap, ", \"pairs_epoch\": %" PRIu64 ", \"pairs_pos\": %" PRIu64,
             tr->pair_sampler.epoch, tr->pair_sampler.pos);
}

static clippo_status save_checkpoint(trainer *tr, const char *path, clippo_error *err) {
  TRY(train_dist_check(&tr->dist, tr->rt, tr->params, tr->nparams, "at the checkpoint", err));
  if (!tr->writer) { /* rank 0 writes it; the others hold the same state */
    snprintf(tr->last_ckpt, sizeof tr->last_ckpt, "%s", path);
    tr->saved_step = tr->step;
    return CLIPPO_OK;
  }
  clippo_checkpoint ck;
  memset(&ck, 0, sizeof ck);
  ck.cfg = tr->cfg;
  ck.has_cfg = 1;
  ck.step = tr->step;
  clippo_status st = clippo_model_download_params(tr->m, &ck.params, err);
  if (st == CLIPPO_OK) st = clippo_optimizer_export(tr->opt, &ck.opt, err);
  if (st == CLIPPO_OK) st = clippo_loss_history_save(&tr->losses, &ck.opt, err);
  if (st == CLIPPO_OK) st = clippo_checkpoint_set_attr(&ck, "train_config", tr->opts_json, err);
  if (st == CLIPPO_OK) {
    char state[512], pairs[128];
    pair_state_json(tr, pairs, sizeof pairs);
    snprintf(state, sizeof state,
             "{\"step\": %" PRId64 ", \"epoch\": %" PRIu64 ", \"pos\": %" PRIu64
             ", \"seed\": \"%" PRIu64 "\", \"optimizer\": \"%s\", \"device\": \"%s\"%s}",
             tr->step, tr->sampler.epoch, tr->sampler.pos, tr->o->seed,
             clippo_opt_name(tr->ocfg.kind), tr->device_name, pairs);
    st = clippo_checkpoint_set_attr(&ck, "train_state", state, err);
  }
  if (st == CLIPPO_OK)
    st = ends_with(path, ".npz") ? clippo_checkpoint_save_npz(path, &ck, err)
                                 : clippo_checkpoint_save_h5(path, &ck, err);
  clippo_checkpoint_free(&ck);
  if (st == CLIPPO_OK) {
    snprintf(tr->last_ckpt, sizeof tr->last_ckpt, "%s", path);
    tr->saved_step = tr->step;
  } else {
    clippo_error_prefix(err, "writing checkpoint %s", path);
  }
  return st;
}

/* Reads "train_state" of a checkpoint: epoch, pos, seed, optimizer. */
static clippo_status parse_state(const char *path, const char *json, uint64_t *epoch, uint64_t *pos,
                                 uint64_t *seed, char *opt, size_t optcap, char *device,
                                 size_t devcap, clippo_error *err) {
  cJSON *root = json ? cJSON_Parse(json) : NULL;
  const cJSON *e = root ? cJSON_GetObjectItemCaseSensitive(root, "epoch") : NULL;
  const cJSON *p = root ? cJSON_GetObjectItemCaseSensitive(root, "pos") : NULL;
  const cJSON *s = root ? cJSON_GetObjectItemCaseSensitive(root, "seed") : NULL;
  const cJSON *o = root ? cJSON_GetObjectItemCaseSensitive(root, "optimizer") : NULL;
  clippo_status st = CLIPPO_OK;
  if (!e || !p || !cJSON_IsNumber(e) || !cJSON_IsNumber(p) || !cJSON_IsString(s) ||
      !cJSON_IsString(o) || e->valuedouble < 0 || p->valuedouble < 0) {
    st = clippo_fail(err, CLIPPO_E_FORMAT,
                     "%s: no valid training state (not written by `clippo train`?)", path);
  } else {
    *epoch = (uint64_t)e->valuedouble;
    *pos = (uint64_t)p->valuedouble;
    *seed = strtoull(s->valuestring, NULL, 10);
    snprintf(opt, optcap, "%s", o->valuestring);
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(root, "device");
    snprintf(device, devcap, "%s", cJSON_IsString(d) ? d->valuestring : "");
  }
  cJSON_Delete(root);
  return st;
}

/* ---- setup --------------------------------------------------------------------------------- */

static clippo_status open_data(trainer *tr, clippo_error *err) {
  const clippo_train_opts *o = tr->o;
  int nsrc = (o->images[0] || o->texts[0]) + (o->tsv[0] != 0) + (o->fmnist[0] != 0);
  if (nsrc == 0 && o->text_pairs[0] && o->text_pair_fraction >= 1.0) return CLIPPO_OK;
  if (nsrc != 1)
    return clippo_fail(err, CLIPPO_E_ARG,
                       "give exactly one data source: --images X.npy --texts T.txt, --tsv F or "
                       "--fashion-mnist");
  if (o->images[0] || o->texts[0]) {
    if (!o->images[0] || !o->texts[0])
      return clippo_fail(err, CLIPPO_E_ARG, "--images and --texts go together");
    return clippo_dataset_open_arrays(o->images, o->texts, &tr->data, err);
  }
  if (o->tsv[0]) return clippo_dataset_open_tsv(o->tsv, o->limit, &tr->data, err);
  if (!o->captions[0]) /* the program fills in its installed configs/fmnist_captions.json */
    return clippo_fail(err, CLIPPO_E_ARG,
                       "Fashion-MNIST training needs caption templates (--captions F.json)");
  return clippo_dataset_open_fmnist(o->fmnist, o->fmnist_split, o->captions, o->limit, &tr->data,
                                    err);
}

static clippo_status load_params(trainer *tr, clippo_checkpoint *ck, clippo_error *err) {
  const clippo_train_opts *o = tr->o;
  if (o->resume[0]) return clippo_checkpoint_load(o->resume, ck, 1, err);
  if (o->init[0]) {
    TRY(clippo_checkpoint_load(o->init, ck, 0, err));
    ck->step = -1;
    return CLIPPO_OK;
  }
  clippo_config cfg;
  TRY(clippo_train_model_config_in(o->model[0] ? o->model : "b16", tr->rt->settings.tmp_dir, &cfg,
                                   err));
  ck->cfg = cfg;
  ck->has_cfg = 1;
  ck->step = -1;
  return clippo_params_init(&ck->params, &cfg, o->init_seed, err);
}

static clippo_status alloc_f32(clippo_rt *rt, clippo_tensor *t, size_t r, size_t c,
                               clippo_error *err) {
  int64_t shape[2] = {(int64_t)r, (int64_t)c};
  return clippo_tensor_alloc(rt, t, CLIPPO_F32, 2, shape, err);
}

/* Before a resumed run appends to its metrics log: drops the lines of steps after the
 * checkpoint (a run stopped between checkpoints logged steps that will be run again) and takes
 * the last kept line's time_s as the offset of this run's clock, so that time_s counts the whole
 * training. The log is rewritten atomically and only when lines are dropped; a missing log is
 * fine. */
static clippo_status trim_log(trainer *tr, const char *path, clippo_error *err) {
  FILE *f = fopen(path, "rb");
  if (!f) return CLIPPO_OK;
  char *kept = NULL, line[8192];
  size_t used = 0, cap = 0;
  int dropped = 0;
  clippo_status st = CLIPPO_OK;
  while (st == CLIPPO_OK && fgets(line, sizeof line, f)) {
    cJSON *j = cJSON_Parse(line);
    const cJSON *step = cJSON_GetObjectItemCaseSensitive(j, "step");
    const cJSON *ts = cJSON_GetObjectItemCaseSensitive(j, "time_s");
    int keep = !cJSON_IsNumber(step) || (int64_t)step->valuedouble <= tr->step;
    if (keep && cJSON_IsNumber(ts) && cJSON_IsNumber(step)) tr->time_offset = ts->valuedouble;
    cJSON_Delete(j);
    if (!keep) {
      dropped = 1;
      continue;
    }
    size_t n = strlen(line);
    if (used + n + 1 > cap) {
      size_t nc = cap ? cap * 2 : 65536;
      while (nc < used + n + 1) nc *= 2;
      char *nk = realloc(kept, nc);
      if (!nk)
        st = clippo_fail(err, CLIPPO_E_NOMEM, "out of host memory reading %s", path);
      else {
        kept = nk;
        cap = nc;
      }
    }
    if (st == CLIPPO_OK) {
      /* kept is a byte buffer written by length, not a C string */
      memcpy(kept + used, line, n); // NOLINT(bugprone-not-null-terminated-result)
      used += n;
    }
  }
  fclose(f);
  if (st == CLIPPO_OK && dropped) st = clippo_write_file_atomic(path, kept ? kept : "", used, err);
  free(kept);
  if (st != CLIPPO_OK) clippo_error_prefix(err, "metrics log %s", path);
  return st;
}

/* Adds a line to the notice shown before the first step. */
static void append_notice(clippo_train_result *res, const char *line) {
  size_t l = strlen(res->notice);
  snprintf(res->notice + l, sizeof res->notice - l, "%s%s", l ? "\n" : "", line);
}

/* Fails when the folder an output file of the run goes to is missing or not writable: found
 * before training, not after it. */
clippo_status clippo_train_check_output_dir(const char *path, const char *what, clippo_error *err) {
  if (!path[0]) return CLIPPO_OK;
  char dir[CLIPPO_TRAIN_PATH];
  const char *slash = strrchr(path, '/');
  if (!slash)
    snprintf(dir, sizeof dir, ".");
  else
    snprintf(dir, sizeof dir, "%.*s", slash == path ? 1 : (int)(slash - path), path);
  if (access(dir, W_OK) != 0)
    return clippo_fail(err, CLIPPO_E_IO, "cannot write the %s %s: folder %s: %s", what, path, dir,
                       strerror(errno));
  return CLIPPO_OK;
}

/* ---- text/text co-training ----------------------------------------------------------------- */

/* The text pairs of --text-pairs: a TSV or the built-in set from the caption file. */
static clippo_status open_pairs(trainer *tr, clippo_error *err) {
  const clippo_train_opts *o = tr->o;
  if (!o->text_pairs[0]) {
    if (!isnan(o->text_pair_fraction) && o->text_pair_fraction > 0)
      return clippo_fail(err, CLIPPO_E_ARG, "--text-pair-fraction needs --text-pairs");
    return CLIPPO_OK;
  }
  if (o->text_pair_fraction == 0.0) return CLIPPO_OK; /* co-training off: the pairs unused */
  char langs[CLIPPO_TRAIN_PATH];
  if (!clippo_text_pairs_builtin(o->text_pairs, langs, sizeof langs))
    return clippo_dataset_open_text_pairs(o->text_pairs, 0, &tr->pairs, err);
  if (!o->captions[0]) /* the program fills in its installed configs/fmnist_captions.json */
    return clippo_fail(err, CLIPPO_E_ARG, "--text-pairs %s needs caption templates (--captions F)",
                       o->text_pairs);
  return clippo_dataset_open_caption_pairs(o->captions, langs, &tr->pairs, err);
}

/* The text/text share of the batch (tr->P) and whether both streams can fill it without
 * repeating an item within a batch; adds the co-training line to the notice. */
static clippo_status mix_sizes(trainer *tr, size_t n, clippo_train_result *res, clippo_error *err) {
  const double f = isnan(tr->o->text_pair_fraction) ? 0.25 : tr->o->text_pair_fraction;
  const size_t np = clippo_dataset_size(tr->pairs);
  tr->P = clippo_mix_text_count(tr->Bg, f);
  if (tr->P == 0)
    return clippo_fail(err, CLIPPO_E_ARG,
                       "--text-pair-fraction %g of a batch of %zu is no pair (round(%g) = 0)", f,
                       tr->Bg, f * (double)tr->Bg);
  if (tr->P > np)
    return clippo_fail(err, CLIPPO_E_ARG, "%zu text/text pairs per batch from %zu text pairs",
                       tr->P, np);
  if (tr->Bg - tr->P > n)
    return clippo_fail(err, CLIPPO_E_ARG, "%zu image-caption pairs per batch from %zu examples",
                       tr->Bg - tr->P, n);
  char line[CLIPPO_TRAIN_PATH + 256];
  snprintf(line, sizeof line, "text/text co-training: %zu of the %zu pairs of every batch from %s",
           tr->P, tr->Bg, clippo_dataset_describe(tr->pairs));
  append_notice(res, line);
  return CLIPPO_OK;
}

/* Steps of one epoch: a pass over the image-caption pairs (over the text pairs when a batch has
 * no image). */
static int64_t epoch_steps(const trainer *tr, size_t n) {
  size_t per = tr->Bg - tr->P, count = n;
  if (per == 0) {
    per = tr->P;
    count = clippo_dataset_size(tr->pairs);
  }
  return (int64_t)((count + per - 1) / per);
}

/* Moves the text-pair stream to where the checkpoint's train_state (json) left it; a checkpoint
 * trained without text pairs starts the stream at its beginning. */
static clippo_status resume_pairs(trainer *tr, const char *json, clippo_error *err) {
  if (!tr->pairs) return CLIPPO_OK;
  cJSON *root = json ? cJSON_Parse(json) : NULL;
  const cJSON *e = cJSON_GetObjectItemCaseSensitive(root, "pairs_epoch");
  const cJSON *p = cJSON_GetObjectItemCaseSensitive(root, "pairs_pos");
  clippo_status st = CLIPPO_OK;
  if (cJSON_IsNumber(e) && cJSON_IsNumber(p) && e->valuedouble >= 0 && p->valuedouble >= 0)
    st = clippo_sampler_seek(&tr->pair_sampler, (uint64_t)e->valuedouble, (uint64_t)p->valuedouble,
                             err);
  else if (e || p)
    st =
        clippo_fail(err, CLIPPO_E_FORMAT, "%s: the text-pair position is not valid", tr->o->resume);
  cJSON_Delete(root);
  return st;
}

/* Where both data streams stand (to go back to when a step is abandoned). */
typedef struct data_mark {
  uint64_t epoch, pos, pair_epoch, pair_pos;
} data_mark;

static data_mark mark_data(const trainer *tr) {
  data_mark m = {tr->sampler.epoch, tr->sampler.pos, tr->pair_sampler.epoch, tr->pair_sampler.pos};
  return m;
}

static clippo_status rewind_data(trainer *tr, const data_mark *m, clippo_error *err) {
  if (tr->data) TRY(clippo_sampler_seek(&tr->sampler, m->epoch, m->pos, err));
  if (tr->pairs) TRY(clippo_sampler_seek(&tr->pair_sampler, m->pair_epoch, m->pair_pos, err));
  return CLIPPO_OK;
}

/* This rank's share of the next batch into tr->host_inputs, text pairs mixed in. */
static clippo_status fill_batch(trainer *tr, clippo_error *err) {
  if (!tr->pairs)
    return train_dist_fill(&tr->dist, tr->data, &tr->sampler, tr->font, tr->S, tr->host_inputs,
                           err);
  clippo_batch_mix mix = {
      tr->data, tr->data ? &tr->sampler : NULL, tr->pairs, &tr->pair_sampler, tr->Bg, tr->P};
  const size_t lo = (size_t)clippo_dist_rank(tr->o->dist) * tr->B;
  return clippo_batch_fill_mixed(&mix, tr->font, tr->S, lo, tr->B, tr->host_inputs, NULL, NULL,
                                 err);
}

static clippo_status setup(trainer *tr, clippo_train_result *res, clippo_error *err) {
  const clippo_train_opts *o = tr->o;
  tr->saved_step = -1;
  tr->writer = clippo_dist_rank(o->dist) == 0;
  if (tr->writer) {
    TRY(clippo_train_check_output_dir(o->save, "checkpoint", err));
    TRY(clippo_train_check_output_dir(o->log, "metrics log", err));
    TRY(clippo_train_check_output_dir(o->plot, "loss plot", err));
  }
  char device[sizeof o->device]; /* this rank's item of a list of devices */
  TRY(clippo_dist_device(o->dist, o->device, device, sizeof device, err));
  TRY(clippo_rt_create(&tr->rt, device[0] ? device : NULL, err));
  size_t k = 0;
  for (const char *c = tr->rt->info.name; *c && k + 1 < sizeof tr->device_name; c++)
    if (*c != '"' && *c != '\\' && (unsigned char)*c >= 0x20) tr->device_name[k++] = *c;
  tr->device_name[k] = '\0';
  clippo_checkpoint ck;
  memset(&ck, 0, sizeof ck);
  clippo_status st = load_params(tr, &ck, err);
  if (st == CLIPPO_OK) {
    tr->cfg = ck.cfg;
    st = clippo_model_create(tr->rt, &ck.cfg, &ck.params, &tr->m, err);
  }
  /* the font: given, else the environment / system default */
  const char *fonts[CLIPPO_TRAIN_MAX_FONTS];
  for (size_t i = 0; i < o->nfonts; i++) fonts[i] = o->fonts[i];
  if (st == CLIPPO_OK) st = clippo_font_load(&tr->font, fonts, o->nfonts, err);
  if (st == CLIPPO_OK) {
    const char *id = clippo_font_identity(tr->font);
    if (tr->cfg.font[0] && strcmp(tr->cfg.font, id))
      snprintf(res->notice, sizeof res->notice,
               "the model was trained with font '%s', this run renders with '%s'", tr->cfg.font,
               id);
    snprintf(tr->cfg.font, sizeof tr->cfg.font, "%s", id);
  }
  if (st == CLIPPO_OK) st = open_data(tr, err);
  if (st == CLIPPO_OK) st = open_pairs(tr, err);
  size_t n = st == CLIPPO_OK && tr->data ? clippo_dataset_size(tr->data) : 0;
  if (st == CLIPPO_OK) {
    tr->B = tr->Bg = o->batch_size ? o->batch_size : (o->images[0] ? n : 32);
    tr->K = (size_t)(o->accumulate > 0 ? o->accumulate : 1);
    if (o->accumulate > CLIPPO_TRAIN_MAX_ACCUMULATE)
      st = clippo_fail(err, CLIPPO_E_ARG, "--accumulate %d: at most %d micro-batches",
                       o->accumulate, CLIPPO_TRAIN_MAX_ACCUMULATE);
    else if (tr->pairs)
      st = mix_sizes(tr, n, res, err);
    else if (tr->B > n)
      st = clippo_fail(err, CLIPPO_E_ARG, "batch of %zu pairs from %zu examples", tr->B, n);
    if (st == CLIPPO_OK) /* the global batch Bg splits into this rank's share B */
      st = train_dist_setup(&tr->dist, tr->rt, o->dist, tr->Bg,
                            clippo_model_output_dim(tr->m, CLIPPO_EMBED_Z), &tr->B, err);
    if (st == CLIPPO_OK && tr->B % tr->K)
      st = clippo_fail(err, CLIPPO_E_ARG, "batch %zu%s is not a multiple of --accumulate %zu",
                       tr->B, train_dist_active(&tr->dist) ? " (each rank's share)" : "", tr->K);
    tr->b = tr->B / tr->K;
    tr->total = o->steps > 0 ? o->steps : (o->epochs > 0 ? o->epochs : 1) * epoch_steps(tr, n);
  }
  int shuffle = o->shuffle >= 0 ? o->shuffle : !o->images[0];
  if (st == CLIPPO_OK && tr->data)
    st = clippo_sampler_init(&tr->sampler, tr->data, o->seed, shuffle, o->balanced, err);
  if (st == CLIPPO_OK && tr->pairs) /* a seed of its own: not the images' order */
    st = clippo_sampler_init(&tr->pair_sampler, tr->pairs, clippo_hash3(o->seed, 0x7E47, 0x9A125),
                             shuffle, 0, err);
  char fit_note[512] = "";
  if (st == CLIPPO_OK)
    st = clippo_train_opt_config_fitted(o, tr->total, &tr->ocfg, fit_note, sizeof fit_note, err);
  if (fit_note[0]) append_notice(res, fit_note);
  /* parameters, gradients, the temperature */
  if (st == CLIPPO_OK) {
    tr->nparams = clippo_model_param_count(tr->m);
    tr->names = calloc(tr->nparams, sizeof *tr->names);
    tr->params = calloc(tr->nparams, sizeof *tr->params);
    tr->grads = calloc(tr->nparams, sizeof *tr->grads);
    if (!tr->names || !tr->params || !tr->grads)
      st = clippo_fail(err, CLIPPO_E_NOMEM, "out of memory");
    tr->t_index = (size_t)-1;
    for (size_t i = 0; st == CLIPPO_OK && i < tr->nparams; i++) {
      tr->params[i] = clippo_model_param(tr->m, i, &tr->names[i]);
      tr->grads[i] = clippo_model_grad(tr->m, i);
      if (!tr->params[i] || !tr->grads[i])
        st = clippo_fail(err, CLIPPO_E_ARG, "the model has no gradient for parameter %zu", i);
      else if (!strcmp(tr->names[i], "t"))
        tr->t_index = i;
    }
    if (st == CLIPPO_OK && tr->t_index == (size_t)-1)
      st = clippo_fail(err, CLIPPO_E_FORMAT, "the model has no temperature parameter 't'");
  }
  if (st == CLIPPO_OK)
    st = clippo_optimizer_create(tr->rt, &tr->ocfg, tr->nparams, tr->names, tr->params, &tr->opt,
                                 err);
  /* resume: optimizer state, step, data position, loss history */
  if (st == CLIPPO_OK && o->resume[0]) {
    uint64_t epoch = 0, pos = 0, seed = 0;
    char kind[32], dev[200];
    st = parse_state(o->resume, clippo_checkpoint_get_attr(&ck, "train_state"), &epoch, &pos, &seed,
                     kind, sizeof kind, dev, sizeof dev, err);
    if (st == CLIPPO_OK && dev[0] && strcmp(dev, tr->device_name)) {
      char note[512];
      snprintf(note, sizeof note,
               "resuming on %s, the run was on %s: the numbers will differ in the last bits",
               tr->device_name, dev);
      append_notice(res, note);
    }
    if (st == CLIPPO_OK && strcmp(kind, clippo_opt_name(tr->ocfg.kind)))
      st = clippo_fail(err, CLIPPO_E_ARG, "%s was trained with %s, this run uses %s", o->resume,
                       kind, clippo_opt_name(tr->ocfg.kind));
    if (st == CLIPPO_OK && seed != o->seed)
      st = clippo_fail(err, CLIPPO_E_ARG, "%s was trained with seed %" PRIu64 ", not %" PRIu64,
                       o->resume, seed, o->seed);
    if (st == CLIPPO_OK) st = clippo_optimizer_import(tr->opt, &ck.opt, err);
    if (st == CLIPPO_OK && tr->data) st = clippo_sampler_seek(&tr->sampler, epoch, pos, err);
    if (st == CLIPPO_OK) st = resume_pairs(tr, clippo_checkpoint_get_attr(&ck, "train_state"), err);
    tr->step = ck.step > 0 ? ck.step : 0;
    if (st == CLIPPO_OK && clippo_optimizer_count(tr->opt) != tr->step)
      st = clippo_fail(err, CLIPPO_E_FORMAT, "%s: step %" PRId64 " but optimizer count %" PRId64,
                       o->resume, tr->step, clippo_optimizer_count(tr->opt));
    if (st == CLIPPO_OK) st = clippo_loss_history_load(&tr->losses, &ck.opt, err);
    if (st != CLIPPO_OK) clippo_error_prefix(err, "resuming from %s", o->resume);
  }
  clippo_checkpoint_free(&ck);
  if (st != CLIPPO_OK) return st;
  /* device buffers */
  tr->S = tr->cfg.image_size;
  tr->D = clippo_model_output_dim(tr->m, CLIPPO_EMBED_Z);
  tr->slot = (size_t)tr->S * (size_t)tr->S * 3;
  tr->host_inputs = malloc(2 * tr->B * tr->slot * sizeof(float));
  if (!tr->host_inputs) return clippo_fail(err, CLIPPO_E_NOMEM, "out of host memory for the batch");
  int64_t ishape[4] = {(int64_t)(2 * tr->B), tr->S, tr->S, 3};
  TRY(clippo_tensor_alloc(tr->rt, &tr->inputs, CLIPPO_F32, 4, ishape, err));
  if (tr->K > 1) {
    ishape[0] = (int64_t)(2 * tr->b);
    TRY(clippo_tensor_alloc(tr->rt, &tr->micro, CLIPPO_F32, 4, ishape, err));
    TRY(alloc_f32(tr->rt, &tr->zmicro, 2 * tr->b, tr->D, err));
    TRY(alloc_f32(tr->rt, &tr->dzmicro, 2 * tr->b, tr->D, err));
  }
  TRY(alloc_f32(tr->rt, &tr->Z, 2 * tr->B, tr->D, err));
  TRY(alloc_f32(tr->rt, &tr->dZ, 2 * tr->B, tr->D, err));
  if (!train_dist_active(&tr->dist)) TRY(clippo_loss_ws_alloc(tr->rt, tr->B, &tr->lws, err));
  TRY(clippo_train_opts_to_json(o, &tr->opts_json, err));
  if (tr->writer && o->log[0] && o->resume[0]) TRY(trim_log(tr, o->log, err));
  if (tr->writer && o->log[0]) {
    tr->log = fopen(o->log, o->resume[0] ? "a" : "w");
    if (!tr->log)
      return clippo_fail(err, CLIPPO_E_IO, "cannot open metrics log %s: %s", o->log,
                         strerror(errno));
  }
  char line[512], ranks[96] = "";
  if (train_dist_active(&tr->dist))
    snprintf(ranks, sizeof ranks, " = %d ranks x %zu", tr->dist.size, tr->B);
  snprintf(line, sizeof line, "%s; %s on %s; batch %zu%s%s, %" PRId64 " steps",
           clippo_dataset_describe(tr->data), clippo_opt_name(tr->ocfg.kind), tr->rt->info.name,
           tr->Bg, ranks, tr->K > 1 ? " (accumulated)" : "", tr->total);
  append_notice(res, line);
  return CLIPPO_OK;
}

static void teardown(trainer *tr) {
  if (tr->log) fclose(tr->log);
  train_dist_release(&tr->dist, tr->rt);
  clippo_loss_ws_release(tr->rt, &tr->lws);
  clippo_tensor_release(tr->rt, &tr->inputs);
  clippo_tensor_release(tr->rt, &tr->micro);
  clippo_tensor_release(tr->rt, &tr->Z);
  clippo_tensor_release(tr->rt, &tr->dZ);
  clippo_tensor_release(tr->rt, &tr->zmicro);
  clippo_tensor_release(tr->rt, &tr->dzmicro);
  clippo_optimizer_free(tr->opt);
  free(tr->names);
  free(tr->params);
  free(tr->grads);
  free(tr->host_inputs);
  clippo_loss_history_free(&tr->losses);
  free(tr->opts_json);
  clippo_sampler_free(&tr->sampler);
  clippo_dataset_free(tr->data);
  clippo_sampler_free(&tr->pair_sampler);
  clippo_dataset_free(tr->pairs);
  clippo_font_free(tr->font);
  clippo_model_free(tr->m);
  clippo_rt_destroy(tr->rt);
}

/* ---- one step ------------------------------------------------------------------------------ */

/* Copies the micro-batch k of the inputs (its images and its captions) into tr->micro. */
static clippo_status gather_inputs(trainer *tr, size_t k, clippo_error *err) {
  int64_t shape[1] = {(int64_t)(tr->b * tr->slot)};
  for (int half = 0; half < 2; half++) {
    size_t src0 = ((size_t)half * tr->B + k * tr->b) * tr->slot;
    clippo_tensor src = clippo_tensor_view(&tr->inputs, src0, 1, shape);
    clippo_tensor dst = clippo_tensor_view(&tr->micro, (size_t)half * tr->b * tr->slot, 1, shape);
    TRY(clippo_op_copy(tr->rt, &src, &dst, err));
  }
  return CLIPPO_OK;
}

/* Moves rows between a (2b, D) micro tensor and the micro-batch k rows of a (2B, D) tensor. */
static clippo_status move_rows(trainer *tr, size_t k, const clippo_tensor *full,
                               const clippo_tensor *micro, int to_full, clippo_error *err) {
  for (int half = 0; half < 2; half++) {
    clippo_tensor f = rows(full, (size_t)half * tr->B + k * tr->b, tr->b, tr->D);
    clippo_tensor m = rows(micro, (size_t)half * tr->b, tr->b, tr->D);
    TRY(to_full ? clippo_op_copy(tr->rt, &m, &f, err) : clippo_op_copy(tr->rt, &f, &m, err));
  }
  return CLIPPO_OK;
}

/* Forward of count inputs into dst (2-D, count x D): the model may write dst or hand back its own
 * tensor, which is then copied. */
static clippo_status forward_into(trainer *tr, const clippo_tensor *in, size_t count,
                                  clippo_tensor *dst, clippo_error *err) {
  clippo_tensor z = *dst;
  TRY(clippo_model_train_forward(tr->m, in, count, &z, err));
  if (z.mem != dst->mem || z.offset != dst->offset) TRY(clippo_op_copy(tr->rt, &z, dst, err));
  return CLIPPO_OK;
}

/* 1 when the caller asks the run to stop (polled between the phases of a step). The ranks of a
 * data-parallel run decide together, between steps only (stop_now). */
static int stop_asked(const trainer *tr) {
  if (train_dist_active(&tr->dist)) return 0;
  return tr->o->should_stop && tr->o->should_stop(tr->o->stop_user);
}

/* *stop = 1 when the caller asks the run to stop, on any rank (between steps). */
static clippo_status stop_now(trainer *tr, int *stop, clippo_error *err) {
  int mine = tr->o->should_stop && tr->o->should_stop(tr->o->stop_user);
  return train_dist_any(&tr->dist, mine, stop, err);
}

/* The next batch on the device, the gradients zeroed; *t gets the temperature. */
static clippo_status prepare_batch(trainer *tr, double *t_used, clippo_error *err) {
  TRY(fill_batch(tr, err));
  TRY(clippo_tensor_write(tr->rt, &tr->inputs, tr->host_inputs, err));
  TRY(clippo_model_zero_grads(tr->m, err));
  float t = 0.0f;
  TRY(clippo_tensor_read(tr->rt, tr->params[tr->t_index], &t, err));
  *t_used = t;
  return CLIPPO_OK;
}

/* The embeddings of the whole batch into tr->Z (micro-batch by micro-batch; *stop set and the
 * rest skipped when a stop is asked for in between). */
static clippo_status forward_all(trainer *tr, int *stop, clippo_error *err) {
  if (tr->K == 1) return forward_into(tr, &tr->inputs, 2 * tr->B, &tr->Z, err);
  for (size_t k = 0; k < tr->K; k++) {
    if (k > 0 && (*stop = stop_asked(tr))) return CLIPPO_OK;
    TRY(gather_inputs(tr, k, err));
    TRY(forward_into(tr, &tr->micro, 2 * tr->b, &tr->zmicro, err));
    TRY(move_rows(tr, k, &tr->Z, &tr->zmicro, 1, err));
  }
  return CLIPPO_OK;
}

/* The loss over the whole batch and dL/dZ into tr->dZ; *dt gets dL/dt. */
static clippo_status batch_loss(trainer *tr, double t, double *loss, double *dt,
                                clippo_error *err) {
  const size_t B = tr->B, D = tr->D;
  clippo_tensor zi = rows(&tr->Z, 0, B, D), zt = rows(&tr->Z, B, B, D);
  clippo_tensor gi = rows(&tr->dZ, 0, B, D), gt = rows(&tr->dZ, B, B, D);
  if (train_dist_active(&tr->dist)) /* over the global batch: every rank's embeddings */
    TRY(train_dist_loss(&tr->dist, tr->rt, &tr->Z, (float)t, &tr->dZ, loss, dt, err));
  else
    TRY(clippo_contrastive_loss(tr->rt, &zi, &zt, (float)t, &tr->lws, &gi, &gt, loss, dt, err));
  if (!isfinite(*loss) || !isfinite(*dt))
    return clippo_fail(err, CLIPPO_E_NUMERIC, "step %" PRId64 ": the loss is %g", tr->step + 1,
                       *loss);
  return CLIPPO_OK;
}

/* The parameter gradients from tr->dZ (each micro-batch runs forward again, keeping its
 * activations), plus the temperature's dt; *stop as for forward_all. */
static clippo_status backward_all(trainer *tr, double dt, int *stop, clippo_error *err) {
  if (tr->K == 1) {
    TRY(clippo_model_backward(tr->m, &tr->dZ, err));
  } else {
    for (size_t k = 0; k < tr->K; k++) {
      if (k > 0 && (*stop = stop_asked(tr))) return CLIPPO_OK;
      TRY(gather_inputs(tr, k, err));
      TRY(forward_into(tr, &tr->micro, 2 * tr->b, &tr->zmicro, err));
      TRY(move_rows(tr, k, &tr->dZ, &tr->dzmicro, 0, err));
      TRY(clippo_model_backward(tr->m, &tr->dzmicro, err));
    }
  }
  /* the temperature is outside the tower: its gradient comes from the loss alone */
  float g = 0.0f;
  TRY(clippo_tensor_read(tr->rt, tr->grads[tr->t_index], &g, err));
  g += (float)dt;
  return clippo_tensor_write(tr->rt, tr->grads[tr->t_index], &g, err);
}

/* One training step. When a stop is asked for before the optimizer touches the parameters, the
 * step is abandoned: *abandoned is set and the data position goes back to where the step began,
 * so that the state is exactly that of the last finished step. */
static clippo_status train_step(trainer *tr, double *loss, double *t_used, clippo_opt_stats *os,
                                int *abandoned, clippo_error *err) {
  const data_mark mark = mark_data(tr);
  double dt = 0.0;
  int stop = 0;
  *abandoned = 0;
  TRY(prepare_batch(tr, t_used, err));
  if (!(stop = stop_asked(tr))) TRY(forward_all(tr, &stop, err));
  if (!stop && !(stop = stop_asked(tr))) TRY(batch_loss(tr, *t_used, loss, &dt, err));
  if (!stop && !(stop = stop_asked(tr))) TRY(backward_all(tr, dt, &stop, err));
  if (!stop && !(stop = stop_asked(tr))) {
    TRY(train_dist_reduce(&tr->dist, tr->rt, tr->grads, tr->nparams, err)); /* summed over ranks */
    return clippo_optimizer_step(tr->opt, tr->params, tr->grads, os, err);
  }
  *abandoned = 1;
  return rewind_data(tr, &mark, err);
}

static void log_step(trainer *tr, double loss, double t, const clippo_opt_stats *os, double pps,
                     double elapsed) {
  if (!tr->log) return;
  fprintf(tr->log,
          "{\"step\": %" PRId64 ", \"epoch\": %" PRIu64 ", \"loss\": %.9g, \"lr\": %.9g, "
          "\"sched\": %.9g, \"t\": %.9g, \"logit_scale\": %.9g, \"grad_norm\": %.9g, "
          "\"clipped\": %s, \"pairs_per_s\": %.6g, \"time_s\": %.3f}\n",
          tr->step, tr->sampler.epoch, loss, os->lr, os->sched, t, exp(t), os->grad_norm,
          os->clipped ? "true" : "false", pps, tr->time_offset + elapsed);
  fflush(tr->log);
}

static void default_plot_path(const clippo_train_opts *o, char *out, size_t cap) {
  out[0] = '\0';
  if (o->plot[0]) {
    snprintf(out, cap, "%s", o->plot);
    return;
  }
  if (!o->save[0]) return;
  const char *dot = strrchr(o->save, '.'), *slash = strrchr(o->save, '/');
  size_t n = dot && (!slash || dot > slash) ? (size_t)(dot - o->save) : strlen(o->save);
  snprintf(out, cap, "%.*s.loss.svg", (int)n, o->save);
}

/* The progress callback's arguments; NULL fn: nothing. */
typedef struct progress_sink {
  clippo_train_progress_fn fn;
  void *user;
} progress_sink;

static void report(const progress_sink *ps, const clippo_train_progress *p) {
  if (ps->fn) ps->fn(p, ps->user);
}

/* Runs step tr->step + 1 and everything after it: metrics line, checkpoint, progress. *stopped
 * is set (and nothing else done) when the step was abandoned for a stop. */
static clippo_status run_step(trainer *tr, int64_t first, int64_t last, double t0,
                              clippo_train_result *res, const progress_sink *ps, int *stopped,
                              clippo_error *err) {
  const clippo_train_opts *o = tr->o;
  double ts = now_s(), loss = 0.0, t = 0.0;
  clippo_opt_stats os;
  memset(&os, 0, sizeof os);
  clippo_status st = train_step(tr, &loss, &t, &os, stopped, err);
  if (st == CLIPPO_E_NUMERIC)
    clippo_error_prefix(err, "stopped%s%s%s", tr->last_ckpt[0] ? " (last checkpoint: " : "",
                        tr->last_ckpt, tr->last_ckpt[0] ? ")" : " (no checkpoint written)");
  if (st != CLIPPO_OK || *stopped) return st;
  tr->step++;
  TRY(clippo_loss_history_push(&tr->losses, (float)loss, err));
  if (tr->step - first == 1) res->first_loss = loss;
  res->last_loss = loss;
  double te = now_s(), elapsed = te - t0;
  double pps = (double)tr->Bg / fmax(te - ts, 1e-9);
  log_step(tr, loss, t, &os, pps, elapsed);
  int ck = 0;
  if (o->save[0] &&
      ((o->checkpoint_every > 0 && tr->step % o->checkpoint_every == 0) || tr->step == last)) {
    TRY(save_checkpoint(tr, o->save, err));
    ck = 1;
  }
  const int64_t every = o->dist_check_every > 0 ? o->dist_check_every : 100;
  if (!ck && (tr->step % every == 0 || tr->step == last)) { /* ranks still in step? */
    char when[64];
    snprintf(when, sizeof when, "after step %" PRId64, tr->step);
    TRY(train_dist_check(&tr->dist, tr->rt, tr->params, tr->nparams, when, err));
  }
  clippo_train_progress p;
  memset(&p, 0, sizeof p);
  p.step = tr->step;
  p.total = tr->total;
  p.epoch = tr->sampler.epoch;
  p.loss = loss;
  p.t = t;
  p.lr = os.lr;
  p.grad_norm = os.grad_norm;
  p.pairs_per_s = pps;
  p.elapsed_s = elapsed;
  p.eta_s = elapsed / (double)(tr->step - first) * (double)(last - tr->step);
  p.checkpointed = ck;
  report(ps, &p);
  return CLIPPO_OK;
}

/* After a stop: says so, then writes the checkpoint of the last finished step unless it is
 * already written or this call ran no step (a resumed run's checkpoint is then its state). */
static clippo_status stop_run(trainer *tr, int64_t first, const progress_sink *ps,
                              clippo_error *err) {
  clippo_train_progress p;
  memset(&p, 0, sizeof p);
  p.step = tr->step;
  p.total = tr->total;
  p.epoch = tr->sampler.epoch;
  p.stopping = 1;
  report(ps, &p);
  if (!tr->o->save[0] || tr->step == first || tr->saved_step == tr->step) return CLIPPO_OK;
  return save_checkpoint(tr, tr->o->save, err);
}

/* The loss curve, when there is one and a path for it (a failure to write it is not the run's). */
static void write_plot(const trainer *tr, clippo_train_result *res) {
  char plot[CLIPPO_TRAIN_PATH];
  default_plot_path(tr->o, plot, sizeof plot);
  if (!plot[0] || tr->losses.n == 0) return;
  if (!tr->writer) { /* rank 0 writes it */
    snprintf(res->plot, sizeof res->plot, "%s", plot);
    return;
  }
  char title[128];
  snprintf(title, sizeof title, "contrastive loss (%s, batch %zu)", clippo_opt_name(tr->ocfg.kind),
           tr->Bg);
  clippo_error perr;
  if (clippo_train_plot_svg(plot, tr->losses.loss, tr->losses.n, title, &perr) == CLIPPO_OK)
    snprintf(res->plot, sizeof res->plot, "%s", plot);
}

clippo_status clippo_train_run(const clippo_train_opts *o, clippo_train_progress_fn fn, void *user,
                               clippo_train_result *res, clippo_error *err) {
  clippo_train_result dummy;
  if (!res) res = &dummy;
  memset(res, 0, sizeof *res);
  trainer tr;
  memset(&tr, 0, sizeof tr);
  tr.o = o;
  const progress_sink ps = {fn, user};
  clippo_status st = setup(&tr, res, err);
  /* the ranks of a data-parallel run go on together or not at all (one cannot open its device:
   * every rank stops with its error), from the same parameters (the same files everywhere) */
  st = clippo_dist_agree(o->dist, st, NULL, err);
  if (st == CLIPPO_OK)
    st = train_dist_check(&tr.dist, tr.rt, tr.params, tr.nparams, "at the start", err);
  const int64_t first = tr.step;
  if (st == CLIPPO_OK) {
    clippo_train_progress p;
    memset(&p, 0, sizeof p);
    p.step = tr.step;
    p.total = tr.total;
    p.message = res->notice;
    report(&ps, &p);
  }
  const int64_t last = o->stop_at > 0 && o->stop_at < tr.total ? o->stop_at : tr.total;
  const double t0 = now_s();
  int stopped = 0;
  while (st == CLIPPO_OK && !stopped && tr.step < last) {
    st = stop_now(&tr, &stopped, err);
    if (st == CLIPPO_OK && !stopped) st = run_step(&tr, first, last, t0, res, &ps, &stopped, err);
  }
  if (st == CLIPPO_OK && stopped) st = stop_run(&tr, first, &ps, err);
  res->steps_done = tr.step - first;
  res->step = tr.step;
  res->total = tr.total;
  res->stopped = stopped;
  snprintf(res->saved, sizeof res->saved, "%s", tr.last_ckpt);
  res->comm_s = tr.dist.comm_s;
  if (st == CLIPPO_OK || st == CLIPPO_E_NUMERIC) write_plot(&tr, res);
  teardown(&tr);
  return st;
}
