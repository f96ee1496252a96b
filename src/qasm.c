/*
 * qasm.c -- OpenQASM 2.0 out of and into qc.h circuits.
 *
 * The writer turns each gate into its qelib1.inc statement inside one
 * `gate` definition whose parameters are the circuit's inputs.
 *
 * The reader lexes the whole text into tokens, then parses by recursive
 * descent.  A gate definition is checked when it is read (with its
 * parameters unknown) and kept as a token range; a call expands it by
 * parsing that range again with the arguments bound, so nested user gates
 * cost nothing to support.  Angles are evaluated as affine forms c + a*x_k
 * in at most one parameter, the only angles the simulator has; anything
 * else (a product of parameters, sin of one) is an error at its position.
 * Gates are collected first and the circuit built at the end, when the
 * register sizes are all known.
 */
#include "qasm.h"

#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

static const double PI = 3.14159265358979323846;

/* --- writing -------------------------------------------------------------------- */

/* A QASM 2.0 real needs a decimal point ("1e-05" is not one). */
static int fmt_num(char *buf, size_t n, double v)
{
    if (!isfinite(v))
        return 0;
    snprintf(buf, n, "%.17g", v);
    if (strchr(buf, '.'))
        return 1;
    char *e = strpbrk(buf, "eE"), tail[32] = "";
    if (e) {
        snprintf(tail, sizeof tail, "%s", e);
        *e = '\0';
    }
    size_t len = strlen(buf);
    snprintf(buf + len, n - len, ".0%s", tail);
    return 1;
}

static int write_angle(FILE *f, const QcAngle *a, const double *theta)
{
    char s[64], b[64];
    if (a->src == QC_INPUT && a->scale != 0) {
        if (a->scale == 1)
            fprintf(f, "x%d", a->index);
        else if (a->scale == -1)
            fprintf(f, "-x%d", a->index);
        else if (fmt_num(s, sizeof s, a->scale))
            fprintf(f, "%s*x%d", s, a->index);
        else
            return 0;
        if (a->shift != 0) {
            if (!fmt_num(b, sizeof b, fabs(a->shift)))
                return 0;
            fprintf(f, " %c %s", a->shift < 0 ? '-' : '+', b);
        }
        return 1;
    }
    double v = a->src == QC_PARAM ? a->scale * theta[a->index] + a->shift : a->shift;
    if (!fmt_num(s, sizeof s, v))
        return 0;
    fputs(s, f);
    return 1;
}

static const char *const qelib_names[QC_NGATES] = {
    "rx", "ry", "rz", "h", "x", "y", "z", "s", "t", "cx", "cz", "crx", "cry", "crz", "swap",
};

static int valid_ident(const char *s)
{
    if (!s || !(islower((unsigned char)*s)))
        return 0;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '_')
            return 0;
    return 1;
}

int qasm_write(const QcCircuit *c, const double *theta, const double *x, const char *name,
               FILE *f, char *err)
{
    int nq = qc_nqubits(c), ni = qc_ninputs(c);
    if (!name)
        name = "qlx";
    if (!valid_ident(name)) {
        if (err)
            snprintf(err, QASM_ERRLEN, "'%s' is not an OpenQASM gate name (a lower-case letter, "
                     "then letters, digits, _)", name);
        return QC_EINVAL;
    }
    if (qc_amplitude(c, NULL) > 0) {
        if (err)
            snprintf(err, QASM_ERRLEN, "an amplitude embedding has no OpenQASM 2.0 form");
        return QC_EINVAL;
    }
    fputs("OPENQASM 2.0;\ninclude \"qelib1.inc\";\n", f);
    fprintf(f, "// Qlynix circuit: %d qubit%s (q0 is wire 0, the most significant bit), "
               "%d input%s (x0, ...), %d trained parameter%s written as numbers\n",
            nq, nq == 1 ? "" : "s", ni, ni == 1 ? "" : "s", qc_nparams(c),
            qc_nparams(c) == 1 ? "" : "s");
    char *paulis = malloc((size_t)nq + 1);
    if (!paulis) {
        if (err)
            snprintf(err, QASM_ERRLEN, "out of memory");
        return QC_ENOMEM;
    }
    for (int o = 0; o < qc_nobs(c); o++) {
        fprintf(f, "// output %d:", o);
        for (int t = 0; t < qc_obs_nterms(c, o); t++) {
            double coeff;
            qc_obs_get_term(c, o, t, &coeff, paulis);
            fprintf(f, " %+.17g", coeff);
            for (int w = 0; w < nq; w++)
                if (paulis[w] != 'I')
                    fprintf(f, " %c[%d]", paulis[w], w);
        }
        fputc('\n', f);
    }
    free(paulis);
    fprintf(f, "gate %s", name);
    if (ni > 0) {
        fputc('(', f);
        for (int k = 0; k < ni; k++)
            fprintf(f, "%sx%d", k ? "," : "", k);
        fputc(')', f);
    }
    for (int w = 0; w < nq; w++)
        fprintf(f, "%sq%d", w ? "," : " ", w);
    fputs("\n{\n", f);
    for (int i = 0; i < qc_nops(c); i++) {
        QcOp op;
        qc_op(c, i, &op);
        fprintf(f, "  %s", qelib_names[op.gate]);
        if (qc_gate_has_angle(op.gate)) {
            fputc('(', f);
            if (!write_angle(f, &op.angle, theta)) {
                if (err)
                    snprintf(err, QASM_ERRLEN, "gate %d (%s): its angle is not finite", i,
                             qc_gate_name(op.gate));
                return QC_EINVAL;
            }
            fputc(')', f);
        }
        fprintf(f, " q%d", op.wire[0]);
        if (op.wire[1] >= 0)
            fprintf(f, ",q%d", op.wire[1]);
        fputs(";\n", f);
    }
    fputs("}\n", f);
    fprintf(f, "qreg q[%d];\n", nq);
    if (x) {
        char s[64];
        fputs(name, f);
        if (ni > 0) {
            fputc('(', f);
            for (int k = 0; k < ni; k++) {
                if (!fmt_num(s, sizeof s, x[k])) {
                    if (err)
                        snprintf(err, QASM_ERRLEN, "input %d is not finite", k);
                    return QC_EINVAL;
                }
                fprintf(f, "%s%s", k ? "," : "", s);
            }
            fputc(')', f);
        }
        for (int w = 0; w < nq; w++)
            fprintf(f, "%sq[%d]", w ? "," : " ", w);
        fputs(";\n", f);
    }
    if (ferror(f)) {
        if (err)
            snprintf(err, QASM_ERRLEN, "write error");
        return QC_EINVAL;
    }
    return QC_OK;
}

/* --- reading: tokens ------------------------------------------------------------------ */

enum { T_EOF, T_ID, T_REAL, T_INT, T_STR, T_ARROW, T_EQ, T_PUNCT };
enum { MAX_DEPTH = 100, MAX_ARGS = 64 };
#define MAX_EXPANDED 1000000L

typedef struct {
    int kind;
    int pos, len, line, col;
    double num;
} Tok;

/* c + a * x_var: var -1 a constant, -2 unknown (a definition being checked) */
typedef struct {
    double c, a;
    int var;
} Aff;

typedef struct {
    int name;               /* token of the name */
    int nparams, nqargs;
    int param0, qarg0;      /* tokens of the first parameter and qubit argument */
    int body, end;          /* the body's tokens: [body, end) */
} GateDef;

typedef struct {
    QcGate g;
    int w0, w1;
    Aff a;
} Emit;

typedef struct {
    int name, size, first;  /* first: its first wire */
} Reg;

typedef struct {
    const char *src;
    char *err;
    int failed;             /* QC_OK, or the first error's code */
    Tok *tok;
    int ntok, cap, pos;
    GateDef *defs;
    int ndefs, capdefs;
    Reg *regs;
    int nregs, capregs, nqubits;
    Emit *em;
    int nem, capem;
    int emit;               /* gates reached now go to em */
    int depth;
    const char *target;     /* the gate read as the circuit, or NULL */
    int target_nq, target_np, found;
    long fail_after;        /* QLX_FAULTS: allocations left before one fails; <0 never */
    long expanded;          /* gate calls expanded so far (nested gates can multiply) */
} P;

/* What names mean inside a gate body being expanded (def NULL: top level). */
typedef struct {
    const GateDef *def;
    const Aff *params;
    const int *wires;
} Env;

static int fail(P *p, const Tok *t, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int fail(P *p, const Tok *t, const char *fmt, ...)
{
    if (p->failed)
        return p->failed;
    p->failed = QC_EINVAL;
    if (p->err) {
        int n = snprintf(p->err, QASM_ERRLEN, "%d:%d: ", t->line, t->col);
        va_list ap;
        va_start(ap, fmt);
        if (n >= 0 && n < QASM_ERRLEN)
            vsnprintf(p->err + n, QASM_ERRLEN - (size_t)n, fmt, ap);
        va_end(ap);
    }
    return p->failed;
}

static int oom(P *p)
{
    if (!p->failed && p->err)
        snprintf(p->err, QASM_ERRLEN, "out of memory");
    if (!p->failed)
        p->failed = QC_ENOMEM;
    return p->failed;
}

/* Grow *v (n used, *cap) to hold one more element of size sz. */
static int push_room(P *p, void **v, int n, int *cap, size_t sz)
{
    if (n < *cap)
        return QC_OK;
    int nc = *cap ? 2 * *cap : 16;
    void *q = NULL;
    if (p->fail_after != 0)
        q = realloc(*v, (size_t)nc * sz);
    if (p->fail_after > 0)
        p->fail_after--;
    if (!q)
        return oom(p);
    *v = q;
    *cap = nc;
    return QC_OK;
}

static int is_tok(const P *p, const Tok *t, const char *s)
{
    return (t->kind == T_ID || t->kind == T_PUNCT || t->kind == T_ARROW || t->kind == T_EQ) &&
           (int)strlen(s) == t->len && memcmp(p->src + t->pos, s, (size_t)t->len) == 0;
}

static int same_text(const P *p, int a, int b)
{
    const Tok *x = &p->tok[a], *y = &p->tok[b];
    return x->len == y->len && memcmp(p->src + x->pos, p->src + y->pos, (size_t)x->len) == 0;
}

/* "'text'" or "end of input", for messages */
static const char *show(const P *p, const Tok *t, char *buf, size_t n)
{
    if (t->kind == T_EOF)
        snprintf(buf, n, "end of input");
    else
        snprintf(buf, n, "'%.*s'", t->len > 40 ? 40 : t->len, p->src + t->pos);
    return buf;
}

static int lex(P *p)
{
    const char *s = p->src;
    int i = 0, line = 1, col0 = 0;
    for (;;) {
        while (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\n' ||
               (s[i] == '/' && s[i + 1] == '/')) {
            if (s[i] == '/')
                while (s[i] && s[i] != '\n')
                    i++;
            else if (s[i++] == '\n')
                line++, col0 = i;
        }
        if (push_room(p, (void **)&p->tok, p->ntok, &p->cap, sizeof *p->tok))
            return p->failed;
        Tok *t = &p->tok[p->ntok++];
        memset(t, 0, sizeof *t);
        t->pos = i, t->line = line, t->col = i - col0 + 1;
        unsigned char ch = (unsigned char)s[i];
        if (!ch) {
            t->kind = T_EOF;
            return QC_OK;
        }
        if (isalpha(ch) || ch == '_') {
            while (isalnum((unsigned char)s[i]) || s[i] == '_')
                i++;
            t->kind = T_ID;
        } else if (isdigit(ch) || (ch == '.' && isdigit((unsigned char)s[i + 1]))) {
            /* [0-9]+ (. [0-9]*)? ([eE][+-]?[0-9]+)?  or  . [0-9]+ ... */
            int real = 0;
            while (isdigit((unsigned char)s[i]))
                i++;
            if (s[i] == '.') {
                real = 1;
                for (i++; isdigit((unsigned char)s[i]); i++)
                    ;
            }
            if ((s[i] == 'e' || s[i] == 'E') &&
                (isdigit((unsigned char)s[i + 1]) ||
                 ((s[i + 1] == '+' || s[i + 1] == '-') && isdigit((unsigned char)s[i + 2])))) {
                real = 1;
                for (i += 2; isdigit((unsigned char)s[i]); i++)
                    ;
            }
            char buf[128];
            int n = i - t->pos;
            if (n >= (int)sizeof buf)
                return fail(p, t, "number too long");
            memcpy(buf, s + t->pos, (size_t)n);
            buf[n] = '\0';
            t->num = strtod(buf, NULL);
            t->kind = real ? T_REAL : T_INT;
        } else if (ch == '"') {
            for (i++; s[i] && s[i] != '"' && s[i] != '\n'; i++)
                ;
            if (s[i] != '"')
                return fail(p, t, "unterminated string");
            i++;
            t->kind = T_STR;
        } else if ((ch == '-' && s[i + 1] == '>') || (ch == '=' && s[i + 1] == '=')) {
            t->kind = ch == '-' ? T_ARROW : T_EQ;
            i += 2;
        } else if (strchr(";,()[]{}+-*/^", ch)) {
            t->kind = T_PUNCT;
            i++;
        } else {
            t->len = 1;
            if (isprint(ch))
                return fail(p, t, "unexpected character '%c'", ch);
            return fail(p, t, "unexpected byte 0x%02x", ch);
        }
        t->len = i - t->pos;
    }
}

/* --- reading: expressions -------------------------------------------------------------- */

static Tok *cur(P *p) { return &p->tok[p->pos]; }

static int accept(P *p, const char *s)
{
    if (is_tok(p, cur(p), s)) {
        p->pos++;
        return 1;
    }
    return 0;
}

static int expect(P *p, const char *s, const char *after)
{
    char b[64];
    if (accept(p, s))
        return QC_OK;
    return fail(p, cur(p), "expected '%s' %s, found %s", s, after, show(p, cur(p), b, sizeof b));
}

static int expect_id(P *p, const char *what, int *tok)
{
    char b[64];
    if (cur(p)->kind != T_ID)
        return fail(p, cur(p), "expected %s, found %s", what, show(p, cur(p), b, sizeof b));
    *tok = p->pos++;
    return QC_OK;
}

static int parse_exp(P *p, const Env *env, Aff *v);

static int combine_vars(P *p, const Tok *at, const Aff *x, const Aff *y, int *var)
{
    if (x->var == -2 || y->var == -2)
        *var = -2;
    else if (x->var >= 0 && y->var >= 0 && x->var != y->var)
        return fail(p, at, "this angle depends on two parameters (x%d and x%d); the simulator's "
                    "angles are affine in one", x->var, y->var);
    else
        *var = x->var >= 0 ? x->var : y->var;
    return QC_OK;
}

static const struct {
    const char *name;
    double (*fn)(double);
} funcs[] = { { "sin", sin }, { "cos", cos }, { "tan", tan }, { "exp", exp }, { "ln", log },
              { "sqrt", sqrt } };

/* primary := real | int | pi | name | func '(' exp ')' | '(' exp ')' */
static int parse_primary(P *p, const Env *env, Aff *v)
{
    Tok *t = cur(p);
    char b[64];
    *v = (Aff){ 0, 0, -1 };
    if (t->kind == T_REAL || t->kind == T_INT) {
        p->pos++;
        v->c = t->num;
        return QC_OK;
    }
    if (accept(p, "(")) {
        if (parse_exp(p, env, v))
            return p->failed;
        return expect(p, ")", "to close '('");
    }
    if (t->kind != T_ID)
        return fail(p, t, "expected a number, a parameter or '(', found %s",
                    show(p, t, b, sizeof b));
    p->pos++;
    if (is_tok(p, t, "pi")) {
        v->c = PI;
        return QC_OK;
    }
    for (size_t i = 0; i < sizeof funcs / sizeof funcs[0]; i++) {
        if (!is_tok(p, t, funcs[i].name))
            continue;
        if (expect(p, "(", "after a function name") || parse_exp(p, env, v) ||
            expect(p, ")", "to close the function's argument"))
            return p->failed;
        if (v->var >= 0)
            return fail(p, t, "%s() of a parameter is not affine in it", funcs[i].name);
        v->c = funcs[i].fn(v->c);
        return QC_OK;
    }
    for (int k = 0; env->def && k < env->def->nparams; k++)
        if (same_text(p, p->pos - 1, env->def->param0 + 2 * k)) {
            *v = env->params[k];
            return QC_OK;
        }
    if (env->def)
        return fail(p, t, "unknown parameter %s", show(p, t, b, sizeof b));
    return fail(p, t, "%s is not a number (outside a gate definition, angles are numbers)",
                show(p, t, b, sizeof b));
}

/* unary := '-' unary | primary ['^' unary] */
static int parse_unary(P *p, const Env *env, Aff *v)
{
    if (++p->depth > MAX_DEPTH)
        return fail(p, cur(p), "expression nested too deeply");
    if (accept(p, "-")) {
        if (parse_unary(p, env, v))
            return p->failed;
        v->c = -v->c, v->a = -v->a;
    } else {
        if (parse_primary(p, env, v))
            return p->failed;
        Tok *op = cur(p);
        if (accept(p, "^")) {
            Aff e;
            if (parse_unary(p, env, &e))
                return p->failed;
            if (v->var == -2 || e.var == -2)
                v->var = -2;
            else if (v->var >= 0 || e.var >= 0)
                return fail(p, op, "a power of a parameter is not affine in it");
            else
                v->c = pow(v->c, e.c);
        }
    }
    p->depth--;
    return QC_OK;
}

/* term := unary {('*' | '/') unary} */
static int parse_term(P *p, const Env *env, Aff *v)
{
    if (parse_unary(p, env, v))
        return p->failed;
    for (;;) {
        Tok *op = cur(p);
        int mul = accept(p, "*");
        if (!mul && !accept(p, "/"))
            return QC_OK;
        Aff r;
        if (parse_unary(p, env, &r))
            return p->failed;
        if (v->var == -2 || r.var == -2) {
            v->var = -2;
        } else if (mul) {
            if (v->var >= 0 && r.var >= 0)
                return fail(p, op, "a product of parameters is not affine");
            double k = v->var >= 0 ? r.c : v->c;
            Aff s = v->var >= 0 ? *v : r;
            *v = (Aff){ k * s.c, k * s.a, s.var };
        } else {
            if (r.var >= 0)
                return fail(p, op, "dividing by a parameter is not affine");
            if (r.c == 0)
                return fail(p, op, "division by zero");
            v->c /= r.c, v->a /= r.c;
        }
    }
}

/* exp := term {('+' | '-') term} */
static int parse_exp(P *p, const Env *env, Aff *v)
{
    if (parse_term(p, env, v))
        return p->failed;
    for (;;) {
        Tok *op = cur(p);
        int add = accept(p, "+");
        if (!add && !accept(p, "-"))
            return QC_OK;
        Aff r;
        int var = -1;
        if (parse_term(p, env, &r) || combine_vars(p, op, v, &r, &var))
            return p->failed;
        v->c += add ? r.c : -r.c;
        v->a += add ? r.a : -r.a;
        v->var = var;
    }
}

/* --- reading: gates --------------------------------------------------------------------- */

typedef struct {
    const char *name;
    int nparams, nqubits;
} Builtin;

static const Builtin builtins[] = {
    { "U", 3, 1 },   { "u3", 3, 1 },  { "u2", 2, 1 },  { "u1", 1, 1 },  { "CX", 0, 2 },
    { "cx", 0, 2 },  { "id", 0, 1 },  { "x", 0, 1 },   { "y", 0, 1 },   { "z", 0, 1 },
    { "h", 0, 1 },   { "s", 0, 1 },   { "sdg", 0, 1 }, { "t", 0, 1 },   { "tdg", 0, 1 },
    { "rx", 1, 1 },  { "ry", 1, 1 },  { "rz", 1, 1 },  { "cz", 0, 2 },  { "swap", 0, 2 },
    { "crx", 1, 2 }, { "cry", 1, 2 }, { "crz", 1, 2 },
};

/* qelib1.inc gates the simulator has no form for */
static const char *const unsupported[] = { "cy", "ch", "ccx", "cswap", "cu1", "cu3", "cp", "cu",
                                           "u0", "p", "sx", "sxdg", "csx", "rxx", "rzz", "rccx",
                                           "rc3x", "c3x", "c3sqrtx", "c4x" };

static const Builtin *find_builtin(const P *p, const Tok *t)
{
    for (size_t i = 0; i < sizeof builtins / sizeof builtins[0]; i++)
        if (is_tok(p, t, builtins[i].name))
            return &builtins[i];
    return NULL;
}

static const GateDef *find_def(const P *p, int name)
{
    for (int i = 0; i < p->ndefs; i++)
        if (same_text(p, p->defs[i].name, name))
            return &p->defs[i];
    return NULL;
}

static int emit(P *p, QcGate g, int w0, int w1, Aff a)
{
    if (!p->emit)
        return QC_OK;
    if (push_room(p, (void **)&p->em, p->nem, &p->capem, sizeof *p->em))
        return p->failed;
    p->em[p->nem++] = (Emit){ g, w0, w1, a };
    return QC_OK;
}

static Aff aff_const(double c)
{
    return (Aff){ c, 0, -1 };
}

static int emit_builtin(P *p, const Builtin *b, const Aff *a, const int *w)
{
    const char *n = b->name;
    int w1 = b->nqubits == 2 ? w[1] : -1;
    if (!strcmp(n, "U") || !strcmp(n, "u3") || !strcmp(n, "u2")) {
        /* U(theta, phi, lambda) = RZ(phi) RY(theta) RZ(lambda) up to a phase */
        int two = !strcmp(n, "u2");
        Aff theta = two ? aff_const(PI / 2) : a[0], phi = a[1 - two], lambda = a[2 - two];
        return emit(p, QC_RZ, w[0], -1, lambda) || emit(p, QC_RY, w[0], -1, theta) ||
               emit(p, QC_RZ, w[0], -1, phi);
    }
    static const struct {
        const char *name;
        QcGate g;
    } map[] = { { "u1", QC_RZ }, { "rx", QC_RX }, { "ry", QC_RY }, { "rz", QC_RZ },
                { "CX", QC_CNOT }, { "cx", QC_CNOT }, { "x", QC_X }, { "y", QC_Y },
                { "z", QC_Z }, { "h", QC_H }, { "s", QC_S }, { "t", QC_T }, { "cz", QC_CZ },
                { "swap", QC_SWAP }, { "crx", QC_CRX }, { "cry", QC_CRY }, { "crz", QC_CRZ } };
    if (!strcmp(n, "sdg"))
        return emit(p, QC_RZ, w[0], -1, aff_const(-PI / 2));
    if (!strcmp(n, "tdg"))
        return emit(p, QC_RZ, w[0], -1, aff_const(-PI / 4));
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (!strcmp(n, map[i].name))
            return emit(p, map[i].g, w[0], w1, b->nparams ? a[0] : aff_const(0));
    return QC_OK;   /* id */
}

static int parse_body(P *p, const GateDef *def, const Aff *params, const int *wires);

/* One call: name [ '(' exp {, exp} ')' ] args ';' -- args are a gate's own
 * qubit names inside a body (env->def), register[index] or whole
 * registers (broadcast) at the top level. */
static int parse_call(P *p, const Env *env)
{
    char b[64];
    int name = p->pos++;
    Tok *nt = &p->tok[name];
    const Builtin *bi = find_builtin(p, nt);
    const GateDef *def = bi ? NULL : find_def(p, name);
    if (!bi && !def) {
        for (size_t i = 0; i < sizeof unsupported / sizeof unsupported[0]; i++)
            if (is_tok(p, nt, unsupported[i]))
                return fail(p, nt, "gate '%s' is not supported by the simulator", unsupported[i]);
        return fail(p, nt, "undefined gate %s", show(p, nt, b, sizeof b));
    }
    int np = bi ? bi->nparams : def->nparams, nq = bi ? bi->nqubits : def->nqargs, n = 0;
    Aff a[MAX_ARGS];
    Tok *at[MAX_ARGS];
    if (accept(p, "(") && !accept(p, ")")) {
        do {
            if (n == MAX_ARGS)
                return fail(p, cur(p), "too many arguments");
            at[n] = cur(p);
            if (parse_exp(p, env, &a[n++]))
                return p->failed;
        } while (accept(p, ","));
        if (expect(p, ")", "after the gate's parameters"))
            return p->failed;
    }
    if (n != np)
        return fail(p, nt, "gate %s takes %d parameter%s, not %d", show(p, nt, b, sizeof b), np,
                    np == 1 ? "" : "s", n);
    for (int k = 0; k < n; k++)
        if (a[k].var != -2 && !isfinite(a[k].c + a[k].a))
            return fail(p, at[k], "this angle is not a finite number");
    /* the qubit arguments: wire, or (top level) -1 - register for a whole one */
    int w[MAX_ARGS], nw = 0, bsize = 0;
    do {
        int id;
        if (nw == MAX_ARGS)
            return fail(p, cur(p), "too many qubit arguments");
        if (expect_id(p, "a qubit argument", &id))
            return p->failed;
        if (env->def) {
            int k = 0;
            while (k < env->def->nqargs && !same_text(p, id, env->def->qarg0 + 2 * k))
                k++;
            if (k == env->def->nqargs)
                return fail(p, &p->tok[id], "%s is not a qubit argument of gate '%.*s'",
                            show(p, &p->tok[id], b, sizeof b), p->tok[env->def->name].len,
                            p->src + p->tok[env->def->name].pos);
            w[nw++] = env->wires[k];
            continue;
        }
        int r = 0;
        while (r < p->nregs && !same_text(p, id, p->regs[r].name))
            r++;
        if (r == p->nregs)
            return fail(p, &p->tok[id], "undefined quantum register %s",
                        show(p, &p->tok[id], b, sizeof b));
        if (accept(p, "[")) {
            Tok *it = cur(p);
            if (it->kind != T_INT)
                return fail(p, it, "expected a qubit index, found %s", show(p, it, b, sizeof b));
            p->pos++;
            if (it->num >= p->regs[r].size)
                return fail(p, it, "index %.0f out of range: register '%.*s' has %d qubits",
                            it->num, p->tok[id].len, p->src + p->tok[id].pos, p->regs[r].size);
            if (expect(p, "]", "after the qubit index"))
                return p->failed;
            w[nw++] = p->regs[r].first + (int)it->num;
        } else {
            if (bsize && bsize != p->regs[r].size)
                return fail(p, &p->tok[id], "registers of different sizes in one call");
            bsize = p->regs[r].size;
            w[nw++] = -1 - r;
        }
    } while (accept(p, ","));
    if (expect(p, ";", "after the gate's qubits"))
        return p->failed;
    if (nw != nq)
        return fail(p, nt, "gate %s acts on %d qubit%s, not %d", show(p, nt, b, sizeof b), nq,
                    nq == 1 ? "" : "s", nw);
    for (int j = 0; j < (bsize ? bsize : 1); j++) {
        int wj[MAX_ARGS];
        for (int k = 0; k < nw; k++)
            wj[k] = w[k] >= 0 || env->def ? w[k] : p->regs[-1 - w[k]].first + j;
        for (int k = 0; k < nw; k++)
            for (int l = 0; l < k; l++)
                if (wj[k] == wj[l] && wj[k] >= 0)
                    return fail(p, nt, "gate %s: the same qubit twice", show(p, nt, b, sizeof b));
        /* a user gate's body was checked when it was defined: expand it
         * only to collect gates, and not too many (gates calling gates
         * twice each grow exponentially) */
        if (p->emit && ++p->expanded > MAX_EXPANDED)
            return fail(p, nt, "the program expands to more than %ld gate calls", MAX_EXPANDED);
        if (bi ? emit_builtin(p, bi, a, wj) : p->emit && parse_body(p, def, a, wj))
            return p->failed;
    }
    return QC_OK;
}

/* The statements of def's body with its parameters and qubits bound. */
static int parse_body(P *p, const GateDef *def, const Aff *params, const int *wires)
{
    int save = p->pos;
    Env env = { def, params, wires };
    if (++p->depth > MAX_DEPTH)
        return fail(p, &p->tok[def->name], "gates nested too deeply");
    p->pos = def->body;
    while (p->pos < def->end && !p->failed) {
        if (is_tok(p, cur(p), "barrier")) {   /* barrier a, b; : nothing to simulate */
            while (p->pos < def->end && !accept(p, ";"))
                p->pos++;
        } else {
            parse_call(p, &env);
        }
    }
    p->depth--;
    p->pos = save;
    return p->failed;
}

/* gate name ['(' [params] ')'] qargs '{' body '}' */
static int parse_gatedef(P *p)
{
    char b[64];
    GateDef d = { 0 };
    if (expect_id(p, "a gate name", &d.name))
        return p->failed;
    Tok *nt = &p->tok[d.name];
    if (find_builtin(p, nt) || find_def(p, d.name))
        return fail(p, nt, "gate %s is already defined", show(p, nt, b, sizeof b));
    if (accept(p, "(") && !accept(p, ")")) {
        int id;
        do {
            if (expect_id(p, "a parameter name", &id))
                return p->failed;
            if (!d.nparams)
                d.param0 = id;
            d.nparams++;
        } while (accept(p, ","));
        if (expect(p, ")", "after the parameter names"))
            return p->failed;
    }
    int id;
    do {
        if (expect_id(p, "a qubit argument name", &id))
            return p->failed;
        if (!d.nqargs)
            d.qarg0 = id;
        d.nqargs++;
    } while (accept(p, ","));
    if (d.nparams > MAX_ARGS || d.nqargs > MAX_ARGS)
        return fail(p, nt, "gate %s has too many arguments", show(p, nt, b, sizeof b));
    /* names: every other token from param0 / qarg0 (the commas between) */
    for (int i = 0; i < d.nparams + d.nqargs; i++)
        for (int j = 0; j < i; j++) {
            int ti = i < d.nparams ? d.param0 + 2 * i : d.qarg0 + 2 * (i - d.nparams);
            int tj = j < d.nparams ? d.param0 + 2 * j : d.qarg0 + 2 * (j - d.nparams);
            if (same_text(p, ti, tj)) {
                char b2[64];
                return fail(p, &p->tok[ti], "%s is declared twice in gate %s",
                            show(p, &p->tok[ti], b, sizeof b), show(p, nt, b2, sizeof b2));
            }
        }
    Tok *open = cur(p);
    if (expect(p, "{", "to open the gate's body"))
        return p->failed;
    d.body = p->pos;
    while (!is_tok(p, cur(p), "}")) {
        if (cur(p)->kind == T_EOF)
            return fail(p, open, "gate %s: '{' is never closed", show(p, nt, b, sizeof b));
        p->pos++;
    }
    d.end = p->pos++;
    /* check the body now, its parameters unknown; if it is the gate asked
     * for, this pass also collects its gates */
    Aff params[MAX_ARGS];
    int wires[MAX_ARGS];
    int target = p->target && is_tok(p, nt, p->target);
    for (int k = 0; k < d.nparams; k++)
        params[k] = target ? (Aff){ 0, 1, k } : (Aff){ 0, 0, -2 };
    for (int k = 0; k < d.nqargs; k++)
        wires[k] = k;
    p->emit = target;
    parse_body(p, &d, params, wires);
    p->emit = !p->target;
    if (p->failed)
        return p->failed;
    if (target) {
        if (d.nqargs > QC_MAXQUBITS)
            return fail(p, nt, "gate %s has %d qubits; the simulator takes at most %d",
                        show(p, nt, b, sizeof b), d.nqargs, QC_MAXQUBITS);
        p->found = 1, p->target_nq = d.nqargs, p->target_np = d.nparams;
    }
    if (push_room(p, (void **)&p->defs, p->ndefs, &p->capdefs, sizeof *p->defs))
        return p->failed;
    p->defs[p->ndefs++] = d;
    return QC_OK;
}

/* qreg name '[' int ']' ';'  (creg: the same, and forgotten) */
static int parse_reg(P *p, int quantum)
{
    char b[64];
    int name;
    if (expect_id(p, "a register name", &name) || expect(p, "[", "after the register name"))
        return p->failed;
    Tok *st = cur(p);
    if (st->kind != T_INT)
        return fail(p, st, "expected the register size, found %s", show(p, st, b, sizeof b));
    p->pos++;
    if (expect(p, "]", "after the register size") || expect(p, ";", "after the register"))
        return p->failed;
    if (st->num < 1)
        return fail(p, st, "a register needs at least one bit");
    if (!quantum)
        return QC_OK;
    for (int r = 0; r < p->nregs; r++)
        if (same_text(p, p->regs[r].name, name))
            return fail(p, &p->tok[name], "register %s is already declared",
                        show(p, &p->tok[name], b, sizeof b));
    if (st->num > QC_MAXQUBITS - p->nqubits)
        return fail(p, st, "%.0f more qubits make more than the simulator's %d", st->num,
                    QC_MAXQUBITS);
    if (push_room(p, (void **)&p->regs, p->nregs, &p->capregs, sizeof *p->regs))
        return p->failed;
    p->regs[p->nregs++] = (Reg){ name, (int)st->num, p->nqubits };
    p->nqubits += (int)st->num;
    return QC_OK;
}

/* program := 'OPENQASM' real ';' {statement} */
static int parse_program(P *p)
{
    char b[64];
    Tok *t = cur(p);
    if (!accept(p, "OPENQASM"))
        return fail(p, t, "expected 'OPENQASM 2.0;' first, found %s", show(p, t, b, sizeof b));
    t = cur(p);
    if ((t->kind != T_REAL && t->kind != T_INT) || floor(t->num) != 2)
        return fail(p, t, "only OpenQASM 2.0 is read, not %s", show(p, t, b, sizeof b));
    p->pos++;
    if (expect(p, ";", "after the version"))
        return p->failed;
    Env top = { NULL, NULL, NULL };
    while (!p->failed && cur(p)->kind != T_EOF) {
        t = cur(p);
        if (accept(p, "include")) {
            Tok *s = cur(p);
            if (s->kind != T_STR)
                return fail(p, s, "expected a file name in quotes, found %s",
                            show(p, s, b, sizeof b));
            if (s->len != 12 || memcmp(p->src + s->pos, "\"qelib1.inc\"", 12))
                return fail(p, s, "only \"qelib1.inc\" can be included, not %s",
                            show(p, s, b, sizeof b));
            p->pos++;
            expect(p, ";", "after the include");
        } else if (accept(p, "qreg") || accept(p, "creg")) {
            parse_reg(p, is_tok(p, t, "qreg"));
        } else if (accept(p, "gate")) {
            parse_gatedef(p);
        } else if (is_tok(p, t, "barrier")) {
            while (cur(p)->kind != T_EOF && !accept(p, ";"))
                p->pos++;
        } else if (is_tok(p, t, "measure") || is_tok(p, t, "reset") || is_tok(p, t, "if") ||
                   is_tok(p, t, "opaque")) {
            return fail(p, t, "%s is not supported: the simulator computes expectation values "
                        "of the state before measurement", show(p, t, b, sizeof b));
        } else if (t->kind == T_ID) {
            parse_call(p, &top);
        } else {
            return fail(p, t, "expected a statement, found %s", show(p, t, b, sizeof b));
        }
    }
    return p->failed;
}

static QcAngle to_angle(Aff a)
{
    if (a.var < 0 || a.a == 0)
        return qc_const(a.c);
    QcAngle q = qc_input(a.var, a.a);
    q.shift = a.c;
    return q;
}

int qasm_read(const char *src, const char *gate, QcCircuit **out, char *err)
{
    P p;
    memset(&p, 0, sizeof p);
    p.src = src;
    p.err = err;
    p.target = gate;
    p.emit = !gate;
    p.fail_after = -1;
#ifdef QLX_FAULTS
    {
        const char *s = getenv("QLX_FAIL_ALLOC");
        if (s && *s)
            p.fail_after = strtol(s, NULL, 10);
    }
#endif
    *out = NULL;
    if (err)
        err[0] = '\0';
    if (lex(&p) == QC_OK && parse_program(&p) == QC_OK) {
        Tok *end = cur(&p);
        int nq = gate ? p.target_nq : p.nqubits;
        if (gate && !p.found)
            fail(&p, end, "no gate '%s' is defined", gate);
        else if (!gate && nq == 0)
            fail(&p, end, "no qreg is declared");
        else {
            char e2[QC_ERRLEN];
            QcCircuit *c;
            int rc = qc_new(nq, &c, e2);
            if (rc == QC_OK && gate)
                rc = qc_declare_inputs(c, p.target_np);
            for (int i = 0; rc == QC_OK && i < p.nem; i++)
                rc = qc_gate(c, p.em[i].g, p.em[i].w0, p.em[i].w1, to_angle(p.em[i].a));
            if (rc == QC_OK)
                *out = c;
            else {
                if (c)
                    snprintf(e2, sizeof e2, "%s", qc_error(c));
                qc_free(&c);
                p.failed = rc;
                if (err)
                    snprintf(err, QASM_ERRLEN, "%s", e2);
            }
        }
    }
    free(p.tok);
    free(p.defs);
    free(p.regs);
    free(p.em);
    return p.failed;
}
