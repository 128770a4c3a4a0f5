/* Data-parallel training under mpirun equals the single-process run on the same global batch,
 * seed and data order (issue 15): `mpirun -np 2 clippo train` on the tiny fixture (Adafactor and
 * AdamW, every device) and `mpirun -np 4` with the default model's config (3 steps of
 * Fashion-MNIST, AdamW, the first device): the parameters after 3 steps within 1e-5 relative
 * per tensor, the losses within 1e-6.
 *
 * A few tensors move further when only the order of the sums changes, in one process too (see
 * compare_runs): for those the bound is what one process makes of the same batch in R
 * micro-batches.
 *
 * Skipped (exit 77) when the program was built without MPI (CLIPPO_MPIEXEC empty). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "clippo/checkpoint.h"
#include "support.h"

/* The MPI launcher CMake found, or NULL. */
static const char *mpiexec(void) {
  const char *m = getenv("CLIPPO_MPIEXEC");
  return m && *m ? m : NULL;
}

/* Runs a shell command line; its exit status (-1 when it did not exit). */
static int run(const char *cmd) {
  int rc = system(cmd);
  return rc != -1 && WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

/* The losses of a metrics log (one "loss" per line), at most cap; their number. */
static size_t read_losses(const char *path, double *loss, size_t cap) {
  FILE *f = fopen(path, "r");
  if (!f) fail_msg("no metrics log %s", path);
  char line[4096];
  size_t n = 0;
  while (n < cap && fgets(line, sizeof line, f)) {
    const char *p = strstr(line, "\"loss\": ");
    if (p) loss[n++] = strtod(p + 8, NULL);
  }
  fclose(f);
  return n;
}

/* Loads dir/TAG-NAME.h5 (a run's checkpoint after 3 steps) and its metrics log's losses. */
static void load_run(const char *dir, const char *tag, const char *name, clippo_checkpoint *ck,
                     double *loss) {
  char path[4096];
  clippo_error err;
  memset(ck, 0, sizeof *ck);
  snprintf(path, sizeof path, "%s/%s-%s.h5", dir, tag, name);
  TEST_OK(clippo_checkpoint_load(path, ck, 0, &err), &err);
  assert_int_equal(ck->step, 3);
  snprintf(path, sizeof path, "%s/%s-%s.jsonl", dir, tag, name);
  assert_int_equal(read_losses(path, loss, 64), 3);
}

/* ||a - b|| / ||b|| of the tensor name in two checkpoints. */
static double tensor_rel(const clippo_checkpoint *a, const clippo_checkpoint *b, const char *name) {
  const clippo_param *p = clippo_params_find(&a->params, name);
  const clippo_param *q = clippo_params_find(&b->params, name);
  if (!p || !q) fail_msg("%s is missing from a checkpoint", name);
  size_t count = clippo_array_count(&q->value);
  assert_int_equal(clippo_array_count(&p->value), count);
  return test_rel_err_f32(p->value.data, q->value.data, count);
}

/* Trains with `args` three ways, each into dir/TAG-NAME.h5 and .jsonl: alone ("one"), alone in
 * np micro-batches ("acc": --accumulate np, the same sums as np ranks make, in one process) and
 * with np ranks ("ranks"); then compares the parameters after 3 steps tensor by tensor and the
 * losses step by step, the ranks' run against the lone one: within 1e-5 relative per tensor and
 * 1e-6 per loss. Where the order of the sums alone moves a result further (the lone run and its
 * micro-batched twin differ by more than 1e-6: gradients made of cancelling terms, such as the
 * attention key biases, whose gradient is zero in exact arithmetic, scaled up by Adafactor's and
 * AdamW's normalisation to steps of the learning rate's size), the bound is three times that
 * difference: the ranks may not move it more than summing in another order does. */
static void compare_runs(const char *dir, const char *tag, int np, const char *args) {
  const char *clippo = getenv("CLIPPO_BIN");
  assert_non_null(clippo);
  size_t cap = 8192 + strlen(args);
  char *cmd = malloc(cap);
  assert_non_null(cmd);
  snprintf(cmd, cap, "%s train %s --quiet --save %s/%s-one.h5 --log %s/%s-one.jsonl", clippo, args,
           dir, tag, dir, tag);
  if (run(cmd) != 0) fail_msg("single-process run failed: %s", cmd);
  snprintf(cmd, cap,
           "%s train %s --accumulate %d --quiet --save %s/%s-acc.h5 --log %s/%s-acc.jsonl", clippo,
           args, np, dir, tag, dir, tag);
  if (run(cmd) != 0) fail_msg("micro-batched run failed: %s", cmd);
  /* LeakSanitizer off in the ranks (as tests/cli/lib/mpi.sh says why): Open MPI keeps what
   * MPI_Init allocates; the same code runs leak-checked in the one-process runs above */
  const char *asan = getenv("ASAN_OPTIONS");
  snprintf(cmd, cap,
           "ASAN_OPTIONS='%s%sdetect_leaks=0' timeout 600 %s --oversubscribe -np %d %s train %s "
           "--quiet --save %s/%s-ranks.h5 --log %s/%s-ranks.jsonl",
           asan ? asan : "", asan && *asan ? ":" : "", mpiexec(), np, clippo, args, dir, tag, dir,
           tag);
  if (run(cmd) != 0) fail_msg("run of %d ranks failed: %s", np, cmd);
  clippo_checkpoint one, acc, ranks;
  double l1[64], la[64], lr[64];
  load_run(dir, tag, "one", &one, l1);
  load_run(dir, tag, "acc", &acc, la);
  load_run(dir, tag, "ranks", &ranks, lr);
  for (size_t i = 0; i < 3; i++) {
    double order = fabs(la[i] - l1[i]), tol = order > 1e-6 / 3 ? 3 * order : 1e-6;
    if (!(fabs(lr[i] - l1[i]) <= tol))
      fail_msg("%s: step %zu loss %.9g alone, %.9g with %d ranks (%.9g in %d micro-batches)", tag,
               i + 1, l1[i], lr[i], np, la[i], np);
  }
  assert_int_equal(one.params.count, ranks.params.count);
  size_t strict = 0;
  double worst = 0.0;
  const char *worst_name = "";
  for (size_t i = 0; i < one.params.count; i++) {
    const char *name = one.params.items[i].name;
    double rel = tensor_rel(&ranks, &one, name), order = tensor_rel(&acc, &one, name);
    double tol = order > 1e-6 ? fmax(1e-5, 3 * order) : 1e-5;
    if (!(rel <= tol))
      fail_msg("%s: %s differs by %.3g relative with %d ranks (bound %.3g; %.3g in %d "
               "micro-batches)",
               tag, name, rel, np, tol, order, np);
    if (rel <= 1e-5) strict++;
    if (rel > worst) {
      worst = rel;
      worst_name = name;
    }
  }
  printf("%s: %zu of %zu tensors within 1e-5 relative of one process, the others within 3x what "
         "%d micro-batches change (largest: %.3g, %s)\n",
         tag, strict, one.params.count, np, worst, worst_name);
  /* most tensors are within the plain bound: the comparison is not an empty one */
  assert_true(strict * 4 >= one.params.count * 3);
  clippo_checkpoint_free(&one);
  clippo_checkpoint_free(&acc);
  clippo_checkpoint_free(&ranks);
  free(cmd);
}

/* The tiny fixture, 2 ranks (a batch of 4: 2 pairs each), on every device. */
static void test_tiny_two_ranks(void **state) {
  (void)state;
  if (!mpiexec()) skip();
  size_t ndev = 0;
  char **devs = test_device_specs(&ndev);
  if (ndev == 0) skip();
  char *dir = test_tmpdir();
  char *fx = test_shared_path("fixtures/tiny");
  char *f1 = test_shared_path("fonts/unifont-9.0.06.hex");
  char *f2 = test_shared_path("fonts/unifont_upper-9.0.06.hex");
  static const char *const opts[] = {"adafactor", "adamw"};
  for (size_t d = 0; d < ndev; d++) {
    for (size_t k = 0; k < 2; k++) {
      char args[8192], tag[64];
      snprintf(args, sizeof args,
               "--init %s/model.npz --images %s/images.npy --texts %s/texts.txt --font %s "
               "--font %s --optimizer %s --lr 0.01 --batch-size 4 --steps 3 --device %s",
               fx, fx, fx, f1, f2, opts[k], devs[d]);
      snprintf(tag, sizeof tag, "tiny-%s-%zu", opts[k], d);
      compare_runs(dir, tag, 2, args);
    }
  }
  char cmd[4200];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  assert_int_equal(run(cmd), 0);
  free(dir);
  free(fx);
  free(f1);
  free(f2);
  test_device_specs_free(devs, ndev);
}

/* The default model's config (configs/train_fmnist.json: the default model's architecture,
 * AdamW, Fashion-MNIST with captions), 4 ranks, 3 steps of a batch of 32 (8 pairs each). */
static void test_default_config_four_ranks(void **state) {
  (void)state;
  if (!mpiexec()) skip();
  size_t ndev = 0;
  char **devs = test_device_specs(&ndev);
  if (ndev == 0) skip();
  if (!test_file_exists("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz")) {
    printf("no Fashion-MNIST (Debian dataset-fashion-mnist): skipped\n");
    test_device_specs_free(devs, ndev);
    skip();
  }
  char *dir = test_tmpdir();
  char args[8192];
  snprintf(args, sizeof args,
           "--config %s/configs/train_fmnist.json --steps 3 --batch-size 32 --limit 256 "
           "--device %s",
           test_source_dir(), devs[0]);
  compare_runs(dir, "fmnist", 4, args);
  char cmd[4200];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  assert_int_equal(run(cmd), 0);
  free(dir);
  test_device_specs_free(devs, ndev);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_tiny_two_ranks),
      cmocka_unit_test(test_default_config_four_ranks),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
