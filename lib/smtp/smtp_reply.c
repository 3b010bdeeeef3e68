/*
 * smtp_reply.c - incremental SMTP reply parser.
 *
 * Public: dg_smtp_reply_parser_init, dg_smtp_reply_parser_cleanup,
 * dg_smtp_reply_parser_reset, dg_smtp_reply_parser_feed,
 * dg_smtp_reply_parser_next, dg_smtp_reply_parser_pending,
 * dg_smtp_reply_line_text.
 *
 * A connection keeps one parser and feeds it whatever the socket delivers;
 * the parser cuts lines at LF (CRLF or bare LF), checks each "NNN-text" /
 * "NNN text" line (RFC 5321 section 4.2), and yields a reply when its last
 * line arrives. Bytes after that stay buffered for the next reply
 * (pipelining, RFC 2920). Line length, lines per reply, reply size and
 * buffered bytes are capped (STYLE.md section 7). The parser owns its
 * buffers; a returned struct dg_smtp_reply borrows them until the next call
 * of next/reset/cleanup. Errors are sticky and carry the stream offset.
 * Used for STARTTLS handling per SPEC TLS-1 (a reply must be complete and
 * nothing may follow the 220 to STARTTLS: see dg_smtp_reply_parser_pending).
 */
#include <daneguard/smtp.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
	REPLY_LINE_MIN = 8,        /* smallest line cap accepted: "250 ok\r\n" + 1 */
	REPLY_LINES_LIMIT = 10000, /* largest lines_max accepted */
	REPLY_SHOW_MAX = 24        /* bytes of a bad code shown in messages */
};

static enum dg_status reply_fail(struct dg_smtp_reply_parser *p, struct dg_err *err,
                                 enum dg_status code, size_t off, const char *fmt, ...)
    DG_PRINTF(5, 6);
static enum dg_status reply_line(struct dg_smtp_reply_parser *p, size_t start, size_t len,
                                 bool *last, struct dg_err *err);
static enum dg_status reply_check_code(struct dg_smtp_reply_parser *p, const uint8_t *s, size_t n,
                                       size_t off, struct dg_err *err);
static void reply_begin(struct dg_smtp_reply_parser *p);
static void reply_finish(struct dg_smtp_reply_parser *p, struct dg_smtp_reply *reply);
static bool reply_parse_status(const char *text, unsigned code, struct dg_smtp_status *st,
                               size_t *len);
static bool reply_status_part(const char **s, unsigned *v);

/* Record a sticky error at stream offset off and copy it to err. */
static enum dg_status reply_fail(struct dg_smtp_reply_parser *p, struct dg_err *err,
                                 enum dg_status code, size_t off, const char *fmt, ...)
{
	va_list ap;

	p->failed = code;
	p->err.code = code;
	p->err.sys_errno = 0;
	p->err.ssl_err = 0;
	p->err.offset = off;
	p->err.where = "smtp reply";
	va_start(ap, fmt);
	vsnprintf(p->err.msg, sizeof(p->err.msg), fmt, ap);
	va_end(ap);
	if (err != NULL)
		*err = p->err;
	return code;
}

void dg_smtp_reply_parser_init(struct dg_smtp_reply_parser *p,
                               const struct dg_smtp_reply_limits *lim)
{
	memset(p, 0, sizeof(*p));
	if (lim != NULL)
		p->lim = *lim;
	if (p->lim.line_max == 0)
		p->lim.line_max = DG_SMTP_REPLY_LINE_MAX;
	if (p->lim.line_max < REPLY_LINE_MIN)
		p->lim.line_max = REPLY_LINE_MIN;
	if (p->lim.lines_max == 0)
		p->lim.lines_max = DG_SMTP_REPLY_LINES_MAX;
	if (p->lim.lines_max > REPLY_LINES_LIMIT)
		p->lim.lines_max = REPLY_LINES_LIMIT;
	if (p->lim.bytes_max == 0)
		p->lim.bytes_max = DG_SMTP_REPLY_BYTES_MAX;
	if (p->lim.pending_max == 0)
		p->lim.pending_max = DG_SMTP_REPLY_PENDING_MAX;
	dg_buf_init(&p->in, p->lim.pending_max);
	/* Texts never exceed the wire bytes; one NUL per line replaces CRLF/LF. */
	dg_buf_init(&p->text, p->lim.bytes_max);
	p->line_at = dg_xcalloc(p->lim.lines_max, sizeof(*p->line_at));
	p->lines = dg_xcalloc(p->lim.lines_max, sizeof(*p->lines));
}

void dg_smtp_reply_parser_cleanup(struct dg_smtp_reply_parser *p)
{
	if (p == NULL)
		return;
	dg_buf_cleanup(&p->in);
	dg_buf_cleanup(&p->text);
	free(p->line_at);
	free(p->lines);
	p->line_at = NULL;
	p->lines = NULL;
}

void dg_smtp_reply_parser_reset(struct dg_smtp_reply_parser *p)
{
	dg_buf_reset(&p->in);
	p->in_off = 0;
	p->scan = 0;
	p->stream_off = 0;
	reply_begin(p);
	p->delivered = false;
	p->failed = DG_OK;
	dg_err_clear(&p->err);
}

/* Forget the reply under construction. */
static void reply_begin(struct dg_smtp_reply_parser *p)
{
	p->code = 0;
	p->nlines = 0;
	p->reply_bytes = 0;
	p->reply_off = p->stream_off + p->in_off;
	dg_buf_reset(&p->text);
}

enum dg_status dg_smtp_reply_parser_feed(struct dg_smtp_reply_parser *p, const uint8_t *data,
                                         size_t len, struct dg_err *err)
{
	if (p->failed != DG_OK) {
		if (err != NULL)
			*err = p->err;
		return p->failed;
	}
	if (p->in_off > 0) {
		dg_buf_consume(&p->in, p->in_off);
		p->stream_off += p->in_off;
		p->in_off = 0;
	}
	if (dg_buf_append(&p->in, data, len) != DG_OK)
		return reply_fail(p, err, DG_E_LIMIT, p->stream_off + p->in.len,
		                  "more than %zu bytes of unparsed reply data buffered",
		                  p->lim.pending_max);
	return DG_OK;
}

/* Check the 3-digit code (and its consistency) of a line starting at s. */
static enum dg_status reply_check_code(struct dg_smtp_reply_parser *p, const uint8_t *s, size_t n,
                                       size_t off, struct dg_err *err)
{
	char shown[REPLY_SHOW_MAX];
	unsigned code;

	if (n < 3 || !dg_ascii_isdigit(s[0]) || !dg_ascii_isdigit(s[1]) || !dg_ascii_isdigit(s[2]))
		return reply_fail(p, err, DG_E_PROTO, off,
		                  "reply line %zu: no 3-digit reply code at start of \"%s\"",
		                  p->nlines + 1,
		                  dg_str_escape(shown, sizeof(shown), s, n < 8 ? n : 8));
	code = (unsigned)(s[0] - '0') * 100 + (unsigned)(s[1] - '0') * 10 + (unsigned)(s[2] - '0');
	if (code < 200 || code > 599)
		return reply_fail(p, err, DG_E_PROTO, off,
		                  "reply line %zu: code %03u outside 200-599", p->nlines + 1, code);
	if (p->nlines > 0 && code != p->code)
		return reply_fail(p, err, DG_E_PROTO, off,
		                  "reply line %zu: code %u differs from first line %u",
		                  p->nlines + 1, code, p->code);
	if (n > 3 && s[3] != ' ' && s[3] != '-')
		return reply_fail(p, err, DG_E_PROTO, off + 3,
		                  "reply line %zu: expected ' ' or '-' after code %u, got '%s'",
		                  p->nlines + 1, code,
		                  dg_str_escape(shown, sizeof(shown), s + 3, 1));
	p->code = code;
	return DG_OK;
}

/*
 * Handle the complete line in.data[start, start+len) (len includes the LF).
 * Sets *last when it ends the reply.
 */
static enum dg_status reply_line(struct dg_smtp_reply_parser *p, size_t start, size_t len,
                                 bool *last, struct dg_err *err)
{
	const uint8_t *s = (const uint8_t *)p->in.data + start;
	size_t off = p->stream_off + start;
	size_t n = len - 1; /* without LF */
	const uint8_t *nul;
	enum dg_status st;

	if (n > 0 && s[n - 1] == '\r')
		n--;
	if (p->nlines == p->lim.lines_max)
		return reply_fail(p, err, DG_E_LIMIT, off, "reply has more than %zu lines",
		                  p->lim.lines_max);
	if (p->reply_bytes + len > p->lim.bytes_max)
		return reply_fail(p, err, DG_E_LIMIT, off, "reply longer than %zu bytes",
		                  p->lim.bytes_max);
	st = reply_check_code(p, s, n, off, err);
	if (st != DG_OK)
		return st;
	nul = memchr(s, '\0', n);
	if (nul != NULL)
		return reply_fail(p, err, DG_E_PROTO, off + (size_t)(nul - s),
		                  "reply line %zu: NUL byte at offset %zu", p->nlines + 1,
		                  off + (size_t)(nul - s));
	p->line_at[p->nlines] = p->text.len;
	if (dg_buf_append(&p->text, n > 4 ? s + 4 : s, n > 4 ? n - 4 : 0) != DG_OK ||
	    dg_buf_putc(&p->text, '\0') != DG_OK)
		return reply_fail(p, err, DG_E_INTERNAL, off, "reply text buffer overflow");
	p->nlines++;
	p->reply_bytes += len;
	*last = n == 3 || s[3] == ' ';
	return DG_OK;
}

enum dg_status dg_smtp_reply_parser_next(struct dg_smtp_reply_parser *p,
                                         struct dg_smtp_reply *reply, bool *complete,
                                         struct dg_err *err)
{
	*complete = false;
	if (p->failed != DG_OK) {
		if (err != NULL)
			*err = p->err;
		return p->failed;
	}
	if (p->delivered || p->nlines == 0) {
		p->delivered = false;
		reply_begin(p);
	}
	for (;;) {
		size_t avail = p->in.len - p->in_off;
		const uint8_t *base = (const uint8_t *)dg_buf_str(&p->in) + p->in_off;
		const uint8_t *lf = memchr(base + p->scan, '\n', avail - p->scan);
		size_t len;
		bool last = false;
		enum dg_status st;

		if (lf == NULL) {
			p->scan = avail;
			if (avail >= p->lim.line_max)
				return reply_fail(p, err, DG_E_LIMIT, p->stream_off + p->in_off,
				                  "reply line %zu: longer than %zu bytes",
				                  p->nlines + 1, p->lim.line_max);
			return DG_OK;
		}
		len = (size_t)(lf - base) + 1;
		if (len > p->lim.line_max)
			return reply_fail(p, err, DG_E_LIMIT, p->stream_off + p->in_off,
			                  "reply line %zu: longer than %zu bytes", p->nlines + 1,
			                  p->lim.line_max);
		st = reply_line(p, p->in_off, len, &last, err);
		if (st != DG_OK)
			return st;
		p->in_off += len;
		p->scan = 0;
		if (last) {
			reply_finish(p, reply);
			*complete = true;
			return DG_OK;
		}
	}
}

/* Fill reply from the finished lines. */
static void reply_finish(struct dg_smtp_reply_parser *p, struct dg_smtp_reply *reply)
{
	size_t slen = 0;

	for (size_t i = 0; i < p->nlines; i++)
		p->lines[i] = dg_buf_str(&p->text) + p->line_at[i];
	memset(reply, 0, sizeof(*reply));
	reply->code = p->code;
	reply->nlines = p->nlines;
	reply->lines = p->lines;
	reply->bytes = p->reply_bytes;
	reply->offset = p->reply_off;
	reply->has_status = reply_parse_status(p->lines[0], p->code, &reply->status, &slen);
	if (reply->has_status) /* as on the wire: at most 9 bytes */
		memcpy(reply->status_str, p->lines[0], slen);
	p->delivered = true;
}

/* Read 1..3 digits at *s into *v. */
static bool reply_status_part(const char **s, unsigned *v)
{
	size_t n = 0;

	*v = 0;
	while (n < 3 && dg_ascii_isdigit((unsigned char)(*s)[n])) {
		*v = *v * 10 + (unsigned)((*s)[n] - '0');
		n++;
	}
	if (n == 0 || dg_ascii_isdigit((unsigned char)(*s)[n]))
		return false;
	*s += n;
	return true;
}

/*
 * Parse an RFC 3463 status "c.sss.ddd" at the start of text, followed by a
 * space or the end; its class must equal the reply code's first digit.
 */
static bool reply_parse_status(const char *text, unsigned code, struct dg_smtp_status *st,
                               size_t *len)
{
	const char *s = text;

	if (*s < '2' || *s > '5' || (unsigned)(*s - '0') != code / 100 || s[1] != '.')
		return false;
	st->cls = (unsigned)(*s - '0');
	s += 2;
	if (!reply_status_part(&s, &st->subject) || *s != '.')
		return false;
	s++;
	if (!reply_status_part(&s, &st->detail) || (*s != ' ' && *s != '\0'))
		return false;
	*len = (size_t)(s - text);
	return true;
}

size_t dg_smtp_reply_parser_pending(const struct dg_smtp_reply_parser *p)
{
	size_t partial = p->delivered ? 0 : p->reply_bytes;

	return partial + (p->in.len - p->in_off);
}

const char *dg_smtp_reply_line_text(const struct dg_smtp_reply *reply, size_t i)
{
	const char *line = reply->lines[i];
	size_t n = strlen(reply->status_str);

	if (!reply->has_status || strncmp(line, reply->status_str, n) != 0)
		return line;
	if (line[n] == ' ')
		return line + n + 1;
	if (line[n] == '\0')
		return line + n;
	return line;
}
