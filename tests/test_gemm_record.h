/* A test's own GEMM provider record: rt pointed at a file of a fresh folder (temp_record_begin),
 * rewritten and read again (temp_record_set), and the record rt followed before put back, the
 * file and folder removed (temp_record_end). For the tests that include the runtime's internals
 * (rt->settings). */
#ifndef CLIPPO_TEST_GEMM_RECORD_H
#define CLIPPO_TEST_GEMM_RECORD_H

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "support.h"

#include "clippo/gemm.h"
#include "gemm/gemm_internal.h"

typedef struct temp_record {
  char *dir;
  char path[600];
  char saved[sizeof(((clippo_rt *)0)->settings.gemm_record)];
} temp_record;

/* Writes text into r's file and makes rt read the record again. */
static inline void temp_record_set(clippo_rt *rt, const temp_record *r, const char *text) {
  FILE *f = fopen(r->path, "w");
  assert_non_null(f);
  fputs(text, f);
  fclose(f);
  clippo_gemm_forget_record(rt);
}

/* name: the file's name in the folder; text: its contents (NULL: no file yet). */
static inline void temp_record_begin(clippo_rt *rt, const char *name, const char *text,
                                     temp_record *r) {
  r->dir = test_tmpdir();
  assert_non_null(r->dir);
  snprintf(r->path, sizeof r->path, "%s/%s", r->dir, name);
  snprintf(r->saved, sizeof r->saved, "%s", rt->settings.gemm_record);
  snprintf(rt->settings.gemm_record, sizeof rt->settings.gemm_record, "%s", r->path);
  if (text)
    temp_record_set(rt, r, text);
  else
    clippo_gemm_forget_record(rt);
}

static inline void temp_record_end(clippo_rt *rt, temp_record *r) {
  snprintf(rt->settings.gemm_record, sizeof rt->settings.gemm_record, "%s", r->saved);
  clippo_gemm_forget_record(rt);
  unlink(r->path);
  rmdir(r->dir);
  free(r->dir);
}

#endif
