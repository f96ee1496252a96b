/*
 * mem.h -- memory: one allocation entry point and arenas.
 *
 * Everything the front end builds (tokens, syntax tree, checked model,
 * graph) lives in one Arena and is freed by one call.  Out of memory is a
 * single policy: an arena whose owner installed a jmp_buf with
 * mem_arena_on_oom() longjmps there; otherwise the process prints
 * "qlxc: out of memory" and exits with status 3.  Builds with
 * -DQLX_FAULTS read QLX_FAIL_ALLOC=N from the environment when an arena is
 * created and make its N-th chunk allocation fail, so tests can walk every
 * failure path (as Lua's test allocator does).
 *
 * Ownership: the caller of mem_arena_new() frees with mem_arena_free().
 * mem_malloc/mem_calloc/mem_realloc are for long-lived non-arena blocks
 * (a tape, a solver workspace); they return NULL on failure and the caller
 * reports it.
 */
#ifndef QLX_MEM_H
#define QLX_MEM_H

#include <setjmp.h>
#include <stddef.h>

typedef struct Arena Arena;

Arena *mem_arena_new(void);
void   mem_arena_free(Arena **a);
/* Where to longjmp when this arena cannot grow; NULL restores exit(3). */
void   mem_arena_on_oom(Arena *a, jmp_buf *jb);

/* Zeroed, aligned for any type; never returns NULL. */
void  *mem_alloc(Arena *a, size_t n);
char  *mem_strndup(Arena *a, const char *s, size_t n);
char  *mem_strdup(Arena *a, const char *s);
/* Grow an arena array: returns a copy of old (n_old elements of size sz)
 * with room for n_new elements; old stays valid until the arena dies. */
void  *mem_grow(Arena *a, void *old, size_t n_old, size_t n_new, size_t sz);
size_t mem_arena_bytes(const Arena *a);

void  *mem_malloc(size_t n);
void  *mem_calloc(size_t n, size_t sz);
void  *mem_realloc(void *p, size_t n);
void   mem_free(void *p);

/* A growable array in an arena: T *v; int n, cap;  MEM_PUSH(a, v, n, cap, x) */
#define MEM_PUSH(arena, v, n, cap, x)                                        \
    do {                                                                    \
        if ((n) == (cap)) {                                                 \
            int nc_ = (cap) ? 2 * (cap) : 8;                                \
            (v) = mem_grow((arena), (v), (size_t)(n), (size_t)nc_, sizeof *(v)); \
            (cap) = nc_;                                                    \
        }                                                                   \
        (v)[(n)++] = (x);                                                   \
    } while (0)

#endif
