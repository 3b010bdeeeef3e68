/*
 * test_scan_verdict.c - the engine's pure decisions: address status from a
 * probe outcome (SPEC TLSA-4, TLS-1, TLS-2), DANE failure codes (SPEC section
 * 13), host status from its addresses, and the domain verdict precedence of
 * issue #3 (null MX, bogus MX, DANE failure, bogus host, all/some verified,
 * all down, otherwise no DANE; an insecure MX RRset never gives dane-ok); and what a DANE
 * sender, an MTA-STS sender and one doing both do with the mail (SPEC STS-4, STS-6..STS-9,
 * section 14 row 14: usable TLSA that mismatches + valid STS enforce = defer).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "scan/scan_int.h"

#include <stdio.h>
#include <string.h>

struct probe_case {
	const char *name;
	enum scan_dane_state dane;
	enum dg_host_status nodane;
	int outcome, stage;
	enum dg_host_status want;
	const char *want_code; /* NULL: the caller decides (DANE verification) */
};

static const struct probe_case probe_cases[] = {
	{"usable, TLS up", SCAN_DANE_USABLE, DG_HOST_NO_TLSA, DG_SMTP_PROBE_TLS_OK,
	 DG_SMTP_STAGE_DONE, DG_HOST_VERIFIED, NULL},
	{"unusable, TLS up", SCAN_DANE_UNUSABLE, DG_HOST_NO_TLSA, DG_SMTP_PROBE_TLS_OK,
	 DG_SMTP_STAGE_DONE, DG_HOST_TLSA_UNUSABLE, "H-TLSA-UNUSABLE"},
	{"usable, no STARTTLS", SCAN_DANE_USABLE, DG_HOST_NO_TLSA, DG_SMTP_PROBE_NO_STARTTLS,
	 DG_SMTP_STAGE_EHLO, DG_HOST_STARTTLS_MISSING, "H-TLSA-NO-STARTTLS"},
	{"unusable, STARTTLS refused", SCAN_DANE_UNUSABLE, DG_HOST_NO_TLSA,
	 DG_SMTP_PROBE_STARTTLS_REFUSED, DG_SMTP_STAGE_STARTTLS, DG_HOST_STARTTLS_MISSING,
	 "H-TLSA-NO-STARTTLS"},
	{"usable, handshake failed", SCAN_DANE_USABLE, DG_HOST_NO_TLSA, DG_SMTP_PROBE_TLS_FAILED,
	 DG_SMTP_STAGE_TLS_HANDSHAKE, DG_HOST_TLS_FAILED, "H-TLSA-HANDSHAKE-FAIL"},
	{"usable, connect refused", SCAN_DANE_USABLE, DG_HOST_NO_TLSA,
	 DG_SMTP_PROBE_CONNECT_FAILED, DG_SMTP_STAGE_CONNECT, DG_HOST_UNREACHABLE,
	 "H-UNREACHABLE"},
	{"usable, silent banner", SCAN_DANE_USABLE, DG_HOST_NO_TLSA, DG_SMTP_PROBE_TIMEOUT,
	 DG_SMTP_STAGE_BANNER, DG_HOST_UNREACHABLE, "H-UNREACHABLE"},
	{"usable, 421 banner", SCAN_DANE_USABLE, DG_HOST_NO_TLSA, DG_SMTP_PROBE_REJECTED,
	 DG_SMTP_STAGE_BANNER, DG_HOST_UNREACHABLE, "H-UNREACHABLE"},
	{"usable, timeout in handshake", SCAN_DANE_USABLE, DG_HOST_NO_TLSA, DG_SMTP_PROBE_TIMEOUT,
	 DG_SMTP_STAGE_TLS_HANDSHAKE, DG_HOST_TLS_FAILED, "H-TLSA-HANDSHAKE-FAIL"},
	{"no TLSA, no STARTTLS: still opportunistic", SCAN_DANE_NONE, DG_HOST_NO_TLSA,
	 DG_SMTP_PROBE_NO_STARTTLS, DG_SMTP_STAGE_EHLO, DG_HOST_NO_TLSA, "H-NO-TLSA"},
	{"insecure host, TLS up", SCAN_DANE_NONE, DG_HOST_INSECURE, DG_SMTP_PROBE_TLS_OK,
	 DG_SMTP_STAGE_DONE, DG_HOST_INSECURE, "H-INSECURE-HOST"},
	{"no TLSA, handshake failed", SCAN_DANE_NONE, DG_HOST_NO_TLSA, DG_SMTP_PROBE_TLS_FAILED,
	 DG_SMTP_STAGE_TLS_HANDSHAKE, DG_HOST_NO_TLSA, "H-NO-TLSA"},
	{"no TLSA, closed port", SCAN_DANE_NONE, DG_HOST_NO_TLSA, DG_SMTP_PROBE_CONNECT_FAILED,
	 DG_SMTP_STAGE_CONNECT, DG_HOST_UNREACHABLE, "H-UNREACHABLE"},
};

static void test_addr_status(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(probe_cases) / sizeof(probe_cases[0]); i++) {
		const struct probe_case *c = &probe_cases[i];
		const char *code = "unset";
		enum dg_host_status got;

		got = scan_addr_status_from_probe(c->dane, c->nodane, c->outcome, c->stage, &code);
		if (got != c->want)
			fail_msg("%s: got %s, want %s", c->name, dg_host_status_str(got),
				 dg_host_status_str(c->want));
		if ((c->want_code == NULL) != (code == NULL) ||
		    (code != NULL && strcmp(code, c->want_code) != 0))
			fail_msg("%s: got code %s, want %s", c->name, code ? code : "NULL",
				 c->want_code ? c->want_code : "NULL");
	}
}

static void test_dane_codes(void **state)
{
	static const struct {
		enum dg_dane_fail fail;
		bool agility, mx_secure;
		const char *want;
	} t[] = {
		{DG_DANE_FAIL_NONE, false, true, "H-DANE-VERIFIED"},
		{DG_DANE_FAIL_NONE, false, false, "H-DANE-TRUSTED-INSECURE-MX"},
		{DG_DANE_FAIL_NAME, false, true, "H-DANE-NAME-MISMATCH"},
		{DG_DANE_FAIL_EXPIRED, false, true, "H-DANE-EXPIRED"},
		{DG_DANE_FAIL_NOT_YET_VALID, false, true, "H-DANE-EXPIRED"},
		{DG_DANE_FAIL_NO_MATCH, false, true, "H-DANE-MISMATCH"},
		{DG_DANE_FAIL_NO_MATCH, true, true, "H-DANE-AGILITY-FAIL"},
		{DG_DANE_FAIL_CHAIN, false, true, "H-DANE-MISMATCH"},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		const char *got = scan_dane_code(t[i].fail, t[i].agility, t[i].mx_secure);

		if (strcmp(got, t[i].want) != 0)
			fail_msg("case %zu: got %s, want %s", i, got, t[i].want);
	}
}

/* Host status: DANE failures on any address speak first, then success. */
static void test_host_status(void **state)
{
	struct dg_addr_result addrs[3];
	struct dg_host_result h;
	const char *code = NULL;

	(void)state;
	memset(&h, 0, sizeof(h));
	memset(addrs, 0, sizeof(addrs));
	h.status = DG_HOST_NO_TLSA;
	h.code = "H-NO-TLSA";
	h.addrs = addrs;
	h.n_addrs = 3;
	assert_int_equal(scan_host_status(&h, &code), DG_HOST_NO_TLSA); /* nothing probed */
	assert_string_equal(code, "H-NO-TLSA");
	addrs[0].status = DG_HOST_UNREACHABLE, addrs[0].code = "H-UNREACHABLE";
	addrs[1].status = DG_HOST_VERIFIED, addrs[1].code = "H-DANE-VERIFIED";
	assert_int_equal(scan_host_status(&h, &code), DG_HOST_VERIFIED);
	addrs[2].status = DG_HOST_TLSA_MISMATCH, addrs[2].code = "H-DANE-MISMATCH";
	assert_int_equal(scan_host_status(&h, &code), DG_HOST_TLSA_MISMATCH);
	assert_string_equal(code, "H-DANE-MISMATCH");
	addrs[1].status = DG_HOST_UNREACHABLE;
	addrs[2].status = DG_HOST_UNREACHABLE;
	assert_int_equal(scan_host_status(&h, &code), DG_HOST_UNREACHABLE);
}

struct verdict_case {
	const char *name;
	bool null_mx, mx_secure, implicit;
	enum dg_dns_security mx_sec;
	enum dg_dns_outcome mx_outcome;
	enum dg_host_status hosts[3];
	size_t n_hosts;
	enum dg_verdict want;
	const char *want_code;
};

#define SEC DG_DNS_SECURE
#define INS DG_DNS_INSECURE
static const struct verdict_case verdict_cases[] = {
	{"null MX", true, true, false, SEC, DG_DNS_ANSWER, {0}, 0, DG_VERDICT_NULL_MX, "D-NULL-MX"},
	{"null MX beside others", true, true, false, SEC, DG_DNS_ANSWER, {DG_HOST_VERIFIED}, 1,
	 DG_VERDICT_NULL_MX, "D-NULL-MX-CONFLICT"},
	{"bogus MX", false, false, false, DG_DNS_BOGUS, DG_DNS_SERVFAIL, {0}, 0,
	 DG_VERDICT_DNSSEC_BOGUS, "D-MX-LOOKUP-ERROR"},
	{"MX SERVFAIL", false, false, false, DG_DNS_INDETERMINATE, DG_DNS_SERVFAIL, {0}, 0,
	 DG_VERDICT_TEMP_FAIL, "D-MX-LOOKUP-ERROR"},
	{"NXDOMAIN", false, true, false, SEC, DG_DNS_NXDOMAIN, {0}, 0, DG_VERDICT_NO_DANE,
	 "D-NXDOMAIN"},
	{"all verified", false, true, false, SEC, DG_DNS_ANSWER,
	 {DG_HOST_VERIFIED, DG_HOST_VERIFIED}, 2, DG_VERDICT_DANE_OK, "D-DANE-FULL"},
	{"verified + no TLSA", false, true, false, SEC, DG_DNS_ANSWER,
	 {DG_HOST_VERIFIED, DG_HOST_NO_TLSA}, 2, DG_VERDICT_DANE_PARTIAL, "D-DANE-PARTIAL"},
	{"verified + down", false, true, false, SEC, DG_DNS_ANSWER,
	 {DG_HOST_UNREACHABLE, DG_HOST_VERIFIED}, 2, DG_VERDICT_DANE_PARTIAL, "D-DANE-DEGRADED"},
	{"verified + mismatch", false, true, false, SEC, DG_DNS_ANSWER,
	 {DG_HOST_VERIFIED, DG_HOST_TLSA_MISMATCH}, 2, DG_VERDICT_DANE_FAIL, "D-DANE-DEGRADED"},
	{"only failures", false, true, false, SEC, DG_DNS_ANSWER,
	 {DG_HOST_STARTTLS_MISSING, DG_HOST_TLS_FAILED}, 2, DG_VERDICT_DANE_FAIL,
	 "D-DANE-BROKEN"},
	{"failure beats bogus", false, true, false, SEC, DG_DNS_ANSWER,
	 {DG_HOST_BOGUS, DG_HOST_TLSA_MISMATCH}, 2, DG_VERDICT_DANE_FAIL, "D-DANE-BROKEN"},
	{"bogus host beats verified", false, true, false, SEC, DG_DNS_ANSWER,
	 {DG_HOST_VERIFIED, DG_HOST_BOGUS}, 2, DG_VERDICT_DNSSEC_BOGUS, "D-DANE-DEGRADED"},
	{"insecure MX, host verified", false, false, false, INS, DG_DNS_ANSWER,
	 {DG_HOST_VERIFIED}, 1, DG_VERDICT_NO_DANE, "D-MX-INSECURE"},
	{"all down", false, true, false, SEC, DG_DNS_ANSWER,
	 {DG_HOST_UNREACHABLE, DG_HOST_DNS_ERROR}, 2, DG_VERDICT_TEMP_FAIL, "D-DANE-BROKEN"},
	{"no TLSA anywhere", false, true, false, SEC, DG_DNS_ANSWER, {DG_HOST_NO_TLSA}, 1,
	 DG_VERDICT_NO_DANE, "D-NO-DANE"},
	{"unusable only", false, true, false, SEC, DG_DNS_ANSWER, {DG_HOST_TLSA_UNUSABLE}, 1,
	 DG_VERDICT_NO_DANE, "D-NO-DANE"},
	{"implicit MX, no TLSA", false, true, true, SEC, DG_DNS_NODATA, {DG_HOST_NO_TLSA}, 1,
	 DG_VERDICT_NO_DANE, "D-IMPLICIT-MX"},
	{"insecure host", false, true, false, SEC, DG_DNS_ANSWER, {DG_HOST_INSECURE}, 1,
	 DG_VERDICT_NO_DANE, "D-NO-DANE"},
};

static void test_domain_verdict(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(verdict_cases) / sizeof(verdict_cases[0]); i++) {
		const struct verdict_case *c = &verdict_cases[i];
		struct dg_host_result hosts[3];
		struct dg_domain_result res;
		const char *code = NULL;
		enum dg_verdict got;

		memset(&res, 0, sizeof(res));
		memset(hosts, 0, sizeof(hosts));
		res.null_mx = c->null_mx;
		res.mx_secure = c->mx_secure;
		res.implicit_mx = c->implicit;
		res.mx.security = c->mx_sec;
		res.mx.outcome = c->mx_outcome;
		for (size_t j = 0; j < c->n_hosts; j++)
			hosts[j].status = c->hosts[j];
		res.hosts = hosts;
		res.n_hosts = c->n_hosts;
		got = scan_domain_verdict(&res, &code);
		if (got != c->want || strcmp(code, c->want_code) != 0)
			fail_msg("%s: got %s/%s, want %s/%s", c->name, dg_verdict_str(got), code,
				 dg_verdict_str(c->want), c->want_code);
	}
}

/* Shorthands for the senders table. */
#define AUTH DG_SEND_AUTHENTICATED
#define UNAUTH DG_SEND_UNAUTHENTICATED
#define DEFER DG_SEND_DEFER
#define YES DG_TRI_YES
#define NO DG_TRI_NO
#define NUL DG_TRI_NULL
/* host: status, DANE policy, reachable, TLS ok, STS match, PKIX */
#define H_VERIFIED {DG_HOST_VERIFIED, true, true, true, YES, YES}
#define H_MISMATCH {DG_HOST_TLSA_MISMATCH, true, true, true, YES, YES}
#define H_NOTLSA_OK {DG_HOST_NO_TLSA, false, true, true, YES, YES}
#define H_NOTLSA_NOMATCH {DG_HOST_NO_TLSA, false, true, true, NO, YES}
#define H_NOTLSA_BADCERT {DG_HOST_NO_TLSA, false, true, true, YES, NO}
#define H_NOTLSA_NOTLS {DG_HOST_NO_TLSA, false, true, false, YES, NUL}
#define H_DOWN {DG_HOST_UNREACHABLE, false, false, false, YES, NUL}
#define H_TLSA_SERVFAIL {DG_HOST_DNS_ERROR, true, true, false, YES, NUL}

static void test_senders(void **state)
{
	static const struct {
		const char *name;
		struct scan_sender_domain d;
		struct scan_sender_host h[2];
		size_t n;
		enum dg_sender_action dane, sts, both;
	} cases[] = {
	    {"DANE verified, no policy", {true, true, false, DG_STS_MODE_NONE}, {H_VERIFIED}, 1,
	     AUTH, UNAUTH, AUTH},
	    {"DANE verified, STS enforce", {true, true, true, DG_STS_MODE_ENFORCE}, {H_VERIFIED}, 1,
	     AUTH, AUTH, AUTH},
	    {"TLSA mismatch + STS enforce valid: DANE wins, defer (row 14)",
	     {true, true, true, DG_STS_MODE_ENFORCE}, {H_MISMATCH}, 1, DEFER, AUTH, DEFER},
	    {"TLSA lookup SERVFAIL: no fallback to STS (STS-9)",
	     {true, true, true, DG_STS_MODE_ENFORCE}, {H_TLSA_SERVFAIL}, 1, DEFER, DEFER, DEFER},
	    {"no TLSA, STS enforce, all valid", {true, true, true, DG_STS_MODE_ENFORCE},
	     {H_NOTLSA_OK}, 1, UNAUTH, AUTH, AUTH},
	    {"no TLSA, STS enforce, MX does not match", {true, true, true, DG_STS_MODE_ENFORCE},
	     {H_NOTLSA_NOMATCH}, 1, UNAUTH, DEFER, DEFER},
	    {"no TLSA, STS enforce, bad certificate", {true, true, true, DG_STS_MODE_ENFORCE},
	     {H_NOTLSA_BADCERT}, 1, UNAUTH, DEFER, DEFER},
	    {"no TLSA, STS enforce, no STARTTLS", {true, true, true, DG_STS_MODE_ENFORCE},
	     {H_NOTLSA_NOTLS}, 1, UNAUTH, DEFER, DEFER},
	    {"no TLSA, STS testing, MX does not match", {true, true, true, DG_STS_MODE_TESTING},
	     {H_NOTLSA_NOMATCH}, 1, UNAUTH, UNAUTH, UNAUTH},
	    {"no TLSA, STS mode none", {true, true, true, DG_STS_MODE_NONE}, {H_NOTLSA_NOMATCH}, 1,
	     UNAUTH, UNAUTH, UNAUTH},
	    {"no TLSA, policy fetch failed (STS-4)", {true, true, false, DG_STS_MODE_NONE},
	     {H_NOTLSA_OK}, 1, UNAUTH, UNAUTH, UNAUTH},
	    {"MX order: first host unmatched, second matches (STS-8)",
	     {true, true, true, DG_STS_MODE_ENFORCE}, {H_NOTLSA_NOMATCH, H_NOTLSA_OK}, 2, UNAUTH,
	     AUTH, AUTH},
	    {"MX order: first host DANE-verified, second mismatches",
	     {true, true, false, DG_STS_MODE_NONE}, {H_VERIFIED, H_MISMATCH}, 2, AUTH, UNAUTH,
	     AUTH},
	    {"MX order: first host down, second without TLSA", {true, true, false, DG_STS_MODE_NONE},
	     {H_DOWN, H_NOTLSA_OK}, 2, UNAUTH, UNAUTH, UNAUTH},
	    {"mixed: mismatching DANE host first, STS-valid host second",
	     {true, true, true, DG_STS_MODE_ENFORCE}, {H_MISMATCH, H_NOTLSA_OK}, 2, UNAUTH, AUTH,
	     AUTH},
	    {"insecure MX RRset, host TLSA verified", {true, false, false, DG_STS_MODE_NONE},
	     {H_VERIFIED}, 1, UNAUTH, UNAUTH, UNAUTH},
	    {"all down", {true, true, true, DG_STS_MODE_ENFORCE}, {H_DOWN}, 1, DEFER, DEFER, DEFER},
	    {"no hosts (MX lookup failed, null MX)", {false, true, true, DG_STS_MODE_ENFORCE}, {H_DOWN},
	     0, DEFER, DEFER, DEFER},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct dg_senders got;

		memset(&got, 0xff, sizeof(got));
		scan_senders_decide(&cases[i].d, cases[i].h, cases[i].n, &got);
		if (got.dane != cases[i].dane || got.mta_sts != cases[i].sts ||
		    got.both != cases[i].both)
			fail_msg("%s: got dane %s, mta_sts %s, both %s; want %s, %s, %s",
				 cases[i].name, dg_sender_action_str(got.dane),
				 dg_sender_action_str(got.mta_sts), dg_sender_action_str(got.both),
				 dg_sender_action_str(cases[i].dane),
				 dg_sender_action_str(cases[i].sts),
				 dg_sender_action_str(cases[i].both));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_addr_status),
		cmocka_unit_test(test_dane_codes),
		cmocka_unit_test(test_host_status),
		cmocka_unit_test(test_domain_verdict),
		cmocka_unit_test(test_senders),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
