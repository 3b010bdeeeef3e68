/*
 * queue_record.c - the queue record format: strict parser and canonical writer
 * (docs/internals/queue.md "Record format").
 *
 * Public: dg_queue_record_parse(), dg_queue_record_format(), dg_queue_id_ok(),
 * dg_queue_addr_ok(), dg_queue_addr_is_utf8(), dg_queue_msg_cleanup(),
 * dg_queue_rcpt_state_str().
 *
 * A record is a header of "key: value" lines in a fixed order, then the body whose length
 * is explicit:
 *
 *   daneguard-queue: 1
 *   id: <20 hex>
 *   arrival: <epoch seconds>
 *   sender: <address, or "<>" for the null sender>
 *   [smtputf8: yes]                  (only when the client's MAIL carried SMTPUTF8)
 *   rcpt: <state> <attempts> <next_try> <address>[ <reason>]     (1..DG_QUEUE_RCPT_MAX)
 *   body: <length>
 *   <length bytes>
 *
 * Addresses are printable ASCII or well-formed UTF-8 (RFC 6531) without controls, space,
 * '<' or '>' (dg_queue_addr_ok). The "smtputf8" line and UTF-8 addresses were added to
 * version 1 without a version bump: every version 1 record written before stays valid, and
 * an older reader refuses a record using them (it moves it to corrupt/, never misreads it).
 *
 * The parser is pure (STYLE.md section 7): it reads through a dg_cursor, refuses
 * non-canonical numbers, unknown keys and trailing bytes, so that parse then format gives
 * the input back byte for byte. The parsed body is borrowed from the input; recipients
 * are allocated and released by dg_queue_msg_cleanup().
 */
#include <daneguard/queue.h>
#include <daneguard/util.h>

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/** Longest header line (a recipient line with the longest address and reason). */
#define REC_LINE_MAX (DG_QUEUE_ADDR_MAX + DG_QUEUE_REASON_MAX + 64)

/** One header line: bytes without the newline, borrowed from the input. */
struct rec_line {
	const char *p;
	size_t len;
};

static bool rec_take_line(struct dg_cursor *c, struct rec_line *line);
static bool rec_take_value(struct dg_cursor *c, const char *key, struct rec_line *val);
static bool rec_num(const char *p, size_t len, uint64_t max, uint64_t *out);
static bool rec_addr_ok(const char *p, size_t len);
static bool rec_reason_ok(const char *p, size_t len);
static bool rec_word(struct rec_line *l, struct rec_line *word);
static bool rec_state(const struct rec_line *w, enum dg_queue_rcpt_state *st);
static void rec_parse_rcpt(struct dg_cursor *c, struct rec_line *l, struct dg_queue_rcpt *r);
static void rec_parse_head(struct dg_cursor *c, struct dg_queue_msg *msg);
static void rec_parse_rcpts(struct dg_cursor *c, struct dg_queue_msg *msg, struct rec_line *next);
static enum dg_status rec_check_msg(const struct dg_queue_msg *msg, struct dg_err *err);

static const char *const rec_state_names[] = {"pending", "delivered", "deferred", "bounced"};

const char *dg_queue_rcpt_state_str(enum dg_queue_rcpt_state st)
{
	if ((unsigned)st < sizeof(rec_state_names) / sizeof(rec_state_names[0]))
		return rec_state_names[st];
	return "unknown";
}

bool dg_queue_id_ok(const char *id)
{
	size_t i;

	if (id == NULL)
		return false;
	for (i = 0; id[i] != '\0'; i++) {
		if (i >= DG_QUEUE_ID_LEN)
			return false;
		if (!dg_ascii_isdigit(id[i]) && !(id[i] >= 'a' && id[i] <= 'f'))
			return false;
	}
	return i == DG_QUEUE_ID_LEN;
}

void dg_queue_msg_cleanup(struct dg_queue_msg *msg)
{
	if (msg == NULL)
		return;
	free(msg->rcpt);
	free(msg->raw);
	memset(msg, 0, sizeof(*msg));
}

/* Take one line up to REC_LINE_MAX bytes; the newline is consumed, not returned. */
static bool rec_take_line(struct dg_cursor *c, struct rec_line *line)
{
	size_t left = dg_cursor_remaining(c),
	       scan = left < REC_LINE_MAX + 1 ? left : REC_LINE_MAX + 1;
	const uint8_t *nl;

	if (!dg_cursor_ok(c))
		return false;
	nl = memchr(c->p + c->off, '\n', scan);
	if (nl == NULL) {
		dg_cursor_fail(c,
		               scan > REC_LINE_MAX ? "header line too long" : "truncated header");
		return false;
	}
	line->len = (size_t)(nl - (c->p + c->off));
	line->p = (const char *)dg_cursor_bytes(c, line->len + 1);
	return line->p != NULL;
}

/* Take a line that must read "<key>: <value>"; the value is returned. */
static bool rec_take_value(struct dg_cursor *c, const char *key, struct rec_line *val)
{
	size_t start = dg_cursor_offset(c), klen = strlen(key);
	struct rec_line l;

	if (!rec_take_line(c, &l))
		return false;
	if (l.len < klen + 2 || memcmp(l.p, key, klen) != 0 || l.p[klen] != ':' ||
	    l.p[klen + 1] != ' ') {
		c->off = start; /* report the offset of the line */
		dg_cursor_fail(c, "unexpected header line");
		return false;
	}
	val->p = l.p + klen + 2;
	val->len = l.len - klen - 2;
	return true;
}

/* Canonical decimal: digits only, no leading zero (except "0"), at most @p max. */
static bool rec_num(const char *p, size_t len, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;

	if (len == 0 || len > 20 || (len > 1 && p[0] == '0'))
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned d = (unsigned)(p[i] - '0');

		if (!dg_ascii_isdigit(p[i]) || v > (max - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*out = v;
	return true;
}

/* Address: 1..DG_QUEUE_ADDR_MAX bytes of printable ASCII or UTF-8 (RFC 6531), no C0, DEL or
 * C1 control (U+0080..U+009F), no space, '<' or '>'. */
static bool rec_addr_ok(const char *p, size_t len)
{
	const unsigned char *u = (const unsigned char *)p;

	if (len == 0 || len > DG_QUEUE_ADDR_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		size_t k;

		if (u[i] < 0x80) {
			if (u[i] <= 0x20 || u[i] == 0x7f || u[i] == '<' || u[i] == '>')
				return false;
			continue;
		}
		if ((k = dg_utf8_seq_len(u + i, len - i)) == 0 || (u[i] == 0xc2 && u[i + 1] < 0xa0))
			return false; /* malformed, or a C1 control */
		i += k - 1;
	}
	return true;
}

bool dg_queue_addr_ok(const char *addr)
{
	return addr != NULL && rec_addr_ok(addr, strnlen(addr, DG_QUEUE_ADDR_MAX + 1));
}

bool dg_queue_addr_is_utf8(const char *addr)
{
	for (const char *q = addr; *q != '\0'; q++)
		if ((unsigned char)*q >= 0x80)
			return true;
	return false;
}

/* Reason: 0..DG_QUEUE_REASON_MAX printable ASCII bytes, no leading or trailing space. */
static bool rec_reason_ok(const char *p, size_t len)
{
	if (len > DG_QUEUE_REASON_MAX)
		return false;
	if (len > 0 && (p[0] == ' ' || p[len - 1] == ' '))
		return false;
	for (size_t i = 0; i < len; i++) {
		if (p[i] < 0x20 || p[i] >= 0x7f)
			return false;
	}
	return true;
}

/* Split off the next space-terminated word of @p l (at least one byte). */
static bool rec_word(struct rec_line *l, struct rec_line *word)
{
	const char *sp = memchr(l->p, ' ', l->len);

	word->p = l->p;
	word->len = sp != NULL ? (size_t)(sp - l->p) : l->len;
	if (word->len == 0)
		return false;
	l->p += word->len;
	l->len -= word->len;
	if (sp != NULL) {
		l->p++;
		l->len--;
	}
	return true;
}

static bool rec_state(const struct rec_line *w, enum dg_queue_rcpt_state *st)
{
	for (size_t i = 0; i < sizeof(rec_state_names) / sizeof(rec_state_names[0]); i++) {
		if (strlen(rec_state_names[i]) == w->len &&
		    memcmp(rec_state_names[i], w->p, w->len) == 0) {
			*st = (enum dg_queue_rcpt_state)i;
			return true;
		}
	}
	return false;
}

/* "<state> <attempts> <next_try> <address>[ <reason>]" into @p r. */
static void rec_parse_rcpt(struct dg_cursor *c, struct rec_line *l, struct dg_queue_rcpt *r)
{
	struct rec_line w_st, w_att, w_next, w_addr;
	const char *end = l->p + l->len;
	uint64_t att = 0;

	if (!rec_word(l, &w_st) || !rec_word(l, &w_att) || !rec_word(l, &w_next) ||
	    !rec_word(l, &w_addr)) {
		dg_cursor_fail(c, "recipient line needs state, attempts, next try, address");
		return;
	}
	if (!rec_state(&w_st, &r->state)) {
		dg_cursor_fail(c, "unknown recipient state");
		return;
	}
	if (!rec_num(w_att.p, w_att.len, UINT32_MAX, &att) ||
	    !rec_num(w_next.p, w_next.len, UINT64_MAX, &r->next_try_s)) {
		dg_cursor_fail(c, "bad recipient attempts or next try");
		return;
	}
	r->attempts = (uint32_t)att;
	if (!rec_addr_ok(w_addr.p, w_addr.len)) {
		dg_cursor_fail(c, "bad recipient address");
		return;
	}
	memcpy(r->addr, w_addr.p, w_addr.len);
	r->addr[w_addr.len] = '\0';
	/* a space after the address must introduce a non-empty reason */
	if ((l->len == 0 && w_addr.p + w_addr.len != end) || !rec_reason_ok(l->p, l->len)) {
		dg_cursor_fail(c, "bad recipient reason");
		return;
	}
	memcpy(r->reason, l->p, l->len);
	r->reason[l->len] = '\0';
}

/* Version, id, arrival, sender and the optional smtputf8 line. */
static void rec_parse_head(struct dg_cursor *c, struct dg_queue_msg *msg)
{
	struct rec_line v;

	if (!rec_take_value(c, "daneguard-queue", &v))
		return;
	if (v.len != 1 || v.p[0] != '0' + DG_QUEUE_VERSION) {
		dg_cursor_fail(c, "unsupported record version");
		return;
	}
	if (!rec_take_value(c, "id", &v))
		return;
	if (v.len != DG_QUEUE_ID_LEN) {
		dg_cursor_fail(c, "bad id");
		return;
	}
	memcpy(msg->id, v.p, v.len);
	msg->id[v.len] = '\0';
	if (!dg_queue_id_ok(msg->id)) {
		dg_cursor_fail(c, "bad id");
		return;
	}
	if (!rec_take_value(c, "arrival", &v))
		return;
	if (!rec_num(v.p, v.len, UINT64_MAX, &msg->arrival_s)) {
		dg_cursor_fail(c, "bad arrival time");
		return;
	}
	if (!rec_take_value(c, "sender", &v))
		return;
	if (v.len == 2 && memcmp(v.p, "<>", 2) == 0)
		v.len = 0;
	else if (!rec_addr_ok(v.p, v.len)) {
		dg_cursor_fail(c, "bad sender address");
		return;
	}
	memcpy(msg->sender, v.p, v.len);
	msg->sender[v.len] = '\0';
	/* optional "smtputf8: yes"; canonical: absent when false, never "no" */
	if (dg_cursor_remaining(c) >= 9 && memcmp(c->p + c->off, "smtputf8:", 9) == 0) {
		if (!rec_take_value(c, "smtputf8", &v))
			return;
		if (v.len != 3 || memcmp(v.p, "yes", 3) != 0) {
			dg_cursor_fail(c, "bad smtputf8 value");
			return;
		}
		msg->smtputf8 = true;
	}
}

/* Recipient lines; @p next receives the first line that is not one (the body line). */
static void rec_parse_rcpts(struct dg_cursor *c, struct dg_queue_msg *msg, struct rec_line *next)
{
	size_t cap = 0;

	while (rec_take_line(c, next)) {
		struct rec_line l = *next;

		if (l.len < 6 || memcmp(l.p, "rcpt: ", 6) != 0)
			return;
		if (msg->n_rcpt == DG_QUEUE_RCPT_MAX) {
			dg_cursor_fail(c, "too many recipients");
			return;
		}
		if (msg->n_rcpt == cap) {
			cap = cap ? cap * 2 : 4;
			msg->rcpt = dg_xrealloc(msg->rcpt, cap * sizeof(*msg->rcpt));
		}
		memset(&msg->rcpt[msg->n_rcpt], 0, sizeof(*msg->rcpt));
		l.p += 6;
		l.len -= 6;
		rec_parse_rcpt(c, &l, &msg->rcpt[msg->n_rcpt++]);
	}
}

enum dg_status dg_queue_record_parse(const uint8_t *p, size_t len, struct dg_queue_msg *msg,
                                     struct dg_err *err)
{
	struct dg_cursor c;
	struct rec_line l;
	uint64_t blen = 0;

	memset(msg, 0, sizeof(*msg));
	dg_cursor_init(&c, p, len);
	rec_parse_head(&c, msg);
	rec_parse_rcpts(&c, msg, &l);
	if (dg_cursor_ok(&c) && msg->n_rcpt == 0)
		dg_cursor_fail(&c, "no recipients");
	if (dg_cursor_ok(&c) && dg_cursor_offset(&c) - l.len - 1 > DG_QUEUE_HEADER_MAX)
		return dg_err_set(err, DG_E_LIMIT, "queue record: header over %u bytes",
		                  DG_QUEUE_HEADER_MAX);
	if (dg_cursor_ok(&c) && (l.len < 6 || memcmp(l.p, "body: ", 6) != 0))
		dg_cursor_fail(&c, "expected body line");
	if (dg_cursor_ok(&c) && !rec_num(l.p + 6, l.len - 6, DG_QUEUE_BODY_MAX, &blen))
		dg_cursor_fail(&c, "bad body length");
	msg->body_len = (size_t)blen;
	msg->body = dg_cursor_bytes(&c, msg->body_len);
	dg_cursor_expect_end(&c);
	return dg_cursor_err(&c, "queue record", err);
}

/* Check that every field of @p msg would parse back. */
static enum dg_status rec_check_msg(const struct dg_queue_msg *msg, struct dg_err *err)
{
	if (!dg_queue_id_ok(msg->id))
		return dg_err_set(err, DG_E_PARSE, "queue record: bad id");
	if (msg->sender[0] != '\0' &&
	    !rec_addr_ok(msg->sender, strnlen(msg->sender, sizeof(msg->sender))))
		return dg_err_set(err, DG_E_PARSE, "queue record: bad sender address");
	if (msg->n_rcpt == 0 || msg->n_rcpt > DG_QUEUE_RCPT_MAX)
		return dg_err_set(err, DG_E_LIMIT, "queue record: %zu recipients (1..%d)",
		                  msg->n_rcpt, DG_QUEUE_RCPT_MAX);
	if (msg->body_len > DG_QUEUE_BODY_MAX)
		return dg_err_set(err, DG_E_LIMIT, "queue record: body of %zu bytes",
		                  msg->body_len);
	for (size_t i = 0; i < msg->n_rcpt; i++) {
		const struct dg_queue_rcpt *r = &msg->rcpt[i];

		if ((unsigned)r->state > DG_QUEUE_RCPT_BOUNCED ||
		    !rec_addr_ok(r->addr, strnlen(r->addr, sizeof(r->addr))) ||
		    !rec_reason_ok(r->reason, strnlen(r->reason, sizeof(r->reason))) ||
		    strnlen(r->reason, sizeof(r->reason)) > DG_QUEUE_REASON_MAX)
			return dg_err_set(err, DG_E_PARSE, "queue record: bad recipient %zu", i);
	}
	return DG_OK;
}

enum dg_status dg_queue_record_format(const struct dg_queue_msg *msg, uint8_t **out, size_t *len,
                                      struct dg_err *err)
{
	struct dg_buf b;
	enum dg_status st = rec_check_msg(msg, err);

	if (st != DG_OK)
		return st;
	dg_buf_init(&b, DG_QUEUE_HEADER_MAX + DG_QUEUE_BODY_MAX + 64);
	st = dg_buf_printf(&b, "daneguard-queue: %d\nid: %s\narrival: %" PRIu64 "\nsender: %s\n",
	                   DG_QUEUE_VERSION, msg->id, msg->arrival_s,
	                   msg->sender[0] != '\0' ? msg->sender : "<>");
	if (st == DG_OK && msg->smtputf8)
		st = dg_buf_append_str(&b, "smtputf8: yes\n");
	for (size_t i = 0; st == DG_OK && i < msg->n_rcpt; i++) {
		const struct dg_queue_rcpt *r = &msg->rcpt[i];

		st = dg_buf_printf(&b, "rcpt: %s %" PRIu32 " %" PRIu64 " %s%s%s\n",
		                   dg_queue_rcpt_state_str(r->state), r->attempts, r->next_try_s,
		                   r->addr, r->reason[0] != '\0' ? " " : "", r->reason);
	}
	if (st == DG_OK && dg_buf_len(&b) > DG_QUEUE_HEADER_MAX)
		st = DG_E_LIMIT;
	if (st == DG_OK)
		st = dg_buf_printf(&b, "body: %zu\n", msg->body_len);
	if (st == DG_OK && msg->body_len > 0)
		st = dg_buf_append(&b, msg->body, msg->body_len);
	if (st != DG_OK) {
		dg_buf_cleanup(&b);
		return dg_err_set(err, st, "queue record %s: too large", msg->id);
	}
	*len = dg_buf_len(&b);
	*out = (uint8_t *)dg_buf_take(&b);
	return DG_OK;
}
