/* Planned execution (host/model/plan.c on host/runtime/graph.c) against the unplanned path, on
 * the tiny fixture model and on small random models (pool map with a head, gap with a head, map
 * without a head):
 *  - embeddings (both kinds, partial last batch) are bit-identical planned and unplanned;
 *  - a plan made with clippo_plan_create, run several times on different inputs, gives
 *    bit-identical results each time, equal to the unplanned path's;
 *  - its activations really share memory: the arena is smaller than the activations summed,
 *    and it records GEMM calls as well as kernel launches;
 *  - the training forward and backward (a second backward accumulating, a second step on other
 *    inputs reusing the plan) give bit-identical z and gradients planned and unplanned;
 *  - with a step profile attached the planned training gives the same bits, and the profile holds
 *    its steps under their labels (kernel names, GEMM shapes); detached it grows no more;
 *  - a graph being recorded rejects tensor transfers and a second recording, and an unbound slot
 *    fails a run with a message. */
#include "support.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ckpt_gen.h"
#include "clippo/graph.h"
#include "clippo/model.h"
#include "clippo/ops.h"

typedef struct plan_case {
  const char *name;
  const char *pool;
  int out_dim;
  int fixture; /* 1: the shared tiny fixture model (../shared/fixtures/tiny/model.npz) */
} plan_case;

static clippo_model *load_case(clippo_rt *rt, const plan_case *pc) {
  clippo_error err;
  clippo_model *m = NULL;
  if (pc->fixture) {
    char *path = test_shared_path("fixtures/tiny/model.npz");
    TEST_OK(clippo_model_load(rt, path, &m, &err), &err);
    free(path);
    return m;
  }
  clippo_config cfg;
  clippo_config_b16(&cfg);
  cfg.width = 32;
  cfg.depth = 2;
  cfg.heads = 2;
  cfg.mlp_dim = 64;
  cfg.patch = 8;
  cfg.image_size = 16;
  cfg.out_dim = pc->out_dim;
  snprintf(cfg.pool, sizeof cfg.pool, "%s", pc->pool);
  clippo_params params;
  memset(&params, 0, sizeof params);
  TEST_OK(ckpt_gen_params(&cfg, 11, &params, &err), &err);
  TEST_OK(clippo_model_create(rt, &cfg, &params, &m, &err), &err);
  clippo_params_free(&params);
  return m;
}

static float *alloc_floats(size_t n) {
  float *p = calloc(n ? n : 1, sizeof *p);
  assert_non_null(p);
  return p;
}

static void assert_same(const float *a, const float *b, size_t n, const char *what) {
  if (memcmp(a, b, n * sizeof *a) != 0)
    fail_msg("%s differs planned vs unplanned (max |diff| %g)", what, test_max_abs_diff(a, b, n));
}

/* Embeddings planned and unplanned, through the convenience calls and through a plan. */
static void check_inference(clippo_model *m, test_rng *rng) {
  clippo_error err;
  const clippo_config *cfg = clippo_model_config(m);
  const size_t S = (size_t)cfg->image_size, per = S * S * 3, n = 5;
  float *img = alloc_floats(2 * n * per);
  test_fill_uniform(rng, img, 2 * n * per, -1.0f, 1.0f);
  for (int kind = 0; kind < 2; kind++) {
    const size_t od = clippo_model_output_dim(m, (clippo_embed_kind)kind);
    float *planned = alloc_floats(n * od), *unplanned = alloc_floats(n * od);
    TEST_OK(clippo_model_set_planned(m, 1, &err), &err);
    assert_int_equal(clippo_model_planned(m), 1);
    TEST_OK(clippo_model_set_batch(m, 2, &err), &err); /* batches 2, 2, 1 */
    TEST_OK(clippo_model_embed_images(m, img, n, (clippo_embed_kind)kind, planned, &err), &err);
    TEST_OK(clippo_model_set_planned(m, 0, &err), &err);
    assert_int_equal(clippo_model_planned(m), 0);
    TEST_OK(clippo_model_embed_images(m, img, n, (clippo_embed_kind)kind, unplanned, &err), &err);
    assert_same(planned, unplanned, n * od, kind ? "pre-logits" : "z");
    free(planned);
    free(unplanned);
  }
  TEST_OK(clippo_model_set_planned(m, 1, &err), &err);

  /* one plan, reused: three runs on two input sets */
  const size_t b = 3, od = clippo_model_output_dim(m, CLIPPO_EMBED_Z);
  clippo_plan *p = NULL;
  TEST_OK(clippo_plan_create(m, b, CLIPPO_EMBED_Z, &p, &err), &err);
  float *r1 = alloc_floats(b * od), *r2 = alloc_floats(b * od), *r3 = alloc_floats(b * od);
  float *u1 = alloc_floats(b * od), *u2 = alloc_floats(b * od);
  TEST_OK(clippo_plan_run(p, img, r1, &err), &err);
  TEST_OK(clippo_plan_run(p, img + n * per, r2, &err), &err);
  TEST_OK(clippo_plan_run(p, img, r3, &err), &err);
  TEST_OK(clippo_model_set_planned(m, 0, &err), &err);
  TEST_OK(clippo_model_set_batch(m, b, &err), &err);
  TEST_OK(clippo_model_embed_images(m, img, b, CLIPPO_EMBED_Z, u1, &err), &err);
  TEST_OK(clippo_model_embed_images(m, img + n * per, b, CLIPPO_EMBED_Z, u2, &err), &err);
  TEST_OK(clippo_model_set_planned(m, 1, &err), &err);
  assert_same(r1, u1, b * od, "plan run 1");
  assert_same(r2, u2, b * od, "plan run 2 (other inputs)");
  assert_same(r3, u1, b * od, "plan run 3 (first inputs again)");
  assert_true(memcmp(r1, r2, b * od * sizeof *r1) != 0); /* the inputs really changed */

  clippo_plan_info info;
  clippo_plan_get_info(p, &info);
  print_message("[ plan     ] batch %zu: %zu steps (%zu kernel launches, %zu arguments), %zu "
                "activations of %llu bytes in an arena of %llu bytes\n",
                info.batch, info.steps, info.kernel_steps, info.kernel_args, info.buffers,
                info.activation_bytes, info.arena_bytes);
  assert_int_equal(info.batch, b);
  assert_true(info.kernel_steps > 0 && info.kernel_steps < info.steps); /* GEMMs are calls */
  assert_true(info.kernel_args > 2 * info.kernel_steps); /* each has a tensor: buffer + offset */
  assert_true(info.buffers > 4);
  assert_true(info.arena_bytes > 0);
  assert_true(info.arena_bytes < info.activation_bytes);
  clippo_plan_free(p);
  free(r1);
  free(r2);
  free(r3);
  free(u1);
  free(u2);
  free(img);
}

static clippo_tensor dev_tensor(clippo_rt *rt, const float *host, int ndim, const int64_t *shape) {
  clippo_error err;
  clippo_tensor t;
  TEST_OK(clippo_tensor_alloc(rt, &t, CLIPPO_F32, ndim, shape, &err), &err);
  if (host) TEST_OK(clippo_tensor_write(rt, &t, host, &err), &err);
  return t;
}

/* Every gradient of m appended to out (advancing *at). */
static void read_grads(clippo_rt *rt, clippo_model *m, float *out, size_t *at) {
  clippo_error err;
  for (size_t i = 0; i < clippo_model_param_count(m); i++) {
    clippo_tensor *g = clippo_model_grad(m, i);
    assert_non_null(g);
    TEST_OK(clippo_tensor_read(rt, g, out + *at, &err), &err);
    *at += clippo_tensor_count(g);
  }
}

static size_t grad_floats(clippo_model *m) {
  size_t n = 0;
  for (size_t i = 0; i < clippo_model_param_count(m); i++)
    n += clippo_tensor_count(clippo_model_param(m, i, NULL));
  return n;
}

/* Two training steps (the second with other inputs), a repeated backward: z and gradients. */
static void train_steps(clippo_rt *rt, clippo_model *m, const clippo_tensor *in,
                        const clippo_tensor *in2, const clippo_tensor *dz, size_t cnt, size_t od,
                        float *out) {
  clippo_error err;
  int64_t zs[2] = {(int64_t)cnt, (int64_t)od};
  clippo_tensor z = dev_tensor(rt, NULL, 2, zs);
  size_t at = 0;
  TEST_OK(clippo_model_zero_grads(m, &err), &err);
  TEST_OK(clippo_model_train_forward(m, in, cnt, &z, &err), &err);
  TEST_OK(clippo_tensor_read(rt, &z, out + at, &err), &err);
  at += cnt * od;
  TEST_OK(clippo_model_backward(m, dz, &err), &err);
  read_grads(rt, m, out, &at);
  TEST_OK(clippo_model_backward(m, dz, &err), &err); /* accumulates on the same forward */
  read_grads(rt, m, out, &at);
  TEST_OK(clippo_model_zero_grads(m, &err), &err);
  TEST_OK(clippo_model_train_forward(m, in2, cnt, &z, &err), &err);
  TEST_OK(clippo_tensor_read(rt, &z, out + at, &err), &err);
  at += cnt * od;
  TEST_OK(clippo_model_backward(m, dz, &err), &err);
  read_grads(rt, m, out, &at);
  clippo_tensor_release(rt, &z);
}

/* The same planned steps with a step profile attached give the same bits, and the profile holds
 * every step once under its label (kernels by name, GEMM calls by shape); detached, it stays as it
 * was. */
static void check_profiled_training(clippo_rt *rt, clippo_model *m, const clippo_tensor *in,
                                    const clippo_tensor *in2, const clippo_tensor *dz, size_t cnt,
                                    size_t od, const float *planned, size_t total) {
  clippo_error err;
  clippo_step_profile *prof = NULL;
  TEST_OK(clippo_step_profile_create(&prof, &err), &err);
  float *profiled = alloc_floats(total);
  clippo_rt_set_step_profile(rt, prof);
  train_steps(rt, m, in, in2, dz, cnt, od, profiled);
  clippo_rt_set_step_profile(rt, NULL);
  assert_same(planned, profiled, total, "training z and gradients with a step profile");
  size_t n = clippo_step_profile_count(prof), steps = 0, gemms = 0, layernorms = 0;
  assert_true(n > 2);
  for (size_t i = 0; i < n; i++) {
    const char *label;
    double sec, flops;
    size_t k;
    clippo_step_profile_entry(prof, i, &label, &sec, &flops, &k);
    assert_true(k > 0 && sec >= 0.0 && label[0] != 0);
    /* GEMM calls carry their work (2 m n k per matrix), kernels none */
    int gemm = !strncmp(label, "gemm ", 5);
    if (gemm) {
      unsigned long long m = 0, n = 0, kk = 0, batch = 1;
      char ta, tb;
      assert_true(sscanf(label, "gemm %c%c %llux%llux%llu x%llu", &ta, &tb, &m, &n, &kk, &batch) >=
                  5);
      assert_true(flops == 2.0 * (double)m * (double)n * (double)kk * (double)batch * (double)k);
    } else {
      assert_true(flops == 0.0);
    }
    for (size_t j = 0; j < i; j++) { /* one entry per label */
      const char *other;
      clippo_step_profile_entry(prof, j, &other, NULL, NULL, NULL);
      assert_string_not_equal(label, other);
    }
    steps += k;
    gemms += !strncmp(label, "gemm ", 5) ? k : 0;
    layernorms += !strcmp(label, "layernorm_row") ? k : 0;
  }
  assert_true(gemms > 0 && layernorms > 0 && steps > gemms + layernorms);
  train_steps(rt, m, in, in2, dz, cnt, od, profiled); /* detached: nothing added */
  size_t again = 0;
  for (size_t i = 0; i < clippo_step_profile_count(prof); i++) {
    size_t k;
    clippo_step_profile_entry(prof, i, NULL, NULL, NULL, &k);
    again += k;
  }
  assert_int_equal(again, steps);
  print_message("[ profile  ] %zu steps under %zu labels, %zu GEMM calls\n", steps, n, gemms);
  clippo_step_profile_free(prof);
  free(profiled);
}

static void check_training(clippo_rt *rt, clippo_model *m, test_rng *rng) {
  clippo_error err;
  const clippo_config *cfg = clippo_model_config(m);
  const size_t S = (size_t)cfg->image_size, per = S * S * 3, cnt = 6;
  const size_t od = clippo_model_output_dim(m, CLIPPO_EMBED_Z);
  float *img = alloc_floats(2 * cnt * per), *g = alloc_floats(cnt * od);
  test_fill_uniform(rng, img, 2 * cnt * per, -1.0f, 1.0f);
  for (size_t i = 0; i < cnt * od; i++) g[i] = test_rng_normal(rng);
  int64_t is[4] = {(int64_t)cnt, (int64_t)S, (int64_t)S, 3}, zs[2] = {(int64_t)cnt, (int64_t)od};
  clippo_tensor in = dev_tensor(rt, img, 4, is), in2 = dev_tensor(rt, img + cnt * per, 4, is);
  clippo_tensor dz = dev_tensor(rt, g, 2, zs);
  const size_t total = 2 * cnt * od + 3 * grad_floats(m);
  float *planned = alloc_floats(total), *unplanned = alloc_floats(total);
  TEST_OK(clippo_model_set_planned(m, 1, &err), &err);
  train_steps(rt, m, &in, &in2, &dz, cnt, od, planned);
  check_profiled_training(rt, m, &in, &in2, &dz, cnt, od, planned, total);
  clippo_plan_info info;
  TEST_OK(clippo_model_train_plan_info(m, &info, &err), &err);
  TEST_OK(clippo_model_set_planned(m, 0, &err), &err);
  assert_int_equal(clippo_model_train_plan_info(m, &info, &err), CLIPPO_E_ARG);
  train_steps(rt, m, &in, &in2, &dz, cnt, od, unplanned);
  TEST_OK(clippo_model_set_planned(m, 1, &err), &err);
  assert_same(planned, unplanned, total, "training z and gradients");
  print_message("[ train    ] %zu inputs: %zu steps (%zu kernel launches), %zu activations of "
                "%llu bytes in an arena of %llu bytes\n",
                info.batch, info.steps, info.kernel_steps, info.buffers, info.activation_bytes,
                info.arena_bytes);
  assert_int_equal(info.batch, cnt);
  assert_true(info.kernel_steps > 0 && info.kernel_steps < info.steps);
  assert_true(info.arena_bytes > 0 && info.arena_bytes <= info.activation_bytes);
  clippo_tensor_release(rt, &in);
  clippo_tensor_release(rt, &in2);
  clippo_tensor_release(rt, &dz);
  free(planned);
  free(unplanned);
  free(img);
  free(g);
}

static void plan_on_device(clippo_rt *rt, void *user) {
  const plan_case *pc = user;
  test_rng rng;
  test_rng_seed(&rng, 5);
  print_message("[ case     ] %s\n", pc->name);
  clippo_model *m = load_case(rt, pc);
  check_inference(m, &rng);
  check_training(rt, m, &rng);
  clippo_model_free(m);
}

static void test_fixture_model(void **state) {
  (void)state;
  plan_case pc = {"tiny fixture (map, head 32)", NULL, 0, 1};
  test_each_device(plan_on_device, &pc);
}

static void test_random_models(void **state) {
  (void)state;
  const plan_case cases[] = {{"random map, head 16", "map", 16, 0},
                             {"random gap, head 16", "gap", 16, 0},
                             {"random map, no head", "map", 0, 0}};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    test_each_device(plan_on_device, (void *)&cases[i]);
}

/* What a graph refuses while it records, and an unbound slot. */
static void graph_rules_on_device(clippo_rt *rt, void *user) {
  (void)user;
  clippo_error err;
  clippo_graph *g = NULL, *g2 = NULL;
  TEST_OK(clippo_graph_create(rt, &g, &err), &err);
  TEST_OK(clippo_graph_create(rt, &g2, &err), &err);
  int64_t shape[1] = {16};
  clippo_tensor s, real;
  size_t slot;
  TEST_OK(clippo_graph_slot(g, CLIPPO_F32, 1, shape, &s, &slot, &err), &err);
  TEST_OK(clippo_tensor_alloc(rt, &real, CLIPPO_F32, 1, shape, &err), &err);
  float host[16] = {0};
  TEST_OK(clippo_graph_begin(g, &err), &err);
  assert_int_equal(clippo_graph_recording(rt), 1);
  assert_int_equal(clippo_graph_begin(g2, &err), CLIPPO_E_ARG);
  assert_int_equal(clippo_tensor_write(rt, &real, host, &err), CLIPPO_E_ARG);
  assert_non_null(strstr(err.msg, "recorded"));
  assert_int_equal(clippo_tensor_read(rt, &real, host, &err), CLIPPO_E_ARG);
  assert_int_equal(clippo_tensor_fill(rt, &real, 1.0f, &err), CLIPPO_E_ARG);
  /* one op recorded on the slot: nothing is enqueued until the graph runs */
  TEST_OK(clippo_op_scale(rt, &s, 2.0f, &err), &err);
  clippo_graph_end(g);
  assert_int_equal(clippo_graph_recording(rt), 0);
  assert_int_equal(clippo_graph_step_count(g), 1);
  size_t first = 9, last = 9;
  assert_int_equal(clippo_graph_slot_span(g, slot, &first, &last), 1);
  assert_int_equal(first, 0);
  assert_int_equal(last, 0);
  assert_int_equal(clippo_graph_run(g, 0, 1, &err), CLIPPO_E_ARG); /* slot not bound */
  assert_non_null(strstr(err.msg, "not bound"));
  int64_t small[1] = {8};
  clippo_tensor part = clippo_tensor_view(&real, 0, 1, small);
  assert_int_equal(clippo_graph_bind(g, slot, &part, &err), CLIPPO_E_SHAPE);
  for (int i = 0; i < 16; i++) host[i] = (float)i;
  TEST_OK(clippo_tensor_write(rt, &real, host, &err), &err);
  TEST_OK(clippo_graph_bind(g, slot, &real, &err), &err);
  TEST_OK(clippo_graph_run(g, 0, 1, &err), &err);
  TEST_OK(clippo_graph_run(g, 0, 1, &err), &err);
  TEST_OK(clippo_tensor_read(rt, &real, host, &err), &err);
  for (int i = 0; i < 16; i++) assert_true(host[i] == 4.0f * (float)i);
  clippo_tensor_release(rt, &real);
  clippo_graph_free(g2);
  clippo_graph_free(g);
}

static void test_graph_rules(void **state) {
  (void)state;
  test_each_device(graph_rules_on_device, NULL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_graph_rules),
      cmocka_unit_test(test_fixture_model),
      cmocka_unit_test(test_random_models),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
