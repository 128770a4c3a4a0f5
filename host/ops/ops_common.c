/* Helpers shared by the op launchers: device class, kernels, shape checks, arguments, launches. */
#include "clippo/ops.h"
#include "ops/ops_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

ops_class ops_class_of(const clippo_rt *rt) {
  ops_class c;
  int group = (rt->info.type & CL_DEVICE_TYPE_CPU) == 0;
  if (rt->settings.ops_variant == CLIPPO_OPS_ROW) group = 0;
  if (rt->settings.ops_variant == CLIPPO_OPS_GROUP) group = 1;
  c.group = group;
  if (rt->info.type & CL_DEVICE_TYPE_CPU) {
    /* Wide explicit vectors; small groups so that every core gets work on PoCL. */
    c.vec = 16;
    c.local_rows = 8;
    c.local_elems = 64;
  } else {
    c.vec = 4;
    c.local_rows = 64;
    c.local_elems = 256;
  }
  size_t lg = 128;
  while (lg > 1 && rt->info.max_work_group && lg > rt->info.max_work_group) lg /= 2;
  c.local_group = lg;
  c.att_rows = rt->info.native_float_vec >= 16 ? 8 : rt->info.native_float_vec >= 4 ? 4 : 1;
  return c;
}

/* The options of class c's kernels. -w: PoCL prints ABI notes for float16 arguments of inlined
 * helpers on AVX2 targets. */
static void class_options(const ops_class *c, char *out, size_t size) {
  snprintf(out, size, "-DVEC=%u -w", c->vec);
}

void clippo_ops_build_options(const clippo_rt *rt, char *out, size_t size) {
  ops_class c = ops_class_of(rt);
  class_options(&c, out, size);
}

clippo_status ops_kernel(clippo_rt *rt, const ops_class *c, const char *file, const char *name,
                         cl_kernel *k, clippo_error *err) {
  return ops_kernel_with(rt, c, file, name, NULL, k, err);
}

clippo_status ops_kernel_with(clippo_rt *rt, const ops_class *c, const char *file, const char *name,
                              const char *defines, cl_kernel *k, clippo_error *err) {
  char opts[64], all[192];
  class_options(c, opts, sizeof opts);
  if (defines && defines[0]) {
    snprintf(all, sizeof all, "%s %s", opts, defines);
    return clippo_rt_kernel(rt, file, name, all, k, err);
  }
  return clippo_rt_kernel(rt, file, name, opts, k, err);
}

clippo_status ops_check_dtype(const clippo_tensor *t, clippo_dtype dt, const char *op,
                              const char *what, clippo_error *err) {
  return clippo_tensor_check(t, dt, op, what, err);
}

clippo_status ops_check_f32(const clippo_tensor *t, const char *op, const char *what,
                            clippo_error *err) {
  return ops_check_dtype(t, CLIPPO_F32, op, what, err);
}

clippo_status ops_check_dtype_count(const clippo_tensor *t, clippo_dtype dt, size_t count,
                                    const char *op, const char *what, clippo_error *err) {
  return clippo_tensor_check_count(t, dt, count, op, what, err);
}

clippo_status ops_check_count(const clippo_tensor *t, size_t count, const char *op,
                              const char *what, clippo_error *err) {
  return ops_check_dtype_count(t, CLIPPO_F32, count, op, what, err);
}

clippo_status ops_check_rows(const clippo_tensor *t, size_t cols, size_t *rows, size_t *cols_out,
                             const char *op, const char *what, clippo_error *err) {
  clippo_status st = ops_check_f32(t, op, what, err);
  if (st) return st;
  char buf[128];
  if (t->ndim < 1 || t->shape[t->ndim - 1] <= 0)
    return clippo_fail(err, CLIPPO_E_SHAPE, "%s: tensor '%s' has shape %s, expected rows of %zu",
                       op, what, clippo_shape_str(t->shape, t->ndim, buf, sizeof buf), cols);
  size_t last = (size_t)t->shape[t->ndim - 1];
  if (cols && last != cols)
    return clippo_fail(err, CLIPPO_E_SHAPE,
                       "%s: tensor '%s' has shape %s, expected a last dimension of %zu", op, what,
                       clippo_shape_str(t->shape, t->ndim, buf, sizeof buf), cols);
  if (rows) *rows = clippo_tensor_count(t) / last;
  if (cols_out) *cols_out = last;
  return CLIPPO_OK;
}

int ops_same_or_disjoint(const clippo_tensor *a, const clippo_tensor *b) {
  if (a->mem != b->mem) return 1;
  if (a->offset == b->offset) return 1;
  size_t ea = a->offset + clippo_tensor_count(a), eb = b->offset + clippo_tensor_count(b);
  return ea <= b->offset || eb <= a->offset;
}

int ops_disjoint(const clippo_tensor *a, const clippo_tensor *b) {
  if (a->mem != b->mem) return 1;
  size_t ea = a->offset + clippo_tensor_count(a), eb = b->offset + clippo_tensor_count(b);
  return ea <= b->offset || eb <= a->offset;
}

void ops_args_begin(ops_args *a, cl_kernel k) {
  a->k = k;
  a->next = 0;
  a->rc = CL_SUCCESS;
  a->failed_at = 0;
}

/* Sets the next argument and keeps a copy for a graph being recorded (clippo/graph.h). */
static void ops_arg_set(ops_args *a, clippo_graph_arg_kind kind, size_t size, const void *value) {
  cl_int rc = clSetKernelArg(a->k, a->next, size, value);
  if (rc != CL_SUCCESS && a->rc == CL_SUCCESS) {
    a->rc = rc;
    a->failed_at = a->next;
  }
  if (a->next < CLIPPO_GRAPH_MAX_ARGS) {
    clippo_graph_arg *r = &a->rec[a->next];
    r->kind = kind;
    r->size = size;
    if (value && size <= sizeof r->value) memcpy(r->value, value, size);
  }
  a->next++;
}

void ops_arg_tensor(ops_args *a, const clippo_tensor *t) {
  cl_uint off = (cl_uint)t->offset;
  ops_arg_set(a, CLIPPO_GRAPH_ARG_MEM, sizeof(cl_mem), &t->mem);
  ops_arg_set(a, CLIPPO_GRAPH_ARG_OFFSET, sizeof off, &off);
}

void ops_arg_u32(ops_args *a, size_t v) {
  cl_uint u = (cl_uint)v;
  ops_arg_set(a, CLIPPO_GRAPH_ARG_BYTES, sizeof u, &u);
}

void ops_arg_f32(ops_args *a, float v) {
  cl_float f = v;
  ops_arg_set(a, CLIPPO_GRAPH_ARG_BYTES, sizeof f, &f);
}

void ops_arg_local_floats(ops_args *a, size_t n) {
  ops_arg_set(a, CLIPPO_GRAPH_ARG_LOCAL, n * sizeof(cl_float), NULL);
}

clippo_status ops_args_end(const clippo_rt *rt, ops_args *a, const char *kname, clippo_error *err) {
  if (a->rc != CL_SUCCESS)
    return clippo_fail(err, CLIPPO_E_DEVICE, "clSetKernelArg(%s, arg %u): %s on %s", kname,
                       a->failed_at, clippo_cl_error_name(a->rc), rt->info.name);
  if (clippo_graph_recording(rt)) {
    clippo_status st = clippo_graph_note_args(rt, a->k, a->rec, a->next, err);
    if (st) return clippo_error_prefix(err, "%s", kname);
  }
  return CLIPPO_OK;
}

/* The local size actually usable for k: at most its CL_KERNEL_WORK_GROUP_SIZE (power of two). */
size_t ops_fit_local(clippo_rt *rt, cl_kernel k, size_t local) {
  size_t kmax = 0;
  if (clGetKernelWorkGroupInfo(k, rt->device, CL_KERNEL_WORK_GROUP_SIZE, sizeof kmax, &kmax,
                               NULL) == CL_SUCCESS &&
      kmax > 0) {
    while (local > kmax && local > 1) local /= 2;
  }
  return local ? local : 1;
}

clippo_status ops_launch_1d(clippo_rt *rt, cl_kernel k, size_t items, size_t local,
                            clippo_error *err) {
  if (items == 0) return CLIPPO_OK;
  local = ops_fit_local(rt, k, local);
  size_t global = (items + local - 1) / local * local;
  return clippo_rt_launch(rt, k, 1, &global, &local, err);
}

clippo_status ops_launch_rows(clippo_rt *rt, const ops_class *c, cl_kernel k, size_t rows,
                              clippo_error *err) {
  if (c->group) return ops_launch_groups(rt, k, rows, c->local_group, err);
  return ops_launch_1d(rt, k, rows, c->local_rows, err);
}

clippo_status ops_launch_grid(clippo_rt *rt, cl_kernel k, const size_t size[3], size_t local,
                              clippo_error *err) {
  if (size[0] == 0 || size[1] == 0 || size[2] == 0) return CLIPPO_OK;
  size_t l[3] = {ops_fit_local(rt, k, local), 1, 1};
  while (l[0] > 1 && l[0] / 2 >= size[0]) l[0] /= 2; /* short rows: narrower groups */
  size_t global[3] = {(size[0] + l[0] - 1) / l[0] * l[0], size[1], size[2]};
  return clippo_rt_launch(rt, k, 3, global, l, err);
}

clippo_status ops_launch_groups(clippo_rt *rt, cl_kernel k, size_t groups, size_t local,
                                clippo_error *err) {
  if (groups == 0) return CLIPPO_OK;
  local = ops_fit_local(rt, k, local);
  size_t global = groups * local;
  return clippo_rt_launch(rt, k, 1, &global, &local, err);
}

/* Kernel `name` of `file` with args set in order (clippo_op_launch, clippo_op_launch_grid). */
static clippo_status op_kernel_args(clippo_rt *rt, const ops_class *c, const char *file,
                                    const char *name, const clippo_op_arg *args, size_t nargs,
                                    cl_kernel *out, clippo_error *err) {
  cl_kernel k;
  clippo_status st = ops_kernel(rt, c, file, name, &k, err);
  if (st) return st;
  ops_args a;
  ops_args_begin(&a, k);
  for (size_t i = 0; i < nargs; i++) {
    switch (args[i].kind) {
    case CLIPPO_ARG_TENSOR:
      if (!args[i].t)
        return clippo_fail(err, CLIPPO_E_ARG, "%s: tensor 'tensor argument' is missing", name);
      if ((st = ops_check_dtype(args[i].t, args[i].t->dtype, name, "tensor argument", err)))
        return st;
      ops_arg_tensor(&a, args[i].t);
      break;
    case CLIPPO_ARG_U32: ops_arg_u32(&a, args[i].u); break;
    case CLIPPO_ARG_F32: ops_arg_f32(&a, args[i].f); break;
    default: return clippo_fail(err, CLIPPO_E_ARG, "%s: argument %zu of unknown kind", name, i);
    }
  }
  if ((st = ops_args_end(rt, &a, name, err))) return st;
  *out = k;
  return CLIPPO_OK;
}

clippo_status clippo_op_launch(clippo_rt *rt, const char *file, const char *name,
                               clippo_op_grouping grouping, size_t items, const clippo_op_arg *args,
                               size_t nargs, clippo_error *err) {
  ops_class c = ops_class_of(rt);
  cl_kernel k;
  clippo_status st = op_kernel_args(rt, &c, file, name, args, nargs, &k, err);
  if (st) return st;
  return ops_launch_1d(rt, k, items, grouping == CLIPPO_OP_ROWS ? c.local_rows : c.local_elems,
                       err);
}

clippo_status clippo_op_launch_grid(clippo_rt *rt, const char *file, const char *name,
                                    const size_t size[3], const clippo_op_arg *args, size_t nargs,
                                    clippo_error *err) {
  ops_class c = ops_class_of(rt);
  cl_kernel k;
  clippo_status st = op_kernel_args(rt, &c, file, name, args, nargs, &k, err);
  if (st) return st;
  return ops_launch_grid(rt, k, size, c.local_elems, err);
}
