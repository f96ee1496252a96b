/*
 * strmap.h -- a map from strings to small integers, in an arena.
 *
 * For name tables: the checker's namespace, data columns by label.  Keys
 * are not copied (they live in the same arena as the map, or longer).
 * Open addressing with linear probing; the table doubles at half full, so
 * lookups stay O(1) and a 10,000-name model checks in linear time.
 */
#ifndef QLX_STRMAP_H
#define QLX_STRMAP_H

#include "mem.h"

typedef struct StrMap StrMap;

StrMap *smap_new(Arena *a);
/* The value stored for key, or -1. */
int     smap_get(const StrMap *m, const char *key);
/* Stores value (>= 0) for key, replacing any earlier value. */
void    smap_put(StrMap *m, const char *key, int value);
int     smap_count(const StrMap *m);
/* The one stored copy of the n bytes at s (NUL-terminated), made on first
 * sight: equal spellings share memory.  Interned keys have value 0. */
const char *smap_intern(StrMap *m, const char *s, size_t n);

#endif
