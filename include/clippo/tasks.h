/* Tasks: what users run CLIPPO for. Zero-shot classification with big_vision's prompt
 * templates (REFERENCE.md §5), a persistent cache of prompt embeddings, an HDF5 image index for
 * text->image and image->image search, and the metrics of `clippo eval`. */
#ifndef CLIPPO_TASKS_H
#define CLIPPO_TASKS_H

#include <stddef.h>
#include <stdint.h>

#include "clippo/model.h"
#include "clippo/status.h"
#include "clippo/text.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------------------------------------
 * Prompt templates and canonicalisation (big_vision evaluators/proj/image_text/
 * prompt_engineering.py)
 * ------------------------------------------------------------------------------------------- */

/** Number of templates in the "clip_paper" set: the 80 CLIP-paper ImageNet prompts plus "{}". */
#define CLIPPO_CLIP_PAPER_TEMPLATES 81

/** A built-in template set by name: "clip_paper" (81 prompts), "clip_best" (8) or
 * "class_name_only" / "none" (just "{}"). The strings are big_vision's, not canonicalised.
 * Returns NULL for an unknown name; *n gets the count. */
const char *const *clippo_templates_builtin(const char *name, size_t *n);

/** big_vision's _canonicalize(text, keep_punctuation_exact_string=keep): '_' -> ' ', ASCII
 * punctuation (Python's string.punctuation) removed except occurrences of the exact ASCII string
 * `keep` (NULL or "" keeps none), lowercased as Python's str.lower() does (full Unicode 14
 * mapping, final sigma included), runs of Unicode whitespace (str.isspace) collapsed to one
 * space and stripped at both ends. Bytes that are not valid UTF-8 pass through unchanged.
 * Returns a malloc'ed NUL-terminated string, or NULL when out of memory. */
char *clippo_canonicalize(const char *text, size_t len, const char *keep);

/** A list of prompt templates, each holding exactly one "{}". */
typedef struct clippo_templates {
  size_t count;
  char **items;
} clippo_templates;

/** Loads templates from spec: a built-in set name (clippo_templates_builtin) or a text file
 * with one template per line (blank lines and lines starting with '#' are skipped). When
 * canonicalize is set each template is canonicalised keeping "{}" (as big_vision does by
 * default). A template without exactly one "{}" is an error naming it (and file:line). */
clippo_status clippo_templates_load(const char *spec, int canonicalize, clippo_templates *out,
                                    clippo_error *err);

/** Parses templates from text, one per line as in a templates file (a leading UTF-8 byte order
 * mark dropped); name stands for the text in messages ("NAME:LINE"). */
clippo_status clippo_templates_parse(const char *text, size_t len, const char *name,
                                     int canonicalize, clippo_templates *out, clippo_error *err);

/** The default templates of zero-shot tasks: a model's recorded training prompts
 * (model_prompts: the CLIPPO_PROMPTS_ATTR text, one template per line) when it has them, else
 * clip_best (8 prompts: fewer embeddings than clip_paper's 81, and better on models trained
 * with short captions). *source names what was used ("the model's training prompts" or
 * "clip_best"). */
clippo_status clippo_templates_for_model(const char *model_prompts, int canonicalize,
                                         clippo_templates *out, const char **source,
                                         clippo_error *err);

/** Frees the templates and zeroes t. */
void clippo_templates_free(clippo_templates *t);

/** The text of template tmpl with its "{}" replaced by name (malloc'ed). CLIPPO_E_ARG when
 * tmpl does not hold exactly one "{}". */
clippo_status clippo_prompt_format(const char *tmpl, const char *name, char **out,
                                   clippo_error *err);

/** Class names: what is shown (label) and what goes into the prompts (prompt_name). */
typedef struct clippo_classes {
  size_t count;
  char **labels;       /* as given up to the first ',' (surrounding whitespace trimmed) */
  char **prompt_names; /* canonicalised keeping ',', then the first ','-separated alias */
} clippo_classes;

/** Adds a class. With canonicalize, the prompt name is big_vision's canonical form: the name
 * canonicalised keeping ',' and cut at its first ',' (first_class_name_only); otherwise the
 * trimmed name itself. A name empty after that is an error naming it. */
clippo_status clippo_classes_add(clippo_classes *c, const char *name, int canonicalize,
                                 clippo_error *err);

/** Adds the classes of a comma-separated list ("cat,dog,red car"). */
clippo_status clippo_classes_parse_list(const char *list, int canonicalize, clippo_classes *c,
                                        clippo_error *err);

/** Adds the classes of a file, one per line (blank lines and lines starting with '#' skipped,
 * a leading UTF-8 byte order mark dropped; commas inside a line separate aliases, the first is
 * the label and the prompt name). */
clippo_status clippo_classes_load_file(const char *path, int canonicalize, clippo_classes *c,
                                       clippo_error *err);

/** The first class before class i with the same prompt name (such classes get the same
 * embedding and cannot be told apart), or (size_t)-1. */
size_t clippo_classes_duplicate_of(const clippo_classes *c, size_t i);

/** Frees the class list and zeroes it. */
void clippo_classes_free(clippo_classes *c);

/** The ten Fashion-MNIST class names in label order ("T-shirt/top", ..., "Ankle boot"). */
extern const char *const clippo_fashion_mnist_classes[10];

/* ---------------------------------------------------------------------------------------------
 * Embedding math
 * ------------------------------------------------------------------------------------------- */

/** A class embedding as big_vision's _average_embeddings: the mean of the n prompt embeddings
 * z[n][dim] (already L2-normalised by the model), divided by (1e-8 + its L2 norm). */
void clippo_class_embedding(const float *z, size_t n, size_t dim, float *out);

/** Writes softmax(scale * logits[0..n)) to probs (may alias logits), computed in double. */
void clippo_softmax_scaled(const float *logits, size_t n, float scale, float *probs);

/** The indices of the k largest scores[0..n), best first (ties: lower index first). Writes
 * min(k, n) indices and returns that count. */
size_t clippo_topk(const float *scores, size_t n, size_t k, size_t *idx);

/** Rank (0-based) of scores[target] among scores[0..n): how many entries beat it (greater, or
 * equal with a lower index). */
size_t clippo_rank_of(const float *scores, size_t n, size_t target);

/* ---------------------------------------------------------------------------------------------
 * Model identity and the prompt-embedding cache
 * ------------------------------------------------------------------------------------------- */

/** Size of an identity string buffer. */
#define CLIPPO_IDENTITY_MAX 96

/** The default cache folder, as the runtime's settings give it (clippo_settings_from_env:
 * $CLIPPO_CACHE_DIR, "off" disables: "", else $XDG_CACHE_HOME/clippo, else ~/.cache/clippo).
 * Writes "" when caching is off, no home is known or the environment is malformed. A task with
 * a runtime uses rt->cache_dir instead. */
void clippo_cache_dir(char *dir, size_t cap);

/** The identity of a model: "p1-<32 hex digits>", a 128-bit hash of its parameters' names,
 * shapes and float32 values in name order plus the config fields the shapes do not give (heads,
 * pool, ln_eps). The same parameters have the same identity whatever the file: .npz or HDF5,
 * params-only or a training checkpoint with optimizer state. The model file is loaded once and
 * its identity remembered in cache_dir/model-identities.tsv keyed by (real path, size, mtime,
 * inode); cache_dir NULL or "" computes it every time. */
clippo_status clippo_model_identity(const char *path, const char *cache_dir,
                                    char out[CLIPPO_IDENTITY_MAX], clippo_error *err);

/** The identity clippo_model_identity gives a loaded config and its (float32) parameters. */
clippo_status clippo_params_identity(const clippo_config *cfg, const clippo_params *params,
                                     char out[CLIPPO_IDENTITY_MAX], clippo_error *err);

/** The older identity of a model file, which indexes written by clippo before 0.2 record:
 * "c1-<32 hex digits of a 128-bit hash of the file's bytes>-<size>". Remembered in
 * cache_dir/identities.tsv like clippo_model_identity. */
clippo_status clippo_file_identity(const char *path, const char *cache_dir,
                                   char out[CLIPPO_IDENTITY_MAX], clippo_error *err);

/** *match = 1 when an identity recorded by an index or cache names the model at model_path,
 * whose clippo_model_identity is model_id: equal identities, or for a recorded "c1-" identity
 * (the older, file-content kind) the same file content. */
clippo_status clippo_identity_matches(const char *recorded, const char *model_path,
                                      const char *model_id, const char *cache_dir, int *match,
                                      clippo_error *err);

/** The 128-bit hash used by clippo_file_identity over a memory buffer (32 hex digits + NUL). */
void clippo_hash128_hex(const void *data, size_t len, char out[33]);

/** Prompt embeddings remembered across runs (opaque). One HDF5 file holds a group per
 * (model identity, font identity); the least recently used groups beyond 8 are dropped. */
typedef struct clippo_prompt_cache clippo_prompt_cache;

/** Opens the cache at path (NULL or "": a cache that remembers nothing across runs) for this model,
 * font and embedding size, loading the embeddings stored for them. A missing file is an empty
 * cache; an unreadable or corrupt one is ignored (and replaced on save) with a note in
 * clippo_prompt_cache_warning. */
clippo_status clippo_prompt_cache_open(const char *path, const char *model_id, const char *font_id,
                                       size_t dim, clippo_prompt_cache **out, clippo_error *err);

/** Copies the embedding of prompt into z (dim floats) and returns 1 if cached; else 0. */
int clippo_prompt_cache_get(const clippo_prompt_cache *c, const char *prompt, float *z);

/** Remembers the embedding of prompt (replacing an older one). */
clippo_status clippo_prompt_cache_put(clippo_prompt_cache *c, const char *prompt, const float *z,
                                      clippo_error *err);

/** Writes the cache file atomically (temporary file + rename) if anything was added; the other
 * (model, font) groups of the file are kept. */
clippo_status clippo_prompt_cache_save(clippo_prompt_cache *c, clippo_error *err);

/** Number of prompts the cache holds for this model and font. */
size_t clippo_prompt_cache_count(const clippo_prompt_cache *c);

/** A note about a cache file that could not be used ("" when none). */
const char *clippo_prompt_cache_warning(const clippo_prompt_cache *c);

/** The path of the cache file ("" when the cache is memory-only). */
const char *clippo_prompt_cache_path(const clippo_prompt_cache *c);

/** Frees the cache (without saving). NULL is fine. */
void clippo_prompt_cache_free(clippo_prompt_cache *c);

/* ---------------------------------------------------------------------------------------------
 * A model ready for tasks, and zero-shot classification
 * ------------------------------------------------------------------------------------------- */

/** Everything a task needs: device, model, font and their identities. */
typedef struct clippo_task_model {
  clippo_rt *rt;
  clippo_model *model;
  clippo_font *font;
  char identity[CLIPPO_IDENTITY_MAX]; /* clippo_model_identity of the model */
  char cache_dir[1024];               /* the runtime's cache folder ("" when off) */
  int image_size;
  size_t dim;    /* embedding size (CLIPPO_EMBED_Z) */
  size_t batch;  /* images or texts per device call */
  char *prompts; /* the checkpoint's CLIPPO_PROMPTS_ATTR (templates, one per line), or NULL */
} clippo_task_model;

/** The checkpoint attribute that records the prompt templates a model was trained with, one per
 * line (the default templates of zero-shot tasks for that model). */
#define CLIPPO_PROMPTS_ATTR "prompts"

/** Opens the device (spec as clippo_rt_create), loads the model file (keeping its recorded
 * prompts) and the font (clippo_font_load(fonts, nfonts)), computes the model identity and sets
 * the batch size (0 = 8). On failure everything is released. */
clippo_status clippo_task_model_open(const char *model_path, const char *device,
                                     const char *const *fonts, size_t nfonts, size_t batch,
                                     clippo_task_model *tm, clippo_error *err);

/** clippo_task_model_open on a runtime the caller created (and set up: its notify hook, its
 * precision), which tm then owns: it is released with tm, or at once on failure. */
clippo_status clippo_task_model_open_on(clippo_rt *rt, const char *model_path,
                                        const char *const *fonts, size_t nfonts, size_t batch,
                                        clippo_task_model *tm, clippo_error *err);

/** Releases what clippo_task_model_open acquired and zeroes tm. */
void clippo_task_model_close(clippo_task_model *tm);

/** Embeds n image files (decode | resize | value_range) into z[n][dim] in batches of tm->batch.
 * ok[i] gets 1 for a file embedded, 0 for one that could not be read or decoded (its row is
 * zeroed and, when file_errs is not NULL, file_errs[i] says why, naming the file). Files are
 * decoded on up to `threads` threads (0 = 4). Fails only for device or memory errors. */
clippo_status clippo_embed_image_files(clippo_task_model *tm, const char *const *paths, size_t n,
                                       int threads, float *z, unsigned char *ok,
                                       clippo_error *file_errs, clippo_error *err);

/** Embeds n texts (rendered with tm->font) into z[n][dim], in batches of tm->batch. */
clippo_status clippo_embed_texts_batched(clippo_task_model *tm, const char *const *texts, size_t n,
                                         float *z, clippo_error *err);

/** Statistics of building a classifier. */
typedef struct clippo_classifier_stats {
  size_t prompts;    /* prompts needed (classes x templates) */
  size_t cache_hits; /* prompts found in the cache */
  size_t embedded;   /* prompts rendered and embedded now */
  char cache_warning[512];
} clippo_classifier_stats;

/** A zero-shot classifier: one unit embedding per class and the model's logit scale. */
typedef struct clippo_classifier {
  size_t count; /* classes */
  size_t dim;
  float *z; /* (count, dim) */
  float logit_scale;
} clippo_classifier;

/** Builds the class embeddings: for each class and template, the prompt
 * template.replace("{}", prompt_name), embedded (or read from the prompt cache at cache_path:
 * NULL = default file, "" = none), averaged and renormalised (clippo_class_embedding). New
 * prompt embeddings are saved to the cache. stats may be NULL. */
clippo_status clippo_classifier_build(clippo_task_model *tm, const clippo_classes *classes,
                                      const clippo_templates *templates, const char *cache_path,
                                      clippo_classifier *out, clippo_classifier_stats *stats,
                                      clippo_error *err);

/** Cosine similarities zimg . class_z^T (count floats) of one image embedding. */
void clippo_classifier_logits(const clippo_classifier *c, const float *zimg, float *logits);

/** Class probabilities: softmax(logit_scale * logits) over all classes (count floats). */
void clippo_classifier_probs(const clippo_classifier *c, const float *zimg, float *probs);

/** Frees the classifier and zeroes it. */
void clippo_classifier_free(clippo_classifier *c);

/* ---------------------------------------------------------------------------------------------
 * Image files and the search index
 * ------------------------------------------------------------------------------------------- */

/** A list of paths. */
typedef struct clippo_path_list {
  size_t count;
  size_t cap;
  char **items;
} clippo_path_list;

/** Appends a copy of path. */
clippo_status clippo_path_list_add(clippo_path_list *l, const char *path, clippo_error *err);

/** Frees the list and zeroes it. */
void clippo_path_list_free(clippo_path_list *l);

/** Collects image files: a file argument is taken as it is (whatever its content: decoding
 * errors come later), a directory is walked recursively (names sorted, symbolic links followed
 * up to depth 64, hidden entries skipped) keeping the files whose first bytes are an image
 * signature (clippo_image_detect: PNG, JPEG, GIF, WebP, BMP). Paths are made absolute and
 * canonical (realpath) and duplicates dropped, keeping the first occurrence. A path that does not
 * exist is CLIPPO_E_NOTFOUND naming it. */
clippo_status clippo_collect_images(const char *const *paths, size_t n, clippo_path_list *out,
                                    clippo_error *err);

/** What an index remembers of a file to tell whether it changed since it was embedded. */
typedef struct clippo_file_stamp {
  int64_t size;     /* bytes; CLIPPO_STAMP_REMOVED or CLIPPO_STAMP_UNKNOWN */
  int64_t mtime_ns; /* modification time, ns since the epoch */
} clippo_file_stamp;

/** Stamp size of an index row that records a file as gone. */
#define CLIPPO_STAMP_REMOVED (-1)
/** Stamp size of a file whose size and time are not known (indexes of clippo before 0.2). */
#define CLIPPO_STAMP_UNKNOWN (-2)

/** The size and modification time of a file (stat); CLIPPO_E_NOTFOUND when it is gone (or is
 * no longer a regular file), naming it. */
clippo_status clippo_file_stamp_get(const char *path, clippo_file_stamp *out, clippo_error *err);

/** 1 when both stamps are known and equal. */
int clippo_file_stamp_same(const clippo_file_stamp *a, const clippo_file_stamp *b);

/** An image index file being written or read (opaque). HDF5 layout: root attributes format
 * ("clippo-index-2"), model (identity), model_path, dim, image_size, count (committed rows);
 * per row the datasets z (rows, dim) float32, path_bytes (uint8) + path_ends (uint64),
 * file_size and file_mtime_ns (int64). Rows are only appended: the last row of a path is its
 * entry, and a row with file_size CLIPPO_STAMP_REMOVED (and zero embedding) says the file is
 * gone. Version 1 files ("clippo-index-1", no sizes or times) are read, and rewritten as
 * version 2 with unknown stamps when opened for appending. */
typedef struct clippo_index clippo_index;

/** OK when path does not exist or is a readable index; else an error that says what it is (a
 * folder, not an HDF5 file, an HDF5 file that is not an index, a damaged index) and that it was
 * left as it is. Nothing is written. */
clippo_status clippo_index_check_file(const char *path, clippo_error *err);

/** Opens INDEX for adding embeddings: creates it when absent, otherwise checks it with
 * clippo_index_check_file, then that it was made by the same model (clippo_index_check_model:
 * CLIPPO_E_ARG naming both) and embedding size, and loads its entries. Rows written after the
 * last committed count (an interrupted write) are ignored. An index recording an older
 * identity of the same model is upgraded to model_id; a version 1 file is rewritten. */
clippo_status clippo_index_open_append(const char *path, const char *model_id,
                                       const char *model_path, size_t dim, int image_size,
                                       clippo_index **out, clippo_error *err);

/** Opens INDEX read-only and loads its live entries (paths, stamps and embeddings). */
clippo_status clippo_index_open_read(const char *path, clippo_index **out, clippo_error *err);

/** OK when the model at model_path, whose clippo_model_identity is model_id, is the one the
 * index was built with (clippo_identity_matches); else CLIPPO_E_ARG naming both. */
clippo_status clippo_index_check_model(const clippo_index *ix, const char *model_id,
                                       const char *model_path, const char *cache_dir,
                                       clippo_error *err);

/** Number of live entries (files not removed). */
size_t clippo_index_count(const clippo_index *ix);

/** 1 if path has a live entry; its stamp goes to *stamp (may be NULL). */
int clippo_index_lookup(const clippo_index *ix, const char *path, clippo_file_stamp *stamp);

/** 1 if path has a live entry. */
int clippo_index_contains(const clippo_index *ix, const char *path);

/** Appends n entries with their stamps (taken before embedding) and commits them: data is
 * written and flushed before the count attribute is updated and flushed, so an interruption
 * loses at most this call's entries. An entry replaces the path's earlier one. */
clippo_status clippo_index_append_stamped(clippo_index *ix, const char *const *paths,
                                          const clippo_file_stamp *stamps, const float *z, size_t n,
                                          clippo_error *err);

/** clippo_index_append_stamped with each file's stamp taken now (unknown when it cannot be). */
clippo_status clippo_index_append(clippo_index *ix, const char *const *paths, const float *z,
                                  size_t n, clippo_error *err);

/** Records that the n files are gone (paths without a live entry are ignored); committed like
 * an append. */
clippo_status clippo_index_remove(clippo_index *ix, const char *const *paths, size_t n,
                                  clippo_error *err);

/** Rows of the file that no longer count (replaced or removed entries). */
size_t clippo_index_superseded(const clippo_index *ix);

/** Rewrites the file atomically with its live entries only, when force is set or more than a
 * quarter of its rows are superseded; else does nothing. */
clippo_status clippo_index_compact(clippo_index *ix, int force, clippo_error *err);

/** Accessors of a read index: the model identity and path it was built with, the embedding
 * size, the i-th live path and its stamp, and the (count, dim) embeddings. */
const char *clippo_index_model_id(const clippo_index *ix);
const char *clippo_index_model_path(const clippo_index *ix);
size_t clippo_index_dim(const clippo_index *ix);
const char *clippo_index_path(const clippo_index *ix, size_t i);
clippo_file_stamp clippo_index_stamp(const clippo_index *ix, size_t i);
const float *clippo_index_embeddings(const clippo_index *ix);

/** What re-indexing has to do to make an index true to the files. */
typedef struct clippo_index_plan {
  clippo_path_list embed;    /* files to embed: new ones and changed ones */
  clippo_file_stamp *stamps; /* embed.count stamps, taken when the plan was made */
  unsigned char *is_update;  /* embed.count flags: 1 when the index holds an older embedding */
  size_t cap;                /* capacity of stamps and is_update */
  size_t added, updated;     /* new and changed files in embed */
  size_t unchanged;          /* files given that the index already holds as they are */
  clippo_path_list removed;  /* entries whose file is gone */
} clippo_index_plan;

/** Compares the index (open for appending) with the files found (clippo_collect_images): a file
 * without an entry is added; a file or any other entry whose size or modification time differs
 * from its entry's is embedded again; an entry whose file no longer exists is removed. */
clippo_status clippo_index_plan_make(const clippo_index *ix, const clippo_path_list *files,
                                     clippo_index_plan *plan, clippo_error *err);

/** Frees the plan and zeroes it. */
void clippo_index_plan_free(clippo_index_plan *plan);

/** Closes the file and frees the index. NULL is fine. */
clippo_status clippo_index_close(clippo_index *ix, clippo_error *err);

/** The k best entries for a unit query q (cosine similarity = dot product): writes min(k,
 * count) indices and scores, best first, and returns that count. */
size_t clippo_index_search(const clippo_index *ix, const float *q, size_t k, size_t *idx,
                           float *scores);

/* ---------------------------------------------------------------------------------------------
 * Evaluation helpers
 * ------------------------------------------------------------------------------------------- */

/** Fashion-MNIST folder: given when not NULL or empty (the program passes env
 * CLIPPO_FASHION_MNIST_DIR), else /usr/share/datasets/fashion-mnist when it holds
 * t10k-images-idx3-ubyte.gz; NULL when not found. */
const char *clippo_fashion_mnist_dir(const char *given);

/** Converts n gray (or RGB when channels == 3) uint8 images of w x h into model inputs: gray is
 * replicated to RGB, resized to size x size with clippo_image_resize_bilinear, value range
 * [-1, 1]; writes n * size * size * 3 floats. */
clippo_status clippo_pixels_to_inputs(const uint8_t *pixels, size_t n, int w, int h, int channels,
                                      int size, float *dst, clippo_error *err);

/** A data set stored as one subfolder per class (host/tasks/class_folders.c). */
typedef struct clippo_class_folders {
  clippo_path_list names; /* class names: the subfolder names, sorted (strcmp) */
  clippo_path_list files; /* image files, class after class (clippo_collect_images order) */
  size_t *labels;         /* files.count entries: index into names */
} clippo_class_folders;

/** Loads DIR: its visible subfolders are the classes (none is an error naming DIR), the image
 * files below each (clippo_collect_images) its examples (none at all is an error). With names
 * (a list of class names, e.g. a training folder's), DIR must hold exactly those classes: a
 * missing or an extra class is CLIPPO_E_FORMAT naming the folder and the class. */
clippo_status clippo_class_folders_load(const char *dir, const clippo_path_list *names,
                                        clippo_class_folders *out, clippo_error *err);

/** Frees the data set and zeroes it. */
void clippo_class_folders_free(clippo_class_folders *f);

/** An image-caption list: path<TAB>caption per line, paths relative to the file's folder. */
typedef struct clippo_caption_set {
  size_t pairs;            /* lines */
  char **captions;         /* pairs captions */
  size_t *image_of;        /* pairs entries: index into images */
  clippo_path_list images; /* unique image paths, first-seen order */
} clippo_caption_set;

/** Reads a TSV of image-caption pairs (blank lines skipped; a line without a TAB is an error
 * naming file:line). With limit > 0, reads the first `limit` pairs. */
clippo_status clippo_caption_set_load(const char *path, size_t limit, clippo_caption_set *out,
                                      clippo_error *err);

/** Frees the caption set and zeroes it. */
void clippo_caption_set_free(clippo_caption_set *s);

/** Retrieval recalls at k = 1, 5, 10 both ways, from unit image embeddings zi (n_images, dim)
 * and caption embeddings zt (pairs, dim). Image->text: an image counts when any of its captions
 * is in the top k; text->image: a caption counts when its image is in the top k. Values are
 * fractions in [0, 1]. */
typedef struct clippo_recall {
  double i2t[3];
  double t2i[3];
} clippo_recall;
clippo_status clippo_retrieval_recall(const float *zi, size_t n_images, const float *zt,
                                      size_t pairs, const size_t *image_of, size_t dim,
                                      clippo_recall *out, clippo_error *err);

/** Text-text retrieval data (`clippo eval --text-pairs`): the distinct texts of each side of a
 * list of text pairs (first-seen order) and the pairs as links between them; a text matches
 * every text it is paired with on any line. Zero it before the first clippo_text_links_add. */
typedef struct clippo_text_links {
  clippo_path_list first, second; /* the distinct first and second texts */
  size_t links;                   /* pairs added */
  size_t *first_of, *second_of;   /* links entries: index into first, into second */
  size_t cap;                     /* room of first_of / second_of */
  void *index[2];                 /* private: text -> index of each side */
} clippo_text_links;

/** Adds the pair (a, b) (copied). */
clippo_status clippo_text_links_add(clippo_text_links *l, const char *a, const char *b,
                                    clippo_error *err);

/** Frees the links and zeroes them. */
void clippo_text_links_free(clippo_text_links *l);

/** Recall at k = 1, 5, 10 both ways between unit embeddings za (na, dim) and zb (nb, dim)
 * linked by links pairs (a_of[k], b_of[k]): out->i2t is a -> b (the fraction of the linked a
 * whose best-ranked linked b, by dot product against all nb, is in the top k; ties ranked as
 * clippo_rank_of does), out->t2i is b -> a. With one link per a and per b this is
 * clippo_retrieval_recall. */
clippo_status clippo_link_recall(const float *za, size_t na, const float *zb, size_t nb,
                                 const size_t *a_of, const size_t *b_of, size_t links, size_t dim,
                                 clippo_recall *out, clippo_error *err);

#ifdef __cplusplus
}
#endif
#endif
