/* Index and model-identity tests: the parameter identity is the same for the same values in
 * any file (npz, h5, params-only, training checkpoint) and differs when a value does; entries
 * keyed by path, size and time (updates, removals, compaction, the re-index plan); indexes
 * written by clippo before 0.2 (format 1, file-content identity) are read, accepted for the
 * same model file and upgraded. No device needed. */
#include "support.h"

#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clippo/checkpoint.h"
#include "clippo/tasks.h"

enum { DIM = 8 };

static char *join(const char *dir, const char *name) {
  size_t n = strlen(dir) + strlen(name) + 2;
  char *p = malloc(n);
  snprintf(p, n, "%s/%s", dir, name);
  return p;
}

static void rm_rf(const char *dir) {
  char cmd[4200];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  assert_int_equal(system(cmd), 0);
}

static void write_text(const char *path, const char *text) {
  FILE *fp = fopen(path, "wb");
  assert_non_null(fp);
  fputs(text, fp);
  fclose(fp);
}

/* A unit row for seed s. */
static void row(float *z, unsigned s) {
  test_rng rng;
  test_rng_seed(&rng, s);
  test_fill_uniform(&rng, z, DIM, -1, 1);
  double n = 0;
  for (int d = 0; d < DIM; d++) n += (double)z[d] * z[d];
  for (int d = 0; d < DIM; d++) z[d] = (float)(z[d] / sqrt(n));
}

/* ---- parameter identity -------------------------------------------------------------------- */

static void test_params_identity(void **state) {
  (void)state;
  clippo_error err;
  char *model = test_shared_path("fixtures/tiny/model.npz");
  char *dir = test_tmpdir();
  char *h5 = join(dir, "m.h5"), *npz = join(dir, "m.npz"), *cache = join(dir, "cache");
  char *trained = join(dir, "trained.h5");
  clippo_checkpoint ck;
  memset(&ck, 0, sizeof ck);
  TEST_OK(clippo_checkpoint_load(model, &ck, 1, &err), &err);
  TEST_OK(clippo_checkpoint_save_h5(h5, &ck, &err), &err);
  TEST_OK(clippo_checkpoint_save_npz(npz, &ck, &err), &err);
  char a[CLIPPO_IDENTITY_MAX], b[CLIPPO_IDENTITY_MAX], c[CLIPPO_IDENTITY_MAX];
  TEST_OK(clippo_model_identity(model, NULL, a, &err), &err);
  assert_true(strncmp(a, "p1-", 3) == 0);
  TEST_OK(clippo_model_identity(h5, cache, b, &err), &err);
  assert_string_equal(a, b);
  TEST_OK(clippo_model_identity(npz, cache, c, &err), &err);
  assert_string_equal(a, c);
  char *memo = join(cache, "model-identities.tsv");
  assert_true(test_file_exists(memo));
  TEST_OK(clippo_model_identity(h5, cache, c, &err), &err); /* from the memo */
  assert_string_equal(a, c);
  /* the identity of the loaded parameters; the order they are held in does not matter */
  TEST_OK(clippo_params_identity(&ck.cfg, &ck.params, b, &err), &err);
  assert_string_equal(a, b);
  clippo_param first = ck.params.items[0];
  ck.params.items[0] = ck.params.items[ck.params.count - 1];
  ck.params.items[ck.params.count - 1] = first;
  TEST_OK(clippo_params_identity(&ck.cfg, &ck.params, b, &err), &err);
  assert_string_equal(a, b);
  /* a training checkpoint: the same parameters plus optimizer state (and a step) */
  clippo_array mom = {0};
  int64_t shape[1] = {3};
  TEST_OK(clippo_array_alloc(&mom, CLIPPO_F32, 1, shape, &err), &err);
  TEST_OK(clippo_params_add(&ck.opt, "momentum/x", &mom, &err), &err);
  ck.step = 7;
  TEST_OK(clippo_checkpoint_save_h5(trained, &ck, &err), &err);
  TEST_OK(clippo_model_identity(trained, cache, b, &err), &err);
  assert_string_equal(a, b);
  /* one value changed by one ulp: another model */
  float *x = ck.params.items[1].value.data;
  x[0] = nextafterf(x[0], INFINITY);
  TEST_OK(clippo_params_identity(&ck.cfg, &ck.params, b, &err), &err);
  assert_string_not_equal(a, b);
  TEST_OK(clippo_checkpoint_save_h5(h5, &ck, &err), &err); /* same path: the memo notices */
  TEST_OK(clippo_model_identity(h5, cache, c, &err), &err);
  assert_string_equal(b, c);
  /* a config field the shapes do not give */
  x[0] = nextafterf(x[0], -INFINITY);
  ck.cfg.ln_eps = 1e-5f;
  TEST_OK(clippo_params_identity(&ck.cfg, &ck.params, b, &err), &err);
  assert_string_not_equal(a, b);
  /* a file that is not a model */
  write_text(npz, "not a model");
  assert_int_not_equal(clippo_model_identity(npz, NULL, c, &err), CLIPPO_OK);
  assert_non_null(strstr(err.msg, npz));
  clippo_checkpoint_free(&ck);
  rm_rf(dir);
  free(memo);
  free(trained);
  free(cache);
  free(npz);
  free(h5);
  free(dir);
  free(model);
}

/* ---- stamps, updates, removals, compaction --------------------------------------------------- */

static void test_index_updates(void **state) {
  (void)state;
  clippo_error err;
  char *dir = test_tmpdir();
  char *path = join(dir, "ix.h5");
  const char *names[3] = {"/p/a.png", "/p/b.png", "/p/c.png"};
  clippo_file_stamp st1[3] = {{10, 1000}, {20, 2000}, {30, 3000}};
  float z[3 * DIM], zb2[DIM];
  for (unsigned i = 0; i < 3; i++) row(z + (size_t)i * DIM, i + 1);
  row(zb2, 99);
  clippo_index *ix = NULL;
  TEST_OK(clippo_index_open_append(path, "model-A", "a.npz", DIM, 32, &ix, &err), &err);
  TEST_OK(clippo_index_append_stamped(ix, names, st1, z, 3, &err), &err);
  clippo_file_stamp s;
  assert_true(clippo_index_lookup(ix, "/p/b.png", &s));
  assert_int_equal(s.size, 20);
  assert_int_equal(s.mtime_ns, 2000);
  /* b changes, c is removed */
  clippo_file_stamp sb2 = {21, 2500};
  TEST_OK(clippo_index_append_stamped(ix, names + 1, &sb2, zb2, 1, &err), &err);
  TEST_OK(clippo_index_remove(ix, names + 2, 1, &err), &err);
  TEST_OK(clippo_index_remove(ix, names + 2, 1, &err), &err); /* already gone: nothing */
  assert_int_equal(clippo_index_count(ix), 2);
  assert_false(clippo_index_contains(ix, "/p/c.png"));
  assert_int_equal(clippo_index_superseded(ix), 3); /* old b, old c and its removal */
  TEST_OK(clippo_index_close(ix, &err), &err);
  /* read back: live entries only, b's newer embedding */
  TEST_OK(clippo_index_open_read(path, &ix, &err), &err);
  assert_int_equal(clippo_index_count(ix), 2);
  assert_string_equal(clippo_index_path(ix, 0), "/p/a.png");
  assert_string_equal(clippo_index_path(ix, 1), "/p/b.png");
  assert_null(clippo_index_path(ix, 2));
  assert_int_equal(clippo_index_stamp(ix, 1).size, 21);
  assert_memory_equal(clippo_index_embeddings(ix) + DIM, zb2, sizeof zb2);
  size_t idx[3];
  float sc[3];
  assert_int_equal(clippo_index_search(ix, zb2, 3, idx, sc), 2);
  assert_int_equal(idx[0], 1);
  TEST_OK(clippo_index_close(ix, &err), &err);
  /* c comes back; compaction keeps the live rows only */
  TEST_OK(clippo_index_open_append(path, "model-A", "a.npz", DIM, 32, &ix, &err), &err);
  assert_int_equal(clippo_index_superseded(ix), 3);
  TEST_OK(clippo_index_append_stamped(ix, names + 2, st1 + 2, z + (ptrdiff_t)2 * DIM, 1, &err),
          &err);
  TEST_OK(clippo_index_compact(ix, 0, &err), &err); /* 3 of 6 rows superseded: > 1/4 */
  assert_int_equal(clippo_index_superseded(ix), 0);
  assert_int_equal(clippo_index_count(ix), 3);
  assert_true(clippo_index_lookup(ix, "/p/b.png", &s));
  assert_int_equal(s.size, 21);
  TEST_OK(clippo_index_append_stamped(ix, names, st1, z, 1, &err), &err); /* still appendable */
  TEST_OK(clippo_index_compact(ix, 0, &err), &err); /* 1 of 4: not worth a rewrite */
  assert_int_equal(clippo_index_superseded(ix), 1);
  TEST_OK(clippo_index_close(ix, &err), &err);
  TEST_OK(clippo_index_open_read(path, &ix, &err), &err);
  assert_int_equal(clippo_index_count(ix), 3);
  const float *zz = clippo_index_embeddings(ix);
  for (size_t i = 0; i < 3; i++) {
    const char *p = clippo_index_path(ix, i);
    const float *want = !strcmp(p, "/p/b.png")   ? zb2
                        : !strcmp(p, "/p/a.png") ? z
                                                 : z + (ptrdiff_t)2 * DIM;
    assert_memory_equal(zz + i * DIM, want, DIM * sizeof *zz);
  }
  TEST_OK(clippo_index_close(ix, &err), &err);
  /* a removal stamp is not an entry */
  clippo_file_stamp bad = {CLIPPO_STAMP_REMOVED, 0};
  TEST_OK(clippo_index_open_append(path, "model-A", "a.npz", DIM, 32, &ix, &err), &err);
  assert_int_equal(clippo_index_append_stamped(ix, names, &bad, z, 1, &err), CLIPPO_E_ARG);
  TEST_OK(clippo_index_close(ix, &err), &err);
  rm_rf(dir);
  free(path);
  free(dir);
}

static void test_index_plan(void **state) {
  (void)state;
  clippo_error err;
  char *dir = test_tmpdir();
  char *path = join(dir, "ix.h5");
  char *fa = join(dir, "a.png"), *fb = join(dir, "b.png"), *fc = join(dir, "c.png");
  char *fd = join(dir, "d.png"), *fe = join(dir, "e.png");
  write_text(fa, "a");
  write_text(fb, "b");
  write_text(fc, "c");
  write_text(fe, "e");
  clippo_file_stamp s;
  TEST_OK(clippo_file_stamp_get(fa, &s, &err), &err);
  assert_int_equal(s.size, 1);
  assert_int_equal(clippo_file_stamp_get(fd, &s, &err), CLIPPO_E_NOTFOUND);
  assert_non_null(strstr(err.msg, fd));
  assert_int_equal(clippo_file_stamp_get(dir, &s, &err), CLIPPO_E_NOTFOUND); /* a folder */
  float z[4 * DIM];
  for (unsigned i = 0; i < 4; i++) row(z + (size_t)i * DIM, i + 1);
  const char *in[4] = {fa, fb, fc, fe};
  clippo_index *ix = NULL;
  TEST_OK(clippo_index_open_append(path, "m", "m.npz", DIM, 32, &ix, &err), &err);
  TEST_OK(clippo_index_append(ix, in, z, 4, &err), &err); /* stamps taken now */
  /* b changes size, c is deleted, d is new; e (not listed) changes too */
  write_text(fb, "bigger");
  remove(fc);
  write_text(fd, "d");
  write_text(fe, "e changed");
  clippo_path_list files = {0};
  TEST_OK(clippo_path_list_add(&files, fa, &err), &err);
  TEST_OK(clippo_path_list_add(&files, fb, &err), &err);
  TEST_OK(clippo_path_list_add(&files, fd, &err), &err);
  clippo_index_plan plan;
  TEST_OK(clippo_index_plan_make(ix, &files, &plan, &err), &err);
  assert_int_equal(plan.unchanged, 1);
  assert_int_equal(plan.added, 1);
  assert_int_equal(plan.updated, 2);
  assert_int_equal(plan.embed.count, 3);
  assert_string_equal(plan.embed.items[0], fb);
  assert_true(plan.is_update[0]);
  assert_int_equal(plan.stamps[0].size, 6);
  assert_string_equal(plan.embed.items[1], fd);
  assert_false(plan.is_update[1]);
  assert_string_equal(plan.embed.items[2], fe);
  assert_true(plan.is_update[2]);
  assert_int_equal(plan.removed.count, 1);
  assert_string_equal(plan.removed.items[0], fc);
  clippo_index_plan_free(&plan);
  clippo_path_list_free(&files);
  TEST_OK(clippo_index_close(ix, &err), &err);
  rm_rf(dir);
  free(fa);
  free(fb);
  free(fc);
  free(fd);
  free(fe);
  free(path);
  free(dir);
}

/* ---- indexes written before 0.2 ----------------------------------------------------------------
 */

/* Writes a format-1 index as clippo 0.1 did: no sizes and times, model = file identity. */
static void write_v1(const char *path, const char *model_id, const char *const *paths, size_t n,
                     const float *z) {
  hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  assert_true(f >= 0);
  const char *keys[3] = {"format", "model", "model_path"};
  const char *vals[3] = {"clippo-index-1", model_id, "/old/place/model.npz"};
  for (int i = 0; i < 3; i++) {
    hid_t t = H5Tcopy(H5T_C_S1), sp = H5Screate(H5S_SCALAR);
    H5Tset_size(t, strlen(vals[i]));
    hid_t a = H5Acreate2(f, keys[i], t, sp, H5P_DEFAULT, H5P_DEFAULT);
    assert_true(H5Awrite(a, t, vals[i]) >= 0);
    H5Aclose(a);
    H5Sclose(sp);
    H5Tclose(t);
  }
  const char *ikeys[3] = {"dim", "image_size", "count"};
  int64_t ivals[3] = {DIM, 32, (int64_t)n};
  for (int i = 0; i < 3; i++) {
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(f, ikeys[i], H5T_STD_I64LE, sp, H5P_DEFAULT, H5P_DEFAULT);
    assert_true(H5Awrite(a, H5T_NATIVE_INT64, &ivals[i]) >= 0);
    H5Aclose(a);
    H5Sclose(sp);
  }
  char bytes[4096] = "";
  uint64_t ends[16];
  size_t o = 0;
  for (size_t i = 0; i < n; i++) {
    memcpy(bytes + o, paths[i], strlen(paths[i]));
    o += strlen(paths[i]);
    ends[i] = o;
  }
  hsize_t zd[2] = {n, DIM}, bd[1] = {o}, ed[1] = {n};
  struct {
    const char *name;
    int rank;
    hsize_t *dims;
    hid_t ft, mt;
    const void *data;
  } ds[3] = {{"z", 2, zd, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, z},
             {"path_bytes", 1, bd, H5T_STD_U8LE, H5T_NATIVE_UCHAR, bytes},
             {"path_ends", 1, ed, H5T_STD_U64LE, H5T_NATIVE_UINT64, ends}};
  for (int i = 0; i < 3; i++) {
    hid_t sp = H5Screate_simple(ds[i].rank, ds[i].dims, NULL);
    hid_t d = H5Dcreate2(f, ds[i].name, ds[i].ft, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    assert_true(H5Dwrite(d, ds[i].mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, ds[i].data) >= 0);
    H5Dclose(d);
    H5Sclose(sp);
  }
  H5Fclose(f);
}

static void test_index_legacy(void **state) {
  (void)state;
  clippo_error err;
  char *model = test_shared_path("fixtures/tiny/model.npz");
  char *dir = test_tmpdir();
  char *path = join(dir, "old.h5"), *copy = join(dir, "copy.h5");
  char c1[CLIPPO_IDENTITY_MAX], p1[CLIPPO_IDENTITY_MAX], pc[CLIPPO_IDENTITY_MAX];
  TEST_OK(clippo_file_identity(model, NULL, c1, &err), &err);
  TEST_OK(clippo_model_identity(model, NULL, p1, &err), &err);
  clippo_checkpoint ck;
  memset(&ck, 0, sizeof ck);
  TEST_OK(clippo_checkpoint_load(model, &ck, 0, &err), &err);
  TEST_OK(clippo_checkpoint_save_h5(copy, &ck, &err), &err);
  clippo_checkpoint_free(&ck);
  TEST_OK(clippo_model_identity(copy, NULL, pc, &err), &err);
  assert_string_equal(p1, pc);
  const char *names[2] = {"/p/a.png", "/p/b.png"};
  float z[2 * DIM];
  row(z, 1);
  row(z + DIM, 2);
  write_v1(path, c1, names, 2, z);
  /* read as it is */
  clippo_index *ix = NULL;
  TEST_OK(clippo_index_open_read(path, &ix, &err), &err);
  assert_int_equal(clippo_index_count(ix), 2);
  assert_string_equal(clippo_index_path(ix, 1), "/p/b.png");
  assert_int_equal(clippo_index_stamp(ix, 1).size, CLIPPO_STAMP_UNKNOWN);
  assert_memory_equal(clippo_index_embeddings(ix), z, sizeof z);
  /* its model file is accepted; a converted copy cannot be told from the file bytes */
  TEST_OK(clippo_index_check_model(ix, p1, model, NULL, &err), &err);
  assert_int_equal(clippo_index_check_model(ix, pc, copy, NULL, &err), CLIPPO_E_ARG);
  assert_non_null(strstr(err.msg, "another model"));
  assert_non_null(strstr(err.msg, "before 0.2"));
  TEST_OK(clippo_index_close(ix, &err), &err);
  /* appending with the original upgrades it: parameter identity, format 2, stamps unknown */
  TEST_OK(clippo_index_open_append(path, p1, model, DIM, 32, &ix, &err), &err);
  assert_int_equal(clippo_index_count(ix), 2);
  clippo_path_list none = {0};
  clippo_index_plan plan;
  TEST_OK(clippo_index_plan_make(ix, &none, &plan, &err), &err);
  assert_int_equal(plan.removed.count, 2); /* /p/... does not exist */
  clippo_index_plan_free(&plan);
  TEST_OK(clippo_index_close(ix, &err), &err);
  TEST_OK(clippo_index_open_read(path, &ix, &err), &err);
  assert_string_equal(clippo_index_model_id(ix), p1);
  assert_int_equal(clippo_index_count(ix), 2);
  assert_memory_equal(clippo_index_embeddings(ix), z, sizeof z);
  TEST_OK(clippo_index_check_model(ix, pc, copy, NULL, &err), &err); /* now the copy is fine */
  TEST_OK(clippo_index_close(ix, &err), &err);
  hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  assert_true(f >= 0);
  assert_true(H5Lexists(f, "file_mtime_ns", H5P_DEFAULT) > 0);
  H5Fclose(f);
  rm_rf(dir);
  free(copy);
  free(path);
  free(dir);
  free(model);
}

/* ---- files that are not indexes ---------------------------------------------------------------
 */

static void test_index_not_an_index(void **state) {
  (void)state;
  clippo_error err;
  char *dir = test_tmpdir();
  char *notes = join(dir, "notes.h5"), *h5 = join(dir, "other.h5"), *none = join(dir, "n.h5");
  write_text(notes, "my notes");
  hid_t f = H5Fcreate(h5, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  H5Fclose(f);
  TEST_OK(clippo_index_check_file(none, &err), &err); /* absent: fine, it will be created */
  assert_int_equal(clippo_index_check_file(notes, &err), CLIPPO_E_FORMAT);
  assert_non_null(strstr(err.msg, "not an HDF5 file"));
  assert_null(strstr(err.msg, "delete"));
  assert_int_equal(clippo_index_check_file(h5, &err), CLIPPO_E_FORMAT);
  assert_non_null(strstr(err.msg, "HDF5 file but not a clippo index"));
  assert_int_equal(clippo_index_check_file(dir, &err), CLIPPO_E_ARG);
  assert_non_null(strstr(err.msg, "is a folder"));
  clippo_index *ix = NULL;
  assert_int_equal(clippo_index_open_append(notes, "m", "x", DIM, 32, &ix, &err), CLIPPO_E_FORMAT);
  assert_null(ix);
  FILE *fp = fopen(notes, "rb");
  char buf[16] = "";
  assert_non_null(fp);
  assert_int_equal(fread(buf, 1, sizeof buf, fp), 8);
  fclose(fp);
  assert_memory_equal(buf, "my notes", 8);
  rm_rf(dir);
  free(none);
  free(h5);
  free(notes);
  free(dir);
}

int main(void) {
  H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_params_identity),    cmocka_unit_test(test_index_updates),
      cmocka_unit_test(test_index_plan),         cmocka_unit_test(test_index_legacy),
      cmocka_unit_test(test_index_not_an_index),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
