/*
 * test_hook.c -- the Lua hook engine's sandbox (src/hook.h): a script's
 * function is called with numbers and gives one back; io, os, require,
 * a binary chunk through load, string.dump, an endless loop and an
 * allocation bomb are each refused with an error that says what and why,
 * and the state goes on answering afterwards; errors carry the script's
 * file and line; --lua-unsafe lifts the sandbox.  Tables in and out
 * (the subject hook, samplers, rules) and the generator object: its
 * draws are the rng.h stream it was given, and math.random, which is not
 * seeded by the model, is refused.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hook.h"
#include "tap.h"

static char dir[] = "/tmp/qlx_hook_XXXXXX";

/* Writes text to dir/name and returns the path (static storage per call site). */
static const char *script(const char *name, const char *text)
{
    static char paths[16][512];
    static int next;
    char *p = paths[next++ % 16];
    snprintf(p, 512, "%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
    return p;
}

static const char *const body =
    "-- a hook script\n"
    "function bmi(wt, ht)\n"
    "  return wt / (ht / 100)^2\n"
    "end\n"
    "function use_io() return io.open('/etc/passwd') end\n"
    "function use_os() return os.execute('true') end\n"
    "function use_require() return require('socket') end\n"
    "function use_binary()\n"
    "  local f, why = load('\\27Lua\\84\\0')\n"
    "  return 1\n"
    "end\n"
    "function use_dump() return string.dump(bmi) end\n"
    "function spin() while true do end end\n"
    "function bomb()\n"
    "  local t = {}\n"
    "  for i = 1, 1e9 do t[i] = string.rep('x', 4096) .. i end\n"
    "end\n"
    "function fails(x)\n"
    "  if x < 0 then error('x must be positive') end\n"
    "  return x\n"
    "end\n"
    "function text() return 'seven' end\n"
    "function loads_text() return load('return 6 * 7')() end\n";

/* hook_call(name) must fail with an error containing want. */
static void refused(Hook *h, const char *name, const char *want, const char *what)
{
    double y = 0;
    int rc = hook_call(h, name, NULL, 0, &y);
    const char *e = hook_error(h);
    ok(rc != 0 && strstr(e, want) != NULL, "%s is refused: \"%s\"", what, e);
}

/* hook_call_table / hook_call_number and the generator object. */
static void tables_and_rng(const HookOpts *o)
{
    const char *p = script("tables.lua",
        "function derive(c) return { BMI = c.WT / (c.HT / 100)^2, HEAVY = c.WT > 100 and 1 or 0 } end\n"
        "function draw(c, rng) return { U = rng:uniform(), N = rng:normal(10, 2),\n"
        "  L = rng:lognormal(70, 0.2), B = rng:bernoulli(0.3), C = rng:choice({ 4, 5, 6 }) } end\n"
        "function stranger(c) return { WT = 1, XYZ = 2 } end\n"
        "function notnum(c) return { WT = 'heavy' } end\n"
        "function scalar(s, rng) return s.dose * 2 + rng:uniform() * 0 end\n"
        "local kept\n"
        "function keep(s, rng) kept = rng return 1 end\n"
        "function later(s) return kept:uniform() end\n"
        "function unseeded() return math.random() end\n");
    char err[512];
    Hook *h = hook_new(&p, 1, o, err, sizeof err);
    ok(h != NULL, "a script of table hooks loads (%s)", h ? "ok" : err);
    if (!h)
        return;
    const char *ink[] = { "WT", "HT" }, *outk[] = { "BMI", "HEAVY", "WT" };
    double inv[] = { 80, 180 }, outv[3] = { 0, 0, 0 };
    unsigned char set[5];
    HookMap in = { ink, inv, 2 }, out = { outk, outv, 3 };
    int rc = hook_call_table(h, "derive", &in, NULL, &out, set);
    ok(rc == 0 && fabs(outv[0] - 80 / 3.24) < 1e-12 && outv[1] == 0 && set[0] && set[1] && !set[2],
       "a table in, a table out: BMI %.4f, HEAVY %g, WT not set", outv[0], outv[1]);
    ok(hook_call_table(h, "stranger", &in, NULL, &out, set) != 0 &&
           strstr(hook_error(h), "'XYZ', which is not one of the names"),
       "a returned name the caller does not take is an error: \"%s\"", hook_error(h));
    ok(hook_call_table(h, "notnum", &in, NULL, &out, set) != 0 &&
           strstr(hook_error(h), "WT = string, not a number"),
       "a returned value that is not a number is an error: \"%s\"", hook_error(h));

    /* the generator's draws are rng.h's, in the order the script takes them */
    const char *dk[] = { "U", "N", "L", "B", "C" };
    double dv[5], dv2[5];
    HookMap dout = { dk, dv, 5 }, dout2 = { dk, dv2, 5 };
    Rng r, r2;
    rng_init(&r, 77, 3, 11);
    rc = hook_call_table(h, "draw", &in, &r, &dout, set);
    rng_init(&r2, 77, 3, 11);
    double u = rng_uniform(&r2), z = rng_normal(&r2), l = rng_normal(&r2), b = rng_uniform(&r2),
           c = rng_uniform(&r2);
    ok(rc == 0 && dv[0] == u && fabs(dv[1] - (10 + 2 * z)) < 1e-12 &&
           fabs(dv[2] - 70 * exp(0.2 * l)) < 1e-9 && dv[3] == (b < 0.3) &&
           dv[4] == 4 + (int)(c * 3),
       "rng:uniform/normal/lognormal/bernoulli/choice draw rng.h's stream in order "
       "(%.6f %.4f %.3f %g %g)", dv[0], dv[1], dv[2], dv[3], dv[4]);
    rng_init(&r, 77, 3, 11);
    rc = hook_call_table(h, "draw", &in, &r, &dout2, set);
    ok(rc == 0 && memcmp(dv, dv2, sizeof dv) == 0, "the same stream gives the same draws");
    rng_init(&r, 77, 4, 11);
    rc = hook_call_table(h, "draw", &in, &r, &dout2, set);
    ok(rc == 0 && dv2[0] != dv[0], "another subject's stream gives other draws");

    const char *sk[] = { "dose" };
    double sv[] = { 150 }, y = 0;
    HookMap sin = { sk, sv, 1 };
    rng_init(&r, 1, 1, 1);
    rc = hook_call_number(h, "scalar", &sin, &r, &y);
    ok(rc == 0 && y == 300, "hook_call_number: a table in, a number out (%g)", y);
    rng_init(&r, 1, 1, 1);
    ok(hook_call_number(h, "keep", &sin, &r, &y) == 0 && hook_call_number(h, "later", &sin, NULL, &y) != 0 &&
           strstr(hook_error(h), "valid only during the call"),
       "a generator kept past its call refuses to draw: \"%s\"", hook_error(h));
    ok(hook_call_number(h, "unseeded", &sin, NULL, &y) != 0 &&
           strstr(hook_error(h), "'math.random' is not available") &&
           strstr(hook_error(h), "SEED"),
       "math.random is refused (not from the model's seed): \"%s\"", hook_error(h));
    hook_free(&h);
}

int main(void)
{
    if (!mkdtemp(dir)) {
        printf("not ok 1 - a temporary folder\n");
        return 1;
    }
    const char *p = script("hooks.lua", body);
    HookOpts o = { 0, 20000000L, (size_t)32 << 20, NULL, 0 };
    char err[512];
    Hook *h = hook_new(&p, 1, &o, err, sizeof err);
    ok(h != NULL, "the script loads in the sandbox (%s)", h ? "ok" : err);
    if (!h)
        return 1;
    double args[2] = { 70, 175 }, y = 0;
    int rc = hook_call(h, "bmi", args, 2, &y);
    ok(rc == 0 && fabs(y - 70 / (1.75 * 1.75)) < 1e-12,
       "bmi(70, 175) = %.6f, numbers in, a number out", y);
    ok(hook_has(h, "bmi") && !hook_has(h, "nothing"), "hook_has tells defined from undefined");

    refused(h, "use_io", "'io' is not available", "io.open");
    refused(h, "use_os", "'os' is not available", "os.execute");
    refused(h, "use_require", "'require' is not available", "require");
    refused(h, "use_binary", "binary chunks are not available", "load of a binary chunk");
    refused(h, "use_dump", "'string.dump' is not available", "string.dump");
    refused(h, "spin", "budget of 20000000 instructions", "an endless loop");
    refused(h, "bomb", "memory cap of 32 MB", "an allocation bomb");
    rc = hook_call(h, "bmi", args, 2, &y);
    ok(rc == 0 && fabs(y - 22.857142857142858) < 1e-12,
       "after every refusal the state still answers (bmi again: %.6f)", y);
    rc = hook_call(h, "loads_text", NULL, 0, &y);
    ok(rc == 0 && y == 42, "load of a text chunk works in the sandbox (%g)", y);

    double neg = -1;
    ok(hook_call(h, "fails", &neg, 1, &y) != 0 && strstr(hook_error(h), "hooks.lua:19:") &&
           strstr(hook_error(h), "x must be positive"),
       "a Lua error names the script's file and line: \"%s\"", hook_error(h));
    ok(hook_call(h, "text", NULL, 0, &y) != 0 && strstr(hook_error(h), "returned string"),
       "a result that is not a number is an error: \"%s\"", hook_error(h));
    ok(hook_call(h, "nothing", NULL, 0, &y) != 0 && strstr(hook_error(h), "no function 'nothing'"),
       "an undefined function is an error: \"%s\"", hook_error(h));
    hook_free(&h);

    /* a syntax error: the file and line, no state */
    const char *bad = script("bad.lua", "function f()\n  return 1 +\nend\n");
    Hook *hb = hook_new(&bad, 1, &o, err, sizeof err);
    ok(!hb && strstr(err, "bad.lua:3:"), "a syntax error is reported at its file and line: \"%s\"",
       err);
    hook_free(&hb);
    /* a precompiled chunk is not loaded as a script */
    const char *bin = script("bin.lua", "\x1bLua\x54");
    Hook *hx = hook_new(&bin, 1, &o, err, sizeof err);
    ok(!hx && strstr(err, "binary"), "a binary chunk as a script is refused: \"%s\"", err);
    hook_free(&hx);

    /* stdlib("clinical"): the standard library's module (the test runs
     * from the project's root); CKD-EPI 2021 for a man of 55 with a
     * creatinine of 1.2 mg/dL, 142 (1.2/0.9)^-1.2 0.9938^55 = 71.42 */
    const char *sl = script("std.lua", "local clin = stdlib('clinical')\n"
                                       "function egfr(s, a, f) return clin.egfr_ckd_epi_2021(s, a, f) end\n"
                                       "function bad() return stdlib('../etc') end\n"
                                       "function none() return stdlib('nothing_here') end\n");
    const char *dirs[] = { "stdlib" };
    HookOpts so = { 0, 0, 0, dirs, 1 };
    Hook *hs = hook_new(&sl, 1, &so, err, sizeof err);
    double ea[3] = { 1.2, 55, 0 }, want = 142 * pow(1.2 / 0.9, -1.2) * pow(0.9938, 55);
    rc = hs ? hook_call(hs, "egfr", ea, 3, &y) : -1;
    ok(rc == 0 && fabs(y - want) < 1e-9 * want, "stdlib('clinical') loads the standard library's "
       "module: eGFR %.4f (%.4f by hand)", y, want);
    if (hs) {
        refused(hs, "bad", "is not a module name", "stdlib('../etc')");
        refused(hs, "none", "no module 'nothing_here'", "a module that does not exist");
    }
    hook_free(&hs);

    /* --lua-unsafe: io is there */
    const char *un = script("unsafe.lua", "function has_io() return io and 1 or 0 end\n");
    HookOpts uo = { 1, 0, 0, NULL, 0 };
    Hook *hu = hook_new(&un, 1, &uo, err, sizeof err);
    ok(hu && hook_call(hu, "has_io", NULL, 0, &y) == 0 && y == 1,
       "--lua-unsafe opens the standard libraries (io present)");
    hook_free(&hu);

    tables_and_rng(&o);

    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        printf("# could not remove %s\n", dir);
    return tap_done();
}
