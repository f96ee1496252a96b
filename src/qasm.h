/*
 * qasm.h -- OpenQASM 2.0 export and import of qc.h circuits.
 *
 * qasm_write() writes a circuit with its trained parameters baked in as
 * numbers and the inputs left free: the whole circuit is one `gate`
 * definition whose parameters x0, x1, ... are the circuit's inputs, so
 * Qiskit (or anything reading OpenQASM 2.0) can bind them.  With x given,
 * a register and one call of that gate at those inputs follow.  Gate
 * names are qelib1.inc's (rx ry rz h x y z s t cx cz crx cry crz swap);
 * numbers are written with 17 significant digits, so they read back to
 * the same doubles.  Observables have no OpenQASM 2.0 form: they are
 * listed in comments.  An amplitude embedding cannot be written.
 *
 * qasm_read() reads that subset back, and plain qelib1 programs: qreg
 * (several are concatenated, in order, as wires), creg and barrier
 * (ignored), gate definitions, calls with whole-register broadcasting,
 * angle expressions with pi, + - * / ^, unary minus and sin cos tan exp
 * ln sqrt.  u1 u2 u3 U sdg tdg id CX are mapped to the simulator's gates
 * (up to a global phase, which no expectation sees).  With gate NULL the
 * program's top level is the circuit (no inputs); with a gate name, that
 * gate's body is, its parameters becoming inputs 0, 1, ... and its qubit
 * arguments wires 0, 1, ...; each angle must then be affine in at most
 * one parameter.  The circuit has no observables: the caller adds them.
 *
 * Errors: QC_OK, QC_EINVAL (the message "LINE:COL: what is wrong" in err,
 * QASM_ERRLEN bytes, may be NULL) or QC_ENOMEM (with -DQLX_FAULTS,
 * QLX_FAIL_ALLOC=N makes the reader's N-th allocation fail).  Ownership:
 * the caller frees *out with qc_free().
 */
#ifndef QLX_QASM_H
#define QLX_QASM_H

#include <stdio.h>

#include "qc.h"

enum { QASM_ERRLEN = 200 };

/* name: the gate's name ("qlx" if NULL); x: NULL, or the inputs of the
 * call written after the definition. */
int qasm_write(const QcCircuit *c, const double *theta, const double *x, const char *name,
               FILE *f, char *err);
int qasm_read(const char *src, const char *gate, QcCircuit **out, char *err);

#endif
