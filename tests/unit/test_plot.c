/*
 * test_plot.c -- the SVG plots: well-formed XML (a small stack-based tag
 * matcher), one circle per usable point, points that map back to their
 * data through the axis the tick labels show, nice ranges against known
 * answers, escaping, NaN/Inf and degenerate ranges, log axes, reference
 * and trend lines, and pages of individual fits.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "plot.h"
#include "tap.h"

/* --- reading the SVG back ------------------------------------------------- */

/* NULL when s is well-formed XML with one root element; else what is wrong.
 * Enough XML for our output: declarations, comments, elements, quoted
 * attributes, entities in text and attribute values. */
static const char *xml_check(const char *s)
{
    static char why[128];
    const char *stack[256];
    size_t slen[256];
    int depth = 0, roots = 0;
    while (*s) {
        if (*s == '&') {
            size_t k = strspn(s + 1, "abcdefghijklmnopqrstuvwxyz#0123456789");
            if (k == 0 || s[1 + k] != ';')
                return "bare '&'";
            s += k + 2;
            continue;
        }
        if (*s != '<') {
            s++;
            continue;
        }
        if (!strncmp(s, "<?", 2) || !strncmp(s, "<!--", 4)) {
            const char *e = strstr(s, s[1] == '?' ? "?>" : "-->");
            if (!e)
                return "unclosed declaration or comment";
            s = e + 2;
            continue;
        }
        int closing = s[1] == '/';
        const char *name = s + 1 + closing;
        size_t n = strcspn(name, " \t\n/>");
        if (n == 0)
            return "'<' without a name";
        const char *p = name + n;
        while (*p && *p != '>') {       /* attributes: skip quoted values */
            if (*p == '"') {
                const char *q = strchr(p + 1, '"');
                if (!q || memchr(p + 1, '<', (size_t)(q - p - 1)))
                    return "bad attribute value";
                p = q;
            }
            p++;
        }
        if (!*p)
            return "unclosed tag";
        int self = p[-1] == '/';
        if (closing) {
            if (depth == 0 || slen[depth - 1] != n || strncmp(stack[depth - 1], name, n)) {
                snprintf(why, sizeof why, "</%.*s> does not close the open element", (int)n, name);
                return why;
            }
            depth--;
        } else if (!self) {
            if (depth == 0)
                roots++;
            if (depth == 256)
                return "too deep";
            stack[depth] = name, slen[depth++] = n;
        } else if (depth == 0) {
            roots++;
        }
        s = p + 1;
    }
    if (depth)
        return "an element is never closed";
    return roots == 1 ? NULL : "not exactly one root element";
}

static int count(const char *s, const char *what)
{
    int n = 0;
    for (const char *p = strstr(s, what); p; p = strstr(p + 1, what))
        n++;
    return n;
}

/* The number in attribute name="..." of the tag that contains p. */
static double attr(const char *p, const char *name)
{
    char key[32];
    snprintf(key, sizeof key, " %s=\"", name);
    const char *end = strchr(p, '>'), *a = strstr(p, key);
    if (!a || (end && a > end))
        return NAN;
    return strtod(a + strlen(key), NULL);
}

typedef struct {
    int n;
    double px[32], val[32];
} Ticks;

/* The tick labels of class cls ("xt" or "yt"): pixel and value. */
static Ticks ticks(const char *svg, const char *cls)
{
    Ticks t = {0};
    char key[32];
    snprintf(key, sizeof key, "class=\"%s\"", cls);
    for (const char *p = strstr(svg, key); p && t.n < 32; p = strstr(p + 1, key)) {
        t.px[t.n] = attr(p, cls[0] == 'x' ? "x" : "y");
        t.val[t.n++] = strtod(strchr(p, '>') + 1, NULL);
    }
    return t;
}

/* Inverts a pixel to data through the map the first and last ticks show. */
static double unmap(const Ticks *t, int log, double px)
{
    double v0 = log ? log10(t->val[0]) : t->val[0];
    double v1 = log ? log10(t->val[t->n - 1]) : t->val[t->n - 1];
    double v = v0 + (px - t->px[0]) / (t->px[t->n - 1] - t->px[0]) * (v1 - v0);
    return log ? pow(10, v) : v;
}

/* Every circle maps back to (x[i], y[i]) of the usable points, in order;
 * tolerance rel of the axis span (pixels are printed to 0.01). */
static int circles_map_back(const char *svg, const double *x, const double *y, int n,
                            int logx, int logy, double rel)
{
    Ticks tx = ticks(svg, "xt"), ty = ticks(svg, "yt");
    if (tx.n < 2 || ty.n < 2)
        return 0;
    double sx = fabs(tx.val[tx.n - 1] - tx.val[0]), sy = fabs(ty.val[ty.n - 1] - ty.val[0]);
    const char *p = svg;
    for (int i = 0; i < n; i++) {
        if (!isfinite(x[i]) || !isfinite(y[i]) || (logx && x[i] <= 0) || (logy && y[i] <= 0))
            continue;
        p = strstr(p, "<circle");
        if (!p)
            return 0;
        double u = unmap(&tx, logx, attr(p, "cx")), v = unmap(&ty, logy, attr(p, "cy"));
        double ex = logx ? fabs(log10(u / x[i])) : fabs(u - x[i]) / sx;
        double ey = logy ? fabs(log10(v / y[i])) : fabs(v - y[i]) / sy;
        if (!(ex < rel && ey < rel)) {
            printf("# point %d: (%g, %g) drawn as (%g, %g)\n", i, x[i], y[i], u, v);
            return 0;
        }
        p++;
    }
    return 1;
}

static int no_nan_text(const char *svg)
{
    return !strstr(svg, "nan") && !strstr(svg, "inf") && !strstr(svg, "NaN");
}

/* --- nice ranges ---------------------------------------------------------- */

static int range_is(double lo, double hi, double elo, double ehi, double estep)
{
    double a, b, s;
    plot_nice_range(lo, hi, &a, &b, &s);
    int good = fabs(a - elo) < 1e-12 * (1 + fabs(elo)) && fabs(b - ehi) < 1e-12 * (1 + fabs(ehi))
               && fabs(s - estep) < 1e-12 * estep;
    if (!good)
        printf("# (%g, %g) -> %.17g..%.17g by %.17g\n", lo, hi, a, b, s);
    return good;
}

static void test_nice(void)
{
    ok(range_is(0.13, 9.7, 0, 10, 2), "nice range (0.13, 9.7) is 0..10 by 2");
    ok(range_is(9.7, 0.13, 0, 10, 2), "nice range with the ends swapped");
    ok(range_is(0, 100, 0, 100, 20), "nice range (0, 100) is 0..100 by 20");
    ok(range_is(-3.2, 2.7, -4, 3, 1), "nice range (-3.2, 2.7) is -4..3 by 1");
    ok(range_is(-0.5, 10.2, -2, 12, 2), "nice range (-0.5, 10.2) is -2..12 by 2, not -5..15");
    ok(range_is(0, 24, 0, 25, 5), "nice range (0, 24) is 0..25 by 5: 4 is no 1-2-5 step");
    ok(range_is(1234, 1299, 1230, 1300, 10), "nice range (1234, 1299) is 1230..1300 by 10");
    ok(range_is(0.0012, 0.0047, 0.001, 0.005, 0.001), "nice range (0.0012, 0.0047) by 0.001");
    ok(range_is(-2, 2, -2, 2, 1), "nice range (-2, 2) is -2..2 by 1");
    ok(range_is(0, 0, -1, 1, 0.5), "degenerate (0, 0) widens to -1..1");
    ok(range_is(5, 5, 4.4, 5.6, 0.2), "degenerate (5, 5) widens to 4.4..5.6 by 0.2");
    double a, b, s;
    plot_nice_range(NAN, 1, &a, &b, &s);
    ok(isfinite(a) && isfinite(b) && s > 0 && a < b, "a NaN end still gives a finite range");
    ok(range_is(-0.1, 0.95, -0.2, 1, 0.2), "nice range (-0.1, 0.95) is -0.2..1 by 0.2");
    plot_nice_range(-1e-20, 0, &a, &b, &s);
    ok(b == 0 && !signbit(b), "an end at zero is +0, not -0");
}

/* --- scatter plots -------------------------------------------------------- */

static void test_scatter(void)
{
    double x[] = {0.13, 1.5, NAN, 3.3, 4.1, INFINITY, 5.9, 7.2, 8.8, 9.7};
    double y[] = {0.5, 1.2, 2.0, -INFINITY, 4.4, 5.0, 5.5, 7.9, NAN, 9.1};
    int n = 10, finite = 6;
    size_t len = 0;
    PlotOpts o = {"DV vs PRED", "PRED", "DV", PLOT_REF_IDENTITY, 0, 0, 1};
    char *svg = plot_scatter_svg(x, y, n, &o, &len);
    ok(svg != NULL && len == strlen(svg), "scatter builds, and len is its length");
    if (!svg)
        return;
    const char *why = xml_check(svg);
    ok(!why, "scatter is well-formed XML%s%s", why ? ": " : "", why ? why : "");
    ok(count(svg, "<svg") == 1 && count(svg, "</svg>") == 1, "one <svg> ... </svg>");
    ok(count(svg, "<circle") == finite, "one circle per finite point (%d, want %d)",
       count(svg, "<circle"), finite);
    Ticks tx = ticks(svg, "xt"), ty = ticks(svg, "yt");
    ok(tx.n == 6 && tx.val[0] == 0 && tx.val[tx.n - 1] == 10, "x ticks 0, 2, ..., 10");
    ok(ty.n == tx.n && ty.val[0] == tx.val[0] && ty.val[ty.n - 1] == tx.val[tx.n - 1],
       "identity plot: the axes share one range");
    ok(circles_map_back(svg, x, y, n, 0, 0, 1e-4), "circles map back to their data");
    ok(count(svg, "class=\"ref\"") == 1, "identity line drawn");
    ok(count(svg, "class=\"smooth\"") == 1, "smooth drawn");
    ok(strstr(svg, "<title>DV vs PRED</title>") && strstr(svg, ">PRED</text>")
       && strstr(svg, ">DV</text>"), "title and axis labels");
    ok(no_nan_text(svg), "no nan or inf in the text");
    size_t len2 = 0;
    char *again = plot_scatter_svg(x, y, n, &o, &len2);
    ok(again && len2 == len && !memcmp(svg, again, len), "same input, same bytes");
    free(again);
    free(svg);
}

static void test_escape_empty(void)
{
    double x[] = {1, 2, 3}, y[] = {1, 2, 3};
    PlotOpts o = {"CL <0.5 & V \"big\"", "a<b", "x&y", PLOT_REF_NONE, 0, 0, 0};
    size_t len;
    char *svg = plot_scatter_svg(x, y, 3, &o, &len);
    ok(svg && !xml_check(svg), "title with <, & and \" is well-formed");
    ok(svg && strstr(svg, "CL &lt;0.5 &amp; V &quot;big&quot;") && !strstr(svg, "CL <0.5")
       && strstr(svg, ">a&lt;b<") && strstr(svg, ">x&amp;y<"), "title and labels escaped");
    free(svg);

    PlotOpts e = {"empty", "x", "y", PLOT_REF_ZERO, 0, 0, 1};
    svg = plot_scatter_svg(NULL, NULL, 0, &e, &len);
    ok(svg && !xml_check(svg) && strstr(svg, "no observations") && !count(svg, "<circle"),
       "n = 0: valid SVG that says no observations");
    free(svg);
    double nx[] = {NAN, INFINITY, 1}, ny[] = {1, 2, -INFINITY};
    svg = plot_scatter_svg(nx, ny, 3, &e, &len);
    ok(svg && !xml_check(svg) && strstr(svg, "no observations") && !count(svg, "<circle"),
       "all NaN or Inf: no observations");
    free(svg);
    svg = plot_scatter_svg(x, y, 3, NULL, &len);
    ok(svg && !xml_check(svg) && count(svg, "<circle") == 3, "NULL options: a plain scatter");
    free(svg);
}

static void test_degenerate(void)
{
    double x[] = {3, 3, 3, 3, 3, 3}, y[] = {1, 1, 1, 1, 1, 1};
    PlotOpts o = {"flat", "x", "y", PLOT_REF_NONE, 0, 0, 1};
    size_t len;
    char *svg = plot_scatter_svg(x, y, 6, &o, &len);
    ok(svg && !xml_check(svg) && count(svg, "<circle") == 6 && no_nan_text(svg),
       "all x and all y equal: drawn, no NaN");
    ok(svg && circles_map_back(svg, x, y, 6, 0, 0, 1e-4), "... at the right place");
    ok(svg && !count(svg, "class=\"smooth\""), "no smooth over a single x");
    free(svg);
    double one = 7;
    o.logx = o.logy = 1;
    svg = plot_scatter_svg(&one, &one, 1, &o, &len);
    ok(svg && !xml_check(svg) && count(svg, "<circle") == 1 && circles_map_back(svg, &one, &one, 1, 1, 1, 1e-4),
       "one point on log axes");
    free(svg);
}

static void test_log(void)
{
    double x[] = {-1, 0, 0.5, 5, 50, 400, 0.02}, y[] = {1, 2, 3, 0.04, 5, 6, 70};
    PlotOpts o = {"log", "x", "y", PLOT_REF_NONE, 1, 1, 0};
    size_t len;
    char *svg = plot_scatter_svg(x, y, 7, &o, &len);
    ok(svg && !xml_check(svg), "log axes: well-formed");
    if (!svg)
        return;
    ok(count(svg, "<circle") == 5, "log axes: points <= 0 left out (%d circles)",
       count(svg, "<circle"));
    ok(strstr(svg, "2 points with values &lt;= 0 not shown") != NULL, "and counted in a note");
    Ticks tx = ticks(svg, "xt");
    ok(tx.n >= 2 && tx.val[0] <= 0.02 && tx.val[tx.n - 1] >= 400, "log x ticks span the data");
    ok(circles_map_back(svg, x, y, 7, 1, 1, 1e-4), "log axes: circles map back");
    free(svg);

    double u[] = {1.2, 3.4, 7.9}, v[] = {2, 3, 4};
    svg = plot_scatter_svg(u, v, 3, &o, &len);
    Ticks t = svg ? ticks(svg, "xt") : (Ticks){0};
    ok(svg && t.n == 4 && t.val[0] == 1 && t.val[1] == 2 && t.val[2] == 5 && t.val[3] == 10,
       "within one decade: log ticks 1, 2, 5, 10");
    free(svg);
}

static void test_residuals(void)
{
    enum { N = 200 };
    double t[N], r[N], lin[N];
    for (int i = 0; i < N; i++) {
        t[i] = 24.0 * i / (N - 1);
        r[i] = 0.9 * sin(0.7 * i);          /* inside +-1 */
        lin[i] = 0.05 * t[i] - 0.4;
    }
    PlotOpts o = {"CWRES vs TIME", "TIME", "CWRES", PLOT_REF_ZERO, 0, 0, 1};
    size_t len;
    char *svg = plot_scatter_svg(t, r, N, &o, &len);
    ok(svg && !xml_check(svg), "residual plot well-formed");
    if (!svg)
        return;
    Ticks ty = ticks(svg, "yt");
    ok(ty.n >= 2 && ty.val[0] <= -2 && ty.val[ty.n - 1] >= 2,
       "y range keeps the +-2 lines in view (%g..%g)", ty.val[0], ty.val[ty.n - 1]);
    ok(count(svg, "stroke-dasharray") == 2 && count(svg, "class=\"ref\"") == 1,
       "zero line and two dashed lines");
    ok(circles_map_back(svg, t, r, N, 0, 0, 1e-4), "residual points map back");
    free(svg);

    /* local lines reproduce a straight line exactly: the smooth's vertices
     * must lie on it */
    svg = plot_scatter_svg(t, lin, N, &o, &len);
    const char *p = svg ? strstr(svg, "class=\"smooth\"") : NULL;
    int on = 0, nv = 0;
    if (p) {
        Ticks tx = ticks(svg, "xt");
        ty = ticks(svg, "yt");
        p = strstr(p, "points=\"") + 8;
        double px, py;
        int k;
        on = 1;
        while (sscanf(p, "%lf,%lf %n", &px, &py, &k) == 2) {
            double xv = unmap(&tx, 0, px), yv = unmap(&ty, 0, py);
            on &= fabs(yv - (0.05 * xv - 0.4)) < 1e-3;
            nv++;
            p += k;
        }
    }
    ok(on && nv >= 50, "smooth of a straight line lies on it (%d vertices)", nv);
    free(svg);
    o.smooth = 0;
    svg = plot_scatter_svg(t, r, N, &o, &len);
    ok(svg && !count(svg, "class=\"smooth\""), "smooth = 0: no trend line");
    free(svg);
}

static void test_large(void)
{
    enum { N = 20000 };
    double *x = malloc(N * sizeof *x), *y = malloc(N * sizeof *y);
    if (!x || !y) {
        free(x), free(y);
        return;
    }
    for (int i = 0; i < N; i++) {
        x[i] = 0.5 + (i * 7919 % N) / 100.0;
        y[i] = x[i] * (1 + 0.2 * sin(i));
    }
    PlotOpts o = {"DV vs IPRED", "IPRED", "DV", PLOT_REF_IDENTITY, 1, 1, 1};
    size_t len;
    char *svg = plot_scatter_svg(x, y, N, &o, &len);
    ok(svg && !xml_check(svg) && count(svg, "<circle") == N && count(svg, "class=\"smooth\"") == 1,
       "20000 points on log axes with a smooth");
    free(svg);
    free(x), free(y);
}

/* --- individual fits ------------------------------------------------------ */

enum { NS = 20, NR = 5 };

static void test_indiv(void)
{
    double id[NS * NR], time[NS * NR], dv[NS * NR], ipred[NS * NR], pred[NS * NR];
    int isobs[NS * NR], first[NS], cnt[NS], nobs16 = 0;
    for (int s = 0; s < NS; s++) {
        first[s] = s * NR, cnt[s] = NR;
        for (int j = 0; j < NR; j++) {
            int i = s * NR + j;
            id[i] = 101 + s, time[i] = j * 2.0;
            ipred[i] = 10 * exp(-0.3 * time[i]) * (1 + 0.01 * s);
            pred[i] = 10 * exp(-0.3 * time[i]);
            dv[i] = j == 3 ? NAN : ipred[i] * 1.05;
            isobs[i] = j != 0;            /* the dose row */
            nobs16 += s < 16 && isobs[i] && isfinite(dv[i]);
        }
    }
    size_t len;
    char *svg = plot_indiv_svg(id, time, dv, ipred, pred, isobs, first, cnt, 16, "Fits & <1>", &len);
    const char *why = svg ? xml_check(svg) : "NULL";
    ok(!why, "indiv page well-formed%s%s", why ? ": " : "", why ? why : "");
    if (!svg)
        return;
    ok(count(svg, "class=\"panel\"") == 16 && count(svg, "class=\"strip\"") == 16,
       "16 subjects: 16 panels");
    ok(count(svg, "<circle") == nobs16 + 1, "one circle per observed DV, and the legend's (%d)",
       count(svg, "<circle"));
    ok(strstr(svg, ">ID 101<") && strstr(svg, ">ID 116<") && !strstr(svg, ">ID 117<"),
       "panels titled with the subjects' IDs");
    ok(strstr(svg, ">IPRED</text>") && strstr(svg, ">PRED</text>") && strstr(svg, "Fits &amp; &lt;1&gt;"),
       "legend, and the title escaped");
    ok(count(svg, "<polyline") == 32, "an IPRED and a PRED line per panel");
    free(svg);

    svg = plot_indiv_svg(id, time, dv, ipred, pred, isobs, first, cnt, NS, "all", &len);
    ok(svg && !xml_check(svg) && count(svg, "class=\"panel\"") == PLOT_PER_PAGE
       && strstr(svg, "4 more subjects not drawn"), "20 subjects: 16 panels and a note");
    free(svg);
    svg = plot_indiv_svg(id + 16 * NR, time, dv, ipred, pred, NULL, first, cnt, 4, "p2", &len);
    ok(svg && !xml_check(svg) && count(svg, "class=\"panel\"") == 4
       && count(svg, "<circle") == 4 * (NR - 1) + 1, "4 subjects, isobs NULL: every finite DV");
    free(svg);

    svg = plot_indiv_svg(NULL, time, dv, ipred, NULL, isobs, first, cnt, 3, "no PRED", &len);
    ok(svg && !xml_check(svg) && count(svg, "<polyline") == 3 && strstr(svg, ">ID 3<"),
       "pred NULL: IPRED lines only; id NULL: panels numbered");
    free(svg);

    /* a subject with nothing to draw, and one with a single time */
    double nan5[NR] = {NAN, NAN, NAN, NAN, NAN}, t1[NR] = {1, 1, 1, 1, 1};
    int f0[2] = {0, 0}, c0[2] = {NR, NR};
    svg = plot_indiv_svg(NULL, nan5, dv, ipred, pred, NULL, f0, c0, 1, "", &len);
    ok(svg && !xml_check(svg) && strstr(svg, "no observations"), "a subject without data");
    free(svg);
    svg = plot_indiv_svg(NULL, t1, dv, ipred, pred, NULL, f0, c0, 2, NULL, &len);
    ok(svg && !xml_check(svg) && no_nan_text(svg) && count(svg, "class=\"panel\"") == 2,
       "a single time point: no NaN");
    free(svg);
    svg = plot_indiv_svg(NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, 0, "none", &len);
    ok(svg && !xml_check(svg) && strstr(svg, "no subjects"), "no subjects: valid SVG");
    free(svg);
}

static void test_write(void)
{
    char path[] = "/tmp/test_plot_XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0) {
        ok(0, "mkstemp: %s", strerror(errno));
        return;
    }
    close(fd);
    double x[] = {1, 2}, y[] = {2, 1};
    size_t len;
    char *svg = plot_scatter_svg(x, y, 2, NULL, &len);
    size_t want = len;
    ok(plot_write(path, svg) == 0, "plot_write writes");
    FILE *f = fopen(path, "rb");
    char buf[1 << 14];
    size_t got = f ? fread(buf, 1, sizeof buf, f) : 0;
    if (f)
        fclose(f);
    ok(got == want && !strncmp(buf, "<?xml", 5), "the file holds the SVG (%zu bytes)", got);
    unlink(path);
    errno = 0;
    ok(plot_write(path, NULL) == -1 && errno == ENOMEM, "NULL svg: -1, ENOMEM");
}

int main(void)
{
    test_nice();
    test_scatter();
    test_escape_empty();
    test_degenerate();
    test_log();
    test_residuals();
    test_large();
    test_indiv();
    test_write();
    return tap_done();
}
