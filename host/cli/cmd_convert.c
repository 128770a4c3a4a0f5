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
               "  --quiet           print nothing on success\n");
}

static int has_ext(const char *path, const char *ext) {
  size_t n = strlen(path), k = strlen(ext);
  return n > k && strcasecmp(path + n - k, ext) == 0;
}

int clippo_cmd_convert(int argc, char **argv) {
  const char *pos[2] = {NULL, NULL}, *font = NULL, *v = NULL;
  const char *attrs[64];
  int npos = 0, nattrs = 0, params_only = 0, quiet = 0;
  for (int i = 1; i < argc; i++) {
    int r;
    if (cli_flag(argv, i, "--help") || cli_flag(argv, i, "-h")) {
      usage(stdout);
      return 0;
    } else if (cli_flag(argv, i, "--params-only")) {
      params_only = 1;
    } else if (cli_flag(argv, i, "--quiet")) {
      quiet = 1;
    } else if ((r = cli_opt(argc, argv, &i, "--font", &v)) != 0) {
      if (r < 0) return 2;
      font = v;
    } else if ((r = cli_opt(argc, argv, &i, "--attr", &v)) != 0) {
      if (r < 0) return 2;
      if (!strchr(v, '=') || v[0] == '=')
        return cli_usage_error("convert", "--attr needs KEY=VALUE, got '%s'", v);
      if (nattrs == 64) return cli_usage_error("convert", "too many --attr options");
      attrs[nattrs++] = v;
    } else if (argv[i][0] == '-' && argv[i][1] != '\0') {
      return cli_usage_error("convert", "unknown option '%s'", argv[i]);
    } else {
      if (npos == 2) return cli_usage_error("convert", "unexpected argument '%s'", argv[i]);
      pos[npos++] = argv[i];
    }
  }
  if (npos != 2) return cli_usage_error("convert", "needs IN and OUT");
  const char *in = pos[0], *out = pos[1];
  int to_h5 = has_ext(out, ".h5") || has_ext(out, ".hdf5");
  int to_npz = has_ext(out, ".npz");
  if (!to_h5 && !to_npz)
    return cli_usage_error("convert", "OUT must end in .npz, .h5 or .hdf5: '%s'", out);
  if (to_npz && (font || nattrs))
    return cli_usage_error("convert", "--font and --attr need an HDF5 output");
  if (font && strlen(font) >= sizeof(((clippo_config *)0)->font))
    return cli_usage_error("convert", "--font name too long");

  clippo_error err;
  clippo_checkpoint ck;
  clippo_status st = clippo_checkpoint_load(in, &ck, !params_only, &err);
  if (st) return cli_report("convert", &err);
  if (font) strcpy(ck.cfg.font, font);
  for (int i = 0; i < nattrs && !st; i++) {
    char key[256];
    size_t kl = (size_t)(strchr(attrs[i], '=') - attrs[i]);
    if (kl >= sizeof key) {
      clippo_checkpoint_free(&ck);
      return cli_usage_error("convert", "--attr key too long");
    }
    memcpy(key, attrs[i], kl);
    key[kl] = '\0';
    st = clippo_checkpoint_set_attr(&ck, key, attrs[i] + kl + 1, &err);
  }
  if (!st)
    st = to_h5 ? clippo_checkpoint_save_h5(out, &ck, &err)
               : clippo_checkpoint_save_npz(out, &ck, &err);
  if (st) {
    clippo_checkpoint_free(&ck);
    return cli_report("convert", &err);
  }
  if (!quiet)
    printf("wrote %s (%s): %zu parameter arrays, %zu values; %zu optimizer arrays\n", out,
           to_h5 ? "HDF5" : "npz", ck.params.count, clippo_params_total(&ck.params), ck.opt.count);
  clippo_checkpoint_free(&ck);
  return 0;
}
