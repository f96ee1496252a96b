/*
 * par.h -- the engines' one way of running work on threads.
 *
 * Each engine splits its subjects over n workers in a fixed assignment
 * (worker t takes subjects t, t + n, ...) and sums or reports in subject
 * order, so its results do not depend on n; this module only runs the
 * workers.  Worker 0 runs on the calling thread, the others on threads of
 * their own; a worker whose thread cannot be started runs on the calling
 * thread too, after the others have been started.
 */
#ifndef QLX_PAR_H
#define QLX_PAR_H

#include <stddef.h>

enum { PAR_MAX = 64 };

/* fn(items + t * stride) for t in [0, n), 1 <= n <= PAR_MAX; returns when
 * all have returned. */
void par_run(int n, void *(*fn)(void *), void *items, size_t stride);

#endif
