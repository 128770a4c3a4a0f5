/* Status codes and the error record every fallible function fills. */
#ifndef CLIPPO_STATUS_H
#define CLIPPO_STATUS_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Result of every fallible library call. CLIPPO_OK is zero. */
typedef enum clippo_status {
  CLIPPO_OK = 0,
  CLIPPO_E_ARG,         /* invalid argument or usage */
  CLIPPO_E_IO,          /* a file cannot be opened, read or written */
  CLIPPO_E_FORMAT,      /* a file's content is malformed */
  CLIPPO_E_SHAPE,       /* a tensor has the wrong shape or dtype */
  CLIPPO_E_NOMEM,       /* host memory exhausted */
  CLIPPO_E_DEVICE,      /* an OpenCL call failed (incl. device out of memory) */
  CLIPPO_E_BUILD,       /* a kernel failed to compile */
  CLIPPO_E_UNSUPPORTED, /* valid request this build or device cannot serve */
  CLIPPO_E_NUMERIC,     /* NaN or Inf where finite numbers are required */
  CLIPPO_E_NOTFOUND     /* a named thing (device, tensor, file) does not exist */
} clippo_status;

/** The message buffer size of clippo_error. */
#define CLIPPO_ERROR_MSG 4096

/** An error record: the status and a human-readable message. */
typedef struct clippo_error {
  clippo_status status;
  char msg[CLIPPO_ERROR_MSG];
} clippo_error;

/** Sets *err (may be NULL) to status st with a printf-style message; returns st. */
clippo_status clippo_fail(clippo_error *err, clippo_status st, const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
#ifdef __clang_analyzer__
/* For the static analyzer (clang-tidy) only: it does not look into status.c, so without this it
 * assumes clippo_fail may return CLIPPO_OK and follows error paths as if they had succeeded. */
#define clippo_fail(err, st, ...) (clippo_fail((err), (st), __VA_ARGS__), (clippo_status)(st))
#endif

/** Prefixes the message already in *err with a printf-style context; returns err->status. */
clippo_status clippo_error_prefix(clippo_error *err, const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/** Resets *err to CLIPPO_OK with an empty message. */
void clippo_error_clear(clippo_error *err);

/** A short constant name for a status ("CLIPPO_E_IO"...). */
const char *clippo_status_name(clippo_status st);

#ifdef __cplusplus
}
#endif
#endif
