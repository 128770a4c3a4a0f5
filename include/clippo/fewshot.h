/* Few-shot linear probes exactly as big_vision's evaluators/fewshot_lsr.py computes them, and
 * the piece of numpy it depends on (numpy.random.default_rng(seed).permutation) so that the same
 * seed draws the same training examples.
 *
 * For each seed s and shot count k: rng = default_rng(s); for every class c in order, the
 * indices of its training examples (ascending) are permuted with rng.permutation; the first k
 * of each class (classes in order) form the training set X (N = k * classes rows, D features).
 * X is whitened with its own mean and standard deviation (population std, + 1e-5), a constant
 * column of 100 is appended (a bias that is almost unregularised), targets are 2 * one_hot - 1,
 * and the L2-regularised least-squares weights are
 *   N >= D': W = (X'X + l2 I)^-1 X'Y   via eigh(X'X) = Q diag(e) Q'   (D' = D + 1),
 *   D' > N:  W = X'(XX' + l2 I)^-1 Y   via eigh(XX') = Q diag(e) Q',
 * i.e. W = lhs diag(1 / (e + l2)) rhs. Test features are whitened with the training statistics
 * and classified by argmax(x W) (first index on ties). big_vision runs this in float32 on the
 * CPU (JAX's default); here everything is float64, the eigen-decomposition is LAPACK's dsyevd
 * (what jnp.linalg.eigh calls on the CPU). */
#ifndef CLIPPO_FEWSHOT_H
#define CLIPPO_FEWSHOT_H

#include <stddef.h>
#include <stdint.h>

#include "clippo/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------------------------------------
 * numpy's default generator
 * ------------------------------------------------------------------------------------------- */

/** numpy's Generator(PCG64): the 128-bit LCG state and increment (as hi/lo words) and the
 * buffered upper half of a 64-bit draw that next32 hands out next. */
typedef struct clippo_np_rng {
  uint64_t state_hi, state_lo;
  uint64_t inc_hi, inc_lo;
  int has_uint32;
  uint32_t uinteger;
} clippo_np_rng;

/** numpy.random.default_rng(seed) for a non-negative integer seed: SeedSequence(seed)
 * .generate_state(4, uint64) seeds PCG64 (pcg64_set_seed). */
void clippo_np_rng_seed(clippo_np_rng *r, uint64_t seed);

/** The next 64-bit output (PCG64 XSL-RR). */
uint64_t clippo_np_rng_next64(clippo_np_rng *r);

/** The next 32-bit output: the low half of a fresh 64-bit draw, its high half on the next
 * call (numpy's pcg64_next32). */
uint32_t clippo_np_rng_next32(clippo_np_rng *r);

/** numpy's random_interval(max): a uniform integer in [0, max] by masked rejection (32-bit
 * draws when max fits 32 bits). */
uint64_t clippo_np_rng_interval(clippo_np_rng *r, uint64_t max);

/** Generator.shuffle of a 1-D array of n items in place (Fisher-Yates from the end with
 * random_interval), hence also Generator.permutation(x) of a copy. */
void clippo_np_rng_shuffle(clippo_np_rng *r, size_t *x, size_t n);

/* ---------------------------------------------------------------------------------------------
 * Choosing the shots
 * ------------------------------------------------------------------------------------------- */

/** The per-class permutations big_vision draws for one seed. order holds, class after class,
 * the permuted indices of the training examples of each class; start[c] is where class c's
 * begin and count[c] how many there are. */
typedef struct clippo_fewshot_draw {
  size_t classes;
  size_t *order; /* n indices */
  size_t *start; /* classes entries */
  size_t *count; /* classes entries */
} clippo_fewshot_draw;

/** Draws the permutations for seed (labels[i] < classes for each of the n training
 * examples; a larger label is CLIPPO_E_ARG naming the example). */
clippo_status clippo_fewshot_draw_make(const size_t *labels, size_t n, size_t classes,
                                       uint64_t seed, clippo_fewshot_draw *out, clippo_error *err);

/** Frees the draw and zeroes it. */
void clippo_fewshot_draw_free(clippo_fewshot_draw *d);

/* ---------------------------------------------------------------------------------------------
 * The regularised least-squares solver
 * ------------------------------------------------------------------------------------------- */

/** big_vision's cache (_precompute_cache): whitening statistics and the eigen-decomposition,
 * from which the weights for any l2 follow cheaply. */
typedef struct clippo_lsr {
  size_t n, dim, classes; /* training points, features (without the bias), classes */
  size_t k;               /* eigenvalues: min(n, dim + 1) */
  double *mean, *std;     /* dim each (std includes the + 1e-5) */
  double *eigs;           /* k, ascending */
  double *lhs;            /* (dim + 1, k) */
  double *rhs;            /* (k, classes) */
} clippo_lsr;

/** Whitening constant added to the standard deviation. */
#define CLIPPO_LSR_STD_EPS 1e-5
/** The constant bias feature appended to every (whitened) example. */
#define CLIPPO_LSR_BIAS 100.0
/** big_vision's default regularisation strength (2^10). */
#define CLIPPO_LSR_DEFAULT_L2 1024.0

/** Precomputes the cache for the n training rows x (n, dim; row stride dim) with labels y
 * (each < classes). CLIPPO_E_ARG for n == 0, dim == 0, classes == 0 or a label out of range,
 * CLIPPO_E_NUMERIC for non-finite features or when LAPACK fails. */
clippo_status clippo_lsr_fit(const float *x, const size_t *y, size_t n, size_t dim, size_t classes,
                             clippo_lsr *out, clippo_error *err);

/** The weights for strength l2 (> 0): w (dim + 1, classes) row-major, the last row being the
 * bias feature's. */
clippo_status clippo_lsr_weights(const clippo_lsr *c, double l2, double *w, clippo_error *err);

/** Test accuracy for strength l2: the fraction of the n_test rows x_test (n_test, dim) whose
 * argmax prediction equals y_test. *acc is 0 when n_test is 0. */
clippo_status clippo_lsr_accuracy(const clippo_lsr *c, double l2, const float *x_test,
                                  const size_t *y_test, size_t n_test, double *acc,
                                  clippo_error *err);

/** Frees the cache and zeroes it. */
void clippo_lsr_free(clippo_lsr *c);

/* ---------------------------------------------------------------------------------------------
 * The evaluation
 * ------------------------------------------------------------------------------------------- */

/** What to evaluate: shot counts, seeds 0..seeds-1 and regularisation strengths. */
typedef struct clippo_fewshot_plan {
  const size_t *shots;
  size_t nshots;
  size_t seeds;
  const double *l2;
  size_t nl2;
} clippo_fewshot_plan;

/** The training examples the plan reads: need[i] = 1 for each index among the first
 * max(shots) of its class in the draw of some seed (need has n entries, zeroed first). Fails
 * like clippo_fewshot_check. *count gets the number marked. */
clippo_status clippo_fewshot_needed(const size_t *labels, size_t n, size_t classes,
                                    const clippo_fewshot_plan *plan, unsigned char *need,
                                    size_t *count, clippo_error *err);

/** Checks the plan against the training labels: at least one shot count, seed and l2, shots
 * > 0, l2 > 0 and finite, every class has at least max(shots) examples (else CLIPPO_E_ARG
 * naming the class, with class_names[c] when class_names is not NULL). */
clippo_status clippo_fewshot_check(const size_t *labels, size_t n, size_t classes,
                                   const clippo_fewshot_plan *plan, const char *const *class_names,
                                   clippo_error *err);

/** Runs the plan: acc[(seed * nshots + s) * nl2 + j] = test accuracy of seed `seed`, shots[s]
 * and l2[j]. train_x (n_train, dim) must hold the rows clippo_fewshot_needed marks (the others
 * are not read). */
clippo_status clippo_fewshot_run(const float *train_x, const size_t *train_y, size_t n_train,
                                 const float *test_x, const size_t *test_y, size_t n_test,
                                 size_t dim, size_t classes, const clippo_fewshot_plan *plan,
                                 double *acc, clippo_error *err);

#ifdef __cplusplus
}
#endif
#endif
