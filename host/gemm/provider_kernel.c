/* GEMM provider: the project's kernel (kernels/gemm.cl) for CPU-class OpenCL devices. op(A) and
 * op(B) are first packed into contiguous, zero-padded panels (which takes care of transposes,
 * leading dimensions and partial tiles), then each work-item computes a register tile of C. */
#include "gemm_internal.h"

#include <stdio.h>
#include <string.h>

/* Candidates tried by the tuner, in vectors of the device's native float width (VW below): the
 * first is the CPU default. TM x NV accumulator vectors stay within 16 registers. */
static const clippo_gemm_kernel_cfg candidates[] = {
    {4, 0, 3, 8, 1, 0}, {6, 0, 2, 8, 1, 0}, {4, 0, 2, 8, 1, 0},
    {6, 0, 2, 4, 2, 0}, {4, 0, 3, 4, 2, 0},
};
#define NCAND (sizeof candidates / sizeof candidates[0])

const clippo_gemm_kernel_cfg *gemm_kernel_candidates(const clippo_rt *rt,
                                                     clippo_gemm_kernel_cfg *out, size_t *count) {
  int vw = gemm_native_width(rt);
  for (size_t i = 0; i < NCAND; i++) {
    out[i] = candidates[i];
    out[i].vw = vw;
    out[i].kc = GEMM_KERNEL_DEFAULT_KC;
  }
  *count = NCAND;
  return out;
}

clippo_gemm_kernel_cfg gemm_kernel_default_cfg(const clippo_rt *rt, int trans_a) {
  (void)trans_a;
  if (rt->info.type & CL_DEVICE_TYPE_CPU) {
    clippo_gemm_kernel_cfg c = candidates[0];
    c.vw = gemm_native_width(rt);
    c.kc = GEMM_KERNEL_DEFAULT_KC;
    return c;
  }
  /* GPUs and others: many small work-items. */
  clippo_gemm_kernel_cfg g = {4, 4, 1, 16, 8, GEMM_KERNEL_DEFAULT_KC};
  return g;
}

int gemm_kernel_cfg_complete(const clippo_rt *rt, int trans_a, clippo_gemm_kernel_cfg *cfg) {
  clippo_gemm_kernel_cfg d = gemm_kernel_default_cfg(rt, trans_a);
  if (cfg->tm == 0 && cfg->vw == 0 && cfg->nv == 0) {
    cfg->tm = d.tm;
    cfg->vw = d.vw;
    cfg->nv = d.nv;
  }
  if (cfg->lx == 0 || cfg->ly == 0) {
    cfg->lx = d.lx;
    cfg->ly = d.ly;
  }
  if (cfg->kc == 0) cfg->kc = d.kc;
  int vw_ok = cfg->vw == 1 || cfg->vw == 2 || cfg->vw == 4 || cfg->vw == 8 || cfg->vw == 16;
  return vw_ok && cfg->tm >= 1 && cfg->tm <= 16 && cfg->nv >= 1 && cfg->nv <= 8 && cfg->lx >= 1 &&
         cfg->ly >= 1 && cfg->lx * cfg->ly <= 1024 && cfg->kc >= 1;
}

void clippo_gemm_kernel_cfg_format(const clippo_gemm_kernel_cfg *cfg, char *out, size_t size) {
  snprintf(out, size, "%dx%dx%d/%dx%d/%d", cfg->tm, cfg->vw, cfg->nv, cfg->lx, cfg->ly, cfg->kc);
}

clippo_status clippo_gemm_kernel_cfg_parse(const char *text, clippo_gemm_kernel_cfg *cfg,
                                           clippo_error *err) {
  clippo_gemm_kernel_cfg c;
  char tail;
  int n = sscanf(text, "%dx%dx%d/%dx%d/%d%c", &c.tm, &c.vw, &c.nv, &c.lx, &c.ly, &c.kc, &tail);
  const char *slash = strchr(text, '/');
  if (n == 5 && slash && !strchr(slash + 1, '/'))
    c.kc = GEMM_KERNEL_DEFAULT_KC;
  else if (n != 6)
    c.tm = 0; /* malformed */
  if (c.tm < 1 || c.tm > 16 || c.nv < 1 || c.nv > 8 || c.lx < 1 || c.ly < 1 || c.lx * c.ly > 1024 ||
      c.kc < 1 || !(c.vw == 1 || c.vw == 2 || c.vw == 4 || c.vw == 8 || c.vw == 16))
    return clippo_fail(err, CLIPPO_E_ARG,
                       "'%s' is not a gemm kernel configuration TMxVWxNV/LXxLY[/KC] (e.g. "
                       "4x8x3/8x1/512; VW 1, 2, 4, 8 or 16, TM 1..16, NV 1..8, LX*LY <= 1024)",
                       text);
  *cfg = c;
  return CLIPPO_OK;
}

static size_t round_up(size_t x, size_t to) { return (x + to - 1) / to * to; }

#define SET_ARG(k, i, v)                                                                           \
  do {                                                                                             \
    if (!rc) rc = clSetKernelArg(k, i, sizeof(v), &(v));                                           \
  } while (0)

/* Packs one operand into panels of `width` (rows of A or columns of B) on the queue. */
static clippo_status pack(clippo_rt *rt, cl_kernel kp, const clippo_tensor *src, size_t ld,
                          size_t stride, int trans, cl_mem dst, size_t dst_stride, size_t len,
                          size_t k, size_t panels, size_t nb, clippo_error *err) {
  cl_int rc = CL_SUCCESS;
  cl_ulong off = src->offset, st = stride, ds = dst_stride;
  cl_uint uld = (cl_uint)ld, utr = (cl_uint)trans, ulen = (cl_uint)len, uk = (cl_uint)k;
  SET_ARG(kp, 0, src->mem);
  SET_ARG(kp, 1, off);
  SET_ARG(kp, 2, uld);
  SET_ARG(kp, 3, st);
  SET_ARG(kp, 4, utr);
  SET_ARG(kp, 5, dst);
  SET_ARG(kp, 6, ds);
  SET_ARG(kp, 7, ulen);
  SET_ARG(kp, 8, uk);
  clippo_status s = clippo_cl_check(rt, rc, "clSetKernelArg (gemm pack)", err);
  if (s) return s;
  size_t lp = 16; /* one local size: each costs a code generation on PoCL */
  size_t global[3] = {round_up(k, lp), panels, nb}, local[3] = {lp, 1, 1};
  return clippo_rt_launch(rt, kp, 3, global, local, err);
}

static clippo_status kernel_run(clippo_rt *rt, const gemm_call *g,
                                const clippo_gemm_kernel_cfg *cfg, size_t *k_done,
                                clippo_error *err) {
  *k_done = 0;
  const size_t umax = 2147483647;
  if (g->m > umax || g->n > umax || g->k > umax || g->lda > umax || g->ldb > umax || g->ldc > umax)
    return clippo_fail(err, CLIPPO_E_UNSUPPORTED,
                       "gemm kernel: sizes or leading dimensions above 2^31-1 (%zux%zux%zu)", g->m,
                       g->n, g->k);
  const size_t tm = (size_t)cfg->tm, tn = (size_t)cfg->vw * (size_t)cfg->nv;
  char opts[128];
  snprintf(opts, sizeof opts, "-DTM=%d -DVW=%d -DNV=%d", cfg->tm, cfg->vw, cfg->nv);
  cl_kernel kpa, kpb, ktile;
  clippo_status st = clippo_rt_kernel(rt, "gemm.cl", "gemm_pack_a", opts, &kpa, err);
  if (!st) st = clippo_rt_kernel(rt, "gemm.cl", "gemm_pack_b", opts, &kpb, err);
  if (!st) st = clippo_rt_kernel(rt, "gemm.cl", "gemm_tile", opts, &ktile, err);
  if (st) return st;

  /* Packed op(A) and op(B): per batch entry ceil(m/TM) x k x TM and ceil(n/TN) x k x TN floats;
   * one copy when the operand is shared by the batch (stride 0). */
  size_t pa = (g->m + tm - 1) / tm, pb = (g->n + tn - 1) / tn;
  size_t per_a = pa * tm * g->k, per_b = pb * tn * g->k;
  size_t na = g->sa == 0 ? 1 : g->batch, nb = g->sb == 0 ? 1 : g->batch;
  const size_t lim = (size_t)-1 / 8;
  if ((per_a && na > lim / per_a) || (per_b && nb > lim / per_b))
    return clippo_fail(err, CLIPPO_E_UNSUPPORTED, "gemm kernel: packed operands too large");
  size_t bytes_a = na * per_a * sizeof(float), bytes_b = nb * per_b * sizeof(float);
  if (bytes_a > rt->info.max_alloc || bytes_b > rt->info.max_alloc)
    return clippo_fail(err, CLIPPO_E_UNSUPPORTED,
                       "gemm kernel: the packed copies of A and B (%zu and %zu bytes) exceed the "
                       "largest allocation of device '%s' (%llu bytes)",
                       bytes_a, bytes_b, rt->info.name, rt->info.max_alloc);
  cl_int rc = CL_SUCCESS;
  cl_mem packed_a = clCreateBuffer(rt->ctx, CL_MEM_READ_WRITE, bytes_a ? bytes_a : 4, NULL, &rc);
  if (rc != CL_SUCCESS)
    return clippo_cl_check(rt, rc, "clCreateBuffer (gemm kernel: packed A)", err);
  cl_mem packed_b = clCreateBuffer(rt->ctx, CL_MEM_READ_WRITE, bytes_b ? bytes_b : 4, NULL, &rc);
  if (rc != CL_SUCCESS) {
    clReleaseMemObject(packed_a);
    return clippo_cl_check(rt, rc, "clCreateBuffer (gemm kernel: packed B)", err);
  }
  size_t sap = g->sa == 0 ? 0 : per_a, sbp = g->sb == 0 ? 0 : per_b;
  if (g->k > 0) {
    st = pack(rt, kpa, g->a, g->lda, g->sa, g->ta, packed_a, sap, g->m, g->k, pa, na, err);
    if (!st) st = pack(rt, kpb, g->b, g->ldb, g->sb, g->tb, packed_b, sbp, g->n, g->k, pb, nb, err);
  }
  /* Deep products run as slices of depth kc so that a work-group's panels stay in cache. */
  size_t kc = g->k, slices = 1, maxd = (size_t)(cfg->kc > 0 ? cfg->kc : GEMM_KERNEL_DEFAULT_KC);
  if (g->k > maxd) {
    slices = (g->k + maxd - 1) / maxd;
    kc = (g->k + slices - 1) / slices;
  }
  size_t lx = (size_t)cfg->lx, ly = (size_t)cfg->ly, wg = 0;
  if (!st &&
      clGetKernelWorkGroupInfo(ktile, rt->device, CL_KERNEL_WORK_GROUP_SIZE, sizeof wg, &wg,
                               NULL) == CL_SUCCESS &&
      wg > 0) {
    while (lx * ly > wg && ly > 1) ly /= 2;
    while (lx * ly > wg && lx > 1) lx /= 2;
  }
  /* Slice s adds its products into C with beta 1 after the first: when one fails, the slices
   * before it are in C (*k_done) and a fallback must only add the rest. */
  for (size_t s = 0; s < slices && !st; s++) {
    size_t k0 = s * kc, kn = g->k - k0 < kc ? g->k - k0 : kc;
    if ((st = gemm_injected_failure(rt, CLIPPO_GEMM_KERNEL, (int)s, err))) {
      *k_done = k0;
      break;
    }
    cl_ulong usap = sap, usbp = sbp, c_off = g->c->offset, sc = g->sc;
    cl_uint ldc = (cl_uint)g->ldc, m = (cl_uint)g->m, n = (cl_uint)g->n, kp = (cl_uint)g->k,
            uk0 = (cl_uint)k0, ukc = (cl_uint)kn;
    cl_float alpha = g->alpha, beta = s == 0 ? g->beta : 1.0f;
    SET_ARG(ktile, 0, packed_a);
    SET_ARG(ktile, 1, usap);
    SET_ARG(ktile, 2, packed_b);
    SET_ARG(ktile, 3, usbp);
    SET_ARG(ktile, 4, g->c->mem);
    SET_ARG(ktile, 5, c_off);
    SET_ARG(ktile, 6, ldc);
    SET_ARG(ktile, 7, sc);
    SET_ARG(ktile, 8, m);
    SET_ARG(ktile, 9, n);
    SET_ARG(ktile, 10, kp);
    SET_ARG(ktile, 11, uk0);
    SET_ARG(ktile, 12, ukc);
    SET_ARG(ktile, 13, alpha);
    SET_ARG(ktile, 14, beta);
    st = clippo_cl_check(rt, rc, "clSetKernelArg (gemm_tile)", err);
    size_t global[3] = {round_up(pb, lx), round_up(pa, ly), g->batch};
    size_t local[3] = {lx, ly, 1};
    if (!st) st = clippo_rt_launch(rt, ktile, 3, global, local, err);
    if (st) *k_done = k0;
  }
  /* Released now, freed once the queued kernels are done with them. */
  clReleaseMemObject(packed_a);
  clReleaseMemObject(packed_b);
  return st;
}

/* kernels/gemm.cl needs nothing but OpenCL 1.2. */
static int kernel_available(const clippo_rt *rt) {
  (void)rt;
  return 1;
}

const gemm_provider gemm_provider_kernel = {CLIPPO_GEMM_KERNEL, "kernel", kernel_available,
                                            kernel_run,         NULL,     NULL};
