/*
 * test_util.c - unit tests of lib/util: alloc, buf, cursor, parse, ascii,
 * escape, names, arena, clock, log.
 *
 * Table-driven; failures print "got X, want Y" (STYLE.md section 9).
 */
#include <daneguard/util.h>

#include <errno.h>
#include <limits.h>
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

/* ---------------------------------------------------------------- alloc */

static void test_alloc(void **state)
{
	char *p, *q;
	int *z;

	(void)state;
	p = dg_xmalloc(0);
	assert_non_null(p);
	free(p);
	z = dg_xcalloc(16, sizeof(*z));
	for (int i = 0; i < 16; i++)
		CHECK_INT(z[i], 0, "calloc[%d]\n", i);
	z = dg_xrealloc(z, 1024 * sizeof(*z));
	z[1023] = 7;
	free(z);
	p = dg_xstrdup("mx1.example.net");
	CHECK_STR(p, "mx1.example.net", "xstrdup\n");
	q = dg_xstrndup(p, 3);
	CHECK_STR(q, "mx1", "xstrndup cut\n");
	free(q);
	q = dg_xstrndup(p, 100);
	CHECK_STR(q, "mx1.example.net", "xstrndup short\n");
	free(q);
	q = dg_xstrndup("ab", 0);
	CHECK_STR(q, "", "xstrndup 0\n");
	free(q);
	free(p);
}

/* ------------------------------------------------------------------ buf */

static void test_buf_basic(void **state)
{
	struct dg_buf b;
	char *s;

	(void)state;
	dg_buf_init(&b, 16);
	CHECK_STR(dg_buf_str(&b), "", "empty buf\n");
	CHECK_INT(dg_buf_len(&b), 0, "empty len\n");
	CHECK_INT(dg_buf_append_str(&b, "hello"), DG_OK, "append\n");
	CHECK_INT(dg_buf_putc(&b, ' '), DG_OK, "putc\n");
	CHECK_INT(dg_buf_printf(&b, "%d-%s", 42, "x"), DG_OK, "printf\n");
	CHECK_STR(dg_buf_str(&b), "hello 42-x", "content\n");
	CHECK_INT(dg_buf_len(&b), 10, "len\n");
	/* 10 + 7 > 16: all-or-nothing */
	CHECK_INT(dg_buf_append_str(&b, "1234567"), DG_E_LIMIT, "over limit\n");
	CHECK_STR(dg_buf_str(&b), "hello 42-x", "unchanged after limit\n");
	CHECK_INT(dg_buf_printf(&b, "%s", "abcdefg"), DG_E_LIMIT, "printf over limit\n");
	CHECK_STR(dg_buf_str(&b), "hello 42-x", "unchanged after printf limit\n");
	CHECK_INT(dg_buf_append_str(&b, "123456"), DG_OK, "exactly max\n");
	CHECK_INT(dg_buf_len(&b), 16, "len at max\n");
	CHECK_INT(dg_buf_putc(&b, 'z'), DG_E_LIMIT, "one past max\n");
	CHECK_INT(dg_buf_append(&b, NULL, 0), DG_OK, "empty append at max\n");
	CHECK_INT(b.data[b.len], 0, "NUL after content\n");
	dg_buf_consume(&b, 6);
	CHECK_STR(dg_buf_str(&b), "42-x123456", "consume\n");
	dg_buf_consume(&b, 100);
	CHECK_STR(dg_buf_str(&b), "", "consume all\n");
	CHECK_INT(dg_buf_append(&b, "a\0b", 3), DG_OK, "embedded NUL\n");
	CHECK_INT(dg_buf_len(&b), 3, "len with NUL\n");
	CHECK_INT(dg_buf_bytes(&b)[2], 'b', "byte after NUL\n");
	s = dg_buf_take(&b);
	CHECK_INT(memcmp(s, "a\0b", 4), 0, "take\n");
	free(s);
	CHECK_INT(dg_buf_len(&b), 0, "len after take\n");
	s = dg_buf_take(&b);
	CHECK_STR(s, "", "take of empty\n");
	free(s);
	dg_buf_reset(&b);
	dg_buf_cleanup(&b);
	dg_buf_cleanup(NULL);
}

static void test_buf_grow(void **state)
{
	struct dg_buf b;
	struct dg_buf z;

	(void)state;
	dg_buf_init(&b, 100000);
	for (int i = 0; i < 10000; i++)
		CHECK_INT(dg_buf_printf(&b, "%04d", i % 10000), DG_OK, "grow i=%d\n", i);
	CHECK_INT(dg_buf_len(&b), 40000, "grown len\n");
	CHECK_INT(memcmp(dg_buf_str(&b) + 39996, "9999", 4), 0, "tail\n");
	CHECK_INT(strlen(dg_buf_str(&b)), 40000, "NUL terminated\n");
	dg_buf_cleanup(&b);

	dg_buf_init(&z, 0);
	CHECK_INT(dg_buf_putc(&z, 'a'), DG_E_LIMIT, "max 0\n");
	CHECK_INT(dg_buf_append(&z, "", 0), DG_OK, "max 0 empty\n");
	CHECK_STR(dg_buf_str(&z), "", "max 0 content\n");
	dg_buf_cleanup(&z);
}

/* --------------------------------------------------------------- cursor */

static void test_cursor_reads(void **state)
{
	static const uint8_t in[] = {0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09};
	struct dg_cursor c;
	uint8_t out[4];
	const uint8_t *p;

	(void)state;
	dg_cursor_init(&c, in, sizeof(in));
	CHECK_INT(dg_cursor_u8(&c), 0x01, "u8\n");
	CHECK_INT(dg_cursor_u16(&c), 0x0203, "u16\n");
	CHECK_INT(dg_cursor_u32(&c), 0x04050607u, "u32\n");
	CHECK_INT(dg_cursor_remaining(&c), 2, "remaining\n");
	p = dg_cursor_bytes(&c, 0);
	assert_non_null(p);
	CHECK_INT(dg_cursor_offset(&c), 7, "offset\n");
	/* truncated u32: first error kept with its offset */
	CHECK_INT(dg_cursor_u32(&c), 0, "truncated u32\n");
	assert_false(dg_cursor_ok(&c));
	CHECK_INT(c.err_off, 7, "err_off\n");
	CHECK_INT(c.err_need, 4, "err_need\n");
	CHECK_INT(dg_cursor_remaining(&c), 0, "remaining after error\n");
	CHECK_INT(dg_cursor_u8(&c), 0, "u8 after error\n");
	CHECK_INT(dg_cursor_u16(&c), 0, "u16 after error\n");
	assert_null(dg_cursor_bytes(&c, 1));
	memset(out, 0xff, sizeof(out));
	dg_cursor_copy(&c, out, sizeof(out));
	CHECK_INT(out[0] | out[1] | out[2] | out[3], 0, "copy zero-filled after error\n");
	dg_cursor_fail(&c, "later error");
	CHECK_STR(c.err, "truncated", "first error wins\n");
	CHECK_INT(c.err_off, 7, "first offset wins\n");
}

static void test_cursor_err(void **state)
{
	static const uint8_t in[] = {0xde, 0xad, 0xbe};
	struct dg_cursor c;
	struct dg_err err;
	uint8_t out[3];

	(void)state;
	dg_cursor_init(&c, in, sizeof(in));
	dg_cursor_copy(&c, out, 2);
	CHECK_INT(out[1], 0xad, "copy\n");
	dg_cursor_expect_end(&c);
	dg_err_clear(&err);
	CHECK_INT(dg_cursor_err(&c, "IPC message", &err), DG_E_PARSE, "trailing\n");
	CHECK_STR(err.msg, "IPC message: trailing bytes at offset 2 (1 bytes left)", "msg\n");
	CHECK_INT(err.offset, 2, "offset\n");

	dg_cursor_init(&c, in, sizeof(in));
	dg_cursor_skip(&c, 1);
	dg_cursor_u32(&c);
	CHECK_INT(dg_cursor_err(&c, "TLSA rdata", &err), DG_E_PARSE, "truncated\n");
	CHECK_STR(err.msg, "TLSA rdata: truncated at offset 1 (need 4 bytes, 2 left)", "msg\n");
	CHECK_INT(dg_cursor_err(&c, "x", NULL), DG_E_PARSE, "NULL err\n");

	dg_cursor_init(&c, in, sizeof(in));
	dg_cursor_skip(&c, 3);
	dg_cursor_expect_end(&c);
	CHECK_INT(dg_cursor_err(&c, "x", &err), DG_OK, "at end\n");
	dg_cursor_fail(&c, "bad usage");
	CHECK_INT(dg_cursor_err(&c, "TLSA", &err), DG_E_PARSE, "fail at end\n");
	CHECK_STR(err.msg, "TLSA: bad usage at offset 3", "msg\n");

	dg_cursor_init(&c, NULL, 5);
	CHECK_INT(dg_cursor_remaining(&c), 0, "NULL input\n");
	assert_non_null(dg_cursor_bytes(&c, 0));
	CHECK_INT(dg_cursor_u8(&c), 0, "NULL input u8\n");
	assert_false(dg_cursor_ok(&c));
}

/* ---------------------------------------------------------------- parse */

struct u32_case {
	const char *in;
	uint32_t min, max;
	enum dg_status want;
	uint32_t want_v;
};

static const struct u32_case u32_cases[] = {
    {"0", 0, UINT32_MAX, DG_OK, 0},
    {"42", 0, UINT32_MAX, DG_OK, 42},
    {"007", 0, UINT32_MAX, DG_OK, 7},
    {"4294967295", 0, UINT32_MAX, DG_OK, UINT32_MAX},
    {"4294967296", 0, UINT32_MAX, DG_E_LIMIT, 0},
    {"99999999999999999999999", 0, UINT32_MAX, DG_E_LIMIT, 0},
    {"", 0, UINT32_MAX, DG_E_PARSE, 0},
    {"+1", 0, UINT32_MAX, DG_E_PARSE, 0},
    {"-1", 0, UINT32_MAX, DG_E_PARSE, 0},
    {" 1", 0, UINT32_MAX, DG_E_PARSE, 0},
    {"1 ", 0, UINT32_MAX, DG_E_PARSE, 0},
    {"0x10", 0, UINT32_MAX, DG_E_PARSE, 0},
    {"12a", 0, UINT32_MAX, DG_E_PARSE, 0},
    {"1.5", 0, UINT32_MAX, DG_E_PARSE, 0},
    {"25", 1, 65535, DG_OK, 25},
    {"0", 1, 65535, DG_E_LIMIT, 0},
    {"65536", 1, 65535, DG_E_LIMIT, 0},
    {"65535", 1, 65535, DG_OK, 65535},
    {"\xd9\xa3", 0, 9, DG_E_PARSE, 0}, /* Arabic-Indic digit three */
};

static void test_parse_u32(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(u32_cases) / sizeof(u32_cases[0]); i++) {
		const struct u32_case *t = &u32_cases[i];
		uint32_t v = 12345;

		CHECK_INT(dg_parse_u32(t->in, t->min, t->max, &v), t->want, "case \"%s\"\n", t->in);
		CHECK_INT(v, t->want == DG_OK ? t->want_v : 12345, "value of \"%s\"\n", t->in);
	}
	assert_int_equal(dg_parse_u32(NULL, 0, 1, &(uint32_t){0}), DG_E_PARSE);
}

static void test_parse_u32n(void **state)
{
	uint32_t v = 0;

	(void)state;
	CHECK_INT(dg_parse_u32n("123abc", 3, 0, 1000, &v), DG_OK, "prefix\n");
	CHECK_INT(v, 123, "prefix value\n");
	CHECK_INT(dg_parse_u32n("123abc", 4, 0, 1000, &v), DG_E_PARSE, "junk in len\n");
	CHECK_INT(dg_parse_u32n("1", 0, 0, 1000, &v), DG_E_PARSE, "empty len\n");
	CHECK_INT(dg_parse_u32n(NULL, 0, 0, 1000, &v), DG_E_PARSE, "NULL\n");
	CHECK_INT(dg_parse_u32n("2\0"
	                        "5",
	                        3, 0, 1000, &v),
	          DG_E_PARSE, "embedded NUL\n");
}

/* ---------------------------------------------------------------- ascii */

static void test_ascii_classes(void **state)
{
	(void)state;
	for (int c = -1; c < 256; c++) {
		bool digit = c >= '0' && c <= '9';
		bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
		bool space =
		    c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
		bool xdigit = digit || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');

		CHECK_INT(dg_ascii_isdigit(c), digit, "isdigit(%d)\n", c);
		CHECK_INT(dg_ascii_isalpha(c), alpha, "isalpha(%d)\n", c);
		CHECK_INT(dg_ascii_isalnum(c), digit || alpha, "isalnum(%d)\n", c);
		CHECK_INT(dg_ascii_isspace(c), space, "isspace(%d)\n", c);
		CHECK_INT(dg_ascii_isxdigit(c), xdigit, "isxdigit(%d)\n", c);
		CHECK_INT(dg_ascii_tolower(c), c >= 'A' && c <= 'Z' ? c + 32 : c, "tolower(%d)\n",
		          c);
		CHECK_INT(dg_ascii_toupper(c), c >= 'a' && c <= 'z' ? c - 32 : c, "toupper(%d)\n",
		          c);
	}
	/* a negative char (0xC4 as signed char) is never a letter */
	CHECK_INT(dg_ascii_isalpha((char)0xc4), 0, "signed char\n");
}

struct casecmp_case {
	const char *a, *b;
	size_t n;
	int want_sign;
};

static const struct casecmp_case casecmp_cases[] = {
    {"STARTTLS", "starttls", SIZE_MAX, 0},
    {"Mx1.Example.NET", "mx1.example.net", SIZE_MAX, 0},
    {"abc", "abd", SIZE_MAX, -1},
    {"abd", "ABC", SIZE_MAX, 1},
    {"ab", "abc", SIZE_MAX, -1},
    {"abcX", "ABCy", 3, 0},
    {"", "", SIZE_MAX, 0},
    {"\xc4", "\xe4", SIZE_MAX, -1}, /* no Latin-1 folding */
    {"I", "i", SIZE_MAX, 0},        /* no Turkish dotless i */
};

static void test_ascii_casecmp(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(casecmp_cases) / sizeof(casecmp_cases[0]); i++) {
		const struct casecmp_case *t = &casecmp_cases[i];
		int r = t->n == SIZE_MAX ? dg_ascii_strcasecmp(t->a, t->b)
		                         : dg_ascii_strncasecmp(t->a, t->b, t->n);
		int sign = (r > 0) - (r < 0);

		CHECK_INT(sign, t->want_sign, "cmp(\"%s\", \"%s\", %zu)\n", t->a, t->b, t->n);
	}
}

struct escape_case {
	const char *in;
	size_t len;
	size_t out_size;
	const char *want;
};

static const struct escape_case escape_cases[] = {
    {"plain", 5, 64, "plain"},
    {"a\r\nb", 4, 64, "a\\x0d\\x0ab"},
    {"q\"\\", 3, 64, "q\\\"\\\\"},
    {"\xff\x00", 2, 64, "\\xff\\x00"},
    {"abcd", 4, 5, "abcd"},
    {"abcde", 5, 5, "a..."},
    {"abcdefghij", 10, 8, "abcd..."},
    {"\x01\x02\x03", 3, 6, "..."},
    {"abc", 3, 3, ""},
    {"", 0, 1, ""},
};

static void test_str_escape(void **state)
{
	char out[64];

	(void)state;
	for (size_t i = 0; i < sizeof(escape_cases) / sizeof(escape_cases[0]); i++) {
		const struct escape_case *t = &escape_cases[i];

		memset(out, 'Z', sizeof(out));
		dg_str_escape(out, t->out_size, t->in, t->len);
		CHECK_STR(out, t->want, "escape case %zu\n", i);
		assert_true(strlen(out) < t->out_size);
	}
}

/* ----------------------------------------------------------------- name */

struct name_case {
	const char *name;
	bool valid;
	const char *want_norm; /* if valid */
	const char *want_msg;  /* substring of the error message, if invalid */
	size_t want_off;
};

#define L63 "abcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabc"
#define N253                                                                                       \
	L63 "." L63 "." L63 "."                                                                    \
	    "abcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghija"

static const struct name_case name_cases[] = {
    {"example.com", true, "example.com", NULL, 0},
    {"Mx1.Example.COM.", true, "mx1.example.com", NULL, 0},
    {"_25._tcp.mx1.example.net", true, "_25._tcp.mx1.example.net", NULL, 0},
    {"_mta-sts.example.org", true, "_mta-sts.example.org", NULL, 0},
    {"_smtp._tls.example.org", true, "_smtp._tls.example.org", NULL, 0},
    {"xn--bcher-kva.example", true, "xn--bcher-kva.example", NULL, 0},
    {"localhost", true, "localhost", NULL, 0},
    {"a-b.c0", true, "a-b.c0", NULL, 0},
    {"1.2.3.example", true, "1.2.3.example", NULL, 0},
    {L63 ".com", true, L63 ".com", NULL, 0},
    {N253, true, N253, NULL, 0},
    {N253 ".", true, N253, NULL, 0},
    {"", false, NULL, "empty name", 0},
    {".", false, NULL, "root name", 0},
    {"exa..mple.com", false, NULL, "empty label at offset 4", 4},
    {".example.com", false, NULL, "empty label at offset 0", 0},
    {"example.com..", false, NULL, "empty label at offset 12", 12},
    {"-mx.example.com", false, NULL, "starts with a hyphen", 0},
    {"mx-.example.com", false, NULL, "ends with a hyphen", 2},
    {"m_x.example.com", false, NULL, "character '_' at offset 1", 1},
    {"_.example.com", false, NULL, "only '_'", 0},
    {"mx 1.example.com", false, NULL, "character ' ' at offset 2", 2},
    {"mx\n.example.com", false, NULL, "character '\\x0a' at offset 2", 2},
    {"b\xc3\xbc"
     "cher.example",
     false, NULL, "non-ASCII byte 0xc3 at offset 1", 1},
    {"192.0.2.1", false, NULL, "all-numeric last label", 8},
    {"mx.123", false, NULL, "all-numeric last label", 3},
    {L63 "d.com", false, NULL, "64 bytes long, more than 63", 0},
    {N253 "x", false, NULL, "254 characters long, more than 253", 253},
    {"*.example.com", false, NULL, "character '*' at offset 0", 0},
};

static void test_name(void **state)
{
	char out[DG_NAME_BUF_SIZE];
	struct dg_err err;

	(void)state;
	for (size_t i = 0; i < sizeof(name_cases) / sizeof(name_cases[0]); i++) {
		const struct name_case *t = &name_cases[i];
		bool ok;

		dg_err_clear(&err);
		ok = dg_name_is_valid(t->name, &err);
		CHECK_INT(ok, t->valid, "name \"%s\": %s\n", t->name, err.msg);
		if (!t->valid) {
			CHECK_INT(err.code, DG_E_PARSE, "code for \"%s\"\n", t->name);
			if (strstr(err.msg, t->want_msg) == NULL)
				fail_msg("name \"%s\": got message \"%s\", want it to contain "
				         "\"%s\"",
				         t->name, err.msg, t->want_msg);
			if (strncmp(err.msg, "DNS name \"", 10) != 0)
				fail_msg("got \"%s\", want it to name the input", err.msg);
			CHECK_INT(err.offset, t->want_off, "offset for \"%s\"\n", t->name);
			CHECK_INT(dg_name_normalize(t->name, out, sizeof(out), NULL), DG_E_PARSE,
			          "normalize \"%s\"\n", t->name);
			continue;
		}
		CHECK_INT(dg_name_normalize(t->name, out, sizeof(out), &err), DG_OK,
		          "normalize \"%s\": %s\n", t->name, err.msg);
		CHECK_STR(out, t->want_norm, "normalized \"%s\"\n", t->name);
	}
	assert_false(dg_name_is_valid(NULL, NULL));
	CHECK_INT(dg_name_normalize("example.com.", out, 12, &err), DG_OK, "exact fit\n");
	CHECK_STR(out, "example.com", "exact fit value\n");
	CHECK_INT(dg_name_normalize("example.com", out, 11, &err), DG_E_LIMIT, "too small\n");
	if (strstr(err.msg, "needs 12 bytes, buffer has 11") == NULL)
		fail_msg("got \"%s\", want the sizes", err.msg);
}

/* ---------------------------------------------------------------- arena */

static void test_arena(void **state)
{
	struct dg_arena a;
	void *ptrs[200];
	char *s;
	uint8_t *m;
	const uint8_t bytes[5] = {1, 2, 0, 4, 5};

	(void)state;
	dg_arena_init(&a, 256);
	for (size_t i = 0; i < 200; i++) {
		size_t size = (i * 37) % 300; /* some above chunk/4, some 0 */

		ptrs[i] = dg_arena_alloc(&a, size);
		assert_non_null(ptrs[i]);
		CHECK_INT((uintptr_t)ptrs[i] % _Alignof(max_align_t), 0, "alignment of %zu\n",
		          size);
		memset(ptrs[i], (int)i, size);
	}
	/* blocks do not overlap: each still holds its fill byte */
	for (size_t i = 0; i < 200; i++) {
		size_t size = (i * 37) % 300;

		for (size_t j = 0; j < size; j++)
			CHECK_INT(((uint8_t *)ptrs[i])[j], (uint8_t)i, "block %zu byte %zu\n", i,
			          j);
	}
	s = dg_arena_strdup(&a, "mx1.example.net");
	CHECK_STR(s, "mx1.example.net", "strdup\n");
	m = dg_arena_memdup(&a, bytes, sizeof(bytes));
	CHECK_INT(memcmp(m, bytes, sizeof(bytes)), 0, "memdup\n");
	assert_non_null(dg_arena_memdup(&a, NULL, 0));
	assert_true(a.allocated > 0);
	dg_arena_free_all(&a);
	CHECK_INT(a.allocated, 0, "allocated after free_all\n");
	assert_non_null(a.head); /* one chunk kept */
	s = dg_arena_strdup(&a, "again");
	CHECK_STR(s, "again", "after free_all\n");
	dg_arena_cleanup(&a);
	assert_null(a.head);
	dg_arena_cleanup(NULL);

	dg_arena_init(&a, 0);
	CHECK_INT(a.chunk_bytes, 4096, "default chunk\n");
	dg_arena_free_all(&a); /* empty arena */
	(void)dg_arena_alloc(&a, 100000);
	dg_arena_cleanup(&a);
}

/* ---------------------------------------------------------------- clock */

static void test_clock(void **state)
{
	uint64_t a, b;
	time_t now;

	(void)state;
	a = dg_clock_mono_ms();
	b = dg_clock_mono_ms();
	assert_true(b >= a);
	dg_clock_set_wall((time_t)1700000000);
	CHECK_INT(dg_clock_wall(), 1700000000, "fixed wall clock\n");
	dg_clock_reset_wall();
	now = time(NULL);
	assert_true(dg_clock_wall() >= now && dg_clock_wall() <= now + 5);
}

/* ------------------------------------------------------------------ log */

struct log_capture {
	int calls;
	enum dg_log_level level;
	char line[DG_LOG_LINE_MAX + 8];
};

static void log_capture_cb(void *arg, enum dg_log_level level, const char *line)
{
	struct log_capture *cap = arg;

	cap->calls++;
	cap->level = level;
	snprintf(cap->line, sizeof(cap->line), "%s", line);
}

static int log_side_effects;

static int log_arg(void)
{
	log_side_effects++;
	return 7;
}

static void test_log(void **state)
{
	struct log_capture cap = {0};
	struct dg_log log;
	char big[2000];

	(void)state;
	dg_log_init(&log);
	log.cb = log_capture_cb;
	log.arg = &cap;
	CHECK_INT(log.level, DG_LOG_WARN, "default level\n");

	DG_LOG(&log, DG_LOG_INFO, "n=%d", log_arg());
	CHECK_INT(cap.calls, 0, "info filtered at warn\n");
	CHECK_INT(log_side_effects, 0, "arguments not evaluated when filtered\n");

	DG_LOG(&log, DG_LOG_ERROR, "3f2a9c01 smtp host=%s n=%d", "mx1.example.net", log_arg());
	CHECK_INT(cap.calls, 1, "error emitted\n");
	CHECK_INT(cap.level, DG_LOG_ERROR, "level passed\n");
	CHECK_STR(cap.line, "3f2a9c01 smtp host=mx1.example.net n=7", "line\n");

	DG_LOG_ERRNO(&log, DG_LOG_WARN, ENOENT, "open %s", "/x");
	CHECK_STR(cap.line, "open /x: No such file or directory", "errno line\n");

	DG_LOG(&log, DG_LOG_WARN, "reply=\"%s\"", "250 ok\r\nINJECTED line");
	CHECK_STR(cap.line, "reply=\"250 ok??INJECTED line\"", "control bytes replaced\n");

	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	DG_LOG(&log, DG_LOG_WARN, "%s", big);
	CHECK_INT(strlen(cap.line), DG_LOG_LINE_MAX - 1, "truncated line\n");

	cap.calls = 0;
	DG_TRACE(&log, DG_LOG_TRACE_SMTP, "smtp trace %d", log_arg());
	CHECK_INT(cap.calls, 0, "trace off\n");
	log.trace = DG_LOG_TRACE_SMTP | DG_LOG_TRACE_TLS;
	DG_TRACE(&log, DG_LOG_TRACE_SMTP, "S: EHLO %s", "client.example");
	CHECK_INT(cap.calls, 1, "trace on\n");
	CHECK_INT(cap.level, DG_LOG_DEBUG, "trace level\n");
	DG_TRACE(&log, DG_LOG_TRACE_DNS, "dns");
	CHECK_INT(cap.calls, 1, "other category off\n");
	CHECK_INT(log_side_effects, 1, "side effects\n");

	log.level = DG_LOG_DEBUG;
	DG_LOG(&log, DG_LOG_DEBUG, "debug");
	CHECK_INT(cap.calls, 2, "debug on\n");

	CHECK_STR(dg_log_level_str(DG_LOG_INFO), "info", "level name\n");
	/* the global logger: default level warn, redirected for the test */
	dg_log_global()->cb = log_capture_cb;
	dg_log_global()->arg = &cap;
	DG_LOG(NULL, DG_LOG_WARN, "global %d", 1);
	CHECK_STR(cap.line, "global 1", "global logger\n");
	dg_log_init(dg_log_global());
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_alloc),         cmocka_unit_test(test_buf_basic),
	    cmocka_unit_test(test_buf_grow),      cmocka_unit_test(test_cursor_reads),
	    cmocka_unit_test(test_cursor_err),    cmocka_unit_test(test_parse_u32),
	    cmocka_unit_test(test_parse_u32n),    cmocka_unit_test(test_ascii_classes),
	    cmocka_unit_test(test_ascii_casecmp), cmocka_unit_test(test_str_escape),
	    cmocka_unit_test(test_name),          cmocka_unit_test(test_arena),
	    cmocka_unit_test(test_clock),         cmocka_unit_test(test_log),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
