/* The `clippo` program: dispatches to one subcommand per host/cli/cmd_NAME.c. */
#include <stdio.h>
#include <string.h>

#include "cli_util.h"

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
  fprintf(out, "\nEvery command takes --help ('clippo help COMMAND' says the same). The device is "
               "chosen\nwith --device SPEC or CLIPPO_DEVICE (P:D indices, cpu, gpu, accelerator, "
               "or part of a\nplatform or device name).\n");
}

/* The command named name, or NULL. */
static const clippo_command *find_command(const char *name) {
  for (const clippo_command *c = clippo_commands; c->name; c++)
    if (!strcmp(name, c->name)) return c;
  return NULL;
}

/* The usage error for an unknown command, with a suggestion when one is near. */
static int unknown_command(const char *name) {
  const char *names[64];
  size_t n = 0;
  for (const clippo_command *c = clippo_commands; c->name && n < 64; c++) names[n++] = c->name;
  const char *s = cli_suggest(name, names, n);
  if (s)
    fprintf(stderr, "clippo: unknown command '%s' (did you mean '%s'?)\n\n", name, s);
  else
    fprintf(stderr, "clippo: unknown command '%s'\n\n", name);
  usage(stderr);
  return 2;
}

/* `clippo help [COMMAND]`: the program's usage, or COMMAND --help. */
static int help(int argc, char **argv) {
  if (argc < 3) {
    usage(stdout);
    return 0;
  }
  if (argc > 3) {
    fprintf(stderr, "clippo help: give one COMMAND (see 'clippo --help')\n");
    return 2;
  }
  const clippo_command *c = find_command(argv[2]);
  if (!c) return unknown_command(argv[2]);
  char *args[3] = {argv[2], "--help", NULL};
  return c->run(2, args);
}

int main(int argc, char **argv) {
  if (argc < 2) {
    usage(stderr);
    return 2;
  }
  if (!strcmp(argv[1], "help")) return help(argc, argv);
  if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
    usage(stdout);
    return 0;
  }
  if (!strcmp(argv[1], "--version")) argv[1] = "version";
  const clippo_command *c = find_command(argv[1]);
  if (c) return c->run(argc - 1, argv + 1);
  return unknown_command(argv[1]);
}
