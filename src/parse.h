/*
 * parse.h -- the recursive-descent parser: tokens -> syntax tree.
 *
 * One record at a time; on a syntax error the parser reports it and skips
 * to the next record, so a run reports every error (up to the Diag's
 * limit).  $INCLUDE is resolved here: the included file's records are
 * spliced in after the $INCLUDE record with depth + 1.  A name without a
 * '/' or an extension is looked up as NAME.qlx in each include_dirs entry
 * (the stdlib); a path is relative to the including file.
 *
 * Recursion is capped (PARSE_MAX_DEPTH nested expressions or blocks,
 * max_include_depth nested includes), so no input can exhaust the stack.
 *
 * Ownership: the tree lives in the given arena.  Returns NULL only when
 * the main file cannot be read (reported through the Diag).
 */
#ifndef QLX_PARSE_H
#define QLX_PARSE_H

#include <stddef.h>
#include "ast.h"

#define PARSE_MAX_DEPTH 200

typedef struct {
    const char *const *include_dirs;
    int ninclude_dirs;
    int max_include_depth;       /* 0 means the default, 16 */
    int no_includes;             /* keep $INCLUDE records unresolved (fmt) */
} ParseOpts;

Ast *parse_file(Arena *a, Diag *d, const char *path, const ParseOpts *o);
Ast *parse_string(Arena *a, Diag *d, const char *name, const char *text,
                  size_t len, const ParseOpts *o);

#endif
