/* `clippo version`: the engine's version and the libraries it was built with. */
#include <clblast_c.h>
#include <hdf5.h>
#include <stdio.h>
#include <string.h>

#include "cli_util.h"

#ifndef CLIPPO_VERSION
#define CLIPPO_VERSION "0.1.0"
#endif

const char clippo_cmd_version_summary[] = "print the version of clippo and its libraries";

int clippo_cmd_version(int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    if (cli_flag(argv, i, "--help")) {
      printf("usage: clippo version\n\nPrints the version of clippo and of the libraries it "
             "was built with.\n");
      return 0;
    }
    return cli_usage_error("version", "unexpected argument '%s'", argv[i]);
  }
  unsigned maj = 0, min = 0, rel = 0;
  H5get_libversion(&maj, &min, &rel);
  printf("clippo %s\n", CLIPPO_VERSION);
  printf("built with: HDF5 %u.%u.%u, CLBlast, OpenCL C 1.2 kernels\n", maj, min, rel);
  return 0;
}
