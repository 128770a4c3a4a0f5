/* `clippo tune`: measures the GEMM providers on the ViT-B/16 products and records the fastest
 * per shape class for the device (or, with --show, prints the current choice). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_util.h"
#include "clippo/gemm.h"

const char clippo_cmd_tune_summary[] =
    "measure the GEMM providers on a device and record the fastest per shape class";

static void usage(void) {
  printf("usage: clippo tune [--device SPEC] [--images N] [--reps N] [--providers LIST] "
         "[--quick] [--show] [--dry-run]\n\n"
         "Times every GEMM provider (clblast, hostblas, kernel, onednn) on the ViT-B/16 matrix\n"
         "products (forward and backward, attention batches included) and stores the fastest\n"
         "per shape class in the device's record in the cache folder, which later runs follow.\n"
         "Each provider is measured in two rounds and keeps its faster one. Where oneDNN is\n"
         "chosen, also how it multiplies a batch-1 embedding's 196 rows by declared weights\n"
         "(blocked copy or direct; recorded as declared=...).\n"
         "Without a record: oneDNN on CPU devices sharing the host's memory (the host BLAS\n"
         "when the build has no oneDNN); CLBlast on GPUs.\n\n"
         "  --device SPEC     the device (P:D, cpu, gpu, or part of a name; default "
         "CLIPPO_DEVICE)\n"
         "  --images N        images per batch for the shapes (default 8: 1568 tokens)\n"
         "  --reps N          timed runs per measurement, median (default 3)\n"
         "  --providers LIST  comma-separated providers to try (default: all the device runs)\n"
         "  --quick           one timed run and two kernel tilings per class\n"
         "  --show            measure nothing: print the provider each product would use now\n"
         "  --dry-run         measure but do not write the record\n\n"
         "CLBlast compiles its kernels on first use in each process (seconds on CPU devices).\n"
         "Env CLIPPO_GEMM=clblast|hostblas|kernel|onednn overrides the record at run time.\n\n"
         "Examples:\n"
         "  clippo tune --device cpu --quick\n"
         "  clippo tune --device 0:0 --providers clblast,kernel --dry-run\n"
         "  clippo tune --show\n");
}

/* Parses a comma-separated provider list into a bit mask; -1 on error (message printed). */
static int parse_providers(const char *list, unsigned *mask) {
  *mask = 0;
  char buf[256];
  snprintf(buf, sizeof buf, "%s", list);
  char *save = NULL;
  for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
    clippo_gemm_provider p;
    clippo_error err;
    if (clippo_gemm_provider_parse(t, &p, &err) != CLIPPO_OK || p == CLIPPO_GEMM_AUTO) {
      cli_usage_error("tune",
                      "--providers: unknown provider '%s' (clblast, hostblas, kernel, onednn)", t);
      return -1;
    }
    *mask |= 1u << p;
  }
  if (!*mask) {
    cli_usage_error("tune", "--providers: empty list");
    return -1;
  }
  return 0;
}

static void print_gflops(double g) {
  if (g > 0)
    printf(" %9.1f", g);
  else if (g < -1.5)
    printf(" %9s", "too slow");
  else if (g < 0)
    printf(" %9s", "failed");
  else
    printf(" %9s", "-");
}

/* --show: the provider each product would use now. Returns the exit code. */
static int show_choices(clippo_rt *rt, const clippo_gemm_shape *shapes, size_t ns) {
  printf("%-11s %-9s %-22s %-9s %-12s %s\n", "shape", "class", "m x n x k", "batch", "provider",
         "source");
  for (size_t i = 0; i < ns; i++) {
    const clippo_gemm_shape *s = &shapes[i];
    clippo_gemm_choice ch;
    clippo_error err;
    if (clippo_gemm_choose(rt, s->trans_a, s->trans_b, s->m, s->n, s->k, s->batch, &ch, &err))
      return cli_report("tune", &err);
    char dims[64];
    snprintf(dims, sizeof dims, "%zux%zux%zu%s%s", s->m, s->n, s->k, s->trans_a ? " tA" : "",
             s->trans_b ? " tB" : "");
    printf("%-11s %-9s %-22s %-9zu %-12s %s", s->name, ch.shape_class, dims, s->batch,
           clippo_gemm_provider_name(ch.provider), ch.source);
    if (ch.provider == CLIPPO_GEMM_KERNEL) {
      char cfg[64];
      clippo_gemm_kernel_cfg_format(&ch.kernel, cfg, sizeof cfg);
      printf(" (tiles %s)", cfg);
    }
    if (ch.provider == CLIPPO_GEMM_ONEDNN && s->weights && ch.declared_direct)
      printf(" (declared weights, <= 256 rows: direct)");
    printf("\n");
  }
  return 0;
}

/* The measurements and the choice per shape class. */
static void print_report(const clippo_gemm_tune_report *rep, int reps, int dry) {
  printf("\nGFLOP/s (median of %d)\n%-11s %-9s", reps, "shape", "class");
  for (int p = 1; p < CLIPPO_GEMM_NPROVIDERS; p++)
    printf(" %9s", clippo_gemm_provider_name((clippo_gemm_provider)p));
  printf("\n");
  for (size_t i = 0; i < rep->nrows; i++) {
    printf("%-11s %-9s", rep->rows[i].shape.name, rep->rows[i].shape_class);
    for (int p = 1; p < CLIPPO_GEMM_NPROVIDERS; p++) print_gflops(rep->rows[i].gflops[p]);
    printf("\n");
  }
  printf("\nchoice per shape class\n");
  for (size_t i = 0; i < rep->nclasses; i++) {
    const clippo_gemm_class_choice *c = &rep->classes[i];
    printf("%-9s %-9s", c->shape_class, clippo_gemm_provider_name(c->provider));
    if (c->kernel.tm) {
      char cfg[64];
      clippo_gemm_kernel_cfg_format(&c->kernel, cfg, sizeof cfg);
      printf(" kernel tiles %-16s", cfg);
    }
    printf("  (ms:");
    for (int p = 1; p < CLIPPO_GEMM_NPROVIDERS; p++)
      if (c->seconds[p] > 0)
        printf(" %s %.1f", clippo_gemm_provider_name((clippo_gemm_provider)p), c->seconds[p] * 1e3);
    printf(")\n");
    if (c->declared_seconds[0] > 0 && c->declared_seconds[1] > 0)
      printf("%-9s declared weights, 196 rows: %s (ms: blocked %.2f direct %.2f)\n", "",
             c->declared_seconds[1] < c->declared_seconds[0] ? "direct" : "blocked",
             c->declared_seconds[0] * 1e3, c->declared_seconds[1] * 1e3);
  }
  if (rep->failures[0])
    fprintf(stderr, "clippo tune: providers that failed or were dropped:\n%s", rep->failures);
  if (rep->record_path[0])
    printf("\nwrote %s\n", rep->record_path);
  else
    printf("\nrecord not written%s\n", dry ? " (--dry-run)" : " (no cache folder)");
}

int clippo_cmd_tune(int argc, char **argv) {
  const char *device = NULL, *provider_list = NULL;
  long images = 8, reps = 3;
  int quick = 0, show = 0, dry = 0;
  unsigned providers = 0;
  const cli_option opts[] = {
      {"--device", CLI_DEVICE, &device, 0, 0}, {"--images", CLI_LONG, &images, 1, 256},
      {"--reps", CLI_LONG, &reps, 1, 16},      {"--providers", CLI_STRING, &provider_list, 0, 0},
      {"--quick", CLI_SET, &quick, 0, 0},      {"--show", CLI_SET, &show, 0, 0},
      {"--dry-run", CLI_SET, &dry, 0, 0},
  };
  int prc = cli_parse("tune", argc, argv, opts, sizeof opts / sizeof opts[0], NULL);
  if (prc < 0) usage();
  if (prc) return prc < 0 ? 0 : prc;
  if (provider_list && parse_providers(provider_list, &providers)) return 2;

  clippo_error err;
  clippo_rt *rt = NULL;
  if (clippo_rt_create(&rt, device, &err)) return cli_report("tune", &err);
  clippo_gemm_shape shapes[32];
  size_t ns = clippo_gemm_vit_b16_shapes((size_t)images, shapes, 32);
  if (ns > 32) ns = 32;
  char path[1100];
  clippo_gemm_record_path(rt, path, sizeof path);
  printf("device: %s / %s\n", rt->info.platform, rt->info.name);
  printf("record: %s\n", path[0] ? path : "(none: no cache folder)");
  if (clippo_gemm_provider_available(rt, CLIPPO_GEMM_HOSTBLAS)) {
    char blas[256];
    clippo_gemm_hostblas_describe(blas, sizeof blas);
    printf("hostblas: %s\n", blas);
  }
  if (clippo_gemm_provider_available(rt, CLIPPO_GEMM_ONEDNN)) {
    char dnnl[256];
    clippo_gemm_onednn_describe(dnnl, sizeof dnnl);
    printf("onednn: %s\n", dnnl);
  }
  if (show) {
    int rc = show_choices(rt, shapes, ns);
    clippo_rt_destroy(rt);
    return rc;
  }

  clippo_gemm_tune_opts o;
  memset(&o, 0, sizeof o);
  o.shapes = shapes;
  o.nshapes = ns;
  o.providers = providers;
  o.reps = quick ? 1 : (int)reps;
  o.kernel_cfgs = quick ? 2 : 0;
  o.no_save = dry;
  fprintf(stderr, "clippo tune: measuring %zu products, this takes a while...\n", ns);
  clippo_gemm_tune_report rep;
  if (clippo_gemm_tune(rt, &o, &rep, &err)) {
    clippo_rt_destroy(rt);
    return cli_report("tune", &err);
  }
  print_report(&rep, o.reps, dry);
  clippo_gemm_tune_report_free(&rep);
  clippo_rt_destroy(rt);
  return 0;
}
