/* libFuzzer target: arbitrary bytes as an HDF5 checkpoint, through a scratch file into
 * clippo_h5_load_opts (with opt/) and clippo_checkpoint_load_opts. A failure must leave the
 * checkpoint empty with a message, and no HDF5 object may stay open afterwards (leaked ids would
 * pile up over a long training run). scripts/fuzz.sh builds it (clang, -DCLIPPO_FUZZ=ON) and runs
 * it on tests/fuzz/corpus_h5. libhdf5 itself is not instrumented: the fuzzer steers by the loader's
 * coverage only. */
#include <hdf5.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "clippo/checkpoint.h"
#include "fuzz_util.h"

int FUZZ_ENTRY(const uint8_t *data, size_t size);

static void fuzz_h5_no_open_ids(void) {
  if (H5Fget_obj_count((hid_t)H5F_OBJ_ALL, H5F_OBJ_ALL) != 0) abort();
}

int FUZZ_ENTRY(const uint8_t *data, size_t size) {
  char path[512];
  fuzz_tmp_path("in.h5", path, sizeof path);
  if (fuzz_write_file(path, data, size) != 0) return 0;
  clippo_error err;
  clippo_error_clear(&err);
  clippo_checkpoint ck;
  /* one past finding keeps libhdf5 busy until the guard's CPU limit: 2 s, not the default 20 */
  clippo_load_opts lo = {1, 2, 30};
  clippo_status st = clippo_h5_load_opts(path, &ck, &lo, &err);
  fuzz_check_error(st != CLIPPO_OK, err.msg);
  if (st != CLIPPO_OK && (ck.params.count || ck.opt.count || ck.nattrs)) abort();
  if (st == CLIPPO_OK) {
    for (size_t i = 0; i < ck.params.count; i++)
      if (ck.params.items[i].value.dtype != CLIPPO_F32) abort();
    if (ck.has_cfg && clippo_config_validate(&ck.cfg, &err) != CLIPPO_OK) abort();
  }
  clippo_checkpoint_free(&ck);
  fuzz_h5_no_open_ids();

  lo.with_opt = 0;
  st = clippo_checkpoint_load_opts(path, &ck, &lo, &err);
  fuzz_check_error(st != CLIPPO_OK, err.msg);
  if (st == CLIPPO_OK && clippo_params_check(&ck.params, &ck.cfg, &err) != CLIPPO_OK) abort();
  clippo_checkpoint_free(&ck);
  fuzz_h5_no_open_ids();
  remove(path);
  return 0;
}
