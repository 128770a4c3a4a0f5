/* Device discovery and the device spec shared by every subcommand. */
#include "internal.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* OpenCL drivers (Mesa clover/rusticl, PoCL) allocate and keep memory while the ICD loader
 * enumerates them, partly from modules they unload again, so LeakSanitizer can neither attribute
 * nor suppress it. Sanitizer builds ignore allocations made during enumeration. */
#if defined(__SANITIZE_ADDRESS__)
#define CLIPPO_LSAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CLIPPO_LSAN 1
#endif
#endif
#ifdef CLIPPO_LSAN
#include <sanitizer/lsan_interface.h>
#define LSAN_OFF() __lsan_disable()
#define LSAN_ON() __lsan_enable()
#else
#define LSAN_OFF() ((void)0)
#define LSAN_ON() ((void)0)
#endif

const char *clippo_device_type_name(cl_device_type type) {
  if (type & CL_DEVICE_TYPE_GPU) return "GPU";
  if (type & CL_DEVICE_TYPE_CPU) return "CPU";
  if (type & CL_DEVICE_TYPE_ACCELERATOR) return "ACCELERATOR";
  return "OTHER";
}

static void device_string(cl_device_id d, cl_device_info what, char *buf, size_t size) {
  buf[0] = '\0';
  if (clGetDeviceInfo(d, what, size, buf, NULL) != CL_SUCCESS) buf[0] = '\0';
  buf[size - 1] = '\0';
}

static int has_extension(cl_device_id d, const char *ext) {
  size_t n = 0;
  if (clGetDeviceInfo(d, CL_DEVICE_EXTENSIONS, 0, NULL, &n) != CL_SUCCESS || n == 0) return 0;
  char *s = malloc(n + 1);
  if (!s) return 0;
  int found = 0;
  if (clGetDeviceInfo(d, CL_DEVICE_EXTENSIONS, n, s, NULL) == CL_SUCCESS) {
    s[n] = '\0';
    size_t el = strlen(ext);
    for (char *p = strstr(s, ext); p; p = strstr(p + 1, ext)) {
      if ((p == s || p[-1] == ' ') && (p[el] == ' ' || p[el] == '\0')) {
        found = 1;
        break;
      }
    }
  }
  free(s);
  return found;
}

static void fill_info(clippo_device_info *info, int pi, int di, cl_platform_id p, cl_device_id d) {
  memset(info, 0, sizeof *info);
  info->platform_index = pi;
  info->device_index = di;
  if (clGetPlatformInfo(p, CL_PLATFORM_NAME, sizeof info->platform, info->platform, NULL) !=
      CL_SUCCESS)
    info->platform[0] = '\0';
  info->platform[sizeof info->platform - 1] = '\0';
  device_string(d, CL_DEVICE_NAME, info->name, sizeof info->name);
  device_string(d, CL_DEVICE_VENDOR, info->vendor, sizeof info->vendor);
  device_string(d, CL_DEVICE_VERSION, info->version, sizeof info->version);
  device_string(d, CL_DRIVER_VERSION, info->driver, sizeof info->driver);
  cl_device_type type = 0;
  cl_uint cu = 0;
  cl_ulong gmem = 0, amax = 0, lmem = 0;
  size_t wg = 0;
  cl_bool unified = CL_FALSE;
  cl_device_exec_capabilities exec = 0;
  clGetDeviceInfo(d, CL_DEVICE_TYPE, sizeof type, &type, NULL);
  clGetDeviceInfo(d, CL_DEVICE_MAX_COMPUTE_UNITS, sizeof cu, &cu, NULL);
  clGetDeviceInfo(d, CL_DEVICE_GLOBAL_MEM_SIZE, sizeof gmem, &gmem, NULL);
  clGetDeviceInfo(d, CL_DEVICE_MAX_MEM_ALLOC_SIZE, sizeof amax, &amax, NULL);
  clGetDeviceInfo(d, CL_DEVICE_LOCAL_MEM_SIZE, sizeof lmem, &lmem, NULL);
  clGetDeviceInfo(d, CL_DEVICE_MAX_WORK_GROUP_SIZE, sizeof wg, &wg, NULL);
  clGetDeviceInfo(d, CL_DEVICE_HOST_UNIFIED_MEMORY, sizeof unified, &unified, NULL);
  clGetDeviceInfo(d, CL_DEVICE_EXECUTION_CAPABILITIES, sizeof exec, &exec, NULL);
  info->type = type;
  info->compute_units = cu;
  info->global_mem = gmem;
  info->max_alloc = amax;
  info->local_mem = lmem;
  info->max_work_group = wg;
  info->host_unified = unified == CL_TRUE;
  info->native_kernels = (exec & CL_EXEC_NATIVE_KERNEL) != 0;
  cl_uint nvf = 0;
  clGetDeviceInfo(d, CL_DEVICE_NATIVE_VECTOR_WIDTH_FLOAT, sizeof nvf, &nvf, NULL);
  info->native_float_vec = nvf;
  cl_uint align = 0;
  clGetDeviceInfo(d, CL_DEVICE_MEM_BASE_ADDR_ALIGN, sizeof align, &align, NULL);
  info->base_align_bits = align;
  info->fp16 = has_extension(d, "cl_khr_fp16");
  info->fp64 = has_extension(d, "cl_khr_fp64");
}

/* Calls fn for every (platform, device); stops when fn returns non-zero. */
static clippo_status for_each_device(int (*fn)(void *user, int pi, int di, cl_platform_id p,
                                               cl_device_id d),
                                     void *user, clippo_error *err) {
  cl_uint np = 0;
  LSAN_OFF();
  cl_int rc = clGetPlatformIDs(0, NULL, &np);
  LSAN_ON();
  if (rc == -1001 /* CL_PLATFORM_NOT_FOUND_KHR */ || np == 0) return CLIPPO_OK;
  if (rc != CL_SUCCESS)
    return clippo_fail(err, CLIPPO_E_DEVICE, "clGetPlatformIDs failed: %s",
                       clippo_cl_error_name(rc));
  cl_platform_id *plats = calloc(np, sizeof *plats);
  if (!plats) return clippo_fail(err, CLIPPO_E_NOMEM, "out of host memory listing platforms");
  rc = clGetPlatformIDs(np, plats, NULL);
  if (rc != CL_SUCCESS) {
    free(plats);
    return clippo_fail(err, CLIPPO_E_DEVICE, "clGetPlatformIDs failed: %s",
                       clippo_cl_error_name(rc));
  }
  int stop = 0;
  for (cl_uint p = 0; p < np && !stop; p++) {
    cl_uint nd = 0;
    if (clGetDeviceIDs(plats[p], CL_DEVICE_TYPE_ALL, 0, NULL, &nd) != CL_SUCCESS || nd == 0)
      continue; /* a platform without devices (e.g. rusticl with no driver enabled) */
    cl_device_id *devs = calloc(nd, sizeof *devs);
    if (!devs) {
      free(plats);
      return clippo_fail(err, CLIPPO_E_NOMEM, "out of host memory listing devices");
    }
    if (clGetDeviceIDs(plats[p], CL_DEVICE_TYPE_ALL, nd, devs, NULL) == CL_SUCCESS)
      for (cl_uint d = 0; d < nd && !stop; d++) stop = fn(user, (int)p, (int)d, plats[p], devs[d]);
    free(devs);
  }
  free(plats);
  return CLIPPO_OK;
}

typedef struct list_state {
  clippo_device_info *items;
  size_t count, cap;
  int oom;
} list_state;

static int list_one(void *user, int pi, int di, cl_platform_id p, cl_device_id d) {
  list_state *s = user;
  if (s->count == s->cap) {
    size_t cap = s->cap ? s->cap * 2 : 8;
    clippo_device_info *n = realloc(s->items, cap * sizeof *n);
    if (!n) {
      s->oom = 1;
      return 1;
    }
    s->items = n;
    s->cap = cap;
  }
  fill_info(&s->items[s->count++], pi, di, p, d);
  return 0;
}

clippo_status clippo_devices_list(clippo_device_info **out, size_t *count, clippo_error *err) {
  list_state s = {0};
  *out = NULL;
  *count = 0;
  clippo_status st = for_each_device(list_one, &s, err);
  if (st == CLIPPO_OK && s.oom) st = clippo_fail(err, CLIPPO_E_NOMEM, "out of host memory");
  if (st != CLIPPO_OK) {
    free(s.items);
    return st;
  }
  *out = s.items;
  *count = s.count;
  return CLIPPO_OK;
}

static int contains_nocase(const char *hay, const char *needle) {
  size_t n = strlen(needle);
  for (const char *h = hay; *h; h++) {
    size_t i = 0;
    while (i < n && h[i] && tolower((unsigned char)h[i]) == tolower((unsigned char)needle[i])) i++;
    if (i == n) return 1;
  }
  return n == 0;
}

static const clippo_device_info *first_of_type(const clippo_device_info *d, size_t n,
                                               cl_device_type t) {
  for (size_t i = 0; i < n; i++)
    if (d[i].type & t) return &d[i];
  return NULL;
}

clippo_status clippo_device_select(const char *spec, clippo_device_info *out, clippo_error *err) {
  clippo_settings s;
  if (!spec || !*spec) {
    clippo_status st = clippo_settings_from_env(&s, err);
    if (st != CLIPPO_OK) return st;
    spec = s.device;
  }
  return clippo_device_pick(spec, out, err);
}

clippo_status clippo_device_pick(const char *spec, clippo_device_info *out, clippo_error *err) {
  clippo_device_info *devs = NULL;
  size_t n = 0;
  clippo_status st = clippo_devices_list(&devs, &n, err);
  if (st != CLIPPO_OK) return st;
  if (n == 0 || !devs) {
    free(devs);
    return clippo_fail(err, CLIPPO_E_NOTFOUND,
                       "no OpenCL device found (install an ICD such as pocl-opencl-icd; for Mesa "
                       "rusticl set RUSTICL_ENABLE=llvmpipe)");
  }
  const clippo_device_info *pick = NULL;
  if (!spec || !*spec) {
    pick = first_of_type(devs, n, CL_DEVICE_TYPE_GPU);
    if (!pick) pick = first_of_type(devs, n, CL_DEVICE_TYPE_CPU);
    if (!pick) pick = &devs[0];
  } else {
    int pi = -1, di = -1;
    char tail = 0;
    if (sscanf(spec, "%d:%d%c", &pi, &di, &tail) == 2) {
      for (size_t i = 0; i < n; i++)
        if (devs[i].platform_index == pi && devs[i].device_index == di) pick = &devs[i];
    } else if (!strcmp(spec, "cpu") || !strcmp(spec, "CPU")) {
      pick = first_of_type(devs, n, CL_DEVICE_TYPE_CPU);
    } else if (!strcmp(spec, "gpu") || !strcmp(spec, "GPU")) {
      pick = first_of_type(devs, n, CL_DEVICE_TYPE_GPU);
    } else if (!strcmp(spec, "accelerator") || !strcmp(spec, "ACCELERATOR")) {
      pick = first_of_type(devs, n, CL_DEVICE_TYPE_ACCELERATOR);
    } else {
      for (size_t i = 0; i < n && !pick; i++)
        if (contains_nocase(devs[i].name, spec) || contains_nocase(devs[i].platform, spec))
          pick = &devs[i];
    }
  }
  if (!pick) {
    char list[2048];
    size_t off = 0;
    list[0] = '\0';
    for (size_t i = 0; i < n && off < sizeof list; i++)
      off += (size_t)snprintf(list + off, sizeof list - off, "%s%d:%d %s / %s", i ? "; " : "",
                              devs[i].platform_index, devs[i].device_index, devs[i].platform,
                              devs[i].name);
    st = clippo_fail(err, CLIPPO_E_NOTFOUND, "no OpenCL device matches '%s' (available: %s)", spec,
                     list);
    free(devs);
    return st;
  }
  *out = *pick;
  free(devs);
  return CLIPPO_OK;
}

/* Finds the platform and device ids of info (used by the runtime). */
typedef struct find_state {
  int pi, di;
  cl_platform_id p;
  cl_device_id d;
  int found;
} find_state;

static int find_one(void *user, int pi, int di, cl_platform_id p, cl_device_id d) {
  find_state *s = user;
  if (pi == s->pi && di == s->di) {
    s->p = p;
    s->d = d;
    s->found = 1;
    return 1;
  }
  return 0;
}

clippo_status clippo_device_ids(const clippo_device_info *info, cl_platform_id *p, cl_device_id *d,
                                clippo_error *err) {
  find_state s = {info->platform_index, info->device_index, NULL, NULL, 0};
  clippo_status st = for_each_device(find_one, &s, err);
  if (st != CLIPPO_OK) return st;
  if (!s.found)
    return clippo_fail(err, CLIPPO_E_NOTFOUND, "OpenCL device %d:%d disappeared",
                       info->platform_index, info->device_index);
  *p = s.p;
  *d = s.d;
  return CLIPPO_OK;
}
