/*
 * test_net_scan.c - the engine's resolution rules against a fake resolver
 * (recorded answers, same interface as libunbound; STYLE section 9).
 *
 * Runs in its own network namespace (test_net_ prefix): TLS probes go to
 * 127.0.0.x:25 where nothing listens, so hosts that reach the probe stage end
 * "unreachable"; the tests here are about what happens before that: SPEC MX-1,
 * MX-3, MX-5, MX-7, MX-8, HOST-4, HOST-6, HOST-7, HOST-10, DNS-6, AUTH-5; and the
 * MTA-STS/TLS-RPT stage (SPEC STS-1, STS-4, RPT-1) up to the point where a policy would
 * be fetched. The DANE tests run without MTA-STS, so each check makes exactly one
 * lookup more than the DANE rules need: the _smtp._tls TXT (TLS-RPT).
 * Unregistered queries get SERVFAIL from the fake, so "this lookup was never
 * made" is checked through the DNS statistics.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <daneguard/scan.h>
#include <daneguard/util.h>

#include <event2/event.h>
#include <stdio.h>
#include <string.h>

#define TLSA_OK "3 1 1 0102030405060708091011121314151617181920212223242526272829303132"

struct fx {
	struct event_base *base;
	struct dg_dns *dns;
	struct dg_engine *eng;
	struct dg_domain_result *res;
};

static void add(struct fx *f, const char *name, uint16_t type, enum dg_dns_security sec,
		enum dg_dns_outcome outcome, const char *rr1, const char *rr2)
{
	const char *rrs[2] = {rr1, rr2};
	static const char *soa[] = {"example. 300 IN SOA ns.example. h.example. 1 2 3 4 60"};
	struct dg_dns_fake_answer fa = {
		.name = name,
		.rrtype = type,
		.security = sec,
		.outcome = outcome,
		.rrs = rrs,
		.n_rrs = rr1 == NULL ? 0 : (rr2 == NULL ? 1 : 2),
		.authority = outcome == DG_DNS_ANSWER ? NULL : soa,
		.n_authority = outcome == DG_DNS_ANSWER ? 0 : 1,
		.why_bogus = sec == DG_DNS_BOGUS ? "signature expired" : NULL,
	};
	struct dg_err err = {0};

	if (dg_dns_fake_add(f->dns, &fa, &err) != DG_OK)
		fail_msg("fake_add %s: %s", name, err.msg);
}

static int setup_opts(void **state, bool mta_sts)
{
	static struct fx f;
	struct dg_engine_opts o;
	struct dg_err err = {0};

	memset(&f, 0, sizeof(f));
	f.base = event_base_new();
	dg_engine_opts_init(&o);
	o.timeout_ms = 2000;
	o.probe_non_dane = false;
	o.ipv6 = false;
	o.mta_sts = mta_sts;
	f.dns = dg_dns_new_fake(f.base, &o.dns);
	if (dg_engine_new(f.base, &o, f.dns, &f.eng, &err) != DG_OK)
		fail_msg("engine: %s", err.msg);
	*state = &f;
	return 0;
}

static int setup(void **state)
{
	return setup_opts(state, false);
}

static int setup_sts(void **state)
{
	return setup_opts(state, true);
}

static int teardown(void **state)
{
	struct fx *f = *state;

	dg_domain_result_free(f->res);
	dg_engine_free(f->eng);
	event_base_free(f->base);
	return 0;
}

static void done(void *arg, struct dg_domain_result *res)
{
	struct fx *f = arg;

	f->res = res;
}

static struct dg_domain_result *run(struct fx *f, const char *domain)
{
	struct dg_err err = {0};

	assert_int_equal(dg_engine_check(f->eng, domain, done, f, &err), DG_OK);
	event_base_dispatch(f->base);
	assert_non_null(f->res);
	assert_int_equal(dg_engine_pending(f->eng), 0);
	return f->res;
}

static void expect(const struct dg_domain_result *r, enum dg_verdict v, const char *code)
{
	if (r->verdict != v || strcmp(r->code, code) != 0)
		fail_msg("%s: got %s/%s, want %s/%s", r->domain, dg_verdict_str(r->verdict),
			 r->code, dg_verdict_str(v), code);
}

static void expect_host(const struct dg_host_result *h, enum dg_host_status st, const char *code)
{
	if (h->status != st || h->code == NULL || strcmp(h->code, code) != 0)
		fail_msg("host %s: got %s/%s, want %s/%s", h->name, dg_host_status_str(h->status),
			 h->code ? h->code : "NULL", dg_host_status_str(st), code);
	assert_true(h->reasons.n > 0); /* never a status without its reason */
}

static uint64_t lookups(struct fx *f)
{
	struct dg_dns_stats st;

	dg_dns_get_stats(f->dns, &st);
	return st.lookups;
}

static void test_null_mx(void **state)
{
	struct fx *f = *state;
	struct dg_domain_result *r;

	add(f, "null.example", DG_DNS_T_MX, DG_DNS_SECURE, DG_DNS_ANSWER,
	    "null.example. 300 IN MX 0 .", NULL);
	r = run(f, "null.example");
	expect(r, DG_VERDICT_NULL_MX, "D-NULL-MX");
	assert_int_equal(r->n_hosts, 0);
	assert_int_equal(lookups(f), 2); /* MX and the TLS-RPT TXT */
}

static void test_mx_errors(void **state)
{
	struct fx *f = *state;
	struct dg_domain_result *r;

	add(f, "bogus.example", DG_DNS_T_MX, DG_DNS_BOGUS, DG_DNS_ANSWER,
	    "bogus.example. 300 IN MX 10 mx.bogus.example.", NULL);
	r = run(f, "bogus.example");
	expect(r, DG_VERDICT_DNSSEC_BOGUS, "D-MX-LOOKUP-ERROR");
	assert_int_equal(r->n_hosts, 0); /* a bogus MX RRset lists no hosts */
	assert_non_null(strstr(r->reasons.text[0], "signature expired"));
	dg_domain_result_free(f->res);
	f->res = NULL;
	r = run(f, "unregistered.example"); /* fake answers SERVFAIL */
	expect(r, DG_VERDICT_TEMP_FAIL, "D-MX-LOOKUP-ERROR");
	dg_domain_result_free(f->res);
	f->res = NULL;
	add(f, "gone.example", DG_DNS_T_MX, DG_DNS_SECURE, DG_DNS_NXDOMAIN, NULL, NULL);
	r = run(f, "gone.example");
	expect(r, DG_VERDICT_NO_DANE, "D-NXDOMAIN");
}

/* SPEC MX-3: preference order, and SPEC MX-8 implicit MX with secure NODATA. */
static void test_mx_order_and_implicit(void **state)
{
	struct fx *f = *state;
	struct dg_domain_result *r;

	add(f, "two.example", DG_DNS_T_MX, DG_DNS_SECURE, DG_DNS_ANSWER,
	    "two.example. 300 IN MX 20 b.two.example.", "two.example. 300 IN MX 10 a.two.example.");
	add(f, "a.two.example", DG_DNS_T_A, DG_DNS_SECURE, DG_DNS_ANSWER,
	    "a.two.example. 300 IN A 127.0.0.2", NULL);
	add(f, "b.two.example", DG_DNS_T_A, DG_DNS_SECURE, DG_DNS_ANSWER,
	    "b.two.example. 300 IN A 127.0.0.3", NULL);
	add(f, "_25._tcp.a.two.example", DG_DNS_T_TLSA, DG_DNS_SECURE, DG_DNS_NXDOMAIN, NULL, NULL);
	add(f, "_25._tcp.b.two.example", DG_DNS_T_TLSA, DG_DNS_SECURE, DG_DNS_NODATA, NULL, NULL);
	r = run(f, "two.example");
	assert_int_equal(r->n_hosts, 2);
	assert_string_equal(r->hosts[0].name, "a.two.example");
	assert_int_equal(r->hosts[0].preference, 10);
	expect_host(&r->hosts[0], DG_HOST_NO_TLSA, "H-NO-TLSA");
	expect_host(&r->hosts[1], DG_HOST_NO_TLSA, "H-NO-TLSA");
	expect(r, DG_VERDICT_NO_DANE, "D-NO-DANE");
	dg_domain_result_free(f->res);
	f->res = NULL;

	add(f, "self.example", DG_DNS_T_MX, DG_DNS_SECURE, DG_DNS_NODATA, NULL, NULL);
	add(f, "self.example", DG_DNS_T_A, DG_DNS_SECURE, DG_DNS_ANSWER,
	    "self.example. 300 IN A 127.0.0.4", NULL);
	add(f, "_25._tcp.self.example", DG_DNS_T_TLSA, DG_DNS_SECURE, DG_DNS_NODATA, NULL, NULL);
	r = run(f, "self.example");
	assert_true(r->implicit_mx);
	assert_int_equal(r->n_hosts, 1);
	assert_true(r->hosts[0].implicit);
	assert_string_equal(r->hosts[0].name, "self.example");
	expect(r, DG_VERDICT_NO_DANE, "D-IMPLICIT-MX");
}

/* SPEC HOST-4: insecure address records, no CNAME: TLSA is never looked up. */
static void test_insecure_host_no_tlsa_lookup(void **state)
{
	struct fx *f = *state;
	struct dg_domain_result *r;

	add(f, "ins.example", DG_DNS_T_MX, DG_DNS_SECURE, DG_DNS_ANSWER,
	    "ins.example. 300 IN MX 10 mx.ins.example.", NULL);
	add(f, "mx.ins.example", DG_DNS_T_A, DG_DNS_INSECURE, DG_DNS_ANSWER,
	    "mx.ins.example. 300 IN A 127.0.0.5", NULL);
	r = run(f, "ins.example");
	expect_host(&r->hosts[0], DG_HOST_INSECURE, "H-INSECURE-HOST");
	assert_false(r->hosts[0].tlsa.done);
	assert_int_equal(lookups(f), 3); /* MX, A and the TLS-RPT TXT only */
}

/* SPEC HOST-6 + DNS-6: insecure end of a chain whose first CNAME is secure. */
static void test_insecure_chain_original_name(void **state)
{
	struct fx *f = *state;
	struct dg_domain_result *r;

	add(f, "ch.example", DG_DNS_T_MX, DG_DNS_SECURE, DG_DNS_ANSWER,
	    "ch.example. 300 IN MX 10 mx.ch.example.", NULL);
	add(f, "mx.ch.example", DG_DNS_T_A, DG_DNS_INSECURE, DG_DNS_ANSWER,
	    "mx.ch.example. 300 IN CNAME real.uns.example.", "real.uns.example. 300 IN A 127.0.0.6");
	add(f, "mx.ch.example", DG_DNS_T_CNAME, DG_DNS_SECURE, DG_DNS_ANSWER,
	    "mx.ch.example. 300 IN CNAME real.uns.example.", NULL);
	add(f, "_25._tcp.mx.ch.example", DG_DNS_T_TLSA, DG_DNS_SECURE, DG_DNS_ANSWER,
	    "_25._tcp.mx.ch.example. 300 IN TLSA " TLSA_OK, NULL);
	r = run(f, "ch.example");
	assert_string_equal(r->hosts[0].expanded, "real.uns.example");
	assert_non_null(r->hosts[0].tlsa_base);
	assert_string_equal(r->hosts[0].tlsa_base, "mx.ch.example"); /* the original name */
	assert_true(r->hosts[0].cname.done);
	expect_host(&r->hosts[0], DG_HOST_UNREACHABLE, "H-UNREACHABLE"); /* nothing listens */
	dg_domain_result_free(f->res);
	f->res = NULL;

	/* the first CNAME itself insecure: DANE does not apply */
	add(f, "ch2.example", DG_DNS_T_MX, DG_DNS_SECURE, DG_DNS_ANSWER,
	    "ch2.example. 300 IN MX 10 mx.ch2.example.", NULL);
	add(f, "mx.ch2.example", DG_DNS_T_A, DG_DNS_INSECURE, DG_DNS_ANSWER,
	    "mx.ch2.example. 300 IN CNAME real.uns.example.", "real.uns.example. 300 IN A 127.0.0.6");
	add(f, "mx.ch2.example", DG_DNS_T_CNAME, DG_DNS_INSECURE, DG_DNS_ANSWER,
	    "mx.ch2.example. 300 IN CNAME real.uns.example.", NULL);
	r = run(f, "ch2.example");
	expect_host(&r->hosts[0], DG_HOST_INSECURE, "H-INSECURE-HOST");
	assert_null(r->hosts[0].tlsa_base);
}

/* SPEC HOST-7: secure chain: expanded name first, then the original. */
static void test_secure_chain_candidates(void **state)
{
	struct fx *f = *state;
	struct dg_domain_result *r;

	add(f, "sc.example", DG_DNS_T_MX, DG_DNS_SECURE, DG_DNS_ANSWER,
	    "sc.example. 300 IN MX 10 mx.sc.example.", NULL);
	add(f, "mx.sc.example", DG_DNS_T_A, DG_DNS_SECURE, DG_DNS_ANSWER,
	    "mx.sc.example. 300 IN CNAME real.sc.example.", "real.sc.example. 300 IN A 127.0.0.7");
	add(f, "_25._tcp.real.sc.example", DG_DNS_T_TLSA, DG_DNS_SECURE, DG_DNS_NXDOMAIN, NULL,
	    NULL);
	add(f, "_25._tcp.mx.sc.example", DG_DNS_T_TLSA, DG_DNS_SECURE, DG_DNS_ANSWER,
	    "_25._tcp.mx.sc.example. 300 IN TLSA " TLSA_OK, NULL);
	r = run(f, "sc.example");
	assert_string_equal(r->hosts[0].tlsa_base, "mx.sc.example");
	/* SPEC AUTH-5: secure MX: base domain, then the next-hop domain */
	assert_int_equal(r->hosts[0].n_ref_ids, 2);
	assert_string_equal(r->hosts[0].ref_ids[1], "sc.example");
	dg_domain_result_free(f->res);
	f->res = NULL;

	add(f, "sd.example", DG_DNS_T_MX, DG_DNS_SECURE, DG_DNS_ANSWER,
	    "sd.example. 300 IN MX 10 mx.sd.example.", NULL);
	add(f, "mx.sd.example", DG_DNS_T_A, DG_DNS_SECURE, DG_DNS_ANSWER,
	    "mx.sd.example. 300 IN CNAME real.sd.example.", "real.sd.example. 300 IN A 127.0.0.8");
	add(f, "_25._tcp.real.sd.example", DG_DNS_T_TLSA, DG_DNS_SECURE, DG_DNS_ANSWER,
	    "_25._tcp.real.sd.example. 300 IN TLSA " TLSA_OK, NULL);
	r = run(f, "sd.example");
	assert_string_equal(r->hosts[0].tlsa_base, "real.sd.example");
}

/* SPEC HOST-10: TLSA lookup errors; the host is never probed. */
static void test_tlsa_errors(void **state)
{
	struct fx *f = *state;
	struct dg_domain_result *r;

	add(f, "te.example", DG_DNS_T_MX, DG_DNS_SECURE, DG_DNS_ANSWER,
	    "te.example. 300 IN MX 10 a.te.example.", "te.example. 300 IN MX 20 b.te.example.");
	add(f, "a.te.example", DG_DNS_T_A, DG_DNS_SECURE, DG_DNS_ANSWER,
	    "a.te.example. 300 IN A 127.0.0.9", NULL);
	add(f, "b.te.example", DG_DNS_T_A, DG_DNS_SECURE, DG_DNS_ANSWER,
	    "b.te.example. 300 IN A 127.0.0.10", NULL);
	add(f, "_25._tcp.a.te.example", DG_DNS_T_TLSA, DG_DNS_SECURE, DG_DNS_SERVFAIL, NULL, NULL);
	add(f, "_25._tcp.b.te.example", DG_DNS_T_TLSA, DG_DNS_BOGUS, DG_DNS_ANSWER,
	    "_25._tcp.b.te.example. 300 IN TLSA " TLSA_OK, NULL);
	r = run(f, "te.example");
	expect_host(&r->hosts[0], DG_HOST_DNS_ERROR, "H-TLSA-LOOKUP-ERROR");
	expect_host(&r->hosts[1], DG_HOST_BOGUS, "H-TLSA-LOOKUP-ERROR");
	assert_int_equal(r->hosts[1].n_addrs, 1);
	assert_int_equal(r->hosts[1].addrs[0].n_probes, 0); /* never connected */
	expect(r, DG_VERDICT_DNSSEC_BOGUS, "D-DANE-BROKEN");
}

/* SPEC MX-5 / AUTH-5 (4): insecure MX: the MX host name is the only identifier. */
static void test_insecure_mx_ref_ids(void **state)
{
	struct fx *f = *state;
	struct dg_domain_result *r;

	add(f, "im.example", DG_DNS_T_MX, DG_DNS_INSECURE, DG_DNS_ANSWER,
	    "im.example. 300 IN MX 10 mx.signed.example.", NULL);
	add(f, "mx.signed.example", DG_DNS_T_A, DG_DNS_SECURE, DG_DNS_ANSWER,
	    "mx.signed.example. 300 IN A 127.0.0.11", NULL);
	add(f, "_25._tcp.mx.signed.example", DG_DNS_T_TLSA, DG_DNS_SECURE, DG_DNS_ANSWER,
	    "_25._tcp.mx.signed.example. 300 IN TLSA " TLSA_OK, NULL);
	r = run(f, "im.example");
	assert_false(r->mx_secure);
	assert_int_equal(r->hosts[0].n_ref_ids, 1);
	assert_string_equal(r->hosts[0].ref_ids[0], "mx.signed.example");
	assert_true(r->reasons.n > 0);
}

/* SPEC STS-1, STS-4, RPT-1: a valid TXT record whose policy host has no address is a
 * fetch error; senders then deliver as without MTA-STS: opportunistic TLS to the MX host
 * (without TLSA, and not probed in this fixture, so taken as reachable). */
static void test_sts_stage(void **state)
{
	struct fx *f = *state;
	struct dg_domain_result *r;

	add(f, "sts.example", DG_DNS_T_MX, DG_DNS_SECURE, DG_DNS_ANSWER,
	    "sts.example. 300 IN MX 10 mx.sts.example.", NULL);
	add(f, "mx.sts.example", DG_DNS_T_A, DG_DNS_SECURE, DG_DNS_ANSWER,
	    "mx.sts.example. 300 IN A 127.0.0.12", NULL);
	add(f, "_25._tcp.mx.sts.example", DG_DNS_T_TLSA, DG_DNS_SECURE, DG_DNS_NXDOMAIN, NULL,
	    NULL);
	add(f, "_mta-sts.sts.example", DG_DNS_T_TXT, DG_DNS_SECURE, DG_DNS_ANSWER,
	    "_mta-sts.sts.example. 300 IN TXT \"v=STSv1; id=20240101\"",
	    "_mta-sts.sts.example. 300 IN TXT \"some other text\"");
	add(f, "mta-sts.sts.example", DG_DNS_T_A, DG_DNS_SECURE, DG_DNS_NXDOMAIN, NULL, NULL);
	add(f, "_smtp._tls.sts.example", DG_DNS_T_TXT, DG_DNS_SECURE, DG_DNS_ANSWER,
	    "_smtp._tls.sts.example. 300 IN TXT \"v=TLSRPTv1; rua=mailto:tls@sts.example\"", NULL);
	r = run(f, "sts.example");
	assert_true(r->mta_sts.checked);
	if (r->mta_sts.txt != DG_STS_TXT_PRESENT || strcmp(r->mta_sts.id, "20240101") != 0)
		fail_msg("txt: got %s, want present with id 20240101",
			 dg_sts_txt_status_str(r->mta_sts.txt));
	if (r->mta_sts.policy != DG_STS_POLICY_FETCH_ERROR)
		fail_msg("policy: got %s, want fetch-error",
			 dg_sts_policy_status_str(r->mta_sts.policy));
	assert_true(r->mta_sts.reasons.n > 0);
	assert_int_equal(r->hosts[0].mta_sts_match, DG_TRI_NULL);
	assert_int_equal(r->hosts[0].pkix_valid, DG_TRI_NULL);
	if (r->tlsrpt.status != DG_TLSRPT_VALID || r->tlsrpt.n_rua != 1 ||
	    strcmp(r->tlsrpt.rua[0], "mailto:tls@sts.example") != 0)
		fail_msg("tlsrpt: got %s with %zu rua, want valid with mailto:tls@sts.example",
			 dg_tlsrpt_status_str(r->tlsrpt.status), r->tlsrpt.n_rua);
	if (r->senders.dane != DG_SEND_UNAUTHENTICATED ||
	    r->senders.mta_sts != DG_SEND_UNAUTHENTICATED ||
	    r->senders.both != DG_SEND_UNAUTHENTICATED)
		fail_msg("senders: got %s/%s/%s, want deliver-unauthenticated for all three",
			 dg_sender_action_str(r->senders.dane),
			 dg_sender_action_str(r->senders.mta_sts),
			 dg_sender_action_str(r->senders.both));
}

/* SPEC RPT-1 (row 15 of SPEC section 14): two v=TLSRPTv1 records are no policy. */
static void test_tlsrpt_two_records(void **state)
{
	struct fx *f = *state;
	struct dg_domain_result *r;

	add(f, "rpt2.example", DG_DNS_T_MX, DG_DNS_SECURE, DG_DNS_ANSWER, "rpt2.example. 300 IN MX 0 .",
	    NULL);
	add(f, "_smtp._tls.rpt2.example", DG_DNS_T_TXT, DG_DNS_SECURE, DG_DNS_ANSWER,
	    "_smtp._tls.rpt2.example. 300 IN TXT \"v=TLSRPTv1; rua=mailto:a@rpt2.example\"",
	    "_smtp._tls.rpt2.example. 300 IN TXT \"v=TLSRPTv1; rua=mailto:b@rpt2.example\"");
	r = run(f, "rpt2.example");
	if (r->tlsrpt.status != DG_TLSRPT_INVALID || r->tlsrpt.reasons.n == 0)
		fail_msg("tlsrpt: got %s, want invalid with a reason",
			 dg_tlsrpt_status_str(r->tlsrpt.status));
	assert_false(r->mta_sts.checked); /* this fixture runs without MTA-STS */
	assert_int_equal(r->senders.both, DG_SEND_DEFER); /* null MX */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_null_mx, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mx_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mx_order_and_implicit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_insecure_host_no_tlsa_lookup, setup, teardown),
		cmocka_unit_test_setup_teardown(test_insecure_chain_original_name, setup, teardown),
		cmocka_unit_test_setup_teardown(test_secure_chain_candidates, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tlsa_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_insecure_mx_ref_ids, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sts_stage, setup_sts, teardown),
		cmocka_unit_test_setup_teardown(test_tlsrpt_two_records, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
