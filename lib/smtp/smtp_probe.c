/*
 * smtp_probe.c - lifecycle of the SMTP STARTTLS probe: options, start,
 * cancel, the final result and the transcript.
 *
 * Public: dg_smtp_probe_opts_init, dg_smtp_probe_start, dg_smtp_probe_cancel,
 * dg_smtp_probe_result_take_chain, dg_smtp_probe_result_take_transcript,
 * dg_smtp_probe_outcome_str, dg_smtp_probe_stage_str.
 * Private (smtp_int.h): dg_smtp_probe_enter/leave (callback bracketing),
 * dg_smtp_probe_finish (the one place a result is delivered),
 * dg_smtp_probe_note (transcript and trace lines).
 *
 * Ownership: a probe owns copies of its option strings, its events, parser,
 * transcript buffer, bufferevents, SSL and an up-ref of the SSL_CTX, and
 * the result (banner, chain, transcript). It frees itself after delivering
 * the result, or in dg_smtp_probe_cancel(); when that happens inside one of
 * its own callbacks it is only marked closing and freed when the outermost
 * callback returns (STYLE.md section 5, as in OpenSMTPD mta_session.c).
 * The state machine itself is in smtp_session.c. SPEC TLS-1, TLS-3, TLS-4.
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
	PROBE_HELO_MAX = 255, /* longest EHLO argument accepted */
	PROBE_NOTE_MAX = 1024 /* longest transcript line (escaped) */
};

/* Defaults of struct dg_smtp_probe_opts (STYLE.md section 6: one table). */
static const struct dg_smtp_probe_opts probe_defaults = {
    .addr = NULL,
    .port = 25,
    .sni = NULL,
    .helo = "localhost",
    .keytype = DG_SMTP_KEY_ANY,
    .ssl_ctx = NULL,
    .connect_timeout_ms = DG_SMTP_PROBE_CONNECT_TIMEOUT_MS,
    .banner_timeout_ms = DG_SMTP_PROBE_BANNER_TIMEOUT_MS,
    .cmd_timeout_ms = DG_SMTP_PROBE_CMD_TIMEOUT_MS,
    .tls_timeout_ms = DG_SMTP_PROBE_TLS_TIMEOUT_MS,
    .quit_timeout_ms = DG_SMTP_PROBE_QUIT_TIMEOUT_MS,
    .total_timeout_ms = DG_SMTP_PROBE_TOTAL_TIMEOUT_MS,
    .transcript = false,
    .log_id = NULL,
    .log = NULL,
};

static const char *const probe_outcome_names[] = {
    [DG_SMTP_PROBE_TLS_OK] = "tls-ok",
    [DG_SMTP_PROBE_CONNECT_FAILED] = "connect-failed",
    [DG_SMTP_PROBE_TIMEOUT] = "timeout",
    [DG_SMTP_PROBE_REJECTED] = "rejected",
    [DG_SMTP_PROBE_NO_STARTTLS] = "no-starttls",
    [DG_SMTP_PROBE_STARTTLS_REFUSED] = "starttls-refused",
    [DG_SMTP_PROBE_TLS_FAILED] = "tls-failed",
    [DG_SMTP_PROBE_PROTOCOL] = "protocol-error",
};

static const char *const probe_stage_names[] = {
    [DG_SMTP_STAGE_CONNECT] = "connect",   [DG_SMTP_STAGE_BANNER] = "banner",
    [DG_SMTP_STAGE_EHLO] = "ehlo",         [DG_SMTP_STAGE_HELO] = "helo",
    [DG_SMTP_STAGE_STARTTLS] = "starttls", [DG_SMTP_STAGE_TLS_HANDSHAKE] = "tls-handshake",
    [DG_SMTP_STAGE_EHLO_TLS] = "ehlo-tls", [DG_SMTP_STAGE_QUIT] = "quit",
    [DG_SMTP_STAGE_DONE] = "done",
};

static enum dg_status probe_check_opts(const struct dg_smtp_probe_opts *o, struct dg_err *err);
static enum dg_status probe_parse_addr(struct dg_smtp_probe *p, const char *addr, uint16_t port,
                                       struct dg_err *err);
static bool probe_helo_ok(const char *helo);
static void probe_copy_opts(struct dg_smtp_probe *p, const struct dg_smtp_probe_opts *o);
static enum dg_status probe_alloc_resources(struct dg_smtp_probe *p, SSL_CTX *ctx,
                                            struct dg_err *err);
static void probe_free(struct dg_smtp_probe *p);
static unsigned probe_pick(unsigned v, unsigned dflt);
static const char *probe_note_key(const char *prefix);

void dg_smtp_probe_opts_init(struct dg_smtp_probe_opts *o)
{
	*o = probe_defaults;
}

const char *dg_smtp_probe_outcome_str(enum dg_smtp_probe_outcome outcome)
{
	if ((unsigned)outcome >= sizeof(probe_outcome_names) / sizeof(probe_outcome_names[0]))
		return "unknown";
	return probe_outcome_names[outcome];
}

const char *dg_smtp_probe_stage_str(enum dg_smtp_probe_stage stage)
{
	if ((unsigned)stage >= sizeof(probe_stage_names) / sizeof(probe_stage_names[0]))
		return "unknown";
	return probe_stage_names[stage];
}

STACK_OF(X509) *dg_smtp_probe_result_take_chain(struct dg_smtp_probe_result *res)
{
	STACK_OF(X509) *chain = res->chain;

	res->chain = NULL;
	return chain;
}

char *dg_smtp_probe_result_take_transcript(struct dg_smtp_probe_result *res)
{
	char *t = res->transcript;

	res->transcript = NULL;
	return t;
}

/* A HELO argument goes on the wire: printable ASCII, no space, no CR/LF. */
static bool probe_helo_ok(const char *helo)
{
	size_t n = strlen(helo);

	if (n == 0 || n > PROBE_HELO_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)helo[i] <= ' ' || (unsigned char)helo[i] >= 0x7f)
			return false;
	return true;
}

/* Validate everything that does not need allocation. */
static enum dg_status probe_check_opts(const struct dg_smtp_probe_opts *o, struct dg_err *err)
{
	char shown[80];
	struct dg_err nerr;

	if (o->addr == NULL)
		return dg_err_set(err, DG_E_CONFIG, "smtp probe: no server address given");
	if (o->port == 0)
		return dg_err_set(err, DG_E_CONFIG, "smtp probe %s: port 0", o->addr);
	if (o->helo == NULL || !probe_helo_ok(o->helo))
		return dg_err_set(err, DG_E_CONFIG, "smtp probe %s: bad EHLO name \"%s\"", o->addr,
		                  o->helo == NULL ? "(null)"
		                                  : dg_str_escape(shown, sizeof(shown), o->helo,
		                                                  strlen(o->helo)));
	if (o->sni != NULL && !dg_name_is_valid(o->sni, &nerr))
		return dg_err_set(err, DG_E_CONFIG, "smtp probe %s: bad SNI name: %s", o->addr,
		                  nerr.msg);
	if (o->keytype != DG_SMTP_KEY_ANY && o->keytype != DG_SMTP_KEY_ECDSA &&
	    o->keytype != DG_SMTP_KEY_RSA)
		return dg_err_set(err, DG_E_CONFIG, "smtp probe %s: unknown key type %d", o->addr,
		                  (int)o->keytype);
	return DG_OK;
}

/* Parse a numeric address (never a DNS lookup) and format res.peer. */
static enum dg_status probe_parse_addr(struct dg_smtp_probe *p, const char *addr, uint16_t port,
                                       struct dg_err *err)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)&p->sa;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&p->sa;
	char shown[64];

	memset(&p->sa, 0, sizeof(p->sa));
	if (inet_pton(AF_INET, addr, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		p->salen = sizeof(*sin);
		snprintf(p->res.peer, sizeof(p->res.peer), "%s:%u", addr, (unsigned)port);
		return DG_OK;
	}
	if (inet_pton(AF_INET6, addr, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		p->salen = sizeof(*sin6);
		snprintf(p->res.peer, sizeof(p->res.peer), "[%s]:%u", addr, (unsigned)port);
		return DG_OK;
	}
	return dg_err_set(err, DG_E_CONFIG,
	                  "smtp probe: \"%s\" is not a numeric IPv4 or IPv6 address",
	                  dg_str_escape(shown, sizeof(shown), addr, strlen(addr)));
}

static unsigned probe_pick(unsigned v, unsigned dflt)
{
	return v != 0 ? v : dflt;
}

/* Copy strings, deadlines and flags out of the caller's options. */
static void probe_copy_opts(struct dg_smtp_probe *p, const struct dg_smtp_probe_opts *o)
{
	static unsigned long counter;

	p->helo = dg_xstrdup(o->helo);
	p->sni = o->sni != NULL ? dg_xstrdup(o->sni) : NULL;
	p->keytype = o->keytype;
	p->log = o->log;
	p->want_transcript = o->transcript;
	if (o->log_id != NULL)
		snprintf(p->id, sizeof(p->id), "%s", o->log_id);
	else
		snprintf(p->id, sizeof(p->id), "probe%08lx", ++counter);
	p->tmo_ms[DG_SMTP_STAGE_CONNECT] =
	    probe_pick(o->connect_timeout_ms, DG_SMTP_PROBE_CONNECT_TIMEOUT_MS);
	p->tmo_ms[DG_SMTP_STAGE_BANNER] =
	    probe_pick(o->banner_timeout_ms, DG_SMTP_PROBE_BANNER_TIMEOUT_MS);
	p->tmo_ms[DG_SMTP_STAGE_EHLO] = probe_pick(o->cmd_timeout_ms, DG_SMTP_PROBE_CMD_TIMEOUT_MS);
	p->tmo_ms[DG_SMTP_STAGE_HELO] = p->tmo_ms[DG_SMTP_STAGE_EHLO];
	p->tmo_ms[DG_SMTP_STAGE_STARTTLS] = p->tmo_ms[DG_SMTP_STAGE_EHLO];
	p->tmo_ms[DG_SMTP_STAGE_EHLO_TLS] = p->tmo_ms[DG_SMTP_STAGE_EHLO];
	p->tmo_ms[DG_SMTP_STAGE_TLS_HANDSHAKE] =
	    probe_pick(o->tls_timeout_ms, DG_SMTP_PROBE_TLS_TIMEOUT_MS);
	p->tmo_ms[DG_SMTP_STAGE_QUIT] =
	    probe_pick(o->quit_timeout_ms, DG_SMTP_PROBE_QUIT_TIMEOUT_MS);
	p->total_ms = probe_pick(o->total_timeout_ms, DG_SMTP_PROBE_TOTAL_TIMEOUT_MS);
}

/* Create the parser, the transcript buffer and the SSL_CTX reference. */
static enum dg_status probe_alloc_resources(struct dg_smtp_probe *p, SSL_CTX *ctx,
                                            struct dg_err *err)
{
	dg_smtp_reply_parser_init(&p->parser, NULL); /* cleanup is safe from here on */
	dg_buf_init(&p->transcript, DG_SMTP_PROBE_TRANSCRIPT_MAX);
	if (ctx != NULL) {
		if (SSL_CTX_up_ref(ctx) != 1)
			return dg_err_set(err, DG_E_INTERNAL,
			                  "smtp probe %s: SSL_CTX_up_ref failed", p->res.peer);
		p->ssl_ctx = ctx;
	} else {
		p->ssl_ctx = dg_smtp_tls_ctx_new(err);
		if (p->ssl_ctx == NULL)
			return DG_E_TLS;
	}
	return DG_OK;
}

enum dg_status dg_smtp_probe_start(struct event_base *base, const struct dg_smtp_probe_opts *opts,
                                   dg_smtp_probe_cb *cb, void *arg, struct dg_smtp_probe **out,
                                   struct dg_err *err)
{
	struct dg_smtp_probe *p;
	enum dg_status st;

	*out = NULL;
	if (base == NULL || cb == NULL)
		return dg_err_set(err, DG_E_CONFIG, "smtp probe: no event base or callback");
	st = probe_check_opts(opts, err);
	if (st != DG_OK)
		return st;
	p = dg_xcalloc(1, sizeof(*p));
	p->base = base;
	p->cb = cb;
	p->arg = arg;
	p->start_ms = dg_clock_mono_ms();
	p->state = DG_SMTP_STAGE_CONNECT;
	st = probe_parse_addr(p, opts->addr, opts->port, err);
	if (st != DG_OK)
		goto fail;
	probe_copy_opts(p, opts);
	st = probe_alloc_resources(p, opts->ssl_ctx, err);
	if (st != DG_OK)
		goto fail;
	st = dg_smtp_session_begin(p, err);
	if (st != DG_OK)
		goto fail;
	*out = p;
	return DG_OK;
fail:
	probe_free(p);
	return st;
}

void dg_smtp_probe_cancel(struct dg_smtp_probe *p)
{
	if (p == NULL)
		return;
	p->cancelled = true;
	p->closing = true;
	if (p->in_cb == 0)
		probe_free(p);
}

void dg_smtp_probe_enter(struct dg_smtp_probe *p)
{
	p->in_cb++;
}

void dg_smtp_probe_leave(struct dg_smtp_probe *p)
{
	if (p->in_cb == 0)
		DG_PANIC("smtp probe %s: unbalanced callback depth", p->id);
	p->in_cb--;
	if (p->in_cb == 0 && p->closing)
		probe_free(p);
}

/*
 * Deliver the result once: stop timers and I/O, fill outcome, stage and
 * reason ("<peer>: <what happened>"), call the user, then mark the probe
 * closing so the outermost dg_smtp_probe_leave() frees it.
 */
void dg_smtp_probe_finish(struct dg_smtp_probe *p, enum dg_smtp_probe_outcome outcome,
                          const char *fmt, ...)
{
	char what[DG_ERR_MSG_MAX];
	va_list ap;

	if (p->finished)
		return;
	if (p->in_cb == 0)
		DG_PANIC("smtp probe %s: finish outside a callback", p->id);
	p->finished = true;
	event_del(p->ev_stage);
	event_del(p->ev_total);
	if (p->bev != NULL)
		bufferevent_disable(p->bev, EV_READ | EV_WRITE);
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	p->res.outcome = outcome;
	p->res.stage = p->state;
	if (snprintf(p->res.reason, sizeof(p->res.reason), "%s: %s", p->res.peer, what) >=
	    (int)sizeof(p->res.reason))
		memcpy(p->res.reason + sizeof(p->res.reason) - 4, "...", 4); /* mark the cut */
	p->res.total_ms = dg_clock_mono_ms() - p->start_ms;
	if (p->want_transcript)
		p->res.transcript = dg_buf_take(&p->transcript);
	DG_LOG(p->log, DG_LOG_DEBUG,
	       "%s smtp addr=%s stage=%s result=%s tls=%s ms=%llu reason=\"%s\"", p->id,
	       p->res.peer, dg_smtp_probe_stage_str(p->state), dg_smtp_probe_outcome_str(outcome),
	       p->res.tls_done ? p->res.tls_version : "none", (unsigned long long)p->res.total_ms,
	       what);
	if (!p->cancelled)
		p->cb(p->arg, &p->res);
	p->closing = true;
}

/* Log key of a transcript prefix: "C" -> send, "S" -> recv, "TLS" -> tls. */
static const char *probe_note_key(const char *prefix)
{
	if (strcmp(prefix, "C") == 0)
		return "send";
	if (strcmp(prefix, "S") == 0)
		return "recv";
	if (strcmp(prefix, "TLS") == 0)
		return "tls";
	return "event";
}

/*
 * Record one transcript line ("C: EHLO x", "S: 250 ok", "TLS: ...") and
 * trace it. @p text is escaped; once a line would pass the cap, the
 * transcript ends with a marker line and later lines are dropped.
 */
void dg_smtp_probe_note(struct dg_smtp_probe *p, const char *prefix, const char *text)
{
	static const char marker[] = "... transcript truncated\n";
	char esc[PROBE_NOTE_MAX];
	char line[PROBE_NOTE_MAX + 16];
	int n;

	dg_str_escape(esc, sizeof(esc), text, strlen(text));
	DG_TRACE(p->log, strcmp(prefix, "TLS") == 0 ? DG_LOG_TRACE_TLS : DG_LOG_TRACE_SMTP,
	         "%s smtp addr=%s state=%s %s=\"%s\"", p->id, p->res.peer,
	         dg_smtp_probe_stage_str(p->state), probe_note_key(prefix), esc);
	if (!p->want_transcript || p->transcript_full)
		return;
	n = snprintf(line, sizeof(line), "%s: %s\n", prefix, esc);
	if (n < 0)
		return;
	if (dg_buf_len(&p->transcript) + (size_t)n + sizeof(marker) >
	    DG_SMTP_PROBE_TRANSCRIPT_MAX) {
		p->transcript_full = true;
		(void)dg_buf_append_str(&p->transcript, marker);
		return;
	}
	(void)dg_buf_append_str(&p->transcript, line);
}

/* Release everything in reverse order of creation. */
static void probe_free(struct dg_smtp_probe *p)
{
	if (p->ssl != NULL)
		SSL_free(p->ssl); /* only while no TLS filter has taken it */
	if (p->bev != NULL)
		bufferevent_free(p->bev); /* a TLS filter also frees its SSL and socket bev */
	if (p->ev_ack != NULL)
		event_free(p->ev_ack);
	if (p->ev_defer != NULL)
		event_free(p->ev_defer);
	if (p->ev_stage != NULL)
		event_free(p->ev_stage);
	if (p->ev_total != NULL)
		event_free(p->ev_total);
	SSL_CTX_free(p->ssl_ctx);
	dg_buf_cleanup(&p->transcript);
	dg_smtp_reply_parser_cleanup(&p->parser);
	free(p->res.banner);
	if (p->res.chain != NULL)
		sk_X509_pop_free(p->res.chain, X509_free);
	free(p->res.transcript);
	free(p->sni);
	free(p->helo);
	free(p);
}
