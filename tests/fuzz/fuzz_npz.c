/* libFuzzer target: arbitrary bytes as a big_vision .npz checkpoint (a zip of .npy members).
 * The bytes go through a scratch file into clippo_npz_load (params and opt/) and
 * clippo_checkpoint_load (unscan, infer the config, check, order). A failure must leave
 * everything empty with a message; a checkpoint that loads must write back as .npz and load
 * again to the same parameters.
 *   scripts/fuzz.sh builds it (clang, -DCLIPPO_FUZZ=ON) and runs it on tests/fuzz/corpus_npz. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clippo/checkpoint.h"
#include "fuzz_util.h"

int FUZZ_ENTRY(const uint8_t *data, size_t size);

static void fuzz_npz_check_params(const clippo_params *p) {
  for (size_t i = 0; i < p->count; i++) {
    const clippo_array *a = &p->items[i].value;
    if (!p->items[i].name || !p->items[i].name[0]) abort();
    if (a->ndim < 0 || a->ndim > CLIPPO_MAX_DIMS) abort();
    if (clippo_array_count(a) && !a->data) abort();
  }
}

int FUZZ_ENTRY(const uint8_t *data, size_t size) {
  char path[512], out[600];
  fuzz_tmp_path("in.npz", path, sizeof path);
  if (fuzz_write_file(path, data, size) != 0) return 0;
  clippo_error err;
  clippo_error_clear(&err);

  clippo_params params = {0}, opt = {0};
  clippo_status st = clippo_npz_load(path, &params, &opt, &err);
  fuzz_check_error(st != CLIPPO_OK, err.msg);
  if (st != CLIPPO_OK && (params.count || opt.count || params.items || opt.items)) abort();
  if (st == CLIPPO_OK) {
    fuzz_npz_check_params(&params);
    fuzz_npz_check_params(&opt);
    for (size_t i = 0; i < params.count; i++)
      if (params.items[i].value.dtype != CLIPPO_F32) abort();
  }
  clippo_params_free(&params);
  clippo_params_free(&opt);

  clippo_checkpoint ck;
  st = clippo_checkpoint_load(path, &ck, 1, &err);
  fuzz_check_error(st != CLIPPO_OK, err.msg);
  if (st != CLIPPO_OK && (ck.params.count || ck.opt.count || ck.nattrs)) abort();
  if (st == CLIPPO_OK) {
    if (clippo_params_check(&ck.params, &ck.cfg, &err) != CLIPPO_OK) abort();
    snprintf(out, sizeof out, "%s.out.npz", path);
    if (clippo_checkpoint_save_npz(out, &ck, &err) == CLIPPO_OK) {
      clippo_checkpoint back;
      if (clippo_checkpoint_load(out, &back, 1, &err) != CLIPPO_OK) abort();
      if (back.params.count != ck.params.count || back.opt.count != ck.opt.count) abort();
      for (size_t i = 0; i < ck.params.count; i++) {
        const clippo_array *x = &ck.params.items[i].value, *y = &back.params.items[i].value;
        size_t n = clippo_array_count(x) * sizeof(float);
        if (strcmp(ck.params.items[i].name, back.params.items[i].name) ||
            clippo_array_count(y) * sizeof(float) != n || (n && memcmp(x->data, y->data, n)))
          abort();
      }
      clippo_checkpoint_free(&back);
      remove(out);
    }
  }
  clippo_checkpoint_free(&ck);
  remove(path);
  return 0;
}
