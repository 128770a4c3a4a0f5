/* A team of host threads that sleep between products (host/gemm/gemm_internal.h). The calling
 * thread runs part 0 itself; workers wait on a condition variable, so an idle worker takes no
 * core from the OpenCL device's own threads (PoCL's) that run the kernels in between. Before
 * sleeping, a worker waiting for the next job and the caller waiting for the workers poll for up
 * to SPIN_NS, yielding the core between polls (to the device's threads when they have work): a
 * sleep and wake-up through the kernel costs tens of microseconds each, as much as a small
 * product (the default model at batch 8 ran 20 % faster end to end with the poll). A worker polls
 * only while jobs come back that quickly: after a longer gap it sleeps at once. Between most of a
 * large model's products (the train suite's) PoCL's threads run a kernel for longer than the poll,
 * and a polling worker took their core from them in the meantime. */
#include "gemm_internal.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

#define SPIN_NS 200000 /* 0.2 ms */

struct host_team {
  pthread_mutex_t lock;
  pthread_cond_t wake, done;
  pthread_t *threads;
  int workers;            /* threads started (the caller is the team's member 0) */
  unsigned long long gen; /* job generation: a worker runs each generation once */
  int parts;              /* parts of the current job */
  int pending;            /* workers' parts not finished yet */
  atomic_ullong gen_now;  /* copies of gen and pending, read without the lock while polling */
  atomic_int pending_now;
  int quit;
  void (*fn)(void *ctx, int part);
  void *ctx;
  void (*init)(void);
};

typedef struct worker_arg {
  host_team *t;
  int index; /* 1 .. workers */
} worker_arg;

static long long now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Polls, yielding the core, until the next job is posted (gen_now != seen) or SPIN_NS passed. */
static void poll_for_job(host_team *t, unsigned long long seen) {
  const long long end = now_ns() + SPIN_NS;
  while (atomic_load_explicit(&t->gen_now, memory_order_acquire) == seen && now_ns() < end)
    sched_yield();
}

/* Polls, yielding the core, until every worker's part is done or SPIN_NS passed. */
static void poll_for_parts(host_team *t) {
  const long long end = now_ns() + SPIN_NS;
  while (atomic_load_explicit(&t->pending_now, memory_order_acquire) > 0 && now_ns() < end)
    sched_yield();
}

static void *worker_main(void *p) {
  worker_arg wa = *(worker_arg *)p;
  free(p);
  host_team *t = wa.t;
  if (t->init) t->init();
  unsigned long long seen = 0;
  long long idle_since = 0, last_gap = 0; /* ns: the last wait for a job, to the job seen */
  for (;;) {
    if (last_gap <= SPIN_NS) poll_for_job(t, seen);
    pthread_mutex_lock(&t->lock);
    while (!t->quit && t->gen == seen) pthread_cond_wait(&t->wake, &t->lock);
    if (t->quit) break;
    seen = t->gen;
    long long now = now_ns();
    last_gap = idle_since ? now - idle_since : 0;
    idle_since = now;
    if (wa.index >= t->parts) { /* not needed for this job */
      pthread_mutex_unlock(&t->lock);
      continue;
    }
    void (*fn)(void *, int) = t->fn;
    void *ctx = t->ctx;
    pthread_mutex_unlock(&t->lock);
    fn(ctx, wa.index);
    idle_since = now_ns();
    pthread_mutex_lock(&t->lock);
    if (--t->pending == 0) pthread_cond_signal(&t->done);
    atomic_store_explicit(&t->pending_now, t->pending, memory_order_release);
    pthread_mutex_unlock(&t->lock);
  }
  pthread_mutex_unlock(&t->lock);
  return NULL;
}

clippo_status host_team_create(int threads, void (*init)(void), host_team **out,
                               clippo_error *err) {
  *out = NULL;
  host_team *t = calloc(1, sizeof *t);
  int want = threads > 1 ? threads - 1 : 0;
  if (!t || (want && !(t->threads = calloc((size_t)want, sizeof *t->threads)))) {
    free(t);
    return clippo_fail(err, CLIPPO_E_NOMEM, "out of host memory (host threads)");
  }
  pthread_mutex_init(&t->lock, NULL);
  pthread_cond_init(&t->wake, NULL);
  pthread_cond_init(&t->done, NULL);
  atomic_init(&t->gen_now, 0);
  atomic_init(&t->pending_now, 0);
  t->init = init;
  for (int i = 0; i < want; i++) {
    worker_arg *wa = malloc(sizeof *wa);
    if (!wa) break;
    wa->t = t;
    wa->index = i + 1;
    if (pthread_create(&t->threads[i], NULL, worker_main, wa) != 0) {
      free(wa);
      break; /* fewer workers: the team still works, with what started */
    }
    t->workers++;
  }
  *out = t;
  return CLIPPO_OK;
}

int host_team_size(const host_team *t) { return t ? t->workers + 1 : 1; }

void host_team_run(host_team *t, int parts, void (*fn)(void *ctx, int part), void *ctx) {
  if (parts > host_team_size(t)) parts = host_team_size(t);
  if (parts <= 1) {
    fn(ctx, 0);
    return;
  }
  pthread_mutex_lock(&t->lock);
  t->fn = fn;
  t->ctx = ctx;
  t->parts = parts;
  t->pending = parts - 1;
  t->gen++;
  atomic_store_explicit(&t->pending_now, t->pending, memory_order_release);
  atomic_store_explicit(&t->gen_now, t->gen, memory_order_release);
  pthread_cond_broadcast(&t->wake);
  pthread_mutex_unlock(&t->lock);
  fn(ctx, 0);
  poll_for_parts(t);
  pthread_mutex_lock(&t->lock);
  while (t->pending > 0) pthread_cond_wait(&t->done, &t->lock);
  pthread_mutex_unlock(&t->lock);
}

void host_team_free(host_team *t) {
  if (!t) return;
  pthread_mutex_lock(&t->lock);
  t->quit = 1;
  pthread_cond_broadcast(&t->wake);
  pthread_mutex_unlock(&t->lock);
  for (int i = 0; i < t->workers; i++) pthread_join(t->threads[i], NULL);
  pthread_cond_destroy(&t->wake);
  pthread_cond_destroy(&t->done);
  pthread_mutex_destroy(&t->lock);
  free(t->threads);
  free(t);
}
