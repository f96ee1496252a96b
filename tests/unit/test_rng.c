/* test_rng: Philox4x32-10 against Random123's known answers; the normal
 * quantile against libm's erfc; the distributions' moments; streams that
 * do not depend on the order they are drawn in. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "rng.h"
#include "tap.h"

static void kat(void)
{
    /* Random123, tests/kat_vectors: the three "philox4x32 10" lines */
    static const uint32_t v[3][10] = {
        { 0, 0, 0, 0, 0, 0, 0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8 },
        { 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0x408f276d,
          0x41c83b0e, 0xa20bc7c6, 0x6d5451fd },
        { 0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344, 0xa4093822, 0x299f31d0, 0xd16cfe09,
          0x94fdcceb, 0x5001e420, 0x24126ea1 },
    };
    for (int i = 0; i < 3; i++) {
        uint32_t out[4];
        rng_block(v[i], v[i] + 4, out);
        ok(memcmp(out, v[i] + 6, sizeof out) == 0, "Philox4x32-10 known answer %d", i + 1);
    }
}

static void quantile(void)
{
    double worst = 0;
    for (int i = 1; i < 2000; i++) {
        /* the lower tail and the middle: p from 1e-307 to 1/2 (the upper
         * tail is the same code by symmetry, but 1 - p loses digits) */
        double x = -37.5 + 37.5 * i / 2000.0;
        double p = rng_pnorm(x);
        if (p <= 0 || p >= 1)
            continue;
        /* compare in x: AS 241 is accurate to about 1e-16 in the quantile
         * (in p the error grows by x^2 in the far tail) */
        double rel = fabs(rng_qnorm(p) - x) / fmax(fabs(x), 1);
        if (rel > worst)
            worst = rel;
    }
    printf("# qnorm(pnorm(x)) round trip: worst relative error in x %.2e\n", worst);
    ok(worst < 1e-14, "qnorm inverts pnorm to 1e-14 over x in [-37.5, 0]");
    ok(rng_qnorm(0.9) == -rng_qnorm(0.1) || fabs(rng_qnorm(0.9) + rng_qnorm(0.1)) < 1e-15,
       "qnorm is odd about 1/2");
    ok(fabs(rng_qnorm(0.975) - 1.959963984540054) < 1e-15, "qnorm(0.975) = 1.959963984540054");
    ok(rng_qnorm(0.5) == 0 && isinf(rng_qnorm(0)) && rng_qnorm(0) < 0 && isinf(rng_qnorm(1)) &&
           isnan(rng_qnorm(1.5)) && isnan(rng_qnorm(NAN)),
       "qnorm: 0.5, the ends, outside");
}

static void moments(void)
{
    Rng r;
    rng_init(&r, 20261124, 3, 1);
    int n = 200000;
    double s1 = 0, s2 = 0, s3 = 0, s4 = 0, umin = 1, umax = 0;
    for (int i = 0; i < n; i++) {
        double z = rng_normal(&r);
        s1 += z, s2 += z * z, s3 += z * z * z, s4 += z * z * z * z;
    }
    for (int i = 0; i < n; i++) {
        double u = rng_uniform(&r);
        umin = fmin(umin, u), umax = fmax(umax, u);
    }
    double m = s1 / n, v = s2 / n - m * m;
    printf("# normal: mean %.4f var %.4f skew %.4f kurt %.4f\n", m, v, s3 / n, s4 / n);
    /* 5 standard errors: mean 1/sqrt(n), variance sqrt(2/n), 3rd sqrt(15/n), 4th sqrt(96/n) */
    ok(fabs(m) < 5 * sqrt(1.0 / n) && fabs(v - 1) < 5 * sqrt(2.0 / n) &&
           fabs(s3 / n) < 5 * sqrt(15.0 / n) && fabs(s4 / n - 3) < 5 * sqrt(96.0 / n),
       "normal draws: mean 0, variance 1, skewness 0, kurtosis 3 within 5 SE");
    ok(umin > 0 && umax < 1, "uniform draws stay inside (0, 1)");

    /* a bivariate normal through its Cholesky factor: covariance recovered */
    double L[4] = { 2, 0, 0.6, 0.8 };   /* cov = [[4, 1.2], [1.2, 1]] */
    double sxx = 0, sxy = 0, syy = 0, x[2];
    for (int i = 0; i < n; i++) {
        rng_mvnormal(&r, 2, L, x);
        sxx += x[0] * x[0], sxy += x[0] * x[1], syy += x[1] * x[1];
    }
    ok(fabs(sxx / n - 4) < 0.05 && fabs(sxy / n - 1.2) < 0.03 && fabs(syy / n - 1) < 0.015,
       "mvnormal: covariance [[4, 1.2], [1.2, 1]] recovered (%.3f %.3f %.3f)", sxx / n, sxy / n,
       syy / n);
}

static void streams(void)
{
    /* subject 5's stream is the same whether or not others were drawn first */
    Rng a, b, c;
    rng_init(&a, 7, 5, 2);
    double first[10];
    for (int i = 0; i < 10; i++)
        first[i] = rng_normal(&a);
    rng_init(&b, 7, 4, 2);
    for (int i = 0; i < 1000; i++)
        rng_normal(&b);
    rng_init(&c, 7, 5, 2);
    int same = 1;
    for (int i = 0; i < 10; i++)
        same &= rng_normal(&c) == first[i];
    ok(same, "a (unit, stream) gives the same draws whatever else was drawn");
    Rng d, e;
    rng_init(&d, 7, 5, 3);
    rng_init(&e, 8, 5, 2);
    ok(rng_normal(&d) != first[0] && rng_normal(&e) != first[0],
       "another stream or another seed gives other draws");
    /* counters past 2^32 draws carry into the second word */
    Rng f;
    rng_init(&f, 1, 0, 0);
    f.ctr[0] = 0xffffffffu;
    rng_u32(&f);
    ok(f.ctr[0] == 0 && f.ctr[1] == 1, "the 64-bit draw counter carries");
}

int main(void)
{
    kat();
    quantile();
    moments();
    streams();
    return tap_done();
}
