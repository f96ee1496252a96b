/*
 * fmt.h -- `qlxc fmt`: print a syntax tree in the canonical layout.
 *
 * The layout is a function of the tree and the comments alone, so
 * formatting twice changes nothing, and parsing the output gives the same
 * tree (same records, declarations, statements and expressions).
 */
#ifndef QLX_FMT_H
#define QLX_FMT_H

#include <stdio.h>
#include "ast.h"

/* Writes the records of depth 0 (the main file) and its comments.
 * Returns 0, or -1 when the stream failed. */
int fmt_write(const Ast *t, FILE *out);

#endif
