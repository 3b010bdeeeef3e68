/*
 * relay_smtpd.c - the relay's SMTP receiver: listeners, sessions, I/O, STARTTLS, timeouts.
 *
 * Public (relay_smtpd.h): dg_relay_smtpd_new, dg_relay_smtpd_listen, dg_relay_smtpd_listen_fd,
 * dg_relay_smtpd_stop_accepting, dg_relay_smtpd_sessions, dg_relay_smtpd_free.
 * Internal: smtpd_reply, smtpd_starttls (used by relay_smtpd_proto.c, which holds the
 * command state machine, the DATA path and the queue write).
 *
 * Ownership: the receiver owns its listeners (evconnlistener, socket closed on free) and
 * its sessions; a session owns its bufferevent (the socket bev, or after STARTTLS the
 * OpenSSL filter, which owns the SSL and the socket bev). The queue, the SSL_CTX and the
 * log are borrowed. A session is freed only from the top of a libevent callback, after the
 * protocol code returned (it marks the session CLOSING or DEAD; STYLE.md section 5).
 *
 * Limits (STYLE.md sections 6 and 7): one read and one write timeout per session
 * (opts.timeout_ms, re-armed by every read, so it bounds each command wait, the DATA
 * stream's silences and the TLS handshake); opts.max_sessions concurrent sessions (more get
 * 421 4.7.0 and are closed); opts.max_output_bytes of unread replies (a client that
 * pipelines without reading is dropped). STARTTLS follows RFC 3207: cleartext already
 * buffered after the command is injection (CVE-2011-0411) and drops the connection; after
 * the handshake the session forgets EHLO and the transaction and asks allow() again with
 * the client certificate. See docs/internals/relay-smtpd.md.
 */
#include "relay/relay_smtpd.h"

#include <event2/buffer.h>
#include <event2/bufferevent_ssl.h>
#include <event2/util.h>
#include <openssl/err.h>

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/time.h>
#include <unistd.h>

static void smtpd_accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
                            int salen, void *arg);
static void smtpd_sess_new(struct dg_relay_smtpd *s, evutil_socket_t fd, const struct sockaddr *sa,
                           int salen);
static void smtpd_sess_free(struct smtpd_sess *ss);
static void smtpd_read_cb(struct bufferevent *bev, void *arg);
static void smtpd_write_cb(struct bufferevent *bev, void *arg);
static void smtpd_event_cb(struct bufferevent *bev, short what, void *arg);
static void smtpd_settle(struct smtpd_sess *ss);
static bool smtpd_flushed(struct smtpd_sess *ss);
static void smtpd_close_cb(evutil_socket_t fd, short what, void *arg);
static void smtpd_under_cb(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg);
static struct timeval smtpd_tv(unsigned ms);
static void smtpd_set_timeouts(struct smtpd_sess *ss);
static int smtpd_verify_accept(int ok, X509_STORE_CTX *ctx);
static enum dg_status smtpd_add_listener(struct dg_relay_smtpd *s, struct evconnlistener *l,
                                         const char *what, struct dg_err *err);

enum dg_status dg_relay_smtpd_new(struct event_base *base, const struct dg_relay_smtpd_opts *o,
                                  struct dg_relay_smtpd **out, struct dg_err *err)
{
	struct dg_relay_smtpd *s;

	*out = NULL;
	if (o == NULL || o->queue == NULL)
		return dg_err_set(err, DG_E_CONFIG, "relay smtpd: no queue");
	if (o->hostname == NULL || !dg_name_is_valid(o->hostname, NULL))
		return dg_err_set(err, DG_E_CONFIG, "relay smtpd: bad hostname \"%s\"",
		                  o->hostname ? o->hostname : "(null)");
	s = dg_xcalloc(1, sizeof(*s));
	s->base = base;
	s->o = *o;
	s->hostname = dg_xstrdup(o->hostname);
	s->o.hostname = s->hostname;
	s->log = o->log != NULL ? o->log : dg_log_global();
	if (s->o.max_message_bytes == 0)
		s->o.max_message_bytes = DG_RELAY_SMTPD_MAX_MESSAGE_DEFAULT;
	if (s->o.max_message_bytes > DG_QUEUE_BODY_MAX - 4096)
		s->o.max_message_bytes = DG_QUEUE_BODY_MAX - 4096;
	if (s->o.max_rcpts == 0)
		s->o.max_rcpts = DG_RELAY_SMTPD_MAX_RCPTS_DEFAULT;
	if (s->o.max_rcpts > DG_QUEUE_RCPT_MAX)
		s->o.max_rcpts = DG_QUEUE_RCPT_MAX;
	if (s->o.timeout_ms == 0)
		s->o.timeout_ms = DG_RELAY_SMTPD_TIMEOUT_MS_DEFAULT;
	if (s->o.max_sessions == 0)
		s->o.max_sessions = DG_RELAY_SMTPD_MAX_SESSIONS_DEFAULT;
	if (s->o.max_output_bytes == 0)
		s->o.max_output_bytes = DG_RELAY_SMTPD_MAX_OUTPUT_DEFAULT;
	if (getentropy(&s->next_id, sizeof(s->next_id)) != 0)
		s->next_id = (uint32_t)dg_clock_mono_ms();
	*out = s;
	return DG_OK;
}

/* Keep @p l (NULL: libevent failed, errno says why). */
static enum dg_status smtpd_add_listener(struct dg_relay_smtpd *s, struct evconnlistener *l,
                                         const char *what, struct dg_err *err)
{
	if (l == NULL)
		return dg_err_set_errno(err, DG_E_IO, errno, "relay smtpd: listen on %s", what);
	if (s->n_lis >= SMTPD_LISTEN_MAX) {
		evconnlistener_free(l);
		return dg_err_set(err, DG_E_LIMIT, "relay smtpd: more than %d listeners",
		                  SMTPD_LISTEN_MAX);
	}
	s->lis[s->n_lis++] = l;
	DG_LOG(s->log, DG_LOG_INFO, "smtpd listen addr=%s", what);
	return DG_OK;
}

enum dg_status dg_relay_smtpd_listen(struct dg_relay_smtpd *s, const char *addr_port,
                                     struct dg_err *err)
{
	struct sockaddr_storage ss;
	int len = (int)sizeof(ss);
	struct evconnlistener *l;

	memset(&ss, 0, sizeof(ss));
	if (s->stopping)
		return dg_err_set(err, DG_E_CONFIG, "relay smtpd: stopping, not listening on %s",
		                  addr_port);
	if (evutil_parse_sockaddr_port(addr_port, (struct sockaddr *)&ss, &len) != 0 ||
	    (ss.ss_family == AF_INET && ((struct sockaddr_in *)&ss)->sin_port == 0) ||
	    (ss.ss_family == AF_INET6 && ((struct sockaddr_in6 *)&ss)->sin6_port == 0))
		return dg_err_set(
		    err, DG_E_CONFIG,
		    "relay smtpd: bad listen address \"%s\" (want ADDR:PORT or [ADDR]:PORT)",
		    addr_port);
	l = evconnlistener_new_bind(s->base, smtpd_accept_cb, s,
	                            LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, 128,
	                            (struct sockaddr *)&ss, len);
	return smtpd_add_listener(s, l, addr_port, err);
}

enum dg_status dg_relay_smtpd_listen_fd(struct dg_relay_smtpd *s, int fd, struct dg_err *err)
{
	int on = 0;
	socklen_t olen = sizeof(on);
	struct evconnlistener *l;

	if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &on, &olen) != 0 || !on) {
		int e = on ? errno : EINVAL;

		close(fd);
		return dg_err_set_errno(err, DG_E_IO, e,
		                        "relay smtpd: fd %d is not a listening socket", fd);
	}
	if (s->stopping || evutil_make_socket_nonblocking(fd) != 0) {
		close(fd);
		return dg_err_set(err, DG_E_IO, "relay smtpd: cannot use listening fd %d", fd);
	}
	l = evconnlistener_new(s->base, smtpd_accept_cb, s, LEV_OPT_CLOSE_ON_FREE, -1, fd);
	if (l == NULL)
		close(fd);
	return smtpd_add_listener(s, l, "fd", err);
}

static void smtpd_accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
                            int salen, void *arg)
{
	static const char busy[] = "421 4.7.0 too many connections, try again later\r\n";
	struct dg_relay_smtpd *s = arg;
	char addr[INET6_ADDRSTRLEN] = "?";

	(void)l;
	if (s->n_sessions < s->o.max_sessions && !s->stopping) {
		smtpd_sess_new(s, fd, sa, salen);
		return;
	}
	if (sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((struct sockaddr_in *)sa)->sin_addr, addr, sizeof(addr));
	else if (sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)sa)->sin6_addr, addr, sizeof(addr));
	DG_LOG(s->log, DG_LOG_WARN, "smtpd reject addr=%s reply=421 reason=\"session limit %zu\"",
	       addr, s->o.max_sessions);
	/* best effort, non-blocking: a full socket buffer just loses the 421 */
	(void)!send(fd, busy, sizeof(busy) - 1, MSG_DONTWAIT | MSG_NOSIGNAL);
	evutil_closesocket(fd);
}

static struct timeval smtpd_tv(unsigned ms)
{
	struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000};

	return tv;
}

static void smtpd_set_timeouts(struct smtpd_sess *ss)
{
	struct timeval tv = smtpd_tv(ss->srv->o.timeout_ms);

	bufferevent_set_timeouts(ss->bev, &tv, &tv);
}

static void smtpd_sess_new(struct dg_relay_smtpd *s, evutil_socket_t fd, const struct sockaddr *sa,
                           int salen)
{
	struct smtpd_sess *ss = dg_xcalloc(1, sizeof(*ss));
	uint16_t port = 0;

	ss->srv = s;
	snprintf(ss->id, sizeof(ss->id), "%08x", (unsigned)s->next_id++);
	memcpy(&ss->peer, sa, (size_t)salen < sizeof(ss->peer) ? (size_t)salen : sizeof(ss->peer));
	if (sa->sa_family == AF_INET) {
		inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, ss->addr,
		          sizeof(ss->addr));
		port = ntohs(((const struct sockaddr_in *)sa)->sin_port);
	} else if (sa->sa_family == AF_INET6) {
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, ss->addr,
		          sizeof(ss->addr));
		port = ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);
	} else {
		snprintf(ss->addr, sizeof(ss->addr), "local");
	}
	ss->rcpt = dg_xcalloc(s->o.max_rcpts, sizeof(*ss->rcpt));
	dg_buf_init(&ss->body, 0);
	ss->bev = bufferevent_socket_new(s->base, fd, BEV_OPT_CLOSE_ON_FREE);
	ss->close_ev = event_new(s->base, -1, 0, smtpd_close_cb, ss);
	if (ss->bev == NULL || ss->close_ev == NULL)
		DG_PANIC("relay smtpd: bufferevent_socket_new/event_new failed");
	ss->next = s->sessions;
	if (s->sessions != NULL)
		s->sessions->prev = ss;
	s->sessions = ss;
	s->n_sessions++;
	/* never an open relay: no callback means nobody may relay */
	ss->allowed = s->o.allow != NULL && s->o.allow(s->o.allow_arg, sa, NULL);
	DG_LOG(s->log, DG_LOG_INFO, "%s smtpd connect addr=%s port=%u allowed=%s", ss->id, ss->addr,
	       (unsigned)port, ss->allowed ? "yes" : "no");
	bufferevent_setcb(ss->bev, smtpd_read_cb, smtpd_write_cb, smtpd_event_cb, ss);
	smtpd_set_timeouts(ss);
	bufferevent_enable(ss->bev, EV_READ | EV_WRITE);
	smtpd_greet(ss);
}

static void smtpd_sess_free(struct smtpd_sess *ss)
{
	struct dg_relay_smtpd *s = ss->srv;

	DG_LOG(s->log, DG_LOG_INFO, "%s smtpd disconnect addr=%s reason=%s queued=%zu", ss->id,
	       ss->addr, ss->close_reason ? ss->close_reason : "closed", ss->n_queued);
	if (ss->prev != NULL)
		ss->prev->next = ss->next;
	else
		s->sessions = ss->next;
	if (ss->next != NULL)
		ss->next->prev = ss->prev;
	s->n_sessions--;
	event_free(ss->close_ev);
	if (ss->bev != NULL) {
		struct bufferevent *under = bufferevent_get_underlying(ss->bev);

		if (under != NULL)
			evbuffer_remove_cb(bufferevent_get_output(under), smtpd_under_cb, ss);
		bufferevent_free(ss->bev); /* a TLS filter also frees its SSL and socket bev */
	}
	dg_buf_cleanup(&ss->body);
	free(ss->rcpt);
	free(ss);
}

void smtpd_reply(struct smtpd_sess *ss, unsigned code, const char *status, const char *fmt, ...)
{
	struct evbuffer *out = bufferevent_get_output(ss->bev);
	va_list ap;

	if (ss->state == SMTPD_ST_DEAD)
		return;
	if (status != NULL && status[0] != '\0')
		evbuffer_add_printf(out, "%u %s ", code, status);
	else
		evbuffer_add_printf(out, "%u ", code);
	va_start(ap, fmt);
	evbuffer_add_vprintf(out, fmt, ap);
	va_end(ap);
	evbuffer_add(out, "\r\n", 2);
}

/* Everything written, including what a TLS filter handed to the socket bev? */
static bool smtpd_flushed(struct smtpd_sess *ss)
{
	struct bufferevent *under = bufferevent_get_underlying(ss->bev);

	return evbuffer_get_length(bufferevent_get_output(ss->bev)) == 0 &&
	       (under == NULL || evbuffer_get_length(bufferevent_get_output(under)) == 0);
}

/* CLOSING: flushed, or the write timeout passed. Runs from the loop (STYLE.md 5). */
static void smtpd_close_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	smtpd_sess_free(arg);
}

/* The socket bev under a TLS filter sent some bytes: free the session once it is empty. */
static void smtpd_under_cb(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
	struct smtpd_sess *ss = arg;

	if (info->n_deleted > 0 && evbuffer_get_length(buf) == 0 && ss->state == SMTPD_ST_CLOSING &&
	    smtpd_flushed(ss))
		event_active(ss->close_ev, EV_TIMEOUT, 0);
}

/*
 * After the protocol code ran: free a DEAD session, start flushing a CLOSING one, drop a
 * client whose unread replies exceed the cap. Must be the last use of @p ss by a callback.
 */
static void smtpd_settle(struct smtpd_sess *ss)
{
	size_t pending = evbuffer_get_length(bufferevent_get_output(ss->bev));
	struct bufferevent *under;
	struct timeval tv;

	if (ss->state != SMTPD_ST_DEAD && pending > ss->srv->o.max_output_bytes) {
		DG_LOG(ss->srv->log, DG_LOG_WARN,
		       "%s smtpd reject addr=%s reason=\"%zu bytes of replies unread\"", ss->id,
		       ss->addr, pending);
		ss->state = SMTPD_ST_DEAD;
		ss->close_reason = "output-overflow";
	}
	if (ss->state == SMTPD_ST_DEAD) {
		smtpd_sess_free(ss);
		return;
	}
	if (ss->state != SMTPD_ST_CLOSING)
		return;
	if (smtpd_flushed(ss)) {
		smtpd_sess_free(ss);
		return;
	}
	if (event_pending(ss->close_ev, EV_TIMEOUT, NULL))
		return;
	/* first time: stop reading, arm the backstop, watch the socket bev under TLS */
	bufferevent_disable(ss->bev, EV_READ);
	tv = smtpd_tv(ss->srv->o.timeout_ms);
	event_add(ss->close_ev, &tv);
	if ((under = bufferevent_get_underlying(ss->bev)) != NULL)
		evbuffer_add_cb(bufferevent_get_output(under), smtpd_under_cb, ss);
}

static void smtpd_read_cb(struct bufferevent *bev, void *arg)
{
	struct smtpd_sess *ss = arg;

	(void)bev;
	smtpd_input(ss);
	smtpd_settle(ss);
}

static void smtpd_write_cb(struct bufferevent *bev, void *arg)
{
	struct smtpd_sess *ss = arg;

	(void)bev;
	if (ss->state == SMTPD_ST_CLOSING)
		smtpd_settle(ss);
}

static void smtpd_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct smtpd_sess *ss = arg;
	unsigned long e;

	(void)bev;
	if ((what & BEV_EVENT_CONNECTED) && ss->state == SMTPD_ST_TLS) {
		smtpd_after_tls(ss);
		smtpd_input(ss); /* bytes that came with the handshake's last flight */
		smtpd_settle(ss);
		return;
	}
	if ((what & BEV_EVENT_TIMEOUT) && ss->state != SMTPD_ST_CLOSING) {
		DG_LOG(ss->srv->log, DG_LOG_INFO, "%s smtpd timeout addr=%s state=%s", ss->id,
		       ss->addr,
		       ss->state == SMTPD_ST_DATA  ? "DATA"
		       : ss->state == SMTPD_ST_TLS ? "TLS"
		                                   : "command");
		ss->close_reason = "timeout";
		if (ss->state == SMTPD_ST_TLS) {
			ss->state = SMTPD_ST_DEAD;
		} else {
			smtpd_reply(ss, 421, "4.4.2", "%s timeout exceeded, closing",
			            ss->srv->hostname);
			ss->state = SMTPD_ST_CLOSING;
			bufferevent_enable(ss->bev, EV_WRITE); /* the timeout disabled one side */
		}
		smtpd_settle(ss);
		return;
	}
	if (what & BEV_EVENT_ERROR) {
		e = bufferevent_get_openssl_error(ss->bev);
		if (ss->state == SMTPD_ST_TLS || e != 0) {
			char buf[256] = "handshake aborted";

			if (e != 0)
				ERR_error_string_n(e, buf, sizeof(buf));
			DG_LOG(ss->srv->log, DG_LOG_INFO,
			       "%s smtpd tls-failed addr=%s reason=\"%s\"", ss->id, ss->addr, buf);
			ss->close_reason = "tls-failed";
		} else if (ss->close_reason == NULL) {
			ss->close_reason = "error";
		}
	} else if (ss->close_reason == NULL) {
		ss->close_reason = ss->state == SMTPD_ST_DATA ? "eof-in-data" : "eof";
	}
	ss->state = SMTPD_ST_DEAD;
	smtpd_settle(ss);
}

/* Request a client certificate but accept any: allow() judges it (by fingerprint). */
static int smtpd_verify_accept(int ok, X509_STORE_CTX *ctx)
{
	(void)ok;
	(void)ctx;
	return 1;
}

/*
 * The "220 Ready" reply is queued; stack an OpenSSL filter on the socket bev. The socket
 * bev writes the 220 before the handshake's bytes (same output buffer, in order).
 */
void smtpd_starttls(struct smtpd_sess *ss)
{
	SSL *ssl = SSL_new(ss->srv->o.tls);
	struct bufferevent *filter;

	if (ssl == NULL) {
		DG_LOG(ss->srv->log, DG_LOG_ERROR, "%s smtpd SSL_new failed", ss->id);
		ss->state = SMTPD_ST_DEAD;
		ss->close_reason = "tls-failed";
		return;
	}
	SSL_set_verify(ssl, SSL_VERIFY_PEER, smtpd_verify_accept);
	filter =
	    bufferevent_openssl_filter_new(ss->srv->base, ss->bev, ssl, BUFFEREVENT_SSL_ACCEPTING,
	                                   BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
	if (filter == NULL)
		DG_PANIC("relay smtpd %s: bufferevent_openssl_filter_new failed", ss->id);
	bufferevent_openssl_set_allow_dirty_shutdown(filter, 1);
	ss->bev = filter;
	ss->state = SMTPD_ST_TLS;
	bufferevent_setcb(ss->bev, smtpd_read_cb, smtpd_write_cb, smtpd_event_cb, ss);
	smtpd_set_timeouts(ss);
	bufferevent_enable(ss->bev, EV_READ | EV_WRITE);
}

void dg_relay_smtpd_stop_accepting(struct dg_relay_smtpd *s)
{
	struct smtpd_sess *ss, *next;

	for (size_t i = 0; i < s->n_lis; i++)
		evconnlistener_free(s->lis[i]);
	s->n_lis = 0;
	if (!s->stopping)
		DG_LOG(s->log, DG_LOG_INFO, "smtpd stop-accepting sessions=%zu", s->n_sessions);
	s->stopping = true;
	for (ss = s->sessions; ss != NULL; ss = next) {
		next = ss->next;
		ss->draining = true;
		if (ss->state != SMTPD_ST_CMD || ss->mail)
			continue; /* finishes its transaction or handshake first */
		smtpd_reply(ss, 421, "4.3.2", "%s shutting down", s->hostname);
		ss->state = SMTPD_ST_CLOSING;
		ss->close_reason = "shutdown";
		smtpd_settle(ss);
	}
}

size_t dg_relay_smtpd_sessions(const struct dg_relay_smtpd *s)
{
	return s->n_sessions;
}

void dg_relay_smtpd_free(struct dg_relay_smtpd *s)
{
	if (s == NULL)
		return;
	for (size_t i = 0; i < s->n_lis; i++)
		evconnlistener_free(s->lis[i]);
	while (s->sessions != NULL) {
		s->sessions->close_reason = "shutdown";
		smtpd_sess_free(s->sessions);
	}
	free(s->hostname);
	free(s);
}
