/*
 * test_mtasts_cache.c - lib/mtasts/mtasts_cache.c: the caching decision (SPEC STS-1, STS-2,
 * STS-4; one table row per rule), the cache file parser and writer (round trip, malformed
 * files), the directory (put/get round trip, a corrupt file treated as absent with a
 * warning, atomic replace, leftovers of an interrupted write removed at open, bad domains
 * refused before they become paths), and the engine with a cache (lib/scan/scan_sts.c)
 * against the fake resolver with dns_only, so no socket is opened: a cached policy applied
 * without a fetch, a failed fetch recorded and falling back to the cache, and a NULL cache
 * behaving as before. Failures print "got X, want Y".
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <daneguard/mtasts.h>
#include <daneguard/scan.h>
#include <daneguard/util.h>

#include <dirent.h>
#include <event2/event.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define NOW 1700000000u
#define POL_ENFORCE "version: STSv1\nmode: enforce\nmx: mx.c.example\nmax_age: 604800\n"
#define POL_NONE "version: STSv1\nmode: none\nmax_age: 86400\n"

static char test_dir[64];

/* ---- the decision ------------------------------------------------------------------ */

struct decide_case {
	const char *name;
	bool cached;          /* pass an entry */
	const char *policy;   /* its policy text, NULL none */
	const char *id;       /* its id */
	uint64_t fetched_ago; /* NOW - fetched_s; UINT64_MAX: in the future */
	const char *fail_id;  /* "" none */
	uint64_t fail_ago;
	bool txt_valid;
	const char *txt_id;
	enum dg_sts_cache_action want;
};

static const struct decide_case decide_cases[] = {
    {"nothing cached, TXT valid: fetch", false, NULL, "", 0, "", 0, true, "a1", DG_STS_FETCH},
    {"nothing cached, no TXT: none", false, NULL, "", 0, "", 0, false, NULL, DG_STS_NONE},
    {"same id, valid, 1 h old: use", true, POL_ENFORCE, "a1", 3600, "", 0, true, "a1",
     DG_STS_USE_CACHED},
    {"same id, valid, 25 h old: refresh", true, POL_ENFORCE, "a1", 90000, "", 0, true, "a1",
     DG_STS_FETCH},
    {"id changed: fetch", true, POL_ENFORCE, "a1", 60, "", 0, true, "b2", DG_STS_FETCH},
    {"same id, expired: fetch", true, POL_ENFORCE, "a1", 604800, "", 0, true, "a1", DG_STS_FETCH},
    {"same id, 1 s before expiry (but > 24 h): fetch", true, POL_ENFORCE, "a1", 604799, "", 0, true,
     "a1", DG_STS_FETCH},
    {"no TXT, valid cache: use (STS-1, STS-4)", true, POL_ENFORCE, "a1", 500000, "", 0, false, NULL,
     DG_STS_USE_CACHED},
    {"no TXT, expired cache: none", true, POL_ENFORCE, "a1", 604800, "", 0, false, NULL,
     DG_STS_NONE},
    {"TXT valid with an empty id: as no TXT", true, POL_ENFORCE, "a1", 60, "", 0, true, "",
     DG_STS_USE_CACHED},
    {"failed 100 s ago for this id, valid cache: use (STS-2)", true, POL_ENFORCE, "a1", 60, "b2",
     100, true, "b2", DG_STS_USE_CACHED},
    {"failed 100 s ago for this id, nothing valid: none", true, NULL, "", 0, "b2", 100, true, "b2",
     DG_STS_NONE},
    {"failed 299 s ago, expired cache: none", true, POL_ENFORCE, "a1", 700000, "b2", 299, true,
     "b2", DG_STS_NONE},
    {"failed 300 s ago: fetch again", true, NULL, "", 0, "b2", 300, true, "b2", DG_STS_FETCH},
    {"failed 100 s ago for another id: fetch", true, POL_ENFORCE, "a1", 60, "b2", 100, true, "c3",
     DG_STS_FETCH},
    {"mode none cached, same id: use", true, POL_NONE, "a1", 3600, "", 0, true, "a1",
     DG_STS_USE_CACHED},
    {"fetched in the future: not valid, fetch", true, POL_ENFORCE, "a1", UINT64_MAX, "", 0, true,
     "a1", DG_STS_FETCH},
    {"fetched in the future, no TXT: none", true, POL_ENFORCE, "a1", UINT64_MAX, "", 0, false, NULL,
     DG_STS_NONE},
    {"unparsable cached text: not valid", true, "mode: enforce\n", "a1", 60, "", 0, false, NULL,
     DG_STS_NONE},
};

static void entry_make(struct dg_sts_cache_entry *e, const char *domain, const char *policy,
                       const char *id, uint64_t fetched_s, const char *fail_id, uint64_t fail_s)
{
	memset(e, 0, sizeof(*e));
	snprintf(e->domain, sizeof(e->domain), "%s", domain);
	if (policy != NULL) {
		e->policy_text = dg_xstrdup(policy);
		e->policy_len = strlen(policy);
		snprintf(e->id, sizeof(e->id), "%s", id);
		e->fetched_s = fetched_s;
	}
	snprintf(e->fail_id, sizeof(e->fail_id), "%s", fail_id);
	e->last_fail_s = fail_s;
}

static void test_decide_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(decide_cases) / sizeof(decide_cases[0]); i++) {
		const struct decide_case *c = &decide_cases[i];
		struct dg_sts_cache_entry e;
		enum dg_sts_cache_action got;
		char why[320] = "";
		uint64_t fetched = c->fetched_ago == UINT64_MAX ? NOW + 600 : NOW - c->fetched_ago;

		entry_make(&e, "c.example", c->policy, c->id, fetched, c->fail_id,
		           c->fail_id[0] ? NOW - c->fail_ago : 0);
		got = dg_sts_cache_decide(c->cached ? &e : NULL, c->txt_valid, c->txt_id, NOW, why,
		                          sizeof(why));
		if (got != c->want)
			fail_msg("case %zu (%s): got %s, want %s (why: %s)", i, c->name,
			         dg_sts_cache_action_str(got), dg_sts_cache_action_str(c->want),
			         why);
		if (why[0] == '\0')
			fail_msg("case %zu (%s): got no reason, want one", i, c->name);
		dg_sts_cache_entry_cleanup(&e);
	}
}

/* ---- the file format --------------------------------------------------------------- */

struct parse_case {
	const char *in;
	enum dg_status want;
};

#define HEAD "daneguard-sts-cache: 1\ndomain: c.example\n"

static const struct parse_case parse_cases[] = {
    {HEAD "id: a1\nfetched: 1700000000\nfail-id: -\nlast-fail: 0\npolicy: 41\n" POL_NONE "mx: x\n",
     DG_E_PARSE}, /* wrong length: trailing bytes */
    {HEAD "id: a1\nfetched: 1700000000\nfail-id: -\nlast-fail: 0\npolicy: 41\n" POL_NONE, DG_OK},
    {HEAD "id: -\nfetched: 0\nfail-id: b2\nlast-fail: 1700000000\npolicy: 0\n", DG_OK},
    {"daneguard-sts-cache: 2\ndomain: c.example\nid: -\nfetched: 0\nfail-id: b2\n"
     "last-fail: 1\npolicy: 0\n",
     DG_E_PARSE},
    {"daneguard-sts-cache: 1\ndomain: C.example\nid: -\nfetched: 0\nfail-id: b2\n"
     "last-fail: 1\npolicy: 0\n",
     DG_E_PARSE}, /* not normalized */
    {"daneguard-sts-cache: 1\ndomain: ../etc\nid: -\nfetched: 0\nfail-id: b2\n"
     "last-fail: 1\npolicy: 0\n",
     DG_E_PARSE},
    {HEAD "id: -\nfetched: 0\nfail-id: -\nlast-fail: 0\npolicy: 0\n", DG_OK},
    {HEAD "id: a1\nfetched: 0\nfail-id: -\nlast-fail: 0\npolicy: 0\n", DG_E_PARSE},
    {HEAD "id: -\nfetched: 0\nfail-id: b2\nlast-fail: 0\npolicy: 0\n", DG_E_PARSE},
    {HEAD "id: a-1\nfetched: 1\nfail-id: -\nlast-fail: 0\npolicy: 41\n" POL_NONE, DG_E_PARSE},
    {HEAD "id: a1\nfetched: 01\nfail-id: -\nlast-fail: 0\npolicy: 41\n" POL_NONE, DG_E_PARSE},
    {HEAD "id: a1\nfetched: 1\nfail-id: -\nlast-fail: 0\npolicy: 15\nversion: STSv1\n",
     DG_E_PARSE}, /* the policy text is not a valid policy */
    {HEAD "id: a1\nfetched: 1\nfail-id: -\nlast-fail: 0\npolicy: 99999\n", DG_E_PARSE},
    {HEAD "id: a1\nfetched: 1\nfail-id: -\nextra: 1\nlast-fail: 0\npolicy: 0\n", DG_E_PARSE},
    {HEAD "id: a1\nfetched: 1\nfail-id: -\nlast-fail: 0\npolicy: 42\n", DG_E_PARSE},
    {HEAD "id: -\nfetched: 0\nfail-id: -\nlast-fail: 0\npolicy: 0", DG_E_PARSE},
    {"", DG_E_PARSE},
};

static void test_parse_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(parse_cases) / sizeof(parse_cases[0]); i++) {
		const struct parse_case *c = &parse_cases[i];
		struct dg_sts_cache_entry e;
		struct dg_err err;
		enum dg_status got;
		uint8_t *out = NULL;
		size_t len = 0;

		dg_err_clear(&err);
		got = dg_sts_cache_entry_parse((const uint8_t *)c->in, strlen(c->in), &e, &err);
		if (got != c->want)
			fail_msg("case %zu: got %s (%s), want %s", i, dg_status_str(got), err.msg,
			         dg_status_str(c->want));
		if (got != DG_OK && err.msg[0] == '\0')
			fail_msg("case %zu: got an error without a message, want one", i);
		if (got == DG_OK) { /* canonical: format(parse(x)) == x */
			assert_int_equal(dg_sts_cache_entry_format(&e, &out, &len, &err), DG_OK);
			if (len != strlen(c->in) || memcmp(out, c->in, len) != 0)
				fail_msg("case %zu: got %.*s, want %s", i, (int)len, out, c->in);
			free(out);
		}
		dg_sts_cache_entry_cleanup(&e);
	}
}

/* ---- the directory ------------------------------------------------------------------ */

static int rm_cb(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int setup_dir(void **state)
{
	(void)state;
	snprintf(test_dir, sizeof(test_dir), "/tmp/dg-stscache-XXXXXX");
	if (mkdtemp(test_dir) == NULL)
		return -1;
	return 0;
}

static int teardown_dir(void **state)
{
	(void)state;
	nftw(test_dir, rm_cb, 8, FTW_DEPTH | FTW_PHYS);
	dg_clock_reset_wall();
	dg_log_init(dg_log_global());
	return 0;
}

static void expect_entry(const struct dg_sts_cache_entry *got,
                         const struct dg_sts_cache_entry *want)
{
	if (strcmp(got->domain, want->domain) != 0 || strcmp(got->id, want->id) != 0 ||
	    got->fetched_s != want->fetched_s || got->last_fail_s != want->last_fail_s ||
	    strcmp(got->fail_id, want->fail_id) != 0 || got->policy_len != want->policy_len ||
	    (want->policy_len > 0 && memcmp(got->policy_text, want->policy_text, want->policy_len)))
		fail_msg("got entry %s id=%s fetched=%llu fail=%s@%llu len=%zu, want %s id=%s "
		         "fetched=%llu fail=%s@%llu len=%zu",
		         got->domain, got->id, (unsigned long long)got->fetched_s, got->fail_id,
		         (unsigned long long)got->last_fail_s, got->policy_len, want->domain,
		         want->id, (unsigned long long)want->fetched_s, want->fail_id,
		         (unsigned long long)want->last_fail_s, want->policy_len);
}

static size_t count_temps(void)
{
	DIR *d = opendir(test_dir);
	struct dirent *de;
	size_t n = 0;

	assert_non_null(d);
	while ((de = readdir(d)) != NULL)
		if (strncmp(de->d_name, ".tmp-", 5) == 0)
			n++;
	closedir(d);
	return n;
}

static void test_put_get(void **state)
{
	struct dg_sts_cache *c;
	struct dg_sts_cache_entry e, got;
	struct dg_err err = {0};

	(void)state;
	assert_int_equal(dg_sts_cache_open(test_dir, &c, &err), DG_OK);
	assert_int_equal(dg_sts_cache_get(c, "c.example", &got, &err), DG_E_NOTFOUND);
	entry_make(&e, "c.example", POL_ENFORCE, "a1", NOW, "b2", NOW + 5);
	if (dg_sts_cache_put(c, &e, &err) != DG_OK)
		fail_msg("put: got %s, want ok", err.msg);
	/* the lookup normalizes: case and a trailing dot do not matter */
	if (dg_sts_cache_get(c, "C.Example.", &got, &err) != DG_OK)
		fail_msg("get: got %s, want ok", err.msg);
	expect_entry(&got, &e);
	dg_sts_cache_entry_cleanup(&got);
	dg_sts_cache_entry_cleanup(&e);
	/* a failure record without a policy round-trips too */
	entry_make(&e, "d.example", NULL, "", 0, "z9", NOW);
	assert_int_equal(dg_sts_cache_put(c, &e, &err), DG_OK);
	assert_int_equal(dg_sts_cache_get(c, "d.example", &got, &err), DG_OK);
	expect_entry(&got, &e);
	assert_null(got.policy_text);
	dg_sts_cache_entry_cleanup(&got);
	dg_sts_cache_entry_cleanup(&e);
	/* domains are validated before they become paths */
	assert_int_equal(dg_sts_cache_get(c, "../etc/passwd", &got, &err), DG_E_PARSE);
	assert_int_equal(dg_sts_cache_get(c, "a/b.example", &got, &err), DG_E_PARSE);
	entry_make(&e, "../x", POL_NONE, "a1", NOW, "", 0);
	assert_int_equal(dg_sts_cache_put(c, &e, &err), DG_E_PARSE);
	dg_sts_cache_entry_cleanup(&e);
	/* an entry that would not parse back is refused */
	entry_make(&e, "c.example", "mode: enforce\n", "a1", NOW, "", 0);
	assert_int_equal(dg_sts_cache_put(c, &e, &err), DG_E_PARSE);
	dg_sts_cache_entry_cleanup(&e);
	assert_int_equal(count_temps(), 0);
	dg_sts_cache_free(c);
}

struct log_cap {
	size_t warns;
	char last[DG_LOG_LINE_MAX];
};

static void log_cb(void *arg, enum dg_log_level level, const char *line)
{
	struct log_cap *cap = arg;

	if (level == DG_LOG_WARN) {
		cap->warns++;
		snprintf(cap->last, sizeof(cap->last), "%s", line);
	}
}

static void write_file(const char *name, const char *text, size_t len)
{
	char path[256];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/%s", test_dir, name);
	fp = fopen(path, "wb");
	assert_non_null(fp);
	assert_int_equal(fwrite(text, 1, len, fp), len);
	fclose(fp);
}

static void test_corrupt(void **state)
{
	static const char *const bad[] = {
	    "garbage",
	    "daneguard-sts-cache: 1\ndomain: c.example\nid: a1\nfetched: 17",
	    ("daneguard-sts-cache: 1\ndomain: other.example\nid: -\nfetched: 0\nfail-id: -\n"
	     "last-fail: 0\npolicy: 0\n"), /* holds another domain */
	    "",
	};
	struct log_cap cap = {0};
	struct dg_sts_cache *c;
	struct dg_sts_cache_entry e, got;
	struct dg_err err = {0};

	(void)state;
	dg_log_global()->cb = log_cb;
	dg_log_global()->arg = &cap;
	assert_int_equal(dg_sts_cache_open(test_dir, &c, &err), DG_OK);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		size_t before = cap.warns;

		write_file("c.example", bad[i], strlen(bad[i]));
		dg_err_clear(&err);
		if (dg_sts_cache_get(c, "c.example", &got, &err) != DG_E_NOTFOUND)
			fail_msg("corrupt %zu: got found, want absent", i);
		assert_null(got.policy_text);
		if (cap.warns != before + 1 || strstr(cap.last, "corrupt") == NULL)
			fail_msg("corrupt %zu: got %zu warnings (%s), want 1 naming it corrupt", i,
			         cap.warns - before, cap.last);
		assert_non_null(strstr(err.msg, "corrupt"));
	}
	/* a put replaces the corrupt file */
	entry_make(&e, "c.example", POL_NONE, "a1", NOW, "", 0);
	assert_int_equal(dg_sts_cache_put(c, &e, &err), DG_OK);
	assert_int_equal(dg_sts_cache_get(c, "c.example", &got, &err), DG_OK);
	expect_entry(&got, &e);
	dg_sts_cache_entry_cleanup(&got);
	dg_sts_cache_entry_cleanup(&e);
	dg_sts_cache_free(c);
}

static void test_atomic_replace(void **state)
{
	struct dg_sts_cache *c;
	struct dg_sts_cache_entry a, b, got;
	struct dg_err err = {0};
	struct stat st1, st2;
	char path[256];

	(void)state;
	snprintf(path, sizeof(path), "%s/c.example", test_dir);
	/* leftovers of a write interrupted before its rename are removed at open */
	write_file(".tmp-999-0", "half a file", 11);
	assert_int_equal(count_temps(), 1);
	assert_int_equal(dg_sts_cache_open(test_dir, &c, &err), DG_OK);
	assert_int_equal(count_temps(), 0);
	entry_make(&a, "c.example", POL_ENFORCE, "a1", NOW, "", 0);
	entry_make(&b, "c.example", POL_NONE, "b2", NOW + 60, "", 0);
	assert_int_equal(dg_sts_cache_put(c, &a, &err), DG_OK);
	assert_int_equal(stat(path, &st1), 0);
	assert_int_equal(st1.st_mode & 0777, 0600);
	assert_int_equal(dg_sts_cache_put(c, &b, &err), DG_OK);
	assert_int_equal(stat(path, &st2), 0);
	/* a new file renamed over the old one, never the old file rewritten in place */
	if (st1.st_ino == st2.st_ino)
		fail_msg("got the same inode %llu after the replace, want a new file",
		         (unsigned long long)st1.st_ino);
	assert_int_equal(dg_sts_cache_get(c, "c.example", &got, &err), DG_OK);
	expect_entry(&got, &b);
	assert_int_equal(count_temps(), 0);
	dg_sts_cache_entry_cleanup(&got);
	dg_sts_cache_entry_cleanup(&a);
	dg_sts_cache_entry_cleanup(&b);
	dg_sts_cache_free(c);
}

/* ---- the engine with a cache (fake resolver, dns_only: no socket) ---------------------- */

struct fx {
	struct event_base *base;
	struct dg_dns *dns;
	struct dg_engine *eng;
	struct dg_sts_cache *cache;
	struct dg_domain_result *res;
};

static void add(struct fx *f, const char *name, uint16_t type, enum dg_dns_outcome outcome,
                const char *rr)
{
	static const char *soa[] = {"example. 300 IN SOA ns.example. h.example. 1 2 3 4 60"};
	struct dg_dns_fake_answer fa = {
	    .name = name,
	    .rrtype = type,
	    .security = DG_DNS_SECURE,
	    .outcome = outcome,
	    .rrs = &rr,
	    .n_rrs = rr == NULL ? 0 : 1,
	    .authority = outcome == DG_DNS_ANSWER ? NULL : soa,
	    .n_authority = outcome == DG_DNS_ANSWER ? 0 : 1,
	};
	struct dg_err err = {0};

	if (dg_dns_fake_add(f->dns, &fa, &err) != DG_OK)
		fail_msg("fake_add %s: %s", name, err.msg);
}

static void fx_open(struct fx *f, bool with_cache)
{
	struct dg_engine_opts o;
	struct dg_err err = {0};

	memset(f, 0, sizeof(*f));
	f->base = event_base_new();
	dg_engine_opts_init(&o);
	o.timeout_ms = 2000;
	o.ipv6 = false;
	o.dns_only = true;
	o.dns.cache_max = 0; /* each run sees the answers registered for it */
	if (with_cache)
		assert_int_equal(dg_sts_cache_open(test_dir, &f->cache, &err), DG_OK);
	o.sts_cache = f->cache;
	f->dns = dg_dns_new_fake(f->base, &o.dns);
	if (dg_engine_new(f->base, &o, f->dns, &f->eng, &err) != DG_OK)
		fail_msg("engine: %s", err.msg);
	add(f, "c.example", DG_DNS_T_MX, DG_DNS_ANSWER, "c.example. 300 IN MX 10 mx.c.example.");
	add(f, "mx.c.example", DG_DNS_T_A, DG_DNS_ANSWER, "mx.c.example. 300 IN A 127.0.0.12");
	add(f, "_25._tcp.mx.c.example", DG_DNS_T_TLSA, DG_DNS_NXDOMAIN, NULL);
	add(f, "_smtp._tls.c.example", DG_DNS_T_TXT, DG_DNS_NXDOMAIN, NULL);
	/* the policy host has no address: any fetch fails before a socket is opened */
	add(f, "mta-sts.c.example", DG_DNS_T_A, DG_DNS_NXDOMAIN, NULL);
}

static void fx_close(struct fx *f)
{
	dg_domain_result_free(f->res);
	dg_engine_free(f->eng);
	dg_sts_cache_free(f->cache);
	event_base_free(f->base);
}

static void done(void *arg, struct dg_domain_result *res)
{
	struct fx *f = arg;

	f->res = res;
}

static struct dg_domain_result *run(struct fx *f, const char *txt_id)
{
	char rr[128];
	struct dg_err err = {0};

	if (txt_id != NULL) {
		snprintf(rr, sizeof(rr), "_mta-sts.c.example. 300 IN TXT \"v=STSv1; id=%s\"",
		         txt_id);
		add(f, "_mta-sts.c.example", DG_DNS_T_TXT, DG_DNS_ANSWER, rr);
	} else {
		add(f, "_mta-sts.c.example", DG_DNS_T_TXT, DG_DNS_NXDOMAIN, NULL);
	}
	dg_domain_result_free(f->res);
	f->res = NULL;
	assert_int_equal(dg_engine_check(f->eng, "c.example", done, f, &err), DG_OK);
	event_base_dispatch(f->base);
	assert_non_null(f->res);
	return f->res;
}

static void expect_sts(const struct dg_domain_result *r, enum dg_sts_policy_status want,
                       bool from_cache)
{
	const struct dg_sts_result *m = &r->mta_sts;

	if (m->policy != want || m->from_cache != from_cache)
		fail_msg("got policy %s from_cache=%d, want %s from_cache=%d (first reason: %s)",
		         dg_sts_policy_status_str(m->policy), m->from_cache,
		         dg_sts_policy_status_str(want), from_cache,
		         m->reasons.n > 0 ? m->reasons.text[0] : "none");
}

static void test_engine_cache(void **state)
{
	struct fx f;
	struct dg_sts_cache_entry e, got;
	struct dg_err err = {0};
	const struct dg_domain_result *r;

	(void)state;
	dg_clock_set_wall(NOW);
	fx_open(&f, true);
	/* no entry, TXT valid, fetch fails: fetch-error, and the failure is recorded */
	r = run(&f, "a1");
	expect_sts(r, DG_STS_POLICY_FETCH_ERROR, false);
	assert_int_equal(dg_sts_cache_get(f.cache, "c.example", &got, &err), DG_OK);
	entry_make(&e, "c.example", NULL, "", 0, "a1", NOW);
	expect_entry(&got, &e);
	dg_sts_cache_entry_cleanup(&got);
	dg_sts_cache_entry_cleanup(&e);

	/* a valid cached policy, same id, 1 h old: applied without a fetch, fields as fetched */
	entry_make(&e, "c.example", POL_ENFORCE, "a1", NOW - 3600, "", 0);
	assert_int_equal(dg_sts_cache_put(f.cache, &e, &err), DG_OK);
	r = run(&f, "a1");
	expect_sts(r, DG_STS_POLICY_VALID, true);
	assert_true(r->mta_sts.has_policy);
	assert_int_equal(r->mta_sts.mode, DG_STS_MODE_ENFORCE);
	assert_int_equal(r->mta_sts.max_age_s, 604800);
	assert_int_equal(r->mta_sts.n_mx, 1);
	assert_string_equal(r->mta_sts.mx[0], "mx.c.example");
	assert_int_equal(r->hosts[0].mta_sts_match, DG_TRI_YES);
	/* the cache file is untouched (no failure recorded, nothing refetched) */
	assert_int_equal(dg_sts_cache_get(f.cache, "c.example", &got, &err), DG_OK);
	expect_entry(&got, &e);
	dg_sts_cache_entry_cleanup(&got);

	/* no TXT record now: the unexpired cached policy still applies (STS-1, STS-4) */
	r = run(&f, NULL);
	expect_sts(r, DG_STS_POLICY_VALID, true);

	/* the id changes and the fetch fails: failure recorded for b2, cached a1 applies */
	r = run(&f, "b2");
	expect_sts(r, DG_STS_POLICY_VALID, true);
	assert_int_equal(dg_sts_cache_get(f.cache, "c.example", &got, &err), DG_OK);
	if (strcmp(got.fail_id, "b2") != 0 || got.last_fail_s != NOW || strcmp(got.id, "a1") != 0)
		fail_msg("got fail_id %s at %llu, id %s; want b2 at %u, id a1", got.fail_id,
		         (unsigned long long)got.last_fail_s, got.id, NOW);
	dg_sts_cache_entry_cleanup(&got);
	dg_sts_cache_entry_cleanup(&e);

	/* once expired and the fetch keeps failing: as without MTA-STS */
	dg_clock_set_wall(NOW + 700000);
	r = run(&f, "b2");
	expect_sts(r, DG_STS_POLICY_FETCH_ERROR, false);
	fx_close(&f);
}

static void test_engine_no_cache(void **state)
{
	struct fx f;
	struct dg_sts_cache_entry e;
	struct dg_sts_cache *c;
	struct dg_err err = {0};
	const struct dg_domain_result *r;

	(void)state;
	dg_clock_set_wall(NOW);
	/* a cache directory holding a valid policy, but the engine is given none */
	assert_int_equal(dg_sts_cache_open(test_dir, &c, &err), DG_OK);
	entry_make(&e, "c.example", POL_ENFORCE, "a1", NOW - 60, "", 0);
	assert_int_equal(dg_sts_cache_put(c, &e, &err), DG_OK);
	dg_sts_cache_entry_cleanup(&e);
	dg_sts_cache_free(c);
	fx_open(&f, false);
	r = run(&f, "a1");
	expect_sts(r, DG_STS_POLICY_FETCH_ERROR, false);
	assert_int_equal(r->hosts[0].mta_sts_match, DG_TRI_NULL);
	fx_close(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_decide_table),
	    cmocka_unit_test(test_parse_table),
	    cmocka_unit_test_setup_teardown(test_put_get, setup_dir, teardown_dir),
	    cmocka_unit_test_setup_teardown(test_corrupt, setup_dir, teardown_dir),
	    cmocka_unit_test_setup_teardown(test_atomic_replace, setup_dir, teardown_dir),
	    cmocka_unit_test_setup_teardown(test_engine_cache, setup_dir, teardown_dir),
	    cmocka_unit_test_setup_teardown(test_engine_no_cache, setup_dir, teardown_dir),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
