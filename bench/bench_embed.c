/* End-to-end image embedding throughput of a random CLIPPO model (B/16 by default) on one
 * device: warm-up, then the median of N timed runs. Prints one JSON line.
 * usage: bench_embed [--device SPEC] [--variant b16|l16|WxDxHxMxPxS] [--batch B] [--runs N] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clippo/bench.h"
#include "clippo/model.h"

int main(int argc, char **argv) {
  const char *device = NULL, *variant = "b16";
  size_t batch = 8;
  int runs = 3;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "--device"))
      device = argv[i + 1];
    else if (!strcmp(argv[i], "--variant"))
      variant = argv[i + 1];
    else if (!strcmp(argv[i], "--batch"))
      batch = (size_t)atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--runs"))
      runs = atoi(argv[i + 1]);
  }
  if (batch == 0 || runs <= 0 || runs > 100) {
    fprintf(stderr, "bench_embed: bad --batch or --runs\n");
    return 2;
  }
  clippo_config cfg;
  clippo_config_b16(&cfg);
  if (!strcmp(variant, "l16")) {
    cfg.width = 1024;
    cfg.depth = 24;
    cfg.heads = 16;
    cfg.mlp_dim = 4096;
  } else if (strcmp(variant, "b16") != 0 &&
             sscanf(variant, "%dx%dx%dx%dx%dx%d", &cfg.width, &cfg.depth, &cfg.heads, &cfg.mlp_dim,
                    &cfg.patch, &cfg.image_size) != 6) {
    fprintf(stderr, "bench_embed: unknown variant %s\n", variant);
    return 2;
  }
  clippo_error err;
  clippo_rt *rt = NULL;
  clippo_model *m = NULL;
  clippo_params params;
  memset(&params, 0, sizeof params);
  if (clippo_rt_create(&rt, device, &err) != CLIPPO_OK ||
      clippo_params_init(&params, &cfg, 1, &err) != CLIPPO_OK ||
      clippo_model_create(rt, &cfg, &params, &m, &err) != CLIPPO_OK ||
      clippo_model_set_batch(m, batch, &err) != CLIPPO_OK) {
    fprintf(stderr, "bench_embed: %s\n", err.msg);
    return 1;
  }
  clippo_params_free(&params);
  size_t per = (size_t)cfg.image_size * (size_t)cfg.image_size * 3;
  size_t od = clippo_model_output_dim(m, CLIPPO_EMBED_Z);
  float *img = malloc(batch * per * sizeof *img), *out = malloc(batch * od * sizeof *out);
  double *times = calloc((size_t)runs, sizeof *times);
  int rc = 1;
  if (!img || !out || !times) {
    fprintf(stderr, "bench_embed: out of memory\n");
    goto done;
  }
  unsigned s = 1;
  for (size_t i = 0; i < batch * per; i++) {
    s = s * 1103515245u + 12345u;
    img[i] = (float)((s >> 8) & 0xffff) / 32768.0f - 1.0f;
  }
  double t0 = clippo_bench_now();
  if (clippo_model_embed_images(m, img, batch, CLIPPO_EMBED_Z, out, &err) != CLIPPO_OK) {
    fprintf(stderr, "bench_embed: %s\n", err.msg);
    goto done;
  }
  double first = clippo_bench_now() - t0;
  for (int r = 0; r < runs; r++) {
    t0 = clippo_bench_now();
    if (clippo_model_embed_images(m, img, batch, CLIPPO_EMBED_Z, out, &err) != CLIPPO_OK) {
      fprintf(stderr, "bench_embed: %s\n", err.msg);
      goto done;
    }
    times[r] = clippo_bench_now() - t0;
  }
  clippo_bench_sort(times, (size_t)runs);
  double med = times[runs / 2];
  printf("{\"bench\": \"embed_images\", \"device\": \"%s\", \"variant\": \"%s\", \"batch\": %zu, "
         "\"runs\": %d, \"first_s\": %.3f, \"median_s\": %.4f, \"images_per_s\": %.3f, "
         "\"peak_device_mib\": %.1f, \"build_s\": %.3f}\n",
         rt->info.name, variant, batch, runs, first, med, (double)batch / med,
         (double)clippo_model_peak_bytes(m) / 1048576.0, rt->build_seconds);
  rc = 0;
done:
  free(times);
  free(img);
  free(out);
  clippo_model_free(m);
  clippo_rt_destroy(rt);
  return rc;
}
