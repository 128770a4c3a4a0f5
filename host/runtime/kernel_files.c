/* The list of embedded kernel files, for callers that walk every one (the build benchmark). */
#include "clippo/runtime.h"
#include "kernel_sources.h"

const char *clippo_kernel_file(size_t i, const char **text, size_t *len) {
  for (size_t j = 0; clippo_kernel_sources[j].name; j++) {
    if (j != i) continue;
    if (text) *text = clippo_kernel_sources[j].text;
    if (len) *len = clippo_kernel_sources[j].len;
    return clippo_kernel_sources[j].name;
  }
  return NULL;
}
