/*
 * rng.c -- Philox4x32-10 and the distributions built on it.
 *
 * Normals come from the inverse CDF rather than Box-Muller so that each
 * normal costs exactly one uniform: the k-th normal of a stream is then a
 * function of k alone, whatever was drawn before it in other streams.
 */
#include <math.h>

#include "rng.h"

enum { PHILOX_ROUNDS = 10 };

static void mulhilo(uint32_t a, uint32_t b, uint32_t *hi, uint32_t *lo)
{
    uint64_t p = (uint64_t)a * b;
    *hi = (uint32_t)(p >> 32);
    *lo = (uint32_t)p;
}

void rng_block(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4])
{
    uint32_t c0 = ctr[0], c1 = ctr[1], c2 = ctr[2], c3 = ctr[3];
    uint32_t k0 = key[0], k1 = key[1];
    for (int i = 0; i < PHILOX_ROUNDS; i++) {
        uint32_t hi0, lo0, hi1, lo1;
        mulhilo(0xD2511F53u, c0, &hi0, &lo0);
        mulhilo(0xCD9E8D57u, c2, &hi1, &lo1);
        c0 = hi1 ^ c1 ^ k0;
        c1 = lo1;
        c2 = hi0 ^ c3 ^ k1;
        c3 = lo0;
        k0 += 0x9E3779B9u;   /* the Weyl sequence of the key schedule */
        k1 += 0xBB67AE85u;
    }
    out[0] = c0;
    out[1] = c1;
    out[2] = c2;
    out[3] = c3;
}

void rng_init(Rng *r, uint64_t seed, uint32_t unit, uint32_t stream)
{
    r->key[0] = (uint32_t)seed;
    r->key[1] = (uint32_t)(seed >> 32);
    r->ctr[0] = r->ctr[1] = 0;
    r->ctr[2] = stream;
    r->ctr[3] = unit;
    r->used = 4;
}

uint32_t rng_u32(Rng *r)
{
    if (r->used == 4) {
        rng_block(r->ctr, r->key, r->out);
        if (++r->ctr[0] == 0)
            r->ctr[1]++;
        r->used = 0;
    }
    return r->out[r->used++];
}

double rng_uniform(Rng *r)
{
    uint64_t hi = rng_u32(r), lo = rng_u32(r);
    uint64_t b = ((hi << 32) | lo) >> 11;          /* 53 bits */
    return ((double)b + 0.5) * 0x1.0p-53;          /* never 0 or 1 */
}

double rng_normal(Rng *r)
{
    return rng_qnorm(rng_uniform(r));
}

void rng_mvnormal(Rng *r, int n, const double *L, double *x)
{
    double z[64];
    if (n > 64)
        n = 64;
    for (int i = 0; i < n; i++)
        z[i] = rng_normal(r);
    for (int i = 0; i < n; i++) {
        double v = 0;
        for (int j = 0; j <= i; j++)
            v += L[i * n + j] * z[j];
        x[i] = v;
    }
}

static double poly(const double *c, int n, double x)
{
    double v = c[n - 1];
    for (int i = n - 2; i >= 0; i--)
        v = v * x + c[i];
    return v;
}

/* Wichura (1988), Algorithm AS 241, the 16-digit version: rational
 * approximations in three regions of p. */
double rng_qnorm(double p)
{
    static const double a[8] = { 3.3871328727963666080e0, 1.3314166789178437745e2,
                                 1.9715909503065514427e3, 1.3731693765509461125e4,
                                 4.5921953931549871457e4, 6.7265770927008700853e4,
                                 3.3430575583588128105e4, 2.5090809287301226727e3 };
    static const double b[8] = { 1.0, 4.2313330701600911252e1, 6.8718700749205790830e2,
                                 5.3941960214247511077e3, 2.1213794301586595867e4,
                                 3.9307895800092710610e4, 2.8729085735721942674e4,
                                 5.2264952788528545610e3 };
    static const double c[8] = { 1.42343711074968357734e0, 4.63033784615654529590e0,
                                 5.76949722146069140550e0, 3.64784832476320460504e0,
                                 1.27045825245236838258e0, 2.41780725177450611770e-1,
                                 2.27238449892691845833e-2, 7.74545014278341407640e-4 };
    static const double d[8] = { 1.0, 2.05319162663775882187e0, 1.67638483018380384940e0,
                                 6.89767334985100004550e-1, 1.48103976427480074590e-1,
                                 1.51986665636164571966e-2, 5.47593808499534494600e-4,
                                 1.05075007164441684324e-9 };
    static const double e[8] = { 6.65790464350110377720e0, 5.46378491116411436990e0,
                                 1.78482653991729133580e0, 2.96560571828504891230e-1,
                                 2.65321895265761230930e-2, 1.24266094738807843860e-3,
                                 2.71155556874348757815e-5, 2.01033439929228813265e-7 };
    static const double f[8] = { 1.0, 5.99832206555887937690e-1, 1.36929880922735805310e-1,
                                 1.48753612908506148525e-2, 7.86869131145613259100e-4,
                                 1.84631831751005468180e-5, 1.42151175831644588870e-7,
                                 2.04426310338993978564e-15 };
    if (!(p >= 0 && p <= 1))
        return NAN;
    if (p == 0)
        return -INFINITY;
    if (p == 1)
        return INFINITY;
    double q = p - 0.5;
    if (fabs(q) <= 0.425) {
        double r = 0.180625 - q * q;
        return q * poly(a, 8, r) / poly(b, 8, r);
    }
    double r = sqrt(-log(q < 0 ? p : 1 - p));
    double v = r <= 5 ? poly(c, 8, r - 1.6) / poly(d, 8, r - 1.6)
                      : poly(e, 8, r - 5) / poly(f, 8, r - 5);
    return q < 0 ? -v : v;
}

double rng_pnorm(double x)
{
    return 0.5 * erfc(-x / sqrt(2.0));
}
