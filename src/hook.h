/*
 * hook.h -- the Lua hook engine's sandboxed state ($LUA scripts).
 *
 * One Hook is one Lua 5.4 state with the model's $LUA scripts loaded, for
 * one worker thread (Lua states are not shared between threads).  By
 * default the state is a sandbox: the base library without dofile,
 * loadfile or collectgarbage, a load that takes text chunks only, and the
 * math, string (without string.dump), table, utf8 and coroutine
 * libraries; io, os, package, require and debug are absent, and a script
 * that reaches for them gets an error that says so.  Every call runs
 * under an instruction budget and the state under a memory cap, so a
 * runaway script stops with a clear error instead of hanging or eating
 * the machine.  A script loads a module of Qlynix's standard library
 * with stdlib("clinical") (stdlib/lua/), the one way in from outside.
 * math.random is refused too: its draws would not come from the model's
 * seed; samplers and dosing rules get a generator that does (rng.h).
 * HookOpts.unsafe (qlxc run --lua-unsafe) opens every
 * standard library and lifts the budget and the cap.
 *
 * Errors read "file.lua:LINE: message"; the engine that made the call
 * adds where in the .qlx file it came from.
 *
 * Ownership: hook_new() allocates; hook_free() closes the state.
 */
#ifndef QLX_HOOK_H
#define QLX_HOOK_H

#include <stddef.h>

#include "rng.h"

typedef struct {
    int unsafe;              /* --lua-unsafe: every library, no limits */
    long max_instructions;   /* per call; <= 0: HOOK_MAX_INSTRUCTIONS */
    size_t max_bytes;        /* the state's memory; 0: HOOK_MAX_BYTES */
    const char *const *stdlib;   /* the standard library's folders, searched in
                                    order by a script's stdlib("name"), which
                                    runs DIR/lua/name.lua and returns its value */
    int nstdlib;
} HookOpts;

#define HOOK_MAX_INSTRUCTIONS 100000000L
#define HOOK_MAX_BYTES ((size_t)256 << 20)

typedef struct Hook Hook;

/* Loads the n scripts in order into a new state.  NULL on failure, with
 * why in err ("covariates.lua:3: unexpected symbol near 'x'", or the
 * file that cannot be read). */
Hook *hook_new(const char *const *paths, int n, const HookOpts *o, char *err, size_t errlen);
void  hook_free(Hook **h);

/* 1 when the scripts define a global function called name. */
int hook_has(const Hook *h, const char *name);

/* y = name(args...) with nargs numbers in and one number out.  0, or -1
 * with hook_error() (a Lua error, a result that is not a number, the
 * instruction budget or the memory cap). */
int hook_call(Hook *h, const char *name, const double *args, int nargs, double *y);

/* Named numbers, passed to a function as a table {key = value} or read
 * back from the table it returns. */
typedef struct {
    const char *const *keys;
    double *vals;
    int n;
} HookMap;

/* t = name(in [, rng]): the function gets in as a table and, when rng is
 * not NULL, a generator object that draws from it (rng:uniform([a, b]),
 * rng:normal([mean, sd]), rng:lognormal(median, sd of the log),
 * rng:bernoulli(p), rng:choice(list)), valid during the call only.  It
 * returns a table whose fields must each be one of out's keys with a
 * number: out->vals[j] gets the field out->keys[j] and set[j] (out->n)
 * says whether it was there.  0, or -1 with hook_error(). */
int hook_call_table(Hook *h, const char *name, const HookMap *in, Rng *rng,
                    const HookMap *out, unsigned char *set);

/* y = name(in [, rng]), as hook_call_table with one number out. */
int hook_call_number(Hook *h, const char *name, const HookMap *in, Rng *rng, double *y);

const char *hook_error(const Hook *h);

#endif
