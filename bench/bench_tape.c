/*
 * bench_tape.c -- how much slower is a tape than hand-written C?
 *
 * The model is the one an ODE solver calls most in pharmacometrics: two
 * compartments with first-order absorption.  States depot, central,
 * periph; individual parameters KA CL V1 Q V2 (GIN_PARAM 0..4):
 *
 *   d depot   = -KA depot
 *   d central =  KA depot - (CL/V1) central - (Q/V1) central + (Q/V2) periph
 *   d periph  =  (Q/V1) central - (Q/V2) periph
 *
 * and its 3x3 Jacobian d(d state_i)/d(state_j), built with graph_diff()
 * as the lowering of a model would: 12 outputs, one tape.  The same 12
 * numbers are also computed by a hand-written C function.  Both sides are
 * called through a volatile function pointer, so the compiler can neither
 * inline nor specialise either, and both read their inputs through the
 * same GInputs, so the hand-written side pays the same pointer loads.
 * Both loops vary the states on every call and fold two outputs into a
 * volatile sink, so nothing is hoisted.
 *
 * Each figure is the median of 7 repetitions (timed with CLOCK_MONOTONIC,
 * tape and hand alternating); the first argument, if given, is the number
 * of evaluations per repetition.
 */
#include "graph.h"
#include "tape.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define NREP 7

typedef void (*HandFn)(const GInputs *in, double *out);
typedef void (*TapeFn)(const Tape *t, const GInputs *in, double *work, double *out);

/* The RHS and Jacobian as one would write them by hand. */
static void hand_rhs_jac(const GInputs *in, double *out)
{
    const double *p = in->v[GIN_PARAM], *s = in->v[GIN_STATE];
    double ka = p[0], k10 = p[1] / p[2], k12 = p[3] / p[2], k21 = p[3] / p[4];
    double absorb = ka * s[0], to_p = k12 * s[1], from_p = k21 * s[2];
    out[0] = -absorb;
    out[1] = absorb - k10 * s[1] - to_p + from_p;
    out[2] = to_p - from_p;
    out[3] = -ka;  out[4] = 0.0;         out[5] = 0.0;
    out[6] = ka;   out[7] = -k10 - k12;  out[8] = k21;
    out[9] = 0.0;  out[10] = k12;        out[11] = -k21;
}

static void build(Graph *g, GNode out[12])
{
    GNode ka = graph_input(g, GIN_PARAM, 0), cl = graph_input(g, GIN_PARAM, 1),
          v1 = graph_input(g, GIN_PARAM, 2), q = graph_input(g, GIN_PARAM, 3),
          v2 = graph_input(g, GIN_PARAM, 4);
    GNode s[3];
    for (int i = 0; i < 3; i++)
        s[i] = graph_input(g, GIN_STATE, i);
    GNode k10 = graph_binary(g, G_DIV, cl, v1), k12 = graph_binary(g, G_DIV, q, v1),
          k21 = graph_binary(g, G_DIV, q, v2);
    GNode absorb = graph_binary(g, G_MUL, ka, s[0]);
    GNode to_p = graph_binary(g, G_MUL, k12, s[1]), from_p = graph_binary(g, G_MUL, k21, s[2]);
    GNode elim = graph_binary(g, G_MUL, k10, s[1]);
    out[0] = graph_unary(g, G_NEG, absorb);
    out[1] = graph_binary(g, G_ADD,
                          graph_binary(g, G_SUB, graph_binary(g, G_SUB, absorb, elim), to_p),
                          from_p);
    out[2] = graph_binary(g, G_SUB, to_p, from_p);
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++)
            out[3 + 3 * i + j] = graph_diff(g, out[i], s[j]);
}

static double now(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0) {
        perror("bench_tape: clock_gettime");
        exit(1);
    }
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* The states move a little on every call, as they do under a solver. */
static void vary(double *s, long k)
{
    double d = (double)(k & 1023) * 1e-3;
    s[0] = 100.0 - d;
    s[1] = 20.0 + d;
    s[2] = 5.0 + 0.5 * d;
}

static double time_tape(TapeFn volatile *fn, const Tape *tp, const GInputs *in, double *s,
                        double *w, long n, volatile double *sink)
{
    double out[12], acc = 0.0, t0 = now();
    for (long k = 0; k < n; k++) {
        vary(s, k);
        (*fn)(tp, in, w, out);
        acc += out[1] + out[7];
    }
    double t = now() - t0;
    *sink = acc;
    return t;
}

static double time_hand(HandFn volatile *fn, const GInputs *in, double *s, long n,
                        volatile double *sink)
{
    double out[12], acc = 0.0, t0 = now();
    for (long k = 0; k < n; k++) {
        vary(s, k);
        (*fn)(in, out);
        acc += out[1] + out[7];
    }
    double t = now() - t0;
    *sink = acc;
    return t;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return v[n / 2];
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? strtol(argv[1], NULL, 10) : 5000000L;
    if (n <= 0) {
        fprintf(stderr, "usage: bench_tape [evaluations per repetition]\n");
        return 2;
    }
    Arena *a = mem_arena_new();
    Graph *g = graph_new(a);
    GNode outs[12];
    build(g, outs);
    Tape *tp = tape_compile(g, outs, 12);
    if (!tp) {
        fprintf(stderr, "bench_tape: out of memory\n");
        return 1;
    }
    double *w = malloc(tape_work_size(tp) * sizeof *w);
    if (!w) {
        fprintf(stderr, "bench_tape: out of memory\n");
        return 1;
    }
    double p[5] = { 1.2, 3.5, 20.0, 7.0, 50.0 }, s[3];
    GInputs in = { { 0 } };
    in.v[GIN_PARAM] = p;
    in.v[GIN_STATE] = s;

    /* Same numbers both ways, or the timing means nothing. */
    double o1[12], o2[12];
    vary(s, 17);
    tape_eval(tp, &in, w, o1);
    hand_rhs_jac(&in, o2);
    for (int i = 0; i < 12; i++)
        if (o1[i] != o2[i]) {
            fprintf(stderr, "bench_tape: output %d differs: tape %.17g, hand %.17g\n",
                    i, o1[i], o2[i]);
            return 1;
        }

    HandFn volatile hand = hand_rhs_jac;
    TapeFn volatile tape = tape_eval;
    volatile double sink;
    double tt[NREP], th[NREP];
    time_tape(&tape, tp, &in, s, w, n / 10 + 1, &sink);   /* warm up */
    time_hand(&hand, &in, s, n / 10 + 1, &sink);
    for (int r = 0; r < NREP; r++) {
        tt[r] = time_tape(&tape, tp, &in, s, w, n, &sink);
        th[r] = time_hand(&hand, &in, s, n, &sink);
    }
    double mt = median(tt, NREP), mh = median(th, NREP);

    printf("bench_tape: 2-cmt absorption RHS + 3x3 Jacobian: %d outputs, %d instructions, "
           "%zu work doubles; %ld evals x %d reps, median\n",
           tape_noutputs(tp), tape_ninstr(tp), tape_work_size(tp), n, NREP);
    printf("tape: %.3g evals/s (%.1f ns/eval)\n", n / mt, 1e9 * mt / n);
    printf("hand: %.3g evals/s (%.1f ns/eval)\n", n / mh, 1e9 * mh / n);
    printf("ratio tape/hand: %.2fx\n", mt / mh);

    free(w);
    tape_free(&tp);
    mem_arena_free(&a);
    return 0;
}
