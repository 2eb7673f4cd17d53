/* httpc_mail: mail, on a worker thread. httpc_start hands a request with opts.mail here; its
 * end still goes through httpc.c (r->owner->finish), from the loop.
 *
 * SMTP: MAIL FROM, RCPT TO, AUTH, TLS, and the message. libcurl sends QUIT and waits for its
 * answer synchronously when it closes an SMTP connection (smtp_disconnect), wherever that
 * happens: in multi_done with CURLOPT_FORBID_REUSE, or later when a pooled connection is
 * pruned, to a server that may be gone by then. On the loop that is one blocking round trip
 * per mail (up to the response timeout against a slow or hostile relay). So a mail runs as an
 * offload job (core/offload.h: its own thread, at most MAIL_THREADS) with its own easy handle
 * (curl_easy_perform, nothing shared with the loop's multi handle), and the loop finishes the
 * request when the job is done, so done still fires exactly once, from the loop. A cancel
 * answers at once and sets the job's abort flag: the progress callback ends the transfer (an
 * aborted SMTP connection is closed without QUIT) and the job is freed when it returns. The
 * loop's pool owns the offload, so destroying the loop waits for mail still being sent
 * (after httpc_cancel_all, only for the abort) before curl is cleaned up. No proxy: curl
 * would tunnel mail through an HTTP proxy only when asked to. Credentials are copied by curl
 * and never written to the error buffer. */
#include "net/httpc_int.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/offload.h"
#include "core/util.h"

#include <curl/curl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAIL_THREADS 4

struct mail_job {
	atomic_bool abort;
	struct httpc_req *r; /* loop side only; NULL once cancelled */
	CURL *easy;
	struct curl_slist *rcpt;
	char *msg;
	size_t len, pos;
	CURLcode rc;
	long status;
	char errbuf[CURL_ERROR_SIZE];
};

static void mail_free(void *arg)
{
	struct mail_job *j = arg;

	if (j->easy)
		curl_easy_cleanup(j->easy);
	curl_slist_free_all(j->rcpt);
	free(j->msg);
	free(j);
}

static size_t mail_read(char *out, size_t size, size_t n, void *arg)
{
	struct mail_job *j = arg;
	size_t cap = size * n, left = j->len - j->pos, take = left < cap ? left : cap;

	if (atomic_load(&j->abort))
		return CURL_READFUNC_ABORT;
	memcpy(out, j->msg + j->pos, take);
	j->pos += take;
	return take;
}

/* SMTP has no body; anything curl hands here is dropped (the default would print it). */
static size_t mail_discard(char *p, size_t size, size_t n, void *arg)
{
	return size * n;
}

static int mail_progress(void *arg, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
	struct mail_job *j = arg;

	return atomic_load(&j->abort) ? 1 : 0;
}

/* On the job's thread. The easy handle goes here, so the QUIT of its connection does too. */
static void mail_work(void *arg)
{
	struct mail_job *j = arg;

	j->rc = curl_easy_perform(j->easy);
	curl_easy_getinfo(j->easy, CURLINFO_RESPONSE_CODE, &j->status);
	curl_easy_cleanup(j->easy);
	j->easy = NULL;
}

/* On the loop, once the transfer has ended: the request ends, unless it was cancelled. */
static void mail_done(void *arg)
{
	struct mail_job *j = arg;
	struct httpc_req *r = j->r;

	if (r) {
		r->mail = NULL;
		r->end_us = now_mono_us();
		r->status = j->status;
		r->result = httpc_map_code(j->rc);
		if (r->result != HTTPC_OK) {
			memcpy(r->errbuf, j->errbuf, sizeof(r->errbuf));
			r->errbuf[sizeof(r->errbuf) - 1] = '\0';
			r->scrubbed =
				log_redact(r->errbuf[0] ? r->errbuf : curl_easy_strerror(j->rc));
			r->error = r->scrubbed;
		}
		r->owner->finish(r);
	}
	mail_free(j);
}

/* From httpc.c's abort_now (the loop): the request ends now; the job ends its transfer on
 * its own. */
void httpc_mail_abandon(struct httpc_req *r)
{
	struct mail_job *j = r->mail;

	atomic_store(&j->abort, true);
	j->r = NULL;
	r->mail = NULL;
}

static int mail_setup(struct mail_job *j, const struct httpc_opts *o)
{
	const struct httpc_mail *m = o->mail;
	char addr[320];

	curl_easy_setopt(j->easy, CURLOPT_URL, o->url);
	curl_easy_setopt(j->easy, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
	curl_easy_setopt(j->easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(j->easy, CURLOPT_ERRORBUFFER, j->errbuf);
	curl_easy_setopt(j->easy, CURLOPT_TIMEOUT_MS, (long)o->timeout_ms);
	curl_easy_setopt(j->easy, CURLOPT_CONNECTTIMEOUT_MS,
			 o->connect_timeout_ms ? (long)o->connect_timeout_ms : 10000L);
	if (o->timeout_ms > 0)
		curl_easy_setopt(j->easy, CURLOPT_SERVER_RESPONSE_TIMEOUT,
				 (long)(o->timeout_ms + 999) / 1000);
	curl_easy_setopt(j->easy, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(j->easy, CURLOPT_FORBID_REUSE, 1L);
	curl_easy_setopt(j->easy, CURLOPT_PROXY, "");
	httpc_set_trust(j->easy);
	snprintf(addr, sizeof(addr), "<%s>", m->from);
	curl_easy_setopt(j->easy, CURLOPT_MAIL_FROM, addr);
	for (size_t i = 0; m->rcpt && m->rcpt[i]; i++) {
		struct curl_slist *n;

		snprintf(addr, sizeof(addr), "<%s>", m->rcpt[i]);
		n = curl_slist_append(j->rcpt, addr);
		if (!n)
			return -1;
		j->rcpt = n;
	}
	if (!j->rcpt)
		return -1;
	curl_easy_setopt(j->easy, CURLOPT_MAIL_RCPT, j->rcpt);
	if (m->username) {
		curl_easy_setopt(j->easy, CURLOPT_USERNAME, m->username);
		curl_easy_setopt(j->easy, CURLOPT_PASSWORD, m->password ? m->password : "");
	}
	curl_easy_setopt(j->easy, CURLOPT_USE_SSL, m->plain ? CURLUSESSL_NONE : CURLUSESSL_ALL);
	curl_easy_setopt(j->easy, CURLOPT_UPLOAD, 1L);
	curl_easy_setopt(j->easy, CURLOPT_READFUNCTION, mail_read);
	curl_easy_setopt(j->easy, CURLOPT_READDATA, j);
	curl_easy_setopt(j->easy, CURLOPT_INFILESIZE_LARGE, (curl_off_t)j->len);
	curl_easy_setopt(j->easy, CURLOPT_WRITEFUNCTION, mail_discard);
	curl_easy_setopt(j->easy, CURLOPT_HEADERFUNCTION, mail_discard);
	curl_easy_setopt(j->easy, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(j->easy, CURLOPT_XFERINFOFUNCTION, mail_progress);
	curl_easy_setopt(j->easy, CURLOPT_XFERINFODATA, j);
	return 0;
}

int httpc_mail_start(struct httpc_req *r, const struct httpc_opts *o)
{
	struct pool *pl = httpc_pool_of(r->loop);
	struct mail_job *j = xcalloc(1, sizeof(*j));

	atomic_init(&j->abort, false);
	j->r = r;
	j->len = o->body_len;
	j->msg = xmalloc(o->body_len + 1);
	memcpy(j->msg, o->body ? o->body : "", o->body_len);
	j->easy = curl_easy_init();
	if (!pl->mail)
		pl->mail = offload_create(loop_base(r->loop), MAIL_THREADS);
	if (!j->easy || mail_setup(j, o) < 0 ||
	    offload_run(pl->mail, mail_work, mail_done, mail_free, j) < 0) {
		mail_free(j);
		return -1;
	}
	r->mail = j;
	return 0;
}
