/* What the GEMM precisions cost and buy on one device: the same images embedded in float32 and
 * in each other precision asked for (default fp32, bf16, int8), with the cosine of each
 * embedding to its float32 one (mean, smallest) and the images per second (median over the
 * batches, after a warm-up batch). Prints one JSON line per precision. A precision the device
 * refuses prints its reason and is left out.
 * usage: bench_precision [--device SPEC] [--model FILE] [--fashion-mnist N | --images N]
 *                        [--fashion-mnist-dir DIR] [--batch B] [--seed S] [--precisions LIST]
 * Without --model a random ViT-B/16 (clippo_params_init with --seed) is measured; images are
 * random in [-1, 1] (--images, default 32) or the first N Fashion-MNIST test images
 * (--fashion-mnist N, from --fashion-mnist-dir or Debian's dataset-fashion-mnist). The
 * float32 GEMM provider is the usual choice (env CLIPPO_GEMM forces one). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clippo/idx.h"
#include "clippo/model.h"
#include "clippo/params.h"
#include "clippo/tasks.h"

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* Embeds n images in batches of b into out; *ips gets the median images/s over the timed
 * batches (the first is a warm-up; with one batch, that one). */
static clippo_status embed_all(clippo_model *m, const float *img, size_t n, size_t b, size_t per,
                               size_t od, float *out, double *ips, clippo_error *err) {
  size_t nb = (n + b - 1) / b;
  double *t = calloc(nb, sizeof *t);
  if (!t) return clippo_fail(err, CLIPPO_E_NOMEM, "out of host memory");
  clippo_status st = CLIPPO_OK;
  for (size_t i = 0; i < nb && !st; i++) {
    size_t k = n - i * b < b ? n - i * b : b;
    double t0 = now_s();
    st = clippo_model_embed_images(m, img + i * b * per, k, CLIPPO_EMBED_Z, out + i * b * od, err);
    t[i] = (double)k / (now_s() - t0);
  }
  if (!st) {
    size_t first = nb > 1 ? 1 : 0;
    qsort(t + first, nb - first, sizeof *t, cmp_double);
    *ips = t[first + (nb - first) / 2];
  }
  free(t);
  return st;
}

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

int main(int argc, char **argv) {
  const char *device = NULL, *model = NULL, *list = "fp32,bf16,int8", *fdir = NULL;
  size_t n = 32, batch = 8;
  int fmnist = 0;
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
    else if (!strcmp(argv[i], "--seed"))
      seed = strtoull(argv[i + 1], NULL, 10);
    else if (!strcmp(argv[i], "--precisions"))
      list = argv[i + 1];
    else {
      fprintf(stderr, "bench_precision: unknown option %s\n", argv[i]);
      return 2;
    }
  }
  if (n == 0 || n > 100000 || batch == 0 || batch > 1024) {
    fprintf(stderr, "bench_precision: --images/--fashion-mnist 1..100000, --batch 1..1024\n");
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
  float *img = malloc(n * per * sizeof *img), *ref = malloc(n * od * sizeof *ref),
        *out = malloc(n * od * sizeof *out);
  int rc = 1;
  if (!img || !ref || !out) {
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
  clippo_precision p32 = CLIPPO_PRECISION_FP32;
  double ips = 0;
  if (clippo_rt_set_precision(rt, p32, &err) ||
      embed_all(m, img, n, batch, per, od, ref, &ips, &err)) {
    fprintf(stderr, "bench_precision: fp32: %s\n", err.msg);
    goto done;
  }
  char names[256];
  snprintf(names, sizeof names, "%s", list);
  char *save = NULL;
  for (char *name = strtok_r(names, ",", &save); name; name = strtok_r(NULL, ",", &save)) {
    clippo_precision p;
    if (clippo_precision_parse(name, &p, &err)) {
      fprintf(stderr, "bench_precision: %s\n", err.msg);
      goto done;
    }
    if (clippo_rt_set_precision(rt, p, &err)) {
      fprintf(stderr, "bench_precision: %s left out: %s\n", name, err.msg);
      continue;
    }
    if (embed_all(m, img, n, batch, per, od, p == p32 ? ref : out, &ips, &err)) {
      fprintf(stderr, "bench_precision: %s: %s\n", name, err.msg);
      goto done;
    }
    double sum = 0, lo = 1;
    for (size_t i = 0; i < n && p != p32; i++) {
      double d = 0, na = 0, nb = 0;
      for (size_t j = 0; j < od; j++) {
        d += (double)ref[i * od + j] * (double)out[i * od + j];
        na += (double)ref[i * od + j] * (double)ref[i * od + j];
        nb += (double)out[i * od + j] * (double)out[i * od + j];
      }
      double c = d / sqrt(na * nb);
      sum += c;
      lo = c < lo ? c : lo;
    }
    if (p == p32) sum = (double)n;
    printf("{\"bench\": \"precision\", \"device\": \"%s\", \"model\": \"%s\", \"images\": \"%s\", "
           "\"n\": %zu, \"batch\": %zu, \"precision\": \"%s\", \"cos_mean\": %.6f, "
           "\"cos_min\": %.6f, \"images_per_s\": %.3f}\n",
           rt->info.name, model ? model : "random ViT-B/16", fmnist ? "fashion-mnist" : "random", n,
           batch, name, sum / (double)n, lo, ips);
    fflush(stdout);
  }
  rc = 0;
done:
  free(img);
  free(ref);
  free(out);
  clippo_model_free(m);
  clippo_rt_destroy(rt);
  return rc;
}
