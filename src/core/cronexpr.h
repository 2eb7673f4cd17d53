/* cronexpr: 5-field cron expressions (minute hour day-of-month month day-of-week) and the
 * @hourly/@daily/... macros, stored as bitsets, with a pure "next match" on broken-down
 * local time. Converting to and from UTC (and DST gaps) is the scheduler's job.
 */
#ifndef HERMETIC_CRONEXPR_H
#define HERMETIC_CRONEXPR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* A parsed expression. A plain value type: copy it freely. Bit n set = value n matches. */
struct cronexpr {
	uint64_t minutes; /* bits 0-59 */
	uint32_t hours;	  /* bits 0-23 */
	uint32_t days;	  /* bits 1-31 */
	uint16_t months;  /* bits 1-12 */
	uint8_t weekdays; /* bits 0-6, Sunday = 0 (7 in the text is folded into 0) */
	bool dom_star;	  /* day-of-month field began with '*' */
	bool dow_star;	  /* day-of-week field began with '*' */
};

/* Parses expr ("*\/15 9-17 * * mon-fri", "@daily", ...). Fields: `*`, numbers, names
 * (jan-dec, sun-sat, any case), ranges `a-b`, steps `*\/n`, `a-b/n`, `a/n` (= a-max/n), and
 * comma lists. Returns 0, or -EINVAL with a one-line reason in err (always NUL-terminated
 * when err_len > 0). Rejects schedules whose day-of-month and month can never coincide
 * (e.g. "0 0 31 4 *") when the day-of-week field is `*`. */
int cronexpr_parse(const char *expr, struct cronexpr *out, char *err, size_t err_len);

/* Whether the minute described by tm (tm_min, tm_hour, tm_mday, tm_mon, tm_year) matches.
 * Day matching follows Vixie cron: when both day fields are restricted (neither begins
 * with '*'), a day matches if either field matches; otherwise both must. */
bool cronexpr_match(const struct cronexpr *c, const struct tm *tm);

/* Computes the first matching minute strictly after *after_local (seconds are ignored, so
 * 07:00:30 is after 07:00). after_local must be a normalised broken-down time. Fills
 * next_local with tm_sec = 0, tm_wday and tm_yday computed and tm_isdst = -1. Pure calendar
 * arithmetic: no time zone is consulted. Returns 0, or -ENOENT when nothing matches within
 * 28 years. */
int cronexpr_next(const struct cronexpr *c, const struct tm *after_local, struct tm *next_local);

#endif
