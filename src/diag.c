/*
 * diag.c -- source texts and diagnostics.
 *
 * A message quotes its source line with a caret under the span, the way
 * re2c and jq do; tabs in the quoted line are kept in the caret line so
 * the caret stays under the right character.  "Did you mean" hints use the
 * optimal-string-alignment edit distance, accepting a candidate only when
 * the distance is small against the name's length.
 */
#include "diag.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *name;
    const char *text;
    size_t len;
} SrcFile;

struct Diag {
    Arena *arena;
    FILE *out;
    SrcFile *files;
    int nfiles, capfiles;
    int errors, warnings, limit, full, color, show_warnings;
};

Diag *diag_new(Arena *a, FILE *out)
{
    Diag *d = mem_alloc(a, sizeof *d);
    d->arena = a;
    d->out = out;
    d->limit = 20;
    d->show_warnings = 1;
    return d;
}

void diag_set_limit(Diag *d, int max_errors) { d->limit = max_errors; }
void diag_set_color(Diag *d, int on) { d->color = on; }
void diag_set_warnings(Diag *d, int on) { d->show_warnings = on; }

int diag_add_file(Diag *d, const char *name, const char *text, size_t len)
{
    SrcFile f = { mem_strdup(d->arena, name), mem_strndup(d->arena, text, len), len };
    MEM_PUSH(d->arena, d->files, d->nfiles, d->capfiles, f);
    return d->nfiles - 1;
}

const char *diag_file_name(const Diag *d, int file)
{
    return file >= 0 && file < d->nfiles ? d->files[file].name : "<none>";
}

const char *diag_file_text(const Diag *d, int file, size_t *len)
{
    if (file < 0 || file >= d->nfiles) {
        if (len)
            *len = 0;
        return "";
    }
    if (len)
        *len = d->files[file].len;
    return d->files[file].text;
}

int diag_nfiles(const Diag *d) { return d->nfiles; }
int diag_errors(const Diag *d) { return d->errors; }
int diag_warnings(const Diag *d) { return d->warnings; }
int diag_full(const Diag *d) { return d->full; }

static const char *level_name(DiagLevel lv)
{
    switch (lv) {
    case DIAG_ERROR: return "error";
    case DIAG_WARNING: return "warning";
    default: return "note";
    }
}

static const char *level_color(DiagLevel lv)
{
    switch (lv) {
    case DIAG_ERROR: return "\033[1;31m";
    case DIAG_WARNING: return "\033[1;35m";
    default: return "\033[1;36m";
    }
}

/* Print the span's line and a caret line under it. */
static void quote_line(Diag *d, Span at)
{
    const SrcFile *f = &d->files[at.file];
    if (at.off < 0 || (size_t)at.off > f->len)
        return;
    size_t b = (size_t)at.off, e;
    while (b > 0 && f->text[b - 1] != '\n')
        b--;
    for (e = b; e < f->len && f->text[e] != '\n' && f->text[e] != '\r'; e++)
        ;
    fprintf(d->out, "%5d | ", at.line);
    for (size_t i = b; i < e; i++) {
        unsigned char c = (unsigned char)f->text[i];
        fputc(c == '\t' || c >= 0x20 ? c : '?', d->out);
    }
    fputs("\n      | ", d->out);
    for (size_t i = b; i < (size_t)at.off; i++)
        fputc(f->text[i] == '\t' ? '\t' : ' ', d->out);
    fputc('^', d->out);
    /* underline the rest of the span, but not past the end of the line */
    for (size_t i = (size_t)at.off + 1; i < (size_t)at.off + (size_t)at.len && i < e; i++)
        fputc('~', d->out);
    fputc('\n', d->out);
}

void diag_vreport(Diag *d, DiagLevel lv, Span at, const char *hint,
                  const char *fmt, va_list ap)
{
    if (lv == DIAG_ERROR) {
        if (d->full)
            return;
        if (d->limit > 0 && d->errors >= d->limit) {
            d->full = 1;
            fprintf(d->out, "qlxc: too many errors (%d); stopping here\n", d->limit);
            return;
        }
        d->errors++;
    } else if (lv == DIAG_WARNING) {
        d->warnings++;
        if (!d->show_warnings)
            return;
    }
    int placed = at.file >= 0 && at.file < d->nfiles;
    if (placed)
        fprintf(d->out, "%s:%d:%d: ", d->files[at.file].name, at.line, at.col);
    else
        fputs("qlxc: ", d->out);
    if (d->color)
        fprintf(d->out, "%s%s:\033[0m ", level_color(lv), level_name(lv));
    else
        fprintf(d->out, "%s: ", level_name(lv));
    vfprintf(d->out, fmt, ap);
    fputc('\n', d->out);
    if (placed && at.line > 0)
        quote_line(d, at);
    if (hint)
        fprintf(d->out, "hint: %s\n", hint);
}

void diag_report(Diag *d, DiagLevel lv, Span at, const char *hint,
                 const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    diag_vreport(d, lv, at, hint, fmt, ap);
    va_end(ap);
}

Span diag_span_join(Span a, Span b)
{
    if (a.file < 0)
        return b;
    if (b.file != a.file || b.off + b.len < a.off)
        return a;
    a.len = b.off + b.len - a.off;
    return a;
}

Span diag_nospan(void)
{
    Span s = { -1, 0, 0, 0, 0 };
    return s;
}

static int lower(int c)
{
    return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

/* Optimal string alignment distance, case-insensitive; names are short,
 * so the (n+1)x(m+1) table fits on the stack when capped at 64. */
static int edit_distance(const char *s, const char *t)
{
    enum { MAXL = 64 };
    int n = (int)strlen(s), m = (int)strlen(t);
    if (n > MAXL || m > MAXL)
        return MAXL;
    int dp[MAXL + 1][MAXL + 1];
    for (int i = 0; i <= n; i++)
        dp[i][0] = i;
    for (int j = 0; j <= m; j++)
        dp[0][j] = j;
    for (int i = 1; i <= n; i++)
        for (int j = 1; j <= m; j++) {
            int cost = lower(s[i - 1]) != lower(t[j - 1]);
            int v = dp[i - 1][j] + 1;
            if (dp[i][j - 1] + 1 < v)
                v = dp[i][j - 1] + 1;
            if (dp[i - 1][j - 1] + cost < v)
                v = dp[i - 1][j - 1] + cost;
            if (i > 1 && j > 1 && lower(s[i - 1]) == lower(t[j - 2]) &&
                lower(s[i - 2]) == lower(t[j - 1]) && dp[i - 2][j - 2] + 1 < v)
                v = dp[i - 2][j - 2] + 1;
            dp[i][j] = v;
        }
    return dp[n][m];
}

const char *diag_suggest(const char *name, const char *const *cands, int n)
{
    int len = (int)strlen(name);
    int best = len <= 3 ? 1 : len <= 6 ? 2 : 3;   /* how many typos we believe */
    const char *pick = NULL;
    for (int i = 0; i < n; i++) {
        if (!cands[i] || strcmp(cands[i], name) == 0)
            continue;
        int dist = edit_distance(name, cands[i]);
        if (dist <= best && (!pick || dist < best)) {
            best = dist;
            pick = cands[i];
        }
    }
    return pick;
}
