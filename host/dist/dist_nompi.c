/* The program of a build without MPI: there is no MPI communicator, only the one-rank one
 * (a NULL clippo_dist). Linked into the program instead of host/dist/dist_mpi.c. */
#include <stdio.h>

#include "dist/dist_internal.h"

clippo_status clippo_dist_mpi_init(const clippo_dist_options *opts, clippo_dist **out,
                                   clippo_error *err) {
  (void)opts;
  *out = NULL;
  return clippo_fail(err, CLIPPO_E_UNSUPPORTED,
                     "this clippo was built without MPI: install Open MPI (Debian: "
                     "libopenmpi-dev openmpi-bin) and rebuild with cmake -DCLIPPO_MPI=ON");
}

const char *clippo_dist_mpi_version(char *buf, size_t cap) {
  snprintf(buf, cap, "none (built without MPI: cmake -DCLIPPO_MPI=ON with libopenmpi-dev)");
  return buf;
}

int clippo_dist_mpi_built(void) { return 0; }
