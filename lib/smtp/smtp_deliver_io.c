/*
 * smtp_deliver_io.c - the SMTP delivery client's I/O: connect, deadlines,
 * reading replies, the TLS filter and the peer verification hook, and
 * writing the message body.
 *
 * Private (smtp_int.h): dg_smtp_deliver_session_begin (connect),
 * dg_smtp_deliver_session_abort (drop queued body bytes),
 * dg_smtp_deliver_arm, dg_smtp_deliver_stop_io, dg_smtp_deliver_tls_start,
 * dg_smtp_deliver_body_pump, dg_smtp_deliver_waiting_for. Replies go
 * through the incremental reply parser (split anywhere; its caps make an
 * oversized reply a protocol failure) to dg_smtp_deliver_response() in
 * smtp_deliver_session.c. Every wait has a deadline: one event timer
 * re-armed per state (libevent timers use the monotonic clock).
 *
 * The body is dot-stuffed on the fly (RFC 5321 4.5.2) and queued by
 * reference (evbuffer_add_reference) in blocks, refilled from the write
 * callback, so a large body is never copied whole; each block must drain
 * within data_block_timeout_ms (RFC 5321 4.5.3.2.5). Queued references are
 * dropped before any result is delivered, because the envelope is only
 * borrowed until then.
 *
 * TLS: after "220" to STARTTLS an SSL from dg_smtp_tls_ssl_new() (SNI from
 * the options, SPEC TLS-3; no tickets and no session set, so never resumed,
 * TLS-7; context from dg_smtp_tls_ctx_new(), TLS-4/TLS-5) is stacked on the
 * socket as a libevent OpenSSL filter, which owns the SSL and the socket
 * bufferevent from then on. After the handshake the caller's verify
 * callback sees the chain before anything is sent inside TLS (SPEC OSSL-7,
 * FAIL-1); a failed handshake is a host failure, never retried in clear on
 * this connection (TLS-2).
 */
#include "smtp/smtp_int.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <sys/socket.h>

#include <stdio.h>
#include <string.h>

enum {
	DS_READ_CHUNK = 4096,  /* bytes moved from libevent to the parser at once */
	DS_BODY_CHUNK = 65536, /* body bytes scanned and queued per step */
	DS_BODY_HIGH = 262144, /* stop queueing while this much output waits */
	DS_BODY_LOW = 65536    /* refill when the output drains to this */
};

static void ds_defer_cb(evutil_socket_t fd, short what, void *arg);
static void ds_write_cb(struct bufferevent *bev, void *arg);
static void ds_tls_done(struct dg_smtp_deliver *d);
static void ds_tls_failed(struct dg_smtp_deliver *d, struct bufferevent *bev, short what);
static void ds_connected(struct dg_smtp_deliver *d);
static void ds_io_failed(struct dg_smtp_deliver *d, struct bufferevent *bev, short what);
static void ds_drain(struct dg_smtp_deliver *d, struct bufferevent *bev);
static void ds_parse(struct dg_smtp_deliver *d);
static void ds_read_cb(struct bufferevent *bev, void *arg);
static void ds_event_cb(struct bufferevent *bev, short what, void *arg);
static void ds_timeout_cb(evutil_socket_t fd, short what, void *arg);

/* What the client waits for in each state, for reasons and logs. */
const char *dg_smtp_deliver_waiting_for(enum dg_smtp_deliver_stage s)
{
	switch (s) {
	case DG_SMTP_DELIVER_STAGE_CONNECT: return "the TCP connection";
	case DG_SMTP_DELIVER_STAGE_BANNER: return "the banner";
	case DG_SMTP_DELIVER_STAGE_EHLO: return "the reply to EHLO";
	case DG_SMTP_DELIVER_STAGE_HELO: return "the reply to HELO";
	case DG_SMTP_DELIVER_STAGE_STARTTLS: return "the reply to STARTTLS";
	case DG_SMTP_DELIVER_STAGE_TLS_HANDSHAKE: return "the TLS handshake";
	case DG_SMTP_DELIVER_STAGE_EHLO_TLS: return "the reply to EHLO after STARTTLS";
	case DG_SMTP_DELIVER_STAGE_RSET: return "the reply to RSET";
	case DG_SMTP_DELIVER_STAGE_MAIL: return "the reply to MAIL";
	case DG_SMTP_DELIVER_STAGE_RCPT: return "the reply to RCPT";
	case DG_SMTP_DELIVER_STAGE_DATA: return "the reply to DATA";
	case DG_SMTP_DELIVER_STAGE_BODY: return "the message body to be sent";
	case DG_SMTP_DELIVER_STAGE_DATA_DONE: return "the reply to the end of data";
	case DG_SMTP_DELIVER_STAGE_IDLE: return "the next message";
	case DG_SMTP_DELIVER_STAGE_QUIT: return "the reply to QUIT";
	case DG_SMTP_DELIVER_STAGE_CLOSED: break;
	}
	return "nothing";
}

enum dg_status dg_smtp_deliver_session_begin(struct dg_smtp_deliver *d, struct dg_err *err)
{
	d->ev_stage = evtimer_new(d->base, ds_timeout_cb, d);
	d->ev_defer = evtimer_new(d->base, ds_defer_cb, d);
	d->bev =
	    bufferevent_socket_new(d->base, -1, BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
	if (d->ev_stage == NULL || d->ev_defer == NULL || d->bev == NULL)
		return dg_err_set(err, DG_E_INTERNAL, "smtp deliver %s: cannot create events",
		                  d->res.peer);
	bufferevent_setcb(d->bev, ds_read_cb, ds_write_cb, ds_event_cb, d);
	bufferevent_enable(d->bev, EV_READ | EV_WRITE);
	dg_smtp_deliver_arm(d, d->tmo_ms[DG_SMTP_DELIVER_STAGE_CONNECT]);
	DG_TRACE(d->log, DG_LOG_TRACE_SMTP, "%s smtp-out addr=%s state=connect tls=%s sni=%s",
	         d->id, d->res.peer,
	         d->tls == DG_SMTP_TLS_REQUIRE ? "require"
	         : d->tls == DG_SMTP_TLS_MAY   ? "may"
	                                       : "none",
	         d->sni != NULL ? d->sni : "-");
	if (bufferevent_socket_connect(d->bev, (struct sockaddr *)&d->sa, (int)d->salen) != 0) {
		/* e.g. no IPv6 route: an outcome, delivered from the loop like any other */
		snprintf(d->fail_reason, sizeof(d->fail_reason), "connect failed: %s",
		         evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
		event_active(d->ev_defer, EV_TIMEOUT, 1);
	}
	return DG_OK;
}

/* A failure found outside the loop (connect, or _next on a closed connection). */
static void ds_defer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct dg_smtp_deliver *d = arg;
	char reason[DG_ERR_MSG_MAX];

	(void)fd;
	(void)what;
	dg_smtp_deliver_enter(d);
	if (!d->closing) {
		if (d->state == DG_SMTP_DELIVER_STAGE_CONNECT) {
			snprintf(reason, sizeof(reason), "%s", d->fail_reason);
			dg_smtp_deliver_fail(d, "%s", reason);
		} else {
			dg_smtp_deliver_fail(d, "connection closed by server while idle");
		}
	}
	dg_smtp_deliver_leave(d);
}

void dg_smtp_deliver_arm(struct dg_smtp_deliver *d, unsigned ms)
{
	struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};

	if (event_add(d->ev_stage, &tv) != 0)
		DG_PANIC("smtp deliver %s: event_add failed", d->id);
}

/* Stop timers and I/O and drop queued output (it may reference a caller's body). */
void dg_smtp_deliver_stop_io(struct dg_smtp_deliver *d)
{
	event_del(d->ev_stage);
	if (d->bev != NULL) {
		struct evbuffer *out = bufferevent_get_output(d->bev);

		bufferevent_disable(d->bev, EV_READ | EV_WRITE);
		evbuffer_drain(out, evbuffer_get_length(out));
	}
}

void dg_smtp_deliver_session_abort(struct dg_smtp_deliver *d)
{
	if (d->ev_stage != NULL)
		dg_smtp_deliver_stop_io(d);
}

/*
 * Queue the next stretch of the body by reference, a '.' before each line
 * that starts with one (RFC 5321 4.5.2), until DS_BODY_HIGH bytes wait;
 * then the final CRLF (if missing) and ".". Progress re-arms the block
 * deadline (RFC 5321 4.5.3.2.5).
 */
void dg_smtp_deliver_body_pump(struct dg_smtp_deliver *d)
{
	struct evbuffer *out = bufferevent_get_output(d->bev);
	const uint8_t *b = d->env.body;
	size_t n = d->env.body_len;

	if (d->body_off == 0 && !d->body_tail) /* refill when the output drains to LOW */
		bufferevent_setwatermark(d->bev, EV_WRITE, DS_BODY_LOW, 0);
	while (!d->body_tail && evbuffer_get_length(out) < DS_BODY_HIGH) {
		size_t start = d->body_off, end, cut;
		const uint8_t *nl;

		if (start >= n) {
			if (n > 0 && !(n >= 2 && b[n - 2] == '\r' && b[n - 1] == '\n'))
				evbuffer_add(out, "\r\n", 2);
			evbuffer_add(out, ".\r\n", 3);
			d->body_tail = true;
			/* the write callback now fires once everything has left */
			bufferevent_setwatermark(d->bev, EV_WRITE, 0, 0);
			break;
		}
		if (b[start] == '.' && (start == 0 || b[start - 1] == '\n'))
			evbuffer_add(out, ".", 1);
		end = n - start > DS_BODY_CHUNK ? start + DS_BODY_CHUNK : n;
		cut = end;
		for (size_t i = start; i < end; i = (size_t)(nl - b) + 1) {
			nl = memchr(b + i, '\n', end - i);
			if (nl == NULL)
				break;
			if ((size_t)(nl - b) + 1 < n && nl[1] == '.') {
				cut = (size_t)(nl - b) + 1; /* the next stretch starts at the dot */
				break;
			}
		}
		if (evbuffer_add_reference(out, b + start, cut - start, NULL, NULL) != 0) {
			dg_smtp_deliver_fail(d, "cannot queue the message body");
			return;
		}
		d->body_off = cut;
	}
}

static void ds_write_cb(struct bufferevent *bev, void *arg)
{
	struct dg_smtp_deliver *d = arg;

	dg_smtp_deliver_enter(d);
	if (!d->closing && bev == d->bev && d->state == DG_SMTP_DELIVER_STAGE_BODY) {
		if (!d->body_tail) {
			dg_smtp_deliver_arm(d, d->block_ms);
			dg_smtp_deliver_body_pump(d);
		} else if (evbuffer_get_length(bufferevent_get_output(bev)) == 0) {
			dg_smtp_deliver_state_enter(d, DG_SMTP_DELIVER_STAGE_DATA_DONE);
		} else {
			dg_smtp_deliver_arm(d, d->block_ms);
		}
	}
	dg_smtp_deliver_leave(d);
}

/* Stack an OpenSSL filter on the socket bufferevent and start the handshake. */
void dg_smtp_deliver_tls_start(struct dg_smtp_deliver *d)
{
	struct bufferevent *filter;
	struct dg_err terr;

	/* SPEC TLS-3: SNI; TLS-7: SSL_OP_NO_TICKET, no session set: never resumed */
	if (dg_smtp_tls_ssl_new(d->ssl_ctx, d->sni, DG_SMTP_KEY_ANY, &d->ssl, &terr) != DG_OK) {
		dg_smtp_deliver_fail(d, "cannot set up TLS: %s", terr.msg);
		return;
	}
	filter = bufferevent_openssl_filter_new(d->base, d->bev, d->ssl, BUFFEREVENT_SSL_CONNECTING,
	                                        BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
	if (filter == NULL) /* only on memory exhaustion; ownership is then unclear */
		DG_PANIC("smtp deliver %s: bufferevent_openssl_filter_new failed", d->id);
	d->ssl = NULL; /* the filter owns the SSL and the socket bufferevent now */
	d->bev = filter;
	bufferevent_openssl_set_allow_dirty_shutdown(filter, 1);
	bufferevent_setcb(filter, ds_read_cb, ds_write_cb, ds_event_cb, d);
	bufferevent_enable(filter, EV_READ | EV_WRITE);
}

/* Handshake done: record it, let the caller verify the chain, then EHLO again. */
static void ds_tls_done(struct dg_smtp_deliver *d)
{
	SSL *ssl = bufferevent_openssl_get_ssl(d->bev);
	const SSL_CIPHER *cipher = SSL_get_current_cipher(ssl);
	char reason[DG_ERR_MSG_MAX] = "";

	d->res.tls_done = true;
	snprintf(d->res.tls_version, sizeof(d->res.tls_version), "%s", SSL_get_version(ssl));
	snprintf(d->res.cipher, sizeof(d->res.cipher), "%s",
	         cipher != NULL ? SSL_CIPHER_get_name(cipher) : "");
	DG_TRACE(d->log, DG_LOG_TRACE_TLS,
	         "%s smtp-out addr=%s state=tls-handshake version=%s "
	         "cipher=%s",
	         d->id, d->res.peer, d->res.tls_version, d->res.cipher);
	if (d->verify != NULL &&
	    !d->verify(d->verify_arg, ssl, SSL_get_peer_cert_chain(ssl), reason, sizeof(reason))) {
		dg_smtp_deliver_fail_quit(d, NULL, "peer verification failed: %s",
		                          reason[0] != '\0' ? reason
		                                            : "rejected by the verify callback");
		return;
	}
	dg_smtp_deliver_state_enter(d, DG_SMTP_DELIVER_STAGE_EHLO_TLS);
}

static void ds_tls_failed(struct dg_smtp_deliver *d, struct bufferevent *bev, short what)
{
	unsigned long e = bufferevent_get_openssl_error(bev);
	char buf[160];

	if (e == 0)
		e = ERR_peek_last_error();
	ERR_clear_error();
	if (e != 0)
		dg_smtp_tls_error_str(e, buf, sizeof(buf));
	else if (what & BEV_EVENT_EOF)
		snprintf(buf, sizeof(buf), "connection closed by server");
	else
		snprintf(buf, sizeof(buf), "%s",
		         evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
	dg_smtp_deliver_fail(d, "TLS handshake failed: %s",
	                     buf); /* SPEC TLS-2: no cleartext retry here */
}

/* BEV_EVENT_CONNECTED: TCP in CONNECT, the TLS handshake in TLS_HANDSHAKE. */
static void ds_connected(struct dg_smtp_deliver *d)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);

	if (d->state == DG_SMTP_DELIVER_STAGE_CONNECT) {
		/* our source address, for reports (RFC 8460 sending-mta-ip) */
		if (getsockname(bufferevent_getfd(d->bev), (struct sockaddr *)&ss, &sl) == 0) {
			const void *a = ss.ss_family == AF_INET6
					    ? (const void *)&((struct sockaddr_in6 *)&ss)->sin6_addr
					    : (const void *)&((struct sockaddr_in *)&ss)->sin_addr;

			if (inet_ntop(ss.ss_family, a, d->res.local, sizeof(d->res.local)) == NULL)
				d->res.local[0] = '\0';
		}
		dg_smtp_deliver_state_enter(d, DG_SMTP_DELIVER_STAGE_BANNER);
		return;
	}
	if (d->state == DG_SMTP_DELIVER_STAGE_TLS_HANDSHAKE)
		ds_tls_done(d);
}

/* EOF or error on the connection, by state. */
static void ds_io_failed(struct dg_smtp_deliver *d, struct bufferevent *bev, short what)
{
	int e = EVUTIL_SOCKET_ERROR();
	unsigned long ssl_e;
	char buf[160];

	switch (d->state) {
	case DG_SMTP_DELIVER_STAGE_CONNECT:
		dg_smtp_deliver_fail(d, "connect failed: %s",
		                     e != 0 ? evutil_socket_error_to_string(e) : "unknown error");
		return;
	case DG_SMTP_DELIVER_STAGE_TLS_HANDSHAKE: ds_tls_failed(d, bev, what); return;
	case DG_SMTP_DELIVER_STAGE_QUIT: dg_smtp_deliver_closed(d); return;
	case DG_SMTP_DELIVER_STAGE_CLOSED: return;
	default: break;
	}
	ssl_e = d->res.tls_done ? bufferevent_get_openssl_error(bev) : 0;
	ERR_clear_error();
	if (what & BEV_EVENT_EOF)
		snprintf(buf, sizeof(buf), "connection closed by server");
	else if (ssl_e != 0)
		dg_smtp_tls_error_str(ssl_e, buf, sizeof(buf));
	else
		snprintf(buf, sizeof(buf), "connection error: %s",
		         evutil_socket_error_to_string(e));
	dg_smtp_deliver_fail(d, "%s while waiting for %s", buf,
	                     dg_smtp_deliver_waiting_for(d->state));
}

/* Move received bytes into the parser and handle every complete reply. */
static void ds_drain(struct dg_smtp_deliver *d, struct bufferevent *bev)
{
	struct evbuffer *in = bufferevent_get_input(bev);
	uint8_t chunk[DS_READ_CHUNK];
	struct dg_err perr;
	int n;

	while (!d->closing && d->bev == bev && d->state != DG_SMTP_DELIVER_STAGE_CLOSED) {
		/* read and connect events may arrive in either order */
		if (d->state == DG_SMTP_DELIVER_STAGE_CONNECT ||
		    d->state == DG_SMTP_DELIVER_STAGE_TLS_HANDSHAKE) {
			ds_connected(d);
			continue;
		}
		n = evbuffer_remove(in, chunk, sizeof(chunk));
		if (n <= 0)
			return;
		if (dg_smtp_reply_parser_feed(&d->parser, chunk, (size_t)n, &perr) != DG_OK) {
			dg_smtp_deliver_fail(d, "bad reply while waiting for %s: %s",
			                     dg_smtp_deliver_waiting_for(d->state), perr.msg);
			return;
		}
		ds_parse(d);
	}
}

static void ds_parse(struct dg_smtp_deliver *d)
{
	struct dg_smtp_reply r;
	struct dg_err perr;
	bool complete;

	while (!d->closing && d->state != DG_SMTP_DELIVER_STAGE_CLOSED &&
	       d->state != DG_SMTP_DELIVER_STAGE_TLS_HANDSHAKE) {
		if (dg_smtp_reply_parser_next(&d->parser, &r, &complete, &perr) != DG_OK) {
			dg_smtp_deliver_fail(d, "bad reply while waiting for %s: %s",
			                     dg_smtp_deliver_waiting_for(d->state), perr.msg);
			return;
		}
		if (!complete)
			return;
		dg_smtp_deliver_response(d, &r);
	}
}

static void ds_read_cb(struct bufferevent *bev, void *arg)
{
	struct dg_smtp_deliver *d = arg;

	dg_smtp_deliver_enter(d);
	ds_drain(d, bev);
	dg_smtp_deliver_leave(d);
}

static void ds_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct dg_smtp_deliver *d = arg;

	dg_smtp_deliver_enter(d);
	if (!d->closing && bev == d->bev) {
		if (what & BEV_EVENT_CONNECTED)
			ds_connected(d);
		else if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
			ds_io_failed(d, bev, what);
	}
	dg_smtp_deliver_leave(d);
}

static void ds_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	struct dg_smtp_deliver *d = arg;

	(void)fd;
	(void)what;
	dg_smtp_deliver_enter(d);
	if (d->closing || d->state == DG_SMTP_DELIVER_STAGE_CLOSED)
		;                                        /* nothing left to time */
	else if (d->state == DG_SMTP_DELIVER_STAGE_QUIT) /* no 221 in time: close anyway */
		dg_smtp_deliver_closed(d);
	else
		dg_smtp_deliver_fail(d, "timeout after %u ms waiting for %s", d->tmo_ms[d->state],
		                     dg_smtp_deliver_waiting_for(d->state));
	dg_smtp_deliver_leave(d);
}
