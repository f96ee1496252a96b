/*
 * qc.h -- a statevector quantum circuit simulator with exact derivatives,
 * for hybrid quantum-classical (physics-informed) networks.
 *
 * A QcCircuit is a program: n qubits starting in |0...0> (or in an
 * amplitude-embedded input vector), a list of gates, and a list of
 * observables, one per output.  Gate angles are affine in one source:
 * a trainable parameter theta[j], an input x[k] (a time point, a dose, a
 * covariate), or nothing (a constant).  qc_eval() runs a batch of input
 * points through the circuit and returns, per point and output, the
 * expectation value and optionally
 *
 *   d out / d theta_j and d out / d x_k     by adjoint differentiation;
 *   d out / dv, d2 out / (dv d theta_j),    with a tangent direction v in
 *   d2 out / (dv d x_k)                     input space (v = e_k: the
 *                                           time input), exactly, by
 *                                           forward-mode tangents carried
 *                                           through the adjoint sweep.
 *
 * The second group is what a physics loss needs: it contains d out/dt and
 * an optimiser needs that term's gradient with respect to every theta.
 * qc_param_shift() computes the same first derivatives and the mixed
 * second derivatives by the parameter-shift rules, independently.
 * docs/quantum.md gives the conventions and the mathematics.
 *
 * Conventions are PennyLane's: wire 0 is the most significant bit of a
 * basis index (|q0 q1 ... q_{n-1}>), RX(t) = exp(-i t X/2), and so on.
 *
 * Ownership: qc_new() allocates a circuit, qc_free() frees it; after it
 * is built a circuit is read-only and may be shared by threads.
 * qc_work_new() allocates a workspace, qc_work_free() frees it; each
 * thread uses its own.  A workspace grows on the first call that needs
 * more room (a larger circuit, gradients) and is reused after that, so
 * training epochs do not allocate.  With -DQLX_FAULTS, QLX_FAIL_ALLOC=N
 * (read when the object is created) makes that object's allocation number
 * N (counting from 0) fail.  The shots' random draws come from rng.h,
 * keyed by (seed, unit0 + point, QC_STREAM + measurement group).
 *
 * Errors: functions return QC_OK (0) or a negative code; the message is
 * in the caller's err buffer (QC_ERRLEN bytes, may be NULL) for qc_new()
 * and qc_work_new(), in qc_error() for the builders, and in
 * qc_work_error() for the evaluations.
 */
#ifndef QLX_QC_H
#define QLX_QC_H

#include <stddef.h>
#include <stdint.h>

enum { QC_OK = 0, QC_EINVAL = -1, QC_ENOMEM = -2, QC_EDOMAIN = -3 };
enum { QC_ERRLEN = 160, QC_MAXQUBITS = 30 };

/* The rng.h stream of the shots of measurement group g is QC_STREAM + g. */
#define QC_STREAM 0x51430000u

typedef enum {
    QC_RX, QC_RY, QC_RZ,              /* one qubit, one angle */
    QC_H, QC_X, QC_Y, QC_Z, QC_S, QC_T,
    QC_CNOT, QC_CZ,                   /* wire[0] control, wire[1] target */
    QC_CRX, QC_CRY, QC_CRZ,           /* controlled rotations, one angle */
    QC_SWAP,
    QC_NGATES
} QcGate;

/* Where an angle comes from: angle = scale * v + shift, v = theta[index]
 * (QC_PARAM) or x[index] (QC_INPUT); a QC_CONST angle is shift. */
typedef enum { QC_CONST, QC_PARAM, QC_INPUT } QcSource;

typedef struct {
    QcSource src;
    int index;
    double scale, shift;
} QcAngle;

/* One gate of a circuit, as qc_op() shows it. */
typedef struct {
    QcGate gate;
    int wire[2];       /* wire[1] is -1 for one-qubit gates */
    QcAngle angle;     /* QC_CONST 0 for gates without one */
} QcOp;

typedef struct QcCircuit QcCircuit;
typedef struct QcWork QcWork;

/* --- gates -------------------------------------------------------------------- */

/* "RX", "CNOT", ... */
const char *qc_gate_name(QcGate g);
/* 1 or 2 */
int qc_gate_wires(QcGate g);
/* 1 if the gate takes an angle */
int qc_gate_has_angle(QcGate g);

static inline QcAngle qc_const(double a) { return (QcAngle){ QC_CONST, 0, 0.0, a }; }
static inline QcAngle qc_param(int j) { return (QcAngle){ QC_PARAM, j, 1.0, 0.0 }; }
static inline QcAngle qc_input(int k, double scale) { return (QcAngle){ QC_INPUT, k, scale, 0.0 }; }

/* --- building a circuit ---------------------------------------------------------- */

int  qc_new(int nqubits, QcCircuit **out, char *err);
void qc_free(QcCircuit **c);
/* The message of the last failed builder call ("" if none). */
const char *qc_error(const QcCircuit *c);

/* Append a gate.  w1 is -1 for one-qubit gates; a is ignored by gates
 * without an angle.  The circuit's nparams and ninputs grow to cover the
 * indices used. */
int qc_gate(QcCircuit *c, QcGate g, int w0, int w1, QcAngle a);
/* PennyLane's Rot(phi, theta, omega) = RZ(omega) RY(theta) RZ(phi),
 * appended as its three rotations (RZ(phi) first). */
int qc_rot(QcCircuit *c, int w, QcAngle phi, QcAngle theta, QcAngle omega);
/* Reserve n new trainable parameters; *first is the index of the first. */
int qc_new_params(QcCircuit *c, int n, int *first);
/* The circuit takes at least n inputs, used or not (x's row length). */
int qc_declare_inputs(QcCircuit *c, int n);

/* Embeddings.  qc_embed_angle: an `axis` ('x', 'y' or 'z') rotation by
 * scale * x[k] on each wire.  With ninputs 1, input `input` on every wire;
 * otherwise inputs input .. input+ninputs-1 on wires 0 .. ninputs-1
 * (PennyLane's AngleEmbedding; ninputs <= nqubits). */
int qc_embed_angle(QcCircuit *c, char axis, int input, int ninputs, double scale);
/* The initial state is x[input .. input+len-1] / its norm, zero-padded to
 * 2^n amplitudes (PennyLane's AmplitudeEmbedding with normalize=True,
 * pad_with=0).  Only before any gate; len <= 2^n.  A point whose vector
 * is zero is a QC_EDOMAIN error.  Its inputs are differentiated too. */
int qc_embed_amplitude(QcCircuit *c, int input, int len);

/* Ansätze: nlayers layers, parameters reserved in PennyLane's weight
 * layout (row-major), the first index in *first (may be NULL).
 *   euler: rots ("zxz", any of x/y/z) on each wire, then the entangler:
 *     weights (L, n, strlen(rots)).
 *   strongly entangling: Rot on each wire, then CNOT(i, (i + r_l) mod n)
 *     for i = 0..n-1; ranges NULL gives r_l = (l mod (n-1)) + 1:
 *     weights (L, n, 3).  (Rot's three angles are phi, theta, omega.)
 *   basic entangler: an `axis` rotation on each wire, then a ring of
 *     CNOTs (one CNOT for 2 wires, none for 1): weights (L, n).
 * layer0 is the index of the first layer (for the default ranges when the
 * layers are built one at a time, as re-uploading does). */
typedef enum { QC_ENT_RING, QC_ENT_CHAIN, QC_ENT_NONE } QcEntangle;

int qc_ansatz_euler(QcCircuit *c, int nlayers, const char *rots, QcEntangle ent, int *first);
int qc_ansatz_strongly_entangling(QcCircuit *c, int nlayers, int layer0, const int *ranges,
                                  int *first);
int qc_ansatz_basic_entangler(QcCircuit *c, int nlayers, char axis, int *first);

/* The usual hybrid-network circuit in one call: an embedding, then the
 * ansatz; with reupload, the (angle) embedding again before every layer
 * (data re-uploading).  Zero fields take the defaults in brackets. */
typedef enum { QC_EMBED_NONE, QC_EMBED_ANGLE, QC_EMBED_AMPLITUDE } QcEmbed;
typedef enum { QC_ANSATZ_EULER, QC_ANSATZ_STRONGLY_ENTANGLING, QC_ANSATZ_BASIC_ENTANGLER } QcAnsatz;

typedef struct {
    QcEmbed embed;
    char axis;              /* angle embedding ['x', as PennyLane] */
    int input, ninputs;     /* as qc_embed_angle / qc_embed_amplitude [ninputs 1] */
    double scale;           /* angle embedding; must be non-zero */
    int reupload;
    QcAnsatz ansatz;
    int nlayers;
    const char *rots;       /* euler ["zxz"]; basic entangler: its axis ["x"] */
    QcEntangle entangle;    /* euler [ring] */
    const int *ranges;      /* strongly entangling [PennyLane's default] */
} QcLayers;

int qc_build_layers(QcCircuit *c, const QcLayers *spec, int *first);

/* Observables.  Each is a weighted sum of Pauli products, and one output.
 * qc_obs_new: a new, empty (zero) observable; its index in *o.
 * qc_obs_term: add coeff * P_1 (x) P_2 ... to observable o, paulis a string
 * of 'X', 'Y', 'Z', 'I', one per wire of wires[0..nfactors-1] (distinct).
 * qc_obs_pauli: a new observable <P_wire>, its index in *o (may be NULL). */
int qc_obs_new(QcCircuit *c, int *o);
int qc_obs_term(QcCircuit *c, int o, double coeff, int nfactors, const char *paulis,
                const int *wires);
int qc_obs_pauli(QcCircuit *c, char pauli, int wire, int *o);

/* --- reading a circuit ------------------------------------------------------------ */

int qc_nqubits(const QcCircuit *c);
int qc_nparams(const QcCircuit *c);
int qc_ninputs(const QcCircuit *c);
int qc_nobs(const QcCircuit *c);
int qc_nops(const QcCircuit *c);
/* Gate i (0 <= i < nops) into *op. */
int qc_op(const QcCircuit *c, int i, QcOp *op);
/* Amplitude embedding: its first input and length; 0 when there is none. */
int qc_amplitude(const QcCircuit *c, int *input);
/* Observable o: its term count; term t's coefficient, and its Pauli letter
 * per wire ("IZZX"-style, nqubits + 1 bytes) when paulis is not NULL. */
int qc_obs_nterms(const QcCircuit *c, int o);
int qc_obs_get_term(const QcCircuit *c, int o, int t, double *coeff, char *paulis);

/* --- evaluating --------------------------------------------------------------------- */

int  qc_work_new(QcWork **out, char *err);
void qc_work_free(QcWork **w);
/* The message of the last failed evaluation ("" if none). */
const char *qc_work_error(const QcWork *w);

/* One batch.  Arrays are row-major: x is npoints x ninputs; out npoints x
 * nobs; the derivatives npoints x nobs x nparams (or x ninputs), so
 * dtheta[(p*nobs + o)*nparams + j] = d out[p, o] / d theta[j].  Every
 * output pointer may be NULL (not wanted). */
typedef struct {
    int npoints;
    const double *x;          /* NULL when the circuit has no inputs */
    const double *theta;      /* NULL when it has no parameters */
    double *out;
    double *dtheta;           /* d out / d theta */
    double *dx;               /* d out / d x */
    const double *dir;        /* ninputs: the tangent direction v (NULL: none) */
    double *dout_dir;         /* d out / dv = sum_k v_k dx_k */
    double *dtheta_dir;       /* d2 out / (dv d theta_j) */
    double *dx_dir;           /* d2 out / (dv d x_k) */
    long shots;               /* > 0: out estimated from this many shots */
    uint64_t seed;            /* shots: the rng.h seed... */
    uint32_t unit0;           /* ...and the unit of point 0 (point p: unit0 + p) */
} QcEval;

/* Expectations and the adjoint derivatives asked for.  With shots only
 * out may be asked for (see qc_param_shift). */
int qc_eval(const QcCircuit *c, QcWork *w, const QcEval *e);
/* The same by the parameter-shift rules (two terms for RX, RY, RZ; four
 * for CRX, CRY, CRZ): out, dtheta, dx, dout_dir and dtheta_dir, from
 * expectation values alone (with shots when e->shots > 0).  Not dx_dir,
 * and no input derivatives through an amplitude embedding. */
int qc_param_shift(const QcCircuit *c, QcWork *w, const QcEval *e);
/* out (npoints x nobs) for inputs x: qc_eval without derivatives. */
int qc_expect_batch(const QcCircuit *c, QcWork *w, const double *theta, int npoints,
                    const double *x, double *out);
/* The final state of one point: amp[2i], amp[2i+1] = Re, Im of basis
 * state i (2^(n+1) doubles). */
int qc_state(const QcCircuit *c, QcWork *w, const double *theta, const double *x, double *amp);

#endif
