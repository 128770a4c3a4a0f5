/* Runtime internals shared by the files in host/runtime only. */
#ifndef CLIPPO_RUNTIME_INTERNAL_H
#define CLIPPO_RUNTIME_INTERNAL_H

#include "clippo/runtime.h"

/** Looks up the OpenCL ids of the device described by info. */
clippo_status clippo_device_ids(const clippo_device_info *info, cl_platform_id *p, cl_device_id *d,
                                clippo_error *err);

/** clippo_device_select without the environment: spec NULL or "" is the default choice. */
clippo_status clippo_device_pick(const char *spec, clippo_device_info *out, clippo_error *err);

/** Releases every program and kernel the runtime built. */
void clippo_programs_release(clippo_rt *rt);

/** 64-bit FNV-1a hash of n bytes continuing from h (start with 1469598103934665603). */
unsigned long long clippo_fnv1a(unsigned long long h, const void *data, size_t n);

/** Seconds from a monotonic clock. */
double clippo_now(void);

#endif
