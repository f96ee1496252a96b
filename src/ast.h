/*
 * ast.h -- the syntax tree of a .qlx model.
 *
 * The parser builds it, the formatter prints it back, the checker (sema)
 * annotates it: every Expr and Stmt has a `ref` that sema fills with what
 * a name resolves to.  Nothing else changes a tree after parsing.
 *
 * Every node keeps its Span; number literals keep their spelling so that
 * `qlxc fmt` can print exactly what the user wrote.
 *
 * Ownership: all nodes live in the parser's arena.
 */
#ifndef QLX_AST_H
#define QLX_AST_H

#include "diag.h"
#include "kw.h"
#include "lex.h"

typedef enum {
    OP_ADD, OP_SUB, OP_MUL, OP_DIV, OP_POW,
    OP_LT, OP_LE, OP_GT, OP_GE, OP_EQ, OP_NE, OP_AND, OP_OR,
    OP_NEG, OP_PLUS, OP_NOT
} AstOp;

/* What a name refers to; filled by sema. */
typedef enum {
    REF_NONE,
    REF_THETA,     /* index: 0-based THETA number */
    REF_ETA,       /* index: 0-based ETA number */
    REF_EPS,       /* index: 0-based EPS number */
    REF_CMT,       /* index: compartment; as a value, its amount */
    REF_DATA,      /* index: $INPUT column */
    REF_VAR,       /* index: assigned variable of the model (Model.vars) */
    REF_TIME,      /* TIME or T */
    REF_FUNC,      /* a math function (EX_CALL) */
    REF_LUA,       /* lua.name(...) */
    REF_RECFUNC,   /* a record-specific callable (rx, linear...) */
    REF_NET        /* a $QUANTUM or $NETWORK name */
} RefKind;

typedef struct {
    RefKind kind;
    int index;
} Ref;

typedef enum {
    EX_NUM,        /* num, text = spelling */
    EX_NAME,       /* text = name */
    EX_INDEXED,    /* text = THETA/ETA/EPS/ERR/A/DADT, index = n (1-based) */
    EX_UNARY,      /* op, lhs */
    EX_BINARY,     /* op, lhs, rhs */
    EX_CALL,       /* text = function, ns = "lua" or NULL, args */
    EX_TUPLE       /* args; (a, b, ...) */
} ExprKind;

typedef struct Expr Expr;
struct Expr {
    ExprKind kind;
    Span span;
    double num;
    const char *text;
    const char *ns;
    int index;
    AstOp op;
    int fortran;          /* operator spelled the NONMEM way (**, .EQ.) */
    Expr *lhs, *rhs;
    Expr **args;
    int nargs;
    int parens;           /* written inside parentheses */
    Ref ref;
};

typedef enum { ST_ASSIGN, ST_DDT, ST_IF } StmtKind;
typedef enum { IF_BRACES, IF_ONELINE, IF_THEN } IfStyle;

typedef struct Stmt Stmt;

typedef struct {
    Expr *cond;           /* NULL for the final else */
    Stmt **body;
    int nbody;
    Span span;            /* the `if`, `else if` or `else` keyword(s) */
} IfArm;

struct Stmt {
    StmtKind kind;
    Span span;            /* the whole statement */
    /* ST_ASSIGN: target name (name_index > 0 when written NAME(n), e.g. a
     * THETA(1) target, which sema rejects).  ST_DDT: compartment name, or
     * NULL with name_index = n for DADT(n). */
    const char *name;
    Span name_span;
    int name_index;
    Expr *value;
    /* ST_IF */
    IfArm *arms;
    int narms;
    IfStyle style;
    Ref ref;              /* sema: REF_VAR for assignments, REF_CMT for ddt */
};

typedef enum {
    OV_FLAG,              /* KEY alone */
    OV_NUM, OV_WORD, OV_STRING, OV_PATH, OV_AT, OV_HASH,
    OV_FILTERS,           /* KEY=(COL.EQ.1, ...) */
    OV_NAMES              /* KEY=(A, B, ...), for an OPT_NAMES option */
} OptValKind;

typedef struct {
    const char *column;
    Span column_span;
    AstOp op;
    int fortran;
    const char *value;    /* spelling */
    int value_quoted;     /* written as a "string" */
    Span value_span;
} Filter;

typedef struct {
    const char *key;
    Span key_span;
    OptValKind kind;
    const char *text;     /* spelling of the value */
    double num;
    Span value_span;
    Filter *filters;
    int nfilters;
    const char **names;   /* OV_NAMES */
    Span *name_spans;
    int nnames;
} Option;

typedef struct {
    const char *name;     /* as written before '=' (or alone) */
    const char *alias;    /* after '=', or NULL */
    Span span, alias_span;
} Column;

typedef struct {
    const char *name;
    Span span;
    const char **roles;   /* dose, observe */
    Span *role_spans;
    int nroles;
} Compartment;

typedef struct {
    const char *name;     /* NULL when unnamed (THETA(n) only) */
    Span span;            /* the whole declaration */
    Span name_span;
    const char *init, *lo, *hi;   /* spellings; lo/hi NULL when open */
    double vinit, vlo, vhi;
    int nonmem_form;      /* written (lo, init, hi) */
    int fix;
    const char *transform;        /* TRANSFORM=softplus, or NULL */
    Span transform_span;
} ThetaDecl;

typedef struct {
    Span span;
    int block;            /* 0 for a diagonal entry, n for BLOCK(n) */
    const char **names;
    Span *name_spans;
    int nnames;
    const char **values;  /* spellings */
    double *v;
    Span *value_spans;
    int nvalues;
    int fix, sd, corr;
} RandomDecl;

typedef struct {
    const char *name;
    Span name_span;
    Expr *dist;           /* a call: normal(mu, sd), lognormal(...), iwishart(...) */
    Span span;
} PriorDecl;

typedef enum { DI_EXPR, DI_KEYVAL, DI_DIST, DI_ARROW } DirItemKind;

typedef struct {
    DirItemKind kind;
    const char *key;      /* DI_KEYVAL, DI_DIST */
    Span span;
    Expr *expr;
} DirItem;

typedef struct {
    const char *name;
    Span span;            /* the whole line */
    Span name_span;
    DirItem *items;
    int nitems;
} Directive;

typedef struct Record Record;
struct Record {
    RecKind kind;
    Span span;            /* from '$' to the end of the record */
    Span name_span;       /* the '$NAME' token */
    const char *spelled;  /* the name as written, without '$' (EST, est...) */
    int depth;            /* 0 in the main file, n inside n $INCLUDEs */

    const char *text;     /* BODY_TEXT: the title; BODY_PATH: the path */
    Span text_span;
    int text_quoted;

    Option *opts;         /* record options, all bodies */
    int nopts;

    Column *cols;         int ncols;
    Compartment *cmts;    int ncmts;
    ThetaDecl *thetas;    int nthetas;
    RandomDecl *rands;    int nrands;
    PriorDecl *priors;    int npriors;
    Stmt **stmts;         int nstmts;

    const char *name;     /* BODY_NAMED: $QUANTUM q */
    Span nm_span;
    Directive *dirs;      int ndirs;

    const char **items;   /* BODY_TABLE: the columns to write */
    Span *item_spans;
    int nitems;
};

typedef struct {
    Record **recs;
    int nrecs, caprecs;
    int file;             /* the main file's index in the Diag */
    const LexComment *comments;   /* the main file's comments, in order */
    int ncomments;
    const char *src;      /* the main file's text (fmt counts lines in it), or NULL */
} Ast;

const char *ast_op_text(AstOp op);

/* A number written as such, signs included (2, -0.5, +3): 1 and *v, or 0. */
int ast_const_number(const Expr *e, double *v);

/* A directive's KEY value or KEY=value (key any case), or NULL. */
const Expr *ast_dir_value(const Directive *dir, const char *key);
int ast_op_prec(AstOp op);

#endif
