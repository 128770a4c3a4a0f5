/* The communicator of distributed runs (clippo/dist.h) as every build has it: the one-rank
 * communicator (NULL) that the trainer and the tasks use when the program runs alone, the
 * checksum, and the choice of a device per rank. The MPI communicator is tested through the
 * program under mpirun (tests/test_mpi_train.c, tests/cli/mpi_*.sh). */
#include <stdlib.h>
#include <string.h>

#include "clippo/dist.h"
#include "support.h"

static void test_one_rank(void **state) {
  (void)state;
  clippo_error err;
  clippo_error_clear(&err);
  assert_int_equal(clippo_dist_rank(NULL), 0);
  assert_int_equal(clippo_dist_size(NULL), 1);
  assert_int_equal(clippo_dist_local_rank(NULL), 0);
  assert_int_equal(clippo_dist_local_size(NULL), 1);
  assert_string_equal(clippo_dist_who(NULL), "");
  /* a reduction over one rank leaves the data as it is */
  float x[3] = {1.5f, -2.0f, 3.25f};
  TEST_OK(clippo_dist_allreduce(NULL, x, 3, CLIPPO_DIST_F32, CLIPPO_DIST_SUM, "x", &err), &err);
  assert_true(x[0] == 1.5f && x[1] == -2.0f && x[2] == 3.25f);
  /* gathering copies this rank's part */
  int64_t a = 42, b = 0;
  TEST_OK(clippo_dist_allgather(NULL, &a, sizeof a, &b, "a", &err), &err);
  assert_int_equal(b, 42);
  void *all = NULL;
  size_t counts[1] = {0};
  TEST_OK(clippo_dist_gather_bytes(NULL, 0, "hello", 5, &all, counts, "s", &err), &err);
  assert_int_equal(counts[0], 5);
  assert_memory_equal(all, "hello", 5);
  free(all);
  TEST_OK(clippo_dist_bcast(NULL, 0, &a, sizeof a, "a", &err), &err);
  TEST_OK(clippo_dist_barrier(NULL, "b", &err), &err);
  int any = 0;
  TEST_OK(clippo_dist_any(NULL, 1, &any, "f", &err), &err);
  assert_int_equal(any, 1);
  TEST_OK(clippo_dist_any(NULL, 0, &any, "f", &err), &err);
  assert_int_equal(any, 0);
  TEST_OK(clippo_dist_check_same(NULL, 7, "p", &err), &err);
  /* agreeing alone: the outcome and message are this rank's own */
  int origin = 5;
  TEST_OK(clippo_dist_agree(NULL, CLIPPO_OK, &origin, &err), &err);
  assert_int_equal(origin, -1);
  clippo_fail(&err, CLIPPO_E_IO, "cannot open x");
  assert_int_equal(clippo_dist_agree(NULL, CLIPPO_E_IO, &origin, &err), CLIPPO_E_IO);
  assert_int_equal(origin, 0);
  assert_string_equal(err.msg, "cannot open x");
  assert_int_equal(clippo_dist_agreed(NULL), 0);
  clippo_dist_finish(NULL, 1); /* nothing to end */
}

static void test_hash(void **state) {
  (void)state;
  unsigned char buf[1003];
  for (size_t i = 0; i < sizeof buf; i++) buf[i] = (unsigned char)(i * 7 + 3);
  uint64_t h = clippo_dist_hash(0, buf, sizeof buf);
  assert_true(h == clippo_dist_hash(0, buf, sizeof buf)); /* deterministic */
  /* every bit counts, in the words and in the tail */
  for (size_t i = 0; i < sizeof buf; i += 97) {
    for (int bit = 0; bit < 8; bit += 3) {
      buf[i] ^= (unsigned char)(1u << bit);
      assert_true(clippo_dist_hash(0, buf, sizeof buf) != h);
      buf[i] ^= (unsigned char)(1u << bit);
    }
  }
  buf[sizeof buf - 1] ^= 1;
  assert_true(clippo_dist_hash(0, buf, sizeof buf) != h);
  buf[sizeof buf - 1] ^= 1;
  /* the length counts (a trailing zero byte), and so does the seed */
  unsigned char z[9] = {0};
  assert_true(clippo_dist_hash(0, z, 8) != clippo_dist_hash(0, z, 9));
  assert_true(clippo_dist_hash(1, buf, 16) != clippo_dist_hash(2, buf, 16));
  /* -0.0f and 0.0f differ: the check is on bits, not values */
  float p = 0.0f, n = -0.0f;
  assert_true(clippo_dist_hash(0, &p, 4) != clippo_dist_hash(0, &n, 4));
}

static void test_device_choice(void **state) {
  (void)state;
  clippo_error err;
  char out[64];
  /* one spec: every rank's; a list: this rank's item (rank 0 of one machine: the first) */
  TEST_OK(clippo_dist_device(NULL, "0:1", out, sizeof out, &err), &err);
  assert_string_equal(out, "0:1");
  TEST_OK(clippo_dist_device(NULL, "gpu,cpu", out, sizeof out, &err), &err);
  assert_string_equal(out, "gpu");
  /* none: the default device for a process alone */
  TEST_OK(clippo_dist_device(NULL, NULL, out, sizeof out, &err), &err);
  assert_string_equal(out, "");
  TEST_OK(clippo_dist_device(NULL, "", out, sizeof out, &err), &err);
  assert_string_equal(out, "");
  /* an empty item and a spec longer than the buffer are errors */
  assert_int_equal(clippo_dist_device(NULL, ",cpu", out, sizeof out, &err), CLIPPO_E_ARG);
  assert_non_null(strstr(err.msg, "empty"));
  char small[4];
  assert_int_equal(clippo_dist_device(NULL, "accelerator", small, sizeof small, &err),
                   CLIPPO_E_ARG);
}

static void test_mpi_version(void **state) {
  (void)state;
  /* the library itself never links MPI: the program says which it has (clippo version) */
  char buf[128];
  clippo_error err;
  clippo_dist *d = (clippo_dist *)&err; /* overwritten */
  if (clippo_dist_mpi_built()) { /* (starting MPI outside mpirun is left to the program tests) */
    assert_non_null(strstr(clippo_dist_mpi_version(buf, sizeof buf), "MPI"));
  } else {
    assert_non_null(strstr(clippo_dist_mpi_version(buf, sizeof buf), "without MPI"));
    assert_int_equal(clippo_dist_mpi_init(NULL, &d, &err), CLIPPO_E_UNSUPPORTED);
    assert_null(d);
    assert_non_null(strstr(err.msg, "CLIPPO_MPI"));
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_one_rank),
      cmocka_unit_test(test_hash),
      cmocka_unit_test(test_device_choice),
      cmocka_unit_test(test_mpi_version),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
