/*
 * par.c -- workers on threads (see par.h).
 */
#include "par.h"

#include <pthread.h>

void par_run(int n, void *(*fn)(void *), void *items, size_t stride)
{
    char *base = items;
    pthread_t tid[PAR_MAX];
    int started = 0;
    if (n > PAR_MAX)
        n = PAR_MAX;
    for (int t = 1; t < n; t++) {
        if (pthread_create(&tid[t], NULL, fn, base + (size_t)t * stride) != 0)
            break;
        started = t;
    }
    for (int t = started + 1; t < n; t++)
        fn(base + (size_t)t * stride);
    fn(base);
    for (int t = 1; t <= started; t++)
        pthread_join(tid[t], NULL);
}
