/* `clippo inspect`: the config and parameter table of a checkpoint. */
#include <stdio.h>
#include <string.h>

#include "cli_util.h"
#include "clippo/checkpoint.h"

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
               "          config (to look into files that do not load)\n");
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

int clippo_cmd_inspect(int argc, char **argv) {
  const char *path = NULL;
  int opt = 0, raw = 0;
  for (int i = 1; i < argc; i++) {
    if (cli_flag(argv, i, "--help") || cli_flag(argv, i, "-h")) {
      usage(stdout);
      return 0;
    } else if (cli_flag(argv, i, "--opt")) {
      opt = 1;
    } else if (cli_flag(argv, i, "--raw")) {
      raw = 1;
    } else if (argv[i][0] == '-' && argv[i][1] != '\0') {
      return cli_usage_error("inspect", "unknown option '%s'", argv[i]);
    } else {
      if (path) return cli_usage_error("inspect", "unexpected argument '%s'", argv[i]);
      path = argv[i];
    }
  }
  if (!path) return cli_usage_error("inspect", "needs a MODEL file");
  clippo_error err;
  clippo_checkpoint ck;
  clippo_status st;
  if (raw) {
    memset(&ck, 0, sizeof ck);
    ck.step = -1;
    FILE *f = fopen(path, "rb");
    unsigned char m[2] = {0, 0};
    if (f) {
      if (fread(m, 1, 2, f) != 2) m[0] = 0;
      fclose(f);
    }
    if (m[0] == 'P' && m[1] == 'K')
      st = clippo_npz_load(path, &ck.params, &ck.opt, &err);
    else
      st = clippo_h5_load(path, &ck, 1, &err);
  } else {
    st = clippo_checkpoint_load(path, &ck, opt, &err);
  }
  if (st) return cli_report("inspect", &err);
  printf("checkpoint: %s\n", path);
  if (!raw || ck.has_cfg) {
    const clippo_config *c = &ck.cfg;
    printf("config (%s): width %d, depth %d, heads %d, mlp_dim %d, patch %d, image_size %d, "
           "tokens %d, out_dim %d, pool %s, ln_eps %g, font %s\n",
           ck.has_cfg ? "recorded" : "inferred", c->width, c->depth, c->heads, c->mlp_dim, c->patch,
           c->image_size, clippo_config_tokens(c), c->out_dim, c->pool, c->ln_eps,
           c->font[0] ? c->font : "(unknown)");
  }
  if (ck.step >= 0) printf("step: %lld\n", ck.step);
  for (size_t i = 0; i < ck.nattrs; i++) {
    const char *v = ck.attrs[i].value;
    size_t n = strlen(v);
    printf("attribute %s: %.200s%s\n", ck.attrs[i].key, v, n > 200 ? "..." : "");
  }
  print_table("parameters", &ck.params, raw);
  if ((opt || raw) && ck.opt.count) print_table("optimizer state", &ck.opt, 1);
  clippo_checkpoint_free(&ck);
  return 0;
}
