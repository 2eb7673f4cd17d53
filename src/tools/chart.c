/* chart: time series drawn into an RGB buffer and encoded as PNG by Debian's stb image
 * writer (stb_image_write.h, header-only: its PNG and deflate code is compiled here and the
 * linker keeps nothing else of it).
 *
 * The drawing is deliberately plain: white background, grey grid at "nice" ticks (1-2-5 for
 * values, whole minutes / hours / days for UTC time), 2-pixel lines joining consecutive
 * finite points, a legend under the x axis. Text is a built-in 3x5 bitmap font drawn at
 * twice its size (letters as capitals): axis labels and legends need digits and a few
 * letters, not typography.
 *
 * Rejected: a hand-written PNG/deflate encoder (the issue asks for a library), libpng + zlib
 * (two more static dependencies for the same bytes), SVG (Telegram shows no SVG photos),
 * and anti-aliasing (twice the code for a chart read on a phone).
 */
#include "tools/chart.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define STB_IMAGE_WRITE_IMPLEMENTATION
#define STBI_WRITE_NO_STDIO
#define STBIW_MALLOC(sz)	xmalloc(sz)
#define STBIW_REALLOC(p, newsz) xrealloc(p, newsz)
#define STBIW_FREE(p)		free(p)
#include <stb/stb_image_write.h> /* its other writers (BMP, JPEG...): --gc-sections drops them */

#define SCALE	  2 /* font pixels per glyph dot */
#define GLYPH_W	  (3 * SCALE)
#define GLYPH_H	  (5 * SCALE)
#define ADVANCE	  (GLYPH_W + SCALE) /* glyph plus spacing */
#define LINE_H	  (GLYPH_H + 6)
#define PAD	  10
#define Y_LABEL_W (10 * ADVANCE) /* "-1.25e+06" and room */
#define MAX_TICKS 8

#define WHITE 0xffffff
#define GRID  0xe4e4e4
#define AXIS  0x404040
#define INK   0x202020

/* ' ' to '~': five rows of three dots each, one octal digit per row (4 = left dot). */
static const char font[95][6] = {
	"00000", "22202", "55000", "57575", "36736", "51245", "25356", "22000", /*  !"#$%&' */
	"12221", "42224", "52725", "02720", "00024", "00700", "00002", "11244", /* ()*+,-./ */
	"75557", "26227", "71747", "71717", "55711", "74717", "74757", "71111", /* 01234567 */
	"75757", "75717", "02020", "02024", "12421", "07070", "42124", "71202", /* 89:;<=>? */
	"75547", "25755", "65656", "34443", "65556", "74647", "74644", "34553", /* @ABCDEFG */
	"55755", "72227", "11153", "55655", "44447", "57755", "65555", "25552", /* HIJKLMNO */
	"65644", "25563", "65655", "34716", "72222", "55557", "55552", "55775", /* PQRSTUVW */
	"55255", "55222", "71247", "64446", "44211", "31113", "25000", "00007", /* XYZ[\]^_ */
	"42000", "25755", "65656", "34443", "65556", "74647", "74644", "34553", /* `abcdefg */
	"55755", "72227", "11153", "55655", "44447", "57755", "65555", "25552", /* hijklmno */
	"65644", "25563", "65655", "34716", "72222", "55557", "55552", "55775", /* pqrstuvw */
	"55255", "55222", "71247", "32623", "22222", "62326", "03600",		/* xyz{|}~ */
};

static const uint32_t palette[CHART_MAX_SERIES] = {
	0x1f77b4, 0xd62728, 0x2ca02c, 0xff7f0e, 0x9467bd, 0x8c564b, 0xe377c2, 0x17becf,
};

struct canvas {
	unsigned char *rgb;
	int w, h;
};

uint32_t chart_color(size_t i)
{
	return palette[i % CHART_MAX_SERIES];
}

static void dot(struct canvas *c, int x, int y, uint32_t color)
{
	unsigned char *p;

	if (x < 0 || y < 0 || x >= c->w || y >= c->h)
		return;
	p = c->rgb + ((size_t)y * (size_t)c->w + (size_t)x) * 3;
	p[0] = (unsigned char)(color >> 16);
	p[1] = (unsigned char)(color >> 8);
	p[2] = (unsigned char)color;
}

static void rect(struct canvas *c, int x, int y, int w, int h, uint32_t color)
{
	int i, j;

	for (j = 0; j < h; j++)
		for (i = 0; i < w; i++)
			dot(c, x + i, y + j, color);
}

static void glyph(struct canvas *c, int x, int y, char ch, uint32_t color)
{
	const char *rows;
	int r, col, bits;

	if (ch < ' ' || ch > '~')
		ch = '?';
	rows = font[ch - ' '];
	for (r = 0; r < 5; r++) {
		bits = rows[r] - '0';
		for (col = 0; col < 3; col++)
			if (bits & (4 >> col))
				rect(c, x + col * SCALE, y + r * SCALE, SCALE, SCALE, color);
	}
}

/* Draws s from (x, y), at most max_px wide ("..." when cut); returns the width used. */
static int text(struct canvas *c, int x, int y, const char *s, int max_px, uint32_t color)
{
	size_t n = strlen(s), fit = max_px > 0 ? (size_t)(max_px / ADVANCE) : 0, i;
	bool cut = n > fit;

	if (cut)
		n = fit > 3 ? fit - 3 : 0;
	for (i = 0; i < n; i++)
		glyph(c, x + (int)i * ADVANCE, y, s[i], color);
	for (i = 0; cut && fit >= 3 && i < 3; i++)
		glyph(c, x + (int)(n + i) * ADVANCE, y, '.', color);
	return (int)(cut ? fit : n) * ADVANCE;
}

static int text_width(const char *s)
{
	return (int)strlen(s) * ADVANCE;
}

/* A 2-pixel line inside the plot box (Bresenham). */
static void line(struct canvas *c, const struct chart_geom *g, int xa, int ya, int xb, int yb,
		 uint32_t color)
{
	int dx = abs(xb - xa), dy = -abs(yb - ya), sx = xa < xb ? 1 : -1, sy = ya < yb ? 1 : -1;
	int err = dx + dy, e2;

	for (;;) {
		if (xa >= g->x0 && xa <= g->x1 && ya >= g->y0 && ya <= g->y1) {
			dot(c, xa, ya, color);
			dot(c, xa + (xa < g->x1), ya, color);
			dot(c, xa, ya + (ya < g->y1), color);
		}
		if (xa == xb && ya == yb)
			break;
		e2 = 2 * err;
		if (e2 >= dy) {
			err += dy;
			xa += sx;
		}
		if (e2 <= dx) {
			err += dx;
			ya += sy;
		}
	}
}

int chart_x(const struct chart_geom *g, double t)
{
	return g->x0 + (int)lround((t - g->t_lo) / (g->t_hi - g->t_lo) * (g->x1 - g->x0));
}

int chart_y(const struct chart_geom *g, double v)
{
	return g->y1 - (int)lround((v - g->v_lo) / (g->v_hi - g->v_lo) * (g->y1 - g->y0));
}

/* 1, 2 or 5 times a power of ten, at least raw. */
static double nice_step(double raw)
{
	double p = pow(10, floor(log10(raw))), f = raw / p;

	return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * p;
}

static void value_range(const struct chart *c, struct chart_geom *g, double *step)
{
	double lo = INFINITY, hi = -INFINITY, pad;
	size_t i, k;

	for (i = 0; i < c->n_series; i++)
		for (k = 0; k < c->series[i].n; k++) {
			double v = c->series[i].v[k];

			if (!isfinite(v))
				continue;
			lo = v < lo ? v : lo;
			hi = v > hi ? v : hi;
		}
	if (hi <= lo) {
		pad = fabs(lo) > 0 ? fabs(lo) * 0.1 : 1;
		lo -= pad;
		hi += pad;
	}
	*step = nice_step((hi - lo) / 5);
	g->v_lo = floor(lo / *step) * *step;
	g->v_hi = ceil(hi / *step) * *step;
}

static void time_range(const struct chart *c, struct chart_geom *g)
{
	size_t i, k;

	g->t_lo = INFINITY;
	g->t_hi = -INFINITY;
	for (i = 0; i < c->n_series; i++)
		for (k = 0; k < c->series[i].n; k++) {
			double t = c->series[i].t_s[k];

			if (!isfinite(t) || !isfinite(c->series[i].v[k]))
				continue;
			g->t_lo = t < g->t_lo ? t : g->t_lo;
			g->t_hi = t > g->t_hi ? t : g->t_hi;
		}
	if (g->t_hi <= g->t_lo) {
		g->t_lo -= 30;
		g->t_hi += 30;
	}
}

/* A whole number of seconds, minutes, hours or days giving at most MAX_TICKS - 1 ticks. */
static double time_step(double span_s)
{
	static const double steps[] = {1,     2,     5,	     10,     15,      30,      60,    120,
				       300,   600,   900,    1800,   3600,    7200,    10800, 21600,
				       43200, 86400, 172800, 604800, 2592000, 31536000};
	size_t i;

	for (i = 0; i < ARRAY_LEN(steps); i++)
		if (span_s / steps[i] <= MAX_TICKS - 1)
			return steps[i];
	return span_s / (MAX_TICKS - 1);
}

static void value_label(char *s, size_t len, double v, double step)
{
	/* Enough decimals to tell ticks apart, none for whole steps. */
	int decimals = step >= 1 ? 0 : (int)ceil(-log10(step));

	if (fabs(v) < step / 2)
		v = 0;
	if (fabs(v) >= 1e6 || (v != 0 && fabs(v) < 1e-3))
		snprintf(s, len, "%.3g", v);
	else
		snprintf(s, len, "%.*f", decimals > 6 ? 6 : decimals, v);
}

static void y_axis(struct canvas *c, const struct chart_geom *g, double step)
{
	char s[32];
	double v;
	int i, y;

	/* Counted, not `v += step`: where step is below the spacing of doubles at v (1e18 with
	 * a step of 100), adding it changes nothing and the loop would never end. */
	for (i = 0; i <= MAX_TICKS; i++) {
		v = g->v_lo + i * step;
		if (v > g->v_hi + step / 2)
			break;
		y = chart_y(g, v);
		rect(c, g->x0, y, g->x1 - g->x0 + 1, 1, GRID);
		value_label(s, sizeof(s), v, step);
		text(c, g->x0 - PAD - text_width(s), y - GLYPH_H / 2, s, Y_LABEL_W, INK);
	}
}

static void x_axis(struct canvas *c, const struct chart_geom *g)
{
	double span = g->t_hi - g->t_lo, step = time_step(span), t;
	const char *fmt = span > 2 * 86400 ? "%m-%d" : step < 60 ? "%H:%M:%S" : "%H:%M";
	char s[32];
	struct tm tm;
	time_t whole;
	int i, x, last_end = -1000;

	for (i = 0; i <= MAX_TICKS; i++) { /* counted, as in y_axis */
		t = ceil(g->t_lo / step) * step + i * step;
		if (t > g->t_hi)
			break;
		x = chart_x(g, t);
		rect(c, x, g->y0, 1, g->y1 - g->y0 + 1, GRID);
		whole = (time_t)t;
		if (!gmtime_r(&whole, &tm) || strftime(s, sizeof(s), fmt, &tm) == 0)
			continue;
		if (x - text_width(s) / 2 <= last_end + ADVANCE)
			continue;
		text(c, x - text_width(s) / 2, g->y1 + PAD, s, c->w, INK);
		last_end = x + text_width(s) / 2;
	}
	text(c, g->x1 - text_width("UTC") + 1, g->y1 + PAD + LINE_H, "UTC", c->w, AXIS);
}

static void plot(struct canvas *c, const struct chart_geom *g, const struct chart_series *s,
		 uint32_t color)
{
	int px = 0, py = 0, x, y;
	bool have = false;
	size_t k;

	for (k = 0; k < s->n; k++) {
		if (!isfinite(s->v[k]) || !isfinite(s->t_s[k])) {
			have = false;
			continue;
		}
		x = chart_x(g, s->t_s[k]);
		y = chart_y(g, s->v[k]);
		line(c, g, have ? px : x, have ? py : y, x, y, color);
		px = x;
		py = y;
		have = true;
	}
}

static void legend(struct canvas *c, const struct chart *ch, int y)
{
	size_t i;

	for (i = 0; i < ch->n_series; i++, y += LINE_H) {
		rect(c, PAD, y, GLYPH_H, GLYPH_H, chart_color(i));
		text(c, PAD + GLYPH_H + ADVANCE, y, ch->series[i].label ? ch->series[i].label : "",
		     c->w - 2 * PAD - GLYPH_H - ADVANCE, INK);
	}
}

static int check(const struct chart *c)
{
	size_t i;
	bool any = false;

	if (c->width < CHART_MIN_SIDE || c->width > CHART_MAX_WIDTH || c->height < CHART_MIN_SIDE ||
	    c->height > CHART_MAX_HEIGHT || c->n_series == 0 || c->n_series > CHART_MAX_SERIES)
		return -EINVAL;
	for (i = 0; i < c->n_series; i++) {
		if (c->series[i].n > CHART_MAX_POINTS)
			return -EINVAL;
		for (size_t k = 0; k < c->series[i].n && !any; k++)
			any = isfinite(c->series[i].v[k]) && isfinite(c->series[i].t_s[k]);
	}
	return any ? 0 : -ENODATA;
}

/* The plot box: the title above, y labels left, x labels and the legend below. */
static int layout(const struct chart *c, struct chart_geom *g)
{
	int below = PAD + 2 * LINE_H + PAD + (int)c->n_series * LINE_H;

	g->x0 = PAD + Y_LABEL_W;
	g->x1 = c->width - 2 * PAD;
	g->y0 = (c->title ? PAD + LINE_H : 0) + PAD;
	g->y1 = c->height - 1 - below;
	/* A tall legend on a small image leaves no plot. */
	return g->y1 - g->y0 >= 40 && g->x1 - g->x0 >= 40 ? 0 : -EINVAL;
}

struct sink {
	struct buf *png;
	bool full;
};

static void collect(void *arg, void *data, int size)
{
	struct sink *s = arg;

	if (size > 0 && buf_append(s->png, data, (size_t)size) < 0)
		s->full = true;
}

int chart_png(const struct chart *c, struct buf *png, struct chart_geom *geom)
{
	struct canvas cv = {NULL, c->width, c->height};
	struct sink sink = {png, false};
	struct chart_geom g;
	double step;
	size_t i, start = png->len;
	int rc, ok;

	rc = check(c);
	if (rc == 0)
		rc = layout(c, &g);
	if (rc < 0)
		return rc;
	value_range(c, &g, &step);
	time_range(c, &g);
	cv.rgb = xmalloc((size_t)c->width * (size_t)c->height * 3);
	memset(cv.rgb, 0xff, (size_t)c->width * (size_t)c->height * 3);
	if (c->title)
		text(&cv, g.x0, PAD, c->title, c->width - g.x0 - PAD, INK);
	y_axis(&cv, &g, step);
	x_axis(&cv, &g);
	rect(&cv, g.x0, g.y0, 1, g.y1 - g.y0 + 1, AXIS);
	rect(&cv, g.x0, g.y1, g.x1 - g.x0 + 1, 1, AXIS);
	for (i = 0; i < c->n_series; i++)
		plot(&cv, &g, &c->series[i], chart_color(i));
	legend(&cv, c, g.y1 + PAD + 2 * LINE_H + PAD);
	ok = stbi_write_png_to_func(collect, &sink, c->width, c->height, 3, cv.rgb, c->width * 3);
	/* stb hands the whole file over in one call: past the cap nothing was appended. */
	rc = ok && !sink.full ? 0 : -EFBIG;
	if (rc < 0)
		png->len = start;
	else if (geom)
		*geom = g;
	free(cv.rgb);
	return rc;
}
