/* OpenCL runtime: devices, the device spec, context and queue, kernel programs with a binary
 * cache, device tensors. Knows nothing of ViTs. */
#ifndef CLIPPO_RUNTIME_H
#define CLIPPO_RUNTIME_H

#ifndef CL_TARGET_OPENCL_VERSION
#define CL_TARGET_OPENCL_VERSION 120
#endif
#ifdef __APPLE__
#include <OpenCL/cl.h>
#else
#include <CL/cl.h>
#endif

#include "clippo/array.h"
#include "clippo/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/** What the engine knows about one OpenCL device. */
typedef struct clippo_device_info {
  int platform_index;
  int device_index;
  char platform[256];
  char name[256];
  char vendor[256];
  char version[128]; /* CL_DEVICE_VERSION */
  char driver[128];  /* CL_DRIVER_VERSION */
  cl_device_type type;
  unsigned compute_units;
  unsigned long long global_mem;
  unsigned long long max_alloc;
  unsigned long long local_mem;
  size_t max_work_group;
  int fp16;                  /* cl_khr_fp16 */
  int fp64;                  /* cl_khr_fp64 */
  int host_unified;          /* CL_DEVICE_HOST_UNIFIED_MEMORY */
  int native_kernels;        /* CL_EXEC_NATIVE_KERNEL: runs host functions in its queue (PoCL) */
  unsigned native_float_vec; /* CL_DEVICE_NATIVE_VECTOR_WIDTH_FLOAT: 16 on PoCL with AVX-512,
                                1 where SIMD lanes are work-items (GPUs, Mesa's llvmpipe) */
  unsigned base_align_bits;  /* CL_DEVICE_MEM_BASE_ADDR_ALIGN: every buffer starts at a multiple */
} clippo_device_info;

/** "CPU", "GPU", "ACCELERATOR" or "OTHER". */
const char *clippo_device_type_name(cl_device_type type);

/** Lists every device of every platform (*out is malloc'ed; free it). Zero devices is not an
 * error. */
clippo_status clippo_devices_list(clippo_device_info **out, size_t *count, clippo_error *err);

/** Chooses a device from a spec: "P:D" indices, "cpu"/"gpu"/"accelerator", or a case-insensitive
 * substring of the platform or device name. NULL or "" means env CLIPPO_DEVICE (through
 * clippo_settings_from_env), else the first GPU, else the first CPU, else the first device. */
clippo_status clippo_device_select(const char *spec, clippo_device_info *out, clippo_error *err);

/** The name of an OpenCL error code ("CL_OUT_OF_RESOURCES"...). */
const char *clippo_cl_error_name(cl_int code);

/** A kernel program cache entry kept in memory by the runtime (internal). */
typedef struct clippo_program_entry clippo_program_entry;

/** The arithmetic of the GEMMs; every other op stays float32. */
typedef enum clippo_precision {
  CLIPPO_PRECISION_FP32 = 0,      /* float32 everywhere (the default) */
  CLIPPO_PRECISION_FP16,          /* GEMM operands and products in float16 through CLBlast's Hgemm
                                     (half arithmetic): needs cl_khr_fp16 */
  CLIPPO_PRECISION_FP16_EMULATED, /* operands and products rounded to float16 but multiplied by
                                     the float32 provider: fp16 storage's accuracy on any device */
  CLIPPO_PRECISION_BF16,          /* operands rounded to bfloat16, float32 accumulation, through
                                     oneDNN: host-unified CPU devices (AVX512-BF16, AMX) */
  CLIPPO_PRECISION_INT8           /* dynamic int8: per-row activation and per-column weight scales
                                     (symmetric), s8 x s8 -> s32 through oneDNN (VNNI, AMX), then
                                     dequantised; batched (attention) products stay float32:
                                     host-unified CPU devices */
} clippo_precision;

/** What a runtime tells its user; the runtime itself never prints (see clippo_rt.notify). */
typedef enum clippo_rt_event {
  CLIPPO_RT_EVENT_COMPILING = 1 /* a kernel program is about to be compiled from source (a cold
                                   binary cache): sent once per runtime, before the first one */
} clippo_rt_event;

struct clippo_rt;

/** A hook the user of a runtime sets to hear about its events (e.g. the CLI prints them). */
typedef void (*clippo_rt_notify_fn)(const void *user, const struct clippo_rt *rt,
                                    clippo_rt_event event);

/** How the op launchers shape their row kernels (see clippo/ops.h). */
typedef enum clippo_ops_variant {
  CLIPPO_OPS_AUTO = 0, /* by device type: one row per work-item on CPUs, per work-group else */
  CLIPPO_OPS_ROW,      /* one row per work-item everywhere */
  CLIPPO_OPS_GROUP     /* one row per work-group everywhere */
} clippo_ops_variant;

/** How multi-head attention (clippo_mha) computes softmax(q k^T) v. */
typedef enum clippo_attention_mode {
  CLIPPO_ATTENTION_AUTO = 0, /* fused on GPUs and accelerators that run their own GEMMs
                                (CLBlast, the kernel provider); on CPU devices that run
                                explicit vectors natively attention_rows where it fits, else
                                GEMMs */
  CLIPPO_ATTENTION_GEMM,     /* head split, batched GEMMs with the softmax, head merge */
  CLIPPO_ATTENTION_FLASH,    /* one fused kernel (kernels/attention.cl flash_attention) */
  CLIPPO_ATTENTION_ROWS      /* one work-item per image (attention_rows_fwd / _bwd) where it
                                fits the device's local memory, training included */
} clippo_attention_mode;

/** Everything the engine takes from the environment, read once by clippo_settings_from_env (the
 * one place below the command-line program that reads environment variables) and copied into
 * each runtime when it is created. The layers read rt->settings, never the environment; a
 * caller (a test, a benchmark) may change a runtime's copy between calls. */
typedef struct clippo_settings {
  char device[256];                /* CLIPPO_DEVICE: the device when no spec is given */
  char cache_dir[1024];            /* CLIPPO_CACHE_DIR ("off": ""), else $XDG_CACHE_HOME/clippo,
                                      else $HOME/.cache/clippo, else "" (no cache) */
  char precompiled_dir[1024];      /* CLIPPO_PRECOMPILED_DIR: offline-compiled kernel binaries */
  clippo_precision precision;      /* CLIPPO_PRECISION: fp32 (default), fp16, fp16-emulated,
                                      bf16, int8 */
  clippo_ops_variant ops_variant;  /* CLIPPO_OPS_VARIANT: row, group; unset or auto: by device */
  clippo_attention_mode attention; /* CLIPPO_ATTENTION: gemm, flash; unset or auto: by device */
  char gemm[32];                   /* CLIPPO_GEMM: a GEMM provider name forcing that provider; "" or
                                      "auto": the normal choice (the GEMM layer checks the name) */
  char gemm_record[1024];          /* CLIPPO_GEMM_RECORD: the GEMM provider record to use instead of
                                      <cache_dir>/gemm-<device hash>.txt */
  char tmp_dir[1024];              /* TMPDIR, else "/tmp": where temporary folders go */
  char blas_env[256]; /* OPENBLAS_CORETYPE and OPENBLAS_NUM_THREADS as found ("(unset)"):
                         reported by benchmarks, never changed */
} clippo_settings;

/** The settings of an empty environment: no cache, fp32, automatic choices, /tmp. */
void clippo_settings_default(clippo_settings *s);

/** Reads the settings from the environment. A value that is malformed (an unknown precision or
 * variant) or longer than its field fails with CLIPPO_E_ARG naming the variable. */
clippo_status clippo_settings_from_env(clippo_settings *s, clippo_error *err);

/** A layer's own state kept by a runtime (e.g. the GEMM layer's parsed provider record): created
 * by that layer on its first use, released with the runtime through `release`. */
typedef struct clippo_rt_slot {
  void *state;
  void (*release)(void *state);
} clippo_rt_slot;

/** Number of scratch buffers the reduced-precision GEMM path keeps in the runtime. */
#define CLIPPO_RT_SCRATCH 6

/** A live device: context, in-order profiling queue, built programs. A runtime and everything
 * made with it (tensors, models, GEMM state) is used by one thread at a time: nothing in it is
 * locked. Different runtimes may be used by different threads at once. */
typedef struct clippo_rt {
  clippo_settings settings; /* read when the runtime was created */
  clippo_device_info info;
  cl_platform_id platform;
  cl_device_id device;
  cl_context ctx;
  cl_command_queue queue;
  char cache_dir[1024];       /* binary cache in use (settings.cache_dir); "" disables it */
  char precompiled_dir[1024]; /* offline-compiled binaries (settings.precompiled_dir) */
  clippo_program_entry *programs;
  double build_seconds;               /* total time spent in program builds/loads */
  unsigned cache_hits;                /* programs loaded from the binary cache */
  unsigned cache_misses;              /* programs compiled from source */
  unsigned long long bytes_allocated; /* live device bytes allocated via clippo_tensor_alloc */
  unsigned long long bytes_peak;      /* peak of bytes_allocated */
  clippo_precision precision;         /* GEMM arithmetic (clippo_rt_set_precision) */
  struct clippo_tensor *scratch;      /* CLIPPO_RT_SCRATCH grow-only buffers, or NULL */
  struct clippo_graph *recording;     /* graph being recorded (clippo/graph.h), or NULL */
  clippo_rt_notify_fn notify;         /* set by the caller after clippo_rt_create; NULL: silent */
  const void *notify_user;            /* passed to notify */
  int compile_noticed;                /* CLIPPO_RT_EVENT_COMPILING was sent */
  clippo_rt_slot gemm;                /* the GEMM layer's state (host/gemm) */
  /* where clippo_graph_run adds each step's time (clippo_rt_set_step_profile), or NULL */
  struct clippo_step_profile *step_profile;
} clippo_rt;

/** Opens the device chosen by spec (see clippo_device_select) with the settings of the
 * environment (clippo_settings_from_env). */
clippo_status clippo_rt_create(clippo_rt **out, const char *spec, clippo_error *err);

/** Opens the device chosen by spec (NULL or "": settings->device, else the default choice) with
 * the given settings (their precision applied as by clippo_rt_set_precision). */
clippo_status clippo_rt_create_with(clippo_rt **out, const char *spec,
                                    const clippo_settings *settings, clippo_error *err);

/** Sets the GEMM arithmetic. FP16 on a device without cl_khr_fp16, BF16 or INT8 on a device that
 * is not a host-unified CPU or in a build without oneDNN fail (CLIPPO_E_UNSUPPORTED, naming the
 * device) and leave the precision as it was. */
clippo_status clippo_rt_set_precision(clippo_rt *rt, clippo_precision p, clippo_error *err);

/** Parses "fp32", "fp16", "fp16-emulated", "bf16" or "int8". */
clippo_status clippo_precision_parse(const char *name, clippo_precision *out, clippo_error *err);

/** The name clippo_precision_parse accepts for p. */
const char *clippo_precision_name(clippo_precision p);

/** Releases everything the runtime holds. NULL is fine. */
void clippo_rt_destroy(clippo_rt *rt);

/** Turns an OpenCL return code into a status: on failure the message names the call, the error
 * and the device. Returns CLIPPO_OK when rc == CL_SUCCESS. */
clippo_status clippo_cl_check(const clippo_rt *rt, cl_int rc, const char *call, clippo_error *err);

/** The kernel `name` from kernels/<file> built with `options` (e.g. "-DTILE=8"). Programs are
 * built once per (file, options), from the binary cache when possible; kernels are owned by rt.
 * A build failure returns CLIPPO_E_BUILD with the compiler log (file and line). */
clippo_status clippo_rt_kernel(clippo_rt *rt, const char *file, const char *name,
                               const char *options, cl_kernel *out, clippo_error *err);

/** Builds (or loads) the program for (file, options) without fetching a kernel. */
clippo_status clippo_rt_program(clippo_rt *rt, const char *file, const char *options,
                                cl_program *out, clippo_error *err);

/** Enqueues kernel k over a 1-3 dimensional range. local may be NULL. Errors name the kernel. */
clippo_status clippo_rt_launch(clippo_rt *rt, cl_kernel k, cl_uint dims, const size_t *global,
                               const size_t *local, clippo_error *err);

/** Waits for all queued work; reports asynchronous failures. */
clippo_status clippo_rt_finish(clippo_rt *rt, clippo_error *err);

/** The name of the i-th file of kernels/ embedded in the library ("activation.cl", "common.h"...,
 * in name order), or NULL when i is past the last; *text and *len (each may be NULL) get its
 * source as written (includes not expanded). */
const char *clippo_kernel_file(size_t i, const char **text, size_t *len);

/** A device tensor: a buffer (or a view into one) with dtype and shape. */
typedef struct clippo_tensor {
  cl_mem mem;
  size_t offset; /* in elements, for views */
  clippo_dtype dtype;
  int ndim;
  int64_t shape[CLIPPO_MAX_DIMS];
  int owner; /* 1 if this tensor releases mem */
  size_t bytes;
} clippo_tensor;

/** Number of elements of t. */
size_t clippo_tensor_count(const clippo_tensor *t);

/** Elements past which the kernels' 32-bit indices (with a vector's margin) would wrap. */
#define CLIPPO_TENSOR_MAX_KERNEL_ELEMS 0xFFFFF000ull

/** Checks, for a kernel's operand WHAT of OP, that t has a buffer, dtype dt, and elements and
 * offset that the kernels' 32-bit indices (with a vector's margin) can reach; the error names op
 * and what. */
clippo_status clippo_tensor_check(const clippo_tensor *t, clippo_dtype dt, const char *op,
                                  const char *what, clippo_error *err);

/** clippo_tensor_check and exactly count elements. */
clippo_status clippo_tensor_check_count(const clippo_tensor *t, clippo_dtype dt, size_t count,
                                        const char *op, const char *what, clippo_error *err);

/** Allocates a device tensor; on failure the message names the size, the shape and the device. */
clippo_status clippo_tensor_alloc(clippo_rt *rt, clippo_tensor *t, clippo_dtype dt, int ndim,
                                  const int64_t *shape, clippo_error *err);

/** Releases an owning tensor and zeroes t; views are just zeroed. */
void clippo_tensor_release(clippo_rt *rt, clippo_tensor *t);

/** Copies count(t) elements from host memory into t (blocking). */
clippo_status clippo_tensor_write(clippo_rt *rt, clippo_tensor *t, const void *host,
                                  clippo_error *err);

/** Copies t into host memory (blocking). */
clippo_status clippo_tensor_read(clippo_rt *rt, const clippo_tensor *t, void *host,
                                 clippo_error *err);

/** Allocates t with the shape/dtype of a host array and uploads it. */
clippo_status clippo_tensor_from_array(clippo_rt *rt, clippo_tensor *t, const clippo_array *a,
                                       clippo_error *err);

/** Fills t with a float32 value. */
clippo_status clippo_tensor_fill(clippo_rt *rt, clippo_tensor *t, float value, clippo_error *err);

/** A view of t with a new shape (same element count) or a sub-range (offset in elements). */
clippo_tensor clippo_tensor_view(const clippo_tensor *t, size_t offset, int ndim,
                                 const int64_t *shape);

/** dst (float16, same element count) = src (float32) rounded to nearest even (overflow to
 * +-inf; kernels/convert.cl). Works on every device: storing half needs no cl_khr_fp16. */
clippo_status clippo_tensor_to_half(clippo_rt *rt, const clippo_tensor *src, clippo_tensor *dst,
                                    clippo_error *err);

/** Scatters src, a packed (batch, rows, cols) float16 array, into float32 dst seen as batch
 * matrices with leading dimension ld and batch stride `stride`:
 * dst[b*stride + i*ld + j] = float(src[b, i, j]) + beta * dst[...] (dst not read if beta is 0). */
clippo_status clippo_tensor_from_half(clippo_rt *rt, const clippo_tensor *src, size_t batch,
                                      size_t rows, size_t cols, float beta, clippo_tensor *dst,
                                      size_t ld, size_t stride, clippo_error *err);

#ifdef __cplusplus
}
#endif
#endif
