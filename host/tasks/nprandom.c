/* numpy.random.default_rng(seed): SeedSequence entropy mixing, PCG64 (XSL-RR 128/64) and
 * Generator.shuffle for 1-D arrays, bit for bit (numpy/random/bit_generator.pyx,
 * src/pcg64/pcg64.h, src/distributions/distributions.c random_interval, _generator.pyx). The
 * 128-bit arithmetic is spelled out on pairs of 64-bit words (portable C11). */
#include "clippo/fewshot.h"

/* SeedSequence constants (bit_generator.pyx). */
#define SS_INIT_A 0x43b0d7e5u
#define SS_MULT_A 0x931e8875u
#define SS_INIT_B 0x8b51f9ddu
#define SS_MULT_B 0x58f38dedu
#define SS_MIX_MULT_L 0xca01f9ddu
#define SS_MIX_MULT_R 0x4973f715u
#define SS_XSHIFT 16
#define SS_POOL 4

/* PCG's default 128-bit multiplier. */
#define PCG_MULT_HI 2549297995355413924ULL
#define PCG_MULT_LO 4865540595714422341ULL

typedef struct u128 {
  uint64_t hi, lo;
} u128;

/* The full 128-bit product of two 64-bit words. */
static u128 mul64x64(uint64_t a, uint64_t b) {
  uint64_t a0 = a & 0xffffffffu, a1 = a >> 32, b0 = b & 0xffffffffu, b1 = b >> 32;
  uint64_t p00 = a0 * b0, p01 = a0 * b1, p10 = a1 * b0, p11 = a1 * b1;
  uint64_t mid = (p00 >> 32) + (p01 & 0xffffffffu) + (p10 & 0xffffffffu);
  u128 r;
  r.lo = (mid << 32) | (p00 & 0xffffffffu);
  r.hi = p11 + (p01 >> 32) + (p10 >> 32) + (mid >> 32);
  return r;
}

/* a * b + c modulo 2^128. */
static u128 muladd128(u128 a, u128 b, u128 c) {
  u128 r = mul64x64(a.lo, b.lo);
  r.hi += a.lo * b.hi + a.hi * b.lo;
  uint64_t lo = r.lo + c.lo;
  r.hi += c.hi + (lo < r.lo);
  r.lo = lo;
  return r;
}

static uint32_t ss_hashmix(uint32_t value, uint32_t *hash_const) {
  value ^= *hash_const;
  *hash_const *= SS_MULT_A;
  value *= *hash_const;
  value ^= value >> SS_XSHIFT;
  return value;
}

static uint32_t ss_mix(uint32_t x, uint32_t y) {
  uint32_t result = SS_MIX_MULT_L * x - SS_MIX_MULT_R * y;
  result ^= result >> SS_XSHIFT;
  return result;
}

/* SeedSequence(seed).generate_state(4, uint64). The integer seed becomes its little-endian
 * 32-bit words (at least one: 0 -> [0]). */
static void seed_sequence_state(uint64_t seed, uint64_t out[4]) {
  uint32_t entropy[2] = {(uint32_t)seed, (uint32_t)(seed >> 32)};
  size_t nent = (seed >> 32) ? 2 : 1;
  uint32_t pool[SS_POOL];
  uint32_t hash_const = SS_INIT_A;
  for (size_t i = 0; i < SS_POOL; i++)
    pool[i] = ss_hashmix(i < nent ? entropy[i] : 0u, &hash_const);
  for (size_t src = 0; src < SS_POOL; src++)
    for (size_t dst = 0; dst < SS_POOL; dst++)
      if (src != dst) pool[dst] = ss_mix(pool[dst], ss_hashmix(pool[src], &hash_const));
  /* entropy beyond the pool size would be mixed in here; a 64-bit seed never has any */
  uint32_t words[8];
  uint32_t hb = SS_INIT_B;
  for (size_t i = 0; i < 8; i++) {
    uint32_t v = pool[i % SS_POOL];
    v ^= hb;
    hb *= SS_MULT_B;
    v *= hb;
    v ^= v >> SS_XSHIFT;
    words[i] = v;
  }
  for (size_t i = 0; i < 4; i++)
    out[i] = (uint64_t)words[2 * i] | ((uint64_t)words[2 * i + 1] << 32);
}

static void pcg_step(clippo_np_rng *r) {
  u128 s = {r->state_hi, r->state_lo}, m = {PCG_MULT_HI, PCG_MULT_LO}, inc = {r->inc_hi, r->inc_lo};
  s = muladd128(s, m, inc);
  r->state_hi = s.hi;
  r->state_lo = s.lo;
}

void clippo_np_rng_seed(clippo_np_rng *r, uint64_t seed) {
  uint64_t v[4];
  seed_sequence_state(seed, v);
  /* pcg64_set_seed: initstate = (v[0] << 64) | v[1], initseq = (v[2] << 64) | v[3];
   * pcg_setseq_128_srandom_r: state = 0, inc = initseq << 1 | 1, step, state += initstate, step */
  r->inc_hi = (v[2] << 1) | (v[3] >> 63);
  r->inc_lo = (v[3] << 1) | 1u;
  r->state_hi = 0;
  r->state_lo = 0;
  pcg_step(r);
  uint64_t lo = r->state_lo + v[1];
  r->state_hi += v[0] + (lo < r->state_lo);
  r->state_lo = lo;
  pcg_step(r);
  r->has_uint32 = 0;
  r->uinteger = 0;
}

uint64_t clippo_np_rng_next64(clippo_np_rng *r) {
  pcg_step(r);
  uint64_t x = r->state_hi ^ r->state_lo;
  unsigned rot = (unsigned)(r->state_hi >> 58);
  return (x >> rot) | (x << ((64u - rot) & 63u));
}

uint32_t clippo_np_rng_next32(clippo_np_rng *r) {
  if (r->has_uint32) {
    r->has_uint32 = 0;
    return r->uinteger;
  }
  uint64_t next = clippo_np_rng_next64(r);
  r->has_uint32 = 1;
  r->uinteger = (uint32_t)(next >> 32);
  return (uint32_t)(next & 0xffffffffu);
}

uint64_t clippo_np_rng_interval(clippo_np_rng *r, uint64_t max) {
  if (max == 0) return 0;
  uint64_t mask = max;
  mask |= mask >> 1;
  mask |= mask >> 2;
  mask |= mask >> 4;
  mask |= mask >> 8;
  mask |= mask >> 16;
  mask |= mask >> 32;
  uint64_t value;
  if (max <= 0xffffffffu) {
    while ((value = (clippo_np_rng_next32(r) & mask)) > max) {
    }
  } else {
    while ((value = (clippo_np_rng_next64(r) & mask)) > max) {
    }
  }
  return value;
}

void clippo_np_rng_shuffle(clippo_np_rng *r, size_t *x, size_t n) {
  for (size_t i = n; i-- > 1;) {
    size_t j = (size_t)clippo_np_rng_interval(r, (uint64_t)i);
    size_t t = x[j];
    x[j] = x[i];
    x[i] = t;
  }
}
