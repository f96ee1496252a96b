/* test_qc: the statevector simulator against closed forms (1-3 qubits),
 * the ansätze against PennyLane's decompositions, adjoint derivatives
 * (first, input, mixed second) against parameter shifts and central
 * differences, amplitude embedding by hand, shots against the exact
 * values, OpenQASM written, read back and re-simulated, and every error
 * path (allocation failures under -DQLX_FAULTS). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "qasm.h"
#include "qc.h"
#include "rng.h"
#include "tap.h"

static const double PI = 3.14159265358979323846;

static QcWork *W;

static QcCircuit *mk(int n)
{
    QcCircuit *c = NULL;
    char err[QC_ERRLEN];
    if (qc_new(n, &c, err) != QC_OK) {
        fprintf(stderr, "qc_new: %s\n", err);
        exit(2);
    }
    return c;
}

/* the observables' values at one point */
static int expect1(const QcCircuit *c, const double *theta, const double *x, double *out)
{
    return qc_expect_batch(c, W, theta, 1, x, out);
}

static void g1(QcCircuit *c, QcGate g, int w, double a)
{
    if (qc_gate(c, g, w, -1, qc_const(a)))
        printf("# qc_gate: %s\n", qc_error(c));
}

static void g2(QcCircuit *c, QcGate g, int w0, int w1, double a)
{
    if (qc_gate(c, g, w0, w1, qc_const(a)))
        printf("# qc_gate: %s\n", qc_error(c));
}

static int obs(QcCircuit *c, const char *paulis, const int *wires, double coeff)
{
    int o;
    qc_obs_new(c, &o);
    qc_obs_term(c, o, coeff, (int)strlen(paulis), paulis, wires);
    return o;
}

static int close_to(double a, double b, double tol)
{
    return fabs(a - b) <= tol;
}

/* --- closed forms ------------------------------------------------------------------- */

static void one_qubit(void)
{
    double a = 0.83, b = -1.27, out[3], worst = 0;
    int w0 = 0;
    /* RY(a)|0>: Bloch vector (sin a, 0, cos a) */
    QcCircuit *c = mk(1);
    g1(c, QC_RY, 0, a);
    obs(c, "X", &w0, 1), obs(c, "Y", &w0, 1), obs(c, "Z", &w0, 1);
    expect1(c, NULL, NULL, out);
    ok(close_to(out[0], sin(a), 1e-15) && close_to(out[1], 0, 1e-15) &&
           close_to(out[2], cos(a), 1e-15),
       "RY(a)|0>: <X> = sin a, <Y> = 0, <Z> = cos a");
    qc_free(&c);

    /* RX(a) then RY(b): (cos a sin b, -sin a, cos a cos b) -- the signs of
     * RX = exp(-i a X/2) and of RY's action on the Bloch sphere */
    c = mk(1);
    g1(c, QC_RX, 0, a);
    g1(c, QC_RY, 0, b);
    obs(c, "X", &w0, 1), obs(c, "Y", &w0, 1), obs(c, "Z", &w0, 1);
    expect1(c, NULL, NULL, out);
    ok(close_to(out[0], cos(a) * sin(b), 1e-15) && close_to(out[1], -sin(a), 1e-15) &&
           close_to(out[2], cos(a) * cos(b), 1e-15),
       "RX(a) RY(b)|0>: <X> = cos a sin b, <Y> = -sin a, <Z> = cos a cos b");
    qc_free(&c);

    /* H then RZ(a): (cos a, sin a, 0) */
    c = mk(1);
    g1(c, QC_H, 0, 0);
    g1(c, QC_RZ, 0, a);
    obs(c, "X", &w0, 1), obs(c, "Y", &w0, 1), obs(c, "Z", &w0, 1);
    expect1(c, NULL, NULL, out);
    ok(close_to(out[0], cos(a), 1e-15) && close_to(out[1], sin(a), 1e-15) &&
           close_to(out[2], 0, 1e-15),
       "H RZ(a)|0>: <X> = cos a, <Y> = sin a");
    qc_free(&c);

    /* Rot(phi, theta, omega) on |+>: RZ(phi), RY(theta), RZ(omega) in turn */
    double ph = 0.4, th = 1.1, om = -0.7;
    c = mk(1);
    g1(c, QC_H, 0, 0);
    qc_rot(c, 0, qc_const(ph), qc_const(th), qc_const(om));
    obs(c, "X", &w0, 1), obs(c, "Y", &w0, 1), obs(c, "Z", &w0, 1);
    expect1(c, NULL, NULL, out);
    double x = cos(ph) * cos(th), y = sin(ph);
    ok(close_to(out[0], x * cos(om) - y * sin(om), 1e-15) &&
           close_to(out[1], x * sin(om) + y * cos(om), 1e-15) &&
           close_to(out[2], -cos(ph) * sin(th), 1e-15),
       "Rot(phi, theta, omega) = RZ(omega) RY(theta) RZ(phi) on |+>");
    qc_free(&c);

    /* the fixed gates: H S -> <Y> = 1; H T -> <X> = <Y> = 1/sqrt 2; H Z -> <X> = -1;
     * X, Y -> <Z> = -1; H Y -> <X> = -1 */
    struct {
        QcGate g[2];
        double x, y, z;
        const char *what;
    } f[] = {
        { { QC_H, QC_S }, 0, 1, 0, "H S" },
        { { QC_H, QC_T }, sqrt(0.5), sqrt(0.5), 0, "H T" },
        { { QC_H, QC_Z }, -1, 0, 0, "H Z" },
        { { QC_X, QC_NGATES }, 0, 0, -1, "X" },
        { { QC_Y, QC_NGATES }, 0, 0, -1, "Y" },
        { { QC_H, QC_Y }, -1, 0, 0, "H Y" },
        { { QC_H, QC_H }, 0, 0, 1, "H H" },
    };
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) {
        c = mk(1);
        for (int k = 0; k < 2; k++)
            if (f[i].g[k] != QC_NGATES)
                g1(c, f[i].g[k], 0, 0);
        obs(c, "X", &w0, 1), obs(c, "Y", &w0, 1), obs(c, "Z", &w0, 1);
        expect1(c, NULL, NULL, out);
        double e = fmax(fabs(out[0] - f[i].x), fmax(fabs(out[1] - f[i].y), fabs(out[2] - f[i].z)));
        worst = fmax(worst, e);
        if (e > 1e-15)
            printf("# %s: <X> %g <Y> %g <Z> %g\n", f[i].what, out[0], out[1], out[2]);
        qc_free(&c);
    }
    ok(worst <= 1e-15, "H S T X Y Z: Bloch vectors (worst error %.1e)", worst);
}

static void two_three_qubits(void)
{
    double out[8], amp[16];
    int w01[2] = { 0, 1 }, w0 = 0, w1 = 1, w012[3] = { 0, 1, 2 }, w12[2] = { 1, 2 };

    /* wire 0 is the most significant bit: X on wire 0 of 2 gives |10>, index 2 */
    QcCircuit *c = mk(2);
    g1(c, QC_X, 0, 0);
    qc_state(c, W, NULL, NULL, amp);
    ok(amp[4] == 1 && amp[0] == 0 && amp[2] == 0 && amp[6] == 0,
       "X on wire 0 of 2 qubits: amplitude 1 at index 2 (wire 0 = most significant bit)");
    qc_free(&c);

    /* Bell state */
    c = mk(2);
    g1(c, QC_H, 0, 0);
    g2(c, QC_CNOT, 0, 1, 0);
    obs(c, "ZZ", w01, 1), obs(c, "Z", &w0, 1), obs(c, "Z", &w1, 1), obs(c, "XX", w01, 1);
    obs(c, "YY", w01, 1);
    expect1(c, NULL, NULL, out);
    ok(close_to(out[0], 1, 1e-15) && close_to(out[1], 0, 1e-15) && close_to(out[2], 0, 1e-15) &&
           close_to(out[3], 1, 1e-15) && close_to(out[4], -1, 1e-15),
       "Bell state: <Z0 Z1> = 1, <Z0> = <Z1> = 0, <X0 X1> = 1, <Y0 Y1> = -1");
    qc_free(&c);

    /* GHZ on 3 */
    c = mk(3);
    g1(c, QC_H, 0, 0);
    g2(c, QC_CNOT, 0, 1, 0);
    g2(c, QC_CNOT, 1, 2, 0);
    obs(c, "ZZZ", w012, 1), obs(c, "XXX", w012, 1), obs(c, "ZZ", w12, 1);
    obs(c, "XYY", w012, 1);
    expect1(c, NULL, NULL, out);
    ok(close_to(out[0], 0, 1e-15) && close_to(out[1], 1, 1e-15) && close_to(out[2], 1, 1e-15) &&
           close_to(out[3], -1, 1e-15),
       "GHZ: <ZZZ> = 0, <XXX> = 1, <Z1 Z2> = 1, <X Y Y> = -1");
    qc_free(&c);

    /* controlled rotations, control |+> or |1> */
    double a = 0.91;
    struct {
        QcGate ctl_prep, g, tgt_prep;
        const char *obs;
        double want;
        const char *what;
    } cr[] = {
        { QC_H, QC_CRX, QC_NGATES, "Z", (1 + cos(a)) / 2,
          "CRX(a), control |+>: <Z1> = (1 + cos a)/2" },
        { QC_X, QC_CRX, QC_NGATES, "Y", -sin(a), "CRX(a), control |1>: <Y1> = -sin a" },
        { QC_H, QC_CRY, QC_NGATES, "X", sin(a) / 2, "CRY(a), control |+>: <X1> = sin(a)/2" },
        { QC_X, QC_CRZ, QC_H, "X", cos(a), "CRZ(a), control |1>, target |+>: <X1> = cos a" },
        { QC_H, QC_CRZ, QC_H, "Y", sin(a) / 2, "CRZ(a), control |+>, target |+>: <Y1> = sin(a)/2" },
    };
    for (size_t i = 0; i < sizeof cr / sizeof cr[0]; i++) {
        c = mk(2);
        g1(c, cr[i].ctl_prep, 0, 0);
        if (cr[i].tgt_prep != QC_NGATES)
            g1(c, cr[i].tgt_prep, 1, 0);
        g2(c, cr[i].g, 0, 1, a);
        obs(c, cr[i].obs, &w1, 1), obs(c, "Z", &w0, 1);
        expect1(c, NULL, NULL, out);
        ok(close_to(out[0], cr[i].want, 1e-15) &&
               close_to(out[1], cr[i].ctl_prep == QC_X ? -1 : 0, 1e-15),
           "%s (got %.17g)", cr[i].what, out[0]);
        qc_free(&c);
    }
    /* a controlled rotation on the more significant wire: control 1, target 0 */
    c = mk(2);
    g1(c, QC_X, 1, 0);
    g2(c, QC_CRY, 1, 0, a);
    obs(c, "Z", &w0, 1);
    expect1(c, NULL, NULL, out);
    ok(close_to(out[0], cos(a), 1e-15), "CRY(a) with control wire 1, target wire 0: <Z0> = cos a");
    qc_free(&c);

    /* SWAP moves |1> from wire 0 to wire 1; CZ on |++> makes <Z0 X1> = 1 */
    c = mk(2);
    g1(c, QC_X, 0, 0);
    g2(c, QC_SWAP, 0, 1, 0);
    obs(c, "Z", &w0, 1), obs(c, "Z", &w1, 1);
    expect1(c, NULL, NULL, out);
    ok(out[0] == 1 && out[1] == -1, "SWAP: X0 SWAP gives <Z0> = 1, <Z1> = -1");
    qc_free(&c);
    c = mk(2);
    g1(c, QC_H, 0, 0);
    g1(c, QC_H, 1, 0);
    g2(c, QC_CZ, 0, 1, 0);
    obs(c, "ZX", w01, 1), obs(c, "X", &w0, 1);
    expect1(c, NULL, NULL, out);
    ok(close_to(out[0], 1, 1e-15) && close_to(out[1], 0, 1e-15), "CZ |++>: <Z0 X1> = 1, <X0> = 0");
    qc_free(&c);

    /* a weighted sum: 0.5 Z0 + 2 X1 - 0.25 Z0 Z1 + 0.1 I after RY(a) (x) RY(b) */
    double b = -0.4;
    c = mk(2);
    g1(c, QC_RY, 0, a);
    g1(c, QC_RY, 1, b);
    int o;
    qc_obs_new(c, &o);
    qc_obs_term(c, o, 0.5, 1, "Z", &w0);
    qc_obs_term(c, o, 2, 1, "X", &w1);
    qc_obs_term(c, o, -0.25, 2, "ZZ", w01);
    qc_obs_term(c, o, 0.1, 0, "", NULL);
    expect1(c, NULL, NULL, out);
    double want = 0.5 * cos(a) + 2 * sin(b) - 0.25 * cos(a) * cos(b) + 0.1;
    ok(close_to(out[0], want, 1e-15), "0.5 Z0 + 2 X1 - 0.25 Z0 Z1 + 0.1: %.17g vs %.17g", out[0],
       want);
    qc_free(&c);
}

/* The ansätze's gate sequences, against PennyLane's decompositions. */
static void ansatz_structure(void)
{
    QcCircuit *c = mk(3);
    int first = -1;
    qc_ansatz_strongly_entangling(c, 2, 0, NULL, &first);
    /* per layer: Rot on wires 0,1,2 (RZ RY RZ each), then CNOT(i, i+r mod 3),
     * r = 1 then 2 */
    static const int cn[2][3][2] = { { { 0, 1 }, { 1, 2 }, { 2, 0 } },
                                     { { 0, 2 }, { 1, 0 }, { 2, 1 } } };
    int good = qc_nops(c) == 24 && qc_nparams(c) == 18 && first == 0;
    for (int l = 0; l < 2 && good; l++) {
        for (int w = 0; w < 3; w++)
            for (int k = 0; k < 3; k++) {
                QcOp op;
                qc_op(c, l * 12 + 3 * w + k, &op);
                good &= op.gate == (k == 1 ? QC_RY : QC_RZ) && op.wire[0] == w &&
                        op.angle.src == QC_PARAM && op.angle.index == 3 * (3 * l + w) + k;
            }
        for (int i = 0; i < 3; i++) {
            QcOp op;
            qc_op(c, l * 12 + 9 + i, &op);
            good &= op.gate == QC_CNOT && op.wire[0] == cn[l][i][0] && op.wire[1] == cn[l][i][1];
        }
    }
    ok(good, "strongly entangling, 3 wires x 2 layers: Rot then CNOT(i, i+r), r = 1, 2; "
             "weights (L, n, 3)");
    qc_free(&c);

    int nops[4], ncnot[4];
    for (int n = 1; n <= 4; n++) {
        c = mk(n);
        qc_ansatz_basic_entangler(c, 1, 'y', NULL);
        nops[n - 1] = qc_nops(c);
        ncnot[n - 1] = 0;
        for (int i = 0; i < qc_nops(c); i++) {
            QcOp op;
            qc_op(c, i, &op);
            ncnot[n - 1] += op.gate == QC_CNOT;
        }
        qc_free(&c);
    }
    ok(ncnot[0] == 0 && ncnot[1] == 1 && ncnot[2] == 3 && ncnot[3] == 4 && nops[3] == 8,
       "basic entangler: CNOTs per layer 0, 1, 3, 4 for 1-4 wires (a ring; one CNOT for 2)");

    c = mk(2);
    qc_ansatz_strongly_entangling(c, 1, 0, NULL, NULL);
    QcOp a, b;
    qc_op(c, 6, &a), qc_op(c, 7, &b);
    ok(qc_nops(c) == 8 && a.wire[0] == 0 && a.wire[1] == 1 && b.wire[0] == 1 && b.wire[1] == 0,
       "strongly entangling on 2 wires: CNOT(0,1) and CNOT(1,0)");
    qc_free(&c);

    c = mk(3);
    qc_ansatz_euler(c, 2, "zxz", QC_ENT_CHAIN, &first);
    ok(qc_nparams(c) == 18 && qc_nops(c) == 2 * (9 + 2),
       "euler zxz, chain: 9 rotations + 2 CNOTs a layer");
    qc_free(&c);

    /* re-uploading: embedding, layer, embedding, layer */
    c = mk(2);
    QcLayers s = { 0 };
    s.embed = QC_EMBED_ANGLE, s.axis = 'y', s.scale = 0.5, s.reupload = 1;
    s.ansatz = QC_ANSATZ_STRONGLY_ENTANGLING, s.nlayers = 3;
    qc_build_layers(c, &s, &first);
    int pattern = qc_nops(c) == 3 * (2 + 8) && qc_nparams(c) == 18 && qc_ninputs(c) == 1;
    for (int l = 0; l < 3 && pattern; l++) {
        QcOp op;
        qc_op(c, 10 * l, &op);
        pattern &= op.gate == QC_RY && op.angle.src == QC_INPUT && op.angle.scale == 0.5;
        qc_op(c, 10 * l + 2, &op);
        pattern &= op.angle.src == QC_PARAM && op.angle.index == 6 * l;
    }
    ok(pattern, "re-uploading: the embedding before each of 3 layers, weights still (L, n, 3)");
    qc_free(&c);
}

/* --- derivatives ------------------------------------------------------------------------ */

typedef struct {
    const char *name;
    QcCircuit *c;
    int npoints;
    double theta[256], x[16], dir[8];
} Case;

static double maxdiff(const double *a, const double *b, size_t n)
{
    double m = 0;
    for (size_t i = 0; i < n; i++)
        m = fmax(m, fabs(a[i] - b[i]));
    return m;
}

static int eval(const Case *k, const double *theta, const double *x, double *out, double *dth,
                double *dx, const double *dir, double *dv, double *dthv, double *dxv)
{
    QcEval e = { 0 };
    e.npoints = k->npoints, e.theta = theta, e.x = x, e.out = out, e.dtheta = dth, e.dx = dx;
    e.dir = dir, e.dout_dir = dv, e.dtheta_dir = dthv, e.dx_dir = dxv;
    int rc = qc_eval(k->c, W, &e);
    if (rc)
        printf("# qc_eval: %s\n", qc_work_error(W));
    return rc;
}

/* Every derivative of case k three ways: adjoint, parameter shift (when
 * the circuit allows it), central differences. */
static void check_case(Case *k, int shiftable)
{
    const QcCircuit *c = k->c;
    int np = qc_nparams(c), ni = qc_ninputs(c), no = qc_nobs(c), P = k->npoints;
    size_t n1 = (size_t)P * no, nt = n1 * np, nx = n1 * ni;
    double *buf = calloc(12 * (nt + nx + n1) + 64, sizeof(double));
    double *out = buf, *dth = out + n1, *dx = dth + nt, *dv = dx + nx, *dthv = dv + n1,
           *dxv = dthv + nt, *ps_out = dxv + nx, *ps_dth = ps_out + n1, *ps_dx = ps_dth + nt,
           *ps_dv = ps_dx + nx, *ps_dthv = ps_dv + n1, *fd = ps_dthv + nt, *o1 = fd + nt + nx,
           *o2 = o1 + n1, *t1 = o2 + n1, *t2 = t1 + nt, *x1 = t2 + nt, *x2 = x1 + nx;
    double th[256], xs[16];
    const double h = 1e-5;

    eval(k, k->theta, k->x, out, dth, dx, k->dir, dv, dthv, dxv);

    /* central differences of out in theta and x */
    double e_th = 0, e_x = 0, e_v = 0, e_thv = 0, e_xv = 0;
    for (int j = 0; j < np; j++) {
        memcpy(th, k->theta, sizeof th);
        th[j] = k->theta[j] + h;
        eval(k, th, k->x, o1, NULL, NULL, NULL, NULL, NULL, NULL);
        th[j] = k->theta[j] - h;
        eval(k, th, k->x, o2, NULL, NULL, NULL, NULL, NULL, NULL);
        for (size_t i = 0; i < n1; i++)
            e_th = fmax(e_th, fabs((o1[i] - o2[i]) / (2 * h) - dth[i * np + j]));
    }
    for (int q = 0; q < ni; q++) {
        memcpy(xs, k->x, sizeof xs);
        for (int p = 0; p < P; p++)
            xs[p * ni + q] += h;
        eval(k, k->theta, xs, o1, NULL, NULL, NULL, NULL, NULL, NULL);
        for (int p = 0; p < P; p++)
            xs[p * ni + q] -= 2 * h;
        eval(k, k->theta, xs, o2, NULL, NULL, NULL, NULL, NULL, NULL);
        for (size_t i = 0; i < n1; i++)
            e_x = fmax(e_x, fabs((o1[i] - o2[i]) / (2 * h) - dx[i * ni + q]));
    }
    /* along dir: out, and the adjoint gradients themselves */
    double xp[16], xm[16];
    for (int p = 0; p < P; p++)
        for (int q = 0; q < ni; q++) {
            xp[p * ni + q] = k->x[p * ni + q] + h * k->dir[q];
            xm[p * ni + q] = k->x[p * ni + q] - h * k->dir[q];
        }
    eval(k, k->theta, xp, o1, t1, x1, NULL, NULL, NULL, NULL);
    eval(k, k->theta, xm, o2, t2, x2, NULL, NULL, NULL, NULL);
    for (size_t i = 0; i < n1; i++) {
        double s = 0;
        for (int q = 0; q < ni; q++)
            s += k->dir[q] * dx[i * ni + q];
        e_v = fmax(e_v, fmax(fabs((o1[i] - o2[i]) / (2 * h) - dv[i]), fabs(s - dv[i]) * 1e4));
    }
    for (size_t i = 0; i < nt; i++)
        e_thv = fmax(e_thv, fabs((t1[i] - t2[i]) / (2 * h) - dthv[i]));
    for (size_t i = 0; i < nx; i++)
        e_xv = fmax(e_xv, fabs((x1[i] - x2[i]) / (2 * h) - dxv[i]));
    printf("# %s: |adjoint - central difference|: theta %.1e, x %.1e, d/dv %.1e, "
           "d2/(dv dtheta) %.1e, d2/(dv dx) %.1e\n",
           k->name, e_th, e_x, e_v, e_thv, e_xv);
    ok(e_th < 1e-8 && np > 0, "%s: d out/d theta (%d) = central differences to 1e-8", k->name, np);
    ok(e_x < 1e-8 && e_v < 1e-8, "%s: d out/d x and d out/dv = central differences (and sum v dx)",
       k->name);
    ok(e_thv < 1e-8, "%s: d2 out/(dv d theta) = differences of the adjoint gradient", k->name);
    ok(e_xv < 1e-8, "%s: d2 out/(dv d x) = differences of the adjoint input gradient", k->name);

    if (shiftable) {
        QcEval e = { 0 };
        e.npoints = P, e.theta = k->theta, e.x = k->x, e.out = ps_out, e.dtheta = ps_dth;
        e.dx = ps_dx, e.dir = k->dir, e.dout_dir = ps_dv, e.dtheta_dir = ps_dthv;
        int rc = qc_param_shift(c, W, &e);
        double d1 =
            fmax(maxdiff(ps_dth, dth, nt), fmax(maxdiff(ps_dx, dx, nx), maxdiff(ps_dv, dv, n1)));
        double d2 = maxdiff(ps_dthv, dthv, nt);
        printf("# %s: |adjoint - parameter shift|: first %.1e, mixed %.1e\n", k->name, d1, d2);
        ok(rc == QC_OK && maxdiff(ps_out, out, n1) < 1e-14 && d1 < 1e-10,
           "%s: parameter shift = adjoint for d/dtheta, d/dx, d/dv to 1e-10", k->name);
        ok(rc == QC_OK && d2 < 1e-10, "%s: parameter-shift mixed d2/(dv dtheta) = adjoint to 1e-10",
           k->name);
    }
    (void)fd;
    free(buf);
}

static void fill(Rng *r, double *v, int n, double lo, double hi)
{
    for (int i = 0; i < n; i++)
        v[i] = lo + (hi - lo) * rng_uniform(r);
}

static void derivatives(void)
{
    Rng r;
    rng_init(&r, 7, 0, 0);
    Case k;
    QcLayers s;
    int w[4] = { 0, 1, 2, 3 }, o;

    /* euler zxz, ring, angle embedding re-uploaded, three outputs */
    memset(&k, 0, sizeof k);
    k.name = "euler zxz + re-uploading (3 qubits)";
    k.c = mk(3);
    s = (QcLayers){ 0 };
    s.embed = QC_EMBED_ANGLE, s.axis = 'y', s.scale = 0.7, s.reupload = 1;
    s.ansatz = QC_ANSATZ_EULER, s.nlayers = 2, s.rots = "zxz";
    qc_build_layers(k.c, &s, NULL);
    obs(k.c, "Z", w, 1);
    qc_obs_new(k.c, &o);
    qc_obs_term(k.c, o, 0.5, 2, "XY", w + 1);
    qc_obs_term(k.c, o, 0.3, 2, "ZZ", (int[]){ 0, 2 });
    obs(k.c, "Y", w + 1, 1);
    k.npoints = 3;
    fill(&r, k.theta, qc_nparams(k.c), -PI, PI);
    fill(&r, k.x, 3, -1.5, 1.5);
    k.dir[0] = 1;
    check_case(&k, 1);
    qc_free(&k.c);

    /* strongly entangling, two inputs on wires 0 and 1, re-uploaded */
    memset(&k, 0, sizeof k);
    k.name = "strongly entangling + 2 inputs re-uploaded (4 qubits)";
    k.c = mk(4);
    s = (QcLayers){ 0 };
    s.embed = QC_EMBED_ANGLE, s.axis = 'x', s.input = 0, s.ninputs = 2, s.scale = 1.3;
    s.reupload = 1, s.ansatz = QC_ANSATZ_STRONGLY_ENTANGLING, s.nlayers = 3;
    qc_build_layers(k.c, &s, NULL);
    obs(k.c, "Z", w, 1), obs(k.c, "XZ", w + 2, 1);
    k.npoints = 2;
    fill(&r, k.theta, qc_nparams(k.c), -PI, PI);
    fill(&r, k.x, 4, -1, 1);
    k.dir[0] = 0.6, k.dir[1] = -0.8;
    check_case(&k, 1);
    qc_free(&k.c);

    /* basic entangler on 2 wires (one CNOT), RY rotations, no re-uploading */
    memset(&k, 0, sizeof k);
    k.name = "basic entangler (2 qubits)";
    k.c = mk(2);
    s = (QcLayers){ 0 };
    s.embed = QC_EMBED_ANGLE, s.axis = 'x', s.scale = 2;
    s.ansatz = QC_ANSATZ_BASIC_ENTANGLER, s.nlayers = 3, s.rots = "y";
    qc_build_layers(k.c, &s, NULL);
    obs(k.c, "ZZ", w, 1), obs(k.c, "X", w, 1);
    k.npoints = 2;
    fill(&r, k.theta, qc_nparams(k.c), -PI, PI);
    fill(&r, k.x, 2, -1, 1);
    k.dir[0] = 1;
    check_case(&k, 1);
    qc_free(&k.c);

    /* every gate type, inputs with shifts, a parameter shared by two gates,
     * controlled rotations of inputs and of parameters */
    memset(&k, 0, sizeof k);
    k.name = "every gate (3 qubits)";
    k.c = mk(3);
    QcCircuit *c = k.c;
    QcAngle in1 = qc_input(1, -0.8);
    in1.shift = 0.3;
    QcAngle p2 = qc_param(2);
    p2.scale = 1.7, p2.shift = -0.2;
    g1(c, QC_H, 0, 0);
    qc_gate(c, QC_RY, 1, -1, qc_input(0, 1.1));
    qc_gate(c, QC_CRX, 0, 1, qc_param(0));
    qc_gate(c, QC_RX, 2, -1, in1);
    qc_gate(c, QC_CRY, 2, 0, qc_input(0, 0.5));
    g1(c, QC_S, 1, 0), g1(c, QC_T, 2, 0);
    qc_gate(c, QC_CRZ, 1, 2, qc_param(1));
    g2(c, QC_CZ, 0, 2, 0), g2(c, QC_SWAP, 0, 1, 0);
    qc_gate(c, QC_RZ, 0, -1, p2);
    qc_gate(c, QC_RY, 2, -1, qc_param(3));
    g1(c, QC_Y, 1, 0), g1(c, QC_X, 2, 0), g1(c, QC_Z, 0, 0);
    qc_gate(c, QC_CRX, 2, 1, in1);
    qc_gate(c, QC_RX, 1, -1, p2);
    g2(c, QC_CNOT, 1, 0, 0);
    qc_gate(c, QC_CRY, 0, 2, qc_param(4));
    qc_rot(c, 1, qc_param(5), qc_input(1, 0.9), qc_param(6));
    g1(c, QC_H, 2, 0);
    qc_obs_new(c, &o);
    qc_obs_term(c, o, 1, 3, "XYZ", w);
    qc_obs_term(c, o, -0.4, 1, "Y", w + 2);
    obs(c, "Z", w + 1, 1);
    obs(c, "YX", w, 0.7);
    k.npoints = 2;
    fill(&r, k.theta, qc_nparams(c), -PI, PI);
    fill(&r, k.x, 4, -1, 1);
    k.dir[0] = 0.3, k.dir[1] = 1.2;
    check_case(&k, 1);
    qc_free(&k.c);

    /* a deep random circuit over every gate, random sources */
    memset(&k, 0, sizeof k);
    k.name = "random 4-qubit circuit, 80 gates";
    k.c = mk(4);
    c = k.c;
    for (int i = 0; i < 80; i++) {
        QcGate g = (QcGate)(rng_u32(&r) % QC_NGATES);
        int a = (int)(rng_u32(&r) % 4), b = (int)((a + 1 + rng_u32(&r) % 3) % 4);
        int src = (int)(rng_u32(&r) % 3);
        QcAngle an = src == 0   ? qc_const(rng_uniform(&r) * 6)
                     : src == 1 ? qc_param((int)(rng_u32(&r) % 12))
                                : qc_input((int)(rng_u32(&r) % 2), 0.5 + rng_uniform(&r));
        if (qc_gate(c, g, a, qc_gate_wires(g) == 2 ? b : -1, an))
            printf("# %s\n", qc_error(c));
    }
    qc_declare_inputs(c, 2);
    obs(c, "ZZ", w + 1, 1), obs(c, "XIY", w, 1);
    k.npoints = 2;
    fill(&r, k.theta, 12, -PI, PI);
    fill(&r, k.x, 4, -1, 1);
    k.dir[0] = 1, k.dir[1] = 0.5;
    check_case(&k, 1);
    qc_free(&k.c);

    /* amplitude embedding (3 of 4 amplitudes, padded) plus an angle-encoded
     * input, then strongly entangling layers */
    memset(&k, 0, sizeof k);
    k.name = "amplitude embedding + angle input (2 qubits)";
    k.c = mk(2);
    c = k.c;
    qc_embed_amplitude(c, 0, 3);
    qc_embed_angle(c, 'y', 3, 1, 0.8);
    qc_ansatz_strongly_entangling(c, 2, 0, NULL, NULL);
    obs(c, "Z", w, 1), obs(c, "XY", w, 1);
    k.npoints = 2;
    fill(&r, k.theta, qc_nparams(c), -PI, PI);
    fill(&r, k.x, 8, -1, 1);
    k.dir[0] = 0.5, k.dir[1] = -1, k.dir[2] = 0.25, k.dir[3] = 0.7;
    check_case(&k, 0);
    /* the parameter shift still gives d/dtheta through an amplitude embedding */
    double dth[2 * 2 * 24], ps[2 * 2 * 24];
    eval(&k, k.theta, k.x, NULL, dth, NULL, NULL, NULL, NULL, NULL);
    QcEval e = { 0 };
    e.npoints = 2, e.theta = k.theta, e.x = k.x, e.dtheta = ps;
    int rc = qc_param_shift(c, W, &e);
    int np = qc_nparams(c);
    ok(rc == QC_OK && maxdiff(ps, dth, (size_t)4 * np) < 1e-10,
       "amplitude embedding: parameter-shift d/dtheta = adjoint");
    e.dx = ps;
    rc = qc_param_shift(c, W, &e);
    ok(rc == QC_EINVAL && strstr(qc_work_error(W), "amplitude"),
       "parameter shift refuses d/dx through an amplitude embedding: %s", qc_work_error(W));
    qc_free(&k.c);
}

/* The mixed derivatives in closed form: RX(a) RY(s t) RY(b) |0> has
 * <Z> = cos a cos(s t + b), so d<Z>/dt = -s cos a sin(s t + b),
 * d2/(dt da) = s sin a sin(s t + b), d2/(dt db) = -s cos a cos(s t + b),
 * d2/dt2 = -s^2 cos a cos(s t + b). */
static void time_input(void)
{
    QcCircuit *c = mk(1);
    const double sc = 0.35;
    qc_gate(c, QC_RX, 0, -1, qc_param(0));
    qc_gate(c, QC_RY, 0, -1, qc_input(0, sc));
    qc_gate(c, QC_RY, 0, -1, qc_param(1));
    int w0 = 0;
    obs(c, "Z", &w0, 1);
    double theta[2] = { 0.7, -1.9 }, t[4] = { 0, 1, 5, 24 }, out[4], dv[4], dthv[8], dxv[4];
    double dir = 1, worst = 0;
    QcEval e = { 0 };
    e.npoints = 4, e.theta = theta, e.x = t, e.out = out, e.dir = &dir, e.dout_dir = dv;
    e.dtheta_dir = dthv, e.dx_dir = dxv;
    int rc = qc_eval(c, W, &e);
    for (int p = 0; p < 4; p++) {
        double a = theta[0], u = sc * t[p] + theta[1];
        worst = fmax(worst, fabs(out[p] - cos(a) * cos(u)));
        worst = fmax(worst, fabs(dv[p] + sc * cos(a) * sin(u)));
        worst = fmax(worst, fabs(dthv[2 * p] - sc * sin(a) * sin(u)));
        worst = fmax(worst, fabs(dthv[2 * p + 1] + sc * cos(a) * cos(u)));
        worst = fmax(worst, fabs(dxv[p] + sc * sc * cos(a) * cos(u)));
    }
    ok(rc == QC_OK && worst < 1e-15,
       "time input: d/dt, d2/(dt dtheta), d2/dt2 of cos a cos(s t + b) at t = 0, 1, 5, 24 "
       "(worst %.1e)",
       worst);
    qc_free(&c);
}

/* docs/quantum.md's example, verbatim: a physics loss and its gradient. */
/* L = sum_p r_p^2, r_p = dC/dt + k C at t_p, C = <O_0>; grad = dL/dtheta */
static int physics_loss(const QcCircuit *c, QcWork *w, const double *theta, int npoints,
                        const double *t, double k, double *loss, double *grad)
{
    int np = qc_nparams(c); /* one input (time), one output */
    double *buf = malloc(sizeof(double) * (size_t)npoints * (2 + 2 * (size_t)np));
    if (!buf)
        return QC_ENOMEM;
    double *C = buf, *dCdt = C + npoints, *dC = dCdt + npoints, *d2C = dC + (size_t)npoints * np;
    double one = 1; /* the direction: d/dt */
    QcEval e = { 0 };
    e.npoints = npoints, e.x = t, e.theta = theta;
    e.out = C, e.dtheta = dC;                            /* C and dC/dtheta_j */
    e.dir = &one, e.dout_dir = dCdt, e.dtheta_dir = d2C; /* dC/dt, d2C/(dt dtheta_j) */
    int rc = qc_eval(c, w, &e);
    *loss = 0;
    for (int j = 0; j < np; j++)
        grad[j] = 0;
    for (int p = 0; rc == QC_OK && p < npoints; p++) {
        double r = dCdt[p] + k * C[p];
        *loss += r * r;
        for (int j = 0; j < np; j++)
            grad[j] += 2 * r * (d2C[(size_t)p * np + j] + k * dC[(size_t)p * np + j]);
    }
    free(buf);
    return rc;
}

/* The example in docs/quantum.md is this file's physics_loss, verbatim
 * (run from the top of the tree, as tests/run does). */
static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *s = malloc(1 << 20);
    size_t n = s ? fread(s, 1, (1 << 20) - 1, f) : 0;
    fclose(f);
    if (s)
        s[n] = '\0';
    return s;
}

static void doc_example(void)
{
    char *doc = slurp("docs/quantum.md"), *src = slurp("tests/unit/test_qc.c");
    if (!doc || !src) {
        printf("# docs/quantum.md or tests/unit/test_qc.c not found: not run from the top of the "
               "tree\n");
        free(doc), free(src);
        return;
    }
    char *a = strstr(doc, "```c\n/* L = sum_p r_p^2"), *b = a ? strstr(a + 4, "```\n") : NULL;
    int same = 0;
    if (a && b) {
        a += 5;
        *b = '\0';
        same = strstr(src, a) != NULL;
    }
    ok(same, "docs/quantum.md shows physics_loss as the test runs it");
    free(doc), free(src);
}

static void physics(void)
{
    QcCircuit *c = mk(4);
    QcLayers s = { 0 };
    s.embed = QC_EMBED_ANGLE, s.axis = 'y', s.scale = 0.1, s.reupload = 1;
    s.ansatz = QC_ANSATZ_STRONGLY_ENTANGLING, s.nlayers = 3;
    qc_build_layers(c, &s, NULL);
    qc_obs_pauli(c, 'Z', 0, NULL);
    enum { NP = 36 };
    double theta[NP], th[NP], grad[NP], g2[NP], t[25], loss, lp, lm, worst = 0, scale = 0;
    Rng r;
    rng_init(&r, 17, 0, 0);
    fill(&r, theta, NP, -PI, PI);
    for (int p = 0; p < 25; p++)
        t[p] = p;
    int rc = physics_loss(c, W, theta, 25, t, 0.3, &loss, grad);
    for (int j = 0; j < NP; j++) {
        const double h = 1e-5;
        memcpy(th, theta, sizeof th);
        th[j] += h;
        physics_loss(c, W, th, 25, t, 0.3, &lp, g2);
        th[j] -= 2 * h;
        physics_loss(c, W, th, 25, t, 0.3, &lm, g2);
        worst = fmax(worst, fabs((lp - lm) / (2 * h) - grad[j]));
        scale = fmax(scale, fabs(grad[j]));
    }
    printf("# physics loss %.6g: |gradient - central differences| %.1e (largest component %.2g)\n",
           loss, worst, scale);
    ok(rc == QC_OK && worst < 1e-8 * fmax(scale, 1),
       "docs example: the gradient of sum (dC/dt + k C)^2 = central differences of the loss");
    qc_free(&c);
}

/* --- state properties ------------------------------------------------------------------- */

static void norms(void)
{
    Rng r;
    rng_init(&r, 11, 0, 0);
    double worst = 0;
    static double amp[2 << 10];
    for (int rep = 0; rep < 3; rep++) {
        int n = 6 + 2 * rep;
        QcCircuit *c = mk(n);
        for (int i = 0; i < 3000; i++) {
            QcGate g = (QcGate)(rng_u32(&r) % QC_NGATES);
            int a = (int)(rng_u32(&r) % (unsigned)n);
            int b = (int)((a + 1 + rng_u32(&r) % (unsigned)(n - 1)) % (unsigned)n);
            qc_gate(c, g, a, qc_gate_wires(g) == 2 ? b : -1, qc_const(rng_uniform(&r) * 12 - 6));
        }
        qc_state(c, W, NULL, NULL, amp);
        double s = 0;
        for (int i = 0; i < 2 << n; i++)
            s += amp[i] * amp[i];
        worst = fmax(worst, fabs(s - 1));
        qc_free(&c);
    }
    printf("# norm after 3000 random gates on 6, 8, 10 qubits: |1 - norm^2| <= %.1e\n", worst);
    ok(worst < 1e-12, "the norm is kept to 1e-12 through 3000 random gates");

    /* a circuit then its inverse gives |0> back (S, T: by S^3, T^7) */
    QcCircuit *c = mk(3);
    int nops = 0;
    QcOp ops[200];
    for (int i = 0; i < 100; i++) {
        QcGate g = (QcGate)(rng_u32(&r) % QC_NGATES);
        int a = (int)(rng_u32(&r) % 3), b = (int)((a + 1 + rng_u32(&r) % 2) % 3);
        ops[nops++] =
            (QcOp){ g, { a, qc_gate_wires(g) == 2 ? b : -1 }, qc_const(rng_uniform(&r) * 6) };
    }
    for (int i = 0; i < nops; i++)
        qc_gate(c, ops[i].gate, ops[i].wire[0], ops[i].wire[1], ops[i].angle);
    for (int i = nops - 1; i >= 0; i--) {
        QcOp op = ops[i];
        int times = op.gate == QC_S ? 3 : op.gate == QC_T ? 7 : 1;
        op.angle.shift = -op.angle.shift;
        for (int k = 0; k < times; k++)
            qc_gate(c, op.gate, op.wire[0], op.wire[1], op.angle);
    }
    qc_state(c, W, NULL, NULL, amp);
    double e = fabs(amp[0] - 1) + fabs(amp[1]);
    for (int i = 2; i < 16; i++)
        e += fabs(amp[i]);
    ok(e < 1e-13, "100 random gates then their inverses: back to |000> (error %.1e)", e);
    qc_free(&c);
}

static void amplitude(void)
{
    double x[5] = { 1, 2, 3, 0, 0 }, amp[16], out[2];
    QcCircuit *c = mk(2);
    int rc = qc_embed_amplitude(c, 0, 3), w0 = 0, w1 = 1;
    obs(c, "Z", &w0, 1), obs(c, "Z", &w1, 1);
    qc_state(c, W, NULL, x, amp);
    double r = sqrt(14.0);
    ok(rc == QC_OK && close_to(amp[0], 1 / r, 1e-16) && close_to(amp[2], 2 / r, 1e-16) &&
           close_to(amp[4], 3 / r, 1e-16) && amp[6] == 0 && amp[1] == 0 && amp[3] == 0,
       "amplitude embedding: (1, 2, 3) -> (1, 2, 3, 0)/sqrt 14");
    expect1(c, NULL, x, out);
    ok(close_to(out[0], (1 + 4 - 9) / 14.0, 1e-15) && close_to(out[1], (1 - 4 + 9) / 14.0, 1e-15),
       "amplitude embedding: <Z0> = -4/14, <Z1> = 6/14");
    double z[3] = { 0, 0, 0 };
    rc = expect1(c, NULL, z, out);
    ok(rc == QC_EDOMAIN && strstr(qc_work_error(W), "zero"), "a zero amplitude vector: %s",
       qc_work_error(W));
    qc_free(&c);

    /* 3 qubits from 5 numbers at input offset 1, after an unused input 0 */
    double y[6] = { 9, -1, 0.5, 2, 0, -3 };
    c = mk(3);
    qc_embed_amplitude(c, 1, 5);
    obs(c, "Z", &w0, 1);
    qc_state(c, W, NULL, y, amp);
    double n2 = 1 + 0.25 + 4 + 9, worst = 0;
    for (int i = 0; i < 8; i++)
        worst = fmax(worst, fabs(amp[2 * i] - (i < 5 ? y[1 + i] / sqrt(n2) : 0)));
    ok(worst < 1e-16 && qc_ninputs(c) == 6,
       "amplitude embedding from input 1, 5 values padded to 8");
    rc = qc_embed_amplitude(c, 0, 2);
    int rc2;
    QcCircuit *c2 = mk(2);
    g1(c2, QC_H, 0, 0);
    rc2 = qc_embed_amplitude(c2, 0, 2);
    QcCircuit *c3 = mk(2);
    int rc3 = qc_embed_amplitude(c3, 0, 5);
    ok(rc == QC_EINVAL && rc2 == QC_EINVAL && rc3 == QC_EINVAL,
       "amplitude embedding: twice, after a gate, or longer than 2^n is an error (%s)",
       qc_error(c3));
    qc_free(&c), qc_free(&c2), qc_free(&c3);
}

/* --- shots ------------------------------------------------------------------------------- */

static void shots(void)
{
    QcCircuit *c = mk(3);
    QcLayers s = { 0 };
    s.embed = QC_EMBED_ANGLE, s.axis = 'x', s.scale = 1;
    s.ansatz = QC_ANSATZ_STRONGLY_ENTANGLING, s.nlayers = 2;
    qc_build_layers(c, &s, NULL);
    int w[3] = { 0, 1, 2 }, o;
    obs(c, "Z", w, 1), obs(c, "X", w + 1, 1), obs(c, "Y", w + 2, 1), obs(c, "ZZ", w, 1);
    qc_obs_new(c, &o);
    qc_obs_term(c, o, 0.5, 2, "XY", w);
    qc_obs_term(c, o, 0.25, 1, "Z", w + 2);
    qc_obs_term(c, o, -0.3, 0, "", NULL);
    qc_obs_term(c, o, 0.4, 2, "XY", (int[]){ 0, 2 });
    enum { P = 200, NO = 5 };
    static double x[P], exact[P * NO], est[P * NO], est2[P * NO], est3[P * NO], texact[P * 3];
    double theta[18], one[NO];
    Rng r;
    rng_init(&r, 5, 0, 0);
    fill(&r, theta, 18, -PI, PI);
    fill(&r, x, P, -2, 2);
    qc_expect_batch(c, W, theta, P, x, exact);
    QcEval e = { 0 };
    e.npoints = P, e.theta = theta, e.x = x, e.out = est, e.shots = 2000, e.seed = 42;
    int rc = qc_eval(c, W, &e);
    /* the standard error of each output, term by term (the terms of
     * output 4 are measured in different bases, so independently) */
    QcCircuit *t = mk(3);
    qc_build_layers(t, &s, NULL);
    obs(t, "XY", w, 1), obs(t, "Z", w + 2, 1), obs(t, "XY", (int[]){ 0, 2 }, 1);
    qc_expect_batch(t, W, theta, P, x, texact);
    qc_free(&t);
    double zmax = 0, z2 = 0;
    for (int p = 0; p < P; p++)
        for (int k = 0; k < NO; k++) {
            double v = exact[p * NO + k], var;
            if (k < 4)
                var = 1 - v * v;
            else {
                const double *te = texact + p * 3;
                var = 0.25 * (1 - te[0] * te[0]) + 0.0625 * (1 - te[1] * te[1]) +
                      0.16 * (1 - te[2] * te[2]);
            }
            double zz = (est[p * NO + k] - v) / sqrt(var / 2000);
            zmax = fmax(zmax, fabs(zz));
            z2 += zz * zz;
        }
    z2 /= P * NO;
    printf("# shots: %d estimates, max |z| %.2f, mean z^2 %.3f\n", P * NO, zmax, z2);
    ok(rc == QC_OK && zmax < 5.5, "shots: every estimate within 5.5 standard errors (max %.2f)",
       zmax);
    ok(z2 > 0.85 && z2 < 1.15, "shots: mean squared z %.3f near 1 (the spread is the binomial one)",
       z2);
    e.out = est2;
    qc_eval(c, W, &e);
    e.out = est3, e.seed = 43;
    qc_eval(c, W, &e);
    ok(memcmp(est, est2, sizeof est) == 0 && memcmp(est, est3, sizeof est) != 0,
       "shots: the same seed gives the same estimates, another seed others");
    /* one point alone, as another thread would draw it: unit0 = its index */
    QcEval e1 = e;
    e1.npoints = 1, e1.x = x + 7, e1.out = one, e1.unit0 = 7, e1.seed = 42;
    qc_eval(c, W, &e1);
    ok(memcmp(one, est + 7 * NO, sizeof one) == 0,
       "shots: point 7 alone (unit0 = 7) draws what it drew in the batch");

    /* sampled parameter shift: within 5 standard errors of the adjoint */
    double dth[2 * NO * 18], pdth[2 * NO * 18];
    QcEval ea = { 0 };
    ea.npoints = 2, ea.theta = theta, ea.x = x, ea.dtheta = dth;
    qc_eval(c, W, &ea);
    e.npoints = 2, e.out = NULL, e.dtheta = pdth, e.shots = 20000;
    rc = qc_param_shift(c, W, &e);
    double worst = 0;
    for (int i = 0; i < 2 * 4 * 18; i++) /* the single Paulis: variance <= 1/2 per shot */
        if (i / 18 % NO < 4)
            worst = fmax(worst, fabs(pdth[i] - dth[i]) / sqrt(0.5 / 20000));
    ok(rc == QC_OK && worst < 5, "shots: parameter-shift gradients within 5 SE of exact (max %.2f)",
       worst);

    e.out = est, e.dtheta = dth, e.shots = 10;
    rc = qc_eval(c, W, &e);
    ok(rc == QC_EINVAL, "shots with adjoint gradients is an error: %s", qc_work_error(W));
    qc_free(&c);
}

/* --- OpenQASM ------------------------------------------------------------------------------ */

static char *qasm_text(const QcCircuit *c, const double *theta, const double *x)
{
    char *buf = NULL, err[QASM_ERRLEN];
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    int rc = qasm_write(c, theta, x, "qlx", f, err);
    fclose(f);
    if (rc) {
        printf("# qasm_write: %s\n", err);
        free(buf);
        return NULL;
    }
    return buf;
}

/* copy c's observables onto d */
static void copy_obs(const QcCircuit *c, QcCircuit *d)
{
    int n = qc_nqubits(c), wires[32];
    char paulis[33], f[33];
    for (int o = 0; o < qc_nobs(c); o++) {
        int k;
        qc_obs_new(d, &k);
        for (int t = 0; t < qc_obs_nterms(c, o); t++) {
            double coeff;
            int m = 0;
            qc_obs_get_term(c, o, t, &coeff, paulis);
            for (int w = 0; w < n; w++)
                if (paulis[w] != 'I')
                    f[m] = paulis[w], wires[m++] = w;
            qc_obs_term(d, k, coeff, m, f, wires);
        }
    }
}

static void qasm_roundtrip(void)
{
    /* a re-uploading circuit with every gate kind appended */
    QcCircuit *c = mk(3);
    QcLayers s = { 0 };
    s.embed = QC_EMBED_ANGLE, s.axis = 'y', s.scale = 0.37, s.reupload = 1;
    s.ansatz = QC_ANSATZ_STRONGLY_ENTANGLING, s.nlayers = 2;
    qc_build_layers(c, &s, NULL);
    QcAngle in = qc_input(1, -1.25);
    in.shift = -1e-7;
    g1(c, QC_H, 0, 0), g1(c, QC_S, 1, 0), g1(c, QC_T, 2, 0), g1(c, QC_X, 0, 0);
    g1(c, QC_Y, 1, 0), g1(c, QC_Z, 2, 0);
    g2(c, QC_CZ, 0, 2, 0), g2(c, QC_SWAP, 1, 2, 0);
    qc_gate(c, QC_CRX, 2, 0, in);
    qc_gate(c, QC_CRY, 0, 1, qc_param(3));
    qc_gate(c, QC_CRZ, 1, 0, qc_input(0, 1));
    qc_gate(c, QC_RX, 2, -1, qc_const(1e20));
    int w[3] = { 0, 1, 2 }, o;
    obs(c, "Z", w, 1), obs(c, "XY", w + 1, 1);
    qc_obs_new(c, &o);
    qc_obs_term(c, o, 0.5, 3, "ZXY", w);
    qc_obs_term(c, o, -1.5, 1, "X", w);
    double theta[18], x[2] = { 0.8, -0.3 };
    Rng r;
    rng_init(&r, 9, 0, 0);
    fill(&r, theta, 18, -PI, PI);
    char *text = qasm_text(c, theta, x);
    ok(text && strstr(text, "gate qlx(x0,x1) q0,q1,q2") &&
           strstr(text, "crx(-1.25*x1 - 9.9999999999999995e-08) q2,q0;") &&
           strstr(text, "ry(0.37*x0) q0;") && strstr(text, "rx(1.0e+20) q2;") &&
           strstr(text, "qlx(0.80000000000000004,-0.29999999999999999) q[0],q[1],q[2];"),
       "qasm_write: one gate of the inputs x0, x1, angles affine in them, a call at x");
    if (text && getenv("QC_SHOW_QASM"))
        fputs(text, stdout);

    /* read back as the gate (inputs free), and as the program (at x) */
    char err[QASM_ERRLEN];
    QcCircuit *g = NULL, *t = NULL;
    int rc1 = text ? qasm_read(text, "qlx", &g, err) : -1;
    if (rc1)
        printf("# qasm_read: %s\n", err);
    int rc2 = text ? qasm_read(text, NULL, &t, err) : -1;
    if (rc2)
        printf("# qasm_read: %s\n", err);
    double worst = 1, worst2 = 1;
    if (!rc1 && !rc2) {
        copy_obs(c, g), copy_obs(c, t);
        double xs[10] = { 0.8, -0.3, 0, 0, 1.7, 2.2, -3, 0.1, 12, -5 }, a[15], b[15], tb[3];
        qc_expect_batch(c, W, theta, 5, xs, a);
        qc_expect_batch(g, W, NULL, 5, xs, b);
        qc_expect_batch(t, W, NULL, 1, NULL, tb);
        worst = maxdiff(a, b, 15), worst2 = maxdiff(a, tb, 3);
        printf("# QASM round trip: |difference| %.1e (gate at 5 inputs), %.1e (program)\n", worst,
               worst2);
    }
    ok(!rc1 && worst <= 1e-12 && qc_ninputs(g) == 2 && qc_nparams(g) == 0,
       "QASM read back as gate 'qlx': the same expectations at 5 inputs (1e-12)");
    ok(!rc2 && worst2 <= 1e-12, "QASM read back as a program: the same expectations at x (1e-12)");

    /* every prefix of the text reads or fails cleanly (the sanitizers watch) */
    int bad = 0;
    size_t n = text ? strlen(text) : 0;
    char *pre = malloc(n + 1);
    for (size_t i = 0; text && i < n; i += 3) {
        memcpy(pre, text, i);
        pre[i] = '\0';
        QcCircuit *q = NULL;
        int rc = qasm_read(pre, NULL, &q, err);
        bad += rc == QC_OK ? q == NULL : q != NULL || !strchr(err, ':');
        qc_free(&q);
    }
    ok(text && bad == 0, "QASM: every prefix of the text is read or rejected with a position");
    free(pre);
    free(text);
    qc_free(&g), qc_free(&t), qc_free(&c);

    /* an amplitude embedding cannot be written */
    c = mk(2);
    qc_embed_amplitude(c, 0, 4);
    char *none = qasm_text(c, NULL, NULL);
    ok(none == NULL, "qasm_write refuses an amplitude embedding");
    free(none);
    qc_free(&c);
}

static double read_expect(const char *src, const char *gate, const char *paulis, const int *wires,
                          const double *x)
{
    QcCircuit *c = NULL;
    char err[QASM_ERRLEN];
    if (qasm_read(src, gate, &c, err)) {
        printf("# qasm_read: %s\n", err);
        return NAN;
    }
    double out;
    obs(c, paulis, wires, 1);
    qc_expect_batch(c, W, NULL, 1, x, &out);
    qc_free(&c);
    return out;
}

static void qasm_hand(void)
{
    int w[3] = { 0, 1, 2 };
    double v;
    v = read_expect("OPENQASM 2.0;\ninclude \"qelib1.inc\";\nqreg q[2];\ncreg c[2];\n"
                    "h q[0];\ncx q[0],q[1];\nbarrier q;\n",
                    NULL, "ZZ", w, NULL);
    ok(close_to(v, 1, 1e-15), "QASM: a Bell pair, <Z0 Z1> = 1");
    v = read_expect("OPENQASM 2.0; include \"qelib1.inc\"; qreg q[1];\n"
                    "rx(pi/2 - pi/6) q[0];  // cos(pi/3) = 1/2\n",
                    NULL, "Z", w, NULL);
    ok(close_to(v, 0.5, 1e-15), "QASM: rx(pi/2 - pi/6): <Z> = 1/2 (%.17g)", v);
    v = read_expect("OPENQASM 2.0; include \"qelib1.inc\"; qreg q[1];\n"
                    "u3(0.7, 0.4, -1.1) q[0];\n",
                    NULL, "X", w, NULL);
    ok(close_to(v, sin(0.7) * cos(0.4), 1e-15),
       "QASM: u3(theta, phi, lambda)|0>: <X> = sin theta cos phi");
    v = read_expect("OPENQASM 2.0; include \"qelib1.inc\"; qreg a[1]; qreg b[2];\n"
                    "h b; x a[0];\n",
                    NULL, "ZXX", w, NULL);
    ok(close_to(v, -1, 1e-15), "QASM: two registers in order, 'h b' broadcast: <Z0 X1 X2> = -1");
    v = read_expect(
        "OPENQASM 2.0; include \"qelib1.inc\";\n"
        "gate half(t) a { ry(t/2) a; }\n"
        "gate two(s, u) a, b { half(2*s) a; cx a, b; rz(-u + 1.5e0) b; sdg b; tdg a; }\n"
        "qreg q[2];\n"
        "two(0.9, 3) q[0], q[1];\n",
        NULL, "ZZ", w, NULL);
    ok(close_to(v, 1, 1e-15), "QASM: nested user gates with expressions: <Z0 Z1> = 1");
    v = read_expect("OPENQASM 2.0; include \"qelib1.inc\";\n"
                    "gate half(t) a { ry(t/2) a; }\n"
                    "gate enc(t, k) a, b { half(2 * (0.5*t - 2*0.1) + 1) a; ry(-k) b; }\n"
                    "qreg q[1];\n",
                    "enc", "ZZ", w, (double[]){ 0.6, 0.1 });
    ok(close_to(v, cos((2 * (0.5 * 0.6 - 0.2) + 1) / 2) * cos(0.1), 1e-15),
       "QASM: a gate read as the circuit, its parameters inputs");

    /* errors: position and what is wrong */
    static const struct {
        const char *src, *gate, *want;
    } bad[] = {
        { "OPENQASM 2.0;\nqreg q[2];\ncx q[0],q[2];\n", NULL,
          "3:11: index 2 out of range: register 'q' has 2 qubits" },
        { "OPENQASM 2.0;\nqreg q[2];\nh q[0]\nx q[1];\n", NULL,
          "4:1: expected ';' after the gate's qubits, found 'x'" },
        { "OPENQASM 2.0;\nqreg q[2];\n  foo q[0];\n", NULL, "3:3: undefined gate 'foo'" },
        { "OPENQASM 2.0;\nqreg q[3];\nccx q[0],q[1],q[2];\n", NULL,
          "3:1: gate 'ccx' is not supported" },
        { "OPENQASM 2.0;\nqreg q[1];\ncreg c[1];\nmeasure q[0] -> c[0];\n", NULL,
          "4:1: 'measure' is not supported" },
        { "OPENQASM 2.0;\ngate g(a, b) q { rx(a*b) q; }\n", "g",
          "2:22: a product of parameters is not affine" },
        { "OPENQASM 2.0;\ngate g(a, b) q { rx(a + b) q; }\n", "g",
          "2:23: this angle depends on two parameters" },
        { "OPENQASM 2.0;\ngate g(a) q { rx(sin(a)) q; }\n", "g", "2:18: sin() of a parameter" },
        { "OPENQASM 2.0;\ngate g(a) q { rx(a) q;\n", NULL, "2:13: gate 'g': '{' is never closed" },
        { "OPENQASM 3.0;\n", NULL, "1:10: only OpenQASM 2.0 is read" },
        { "OPENQASM 2.0;\nqreg q[1];\nrx(1/0) q[0];\n", NULL, "3:5: division by zero" },
        { "OPENQASM 2.0;\nqreg q[1];\nrx(theta) q[0];\n", NULL, "3:4: 'theta' is not a number" },
        { "OPENQASM 2.0;\nqreg q[2];\ncx q[1], q[1];\n", NULL,
          "3:1: gate 'cx': the same qubit twice" },
        { "OPENQASM 2.0;\nqreg q[1];\nrx(0.1, 0.2) q[0];\n", NULL,
          "3:1: gate 'rx' takes 1 parameter, not 2" },
        { "OPENQASM 2.0;\ninclude \"other.inc\";\n", NULL,
          "2:9: only \"qelib1.inc\" can be included" },
        { "OPENQASM 2.0;\nqreg q[1];\nh q[0]; $\n", NULL, "3:9: unexpected character '$'" },
        { "OPENQASM 2.0;\nqreg q[1];\n", "nope", "3:1: no gate 'nope' is defined" },
        { "OPENQASM 2.0;\n", NULL, "2:1: no qreg is declared" },
        { "OPENQASM 2.0;\ngate a q { x q; x q; }\ngate b q { a q; a q; }\ngate c q { b q; b q; }\n"
          "gate d q { c q; c q; }\ngate e q { d q; d q; }\ngate f q { e q; e q; }\n"
          "gate g q { f q; f q; }\ngate h2 q { g q; g q; }\ngate i q { h2 q; h2 q; }\n"
          "gate j q { i q; i q; }\ngate k q { j q; j q; }\ngate l q { k q; k q; }\n"
          "gate m q { l q; l q; }\ngate n q { m q; m q; }\ngate o q { n q; n q; }\n"
          "gate p q { o q; o q; }\ngate r q { p q; p q; }\ngate s2 q { r q; r q; }\n"
          "gate t2 q { s2 q; s2 q; }\ngate u q { t2 q; t2 q; }\ngate v q { u q; u q; }\n"
          "gate w q { v q; v q; }\ngate y2 q { w q; w q; }\nqreg q[1];\ny2 q[0];\n",
          NULL, "more than 1000000 gate calls" },
        { "OPENQASM 2.0;\nqreg q[1];\n"
          "rx(((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((("
          "((((((((((((((((((((((((((((((((((((((((1))))) q[0];\n",
          NULL, "expression nested too deeply" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        QcCircuit *c = NULL;
        char err[QASM_ERRLEN] = "";
        int rc = qasm_read(bad[i].src, bad[i].gate, &c, err);
        ok(rc == QC_EINVAL && c == NULL && strstr(err, bad[i].want), "QASM error: %s", err);
        qc_free(&c);
    }
}

/* --- errors and allocation failures ------------------------------------------------------ */

static void errors(void)
{
    QcCircuit *c = NULL;
    char err[QC_ERRLEN];
    int rc = qc_new(0, &c, err);
    ok(rc == QC_EINVAL && c == NULL && strstr(err, "out of range"), "qc_new(0): %s", err);
    rc = qc_new(QC_MAXQUBITS + 1, &c, err);
    ok(rc == QC_EINVAL && c == NULL, "qc_new(%d): %s", QC_MAXQUBITS + 1, err);
    c = mk(2);
    int w = 0;
    ok(qc_gate(c, QC_RX, 2, -1, qc_const(0)) == QC_EINVAL && strstr(qc_error(c), "wire 2"),
       "a wire out of range: %s", qc_error(c));
    ok(qc_gate(c, QC_CNOT, 1, 1, qc_const(0)) == QC_EINVAL, "CNOT(1, 1): %s", qc_error(c));
    ok(qc_gate(c, QC_RX, 0, 1, qc_const(0)) == QC_EINVAL, "RX with two wires: %s", qc_error(c));
    ok(qc_gate(c, QC_RY, 0, -1, qc_param(-1)) == QC_EINVAL, "parameter -1: %s", qc_error(c));
    ok(qc_gate(c, QC_RY, 0, -1, qc_const(NAN)) == QC_EINVAL, "a NaN angle: %s", qc_error(c));
    ok(qc_embed_angle(c, 'q', 0, 1, 1) == QC_EINVAL, "axis 'q': %s", qc_error(c));
    ok(qc_embed_angle(c, 'x', 0, 1, 0) == QC_EINVAL, "scale 0: %s", qc_error(c));
    ok(qc_ansatz_euler(c, 1, "zwz", QC_ENT_RING, NULL) == QC_EINVAL, "euler 'zwz': %s",
       qc_error(c));
    ok(qc_ansatz_strongly_entangling(c, 1, 0, (int[]){ 2 }, NULL) == QC_EINVAL,
       "range 2 on 2 wires: %s", qc_error(c));
    ok(qc_obs_term(c, 3, 1, 1, "Z", &w) == QC_EINVAL, "a term of a missing observable: %s",
       qc_error(c));
    int o;
    qc_obs_new(c, &o);
    ok(qc_obs_term(c, o, 1, 2, "ZZ", (int[]){ 1, 1 }) == QC_EINVAL, "Z1 Z1: %s", qc_error(c));
    ok(qc_obs_term(c, o, 1, 1, "Q", &w) == QC_EINVAL, "Pauli 'Q': %s", qc_error(c));
    QcLayers s = { 0 };
    s.embed = QC_EMBED_ANGLE, s.scale = 1, s.ansatz = QC_ANSATZ_EULER, s.nlayers = 2, s.rots = "xq";
    ok(qc_build_layers(c, &s, NULL) == QC_EINVAL, "layers with rotation 'q': %s", qc_error(c));
    ok(qc_nops(c) == 0 && qc_nparams(c) == 0 && qc_ninputs(c) == 0,
       "failed builder calls leave the circuit unchanged");
    double out;
    ok(qc_expect_batch(c, W, NULL, -1, NULL, &out) == QC_EINVAL, "-1 points: %s", qc_work_error(W));
    QcEval e = { 0 };
    e.npoints = 1, e.dout_dir = &out;
    ok(qc_eval(c, W, &e) == QC_EINVAL, "a derivative along no direction: %s", qc_work_error(W));
    qc_gate(c, QC_RX, 0, -1, qc_input(0, 1));
    ok(qc_expect_batch(c, W, NULL, 1, NULL, &out) == QC_EINVAL, "inputs missing: %s",
       qc_work_error(W));
    qc_free(&c);
    qc_free(&c); /* a second free is a no-op */
}

#ifdef QLX_FAULTS
/* Every allocation of a build and an evaluation fails in turn: each
 * failure is an error return, never a crash or a leak. */
static int faulty_run(void)
{
    QcCircuit *c = NULL;
    QcWork *w = NULL;
    char err[QC_ERRLEN];
    int rc = qc_new(3, &c, err), o;
    QcLayers s = { 0 };
    s.embed = QC_EMBED_ANGLE, s.scale = 1, s.reupload = 1;
    s.ansatz = QC_ANSATZ_STRONGLY_ENTANGLING, s.nlayers = 9;
    if (!rc)
        rc = qc_build_layers(c, &s, NULL);
    for (int i = 0; !rc && i < 12; i++)
        rc = qc_obs_pauli(c, "XYZ"[i % 3], i % 3, &o);
    if (!rc)
        rc = qc_work_new(&w, err);
    double theta[81] = { 0 }, x = 0.3, out[12], dth[12 * 81], dir = 1, dthv[12 * 81];
    QcEval e = { 0 };
    e.npoints = 1, e.theta = theta, e.x = &x, e.out = out, e.dtheta = dth, e.dir = &dir;
    e.dtheta_dir = dthv;
    if (!rc)
        rc = qc_eval(c, w, &e);
    e.shots = 10;
    e.dtheta = e.dtheta_dir = NULL;
    if (!rc)
        rc = qc_eval(c, w, &e);
    QcCircuit *q = NULL;
    if (!rc)
        rc = qasm_read(
            "OPENQASM 2.0;\ninclude \"qelib1.inc\";\ngate g(a) x, y { rx(a) x; cx x, y; }\n"
            "qreg q[2];\ng(0.5) q[0], q[1];\nh q;\n",
            NULL, &q, err);
    qc_free(&q);
    qc_work_free(&w);
    qc_free(&c);
    return rc;
}

static void faults(void)
{
    int n, allok = 1, last = 0;
    char num[16];
    for (n = 0; n < 100; n++) {
        snprintf(num, sizeof num, "%d", n);
        setenv("QLX_FAIL_ALLOC", num, 1);
        last = faulty_run();
        if (last == QC_OK)
            break;
        allok &= last == QC_ENOMEM;
    }
    unsetenv("QLX_FAIL_ALLOC");
    ok(allok && last == QC_OK && n > 3, "allocation failures 0..%d: each gives QC_ENOMEM", n - 1);
}
#endif

int main(void)
{
    char err[QC_ERRLEN];
    clock_t t0 = clock();
    if (qc_work_new(&W, err)) {
        fprintf(stderr, "qc_work_new: %s\n", err);
        return 2;
    }
    one_qubit();
    two_three_qubits();
    ansatz_structure();
    derivatives();
    time_input();
    physics();
    doc_example();
    norms();
    amplitude();
    shots();
    qasm_roundtrip();
    qasm_hand();
    errors();
#ifdef QLX_FAULTS
    faults();
#else
    printf("# allocation failures: only with -DQLX_FAULTS (make test-san)\n");
#endif
    qc_work_free(&W);
    printf("# %.2f s CPU\n", (double)(clock() - t0) / CLOCKS_PER_SEC);
    return tap_done();
}
