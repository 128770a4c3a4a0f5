/* Learning-rate schedules as big_vision's utils.create_learning_rate_schedule computes them
 * (base 1: the optimizer multiplies by lr in its own step of the chain). */
#include <math.h>
#include <string.h>
#include <strings.h>

#include "clippo/train.h"

const char *clippo_sched_name(clippo_sched_kind k) {
  switch (k) {
  case CLIPPO_SCHED_CONSTANT: return "constant";
  case CLIPPO_SCHED_RSQRT: return "rsqrt";
  case CLIPPO_SCHED_COSINE: return "cosine";
  case CLIPPO_SCHED_LINEAR: return "linear";
  }
  return "?";
}

clippo_status clippo_sched_parse(const char *name, clippo_sched_kind *out, clippo_error *err) {
  if (!name) return clippo_fail(err, CLIPPO_E_ARG, "schedule: no name");
  if (!strcasecmp(name, "constant") || !strcasecmp(name, "none"))
    *out = CLIPPO_SCHED_CONSTANT;
  else if (!strcasecmp(name, "rsqrt"))
    *out = CLIPPO_SCHED_RSQRT;
  else if (!strcasecmp(name, "cosine"))
    *out = CLIPPO_SCHED_COSINE;
  else if (!strcasecmp(name, "linear"))
    *out = CLIPPO_SCHED_LINEAR;
  else
    return clippo_fail(err, CLIPPO_E_ARG,
                       "unknown schedule '%s' (constant, rsqrt, cosine or linear)", name);
  return CLIPPO_OK;
}

clippo_status clippo_schedule_check(const clippo_schedule *s, clippo_error *err) {
  if (s->total_steps < 0 || s->warmup_steps < 0 || s->cooldown_steps < 0)
    return clippo_fail(err, CLIPPO_E_ARG, "schedule: negative step counts");
  /* big_vision: "warmup_steps is >= total_steps" unless a 0- or 1-step debug run */
  if (s->total_steps > 1 && s->warmup_steps >= s->total_steps)
    return clippo_fail(err, CLIPPO_E_ARG,
                       "schedule: warmup (%lld steps) must be shorter than the run (%lld steps)",
                       (long long)s->warmup_steps, (long long)s->total_steps);
  if (s->kind == CLIPPO_SCHED_RSQRT && !(s->timescale > 0.0))
    return clippo_fail(err, CLIPPO_E_ARG, "schedule: rsqrt needs a positive timescale");
  if (!isfinite(s->shift) || !isfinite(s->linear_end) || !isfinite(s->timescale))
    return clippo_fail(err, CLIPPO_E_ARG, "schedule: values must be finite");
  return CLIPPO_OK;
}

int clippo_schedule_fit(clippo_schedule *s) {
  const int64_t total = s->total_steps, tenth = s->total_steps / 10;
  if (total <= 0 || s->warmup_steps + s->cooldown_steps <= total) return 0;
  int cut = 0;
  if (s->warmup_steps > tenth) {
    s->warmup_steps = tenth;
    cut |= 1;
  }
  if (s->cooldown_steps > tenth) {
    s->cooldown_steps = tenth;
    cut |= 2;
  }
  return cut;
}

double clippo_schedule_value(const clippo_schedule *s, int64_t step) {
  const double st = (double)step, warm = (double)s->warmup_steps;
  const double total = (double)s->total_steps;
  double lr = 1.0;
  double progress = total > warm ? (st - warm) / (total - warm) : 1.0;
  progress = progress < 0.0 ? 0.0 : progress > 1.0 ? 1.0 : progress;
  switch (s->kind) {
  case CLIPPO_SCHED_CONSTANT: break;
  case CLIPPO_SCHED_LINEAR: lr = s->linear_end + (lr - s->linear_end) * (1.0 - progress); break;
  case CLIPPO_SCHED_COSINE: lr = lr * 0.5 * (1.0 + cos(3.14159265358979323846 * progress)); break;
  case CLIPPO_SCHED_RSQRT:
    lr = st >= warm ? lr / sqrt(1.0 + (st + s->shift - warm) / s->timescale)
                    : lr / sqrt(1.0 + s->shift / s->timescale);
    break;
  }
  if (s->warmup_steps > 0) lr *= fmin(1.0, st / warm);
  if (s->cooldown_steps > 0) lr *= fmin(1.0, (total - st) / (double)s->cooldown_steps);
  return lr;
}
