/* The live device: context, queue, launches and error reporting. */
#include "internal.h"

#include "clippo/graph.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

double clippo_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

clippo_status clippo_cl_check(const clippo_rt *rt, cl_int rc, const char *call, clippo_error *err) {
  if (rc == CL_SUCCESS) return CLIPPO_OK;
  const char *dev = rt ? rt->info.name : "?";
  const char *hint = "";
  if (rc == CL_MEM_OBJECT_ALLOCATION_FAILURE || rc == CL_OUT_OF_RESOURCES ||
      rc == CL_OUT_OF_HOST_MEMORY)
    hint = " (the device may be out of memory: try a smaller --batch-size)";
  return clippo_fail(err, CLIPPO_E_DEVICE, "%s failed on device '%s': %s (%d)%s", call, dev,
                     clippo_cl_error_name(rc), (int)rc, hint);
}

clippo_status clippo_rt_create(clippo_rt **out, const char *spec, clippo_error *err) {
  *out = NULL;
  clippo_settings settings;
  clippo_status st = clippo_settings_from_env(&settings, err);
  if (st != CLIPPO_OK) return st;
  return clippo_rt_create_with(out, spec, &settings, err);
}

clippo_status clippo_rt_create_with(clippo_rt **out, const char *spec,
                                    const clippo_settings *settings, clippo_error *err) {
  *out = NULL;
  clippo_rt *rt = calloc(1, sizeof *rt);
  if (!rt) return clippo_fail(err, CLIPPO_E_NOMEM, "out of host memory creating the runtime");
  rt->settings = *settings;
  clippo_status st = clippo_device_pick(spec && *spec ? spec : settings->device, &rt->info, err);
  if (st == CLIPPO_OK) st = clippo_device_ids(&rt->info, &rt->platform, &rt->device, err);
  if (st != CLIPPO_OK) {
    free(rt);
    return st;
  }
  cl_int rc = CL_SUCCESS;
  cl_context_properties props[] = {CL_CONTEXT_PLATFORM, (cl_context_properties)rt->platform, 0};
  rt->ctx = clCreateContext(props, 1, &rt->device, NULL, NULL, &rc);
  if (rc == CL_SUCCESS)
    rt->queue = clCreateCommandQueue(rt->ctx, rt->device, CL_QUEUE_PROFILING_ENABLE, &rc);
  if (rc != CL_SUCCESS) {
    st = clippo_cl_check(rt, rc, rt->ctx ? "clCreateCommandQueue" : "clCreateContext", err);
    clippo_rt_destroy(rt);
    return st;
  }
  if (settings->precision != CLIPPO_PRECISION_FP32) {
    st = clippo_rt_set_precision(rt, settings->precision, err);
    if (st != CLIPPO_OK) {
      clippo_error_prefix(err, "CLIPPO_PRECISION=%s", clippo_precision_name(settings->precision));
      clippo_rt_destroy(rt);
      return st;
    }
  }
  snprintf(rt->cache_dir, sizeof rt->cache_dir, "%s", settings->cache_dir);
  snprintf(rt->precompiled_dir, sizeof rt->precompiled_dir, "%s", settings->precompiled_dir);
  *out = rt;
  return CLIPPO_OK;
}

static const char *const precision_names[] = {"fp32", "fp16", "fp16-emulated", "bf16", "int8"};
#define NPRECISIONS (sizeof precision_names / sizeof precision_names[0])

clippo_status clippo_precision_parse(const char *name, clippo_precision *out, clippo_error *err) {
  for (size_t i = 0; i < NPRECISIONS; i++)
    if (!strcmp(name, precision_names[i])) {
      *out = (clippo_precision)i;
      return CLIPPO_OK;
    }
  return clippo_fail(err, CLIPPO_E_ARG,
                     "unknown precision '%s' (fp32, fp16, fp16-emulated, bf16, int8)", name);
}

const char *clippo_precision_name(clippo_precision p) {
  return (size_t)p < NPRECISIONS ? precision_names[p] : "?";
}

clippo_status clippo_rt_set_precision(clippo_rt *rt, clippo_precision p, clippo_error *err) {
  if ((size_t)p >= NPRECISIONS)
    return clippo_fail(err, CLIPPO_E_ARG, "invalid precision %d", (int)p);
  if (p == CLIPPO_PRECISION_FP16 && !rt->info.fp16)
    return clippo_fail(err, CLIPPO_E_UNSUPPORTED,
                       "device '%s' (platform '%s') lacks cl_khr_fp16, so fp16 GEMMs cannot run "
                       "there (fp16-emulated measures fp16 storage's accuracy on any device)",
                       rt->info.name, rt->info.platform);
  if (p == CLIPPO_PRECISION_BF16 || p == CLIPPO_PRECISION_INT8) {
    /* oneDNN multiplies them on the host, in the mapped buffers of a CPU device sharing the
     * host's memory; whether the CPU has the instructions is the GEMM layer's to tell. */
    if (!(rt->info.type & CL_DEVICE_TYPE_CPU) || !rt->info.host_unified)
      return clippo_fail(err, CLIPPO_E_UNSUPPORTED,
                         "device '%s' (platform '%s') is not a CPU device sharing the host's "
                         "memory, so %s GEMMs (oneDNN on the host) cannot run there; they run on "
                         "CPU devices such as PoCL's",
                         rt->info.name, rt->info.platform, precision_names[p]);
#ifndef CLIPPO_HAVE_ONEDNN
    return clippo_fail(err, CLIPPO_E_UNSUPPORTED,
                       "%s GEMMs need oneDNN, which this build of clippo lacks (built without "
                       "libdnnl-dev or with CLIPPO_ONEDNN=OFF), so they cannot run on device '%s'",
                       precision_names[p], rt->info.name);
#endif
  }
  if (p != CLIPPO_PRECISION_FP32 && !rt->scratch) {
    rt->scratch = calloc(CLIPPO_RT_SCRATCH, sizeof *rt->scratch);
    if (!rt->scratch) return clippo_fail(err, CLIPPO_E_NOMEM, "out of host memory");
  }
  if (rt->queue) clFinish(rt->queue); /* products queued on the device's thread read it */
  rt->precision = p;
  return CLIPPO_OK;
}

void clippo_rt_destroy(clippo_rt *rt) {
  if (!rt) return;
  if (rt->queue) clFinish(rt->queue);
  if (rt->gemm.release) rt->gemm.release(rt->gemm.state);
  if (rt->scratch) {
    for (int i = 0; i < CLIPPO_RT_SCRATCH; i++) clippo_tensor_release(rt, &rt->scratch[i]);
    free(rt->scratch);
  }
  clippo_programs_release(rt);
  if (rt->queue) clReleaseCommandQueue(rt->queue);
  if (rt->ctx) clReleaseContext(rt->ctx);
  free(rt);
}

clippo_status clippo_rt_launch(clippo_rt *rt, cl_kernel k, cl_uint dims, const size_t *global,
                               const size_t *local, clippo_error *err) {
  for (cl_uint i = 0; i < dims; i++)
    if (global[i] == 0) return CLIPPO_OK; /* nothing to do */
  if (rt->recording) return clippo_graph_record_launch(rt, k, dims, global, local, err);
  cl_int rc = clEnqueueNDRangeKernel(rt->queue, k, dims, NULL, global, local, 0, NULL, NULL);
  if (rc == CL_SUCCESS) return CLIPPO_OK;
  char name[128] = "?";
  if (clGetKernelInfo(k, CL_KERNEL_FUNCTION_NAME, sizeof name, name, NULL) != CL_SUCCESS)
    snprintf(name, sizeof name, "?");
  char call[256];
  snprintf(call, sizeof call, "launching kernel %s (global %zu x %zu x %zu, local %s)", name,
           global[0], dims > 1 ? global[1] : 1, dims > 2 ? global[2] : 1, local ? "set" : "NULL");
  return clippo_cl_check(rt, rc, call, err);
}

clippo_status clippo_rt_finish(clippo_rt *rt, clippo_error *err) {
  return clippo_cl_check(rt, clFinish(rt->queue), "clFinish", err);
}
