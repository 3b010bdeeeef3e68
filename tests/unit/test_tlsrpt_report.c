/*
 * test_tlsrpt_report.c - TLS-RPT aggregate reports (issue 9): the journal store (round trip,
 * torn last line, counting), the JSON report (SPEC RPT-3), policy strings for tlsa and sts
 * as the relay records them (SPEC RPT-2, RPT-4), gzip, the file name and the report mail
 * (SPEC RPT-7), and the relay glue queueing a mailto: report once.
 *
 * Run with "--dump DIR" it writes generated reports to DIR/report-N.json for
 * tests/unit/tlsrpt_schema_check.py (the JSON schema test) instead of running the tests.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "relay/relay_tlsrpt.h"

#include <daneguard/queue.h>
#include <daneguard/tlsa.h>
#include <daneguard/tlsrpt.h>
#include <daneguard/util.h>

#include <event2/event.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#define DAY "2026-03-14"
#define DAY_T0 1773446400u /* 2026-03-14T00:00:00Z */

static char tmpdir[64];

static int setup_dir(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/dg-tlsrpt-XXXXXX");
	return mkdtemp(tmpdir) != NULL ? 0 : -1;
}

static int teardown_dir(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

/* ---- events used by several tests ---------------------------------------------------------- */

static void ev_fill(struct dg_tlsrpt_event *ev, const char *domain, bool ok, const char *rt,
                    const char *mxh, const char *rip)
{
	memset(ev, 0, sizeof(*ev));
	ev->time_s = DAY_T0 + 3600;
	ev->report_domain = domain;
	ev->rua[0] = "mailto:tlsrpt@example.com";
	ev->rua[1] = "https://rpt.example.com/v1";
	ev->n_rua = 2;
	ev->policy_type = DG_TLSRPT_POLICY_TLSA;
	ev->policy_domain = "mx1.example.com";
	ev->strings[0] = "3 1 1 0123abcd";
	ev->n_strings = 1;
	ev->success = ok;
	ev->result_type = rt;
	ev->mx_host = mxh;
	ev->receiving_ip = rip;
}

static const struct dg_tlsrpt_meta test_meta = {"Example Sender", "tlsrpt-ops@sender.example",
                                                "sender.example"};

/* Append the standard set: 3 successes, 2 identical failures, 1 other failure, 1 sts. */
static void store_fill(struct dg_tlsrpt_store *s)
{
	struct dg_tlsrpt_event ev;
	struct dg_err err = {0};

	for (int i = 0; i < 3; i++) {
		ev_fill(&ev, "example.com", true, NULL, NULL, NULL);
		assert_int_equal(dg_tlsrpt_store_append(s, &ev, &err), DG_OK);
	}
	for (int i = 0; i < 2; i++) {
		ev_fill(&ev, "example.com", false, "certificate-not-trusted", "mx1.example.com",
		        "192.0.2.25");
		assert_int_equal(dg_tlsrpt_store_append(s, &ev, &err), DG_OK);
	}
	ev_fill(&ev, "example.com", false, "starttls-not-supported", "mx1.example.com",
	        "2001:db8::25");
	assert_int_equal(dg_tlsrpt_store_append(s, &ev, &err), DG_OK);
	ev_fill(&ev, "example.com", true, NULL, NULL, NULL);
	ev.policy_type = DG_TLSRPT_POLICY_STS;
	ev.policy_domain = "example.com";
	ev.strings[0] = "version: STSv1";
	ev.strings[1] = "mode: enforce";
	ev.strings[2] = "mx: *.example.com";
	ev.strings[3] = "max_age: 86400";
	ev.n_strings = 4;
	ev.mx[0] = "*.example.com";
	ev.n_mx = 1;
	assert_int_equal(dg_tlsrpt_store_append(s, &ev, &err), DG_OK);
	/* another day: must not be counted in DAY */
	ev_fill(&ev, "example.com", true, NULL, NULL, NULL);
	ev.time_s = DAY_T0 + 86400 + 5;
	assert_int_equal(dg_tlsrpt_store_append(s, &ev, &err), DG_OK);
	assert_int_equal(dg_tlsrpt_store_sync(s, &err), DG_OK);
}

static json_t *report_of(const struct dg_tlsrpt_day *d, const char *domain)
{
	char *text = NULL;
	json_t *j;

	for (size_t i = 0; i < dg_tlsrpt_day_count(d); i++)
		if (strcmp(dg_tlsrpt_day_domain(d, i), domain) == 0) {
			assert_int_equal(dg_tlsrpt_report_build(d, i, &test_meta, &text, NULL),
			                 DG_OK);
			j = json_loads(text, 0, NULL);
			free(text);
			assert_non_null(j);
			return j;
		}
	fail_msg("got no report for %s, want one", domain);
	return NULL;
}

static json_t *policy_of(json_t *rep, const char *type)
{
	size_t i;
	json_t *p;

	json_array_foreach(json_object_get(rep, "policies"), i, p)
	{
		const char *t =
		    json_string_value(json_object_get(json_object_get(p, "policy"), "policy-type"));

		if (t != NULL && strcmp(t, type) == 0)
			return p;
	}
	fail_msg("got no %s policy, want one", type);
	return NULL;
}

static long long jint(json_t *o, const char *a, const char *b)
{
	json_t *v = json_object_get(o, a);

	if (b != NULL)
		v = json_object_get(v, b);
	assert_true(json_is_integer(v));
	return (long long)json_integer_value(v);
}

static const char *jstr(json_t *o, const char *a, const char *b)
{
	json_t *v = json_object_get(o, a);

	if (b != NULL)
		v = json_object_get(v, b);
	assert_true(json_is_string(v));
	return json_string_value(v);
}

/* ---- store --------------------------------------------------------------------------------- */

static void test_store_round_trip(void **state)
{
	struct dg_tlsrpt_store *s = NULL;
	struct dg_tlsrpt_day *d = NULL;
	size_t skipped = 99, n_rua = 0;
	json_t *rep, *tlsa, *sts, *fd;
	char *const *rua;

	(void)state;
	assert_int_equal(dg_tlsrpt_store_open(tmpdir, &s, NULL), DG_OK);
	store_fill(s);
	dg_tlsrpt_store_free(s);
	assert_int_equal(dg_tlsrpt_day_load(tmpdir, DAY, &d, &skipped, NULL), DG_OK);
	assert_int_equal(skipped, 0);
	assert_int_equal(dg_tlsrpt_day_count(d), 1);
	rua = dg_tlsrpt_day_rua(d, 0, &n_rua);
	assert_int_equal(n_rua, 2);
	assert_string_equal(rua[1], "https://rpt.example.com/v1");
	rep = report_of(d, "example.com");
	tlsa = policy_of(rep, "tlsa");
	if (jint(tlsa, "summary", "total-successful-session-count") != 3)
		fail_msg("got %lld successes, want 3",
		         jint(tlsa, "summary", "total-successful-session-count"));
	assert_int_equal(jint(tlsa, "summary", "total-failure-session-count"), 3);
	fd = json_object_get(tlsa, "failure-details");
	assert_int_equal(json_array_size(fd), 2);
	assert_string_equal(jstr(json_array_get(fd, 0), "result-type", NULL),
	                    "certificate-not-trusted");
	assert_int_equal(jint(json_array_get(fd, 0), "failed-session-count", NULL), 2);
	assert_string_equal(jstr(json_array_get(fd, 0), "receiving-ip", NULL), "192.0.2.25");
	assert_null(json_object_get(json_array_get(fd, 0), "sending-mta-ip")); /* omitted */
	assert_int_equal(jint(json_array_get(fd, 1), "failed-session-count", NULL), 1);
	assert_string_equal(jstr(tlsa, "policy", "policy-domain"), "mx1.example.com");
	assert_null(json_object_get(json_object_get(tlsa, "policy"), "mx-host"));
	sts = policy_of(rep, "sts");
	assert_int_equal(jint(sts, "summary", "total-successful-session-count"), 1);
	assert_int_equal(
	    json_array_size(json_object_get(json_object_get(sts, "policy"), "mx-host")), 1);
	assert_int_equal(json_array_size(json_object_get(sts, "failure-details")), 0);
	json_decref(rep);
	dg_tlsrpt_day_free(d);

	/* the next day holds only the one event written for it */
	assert_int_equal(dg_tlsrpt_day_load(tmpdir, "2026-03-15", &d, &skipped, NULL), DG_OK);
	rep = report_of(d, "example.com");
	assert_int_equal(jint(policy_of(rep, "tlsa"), "summary", "total-successful-session-count"),
	                 1);
	json_decref(rep);
	dg_tlsrpt_day_free(d);
}

static void test_store_torn_line(void **state)
{
	struct dg_tlsrpt_store *s = NULL;
	struct dg_tlsrpt_day *d = NULL;
	size_t skipped = 0;
	char path[128];
	FILE *f;
	json_t *rep;

	(void)state;
	assert_int_equal(dg_tlsrpt_store_open(tmpdir, &s, NULL), DG_OK);
	store_fill(s);
	dg_tlsrpt_store_free(s);
	snprintf(path, sizeof(path), "%s/%s.events", tmpdir, DAY);
	f = fopen(path, "a");
	assert_non_null(f);
	/* damage in the middle, then a torn last line without its newline */
	fputs("{\"v\":1,\"t\":1773450000,\"d\":\"example.com\"}\n", f);
	fputs("{\"v\":1,\"t\":1773450000,\"d\":\"example.com\",\"rua\":[\"mailto:a@b.c\"],\"pt\":"
	      "\"tl",
	      f);
	fclose(f);
	assert_int_equal(dg_tlsrpt_day_load(tmpdir, DAY, &d, &skipped, NULL), DG_OK);
	if (skipped != 2)
		fail_msg("got %zu skipped lines, want 2", skipped);
	rep = report_of(d, "example.com");
	assert_int_equal(jint(policy_of(rep, "tlsa"), "summary", "total-successful-session-count"),
	                 3);
	json_decref(rep);
	dg_tlsrpt_day_free(d);

	/* the store opened after the crash ends the torn line first: the next event counts */
	assert_int_equal(dg_tlsrpt_store_open(tmpdir, &s, NULL), DG_OK);
	{
		struct dg_tlsrpt_event ev;

		ev_fill(&ev, "example.com", true, NULL, NULL, NULL);
		assert_int_equal(dg_tlsrpt_store_append(s, &ev, NULL), DG_OK);
	}
	dg_tlsrpt_store_free(s);
	assert_int_equal(dg_tlsrpt_day_load(tmpdir, DAY, &d, &skipped, NULL), DG_OK);
	assert_int_equal(skipped, 2);
	rep = report_of(d, "example.com");
	if (jint(policy_of(rep, "tlsa"), "summary", "total-successful-session-count") != 4)
		fail_msg("got %lld successes after the torn line, want 4",
		         jint(policy_of(rep, "tlsa"), "summary", "total-successful-session-count"));
	json_decref(rep);
	dg_tlsrpt_day_free(d);

	assert_int_equal(dg_tlsrpt_day_load(tmpdir, "2026-03-16", &d, &skipped, NULL), DG_OK);
	assert_int_equal(dg_tlsrpt_day_count(d), 0); /* a missing journal is an empty day */
	dg_tlsrpt_day_free(d);
}

struct line_case {
	const char *line;
	enum dg_status want;
};

static const struct line_case line_cases[] = {
    {"{\"v\":1,\"t\":5,\"d\":\"a.example\",\"rua\":[\"mailto:x@a.example\"],\"pt\":\"tlsa\","
     "\"pd\":\"mx.a.example\",\"ps\":[\"3 1 1 00\"],\"ok\":true}",
     DG_OK},
    {"{\"v\":1,\"t\":5,\"d\":\"a.example\",\"rua\":[\"mailto:x@a.example\"],"
     "\"pt\":\"no-policy-found\",\"pd\":\"a.example\",\"ok\":false,\"rt\":\"validation-failure\"}",
     DG_OK},
    /* failure without result type */
    {"{\"v\":1,\"t\":5,\"d\":\"a.example\",\"rua\":[\"mailto:x@a.example\"],\"pt\":\"sts\","
     "\"pd\":\"a.example\",\"ok\":false}",
     DG_E_PARSE},
    /* unknown policy type */
    {"{\"v\":1,\"t\":5,\"d\":\"a.example\",\"rua\":[\"mailto:x@a.example\"],\"pt\":\"dane\","
     "\"pd\":\"a.example\",\"ok\":true}",
     DG_E_PARSE},
    /* no rua */
    {"{\"v\":1,\"t\":5,\"d\":\"a.example\",\"rua\":[],\"pt\":\"sts\",\"pd\":\"a.example\","
     "\"ok\":true}",
     DG_E_PARSE},
    /* version 2 */
    {"{\"v\":2,\"t\":5,\"d\":\"a.example\",\"rua\":[\"mailto:x@a.example\"],\"pt\":\"sts\","
     "\"pd\":\"a.example\",\"ok\":true}",
     DG_E_PARSE},
    /* duplicate key */
    {"{\"v\":1,\"v\":1,\"t\":5,\"d\":\"a.example\",\"rua\":[\"mailto:x@a.example\"],"
     "\"pt\":\"sts\",\"pd\":\"a.example\",\"ok\":true}",
     DG_E_PARSE},
    /* nine rua */
    {"{\"v\":1,\"t\":5,\"d\":\"a.example\",\"rua\":[\"1\",\"2\",\"3\",\"4\",\"5\",\"6\",\"7\","
     "\"8\",\"9\"],\"pt\":\"sts\",\"pd\":\"a.example\",\"ok\":true}",
     DG_E_LIMIT},
    /* negative time, not an object */
    {"{\"v\":1,\"t\":-5,\"d\":\"a\",\"rua\":[\"m\"],\"pt\":\"sts\",\"pd\":\"a\",\"ok\":true}",
     DG_E_PARSE},
    {"[1,2]", DG_E_PARSE},
    {"", DG_E_PARSE},
};

static void test_event_parse(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(line_cases) / sizeof(line_cases[0]); i++) {
		struct dg_tlsrpt_event ev;
		struct dg_err err = {0};
		enum dg_status st = dg_tlsrpt_event_parse(line_cases[i].line,
		                                          strlen(line_cases[i].line), &ev, &err);

		if (st != line_cases[i].want)
			fail_msg("case %zu: got %s (%s), want %s", i, dg_status_str(st), err.msg,
			         dg_status_str(line_cases[i].want));
		if (st == DG_OK) {
			char *again = NULL;
			struct dg_tlsrpt_event ev2;

			/* format(parse(x)) parses to the same event */
			assert_int_equal(dg_tlsrpt_event_format(&ev, &again, NULL), DG_OK);
			assert_int_equal(
			    dg_tlsrpt_event_parse(again, strlen(again) - 1, &ev2, NULL), DG_OK);
			assert_string_equal(ev2.policy_domain, ev.policy_domain);
			assert_int_equal(ev2.policy_type, ev.policy_type);
			assert_int_equal(ev2.success, ev.success);
			assert_int_equal(ev2.n_strings, ev.n_strings);
			dg_tlsrpt_event_cleanup(&ev2);
			free(again);
			dg_tlsrpt_event_cleanup(&ev);
		}
	}
}

struct day_case {
	const char *day;
	enum dg_status want;
	uint64_t start;
};

static const struct day_case day_cases[] = {
    {"2026-03-14", DG_OK, DAY_T0},     {"1970-01-01", DG_OK, 0},
    {"2024-02-29", DG_OK, 1709164800}, {"2025-02-29", DG_E_PARSE, 0},
    {"2026-13-01", DG_E_PARSE, 0},     {"2026-3-14", DG_E_PARSE, 0},
    {"2026-03-14x", DG_E_PARSE, 0},    {"+026-03-14", DG_E_PARSE, 0},
};

static void test_day_parse(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(day_cases) / sizeof(day_cases[0]); i++) {
		uint64_t start = 1;
		enum dg_status st = dg_tlsrpt_day_parse(day_cases[i].day, &start);
		char back[DG_TLSRPT_DAY_SIZE];

		if (st != day_cases[i].want || (st == DG_OK && start != day_cases[i].start))
			fail_msg("%s: got %s %llu, want %s %llu", day_cases[i].day,
			         dg_status_str(st), (unsigned long long)start,
			         dg_status_str(day_cases[i].want),
			         (unsigned long long)day_cases[i].start);
		if (st == DG_OK) {
			dg_tlsrpt_day_name(start + 86399, back);
			assert_string_equal(back, day_cases[i].day);
		}
	}
}

/* ---- report fields (SPEC RPT-3) ------------------------------------------------------------ */

static void test_report_fields(void **state)
{
	struct dg_tlsrpt_day *d = dg_tlsrpt_day_new(DAY);
	struct dg_tlsrpt_event ev;
	json_t *rep;

	(void)state;
	assert_null(dg_tlsrpt_day_new("2026-02-30"));
	ev_fill(&ev, "b.example", false, "validation-failure", "mx.b.example", "198.51.100.7");
	ev.reason_code = "X509_V_ERR_CERT_HAS_EXPIRED";
	ev.sending_ip = "203.0.113.1";
	assert_int_equal(dg_tlsrpt_day_add(d, &ev), DG_OK);
	ev_fill(&ev, "b.example", false, "dnssec-invalid", NULL, NULL);
	ev.policy_type = DG_TLSRPT_POLICY_NONE;
	ev.policy_domain = "b.example";
	ev.n_strings = 0;
	assert_int_equal(dg_tlsrpt_day_add(d, &ev), DG_OK);
	rep = report_of(d, "b.example");
	assert_string_equal(jstr(rep, "organization-name", NULL), "Example Sender");
	assert_string_equal(jstr(rep, "contact-info", NULL), "tlsrpt-ops@sender.example");
	assert_string_equal(jstr(rep, "date-range", "start-datetime"), "2026-03-14T00:00:00Z");
	assert_string_equal(jstr(rep, "date-range", "end-datetime"), "2026-03-14T23:59:59Z");
	assert_string_equal(jstr(rep, "report-id", NULL),
	                    "2026-03-14T00:00:00Z_b.example@sender.example");
	assert_true(json_is_array(json_object_get(rep, "policies")));
	{
		json_t *fd =
		    json_array_get(json_object_get(policy_of(rep, "tlsa"), "failure-details"), 0);
		json_t *np = policy_of(rep, "no-policy-found");

		assert_string_equal(jstr(fd, "failure-reason-code", NULL),
		                    "X509_V_ERR_CERT_HAS_EXPIRED");
		assert_string_equal(jstr(fd, "sending-mta-ip", NULL), "203.0.113.1");
		assert_string_equal(jstr(fd, "receiving-mx-hostname", NULL), "mx.b.example");
		assert_null(json_object_get(json_object_get(np, "policy"), "policy-string"));
		assert_null(json_object_get(
		    json_array_get(json_object_get(np, "failure-details"), 0), "receiving-ip"));
	}
	json_decref(rep);
	dg_tlsrpt_day_free(d);
}

/* ---- gzip, file name, mail (SPEC RPT-7) ---------------------------------------------------- */

static char *gunzip(const uint8_t *p, size_t len, size_t *out_len)
{
	z_stream z;
	size_t cap = 1 << 20;
	char *out = malloc(cap);

	memset(&z, 0, sizeof(z));
	assert_int_equal(inflateInit2(&z, 15 + 16), Z_OK);
	z.next_in = (Bytef *)(uintptr_t)p;
	z.avail_in = (uInt)len;
	z.next_out = (Bytef *)out;
	z.avail_out = (uInt)cap - 1;
	assert_int_equal(inflate(&z, Z_FINISH), Z_STREAM_END);
	*out_len = z.total_out;
	out[z.total_out] = '\0';
	inflateEnd(&z);
	return out;
}

static void test_gzip_round_trip(void **state)
{
	static const char text[] = "{\"organization-name\":\"x\",\"policies\":[]}";
	uint8_t *gz = NULL;
	size_t gz_len = 0, n = 0;
	char *back;

	(void)state;
	assert_int_equal(dg_tlsrpt_gzip(text, strlen(text), &gz, &gz_len, NULL), DG_OK);
	assert_true(gz_len > 18);
	assert_int_equal(gz[0], 0x1f); /* RFC 1952 magic */
	assert_int_equal(gz[1], 0x8b);
	back = gunzip(gz, gz_len, &n);
	assert_int_equal(n, strlen(text));
	assert_string_equal(back, text);
	free(back);
	free(gz);
}

struct name_case {
	const char *submitter, *domain, *unique;
	enum dg_status want;
	const char *name;
};

static const struct name_case name_cases[] = {
    {"sender.example", "example.com", NULL, DG_OK,
     "sender.example!example.com!1773446400!1773532799.json.gz"},
    {"sender.example", "example.com", "r1", DG_OK,
     "sender.example!example.com!1773446400!1773532799!r1.json.gz"},
    {"sender.example", "ex!ample.com", NULL, DG_E_PARSE, NULL},
    {"sender.example", "../x", NULL, DG_E_PARSE, NULL},
    {"", "example.com", NULL, DG_E_PARSE, NULL},
};

static void test_file_name(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(name_cases) / sizeof(name_cases[0]); i++) {
		const struct name_case *c = &name_cases[i];
		char out[256] = "";
		enum dg_status st = dg_tlsrpt_file_name(
		    c->submitter, c->domain, DAY_T0, DAY_T0 + 86399, c->unique, out, sizeof(out));

		if (st != c->want || (st == DG_OK && strcmp(out, c->name) != 0))
			fail_msg("case %zu: got %s \"%s\", want %s \"%s\"", i, dg_status_str(st),
			         out, dg_status_str(c->want), c->name ? c->name : "");
	}
}

struct mailto_case {
	const char *uri;
	enum dg_status want;
	const char *addr;
};

static const struct mailto_case mailto_cases[] = {
    {"mailto:tlsrpt@example.com", DG_OK, "tlsrpt@example.com"},
    {"MAILTO:a%2Cb@example.com", DG_OK, "a,b@example.com"},
    {"mailto:r@example.com?subject=x", DG_OK, "r@example.com"},
    {"mailto:example.com", DG_E_PARSE, NULL},
    {"mailto:a%2@example.com", DG_E_PARSE, NULL},
    {"mailto:a%0D%0Ab@example.com", DG_E_PARSE, NULL},
    {"https://example.com/", DG_E_PARSE, NULL},
};

static void test_mailto(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(mailto_cases) / sizeof(mailto_cases[0]); i++) {
		char out[600] = "";
		enum dg_status st = dg_tlsrpt_mailto_addr(mailto_cases[i].uri, out, sizeof(out));

		if (st != mailto_cases[i].want ||
		    (st == DG_OK && strcmp(out, mailto_cases[i].addr) != 0))
			fail_msg("%s: got %s \"%s\", want %s \"%s\"", mailto_cases[i].uri,
			         dg_status_str(st), out, dg_status_str(mailto_cases[i].want),
			         mailto_cases[i].addr ? mailto_cases[i].addr : "");
	}
}

/* The value of header @p name in the header block of @p msg (first occurrence), or NULL. */
static char *header(const char *msg, const char *name)
{
	const char *end = strstr(msg, "\r\n\r\n");
	size_t n = strlen(name);

	for (const char *p = msg; p != NULL && p < end; p = strstr(p, "\r\n")) {
		if (p != msg)
			p += 2;
		if (strncmp(p, name, n) == 0 && p[n] == ':') {
			const char *v = p + n + 1, *e = strstr(v, "\r\n");

			while (*v == ' ')
				v++;
			return strndup(v, (size_t)(e - v));
		}
	}
	return NULL;
}

/* Check the structure of a report mail and return the JSON it carries (caller frees). */
static char *mail_check(const char *msg, size_t len, const char *domain)
{
	char *v, boundary[128], delim[140], *b64, *json;
	const char *ct, *part, *body, *end;
	size_t n = 0, gz_len;
	uint8_t *gz;
	int k;

	assert_int_equal(strlen(msg), len);
	v = header(msg, "TLS-Report-Domain");
	assert_non_null(v);
	assert_string_equal(v, domain);
	free(v);
	v = header(msg, "TLS-Report-Submitter");
	assert_string_equal(v, "sender.example");
	free(v);
	v = header(msg, "TLS-Required");
	assert_string_equal(v, "No");
	free(v);
	v = header(msg, "MIME-Version");
	assert_string_equal(v, "1.0");
	free(v);
	v = header(msg, "Subject");
	assert_non_null(v);
	assert_true(strncmp(v, "Report Domain: ", 15) == 0);
	assert_non_null(strstr(v, " Submitter: sender.example Report-ID: <"));
	free(v);
	assert_non_null(v = header(msg, "Message-ID"));
	free(v);
	assert_non_null(v = header(msg, "Date"));
	free(v);
	ct = strstr(msg, "Content-Type: multipart/report; report-type=\"tlsrpt\";");
	assert_non_null(ct);
	ct = strstr(ct, "boundary=\"");
	assert_non_null(ct);
	assert_int_equal(sscanf(ct, "boundary=\"%127[^\"]\"", boundary), 1);
	snprintf(delim, sizeof(delim), "\r\n--%s\r\n", boundary);
	part = strstr(msg, delim);
	assert_non_null(part);
	assert_non_null(strstr(part, "Content-Type: text/plain"));
	part = strstr(part + 1, delim);
	assert_non_null(part);
	assert_non_null(strstr(part, "Content-Type: application/tlsrpt+gzip"));
	assert_non_null(strstr(part, "Content-Transfer-Encoding: base64"));
	body = strstr(part, "\r\n\r\n") + 4;
	snprintf(delim, sizeof(delim), "\r\n--%s--\r\n", boundary);
	end = strstr(body, delim);
	assert_non_null(end);
	assert_int_equal(strlen(end), strlen(delim)); /* the closing delimiter ends the message */
	b64 = malloc((size_t)(end - body) + 1);
	for (const char *p = body; p < end; p++)
		if (*p != '\r' && *p != '\n')
			b64[n++] = *p;
	b64[n] = '\0';
	gz = malloc(n);
	k = EVP_DecodeBlock(gz, (const unsigned char *)b64, (int)n);
	assert_true(k > 0);
	gz_len = (size_t)k - (n >= 1 && b64[n - 1] == '=') - (n >= 2 && b64[n - 2] == '=');
	json = gunzip(gz, gz_len, &n);
	free(gz);
	free(b64);
	return json;
}

static void test_mail_structure(void **state)
{
	struct dg_tlsrpt_day *d = dg_tlsrpt_day_new(DAY);
	struct dg_tlsrpt_event ev;
	struct dg_tlsrpt_mail m;
	char *json = NULL, *msg = NULL, *back, name[256], id[256];
	uint8_t *gz = NULL;
	size_t gz_len = 0, len = 0;

	(void)state;
	ev_fill(&ev, "c.example", false, "certificate-host-mismatch", "mx.c.example", "192.0.2.9");
	assert_int_equal(dg_tlsrpt_day_add(d, &ev), DG_OK);
	assert_int_equal(dg_tlsrpt_report_build(d, 0, &test_meta, &json, NULL), DG_OK);
	assert_int_equal(dg_tlsrpt_gzip(json, strlen(json), &gz, &gz_len, NULL), DG_OK);
	assert_int_equal(dg_tlsrpt_file_name("sender.example", "c.example", DAY_T0, DAY_T0 + 86399,
	                                     NULL, name, sizeof(name)),
	                 DG_OK);
	assert_int_equal(dg_tlsrpt_report_id(DAY, "c.example", &test_meta, id, sizeof(id)), DG_OK);
	memset(&m, 0, sizeof(m));
	m.from = "tlsrpt-ops@sender.example";
	m.to = "tlsrpt@c.example";
	m.report_domain = "c.example";
	m.submitter = "sender.example";
	m.report_id = id;
	m.file_name = name;
	m.gz = gz;
	m.gz_len = gz_len;
	m.date = DAY_T0 + 86400 + 3600;
	assert_int_equal(dg_tlsrpt_mail_compose(&m, &msg, &len, NULL), DG_OK);
	back = mail_check(msg, len, "c.example");
	assert_string_equal(back, json);
	assert_non_null(strstr(msg, "filename=\"sender.example!c.example!1773446400!1773532799"
	                            ".json.gz\""));
	free(back);
	free(msg);
	/* a header value with CR LF is refused (header injection) */
	m.to = "x@c.example\r\nBcc: y@z.example";
	assert_int_equal(dg_tlsrpt_mail_compose(&m, &msg, &len, NULL), DG_E_PARSE);
	free(gz);
	free(json);
	dg_tlsrpt_day_free(d);
}

/* ---- the relay glue: policy strings, counting, one mail per report -------------------------- */

struct glue_fx {
	struct dg_domain_result res;
	struct dg_host_result host;
	struct relay_plan plan;
	const char *rua[1];
	const char *mx[2];
	char ids[4][DG_QUEUE_ID_SIZE];
	size_t n_ids;
};

static void glue_queued(void *arg, const char *id)
{
	struct glue_fx *fx = arg;

	if (fx->n_ids < 4)
		snprintf(fx->ids[fx->n_ids++], DG_QUEUE_ID_SIZE, "%s", id);
}

static void glue_attempt(struct relay_tlsrpt *t, struct glue_fx *fx, enum relay_req req, bool tls,
                         bool verified, const char *rpt_type)
{
	struct relay_attempt a;

	memset(&a, 0, sizeof(a));
	fx->plan.hosts[0].h = &fx->host;
	fx->plan.hosts[0].req = req;
	fx->plan.n_hosts = 1;
	a.id = "0123456789abcdef0123";
	a.domain = "d.example";
	a.res = &fx->res;
	a.plan = &fx->plan;
	a.host = &fx->plan.hosts[0];
	a.addr = "192.0.2.44";
	a.result = rpt_type == NULL ? "sent" : "host-failed";
	a.first_on_conn = true;
	a.tls = tls;
	a.verified = verified;
	a.rpt_type = rpt_type;
	relay_tlsrpt_attempt(t, &a);
}

static void test_relay_glue(void **state)
{
	struct glue_fx fx;
	struct dg_relay_conf conf;
	struct dg_queue *q = NULL;
	struct event_base *base = event_base_new();
	struct relay_tlsrpt *t = NULL;
	struct dg_tlsrpt_day *d = NULL;
	struct dg_queue_msg msg;
	static const uint8_t hash[4] = {0xde, 0xad, 0xbe, 0xef};
	char qdir[128], sdir[160], *json;
	json_t *rep, *tlsa, *sts, *ps;
	struct dg_err err = {0};

	(void)state;
	memset(&fx, 0, sizeof(fx));
	dg_clock_set_wall((time_t)DAY_T0 + 7200);
	snprintf(qdir, sizeof(qdir), "%s/queue", tmpdir);
	dg_relay_conf_init(&conf);
	assert_int_equal(dg_relay_conf_set(&conf, "queue", qdir, &err), DG_OK);
	assert_int_equal(
	    dg_relay_conf_set(&conf, "tlsrpt-contact", "tlsrpt-ops@sender.example", &err), DG_OK);
	assert_int_equal(dg_relay_conf_set(&conf, "tlsrpt-org", "Example Sender", &err), DG_OK);
	assert_int_equal(mkdir(qdir, 0700), 0);
	assert_int_equal(dg_queue_open(qdir, NULL, &q, &err), DG_OK);
	assert_int_equal(relay_tlsrpt_new(base, &conf, q, glue_queued, &fx, NULL, &t, &err), DG_OK);

	fx.rua[0] = "mailto:tlsrpt@d.example";
	fx.res.domain = "d.example";
	fx.res.tlsrpt.checked = true;
	fx.res.tlsrpt.status = DG_TLSRPT_VALID;
	fx.res.tlsrpt.rua = fx.rua;
	fx.res.tlsrpt.n_rua = 1;
	fx.host.name = "mx.d.example";
	fx.host.tlsa_base = "mx.d.example";
	fx.host.tlsa_set = dg_tlsa_set_new();
	assert_int_equal(dg_tlsa_set_add(fx.host.tlsa_set, 3, 1, 1, hash, sizeof(hash), NULL),
	                 DG_OK);
	assert_int_equal(dg_tlsa_set_add(fx.host.tlsa_set, 2, 0, 1, hash, sizeof(hash), NULL),
	                 DG_OK);
	fx.mx[0] = "mx.d.example";
	fx.mx[1] = "*.backup.d.example";
	fx.res.mta_sts.has_policy = true;
	fx.res.mta_sts.mode = DG_STS_MODE_ENFORCE;
	fx.res.mta_sts.max_age_s = 604800;
	fx.res.mta_sts.mx = fx.mx;
	fx.res.mta_sts.n_mx = 2;
	fx.plan.policy = "dane";

	glue_attempt(t, &fx, RELAY_REQ_DANE, true, true, NULL); /* success */
	glue_attempt(t, &fx, RELAY_REQ_DANE, true, true, NULL); /* success */
	glue_attempt(t, &fx, RELAY_REQ_DANE, true, false, "certificate-not-trusted");
	glue_attempt(t, &fx, RELAY_REQ_DANE, false, false, NULL); /* transient: no */
	glue_attempt(t, &fx, RELAY_REQ_STS, true, true, NULL);    /* sts success */
	fx.res.tlsrpt.status = DG_TLSRPT_INVALID;                 /* not recorded */
	glue_attempt(t, &fx, RELAY_REQ_DANE, true, true, NULL);
	fx.res.tlsrpt.status = DG_TLSRPT_VALID;

	assert_int_equal(dg_relay_tlsrpt_dir(&conf, sdir, sizeof(sdir)), DG_OK);
	assert_int_equal(dg_tlsrpt_day_load(sdir, DAY, &d, NULL, NULL), DG_OK);
	rep = report_of(d, "d.example");
	tlsa = policy_of(rep, "tlsa");
	assert_int_equal(jint(tlsa, "summary", "total-successful-session-count"), 2);
	assert_int_equal(jint(tlsa, "summary", "total-failure-session-count"), 1);
	assert_string_equal(jstr(tlsa, "policy", "policy-domain"), "mx.d.example");
	ps = json_object_get(json_object_get(tlsa, "policy"), "policy-string");
	assert_int_equal(json_array_size(ps), 2);
	assert_string_equal(json_string_value(json_array_get(ps, 0)), "3 1 1 deadbeef");
	assert_string_equal(json_string_value(json_array_get(ps, 1)), "2 0 1 deadbeef");
	sts = policy_of(rep, "sts");
	assert_int_equal(jint(sts, "summary", "total-successful-session-count"), 1);
	assert_string_equal(jstr(sts, "policy", "policy-domain"), "d.example");
	ps = json_object_get(json_object_get(sts, "policy"), "policy-string");
	assert_int_equal(json_array_size(ps), 5);
	assert_string_equal(json_string_value(json_array_get(ps, 0)), "version: STSv1");
	assert_string_equal(json_string_value(json_array_get(ps, 1)), "mode: enforce");
	assert_string_equal(json_string_value(json_array_get(ps, 2)), "mx: mx.d.example");
	assert_string_equal(json_string_value(json_array_get(ps, 3)), "mx: *.backup.d.example");
	assert_string_equal(json_string_value(json_array_get(ps, 4)), "max_age: 604800");
	assert_int_equal(
	    json_array_size(json_object_get(json_object_get(sts, "policy"), "mx-host")), 2);
	json_decref(rep);
	dg_tlsrpt_day_free(d);

	/* the day's run queues one mail with a real sender; a second run sends nothing */
	assert_int_equal(relay_tlsrpt_run_now(t, DAY), DG_OK);
	assert_int_equal(fx.n_ids, 1);
	assert_int_equal(dg_queue_get(q, fx.ids[0], &msg, &err), DG_OK);
	assert_string_equal(msg.sender, "tlsrpt-ops@sender.example");
	assert_int_equal(msg.n_rcpt, 1);
	assert_string_equal(msg.rcpt[0].addr, "tlsrpt@d.example");
	{
		char *text = strndup((const char *)msg.body, msg.body_len);

		json = mail_check(text, msg.body_len, "d.example");
		free(text);
	}
	rep = json_loads(json, 0, NULL);
	assert_non_null(rep);
	assert_string_equal(jstr(rep, "organization-name", NULL), "Example Sender");
	json_decref(rep);
	free(json);
	dg_queue_msg_cleanup(&msg);
	assert_int_equal(relay_tlsrpt_run_now(t, DAY), DG_OK);
	assert_int_equal(fx.n_ids, 1);
	relay_tlsrpt_free(t);
	/* a restart remembers: still nothing new */
	assert_int_equal(relay_tlsrpt_new(base, &conf, q, glue_queued, &fx, NULL, &t, &err), DG_OK);
	assert_int_equal(relay_tlsrpt_run_now(t, DAY), DG_OK);
	assert_int_equal(fx.n_ids, 1);
	relay_tlsrpt_free(t);

	dg_tlsa_set_free(fx.host.tlsa_set);
	dg_queue_free(q);
	dg_relay_conf_cleanup(&conf);
	event_base_free(base);
	dg_clock_reset_wall();
}

/* ---- --dump: reports for the JSON schema check --------------------------------------------- */

static int dump_reports(const char *dir)
{
	struct dg_tlsrpt_store *s = NULL;
	struct dg_tlsrpt_day *d = NULL;
	struct dg_tlsrpt_event ev;
	int rc = 0;

	snprintf(tmpdir, sizeof(tmpdir), "%s", dir);
	if (dg_tlsrpt_store_open(dir, &s, NULL) != DG_OK)
		return 1;
	store_fill(s);
	ev_fill(&ev, "b.example", false, "validation-failure", "mx.b.example", "198.51.100.7");
	ev.reason_code = "X509_V_ERR_CERT_HAS_EXPIRED";
	ev.sending_ip = "203.0.113.1";
	(void)dg_tlsrpt_store_append(s, &ev, NULL);
	ev_fill(&ev, "b.example", false, "dnssec-invalid", NULL, NULL);
	ev.policy_type = DG_TLSRPT_POLICY_NONE;
	ev.policy_domain = "b.example";
	ev.n_strings = 0;
	(void)dg_tlsrpt_store_append(s, &ev, NULL);
	dg_tlsrpt_store_free(s);
	if (dg_tlsrpt_day_load(dir, DAY, &d, NULL, NULL) != DG_OK)
		return 1;
	for (size_t i = 0; i < dg_tlsrpt_day_count(d); i++) {
		char *json = NULL, path[512];
		FILE *f;

		snprintf(path, sizeof(path), "%s/report-%zu.json", dir, i);
		if (dg_tlsrpt_report_build(d, i, &test_meta, &json, NULL) != DG_OK ||
		    (f = fopen(path, "w")) == NULL) {
			rc = 1;
			free(json);
			continue;
		}
		fputs(json, f);
		fclose(f);
		free(json);
	}
	dg_tlsrpt_day_free(d);
	return rc;
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_store_round_trip, setup_dir, teardown_dir),
	    cmocka_unit_test_setup_teardown(test_store_torn_line, setup_dir, teardown_dir),
	    cmocka_unit_test(test_event_parse),
	    cmocka_unit_test(test_day_parse),
	    cmocka_unit_test(test_report_fields),
	    cmocka_unit_test(test_gzip_round_trip),
	    cmocka_unit_test(test_file_name),
	    cmocka_unit_test(test_mailto),
	    cmocka_unit_test(test_mail_structure),
	    cmocka_unit_test_setup_teardown(test_relay_glue, setup_dir, teardown_dir),
	};

	if (argc == 3 && strcmp(argv[1], "--dump") == 0)
		return dump_reports(argv[2]);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
