/*
 * smtp_deliver.c - lifecycle of the SMTP delivery client: options, start,
 * next, close, cancel, per-message results.
 *
 * Public: dg_smtp_deliver_opts_init, dg_smtp_deliver_start,
 * dg_smtp_deliver_next, dg_smtp_deliver_close, dg_smtp_deliver_cancel,
 * dg_smtp_deliver_stage_str, dg_smtp_deliver_outcome_str.
 * Private (smtp_int.h): dg_smtp_deliver_enter/leave (callback bracketing),
 * dg_smtp_deliver_msg_begin/msg_done (the one place a message result is
 * delivered), the recipient reply helpers.
 *
 * Ownership: a connection owns copies of its option strings, its events,
 * parser, bufferevents, SSL, an up-ref of the SSL_CTX and the per-message
 * arrays; envelopes are borrowed until their callback returns. The result
 * handed to a callback is a copy whose recipient array is freed when the
 * callback returns, so dg_smtp_deliver_next() may run inside it. After
 * HOST_FAILED the connection frees itself once the callback returns; after
 * DONE the caller keeps it. Release inside one of its own callbacks only
 * marks it closing; the outermost callback frees it (STYLE.md section 5).
 * The state machine is in smtp_deliver_session.c, the I/O in
 * smtp_deliver_io.c. SPEC TLS-1, FAIL-1, FAIL-4 (each result logged with
 * its TLS state and the remote reply).
 */
#include "smtp/smtp_int.h"

#include <arpa/inet.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <netinet/in.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
	DELIVER_HELO_MAX = 255, /* longest EHLO argument accepted */
	DELIVER_SHOW = 160      /* bytes of a reply line quoted in a reason */
};

/* Defaults of struct dg_smtp_deliver_opts (STYLE.md section 6: one table). */
static const struct dg_smtp_deliver_opts deliver_defaults = {
    .addr = NULL,
    .port = 25,
    .sni = NULL,
    .helo = "localhost",
    .tls = DG_SMTP_TLS_MAY,
    .ssl_ctx = NULL,
    .verify = NULL,
    .verify_arg = NULL,
    .connect_timeout_ms = DG_SMTP_DELIVER_CONNECT_TIMEOUT_MS,
    .banner_timeout_ms = DG_SMTP_DELIVER_BANNER_TIMEOUT_MS,
    .ehlo_timeout_ms = DG_SMTP_DELIVER_EHLO_TIMEOUT_MS,
    .tls_timeout_ms = DG_SMTP_DELIVER_TLS_TIMEOUT_MS,
    .mail_timeout_ms = DG_SMTP_DELIVER_MAIL_TIMEOUT_MS,
    .rcpt_timeout_ms = DG_SMTP_DELIVER_RCPT_TIMEOUT_MS,
    .data_timeout_ms = DG_SMTP_DELIVER_DATA_TIMEOUT_MS,
    .data_block_timeout_ms = DG_SMTP_DELIVER_DATA_BLOCK_TIMEOUT_MS,
    .data_done_timeout_ms = DG_SMTP_DELIVER_DATA_DONE_TIMEOUT_MS,
    .quit_timeout_ms = DG_SMTP_DELIVER_QUIT_TIMEOUT_MS,
    .log_id = NULL,
    .log = NULL,
};

static const char *const deliver_stage_names[] = {
    [DG_SMTP_DELIVER_STAGE_CONNECT] = "connect",
    [DG_SMTP_DELIVER_STAGE_BANNER] = "banner",
    [DG_SMTP_DELIVER_STAGE_EHLO] = "ehlo",
    [DG_SMTP_DELIVER_STAGE_HELO] = "helo",
    [DG_SMTP_DELIVER_STAGE_STARTTLS] = "starttls",
    [DG_SMTP_DELIVER_STAGE_TLS_HANDSHAKE] = "tls-handshake",
    [DG_SMTP_DELIVER_STAGE_EHLO_TLS] = "ehlo-tls",
    [DG_SMTP_DELIVER_STAGE_RSET] = "rset",
    [DG_SMTP_DELIVER_STAGE_MAIL] = "mail",
    [DG_SMTP_DELIVER_STAGE_RCPT] = "rcpt",
    [DG_SMTP_DELIVER_STAGE_DATA] = "data",
    [DG_SMTP_DELIVER_STAGE_BODY] = "body",
    [DG_SMTP_DELIVER_STAGE_DATA_DONE] = "data-done",
    [DG_SMTP_DELIVER_STAGE_IDLE] = "idle",
    [DG_SMTP_DELIVER_STAGE_QUIT] = "quit",
    [DG_SMTP_DELIVER_STAGE_CLOSED] = "closed",
};

static bool deliver_word_ok(const char *s, size_t max);
static bool deliver_path_ok(const char *s, bool utf8, bool allow_empty);
static enum dg_status deliver_check_env(const struct dg_smtp_envelope *env, const char *who,
                                        struct dg_err *err);
static enum dg_status deliver_check_opts(const struct dg_smtp_deliver_opts *o, struct dg_err *err);
static enum dg_status deliver_parse_addr(struct dg_smtp_deliver *d, const char *addr, uint16_t port,
                                         struct dg_err *err);
static void deliver_copy_opts(struct dg_smtp_deliver *d, const struct dg_smtp_deliver_opts *o);
static unsigned deliver_pick(unsigned v, unsigned dflt);
static void deliver_set_env(struct dg_smtp_deliver *d, const struct dg_smtp_envelope *env,
                            dg_smtp_deliver_cb *cb, void *arg);
static void deliver_msg_free(struct dg_smtp_deliver *d);
static void deliver_free(struct dg_smtp_deliver *d);

void dg_smtp_deliver_opts_init(struct dg_smtp_deliver_opts *o)
{
	*o = deliver_defaults;
}

const char *dg_smtp_deliver_stage_str(enum dg_smtp_deliver_stage stage)
{
	if ((unsigned)stage >= sizeof(deliver_stage_names) / sizeof(deliver_stage_names[0]))
		return "unknown";
	return deliver_stage_names[stage];
}

const char *dg_smtp_deliver_outcome_str(enum dg_smtp_deliver_outcome outcome)
{
	switch (outcome) {
	case DG_SMTP_DELIVER_DONE: return "done";
	case DG_SMTP_DELIVER_HOST_FAILED: return "host-failed";
	}
	return "unknown";
}

/* A HELO argument goes on the wire: printable ASCII, no space, no CR/LF. */
static bool deliver_word_ok(const char *s, size_t max)
{
	size_t n = strlen(s);

	if (n == 0 || n > max)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] <= ' ' || (unsigned char)s[i] >= 0x7f)
			return false;
	return true;
}

/*
 * A path goes between <> on the wire (RFC 5321 4.1.2): no controls, no
 * space, no angle brackets; UTF-8 bytes only with SMTPUTF8 (RFC 6531).
 */
static bool deliver_path_ok(const char *s, bool utf8, bool allow_empty)
{
	size_t n = strlen(s);

	if (n > DG_SMTP_PATH_MAX || (n == 0 && !allow_empty))
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c <= ' ' || c == 0x7f || c == '<' || c == '>' || (c >= 0x80 && !utf8))
			return false;
	}
	return true;
}

static enum dg_status deliver_check_env(const struct dg_smtp_envelope *env, const char *who,
                                        struct dg_err *err)
{
	char shown[80];

	if (env == NULL || env->sender == NULL || env->rcpt == NULL || env->n_rcpt == 0)
		return dg_err_set(err, DG_E_CONFIG,
		                  "smtp deliver %s: envelope without sender or "
		                  "recipients",
		                  who);
	if (env->n_rcpt > DG_SMTP_DELIVER_RCPT_MAX)
		return dg_err_set(err, DG_E_CONFIG, "smtp deliver %s: %zu recipients, at most %d",
		                  who, env->n_rcpt, DG_SMTP_DELIVER_RCPT_MAX);
	if (env->body == NULL && env->body_len > 0)
		return dg_err_set(err, DG_E_CONFIG, "smtp deliver %s: no body bytes", who);
	if (!deliver_path_ok(env->sender, env->smtputf8, true))
		return dg_err_set(
		    err, DG_E_CONFIG, "smtp deliver %s: bad sender \"%s\"", who,
		    dg_str_escape(shown, sizeof(shown), env->sender, strlen(env->sender)));
	for (size_t i = 0; i < env->n_rcpt; i++)
		if (env->rcpt[i] == NULL || !deliver_path_ok(env->rcpt[i], env->smtputf8, false))
			return dg_err_set(err, DG_E_CONFIG,
			                  "smtp deliver %s: bad recipient %zu "
			                  "\"%s\"",
			                  who, i,
			                  env->rcpt[i] == NULL
			                      ? "(null)"
			                      : dg_str_escape(shown, sizeof(shown), env->rcpt[i],
			                                      strlen(env->rcpt[i])));
	return DG_OK;
}

/* Validate everything that does not need allocation. */
static enum dg_status deliver_check_opts(const struct dg_smtp_deliver_opts *o, struct dg_err *err)
{
	char shown[80];
	struct dg_err nerr;

	if (o == NULL || o->addr == NULL)
		return dg_err_set(err, DG_E_CONFIG, "smtp deliver: no server address given");
	if (o->port == 0)
		return dg_err_set(err, DG_E_CONFIG, "smtp deliver %s: port 0", o->addr);
	if (o->helo == NULL || !deliver_word_ok(o->helo, DELIVER_HELO_MAX))
		return dg_err_set(err, DG_E_CONFIG, "smtp deliver %s: bad EHLO name \"%s\"",
		                  o->addr,
		                  o->helo == NULL ? "(null)"
		                                  : dg_str_escape(shown, sizeof(shown), o->helo,
		                                                  strlen(o->helo)));
	if (o->sni != NULL && !dg_name_is_valid(o->sni, &nerr))
		return dg_err_set(err, DG_E_CONFIG, "smtp deliver %s: bad SNI name: %s", o->addr,
		                  nerr.msg);
	if (o->tls != DG_SMTP_TLS_NONE && o->tls != DG_SMTP_TLS_MAY &&
	    o->tls != DG_SMTP_TLS_REQUIRE)
		return dg_err_set(err, DG_E_CONFIG, "smtp deliver %s: unknown TLS policy %d",
		                  o->addr, (int)o->tls);
	return DG_OK;
}

/* Parse a numeric address (never a DNS lookup) and format res.peer. */
static enum dg_status deliver_parse_addr(struct dg_smtp_deliver *d, const char *addr, uint16_t port,
                                         struct dg_err *err)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)&d->sa;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&d->sa;
	char shown[64];

	memset(&d->sa, 0, sizeof(d->sa));
	if (inet_pton(AF_INET, addr, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		d->salen = sizeof(*sin);
		snprintf(d->res.peer, sizeof(d->res.peer), "%s:%u", addr, (unsigned)port);
		return DG_OK;
	}
	if (inet_pton(AF_INET6, addr, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		d->salen = sizeof(*sin6);
		snprintf(d->res.peer, sizeof(d->res.peer), "[%s]:%u", addr, (unsigned)port);
		return DG_OK;
	}
	return dg_err_set(err, DG_E_CONFIG,
	                  "smtp deliver: \"%s\" is not a numeric IPv4 or IPv6 address",
	                  dg_str_escape(shown, sizeof(shown), addr, strlen(addr)));
}

static unsigned deliver_pick(unsigned v, unsigned dflt)
{
	return v != 0 ? v : dflt;
}

/* Copy strings, deadlines and the policy out of the caller's options. */
static void deliver_copy_opts(struct dg_smtp_deliver *d, const struct dg_smtp_deliver_opts *o)
{
	static unsigned long counter;
	unsigned *t = d->tmo_ms;

	d->helo = dg_xstrdup(o->helo);
	d->sni = o->sni != NULL ? dg_xstrdup(o->sni) : NULL;
	d->tls = o->tls;
	d->verify = o->verify;
	d->verify_arg = o->verify_arg;
	d->log = o->log;
	if (o->log_id != NULL)
		snprintf(d->id, sizeof(d->id), "%s", o->log_id);
	else
		snprintf(d->id, sizeof(d->id), "out%08lx", ++counter);
	t[DG_SMTP_DELIVER_STAGE_CONNECT] =
	    deliver_pick(o->connect_timeout_ms, DG_SMTP_DELIVER_CONNECT_TIMEOUT_MS);
	t[DG_SMTP_DELIVER_STAGE_BANNER] =
	    deliver_pick(o->banner_timeout_ms, DG_SMTP_DELIVER_BANNER_TIMEOUT_MS);
	t[DG_SMTP_DELIVER_STAGE_EHLO] =
	    deliver_pick(o->ehlo_timeout_ms, DG_SMTP_DELIVER_EHLO_TIMEOUT_MS);
	t[DG_SMTP_DELIVER_STAGE_HELO] = t[DG_SMTP_DELIVER_STAGE_EHLO];
	t[DG_SMTP_DELIVER_STAGE_STARTTLS] = t[DG_SMTP_DELIVER_STAGE_EHLO];
	t[DG_SMTP_DELIVER_STAGE_EHLO_TLS] = t[DG_SMTP_DELIVER_STAGE_EHLO];
	t[DG_SMTP_DELIVER_STAGE_RSET] = t[DG_SMTP_DELIVER_STAGE_EHLO];
	t[DG_SMTP_DELIVER_STAGE_TLS_HANDSHAKE] =
	    deliver_pick(o->tls_timeout_ms, DG_SMTP_DELIVER_TLS_TIMEOUT_MS);
	t[DG_SMTP_DELIVER_STAGE_MAIL] =
	    deliver_pick(o->mail_timeout_ms, DG_SMTP_DELIVER_MAIL_TIMEOUT_MS);
	t[DG_SMTP_DELIVER_STAGE_RCPT] =
	    deliver_pick(o->rcpt_timeout_ms, DG_SMTP_DELIVER_RCPT_TIMEOUT_MS);
	t[DG_SMTP_DELIVER_STAGE_DATA] =
	    deliver_pick(o->data_timeout_ms, DG_SMTP_DELIVER_DATA_TIMEOUT_MS);
	d->block_ms = deliver_pick(o->data_block_timeout_ms, DG_SMTP_DELIVER_DATA_BLOCK_TIMEOUT_MS);
	t[DG_SMTP_DELIVER_STAGE_BODY] = d->block_ms;
	t[DG_SMTP_DELIVER_STAGE_DATA_DONE] =
	    deliver_pick(o->data_done_timeout_ms, DG_SMTP_DELIVER_DATA_DONE_TIMEOUT_MS);
	t[DG_SMTP_DELIVER_STAGE_QUIT] =
	    deliver_pick(o->quit_timeout_ms, DG_SMTP_DELIVER_QUIT_TIMEOUT_MS);
}

/* Remember the next envelope and its callback (nothing is sent here). */
static void deliver_set_env(struct dg_smtp_deliver *d, const struct dg_smtp_envelope *env,
                            dg_smtp_deliver_cb *cb, void *arg)
{
	d->env = *env;
	d->cb = cb;
	d->arg = arg;
	d->msg_active = true;
}

/*
 * Reset the per-message state for d->env: recipient arrays, a local 451
 * per recipient until the server says otherwise, body scan (8-bit bytes and
 * the size on the wire, dot-stuffing and final CRLF included).
 */
void dg_smtp_deliver_msg_begin(struct dg_smtp_deliver *d)
{
	const uint8_t *b = d->env.body;
	size_t n = d->env.body_len;

	deliver_msg_free(d);
	d->res.rcpt = dg_xcalloc(d->env.n_rcpt, sizeof(*d->res.rcpt));
	d->res.n_rcpt = d->env.n_rcpt;
	d->accepted = dg_xcalloc(d->env.n_rcpt, sizeof(*d->accepted));
	d->answered = dg_xcalloc(d->env.n_rcpt, sizeof(*d->answered));
	d->res.reason[0] = '\0';
	d->res.last_reply[0] = '\0';
	d->rcpt_idx = 0;
	d->n_accepted = 0;
	d->mail_failed = false;
	d->pipelined = false;
	d->discard_data = false;
	d->body_off = 0;
	d->body_tail = false;
	d->eight_bit = false;
	d->wire_len = n + 3; /* ".\r\n" */
	if (n > 0 && !(n >= 2 && b[n - 2] == '\r' && b[n - 1] == '\n'))
		d->wire_len += 2;
	for (size_t i = 0; i < n; i++) {
		if (b[i] >= 0x80)
			d->eight_bit = true;
		if (b[i] == '.' && (i == 0 || b[i - 1] == '\n'))
			d->wire_len++;
	}
}

/* Free the per-message arrays. */
static void deliver_msg_free(struct dg_smtp_deliver *d)
{
	free(d->res.rcpt);
	free(d->accepted);
	free(d->answered);
	d->res.rcpt = NULL;
	d->res.n_rcpt = 0;
	d->accepted = NULL;
	d->answered = NULL;
}

void dg_smtp_deliver_rcpt_local(struct dg_smtp_rcpt_reply *rr, unsigned code, const char *status,
                                const char *text)
{
	rr->code = code;
	snprintf(rr->status, sizeof(rr->status), "%s", status);
	dg_str_escape(rr->text, sizeof(rr->text), text, strlen(text));
}

void dg_smtp_deliver_rcpt_remote(struct dg_smtp_rcpt_reply *rr, const struct dg_smtp_reply *r)
{
	const char *t = dg_smtp_reply_line_text(r, 0);

	rr->code = r->code;
	snprintf(rr->status, sizeof(rr->status), "%s", r->status_str);
	dg_str_escape(rr->text, sizeof(rr->text), t, strlen(t));
}

/* "550 5.1.1 no such user" (first line, escaped, shortened). */
const char *dg_smtp_deliver_reply_str(const struct dg_smtp_reply *r, char *buf, size_t size)
{
	char text[DELIVER_SHOW];

	dg_str_escape(text, sizeof(text), r->lines[0], strlen(r->lines[0]));
	snprintf(buf, size, "%u%s%s", r->code, text[0] != '\0' ? " " : "", text);
	return buf;
}

/*
 * Deliver the result of the current message once. DONE leaves the
 * connection IDLE (or dead) for the caller; HOST_FAILED marks it closing,
 * so the outermost dg_smtp_deliver_leave() frees it. The callback gets a
 * copy whose recipient array is freed when it returns.
 */
void dg_smtp_deliver_msg_done(struct dg_smtp_deliver *d, enum dg_smtp_deliver_outcome outcome,
                              const char *fmt, ...)
{
	struct dg_smtp_deliver_result res;
	char what[DG_ERR_MSG_MAX];
	size_t acc = 0;
	va_list ap;

	if (!d->msg_active)
		return;
	if (d->in_cb == 0)
		DG_PANIC("smtp deliver %s: result outside a callback", d->id);
	d->msg_active = false;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	d->res.outcome = outcome; /* res.stage was set by the session */
	if (snprintf(d->res.reason, sizeof(d->res.reason), "%s: %s", d->res.peer, what) >=
	    (int)sizeof(d->res.reason))
		memcpy(d->res.reason + sizeof(d->res.reason) - 4, "...", 4); /* mark the cut */
	d->res.reusable = outcome == DG_SMTP_DELIVER_DONE && !d->dead;
	for (size_t i = 0; i < d->res.n_rcpt; i++)
		acc += d->res.rcpt[i].code / 100 == 2;
	DG_LOG(d->log, DG_LOG_INFO,
	       "%s smtp-out addr=%s stage=%s result=%s tls=%s cipher=%s rcpts=%zu delivered=%zu "
	       "bytes=%zu reply=\"%s\" reason=\"%s\"",
	       d->id, d->res.peer, dg_smtp_deliver_stage_str(d->state),
	       dg_smtp_deliver_outcome_str(outcome), d->res.tls_done ? d->res.tls_version : "none",
	       d->res.tls_done ? d->res.cipher : "-", d->res.n_rcpt, acc, d->env.body_len,
	       d->res.last_reply, what);
	if (outcome == DG_SMTP_DELIVER_HOST_FAILED) {
		d->dead = true;
		d->closing = true; /* frees itself once the callback returns */
	}
	res = d->res;
	d->res.rcpt = NULL;
	d->res.n_rcpt = 0;
	free(d->accepted);
	free(d->answered);
	d->accepted = NULL;
	d->answered = NULL;
	if (!d->user_gone)
		d->cb(d->arg, &res);
	free(res.rcpt);
}

enum dg_status dg_smtp_deliver_start(struct event_base *base, const struct dg_smtp_deliver_opts *o,
                                     const struct dg_smtp_envelope *env, dg_smtp_deliver_cb *cb,
                                     void *arg, struct dg_smtp_deliver **out, struct dg_err *err)
{
	struct dg_smtp_deliver *d;
	enum dg_status st;

	*out = NULL;
	if (base == NULL || cb == NULL)
		return dg_err_set(err, DG_E_CONFIG, "smtp deliver: no event base or callback");
	st = deliver_check_opts(o, err);
	if (st == DG_OK)
		st = deliver_check_env(env, o->addr, err);
	if (st != DG_OK)
		return st;
	d = dg_xcalloc(1, sizeof(*d));
	d->base = base;
	d->state = DG_SMTP_DELIVER_STAGE_CONNECT;
	st = deliver_parse_addr(d, o->addr, o->port, err);
	if (st != DG_OK)
		goto fail;
	deliver_copy_opts(d, o);
	dg_smtp_reply_parser_init(&d->parser, NULL); /* cleanup is safe from here on */
	if (o->ssl_ctx != NULL) {
		if (SSL_CTX_up_ref(o->ssl_ctx) != 1) {
			st = dg_err_set(err, DG_E_INTERNAL,
			                "smtp deliver %s: SSL_CTX_up_ref failed", d->res.peer);
			goto fail;
		}
		d->ssl_ctx = o->ssl_ctx;
	} else if ((d->ssl_ctx = dg_smtp_tls_ctx_new(err)) == NULL) {
		st = DG_E_TLS;
		goto fail;
	}
	deliver_set_env(d, env, cb, arg);
	dg_smtp_deliver_msg_begin(d);
	st = dg_smtp_deliver_session_begin(d, err);
	if (st != DG_OK)
		goto fail;
	*out = d;
	return DG_OK;
fail:
	deliver_free(d);
	return st;
}

enum dg_status dg_smtp_deliver_next(struct dg_smtp_deliver *d, const struct dg_smtp_envelope *env,
                                    dg_smtp_deliver_cb *cb, void *arg, struct dg_err *err)
{
	enum dg_status st;

	if (d == NULL || cb == NULL)
		return dg_err_set(err, DG_E_CONFIG, "smtp deliver: no connection or callback");
	if (d->user_gone || d->closing || d->msg_active || d->state != DG_SMTP_DELIVER_STAGE_IDLE)
		return dg_err_set(err, DG_E_PROTO, "smtp deliver %s: connection is %s, not idle",
		                  d->res.peer,
		                  d->msg_active ? "busy" : dg_smtp_deliver_stage_str(d->state));
	st = deliver_check_env(env, d->res.peer, err);
	if (st != DG_OK)
		return st;
	deliver_set_env(d, env, cb, arg);
	dg_smtp_deliver_msg_begin(d); /* the last callback got its own copy of the result */
	dg_smtp_deliver_session_rset(d);
	return DG_OK;
}

void dg_smtp_deliver_close(struct dg_smtp_deliver *d)
{
	if (d == NULL)
		return;
	if (d->user_gone || d->closing || d->dead || d->msg_active ||
	    d->state != DG_SMTP_DELIVER_STAGE_IDLE) {
		dg_smtp_deliver_cancel(d);
		return;
	}
	d->user_gone = true;
	dg_smtp_deliver_session_quit(d); /* frees it when QUIT is answered or times out */
}

void dg_smtp_deliver_cancel(struct dg_smtp_deliver *d)
{
	if (d == NULL)
		return;
	d->user_gone = true;
	d->closing = true;
	if (d->in_cb == 0)
		deliver_free(d);
}

void dg_smtp_deliver_enter(struct dg_smtp_deliver *d)
{
	d->in_cb++;
}

void dg_smtp_deliver_leave(struct dg_smtp_deliver *d)
{
	if (d->in_cb == 0)
		DG_PANIC("smtp deliver %s: unbalanced callback depth", d->id);
	d->in_cb--;
	if (d->in_cb == 0 && d->closing)
		deliver_free(d);
}

/* Release everything in reverse order of creation. */
static void deliver_free(struct dg_smtp_deliver *d)
{
	dg_smtp_deliver_session_abort(d); /* drops queued references to a caller's body */
	if (d->ssl != NULL)
		SSL_free(d->ssl); /* only while no TLS filter has taken it */
	if (d->bev != NULL)
		bufferevent_free(d->bev); /* a TLS filter also frees its SSL and socket bev */
	if (d->ev_defer != NULL)
		event_free(d->ev_defer);
	if (d->ev_stage != NULL)
		event_free(d->ev_stage);
	SSL_CTX_free(d->ssl_ctx);
	dg_smtp_reply_parser_cleanup(&d->parser);
	deliver_msg_free(d);
	free(d->sni);
	free(d->helo);
	free(d);
}
