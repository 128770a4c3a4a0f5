/* `clippo finetune` (clippo/finetune.h): a task head on the tower's pre-logits, trained with the
 * tower (or on a frozen tower) by the optimizer chain of `clippo train`.
 *
 * One step: B labelled examples in the order of a seeded per-epoch permutation are rendered into
 * input images; the tower's training forward gives their pre-logits (the inference forward when
 * frozen); the head's logits go to the host for the loss (cross-entropy or squared error) and
 * dL/dlogits comes back; the head's backward gives its gradients and dL/dpre, the tower's
 * backward the rest; one optimizer update of the head and the trained tower parameters (not the
 * tower's contrastive head nor its temperature, which the task does not use). Checkpoints hold
 * everything needed to resume exactly: parameters, head, optimizer state, step and data
 * position. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "clippo/checkpoint.h"
#include "clippo/ops.h"
#include "finetune_internal.h"

#define TRY(x)                                                                                     \
  do {                                                                                             \
    clippo_status st_ = (x);                                                                       \
    if (st_ != CLIPPO_OK) return st_;                                                              \
  } while (0)

void clippo_finetune_opts_default(clippo_finetune_opts *o) {
  memset(o, 0, sizeof *o);
  clippo_train_opts_default(&o->run);
  o->run.optimizer = CLIPPO_OPT_ADAMW;
  o->run.weight_decay = 1e-4;
  o->run.clip_norm = 1.0;
  snprintf(o->run.schedule, sizeof o->run.schedule, "cosine");
  o->run.epochs = 3;
  o->run.batch_size = 32;
}

/* ---- the run's state ----------------------------------------------------------------------- */

typedef struct finetuner {
  const clippo_finetune_opts *o;
  const clippo_task_set *ts;
  clippo_rt *rt;
  clippo_model *m;
  clippo_config cfg;
  clippo_font *font;
  size_t W, C, B, S, slot; /* pre-logits width, head outputs, batch, image size, floats/input */
  clippo_tensor head_k, head_b, g_head_k, g_head_b;
  clippo_tensor inputs, pre, logits, dlogits, dpre, ws;
  float *host_in, *host_pre, *host_logits, *host_dlogits;
  int *labels;
  double *scores;
  /* trained parameters: the tower's (unless frozen), then the head */
  size_t np;
  const char **names;
  clippo_tensor **params, **grads;
  clippo_optimizer *opt;
  clippo_opt_config ocfg;
  /* data order: permutations of the labelled examples */
  size_t *labelled, nlab, *order;
  uint64_t epoch, pos;
  int64_t step, total, saved_step;
  clippo_loss_history losses;
  FILE *log;
  char *opts_json, *ft_json;
  double t0;
} finetuner;

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void append_notice(clippo_finetune_result *res, const char *line) {
  size_t l = strlen(res->notice);
  snprintf(res->notice + l, sizeof res->notice - l, "%s%s", l ? "\n" : "", line);
}

/* ---- data order ------------------------------------------------------------------------------ */

static uint64_t splitmix(uint64_t *x) {
  uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

/* The permutation of epoch ft->epoch (Fisher-Yates from (seed, epoch)). */
static void make_order(finetuner *ft) {
  memcpy(ft->order, ft->labelled, ft->nlab * sizeof *ft->order);
  uint64_t x = clippo_hash3(ft->o->run.seed, ft->epoch, 0xF17E);
  for (size_t i = ft->nlab; i > 1; i--) {
    size_t j = (size_t)(splitmix(&x) % i);
    size_t t = ft->order[i - 1];
    ft->order[i - 1] = ft->order[j];
    ft->order[j] = t;
  }
}

static size_t next_example(finetuner *ft) {
  if (ft->pos >= ft->nlab) {
    ft->epoch++;
    ft->pos = 0;
    make_order(ft);
  }
  return ft->order[ft->pos++];
}

/* ---- setup -------------------------------------------------------------------------------------
 */

static clippo_status alloc2(clippo_rt *rt, clippo_tensor *t, size_t r, size_t c,
                            clippo_error *err) {
  int64_t shape[2] = {(int64_t)r, (int64_t)c};
  return clippo_tensor_alloc(rt, t, CLIPPO_F32, 2, shape, err);
}

static clippo_status alloc1(clippo_rt *rt, clippo_tensor *t, size_t n, clippo_error *err) {
  int64_t shape[1] = {(int64_t)n};
  return clippo_tensor_alloc(rt, t, CLIPPO_F32, 1, shape, err);
}

/* The checkpoint the run starts from: resume, init, or a fresh tower. */
static clippo_status load_start(finetuner *ft, clippo_checkpoint *ck, clippo_finetune_result *res,
                                clippo_error *err) {
  const clippo_train_opts *r = &ft->o->run;
  if (r->resume[0]) return clippo_checkpoint_load(r->resume, ck, 1, err);
  if (r->init[0]) {
    TRY(clippo_checkpoint_load(r->init, ck, 0, err));
    if (ck->heads.count) {
      char line[CLIPPO_TRAIN_PATH + 96];
      snprintf(line, sizeof line, "%s: its task head is not used (a new head starts at zero)",
               r->init);
      append_notice(res, line);
    }
    clippo_params_free(&ck->heads);
    ck->step = -1;
    return CLIPPO_OK;
  }
  clippo_config cfg;
  TRY(clippo_train_model_config_in(r->model[0] ? r->model : "b16", ft->rt->settings.tmp_dir, &cfg,
                                   err));
  ck->cfg = cfg;
  ck->has_cfg = 1;
  ck->step = -1;
  return clippo_params_init(&ck->params, &cfg, r->init_seed, err);
}

/* The head's starting values: zero (big_vision's head_zeroinit), or the resumed ones. */
static clippo_status setup_head(finetuner *ft, const clippo_checkpoint *ck, clippo_error *err) {
  clippo_rt *rt = ft->rt;
  TRY(alloc2(rt, &ft->head_k, ft->W, ft->C, err));
  TRY(alloc1(rt, &ft->head_b, ft->C, err));
  TRY(alloc2(rt, &ft->g_head_k, ft->W, ft->C, err));
  TRY(alloc1(rt, &ft->g_head_b, ft->C, err));
  if (!ft->o->run.resume[0]) {
    TRY(clippo_tensor_fill(rt, &ft->head_k, 0.0f, err));
    return clippo_tensor_fill(rt, &ft->head_b, 0.0f, err);
  }
  const int64_t ks[2] = {(int64_t)ft->W, (int64_t)ft->C}, bs[1] = {(int64_t)ft->C};
  const float *k = clippo_params_get(&ck->heads, CLIPPO_HEAD_KERNEL, 2, ks, err);
  const float *b = k ? clippo_params_get(&ck->heads, CLIPPO_HEAD_BIAS, 1, bs, err) : NULL;
  if (!k || !b) return clippo_error_prefix(err, "%s: the task head", ft->o->run.resume);
  TRY(clippo_tensor_write(rt, &ft->head_k, k, err));
  return clippo_tensor_write(rt, &ft->head_b, b, err);
}

/* The parameters the optimizer updates: the tower's but its contrastive head and temperature
 * (none when frozen), then the task head. */
static clippo_status setup_params(finetuner *ft, clippo_error *err) {
  const size_t nm = clippo_model_param_count(ft->m);
  ft->names = calloc(nm + 2, sizeof *ft->names);
  ft->params = calloc(nm + 2, sizeof *ft->params);
  ft->grads = calloc(nm + 2, sizeof *ft->grads);
  if (!ft->names || !ft->params || !ft->grads)
    return clippo_fail(err, CLIPPO_E_NOMEM, "out of host memory");
  for (size_t i = 0; !ft->o->freeze && i < nm; i++) {
    const char *name = NULL;
    clippo_tensor *p = clippo_model_param(ft->m, i, &name);
    if (!strcmp(name, "t") || !strncmp(name, "img/head/", 9)) continue;
    clippo_tensor *g = clippo_model_grad(ft->m, i);
    if (!p || !g)
      return clippo_fail(err, CLIPPO_E_NOMEM, "no gradient for parameter %s (device memory)", name);
    ft->names[ft->np] = name;
    ft->params[ft->np] = p;
    ft->grads[ft->np++] = g;
  }
  ft->names[ft->np] = CLIPPO_HEAD_KERNEL;
  ft->params[ft->np] = &ft->head_k;
  ft->grads[ft->np++] = &ft->g_head_k;
  ft->names[ft->np] = CLIPPO_HEAD_BIAS;
  ft->params[ft->np] = &ft->head_b;
  ft->grads[ft->np++] = &ft->g_head_b;
  return clippo_optimizer_create(ft->rt, &ft->ocfg, ft->np, ft->names, ft->params, &ft->opt, err);
}

/* Checks that a resumed checkpoint was fine-tuned on the same task, layout, classes and
 * --freeze setting (before its head is read, whose shape follows from them). */
static clippo_status check_resume_task(const finetuner *ft, const clippo_checkpoint *ck,
                                       clippo_error *err) {
  const char *path = ft->o->run.resume;
  ft_task_info info;
  TRY(ft_attr_parse(path, clippo_checkpoint_get_attr(ck, FT_ATTR), &info, err));
  int same = !strcmp(info.task, clippo_task_set_task(ft->ts)) &&
             !strcmp(info.layout, clippo_task_set_layout(ft->ts)) &&
             info.nclasses == clippo_task_set_num_classes(ft->ts) && info.freeze == ft->o->freeze;
  for (size_t c = 0; same && c < info.nclasses; c++)
    same = !strcmp(info.classes[c], clippo_task_set_class(ft->ts, c));
  ft_task_info_free(&info);
  if (!same)
    return clippo_fail(err, CLIPPO_E_ARG,
                       "%s was fine-tuned on another task, layout, label set or --freeze setting "
                       "than %s",
                       path, clippo_task_set_describe(ft->ts));
  return CLIPPO_OK;
}

/* Restores a resumed run's optimizer, step, data position and loss history (after
 * check_resume_task). */
static clippo_status resume_state(finetuner *ft, const clippo_checkpoint *ck, clippo_error *err) {
  const char *path = ft->o->run.resume;
  cJSON *root = cJSON_Parse(clippo_checkpoint_get_attr(ck, "train_state"));
  const cJSON *e = cJSON_GetObjectItemCaseSensitive(root, "epoch");
  const cJSON *p = cJSON_GetObjectItemCaseSensitive(root, "pos");
  const cJSON *s = cJSON_GetObjectItemCaseSensitive(root, "seed");
  const cJSON *o = cJSON_GetObjectItemCaseSensitive(root, "optimizer");
  clippo_status st = CLIPPO_OK;
  if (!cJSON_IsNumber(e) || !cJSON_IsNumber(p) || !cJSON_IsString(s) || !cJSON_IsString(o) ||
      e->valuedouble < 0 || p->valuedouble < 0 || p->valuedouble > (double)ft->nlab)
    st = clippo_fail(err, CLIPPO_E_FORMAT, "%s: no valid training state", path);
  else if (strtoull(s->valuestring, NULL, 10) != ft->o->run.seed)
    st = clippo_fail(err, CLIPPO_E_ARG, "%s was fine-tuned with seed %s, not %" PRIu64, path,
                     s->valuestring, ft->o->run.seed);
  else if (strcmp(o->valuestring, clippo_opt_name(ft->ocfg.kind)))
    st = clippo_fail(err, CLIPPO_E_ARG, "%s was fine-tuned with %s, this run uses %s", path,
                     o->valuestring, clippo_opt_name(ft->ocfg.kind));
  if (!st) {
    ft->epoch = (uint64_t)e->valuedouble;
    ft->pos = (uint64_t)p->valuedouble;
  }
  cJSON_Delete(root);
  TRY(st);
  make_order(ft);
  TRY(clippo_optimizer_import(ft->opt, &ck->opt, err));
  ft->step = ck->step > 0 ? ck->step : 0;
  if (clippo_optimizer_count(ft->opt) != ft->step)
    return clippo_fail(err, CLIPPO_E_FORMAT, "%s: step %" PRId64 " but optimizer count %" PRId64,
                       path, ft->step, clippo_optimizer_count(ft->opt));
  return clippo_loss_history_load(&ft->losses, &ck->opt, err);
}

static clippo_status setup(finetuner *ft, clippo_finetune_result *res, clippo_error *err) {
  const clippo_finetune_opts *o = ft->o;
  const clippo_train_opts *r = &o->run;
  ft->ts = o->train_set;
  ft->saved_step = -1;
  if (!ft->ts) return clippo_fail(err, CLIPPO_E_ARG, "fine-tuning needs a training set");
  if (r->save[0] && strlen(r->save) > 4 && !strcmp(r->save + strlen(r->save) - 4, ".npz"))
    return clippo_fail(err, CLIPPO_E_ARG,
                       "%s: fine-tuned models are HDF5 checkpoints (.h5): an .npz cannot hold "
                       "the task description",
                       r->save);
  TRY(clippo_train_check_output_dir(r->save, "checkpoint", err));
  TRY(clippo_train_check_output_dir(r->log, "metrics log", err));
  /* the examples with a target */
  const size_t n = clippo_task_set_size(ft->ts);
  ft->labelled = malloc((n ? n : 1) * sizeof *ft->labelled);
  ft->order = malloc((n ? n : 1) * sizeof *ft->order);
  if (!ft->labelled || !ft->order) return clippo_fail(err, CLIPPO_E_NOMEM, "out of host memory");
  const int score = clippo_task_set_kind(ft->ts) == CLIPPO_TASK_SCORE;
  for (size_t i = 0; i < n; i++)
    if (score ? !isnan(clippo_task_set_score(ft->ts, i)) : clippo_task_set_label(ft->ts, i) >= 0)
      ft->labelled[ft->nlab++] = i;
  if (ft->nlab == 0)
    return clippo_fail(err, CLIPPO_E_ARG, "%s: no example has a label to train on",
                       clippo_task_set_describe(ft->ts));
  ft->C = clippo_task_set_outputs(ft->ts);
  if (!score && ft->C < 2)
    return clippo_fail(err, CLIPPO_E_ARG, "%s: %zu class(es): nothing to classify",
                       clippo_task_set_describe(ft->ts), ft->C);
  /* device, tower, font */
  TRY(clippo_rt_create(&ft->rt, r->device[0] ? r->device : NULL, err));
  clippo_checkpoint ck;
  memset(&ck, 0, sizeof ck);
  clippo_status st = load_start(ft, &ck, res, err);
  if (!st && o->image_size > 0 && o->image_size != ck.cfg.image_size) {
    if (r->resume[0])
      st = clippo_fail(err, CLIPPO_E_ARG, "%s is at image size %d, not %d", r->resume,
                       ck.cfg.image_size, o->image_size);
    else {
      char line[160];
      snprintf(line, sizeof line, "position embedding resampled from %d to %d px",
               ck.cfg.image_size, o->image_size);
      st = clippo_params_resample_posemb(&ck.params, &ck.cfg, o->image_size, err);
      if (!st) append_notice(res, line);
    }
  }
  if (!st) {
    ft->cfg = ck.cfg;
    st = clippo_model_create(ft->rt, &ck.cfg, &ck.params, &ft->m, err);
  }
  if (!st) st = clippo_model_set_train_output(ft->m, CLIPPO_EMBED_PRE_LOGITS, err);
  const char *fonts[CLIPPO_TRAIN_MAX_FONTS];
  for (size_t i = 0; i < r->nfonts; i++) fonts[i] = r->fonts[i];
  if (!st) st = clippo_font_load(&ft->font, fonts, r->nfonts, err);
  if (!st) {
    const char *id = clippo_font_identity(ft->font);
    if (ft->cfg.font[0] && strcmp(ft->cfg.font, id)) {
      char line[700];
      snprintf(line, sizeof line,
               "the model was trained with font '%s', this run renders with '%s'", ft->cfg.font,
               id);
      append_notice(res, line);
    }
    snprintf(ft->cfg.font, sizeof ft->cfg.font, "%s", id);
  }
  if (!st) {
    ft->W = clippo_model_output_dim(ft->m, CLIPPO_EMBED_PRE_LOGITS);
    ft->S = (size_t)ft->cfg.image_size;
    ft->slot = ft->S * ft->S * 3;
    ft->B = r->batch_size ? r->batch_size : 32;
    if (ft->B > ft->nlab) ft->B = ft->nlab;
    const int64_t per_epoch = (int64_t)((ft->nlab + ft->B - 1) / ft->B);
    ft->total = r->steps > 0 ? r->steps : (r->epochs > 0 ? r->epochs : 1) * per_epoch;
    /* the learning rate when not given: smaller for a trained tower than for a fresh one */
    clippo_train_opts tmp = *r;
    if (isnan(tmp.lr)) tmp.lr = (r->init[0] || r->resume[0]) ? 1e-4 : 1e-3;
    char note[512] = "";
    st = clippo_train_opt_config_fitted(&tmp, ft->total, &ft->ocfg, note, sizeof note, err);
    if (note[0]) append_notice(res, note);
  }
  if (!st && r->resume[0]) st = check_resume_task(ft, &ck, err);
  if (!st) st = setup_head(ft, &ck, err);
  if (!st) st = setup_params(ft, err);
  if (!st) make_order(ft);
  if (!st && r->resume[0]) st = resume_state(ft, &ck, err);
  if (st && r->resume[0]) clippo_error_prefix(err, "resuming from %s", r->resume);
  clippo_checkpoint_free(&ck);
  TRY(st);
  /* buffers */
  ft->host_in = malloc(ft->B * ft->slot * sizeof *ft->host_in);
  ft->host_pre = malloc(ft->B * ft->W * sizeof *ft->host_pre);
  ft->host_logits = malloc(ft->B * ft->C * sizeof *ft->host_logits);
  ft->host_dlogits = malloc(ft->B * ft->C * sizeof *ft->host_dlogits);
  ft->labels = malloc(ft->B * sizeof *ft->labels);
  ft->scores = malloc(ft->B * sizeof *ft->scores);
  if (!ft->host_in || !ft->host_pre || !ft->host_logits || !ft->host_dlogits || !ft->labels ||
      !ft->scores)
    return clippo_fail(err, CLIPPO_E_NOMEM, "out of host memory for a batch of %zu", ft->B);
  int64_t ishape[4] = {(int64_t)ft->B, (int64_t)ft->S, (int64_t)ft->S, 3};
  TRY(clippo_tensor_alloc(ft->rt, &ft->inputs, CLIPPO_F32, 4, ishape, err));
  TRY(alloc2(ft->rt, &ft->pre, ft->B, ft->W, err));
  TRY(alloc2(ft->rt, &ft->dpre, ft->B, ft->W, err));
  TRY(alloc2(ft->rt, &ft->logits, ft->B, ft->C, err));
  TRY(alloc2(ft->rt, &ft->dlogits, ft->B, ft->C, err));
  TRY(alloc1(ft->rt, &ft->ws, clippo_task_head_ws_floats(ft->B, ft->C), err));
  TRY(clippo_train_opts_to_json(r, &ft->opts_json, err));
  ft->ft_json = ft_attr_json(ft->ts, ft->cfg.image_size, o->freeze);
  if (!ft->ft_json) return clippo_fail(err, CLIPPO_E_NOMEM, "out of host memory");
  if (r->log[0]) {
    ft->log = fopen(r->log, r->resume[0] ? "a" : "w");
    if (!ft->log)
      return clippo_fail(err, CLIPPO_E_IO, "cannot open metrics log %s: %s", r->log,
                         strerror(errno));
  }
  char line[1024];
  snprintf(line, sizeof line,
           "%s; %s: %zu-wide pre-logits -> %zu output(s) at %zu px; %s on %s; batch %zu, "
           "%" PRId64 " steps",
           clippo_task_set_describe(ft->ts),
           o->freeze ? "a head on the frozen tower" : "the tower and a head", ft->W, ft->C, ft->S,
           clippo_opt_name(ft->ocfg.kind), ft->rt->info.name, ft->B, ft->total);
  append_notice(res, line);
  return CLIPPO_OK;
}

static void teardown(finetuner *ft) {
  if (ft->log) fclose(ft->log);
  clippo_optimizer_free(ft->opt);
  clippo_tensor *ts[] = {&ft->head_k, &ft->head_b, &ft->g_head_k, &ft->g_head_b, &ft->inputs,
                         &ft->pre,    &ft->logits, &ft->dlogits,  &ft->dpre,     &ft->ws};
  for (size_t i = 0; ft->rt && i < sizeof ts / sizeof ts[0]; i++)
    clippo_tensor_release(ft->rt, ts[i]);
  clippo_model_free(ft->m);
  clippo_font_free(ft->font);
  if (ft->rt) clippo_rt_destroy(ft->rt);
  free(ft->names);
  free(ft->params);
  free(ft->grads);
  free(ft->labelled);
  free(ft->order);
  clippo_loss_history_free(&ft->losses);
  free(ft->host_in);
  free(ft->host_pre);
  free(ft->host_logits);
  free(ft->host_dlogits);
  free(ft->labels);
  free(ft->scores);
  free(ft->opts_json);
  free(ft->ft_json);
}

/* ---- checkpoints ----------------------------------------------------------------------------- */

static clippo_status download_head(finetuner *ft, clippo_params *out, clippo_error *err) {
  clippo_array k = {0}, b = {0};
  const int64_t ks[2] = {(int64_t)ft->W, (int64_t)ft->C}, bs[1] = {(int64_t)ft->C};
  TRY(clippo_array_alloc(&k, CLIPPO_F32, 2, ks, err));
  clippo_status st = clippo_array_alloc(&b, CLIPPO_F32, 1, bs, err);
  if (!st) st = clippo_tensor_read(ft->rt, &ft->head_k, k.data, err);
  if (!st) st = clippo_tensor_read(ft->rt, &ft->head_b, b.data, err);
  if (!st) st = clippo_params_add(out, CLIPPO_HEAD_KERNEL, &k, err);
  if (!st) st = clippo_params_add(out, CLIPPO_HEAD_BIAS, &b, err);
  clippo_array_free(&k);
  clippo_array_free(&b);
  return st;
}

static clippo_status save_checkpoint(finetuner *ft, clippo_error *err) {
  const char *path = ft->o->run.save;
  if (!path[0]) return CLIPPO_OK;
  clippo_checkpoint ck;
  memset(&ck, 0, sizeof ck);
  ck.cfg = ft->cfg;
  ck.has_cfg = 1;
  ck.step = ft->step;
  clippo_status st = clippo_model_download_params(ft->m, &ck.params, err);
  if (!st) st = download_head(ft, &ck.heads, err);
  if (!st) st = clippo_optimizer_export(ft->opt, &ck.opt, err);
  if (!st) st = clippo_loss_history_save(&ft->losses, &ck.opt, err);
  if (!st) st = clippo_checkpoint_set_attr(&ck, FT_ATTR, ft->ft_json, err);
  if (!st) st = clippo_checkpoint_set_attr(&ck, "train_config", ft->opts_json, err);
  if (!st) {
    char state[256];
    snprintf(state, sizeof state,
             "{\"step\": %" PRId64 ", \"epoch\": %" PRIu64 ", \"pos\": %" PRIu64
             ", \"seed\": \"%" PRIu64 "\", \"optimizer\": \"%s\"}",
             ft->step, ft->epoch, ft->pos, ft->o->run.seed, clippo_opt_name(ft->ocfg.kind));
    st = clippo_checkpoint_set_attr(&ck, "train_state", state, err);
  }
  if (!st) st = clippo_checkpoint_save_h5(path, &ck, err);
  clippo_checkpoint_free(&ck);
  if (st) return clippo_error_prefix(err, "writing checkpoint %s", path);
  ft->saved_step = ft->step;
  return CLIPPO_OK;
}

/* ---- one step -------------------------------------------------------------------------------- */

/* Runs one step; *loss gets its loss. On failure the data position is where it was. */
static clippo_status step_once(finetuner *ft, double *loss, clippo_opt_stats *stats,
                               clippo_error *err) {
  const uint64_t epoch0 = ft->epoch, pos0 = ft->pos;
  const int score = clippo_task_set_kind(ft->ts) == CLIPPO_TASK_SCORE;
  clippo_status st = CLIPPO_OK;
  for (size_t j = 0; !st && j < ft->B; j++) {
    size_t i = next_example(ft);
    ft->labels[j] = clippo_task_set_label(ft->ts, i);
    ft->scores[j] = score ? clippo_task_set_score(ft->ts, i) : NAN;
    st = clippo_task_set_input(ft->ts, i, ft->font, (int)ft->S, ft->host_in + j * ft->slot, err);
  }
  if (!st && ft->o->freeze) {
    st = clippo_model_embed_images(ft->m, ft->host_in, ft->B, CLIPPO_EMBED_PRE_LOGITS, ft->host_pre,
                                   err);
    if (!st) st = clippo_tensor_write(ft->rt, &ft->pre, ft->host_pre, err);
  } else if (!st) {
    st = clippo_tensor_write(ft->rt, &ft->inputs, ft->host_in, err);
    if (!st) st = clippo_model_train_forward(ft->m, &ft->inputs, ft->B, &ft->pre, err);
  }
  if (!st)
    st = clippo_task_head_forward(ft->rt, &ft->pre, &ft->head_k, &ft->head_b, &ft->logits, err);
  if (!st) st = clippo_tensor_read(ft->rt, &ft->logits, ft->host_logits, err);
  if (!st)
    st = clippo_task_loss(clippo_task_set_kind(ft->ts), ft->host_logits, ft->B, ft->C, ft->labels,
                          ft->scores, ft->host_dlogits, loss, NULL, err);
  if (!st) st = clippo_tensor_write(ft->rt, &ft->dlogits, ft->host_dlogits, err);
  if (!st && !ft->o->freeze) st = clippo_model_zero_grads(ft->m, err);
  if (!st) st = clippo_tensor_fill(ft->rt, &ft->g_head_k, 0.0f, err);
  if (!st) st = clippo_tensor_fill(ft->rt, &ft->g_head_b, 0.0f, err);
  if (!st)
    st = clippo_task_head_backward(ft->rt, &ft->pre, &ft->head_k, &ft->dlogits, &ft->g_head_k,
                                   &ft->g_head_b, ft->o->freeze ? NULL : &ft->dpre, &ft->ws, err);
  if (!st && !ft->o->freeze) st = clippo_model_backward(ft->m, &ft->dpre, err);
  if (!st) st = clippo_optimizer_step(ft->opt, ft->params, ft->grads, stats, err);
  if (st && ft->epoch != epoch0) {
    ft->epoch = epoch0;
    make_order(ft);
  }
  if (st) ft->pos = pos0;
  return st;
}

/* ---- validation --------------------------------------------------------------------------------
 */

static clippo_status validate(finetuner *ft, clippo_task_metrics *m, clippo_error *err) {
  const clippo_task_set *vs = ft->o->val_set;
  const size_t n = clippo_task_set_size(vs);
  if (clippo_task_set_outputs(vs) != ft->C ||
      strcmp(clippo_task_set_task(vs), clippo_task_set_task(ft->ts)))
    return clippo_fail(err, CLIPPO_E_ARG, "%s does not match the training set %s",
                       clippo_task_set_describe(vs), clippo_task_set_describe(ft->ts));
  float *k = malloc(ft->W * ft->C * sizeof *k), *b = malloc(ft->C * sizeof *b);
  float *pred = malloc((n ? n : 1) * ft->C * sizeof *pred);
  clippo_status st = k && b && pred ? CLIPPO_OK : clippo_fail(err, CLIPPO_E_NOMEM, "out of memory");
  if (!st) st = clippo_tensor_read(ft->rt, &ft->head_k, k, err);
  if (!st) st = clippo_tensor_read(ft->rt, &ft->head_b, b, err);
  if (!st) st = clippo_model_params_changed(ft->m, err);
  if (!st)
    st = ft_predict(ft->m, k, b, ft->C, vs, ft->font, ft->o->eval_batch ? ft->o->eval_batch : 32,
                    pred, err);
  if (!st) st = clippo_task_set_evaluate(vs, pred, m, err);
  free(k);
  free(b);
  free(pred);
  if (st) return clippo_error_prefix(err, "validation on %s", clippo_task_set_describe(vs));
  return CLIPPO_OK;
}

static void log_metric(cJSON *o, const char *name, double v) {
  if (!isnan(v)) cJSON_AddNumberToObject(o, name, v);
}

static void log_val(finetuner *ft, const clippo_task_metrics *m) {
  if (!ft->log) return;
  cJSON *root = cJSON_CreateObject(), *v = cJSON_CreateObject();
  if (!root || !v) {
    cJSON_Delete(root);
    cJSON_Delete(v);
    return;
  }
  cJSON_AddNumberToObject(root, "step", (double)ft->step);
  cJSON_AddNumberToObject(v, "count", (double)m->count);
  log_metric(v, "accuracy", m->accuracy);
  log_metric(v, "f1", m->f1);
  log_metric(v, "matthews", m->matthews);
  log_metric(v, "pearson", m->pearson);
  log_metric(v, "spearman", m->spearman);
  log_metric(v, "vqa_accuracy", m->vqa_accuracy);
  log_metric(v, "mse", m->mse);
  cJSON_AddItemToObject(root, "val", v);
  char *s = cJSON_PrintUnformatted(root);
  if (s) fprintf(ft->log, "%s\n", s);
  fflush(ft->log);
  free(s);
  cJSON_Delete(root);
}

/* ---- the run ----------------------------------------------------------------------------------
 */

clippo_status clippo_finetune_run(const clippo_finetune_opts *o, clippo_train_progress_fn fn,
                                  void *user, clippo_finetune_result *res, clippo_error *err) {
  memset(res, 0, sizeof *res);
  finetuner ft;
  memset(&ft, 0, sizeof ft);
  ft.o = o;
  ft.t0 = now_s();
  clippo_status st = setup(&ft, res, err);
  const int64_t first = ft.step;
  res->total = ft.total;
  if (!st && fn) {
    clippo_train_progress p;
    memset(&p, 0, sizeof p);
    p.step = ft.step;
    p.total = ft.total;
    p.message = res->notice;
    fn(&p, user);
  }
  const int64_t end = o->run.stop_at > 0 && o->run.stop_at < ft.total ? o->run.stop_at : ft.total;
  while (!st && ft.step < end) {
    if (o->run.should_stop && o->run.should_stop(o->run.stop_user)) {
      res->stopped = 1;
      break;
    }
    const double t_step = now_s();
    double loss = 0.0;
    clippo_opt_stats stats;
    memset(&stats, 0, sizeof stats);
    st = step_once(&ft, &loss, &stats, err);
    if (st) {
      clippo_error_prefix(err, "step %" PRId64, ft.step + 1);
      break;
    }
    ft.step++;
    if (ft.step == first + 1) res->first_loss = loss;
    res->last_loss = loss;
    st = clippo_loss_history_push(&ft.losses, (float)loss, err);
    const double dt = now_s() - t_step, el = now_s() - ft.t0;
    if (!st && ft.log) {
      fprintf(ft.log,
              "{\"step\": %" PRId64 ", \"loss\": %.6g, \"lr\": %.6g, \"grad_norm\": %.6g, "
              "\"epoch\": %" PRIu64 ", \"examples_per_s\": %.4g, \"time_s\": %.4f}\n",
              ft.step, loss, stats.lr, stats.grad_norm, ft.epoch, (double)ft.B / dt, el);
      fflush(ft.log);
    }
    int ck = 0;
    if (!st && o->run.checkpoint_every > 0 && ft.step % o->run.checkpoint_every == 0 &&
        ft.step < ft.total) {
      st = save_checkpoint(&ft, err);
      ck = 1;
    }
    if (!st && o->val_set && o->eval_every > 0 && ft.step % o->eval_every == 0 &&
        ft.step < ft.total) {
      st = validate(&ft, &res->val, err);
      if (!st) {
        res->has_val = 1;
        log_val(&ft, &res->val);
      }
    }
    if (!st && fn) {
      clippo_train_progress p;
      memset(&p, 0, sizeof p);
      p.step = ft.step;
      p.total = ft.total;
      p.epoch = ft.epoch;
      p.loss = loss;
      p.lr = stats.lr;
      p.grad_norm = stats.grad_norm;
      p.pairs_per_s = (double)ft.B / dt;
      p.elapsed_s = el;
      p.eta_s = el / (double)(ft.step - first) * (double)(ft.total - ft.step);
      p.checkpointed = ck;
      fn(&p, user);
    }
  }
  if (!st && res->stopped && fn) {
    clippo_train_progress p;
    memset(&p, 0, sizeof p);
    p.step = ft.step;
    p.total = ft.total;
    p.stopping = 1;
    fn(&p, user);
  }
  if (!st && ft.saved_step != ft.step) st = save_checkpoint(&ft, err);
  if (!st && o->val_set && !res->stopped) {
    st = validate(&ft, &res->val, err);
    if (!st) {
      res->has_val = 1;
      log_val(&ft, &res->val);
    }
  }
  res->steps_done = ft.step - first;
  res->step = ft.step;
  res->seconds = now_s() - ft.t0;
  if (ft.saved_step >= 0) snprintf(res->saved, sizeof res->saved, "%s", o->run.save);
  teardown(&ft);
  return st;
}
