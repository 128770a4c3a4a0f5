/* The progress of a training run on stderr (cli_train_progress.h). */
#include "cli_train_progress.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

void cli_train_progress_init(cli_train_progress *ps, const char *cmd, const char *unit, int quiet) {
  ps->cmd = cmd;
  ps->unit = unit;
  ps->quiet = quiet;
  ps->tty = isatty(2);
  ps->open_line = 0;
  ps->every = 1;
}

static void fmt_time(double s, char *buf, size_t cap) {
  if (!isfinite(s) || s < 0) s = 0;
  long t = (long)(s + 0.5);
  if (t >= 3600)
    snprintf(buf, cap, "%ldh%02ldm", t / 3600, (t / 60) % 60);
  else if (t >= 60)
    snprintf(buf, cap, "%ldm%02lds", t / 60, t % 60);
  else
    snprintf(buf, cap, "%lds", t);
}

void cli_train_progress_cb(const clippo_train_progress *p, void *user) {
  cli_train_progress *ps = user;
  if (ps->quiet) return;
  if (p->message) { /* before the first step: what runs, and notices; a line each */
    for (const char *m = p->message; *m;) {
      size_t n = strcspn(m, "\n");
      fprintf(stderr, "clippo %s: %.*s\n", ps->cmd, (int)n, m);
      m += n + (m[n] == '\n');
    }
    ps->every = p->total >= 20 ? p->total / 20 : 1;
    return;
  }
  if (p->stopping) {
    if (ps->open_line) fputc('\n', stderr);
    ps->open_line = 0;
    fprintf(stderr,
            "clippo %s: interrupted: stopping after step %lld (Ctrl-C again quits at once)\n",
            ps->cmd, (long long)p->step);
    return;
  }
  char eta[32];
  fmt_time(p->eta_s, eta, sizeof eta);
  if (ps->tty) {
    int width = 24, fill = p->total > 0 ? (int)(width * p->step / p->total) : width;
    char bar[32];
    for (int i = 0; i < width; i++) bar[i] = i < fill ? '=' : ' ';
    bar[width] = '\0';
    fprintf(stderr, "\rstep %lld/%lld [%s] loss %.4f  %.1f %s/s  ETA %s%s ", (long long)p->step,
            (long long)p->total, bar, p->loss, p->pairs_per_s, ps->unit, eta,
            p->checkpointed ? "  (saved)" : "");
    ps->open_line = 1;
    if (p->step == p->total) {
      fputc('\n', stderr);
      ps->open_line = 0;
    }
  } else if (p->step % ps->every == 0 || p->step == p->total || p->step == 1) {
    fprintf(stderr, "step %lld/%lld loss %.6f lr %.3g grad-norm %.4g %.1f %s/s ETA %s%s\n",
            (long long)p->step, (long long)p->total, p->loss, p->lr, p->grad_norm, p->pairs_per_s,
            ps->unit, eta, p->checkpointed ? " (saved)" : "");
  }
  fflush(stderr);
}
