/* Progress on stderr: a bar on a terminal, periodic lines otherwise; the runtime's notices. */
#include "cli_progress.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define BAR_WIDTH 30
#define BAR_DELAY_S 1.0   /* a bar appears after this long */
#define LINE_DELAY_S 2.0  /* the first plain line after this long */
#define LINE_PERIOD_S 5.0 /* then one every this long */
#define BAR_PERIOD_S 0.1  /* bar redraws at most this often */

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* The display mode from CLIPPO_PROGRESS and whether stderr is a terminal. */
static int choose_mode(int quiet) {
  if (quiet) return 0;
  const char *e = getenv("CLIPPO_PROGRESS");
  if (e && (!strcmp(e, "off") || !strcmp(e, "0"))) return 0;
  if (e && !strcmp(e, "lines")) return 1;
  if (e && !strcmp(e, "bar")) return 2;
  return isatty(STDERR_FILENO) ? 2 : 1;
}

void cli_progress_start(cli_progress *p, const char *cmd, const char *unit, size_t total,
                        int quiet) {
  memset(p, 0, sizeof *p);
  p->cmd = cmd;
  p->unit = unit;
  p->total = total;
  p->mode = choose_mode(quiet);
  p->t0 = now_s();
  p->delay = p->mode == 2 ? BAR_DELAY_S : LINE_DELAY_S;
  p->period = p->mode == 2 ? BAR_PERIOD_S : LINE_PERIOD_S;
  const char *iv = getenv("CLIPPO_PROGRESS_INTERVAL");
  if (iv && *iv) {
    char *end = NULL;
    double v = strtod(iv, &end);
    if (end && !*end && v >= 0 && v < 1e6) {
      p->period = v;
      if (p->delay > v) p->delay = v;
    }
  }
}

/* "1:05" or "2:01:05". */
static void format_duration(char *buf, size_t cap, double s) {
  long t = (long)(s + 0.5);
  if (t >= 3600)
    snprintf(buf, cap, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
  else
    snprintf(buf, cap, "%ld:%02ld", t / 60, t % 60);
}

void cli_progress_format(char *buf, size_t cap, const cli_progress *p, double now, int bar_width) {
  if (!cap) return;
  double el = now - p->t0;
  double rate = el > 0 ? (double)p->done / el : 0.0;
  char bar[128] = "", count[64], tail[64] = "";
  if (bar_width > 0 && p->total) {
    if (bar_width > 100) bar_width = 100;
    size_t w = (size_t)bar_width;
    size_t fill = (size_t)((double)w * (double)p->done / (double)p->total);
    if (fill > w) fill = w;
    size_t o = 0;
    bar[o++] = '[';
    for (size_t i = 0; i < w; i++)
      bar[o++] = i < fill ? '=' : (i == fill && p->done < p->total ? '>' : ' ');
    bar[o++] = ']';
    bar[o++] = ' ';
    bar[o] = '\0';
  }
  if (p->total)
    snprintf(count, sizeof count, "%zu/%zu %s", p->done, p->total, p->unit);
  else
    snprintf(count, sizeof count, "%zu %s", p->done, p->unit);
  if (bar_width <= 0 && p->total) {
    size_t len = strlen(count);
    snprintf(count + len, sizeof count - len, " (%d%%)",
             (int)(100.0 * (double)p->done / (double)p->total));
  }
  if (p->total && p->done >= p->total) {
    char d[32];
    format_duration(d, sizeof d, el);
    snprintf(tail, sizeof tail, "  in %s", d);
  } else if (p->total && rate > 0 && (double)(p->total - p->done) / rate < 1e7) {
    char d[32];
    format_duration(d, sizeof d, (double)(p->total - p->done) / rate);
    snprintf(tail, sizeof tail, "  ETA %s", d);
  }
  snprintf(buf, cap, "%s%s  %.1f %s/s%s", bar, count, rate, p->unit, tail);
}

/* Draws the current state (a bar in place, or a line). */
static void draw(cli_progress *p, double now) {
  char line[256];
  cli_progress_format(line, sizeof line, p, now, p->mode == 2 ? BAR_WIDTH : 0);
  if (p->mode == 2) {
    fprintf(stderr, "\r\033[Kclippo %s: %s", p->cmd, line);
    p->on_screen = 1;
  } else {
    fprintf(stderr, "clippo %s: %s\n", p->cmd, line);
  }
  fflush(stderr);
  p->shown = 1;
  p->last = now;
}

void cli_progress_update(cli_progress *p, size_t done) {
  p->done = done;
  if (!p->mode) return;
  double now = now_s();
  if (now - p->t0 < p->delay) return;
  if (p->shown && now - p->last < p->period) return;
  draw(p, now);
}

void cli_progress_add(cli_progress *p, size_t n) { cli_progress_update(p, p->done + n); }

void cli_progress_message(cli_progress *p, const char *fmt, ...) {
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (p->on_screen) {
    fprintf(stderr, "\r\033[K");
    p->on_screen = 0;
    p->last = 0; /* redraw the bar at the next update */
  }
  fprintf(stderr, "clippo %s: %s\n", p->cmd, msg);
}

void cli_progress_finish(cli_progress *p) {
  if (p->mode && p->shown) {
    draw(p, now_s());
    if (p->mode == 2) fputc('\n', stderr);
  }
  p->on_screen = 0;
  p->mode = 0;
}

/* The runtime's hook: user is the command name. */
static void on_runtime_event(const void *user, const clippo_rt *rt, clippo_rt_event event) {
  if (event != CLIPPO_RT_EVENT_COMPILING) return;
  const char *cmd = user;
  if (rt->cache_dir[0])
    fprintf(stderr, "clippo %s: compiling OpenCL kernels for %s (first run; cached in %s)\n", cmd,
            rt->info.name, rt->cache_dir);
  else
    fprintf(stderr, "clippo %s: compiling OpenCL kernels for %s (the kernel cache is off)\n", cmd,
            rt->info.name);
}

void cli_watch_runtime(const char *cmd, clippo_rt *rt) {
  if (!rt) return;
  rt->notify = on_runtime_event;
  rt->notify_user = cmd;
}
