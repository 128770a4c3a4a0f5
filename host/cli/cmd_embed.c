/* `clippo embed`: embeddings of images or texts with a CLIPPO checkpoint. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "cli_embed_write.h"
#include "cli_model.h"
#include "cli_paths.h"
#include "cli_progress.h"
#include "cli_text.h"
#include "cli_util.h"
#include "clippo/image.h"
#include "clippo/npy.h"

const char clippo_cmd_embed_summary[] =
    "embed images or texts with a CLIPPO model (.npy, JSON, CSV out)";

#define MAX_FONTS 64

static void usage(void) {
  printf(
      "usage: clippo embed [--model M] (--images FILE... | --texts FILE | --text TEXT...)\n"
      "                    --out OUT [--device SPEC] [--batch-size B] [--font F]...\n"
      "                    [--pre-logits] [--precision fp32|fp16|fp16-emulated|bf16|int8]\n"
      "                    [--stats] [--quiet]\n\n"
      "Writes (N, out_dim) float32 L2-normalised embeddings in input order.\n"
      "  --model M         checkpoint (.npz or .h5); default env CLIPPO_MODEL, else the\n"
      "                    installed default model (" CLI_DEFAULT_MODEL_FILE ")\n"
      "  --images FILE...  one .npy of shape (N, S, S, 3), float32 or float64 in [-1, 1]\n"
      "                    (S = the model's image size), or image files (PNG, JPEG), which\n"
      "                    are preprocessed like big_vision (bilinear resize, [-1, 1])\n"
      "  --texts FILE      UTF-8 text, one text per line (- reads standard input), rendered\n"
      "                    at the model's image size; a file that is not UTF-8 text (NUL\n"
      "                    bytes, invalid UTF-8) is an error naming the line\n"
      "  --text TEXT       a text given inline (repeatable)\n"
      "  --out OUT         by its extension: .npy (float32 array), .json (an array of\n"
      "                    {\"index\", \"text\"|\"image\", \"embedding\"} objects), .jsonl (one\n"
      "                    such object per line), .csv (a header line, then index, input,\n"
      "                    z0..), or - (JSON lines on standard output); others are refused\n"
      "  --font F          font file (repeatable; .hex or any FreeType font; later files\n"
      "                    override earlier ones); default env CLIPPO_FONT, else Debian's\n"
      "                    Unifont. Released checkpoints need Unifont 9.0.06\n"
      "                    (weights/get-unifont.sh)\n"
      "  --pre-logits      write the pooled (MAP head) output (N, width) instead\n"
      "  --batch-size B    inputs per device batch (default 8)\n"
      "  --precision P     GEMM arithmetic: fp32 (default), fp16 (float16 operands and\n"
      "                    products through CLBlast's Hgemm; devices with cl_khr_fp16) or\n"
      "                    fp16-emulated (the same rounding, float32 multiply; any device);\n"
      "                    on CPU devices sharing the host's memory (PoCL) through oneDNN:\n"
      "                    bf16 (bfloat16 operands, float32 sums) or int8 (dynamic int8:\n"
      "                    per-row scales of activations, per-column of weights);\n"
      "                    default env CLIPPO_PRECISION\n"
      "  --stats           print throughput and peak device memory to stderr\n"
      "  --quiet           no progress on stderr\n\n"
      "Examples:\n"
      "  clippo embed --text \"a red circle\" --text \"a blue square\" --out -\n"
      "  clippo embed --images photos/*.jpg --out photos.npy\n"
      "  clippo embed --texts captions.txt --out captions.csv\n");
}

/* The command line. */
typedef struct embed_opts {
  const char *model, *texts, *out, *device, *precision;
  cli_list files, inline_texts, fonts;
  long batch;
  int pre_logits, stats, quiet, images;
  cli_embed_format format;
  char model_buf[CLI_PATH_MAX];
} embed_opts;

/* Parses argv into o (its lists have room for argc words). Returns 0 to go on, else the exit
 * status (-1: --help printed, exit 0). */
static int parse_options(int argc, char **argv, embed_opts *o) {
  const cli_option opts[] = {
      {"--model", CLI_STRING, &o->model, 0, 0},
      {"--images", CLI_SET, &o->images, 0, 0},
      {"--images", CLI_LIST, &o->files, 0, 0}, /* --images=FILE */
      {"--texts", CLI_STRING, &o->texts, 0, 0},
      {"--text", CLI_LIST, &o->inline_texts, 0, 0},
      {"--out", CLI_STRING, &o->out, 0, 0},
      {"--device", CLI_STRING, &o->device, 0, 0},
      {"--font", CLI_LIST, &o->fonts, 0, 0},
      {"--batch-size", CLI_LONG, &o->batch, 1, 65536},
      {"--pre-logits", CLI_SET, &o->pre_logits, 0, 0},
      {"--precision", CLI_STRING, &o->precision, 0, 0},
      {"--stats", CLI_SET, &o->stats, 0, 0},
      {"--quiet", CLI_SET, &o->quiet, 0, 0},
  };
  int rc = cli_parse("embed", argc, argv, opts, sizeof opts / sizeof opts[0], &o->files);
  if (rc < 0) usage();
  if (rc) return rc;
  for (int i = 1; i < argc && !o->images; i++) o->images = !strncmp(argv[i], "--images=", 9);
  if (o->files.n && !o->images)
    return cli_usage_error("embed", "unexpected argument '%s' (image files go after --images)",
                           o->files.items[0]);
  int sources = (o->files.n > 0) + (o->texts != NULL) + (o->inline_texts.n > 0);
  if (sources != 1)
    return cli_usage_error("embed", "give one of --images FILE..., --texts FILE or --text TEXT");
  if (!o->out) return cli_usage_error("embed", "--out is required");
  o->format = cli_embed_format_of(o->out);
  if (o->format == CLI_EMBED_UNKNOWN)
    return cli_usage_error("embed", "--out %s: unknown output format; use %s", o->out,
                           cli_embed_formats_help);
  if (!o->model && !(o->model = cli_default_model("embed", o->model_buf, sizeof o->model_buf)))
    return 1;
  return 0;
}

/* What is embedded: texts, one preprocessed .npy array, or image files decoded batch by batch. */
typedef struct embed_inputs {
  cli_texts texts;   /* --texts FILE */
  const char **text; /* the texts (--texts lines or --text values) */
  size_t *lens;      /* their lengths (NULL: NUL-terminated) */
  float *array;      /* --images X.npy: (n, S, S, 3) */
  const char *array_name;
  const char *const *files; /* image files */
  size_t n;
  const char *kind; /* "text" or "image" */
} embed_inputs;

static void inputs_free(embed_inputs *in) {
  cli_texts_free(&in->texts);
  free(in->array);
}

/* Names input i for the JSON and CSV outputs. */
static const char *input_name(const void *ctx, size_t i, char *buf, size_t cap) {
  const embed_inputs *in = ctx;
  if (in->text) return in->text[i];
  if (in->array) {
    snprintf(buf, cap, "%s[%zu]", in->array_name, i);
    return buf;
  }
  return in->files[i];
}

static int ends_with(const char *s, const char *suffix) {
  size_t a = strlen(s), b = strlen(suffix);
  return a >= b && !strcasecmp(s + a - b, suffix);
}

/* Loads a preprocessed (n, S, S, 3) float array; finite values only. */
static int load_array(const char *path, int S, embed_inputs *in) {
  clippo_error err;
  clippo_array a;
  if (clippo_npy_load(path, &a, &err) != CLIPPO_OK) return cli_report("embed", &err);
  if (a.ndim != 4 || a.shape[1] != S || a.shape[2] != S || a.shape[3] != 3 ||
      (a.dtype != CLIPPO_F32 && a.dtype != CLIPPO_F64)) {
    char sh[128];
    fprintf(stderr,
            "clippo embed: error: %s: expected a float32 or float64 array of shape (N, %d, %d, "
            "3), got %s %s\n",
            path, S, S, clippo_dtype_name(a.dtype),
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
              path, i, i / ((size_t)S * (size_t)S * 3), isnan(x[i]) ? "NaN" : "infinite");
      clippo_array_free(&a);
      return 1;
    }
  in->n = (size_t)a.shape[0];
  in->array = a.data; /* ownership moves to in */
  in->array_name = path;
  return 0;
}

/* Reads the texts named by the options (checked to be UTF-8 text), before any device work. */
static int read_texts(const embed_opts *o, embed_inputs *in) {
  memset(in, 0, sizeof *in);
  in->kind = o->files.n ? "image" : "text";
  if (o->inline_texts.n) {
    in->text = o->inline_texts.items;
    in->n = o->inline_texts.n;
    for (size_t i = 0; i < in->n; i++)
      if (cli_check_text("embed", "--text", in->text[i], strlen(in->text[i]))) return 1;
  } else if (o->texts) {
    if (cli_read_texts("embed", o->texts, &in->texts)) return 1;
    in->text = (const char **)in->texts.lines;
    in->lens = in->texts.lens;
    in->n = in->texts.n;
  }
  return 0;
}

/* Gathers the images named by --images: one preprocessed .npy array (S: the model's image
 * size), or image files (decoded batch by batch later). */
static int find_images(const embed_opts *o, int S, embed_inputs *in) {
  if (!o->files.n) return 0;
  for (size_t i = 0; i < o->files.n; i++)
    if (ends_with(o->files.items[i], ".npy") && o->files.n > 1) {
      fprintf(stderr, "clippo embed: error: a .npy array must be the only --images input (%s)\n",
              o->files.items[i]);
      return 1;
    }
  if (ends_with(o->files.items[0], ".npy")) return load_array(o->files.items[0], S, in);
  in->files = o->files.items;
  in->n = o->files.n;
  return 0;
}

/* Embeds inputs [i0, i0 + n) into out (rows of od floats); image files are decoded into buf. */
static clippo_status embed_slice(clippo_model *model, const clippo_font *font,
                                 const embed_inputs *in, size_t i0, size_t n, int S,
                                 clippo_embed_kind kind, float *buf, float *out,
                                 clippo_error *err) {
  size_t per = (size_t)S * (size_t)S * 3;
  if (in->text)
    return clippo_model_embed_texts(model, font, in->text + i0, in->lens ? in->lens + i0 : NULL, n,
                                    kind, out, err);
  if (in->array) return clippo_model_embed_images(model, in->array + i0 * per, n, kind, out, err);
  for (size_t i = 0; i < n; i++) {
    clippo_status st = clippo_image_preprocess_file(in->files[i0 + i], S, buf + i * per, err);
    if (st) return st;
  }
  return clippo_model_embed_images(model, buf, n, kind, out, err);
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Embeds every input into out (n rows of od floats), a batch at a time, with progress. */
static int embed_all(const embed_opts *o, clippo_rt *rt, clippo_model *model,
                     const clippo_font *font, const embed_inputs *in, float *out, size_t od) {
  int S = clippo_model_config(model)->image_size;
  size_t step = o->batch > 0 ? (size_t)o->batch : 8;
  float *buf = in->files ? malloc(step * (size_t)S * (size_t)S * 3 * sizeof *buf) : NULL;
  if (in->files && !buf) {
    fprintf(stderr, "clippo embed: error: out of memory for a batch of %zu images\n", step);
    return 1;
  }
  clippo_embed_kind kind = o->pre_logits ? CLIPPO_EMBED_PRE_LOGITS : CLIPPO_EMBED_Z;
  cli_progress p;
  cli_progress_start(&p, "embed", in->text ? "texts" : "images", in->n, o->quiet);
  clippo_error err;
  clippo_status st = CLIPPO_OK;
  double t0 = now_s();
  for (size_t i0 = 0; !st && i0 < in->n; i0 += step) {
    size_t n = in->n - i0 < step ? in->n - i0 : step;
    st = embed_slice(model, font, in, i0, n, S, kind, buf, out + i0 * od, &err);
    if (!st) cli_progress_add(&p, n);
  }
  cli_progress_finish(&p);
  free(buf);
  if (st) return cli_report("embed", &err);
  double dt = now_s() - t0;
  if (o->stats && rt)
    fprintf(stderr,
            "clippo embed: %zu %ss in %.3f s (%.2f/s) on %s, %s GEMMs; peak device memory "
            "%.1f MiB\n",
            in->n, in->kind, dt, dt > 0 ? (double)in->n / dt : 0.0, rt->info.name,
            clippo_precision_name(rt->precision),
            (double)clippo_model_peak_bytes(model) / 1048576.0);
  return 0;
}

/* Refuses to write embeddings that are not finite. */
static int check_finite(const embed_inputs *in, const float *out, size_t od) {
  for (size_t i = 0; i < in->n * od; i++)
    if (!isfinite(out[i])) {
      fprintf(stderr,
              "clippo embed: error: the embedding of %s %zu is not finite (inputs far outside "
              "[-1, 1], or a checkpoint holding NaN/Inf?); nothing written\n",
              in->kind, i / od);
      return 1;
    }
  return 0;
}

/* --precision (FP32 without it) into *prec; a usage error when it names none. */
static int parse_precision(const embed_opts *o, clippo_precision *prec) {
  clippo_error err;
  *prec = CLIPPO_PRECISION_FP32;
  if (o->precision && clippo_precision_parse(o->precision, prec, &err) != CLIPPO_OK)
    return cli_usage_error("embed", "--precision: %s", err.msg);
  return 0;
}

/* Opens the device and the model of the loaded checkpoint ck (freed) at precision prec, and the
 * font for texts. */
static int open_model(const embed_opts *o, clippo_precision prec, clippo_checkpoint *ck,
                      clippo_rt **rt, clippo_model **model, clippo_font **font) {
  clippo_error err;
  if (cli_open_model_from("embed", o->device, o->model, ck, (size_t)o->batch, rt, model)) return 1;
  if (o->precision && clippo_rt_set_precision(*rt, prec, &err) != CLIPPO_OK)
    return cli_report("embed", &err);
  if (o->files.n) return 0;
  return cli_open_font("embed", o->fonts.items, o->fonts.n, *model, font);
}

int clippo_cmd_embed(int argc, char **argv) {
  embed_opts o;
  memset(&o, 0, sizeof o);
  const char **words = calloc(3 * ((size_t)argc + 1), sizeof *words);
  if (!words) return cli_usage_error("embed", "out of memory");
  size_t cap = (size_t)argc + 1;
  o.files = (cli_list){words, 0, cap};
  o.inline_texts = (cli_list){words + cap, 0, cap};
  o.fonts = (cli_list){words + 2 * cap, 0, cap < MAX_FONTS ? cap : MAX_FONTS};
  int rc = parse_options(argc, argv, &o);
  clippo_rt *rt = NULL;
  clippo_model *model = NULL;
  clippo_font *font = NULL;
  embed_inputs in;
  memset(&in, 0, sizeof in);
  float *out = NULL;
  size_t od = 0;
  /* the inputs are read and checked before the device is opened: bad ones fail at once */
  clippo_checkpoint ck;
  memset(&ck, 0, sizeof ck);
  clippo_precision prec = CLIPPO_PRECISION_FP32;
  if (!rc) rc = read_texts(&o, &in);
  if (!rc) rc = parse_precision(&o, &prec);
  if (!rc) rc = cli_load_checkpoint("embed", o.model, &ck);
  if (!rc) rc = find_images(&o, ck.cfg.image_size, &in);
  if (!rc) rc = open_model(&o, prec, &ck, &rt, &model, &font);
  clippo_checkpoint_free(&ck); /* freed by open_model, or not loaded, or a failure before it */
  if (!rc) {
    od = clippo_model_output_dim(model, o.pre_logits ? CLIPPO_EMBED_PRE_LOGITS : CLIPPO_EMBED_Z);
    out = malloc((in.n ? in.n : 1) * od * sizeof *out);
    if (!out) fprintf(stderr, "clippo embed: error: out of memory for %zu embeddings\n", in.n);
    rc = !out;
  }
  if (!rc) rc = embed_all(&o, rt, model, font, &in, out, od);
  if (!rc) rc = check_finite(&in, out, od);
  if (!rc) {
    cli_embeddings e = {out, in.n, od, in.kind, input_name, &in};
    rc = cli_embed_write("embed", o.out, o.format, &e);
  }
  free(out);
  inputs_free(&in);
  clippo_font_free(font);
  clippo_model_free(model);
  clippo_rt_destroy(rt);
  free(words);
  return rc < 0 ? 0 : rc;
}
