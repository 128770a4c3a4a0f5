/* Checkpoint dispatch (.npz or HDF5 by content), unscanning, canonical order, attributes. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "clippo/checkpoint.h"

void clippo_checkpoint_free(clippo_checkpoint *ck) {
  if (!ck) return;
  clippo_params_free(&ck->params);
  clippo_params_free(&ck->heads);
  clippo_params_free(&ck->opt);
  for (size_t i = 0; i < ck->nattrs; i++) {
    free(ck->attrs[i].key);
    free(ck->attrs[i].value);
  }
  free(ck->attrs);
  memset(ck, 0, sizeof *ck);
  ck->step = -1;
}

const char *clippo_checkpoint_get_attr(const clippo_checkpoint *ck, const char *key) {
  for (size_t i = 0; i < ck->nattrs; i++)
    if (!strcmp(ck->attrs[i].key, key)) return ck->attrs[i].value;
  return NULL;
}

clippo_status clippo_checkpoint_set_attr(clippo_checkpoint *ck, const char *key, const char *value,
                                         clippo_error *err) {
  if (!key || !*key || !value) return clippo_fail(err, CLIPPO_E_ARG, "empty attribute");
  char *v = strdup(value);
  if (!v) return clippo_fail(err, CLIPPO_E_NOMEM, "out of host memory");
  for (size_t i = 0; i < ck->nattrs; i++)
    if (!strcmp(ck->attrs[i].key, key)) {
      free(ck->attrs[i].value);
      ck->attrs[i].value = v;
      return CLIPPO_OK;
    }
  char *k = strdup(key);
  clippo_attr *a = k ? realloc(ck->attrs, (ck->nattrs + 1) * sizeof *a) : NULL;
  if (!a) {
    free(k);
    free(v);
    return clippo_fail(err, CLIPPO_E_NOMEM, "out of host memory");
  }
  ck->attrs = a;
  ck->attrs[ck->nattrs].key = k;
  ck->attrs[ck->nattrs].value = v;
  ck->nattrs++;
  return CLIPPO_OK;
}

#define SCAN_PREFIX "img/Transformer/encoderblock/"
#define BLOCK_PREFIX "img/Transformer/encoderblock_"

clippo_status clippo_params_unscan(clippo_params *p, clippo_error *err) {
  size_t nscan = 0, first = 0;
  int64_t depth = -1;
  for (size_t i = 0; i < p->count; i++) {
    const clippo_param *it = &p->items[i];
    if (!strncmp(it->name, SCAN_PREFIX, strlen(SCAN_PREFIX))) {
      char sh[256];
      if (it->value.ndim < 1 || it->value.shape[0] < 1 || it->value.shape[0] > 1024 ||
          (depth >= 0 && it->value.shape[0] != depth))
        return clippo_fail(err, CLIPPO_E_SHAPE,
                           "scanned parameter '%s' %s: expected a leading layer axis%s", it->name,
                           clippo_shape_str(it->value.shape, it->value.ndim, sh, sizeof sh),
                           depth >= 0 ? " equal to the other scanned tensors'" : "");
      if (!nscan) first = i;
      depth = it->value.shape[0];
      nscan++;
    }
  }
  if (!nscan) return CLIPPO_OK;
  for (size_t i = 0; i < p->count; i++)
    if (!strncmp(p->items[i].name, BLOCK_PREFIX, strlen(BLOCK_PREFIX)))
      return clippo_fail(err, CLIPPO_E_FORMAT,
                         "both scanned (img/Transformer/encoderblock/...) and unscanned ('%s') "
                         "layouts are present",
                         p->items[i].name);
  clippo_params out = {0};
  clippo_status st = CLIPPO_OK;
  for (size_t i = 0; i < p->count && !st; i++) {
    clippo_param *it = &p->items[i];
    if (strncmp(it->name, SCAN_PREFIX, strlen(SCAN_PREFIX))) {
      st = clippo_params_add(&out, it->name, &it->value, err);
      continue;
    }
    if (i != first) continue;
    /* Emit every block here, at the position of the first scanned tensor. */
    for (int64_t d = 0; d < depth && !st; d++) {
      for (size_t j = i; j < p->count && !st; j++) {
        const clippo_param *s = &p->items[j];
        if (strncmp(s->name, SCAN_PREFIX, strlen(SCAN_PREFIX))) continue;
        clippo_array a;
        if ((st = clippo_array_alloc(&a, s->value.dtype, s->value.ndim - 1, s->value.shape + 1,
                                     err)))
          break;
        size_t bytes = clippo_array_count(&a) * clippo_dtype_size(a.dtype);
        memcpy(a.data, (const char *)s->value.data + (size_t)d * bytes, bytes);
        char name[512];
        snprintf(name, sizeof name, BLOCK_PREFIX "%lld/%s", (long long)d,
                 s->name + strlen(SCAN_PREFIX));
        st = clippo_params_add(&out, name, &a, err);
      }
    }
  }
  if (st) {
    clippo_params_free(&out);
    return st;
  }
  clippo_params_free(p); /* moved-out arrays are zeroed; scanned ones are freed here */
  *p = out;
  return CLIPPO_OK;
}

clippo_status clippo_params_canonical_order(clippo_params *p, const clippo_config *cfg,
                                            clippo_error *err) {
  clippo_param_spec *specs = NULL;
  size_t n = 0;
  clippo_status st = clippo_params_spec(cfg, &specs, &n, err);
  if (st) return st;
  if (n != p->count) {
    free(specs);
    return clippo_fail(err, CLIPPO_E_ARG, "parameter set does not match the config");
  }
  clippo_param *items = malloc((n ? n : 1) * sizeof *items);
  if (!items) {
    free(specs);
    return clippo_fail(err, CLIPPO_E_NOMEM, "out of host memory");
  }
  for (size_t i = 0; i < n; i++) {
    clippo_param *it = clippo_params_find(p, specs[i].name);
    if (!it) {
      free(items);
      free(specs);
      return clippo_fail(err, CLIPPO_E_NOTFOUND, "missing parameter '%s'", specs[i].name);
    }
    items[i] = *it;
  }
  free(specs);
  free(p->items);
  p->items = items;
  p->cap = n;
  return CLIPPO_OK;
}

typedef enum ckpt_kind { KIND_UNKNOWN, KIND_NPZ, KIND_H5 } ckpt_kind;

static clippo_status sniff(const char *path, ckpt_kind *kind, clippo_error *err) {
  struct stat sb;
  if (stat(path, &sb) != 0)
    return clippo_fail(err, CLIPPO_E_IO, "%s: cannot open: %s", path, strerror(errno));
  if (!S_ISREG(sb.st_mode))
    return clippo_fail(err, CLIPPO_E_IO, "%s: %s, not a checkpoint file", path,
                       S_ISDIR(sb.st_mode) ? "is a directory" : "not a regular file");
  FILE *f = fopen(path, "rb");
  if (!f) return clippo_fail(err, CLIPPO_E_IO, "%s: cannot open: %s", path, strerror(errno));
  unsigned char b[8] = {0};
  size_t n = fread(b, 1, sizeof b, f);
  fclose(f);
  static const unsigned char h5[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};
  if (n >= 4 && b[0] == 'P' && b[1] == 'K' &&
      ((b[2] == 3 && b[3] == 4) || (b[2] == 5 && b[3] == 6)))
    *kind = KIND_NPZ;
  else if (n == 8 && !memcmp(b, h5, 8))
    *kind = KIND_H5;
  else
    *kind = KIND_UNKNOWN;
  return CLIPPO_OK;
}

/* Moves the task-head parameters (CLIPPO_CHECKPOINT_HEAD_PREFIX...) from ck->params to
 * ck->heads: they are not part of the tower the config describes. */
static clippo_status split_heads(clippo_checkpoint *ck, clippo_error *err) {
  const size_t k = strlen(CLIPPO_CHECKPOINT_HEAD_PREFIX);
  size_t kept = 0;
  clippo_status st = CLIPPO_OK;
  for (size_t i = 0; i < ck->params.count; i++) {
    clippo_param *it = &ck->params.items[i];
    if (st == CLIPPO_OK && !strncmp(it->name, CLIPPO_CHECKPOINT_HEAD_PREFIX, k)) {
      st = clippo_params_add(&ck->heads, it->name, &it->value, err);
      free(it->name);
      continue;
    }
    ck->params.items[kept++] = *it;
  }
  ck->params.count = kept;
  return st;
}

/* The tower's and the heads' parameters as one list (shallow: items->items point into ck; free
 * only items->items). */
static clippo_status join_heads(const clippo_checkpoint *ck, clippo_params *all,
                                clippo_error *err) {
  memset(all, 0, sizeof *all);
  size_t n = ck->params.count + ck->heads.count;
  if (n == 0) return CLIPPO_OK;
  all->items = malloc(n * sizeof *all->items);
  if (!all->items) return clippo_fail(err, CLIPPO_E_NOMEM, "out of host memory");
  if (ck->params.count) memcpy(all->items, ck->params.items, ck->params.count * sizeof *all->items);
  if (ck->heads.count)
    memcpy(all->items + ck->params.count, ck->heads.items, ck->heads.count * sizeof *all->items);
  all->count = all->cap = n;
  return CLIPPO_OK;
}

clippo_status clippo_checkpoint_load(const char *path, clippo_checkpoint *ck, int with_opt,
                                     clippo_error *err) {
  clippo_load_opts o = {0};
  o.with_opt = with_opt;
  return clippo_checkpoint_load_opts(path, ck, &o, err);
}

clippo_status clippo_checkpoint_load_opts(const char *path, clippo_checkpoint *ck,
                                          const clippo_load_opts *opts, clippo_error *err) {
  const clippo_load_opts none = {0};
  if (!opts) opts = &none;
  const int with_opt = opts->with_opt;
  memset(ck, 0, sizeof *ck);
  ck->step = -1;
  ckpt_kind kind = KIND_UNKNOWN;
  clippo_status st = sniff(path, &kind, err);
  if (st) return st;
  if (kind == KIND_NPZ) {
    st = clippo_npz_load(path, &ck->params, with_opt ? &ck->opt : NULL, err);
  } else if (kind == KIND_H5) {
    st = clippo_h5_load_opts(path, ck, opts, err);
  } else {
    return clippo_fail(err, CLIPPO_E_FORMAT,
                       "%s: not a checkpoint (neither a zip/.npz nor an HDF5 file)", path);
  }
  if (st) goto fail;
  if ((st = split_heads(ck, err)) || (st = clippo_params_unscan(&ck->params, err))) {
    clippo_error_prefix(err, "%s", path);
    goto fail;
  }
  if (!ck->has_cfg && (st = clippo_config_infer(&ck->params, &ck->cfg, err))) {
    clippo_error_prefix(err, "%s", path);
    goto fail;
  }
  if ((st = clippo_params_check(&ck->params, &ck->cfg, err)) ||
      (st = clippo_params_canonical_order(&ck->params, &ck->cfg, err))) {
    clippo_error_prefix(err, "%s", path);
    goto fail;
  }
  /* A parameter that is NaN or infinite (a diverged run, a damaged file) poisons every output. */
  for (size_t i = 0; i < ck->params.count; i++) {
    const clippo_param *it = &ck->params.items[i];
    const float *x = it->value.data;
    for (size_t k = 0, n = clippo_array_count(&it->value); k < n; k++)
      if (!isfinite(x[k])) {
        st = clippo_fail(err, CLIPPO_E_NUMERIC,
                         "%s: parameter '%s' holds %s at index %zu (a diverged or damaged "
                         "checkpoint)",
                         path, it->name, isnan(x[k]) ? "NaN" : "an infinite value", k);
        goto fail;
      }
  }
  return CLIPPO_OK;
fail:
  clippo_checkpoint_free(ck);
  return st;
}

/* The config to write with ck: its own, or inferred; checked against the params. */
static clippo_status save_config(const char *path, const clippo_checkpoint *ck, clippo_config *cfg,
                                 clippo_error *err) {
  clippo_status st = CLIPPO_OK;
  if (ck->has_cfg) {
    *cfg = ck->cfg;
  } else if (!(st = clippo_config_infer(&ck->params, cfg, err))) {
    /* Shapes cannot tell these two: keep what the caller set. */
    if (memchr(ck->cfg.font, '\0', sizeof ck->cfg.font)) strcpy(cfg->font, ck->cfg.font);
    if (ck->cfg.ln_eps > 0) cfg->ln_eps = ck->cfg.ln_eps;
  }
  if (!st) st = clippo_params_check(&ck->params, cfg, err);
  if (st) clippo_error_prefix(err, "%s: refusing to write", path);
  return st;
}

clippo_status clippo_checkpoint_save_h5(const char *path, const clippo_checkpoint *ck,
                                        clippo_error *err) {
  clippo_checkpoint tmp = *ck;
  clippo_status st = save_config(path, ck, &tmp.cfg, err);
  if (st) return st;
  tmp.has_cfg = 1;
  if ((st = join_heads(ck, &tmp.params, err))) return st;
  st = clippo_h5_save(path, &tmp, err);
  free(tmp.params.items);
  return st;
}

clippo_status clippo_checkpoint_save_npz(const char *path, const clippo_checkpoint *ck,
                                         clippo_error *err) {
  clippo_config cfg;
  clippo_status st = save_config(path, ck, &cfg, err);
  if (st) return st;
  clippo_params all;
  if ((st = join_heads(ck, &all, err))) return st;
  st = clippo_npz_save(path, &all, &ck->opt, err);
  free(all.items);
  return st;
}
