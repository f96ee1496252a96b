/*
 * tape.h -- a graph compiled to a flat instruction tape.
 *
 * tape_compile() orders the nodes reachable from the requested outputs
 * topologically, gives each a slot in a work array, and emits one
 * instruction per node.  tape_eval() is a single loop over that array: no
 * recursion, no allocation, no hashing, so it is safe in the ODE right-hand
 * side and in every hot loop.
 *
 * Ownership: tape_compile() mallocs the Tape (returns NULL when out of
 * memory); the caller frees it with tape_free().  The Tape does not refer
 * to the Graph after compilation, and is read-only during evaluation, so
 * one Tape serves many threads, each with its own work array.
 */
#ifndef QLX_TAPE_H
#define QLX_TAPE_H

#include <stddef.h>
#include "graph.h"

typedef struct Tape Tape;

Tape  *tape_compile(const Graph *g, const GNode *outs, int nout);
void   tape_free(Tape **t);

/* Doubles of scratch space tape_eval() needs. */
size_t tape_work_size(const Tape *t);
int    tape_ninstr(const Tape *t);
int    tape_noutputs(const Tape *t);

/* Evaluate all outputs: out[i] = value of outs[i]. work has
 * tape_work_size() doubles. */
void   tape_eval(const Tape *t, const GInputs *in, double *work, double *out);

#endif
