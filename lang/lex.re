/*
 * lex.re -- the .qlx lexer; re2c turns this file into build/gen/lex.c.
 *
 * Three scanners share one cursor: lex_code for declarations and
 * expressions, lex_path for a file name (after $DATA, $INCLUDE, $LUA,
 * FILE=), lex_text for the rest of a $PROBLEM line.  The parser chooses
 * the mode for each token it pulls, so a bare path like ../data/x.csv is
 * never mistaken for a division.
 *
 * The source is NUL-terminated (diag_add_file guarantees it); a NUL before
 * the end is a bad byte, not the end.  Runs of bytes the language does not
 * use become one TK_ERROR token, reported here once, so the parser stays
 * quiet about them and any input lexes in linear time.
 */
#include "lex.h"
#include "strmap.h"

#include <stdlib.h>
#include <string.h>

struct Lexer {
    Arena *arena;
    Diag *diag;
    int file;
    const unsigned char *start, *cur, *lim;
    const unsigned char *line_start;
    int line;
    LexComment *comments;
    int ncomments, capcomments;
    StrMap *spellings;    /* names and numbers repeat: one copy of each */
};

/*!re2c
    re2c:define:YYCTYPE = "unsigned char";
    re2c:define:YYCURSOR = "lx->cur";
    re2c:define:YYMARKER = "marker";
    re2c:define:YYCTXMARKER = "ctxmarker";
    re2c:yyfill:enable = 0;
    re2c:indent:top = 1;

    ws      = [ \t\r\v\f]+;
    digits  = [0-9]+;
    expo    = [eEdD] [+-]? digits;
    ident   = [A-Za-z_][A-Za-z0-9_]*;
*/

Lexer *lex_new(Arena *a, Diag *d, int file)
{
    Lexer *lx = mem_alloc(a, sizeof *lx);
    size_t len;
    const char *text = diag_file_text(d, file, &len);
    lx->arena = a;
    lx->diag = d;
    lx->file = file;
    lx->start = lx->cur = lx->line_start = (const unsigned char *)text;
    lx->lim = lx->start + len;
    lx->line = 1;
    lx->spellings = smap_new(a);
    /* a UTF-8 byte-order mark is not part of the model */
    if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0)
        lx->cur += 3;
    return lx;
}

static Span span_of(const Lexer *lx, const unsigned char *b, const unsigned char *e)
{
    Span s;
    s.file = lx->file;
    s.line = lx->line;
    s.col = (int)(b - lx->line_start) + 1;
    s.off = (int)(b - lx->start);
    s.len = (int)(e - b);
    return s;
}

static Token make(Lexer *lx, TokKind k, const unsigned char *b)
{
    Token t;
    memset(&t, 0, sizeof t);
    t.kind = k;
    t.span = span_of(lx, b, lx->cur);
    t.len = (int)(lx->cur - b);
    t.text = smap_intern(lx->spellings, (const char *)b, (size_t)t.len);
    return t;
}

static Token make_op(Lexer *lx, TokKind k, const unsigned char *b, int fortran)
{
    Token t = make(lx, k, b);
    t.fortran = fortran;
    return t;
}

static Token newline(Lexer *lx, const unsigned char *b)
{
    Token t = make(lx, TK_NEWLINE, b);
    lx->line++;
    lx->line_start = lx->cur;
    return t;
}

static void keep_comment(Lexer *lx, const unsigned char *b)
{
    LexComment c;
    const unsigned char *e = lx->cur;
    while (e > b && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
        e--;   /* trailing blanks are not part of what the user said */
    c.span = span_of(lx, b, e);
    c.text = mem_strndup(lx->arena, (const char *)b, (size_t)(e - b));
    c.own_line = 1;
    for (const unsigned char *p = lx->line_start; p < b; p++)
        if (*p != ' ' && *p != '\t')
            c.own_line = 0;
    MEM_PUSH(lx->arena, lx->comments, lx->ncomments, lx->capcomments, c);
}

static Token bad(Lexer *lx, const unsigned char *b)
{
    Token t = make(lx, TK_ERROR, b);
    if (t.len == 1 && *b == '\0')
        diag_report(lx->diag, DIAG_ERROR, t.span, NULL, "unexpected NUL byte");
    else if (*b >= 0x80)
        diag_report(lx->diag, DIAG_ERROR, t.span,
                    "names and operators are ASCII; non-ASCII text belongs in comments",
                    "unexpected non-ASCII character");
    else if (*b == '&' || *b == '|')
        diag_report(lx->diag, DIAG_ERROR, t.span, "write '&&' or '||'",
                    "unexpected character '%c'", *b);
    else if (*b < 0x20 || *b == 0x7f)
        diag_report(lx->diag, DIAG_ERROR, t.span, NULL,
                    "unexpected control character 0x%02x", *b);
    else
        diag_report(lx->diag, DIAG_ERROR, t.span, NULL, "unexpected character '%c'", *b);
    return t;
}

static Token at_nul(Lexer *lx, const unsigned char *b)
{
    if (b >= lx->lim) {
        lx->cur = b;   /* stay at the end: every further call sees EOF */
        return make(lx, TK_EOF, b);
    }
    return bad(lx, b);
}

static Token number(Lexer *lx, const unsigned char *b)
{
    Token t = make(lx, TK_NUMBER, b);
    /* NONMEM writes double-precision exponents with D */
    char *s = (char *)t.text, *p;
    char tmp[64];
    if (t.len < (int)sizeof tmp) {
        memcpy(tmp, s, (size_t)t.len + 1);
        for (p = tmp; *p; p++)
            if (*p == 'd' || *p == 'D')
                *p = 'e';
        t.num = strtod(tmp, NULL);
    } else {
        t.num = strtod(s, NULL);
    }
    return t;
}

static Token lex_code(Lexer *lx)
{
    const unsigned char *marker, *ctxmarker, *b;
    (void)ctxmarker;
again:
    b = lx->cur;
    /*!re2c
    "\x00"  { return at_nul(lx, b); }
    ws      { goto again; }
    "\n"    { return newline(lx, b); }
    ";" [^\n\x00]*  { keep_comment(lx, b); goto again; }

    "$" ident   { Token t = make(lx, TK_RECORD, b); t.text++; t.len--; return t; }
    "d/dt" / [^A-Za-z0-9_]  { return make(lx, TK_DDT, b); }
    ident       { return make(lx, TK_IDENT, b); }

    digits expo?                      { return number(lx, b); }
    digits "." digits expo?           { return number(lx, b); }
    digits "." expo                   { return number(lx, b); }
    "." digits expo?                  { return number(lx, b); }
    digits "." / [^A-Za-z0-9_]        { return number(lx, b); }

    ["] [^"\n\x00]* ["] {
        Token t = make(lx, TK_STRING, b);
        t.text = mem_strndup(lx->arena, (const char *)b + 1, (size_t)t.len - 2);
        return t;
    }
    ["] [^"\n\x00]* {
        Token t = make(lx, TK_ERROR, b);
        diag_report(lx->diag, DIAG_ERROR, t.span, "close it with '\"' on the same line",
                    "unterminated string");
        return t;
    }

    '.eq.'  { return make_op(lx, TK_EQ, b, 1); }
    '.ne.'  { return make_op(lx, TK_NE, b, 1); }
    '.lt.'  { return make_op(lx, TK_LT, b, 1); }
    '.le.'  { return make_op(lx, TK_LE, b, 1); }
    '.gt.'  { return make_op(lx, TK_GT, b, 1); }
    '.ge.'  { return make_op(lx, TK_GE, b, 1); }
    '.and.' { return make_op(lx, TK_AND, b, 1); }
    '.or.'  { return make_op(lx, TK_OR, b, 1); }
    '.not.' { return make_op(lx, TK_NOT, b, 1); }

    "("   { return make(lx, TK_LPAREN, b); }
    ")"   { return make(lx, TK_RPAREN, b); }
    "{"   { return make(lx, TK_LBRACE, b); }
    "}"   { return make(lx, TK_RBRACE, b); }
    ","   { return make(lx, TK_COMMA, b); }
    "."   { return make(lx, TK_DOT, b); }
    "="   { return make(lx, TK_ASSIGN, b); }
    "~"   { return make(lx, TK_TILDE, b); }
    "->"  { return make(lx, TK_ARROW, b); }
    "+"   { return make(lx, TK_PLUS, b); }
    "-"   { return make(lx, TK_MINUS, b); }
    "*"   { return make(lx, TK_STAR, b); }
    "/"   { return make(lx, TK_SLASH, b); }
    "^"   { return make_op(lx, TK_POW, b, 0); }
    "**"  { return make_op(lx, TK_POW, b, 1); }
    "<"   { return make(lx, TK_LT, b); }
    "<="  { return make(lx, TK_LE, b); }
    ">"   { return make(lx, TK_GT, b); }
    ">="  { return make(lx, TK_GE, b); }
    "=="  { return make(lx, TK_EQ, b); }
    "!="  { return make(lx, TK_NE, b); }
    "&&"  { return make(lx, TK_AND, b); }
    "||"  { return make(lx, TK_OR, b); }
    "!"   { return make(lx, TK_NOT, b); }
    "@"   { return make(lx, TK_AT, b); }
    "#"   { return make(lx, TK_HASH, b); }

    [\x80-\xff]+  { return bad(lx, b); }
    *             { return bad(lx, b); }
    */
}

static Token lex_path(Lexer *lx)
{
    const unsigned char *marker, *b;
    (void)marker;
again:
    b = lx->cur;
    /*!re2c
    "\x00"  { return at_nul(lx, b); }
    ws      { goto again; }
    "\n"    { return newline(lx, b); }
    ";" [^\n\x00]*  { keep_comment(lx, b); goto again; }
    ["] [^"\n\x00]* ["] {
        Token t = make(lx, TK_STRING, b);
        t.text = mem_strndup(lx->arena, (const char *)b + 1, (size_t)t.len - 2);
        return t;
    }
    ["] [^"\n\x00]* {
        Token t = make(lx, TK_ERROR, b);
        diag_report(lx->diag, DIAG_ERROR, t.span, "close it with '\"' on the same line",
                    "unterminated string");
        return t;
    }
    "$" ident   { Token t = make(lx, TK_RECORD, b); t.text++; t.len--; return t; }
    [^ \t\r\v\f\n;=()"\x00]+  { return make(lx, TK_PATH, b); }
    *   { lx->cur = b; return lex_code(lx); }
    */
}

static Token lex_text(Lexer *lx)
{
    const unsigned char *b;
    while (*lx->cur == ' ' || *lx->cur == '\t')
        lx->cur++;
    b = lx->cur;
    while (lx->cur < lx->lim && *lx->cur != '\n')
        lx->cur++;
    const unsigned char *e = lx->cur;
    while (e > b && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
        e--;
    Token t;
    memset(&t, 0, sizeof t);
    t.kind = TK_TEXT;
    t.span = span_of(lx, b, e);
    t.len = (int)(e - b);
    t.text = mem_strndup(lx->arena, (const char *)b, (size_t)t.len);
    return t;
}

Token lex_next(Lexer *lx, LexMode mode)
{
    switch (mode) {
    case LEX_PATH: return lex_path(lx);
    case LEX_TEXT: return lex_text(lx);
    default:       return lex_code(lx);
    }
}

const LexComment *lex_comments(const Lexer *lx, int *n)
{
    *n = lx->ncomments;
    return lx->comments;
}

const char *lex_kind_name(TokKind k)
{
    static const char *const names[TK_NKINDS] = {
        "end of file", "end of line", "invalid text", "record", "name",
        "number", "string", "path", "text", "'d/dt'", "'('", "')'", "'{'",
        "'}'", "','", "'.'", "'='", "'~'", "'->'", "'+'", "'-'", "'*'",
        "'/'", "'^'", "'<'", "'<='", "'>'", "'>='", "'=='", "'!='", "'&&'",
        "'||'", "'!'", "'@'", "'#'"
    };
    return k >= 0 && k < TK_NKINDS ? names[k] : "?";
}
