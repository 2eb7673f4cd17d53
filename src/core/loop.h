/* loop: the one event loop (libevent) with libcurl's multi interface driven from it.
 *
 * curl tells the loop which sockets to watch and when to fire its timer (the socket and timer
 * callbacks of curl's docs/examples/hiperfifo.c); the loop calls curl_multi_socket_action and
 * reports finished transfers. Nothing here blocks.
 */
#ifndef HERMETIC_LOOP_H
#define HERMETIC_LOOP_H

#include <curl/curl.h>
#include <stddef.h>

struct loop;
struct event_base;
struct offload;

typedef void (*loop_signal_cb)(int signo, void *arg);
/* Called once when a transfer added with loop_curl_add ends (success or error). The easy
 * handle has already been removed from the multi handle; the callback owns it again. */
typedef void (*loop_curl_done_cb)(CURL *easy, CURLcode result, void *arg);

struct loop *loop_create(void);
/* Frees the loop. Transfers still running are removed without their callbacks: callers
 * cancel their own work (httpc_cancel_all) before destroying. Accepts NULL. */
void loop_destroy(struct loop *l);
struct event_base *loop_base(struct loop *l);

/* Runs until loop_stop() or until nothing is left to wait for. Returns 0 or -1. */
int loop_run(struct loop *l);
/* Makes loop_run return after the current callback. Safe inside any callback. */
void loop_stop(struct loop *l);

/* Calls cb on the loop (not in signal context) when signo arrives. Returns 0 or -1. */
int loop_on_signal(struct loop *l, int signo, loop_signal_cb cb, void *arg);

/* Starts a configured easy handle. On error (negative) the callback never fires; otherwise it
 * fires exactly once, unless loop_curl_remove() is called first. The loop uses CURLOPT_PRIVATE
 * of the handle; callers must not set it. */
int loop_curl_add(struct loop *l, CURL *easy, loop_curl_done_cb cb, void *arg);
/* Stops a transfer; its callback will not fire. Must not be called from inside a curl
 * callback (write/header/progress) of that handle. */
void loop_curl_remove(struct loop *l, CURL *easy);
size_t loop_curl_running(const struct loop *l);
/* An easy handle for a new transfer: a reset one from the loop's pool of finished handles,
 * else a new one (curl_easy_init). NULL when curl cannot allocate one. The caller owns it. */
CURL *loop_curl_easy(struct loop *l);
/* Gives back an easy handle that is not in a transfer (never added, or its done callback
 * ran, or removed): it is reset (every option back to its default, so no header list or
 * buffer of the caller stays referenced) and kept for the next loop_curl_easy, or cleaned up
 * when the pool is full. Accepts NULL. */
void loop_curl_release(struct loop *l, CURL *easy);
/* How many idle connections curl keeps for reuse (default 8). A proxy that has many calls in
 * flight needs about as many, or it reconnects for nearly every request. */
void loop_set_max_connections(struct loop *l, long n);
/* That number (8 unless set): httpc's own connection pool for http:// keeps as many. */
long loop_max_connections(const struct loop *l);
/* One slot for a module above the loop to keep state per loop (httpc's pool of idle
 * connections). free_cb(p) runs in loop_destroy before the event base is freed, so it may
 * still free its events. Setting it again replaces the pointer, not calling free_cb. */
void loop_set_user(struct loop *l, void *p, void (*free_cb)(void *p));
void *loop_user(const struct loop *l);

/* The loop's worker threads (core/offload.h) for blocking work of modules without an offload
 * of their own: a chart drawn and saved, a state file replaced, a runbook scan. Created at
 * first use, LOOP_OFFLOAD_JOBS jobs at most (offload_run says -EBUSY past that). loop_destroy
 * waits for the jobs still running and calls their abandon callbacks, first of all, so an
 * abandon callback may still use the loop's event base. */
#define LOOP_OFFLOAD_JOBS 16
struct offload *loop_offload(struct loop *l);

/* Gives this CPU to another ready task (sched_yield) when no event of the loop is ready: for
 * after a reply, so the client it woke reads it before the caller's bookkeeping. */
void loop_yield_if_idle(struct loop *l);
/* How many times loop_yield_if_idle yielded. */
unsigned long loop_yields(const struct loop *l);

#endif
