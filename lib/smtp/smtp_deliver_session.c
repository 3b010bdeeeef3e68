/*
 * smtp_deliver_session.c - the SMTP delivery client's state machine: what
 * each state sends and how each reply moves it on.
 *
 * Private (smtp_int.h): dg_smtp_deliver_state_enter, dg_smtp_deliver_response,
 * dg_smtp_deliver_fail, dg_smtp_deliver_fail_quit, dg_smtp_deliver_closed,
 * dg_smtp_deliver_session_rset (next message), dg_smtp_deliver_session_quit
 * (polite close). The I/O side (connect, TLS, body writing, reading,
 * deadlines) is in smtp_deliver_io.c.
 *
 * States are enum dg_smtp_deliver_stage: CONNECT -> BANNER -> EHLO (-> HELO
 * on 5xx, not under REQUIRE) -> [STARTTLS -> TLS_HANDSHAKE -> verify
 * callback -> EHLO_TLS] -> MAIL -> RCPT... -> DATA -> BODY -> DATA_DONE ->
 * IDLE, then RSET -> MAIL ... for each further message, and QUIT -> CLOSED.
 * dg_smtp_deliver_state_enter() enters a state (arms its deadline, sends
 * its command); dg_smtp_deliver_response() handles one complete reply
 * (STYLE.md section 6). With PIPELINING (RFC 2920) MAIL, every RCPT and DATA
 * leave in one write and the replies are matched in order; DATA is then
 * sent even if no RCPT succeeds, and its reply is ignored (a 354 is ended
 * with an empty "."). Without it, one command per reply, and DATA only
 * after some RCPT got 2xx. Replies to MAIL, RCPT and DATA are data for the
 * result, not errors; 421 inside a transaction answers every open
 * recipient and ends the connection.
 *
 * SPEC TLS-1 (STARTTLS not offered or refused under REQUIRE = host failure,
 * never cleartext; under MAY cleartext is allowed), TLS-2 (a failed
 * handshake is a host failure), FAIL-1 (host failures end in HOST_FAILED
 * so the caller tries the next MX or defers). Cleartext left after "220"
 * to STARTTLS is a protocol failure (command injection guard).
 */
#include "smtp/smtp_int.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
	DS_LINE_MAX = 1024, /* longest command line built here (MAIL with parameters) */
	DS_SHOW = 200       /* a reply quoted in a reason */
};

static void ds_send(struct dg_smtp_deliver *d, const char *fmt, ...) DG_PRINTF(2, 3);
static bool ds_has(const struct dg_smtp_deliver *d, unsigned ext);
static void ds_last(struct dg_smtp_deliver *d, const struct dg_smtp_reply *r);
static void ds_report_failure(struct dg_smtp_deliver *d, const char *what);
static void ds_finish(struct dg_smtp_deliver *d, const char *fmt, ...) DG_PRINTF(2, 3);
static void ds_local_reject(struct dg_smtp_deliver *d, unsigned code, const char *status,
                            const char *text);
static void ds_msg_start(struct dg_smtp_deliver *d);
static void ds_send_mail(struct dg_smtp_deliver *d);
static void ds_mail_line(struct dg_smtp_deliver *d, char *line, size_t size);
static void ds_on_banner(struct dg_smtp_deliver *d, const struct dg_smtp_reply *r);
static void ds_on_ehlo(struct dg_smtp_deliver *d, const struct dg_smtp_reply *r);
static void ds_on_helo(struct dg_smtp_deliver *d, const struct dg_smtp_reply *r);
static void ds_on_starttls(struct dg_smtp_deliver *d, const struct dg_smtp_reply *r);
static void ds_on_mail(struct dg_smtp_deliver *d, const struct dg_smtp_reply *r);
static void ds_on_rcpt(struct dg_smtp_deliver *d, const struct dg_smtp_reply *r);
static void ds_on_data(struct dg_smtp_deliver *d, const struct dg_smtp_reply *r);
static void ds_on_data_done(struct dg_smtp_deliver *d, const struct dg_smtp_reply *r);
static void ds_on_421(struct dg_smtp_deliver *d, const struct dg_smtp_reply *r);

/* Enter a state: arm its deadline and send its command (STYLE.md section 6). */
void dg_smtp_deliver_state_enter(struct dg_smtp_deliver *d, enum dg_smtp_deliver_stage state)
{
	d->state = state;
	DG_TRACE(d->log, DG_LOG_TRACE_SMTP, "%s smtp-out addr=%s state=%s", d->id, d->res.peer,
	         dg_smtp_deliver_stage_str(state));
	if (state == DG_SMTP_DELIVER_STAGE_IDLE || state == DG_SMTP_DELIVER_STAGE_CLOSED)
		event_del(d->ev_stage);
	else
		dg_smtp_deliver_arm(d, d->tmo_ms[state]);
	switch (state) {
	case DG_SMTP_DELIVER_STAGE_CONNECT:
		DG_PANIC("smtp deliver %s: CONNECT is entered by begin", d->id);
	case DG_SMTP_DELIVER_STAGE_BANNER: break;
	case DG_SMTP_DELIVER_STAGE_EHLO: ds_send(d, "EHLO %s", d->helo); break;
	case DG_SMTP_DELIVER_STAGE_HELO: ds_send(d, "HELO %s", d->helo); break;
	case DG_SMTP_DELIVER_STAGE_STARTTLS: ds_send(d, "STARTTLS"); break;
	case DG_SMTP_DELIVER_STAGE_TLS_HANDSHAKE: dg_smtp_deliver_tls_start(d); break;
	case DG_SMTP_DELIVER_STAGE_EHLO_TLS:
		dg_smtp_reply_parser_reset(&d->parser); /* nothing from cleartext survives */
		ds_send(d, "EHLO %s", d->helo);
		break;
	case DG_SMTP_DELIVER_STAGE_RSET: ds_send(d, "RSET"); break;
	case DG_SMTP_DELIVER_STAGE_MAIL: ds_send_mail(d); break;
	case DG_SMTP_DELIVER_STAGE_RCPT:
		if (!d->pipelined)
			ds_send(d, "RCPT TO:<%s>", d->env.rcpt[d->rcpt_idx]);
		break;
	case DG_SMTP_DELIVER_STAGE_DATA:
		if (!d->pipelined)
			ds_send(d, "DATA");
		break;
	case DG_SMTP_DELIVER_STAGE_BODY:
		DG_TRACE(d->log, DG_LOG_TRACE_SMTP, "%s smtp-out addr=%s state=body send_bytes=%zu",
		         d->id, d->res.peer, d->wire_len);
		dg_smtp_deliver_body_pump(d);
		break;
	case DG_SMTP_DELIVER_STAGE_DATA_DONE: break;
	case DG_SMTP_DELIVER_STAGE_IDLE: break;
	case DG_SMTP_DELIVER_STAGE_QUIT: ds_send(d, "QUIT"); break;
	case DG_SMTP_DELIVER_STAGE_CLOSED: dg_smtp_deliver_stop_io(d); break;
	}
}

/* Write one command line (CRLF added). */
static void ds_send(struct dg_smtp_deliver *d, const char *fmt, ...)
{
	char line[DS_LINE_MAX];
	char esc[DS_LINE_MAX];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 2, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(line) - 2)
		DG_PANIC("smtp deliver %s: command too long", d->id);
	DG_TRACE(d->log, DG_LOG_TRACE_SMTP, "%s smtp-out addr=%s state=%s send=\"%s\"", d->id,
	         d->res.peer, dg_smtp_deliver_stage_str(d->state),
	         dg_str_escape(esc, sizeof(esc), line, (size_t)n));
	memcpy(line + n, "\r\n", 2);
	if (bufferevent_write(d->bev, line, (size_t)n + 2) != 0)
		dg_smtp_deliver_fail(d, "cannot queue a command");
}

static bool ds_has(const struct dg_smtp_deliver *d, unsigned ext)
{
	return !d->helo_used && dg_smtp_ehlo_has(&d->ehlo, ext);
}

static void ds_last(struct dg_smtp_deliver *d, const struct dg_smtp_reply *r)
{
	dg_smtp_deliver_reply_str(r, d->res.last_reply, sizeof(d->res.last_reply));
}

/* A connection-level failure: the connection is finished. */
void dg_smtp_deliver_fail(struct dg_smtp_deliver *d, const char *fmt, ...)
{
	char what[DG_ERR_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	ds_report_failure(d, what);
}

/*
 * Report the end of the connection to the current message, if any: DONE
 * when some recipient already has a final answer (the rest get a local
 * 451 4.4.2), otherwise HOST_FAILED (SPEC FAIL-1: the caller tries the next
 * host or defers). Without a message the object only becomes dead; after a
 * user's close it is freed.
 */
static void ds_report_failure(struct dg_smtp_deliver *d, const char *what)
{
	bool any_final = false;

	d->dead = true;
	dg_smtp_deliver_stop_io(d);
	DG_TRACE(d->log, DG_LOG_TRACE_SMTP,
	         "%s smtp-out addr=%s state=%s event=failed reason=\"%s\"", d->id, d->res.peer,
	         dg_smtp_deliver_stage_str(d->state), what);
	if (!d->msg_active) { /* an idle connection stays IDLE: _next() reports it */
		if (d->state != DG_SMTP_DELIVER_STAGE_IDLE)
			d->state = DG_SMTP_DELIVER_STAGE_CLOSED;
		if (d->user_gone)
			d->closing = true;
		return;
	}
	for (size_t i = 0; i < d->env.n_rcpt; i++)
		any_final = any_final || d->answered[i];
	for (size_t i = 0; i < d->env.n_rcpt; i++)
		if (!d->answered[i])
			dg_smtp_deliver_rcpt_local(&d->res.rcpt[i], 451, "4.4.2", what);
	d->res.stage = (int)d->state;
	d->state = DG_SMTP_DELIVER_STAGE_CLOSED;
	dg_smtp_deliver_msg_done(d, any_final ? DG_SMTP_DELIVER_DONE : DG_SMTP_DELIVER_HOST_FAILED,
	                         "%s", what);
}

/*
 * A reply that fails the host before a transaction (banner, EHLO, STARTTLS,
 * verification): say QUIT first, waiting at most the QUIT deadline, unless
 * the reply was 421 (the server is closing, RFC 5321 section 3.8).
 */
void dg_smtp_deliver_fail_quit(struct dg_smtp_deliver *d, const struct dg_smtp_reply *r,
                               const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(d->fail_reason, sizeof(d->fail_reason), fmt, ap);
	va_end(ap);
	if (r != NULL)
		ds_last(d, r);
	if (r != NULL && r->code == 421) {
		dg_smtp_deliver_fail(d, "%s", d->fail_reason);
		return;
	}
	d->quit_then_fail = true;
	d->fail_stage = d->state;
	dg_smtp_deliver_state_enter(d, DG_SMTP_DELIVER_STAGE_QUIT);
}

/* QUIT answered, timed out or the server closed. */
void dg_smtp_deliver_closed(struct dg_smtp_deliver *d)
{
	char reason[DG_ERR_MSG_MAX];

	if (d->quit_then_fail) {
		d->quit_then_fail = false;
		d->state = d->fail_stage; /* the result names where it failed, not QUIT */
		snprintf(reason, sizeof(reason), "%s", d->fail_reason);
		ds_report_failure(d, reason);
		return;
	}
	d->dead = true;
	dg_smtp_deliver_state_enter(d, DG_SMTP_DELIVER_STAGE_CLOSED);
	if (d->user_gone)
		d->closing = true;
}

/* The server answered for the message: deliver DONE and go IDLE (or stay dead). */
static void ds_finish(struct dg_smtp_deliver *d, const char *fmt, ...)
{
	char what[DG_ERR_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	d->res.stage = (int)d->state;
	dg_smtp_deliver_state_enter(d, d->dead ? DG_SMTP_DELIVER_STAGE_CLOSED
	                                       : DG_SMTP_DELIVER_STAGE_IDLE);
	dg_smtp_deliver_msg_done(d, DG_SMTP_DELIVER_DONE, "%s", what);
}

/* Answer every recipient locally without sending MAIL (the connection stays usable). */
static void ds_local_reject(struct dg_smtp_deliver *d, unsigned code, const char *status,
                            const char *text)
{
	for (size_t i = 0; i < d->env.n_rcpt; i++) {
		dg_smtp_deliver_rcpt_local(&d->res.rcpt[i], code, status, text);
		d->answered[i] = true;
	}
	snprintf(d->res.last_reply, sizeof(d->res.last_reply), "%u %s %s (local)", code, status,
	         text);
	d->state = DG_SMTP_DELIVER_STAGE_MAIL;
	ds_finish(d, "not sent: %s", text);
}

/* The session is ready for a transaction: check what the server offers, then MAIL. */
static void ds_msg_start(struct dg_smtp_deliver *d)
{
	char text[160];

	if (d->env.smtputf8 && !ds_has(d, DG_SMTP_EXT_SMTPUTF8)) { /* RFC 6531 section 3.4 */
		ds_local_reject(d, 553, "5.6.7", "SMTPUTF8 required but not offered by the server");
		return;
	}
	if (ds_has(d, DG_SMTP_EXT_SIZE) && d->ehlo.size_max != 0 &&
	    d->wire_len > d->ehlo.size_max) { /* RFC 1870 section 6 */
		snprintf(text, sizeof(text), "message of %zu bytes exceeds the server's SIZE %lu",
		         d->wire_len, (unsigned long)d->ehlo.size_max);
		ds_local_reject(d, 552, "5.3.4", text);
		return;
	}
	d->pipelined = ds_has(d, DG_SMTP_EXT_PIPELINING);
	dg_smtp_deliver_state_enter(d, DG_SMTP_DELIVER_STAGE_MAIL);
}

/* "MAIL FROM:<s> SIZE=n BODY=8BITMIME SMTPUTF8" as the server's extensions allow. */
static void ds_mail_line(struct dg_smtp_deliver *d, char *line, size_t size)
{
	size_t n = (size_t)snprintf(line, size, "MAIL FROM:<%s>", d->env.sender);

	if (ds_has(d, DG_SMTP_EXT_SIZE) && n < size)
		n += (size_t)snprintf(line + n, size - n, " SIZE=%zu", d->wire_len);
	if (d->eight_bit && ds_has(d, DG_SMTP_EXT_8BITMIME) && n < size)
		n += (size_t)snprintf(line + n, size - n, " BODY=8BITMIME");
	if (d->env.smtputf8 && n < size)
		(void)snprintf(line + n, size - n, " SMTPUTF8");
}

/* MAIL alone, or with PIPELINING: MAIL, every RCPT and DATA in one write (RFC 2920). */
static void ds_send_mail(struct dg_smtp_deliver *d)
{
	char line[DS_LINE_MAX];
	struct dg_buf batch;

	ds_mail_line(d, line, sizeof(line));
	if (!d->pipelined) {
		ds_send(d, "%s", line);
		return;
	}
	dg_buf_init(&batch, (d->env.n_rcpt + 2) * (size_t)DS_LINE_MAX);
	(void)dg_buf_printf(&batch, "%s\r\n", line);
	for (size_t i = 0; i < d->env.n_rcpt; i++)
		(void)dg_buf_printf(&batch, "RCPT TO:<%s>\r\n", d->env.rcpt[i]);
	(void)dg_buf_append_str(&batch, "DATA\r\n");
	DG_TRACE(d->log, DG_LOG_TRACE_SMTP,
	         "%s smtp-out addr=%s state=mail send=\"%s\" pipelined_rcpts=%zu data=1", d->id,
	         d->res.peer, line, d->env.n_rcpt);
	if (bufferevent_write(d->bev, dg_buf_bytes(&batch), dg_buf_len(&batch)) != 0)
		dg_smtp_deliver_fail(d, "cannot queue the pipelined commands");
	dg_buf_cleanup(&batch);
}

/* Handle one complete reply in the current state. */
void dg_smtp_deliver_response(struct dg_smtp_deliver *d, const struct dg_smtp_reply *r)
{
	char shown[DS_SHOW];

	DG_TRACE(d->log, DG_LOG_TRACE_SMTP, "%s smtp-out addr=%s state=%s recv=\"%s\"", d->id,
	         d->res.peer, dg_smtp_deliver_stage_str(d->state),
	         dg_smtp_deliver_reply_str(r, shown, sizeof(shown)));
	if (d->state == DG_SMTP_DELIVER_STAGE_BODY && d->body_tail)
		d->state = DG_SMTP_DELIVER_STAGE_DATA_DONE; /* the write callback may come later */
	if (r->code == 421 && d->state >= DG_SMTP_DELIVER_STAGE_MAIL &&
	    d->state <= DG_SMTP_DELIVER_STAGE_DATA_DONE && !d->discard_data) {
		ds_on_421(d, r);
		return;
	}
	switch (d->state) {
	case DG_SMTP_DELIVER_STAGE_BANNER: ds_on_banner(d, r); break;
	case DG_SMTP_DELIVER_STAGE_EHLO:
	case DG_SMTP_DELIVER_STAGE_EHLO_TLS: ds_on_ehlo(d, r); break;
	case DG_SMTP_DELIVER_STAGE_HELO: ds_on_helo(d, r); break;
	case DG_SMTP_DELIVER_STAGE_STARTTLS: ds_on_starttls(d, r); break;
	case DG_SMTP_DELIVER_STAGE_RSET:
		if (r->code / 100 == 2)
			ds_msg_start(d);
		else
			dg_smtp_deliver_fail_quit(d, r, "RSET rejected: %s", shown);
		break;
	case DG_SMTP_DELIVER_STAGE_MAIL: ds_on_mail(d, r); break;
	case DG_SMTP_DELIVER_STAGE_RCPT: ds_on_rcpt(d, r); break;
	case DG_SMTP_DELIVER_STAGE_DATA: ds_on_data(d, r); break;
	case DG_SMTP_DELIVER_STAGE_BODY: /* a reply before the end of data: give up on it */
		d->dead = true;
		ds_on_data_done(d, r);
		break;
	case DG_SMTP_DELIVER_STAGE_DATA_DONE: ds_on_data_done(d, r); break;
	case DG_SMTP_DELIVER_STAGE_IDLE: /* e.g. "421 idle timeout": unusable from now on */
		dg_smtp_deliver_fail(d, "unexpected reply \"%s\" while idle", shown);
		break;
	case DG_SMTP_DELIVER_STAGE_QUIT: dg_smtp_deliver_closed(d); break;
	default:
		dg_smtp_deliver_fail(d, "unexpected reply \"%s\" while waiting for %s", shown,
		                     dg_smtp_deliver_waiting_for(d->state));
		break;
	}
}

static void ds_on_banner(struct dg_smtp_deliver *d, const struct dg_smtp_reply *r)
{
	char shown[DS_SHOW];

	if (r->code == 220)
		dg_smtp_deliver_state_enter(d, DG_SMTP_DELIVER_STAGE_EHLO);
	else
		dg_smtp_deliver_fail_quit(d, r, "banner rejected: %s",
		                          dg_smtp_deliver_reply_str(r, shown, sizeof(shown)));
}

/* EHLO in clear decides STARTTLS by policy (SPEC TLS-1); EHLO in TLS starts mail. */
static void ds_on_ehlo(struct dg_smtp_deliver *d, const struct dg_smtp_reply *r)
{
	char shown[DS_SHOW];
	bool in_tls = d->state == DG_SMTP_DELIVER_STAGE_EHLO_TLS;

	dg_smtp_deliver_reply_str(r, shown, sizeof(shown));
	if (r->code != 250) {
		if (!in_tls && r->code / 100 == 5 && d->tls != DG_SMTP_TLS_REQUIRE)
			dg_smtp_deliver_state_enter(d, DG_SMTP_DELIVER_STAGE_HELO);
		else
			dg_smtp_deliver_fail_quit(d, r, "EHLO%s rejected: %s",
			                          in_tls ? " after STARTTLS" : "", shown);
		return;
	}
	(void)dg_smtp_ehlo_parse(r, &d->ehlo, NULL);
	if (in_tls) {
		ds_msg_start(d);
		return;
	}
	d->res.starttls_offered = dg_smtp_ehlo_has(&d->ehlo, DG_SMTP_EXT_STARTTLS);
	if (d->tls != DG_SMTP_TLS_NONE && d->res.starttls_offered)
		dg_smtp_deliver_state_enter(d, DG_SMTP_DELIVER_STAGE_STARTTLS);
	else if (d->tls == DG_SMTP_TLS_REQUIRE)
		dg_smtp_deliver_fail_quit(d, NULL, "STARTTLS not offered");
	else
		ds_msg_start(d);
}

/* HELO only after EHLO got 5xx, never under REQUIRE: no extensions, no TLS. */
static void ds_on_helo(struct dg_smtp_deliver *d, const struct dg_smtp_reply *r)
{
	char shown[DS_SHOW];

	if (r->code / 100 != 2) {
		dg_smtp_deliver_fail_quit(d, r, "HELO rejected after EHLO failed: %s",
		                          dg_smtp_deliver_reply_str(r, shown, sizeof(shown)));
		return;
	}
	d->helo_used = true;
	memset(&d->ehlo, 0, sizeof(d->ehlo));
	ds_msg_start(d);
}

static void ds_on_starttls(struct dg_smtp_deliver *d, const struct dg_smtp_reply *r)
{
	char shown[DS_SHOW];
	size_t extra;

	dg_smtp_deliver_reply_str(r, shown, sizeof(shown));
	if (r->code != 220) {
		if (d->tls == DG_SMTP_TLS_REQUIRE) /* SPEC TLS-1 */
			dg_smtp_deliver_fail_quit(d, r, "STARTTLS refused: %s", shown);
		else
			ds_msg_start(d); /* opportunistic: deliver in clear */
		return;
	}
	/* Anything after the 220 would be read as TLS or injected cleartext. */
	extra = dg_smtp_reply_parser_pending(&d->parser) +
	        evbuffer_get_length(bufferevent_get_input(d->bev));
	if (extra > 0) {
		ds_last(d, r);
		dg_smtp_deliver_fail(
		    d, "%zu bytes of cleartext after \"%s\" to STARTTLS (command injection?)",
		    extra, shown);
		return;
	}
	dg_smtp_deliver_state_enter(d, DG_SMTP_DELIVER_STAGE_TLS_HANDSHAKE);
}

static void ds_on_mail(struct dg_smtp_deliver *d, const struct dg_smtp_reply *r)
{
	char shown[DS_SHOW];

	if (r->code / 100 != 2) { /* the MAIL reply becomes every recipient's */
		d->mail_failed = true;
		for (size_t i = 0; i < d->env.n_rcpt; i++) {
			dg_smtp_deliver_rcpt_remote(&d->res.rcpt[i], r);
			d->answered[i] = true;
		}
		ds_last(d, r);
		if (!d->pipelined) {
			ds_finish(d, "MAIL rejected: %s",
			          dg_smtp_deliver_reply_str(r, shown, sizeof(shown)));
			return;
		}
	}
	dg_smtp_deliver_state_enter(
	    d, DG_SMTP_DELIVER_STAGE_RCPT); /* pipelined: its replies are on the way */
}

static void ds_on_rcpt(struct dg_smtp_deliver *d, const struct dg_smtp_reply *r)
{
	size_t i = d->rcpt_idx++;

	if (!d->mail_failed) {
		dg_smtp_deliver_rcpt_remote(&d->res.rcpt[i], r);
		if (r->code / 100 == 2) {
			d->accepted[i] = true; /* final only after the end of data */
			d->n_accepted++;
		} else {
			d->answered[i] = true;
			ds_last(d, r);
		}
	}
	if (d->rcpt_idx < d->env.n_rcpt) {
		dg_smtp_deliver_state_enter(d, DG_SMTP_DELIVER_STAGE_RCPT);
		return;
	}
	if (d->pipelined || d->n_accepted > 0) {
		dg_smtp_deliver_state_enter(
		    d, DG_SMTP_DELIVER_STAGE_DATA); /* pipelined: already sent */
		return;
	}
	ds_finish(d, "no recipient accepted");
}

static void ds_on_data(struct dg_smtp_deliver *d, const struct dg_smtp_reply *r)
{
	char shown[DS_SHOW];
	bool wanted = d->n_accepted > 0 && !d->mail_failed;

	dg_smtp_deliver_reply_str(r, shown, sizeof(shown));
	if (r->code == 354) {
		if (wanted) {
			dg_smtp_deliver_state_enter(d, DG_SMTP_DELIVER_STAGE_BODY);
			return;
		}
		/* pipelined DATA accepted with no recipient: end it empty, ignore the reply */
		d->discard_data = true;
		ds_send(d, ".");
		dg_smtp_deliver_state_enter(d, DG_SMTP_DELIVER_STAGE_DATA_DONE);
		return;
	}
	if (!wanted) { /* RFC 2920: the DATA reply (503/554) is moot */
		ds_finish(d, d->mail_failed ? "MAIL rejected" : "no recipient accepted");
		return;
	}
	for (size_t i = 0; i < d->env.n_rcpt; i++) {
		if (d->accepted[i] && !d->answered[i]) {
			dg_smtp_deliver_rcpt_remote(&d->res.rcpt[i], r);
			d->answered[i] = true;
		}
	}
	ds_last(d, r);
	ds_finish(d, "DATA rejected: %s", shown);
}

/* The reply to "." is the final answer for every accepted recipient. */
static void ds_on_data_done(struct dg_smtp_deliver *d, const struct dg_smtp_reply *r)
{
	char shown[DS_SHOW];

	if (d->discard_data) {
		ds_finish(d, d->mail_failed ? "MAIL rejected" : "no recipient accepted");
		return;
	}
	for (size_t i = 0; i < d->env.n_rcpt; i++) {
		if (d->accepted[i] && !d->answered[i]) {
			dg_smtp_deliver_rcpt_remote(&d->res.rcpt[i], r);
			d->answered[i] = true;
		}
	}
	ds_last(d, r);
	if (d->dead)
		dg_smtp_deliver_stop_io(d);
	ds_finish(d, "%s %zu of %zu recipients: %s",
	          r->code / 100 == 2 ? "delivered to" : "refused for", d->n_accepted, d->env.n_rcpt,
	          dg_smtp_deliver_reply_str(r, shown, sizeof(shown)));
}

/* 421 inside a transaction: the server closes; it answers every open recipient. */
static void ds_on_421(struct dg_smtp_deliver *d, const struct dg_smtp_reply *r)
{
	char shown[DS_SHOW];

	for (size_t i = 0; i < d->env.n_rcpt; i++) {
		if (!d->answered[i]) {
			dg_smtp_deliver_rcpt_remote(&d->res.rcpt[i], r);
			d->answered[i] = true;
		}
	}
	ds_last(d, r);
	d->dead = true;
	dg_smtp_deliver_stop_io(d);
	ds_finish(d, "server closing: %s", dg_smtp_deliver_reply_str(r, shown, sizeof(shown)));
}

void dg_smtp_deliver_session_rset(struct dg_smtp_deliver *d)
{
	if (d->dead) { /* closed while idle: report it from the loop */
		d->state = DG_SMTP_DELIVER_STAGE_RSET;
		event_active(d->ev_defer, EV_TIMEOUT, 1);
		return;
	}
	dg_smtp_deliver_state_enter(d, DG_SMTP_DELIVER_STAGE_RSET);
}

void dg_smtp_deliver_session_quit(struct dg_smtp_deliver *d)
{
	dg_smtp_deliver_state_enter(d, DG_SMTP_DELIVER_STAGE_QUIT);
}
