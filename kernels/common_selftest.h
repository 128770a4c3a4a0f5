/* Helper included by selftest.cl: exercises the runtime's include expansion. */
#ifndef CLIPPO_COMMON_SELFTEST_H
#define CLIPPO_COMMON_SELFTEST_H
inline float selftest_fma(float a, float x, float y) { return a * x + y; }
#endif
