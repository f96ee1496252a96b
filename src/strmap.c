/*
 * strmap.c -- open-addressing string map (see strmap.h).
 *
 * FNV-1a hashes the key; slots hold the key pointer and the value, and an
 * empty slot has a NULL key.  Nothing is ever deleted, so probing needs no
 * tombstones.
 */
#include "strmap.h"

#include <stdint.h>
#include <string.h>

typedef struct {
    const char *key;
    int value;
} Slot;

struct StrMap {
    Arena *arena;
    Slot *slots;
    size_t cap;    /* a power of two */
    int count;
};

static uint64_t hash_n(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ull;
    }
    return h;
}

static uint64_t hash(const char *s)
{
    return hash_n(s, strlen(s));
}

StrMap *smap_new(Arena *a)
{
    StrMap *m = mem_alloc(a, sizeof *m);
    m->arena = a;
    m->cap = 16;
    m->slots = mem_alloc(a, sizeof *m->slots * m->cap);
    return m;
}

static Slot *find(const StrMap *m, const char *key)
{
    size_t mask = m->cap - 1, i = (size_t)hash(key) & mask;
    while (m->slots[i].key && strcmp(m->slots[i].key, key) != 0)
        i = (i + 1) & mask;
    return &m->slots[i];
}

int smap_get(const StrMap *m, const char *key)
{
    const Slot *s = find(m, key);
    return s->key ? s->value : -1;
}

static void grow(StrMap *m)
{
    Slot *old = m->slots;
    size_t oldcap = m->cap;
    m->cap *= 2;
    m->slots = mem_alloc(m->arena, sizeof *m->slots * m->cap);
    for (size_t i = 0; i < oldcap; i++)
        if (old[i].key)
            *find(m, old[i].key) = old[i];
}

void smap_put(StrMap *m, const char *key, int value)
{
    if ((size_t)(m->count + 1) * 2 > m->cap)
        grow(m);
    Slot *s = find(m, key);
    if (!s->key) {
        s->key = key;
        m->count++;
    }
    s->value = value;
}

const char *smap_intern(StrMap *m, const char *s, size_t n)
{
    if ((size_t)(m->count + 1) * 2 > m->cap)
        grow(m);
    size_t mask = m->cap - 1, i = (size_t)hash_n(s, n) & mask;
    while (m->slots[i].key) {
        const char *k = m->slots[i].key;
        if (strncmp(k, s, n) == 0 && k[n] == '\0')
            return k;
        i = (i + 1) & mask;
    }
    m->slots[i].key = mem_strndup(m->arena, s, n);
    m->slots[i].value = 0;
    m->count++;
    return m->slots[i].key;
}

int smap_count(const StrMap *m)
{
    return m->count;
}
