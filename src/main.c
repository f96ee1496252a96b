/*
 * main.c -- the qlxc command: argument handling and the pipeline.
 *
 *   source -> tokens -> syntax tree -> checked model -> graph -> engines
 *
 * Each subcommand runs the pipeline as far as it needs and stops between
 * stages when a stage reported errors (jq's rule).  Exit codes:
 * 0 ok, 1 model errors, 2 usage, 3 runtime failure.
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cblas.h>
#include <lua.h>
#include <sundials/sundials_version.h>

#include "data.h"
#include "derive.h"
#include "diag.h"
#include "dist.h"
#include "est.h"
#include "lcall.h"
#include "npde.h"
#include "saem.h"
#include "report.h"
#include "fmt.h"
#include "graph.h"
#include "lower.h"
#include "mem.h"
#include "parse.h"
#include "kw.h"
#include "mc.h"
#include "ode.h"
#include "pinn.h"
#include "vpc.h"
#include "prog.h"
#include "sema.h"
#include "sim.h"
#include "table.h"

#define QLX_VERSION "0.1.0"

enum { EXIT_OK = 0, EXIT_MODEL = 1, EXIT_USAGE = 2, EXIT_RUNTIME = 3 };

typedef struct {
    const char *stdlib[16];
    int nstdlib;
    int warnings;        /* -W0 silences warnings */
    int max_errors;
    int color;
    const char *out;     /* -o */
    int write;           /* fmt -w */
    int check;           /* fmt --check */
    int jacobian;        /* graph --jacobian */
    int threads;         /* run --threads; 0: one per core */
    int mpi;             /* run --mpi: spread the subjects over the MPI ranks */
    int lua_unsafe;      /* run --lua-unsafe: no sandbox for $LUA scripts */
    Dist dist;           /* this process's rank (size 1 without --mpi) */
    const char *etas;    /* run --etas FILE: each subject's ETAs */
    const char *inits[8];   /* run --init FILE: initial values from a fit */
    int ninits;
    int qasm;            /* export --qasm */
    int export_only;     /* export: write the circuits and nothing else */
    const char *files[64];
    int nfiles;
} Cli;

/* Everything one model's compilation owns; freed in one call. */
typedef struct {
    Arena *arena;
    Diag *diag;
    Ast *ast;
    Model *model;
    Graph *graph;
    LowerInfo lower;
    const char *input;      /* the model's text when it came from stdin */
    size_t input_len;
} Unit;

static const char *const usage_text =
    "usage: qlxc <command> [options] model.qlx\n"
    "\n"
    "commands:\n"
    "  check    parse and check a model; report every error\n"
    "  run      check, then fit and simulate as the model's records say\n"
    "  graph    print the model's expression graph as Graphviz DOT\n"
    "  fmt      print a model in the canonical layout (-w rewrites the file)\n"
    "  export   train a hybrid model and write its circuits (--qasm)\n"
    "  version  print the versions of qlxc and its libraries\n"
    "  help     show help for a command\n"
    "\n"
    "exit status: 0 ok, 1 model errors, 2 usage, 3 runtime failure\n"
    "run 'qlxc help <command>' or 'qlxc <command> --help' for details\n";

static const char *command_help(const char *cmd)
{
    if (strcmp(cmd, "check") == 0)
        return "usage: qlxc check [--stdlib DIR] [-W0] [--max-errors N] model.qlx...\n"
               "Parse and check each model. Errors and warnings go to stderr as\n"
               "file:line:col: error: message. Exit 1 when any model has errors.\n";
    if (strcmp(cmd, "run") == 0)
        return "usage: qlxc run [--stdlib DIR] [-o DIR] [--threads N] [--mpi] [--etas FILE] "
               "[--init FILE]... [--lua-unsafe] model.qlx\n"
               "Check the model, then run it: without $ESTIMATION or $SIMULATION,\n"
               "simulate each subject of $DATA at its records (ETAs at zero, or each\n"
               "subject's ETAs from FILE: a table with ID and the ETA names, such as\n"
               "a fit's sdtab.csv) and write the $TABLE files to DIR (default:\n"
               "MODEL.out beside the model).\n"
               "--init FILE (repeatable) sets initial values of $THETA, $OMEGA and\n"
               "$SIGMA by name from a fit's estimates.csv, as if written in the model.\n"
               "--lua-unsafe lifts the sandbox of the $LUA scripts (io, os, no limits).\n"
               "--mpi (under mpirun -np K) spreads the subjects of estimation and\n"
               "simulation over the K ranks; rank 0 writes the outputs, which are\n"
               "the same as one process's.\n";
    if (strcmp(cmd, "graph") == 0)
        return "usage: qlxc graph [--stdlib DIR] [--jacobian] [-o FILE] model.qlx\n"
               "Print the compiled expression graph ($PK, $DES, $ERROR) as Graphviz\n"
               "DOT; --jacobian adds the symbolic Jacobian of the $DES system.\n";
    if (strcmp(cmd, "fmt") == 0)
        return "usage: qlxc fmt [-w | --check] model.qlx...\n"
               "Print each model in the canonical layout. -w rewrites the files in\n"
               "place (atomically); --check exits 1 when a file is not formatted.\n"
               "'-' reads the model from stdin (an editor's filter): on an error the\n"
               "input is printed back unchanged, the errors go to stderr, and the exit\n"
               "status is 1.\n";
    if (strcmp(cmd, "export") == 0)
        return "usage: qlxc export --qasm [--stdlib DIR] [-o DIR] model.qlx\n"
               "Train the model as qlxc run does (the same seed gives the same circuit)\n"
               "and write each trained $QUANTUM circuit as OpenQASM 2.0, NAME.qasm in\n"
               "DIR (default: MODEL.out beside the model): one gate, named after the\n"
               "record, whose parameter is TIME, and a call of it at the initial time.\n";
    if (strcmp(cmd, "version") == 0)
        return "usage: qlxc version\nPrint the versions of qlxc, Lua, SUNDIALS and OpenBLAS.\n";
    if (strcmp(cmd, "help") == 0)
        return "usage: qlxc help [command]\n";
    return NULL;
}

static int usage_error(const char *fmt, const char *arg)
{
    fprintf(stderr, "qlxc: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\nrun 'qlxc help' for usage\n");
    return EXIT_USAGE;
}

/* Where $INCLUDE NAME looks: --stdlib, $QLX_STDLIB, then beside the binary
 * (installed: PREFIX/share/qlynix/stdlib; build tree: the repo's stdlib). */
static void default_stdlib(Cli *c, Arena *a)
{
    const char *env = getenv("QLX_STDLIB");
    if (env && *env && c->nstdlib < 16) {
        char *copy = mem_strdup(a, env), *save = NULL;
        for (char *tok = strtok_r(copy, ":", &save); tok && c->nstdlib < 16;
             tok = strtok_r(NULL, ":", &save))
            c->stdlib[c->nstdlib++] = tok;
    }
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0)
        return;
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (!slash)
        return;
    *slash = '\0';
    const char *rel[] = { "/../share/qlynix/stdlib", "/../stdlib" };
    for (int i = 0; i < 2 && c->nstdlib < 16; i++) {
        size_t len = strlen(exe) + strlen(rel[i]) + 1;
        char *d = mem_alloc(a, len);
        snprintf(d, len, "%s%s", exe, rel[i]);
        c->stdlib[c->nstdlib++] = d;
    }
}

static int parse_args(Cli *c, int argc, char **argv, const char *cmd)
{
    c->warnings = 1;
    c->max_errors = 20;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fputs(command_help(cmd), stdout);
            return -1;
        } else if (strcmp(a, "--stdlib") == 0 && i + 1 < argc) {
            if (c->nstdlib < 16)
                c->stdlib[c->nstdlib++] = argv[++i];
        } else if (strcmp(a, "-o") == 0 && i + 1 < argc) {
            c->out = argv[++i];
        } else if (strcmp(a, "--max-errors") == 0 && i + 1 < argc) {
            c->max_errors = atoi(argv[++i]);
        } else if (strcmp(a, "-W0") == 0) {
            c->warnings = 0;
        } else if (strcmp(a, "-w") == 0 && strcmp(cmd, "fmt") == 0) {
            c->write = 1;
        } else if (strcmp(a, "--check") == 0 && strcmp(cmd, "fmt") == 0) {
            c->check = 1;
        } else if (strcmp(a, "--jacobian") == 0 && strcmp(cmd, "graph") == 0) {
            c->jacobian = 1;
        } else if (strcmp(a, "--threads") == 0 && i + 1 < argc && strcmp(cmd, "run") == 0) {
            c->threads = atoi(argv[++i]);
            if (c->threads < 1 || c->threads > 64)
                return usage_error("--threads takes a number from 1 to 64, not '%s'", argv[i]);
        } else if (strcmp(a, "--init") == 0 && i + 1 < argc && strcmp(cmd, "run") == 0) {
            if (c->ninits == 8)
                return usage_error("at most 8 --init files, not '%s'", argv[i + 1]);
            c->inits[c->ninits++] = argv[++i];
        } else if (strcmp(a, "--lua-unsafe") == 0 && strcmp(cmd, "run") == 0) {
            c->lua_unsafe = 1;
        } else if (strcmp(a, "--mpi") == 0 && strcmp(cmd, "run") == 0) {
            c->mpi = 1;
        } else if (strcmp(a, "--etas") == 0 && i + 1 < argc && strcmp(cmd, "run") == 0) {
            c->etas = argv[++i];
        } else if (strcmp(a, "--qasm") == 0 && strcmp(cmd, "export") == 0) {
            c->qasm = 1;
        } else if (strcmp(a, "--color") == 0) {
            c->color = 1;
        } else if (a[0] == '-' && a[1] != '\0') {
            return usage_error("unknown option '%s'", a);
        } else if (c->nfiles < 64) {
            c->files[c->nfiles++] = a;
        } else {
            return usage_error("too many files (the limit is 64)%s", "");
        }
    }
    if (c->nfiles == 0)
        return usage_error("'%s' needs a model file", cmd);
    if (strcmp(cmd, "export") == 0 && !c->qasm)
        return usage_error("export needs a format: --qasm%s", "");
    c->export_only = strcmp(cmd, "export") == 0;
    return 0;
}

/* Run the front end up to `stage`: 0 parse, 1 check, 2 graph.  Returns 0
 * when every stage run was free of errors. */
/* All of stdin, NUL-terminated, in the arena; NULL when it cannot be read. */
static char *read_stdin(Arena *a, size_t *len)
{
    char *buf = NULL;
    size_t n = 0;
    FILE *mem = open_memstream(&buf, &n);
    char chunk[65536];
    size_t got;
    while (mem && (got = fread(chunk, 1, sizeof chunk, stdin)) > 0)
        fwrite(chunk, 1, got, mem);
    if (!mem || ferror(stdin) || fclose(mem) != 0) {
        free(buf);
        return NULL;
    }
    char *text = mem_alloc(a, n + 1);
    memcpy(text, buf, n);
    text[n] = '\0';
    free(buf);
    *len = n;
    return text;
}

static int compile(Unit *u, const Cli *c, const char *path, int stage, int no_includes)
{
    memset(u, 0, sizeof *u);
    u->arena = mem_arena_new();
    u->diag = diag_new(u->arena, stderr);
    diag_set_limit(u->diag, c->max_errors);
    diag_set_warnings(u->diag, c->warnings);
    diag_set_color(u->diag, c->color);
    ParseOpts po = { c->stdlib, c->nstdlib, 0, no_includes };
    if (strcmp(path, "-") == 0) {
        /* the model from stdin (an editor's filter: qlxc fmt -) */
        size_t len;
        char *text = read_stdin(u->arena, &len);
        u->input = text;
        u->input_len = text ? len : 0;
        u->ast = text ? parse_string(u->arena, u->diag, "<stdin>", text, len, &po) : NULL;
        if (!text)
            fprintf(stderr, "qlxc: cannot read the model from stdin\n");
    } else {
        u->ast = parse_file(u->arena, u->diag, path, &po);
    }
    if (!u->ast || diag_errors(u->diag) || stage == 0)
        return diag_errors(u->diag) ? -1 : 0;
    u->model = sema_check(u->arena, u->diag, u->ast);
    if (!u->model || diag_errors(u->diag) || stage == 1)
        return diag_errors(u->diag) ? -1 : 0;
    u->graph = lower_model(u->arena, u->model, &u->lower);
    return u->graph && !diag_errors(u->diag) ? 0 : -1;
}

static void unit_free(Unit *u)
{
    mem_arena_free(&u->arena);
}

static int cmd_check(const Cli *c)
{
    int bad = 0;
    for (int i = 0; i < c->nfiles; i++) {
        Unit u;
        if (compile(&u, c, c->files[i], 2, 0) != 0)
            bad = 1;
        unit_free(&u);
    }
    return bad ? EXIT_MODEL : EXIT_OK;
}

static int cmd_fmt(const Cli *c)
{
    int status = EXIT_OK;
    for (int i = 0; i < c->nfiles; i++) {
        Unit u;
        int from_stdin = strcmp(c->files[i], "-") == 0;
        if (from_stdin && c->write) {
            fprintf(stderr, "qlxc: fmt -w writes files; '-' is stdin (fmt - writes to stdout)\n");
            return EXIT_USAGE;
        }
        if (compile(&u, c, c->files[i], 0, 1) != 0) {
            /* a filter gives its input back, so an editor's buffer is kept */
            if (from_stdin && !c->check && u.input)
                fwrite(u.input, 1, u.input_len, stdout);
            unit_free(&u);
            status = EXIT_MODEL;
            continue;
        }
        char *buf = NULL;
        size_t len = 0;
        FILE *mem = open_memstream(&buf, &len);
        if (!mem || fmt_write(u.ast, mem) != 0 || fclose(mem) != 0) {
            fprintf(stderr, "qlxc: cannot format '%s': out of memory\n", c->files[i]);
            free(buf);
            unit_free(&u);
            return EXIT_RUNTIME;
        }
        size_t olen;
        const char *orig = diag_file_text(u.diag, u.ast->file, &olen);
        int same = olen == len && memcmp(orig, buf, len) == 0;
        if (c->check) {
            if (!same) {
                printf("%s: not formatted\n", c->files[i]);
                status = status == EXIT_OK ? EXIT_MODEL : status;
            }
        } else if (c->write) {
            if (!same && tab_write_atomic(c->files[i], buf, len) != 0) {
                fprintf(stderr, "qlxc: cannot write '%s': %s\n", c->files[i], strerror(errno));
                status = EXIT_RUNTIME;
            }
        } else {
            fwrite(buf, 1, len, stdout);
        }
        free(buf);
        unit_free(&u);
    }
    return status;
}

static int cmd_graph(const Cli *c)
{
    Unit u;
    if (compile(&u, c, c->files[0], 2, 0) != 0) {
        unit_free(&u);
        return EXIT_MODEL;
    }
    if (c->jacobian)
        lower_add_jacobian(u.graph, u.model, &u.lower);
    FILE *out = stdout;
    if (c->out && !(out = fopen(c->out, "w"))) {
        fprintf(stderr, "qlxc: cannot write '%s': %s\n", c->out, strerror(errno));
        unit_free(&u);
        return EXIT_RUNTIME;
    }
    graph_dot(u.graph, out, lower_input_namer, &u.lower);
    int bad = ferror(out);
    if (out != stdout)
        bad |= fclose(out) != 0;
    unit_free(&u);
    return bad ? EXIT_RUNTIME : EXIT_OK;
}

/* The output folder: -o DIR, else MODEL.out beside the model; NULL on
 * an MPI rank other than 0, which writes nothing. */
static const char *out_dir(const Cli *c, Arena *a)
{
    if (c->dist.rank != 0)
        return NULL;
    if (c->out)
        return c->out;
    const char *model = c->files[0];
    size_t n = strlen(model);
    if (n > 4 && strcmp(model + n - 4, ".qlx") == 0)
        n -= 4;
    char *d = mem_alloc(a, n + 5);
    memcpy(d, model, n);
    memcpy(d + n, ".out", 5);
    return d;
}

/* Solver settings for a simulation: $SOLVER, else the first $ESTIMATION's. */
static SimOpts sim_options(const Model *m, const Cli *c)
{
    SimOpts o;
    memset(&o, 0, sizeof o);
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    o.nthreads = c->threads > 0 ? c->threads : (n > 0 && n < 64 ? (int)n : 1);
    o.dist = c->dist.size > 1 ? &c->dist : NULL;
    if (m->solver.present) {
        o.force_ode = m->solver.solver == SOLVER_ODE;
        o.adams = m->solver.integrator == INTEG_ADAMS;
        o.rtol = m->solver.rtol == m->solver.rtol ? m->solver.rtol : 0;
        o.atol = m->solver.atol == m->solver.atol ? m->solver.atol : 0;
        o.maxsteps = m->solver.maxsteps;
    } else if (m->nests > 0) {
        o.force_ode = m->ests[0].solver == SOLVER_ODE;
        o.adams = m->ests[0].integrator == INTEG_ADAMS;
        o.rtol = m->ests[0].rtol == m->ests[0].rtol ? m->ests[0].rtol : 0;
        o.atol = m->ests[0].atol == m->ests[0].atol ? m->ests[0].atol : 0;
    }
    return o;
}

static void log_solver(const Prog *p, const SimOpts *o, const char *model)
{
    if (!p->des)
        fprintf(stderr, "qlxc: %s has no $DES: $PK and $ERROR are evaluated at each record\n",
                model);
    else if (p->linear && !o->force_ode)
        fprintf(stderr, "qlxc: $DES is linear with constant coefficients: solved exactly "
                        "(matrix exponential); $SOLVER SOLVER=ODE forces CVODES\n");
    else if (p->linear)
        fprintf(stderr, "qlxc: $DES is linear, but SOLVER=ODE asks for CVODES (%s, rtol %g)\n",
                o->adams ? "Adams" : "BDF", o->rtol > 0 ? o->rtol : ODE_RTOL_DEFAULT);
    else if (p->npart > 0 && !o->force_ode) {
        /* the partitioned path (sim.c): say which states go where */
        fprintf(stderr, "qlxc: $DES is not linear (%s): the linear states", p->nonlinear_why);
        for (int i = 0; i < p->ncmt; i++)
            if (p->part[i])
                fprintf(stderr, " %s", p->m->cmts[i].name);
        fprintf(stderr, " are solved exactly in simulation, the others by CVODES (%s, rtol "
                        "%g); $SOLVER SOLVER=ODE gives CVODES all\n",
                o->adams ? "Adams" : "BDF", o->rtol > 0 ? o->rtol : ODE_RTOL_DEFAULT);
    } else
        fprintf(stderr, "qlxc: $DES is solved by CVODES (%s, rtol %g): %s\n",
                o->adams ? "Adams" : "BDF", o->rtol > 0 ? o->rtol : ODE_RTOL_DEFAULT,
                p->nonlinear_why);
}

/* summary.txt: what a pharmacometrician reads first. */
/* dir/name, written atomically (the folder made if needed); says so. */
/* The standard error of one parameter, or NaN without a covariance step. */
static double se_of(const EstCov *c, const char *name)
{
    for (int k = 0; c && c->ok && k < c->n; k++)
        if (c->names[k] && strcmp(c->names[k], name) == 0)
            return c->se[k];
    return NAN;
}

static void put_se(FILE *f, double est, double se)
{
    if (se == se)
        fprintf(f, " %12.4g %8.1f%%", se, 100 * se / fabs(est));
    else
        fprintf(f, " %12s %9s", ".", ".");
}

/* NONMEM's SD-based shrinkage: ETA, 1 - SD(eta_i over subjects) /
 * sqrt(omega_ii); EPS, 1 - SD(IWRES over observations).  NaN when it
 * cannot be computed (fewer than two values, no IWRES). */
static double eta_shrinkage(const Model *m, const EstResult *r, int i)
{
    int n = r->nsubjects, ne = m->omega.n;
    double w = r->omega[i * ne + i], s = 0, ss = 0;
    if (n < 2 || !(w > 0) || !r->eta)
        return NAN;
    for (int k = 0; k < n; k++)
        s += r->eta[(size_t)k * (size_t)ne + (size_t)i];
    double mean = s / n;
    for (int k = 0; k < n; k++) {
        double d = r->eta[(size_t)k * (size_t)ne + (size_t)i] - mean;
        ss += d * d;
    }
    return 1 - sqrt(ss / (n - 1)) / sqrt(w);
}

static double eps_shrinkage(const Dataset *ds, const double *iwres)
{
    double s = 0, ss = 0;
    int n = 0;
    for (int k = 0; iwres && k < ds->nrows; k++)
        if (isfinite(iwres[k]))
            s += iwres[k], ss += iwres[k] * iwres[k], n++;
    if (n < 2)
        return NAN;
    double mean = s / n;
    return 1 - sqrt((ss - n * mean * mean) / (n - 1));
}

/* A THETA on the log scale: read inside exp(...) in $PK, as in
 * CL = exp(tcl + eta_cl).  Only then does exp(estimate) mean something. */
static int expr_has_theta(const Expr *e, int k)
{
    if (!e)
        return 0;
    if ((e->kind == EX_NAME || e->kind == EX_INDEXED) && e->ref.kind == REF_THETA)
        return e->ref.index == k;
    if (expr_has_theta(e->lhs, k) || expr_has_theta(e->rhs, k))
        return 1;
    for (int i = 0; i < e->nargs; i++)
        if (expr_has_theta(e->args[i], k))
            return 1;
    return 0;
}

static int expr_exp_theta(const Expr *e, int k)
{
    if (!e)
        return 0;
    if (e->kind == EX_CALL && e->ref.kind == REF_FUNC && strcmp(e->text, "exp") == 0 &&
        e->nargs == 1 && expr_has_theta(e->args[0], k))
        return 1;
    if (expr_exp_theta(e->lhs, k) || expr_exp_theta(e->rhs, k))
        return 1;
    for (int i = 0; i < e->nargs; i++)
        if (expr_exp_theta(e->args[i], k))
            return 1;
    return 0;
}

static int stmts_exp_theta(Stmt *const *v, int n, int k)
{
    for (int i = 0; i < n; i++) {
        const Stmt *st = v[i];
        if (!st)
            continue;
        if (expr_exp_theta(st->value, k))
            return 1;
        for (int a = 0; a < st->narms; a++)
            if (expr_exp_theta(st->arms[a].cond, k) ||
                stmts_exp_theta(st->arms[a].body, st->arms[a].nbody, k))
                return 1;
    }
    return 0;
}

static int theta_in_exp(const Model *m, int k)
{
    return m->pk.rec && stmts_exp_theta(m->pk.stmts, m->pk.n, k);
}

static int write_summary(const char *dir, const Model *m, const Dataset *ds, const EstResult *r,
                         const EstCov *cv, const double *iwres, double seconds, Diag *d,
                         Arena *arena, const char **keep)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        return -1;
    int nobs = 0;
    for (int i = 0; i < ds->nrows; i++)
        nobs += data_is_obs(&ds->rows[i]);
    int npar = 0;
    for (int k = 0; k < m->nthetas; k++)
        npar += !m->thetas[k].fix;
    for (int b = 0; b < m->omega.nblocks; b++)
        if (!m->omega.block_fix[b])
            npar += m->omega.block_size[b] * (m->omega.block_size[b] + 1) / 2;
    for (int b = 0; b < m->sigma.nblocks; b++)
        if (!m->sigma.block_fix[b])
            npar += m->sigma.block_size[b] * (m->sigma.block_size[b] + 1) / 2;
    fprintf(f, "%s\n\n", m->title ? m->title : "(no $PROBLEM)");
    fprintf(f, "method      ");
    for (int i = 0; i < m->nests; i++)
        fprintf(f, "%s%s", i ? " then " : "", est_method_name(m->ests[i].method));
    fputc('\n', f);
    fprintf(f, "data        %s: %d subjects, %d observations\n", ds->path, ds->nsubjects, nobs);
    fprintf(f, "status      %s (%d iterations, %d objective evaluations)\n", r->message,
            r->iterations, r->evaluations);
    fprintf(f, "OFV         %.4f   (-2 log likelihood without the N*log(2*pi) constant, as NONMEM)\n",
            r->ofv);
    if (r->ofv_se > 0)
        fprintf(f, "            (by importance sampling: Monte Carlo SE %.3g)\n", r->ofv_se);
    if (m->npriors > 0)
        fprintf(f, "prior       %.4f   (-2 log prior density, included in the OFV: maximum a "
                   "posteriori estimates)\n", r->prior);
    fprintf(f, "AIC         %.4f   (OFV + 2 * %d parameters)\n", r->ofv + 2 * npar, npar);
    fprintf(f, "BIC         %.4f   (OFV + %d * log(%d observations))\n",
            r->ofv + npar * log(nobs > 0 ? nobs : 1), npar, nobs);
    fprintf(f, "run time    %.2f s\n\n", seconds);
    fprintf(f, "%-14s %14s %12s %9s %14s\n", "THETA", "estimate", "SE", "RSE", "exp(estimate)");
    for (int k = 0; k < m->nthetas; k++) {
        fprintf(f, "%-14s %14.6g", m->thetas[k].name, r->theta[k]);
        put_se(f, r->theta[k], se_of(cv, m->thetas[k].name));
        /* the back-transformed value only for a THETA on the log scale */
        if (theta_in_exp(m, k))
            fprintf(f, " %14.6g", exp(r->theta[k]));
        else
            fprintf(f, " %14s", ".");
        fprintf(f, "%s\n", m->thetas[k].fix ? "  FIX" : "");
    }
    fprintf(f, "\n%-14s %14s %12s %9s %14s %10s\n", "OMEGA", "variance", "SE", "RSE", "CV% (BSV)",
            "shrinkage");
    for (int i = 0; i < m->omega.n; i++) {
        double v = r->omega[i * m->omega.n + i];
        char key[160];
        snprintf(key, sizeof key, "OMEGA(%s,%s)", m->omega.names[i], m->omega.names[i]);
        fprintf(f, "%-14s %14.6g", m->omega.names[i], v);
        put_se(f, v, se_of(cv, key));
        double sh = eta_shrinkage(m, r, i);
        fprintf(f, " %14.2f", 100 * sqrt(exp(v) - 1));
        if (isfinite(sh))
            fprintf(f, " %9.1f%%\n", 100 * sh);
        else
            fprintf(f, " %10s\n", ".");
    }
    for (int i = 0; i < m->omega.n; i++)
        for (int j = 0; j < i; j++) {
            double cij = r->omega[i * m->omega.n + j];
            if (cij != 0)
                fprintf(f, "%-14s %14.6g   correlation %.3f\n", "  covariance", cij,
                        cij / sqrt(r->omega[i * m->omega.n + i] * r->omega[j * m->omega.n + j]));
        }
    fprintf(f, "\n%-14s %14s %12s %9s %14s\n", "SIGMA", "variance", "SE", "RSE", "SD");
    for (int i = 0; i < m->sigma.n; i++) {
        double v = r->sigma[i * m->sigma.n + i];
        char key[160];
        snprintf(key, sizeof key, "SIGMA(%s,%s)", m->sigma.names[i], m->sigma.names[i]);
        fprintf(f, "%-14s %14.6g", m->sigma.names[i], v);
        put_se(f, v, se_of(cv, key));
        fprintf(f, " %14.6g\n", sqrt(v));
    }
    double esh = eps_shrinkage(ds, iwres);
    if (isfinite(esh))
        fprintf(f, "EPS shrinkage  %.1f%%   (1 - SD(IWRES))\n", 100 * esh);
    fprintf(f, "\nCV%% is sqrt(exp(omega^2) - 1), for log-normally distributed parameters.\n"
               "ETA shrinkage is 1 - SD(conditional modes) / sqrt(omega^2), as NONMEM's "
               "ETASHRINKSD.\n");
    if (cv) {
        fprintf(f, "\nCovariance step: %s\n", cv->message);
        if (cv->ok) {
            fprintf(f, "condition number of the correlation matrix: %.4g\n\ncorrelation of the "
                       "estimates:\n", cv->condition);
            for (int a = 0; a < cv->n; a++) {
                fprintf(f, "%-26s", cv->names[a] ? cv->names[a] : "?");
                for (int b = 0; b <= a; b++)
                    fprintf(f, " %6.3f", cv->corr[a * cv->n + b]);
                fputc('\n', f);
            }
        }
    }
    fclose(f);
    int rc = tab_put(dir, "summary.txt", buf, len, d, stderr);
    if (keep && buf && (*keep = mem_alloc(arena, len + 1)) != NULL)
        memcpy((char *)*keep, buf, len + 1);   /* trials append to it */
    free(buf);
    return rc;
}

/* A JSON number; NaN and infinities, which JSON lacks, as null. */
static void json_num(FILE *f, double v)
{
    if (isfinite(v))
        fprintf(f, "%.17g", v);
    else
        fputs("null", f);
}

static void json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (; s && *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\')
            fprintf(f, "\\%c", ch);
        else if (ch < 0x20)
            fprintf(f, "\\u%04x", ch);
        else
            fputc(ch, f);
    }
    fputc('"', f);
}

static void json_matrix(FILE *f, const double *a, int n)
{
    fputc('[', f);
    for (int i = 0; i < n; i++) {
        fputs(i ? ", [" : "[", f);
        for (int j = 0; j < n; j++) {
            if (j)
                fputs(", ", f);
            json_num(f, a[i * n + j]);
        }
        fputc(']', f);
    }
    fputc(']', f);
}

static void json_names(FILE *f, const char *const *names, int n)
{
    fputc('[', f);
    for (int i = 0; i < n; i++) {
        if (i)
            fputs(", ", f);
        json_str(f, names[i]);
    }
    fputc(']', f);
}

/* results.json: everything summary.txt says, for programs. */
static int write_results_json(const char *dir, const Model *m, const Dataset *ds,
                              const EstResult *r, const EstCov *cv, const double *iwres,
                              EstMethod method, double seconds, Diag *d)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        return -1;
    fputs("{\n  \"problem\": ", f);
    json_str(f, m->title);
    fprintf(f, ",\n  \"method\": \"%s\",\n  \"converged\": %s,\n  \"message\": ",
            est_method_name(method), r->converged ? "true" : "false");
    json_str(f, r->message);
    fprintf(f, ",\n  \"iterations\": %d,\n  \"evaluations\": %d,\n  \"run_time_s\": ",
            r->iterations, r->evaluations);
    json_num(f, seconds);
    fputs(",\n  \"ofv\": ", f);
    json_num(f, r->ofv);
    fputs(",\n  \"ofv_mc_se\": ", f);
    json_num(f, r->ofv_se > 0 ? r->ofv_se : NAN);
    fputs(",\n  \"ofv_convention\": \"-2 log likelihood without N*log(2*pi), as NONMEM\",\n", f);
    fputs("  \"theta\": [", f);
    for (int k = 0; k < m->nthetas; k++) {
        fprintf(f, "%s\n    {\"name\": ", k ? "," : "");
        json_str(f, m->thetas[k].name);
        fputs(", \"estimate\": ", f);
        json_num(f, r->theta[k]);
        fputs(", \"se\": ", f);
        json_num(f, se_of(cv, m->thetas[k].name));
        fprintf(f, ", \"fixed\": %s}", m->thetas[k].fix ? "true" : "false");
    }
    fputs("\n  ],\n  \"omega\": {\"names\": ", f);
    json_names(f, m->omega.names, m->omega.n);
    fputs(", \"matrix\": ", f);
    json_matrix(f, r->omega, m->omega.n);
    fputs(", \"shrinkage\": [", f);
    for (int i = 0; i < m->omega.n; i++) {
        fputs(i ? ", " : "", f);
        json_num(f, eta_shrinkage(m, r, i));
    }
    fputs("]},\n  \"sigma\": {\"names\": ", f);
    json_names(f, m->sigma.names, m->sigma.n);
    fputs(", \"matrix\": ", f);
    json_matrix(f, r->sigma, m->sigma.n);
    fputs(", \"eps_shrinkage\": ", f);
    json_num(f, eps_shrinkage(ds, iwres));
    fputs("},\n  \"covariance_step\": ", f);
    if (!cv) {
        fputs("null", f);
    } else {
        fprintf(f, "{\"ok\": %s, \"message\": ", cv->ok ? "true" : "false");
        json_str(f, cv->message);
        if (cv->ok) {
            fputs(", \"parameters\": ", f);
            json_names(f, (const char *const *)cv->names, cv->n);
            fputs(", \"se\": [", f);
            for (int k = 0; k < cv->n; k++) {
                if (k)
                    fputs(", ", f);
                json_num(f, cv->se[k]);
            }
            fputs("], \"covariance\": ", f);
            json_matrix(f, cv->cov, cv->n);
            fputs(", \"correlation\": ", f);
            json_matrix(f, cv->corr, cv->n);
            fputs(", \"condition_number\": ", f);
            json_num(f, cv->condition);
        }
        fputc('}', f);
    }
    fputs(",\n  \"subjects\": [", f);
    for (int s = 0; s < ds->nsubjects; s++) {
        fprintf(f, "%s\n    {\"id\": ", s ? "," : "");
        json_num(f, ds->subjects[s].id);
        fputs(", \"eta\": [", f);
        for (int k = 0; k < m->omega.n; k++) {
            if (k)
                fputs(", ", f);
            json_num(f, r->eta[(size_t)s * (size_t)m->omega.n + (size_t)k]);
        }
        fputs("]}", f);
    }
    fputs("\n  ]\n}\n", f);
    fclose(f);
    int rc = tab_put(dir, "results.json", buf, len, d, stderr);
    free(buf);
    return rc;
}

/* estimates.csv: the final estimates by name, one a row, for --init (a
 * later run starts or simulates from them: data_read_inits). */
static void est_rows(FILE *f, const char *kind, const ModelRandom *r, const double *v,
                     const EstCov *cv)
{
    for (int i = 0; i < r->n; i++)
        for (int j = 0; j <= i; j++) {
            if (r->block[i] != r->block[j])
                continue;
            char key[300];
            snprintf(key, sizeof key, "%s(%s,%s)", kind, r->names[i], r->names[j]);
            double se = se_of(cv, key);
            fprintf(f, "%s,%s,%s,%.17g,", kind, r->names[i], r->names[j], v[i * r->n + j]);
            if (se == se)
                fprintf(f, "%.17g", se);
            fputc('\n', f);
        }
}

static int write_estimates(const char *dir, const Model *m, const EstResult *r,
                           const EstCov *cv, Diag *d)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        return -1;
    fputs("KIND,NAME,WITH,ESTIMATE,SE\n", f);
    for (int k = 0; k < m->nthetas; k++) {
        double se = se_of(cv, m->thetas[k].name);
        fprintf(f, "THETA,%s,,%.17g,", m->thetas[k].name, r->theta[k]);
        if (se == se)
            fprintf(f, "%.17g", se);
        fputc('\n', f);
    }
    est_rows(f, "OMEGA", &m->omega, r->omega, cv);
    est_rows(f, "SIGMA", &m->sigma, r->sigma, cv);
    fclose(f);
    int rc = tab_put(dir, "estimates.csv", buf, len, d, stderr);
    free(buf);
    return rc;
}

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* PRED into pop (the ETAs and EPSs at zero) and, when eta or eps is
 * given, IPRED and Y into ind; *ipred is where they are (pop itself
 * otherwise: one simulation, not two).  pop and ind can always be given
 * to sim_out_free.  0, or -1 after reporting. */
static int simulate_pred_ipred(const Prog *p, const Dataset *ds, const double *theta,
                               const double *eta, const double *eps, const SimOpts *so,
                               SimOut *pop, SimOut *ind, const SimOut **ipred, Diag *d)
{
    memset(pop, 0, sizeof *pop);
    memset(ind, 0, sizeof *ind);
    int both = eta || eps;
    *ipred = both ? ind : pop;
    if (sim_out_alloc(pop, p, ds) != 0 || (both && sim_out_alloc(ind, p, ds) != 0)) {
        diag_report(d, DIAG_ERROR, diag_nospan(), NULL, "out of memory for the simulation");
        return -1;
    }
    if (sim_run(p, ds, theta, NULL, NULL, so, pop, d) != 0)
        return -1;
    return both ? sim_run(p, ds, theta, eta, eps, so, ind, d) : 0;
}

/* The THETAs' initial values, in the arena; NULL when out of memory. */
static double *initial_thetas(Arena *a, const Model *m)
{
    double *theta = mem_alloc(a, sizeof(double) * ((size_t)m->nthetas + 1));
    for (int i = 0; theta && i < m->nthetas; i++)
        theta[i] = m->thetas[i].init;
    return theta;
}

/* One $ESTIMATION step from where prev ended (prev->theta NULL: the
 * model's initial values): the deterministic methods by est_run, SAEM by
 * saem_run, and IMP as NONMEM's EONLY=1: the objective by importance
 * sampling at the current estimates, which it keeps. */
static int estimation_step(const Prog *p, const Dataset *ds, const EstOpts *eo,
                           const EstResult *prev, EstResult *next, Arena *a, Diag *d)
{
    if (eo->method == EST_SAEM)
        return saem_run(p, ds, eo, next, d);
    if (eo->method != EST_IMP)
        return est_run(p, ds, eo, next, d);
    const Model *m = p->m;
    memset(next, 0, sizeof *next);
    const double *theta = prev->theta ? prev->theta : initial_thetas(a, m);
    if (!theta ||
        est_result_set(next, m, ds->nsubjects, theta, prev->omega ? prev->omega : m->omega.cov,
                       prev->sigma ? prev->sigma : m->sigma.cov, NULL) != 0)
        return -1;
    if (saem_imp_objective(p, ds, eo, next->theta, next->omega, next->sigma, &next->ofv,
                           &next->ofv_se, next->eta, d) != 0) {
        est_result_free(next);
        return -1;
    }
    next->converged = 1;
    snprintf(next->message, sizeof next->message,
             "objective by importance sampling at the previous estimates (Monte Carlo SE %.2g)",
             next->ofv_se);
    return 0;
}

/* After SAEM or IMP the ETAs are conditional means; the tables, CWRES and
 * the covariance step want FOCEI's conditional modes at the estimates. */
static int posthoc_modes(const Prog *p, const Dataset *ds, const SimOpts *so, EstResult *r,
                         Diag *d)
{
    EstOpts eo;
    memset(&eo, 0, sizeof eo);
    eo.method = EST_FOCEI;
    eo.sim = *so;
    double ofv;
    return est_objective(p, ds, &eo, r->theta, r->omega, r->sigma, &ofv, r->eta, d);
}

/* Every $ESTIMATION step in order, each starting where the last ended;
 * then the tables at the final estimates (PRED with the ETAs at zero,
 * IPRED with each subject's conditional modes). */
/* The parameters a run ends with, for what follows it (Monte Carlo). */
typedef struct {
    double *theta, *omega, *sigma;
    double *theta_cov;     /* nthetas x nthetas from the covariance step (0 for a FIX
                              THETA), or NULL when there was none */
    const char *summary;   /* the fit's summary.txt, which the trials' report
                              joins; NULL without a fit */
} Estimates;

static int run_estimation(const Cli *c, const Prog *p, const Dataset *ds, const SimOpts *so,
                          Arena *a, Diag *d, Estimates *keep)
{
    const Model *m = p->m;
    for (int i = 0; i < m->nests; i++)
        if (m->ests[i].method > EST_IMP) {
            fprintf(stderr, "qlxc: %s: METHOD=%s trains networks ($LOSS), which is not built in "
                            "this version\n", c->files[0], est_method_name(m->ests[i].method));
            return EXIT_RUNTIME;
        }
    EstResult r;
    memset(&r, 0, sizeof r);
    double t0 = now_seconds();
    char *trace = NULL;
    size_t trace_len = 0;
    FILE *tf = open_memstream(&trace, &trace_len);
    if (tf)
        est_trace_header(m, tf);
    for (int i = 0; i < m->nests; i++) {
        EstOpts eo;
        memset(&eo, 0, sizeof eo);
        eo.method = m->ests[i].method;
        eo.interaction = m->ests[i].interaction;
        eo.maxeval = m->ests[i].maxeval;
        eo.eval_only = m->ests[i].maxeval == 0;
        eo.seed = m->ests[i].seed;
        eo.nburn = m->ests[i].nburn;
        eo.niter = m->ests[i].niter;
        eo.isample = m->ests[i].isample;
        eo.sim = *so;
        if (m->ests[i].rtol == m->ests[i].rtol)
            eo.sim.rtol = m->ests[i].rtol;
        if (m->ests[i].atol == m->ests[i].atol)
            eo.sim.atol = m->ests[i].atol;
        eo.log = stderr;
        eo.trace = tf;
        eo.theta0 = r.theta;
        eo.omega0 = r.omega;
        eo.sigma0 = r.sigma;
        EstResult next;
        if (estimation_step(p, ds, &eo, &r, &next, a, d) != 0) {
            est_result_free(&r);
            if (tf)
                fclose(tf);
            free(trace);
            return EXIT_RUNTIME;
        }
        est_result_free(&r);
        r = next;
        fprintf(stderr, "qlxc: %s: OFV %.4f, %s\n", est_method_name(eo.method), r.ofv, r.message);
    }
    EstMethod last = m->ests[m->nests - 1].method;
    int stochastic = last == EST_SAEM || last == EST_IMP;
    if (stochastic && posthoc_modes(p, ds, so, &r, d) != 0) {
        est_result_free(&r);
        if (tf)
            fclose(tf);
        free(trace);
        return EXIT_RUNTIME;
    }
    double secs = now_seconds() - t0;
    const char *dir = out_dir(c, a);
    int status = EXIT_RUNTIME;
    EstCov cov, *cv = NULL;
    if (m->cov.present) {
        EstOpts eo;
        memset(&eo, 0, sizeof eo);
        eo.method = stochastic ? EST_FOCEI : last;
        eo.interaction = m->ests[m->nests - 1].interaction;
        eo.sim = *so;
        if (est_covariance(p, ds, &eo, &r, m->cov.matrix, &cov, d) == 0) {
            cv = &cov;
            fprintf(stderr, "qlxc: %s\n", cov.message);
        }
    }
    secs = now_seconds() - t0;
    SimOut pop, ind;
    const SimOut *ipred;
    if (simulate_pred_ipred(p, ds, r.theta, r.eta, NULL, so, &pop, &ind, &ipred, d) == 0) {
        TabRun tr = { p, ds, r.theta, r.eta, &pop, ipred, NULL, NULL, NULL, NULL, NULL, 0 };
        double *wr = mem_alloc(a, sizeof(double) * (size_t)(3 * ds->nrows + 1));
        EstOpts ro;
        memset(&ro, 0, sizeof ro);
        ro.method = stochastic ? EST_FOCEI : last;
        ro.interaction = m->ests[m->nests - 1].interaction;
        ro.sim = *so;
        if (est_residuals(p, ds, &ro, &r, wr, wr + ds->nrows, wr + 2 * ds->nrows, d) == 0) {
            tr.wres = wr;
            tr.cwres = wr + ds->nrows;
            tr.iwres = wr + 2 * ds->nrows;
        }
        tr.estimated = 1;
        NpdeOpts no = { 0, -1, *so };
        double *np = mem_alloc(a, sizeof(double) * (size_t)(2 * ds->nrows + 1));
        int esample, seed;
        if (np && tab_wants_npde(m, 1, &esample, &seed)) {
            no.nsamples = esample;
            no.seed = seed;
            if (npde_compute(p, ds, r.theta, r.omega, r.sigma, &no, np, np + ds->nrows, d) == 0) {
                tr.npde = np;
                tr.epred = np + ds->nrows;
            }
        }
        if (tf) {
            fclose(tf);
            tf = NULL;
            tab_put(dir, "trace.csv", trace, trace_len, d, stderr);
        }
        if (write_summary(dir, m, ds, &r, cv, tr.iwres, secs, d, a,
                          keep ? &keep->summary : NULL) == 0 &&
            write_results_json(dir, m, ds, &r, cv, tr.iwres, m->ests[m->nests - 1].method, secs,
                               d) == 0 &&
            write_estimates(dir, m, &r, cv, d) == 0 &&
            tab_write_all(&tr, dir, d, stderr) == 0 && report_plots(&tr, dir, d, stderr) == 0)
            status = EXIT_OK;
    }
    if (keep && status == EXIT_OK) {
        size_t nt = (size_t)m->nthetas, no = (size_t)(m->omega.n * m->omega.n),
               ns = (size_t)(m->sigma.n * m->sigma.n);
        keep->theta = mem_alloc(a, sizeof(double) * (nt + 1));
        keep->omega = mem_alloc(a, sizeof(double) * (no + 1));
        keep->sigma = mem_alloc(a, sizeof(double) * (ns + 1));
        memcpy(keep->theta, r.theta, sizeof(double) * nt);
        memcpy(keep->omega, r.omega, sizeof(double) * no);
        memcpy(keep->sigma, r.sigma, sizeof(double) * ns);
        keep->theta_cov = NULL;
        if (cv && cv->ok) {
            /* the THETA block of the covariance, by name */
            keep->theta_cov = mem_alloc(a, sizeof(double) * (nt * nt + 1));
            memset(keep->theta_cov, 0, sizeof(double) * (nt * nt + 1));
            int *at = mem_alloc(a, sizeof(int) * (nt + 1));
            for (size_t k = 0; k < nt; k++) {
                at[k] = -1;
                for (int j = 0; j < cv->n; j++)
                    if (strcmp(cv->names[j], m->thetas[k].name) == 0)
                        at[k] = j;
            }
            for (size_t i = 0; i < nt; i++)
                for (size_t k = 0; k < nt; k++)
                    if (at[i] >= 0 && at[k] >= 0)
                        keep->theta_cov[i * nt + k] = cv->cov[at[i] * cv->n + at[k]];
        }
    }
    sim_out_free(&pop);
    sim_out_free(&ind);
    if (cv)
        est_cov_free(cv);
    if (tf)
        fclose(tf);
    free(trace);
    est_result_free(&r);
    return status;
}

/* The VPC line of $SIMULATION, or NULL. */
static const Directive *vpc_line(const Model *m)
{
    for (int i = 0; m->sim.rec && i < m->sim.rec->ndirs; i++)
        if (kw_strcaseeq(m->sim.rec->dirs[i].name, "VPC"))
            return &m->sim.rec->dirs[i];
    return NULL;
}

/* Does $SIMULATION ask for trials (lines other than VPC)? */
static int has_trials(const Model *m)
{
    for (int i = 0; m->sim.rec && i < m->sim.rec->ndirs; i++)
        if (!kw_strcaseeq(m->sim.rec->dirs[i].name, "VPC"))
            return 1;
    return 0;
}

/* $SIMULATION N=... with its directive lines: the visual predictive check
 * when asked, then Monte Carlo trials, at the given parameters
 * (docs/simulation.md). */
static int run_monte_carlo(const Cli *c, const Prog *p, const Dataset *ds, const SimOpts *so,
                           const Estimates *e, Arena *a, Diag *d)
{
    const Model *m = p->m;
    const Directive *vl = vpc_line(m);
    if (vl) {
        VpcResult v;
        uint64_t seed = m->sim.seed >= 0 ? (uint64_t)m->sim.seed : 12345;
        int rc = vpc_run(p, ds, vl, e->theta, e->omega, e->sigma, seed, so, &v, d);
        if (rc != 0)
            return rc > 0 ? EXIT_MODEL : EXIT_RUNTIME;
        int outside = 0, checks = 0;
        for (int j = 0; j < v.npanel; j++)
            outside += v.panel[j].outside, checks += 3 * v.panel[j].nbin;
        fprintf(stderr, "qlxc: VPC: %d of %d observed percentiles outside their 95%% intervals "
                        "(%d simulations)\n", outside, checks, v.nrep);
        int st = vpc_write(&v, out_dir(c, a), d, stderr);
        vpc_result_free(&v);
        if (st != 0)
            return EXIT_RUNTIME;
        if (!has_trials(m))
            return EXIT_OK;
    }
    McResult r;
    int rc = mc_run(p, ds, e->theta, e->theta_cov, e->omega, e->sigma, so, &r, d, stderr);
    if (rc != 0)
        return rc > 0 ? EXIT_MODEL : EXIT_RUNTIME;
    fprintf(stderr, "qlxc: Monte Carlo: %ld virtual subjects in %.2f s\n", r.subjects, r.seconds);
    (void)m;
    int st = mc_write(&r, out_dir(c, a), e->summary, d, stderr) == 0 ? EXIT_OK : EXIT_RUNTIME;
    mc_result_free(&r);
    return st;
}

/* $SIMULATION without N or directives: NONMEM's ONLYSIM.  Each subject's
 * ETAs from OMEGA and (unless RESIDUAL=NO) each record's EPSs from
 * SIGMA, at the initial THETAs; the simulated Y replaces DV on the
 * observation records, so the tables (DV, ETAS) are a new dataset drawn
 * from the model at the design of $DATA. */
static int simulate_dataset(const Cli *c, const Prog *p, Dataset *ds, const SimOpts *so,
                            Arena *a, Diag *d)
{
    const Model *m = p->m;
    size_t ne = (size_t)m->omega.n, neps = (size_t)m->sigma.n;
    double *theta = initial_thetas(a, m);
    double *eta = mem_alloc(a, sizeof(double) * ((size_t)ds->nsubjects * ne + 1));
    double *eps = mem_alloc(a, sizeof(double) * ((size_t)ds->nrows * neps + 1));
    if (!theta || !eta || !eps)
        return EXIT_RUNTIME;
    uint64_t seed = (uint64_t)(m->sim.seed >= 0 ? m->sim.seed : 12345);
    if (sim_draw(p, ds, m->omega.cov, m->sigma.cov, seed, eta, m->sim.residual ? eps : NULL) != 0) {
        diag_report(d, DIAG_ERROR, m->sim.rec->name_span, NULL,
                    "OMEGA or SIGMA is not positive semi-definite: nothing to draw from");
        return EXIT_MODEL;
    }
    fprintf(stderr, "qlxc: simulating the dataset's records: ETAs from OMEGA, %s, seed %llu\n",
            m->sim.residual ? "EPSs from SIGMA" : "no residual error (RESIDUAL=NO)",
            (unsigned long long)seed);
    SimOut ind, pop;
    const SimOut *sim;
    int status = EXIT_RUNTIME;
    if (simulate_pred_ipred(p, ds, theta, eta, m->sim.residual ? eps : NULL, so, &pop, &ind,
                            &sim, d) == 0) {
        for (int k = 0; k < ds->nrows; k++) {
            DataRow *r = &ds->rows[k];
            if (r->evid == 0 && r->mdv == 0)
                r->dv = sim->y[k];
        }
        TabRun tr = { p, ds, theta, eta, &pop, sim, NULL, NULL, NULL, NULL, NULL, 0 };
        /* with $ESTIMATION the simulated data are fitted next (the
         * caller), and the tables are the fit's */
        if (m->nests > 0 || tab_write_all(&tr, out_dir(c, a), d, stderr) == 0)
            status = EXIT_OK;
    }
    sim_out_free(&pop);
    sim_out_free(&ind);
    return status;
}

/* The $LUA scripts, each relative to the model file. */
static void lua_paths(const Cli *c, const Model *m, Arena *a, LuaScripts *out)
{
    const char **paths = mem_alloc(a, sizeof *paths * (size_t)(m->nlua + 1));
    const char *model = c->files[0], *slash = strrchr(model, '/');
    for (int i = 0; i < m->nlua; i++) {
        const char *rel = m->lua_paths[i];
        size_t dl = slash && rel[0] != '/' ? (size_t)(slash - model) + 1 : 0;
        char *path = mem_alloc(a, dl + strlen(rel) + 1);
        memcpy(path, model, dl);
        strcpy(path + dl, rel);
        paths[i] = path;
    }
    out->paths = paths;
    out->n = m->nlua;
    out->model = model;
    memset(&out->o, 0, sizeof out->o);
    out->o.unsafe = c->lua_unsafe;
    out->o.stdlib = c->stdlib;
    out->o.nstdlib = c->nstdlib;
    if (c->lua_unsafe)
        fprintf(stderr, "qlxc: --lua-unsafe: the $LUA scripts run with every Lua library and "
                        "no limits\n");
}

/* The subject hook's derived covariates into ds, before any engine runs
 * (derive.h).  0, or -1 after reporting. */
static int lua_derive(const Model *m, const LuaScripts *s, Dataset *ds, Diag *d)
{
    if (!m->lua_subject)
        return 0;
    char why[768];
    Hook *h = hook_new(s->paths, s->n, &s->o, why, sizeof why);
    if (!h) {
        fprintf(stderr, "qlxc: %s: $LUA: %s\n", s->model, why);
        return -1;
    }
    int rc = 0;
    if (!hook_has(h, m->lua_subject)) {
        diag_report(d, DIAG_ERROR, m->lua_subject_span, "define it in the $LUA script",
                    "the $LUA scripts define no function '%s'", m->lua_subject);
        rc = -1;
    } else {
        rc = derive_data(h, m, s->model, ds, d);
    }
    hook_free(&h);
    return rc;
}

/* The scripts loaded once here so that a script that does not load, or
 * lacks a function the model calls, is reported before anything runs;
 * then the derived covariates.  0, or -1 after reporting. */
static int lua_scripts(const Cli *c, const Model *m, const Prog *p, Dataset *ds, Arena *a,
                       Diag *d, LuaScripts *out)
{
    lua_paths(c, m, a, out);
    char why[768];
    LCall *lc = lcall_new(p, out, why, sizeof why);
    if (!lc) {
        fprintf(stderr, "qlxc: %s: $LUA: %s\n", out->model, why);
        return -1;
    }
    lcall_free(&lc);
    return lua_derive(m, out, ds, d);
}

/* $LOSS or METHOD=ADAM: physics-informed training of the hybrid model
 * (docs/pinn.md). */
static int run_training(const Cli *c, Unit *u)
{
    const Model *m = u->model;
    const ModelEst *est = NULL;
    for (int i = 0; i < m->nests && !est; i++)
        if (m->ests[i].method == EST_ADAM || m->ests[i].method == EST_LBFGS)
            est = &m->ests[i];
    if (!est) {
        fprintf(stderr, "qlxc: %s: $LOSS needs $ESTIMATION METHOD=ADAM or METHOD=LBFGS to "
                        "train the networks\n", c->files[0]);
        return EXIT_MODEL;
    }
    if (!m->data.path) {
        fprintf(stderr, "qlxc: %s has no $DATA: nothing to train on\n", c->files[0]);
        return EXIT_MODEL;
    }
    Dataset *ds = data_read(u->arena, u->diag, m, c->files[0]);
    if (!ds)
        return EXIT_MODEL;
    if (m->lua_subject) {
        LuaScripts lua;
        lua_paths(c, m, u->arena, &lua);
        if (lua_derive(m, &lua, ds, u->diag) != 0)
            return EXIT_MODEL;
    }
    fprintf(stderr, "qlxc: %s: %d subjects, %d records\n", ds->path, ds->nsubjects, ds->nrows);
    PinnOpts po = { est, stderr };
    PinnResult r;
    if (pinn_train(m, ds, &po, &r, u->diag) != 0)
        return EXIT_RUNTIME;
    const char *dir = out_dir(c, u->arena);
    int st = (c->export_only ? pinn_write_qasm(m, &r, dir, u->diag, stderr)
                             : pinn_write(m, &r, dir, u->diag, stderr)) == 0
                 ? EXIT_OK
                 : EXIT_RUNTIME;
    pinn_result_free(&r);
    return st;
}

static int cmd_run(const Cli *c)
{
    Unit u;
    if (compile(&u, c, c->files[0], 2, 0) != 0) {
        unit_free(&u);
        return EXIT_MODEL;
    }
    for (int i = 0; i < c->ninits; i++) {
        int n[4];
        if (data_read_inits(u.diag, c->inits[i], u.model, n) != 0) {
            unit_free(&u);
            return EXIT_MODEL;
        }
        fprintf(stderr, "qlxc: initial values from %s: %d THETA, %d OMEGA and %d SIGMA "
                        "elements (%d rows not in this model)\n",
                c->inits[i], n[0], n[1], n[2], n[3]);
    }
    const Model *m = u.model;
    int sim_dataset = m->sim.rec && m->sim.rec->ndirs == 0 && m->sim.n < 0;
    int train = m->loss.rec != NULL;
    for (int i = 0; i < m->nests; i++)
        train |= m->ests[i].method == EST_ADAM || m->ests[i].method == EST_LBFGS;
    if (c->export_only && !train) {
        fprintf(stderr, "qlxc: %s: nothing to export: export --qasm writes the circuits a "
                        "model trains ($LOSS, METHOD=ADAM or LBFGS)\n", c->files[0]);
        unit_free(&u);
        return EXIT_MODEL;
    }
    if (train && m->nluafns > 0) {
        fprintf(stderr, "qlxc: %s: lua.%s(...) in a trained model ($LOSS) is not built yet; "
                        "compute it in a script's data step or remove it\n",
                c->files[0], m->luafns[0].name);
        unit_free(&u);
        return EXIT_RUNTIME;
    }
    if (train && !m->sim.rec) {
        int st = run_training(c, &u);
        unit_free(&u);
        return st;
    }
    int mc = m->sim.rec && !sim_dataset;
    Estimates est = { initial_thetas(u.arena, m), m->omega.cov, m->sigma.cov, NULL, NULL };
    if (m->loss.rec) {
        /* the engines arrive with later work; say so plainly */
        fprintf(stderr, "qlxc: %s: %s is not built in this version; remove it to simulate "
                        "the model at its dataset's records\n", c->files[0],
                "training ($LOSS) with $SIMULATION");
        unit_free(&u);
        return EXIT_RUNTIME;
    }
    if (!m->data.path) {
        fprintf(stderr, "qlxc: %s has no $DATA: nothing to simulate at\n", c->files[0]);
        unit_free(&u);
        return EXIT_MODEL;
    }
    Prog *p = prog_compile(u.arena, u.diag, m);
    Dataset *ds = p ? data_read(u.arena, u.diag, m, c->files[0]) : NULL;
    if (!ds) {
        prog_free(p);
        unit_free(&u);
        return EXIT_MODEL;
    }
    SimOpts o = sim_options(m, c);
    LuaScripts lua;
    if (m->nlua > 0) {
        if (lua_scripts(c, m, p, ds, u.arena, u.diag, &lua) != 0) {
            prog_free(p);
            unit_free(&u);
            return EXIT_MODEL;
        }
        o.lua = &lua;
    }
    fprintf(stderr, "qlxc: %s: %d subjects, %d records\n", ds->path, ds->nsubjects, ds->nrows);
    log_solver(p, &o, c->files[0]);
    if (sim_dataset) {
        int st = simulate_dataset(c, p, ds, &o, u.arena, u.diag);
        if (st == EXIT_OK && m->nests > 0)
            st = run_estimation(c, p, ds, &o, u.arena, u.diag, NULL);
        prog_free(p);
        unit_free(&u);
        return st;
    }
    if (m->nests > 0) {
        int st = run_estimation(c, p, ds, &o, u.arena, u.diag, mc ? &est : NULL);
        if (st == EXIT_OK && mc)
            st = run_monte_carlo(c, p, ds, &o, &est, u.arena, u.diag);
        prog_free(p);
        unit_free(&u);
        return st;
    }
    if (mc) {
        int st = run_monte_carlo(c, p, ds, &o, &est, u.arena, u.diag);
        prog_free(p);
        unit_free(&u);
        return st;
    }
    double *theta = initial_thetas(u.arena, m);
    int status = EXIT_RUNTIME;
    /* without --etas the ETAs are zero, so PRED and IPRED agree */
    double *eta = NULL;
    if (c->etas) {
        eta = mem_alloc(u.arena, sizeof(double) *
                                     ((size_t)ds->nsubjects * (size_t)m->omega.n + 1));
        if (!eta || data_read_etas(u.diag, c->etas, m, ds, eta) != 0)
            eta = NULL, status = EXIT_MODEL;
        else
            fprintf(stderr, "qlxc: the subjects' ETAs from %s\n", c->etas);
    }
    if (theta && (!c->etas || eta)) {
        SimOut pop, ind;
        const SimOut *ipred;
        if (simulate_pred_ipred(p, ds, theta, eta, NULL, &o, &pop, &ind, &ipred, u.diag) == 0) {
            TabRun tr = { p, ds, theta, eta, &pop, ipred, NULL, NULL, NULL, NULL, NULL, 0 };
            if (tab_write_all(&tr, out_dir(c, u.arena), u.diag, stderr) == 0)
                status = EXIT_OK;
        }
        sim_out_free(&pop);
        sim_out_free(&ind);
    }
    prog_free(p);
    unit_free(&u);
    return status;
}

static int cmd_version(void)
{
    char sv[32] = "?";
    if (SUNDIALSGetVersion(sv, (int)sizeof sv) != 0)
        strcpy(sv, "?");
    printf("qlxc %s\n", QLX_VERSION);
    printf("  %s\n", LUA_RELEASE);
    printf("  SUNDIALS %s (CVODES)\n", sv);
    printf("  OpenBLAS %s\n", openblas_get_config());
    return EXIT_OK;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fputs(usage_text, stderr);
        return EXIT_USAGE;
    }
    /* Qlynix runs subjects on threads of its own; OpenBLAS threads inside
     * each small solve would only contend with them */
    openblas_set_num_threads(1);
    const char *cmd = argv[1];
    if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
        const char *h = argc > 2 ? command_help(argv[2]) : NULL;
        if (argc > 2 && !h)
            return usage_error("no command '%s'", argv[2]);
        fputs(h ? h : usage_text, stdout);
        return EXIT_OK;
    }
    if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0)
        return cmd_version();
    if (!command_help(cmd))
        return usage_error("unknown command '%s'", cmd);

    Cli c;
    memset(&c, 0, sizeof c);
    Arena *a = mem_arena_new();
    int r = parse_args(&c, argc - 2, argv + 2, cmd);
    if (r != 0) {
        mem_arena_free(&a);
        return r < 0 ? EXIT_OK : r;
    }
    default_stdlib(&c, a);
    c.dist.size = 1;
    if (c.mpi) {
        char why[200];
        if (dist_start(&c.dist, &argc, &argv, why, sizeof why) != 0) {
            fprintf(stderr, "qlxc: --mpi: %s\n", why);
            dist_stop(&c.dist);
            mem_arena_free(&a);
            return EXIT_USAGE;
        }
        /* every rank runs the same engines on the same numbers; rank 0
         * speaks for them all and writes the outputs */
        if (c.dist.rank != 0 && (!freopen("/dev/null", "w", stderr) ||
                                 !freopen("/dev/null", "w", stdout))) {
            dist_stop(&c.dist);
            mem_arena_free(&a);
            return EXIT_RUNTIME;
        }
    }
    if (strcmp(cmd, "check") == 0)
        r = cmd_check(&c);
    else if (strcmp(cmd, "fmt") == 0)
        r = cmd_fmt(&c);
    else if (strcmp(cmd, "graph") == 0)
        r = cmd_graph(&c);
    else
        r = cmd_run(&c);
    dist_stop(&c.dist);
    mem_arena_free(&a);
    return r;
}
