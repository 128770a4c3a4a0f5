/* A team of host threads that sleep between products (host/gemm/gemm_internal.h). The calling
 * thread runs part 0 itself; workers wait on a condition variable, so an idle worker takes no
 * core from the OpenCL device's own threads (PoCL's) that run the kernels in between. */
#include "gemm_internal.h"

#include <pthread.h>
#include <stdlib.h>

struct host_team {
  pthread_mutex_t lock;
  pthread_cond_t wake, done;
  pthread_t *threads;
  int workers;            /* threads started (the caller is the team's member 0) */
  unsigned long long gen; /* job generation: a worker runs each generation once */
  int parts;              /* parts of the current job */
  int pending;            /* workers' parts not finished yet */
  int quit;
  void (*fn)(void *ctx, int part);
  void *ctx;
  void (*init)(void);
};

typedef struct worker_arg {
  host_team *t;
  int index; /* 1 .. workers */
} worker_arg;

static void *worker_main(void *p) {
  worker_arg wa = *(worker_arg *)p;
  free(p);
  host_team *t = wa.t;
  if (t->init) t->init();
  unsigned long long seen = 0;
  pthread_mutex_lock(&t->lock);
  for (;;) {
    while (!t->quit && t->gen == seen) pthread_cond_wait(&t->wake, &t->lock);
    if (t->quit) break;
    seen = t->gen;
    if (wa.index >= t->parts) continue; /* not needed for this job */
    void (*fn)(void *, int) = t->fn;
    void *ctx = t->ctx;
    pthread_mutex_unlock(&t->lock);
    fn(ctx, wa.index);
    pthread_mutex_lock(&t->lock);
    if (--t->pending == 0) pthread_cond_signal(&t->done);
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
  pthread_cond_broadcast(&t->wake);
  pthread_mutex_unlock(&t->lock);
  fn(ctx, 0);
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
