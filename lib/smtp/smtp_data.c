/*
 * smtp_data.c - incremental DATA body reader for the relay's receiving side.
 *
 * Public: dg_smtp_data_init, dg_smtp_data_feed.
 *
 * After the 354 reply the server feeds whatever the socket delivers; the
 * reader removes dot-stuffing (RFC 5321 section 4.5.2), appends the body to
 * a caller-owned dg_buf (CRLF line ends kept, the CRLF before the final "."
 * ends the last line) and stops after CRLF "." CRLF, leaving later bytes
 * unconsumed for the next pipelined command. It is a byte state machine, so
 * any split of the input gives the same result.
 *
 * SMTP smuggling (SEC Consult, December 2023; CVE-2023-51764/51765/51766):
 * only CRLF "." CRLF ends the data. A bare LF or bare CR is never a line
 * end, so "\n.\n", "\r.\n", "\n.\r\n" and "\r\n.\n" are body bytes, and a
 * message holding any bare CR or LF is rejected (550 5.5.2) once the real
 * end marker arrives, which keeps the session in step with the client.
 * The body is cut at out->max_bytes (552 5.3.4 at the end); the reader keeps
 * consuming so the session stays in sync. See
 * docs/internals/smtp-server-parsers.md.
 */
#include <daneguard/smtp.h>

#include <string.h>

static void data_put(struct dg_smtp_data *d, const uint8_t *p, size_t n);
static size_t data_text_run(struct dg_smtp_data *d, const uint8_t *p, size_t len);
static void data_byte(struct dg_smtp_data *d, uint8_t c);
static enum dg_status data_finish(struct dg_smtp_data *d, struct dg_smtp_cmd_reply *reply,
                                  struct dg_err *err);

void dg_smtp_data_init(struct dg_smtp_data *d, struct dg_buf *out)
{
	memset(d, 0, sizeof(*d));
	d->out = out;
	d->state = DG_SMTP_DATA_BOL;
}

/* Append body bytes up to the buffer's cap; count everything. */
static void data_put(struct dg_smtp_data *d, const uint8_t *p, size_t n)
{
	size_t room = 0;

	d->body_bytes += n;
	if (d->out->max_bytes > d->out->len)
		room = d->out->max_bytes - d->out->len;
	if (n > room) {
		d->over = true;
		n = room;
	}
	if (n > 0 && dg_buf_append(d->out, p, n) != DG_OK)
		d->over = true;
}

/* In TEXT state: append bytes up to the next CR or LF; return how many. */
static size_t data_text_run(struct dg_smtp_data *d, const uint8_t *p, size_t len)
{
	size_t n = 0;

	while (n < len && p[n] != '\r' && p[n] != '\n')
		n++;
	data_put(d, p, n);
	return n;
}

/* Advance the state machine by one byte. */
static void data_byte(struct dg_smtp_data *d, uint8_t c)
{
	static const uint8_t crlf[2] = {'\r', '\n'}, cr = '\r';

	switch (d->state) {
	case DG_SMTP_DATA_DOT_CR:
		if (c == '\n') {
			d->state = DG_SMTP_DATA_END;
			return;
		}
		d->state = DG_SMTP_DATA_CR; /* "." dropped (stuffing); the CR is bare */
		data_byte(d, c);
		return;
	case DG_SMTP_DATA_CR:
		if (c == '\n') {
			data_put(d, crlf, 2);
			d->lines++;
			d->state = DG_SMTP_DATA_BOL;
			return;
		}
		d->bare_cr++;
		data_put(d, &cr, 1);
		d->state = DG_SMTP_DATA_TEXT;
		data_byte(d, c);
		return;
	case DG_SMTP_DATA_BOL:
		if (c == '.') {
			d->state = DG_SMTP_DATA_DOT;
			return;
		}
		break;
	case DG_SMTP_DATA_DOT:
		if (c == '\r') {
			d->state = DG_SMTP_DATA_DOT_CR;
			return;
		}
		break; /* leading dot removed (RFC 5321 4.5.2) */
	case DG_SMTP_DATA_TEXT:
	case DG_SMTP_DATA_END:
		break;
	}
	d->state = DG_SMTP_DATA_TEXT;
	if (c == '\r') {
		d->state = DG_SMTP_DATA_CR;
	} else {
		if (c == '\n')
			d->bare_lf++;
		data_put(d, &c, 1);
	}
}

/* The end marker was read: decide whether the message is acceptable. */
static enum dg_status data_finish(struct dg_smtp_data *d, struct dg_smtp_cmd_reply *reply,
                                  struct dg_err *err)
{
	struct dg_smtp_cmd_reply r = {0, "", ""};
	enum dg_status st = DG_OK;

	if (d->over) {
		r = (struct dg_smtp_cmd_reply){552, "5.3.4", "message size exceeds fixed limit"};
		st = dg_err_set(err, DG_E_LIMIT, "DATA body of %zu bytes exceeds the cap of %zu",
		                d->body_bytes, d->out->max_bytes);
	} else if (d->bare_cr > 0 || d->bare_lf > 0) {
		r = (struct dg_smtp_cmd_reply){550, "5.5.2", "bare CR or LF in message data"};
		st = dg_err_set(err, DG_E_PROTO, "DATA body has %zu bare CR and %zu bare LF",
		                d->bare_cr, d->bare_lf);
	}
	if (st != DG_OK && err != NULL) {
		err->where = "smtp data";
		err->offset = d->stream_off;
	}
	if (reply != NULL)
		*reply = r;
	return st;
}

enum dg_status dg_smtp_data_feed(struct dg_smtp_data *d, const uint8_t *p, size_t len,
                                 size_t *consumed, bool *done, struct dg_smtp_cmd_reply *reply,
                                 struct dg_err *err)
{
	size_t i = 0;

	*consumed = 0;
	*done = d->state == DG_SMTP_DATA_END;
	if (reply != NULL)
		*reply = (struct dg_smtp_cmd_reply){0, "", ""};
	if (*done)
		return data_finish(d, reply, err);
	while (i < len && d->state != DG_SMTP_DATA_END) {
		if (d->state == DG_SMTP_DATA_TEXT) {
			size_t n = data_text_run(d, p + i, len - i);

			i += n;
			if (i == len)
				break;
		}
		data_byte(d, p[i]);
		i++;
	}
	d->stream_off += i;
	*consumed = i;
	if (d->state != DG_SMTP_DATA_END)
		return DG_OK;
	*done = true;
	return data_finish(d, reply, err);
}
