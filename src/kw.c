/*
 * kw.c -- lang/keywords.def compiled into const tables.
 *
 * The .def file is included several times with different definitions of
 * its X-macros, so the tables cannot disagree with the file.  The tables
 * are small (tens of entries); linear case-insensitive search is fast
 * enough and keeps this module trivially correct.
 */
#include "kw.h"

#include <string.h>

#define RECORD(name, body, summary) { #name, body, summary },
static const KwRecord records[] = {
#include "../lang/keywords.def"
};

#define RECORD_ALIAS(alias, name) { #alias, REC_##name },
static const struct { const char *alias; RecKind kind; } aliases[] = {
#include "../lang/keywords.def"
};

#define OPTION(rec, name, type, values) { REC_##rec, #name, type, values },
static const KwOption options[] = {
#include "../lang/keywords.def"
};

#define DIRECTIVE(rec, name, shape) { REC_##rec, #name, shape },
static const KwDirective directives[] = {
#include "../lang/keywords.def"
};

#define RECORD_FUNC(rec, name, arity) { REC_##rec, #name, arity },
static const KwRecordFunc recfuncs[] = {
#include "../lang/keywords.def"
};

#define RECORD_WORD(rec, name) { REC_##rec, #name, 0 },
static const KwRecordFunc recwords[] = {
#include "../lang/keywords.def"
};

#define FUNC(name, arity, summary) { #name, arity, summary },
static const KwFunc funcs[] = {
#include "../lang/keywords.def"
};

#define INDEXED(name, summary) #name,
static const char *const indexed[] = {
#include "../lang/keywords.def"
};

#define KEYWORD(name) #name,
static const char *const keywords[] = {
#include "../lang/keywords.def"
};

#define COUNT(t) ((int)(sizeof(t) / sizeof((t)[0])))

static int lc(int c)
{
    return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

int kw_strcaseeq(const char *a, const char *b)
{
    while (*a && lc((unsigned char)*a) == lc((unsigned char)*b))
        a++, b++;
    return *a == '\0' && *b == '\0';
}

int kw_strncaseeq(const char *a, int alen, const char *b)
{
    int i;
    for (i = 0; i < alen; i++)
        if (!b[i] || lc((unsigned char)a[i]) != lc((unsigned char)b[i]))
            return 0;
    return b[i] == '\0';
}

const KwRecord *kw_record(RecKind k)
{
    return k >= 0 && k < REC_NKINDS ? &records[k] : NULL;
}

const char *kw_record_name(RecKind k)
{
    return k >= 0 && k < REC_NKINDS ? records[k].name : "?";
}

RecKind kw_record_lookup(const char *name, int len)
{
    for (int i = 0; i < COUNT(records); i++)
        if (kw_strncaseeq(name, len, records[i].name))
            return (RecKind)i;
    for (int i = 0; i < COUNT(aliases); i++)
        if (kw_strncaseeq(name, len, aliases[i].alias))
            return aliases[i].kind;
    return REC_UNKNOWN;
}

const KwOption *kw_option_lookup(RecKind rec, const char *name)
{
    for (int i = 0; i < COUNT(options); i++)
        if (options[i].record == rec && kw_strcaseeq(name, options[i].name))
            return &options[i];
    return NULL;
}

const KwDirective *kw_directive_lookup(RecKind rec, const char *name)
{
    for (int i = 0; i < COUNT(directives); i++)
        if (directives[i].record == rec && kw_strcaseeq(name, directives[i].name))
            return &directives[i];
    return NULL;
}

const KwFunc *kw_func_lookup(const char *name)
{
    for (int i = 0; i < COUNT(funcs); i++)
        if (kw_strcaseeq(name, funcs[i].name))
            return &funcs[i];
    return NULL;
}

const KwRecordFunc *kw_record_func_lookup(RecKind rec, const char *name)
{
    for (int i = 0; i < COUNT(recfuncs); i++)
        if (recfuncs[i].record == rec && kw_strcaseeq(name, recfuncs[i].name))
            return &recfuncs[i];
    return NULL;
}

int kw_record_word(RecKind rec, const char *name)
{
    for (int i = 0; i < COUNT(recwords); i++)
        if (recwords[i].record == rec && kw_strcaseeq(name, recwords[i].name))
            return 1;
    return 0;
}

int kw_is_keyword(const char *name, int len)
{
    for (int i = 0; i < COUNT(keywords); i++)
        if (kw_strncaseeq(name, len, keywords[i]))
            return 1;
    return 0;
}

int kw_is_indexed(const char *name, int len)
{
    for (int i = 0; i < COUNT(indexed); i++)
        if (kw_strncaseeq(name, len, indexed[i]))
            return 1;
    return 0;
}

int kw_enum_has(const char *list, const char *word)
{
    size_t wl = strlen(word);
    const char *p = list;
    while (*p) {
        while (*p == ' ')
            p++;
        const char *e = p;
        while (*e && *e != ' ')
            e++;
        if ((size_t)(e - p) == wl) {
            size_t i;
            for (i = 0; i < wl && lc((unsigned char)p[i]) == lc((unsigned char)word[i]); i++)
                ;
            if (i == wl)
                return 1;
        }
        p = e;
    }
    return 0;
}

/* Candidate lists for "did you mean" hints: const name tables built from
 * the same X-macros.  Entries of one record are contiguous in
 * keywords.def, so a record's candidates are one run of its table. */
static const char *const record_names_tab[] = {
#define RECORD(name, body, summary) #name,
#include "../lang/keywords.def"
};

const char *const *kw_record_names(int *n)
{
    *n = COUNT(record_names_tab);
    return record_names_tab;
}

static const char *const func_names_tab[] = {
#define FUNC(name, arity, summary) #name,
#include "../lang/keywords.def"
};

const char *const *kw_func_names(int *n)
{
    *n = COUNT(func_names_tab);
    return func_names_tab;
}

static const char *const option_names_tab[] = {
#define OPTION(rec, name, type, values) #name,
#include "../lang/keywords.def"
};

/* Options of one record are contiguous in keywords.def; find the run. */
const char *const *kw_option_names(RecKind rec, int *n)
{
    int first = -1, count = 0;
    for (int i = 0; i < COUNT(options); i++)
        if (options[i].record == rec) {
            if (first < 0)
                first = i;
            count++;
        }
    *n = count;
    return first < 0 ? option_names_tab : option_names_tab + first;
}

static const char *const directive_names_tab[] = {
#define DIRECTIVE(rec, name, shape) #name,
#include "../lang/keywords.def"
};

const char *const *kw_directive_names(RecKind rec, int *n)
{
    int first = -1, count = 0;
    for (int i = 0; i < COUNT(directives); i++)
        if (directives[i].record == rec) {
            if (first < 0)
                first = i;
            count++;
        }
    *n = count;
    return first < 0 ? directive_names_tab : directive_names_tab + first;
}
