/* Measuring the GEMM providers on a device and recording the fastest per shape class. */
#include "gemm_internal.h"

#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

size_t clippo_gemm_vit_b16_shapes(size_t images, clippo_gemm_shape *out, size_t cap) {
  const size_t t = 196 * images, bh = 12 * images;
  const clippo_gemm_shape s[] = {
      /* forward */
      {"qkv", 0, 0, t, 2304, 768, 1, 1},
      {"attn_out", 0, 0, t, 768, 768, 1, 1},
      {"mlp_in", 0, 0, t, 3072, 768, 1, 1},
      {"mlp_out", 0, 0, t, 768, 3072, 1, 1},
      {"attn_qk", 0, 1, 196, 196, 64, bh, 0},
      {"attn_av", 0, 0, 196, 64, 196, bh, 0},
      {"head", 0, 0, images, 768, 768, 1, 1},
      {"map_qk", 0, 1, 1, 196, 64, bh, 0},
      /* backward: dX = dY W^T, dW = X^T dY, and the attention products */
      {"mlp_in_dx", 0, 1, t, 768, 3072, 1, 0},
      {"mlp_out_dx", 0, 1, t, 3072, 768, 1, 0},
      {"qkv_dx", 0, 1, t, 768, 2304, 1, 0},
      {"mlp_in_dw", 1, 0, 768, 3072, t, 1, 0},
      {"mlp_out_dw", 1, 0, 3072, 768, t, 1, 0},
      {"attn_dk", 1, 0, 196, 64, 196, bh, 0},
  };
  size_t n = sizeof s / sizeof s[0];
  for (size_t i = 0; i < n && i < cap; i++) out[i] = s[i];
  return n;
}

/* Median of x[n] (sorts x). */
static double median(double *x, int n) {
  if (n <= 0) return 0.0;
  for (int i = 1; i < n; i++)
    for (int j = i; j > 0 && x[j - 1] > x[j]; j--) {
      double t = x[j];
      x[j] = x[j - 1];
      x[j - 1] = t;
    }
  return n % 2 ? x[n / 2] : 0.5 * (x[n / 2 - 1] + x[n / 2]);
}

/* Device operands of one shape and the host result to check against. */
typedef struct shape_data {
  clippo_tensor a, b, c;
  float *ref, *out;
  size_t cn; /* elements of C */
} shape_data;

static void shape_data_free(clippo_rt *rt, shape_data *d) {
  clippo_tensor_release(rt, &d->a);
  clippo_tensor_release(rt, &d->b);
  clippo_tensor_release(rt, &d->c);
  free(d->ref);
  free(d->out);
  memset(d, 0, sizeof *d);
}

static void fill(float *x, size_t n, unsigned long long seed) {
  unsigned long long s = seed * 6364136223846793005ull + 1442695040888963407ull;
  for (size_t i = 0; i < n; i++) {
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    x[i] = (float)((double)(s >> 40) / 16777216.0 - 0.5);
  }
}

static clippo_status shape_data_make(clippo_rt *rt, const clippo_gemm_shape *s, shape_data *d,
                                     clippo_error *err) {
  memset(d, 0, sizeof *d);
  size_t an = s->m * s->k * s->batch, bn = s->k * s->n * s->batch;
  d->cn = s->m * s->n * s->batch;
  float *ha = malloc((an ? an : 1) * sizeof(float)), *hb = malloc((bn ? bn : 1) * sizeof(float));
  d->ref = malloc((d->cn ? d->cn : 1) * sizeof(float));
  d->out = malloc((d->cn ? d->cn : 1) * sizeof(float));
  clippo_status st = CLIPPO_OK;
  if (!ha || !hb || !d->ref || !d->out)
    st = clippo_fail(err, CLIPPO_E_NOMEM, "gemm tune: out of host memory for shape %s", s->name);
  int64_t sa[1] = {(int64_t)(an ? an : 1)}, sb[1] = {(int64_t)(bn ? bn : 1)},
          sc[1] = {(int64_t)(d->cn ? d->cn : 1)};
  if (!st) {
    fill(ha, an, 1);
    fill(hb, bn, 2);
    size_t lda = s->trans_a ? s->m : s->k, ldb = s->trans_b ? s->k : s->n;
    for (size_t z = 0; z < s->batch; z++)
      cblas_sgemm(CblasRowMajor, s->trans_a ? CblasTrans : CblasNoTrans,
                  s->trans_b ? CblasTrans : CblasNoTrans, (int)s->m, (int)s->n, (int)s->k, 1.0f,
                  ha + z * s->m * s->k, (int)(lda ? lda : 1), hb + z * s->k * s->n,
                  (int)(ldb ? ldb : 1), 0.0f, d->ref + z * s->m * s->n, (int)s->n);
  }
  if (!st) st = clippo_tensor_alloc(rt, &d->a, CLIPPO_F32, 1, sa, err);
  if (!st) st = clippo_tensor_alloc(rt, &d->b, CLIPPO_F32, 1, sb, err);
  if (!st) st = clippo_tensor_alloc(rt, &d->c, CLIPPO_F32, 1, sc, err);
  if (!st && an) st = clippo_tensor_write(rt, &d->a, ha, err);
  if (!st && bn) st = clippo_tensor_write(rt, &d->b, hb, err);
  free(ha);
  free(hb);
  if (st) shape_data_free(rt, d);
  return st;
}

/* One run of provider p on shape s into d->c, waited for; *sec gets its wall time. declared:
 * GEMM_DECLARED_AUTO, or (oneDNN, B declared unchanging) the way of multiplying declared weights
 * to force instead of the record's. */
static clippo_status run_once(clippo_rt *rt, clippo_gemm_provider p,
                              const clippo_gemm_kernel_cfg *cfg, const clippo_gemm_shape *s,
                              int declared, shape_data *d, double *sec, clippo_error *err) {
  size_t lda = s->trans_a ? s->m : s->k, ldb = s->trans_b ? s->k : s->n;
  if (lda == 0) lda = 1;
  if (ldb == 0) ldb = 1;
  double t0 = gemm_now();
  clippo_status st;
  if (declared == GEMM_DECLARED_AUTO) {
    st = clippo_gemm_with(rt, p, cfg, s->trans_a, s->trans_b, s->m, s->n, s->k, 1.0f, &d->a, lda,
                          s->m * s->k, &d->b, ldb, s->k * s->n, 0.0f, &d->c, s->n, s->m * s->n,
                          s->batch, err);
  } else {
    gemm_call g =
        gemm_call_of(s->trans_a, s->trans_b, s->m, s->n, s->k, 1.0f, &d->a, lda, s->m * s->k, &d->b,
                     ldb, s->k * s->n, 0.0f, &d->c, s->n, s->m * s->n, s->batch);
    g.declared = declared;
    st = gemm_run_validated(rt, p, cfg, 0, &g, err);
  }
  if (!st) st = clippo_rt_finish(rt, err);
  *sec = gemm_now() - t0;
  return st;
}

/* d->c (read into d->out) against the host BLAS's result d->ref: an error naming `what` and the
 * shape beyond a relative error of 1e-4. */
static clippo_status check_result(clippo_rt *rt, shape_data *d, const char *what,
                                  const clippo_gemm_shape *s, clippo_error *err) {
  clippo_status st = clippo_tensor_read(rt, &d->c, d->out, err);
  if (st) return st;
  double num = 0, den = 0;
  for (size_t i = 0; i < d->cn; i++) {
    double e = (double)d->out[i] - (double)d->ref[i];
    num += e * e;
    den += (double)d->ref[i] * (double)d->ref[i];
  }
  double rel = den > 0 ? sqrt(num / den) : sqrt(num);
  if (!(rel <= 1e-4))
    return clippo_fail(err, CLIPPO_E_NUMERIC,
                       "%s gave a wrong result on shape %s (relative error %.3g against the host "
                       "BLAS)",
                       what, s->name, rel);
  return CLIPPO_OK;
}

/* The warm-up: one run of provider p (as run_once) over C filled with NaN, checked; *sec gets
 * its time. */
static clippo_status checked_run(clippo_rt *rt, clippo_gemm_provider p,
                                 const clippo_gemm_kernel_cfg *cfg, const clippo_gemm_shape *s,
                                 int declared, shape_data *d, double *sec, clippo_error *err) {
  char what[64];
  snprintf(what, sizeof what, "%s%s", clippo_gemm_provider_name(p),
           declared == GEMM_DECLARED_AUTO     ? ""
           : declared == GEMM_DECLARED_DIRECT ? " (declared weights, direct)"
                                              : " (declared weights, blocked)");
  clippo_status st = clippo_tensor_fill(rt, &d->c, NAN, err);
  if (!st) st = run_once(rt, p, cfg, s, declared, d, sec, err);
  if (!st) st = check_result(rt, d, what, s, err);
  return st;
}

/* Timed runs per measurement at most. */
#define TUNE_MAX_REPS 16
/* Rounds over the providers per shape (clippo_gemm_tune keeps each provider's fastest). */
#define TUNE_ROUNDS 2

/* Runs one provider on one shape (declared as run_once): a checked warm-up, then |reps| timed
 * runs. Returns the median seconds in *sec (the fastest when reps < 0). */
static clippo_status measure(clippo_rt *rt, clippo_gemm_provider p,
                             const clippo_gemm_kernel_cfg *cfg, const clippo_gemm_shape *s,
                             int declared, shape_data *d, int reps, double *sec,
                             clippo_error *err) {
  int best_of = reps < 0;
  if (reps < 0) reps = -reps;
  if (reps > TUNE_MAX_REPS) reps = TUNE_MAX_REPS;
  if (reps < 1) reps = 1; /* at least one timed run: times[] is read below */
  double times[TUNE_MAX_REPS], t = 0;
  clippo_status st = checked_run(rt, p, cfg, s, declared, d, &t, err);
  /* Slow runs (CLBlast untuned on a CPU): measure once more only. */
  if (!st && t > 1.0 && reps > 1) reps = 1;
  for (int r = 0; r < reps && !st; r++) st = run_once(rt, p, cfg, s, declared, d, &times[r], err);
  if (st) return st;
  double med = median(times, reps); /* sorts times: the fastest first */
  /* reps < 0 asks for the fastest run instead of the median (the probe: robust to load). */
  *sec = best_of ? times[0] : med;
  return CLIPPO_OK;
}

/* Rows of the products clippo_gemm_tune measures declared weights on (a batch-1 embedding's). */
#define DECLARED_TUNE_ROWS 196

/* Fills cc->declared_seconds from the class's weight shapes (not transposed, single) cut to
 * DECLARED_TUNE_ROWS rows: TUNE_ROUNDS rounds of both modes in turn, each measured (its checked
 * warm-up also makes the mode's copy of B: the two modes keep B in different layouts, so
 * alternating single runs would time the copy too); each mode's fastest round, summed over the
 * shapes. An error leaves both 0 (blocked, the default). */
static clippo_status tune_declared(clippo_rt *rt, const clippo_gemm_tune_opts *o,
                                   const clippo_gemm_tune_report *rep, clippo_gemm_class_choice *cc,
                                   clippo_error *err) {
  double sum[2] = {0, 0};
  for (size_t j = 0; j < o->nshapes; j++) {
    clippo_gemm_shape s = o->shapes[j];
    if (strcmp(rep->rows[j].shape_class, cc->shape_class) || !s.weights || s.trans_a || s.trans_b ||
        s.batch != 1)
      continue;
    if (s.m > DECLARED_TUNE_ROWS) s.m = DECLARED_TUNE_ROWS;
    shape_data d;
    clippo_status st = shape_data_make(rt, &s, &d, err);
    if (st) return st;
    st = clippo_gemm_declare_weights(rt, d.b.mem, err);
    double best[2] = {0, 0};
    for (int round = 0; round < TUNE_ROUNDS && !st; round++)
      for (int mode = 0; mode < 2 && !st; mode++) {
        double med = 0;
        st = measure(rt, CLIPPO_GEMM_ONEDNN, NULL, &s,
                     mode ? GEMM_DECLARED_DIRECT : GEMM_DECLARED_BLOCKED, &d, o->reps, &med, err);
        if (!st && (best[mode] == 0 || med < best[mode])) best[mode] = med;
      }
    clippo_gemm_forget_weights(rt, d.b.mem);
    shape_data_free(rt, &d);
    if (st) return st;
    sum[0] += best[0];
    sum[1] += best[1];
  }
  cc->declared_seconds[0] = sum[0];
  cc->declared_seconds[1] = sum[1];
  return CLIPPO_OK;
}

/* A provider this many times slower than the best on the probe is not measured further. */
#define GEMM_TUNE_PROBE_RATIO 8

static double flops(const clippo_gemm_shape *s) {
  return 2.0 * (double)s->m * (double)s->n * (double)s->k * (double)s->batch;
}

static void note_failure(clippo_gemm_tune_report *rep, unsigned *failed, clippo_gemm_provider p,
                         const clippo_error *e) {
  if (*failed & (1u << p)) return;
  *failed |= 1u << p;
  size_t used = strlen(rep->failures);
  snprintf(rep->failures + used, sizeof rep->failures - used, "%s: %s\n",
           clippo_gemm_provider_name(p), e->msg);
}

clippo_status clippo_gemm_tune(clippo_rt *rt, const clippo_gemm_tune_opts *opts,
                               clippo_gemm_tune_report *report, clippo_error *err) {
  clippo_gemm_tune_opts o;
  memset(&o, 0, sizeof o);
  if (opts) o = *opts;
  clippo_gemm_tune_report local;
  clippo_gemm_tune_report *rep = report ? report : &local;
  memset(rep, 0, sizeof *rep);
  clippo_gemm_shape vit[32];
  if (!o.shapes) {
    o.nshapes = clippo_gemm_vit_b16_shapes(8, vit, 32);
    o.shapes = vit;
  }
  if (o.reps <= 0) o.reps = 3;
  unsigned providers = 0;
  for (int p = 1; p < CLIPPO_GEMM_NPROVIDERS; p++)
    if ((!o.providers || (o.providers & (1u << p))) &&
        clippo_gemm_provider_available(rt, (clippo_gemm_provider)p))
      providers |= 1u << p;
  if (!providers)
    return clippo_fail(err, CLIPPO_E_ARG, "gemm tune: no requested provider can run on '%s'",
                       rt->info.name);
  for (size_t i = 0; i < o.nshapes; i++) {
    const clippo_gemm_shape *s = &o.shapes[i];
    if (!s->m || !s->n || !s->k || !s->batch)
      return clippo_fail(err, CLIPPO_E_ARG, "gemm tune: shape %s has a zero size",
                         s->name ? s->name : "?");
  }
  rep->rows = calloc(o.nshapes ? o.nshapes : 1, sizeof *rep->rows);
  rep->classes = calloc(o.nshapes ? o.nshapes : 1, sizeof *rep->classes);
  if (!rep->rows || !rep->classes) {
    clippo_gemm_tune_report_free(rep);
    return clippo_fail(err, CLIPPO_E_NOMEM, "gemm tune: out of host memory");
  }
  rep->nrows = o.nshapes;
  for (size_t i = 0; i < o.nshapes; i++) {
    rep->rows[i].shape = o.shapes[i];
    const clippo_gemm_shape *s = &o.shapes[i];
    clippo_gemm_shape_class(s->trans_a, s->trans_b, s->m, s->n, s->k, s->batch,
                            rep->rows[i].shape_class);
  }

  size_t ncand = 0;
  clippo_gemm_kernel_cfg cand_buf[GEMM_KERNEL_NCAND];
  const clippo_gemm_kernel_cfg *cand = gemm_kernel_candidates(rt, cand_buf, &ncand);
  if (o.kernel_cfgs > 0 && (size_t)o.kernel_cfgs < ncand) ncand = (size_t)o.kernel_cfgs;
  if (!(rt->info.type & CL_DEVICE_TYPE_CPU)) ncand = 0; /* the candidates are CPU tiles */
  unsigned failed = 0, dropped = 0;
  clippo_status st = CLIPPO_OK;
  clippo_error e;

  /* A small probe first: a provider far behind the best there (a kernel the driver compiles
   * badly, CLBlast untuned on a CPU) would take minutes on the real shapes and cannot win. */
  int nprov = 0;
  for (int p = 1; p < CLIPPO_GEMM_NPROVIDERS; p++) nprov += (providers >> p) & 1;
  if (nprov > 1) {
    const clippo_gemm_shape probe = {"probe", 0, 0, 192, 384, 256, 1, 0};
    double g[CLIPPO_GEMM_NPROVIDERS] = {0}, best = 0;
    int bestp = 0;
    shape_data d;
    if ((st = shape_data_make(rt, &probe, &d, err))) goto done;
    for (int p = 1; p < CLIPPO_GEMM_NPROVIDERS; p++) {
      if (!(providers & (1u << p))) continue;
      double sec = 0;
      clippo_gemm_kernel_cfg kc = gemm_kernel_default_cfg(rt, 0);
      if (measure(rt, (clippo_gemm_provider)p, &kc, &probe, GEMM_DECLARED_AUTO, &d, -5, &sec, &e)) {
        note_failure(rep, &failed, (clippo_gemm_provider)p, &e);
        continue;
      }
      g[p] = flops(&probe) / sec * 1e-9;
      if (g[p] > best) {
        best = g[p];
        bestp = p;
      }
    }
    shape_data_free(rt, &d);
    for (int p = 1; p < CLIPPO_GEMM_NPROVIDERS; p++) {
      if (g[p] <= 0 || g[p] * GEMM_TUNE_PROBE_RATIO >= best) continue;
      clippo_fail(&e, CLIPPO_E_UNSUPPORTED,
                  "not measured further: %.2f GFLOP/s on a %zux%zux%zu probe, over %dx below %s "
                  "(%.1f GFLOP/s)",
                  g[p], probe.m, probe.n, probe.k, GEMM_TUNE_PROBE_RATIO,
                  clippo_gemm_provider_name((clippo_gemm_provider)bestp), best);
      note_failure(rep, &failed, (clippo_gemm_provider)p, &e);
      dropped |= 1u << p;
    }
  }

  for (size_t i = 0; i < o.nshapes && !st; i++) {
    const char *cls = rep->rows[i].shape_class;
    int seen = 0;
    for (size_t j = 0; j < rep->nclasses; j++) seen |= !strcmp(rep->classes[j].shape_class, cls);
    if (seen) continue;
    clippo_gemm_class_choice *cc = &rep->classes[rep->nclasses++];
    memset(cc, 0, sizeof *cc);
    snprintf(cc->shape_class, sizeof cc->shape_class, "%s", cls);
    cc->kernel = gemm_kernel_default_cfg(rt, o.shapes[i].trans_a);
    /* Kernel tiles: the fastest candidate on the class's first shape. */
    if ((providers & (1u << CLIPPO_GEMM_KERNEL)) && !(failed & (1u << CLIPPO_GEMM_KERNEL)) &&
        ncand > 1) {
      shape_data d;
      if ((st = shape_data_make(rt, &o.shapes[i], &d, err))) break;
      double best = 0;
      for (size_t c = 0; c < ncand; c++) {
        double sec = 0;
        if (measure(rt, CLIPPO_GEMM_KERNEL, &cand[c], &o.shapes[i], GEMM_DECLARED_AUTO, &d, o.reps,
                    &sec, &e))
          continue;
        if (best == 0 || sec < best) {
          best = sec;
          cc->kernel = cand[c];
        }
      }
      /* Then the depth of the slices, for deep products (same program, no new build). */
      const int depths[2] = {256, 1024};
      clippo_gemm_kernel_cfg base = cc->kernel;
      for (int j = 0; j < 2 && best > 0; j++) {
        if (o.shapes[i].k <= (size_t)depths[j] / 2 + 128 || depths[j] == base.kc) continue;
        clippo_gemm_kernel_cfg t = base;
        t.kc = depths[j];
        double sec = 0;
        if (!measure(rt, CLIPPO_GEMM_KERNEL, &t, &o.shapes[i], GEMM_DECLARED_AUTO, &d, o.reps, &sec,
                     &e) &&
            sec < best) {
          best = sec;
          cc->kernel = t;
        }
      }
      shape_data_free(rt, &d);
    }
    /* Every provider on every shape of the class. */
    int ok[CLIPPO_GEMM_NPROVIDERS];
    for (int p = 0; p < CLIPPO_GEMM_NPROVIDERS; p++) ok[p] = p > 0;
    for (size_t j = i; j < o.nshapes && !st; j++) {
      if (strcmp(rep->rows[j].shape_class, cls)) continue;
      shape_data d;
      if ((st = shape_data_make(rt, &o.shapes[j], &d, err))) break;
      /* TUNE_ROUNDS rounds of the providers in turn, each provider's measurement the fastest of
       * its rounds: load that comes for a minute has to fall on every round of a provider to
       * decide against it (one tune in a loaded minute had OpenBLAS 1.6x ahead of oneDNN on
       * B/16's products, mat_nn_l; its rerun three minutes later had oneDNN 1.1x ahead). */
      double best[CLIPPO_GEMM_NPROVIDERS] = {0};
      for (int round = 0; round < TUNE_ROUNDS && !st; round++) {
        for (int p = 1; p < CLIPPO_GEMM_NPROVIDERS; p++) {
          if (!(providers & (1u << p))) {
            ok[p] = 0;
            continue;
          }
          if (failed & (1u << p)) {
            ok[p] = 0;
            rep->rows[j].gflops[p] = (dropped & (1u << p)) ? -2 : -1;
            continue;
          }
          double sec = 0;
          if (measure(rt, (clippo_gemm_provider)p, &cc->kernel, &o.shapes[j], GEMM_DECLARED_AUTO,
                      &d, o.reps, &sec, &e)) {
            note_failure(rep, &failed, (clippo_gemm_provider)p, &e);
            rep->rows[j].gflops[p] = -1;
            ok[p] = 0;
            /* A failure may leave the queue unusable: stop if even a fill fails. */
            if (clippo_tensor_fill(rt, &d.c, 0.0f, &e) || clippo_rt_finish(rt, &e)) {
              st = clippo_fail(err, e.status, "gemm tune: device unusable after %s failed: %s",
                               clippo_gemm_provider_name((clippo_gemm_provider)p), e.msg);
              break;
            }
            continue;
          }
          if (best[p] == 0 || sec < best[p]) best[p] = sec;
        }
      }
      for (int p = 1; p < CLIPPO_GEMM_NPROVIDERS && !st; p++) {
        if (best[p] <= 0 || (failed & (1u << p))) continue;
        rep->rows[j].gflops[p] = flops(&o.shapes[j]) / best[p] * 1e-9;
        cc->seconds[p] += best[p];
      }
      shape_data_free(rt, &d);
    }
    cc->provider = CLIPPO_GEMM_AUTO;
    for (int p = 1; p < CLIPPO_GEMM_NPROVIDERS; p++) {
      if (!ok[p])
        cc->seconds[p] = 0;
      else if (cc->provider == CLIPPO_GEMM_AUTO || cc->seconds[p] < cc->seconds[cc->provider])
        cc->provider = (clippo_gemm_provider)p;
    }
    if (cc->provider == CLIPPO_GEMM_AUTO && !st)
      st = clippo_fail(err, CLIPPO_E_DEVICE,
                       "gemm tune: every provider failed on class %s on device '%s':\n%s", cls,
                       rt->info.name, rep->failures);
    if (!st && cc->provider == CLIPPO_GEMM_ONEDNN && tune_declared(rt, &o, rep, cc, &e)) {
      size_t used = strlen(rep->failures); /* oneDNN stays chosen, declared=blocked */
      snprintf(rep->failures + used, sizeof rep->failures - used,
               "onednn with declared weights (class %s): %s\n", cls, e.msg);
      cc->declared_seconds[0] = cc->declared_seconds[1] = 0;
    }
  }

done:
  if (!st && !o.no_save) {
    char path[1100];
    clippo_gemm_record_path(rt, path, sizeof path);
    if (path[0]) {
      gemm_record rec;
      if (gemm_record_load(path, &rec, &e)) rec.n = 0; /* a broken record is replaced */
      for (size_t j = 0; j < rep->nclasses; j++) {
        const clippo_gemm_class_choice *cc = &rep->classes[j];
        gemm_record_entry ne;
        memset(&ne, 0, sizeof ne);
        snprintf(ne.shape_class, sizeof ne.shape_class, "%s", cc->shape_class);
        ne.provider = cc->provider;
        ne.kernel = cc->kernel;
        if (cc->declared_seconds[0] > 0 && cc->declared_seconds[1] > 0)
          ne.declared = cc->declared_seconds[1] < cc->declared_seconds[0] ? GEMM_DECLARED_DIRECT
                                                                          : GEMM_DECLARED_BLOCKED;
        double fl = 0;
        for (size_t r = 0; r < rep->nrows; r++)
          if (!strcmp(rep->rows[r].shape_class, cc->shape_class)) fl += flops(&rep->rows[r].shape);
        for (int p = 1; p < CLIPPO_GEMM_NPROVIDERS; p++)
          ne.gflops[p] =
              cc->seconds[p] > 0 ? fl / cc->seconds[p] * 1e-9 : ((failed & (1u << p)) ? -1 : 0);
        gemm_record_entry *slot = NULL;
        for (size_t r = 0; r < rec.n; r++)
          if (!strcmp(rec.e[r].shape_class, ne.shape_class)) slot = &rec.e[r];
        if (!slot && rec.n < GEMM_RECORD_MAX) slot = &rec.e[rec.n++];
        if (slot) *slot = ne;
      }
      st = gemm_record_save(rt, path, &rec, err);
      /* The products of this runtime follow the new record from now on. */
      if (!st) st = gemm_record_set_current(rt, path, &rec, err);
      if (!st) snprintf(rep->record_path, sizeof rep->record_path, "%s", path);
    }
  }
  if (st || !report) clippo_gemm_tune_report_free(rep);
  return st;
}

void clippo_gemm_tune_report_free(clippo_gemm_tune_report *report) {
  if (!report) return;
  free(report->rows);
  free(report->classes);
  report->rows = NULL;
  report->classes = NULL;
  report->nrows = report->nclasses = 0;
}
