/*
 * evq.h -- one subject's dosing events, with NONMEM PREDPP's order: the
 * part of the event engine that the simulation (sim.c) and the
 * sensitivities (sens.c) share.
 *
 * An Evq holds the subject's clock t and current record, the queue of
 * implied events (additional and lagged doses, infusion starts and ends)
 * ordered by time and then by the order they were made in, the active
 * zero-order infusions and the rates they add to each compartment.  It
 * applies an event's effect on the amounts and the rates itself; what an
 * engine keeps besides (an ODE restart flag, a sensitivity jump) it adds
 * in the hooks, which see every event applied, queued or immediate.
 *
 * A record r is processed as: $PK at r; evq_enter (the events before r,
 * then the state to r's time); r's own reset and dose (evq_reset,
 * evq_give); the outputs; evq_leave (the events at r's time, which come
 * after the record, so an observation at a dose's time sees the trough).
 *
 * Errors: the Evq also keeps the subject's error message, which names
 * the subject, the time and the record (evq_fail, evq_error).
 *
 * Ownership: evq_new() borrows the caller's amount vector A (ncmt values)
 * and its hooks for the Evq's life; evq_free() frees the Evq only.
 */
#ifndef QLX_EVQ_H
#define QLX_EVQ_H

#include "data.h"
#include "prog.h"

typedef enum { EVQ_BOLUS, EVQ_INF_ON, EVQ_INF_OFF } EvqKind;

typedef struct {
    double t;
    long seq;            /* tie-break: the order the events were made in */
    EvqKind kind;
    int cmt;             /* 0-based */
    double amount;       /* EVQ_BOLUS */
    double rate;         /* EVQ_INF_ON */
    int id;              /* pairs an infusion's start and end */
    int tag;             /* the dose's EvqDose.tag */
} EvqEvent;

/* A dose as given: F, ALAG and the rate or duration already applied. */
typedef struct {
    int cmt;             /* 0-based */
    double amount;       /* F * AMT */
    double rate, dur;    /* infusion; rate 0 for a bolus; dur INFINITY: constant */
    double lag;
    int tag;             /* the caller's, copied into each event of the dose */
} EvqDose;

typedef struct {
    void *ctx;           /* the first argument of every hook */
    /* Advance the caller's state from t0 to t1 > t0 at the current rates.
     * 0, or -1 after reporting the failure. */
    int (*advance)(void *ctx, double t0, double t1);
    /* After e's amount or rate change is applied; NULL: nothing more. */
    void (*applied)(void *ctx, const EvqEvent *e);
} EvqHooks;

typedef struct Evq Evq;

/* NULL when out of memory. */
Evq *evq_new(int ncmt, double *A, const EvqHooks *h);
void evq_free(Evq **q);

/* The infusion rates by compartment: the same array for the Evq's life,
 * so a caller may keep the pointer (and compare against it). */
const double *evq_rates(const Evq *q);

/* A new subject (its ID, for messages) whose first record is at t: no
 * amounts, infusions, pending events or error. */
void evq_start(Evq *q, double id, double t);
/* EVID 3 and 4, and SS = 1: the amounts, infusions and queue cleared,
 * the clock kept. */
void evq_reset(Evq *q);

/* Record r becomes the current one: the implied events before its time
 * are applied, each after advancing to it, then the state is advanced to
 * r's time.  0, or -1 with evq_error(). */
int evq_enter(Evq *q, const DataRow *r);
/* After record r: the implied events at its time.  0, or -1. */
int evq_leave(Evq *q, const DataRow *r);
/* Record r's dose d: given at r's time (at once if it starts then, so
 * before r's outputs), and r->addl times more every r->ii.  0, or -1. */
int evq_give(Evq *q, const EvqDose *d, const DataRow *r);

/* Sets the error "subject ID 7, TIME 12.5 (row 40): what"; returns -1. */
int evq_fail(Evq *q, const char *what);
const char *evq_error(const Evq *q);

/* The dose record r gives, with the $PK values vars (Model.vars order):
 * F, ALAG, and the rate from RATE > 0 or a modelled R (RATE = -1) or D
 * (RATE = -2).  NULL, or why the dose is invalid; d->tag is -1. */
const char *evq_dose(const Prog *p, const double *vars, const DataRow *r, EvqDose *d);

#endif
