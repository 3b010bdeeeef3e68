/*
 * scan_engine.c - the engine: options, lifecycle, per-check bookkeeping.
 *
 * Public: dg_engine_opts_init, dg_engine_new, dg_engine_free, dg_engine_check,
 * dg_engine_pending, dg_latency_observe (the stats' latency histograms),
 * dg_domain_result_free (dg_engine_get_stats: scan_probe.c), dg_verdict_str, dg_host_status_str,
 * dg_probe_key_str, dg_sts_policy_status_str, dg_sender_action_str.
 * Internal: scan_hold/scan_release (completion counting), scan_strdup,
 * scan_reason, scan_rrset_set.
 *
 * Ownership: the engine owns the DNS context, the DANE context, the probe
 * table, the MTA-STS fetcher and CA store, and every running check. A
 * finished check's result is handed to the callback, which owns it from then
 * on; strings in it live in its arena. The engine must not be freed from
 * inside a result callback (the MTA-STS fetcher may be reaping transfers).
 */
#include "scan_int.h"

#include <event2/event.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void check_finish(struct scan_check *chk);
static void host_summarize(struct dg_host_result *h);
static void check_abort(struct scan_check *chk);
static void check_unlink(struct scan_check *chk);
static void check_release(struct scan_check *chk);

const unsigned dg_latency_bounds_ms[DG_LATENCY_BUCKETS] = {5,   10,  25,   50,   100,
                                                            250, 500, 1000, 2500, 10000};

enum { SCAN_ARENA_CHUNK = 16384, SCAN_DEFAULT_TIMEOUT_MS = 10000, SCAN_DEFAULT_PROBES = 64,
       SCAN_DEFAULT_PROBES_PER_ADDR = 4, SCAN_DEFAULT_PROBES_PER_HOST = 8 };

void dg_engine_opts_init(struct dg_engine_opts *opts)
{
	memset(opts, 0, sizeof(*opts));
	dg_dns_opts_init(&opts->dns);
	opts->dns.timeout_ms = 0; /* 0: each DNS query waits timeout_ms like every other wait */
	opts->port = 25;
	opts->helo = "daneguard.invalid";
	opts->timeout_ms = SCAN_DEFAULT_TIMEOUT_MS;
	opts->ipv4 = true;
	opts->ipv6 = true;
	opts->both_key_types = true;
	opts->days = -1;
	opts->max_probes = SCAN_DEFAULT_PROBES;
	opts->max_probes_per_addr = SCAN_DEFAULT_PROBES_PER_ADDR;
	opts->max_probes_per_host = SCAN_DEFAULT_PROBES_PER_HOST;
	opts->conn_delay_ms = 0; /* check: one domain; scan sets DG_ENGINE_SCAN_CONN_DELAY_MS */
	opts->probe_non_dane = true;
	opts->mta_sts = true;
	opts->ca_file = NULL;
	opts->sts_port = 443;
}

enum dg_status dg_engine_new(struct event_base *base, const struct dg_engine_opts *opts,
			     struct dg_dns *dns, struct dg_engine **out, struct dg_err *err)
{
	struct dg_engine *eng = dg_xcalloc(1, sizeof(*eng));
	enum dg_status st;

	*out = NULL;
	eng->base = base;
	eng->opts = *opts;
	eng->stats.min_addr_gap_ms = UINT64_MAX;
	if (eng->opts.max_probes == 0)
		eng->opts.max_probes = 1;
	if (eng->opts.dns.timeout_ms == 0)
		eng->opts.dns.timeout_ms = eng->opts.timeout_ms;
	if (dns != NULL) {
		eng->dns = dns;
	} else {
		st = dg_dns_new(base, &eng->opts.dns, &eng->dns, err);
		if (st != DG_OK)
			goto fail;
	}
	st = dg_dane_ctx_new(NULL, &eng->dane, err);
	if (st != DG_OK)
		goto fail;
	if (eng->opts.mta_sts) {
		st = dg_sts_ca_store_new(eng->opts.ca_file, &eng->sts_store, err);
		if (st == DG_OK)
			st = dg_sts_fetcher_new(base, &eng->sts_fetcher, err);
		if (st != DG_OK)
			goto fail;
	}
	*out = eng;
	return DG_OK;
fail:
	dg_engine_free(eng);
	return st;
}

void dg_engine_free(struct dg_engine *eng)
{
	if (eng == NULL)
		return;
	while (eng->checks != NULL) {
		check_abort(eng->checks);
	}
	scan_probe_table_free(eng);
	dg_sts_fetcher_free(eng->sts_fetcher);
	X509_STORE_free(eng->sts_store);
	dg_dane_ctx_free(eng->dane);
	dg_dns_free(eng->dns);
	free(eng);
}

void dg_latency_observe(struct dg_latency_hist *h, uint64_t ms)
{
	size_t i = 0;

	while (i < DG_LATENCY_BUCKETS && ms > dg_latency_bounds_ms[i])
		i++;
	h->bucket[i]++;
	h->count++;
	h->sum_ms += ms;
}

size_t dg_engine_pending(const struct dg_engine *eng)
{
	return eng->n_checks;
}

enum dg_status dg_engine_check(struct dg_engine *eng, const char *domain, dg_engine_cb *cb,
			       void *arg, struct dg_err *err)
{
	char name[DG_NAME_BUF_SIZE];
	struct scan_check *chk;
	enum dg_status st;

	st = dg_name_normalize(domain, name, sizeof(name), err);
	if (st != DG_OK)
		return st;
	eng->stats.checks_started++;
	chk = dg_xcalloc(1, sizeof(*chk));
	chk->eng = eng;
	chk->cb = cb;
	chk->arg = arg;
	chk->arena = dg_xmalloc(sizeof(*chk->arena));
	dg_arena_init(chk->arena, SCAN_ARENA_CHUNK);
	chk->res = dg_xcalloc(1, sizeof(*chk->res));
	chk->res->arena = chk->arena;
	chk->res->domain = scan_strdup(chk, name);
	chk->res->checked_at = dg_clock_wall();
	chk->started_ms = dg_clock_mono_ms();
	chk->next = eng->checks;
	if (eng->checks != NULL)
		eng->checks->prev = chk;
	eng->checks = chk;
	eng->n_checks++;
	scan_hold(chk); /* released below, so a synchronous answer cannot finish early */
	st = scan_domain_start(chk, err);
	if (st != DG_OK) {
		check_abort(chk);
		return st;
	}
	scan_release(chk);
	return DG_OK;
}

void scan_hold(struct scan_check *chk)
{
	chk->pending++;
}

void scan_release(struct scan_check *chk)
{
	if (chk->pending <= 0)
		DG_PANIC("scan: check %s released more often than held", chk->res->domain);
	if (--chk->pending == 0)
		check_finish(chk);
}

static void check_finish(struct scan_check *chk)
{
	struct dg_domain_result *res = chk->res;
	dg_engine_cb *cb = chk->cb;
	void *arg = chk->arg;

	for (size_t i = 0; i < res->n_hosts; i++)
		host_summarize(&res->hosts[i]);
	res->verdict = scan_domain_verdict(res, &res->code);
	scan_sts_finish(chk);
	res->elapsed_ms = dg_clock_mono_ms() - chk->started_ms;
	check_unlink(chk);
	check_release(chk);
	free(chk);
	cb(arg, res);
}

/* The host's status speaks for its addresses; their reasons become the host's. */
static void host_summarize(struct dg_host_result *h)
{
	h->status = scan_host_status(h, &h->code);
	for (size_t i = 0; i < h->n_addrs; i++) {
		const struct dg_reasons *ar = &h->addrs[i].reasons;

		if (h->addrs[i].code == NULL) { /* never probed: the host's verdict holds */
			h->addrs[i].status = h->status;
			h->addrs[i].code = h->code;
		}

		for (size_t j = 0; j < ar->n && h->reasons.n < DG_MAX_REASONS; j++) {
			bool dup = false;

			for (size_t k = 0; k < h->reasons.n && !dup; k++)
				dup = strcmp(h->reasons.text[k], ar->text[j]) == 0;
			if (!dup)
				h->reasons.text[h->reasons.n++] = ar->text[j];
		}
	}
}

static void check_abort(struct scan_check *chk)
{
	check_unlink(chk);
	scan_probe_forget_check(chk->eng, chk);
	check_release(chk);
	dg_domain_result_free(chk->res);
	free(chk);
}

static void check_unlink(struct scan_check *chk)
{
	struct dg_engine *eng = chk->eng;

	if (chk->prev != NULL)
		chk->prev->next = chk->next;
	else
		eng->checks = chk->next;
	if (chk->next != NULL)
		chk->next->prev = chk->prev;
	eng->n_checks--;
}

/* Cancel what the check still waits for and free its per-host state. */
static void check_release(struct scan_check *chk)
{
	struct dg_dns *dns = chk->eng->dns;

	if (chk->mx_query != 0)
		dg_dns_cancel(dns, chk->mx_query);
	scan_sts_release(chk);
	for (size_t i = 0; chk->hosts != NULL && i < chk->res->n_hosts; i++) {
		struct scan_host *sh = &chk->hosts[i];
		uint64_t *q[] = {&sh->q_a, &sh->q_aaaa, &sh->q_cname, &sh->q_tlsa};

		for (size_t k = 0; k < sizeof(q) / sizeof(q[0]); k++)
			if (*q[k] != 0)
				dg_dns_cancel(dns, *q[k]);
		dg_dns_answer_cleanup(&sh->ans_a);
		dg_dns_answer_cleanup(&sh->ans_aaaa);
		free(sh->addrs);
	}
	free(chk->hosts);
	chk->hosts = NULL;
}

void dg_domain_result_free(struct dg_domain_result *res)
{
	if (res == NULL)
		return;
	for (size_t i = 0; i < res->n_hosts; i++) {
		struct dg_host_result *h = &res->hosts[i];

		dg_tlsa_set_free(h->tlsa_set);
		dg_tlsa_advice_cleanup(&h->advice);
		for (size_t j = 0; j < h->n_addrs; j++)
			for (size_t k = 0; k < h->addrs[j].n_probes; k++)
				for (size_t c = 0; c < h->addrs[j].probes[k].n_chain; c++)
					dg_cert_info_cleanup(&h->addrs[j].probes[k].chain[c]);
	}
	if (res->arena != NULL) {
		dg_arena_cleanup(res->arena);
		free(res->arena);
	}
	free(res);
}

const char *scan_strdup(struct scan_check *chk, const char *s)
{
	return s == NULL ? NULL : dg_arena_strdup(chk->arena, s);
}

void scan_reason(struct scan_check *chk, struct dg_reasons *r, const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	if (r->n >= DG_MAX_REASONS)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	r->text[r->n++] = dg_arena_strdup(chk->arena, buf);
}

void scan_rrset_set(struct scan_check *chk, struct dg_rrset_info *ri,
		    const struct dg_dns_answer *ans)
{
	ri->done = true;
	ri->name = scan_strdup(chk, ans->qname);
	ri->security = ans->security;
	ri->outcome = ans->outcome;
	ri->ttl_s = ans->ttl_s;
	ri->orig_ttl_s = ans->orig_ttl_s;
	ri->canonical = ans->n_chain > 0 ? scan_strdup(chk, ans->canonical) : NULL;
	ri->why = scan_strdup(chk, ans->why_bogus != NULL ? ans->why_bogus : ans->reason);
}

const char *dg_verdict_str(enum dg_verdict v)
{
	switch (v) {
	case DG_VERDICT_DANE_OK: return "dane-ok";
	case DG_VERDICT_DANE_PARTIAL: return "dane-partial";
	case DG_VERDICT_DANE_FAIL: return "dane-fail";
	case DG_VERDICT_NO_DANE: return "no-dane";
	case DG_VERDICT_DNSSEC_BOGUS: return "dnssec-bogus";
	case DG_VERDICT_TEMP_FAIL: return "temp-fail";
	case DG_VERDICT_NULL_MX: return "null-mx";
	}
	return "unknown";
}

const char *dg_host_status_str(enum dg_host_status s)
{
	switch (s) {
	case DG_HOST_VERIFIED: return "verified";
	case DG_HOST_TLSA_MISMATCH: return "tlsa-mismatch";
	case DG_HOST_STARTTLS_MISSING: return "starttls-missing";
	case DG_HOST_TLS_FAILED: return "tls-failed";
	case DG_HOST_TLSA_UNUSABLE: return "tlsa-unusable";
	case DG_HOST_NO_TLSA: return "no-tlsa";
	case DG_HOST_INSECURE: return "insecure";
	case DG_HOST_BOGUS: return "bogus";
	case DG_HOST_UNREACHABLE: return "unreachable";
	case DG_HOST_DNS_ERROR: return "dns-error";
	}
	return "unknown";
}

const char *dg_probe_key_str(enum dg_probe_key k)
{
	switch (k) {
	case DG_PROBE_KEY_ANY: return "any";
	case DG_PROBE_KEY_ECDSA: return "ecdsa";
	case DG_PROBE_KEY_RSA: return "rsa";
	}
	return "unknown";
}

const char *dg_sts_policy_status_str(enum dg_sts_policy_status s)
{
	switch (s) {
	case DG_STS_POLICY_ABSENT: return "absent";
	case DG_STS_POLICY_VALID: return "valid";
	case DG_STS_POLICY_FETCH_ERROR: return "fetch-error";
	case DG_STS_POLICY_INVALID: return "invalid";
	}
	return "unknown";
}

const char *dg_sender_action_str(enum dg_sender_action a)
{
	switch (a) {
	case DG_SEND_AUTHENTICATED: return "deliver-authenticated";
	case DG_SEND_UNAUTHENTICATED: return "deliver-unauthenticated";
	case DG_SEND_DEFER: return "defer";
	}
	return "unknown";
}
