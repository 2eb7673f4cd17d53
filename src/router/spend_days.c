/* spend_days: see spend_days.h. */
#include "router/spend_days.h"

#include <stdio.h>
#include <string.h>

int64_t spend_floor_div(int64_t a, int64_t b)
{
	return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

/* Days since 1970-01-01 of a proleptic Gregorian date (month 1..12). */
int64_t spend_days_from_civil(int64_t y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = spend_floor_div(y, 400);
	yoe = y - era * 400;
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

void spend_civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
	int64_t era, doe, yoe, doy, mp;

	z += 719468;
	era = spend_floor_div(z, 146097);
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y = yoe + era * 400 + (*m <= 2);
}

void spend_local_tm(int64_t ms, struct tm *tm)
{
	time_t t = (time_t)spend_floor_div(ms, 1000);

	if (!localtime_r(&t, tm))
		memset(tm, 0, sizeof(*tm));
}

/* The local day number (days since 1970-01-01) holding ms. */
int64_t spend_local_day(int64_t ms)
{
	struct tm tm;

	spend_local_tm(ms, &tm);
	return spend_days_from_civil(tm.tm_year + 1900LL, tm.tm_mon + 1, tm.tm_mday);
}

/* The first local instant of a local day number, in ms. */
int64_t spend_local_midnight_ms(int64_t day)
{
	struct tm tm = {0};
	int64_t y;
	int m, d;

	spend_civil_from_days(day, &y, &m, &d);
	tm.tm_year = (int)(y - 1900);
	tm.tm_mon = m - 1;
	tm.tm_mday = d;
	tm.tm_isdst = -1;
	return (int64_t)mktime(&tm) * 1000;
}

void spend_day_string(int64_t day, char out[16])
{
	int64_t y;
	int m, d;

	spend_civil_from_days(day, &y, &m, &d);
	snprintf(out, 16, "%04d-%02d-%02d", (int)y, m, d);
}

/* The period of span_s (SPAN_MONTH, 0 = lifetime, or seconds) holding now_ms. */
void spend_period(int64_t span_s, int64_t now_ms, int64_t *start, int64_t *end)
{
	int64_t day, first, y;
	int m, d;

	if (span_s == 0) {
		*start = INT64_MIN;
		*end = INT64_MAX;
		return;
	}
	if (span_s == SPAN_MONTH) {
		day = spend_local_day(now_ms);
		spend_civil_from_days(day, &y, &m, &d);
		first = day - (d - 1);
		*start = spend_local_midnight_ms(first);
		*end = spend_local_midnight_ms(m == 12 ? spend_days_from_civil(y + 1, 1, 1)
						       : spend_days_from_civil(y, m + 1, 1));
	} else if (span_s % DAY_S == 0) {
		first = spend_floor_div(spend_local_day(now_ms), span_s / DAY_S) * (span_s / DAY_S);
		*start = spend_local_midnight_ms(first);
		*end = spend_local_midnight_ms(first + span_s / DAY_S);
	} else {
		*start = spend_floor_div(now_ms, span_s * 1000) * span_s * 1000;
		*end = *start + span_s * 1000;
	}
	/* Zones whose midnight falls in a DST gap: never leave now outside its own period. */
	if (*start > now_ms)
		*start = now_ms;
	if (*end <= now_ms)
		*end = now_ms + 1;
}
