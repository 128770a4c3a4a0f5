/* `clippo version`: the engine's version and the libraries it was built with. */
#include <clblast_c.h>
#include <hdf5.h>
#include <stdio.h>
#include <string.h>

#include "cli_util.h"
#include "clippo/dist.h"
#include "clippo/gemm.h"

#ifndef CLIPPO_VERSION
#define CLIPPO_VERSION "0.1.0"
#endif

const char clippo_cmd_version_summary[] = "print the version of clippo and its libraries";

static void usage(FILE *out) {
  fprintf(out, "usage: clippo version\n\n"
               "Prints the version of clippo and of the libraries it was built with.\n\n"
               "Examples:\n"
               "  clippo version\n"
               "  clippo version >>bug-report.txt\n");
}

int clippo_cmd_version(int argc, char **argv) {
  int prc = cli_parse("version", argc, argv, NULL, 0, NULL);
  if (prc < 0) usage(stdout);
  if (prc) return prc < 0 ? 0 : prc;
  unsigned maj = 0, min = 0, rel = 0;
  H5get_libversion(&maj, &min, &rel);
  printf("clippo %s\n", CLIPPO_VERSION);
  printf("built with: HDF5 %u.%u.%u, CLBlast, OpenCL C 1.2 kernels\n", maj, min, rel);
  char mpi[256];
  printf("MPI: %s\n", clippo_dist_mpi_version(mpi, sizeof mpi));
  char blas[256], dnnl[256];
  clippo_gemm_hostblas_describe(blas, sizeof blas);
  printf("host BLAS (GEMM provider hostblas): %s\n", blas);
  clippo_gemm_onednn_describe(dnnl, sizeof dnnl);
  printf("oneDNN (GEMM provider onednn, precisions bf16/int8 on CPU devices): %s\n", dnnl);
  return 0;
}
