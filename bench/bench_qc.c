/*
 * bench_qc.c -- how fast does the statevector simulator apply a gate?
 *
 *   make build/bench/bench_qc
 *   build/bench/bench_qc            4, 10, 16 and 20 qubits
 *   build/bench/bench_qc 24         ... and 24 (512 MiB of state; about a minute)
 *
 * A gate reads and writes the whole state once: 2 * 16 * 2^n bytes.  From
 * 16 qubits up the state no longer fits in the first cache levels, so the
 * limit is memory bandwidth, which the program measures first over 256
 * MiB arrays: a copy, a STREAM-style triad a = b + s c, and an in-place
 * scaling b = s b, which is a gate's own pattern (each cache line read
 * and written back, with no write-allocate traffic), all counted as
 * STREAM counts them: bytes read plus bytes written.  Each gate time is
 * printed beside the time its traffic would take at the best of the
 * three; "x bw" is the ratio (1.0 = at the bandwidth limit, below 1 when
 * the state is still in cache).
 *
 * How it times: a circuit of G gates cycling over the wires (RY by a
 * trainable parameter; CNOT(w, w+1 mod n)), run by qc_expect_batch; the
 * same call with no gates is timed too and subtracted, so the state's
 * preparation and the expectation value are not counted.  At 4 and 10
 * qubits many points go through in one call (the batch a training epoch
 * makes); from 16 up, one point.  Every figure is the median of 7
 * repetitions (5 at 24 qubits), CLOCK_MONOTONIC.
 *
 * A last line times what a physics-informed network needs per time point:
 * 4 qubits, RY re-uploading before each of 4 strongly entangling layers,
 * one output; the forward pass alone, and with d/dtheta, d/dt and
 * d2/(dt dtheta) by the adjoint sweep.
 */
#include "qc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static volatile double sink;

/* bytes/s: a memcpy, a triad and an in-place scaling (a gate's access
 * pattern: each line read, then written back) over 256 MiB arrays */
static void bandwidth(double *copy_bw, double *triad_bw, double *scale_bw)
{
    size_t n = (size_t)32 << 20; /* doubles: 256 MiB */
    double *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b), *c = malloc(n * sizeof *c);
    if (!a || !b || !c) {
        fprintf(stderr, "bench_qc: no memory for the bandwidth arrays\n");
        exit(1);
    }
    for (size_t i = 0; i < n; i++)
        a[i] = 0, b[i] = (double)i, c[i] = 1.0 / (double)(i + 1);
    double tc[7], tt[7], ts[7];
    for (int r = 0; r < 7; r++) {
        double t0 = now();
        memcpy(a, b, n * sizeof *a);
        tc[r] = now() - t0;
        sink += a[r];
        t0 = now();
        for (size_t i = 0; i < n; i++)
            a[i] = b[i] + 0.5 * c[i];
        tt[r] = now() - t0;
        sink += a[n / 2 + (size_t)r];
        t0 = now();
        for (size_t i = 0; i < n; i++)
            b[i] *= 0.999;
        ts[r] = now() - t0;
        sink += b[n / 3 + (size_t)r];
    }
    *copy_bw = 2.0 * (double)(n * sizeof *a) / median(tc, 7);
    *triad_bw = 3.0 * (double)(n * sizeof *a) / median(tt, 7);
    *scale_bw = 2.0 * (double)(n * sizeof *a) / median(ts, 7);
    free(a), free(b), free(c);
}

static QcCircuit *circuit(int n, QcGate g, int ngates)
{
    QcCircuit *c;
    char err[QC_ERRLEN];
    if (qc_new(n, &c, err)) {
        fprintf(stderr, "bench_qc: %s\n", err);
        exit(1);
    }
    int first;
    qc_new_params(c, 1, &first);
    for (int i = 0; i < ngates; i++) {
        int w = i % n;
        int rc = g == QC_CNOT ? qc_gate(c, QC_CNOT, w, (w + 1) % n, qc_const(0))
                              : qc_gate(c, g, w, -1, qc_param(first));
        if (rc) {
            fprintf(stderr, "bench_qc: %s\n", qc_error(c));
            exit(1);
        }
    }
    qc_obs_pauli(c, 'Z', 0, NULL);
    return c;
}

/* seconds per call of qc_expect_batch over npoints, median of reps */
static double time_batch(const QcCircuit *c, QcWork *w, int npoints, int reps)
{
    double theta = 0.3, *out = malloc((size_t)npoints * sizeof *out), t[9];
    if (!out)
        exit(1);
    qc_expect_batch(c, w, &theta, npoints, NULL, out); /* warm: the workspace grows here */
    for (int r = 0; r < reps; r++) {
        double t0 = now();
        if (qc_expect_batch(c, w, &theta, npoints, NULL, out)) {
            fprintf(stderr, "bench_qc: %s\n", qc_work_error(w));
            exit(1);
        }
        t[r] = now() - t0;
        sink += out[0];
    }
    free(out);
    return median(t, reps);
}

/* seconds per gate application: (time(G gates) - time(no gates)) / (G npoints) */
static double per_gate(int n, QcGate g, QcWork *w)
{
    int ngates = n <= 10 ? 200 : n <= 16 ? 100 : n <= 20 ? 40 : 12;
    int npoints = n <= 4 ? 5000 : n <= 10 ? 100 : 1;
    int reps = n >= 24 ? 5 : 7;
    QcCircuit *c = circuit(n, g, ngates), *c0 = circuit(n, g, 0);
    double tg = time_batch(c, w, npoints, reps), t0 = time_batch(c0, w, npoints, reps);
    qc_free(&c), qc_free(&c0);
    return (tg - t0) / ((double)ngates * npoints);
}

static void pinn_point(QcWork *w)
{
    QcCircuit *c;
    char err[QC_ERRLEN];
    if (qc_new(4, &c, err))
        exit(1);
    QcLayers s = { 0 };
    s.embed = QC_EMBED_ANGLE, s.axis = 'y', s.scale = 0.1, s.reupload = 1;
    s.ansatz = QC_ANSATZ_STRONGLY_ENTANGLING, s.nlayers = 4;
    qc_build_layers(c, &s, NULL);
    qc_obs_pauli(c, 'Z', 0, NULL);
    enum { P = 2000 };
    int np = qc_nparams(c), nops = qc_nops(c);
    double *theta = malloc((size_t)np * sizeof *theta), *x = malloc(P * sizeof *x);
    double *out = malloc(P * sizeof *out), *dth = malloc((size_t)P * np * sizeof *dth);
    double *dthv = malloc((size_t)P * np * sizeof *dthv), *dv = malloc(P * sizeof *dv);
    if (!theta || !x || !out || !dth || !dthv || !dv)
        exit(1);
    for (int j = 0; j < np; j++)
        theta[j] = 0.1 * j;
    for (int p = 0; p < P; p++)
        x[p] = 24.0 * p / P;
    double dir = 1, tf[7], tb[7];
    QcEval e = { 0 };
    e.npoints = P, e.theta = theta, e.x = x, e.out = out;
    qc_eval(c, w, &e);
    for (int r = 0; r < 7; r++) {
        double t0 = now();
        qc_eval(c, w, &e);
        tf[r] = now() - t0;
    }
    e.dtheta = dth, e.dir = &dir, e.dout_dir = dv, e.dtheta_dir = dthv;
    qc_eval(c, w, &e);
    for (int r = 0; r < 7; r++) {
        double t0 = now();
        qc_eval(c, w, &e);
        tb[r] = now() - t0;
    }
    printf("PI-HQNN point (4 qubits, 4 re-uploaded strongly entangling layers: %d gates, %d "
           "parameters): forward %.2f us, with d/dtheta, d/dt, d2/(dt dtheta) %.2f us\n",
           nops, np, 1e6 * median(tf, 7) / P, 1e6 * median(tb, 7) / P);
    sink += out[0] + dth[0] + dthv[0];
    free(theta), free(x), free(out), free(dth), free(dthv), free(dv);
    qc_free(&c);
}

int main(int argc, char **argv)
{
    int with24 = argc > 1 && atoi(argv[1]) >= 24;
    QcWork *w;
    char err[QC_ERRLEN];
    if (qc_work_new(&w, err)) {
        fprintf(stderr, "bench_qc: %s\n", err);
        return 1;
    }
    double bc, bt, bs;
    bandwidth(&bc, &bt, &bs);
    double bw = bc > bt ? bc : bt;
    bw = bw > bs ? bw : bs;
    printf("bench_qc: memory bandwidth (256 MiB arrays, bytes read + bytes written): copy %.1f "
           "GB/s, triad %.1f GB/s, in place %.1f GB/s; median of 7\n",
           bc / 1e9, bt / 1e9, bs / 1e9);
    printf("%6s %10s %12s %12s %12s %8s %8s\n", "qubits", "state", "RY (ns)", "CNOT (ns)",
           "at bw (ns)", "RY x bw", "CNOT x bw");
    int ns[5] = { 4, 10, 16, 20, 24 };
    for (int i = 0; i < (with24 ? 5 : 4); i++) {
        int n = ns[i];
        double bytes = 2.0 * 16.0 * (double)((size_t)1 << n), limit = bytes / bw;
        double try_ = per_gate(n, QC_RY, w), tcx = per_gate(n, QC_CNOT, w);
        char state[32];
        double kib = 16.0 * (double)((size_t)1 << n) / 1024;
        if (kib < 1024)
            snprintf(state, sizeof state, "%.2g KiB", kib);
        else
            snprintf(state, sizeof state, "%.0f MiB", kib / 1024);
        printf("%6d %10s %12.1f %12.1f %12.1f %8.2f %8.2f\n", n, state, 1e9 * try_, 1e9 * tcx,
               1e9 * limit, try_ / limit, tcx / limit);
        fflush(stdout);
    }
    pinn_point(w);
    qc_work_free(&w);
    return 0;
}
