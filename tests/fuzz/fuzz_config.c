/* libFuzzer target: arbitrary bytes as a model config JSON file (clippo_config_load_json,
 * through a scratch file). A config that loads must validate and give its tensor list.
 *   scripts/fuzz.sh builds it (clang, -DCLIPPO_FUZZ=ON) and runs it on tests/fuzz/corpus_config. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clippo/params.h"
#include "fuzz_util.h"

int FUZZ_ENTRY(const uint8_t *data, size_t size);

int FUZZ_ENTRY(const uint8_t *data, size_t size) {
  char path[512];
  fuzz_tmp_path("config.json", path, sizeof path);
  if (fuzz_write_file(path, data, size) != 0) return 0;
  clippo_config cfg;
  memset(&cfg, 0x5a, sizeof cfg);
  clippo_error err;
  clippo_error_clear(&err);
  clippo_status st = clippo_config_load_json(path, &cfg, &err);
  remove(path);
  fuzz_check_error(st != CLIPPO_OK, err.msg);
  if (st == CLIPPO_OK) {
    if (clippo_config_validate(&cfg, &err) != CLIPPO_OK) abort();
    clippo_param_spec *specs = NULL;
    size_t n = 0;
    if (clippo_params_spec(&cfg, &specs, &n, &err) != CLIPPO_OK) abort();
    if (n < 4) abort();
    for (size_t i = 0; i < n; i++)
      if (!specs[i].name[0] || specs[i].ndim < 1 || specs[i].ndim > 4) abort();
    free(specs);
    if (clippo_config_tokens(&cfg) < 1) abort();
  }
  return 0;
}
