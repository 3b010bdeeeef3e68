/*
 * smtp_session.c - the SMTP STARTTLS probe's state machine and its I/O.
 *
 * Private (smtp_int.h): dg_smtp_session_begin, called by
 * dg_smtp_probe_start() (smtp_probe.c) once the probe is allocated.
 *
 * States are enum dg_smtp_probe_stage: CONNECT -> BANNER -> EHLO (-> HELO
 * on 5xx, which ends the probe: no STARTTLS after HELO) -> STARTTLS ->
 * TLS_HANDSHAKE -> EHLO_TLS -> QUIT -> DONE. session_enter() enters a state
 * (arms its deadline and sends its command); session_response() handles a
 * complete reply in the current state (STYLE.md section 6, as in OpenSMTPD
 * mta_session.c mta_enter_state/mta_response). Replies go through the
 * incremental reply parser, so they may be split anywhere; its caps make
 * oversized replies a protocol error. Every wait has a deadline (an event
 * timer re-armed per state, libevent timers run on the monotonic clock)
 * and the whole probe has a total deadline. MAIL, RCPT and DATA are never
 * sent.
 *
 * TLS: after "220" to STARTTLS, with no cleartext left over (injection
 * guard), an SSL is made from the probe's SSL_CTX (SNI, key type, see
 * smtp_tls.c) and a libevent OpenSSL filter is stacked on the socket
 * bufferevent. The filter owns the SSL and the socket bufferevent from then
 * on (BEV_OPT_CLOSE_ON_FREE); the probe owns the filter.
 * SPEC TLS-1 (no STARTTLS = failure, no cleartext fallback), TLS-2, TLS-3,
 * TLS-4, OSSL-7 (handshake with SSL_VERIFY_NONE, chain verified later).
 */
#include "smtp/smtp_int.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/err.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>

enum {
	SESSION_READ_CHUNK = 4096, /* bytes moved from libevent to the parser at once */
	SESSION_REPLY_SHOW = 160,  /* bytes of a reply line quoted in a reason */
	SESSION_LINE_MAX = 600,    /* longest command or transcript line built here */
	SESSION_ACK_DELAY_MS = 1   /* quick ACK this long after the handshake */
};

static void session_enter(struct dg_smtp_probe *p, enum dg_smtp_probe_stage state);
static void session_send(struct dg_smtp_probe *p, const char *fmt, ...) DG_PRINTF(2, 3);
static void session_arm(struct dg_smtp_probe *p, struct event *ev, unsigned ms);
static void session_response(struct dg_smtp_probe *p, const struct dg_smtp_reply *r);
static void session_on_banner(struct dg_smtp_probe *p, const struct dg_smtp_reply *r);
static void session_on_ehlo(struct dg_smtp_probe *p, const struct dg_smtp_reply *r);
static void session_on_helo(struct dg_smtp_probe *p, const struct dg_smtp_reply *r);
static void session_on_starttls(struct dg_smtp_probe *p, const struct dg_smtp_reply *r);
static void session_on_ehlo_tls(struct dg_smtp_probe *p, const struct dg_smtp_reply *r);
static void session_start_tls(struct dg_smtp_probe *p);
static void session_connected(struct dg_smtp_probe *p);
static void session_tls_done(struct dg_smtp_probe *p);
static void session_ack_cb(evutil_socket_t fd, short what, void *arg);
static void session_io_failed(struct dg_smtp_probe *p, struct bufferevent *bev, short what);
static void session_tls_failed(struct dg_smtp_probe *p, struct bufferevent *bev, short what);
static void session_drain(struct dg_smtp_probe *p, struct bufferevent *bev);
static void session_parse(struct dg_smtp_probe *p);
static void session_done(struct dg_smtp_probe *p);
static void session_fail_quit(struct dg_smtp_probe *p, const struct dg_smtp_reply *r,
                              enum dg_smtp_probe_outcome outcome, const char *fmt, ...)
    DG_PRINTF(4, 5);
static const char *session_reply_str(const struct dg_smtp_reply *r, char *buf, size_t size);
static const char *session_waiting_for(enum dg_smtp_probe_stage s);
static void session_read_cb(struct bufferevent *bev, void *arg);
static void session_event_cb(struct bufferevent *bev, short what, void *arg);
static void session_stage_timeout_cb(evutil_socket_t fd, short what, void *arg);
static void session_total_timeout_cb(evutil_socket_t fd, short what, void *arg);
static void session_defer_cb(evutil_socket_t fd, short what, void *arg);

/* What the probe waits for in each state, for reasons and logs. */
static const char *session_waiting_for(enum dg_smtp_probe_stage s)
{
	switch (s) {
	case DG_SMTP_STAGE_CONNECT: return "the TCP connection";
	case DG_SMTP_STAGE_BANNER: return "the banner";
	case DG_SMTP_STAGE_EHLO: return "the reply to EHLO";
	case DG_SMTP_STAGE_HELO: return "the reply to HELO";
	case DG_SMTP_STAGE_STARTTLS: return "the reply to STARTTLS";
	case DG_SMTP_STAGE_TLS_HANDSHAKE: return "the TLS handshake";
	case DG_SMTP_STAGE_EHLO_TLS: return "the reply to EHLO after STARTTLS";
	case DG_SMTP_STAGE_QUIT: return "the reply to QUIT";
	case DG_SMTP_STAGE_DONE: break;
	}
	return "nothing";
}

/* "454 4.7.0 TLS not available" (first line, escaped, shortened). */
static const char *session_reply_str(const struct dg_smtp_reply *r, char *buf, size_t size)
{
	char text[SESSION_REPLY_SHOW];

	dg_str_escape(text, sizeof(text), r->lines[0], strlen(r->lines[0]));
	snprintf(buf, size, "%u%s%s", r->code, text[0] != '\0' ? " " : "", text);
	return buf;
}

enum dg_status dg_smtp_session_begin(struct dg_smtp_probe *p, struct dg_err *err)
{
	p->ev_total = evtimer_new(p->base, session_total_timeout_cb, p);
	p->ev_stage = evtimer_new(p->base, session_stage_timeout_cb, p);
	p->ev_defer = evtimer_new(p->base, session_defer_cb, p);
	p->ev_ack = evtimer_new(p->base, session_ack_cb, p);
	p->bev =
	    bufferevent_socket_new(p->base, -1, BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
	if (p->ev_total == NULL || p->ev_stage == NULL || p->ev_defer == NULL || p->ev_ack == NULL ||
	    p->bev == NULL)
		return dg_err_set(err, DG_E_INTERNAL, "smtp probe %s: cannot create events",
		                  p->res.peer);
	bufferevent_setcb(p->bev, session_read_cb, NULL, session_event_cb, p);
	bufferevent_enable(p->bev, EV_READ | EV_WRITE);
	session_arm(p, p->ev_total, p->total_ms);
	session_arm(p, p->ev_stage, p->tmo_ms[DG_SMTP_STAGE_CONNECT]);
	DG_TRACE(p->log, DG_LOG_TRACE_SMTP, "%s smtp addr=%s state=connect sni=%s keytype=%s",
	         p->id, p->res.peer, p->sni != NULL ? p->sni : "-",
	         p->keytype == DG_SMTP_KEY_ECDSA ? "ecdsa"
	         : p->keytype == DG_SMTP_KEY_RSA ? "rsa"
	                                         : "any");
	if (bufferevent_socket_connect(p->bev, (struct sockaddr *)&p->sa, (int)p->salen) != 0) {
		/* e.g. no IPv6 route: an outcome, delivered from the loop like any other */
		snprintf(p->res.reason, sizeof(p->res.reason), "connect failed: %s",
		         evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
		event_active(p->ev_defer, EV_TIMEOUT, 1);
	}
	return DG_OK;
}

static void session_defer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct dg_smtp_probe *p = arg;
	char reason[DG_ERR_MSG_MAX];

	(void)fd;
	(void)what;
	dg_smtp_probe_enter(p);
	snprintf(reason, sizeof(reason), "%s", p->res.reason);
	dg_smtp_probe_finish(p, DG_SMTP_PROBE_CONNECT_FAILED, "%s", reason);
	dg_smtp_probe_leave(p);
}

static void session_arm(struct dg_smtp_probe *p, struct event *ev, unsigned ms)
{
	struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};

	if (event_add(ev, &tv) != 0)
		DG_PANIC("smtp probe %s: event_add failed", p->id);
}

/* Enter a state: arm its deadline and send its command (STYLE.md section 6). */
static void session_enter(struct dg_smtp_probe *p, enum dg_smtp_probe_stage state)
{
	p->state = state;
	DG_TRACE(p->log, DG_LOG_TRACE_SMTP, "%s smtp addr=%s state=%s", p->id, p->res.peer,
	         dg_smtp_probe_stage_str(state));
	if (state != DG_SMTP_STAGE_DONE)
		session_arm(p, p->ev_stage, p->tmo_ms[state]);
	switch (state) {
	case DG_SMTP_STAGE_CONNECT: DG_PANIC("smtp probe %s: CONNECT is entered by begin", p->id);
	case DG_SMTP_STAGE_BANNER: break;
	case DG_SMTP_STAGE_EHLO: session_send(p, "EHLO %s", p->helo); break;
	case DG_SMTP_STAGE_HELO: session_send(p, "HELO %s", p->helo); break;
	case DG_SMTP_STAGE_STARTTLS: session_send(p, "STARTTLS"); break;
	case DG_SMTP_STAGE_TLS_HANDSHAKE: session_start_tls(p); break;
	case DG_SMTP_STAGE_EHLO_TLS:
		dg_smtp_reply_parser_reset(&p->parser); /* nothing from cleartext survives */
		session_send(p, "EHLO %s", p->helo);
		break;
	case DG_SMTP_STAGE_QUIT: session_send(p, "QUIT"); break;
	case DG_SMTP_STAGE_DONE: session_done(p); break;
	}
}

/* Write one command line (CRLF added) and note it in the transcript. */
static void session_send(struct dg_smtp_probe *p, const char *fmt, ...)
{
	char line[SESSION_LINE_MAX];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 2, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(line) - 2)
		DG_PANIC("smtp probe %s: command too long", p->id);
	dg_smtp_probe_note(p, "C", line);
	memcpy(line + n, "\r\n", 2);
	if (bufferevent_write(p->bev, line, (size_t)n + 2) != 0)
		dg_smtp_probe_finish(p, DG_SMTP_PROBE_PROTOCOL, "cannot queue a command");
}

/*
 * End the probe after a well-formed reply that means failure: say QUIT
 * first (waiting at most the QUIT deadline), unless the reply was 421 (the
 * server is closing the channel, RFC 5321 section 3.8).
 */
static void session_fail_quit(struct dg_smtp_probe *p, const struct dg_smtp_reply *r,
                              enum dg_smtp_probe_outcome outcome, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(p->fail_reason, sizeof(p->fail_reason), fmt, ap);
	va_end(ap);
	if (r->code == 421) {
		dg_smtp_probe_finish(p, outcome, "%s", p->fail_reason);
		return;
	}
	p->quit_then_fail = true;
	p->fail_outcome = outcome;
	p->fail_stage = p->state;
	p->fail_code = (int)r->code;
	session_enter(p, DG_SMTP_STAGE_QUIT);
}

/* QUIT answered, timed out or the server closed: report success or the earlier failure. */
static void session_done(struct dg_smtp_probe *p)
{
	if (p->quit_then_fail) {
		p->state = p->fail_stage; /* the result names where it failed, not QUIT */
		p->res.reply_code = p->fail_code;
		dg_smtp_probe_finish(p, p->fail_outcome, "%s", p->fail_reason);
		return;
	}
	dg_smtp_probe_finish(p, DG_SMTP_PROBE_TLS_OK, "STARTTLS ok: %s %s, server key %s",
	                     p->res.tls_version, p->res.cipher,
	                     p->res.peer_key[0] != '\0' ? p->res.peer_key : "unknown");
}

/* Handle one complete reply in the current state. */
static void session_response(struct dg_smtp_probe *p, const struct dg_smtp_reply *r)
{
	char line[SESSION_LINE_MAX];
	char shown[SESSION_REPLY_SHOW + 8];

	p->res.reply_code = (int)r->code;
	for (size_t i = 0; i < r->nlines; i++) {
		snprintf(line, sizeof(line), "%u%c%s", r->code, i + 1 < r->nlines ? '-' : ' ',
		         r->lines[i]);
		dg_smtp_probe_note(p, "S", line);
	}
	switch (p->state) {
	case DG_SMTP_STAGE_BANNER: session_on_banner(p, r); break;
	case DG_SMTP_STAGE_EHLO: session_on_ehlo(p, r); break;
	case DG_SMTP_STAGE_HELO: session_on_helo(p, r); break;
	case DG_SMTP_STAGE_STARTTLS: session_on_starttls(p, r); break;
	case DG_SMTP_STAGE_EHLO_TLS: session_on_ehlo_tls(p, r); break;
	case DG_SMTP_STAGE_QUIT: session_enter(p, DG_SMTP_STAGE_DONE); break;
	default:
		dg_smtp_probe_finish(
		    p, DG_SMTP_PROBE_PROTOCOL, "unexpected reply \"%s\" while waiting for %s",
		    session_reply_str(r, shown, sizeof(shown)), session_waiting_for(p->state));
		break;
	}
}

static void session_on_banner(struct dg_smtp_probe *p, const struct dg_smtp_reply *r)
{
	char shown[SESSION_REPLY_SHOW + 8];

	free(p->res.banner);
	p->res.banner = dg_xmalloc(SESSION_REPLY_SHOW);
	dg_str_escape(p->res.banner, SESSION_REPLY_SHOW, r->lines[0], strlen(r->lines[0]));
	session_reply_str(r, shown, sizeof(shown));
	if (r->code / 100 == 2)
		session_enter(p, DG_SMTP_STAGE_EHLO);
	else if (r->code / 100 == 4 || r->code / 100 == 5)
		session_fail_quit(p, r, DG_SMTP_PROBE_REJECTED, "banner rejects mail: %s", shown);
	else
		dg_smtp_probe_finish(p, DG_SMTP_PROBE_PROTOCOL, "unexpected banner: %s", shown);
}

static void session_on_ehlo(struct dg_smtp_probe *p, const struct dg_smtp_reply *r)
{
	char shown[SESSION_REPLY_SHOW + 8];

	session_reply_str(r, shown, sizeof(shown));
	if (r->code == 250) {
		p->res.ehlo_ok = dg_smtp_ehlo_parse(r, &p->res.ehlo, NULL) == DG_OK;
		p->res.starttls_offered = dg_smtp_ehlo_has(&p->res.ehlo, DG_SMTP_EXT_STARTTLS);
		if (p->res.starttls_offered)
			session_enter(p, DG_SMTP_STAGE_STARTTLS);
		else
			session_fail_quit(p, r, DG_SMTP_PROBE_NO_STARTTLS,
			                  "STARTTLS not offered in the EHLO reply");
	} else if (r->code / 100 == 5) {
		p->res.helo_used = true;
		session_enter(p, DG_SMTP_STAGE_HELO);
	} else if (r->code / 100 == 4) {
		session_fail_quit(p, r, DG_SMTP_PROBE_REJECTED, "EHLO rejected: %s", shown);
	} else {
		dg_smtp_probe_finish(p, DG_SMTP_PROBE_PROTOCOL, "unexpected reply to EHLO: %s",
		                     shown);
	}
}

static void session_on_helo(struct dg_smtp_probe *p, const struct dg_smtp_reply *r)
{
	char shown[SESSION_REPLY_SHOW + 8];

	session_reply_str(r, shown, sizeof(shown));
	if (r->code / 100 == 2)
		session_fail_quit(p, r, DG_SMTP_PROBE_NO_STARTTLS,
		                  "EHLO rejected, HELO accepted (%s): no STARTTLS without EHLO",
		                  shown);
	else
		session_fail_quit(p, r, DG_SMTP_PROBE_REJECTED,
		                  "HELO rejected after EHLO failed: %s", shown);
}

static void session_on_starttls(struct dg_smtp_probe *p, const struct dg_smtp_reply *r)
{
	char shown[SESSION_REPLY_SHOW + 8];
	size_t extra;

	session_reply_str(r, shown, sizeof(shown));
	if (r->code != 220) {
		session_fail_quit(p, r, DG_SMTP_PROBE_STARTTLS_REFUSED, "STARTTLS refused: %s",
		                  shown);
		return;
	}
	/* Anything after the 220 would be read as TLS or injected cleartext. */
	extra = dg_smtp_reply_parser_pending(&p->parser) +
	        evbuffer_get_length(bufferevent_get_input(p->bev));
	if (extra > 0) {
		dg_smtp_probe_finish(p, DG_SMTP_PROBE_PROTOCOL,
		                     "%zu bytes of cleartext after \"%s\" to STARTTLS "
		                     "(command injection?)",
		                     extra, shown);
		return;
	}
	session_enter(p, DG_SMTP_STAGE_TLS_HANDSHAKE);
}

static void session_on_ehlo_tls(struct dg_smtp_probe *p, const struct dg_smtp_reply *r)
{
	char shown[SESSION_REPLY_SHOW + 8];

	session_reply_str(r, shown, sizeof(shown));
	if (r->code == 250) {
		p->res.ehlo_tls_ok = dg_smtp_ehlo_parse(r, &p->res.ehlo_tls, NULL) == DG_OK;
		session_enter(p, DG_SMTP_STAGE_QUIT);
	} else if (r->code / 100 == 4 || r->code / 100 == 5) {
		session_fail_quit(p, r, DG_SMTP_PROBE_REJECTED, "EHLO after STARTTLS rejected: %s",
		                  shown);
	} else {
		dg_smtp_probe_finish(p, DG_SMTP_PROBE_PROTOCOL,
		                     "unexpected reply to EHLO after STARTTLS: %s", shown);
	}
}

/* Stack an OpenSSL filter on the socket bufferevent and start the handshake. */
static void session_start_tls(struct dg_smtp_probe *p)
{
	struct bufferevent *filter;
	struct dg_err terr;

	if (dg_smtp_tls_ssl_new(p->ssl_ctx, p->sni, p->keytype, &p->ssl, &terr) != DG_OK) {
		dg_smtp_probe_finish(p, DG_SMTP_PROBE_TLS_FAILED, "cannot set up TLS: %s",
		                     terr.msg);
		return;
	}
	filter = bufferevent_openssl_filter_new(p->base, p->bev, p->ssl, BUFFEREVENT_SSL_CONNECTING,
	                                        BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
	if (filter == NULL) /* only on memory exhaustion; ownership is then unclear */
		DG_PANIC("smtp probe %s: bufferevent_openssl_filter_new failed", p->id);
	p->ssl = NULL; /* the filter owns the SSL and the socket bufferevent now */
	p->bev = filter;
	bufferevent_openssl_set_allow_dirty_shutdown(filter, 1);
	bufferevent_setcb(filter, session_read_cb, NULL, session_event_cb, p);
	bufferevent_enable(filter, EV_READ | EV_WRITE);
	dg_smtp_probe_note(p, "TLS",
	                   p->sni != NULL ? "ClientHello sent with SNI"
	                                  : "ClientHello sent without SNI");
}

/* BEV_EVENT_CONNECTED: TCP in CONNECT, the TLS handshake in TLS_HANDSHAKE. */
static void session_connected(struct dg_smtp_probe *p)
{
	if (p->state == DG_SMTP_STAGE_CONNECT) {
		p->res.connect_ms = dg_clock_mono_ms() - p->start_ms;
		dg_smtp_probe_note(p, "*", "connected");
		session_enter(p, DG_SMTP_STAGE_BANNER);
	} else if (p->state == DG_SMTP_STAGE_TLS_HANDSHAKE) {
		session_tls_done(p);
	}
}

/*
 * After a TLS 1.3 handshake the server sends session tickets, then, once it has read
 * our EHLO (which went out with our Finished), its reply. With Nagle on the server
 * (Postfix's default) that reply waits for our ACK of the tickets, and the kernel
 * delays that ACK by 40 ms because we have nothing more to send: every probe would
 * stall 40 ms. So, just after our Finished and EHLO have left (a 1 ms timer), ask
 * the kernel for quick ACKs: a pending ACK goes out at once, and the next segments
 * are acknowledged without delay. Linux only; elsewhere this does nothing.
 */
static void session_ack_cb(evutil_socket_t fd, short what, void *arg)
{
	struct dg_smtp_probe *p = arg;

	(void)fd;
	(void)what;
#ifdef TCP_QUICKACK
	int one = 1;

	if (p->bev != NULL)
		(void)setsockopt(bufferevent_getfd(p->bev), IPPROTO_TCP, TCP_QUICKACK, &one,
				 sizeof(one));
#else
	(void)p;
#endif
}

static void session_tls_done(struct dg_smtp_probe *p)
{
	SSL *ssl = bufferevent_openssl_get_ssl(p->bev);
	char line[SESSION_LINE_MAX];

	session_arm(p, p->ev_ack, SESSION_ACK_DELAY_MS);

	dg_smtp_tls_capture(ssl, &p->res);
	snprintf(line, sizeof(line),
	         "handshake done version=%s cipher=%s key=\"%s\" sigalg=%s certs=%d",
	         p->res.tls_version, p->res.cipher, p->res.peer_key,
	         p->res.sigalg[0] != '\0' ? p->res.sigalg : "-",
	         p->res.chain != NULL ? sk_X509_num(p->res.chain) : 0);
	dg_smtp_probe_note(p, "TLS", line);
	session_enter(p, DG_SMTP_STAGE_EHLO_TLS);
}

static void session_tls_failed(struct dg_smtp_probe *p, struct bufferevent *bev, short what)
{
	unsigned long e = bufferevent_get_openssl_error(bev);
	char buf[160];

	if (e == 0)
		e = ERR_peek_last_error();
	ERR_clear_error();
	if (e != 0) {
		dg_smtp_tls_error_str(e, buf, sizeof(buf));
	} else if (what & BEV_EVENT_EOF) {
		snprintf(buf, sizeof(buf), "connection closed by server");
	} else {
		snprintf(buf, sizeof(buf), "%s",
		         evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
	}
	dg_smtp_probe_note(p, "TLS", buf);
	dg_smtp_probe_finish(p, DG_SMTP_PROBE_TLS_FAILED, "TLS handshake failed: %s", buf);
}

/* EOF or error on the connection, by state. */
static void session_io_failed(struct dg_smtp_probe *p, struct bufferevent *bev, short what)
{
	int e = EVUTIL_SOCKET_ERROR();
	unsigned long ssl_e;
	char buf[160];

	switch (p->state) {
	case DG_SMTP_STAGE_CONNECT:
		dg_smtp_probe_finish(p, DG_SMTP_PROBE_CONNECT_FAILED, "connect failed: %s",
		                     e != 0 ? evutil_socket_error_to_string(e) : "unknown error");
		return;
	case DG_SMTP_STAGE_TLS_HANDSHAKE: session_tls_failed(p, bev, what); return;
	case DG_SMTP_STAGE_QUIT: session_enter(p, DG_SMTP_STAGE_DONE); return;
	default: break;
	}
	dg_smtp_probe_note(p, "*",
	                   (what & BEV_EVENT_EOF) ? "closed by server" : "connection error");
	if (what & BEV_EVENT_EOF) {
		dg_smtp_probe_finish(p, DG_SMTP_PROBE_PROTOCOL,
		                     "connection closed by server while waiting for %s",
		                     session_waiting_for(p->state));
		return;
	}
	ssl_e = p->res.tls_done ? bufferevent_get_openssl_error(bev) : 0;
	ERR_clear_error();
	if (ssl_e != 0)
		dg_smtp_tls_error_str(ssl_e, buf, sizeof(buf));
	else
		snprintf(buf, sizeof(buf), "%s", evutil_socket_error_to_string(e));
	dg_smtp_probe_finish(p, DG_SMTP_PROBE_PROTOCOL, "connection error while waiting for %s: %s",
	                     session_waiting_for(p->state), buf);
}

/* Move received bytes into the parser and handle every complete reply. */
static void session_drain(struct dg_smtp_probe *p, struct bufferevent *bev)
{
	struct evbuffer *in = bufferevent_get_input(bev);
	uint8_t chunk[SESSION_READ_CHUNK];
	struct dg_err perr;
	int n;

	while (!p->finished && p->bev == bev) {
		/* read and connect events may arrive in either order */
		if (p->state == DG_SMTP_STAGE_CONNECT || p->state == DG_SMTP_STAGE_TLS_HANDSHAKE) {
			session_connected(p);
			continue;
		}
		n = evbuffer_remove(in, chunk, sizeof(chunk));
		if (n <= 0)
			return;
		if (dg_smtp_reply_parser_feed(&p->parser, chunk, (size_t)n, &perr) != DG_OK) {
			dg_smtp_probe_finish(p, DG_SMTP_PROBE_PROTOCOL,
			                     "bad reply while waiting for %s: %s",
			                     session_waiting_for(p->state), perr.msg);
			return;
		}
		session_parse(p);
	}
}

static void session_parse(struct dg_smtp_probe *p)
{
	struct dg_smtp_reply r;
	struct dg_err perr;
	bool complete;

	while (!p->finished && p->state != DG_SMTP_STAGE_TLS_HANDSHAKE) {
		if (dg_smtp_reply_parser_next(&p->parser, &r, &complete, &perr) != DG_OK) {
			dg_smtp_probe_finish(p, DG_SMTP_PROBE_PROTOCOL,
			                     "bad reply while waiting for %s: %s",
			                     session_waiting_for(p->state), perr.msg);
			return;
		}
		if (!complete)
			return;
		session_response(p, &r);
	}
}

static void session_read_cb(struct bufferevent *bev, void *arg)
{
	struct dg_smtp_probe *p = arg;

	dg_smtp_probe_enter(p);
	session_drain(p, bev);
	dg_smtp_probe_leave(p);
}

static void session_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct dg_smtp_probe *p = arg;

	dg_smtp_probe_enter(p);
	if (!p->finished && bev == p->bev) {
		if (what & BEV_EVENT_CONNECTED)
			session_connected(p);
		else if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
			session_io_failed(p, bev, what);
	}
	dg_smtp_probe_leave(p);
}

static void session_stage_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	struct dg_smtp_probe *p = arg;

	(void)fd;
	(void)what;
	dg_smtp_probe_enter(p);
	if (p->state == DG_SMTP_STAGE_QUIT) /* no 221 in time: close anyway */
		session_enter(p, DG_SMTP_STAGE_DONE);
	else
		dg_smtp_probe_finish(p, DG_SMTP_PROBE_TIMEOUT, "timeout after %u ms waiting for %s",
		                     p->tmo_ms[p->state], session_waiting_for(p->state));
	dg_smtp_probe_leave(p);
}

static void session_total_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	struct dg_smtp_probe *p = arg;

	(void)fd;
	(void)what;
	dg_smtp_probe_enter(p);
	if (p->state == DG_SMTP_STAGE_QUIT)
		session_enter(p, DG_SMTP_STAGE_DONE);
	else
		dg_smtp_probe_finish(p, DG_SMTP_PROBE_TIMEOUT,
		                     "total time limit of %u ms exceeded waiting for %s",
		                     p->total_ms, session_waiting_for(p->state));
	dg_smtp_probe_leave(p);
}
