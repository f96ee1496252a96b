/*
 * rng.h -- counter-based random numbers: the same draws for any number of
 * threads or MPI ranks.
 *
 * Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1,
 * 2, 3", SC 2011) is a keyed bijection of a 128-bit counter.  The key is
 * the run's seed; the counter is (draw, stream, unit): unit is usually the
 * subject, stream names what is drawn (ETAs, EPSs, an MCMC chain...), and
 * draw counts the numbers taken.  So subject 17's ETAs are the same
 * whichever thread or rank simulates it, and in whatever order.
 *
 * An Rng is a small value: no allocation, copyable, one per (unit,
 * stream) at a time.
 */
#ifndef QLX_RNG_H
#define QLX_RNG_H

#include <stdint.h>

typedef struct {
    uint32_t key[2];
    uint32_t ctr[4];     /* ctr[0..1]: the draw (64 bits); [2] stream; [3] unit */
    uint32_t out[4];     /* the last block */
    int used;            /* words of out already taken (4: none left) */
} Rng;

/* The stream `stream` of unit `unit` under seed `seed`, from its start. */
void rng_init(Rng *r, uint64_t seed, uint32_t unit, uint32_t stream);

/* One Philox4x32-10 block: out = Philox(ctr, key).  (The known-answer
 * tests of Random123 check this.) */
void rng_block(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4]);

uint32_t rng_u32(Rng *r);
/* Uniform on the open interval (0, 1), 53 bits. */
double rng_uniform(Rng *r);
/* Standard normal, by the inverse CDF (one uniform per draw). */
double rng_normal(Rng *r);
/* x = L z with z standard normal: L is the n x n lower-triangular
 * Cholesky factor (row-major) of the covariance.  n <= 64. */
void rng_mvnormal(Rng *r, int n, const double *L, double *x);

/* The standard normal quantile (Wichura's AS 241, PPND16: about 1e-16
 * relative); -INFINITY at 0, INFINITY at 1, NaN outside [0, 1]. */
double rng_qnorm(double p);
/* The standard normal CDF, from erfc. */
double rng_pnorm(double x);

#endif
