/*
 * gen_editors.c -- the editors' word lists, from keywords.def.
 *
 *   gen_editors TEMPLATE OUTPUT
 *
 * copies TEMPLATE to OUTPUT (atomically), replacing each placeholder
 * @@KIND:FORMAT@@ with the words of one kind of keywords.def entry, so
 * that the Vim, Emacs and VS Code grammars (editors/, from their *.in
 * templates) name exactly the records, options and functions the lexer
 * and the checker know.  `make editors` runs it on every template; a test
 * fails when a checked-in grammar differs from what it makes.
 *
 * KIND: RECORDS (names and aliases), RECORD_NAMES (names alone),
 * RECORD=NAME+NAME... (those records and their aliases), ALIAS_PAIRS
 * (each alias with its record), OPTIONS, OPTION_VALUES, DIRECTIVES,
 * FUNCS, RECORD_FUNCS, RECORD_WORDS, INDEXED, KEYWORDS, BUILTINS,
 * DATA_ITEMS, CMT_ROLES, TABLE_ITEMS, PRIOR_DISTS, TRANSFORMS.
 * FORMAT: words (blank-separated), lisp ("a" "b"), regex (a|b, longest
 * first, so that an alternation never stops at a prefix), vimregex
 * (a\|b, the same for Vim), json ("a", "b"); for ALIAS_PAIRS, alist
 * (("ALIAS" . "RECORD") ...).
 * Each list is in keywords.def's order (regex: by length, then that
 * order), without repeats.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *kind;
    const char *word;
    const char *rec;       /* RECORDS: the record a name or alias names */
} Entry;

/* every word, tagged with its kind */
static const Entry entries[] = {
#define RECORD(name, body, summary) { "RECORDS", #name, #name }, { "RECORD_NAMES", #name, NULL },
#define RECORD_ALIAS(alias, name) { "RECORDS", #alias, #name }, \
                                  { "ALIAS_PAIRS", #alias "=" #name, NULL },
#define OPTION(rec, name, type, values) { "OPTIONS", #name, NULL }, { "OPTION_VALUES", values, NULL },
#define DIRECTIVE(rec, name, shape) { "DIRECTIVES", #name, NULL },
#define RECORD_FUNC(rec, name, arity) { "RECORD_FUNCS", #name, NULL },
#define RECORD_WORD(rec, name) { "RECORD_WORDS", #name, NULL },
#define FUNC(name, arity, summary) { "FUNCS", #name, NULL },
#define INDEXED(name, summary) { "INDEXED", #name, NULL },
#define KEYWORD(name) { "KEYWORDS", #name, NULL },
#define BUILTIN(name, summary) { "BUILTINS", #name, NULL },
#define DATA_ITEM(name, summary) { "DATA_ITEMS", #name, NULL },
#define CMT_ROLE(name, means, summary) { "CMT_ROLES", #name, NULL },
#define TABLE_ITEM(name, summary) { "TABLE_ITEMS", #name, NULL },
#define PRIOR_DIST(name, nparams, summary) { "PRIOR_DISTS", #name, NULL },
#define TRANSFORM(name, summary) { "TRANSFORMS", #name, NULL },
#include "keywords.def"
};

enum { NENTRIES = sizeof entries / sizeof entries[0], MAXWORDS = 512, WORDLEN = 64 };

typedef struct {
    char w[MAXWORDS][WORDLEN];
    int n;
} Words;

static void add(Words *v, const char *w, size_t len)
{
    if (len == 0 || len >= WORDLEN || v->n == MAXWORDS)
        return;
    for (int i = 0; i < v->n; i++)
        if (strlen(v->w[i]) == len && strncmp(v->w[i], w, len) == 0)
            return;
    memcpy(v->w[v->n], w, len);
    v->w[v->n++][len] = '\0';
}

/* RECORD=A+B: is rec one of the records listed after '='? */
static int listed(const char *list, const char *rec)
{
    size_t n = strlen(rec);
    for (const char *p = list; *p;) {
        size_t len = strcspn(p, "+");
        if (len == n && strncmp(p, rec, n) == 0)
            return 1;
        p += len;
        p += *p == '+';
    }
    return 0;
}

/* The words of a kind; an entry may hold several, blank-separated (an
 * enum option's values).  0 when the kind names nothing: an unknown
 * kind, or a record that is not in the table. */
static int collect(const char *kind, Words *v)
{
    int known = 0;
    v->n = 0;
    const char *recs = strncmp(kind, "RECORD=", 7) == 0 ? kind + 7 : NULL;
    for (size_t i = 0; i < NENTRIES; i++) {
        if (recs ? strcmp(entries[i].kind, "RECORDS") != 0 || !listed(recs, entries[i].rec)
                 : strcmp(entries[i].kind, kind) != 0)
            continue;
        known = 1;
        for (const char *p = entries[i].word; *p;) {
            size_t len = strcspn(p, " ");
            add(v, p, len);
            p += len;
            p += strspn(p, " ");
        }
    }
    return known;
}

static int by_length(const void *a, const void *b)
{
    return (int)strlen((const char *)b) - (int)strlen((const char *)a);
}

/* Writes the words in the format; -1 for an unknown format. */
static int emit(FILE *out, Words *v, const char *format)
{
    int vim = strcmp(format, "vimregex") == 0;
    if (strcmp(format, "regex") == 0 || vim) {
        /* insertion sort: stable (qsort is not), so equal lengths keep their order */
        Words s = *v;
        for (int i = 1; i < s.n; i++)
            for (int j = i; j > 0 && by_length(s.w[j - 1], s.w[j]) > 0; j--) {
                char t[WORDLEN];
                memcpy(t, s.w[j], WORDLEN);
                memcpy(s.w[j], s.w[j - 1], WORDLEN);
                memcpy(s.w[j - 1], t, WORDLEN);
            }
        for (int i = 0; i < s.n; i++)
            fprintf(out, "%s%s", i ? (vim ? "\\|" : "|") : "", s.w[i]);
        return 0;
    }
    if (strcmp(format, "alist") == 0) {
        for (int i = 0; i < v->n; i++) {
            const char *eq = strchr(v->w[i], '=');
            if (!eq)
                return -1;
            fprintf(out, "%s(\"%.*s\" . \"%s\")", i ? " " : "", (int)(eq - v->w[i]), v->w[i],
                    eq + 1);
        }
        return 0;
    }
    const char *sep, *open, *close;
    if (strcmp(format, "words") == 0)
        sep = " ", open = "", close = "";
    else if (strcmp(format, "lisp") == 0)
        sep = " ", open = "\"", close = "\"";
    else if (strcmp(format, "json") == 0)
        sep = ", ", open = "\"", close = "\"";
    else
        return -1;
    for (int i = 0; i < v->n; i++)
        fprintf(out, "%s%s%s%s", i ? sep : "", open, v->w[i], close);
    return 0;
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap + 1);
    size_t got;
    while (buf && (got = fread(buf + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) {
            char *b = realloc(buf, 2 * cap + 1);
            if (!b) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = b;
            cap *= 2;
        }
    }
    fclose(f);
    if (buf)
        buf[n] = '\0';
    *len = n;
    return buf;
}

/* The line number of offset off in text, for messages. */
static int line_of(const char *text, size_t off)
{
    int line = 1;
    for (size_t i = 0; i < off; i++)
        line += text[i] == '\n';
    return line;
}

static int expand(const char *tpl, const char *text, size_t len, FILE *out)
{
    size_t i = 0;
    while (i < len) {
        const char *at = strstr(text + i, "@@");
        if (!at) {
            fwrite(text + i, 1, len - i, out);
            break;
        }
        size_t start = (size_t)(at - text);
        fwrite(text + i, 1, start - i, out);
        const char *end = strstr(at + 2, "@@");
        const char *colon = end ? memchr(at + 2, ':', (size_t)(end - at - 2)) : NULL;
        if (!end || !colon || end - at > 64) {
            fprintf(stderr, "%s:%d: error: a placeholder is @@KIND:FORMAT@@\n", tpl,
                    line_of(text, start));
            return -1;
        }
        char kind[32] = "", format[32] = "";
        snprintf(kind, sizeof kind, "%.*s", (int)(colon - at - 2), at + 2);
        snprintf(format, sizeof format, "%.*s", (int)(end - colon - 1), colon + 1);
        Words *v = malloc(sizeof *v);
        int rc = !v                     ? -1
                 : !collect(kind, v)    ? (fprintf(stderr, "%s:%d: error: unknown kind '%s'\n",
                                                   tpl, line_of(text, start), kind), -1)
                 : emit(out, v, format) ? (fprintf(stderr, "%s:%d: error: unknown format '%s' "
                                                           "(words, lisp, regex, vimregex, json, alist)\n",
                                                   tpl, line_of(text, start), format), -1)
                                        : 0;
        free(v);
        if (rc != 0)
            return -1;
        i = (size_t)(end - text) + 2;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: gen_editors TEMPLATE OUTPUT\n");
        return 2;
    }
    size_t len;
    char *text = slurp(argv[1], &len);
    if (!text) {
        fprintf(stderr, "gen_editors: cannot read %s\n", argv[1]);
        return 1;
    }
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", argv[2]);
    FILE *out = fopen(tmp, "wb");
    if (!out) {
        fprintf(stderr, "gen_editors: cannot write %s\n", tmp);
        free(text);
        return 1;
    }
    int rc = expand(argv[1], text, len, out);
    free(text);
    if (fclose(out) != 0 || rc != 0 || rename(tmp, argv[2]) != 0) {
        remove(tmp);
        return 1;
    }
    return 0;
}
