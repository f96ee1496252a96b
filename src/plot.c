/*
 * plot.c -- goodness-of-fit plots as hand-written SVG text.
 *
 * Every panel is built the same way: the usable points are gathered, each
 * axis gets a "nice" range whose ends are ticks 1, 2 or 5 times a power of
 * ten apart (Heckbert, Graphics Gems I, 1990; on a log axis the same in
 * log10 space), the frame, grid and tick labels are drawn, and the data go
 * through one affine map per axis, from axis space (the value, or its
 * log10) to pixels, inside a clip path.  The text grows in one buffer; an
 * allocation failure marks it and every later write is a no-op, so the
 * drawing code has a single failure check, at the end.
 *
 * The trend line is local linear regression (Cleveland's lowess): at each
 * of SMOOTH_N positions x0 spread over the data, a line fitted by weighted
 * least squares to the SPAN fraction of points nearest in x, with tricube
 * weights (1 - (d/h)^3)^3, h the distance to the farthest of them; the
 * smooth is the line's value at x0.  As in xpose (ggplot's loess, family
 * "gaussian") there are no robustness iterations; lines rather than
 * loess's quadratics, as in R's lowess, keep the ends from swinging.
 */
#include "plot.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "mem.h"
#include "table.h"

#define PAD       8       /* px between the panel's frame and the data */
#define MAXT      24      /* ticks on one axis, at most */
#define SPAN      (2.0 / 3.0)
#define SMOOTH_N  60
#define BIG       1e300   /* beyond this a value counts as infinite: keeps
                             every range and difference of ranges finite */

#define C_POINT   "#1f5fa8"
#define C_SMOOTH  "#d7301f"
#define C_PRED    "#c0392b"
#define C_TEXT    "#333333"
#define C_MUTED   "#4d4d4d"

/* --- the text buffer ------------------------------------------------------ */

typedef struct {
    char *p;
    size_t n, cap;
    int oom;
} Sb;

static int sb_room(Sb *b, size_t need)
{
    if (b->oom)
        return 0;
    if (b->cap - b->n >= need)
        return 1;
    size_t cap = b->cap ? b->cap : 8192;
    while (cap - b->n < need) {
        if (cap > (size_t)-1 / 2) {
            b->oom = 1;
            return 0;
        }
        cap *= 2;
    }
    char *p = mem_realloc(b->p, cap);
    if (!p) {
        b->oom = 1;
        return 0;
    }
    b->p = p;
    b->cap = cap;
    return 1;
}

static void sb_printf(Sb *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void sb_printf(Sb *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (k < 0) {
        b->oom = 1;
        return;
    }
    if (!sb_room(b, (size_t)k + 1))
        return;
    va_start(ap, fmt);
    vsnprintf(b->p + b->n, (size_t)k + 1, fmt, ap);
    va_end(ap);
    b->n += (size_t)k;
}

/* Text for an element's content or an attribute: the XML specials become
 * entities, and control bytes (not allowed in XML 1.0) become spaces. */
static void sb_text(Sb *b, const char *s)
{
    for (; s && *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '&')
            sb_printf(b, "&amp;");
        else if (c == '<')
            sb_printf(b, "&lt;");
        else if (c == '>')
            sb_printf(b, "&gt;");
        else if (c == '"')
            sb_printf(b, "&quot;");
        else
            sb_printf(b, "%c", c < 0x20 ? ' ' : c);
    }
}

/* The finished text, or NULL (and nothing to free) after a failure. */
static char *sb_done(Sb *b, size_t *len)
{
    if (b->oom || !b->p) {
        mem_free(b->p);
        return NULL;
    }
    if (len)
        *len = b->n;
    return b->p;
}

/* --- axes ----------------------------------------------------------------- */

typedef struct {
    int log;
    double lo, hi;          /* the ends, in axis space */
    double p0, p1;          /* their pixels (p1 < p0 on a vertical axis) */
    int nt, prec;           /* ticks, and %.*g digits that tell them apart */
    double tick[MAXT];      /* in data space */
} Axis;

static int usable(double v)
{
    return isfinite(v) && fabs(v) <= BIG;
}

/* The smallest step on the 1-2-5 ladder whose ticks enclose [lo, hi] in
 * at most intervals + 2 intervals: Heckbert's rounding of the raw step up
 * alone can waste half the axis ((-0.5, 10.2) would get -5..15 by 5
 * rather than -2..12 by 2). */
static void nice_range(double lo, double hi, int intervals, double *tlo, double *thi,
                       double *step)
{
    if (!usable(lo) || !usable(hi))
        lo = 0, hi = 1;
    if (lo > hi) {
        double t = lo;
        lo = hi, hi = t;
    }
    /* A range too narrow for its labels to differ is a single value:
     * widen it by a tenth of the value, or by one around zero. */
    double m = fmax(fabs(lo), fabs(hi));
    if (hi - lo <= 1e-9 * m || hi - lo < 1e-280) {
        double w = m > 1e-280 ? 0.1 * m : 1;
        lo -= w, hi += w;
    }
    static const double ladder[] = {1, 2, 5, 10, 20, 50};
    double mag = pow(10, floor(log10((hi - lo) / intervals))), s = mag, k0 = 0, k1 = 1;
    for (int i = 0; i < 6; i++) {
        s = ladder[i] * mag;
        k0 = floor(lo / s + 1e-9), k1 = ceil(hi / s - 1e-9);
        if (k1 - k0 <= intervals + 2)
            break;
    }
    if (k1 <= k0)
        k1 = k0 + 1;
    /* + 0.0 turns -0 into 0, so no axis is labelled "-0" */
    *tlo = k0 * s + 0.0;
    *thi = k1 * s + 0.0;
    *step = s;
}

void plot_nice_range(double lo, double hi, double *tick_lo, double *tick_hi, double *step)
{
    nice_range(lo, hi, 5, tick_lo, tick_hi, step);
}

static void axis_linear(Axis *a, double lo, double hi, int intervals)
{
    double s;
    nice_range(lo, hi, intervals, &a->lo, &a->hi, &s);
    double k0 = floor(a->lo / s + 0.5);
    a->nt = 0;
    for (double k = k0; a->nt < MAXT && k * s <= a->hi + 1e-9 * s; k++)
        a->tick[a->nt++] = k * s + 0.0;
    double d = ceil(log10(fmax(fabs(a->lo), fabs(a->hi)) / s)) + 1;
    a->prec = d < 6 ? 6 : d > 15 ? 15 : (int)d;
}

/* Log axis over positive [lo, hi]: ends at 1, 2 or 5 times a power of ten
 * when the data span at most two decades (ticks at 1, 2, 5 of each), at
 * whole decades otherwise (a tick every decade, or every few). */
static void axis_log(Axis *a, double lo, double hi)
{
    static const double m125[] = {1, 2, 5, 10};
    lo = fmax(lo, 1e-300);              /* halving a subnormal would give 0 */
    if (hi <= lo * (1 + 1e-9))          /* one value: a factor of 2 round it */
        lo /= 2, hi *= 2;
    double e0 = floor(log10(lo) + 1e-9), e1 = floor(log10(hi) - 1e-9);
    double l = e0, h = e1 + 1;
    for (int i = 2; i >= 0; i--)
        if (m125[i] * pow(10, e0) <= lo * (1 + 1e-9)) {
            l = e0 + log10(m125[i]);
            break;
        }
    for (int i = 0; i < 4; i++)
        if (m125[i] * pow(10, e1) >= hi * (1 - 1e-9)) {
            h = e1 + log10(m125[i]);
            break;
        }
    int fine = e1 - e0 <= 1;
    if (!fine)
        l = e0, h = e1 + 1;
    if (h <= l)
        h = l + 1;
    a->log = 1, a->lo = l, a->hi = h, a->nt = 0, a->prec = 6;
    int stride = (int)ceil((h - l) / 6);
    for (double e = floor(l); e <= h && a->nt < MAXT; e += fine ? 1 : stride)
        for (int i = 0; i < (fine ? 3 : 1) && a->nt < MAXT; i++) {
            double t = e + log10(m125[i]);
            if (t >= l - 1e-9 && t <= h + 1e-9)
                a->tick[a->nt++] = m125[i] * pow(10, e);
        }
}

static double axis_pt(const Axis *a, double t)
{
    return a->p0 + (t - a->lo) / (a->hi - a->lo) * (a->p1 - a->p0);
}

static double axis_tr(const Axis *a, double v)
{
    return a->log ? log10(v) : v;
}

static double axis_px(const Axis *a, double v)
{
    return axis_pt(a, axis_tr(a, v));
}

/* --- drawing -------------------------------------------------------------- */

typedef struct {
    double x, y, w, h;
} Rect;

static void svg_open(Sb *b, int w, int h, const char *title)
{
    sb_printf(b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                 "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
                 "viewBox=\"0 0 %d %d\" font-family=\"Helvetica, Arial, sans-serif\" "
                 "font-size=\"12\" fill=\"" C_TEXT "\">\n<title>", w, h, w, h);
    sb_text(b, title ? title : "");
    sb_printf(b, "</title>\n<rect width=\"%d\" height=\"%d\" fill=\"#ffffff\"/>\n", w, h);
    if (title && *title) {
        sb_printf(b, "<text x=\"%.2f\" y=\"24\" text-anchor=\"middle\" font-size=\"15\" "
                     "font-weight=\"bold\">", w / 2.0);
        sb_text(b, title);
        sb_printf(b, "</text>\n");
    }
}

static void label(Sb *b, double x, double y, int vertical, const char *s)
{
    if (!s || !*s)
        return;
    if (vertical)
        sb_printf(b, "<text x=\"%.2f\" y=\"%.2f\" transform=\"rotate(-90 %.2f %.2f)\" "
                     "text-anchor=\"middle\">", x, y, x, y);
    else
        sb_printf(b, "<text x=\"%.2f\" y=\"%.2f\" text-anchor=\"middle\">", x, y);
    sb_text(b, s);
    sb_printf(b, "</text>\n");
}

static void note(Sb *b, double x, double y, const char *anchor, const char *s)
{
    sb_printf(b, "<text class=\"note\" x=\"%.2f\" y=\"%.2f\" text-anchor=\"%s\" "
                 "font-size=\"10\" fill=\"" C_MUTED "\">", x, y, anchor);
    sb_text(b, s);
    sb_printf(b, "</text>\n");
}

/* The panel's frame, with the axes mapped into it (PAD inside). */
static void panel_frame(Sb *b, Rect r, Axis *ax, Axis *ay)
{
    sb_printf(b, "<rect class=\"panel\" x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" "
                 "fill=\"#ffffff\" stroke=\"#b3b3b3\"/>\n", r.x, r.y, r.w, r.h);
    if (ax)
        ax->p0 = r.x + PAD, ax->p1 = r.x + r.w - PAD;
    if (ay)
        ay->p0 = r.y + r.h - PAD, ay->p1 = r.y + PAD;
}

/* One axis: grid lines across the panel, tick marks and labels outside
 * it.  A label has class xt or yt and its x or y is the tick's pixel, so
 * a reader of the file can recover the map (as the tests do). */
static void axis_draw(Sb *b, Rect r, const Axis *a, int vertical, int fs)
{
    sb_printf(b, "<g font-size=\"%d\" fill=\"" C_MUTED "\">\n", fs);
    for (int i = 0; i < a->nt; i++) {
        double p = axis_px(a, a->tick[i]);
        double x0 = vertical ? r.x : p, y0 = vertical ? p : r.y + r.h;  /* on the frame */
        double x1 = vertical ? r.x + r.w : p, y1 = vertical ? p : r.y;  /* across */
        double dx = vertical ? 1 : 0, dy = vertical ? 0 : 1;            /* outward: -dx, +dy */
        sb_printf(b, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"#ebebeb\"/>"
                     "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"#b3b3b3\"/>"
                     "<text class=\"%s\" x=\"%.2f\" y=\"%.2f\" %s>%.*g</text>\n",
                  x0 + dx, y0 - dy, x1 - dx, y1 + dy, x0, y0, x0 - 4 * dx, y0 + 4 * dy,
                  vertical ? "yt" : "xt", x0 - 6 * dx, y0 + (fs + 5) * dy,
                  vertical ? "dy=\"0.35em\" text-anchor=\"end\"" : "text-anchor=\"middle\"",
                  a->prec, a->tick[i]);
    }
    sb_printf(b, "</g>\n");
}

static void clip_open(Sb *b, int id, Rect r)
{
    sb_printf(b, "<clipPath id=\"clip%d\"><rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" "
                 "height=\"%.2f\"/></clipPath>\n<g clip-path=\"url(#clip%d)\">\n",
              id, r.x, r.y, r.w, r.h, id);
}

static void hline(Sb *b, Rect r, double py, const char *style)
{
    sb_printf(b, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" %s/>\n",
              r.x, py, r.x + r.w, py, style);
}

/* --- the trend line ------------------------------------------------------- */

typedef struct {
    double x, y;
} Pt;

static int pt_cmp(const void *a, const void *b)
{
    double u = ((const Pt *)a)->x, v = ((const Pt *)b)->x;
    return (u > v) - (u < v);
}

/* The local line's value at x0, from the k points (p sorted by x) nearest
 * to x0; NaN when all their weights are zero. */
static double lowess_at(const Pt *p, int m, int k, double x0)
{
    int lo = 0, hi = m;                 /* first point with x >= x0 */
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        if (p[mid].x < x0)
            lo = mid + 1;
        else
            hi = mid;
    }
    int l = lo - 1, r = lo;             /* the window is (l, r) */
    for (int i = 0; i < k; i++)
        if (r >= m || (l >= 0 && x0 - p[l].x <= p[r].x - x0))
            l--;
        else
            r++;
    double h = fmax(x0 - p[l + 1].x, p[r - 1].x - x0);
    if (h <= 0)
        h = 1;
    double sw = 0, sx = 0, sy = 0, sxx = 0, sxy = 0;
    for (int i = l + 1; i < r; i++) {
        double dx = p[i].x - x0, d = fabs(dx) / h;
        if (d >= 1)
            continue;
        double w = 1 - d * d * d;
        w = w * w * w;
        sw += w, sx += w * dx, sy += w * p[i].y;
        sxx += w * dx * dx, sxy += w * dx * p[i].y;
    }
    if (sw <= 0)
        return NAN;
    double den = sw * sxx - sx * sx;
    /* x centred at x0, so the intercept is the value there; with the
     * weight on (nearly) one x, fall back to the weighted mean */
    if (den <= 1e-12 * sw * sxx || sxx <= 0)
        return sy / sw;
    return (sy * sxx - sx * sxy) / den;
}

/* Draws the smooth through p (m points in axis space; sorted here). */
static void smooth(Sb *b, Pt *p, int m, const Axis *ax, const Axis *ay)
{
    if (m < 5)
        return;
    qsort(p, (size_t)m, sizeof *p, pt_cmp);
    double x0 = p[0].x, x1 = p[m - 1].x;
    if (!(x1 > x0))
        return;
    int k = (int)ceil(SPAN * m);
    sb_printf(b, "<polyline class=\"smooth\" fill=\"none\" stroke=\"" C_SMOOTH "\" "
                 "stroke-width=\"1.8\" points=\"");
    for (int i = 0; i < SMOOTH_N; i++) {
        double x = x0 + (x1 - x0) * i / (SMOOTH_N - 1), y = lowess_at(p, m, k, x);
        if (isfinite(y))
            sb_printf(b, "%.2f,%.2f ", axis_pt(ax, x), axis_pt(ay, y));
    }
    sb_printf(b, "\"/>\n");
}

/* --- the scatter ---------------------------------------------------------- */

enum { SW = 520, SH = 540 };

char *plot_scatter_svg(const double *x, const double *y, int n, const PlotOpts *o,
                       size_t *len)
{
    static const PlotOpts none;
    if (!o)
        o = &none;
    int same = o->ref == PLOT_REF_IDENTITY;
    Axis ax = {.log = o->logx || (same && o->logy)};
    Axis ay = {.log = o->logy || (same && o->logx)};
    Pt *p = mem_malloc((size_t)(n > 0 ? n : 1) * sizeof *p);
    if (!p)
        return NULL;
    /* the usable points, in axis space, and their extent in data space */
    int m = 0, nonpos = 0;
    double xlo = INFINITY, xhi = -INFINITY, ylo = INFINITY, yhi = -INFINITY;
    for (int i = 0; i < n; i++) {
        if (!usable(x[i]) || !usable(y[i]))
            continue;
        if ((ax.log && x[i] <= 0) || (ay.log && y[i] <= 0)) {
            nonpos++;
            continue;
        }
        xlo = fmin(xlo, x[i]), xhi = fmax(xhi, x[i]);
        ylo = fmin(ylo, y[i]), yhi = fmax(yhi, y[i]);
        p[m++] = (Pt){axis_tr(&ax, x[i]), axis_tr(&ay, y[i])};
    }
    int zero = o->ref == PLOT_REF_ZERO && !ay.log;
    if (zero)       /* keep the +-2 lines in view */
        ylo = fmin(ylo, -2), yhi = fmax(yhi, 2);
    if (same)
        xlo = ylo = fmin(xlo, ylo), xhi = yhi = fmax(xhi, yhi);

    Sb b = {0};
    Rect r = {64, 44, 440, 440};
    svg_open(&b, SW, SH, o->title);
    label(&b, r.x + r.w / 2, r.y + r.h + 38, 0, o->xlabel);
    label(&b, 20, r.y + r.h / 2, 1, o->ylabel);
    if (m == 0) {
        panel_frame(&b, r, NULL, NULL);
        sb_printf(&b, "<text x=\"%.2f\" y=\"%.2f\" text-anchor=\"middle\" font-size=\"14\" "
                      "fill=\"" C_MUTED "\">no observations</text>\n",
                  r.x + r.w / 2, r.y + r.h / 2);
    } else {
        ax.log ? axis_log(&ax, xlo, xhi) : axis_linear(&ax, xlo, xhi, 5);
        ay.log ? axis_log(&ay, ylo, yhi) : axis_linear(&ay, ylo, yhi, 5);
        panel_frame(&b, r, &ax, &ay);
        axis_draw(&b, r, &ax, 0, 11);
        axis_draw(&b, r, &ay, 1, 11);
        clip_open(&b, 0, r);
        if (same)
            sb_printf(&b, "<line class=\"ref\" x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" "
                          "stroke=\"#000000\"/>\n", axis_pt(&ax, ax.lo), axis_pt(&ay, ax.lo),
                      axis_pt(&ax, ax.hi), axis_pt(&ay, ax.hi));
        if (zero) {
            hline(&b, r, axis_px(&ay, 0), "class=\"ref\" stroke=\"#000000\"");
            hline(&b, r, axis_px(&ay, 2), "stroke=\"#555555\" stroke-dasharray=\"5 4\"");
            hline(&b, r, axis_px(&ay, -2), "stroke=\"#555555\" stroke-dasharray=\"5 4\"");
        }
        /* translucent, so that where points pile up the colour deepens */
        sb_printf(&b, "<g fill=\"" C_POINT "\" fill-opacity=\"0.4\" stroke=\"" C_POINT "\" "
                      "stroke-opacity=\"0.7\" stroke-width=\"0.6\">\n");
        for (int i = 0; i < m; i++)
            sb_printf(&b, "<circle cx=\"%.2f\" cy=\"%.2f\" r=\"2.6\"/>\n",
                      axis_pt(&ax, p[i].x), axis_pt(&ay, p[i].y));
        sb_printf(&b, "</g>\n");
        if (o->smooth)
            smooth(&b, p, m, &ax, &ay);
        sb_printf(&b, "</g>\n");
    }
    if (nonpos) {
        char s[96];
        snprintf(s, sizeof s, "%d point%s with values <= 0 not shown (log axis)", nonpos,
                 nonpos == 1 ? "" : "s");
        note(&b, 8, SH - 6, "start", s);
    }
    sb_printf(&b, "</svg>\n");
    mem_free(p);
    return sb_done(&b, len);
}

/* --- percentile bands -------------------------------------------------------- */

static void series(Sb *b, const Axis *ax, const Axis *ay, const double *t, const double *v,
                   int from, int to, const char *style);

char *plot_bands_svg(const double *t, const double *lo, const double *mid, const double *hi,
                     int n, double level, const PlotOpts *o, size_t *len)
{
    static const PlotOpts none;
    if (!o)
        o = &none;
    Axis ax = {0}, ay = {0};
    double xlo = INFINITY, xhi = -INFINITY, ylo = INFINITY, yhi = -INFINITY;
    int m = 0;
    for (int i = 0; i < n; i++) {
        if (!usable(t[i]) || !usable(lo[i]) || !usable(mid[i]) || !usable(hi[i]))
            continue;
        xlo = fmin(xlo, t[i]), xhi = fmax(xhi, t[i]);
        ylo = fmin(ylo, lo[i]), yhi = fmax(yhi, hi[i]);
        m++;
    }
    if (usable(level))
        ylo = fmin(ylo, level), yhi = fmax(yhi, level);
    Sb b = {0};
    Rect r = {64, 44, 440, 440};
    svg_open(&b, SW, SH, o->title);
    label(&b, r.x + r.w / 2, r.y + r.h + 38, 0, o->xlabel);
    label(&b, 20, r.y + r.h / 2, 1, o->ylabel);
    if (m < 2) {
        panel_frame(&b, r, NULL, NULL);
        sb_printf(&b, "<text x=\"%.2f\" y=\"%.2f\" text-anchor=\"middle\" font-size=\"14\" "
                      "fill=\"" C_MUTED "\">no values</text>\n", r.x + r.w / 2, r.y + r.h / 2);
    } else {
        axis_linear(&ax, xlo, xhi, 5);
        axis_linear(&ay, ylo, yhi, 5);
        panel_frame(&b, r, &ax, &ay);
        axis_draw(&b, r, &ax, 0, 11);
        axis_draw(&b, r, &ay, 1, 11);
        clip_open(&b, 0, r);
        /* the 5-95% band as one polygon: up the upper edge, back down the lower */
        sb_printf(&b, "<polygon fill=\"" C_POINT "\" fill-opacity=\"0.25\" stroke=\"none\" "
                      "points=\"");
        for (int i = 0; i < n; i++)
            if (usable(t[i]) && usable(hi[i]))
                sb_printf(&b, "%.2f,%.2f ", axis_px(&ax, t[i]), axis_px(&ay, hi[i]));
        for (int i = n - 1; i >= 0; i--)
            if (usable(t[i]) && usable(lo[i]))
                sb_printf(&b, "%.2f,%.2f ", axis_px(&ax, t[i]), axis_px(&ay, lo[i]));
        sb_printf(&b, "\"/>\n");
        series(&b, &ax, &ay, t, mid, 0, n, "stroke=\"" C_POINT "\" stroke-width=\"1.8\"");
        if (usable(level))
            hline(&b, r, axis_px(&ay, level), "stroke=\"#b22222\" stroke-dasharray=\"6 4\"");
        sb_printf(&b, "</g>\n");
    }
    note(&b, 8, SH - 6, "start", "line: median; band: 5th to 95th percentile; dashed: the target");
    sb_printf(&b, "</svg>\n");
    return sb_done(&b, len);
}

/* --- visual predictive check ------------------------------------------------ */

char *plot_vpc_svg(const double *t, const double *obs, const double *sim, int n,
                   const char *title, size_t *len)
{
    Axis ax = {0}, ay = {0};
    double xlo = INFINITY, xhi = -INFINITY, ylo = INFINITY, yhi = -INFINITY;
    for (int i = 0; i < n; i++) {
        if (!usable(t[i]))
            continue;
        xlo = fmin(xlo, t[i]), xhi = fmax(xhi, t[i]);
        for (int k = 0; k < 3; k++) {
            if (usable(obs[i * 3 + k]))
                ylo = fmin(ylo, obs[i * 3 + k]), yhi = fmax(yhi, obs[i * 3 + k]);
            for (int j = 0; j < 3; j += 2)
                if (usable(sim[(i * 3 + k) * 3 + j]))
                    ylo = fmin(ylo, sim[(i * 3 + k) * 3 + j]),
                    yhi = fmax(yhi, sim[(i * 3 + k) * 3 + j]);
        }
    }
    Sb b = {0};
    Rect r = {64, 44, 440, 440};
    svg_open(&b, SW, SH, title);
    label(&b, r.x + r.w / 2, r.y + r.h + 38, 0, "TIME");
    label(&b, 20, r.y + r.h / 2, 1, "DV");
    if (!(xlo < INFINITY) || !(ylo < INFINITY)) {
        panel_frame(&b, r, NULL, NULL);
    } else {
        if (!(xhi > xlo))
            xlo -= 1, xhi += 1;
        axis_linear(&ax, xlo, xhi, 5);
        axis_linear(&ay, ylo, yhi, 5);
        panel_frame(&b, r, &ax, &ay);
        axis_draw(&b, r, &ax, 0, 11);
        axis_draw(&b, r, &ay, 1, 11);
        clip_open(&b, 0, r);
        /* each simulated percentile's 95% interval, shaded; the median's darker */
        for (int k = 0; k < 3; k++) {
            sb_printf(&b, "<polygon fill=\"%s\" fill-opacity=\"0.3\" stroke=\"none\" points=\"",
                      k == 1 ? "#d95f02" : C_POINT);
            for (int i = 0; i < n; i++)
                sb_printf(&b, "%.2f,%.2f ", axis_px(&ax, t[i]), axis_px(&ay, sim[(i * 3 + k) * 3 + 2]));
            for (int i = n - 1; i >= 0; i--)
                sb_printf(&b, "%.2f,%.2f ", axis_px(&ax, t[i]), axis_px(&ay, sim[(i * 3 + k) * 3]));
            sb_printf(&b, "\"/>\n");
        }
        /* the observed percentiles: the median solid, the 5th and 95th dashed */
        for (int k = 0; k < 3; k++) {
            double *v = mem_malloc(sizeof(double) * (size_t)(n > 0 ? n : 1));
            if (!v)
                break;
            for (int i = 0; i < n; i++)
                v[i] = obs[i * 3 + k];
            series(&b, &ax, &ay, t, v, 0, n,
                   k == 1 ? "stroke=\"#222222\" stroke-width=\"1.8\""
                          : "stroke=\"#222222\" stroke-width=\"1.2\" stroke-dasharray=\"5 4\"");
            mem_free(v);
        }
        sb_printf(&b, "</g>\n");
    }
    note(&b, 8, SH - 6, "start", "lines: observed 5th, 50th (solid), 95th percentiles; "
                                 "shaded: their 95% intervals by simulation");
    sb_printf(&b, "</svg>\n");
    return sb_done(&b, len);
}

/* --- individual fits ------------------------------------------------------ */

enum { CW = 240, CH = 200, IL = 40, IT = 64, IB = 40 };

/* A line through the rows' finite (t, v), or nothing with fewer than two. */
static void series(Sb *b, const Axis *ax, const Axis *ay, const double *t, const double *v,
                   int from, int to, const char *style)
{
    int nv = 0;
    for (int i = from; i < to; i++)
        nv += usable(t[i]) && usable(v[i]);
    if (nv < 2)
        return;
    sb_printf(b, "<polyline fill=\"none\" %s points=\"", style);
    for (int i = from; i < to; i++)
        if (usable(t[i]) && usable(v[i]))
            sb_printf(b, "%.2f,%.2f ", axis_px(ax, t[i]), axis_px(ay, v[i]));
    sb_printf(b, "\"/>\n");
}

#define S_IPRED "stroke=\"" C_POINT "\" stroke-width=\"1.6\""
#define S_PRED  "stroke=\"" C_PRED "\" stroke-width=\"1.4\" stroke-dasharray=\"6 4\""
#define S_DV    "fill=\"#222222\" fill-opacity=\"0.6\""

static int is_dv(const double *dv, const int *isobs, int i)
{
    return dv && (!isobs || isobs[i]) && usable(dv[i]);
}

/* One subject's panel in the cell whose top-left corner is (cx, cy). */
static void indiv_panel(Sb *b, int k, double cx, double cy, double id, const double *time,
                        const double *dv, const double *ipred, const double *pred,
                        const int *isobs, int from, int to)
{
    Rect strip = {cx + 44, cy + 4, CW - 54, 18}, r = {cx + 44, cy + 22, CW - 54, CH - 58};
    sb_printf(b, "<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" fill=\"#e8e8e8\" "
                 "stroke=\"#b3b3b3\"/>\n<text class=\"strip\" x=\"%.2f\" y=\"%.2f\" "
                 "text-anchor=\"middle\" font-size=\"11\">ID %.10g</text>\n",
              strip.x, strip.y, strip.w, strip.h, strip.x + strip.w / 2, strip.y + 13, id);
    double xlo = INFINITY, xhi = -INFINITY, ylo = INFINITY, yhi = -INFINITY;
    for (int i = from; i < to; i++) {
        if (!usable(time[i]))
            continue;
        double v[3] = {is_dv(dv, isobs, i) ? dv[i] : NAN, ipred ? ipred[i] : NAN,
                       pred ? pred[i] : NAN};
        for (int j = 0; j < 3; j++)
            if (usable(v[j])) {
                xlo = fmin(xlo, time[i]), xhi = fmax(xhi, time[i]);
                ylo = fmin(ylo, v[j]), yhi = fmax(yhi, v[j]);
            }
    }
    if (!(xlo <= xhi)) {
        panel_frame(b, r, NULL, NULL);
        note(b, r.x + r.w / 2, r.y + r.h / 2, "middle", "no observations");
        return;
    }
    Axis ax = {0}, ay = {0};
    axis_linear(&ax, xlo, xhi, 4);
    axis_linear(&ay, ylo, yhi, 4);
    panel_frame(b, r, &ax, &ay);
    axis_draw(b, r, &ax, 0, 10);
    axis_draw(b, r, &ay, 1, 10);
    clip_open(b, k, r);
    if (pred)
        series(b, &ax, &ay, time, pred, from, to, S_PRED);
    if (ipred)
        series(b, &ax, &ay, time, ipred, from, to, S_IPRED);
    sb_printf(b, "<g " S_DV ">\n");
    for (int i = from; i < to; i++)
        if (usable(time[i]) && is_dv(dv, isobs, i))
            sb_printf(b, "<circle cx=\"%.2f\" cy=\"%.2f\" r=\"2.4\"/>\n",
                      axis_px(&ax, time[i]), axis_px(&ay, dv[i]));
    sb_printf(b, "</g>\n</g>\n");
}

/* The key above the panels: one DV marker (a circle), IPRED, PRED. */
static void legend(Sb *b, double x, double y)
{
    sb_printf(b, "<g class=\"legend\" font-size=\"11\">\n"
                 "<circle cx=\"%.2f\" cy=\"%.2f\" r=\"2.4\" " S_DV "/>"
                 "<text x=\"%.2f\" y=\"%.2f\">DV</text>\n"
                 "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" " S_IPRED "/>"
                 "<text x=\"%.2f\" y=\"%.2f\">IPRED</text>\n"
                 "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" " S_PRED "/>"
                 "<text x=\"%.2f\" y=\"%.2f\">PRED</text>\n</g>\n",
              x + 10, y, x + 18, y + 4,
              x + 60, y, x + 84, y, x + 90, y + 4,
              x + 150, y, x + 174, y, x + 180, y + 4);
}

char *plot_indiv_svg(const double *id, const double *time, const double *dv,
                     const double *ipred, const double *pred, const int *isobs,
                     const int *first, const int *count, int nsubj, const char *title,
                     size_t *len)
{
    int np = nsubj < 0 ? 0 : nsubj > PLOT_PER_PAGE ? PLOT_PER_PAGE : nsubj;
    int cols = 1;
    while (cols * cols < np)
        cols++;
    int rows = np ? (np + cols - 1) / cols : 1;
    int w = IL + cols * CW + 10, h = IT + rows * CH + IB;
    Sb b = {0};
    svg_open(&b, w, h, title);
    legend(&b, w / 2.0 - 110, 44);
    label(&b, IL + cols * CW / 2.0, h - 12, 0, "TIME");
    label(&b, 16, IT + rows * CH / 2.0, 1, "DV, IPRED, PRED");
    if (np == 0)
        note(&b, w / 2.0, IT + CH / 2.0, "middle", "no subjects");
    for (int s = 0; s < np; s++)
        indiv_panel(&b, s, IL + (s % cols) * CW, IT + (s / cols) * CH,
                    id && count[s] > 0 ? id[first[s]] : s + 1, time, dv, ipred, pred, isobs, first[s],
                    first[s] + count[s]);
    if (nsubj > np) {
        char s[96];
        snprintf(s, sizeof s, "%d more subject%s not drawn: %d panels a page", nsubj - np,
                 nsubj - np == 1 ? "" : "s", PLOT_PER_PAGE);
        note(&b, 8, h - 4, "start", s);
    }
    sb_printf(&b, "</svg>\n");
    return sb_done(&b, len);
}

int plot_put(const char *dir, const char *name, char *svg, Diag *d, FILE *log)
{
    int rc = tab_put(dir, name, svg, svg ? strlen(svg) : 0, d, log);
    free(svg);
    return rc;
}

int plot_write(const char *path, char *svg)
{
    if (!svg) {
        errno = ENOMEM;
        return -1;
    }
    int rc = tab_write_atomic(path, svg, strlen(svg));
    int e = errno;
    free(svg);
    errno = e;
    return rc;
}
