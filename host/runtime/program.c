/* Kernel programs: embedded sources with includes expanded, builds, and the on-disk binary cache
 * keyed by source, options, platform, device and driver. */
#include "internal.h"
#include "kernel_sources.h"

#include "clippo/atomic_file.h"
#include "clippo/strbuf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef CLIPPO_VERSION
#define CLIPPO_VERSION "dev"
#endif

typedef struct kernel_entry {
  char name[128];
  cl_kernel kernel;
  struct kernel_entry *next;
} kernel_entry;

struct clippo_program_entry {
  char *file;
  char *options;
  cl_program program;
  kernel_entry *kernels;
  struct clippo_program_entry *next;
};

unsigned long long clippo_fnv1a(unsigned long long h, const void *data, size_t n) {
  const unsigned char *p = data;
  for (size_t i = 0; i < n; i++) {
    h ^= p[i];
    h *= 1099511628211ull;
  }
  return h;
}

static const clippo_kernel_source *find_source(const char *file) {
  for (const clippo_kernel_source *s = clippo_kernel_sources; s->name; s++)
    if (!strcmp(s->name, file)) return s;
  return NULL;
}

/* Appends file with `#include "x"` lines replaced by the embedded x (each file once), and #line
 * markers so compiler messages name the original file and line. */
static int expand(clippo_strbuf *b, const char *file, char included[][64], int *n_included,
                  int depth) {
  const clippo_kernel_source *src = find_source(file);
  if (!src || depth > 8) return -1;
  char marker[160];
  snprintf(marker, sizeof marker, "#line 1 \"%s\"\n", file);
  clippo_strbuf_str(b, marker);
  const char *p = src->text, *end = src->text + src->len;
  int line = 1;
  while (p < end) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    const char *le = nl ? nl : end;
    const char *q = p;
    while (q < le && (*q == ' ' || *q == '\t')) q++;
    int handled = 0;
    if (le - q > 10 && !strncmp(q, "#include", 8)) {
      const char *a = memchr(q, '"', (size_t)(le - q));
      const char *z = a ? memchr(a + 1, '"', (size_t)(le - a - 1)) : NULL;
      if (a && z && (size_t)(z - a - 1) < 64) {
        char name[64];
        memcpy(name, a + 1, (size_t)(z - a - 1));
        name[z - a - 1] = '\0';
        int seen = 0;
        for (int i = 0; i < *n_included; i++) seen |= !strcmp(included[i], name);
        if (!seen) {
          if (*n_included >= 32) return -1;
          snprintf(included[(*n_included)++], 64, "%s", name);
          if (expand(b, name, included, n_included, depth + 1) != 0) return -1;
          snprintf(marker, sizeof marker, "\n#line %d \"%s\"\n", line + 1, file);
          clippo_strbuf_str(b, marker);
        } else {
          clippo_strbuf_str(b, "\n");
        }
        handled = 1;
      }
    }
    if (!handled) {
      clippo_strbuf_add(b, p, (size_t)(le - p));
      clippo_strbuf_str(b, "\n");
    }
    line++;
    p = nl ? nl + 1 : end;
  }
  return 0;
}

/* Expanded source of file (malloc'ed) or NULL. */
static char *expanded_source(const char *file, size_t *len) {
  clippo_strbuf b = {0};
  char included[32][64];
  int n = 1;
  snprintf(included[0], 64, "%s", file);
  if (expand(&b, file, included, &n, 0) != 0 || b.oom) {
    clippo_strbuf_free(&b);
    return NULL;
  }
  if (len) *len = b.len;
  return b.p;
}

static int mkdir_p(const char *dir) {
  char tmp[1024];
  snprintf(tmp, sizeof tmp, "%s", dir);
  for (char *p = tmp + 1; *p; p++) {
    if (*p == '/') {
      *p = '\0';
      if (mkdir(tmp, 0755) != 0 && errno != EEXIST) return -1;
      *p = '/';
    }
  }
  if (mkdir(tmp, 0755) != 0 && errno != EEXIST) return -1;
  return 0;
}

static const char cache_magic[8] = {'C', 'L', 'P', 'O', 'B', 'I', 'N', '1'};

/* Reads a cache entry; returns a malloc'ed binary when the file is complete and its checksum
 * matches, else NULL (a corrupt entry is simply rebuilt). */
static unsigned char *cache_read(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  unsigned char head[24];
  unsigned char *data = NULL;
  if (fread(head, 1, sizeof head, f) == sizeof head && !memcmp(head, cache_magic, 8)) {
    uint64_t n, sum;
    memcpy(&n, head + 8, 8);
    memcpy(&sum, head + 16, 8);
    if (n > 0 && n < (1ull << 31)) {
      data = malloc((size_t)n);
      if (data && (fread(data, 1, (size_t)n, f) != n || fgetc(f) != EOF ||
                   clippo_fnv1a(1469598103934665603ull, data, (size_t)n) != sum)) {
        free(data);
        data = NULL;
      }
      if (data) *len = (size_t)n;
    }
  }
  fclose(f);
  return data;
}

/* Writes a cache entry atomically (clippo_atomic_*: temporary file, fsync, rename; temporary
 * files of writers that died are swept from the folder first). Failures are ignored: the cache
 * is an optimisation. */
static void cache_write(const char *dir, const char *path, const unsigned char *data, size_t len) {
  if (mkdir_p(dir) != 0) return;
  clippo_atomic_clean_dir(dir, ".clbin");
  unsigned char head[24];
  uint64_t n = len, sum = clippo_fnv1a(1469598103934665603ull, data, len);
  memcpy(head, cache_magic, 8);
  memcpy(head + 8, &n, 8);
  memcpy(head + 16, &sum, 8);
  clippo_error err;
  clippo_atomic_file af;
  if (clippo_atomic_open(&af, path, &err) != CLIPPO_OK) return;
  if (clippo_atomic_write(&af, head, sizeof head, &err) != CLIPPO_OK ||
      clippo_atomic_write(&af, data, len, &err) != CLIPPO_OK) {
    clippo_atomic_abort(&af);
    return;
  }
  (void)clippo_atomic_commit(&af, &err);
}

/* The device binary of a built program (single device), malloc'ed. */
static unsigned char *program_binary(cl_program prog, size_t *len) {
  size_t size = 0;
  if (clGetProgramInfo(prog, CL_PROGRAM_BINARY_SIZES, sizeof size, &size, NULL) != CL_SUCCESS ||
      size == 0)
    return NULL;
  unsigned char *bin = malloc(size);
  if (!bin) return NULL;
  unsigned char *ptrs[1] = {bin};
  if (clGetProgramInfo(prog, CL_PROGRAM_BINARIES, sizeof ptrs, ptrs, NULL) != CL_SUCCESS) {
    free(bin);
    return NULL;
  }
  *len = size;
  return bin;
}

static cl_program program_from_binary(clippo_rt *rt, const unsigned char *bin, size_t len,
                                      const char *options) {
  cl_int rc, status;
  cl_program p = clCreateProgramWithBinary(rt->ctx, 1, &rt->device, &len, &bin, &status, &rc);
  if (rc != CL_SUCCESS || status != CL_SUCCESS) {
    if (p) clReleaseProgram(p);
    return NULL;
  }
  if (clBuildProgram(p, 1, &rt->device, options, NULL, NULL) != CL_SUCCESS) {
    clReleaseProgram(p);
    return NULL;
  }
  return p;
}

static clippo_status build_log_error(clippo_rt *rt, cl_program p, const char *file,
                                     const char *options, cl_int rc, clippo_error *err) {
  size_t n = 0;
  char *log = NULL;
  if (clGetProgramBuildInfo(p, rt->device, CL_PROGRAM_BUILD_LOG, 0, NULL, &n) == CL_SUCCESS &&
      n > 0) {
    log = malloc(n + 1);
    if (log &&
        clGetProgramBuildInfo(p, rt->device, CL_PROGRAM_BUILD_LOG, n, log, NULL) == CL_SUCCESS)
      log[n] = '\0';
    else if (log)
      log[0] = '\0';
  }
  clippo_status st = clippo_fail(
      err, CLIPPO_E_BUILD, "building kernels/%s (options '%s') for device '%s' failed: %s\n%s",
      file, options, rt->info.name, clippo_cl_error_name(rc), log ? log : "(no build log)");
  free(log);
  return st;
}

/* Full options: the project's defaults followed by the caller's. */
static void full_options(char *out, size_t size, const char *options) {
  snprintf(out, size, "-cl-std=CL1.2 %s", options ? options : "");
}

static clippo_status build_program(clippo_rt *rt, const char *file, const char *options,
                                   cl_program *out, clippo_error *err) {
  size_t src_len = 0;
  char *src = expanded_source(file, &src_len);
  if (!src)
    return clippo_fail(err, CLIPPO_E_NOTFOUND,
                       "kernel source kernels/%s (or a file it includes) is not embedded", file);
  char opts[2048];
  full_options(opts, sizeof opts, options);
  double t0 = clippo_now();

  /* Offline-compiled binaries (FPGAs): <dir>/<file without .cl>.bin */
  if (rt->precompiled_dir[0]) {
    char stem[256], path[1400];
    snprintf(stem, sizeof stem, "%s", file);
    char *dot = strrchr(stem, '.');
    if (dot) *dot = '\0';
    snprintf(path, sizeof path, "%s/%s.bin", rt->precompiled_dir, stem);
    FILE *f = fopen(path, "rb");
    if (f) {
      unsigned char *bin = NULL;
      long n = (fseek(f, 0, SEEK_END) == 0) ? ftell(f) : -1;
      if (n > 0 && fseek(f, 0, SEEK_SET) == 0 && (bin = malloc((size_t)n)) &&
          fread(bin, 1, (size_t)n, f) == (size_t)n) {
        cl_program p = program_from_binary(rt, bin, (size_t)n, opts);
        free(bin);
        fclose(f);
        if (!p) {
          free(src);
          return clippo_fail(err, CLIPPO_E_BUILD,
                             "precompiled binary %s does not load on device '%s'", path,
                             rt->info.name);
        }
        *out = p;
        rt->build_seconds += clippo_now() - t0;
        free(src);
        return CLIPPO_OK;
      }
      free(bin);
      fclose(f);
    }
  }

  /* The cache key covers everything that changes the binary. */
  unsigned long long h1 = 1469598103934665603ull, h2 = 0x84222325cbf29ce4ull;
  const char *parts[] = {CLIPPO_VERSION,   rt->info.platform, rt->info.name, rt->info.vendor,
                         rt->info.version, rt->info.driver,   opts,          src};
  for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
    h1 = clippo_fnv1a(h1, parts[i], strlen(parts[i]) + 1);
    h2 = clippo_fnv1a(h2 ^ (i * 0x9E3779B97F4A7C15ull), parts[i], strlen(parts[i]) + 1);
  }
  char path[1200] = "";
  if (rt->cache_dir[0]) {
    snprintf(path, sizeof path, "%s/%016llx%016llx.clbin", rt->cache_dir, h1, h2);
    size_t blen = 0;
    unsigned char *bin = cache_read(path, &blen);
    if (bin) {
      cl_program p = program_from_binary(rt, bin, blen, opts);
      free(bin);
      if (p) {
        *out = p;
        rt->cache_hits++;
        rt->build_seconds += clippo_now() - t0;
        free(src);
        return CLIPPO_OK;
      }
    }
  }

  if (rt->notify && !rt->compile_noticed) { /* the caller may tell the user about the wait */
    rt->compile_noticed = 1;
    rt->notify(rt->notify_user, rt, CLIPPO_RT_EVENT_COMPILING);
  }
  cl_int rc;
  const char *srcs[1] = {src};
  cl_program p = clCreateProgramWithSource(rt->ctx, 1, srcs, &src_len, &rc);
  free(src);
  if (rc != CL_SUCCESS) return clippo_cl_check(rt, rc, "clCreateProgramWithSource", err);
  rc = clBuildProgram(p, 1, &rt->device, opts, NULL, NULL);
  if (rc != CL_SUCCESS) {
    clippo_status st = build_log_error(rt, p, file, opts, rc, err);
    clReleaseProgram(p);
    return st;
  }
  rt->cache_misses++;
  if (path[0]) {
    size_t blen = 0;
    unsigned char *bin = program_binary(p, &blen);
    if (bin) cache_write(rt->cache_dir, path, bin, blen);
    free(bin);
  }
  rt->build_seconds += clippo_now() - t0;
  *out = p;
  return CLIPPO_OK;
}

static clippo_program_entry *find_entry(clippo_rt *rt, const char *file, const char *options) {
  for (clippo_program_entry *e = rt->programs; e; e = e->next)
    if (!strcmp(e->file, file) && !strcmp(e->options, options)) return e;
  return NULL;
}

static clippo_status get_entry(clippo_rt *rt, const char *file, const char *options,
                               clippo_program_entry **out, clippo_error *err) {
  if (!options) options = "";
  clippo_program_entry *e = find_entry(rt, file, options);
  if (!e) {
    cl_program p = NULL;
    clippo_status st = build_program(rt, file, options, &p, err);
    if (st != CLIPPO_OK) return st;
    e = calloc(1, sizeof *e);
    if (e) {
      e->file = strdup(file);
      e->options = strdup(options);
    }
    if (!e || !e->file || !e->options) {
      if (e) {
        free(e->file);
        free(e->options);
      }
      free(e);
      clReleaseProgram(p);
      return clippo_fail(err, CLIPPO_E_NOMEM, "out of host memory");
    }
    e->program = p;
    e->next = rt->programs;
    rt->programs = e;
  }
  *out = e;
  return CLIPPO_OK;
}

clippo_status clippo_rt_program(clippo_rt *rt, const char *file, const char *options,
                                cl_program *out, clippo_error *err) {
  clippo_program_entry *e = NULL;
  clippo_status st = get_entry(rt, file, options, &e, err);
  if (st == CLIPPO_OK) *out = e->program;
  return st;
}

clippo_status clippo_rt_kernel(clippo_rt *rt, const char *file, const char *name,
                               const char *options, cl_kernel *out, clippo_error *err) {
  clippo_program_entry *e = NULL;
  clippo_status st = get_entry(rt, file, options, &e, err);
  if (st != CLIPPO_OK) return st;
  for (kernel_entry *k = e->kernels; k; k = k->next)
    if (!strcmp(k->name, name)) {
      *out = k->kernel;
      return CLIPPO_OK;
    }
  cl_int rc;
  cl_kernel k = clCreateKernel(e->program, name, &rc);
  if (rc != CL_SUCCESS)
    return clippo_fail(err, rc == CL_INVALID_KERNEL_NAME ? CLIPPO_E_NOTFOUND : CLIPPO_E_DEVICE,
                       "kernel %s in kernels/%s on device '%s': %s", name, file, rt->info.name,
                       clippo_cl_error_name(rc));
  kernel_entry *ke = calloc(1, sizeof *ke);
  if (!ke) {
    clReleaseKernel(k);
    return clippo_fail(err, CLIPPO_E_NOMEM, "out of host memory");
  }
  snprintf(ke->name, sizeof ke->name, "%s", name);
  ke->kernel = k;
  ke->next = e->kernels;
  e->kernels = ke;
  *out = k;
  return CLIPPO_OK;
}

void clippo_programs_release(clippo_rt *rt) {
  clippo_program_entry *e = rt->programs;
  while (e) {
    clippo_program_entry *next = e->next;
    kernel_entry *k = e->kernels;
    while (k) {
      kernel_entry *kn = k->next;
      clReleaseKernel(k->kernel);
      free(k);
      k = kn;
    }
    clReleaseProgram(e->program);
    free(e->file);
    free(e->options);
    free(e);
    e = next;
  }
  rt->programs = NULL;
}
