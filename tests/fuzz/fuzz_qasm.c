/*
 * fuzz_qasm.c -- libFuzzer target over the OpenQASM 2.0 reader.
 *
 * The input bytes are a QASM program, read once as a program and once
 * with the gate "qlx_q" as the circuit (the form qlxc export writes).
 * Any byte string must come back as a circuit, which is then simulated
 * once, or as an error message, never as a crash, hang, leak or
 * sanitizer report.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "qasm.h"
#include "qc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void try_read(const char *src, const char *gate)
{
    QcCircuit *c = NULL;
    char err[QASM_ERRLEN];
    if (qasm_read(src, gate, &c, err) != QC_OK || !c)
        return;
    /* simulate small circuits once, at inputs 0.5, to reach the gates */
    int o;
    QcWork *w = NULL;
    if (qc_nqubits(c) <= 10 && qc_obs_pauli(c, 'Z', 0, &o) == QC_OK &&
        qc_work_new(&w, err) == QC_OK) {
        int ni = qc_ninputs(c), np = qc_nparams(c);
        double *x = calloc((size_t)ni + 1, sizeof *x), *th = calloc((size_t)np + 1, sizeof *th);
        double out;
        for (int i = 0; x && i < ni; i++)
            x[i] = 0.5;
        if (x && th)
            qc_expect_batch(c, w, th, 1, x, &out);
        free(x);
        free(th);
    }
    qc_work_free(&w);
    qc_free(&c);
}

int LLVMFuzzerTestOneInput(const uint8_t *bytes, size_t size)
{
    char *src = malloc(size + 1);
    if (!src)
        return 0;
    memcpy(src, bytes, size);
    src[size] = '\0';
    try_read(src, NULL);
    try_read(src, "qlx_q");
    free(src);
    return 0;
}
