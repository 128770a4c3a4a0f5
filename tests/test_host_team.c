/* The GEMM layer's host team (host/gemm/host_team.c): every part of every job runs exactly once,
 * part 0 on the calling thread and the others on other threads, parts beyond the team's size are
 * not run, a one-part job never wakes a worker, and the team stops and joins cleanly (also right
 * after it was made, and with a NULL team). Jobs come back to back (the workers still polling),
 * after pauses longer than the poll (the workers asleep, and then going to sleep without polling
 * for the job after), and with parts that outlast the caller's poll (the caller asleep). */
#include "support.h"

#include <pthread.h>
#include <string.h>
#include <time.h>

#include "gemm/gemm_internal.h"

#define PARTS_MAX 8

typedef struct job {
  int runs[PARTS_MAX];
  pthread_t who[PARTS_MAX];
  long sum[PARTS_MAX];
  int round;
} job;

static void run_part(void *ctx, int part) {
  job *j = ctx;
  j->runs[part]++;
  j->who[part] = pthread_self();
  long s = 0;
  for (int i = 0; i < 1000 * (part + 1); i++) s += i % (j->round + 2);
  j->sum[part] = s;
}

static int inits;
static void count_init(void) { __atomic_add_fetch(&inits, 1, __ATOMIC_SEQ_CST); }

static void test_parts_run_once(void **state) {
  (void)state;
  clippo_error err;
  host_team *t = NULL;
  inits = 0;
  TEST_OK(host_team_create(4, count_init, &t, &err), &err);
  assert_int_equal(host_team_size(t), 4);
  for (int round = 0; round < 2000; round++) {
    job j;
    memset(&j, 0, sizeof j);
    j.round = round;
    int parts = 1 + round % 6; /* 5 and 6 are capped at the team's 4 */
    host_team_run(t, parts, run_part, &j);
    int ran = parts < 4 ? parts : 4;
    for (int p = 0; p < PARTS_MAX; p++) assert_int_equal(j.runs[p], p < ran ? 1 : 0);
    assert_true(pthread_equal(j.who[0], pthread_self()));
    for (int p = 1; p < ran; p++) assert_false(pthread_equal(j.who[p], pthread_self()));
    for (int p = 0; p < ran; p++) {
      long s = 0;
      for (int i = 0; i < 1000 * (p + 1); i++) s += i % (round + 2);
      assert_int_equal(j.sum[p], s); /* the caller sees what the worker wrote */
    }
  }
  host_team_free(t);
  assert_int_equal(inits, 3); /* each worker ran init once */
}

static void pause_us(long us) {
  struct timespec ts = {0, us * 1000L};
  nanosleep(&ts, NULL);
}

/* Parts after the first take 0.5 ms on odd rounds: longer than the caller's 0.2 ms poll. */
static void run_slow_part(void *ctx, int part) {
  job *j = ctx;
  if (part > 0 && j->round % 2) pause_us(500);
  run_part(ctx, part);
}

static void test_sleep_and_poll(void **state) {
  (void)state;
  clippo_error err;
  host_team *t = NULL;
  TEST_OK(host_team_create(3, NULL, &t, &err), &err);
  for (int round = 0; round < 300; round++) {
    job j;
    memset(&j, 0, sizeof j);
    j.round = round;
    int parts = 1 + round % 3;
    host_team_run(t, parts, run_slow_part, &j);
    for (int p = 0; p < PARTS_MAX; p++) assert_int_equal(j.runs[p], p < parts ? 1 : 0);
    if (round % 3 == 0) pause_us(1000); /* the workers stop polling and sleep */
  }
  host_team_free(t);
}

static void test_small_teams(void **state) {
  (void)state;
  clippo_error err;
  host_team *t = NULL;
  TEST_OK(host_team_create(1, NULL, &t, &err), &err);
  assert_int_equal(host_team_size(t), 1);
  job j;
  memset(&j, 0, sizeof j);
  host_team_run(t, 3, run_part, &j);
  assert_int_equal(j.runs[0], 1);
  assert_int_equal(j.runs[1], 0);
  host_team_free(t);
  /* NULL: the caller alone; freeing NULL does nothing */
  memset(&j, 0, sizeof j);
  assert_int_equal(host_team_size(NULL), 1);
  host_team_run(NULL, 2, run_part, &j);
  assert_int_equal(j.runs[0], 1);
  host_team_free(NULL);
  /* made and freed at once: the workers may not have started waiting yet */
  for (int i = 0; i < 50; i++) {
    TEST_OK(host_team_create(3, NULL, &t, &err), &err);
    host_team_free(t);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_parts_run_once),
      cmocka_unit_test(test_sleep_and_poll),
      cmocka_unit_test(test_small_teams),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
