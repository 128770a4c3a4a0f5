/* Model configs: presets, validation, JSON files. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "clippo/params.h"

void clippo_config_b16(clippo_config *cfg) {
  memset(cfg, 0, sizeof *cfg);
  cfg->width = 768;
  cfg->depth = 12;
  cfg->heads = 12;
  cfg->mlp_dim = 3072;
  cfg->patch = 16;
  cfg->image_size = 224;
  cfg->out_dim = 768;
  strcpy(cfg->pool, "map");
  cfg->ln_eps = 1e-6f;
}

void clippo_config_l16(clippo_config *cfg) {
  clippo_config_b16(cfg);
  cfg->width = 1024;
  cfg->depth = 24;
  cfg->heads = 16;
  cfg->mlp_dim = 4096;
  cfg->out_dim = 768;
}

clippo_status clippo_config_preset(const char *name, clippo_config *cfg, clippo_error *err) {
  if (name && (!strcmp(name, "b16") || !strcmp(name, "B/16") || !strcmp(name, "B16"))) {
    clippo_config_b16(cfg);
    return CLIPPO_OK;
  }
  if (name && (!strcmp(name, "l16") || !strcmp(name, "L/16") || !strcmp(name, "L16"))) {
    clippo_config_l16(cfg);
    return CLIPPO_OK;
  }
  return clippo_fail(err, CLIPPO_E_NOTFOUND, "unknown model preset '%s' (use b16 or l16)",
                     name ? name : "");
}

int clippo_config_tokens(const clippo_config *cfg) {
  if (cfg->patch <= 0) return 0;
  int g = cfg->image_size / cfg->patch;
  return g * g;
}

clippo_status clippo_config_validate(const clippo_config *cfg, clippo_error *err) {
#define BAD(...) return clippo_fail(err, CLIPPO_E_ARG, "invalid model config: " __VA_ARGS__)
  if (cfg->width < 1 || cfg->width > 65536) BAD("width %d not in 1..65536", cfg->width);
  if (cfg->depth < 0 || cfg->depth > 1024) BAD("depth %d not in 0..1024", cfg->depth);
  if (cfg->heads < 1 || cfg->width % cfg->heads)
    BAD("heads %d must be positive and divide width %d", cfg->heads, cfg->width);
  if (cfg->mlp_dim < 1 || cfg->mlp_dim > (1 << 20)) BAD("mlp_dim %d not in 1..2^20", cfg->mlp_dim);
  if (cfg->patch < 1 || cfg->patch > 1024) BAD("patch %d not in 1..1024", cfg->patch);
  if (cfg->image_size < cfg->patch || cfg->image_size > 16384 || cfg->image_size % cfg->patch)
    BAD("image_size %d must be a multiple of patch %d (at most 16384)", cfg->image_size,
        cfg->patch);
  if (clippo_config_tokens(cfg) > (1 << 20))
    BAD("%d tokens is too many", clippo_config_tokens(cfg));
  if (cfg->out_dim < 0 || cfg->out_dim > (1 << 20)) BAD("out_dim %d not in 0..2^20", cfg->out_dim);
  if (!memchr(cfg->pool, '\0', sizeof cfg->pool) ||
      (strcmp(cfg->pool, "map") && strcmp(cfg->pool, "gap") && strcmp(cfg->pool, "tok")))
    BAD("pool must be \"map\", \"gap\" or \"tok\"");
  if (!(cfg->ln_eps > 0.0f) || !isfinite(cfg->ln_eps)) BAD("ln_eps must be positive and finite");
  if (!memchr(cfg->font, '\0', sizeof cfg->font)) BAD("font name is not terminated");
#undef BAD
  return CLIPPO_OK;
}

/* Reads a small text file (at most max bytes) into a NUL-terminated buffer. */
static clippo_status read_small_file(const char *path, size_t max, char **out, size_t *len,
                                     clippo_error *err) {
  FILE *f = fopen(path, "rb");
  if (!f) return clippo_fail(err, CLIPPO_E_IO, "%s: cannot open: %s", path, strerror(errno));
  struct stat sb;
  if (fstat(fileno(f), &sb) != 0 || !S_ISREG(sb.st_mode) || (uint64_t)sb.st_size > max) {
    fclose(f);
    return clippo_fail(err, CLIPPO_E_IO, "%s: not a regular file of at most %zu bytes", path, max);
  }
  size_t n = (size_t)sb.st_size;
  char *buf = malloc(n + 1);
  if (!buf) {
    fclose(f);
    return clippo_fail(err, CLIPPO_E_NOMEM, "%s: out of host memory", path);
  }
  if (fread(buf, 1, n, f) != n) {
    free(buf);
    fclose(f);
    return clippo_fail(err, CLIPPO_E_IO, "%s: read failed", path);
  }
  fclose(f);
  buf[n] = '\0';
  *out = buf;
  *len = n;
  return CLIPPO_OK;
}

static clippo_status json_int(const char *path, const cJSON *it, int lo, int hi, int *out,
                              clippo_error *err) {
  if (!cJSON_IsNumber(it) || it->valuedouble != floor(it->valuedouble) || it->valuedouble < lo ||
      it->valuedouble > hi)
    return clippo_fail(err, CLIPPO_E_FORMAT, "%s: \"%s\" must be an integer in %d..%d", path,
                       it->string, lo, hi);
  *out = (int)it->valuedouble;
  return CLIPPO_OK;
}

static clippo_status json_str(const char *path, const cJSON *it, char *out, size_t cap,
                              clippo_error *err) {
  if (!cJSON_IsString(it) || !it->valuestring || strlen(it->valuestring) >= cap)
    return clippo_fail(err, CLIPPO_E_FORMAT, "%s: \"%s\" must be a string of < %zu bytes", path,
                       it->string, cap);
  strcpy(out, it->valuestring);
  return CLIPPO_OK;
}

clippo_status clippo_config_load_json(const char *path, clippo_config *cfg, clippo_error *err) {
  char *text = NULL;
  size_t len = 0;
  clippo_status st = read_small_file(path, 1u << 20, &text, &len, err);
  if (st) return st;
  const char *end = NULL;
  cJSON *root = cJSON_ParseWithOpts(text, &end, 1);
  if (!root || !cJSON_IsObject(root)) {
    size_t off = end && end >= text && end <= text + len ? (size_t)(end - text) : 0;
    cJSON_Delete(root);
    free(text);
    return clippo_fail(err, CLIPPO_E_FORMAT, "%s: not a JSON object (error near byte %zu)", path,
                       off);
  }
  clippo_config c;
  clippo_config_b16(&c);
  const cJSON *variant = cJSON_GetObjectItemCaseSensitive(root, "variant");
  if (variant) {
    if (!cJSON_IsString(variant)) {
      st = clippo_fail(err, CLIPPO_E_FORMAT, "%s: \"variant\" must be a string", path);
      goto done;
    }
    if ((st = clippo_config_preset(variant->valuestring, &c, err))) {
      clippo_error_prefix(err, "%s", path);
      goto done;
    }
  }
  const cJSON *it;
  cJSON_ArrayForEach(it, root) {
    const char *k = it->string ? it->string : "";
    if (!strcmp(k, "variant"))
      continue;
    else if (!strcmp(k, "width"))
      st = json_int(path, it, 1, 65536, &c.width, err);
    else if (!strcmp(k, "depth"))
      st = json_int(path, it, 0, 1024, &c.depth, err);
    else if (!strcmp(k, "heads"))
      st = json_int(path, it, 1, 65536, &c.heads, err);
    else if (!strcmp(k, "mlp_dim"))
      st = json_int(path, it, 1, 1 << 20, &c.mlp_dim, err);
    else if (!strcmp(k, "patch"))
      st = json_int(path, it, 1, 1024, &c.patch, err);
    else if (!strcmp(k, "image_size"))
      st = json_int(path, it, 1, 16384, &c.image_size, err);
    else if (!strcmp(k, "out_dim"))
      st = json_int(path, it, 0, 1 << 20, &c.out_dim, err);
    else if (!strcmp(k, "pool"))
      st = json_str(path, it, c.pool, sizeof c.pool, err);
    else if (!strcmp(k, "font"))
      st = json_str(path, it, c.font, sizeof c.font, err);
    else if (!strcmp(k, "ln_eps")) {
      if (!cJSON_IsNumber(it) || !(it->valuedouble > 0) || it->valuedouble > 1)
        st = clippo_fail(err, CLIPPO_E_FORMAT, "%s: \"ln_eps\" must be a number in (0, 1]", path);
      else
        c.ln_eps = (float)it->valuedouble;
    } else
      st = clippo_fail(err, CLIPPO_E_FORMAT,
                       "%s: unknown key \"%s\" (known: variant, width, depth, heads, mlp_dim, "
                       "patch, image_size, out_dim, pool, ln_eps, font)",
                       path, k);
    if (st) goto done;
  }
  if ((st = clippo_config_validate(&c, err))) {
    clippo_error_prefix(err, "%s", path);
    goto done;
  }
  *cfg = c;
done:
  cJSON_Delete(root);
  free(text);
  return st;
}
