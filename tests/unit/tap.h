/*
 * tap.h -- the unit tests' one harness: TAP-like lines that tests/run
 * counts ("ok N - what" / "not ok N - what"), and the exit status.
 *
 * Each test program is one translation unit that includes this once.
 */
#ifndef QLX_TAP_H
#define QLX_TAP_H

#include <stdarg.h>
#include <stdio.h>

static int n_test, n_fail;

static inline void ok(int cond, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static inline void ok(int cond, const char *fmt, ...)
{
    va_list ap;
    n_test++;
    if (!cond)
        n_fail++;
    printf("%s %d - ", cond ? "ok" : "not ok", n_test);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
}

/* main's return value: 1 when any check failed. */
static inline int tap_done(void)
{
    printf("# %d checks, %d failed\n", n_test, n_fail);
    return n_fail ? 1 : 0;
}

#endif
