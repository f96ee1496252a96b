/*
 * treeval.c -- direct evaluation of a checked model's syntax tree.
 *
 * The reference semantics of the code records, as plainly as C says
 * them: statements run in order, an if runs the first arm whose
 * condition is nonzero, names are read through the refs sema filled in.
 * The scalar maths is written here again rather than borrowed from
 * graph.c, so that a test comparing the two compares two independent
 * implementations; where a formula has a numerically careful form (the
 * tails of softplus and expit) this file uses its own.
 */
#include "treeval.h"

#include <math.h>
#include <string.h>

typedef struct {
    const Model *m;
    RecKind rec;
    const GInputs *in;
    double *vars;
    double *dadt;
    int bad;              /* met something it cannot evaluate */
} Eval;

static double input(const Eval *E, GInKind k, int i)
{
    const double *v = E->in->v[k];
    return v ? v[i] : NAN;
}

static double eval(Eval *E, const Expr *e);

/* log(1 + e^x) without overflow: for x > 0 it is x + log(1 + e^-x). */
static double softplus(double x)
{
    return x > 0 ? x + log1p(exp(-x)) : log1p(exp(x));
}

/* 1 / (1 + e^-x), written with e^-|x| so neither tail overflows. */
static double expit(double x)
{
    double z = exp(-fabs(x));
    return x >= 0 ? 1.0 / (1.0 + z) : z / (1.0 + z);
}

/* The standard normal CDF through the complementary error function,
 * which keeps the lower tail accurate. */
static double phi(double x)
{
    return 0.5 * erfc(-x / sqrt(2.0));
}

static double call1(const char *f, double x, int *ok)
{
    static const char *const names[] = {
        "exp", "log", "log10", "sqrt", "abs", "sin", "cos", "tanh",
        "logit", "expit", "softplus", "phi"
    };
    int k = -1;
    for (int i = 0; i < (int)(sizeof names / sizeof names[0]); i++)
        if (kw_strcaseeq(f, names[i]))
            k = i;
    switch (k) {
    case 0: return exp(x);
    case 1: return log(x);
    case 2: return log10(x);
    case 3: return sqrt(x);
    case 4: return fabs(x);
    case 5: return sin(x);
    case 6: return cos(x);
    case 7: return tanh(x);
    case 8: return log(x) - log1p(-x);
    case 9: return expit(x);
    case 10: return softplus(x);
    case 11: return phi(x);
    default:
        *ok = 0;
        return NAN;
    }
}

static double eval_call(Eval *E, const Expr *e)
{
    if (e->ref.kind != REF_FUNC || e->nargs < 1) {
        E->bad = 1;
        return NAN;
    }
    double x = eval(E, e->args[0]);
    if (kw_strcaseeq(e->text, "pow"))
        return e->nargs == 2 ? pow(x, eval(E, e->args[1])) : NAN;
    if (kw_strcaseeq(e->text, "min") || kw_strcaseeq(e->text, "max")) {
        int mx = kw_strcaseeq(e->text, "max");
        for (int i = 1; i < e->nargs; i++) {
            double y = eval(E, e->args[i]);
            x = mx ? fmax(x, y) : fmin(x, y);
        }
        return x;
    }
    int ok = 1;
    double r = call1(e->text, x, &ok);
    if (!ok)
        E->bad = 1;
    return r;
}

static double eval_name(Eval *E, const Expr *e)
{
    int i = e->ref.index;
    switch (e->ref.kind) {
    case REF_THETA: return input(E, GIN_THETA, i);
    case REF_ETA:   return input(E, GIN_ETA, i);
    case REF_EPS:   return input(E, GIN_EPS, i);
    case REF_CMT:   return input(E, GIN_STATE, i);
    case REF_DATA:  return input(E, GIN_DATA, i);
    case REF_TIME:  return input(E, GIN_TIME, 0);
    case REF_VAR:
        return E->m->vars[i].rec == E->rec ? E->vars[i] : input(E, GIN_PARAM, i);
    default:
        E->bad = 1;
        return NAN;
    }
}

static double eval_binary(Eval *E, const Expr *e)
{
    double x = eval(E, e->lhs), y = eval(E, e->rhs);
    switch (e->op) {
    case OP_ADD: return x + y;
    case OP_SUB: return x - y;
    case OP_MUL: return x * y;
    case OP_DIV: return x / y;
    case OP_POW: return pow(x, y);
    case OP_LT:  return x < y;
    case OP_LE:  return x <= y;
    case OP_GT:  return x > y;
    case OP_GE:  return x >= y;
    case OP_EQ:  return x == y;
    case OP_NE:  return x != y;
    /* both sides are evaluated, as the graph does; there are no side effects */
    case OP_AND: return x != 0 && y != 0;
    case OP_OR:  return x != 0 || y != 0;
    default:
        E->bad = 1;
        return NAN;
    }
}

static double eval(Eval *E, const Expr *e)
{
    if (!e) {
        E->bad = 1;
        return NAN;
    }
    switch (e->kind) {
    case EX_NUM:
        return e->num;
    case EX_NAME: case EX_INDEXED:
        return eval_name(E, e);
    case EX_UNARY: {
        double x = eval(E, e->lhs);
        return e->op == OP_NEG ? -x : e->op == OP_NOT ? (x == 0) : x;
    }
    case EX_BINARY:
        return eval_binary(E, e);
    case EX_CALL:
        return eval_call(E, e);
    case EX_TUPLE:
        break;
    }
    E->bad = 1;
    return NAN;
}

static void run(Eval *E, Stmt *const *v, int n)
{
    for (int i = 0; i < n; i++) {
        const Stmt *st = v[i];
        if (!st)
            continue;
        switch (st->kind) {
        case ST_ASSIGN:
            if (st->ref.kind == REF_VAR)
                E->vars[st->ref.index] = eval(E, st->value);
            break;
        case ST_DDT:
            if (st->ref.kind == REF_CMT && E->dadt)
                E->dadt[st->ref.index] = eval(E, st->value);
            break;
        case ST_IF:
            for (int k = 0; k < st->narms; k++) {
                const IfArm *arm = &st->arms[k];
                if (!arm->cond || eval(E, arm->cond) != 0) {
                    run(E, arm->body, arm->nbody);
                    break;
                }
            }
            break;
        }
    }
}

int treeval_run(const Model *m, RecKind rec, const GInputs *in, double *vars, double *dadt)
{
    const ModelCode *code = m ? sema_code(m, rec) : NULL;
    if (!code || !code->rec || !in || !vars)
        return -1;
    Eval E = { m, rec, in, vars, dadt, 0 };
    for (int i = 0; i < m->nvars; i++)
        if (m->vars[i].rec == rec)
            vars[i] = 0;
    if (dadt)
        for (int c = 0; c < m->ncmts; c++)
            dadt[c] = 0;
    run(&E, code->stmts, code->n);
    return E.bad ? -1 : 0;
}
