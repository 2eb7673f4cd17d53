/* spend_days: the calendar of the budget periods in the process time zone. Day numbers since
 * 1970-01-01 are converted with Howard Hinnant's civil-date algorithms, local midnights with
 * mktime(), so DST days of 23 or 25 hours are still one day. The ledger (spend.c) and its
 * reports (spend_report.c) use it. */
#ifndef HERMETIC_ROUTER_SPEND_DAYS_H
#define HERMETIC_ROUTER_SPEND_DAYS_H

#include <stdint.h>
#include <time.h>

#define DAY_S	   86400
#define SPAN_MONTH (-1) /* the local calendar month; other spans are seconds, 0 = lifetime */

/* a / b rounded toward minus infinity. */
int64_t spend_floor_div(int64_t a, int64_t b);
/* Days since 1970-01-01 of a proleptic Gregorian date (month 1..12), and back. */
int64_t spend_days_from_civil(int64_t y, int m, int d);
void spend_civil_from_days(int64_t z, int64_t *y, int *m, int *d);
/* The local time of ms (zeroed when out of range). */
void spend_local_tm(int64_t ms, struct tm *tm);
/* The local day number holding ms, and the first local instant of a day number, in ms. */
int64_t spend_local_day(int64_t ms);
int64_t spend_local_midnight_ms(int64_t day);
/* YYYY-MM-DD of a day number. */
void spend_day_string(int64_t day, char out[16]);
/* The period of span_s (SPAN_MONTH, 0 = lifetime, or seconds) holding now_ms: [start, end). */
void spend_period(int64_t span_s, int64_t now_ms, int64_t *start, int64_t *end);

#endif
