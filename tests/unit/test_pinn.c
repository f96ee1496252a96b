/*
 * test_pinn.c -- physics-informed training (pinn.c) against independent
 * truth.
 *
 * 1. The loss gradient by every trainable number -- circuit angles,
 *    network weights, linear() coefficients and THETAs through softplus --
 *    against central differences of the loss, on models that exercise
 *    each path: the data term through $ERROR, the physics term through
 *    d/dt of the branches (the mixed second derivatives), a $PK variable,
 *    two compartments coupled in $DES, a nonlinear $HYBRID, re-uploading,
 *    a two-qubit entangling circuit, a network inside $DES and a depot
 *    solved from its dose.
 * 2. Training (Adam, then L-BFGS) recovers the rate constant of data made
 *    from the closed form C(t) = D/V exp(-ke t).
 * 3. The trained circuit, written as OpenQASM and read back by the QASM
 *    reader, gives the branch's outputs at the data again.
 * 4. Population mode: the gradient with per-subject networks and ETAs, and
 *    the recovery of a typical ke and of each subject's ke from data made
 *    with ke_i = 0.2 exp(eta_i).
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "data.h"
#include "parse.h"
#include "pinn.h"
#include "qasm.h"
#include "qc.h"
#include "sema.h"
#include "tap.h"

typedef struct {
    Arena *a;
    Diag *d;
    FILE *sink;
    Model *m;
    Dataset *ds;
} Fit;

static int setup(Fit *f, const char *model, const char *data)
{
    memset(f, 0, sizeof *f);
    f->a = mem_arena_new();
    f->sink = tmpfile();
    f->d = diag_new(f->a, f->sink);
    Ast *t = parse_string(f->a, f->d, "t.qlx", model, strlen(model), NULL);
    f->m = t ? sema_check(f->a, f->d, t) : NULL;
    f->ds = f->m ? data_parse(f->a, f->d, f->m, "t.csv", data, strlen(data)) : NULL;
    return f->ds ? 0 : -1;
}

static void dump(Fit *f)
{
    fflush(f->sink);
    rewind(f->sink);
    char line[512];
    while (fgets(line, sizeof line, f->sink))
        printf("# %s", line);
}

static void teardown(Fit *f)
{
    if (f->sink)
        fclose(f->sink);
    mem_arena_free(&f->a);
}

static const ModelEst *adam_step(const Model *m)
{
    for (int i = 0; i < m->nests; i++)
        if (m->ests[i].method == EST_ADAM)
            return &m->ests[i];
    return NULL;
}

/* data: C = 10 exp(-0.2 t) after 100 at t = 0, exactly */
static char *bolus_data(char *buf, size_t n)
{
    size_t k = (size_t)snprintf(buf, n, "ID,TIME,DV,AMT,EVID,CMT\n1,0,.,100,1,1\n");
    const double ts[] = { 0.5, 1, 2, 3, 4, 6, 8, 10, 12, 16, 20, 24 };
    for (int i = 0; i < 12; i++)
        k += (size_t)snprintf(buf + k, n - k, "1,%g,%.12g,0,0,1\n", ts[i], 10 * exp(-0.2 * ts[i]));
    return buf;
}

static const char *model_a =
    "$PROBLEM a\n$DATA t.csv IGNORE=@\n$INPUT ID TIME DV AMT EVID CMT\n"
    "$COMPARTMENTS central(dose, observe)\n"
    "$THETA\n  ke = 0.5 (0, ) TRANSFORM=softplus\n  V = 10 FIX\n"
    "$QUANTUM q\n  QUBITS 1\n  ENCODE ry(TIME) SCALE 0.1\n  ANSATZ euler(rz, rx, rz) LAYERS 2\n"
    "  MEASURE z(0)\n"
    "$NETWORK c\n  INPUTS TIME\n  DENSE 1 -> 16 tanh -> 1\n"
    "$HYBRID\n  C = 1*linear(q) + 1*c\n  central = V*C\n"
    "$DES\n  d/dt(central) = -ke*central\n"
    "$ERROR\n  IPRED = central/V\n"
    "$LOSS\n  DATA 1\n  PHYSICS 1 COLLOCATION 60 OVER (0, 24)\n  INITIAL 1\n"
    "$ESTIMATION METHOD=ADAM LR=0.01 EPOCHS=%d SEED=2025\n"
    "$ESTIMATION METHOD=LBFGS EPOCHS=%d\n";

/* Two compartments, each a branch; a $PK variable; a nonlinear $HYBRID;
 * re-uploading into a two-qubit strongly entangling circuit. */
static const char *model_b =
    "$PROBLEM b\n$DATA t.csv IGNORE=@\n$INPUT ID TIME DV AMT EVID CMT\n"
    "$COMPARTMENTS depot(dose) central(observe)\n"
    "$THETA\n  ka = 0.8 (0, ) TRANSFORM=softplus\n  ke = 0.3 (0, ) TRANSFORM=softplus\n"
    "  V = 10\n"
    "$PK\n  KA = ka\n  KE = ke\n"
    "$QUANTUM qd\n  QUBITS 2\n  ENCODE ry(TIME) SCALE 0.2 REUPLOAD\n"
    "  ANSATZ strongly_entangling() LAYERS 2\n  MEASURE 0.7*z(0) + 0.3*z(0)*z(1)\n"
    "$QUANTUM qc\n  QUBITS 1\n  ENCODE rx(TIME) SCALE 0.1\n  ANSATZ euler(ry, rz) LAYERS 3\n"
    "  MEASURE x(0)\n"
    "$NETWORK c\n  INPUTS TIME\n  DENSE 1 -> 6 tanh -> 5 softplus -> 1\n"
    "$HYBRID\n  depot = 100*exp(linear(qd) - 1)\n  central = V*(linear(qc) + c*c)\n"
    "$DES\n  d/dt(depot) = -KA*depot\n  d/dt(central) = KA*depot - KE*central\n"
    "$ERROR\n  IPRED = central/V\n"
    "$LOSS\n  DATA 2\n  PHYSICS 0.5 COLLOCATION 15 OVER (0, 24)\n  INITIAL 0.25\n"
    "$ESTIMATION METHOD=ADAM LR=0.01 EPOCHS=10 SEED=7\n";

/* A network as a term of $DES (a universal differential equation), and a
 * depot the physics solves from the dose. */
static const char *model_ude =
    "$PROBLEM ude\n$DATA t.csv IGNORE=@\n$INPUT ID TIME DV AMT EVID CMT\n"
    "$COMPARTMENTS depot(dose) central(observe)\n"
    "$THETA\n  ka = 0.8 (0, ) TRANSFORM=softplus\n  ke = 0.3 (0, ) TRANSFORM=softplus\n"
    "  V = 10 FIX\n"
    "$QUANTUM q\n  QUBITS 1\n  ENCODE ry(TIME) SCALE 0.1\n  ANSATZ euler(rz, rx) LAYERS 2\n"
    "  MEASURE z(0)\n"
    "$NETWORK u\n  INPUTS TIME\n  DENSE 1 -> 5 tanh -> 1\n"
    "$HYBRID\n  central = V*linear(q)\n"
    "$DES\n  d/dt(depot) = -ka*depot\n  d/dt(central) = ka*depot - ke*central + u*u\n"
    "$ERROR\n  IPRED = central/V\n"
    "$LOSS\n  DATA 1\n  PHYSICS 1 COLLOCATION 15 OVER (0, 24)\n  INITIAL 1\n"
    "$ESTIMATION METHOD=ADAM LR=0.01 EPOCHS=%d SEED=3\n"
    "$ESTIMATION METHOD=LBFGS EPOCHS=%d\n";

static void test_gradients(void)
{
    char data[2048], model[4096];
    bolus_data(data, sizeof data);
    const char *models[3] = { model_a, model_b, model_ude };
    const char *what[3] = { "1-qubit Euler + 1-16-1 MLP, IV bolus",
                            "2 compartments, $PK, nonlinear $HYBRID, re-uploading, 2-qubit "
                            "strongly entangling",
                            "a network inside $DES beside a solved depot" };
    for (int i = 0; i < 3; i++) {
        snprintf(model, sizeof model, models[i], 10, 10);
        Fit f;
        int ok_setup = setup(&f, model, data) == 0;
        double err = INFINITY;
        int rc = -1;
        if (ok_setup) {
            PinnOpts o = { adam_step(f.m), NULL };
            rc = pinn_gradient_check(f.m, f.ds, &o, &err, f.d);
        }
        if (rc != 0)
            dump(&f);
        printf("# %s: largest gradient error %.2e\n", what[i], err);
        ok(rc == 0 && err < 1e-6, "loss gradient against central differences (%s)", what[i]);
        teardown(&f);
    }
}

static void test_recovery(void)
{
    char data[2048], model[4096];
    bolus_data(data, sizeof data);
    snprintf(model, sizeof model, model_a, 800, 200);
    Fit f;
    PinnResult r;
    memset(&r, 0, sizeof r);
    int rc = -1;
    if (setup(&f, model, data) == 0) {
        PinnOpts o = { adam_step(f.m), NULL };
        rc = pinn_train(f.m, f.ds, &o, &r, f.d);
    }
    if (rc != 0)
        dump(&f);
    double ke = rc == 0 ? r.theta[0] : NAN;
    printf("# example (a) on exact data, Adam 800 epochs then L-BFGS 200: ke %.5f (truth 0.2), "
           "loss %.3g\n", ke,
           rc == 0 ? r.loss.total : NAN);
    ok(rc == 0 && fabs(ke - 0.2) < 0.01 * 0.2, "example (a): ke within 1%% of the truth");
    ok(rc == 0 && r.trace[r.epochs].total < r.trace[0].total / 10,
       "the loss falls tenfold over the training");
    /* the circuit (branch 0) through OpenQASM and back */
    double worst = INFINITY;
    if (rc == 0 && r.qasm && r.qasm[0]) {
        QcCircuit *c = NULL;
        QcWork *w = NULL;
        char err[QASM_ERRLEN] = "";
        int o;
        if (qasm_read(r.qasm[0], "qlx_q", &c, err) == QC_OK && qc_obs_pauli(c, 'Z', 0, &o) == QC_OK &&
            qc_work_new(&w, err) == QC_OK) {
            worst = 0;
            for (int i = 0; i < r.ndata; i++) {
                double out = NAN;
                qc_expect_batch(c, w, NULL, 1, &r.data_time[i], &out);
                worst = fmax(worst, fabs(out - r.branch_out[i]));
            }
        } else {
            printf("# %s\n", err);
        }
        qc_work_free(&w);
        qc_free(&c);
    }
    printf("# the exported circuit against the trained branch at %d times: largest difference %.2e\n",
           r.ndata, worst);
    ok(worst < 1e-12, "the trained circuit, exported as OpenQASM and read back, gives the same outputs");
    pinn_result_free(&r);
    teardown(&f);
}


/* Subjects given 100 at t = 0, C = 10 exp(-ke_i t) exactly. */
static char *pop_data(char *buf, size_t n, int nsub, const double *ke)
{
    size_t k = (size_t)snprintf(buf, n, "ID,TIME,DV,AMT,EVID,CMT\n");
    const double ts[] = { 0.5, 1, 2, 4, 6, 8, 12, 16, 24 };
    for (int i = 0; i < nsub; i++) {
        k += (size_t)snprintf(buf + k, n - k, "%d,0,.,100,1,1\n", i + 1);
        for (int j = 0; j < 9; j++)
            k += (size_t)snprintf(buf + k, n - k, "%d,%g,%.12g,0,0,1\n", i + 1, ts[j],
                                  10 * exp(-ke[i] * ts[j]));
    }
    return buf;
}

static const char *model_pop =
    "$PROBLEM pop\n$DATA t.csv IGNORE=@\n$INPUT ID TIME DV AMT EVID CMT\n"
    "$COMPARTMENTS central(dose, observe)\n"
    "$THETA\n  ke = 0.3 (0, ) TRANSFORM=softplus\n  V = 10 FIX\n"
    "$OMEGA\n  eta_ke ~ 0.1\n"
    "$PK\n  KE = ke*exp(eta_ke)\n"
    "$QUANTUM q\n  QUBITS 1\n  ENCODE ry(TIME) SCALE 0.1\n  ANSATZ euler(rz, rx, rz) LAYERS 2\n"
    "  MEASURE z(0)\n"
    "$NETWORK c\n  INPUTS TIME\n  DENSE 1 -> 12 tanh -> 1\n"
    "$HYBRID\n  C = 1*linear(q) + 1*c\n  central = V*C\n"
    "$DES\n  d/dt(central) = -KE*central\n"
    "$ERROR\n  IPRED = central/V\n"
    "$LOSS\n  DATA 1\n  PHYSICS 1 COLLOCATION 40 OVER (0, 24)\n  INITIAL 1\n  PRIOR %g\n"
    "$ESTIMATION METHOD=ADAM LR=0.01 EPOCHS=%d SEED=11\n"
    "$ESTIMATION METHOD=LBFGS EPOCHS=%d\n";

static void test_population(void)
{
    char data[8192], model[4096];
    /* the gradient, three subjects, the ETAs away from zero after a few epochs */
    const double ke3[3] = { 0.15, 0.2, 0.27 };
    pop_data(data, sizeof data, 3, ke3);
    snprintf(model, sizeof model, model_pop, 0.5, 10, 10);
    Fit f;
    double err = INFINITY;
    int rc = -1;
    if (setup(&f, model, data) == 0) {
        PinnOpts o = { adam_step(f.m), NULL };
        rc = pinn_gradient_check(f.m, f.ds, &o, &err, f.d);
    }
    if (rc != 0)
        dump(&f);
    printf("# population mode, 3 subjects: largest gradient error %.2e\n", err);
    ok(rc == 0 && err < 1e-6, "population mode: loss gradient against central differences "
                              "(per-subject networks and ETAs, the prior term)");
    teardown(&f);

    /* recovery: 6 subjects, ke_i = 0.2 exp(eta_i); PRIOR small against the
     * exact data (docs/pinn.md: the shrinkage it gives) */
    const double eta6[6] = { -0.4, -0.2, -0.05, 0.1, 0.25, 0.35 };
    double ke6[6], gm = 0;
    for (int i = 0; i < 6; i++) {
        ke6[i] = 0.2 * exp(eta6[i]);
        gm += eta6[i] / 6;
    }
    pop_data(data, sizeof data, 6, ke6);
    snprintf(model, sizeof model, model_pop, 0.0001, 1500, 300);
    PinnResult r;
    memset(&r, 0, sizeof r);
    rc = -1;
    if (setup(&f, model, data) == 0) {
        PinnOpts o = { adam_step(f.m), NULL };
        rc = pinn_train(f.m, f.ds, &o, &r, f.d);
    }
    if (rc != 0)
        dump(&f);
    double worst = 0;
    for (int i = 0; rc == 0 && i < 6; i++) {
        double kei = r.theta[0] * exp(r.eta[i]);
        worst = fmax(worst, fabs(kei / ke6[i] - 1));
        printf("# subject %d: ke %.4f (truth %.4f)\n", i + 1, kei, ke6[i]);
    }
    /* the typical value is the geometric mean of the subjects' ke, and
     * OMEGA the mean square of their log deviations from it */
    double typ = 0.2 * exp(gm), var = 0;
    for (int i = 0; i < 6; i++)
        var += (eta6[i] - gm) * (eta6[i] - gm) / 6;
    printf("# typical ke %.4f (geometric mean of the truths %.4f), omega %.4f (variance of the "
           "true etas about their mean %.4f)\n", rc == 0 ? r.theta[0] : NAN, typ,
           rc == 0 ? r.omega[0] : NAN, var);
    ok(rc == 0 && worst < 0.03, "population mode: every subject's ke within 3%% (worst %.1f%%)",
       100 * worst);
    ok(rc == 0 && fabs(r.theta[0] / typ - 1) < 0.05,
       "population mode: the typical ke within 5%% of the geometric mean of the subjects'");
    ok(rc == 0 && fabs(r.omega[0] / var - 1) < 0.2,
       "population mode: OMEGA within 20%% of the variance of the subjects' log ke");
    pinn_result_free(&r);
    teardown(&f);
}

int main(void)
{
    test_gradients();
    test_recovery();
    test_population();
    return tap_done();
}
