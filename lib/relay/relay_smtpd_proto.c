/*
 * relay_smtpd_proto.c - the receiver's SMTP state machine: commands, DATA, queueing.
 *
 * Internal (relay_smtpd.h): smtpd_greet, smtpd_input, smtpd_txn_reset, smtpd_after_tls,
 * smtpd_addr_storable. I/O, sessions and TLS are in relay_smtpd.c.
 *
 * smtpd_input() takes bytes from the session's input buffer strictly in order
 * (PIPELINING, RFC 2920): command lines go through dg_smtp_cmd_parse(), and once DATA is
 * answered with 354 the DATA reader (dg_smtp_data_feed, SMTP smuggling policy: only
 * CRLF.CRLF ends it, bare CR/LF rejects the message) takes over at the very next byte; the
 * bytes after the end marker are commands again. Replies are appended to the output buffer
 * and leave in batches.
 *
 * Relay permission: MAIL and RCPT from a client that allow() refused get 554 5.7.1
 * (never an open relay). The final 250 "queued as ID" is written only after dg_queue_put()
 * returned DG_OK (the message is fsynced, renamed and the directory fsynced) and after the
 * queued() callback returned; a put failure is 452 4.3.1 (no space) or 451 4.3.0 and
 * nothing is queued. Each stored body starts with a Received: header (RFC 5321 4.4) whose
 * id is "<session id>.<transaction>", since the queue id exists only after the put.
 *
 * SMTPUTF8 (RFC 6531): EHLO offers it; a UTF-8 sender or recipient is accepted only in a
 * transaction whose MAIL carried the SMTPUTF8 parameter (else 553 5.6.7, RFC 6531 3.5),
 * and the queued envelope keeps that flag (env.smtputf8), so delivery uses SMTPUTF8 or
 * fails locally; Received: then says "with UTF8SMTP[S][A]" (RFC 6531 3.7.3).
 */
#include "relay/relay_smtpd.h"

#include <event2/buffer.h>
#include <event2/bufferevent_ssl.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* What one received line may be at most (MAIL/RCPT carry parameters). */
#define SMTPD_LINE_CAP 2048
/* Room for the Received: header in front of the body. */
#define SMTPD_TRACE_MAX 1024

static bool smtpd_line(struct smtpd_sess *ss);
static bool smtpd_data(struct smtpd_sess *ss);
static void smtpd_command(struct smtpd_sess *ss, const uint8_t *p, size_t n);
static void smtpd_ehlo(struct smtpd_sess *ss);
static void smtpd_mail(struct smtpd_sess *ss);
static void smtpd_rcpt(struct smtpd_sess *ss);
static void smtpd_data_begin(struct smtpd_sess *ss);
static void smtpd_data_end(struct smtpd_sess *ss, enum dg_status st,
                           const struct dg_smtp_cmd_reply *reply);
static void smtpd_queue(struct smtpd_sess *ss);
static void smtpd_trace(struct smtpd_sess *ss);
static void smtpd_reject(struct smtpd_sess *ss, unsigned code, const char *status, const char *text,
                         const char *why);
static void smtpd_maybe_drain(struct smtpd_sess *ss);

void smtpd_greet(struct smtpd_sess *ss)
{
	smtpd_reply(ss, 220, NULL, "%s ESMTP daneguard", ss->srv->hostname);
}

void smtpd_txn_reset(struct smtpd_sess *ss)
{
	ss->mail = false;
	ss->utf8 = false;
	ss->sender[0] = '\0';
	ss->n_rcpt = 0;
	dg_buf_cleanup(&ss->body);
	dg_buf_init(&ss->body, 0);
}

/* RFC 3207 4.2: forget everything learnt before TLS; ask allow() again with the cert. */
void smtpd_after_tls(struct smtpd_sess *ss)
{
	SSL *ssl = bufferevent_openssl_get_ssl(ss->bev);
	X509 *cert = ssl != NULL ? SSL_get0_peer_certificate(ssl) : NULL;
	struct dg_relay_smtpd *s = ss->srv;

	ss->tls = true;
	ss->state = SMTPD_ST_CMD;
	ss->greeted = ss->esmtp = false;
	smtpd_txn_reset(ss);
	ss->allowed = s->o.allow != NULL &&
	              s->o.allow(s->o.allow_arg, (const struct sockaddr *)&ss->peer, cert);
	ss->cert_auth = ss->allowed && cert != NULL;
	DG_LOG(s->log, DG_LOG_INFO,
	       "%s smtpd tls addr=%s version=%s cipher=%s client-cert=%s allowed=%s", ss->id,
	       ss->addr, ssl ? SSL_get_version(ssl) : "?",
	       ssl ? SSL_CIPHER_get_name(SSL_get_current_cipher(ssl)) : "?",
	       cert != NULL ? "yes" : "no", ss->allowed ? "yes" : "no");
	if (ss->draining) {
		smtpd_reply(ss, 421, "4.3.2", "%s shutting down", s->hostname);
		ss->state = SMTPD_ST_CLOSING;
		ss->close_reason = "shutdown";
	}
}

void smtpd_input(struct smtpd_sess *ss)
{
	size_t guard = 0;

	/* each step consumes input or stops; the guard only bounds a broken invariant */
	while (guard++ < 1000000) {
		if (evbuffer_get_length(bufferevent_get_input(ss->bev)) == 0)
			return;
		if (evbuffer_get_length(bufferevent_get_output(ss->bev)) >
		    ss->srv->o.max_output_bytes)
			return; /* smtpd_settle() drops the client */
		if (ss->state == SMTPD_ST_CMD) {
			if (!smtpd_line(ss))
				return;
		} else if (ss->state == SMTPD_ST_DATA) {
			if (!smtpd_data(ss))
				return;
		} else {
			return; /* TLS handshake, closing, dead: input waits or is ignored */
		}
	}
	DG_PANIC("relay smtpd %s: input loop did not progress", ss->id);
}

/* One command line, or part of an over-long one. @return false: wait for more input. */
static bool smtpd_line(struct smtpd_sess *ss)
{
	struct evbuffer *in = bufferevent_get_input(ss->bev);
	size_t have = evbuffer_get_length(in), take = have < SMTPD_LINE_CAP ? have : SMTPD_LINE_CAP;
	const uint8_t *p = evbuffer_pullup(in, (ev_ssize_t)take);
	size_t n = 0;
	enum dg_status st = dg_smtp_cmd_line_end(p, take, SMTPD_LINE_CAP, &n);

	if (ss->discard) { /* rest of an over-long line: through its LF */
		const uint8_t *lf = memchr(p, '\n', take);

		evbuffer_drain(in, lf != NULL ? (size_t)(lf - p) + 1 : take);
		ss->discard = lf == NULL;
		return true;
	}
	if (st == DG_E_NOTFOUND)
		return false;
	if (st == DG_E_LIMIT) {
		smtpd_reply(ss, 500, "5.5.2", "line too long");
		evbuffer_drain(in, take);
		ss->discard = true;
		return true;
	}
	smtpd_command(ss, p, n);
	evbuffer_drain(in, n);
	/* RFC 3207 / CVE-2011-0411: nothing may follow STARTTLS in the same flight */
	if (ss->state == SMTPD_ST_TLS && evbuffer_get_length(in) > 0) {
		DG_LOG(ss->srv->log, DG_LOG_WARN,
		       "%s smtpd reject addr=%s reason=\"%zu cleartext bytes after STARTTLS\"",
		       ss->id, ss->addr, evbuffer_get_length(in));
		ss->state = SMTPD_ST_DEAD;
		ss->close_reason = "starttls-injection";
		return false;
	}
	if (ss->state == SMTPD_ST_TLS)
		smtpd_starttls(ss);
	return ss->state == SMTPD_ST_CMD || ss->state == SMTPD_ST_DATA;
}

/* Feed the DATA reader. @return false: wait for more input. */
static bool smtpd_data(struct smtpd_sess *ss)
{
	struct evbuffer *in = bufferevent_get_input(ss->bev);
	struct evbuffer_iovec v;
	struct dg_smtp_cmd_reply reply = {0, "", ""};
	size_t used = 0;
	bool done = false;
	enum dg_status st;

	if (evbuffer_peek(in, -1, NULL, &v, 1) < 1)
		return false;
	st = dg_smtp_data_feed(&ss->data, v.iov_base, v.iov_len, &used, &done, &reply, NULL);
	evbuffer_drain(in, used);
	if (done)
		smtpd_data_end(ss, st, &reply);
	return true;
}

/* Reply with the parser's or our reason and log one reject line. */
static void smtpd_reject(struct smtpd_sess *ss, unsigned code, const char *status, const char *text,
                         const char *why)
{
	char esc[128];

	smtpd_reply(ss, code, status, "%s", text);
	if (code >= 500 || code == 452)
		DG_LOG(ss->srv->log, DG_LOG_INFO,
		       "%s smtpd reject addr=%s cmd=%s reply=%u status=%s reason=\"%s\"", ss->id,
		       ss->addr, dg_smtp_verb_str(ss->cmd.verb), code, status,
		       dg_str_escape(esc, sizeof(esc), why, strlen(why)));
}

/* stop_accepting: once no transaction is open, say 421 and close. */
static void smtpd_maybe_drain(struct smtpd_sess *ss)
{
	if (!ss->draining || ss->mail || ss->state != SMTPD_ST_CMD)
		return;
	smtpd_reply(ss, 421, "4.3.2", "%s shutting down", ss->srv->hostname);
	ss->state = SMTPD_ST_CLOSING;
	ss->close_reason = "shutdown";
}

static void smtpd_command(struct smtpd_sess *ss, const uint8_t *p, size_t n)
{
	struct dg_smtp_cmd_opts po;
	struct dg_smtp_cmd *c = &ss->cmd;
	struct dg_err err;

	dg_smtp_cmd_opts_init(&po);
	po.smtputf8 = ss->esmtp;
	po.utf8_txn = ss->utf8;
	po.size_max = ss->srv->o.max_message_bytes > UINT32_MAX
	                  ? UINT32_MAX
	                  : (uint32_t)ss->srv->o.max_message_bytes;
	dg_err_clear(&err);
	if (dg_smtp_cmd_parse(p, n, &po, c, &err) != DG_OK) {
		smtpd_reject(ss, c->reply.code, c->reply.status, c->reply.text, err.msg);
		return;
	}
	switch (c->verb) {
	case DG_SMTP_VERB_EHLO:
	case DG_SMTP_VERB_HELO: smtpd_ehlo(ss); break;
	case DG_SMTP_VERB_MAIL: smtpd_mail(ss); break;
	case DG_SMTP_VERB_RCPT: smtpd_rcpt(ss); break;
	case DG_SMTP_VERB_DATA: smtpd_data_begin(ss); break;
	case DG_SMTP_VERB_RSET:
		smtpd_txn_reset(ss);
		smtpd_reply(ss, 250, "2.0.0", "Ok");
		break;
	case DG_SMTP_VERB_NOOP: smtpd_reply(ss, 250, "2.0.0", "Ok"); break;
	case DG_SMTP_VERB_VRFY:
		smtpd_reply(ss, 252, "2.5.0", "Cannot VRFY user, but will accept message");
		break;
	case DG_SMTP_VERB_QUIT:
		smtpd_reply(ss, 221, "2.0.0", "Bye");
		ss->state = SMTPD_ST_CLOSING;
		ss->close_reason = "quit";
		return;
	case DG_SMTP_VERB_STARTTLS:
		if (ss->srv->o.tls == NULL || ss->tls) {
			smtpd_reject(ss, ss->tls ? 503 : 502, "5.5.1",
			             ss->tls ? "TLS already active" : "command not implemented",
			             "STARTTLS not offered");
			break;
		}
		smtpd_txn_reset(ss);
		smtpd_reply(ss, 220, "2.0.0", "Ready to start TLS");
		ss->state = SMTPD_ST_TLS; /* smtpd_line() checks for injection, then starts TLS */
		return;
	default: /* BDAT, AUTH: the parser refused them already */
		smtpd_reject(ss, 502, "5.5.1", "command not implemented", "unsupported");
		break;
	}
	smtpd_maybe_drain(ss);
}

static void smtpd_ehlo(struct smtpd_sess *ss)
{
	struct evbuffer *out = bufferevent_get_output(ss->bev);
	const struct dg_relay_smtpd *s = ss->srv;

	smtpd_txn_reset(ss); /* RFC 5321 4.1.4 */
	snprintf(ss->helo, sizeof(ss->helo), "%s", ss->cmd.domain);
	ss->greeted = true;
	ss->esmtp = ss->cmd.verb == DG_SMTP_VERB_EHLO;
	if (!ss->esmtp) {
		smtpd_reply(ss, 250, NULL, "%s", s->hostname);
		return;
	}
	evbuffer_add_printf(out,
	                    "250-%s\r\n250-PIPELINING\r\n250-SIZE %zu\r\n250-8BITMIME\r\n"
	                    "250-SMTPUTF8\r\n",
	                    s->hostname, s->o.max_message_bytes);
	if (s->o.tls != NULL && !ss->tls)
		evbuffer_add_printf(out, "250-STARTTLS\r\n");
	evbuffer_add_printf(out, "250 ENHANCEDSTATUSCODES\r\n");
}

/* The queue stores 1..320 bytes of printable ASCII or UTF-8 without space, '<' or '>'. */
bool smtpd_addr_storable(const char *addr)
{
	return dg_queue_addr_ok(addr);
}

/* 553 for an address the queue cannot hold (a quoted local part with spaces, ...), or a
 * UTF-8 one in a transaction without SMTPUTF8 (RFC 6531 3.5). @p utf8: MAIL had SMTPUTF8. */
static bool smtpd_addr_check(struct smtpd_sess *ss, const char *addr, bool utf8)
{
	bool ascii = !dg_queue_addr_is_utf8(addr);

	if ((ascii || utf8) && smtpd_addr_storable(addr))
		return true;
	if (!ascii && !utf8)
		smtpd_reject(ss, 553, "5.6.7", "non-ASCII address requires SMTPUTF8",
		             "UTF-8 address without SMTPUTF8");
	else
		smtpd_reject(ss, 553, "5.1.3", "address not accepted by this relay",
		             "address not storable in the queue");
	return false;
}

static void smtpd_mail(struct smtpd_sess *ss)
{
	const struct dg_smtp_cmd *c = &ss->cmd;

	if (!ss->greeted) {
		smtpd_reject(ss, 503, "5.5.1", "send HELO/EHLO first", "MAIL before EHLO");
		return;
	}
	if (ss->mail) {
		smtpd_reject(ss, 503, "5.5.1", "nested MAIL command", "second MAIL");
		return;
	}
	if (!ss->allowed) {
		smtpd_reject(ss, 554, "5.7.1", "relay access denied", "client not allowed");
		return;
	}
	if (!c->null_path && !smtpd_addr_check(ss, c->mailbox, c->smtputf8))
		return;
	snprintf(ss->sender, sizeof(ss->sender), "%s", c->null_path ? "" : c->mailbox);
	ss->mail = true;
	ss->utf8 = c->smtputf8;
	ss->n_rcpt = 0;
	smtpd_reply(ss, 250, "2.1.0", "Ok");
}

static void smtpd_rcpt(struct smtpd_sess *ss)
{
	const struct dg_smtp_cmd *c = &ss->cmd;
	struct dg_queue_rcpt *r;

	if (!ss->allowed) { /* before the sequence check: never an open relay */
		smtpd_reject(ss, 554, "5.7.1", "relay access denied", "client not allowed");
		return;
	}
	if (!ss->mail) {
		smtpd_reject(ss, 503, "5.5.1", "need MAIL command", "RCPT before MAIL");
		return;
	}
	if (ss->n_rcpt >= ss->srv->o.max_rcpts) {
		smtpd_reject(ss, 452, "4.5.3", "too many recipients", "recipient limit");
		return;
	}
	if (!smtpd_addr_check(ss, c->mailbox, ss->utf8))
		return;
	r = &ss->rcpt[ss->n_rcpt++];
	memset(r, 0, sizeof(*r));
	snprintf(r->addr, sizeof(r->addr), "%s", c->mailbox);
	smtpd_reply(ss, 250, "2.1.5", "Ok");
}

/* RFC 5321 4.4: "Received: from HELO (ADDR) by HOST (daneguard) with PROTO id ID; DATE". */
static void smtpd_trace(struct smtpd_sess *ss)
{
	char date[64];
	const char *proto = ss->esmtp ? "E" : "";
	time_t now = dg_clock_wall();
	struct tm tm;

	gmtime_r(&now, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", &tm);
	if (ss->utf8)
		proto = "UTF8";
	/* RFC 3848 ESMTP[S][A]; RFC 6531 3.7.3 UTF8SMTP[S][A] when MAIL carried SMTPUTF8 */
	dg_buf_printf(&ss->body,
	              "Received: from %s (%s)\r\n\tby %s (daneguard) with %sSMTP%s%s id %s.%zu;\r\n"
	              "\t%s\r\n",
	              ss->helo, ss->addr, ss->srv->hostname, proto, ss->tls ? "S" : "",
	              ss->cert_auth ? "A" : "", ss->id, ss->txn, date);
}

static void smtpd_data_begin(struct smtpd_sess *ss)
{
	if (!ss->mail || ss->n_rcpt == 0) {
		smtpd_reject(ss, 503, "5.5.1", ss->mail ? "need RCPT command" : "need MAIL command",
		             "DATA out of sequence");
		return;
	}
	ss->txn++;
	dg_buf_cleanup(&ss->body);
	dg_buf_init(&ss->body, SMTPD_TRACE_MAX + ss->srv->o.max_message_bytes);
	smtpd_trace(ss);
	/* the reader counts the cap from the buffer's length: the header is outside it */
	ss->body.max_bytes = dg_buf_len(&ss->body) + ss->srv->o.max_message_bytes;
	dg_smtp_data_init(&ss->data, &ss->body);
	smtpd_reply(ss, 354, NULL, "End data with <CR><LF>.<CR><LF>");
	ss->state = SMTPD_ST_DATA;
}

static void smtpd_data_end(struct smtpd_sess *ss, enum dg_status st,
                           const struct dg_smtp_cmd_reply *reply)
{
	ss->state = SMTPD_ST_CMD;
	ss->cmd.verb = DG_SMTP_VERB_DATA; /* for the reject line */
	if (st == DG_E_LIMIT)
		smtpd_reject(ss, 552, "5.3.4", "message size exceeds fixed limit",
		             "body over max_message_bytes");
	else if (st != DG_OK)
		smtpd_reject(
		    ss, reply->code ? reply->code : 550, reply->code ? reply->status : "5.5.2",
		    reply->code ? reply->text : "message refused",
		    ss->data.bare_lf || ss->data.bare_cr ? "bare CR or LF in DATA (smuggling)"
		                                         : "bad DATA");
	else
		smtpd_queue(ss);
	smtpd_txn_reset(ss);
	smtpd_maybe_drain(ss);
}

/* Write the message durably; only then tell queued() and send 250 (issue 8 "Receiving"). */
static void smtpd_queue(struct smtpd_sess *ss)
{
	struct dg_relay_smtpd *s = ss->srv;
	struct dg_queue_msg env;
	char id[DG_QUEUE_ID_SIZE] = "";
	struct dg_err err;
	enum dg_status st;
	size_t len = dg_buf_len(&ss->body);

	memset(&env, 0, sizeof(env));
	snprintf(env.sender, sizeof(env.sender), "%s", ss->sender);
	env.smtputf8 = ss->utf8; /* RFC 6531: deliver with SMTPUTF8 or not at all */
	env.rcpt = ss->rcpt;
	env.n_rcpt = ss->n_rcpt;
	dg_err_clear(&err);
	st = dg_queue_put(s->o.queue, &env, dg_buf_bytes(&ss->body), len, id, &err);
	if (st != DG_OK) {
		bool space = st == DG_E_LIMIT || err.sys_errno == ENOSPC || err.sys_errno == EDQUOT;

		if (err.sys_errno != 0)
			DG_LOG_ERRNO(s->log, DG_LOG_WARN, err.sys_errno,
			             "%s smtpd queue-failed addr=%s status=%s reason=\"%s\"",
			             ss->id, ss->addr, dg_status_str(st), err.msg);
		else
			DG_LOG(s->log, DG_LOG_WARN,
			       "%s smtpd queue-failed addr=%s status=%s reason=\"%s\"", ss->id,
			       ss->addr, dg_status_str(st), err.msg);
		smtpd_reject(ss, space ? 452 : 451, space ? "4.3.1" : "4.3.0",
		             space ? "insufficient system storage" : "local error in processing",
		             err.msg);
		return;
	}
	snprintf(env.id, sizeof(env.id), "%s", id);
	ss->n_queued++;
	DG_LOG(s->log, DG_LOG_INFO, "%s smtpd queued id=%s from=<%s> nrcpt=%zu size=%zu tls=%s",
	       ss->id, id, ss->sender, ss->n_rcpt, len, ss->tls ? "yes" : "no");
	if (s->o.queued != NULL)
		s->o.queued(s->o.queued_arg, id, &env);
	smtpd_reply(ss, 250, "2.0.0", "Ok: queued as %s", id);
}
