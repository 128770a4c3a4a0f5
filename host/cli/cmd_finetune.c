/* `clippo finetune`: a task head (text classification or regression in GLUE's formats, or VQA)
 * on the tower's pre-logits, trained with the tower or on a frozen one; checkpoints that resume
 * and that `clippo predict` runs. Ctrl-C / SIGTERM save the last finished step. */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli_interrupt.h"
#include "cli_model.h"
#include "cli_optim.h"
#include "cli_paths.h"
#include "cli_task.h"
#include "cli_train_progress.h"
#include "cli_util.h"
#include "clippo/checkpoint.h"
#include "clippo/finetune.h"

const char clippo_cmd_finetune_summary[] =
    "fine-tune a task head: text classification (GLUE TSV) or VQA";

static void usage(FILE *out) {
  fprintf(
      out,
      "usage: clippo finetune --task TASK --train FILE [--val FILE] --save OUT.h5 [options]\n"
      "\n"
      "Trains a linear head on the tower's pre-logits (the pooled MAP output, before the\n"
      "contrastive head) with cross-entropy over the classes (mean squared error for STS-B),\n"
      "fine-tuning the tower too unless --freeze. Text is rendered into the input image as\n"
      "CLIPPO reads it; VQA fuses the image and the rendered question into one input.\n"
      "\n"
      "Task and data:\n"
      "  --task T           sst2, cola, mnli, qqp, qnli, rte, mrpc, stsb (GLUE's own TSV\n"
      "                     files: train, dev or test), tsv (lines TEXT<TAB>LABEL, optional\n"
      "                     header), vqa (VQAv2 question JSON)\n"
      "  --train F, --val F   the training and validation files\n"
      "  --layout L         text: text (one sentence), join:SEP (a pair as S1 SEP S2; default\n"
      "                     'join: | '), split (a pair in the top and bottom halves);\n"
      "                     vqa: top:F (the question in the top F of the image, the image\n"
      "                     below; default top:0.5)\n"
      "  --train-annotations F, --val-annotations F   VQAv2 annotation JSON (vqa)\n"
      "  --images DIR, --val-images DIR   image folders (vqa: <image_id>.png/.jpg or COCO names)\n"
      "  --top-answers K    vqa: the K most frequent training answers are the classes\n"
      "                     (default 1000); a validation answer outside them scores 0\n"
      "  --answers-strict   instead, every validation answer must be one of them (an error\n"
      "                     naming the annotation file and the question otherwise)\n"
      "  --limit N, --val-limit N   use the first N examples\n"
      "Model:\n"
      "  --model M          the tower to start from (.npz/.h5; default: the default model,\n"
      "                     env CLIPPO_MODEL or weights/fmnist.h5)\n"
      "  --scratch          start from a fresh initialisation of --model's architecture\n"
      "                     (the from-scratch baseline; --init-seed S)\n"
      "  --image-size S     input size; the position embedding is resampled (big_vision's\n"
      "                     resample_posemb) when it differs from the model's\n"
      "  --freeze           train the head only (a linear probe of the frozen tower)\n"
      "  --font F           glyph file(s) (repeatable; default CLIPPO_FONT or the system\n"
      "                     Unifont)\n"
      "Optimisation (as `clippo train`):\n"
      "  --optimizer O      adamw (default), adafactor or sgd\n"
      "  --lr X             default 1e-4 from a trained tower, 1e-3 from scratch\n"
      "  --weight-decay X (1e-4), --clip X (1.0), --no-clip, --schedule S (cosine),\n"
      "  --warmup N, --cooldown N (default a tenth of the run at most)\n"
      "  --epochs N (3), --steps N, --batch-size N (32), --seed S (data order, 0)\n"
      "Output:\n"
      "  --save OUT.h5      required: the fine-tuned model (tower, head_task/{kernel,bias},\n"
      "                     optimizer state, step, data position, the task and layout)\n"
      "  --checkpoint-every N   also write it every N steps (atomically)\n"
      "  --stop-at N        stop after step N with a checkpoint (continue with --resume)\n"
      "  --resume OUT.h5    continue the run (give the same task, data and options)\n"
      "  --eval-every N     validate every N steps too (default: at the end)\n"
      "  --log F.jsonl      one JSON line per step, and {\"step\", \"val\": {...}} lines\n"
      "  --json             print the result as one JSON object\n"
      "  --device SPEC, --quiet\n"
      "\n"
      "Ctrl-C (or SIGTERM) writes the checkpoint of the last finished step to OUT and exits\n"
      "130 (143); run the same command with --resume OUT to continue. Exit status: 0 done,\n"
      "1 error, 2 usage error.\n"
      "\n"
      "Examples:\n"
      "  clippo finetune --task sst2 --train SST-2/train.tsv --val SST-2/dev.tsv --save sst2.h5\n"
      "  clippo finetune --task tsv --train train.tsv --val dev.tsv --image-size 128 --save t.h5\n"
      "  clippo finetune --task vqa --train q.json --train-annotations a.json --images img "
      "--save vqa.h5\n");
}

typedef struct ft_args {
  const char *task, *train, *val, *layout, *train_ann, *val_ann, *images, *val_images, *model,
      *save, *resume, *log, *device;
  long top_answers, limit, val_limit, init_seed, image_size, steps, epochs, batch_size, seed,
      ckpt_every, eval_every, stop_at;
  int scratch, freeze, quiet, json, strict;
  cli_optim_args optim;
  const char *font_items[CLIPPO_TRAIN_MAX_FONTS];
  cli_list fonts;
} ft_args;

#define MAX_STEPS CLI_MAX_STEPS

static int parse_args(int argc, char **argv, ft_args *a) {
  memset(a, 0, sizeof *a);
  a->top_answers = a->limit = a->val_limit = a->init_seed = a->image_size = -1;
  a->steps = a->epochs = a->batch_size = a->seed = -1;
  a->ckpt_every = a->eval_every = a->stop_at = -1;
  cli_optim_args_init(&a->optim);
  a->fonts = (cli_list){a->font_items, 0, CLIPPO_TRAIN_MAX_FONTS};
  const cli_option own[] = {
      {"--task", CLI_STRING, &a->task, 0, 0},
      {"--train", CLI_STRING, &a->train, 0, 0},
      {"--val", CLI_STRING, &a->val, 0, 0},
      {"--layout", CLI_STRING, &a->layout, 0, 0},
      {"--train-annotations", CLI_STRING, &a->train_ann, 0, 0},
      {"--val-annotations", CLI_STRING, &a->val_ann, 0, 0},
      {"--images", CLI_STRING, &a->images, 0, 0},
      {"--val-images", CLI_STRING, &a->val_images, 0, 0},
      {"--top-answers", CLI_LONG, &a->top_answers, 1, 1L << 24},
      {"--limit", CLI_LONG, &a->limit, 1, LONG_MAX},
      {"--val-limit", CLI_LONG, &a->val_limit, 1, LONG_MAX},
      {"--model", CLI_STRING, &a->model, 0, 0},
      {"--scratch", CLI_SET, &a->scratch, 0, 0},
      {"--init-seed", CLI_LONG, &a->init_seed, 0, LONG_MAX},
      {"--image-size", CLI_LONG, &a->image_size, 1, 1 << 14},
      {"--freeze", CLI_SET, &a->freeze, 0, 0},
      {"--font", CLI_LIST, &a->fonts, 0, 0},
      {"--steps", CLI_LONG, &a->steps, 1, MAX_STEPS},
      {"--epochs", CLI_LONG, &a->epochs, 1, 1L << 20},
      {"--batch-size", CLI_LONG, &a->batch_size, 1, 1L << 20},
      {"--seed", CLI_LONG, &a->seed, 0, LONG_MAX},
      {"--save", CLI_STRING, &a->save, 0, 0},
      {"--checkpoint-every", CLI_LONG, &a->ckpt_every, 0, MAX_STEPS},
      {"--resume", CLI_STRING, &a->resume, 0, 0},
      {"--stop-at", CLI_LONG, &a->stop_at, 1, MAX_STEPS},
      {"--answers-strict", CLI_SET, &a->strict, 0, 0},
      {"--eval-every", CLI_LONG, &a->eval_every, 0, MAX_STEPS},
      {"--log", CLI_STRING, &a->log, 0, 0},
      {"--json", CLI_SET, &a->json, 0, 0},
      {"--device", CLI_DEVICE, &a->device, 0, 0},
      {"--quiet", CLI_SET, &a->quiet, 0, 0},
  };
  return cli_parse_with_optim("finetune", argc, argv, own, sizeof own / sizeof own[0], &a->optim,
                              NULL);
}

static int set_path(char *dst, size_t cap, const char *name, const char *v) {
  if (!v) return 0;
  if (strlen(v) >= cap) return cli_usage_error("finetune", "%s: path too long", name);
  snprintf(dst, cap, "%s", v);
  return 0;
}

/* The architecture of checkpoint path as an inline model JSON (for --scratch). */
static int scratch_model(const char *path, char *out, size_t cap) {
  clippo_checkpoint ck;
  clippo_error err;
  clippo_error_clear(&err);
  if (clippo_checkpoint_load(path, &ck, 0, &err) != CLIPPO_OK) return cli_report("finetune", &err);
  const clippo_config *c = &ck.cfg;
  snprintf(out, cap,
           "{\"width\": %d, \"depth\": %d, \"heads\": %d, \"mlp_dim\": %d, \"patch\": %d, "
           "\"image_size\": %d, \"out_dim\": %d, \"pool\": \"%s\"}",
           c->width, c->depth, c->heads, c->mlp_dim, c->patch, c->image_size, c->out_dim, c->pool);
  clippo_checkpoint_free(&ck);
  return 0;
}

/* The run's options from the flags; 0 or an exit status. */
static int build_opts(const ft_args *a, clippo_finetune_opts *o) {
  clippo_finetune_opts_default(o);
  clippo_train_opts *r = &o->run;
  if (!a->task) return cli_usage_error("finetune", "give --task (sst2, ..., tsv, vqa)");
  if (!a->train) return cli_usage_error("finetune", "give --train FILE");
  if (!a->save)
    return cli_usage_error("finetune", "give --save OUT.h5: where the fine-tuned model goes");
  if (a->scratch && a->resume)
    return cli_usage_error("finetune", "--scratch and --resume exclude each other");
  if (set_path(r->save, sizeof r->save, "--save", a->save) ||
      set_path(r->resume, sizeof r->resume, "--resume", a->resume) ||
      set_path(r->log, sizeof r->log, "--log", a->log) ||
      set_path(r->device, sizeof r->device, "--device", a->device))
    return 2;
  if (!a->resume) {
    char buf[CLI_PATH_MAX];
    const char *model = a->model ? a->model : cli_default_model("finetune", buf, sizeof buf);
    if (!model) return 1;
    if (a->scratch) {
      if (scratch_model(model, r->model, sizeof r->model)) return 1;
    } else if (set_path(r->init, sizeof r->init, "--model", model)) {
      return 2;
    }
  } else if (a->model) {
    return cli_usage_error("finetune", "--resume continues its own model: drop --model");
  }
  /* never write over an input: the starting model (a pretrained tower would be lost) or data */
  const char *inputs[] = {r->init[0] ? r->init : NULL, a->train, a->val, a->train_ann, a->val_ann};
  const char *names[] = {"--model", "--train", "--val", "--train-annotations", "--val-annotations"};
  const char *outputs[] = {a->save, a->log}, *onames[] = {"--save", "--log"};
  for (size_t k = 0; k < 2; k++) {
    size_t w = 0;
    if (cli_output_is_input(outputs[k], inputs, sizeof inputs / sizeof inputs[0], &w))
      return cli_usage_error("finetune",
                             "%s %s is the %s file: writing it would destroy it (choose another "
                             "%s)",
                             onames[k], outputs[k], names[w], onames[k]);
  }
  for (size_t i = 0; i < a->fonts.n; i++)
    if (set_path(r->fonts[r->nfonts++], CLIPPO_TRAIN_PATH, "--font", a->fonts.items[i])) return 2;
  if (!r->nfonts) {
    const char *items[CLIPPO_TRAIN_MAX_FONTS];
    cli_list fonts = {items, 0, CLIPPO_TRAIN_MAX_FONTS};
    char *owned = NULL;
    if (cli_fonts_from_env("finetune", &fonts, &owned)) return 1;
    int rc = 0;
    for (size_t i = 0; i < fonts.n && !rc; i++)
      rc = set_path(r->fonts[r->nfonts++], CLIPPO_TRAIN_PATH, "CLIPPO_FONT", items[i]);
    free(owned);
    if (rc) return rc;
  }
  int optim_rc = cli_optim_apply("finetune", &a->optim, r);
  if (optim_rc) return optim_rc;
  if (a->init_seed >= 0) r->init_seed = (uint64_t)a->init_seed;
  if (a->steps >= 0) r->steps = a->steps;
  if (a->epochs >= 0) r->epochs = a->epochs;
  if (a->batch_size >= 0) r->batch_size = (size_t)a->batch_size;
  if (a->seed >= 0) r->seed = (uint64_t)a->seed;
  if (a->ckpt_every >= 0) r->checkpoint_every = a->ckpt_every;
  if (a->stop_at >= 0) r->stop_at = a->stop_at;
  if (a->eval_every >= 0) o->eval_every = a->eval_every;
  if (a->image_size > 0) o->image_size = (int)a->image_size;
  o->freeze = a->freeze;
  return 0;
}

/* Opens the training or validation split of the task. */
static clippo_status open_split(const ft_args *a, int val, const clippo_task_set *train,
                                clippo_task_set **out, clippo_error *err) {
  const char *path = val ? a->val : a->train;
  size_t limit =
      (size_t)((val ? a->val_limit : a->limit) > 0 ? (val ? a->val_limit : a->limit) : 0);
  const char *const *vocab = NULL;
  size_t nvocab = 0;
  const char **all = NULL;
  if (train && clippo_task_set_kind(train) == CLIPPO_TASK_CLASSES) {
    nvocab = clippo_task_set_num_classes(train);
    all = malloc(nvocab * sizeof *all);
    if (!all) return clippo_fail(err, CLIPPO_E_NOMEM, "out of host memory");
    for (size_t c = 0; c < nvocab; c++) all[c] = clippo_task_set_class(train, c);
    vocab = all;
  }
  const char *layout = train ? clippo_task_set_layout(train) : a->layout;
  clippo_status st;
  if (!strcmp(a->task, "vqa")) {
    const char *ann = val ? a->val_ann : a->train_ann;
    const char *images = val && a->val_images ? a->val_images : a->images;
    if (!images)
      st = clippo_fail(err, CLIPPO_E_ARG, "vqa needs --images DIR (and --val-images for --val)");
    else
      st =
          clippo_task_open_vqa(path, ann, images, layout, vocab, nvocab,
                               a->top_answers > 0 ? (size_t)a->top_answers : 1000, limit, out, err);
  } else {
    st = clippo_task_open_glue(a->task, path, layout, vocab, nvocab, limit, out, err);
  }
  free(all);
  return st;
}

static int run(const ft_args *a, clippo_finetune_opts *o) {
  clippo_error err;
  clippo_error_clear(&err);
  clippo_task_set *train = NULL, *val = NULL;
  clippo_status st = open_split(a, 0, NULL, &train, &err);
  if (!st && a->val) st = open_split(a, 1, train, &val, &err);
  if (!st && val && a->strict) st = clippo_task_set_require_targets(val, &err);
  if (st) {
    clippo_task_set_free(train);
    clippo_task_set_free(val);
    return cli_report("finetune", &err);
  }
  o->train_set = train;
  o->val_set = val;
  cli_train_progress ps;
  cli_train_progress_init(&ps, "finetune", "examples", a->quiet || a->json);
  clippo_finetune_result res;
  cli_interrupt sigs;
  cli_interrupt_install(&sigs);
  o->run.should_stop = cli_interrupt_poll;
  st = clippo_finetune_run(o, cli_train_progress_cb, &ps, &res, &err);
  cli_interrupt_restore(&sigs);
  if (ps.open_line) fputc('\n', stderr);
  int rc = 0;
  if (st) {
    rc = cli_report("finetune", &err);
  } else if (res.stopped) {
    fprintf(stderr,
            "clippo finetune: interrupted after step %lld of %lld; checkpoint: %s\n"
            "clippo finetune: resume with the same command and --resume %s\n",
            (long long)res.step, (long long)res.total, res.saved[0] ? res.saved : "(none)",
            res.saved[0] ? res.saved : o->run.save);
    rc = cli_interrupt_exit_code();
  } else if (a->json) {
    printf("{\"task\": \"%s\", \"train\": %zu, \"steps\": %lld, \"first_loss\": %.6f, "
           "\"last_loss\": %.6f, \"seconds\": %.1f",
           clippo_task_set_task(train), clippo_task_set_size(train), (long long)res.steps_done,
           res.first_loss, res.last_loss, res.seconds);
    if (res.has_val) {
      printf(", \"val\": {\"count\": %zu, ", res.val.count);
      cli_print_task_metrics(stdout, &res.val, 1);
      printf("}");
    }
    printf(", \"checkpoint\": \"%s\"}\n", res.saved);
  } else {
    printf("fine-tuned %lld steps in %.1f s: loss %.6f -> %.6f\n", (long long)res.steps_done,
           res.seconds, res.first_loss, res.last_loss);
    if (res.has_val) {
      printf("validation (%zu examples of %s):", res.val.count, clippo_task_set_describe(val));
      cli_print_task_metrics(stdout, &res.val, 0);
      printf("\n");
    }
    if (res.saved[0]) printf("checkpoint: %s\n", res.saved);
  }
  clippo_task_set_free(train);
  clippo_task_set_free(val);
  return rc;
}

int clippo_cmd_finetune(int argc, char **argv) {
  ft_args a;
  int rc = parse_args(argc, argv, &a);
  if (rc < 0) {
    usage(stdout);
    return 0;
  }
  if (rc) return rc;
  clippo_finetune_opts o;
  if ((rc = build_opts(&a, &o))) return rc;
  return run(&a, &o);
}
