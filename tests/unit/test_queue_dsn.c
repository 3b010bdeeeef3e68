/*
 * test_queue_dsn.c - lib/queue/queue_dsn.c: delivery status notifications (RFC 3464,
 * RFC 6522). Each built message is parsed back here: CRLF line ends and lines of at most 998
 * octets, the boundary in the header and as delimiters (and nowhere in the content), each
 * part's Content-Type, the per-message and per-recipient fields with their values, the
 * original header section copied and its body not; a header-only original, an original
 * without a header/body separator, LF line ends, an over-long header line, 8-bit bytes; the
 * null sender refused; malformed inputs refused; a long diagnostic folded and capped; the
 * boundary re-drawn when a candidate occurs in the content; UTF-8 (SMTPUTF8) recipients
 * reported as "utf-8;" RFC 6533 xtext in a still 7-bit report, a UTF-8 sender only in To:.
 * Failures print "got X, want Y".
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <daneguard/queue.h>
#include <daneguard/util.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* DG_TESTABLE in lib/queue/queue_dsn.c */
typedef void dsn_rand_fn(uint8_t *p, size_t n);
bool dsn_boundary_pick(const struct dg_buf *parts, size_t n, dsn_rand_fn *rnd, char out[40]);
enum dg_status dsn_build_rand(const struct dg_dsn_params *p, const struct dg_queue_msg *orig,
                              const struct dg_dsn_rcpt *rcpt, size_t n, dsn_rand_fn *rnd,
                              uint8_t **out, size_t *len, struct dg_err *err);

#define NOW 1700000000u

static const struct dg_dsn_params params = {"relay.example.org", "MAILER-DAEMON@relay.example.org",
                                            "5f0000000123456789ab", 1699990000u, NOW};

/* ---- a small parser of what the builder writes ---------------------------------------- */

struct part {
	char *head; /* header lines (unfolded), NUL-terminated */
	char *body; /* content */
};

struct parsed {
	char *head; /* top-level header section, unfolded */
	char boundary[128];
	struct part parts[3];
	size_t n_parts;
};

/* Every line ends in CRLF (no bare CR or LF) and holds at most 998 octets. */
static void check_lines(const uint8_t *m, size_t len)
{
	size_t start = 0;

	for (size_t i = 0; i < len; i++) {
		if (m[i] == '\n' && (i == 0 || m[i - 1] != '\r'))
			fail_msg("byte %zu: got a bare LF, want CRLF", i);
		if (m[i] == '\r' && (i + 1 >= len || m[i + 1] != '\n'))
			fail_msg("byte %zu: got a bare CR, want CRLF", i);
		if (m[i] == '\n') {
			if (i - 1 - start > 998)
				fail_msg("line at byte %zu: got %zu octets, want <= 998", start,
				         i - 1 - start);
			start = i + 1;
		}
		if (m[i] >= 0x80 || m[i] == 0)
			fail_msg("byte %zu: got 0x%02x, want 7-bit text", i, m[i]);
	}
	if (len < 2 || m[len - 1] != '\n')
		fail_msg("got a message not ending in CRLF, want one");
}

/* Unfold a header section (CRLF + WSP joins lines). */
static char *unfold(const char *p, size_t len)
{
	char *out = dg_xmalloc(len + 1);
	size_t o = 0;

	for (size_t i = 0; i < len; i++) {
		if (p[i] == '\r' && i + 2 < len && p[i + 1] == '\n' &&
		    (p[i + 2] == ' ' || p[i + 2] == '\t')) {
			i++;
			continue;
		}
		out[o++] = p[i];
	}
	out[o] = '\0';
	return out;
}

/* Value of header @p name in an unfolded section ("" if absent), copied into @p out. */
static const char *field(const char *head, const char *name, char *out, size_t out_size)
{
	size_t nl = strlen(name);
	const char *p = head;

	out[0] = '\0';
	while (p != NULL && *p != '\0') {
		if (strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
			const char *v = p + nl + 1, *e = strstr(v, "\r\n");
			size_t vl;

			while (*v == ' ')
				v++;
			vl = e != NULL ? (size_t)(e - v) : strlen(v);
			snprintf(out, out_size, "%.*s", (int)vl, v);
			return out;
		}
		p = strstr(p, "\r\n");
		if (p != NULL)
			p += 2;
	}
	return out;
}

static void parse(const uint8_t *m, size_t len, struct parsed *ps)
{
	const char *s = (const char *)m, *hend = strstr(s, "\r\n\r\n"), *b;
	char ct[512], delim[140];
	const char *bp;

	memset(ps, 0, sizeof(*ps));
	check_lines(m, len);
	assert_non_null(hend);
	ps->head = unfold(s, (size_t)(hend - s) + 2);
	field(ps->head, "Content-Type", ct, sizeof(ct));
	if (strncmp(ct, "multipart/report;", 17) != 0 ||
	    strstr(ct, "report-type=delivery-status") == NULL)
		fail_msg("got Content-Type %s, want multipart/report; report-type=delivery-status",
		         ct);
	bp = strstr(ct, "boundary=\"");
	assert_non_null(bp);
	bp += 10;
	snprintf(ps->boundary, sizeof(ps->boundary), "%.*s", (int)strcspn(bp, "\""), bp);
	assert_true(strlen(ps->boundary) > 0);
	snprintf(delim, sizeof(delim), "\r\n--%s", ps->boundary);
	b = strstr(hend, delim);
	while (b != NULL) {
		const char *start = b + strlen(delim), *next, *ph;

		if (strncmp(start, "--\r\n", 4) == 0) {
			if (start + 4 != s + len)
				fail_msg("got bytes after the close delimiter, want none");
			return;
		}
		assert_true(strncmp(start, "\r\n", 2) == 0);
		start += 2;
		next = strstr(start, delim);
		assert_non_null(next); /* every part is followed by a delimiter */
		assert_true(ps->n_parts < 3);
		ph = strstr(start, "\r\n\r\n");
		assert_non_null(ph);
		assert_true(ph <= next);
		ps->parts[ps->n_parts].head = unfold(start, (size_t)(ph - start) + 2);
		ps->parts[ps->n_parts].body = dg_xstrndup(ph + 4, (size_t)(next - (ph + 4)));
		ps->n_parts++;
		b = next;
	}
	fail_msg("got no close delimiter --%s--, want one", ps->boundary);
}

static void parsed_free(struct parsed *ps)
{
	free(ps->head);
	for (size_t i = 0; i < ps->n_parts; i++) {
		free(ps->parts[i].head);
		free(ps->parts[i].body);
	}
}

static void expect_field(const char *head, const char *name, const char *want)
{
	char got[2048];

	field(head, name, got, sizeof(got));
	if (strcmp(got, want) != 0)
		fail_msg("%s: got \"%s\", want \"%s\"", name, got, want);
}

static void expect_parts(const struct parsed *ps)
{
	static const char *const want[3] = {"text/plain; charset=us-ascii",
	                                    "message/delivery-status", "text/rfc822-headers"};

	if (ps->n_parts != 3)
		fail_msg("got %zu parts, want 3", ps->n_parts);
	for (size_t i = 0; i < 3; i++) {
		expect_field(ps->parts[i].head, "Content-Type", want[i]);
		if (strstr(ps->parts[i].body, ps->boundary) != NULL)
			fail_msg("part %zu: got the boundary in the content, want it absent", i);
	}
}

/* The per-recipient groups of the delivery-status part (after the per-message group). */
static size_t status_groups(const char *body, char groups[][2048], size_t max)
{
	const char *p = strstr(body, "\r\n\r\n"), *e;
	size_t n = 0;

	if (p == NULL)
		return 0;
	p += 4;
	while (n < max && *p != '\0') {
		e = strstr(p, "\r\n\r\n");
		snprintf(groups[n++], 2048, "%.*s",
		         (int)(e != NULL ? (size_t)(e - p) + 2 : strlen(p)), p);
		if (e == NULL)
			break;
		p = e + 4;
	}
	return n;
}

static struct dg_queue_msg orig_msg(const char *data)
{
	struct dg_queue_msg m;

	memset(&m, 0, sizeof(m));
	snprintf(m.id, sizeof(m.id), "5f0000000123456789ab");
	snprintf(m.sender, sizeof(m.sender), "alice@example.net");
	m.arrival_s = 1699990000u;
	m.body = (const uint8_t *)data;
	m.body_len = strlen(data);
	return m;
}

static struct parsed build_ok(const struct dg_dsn_params *p, const struct dg_queue_msg *orig,
                              const struct dg_dsn_rcpt *r, size_t n)
{
	struct parsed ps;
	struct dg_err err = {0};
	uint8_t *out = NULL;
	size_t len = 0;
	enum dg_status st = dg_dsn_build(p, orig, r, n, &out, &len, &err);

	if (st != DG_OK)
		fail_msg("build: got %s (%s), want ok", dg_status_str(st), err.msg);
	assert_int_equal(strlen((const char *)out), len);
	parse(out, len, &ps);
	free(out);
	return ps;
}

/* ---- tests ------------------------------------------------------------------------- */

static const char *const orig_full = "Received: from client.example.net by relay.example.org\r\n"
                                     "\twith ESMTP id 5f0000000123456789ab\r\n"
                                     "From: Alice <alice@example.net>\r\n"
                                     "To: bob@dane-fail.example, carol@example.com\r\n"
                                     "Subject: quarterly figures\r\n"
                                     "Message-ID: <orig-1@example.net>\r\n"
                                     "\r\n"
                                     "BODY-SECRET line one\r\n"
                                     "Subject: not a header, part of the body\r\n";

static void test_structure(void **state)
{
	struct dg_queue_msg orig = orig_msg(orig_full);
	const struct dg_dsn_rcpt r[2] = {
	    {"bob@dane-fail.example", "4.7.5", "failed", "mx1.dane-fail.example",
	     "X-daneguard; TLSA records of mx1.dane-fail.example do not match the certificate",
	     NOW - 60},
	    {"carol@example.com", "5.1.1", "failed", "mx.example.com",
	     "smtp; 550 5.1.1 <carol@example.com>: no such user", NOW - 30},
	};
	char groups[4][2048], date[64];
	struct parsed ps = build_ok(&params, &orig, r, 2);
	size_t ng;

	(void)state;
	expect_field(ps.head, "To", "<alice@example.net>");
	expect_field(ps.head, "From", "Mail Delivery System <MAILER-DAEMON@relay.example.org>");
	expect_field(ps.head, "Subject", "Undelivered Mail Returned to Sender");
	expect_field(ps.head, "Date", "Tue, 14 Nov 2023 22:13:20 +0000");
	expect_field(ps.head, "MIME-Version", "1.0");
	expect_field(ps.head, "Auto-Submitted", "auto-replied");
	field(ps.head, "Message-ID", date, sizeof(date));
	if (date[0] != '<' || strstr(date, "@relay.example.org>") == NULL)
		fail_msg("Message-ID: got %s, want <...@relay.example.org>", date);
	expect_parts(&ps);
	/* human-readable part: each recipient and its reason */
	for (size_t i = 0; i < 2; i++)
		if (strstr(ps.parts[0].body, r[i].addr) == NULL)
			fail_msg("text part: got no mention of %s, want one", r[i].addr);
	assert_non_null(strstr(ps.parts[0].body, "no such user"));
	assert_non_null(strstr(ps.parts[0].body, "do not match"));
	/* delivery-status: per-message fields */
	expect_field(ps.parts[1].body, "Reporting-MTA", "dns; relay.example.org");
	expect_field(ps.parts[1].body, "X-Queue-ID", "5f0000000123456789ab");
	expect_field(ps.parts[1].body, "Arrival-Date", "Tue, 14 Nov 2023 19:26:40 +0000");
	ng = status_groups(ps.parts[1].body, groups, 4);
	if (ng != 2)
		fail_msg("got %zu per-recipient groups, want 2", ng);
	for (size_t i = 0; i < 2; i++) {
		char want[512];
		char *g = unfold(groups[i], strlen(groups[i]));

		snprintf(want, sizeof(want), "rfc822; %s", r[i].addr);
		expect_field(g, "Final-Recipient", want);
		expect_field(g, "Action", "failed");
		expect_field(g, "Status", r[i].status);
		snprintf(want, sizeof(want), "dns; %s", r[i].remote_mta);
		expect_field(g, "Remote-MTA", want);
		expect_field(g, "Diagnostic-Code", r[i].diagnostic);
		assert_non_null(strstr(g, "Last-Attempt-Date: Tue, 14 Nov 2023 22:1"));
		free(g);
	}
	/* the original header section, unchanged, and not the body */
	if (strncmp(ps.parts[2].body, orig_full, strstr(orig_full, "\r\n\r\n") + 2 - orig_full) !=
	    0)
		fail_msg("headers part: got %s, want the original header section",
		         ps.parts[2].body);
	assert_null(strstr(ps.parts[2].body, "BODY-SECRET"));
	assert_null(strstr(ps.parts[2].body, "not a header"));
	parsed_free(&ps);
}

static void test_delayed(void **state)
{
	struct dg_queue_msg orig = orig_msg(orig_full);
	const struct dg_dsn_rcpt r = {"bob@dane-fail.example", "4.7.5", "delayed", NULL, NULL, 0};
	struct dg_dsn_params p = params;
	char groups[2][2048];
	struct parsed ps;

	(void)state;
	p.queue_id = NULL;
	p.arrival_s = 0; /* from the message */
	ps = build_ok(&p, &orig, &r, 1);
	expect_field(ps.head, "Subject", "Delayed Mail (still being retried)");
	expect_parts(&ps);
	assert_null(strstr(ps.parts[1].body, "X-Queue-ID"));
	expect_field(ps.parts[1].body, "Arrival-Date", "Tue, 14 Nov 2023 19:26:40 +0000");
	assert_int_equal(status_groups(ps.parts[1].body, groups, 2), 1);
	expect_field(groups[0], "Action", "delayed");
	expect_field(groups[0], "Status", "4.7.5");
	/* optional fields left out when not given */
	assert_null(strstr(groups[0], "Remote-MTA"));
	assert_null(strstr(groups[0], "Diagnostic-Code"));
	assert_null(strstr(groups[0], "Last-Attempt-Date"));
	parsed_free(&ps);
}

struct hdr_case {
	const char *name;
	const char *orig;
	const char *want_headers; /* the headers part's content */
	bool shortened;
};

static const struct hdr_case hdr_cases[] = {
    {"header-only original (no separator, no body)",
     "From: a@example.net\r\nSubject: only headers\r\n",
     "From: a@example.net\r\nSubject: only headers\r\n", false},
    {"header-only, last line without line end", "From: a@example.net\r\nSubject: x",
     "From: a@example.net\r\nSubject: x\r\n", false},
    {"no header/body separator: text from the first line", "just some text\r\nmore: text\r\n", "",
     false},
    {"headers then a non-header line without an empty line",
     "From: a@example.net\r\nthis is body text\r\nX-Not: copied\r\n", "From: a@example.net\r\n",
     false},
    {"LF line ends become CRLF", "From: a@example.net\nSubject: lf\n\nbody\n",
     "From: a@example.net\r\nSubject: lf\r\n", false},
    {"8-bit and control bytes become ?", "Subject: caf\xc3\xa9\x01 x\r\n\r\nb",
     "Subject: caf??? x\r\n", false},
    {"a continuation line first is not a header", " folded\r\nFrom: a@example.net\r\n", "", false},
    {"empty original", "", "", false},
};

static void test_headers_table(void **state)
{
	const struct dg_dsn_rcpt r = {"bob@example.com", "5.0.0", "failed", NULL,
	                              "smtp; 554 no",    0};

	(void)state;
	for (size_t i = 0; i < sizeof(hdr_cases) / sizeof(hdr_cases[0]); i++) {
		const struct hdr_case *c = &hdr_cases[i];
		struct dg_queue_msg orig = orig_msg(c->orig);
		struct parsed ps = build_ok(&params, &orig, &r, 1);

		expect_parts(&ps);
		if (strcmp(ps.parts[2].body, c->want_headers) != 0)
			fail_msg("case %zu (%s): got headers \"%s\", want \"%s\"", i, c->name,
			         ps.parts[2].body, c->want_headers);
		if ((strstr(ps.parts[0].body, "(shortened)") != NULL) != c->shortened)
			fail_msg("case %zu (%s): got shortened=%d, want %d", i, c->name,
			         !c->shortened, c->shortened);
		parsed_free(&ps);
	}
}

static void test_long_header_line(void **state)
{
	const struct dg_dsn_rcpt r = {"bob@example.com", "5.0.0", "failed", NULL, NULL, 0};
	struct dg_buf b;
	struct parsed ps;
	struct dg_queue_msg orig;

	(void)state;
	dg_buf_init(&b, 1 << 20);
	dg_buf_append_str(&b, "From: a@example.net\r\nX-Long: ");
	for (int i = 0; i < 1500; i++)
		dg_buf_putc(&b, 'x');
	dg_buf_append_str(&b, "\r\n continued\r\nSubject: kept\r\n\r\nbody\r\n");
	orig = orig_msg(dg_buf_str(&b));
	ps = build_ok(&params, &orig, &r, 1);
	/* the over-long field is left out whole (with its continuation), the others kept */
	if (strcmp(ps.parts[2].body, "From: a@example.net\r\nSubject: kept\r\n") != 0)
		fail_msg("got headers \"%.200s\", want From and Subject only", ps.parts[2].body);
	assert_non_null(strstr(ps.parts[0].body, "(shortened)"));
	parsed_free(&ps);
	/* a huge header section is capped at DG_DSN_HEADERS_MAX, at a field boundary */
	dg_buf_reset(&b);
	for (int i = 0; i < 2000; i++)
		dg_buf_printf(&b, "X-Filler-%04d: %s\r\n", i, "abcdefghijklmnopqrstuvwxyz");
	dg_buf_append_str(&b, "\r\nbody\r\n");
	orig = orig_msg(dg_buf_str(&b));
	ps = build_ok(&params, &orig, &r, 1);
	if (strlen(ps.parts[2].body) > DG_DSN_HEADERS_MAX || strlen(ps.parts[2].body) < 30000)
		fail_msg("got %zu bytes of headers, want close to %u", strlen(ps.parts[2].body),
		         DG_DSN_HEADERS_MAX);
	assert_true(strncmp(ps.parts[2].body + strlen(ps.parts[2].body) - 2, "\r\n", 2) == 0);
	assert_non_null(strstr(ps.parts[0].body, "(shortened)"));
	parsed_free(&ps);
	dg_buf_cleanup(&b);
}

static void test_null_sender(void **state)
{
	struct dg_queue_msg orig = orig_msg(orig_full);
	const struct dg_dsn_rcpt r = {"bob@example.com", "5.0.0", "failed", NULL, NULL, 0};
	struct dg_err err = {0};
	uint8_t *out = (uint8_t *)"unchanged";
	size_t len = 7;

	(void)state;
	orig.sender[0] = '\0';
	assert_int_equal(dg_dsn_build(&params, &orig, &r, 1, &out, &len, &err), DG_E_CONFIG);
	assert_null(out);
	assert_int_equal(len, 0);
	assert_non_null(strstr(err.msg, "null sender"));
}

struct bad_case {
	struct dg_dsn_rcpt r;
	enum dg_status want;
};

static const struct bad_case bad_cases[] = {
    {{"bob@example.com", "2.0.0", "failed", NULL, NULL, 0}, DG_E_PARSE},
    {{"bob@example.com", "5.7", "failed", NULL, NULL, 0}, DG_E_PARSE},
    {{"bob@example.com", "5.7.1x", "failed", NULL, NULL, 0}, DG_E_PARSE},
    {{"bob@example.com", "5.7.1234", "failed", NULL, NULL, 0}, DG_E_PARSE},
    {{"bob@example.com", "5.7.1", "delayed", NULL, NULL, 0}, DG_E_PARSE},
    {{"bob@example.com", "5.7.1", "bounced", NULL, NULL, 0}, DG_E_PARSE},
    {{"bob@example.com", "5.7.1", NULL, NULL, NULL, 0}, DG_E_PARSE},
    {{"bob @example.com", "5.7.1", "failed", NULL, NULL, 0}, DG_E_PARSE},
    {{"<bob@example.com>", "5.7.1", "failed", NULL, NULL, 0}, DG_E_PARSE},
    {{"bob@example.com\r\nBcc: x", "5.7.1", "failed", NULL, NULL, 0}, DG_E_PARSE},
    {{"bob@example.com", "5.7.1", "failed", "mx example", NULL, 0}, DG_E_PARSE},
    {{"b\xc0\x80\x62@example.com", "5.7.1", "failed", NULL, NULL, 0}, DG_E_PARSE}, /* overlong */
    {{"b\xc2\x85\x62@example.com", "5.7.1", "failed", NULL, NULL, 0}, DG_E_PARSE}, /* C1 NEL */
    {{"b\xc3@example.com", "5.7.1", "failed", NULL, NULL, 0}, DG_E_PARSE},         /* truncated */
    {{"b\xed\xa0\x80\x62@example.com", "5.7.1", "failed", NULL, NULL, 0}, DG_E_PARSE},
    {{"bob@example.com", "4.4.7", "failed", NULL, NULL, 0}, DG_OK}, /* expired in the queue */
    {{"bob@example.com", "4.999.999", "delayed", NULL, NULL, 0}, DG_OK},
};

static void test_bad_inputs(void **state)
{
	struct dg_queue_msg orig = orig_msg(orig_full);
	struct dg_dsn_params p = params;
	struct dg_err err;
	uint8_t *out = NULL;
	size_t len = 0;
	enum dg_status got;

	(void)state;
	for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		dg_err_clear(&err);
		got = dg_dsn_build(&params, &orig, &bad_cases[i].r, 1, &out, &len, &err);
		if (got != bad_cases[i].want)
			fail_msg("case %zu: got %s (%s), want %s", i, dg_status_str(got), err.msg,
			         dg_status_str(bad_cases[i].want));
		free(out);
		out = NULL;
	}
	/* no recipients, or a header-injecting parameter */
	assert_int_equal(dg_dsn_build(&params, &orig, &bad_cases[0].r, 0, &out, &len, NULL),
	                 DG_E_CONFIG);
	p.from = "MAILER-DAEMON@x\r\nBcc: victim@example.com";
	assert_int_equal(dg_dsn_build(&p, &orig, &bad_cases[15].r, 1, &out, &len, NULL),
	                 DG_E_CONFIG);
	assert_null(out);
}

static void test_long_diagnostic(void **state)
{
	struct dg_queue_msg orig = orig_msg(orig_full);
	char words[3000], token[1500], groups[3][2048];
	struct dg_dsn_rcpt r[2] = {
	    {"bob@example.com", "5.7.1", "failed", "mx.example.com", words, 0},
	    {"carol@example.com", "5.7.1", "failed", NULL, token, 0},
	};
	struct parsed ps;
	char *g;

	(void)state;
	/* 2900 bytes of words with control bytes mixed in, and one unbreakable 1400-byte token */
	snprintf(words, sizeof(words), "smtp; 550 5.7.1");
	for (size_t i = strlen(words); i + 8 < 2900; i += 8)
		memcpy(words + i, (i / 8) % 10 == 0 ? "\tpolicy\r" : " refused", 9);
	memset(token, 'y', 1400);
	token[1400] = '\0';
	ps = build_ok(&params, &orig, r, 2); /* parse() checks every line is <= 998 octets */
	expect_parts(&ps);
	assert_int_equal(status_groups(ps.parts[1].body, groups, 3), 2);
	g = unfold(groups[0], strlen(groups[0]));
	{
		char got[2048];

		field(g, "Diagnostic-Code", got, sizeof(got));
		if (strncmp(got, "smtp; 550 5.7.1 refused", 23) != 0 ||
		    strlen(got) > DG_DSN_DIAG_MAX || strlen(got) < DG_DSN_DIAG_MAX - 10 ||
		    strpbrk(got, "\t\r\n") != NULL)
			fail_msg("got Diagnostic-Code of %zu bytes \"%.40s...\", want the cleaned "
			         "prefix, capped at %u",
			         strlen(got), got, DG_DSN_DIAG_MAX);
	}
	/* folded: the raw group has more lines than fields */
	assert_non_null(strstr(groups[0], "\r\n refused"));
	free(g);
	/* the unbreakable token: capped to DG_DSN_DIAG_MAX, typed as ours, on lines <= 998 */
	g = unfold(groups[1], strlen(groups[1]));
	{
		char got[2048];

		field(g, "Diagnostic-Code", got, sizeof(got));
		if (strncmp(got, "X-daneguard; yyyy", 17) != 0 ||
		    strlen(got) != 13 + DG_DSN_DIAG_MAX)
			fail_msg("got Diagnostic-Code of %zu bytes, want %u", strlen(got),
			         13 + DG_DSN_DIAG_MAX);
	}
	free(g);
	parsed_free(&ps);
}

/* Scripted random source: each call fills with the next byte value. */
static uint8_t rand_next;

static void rand_script(uint8_t *p, size_t n)
{
	memset(p, rand_next++, n);
}

static void test_boundary(void **state)
{
	struct dg_buf parts[2];
	char b[40];

	(void)state;
	dg_buf_init(&parts[0], 4096);
	dg_buf_init(&parts[1], 4096);
	/* the first two candidates occur in the content: the third is taken */
	dg_buf_append_str(&parts[0], "text =_dg-dsn_000000000000000000000000 more");
	dg_buf_append_str(&parts[1], "x=_dg-dsn_010101010101010101010101");
	rand_next = 0;
	assert_true(dsn_boundary_pick(parts, 2, rand_script, b));
	if (strcmp(b, "=_dg-dsn_020202020202020202020202") != 0)
		fail_msg("got boundary %s, want the third candidate", b);
	/* every candidate clashes: refused */
	dg_buf_reset(&parts[0]);
	for (int i = 0; i < 8; i++)
		dg_buf_printf(&parts[0],
		              "=_dg-dsn_%02x%02x%02x%02x%02x%02x%02x%02x%02x%02x%02x%02x\n", i, i,
		              i, i, i, i, i, i, i, i, i, i);
	rand_next = 0;
	assert_false(dsn_boundary_pick(parts, 2, rand_script, b));
	dg_buf_cleanup(&parts[0]);
	dg_buf_cleanup(&parts[1]);
}

static void test_boundary_in_original(void **state)
{
	/* the original headers hold the first candidate: the DSN uses another boundary */
	const char *data = "Subject: =_dg-dsn_000000000000000000000000\r\n\r\nbody\r\n";
	struct dg_queue_msg orig = orig_msg(data);
	const struct dg_dsn_rcpt r = {"bob@example.com", "5.0.0", "failed", NULL, NULL, 0};
	struct dg_err err = {0};
	struct parsed ps;
	uint8_t *out = NULL;
	size_t len = 0;

	(void)state;
	rand_next = 0;
	assert_int_equal(dsn_build_rand(&params, &orig, &r, 1, rand_script, &out, &len, &err),
	                 DG_OK);
	parse(out, len, &ps);
	expect_parts(&ps);
	if (strcmp(ps.boundary, "=_dg-dsn_000000000000000000000000") == 0)
		fail_msg("got boundary %s, which the content holds; want another", ps.boundary);
	assert_non_null(strstr(ps.parts[2].body, "=_dg-dsn_000000000000000000000000"));
	parsed_free(&ps);
	free(out);
}

/* SMTPUTF8 recipients: "utf-8;" with the RFC 6533 section 3 xtext form (non-ASCII, '+', '='
 * and '\' as \x{HEX}) in Final-Recipient and the text part; the report stays 7-bit. */
static void test_utf8_recipients(void **state)
{
	static const struct {
		const char *addr, *want; /* want: Final-Recipient value */
	} cases[] = {
	    {"j\xc3\xb6rg+tag@b\xc3\xbc\x63her.example",
	     "utf-8; j\\x{F6}rg\\x{2B}tag@b\\x{FC}cher.example"},
	    {"bob+tag@example.com", "rfc822; bob+tag@example.com"},
	    {"\xf0\x9f\x98\x80=x\\y@\xe4\xbe\x8b.example",
	     "utf-8; \\x{1F600}\\x{3D}x\\x{5C}y@\\x{4F8B}.example"},
	};
	struct dg_queue_msg orig = orig_msg(orig_full);
	struct dg_dsn_rcpt r[3];
	char groups[4][2048], want[512];
	struct parsed ps;
	size_t ng;

	(void)state;
	memset(r, 0, sizeof(r));
	for (size_t i = 0; i < 3; i++) {
		r[i].addr = cases[i].addr;
		r[i].status = "5.1.1";
		r[i].action = "failed";
		r[i].diagnostic =
		    "smtp; 550 5.1.1 <j\xc3\xb6rg@b\xc3\xbc\x63her.example>: no such user";
	}
	ps = build_ok(&params, &orig, r, 3); /* checks: 7-bit, CRLF, <= 998 octets */
	expect_parts(&ps);
	ng = status_groups(ps.parts[1].body, groups, 4);
	if (ng != 3)
		fail_msg("got %zu per-recipient groups, want 3", ng);
	for (size_t i = 0; i < 3; i++) {
		char *g = unfold(groups[i], strlen(groups[i]));
		const char *x = strchr(cases[i].want, ';') + 2;

		expect_field(g, "Final-Recipient", cases[i].want);
		expect_field(g, "Diagnostic-Code",
		             "smtp; 550 5.1.1 <j??rg@b??cher.example>: no such user");
		snprintf(want, sizeof(want), "<%s>: failed (5.1.1)", x);
		if (strstr(ps.parts[0].body, want) == NULL)
			fail_msg("text part: got %s, want a line \"%s\"", ps.parts[0].body, want);
		free(g);
	}
	parsed_free(&ps);
}

/* The xtext form must fit one line: a longer one is refused, one that fits is reported. */
static void test_utf8_long_address(void **state)
{
	struct dg_queue_msg orig = orig_msg(orig_full);
	struct dg_dsn_rcpt r = {NULL, "5.1.1", "failed", NULL, NULL, 0};
	char addr[DG_QUEUE_ADDR_MAX + 1], got[2048];
	struct dg_err err;
	uint8_t *out = NULL;
	size_t len = 0, plus;
	struct parsed ps;
	enum dg_status st;

	(void)state;
	/* 314 '+' (6 octets each as \x{2B}) + U+00E9 + "@x.y": 320 bytes, 1894 in xtext */
	plus = DG_QUEUE_ADDR_MAX - 6;
	memset(addr, '+', plus);
	snprintf(addr + plus, sizeof(addr) - plus, "\xc3\xa9@x.y");
	assert_int_equal(strlen(addr), DG_QUEUE_ADDR_MAX);
	r.addr = addr;
	dg_err_clear(&err);
	st = dg_dsn_build(&params, &orig, &r, 1, &out, &len, &err);
	if (st != DG_E_PARSE || strstr(err.msg, "too long") == NULL)
		fail_msg("got %s (%s), want parse error \"too long\"", dg_status_str(st), err.msg);
	assert_null(out);
	/* 160 '+': 960 + 6 + 4 = 970 octets, the field is 994 octets and fits */
	memset(addr, '+', 160);
	snprintf(addr + 160, sizeof(addr) - 160, "\xc3\xa9@x.y");
	ps = build_ok(&params, &orig, &r, 1);
	field(ps.parts[1].body, "Final-Recipient", got, sizeof(got));
	if (strlen(got) != 7 + 970 || strncmp(got, "utf-8; \\x{2B}\\x{2B}", 19) != 0 ||
	    strcmp(got + strlen(got) - 10, "\\x{E9}@x.y") != 0)
		fail_msg(
		    "Final-Recipient: got %zu octets \"%.40s...\", want 977 \"utf-8; \\x{2B}...\"",
		    strlen(got), got);
	parsed_free(&ps);
}

/* A UTF-8 sender appears as it is only in To: (RFC 6532, the DSN travels with SMTPUTF8 to
 * that address); everything else stays 7-bit. */
static void test_utf8_sender(void **state)
{
	static const char to[] = "\r\nTo: <j\xc3\xb6rg@b\xc3\xbc\x63her.example>\r\n";
	struct dg_queue_msg orig = orig_msg(orig_full);
	const struct dg_dsn_rcpt r = {"bob@example.com", "5.1.1", "failed", NULL, NULL, 0};
	struct dg_err err;
	uint8_t *out = NULL;
	size_t len = 0, to_off;
	const uint8_t *t;
	struct parsed ps;

	(void)state;
	snprintf(orig.sender, sizeof(orig.sender), "j\xc3\xb6rg@b\xc3\xbc\x63her.example");
	dg_err_clear(&err);
	if (dg_dsn_build(&params, &orig, &r, 1, &out, &len, &err) != DG_OK)
		fail_msg("build: got %s, want ok", err.msg);
	t = memmem(out, len, to, sizeof(to) - 1);
	if (t == NULL)
		fail_msg("got no To: with the UTF-8 sender as it is, want one");
	to_off = (size_t)(t - out);
	for (size_t i = 0; i < len; i++)
		if (out[i] >= 0x80 && (i < to_off || i >= to_off + sizeof(to) - 1))
			fail_msg("byte %zu: got 0x%02x outside To:, want 7-bit", i, out[i]);
	for (size_t i = to_off; i < to_off + sizeof(to) - 1; i++)
		if (out[i] >= 0x80)
			out[i] = '?'; /* the rest of the structure is checked as usual */
	parse(out, len, &ps);
	expect_parts(&ps);
	expect_field(ps.parts[1].body, "Reporting-MTA", "dns; relay.example.org");
	parsed_free(&ps);
	free(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_structure),
	    cmocka_unit_test(test_delayed),
	    cmocka_unit_test(test_headers_table),
	    cmocka_unit_test(test_long_header_line),
	    cmocka_unit_test(test_null_sender),
	    cmocka_unit_test(test_bad_inputs),
	    cmocka_unit_test(test_long_diagnostic),
	    cmocka_unit_test(test_boundary),
	    cmocka_unit_test(test_boundary_in_original),
	    cmocka_unit_test(test_utf8_recipients),
	    cmocka_unit_test(test_utf8_long_address),
	    cmocka_unit_test(test_utf8_sender),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
