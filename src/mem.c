/*
 * mem.c -- arenas and the one out-of-memory policy.
 *
 * An arena is a list of chunks; allocation bumps a pointer in the newest
 * chunk and opens a larger chunk when it runs out (chunks double up to
 * 1 MiB, and a request bigger than that gets a chunk of its own).  Nothing
 * is freed individually: the arena dies whole.
 */
#include "mem.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct Chunk {
    struct Chunk *next;
    size_t size, used;
    max_align_t data[];   /* aligned for any type */
} Chunk;

struct Arena {
    Chunk *head;
    size_t next_size;
    size_t total;
    jmp_buf *oom;
    long fail_after;      /* QLX_FAULTS: chunk allocations left before a failure; <0 never */
};

#define ALIGN (sizeof(max_align_t))
#define CHUNK_MIN ((size_t)4096)
#define CHUNK_MAX ((size_t)1 << 20)

static void oom_exit(void)
{
    fputs("qlxc: out of memory\n", stderr);
    exit(3);
}

Arena *mem_arena_new(void)
{
    Arena *a = calloc(1, sizeof *a);
    if (!a)
        oom_exit();
    a->next_size = CHUNK_MIN;
    a->fail_after = -1;
#ifdef QLX_FAULTS
    {
        const char *s = getenv("QLX_FAIL_ALLOC");
        if (s && *s)
            a->fail_after = strtol(s, NULL, 10);
    }
#endif
    return a;
}

void mem_arena_free(Arena **pa)
{
    if (!pa || !*pa)
        return;
    Chunk *c = (*pa)->head;
    while (c) {
        Chunk *n = c->next;
        free(c);
        c = n;
    }
    free(*pa);
    *pa = NULL;
}

void mem_arena_on_oom(Arena *a, jmp_buf *jb)
{
    a->oom = jb;
}

static Chunk *new_chunk(Arena *a, size_t need)
{
    size_t size = a->next_size;
    if (size < need)
        size = need;
    Chunk *c = NULL;
    if (a->fail_after != 0)
        c = malloc(sizeof *c + size);
    if (a->fail_after > 0)
        a->fail_after--;
    if (!c) {
        if (a->oom)
            longjmp(*a->oom, 1);
        oom_exit();
    }
    c->size = size;
    c->used = 0;
    c->next = a->head;
    a->head = c;
    a->total += size;
    if (a->next_size < CHUNK_MAX)
        a->next_size *= 2;
    return c;
}

void *mem_alloc(Arena *a, size_t n)
{
    n = (n + ALIGN - 1) / ALIGN * ALIGN;
    if (n == 0)
        n = ALIGN;
    Chunk *c = a->head;
    if (!c || c->size - c->used < n)
        c = new_chunk(a, n);
    void *p = (char *)c->data + c->used;
    c->used += n;
    memset(p, 0, n);
    return p;
}

char *mem_strndup(Arena *a, const char *s, size_t n)
{
    char *p = mem_alloc(a, n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *mem_strdup(Arena *a, const char *s)
{
    return mem_strndup(a, s, strlen(s));
}

void *mem_grow(Arena *a, void *old, size_t n_old, size_t n_new, size_t sz)
{
    if (n_new && sz > SIZE_MAX / n_new) {
        if (a->oom)
            longjmp(*a->oom, 1);
        oom_exit();
    }
    void *p = mem_alloc(a, n_new * sz);
    if (old && n_old)
        memcpy(p, old, (n_old < n_new ? n_old : n_new) * sz);
    return p;
}

size_t mem_arena_bytes(const Arena *a)
{
    return a->total;
}

void *mem_malloc(size_t n)
{
    return malloc(n ? n : 1);
}

void *mem_calloc(size_t n, size_t sz)
{
    return calloc(n ? n : 1, sz ? sz : 1);
}

void *mem_realloc(void *p, size_t n)
{
    return realloc(p, n ? n : 1);
}

void mem_free(void *p)
{
    free(p);
}
