/*
 * fuzz_tlsrpt_store.c - libFuzzer target for the TLS-RPT journal line parser
 * (lib/tlsrpt/tlsrpt_store.c, dg_tlsrpt_event_parse) and what consumes its events.
 *
 * Input: one journal line without its newline. Invariants (violations abort): an error
 * carries a message; a parsed event has a report and policy domain, 1..DG_TLSRPT_RUA_MAX rua,
 * a result type when it is a failure; formatting it gives one line ending in "\n" that parses
 * back to the same event; counting it and building the report gives JSON with exactly one
 * policy whose summary counts the event once.
 */
#include <daneguard/tlsrpt.h>
#include <daneguard/util.h>

#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_same(const struct dg_tlsrpt_event *a, const struct dg_tlsrpt_event *b);
static void fuzz_report(const struct dg_tlsrpt_event *ev);

static bool str_same(const char *a, const char *b)
{
	return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

static void fuzz_same(const struct dg_tlsrpt_event *a, const struct dg_tlsrpt_event *b)
{
	if (a->time_s != b->time_s || a->success != b->success ||
	    a->policy_type != b->policy_type || a->n_rua != b->n_rua ||
	    a->n_strings != b->n_strings || a->n_mx != b->n_mx ||
	    !str_same(a->report_domain, b->report_domain) ||
	    !str_same(a->policy_domain, b->policy_domain))
		abort();
	for (size_t i = 0; i < a->n_strings; i++)
		if (!str_same(a->strings[i], b->strings[i]))
			abort();
	if (!a->success &&
	    (!str_same(a->result_type, b->result_type) || !str_same(a->mx_host, b->mx_host) ||
	     !str_same(a->receiving_ip, b->receiving_ip) ||
	     !str_same(a->reason_code, b->reason_code)))
		abort();
}

static void fuzz_report(const struct dg_tlsrpt_event *ev)
{
	static const struct dg_tlsrpt_meta meta = {"fuzz", "a@b.example", "b.example"};
	struct dg_tlsrpt_day *d = dg_tlsrpt_day_new("2026-01-01");
	char *text = NULL;
	json_t *j, *pol, *sum;
	json_int_t ok, failed;

	if (d == NULL || dg_tlsrpt_day_add(d, ev) != DG_OK || dg_tlsrpt_day_count(d) != 1)
		abort();
	if (dg_tlsrpt_report_build(d, 0, &meta, &text, NULL) != DG_OK)
		abort();
	j = json_loads(text, 0, NULL);
	if (j == NULL || json_array_size(json_object_get(j, "policies")) != 1)
		abort();
	pol = json_array_get(json_object_get(j, "policies"), 0);
	sum = json_object_get(pol, "summary");
	ok = json_integer_value(json_object_get(sum, "total-successful-session-count"));
	failed = json_integer_value(json_object_get(sum, "total-failure-session-count"));
	if (ok + failed != 1 || (ok == 1) != ev->success)
		abort();
	json_decref(j);
	free(text);
	dg_tlsrpt_day_free(d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dg_tlsrpt_event ev, back;
	struct dg_err err = {0};
	enum dg_status st;
	char *line = NULL;
	size_t n;

	st = dg_tlsrpt_event_parse((const char *)data, size, &ev, &err);
	if (st != DG_OK) {
		if (err.msg[0] == '\0' || ev.priv != NULL)
			abort();
		return 0;
	}
	if (ev.report_domain == NULL || ev.policy_domain == NULL || ev.n_rua == 0 ||
	    ev.n_rua > DG_TLSRPT_RUA_MAX || (!ev.success && ev.result_type == NULL))
		abort();
	if (dg_tlsrpt_event_format(&ev, &line, &err) == DG_OK) {
		n = strlen(line);
		if (n == 0 || line[n - 1] != '\n' || memchr(line, '\n', n - 1) != NULL)
			abort();
		if (dg_tlsrpt_event_parse(line, n - 1, &back, &err) != DG_OK)
			abort();
		fuzz_same(&ev, &back);
		dg_tlsrpt_event_cleanup(&back);
		free(line);
	}
	fuzz_report(&ev);
	dg_tlsrpt_event_cleanup(&ev);
	return 0;
}
