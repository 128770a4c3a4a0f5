/* `clippo devices`: a table of every OpenCL device the engine can use. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_util.h"
#include "clippo/runtime.h"

const char clippo_cmd_devices_summary[] = "list OpenCL devices (--check builds a kernel on each)";

static void human_bytes(unsigned long long b, char *buf, size_t n) {
  if (b >= (1ull << 30))
    snprintf(buf, n, "%.1f GiB", (double)b / (double)(1ull << 30));
  else
    snprintf(buf, n, "%.0f MiB", (double)b / (double)(1ull << 20));
}

/* Builds and runs the self-test kernel on one device; prints the outcome. */
static int check_device(const clippo_device_info *d) {
  char spec[32];
  snprintf(spec, sizeof spec, "%d:%d", d->platform_index, d->device_index);
  clippo_error err;
  clippo_rt *rt = NULL;
  cl_kernel k;
  clippo_tensor x, y;
  memset(&x, 0, sizeof x);
  memset(&y, 0, sizeof y);
  float hx[64], hy[64];
  for (int i = 0; i < 64; i++) {
    hx[i] = (float)i;
    hy[i] = 1.0f;
  }
  int64_t shape[1] = {64};
  clippo_status st = clippo_rt_create(&rt, spec, &err);
  if (st == CLIPPO_OK) st = clippo_rt_kernel(rt, "selftest.cl", "axpy", "", &k, &err);
  if (st == CLIPPO_OK) st = clippo_tensor_alloc(rt, &x, CLIPPO_F32, 1, shape, &err);
  if (st == CLIPPO_OK) st = clippo_tensor_alloc(rt, &y, CLIPPO_F32, 1, shape, &err);
  if (st == CLIPPO_OK) st = clippo_tensor_write(rt, &x, hx, &err);
  if (st == CLIPPO_OK) st = clippo_tensor_write(rt, &y, hy, &err);
  if (st == CLIPPO_OK) {
    float a = 2.0f;
    cl_uint n = 64;
    clSetKernelArg(k, 0, sizeof a, &a);
    clSetKernelArg(k, 1, sizeof x.mem, &x.mem);
    clSetKernelArg(k, 2, sizeof y.mem, &y.mem);
    clSetKernelArg(k, 3, sizeof n, &n);
    size_t g = 64;
    st = clippo_rt_launch(rt, k, 1, &g, NULL, &err);
  }
  if (st == CLIPPO_OK) st = clippo_tensor_read(rt, &y, hy, &err);
  int ok = st == CLIPPO_OK;
  for (int i = 0; ok && i < 64; i++) ok = hy[i] == 2.0f * (float)i + 1.0f;
  if (st == CLIPPO_OK && !ok) clippo_fail(&err, CLIPPO_E_DEVICE, "wrong result from the kernel");
  printf("%s  %-40.40s %s (build %.3f s)\n", spec, d->name, ok ? "ok" : "FAILED",
         rt ? rt->build_seconds : 0.0);
  if (!ok) fprintf(stderr, "clippo devices: device %s: %s\n", spec, err.msg);
  clippo_tensor_release(rt, &x);
  clippo_tensor_release(rt, &y);
  clippo_rt_destroy(rt);
  return ok;
}

/* The table of devices on stdout. */
static void print_table(const clippo_device_info *devs, size_t n) {
  printf("%-5s %-28s %-36s %-6s %-22s %3s %10s %10s %4s %4s\n", "index", "platform", "device",
         "type", "version", "CUs", "memory", "max alloc", "fp16", "fp64");
  for (size_t i = 0; i < n; i++) {
    char idx[16], mem[32], amax[32];
    snprintf(idx, sizeof idx, "%d:%d", devs[i].platform_index, devs[i].device_index);
    human_bytes(devs[i].global_mem, mem, sizeof mem);
    human_bytes(devs[i].max_alloc, amax, sizeof amax);
    printf("%-5s %-28.28s %-36.36s %-6s %-22.22s %3u %10s %10s %4s %4s\n", idx, devs[i].platform,
           devs[i].name, clippo_device_type_name(devs[i].type), devs[i].version,
           devs[i].compute_units, mem, amax, devs[i].fp16 ? "yes" : "no",
           devs[i].fp64 ? "yes" : "no");
  }
}

static void usage(FILE *out) {
  fprintf(out, "usage: clippo devices [--check]\n\n"
               "Lists every OpenCL device: index (the P:D form of --device), platform, device,\n"
               "type, OpenCL version, compute units, global memory, largest allocation,\n"
               "fp16/fp64.\n\n"
               "  --check  also build and run a small kernel on each device\n\n"
               "Mesa rusticl needs RUSTICL_ENABLE=llvmpipe (or a GPU driver name) to show "
               "devices.\n\n"
               "Examples:\n"
               "  clippo devices\n"
               "  RUSTICL_ENABLE=llvmpipe clippo devices --check\n");
}

int clippo_cmd_devices(int argc, char **argv) {
  int check = 0;
  const cli_option opts[] = {{"--check", CLI_SET, &check, 0, 0}};
  int prc = cli_parse("devices", argc, argv, opts, sizeof opts / sizeof opts[0], NULL);
  if (prc < 0) usage(stdout);
  if (prc) return prc < 0 ? 0 : prc;
  clippo_error err;
  clippo_device_info *devs = NULL;
  size_t n = 0;
  if (clippo_devices_list(&devs, &n, &err) != CLIPPO_OK) return cli_report("devices", &err);
  if (n == 0) {
    fprintf(stderr, "clippo devices: no OpenCL device found (install pocl-opencl-icd, or set "
                    "RUSTICL_ENABLE=llvmpipe for Mesa rusticl)\n");
    free(devs);
    return 1;
  }
  print_table(devs, n);
  int failed = 0;
  if (check) {
    printf("\n");
    for (size_t i = 0; i < n; i++) failed += !check_device(&devs[i]);
  }
  free(devs);
  return failed ? 1 : 0;
}
