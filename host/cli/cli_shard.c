/* Sharded embedding over the ranks (see cli_shard.h). Rank 0 broadcasts a request (a header,
 * then the file names, texts or pixels), every rank embeds its contiguous share, rank 0 gathers
 * the packed results in rank order. A rank whose share fails sends its error instead, so no rank
 * is left waiting; rank 0 reports it naming that rank. */
#include "cli_shard.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_interrupt.h"
#include "cli_model.h"
#include "cli_mpi.h"
#include "clippo/model.h"
#include "clippo/strbuf.h"

enum { REQ_DONE = 0, REQ_FILES, REQ_PIXELS, REQ_TEXTS };

/* What rank 0 broadcasts first. */
typedef struct request {
  int64_t kind, n, bytes; /* request kind, items, payload bytes */
  int64_t threads;        /* files: decoding threads */
  int64_t w, h, channels; /* pixels */
} request;

static void put_error(clippo_strbuf *b, const clippo_error *e) {
  int32_t st = (int32_t)e->status;
  uint32_t len = (uint32_t)strnlen(e->msg, sizeof e->msg);
  clippo_strbuf_add(b, &st, sizeof st);
  clippo_strbuf_add(b, &len, sizeof len);
  clippo_strbuf_add(b, e->msg, len);
}

/* Reads what put wrote; fails (0) past the end. */
typedef struct reader {
  const unsigned char *p;
  size_t n, at;
} reader;

static int get(reader *r, void *out, size_t n) {
  if (r->n - r->at < n) return 0;
  if (n && out) memcpy(out, r->p + r->at, n);
  r->at += n;
  return 1;
}

static int get_error(reader *r, clippo_error *e) {
  int32_t st = 0;
  uint32_t len = 0;
  if (!get(r, &st, sizeof st) || !get(r, &len, sizeof len) || len >= sizeof e->msg) return 0;
  memset(e->msg, 0, sizeof e->msg);
  if (!get(r, e->msg, len)) return 0;
  e->status = (clippo_status)st;
  return 1;
}

/* Rank q's share [*lo, *hi) of n items. */
static void share(const clippo_dist *d, int q, size_t n, size_t *lo, size_t *hi) {
  size_t R = (size_t)clippo_dist_size(d);
  *lo = n * (size_t)q / R;
  *hi = n * ((size_t)q + 1) / R;
}

/* The pointers to the NUL-terminated strings of a payload (n of them). */
static clippo_status split_strings(const char *payload, size_t bytes, size_t n, const char **out,
                                   clippo_error *err) {
  size_t at = 0;
  for (size_t i = 0; i < n; i++) {
    const char *end = at < bytes ? memchr(payload + at, '\0', bytes - at) : NULL;
    if (!end) return clippo_fail(err, CLIPPO_E_FORMAT, "malformed request from rank 0");
    out[i] = payload + at;
    at = (size_t)(end - payload) + 1;
  }
  return CLIPPO_OK;
}

/* Embeds this rank's share of request q (payload) and packs the result into out: status (and
 * error), then the rows, then for files the ok flags and the errors of the files that failed. */
static void serve_share(const clippo_dist *d, clippo_task_model *tm, const request *q,
                        const unsigned char *payload, clippo_strbuf *out) {
  size_t lo = 0, hi = 0, dim = tm->dim;
  share(d, clippo_dist_rank(d), (size_t)q->n, &lo, &hi);
  const size_t m = hi - lo;
  float *z = malloc((m ? m : 1) * (dim ? dim : 1) * sizeof *z);
  unsigned char *ok = calloc(m ? m : 1, 1);
  clippo_error *ferr = q->kind == REQ_FILES ? calloc(m ? m : 1, sizeof *ferr) : NULL;
  const char **items = NULL;
  float *inputs = NULL;
  clippo_error err;
  clippo_error_clear(&err);
  clippo_status st = z && ok && (ferr || q->kind != REQ_FILES)
                         ? CLIPPO_OK
                         : clippo_fail(&err, CLIPPO_E_NOMEM, "out of host memory");
  if (!st && (q->kind == REQ_FILES || q->kind == REQ_TEXTS)) {
    items = malloc(((size_t)q->n + 1) * sizeof *items);
    st = items ? split_strings((const char *)payload, (size_t)q->bytes, (size_t)q->n, items, &err)
               : clippo_fail(&err, CLIPPO_E_NOMEM, "out of host memory");
  }
  if (!st && m && q->kind == REQ_FILES)
    st = clippo_embed_image_files(tm, items + lo, m, (int)q->threads, z, ok, ferr, &err);
  if (!st && m && q->kind == REQ_TEXTS) st = clippo_embed_texts_batched(tm, items + lo, m, z, &err);
  if (!st && m && q->kind == REQ_PIXELS) {
    size_t item = (size_t)(q->w * q->h * q->channels);
    size_t per = (size_t)tm->image_size * (size_t)tm->image_size * 3;
    inputs = malloc(m * (per ? per : 1) * sizeof *inputs);
    st = inputs ? clippo_pixels_to_inputs(payload + lo * item, m, (int)q->w, (int)q->h,
                                          (int)q->channels, tm->image_size, inputs, &err)
                : clippo_fail(&err, CLIPPO_E_NOMEM, "out of host memory");
    if (!st) st = clippo_model_embed_images(tm->model, inputs, m, CLIPPO_EMBED_Z, z, &err);
  }
  put_error(out, &err); /* status CLIPPO_OK: an empty message */
  if (!st) {
    clippo_strbuf_add(out, z, m * dim * sizeof *z);
    if (q->kind == REQ_FILES) {
      clippo_strbuf_add(out, ok, m);
      for (size_t i = 0; i < m; i++)
        if (!ok[i]) put_error(out, &ferr[i]);
    }
  }
  free(z);
  free(ok);
  free(ferr);
  free(items);
  free(inputs);
}

/* Unpacks rank r's result of request q into z (rows of its share), ok and file_errs. */
static clippo_status unpack(const clippo_dist *d, int r, const request *q, reader *rd, size_t dim,
                            float *z, unsigned char *ok, clippo_error *file_errs,
                            clippo_error *err) {
  size_t lo = 0, hi = 0;
  share(d, r, (size_t)q->n, &lo, &hi);
  clippo_error e;
  if (!get_error(rd, &e)) goto malformed;
  if (e.status != CLIPPO_OK)
    return clippo_fail(err, e.status, "rank %d (%s): %s", r, clippo_dist_host(d, r), e.msg);
  if (!get(rd, z + lo * dim, (hi - lo) * dim * sizeof *z)) goto malformed;
  if (q->kind != REQ_FILES) return CLIPPO_OK;
  if (!ok || !get(rd, ok + lo, hi - lo)) goto malformed;
  for (size_t i = lo; i < hi; i++) {
    if (ok[i]) continue;
    if (!get_error(rd, &e)) goto malformed;
    if (file_errs) file_errs[i] = e;
  }
  return CLIPPO_OK;
malformed:
  return clippo_fail(err, CLIPPO_E_FORMAT, "rank %d (%s) sent a malformed result", r,
                     clippo_dist_host(d, r));
}

/* Rank 0: broadcasts request q with its payload, embeds its own share, gathers every share. */
static clippo_status run_request(const clippo_dist *d, clippo_task_model *tm, request q,
                                 const void *payload, float *z, unsigned char *ok,
                                 clippo_error *file_errs, clippo_error *err) {
  clippo_status st = clippo_dist_bcast(d, 0, &q, sizeof q, "sending work", err);
  if (!st) st = clippo_dist_bcast(d, 0, (void *)payload, (size_t)q.bytes, "sending work", err);
  if (st) return st;
  clippo_strbuf mine = {0};
  serve_share(d, tm, &q, payload, &mine);
  if (mine.oom) return clippo_fail(err, CLIPPO_E_NOMEM, "out of host memory");
  void *all = NULL;
  size_t *counts = calloc((size_t)clippo_dist_size(d), sizeof *counts);
  st = counts ? clippo_dist_gather_bytes(d, 0, mine.p, mine.len, &all, counts,
                                         "gathering embeddings", err)
              : clippo_fail(err, CLIPPO_E_NOMEM, "out of host memory");
  clippo_strbuf_free(&mine);
  size_t at = 0;
  for (int r = 0; !st && r < clippo_dist_size(d); r++) {
    reader rd = {(const unsigned char *)all + at, counts[r], 0};
    st = unpack(d, r, &q, &rd, tm->dim, z, ok, file_errs, err);
    at += counts[r];
  }
  free(all);
  free(counts);
  return st;
}

/* The strings as one payload of NUL-terminated strings (malloc'ed; *n gets its bytes). */
static char *join(const char *const *s, size_t count, size_t *n) {
  size_t total = 0;
  for (size_t i = 0; i < count; i++) total += strlen(s[i]) + 1;
  char *p = malloc(total ? total : 1), *w = p;
  for (size_t i = 0; p && i < count; i++) {
    size_t l = strlen(s[i]) + 1;
    memcpy(w, s[i], l);
    w += l;
  }
  *n = total;
  return p;
}

static int single(const clippo_dist *d) { return clippo_dist_size(d) < 2; }

clippo_status cli_shard_device(const clippo_dist *d, const char *spec, char *buf, size_t cap,
                               const char **device, clippo_error *err) {
  *device = spec;
  if (single(d)) return CLIPPO_OK;
  clippo_status st = clippo_dist_device(d, spec, buf, cap, err);
  if (!st) *device = buf[0] ? buf : NULL;
  return st;
}

clippo_status cli_shard_embed_files(const clippo_dist *d, clippo_task_model *tm,
                                    const char *const *paths, size_t n, int threads, float *z,
                                    unsigned char *ok, clippo_error *file_errs, clippo_error *err) {
  if (single(d)) return clippo_embed_image_files(tm, paths, n, threads, z, ok, file_errs, err);
  size_t len = 0;
  char *payload = join(paths, n, &len);
  if (!payload) return clippo_fail(err, CLIPPO_E_NOMEM, "out of host memory");
  request q = {REQ_FILES, (int64_t)n, (int64_t)len, threads, 0, 0, 0};
  clippo_status st = run_request(d, tm, q, payload, z, ok, file_errs, err);
  free(payload);
  return st;
}

clippo_status cli_shard_embed_pixels(const clippo_dist *d, clippo_task_model *tm,
                                     const uint8_t *pixels, size_t n, int w, int h, int channels,
                                     float *z, clippo_error *err) {
  if (single(d)) {
    size_t per = (size_t)tm->image_size * (size_t)tm->image_size * 3;
    float *inputs = malloc((n ? n : 1) * per * sizeof *inputs);
    if (!inputs) return clippo_fail(err, CLIPPO_E_NOMEM, "out of host memory");
    clippo_status st =
        clippo_pixels_to_inputs(pixels, n, w, h, channels, tm->image_size, inputs, err);
    if (!st) st = clippo_model_embed_images(tm->model, inputs, n, CLIPPO_EMBED_Z, z, err);
    free(inputs);
    return st;
  }
  request q = {REQ_PIXELS, (int64_t)n, (int64_t)(n * (size_t)w * (size_t)h * (size_t)channels),
               0,          w,          h,
               channels};
  return run_request(d, tm, q, pixels, z, NULL, NULL, err);
}

clippo_status cli_shard_embed_texts(const clippo_dist *d, clippo_task_model *tm,
                                    const char *const *texts, size_t n, float *z,
                                    clippo_error *err) {
  if (single(d)) return clippo_embed_texts_batched(tm, texts, n, z, err);
  size_t len = 0;
  char *payload = join(texts, n, &len);
  if (!payload) return clippo_fail(err, CLIPPO_E_NOMEM, "out of host memory");
  request q = {REQ_TEXTS, (int64_t)n, (int64_t)len, 0, 0, 0, 0};
  clippo_status st = run_request(d, tm, q, payload, z, NULL, NULL, err);
  free(payload);
  return st;
}

clippo_status cli_shard_end(const clippo_dist *d, clippo_status st, clippo_error *err) {
  if (single(d)) return st;
  request q = {REQ_DONE, 0, 0, 0, 0, 0, 0};
  clippo_error e;
  if (clippo_dist_bcast(d, 0, &q, sizeof q, "ending the work", &e) != CLIPPO_OK) {
    if (!st) *err = e;
    return st ? st : e.status;
  }
  return clippo_dist_agree(d, st, NULL, err);
}

/* Serves rank 0's requests until it sends REQ_DONE. */
static clippo_status serve(const clippo_dist *d, clippo_task_model *tm, clippo_error *err) {
  for (;;) {
    request q;
    memset(&q, 0, sizeof q);
    clippo_status st = clippo_dist_bcast(d, 0, &q, sizeof q, "waiting for work", err);
    if (st) return st;
    if (q.kind == REQ_DONE) return CLIPPO_OK;
    if (q.kind < REQ_FILES || q.kind > REQ_TEXTS || q.n < 0 || q.bytes < 0)
      return clippo_fail(err, CLIPPO_E_FORMAT, "malformed request from rank 0");
    unsigned char *payload = malloc(q.bytes ? (size_t)q.bytes : 1);
    if (!payload) return clippo_fail(err, CLIPPO_E_NOMEM, "out of host memory");
    st = clippo_dist_bcast(d, 0, payload, (size_t)q.bytes, "receiving work", err);
    clippo_strbuf out = {0};
    if (!st) serve_share(d, tm, &q, payload, &out);
    free(payload);
    if (!st && out.oom) st = clippo_fail(err, CLIPPO_E_NOMEM, "out of host memory");
    void *none = NULL;
    if (!st)
      st = clippo_dist_gather_bytes(d, 0, out.p, out.len, &none, NULL, "sending results", err);
    clippo_strbuf_free(&out);
    free(none);
    if (st) return st;
  }
}

int cli_shard_worker(const char *cmd, const clippo_dist *d, const char *model, const char *spec,
                     const char *const *fonts, size_t nfonts, size_t batch) {
  clippo_task_model tm;
  memset(&tm, 0, sizeof tm);
  clippo_error err;
  clippo_error_clear(&err);
  char buf[256];
  const char *device = NULL;
  cli_interrupt sigs; /* Ctrl-C / SIGTERM: rank 0 ends the work after its batch */
  cli_interrupt_install(&sigs);
  clippo_status st = cli_shard_device(d, spec, buf, sizeof buf, &device, &err);
  if (!st) st = cli_task_model_open(cmd, model, device, fonts, nfonts, batch, &tm, &err);
  st = clippo_dist_agree(d, st, NULL, &err); /* every rank ready, or all stop */
  if (!st) st = serve(d, &tm, &err);
  if (!st) st = clippo_dist_agree(d, CLIPPO_OK, NULL, &err); /* rank 0's outcome */
  clippo_task_model_close(&tm);
  cli_interrupt_restore(&sigs);
  if (st) return cli_dist_report(cmd, d, &err); /* silent when rank 0 reports for all */
  return cli_interrupt_signal() ? cli_interrupt_exit_code() : 0;
}
