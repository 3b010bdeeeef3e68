/*
 * test_dns.c - unit tests of the dns module (cmocka).
 *
 * - parser: table of responses built with ldns (MX, null MX, A, AAAA, TLSA, TXT, CNAME
 *   chains, NXDOMAIN, NODATA, rcodes, caps) and of damaged packets (truncation, header
 *   bits, question mismatch, compression loops); failures print "got X, want Y".
 * - fake resolver: callbacks fire from the loop, coalescing, cache, cancel, timeout,
 *   queue cap, free and lookup from inside a callback.
 * - libunbound: context creation with the built-in anchors and with trust-anchor files from
 *   tests/data/dns (good, malformed, missing, wrong type), forwarder checks, and one query
 *   to a dead loopback forwarder (no network needed) that must end in a lookup error.
 *
 * With DG_DNS_CORPUS_DIR set, the parser cases are also written there as fuzz seeds
 * (tests/fuzz/corpus/dns_answer/).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <daneguard/dns.h>
#include <daneguard/util.h>

#include <event2/event.h>
#include <ldns/ldns.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAXRR 80

/* ---- helpers -------------------------------------------------------------------------- */

/** Build a response with ldns; returns malloc'd wire. */
static uint8_t *build_pkt(const char *qname, uint16_t qtype, int rcode, const char *const *an,
                          const char *const *ns, size_t *len)
{
	ldns_rdf *owner = ldns_dname_new_frm_str(qname);
	ldns_pkt *p;
	uint8_t *wire = NULL;

	assert_non_null(owner);
	p = ldns_pkt_query_new(owner, (ldns_rr_type)qtype, LDNS_RR_CLASS_IN, LDNS_RD);
	ldns_pkt_set_qr(p, true);
	ldns_pkt_set_rcode(p, (uint8_t)rcode);
	for (size_t s = 0; s < 2; s++) {
		const char *const *rrs = s == 0 ? an : ns;

		for (size_t i = 0; rrs != NULL && rrs[i] != NULL; i++) {
			ldns_rr *rr = NULL;
			ldns_status st = ldns_rr_new_frm_str(&rr, rrs[i], 0, NULL, NULL);

			if (st != LDNS_STATUS_OK)
				fail_msg("ldns cannot parse \"%s\": %s", rrs[i],
				         ldns_get_errorstr_by_id(st));
			ldns_pkt_push_rr(p, s == 0 ? LDNS_SECTION_ANSWER : LDNS_SECTION_AUTHORITY,
			                 rr);
		}
	}
	assert_int_equal(ldns_pkt2wire(&wire, p, len), LDNS_STATUS_OK);
	ldns_pkt_free(p);
	return wire;
}

static void save_seed(const char *name, const uint8_t *pkt, size_t len)
{
	const char *dir = getenv("DG_DNS_CORPUS_DIR");
	char path[512];
	FILE *f;

	if (dir == NULL)
		return;
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	if (f == NULL)
		return;
	fwrite(pkt, 1, len, f);
	fclose(f);
}

static void render_rr(const struct dg_dns_rr *rr, char *out, size_t n)
{
	size_t o;

	switch (rr->type) {
	case DG_DNS_T_MX: snprintf(out, n, "%u %s", rr->u.mx.preference, rr->u.mx.exchange); break;
	case DG_DNS_T_A:
	case DG_DNS_T_AAAA: snprintf(out, n, "%s", rr->u.addr.text); break;
	case DG_DNS_T_CNAME: snprintf(out, n, "%s", rr->u.cname.target); break;
	case DG_DNS_T_TXT: snprintf(out, n, "%s", rr->u.txt.text); break;
	case DG_DNS_T_TLSA:
		o = (size_t)snprintf(out, n, "%u %u %u ", rr->u.tlsa.usage, rr->u.tlsa.selector,
		                     rr->u.tlsa.mtype);
		for (size_t i = 0; i < rr->u.tlsa.len && o + 3 < n; i++)
			o += (size_t)snprintf(out + o, n - o, "%02x", rr->u.tlsa.data[i]);
		break;
	default: snprintf(out, n, "raw:%zu", rr->u.raw.len); break;
	}
}

/* ---- parser table --------------------------------------------------------------------- */

#define H32 "8cb0fc6c527506a053f4f14c8464bebbd6dede2738d11468dd953d7d6a3021f1"

struct parse_case {
	const char *name;
	const char *qname;
	uint16_t qtype;
	int rcode;
	const char *an[8];
	const char *ns[3];
	enum dg_status want_st;
	enum dg_dns_outcome want_outcome;
	size_t want_n;
	const char *want_first; /* rendered first record, NULL: not checked */
	const char *want_canon;
	size_t want_chain;
	uint32_t want_ttl;
	size_t want_skipped;
};

/* clang-format off */
static const struct parse_case parse_cases[] = {
	{ "mx", "example.com", DG_DNS_T_MX, 0,
	  { "example.com. 300 IN MX 10 mx1.example.com.",
	    "example.com. 200 IN MX 20 mx2.example.com." }, { NULL },
	  DG_OK, DG_DNS_ANSWER, 2, "10 mx1.example.com", "example.com", 0, 200, 0 },
	{ "null_mx", "example.org", DG_DNS_T_MX, 0, { "example.org. 300 IN MX 0 ." }, { NULL },
	  DG_OK, DG_DNS_ANSWER, 1, "0 .", "example.org", 0, 300, 0 },
	{ "a", "mx1.example.com.", DG_DNS_T_A, 0, { "mx1.example.com. 60 IN A 192.0.2.1" }, { NULL },
	  DG_OK, DG_DNS_ANSWER, 1, "192.0.2.1", "mx1.example.com", 0, 60, 0 },
	{ "aaaa", "mx1.example.com", DG_DNS_T_AAAA, 0,
	  { "mx1.example.com. 60 IN AAAA 2001:db8::1" }, { NULL },
	  DG_OK, DG_DNS_ANSWER, 1, "2001:db8::1", "mx1.example.com", 0, 60, 0 },
	{ "tlsa", "_25._tcp.mx1.example.com", DG_DNS_T_TLSA, 0,
	  { "_25._tcp.mx1.example.com. 3600 IN TLSA 3 1 1 " H32 }, { NULL },
	  DG_OK, DG_DNS_ANSWER, 1, "3 1 1 " H32, "_25._tcp.mx1.example.com", 0, 3600, 0 },
	{ "tlsa_empty_data", "_25._tcp.mx.example", DG_DNS_T_TLSA, 0,
	  { "_25._tcp.mx.example. 300 IN TLSA \\# 3 030101" }, { NULL },
	  DG_OK, DG_DNS_ANSWER, 1, "3 1 1 ", "_25._tcp.mx.example", 0, 300, 0 },
	{ "tlsa_short", "_25._tcp.mx.example", DG_DNS_T_TLSA, 0,
	  { "_25._tcp.mx.example. 300 IN TLSA \\# 2 0301",
	    "_25._tcp.mx.example. 300 IN TLSA 2 0 1 " H32 }, { NULL },
	  DG_OK, DG_DNS_ANSWER, 1, "2 0 1 " H32, "_25._tcp.mx.example", 0, 300, 1 },
	{ "tlsa_all_short", "_25._tcp.mx.example", DG_DNS_T_TLSA, 0,
	  { "_25._tcp.mx.example. 300 IN TLSA \\# 1 03" }, { NULL },
	  DG_OK, DG_DNS_ANSWER, 0, NULL, "_25._tcp.mx.example", 0, 300, 1 },
	{ "txt", "_mta-sts.example.com", DG_DNS_T_TXT, 0,
	  { "_mta-sts.example.com. 300 IN TXT \"v=STSv1; \" \"id=2024\"" }, { NULL },
	  DG_OK, DG_DNS_ANSWER, 1, "v=STSv1; id=2024", "_mta-sts.example.com", 0, 300, 0 },
	{ "cname_chain", "www.example.com", DG_DNS_T_A, 0,
	  { "www.example.com. 100 IN CNAME a.example.net.",
	    "a.example.net. 90 IN CNAME b.example.org.",
	    "b.example.org. 80 IN A 192.0.2.7" }, { NULL },
	  DG_OK, DG_DNS_ANSWER, 1, "192.0.2.7", "b.example.org", 2, 80, 0 },
	{ "cname_nxdomain", "alias.example.com", DG_DNS_T_MX, 3,
	  { "alias.example.com. 100 IN CNAME gone.example.net." },
	  { "example.net. 900 IN SOA ns.example.net. h.example.net. 1 2 3 4 120" },
	  DG_OK, DG_DNS_NXDOMAIN, 0, NULL, "gone.example.net", 1, 120, 0 },
	{ "cname_nodata", "alias.example.com", DG_DNS_T_TLSA, 0,
	  { "alias.example.com. 100 IN CNAME t.example.net." }, { NULL },
	  DG_OK, DG_DNS_NODATA, 0, NULL, "t.example.net", 1, 0, 0 },
	{ "nodata_soa", "example.com", DG_DNS_T_AAAA, 0, { NULL },
	  { "example.com. 3600 IN SOA ns.example.com. h.example.com. 1 2 3 4 300" },
	  DG_OK, DG_DNS_NODATA, 0, NULL, "example.com", 0, 300, 0 },
	{ "nxdomain", "nope.example.com", DG_DNS_T_MX, 3, { NULL },
	  { "example.com. 60 IN SOA ns.example.com. h.example.com. 1 2 3 4 300" },
	  DG_OK, DG_DNS_NXDOMAIN, 0, NULL, "nope.example.com", 0, 60, 0 },
	{ "qtype_cname", "alias.example.com", DG_DNS_T_CNAME, 0,
	  { "alias.example.com. 100 IN CNAME target.example.com." }, { NULL },
	  DG_OK, DG_DNS_ANSWER, 1, "target.example.com", "alias.example.com", 0, 100, 0 },
	{ "other_owner", "a.example.com", DG_DNS_T_A, 0, { "b.example.com. 60 IN A 192.0.2.9" },
	  { NULL }, DG_OK, DG_DNS_NODATA, 0, NULL, "a.example.com", 0, 0, 0 },
	{ "case_fold", "Mixed.Example.COM.", DG_DNS_T_A, 0,
	  { "MIXED.example.com. 60 IN A 192.0.2.3" }, { NULL },
	  DG_OK, DG_DNS_ANSWER, 1, "192.0.2.3", "mixed.example.com", 0, 60, 0 },
	{ "servfail", "example.com", DG_DNS_T_MX, 2, { NULL }, { NULL },
	  DG_OK, DG_DNS_SERVFAIL, 0, NULL, "example.com", 0, 0, 0 },
	{ "refused", "example.com", DG_DNS_T_MX, 5, { NULL }, { NULL },
	  DG_OK, DG_DNS_ERROR, 0, NULL, "example.com", 0, 0, 0 },
	{ "cname_loop", "a.example", DG_DNS_T_A, 0,
	  { "a.example. 60 IN CNAME b.example.", "b.example. 60 IN CNAME a.example." }, { NULL },
	  DG_E_PARSE, DG_DNS_ERROR, 0, NULL, NULL, 0, 0, 0 },
	{ "dname_synth", "x.old.example", DG_DNS_T_A, 0,
	  { "old.example. 60 IN DNAME new.example.",
	    "x.old.example. 60 IN CNAME x.new.example.",
	    "x.new.example. 60 IN A 192.0.2.8" }, { NULL },
	  DG_OK, DG_DNS_ANSWER, 1, "192.0.2.8", "x.new.example", 1, 60, 0 },
};
/* clang-format on */

static void check_case(const struct parse_case *tc, const uint8_t *pkt, size_t len)
{
	struct dg_dns_answer ans;
	struct dg_err err;
	enum dg_status st;
	char got[256];

	dg_err_clear(&err);
	st = dg_dns_parse_answer(pkt, len, tc->qname, tc->qtype, &ans, &err);
	if (st != tc->want_st)
		fail_msg("%s: status got %d (%s), want %d", tc->name, st, err.msg, tc->want_st);
	if (ans.outcome != tc->want_outcome)
		fail_msg("%s: outcome got %s, want %s (%s)", tc->name,
		         dg_dns_outcome_str(ans.outcome), dg_dns_outcome_str(tc->want_outcome),
		         ans.reason ? ans.reason : "");
	if (ans.n_rrs != tc->want_n)
		fail_msg("%s: n_rrs got %zu, want %zu", tc->name, ans.n_rrs, tc->want_n);
	if (ans.n_skipped != tc->want_skipped)
		fail_msg("%s: n_skipped got %zu, want %zu (%s)", tc->name, ans.n_skipped,
		         tc->want_skipped, ans.skip_reason ? ans.skip_reason : "");
	if (tc->want_first != NULL) {
		render_rr(&ans.rrs[0], got, sizeof(got));
		if (strcmp(got, tc->want_first) != 0)
			fail_msg("%s: first record got \"%s\", want \"%s\"", tc->name, got,
			         tc->want_first);
	}
	if (tc->want_canon != NULL &&
	    (ans.canonical == NULL || strcmp(ans.canonical, tc->want_canon) != 0))
		fail_msg("%s: canonical got %s, want %s", tc->name,
		         ans.canonical ? ans.canonical : "(null)", tc->want_canon);
	if (ans.n_chain != tc->want_chain)
		fail_msg("%s: chain got %zu, want %zu", tc->name, ans.n_chain, tc->want_chain);
	if (st == DG_OK && ans.ttl_s != tc->want_ttl)
		fail_msg("%s: ttl got %u, want %u", tc->name, ans.ttl_s, tc->want_ttl);
	if (st != DG_OK && (ans.reason == NULL || strstr(ans.reason, "offset") == NULL))
		fail_msg("%s: reason got \"%s\", want one with an offset", tc->name,
		         ans.reason ? ans.reason : "(null)");
	assert_int_equal(ans.security, DG_DNS_INDETERMINATE);
	dg_dns_answer_cleanup(&ans);
}

static void test_parse_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(parse_cases) / sizeof(parse_cases[0]); i++) {
		const struct parse_case *tc = &parse_cases[i];
		size_t len;
		uint8_t *pkt = build_pkt(tc->qname, tc->qtype, tc->rcode, tc->an, tc->ns, &len);
		char seed[64];

		check_case(tc, pkt, len);
		snprintf(seed, sizeof(seed), "seed_%s", tc->name);
		save_seed(seed, pkt, len);
		free(pkt);
	}
}

static void test_parse_chain_limit(void **state)
{
	const char *an[20];
	char bufs[20][96];
	struct {
		size_t links;
		enum dg_status want;
	} cases[] = {{16, DG_OK}, {17, DG_E_PARSE}};

	(void)state;
	for (size_t c = 0; c < 2; c++) {
		struct dg_dns_answer ans;
		size_t n = cases[c].links, len;
		uint8_t *pkt;
		enum dg_status st;

		for (size_t i = 0; i < n; i++) {
			snprintf(bufs[i], sizeof(bufs[i]),
			         "c%zu.example. 60 IN CNAME c%zu.example.", i, i + 1);
			an[i] = bufs[i];
		}
		snprintf(bufs[n], sizeof(bufs[n]), "c%zu.example. 60 IN A 192.0.2.1", n);
		an[n] = bufs[n];
		an[n + 1] = NULL;
		pkt = build_pkt("c0.example", DG_DNS_T_A, 0, an, NULL, &len);
		st = dg_dns_parse_answer(pkt, len, "c0.example", DG_DNS_T_A, &ans, NULL);
		if (st != cases[c].want)
			fail_msg("chain of %zu: got %d, want %d", n, st, cases[c].want);
		if (st == DG_OK && ans.n_chain != n)
			fail_msg("chain of %zu: n_chain got %zu", n, ans.n_chain);
		if (c == 1)
			save_seed("seed_chain17", pkt, len);
		dg_dns_answer_cleanup(&ans);
		free(pkt);
	}
}

static void test_parse_record_cap(void **state)
{
	static char bufs[MAXRR][64];
	const char *an[8] = {NULL};
	struct dg_dns_answer ans;
	ldns_rdf *owner = ldns_dname_new_frm_str("many.example");
	ldns_pkt *p = ldns_pkt_query_new(owner, LDNS_RR_TYPE_A, LDNS_RR_CLASS_IN, 0);
	uint8_t *wire = NULL;
	size_t len;

	(void)state;
	(void)an;
	ldns_pkt_set_qr(p, true);
	for (int i = 0; i < 70; i++) {
		ldns_rr *rr = NULL;

		snprintf(bufs[i], sizeof(bufs[i]), "many.example. 60 IN A 10.0.%d.%d", i / 250,
		         i % 250);
		assert_int_equal(ldns_rr_new_frm_str(&rr, bufs[i], 0, NULL, NULL), LDNS_STATUS_OK);
		ldns_pkt_push_rr(p, LDNS_SECTION_ANSWER, rr);
	}
	assert_int_equal(ldns_pkt2wire(&wire, p, &len), LDNS_STATUS_OK);
	ldns_pkt_free(p);
	assert_int_equal(dg_dns_parse_answer(wire, len, "many.example", DG_DNS_T_A, &ans, NULL),
	                 DG_OK);
	if (ans.n_rrs != DG_DNS_MAX_RRS || ans.n_skipped != 70 - DG_DNS_MAX_RRS)
		fail_msg("cap: got %zu kept %zu skipped, want %d and %d", ans.n_rrs, ans.n_skipped,
		         DG_DNS_MAX_RRS, 70 - DG_DNS_MAX_RRS);
	assert_non_null(strstr(ans.skip_reason, "more than 64"));
	save_seed("seed_cap70", wire, len);
	dg_dns_answer_cleanup(&ans);
	free(wire);
}

/** Damaged packets: each must fail with DG_E_PARSE and an offset. */
static void test_parse_malformed(void **state)
{
	const char *an[] = {"example.com. 300 IN MX 10 mx1.example.com.", NULL};
	size_t len;
	uint8_t *good = build_pkt("example.com", DG_DNS_T_MX, 0, an, NULL, &len);
	uint8_t buf[600];
	struct {
		const char *name;
		size_t cut;    /* 0: whole packet */
		int patch_off; /* -1: none */
		uint8_t patch_val;
		const char *qname;
		uint16_t qtype;
		const char *want_why;
	} cases[] = {
	    {"empty", 1, -1, 0, "example.com", DG_DNS_T_MX, "offset"},
	    {"header_only", 12, -1, 0, "example.com", DG_DNS_T_MX, "name runs past"},
	    {"cut_question", 20, -1, 0, "example.com", DG_DNS_T_MX, "past the end"},
	    {"cut_rdata", len - 1, -1, 0, "example.com", DG_DNS_T_MX, "RDATA"},
	    {"qr_clear", 0, 2, 0x01, "example.com", DG_DNS_T_MX, "QR bit"},
	    {"tc_set", 0, 2, 0x83, "example.com", DG_DNS_T_MX, "TC bit"},
	    {"qdcount_2", 0, 5, 2, "example.com", DG_DNS_T_MX, "question count"},
	    {"label_type", 0, 12, 0x40, "example.com", DG_DNS_T_MX, "label type"},
	    {"wrong_name", 0, -1, 0, "example.net", DG_DNS_T_MX, "question name"},
	    {"wrong_type", 0, -1, 0, "example.com", DG_DNS_T_A, "question type"},
	};

	(void)state;
	assert_true(len < sizeof(buf));
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct dg_dns_answer ans;
		struct dg_err err;
		size_t n = cases[i].cut != 0 ? cases[i].cut : len;
		enum dg_status st;
		char seed[64];

		memcpy(buf, good, len);
		if (cases[i].patch_off >= 0)
			buf[cases[i].patch_off] = cases[i].patch_val;
		if (strcmp(cases[i].name, "empty") == 0)
			n = 0;
		dg_err_clear(&err);
		st = dg_dns_parse_answer(buf, n, cases[i].qname, cases[i].qtype, &ans, &err);
		if (st != DG_E_PARSE || ans.outcome != DG_DNS_ERROR)
			fail_msg("%s: got status %d outcome %s, want parse error", cases[i].name,
			         st, dg_dns_outcome_str(ans.outcome));
		if (strstr(err.msg, cases[i].want_why) == NULL || ans.reason == NULL)
			fail_msg("%s: got message \"%s\", want one containing \"%s\"",
			         cases[i].name, err.msg, cases[i].want_why);
		snprintf(seed, sizeof(seed), "seed_bad_%s", cases[i].name);
		save_seed(seed, buf, n);
		dg_dns_answer_cleanup(&ans);
	}
	free(good);
}

/** Hand-made packets: compression loops and forward pointers. */
static void test_parse_compression(void **state)
{
	/* clang-format off */
	/* header: QR, qd=1; question name is a pointer to itself. */
	static const uint8_t self_ptr[] = { 0, 1, 0x81, 0x80, 0, 1, 0, 0, 0, 0, 0, 0,
					    0xC0, 12, 0, 1, 0, 1 };
	/* question "a." then answer owner = pointer forward to offset 40. */
	static const uint8_t fwd_ptr[] = { 0, 1, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0,
					   1, 'a', 0, 0, 1, 0, 1,
					   0xC0, 40, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 1 };
	/* question "a.", answer owner pointer back to 12: valid. */
	static const uint8_t ok_ptr[] = { 0, 1, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0,
					  1, 'a', 0, 0, 1, 0, 1,
					  0xC0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 1 };
	/* question "a." A; answers: A with 5 octets of RDATA (skipped), then a good A. */
	static const uint8_t bad_a[] = { 0, 1, 0x81, 0x80, 0, 1, 0, 2, 0, 0, 0, 0,
					 1, 'a', 0, 0, 1, 0, 1,
					 0xC0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 5, 1, 2, 3, 4, 5,
					 0xC0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 5 };
	/* clang-format on */
	struct dg_dns_answer ans;

	(void)state;
	assert_int_equal(dg_dns_parse_answer(bad_a, sizeof(bad_a), "a", DG_DNS_T_A, &ans, NULL),
	                 DG_OK);
	if (ans.n_rrs != 1 || ans.n_skipped != 1 || ans.outcome != DG_DNS_ANSWER)
		fail_msg("bad A: got %zu kept %zu skipped %s, want 1, 1, answer", ans.n_rrs,
		         ans.n_skipped, dg_dns_outcome_str(ans.outcome));
	assert_string_equal(ans.rrs[0].u.addr.text, "192.0.2.5");
	assert_non_null(strstr(ans.skip_reason, "not 4 octets"));
	dg_dns_answer_cleanup(&ans);
	save_seed("seed_bad_a_len", bad_a, sizeof(bad_a));
	assert_int_equal(dg_dns_parse_answer(self_ptr, sizeof(self_ptr), NULL, 0, &ans, NULL),
	                 DG_E_PARSE);
	assert_non_null(strstr(ans.reason, "backwards"));
	dg_dns_answer_cleanup(&ans);
	assert_int_equal(dg_dns_parse_answer(fwd_ptr, sizeof(fwd_ptr), NULL, 0, &ans, NULL),
	                 DG_E_PARSE);
	dg_dns_answer_cleanup(&ans);
	assert_int_equal(dg_dns_parse_answer(ok_ptr, sizeof(ok_ptr), NULL, 0, &ans, NULL), DG_OK);
	assert_string_equal(ans.qname, "a");
	assert_int_equal(ans.n_rrs, 1);
	assert_string_equal(ans.rrs[0].u.addr.text, "192.0.2.1");
	dg_dns_answer_cleanup(&ans);
	save_seed("seed_self_ptr", self_ptr, sizeof(self_ptr));
	save_seed("seed_fwd_ptr", fwd_ptr, sizeof(fwd_ptr));
	save_seed("seed_ok_ptr", ok_ptr, sizeof(ok_ptr));
}

static void test_answer_copy_and_strings(void **state)
{
	const char *an[] = {"alias.example. 60 IN CNAME mx.example.",
	                    "mx.example. 60 IN MX 5 mail.example.", NULL};
	struct dg_dns_answer a, b;
	size_t len;
	uint8_t *pkt = build_pkt("alias.example", DG_DNS_T_MX, 0, an, NULL, &len);

	(void)state;
	assert_int_equal(dg_dns_parse_answer(pkt, len, "alias.example", DG_DNS_T_MX, &a, NULL),
	                 DG_OK);
	a.security = DG_DNS_SECURE;
	dg_dns_answer_copy(&b, &a);
	dg_dns_answer_cleanup(&a);
	assert_string_equal(b.rrs[0].u.mx.exchange, "mail.example");
	assert_string_equal(b.chain[0].owner, "alias.example");
	assert_string_equal(b.chain[0].target, "mx.example");
	assert_false(dg_dns_answer_is_error(&b));
	b.security = DG_DNS_BOGUS;
	assert_true(dg_dns_answer_is_error(&b));
	b.security = DG_DNS_INSECURE;
	b.outcome = DG_DNS_NXDOMAIN;
	assert_false(dg_dns_answer_is_error(&b));
	b.outcome = DG_DNS_TIMEOUT;
	assert_true(dg_dns_answer_is_error(&b));
	dg_dns_answer_cleanup(&b);
	free(pkt);
	assert_string_equal(dg_dns_security_str(DG_DNS_INDETERMINATE), "indeterminate");
	assert_string_equal(dg_dns_outcome_str(DG_DNS_NODATA), "nodata");
	assert_string_equal(dg_dns_type_str(DG_DNS_T_TLSA), "TLSA");
}

/* ---- fake resolver -------------------------------------------------------------------- */

struct got {
	int calls;
	enum dg_dns_outcome outcome;
	enum dg_dns_security security;
	char first[256];
	char reason[256];
	struct dg_dns *dns; /* for callbacks that act on the context */
	int action;         /* 1: free the context, 2: chain a lookup */
	struct got *chained;
	struct event_base *stop; /* if set, leave the loop after the callback */
};

static void got_cb(void *arg, const struct dg_dns_answer *ans)
{
	struct got *g = arg;

	g->calls++;
	g->outcome = ans->outcome;
	g->security = ans->security;
	g->first[0] = '\0';
	if (ans->n_rrs > 0)
		render_rr(&ans->rrs[0], g->first, sizeof(g->first));
	snprintf(g->reason, sizeof(g->reason), "%s", ans->reason ? ans->reason : "");
	if (g->action == 1)
		dg_dns_free(g->dns);
	if (g->action == 2 && ans->n_rrs > 0)
		assert_int_equal(dg_dns_lookup(g->dns, ans->rrs[0].u.mx.exchange, DG_DNS_T_A,
		                               got_cb, g->chained, NULL, NULL),
		                 DG_OK);
	if (g->stop != NULL)
		event_base_loopbreak(g->stop);
}

static void fake_add_simple(struct dg_dns *dns, const char *name, uint16_t type,
                            enum dg_dns_security sec, enum dg_dns_outcome outcome, const char *rr,
                            unsigned delay_ms)
{
	const char *rrs[1] = {rr};
	struct dg_dns_fake_answer fa = {.name = name,
	                                .rrtype = type,
	                                .security = sec,
	                                .outcome = outcome,
	                                .rrs = rrs,
	                                .n_rrs = rr ? 1 : 0,
	                                .delay_ms = delay_ms};
	struct dg_err err;

	if (dg_dns_fake_add(dns, &fa, &err) != DG_OK)
		fail_msg("fake_add %s: %s", name, err.msg);
}

static void test_fake_basic(void **state)
{
	struct event_base *base = event_base_new();
	struct dg_dns *dns = dg_dns_new_fake(base, NULL);
	struct got g = {0}, nx = {0}, none = {0}, bogus = {0};
	struct dg_dns_fake_answer fb = {
	    .name = "bogus.example",
	    .rrtype = DG_DNS_T_A,
	    .security = DG_DNS_BOGUS,
	    .outcome = DG_DNS_ANSWER,
	    .rrs = (const char *const[]){"bogus.example. 60 IN A 192.0.2.66"},
	    .n_rrs = 1,
	    .why_bogus = "signature expired"};
	uint64_t id = 0;

	(void)state;
	fake_add_simple(dns, "example.com", DG_DNS_T_MX, DG_DNS_SECURE, DG_DNS_ANSWER,
	                "example.com. 300 IN MX 10 mx.example.com.", 0);
	fake_add_simple(dns, "nx.example.com", DG_DNS_T_MX, DG_DNS_SECURE, DG_DNS_NXDOMAIN, NULL,
	                0);
	assert_int_equal(dg_dns_fake_add(dns, &fb, NULL), DG_OK);
	assert_int_equal(dg_dns_lookup(dns, "EXAMPLE.com.", DG_DNS_T_MX, got_cb, &g, &id, NULL),
	                 DG_OK);
	assert_true(id != 0);
	assert_int_equal(dg_dns_lookup(dns, "nx.example.com", DG_DNS_T_MX, got_cb, &nx, NULL, NULL),
	                 DG_OK);
	assert_int_equal(
	    dg_dns_lookup(dns, "unknown.example", DG_DNS_T_TLSA, got_cb, &none, NULL, NULL), DG_OK);
	assert_int_equal(
	    dg_dns_lookup(dns, "bogus.example", DG_DNS_T_A, got_cb, &bogus, NULL, NULL), DG_OK);
	if (g.calls != 0)
		fail_msg("callback inside dg_dns_lookup: got %d calls, want 0", g.calls);
	event_base_dispatch(base);
	if (g.calls != 1 || g.outcome != DG_DNS_ANSWER || g.security != DG_DNS_SECURE)
		fail_msg("mx: got calls %d %s/%s, want 1 answer/secure", g.calls,
		         dg_dns_outcome_str(g.outcome), dg_dns_security_str(g.security));
	assert_string_equal(g.first, "10 mx.example.com");
	assert_int_equal(nx.outcome, DG_DNS_NXDOMAIN);
	assert_int_equal(nx.security, DG_DNS_SECURE);
	assert_int_equal(none.outcome, DG_DNS_SERVFAIL);
	assert_int_equal(none.security, DG_DNS_INDETERMINATE);
	assert_non_null(strstr(none.reason, "no answer for unknown.example/TLSA"));
	assert_int_equal(bogus.security, DG_DNS_BOGUS);
	assert_false(dg_dns_cancel(dns, id)); /* already delivered */
	dg_dns_free(dns);
	event_base_free(base);
}

static void test_fake_dedup_and_cache(void **state)
{
	struct event_base *base = event_base_new();
	struct dg_dns *dns = dg_dns_new_fake(base, NULL);
	struct got g[4] = {0};
	struct dg_dns_stats st;

	(void)state;
	fake_add_simple(dns, "mx.example.com", DG_DNS_T_A, DG_DNS_INSECURE, DG_DNS_ANSWER,
	                "mx.example.com. 300 IN A 192.0.2.25", 5);
	for (int i = 0; i < 3; i++)
		assert_int_equal(
		    dg_dns_lookup(dns, "mx.example.com", DG_DNS_T_A, got_cb, &g[i], NULL, NULL),
		    DG_OK);
	event_base_dispatch(base);
	dg_dns_get_stats(dns, &st);
	if (st.backend_queries != 1 || st.coalesced != 2)
		fail_msg("dedup: got %llu queries %llu coalesced, want 1 and 2",
		         (unsigned long long)st.backend_queries, (unsigned long long)st.coalesced);
	for (int i = 0; i < 3; i++)
		assert_int_equal(g[i].calls, 1);
	assert_int_equal(
	    dg_dns_lookup(dns, "MX.example.com.", DG_DNS_T_A, got_cb, &g[3], NULL, NULL), DG_OK);
	assert_int_equal(g[3].calls, 0);
	event_base_dispatch(base);
	dg_dns_get_stats(dns, &st);
	if (st.backend_queries != 1 || st.cache_hits != 1 || g[3].calls != 1)
		fail_msg("cache: got %llu queries %llu hits %d calls, want 1, 1, 1",
		         (unsigned long long)st.backend_queries, (unsigned long long)st.cache_hits,
		         g[3].calls);
	assert_string_equal(g[3].first, "192.0.2.25");
	assert_int_equal(st.cached, 1);
	dg_dns_free(dns);
	event_base_free(base);
}

static void test_fake_cancel(void **state)
{
	struct event_base *base = event_base_new();
	struct dg_dns *dns = dg_dns_new_fake(base, NULL);
	struct got a = {0}, b = {0}, c = {0};
	uint64_t ida, idb, idc;
	struct dg_dns_stats st;

	(void)state;
	fake_add_simple(dns, "a.example", DG_DNS_T_A, DG_DNS_SECURE, DG_DNS_ANSWER,
	                "a.example. 60 IN A 192.0.2.1", 5);
	fake_add_simple(dns, "c.example", DG_DNS_T_A, DG_DNS_SECURE, DG_DNS_ANSWER,
	                "c.example. 60 IN A 192.0.2.3", 5);
	dg_dns_lookup(dns, "a.example", DG_DNS_T_A, got_cb, &a, &ida, NULL);
	dg_dns_lookup(dns, "a.example", DG_DNS_T_A, got_cb, &b, &idb, NULL);
	dg_dns_lookup(dns, "c.example", DG_DNS_T_A, got_cb, &c, &idc, NULL);
	assert_true(dg_dns_cancel(dns, ida));
	assert_false(dg_dns_cancel(dns, ida));
	assert_true(dg_dns_cancel(dns, idc)); /* last waiter: the query itself goes */
	event_base_dispatch(base);
	if (a.calls != 0 || b.calls != 1 || c.calls != 0)
		fail_msg("cancel: got calls a=%d b=%d c=%d, want 0 1 0", a.calls, b.calls, c.calls);
	dg_dns_get_stats(dns, &st);
	assert_int_equal(st.cancelled, 2);
	assert_int_equal(st.inflight, 0);
	assert_int_equal(st.cached, 1); /* only a.example */
	dg_dns_free(dns);
	event_base_free(base);
}

static void test_fake_timeout_and_queue(void **state)
{
	struct event_base *base = event_base_new();
	struct dg_dns_opts opts;
	struct dg_dns *dns;
	struct got t = {0}, q[3] = {0};
	struct dg_dns_stats st;
	char name[32];

	(void)state;
	dg_dns_opts_init(&opts);
	opts.timeout_ms = 30;
	opts.max_inflight = 1;
	dns = dg_dns_new_fake(base, &opts);
	fake_add_simple(dns, "slow.example", DG_DNS_T_TLSA, DG_DNS_INDETERMINATE, DG_DNS_TIMEOUT,
	                NULL, 0);
	assert_int_equal(dg_dns_lookup(dns, "slow.example", DG_DNS_T_TLSA, got_cb, &t, NULL, NULL),
	                 DG_OK);
	for (int i = 0; i < 3; i++) {
		snprintf(name, sizeof(name), "q%d.example", i);
		fake_add_simple(dns, name, DG_DNS_T_A, DG_DNS_SECURE, DG_DNS_NODATA, NULL, 1);
		assert_int_equal(dg_dns_lookup(dns, name, DG_DNS_T_A, got_cb, &q[i], NULL, NULL),
		                 DG_OK);
	}
	dg_dns_get_stats(dns, &st);
	if (st.inflight != 1 || st.queued != 3)
		fail_msg("queue: got inflight %zu queued %zu, want 1 and 3", st.inflight,
		         st.queued);
	event_base_dispatch(base);
	if (t.calls != 1 || t.outcome != DG_DNS_TIMEOUT || t.security != DG_DNS_INDETERMINATE)
		fail_msg("timeout: got %d calls %s/%s, want 1 timeout/indeterminate", t.calls,
		         dg_dns_outcome_str(t.outcome), dg_dns_security_str(t.security));
	for (int i = 0; i < 3; i++)
		if (q[i].calls != 1 || q[i].outcome != DG_DNS_NODATA)
			fail_msg("queued %d: got %d calls %s, want 1 nodata", i, q[i].calls,
			         dg_dns_outcome_str(q[i].outcome));
	dg_dns_get_stats(dns, &st);
	assert_int_equal(st.timeouts, 1);
	assert_int_equal(st.queued, 0);
	dg_dns_free(dns);
	event_base_free(base);
}

static void test_fake_callbacks_reenter(void **state)
{
	struct event_base *base = event_base_new();
	struct dg_dns *dns = dg_dns_new_fake(base, NULL);
	struct got addr = {0};
	struct got mx = {.action = 2, .chained = &addr};
	struct got f1 = {.action = 1}, f2 = {0};

	(void)state;
	mx.dns = dns;
	addr.dns = dns;
	fake_add_simple(dns, "example.net", DG_DNS_T_MX, DG_DNS_SECURE, DG_DNS_ANSWER,
	                "example.net. 60 IN MX 10 mail.example.net.", 0);
	fake_add_simple(dns, "mail.example.net", DG_DNS_T_A, DG_DNS_SECURE, DG_DNS_ANSWER,
	                "mail.example.net. 60 IN A 192.0.2.10", 0);
	dg_dns_lookup(dns, "example.net", DG_DNS_T_MX, got_cb, &mx, NULL, NULL);
	event_base_dispatch(base);
	assert_int_equal(mx.calls, 1);
	assert_int_equal(addr.calls, 1);
	assert_string_equal(addr.first, "192.0.2.10");
	/* Free the context from inside a callback; the second waiter must not fire. */
	f1.dns = dns;
	dg_dns_lookup(dns, "example.net", DG_DNS_T_MX, got_cb, &f1, NULL, NULL);
	dg_dns_lookup(dns, "example.net", DG_DNS_T_MX, got_cb, &f2, NULL, NULL);
	dg_dns_lookup(dns, "pending.example", DG_DNS_T_A, got_cb, &f2, NULL, NULL);
	event_base_dispatch(base);
	assert_int_equal(f1.calls, 1);
	assert_int_equal(f2.calls, 0);
	event_base_free(base);
}

static void test_fake_cache_cap_and_errors(void **state)
{
	struct event_base *base = event_base_new();
	struct dg_dns_opts opts;
	struct dg_dns *dns;
	struct got g = {0};
	struct dg_dns_stats st;
	struct dg_err err;
	static const uint8_t junk[] = {1, 2, 3};
	struct dg_dns_fake_answer raw = {.name = "junk.example",
	                                 .rrtype = DG_DNS_T_MX,
	                                 .security = DG_DNS_SECURE,
	                                 .packet = junk,
	                                 .packet_len = sizeof(junk)};
	const char *names[] = {"n1.example", "n2.example", "n3.example", "n1.example"};

	(void)state;
	dg_dns_opts_init(&opts);
	opts.cache_max = 2;
	dns = dg_dns_new_fake(base, &opts);
	for (int i = 0; i < 3; i++) {
		char rr[64];

		snprintf(rr, sizeof(rr), "%s. 60 IN A 192.0.2.%d", names[i], i + 1);
		fake_add_simple(dns, names[i], DG_DNS_T_A, DG_DNS_SECURE, DG_DNS_ANSWER, rr, 0);
	}
	for (int i = 0; i < 4; i++) {
		assert_int_equal(dg_dns_lookup(dns, names[i], DG_DNS_T_A, got_cb, &g, NULL, NULL),
		                 DG_OK);
		event_base_dispatch(base);
	}
	dg_dns_get_stats(dns, &st);
	if (st.backend_queries != 4 || st.cached != 2)
		fail_msg("cache cap: got %llu queries, %zu cached, want 4 and 2",
		         (unsigned long long)st.backend_queries, st.cached);
	/* A raw malformed packet: outcome error, indeterminate. */
	assert_int_equal(dg_dns_fake_add(dns, &raw, NULL), DG_OK);
	dg_dns_lookup(dns, "junk.example", DG_DNS_T_MX, got_cb, &g, NULL, NULL);
	event_base_dispatch(base);
	assert_int_equal(g.outcome, DG_DNS_ERROR);
	assert_int_equal(g.security, DG_DNS_INDETERMINATE);
	assert_non_null(strstr(g.reason, "junk.example/MX"));
	/* Bad input is refused without a callback. */
	dg_err_clear(&err);
	assert_int_equal(dg_dns_lookup(dns, "bad name!", DG_DNS_T_A, got_cb, &g, NULL, &err),
	                 DG_E_PARSE);
	assert_int_equal(dg_dns_lookup(dns, "ok.example", 0, got_cb, &g, NULL, NULL), DG_E_PARSE);
	raw.name = "x.example";
	raw.packet = NULL;
	raw.outcome = DG_DNS_ANSWER;
	raw.rrs = (const char *const[]){"x.example. 60 IN BOGUSTYPE foo"};
	raw.n_rrs = 1;
	assert_int_equal(dg_dns_fake_add(dns, &raw, &err), DG_E_PARSE);
	dg_dns_free(dns);
	event_base_free(base);
}

/* ---- libunbound ----------------------------------------------------------------------- */

static const char *data_path(const char *file, char *buf, size_t n)
{
	const char *dir = getenv("DG_TEST_DATA");

	snprintf(buf, n, "%s/dns/%s", dir != NULL ? dir : "tests/data", file);
	return buf;
}

static void test_unbound_trust_anchors(void **state)
{
	struct event_base *base = event_base_new();
	char path[512];
	struct {
		const char *file;
		enum dg_status want;
		const char *want_msg;
	} cases[] = {
	    {NULL, DG_OK, NULL},
	    {"root-anchors.ds", DG_OK, NULL},
	    {"test-anchor.dnskey", DG_OK, NULL},
	    {"bad-anchor.ds", DG_E_CONFIG, "line"},
	    {"wrong-type-anchor.zone", DG_E_CONFIG, "not DS or DNSKEY"},
	    {"empty-anchor.ds", DG_E_CONFIG, "no DS or DNSKEY"},
	    {"missing-anchor.ds", DG_E_CONFIG, "No such file"},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct dg_dns_opts opts;
		struct dg_dns *dns = NULL;
		struct dg_err err;
		enum dg_status st;

		dg_dns_opts_init(&opts);
		if (cases[i].file != NULL)
			opts.ta_file = data_path(cases[i].file, path, sizeof(path));
		dg_err_clear(&err);
		st = dg_dns_new(base, &opts, &dns, &err);
		if (st != cases[i].want)
			fail_msg("%s: got %d (%s), want %d",
			         cases[i].file ? cases[i].file : "built-in", st, err.msg,
			         cases[i].want);
		if (cases[i].want_msg != NULL && (strstr(err.msg, "trust anchor") == NULL ||
		                                  strstr(err.msg, cases[i].file) == NULL ||
		                                  strstr(err.msg, cases[i].want_msg) == NULL))
			fail_msg("%s: got message \"%s\", want \"trust anchor FILE: ...%s\"",
			         cases[i].file, err.msg, cases[i].want_msg);
		if (st != DG_OK)
			assert_null(dns);
		dg_dns_free(dns);
	}
	event_base_free(base);
}

static void test_unbound_forwarders(void **state)
{
	struct event_base *base = event_base_new();
	struct {
		const char *fwd;
		enum dg_status want;
	} cases[] = {
	    {"127.0.0.1", DG_OK},
	    {"127.0.0.1@5353", DG_OK},
	    {"::1@53", DG_OK},
	    {"not-an-ip", DG_E_CONFIG},
	    {"127.0.0.1@0", DG_E_CONFIG},
	    {"127.0.0.1@99999", DG_E_CONFIG},
	    {"@53", DG_E_CONFIG},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct dg_dns_opts opts;
		struct dg_dns *dns = NULL;
		struct dg_err err;
		enum dg_status st;

		dg_dns_opts_init(&opts);
		opts.forwarders = &cases[i].fwd;
		opts.n_forwarders = 1;
		dg_err_clear(&err);
		st = dg_dns_new(base, &opts, &dns, &err);
		if (st != cases[i].want)
			fail_msg("forwarder %s: got %d (%s), want %d", cases[i].fwd, st, err.msg,
			         cases[i].want);
		if (st != DG_OK)
			assert_non_null(strstr(err.msg, cases[i].fwd));
		dg_dns_free(dns);
	}
	event_base_free(base);
}

/** A forwarder on a loopback port where nothing listens: the query must end in a lookup
 *  error from the loop (no network needed). A second query is freed while in flight. Run on
 *  the loop (threads 0) and with validating worker threads (scan's mode). */
static void dead_forwarder(unsigned threads)
{
	struct event_base *base = event_base_new();
	const char *fwd = "127.0.0.1@9";
	struct dg_dns_opts opts;
	struct dg_dns *dns = NULL;
	struct dg_err err;
	struct got g = {0};

	dg_dns_opts_init(&opts);
	opts.forwarders = &fwd;
	opts.n_forwarders = 1;
	opts.timeout_ms = 1000;
	opts.resolver_threads = threads;
	assert_int_equal(dg_dns_new(base, &opts, &dns, &err), DG_OK);
	g.stop = base; /* libunbound keeps retrying internally; the loop need not drain */
	assert_int_equal(dg_dns_lookup(dns, "example.com", DG_DNS_T_MX, got_cb, &g, NULL, NULL),
	                 DG_OK);
	assert_int_equal(g.calls, 0);
	event_base_dispatch(base);
	if (g.calls != 1 ||
	    !(g.outcome == DG_DNS_SERVFAIL || g.outcome == DG_DNS_TIMEOUT ||
	      g.outcome == DG_DNS_ERROR) ||
	    g.security != DG_DNS_INDETERMINATE)
		fail_msg("dead forwarder (%u threads): got %d calls %s/%s (%s), want a lookup error",
		         threads, g.calls, dg_dns_outcome_str(g.outcome),
		         dg_dns_security_str(g.security), g.reason);
	print_message("dead forwarder (%u threads): %s (%s)\n", threads,
	              dg_dns_outcome_str(g.outcome), g.reason);
	/* Free with a query in flight: ub_ctx_delete cancels it, no callback. */
	memset(&g, 0, sizeof(g));
	assert_int_equal(dg_dns_lookup(dns, "example.org", DG_DNS_T_A, got_cb, &g, NULL, NULL),
	                 DG_OK);
	event_base_loop(base, EVLOOP_NONBLOCK);
	dg_dns_free(dns);
	event_base_loop(base, EVLOOP_NONBLOCK);
	assert_int_equal(g.calls, 0);
	event_base_free(base);
}

static void test_unbound_dead_forwarder(void **state)
{
	(void)state;
	dead_forwarder(0);
	dead_forwarder(2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_table),
	    cmocka_unit_test(test_parse_chain_limit),
	    cmocka_unit_test(test_parse_record_cap),
	    cmocka_unit_test(test_parse_malformed),
	    cmocka_unit_test(test_parse_compression),
	    cmocka_unit_test(test_answer_copy_and_strings),
	    cmocka_unit_test(test_fake_basic),
	    cmocka_unit_test(test_fake_dedup_and_cache),
	    cmocka_unit_test(test_fake_cancel),
	    cmocka_unit_test(test_fake_timeout_and_queue),
	    cmocka_unit_test(test_fake_callbacks_reenter),
	    cmocka_unit_test(test_fake_cache_cap_and_errors),
	    cmocka_unit_test(test_unbound_trust_anchors),
	    cmocka_unit_test(test_unbound_forwarders),
	    cmocka_unit_test(test_unbound_dead_forwarder),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
