/*
 * kw.h -- the keyword table of lang/keywords.def, as C.
 *
 * Lookups of records, options, directives and functions are
 * case-insensitive, as in NONMEM.  The tables are const and shared.
 */
#ifndef QLX_KW_H
#define QLX_KW_H

typedef enum {
#define RECORD(name, body, summary) REC_##name,
#include "../lang/keywords.def"

    REC_NKINDS,
    REC_UNKNOWN = -1
} RecKind;

typedef enum {
    BODY_TEXT, BODY_PATH, BODY_INPUT, BODY_COMPARTMENTS, BODY_THETA,
    BODY_RANDOM, BODY_PRIOR, BODY_CODE, BODY_NAMED, BODY_DIRECTIVES,
    BODY_OPTIONS, BODY_TABLE
} KwBody;

typedef enum {
    OPT_INT, OPT_NUM, OPT_ENUM, OPT_PATH, OPT_FLAG, OPT_IGNORE, OPT_NAME,
    OPT_NAMES              /* (NAME, NAME, ...) */
} KwType;

typedef struct {
    const char *name;
    KwBody body;
    const char *summary;
} KwRecord;

typedef struct {
    RecKind record;
    const char *name;
    KwType type;
    const char *values;    /* OPT_ENUM: blank-separated allowed words */
} KwOption;

typedef struct {
    RecKind record;
    const char *name;
    const char *shape;
} KwDirective;

typedef struct {
    const char *name;
    int arity;             /* -1 any, -2 two or more */
    const char *summary;
} KwFunc;

typedef struct {
    RecKind record;        /* REC_UNKNOWN for math functions */
    const char *name;
    int arity;
} KwRecordFunc;

const KwRecord *kw_record(RecKind k);
/* By name without the '$', aliases included; REC_UNKNOWN if none. */
RecKind         kw_record_lookup(const char *name, int len);
const char     *kw_record_name(RecKind k);

const KwOption    *kw_option_lookup(RecKind rec, const char *name);
const KwDirective *kw_directive_lookup(RecKind rec, const char *name);
const KwFunc      *kw_func_lookup(const char *name);
/* A record-specific callable (rx, euler, linear...) or NULL. */
const KwRecordFunc *kw_record_func_lookup(RecKind rec, const char *name);
int  kw_record_word(RecKind rec, const char *name);
int  kw_is_keyword(const char *name, int len);
int  kw_is_indexed(const char *name, int len);
/* Is word one of the blank-separated words of list (case-insensitive)? */
int  kw_enum_has(const char *list, const char *word);

/* Candidate lists, for "did you mean" hints; *n receives the count. */
const char *const *kw_record_names(int *n);
const char *const *kw_option_names(RecKind rec, int *n);
const char *const *kw_directive_names(RecKind rec, int *n);
const char *const *kw_func_names(int *n);

int kw_strcaseeq(const char *a, const char *b);
int kw_strncaseeq(const char *a, int alen, const char *b);

#endif
