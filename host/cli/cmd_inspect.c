/* `clippo inspect`: the config and parameter table of a checkpoint. */
#include <stdio.h>
#include <string.h>

#include "cli_util.h"
#include "clippo/checkpoint.h"
#include "clippo/tasks.h"

const char clippo_cmd_inspect_summary[] = "print a checkpoint's config and parameters";

static void usage(FILE *out) {
  fprintf(out, "usage: clippo inspect [--opt] [--raw] MODEL\n"
               "\n"
               "Prints the config (recorded, or inferred from the shapes) and a table of the\n"
               "parameters (name, shape, count) with the total, of a .npz or HDF5 checkpoint.\n"
               "\n"
               "Options:\n"
               "  --opt   also list the optimizer-state arrays (opt/...) with their dtypes\n"
               "  --raw   list the stored arrays without unscanning or checking them against a\n"
               "          config (to look into files that do not load)\n\n"
               "An index made by `clippo index` is recognised and summarised instead.\n\n"
               "Examples:\n"
               "  clippo inspect weights/fmnist.h5\n"
               "  clippo inspect --opt clippo_b16_yfcc100m.npz\n"
               "  clippo inspect --raw broken.h5\n");
}

static void print_table(const char *title, const clippo_params *p, int with_dtype) {
  size_t w = 4;
  for (size_t i = 0; i < p->count; i++)
    if (strlen(p->items[i].name) > w) w = strlen(p->items[i].name);
  printf("%s:\n  %-*s  %-20s  %12s%s\n", title, (int)w, "name", "shape", "count",
         with_dtype ? "  dtype" : "");
  for (size_t i = 0; i < p->count; i++) {
    char sh[256];
    const clippo_array *a = &p->items[i].value;
    printf("  %-*s  %-20s  %12zu", (int)w, p->items[i].name,
           clippo_shape_str(a->shape, a->ndim, sh, sizeof sh), clippo_array_count(a));
    if (with_dtype) printf("  %s", clippo_dtype_name(a->dtype));
    printf("\n");
  }
  printf("total: %zu values in %zu arrays\n", clippo_params_total(p), p->count);
}

/* Loads path as stored (--raw: no unscanning or checks). */
static clippo_status load_raw(const char *path, clippo_checkpoint *ck, clippo_error *err) {
  memset(ck, 0, sizeof *ck);
  ck->step = -1;
  FILE *f = fopen(path, "rb");
  unsigned char m[2] = {0, 0};
  if (f) {
    if (fread(m, 1, 2, f) != 2) m[0] = 0;
    fclose(f);
  }
  if (m[0] == 'P' && m[1] == 'K') return clippo_npz_load(path, &ck->params, &ck->opt, err);
  return clippo_h5_load(path, ck, 1, err);
}

/* When path is an index made by `clippo index`, prints what it holds and returns 1; else 0. */
static int inspect_index(const char *path) {
  clippo_index *ix = NULL;
  clippo_error err;
  if (clippo_index_open_read(path, &ix, &err) != CLIPPO_OK) return 0;
  printf("%s: this is an index made by `clippo index`, not a checkpoint\n", path);
  printf("images: %zu, embedding size %zu\n", clippo_index_count(ix), clippo_index_dim(ix));
  printf("model: %s (identity %s)\n", clippo_index_model_path(ix), clippo_index_model_id(ix));
  printf("search it with: clippo search --index %s \"TEXT\"\n", path);
  clippo_index_close(ix, &err);
  return 1;
}

/* The config, step, attributes and tables of a loaded checkpoint. */
static void print_checkpoint(const char *path, const clippo_checkpoint *ck, int raw, int opt) {
  printf("checkpoint: %s\n", path);
  if (!raw || ck->has_cfg) {
    const clippo_config *c = &ck->cfg;
    printf("config (%s): width %d, depth %d, heads %d, mlp_dim %d, patch %d, image_size %d, "
           "tokens %d, out_dim %d, pool %s, ln_eps %g, font %s\n",
           ck->has_cfg ? "recorded" : "inferred", c->width, c->depth, c->heads, c->mlp_dim,
           c->patch, c->image_size, clippo_config_tokens(c), c->out_dim, c->pool, c->ln_eps,
           c->font[0] ? c->font : "(unknown)");
  }
  if (ck->step >= 0) printf("step: %lld\n", ck->step);
  for (size_t i = 0; i < ck->nattrs; i++) {
    const char *v = ck->attrs[i].value;
    size_t n = strlen(v);
    printf("attribute %s: %.200s%s\n", ck->attrs[i].key, v, n > 200 ? "..." : "");
  }
  print_table("parameters", &ck->params, raw);
  if (ck->heads.count) print_table("task head (clippo finetune)", &ck->heads, raw);
  if ((opt || raw) && ck->opt.count) print_table("optimizer state", &ck->opt, 1);
}

int clippo_cmd_inspect(int argc, char **argv) {
  const char *path = NULL;
  int opt = 0, raw = 0;
  cli_list pos = {&path, 0, 1};
  const cli_option opts[] = {{"--opt", CLI_SET, &opt, 0, 0}, {"--raw", CLI_SET, &raw, 0, 0}};
  int prc = cli_parse("inspect", argc, argv, opts, sizeof opts / sizeof opts[0], &pos);
  if (prc < 0) usage(stdout);
  if (prc) return prc < 0 ? 0 : prc;
  if (!path) return cli_usage_error("inspect", "needs a MODEL file");
  clippo_error err;
  clippo_checkpoint ck;
  clippo_status st = raw ? load_raw(path, &ck, &err) : clippo_checkpoint_load(path, &ck, opt, &err);
  if (st) {
    clippo_checkpoint_free(&ck); /* both loaders start from a zeroed ck */
    return inspect_index(path) ? 0 : cli_report("inspect", &err);
  }
  print_checkpoint(path, &ck, raw, opt);
  clippo_checkpoint_free(&ck);
  return 0;
}
