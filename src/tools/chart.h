/* chart: a line chart of time series as a PNG image (prometheus_query's chart: "png"): time
 * on x (UTC), values on y, a legend of the series. Pure: plain arrays in, PNG bytes out.
 */
#ifndef HERMETIC_TOOLS_CHART_H
#define HERMETIC_TOOLS_CHART_H

#include <stddef.h>
#include <stdint.h>

#include "core/util.h"

#define CHART_MIN_SIDE	 200
#define CHART_MAX_WIDTH	 1600
#define CHART_MAX_HEIGHT 1200
#define CHART_MAX_SERIES 8     /* one colour each; the caller counts the rest */
#define CHART_MAX_POINTS 11000 /* per series: Prometheus' own limit for a range query */

/* One line: n points (t_s[i], v[i]); a non-finite value breaks the line. Borrowed. */
struct chart_series {
	const char *label; /* legend text, cut to the width */
	const double *t_s; /* unix seconds */
	const double *v;
	size_t n;
};

struct chart {
	int width, height; /* pixels, CHART_MIN_SIDE..CHART_MAX_* */
	const char *title; /* NULL = none; cut to the width */
	const struct chart_series *series;
	size_t n_series; /* 1..CHART_MAX_SERIES */
};

/* Where the data went: the plot box (pixels, inclusive) and the ranges it spans. */
struct chart_geom {
	int x0, y0, x1, y1;
	double t_lo, t_hi, v_lo, v_hi;
};

/* Draws c and appends it to png as an 8-bit RGB PNG (png's cap bounds it). 0 with *geom
 * filled (geom may be NULL); -EINVAL when a size, the series count or a point count is out of
 * bounds, -ENODATA when no series has a finite point, -EFBIG when the PNG is over png's cap. */
int chart_png(const struct chart *c, struct buf *png, struct chart_geom *geom);

/* The pixel of time t and value v inside g's plot box: how chart_png places a point. */
int chart_x(const struct chart_geom *g, double t);
int chart_y(const struct chart_geom *g, double v);

/* Series i's colour, 0xRRGGBB. */
uint32_t chart_color(size_t i);

#endif
