/* `clippo convert`: big_vision .npz <-> HDF5 checkpoints. */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "cli_util.h"
#include "clippo/checkpoint.h"

const char clippo_cmd_convert_summary[] = "convert a checkpoint between .npz and HDF5";

static void usage(FILE *out) {
  fprintf(out, "usage: clippo convert [OPTIONS] IN OUT\n"
               "\n"
               "Converts a CLIPPO checkpoint between big_vision's .npz layout (np.savez:\n"
               "params/<path>.npy, opt/<path>.npy) and the engine's HDF5 layout (/params/<path>,\n"
               "/opt/<path>, config as attributes). IN's format is told by its content (scanned\n"
               "checkpoints are unscanned); OUT's by its extension: .npz, or .h5 / .hdf5.\n"
               "The config is inferred from the shapes when IN does not record it. The output\n"
               "is written atomically: an existing OUT survives any failure.\n"
               "\n"
               "Options:\n"
               "  --params-only     drop optimizer state (opt/ arrays)\n"
               "  --font NAME       record the font the model was trained with (HDF5 only)\n"
               "  --attr KEY=VALUE  add a free-form string attribute (HDF5 only; repeatable)\n"
               "  --quiet           print nothing on success\n\n"
               "The font a model was trained with is kept from IN's record unless --font is\n"
               "given; a .npz has no place for it (big_vision's format): converting to .npz says\n"
               "so, and converting such a file back needs --font.\n\n"
               "Examples:\n"
               "  clippo convert clippo_b16_yfcc100m.npz clippo_b16.h5 --font unifont-9.0.06\n"
               "  clippo convert --params-only weights/fmnist.h5 fmnist_params.npz\n"
               "  clippo convert --attr note=\"first run\" my.h5 my-noted.h5\n");
}

static int has_ext(const char *path, const char *ext) {
  size_t n = strlen(path), k = strlen(ext);
  return n > k && strcasecmp(path + n - k, ext) == 0;
}

/* Applies --font and the --attr KEY=VALUE options to ck. */
static clippo_status apply_options(clippo_checkpoint *ck, const char *font, const cli_list *attrs,
                                   clippo_error *err) {
  if (font) snprintf(ck->cfg.font, sizeof ck->cfg.font, "%s", font);
  for (size_t i = 0; i < attrs->n; i++) {
    char key[256];
    size_t kl = (size_t)(strchr(attrs->items[i], '=') - attrs->items[i]);
    snprintf(key, sizeof key, "%.*s", (int)kl, attrs->items[i]);
    clippo_status st = clippo_checkpoint_set_attr(ck, key, attrs->items[i] + kl + 1, err);
    if (st) return st;
  }
  return CLIPPO_OK;
}

/* Checks the --attr values; 0 or 2 after a usage error. */
static int check_attrs(const cli_list *attrs) {
  for (size_t i = 0; i < attrs->n; i++) {
    const char *v = attrs->items[i], *eq = strchr(v, '=');
    if (!eq || eq == v) return cli_usage_error("convert", "--attr needs KEY=VALUE, got '%s'", v);
    if ((size_t)(eq - v) >= 256) return cli_usage_error("convert", "--attr key too long");
  }
  return 0;
}

int clippo_cmd_convert(int argc, char **argv) {
  const char *pos[2] = {NULL, NULL}, *font = NULL;
  const char *attr_items[64];
  int params_only = 0, quiet = 0;
  cli_list positional = {pos, 0, 2}, attrs = {attr_items, 0, 64};
  const cli_option opts[] = {
      {"--params-only", CLI_SET, &params_only, 0, 0},
      {"--quiet", CLI_SET, &quiet, 0, 0},
      {"--font", CLI_STRING, &font, 0, 0},
      {"--attr", CLI_LIST, &attrs, 0, 0},
  };
  int prc = cli_parse("convert", argc, argv, opts, sizeof opts / sizeof opts[0], &positional);
  if (prc < 0) usage(stdout);
  if (prc) return prc < 0 ? 0 : prc;
  if (positional.n != 2) return cli_usage_error("convert", "needs IN and OUT");
  const char *in = pos[0], *out = pos[1];
  int to_h5 = has_ext(out, ".h5") || has_ext(out, ".hdf5");
  int to_npz = has_ext(out, ".npz");
  if (!to_h5 && !to_npz)
    return cli_usage_error("convert", "OUT must end in .npz, .h5 or .hdf5: '%s'", out);
  if (to_npz && (font || attrs.n))
    return cli_usage_error("convert", "--font and --attr need an HDF5 output");
  if (font && strlen(font) >= sizeof(((clippo_config *)0)->font))
    return cli_usage_error("convert", "--font name too long");
  if (check_attrs(&attrs)) return 2;

  clippo_error err;
  clippo_checkpoint ck;
  clippo_status st = clippo_checkpoint_load(in, &ck, !params_only, &err);
  if (!st) st = apply_options(&ck, font, &attrs, &err);
  if (!st)
    st = to_h5 ? clippo_checkpoint_save_h5(out, &ck, &err)
               : clippo_checkpoint_save_npz(out, &ck, &err);
  if (st) {
    clippo_checkpoint_free(&ck);
    return cli_report("convert", &err);
  }
  if (quiet)
    ; /* nothing on success */
  else if (to_npz && ck.cfg.font[0])
    fprintf(stderr,
            "clippo convert: note: %s records the font '%s'; a .npz has no place for it: give "
            "--font %s when converting %s back to HDF5\n",
            in, ck.cfg.font, ck.cfg.font, out);
  else if (to_h5 && !ck.cfg.font[0])
    fprintf(stderr,
            "clippo convert: note: %s records no font; give --font NAME (e.g. unifont-9.0.06 for "
            "big_vision's releases) so that a font mismatch can be reported\n",
            in);
  if (!quiet)
    printf("wrote %s (%s): %zu parameter arrays, %zu values; %zu optimizer arrays%s%s\n", out,
           to_h5 ? "HDF5" : "npz", ck.params.count, clippo_params_total(&ck.params), ck.opt.count,
           to_h5 && ck.cfg.font[0] ? "; font " : "", to_h5 ? ck.cfg.font : "");
  clippo_checkpoint_free(&ck);
  return 0;
}
