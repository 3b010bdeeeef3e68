/*
 * test_tlsrpt.c - lib/tlsrpt: the _smtp._tls TXT record and its selection (SPEC RPT-1, SPEC
 * section 14 row 15). Tables of input and expected result; failures print "got X, want Y".
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <daneguard/tlsrpt.h>
#include <daneguard/util.h>

#include <string.h>

struct rpt_case {
	const char *in;
	enum dg_status want;
	size_t n_rua;
	const char *rua0, *rua1;
};

static const struct rpt_case rpt_cases[] = {
	{"v=TLSRPTv1; rua=mailto:tlsrpt@example.com", DG_OK, 1, "mailto:tlsrpt@example.com", NULL},
	{"v=TLSRPTv1;rua=mailto:a@example.com, https://rpt.example.com/v1/tlsrpt;", DG_OK, 2,
	 "mailto:a@example.com", "https://rpt.example.com/v1/tlsrpt"},
	{"v=TLSRPTv1; rua=mailto:a%2Cb@example.com,mailto:c@example.net; x-ext=1", DG_OK, 2,
	 "mailto:a%2Cb@example.com", "mailto:c@example.net"},
	{"v=TLSRPTv1; rua=https://rpt.example.com:8443/x?y=z", DG_OK, 1,
	 "https://rpt.example.com:8443/x?y=z", NULL},
	{"v=TLSRPTv1; rua=MAILTO:x@Example.com", DG_OK, 1, "MAILTO:x@Example.com", NULL},
	{"v=TLSRPTv1", DG_E_PARSE, 0, NULL, NULL},
	{"v=TLSRPTv1;", DG_E_PARSE, 0, NULL, NULL},
	{"v=TLSRPTv1; rua=", DG_E_PARSE, 0, NULL, NULL},
	{"v=TLSRPTv1; rua=ftp://example.com/x", DG_E_PARSE, 0, NULL, NULL},
	{"v=TLSRPTv1; rua=mailto:example.com", DG_E_PARSE, 0, NULL, NULL},
	{"v=TLSRPTv1; rua=mailto:@example.com", DG_E_PARSE, 0, NULL, NULL},
	{"v=TLSRPTv1; rua=mailto:a@b@", DG_E_PARSE, 0, NULL, NULL},
	{"v=TLSRPTv1; rua=https://", DG_E_PARSE, 0, NULL, NULL},
	{"v=TLSRPTv1; rua=https://host:port/", DG_E_PARSE, 0, NULL, NULL},
	{"v=TLSRPTv1; rua=mailto:a%zz@example.com", DG_E_PARSE, 0, NULL, NULL},
	{"v=TLSRPTv1; rua=mailto:a!b@example.com", DG_E_PARSE, 0, NULL, NULL},
	{"v=TLSRPTv1; rua=mailto:a@example.com; rua=mailto:b@example.com", DG_E_PARSE, 0, NULL, NULL},
	{"v=TLSRPTv1; rua=mailto:a@example.com,", DG_E_PARSE, 0, NULL, NULL},
	{"v=TLSRPTv1 rua=mailto:a@example.com", DG_E_PARSE, 0, NULL, NULL},
	{"v=TLSRPTv1; rua=a@x.com,b@x.com,c@x.com,d@x.com,e@x.com,f@x.com,g@x.com,h@x.com,i@x.com",
	 DG_E_PARSE, 0, NULL, NULL}, /* no scheme: the first one fails */
	{"v=TLSRPTv1; rua=mailto:1@x.com,mailto:2@x.com,mailto:3@x.com,mailto:4@x.com,"
	 "mailto:5@x.com,mailto:6@x.com,mailto:7@x.com,mailto:8@x.com,mailto:9@x.com",
	 DG_E_LIMIT, 0, NULL, NULL},
	{"v=TLSRPTv2; rua=mailto:a@example.com", DG_E_NOTFOUND, 0, NULL, NULL},
	{"v=TLSRPTv10; rua=mailto:a@example.com", DG_E_NOTFOUND, 0, NULL, NULL},
	{"rua=mailto:a@example.com; v=TLSRPTv1", DG_E_NOTFOUND, 0, NULL, NULL},
	{"v=spf1 -all", DG_E_NOTFOUND, 0, NULL, NULL},
};

static void test_parse(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(rpt_cases) / sizeof(rpt_cases[0]); i++) {
		const struct rpt_case *c = &rpt_cases[i];
		struct dg_tlsrpt r;
		struct dg_err err;
		enum dg_status got;

		dg_err_clear(&err);
		got = dg_tlsrpt_parse(c->in, strlen(c->in), &r, &err);
		if (got != c->want)
			fail_msg("\"%s\": got %s (%s), want %s", c->in, dg_status_str(got), err.msg,
				 dg_status_str(c->want));
		if (got != DG_OK)
			continue;
		if (r.n_rua != c->n_rua)
			fail_msg("\"%s\": got %zu rua, want %zu", c->in, r.n_rua, c->n_rua);
		if (c->rua0 != NULL && strcmp(r.rua[0], c->rua0) != 0)
			fail_msg("\"%s\": got rua[0] %s, want %s", c->in, r.rua[0], c->rua0);
		if (c->rua1 != NULL && strcmp(r.rua[1], c->rua1) != 0)
			fail_msg("\"%s\": got rua[1] %s, want %s", c->in, r.rua[1], c->rua1);
	}
}

static void test_select(void **state)
{
	static const struct {
		const char *recs[3];
		enum dg_tlsrpt_status want;
	} cases[] = {
	    {{NULL}, DG_TLSRPT_ABSENT},
	    {{"v=spf1 -all"}, DG_TLSRPT_ABSENT},
	    {{"v=spf1 -all", "v=TLSRPTv1; rua=mailto:a@example.com"}, DG_TLSRPT_VALID},
	    {{"v=TLSRPTv1; rua=mailto:a@example.com", "v=TLSRPTv1; rua=mailto:b@example.com"},
	     DG_TLSRPT_INVALID}, /* SPEC section 14 row 15 */
	    {{"v=TLSRPTv1; rua=ftp://x.example"}, DG_TLSRPT_INVALID},
	};
	struct dg_tlsrpt r;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *txt[3];
		size_t lens[3], n = 0;
		struct dg_err err;
		enum dg_tlsrpt_status got;

		for (; n < 3 && cases[i].recs[n] != NULL; n++) {
			txt[n] = cases[i].recs[n];
			lens[n] = strlen(txt[n]);
		}
		dg_err_clear(&err);
		got = dg_tlsrpt_select(txt, lens, n, &r, &err);
		if (got != cases[i].want)
			fail_msg("case %zu: got %s, want %s", i, dg_tlsrpt_status_str(got),
				 dg_tlsrpt_status_str(cases[i].want));
		if (got == DG_TLSRPT_INVALID && err.msg[0] == '\0')
			fail_msg("case %zu: invalid without a message", i);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse),
	    cmocka_unit_test(test_select),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
