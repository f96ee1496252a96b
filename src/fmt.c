/*
 * fmt.c -- `qlxc fmt`: the canonical layout of a .qlx model.
 *
 * The idea.  Every line of code the printer writes comes from one "unit":
 * a record header, one declaration, statement or directive, or one of the
 * lines an if-statement is made of (`if (c) {`, `} else {`, `}`).  A unit
 * is anchored at a source offset, and the anchors increase through the
 * file, so the comments (which the lexer kept in order, with offsets) are
 * merged in as one merges two sorted lists: before a unit is printed,
 * every comment that lies before its anchor is placed.  The first of them,
 * when it stood at the end of a code line, stays at the end of the unit
 * printed last; all others get a line of their own.  Lines are collected
 * first and written at the end, so that runs of trailing comments can be
 * aligned the way gofmt aligns them.
 *
 * The layout is a function of the tree and the comments, and the printed
 * text parses back to the same tree with the same comments in the same
 * places, so formatting twice changes nothing.
 *
 * Layout rules
 *   Records   `$NAME` with the full upper-case name ($EST -> $ESTIMATION),
 *             one blank line between records.  Whatever a record says
 *             besides its list of declarations goes on the header line:
 *             the $PROBLEM title, the path of $DATA/$LUA/$INCLUDE, the
 *             $INPUT columns (`DV=CONC`), the $TABLE items, the name of
 *             $QUANTUM/$NETWORK, then the record's options.
 *   Options   `KEY=value`, key upper-case; values of enum options
 *             upper-case; numbers, paths and names as written, strings
 *             quoted.  $DATA filters keep NONMEM's form: `IGNORE=(DOSE.EQ.0)`.
 *   Bodies    one item a line, indented two spaces: a compartment
 *             `depot(dose)`, a THETA `tka = 0.45 (0, 10) FIX
 *             TRANSFORM=softplus` (the NONMEM form `(lo, init, hi)` stays
 *             that form), an OMEGA/SIGMA `BLOCK(2) a b ~ 0.1 0.01 0.1 FIX`,
 *             a prior `name ~ dist(args)`, a statement, a directive
 *             `NAME item item` (directive names upper-case, `KEY=value`,
 *             `name ~ expr`, `->` between layers).
 *   if        always the brace form, whatever was written (IF/THEN/ENDIF
 *             and one-line ifs too): `if (c) {`, `} else if (c) {`,
 *             `} else {`, `}`; each level indents two more spaces.
 *   Exprs     blanks around `+ - == != < <= > >= && ||` and `=`, `~`;
 *             none around `* / ^` nor after a unary operator; `, ` after
 *             commas.  Operators in their symbolic spelling (`**` -> `^`,
 *             `.EQ.` -> `==`, `.AND.` -> `&&`, `.NOT.` -> `!`).  Every
 *             parenthesis the user wrote stays, and only those that the
 *             tree's shape requires are added.  Math functions (FUNC in
 *             keywords.def) and THETA(n)-style names are spelled as the
 *             table spells them; user names as written.  One exception to
 *             the spacing: `d / dt` when d and dt are names, because
 *             `d/dt` is the derivative token.
 *   Comments  a comment on its own line stays on its own line, before the
 *             first unit that starts after it, indented like that unit
 *             (like the body inside it, before a closing brace).  Comments
 *             inside a multi-line construct come after it.  Between two
 *             records, indented comments that directly follow the first
 *             record (no blank line) stay with it, indented; from the
 *             first comment in column 1 or after a blank line on, they
 *             stand in column 1 above the second record's header.  A
 *             trailing comment follows its line after two blanks;
 *             trailing comments of consecutive lines (header included)
 *             line up two columns after the longest of those lines.
 *   Blanks    at most one blank line where the source had one or more,
 *             never right after a header or an opening brace, never
 *             before a closing brace, never at the ends of the file, and
 *             never trailing blanks on a line.
 *
 * Seeing blank lines needs to know where a construct ends, which the tree
 * does not say; the printer counts lines in Ast.src.  Without it (a tree
 * built by hand) the tree is still printed faithfully, but blank lines and
 * comments around multi-line constructs are placed only approximately.
 */
#include "fmt.h"

#include <limits.h>
#include <string.h>

/* One output line; a blank line has code "" and blank = 1. */
typedef struct {
    const char *code;       /* everything but the trailing comment */
    const char *comment;    /* the trailing comment, or NULL */
    int blank;
} Line;

typedef enum {
    U_RECORD,               /* a record header */
    U_BODY,                 /* one body line */
    U_OPEN,                 /* `if (c) {` */
    U_ELSE,                 /* `} else if (c) {` and `} else {` */
    U_CLOSE                 /* `}` */
} UnitKind;

typedef struct {
    Arena *arena;           /* scratch: the lines, freed when done */
    const Ast *ast;
    RecKind rec;            /* the record being printed */

    int *line_off;          /* start offset of every source line, or NULL */
    int nline_off;

    Line *lines;
    int nlines, caplines;
    char *buf;              /* the line being built, NUL-terminated */
    int len, cap;

    int ci;                 /* the next comment to place */
    int last_unit;          /* index in lines of the last unit, or -1 */
    int prev_end;           /* source line where the last placed item ends */
    int block_start;        /* the next item opens a body: no blank before */
} Fmt;

/* ---- source lines ------------------------------------------------------ */

/* The tree keeps where each node starts; where a multi-line construct
 * ends is needed to see blank lines, so the line starts of the text are
 * indexed once.  Without the text (Ast.src NULL) a construct is taken to
 * end on the last line one of its parts starts on. */
static void index_lines(Fmt *f)
{
    const char *s = f->ast->src;
    int n = 1;
    if (!s)
        return;
    for (const char *p = s; *p; p++)
        if (*p == '\n')
            n++;
    f->line_off = mem_alloc(f->arena, (size_t)n * sizeof *f->line_off);
    n = 1;
    for (const char *p = s; *p; p++)
        if (*p == '\n')
            f->line_off[n++] = (int)(p - s) + 1;
    f->nline_off = n;
}

static int in_main(const Fmt *f, Span s)
{
    return s.file == f->ast->file && s.line > 0;
}

static int imax(int a, int b)
{
    return a > b ? a : b;
}

static int line_of(const Fmt *f, int off)
{
    int lo = 0, hi = f->nline_off - 1;
    while (lo < hi) {           /* the last line starting at or before off */
        int mid = (lo + hi + 1) / 2;
        if (f->line_off[mid] <= off)
            lo = mid;
        else
            hi = mid - 1;
    }
    return lo + 1;
}

/* The offset of the last byte of s that belongs to code: a span may run
 * on over newlines, blanks and comments (an if's span takes in the blank
 * lines after its closing brace, where it looked for an else). */
static int last_code_byte(const Fmt *f, Span s)
{
    const LexComment *cm = f->ast->comments;
    int p = s.off + (s.len > 0 ? s.len - 1 : 0);
    if (!f->line_off)
        return p;
    while (p > s.off) {
        char c = f->ast->src[p];
        if (c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f') {
            p--;
            continue;
        }
        /* inside a comment?  the last comment starting at or before p */
        int k = -1, lo = 0, hi = f->ast->ncomments - 1;
        while (lo <= hi) {
            int mid = (lo + hi) / 2;
            if (cm[mid].span.off <= p) {
                k = mid;
                lo = mid + 1;
            } else {
                hi = mid - 1;
            }
        }
        if (k >= 0 && p < cm[k].span.off + cm[k].span.len && cm[k].span.off > s.off) {
            p = cm[k].span.off - 1;
            continue;
        }
        break;
    }
    return p;
}

/* The source line where s's code ends. */
static int end_line(const Fmt *f, Span s)
{
    if (!in_main(f, s))
        return 0;
    if (!f->line_off)
        return s.line;
    return imax(s.line, line_of(f, last_code_byte(f, s)));
}

/* The last line any part of e starts on (the fallback without the text). */
static int expr_line(const Fmt *f, const Expr *e)
{
    int l;
    if (!e)
        return 0;
    l = end_line(f, e->span);
    l = imax(l, expr_line(f, e->lhs));
    l = imax(l, expr_line(f, e->rhs));
    for (int i = 0; i < e->nargs; i++)
        l = imax(l, expr_line(f, e->args[i]));
    return l;
}

/* ---- the line buffer --------------------------------------------------- */

static void putn(Fmt *f, const char *s, int n)
{
    if (f->len + n + 1 > f->cap) {
        int nc = f->cap ? f->cap : 128;
        while (f->len + n + 1 > nc)
            nc *= 2;
        f->buf = mem_grow(f->arena, f->buf, (size_t)f->cap, (size_t)nc, 1);
        f->cap = nc;
    }
    memcpy(f->buf + f->len, s, (size_t)n);
    f->len += n;
    f->buf[f->len] = '\0';
}

static void put(Fmt *f, const char *s)
{
    if (s)
        putn(f, s, (int)strlen(s));
}

static void putch(Fmt *f, char c)
{
    putn(f, &c, 1);
}

static void put_upper(Fmt *f, const char *s)
{
    for (; s && *s; s++)
        putch(f, *s >= 'a' && *s <= 'z' ? (char)(*s - 32) : *s);
}

static void put_int(Fmt *f, int v)
{
    char tmp[24];
    snprintf(tmp, sizeof tmp, "%d", v);
    put(f, tmp);
}

static void put_indent(Fmt *f, int ind)
{
    while (ind-- > 0)
        putch(f, ' ');
}

static void push_line(Fmt *f, Line l)
{
    MEM_PUSH(f->arena, f->lines, f->nlines, f->caplines, l);
}

/* Ends the line being built; trailing blanks never reach the output. */
static int end_code_line(Fmt *f)
{
    Line l = { "", NULL, 0 };
    while (f->len > 0 && (f->buf[f->len - 1] == ' ' || f->buf[f->len - 1] == '\t'))
        f->len--;
    l.code = mem_strndup(f->arena, f->buf ? f->buf : "", (size_t)f->len);
    f->len = 0;
    push_line(f, l);
    return f->nlines - 1;
}

/* A blank line; never two in a row and never at the top. */
static void blank(Fmt *f)
{
    Line l = { "", NULL, 1 };
    if (f->nlines > 0 && !f->lines[f->nlines - 1].blank)
        push_line(f, l);
}

/* ---- comments ---------------------------------------------------------- */

static void own_comment(Fmt *f, int ind, const LexComment *c)
{
    f->len = 0;
    put_indent(f, ind);
    put(f, c->text);
    end_code_line(f);
    f->prev_end = imax(f->prev_end, c->span.line);
    f->block_start = 0;
}

/* Takes the comments before offset upto: returns the index range [*from,
 * return) and, when the first one ended a code line, leaves it at the end
 * of the unit printed last (if nothing was printed after that unit). */
static int take_comments(Fmt *f, int upto, int *from)
{
    const LexComment *cm = f->ast->comments;
    int i = f->ci, end = f->ci;
    while (end < f->ast->ncomments && cm[end].span.off < upto)
        end++;
    f->ci = end;
    if (i < end && !cm[i].own_line && f->last_unit >= 0
        && f->last_unit == f->nlines - 1 && !f->lines[f->last_unit].comment) {
        f->lines[f->last_unit].comment = cm[i].text;
        f->prev_end = imax(f->prev_end, cm[i].span.line);
        i++;
    }
    *from = i;
    return end;
}

/* Comments ahead of a body unit, at indentation ind. */
static void place_body_comments(Fmt *f, int upto, int ind)
{
    const LexComment *cm = f->ast->comments;
    int i, end = take_comments(f, upto, &i);
    for (; i < end; i++) {
        if (!f->block_start && cm[i].span.line > f->prev_end + 1)
            blank(f);
        own_comment(f, ind, &cm[i]);
    }
}

/* Comments between two records (hline: the next header's line), or
 * after the last record (hline = 0).  Those that directly follow the
 * record above (no blank line) and are indented belong to it and stay
 * indented; from the first one that starts in column 1 or follows a blank
 * line on, they belong to the header below, as a NONMEM user puts a note
 * above a record. */
static void place_region_comments(Fmt *f, int upto, int hline)
{
    const LexComment *cm = f->ast->comments;
    int i, end = take_comments(f, upto, &i), g = end, prev = f->prev_end;

    if (f->nlines == 0) {                   /* the top of the file */
        for (; i < end; i++) {
            if (cm[i].span.line > f->prev_end + 1)
                blank(f);
            own_comment(f, 0, &cm[i]);
        }
        if (hline > f->prev_end + 1)
            blank(f);
        return;
    }
    for (int k = i; k < end; k++) {
        if (cm[k].span.line > prev + 1 || cm[k].span.col == 1) {
            g = k;
            break;
        }
        prev = imax(prev, cm[k].span.line);
    }
    for (int k = i; k < end; k++) {
        if (k == g || (k > g && cm[k].span.line > f->prev_end + 1))
            blank(f);
        own_comment(f, k < g ? 2 : 0, &cm[k]);
    }
    if (hline > 0 && (g == end || hline > f->prev_end + 1))
        blank(f);
}

/* ---- units ------------------------------------------------------------- */

/* Places the comments before the unit at `at`, then the blank line the
 * source had (if any), and starts the unit's line. */
static void unit_begin(Fmt *f, Span at, UnitKind k, int ind)
{
    int upto = in_main(f, at) ? at.off : 0;
    int line = in_main(f, at) ? at.line : f->prev_end;
    if (k == U_RECORD) {
        place_region_comments(f, upto, line);
    } else {
        place_body_comments(f, upto, k == U_ELSE || k == U_CLOSE ? ind + 2 : ind);
        if ((k == U_BODY || k == U_OPEN) && !f->block_start && line > f->prev_end + 1)
            blank(f);
    }
    f->len = 0;
    put_indent(f, ind);
}

/* Ends the unit's line; last is the source line where the unit ends. */
static void unit_end(Fmt *f, UnitKind k, int last)
{
    f->last_unit = end_code_line(f);
    f->prev_end = imax(f->prev_end, last);
    f->block_start = k == U_RECORD || k == U_OPEN || k == U_ELSE;
}

/* ---- expressions ------------------------------------------------------- */

/* Binding strength as ast_op_prec gives it (loosest 1), and atoms. */
enum { P_OR = 1, P_AND, P_CMP, P_ADD, P_MUL, P_UNARY, P_POW, P_ATOM };

static const char *fortran_text(AstOp op)
{
    switch (op) {
    case OP_LT: return ".LT.";
    case OP_LE: return ".LE.";
    case OP_GT: return ".GT.";
    case OP_GE: return ".GE.";
    case OP_EQ: return ".EQ.";
    case OP_NE: return ".NE.";
    default: return ast_op_text(op);
    }
}

/* How tightly e binds as seen from outside, its own parentheses aside.
 * A literal spelled with a sign binds like a unary minus. */
static int expr_prec(const Expr *e)
{
    switch (e->kind) {
    case EX_BINARY: return ast_op_prec(e->op);
    case EX_UNARY: return P_UNARY;
    case EX_NUM: return e->text && e->text[0] == '-' ? P_UNARY : P_ATOM;
    default: return P_ATOM;
    }
}

/* Must child, an operand of parent, be put in parentheses so that the
 * text parses back to this tree?  Comparisons do not chain; `^` takes a
 * plain operand on its left and is right-associative; the others are
 * left-associative. */
static int needs_parens(const Expr *parent, const Expr *child, int right)
{
    int cp = expr_prec(child), pp;
    if (child->parens > 0 || cp == P_ATOM)
        return 0;
    if (parent->kind == EX_UNARY)
        return cp < P_UNARY;
    pp = ast_op_prec(parent->op);
    if (pp == P_POW)
        return right ? cp < P_UNARY : 1;
    if (pp == P_CMP)
        return cp <= P_CMP;
    return right ? cp <= pp : cp < pp;
}

static int is_ident_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
           || c == '_';
}

static void put_expr(Fmt *f, const Expr *e);

static void put_operand(Fmt *f, const Expr *parent, const Expr *child, int right)
{
    int p = needs_parens(parent, child, right);
    if (p)
        putch(f, '(');
    put_expr(f, child);
    if (p)
        putch(f, ')');
}

static void put_args(Fmt *f, const Expr *e)
{
    putch(f, '(');
    for (int i = 0; i < e->nargs; i++) {
        if (i)
            put(f, ", ");
        put_expr(f, e->args[i]);
    }
    putch(f, ')');
}

/* `d/dt` is one token to the lexer; a quotient of the names d and dt
 * written without blanks would come back as a derivative. */
static void guard_ddt(Fmt *f, int slash)
{
    const char *b = f->buf;
    if (slash >= 1 && b[slash - 1] == 'd' && (slash == 1 || !is_ident_char(b[slash - 2]))
        && f->len >= slash + 3 && b[slash + 1] == 'd' && b[slash + 2] == 't'
        && (f->len == slash + 3 || !is_ident_char(b[slash + 3]))) {
        int tail = f->len - slash - 1;
        putn(f, "  ", 2);
        memmove(f->buf + slash + 3, f->buf + slash + 1, (size_t)tail);
        f->buf[slash] = ' ';
        f->buf[slash + 1] = '/';
        f->buf[slash + 2] = ' ';
        f->buf[f->len] = '\0';
    }
}

static void put_expr(Fmt *f, const Expr *e)
{
    /* A tuple's parentheses are its syntax; any the user added around
     * them are counted in parens beyond the first. */
    int np = e->kind == EX_TUPLE ? e->parens - 1 : e->parens;
    for (int i = 0; i < np; i++)
        putch(f, '(');
    switch (e->kind) {
    case EX_NUM:
    case EX_NAME:
        put(f, e->text);
        break;
    case EX_INDEXED:
        put_upper(f, e->text);
        putch(f, '(');
        put_int(f, e->index);
        putch(f, ')');
        break;
    case EX_UNARY:
        put(f, ast_op_text(e->op));
        put_operand(f, e, e->lhs, 1);
        break;
    case EX_BINARY: {
        int spaced = ast_op_prec(e->op) <= P_ADD, slash;
        put_operand(f, e, e->lhs, 0);
        if (spaced)
            putch(f, ' ');
        slash = f->len;
        put(f, ast_op_text(e->op));
        if (spaced)
            putch(f, ' ');
        put_operand(f, e, e->rhs, 1);
        if (e->op == OP_DIV)
            guard_ddt(f, slash);
        break;
    }
    case EX_CALL: {
        const KwFunc *fn = e->ns ? NULL : kw_func_lookup(e->text);
        if (e->ns) {
            put(f, e->ns);
            putch(f, '.');
        }
        put(f, fn ? fn->name : e->text);
        put_args(f, e);
        break;
    }
    case EX_TUPLE:
        put_args(f, e);
        break;
    }
    for (int i = 0; i < np; i++)
        putch(f, ')');
}

/* ---- records ----------------------------------------------------------- */

/* Filter keeps a string's text without its quotes; the quotes are seen
 * in the value's span, which is two bytes longer than the text. */
static int filter_quoted(const Filter *fl)
{
    char c = fl->value ? fl->value[0] : '0';
    return fl->value && fl->value_span.len == (int)strlen(fl->value) + 2
           && !(c == '-' || c == '+' || c == '.' || (c >= '0' && c <= '9'));
}

static void put_option(Fmt *f, const Option *o)
{
    const KwOption *k = kw_option_lookup(f->rec, o->key);
    put_upper(f, o->key);
    switch (o->kind) {
    case OV_FLAG:
        return;
    case OV_WORD:
        putch(f, '=');
        if (k && k->type == OPT_ENUM)
            put_upper(f, o->text);
        else
            put(f, o->text);
        return;
    case OV_STRING:
        put(f, "=\"");
        put(f, o->text);
        putch(f, '"');
        return;
    case OV_AT:
        put(f, "=@");
        return;
    case OV_HASH:
        put(f, "=#");
        return;
    case OV_FILTERS:
        /* NONMEM's own notation, kept: IGNORE=(DOSE.EQ.0, TIME.GT.24) */
        put(f, "=(");
        for (int i = 0; i < o->nfilters; i++) {
            const Filter *fl = &o->filters[i];
            if (i)
                put(f, ", ");
            put(f, fl->column);
            put(f, fl->fortran ? fortran_text(fl->op) : ast_op_text(fl->op));
            if (filter_quoted(fl)) {
                putch(f, '"');
                put(f, fl->value);
                putch(f, '"');
            } else {
                put(f, fl->value);
            }
        }
        putch(f, ')');
        return;
    case OV_NAMES:
        put(f, "=(");
        for (int i = 0; i < o->nnames; i++) {
            if (i)
                put(f, ", ");
            put(f, o->names[i]);
        }
        putch(f, ')');
        return;
    default:                    /* OV_NUM, OV_PATH: as written */
        putch(f, '=');
        put(f, o->text);
        return;
    }
}

/* The header line: `$NAME` and whatever the record says on it.  Returns
 * the last source line the header's content came from. */
static int put_header(Fmt *f, const Record *r)
{
    const KwRecord *kr = kw_record(r->kind);
    int last = end_line(f, r->name_span);
    putch(f, '$');
    if (kr)
        put(f, kr->name);
    else
        put(f, r->spelled);
    switch (kr ? kr->body : BODY_OPTIONS) {
    case BODY_TEXT:
        if (r->text && r->text[0]) {
            putch(f, ' ');
            put(f, r->text);
            last = imax(last, end_line(f, r->text_span));
        }
        break;
    case BODY_PATH:
        if (r->text) {
            putch(f, ' ');
            if (r->text_quoted)
                putch(f, '"');
            put(f, r->text);
            if (r->text_quoted)
                putch(f, '"');
            last = imax(last, end_line(f, r->text_span));
        }
        break;
    case BODY_INPUT:
        for (int i = 0; i < r->ncols; i++) {
            putch(f, ' ');
            put(f, r->cols[i].name);
            last = imax(last, end_line(f, r->cols[i].span));
            if (r->cols[i].alias) {
                putch(f, '=');
                put(f, r->cols[i].alias);
                last = imax(last, end_line(f, r->cols[i].alias_span));
            }
        }
        break;
    case BODY_TABLE:
        for (int i = 0; i < r->nitems; i++) {
            putch(f, ' ');
            put(f, r->items[i]);
            if (r->item_spans)
                last = imax(last, end_line(f, r->item_spans[i]));
        }
        break;
    case BODY_NAMED:
        if (r->name) {
            putch(f, ' ');
            put(f, r->name);
            last = imax(last, end_line(f, r->nm_span));
        }
        break;
    default:
        break;
    }
    for (int i = 0; i < r->nopts; i++) {
        putch(f, ' ');
        put_option(f, &r->opts[i]);
        last = imax(last, end_line(f, r->opts[i].key_span));
        if (r->opts[i].kind != OV_FLAG)
            last = imax(last, end_line(f, r->opts[i].value_span));
    }
    return last;
}

static void put_theta(Fmt *f, const ThetaDecl *d)
{
    if (d->name) {
        put(f, d->name);
        put(f, " = ");
    }
    if (d->nonmem_form && !d->lo && !d->hi) {
        putch(f, '(');          /* NONMEM's (init) */
        put(f, d->init);
        putch(f, ')');
    } else if (d->nonmem_form) {
        /* (lo, init, hi), or (lo, init) when hi is open */
        putch(f, '(');
        put(f, d->lo);
        put(f, ", ");
        put(f, d->init);
        if (d->hi) {
            put(f, ", ");
            put(f, d->hi);
        }
        putch(f, ')');
    } else {
        put(f, d->init);
        if (d->lo || d->hi) {
            put(f, " (");
            put(f, d->lo);
            put(f, ", ");
            put(f, d->hi);
            putch(f, ')');
        }
    }
    if (d->fix)
        put(f, " FIX");
    if (d->transform) {
        put(f, " TRANSFORM=");
        put(f, d->transform);
    }
}

static void put_random(Fmt *f, const RandomDecl *d)
{
    if (d->block) {
        put(f, "BLOCK(");
        put_int(f, d->block);
        put(f, ") ");
    }
    for (int i = 0; i < d->nnames; i++) {
        if (i)
            putch(f, ' ');
        put(f, d->names[i]);
    }
    if (d->nnames)   /* NONMEM's unnamed entries have no '~' */
        put(f, " ~");
    for (int i = 0; i < d->nvalues; i++) {
        if (d->nnames || i)
            putch(f, ' ');
        put(f, d->values[i]);
    }
    if (d->fix)
        put(f, " FIX");
    if (d->sd)
        put(f, " SD");
    if (d->corr)
        put(f, " CORRELATION");
}

static void put_directive(Fmt *f, const Directive *d)
{
    const KwDirective *k = kw_directive_lookup(f->rec, d->name);
    if (k)
        put(f, k->name);
    else
        put(f, d->name);
    for (int i = 0; i < d->nitems; i++) {
        const DirItem *it = &d->items[i];
        putch(f, ' ');
        switch (it->kind) {
        case DI_KEYVAL:
            put(f, it->key);
            putch(f, '=');
            put_expr(f, it->expr);
            break;
        case DI_DIST:
            put(f, it->key);
            put(f, " ~ ");
            put_expr(f, it->expr);
            break;
        case DI_ARROW:
            put(f, "->");
            break;
        default:
            put_expr(f, it->expr);
            break;
        }
    }
}

static void put_stmt(Fmt *f, const Stmt *s, int ind);

static void put_body(Fmt *f, Stmt *const *body, int n, int ind)
{
    for (int i = 0; i < n; i++)
        put_stmt(f, body[i], ind);
}

/* The source line where an if's arm header (`if (c)`, `else`) ends. */
static int arm_end(const Fmt *f, const IfArm *a)
{
    int l = end_line(f, a->span);
    return a->cond ? imax(l, expr_line(f, a->cond)) : l;
}

/* `(c)` after if: the parentheses are the statement's syntax, and the
 * parser marks the condition as parenthesised; a tuple brings its own. */
static void put_cond(Fmt *f, const Expr *c)
{
    Expr bare = *c;
    if (c->kind == EX_TUPLE) {
        put_expr(f, c);
        return;
    }
    bare.parens = 0;
    putch(f, '(');
    put_expr(f, &bare);
    putch(f, ')');
}

static void put_stmt(Fmt *f, const Stmt *s, int ind)
{
    Span close;
    switch (s->kind) {
    case ST_ASSIGN:
    case ST_DDT:
        unit_begin(f, s->span, U_BODY, ind);
        if (s->kind == ST_DDT && s->name) {
            put(f, "d/dt(");
            put(f, s->name);
            putch(f, ')');
        } else if (s->kind == ST_DDT) {
            put(f, "DADT(");
            put_int(f, s->name_index);
            putch(f, ')');
        } else if (s->name_index > 0) {
            put_upper(f, s->name);
            putch(f, '(');
            put_int(f, s->name_index);
            putch(f, ')');
        } else {
            put(f, s->name);
        }
        put(f, " = ");
        if (s->value)
            put_expr(f, s->value);
        unit_end(f, U_BODY, imax(end_line(f, s->span), expr_line(f, s->value)));
        return;
    case ST_IF:
        for (int i = 0; i < s->narms; i++) {
            const IfArm *a = &s->arms[i];
            unit_begin(f, i ? a->span : s->span, i ? U_ELSE : U_OPEN, ind);
            put(f, i ? "} else " : "");
            if (a->cond) {
                put(f, "if ");
                put_cond(f, a->cond);
                put(f, " {");
            } else {
                putch(f, '{');
            }
            unit_end(f, i ? U_ELSE : U_OPEN, arm_end(f, a));
            put_body(f, a->body, a->nbody, ind + 2);
        }
        /* The closing brace stands for the statement's last byte of code:
         * the `}` or ENDIF written, or the end of a one-line if. */
        close = s->span;
        if (in_main(f, close)) {
            close.off = last_code_byte(f, s->span);
            close.len = 1;
            close.line = f->line_off ? line_of(f, close.off)
                                     : f->prev_end + (s->style != IF_ONELINE);
        }
        unit_begin(f, close, U_CLOSE, ind);
        putch(f, '}');
        unit_end(f, U_CLOSE, close.line);
        return;
    }
}

static void put_record(Fmt *f, const Record *r)
{
    const KwRecord *kr = kw_record(r->kind);
    int last;
    f->rec = r->kind;
    unit_begin(f, r->span, U_RECORD, 0);
    last = put_header(f, r);
    unit_end(f, U_RECORD, last);
    switch (kr ? kr->body : BODY_OPTIONS) {
    case BODY_COMPARTMENTS:
        for (int i = 0; i < r->ncmts; i++) {
            const Compartment *c = &r->cmts[i];
            last = end_line(f, c->span);
            unit_begin(f, c->span, U_BODY, 2);
            put(f, c->name);
            if (c->nroles > 0) {
                putch(f, '(');
                for (int j = 0; j < c->nroles; j++) {
                    if (j)
                        put(f, ", ");
                    put(f, c->roles[j]);
                    if (c->role_spans)
                        last = imax(last, end_line(f, c->role_spans[j]));
                }
                putch(f, ')');
            }
            unit_end(f, U_BODY, last);
        }
        break;
    case BODY_THETA:
        for (int i = 0; i < r->nthetas; i++) {
            unit_begin(f, r->thetas[i].span, U_BODY, 2);
            put_theta(f, &r->thetas[i]);
            unit_end(f, U_BODY, end_line(f, r->thetas[i].span));
        }
        break;
    case BODY_RANDOM:
        for (int i = 0; i < r->nrands; i++) {
            unit_begin(f, r->rands[i].span, U_BODY, 2);
            put_random(f, &r->rands[i]);
            unit_end(f, U_BODY, end_line(f, r->rands[i].span));
        }
        break;
    case BODY_PRIOR:
        for (int i = 0; i < r->npriors; i++) {
            const PriorDecl *p = &r->priors[i];
            unit_begin(f, p->span, U_BODY, 2);
            put(f, p->name);
            put(f, " ~ ");
            if (p->dist)
                put_expr(f, p->dist);
            unit_end(f, U_BODY, end_line(f, p->span));
        }
        break;
    case BODY_CODE:
        put_body(f, r->stmts, r->nstmts, 2);
        break;
    case BODY_NAMED:
    case BODY_DIRECTIVES:
        for (int i = 0; i < r->ndirs; i++) {
            unit_begin(f, r->dirs[i].span, U_BODY, 2);
            put_directive(f, &r->dirs[i]);
            unit_end(f, U_BODY, end_line(f, r->dirs[i].span));
        }
        break;
    default:
        break;
    }
}

/* ---- output ------------------------------------------------------------ */

/* Writes the lines; a run of consecutive lines with trailing comments
 * puts them all two columns past the longest line of the run. */
static int write_lines(const Fmt *f, FILE *out)
{
    int i = 0;
    while (i < f->nlines) {
        const Line *l = &f->lines[i];
        if (!l->comment) {
            fputs(l->code, out);
            fputc('\n', out);
            i++;
            continue;
        }
        int j = i, col = 0;
        for (; j < f->nlines && f->lines[j].comment; j++)
            col = imax(col, (int)strlen(f->lines[j].code));
        for (; i < j; i++) {
            l = &f->lines[i];
            fprintf(out, "%-*s%s\n", col + 2, l->code, l->comment);
        }
    }
    return ferror(out) ? -1 : 0;
}

int fmt_write(const Ast *t, FILE *out)
{
    Fmt f;
    int rc;
    memset(&f, 0, sizeof f);
    f.arena = mem_arena_new();
    f.ast = t;
    f.last_unit = -1;
    index_lines(&f);
    for (int i = 0; i < t->nrecs; i++)
        if (t->recs[i]->depth == 0)
            put_record(&f, t->recs[i]);
    place_region_comments(&f, INT_MAX, 0);
    rc = write_lines(&f, out);
    if (fflush(out) != 0)
        rc = -1;
    mem_arena_free(&f.arena);
    return rc;
}
