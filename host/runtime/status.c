/* Error records: formatting and naming of status codes. */
#include "clippo/status.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* (clippo_fail) in parentheses: status.h may define a clippo_fail macro for the analyzer. */
clippo_status(clippo_fail)(clippo_error *err, clippo_status st, const char *fmt, ...) {
  if (err) {
    va_list ap;
    va_start(ap, fmt);
    err->status = st;
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
  }
  return st;
}

clippo_status clippo_error_prefix(clippo_error *err, const char *fmt, ...) {
  if (!err) return CLIPPO_E_ARG;
  char prefix[1024];
  char old[CLIPPO_ERROR_MSG];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(prefix, sizeof prefix, fmt, ap);
  va_end(ap);
  memcpy(old, err->msg, sizeof old);
  snprintf(err->msg, sizeof err->msg, "%s: %s", prefix, old);
  return err->status;
}

void clippo_error_clear(clippo_error *err) {
  if (err) {
    err->status = CLIPPO_OK;
    err->msg[0] = '\0';
  }
}

const char *clippo_status_name(clippo_status st) {
  switch (st) {
  case CLIPPO_OK: return "CLIPPO_OK";
  case CLIPPO_E_ARG: return "CLIPPO_E_ARG";
  case CLIPPO_E_IO: return "CLIPPO_E_IO";
  case CLIPPO_E_FORMAT: return "CLIPPO_E_FORMAT";
  case CLIPPO_E_SHAPE: return "CLIPPO_E_SHAPE";
  case CLIPPO_E_NOMEM: return "CLIPPO_E_NOMEM";
  case CLIPPO_E_DEVICE: return "CLIPPO_E_DEVICE";
  case CLIPPO_E_BUILD: return "CLIPPO_E_BUILD";
  case CLIPPO_E_UNSUPPORTED: return "CLIPPO_E_UNSUPPORTED";
  case CLIPPO_E_NUMERIC: return "CLIPPO_E_NUMERIC";
  case CLIPPO_E_NOTFOUND: return "CLIPPO_E_NOTFOUND";
  }
  return "CLIPPO_E_UNKNOWN";
}
