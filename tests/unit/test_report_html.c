/*
 * test_report_html.c - dg_report_html() (lib/report/report_html.c): every section is there,
 * the operator table counts registered domains, and no string from the history can inject
 * markup: domain names, verdicts, codes, MX names and reasons carrying <script>, <img
 * onerror>, quotes that would close an attribute, and control bytes come out escaped.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <daneguard/report.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *render(const struct dg_html_report *r);
static void want(const char *page, const char *s);
static void want_not(const char *page, const char *s);

static char *render(const struct dg_html_report *r)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	struct dg_err err = {0};

	assert_non_null(f);
	assert_int_equal(dg_report_html(r, f, &err), DG_OK);
	fclose(f);
	return buf;
}

static void want(const char *page, const char *s)
{
	if (strstr(page, s) == NULL)
		fail_msg("page lacks \"%s\"", s);
}

static void want_not(const char *page, const char *s)
{
	if (strstr(page, s) != NULL)
		fail_msg("page contains \"%s\" (not escaped)", s);
}

static void test_sections_and_operators(void **state)
{
	struct dg_html_run runs[2] = {{.id = 1, .started = 1700000000, .complete = true},
				      {.id = 2, .started = 1700086400, .complete = true}};
	struct dg_html_domain doms[3] = {
	    {"a.test", "dane-ok", "dane-ok verified", "mx1.hoster.example", ""},
	    {"b.test", "dane-fail", "tlsa-mismatch", "mx2.hoster.example,mx.other.example",
	     "mx2.hoster.example: no TLSA record matched"},
	    {"c.test", "no-dane", "no-tlsa", "mx.c.test", ""}};
	struct dg_html_report r = {.db_name = "scan.db", .generated = 1700090000, .runs = runs,
				   .n_runs = 2, .domains_run = 2, .domains = doms, .n_domains = 3};
	char *page;

	(void)state;
	runs[0].count[DG_VERDICT_DANE_OK] = 2;
	runs[1].count[dg_report_html_verdict_index("dane-ok")] = 1;
	runs[1].count[dg_report_html_verdict_index("dane-fail")] = 1;
	runs[1].count[dg_report_html_verdict_index("no-dane")] = 1;
	assert_int_equal(dg_report_html_verdict_index("junk"), DG_HTML_VERDICTS - 1);
	page = render(&r);
	want(page, "<section id=\"verdicts\">");
	want(page, "<section id=\"coverage\">");
	want(page, "<section id=\"operators\">");
	want(page, "<section id=\"fail-list\">");
	want(page, "<section id=\"domains\">");
	want(page, "<svg");
	want(page, "1 of 3 domains (33.3%)");
	/* hoster.example: a.test and b.test (once each, though b has two hoster names) */
	want(page, "<tr><td>hoster.example</td><td>2</td><td>1</td><td>1</td><td>0</td></tr>");
	want(page, "Content-Security-Policy");
	want_not(page, "src=\"http");
	want_not(page, "href=\"http");
	free(page);
}

static void test_injection_escaped(void **state)
{
	static const char evil[] = "\"><script>alert(1)</script><img src=x onerror=alert(2)>'\x01";
	struct dg_html_run runs[1] = {{.id = 7, .complete = true}};
	struct dg_html_domain doms[1] = {{evil, evil, evil, evil, evil}};
	struct dg_html_fail fails[1] = {{.domain = evil, .verdict = evil, .codes = evil,
					 .runs = 2}};
	struct dg_html_report r = {.db_name = evil, .runs = runs, .n_runs = 1, .domains_run = 7,
				   .domains = doms, .n_domains = 1, .fails = fails,
				   .n_fails = 1};
	char *page;

	(void)state;
	runs[0].count[DG_HTML_VERDICTS - 1] = 1;
	page = render(&r);
	want_not(page, "<script>alert");
	want_not(page, "<img");
	want_not(page, "\"><script");
	want_not(page, "onerror=alert(2)>");
	want_not(page, "'\x01");
	want(page, "&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x "
		   "onerror=alert(2)&gt;&#39; ");
	/* exactly one script element: the page's own */
	assert_non_null(strstr(page, "<script>"));
	assert_null(strstr(strstr(page, "<script>") + 1, "<script>"));
	free(page);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_sections_and_operators),
	    cmocka_unit_test(test_injection_escaped),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
