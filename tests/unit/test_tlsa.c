/*
 * test_tlsa.c - unit tests for the TLSA record model (lib/tlsa/).
 *
 * Table-driven (STYLE.md section 9): parsers (text and wire, edge cases), formatters,
 * usability (SPEC TLSA-2/TLSA-3/TLSA-4), digest agility (SPEC AUTH-7 incl. the RFC 7671 §9
 * example and SPEC §14 row 11), generation and matching against vectors computed by the openssl
 * CLI (tests/data/gen-tlsa-fixtures.sh -> tests/data/tlsa/expected.txt), loaders, and advice
 * (SPEC PUB-*, SPEC §14 row 13). Failures print "got X, want Y".
 */
#include <daneguard/tlsa.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define CHECK(cond, ...)                                                                           \
	do {                                                                                       \
		if (!(cond))                                                                       \
			fail_msg(__VA_ARGS__);                                                     \
	} while (0)

enum { EXPECT_MAX = 64, HEX_MAX = 4096 };

struct expect_line {
	char name[16];
	unsigned u, s, m;
	char hex[HEX_MAX];
};

static struct expect_line expected[EXPECT_MAX];
static size_t n_expected;

static const char *data_path(const char *file);
static void load_expected(void);
static const char *want_hex(const char *name, unsigned s, unsigned m);
static X509 *load_cert(const char *file);
static char *to_hex(const uint8_t *p, size_t len);
static struct dg_tlsa_set *set_of(const char *const *texts);
static bool set_authenticates(const struct dg_tlsa_set *set, const struct dg_tlsa_agility *ag,
                              X509 *cert);

/* ---- fixtures --------------------------------------------------------------------------- */

static const char *data_path(const char *file)
{
	static char path[4096];
	const char *dir = getenv("DG_TEST_DATA");

	snprintf(path, sizeof(path), "%s/tlsa/%s", dir != NULL ? dir : "tests/data", file);
	return path;
}

static void load_expected(void)
{
	FILE *f;

	if (n_expected > 0)
		return;
	f = fopen(data_path("expected.txt"), "r");
	CHECK(f != NULL, "cannot open %s (DG_TEST_DATA unset?)", data_path("expected.txt"));
	while (n_expected < EXPECT_MAX) {
		struct expect_line *e = &expected[n_expected];

		if (fscanf(f, "%15s %u %u %u %4095s", e->name, &e->u, &e->s, &e->m, e->hex) != 5)
			break;
		n_expected++;
	}
	fclose(f);
	CHECK(n_expected == 24, "expected.txt: got %zu lines, want 24", n_expected);
}

static const char *want_hex(const char *name, unsigned s, unsigned m)
{
	load_expected();
	for (size_t i = 0; i < n_expected; i++)
		if (strcmp(expected[i].name, name) == 0 && expected[i].s == s && expected[i].m == m)
			return expected[i].hex;
	fail_msg("no expected value for %s %u %u", name, s, m);
	return NULL;
}

static X509 *load_cert(const char *file)
{
	STACK_OF(X509) *sk = NULL;
	struct dg_err err = {0};
	X509 *x;

	CHECK(dg_tlsa_load_certs(data_path(file), &sk, &err) == DG_OK, "load %s: got \"%s\"", file,
	      err.msg);
	x = sk_X509_shift(sk);
	sk_X509_pop_free(sk, X509_free);
	return x;
}

static char *to_hex(const uint8_t *p, size_t len)
{
	char *s = malloc(2 * len + 1);

	for (size_t i = 0; i < len; i++)
		snprintf(s + 2 * i, 3, "%02x", p[i]);
	s[2 * len] = '\0';
	return s;
}

/* Build a set from presentation texts (NULL-terminated list). */
static struct dg_tlsa_set *set_of(const char *const *texts)
{
	struct dg_tlsa_set *set = dg_tlsa_set_new();
	struct dg_err err = {0};

	for (size_t i = 0; texts[i] != NULL; i++) {
		struct dg_tlsa_rr rr;

		CHECK(dg_tlsa_parse_text(NULL, texts[i], strlen(texts[i]), &rr, &err) == DG_OK,
		      "set_of \"%.40s\": got \"%s\"", texts[i], err.msg);
		CHECK(dg_tlsa_set_take_rr(set, &rr, &err) == DG_OK, "take: %s", err.msg);
	}
	return set;
}

/* Does any authoritative record (after agility) match @p cert? */
static bool set_authenticates(const struct dg_tlsa_set *set, const struct dg_tlsa_agility *ag,
                              X509 *cert)
{
	for (size_t i = 0; i < set->count; i++)
		if (ag->state[i] == DG_TLSA_AUTH_KEEP && dg_tlsa_rr_is_match(&set->rr[i], cert))
			return true;
	return false;
}

#define H32 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define H31 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcd"
#define H64 H32 H32
#define H32B "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100"
#define H64B H32B H32B

/* ---- parsing ---------------------------------------------------------------------------- */

static void test_parse_text(void **state)
{
	static const struct {
		const char *in;
		enum dg_status st;
		int u, s, m;
		const char *hex; /* lowercase data when st == DG_OK */
		long off;        /* error offset, -1 = not checked */
	} cases[] = {
	    {"3 1 1 " H32, DG_OK, 3, 1, 1, H32, -1},
	    {"  3\t1\n1   ab cd\nEF\r\n01  ", DG_OK, 3, 1, 1, "abcdef01", -1},
	    {"DANE-EE SPKI SHA2-256 abcd", DG_OK, 3, 1, 1, "abcd", -1},
	    {"dane-ta cert sha2-512 AB", DG_OK, 2, 0, 2, "ab", -1},
	    {"Pkix-Ta 0 FULL 00", DG_OK, 0, 0, 0, "00", -1},
	    {"PrivCert PrivSel PrivMatch 00", DG_OK, 255, 255, 255, "00", -1},
	    {"0003 01 002 ff", DG_OK, 3, 1, 2, "ff", -1},
	    {"255 255 255 00", DG_OK, 255, 255, 255, "00", -1},
	    {"3 1 1", DG_OK, 3, 1, 1, "", -1},
	    {"3 1 1   \n", DG_OK, 3, 1, 1, "", -1},
	    {"256 1 1 ab", DG_E_PARSE, 0, 0, 0, NULL, 0},
	    {"3 1 256 ab", DG_E_PARSE, 0, 0, 0, NULL, 4},
	    {"4294967299 1 1 ab", DG_E_PARSE, 0, 0, 0, NULL, 0},
	    {"99999999999999999999 1 1 ab", DG_E_PARSE, 0, 0, 0, NULL, 0},
	    {"3 1 1 abc", DG_E_PARSE, 0, 0, 0, NULL, 8},
	    {"3 1 1 ab cd e", DG_E_PARSE, 0, 0, 0, NULL, 12},
	    {"3 1 1 abzz", DG_E_PARSE, 0, 0, 0, NULL, 8},
	    {"3 1 1 (ab)", DG_E_PARSE, 0, 0, 0, NULL, 6},
	    {"3 1 1 ab ; comment", DG_E_PARSE, 0, 0, 0, NULL, 9},
	    {"3 x 1 ab", DG_E_PARSE, 0, 0, 0, NULL, 2},
	    {"-1 1 1 ab", DG_E_PARSE, 0, 0, 0, NULL, 0},
	    {"+3 1 1 ab", DG_E_PARSE, 0, 0, 0, NULL, 0},
	    {"3 1 1a ab", DG_E_PARSE, 0, 0, 0, NULL, 5},
	    {"DANE-XX 1 1 ab", DG_E_PARSE, 0, 0, 0, NULL, 0},
	    {"3 SPKI SHA2-384 ab", DG_E_PARSE, 0, 0, 0, NULL, 7},
	    {"DANE-EE 3 1 ab", DG_OK, 3, 3, 1, "ab", -1},
	    {"", DG_E_PARSE, 0, 0, 0, NULL, 0},
	    {"   ", DG_E_PARSE, 0, 0, 0, NULL, 3},
	    {"3 1", DG_E_PARSE, 0, 0, 0, NULL, 3},
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct dg_tlsa_rr rr;
		struct dg_err err = {0};
		enum dg_status st =
		    dg_tlsa_parse_text("t", cases[i].in, strlen(cases[i].in), &rr, &err);

		CHECK(st == cases[i].st, "case %zu \"%s\": got status %s (%s), want %s", i,
		      cases[i].in, dg_status_str(st), err.msg, dg_status_str(cases[i].st));
		if (st != DG_OK) {
			CHECK(rr.data == NULL && rr.len == 0, "case %zu: output not zeroed", i);
			CHECK(cases[i].off < 0 || err.offset == (size_t)cases[i].off,
			      "case %zu \"%s\": got offset %zu (%s), want %ld", i, cases[i].in,
			      err.offset, err.msg, cases[i].off);
			CHECK(strncmp(err.msg, "t: char ", 8) == 0,
			      "case %zu: got message \"%s\", want it to name the record and char",
			      i, err.msg);
			continue;
		}
		char *hex = to_hex(rr.data, rr.len);

		CHECK(rr.usage == cases[i].u && rr.selector == cases[i].s && rr.mtype == cases[i].m,
		      "case %zu: got %u %u %u, want %d %d %d", i, rr.usage, rr.selector, rr.mtype,
		      cases[i].u, cases[i].s, cases[i].m);
		CHECK(strcmp(hex, cases[i].hex) == 0, "case %zu: got data %s, want %s", i, hex,
		      cases[i].hex);
		free(hex);
		dg_tlsa_rr_cleanup(&rr);
	}
}

static void test_parse_text_embedded_nul_and_caps(void **state)
{
	static const char in[] = "3 1 1 ab\0cd";
	struct dg_tlsa_rr rr;
	struct dg_err err = {0};
	char *big;
	size_t n = 6 + 2 * (DG_TLSA_DATA_MAX + 1);
	enum dg_status st;

	(void)state;
	st = dg_tlsa_parse_text(NULL, in, sizeof(in) - 1, &rr, &err);
	CHECK(st == DG_E_PARSE && err.offset == 8, "NUL: got %s at %zu, want parse error at 8",
	      dg_status_str(st), err.offset);
	CHECK(strncmp(err.msg, "TLSA text: char 8", 17) == 0, "NUL: got \"%s\"", err.msg);

	big = malloc(n);
	memcpy(big, "3 0 0 ", 6);
	memset(big + 6, 'a', n - 6);
	st = dg_tlsa_parse_text(NULL, big, n, &rr, &err);
	CHECK(st == DG_E_LIMIT, "too much data: got %s, want %s", dg_status_str(st),
	      dg_status_str(DG_E_LIMIT));
	st = dg_tlsa_parse_text(NULL, big, n - 2, &rr, &err);
	CHECK(st == DG_OK && rr.len == DG_TLSA_DATA_MAX, "max data: got %s len %zu, want ok %d",
	      dg_status_str(st), rr.len, DG_TLSA_DATA_MAX);
	dg_tlsa_rr_cleanup(&rr);
	st = dg_tlsa_parse_text(NULL, big, DG_TLSA_TEXT_MAX + 1, &rr, &err);
	CHECK(st == DG_E_LIMIT, "too long: got %s, want limit", dg_status_str(st));
	free(big);
}

static void test_parse_rdata(void **state)
{
	static const uint8_t r3[] = {3, 1, 1}, r4[] = {3, 1, 1, 0xab}, r2[] = {3, 1},
	                     rpriv[] = {255, 255, 255, 0, 1};
	static const struct {
		const uint8_t *p;
		size_t len;
		enum dg_status st;
		int u, s, m;
		size_t dlen;
		long off;
	} cases[] = {
	    {NULL, 0, DG_E_PARSE, 0, 0, 0, 0, 0},    {r2, 2, DG_E_PARSE, 0, 0, 0, 0, 2},
	    {r3, 3, DG_OK, 3, 1, 1, 0, -1},          {r4, 4, DG_OK, 3, 1, 1, 1, -1},
	    {rpriv, 5, DG_OK, 255, 255, 255, 2, -1},
	};
	uint8_t *big = calloc(1, 65536);

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct dg_tlsa_rr rr;
		struct dg_err err = {0};
		enum dg_status st = dg_tlsa_parse_rdata("_25._tcp.mx.example.net", cases[i].p,
		                                        cases[i].len, &rr, &err);

		CHECK(st == cases[i].st, "case %zu: got %s (%s), want %s", i, dg_status_str(st),
		      err.msg, dg_status_str(cases[i].st));
		if (st != DG_OK) {
			CHECK(err.offset == (size_t)cases[i].off,
			      "case %zu: got offset %zu, want %ld", i, err.offset, cases[i].off);
			CHECK(strstr(err.msg, "_25._tcp.mx.example.net: byte") == err.msg,
			      "case %zu: got \"%s\", want the record and byte named", i, err.msg);
			continue;
		}
		CHECK(rr.usage == cases[i].u && rr.selector == cases[i].s &&
		          rr.mtype == cases[i].m && rr.len == cases[i].dlen,
		      "case %zu: got %u %u %u len %zu, want %d %d %d len %zu", i, rr.usage,
		      rr.selector, rr.mtype, rr.len, cases[i].u, cases[i].s, cases[i].m,
		      cases[i].dlen);
		dg_tlsa_rr_cleanup(&rr);
	}
	big[0] = 3;
	struct dg_tlsa_rr rr;
	enum dg_status st = dg_tlsa_parse_rdata(NULL, big, 65535, &rr, NULL);

	CHECK(st == DG_OK && rr.len == 65532, "65535: got %s len %zu, want ok 65532",
	      dg_status_str(st), rr.len);
	dg_tlsa_rr_cleanup(&rr);
	st = dg_tlsa_parse_rdata(NULL, big, 65536, &rr, NULL);
	CHECK(st == DG_E_LIMIT, "65536: got %s, want limit", dg_status_str(st));
	free(big);
}

/* ---- formatting ------------------------------------------------------------------------- */

static void test_format(void **state)
{
	static const struct {
		const char *in;
		unsigned flags;
		const char *want;
	} cases[] = {
	    {"3 1 1 ABcd", DG_TLSA_FMT_DEFAULT, "3 1 1 abcd"},
	    {"3 1 1 ab cd", DG_TLSA_FMT_UPPER, "3 1 1 ABCD"},
	    {"3 1 1 abcd", DG_TLSA_FMT_ACRONYMS, "DANE-EE SPKI SHA2-256 abcd"},
	    {"2 0 2 00", DG_TLSA_FMT_ACRONYMS | DG_TLSA_FMT_UPPER, "DANE-TA Cert SHA2-512 00"},
	    {"4 2 3 ab", DG_TLSA_FMT_ACRONYMS, "4 2 3 ab"},
	    {"255 255 255 ab", DG_TLSA_FMT_ACRONYMS, "PrivCert PrivSel PrivMatch ab"},
	    {"3 1 1", DG_TLSA_FMT_DEFAULT, "3 1 1"},
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct dg_tlsa_rr rr, back;
		char *out;

		assert_int_equal(
		    dg_tlsa_parse_text(NULL, cases[i].in, strlen(cases[i].in), &rr, NULL), DG_OK);
		out = dg_tlsa_rr_format(&rr, cases[i].flags);
		CHECK(strcmp(out, cases[i].want) == 0, "case %zu: got \"%s\", want \"%s\"", i, out,
		      cases[i].want);
		/* Round trip: the formatted text parses back to the same record. */
		CHECK(dg_tlsa_parse_text(NULL, out, strlen(out), &back, NULL) == DG_OK &&
		          dg_tlsa_rr_is_equal(&rr, &back),
		      "case %zu: \"%s\" does not parse back to the same record", i, out);
		free(out);
		dg_tlsa_rr_cleanup(&back);
		dg_tlsa_rr_cleanup(&rr);
	}
	/* SPEC RPT-4: "u s m hex", no blanks inside the hex. */
	struct dg_tlsa_rr rr;

	assert_int_equal(dg_tlsa_parse_text(NULL, "DANE-EE SPKI SHA2-256 AB CD\nEF", 30, &rr, NULL),
	                 DG_OK);
	char *ps = dg_tlsa_rr_policy_string(&rr);

	CHECK(strcmp(ps, "3 1 1 abcdef") == 0, "policy string: got \"%s\", want \"3 1 1 abcdef\"",
	      ps);
	free(ps);
	dg_tlsa_rr_cleanup(&rr);
	CHECK(dg_tlsa_usage_name(4) == NULL && dg_tlsa_selector_name(2) == NULL &&
	          dg_tlsa_mtype_name(3) == NULL,
	      "unassigned values must have no acronym");
}

/* ---- model ------------------------------------------------------------------------------ */

static void test_set_model(void **state)
{
	struct dg_tlsa_set *set = dg_tlsa_set_new(), *copy;
	struct dg_err err = {0};
	uint8_t d[32] = {1};
	enum dg_status st;
	struct dg_tlsa_rr rr = {3, 1, 1, NULL, 0};

	(void)state;
	for (int i = 0; i < DG_TLSA_SET_MAX; i++) {
		d[1] = (uint8_t)i;
		assert_int_equal(dg_tlsa_set_add(set, 3, 1, 1, d, sizeof(d), &err), DG_OK);
	}
	st = dg_tlsa_set_add(set, 3, 1, 1, d, sizeof(d), &err);
	CHECK(st == DG_E_LIMIT, "record 65: got %s, want %s", dg_status_str(st),
	      dg_status_str(DG_E_LIMIT));
	CHECK(strstr(err.msg, "more than 64") != NULL, "got \"%s\"", err.msg);
	rr.data = malloc(4);
	rr.len = 4;
	st = dg_tlsa_set_take_rr(set, &rr, &err);
	CHECK(st == DG_E_LIMIT && rr.data != NULL, "take at cap: got %s, data kept by caller",
	      dg_status_str(st));
	dg_tlsa_rr_cleanup(&rr);
	copy = dg_tlsa_set_copy(set);
	CHECK(copy->count == set->count, "copy: got %zu records, want %zu", copy->count,
	      set->count);
	for (size_t i = 0; i < set->count; i++)
		CHECK(dg_tlsa_rr_is_equal(&copy->rr[i], &set->rr[i]) &&
		          copy->rr[i].data != set->rr[i].data,
		      "copy record %zu: not a deep copy", i);
	st = dg_tlsa_set_add(copy, 3, 1, 1, NULL, DG_TLSA_DATA_MAX + 1, &err);
	CHECK(st == DG_E_LIMIT, "oversized data: got %s", dg_status_str(st));
	dg_tlsa_set_free(set);
	dg_tlsa_set_free(copy);
	dg_tlsa_set_free(NULL);
	dg_tlsa_rr_cleanup(NULL);
	copy = dg_tlsa_set_copy(NULL);
	assert_int_equal(copy->count, 0);
	dg_tlsa_set_free(copy);
}

/* ---- usability -------------------------------------------------------------------------- */

static void test_classify(void **state)
{
	char rsa300[HEX_MAX + 16], rsa310[HEX_MAX + 16], rsa300x[HEX_MAX + 16],
	    cert_as_spki[HEX_MAX + 16];
	const struct {
		const char *in;
		enum dg_tlsa_usability want;
	} cases[] = {
	    {"3 1 1 " H32, DG_TLSA_USABLE},
	    {"2 0 2 " H64, DG_TLSA_USABLE},
	    {"3 1 1 " H31, DG_TLSA_UNUSABLE_DIGEST_LEN},
	    {"3 1 2 " H32, DG_TLSA_UNUSABLE_DIGEST_LEN},
	    {"3 1 1 " H64, DG_TLSA_UNUSABLE_DIGEST_LEN},
	    {"0 0 1 " H32, DG_TLSA_UNUSABLE_PKIX_USAGE},
	    {"1 1 1 " H32, DG_TLSA_UNUSABLE_PKIX_USAGE},
	    {"255 1 1 " H32, DG_TLSA_UNUSABLE_PRIVATE},
	    {"3 255 1 " H32, DG_TLSA_UNUSABLE_PRIVATE},
	    {"3 1 255 " H32, DG_TLSA_UNUSABLE_PRIVATE},
	    {"4 1 1 " H32, DG_TLSA_UNUSABLE_UNKNOWN_USAGE},
	    {"254 1 1 " H32, DG_TLSA_UNUSABLE_UNKNOWN_USAGE},
	    {"3 2 1 " H32, DG_TLSA_UNUSABLE_UNKNOWN_SELECTOR},
	    {"3 1 3 " H32, DG_TLSA_UNUSABLE_UNKNOWN_MTYPE},
	    {"3 1 1", DG_TLSA_UNUSABLE_EMPTY},
	    {"3 0 0 3082", DG_TLSA_UNUSABLE_BAD_CERT},
	    {"3 1 0 " H32, DG_TLSA_UNUSABLE_BAD_SPKI},
	    {rsa300, DG_TLSA_USABLE},
	    {rsa310, DG_TLSA_USABLE},
	    {rsa300x, DG_TLSA_UNUSABLE_BAD_CERT},
	    {cert_as_spki, DG_TLSA_UNUSABLE_BAD_SPKI},
	};
	(void)state;
	snprintf(rsa300, sizeof(rsa300), "3 0 0 %s", want_hex("rsa", 0, 0));
	snprintf(rsa310, sizeof(rsa310), "3 1 0 %s", want_hex("rsa", 1, 0));
	snprintf(rsa300x, sizeof(rsa300x), "3 0 0 %s00", want_hex("rsa", 0, 0));
	snprintf(cert_as_spki, sizeof(cert_as_spki), "3 1 0 %s", want_hex("ec", 0, 0));
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct dg_tlsa_rr rr;
		enum dg_tlsa_usability got;

		assert_int_equal(
		    dg_tlsa_parse_text(NULL, cases[i].in, strlen(cases[i].in), &rr, NULL), DG_OK);
		got = dg_tlsa_rr_classify(&rr);
		CHECK(got == cases[i].want, "case %zu \"%.30s\": got %s, want %s", i, cases[i].in,
		      dg_tlsa_usability_str(got), dg_tlsa_usability_str(cases[i].want));
		dg_tlsa_rr_cleanup(&rr);
	}
}

static void test_describe(void **state)
{
	static const struct {
		const char *in;
		size_t num;
		const char *want;
	} cases[] = {
	    {"3 1 1 " H31, 2, "TLSA 3 1 1 record #2: digest is 31 octets, SHA2-256 needs 32"},
	    {"3 1 2 " H32, 1, "TLSA 3 1 2 record #1: digest is 32 octets, SHA2-512 needs 64"},
	    {"0 0 1 " H32, 3,
	     "TLSA 0 0 1 record #3: usage 0 (PKIX-TA) is not used for SMTP, senders ignore it"},
	    {"3 1 255 00", 1,
	     "TLSA 3 1 255 record #1: matching type 255 (PrivMatch) is for private use, senders "
	     "ignore it"},
	    {"3 1 1", 0, "TLSA 3 1 1: no association data (RDATA of 3 octets)"},
	    {"9 1 1 00", 4, "TLSA 9 1 1 record #4: usage 9 is unassigned"},
	    {"3 1 1 " H32, 1, "TLSA 3 1 1 record #1: usable (DANE-EE SPKI SHA2-256, 32 octets)"},
	};
	char buf[DG_TLSA_DESCR_MAX];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct dg_tlsa_rr rr;

		assert_int_equal(
		    dg_tlsa_parse_text(NULL, cases[i].in, strlen(cases[i].in), &rr, NULL), DG_OK);
		dg_tlsa_rr_describe(&rr, cases[i].num, buf, sizeof(buf));
		CHECK(strcmp(buf, cases[i].want) == 0, "case %zu: got \"%s\", want \"%s\"", i, buf,
		      cases[i].want);
		dg_tlsa_rr_describe(&rr, cases[i].num, buf, 10);
		CHECK(strlen(buf) == 9, "case %zu: truncation: got %zu chars, want 9", i,
		      strlen(buf));
		dg_tlsa_rr_cleanup(&rr);
	}
}

static void test_set_classify(void **state)
{
	static const char *const empty[] = {NULL};
	static const char *const pkix[] = {"0 0 1 " H32, "1 1 1 " H32, NULL};
	static const char *const mixed[] = {"3 1 1 " H31, "3 1 1 " H32, "2 0 1", NULL};
	static const struct {
		const char *const *set;
		enum dg_tlsa_outcome outcome;
		size_t usable;
	} cases[] = {
	    {empty, DG_TLSA_OUTCOME_EMPTY, 0},
	    {pkix, DG_TLSA_OUTCOME_ALL_UNUSABLE, 0}, /* SPEC §14 row 4 */
	    {mixed, DG_TLSA_OUTCOME_USABLE, 1},
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct dg_tlsa_set *set = set_of(cases[i].set);
		struct dg_tlsa_summary sum;

		dg_tlsa_set_classify(set, &sum);
		CHECK(sum.outcome == cases[i].outcome && sum.usable == cases[i].usable,
		      "case %zu: got %s/%zu usable, want %s/%zu", i,
		      dg_tlsa_outcome_str(sum.outcome), sum.usable,
		      dg_tlsa_outcome_str(cases[i].outcome), cases[i].usable);
		dg_tlsa_set_free(set);
	}
}

/* ---- agility (SPEC AUTH-7) -------------------------------------------------------------- */

static void test_agility_states(void **state)
{
	static const struct {
		const char *set[6];
		const char *order; /* NULL = default */
		enum dg_tlsa_auth want[6];
		size_t kept;
	} cases[] = {
	    {{"3 1 1 " H32, "3 1 2 " H64, "3 1 0 00", NULL},
	     NULL,
	     {DG_TLSA_AUTH_WEAKER, DG_TLSA_AUTH_KEEP, DG_TLSA_AUTH_UNUSABLE},
	     1},
	    {{"3 1 1 " H32, "3 1 2 " H64, NULL},
	     "sha256 sha512",
	     {DG_TLSA_AUTH_KEEP, DG_TLSA_AUTH_WEAKER},
	     1},
	    {{"3 1 1 " H32, "3 1 2 " H64, NULL},
	     "SHA2-256",
	     {DG_TLSA_AUTH_KEEP, DG_TLSA_AUTH_DISABLED},
	     1},
	    {{"3 1 1 " H32, "2 0 1 " H32, "2 0 2 " H64, "3 0 1 " H32, "3 1 1 " H32B, NULL},
	     NULL,
	     {DG_TLSA_AUTH_KEEP, DG_TLSA_AUTH_WEAKER, DG_TLSA_AUTH_KEEP, DG_TLSA_AUTH_KEEP,
	      DG_TLSA_AUTH_KEEP},
	     4},
	    /* Unusable records are dropped first: a bad SHA2-512 does not demote SHA2-256. */
	    {{"3 1 2 " H32, "3 1 1 " H32, NULL},
	     NULL,
	     {DG_TLSA_AUTH_UNUSABLE, DG_TLSA_AUTH_KEEP},
	     1},
	    /* PKIX records are unusable, so they never shadow anything. */
	    {{"1 1 2 " H64, "3 1 1 " H32, NULL},
	     NULL,
	     {DG_TLSA_AUTH_UNUSABLE, DG_TLSA_AUTH_KEEP},
	     1},
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct dg_tlsa_set *set = set_of(cases[i].set);
		struct dg_tlsa_strength order;
		struct dg_tlsa_agility ag;

		if (cases[i].order != NULL)
			assert_int_equal(dg_tlsa_strength_parse(cases[i].order, &order, NULL),
			                 DG_OK);
		dg_tlsa_set_agility(set, cases[i].order != NULL ? &order : NULL, &ag);
		for (size_t j = 0; j < set->count; j++)
			CHECK(ag.state[j] == cases[i].want[j],
			      "case %zu record %zu: got %s, want %s", i, j + 1,
			      dg_tlsa_auth_str(ag.state[j]), dg_tlsa_auth_str(cases[i].want[j]));
		CHECK(ag.kept == cases[i].kept, "case %zu: got %zu kept, want %zu", i, ag.kept,
		      cases[i].kept);
		dg_tlsa_set_free(set);
	}
}

static void test_agility_rfc7671_example(void **state)
{
	/* RFC 7671 §9 / SPEC AUTH-7: with 3 1 1, 3 1 2 and 3 1 0 published, a key matching
	 * 3 1 0 or 3 1 2 is accepted, a key matching only 3 1 1 is not. */
	char t311[128], t312[256], t310[HEX_MAX + 16];
	const char *texts[] = {t311, t312, t310, NULL};
	X509 *only311 = load_cert("rsa.crt"), *m312 = load_cert("ec.crt"),
	     *m310 = load_cert("leaf.crt");
	struct dg_tlsa_set *set;
	struct dg_tlsa_agility ag;

	(void)state;
	snprintf(t311, sizeof(t311), "3 1 1 %s", want_hex("rsa", 1, 1));
	snprintf(t312, sizeof(t312), "3 1 2 %s", want_hex("ec", 1, 2));
	snprintf(t310, sizeof(t310), "3 1 0 %s", want_hex("leaf", 1, 0));
	set = set_of(texts);
	dg_tlsa_set_agility(set, NULL, &ag);
	CHECK(dg_tlsa_rr_is_match(&set->rr[0], only311), "3 1 1 should match the RSA key");
	CHECK(!set_authenticates(set, &ag, only311), "key matching only 3 1 1: got accepted, "
	                                             "want rejected");
	CHECK(set_authenticates(set, &ag, m312), "key matching 3 1 2: got rejected, want accepted");
	CHECK(set_authenticates(set, &ag, m310), "key matching 3 1 0: got rejected, want accepted");
	dg_tlsa_set_free(set);

	/* SPEC §14 row 11: 3 1 1 (matching) + 3 1 2 (not matching), SHA2-512 preferred -> fail. */
	snprintf(t312, sizeof(t312), "3 1 2 %s", H64B);
	texts[2] = NULL;
	set = set_of(texts);
	dg_tlsa_set_agility(set, NULL, &ag);
	CHECK(!set_authenticates(set, &ag, only311), "row 11: got accepted, want rejected");
	dg_tlsa_set_free(set);
	X509_free(only311);
	X509_free(m312);
	X509_free(m310);
}

static void test_strength_parse(void **state)
{
	static const struct {
		const char *in;
		enum dg_status st;
		size_t count;
		uint8_t m0, m1;
	} cases[] = {
	    {"sha512 sha256", DG_OK, 2, 2, 1},
	    {"SHA2-256, sha2-512", DG_OK, 2, 1, 2},
	    {" 1 ", DG_OK, 1, 1, 0},
	    {"2,,1", DG_OK, 2, 2, 1},
	    {"7 sha256", DG_OK, 2, 7, 1},
	    {"", DG_E_CONFIG, 0, 0, 0},
	    {" , ", DG_E_CONFIG, 0, 0, 0},
	    {"md5", DG_E_CONFIG, 0, 0, 0},
	    {"sha256 SHA256", DG_E_CONFIG, 0, 0, 0},
	    {"0", DG_E_CONFIG, 0, 0, 0},
	    {"255", DG_E_CONFIG, 0, 0, 0},
	    {"1000", DG_E_CONFIG, 0, 0, 0},
	    {"1 2 3 4 5 6 7 8 9", DG_E_CONFIG, 0, 0, 0},
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct dg_tlsa_strength s = {{0}, 0};
		struct dg_err err = {0};
		enum dg_status st = dg_tlsa_strength_parse(cases[i].in, &s, &err);

		CHECK(st == cases[i].st, "case %zu \"%s\": got %s (%s), want %s", i, cases[i].in,
		      dg_status_str(st), err.msg, dg_status_str(cases[i].st));
		if (st != DG_OK)
			continue;
		CHECK(s.count == cases[i].count && s.mtype[0] == cases[i].m0 &&
		          (s.count < 2 || s.mtype[1] == cases[i].m1),
		      "case %zu: got %zu items [%u %u], want %zu [%u %u]", i, s.count, s.mtype[0],
		      s.mtype[1], cases[i].count, cases[i].m0, cases[i].m1);
	}
}

/* ---- generation and matching (vectors from the openssl CLI) ------------------------------ */

static void test_generate_from_certs(void **state)
{
	static const char *const names[] = {"rsa", "ec", "leaf", "ca"};

	(void)state;
	for (size_t n = 0; n < 4; n++) {
		char file[32];
		X509 *cert;

		snprintf(file, sizeof(file), "%s.crt", names[n]);
		cert = load_cert(file);
		for (uint8_t s = 0; s <= 1; s++) {
			for (uint8_t m = 0; m <= 2; m++) {
				const char *want = want_hex(names[n], s, m);
				struct dg_tlsa_rr rr, parsed;
				char text[HEX_MAX + 16], *got;
				struct dg_err err = {0};

				CHECK(dg_tlsa_rr_from_cert(cert, 3, s, m, &rr, &err) == DG_OK,
				      "%s %u %u: %s", names[n], s, m, err.msg);
				got = to_hex(rr.data, rr.len);
				CHECK(strcmp(got, want) == 0,
				      "%s 3 %u %u: got %.16s..., want %.16s...", names[n], s, m,
				      got, want);
				CHECK(dg_tlsa_rr_classify(&rr) == DG_TLSA_USABLE,
				      "%s 3 %u %u: generated record not usable", names[n], s, m);
				snprintf(text, sizeof(text), "3 %u %u %s", s, m, want);
				assert_int_equal(
				    dg_tlsa_parse_text(NULL, text, strlen(text), &parsed, NULL),
				    DG_OK);
				CHECK(dg_tlsa_rr_is_match(&parsed, cert),
				      "%s 3 %u %u: openssl-computed record does not match",
				      names[n], s, m);
				free(got);
				dg_tlsa_rr_cleanup(&rr);
				dg_tlsa_rr_cleanup(&parsed);
			}
		}
		X509_free(cert);
	}
}

static void test_generate_from_keys(void **state)
{
	static const struct {
		const char *file;
		const char *cert;
	} cases[] = {
	    {"rsa.key", "rsa"},   {"rsa.pub.pem", "rsa"}, {"rsa.spki.der", "rsa"}, {"ec.key", "ec"},
	    {"ec.pub.pem", "ec"}, {"ec.spki.der", "ec"},  {"leaf.key", "leaf"},
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		EVP_PKEY *pkey = NULL;
		struct dg_err err = {0};

		CHECK(dg_tlsa_load_pkey(data_path(cases[i].file), &pkey, &err) == DG_OK,
		      "load %s: got \"%s\"", cases[i].file, err.msg);
		for (uint8_t m = 0; m <= 2; m++) {
			struct dg_tlsa_rr rr;
			char *got;

			assert_int_equal(dg_tlsa_rr_from_pkey(pkey, 3, m, &rr, &err), DG_OK);
			got = to_hex(rr.data, rr.len);
			CHECK(rr.selector == 1 && strcmp(got, want_hex(cases[i].cert, 1, m)) == 0,
			      "%s 3 1 %u: got %.16s..., want %.16s...", cases[i].file, m, got,
			      want_hex(cases[i].cert, 1, m));
			free(got);
			dg_tlsa_rr_cleanup(&rr);
		}
		EVP_PKEY_free(pkey);
	}
}

static void test_generate_errors_and_match(void **state)
{
	X509 *rsa = load_cert("rsa.der"), *ec = load_cert("ec.crt");
	uint8_t *data = NULL;
	size_t len = 0;
	struct dg_err err = {0};
	enum dg_status st;
	char t1[128], t2[128];
	const char *texts[] = {t1, t2, "3 2 1 " H32, "3 1 1", NULL};
	struct dg_tlsa_set *set;
	bool matched[4];

	(void)state;
	st = dg_tlsa_data_from_cert(rsa, 2, 1, &data, &len, &err);
	CHECK(st == DG_E_CONFIG && data == NULL, "selector 2: got %s, want config error",
	      dg_status_str(st));
	st = dg_tlsa_data_from_cert(rsa, 1, 3, &data, &len, &err);
	CHECK(st == DG_E_CONFIG && data == NULL, "mtype 3: got %s, want config error",
	      dg_status_str(st));
	st = dg_tlsa_data_from_pkey(NULL, 1, &data, &len, &err);
	CHECK(st == DG_E_TLS, "NULL key: got %s, want TLS error", dg_status_str(st));

	snprintf(t1, sizeof(t1), "3 1 1 %s", want_hex("rsa", 1, 1));
	snprintf(t2, sizeof(t2), "3 0 1 %s", want_hex("ec", 0, 1));
	set = set_of(texts);
	CHECK(dg_tlsa_set_match_cert(set, rsa, matched) == 1 && matched[0] && !matched[1] &&
	          !matched[2] && !matched[3],
	      "rsa: got [%d %d %d %d], want [1 0 0 0]", matched[0], matched[1], matched[2],
	      matched[3]);
	CHECK(dg_tlsa_set_match_cert(set, ec, NULL) == 1, "ec: want exactly record #2");
	dg_tlsa_set_free(set);
	X509_free(rsa);
	X509_free(ec);
}

/* ---- loaders ---------------------------------------------------------------------------- */

static void test_load_errors(void **state)
{
	static const struct {
		bool key;
		const char *file;
		enum dg_status st;
		const char *msg_part;
		int ncerts;
	} cases[] = {
	    {false, "chain.pem", DG_OK, NULL, 2},
	    {false, "rsa.der", DG_OK, NULL, 1},
	    {false, "no-such-file.pem", DG_E_IO, "no-such-file.pem: cannot open", 0},
	    {false, "rsa.key", DG_E_PARSE, "PEM without a CERTIFICATE block", 0},
	    {false, "expected.txt", DG_E_PARSE, "expected.txt: neither PEM nor a DER", 0},
	    {true, "rsa.crt", DG_E_PARSE, "holds a certificate, not a key", 0},
	    {true, "rsa.der", DG_E_PARSE, "holds a certificate, not a key", 0},
	    {true, "rsa-enc.key", DG_E_PARSE, "encrypted", 0},
	    {true, "expected.txt", DG_E_PARSE, "not a PEM or DER public or private key", 0},
	    {true, "no-such-file.key", DG_E_IO, "no-such-file.key: cannot open", 0},
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct dg_err err = {0};
		STACK_OF(X509) *sk = NULL;
		EVP_PKEY *pkey = NULL;
		enum dg_status st = cases[i].key
		                        ? dg_tlsa_load_pkey(data_path(cases[i].file), &pkey, &err)
		                        : dg_tlsa_load_certs(data_path(cases[i].file), &sk, &err);

		CHECK(st == cases[i].st, "case %zu %s: got %s (%s), want %s", i, cases[i].file,
		      dg_status_str(st), err.msg, dg_status_str(cases[i].st));
		CHECK(cases[i].msg_part == NULL || strstr(err.msg, cases[i].msg_part) != NULL,
		      "case %zu: got \"%s\", want it to contain \"%s\"", i, err.msg,
		      cases[i].msg_part);
		CHECK(st != DG_OK || cases[i].key || sk_X509_num(sk) == cases[i].ncerts,
		      "case %zu: got %d certificates, want %d", i, sk_X509_num(sk),
		      cases[i].ncerts);
		CHECK(st == DG_OK || (sk == NULL && pkey == NULL), "case %zu: output on failure",
		      i);
		sk_X509_pop_free(sk, X509_free);
		EVP_PKEY_free(pkey);
	}
}

static void test_load_mem(void **state)
{
	static const char junk_pem[] =
	    "-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n";
	STACK_OF(X509) *sk = NULL;
	struct dg_err err = {0};
	enum dg_status st;
	X509 *x = load_cert("ec.der");
	unsigned char *der = NULL;
	int n = i2d_X509(x, &der);
	uint8_t *padded = malloc((size_t)n + 1);

	(void)state;
	st = dg_tlsa_load_certs_mem("junk.pem", (const uint8_t *)junk_pem, sizeof(junk_pem) - 1,
	                            &sk, &err);
	CHECK(st == DG_E_PARSE && strstr(err.msg, "junk.pem") != NULL,
	      "bad PEM: got %s \"%s\", want parse error naming the file", dg_status_str(st),
	      err.msg);
	memcpy(padded, der, (size_t)n);
	padded[n] = 0;
	st = dg_tlsa_load_certs_mem("pad.der", padded, (size_t)n + 1, &sk, &err);
	CHECK(st == DG_E_PARSE && strstr(err.msg, "junk after the DER certificate") != NULL,
	      "DER + junk: got %s \"%s\"", dg_status_str(st), err.msg);
	st = dg_tlsa_load_certs_mem("empty", padded, 0, &sk, &err);
	CHECK(st == DG_E_PARSE, "empty: got %s", dg_status_str(st));
	st = dg_tlsa_load_certs_mem("pad.der", padded, (size_t)n, &sk, &err);
	CHECK(st == DG_OK && sk_X509_num(sk) == 1, "DER: got %s", dg_status_str(st));
	sk_X509_pop_free(sk, X509_free);
	free(padded);
	OPENSSL_free(der);
	X509_free(x);
}

/* ---- advice (SPEC PUB-*) ---------------------------------------------------------------- */

static void test_rollover_rule(void **state)
{
	/* SPEC §14 row 13 and PUB-6. */
	static const struct {
		const char *set[4];
		bool want;
	} cases[] = {
	    {{"3 1 1 " H32, "2 1 1 " H32B, NULL}, true},
	    {{"3 1 1 " H32, "3 1 1 " H32B, NULL}, true},
	    {{"3 1 1 " H32, NULL}, false},
	    {{"2 0 1 " H32, "2 0 1 " H32B, NULL}, false},
	    {{"0 0 1 " H32, "3 1 1 " H32, NULL}, false},
	    {{"1 1 1 " H32, "1 1 1 " H32B, "3 1 1 " H32, NULL}, false},
	    {{NULL}, false},
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct dg_tlsa_set *set = set_of(cases[i].set);
		bool got = dg_tlsa_set_has_rollover(set);
		struct dg_tlsa_advice adv;
		bool flagged;

		CHECK(got == cases[i].want, "case %zu: got %s, want %s", i, got ? "pass" : "fail",
		      cases[i].want ? "pass" : "fail");
		dg_tlsa_advice_init(&adv);
		dg_tlsa_set_advise(set, &adv);
		flagged = dg_tlsa_advice_find(&adv, "no-rollover") != NULL ||
		          dg_tlsa_advice_find(&adv, "single-record-no-rollover") != NULL;
		CHECK(set->count == 0 || flagged == !cases[i].want,
		      "case %zu: rollover advice got %d, want %d", i, flagged, !cases[i].want);
		dg_tlsa_advice_cleanup(&adv);
		dg_tlsa_set_free(set);
	}
}

static void test_advice_codes(void **state)
{
	static char big[HEX_MAX + 16];
	const struct {
		const char *set[5];
		const char *want[4];  /* codes that must appear */
		const char *never[3]; /* codes that must not appear */
		size_t record;        /* record number of want[0] */
	} cases[] = {
	    {{"3 1 1 " H32, NULL},
	     {"single-record-no-rollover"},
	     {"all-unusable", "no-rollover", "unusable-record"},
	     0},
	    {{"0 0 1 " H32, "1 1 1 " H32, NULL},
	     {"pkix-usage-ignored", "all-unusable"},
	     {"no-rollover", "single-record-no-rollover"},
	     1},
	    {{"3 1 1 " H31, NULL}, {"unusable-record", "all-unusable"}, {NULL}, 1},
	    {{"3 1 2 " H64, "3 1 2 " H64B, NULL},
	     {"sha512-only", "rollover-check-caveat"},
	     {"no-rollover"},
	     0},
	    {{"3 1 1 " H32, "3 1 2 " H64, "2 1 1 " H32B, NULL},
	     {"weaker-digest-ignored", "ta-cert-selector", "ta-chain-required"},
	     {"sha512-only", "no-rollover", "rollover-check-caveat"},
	     1},
	    {{"3 0 1 " H32, "3 0 1 " H32, NULL},
	     {"ee-cert-selector", "duplicate-record"},
	     {NULL},
	     1},
	    {{big, "3 1 1 " H32, NULL},
	     {"full-match-not-recommended", "ee-cert-selector"},
	     {"rrset-size"},
	     1},
	    {{big, big, NULL}, {"rrset-size", "duplicate-record"}, {NULL}, 0},
	    {{NULL}, {"empty-set"}, {"no-rollover", "all-unusable"}, 0},
	    {{"2 0 0 3082", "2 0 1 " H32, NULL},
	     {"unusable-record", "no-rollover", "ta-chain-required"},
	     {"ta-cert-selector"},
	     1},
	};
	(void)state;
	snprintf(big, sizeof(big), "3 0 0 %s", want_hex("rsa", 0, 0));
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct dg_tlsa_set *set = set_of(cases[i].set);
		struct dg_tlsa_advice adv;

		dg_tlsa_advice_init(&adv);
		dg_tlsa_set_advise(set, &adv);
		for (size_t j = 0; j < 4 && cases[i].want[j] != NULL; j++) {
			const struct dg_tlsa_advice_item *it =
			    dg_tlsa_advice_find(&adv, cases[i].want[j]);

			CHECK(it != NULL, "case %zu: got no \"%s\" among %zu items, want it", i,
			      cases[i].want[j], adv.count);
			CHECK(it->text[0] != '\0' && (strncmp(it->spec, "PUB-", 4) == 0 ||
			                              strncmp(it->spec, "TLSA-", 5) == 0 ||
			                              strncmp(it->spec, "AUTH-", 5) == 0),
			      "case %zu: %s has spec \"%s\"", i, it->code, it->spec);
			CHECK(j != 0 || it->record == cases[i].record,
			      "case %zu: %s got record %zu, want %zu", i, it->code, it->record,
			      cases[i].record);
		}
		for (size_t j = 0; j < 3 && cases[i].never[j] != NULL; j++)
			CHECK(dg_tlsa_advice_find(&adv, cases[i].never[j]) == NULL,
			      "case %zu: got \"%s\", want none", i, cases[i].never[j]);
		dg_tlsa_advice_cleanup(&adv);
		dg_tlsa_set_free(set);
	}
}

static void test_advice_severity_and_text(void **state)
{
	static const char *const one[] = {"3 1 1 " H31, "0 0 1 " H32, NULL};
	struct dg_tlsa_set *set = set_of(one);
	struct dg_tlsa_advice adv;
	const struct dg_tlsa_advice_item *it;

	(void)state;
	dg_tlsa_advice_init(&adv);
	dg_tlsa_set_advise(set, &adv);
	it = dg_tlsa_advice_find(&adv, "unusable-record");
	CHECK(it != NULL && it->severity == DG_TLSA_SEV_WARN &&
	          strcmp(it->text,
	                 "TLSA 3 1 1 record #1: digest is 31 octets, SHA2-256 needs 32") == 0,
	      "unusable-record: got \"%s\"", it != NULL ? it->text : "(none)");
	it = dg_tlsa_advice_find(&adv, "all-unusable");
	CHECK(it != NULL && it->severity == DG_TLSA_SEV_ERROR, "all-unusable: got %s, want error",
	      it != NULL ? dg_tlsa_severity_str(it->severity) : "(none)");
	it = dg_tlsa_advice_find(&adv, "pkix-usage-ignored");
	CHECK(it != NULL && it->record == 2 && it->severity == DG_TLSA_SEV_WARN,
	      "pkix-usage-ignored: got record %zu", it != NULL ? it->record : 0);
	it = dg_tlsa_advice_find(&adv, "single-record-no-rollover");
	CHECK(it != NULL && it->severity == DG_TLSA_SEV_INFO, "rollover: want info");
	dg_tlsa_advice_cleanup(&adv);
	dg_tlsa_advice_cleanup(NULL);
	dg_tlsa_set_free(set);
}

static void test_ttl_advice(void **state)
{
	static const struct {
		uint32_t ttl;
		const char *want; /* NULL: no advice */
	} cases[] = {
	    {0, "ttl-too-short"},
	    {299, "ttl-too-short"},
	    {300, NULL},
	    {3600, NULL},
	    {86400, NULL},
	    {86401, "ttl-too-long"},
	    {4294967295u, "ttl-too-long"},
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct dg_tlsa_advice adv;

		dg_tlsa_advice_init(&adv);
		dg_tlsa_ttl_advise(cases[i].ttl, &adv);
		if (cases[i].want == NULL)
			CHECK(adv.count == 0, "ttl %u: got %s, want no advice", cases[i].ttl,
			      adv.item[0].code);
		else
			CHECK(adv.count == 1 && strcmp(adv.item[0].code, cases[i].want) == 0 &&
			          adv.item[0].severity == DG_TLSA_SEV_WARN,
			      "ttl %u: got %zu items, want %s", cases[i].ttl, adv.count,
			      cases[i].want);
		dg_tlsa_advice_cleanup(&adv);
	}
}

static void test_advice_chain(void **state)
{
	char leaf311[128], leaf312[256], ca201[128], rsa311[128];
	STACK_OF(X509) *chain = NULL, *leaf_only;
	struct dg_err err = {0};
	const struct {
		const char *set[4];
		STACK_OF(X509) * *chain;
		const char *want[3];
		const char *never[3];
	} cases[] = {
	    {{leaf311, ca201, NULL},
	     &chain,
	     {"record-matches"},
	     {"no-record-matches", "combination-not-matching", "ta-not-in-chain"}},
	    {{rsa311, leaf311, NULL},
	     &chain,
	     {"record-matches"},
	     {"no-record-matches", "combination-not-matching"}},
	    {{leaf311, leaf312, NULL},
	     &chain,
	     {"combination-not-matching", "record-matches"},
	     {"no-record-matches"}},
	    {{rsa311, NULL}, &chain, {"no-record-matches"}, {"record-matches"}},
	    {{ca201, NULL}, &leaf_only, {"ta-not-in-chain", "no-record-matches"}, {NULL}},
	};
	(void)state;
	snprintf(leaf311, sizeof(leaf311), "3 1 1 %s", want_hex("leaf", 1, 1));
	snprintf(leaf312, sizeof(leaf312), "3 1 2 %s", H64B);
	snprintf(ca201, sizeof(ca201), "2 0 1 %s", want_hex("ca", 0, 1));
	snprintf(rsa311, sizeof(rsa311), "3 1 1 %s", want_hex("rsa", 1, 1));
	assert_int_equal(dg_tlsa_load_certs(data_path("chain.pem"), &chain, &err), DG_OK);
	leaf_only = sk_X509_new_null();
	sk_X509_push(leaf_only, sk_X509_value(chain, 0));
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct dg_tlsa_set *set = set_of(cases[i].set);
		struct dg_tlsa_advice adv;

		dg_tlsa_advice_init(&adv);
		dg_tlsa_set_advise_chain(set, *cases[i].chain, &adv);
		for (size_t j = 0; j < 3 && cases[i].want[j] != NULL; j++)
			CHECK(dg_tlsa_advice_find(&adv, cases[i].want[j]) != NULL,
			      "case %zu: got no \"%s\", want it", i, cases[i].want[j]);
		for (size_t j = 0; j < 3 && cases[i].never[j] != NULL; j++)
			CHECK(dg_tlsa_advice_find(&adv, cases[i].never[j]) == NULL,
			      "case %zu: got \"%s\" (%s), want none", i, cases[i].never[j],
			      dg_tlsa_advice_find(&adv, cases[i].never[j])->text);
		if (i == 0) {
			CHECK(adv.count == 2 &&
			          strcmp(adv.item[0].text,
			                 "TLSA 3 1 1 record #1 matches the leaf") == 0 &&
			          strcmp(adv.item[1].text, "TLSA 2 0 1 record #2 matches the "
			                                   "certificate at depth 1") == 0,
			      "case 0: got %zu items, first \"%s\"", adv.count,
			      adv.count > 0 ? adv.item[0].text : "");
		}
		dg_tlsa_advice_cleanup(&adv);
		dg_tlsa_set_free(set);
	}
	sk_X509_free(leaf_only);
	sk_X509_pop_free(chain, X509_free);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_text),
	    cmocka_unit_test(test_parse_text_embedded_nul_and_caps),
	    cmocka_unit_test(test_parse_rdata),
	    cmocka_unit_test(test_format),
	    cmocka_unit_test(test_set_model),
	    cmocka_unit_test(test_classify),
	    cmocka_unit_test(test_describe),
	    cmocka_unit_test(test_set_classify),
	    cmocka_unit_test(test_agility_states),
	    cmocka_unit_test(test_agility_rfc7671_example),
	    cmocka_unit_test(test_strength_parse),
	    cmocka_unit_test(test_generate_from_certs),
	    cmocka_unit_test(test_generate_from_keys),
	    cmocka_unit_test(test_generate_errors_and_match),
	    cmocka_unit_test(test_load_errors),
	    cmocka_unit_test(test_load_mem),
	    cmocka_unit_test(test_rollover_rule),
	    cmocka_unit_test(test_advice_codes),
	    cmocka_unit_test(test_advice_severity_and_text),
	    cmocka_unit_test(test_ttl_advice),
	    cmocka_unit_test(test_advice_chain),
	};

	return cmocka_run_group_tests_name("tlsa", tests, NULL, NULL);
}
