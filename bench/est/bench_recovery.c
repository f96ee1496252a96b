/*
 * bench_recovery.c -- simulation and re-estimation at scale (issue 4):
 * the scenarios of recovery.h, with many replicates, as a table.
 *
 *   bench_recovery [replicates 1-cmt [replicates 2-cmt [threads [with R^-1 [CSV prefix]]]]]
 *
 * Defaults: 100 and 50 replicates, 2 threads, the sandwich step alone.
 * For each parameter: the truth, the mean estimate, the mean relative
 * bias with its Monte Carlo standard error, the coverage of the 95%
 * intervals of the sandwich covariance step (and of R^-1 when asked),
 * their mean SE beside the empirical SD of the estimates; then the median
 * wall time of a fit, and a line for every replicate that did not
 * converge, whose covariance step failed, whose OFV ended above the
 * truth's or moved when its inner problems were started afresh.  With a
 * CSV prefix, every replicate's estimates and SEs go to PREFIX1cmt.csv
 * and PREFIX2cmt.csv.
 */
#include "recovery.h"

static void run(const RecScenario *sc, int nrep, int nthreads, int with_r, const char *csv,
                const char *tag)
{
    RecModel rm;
    if (rec_open(&rm, sc) != 0) {
        printf("%s: the model does not compile\n", sc->name);
        rec_close(&rm);
        return;
    }
    RecRep *reps = calloc((size_t)nrep + 1, sizeof *reps);
    if (!reps) {
        rec_close(&rm);
        return;
    }
    double t0 = rec_now();
    for (int i = 0; i < nrep; i++)
        rec_replicate(&rm, i, nthreads, with_r, &reps[i]);
    double total = rec_now() - t0;
    rec_table(stdout, "", &rm, reps, nrep, with_r);
    printf("total %.1f s\n", total);
    rec_problems(stdout, "problem: ", &rm, reps, nrep, with_r);
    if (csv && *csv) {
        char path[4096];
        snprintf(path, sizeof path, "%s%s.csv", csv, tag);
        FILE *f = fopen(path, "w");
        if (f) {
            rec_csv(f, &rm, reps, nrep);
            fclose(f);
            printf("replicates: %s\n", path);
        } else {
            printf("cannot write %s\n", path);
        }
    }
    putchar('\n');
    fflush(stdout);
    free(reps);
    rec_close(&rm);
}

int main(int argc, char **argv)
{
    int n1 = argc > 1 ? atoi(argv[1]) : 100;
    int n2 = argc > 2 ? atoi(argv[2]) : 50;
    int nthreads = argc > 3 ? atoi(argv[3]) : 2;
    int with_r = argc > 4 ? atoi(argv[4]) != 0 : 0;
    const char *csv = argc > 5 ? argv[5] : NULL;
    if (n1 < 0 || n2 < 0 || n1 > 4096 || n2 > 4096 || nthreads < 1) {
        fprintf(stderr, "usage: bench_recovery [replicates 1-cmt [replicates 2-cmt [threads [with "
                        "R^-1 (0/1) [CSV prefix]]]]]\n");
        return 2;
    }
    printf("bench_recovery: simulation and re-estimation, FOCEI from perturbed starts, "
           "95%% Wald intervals (THETAs as written, variances); bias relative, natural scale\n\n");
    if (n1 > 0)
        run(&rec_1cmt, n1, nthreads, with_r, csv, "1cmt");
    if (n2 > 0)
        run(&rec_2cmt, n2, nthreads, with_r, csv, "2cmt");
    return 0;
}
