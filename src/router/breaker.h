/* breaker: the bleed detector (guardrails.bleed), spend layer 4.
 *
 * Every model call the process is about to send upstream asks breaker_admit() first. The
 * breaker keeps the times of the last max_calls admitted calls in a fixed ring and the cost of
 * finished calls in time buckets over the window, so memory is bounded by the config. When one
 * more call would make more than max_calls within window_s, or the cost within window_s goes
 * over max_cost_usd (when > 0), the breaker opens: that call and every later one is refused
 * until cooldown_s has passed (0: until breaker_resume) or breaker_resume() is called. It
 * costs no tokens: it only counts. Opening logs one warning and calls the trip callback once.
 *
 * Time is passed in so tests drive it: CLOCK_MONOTONIC milliseconds (now_mono_ms()), never the
 * wall clock, so a wall-clock step (NTP, a VM resumed after days) neither opens the breaker
 * (the calls of the last hour would look like future calls inside the window) nor keeps it
 * open for as long as the clock went back. Only breaker_format_time shows a time as a date.
 * Nothing here blocks.
 */
#ifndef HERMETIC_BREAKER_H
#define HERMETIC_BREAKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct breaker;
struct config_bleed;
struct metrics;

/* Called once per trip, from inside breaker_admit() or breaker_add_cost(). why is borrowed
 * for the call ("more than 60 model calls within 900 s"); until_ms is when it closes by
 * itself, 0 = only by breaker_resume. */
typedef void (*breaker_trip_cb)(const char *why, int64_t until_ms, void *arg);

struct breaker_state {
	bool enabled;	  /* some limit is set (max_calls or max_cost_usd > 0) */
	bool open;	  /* calls are refused */
	int64_t until_ms; /* open: when it closes by itself (monotonic); 0 = only on resume */
	uint64_t trips;	  /* times it opened since start */
	uint64_t refused; /* calls refused since start */
	int64_t calls_in_window;
	double cost_in_window_usd;
	char why[160]; /* open: the reason of the trip; else "" */
};

/* Copies what it needs from cfg. Limits of 0 switch that check off; with both off the
 * breaker admits everything and counts nothing. */
struct breaker *breaker_create(const struct config_bleed *cfg);
/* Accepts NULL. */
void breaker_destroy(struct breaker *b);
/* Exports hermetic_breaker_open (gauge), hermetic_breaker_trips_total and
 * hermetic_breaker_refused_total with name="bleed", read at each scrape. */
void breaker_register_metrics(struct breaker *b, struct metrics *m);
/* Sets the trip callback (may be NULL). The callback must not call back into the breaker. */
void breaker_on_trip(struct breaker *b, breaker_trip_cb cb, void *arg);

/* Asks to send one model call at now_ms. Returns 0 when allowed (the call is counted), or
 * -EBUSY when refused: the breaker is open, or this call would be one too many and opened it.
 * On -EBUSY msg (if len > 0) says why, until when, and how to close it. */
int breaker_admit(struct breaker *b, int64_t now_ms, char *msg, size_t len);
/* Adds the cost of a finished call at now_ms; opens the breaker when the window's cost goes
 * over max_cost_usd. */
void breaker_add_cost(struct breaker *b, int64_t now_ms, double cost_usd);
/* Closes the breaker now and forgets the window (/resume; the caller logs who did it).
 * Returns true if it was open. */
bool breaker_resume(struct breaker *b, int64_t now_ms);
/* The state at now_ms (closes it first when the cooldown has passed). */
void breaker_state(struct breaker *b, int64_t now_ms, struct breaker_state *out);
/* A time on the breaker's (monotonic) clock, such as until_ms, as the wall-clock date it falls
 * on ("2026-11-21 14:05:00 CET" in the process time zone), into out. */
void breaker_format_time(int64_t mono_ms, char *out, size_t len);

#endif
