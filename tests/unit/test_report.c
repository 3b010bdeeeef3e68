/*
 * test_report.c - unit tests of lib/report: JSON (schema daneguard/check/1) and text rendering.
 *
 * Results are built by hand (calloc + static strings; certificates as dg_cert_info fields), so
 * no DNS or TLS is involved and dg_domain_result_free() is never called on them: fx_free()
 * releases what the fixtures allocated. JSON is rendered with JSON_SORT_KEYS | JSON_INDENT(2),
 * times are normalised ("checked_at" -> "<time>", "elapsed_ms" -> 0) and the text is compared
 * with tests/data/report/<name>.ref.json; the first differing line is printed as got/want.
 * DG_REPORT_REGEN=1 rewrites the golden files instead (review the diff before committing).
 * Text output is checked for its key lines. Failures print "got X, want Y" (STYLE.md sec. 9).
 */
#include <daneguard/report.h>
#include <daneguard/smtp.h>
#include <daneguard/util.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define CHECK_STR(got, want)                                                                       \
	do {                                                                                       \
		const char *g_ = (got), *w_ = (want);                                              \
		if (g_ == NULL || strcmp(g_, w_) != 0)                                             \
			fail_msg("%s: got \"%s\", want \"%s\"", #got, g_ ? g_ : "(null)", w_);     \
	} while (0)

#define CHECK_TRUE(cond, ...)                                                                      \
	do {                                                                                       \
		if (!(cond))                                                                       \
			fail_msg(__VA_ARGS__);                                                     \
	} while (0)

enum { T_2025 = 1738324800 }; /* 2025-01-31T12:00:00Z */

static const char *data_path(const char *file);
static char *read_file(const char *path);
static void compare_lines(const char *name, const char *got, const char *want);
static void check_golden(const char *name, const struct dg_domain_result *res,
                         const struct dg_report_opts *opts);
static char *render_text(const struct dg_domain_result *res, const struct dg_report_opts *opts);
static void check_has(const char *text, const char *line);
static void check_lacks(const char *text, const char *line);
static void add_reason(struct dg_reasons *r, const char *text);
static void set_rrset(struct dg_rrset_info *ri, const char *name, enum dg_dns_security sec,
                      enum dg_dns_outcome outcome, uint32_t ttl_s);
static void fill_digest(uint8_t *d, size_t len, uint8_t seed);
static void add_advice(struct dg_tlsa_advice *adv, const char *code, const char *spec,
                       enum dg_tlsa_severity sev, size_t record, const char *text);
static void fill_cert(struct dg_cert_info *ci, int which);
static struct dg_domain_result *fx_new(const char *domain, enum dg_verdict v, const char *code,
                                       size_t n_hosts);
static struct dg_domain_result *fx_dane_ok(void);
static struct dg_domain_result *fx_dane_fail(void);
static struct dg_domain_result *fx_null_mx(void);
static struct dg_domain_result *fx_bogus_mx(void);
static void fx_free(struct dg_domain_result *res);
static void fx_add_sts(struct dg_domain_result *res);

/* ---- files -------------------------------------------------------------------------------- */

static const char *data_path(const char *file)
{
	static char path[4096];
	const char *dir = getenv("DG_TEST_DATA");

	snprintf(path, sizeof(path), "%s/report/%s", dir != NULL ? dir : "tests/data", file);
	return path;
}

static char *read_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	struct dg_buf b;
	char chunk[4096];
	size_t n;

	if (f == NULL)
		fail_msg("cannot open %s", path);
	dg_buf_init(&b, 1u << 22);
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		assert_int_equal(dg_buf_append(&b, chunk, n), DG_OK);
	fclose(f);
	assert_int_equal(dg_buf_putc(&b, '\0'), DG_OK);
	return dg_buf_take(&b);
}

/* First differing line as "got X, want Y". */
static void compare_lines(const char *name, const char *got, const char *want)
{
	size_t line = 1;
	const char *g = got, *w = want;

	while (*g != '\0' && *g == *w) {
		if (*g == '\n')
			line++;
		g++;
		w++;
	}
	if (*g == '\0' && *w == '\0')
		return;
	while (g > got && g[-1] != '\n' && w > want) {
		g--;
		w--;
	}
	fail_msg("%s: line %zu: got \"%.*s\", want \"%.*s\"", name, line, (int)strcspn(g, "\n"), g,
	         (int)strcspn(w, "\n"), w);
}

static void check_golden(const char *name, const struct dg_domain_result *res,
                         const struct dg_report_opts *opts)
{
	char file[128];
	json_t *j = dg_report_json(res, opts);
	char *dump, *want;
	size_t len;

	assert_non_null(j);
	/* normalise times (STYLE.md section 9) */
	assert_int_equal(json_object_set_new(j, "checked_at", json_string("<time>")), 0);
	assert_int_equal(json_object_set_new(j, "elapsed_ms", json_integer(0)), 0);
	dump = json_dumps(j, JSON_SORT_KEYS | JSON_INDENT(2));
	assert_non_null(dump);
	len = strlen(dump);
	snprintf(file, sizeof(file), "%s.ref.json", name);
	if (getenv("DG_REPORT_REGEN") != NULL) {
		FILE *f = fopen(data_path(file), "w");

		assert_non_null(f);
		fprintf(f, "%s\n", dump);
		fclose(f);
	}
	want = read_file(data_path(file));
	dump = realloc(dump, len + 2);
	assert_non_null(dump);
	memcpy(dump + len, "\n", 2);
	compare_lines(file, dump, want);
	free(want);
	free(dump);
	json_decref(j);
}

static char *render_text(const struct dg_domain_result *res, const struct dg_report_opts *opts)
{
	char *text = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&text, &size);

	assert_non_null(f);
	dg_report_text(res, opts, f);
	assert_int_equal(fclose(f), 0);
	return text;
}

static void check_has(const char *text, const char *line)
{
	CHECK_TRUE(strstr(text, line) != NULL,
	           "text report: got no line with \"%s\", want one; "
	           "report:\n%s",
	           line, text);
}

static void check_lacks(const char *text, const char *line)
{
	CHECK_TRUE(strstr(text, line) == NULL, "text report: got \"%s\", want none; report:\n%s",
	           line, text);
}

/* ---- fixtures ----------------------------------------------------------------------------- */

static void add_reason(struct dg_reasons *r, const char *text)
{
	assert_true(r->n < DG_MAX_REASONS);
	r->text[r->n++] = text;
}

static void set_rrset(struct dg_rrset_info *ri, const char *name, enum dg_dns_security sec,
                      enum dg_dns_outcome outcome, uint32_t ttl_s)
{
	ri->done = true;
	ri->name = name;
	ri->security = sec;
	ri->outcome = outcome;
	ri->ttl_s = ttl_s;
}

static void fill_digest(uint8_t *d, size_t len, uint8_t seed)
{
	for (size_t i = 0; i < len; i++)
		d[i] = (uint8_t)(seed + 7 * i);
}

static void add_advice(struct dg_tlsa_advice *adv, const char *code, const char *spec,
                       enum dg_tlsa_severity sev, size_t record, const char *text)
{
	struct dg_tlsa_advice_item *it;

	adv->item = dg_xrealloc(adv->item, (adv->count + 1) * sizeof(*adv->item));
	adv->cap = adv->count + 1;
	it = &adv->item[adv->count++];
	memset(it, 0, sizeof(*it));
	it->code = code;
	it->spec = spec;
	it->severity = sev;
	it->record = record;
	snprintf(it->text, sizeof(it->text), "%s", text);
}

/* which: 0 leaf of mx1, 1 intermediate CA, 2 leaf with an unrelated name */
static void fill_cert(struct dg_cert_info *ci, int which)
{
	static char *leaf_names[] = {"mx1.example.org"};
	static char *other_names[] = {"www.example.net", "example.net"};

	memset(ci, 0, sizeof(*ci));
	ci->not_before = T_2025 - 86400 * 30;
	ci->not_after = T_2025 + 86400 * 60;
	memset(ci->spki_sha256, 'a' + which, 64);
	memset(ci->cert_sha256, 'd' + which, 64);
	if (which == 1) {
		ci->subject = "CN=Example Issuing CA,O=Example";
		ci->issuer = "CN=Example Root CA,O=Example";
		snprintf(ci->key_desc, sizeof(ci->key_desc), "RSA 2048");
		ci->is_ca = true;
		return;
	}
	ci->issuer = "CN=Example Issuing CA,O=Example";
	snprintf(ci->key_desc, sizeof(ci->key_desc), "ECDSA P-256");
	ci->subject = which == 0 ? "CN=mx1.example.org" : "CN=www.example.net";
	ci->names = which == 0 ? leaf_names : other_names;
	ci->n_names = which == 0 ? 1 : 2;
}

static struct dg_domain_result *fx_new(const char *domain, enum dg_verdict v, const char *code,
                                       size_t n_hosts)
{
	struct dg_domain_result *res = dg_xcalloc(1, sizeof(*res));

	res->domain = domain;
	res->verdict = v;
	res->code = code;
	res->checked_at = T_2025;
	res->elapsed_ms = 1234;
	res->n_hosts = n_hosts;
	res->hosts = n_hosts > 0 ? dg_xcalloc(n_hosts, sizeof(*res->hosts)) : NULL;
	for (size_t i = 0; i < n_hosts; i++)
		dg_tlsa_advice_init(&res->hosts[i].advice);
	return res;
}

/* Secure MX, one host, 3 1 1 matching the leaf at depth 0, plus an unusable record. */
static struct dg_domain_result *fx_dane_ok(void)
{
	struct dg_domain_result *res = fx_new("example.org", DG_VERDICT_DANE_OK, "D-DANE-FULL", 1);
	struct dg_host_result *h = &res->hosts[0];
	struct dg_addr_result *a;
	struct dg_probe_report *p;
	uint8_t d[32];

	add_reason(&res->reasons, "every MX host of example.org is DANE-verified");
	set_rrset(&res->mx, "example.org", DG_DNS_SECURE, DG_DNS_ANSWER, 3600);
	res->mx_secure = true;
	h->name = "mx1.example.org";
	h->preference = 10;
	set_rrset(&h->a, "mx1.example.org", DG_DNS_SECURE, DG_DNS_ANSWER, 300);
	set_rrset(&h->aaaa, "mx1.example.org", DG_DNS_SECURE, DG_DNS_NODATA, 300);
	set_rrset(&h->tlsa, "_25._tcp.mx1.example.org", DG_DNS_SECURE, DG_DNS_ANSWER, 300);
	h->tlsa_base = "mx1.example.org";
	h->ref_ids[0] = "mx1.example.org";
	h->n_ref_ids = 1;
	h->tlsa_set = dg_tlsa_set_new();
	fill_digest(d, sizeof(d), 1);
	assert_int_equal(dg_tlsa_set_add(h->tlsa_set, 3, 1, 1, d, 32, NULL), DG_OK);
	assert_int_equal(dg_tlsa_set_add(h->tlsa_set, 3, 1, 1, d, 31, NULL), DG_OK);
	dg_tlsa_set_classify(h->tlsa_set, &h->tlsa_summary);
	add_advice(&h->advice, "unusable-record", "TLSA-2", DG_TLSA_SEV_WARN, 2,
	           "record #2 is unusable: digest is 31 octets, SHA2-256 needs 32");
	h->status = DG_HOST_VERIFIED;
	h->code = "H-DANE-VERIFIED";
	add_reason(&h->reasons, "the certificate matches TLSA record #1 (3 1 1) at depth 0");
	h->n_addrs = 1;
	h->addrs = a = dg_xcalloc(1, sizeof(*a));
	snprintf(a->addr, sizeof(a->addr), "192.0.2.25");
	a->family = 4;
	a->status = DG_HOST_VERIFIED;
	a->code = "H-DANE-VERIFIED";
	add_reason(&a->reasons, "192.0.2.25: DANE-verified");
	a->n_probes = 1;
	p = &a->probes[0];
	p->key = DG_PROBE_KEY_ANY;
	p->done = true;
	p->outcome = DG_SMTP_PROBE_TLS_OK;
	p->stage = "done";
	p->sni = "mx1.example.org";
	p->tls_version = "TLSv1.3";
	p->cipher = "TLS_AES_256_GCM_SHA384";
	p->peer_key = "ECDSA P-256";
	fill_cert(&p->chain[0], 0);
	fill_cert(&p->chain[1], 1);
	p->n_chain = 2;
	p->dane_checked = true;
	p->verified = true;
	p->dane_fail = DG_DANE_FAIL_NONE;
	p->depth = 0;
	p->matched_index = 0;
	p->dane_reason = "TLSA 3 1 1 record #1 matched the leaf certificate (depth 0)";
	p->days_ok = 1;
	p->days_reason = "still verifies on 2025-03-02T12:00:00Z";
	p->transcript = "S: 220 mx1.example.org ESMTP\nC: EHLO checker.example\n";
	return res;
}

/* Insecure MX; host 1 DANE-TA name mismatch via a CNAME, IPv6, two probes; host 2 no TLSA. */
static struct dg_domain_result *fx_dane_fail(void)
{
	struct dg_domain_result *res =
	    fx_new("example.net", DG_VERDICT_DANE_FAIL, "D-DANE-DEGRADED", 2);
	struct dg_host_result *h = &res->hosts[0];
	struct dg_addr_result *a;
	struct dg_probe_report *p;
	uint8_t d[32];

	add_reason(&res->reasons, "mx.example.net fails DANE authentication");
	add_reason(&res->reasons, "backup.example.net has no TLSA records");
	set_rrset(&res->mx, "example.net", DG_DNS_SECURE, DG_DNS_ANSWER, 600);
	h->name = "mx.example.net";
	h->expanded = "mail.hoster.example";
	h->preference = 5;
	set_rrset(&h->cname, "mx.example.net", DG_DNS_SECURE, DG_DNS_ANSWER, 600);
	h->cname.canonical = "mail.hoster.example";
	set_rrset(&h->a, "mail.hoster.example", DG_DNS_SECURE, DG_DNS_NODATA, 60);
	set_rrset(&h->aaaa, "mail.hoster.example", DG_DNS_SECURE, DG_DNS_ANSWER, 60);
	set_rrset(&h->tlsa, "_25._tcp.mail.hoster.example", DG_DNS_SECURE, DG_DNS_ANSWER, 60);
	h->tlsa_base = "mail.hoster.example";
	h->ref_ids[0] = "mail.hoster.example";
	h->ref_ids[1] = "example.net";
	h->n_ref_ids = 2;
	h->tlsa_set = dg_tlsa_set_new();
	fill_digest(d, sizeof(d), 9);
	assert_int_equal(dg_tlsa_set_add(h->tlsa_set, 2, 0, 1, d, 32, NULL), DG_OK);
	dg_tlsa_set_classify(h->tlsa_set, &h->tlsa_summary);
	add_advice(&h->advice, "single-record-no-rollover", "PUB-6", DG_TLSA_SEV_WARN, 0,
	           "one TLSA record: publish a second one before the next key rollover");
	add_advice(&h->advice, "ttl-too-short", "PUB-7", DG_TLSA_SEV_INFO, 0,
	           "TLSA TTL 60 s is below 300 s");
	h->status = DG_HOST_TLSA_MISMATCH;
	h->code = "H-DANE-NAME-MISMATCH";
	add_reason(&h->reasons, "the chain is trusted by TLSA record #1 (2 0 1) but no reference "
	                        "identifier matches the certificate names");
	h->n_addrs = 1;
	h->addrs = a = dg_xcalloc(1, sizeof(*a));
	snprintf(a->addr, sizeof(a->addr), "2001:db8::25");
	a->family = 6;
	a->status = DG_HOST_TLSA_MISMATCH;
	a->code = "H-DANE-NAME-MISMATCH";
	add_reason(&a->reasons, "2001:db8::25: certificate names match no reference identifier");
	a->n_probes = 2;
	p = &a->probes[0];
	p->key = DG_PROBE_KEY_ANY;
	p->done = true;
	p->outcome = DG_SMTP_PROBE_TLS_OK;
	p->stage = "done";
	p->sni = "mail.hoster.example";
	p->tls_version = "TLSv1.2";
	p->cipher = "ECDHE-ECDSA-AES128-GCM-SHA256";
	p->peer_key = "ECDSA P-256";
	fill_cert(&p->chain[0], 2);
	fill_cert(&p->chain[1], 1);
	p->n_chain = 2;
	p->dane_checked = true;
	p->dane_fail = DG_DANE_FAIL_NAME;
	p->depth = -1;
	p->matched_index = -1;
	p->dane_reason = "DANE-TA chain ok but www.example.net, example.net: hostname mismatch";
	p->days_ok = -1;
	p = &a->probes[1];
	p->key = DG_PROBE_KEY_RSA;
	p->done = true;
	p->outcome = DG_SMTP_PROBE_TLS_FAILED;
	p->stage = "tls-handshake";
	p->sni = "mail.hoster.example";
	p->error = "[2001:db8::25]:25: TLS handshake failed: no shared signature algorithms";
	p->absent_key_type = true;
	p->depth = -1;
	p->matched_index = -1;
	p->days_ok = -1;

	h = &res->hosts[1];
	h->name = "backup.example.net";
	h->preference = 20;
	set_rrset(&h->a, "backup.example.net", DG_DNS_SECURE, DG_DNS_ANSWER, 600);
	set_rrset(&h->tlsa, "_25._tcp.backup.example.net", DG_DNS_SECURE, DG_DNS_NXDOMAIN, 600);
	h->status = DG_HOST_NO_TLSA;
	h->code = "H-NO-TLSA";
	add_reason(&h->reasons, "_25._tcp.backup.example.net: secure NXDOMAIN, no TLSA records");
	return res;
}

static struct dg_domain_result *fx_null_mx(void)
{
	struct dg_domain_result *res = fx_new("nomail.example", DG_VERDICT_NULL_MX, "D-NULL-MX", 0);

	add_reason(&res->reasons, "nomail.example publishes a null MX (RFC 7505)");
	set_rrset(&res->mx, "nomail.example", DG_DNS_SECURE, DG_DNS_ANSWER, 86400);
	res->mx_secure = true;
	res->null_mx = true;
	return res;
}

static struct dg_domain_result *fx_bogus_mx(void)
{
	struct dg_domain_result *res =
	    fx_new("bogus.example", DG_VERDICT_DNSSEC_BOGUS, "D-MX-LOOKUP-ERROR", 0);

	add_reason(&res->reasons, "the MX RRset of bogus.example fails DNSSEC validation");
	set_rrset(&res->mx, "bogus.example", DG_DNS_BOGUS, DG_DNS_ANSWER, 0);
	res->mx.why = "signature expired";
	return res;
}

static void fx_free(struct dg_domain_result *res)
{
	for (size_t i = 0; i < res->n_hosts; i++) {
		dg_tlsa_set_free(res->hosts[i].tlsa_set);
		dg_tlsa_advice_cleanup(&res->hosts[i].advice);
		free(res->hosts[i].addrs);
	}
	free(res->hosts);
	free(res);
}

/* MTA-STS enforce policy matching the host, valid TLS-RPT, senders (issue #5). */
static void fx_add_sts(struct dg_domain_result *res)
{
	static const char *mx[] = {"mx1.example.org", "*.backup.example.org"};
	static const char *rua[] = {"mailto:tlsrpt@example.org", "https://rpt.example.org/v1"};

	res->mta_sts.checked = true;
	res->mta_sts.txt = DG_STS_TXT_PRESENT;
	res->mta_sts.id = "20250131";
	res->mta_sts.policy = DG_STS_POLICY_VALID;
	res->mta_sts.has_policy = true;
	res->mta_sts.mode = DG_STS_MODE_ENFORCE;
	res->mta_sts.max_age_s = 604800;
	res->mta_sts.mx = mx;
	res->mta_sts.n_mx = 2;
	res->tlsrpt.checked = true;
	res->tlsrpt.status = DG_TLSRPT_VALID;
	res->tlsrpt.rua = rua;
	res->tlsrpt.n_rua = 2;
	res->senders.dane = DG_SEND_AUTHENTICATED;
	res->senders.mta_sts = DG_SEND_AUTHENTICATED;
	res->senders.both = DG_SEND_AUTHENTICATED;
	for (size_t i = 0; i < res->n_hosts; i++) {
		res->hosts[i].mta_sts_match = DG_TRI_YES;
		res->hosts[i].pkix_valid = DG_TRI_NO;
	}
}

/* ---- JSON --------------------------------------------------------------------------------- */

static void test_json_golden(void **state)
{
	struct dg_report_opts opts;
	struct {
		const char *name;
		struct dg_domain_result *(*make)(void);
		bool verbose;
		int days;
	} cases[] = {
	    {"dane-ok", fx_dane_ok, true, 30},
	    {"sts-enforce", fx_dane_ok, false, -1},
	    {"dane-fail", fx_dane_fail, false, -1},
	    {"null-mx", fx_null_mx, false, -1},
	    {"bogus-mx", fx_bogus_mx, false, -1},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct dg_domain_result *res = cases[i].make();

		if (strcmp(cases[i].name, "sts-enforce") == 0)
			fx_add_sts(res);
		dg_report_opts_init(&opts);
		opts.verbose = cases[i].verbose;
		opts.days = cases[i].days;
		check_golden(cases[i].name, res, &opts);
		fx_free(res);
	}
}

static void test_json_contract(void **state)
{
	struct dg_domain_result *res = fx_dane_ok();
	json_t *j = dg_report_json(res, NULL);
	json_t *probe, *dane;

	(void)state;
	CHECK_STR(json_string_value(json_object_get(j, "schema")), "daneguard/check/1");
	CHECK_STR(json_string_value(json_object_get(j, "verdict")), "dane-ok");
	CHECK_STR(json_string_value(json_object_get(j, "checked_at")), "2025-01-31T12:00:00Z");
	CHECK_TRUE(json_integer_value(json_object_get(j, "elapsed_ms")) == 1234,
	           "elapsed_ms: got %lld, want 1234",
	           (long long)json_integer_value(json_object_get(j, "elapsed_ms")));
	CHECK_STR(json_string_value(json_object_get(json_object_get(j, "mx"), "status")), "secure");
	probe = json_array_get(
	    json_object_get(
	        json_array_get(
	            json_object_get(json_array_get(json_object_get(j, "hosts"), 0), "addresses"),
	            0),
	        "probes"),
	    0);
	assert_non_null(probe);
	dane = json_object_get(probe, "dane");
	CHECK_TRUE(json_is_true(json_object_get(dane, "verified")), "dane.verified: got not true");
	CHECK_TRUE(json_integer_value(json_object_get(dane, "depth")) == 0, "dane.depth: want 0");
	CHECK_TRUE(json_integer_value(json_object_get(json_object_get(dane, "matched"), "usage")) ==
	               3,
	           "dane.matched.usage: want 3");
	/* default options: no transcript even though the result has one */
	CHECK_TRUE(json_object_get(probe, "transcript") == NULL,
	           "transcript: got one, want none without verbose");
	CHECK_TRUE(json_object_get(probe, "days") != NULL, "days: got none, want one (days_ok 1)");
	json_decref(j);
	fx_free(res);
}

static void test_json_days_and_transcript(void **state)
{
	struct dg_domain_result *res = fx_dane_ok();
	struct dg_probe_report *p = &res->hosts[0].addrs[0].probes[0];
	struct dg_report_opts opts;
	json_t *j, *probe;

	(void)state;
	dg_report_opts_init(&opts);
	opts.verbose = true;
	p->days_ok = -1;
	j = dg_report_json(res, &opts);
	probe = json_array_get(
	    json_object_get(
	        json_array_get(
	            json_object_get(json_array_get(json_object_get(j, "hosts"), 0), "addresses"),
	            0),
	        "probes"),
	    0);
	CHECK_TRUE(json_object_get(probe, "days") == NULL, "days: got one, want none (not asked)");
	CHECK_STR(json_string_value(json_object_get(probe, "transcript")), p->transcript);
	json_decref(j);
	fx_free(res);
}

static void test_json_not_utf8(void **state)
{
	struct dg_domain_result *res = fx_null_mx();
	json_t *j, *reasons;

	(void)state;
	add_reason(&res->reasons, "bad \xff byte");
	j = dg_report_json(res, NULL);
	reasons = json_object_get(j, "reasons");
	CHECK_TRUE(json_array_size(reasons) == 2, "reasons: got %zu, want 2",
	           json_array_size(reasons));
	CHECK_STR(json_string_value(json_array_get(reasons, 1)), "bad \\xff byte");
	json_decref(j);
	fx_free(res);
}

static void test_time(void **state)
{
	char buf[32];

	(void)state;
	CHECK_STR(dg_report_time(0, buf, sizeof(buf)), "1970-01-01T00:00:00Z");
	CHECK_STR(dg_report_time(T_2025, buf, sizeof(buf)), "2025-01-31T12:00:00Z");
}

/* ---- text --------------------------------------------------------------------------------- */

static void test_text_dane_ok(void **state)
{
	struct dg_domain_result *res = fx_dane_ok();
	struct dg_report_opts opts;
	char *text;

	(void)state;
	dg_report_opts_init(&opts);
	opts.days = 30;
	text = render_text(res, &opts);
	check_has(text, "example.org: dane-ok (D-DANE-FULL)\n");
	check_has(text, "  every MX host authenticates with DANE\n");
	check_has(text, "  - every MX host of example.org is DANE-verified\n");
	check_has(text, "  MX RRset      secure, answer, TTL 3600 at example.org\n");
	check_has(text, "\nMX 10 mx1.example.org: verified (H-DANE-VERIFIED)\n");
	check_has(text, "  A             secure, answer, TTL 300 at mx1.example.org\n");
	check_has(text, "  AAAA          secure, nodata, TTL 300 at mx1.example.org\n");
	check_has(text, "  TLSA          secure, answer, TTL 300 at _25._tcp.mx1.example.org\n");
	check_has(text, "  TLSA records  #1 3 1 1 01080f161d242b32"); /* hex of fill_digest(1) */
	check_has(text, "  usable\n");
	check_has(text, "  digest-length\n");
	check_has(text, "  advice        [warn] TLSA-2 unusable-record: record #2 is unusable");
	check_has(text, "  192.0.2.25 (IPv4): verified (H-DANE-VERIFIED)\n");
	check_has(text, "    probe any     tls-ok at done, SNI mx1.example.org\n");
	check_has(text, "      TLS           TLSv1.3 TLS_AES_256_GCM_SHA384, key ECDSA P-256\n");
	check_has(text, "      cert 0        CN=mx1.example.org\n");
	check_has(text, "      cert 1        CN=Example Issuing CA,O=Example [CA]\n");
	check_has(text, "        issuer      CN=Example Issuing CA,O=Example\n");
	check_has(text, "        spki sha256 aaaaaaaa");
	check_has(text, "        valid       2025-01-01T12:00:00Z to 2025-04-01T12:00:00Z\n");
	check_has(text, "      DANE          verified: record #1 (3 1 1) matched at depth 0\n");
	check_has(text, "      in 30 days    still verifies: still verifies on 2025-03-02");
	check_lacks(text, "transcript");
	check_lacks(text, "\033[");
	free(text);

	opts.verbose = true;
	opts.color = true;
	text = render_text(res, &opts);
	check_has(text, "      transcript\n        S: 220 mx1.example.org ESMTP\n        C: EHLO");
	check_has(text, "example.org: \033[32mdane-ok\033[0m (D-DANE-FULL)\n");
	free(text);
	fx_free(res);
}

/* Issue #5 fields: present with their values, null when not checked. */
static void test_json_sts(void **state)
{
	struct dg_domain_result *res = fx_dane_ok();
	json_t *j = dg_report_json(res, NULL), *m, *h, *sd;

	(void)state;
	CHECK_TRUE(json_is_null(json_object_get(j, "mta_sts")), "mta_sts: got non-null, want null");
	CHECK_TRUE(json_is_null(json_object_get(j, "tlsrpt")), "tlsrpt: got non-null, want null");
	h = json_array_get(json_object_get(j, "hosts"), 0);
	CHECK_TRUE(json_is_null(json_object_get(h, "mta_sts_match")), "mta_sts_match: want null");
	CHECK_TRUE(json_is_null(json_object_get(h, "pkix_valid")), "pkix_valid: want null");
	json_decref(j);
	fx_add_sts(res);
	j = dg_report_json(res, NULL);
	m = json_object_get(j, "mta_sts");
	CHECK_STR(json_string_value(json_object_get(m, "txt")), "present");
	CHECK_STR(json_string_value(json_object_get(m, "id")), "20250131");
	CHECK_STR(json_string_value(json_object_get(m, "policy")), "valid");
	CHECK_STR(json_string_value(json_object_get(m, "mode")), "enforce");
	CHECK_TRUE(json_integer_value(json_object_get(m, "max_age")) == 604800,
	           "max_age: got %lld, want 604800",
	           (long long)json_integer_value(json_object_get(m, "max_age")));
	CHECK_STR(json_string_value(json_array_get(json_object_get(m, "mx"), 1)),
	          "*.backup.example.org");
	CHECK_STR(json_string_value(json_object_get(json_object_get(j, "tlsrpt"), "status")),
	          "valid");
	CHECK_STR(json_string_value(json_array_get(
	              json_object_get(json_object_get(j, "tlsrpt"), "rua"), 1)),
	          "https://rpt.example.org/v1");
	h = json_array_get(json_object_get(j, "hosts"), 0);
	CHECK_TRUE(json_is_true(json_object_get(h, "mta_sts_match")), "mta_sts_match: want true");
	CHECK_TRUE(json_is_false(json_object_get(h, "pkix_valid")), "pkix_valid: want false");
	sd = json_object_get(j, "senders");
	CHECK_STR(json_string_value(json_object_get(sd, "dane")), "deliver-authenticated");
	res->senders.mta_sts = DG_SEND_DEFER;
	res->senders.both = DG_SEND_UNAUTHENTICATED;
	json_decref(j);
	j = dg_report_json(res, NULL);
	sd = json_object_get(j, "senders");
	CHECK_STR(json_string_value(json_object_get(sd, "mta_sts")), "defer");
	CHECK_STR(json_string_value(json_object_get(sd, "both")), "deliver-unauthenticated");
	json_decref(j);
	fx_free(res);
}

static void test_text_sts(void **state)
{
	struct dg_domain_result *res = fx_dane_ok();
	char *text;

	(void)state;
	text = render_text(res, NULL);
	check_lacks(text, "\nMTA-STS\n");
	check_has(text, "\nsenders\n");
	free(text);
	fx_add_sts(res);
	text = render_text(res, NULL);
	check_has(text, "\nMTA-STS\n  TXT           present, id 20250131\n");
	check_has(text, "  policy        valid\n  mode          enforce\n");
	check_has(text, "  max_age       604800 s\n");
	check_has(text, "  mx patterns   mx1.example.org\n                *.backup.example.org\n");
	check_has(text, "  MX host       mx1.example.org: matches a pattern yes, PKIX-valid no\n");
	check_has(text, "\nTLS-RPT\n  status        valid\n  rua           mailto:tlsrpt@example.org\n");
	check_has(text, "\nsenders\n  DANE          deliver-authenticated\n");
	check_has(text, "  MTA-STS       deliver-authenticated\n  both          deliver-authenticated\n");
	free(text);
	fx_free(res);
}

static void test_text_dane_fail(void **state)
{
	struct dg_domain_result *res = fx_dane_fail();
	char *text = render_text(res, NULL);

	(void)state;
	check_has(text, "example.net: dane-fail (D-DANE-DEGRADED)\n");
	check_has(text, "  - backup.example.net has no TLSA records\n");
	check_has(text, "\nMX 5 mx.example.net (CNAME -> mail.hoster.example): tlsa-mismatch "
	                "(H-DANE-NAME-MISMATCH)\n");
	check_has(text, "  CNAME         secure, answer, TTL 600 at mx.example.net -> "
	                "mail.hoster.example\n");
	check_has(text, "  reference ids mail.hoster.example\n                example.net\n");
	check_has(text, "  2001:db8::25 (IPv6): tlsa-mismatch (H-DANE-NAME-MISMATCH)\n");
	check_has(text, "      DANE          failed: name-mismatch\n");
	check_has(text, "    probe rsa     tls-failed at tls-handshake, SNI mail.hoster.example, "
	                "server has no such key\n");
	check_has(text, "      error         [2001:db8::25]:25: TLS handshake failed");
	check_has(text, "  advice        [warn] PUB-6 single-record-no-rollover:");
	check_has(text, "                [info] PUB-7 ttl-too-short:");
	check_has(text, "\nMX 20 backup.example.net: no-tlsa (H-NO-TLSA)\n");
	check_has(text,
	          "  TLSA          secure, nxdomain, TTL 600 at _25._tcp.backup.example.net\n");
	check_lacks(text, "in days");
	free(text);
	fx_free(res);
}

static void test_text_no_hosts(void **state)
{
	struct dg_domain_result *res = fx_bogus_mx();
	char *text = render_text(res, NULL);

	(void)state;
	check_has(text, "bogus.example: dnssec-bogus (D-MX-LOOKUP-ERROR)\n");
	check_has(text,
	          "  MX RRset      bogus, answer, TTL 0 at bogus.example: signature expired\n");
	check_has(text, "  checked       2025-01-31T12:00:00Z in 1234 ms\n");
	check_lacks(text, "\nMX ");
	free(text);
	fx_free(res);
	res = fx_null_mx();
	text = render_text(res, NULL);
	check_has(text, "  null MX       yes (RFC 7505)\n");
	check_has(text, "  the domain publishes a null MX: it accepts no mail\n");
	free(text);
	fx_free(res);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_json_golden),
	    cmocka_unit_test(test_json_contract),
	    cmocka_unit_test(test_json_days_and_transcript),
	    cmocka_unit_test(test_json_not_utf8),
	    cmocka_unit_test(test_time),
	    cmocka_unit_test(test_text_dane_ok),
	    cmocka_unit_test(test_text_dane_fail),
	    cmocka_unit_test(test_json_sts),
	    cmocka_unit_test(test_text_sts),
	    cmocka_unit_test(test_text_no_hosts),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
