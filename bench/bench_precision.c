/* What the GEMM providers and precisions cost and buy on one device, measured side by side: the
 * same images embedded by each variant (a GEMM provider and a precision), the variants taking
 * turns in every round (in reverse order every other round, so that a machine whose load drifts
 * treats them alike). Per variant: the cosine of each embedding to the first variant's (mean,
 * smallest) and the images per second (median over the rounds after the first, which warms up;
 * with one round, that one). One JSON line per variant. A variant the device refuses prints its
 * reason and is left out.
 *
 * usage: bench_precision [--device SPEC] [--model FILE] [--fashion-mnist N | --images N]
 *                        [--fashion-mnist-dir DIR] [--batch B] [--rounds R] [--seed S]
 *                        [--variants LIST]
 * LIST: comma-separated PROVIDER:PRECISION (provider auto, hostblas, onednn, kernel, clblast;
 * precision fp32, fp16, fp16-emulated, bf16, int8), default auto:fp32,auto:bf16,auto:int8; the
 * first is the reference (use fp32). Without --model a random ViT-B/16 (clippo_params_init with
 * --seed) is measured; images are random in [-1, 1] (--images, default 8) or the first N
 * Fashion-MNIST test images (from --fashion-mnist-dir or Debian's dataset-fashion-mnist). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clippo/gemm.h"
#include "clippo/idx.h"
#include "clippo/bench.h"
#include "clippo/model.h"
#include "clippo/params.h"
#include "clippo/tasks.h"

#define MAX_VARIANTS 8
#define MAX_ROUNDS 64

typedef struct variant {
  char provider[32];
  clippo_precision precision;
  int refused;
  float *z;               /* n embeddings */
  double ips[MAX_ROUNDS]; /* images/s per round */
} variant;

/* Fills img with the first n Fashion-MNIST test images at the model's size. */
static clippo_status fashion_mnist(const char *given, size_t n, int size, float *img,
                                   clippo_error *err) {
  const char *dir = clippo_fashion_mnist_dir(given);
  if (!dir)
    return clippo_fail(err, CLIPPO_E_NOTFOUND,
                       "no Fashion-MNIST (apt install dataset-fashion-mnist, or give "
                       "--fashion-mnist-dir)");
  char path[1200];
  snprintf(path, sizeof path, "%s/t10k-images-idx3-ubyte.gz", dir);
  clippo_idx idx;
  memset(&idx, 0, sizeof idx);
  clippo_status st = clippo_idx_load(path, n, &idx, err);
  if (!st && (idx.ndim != 3 || (size_t)idx.dims[0] < n))
    st = clippo_fail(err, CLIPPO_E_FORMAT, "%s: expected at least %zu images of 28 x 28", path, n);
  if (!st)
    st =
        clippo_pixels_to_inputs(idx.data, n, (int)idx.dims[2], (int)idx.dims[1], 1, size, img, err);
  clippo_idx_free(&idx);
  return st;
}

/* Parses LIST into v[]; returns how many, or -1 (message printed). */
static int parse_variants(const char *list, variant *v) {
  char buf[512];
  snprintf(buf, sizeof buf, "%s", list);
  int n = 0;
  char *save = NULL;
  for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
    char *colon = strchr(t, ':');
    clippo_error err;
    clippo_gemm_provider p;
    if (n == MAX_VARIANTS || !colon) {
      fprintf(stderr, "bench_precision: --variants: '%s' is not PROVIDER:PRECISION (at most %d)\n",
              t, MAX_VARIANTS);
      return -1;
    }
    *colon = '\0';
    if (clippo_gemm_provider_parse(t, &p, &err) ||
        clippo_precision_parse(colon + 1, &v[n].precision, &err)) {
      fprintf(stderr, "bench_precision: --variants: %s\n", err.msg);
      return -1;
    }
    snprintf(v[n].provider, sizeof v[n].provider, "%s", p == CLIPPO_GEMM_AUTO ? "" : t);
    n++;
  }
  return n;
}

/* Embeds the n images with variant v (its provider and precision on rt) into v->z; *ips gets
 * images/s. */
static clippo_status run_variant(clippo_rt *rt, clippo_model *m, variant *v, const float *img,
                                 size_t n, size_t batch, size_t per, size_t od, double *ips,
                                 clippo_error *err) {
  snprintf(rt->settings.gemm, sizeof rt->settings.gemm, "%s", v->provider);
  clippo_status st = clippo_rt_set_precision(rt, v->precision, err);
  double t0 = clippo_bench_now();
  for (size_t i = 0; i < n && !st; i += batch) {
    size_t k = n - i < batch ? n - i : batch;
    st = clippo_model_embed_images(m, img + i * per, k, CLIPPO_EMBED_Z, v->z + i * od, err);
  }
  *ips = (double)n / (clippo_bench_now() - t0);
  return st;
}

int main(int argc, char **argv) {
  const char *device = NULL, *model = NULL, *list = "auto:fp32,auto:bf16,auto:int8", *fdir = NULL;
  size_t n = 8, batch = 8;
  int fmnist = 0, rounds = 3;
  unsigned long long seed = 1;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "--device"))
      device = argv[i + 1];
    else if (!strcmp(argv[i], "--model"))
      model = argv[i + 1];
    else if (!strcmp(argv[i], "--images"))
      n = (size_t)atol(argv[i + 1]);
    else if (!strcmp(argv[i], "--fashion-mnist")) {
      n = (size_t)atol(argv[i + 1]);
      fmnist = 1;
    } else if (!strcmp(argv[i], "--fashion-mnist-dir"))
      fdir = argv[i + 1];
    else if (!strcmp(argv[i], "--batch"))
      batch = (size_t)atol(argv[i + 1]);
    else if (!strcmp(argv[i], "--rounds"))
      rounds = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--seed"))
      seed = strtoull(argv[i + 1], NULL, 10);
    else if (!strcmp(argv[i], "--variants"))
      list = argv[i + 1];
    else {
      fprintf(stderr, "bench_precision: unknown option %s\n", argv[i]);
      return 2;
    }
  }
  variant v[MAX_VARIANTS];
  memset(v, 0, sizeof v);
  int nv = parse_variants(list, v);
  if (nv <= 0) return 2;
  if (n == 0 || n > 100000 || batch == 0 || batch > 1024 || rounds < 1 || rounds > MAX_ROUNDS) {
    fprintf(stderr,
            "bench_precision: --images/--fashion-mnist 1..100000, --batch 1..1024, "
            "--rounds 1..%d\n",
            MAX_ROUNDS);
    return 2;
  }
  clippo_error err;
  clippo_rt *rt = NULL;
  clippo_model *m = NULL;
  if (clippo_rt_create(&rt, device, &err) != CLIPPO_OK) {
    fprintf(stderr, "bench_precision: %s\n", err.msg);
    return 1;
  }
  clippo_status st;
  if (model) {
    st = clippo_model_load(rt, model, &m, &err);
  } else {
    clippo_config cfg;
    clippo_params params;
    memset(&params, 0, sizeof params);
    clippo_config_b16(&cfg);
    st = clippo_params_init(&params, &cfg, seed, &err);
    if (!st) st = clippo_model_create(rt, &cfg, &params, &m, &err);
    clippo_params_free(&params);
  }
  if (!st) st = clippo_model_set_batch(m, batch, &err);
  if (st) {
    fprintf(stderr, "bench_precision: %s\n", err.msg);
    clippo_model_free(m);
    clippo_rt_destroy(rt);
    return 1;
  }
  const clippo_config *cfg = clippo_model_config(m);
  size_t per = (size_t)cfg->image_size * (size_t)cfg->image_size * 3;
  size_t od = clippo_model_output_dim(m, CLIPPO_EMBED_Z);
  float *img = malloc(n * per * sizeof *img);
  int rc = 1, ok = img != NULL;
  for (int j = 0; j < nv; j++) {
    v[j].z = malloc(n * od * sizeof *v[j].z);
    ok = ok && v[j].z;
  }
  if (!ok) {
    fprintf(stderr, "bench_precision: out of memory\n");
    goto done;
  }
  if (fmnist) {
    if (fashion_mnist(fdir, n, cfg->image_size, img, &err)) {
      fprintf(stderr, "bench_precision: %s\n", err.msg);
      goto done;
    }
  } else {
    unsigned long long s = seed * 6364136223846793005ull + 1;
    for (size_t i = 0; i < n * per; i++) {
      s = s * 6364136223846793005ull + 1442695040888963407ull;
      img[i] = (float)((double)(s >> 40) / 8388608.0 - 1.0);
    }
  }
  /* A variant the device refuses (its precision) is left out from the start. */
  for (int j = 0; j < nv; j++) {
    if (clippo_rt_set_precision(rt, v[j].precision, &err)) {
      fprintf(stderr, "bench_precision: %s:%s left out: %s\n",
              v[j].provider[0] ? v[j].provider : "auto", clippo_precision_name(v[j].precision),
              err.msg);
      v[j].refused = 1;
    }
  }
  if (v[0].refused) goto done;
  for (int r = 0; r < rounds; r++) {
    for (int i = 0; i < nv; i++) {
      int j = r % 2 ? nv - 1 - i : i;
      if (v[j].refused) continue;
      if (run_variant(rt, m, &v[j], img, n, batch, per, od, &v[j].ips[r], &err)) {
        fprintf(stderr, "bench_precision: %s:%s: %s\n", v[j].provider[0] ? v[j].provider : "auto",
                clippo_precision_name(v[j].precision), err.msg);
        goto done;
      }
    }
  }
  for (int j = 0; j < nv; j++) {
    if (v[j].refused) continue;
    double sum = 0, lo = 1;
    for (size_t i = 0; i < n; i++) {
      double d = 0, na = 0, nb = 0;
      for (size_t k = 0; k < od; k++) {
        d += (double)v[0].z[i * od + k] * (double)v[j].z[i * od + k];
        na += (double)v[0].z[i * od + k] * (double)v[0].z[i * od + k];
        nb += (double)v[j].z[i * od + k] * (double)v[j].z[i * od + k];
      }
      double c = d / sqrt(na * nb);
      sum += c;
      lo = c < lo ? c : lo;
    }
    int first = rounds > 1 ? 1 : 0, timed = rounds - first;
    clippo_bench_sort(v[j].ips + first, (size_t)timed);
    printf("{\"bench\": \"precision\", \"device\": \"%s\", \"model\": \"%s\", \"images\": \"%s\", "
           "\"n\": %zu, \"batch\": %zu, \"provider\": \"%s\", \"precision\": \"%s\", "
           "\"cos_mean\": %.6f, \"cos_min\": %.6f, \"images_per_s\": %.3f, \"images_per_s_min\": "
           "%.3f, \"images_per_s_max\": %.3f, \"rounds\": %d}\n",
           rt->info.name, model ? model : "random ViT-B/16", fmnist ? "fashion-mnist" : "random", n,
           batch, v[j].provider[0] ? v[j].provider : "auto", clippo_precision_name(v[j].precision),
           sum / (double)n, lo, v[j].ips[first + timed / 2], v[j].ips[first], v[j].ips[rounds - 1],
           timed);
  }
  rc = 0;
done:
  free(img);
  for (int j = 0; j < nv; j++) free(v[j].z);
  clippo_model_free(m);
  clippo_rt_destroy(rt);
  return rc;
}
