/*
 * parse.c -- recursive descent over the re2c tokens: tokens -> syntax tree.
 *
 * A model is a list of records; each record's KwBody (lang/keywords.def)
 * picks the function that parses its body.  Declarations and statements
 * are line-oriented: a newline ends one, except inside parentheses (the
 * parser counts them and skips newlines while any is open) and after a
 * binary operator, which asks for more on the next line.
 *
 * Errors follow clox's panic mode: the first error in a line is reported,
 * the rest of that line is skipped, and parsing resumes at the next line
 * of the record (or the next record, for headers).  Recursion in
 * expressions and blocks is capped at PARSE_MAX_DEPTH.
 *
 * One token of lookahead is enough: where a name may be followed by `=`
 * (an option, a KEY=value item) or `(` (a call, an indexed alias), the
 * name is consumed first and the next token decides.  The lexer's mode for
 * the next token is chosen when the current one is consumed, which is how
 * paths after $DATA or FILE= are read as paths.
 */
#include "parse.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    Arena *arena;
    Diag *diag;
    const ParseOpts *opts;
    Ast *ast;
    Lexer *lx;
    Token tok, prev;
    int paren;          /* open parentheses: newlines inside are blanks */
    int depth;          /* expression and block nesting */
    int panic;          /* an error was reported in this line */
    int incl_depth;     /* nesting of $INCLUDE */
    RecKind rec;        /* the record being parsed */
    const char *dir;    /* directory of the current file, for relative includes */
} Parser;

static Expr *expr(Parser *p);
static Stmt *statement(Parser *p);
static void parse_records(Parser *p);

/* ---- tokens ------------------------------------------------------------ */

static void advance_mode(Parser *p, LexMode mode)
{
    p->prev = p->tok;
    for (;;) {
        p->tok = lex_next(p->lx, mode);
        if (p->tok.kind == TK_NEWLINE && p->paren > 0)
            continue;
        break;
    }
}

static void advance(Parser *p)
{
    advance_mode(p, LEX_CODE);
}

static int at(const Parser *p, TokKind k)
{
    return p->tok.kind == k;
}

/* A keyword is a name spelled like one, in any case. */
static int at_word(const Parser *p, const char *w)
{
    return p->tok.kind == TK_IDENT && kw_strcaseeq(p->tok.text, w);
}

static int at_line_end(const Parser *p)
{
    return at(p, TK_NEWLINE) || at(p, TK_EOF) || at(p, TK_RECORD);
}

static void skip_newlines(Parser *p)
{
    while (at(p, TK_NEWLINE))
        advance(p);
}

static const char *describe(const Token *t)
{
    switch (t->kind) {
    case TK_IDENT: case TK_NUMBER: case TK_PATH: case TK_DDT:
        return NULL;   /* the caller quotes the spelling */
    default:
        return lex_kind_name(t->kind);
    }
}

static void error_at(Parser *p, Span at_, const char *hint, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void error_at(Parser *p, Span at_, const char *hint, const char *fmt, ...)
{
    if (p->panic)
        return;
    p->panic = 1;
    va_list ap;
    va_start(ap, fmt);
    diag_vreport(p->diag, DIAG_ERROR, at_, hint, fmt, ap);
    va_end(ap);
}

/* "expected X, found Y" at the current token; TK_ERROR was reported by the lexer. */
static void expected(Parser *p, const char *what, const char *hint)
{
    if (at(p, TK_ERROR)) {
        p->panic = 1;
        return;
    }
    const char *d = describe(&p->tok);
    if (d)
        error_at(p, p->tok.span, hint, "expected %s, found %s", what, d);
    else if (at(p, TK_RECORD))
        error_at(p, p->tok.span, hint, "expected %s, found '$%s'", what, p->tok.text);
    else
        error_at(p, p->tok.span, hint, "expected %s, found '%s'", what, p->tok.text);
}

static int accept(Parser *p, TokKind k)
{
    if (!at(p, k))
        return 0;
    advance(p);
    return 1;
}

static int expect(Parser *p, TokKind k, const char *what)
{
    if (accept(p, k))
        return 1;
    expected(p, what, NULL);
    return 0;
}

/* Skip what is left of a line after an error; stop before the next record. */
static void sync_line(Parser *p)
{
    while (!at(p, TK_EOF) && !at(p, TK_RECORD) && !at(p, TK_NEWLINE))
        advance(p);
    p->paren = 0;
    p->panic = 0;
}

static void sync_record(Parser *p)
{
    p->paren = 0;
    while (!at(p, TK_EOF) && !at(p, TK_RECORD))
        advance(p);
    p->panic = 0;
}

/* A line must end here; extra tokens are an error. */
static void end_line(Parser *p, const char *after)
{
    if (p->panic || at_line_end(p))
        return;
    if (at(p, TK_ERROR)) {
        p->panic = 1;
        return;
    }
    if (describe(&p->tok))
        error_at(p, p->tok.span, NULL, "unexpected %s after %s",
                 lex_kind_name(p->tok.kind), after);
    else
        error_at(p, p->tok.span, "one declaration or statement per line",
                 "unexpected '%s' after %s", p->tok.text, after);
}

static Span span_from(const Parser *p, Span start)
{
    return diag_span_join(start, p->prev.span);
}

/* ---- expressions --------------------------------------------------------- */

static Expr *new_expr(Parser *p, ExprKind k, Span s)
{
    Expr *e = mem_alloc(p->arena, sizeof *e);
    e->kind = k;
    e->span = s;
    return e;
}

/* A stand-in after an error, so callers never see NULL. */
static Expr *error_expr(Parser *p)
{
    Expr *e = new_expr(p, EX_NUM, p->tok.span);
    e->text = "0";
    return e;
}

static int enter(Parser *p)
{
    if (++p->depth > PARSE_MAX_DEPTH) {
        error_at(p, p->tok.span, "split it with intermediate variables",
                 "expression or block nested too deeply (limit %d)", PARSE_MAX_DEPTH);
        return 0;
    }
    return 1;
}

static void leave(Parser *p)
{
    p->depth--;
}

static Expr *binary(Parser *p, AstOp op, int fortran, Expr *l, Expr *r)
{
    Expr *e = new_expr(p, EX_BINARY, diag_span_join(l->span, r->span));
    e->op = op;
    e->fortran = fortran;
    e->lhs = l;
    e->rhs = r;
    return e;
}

/* After a binary operator an expression may continue on the next line. */
static void after_operator(Parser *p)
{
    advance(p);
    skip_newlines(p);
}

/* After a declaration's '=' or '~' the line may go on: the line ends are
 * skipped, but when what follows cannot start a value the error is at
 * the first of them, where the value is missing.  0 after reporting. */
static int value_goes_on(Parser *p, const char *what)
{
    if (!at(p, TK_NEWLINE))
        return 1;
    Span end = p->tok.span;
    skip_newlines(p);
    if (at(p, TK_NUMBER) || at(p, TK_MINUS) || at(p, TK_LPAREN))
        return 1;
    error_at(p, end, NULL, "expected %s, found end of line", what);
    return 0;
}

/* The unclosed '(' is often lines back; name its line, as Lua does. */
static void expected_close(Parser *p, Span open, const char *what)
{
    if (at(p, TK_ERROR)) {
        p->panic = 1;
        return;
    }
    if (p->tok.span.line != open.line || at(p, TK_EOF) || at(p, TK_RECORD)) {
        char hint[80];
        snprintf(hint, sizeof hint, "the '(' is on line %d, column %d", open.line, open.col);
        expected(p, "')' to close the '('", hint);
    } else {
        expected(p, what, NULL);
    }
}

/* args := [ expr { "," expr } ] ")"   -- the "(" is already consumed */
static void call_args(Parser *p, Expr *e, Span open)
{
    Expr **v = NULL;
    int n = 0, cap = 0;
    if (!at(p, TK_RPAREN)) {
        do {
            Expr *a = expr(p);
            MEM_PUSH(p->arena, v, n, cap, a);
        } while (!p->panic && accept(p, TK_COMMA));
    }
    p->paren--;
    if (!p->panic && !at(p, TK_RPAREN))
        expected_close(p, open, "',' or ')' in the argument list");
    else if (!p->panic)
        advance(p);
    e->args = v;
    e->nargs = n;
}

/* indexed := NAME "(" NUMBER ")"   -- NAME and "(" consumed */
static int index_number(Parser *p)
{
    int n = 0;
    if (at(p, TK_NUMBER) && p->tok.num >= 1 && p->tok.num <= 1e6 &&
        p->tok.num == floor(p->tok.num))
        n = (int)p->tok.num;
    else
        expected(p, "a positive whole number", NULL);
    if (!p->panic)
        advance(p);
    p->paren--;
    if (!p->panic && !at(p, TK_RPAREN))
        expected(p, "')'", NULL);
    else if (!p->panic)
        advance(p);
    return n;
}

/* Directive lines read `WORD (a, b)` as a word and a tuple; a call needs
 * its '(' right after the name. */
static int adjacent(const Token *a, const Token *b)
{
    return a->span.file == b->span.file && a->span.off + a->span.len == b->span.off;
}

/* postfix := NUMBER | NAME | NAME "(" args ")" | NAME "." NAME "(" args ")"
 *          | INDEXED "(" NUMBER ")" | "(" expr { "," expr } ")" */
static Expr *postfix(Parser *p)
{
    Token t = p->tok;
    if (at(p, TK_NUMBER)) {
        Expr *e = new_expr(p, EX_NUM, t.span);
        e->num = t.num;
        e->text = t.text;
        advance(p);
        return e;
    }
    if (at(p, TK_LPAREN)) {
        p->paren++;
        advance(p);
        Expr *first = expr(p);
        if (at(p, TK_COMMA)) {
            Expr *e = new_expr(p, EX_TUPLE, t.span);
            Expr **v = NULL;
            int n = 0, cap = 0;
            MEM_PUSH(p->arena, v, n, cap, first);
            while (!p->panic && accept(p, TK_COMMA)) {
                Expr *a = expr(p);
                MEM_PUSH(p->arena, v, n, cap, a);
            }
            e->args = v;
            e->nargs = n;
            first = e;
        }
        p->paren--;
        if (!p->panic && !at(p, TK_RPAREN)) {
            expected_close(p, t.span, first->kind == EX_TUPLE ? "',' or ')'" : "')'");
            return first;
        }
        if (!p->panic)
            advance(p);
        first->parens = 1;
        first->span = span_from(p, t.span);
        return first;
    }
    if (at(p, TK_IDENT)) {
        advance(p);
        int callable = p->rec != REC_QUANTUM && p->rec != REC_NETWORK &&
                       p->rec != REC_LOSS && p->rec != REC_SIMULATION;
        if (at(p, TK_LPAREN) && (callable || adjacent(&t, &p->tok))) {
            if (kw_is_indexed(t.text, t.len) && callable) {
                Expr *e = new_expr(p, EX_INDEXED, t.span);
                e->text = t.text;
                p->paren++;
                advance(p);
                e->index = index_number(p);
                e->span = span_from(p, t.span);
                return e;
            }
            Expr *e = new_expr(p, EX_CALL, t.span);
            e->text = t.text;
            Span open = p->tok.span;
            p->paren++;
            advance(p);
            call_args(p, e, open);
            e->span = span_from(p, t.span);
            return e;
        }
        if (at(p, TK_DOT)) {   /* lua.name(args) */
            advance(p);
            Token f = p->tok;
            if (!at(p, TK_IDENT)) {
                expected(p, "a function name after '.'", NULL);
                return error_expr(p);
            }
            advance(p);
            Expr *e = new_expr(p, EX_CALL, t.span);
            e->ns = t.text;
            e->text = f.text;
            if (!at(p, TK_LPAREN)) {
                expected(p, "'(' after a qualified name", NULL);
                return e;
            }
            Span open = p->tok.span;
            p->paren++;
            advance(p);
            call_args(p, e, open);
            e->span = span_from(p, t.span);
            return e;
        }
        Expr *e = new_expr(p, EX_NAME, t.span);
        e->text = t.text;
        return e;
    }
    if (at(p, TK_DDT))
        error_at(p, t.span, "d/dt(...) can only be assigned to, in $DES",
                 "d/dt is not a value");
    else
        expected(p, "an expression", NULL);
    return error_expr(p);
}

/* power := postfix [ "^" unary ]   -- right-associative */
static Expr *unary(Parser *p);

static Expr *power(Parser *p)
{
    Expr *base = postfix(p);
    if (at(p, TK_POW) && !p->panic) {
        int f = p->tok.fortran;
        after_operator(p);
        Expr *ex = unary(p);
        return binary(p, OP_POW, f, base, ex);
    }
    return base;
}

/* unary := ( "-" | "+" | "!" ) unary | power */
static Expr *unary(Parser *p)
{
    if (!enter(p))
        return error_expr(p);
    Expr *e;
    if (at(p, TK_MINUS) || at(p, TK_PLUS) || at(p, TK_NOT)) {
        Token t = p->tok;
        advance(p);
        Expr *x = unary(p);
        e = new_expr(p, EX_UNARY, diag_span_join(t.span, x->span));
        e->op = t.kind == TK_MINUS ? OP_NEG : t.kind == TK_PLUS ? OP_PLUS : OP_NOT;
        e->fortran = t.fortran;
        e->lhs = x;
    } else {
        e = power(p);
    }
    leave(p);
    return e;
}

/* mul := unary { ( "*" | "/" ) unary } */
static Expr *mul(Parser *p)
{
    Expr *e = unary(p);
    while ((at(p, TK_STAR) || at(p, TK_SLASH)) && !p->panic) {
        AstOp op = at(p, TK_STAR) ? OP_MUL : OP_DIV;
        after_operator(p);
        e = binary(p, op, 0, e, unary(p));
    }
    return e;
}

/* add := mul { ( "+" | "-" ) mul } */
static Expr *add(Parser *p)
{
    Expr *e = mul(p);
    while ((at(p, TK_PLUS) || at(p, TK_MINUS)) && !p->panic) {
        AstOp op = at(p, TK_PLUS) ? OP_ADD : OP_SUB;
        after_operator(p);
        e = binary(p, op, 0, e, mul(p));
    }
    return e;
}

static int cmp_op(TokKind k, AstOp *op)
{
    switch (k) {
    case TK_LT: *op = OP_LT; return 1;
    case TK_LE: *op = OP_LE; return 1;
    case TK_GT: *op = OP_GT; return 1;
    case TK_GE: *op = OP_GE; return 1;
    case TK_EQ: *op = OP_EQ; return 1;
    case TK_NE: *op = OP_NE; return 1;
    default: return 0;
    }
}

/* cmp := add [ cmp-op add ]   -- comparisons do not chain */
static Expr *cmp(Parser *p)
{
    Expr *e = add(p);
    AstOp op;
    if (!p->panic && cmp_op(p->tok.kind, &op)) {
        int f = p->tok.fortran;
        after_operator(p);
        e = binary(p, op, f, e, add(p));
        if (!p->panic && cmp_op(p->tok.kind, &op))
            error_at(p, p->tok.span, "combine comparisons with '&&'",
                     "comparisons do not chain");
    }
    return e;
}

/* and := cmp { "&&" cmp } */
static Expr *and_(Parser *p)
{
    Expr *e = cmp(p);
    while (at(p, TK_AND) && !p->panic) {
        int f = p->tok.fortran;
        after_operator(p);
        e = binary(p, OP_AND, f, e, cmp(p));
    }
    return e;
}

/* expr := and { "||" and } */
static Expr *expr(Parser *p)
{
    if (!enter(p))
        return error_expr(p);
    Expr *e = and_(p);
    while (at(p, TK_OR) && !p->panic) {
        int f = p->tok.fortran;
        after_operator(p);
        e = binary(p, OP_OR, f, e, and_(p));
    }
    leave(p);
    return e;
}

/* ---- options ------------------------------------------------------------- */

/* number := [ "-" ] NUMBER | [ "-" ] INF ; returns the spelling */
static const char *signed_number(Parser *p, double *v, Span *s)
{
    Span start = p->tok.span;
    int neg = 0;
    if (at(p, TK_MINUS) || at(p, TK_PLUS)) {
        neg = at(p, TK_MINUS);
        advance(p);
    }
    if (at(p, TK_NUMBER) || at_word(p, "INF")) {
        double x = at(p, TK_NUMBER) ? p->tok.num : INFINITY;
        const char *txt = at(p, TK_NUMBER) ? p->tok.text : "INF";
        *v = neg ? -x : x;
        advance(p);
        if (s)
            *s = span_from(p, start);
        if (!neg)
            return txt;
        size_t n = strlen(txt);
        char *out = mem_alloc(p->arena, n + 2);
        out[0] = '-';
        memcpy(out + 1, txt, n + 1);
        return out;
    }
    expected(p, "a number", NULL);
    *v = 0;
    return NULL;
}

/* filter := NAME cmp-op ( NUMBER | NAME | STRING ) */
static Filter filter(Parser *p)
{
    Filter f;
    memset(&f, 0, sizeof f);
    f.column_span = p->tok.span;
    if (!at(p, TK_IDENT)) {
        expected(p, "a column name in the filter", "write e.g. IGNORE=(DOSE.EQ.0)");
        return f;
    }
    f.column = p->tok.text;
    advance(p);
    if (!cmp_op(p->tok.kind, &f.op)) {
        expected(p, "a comparison such as .EQ. or ==", NULL);
        return f;
    }
    f.fortran = p->tok.fortran;
    advance(p);
    f.value_span = p->tok.span;
    if (at(p, TK_MINUS) || at(p, TK_NUMBER)) {
        double v;
        f.value = signed_number(p, &v, &f.value_span);
    } else if (at(p, TK_IDENT) || at(p, TK_STRING)) {
        f.value_quoted = at(p, TK_STRING);
        f.value = p->tok.text;
        advance(p);
    } else {
        expected(p, "a value to compare with", NULL);
    }
    return f;
}

/* filters := "(" filter { "," filter } ")" */
static Option filter_list(Parser *p, Option o)
{
    o.kind = OV_FILTERS;
    p->paren++;
    advance(p);
    int cap = 0;
    do {
        Filter f = filter(p);
        MEM_PUSH(p->arena, o.filters, o.nfilters, cap, f);
    } while (!p->panic && accept(p, TK_COMMA));
    p->paren--;
    if (!p->panic && !at(p, TK_RPAREN))
        expected(p, "',' or ')' after a filter", NULL);
    else if (!p->panic)
        advance(p);
    o.value_span = span_from(p, o.value_span);
    return o;
}

/* names := "(" NAME { "," NAME } ")"   -- for an OPT_NAMES option */
static Option name_list(Parser *p, Option o)
{
    o.kind = OV_NAMES;
    p->paren++;
    advance(p);
    int cap = 0, scap = 0;
    do {
        if (!at(p, TK_IDENT)) {
            expected(p, "a name", "write e.g. (BMI, CRCL)");
            break;
        }
        MEM_PUSH(p->arena, o.names, o.nnames, cap, p->tok.text);
        int n = o.nnames - 1;
        MEM_PUSH(p->arena, o.name_spans, n, scap, p->tok.span);
        advance(p);
    } while (accept(p, TK_COMMA));
    p->paren--;
    if (!p->panic && !at(p, TK_RPAREN))
        expected(p, "',' or ')' after a name", NULL);
    else if (!p->panic)
        advance(p);
    o.value_span = span_from(p, o.value_span);
    return o;
}

/* option := NAME [ "=" opt-value ]   -- NAME already consumed into key */
static Option option_value(Parser *p, Token key)
{
    Option o;
    memset(&o, 0, sizeof o);
    o.key = key.text;
    o.key_span = key.span;
    o.kind = OV_FLAG;
    if (!at(p, TK_ASSIGN))
        return o;
    const KwOption *ko = kw_option_lookup(p->rec, key.text);
    advance_mode(p, ko && ko->type == OPT_PATH ? LEX_PATH : LEX_CODE);
    o.value_span = p->tok.span;
    switch (p->tok.kind) {
    case TK_NUMBER: case TK_MINUS:
        o.kind = OV_NUM;
        o.text = signed_number(p, &o.num, &o.value_span);
        return o;
    case TK_IDENT:
        o.kind = OV_WORD;
        break;
    case TK_STRING:
        o.kind = OV_STRING;
        break;
    case TK_PATH:
        o.kind = OV_PATH;
        break;
    case TK_AT:
        o.kind = OV_AT;
        break;
    case TK_HASH:
        o.kind = OV_HASH;
        break;
    case TK_LPAREN:
        return ko && ko->type == OPT_NAMES ? name_list(p, o) : filter_list(p, o);
    default:
        expected(p, "a value after '='", NULL);
        return o;
    }
    o.text = p->tok.text;
    advance(p);
    return o;
}

static void push_option(Parser *p, Record *r, Option o, int *cap)
{
    MEM_PUSH(p->arena, r->opts, r->nopts, *cap, o);
}

/* options until the end of the record: { option | NL } */
static void options_body(Parser *p, Record *r, int *cap)
{
    for (;;) {
        skip_newlines(p);
        if (at(p, TK_EOF) || at(p, TK_RECORD))
            return;
        if (!at(p, TK_IDENT)) {
            expected(p, "an option such as KEY=value", NULL);
            sync_line(p);
            continue;
        }
        Token key = p->tok;
        advance(p);
        push_option(p, r, option_value(p, key), cap);
        if (p->panic)
            sync_line(p);
    }
}

/* ---- record bodies --------------------------------------------------------- */

static void text_body(Parser *p, Record *r)
{
    /* the record token is current; read the rest of its line as text */
    advance_mode(p, LEX_TEXT);
    r->text = p->tok.text;
    r->text_span = p->tok.span;
    advance(p);
    skip_newlines(p);
    if (at(p, TK_ERROR))
        p->panic = 1;   /* the lexer said what is wrong */
    else if (!at(p, TK_EOF) && !at(p, TK_RECORD))
        error_at(p, p->tok.span, "the title is one line; write notes as ; comments",
                 "unexpected text after the $%s title", kw_record_name(r->kind));
}

/* path-body := path { option } ; options may continue on later lines */
static void path_body(Parser *p, Record *r)
{
    int cap = 0;
    advance_mode(p, LEX_PATH);
    if (at(p, TK_PATH) || at(p, TK_STRING)) {
        r->text = p->tok.text;
        r->text_span = p->tok.span;
        r->text_quoted = at(p, TK_STRING);
        advance(p);
    } else if (at(p, TK_IDENT) || at(p, TK_NUMBER)) {
        /* a plain word such as a stdlib name lexes as a path anyway; this is
         * only reached through lex_path's fallback for odd leading bytes */
        r->text = p->tok.text;
        r->text_span = p->tok.span;
        advance(p);
    } else {
        expected(p, r->kind == REC_INCLUDE ? "a file or stdlib model name" : "a file name", NULL);
        sync_record(p);
        return;
    }
    options_body(p, r, &cap);
}

/* column := NAME [ "=" NAME ] */
static void column(Parser *p, Record *r, int *cap)
{
    Column c;
    memset(&c, 0, sizeof c);
    c.span = p->tok.span;
    if (!at(p, TK_IDENT)) {
        expected(p, "a column name", NULL);
        return;
    }
    c.name = p->tok.text;
    advance(p);
    if (accept(p, TK_ASSIGN)) {
        c.alias_span = p->tok.span;
        if (!at(p, TK_IDENT)) {
            expected(p, "a name after '='", "write e.g. DV=CONC or WT=DROP");
            return;
        }
        c.alias = p->tok.text;
        advance(p);
    }
    MEM_PUSH(p->arena, r->cols, r->ncols, *cap, c);
}

/* A body of one declaration a line: { decl | NL } up to the next record;
 * an error skips the rest of its line. */
static void line_body(Parser *p, Record *r, void (*decl)(Parser *, Record *, int *))
{
    int cap = 0;
    advance(p);
    for (;;) {
        skip_newlines(p);
        if (at(p, TK_EOF) || at(p, TK_RECORD))
            return;
        decl(p, r, &cap);
        if (p->panic)
            sync_line(p);
    }
}

/* compartment := NAME [ "(" NAME { "," NAME } ")" ] | COMP "=" "(" NAME { NAME } ")" */
static void compartment(Parser *p, Record *r, int *cap)
{
    Compartment c;
    memset(&c, 0, sizeof c);
    c.span = p->tok.span;
    int nonmem = 0, rcap = 0;
    if (!at(p, TK_IDENT)) {
        expected(p, "a compartment name", NULL);
        return;
    }
    if (at_word(p, "COMP")) {   /* NONMEM's $MODEL COMP=(DEPOT DEFDOSE) */
        advance(p);
        if (accept(p, TK_ASSIGN)) {
            nonmem = 1;
            if (!at(p, TK_LPAREN)) {
                expected(p, "'(' after COMP=", NULL);
                return;
            }
            p->paren++;
            advance(p);
            c.span = p->tok.span;
        } else {
            c.name = p->prev.text;
        }
    }
    if (!c.name) {
        if (!at(p, TK_IDENT)) {
            expected(p, "a compartment name", NULL);
            return;
        }
        c.name = p->tok.text;
        c.span = p->tok.span;
        advance(p);
        if (nonmem > 0)
            accept(p, TK_COMMA);   /* COMP=(DEPOT,DEFDOSE), NONMEM's usual spelling */
    }
    if (!nonmem && at(p, TK_LPAREN) && adjacent(&p->prev, &p->tok)) {
        p->paren++;
        advance(p);
        nonmem = -1;
    } else if (!nonmem) {
        MEM_PUSH(p->arena, r->cmts, r->ncmts, *cap, c);
        return;
    }
    while (!p->panic && !at(p, TK_RPAREN)) {
        if (!at(p, TK_IDENT)) {
            expected(p, "a compartment role (dose, observe) or ')'", NULL);
            return;
        }
        MEM_PUSH(p->arena, c.roles, c.nroles, rcap, p->tok.text);
        c.role_spans = mem_grow(p->arena, c.role_spans, (size_t)c.nroles - 1,
                                (size_t)c.nroles, sizeof *c.role_spans);
        c.role_spans[c.nroles - 1] = p->tok.span;
        advance(p);
        if (nonmem < 0 && !at(p, TK_RPAREN) && !accept(p, TK_COMMA)) {
            expected(p, "',' or ')'", NULL);
            return;
        }
        if (nonmem > 0)
            accept(p, TK_COMMA);
    }
    p->paren--;
    advance(p);
    MEM_PUSH(p->arena, r->cmts, r->ncmts, *cap, c);
}

static void compartments_body(Parser *p, Record *r)
{
    line_body(p, r, compartment);
}

/* input-body := { column | NL } */
static void input_body(Parser *p, Record *r)
{
    line_body(p, r, column);
}

static int at_fix(const Parser *p)
{
    return at_word(p, "FIX") || at_word(p, "FIXED");
}

/* bounds-or-nonmem := "(" [num] "," [num] [ "," [num] ] ")"; slots may be empty */
static int paren_numbers(Parser *p, const char **txt, double *v, int max, int *fix)
{
    int n = 0;
    p->paren++;
    advance(p);
    for (;;) {
        if (n == max) {
            expected(p, "')'", NULL);
            return n;
        }
        txt[n] = NULL;
        if (!at(p, TK_COMMA) && !at(p, TK_RPAREN) && !at_fix(p))
            txt[n] = signed_number(p, &v[n], NULL);
        n++;
        if (p->panic)
            return n;
        if (at_fix(p)) {
            *fix = 1;
            advance(p);
        }
        if (at(p, TK_RPAREN))
            break;
        if (!expect(p, TK_COMMA, "',' or ')'"))
            return n;
    }
    p->paren--;
    advance(p);
    return n;
}

/* theta := [ NAME "=" ] theta-value { FIX | TRANSFORM "=" NAME } NL */
static void theta_decl(Parser *p, Record *r, int *cap)
{
    ThetaDecl t;
    memset(&t, 0, sizeof t);
    t.span = p->tok.span;
    t.vlo = -INFINITY;
    t.vhi = INFINITY;
    if (at(p, TK_IDENT) && !at_word(p, "INF")) {
        t.name = p->tok.text;
        t.name_span = p->tok.span;
        advance(p);
        if (!expect(p, TK_ASSIGN, "'=' after the THETA's name") || !value_goes_on(p, "a number"))
            return;
    }
    if (at(p, TK_LPAREN)) {
        const char *txt[3];
        double v[3];
        int n = paren_numbers(p, txt, v, 3, &t.fix);
        if (p->panic)
            return;
        t.nonmem_form = 1;
        if (n == 1) {
            t.init = txt[0], t.vinit = v[0];
        } else {
            t.lo = txt[0], t.vlo = txt[0] ? v[0] : -INFINITY;
            t.init = txt[1], t.vinit = v[1];
            if (n == 3)
                t.hi = txt[2], t.vhi = txt[2] ? v[2] : INFINITY;
        }
        if (!t.init) {
            error_at(p, t.span, "write (lower, initial, upper)",
                     "THETA needs an initial value");
            return;
        }
    } else {
        t.init = signed_number(p, &t.vinit, NULL);
        if (p->panic)
            return;
        if (at(p, TK_LPAREN)) {
            const char *txt[2];
            double v[2];
            Span bs = p->tok.span;
            int n = paren_numbers(p, txt, v, 2, &t.fix);
            if (p->panic)
                return;
            if (n != 2) {
                error_at(p, span_from(p, bs), "write bounds as (lower, upper); leave one empty for none",
                         "bounds need two slots");
                return;
            }
            t.lo = txt[0], t.vlo = txt[0] ? v[0] : -INFINITY;
            t.hi = txt[1], t.vhi = txt[1] ? v[1] : INFINITY;
        }
    }
    while (at(p, TK_IDENT) && !p->panic) {
        if (at_fix(p)) {
            t.fix = 1;
            advance(p);
        } else if (at_word(p, "TRANSFORM")) {
            advance(p);
            if (!expect(p, TK_ASSIGN, "'=' after TRANSFORM"))
                return;
            t.transform_span = p->tok.span;
            if (!at(p, TK_IDENT)) {
                expected(p, "a transform name (softplus, log, none)", NULL);
                return;
            }
            t.transform = p->tok.text;
            advance(p);
        } else {
            error_at(p, p->tok.span, "a THETA takes FIX and TRANSFORM=...",
                     "unknown THETA flag '%s'", p->tok.text);
            return;
        }
    }
    t.span = span_from(p, t.span);
    end_line(p, "the THETA");
    if (!p->panic)
        MEM_PUSH(p->arena, r->thetas, r->nthetas, *cap, t);
}

static void theta_body(Parser *p, Record *r)
{
    line_body(p, r, theta_decl);
}

/* random := [ BLOCK "(" n ")" ] NAME { NAME } "~" num { num } { flag } NL */
static void random_decl(Parser *p, Record *r, int *cap)
{
    RandomDecl d;
    memset(&d, 0, sizeof d);
    d.span = p->tok.span;
    int ncap = 0, vcap = 0;
    if (at_word(p, "BLOCK")) {
        advance(p);
        if (!at(p, TK_LPAREN)) {
            expected(p, "'(' after BLOCK", "write BLOCK(2) eta_cl eta_v ~ ...");
            return;
        }
        p->paren++;
        advance(p);
        d.block = index_number(p);
        if (p->panic)
            return;
        if (d.block > 64) {
            error_at(p, p->prev.span, NULL, "BLOCK(%d) is larger than the limit of 64", d.block);
            return;
        }
    }
    while (at(p, TK_IDENT)) {
        Span s = p->tok.span;
        MEM_PUSH(p->arena, d.names, d.nnames, ncap, p->tok.text);
        d.name_spans = mem_grow(p->arena, d.name_spans, (size_t)d.nnames - 1,
                                (size_t)d.nnames, sizeof *d.name_spans);
        d.name_spans[d.nnames - 1] = s;
        advance(p);
    }
    if (d.nnames == 0 && !at(p, TK_NUMBER)) {
        expected(p, p->rec == REC_SIGMA ? "an EPS name" : "an ETA name",
                 p->rec == REC_SIGMA ? "write e.g. eps_add ~ 0.1" : "write e.g. eta_cl ~ 0.1");
        return;
    }
    /* without names (NONMEM's `$OMEGA 0.1 0.2`) the values follow at once */
    if (d.nnames > 0 &&
        (!expect(p, TK_TILDE, "'~' before the variance") || !value_goes_on(p, "a variance")))
        return;
    int need = d.block ? d.block * (d.block + 1) / 2 : d.nnames ? d.nnames : 1;
    for (;;) {
        if (at(p, TK_NEWLINE) && d.nvalues > 0 && d.nvalues < need) {
            skip_newlines(p);   /* a block's values may run over several lines */
            continue;
        }
        if (!(at(p, TK_NUMBER) || at(p, TK_MINUS)))
            break;
        Span vs;
        double v;
        const char *txt = signed_number(p, &v, &vs);
        if (p->panic)
            return;
        MEM_PUSH(p->arena, d.values, d.nvalues, vcap, txt);
        d.v = mem_grow(p->arena, d.v, (size_t)d.nvalues - 1, (size_t)d.nvalues, sizeof *d.v);
        d.value_spans = mem_grow(p->arena, d.value_spans, (size_t)d.nvalues - 1,
                                 (size_t)d.nvalues, sizeof *d.value_spans);
        d.v[d.nvalues - 1] = v;
        d.value_spans[d.nvalues - 1] = vs;
    }
    if (d.nvalues == 0) {
        expected(p, "a variance", NULL);
        return;
    }
    while (at(p, TK_IDENT) && !p->panic) {
        if (at_fix(p))
            d.fix = 1;
        else if (at_word(p, "SD") || at_word(p, "STANDARD"))
            d.sd = 1;
        else if (at_word(p, "CORRELATION") || at_word(p, "CORR"))
            d.corr = 1;
        else if (!at_word(p, "VARIANCE") && !at_word(p, "COVARIANCE")) {
            error_at(p, p->tok.span, "flags are FIX, SD and CORRELATION",
                     "unknown flag '%s'", p->tok.text);
            return;
        }
        advance(p);
    }
    d.span = span_from(p, d.span);
    end_line(p, p->rec == REC_SIGMA ? "the SIGMA entry" : "the OMEGA entry");
    if (!p->panic)
        MEM_PUSH(p->arena, r->rands, r->nrands, *cap, d);
}

static void random_body(Parser *p, Record *r)
{
    line_body(p, r, random_decl);
}

/* prior := NAME "~" call NL */
static void prior_body(Parser *p, Record *r)
{
    int cap = 0;
    advance(p);
    for (;;) {
        skip_newlines(p);
        if (at(p, TK_EOF) || at(p, TK_RECORD))
            return;
        PriorDecl d;
        memset(&d, 0, sizeof d);
        d.span = d.name_span = p->tok.span;
        if (!at(p, TK_IDENT)) {
            expected(p, "a THETA name or OMEGA", NULL);
        } else {
            d.name = p->tok.text;
            advance(p);
            if (expect(p, TK_TILDE, "'~' before the distribution")) {
                d.dist = expr(p);
                if (!p->panic && d.dist->kind != EX_CALL)
                    error_at(p, d.dist->span, "write e.g. normal(1.0, 0.1)",
                             "expected a distribution");
                d.span = span_from(p, d.span);
                end_line(p, "the prior");
            }
        }
        if (!p->panic)
            MEM_PUSH(p->arena, r->priors, r->npriors, cap, d);
        else
            sync_line(p);
    }
}

/* ---- statements ------------------------------------------------------------- */

static Stmt *new_stmt(Parser *p, StmtKind k, Span s)
{
    Stmt *st = mem_alloc(p->arena, sizeof *st);
    st->kind = k;
    st->span = s;
    return st;
}

/* A statement ends at a newline, a record, the end, or a closing brace. */
static void end_statement(Parser *p)
{
    if (p->panic || at_line_end(p) || at(p, TK_RBRACE))
        return;
    end_line(p, "the statement");
}

/* block := "{" { statement | NL } "}" ; returns the statements */
static Stmt **block(Parser *p, int *n, const char *opener, Span open_at)
{
    Stmt **v = NULL;
    int cap = 0;
    *n = 0;
    advance(p);   /* "{" */
    for (;;) {
        skip_newlines(p);
        if (at(p, TK_RBRACE)) {
            advance(p);
            return v;
        }
        if (at(p, TK_EOF) || at(p, TK_RECORD)) {
            char hint[96];
            snprintf(hint, sizeof hint, "the '{' of this %s is on line %d", opener, open_at.line);
            error_at(p, p->tok.span, hint, "expected '}' to close the block");
            return v;
        }
        Stmt *s = statement(p);
        if (p->panic) {
            sync_line(p);
            continue;
        }
        MEM_PUSH(p->arena, v, *n, cap, s);
    }
}

/* Statements of a NONMEM IF ... THEN block, up to ELSE or ENDIF. */
static Stmt **then_block(Parser *p, int *n, Span open_at)
{
    Stmt **v = NULL;
    int cap = 0;
    *n = 0;
    for (;;) {
        skip_newlines(p);
        if (at_word(p, "else") || at_word(p, "endif"))
            return v;
        if (at_word(p, "end")) {
            advance(p);
            if (at_word(p, "if"))
                return v;   /* END IF, caller consumes "if" via at_word check */
            error_at(p, p->prev.span, "write ENDIF", "unexpected 'END'");
            return v;
        }
        if (at(p, TK_EOF) || at(p, TK_RECORD)) {
            char hint[96];
            snprintf(hint, sizeof hint, "the IF ... THEN is on line %d", open_at.line);
            error_at(p, p->tok.span, hint, "expected ENDIF");
            return v;
        }
        Stmt *s = statement(p);
        if (p->panic) {
            sync_line(p);
            continue;
        }
        MEM_PUSH(p->arena, v, *n, cap, s);
    }
}

static Expr *condition(Parser *p)
{
    if (!at(p, TK_LPAREN)) {
        expected(p, "'(' after 'if'", "write if (condition) ...");
        return error_expr(p);
    }
    Expr *c = postfix(p);   /* the parenthesised condition */
    return c;
}

static void push_arm(Parser *p, Stmt *st, int *cap, IfArm arm)
{
    MEM_PUSH(p->arena, st->arms, st->narms, *cap, arm);
}

/* if-stmt, in its three spellings (see grammar.ebnf) */
static Stmt *if_stmt(Parser *p)
{
    Span start = p->tok.span;
    Stmt *st = new_stmt(p, ST_IF, start);
    int cap = 0;
    advance(p);   /* if */
    IfArm arm;
    memset(&arm, 0, sizeof arm);
    arm.span = start;
    arm.cond = condition(p);
    if (p->panic)
        return st;
    if (at(p, TK_LBRACE)) {
        st->style = IF_BRACES;
        arm.body = block(p, &arm.nbody, "if", start);
        push_arm(p, st, &cap, arm);
        for (;;) {
            /* `}` newline `else` is allowed, C style; the statement ends at
             * the last '}', not at the newlines read looking for an else */
            if (p->panic)
                return st;
            st->span = span_from(p, start);
            if (!at_line_end(p) && !at_word(p, "else") && !at(p, TK_RBRACE)) {
                end_line(p, "'}'");
                return st;
            }
            if (at(p, TK_NEWLINE)) {
                /* peek past blank lines for an else */
                while (at(p, TK_NEWLINE))
                    advance(p);
                if (!at_word(p, "else"))
                    break;
            }
            if (!at_word(p, "else"))
                break;
            memset(&arm, 0, sizeof arm);
            arm.span = p->tok.span;
            advance(p);
            if (at_word(p, "if")) {
                advance(p);
                arm.cond = condition(p);
                if (p->panic)
                    return st;
                arm.span = span_from(p, arm.span);
                if (!at(p, TK_LBRACE)) {
                    expected(p, "'{' after else if (...)", NULL);
                    return st;
                }
                arm.body = block(p, &arm.nbody, "else if", arm.span);
                push_arm(p, st, &cap, arm);
                continue;
            }
            if (!at(p, TK_LBRACE)) {
                expected(p, "'{' or 'if' after else", NULL);
                return st;
            }
            arm.body = block(p, &arm.nbody, "else", arm.span);
            push_arm(p, st, &cap, arm);
            st->span = span_from(p, start);
            end_statement(p);
            return st;
        }
        return st;
    } else if (at_word(p, "then")) {
        st->style = IF_THEN;
        advance(p);
        end_line(p, "THEN");
        if (p->panic)
            return st;
        arm.body = then_block(p, &arm.nbody, start);
        push_arm(p, st, &cap, arm);
        while (!p->panic && at_word(p, "else")) {
            memset(&arm, 0, sizeof arm);
            arm.span = p->tok.span;
            advance(p);
            if (at_word(p, "if")) {
                advance(p);
                arm.cond = condition(p);
                if (p->panic)
                    return st;
                if (!at_word(p, "then")) {
                    expected(p, "THEN after ELSE IF (...)", NULL);
                    return st;
                }
                advance(p);
            }
            arm.span = span_from(p, arm.span);
            end_line(p, arm.cond ? "THEN" : "ELSE");
            if (p->panic)
                return st;
            arm.body = then_block(p, &arm.nbody, start);
            push_arm(p, st, &cap, arm);
            if (!arm.cond)
                break;
        }
        if (p->panic)
            return st;
        if (at_word(p, "endif") || at_word(p, "if"))   /* ENDIF or END IF */
            advance(p);
        else
            expected(p, "ENDIF", NULL);
    } else {
        st->style = IF_ONELINE;
        if (at_line_end(p)) {
            expected(p, "'{', THEN or a statement after if (...)", NULL);
            return st;
        }
        Stmt *s = statement(p);
        if (p->panic)
            return st;
        if (s->kind == ST_IF) {
            error_at(p, s->span, "use braces for nested ifs", "a one-line if cannot hold another if");
            return st;
        }
        arm.body = mem_alloc(p->arena, sizeof *arm.body);
        arm.body[0] = s;
        arm.nbody = 1;
        push_arm(p, st, &cap, arm);
    }
    st->span = span_from(p, start);
    return st;
}

/* statement := assignment | ddt | if-stmt */
static Stmt *statement(Parser *p)
{
    Span start = p->tok.span;
    if (!enter(p)) {
        leave(p);
        return new_stmt(p, ST_ASSIGN, start);
    }
    Stmt *st;
    if (at_word(p, "if")) {
        st = if_stmt(p);
        leave(p);
        return st;
    }
    if (at(p, TK_DDT)) {
        st = new_stmt(p, ST_DDT, start);
        advance(p);
        if (!at(p, TK_LPAREN)) {
            expected(p, "'(' after d/dt", "write d/dt(central) = ...");
        } else {
            p->paren++;
            advance(p);
            st->name_span = p->tok.span;
            if (!at(p, TK_IDENT)) {
                expected(p, "a compartment name", NULL);
            } else {
                st->name = p->tok.text;
                advance(p);
                p->paren--;
                if (!at(p, TK_RPAREN))
                    expected(p, "')'", NULL);
                else
                    advance(p);
            }
        }
    } else if (at(p, TK_IDENT)) {
        Token name = p->tok;
        if (kw_strcaseeq(name.text, "else") || kw_strcaseeq(name.text, "endif") ||
            kw_strcaseeq(name.text, "then")) {
            error_at(p, name.span, NULL, "'%s' without a matching 'if'", name.text);
            leave(p);
            return new_stmt(p, ST_ASSIGN, start);
        }
        advance(p);
        st = new_stmt(p, ST_ASSIGN, start);
        st->name = name.text;
        st->name_span = name.span;
        if (at(p, TK_LPAREN) && kw_is_indexed(name.text, name.len)) {
            p->paren++;
            advance(p);
            st->name_index = index_number(p);
            st->name_span = span_from(p, name.span);
            if (kw_strcaseeq(name.text, "DADT")) {
                st->kind = ST_DDT;
                st->name = NULL;
            }
        }
    } else {
        if (at(p, TK_RBRACE))
            error_at(p, p->tok.span, NULL, "unexpected '}' without a matching '{'");
        else
            expected(p, "a statement (NAME = expression)", NULL);
        leave(p);
        return new_stmt(p, ST_ASSIGN, start);
    }
    if (!p->panic) {
        if (!at(p, TK_ASSIGN)) {
            if (at(p, TK_EQ))
                expected(p, "'='", "'==' compares; assignment is '='");
            else
                expected(p, "'='", NULL);
        } else {
            after_operator(p);
            st->value = expr(p);
            end_statement(p);
        }
    }
    st->span = span_from(p, start);
    leave(p);
    return st;
}

static void code_body(Parser *p, Record *r)
{
    int cap = 0;
    advance(p);
    for (;;) {
        skip_newlines(p);
        if (at(p, TK_EOF) || at(p, TK_RECORD))
            return;
        Stmt *s = statement(p);
        if (p->panic) {
            sync_line(p);
            continue;
        }
        MEM_PUSH(p->arena, r->stmts, r->nstmts, cap, s);
    }
}

/* ---- directives ---------------------------------------------------------------- */

/* dir-item := NAME "=" expr | NAME "~" expr | "->" | expr */
static DirItem dir_item(Parser *p)
{
    DirItem it;
    memset(&it, 0, sizeof it);
    it.span = p->tok.span;
    if (at(p, TK_ARROW)) {
        it.kind = DI_ARROW;
        advance(p);
        skip_newlines(p);   /* a layer chain may break after an arrow */
        return it;
    }
    it.kind = DI_EXPR;
    it.expr = expr(p);
    if (p->panic)
        return it;
    if ((at(p, TK_ASSIGN) || at(p, TK_TILDE)) && it.expr->kind == EX_NAME &&
        !it.expr->parens) {
        it.kind = at(p, TK_ASSIGN) ? DI_KEYVAL : DI_DIST;
        it.key = it.expr->text;
        after_operator(p);
        it.expr = expr(p);
    }
    it.span = span_from(p, it.span);
    return it;
}

/* directive-body := { ( option { option } | directive ) NL | NL } */
static void directive_lines(Parser *p, Record *r, int *ocap)
{
    int dcap = 0;
    for (;;) {
        skip_newlines(p);
        if (at(p, TK_EOF) || at(p, TK_RECORD))
            return;
        if (!at(p, TK_IDENT)) {
            expected(p, "a directive name", NULL);
            sync_line(p);
            continue;
        }
        Token first = p->tok;
        advance(p);
        if (at(p, TK_ASSIGN)) {   /* a line of options, e.g. N=5000 SEED=1 */
            push_option(p, r, option_value(p, first), ocap);
            while (!p->panic && at(p, TK_IDENT)) {
                Token key = p->tok;
                advance(p);
                push_option(p, r, option_value(p, key), ocap);
            }
            end_line(p, "the options");
            if (p->panic)
                sync_line(p);
            continue;
        }
        Directive d;
        memset(&d, 0, sizeof d);
        d.name = first.text;
        d.name_span = first.span;
        d.span = first.span;
        int icap = 0;
        while (!p->panic && !at_line_end(p)) {
            DirItem it = dir_item(p);
            MEM_PUSH(p->arena, d.items, d.nitems, icap, it);
        }
        d.span = span_from(p, d.span);
        if (p->panic) {
            sync_line(p);
            continue;
        }
        MEM_PUSH(p->arena, r->dirs, r->ndirs, dcap, d);
    }
}

static void named_body(Parser *p, Record *r)
{
    int ocap = 0;
    advance(p);
    if (!at(p, TK_IDENT)) {
        expected(p, r->kind == REC_QUANTUM ? "the circuit's name" : "the network's name",
                 r->kind == REC_QUANTUM ? "write e.g. $QUANTUM q" : "write e.g. $NETWORK c");
        sync_record(p);
        return;
    }
    r->name = p->tok.text;
    r->nm_span = p->tok.span;
    advance(p);
    while (!p->panic && at(p, TK_IDENT)) {
        Token key = p->tok;
        advance(p);
        push_option(p, r, option_value(p, key), &ocap);
    }
    end_line(p, "the name");
    if (p->panic)
        sync_line(p);
    directive_lines(p, r, &ocap);
}

static void directives_body(Parser *p, Record *r)
{
    int ocap = 0;
    advance(p);
    directive_lines(p, r, &ocap);
}

static void options_record(Parser *p, Record *r)
{
    int cap = 0;
    advance(p);
    options_body(p, r, &cap);
}

/* table-body := { NAME | option | NL } */
static void table_body(Parser *p, Record *r)
{
    int ocap = 0, icap = 0;
    advance(p);
    for (;;) {
        skip_newlines(p);
        if (at(p, TK_EOF) || at(p, TK_RECORD))
            return;
        if (!at(p, TK_IDENT)) {
            expected(p, "a column name or an option", NULL);
            sync_line(p);
            continue;
        }
        Token t = p->tok;
        advance(p);
        const KwOption *ko = kw_option_lookup(REC_TABLE, t.text);
        if (at(p, TK_ASSIGN) || (ko && ko->type == OPT_FLAG)) {
            push_option(p, r, option_value(p, t), &ocap);
            if (p->panic)
                sync_line(p);
            continue;
        }
        MEM_PUSH(p->arena, r->items, r->nitems, icap, t.text);
        r->item_spans = mem_grow(p->arena, r->item_spans, (size_t)r->nitems - 1,
                                 (size_t)r->nitems, sizeof *r->item_spans);
        r->item_spans[r->nitems - 1] = t.span;
    }
}

/* ---- includes --------------------------------------------------------------------- */

static char *read_whole(const char *path, size_t *len, int *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        *err = errno;
        return NULL;
    }
    size_t cap = 4096, n = 0;
    char *buf = mem_malloc(cap);
    for (;;) {
        if (!buf) {
            fclose(f);
            *err = ENOMEM;
            return NULL;
        }
        n += fread(buf + n, 1, cap - n, f);
        if (n < cap)
            break;
        if (cap > ((size_t)1 << 30)) {   /* a model is not a gigabyte */
            mem_free(buf);
            fclose(f);
            *err = EFBIG;
            return NULL;
        }
        cap *= 2;
        char *nb = mem_realloc(buf, cap);
        if (!nb)
            mem_free(buf);
        buf = nb;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        mem_free(buf);
        *err = EIO;
        return NULL;
    }
    *len = n;
    return buf;
}

static int is_regular_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return 0;
    /* fopen succeeds on directories under Linux; reading one fails */
    char c;
    size_t n = fread(&c, 1, 1, f);
    int ok = n == 1 || !ferror(f);
    fclose(f);
    return ok;
}

static const char *dir_of(Arena *a, const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return ".";
    if (slash == path)
        return "/";
    return mem_strndup(a, path, (size_t)(slash - path));
}

static const char *join_path(Arena *a, const char *dir, const char *name, const char *ext)
{
    if (name[0] == '/' || !dir || strcmp(dir, ".") == 0)
        dir = NULL;
    size_t n = (dir ? strlen(dir) + 1 : 0) + strlen(name) + strlen(ext) + 1;
    char *s = mem_alloc(a, n);
    snprintf(s, n, "%s%s%s%s", dir ? dir : "", dir ? "/" : "", name, ext);
    return s;
}

static void parse_file_into(Parser *p, const char *path, const char *text, size_t len);

static void include(Parser *p, Record *r)
{
    const char *name = r->text;
    if (!name)
        return;
    if (p->incl_depth + 1 > (p->opts && p->opts->max_include_depth ? p->opts->max_include_depth : 16)) {
        diag_report(p->diag, DIAG_ERROR, r->text_span, "is a file including itself?",
                    "$INCLUDE nested too deeply");
        return;
    }
    int by_name = !strchr(name, '/') && !strchr(name, '.');
    const char *path = NULL;
    if (by_name) {
        for (int i = 0; p->opts && i < p->opts->ninclude_dirs; i++) {
            const char *cand = join_path(p->arena, p->opts->include_dirs[i], name, ".qlx");
            if (is_regular_file(cand)) {
                path = cand;
                break;
            }
        }
        if (!path) {
            const char *cand = join_path(p->arena, p->dir, name, ".qlx");
            if (is_regular_file(cand))
                path = cand;
        }
        if (!path) {
            diag_report(p->diag, DIAG_ERROR, r->text_span,
                        "stdlib models are looked up in --stdlib DIR, $QLX_STDLIB and beside qlxc",
                        "no stdlib model named '%s'", name);
            return;
        }
    } else {
        path = join_path(p->arena, p->dir, name, "");
    }
    size_t len = 0;
    int err = 0;
    char *text = read_whole(path, &len, &err);
    if (!text) {
        diag_report(p->diag, DIAG_ERROR, r->text_span, NULL, "cannot read '%s': %s",
                    path, strerror(err));
        return;
    }
    /* the nested file gets its own lexer and directory; the tree is shared */
    Parser saved = *p;
    p->incl_depth++;
    p->dir = dir_of(p->arena, path);
    parse_file_into(p, path, text, len);
    mem_free(text);
    Ast *ast = p->ast;
    *p = saved;
    p->ast = ast;
}

/* ---- records ------------------------------------------------------------------------ */

static void record(Parser *p)
{
    Token t = p->tok;
    RecKind k = kw_record_lookup(t.text, t.len);
    if (k == REC_UNKNOWN) {
        int n;
        const char *const *names = kw_record_names(&n);
        const char *s = diag_suggest(t.text, names, n);
        char hint[80];
        if (s)
            snprintf(hint, sizeof hint, "did you mean '$%s'?", s);
        error_at(p, t.span, s ? hint : NULL, "unknown record '$%s'", t.text);
        advance(p);
        sync_record(p);
        return;
    }
    Record *r = mem_alloc(p->arena, sizeof *r);
    r->kind = k;
    r->name_span = t.span;
    r->spelled = t.text;
    r->depth = p->incl_depth;
    p->rec = k;
    switch (kw_record(k)->body) {
    case BODY_TEXT: text_body(p, r); break;
    case BODY_PATH: path_body(p, r); break;
    case BODY_INPUT: input_body(p, r); break;
    case BODY_COMPARTMENTS: compartments_body(p, r); break;
    case BODY_THETA: theta_body(p, r); break;
    case BODY_RANDOM: random_body(p, r); break;
    case BODY_PRIOR: prior_body(p, r); break;
    case BODY_CODE: code_body(p, r); break;
    case BODY_NAMED: named_body(p, r); break;
    case BODY_DIRECTIVES: directives_body(p, r); break;
    case BODY_OPTIONS: options_record(p, r); break;
    case BODY_TABLE: table_body(p, r); break;
    }
    if (p->panic)
        sync_record(p);
    if (!at(p, TK_EOF) && !at(p, TK_RECORD))
        sync_record(p);   /* bodies stop only there; belt and braces */
    r->span = span_from(p, t.span);
    MEM_PUSH(p->arena, p->ast->recs, p->ast->nrecs, p->ast->caprecs, r);
    if (k == REC_INCLUDE && !(p->opts && p->opts->no_includes) && p->incl_depth >= 0)
        include(p, r);
    p->rec = REC_UNKNOWN;
}

/* model := { NL } { record } */
static void parse_records(Parser *p)
{
    advance(p);
    for (;;) {
        skip_newlines(p);
        if (at(p, TK_EOF) || diag_full(p->diag))
            return;
        if (!at(p, TK_RECORD)) {
            expected(p, "a record such as $PROBLEM", "every model part starts with a $RECORD");
            sync_record(p);
            continue;
        }
        record(p);
    }
}

static void parse_file_into(Parser *p, const char *path, const char *text, size_t len)
{
    int file = diag_add_file(p->diag, path, text, len);
    p->lx = lex_new(p->arena, p->diag, file);
    p->paren = p->depth = p->panic = 0;
    memset(&p->tok, 0, sizeof p->tok);
    if (p->incl_depth == 0) {
        p->ast->file = file;
        p->ast->src = diag_file_text(p->diag, file, NULL);
    }
    parse_records(p);
    if (p->incl_depth == 0)
        p->ast->comments = lex_comments(p->lx, &p->ast->ncomments);
}

Ast *parse_string(Arena *a, Diag *d, const char *name, const char *text,
                  size_t len, const ParseOpts *o)
{
    Parser p;
    memset(&p, 0, sizeof p);
    p.arena = a;
    p.diag = d;
    p.opts = o;
    p.ast = mem_alloc(a, sizeof *p.ast);
    p.rec = REC_UNKNOWN;
    p.dir = dir_of(a, name);
    parse_file_into(&p, name, text, len);
    return p.ast;
}

Ast *parse_file(Arena *a, Diag *d, const char *path, const ParseOpts *o)
{
    size_t len = 0;
    int err = 0;
    char *text = read_whole(path, &len, &err);
    if (!text) {
        diag_report(d, DIAG_ERROR, diag_nospan(), NULL, "cannot read '%s': %s", path, strerror(err));
        return NULL;
    }
    Ast *t = parse_string(a, d, path, text, len, o);
    mem_free(text);
    return t;
}
