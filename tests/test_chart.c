/* Tests of chart: the PNG decodes (stb_image) to the asked size, each series' points are drawn
 * in its colour where chart_x/chart_y place them, the axes carry labels and the legend a
 * swatch per series; sizes, series and points over the caps, a chart with no number and a
 * PNG over its buffer's cap are refused.
 */
#include "test.h"
#include "tools/chart.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define STB_IMAGE_IMPLEMENTATION
#define STBI_ONLY_PNG
#define STBI_NO_STDIO
#include <stb/stb_image.h>

#define INK 0x202020

struct image {
	unsigned char *px;
	int w, h;
};

static uint32_t at(const struct image *im, int x, int y)
{
	const unsigned char *p = im->px + ((size_t)y * (size_t)im->w + (size_t)x) * 3;

	return (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2];
}

static void decode(const struct buf *png, struct image *im)
{
	int comp = 0;

	assert_true(png->len > 8 && memcmp(png->data, "\x89PNG\r\n\x1a\n", 8) == 0);
	im->px = stbi_load_from_memory((const unsigned char *)png->data, (int)png->len, &im->w,
				       &im->h, &comp, 3);
	assert_non_null(im->px);
	assert_int_equal(comp, 3);
}

/* Any pixel of colour in the rectangle [x0, x1) x [y0, y1)? */
static bool has_color(const struct image *im, int x0, int y0, int x1, int y1, uint32_t color)
{
	for (int y = y0; y < y1; y++)
		for (int x = x0; x < x1; x++)
			if (at(im, x, y) == color)
				return true;
	return false;
}

static void lines_land_where_the_data_says(void **state)
{
	double t[11], ramp[11], flat[11];
	struct chart_series s[2] = {{"ramp{job=\"a\"}", t, ramp, 11}, {"flat", t, flat, 11}};
	struct chart c = {800, 450, "rate(x[5m])", s, 2};
	struct chart_geom g;
	struct image im;
	struct buf png;
	int i;

	for (i = 0; i < 11; i++) {
		t[i] = 1714564800 + 60 * i;
		ramp[i] = i;
		flat[i] = 2.5;
	}
	buf_init(&png, 4 << 20);
	assert_int_equal(chart_png(&c, &png, &g), 0);
	decode(&png, &im);
	assert_int_equal(im.w, 800);
	assert_int_equal(im.h, 450);
	assert_true(g.v_lo <= 0 && g.v_hi >= 10 && g.t_lo == t[0] && g.t_hi == t[10]);
	assert_true(g.x0 > 0 && g.x1 < 800 && g.y0 > 0 && g.y1 < 450);
	for (i = 0; i < 11; i++) {
		assert_int_equal(at(&im, chart_x(&g, t[i]), chart_y(&g, ramp[i])), chart_color(0));
		/* The ramp crosses the flat line between its 2nd and 3rd point. */
		if (i != 2 && i != 3)
			assert_int_equal(at(&im, chart_x(&g, t[i]), chart_y(&g, flat[i])),
					 chart_color(1));
	}
	/* Halfway between two points the line is there too, and away from it there is none. */
	assert_int_equal(at(&im, (chart_x(&g, t[4]) + chart_x(&g, t[5])) / 2, chart_y(&g, 4.5)),
			 chart_color(0));
	assert_false(has_color(&im, chart_x(&g, t[8]), g.y1 - 10, chart_x(&g, t[9]), g.y1 - 5,
			       chart_color(0)));
	/* Labels left of the y axis and under the x axis; the title above; a legend swatch. */
	assert_true(has_color(&im, 0, g.y0, g.x0 - 2, g.y1, INK));
	assert_true(has_color(&im, g.x0, g.y1 + 2, g.x1, g.y1 + 30, INK));
	assert_true(has_color(&im, g.x0, 0, g.x1, g.y0, INK));
	assert_true(has_color(&im, 0, g.y1 + 30, 40, 450, chart_color(0)));
	assert_true(has_color(&im, 0, g.y1 + 30, 40, 450, chart_color(1)));
	stbi_image_free(im.px);
	buf_finish(&png);
}

/* Values near 1e18 that differ by 128 (one step of doubles there): the axis step, 50, is
 * below half that spacing,
 * so a tick loop that adds the step never got past the first tick. Finishing is the test. */
static void huge_values_with_a_tiny_spread_finish(void **state)
{
	double t[4] = {1714564800, 1714564860, 1714564920, 1714564980};
	double v[4] = {1e18, 1e18 + 128, 1e18, 1e18 + 128};
	struct chart_series s[1] = {{"x", t, v, 4}};
	struct chart c = {400, 300, "vector(1e18) + (time()%2)*128", s, 1};
	struct chart_geom g;
	struct image im;
	struct buf png;

	buf_init(&png, 4 << 20);
	assert_int_equal(chart_png(&c, &png, &g), 0);
	decode(&png, &im);
	assert_int_equal(im.w, 400);
	stbi_image_free(im.px);
	buf_finish(&png);
}

static void gaps_break_the_line(void **state)
{
	double t[] = {0, 60, 120, 180}, v[] = {1, 1, NAN, 1};
	struct chart_series s = {"gappy", t, v, 4};
	struct chart c = {400, 300, NULL, &s, 1};
	struct chart_geom g;
	struct image im;
	struct buf png;
	int y;

	buf_init(&png, 4 << 20);
	assert_int_equal(chart_png(&c, &png, &g), 0);
	decode(&png, &im);
	y = chart_y(&g, 1);
	assert_int_equal(at(&im, (chart_x(&g, 0) + chart_x(&g, 60)) / 2, y), chart_color(0));
	assert_true(at(&im, (chart_x(&g, 60) + chart_x(&g, 180)) / 2, y) != chart_color(0));
	stbi_image_free(im.px);
	buf_finish(&png);
}

static void caps_are_refused(void **state)
{
	double t[2] = {0, 60}, v[2] = {1, 2}, nan2[2] = {NAN, NAN};
	struct chart_series s[CHART_MAX_SERIES + 1];
	struct chart c = {800, 450, "x", s, 1};
	struct buf png;
	size_t i;

	for (i = 0; i < ARRAY_LEN(s); i++)
		s[i] = (struct chart_series){"s", t, v, 2};
	buf_init(&png, 4 << 20);
	c.width = CHART_MAX_WIDTH + 1;
	assert_int_equal(chart_png(&c, &png, NULL), -EINVAL);
	c.width = CHART_MIN_SIDE - 1;
	assert_int_equal(chart_png(&c, &png, NULL), -EINVAL);
	c.width = 800;
	c.height = CHART_MAX_HEIGHT + 1;
	assert_int_equal(chart_png(&c, &png, NULL), -EINVAL);
	c.height = 450;
	c.n_series = CHART_MAX_SERIES + 1;
	assert_int_equal(chart_png(&c, &png, NULL), -EINVAL);
	c.n_series = 0;
	assert_int_equal(chart_png(&c, &png, NULL), -EINVAL);
	c.n_series = 1;
	s[0].n = CHART_MAX_POINTS + 1;
	assert_int_equal(chart_png(&c, &png, NULL), -EINVAL);
	s[0] = (struct chart_series){"nan", t, nan2, 2};
	assert_int_equal(chart_png(&c, &png, NULL), -ENODATA);
	assert_int_equal(png.len, 0);
	buf_finish(&png);
	/* A PNG over the buffer's cap leaves the buffer as it was. */
	s[0] = (struct chart_series){"s", t, v, 2};
	buf_init(&png, 1000);
	buf_puts(&png, "keep");
	assert_int_equal(chart_png(&c, &png, NULL), -EFBIG);
	assert_string_equal(buf_str(&png), "keep");
	buf_finish(&png);
}

static void eight_series_fit_with_their_legend(void **state)
{
	double t[2] = {0, 3600}, v[CHART_MAX_SERIES][2];
	struct chart_series s[CHART_MAX_SERIES];
	struct chart c = {CHART_MIN_SIDE * 2, CHART_MIN_SIDE * 2, "many", s, CHART_MAX_SERIES};
	struct chart_geom g;
	struct image im;
	struct buf png;
	size_t i;

	for (i = 0; i < CHART_MAX_SERIES; i++) {
		v[i][0] = (double)i;
		v[i][1] = (double)i + 1;
		s[i] = (struct chart_series){"a very long legend label that will not fit at all in "
					     "a small chart and is cut",
					     t, v[i], 2};
	}
	buf_init(&png, 4 << 20);
	assert_int_equal(chart_png(&c, &png, &g), 0);
	decode(&png, &im);
	for (i = 0; i < CHART_MAX_SERIES; i++)
		assert_true(has_color(&im, 0, g.y1 + 1, 40, im.h, chart_color(i)));
	stbi_image_free(im.px);
	buf_finish(&png);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(lines_land_where_the_data_says),
		cmocka_unit_test(gaps_break_the_line),
		cmocka_unit_test(huge_values_with_a_tiny_spread_finish),
		cmocka_unit_test(caps_are_refused),
		cmocka_unit_test(eight_series_fit_with_their_legend),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
