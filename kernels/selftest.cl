/* A trivial kernel family used by the runtime's own tests and `clippo devices --check`. */
#include "common_selftest.h"

__kernel void axpy(const float a, __global const float *x, __global float *y, const uint n) {
  uint i = get_global_id(0);
  if (i < n) y[i] = selftest_fma(a, x[i], y[i]);
}

#ifdef SELFTEST_BREAK
/* Compiled only by the runtime test that checks build-failure reporting. */
__kernel void broken(__global float *y) { y[0] = undefined_identifier; }
#endif
