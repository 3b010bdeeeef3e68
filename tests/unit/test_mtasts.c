/*
 * test_mtasts.c - lib/mtasts pure parts: the _mta-sts TXT record and its selection (SPEC
 * STS-1), the policy parser (STS-3, with line numbers in errors), MX pattern matching (STS-6,
 * SPEC section 14 row 14) and the offline PKIX check of a chain (STS-6 step 3) with certificates
 * made here. Tables of input and expected result; failures print "got X, want Y".
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <daneguard/mtasts.h>
#include <daneguard/util.h>

#include <openssl/evp.h>
#include <openssl/x509v3.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static X509 *make_cert(EVP_PKEY *key, EVP_PKEY *signer, X509 *issuer, const char *cn,
		       const char *san, bool ca, long from_s, long to_s);

struct txt_case {
	const char *in;
	enum dg_status want;
	const char *want_id;
};

static const struct txt_case txt_cases[] = {
	{"v=STSv1; id=20160831085700Z;", DG_OK, "20160831085700Z"},
	{"v=STSv1;id=abc", DG_OK, "abc"},
	{"v=STSv1 ;\tid=abc ; ext=val", DG_OK, "abc"},
	{"v=STSv1; ext.name-x_y=a:b; id=Z9", DG_OK, "Z9"},
	{"v=STSv1; id=012345678901234567890123456789AB", DG_OK, "012345678901234567890123456789AB"},
	{"v=STSv1; id=012345678901234567890123456789ABC", DG_E_PARSE, NULL}, /* 33 */
	{"v=STSv1; id=", DG_E_PARSE, NULL},
	{"v=STSv1; id=ab-cd", DG_E_PARSE, NULL},
	{"v=STSv1; id=a; id=b", DG_E_PARSE, NULL},
	{"v=STSv1", DG_E_PARSE, NULL},
	{"v=STSv1;", DG_E_PARSE, NULL},
	{"v=STSv1; ext=", DG_E_PARSE, NULL},
	{"v=STSv1; id=a;; x=y", DG_E_PARSE, NULL},
	{"v=STSv1 id=a", DG_E_PARSE, NULL},
	{"v=STSv10; id=a", DG_E_NOTFOUND, NULL},
	{"v=stsv1; id=a", DG_E_NOTFOUND, NULL},
	{"id=a; v=STSv1", DG_E_NOTFOUND, NULL},
	{"", DG_E_NOTFOUND, NULL},
	{"v=spf1 -all", DG_E_NOTFOUND, NULL},
};

static void test_txt_parse(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(txt_cases) / sizeof(txt_cases[0]); i++) {
		const struct txt_case *c = &txt_cases[i];
		struct dg_sts_txt t;
		struct dg_err err;
		enum dg_status got;

		dg_err_clear(&err);
		got = dg_sts_txt_parse(c->in, strlen(c->in), &t, &err);
		if (got != c->want)
			fail_msg("\"%s\": got %s (%s), want %s", c->in, dg_status_str(got), err.msg,
				 dg_status_str(c->want));
		if (c->want_id != NULL && strcmp(t.id, c->want_id) != 0)
			fail_msg("\"%s\": got id %s, want %s", c->in, t.id, c->want_id);
		if (got == DG_E_PARSE && strstr(err.msg, "offset") == NULL)
			fail_msg("\"%s\": got message \"%s\", want one naming the offset", c->in,
				 err.msg);
	}
}

static void test_txt_select(void **state)
{
	static const struct {
		const char *recs[3];
		enum dg_sts_txt_status want;
	} cases[] = {
	    {{NULL}, DG_STS_TXT_ABSENT},
	    {{"v=spf1 -all", "google-site-verification=x"}, DG_STS_TXT_ABSENT},
	    {{"v=spf1 -all", "v=STSv1; id=1"}, DG_STS_TXT_PRESENT},
	    {{"v=STSv1; id=1", "v=STSv1; id=2"}, DG_STS_TXT_INVALID},
	    {{"v=STSv1; id=", "v=spf1"}, DG_STS_TXT_INVALID},
	};
	struct dg_sts_txt t;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *txt[3];
		size_t lens[3], n = 0;
		struct dg_err err;
		enum dg_sts_txt_status got;

		for (; n < 3 && cases[i].recs[n] != NULL; n++) {
			txt[n] = cases[i].recs[n];
			lens[n] = strlen(txt[n]);
		}
		dg_err_clear(&err);
		got = dg_sts_txt_select(txt, lens, n, &t, &err);
		if (got != cases[i].want)
			fail_msg("case %zu: got %s, want %s", i, dg_sts_txt_status_str(got),
				 dg_sts_txt_status_str(cases[i].want));
		if (got == DG_STS_TXT_INVALID && err.msg[0] == '\0')
			fail_msg("case %zu: invalid without a message", i);
	}
}

struct pol_case {
	const char *in;
	enum dg_status want;
	size_t want_line;     /* error line, 0 for none */
	const char *want_msg; /* substring of the error, or NULL */
	enum dg_sts_mode mode;
	uint32_t max_age;
	size_t n_mx;
};

static const struct pol_case pol_cases[] = {
	{"version: STSv1\nmode: enforce\nmx: mail.example.com\nmx: *.example.net\nmax_age: 86400\n",
	 DG_OK, 0, NULL, DG_STS_MODE_ENFORCE, 86400, 2},
	{"version: STSv1\r\nmode: testing\r\nmx: MX.Example.COM\r\nmax_age: 0\r\n", DG_OK, 0, NULL,
	 DG_STS_MODE_TESTING, 0, 1},
	{"version: STSv1\nmode: none\nmax_age: 31557600", DG_OK, 0, NULL, DG_STS_MODE_NONE, 31557600,
	 0},
	{"version:STSv1\nmode:\tenforce  \nmx: a.example\nmax_age: 5\nfoo: bar baz\n\n\n", DG_OK, 0,
	 NULL, DG_STS_MODE_ENFORCE, 5, 1},
	{"version: STSv1\nmode: enforce\nmode: none\nmx: a.example\nmax_age: 5\nmax_age: x\n", DG_OK,
	 0, NULL, DG_STS_MODE_ENFORCE, 5, 1}, /* duplicates: the first counts */
	{"version: STSv1\nmode enforce\nmx: a.example\nmax_age: 5\n", DG_E_PARSE, 2, "expected ':'",
	 0, 0, 0},
	{"version: STSv1\nmode: enforcing\nmx: a.example\nmax_age: 5\n", DG_E_PARSE, 2,
	 "is not enforce", 0, 0, 0},
	{"version: STSv2\nmode: enforce\nmx: a.example\nmax_age: 5\n", DG_E_PARSE, 1, "not STSv1", 0,
	 0, 0},
	{"version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 31557601\n", DG_E_PARSE, 4,
	 "max_age", 0, 0, 0},
	{"version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 00000000001\n", DG_E_PARSE, 4,
	 "max_age", 0, 0, 0},
	{"version: STSv1\nmode: enforce\nmx: a.example\nmax_age: -1\n", DG_E_PARSE, 4, "max_age", 0,
	 0, 0},
	{"version: STSv1\nmode: enforce\nmax_age: 5\n", DG_E_PARSE, 0, "at least one", 0, 0, 0},
	{"version: STSv1\nmx: a.example\nmax_age: 5\n", DG_E_PARSE, 0, "no \"mode:\"", 0, 0, 0},
	{"mode: none\nmax_age: 5\n", DG_E_PARSE, 0, "no \"version", 0, 0, 0},
	{"version: STSv1\nmode: none\n", DG_E_PARSE, 0, "no \"max_age", 0, 0, 0},
	{"version: STSv1\nmode: enforce\nmx: *.*.example\nmax_age: 5\n", DG_E_PARSE, 3, "mx", 0, 0,
	 0},
	{"version: STSv1\nmode: enforce\nmx: a..example\nmax_age: 5\n", DG_E_PARSE, 3, "mx", 0, 0, 0},
	{"version: STSv1\nmode: enforce\nmx: m*.example\nmax_age: 5\n", DG_E_PARSE, 3, "mx", 0, 0, 0},
	{"version: STSv1\nmode: enforce\nmx: a.example.\nmax_age: 5\n", DG_E_PARSE, 3, "mx", 0, 0, 0},
	{"version: STSv1\n\nmode: enforce\nmx: a.example\nmax_age: 5\n", DG_E_PARSE, 2, "empty line",
	 0, 0, 0},
	{"version: STSv1\nmode: enforce\nmx:\nmax_age: 5\n", DG_E_PARSE, 3, "no value", 0, 0, 0},
	{": x\n", DG_E_PARSE, 1, "field name", 0, 0, 0},
	{"version: STSv1\nnote: a\x01" "b\nmode: none\nmax_age: 1\n", DG_E_PARSE, 2, "0x01", 0, 0, 0},
	{"version: STSv1\nnote: caf\xc3\xa9\nmode: none\nmax_age: 1\n", DG_OK, 0, NULL,
	 DG_STS_MODE_NONE, 1, 0},
	{"version: STSv1\nnote: caf\xc3\nmode: none\nmax_age: 1\n", DG_E_PARSE, 2, "0xc3", 0, 0, 0},
	{"", DG_E_PARSE, 0, "empty", 0, 0, 0},
	{"<html><body>404</body></html>", DG_E_PARSE, 1, "field name", 0, 0, 0},
	{"HTTP/1.1 200 OK", DG_E_PARSE, 1, "expected ':'", 0, 0, 0},
};

static void test_policy_parse(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(pol_cases) / sizeof(pol_cases[0]); i++) {
		const struct pol_case *c = &pol_cases[i];
		struct dg_sts_policy pol;
		struct dg_err err;
		enum dg_status got;

		dg_err_clear(&err);
		got = dg_sts_policy_parse((const uint8_t *)c->in, strlen(c->in), &pol, &err);
		if (got != c->want)
			fail_msg("case %zu: got %s (%s), want %s", i, dg_status_str(got), err.msg,
				 dg_status_str(c->want));
		if (got != DG_OK && pol.err_line != c->want_line)
			fail_msg("case %zu: got line %zu (%s), want line %zu", i, pol.err_line,
				 err.msg, c->want_line);
		if (c->want_msg != NULL && strstr(err.msg, c->want_msg) == NULL)
			fail_msg("case %zu: got message \"%s\", want one with \"%s\"", i, err.msg,
				 c->want_msg);
		if (got == DG_OK && (pol.mode != c->mode || pol.max_age_s != c->max_age ||
				     pol.n_mx != c->n_mx))
			fail_msg("case %zu: got mode %s max_age %u, %zu mx, want %s %u %zu", i,
				 dg_sts_mode_str(pol.mode), pol.max_age_s, pol.n_mx,
				 dg_sts_mode_str(c->mode), c->max_age, c->n_mx);
		dg_sts_policy_cleanup(&pol);
	}
}

static void test_policy_limits(void **state)
{
	struct dg_buf b;
	struct dg_sts_policy pol;
	struct dg_err err;

	(void)state;
	dg_buf_init(&b, 1u << 20);
	assert_int_equal(dg_buf_append_str(&b, "version: STSv1\nmode: testing\nmax_age: 60\n"), 0);
	for (int i = 0; i <= DG_STS_MX_MAX; i++)
		assert_int_equal(dg_buf_printf(&b, "mx: mx%d.example\n", i), DG_OK);
	dg_err_clear(&err);
	if (dg_sts_policy_parse(dg_buf_bytes(&b), dg_buf_len(&b), &pol, &err) != DG_E_LIMIT)
		fail_msg("%d mx lines: got %s, want the limit error", DG_STS_MX_MAX + 1, err.msg);
	dg_sts_policy_cleanup(&pol);
	while (dg_buf_len(&b) <= DG_STS_POLICY_MAX_BYTES)
		assert_int_equal(dg_buf_append_str(&b, "x-pad: 0123456789abcdef\n"), DG_OK);
	if (dg_sts_policy_parse(dg_buf_bytes(&b), dg_buf_len(&b), &pol, &err) != DG_E_LIMIT)
		fail_msg("%zu bytes: got %s, want the size limit", dg_buf_len(&b), err.msg);
	dg_sts_policy_cleanup(&pol);
	dg_buf_cleanup(&b);
}

static void test_mx_match(void **state)
{
	static const struct {
		const char *pattern, *host;
		bool want;
	} cases[] = {
	    {"mail.example.com", "mail.example.com", true},
	    {"mail.example.com", "MAIL.Example.com.", true},
	    {"mail.example.com", "mail2.example.com", false},
	    {"*.example.com", "mail.example.com", true},
	    {"*.example.com", "example.com", false},
	    {"*.example.com", "a.b.example.com", false}, /* SPEC section 14 row 14 */
	    {"*.example.com", ".example.com", false},
	    {"*.example.com", "mailexample.com", false},
	    {"*.Example.COM", "mx.example.com.", true},
	    {"example.com", "mail.example.com", false},
	    {"*.com", "example.com", true},
	    {"", "example.com", false},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		bool got = dg_sts_mx_match(cases[i].pattern, cases[i].host);

		if (got != cases[i].want)
			fail_msg("%s vs %s: got %s, want %s", cases[i].pattern, cases[i].host,
				 got ? "match" : "no match", cases[i].want ? "match" : "no match");
	}
}

static X509 *make_cert(EVP_PKEY *key, EVP_PKEY *signer, X509 *issuer, const char *cn,
		       const char *san, bool ca, long from_s, long to_s)
{
	X509 *x = X509_new();
	X509V3_CTX v3;
	X509_EXTENSION *ext;
	static long serial = 1;

	assert_non_null(x);
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
	X509_gmtime_adj(X509_getm_notBefore(x), from_s);
	X509_gmtime_adj(X509_getm_notAfter(x), to_s);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
				   (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(x, issuer != NULL ? X509_get_subject_name(issuer)
					       : X509_get_subject_name(x));
	X509_set_pubkey(x, key);
	X509V3_set_ctx(&v3, issuer != NULL ? issuer : x, x, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &v3, NID_basic_constraints,
				  ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
	X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	if (san != NULL) {
		ext = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name, san);
		X509_add_ext(x, ext, -1);
		X509_EXTENSION_free(ext);
	}
	assert_true(X509_sign(x, signer, EVP_sha256()) > 0);
	return x;
}

/* SPEC STS-6 step 3 with a private CA: name, wildcard, expiry, untrusted issuer, CN only. */
static void test_pkix(void **state)
{
	static const struct {
		const char *san, *host;
		long from, to;
		bool trusted, want;
	} cases[] = {
	    {"DNS:mx1.example.org", "mx1.example.org", -3600, 86400, true, true},
	    {"DNS:mx1.example.org", "MX1.example.org.", -3600, 86400, true, true},
	    {"DNS:*.example.org", "mx1.example.org", -3600, 86400, true, true},
	    {"DNS:*.example.org", "a.mx1.example.org", -3600, 86400, true, false},
	    {"DNS:mx*.example.org", "mx1.example.org", -3600, 86400, true, false},
	    {"DNS:other.example.org", "mx1.example.org", -3600, 86400, true, false},
	    {"DNS:mx1.example.org", "mx1.example.org", -86400 * 10, -86400, true, false},
	    {"DNS:mx1.example.org", "mx1.example.org", -3600, 86400, false, false},
	    {NULL, "mx1.example.org", -3600, 86400, true, false}, /* CN only: no DNS-ID */
	};
	EVP_PKEY *key = EVP_EC_gen("P-256");
	X509 *ca = make_cert(key, key, NULL, "test CA", NULL, true, -86400, 86400 * 30);
	X509 *other_ca = make_cert(key, key, NULL, "other CA", NULL, true, -86400, 86400 * 30);
	X509_STORE *store = X509_STORE_new();

	(void)state;
	assert_int_equal(X509_STORE_add_cert(store, ca), 1);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		X509 *issuer = cases[i].trusted ? ca : other_ca;
		X509 *leaf = make_cert(key, key, issuer, "mx1.example.org", cases[i].san, false,
				       cases[i].from, cases[i].to);
		STACK_OF(X509) *chain = sk_X509_new_null();
		char why[256] = "";
		bool got;

		sk_X509_push(chain, leaf);
		got = dg_sts_cert_is_valid(store, chain, cases[i].host, time(NULL), why, sizeof(why));
		if (got != cases[i].want)
			fail_msg("case %zu (%s for %s): got %s (%s), want %s", i,
				 cases[i].san ? cases[i].san : "CN only", cases[i].host,
				 got ? "valid" : "invalid", why, cases[i].want ? "valid" : "invalid");
		if (!got && why[0] == '\0')
			fail_msg("case %zu: invalid without a reason", i);
		sk_X509_pop_free(chain, X509_free);
	}
	X509_STORE_free(store);
	X509_free(ca);
	X509_free(other_ca);
	EVP_PKEY_free(key);
}

static void test_ca_store(void **state)
{
	X509_STORE *s = NULL;
	struct dg_err err;

	(void)state;
	dg_err_clear(&err);
	assert_int_equal(dg_sts_ca_store_new("/nonexistent/ca.pem", &s, &err), DG_E_CONFIG);
	assert_null(s);
	if (strstr(err.msg, "/nonexistent/ca.pem") == NULL)
		fail_msg("got \"%s\", want a message naming the file", err.msg);
	assert_int_equal(dg_sts_ca_store_new(NULL, &s, &err), DG_OK);
	X509_STORE_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_txt_parse),     cmocka_unit_test(test_txt_select),
	    cmocka_unit_test(test_policy_parse),  cmocka_unit_test(test_policy_limits),
	    cmocka_unit_test(test_mx_match),      cmocka_unit_test(test_pkix),
	    cmocka_unit_test(test_ca_store),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
