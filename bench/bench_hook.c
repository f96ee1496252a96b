/*
 * bench_hook.c -- what one call of each Lua hook costs, against the same
 * arithmetic in C.
 *
 * The subject hook's work for one subject: a table of six covariates in
 * (WT, HT, AGE, SCR, SEX, RACE), a table of three derived covariates out
 * (BMI, Cockcroft-Gault creatinine clearance, an allometric factor), as
 * derive.c calls it through hook_call_table().  A covariate sampler's
 * call is the same with a generator object and four draws.  A lua.name()
 * call is hook_call() with two numbers.  Each is timed over NCALL calls
 * with the inputs varying, in the sandbox (its instruction count hook
 * on), median of NREP repetitions, against the C functions computing the
 * same numbers; the first argument, if given, is NCALL.
 */
#include "hook.h"
#include "rng.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define NREP 7

static const char *const script =
    "function derive(c)\n"
    "  local bmi = c.WT / (c.HT / 100)^2\n"
    "  local crcl = (140 - c.AGE) * c.WT / (72 * c.SCR) * (c.SEX == 2 and 0.85 or 1)\n"
    "  return { BMI = bmi, CRCL = crcl, ALLO = (c.WT / 70)^0.75 }\n"
    "end\n"
    "function sample(c, rng)\n"
    "  local female = rng:bernoulli(0.5)\n"
    "  return { SEX = female == 1 and 2 or 1, WT = rng:lognormal(70, 0.2),\n"
    "           AGE = rng:uniform(20, 80), SCR = rng:lognormal(1, 0.25) }\n"
    "end\n"
    "function ratio(wt, ref) return wt / ref end\n";

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int dcmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v)
{
    qsort(v, NREP, sizeof *v, dcmp);
    return v[NREP / 2];
}

static volatile double sink;

static void c_derive(const double *c, double *o)
{
    o[0] = c[0] / pow(c[1] / 100, 2);
    o[1] = (140 - c[2]) * c[0] / (72 * c[3]) * (c[4] == 2 ? 0.85 : 1);
    o[2] = pow(c[0] / 70, 0.75);
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 200000;
    char path[] = "/tmp/qlx_bench_hook_XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0 || write(fd, script, strlen(script)) != (ssize_t)strlen(script))
        return 1;
    close(fd);
    const char *paths[] = { path };
    char err[512];
    Hook *h = hook_new(paths, 1, NULL, err, sizeof err);
    unlink(path);
    if (!h) {
        fprintf(stderr, "bench_hook: %s\n", err);
        return 1;
    }
    const char *ink[] = { "WT", "HT", "AGE", "SCR", "SEX", "RACE" };
    const char *outk[] = { "BMI", "CRCL", "ALLO" }, *sk[] = { "SEX", "WT", "AGE", "SCR" };
    double cov[6] = { 70, 175, 50, 1, 1, 1 }, out[4], args[2] = { 70, 70 };
    unsigned char set[4];
    HookMap in = { ink, cov, 6 }, o = { outk, out, 3 }, so = { sk, out, 4 };
    double t_sub[NREP], t_c[NREP], t_samp[NREP], t_call[NREP];
    for (int r = 0; r < NREP; r++) {
        double t0 = now();
        for (long i = 0; i < n; i++) {
            cov[0] = 50 + (double)(i % 60);
            if (hook_call_table(h, "derive", &in, NULL, &o, set) != 0)
                return fprintf(stderr, "bench_hook: %s\n", hook_error(h)), 1;
            sink = out[1];
        }
        double t1 = now();
        for (long i = 0; i < n; i++) {
            cov[0] = 50 + (double)(i % 60);
            c_derive(cov, out);
            sink = out[1];
        }
        double t2 = now();
        for (long i = 0; i < n; i++) {
            Rng g;
            rng_init(&g, 7, (uint32_t)i, 11);
            if (hook_call_table(h, "sample", &in, &g, &so, set) != 0)
                return fprintf(stderr, "bench_hook: %s\n", hook_error(h)), 1;
            sink = out[1];
        }
        double t3 = now();
        for (long i = 0; i < n; i++) {
            args[0] = 50 + (double)(i % 60);
            double y;
            if (hook_call(h, "ratio", args, 2, &y) != 0)
                return 1;
            sink = y;
        }
        double t4 = now();
        t_sub[r] = t1 - t0, t_c[r] = t2 - t1, t_samp[r] = t3 - t2, t_call[r] = t4 - t3;
    }
    double a = median(t_sub), c = median(t_c), s = median(t_samp), l = median(t_call);
    printf("subject hook (6 covariates in, 3 derived out): %.2f us a subject; the same in C "
           "%.3f us (%.0fx)\n", 1e6 * a / n, 1e6 * c / n, a / c);
    printf("covariate sampler (4 draws, 4 covariates out): %.2f us a virtual subject\n",
           1e6 * s / n);
    printf("lua.name(2 numbers): %.2f us a call\n", 1e6 * l / n);
    printf("(%ld calls each, median of %d, one thread, in the sandbox)\n", n, NREP);
    hook_free(&h);
    return 0;
}
