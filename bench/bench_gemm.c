/* GEMM benchmark: GFLOP/s of each provider (and of the automatic choice) on every ViT-B/16
 * product, attention batches included, side by side with plain OpenBLAS cblas_sgemm on host
 * memory in the same run. Median of N timed runs after a checked warm-up; one JSON object per
 * line on stdout (median and best GFLOP/s: on a shared machine the best is the steadier).
 *
 *   bench_gemm [--device SPEC] [--images N] [--reps N]
 *              [--providers auto,clblast,hostblas,kernel,onednn]
 *              [--shapes qkv,attn_qk,...] [--kernel-cfg TMxVWxNV/LXxLY/KC] [--no-host] */
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clippo/gemm.h"

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double median(double *x, int n) {
  for (int i = 1; i < n; i++)
    for (int j = i; j > 0 && x[j - 1] > x[j]; j--) {
      double t = x[j];
      x[j] = x[j - 1];
      x[j - 1] = t;
    }
  return n % 2 ? x[n / 2] : 0.5 * (x[n / 2 - 1] + x[n / 2]);
}

/* Prints s as a JSON string. */
static void json_str(const char *s) {
  putchar('"');
  for (; *s; s++) {
    unsigned char ch = (unsigned char)*s;
    if (ch == '"' || ch == '\\')
      printf("\\%c", ch);
    else if (ch < 0x20)
      printf("\\u%04x", ch);
    else
      putchar(ch);
  }
  putchar('"');
}

/* 1 if name is in the comma-separated list (NULL list: everything). */
static int in_list(const char *list, const char *name) {
  if (!list) return 1;
  size_t n = strlen(name);
  for (const char *p = list; *p;) {
    const char *e = strchr(p, ',');
    size_t len = e ? (size_t)(e - p) : strlen(p);
    if (len == n && !strncmp(p, name, n)) return 1;
    if (!e) break;
    p = e + 1;
  }
  return 0;
}

static void fill(float *x, size_t n, unsigned seed) {
  unsigned long long s = seed * 2654435761ull + 1;
  for (size_t i = 0; i < n; i++) {
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    x[i] = (float)((double)(s >> 40) / 16777216.0 - 0.5);
  }
}

static void head(const char *dev, const clippo_gemm_shape *s, const char *cls) {
  printf("{\"bench\":\"gemm\",\"device\":");
  json_str(dev);
  printf(",\"shape\":\"%s\",\"class\":\"%s\",\"m\":%zu,\"n\":%zu,\"k\":%zu,\"batch\":%zu,"
         "\"trans_a\":%d,\"trans_b\":%d",
         s->name, cls, s->m, s->n, s->k, s->batch, s->trans_a, s->trans_b);
}

int main(int argc, char **argv) {
  const char *device = NULL, *providers = NULL, *shapes = NULL, *cfg_s = NULL;
  long images = 8, reps = 5;
  int no_host = 0;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      printf("usage: bench_gemm [--device SPEC] [--images N] [--reps N] [--providers LIST] "
             "[--shapes LIST] [--kernel-cfg TMxVWxNV/LXxLY/KC] [--no-host]\n"
             "providers: auto,clblast,hostblas,kernel,onednn (default: all that the device can "
             "run)\n");
      return 0;
    }
    if (!strcmp(a, "--no-host")) {
      no_host = 1;
      continue;
    }
    if (!v) {
      fprintf(stderr, "bench_gemm: %s needs a value (or unknown option)\n", a);
      return 2;
    }
    if (!strcmp(a, "--device"))
      device = v;
    else if (!strcmp(a, "--images"))
      images = strtol(v, NULL, 10);
    else if (!strcmp(a, "--reps"))
      reps = strtol(v, NULL, 10);
    else if (!strcmp(a, "--providers"))
      providers = v;
    else if (!strcmp(a, "--shapes"))
      shapes = v;
    else if (!strcmp(a, "--kernel-cfg"))
      cfg_s = v;
    else {
      fprintf(stderr, "bench_gemm: unknown option %s\n", a);
      return 2;
    }
    i++;
  }
  if (images < 1 || images > 1024 || reps < 1 || reps > 1000) {
    fprintf(stderr, "bench_gemm: --images 1..1024, --reps 1..1000\n");
    return 2;
  }
  clippo_gemm_kernel_cfg cfg;
  memset(&cfg, 0, sizeof cfg);
  clippo_error err;
  if (cfg_s && clippo_gemm_kernel_cfg_parse(cfg_s, &cfg, &err)) {
    fprintf(stderr, "bench_gemm: --kernel-cfg: %s\n", err.msg);
    return 2;
  }
  clippo_rt *rt = NULL;
  if (clippo_rt_create(&rt, device, &err)) {
    fprintf(stderr, "bench_gemm: %s\n", err.msg);
    return 1;
  }
  clippo_gemm_shape list[32];
  size_t ns = clippo_gemm_vit_b16_shapes((size_t)images, list, 32);
  double *times = malloc((size_t)reps * sizeof(double));
  int rc = 0;
  for (size_t si = 0; si < ns && si < 32; si++) {
    const clippo_gemm_shape *s = &list[si];
    if (!in_list(shapes, s->name)) continue;
    char cls[CLIPPO_GEMM_CLASS_LEN];
    clippo_gemm_shape_class(s->trans_a, s->trans_b, s->m, s->n, s->k, s->batch, cls);
    size_t an = s->m * s->k * s->batch, bn = s->k * s->n * s->batch, cn = s->m * s->n * s->batch;
    size_t lda = s->trans_a ? s->m : s->k, ldb = s->trans_b ? s->k : s->n;
    float *ha = malloc(an * 4), *hb = malloc(bn * 4), *hc = malloc(cn * 4), *out = malloc(cn * 4);
    if (!ha || !hb || !hc || !out || !times) {
      fprintf(stderr, "bench_gemm: out of memory\n");
      free(ha), free(hb), free(hc), free(out), free(times);
      clippo_rt_destroy(rt);
      return 1;
    }
    fill(ha, an, 1);
    fill(hb, bn, 2);
    double flops = 2.0 * (double)s->m * (double)s->n * (double)s->k * (double)s->batch;
    /* Plain OpenBLAS on host memory (also the reference for the checks). */
    for (long r = -1; r < (no_host ? 0 : reps); r++) {
      double t0 = now();
      for (size_t z = 0; z < s->batch; z++)
        cblas_sgemm(CblasRowMajor, s->trans_a ? CblasTrans : CblasNoTrans,
                    s->trans_b ? CblasTrans : CblasNoTrans, (int)s->m, (int)s->n, (int)s->k, 1.0f,
                    ha + z * s->m * s->k, (int)lda, hb + z * s->k * s->n, (int)ldb, 0.0f,
                    hc + z * s->m * s->n, (int)s->n);
      if (r >= 0) times[r] = now() - t0;
    }
    if (!no_host) {
      double med = median(times, (int)reps);
      head(rt->info.name, s, cls);
      printf(",\"provider\":\"openblas-host\",\"median_ms\":%.3f,\"gflops\":%.2f,"
             "\"best_gflops\":%.2f}\n",
             med * 1e3, flops / med * 1e-9, flops / times[0] * 1e-9);
      fflush(stdout);
    }
    clippo_tensor ta, tb, tc;
    int64_t sha[1] = {(int64_t)an}, shb[1] = {(int64_t)bn}, shc[1] = {(int64_t)cn};
    if (clippo_tensor_alloc(rt, &ta, CLIPPO_F32, 1, sha, &err) ||
        clippo_tensor_alloc(rt, &tb, CLIPPO_F32, 1, shb, &err) ||
        clippo_tensor_alloc(rt, &tc, CLIPPO_F32, 1, shc, &err) ||
        clippo_tensor_write(rt, &ta, ha, &err) || clippo_tensor_write(rt, &tb, hb, &err)) {
      fprintf(stderr, "bench_gemm: %s\n", err.msg);
      free(ha), free(hb), free(hc), free(out), free(times);
      clippo_rt_destroy(rt);
      return 1;
    }
    for (int p = 0; p < CLIPPO_GEMM_NPROVIDERS; p++) {
      clippo_gemm_provider pv = (clippo_gemm_provider)p;
      if (!in_list(providers, clippo_gemm_provider_name(pv))) continue;
      if (pv != CLIPPO_GEMM_AUTO && !clippo_gemm_provider_available(rt, pv)) continue;
      clippo_gemm_choice ch;
      if (clippo_gemm_choose(rt, s->trans_a, s->trans_b, s->m, s->n, s->k, s->batch, &ch, &err)) {
        fprintf(stderr, "bench_gemm: %s\n", err.msg);
        clippo_tensor_release(rt, &ta);
        clippo_tensor_release(rt, &tb);
        clippo_tensor_release(rt, &tc);
        free(ha), free(hb), free(hc), free(out), free(times);
        clippo_rt_destroy(rt);
        return 1;
      }
      clippo_gemm_kernel_cfg kc = cfg_s ? cfg : ch.kernel;
      clippo_status st = CLIPPO_OK;
      double first = 0;
      for (long r = -1; r < reps && !st; r++) {
        double t0 = now();
        if (pv == CLIPPO_GEMM_AUTO)
          st = clippo_gemm_batched(rt, s->trans_a, s->trans_b, s->m, s->n, s->k, 1.0f, &ta, lda,
                                   s->m * s->k, &tb, ldb, s->k * s->n, 0.0f, &tc, s->n, s->m * s->n,
                                   s->batch, &err);
        else
          st = clippo_gemm_with(rt, pv, &kc, s->trans_a, s->trans_b, s->m, s->n, s->k, 1.0f, &ta,
                                lda, s->m * s->k, &tb, ldb, s->k * s->n, 0.0f, &tc, s->n,
                                s->m * s->n, s->batch, &err);
        if (!st) st = clippo_rt_finish(rt, &err);
        double t = now() - t0;
        if (r >= 0)
          times[r] = t;
        else
          first = t;
      }
      head(rt->info.name, s, cls);
      printf(",\"provider\":\"%s\"", clippo_gemm_provider_name(pv));
      if (pv == CLIPPO_GEMM_AUTO)
        printf(",\"chosen\":\"%s\",\"source\":\"%s\"", clippo_gemm_provider_name(ch.provider),
               ch.source);
      if (pv == CLIPPO_GEMM_KERNEL ||
          (pv == CLIPPO_GEMM_AUTO && ch.provider == CLIPPO_GEMM_KERNEL)) {
        char cs[64];
        clippo_gemm_kernel_cfg_format(&kc, cs, sizeof cs);
        printf(",\"kernel_cfg\":\"%s\"", cs);
      }
      if (st) {
        printf(",\"error\":");
        json_str(err.msg);
        printf("}\n");
        rc = 1;
        continue;
      }
      double rel = -1;
      if (!clippo_tensor_read(rt, &tc, out, &err)) {
        double num = 0, den = 0;
        for (size_t i = 0; i < cn; i++) {
          double d = (double)out[i] - (double)hc[i];
          num += d * d;
          den += (double)hc[i] * (double)hc[i];
        }
        rel = sqrt(num / den);
      }
      double med = median(times, (int)reps);
      printf(",\"median_ms\":%.3f,\"gflops\":%.2f,\"best_gflops\":%.2f,\"first_ms\":%.1f,"
             "\"rel_err\":%.2g}\n",
             med * 1e3, flops / med * 1e-9, flops / times[0] * 1e-9, first * 1e3, rel);
      fflush(stdout);
    }
    clippo_tensor_release(rt, &ta);
    clippo_tensor_release(rt, &tb);
    clippo_tensor_release(rt, &tc);
    free(ha);
    free(hb);
    free(hc);
    free(out);
  }
  free(times);
  clippo_rt_destroy(rt);
  return rc;
}
