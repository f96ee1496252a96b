/*
 * fuzz_front.c -- libFuzzer target over the whole front end: lexer,
 * parser, checker, lowering to the graph, and the formatter.
 *
 * Any byte string must come back as diagnostics, never as a crash, hang,
 * leak or sanitizer report.  Includes are not followed (no_includes), so
 * an input cannot make the fuzzer read the file system.
 */
#include <stdint.h>
#include <stdio.h>

#include "fmt.h"
#include "lower.h"
#include "parse.h"
#include "sema.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    FILE *sink = fopen("/dev/null", "w");
    if (!sink)
        return 0;
    Arena *a = mem_arena_new();
    Diag *d = diag_new(a, sink);
    diag_set_limit(d, 50);
    ParseOpts po = { NULL, 0, 0, 1 };
    Ast *t = parse_string(a, d, "fuzz.qlx", (const char *)data, size, &po);
    if (t && diag_errors(d) == 0) {
        fmt_write(t, sink);
        Model *m = sema_check(a, d, t);
        if (m && diag_errors(d) == 0) {
            LowerInfo info;
            Graph *g = lower_model(a, m, &info);
            if (g) {
                lower_add_jacobian(g, m, &info);
                graph_dot(g, sink, lower_input_namer, &info);
            }
        }
    }
    mem_arena_free(&a);
    fclose(sink);
    return 0;
}
