/* Text rendering throughput: texts/s rendered into an (N, S, S, 3) batch buffer (224 px, float32
 * after value_range by default). Prints one line of JSON.
 *
 * usage: bench_render [--font F]... [--image-size N] [--batch N] [--seconds T] [--u8]
 * Fonts: --font, else env CLIPPO_FONT, else $CLIPPO_SHARED_DIR/fonts/unifont{,_upper}-9.0.06.hex
 * when present, else the system Unifont. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clippo/bench.h"
#include "clippo/text.h"

static const char *const words[] = {
    "a",     "photo",  "of",     "the",     "cat",    "dog",    "sitting",
    "on",    "green",  "grass",  "with",    "bright", "sky",    "red",
    "car",   "parked", "near",   "old",     "house",  "in",     "city",
    "night", "two",    "people", "walking", "along",  "beach",  "sunset",
    "close", "up",     "small",  "bird",    "tree",   "branch", "Hello",
    "World", "CLIPPO", "text",   "image",   "café",   "naïve",  "\xE4\xB8\x96\xE7\x95\x8C",
    "emoji"};

int main(int argc, char **argv) {
  const char *fonts[32];
  size_t nfonts = 0;
  int size = 224, batch = 256, u8 = 0;
  double seconds = 2.0;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--font") && i + 1 < argc && nfonts < 32)
      fonts[nfonts++] = argv[++i];
    else if (!strcmp(argv[i], "--image-size") && i + 1 < argc)
      size = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--batch") && i + 1 < argc)
      batch = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--seconds") && i + 1 < argc)
      seconds = atof(argv[++i]);
    else if (!strcmp(argv[i], "--u8"))
      u8 = 1;
    else {
      fprintf(stderr, "usage: bench_render [--font F]... [--image-size N] [--batch N] "
                      "[--seconds T] [--u8]\n");
      return 2;
    }
  }
  if (size < 17 || batch < 1) {
    fprintf(stderr, "bench_render: need --image-size >= 17 and --batch >= 1\n");
    return 2;
  }
  char lo[4096], up[4096];
  const char *shared = getenv("CLIPPO_SHARED_DIR");
  const char *env = getenv(CLIPPO_FONT_ENV);
  if (nfonts == 0 && !(env && *env) && shared) {
    snprintf(lo, sizeof lo, "%s/fonts/unifont-9.0.06.hex", shared);
    snprintf(up, sizeof up, "%s/fonts/unifont_upper-9.0.06.hex", shared);
    FILE *a = fopen(lo, "rb"), *b = fopen(up, "rb");
    if (a && b) {
      fonts[nfonts++] = lo;
      fonts[nfonts++] = up;
    }
    if (a) fclose(a);
    if (b) fclose(b);
  }
  clippo_error err;
  clippo_font *font = NULL;
  double t0 = clippo_bench_now();
  if (clippo_font_load(&font, fonts, nfonts, &err)) {
    fprintf(stderr, "bench_render: %s\n", err.msg);
    return 1;
  }
  double load_s = clippo_bench_now() - t0;

  /* Deterministic captions of 3..20 words. */
  char **texts = malloc((size_t)batch * sizeof *texts);
  uint64_t s = 0x9E3779B97F4A7C15ull;
  for (int i = 0; i < batch; i++) {
    texts[i] = calloc(512, 1);
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    int nw = 3 + (int)((s >> 33) % 18);
    for (int w = 0; w < nw; w++) {
      s = s * 6364136223846793005ull + 1442695040888963407ull;
      const char *word = words[(s >> 33) % (sizeof words / sizeof words[0])];
      if (w) strcat(texts[i], " ");
      strcat(texts[i], word);
    }
  }
  clippo_render_opts o;
  clippo_render_opts_default(&o, size);
  clippo_dtype dt = u8 ? CLIPPO_U8 : CLIPPO_F32;
  size_t bytes = (size_t)batch * (size_t)size * (size_t)size * 3 * clippo_dtype_size(dt);
  void *buf = malloc(bytes);
  if (!buf) {
    fprintf(stderr, "bench_render: out of memory\n");
    return 1;
  }
  /* Warm-up, then as many batches as fit in the time budget. */
  if (clippo_render_batch(font, &o, (const char *const *)texts, NULL, (size_t)batch, dt, buf,
                          &err)) {
    fprintf(stderr, "bench_render: %s\n", err.msg);
    return 1;
  }
  long rendered = 0;
  t0 = clippo_bench_now();
  double el = 0;
  do {
    clippo_render_batch(font, &o, (const char *const *)texts, NULL, (size_t)batch, dt, buf, &err);
    rendered += batch;
    el = clippo_bench_now() - t0;
  } while (el < seconds);
  printf("{\"bench\": \"render\", \"image_size\": %d, \"dtype\": \"%s\", \"batch\": %d, "
         "\"texts\": %ld, \"seconds\": %.3f, \"texts_per_s\": %.1f, \"font\": \"%s\", "
         "\"font_load_s\": %.3f}\n",
         size, clippo_dtype_name(dt), batch, rendered, el, (double)rendered / el,
         clippo_font_identity(font), load_s);
  for (int i = 0; i < batch; i++) free(texts[i]);
  free(texts);
  free(buf);
  clippo_font_free(font);
  return 0;
}
