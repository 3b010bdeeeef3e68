/*
 * queue_dsn.c - delivery status notifications: the bounce or delay report the relay sends
 * back to the sender of a message it could not deliver (RFC 3464, RFC 6522 multipart/report;
 * docs/internals/queue.md "Delivery status notifications").
 *
 * Public: dg_dsn_build().
 *
 * The builder is pure apart from the randomness of the MIME boundary and the Message-ID: it
 * validates its inputs, renders three parts into capped buffers (the human-readable text, the
 * message/delivery-status fields, the original header section), picks a boundary that occurs
 * in none of them, and assembles the message. Every line ends in CRLF and is at most 998
 * octets (RFC 5322 2.1.1): diagnostics are capped and folded at spaces, and a header field of
 * the original with a longer line is left out. Only the original's header section is copied,
 * never its body; 8-bit and control bytes in it become '?'.
 * UTF-8 addresses (SMTPUTF8, RFC 6531): a recipient is reported as "utf-8; " and the
 * utf-8-addr-xtext form of RFC 6533 section 3 (7-bit: non-ASCII characters and '\', '+',
 * '=' as "\x{HEX}"), in the notification text and in Final-Recipient, so both stay 7-bit;
 * only the To: field carries a UTF-8 sender as is (RFC 6532 3.2), which is right because
 * that message can only travel with SMTPUTF8 to that very address (needs_smtputf8() in
 * lib/relay). RFC 6533 message/global-delivery-status is not produced.
 * Ownership: the caller frees the returned message.
 * Implements the delivery-outcome rule of STYLE.md section 4 (an RFC 3463 status, an action
 * and a reason per recipient) for the relay of issue 8.
 */
#include <daneguard/queue.h>
#include <daneguard/util.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

/** Longest line written (RFC 5322 2.1.1), not counting CRLF. */
#define DSN_LINE_MAX 998
/** Lines are wrapped near this width where a space allows it. */
#define DSN_WRAP 76
/** Longest host name or queue id accepted as a token. */
#define DSN_TOKEN_MAX 255
/** Final-Recipient prefix of a UTF-8 address; the field must fit one line. */
#define DSN_UTF8_PFX "Final-Recipient: utf-8; "
/** Longest reported address (the xtext form of a UTF-8 one), so the field fits a line. */
#define DSN_ADDR_MAX (DSN_LINE_MAX - (sizeof(DSN_UTF8_PFX) - 1))
/** Boundary: a prefix and 24 random hex digits. */
#define DSN_BOUNDARY_SIZE 40
/** Boundaries tried before giving up (a collision needs content that guessed the random). */
#define DSN_BOUNDARY_TRIES 8

/** Source of random bytes (getentropy in the library, a script in tests). */
typedef void dsn_rand_fn(uint8_t *p, size_t n);

static bool dsn_token_ok(const char *s, size_t max);
static bool dsn_status_ok(const char *s);
DG_TESTABLE bool dsn_addr_xtext(const char *addr, char *out, size_t size);
static enum dg_status dsn_check(const struct dg_dsn_params *p, const struct dg_queue_msg *orig,
                                const struct dg_dsn_rcpt *rcpt, size_t n, struct dg_err *err);
static void dsn_date(uint64_t t, char out[40]);
static size_t dsn_clean(const char *in, char *out, size_t out_size);
static enum dg_status dsn_wrap(struct dg_buf *b, const char *first, const char *cont,
                               const char *text);
static enum dg_status dsn_text_part(struct dg_buf *b, const struct dg_dsn_params *p,
                                    const struct dg_dsn_rcpt *rcpt, size_t n, bool failed,
                                    bool truncated);
static enum dg_status dsn_status_part(struct dg_buf *b, const struct dg_dsn_params *p,
                                      const struct dg_queue_msg *orig,
                                      const struct dg_dsn_rcpt *rcpt, size_t n);
static bool dsn_field_name_len(const uint8_t *p, size_t len, size_t *name_len);
static void dsn_headers_part(struct dg_buf *b, const uint8_t *p, size_t len, bool *truncated);
static void dsn_sys_rand(uint8_t *p, size_t n);
static enum dg_status dsn_assemble(struct dg_buf *out, const struct dg_dsn_params *p,
                                   const struct dg_queue_msg *orig, bool failed,
                                   struct dg_buf parts[3], const char *boundary, dsn_rand_fn *rnd);
DG_TESTABLE bool dsn_boundary_pick(const struct dg_buf *parts, size_t n, dsn_rand_fn *rnd,
                                   char out[DSN_BOUNDARY_SIZE]);
DG_TESTABLE enum dg_status dsn_build_rand(const struct dg_dsn_params *p,
                                          const struct dg_queue_msg *orig,
                                          const struct dg_dsn_rcpt *rcpt, size_t n,
                                          dsn_rand_fn *rnd, uint8_t **out, size_t *len,
                                          struct dg_err *err);

/* ---- input checks ------------------------------------------------------------------- */

/* 1..max printable ASCII bytes without space, '<' or '>' (addresses, host names, ids). */
static bool dsn_token_ok(const char *s, size_t max)
{
	size_t i;

	if (s == NULL)
		return false;
	for (i = 0; s[i] != '\0'; i++)
		if (i >= max || s[i] <= ' ' || s[i] >= 0x7f || s[i] == '<' || s[i] == '>')
			return false;
	return i > 0;
}

/* RFC 6533 section 3 utf-8-addr-xtext of a valid address (dg_queue_addr_ok): QCHAR bytes
 * as they are; '\', '+', '=' and each non-ASCII character as "\x{HEX}", the code point
 * in upper-case hex without leading zeros (HEXPOINT). @return false if @p out is too small */
DG_TESTABLE bool dsn_addr_xtext(const char *addr, char *out, size_t size)
{
	const unsigned char *u = (const unsigned char *)addr;
	size_t o = 0;

	for (size_t i = 0; u[i] != '\0'; i++) {
		uint32_t cp = u[i];
		int k;

		if (u[i] >= 0xf0)
			cp = u[i] & 0x07u, k = 3;
		else if (u[i] >= 0xe0)
			cp = u[i] & 0x0fu, k = 2;
		else if (u[i] >= 0xc0)
			cp = u[i] & 0x1fu, k = 1;
		else
			k = 0;
		for (; k > 0 && u[i + 1] != '\0'; k--)
			cp = (cp << 6) | (u[++i] & 0x3fu);
		if (cp >= 0x80 || cp == '\\' || cp == '+' || cp == '=') {
			int w = snprintf(out + o, size - o, "\\x{%" PRIX32 "}", cp);

			if (w < 0 || (size_t)w >= size - o)
				return false;
			o += (size_t)w;
		} else if (o + 1 < size) {
			out[o++] = (char)cp;
		} else {
			return false;
		}
	}
	if (o >= size)
		return false;
	out[o] = '\0';
	return true;
}

/* RFC 3463 status with class 4 or 5: class "." 1*3digit "." 1*3digit. */
static bool dsn_status_ok(const char *s)
{
	size_t i = 2;

	if (s == NULL || (s[0] != '4' && s[0] != '5') || s[1] != '.')
		return false;
	for (int part = 0; part < 2; part++) {
		size_t start = i;

		while (dg_ascii_isdigit(s[i]) && i - start < 3)
			i++;
		if (i == start || (part == 0 && s[i] != '.') || (part == 1 && s[i] != '\0'))
			return false;
		i++;
	}
	return true;
}

static enum dg_status dsn_check(const struct dg_dsn_params *p, const struct dg_queue_msg *orig,
                                const struct dg_dsn_rcpt *rcpt, size_t n, struct dg_err *err)
{
	if (p == NULL || orig == NULL || rcpt == NULL)
		return dg_err_set(err, DG_E_CONFIG, "DSN: missing parameters");
	if (orig->sender[0] == '\0')
		return dg_err_set(err, DG_E_CONFIG,
		                  "DSN for message %s: the null sender never "
		                  "gets a DSN (RFC 3464 2)",
		                  orig->id[0] ? orig->id : "(no id)");
	if (n == 0 || n > DG_QUEUE_RCPT_MAX)
		return dg_err_set(err, DG_E_CONFIG, "DSN: %zu recipients (1..%d)", n,
		                  DG_QUEUE_RCPT_MAX);
	if (!dg_queue_addr_ok(orig->sender))
		return dg_err_set(err, DG_E_PARSE, "DSN: malformed sender address");
	if (!dsn_token_ok(p->reporting_mta, DSN_TOKEN_MAX) ||
	    !dsn_token_ok(p->from, DG_QUEUE_ADDR_MAX) ||
	    (p->queue_id != NULL && !dsn_token_ok(p->queue_id, DSN_TOKEN_MAX)))
		return dg_err_set(err, DG_E_CONFIG,
		                  "DSN: malformed reporting MTA, From or queue id");
	for (size_t i = 0; i < n; i++) {
		const struct dg_dsn_rcpt *r = &rcpt[i];
		bool failed = r->action != NULL && strcmp(r->action, "failed") == 0;
		bool delayed = r->action != NULL && strcmp(r->action, "delayed") == 0;
		char x[DSN_ADDR_MAX + 1];

		if (!dg_queue_addr_ok(r->addr))
			return dg_err_set(err, DG_E_PARSE, "DSN recipient %zu: malformed address",
			                  i);
		if (dg_queue_addr_is_utf8(r->addr) && !dsn_addr_xtext(r->addr, x, sizeof(x)))
			return dg_err_set(
			    err, DG_E_PARSE,
			    "DSN recipient %zu: UTF-8 address too long to report (RFC "
			    "6533 xtext over %zu bytes)",
			    i, (size_t)DSN_ADDR_MAX);
		if (!dsn_status_ok(r->status) || !(failed || delayed) ||
		    (delayed && r->status[0] != '4'))
			return dg_err_set(err, DG_E_PARSE,
			                  "DSN recipient %s: action %s with status %s "
			                  "(want failed with 4.x.x or 5.x.x, delayed with 4.x.x)",
			                  r->addr, r->action ? r->action : "NULL",
			                  r->status ? r->status : "NULL");
		if (r->remote_mta != NULL && !dsn_token_ok(r->remote_mta, DSN_TOKEN_MAX))
			return dg_err_set(err, DG_E_PARSE, "DSN recipient %s: malformed remote MTA",
			                  r->addr);
	}
	return DG_OK;
}

/* ---- text helpers ------------------------------------------------------------------- */

/* RFC 5322 date-time in UTC, locale independent: "Sat, 14 Nov 2023 22:13:20 +0000". */
static void dsn_date(uint64_t t, char out[40])
{
	static const char *const days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
	static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
	                                     "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
	time_t tt = (time_t)(t > 253402300799u ? 253402300799u : t); /* 9999-12-31 */
	struct tm tm;

	if (gmtime_r(&tt, &tm) == NULL) {
		tt = 0;
		gmtime_r(&tt, &tm);
	}
	snprintf(out, 40, "%s, %d %s %04d %02d:%02d:%02d +0000", days[tm.tm_wday % 7], tm.tm_mday,
	         months[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/* Copy at most out_size-1 bytes of a diagnostic: control bytes and runs of space become one
 * space, 8-bit bytes '?', no leading or trailing space. @return the length */
static size_t dsn_clean(const char *in, char *out, size_t out_size)
{
	size_t o = 0;
	bool space = false;

	for (size_t i = 0; in != NULL && in[i] != '\0' && o + 1 < out_size; i++) {
		unsigned char c = (unsigned char)in[i];

		if (c <= ' ' || c == 0x7f) {
			space = o > 0;
			continue;
		}
		if (space && o + 2 < out_size)
			out[o++] = ' ';
		space = false;
		out[o++] = c >= 0x80 ? '?' : (char)c;
	}
	out[o] = '\0';
	return o;
}

/* Write @p first and the words of @p text (single spaces, no control bytes), breaking lines
 * near DSN_WRAP at spaces; continuation lines start with @p cont (" " folds a header field,
 * RFC 5322 2.2.3). A word never breaks, so a line is at most prefix + longest word. */
static enum dg_status dsn_wrap(struct dg_buf *b, const char *first, const char *cont,
                               const char *text)
{
	size_t col = strlen(first);
	enum dg_status st = dg_buf_append_str(b, first);
	const char *w = text;
	bool at_start = true;

	while (st == DG_OK && *w != '\0') {
		const char *sp = strchr(w, ' ');
		size_t wl = sp != NULL ? (size_t)(sp - w) : strlen(w);

		if (!at_start && col + 1 + wl > DSN_WRAP) {
			st = dg_buf_printf(b, "\r\n%s", cont);
			col = strlen(cont);
		} else if (!at_start || first[0] != '\0') {
			st = dg_buf_putc(b, ' ');
			col++;
		}
		if (st == DG_OK)
			st = dg_buf_append(b, w, wl);
		col += wl;
		at_start = false;
		w += wl + (sp != NULL ? 1 : 0);
	}
	return st == DG_OK ? dg_buf_append_str(b, "\r\n") : st;
}

/* ---- the three parts ---------------------------------------------------------------- */

static enum dg_status dsn_text_part(struct dg_buf *b, const struct dg_dsn_params *p,
                                    const struct dg_dsn_rcpt *rcpt, size_t n, bool failed,
                                    bool truncated)
{
	char diag[DG_DSN_DIAG_MAX + 1], head[DSN_ADDR_MAX + 64], x[DSN_ADDR_MAX + 1];
	enum dg_status st;

	st = dg_buf_printf(b, "This is the mail delivery system at %s.\r\n\r\n", p->reporting_mta);
	if (st == DG_OK && failed)
		st = dg_buf_append_str(b, "Your message could not be delivered to one or more "
		                          "recipients; delivery to\r\nthem has been given up. Each "
		                          "recipient is listed below with its\r\nstate and the "
		                          "reason.\r\n\r\n");
	else if (st == DG_OK)
		st = dg_buf_append_str(b,
		                       "Your message has not been delivered yet to the recipients "
		                       "below. Delivery\r\nis still being tried; you need not send "
		                       "it again. The reason for each\r\none follows.\r\n\r\n");
	for (size_t i = 0; st == DG_OK && i < n; i++) {
		const struct dg_dsn_rcpt *r = &rcpt[i];

		if (!dg_queue_addr_is_utf8(r->addr))
			snprintf(x, sizeof(x), "%s", r->addr);
		else if (!dsn_addr_xtext(r->addr, x, sizeof(x)))
			DG_PANIC("DSN: xtext of a checked address does not fit");
		snprintf(head, sizeof(head), "<%s>: %s (%s)", x, r->action, r->status);
		st = dsn_wrap(b, head, "    ", "");
		if (st == DG_OK && r->remote_mta != NULL)
			st = dg_buf_printf(b, "    remote server: %s\r\n", r->remote_mta);
		if (st == DG_OK && dsn_clean(r->diagnostic, diag, sizeof(diag)) > 0)
			st = dsn_wrap(b, "    reason:", "        ", diag);
	}
	if (st == DG_OK)
		st = dg_buf_printf(b,
		                   "\r\nThe header section of your message is attached%s; its "
		                   "body is not.\r\n",
		                   truncated ? " (shortened)" : "");
	return st;
}

static enum dg_status dsn_status_part(struct dg_buf *b, const struct dg_dsn_params *p,
                                      const struct dg_queue_msg *orig,
                                      const struct dg_dsn_rcpt *rcpt, size_t n)
{
	char date[40], diag[DG_DSN_DIAG_MAX + 1], x[DSN_ADDR_MAX + 1];
	uint64_t arrival = p->arrival_s != 0 ? p->arrival_s : orig->arrival_s;
	enum dg_status st = dg_buf_printf(b, "Reporting-MTA: dns; %s\r\n", p->reporting_mta);

	if (st == DG_OK && p->queue_id != NULL)
		st = dg_buf_printf(b, "X-Queue-ID: %s\r\n", p->queue_id);
	if (st == DG_OK && arrival != 0) {
		dsn_date(arrival, date);
		st = dg_buf_printf(b, "Arrival-Date: %s\r\n", date);
	}
	for (size_t i = 0; st == DG_OK && i < n; i++) {
		const struct dg_dsn_rcpt *r = &rcpt[i];
		size_t dl = dsn_clean(r->diagnostic, diag, sizeof(diag)), semi;

		bool utf8 = dg_queue_addr_is_utf8(r->addr);

		if (utf8 && !dsn_addr_xtext(r->addr, x, sizeof(x))) /* RFC 6533 3 */
			DG_PANIC("DSN: xtext of a checked address does not fit");
		st = dg_buf_printf(b, "\r\nFinal-Recipient: %s; %s\r\nAction: %s\r\nStatus: %s\r\n",
		                   utf8 ? "utf-8" : "rfc822", utf8 ? x : r->addr, r->action,
		                   r->status);
		if (st == DG_OK && r->remote_mta != NULL)
			st = dg_buf_printf(b, "Remote-MTA: dns; %s\r\n", r->remote_mta);
		if (st == DG_OK && dl > 0) {
			/* diagnostic-type ";" text (RFC 3464 2.3.6); a text without a type is ours
			 */
			semi = strcspn(diag, "; ");
			st = dsn_wrap(b,
			              diag[semi] == ';' && semi > 0
			                  ? "Diagnostic-Code:"
			                  : "Diagnostic-Code: X-daneguard;",
			              " ", diag);
		}
		if (st == DG_OK && r->last_attempt_s != 0) {
			dsn_date(r->last_attempt_s, date);
			st = dg_buf_printf(b, "Last-Attempt-Date: %s\r\n", date);
		}
	}
	return st;
}

/* A header field name (printable ASCII but ':') followed by ':' starts the line. */
static bool dsn_field_name_len(const uint8_t *p, size_t len, size_t *name_len)
{
	size_t i = 0;

	while (i < len && p[i] > ' ' && p[i] < 0x7f && p[i] != ':')
		i++;
	*name_len = i;
	return i > 0 && i < len && p[i] == ':';
}

/* The original's header section: fields up to the first empty line or the first line that
 * is neither a field nor a continuation (a message without a separator). Whole fields only:
 * one with a line over DSN_LINE_MAX is left out, and copying stops at DG_DSN_HEADERS_MAX. */
static void dsn_headers_part(struct dg_buf *b, const uint8_t *p, size_t len, bool *truncated)
{
	size_t off = 0, field_start = 0;
	bool in_field = false, field_bad = false;

	*truncated = false;
	while (off < len) {
		const uint8_t *nl = memchr(p + off, '\n', len - off);
		size_t end = nl != NULL ? (size_t)(nl - p) : len, next = nl != NULL ? end + 1 : len;
		size_t ll = end - off - (end > off && p[end - 1] == '\r' ? 1 : 0), nlen;
		bool cont = ll > 0 && (p[off] == ' ' || p[off] == '\t');

		if (ll == 0 || (!cont && !dsn_field_name_len(p + off, ll, &nlen)) ||
		    (cont && !in_field))
			break; /* end of the header section */
		if (!cont) {
			field_start = b->len;
			field_bad = false;
			in_field = true;
		}
		if (!field_bad && (ll > DSN_LINE_MAX || b->len + ll + 2 > DG_DSN_HEADERS_MAX)) {
			field_bad = true;
			*truncated = true;
			b->len = field_start; /* drop what was copied of this field */
			if (b->data != NULL)
				b->data[b->len] = '\0';
			if (ll <= DSN_LINE_MAX)
				break; /* the cap is reached: copy no more fields */
		}
		for (size_t i = 0; !field_bad && i < ll; i++) {
			uint8_t c = p[off + i];

			dg_buf_putc(b, (c < ' ' && c != '\t') || c >= 0x7f ? '?' : c);
		}
		if (!field_bad)
			dg_buf_append(b, "\r\n", 2);
		off = next;
	}
}

/* ---- boundary and assembly ---------------------------------------------------------- */

static void dsn_sys_rand(uint8_t *p, size_t n)
{
	if (getentropy(p, n) != 0)
		DG_PANIC("getentropy failed");
}

/* A boundary of random hex digits that none of the parts contains (RFC 2046 5.1.1). */
DG_TESTABLE bool dsn_boundary_pick(const struct dg_buf *parts, size_t n, dsn_rand_fn *rnd,
                                   char out[DSN_BOUNDARY_SIZE])
{
	uint8_t r[12];

	for (int t = 0; t < DSN_BOUNDARY_TRIES; t++) {
		bool clash = false;

		rnd(r, sizeof(r));
		snprintf(out, DSN_BOUNDARY_SIZE, "=_dg-dsn_");
		for (size_t i = 0; i < sizeof(r); i++)
			snprintf(out + 9 + 2 * i, 3, "%02x", r[i]);
		for (size_t i = 0; i < n && !clash; i++)
			clash = parts[i].len > 0 &&
			        memmem(parts[i].data, parts[i].len, out, strlen(out)) != NULL;
		if (!clash)
			return true;
	}
	return false;
}

static enum dg_status dsn_assemble(struct dg_buf *out, const struct dg_dsn_params *p,
                                   const struct dg_queue_msg *orig, bool failed,
                                   struct dg_buf parts[3], const char *boundary, dsn_rand_fn *rnd)
{
	static const char *const types[3] = {
	    "text/plain; charset=us-ascii\r\nContent-Description: Notification",
	    "message/delivery-status\r\nContent-Description: Delivery report",
	    "text/rfc822-headers\r\nContent-Description: Header section of your message"};
	char date[40], mid[32];
	uint8_t r[6];
	enum dg_status st;

	dsn_date(p->now_s, date);
	rnd(r, sizeof(r));
	snprintf(mid, sizeof(mid), "%02x%02x%02x%02x%02x%02x", r[0], r[1], r[2], r[3], r[4], r[5]);
	st = dg_buf_printf(
	    out,
	    "From: Mail Delivery System <%s>\r\nTo: <%s>\r\nSubject: %s\r\n"
	    "Date: %s\r\nMessage-ID: <%" PRIx64 ".%s.dsn@%s>\r\nMIME-Version: 1.0\r\n"
	    "Auto-Submitted: auto-replied\r\n"
	    "Content-Type: multipart/report; report-type=delivery-status;\r\n"
	    " boundary=\"%s\"\r\n\r\nThis is a MIME-encapsulated message.\r\n",
	    p->from, orig->sender,
	    failed ? "Undelivered Mail Returned to Sender" : "Delayed Mail (still being retried)",
	    date, p->now_s, mid, p->reporting_mta, boundary);
	for (size_t i = 0; st == DG_OK && i < 3; i++) {
		st = dg_buf_printf(out, "\r\n--%s\r\nContent-Type: %s\r\n\r\n", boundary, types[i]);
		if (st == DG_OK)
			st = dg_buf_append(out, parts[i].data, parts[i].len);
	}
	return st == DG_OK ? dg_buf_printf(out, "\r\n--%s--\r\n", boundary) : st;
}

DG_TESTABLE enum dg_status dsn_build_rand(const struct dg_dsn_params *p,
                                          const struct dg_queue_msg *orig,
                                          const struct dg_dsn_rcpt *rcpt, size_t n,
                                          dsn_rand_fn *rnd, uint8_t **out, size_t *len,
                                          struct dg_err *err)
{
	struct dg_buf parts[3], msg;
	char boundary[DSN_BOUNDARY_SIZE];
	bool failed = false, truncated;
	enum dg_status st;

	*out = NULL;
	*len = 0;
	if ((st = dsn_check(p, orig, rcpt, n, err)) != DG_OK)
		return st;
	for (size_t i = 0; i < n; i++)
		failed = failed || strcmp(rcpt[i].action, "failed") == 0;
	for (size_t i = 0; i < 3; i++)
		dg_buf_init(&parts[i], DG_DSN_MAX_BYTES);
	dg_buf_init(&msg, DG_DSN_MAX_BYTES);
	dsn_headers_part(&parts[2], orig->body, orig->body_len, &truncated);
	st = dsn_text_part(&parts[0], p, rcpt, n, failed, truncated);
	if (st == DG_OK)
		st = dsn_status_part(&parts[1], p, orig, rcpt, n);
	if (st == DG_OK && !dsn_boundary_pick(parts, 3, rnd, boundary))
		st =
		    dg_err_set(err, DG_E_INTERNAL, "DSN: no MIME boundary absent from the content");
	else if (st != DG_OK)
		st = dg_err_set(err, DG_E_LIMIT, "DSN: larger than %u bytes", DG_DSN_MAX_BYTES);
	if (st == DG_OK && dsn_assemble(&msg, p, orig, failed, parts, boundary, rnd) != DG_OK)
		st = dg_err_set(err, DG_E_LIMIT, "DSN: larger than %u bytes", DG_DSN_MAX_BYTES);
	for (size_t i = 0; i < 3; i++)
		dg_buf_cleanup(&parts[i]);
	if (st != DG_OK) {
		dg_buf_cleanup(&msg);
		return st;
	}
	*len = dg_buf_len(&msg);
	*out = (uint8_t *)dg_buf_take(&msg);
	return DG_OK;
}

enum dg_status dg_dsn_build(const struct dg_dsn_params *p, const struct dg_queue_msg *orig,
                            const struct dg_dsn_rcpt *rcpt, size_t n, uint8_t **out, size_t *len,
                            struct dg_err *err)
{
	return dsn_build_rand(p, orig, rcpt, n, dsn_sys_rand, out, len, err);
}
