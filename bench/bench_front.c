/*
 * bench_front.c -- how long the front end takes on a large model.
 *
 * Builds a 10,000-line model in memory (2,000 THETAs, 1,000 ETAs, 6,000
 * $PK statements that use them, a $DES and an $ERROR), then times
 * parse_string + sema_check + lower_model, median of 9 runs.  The issue's
 * aim: parsing and checking a 10,000-line model in under 50 ms.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lower.h"
#include "parse.h"
#include "sema.h"

enum { NTHETA = 2000, NETA = 1000, NPK = 6000 };

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static char *build_model(size_t *len, int *lines)
{
    size_t cap = 1 << 20, n = 0;
    char *s = malloc(cap);
    int nl = 0;
#define OUT(...) do { \
        if (cap - n < 256) { cap *= 2; s = realloc(s, cap); } \
        n += (size_t)snprintf(s + n, cap - n, __VA_ARGS__); nl++; } while (0)
    OUT("$PROBLEM a 10,000-line model for the front-end benchmark\n");
    OUT("$DATA big.csv\n");
    OUT("$INPUT ID TIME DV AMT EVID CMT WT\n");
    OUT("$COMPARTMENTS depot(dose) central(observe)\n");
    OUT("$THETA\n");
    for (int i = 0; i < NTHETA; i++)
        OUT("  t%d = %g (0, 100) ; typical value %d\n", i, 1.0 + i % 7, i);
    OUT("$OMEGA\n");
    for (int i = 0; i < NETA; i++)
        OUT("  e%d ~ 0.1\n", i);
    OUT("$SIGMA\n  eps ~ 0.1\n");
    OUT("$PK\n");
    for (int i = 0; i < NPK; i++) {
        int t = i % NTHETA, e = i % NETA;
        if (i < NTHETA)
            OUT("  P%d = t%d*exp(e%d)*(WT/70)^0.75\n", i, t, e);
        else
            OUT("  P%d = P%d + log(1 + t%d*P%d)\n", i, i - NTHETA, t, i - 1);
    }
    OUT("  KA = P%d\n  KE = P%d\n", NPK - 1, NPK - 2);
    OUT("$DES\n  d/dt(depot) = -KA*depot\n  d/dt(central) = KA*depot - KE*central\n");
    OUT("$ERROR\n  IPRED = central\n  Y = IPRED + eps\n");
    while (nl < 10000)
        OUT("; padding comment\n");
#undef OUT
    *len = n;
    *lines = nl;
    return s;
}

int main(void)
{
    size_t len;
    int lines;
    char *src = build_model(&len, &lines);
    enum { RUNS = 9 };
    double t[RUNS];
    int errors = 0, nodes = 0;
    size_t bytes = 0;
    for (int r = 0; r < RUNS; r++) {
        FILE *sink = fopen("/dev/null", "w");
        double t0 = now();
        Arena *a = mem_arena_new();
        Diag *d = diag_new(a, sink);
        Ast *ast = parse_string(a, d, "big.qlx", src, len, NULL);
        Model *m = ast ? sema_check(a, d, ast) : NULL;
        LowerInfo info;
        Graph *g = m ? lower_model(a, m, &info) : NULL;
        errors = diag_errors(d);
        nodes = g ? graph_size(g) : 0;
        bytes = mem_arena_bytes(a);
        mem_arena_free(&a);
        t[r] = now() - t0;
        fclose(sink);
    }
    qsort(t, RUNS, sizeof t[0], cmp_double);
    printf("front end: %d lines (%zu bytes), %d errors, %d graph nodes, arena %.1f MiB\n", lines, len,
           errors, nodes, (double)bytes / (1 << 20));
    printf("front end: parse + check + graph: median %.2f ms (min %.2f, max %.2f) over %d runs; aim < 50 ms\n",
           1e3 * t[RUNS / 2], 1e3 * t[0], 1e3 * t[RUNS - 1], RUNS);
    free(src);
    return errors ? 1 : 0;
}
