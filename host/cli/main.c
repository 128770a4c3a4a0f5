/* The `clippo` program: dispatches to one subcommand per host/cli/cmd_NAME.c. */
#include <stdio.h>
#include <string.h>

typedef struct clippo_command {
  const char *name;
  int (*run)(int argc, char **argv);
  const char *summary;
} clippo_command;

#include "commands.h"

static void usage(FILE *out) {
  fprintf(out, "usage: clippo COMMAND [OPTIONS]\n\nCLIPPO (one ViT for images and rendered text) "
               "on any OpenCL device.\n\nCommands:\n");
  for (const clippo_command *c = clippo_commands; c->name; c++)
    fprintf(out, "  %-10s %s\n", c->name, c->summary);
  fprintf(out, "\nEvery command takes --help. The device is chosen with --device SPEC or "
               "CLIPPO_DEVICE\n(P:D indices, cpu, gpu, accelerator, or part of a platform or "
               "device name).\n");
}

int main(int argc, char **argv) {
  if (argc < 2) {
    usage(stderr);
    return 2;
  }
  if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
    usage(stdout);
    return 0;
  }
  if (!strcmp(argv[1], "--version")) argv[1] = "version";
  for (const clippo_command *c = clippo_commands; c->name; c++)
    if (!strcmp(argv[1], c->name)) return c->run(argc - 1, argv + 1);
  fprintf(stderr, "clippo: unknown command '%s'\n\n", argv[1]);
  usage(stderr);
  return 2;
}
