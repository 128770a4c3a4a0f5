/* Options of `clippo train`: defaults, the training config JSON (read and written: checkpoints
 * keep the options they were trained with), the optimizer config they resolve to, and the
 * loss-curve SVG. */
#define _XOPEN_SOURCE 700 /* realpath */
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clippo/atomic_file.h"
#include "clippo/checkpoint.h"
#include "clippo/train.h"

#define TRY(x)                                                                                     \
  do {                                                                                             \
    clippo_status st_ = (x);                                                                       \
    if (st_ != CLIPPO_OK) return st_;                                                              \
  } while (0)

void clippo_train_opts_default(clippo_train_opts *o) {
  memset(o, 0, sizeof *o);
  o->init_seed = 0;
  snprintf(o->fmnist_split, sizeof o->fmnist_split, "train");
  o->shuffle = -1;
  o->optimizer = CLIPPO_OPT_ADAFACTOR;
  o->lr = o->weight_decay = o->clip_norm = NAN;
  o->warmup = o->cooldown = -1;
  o->timescale = o->shift = o->linear_end = NAN;
  o->min_dim_size_to_factor = -1;
  o->decay_rate = o->beta2_cap = o->eps = o->momentum = NAN;
  o->b1 = o->b2 = o->adam_eps = NAN;
  o->accumulate = 1;
  o->text_pair_fraction = NAN;
}

static int64_t cap_tenth(int64_t v, int64_t total) {
  int64_t t = total / 10;
  return v < t ? v : t;
}

/* The optimizer config of the options for a run of total_steps, not yet checked. */
static clippo_status build_opt_config(const clippo_train_opts *o, int64_t total_steps,
                                      clippo_opt_config *c, clippo_error *err) {
  clippo_opt_config_default(c, o->optimizer);
  clippo_schedule *s = &c->schedule;
  s->total_steps = total_steps;
  if (o->optimizer != CLIPPO_OPT_SGD) {
    s->warmup_steps = cap_tenth(s->warmup_steps, total_steps);
    s->cooldown_steps = cap_tenth(s->cooldown_steps, total_steps);
    int64_t ts = cap_tenth((int64_t)s->timescale, total_steps);
    s->timescale = (double)(ts > 0 ? ts : 1);
  }
  if (!isnan(o->lr)) c->lr = (float)o->lr;
  if (!isnan(o->weight_decay)) c->weight_decay = (float)o->weight_decay;
  if (!isnan(o->clip_norm)) c->clip_norm = (float)o->clip_norm;
  if (o->schedule[0]) TRY(clippo_sched_parse(o->schedule, &s->kind, err));
  if (o->warmup >= 0) s->warmup_steps = o->warmup;
  if (o->cooldown >= 0) s->cooldown_steps = o->cooldown;
  if (!isnan(o->timescale)) s->timescale = o->timescale;
  if (!isnan(o->shift)) s->shift = o->shift;
  if (!isnan(o->linear_end)) s->linear_end = o->linear_end;
  if (o->min_dim_size_to_factor >= 0) c->min_dim_size_to_factor = o->min_dim_size_to_factor;
  if (!isnan(o->decay_rate)) c->decay_rate = (float)o->decay_rate;
  if (!isnan(o->beta2_cap)) c->beta2_cap = (float)o->beta2_cap;
  if (!isnan(o->eps)) c->eps = (float)o->eps;
  if (!isnan(o->momentum)) c->momentum = o->momentum;
  if (!isnan(o->b1)) c->b1 = o->b1;
  if (!isnan(o->b2)) c->b2 = o->b2;
  if (!isnan(o->adam_eps)) c->adam_eps = (float)o->adam_eps;
  return CLIPPO_OK;
}

clippo_status clippo_train_opt_config(const clippo_train_opts *o, int64_t total_steps,
                                      clippo_opt_config *c, clippo_error *err) {
  TRY(build_opt_config(o, total_steps, c, err));
  return clippo_opt_config_check(c, err);
}

clippo_status clippo_train_opt_config_fitted(const clippo_train_opts *o, int64_t total_steps,
                                             clippo_opt_config *c, char *note, size_t cap,
                                             clippo_error *err) {
  if (note && cap) note[0] = '\0';
  TRY(build_opt_config(o, total_steps, c, err));
  const clippo_schedule was = c->schedule;
  int cut = clippo_schedule_fit(&c->schedule);
  if (cut && note && cap)
    snprintf(note, cap,
             "warmup %lld + cooldown %lld steps do not fit this %lld-step run: using warmup %lld "
             "and cooldown %lld (at most a tenth of the run; set --warmup N --cooldown N to "
             "choose)",
             (long long)was.warmup_steps, (long long)was.cooldown_steps, (long long)total_steps,
             (long long)c->schedule.warmup_steps, (long long)c->schedule.cooldown_steps);
  return clippo_opt_config_check(c, err);
}

/* ---- JSON ---------------------------------------------------------------------------------- */

typedef enum key_type { K_STR, K_INT, K_NUM, K_BOOL } key_type;

typedef struct key_def {
  const char *name;
  key_type type;
  size_t offset; /* into clippo_train_opts */
  size_t size;   /* for strings */
} key_def;

#define KS(name, field)                                                                            \
  { name, K_STR, offsetof(clippo_train_opts, field), sizeof(((clippo_train_opts *)0)->field) }
#define KI(name, field)                                                                            \
  { name, K_INT, offsetof(clippo_train_opts, field), sizeof(((clippo_train_opts *)0)->field) }
#define KN(name, field)                                                                            \
  { name, K_NUM, offsetof(clippo_train_opts, field), 0 }
#define KB(name, field)                                                                            \
  { name, K_BOOL, offsetof(clippo_train_opts, field), 0 }

static const key_def top_keys[] = {
    KS("device", device),
    KS("init", init),
    KS("model", model),
    KI("init_seed", init_seed),
    KS("images", images),
    KS("texts", texts),
    KS("tsv", tsv),
    KS("fashion_mnist_split", fmnist_split),
    KS("captions", captions),
    KI("limit", limit),
    KS("text_pairs", text_pairs),
    KN("text_pair_fraction", text_pair_fraction),
    KB("balanced", balanced),
    KN("lr", lr),
    KN("weight_decay", weight_decay),
    KI("steps", steps),
    KI("epochs", epochs),
    KI("stop_at", stop_at),
    KI("batch_size", batch_size),
    KI("accumulate", accumulate),
    KI("seed", seed),
    KS("save", save),
    KI("checkpoint_every", checkpoint_every),
    KS("resume", resume),
    KS("log", log),
    KS("plot", plot),
};

static const key_def sched_keys[] = {
    KS("type", schedule),       KI("warmup", warmup), KI("cooldown", cooldown),
    KN("timescale", timescale), KN("shift", shift),   KN("end", linear_end),
};

static const key_def adafactor_keys[] = {
    KI("min_dim_size_to_factor", min_dim_size_to_factor),
    KN("decay_rate", decay_rate),
    KN("beta2_cap", beta2_cap),
    KN("eps", eps),
    KN("momentum", momentum),
};

static const key_def adam_keys[] = {KN("b1", b1), KN("b2", b2), KN("eps", adam_eps)};

/* Sets the field of key k from the JSON value v; 0 ok, -1 wrong type, -2 too long / range. */
static int set_key(clippo_train_opts *o, const key_def *k, const cJSON *v) {
  char *base = (char *)o + k->offset;
  switch (k->type) {
  case K_STR:
    if (!cJSON_IsString(v)) return -1;
    if (strlen(v->valuestring) >= k->size) return -2;
    memcpy(base, v->valuestring, strlen(v->valuestring) + 1);
    return 0;
  case K_INT: {
    if (!cJSON_IsNumber(v)) return -1;
    double d = v->valuedouble;
    if (d != floor(d) || d < 0 || d > 9.007199254740992e15) return -2;
    if (k->size == sizeof(int)) {
      if (d > 2147483647.0) return -2;
      *(int *)base = (int)d;
    } else if (k->size == sizeof(int64_t)) {
      int64_t x = (int64_t)d;
      memcpy(base, &x, sizeof x);
    } else {
      return -2;
    }
    return 0;
  }
  case K_NUM:
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble)) return -1;
    *(double *)base = v->valuedouble;
    return 0;
  case K_BOOL:
    if (!cJSON_IsBool(v)) return -1;
    *(int *)base = cJSON_IsTrue(v);
    return 0;
  }
  return -1;
}

static clippo_status apply_keys(clippo_train_opts *o, const cJSON *obj, const key_def *keys,
                                size_t nkeys, const char *name, const char *section,
                                clippo_error *err) {
  for (const cJSON *v = obj->child; v; v = v->next) {
    size_t i = 0;
    while (i < nkeys && strcmp(keys[i].name, v->string)) i++;
    if (i == nkeys)
      return clippo_fail(err, CLIPPO_E_FORMAT, "%s: unknown key '%s%s'", name, section, v->string);
    int r = set_key(o, &keys[i], v);
    if (r == -1)
      return clippo_fail(err, CLIPPO_E_FORMAT, "%s: key '%s%s' must be a %s", name, section,
                         v->string,
                         keys[i].type == K_STR    ? "string"
                         : keys[i].type == K_BOOL ? "boolean"
                         : keys[i].type == K_INT  ? "non-negative integer"
                                                  : "number");
    if (r == -2)
      return clippo_fail(err, CLIPPO_E_FORMAT, "%s: key '%s%s' is out of range", name, section,
                         v->string);
  }
  return CLIPPO_OK;
}

static clippo_status parse_obj(const cJSON *root, const char *name, clippo_train_opts *o,
                               clippo_error *err) {
  if (!cJSON_IsObject(root))
    return clippo_fail(err, CLIPPO_E_FORMAT, "%s: a training config is a JSON object", name);
  /* special keys first, the plain ones through the table */
  cJSON *plain = cJSON_Duplicate(root, 1);
  if (!plain) return clippo_fail(err, CLIPPO_E_NOMEM, "%s: out of memory", name);
  clippo_status st = CLIPPO_OK;
  const cJSON *v;
  if (st == CLIPPO_OK && (v = cJSON_GetObjectItemCaseSensitive(root, "optimizer"))) {
    if (!cJSON_IsString(v))
      st = clippo_fail(err, CLIPPO_E_FORMAT, "%s: key 'optimizer' must be a string", name);
    else if ((st = clippo_opt_parse(v->valuestring, &o->optimizer, err)))
      clippo_error_prefix(err, "%s", name);
    cJSON_DeleteItemFromObjectCaseSensitive(plain, "optimizer");
  }
  if (st == CLIPPO_OK && (v = cJSON_GetObjectItemCaseSensitive(root, "clip_norm"))) {
    if (cJSON_IsNull(v) || cJSON_IsFalse(v))
      o->clip_norm = 0.0;
    else if (cJSON_IsNumber(v) && isfinite(v->valuedouble) && v->valuedouble >= 0)
      o->clip_norm = v->valuedouble;
    else
      st = clippo_fail(err, CLIPPO_E_FORMAT, "%s: key 'clip_norm' must be a number >= 0 or null",
                       name);
    cJSON_DeleteItemFromObjectCaseSensitive(plain, "clip_norm");
  }
  if (st == CLIPPO_OK && (v = cJSON_GetObjectItemCaseSensitive(root, "shuffle"))) {
    if (!cJSON_IsBool(v))
      st = clippo_fail(err, CLIPPO_E_FORMAT, "%s: key 'shuffle' must be a boolean", name);
    else
      o->shuffle = cJSON_IsTrue(v);
    cJSON_DeleteItemFromObjectCaseSensitive(plain, "shuffle");
  }
  if (st == CLIPPO_OK && (v = cJSON_GetObjectItemCaseSensitive(root, "fashion_mnist"))) {
    if (cJSON_IsTrue(v))
      snprintf(o->fmnist, sizeof o->fmnist, "%s", CLIPPO_FMNIST_DIR);
    else if (cJSON_IsFalse(v) || cJSON_IsNull(v))
      o->fmnist[0] = '\0';
    else if (cJSON_IsString(v) && strlen(v->valuestring) < sizeof o->fmnist)
      snprintf(o->fmnist, sizeof o->fmnist, "%s", v->valuestring);
    else
      st = clippo_fail(err, CLIPPO_E_FORMAT,
                       "%s: key 'fashion_mnist' must be true, false or a folder", name);
    cJSON_DeleteItemFromObjectCaseSensitive(plain, "fashion_mnist");
  }
  if (st == CLIPPO_OK && (v = cJSON_GetObjectItemCaseSensitive(root, "fonts"))) {
    if (cJSON_IsString(v)) {
      o->nfonts = 1;
      snprintf(o->fonts[0], sizeof o->fonts[0], "%s", v->valuestring);
    } else if (cJSON_IsArray(v) && cJSON_GetArraySize(v) <= CLIPPO_TRAIN_MAX_FONTS) {
      o->nfonts = 0;
      const cJSON *f;
      cJSON_ArrayForEach(f, v) {
        if (!cJSON_IsString(f) || strlen(f->valuestring) >= CLIPPO_TRAIN_PATH) {
          st = clippo_fail(err, CLIPPO_E_FORMAT, "%s: 'fonts' must hold paths", name);
          break;
        }
        snprintf(o->fonts[o->nfonts++], CLIPPO_TRAIN_PATH, "%s", f->valuestring);
      }
    } else {
      st = clippo_fail(err, CLIPPO_E_FORMAT, "%s: 'fonts' must be a list of at most %d paths", name,
                       CLIPPO_TRAIN_MAX_FONTS);
    }
    cJSON_DeleteItemFromObjectCaseSensitive(plain, "fonts");
  }
  if (st == CLIPPO_OK && (v = cJSON_GetObjectItemCaseSensitive(root, "schedule"))) {
    if (cJSON_IsString(v)) {
      if (strlen(v->valuestring) >= sizeof o->schedule)
        st = clippo_fail(err, CLIPPO_E_FORMAT, "%s: unknown schedule", name);
      else
        snprintf(o->schedule, sizeof o->schedule, "%s", v->valuestring);
    } else if (cJSON_IsObject(v)) {
      st = apply_keys(o, v, sched_keys, sizeof sched_keys / sizeof sched_keys[0], name, "schedule.",
                      err);
    } else {
      st = clippo_fail(err, CLIPPO_E_FORMAT, "%s: 'schedule' must be a name or an object", name);
    }
    cJSON_DeleteItemFromObjectCaseSensitive(plain, "schedule");
  }
  if (st == CLIPPO_OK && (v = cJSON_GetObjectItemCaseSensitive(root, "adafactor"))) {
    st = cJSON_IsObject(v)
             ? apply_keys(o, v, adafactor_keys, sizeof adafactor_keys / sizeof adafactor_keys[0],
                          name, "adafactor.", err)
             : clippo_fail(err, CLIPPO_E_FORMAT, "%s: 'adafactor' must be an object", name);
    cJSON_DeleteItemFromObjectCaseSensitive(plain, "adafactor");
  }
  if (st == CLIPPO_OK && (v = cJSON_GetObjectItemCaseSensitive(root, "adam"))) {
    st = cJSON_IsObject(v)
             ? apply_keys(o, v, adam_keys, sizeof adam_keys / sizeof adam_keys[0], name, "adam.",
                          err)
             : clippo_fail(err, CLIPPO_E_FORMAT, "%s: 'adam' must be an object", name);
    cJSON_DeleteItemFromObjectCaseSensitive(plain, "adam");
  }
  if (st == CLIPPO_OK && (v = cJSON_GetObjectItemCaseSensitive(root, "model")) &&
      cJSON_IsObject(v)) {
    char *text = cJSON_PrintUnformatted(v);
    if (!text || strlen(text) >= sizeof o->model)
      st = clippo_fail(err, CLIPPO_E_FORMAT, "%s: 'model' object too large", name);
    else
      snprintf(o->model, sizeof o->model, "%s", text);
    cJSON_free(text);
    cJSON_DeleteItemFromObjectCaseSensitive(plain, "model");
  }
  cJSON_DeleteItemFromObjectCaseSensitive(plain, "description");
  if (st == CLIPPO_OK)
    st = apply_keys(o, plain, top_keys, sizeof top_keys / sizeof top_keys[0], name, "", err);
  cJSON_Delete(plain);
  if (st == CLIPPO_OK && (o->accumulate < 1 || o->accumulate > CLIPPO_TRAIN_MAX_ACCUMULATE))
    st = clippo_fail(err, CLIPPO_E_FORMAT, "%s: 'accumulate' must be in 1..%d", name,
                     CLIPPO_TRAIN_MAX_ACCUMULATE);
  if (st == CLIPPO_OK && !isnan(o->text_pair_fraction) &&
      !(o->text_pair_fraction >= 0.0 && o->text_pair_fraction <= 1.0))
    st = clippo_fail(err, CLIPPO_E_FORMAT, "%s: 'text_pair_fraction' must be in 0..1", name);
  return st;
}

clippo_status clippo_train_opts_parse_json(const char *json, const char *name, clippo_train_opts *o,
                                           clippo_error *err) {
  cJSON *root = cJSON_Parse(json);
  if (!root) {
    const char *where = cJSON_GetErrorPtr();
    long off = where && where >= json ? (long)(where - json) : -1;
    return clippo_fail(err, CLIPPO_E_FORMAT, "%s: not valid JSON (near byte %ld)", name, off);
  }
  clippo_status st = parse_obj(root, name, o, err);
  cJSON_Delete(root);
  return st;
}

/* ---- paths in a config file ---------------------------------------------------------------- */

/* Keys of input files or folders: relative values resolve against the config file's folder.
 * Outputs (save, log, plot) stay relative to the current folder. */
static const char *const input_keys[] = {"init", "images", "texts", "tsv", "captions", "resume"};

/* Makes field (a relative path from config file `name`, key `key`) absolute under dir. */
static clippo_status rebase_path(char *field, size_t cap, const char *dir, const char *name,
                                 const char *key, clippo_error *err) {
  if (!field[0] || field[0] == '/') return CLIPPO_OK;
  char joined[2 * CLIPPO_TRAIN_PATH + 2];
  int len = snprintf(joined, sizeof joined, "%s/%s", dir, field);
  if (len < 0 || (size_t)len >= cap)
    return clippo_fail(err, CLIPPO_E_FORMAT, "%s: key '%s': path too long under %s", name, key,
                       dir);
  memcpy(field, joined, (size_t)len + 1);
  return CLIPPO_OK;
}

/* Resolves the relative input paths that the config text json (read from path) set in o. */
static clippo_status resolve_config_paths(const char *json, const char *path, clippo_train_opts *o,
                                          clippo_error *err) {
  char *real = realpath(path, NULL);
  if (!real) return clippo_fail(err, CLIPPO_E_IO, "%s: cannot resolve: %s", path, strerror(errno));
  char *slash = strrchr(real, '/');
  if (slash) slash[slash == real] = '\0'; /* "/x.json" -> "/" */
  cJSON *root = cJSON_Parse(json);
  clippo_status st = root ? CLIPPO_OK : clippo_fail(err, CLIPPO_E_NOMEM, "%s: out of memory", path);
  for (size_t i = 0; st == CLIPPO_OK && i < sizeof input_keys / sizeof input_keys[0]; i++) {
    if (!cJSON_IsString(cJSON_GetObjectItemCaseSensitive(root, input_keys[i]))) continue;
    size_t k = 0;
    while (strcmp(top_keys[k].name, input_keys[i])) k++;
    st = rebase_path((char *)o + top_keys[k].offset, top_keys[k].size, real, path, input_keys[i],
                     err);
  }
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, "model");
  size_t mlen = cJSON_IsString(v) ? strlen(v->valuestring) : 0;
  if (st == CLIPPO_OK && mlen > 5 && !strcmp(v->valuestring + mlen - 5, ".json"))
    st = rebase_path(o->model, sizeof o->model, real, path, "model", err);
  if (st == CLIPPO_OK && cJSON_IsString(cJSON_GetObjectItemCaseSensitive(root, "fashion_mnist")))
    st = rebase_path(o->fmnist, sizeof o->fmnist, real, path, "fashion_mnist", err);
  v = cJSON_GetObjectItemCaseSensitive(root, "text_pairs"); /* a file, not the built-in set */
  if (st == CLIPPO_OK && cJSON_IsString(v) && !clippo_text_pairs_builtin(v->valuestring, NULL, 0))
    st = rebase_path(o->text_pairs, sizeof o->text_pairs, real, path, "text_pairs", err);
  if (cJSON_GetObjectItemCaseSensitive(root, "fonts"))
    for (size_t i = 0; st == CLIPPO_OK && i < o->nfonts; i++)
      st = rebase_path(o->fonts[i], sizeof o->fonts[i], real, path, "fonts", err);
  cJSON_Delete(root);
  free(real);
  return st;
}

clippo_status clippo_train_opts_load_json(const char *path, clippo_train_opts *o,
                                          clippo_error *err) {
  FILE *fp = fopen(path, "rb");
  if (!fp)
    return clippo_fail(err, CLIPPO_E_IO, "cannot open training config %s: %s", path,
                       strerror(errno));
  size_t cap = 1 << 14, n = 0;
  char *buf = malloc(cap + 1);
  while (buf) {
    if (n == cap) {
      char *nb = cap < (1u << 26) ? realloc(buf, cap * 2 + 1) : NULL;
      if (!nb) {
        free(buf);
        buf = NULL;
        break;
      }
      buf = nb;
      cap *= 2;
    }
    size_t got = fread(buf + n, 1, cap - n, fp);
    n += got;
    if (got == 0) break;
  }
  int bad = ferror(fp);
  fclose(fp);
  if (!buf || bad) {
    free(buf);
    return clippo_fail(err, CLIPPO_E_IO, "cannot read training config %s", path);
  }
  buf[n] = '\0';
  clippo_status st = clippo_train_opts_parse_json(buf, path, o, err);
  if (st == CLIPPO_OK) st = resolve_config_paths(buf, path, o, err);
  free(buf);
  return st;
}

static int add_keys(cJSON *obj, const clippo_train_opts *o, const key_def *keys, size_t n) {
  for (size_t i = 0; i < n; i++) {
    const char *base = (const char *)o + keys[i].offset;
    cJSON *item = NULL;
    switch (keys[i].type) {
    case K_STR:
      if (!base[0]) continue;
      item = cJSON_CreateString(base);
      break;
    case K_INT: {
      double d;
      if (keys[i].size == sizeof(int))
        d = *(const int *)base;
      else {
        int64_t x;
        memcpy(&x, base, sizeof x);
        d = (double)x;
      }
      if (d < 0) continue;
      item = cJSON_CreateNumber(d);
      break;
    }
    case K_NUM: {
      double d = *(const double *)base;
      if (isnan(d)) continue;
      item = cJSON_CreateNumber(d);
      break;
    }
    case K_BOOL: item = cJSON_CreateBool(*(const int *)base); break;
    }
    if (!item || !cJSON_AddItemToObject(obj, keys[i].name, item)) {
      cJSON_Delete(item);
      return -1;
    }
  }
  return 0;
}

clippo_status clippo_train_opts_to_json(const clippo_train_opts *o, char **out, clippo_error *err) {
  *out = NULL;
  cJSON *root = cJSON_CreateObject();
  cJSON *sched = cJSON_CreateObject(), *af = cJSON_CreateObject(), *ad = cJSON_CreateObject();
  cJSON *fonts = cJSON_CreateArray();
  int bad = !root || !sched || !af || !ad || !fonts;
  if (!bad) {
    bad |= !cJSON_AddStringToObject(root, "optimizer", clippo_opt_name(o->optimizer));
    bad |= add_keys(root, o, top_keys, sizeof top_keys / sizeof top_keys[0]);
    if (!isnan(o->clip_norm)) bad |= !cJSON_AddNumberToObject(root, "clip_norm", o->clip_norm);
    if (o->model[0] == '{') {
      /* an inline model object goes back as an object */
      cJSON *m = cJSON_Parse(o->model);
      cJSON_DeleteItemFromObjectCaseSensitive(root, "model");
      if (!m || !cJSON_AddItemToObject(root, "model", m)) {
        cJSON_Delete(m);
        bad = 1;
      }
    }
    if (o->shuffle >= 0) bad |= !cJSON_AddBoolToObject(root, "shuffle", o->shuffle);
    if (o->fmnist[0]) bad |= !cJSON_AddStringToObject(root, "fashion_mnist", o->fmnist);
    for (size_t i = 0; !bad && i < o->nfonts; i++) {
      cJSON *s = cJSON_CreateString(o->fonts[i]);
      bad |= !s || !cJSON_AddItemToArray(fonts, s);
    }
    bad |= add_keys(sched, o, sched_keys, sizeof sched_keys / sizeof sched_keys[0]);
    bad |= add_keys(af, o, adafactor_keys, sizeof adafactor_keys / sizeof adafactor_keys[0]);
    bad |= add_keys(ad, o, adam_keys, sizeof adam_keys / sizeof adam_keys[0]);
  }
  /* hand the sub-objects over only when not empty */
  cJSON *subs[4] = {fonts, sched, af, ad};
  const char *names[4] = {"fonts", "schedule", "adafactor", "adam"};
  for (int i = 0; i < 4; i++) {
    if (!bad && subs[i] && cJSON_GetArraySize(subs[i]) > 0) {
      if (!cJSON_AddItemToObject(root, names[i], subs[i]))
        bad = 1;
      else
        subs[i] = NULL;
    }
    cJSON_Delete(subs[i]);
  }
  char *text = bad ? NULL : cJSON_PrintUnformatted(root);
  cJSON_Delete(root);
  if (!text) return clippo_fail(err, CLIPPO_E_NOMEM, "training config: out of memory");
  *out = strdup(text);
  cJSON_free(text);
  if (!*out) return clippo_fail(err, CLIPPO_E_NOMEM, "training config: out of memory");
  return CLIPPO_OK;
}

clippo_status clippo_train_opts_from_checkpoint(const char *path, clippo_train_opts *o,
                                                clippo_error *err) {
  clippo_checkpoint ck;
  memset(&ck, 0, sizeof ck);
  TRY(clippo_checkpoint_load(path, &ck, 0, err));
  const char *json = clippo_checkpoint_get_attr(&ck, "train_config");
  clippo_status st = CLIPPO_OK;
  if (!json)
    st = clippo_fail(err, CLIPPO_E_FORMAT,
                     "%s holds no training config (not written by `clippo train`)", path);
  else
    st = clippo_train_opts_parse_json(json, path, o, err);
  /* what belongs to the interrupted invocation, not to the run */
  o->stop_at = 0;
  o->device[0] = '\0'; /* the machine's business, not the run's */
  o->resume[0] = '\0';
  o->init[0] = '\0';
  clippo_checkpoint_free(&ck);
  return st;
}

clippo_status clippo_train_model_config(const char *model, clippo_config *cfg, clippo_error *err) {
  return clippo_train_model_config_in(model, NULL, cfg, err);
}

clippo_status clippo_train_model_config_in(const char *model, const char *tmp_dir,
                                           clippo_config *cfg, clippo_error *err) {
  if (!model || !*model) return clippo_fail(err, CLIPPO_E_ARG, "no model config given");
  if (model[0] != '{') {
    size_t n = strlen(model);
    if (n > 5 && !strcmp(model + n - 5, ".json")) return clippo_config_load_json(model, cfg, err);
    return clippo_config_preset(model, cfg, err);
  }
  /* an inline object: through a temporary file, so that it means what a model file means */
  const char *dir = tmp_dir && *tmp_dir ? tmp_dir : "/tmp";
  char path[CLIPPO_TRAIN_PATH];
  int n = snprintf(path, sizeof path, "%s/clippo-model-XXXXXX", dir);
  if (n < 0 || (size_t)n >= sizeof path)
    return clippo_fail(err, CLIPPO_E_ARG, "temporary folder name too long: %s", dir);
  int fd = mkstemp(path);
  if (fd < 0)
    return clippo_fail(err, CLIPPO_E_IO, "cannot create a temporary file in %s: %s", dir,
                       strerror(errno));
  size_t len = strlen(model);
  ssize_t w = write(fd, model, len);
  close(fd);
  clippo_status st = w == (ssize_t)len ? clippo_config_load_json(path, cfg, err)
                                       : clippo_fail(err, CLIPPO_E_IO, "cannot write %s", path);
  remove(path);
  if (st != CLIPPO_OK) clippo_error_prefix(err, "inline model config");
  return st;
}

/* ---- the loss curve ------------------------------------------------------------------------ */

static void xml_escape(const char *s, char *out, size_t cap) {
  size_t k = 0;
  for (; *s && k + 7 < cap; s++) {
    const char *r = NULL;
    switch (*s) {
    case '<': r = "&lt;"; break;
    case '>': r = "&gt;"; break;
    case '&': r = "&amp;"; break;
    case '"': r = "&quot;"; break;
    default: break;
    }
    if (r) {
      memcpy(out + k, r, strlen(r));
      k += strlen(r);
    } else {
      out[k++] = *s;
    }
  }
  out[k] = '\0';
}

clippo_status clippo_train_plot_svg(const char *path, const float *loss, size_t n,
                                    const char *title, clippo_error *err) {
  const double W = 800, H = 480, L = 70, R = 20, T = 40, B = 50;
  double lo = INFINITY, hi = -INFINITY;
  for (size_t i = 0; i < n; i++)
    if (isfinite(loss[i])) {
      lo = fmin(lo, loss[i]);
      hi = fmax(hi, loss[i]);
    }
  if (!(lo <= hi)) lo = 0, hi = 1;
  if (hi - lo < 1e-9) hi = lo + 1e-3, lo -= 1e-3;
  size_t cap = 4096 + n * 32;
  char *buf = malloc(cap);
  if (!buf) return clippo_fail(err, CLIPPO_E_NOMEM, "loss plot: out of memory");
  char esc[512];
  xml_escape(title ? title : "training loss", esc, sizeof esc);
  size_t k = 0;
#define OUT(...) k += (size_t)snprintf(buf + k, cap - k, __VA_ARGS__)
  OUT("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
      "viewBox=\"0 0 %.0f %.0f\" font-family=\"sans-serif\" font-size=\"12\">\n",
      W, H, W, H);
  OUT("<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n");
  OUT("<text x=\"%.0f\" y=\"24\" text-anchor=\"middle\" font-size=\"15\">%s</text>\n", W / 2, esc);
  OUT("<rect x=\"%.0f\" y=\"%.0f\" width=\"%.0f\" height=\"%.0f\" fill=\"none\" "
      "stroke=\"#888\"/>\n",
      L, T, W - L - R, H - T - B);
  for (int g = 0; g <= 4; g++) {
    double v = lo + (hi - lo) * g / 4.0, y = H - B - (H - T - B) * g / 4.0;
    OUT("<line x1=\"%.0f\" x2=\"%.0f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>"
        "<text x=\"%.0f\" y=\"%.1f\" text-anchor=\"end\">%.4g</text>\n",
        L, W - R, y, y, L - 6, y + 4, v);
  }
  OUT("<text x=\"%.0f\" y=\"%.0f\" text-anchor=\"middle\">step</text>\n", (W + L - R) / 2, H - 12);
  OUT("<text x=\"%.0f\" y=\"%.0f\" text-anchor=\"start\">1</text>"
      "<text x=\"%.0f\" y=\"%.0f\" text-anchor=\"end\">%zu</text>\n",
      L, H - B + 16, W - R, H - B + 16, n);
  OUT("<polyline fill=\"none\" stroke=\"#1f77b4\" stroke-width=\"1.5\" points=\"");
  for (size_t i = 0; i < n; i++) {
    if (!isfinite(loss[i])) continue;
    double x = L + (n > 1 ? (W - L - R) * (double)i / (double)(n - 1) : (W - L - R) / 2);
    double y = H - B - (H - T - B) * (loss[i] - lo) / (hi - lo);
    OUT("%.1f,%.1f ", x, y);
  }
  OUT("\"/>\n</svg>\n");
#undef OUT
  clippo_status st = clippo_write_file_atomic(path, buf, k, err);
  free(buf);
  return st;
}
