/* httpc_req: what every path of a request notes on it, in one place the others call down to:
 * its failure (the pending result and the error text, secrets cut), its first answer byte,
 * its timings, and the result a curl code maps to. It calls no other httpc file, so the
 * plain path's parser and sender, the mail worker's end and httpc.c all write a request the
 * same way without calling each other (httpc_int.h, "Calls go one way"). */
#include "net/httpc_int.h"
#include "core/log.h"
#include "core/util.h"

#include <curl/curl.h>
#include <event2/event.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

void httpc_fail(struct httpc_req *r, enum httpc_result res, const char *fmt, ...)
{
	va_list ap;

	if (r->pending == HTTPC_OK) {
		va_start(ap, fmt);
		vsnprintf(r->errbuf, sizeof(r->errbuf), fmt, ap);
		va_end(ap);
		free(r->scrubbed);
		r->scrubbed = log_redact(r->errbuf);
		r->error = r->scrubbed;
		r->pending = res;
	}
}

void httpc_mark_first_byte(struct httpc_req *r)
{
	if (r->first_byte_us)
		return;
	r->first_byte_us = now_mono_us();
	if (r->fb_timer)
		evtimer_del(r->fb_timer);
}

enum httpc_result httpc_map_code(CURLcode rc)
{
	switch (rc) {
	case CURLE_OK:
		return HTTPC_OK;
	case CURLE_OPERATION_TIMEDOUT:
		return HTTPC_TIMEOUT;
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
	case CURLE_COULDNT_CONNECT:
		return HTTPC_CONNECT;
	default:
		return HTTPC_TRANSPORT;
	}
}

long httpc_first_byte_ms(const struct httpc_req *r)
{
	return r->first_byte_us ? (long)((r->first_byte_us - r->start_us) / 1000) : -1;
}

long httpc_total_ms(const struct httpc_req *r)
{
	int64_t end = r->end_us ? r->end_us : now_mono_us();

	return (long)((end - r->start_us) / 1000);
}
