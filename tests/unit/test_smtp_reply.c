/*
 * test_smtp_reply.c - unit tests of the SMTP reply parser and the EHLO
 * parser (lib/smtp/smtp_reply.c, lib/smtp/smtp_ehlo.c).
 *
 * Reply cases are a table of wire input and the expected summary of what
 * the parser yields; every case is run with the input whole, split in two
 * at every byte offset, and fed one byte at a time, and must give the same
 * summary each time. Failures print "got X, want Y" (STYLE.md section 9).
 */
#include <daneguard/smtp.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define CHECK_INT(got, want, ...)                                                                  \
	do {                                                                                       \
		long long g_ = (long long)(got), w_ = (long long)(want);                           \
		if (g_ != w_) {                                                                    \
			print_error(__VA_ARGS__);                                                  \
			fail_msg("%s: got %lld, want %lld", #got, g_, w_);                         \
		}                                                                                  \
	} while (0)

#define CHECK_STR(got, want, ...)                                                                  \
	do {                                                                                       \
		const char *g_ = (got), *w_ = (want);                                              \
		if (strcmp(g_, w_) != 0) {                                                         \
			print_error(__VA_ARGS__);                                                  \
			fail_msg("%s: got \"%s\", want \"%s\"", #got, g_, w_);                     \
		}                                                                                  \
	} while (0)

enum { FEED_WHOLE = 0, FEED_SPLIT = 1, FEED_BYTES = 2 };

/* -------------------------------------------------------------- helpers */

/* Append "code[ status]:line|line;" for one reply (line text escaped). */
static void summarize_reply(struct dg_buf *out, const struct dg_smtp_reply *r)
{
	char esc[8192];

	dg_buf_printf(out, "%u", r->code);
	if (r->has_status)
		dg_buf_printf(out, " %s", r->status_str);
	dg_buf_putc(out, ':');
	for (size_t i = 0; i < r->nlines; i++) {
		dg_str_escape(esc, sizeof(esc), r->lines[i], strlen(r->lines[i]));
		dg_buf_printf(out, "%s%s", i > 0 ? "|" : "", esc);
	}
	dg_buf_putc(out, ';');
}

/* Drain every complete reply; on error append "ERR name@off: msg". */
static bool drain(struct dg_smtp_reply_parser *p, struct dg_buf *out)
{
	struct dg_smtp_reply r;
	struct dg_err err;
	bool complete;

	for (;;) {
		dg_err_clear(&err);
		if (dg_smtp_reply_parser_next(p, &r, &complete, &err) != DG_OK) {
			dg_buf_printf(out, "ERR %s@%zu: %s", dg_status_str(err.code), err.offset,
			              err.msg);
			return false;
		}
		if (!complete)
			return true;
		summarize_reply(out, &r);
	}
}

/* Feed in[0..len) in the given way (split at `at` for FEED_SPLIT). */
static void run(const char *in, size_t len, const struct dg_smtp_reply_limits *lim, int how,
                size_t at, struct dg_buf *out)
{
	struct dg_smtp_reply_parser p;
	struct dg_err err;
	size_t cuts[3] = {0, len, len};
	size_t ncuts = 2;

	dg_buf_reset(out);
	dg_smtp_reply_parser_init(&p, lim);
	if (how == FEED_SPLIT) {
		cuts[1] = at;
		ncuts = 3;
	}
	if (how == FEED_BYTES) {
		for (size_t i = 0; i < len; i++) {
			if (dg_smtp_reply_parser_feed(&p, (const uint8_t *)in + i, 1, &err) !=
			    DG_OK) {
				dg_buf_printf(out, "ERR %s@%zu: %s", dg_status_str(err.code),
				              err.offset, err.msg);
				goto done;
			}
			if (!drain(&p, out))
				goto done;
		}
	} else {
		for (size_t i = 0; i + 1 < ncuts; i++) {
			if (dg_smtp_reply_parser_feed(&p, (const uint8_t *)in + cuts[i],
			                              cuts[i + 1] - cuts[i], &err) != DG_OK) {
				dg_buf_printf(out, "ERR %s@%zu: %s", dg_status_str(err.code),
				              err.offset, err.msg);
				goto done;
			}
			if (!drain(&p, out))
				goto done;
		}
	}
	if (dg_smtp_reply_parser_pending(&p) > 0)
		dg_buf_printf(out, "+%zu", dg_smtp_reply_parser_pending(&p));
done:
	dg_smtp_reply_parser_cleanup(&p);
}

/* ---------------------------------------------------------- reply table */

struct reply_case {
	const char *name;
	const char *in;
	size_t len; /* 0: strlen(in) */
	struct dg_smtp_reply_limits lim;
	const char *want;
};

static const struct reply_case reply_cases[] = {
    {"greeting",
     "220 mx.example.com ESMTP Postfix\r\n",
     0,
     {0},
     "220:mx.example.com ESMTP Postfix;"},
    {"ehlo multi-line",
     "250-mx.example.com\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250 STARTTLS\r\n",
     0,
     {0},
     "250:mx.example.com|PIPELINING|SIZE 10240000|STARTTLS;"},
    {"bare LF", "250-a\n250 b\n", 0, {0}, "250:a|b;"},
    {"mixed CRLF and LF", "250-a\r\n250-b\n250 c\r\n", 0, {0}, "250:a|b|c;"},
    {"enhanced status",
     "550-5.7.1 Relaying denied\r\n550 5.7.1 see https://x.example/r\r\n",
     0,
     {0},
     "550 5.7.1:5.7.1 Relaying denied|5.7.1 see https://x.example/r;"},
    {"status 3-digit parts",
     "451 4.7.650 DNSSEC validation failed\r\n",
     0,
     {0},
     "451 4.7.650:4.7.650 DNSSEC validation failed;"},
    {"status only", "421 4.4.2\r\n", 0, {0}, "421 4.4.2:4.4.2;"},
    {"status class differs", "250 5.0.0 weird\r\n", 0, {0}, "250:5.0.0 weird;"},
    {"status incomplete", "450 4.7 try later\r\n", 0, {0}, "450:4.7 try later;"},
    {"status 4 digits", "450 4.7.1000 x\r\n", 0, {0}, "450:4.7.1000 x;"},
    {"status glued", "450 4.7.1x\r\n", 0, {0}, "450:4.7.1x;"},
    {"code only", "250\r\n", 0, {0}, "250:;"},
    {"empty texts", "250-\r\n250 \r\n", 0, {0}, "250:|;"},
    {"pipelined",
     "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n",
     0,
     {0},
     "250 2.1.0:2.1.0 Ok;250 2.1.5:2.1.5 Ok;354:End data with <CR><LF>.<CR><LF>;"},
    {"incomplete reply", "250-a\r\n250 b", 0, {0}, "+12"},
    {"incomplete mid-CRLF", "250 ok\r", 0, {0}, "+7"},
    {"reply then partial", "250 a\r\n250-b\r\n", 0, {0}, "250:a;+7"},
    {"CR inside text", "250 a\rb\r\n", 0, {0}, "250:a\\x0db;"},
    {"8-bit text", "250 gr\xc3\xbc\xc3\x9f\r\n", 0, {0}, "250:gr\\xc3\\xbc\\xc3\\x9f;"},
    {"empty input", "", 0, {0}, ""},
    {"letters in code",
     "2x0 ok\r\n",
     0,
     {0},
     "ERR protocol error@0: reply line 1: no 3-digit reply code at start of \"2x0 ok\""},
    {"code too low",
     "199 hi\r\n",
     0,
     {0},
     "ERR protocol error@0: reply line 1: code 199 outside 200-599"},
    {"code too high",
     "600 hi\r\n",
     0,
     {0},
     "ERR protocol error@0: reply line 1: code 600 outside 200-599"},
    {"code 099",
     "099 hi\r\n",
     0,
     {0},
     "ERR protocol error@0: reply line 1: code 099 outside 200-599"},
    {"code mismatch",
     "250-a\r\n250-b\r\n251 c\r\n",
     0,
     {0},
     "ERR protocol error@14: reply line 3: code 251 differs from first line 250"},
    {"code mismatch last",
     "250-a\r\n220 b\r\n",
     0,
     {0},
     "ERR protocol error@7: reply line 2: code 220 differs from first line 250"},
    {"bad separator",
     "250_ok\r\n",
     0,
     {0},
     "ERR protocol error@3: reply line 1: expected ' ' or '-' after code 250, got '_'"},
    {"digit separator",
     "2500 ok\r\n",
     0,
     {0},
     "ERR protocol error@3: reply line 1: expected ' ' or '-' after code 250, got '0'"},
    {"short line",
     "25\r\n",
     0,
     {0},
     "ERR protocol error@0: reply line 1: no 3-digit reply code at start of \"25\""},
    {"empty line",
     "\r\n",
     0,
     {0},
     "ERR protocol error@0: reply line 1: no 3-digit reply code at start of \"\""},
    {"leading space",
     " 250 ok\r\n",
     0,
     {0},
     "ERR protocol error@0: reply line 1: no 3-digit reply code at start of \" 250 ok\""},
    {"NUL byte",
     "250 o\0k\r\n",
     9,
     {0},
     "ERR protocol error@5: reply line 1: NUL byte at offset 5"},
    {"error after good reply",
     "250 ok\r\n500x\r\n",
     0,
     {0},
     "250:ok;ERR protocol error@11: reply line 1: expected ' ' or '-' after code 500, got "
     "'x'"},
    {"line at cap CRLF", "250 0123456789\r\n", 0, {16, 0, 0, 0}, "250:0123456789;"},
    {"line at cap LF", "250 01234567890\n", 0, {16, 0, 0, 0}, "250:01234567890;"},
    {"line over cap",
     "250 01234567890\r\n",
     0,
     {16, 0, 0, 0},
     "ERR limit exceeded@0: reply line 1: longer than 16 bytes"},
    {"partial line over cap",
     "250 0123456789012345",
     0,
     {16, 0, 0, 0},
     "ERR limit exceeded@0: reply line 1: longer than 16 bytes"},
    {"second line over cap",
     "250-a\r\n250 0123456789abcdef\r\n",
     0,
     {16, 0, 0, 0},
     "ERR limit exceeded@7: reply line 2: longer than 16 bytes"},
    {"lines at cap", "250-a\r\n250-b\r\n250 c\r\n", 0, {0, 3, 0, 0}, "250:a|b|c;"},
    {"lines over cap",
     "250-a\r\n250-b\r\n250-c\r\n250 d\r\n",
     0,
     {0, 3, 0, 0},
     "ERR limit exceeded@21: reply has more than 3 lines"},
    {"lines cap per reply",
     "250-a\r\n250 b\r\n250-c\r\n250 d\r\n",
     0,
     {0, 2, 0, 0},
     "250:a|b;250:c|d;"},
    {"bytes at cap", "250-aaaa\r\n250 bbbb\r\n", 0, {0, 0, 20, 0}, "250:aaaa|bbbb;"},
    {"bytes over cap",
     "250-aaaa\r\n250 bbbbb\r\n",
     0,
     {0, 0, 20, 0},
     "ERR limit exceeded@10: reply longer than 20 bytes"},
    {"bytes cap per reply",
     "250 aaaaaaaaaaaaaa\r\n250 bbbbbbbbbbbbbb\r\n",
     0,
     {0, 0, 20, 0},
     "250:aaaaaaaaaaaaaa;250:bbbbbbbbbbbbbb;"},
};

static void test_reply_table(void **state)
{
	struct dg_buf got, whole;

	(void)state;
	dg_buf_init(&got, 1 << 20);
	dg_buf_init(&whole, 1 << 20);
	for (size_t i = 0; i < sizeof(reply_cases) / sizeof(reply_cases[0]); i++) {
		const struct reply_case *t = &reply_cases[i];
		size_t len = t->len != 0 ? t->len : strlen(t->in);

		run(t->in, len, &t->lim, FEED_WHOLE, 0, &whole);
		CHECK_STR(dg_buf_str(&whole), t->want, "case \"%s\" (whole)\n", t->name);
		for (size_t at = 0; at <= len; at++) {
			run(t->in, len, &t->lim, FEED_SPLIT, at, &got);
			CHECK_STR(dg_buf_str(&got), t->want, "case \"%s\" split at %zu\n", t->name,
			          at);
		}
		run(t->in, len, &t->lim, FEED_BYTES, 0, &got);
		CHECK_STR(dg_buf_str(&got), t->want, "case \"%s\" byte by byte\n", t->name);
	}
	dg_buf_cleanup(&got);
	dg_buf_cleanup(&whole);
}

/* ---------------------------------------------------- default limits */

static void test_reply_default_limits(void **state)
{
	struct dg_buf in, got;
	char want[64];

	(void)state;
	dg_buf_init(&in, 1 << 20);
	dg_buf_init(&got, 1 << 20);
	/* a line of exactly DG_SMTP_REPLY_LINE_MAX bytes including CRLF */
	dg_buf_append_str(&in, "250 ");
	for (size_t i = 0; i < DG_SMTP_REPLY_LINE_MAX - 6; i++)
		dg_buf_putc(&in, 'x');
	dg_buf_append_str(&in, "\r\n");
	run(dg_buf_str(&in), in.len, NULL, FEED_WHOLE, 0, &got);
	CHECK_INT(got.len, 4 + DG_SMTP_REPLY_LINE_MAX - 6 + 1, "line at default cap: %s\n",
	          dg_buf_str(&got));
	dg_buf_reset(&in);
	dg_buf_append_str(&in, "250 ");
	for (size_t i = 0; i < DG_SMTP_REPLY_LINE_MAX - 5; i++)
		dg_buf_putc(&in, 'x');
	dg_buf_append_str(&in, "\r\n");
	run(dg_buf_str(&in), in.len, NULL, FEED_WHOLE, 0, &got);
	snprintf(want, sizeof(want), "ERR limit exceeded@0: reply line 1: longer than %d bytes",
	         DG_SMTP_REPLY_LINE_MAX);
	CHECK_STR(dg_buf_str(&got), want, "line over default cap\n");

	/* DG_SMTP_REPLY_LINES_MAX lines pass, one more fails */
	dg_buf_reset(&in);
	for (int i = 1; i < DG_SMTP_REPLY_LINES_MAX; i++)
		dg_buf_printf(&in, "250-line%d\r\n", i);
	dg_buf_append_str(&in, "250 last\r\n");
	run(dg_buf_str(&in), in.len, NULL, FEED_WHOLE, 0, &got);
	assert_non_null(strstr(dg_buf_str(&got), "|line99|last;"));
	assert_null(strstr(dg_buf_str(&got), "ERR"));
	dg_buf_reset(&in);
	for (int i = 0; i < DG_SMTP_REPLY_LINES_MAX; i++)
		dg_buf_printf(&in, "250-line%d\r\n", i);
	dg_buf_append_str(&in, "250 one too many\r\n");
	run(dg_buf_str(&in), in.len, NULL, FEED_WHOLE, 0, &got);
	snprintf(want, sizeof(want), "reply has more than %d lines", DG_SMTP_REPLY_LINES_MAX);
	if (strstr(dg_buf_str(&got), want) == NULL)
		fail_msg("got \"%s\", want \"%s\"", dg_buf_str(&got), want);
	dg_buf_cleanup(&in);
	dg_buf_cleanup(&got);
}

/* ------------------------------------- pipelining, offsets, lifetimes */

static void test_reply_pipelining(void **state)
{
	static const char in[] = "250 2.1.0 Ok\r\n250-2.1.5 Ok\r\n250 2.1.5 Ok too\r\n354 go\r\n";
	struct dg_smtp_reply_parser p;
	struct dg_smtp_reply r;
	bool complete;
	const char *first_line;

	(void)state;
	dg_smtp_reply_parser_init(&p, NULL);
	assert_int_equal(dg_smtp_reply_parser_feed(&p, (const uint8_t *)in, 20, NULL), DG_OK);
	assert_int_equal(dg_smtp_reply_parser_next(&p, &r, &complete, NULL), DG_OK);
	assert_true(complete);
	CHECK_INT(r.code, 250, "first code\n");
	CHECK_INT(r.offset, 0, "first offset\n");
	CHECK_INT(r.bytes, 14, "first bytes\n");
	CHECK_STR(dg_smtp_reply_line_text(&r, 0), "Ok", "status stripped\n");
	CHECK_INT(dg_smtp_reply_parser_pending(&p), 6, "pending after first\n");
	first_line = r.lines[0];
	/* feeding more does not invalidate the reply */
	assert_int_equal(
	    dg_smtp_reply_parser_feed(&p, (const uint8_t *)in + 20, sizeof(in) - 1 - 20, NULL),
	    DG_OK);
	CHECK_STR(first_line, "2.1.0 Ok", "reply survives feed\n");
	assert_int_equal(dg_smtp_reply_parser_next(&p, &r, &complete, NULL), DG_OK);
	assert_true(complete);
	CHECK_INT(r.offset, 14, "second offset\n");
	CHECK_INT(r.nlines, 2, "second nlines\n");
	CHECK_INT(r.bytes, 32, "second bytes\n");
	CHECK_STR(r.status_str, "2.1.5", "second status\n");
	CHECK_STR(dg_smtp_reply_line_text(&r, 1), "Ok too", "second line text\n");
	assert_int_equal(dg_smtp_reply_parser_next(&p, &r, &complete, NULL), DG_OK);
	assert_true(complete);
	CHECK_INT(r.code, 354, "third code\n");
	CHECK_INT(r.offset, 46, "third offset\n");
	assert_false(r.has_status);
	CHECK_STR(dg_smtp_reply_line_text(&r, 0), "go", "no status\n");
	CHECK_INT(dg_smtp_reply_parser_pending(&p), 0, "nothing pending\n");
	assert_int_equal(dg_smtp_reply_parser_next(&p, &r, &complete, NULL), DG_OK);
	assert_false(complete);
	dg_smtp_reply_parser_cleanup(&p);
}

/* STARTTLS: cleartext after the 220 must be visible, and reset drops it. */
static void test_reply_starttls_injection(void **state)
{
	static const char in[] = "220 2.0.0 Ready to start TLS\r\n250-injected\r\n";
	struct dg_smtp_reply_parser p;
	struct dg_smtp_reply r;
	bool complete;

	(void)state;
	dg_smtp_reply_parser_init(&p, NULL);
	dg_smtp_reply_parser_feed(&p, (const uint8_t *)in, sizeof(in) - 1, NULL);
	assert_int_equal(dg_smtp_reply_parser_next(&p, &r, &complete, NULL), DG_OK);
	assert_true(complete);
	CHECK_INT(r.code, 220, "220 code\n");
	CHECK_INT(dg_smtp_reply_parser_pending(&p), 14, "injected bytes visible\n");
	dg_smtp_reply_parser_reset(&p);
	CHECK_INT(dg_smtp_reply_parser_pending(&p), 0, "reset drops them\n");
	dg_smtp_reply_parser_feed(&p, (const uint8_t *)"250 ok\r\n", 8, NULL);
	assert_int_equal(dg_smtp_reply_parser_next(&p, &r, &complete, NULL), DG_OK);
	assert_true(complete);
	CHECK_INT(r.offset, 0, "offsets restart after reset\n");
	dg_smtp_reply_parser_cleanup(&p);
}

static void test_reply_pending_limit_sticky(void **state)
{
	struct dg_smtp_reply_limits lim = {0, 0, 0, 32};
	struct dg_smtp_reply_parser p;
	struct dg_smtp_reply r;
	struct dg_err err;
	bool complete;
	char data[40];

	(void)state;
	memset(data, 'x', sizeof(data));
	dg_smtp_reply_parser_init(&p, &lim);
	CHECK_INT(dg_smtp_reply_parser_feed(&p, (const uint8_t *)data, 32, &err), DG_OK,
	          "at pending cap\n");
	CHECK_INT(dg_smtp_reply_parser_feed(&p, (const uint8_t *)data, 1, &err), DG_E_LIMIT,
	          "over pending cap\n");
	CHECK_STR(err.msg, "more than 32 bytes of unparsed reply data buffered", "msg\n");
	/* sticky: both calls report the same error */
	dg_err_clear(&err);
	CHECK_INT(dg_smtp_reply_parser_next(&p, &r, &complete, &err), DG_E_LIMIT, "sticky next\n");
	CHECK_STR(err.msg, "more than 32 bytes of unparsed reply data buffered", "sticky msg\n");
	assert_false(complete);
	CHECK_INT(dg_smtp_reply_parser_feed(&p, (const uint8_t *)"250 ok\r\n", 8, NULL), DG_E_LIMIT,
	          "sticky feed\n");
	dg_smtp_reply_parser_reset(&p);
	CHECK_INT(dg_smtp_reply_parser_feed(&p, (const uint8_t *)"250 ok\r\n", 8, NULL), DG_OK,
	          "after reset\n");
	CHECK_INT(dg_smtp_reply_parser_next(&p, &r, &complete, NULL), DG_OK, "after reset\n");
	assert_true(complete);
	dg_smtp_reply_parser_cleanup(&p);
	dg_smtp_reply_parser_cleanup(NULL);
}

/* Replies consumed one by one keep the input buffer bounded. */
static void test_reply_long_session(void **state)
{
	struct dg_smtp_reply_limits lim = {0, 0, 0, 64};
	struct dg_smtp_reply_parser p;
	struct dg_smtp_reply r;
	bool complete;
	size_t n = 0;

	(void)state;
	dg_smtp_reply_parser_init(&p, &lim);
	for (int i = 0; i < 10000; i++) {
		assert_int_equal(dg_smtp_reply_parser_feed(
		                     &p, (const uint8_t *)"250-a\r\n250 2.0.0 b\r\n", 20, NULL),
		                 DG_OK);
		while (dg_smtp_reply_parser_next(&p, &r, &complete, NULL) == DG_OK && complete) {
			CHECK_INT(r.offset, n * 20, "offset of reply %zu\n", n);
			n++;
		}
	}
	CHECK_INT(n, 10000, "replies\n");
	dg_smtp_reply_parser_cleanup(&p);
}

/* ----------------------------------------------------------------- EHLO */

struct ehlo_case {
	const char *name;
	const char *in;
	unsigned want_ext;
	uint32_t want_size;
	const char *want_domain;
	const char *want_greeting;
	size_t want_nkw;
	size_t want_nbad;
	const char *find;        /* keyword to look up, or NULL */
	const char *want_params; /* its params */
};

static const struct ehlo_case ehlo_cases[] = {
    {"postfix",
     "250-mx.example.com\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-VRFY\r\n250-ETRN\r\n"
     "250-STARTTLS\r\n250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n250-DSN\r\n"
     "250-SMTPUTF8\r\n250 CHUNKING\r\n",
     DG_SMTP_EXT_PIPELINING | DG_SMTP_EXT_SIZE | DG_SMTP_EXT_VRFY | DG_SMTP_EXT_ETRN |
         DG_SMTP_EXT_STARTTLS | DG_SMTP_EXT_ENHANCEDSTATUSCODES | DG_SMTP_EXT_8BITMIME |
         DG_SMTP_EXT_DSN | DG_SMTP_EXT_SMTPUTF8 | DG_SMTP_EXT_CHUNKING,
     10240000, "mx.example.com", "", 10, 0, "SIZE", "10240000"},
    {"exim",
     "250-mail.example.org Hello client.example [192.0.2.1]\r\n250-SIZE 52428800\r\n"
     "250-8BITMIME\r\n250-PIPELINING\r\n250-PIPECONNECT\r\n250-AUTH PLAIN LOGIN\r\n"
     "250-CHUNKING\r\n250-STARTTLS\r\n250-PRDR\r\n250 HELP\r\n",
     DG_SMTP_EXT_SIZE | DG_SMTP_EXT_8BITMIME | DG_SMTP_EXT_PIPELINING | DG_SMTP_EXT_AUTH |
         DG_SMTP_EXT_CHUNKING | DG_SMTP_EXT_STARTTLS,
     52428800, "mail.example.org", "Hello client.example [192.0.2.1]", 9, 0, "auth", "PLAIN LOGIN"},
    {"microsoft",
     "250-AM0PR01MB1234.eurprd01.prod.exchangelabs.com Hello [192.0.2.1]\r\n"
     "250-SIZE 157286400\r\n250-PIPELINING\r\n250-DSN\r\n250-ENHANCEDSTATUSCODES\r\n"
     "250-STARTTLS\r\n250-8BITMIME\r\n250-BINARYMIME\r\n250-CHUNKING\r\n250 SMTPUTF8\r\n",
     DG_SMTP_EXT_SIZE | DG_SMTP_EXT_PIPELINING | DG_SMTP_EXT_DSN | DG_SMTP_EXT_ENHANCEDSTATUSCODES |
         DG_SMTP_EXT_STARTTLS | DG_SMTP_EXT_8BITMIME | DG_SMTP_EXT_BINARYMIME |
         DG_SMTP_EXT_CHUNKING | DG_SMTP_EXT_SMTPUTF8,
     157286400, "AM0PR01MB1234.eurprd01.prod.exchangelabs.com", "Hello [192.0.2.1]", 9, 0, NULL,
     NULL},
    {"no extensions", "250 mx.example.net\r\n", 0, 0, "mx.example.net", "", 0, 0, NULL, NULL},
    {"old AUTH= and lowercase",
     "250-mx.example.net says hi\r\n250-auth=LOGIN PLAIN\r\n250-starttls\r\n250 size\r\n",
     DG_SMTP_EXT_AUTH | DG_SMTP_EXT_STARTTLS | DG_SMTP_EXT_SIZE, 0, "mx.example.net", "says hi", 3,
     0, "AUTH", "LOGIN PLAIN"},
    {"bad SIZE value", "250-mx\r\n250-SIZE lots\r\n250 SIZE 4294967296\r\n", DG_SMTP_EXT_SIZE, 0,
     "mx", "", 2, 2, "SIZE", "lots"},
    {"malformed keywords",
     "250-mx\r\n250--FOO\r\n250-FOO=bar\r\n250-\r\n250- STARTTLS\r\n250-X_Y\r\n"
     "250 X-EXPS GSSAPI NTLM\r\n",
     0, 0, "mx", "", 1, 5, "x-exps", "GSSAPI NTLM"},
    {"keyword too long",
     "250-mx\r\n250-ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456\r\n250 ABCDEFGHIJKLMNOPQRSTUVWXYZ012345\r\n",
     0, 0, "mx", "", 1, 1, "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345", ""},
    {"spaces and controls",
     "250-mx.example.com\t  Hello  \x01 there  \r\n250-AUTH   PLAIN\t\tLOGIN  \r\n"
     "250 XCLIENT NAME\xff\r\n",
     DG_SMTP_EXT_AUTH, 0, "mx.example.com", "Hello ? there", 2, 0, "XCLIENT", "NAME?"},
    {"deliverby requiretls", "250-mx\r\n250-DELIVERBY 240\r\n250-REQUIRETLS\r\n250 STARTTLS\r\n",
     DG_SMTP_EXT_DELIVERBY | DG_SMTP_EXT_REQUIRETLS | DG_SMTP_EXT_STARTTLS, 0, "mx", "", 3, 0,
     "DELIVERBY", "240"},
};

static void ehlo_from_text(const char *in, struct dg_smtp_ehlo *ehlo, enum dg_status want)
{
	struct dg_smtp_reply_parser p;
	struct dg_smtp_reply r;
	struct dg_err err;
	bool complete = false;

	dg_smtp_reply_parser_init(&p, NULL);
	dg_smtp_reply_parser_feed(&p, (const uint8_t *)in, strlen(in), NULL);
	dg_err_clear(&err);
	CHECK_INT(dg_smtp_reply_parser_next(&p, &r, &complete, &err), DG_OK, "reply: %s\n",
	          err.msg);
	assert_true(complete);
	CHECK_INT(dg_smtp_ehlo_parse(&r, ehlo, &err), want, "ehlo parse: %s\n", err.msg);
	dg_smtp_reply_parser_cleanup(&p);
}

static void test_ehlo_table(void **state)
{
	struct dg_smtp_ehlo *ehlo = dg_xmalloc(sizeof(*ehlo));

	(void)state;
	for (size_t i = 0; i < sizeof(ehlo_cases) / sizeof(ehlo_cases[0]); i++) {
		const struct ehlo_case *t = &ehlo_cases[i];
		const struct dg_smtp_ehlo_kw *kw;

		ehlo_from_text(t->in, ehlo, DG_OK);
		CHECK_INT(ehlo->ext, t->want_ext, "case \"%s\" ext\n", t->name);
		CHECK_INT(ehlo->size_max, t->want_size, "case \"%s\" size\n", t->name);
		CHECK_STR(ehlo->domain, t->want_domain, "case \"%s\" domain\n", t->name);
		CHECK_STR(ehlo->greeting, t->want_greeting, "case \"%s\" greeting\n", t->name);
		CHECK_INT(ehlo->nkw, t->want_nkw, "case \"%s\" nkw\n", t->name);
		CHECK_INT(ehlo->nbad, t->want_nbad, "case \"%s\" nbad\n", t->name);
		CHECK_INT(ehlo->nkw_dropped, 0, "case \"%s\" dropped\n", t->name);
		if (t->find == NULL)
			continue;
		kw = dg_smtp_ehlo_find(ehlo, t->find);
		if (kw == NULL)
			fail_msg("case \"%s\": got no keyword %s, want one", t->name, t->find);
		CHECK_STR(kw->params, t->want_params, "case \"%s\" params of %s\n", t->name,
		          t->find);
	}
	free(ehlo);
}

static void test_ehlo_caps_and_errors(void **state)
{
	struct dg_smtp_ehlo *ehlo = dg_xmalloc(sizeof(*ehlo));
	struct dg_buf in;
	struct dg_smtp_reply r = {0};
	const char *lines[1] = {"mx.example.com"};
	struct dg_err err;

	(void)state;
	/* 70 keywords, STARTTLS last: the list is capped, the mask is not */
	dg_buf_init(&in, 1 << 16);
	dg_buf_append_str(&in, "250-mx.example.com\r\n");
	for (int i = 0; i < 69; i++)
		dg_buf_printf(&in, "250-X-KW%d param%d\r\n", i, i);
	dg_buf_append_str(&in, "250 STARTTLS\r\n");
	ehlo_from_text(dg_buf_str(&in), ehlo, DG_OK);
	CHECK_INT(ehlo->nkw, DG_SMTP_EHLO_KW_MAX, "kept keywords\n");
	CHECK_INT(ehlo->nkw_dropped, 70 - DG_SMTP_EHLO_KW_MAX, "dropped keywords\n");
	assert_true(dg_smtp_ehlo_has(ehlo, DG_SMTP_EXT_STARTTLS));
	assert_false(dg_smtp_ehlo_has(ehlo, DG_SMTP_EXT_STARTTLS | DG_SMTP_EXT_PIPELINING));
	assert_false(dg_smtp_ehlo_has(ehlo, 0));
	CHECK_STR(ehlo->kw[63].name, "X-KW63", "last kept\n");
	CHECK_STR(ehlo->kw[63].params, "param63", "last kept params\n");
	assert_null(dg_smtp_ehlo_find(ehlo, "STARTTLS"));

	/* long params are truncated and flagged */
	dg_buf_reset(&in);
	dg_buf_append_str(&in, "250-mx\r\n250 AUTH");
	for (int i = 0; i < 60; i++)
		dg_buf_printf(&in, " MECH%d", i);
	dg_buf_append_str(&in, "\r\n");
	ehlo_from_text(dg_buf_str(&in), ehlo, DG_OK);
	assert_true(ehlo->kw[0].params_truncated);
	CHECK_INT(strlen(ehlo->kw[0].params), DG_SMTP_EHLO_PARAMS_LEN, "params cut\n");

	/* a 5xx reply to EHLO is the caller's business (HELO fallback) */
	ehlo_from_text("502 5.5.1 command not implemented\r\n", ehlo, DG_E_PROTO);
	r.code = 554;
	r.nlines = 1;
	r.lines = lines;
	r.offset = 77;
	CHECK_INT(dg_smtp_ehlo_parse(&r, ehlo, &err), DG_E_PROTO, "554\n");
	CHECK_STR(err.msg, "EHLO reply code 554, want 250", "msg\n");
	CHECK_INT(err.offset, 77, "offset\n");
	CHECK_INT(ehlo->ext, 0, "cleared\n");
	CHECK_STR(dg_smtp_ext_name(DG_SMTP_EXT_STARTTLS), "STARTTLS", "ext name\n");
	CHECK_STR(dg_smtp_ext_name(1u << 30), "UNKNOWN", "unknown ext name\n");
	dg_buf_cleanup(&in);
	free(ehlo);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_reply_table),
	    cmocka_unit_test(test_reply_default_limits),
	    cmocka_unit_test(test_reply_pipelining),
	    cmocka_unit_test(test_reply_starttls_injection),
	    cmocka_unit_test(test_reply_pending_limit_sticky),
	    cmocka_unit_test(test_reply_long_session),
	    cmocka_unit_test(test_ehlo_table),
	    cmocka_unit_test(test_ehlo_caps_and_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
