/* `clippo eval --text-pairs`: text-text retrieval recall on a text-pair TSV or the built-in
 * caption pairs (the evaluation side of text/text co-training). */
#ifndef CLIPPO_CLI_TEXT_PAIRS_H
#define CLIPPO_CLI_TEXT_PAIRS_H

#include "clippo/tasks.h"
#include "clippo/train.h"

/** Loads the pairs of spec (a TSV "TEXT<TAB>TEXT", or the built-in
 * CLIPPO_TEXT_PAIRS_BUILTIN[:LANG,LANG...] made from the installed
 * configs/fmnist_captions.json), at most limit of them (0: all), into links. 0, or 1 after
 * printing the error for cmd. */
int cli_text_pairs_load(const char *cmd, const char *spec, long limit, clippo_text_links *links);

/** Embeds both sides with tm and prints recall@1/5/10 first->second and second->first (a
 * table, or one JSON object with json); name and model label the output. 0, or 1 after printing
 * the error. */
int cli_text_pairs_eval(const char *cmd, const char *name, const char *model, int json,
                        clippo_task_model *tm, const clippo_text_links *links);

#endif
