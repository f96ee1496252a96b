/*
 * treeval.h -- direct evaluation of a checked model's syntax tree.
 *
 * A small tree-walking interpreter of $PK, $DES and $ERROR, written apart
 * from the graph and the tape (it shares no evaluation code with them) so
 * that tests can check "tape == tree" on the same inputs.  Slow: it
 * walks the tree on every call.  Not for engines.
 *
 * Inputs follow the graph's convention (lower.h): in->v[GIN_THETA][i],
 * GIN_ETA, GIN_EPS, GIN_STATE (compartment amounts), GIN_DATA ($INPUT
 * column), GIN_TIME (index 0), and GIN_PARAM[k], the value of variable k
 * of Model.vars when it belongs to another record.  A variable not
 * assigned on the path taken is 0.
 *
 * Ownership: nothing is allocated; the caller owns every array.
 */
#ifndef QLX_TREEVAL_H
#define QLX_TREEVAL_H

#include "graph.h"
#include "sema.h"

/* Runs the statements of code record rec (REC_PK, REC_DES, REC_ERROR)
 * once.  vars (m->nvars doubles) receives the final values of the
 * record's variables (other entries are untouched); dadt (m->ncmts
 * doubles, $DES only, else may be NULL) the derivatives.  Returns 0, or
 * -1 when the record is absent or calls what the tree cannot evaluate
 * (a Lua hook, a network); the outputs are then partly NaN. */
int treeval_run(const Model *m, RecKind rec, const GInputs *in, double *vars, double *dadt);

#endif
