/* The probe suite: the device's peak FMA throughput and copy/triad bandwidth
 * (kernels/probe.cl). */
#include <stdio.h>
#include <string.h>

#include "bench/bench_internal.h"

/* ---- probe ----------------------------------------------------------------------------- */

typedef struct probe_launch {
  clippo_rt *rt;
  cl_kernel k;
  size_t global, local;
  cl_event ev; /* of the last launch */
} probe_launch;

static clippo_status probe_call(void *ctx, clippo_error *err) {
  probe_launch *p = ctx;
  if (p->ev) clReleaseEvent(p->ev);
  p->ev = NULL;
  cl_int rc =
      clEnqueueNDRangeKernel(p->rt->queue, p->k, 1, NULL, &p->global, &p->local, 0, NULL, &p->ev);
  if (rc != CL_SUCCESS) p->ev = NULL;
  return clippo_cl_check(p->rt, rc, "launching a probe kernel", err);
}

/* Kernel time of the last launch (profiling START..END), or 0. */
static double probe_kernel_s(const probe_launch *p) {
  cl_ulong a = 0, b = 0;
  if (!p->ev ||
      clGetEventProfilingInfo(p->ev, CL_PROFILING_COMMAND_START, sizeof a, &a, NULL) !=
          CL_SUCCESS ||
      clGetEventProfilingInfo(p->ev, CL_PROFILING_COMMAND_END, sizeof b, &b, NULL) != CL_SUCCESS ||
      b <= a)
    return 0;
  return (double)(b - a) * 1e-9;
}

/* Times a probe kernel: warm-up, then runs launches each waited for; median of the kernel
 * times from profiling events (wall clock where events have no times). */
static clippo_status probe_time(const bench_suite *s, probe_launch *p, timing *t,
                                clippo_error *err) {
  memset(t, 0, sizeof *t);
  TRY(probe_call(p, err));
  TRY(clippo_rt_finish(p->rt, err));
  int runs = s->o.runs < 3 ? 3 : s->o.runs;
  double wall[64], dev[64];
  if (runs > 64) runs = 64;
  int nd = 0;
  for (int r = 0; r < runs; r++) {
    double t0 = clippo_bench_now();
    TRY(probe_call(p, err));
    TRY(clippo_rt_finish(p->rt, err));
    wall[r] = clippo_bench_now() - t0;
    double d = probe_kernel_s(p);
    if (d > 0) dev[nd++] = d;
  }
  t->runs = runs;
  t->median_s = bench_median(wall, runs);
  t->min_s = wall[0];
  t->device_s = nd == runs ? bench_plausible(bench_median(dev, nd), t->median_s) : 0;
  return CLIPPO_OK;
}

/* One FMA-throughput configuration. */
typedef struct fma_cfg {
  int vw, chains;
  size_t local;
} fma_cfg;

static clippo_status probe_fma(bench_suite *s, const fma_cfg *c, clippo_error *err) {
  clippo_rt *rt = s->rt;
  int cpu = (rt->info.type & CL_DEVICE_TYPE_CPU) != 0;
  size_t cus = rt->info.compute_units ? rt->info.compute_units : 1;
  size_t local = c->local;
  if (rt->info.max_work_group && local > rt->info.max_work_group) local = rt->info.max_work_group;
  size_t global = cpu ? cus * 16 * local : cus * 2048;
  global = (global + local - 1) / local * local;
  char opts[96], shape[96], note[160];
  snprintf(opts, sizeof opts, "-DVW=%d -DCHAINS=%d%s -w", c->vw, c->chains,
           s->use_fma ? " -DUSE_FMA" : "");
  snprintf(shape, sizeof shape, "%s float%d x %d chains, %zu work-items of %zu",
           s->use_fma ? "fma" : "x*a+b", c->vw, c->chains, global, local);
  clippo_error e;
  probe_launch p = {rt, NULL, global, local, NULL};
  clippo_tensor out;
  memset(&out, 0, sizeof out);
  int64_t sh[1] = {(int64_t)global};
  clippo_status st = clippo_rt_kernel(rt, "probe.cl", "probe_fma", opts, &p.k, &e);
  if (!st) st = clippo_tensor_alloc(rt, &out, CLIPPO_F32, 1, sh, &e);
  float a = 0.999f, b = 0.001f;
  cl_uint iters = 64;
  timing t;
  memset(&t, 0, sizeof t);
  if (!st) {
    cl_int rc = clSetKernelArg(p.k, 0, sizeof out.mem, &out.mem);
    if (rc == CL_SUCCESS) rc = clSetKernelArg(p.k, 1, sizeof a, &a);
    if (rc == CL_SUCCESS) rc = clSetKernelArg(p.k, 2, sizeof b, &b);
    if (rc == CL_SUCCESS) rc = clSetKernelArg(p.k, 3, sizeof iters, &iters);
    st = clippo_cl_check(rt, rc, "clSetKernelArg (probe_fma)", &e);
  }
  /* Compile (some drivers do it at the first launch), then calibrate the trip count so that
   * one launch takes ~50 ms (quick: ~20 ms). */
  if (!st) st = probe_call(&p, &e);
  if (!st) st = clippo_rt_finish(rt, &e);
  double target = s->o.quick ? 0.02 : 0.05;
  for (int cal = 0; cal < 8 && !st; cal++) {
    double t0 = clippo_bench_now();
    st = probe_call(&p, &e);
    if (!st) st = clippo_rt_finish(rt, &e);
    double wall = clippo_bench_now() - t0, dt = bench_plausible(probe_kernel_s(&p), wall);
    if (dt <= 0) dt = wall; /* events without usable times: the wall clock */
    if (st || dt > target * 0.5) break;
    double scale = dt > 0 ? target / dt : 64;
    if (scale > 64) scale = 64;
    double ni = (double)iters * scale;
    if (ni > 1 << 24) ni = 1 << 24;
    iters = (cl_uint)ni;
    st = clippo_cl_check(rt, clSetKernelArg(p.k, 3, sizeof iters, &iters), "clSetKernelArg", &e);
  }
  if (!st) st = probe_time(s, &p, &t, &e);
  if (p.ev) clReleaseEvent(p.ev);
  clippo_tensor_release(rt, &out);
  if (st) {
    RECORD_FAILURE(s, "probe", "fma", "clippo", shape, &e, err);
    return CLIPPO_OK;
  }
  clippo_bench_row row;
  bench_row_init(&row, "probe", "fma", "clippo");
  snprintf(row.shape, sizeof row.shape, "%s", shape);
  bench_row_timing(&row, &t);
  row.flops = (double)global * iters * 4.0 * c->chains * c->vw * 2.0;
  double secs = t.device_s > 0 ? t.device_s : t.median_s;
  row.gflops = secs > 0 ? row.flops / secs * 1e-9 : 0;
  snprintf(note, sizeof note, "%u trips; kernel time from profiling events%s", iters,
           t.device_s > 0 ? "" : " unavailable: wall clock");
  snprintf(row.note, sizeof row.note, "%s", note);
  if (row.gflops > s->r->peak_gflops) {
    s->r->peak_gflops = row.gflops;
    snprintf(s->fma_best, sizeof s->fma_best, "%s float%d x %d chains, local %zu",
             s->use_fma ? "fma" : "x*a+b", c->vw, c->chains, local);
  }
  return bench_emit(s, &row, err);
}

/* One memory access layout of the bandwidth probe. */
typedef struct bw_layout {
  int chunked;   /* 1: each work-item streams one contiguous chunk; 0: grid stride */
  unsigned bw;   /* floats per vector */
  size_t local;  /* work-group size */
  size_t per_cu; /* work-items per compute unit; 0: one vector per work-item */
} bw_layout;

/* Copy and triad bandwidth over the arrays a, b, c of `floats` floats with one layout. */
static clippo_status probe_bw_layout(bench_suite *s, const bw_layout *L, clippo_tensor *a,
                                     clippo_tensor *b, clippo_tensor *c, size_t floats,
                                     clippo_error *err) {
  clippo_rt *rt = s->rt;
  size_t cus = rt->info.compute_units ? rt->info.compute_units : 1;
  size_t local = L->local;
  if (rt->info.max_work_group && local > rt->info.max_work_group) local = rt->info.max_work_group;
  size_t nvec = floats / L->bw;
  size_t global = L->per_cu ? cus * L->per_cu : nvec; /* 0: one vector per work-item */
  global = (global + local - 1) / local * local;
  if (global > nvec) global = nvec / local * local;
  if (global == 0) global = local;
  size_t per = nvec / global;
  nvec = per * global;
  char opts[64], shape[96];
  snprintf(opts, sizeof opts, "-DBW=%u -w", L->bw);
  snprintf(shape, sizeof shape, "float%u %s, %zu MiB per array, %zu work-items of %zu", L->bw,
           L->chunked ? "chunks"
           : per > 1  ? "grid stride"
                      : "one per work-item",
           nvec * L->bw * 4 >> 20, global, local);
  cl_uint uper = (cl_uint)per, s0 = L->chunked ? (cl_uint)per : 1u;
  cl_uint s1 = L->chunked ? 1u : (cl_uint)global;
  clippo_error e;
  for (int which = 0; which < 2; which++) {
    const char *name = which ? "triad" : "copy";
    probe_launch p = {rt, NULL, global, local, NULL};
    timing t;
    clippo_status ks =
        clippo_rt_kernel(rt, "probe.cl", which ? "probe_triad" : "probe_copy", opts, &p.k, &e);
    if (!ks) {
      cl_int rc = CL_SUCCESS;
      cl_uint i = 0;
      float sc = 3.0f;
      if (which) {
        rc |= clSetKernelArg(p.k, i++, sizeof a->mem, &a->mem);
        rc |= clSetKernelArg(p.k, i++, sizeof b->mem, &b->mem);
        rc |= clSetKernelArg(p.k, i++, sizeof c->mem, &c->mem);
        rc |= clSetKernelArg(p.k, i++, sizeof sc, &sc);
      } else {
        rc |= clSetKernelArg(p.k, i++, sizeof b->mem, &b->mem);
        rc |= clSetKernelArg(p.k, i++, sizeof a->mem, &a->mem);
      }
      rc |= clSetKernelArg(p.k, i++, sizeof uper, &uper);
      rc |= clSetKernelArg(p.k, i++, sizeof s0, &s0);
      rc |= clSetKernelArg(p.k, i++, sizeof s1, &s1);
      ks =
          clippo_cl_check(rt, rc ? CL_INVALID_ARG_VALUE : CL_SUCCESS, "clSetKernelArg (probe)", &e);
    }
    if (!ks) ks = probe_time(s, &p, &t, &e);
    if (p.ev) clReleaseEvent(p.ev);
    if (ks) {
      clippo_rt_finish(rt, NULL);
      RECORD_FAILURE(s, "probe", name, "clippo", shape, &e, err);
      continue;
    }
    clippo_bench_row row;
    bench_row_init(&row, "probe", name, "clippo");
    snprintf(row.shape, sizeof row.shape, "%s", shape);
    bench_row_timing(&row, &t);
    row.bytes = (double)nvec * L->bw * 4.0 * (which ? 3.0 : 2.0);
    double secs = t.device_s > 0 ? t.device_s : t.median_s;
    row.gbps = secs > 0 ? row.bytes / secs * 1e-9 : 0;
    snprintf(row.note, sizeof row.note, "%s; %s", which ? "a = b + s * c" : "dst = src",
             t.device_s > 0 ? "kernel time from profiling events" : "wall clock");
    if (row.gbps > s->r->peak_gbps) {
      s->r->peak_gbps = row.gbps;
      snprintf(s->bw_best, sizeof s->bw_best, "%s float%u %s", name, L->bw,
               L->chunked ? "chunks"
               : per > 1  ? "grid stride"
                          : "one per work-item");
    }
    TRY(bench_emit(s, &row, err));
  }
  return CLIPPO_OK;
}

/* Copy and triad bandwidth: arrays well past the last-level caches, a few layouts. */
static clippo_status probe_bandwidth(bench_suite *s, clippo_error *err) {
  clippo_rt *rt = s->rt;
  int cpu = (rt->info.type & CL_DEVICE_TYPE_CPU) != 0;
  /* 128 MiB per array (quick: 64 MiB), less when the device cannot hold three. */
  size_t floats = (s->o.quick ? 16u : 32u) << 20;
  while (floats > (1u << 20) && ((unsigned long long)floats * 4 > rt->info.max_alloc ||
                                 (unsigned long long)floats * 4 * 4 > rt->info.global_mem))
    floats /= 2;
  clippo_tensor a, b, c;
  memset(&a, 0, sizeof a);
  memset(&b, 0, sizeof b);
  memset(&c, 0, sizeof c);
  int64_t sh[1] = {(int64_t)floats};
  clippo_error e;
  clippo_status st = clippo_tensor_alloc(rt, &a, CLIPPO_F32, 1, sh, &e);
  if (!st) st = clippo_tensor_alloc(rt, &b, CLIPPO_F32, 1, sh, &e);
  if (!st) st = clippo_tensor_alloc(rt, &c, CLIPPO_F32, 1, sh, &e);
  if (!st) st = clippo_tensor_fill(rt, &a, 0.0f, &e);
  if (!st) st = clippo_tensor_fill(rt, &b, 1.0f, &e);
  if (!st) st = clippo_tensor_fill(rt, &c, 2.0f, &e);
  if (!st) st = clippo_rt_finish(rt, &e);
  /* CPUs: contiguous chunks, one work-item per group (PoCL's style), and one vector per
   * work-item in groups of 64 (implementations that run work-items as SIMD lanes, such as
   * llvmpipe); GPUs: a grid stride and one vector per work-item. */
  static const bw_layout cpu_layouts[] = {{1, 16, 1, 4}, {0, 4, 64, 0}};
  static const bw_layout gpu_layouts[] = {{0, 4, 64, 4096}, {0, 4, 64, 0}};
  const bw_layout *lay = cpu ? cpu_layouts : gpu_layouts;
  size_t nl = 2;
  clippo_status ret = CLIPPO_OK;
  if (st) {
    clippo_rt_finish(rt, NULL);
    if (e.status == CLIPPO_E_NOMEM) {
      *err = e;
      ret = CLIPPO_E_NOMEM;
    } else {
      ret = bench_emit_status(s, "probe", "copy", "clippo", "", "failed", e.msg, err);
    }
  }
  for (size_t i = 0; i < nl && !st && !ret; i++)
    ret = probe_bw_layout(s, &lay[i], &a, &b, &c, floats, err);
  clippo_tensor_release(rt, &a);
  clippo_tensor_release(rt, &b);
  clippo_tensor_release(rt, &c);
  return ret;
}

clippo_status bench_run_probe(bench_suite *s, clippo_error *err) {
  int cpu = (s->rt->info.type & CL_DEVICE_TYPE_CPU) != 0;
  /* fma() where the device reports IEEE fused multiply-add (PoCL does not define FP_FAST_FMAF
   * but its fma is the hardware instruction; Mesa's llvmpipe emulates it, very slowly). */
  cl_device_fp_config fp = 0;
  if (clGetDeviceInfo(s->rt->device, CL_DEVICE_SINGLE_FP_CONFIG, sizeof fp, &fp, NULL) !=
      CL_SUCCESS)
    fp = 0;
  s->use_fma = (fp & CL_FP_FMA) != 0;
  static const fma_cfg cpu_fma[] = {{8, 8, 1}, {16, 8, 1}, {16, 6, 1}};
  static const fma_cfg cpu_mad[] = {{1, 8, 8}, {8, 8, 1}, {4, 8, 8}};
  static const fma_cfg gpu_cfgs[] = {{1, 8, 64}, {4, 8, 64}, {2, 16, 64}};
  const fma_cfg *cfgs = !cpu ? gpu_cfgs : s->use_fma ? cpu_fma : cpu_mad;
  size_t n = 3;
  if (s->o.quick) n = 2;
  for (size_t i = 0; i < n; i++) TRY(probe_fma(s, &cfgs[i], err));
  TRY(probe_bandwidth(s, err));
  snprintf(s->r->peak_note, sizeof s->r->peak_note, "%s; %s", s->fma_best[0] ? s->fma_best : "-",
           s->bw_best[0] ? s->bw_best : "-");
  return CLIPPO_OK;
}
