/* The benchmark report as a Markdown document and as an SVG bar chart. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/bench_internal.h"
#include "clippo/strbuf.h"

static char *sb_take(clippo_strbuf *b) {
  if (b->oom) {
    free(b->p);
    return NULL;
  }
  if (!b->p) return calloc(1, 1);
  return b->p;
}

/* A number for a table, "-" when zero. */
static const char *num(char *buf, size_t size, double v, int prec) {
  if (v == 0 || !isfinite(v))
    snprintf(buf, size, "-");
  else
    snprintf(buf, size, "%.*f", prec, v);
  return buf;
}

/* Markdown cell text: '|' escaped, newlines as spaces. */
static void md_cell(clippo_strbuf *b, const char *s) {
  for (; *s; s++) {
    if (*s == '|')
      clippo_strbuf_printf(b, "\\|");
    else if (*s == '\n' || *s == '\r')
      clippo_strbuf_printf(b, " ");
    else
      clippo_strbuf_printf(b, "%c", *s);
  }
}

static const char *suite_titles[][2] = {
    {"probe", "Peak probe (kernels/probe.cl)"},
    {"build", "Kernel build time (every kernels/*.cl)"},
    {"ops", "Ops at ViT-B/16 shapes"},
    {"gemm", "GEMM: every ViT-B/16 product (forward and backward)"},
    {"embed", "End-to-end image embedding"},
    {"text", "Text rendering and embedding"},
    {"train", "Training"},
    {"profile", "Planned runs by step (--profile: the queue finished around every step)"}};

char *clippo_bench_markdown(const clippo_bench_report *r) {
  clippo_strbuf b = {0};
  char n1[32], n2[32];
  const clippo_device_info *d = &r->device;
  clippo_strbuf_printf(&b, "# clippo bench: %s\n\n", d->name);
  clippo_strbuf_printf(&b, "| | |\n|---|---|\n");
  clippo_strbuf_printf(&b, "| device | %d:%d %s (%s, %s) |\n", d->platform_index, d->device_index,
                       d->name, d->platform, clippo_device_type_name(d->type));
  clippo_strbuf_printf(&b, "| OpenCL | %s; driver %s |\n", d->version, d->driver);
  clippo_strbuf_printf(&b, "| compute units, memory | %u, %.1f GiB (max allocation %.1f GiB) |\n",
                       d->compute_units, (double)d->global_mem / 1073741824.0,
                       (double)d->max_alloc / 1073741824.0);
  clippo_strbuf_printf(&b, "| host | ");
  md_cell(&b, r->host);
  clippo_strbuf_printf(&b, " |\n| started | %s |\n", r->started);
  clippo_strbuf_printf(&b,
                       "| settings | %s, median of %d runs after %d warm-up, op/GEMM shapes at %zu "
                       "images; the engine's products in %s |\n",
                       r->quick ? "--quick" : "full", r->runs, r->warmup, r->images,
                       r->precision[0] ? r->precision : "fp32");
  clippo_strbuf_printf(&b, "| measured peak | %s GFLOP/s, %s GB/s (%s) |\n\n",
                       num(n1, sizeof n1, r->peak_gflops, 1), num(n2, sizeof n2, r->peak_gbps, 1),
                       r->peak_note[0] ? r->peak_note : "not measured");
  clippo_strbuf_printf(
      &b, "Times are per call: wall clock from the first enqueue to clFinish (median, min) "
          "and the span between OpenCL profiling events around the call (device). "
          "%% of peak is against the measured peak GFLOP/s for rows with a FLOP count, "
          "GB/s otherwise. Ratios: clippo over OpenBLAS on the host (GEMM); over the fastest "
          "peer runtime at the engine's precision (embedding, training: the int8 peers when "
          "the engine multiplies in int8, else the float32 ones), else PyTorch CPU.\n\n");
  for (size_t si = 0; si < sizeof suite_titles / sizeof suite_titles[0]; si++) {
    const char *sname = suite_titles[si][0];
    int any = 0;
    for (size_t i = 0; i < r->nrows; i++) any |= !strcmp(r->rows[i].suite, sname);
    if (!any) continue;
    clippo_strbuf_printf(&b, "## %s\n\n", suite_titles[si][1]);
    clippo_strbuf_printf(
        &b, "| name | impl | shape | runs | median ms | min ms | device ms | GFLOP/s | "
            "GB/s | %% peak | rate | ratio | status | note |\n");
    clippo_strbuf_printf(&b, "|---|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|---|\n");
    for (size_t i = 0; i < r->nrows; i++) {
      const clippo_bench_row *w = &r->rows[i];
      if (strcmp(w->suite, sname) != 0) continue;
      char a[32], c[32], e[32], f[32], g[32], h[32], k[48], l[48];
      clippo_strbuf_printf(&b, "| ");
      md_cell(&b, w->name);
      clippo_strbuf_printf(&b, " | ");
      md_cell(&b, w->impl);
      clippo_strbuf_printf(&b, " | ");
      md_cell(&b, w->shape);
      if (w->rate > 0)
        snprintf(k, sizeof k, "%.2f %s", w->rate, w->rate_unit);
      else
        snprintf(k, sizeof k, "-");
      if (w->ratio > 0)
        snprintf(l, sizeof l, "%.2fx %s", w->ratio, w->ratio_to);
      else
        snprintf(l, sizeof l, "-");
      clippo_strbuf_printf(
          &b, " | %d | %s | %s | %s | %s | %s | %s | %s | %s | %s | ", w->runs,
          num(a, sizeof a, w->median_s * 1e3, 3), num(c, sizeof c, w->min_s * 1e3, 3),
          num(e, sizeof e, w->device_s * 1e3, 3), num(f, sizeof f, w->gflops, 1),
          num(g, sizeof g, w->gbps, 1), num(h, sizeof h, w->pct_peak, 1), k, l, w->status);
      md_cell(&b, w->note);
      clippo_strbuf_printf(&b, " |\n");
    }
    clippo_strbuf_printf(&b, "\n");
  }
  return sb_take(&b);
}

/* XML-escaped text. */
static void svg_text(clippo_strbuf *b, const char *s) {
  for (; *s; s++) {
    switch (*s) {
    case '<': clippo_strbuf_printf(b, "&lt;"); break;
    case '>': clippo_strbuf_printf(b, "&gt;"); break;
    case '&': clippo_strbuf_printf(b, "&amp;"); break;
    case '"': clippo_strbuf_printf(b, "&quot;"); break;
    default: clippo_strbuf_printf(b, "%c", *s);
    }
  }
}

static const char *impl_color(const char *impl) {
  if (!strcmp(impl, "openblas-host")) return "#ed7d31";
  if (!strcmp(impl, "onednn-host")) return "#7f7f7f";
  if (!strcmp(impl, "pytorch-cpu")) return "#70ad47";
  if (!strncmp(impl, "peer-onnxruntime", 16)) return "#9e480e";
  if (!strcmp(impl, "peer-openvino")) return "#7030a0";
  if (!strncmp(impl, "peer-torch", 10)) return "#548235";
  return "#4472c4";
}

/* What a panel of the chart shows. */
enum { PANEL_GFLOPS, PANEL_GBPS, PANEL_RATE };

static double panel_value(const clippo_bench_row *w, int kind, const char *unit) {
  if (strcmp(w->status, "ok") != 0) return 0;
  if (kind == PANEL_GFLOPS) return w->gflops;
  if (kind == PANEL_GBPS) return w->flops > 0 ? 0 : w->gbps;
  return !strcmp(w->rate_unit, unit) ? w->rate : 0;
}

char *clippo_bench_svg(const clippo_bench_report *r) {
  /* Panels: GFLOP/s, GB/s, then one per rate unit. */
  struct {
    int kind;
    char unit[16];
    char title[96];
  } panels[8];
  int np = 0;
  panels[np].kind = PANEL_GFLOPS;
  snprintf(panels[np].title, sizeof panels[np].title, "GFLOP/s (dashed: measured peak)");
  panels[np++].unit[0] = '\0';
  panels[np].kind = PANEL_GBPS;
  snprintf(panels[np].title, sizeof panels[np].title, "GB/s, memory-bound ops (dashed: peak)");
  panels[np++].unit[0] = '\0';
  for (size_t i = 0; i < r->nrows && np < 8; i++) {
    const char *u = r->rows[i].rate_unit;
    if (!u[0] || r->rows[i].rate <= 0) continue;
    int seen = 0;
    for (int p = 0; p < np; p++) seen |= panels[p].kind == PANEL_RATE && !strcmp(panels[p].unit, u);
    if (seen) continue;
    panels[np].kind = PANEL_RATE;
    snprintf(panels[np].unit, sizeof panels[np].unit, "%s", u);
    snprintf(panels[np].title, sizeof panels[np].title, "%s", u);
    np++;
  }
  const int width = 960, label_w = 330, bar_w = 500, row_h = 16, head_h = 28;
  int height = 50;
  for (int p = 0; p < np; p++) {
    int n = 0;
    for (size_t i = 0; i < r->nrows; i++)
      n += panel_value(&r->rows[i], panels[p].kind, panels[p].unit) > 0;
    if (n) height += head_h + n * row_h + 14;
  }
  clippo_strbuf b = {0};
  clippo_strbuf_printf(
      &b,
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
      "font-family=\"sans-serif\" font-size=\"11\">\n"
      "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n"
      "<text x=\"10\" y=\"20\" font-size=\"14\" font-weight=\"bold\">clippo bench: ",
      width, height);
  svg_text(&b, r->device.name);
  clippo_strbuf_printf(&b, " (");
  svg_text(&b, r->device.platform);
  clippo_strbuf_printf(&b, ")%s</text>\n", r->quick ? " --quick" : "");
  clippo_strbuf_printf(
      &b, "<text x=\"10\" y=\"36\" fill=\"#555\">blue: clippo, orange: OpenBLAS on the "
          "host, green: PyTorch CPU; ");
  svg_text(&b, r->started);
  clippo_strbuf_printf(&b, "</text>\n");
  int y = 50;
  for (int p = 0; p < np; p++) {
    double vmax = 0;
    int n = 0;
    for (size_t i = 0; i < r->nrows; i++) {
      double v = panel_value(&r->rows[i], panels[p].kind, panels[p].unit);
      if (v > 0) n++;
      if (v > vmax) vmax = v;
    }
    if (!n) continue;
    double peak = panels[p].kind == PANEL_GFLOPS ? r->peak_gflops
                  : panels[p].kind == PANEL_GBPS ? r->peak_gbps
                                                 : 0;
    if (peak > vmax) vmax = peak;
    clippo_strbuf_printf(&b, "<text x=\"10\" y=\"%d\" font-size=\"13\" font-weight=\"bold\">",
                         y + 18);
    svg_text(&b, panels[p].title);
    clippo_strbuf_printf(&b, "</text>\n");
    y += head_h;
    int top = y;
    for (size_t i = 0; i < r->nrows; i++) {
      const clippo_bench_row *w = &r->rows[i];
      double v = panel_value(w, panels[p].kind, panels[p].unit);
      if (v <= 0) continue;
      char label[200];
      if (w->batch && (!strcmp(w->suite, "embed") || !strcmp(w->suite, "text")))
        snprintf(label, sizeof label, "%s %s batch %zu (%s)", w->suite, w->name, w->batch, w->impl);
      else if (!strcmp(w->suite, "probe"))
        snprintf(label, sizeof label, "probe %s: %.*s", w->name, (int)strcspn(w->shape, ","),
                 w->shape);
      else
        snprintf(label, sizeof label, "%s %s (%s)", w->suite, w->name, w->impl);
      double len = vmax > 0 ? v / vmax * bar_w : 0;
      clippo_strbuf_printf(&b, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">", label_w - 6, y + 12);
      svg_text(&b, label);
      clippo_strbuf_printf(
          &b,
          "</text><rect x=\"%d\" y=\"%d\" width=\"%.1f\" height=\"%d\" fill=\"%s\"/>"
          "<text x=\"%.1f\" y=\"%d\">%.*f</text>\n",
          label_w, y + 2, len, row_h - 4, impl_color(w->impl), label_w + len + 4, y + 12,
          v < 10 ? 2 : 1, v);
      y += row_h;
    }
    if (peak > 0) {
      double x = label_w + peak / vmax * bar_w;
      clippo_strbuf_printf(&b,
                           "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#c00\" "
                           "stroke-dasharray=\"4,3\"/><text x=\"%.1f\" y=\"%d\" fill=\"#c00\" "
                           "text-anchor=\"end\">peak %.3g</text>\n",
                           x, top, x, y, x - 2, top - 2, peak);
    }
    clippo_strbuf_printf(&b, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#333\"/>\n",
                         label_w, top, label_w, y);
    y += 14;
  }
  clippo_strbuf_printf(&b, "</svg>\n");
  return sb_take(&b);
}
