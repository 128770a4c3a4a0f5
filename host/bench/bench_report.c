/* The benchmark report (include/clippo/bench.h): rows, derived numbers (GFLOP/s, % of peak,
 * ratios), JSON, and writing the JSON, Markdown and SVG files. No measurements here. */
#include "clippo/bench.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bench/bench_internal.h"
#include "clippo/atomic_file.h"

void clippo_bench_slug(const clippo_device_info *dev, char *out, size_t size) {
  char raw[600];
  const char *plat = dev->platform;
  char first[64] = "";
  if (strstr(plat, "Portable Computing Language") || !strncmp(plat, "PoCL", 4)) {
    snprintf(first, sizeof first, "pocl");
  } else {
    size_t i = 0;
    while (plat[i] && plat[i] != ' ' && i + 1 < sizeof first) {
      first[i] = plat[i];
      i++;
    }
    first[i] = '\0';
  }
  snprintf(raw, sizeof raw, "%s %s", first, dev->name);
  size_t o = 0;
  int dash = 1; /* no leading dash */
  for (const char *p = raw; *p && o + 1 < size && o < 80; p++) {
    unsigned char c = (unsigned char)*p;
    if (c >= 'A' && c <= 'Z') c = (unsigned char)(c - 'A' + 'a');
    if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) {
      out[o++] = (char)c;
      dash = 0;
    } else if (!dash) {
      out[o++] = '-';
      dash = 1;
    }
  }
  while (o > 0 && out[o - 1] == '-') o--;
  if (o == 0 && size > 6) o = (size_t)snprintf(out, size, "device");
  if (size) out[o < size ? o : size - 1] = '\0';
}

/* ---- report ---------------------------------------------------------------------------- */

/* Host description: CPU model (Linux /proc/cpuinfo), online CPUs, memory, and the BLAS
 * environment as the settings found it (reported, never changed). */
static void describe_host(const char *blas_env, char *out, size_t size) {
  char model[256] = "unknown CPU";
  FILE *f = fopen("/proc/cpuinfo", "r");
  if (f) {
    char line[512];
    while (fgets(line, sizeof line, f)) {
      if (!strncmp(line, "model name", 10)) {
        const char *c = strchr(line, ':');
        if (c) {
          c++;
          while (*c == ' ' || *c == '\t') c++;
          snprintf(model, sizeof model, "%s", c);
          model[strcspn(model, "\r\n")] = '\0';
        }
        break;
      }
    }
    fclose(f);
  }
  long cpus = -1;
  double mem_gib = 0;
#ifdef _SC_NPROCESSORS_ONLN
  cpus = sysconf(_SC_NPROCESSORS_ONLN);
#endif
#if defined(_SC_PHYS_PAGES) && defined(_SC_PAGESIZE)
  long pages = sysconf(_SC_PHYS_PAGES), psize = sysconf(_SC_PAGESIZE);
  if (pages > 0 && psize > 0) mem_gib = (double)pages * (double)psize / 1073741824.0;
#endif
  snprintf(out, size, "%s, %ld CPUs online, %.1f GiB memory; %s", model, cpus, mem_gib, blas_env);
}

clippo_status clippo_bench_report_init(clippo_bench_report *r, const clippo_device_info *dev,
                                       const clippo_bench_opts *o, clippo_error *err) {
  clippo_settings env;
  clippo_status st = clippo_settings_from_env(&env, err);
  if (st) return st;
  clippo_bench_opts ro;
  clippo_bench_opts_resolve(o, &ro);
  memset(r, 0, sizeof *r);
  r->device = *dev;
  clippo_bench_slug(dev, r->slug, sizeof r->slug);
  time_t t = time(NULL);
  struct tm tm;
  if (gmtime_r(&t, &tm)) strftime(r->started, sizeof r->started, "%Y-%m-%dT%H:%M:%SZ", &tm);
  describe_host(env.blas_env, r->host, sizeof r->host);
  r->quick = ro.quick;
  r->runs = ro.runs;
  r->warmup = ro.warmup;
  r->images = ro.images;
  snprintf(r->precision, sizeof r->precision, "%s", clippo_precision_name(env.precision));
  return CLIPPO_OK;
}

void clippo_bench_report_free(clippo_bench_report *r) {
  if (!r) return;
  free(r->rows);
  memset(r, 0, sizeof *r);
}

clippo_status clippo_bench_add(clippo_bench_report *r, const clippo_bench_row *row,
                               clippo_error *err) {
  if (r->nrows == r->cap) {
    size_t cap = r->cap ? 2 * r->cap : 64;
    clippo_bench_row *rows = realloc(r->rows, cap * sizeof *rows);
    if (!rows) return clippo_fail(err, CLIPPO_E_NOMEM, "bench: out of host memory for results");
    r->rows = rows;
    r->cap = cap;
  }
  r->rows[r->nrows++] = *row;
  return CLIPPO_OK;
}

void bench_row_init(clippo_bench_row *row, const char *suite, const char *name, const char *impl) {
  memset(row, 0, sizeof *row);
  snprintf(row->suite, sizeof row->suite, "%s", suite);
  snprintf(row->name, sizeof row->name, "%s", name);
  snprintf(row->impl, sizeof row->impl, "%s", impl);
  snprintf(row->status, sizeof row->status, "ok");
}

/* ---- JSON rows ------------------------------------------------------------------------- */

static void json_row_fill(cJSON *o, const clippo_bench_row *w) {
  cJSON_AddStringToObject(o, "suite", w->suite);
  cJSON_AddStringToObject(o, "name", w->name);
  cJSON_AddStringToObject(o, "impl", w->impl);
  cJSON_AddStringToObject(o, "shape", w->shape);
  cJSON_AddStringToObject(o, "status", w->status);
  cJSON_AddStringToObject(o, "note", w->note);
  cJSON_AddNumberToObject(o, "batch", (double)w->batch);
  cJSON_AddNumberToObject(o, "runs", w->runs);
  const struct {
    const char *k;
    double v;
  } nums[] = {{"median_s", w->median_s}, {"min_s", w->min_s},       {"device_s", w->device_s},
              {"flops", w->flops},       {"bytes", w->bytes},       {"gflops", w->gflops},
              {"gbps", w->gbps},         {"pct_peak", w->pct_peak}, {"rate", w->rate},
              {"ratio", w->ratio}};
  for (size_t i = 0; i < sizeof nums / sizeof nums[0]; i++)
    cJSON_AddNumberToObject(o, nums[i].k, isfinite(nums[i].v) ? nums[i].v : 0.0);
  cJSON_AddStringToObject(o, "rate_unit", w->rate_unit);
  cJSON_AddStringToObject(o, "ratio_to", w->ratio_to);
}

char *clippo_bench_row_json(const clippo_bench_row *row) {
  cJSON *o = cJSON_CreateObject();
  if (!o) return NULL;
  json_row_fill(o, row);
  char *s = cJSON_PrintUnformatted(o);
  cJSON_Delete(o);
  return s;
}

clippo_status clippo_bench_row_from_json(const char *json, clippo_bench_row *row,
                                         clippo_error *err) {
  memset(row, 0, sizeof *row);
  cJSON *o = cJSON_Parse(json ? json : "");
  if (!o || !cJSON_IsObject(o)) {
    cJSON_Delete(o);
    return clippo_fail(err, CLIPPO_E_FORMAT, "bench: a result line is not a JSON object: %.200s",
                       json ? json : "(null)");
  }
  const struct {
    const char *k;
    char *dst;
    size_t size;
  } strs[] = {{"suite", row->suite, sizeof row->suite},
              {"name", row->name, sizeof row->name},
              {"impl", row->impl, sizeof row->impl},
              {"shape", row->shape, sizeof row->shape},
              {"status", row->status, sizeof row->status},
              {"note", row->note, sizeof row->note},
              {"rate_unit", row->rate_unit, sizeof row->rate_unit},
              {"ratio_to", row->ratio_to, sizeof row->ratio_to}};
  for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, strs[i].k);
    if (cJSON_IsString(v) && v->valuestring)
      snprintf(strs[i].dst, strs[i].size, "%s", v->valuestring);
  }
  const struct {
    const char *k;
    double *dst;
  } nums[] = {{"median_s", &row->median_s}, {"min_s", &row->min_s},
              {"device_s", &row->device_s}, {"flops", &row->flops},
              {"bytes", &row->bytes},       {"gflops", &row->gflops},
              {"gbps", &row->gbps},         {"pct_peak", &row->pct_peak},
              {"rate", &row->rate},         {"ratio", &row->ratio}};
  for (size_t i = 0; i < sizeof nums / sizeof nums[0]; i++) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, nums[i].k);
    if (cJSON_IsNumber(v) && isfinite(v->valuedouble)) *nums[i].dst = v->valuedouble;
  }
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, "batch");
  if (cJSON_IsNumber(v) && v->valuedouble >= 0 && v->valuedouble < 1e9)
    row->batch = (size_t)v->valuedouble;
  v = cJSON_GetObjectItemCaseSensitive(o, "runs");
  if (cJSON_IsNumber(v) && v->valuedouble >= 0 && v->valuedouble < 1e9)
    row->runs = (int)v->valuedouble;
  if (!row->status[0]) snprintf(row->status, sizeof row->status, "ok");
  cJSON_Delete(o);
  return CLIPPO_OK;
}

/* ---- derived numbers ------------------------------------------------------------------- */

static const clippo_bench_row *find_row(const clippo_bench_report *r, const char *suite,
                                        const char *name, const char *impl, size_t batch,
                                        int match_batch) {
  for (size_t i = 0; i < r->nrows; i++) {
    const clippo_bench_row *w = &r->rows[i];
    if (!strcmp(w->suite, suite) && !strcmp(w->name, name) && !strcmp(w->impl, impl) &&
        !strcmp(w->status, "ok") && (!match_batch || w->batch == batch))
      return w;
  }
  return NULL;
}

/* The fastest peer runtime's row ("peer-*") of suite/name (at batch when match_batch) at the
 * engine's precision: the int8 peers ("peer-*-int8") when the engine multiplies in int8, else the
 * float32 ones; NULL when there is none. */
static const clippo_bench_row *fastest_peer(const clippo_bench_report *r, const char *suite,
                                            const char *name, size_t batch, int match_batch) {
  const clippo_bench_row *best = NULL;
  int want_int8 = !strcmp(r->precision, "int8");
  for (size_t i = 0; i < r->nrows; i++) {
    const clippo_bench_row *w = &r->rows[i];
    size_t len = strlen(w->impl);
    int int8 = len > 5 && !strcmp(w->impl + len - 5, "-int8");
    if (strncmp(w->impl, "peer-", 5) != 0 || int8 != want_int8) continue;
    if (strcmp(w->suite, suite) || strcmp(w->name, name) || strcmp(w->status, "ok") ||
        (match_batch && w->batch != batch) || !(w->rate > 0))
      continue;
    if (!best || w->rate > best->rate) best = w;
  }
  return best;
}

void clippo_bench_finish(clippo_bench_report *r) {
  for (size_t i = 0; i < r->nrows; i++) {
    clippo_bench_row *w = &r->rows[i];
    if (strcmp(w->status, "ok") != 0) continue;
    double secs = w->median_s;
    if (!strcmp(w->suite, "probe") && w->device_s > 0) secs = w->device_s;
    if (secs > 0 && w->flops > 0) w->gflops = w->flops / secs * 1e-9;
    if (secs > 0 && w->bytes > 0) w->gbps = w->bytes / secs * 1e-9;
    w->pct_peak = 0;
    /* Host baselines (OpenBLAS, PyTorch) share the device's peak only on CPU devices. */
    if (strcmp(w->impl, "clippo") != 0 && !(r->device.type & CL_DEVICE_TYPE_CPU)) continue;
    if (w->gflops > 0 && r->peak_gflops > 0)
      w->pct_peak = 100.0 * w->gflops / r->peak_gflops;
    else if (w->gbps > 0 && r->peak_gbps > 0)
      w->pct_peak = 100.0 * w->gbps / r->peak_gbps;
  }
  for (size_t i = 0; i < r->nrows; i++) {
    clippo_bench_row *w = &r->rows[i];
    if (strcmp(w->status, "ok") != 0 || strcmp(w->impl, "clippo") != 0) continue;
    const clippo_bench_row *base = NULL;
    if (!strcmp(w->suite, "gemm")) base = find_row(r, "gemm", w->name, "openblas-host", 0, 0);
    if (!strcmp(w->suite, "embed") || !strcmp(w->suite, "train"))
      base = fastest_peer(r, w->suite, w->name, w->batch, !strcmp(w->suite, "embed"));
    if (!base && !strcmp(w->suite, "embed"))
      base = find_row(r, "embed", w->name, "pytorch-cpu", w->batch, 1);
    if (!base) continue;
    double mine = w->rate > 0 ? w->rate : w->gflops,
           theirs = base->rate > 0 ? base->rate : base->gflops;
    if (mine > 0 && theirs > 0) {
      w->ratio = mine / theirs;
      snprintf(w->ratio_to, sizeof w->ratio_to, "%s", base->impl);
    }
  }
}

/* ---- output ---------------------------------------------------------------------------- */

char *clippo_bench_json(const clippo_bench_report *r) {
  cJSON *o = cJSON_CreateObject();
  if (!o) return NULL;
  cJSON_AddStringToObject(o, "clippo_bench", "1");
  cJSON_AddStringToObject(o, "clippo_version", CLIPPO_VERSION);
  cJSON_AddStringToObject(o, "started", r->started);
  cJSON *d = cJSON_AddObjectToObject(o, "device");
  if (d) {
    char idx[32];
    snprintf(idx, sizeof idx, "%d:%d", r->device.platform_index, r->device.device_index);
    cJSON_AddStringToObject(d, "index", idx);
    cJSON_AddStringToObject(d, "slug", r->slug);
    cJSON_AddStringToObject(d, "platform", r->device.platform);
    cJSON_AddStringToObject(d, "name", r->device.name);
    cJSON_AddStringToObject(d, "vendor", r->device.vendor);
    cJSON_AddStringToObject(d, "version", r->device.version);
    cJSON_AddStringToObject(d, "driver", r->device.driver);
    cJSON_AddStringToObject(d, "type", clippo_device_type_name(r->device.type));
    cJSON_AddNumberToObject(d, "compute_units", r->device.compute_units);
    cJSON_AddNumberToObject(d, "global_mem", (double)r->device.global_mem);
    cJSON_AddNumberToObject(d, "max_alloc", (double)r->device.max_alloc);
  }
  cJSON_AddStringToObject(o, "host", r->host);
  cJSON *st = cJSON_AddObjectToObject(o, "settings");
  if (st) {
    cJSON_AddBoolToObject(st, "quick", r->quick);
    cJSON_AddNumberToObject(st, "runs", r->runs);
    cJSON_AddNumberToObject(st, "warmup", r->warmup);
    cJSON_AddNumberToObject(st, "images", (double)r->images);
    cJSON_AddStringToObject(st, "precision", r->precision);
  }
  cJSON *pk = cJSON_AddObjectToObject(o, "peak");
  if (pk) {
    cJSON_AddNumberToObject(pk, "gflops", r->peak_gflops);
    cJSON_AddNumberToObject(pk, "gbps", r->peak_gbps);
    cJSON_AddStringToObject(pk, "note", r->peak_note);
  }
  cJSON *rows = cJSON_AddArrayToObject(o, "rows");
  for (size_t i = 0; rows && i < r->nrows; i++) {
    cJSON *x = cJSON_CreateObject();
    if (!x) break;
    json_row_fill(x, &r->rows[i]);
    cJSON_AddItemToArray(rows, x);
  }
  char *s = cJSON_Print(o);
  cJSON_Delete(o);
  return s;
}

/* mkdir -p */
static int make_dirs(const char *dir) {
  char tmp[1024];
  if (snprintf(tmp, sizeof tmp, "%s", dir) >= (int)sizeof tmp) return -1;
  for (char *p = tmp + 1; *p; p++) {
    if (*p == '/') {
      *p = '\0';
      if (mkdir(tmp, 0755) != 0 && errno != EEXIST) return -1;
      *p = '/';
    }
  }
  if (mkdir(tmp, 0755) != 0 && errno != EEXIST) return -1;
  struct stat sb;
  if (stat(tmp, &sb) != 0) return -1;
  if (!S_ISDIR(sb.st_mode)) {
    errno = ENOTDIR;
    return -1;
  }
  return 0;
}

clippo_status clippo_bench_write(clippo_bench_report *r, const char *dir, char (*paths)[1200],
                                 clippo_error *err) {
  clippo_bench_finish(r);
  if (!dir || !*dir) dir = ".";
  if (make_dirs(dir) != 0)
    return clippo_fail(err, CLIPPO_E_IO,
                       "cannot create the folder %s for the benchmark reports: %s", dir,
                       strerror(errno));
  const char *ext[3] = {"json", "md", "svg"};
  for (int i = 0; i < 3; i++) {
    char path[1200];
    if (snprintf(path, sizeof path, "%s/bench-%s.%s", dir, r->slug, ext[i]) >= (int)sizeof path)
      return clippo_fail(err, CLIPPO_E_ARG, "bench: output folder name too long: %s", dir);
    char *text = i == 0   ? clippo_bench_json(r)
                 : i == 1 ? clippo_bench_markdown(r)
                          : clippo_bench_svg(r);
    if (!text) return clippo_fail(err, CLIPPO_E_NOMEM, "bench: out of memory writing %s", path);
    clippo_status st = clippo_write_file_atomic(path, text, strlen(text), err);
    free(text);
    if (st) return st;
    if (paths) snprintf(paths[i], sizeof paths[i], "%s", path);
  }
  return CLIPPO_OK;
}
