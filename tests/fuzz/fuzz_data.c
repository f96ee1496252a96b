/*
 * fuzz_data.c -- libFuzzer target over the dataset reader.
 *
 * A fixed model with every reserved data item and a covariate; the input
 * bytes are the dataset.  Any byte string must come back as a dataset or
 * as diagnostics, never as a crash, hang, leak or sanitizer report.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "data.h"
#include "parse.h"
#include "sema.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char model[] =
    "$PROBLEM fuzz\n$DATA d.csv IGNORE=@ IGNORE=(WT.GT.500)\n"
    "$INPUT ID TIME DV AMT RATE EVID MDV CMT II ADDL SS DVID WT\n"
    "$COMPARTMENTS depot(dose) central(observe)\n$THETA\n  k = 1\n"
    "$PK\n  KE = k*WT\n$DES\n  d/dt(depot) = -KE*depot\n  d/dt(central) = KE*depot\n";

int LLVMFuzzerTestOneInput(const uint8_t *bytes, size_t size)
{
    FILE *sink = fopen("/dev/null", "w");
    if (!sink)
        return 0;
    Arena *a = mem_arena_new();
    Diag *d = diag_new(a, sink);
    diag_set_limit(d, 50);
    Ast *t = parse_string(a, d, "fuzz.qlx", model, sizeof model - 1, NULL);
    Model *m = t ? sema_check(a, d, t) : NULL;
    if (m)
        data_parse(a, d, m, "fuzz.csv", (const char *)bytes, size);
    mem_arena_free(&a);
    fclose(sink);
    return 0;
}
