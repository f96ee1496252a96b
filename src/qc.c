/*
 * qc.c -- statevector simulation, adjoint derivatives with forward-mode
 * tangents, parameter shifts and shots.
 *
 * The state is 2^n complex doubles, interleaved (re, im); wire w is bit
 * n-1-w of the basis index.  A gate on target bit t touches the pairs
 * (i0, i1 = i0 | 1<<t); a controlled gate only the pairs whose control
 * bit is set, found by three nested loops instead of a test per index so
 * that large states are read once, in order.
 *
 * Every parametrised gate is U(a) = exp(-i a G/2) with G a Pauli on the
 * target, times the projector on |1> of the control for CRX/CRY/CRZ; so
 * dU/da = (-i/2) G U, and G commutes with U.  With psi_i the state after
 * gate i and lam_i = U_{i+1}^+ ... U_N^+ O psi_N, the adjoint method
 * (Jones & Gacon 2020) gives
 *
 *   d<O>/d a_i = 2 Re <lam_i| (-i/2) G psi_i> = Im <lam_i|G|psi_i>,
 *
 * sweeping back once with psi <- U^+ psi and lam <- U^+ lam.  For the
 * mixed second derivatives every quantity gets a tangent along v in input
 * space (t_i = d a_i/dv, non-zero for the gates encoding inputs):
 *
 *   forward   psi'_i   = U_i psi'_{i-1} + t_i (-i/2) G psi_i
 *   output    lam'_N   = O psi'_N,   d<O>/dv = 2 Re <lam_N|psi'_N>
 *   backward  psi'_{i-1} = U_i^+ psi'_i + t_i (i/2) G psi_{i-1}
 *             lam'_{i-1} = U_i^+ lam'_i + t_i (i/2) G lam_{i-1}
 *   gradient  d2<O>/(dv d a_i) = Im(<lam'_i|G|psi_i> + <lam_i|G|psi'_i>)
 *
 * (the backward rules use G U = U G; U^+' = t (i/2) U^+ G).  This is the
 * exact derivative of the adjoint gradient, with no term dropped.  An
 * amplitude-embedded input enters psi_0 = x/|x| only, so its derivatives
 * come from lam_0 at the end of the sweep (docs/quantum.md).
 */
#include "qc.h"
#include "rng.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    QcOp op;
    size_t tb, cb;     /* target and control bit masks (cb 0: none); SWAP: both wires */
} Op;

/* coeff * i^ny * (X on xm) (Z on zm), as bit masks of basis indices */
typedef struct {
    double coeff;
    uint64_t xm, zm;
    int ny, obs;
} Term;

struct QcCircuit {
    int nq, nparams, ninputs, nobs;
    Op *ops;
    int nops, capops;
    Term *terms;
    int nterms, capterms;
    int amp_input, amp_len;
    long fail_after;      /* QLX_FAULTS: allocations left before one fails; <0 never */
    char err[QC_ERRLEN];
};

/* One block of doubles (state vectors, angle tables) and one of ints
 * (shot groups), carved up per call by run_setup(). */
struct QcWork {
    double *d;
    size_t dcap;
    int *n;
    size_t ncap;
    long fail_after;      /* QLX_FAULTS, as a circuit's */
    char err[QC_ERRLEN];
};

/* --- memory --------------------------------------------------------------------- */

static long fault_budget(void)
{
#ifdef QLX_FAULTS
    const char *s = getenv("QLX_FAIL_ALLOC");
    if (s && *s)
        return strtol(s, NULL, 10);
#endif
    return -1;
}

static void *alloc(long *fail_after, size_t n)
{
    if (*fail_after == 0)
        return NULL;
    if (*fail_after > 0)
        (*fail_after)--;
    return malloc(n ? n : 1);
}

static void *grow(long *fail_after, void *p, size_t n)
{
    if (*fail_after == 0)
        return NULL;
    if (*fail_after > 0)
        (*fail_after)--;
    return realloc(p, n ? n : 1);
}

static void set_err(char *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void set_err(char *err, const char *fmt, ...)
{
    if (!err)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, QC_ERRLEN, fmt, ap);
    va_end(ap);
}

/* --- gates ---------------------------------------------------------------------- */

static const char *const gate_names[QC_NGATES] = {
    "RX", "RY", "RZ", "H", "X", "Y", "Z", "S", "T", "CNOT", "CZ", "CRX", "CRY", "CRZ", "SWAP",
};

const char *qc_gate_name(QcGate g)
{
    return (unsigned)g < QC_NGATES ? gate_names[g] : "?";
}

int qc_gate_wires(QcGate g)
{
    return g >= QC_CNOT && g < QC_NGATES ? 2 : 1;
}

int qc_gate_has_angle(QcGate g)
{
    return g == QC_RX || g == QC_RY || g == QC_RZ || g == QC_CRX || g == QC_CRY || g == QC_CRZ;
}

/* The Pauli generating a rotation: 0 X, 1 Y, 2 Z. */
static int gen_axis(QcGate g)
{
    return g == QC_RX || g == QC_CRX ? 0 : g == QC_RY || g == QC_CRY ? 1 : 2;
}

/* --- kernels --------------------------------------------------------------------------
 * Pairs (i0, i1) differing in the target bit tb: all of them, or those with
 * the control bit cb set.  QUADS visits the indices with bits m1, m2 clear. */

#define PAIRS(dim, tb, ...)                                                          \
    for (size_t b_ = 0; b_ < (dim); b_ += 2 * (tb))                                   \
        for (size_t i0 = b_, i1 = b_ + (tb); i0 < b_ + (tb); i0++, i1++) {           \
            __VA_ARGS__                                                               \
        }

#define QUADS(dim, m1, m2, ...)                                                      \
    do {                                                                              \
        size_t lo_ = (m1) < (m2) ? (m1) : (m2), hi_ = (m1) ^ (m2) ^ lo_;              \
        for (size_t a_ = 0; a_ < (dim); a_ += 2 * hi_)                                \
            for (size_t b_ = a_; b_ < a_ + hi_; b_ += 2 * lo_)                        \
                for (size_t base = b_; base < b_ + lo_; base++) {                     \
                    __VA_ARGS__                                                       \
                }                                                                     \
    } while (0)

#define FOR_PAIRS(dim, tb, cb, ...)                                                  \
    do {                                                                              \
        if (cb) {                                                                     \
            QUADS(dim, tb, cb, size_t i0 = base | (cb); size_t i1 = i0 | (tb);        \
                  __VA_ARGS__);                                                       \
        } else {                                                                      \
            PAIRS(dim, tb, __VA_ARGS__)                                               \
        }                                                                             \
    } while (0)

static void k_rx(double *restrict v, size_t dim, size_t tb, size_t cb, double c, double s)
{
    FOR_PAIRS(dim, tb, cb, {
        double a0r = v[2 * i0], a0i = v[2 * i0 + 1], a1r = v[2 * i1], a1i = v[2 * i1 + 1];
        v[2 * i0] = c * a0r + s * a1i;
        v[2 * i0 + 1] = c * a0i - s * a1r;
        v[2 * i1] = c * a1r + s * a0i;
        v[2 * i1 + 1] = c * a1i - s * a0r;
    });
}

static void k_ry(double *restrict v, size_t dim, size_t tb, size_t cb, double c, double s)
{
    FOR_PAIRS(dim, tb, cb, {
        double a0r = v[2 * i0], a0i = v[2 * i0 + 1], a1r = v[2 * i1], a1i = v[2 * i1 + 1];
        v[2 * i0] = c * a0r - s * a1r;
        v[2 * i0 + 1] = c * a0i - s * a1i;
        v[2 * i1] = s * a0r + c * a1r;
        v[2 * i1 + 1] = s * a0i + c * a1i;
    });
}

static void k_rz(double *restrict v, size_t dim, size_t tb, size_t cb, double c, double s)
{
    FOR_PAIRS(dim, tb, cb, {
        double a0r = v[2 * i0], a0i = v[2 * i0 + 1], a1r = v[2 * i1], a1i = v[2 * i1 + 1];
        v[2 * i0] = c * a0r + s * a0i;
        v[2 * i0 + 1] = c * a0i - s * a0r;
        v[2 * i1] = c * a1r - s * a1i;
        v[2 * i1 + 1] = c * a1i + s * a1r;
    });
}

/* |1> of the target picks up the phase pr + i pi (Z, S, T, CZ). */
static void k_phase(double *restrict v, size_t dim, size_t tb, size_t cb, double pr, double pi)
{
    FOR_PAIRS(dim, tb, cb, {
        (void)i0;
        double a1r = v[2 * i1], a1i = v[2 * i1 + 1];
        v[2 * i1] = pr * a1r - pi * a1i;
        v[2 * i1 + 1] = pr * a1i + pi * a1r;
    });
}

static void k_h(double *restrict v, size_t dim, size_t tb)
{
    const double r = 0.70710678118654752440;
    PAIRS(dim, tb, {
        double a0r = v[2 * i0], a0i = v[2 * i0 + 1], a1r = v[2 * i1], a1i = v[2 * i1 + 1];
        v[2 * i0] = r * (a0r + a1r);
        v[2 * i0 + 1] = r * (a0i + a1i);
        v[2 * i1] = r * (a0r - a1r);
        v[2 * i1 + 1] = r * (a0i - a1i);
    })
}

/* X (ysign 0), or Y = [[0, -i], [i, 0]] (ysign 1) */
static void k_xy(double *restrict v, size_t dim, size_t tb, size_t cb, int y)
{
    if (!y) {
        FOR_PAIRS(dim, tb, cb, {
            double a0r = v[2 * i0], a0i = v[2 * i0 + 1];
            v[2 * i0] = v[2 * i1];
            v[2 * i0 + 1] = v[2 * i1 + 1];
            v[2 * i1] = a0r;
            v[2 * i1 + 1] = a0i;
        });
    } else {
        FOR_PAIRS(dim, tb, cb, {
            double a0r = v[2 * i0], a0i = v[2 * i0 + 1], a1r = v[2 * i1], a1i = v[2 * i1 + 1];
            v[2 * i0] = a1i;
            v[2 * i0 + 1] = -a1r;
            v[2 * i1] = -a0i;
            v[2 * i1 + 1] = a0r;
        });
    }
}

static void k_swap(double *restrict v, size_t dim, size_t m1, size_t m2)
{
    QUADS(dim, m1, m2, {
        size_t i = base | m1, j = base | m2;
        double r = v[2 * i], im = v[2 * i + 1];
        v[2 * i] = v[2 * j];
        v[2 * i + 1] = v[2 * j + 1];
        v[2 * j] = r;
        v[2 * j + 1] = im;
    });
}

/* Gate op (or its inverse, adj) on v; c, s are cos and sin of half its angle. */
static void apply_op(const Op *op, double c, double s, int adj, double *v, size_t dim)
{
    const double h = 0.70710678118654752440;
    size_t tb = op->tb, cb = op->cb;
    if (adj)
        s = -s;
    switch (op->op.gate) {
    case QC_RX: case QC_CRX: k_rx(v, dim, tb, cb, c, s); break;
    case QC_RY: case QC_CRY: k_ry(v, dim, tb, cb, c, s); break;
    case QC_RZ: case QC_CRZ: k_rz(v, dim, tb, cb, c, s); break;
    case QC_H: k_h(v, dim, tb); break;
    case QC_X: case QC_CNOT: k_xy(v, dim, tb, cb, 0); break;
    case QC_Y: k_xy(v, dim, tb, 0, 1); break;
    case QC_Z: case QC_CZ: k_phase(v, dim, tb, cb, -1, 0); break;
    case QC_S: k_phase(v, dim, tb, 0, 0, adj ? -1 : 1); break;
    case QC_T: k_phase(v, dim, tb, 0, h, adj ? -h : h); break;
    case QC_SWAP: k_swap(v, dim, tb, cb); break;
    case QC_NGATES: break;
    }
}

/* dst += (ar + i ai) G src, G the generator of rotation op. */
static void gen_axpy(const Op *op, double ar, double ai, const double *restrict src,
                     double *restrict dst, size_t dim)
{
    size_t tb = op->tb, cb = op->cb;
    int axis = gen_axis(op->op.gate);
    FOR_PAIRS(dim, tb, cb, {
        double g0r, g0i, g1r, g1i;   /* (G src) at i0, i1 */
        double s0r = src[2 * i0], s0i = src[2 * i0 + 1], s1r = src[2 * i1], s1i = src[2 * i1 + 1];
        if (axis == 0)
            g0r = s1r, g0i = s1i, g1r = s0r, g1i = s0i;
        else if (axis == 1)
            g0r = s1i, g0i = -s1r, g1r = -s0i, g1i = s0r;
        else
            g0r = s0r, g0i = s0i, g1r = -s1r, g1i = -s1i;
        dst[2 * i0] += ar * g0r - ai * g0i;
        dst[2 * i0 + 1] += ar * g0i + ai * g0r;
        dst[2 * i1] += ar * g1r - ai * g1i;
        dst[2 * i1 + 1] += ar * g1i + ai * g1r;
    });
}

/* Im <lam|G|psi> */
static double gen_im(const Op *op, const double *restrict lam, const double *restrict psi,
                     size_t dim)
{
    size_t tb = op->tb, cb = op->cb;
    int axis = gen_axis(op->op.gate);
    double acc = 0;
    FOR_PAIRS(dim, tb, cb, {
        double g0r, g0i, g1r, g1i;
        double s0r = psi[2 * i0], s0i = psi[2 * i0 + 1], s1r = psi[2 * i1], s1i = psi[2 * i1 + 1];
        if (axis == 0)
            g0r = s1r, g0i = s1i, g1r = s0r, g1i = s0i;
        else if (axis == 1)
            g0r = s1i, g0i = -s1r, g1r = -s0i, g1i = s0r;
        else
            g0r = s0r, g0i = s0i, g1r = -s1r, g1i = -s1i;
        /* Im(conj(l) g) = lr gi - li gr */
        acc += lam[2 * i0] * g0i - lam[2 * i0 + 1] * g0r;
        acc += lam[2 * i1] * g1i - lam[2 * i1 + 1] * g1r;
    });
    return acc;
}

/* --- observables ---------------------------------------------------------------------- */

static int parity(uint64_t x)
{
    x ^= x >> 32;
    x ^= x >> 16;
    x ^= x >> 8;
    x ^= x >> 4;
    x ^= x >> 2;
    x ^= x >> 1;
    return (int)(x & 1);
}

/* <psi|P|psi> for the Pauli product of term t (its coefficient left out).
 * (P psi)[i] = i^ny (-1)^parity((i^xm) & zm) psi[i^xm]. */
static double pauli_expect(const Term *t, const double *psi, size_t dim)
{
    double acc = 0;
    if (t->xm == 0) {
        for (size_t i = 0; i < dim; i++) {
            double p = psi[2 * i] * psi[2 * i] + psi[2 * i + 1] * psi[2 * i + 1];
            acc += parity(i & t->zm) ? -p : p;
        }
        return acc;
    }
    /* Re(conj(a) i^ny b) summed; i^ny is real for ny even, imaginary for odd */
    double re = 0, im = 0;
    for (size_t i = 0; i < dim; i++) {
        size_t j = i ^ t->xm;
        double ar = psi[2 * i], ai = psi[2 * i + 1], br = psi[2 * j], bi = psi[2 * j + 1];
        double sg = parity(j & t->zm) ? -1 : 1;
        re += sg * (ar * br + ai * bi);
        im += sg * (ar * bi - ai * br);
    }
    switch (t->ny & 3) {
    case 0: acc = re; break;
    case 1: acc = -im; break;
    case 2: acc = -re; break;
    default: acc = im; break;
    }
    return acc;
}

/* lam += coeff P psi */
static void pauli_axpy(const Term *t, const double *restrict psi, double *restrict lam,
                       size_t dim)
{
    /* the phase i^ny coeff as (pr, pi) */
    double pr = 0, pi = 0;
    switch (t->ny & 3) {
    case 0: pr = t->coeff; break;
    case 1: pi = t->coeff; break;
    case 2: pr = -t->coeff; break;
    default: pi = -t->coeff; break;
    }
    for (size_t i = 0; i < dim; i++) {
        size_t j = i ^ t->xm;
        double sg = parity(j & t->zm) ? -1 : 1;
        double br = sg * psi[2 * j], bi = sg * psi[2 * j + 1];
        lam[2 * i] += pr * br - pi * bi;
        lam[2 * i + 1] += pr * bi + pi * br;
    }
}

static void expect_all(const QcCircuit *c, const double *psi, size_t dim, double *out)
{
    for (int o = 0; o < c->nobs; o++)
        out[o] = 0;
    for (int k = 0; k < c->nterms; k++) {
        const Term *t = &c->terms[k];
        out[t->obs] += t->coeff * pauli_expect(t, psi, dim);
    }
}

static void obs_apply(const QcCircuit *c, int o, const double *psi, double *lam, size_t dim)
{
    memset(lam, 0, 2 * dim * sizeof *lam);
    for (int k = 0; k < c->nterms; k++)
        if (c->terms[k].obs == o)
            pauli_axpy(&c->terms[k], psi, lam, dim);
}

/* --- building ------------------------------------------------------------------------- */

int qc_new(int nqubits, QcCircuit **out, char *err)
{
    *out = NULL;
    if (nqubits < 1 || nqubits > QC_MAXQUBITS) {
        set_err(err, "qubit count %d out of range (1 to %d)", nqubits, QC_MAXQUBITS);
        return QC_EINVAL;
    }
    long budget = fault_budget();
    QcCircuit *c = alloc(&budget, sizeof *c);
    if (!c) {
        set_err(err, "out of memory for a circuit");
        return QC_ENOMEM;
    }
    memset(c, 0, sizeof *c);
    c->nq = nqubits;
    c->fail_after = budget;
    *out = c;
    return QC_OK;
}

void qc_free(QcCircuit **pc)
{
    if (!pc || !*pc)
        return;
    free((*pc)->ops);
    free((*pc)->terms);
    free(*pc);
    *pc = NULL;
}

const char *qc_error(const QcCircuit *c)
{
    return c->err;
}

/* Room for extra more ops, so that a builder either adds all its gates or
 * none. */
static int reserve_ops(QcCircuit *c, int extra)
{
    if (extra > INT32_MAX / 2 - c->nops) {
        set_err(c->err, "too many gates");
        return QC_EINVAL;
    }
    if (c->nops + extra <= c->capops)
        return QC_OK;
    int cap = c->capops ? c->capops : 16;
    while (cap < c->nops + extra)
        cap *= 2;
    Op *p = grow(&c->fail_after, c->ops, (size_t)cap * sizeof *p);
    if (!p) {
        set_err(c->err, "out of memory for %d gates", cap);
        return QC_ENOMEM;
    }
    c->ops = p;
    c->capops = cap;
    return QC_OK;
}

static size_t wire_bit(const QcCircuit *c, int w)
{
    return (size_t)1 << (c->nq - 1 - w);
}

static int check_gate(QcCircuit *c, QcGate g, int w0, int w1, QcAngle a)
{
    if ((unsigned)g >= QC_NGATES) {
        set_err(c->err, "unknown gate %d", (int)g);
        return QC_EINVAL;
    }
    int nw = qc_gate_wires(g);
    if (w0 < 0 || w0 >= c->nq || (nw == 2 && (w1 < 0 || w1 >= c->nq))) {
        set_err(c->err, "%s: wire %d out of range (0 to %d)", gate_names[g],
                w0 < 0 || w0 >= c->nq ? w0 : w1, c->nq - 1);
        return QC_EINVAL;
    }
    if (nw == 1 && w1 != -1) {
        set_err(c->err, "%s acts on one wire; the second must be -1, not %d", gate_names[g], w1);
        return QC_EINVAL;
    }
    if (nw == 2 && w0 == w1) {
        set_err(c->err, "%s: both wires are %d", gate_names[g], w0);
        return QC_EINVAL;
    }
    if (qc_gate_has_angle(g)) {
        if (a.src != QC_CONST && a.src != QC_PARAM && a.src != QC_INPUT) {
            set_err(c->err, "%s: unknown angle source %d", gate_names[g], (int)a.src);
            return QC_EINVAL;
        }
        if (a.src != QC_CONST && (a.index < 0 || a.index >= INT32_MAX / 2)) {
            set_err(c->err, "%s: %s index %d out of range", gate_names[g],
                    a.src == QC_PARAM ? "parameter" : "input", a.index);
            return QC_EINVAL;
        }
        if (!isfinite(a.shift) || (a.src != QC_CONST && !isfinite(a.scale))) {
            set_err(c->err, "%s: angle scale or shift is not finite", gate_names[g]);
            return QC_EINVAL;
        }
    }
    return QC_OK;
}

/* After reserve_ops and check_gate: cannot fail. */
static void push_gate(QcCircuit *c, QcGate g, int w0, int w1, QcAngle a)
{
    Op *op = &c->ops[c->nops++];
    op->op.gate = g;
    op->op.wire[0] = w0;
    op->op.wire[1] = qc_gate_wires(g) == 2 ? w1 : -1;
    if (!qc_gate_has_angle(g))
        a = qc_const(0);
    if (a.src == QC_CONST)
        a.index = 0, a.scale = 0;
    op->op.angle = a;
    if (g == QC_SWAP)
        op->tb = wire_bit(c, w0), op->cb = wire_bit(c, w1);
    else if (qc_gate_wires(g) == 2)
        op->tb = wire_bit(c, w1), op->cb = wire_bit(c, w0);
    else
        op->tb = wire_bit(c, w0), op->cb = 0;
    if (a.src == QC_PARAM && a.index >= c->nparams)
        c->nparams = a.index + 1;
    if (a.src == QC_INPUT && a.index >= c->ninputs)
        c->ninputs = a.index + 1;
}

int qc_gate(QcCircuit *c, QcGate g, int w0, int w1, QcAngle a)
{
    int rc = check_gate(c, g, w0, w1, a);
    if (rc == QC_OK)
        rc = reserve_ops(c, 1);
    if (rc == QC_OK)
        push_gate(c, g, w0, w1, a);
    return rc;
}

int qc_rot(QcCircuit *c, int w, QcAngle phi, QcAngle theta, QcAngle omega)
{
    int rc;
    if ((rc = check_gate(c, QC_RZ, w, -1, phi)) || (rc = check_gate(c, QC_RY, w, -1, theta)) ||
        (rc = check_gate(c, QC_RZ, w, -1, omega)) || (rc = reserve_ops(c, 3)))
        return rc;
    push_gate(c, QC_RZ, w, -1, phi);
    push_gate(c, QC_RY, w, -1, theta);
    push_gate(c, QC_RZ, w, -1, omega);
    return QC_OK;
}

int qc_new_params(QcCircuit *c, int n, int *first)
{
    if (n < 0 || n > INT32_MAX / 2 - c->nparams) {
        set_err(c->err, "cannot reserve %d parameters", n);
        return QC_EINVAL;
    }
    if (first)
        *first = c->nparams;
    c->nparams += n;
    return QC_OK;
}

int qc_declare_inputs(QcCircuit *c, int n)
{
    if (n < 0 || n >= INT32_MAX / 2) {
        set_err(c->err, "cannot declare %d inputs", n);
        return QC_EINVAL;
    }
    if (n > c->ninputs)
        c->ninputs = n;
    return QC_OK;
}

static int axis_gate(char axis, QcGate *g)
{
    switch (axis) {
    case 'x': case 'X': *g = QC_RX; return 1;
    case 'y': case 'Y': *g = QC_RY; return 1;
    case 'z': case 'Z': *g = QC_RZ; return 1;
    default: return 0;
    }
}

static int angle_embed_check(QcCircuit *c, char axis, int input, int ninputs, double scale,
                             QcGate *g)
{
    if (!axis_gate(axis, g)) {
        set_err(c->err, "angle embedding: axis '%c' is not x, y or z", axis ? axis : '?');
        return QC_EINVAL;
    }
    if (ninputs < 1 || ninputs > c->nq || input < 0 || input >= INT32_MAX / 2 - ninputs) {
        set_err(c->err, "angle embedding: %d inputs from %d on %d wires", ninputs, input, c->nq);
        return QC_EINVAL;
    }
    if (scale == 0 || !isfinite(scale)) {
        set_err(c->err, "angle embedding: scale %g encodes nothing", scale);
        return QC_EINVAL;
    }
    return QC_OK;
}

static int angle_embed_nops(const QcCircuit *c, int ninputs)
{
    return ninputs == 1 ? c->nq : ninputs;
}

static void angle_embed_push(QcCircuit *c, QcGate g, int input, int ninputs, double scale)
{
    for (int w = 0; w < angle_embed_nops(c, ninputs); w++)
        push_gate(c, g, w, -1, qc_input(ninputs == 1 ? input : input + w, scale));
}

int qc_embed_angle(QcCircuit *c, char axis, int input, int ninputs, double scale)
{
    QcGate g;
    int rc = angle_embed_check(c, axis, input, ninputs, scale, &g);
    if (rc == QC_OK)
        rc = reserve_ops(c, angle_embed_nops(c, ninputs));
    if (rc == QC_OK)
        angle_embed_push(c, g, input, ninputs, scale);
    return rc;
}

int qc_embed_amplitude(QcCircuit *c, int input, int len)
{
    if (c->nops > 0 || c->amp_len > 0) {
        set_err(c->err, "amplitude embedding prepares the initial state: it must come first, once");
        return QC_EINVAL;
    }
    if (len < 1 || (c->nq < 31 && len > (1 << c->nq)) || input < 0 ||
        input >= INT32_MAX / 2 - len) {
        set_err(c->err, "amplitude embedding: %d inputs from %d into %d qubits (at most 2^%d)",
                len, input, c->nq, c->nq);
        return QC_EINVAL;
    }
    c->amp_input = input;
    c->amp_len = len;
    if (input + len > c->ninputs)
        c->ninputs = input + len;
    return QC_OK;
}

/* CNOTs of one entangling layer: count, and (with push) append them. */
static int entangler(QcCircuit *c, QcEntangle ent, int push)
{
    int n = c->nq, k = 0;
    if (ent == QC_ENT_CHAIN) {
        for (int i = 0; i + 1 < n; i++, k++)
            if (push)
                push_gate(c, QC_CNOT, i, i + 1, qc_const(0));
    } else if (ent == QC_ENT_RING && n == 2) {
        if (push)
            push_gate(c, QC_CNOT, 0, 1, qc_const(0));
        k = 1;
    } else if (ent == QC_ENT_RING && n > 2) {
        for (int i = 0; i < n; i++, k++)
            if (push)
                push_gate(c, QC_CNOT, i, (i + 1) % n, qc_const(0));
    }
    return k;
}

int qc_ansatz_euler(QcCircuit *c, int nlayers, const char *rots, QcEntangle ent, int *first)
{
    QcGate g;
    if (!rots)
        rots = "zxz";
    size_t nr = strlen(rots);
    for (size_t i = 0; i < nr; i++)
        if (!axis_gate(rots[i], &g)) {
            set_err(c->err, "euler ansatz: rotation '%c' is not x, y or z", rots[i]);
            return QC_EINVAL;
        }
    if (nr == 0 || nr > 64 || nlayers < 0 || nlayers > 100000 ||
        (ent != QC_ENT_RING && ent != QC_ENT_CHAIN && ent != QC_ENT_NONE)) {
        set_err(c->err, "euler ansatz: %d layers of %zu rotations, entangler %d", nlayers, nr,
                (int)ent);
        return QC_EINVAL;
    }
    int per = c->nq * (int)nr, p0, rc;
    if ((rc = reserve_ops(c, nlayers * (per + entangler(c, ent, 0)))) ||
        (rc = qc_new_params(c, nlayers * per, &p0)))
        return rc;
    for (int l = 0; l < nlayers; l++) {
        for (int w = 0; w < c->nq; w++)
            for (size_t r = 0; r < nr; r++) {
                axis_gate(rots[r], &g);
                push_gate(c, g, w, -1, qc_param(p0 + (l * c->nq + w) * (int)nr + (int)r));
            }
        entangler(c, ent, 1);
    }
    if (first)
        *first = p0;
    return QC_OK;
}

int qc_ansatz_strongly_entangling(QcCircuit *c, int nlayers, int layer0, const int *ranges,
                                  int *first)
{
    int n = c->nq, p0, rc;
    if (nlayers < 0 || nlayers > 100000 || layer0 < 0) {
        set_err(c->err, "strongly entangling ansatz: %d layers from %d", nlayers, layer0);
        return QC_EINVAL;
    }
    for (int l = 0; ranges && n > 1 && l < nlayers; l++)
        if (ranges[l] <= 0 || ranges[l] % n == 0) {
            set_err(c->err, "strongly entangling ansatz: range %d of layer %d must be in 1..%d",
                    ranges[l], l, n - 1);
            return QC_EINVAL;
        }
    if ((rc = reserve_ops(c, nlayers * (3 * n + (n > 1 ? n : 0)))) ||
        (rc = qc_new_params(c, 3 * n * nlayers, &p0)))
        return rc;
    for (int l = 0; l < nlayers; l++) {
        for (int w = 0; w < n; w++) {
            int j = p0 + 3 * (l * n + w);
            push_gate(c, QC_RZ, w, -1, qc_param(j));
            push_gate(c, QC_RY, w, -1, qc_param(j + 1));
            push_gate(c, QC_RZ, w, -1, qc_param(j + 2));
        }
        if (n > 1) {
            int r = ranges ? ranges[l] : ((layer0 + l) % (n - 1)) + 1;
            for (int i = 0; i < n; i++)
                push_gate(c, QC_CNOT, i, (i + r) % n, qc_const(0));
        }
    }
    if (first)
        *first = p0;
    return QC_OK;
}

int qc_ansatz_basic_entangler(QcCircuit *c, int nlayers, char axis, int *first)
{
    QcGate g;
    int p0, rc;
    if (!axis_gate(axis ? axis : 'x', &g) || nlayers < 0 || nlayers > 100000) {
        set_err(c->err, "basic entangler: %d layers of '%c' rotations", nlayers, axis);
        return QC_EINVAL;
    }
    if ((rc = reserve_ops(c, nlayers * (c->nq + entangler(c, QC_ENT_RING, 0)))) ||
        (rc = qc_new_params(c, nlayers * c->nq, &p0)))
        return rc;
    for (int l = 0; l < nlayers; l++) {
        for (int w = 0; w < c->nq; w++)
            push_gate(c, g, w, -1, qc_param(p0 + l * c->nq + w));
        entangler(c, QC_ENT_RING, 1);
    }
    if (first)
        *first = p0;
    return QC_OK;
}

/* One ansatz layer (index l) of spec; *first only for the first layer. */
static int ansatz_layers(QcCircuit *c, const QcLayers *s, int nlayers, int l, int *first)
{
    switch (s->ansatz) {
    case QC_ANSATZ_EULER:
        return qc_ansatz_euler(c, nlayers, s->rots, s->entangle, first);
    case QC_ANSATZ_STRONGLY_ENTANGLING:
        return qc_ansatz_strongly_entangling(c, nlayers, l, s->ranges ? s->ranges + l : NULL,
                                             first);
    case QC_ANSATZ_BASIC_ENTANGLER:
        return qc_ansatz_basic_entangler(c, nlayers, s->rots ? s->rots[0] : 'x', first);
    }
    set_err(c->err, "unknown ansatz %d", (int)s->ansatz);
    return QC_EINVAL;
}

static int build_layers(QcCircuit *c, const QcLayers *s, int *first);

/* All or nothing: a failed build leaves the circuit as it was (the ops
 * array only grows, so the counts are the whole state to restore). */
int qc_build_layers(QcCircuit *c, const QcLayers *s, int *first)
{
    int nops = c->nops, np = c->nparams, ni = c->ninputs, ai = c->amp_input, al = c->amp_len;
    int rc = build_layers(c, s, first);
    if (rc) {
        c->nops = nops, c->nparams = np, c->ninputs = ni;
        c->amp_input = ai, c->amp_len = al;
    }
    return rc;
}

static int build_layers(QcCircuit *c, const QcLayers *s, int *first)
{
    int ninputs = s->ninputs ? s->ninputs : 1, rc, f = 0;
    char axis = s->axis ? s->axis : 'x';
    QcGate g = QC_RX;
    if (s->nlayers < 1) {
        set_err(c->err, "layers: %d layers", s->nlayers);
        return QC_EINVAL;
    }
    if (s->embed == QC_EMBED_ANGLE) {
        if ((rc = angle_embed_check(c, axis, s->input, ninputs, s->scale, &g)))
            return rc;
    } else if (s->embed == QC_EMBED_AMPLITUDE) {
        if (s->reupload) {
            set_err(c->err, "layers: an amplitude embedding cannot be re-uploaded");
            return QC_EINVAL;
        }
        if ((rc = qc_embed_amplitude(c, s->input, ninputs)))
            return rc;
    } else if (s->embed != QC_EMBED_NONE) {
        set_err(c->err, "layers: unknown embedding %d", (int)s->embed);
        return QC_EINVAL;
    }
    /* room for every gate first, so that the loop below cannot fail
     * half-way on memory */
    int nemb = s->embed == QC_EMBED_ANGLE ? angle_embed_nops(c, ninputs) : 0, per = 0, n = c->nq;
    switch (s->ansatz) {
    case QC_ANSATZ_EULER:
        per = n * (int)strlen(s->rots ? s->rots : "zxz") + entangler(c, s->entangle, 0);
        break;
    case QC_ANSATZ_STRONGLY_ENTANGLING: per = 3 * n + (n > 1 ? n : 0); break;
    case QC_ANSATZ_BASIC_ENTANGLER: per = n + entangler(c, QC_ENT_RING, 0); break;
    }
    if (s->nlayers > 100000 || per > 100000) {
        set_err(c->err, "layers: %d layers of %d gates", s->nlayers, per);
        return QC_EINVAL;
    }
    if ((rc = reserve_ops(c, nemb * (s->reupload ? s->nlayers : 1) + per * s->nlayers)))
        return rc;
    if (!s->reupload) {
        if (nemb)
            angle_embed_push(c, g, s->input, ninputs, s->scale);
        return ansatz_layers(c, s, s->nlayers, 0, first);
    }
    for (int l = 0; l < s->nlayers; l++) {
        if (nemb)
            angle_embed_push(c, g, s->input, ninputs, s->scale);
        if ((rc = ansatz_layers(c, s, 1, l, l == 0 ? &f : NULL)))
            return rc;
    }
    if (first)
        *first = f;
    return QC_OK;
}

int qc_obs_new(QcCircuit *c, int *o)
{
    if (c->nobs >= INT32_MAX / 2) {
        set_err(c->err, "too many observables");
        return QC_EINVAL;
    }
    *o = c->nobs++;
    return QC_OK;
}

int qc_obs_term(QcCircuit *c, int o, double coeff, int nfactors, const char *paulis,
                const int *wires)
{
    if (o < 0 || o >= c->nobs) {
        set_err(c->err, "observable %d does not exist (%d so far)", o, c->nobs);
        return QC_EINVAL;
    }
    if (!isfinite(coeff) || nfactors < 0 || nfactors > c->nq || (nfactors && (!paulis || !wires))) {
        set_err(c->err, "observable %d: a term of %d factors, coefficient %g", o, nfactors, coeff);
        return QC_EINVAL;
    }
    Term t = { coeff, 0, 0, 0, o };
    uint64_t seen = 0;
    for (int i = 0; i < nfactors; i++) {
        int w = wires[i];
        char p = paulis[i];
        if (w < 0 || w >= c->nq || (seen >> w & 1)) {
            set_err(c->err, "observable %d: wire %d %s", o, w,
                    w < 0 || w >= c->nq ? "out of range" : "appears twice in one term");
            return QC_EINVAL;
        }
        seen |= (uint64_t)1 << w;
        uint64_t b = wire_bit(c, w);
        switch (p) {
        case 'X': case 'x': t.xm |= b; break;
        case 'Y': case 'y': t.xm |= b, t.zm |= b, t.ny++; break;
        case 'Z': case 'z': t.zm |= b; break;
        case 'I': case 'i': break;
        default:
            set_err(c->err, "observable %d: '%c' is not a Pauli (X, Y, Z or I)", o, p ? p : '?');
            return QC_EINVAL;
        }
    }
    if (c->nterms == c->capterms) {
        int cap = c->capterms ? 2 * c->capterms : 8;
        Term *p = grow(&c->fail_after, c->terms, (size_t)cap * sizeof *p);
        if (!p) {
            set_err(c->err, "out of memory for %d observable terms", cap);
            return QC_ENOMEM;
        }
        c->terms = p;
        c->capterms = cap;
    }
    c->terms[c->nterms++] = t;
    return QC_OK;
}

int qc_obs_pauli(QcCircuit *c, char pauli, int wire, int *o)
{
    int k, rc;
    char p[2] = { pauli, 0 };
    if (wire < 0 || wire >= c->nq) {
        set_err(c->err, "observable: wire %d out of range (0 to %d)", wire, c->nq - 1);
        return QC_EINVAL;
    }
    if ((rc = qc_obs_new(c, &k)))
        return rc;
    if ((rc = qc_obs_term(c, k, 1.0, 1, p, &wire))) {
        c->nobs--;   /* nothing else refers to it yet */
        return rc;
    }
    if (o)
        *o = k;
    return QC_OK;
}

int qc_nqubits(const QcCircuit *c) { return c->nq; }
int qc_nparams(const QcCircuit *c) { return c->nparams; }
int qc_ninputs(const QcCircuit *c) { return c->ninputs; }
int qc_nobs(const QcCircuit *c) { return c->nobs; }
int qc_nops(const QcCircuit *c) { return c->nops; }

int qc_op(const QcCircuit *c, int i, QcOp *op)
{
    if (i < 0 || i >= c->nops)
        return QC_EINVAL;
    *op = c->ops[i].op;
    return QC_OK;
}

int qc_amplitude(const QcCircuit *c, int *input)
{
    if (input)
        *input = c->amp_input;
    return c->amp_len;
}

int qc_obs_nterms(const QcCircuit *c, int o)
{
    int n = 0;
    for (int k = 0; k < c->nterms; k++)
        n += c->terms[k].obs == o;
    return n;
}

int qc_obs_get_term(const QcCircuit *c, int o, int t, double *coeff, char *paulis)
{
    for (int k = 0; k < c->nterms; k++) {
        const Term *tm = &c->terms[k];
        if (tm->obs != o || t-- > 0)
            continue;
        if (coeff)
            *coeff = tm->coeff;
        if (paulis) {
            for (int w = 0; w < c->nq; w++) {
                uint64_t b = wire_bit(c, w);
                int x = (tm->xm & b) != 0, z = (tm->zm & b) != 0;
                paulis[w] = x && z ? 'Y' : x ? 'X' : z ? 'Z' : 'I';
            }
            paulis[c->nq] = '\0';
        }
        return QC_OK;
    }
    return QC_EINVAL;
}

/* --- workspace -------------------------------------------------------------------------- */

int qc_work_new(QcWork **out, char *err)
{
    long budget = fault_budget();
    QcWork *w = alloc(&budget, sizeof *w);
    *out = NULL;
    if (!w) {
        set_err(err, "out of memory for a workspace");
        return QC_ENOMEM;
    }
    memset(w, 0, sizeof *w);
    w->fail_after = budget;
    *out = w;
    return QC_OK;
}

void qc_work_free(QcWork **pw)
{
    if (!pw || !*pw)
        return;
    free((*pw)->d);
    free((*pw)->n);
    free(*pw);
    *pw = NULL;
}

const char *qc_work_error(const QcWork *w)
{
    return w->err;
}

/* At least nd doubles and ni ints; the old contents are not kept. */
static int work_reserve(QcWork *w, size_t nd, size_t ni)
{
    if (nd > w->dcap) {
        free(w->d);
        w->dcap = 0;
        if (nd > SIZE_MAX / sizeof(double) ||
            !(w->d = alloc(&w->fail_after, nd * sizeof(double)))) {
            set_err(w->err, "out of memory for %zu MiB of state vectors", nd / (1 << 17));
            return QC_ENOMEM;
        }
        w->dcap = nd;
    }
    if (ni > w->ncap) {
        free(w->n);
        w->ncap = 0;
        if (!(w->n = alloc(&w->fail_after, ni * sizeof(int)))) {
            set_err(w->err, "out of memory for the workspace");
            return QC_ENOMEM;
        }
        w->ncap = ni;
    }
    return QC_OK;
}

/* --- evaluation -------------------------------------------------------------------------- */

/* One call's view of the workspace. */
typedef struct {
    const QcCircuit *c;
    const QcEval *e;
    size_t dim;
    double *cs;          /* cos, sin of each op's half angle at the current point */
    double *tan;         /* d angle_i / dv, per op */
    double *psi, *vecs;  /* the state; the caller's further vectors */
    double *vals, *dvals;             /* per observable: out and d out/dv */
    double *tmp, *cdf, *sums;         /* shots */
    int *group;                       /* shots: each term's group leader (-1: identity) */
    double *g;                        /* parameter shift: d out/dx, nobs x ninputs */
} Run;

static double op_angle(const Op *op, const double *theta, const double *x)
{
    const QcAngle *a = &op->op.angle;
    switch (a->src) {
    case QC_PARAM: return a->scale * theta[a->index] + a->shift;
    case QC_INPUT: return a->scale * x[a->index] + a->shift;
    case QC_CONST: break;
    }
    return a->shift;
}

static void set_angle(Run *r, int i, double a)
{
    r->cs[2 * i] = cos(0.5 * a);
    r->cs[2 * i + 1] = sin(0.5 * a);
}

/* The angles of the ops that do not depend on the point (inputs 0, once
 * per call), or of those that do (inputs 1, once per point). */
static void set_angles(Run *r, const double *x, int inputs)
{
    const QcCircuit *c = r->c;
    for (int i = 0; i < c->nops; i++) {
        const Op *op = &c->ops[i];
        if (qc_gate_has_angle(op->op.gate) && (op->op.angle.src == QC_INPUT) == inputs)
            set_angle(r, i, op_angle(op, r->e->theta, x));
    }
}

/* psi_0 and, when dpsi is not NULL, its tangent along dir.  *nrm and *xv:
 * the amplitude vector's norm and psi_0 . dir (amplitude embedding only). */
static int init_state(Run *r, const double *x, double *psi, double *dpsi, double *nrm, double *xv)
{
    const QcCircuit *c = r->c;
    memset(psi, 0, 2 * r->dim * sizeof *psi);
    if (dpsi)
        memset(dpsi, 0, 2 * r->dim * sizeof *dpsi);
    *nrm = 1, *xv = 0;
    if (c->amp_len == 0) {
        psi[0] = 1;
        return QC_OK;
    }
    const double *a = x + c->amp_input;
    double ss = 0;
    for (int i = 0; i < c->amp_len; i++)
        ss += a[i] * a[i];
    *nrm = sqrt(ss);
    if (!(*nrm > 0) || !isfinite(*nrm))
        return QC_EDOMAIN;
    for (int i = 0; i < c->amp_len; i++)
        psi[2 * i] = a[i] / *nrm;
    if (r->e->dir) {
        const double *v = r->e->dir + c->amp_input;
        for (int i = 0; i < c->amp_len; i++)
            *xv += psi[2 * i] * v[i];
        /* d(x/|x|)/dv = (v - psi (psi . v)) / |x| */
        for (int i = 0; dpsi && i < c->amp_len; i++)
            dpsi[2 * i] = (v[i] - psi[2 * i] * *xv) / *nrm;
    }
    return QC_OK;
}

static void forward(const Run *r, double *psi, double *dpsi)
{
    const QcCircuit *c = r->c;
    for (int i = 0; i < c->nops; i++) {
        const Op *op = &c->ops[i];
        apply_op(op, r->cs[2 * i], r->cs[2 * i + 1], 0, psi, r->dim);
        if (dpsi) {
            apply_op(op, r->cs[2 * i], r->cs[2 * i + 1], 0, dpsi, r->dim);
            if (r->tan[i] != 0)
                gen_axpy(op, 0, -0.5 * r->tan[i], psi, dpsi, r->dim);
        }
    }
}

/* Terms measured in the same basis (the same X and Y wires) share their
 * shots; the group of a term is the index of the first such term. */
static void group_terms(Run *r)
{
    const QcCircuit *c = r->c;
    for (int k = 0; k < c->nterms; k++) {
        const Term *t = &c->terms[k];
        r->group[k] = (t->xm | t->zm) ? k : -1;
        for (int j = 0; j < k && r->group[k] == k; j++) {
            const Term *u = &c->terms[j];
            if ((u->xm | u->zm) && u->xm == t->xm && (u->xm & u->zm) == (t->xm & t->zm))
                r->group[k] = r->group[j];
        }
    }
}

/* vals[o] estimated from e->shots samples per measurement basis, drawn from
 * rng_init(seed, unit0 + p, QC_STREAM + group). */
static void sample_expect(Run *r, int p, const double *psi)
{
    const QcCircuit *c = r->c;
    size_t dim = r->dim;
    for (int k = 0; k < c->nterms; k++)
        r->sums[k] = 0;
    for (int g = 0; g < c->nterms; g++) {
        const Term *lead = &c->terms[g];
        if (r->group[g] != g)
            continue;
        /* H on X wires, H S^+ on Y wires: then each Pauli reads as Z */
        memcpy(r->tmp, psi, 2 * dim * sizeof *psi);
        for (int w = 0; w < c->nq; w++) {
            size_t b = wire_bit(c, w);
            if (!(lead->xm & b))
                continue;
            if (lead->zm & b)
                k_phase(r->tmp, dim, b, 0, 0, -1);
            k_h(r->tmp, dim, b);
        }
        double acc = 0;
        for (size_t i = 0; i < dim; i++) {
            acc += r->tmp[2 * i] * r->tmp[2 * i] + r->tmp[2 * i + 1] * r->tmp[2 * i + 1];
            r->cdf[i] = acc;
        }
        Rng rng;
        rng_init(&rng, r->e->seed, r->e->unit0 + (uint32_t)p, QC_STREAM + (uint32_t)g);
        for (long s = 0; s < r->e->shots; s++) {
            double u = rng_uniform(&rng) * acc;
            size_t lo = 0, hi = dim - 1;   /* the first i with cdf[i] > u */
            while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                if (r->cdf[mid] > u)
                    hi = mid;
                else
                    lo = mid + 1;
            }
            for (int k = g; k < c->nterms; k++)
                if (r->group[k] == g)
                    r->sums[k] += parity(lo & (c->terms[k].xm | c->terms[k].zm)) ? -1 : 1;
        }
    }
    for (int o = 0; o < c->nobs; o++)
        r->vals[o] = 0;
    /* a Y factor is i X Z: its i is in ny, and the rotation reads the
     * product itself, so the sample mean is the term's expectation */
    for (int k = 0; k < c->nterms; k++) {
        const Term *t = &c->terms[k];
        double m = r->group[k] >= 0 ? r->sums[k] / (double)r->e->shots : 1.0;
        r->vals[t->obs] += t->coeff * m;
    }
}

/* Carve the workspace: the state, nvec more vectors, and what the mode
 * needs (shots; shift: the parameter-shift buffers). */
static int run_setup(Run *r, const QcCircuit *c, QcWork *w, const QcEval *e, int nvec, int shift)
{
    memset(r, 0, sizeof *r);
    r->c = c;
    r->e = e;
    r->dim = (size_t)1 << c->nq;
    size_t vlen = 2 * r->dim;
    int shots = e->shots > 0;
    size_t nv = 1 + (size_t)shots + (size_t)nvec;
    if (nv > SIZE_MAX / 4 / vlen / sizeof(double)) {
        set_err(w->err, "%d qubits: the state vectors do not fit in memory", c->nq);
        return QC_ENOMEM;
    }
    size_t nd = nv * vlen + 3 * (size_t)c->nops + 2 * (size_t)c->nobs +
                (shots ? r->dim + (size_t)c->nterms : 0) +
                (shift ? (size_t)c->nobs * (size_t)c->ninputs : 0);
    int rc = work_reserve(w, nd, shots ? (size_t)c->nterms : 0);
    if (rc)
        return rc;
    double *d = w->d;
    r->psi = d, d += vlen;
    r->vecs = d, d += (size_t)nvec * vlen;
    if (shots) {
        r->tmp = d, d += vlen;
        r->cdf = d, d += r->dim;
        r->sums = d, d += c->nterms;
        r->group = w->n;
        group_terms(r);
    }
    r->cs = d, d += 2 * (size_t)c->nops;
    r->tan = d, d += (size_t)c->nops;
    r->vals = d, d += c->nobs;
    r->dvals = d, d += c->nobs;
    r->g = shift ? d : NULL;
    for (int i = 0; i < c->nops; i++) {
        const QcAngle *a = &c->ops[i].op.angle;
        r->tan[i] = e->dir && a->src == QC_INPUT ? a->scale * e->dir[a->index] : 0;
        r->cs[2 * i] = 1, r->cs[2 * i + 1] = 0;
    }
    set_angles(r, NULL, 0);
    return QC_OK;
}

static int check_eval(const QcCircuit *c, QcWork *w, const QcEval *e)
{
    w->err[0] = '\0';
    if (e->npoints < 0 || (e->npoints > 0 && c->ninputs > 0 && !e->x) ||
        (c->nparams > 0 && !e->theta)) {
        set_err(w->err, "eval: %d points, x %s, theta %s", e->npoints, e->x ? "given" : "NULL",
                e->theta ? "given" : "NULL");
        return QC_EINVAL;
    }
    if (!e->dir && (e->dout_dir || e->dtheta_dir || e->dx_dir)) {
        set_err(w->err, "eval: derivatives along a direction asked for without one (dir NULL)");
        return QC_EINVAL;
    }
    if (e->shots < 0) {
        set_err(w->err, "eval: %ld shots", e->shots);
        return QC_EINVAL;
    }
    return QC_OK;
}

static int domain_error(QcWork *w, const QcCircuit *c, int p)
{
    set_err(w->err, "point %d: the amplitude-embedded inputs %d..%d are all zero (or not finite)",
            p, c->amp_input, c->amp_input + c->amp_len - 1);
    return QC_EDOMAIN;
}

static double re_dot(const double *a, const double *b, size_t dim)
{
    double s = 0;
    for (size_t i = 0; i < 2 * dim; i++)
        s += a[i] * b[i];
    return s;
}

static void zero(double *p, size_t n)
{
    if (p)
        memset(p, 0, n * sizeof *p);
}

int qc_eval(const QcCircuit *c, QcWork *w, const QcEval *e)
{
    int rc = check_eval(c, w, e);
    if (rc)
        return rc;
    int grad = e->dtheta || e->dx || e->dtheta_dir || e->dx_dir;
    int tangent = e->dir && (e->dout_dir || e->dtheta_dir || e->dx_dir);
    if (e->shots > 0 && (grad || tangent)) {
        set_err(w->err, "eval: shots estimate expectations only (qc_param_shift takes shots)");
        return QC_EINVAL;
    }
    const int nobs = c->nobs, np = c->nparams, ni = c->ninputs;
    /* vectors: psi' (tangent); lam_o (grad: one per output; tangent alone:
     * one, reused); lam'_o (grad and tangent) */
    int nlam = grad ? nobs : tangent, ndlam = grad && tangent ? nobs : 0;
    Run r;
    if ((rc = run_setup(&r, c, w, e, tangent + nlam + ndlam, 0)))
        return rc;
    const size_t vlen = 2 * r.dim, dim = r.dim;
    double *dpsi = tangent ? r.vecs : NULL;
    double *lam = r.vecs + (size_t)tangent * vlen, *dlam = lam + (size_t)nlam * vlen;
    int amp_grad = c->amp_len > 0 && (e->dx || e->dx_dir);
    for (int p = 0; p < e->npoints; p++) {
        const double *x = e->x ? e->x + (size_t)p * ni : NULL;
        double *dth = e->dtheta ? e->dtheta + (size_t)p * nobs * np : NULL;
        double *dx = e->dx ? e->dx + (size_t)p * nobs * ni : NULL;
        double *dthv = e->dtheta_dir ? e->dtheta_dir + (size_t)p * nobs * np : NULL;
        double *dxv = e->dx_dir ? e->dx_dir + (size_t)p * nobs * ni : NULL;
        double nrm, xv;
        set_angles(&r, x, 1);
        if (init_state(&r, x, r.psi, dpsi, &nrm, &xv))
            return domain_error(w, c, p);
        forward(&r, r.psi, dpsi);
        if (e->shots > 0)
            sample_expect(&r, p, r.psi);
        else if (!nlam)
            expect_all(c, r.psi, dim, r.vals);
        for (int o = 0; o < nobs && nlam; o++) {
            /* lam_N = O psi_N; out = Re <psi|lam>; d out/dv = 2 Re <lam|psi'> */
            double *lo = grad ? lam + (size_t)o * vlen : lam;
            obs_apply(c, o, r.psi, lo, dim);
            r.vals[o] = re_dot(r.psi, lo, dim);
            if (tangent)
                r.dvals[o] = 2 * re_dot(lo, dpsi, dim);
            if (ndlam)
                obs_apply(c, o, dpsi, dlam + (size_t)o * vlen, dim);
        }
        if (e->out)
            memcpy(e->out + (size_t)p * nobs, r.vals, (size_t)nobs * sizeof *r.vals);
        if (e->dout_dir)
            memcpy(e->dout_dir + (size_t)p * nobs, r.dvals, (size_t)nobs * sizeof *r.dvals);
        if (!grad)
            continue;
        zero(dth, (size_t)nobs * np), zero(dthv, (size_t)nobs * np);
        zero(dx, (size_t)nobs * ni), zero(dxv, (size_t)nobs * ni);
        for (int i = c->nops - 1; i >= 0; i--) {
            const Op *op = &c->ops[i];
            const QcAngle *a = &op->op.angle;
            double cc = r.cs[2 * i], ss = r.cs[2 * i + 1];
            double *d1 = NULL, *d2 = NULL;
            int stride = 0;
            if (qc_gate_has_angle(op->op.gate) && a->src == QC_PARAM)
                d1 = dth, d2 = dthv, stride = np;
            else if (qc_gate_has_angle(op->op.gate) && a->src == QC_INPUT)
                d1 = dx, d2 = dxv, stride = ni;
            for (int o = 0; o < nobs && (d1 || d2); o++) {
                double *lo = lam + (size_t)o * vlen;
                size_t at = (size_t)o * stride + a->index;
                if (d1)
                    d1[at] += a->scale * gen_im(op, lo, r.psi, dim);
                if (d2)
                    d2[at] += a->scale * (gen_im(op, dlam + (size_t)o * vlen, r.psi, dim) +
                                          gen_im(op, lo, dpsi, dim));
            }
            if (i == 0 && !amp_grad)
                break;
            /* back one gate: psi_{i-1}, lam_{i-1} and their tangents */
            apply_op(op, cc, ss, 1, r.psi, dim);
            if (tangent) {
                apply_op(op, cc, ss, 1, dpsi, dim);
                if (r.tan[i] != 0)
                    gen_axpy(op, 0, 0.5 * r.tan[i], r.psi, dpsi, dim);
            }
            for (int o = 0; o < nobs; o++) {
                double *lo = lam + (size_t)o * vlen;
                apply_op(op, cc, ss, 1, lo, dim);
                if (ndlam) {
                    double *dlo = dlam + (size_t)o * vlen;
                    apply_op(op, cc, ss, 1, dlo, dim);
                    if (r.tan[i] != 0)
                        gen_axpy(op, 0, 0.5 * r.tan[i], lo, dlo, dim);
                }
            }
        }
        if (!amp_grad)
            continue;
        /* psi_0 = a/|a|: d out/d a_m = (2/|a|)(Re lam_0[m] - psi_0[m] out),
         * and its derivative along v (docs/quantum.md) */
        init_state(&r, x, r.psi, dpsi, &nrm, &xv);
        for (int o = 0; o < nobs; o++) {
            const double *lo = lam + (size_t)o * vlen, *dlo = dlam + (size_t)o * vlen;
            for (int m = 0; m < c->amp_len; m++) {
                size_t at = (size_t)o * ni + c->amp_input + m;
                double h = 2 / nrm * (lo[2 * m] - r.psi[2 * m] * r.vals[o]);
                if (dx)
                    dx[at] += h;
                if (dxv)
                    dxv[at] += -xv / nrm * h + 2 / nrm * (dlo[2 * m] - dpsi[2 * m] * r.vals[o] -
                                                          r.psi[2 * m] * r.dvals[o]);
            }
        }
    }
    return QC_OK;
}

int qc_expect_batch(const QcCircuit *c, QcWork *w, const double *theta, int npoints,
                    const double *x, double *out)
{
    QcEval e = { 0 };
    e.npoints = npoints;
    e.x = x;
    e.theta = theta;
    e.out = out;
    return qc_eval(c, w, &e);
}

int qc_state(const QcCircuit *c, QcWork *w, const double *theta, const double *x, double *amp)
{
    QcEval e = { 0 };
    e.npoints = 1;
    e.x = x;
    e.theta = theta;
    Run r;
    double nrm, xv;
    int rc = check_eval(c, w, &e);
    if (rc || (rc = run_setup(&r, c, w, &e, 0, 0)))
        return rc;
    set_angles(&r, x, 1);
    if (init_state(&r, x, r.psi, NULL, &nrm, &xv))
        return domain_error(w, c, 0);
    forward(&r, r.psi, NULL);
    memcpy(amp, r.psi, 2 * r.dim * sizeof *amp);
    return QC_OK;
}

/* --- parameter shift ------------------------------------------------------------------- */

/* d f/da = sum_k w[k] f(a + s[k]): two terms when the generator's
 * eigenvalues are +-1/2, four when a control adds 0 (Wierichs et al. 2022;
 * PennyLane's CRX rule). */
typedef struct {
    int n;
    double s[4], w[4];
} ShiftRule;

static ShiftRule shift_rule(const Op *op)
{
    const double pi = 3.14159265358979323846;
    if (!op->cb)
        return (ShiftRule){ 2, { pi / 2, -pi / 2 }, { 0.5, -0.5 } };
    double cp = (sqrt(2) + 1) / (4 * sqrt(2)), cm = (sqrt(2) - 1) / (4 * sqrt(2));
    return (ShiftRule){ 4, { pi / 2, -pi / 2, 3 * pi / 2, -3 * pi / 2 }, { cp, -cp, -cm, cm } };
}

/* vals = the outputs at the current angles (sampled with shots). */
static int eval_point(Run *r, int p, const double *x)
{
    double nrm, xv;
    if (init_state(r, x, r->psi, NULL, &nrm, &xv))
        return QC_EDOMAIN;
    forward(r, r->psi, NULL);
    if (r->e->shots > 0)
        sample_expect(r, p, r->psi);
    else
        expect_all(r->c, r->psi, r->dim, r->vals);
    return QC_OK;
}

static int is_src(const Op *op, QcSource src)
{
    return qc_gate_has_angle(op->op.gate) && op->op.angle.src == src;
}

int qc_param_shift(const QcCircuit *c, QcWork *w, const QcEval *e)
{
    int rc = check_eval(c, w, e);
    if (rc)
        return rc;
    if (e->dx_dir) {
        set_err(w->err, "parameter shift: no dx_dir (use qc_eval)");
        return QC_EINVAL;
    }
    int want_dx = e->dx || (e->dir && e->dout_dir), want_mixed = e->dir && e->dtheta_dir;
    if (c->amp_len && (want_dx || want_mixed)) {
        set_err(w->err, "parameter shift: inputs in an amplitude embedding have no shift rule");
        return QC_EINVAL;
    }
    const int nobs = c->nobs, np = c->nparams, ni = c->ninputs;
    Run r;
    if ((rc = run_setup(&r, c, w, e, 0, 1)))
        return rc;
    for (int p = 0; p < e->npoints; p++) {
        const double *x = e->x ? e->x + (size_t)p * ni : NULL;
        double *dth = e->dtheta ? e->dtheta + (size_t)p * nobs * np : NULL;
        double *dthv = want_mixed ? e->dtheta_dir + (size_t)p * nobs * np : NULL;
        set_angles(&r, x, 1);
        if (eval_point(&r, p, x))
            return domain_error(w, c, p);
        if (e->out)
            memcpy(e->out + (size_t)p * nobs, r.vals, (size_t)nobs * sizeof *r.vals);
        zero(dth, (size_t)nobs * np), zero(dthv, (size_t)nobs * np);
        zero(r.g, (size_t)nobs * ni);
        for (int i = 0; i < c->nops; i++) {
            const Op *op = &c->ops[i];
            double *d;
            int stride;
            if (is_src(op, QC_PARAM) && dth)
                d = dth, stride = np;
            else if (is_src(op, QC_INPUT) && want_dx)
                d = r.g, stride = ni;
            else
                continue;
            double a = op_angle(op, e->theta, x), sc = op->op.angle.scale;
            ShiftRule sr = shift_rule(op);
            for (int k = 0; k < sr.n; k++) {
                set_angle(&r, i, a + sr.s[k]);
                eval_point(&r, p, x);
                for (int o = 0; o < nobs; o++)
                    d[(size_t)o * stride + op->op.angle.index] += sr.w[k] * sc * r.vals[o];
            }
            set_angle(&r, i, a);
        }
        if (e->dx)
            memcpy(e->dx + (size_t)p * nobs * ni, r.g, (size_t)nobs * ni * sizeof *r.g);
        if (e->dir && e->dout_dir)
            for (int o = 0; o < nobs; o++) {
                double s = 0;
                for (int k = 0; k < ni; k++)
                    s += e->dir[k] * r.g[(size_t)o * ni + k];
                e->dout_dir[(size_t)p * nobs + o] = s;
            }
        /* d2/(dv d theta_j): both shift rules at once, over every pair of an
         * input gate i and a gate j of theta_j */
        for (int i = 0; dthv && i < c->nops; i++) {
            const Op *oi = &c->ops[i];
            if (!is_src(oi, QC_INPUT) || r.tan[i] == 0)
                continue;
            double ai = op_angle(oi, e->theta, x);
            ShiftRule si = shift_rule(oi);
            for (int j = 0; j < c->nops; j++) {
                const Op *oj = &c->ops[j];
                if (!is_src(oj, QC_PARAM))
                    continue;
                double aj = op_angle(oj, e->theta, x);
                ShiftRule sj = shift_rule(oj);
                for (int k = 0; k < si.n; k++)
                    for (int l = 0; l < sj.n; l++) {
                        set_angle(&r, i, ai + si.s[k]);
                        set_angle(&r, j, aj + sj.s[l]);
                        eval_point(&r, p, x);
                        double wgt = si.w[k] * sj.w[l] * r.tan[i] * oj->op.angle.scale;
                        for (int o = 0; o < nobs; o++)
                            dthv[(size_t)o * np + oj->op.angle.index] += wgt * r.vals[o];
                    }
                set_angle(&r, j, aj);
            }
            set_angle(&r, i, ai);
        }
    }
    return QC_OK;
}
