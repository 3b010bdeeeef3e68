/*
 * test_scan_input.c - the scan input reader (lib/scan/scan_input.c) and the resume state
 * (lib/scan/scan_state.c): blank lines, comments, malformed names, CRLF, overlong lines,
 * input split at every byte, a last line without a line end; finished-line bookkeeping
 * across a reload, out-of-order marks, a torn last line.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <daneguard/scan.h>

#include <inttypes.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct want {
	enum dg_scan_line_kind kind;
	uint64_t lineno;
	const char *text; /* domain, or a substring of why for malformed */
};

static const char *kind_str(enum dg_scan_line_kind k)
{
	static const char *names[] = {"none", "domain", "skip", "malformed"};

	return names[k];
}

/* Feed @p in @p step bytes at a time; compare every line with @p want. */
static void run_case(const char *input, size_t len, size_t step, const struct want *want,
                     size_t n_want)
{
	struct dg_scan_input in;
	struct dg_scan_line line;
	size_t pos = 0, got = 0;

	dg_scan_input_init(&in);
	for (;;) {
		bool have;

		if (pos < len) {
			size_t chunk = len - pos < step ? len - pos : step;
			size_t used =
			    dg_scan_input_feed(&in, (const uint8_t *)input + pos, chunk, &line);

			assert_true(used <= chunk);
			pos += used;
			have = line.kind != DG_SCAN_LINE_NONE;
		} else {
			have = dg_scan_input_finish(&in, &line);
			if (!have)
				break;
		}
		if (!have)
			continue;
		if (got >= n_want)
			fail_msg("step %zu: extra line %" PRIu64 " (%s)", step, line.lineno,
			         kind_str(line.kind));
		if (line.kind != want[got].kind || line.lineno != want[got].lineno)
			fail_msg("step %zu: line %" PRIu64 ": got %s, want %s at line %" PRIu64,
			         step, line.lineno, kind_str(line.kind), kind_str(want[got].kind),
			         want[got].lineno);
		if (line.kind == DG_SCAN_LINE_DOMAIN && strcmp(line.domain, want[got].text) != 0)
			fail_msg("step %zu: got domain '%s', want '%s'", step, line.domain,
			         want[got].text);
		if (line.kind == DG_SCAN_LINE_MALFORMED && strstr(line.why, want[got].text) == NULL)
			fail_msg("step %zu: got why '%s', want '%s'", step, line.why,
			         want[got].text);
		got++;
	}
	if (got != n_want)
		fail_msg("step %zu: got %zu lines, want %zu", step, got, n_want);
}

static void test_lines(void **state)
{
	static const char input[] = "Example.ORG\n"
	                            "\n"
	                            "   # a comment\n"
	                            "  mail.example.net.  # trailing comment\n"
	                            "crlf.example\r\n"
	                            "bad..name\n"
	                            "two words.example\n"
	                            "\t\n"
	                            "192.0.2.1\n"
	                            "nul\0byte.example\n"
	                            "last.example";
	static const struct want want[] = {
	    {DG_SCAN_LINE_DOMAIN, 1, "example.org"},
	    {DG_SCAN_LINE_SKIP, 2, NULL},
	    {DG_SCAN_LINE_SKIP, 3, NULL},
	    {DG_SCAN_LINE_DOMAIN, 4, "mail.example.net"},
	    {DG_SCAN_LINE_DOMAIN, 5, "crlf.example"},
	    {DG_SCAN_LINE_MALFORMED, 6, "empty label"},
	    {DG_SCAN_LINE_MALFORMED, 7, "blank"},
	    {DG_SCAN_LINE_SKIP, 8, NULL},
	    {DG_SCAN_LINE_MALFORMED, 9, ""},
	    {DG_SCAN_LINE_MALFORMED, 10, "control character"},
	    {DG_SCAN_LINE_DOMAIN, 11, "last.example"},
	};

	(void)state;
	for (size_t step = 1; step <= sizeof(input); step++)
		run_case(input, sizeof(input) - 1, step, want, sizeof(want) / sizeof(want[0]));
}

static void test_overlong(void **state)
{
	size_t len = 3 * DG_SCAN_LINE_MAX + 40;
	char *input = malloc(len);
	static const struct want want[] = {
	    {DG_SCAN_LINE_MALFORMED, 1, "longer than 1024"},
	    {DG_SCAN_LINE_DOMAIN, 2, "after.example"},
	    {DG_SCAN_LINE_MALFORMED, 3, "longer than 253"},
	};
	size_t pos;

	(void)state;
	memset(input, 'a', len);
	pos = 3 * DG_SCAN_LINE_MAX - 400;
	input[pos++] = '\n';
	memcpy(input + pos, "after.example\n", 14);
	pos += 14;
	/* a 300-byte name: under the line cap, over the name cap */
	input[pos + 300] = '\n';
	run_case(input, pos + 301, 4096, want, 3);
	run_case(input, pos + 301, 7, want, 3);
	free(input);
}

static void test_empty_and_crlf_only(void **state)
{
	static const struct want want[] = {{DG_SCAN_LINE_SKIP, 1, NULL},
	                                   {DG_SCAN_LINE_SKIP, 2, NULL}};

	(void)state;
	run_case("", 0, 1, want, 0);
	run_case("\r\n\n", 3, 1, want, 2);
}

static void test_state(void **state)
{
	char path[] = "/tmp/dg-test-state-XXXXXX";
	int fd = mkstemp(path);
	struct dg_scan_state *s;
	int64_t run = 0;
	FILE *f;
	static const uint64_t marks[] = {2, 1, 5, 3, 9, 7};

	(void)state;
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(dg_scan_state_create(path, 42, &s, NULL), DG_OK);
	for (size_t i = 0; i < sizeof(marks) / sizeof(marks[0]); i++)
		dg_scan_state_mark(s, marks[i]);
	assert_int_equal(dg_scan_state_sync(s, NULL), DG_OK);
	dg_scan_state_free(s);
	f = fopen(path, "a");
	fputs("11", f); /* torn line of a killed scan: ignored */
	fclose(f);
	assert_int_equal(dg_scan_state_load(path, &run, &s, NULL), DG_OK);
	assert_int_equal(run, 42);
	assert_int_equal(dg_scan_state_loaded(s), 6);
	for (uint64_t l = 1; l <= 12; l++) {
		bool want = l <= 3 || l == 5 || l == 7 || l == 9;

		if (dg_scan_state_is_done(s, l) != want)
			fail_msg("line %" PRIu64 ": got done=%d, want %d", l, !want, want);
	}
	assert_int_equal(dg_scan_state_remove(s, NULL), DG_OK);
	dg_scan_state_free(s);
	assert_int_equal(dg_scan_state_load(path, &run, &s, NULL), DG_E_NOTFOUND);
}

/* Marks in input order: the watermark alone carries them (nothing kept above it). */
static void test_state_in_order(void **state)
{
	char path[] = "/tmp/dg-test-state-XXXXXX";
	int fd = mkstemp(path);
	struct dg_scan_state *s;
	int64_t run = -1;

	(void)state;
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(dg_scan_state_create(path, 0, &s, NULL), DG_OK);
	for (uint64_t l = 1; l <= 5; l++)
		dg_scan_state_mark(s, l);
	assert_int_equal(dg_scan_state_sync(s, NULL), DG_OK);
	dg_scan_state_free(s);
	assert_int_equal(dg_scan_state_load(path, &run, &s, NULL), DG_OK);
	assert_int_equal(run, 0);
	assert_true(dg_scan_state_is_done(s, 5));
	assert_false(dg_scan_state_is_done(s, 6));
	dg_scan_state_free(s);
	unlink(path);
}

static void test_state_garbage(void **state)
{
	char path[] = "/tmp/dg-test-state-XXXXXX";
	int fd = mkstemp(path);
	struct dg_scan_state *s = NULL;
	struct dg_err err = {0};
	int64_t run = 0;

	(void)state;
	assert_true(write(fd, "hello\n", 6) == 6);
	close(fd);
	assert_int_equal(dg_scan_state_load(path, &run, &s, &err), DG_E_PARSE);
	assert_non_null(strstr(err.msg, path));
	assert_null(s);
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_lines),
	    cmocka_unit_test(test_overlong),
	    cmocka_unit_test(test_empty_and_crlf_only),
	    cmocka_unit_test(test_state),
	    cmocka_unit_test(test_state_in_order),
	    cmocka_unit_test(test_state_garbage),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
