/*
 * diag.h -- source files and diagnostics.
 *
 * A Diag owns the text of every source file of a compilation (the model and
 * what it includes) so that spans stay valid and a message can quote its
 * line.  Messages print as they are reported, in the form
 *
 *     model.qlx:12:11: error: undefined name 'centrl'
 *        12 |   IPRED = centrl / V
 *           |           ^~~~~~
 *     hint: did you mean 'central'?
 *
 * After `limit` errors the Diag says so once and diag_full() turns true;
 * passes check it to stop early.
 *
 * Ownership: diag_new() allocates in the given arena; file texts are copied
 * into it.
 */
#ifndef QLX_DIAG_H
#define QLX_DIAG_H

#include <stdarg.h>
#include <stdio.h>
#include "mem.h"

/* A place in a source file; line and col are 1-based, col counts bytes. */
typedef struct {
    int file;          /* index given by diag_add_file; -1 = no place */
    int line, col;
    int off, len;      /* byte offset and length in the file's text */
} Span;

typedef enum { DIAG_ERROR, DIAG_WARNING, DIAG_NOTE } DiagLevel;

typedef struct Diag Diag;

Diag *diag_new(Arena *a, FILE *out);
void  diag_set_limit(Diag *d, int max_errors);
void  diag_set_color(Diag *d, int on);
/* 0 silences warnings (they are still counted). */
void  diag_set_warnings(Diag *d, int on);

/* Registers a file's text (copied, NUL-terminated); returns its index. */
int         diag_add_file(Diag *d, const char *name, const char *text, size_t len);
const char *diag_file_name(const Diag *d, int file);
const char *diag_file_text(const Diag *d, int file, size_t *len);
int         diag_nfiles(const Diag *d);

/* Report a message at span; hint may be NULL. */
void diag_report(Diag *d, DiagLevel lv, Span at, const char *hint,
                 const char *fmt, ...) __attribute__((format(printf, 5, 6)));
void diag_vreport(Diag *d, DiagLevel lv, Span at, const char *hint,
                  const char *fmt, va_list ap);

int  diag_errors(const Diag *d);
int  diag_warnings(const Diag *d);
int  diag_full(const Diag *d);

/* Span helpers. */
Span diag_span_join(Span a, Span b);   /* from a's start to b's end (same file) */
Span diag_nospan(void);

/* The candidate closest to name by edit distance, or NULL when none is
 * close enough to be a likely typo.  For "did you mean" hints. */
const char *diag_suggest(const char *name, const char *const *cands, int n);

#endif
