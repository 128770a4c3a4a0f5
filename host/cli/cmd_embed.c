/* `clippo embed`: embeddings of images or texts with a CLIPPO checkpoint. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli_model.h"
#include "cli_paths.h"
#include "cli_util.h"
#include "clippo/image.h"
#include "clippo/npy.h"

const char clippo_cmd_embed_summary[] = "embed images or texts with a CLIPPO model (.npy out)";

static void usage(void) {
  printf("usage: clippo embed [--model M] (--images FILE... | --texts FILE) --out OUT.npy\n"
         "                    [--device SPEC] [--batch-size B] [--font F]... [--pre-logits]\n"
         "                    [--precision fp32|fp16|fp16-emulated] [--stats]\n\n"
         "Writes (N, out_dim) float32 L2-normalised embeddings in input order.\n"
         "  --model M         checkpoint (.npz or .h5); default env CLIPPO_MODEL, else the\n"
         "                    installed default model (" CLI_DEFAULT_MODEL_FILE ")\n"
         "  --images FILE...  one .npy of shape (N, S, S, 3), float32 or float64 in [-1, 1]\n"
         "                    (S = the model's image size), or image files (PNG, JPEG), which\n"
         "                    are preprocessed like big_vision (bilinear resize, [-1, 1])\n"
         "  --texts FILE      UTF-8 text, one text per line, rendered at the model's image size\n"
         "  --font F          font file (repeatable; .hex or any FreeType font; later files\n"
         "                    override earlier ones); default env CLIPPO_FONT, else Debian's\n"
         "                    Unifont. Released checkpoints need Unifont 9.0.06\n"
         "                    (weights/get-unifont.sh)\n"
         "  --pre-logits      write the pooled (MAP head) output (N, width) instead\n"
         "  --batch-size B    inputs per device batch (default 8)\n"
         "  --precision P     GEMM arithmetic: fp32 (default), fp16 (float16 operands and\n"
         "                    products through CLBlast's Hgemm; devices with cl_khr_fp16) or\n"
         "                    fp16-emulated (the same rounding, float32 multiply; any device);\n"
         "                    default env CLIPPO_PRECISION\n"
         "  --stats           print throughput and peak device memory to stderr\n");
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int ends_with(const char *s, const char *suffix) {
  size_t a = strlen(s), b = strlen(suffix);
  return a >= b && !strcmp(s + a - b, suffix);
}

/* Loads --images into a (n, S, S, 3) float32 host buffer. */
static int load_images(char **files, size_t nfiles, int S, float **out, size_t *n) {
  clippo_error err;
  *out = NULL;
  *n = 0;
  if (nfiles == 1 && ends_with(files[0], ".npy")) {
    clippo_array a;
    if (clippo_npy_load(files[0], &a, &err) != CLIPPO_OK) return cli_report("embed", &err);
    if (a.ndim != 4 || a.shape[1] != S || a.shape[2] != S || a.shape[3] != 3 ||
        (a.dtype != CLIPPO_F32 && a.dtype != CLIPPO_F64)) {
      char sh[128];
      fprintf(stderr,
              "clippo embed: error: %s: expected a float32 or float64 array of shape (N, %d, %d, "
              "3), got %s %s\n",
              files[0], S, S, clippo_dtype_name(a.dtype),
              clippo_shape_str(a.shape, a.ndim, sh, sizeof sh));
      clippo_array_free(&a);
      return 1;
    }
    if (clippo_array_to_f32(&a, &err) != CLIPPO_OK) {
      clippo_array_free(&a);
      return cli_report("embed", &err);
    }
    const float *x = a.data;
    for (size_t i = 0, cnt = clippo_array_count(&a); i < cnt; i++)
      if (!isfinite(x[i])) {
        fprintf(stderr,
                "clippo embed: error: %s: value %zu (image %zu) is %s; inputs must be finite "
                "(preprocessed to [-1, 1])\n",
                files[0], i, i / ((size_t)S * (size_t)S * 3), isnan(x[i]) ? "NaN" : "infinite");
        clippo_array_free(&a);
        return 1;
      }
    *n = (size_t)a.shape[0];
    *out = a.data; /* ownership moves to the caller */
    return 0;
  }
  size_t per = (size_t)S * (size_t)S * 3;
  float *buf = malloc((nfiles ? nfiles : 1) * per * sizeof *buf);
  if (!buf) {
    fprintf(stderr, "clippo embed: error: out of memory for %zu images\n", nfiles);
    return 1;
  }
  for (size_t i = 0; i < nfiles; i++) {
    if (ends_with(files[i], ".npy")) {
      free(buf);
      fprintf(stderr, "clippo embed: error: a .npy array must be the only --images input (%s)\n",
              files[i]);
      return 1;
    }
    if (clippo_image_preprocess_file(files[i], S, buf + i * per, &err) != CLIPPO_OK) {
      free(buf);
      return cli_report("embed", &err);
    }
  }
  *out = buf;
  *n = nfiles;
  return 0;
}

int clippo_cmd_embed(int argc, char **argv) {
  const char *model_path = NULL, *texts_path = NULL, *out_path = NULL, *device = NULL;
  const char *v, *precision = NULL;
  char **images = calloc((size_t)argc, sizeof *images);
  const char **fonts = calloc((size_t)argc, sizeof *fonts);
  size_t nimages = 0, nfonts = 0;
  long batch = 0;
  int pre_logits = 0, stats = 0, images_mode = 0, rc = 0;
  if (!images || !fonts) {
    free(images);
    free(fonts);
    return 1;
  }
  for (int i = 1; i < argc && rc == 0; i++) {
    int r;
    if (cli_flag(argv, i, "--help") || cli_flag(argv, i, "-h")) {
      usage();
      free(images);
      free(fonts);
      return 0;
    } else if ((r = cli_opt(argc, argv, &i, "--model", &v))) {
      if (r < 0) rc = 2;
      model_path = v;
    } else if ((r = cli_opt(argc, argv, &i, "--texts", &v))) {
      if (r < 0) rc = 2;
      texts_path = v;
      images_mode = 0;
    } else if ((r = cli_opt(argc, argv, &i, "--out", &v))) {
      if (r < 0) rc = 2;
      out_path = v;
    } else if ((r = cli_opt(argc, argv, &i, "--device", &v))) {
      if (r < 0) rc = 2;
      device = v;
    } else if ((r = cli_opt(argc, argv, &i, "--font", &v))) {
      if (r < 0) rc = 2;
      fonts[nfonts++] = v;
    } else if ((r = cli_opt(argc, argv, &i, "--batch-size", &v))) {
      if (r < 0 || cli_parse_int("--batch-size", v, 1, 65536, &batch) != 0) rc = 2;
    } else if (cli_flag(argv, i, "--pre-logits")) {
      pre_logits = 1;
    } else if ((r = cli_opt(argc, argv, &i, "--precision", &v))) {
      if (r < 0) rc = 2;
      precision = v;
    } else if (cli_flag(argv, i, "--stats")) {
      stats = 1;
    } else if (cli_flag(argv, i, "--images")) {
      images_mode = 1;
    } else if (!strncmp(argv[i], "--images=", 9)) {
      images_mode = 1;
      images[nimages++] = argv[i] + 9;
    } else if (argv[i][0] == '-' && argv[i][1] != '\0') {
      rc = cli_usage_error("embed", "unknown option '%s'", argv[i]);
    } else if (images_mode) {
      images[nimages++] = argv[i];
    } else {
      rc = cli_usage_error("embed", "unexpected argument '%s'", argv[i]);
    }
  }
  if (rc == 0 && !out_path) rc = cli_usage_error("embed", "--out is required");
  if (rc == 0 && (nimages > 0) == (texts_path != NULL))
    rc = cli_usage_error("embed", "give either --images FILE... or --texts FILE");
  char model_buf[CLI_PATH_MAX];
  if (rc == 0 && !model_path &&
      !(model_path = cli_default_model("embed", model_buf, sizeof model_buf)))
    rc = 1;
  if (rc != 0) {
    free(images);
    free(fonts);
    return rc;
  }

  clippo_rt *rt = NULL;
  clippo_model *model = NULL;
  clippo_font *font = NULL;
  float *inputs = NULL, *out = NULL;
  char **lines = NULL;
  size_t *lens = NULL, n = 0;
  clippo_error err;
  clippo_precision prec = CLIPPO_PRECISION_FP32;
  if (precision && clippo_precision_parse(precision, &prec, &err) != CLIPPO_OK) {
    free(images);
    free(fonts);
    return cli_usage_error("embed", "--precision: %s", err.msg);
  }
  rc = cli_open_model("embed", device, model_path, (size_t)batch, &rt, &model);
  if (rc == 0 && precision && clippo_rt_set_precision(rt, prec, &err) != CLIPPO_OK)
    rc = cli_report("embed", &err);
  const clippo_config *cfg = rc == 0 ? clippo_model_config(model) : NULL;
  if (rc == 0 && texts_path) {
    rc = cli_open_font("embed", fonts, nfonts, model, &font);
    if (rc == 0) rc = cli_read_lines("embed", texts_path, &lines, &lens, &n);
  } else if (rc == 0) {
    rc = load_images(images, nimages, cfg->image_size, &inputs, &n);
  }
  clippo_embed_kind kind = pre_logits ? CLIPPO_EMBED_PRE_LOGITS : CLIPPO_EMBED_Z;
  size_t od = rc == 0 ? clippo_model_output_dim(model, kind) : 0;
  if (rc == 0) {
    out = malloc((n ? n : 1) * od * sizeof *out);
    if (!out) {
      fprintf(stderr, "clippo embed: error: out of memory for %zu embeddings\n", n);
      rc = 1;
    }
  }
  if (rc == 0) {
    double t0 = now_s();
    clippo_status st = texts_path
                           ? clippo_model_embed_texts(model, font, (const char *const *)lines, lens,
                                                      n, kind, out, &err)
                           : clippo_model_embed_images(model, inputs, n, kind, out, &err);
    double dt = now_s() - t0;
    if (st != CLIPPO_OK)
      rc = cli_report("embed", &err);
    else if (stats)
      fprintf(stderr,
              "clippo embed: %zu %s in %.3f s (%.2f/s) on %s, %s GEMMs; peak device memory "
              "%.1f MiB\n",
              n, texts_path ? "texts" : "images", dt, dt > 0 ? (double)n / dt : 0.0, rt->info.name,
              clippo_precision_name(rt->precision),
              (double)clippo_model_peak_bytes(model) / 1048576.0);
  }
  for (size_t i = 0; rc == 0 && i < n * od; i++)
    if (!isfinite(out[i])) {
      fprintf(stderr,
              "clippo embed: error: the embedding of %s %zu is not finite (inputs far outside "
              "[-1, 1], or a checkpoint holding NaN/Inf?); nothing written\n",
              texts_path ? "text" : "image", i / od);
      rc = 1;
    }
  if (rc == 0) {
    clippo_array a;
    memset(&a, 0, sizeof a);
    a.dtype = CLIPPO_F32;
    a.ndim = 2;
    a.shape[0] = (int64_t)n;
    a.shape[1] = (int64_t)od;
    a.data = out;
    if (clippo_npy_save(out_path, &a, &err) != CLIPPO_OK) rc = cli_report("embed", &err);
  }
  free(out);
  free(inputs);
  cli_free_lines(lines, lens, n * (lines != NULL));
  clippo_font_free(font);
  clippo_model_free(model);
  clippo_rt_destroy(rt);
  free(images);
  free(fonts);
  return rc;
}
