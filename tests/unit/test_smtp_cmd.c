/*
 * test_smtp_cmd.c - unit tests of the server-side SMTP command parser and
 * DATA reader (lib/smtp/smtp_cmd.c, lib/smtp/smtp_data.c).
 *
 * Commands are a table of line, options and the expected status, reply code
 * and parsed field. DATA cases are fed whole, split in two at every offset
 * and one byte at a time, and must give the same summary each time,
 * including the smuggling cases. Failures print "got X, want Y".
 */
#include <daneguard/smtp.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

struct cmd_case {
	const char *line;
	int utf8; /* 1: server offers SMTPUTF8; 2: also utf8_txn */
	enum dg_status want_st;
	unsigned want_code;
	const char *want; /* domain, mailbox or arg; NULL: not checked */
};

static const struct cmd_case cmd_cases[] = {
    {"EHLO mail.example.com\r\n", 0, DG_OK, 0, "mail.example.com"},
    {"ehlo [192.0.2.1]\n", 0, DG_OK, 0, "[192.0.2.1]"},
    {"HELO [IPv6:2001:db8::1]\r\n", 0, DG_OK, 0, "[IPv6:2001:db8::1]"},
    {"EHLO\r\n", 0, DG_E_PARSE, 501, NULL},
    {"EHLO bad_domain!\r\n", 0, DG_E_PARSE, 501, NULL},
    {"EHLO [300.1.1.1]\r\n", 0, DG_E_PARSE, 501, NULL},
    {"EHLO a.example extra\r\n", 0, DG_E_PARSE, 501, NULL},
    {"MAIL FROM:<a@example.com>\r\n", 0, DG_OK, 0, "a@example.com"},
    {"mail from:<>\r\n", 0, DG_OK, 0, ""},
    {"MAIL FROM: <a@example.com> SIZE=1000 BODY=8BITMIME\r\n", 0, DG_OK, 0, "a@example.com"},
    {"MAIL FROM:<@r1.example,@r2.example:a@example.com>\r\n", 0, DG_OK, 0, "a@example.com"},
    {"MAIL FROM:<\"a b\\\"c\"@example.com>\r\n", 0, DG_OK, 0, "\"a b\\\"c\"@example.com"},
    {"MAIL FROM:<a@[192.0.2.1]>\r\n", 0, DG_OK, 0, "a@[192.0.2.1]"},
    {"MAIL FROM:a@example.com\r\n", 0, DG_E_PARSE, 553, NULL},
    {"MAIL FROM:<a..b@example.com>\r\n", 0, DG_E_PARSE, 553, NULL},
    {"MAIL FROM:<.a@example.com>\r\n", 0, DG_E_PARSE, 553, NULL},
    {"MAIL FROM:<a@example.com.>\r\n", 0, DG_E_PARSE, 553, NULL},
    {"MAIL FROM:<a@>\r\n", 0, DG_E_PARSE, 553, NULL},
    {"MAIL TO:<a@example.com>\r\n", 0, DG_E_PARSE, 501, NULL},
    {"MAIL FROM:<a@example.com>x\r\n", 0, DG_E_PARSE, 501, NULL},
    {"MAIL FROM:<a@example.com> SIZE=99999\r\n", 0, DG_E_LIMIT, 552, NULL},
    {"MAIL FROM:<a@example.com> SIZE=99999999999\r\n", 0, DG_E_LIMIT, 552, NULL},
    {"MAIL FROM:<a@example.com> SIZE=12x\r\n", 0, DG_E_PARSE, 501, NULL},
    {"MAIL FROM:<a@example.com> BODY=BINARYMIME\r\n", 0, DG_E_PARSE, 555, NULL},
    {"MAIL FROM:<a@example.com> FOO=bar\r\n", 0, DG_E_PARSE, 555, NULL},
    {"MAIL FROM:<a@example.com> =bar\r\n", 0, DG_E_PARSE, 501, NULL},
    {"MAIL FROM:<a@example.com> A B C D E F G H I J K L M N O P Q\r\n", 0, DG_E_PARSE, 555,
     NULL},
    {"MAIL FROM:<j\xc3\xb6rg@example.com>\r\n", 0, DG_E_PARSE, 553, NULL},
    {"MAIL FROM:<j\xc3\xb6rg@example.com> SMTPUTF8\r\n", 0, DG_E_PARSE, 555, NULL},
    {"MAIL FROM:<j\xc3\xb6rg@b\xc3\xbc\x63her.example> SMTPUTF8\r\n", 1, DG_OK, 0,
     "j\xc3\xb6rg@b\xc3\xbc\x63her.example"},
    {"MAIL FROM:<j\xc3rg@example.com> SMTPUTF8\r\n", 1, DG_E_PARSE, 553, NULL},
    {"MAIL FROM:<j\xed\xa0\x80@example.com> SMTPUTF8\r\n", 1, DG_E_PARSE, 553, NULL},
    {"RCPT TO:<b@example.net>\r\n", 0, DG_OK, 0, "b@example.net"},
    {"RCPT TO:<Postmaster>\r\n", 0, DG_OK, 0, "Postmaster"},
    {"RCPT TO:<>\r\n", 0, DG_E_PARSE, 553, NULL},
    {"RCPT TO:<b@example.net> SIZE=10\r\n", 0, DG_E_PARSE, 555, NULL},
    {"RCPT TO:<\xc3\xbc@example.net>\r\n", 1, DG_E_PARSE, 553, NULL},
    {"RCPT TO:<\xc3\xbc@example.net>\r\n", 2, DG_OK, 0, "\xc3\xbc@example.net"},
    {"DATA\r\n", 0, DG_OK, 0, ""},
    {"DATA x\r\n", 0, DG_E_PARSE, 501, NULL},
    {"quit\n", 0, DG_OK, 0, ""},
    {"RSET\r\n", 0, DG_OK, 0, ""},
    {"NOOP anything\r\n", 0, DG_OK, 0, "anything"},
    {"STARTTLS\r\n", 0, DG_OK, 0, ""},
    {"VRFY\r\n", 0, DG_E_PARSE, 501, NULL},
    {"VRFY postmaster\r\n", 0, DG_OK, 0, "postmaster"},
    {"BDAT 100 LAST\r\n", 0, DG_E_PROTO, 502, NULL},
    {"AUTH PLAIN\r\n", 0, DG_E_PROTO, 502, NULL},
    {"FOO\r\n", 0, DG_E_PARSE, 500, NULL},
    {"DATAX\r\n", 0, DG_E_PARSE, 500, NULL},
    {"\r\n", 0, DG_E_PARSE, 500, NULL},
    {"NOOP a\rb\r\n", 0, DG_E_PARSE, 500, NULL},
    {"NOOP a\0b\r\n", 0, DG_E_PARSE, 500, NULL},
    {"NOOP", 0, DG_E_PARSE, 500, NULL},
};

static void test_cmd_table(void **state)
{
	struct dg_smtp_cmd_opts opts;
	struct dg_smtp_cmd cmd;
	struct dg_err err;

	(void)state;
	for (size_t i = 0; i < sizeof(cmd_cases) / sizeof(cmd_cases[0]); i++) {
		const struct cmd_case *t = &cmd_cases[i];
		size_t len = strlen(t->line);
		enum dg_status st;

		if (strcmp(t->line, "NOOP a") == 0)
			len = 10; /* the embedded NUL case */
		dg_smtp_cmd_opts_init(&opts);
		opts.size_max = 10000;
		opts.smtputf8 = t->utf8 >= 1;
		opts.utf8_txn = t->utf8 >= 2;
		dg_err_clear(&err);
		st = dg_smtp_cmd_parse((const uint8_t *)t->line, len, &opts, &cmd, &err);
		if (st != t->want_st || cmd.reply.code != t->want_code)
			fail_msg("case %zu %s: got %d/%u (%s), want %d/%u", i, t->line, st,
			         cmd.reply.code, err.msg, t->want_st, t->want_code);
		if (t->want != NULL) {
			const char *got = cmd.verb == DG_SMTP_VERB_EHLO || cmd.verb == DG_SMTP_VERB_HELO
			                      ? cmd.domain
			                  : cmd.verb == DG_SMTP_VERB_MAIL || cmd.verb == DG_SMTP_VERB_RCPT
			                      ? cmd.mailbox
			                      : cmd.arg;
			if (strcmp(got, t->want) != 0)
				fail_msg("case %zu: got \"%s\", want \"%s\"", i, got, t->want);
		}
	}
}

static void test_cmd_params_and_caps(void **state)
{
	char line[5000];
	struct dg_smtp_cmd cmd;
	size_t n;
	const char *m = "MAIL FROM:<a@example.com> SIZE=42 BODY=7BIT X-FOO=1\r\n";

	(void)state;
	assert_int_equal(dg_smtp_cmd_parse((const uint8_t *)m, strlen(m), NULL, &cmd, NULL),
	                 DG_E_PARSE);
	assert_int_equal(cmd.reply.code, 555);
	assert_int_equal(cmd.bad_param, 2);
	assert_string_equal(cmd.params[2].kw, "X-FOO");
	assert_true(cmd.has_size && cmd.size == 42 && cmd.body == DG_SMTP_BODY_7BIT);
	/* 600-byte NOOP over the 512 cap; MAIL of 600 bytes under the 2048 cap */
	memset(line, 'a', sizeof(line));
	memcpy(line, "NOOP ", 5);
	memcpy(line + 598, "\r\n", 2);
	assert_int_equal(dg_smtp_cmd_parse((const uint8_t *)line, 600, NULL, &cmd, NULL),
	                 DG_E_LIMIT);
	assert_int_equal(cmd.reply.code, 500);
	assert_int_equal(dg_smtp_cmd_line_end((const uint8_t *)line, 600, 512, &n), DG_E_LIMIT);
	assert_int_equal(dg_smtp_cmd_line_end((const uint8_t *)line, 600, 2048, &n), DG_OK);
	assert_int_equal(n, 600);
	assert_int_equal(dg_smtp_cmd_line_end((const uint8_t *)line, 100, 512, &n), DG_E_NOTFOUND);
}

/* ------------------------------------------------------------------ DATA */

struct data_case {
	const char *in;
	const char *want; /* "status|body|lines|consumed" */
	size_t max;
};

static const struct data_case data_cases[] = {
    {".\r\n", "0||0|3", 100},
    {"a\r\n.\r\nMAIL", "0|a\r\n|1|6", 100},
    {"..x\r\n.y\r\n.\r\n", "0|.x\r\ny\r\n|2|12", 100},
    {"a\r\n..\r\n.\r\n", "0|a\r\n.\r\n|2|10", 100},
    {"a\n.\nb\r\n.\r\n", "-6|a\n.\nb\r\n|1|10", 100},  /* \n.\n does not end */
    {"a\r.\nb\r\n.\r\n", "-6|a\r.\nb\r\n|1|10", 100},  /* \r.\n does not end */
    {"a\n.\r\nb\r\n.\r\n", "-6|a\n.\r\nb\r\n|2|11", 100}, /* \n.\r\n does not end */
    {"a\r\n.\nb\r\n.\r\n", "-6|a\r\n\nb\r\n|2|11", 100}, /* \r\n.\n does not end */
    {"a\r\n.\r.\r\n.\r\n", "-6|a\r\n\r.\r\n|2|11", 100},
    {"0123456789\r\n.\r\nQUIT\r\n", "-8|01234|1|15", 5},
    {"abc", "0|abc|0|3", 100},
};

/* Feed in pieces of `step` bytes (0: whole, SIZE_MAX: split once at `at`). */
static void data_run(const struct data_case *t, size_t at, size_t step, char *out, size_t out_size)
{
	struct dg_buf body;
	struct dg_smtp_data d;
	size_t len = strlen(t->in), off = 0, used = 0;
	enum dg_status st = DG_OK;
	bool done = false;

	dg_buf_init(&body, t->max);
	dg_smtp_data_init(&d, &body);
	while (off < len && !done) {
		size_t n = step == 0 ? len - off : step;
		size_t consumed;

		if (at > 0) {
			n = off < at ? at - off : len - off;
		}
		if (n > len - off)
			n = len - off;
		st = dg_smtp_data_feed(&d, (const uint8_t *)t->in + off, n, &consumed, &done, NULL,
		                       NULL);
		used += consumed;
		off += n;
	}
	snprintf(out, out_size, "%d|%s|%zu|%zu", (int)st, dg_buf_str(&body), d.lines, used);
	dg_buf_cleanup(&body);
}

static void test_data_splits(void **state)
{
	char whole[512], got[512];

	(void)state;
	for (size_t i = 0; i < sizeof(data_cases) / sizeof(data_cases[0]); i++) {
		const struct data_case *t = &data_cases[i];
		size_t len = strlen(t->in);

		data_run(t, 0, 0, whole, sizeof(whole));
		if (strcmp(whole, t->want) != 0)
			fail_msg("case %zu whole: got \"%s\", want \"%s\"", i, whole, t->want);
		data_run(t, 0, 1, got, sizeof(got));
		if (strcmp(got, t->want) != 0)
			fail_msg("case %zu bytewise: got \"%s\", want \"%s\"", i, got, t->want);
		for (size_t at = 1; at < len; at++) {
			data_run(t, at, 0, got, sizeof(got));
			if (strcmp(got, t->want) != 0)
				fail_msg("case %zu split %zu: got \"%s\", want \"%s\"", i, at, got,
				         t->want);
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_cmd_table),
	    cmocka_unit_test(test_cmd_params_and_caps),
	    cmocka_unit_test(test_data_splits),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
