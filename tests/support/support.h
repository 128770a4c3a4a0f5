/* Helpers shared by the CMocka tests: fixture paths, device loops, random data, comparisons. */
#ifndef CLIPPO_TEST_SUPPORT_H
#define CLIPPO_TEST_SUPPORT_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
/* cmocka.h needs the three headers above. */
#include <cmocka.h>

#ifdef __clang_analyzer__
/* For the static analyzer (clang-tidy) only: cmocka's failure paths longjmp out of the test, but
 * cmocka does not declare them noreturn, so the analyzer follows a failed assert_non_null(p) into
 * a NULL dereference. Mark fail() and skip() as not returning and spell the common assertions as
 * an explicit branch to fail(). Compiled code keeps cmocka's own macros. */
#undef fail
#define fail() (_fail(__FILE__, __LINE__), __builtin_unreachable())
#undef skip
#define skip() (test_note_skip(), _skip(__FILE__, __LINE__), __builtin_unreachable())
#define CLIPPO_TEST_CHECK_(c) ((c) ? (void)0 : fail())
#undef assert_true
#define assert_true(c) CLIPPO_TEST_CHECK_(cast_to_largest_integral_type(c))
#undef assert_false
#define assert_false(c) CLIPPO_TEST_CHECK_(!cast_to_largest_integral_type(c))
#undef assert_non_null
#define assert_non_null(c) CLIPPO_TEST_CHECK_(cast_ptr_to_largest_integral_type(c))
#undef assert_null
#define assert_null(c) CLIPPO_TEST_CHECK_(!cast_ptr_to_largest_integral_type(c))
#undef assert_int_equal
#define assert_int_equal(a, b)                                                                     \
  CLIPPO_TEST_CHECK_(cast_to_largest_integral_type(a) == cast_to_largest_integral_type(b))
#undef assert_int_not_equal
#define assert_int_not_equal(a, b)                                                                 \
  CLIPPO_TEST_CHECK_(cast_to_largest_integral_type(a) != cast_to_largest_integral_type(b))
#undef assert_ptr_equal
#define assert_ptr_equal(a, b)                                                                     \
  CLIPPO_TEST_CHECK_(cast_ptr_to_largest_integral_type(a) == cast_ptr_to_largest_integral_type(b))
#undef assert_ptr_not_equal
#define assert_ptr_not_equal(a, b)                                                                 \
  CLIPPO_TEST_CHECK_(cast_ptr_to_largest_integral_type(a) != cast_ptr_to_largest_integral_type(b))
#undef assert_in_range
#define assert_in_range(v, lo, hi)                                                                 \
  CLIPPO_TEST_CHECK_(cast_to_largest_integral_type(v) >= cast_to_largest_integral_type(lo) &&      \
                     cast_to_largest_integral_type(v) <= cast_to_largest_integral_type(hi))
#endif

#include "clippo/runtime.h"

/* ---- skips that ctest sees ----------------------------------------------------------------
 * cmocka counts a skipped test as neither failed nor run: its group returns 0 and ctest would
 * show the program as "Passed". Every test program returns through test_exit_status instead
 * (cmocka_run_group_tests below), which exits with TEST_SKIP_EXIT when any test skipped and
 * none failed; CMakeLists.txt maps that code to "Skipped" (SKIP_RETURN_CODE). */

/** The exit status of a program some of whose tests skipped (SKIP_RETURN_CODE in CMake). */
#define TEST_SKIP_EXIT 77

/** Records that a test skipped (skip() calls it). */
void test_note_skip(void);

/** The exit status for failed failed tests: 1 when any failed, else TEST_SKIP_EXIT when any
 * skipped (printing how many), else 0. */
int test_exit_status(int failed);

#ifndef __clang_analyzer__
#undef skip
#define skip() (test_note_skip(), _skip(__FILE__, __LINE__))
#endif
#undef cmocka_run_group_tests
#define cmocka_run_group_tests(group_tests, group_setup, group_teardown)                           \
  test_exit_status(_cmocka_run_group_tests(#group_tests, group_tests,                              \
                                           sizeof(group_tests) / sizeof((group_tests)[0]),         \
                                           group_setup, group_teardown))

/** Path of a file below ../shared (fixtures/..., fonts/...): env CLIPPO_SHARED_DIR or the
 * build-time default (malloc'ed: free it). Fails the running test, naming the file and the
 * folder, when the file is not there: a missing ../shared is a failure, never a skip. */
char *test_shared_path(const char *rel);

/* The source tree: CLIPPO_SOURCE_DIR from the environment (a bundle run elsewhere sets it), else
 * the folder compiled in. */
const char *test_source_dir(void);

/** 1 when oneDNN reports an AVX-512 ISA, where oneDNN 2.6 has a bfloat16 matmul (emulated before
 * AVX512-BF16); below it (AVX2) bf16 products are refused. What bf16 tests expect. */
int test_onednn_has_bf16(void);

/** 1 if the file exists and is readable. */
int test_file_exists(const char *path);

/** A fresh temporary directory (mkdtemp under $TMPDIR); caller frees the string. */
char *test_tmpdir(void);

/** A CMocka group/test state: a fresh temporary folder and Unifont 9.0.06 from the shared
 * fixtures. test_font_fixture_setup allocates it into *state (-1 when the font cannot be
 * loaded); test_font_fixture_teardown removes the folder and frees everything. */
typedef struct test_font_fixture {
  char *dir;
  struct clippo_font *font;
} test_font_fixture;
int test_font_fixture_setup(void **state);
int test_font_fixture_teardown(void **state);

/** Device specs ("P:D") of every OpenCL device present; *count may be 0 (then skip). The list
 * honours env CLIPPO_TEST_DEVICES (comma-separated specs) when set. Free with free(). */
char **test_device_specs(size_t *count);
void test_device_specs_free(char **specs, size_t count);

/** Opens every device in turn and calls fn(rt, user); skips the test when none exists. A failing
 * device fails the test with its name. */
void test_each_device(void (*fn)(clippo_rt *rt, void *user), void *user);

/** Deterministic random numbers: xorshift state. */
typedef struct test_rng {
  uint64_t s;
} test_rng;
void test_rng_seed(test_rng *r, uint64_t seed);
uint64_t test_rng_u64(test_rng *r);
/** Uniform in [lo, hi). */
float test_rng_uniform(test_rng *r, float lo, float hi);
/** Standard normal. */
float test_rng_normal(test_rng *r);
/** Fills x[n] uniform in [lo, hi). */
void test_fill_uniform(test_rng *r, float *x, size_t n, float lo, float hi);

/** ||a - b|| / ||b|| over n floats (b as reference; doubles for accuracy). */
double test_rel_err_f32(const float *a, const float *b, size_t n);
/** ||a - b|| / ||b|| with a float32 result against a float64 reference. */
double test_rel_err_f32_f64(const float *a, const double *b, size_t n);
/** max |a - b| over n floats. */
double test_max_abs_diff(const float *a, const float *b, size_t n);

/** Asserts a status is CLIPPO_OK, printing err->msg otherwise. */
#define TEST_OK(expr, err)                                                                         \
  do {                                                                                             \
    clippo_status st_ = (expr);                                                                    \
    if (st_ != CLIPPO_OK)                                                                          \
      fail_msg("%s failed: %s: %s", #expr, clippo_status_name(st_), (err)->msg);                   \
  } while (0)

#endif
