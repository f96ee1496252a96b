/*
 * hook.c -- a sandboxed Lua state for $LUA scripts (see hook.h).
 */
#include "hook.h"

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mem.h"
#include "rng.h"

struct Hook {
    lua_State *L;
    HookOpts o;
    size_t bytes;            /* what the state holds now */
    long budget;             /* instructions left in this call */
    int over;                /* 1: budget, 2: memory */
    int rng_ref;             /* the registry's generator object (HookRng) */
    char err[512];
};

/* The generator object a sampler or a rule gets: a userdata holding the
 * Rng of the call, NULL outside it. */
typedef struct {
    Rng *r;
} HookRng;

static const char RNG_META[] = "qlx.rng";

/* the instructions between two checks of the budget */
enum { HOOK_STRIDE = 10000 };

/* ---- limits ------------------------------------------------------------------------- */

static void *alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    Hook *h = ud;
    size_t old = ptr ? osize : 0;
    if (nsize == 0) {
        free(ptr);
        h->bytes -= old;
        return NULL;
    }
    if (!h->o.unsafe && nsize > old && h->bytes - old + nsize > h->o.max_bytes) {
        h->over = 2;
        return NULL;   /* Lua raises "not enough memory" */
    }
    void *p = realloc(ptr, nsize);
    if (p)
        h->bytes = h->bytes - old + nsize;
    return p;
}

static Hook *hook_of(lua_State *L)
{
    void *ud = NULL;
    lua_getallocf(L, &ud);
    return ud;
}

static void count(lua_State *L, lua_Debug *ar)
{
    Hook *h = hook_of(L);
    h->budget -= HOOK_STRIDE;
    if (h->budget < 0) {
        h->over = 1;
        /* where the script was: luaL_error's own prefix would name the hook */
        lua_getinfo(L, "Sl", ar);
        luaL_error(L, "%s:%d: the script ran past its budget of %I instructions (an endless "
                      "loop?)", ar->short_src, ar->currentline,
                   (lua_Integer)h->o.max_instructions);
    }
}

/* ---- the sandbox -------------------------------------------------------------------- */

/* What the sandbox leaves out, and why a script that reaches for it stops. */
static int refused(lua_State *L)
{
    const char *name = lua_tostring(L, lua_upvalueindex(1));
    return luaL_error(L, "'%s' is not available to $LUA scripts (they run in a sandbox; "
                         "qlxc run --lua-unsafe lifts it)", name);
}

static int refused_random(lua_State *L)
{
    const char *name = lua_tostring(L, lua_upvalueindex(1));
    return luaL_error(L, "'%s' is not available to $LUA scripts: its draws would not come "
                         "from the model's SEED; use the rng a sampler or a dosing rule is "
                         "given (rng:uniform(), rng:normal(mean, sd), ...)", name);
}

static int absent_index(lua_State *L)
{
    const char *k = lua_tostring(L, 2);
    static const char *const gone[] = { "io", "os", "package", "require", "debug", "dofile",
                                        "loadfile", "collectgarbage" };
    for (size_t i = 0; k && i < sizeof gone / sizeof gone[0]; i++)
        if (strcmp(k, gone[i]) == 0)
            return luaL_error(L, "'%s' is not available to $LUA scripts (they run in a "
                                 "sandbox; qlxc run --lua-unsafe lifts it)", k);
    return 0;   /* any other missing global is nil, as in plain Lua */
}

/* load(chunk [, name [, mode [, env]]]) for text chunks only. */
static int safe_load(lua_State *L)
{
    size_t len;
    const char *s = luaL_checklstring(L, 1, &len);
    const char *name = luaL_optstring(L, 2, "=(load)");
    if (len > 0 && s[0] == LUA_SIGNATURE[0])
        return luaL_error(L, "load: binary chunks are not available to $LUA scripts (they run "
                             "in a sandbox; qlxc run --lua-unsafe lifts it)");
    if (luaL_loadbufferx(L, s, len, name, "t") != LUA_OK) {
        lua_pushnil(L);
        lua_insert(L, -2);
        return 2;   /* nil, message: as load does */
    }
    if (!lua_isnoneornil(L, 4)) {
        lua_pushvalue(L, 4);
        if (!lua_setupvalue(L, -2, 1))
            lua_pop(L, 1);
    }
    return 1;
}

/* stdlib("name"): runs DIR/lua/name.lua from the first of the standard
 * library's folders that has it, as text, and returns what it returns. */
static int load_stdlib(lua_State *L)
{
    Hook *h = hook_of(L);
    const char *name = luaL_checkstring(L, 1);
    for (const char *c = name; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '_'))
            return luaL_error(L, "stdlib: '%s' is not a module name (lower-case letters, "
                                 "digits and _)", name);
    for (int i = 0; i < h->o.nstdlib; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/lua/%s.lua", h->o.stdlib[i], name);
        FILE *f = fopen(path, "r");
        if (!f)
            continue;
        fclose(f);
        if (luaL_loadfilex(L, path, "t") != LUA_OK)
            return lua_error(L);
        lua_call(L, 0, 1);
        return 1;
    }
    return luaL_error(L, "stdlib: no module '%s' in the standard library (%d folder%s searched; "
                         "set QLX_STDLIB or --stdlib)", name, h->o.nstdlib,
                      h->o.nstdlib == 1 ? "" : "s");
}

static void sandbox(lua_State *L)
{
    static const luaL_Reg libs[] = {
        { LUA_GNAME, luaopen_base },           { LUA_MATHLIBNAME, luaopen_math },
        { LUA_STRLIBNAME, luaopen_string },    { LUA_TABLIBNAME, luaopen_table },
        { LUA_UTF8LIBNAME, luaopen_utf8 },     { LUA_COLIBNAME, luaopen_coroutine },
    };
    for (size_t i = 0; i < sizeof libs / sizeof libs[0]; i++) {
        luaL_requiref(L, libs[i].name, libs[i].func, 1);
        lua_pop(L, 1);
    }
    static const char *const drop[] = { "dofile", "loadfile", "collectgarbage", "require" };
    for (size_t i = 0; i < sizeof drop / sizeof drop[0]; i++) {
        lua_pushnil(L);
        lua_setglobal(L, drop[i]);
    }
    lua_pushcfunction(L, safe_load);
    lua_setglobal(L, "load");
    /* math.random is seeded from the clock: its draws would not come
     * from the model's SEED, and a run could not be repeated */
    lua_getglobal(L, LUA_MATHLIBNAME);
    static const char *const unseeded[] = { "random", "randomseed" };
    for (size_t i = 0; i < 2; i++) {
        lua_pushfstring(L, "math.%s", unseeded[i]);
        lua_pushcclosure(L, refused_random, 1);
        lua_setfield(L, -2, unseeded[i]);
    }
    lua_pop(L, 1);
    lua_getglobal(L, LUA_STRLIBNAME);
    lua_pushstring(L, "string.dump");
    lua_pushcclosure(L, refused, 1);
    lua_setfield(L, -2, "dump");
    lua_pop(L, 1);
    /* reaching for what is gone is an error that says so */
    lua_pushglobaltable(L);
    lua_newtable(L);
    lua_pushcfunction(L, absent_index);
    lua_setfield(L, -2, "__index");
    lua_setmetatable(L, -2);
    lua_pop(L, 1);
}

/* ---- the generator object -------------------------------------------------------------- */

static Rng *rng_arg(lua_State *L)
{
    HookRng *g = luaL_checkudata(L, 1, RNG_META);
    if (!g->r)
        luaL_error(L, "rng: the generator is valid only during the call it was given to");
    return g->r;
}

static double num_opt(lua_State *L, int i, double def)
{
    return lua_isnoneornil(L, i) ? def : luaL_checknumber(L, i);
}

/* rng:uniform() on (0, 1), rng:uniform(a, b) on (a, b) */
static int rng_l_uniform(lua_State *L)
{
    Rng *r = rng_arg(L);
    double a = num_opt(L, 2, 0), b = num_opt(L, 3, 1);
    if (!(a < b))
        return luaL_error(L, "rng:uniform(a, b) needs a < b");
    lua_pushnumber(L, a + (b - a) * rng_uniform(r));
    return 1;
}

/* rng:normal([mean [, sd]]) */
static int rng_l_normal(lua_State *L)
{
    Rng *r = rng_arg(L);
    double mu = num_opt(L, 2, 0), sd = num_opt(L, 3, 1);
    if (!(sd >= 0))
        return luaL_error(L, "rng:normal(mean, sd) needs sd >= 0");
    lua_pushnumber(L, mu + sd * rng_normal(r));
    return 1;
}

/* rng:lognormal(median, sd of the log) */
static int rng_l_lognormal(lua_State *L)
{
    Rng *r = rng_arg(L);
    double med = luaL_checknumber(L, 2), sd = luaL_checknumber(L, 3);
    if (!(med > 0 && sd >= 0))
        return luaL_error(L, "rng:lognormal(median, sd) needs median > 0 and sd >= 0");
    lua_pushnumber(L, med * exp(sd * rng_normal(r)));
    return 1;
}

/* rng:bernoulli(p): 1 with probability p, else 0 */
static int rng_l_bernoulli(lua_State *L)
{
    Rng *r = rng_arg(L);
    double p = luaL_checknumber(L, 2);
    if (!(p >= 0 && p <= 1))
        return luaL_error(L, "rng:bernoulli(p) needs 0 <= p <= 1");
    lua_pushinteger(L, rng_uniform(r) < p ? 1 : 0);
    return 1;
}

/* rng:choice(list): one of the list's values, each equally likely */
static int rng_l_choice(lua_State *L)
{
    Rng *r = rng_arg(L);
    luaL_checktype(L, 2, LUA_TTABLE);
    lua_Integer n = luaL_len(L, 2);
    if (n < 1)
        return luaL_error(L, "rng:choice(list) needs a non-empty list");
    lua_Integer k = (lua_Integer)(rng_uniform(r) * (double)n);
    lua_geti(L, 2, (k < n ? k : n - 1) + 1);
    return 1;
}

static void rng_object(Hook *h)
{
    lua_State *L = h->L;
    static const luaL_Reg methods[] = {
        { "uniform", rng_l_uniform },     { "normal", rng_l_normal },
        { "lognormal", rng_l_lognormal }, { "bernoulli", rng_l_bernoulli },
        { "choice", rng_l_choice },       { NULL, NULL },
    };
    HookRng *g = lua_newuserdatauv(L, sizeof *g, 0);
    g->r = NULL;
    luaL_newmetatable(L, RNG_META);
    luaL_newlib(L, methods);
    lua_setfield(L, -2, "__index");
    lua_pushliteral(L, "qlx.rng");
    lua_setfield(L, -2, "__metatable");
    lua_setmetatable(L, -2);
    h->rng_ref = luaL_ref(L, LUA_REGISTRYINDEX);
}

/* ---- calls ------------------------------------------------------------------------------ */

static int traceback(lua_State *L)
{
    (void)L;
    return 1;   /* the message as Lua made it: "file.lua:LINE: ..." */
}

/* Runs the function on the stack with nargs arguments under the limits. */
static int run(Hook *h, int nargs, int nres)
{
    lua_State *L = h->L;
    int base = lua_gettop(L) - nargs;
    lua_pushcfunction(L, traceback);
    lua_insert(L, base);
    h->budget = h->o.max_instructions;
    h->over = 0;
    int rc = lua_pcall(L, nargs, nres, base);
    lua_remove(L, base);
    if (rc == LUA_OK)
        return 0;
    const char *msg = lua_tostring(L, -1);
    if (h->over == 2 || rc == LUA_ERRMEM)
        snprintf(h->err, sizeof h->err, "the script ran past its memory cap of %zu MB",
                 h->o.max_bytes >> 20);
    else
        snprintf(h->err, sizeof h->err, "%s", msg ? msg : "a Lua error without a message");
    lua_pop(L, 1);
    return -1;
}

Hook *hook_new(const char *const *paths, int n, const HookOpts *o, char *err, size_t errlen)
{
    Hook *h = mem_calloc(1, sizeof *h);
    if (!h) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (o)
        h->o = *o;
    if (h->o.max_instructions <= 0)
        h->o.max_instructions = HOOK_MAX_INSTRUCTIONS;
    if (h->o.max_bytes == 0)
        h->o.max_bytes = HOOK_MAX_BYTES;
    h->L = lua_newstate(alloc, h);
    if (!h->L) {
        snprintf(err, errlen, "cannot start Lua (out of memory)");
        mem_free(h);
        return NULL;
    }
    if (h->o.unsafe)
        luaL_openlibs(h->L);
    else {
        sandbox(h->L);
        lua_sethook(h->L, count, LUA_MASKCOUNT, HOOK_STRIDE);
    }
    lua_pushcfunction(h->L, load_stdlib);
    lua_setglobal(h->L, "stdlib");
    rng_object(h);
    for (int i = 0; i < n; i++) {
        /* text only: a precompiled chunk could do what the sandbox forbids */
        int rc = luaL_loadfilex(h->L, paths[i], "t");
        if (rc == LUA_OK && run(h, 0, 0) == 0)
            continue;
        snprintf(err, errlen, "%s", rc == LUA_OK ? h->err
                                    : lua_tostring(h->L, -1) ? lua_tostring(h->L, -1)
                                                             : "cannot load the script");
        hook_free(&h);
        return NULL;
    }
    return h;
}

void hook_free(Hook **ph)
{
    Hook *h = ph ? *ph : NULL;
    if (!h)
        return;
    if (h->L)
        lua_close(h->L);
    mem_free(h);
    *ph = NULL;
}

int hook_has(const Hook *h, const char *name)
{
    lua_State *L = h->L;
    lua_pushglobaltable(L);
    lua_pushstring(L, name);
    lua_rawget(L, -2);   /* raw: the sandbox's __index is not a definition */
    int yes = lua_isfunction(L, -1);
    lua_pop(L, 2);
    return yes;
}

int hook_call(Hook *h, const char *name, const double *args, int nargs, double *y)
{
    lua_State *L = h->L;
    if (!hook_has(h, name)) {
        snprintf(h->err, sizeof h->err, "the $LUA scripts define no function '%s'", name);
        return -1;
    }
    lua_getglobal(L, name);
    for (int i = 0; i < nargs; i++)
        lua_pushnumber(L, args[i]);
    if (run(h, nargs, 1) != 0)
        return -1;
    int isnum = 0;
    *y = lua_tonumberx(L, -1, &isnum);
    if (!isnum)
        snprintf(h->err, sizeof h->err, "%s returned %s, not a number", name,
                 luaL_typename(L, -1));
    lua_pop(L, 1);
    return isnum ? 0 : -1;
}

/* Pushes name, the table of in and, with rng, the generator object;
 * the number of arguments, or -1 when name is not defined. */
static int push_call(Hook *h, const char *name, const HookMap *in, Rng *rng)
{
    lua_State *L = h->L;
    if (!hook_has(h, name)) {
        snprintf(h->err, sizeof h->err, "the $LUA scripts define no function '%s'", name);
        return -1;
    }
    lua_getglobal(L, name);
    lua_createtable(L, 0, in ? in->n : 0);
    for (int i = 0; in && i < in->n; i++) {
        lua_pushnumber(L, in->vals[i]);
        lua_setfield(L, -2, in->keys[i]);
    }
    if (!rng)
        return 1;
    lua_rawgeti(L, LUA_REGISTRYINDEX, h->rng_ref);
    ((HookRng *)lua_touserdata(L, -1))->r = rng;
    return 2;
}

static void rng_done(Hook *h)
{
    lua_rawgeti(h->L, LUA_REGISTRYINDEX, h->rng_ref);
    ((HookRng *)lua_touserdata(h->L, -1))->r = NULL;
    lua_pop(h->L, 1);
}

/* The returned table's fields into out (see hook.h). */
static int read_table(Hook *h, const char *name, const HookMap *out, unsigned char *set)
{
    lua_State *L = h->L;
    for (int j = 0; j < out->n; j++)
        set[j] = 0;
    if (!lua_istable(L, -1)) {
        snprintf(h->err, sizeof h->err, "%s returned %s, not a table of named numbers", name,
                 luaL_typename(L, -1));
        return -1;
    }
    lua_pushnil(L);
    while (lua_next(L, -2)) {
        const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : NULL;
        int j = 0;
        while (k && j < out->n && strcmp(out->keys[j], k) != 0)
            j++;
        int isnum = 0;
        double v = lua_tonumberx(L, -1, &isnum);
        if (!k || j == out->n || !isnum) {
            if (!k)
                snprintf(h->err, sizeof h->err, "%s returned a table with a key that is not a "
                                                "name", name);
            else if (j == out->n)
                snprintf(h->err, sizeof h->err, "%s returned '%s', which is not one of the "
                                                "names it may set", name, k);
            else
                snprintf(h->err, sizeof h->err, "%s returned %s = %s, not a number", name, k,
                         luaL_typename(L, -1));
            lua_pop(L, 2);
            return -1;
        }
        out->vals[j] = v;
        set[j] = 1;
        lua_pop(L, 1);
    }
    return 0;
}

/* name(in [, rng]) with its one result left on the stack; 0 or -1. */
static int call_map(Hook *h, const char *name, const HookMap *in, Rng *rng)
{
    int nargs = push_call(h, name, in, rng);
    if (nargs < 0)
        return -1;
    int rc = run(h, nargs, 1);
    if (rng)
        rng_done(h);
    return rc;
}

int hook_call_table(Hook *h, const char *name, const HookMap *in, Rng *rng,
                    const HookMap *out, unsigned char *set)
{
    if (call_map(h, name, in, rng) != 0)
        return -1;
    int rc = read_table(h, name, out, set);
    lua_pop(h->L, 1);
    return rc;
}

int hook_call_number(Hook *h, const char *name, const HookMap *in, Rng *rng, double *y)
{
    if (call_map(h, name, in, rng) != 0)
        return -1;
    int isnum = 0;
    *y = lua_tonumberx(h->L, -1, &isnum);
    if (!isnum)
        snprintf(h->err, sizeof h->err, "%s returned %s, not a number", name,
                 luaL_typename(h->L, -1));
    lua_pop(h->L, 1);
    return isnum ? 0 : -1;
}

const char *hook_error(const Hook *h)
{
    return h->err;
}
