/*
 * report_json.c - one domain result as a "daneguard/check/1" JSON object (jansson).
 *
 * Public: dg_report_json.
 *
 * The field names are the contract of issues #3 and #5 (mta_sts, tlsrpt, senders, and per host
 * mta_sts_match, pkix_valid) and docs/json.md; they are stable within schema
 * version 1. Absent values are JSON null, never missing keys, except "days" (only when --days
 * was asked) and "transcript" (only when verbose and present). Strings that are not valid
 * UTF-8 are written escaped (dg_str_escape) rather than dropped.
 *
 * Ownership: the result is borrowed; the returned object belongs to the caller (json_decref).
 * Allocation failure aborts (STYLE.md section 4). SPEC section 13 codes are copied from the
 * result as they are.
 */
#include "report/report_int.h"

#include <stdlib.h>
#include <string.h>

static json_t *j_str(const char *s);
static void j_set(json_t *obj, const char *key, json_t *val);
static void j_append(json_t *arr, json_t *val);
static json_t *j_new_object(void);
static json_t *j_new_array(void);
static json_t *j_reasons(const struct dg_reasons *r);
static json_t *j_rrset(const struct dg_rrset_info *ri);
static json_t *j_tlsa_rr(const struct dg_host_result *host, size_t i);
static json_t *j_tlsa(const struct dg_host_result *host);
static json_t *j_advice(const struct dg_tlsa_advice *adv);
static json_t *j_cert(const struct dg_cert_info *ci);
static json_t *j_dane(const struct dg_host_result *host, const struct dg_probe_report *pr);
static json_t *j_days(const struct dg_probe_report *pr, const struct dg_report_opts *opts);
static json_t *j_probe(const struct dg_host_result *host, const struct dg_probe_report *pr,
                       const struct dg_report_opts *opts);
static json_t *j_addr(const struct dg_host_result *host, const struct dg_addr_result *a,
                      const struct dg_report_opts *opts);
static json_t *j_host(const struct dg_host_result *host, const struct dg_report_opts *opts);
static json_t *j_tri(enum dg_tri t);
static json_t *j_strings(const char *const *s, size_t n);
static json_t *j_mta_sts(const struct dg_sts_result *m);
static json_t *j_tlsrpt(const struct dg_tlsrpt_result *t);
static json_t *j_senders(const struct dg_senders *s);

/* ---- jansson wrappers: NULL-safe, abort on allocation failure ---------------------------- */

static json_t *j_str(const char *s)
{
	json_t *v;
	char *esc;
	size_t len;

	if (s == NULL)
		return json_null();
	v = json_string(s);
	if (v != NULL)
		return v;
	/* not UTF-8: keep it readable instead of losing it */
	len = strlen(s);
	esc = dg_xmalloc(4 * len + 4);
	dg_str_escape(esc, 4 * len + 4, s, len);
	v = json_string(esc);
	free(esc);
	if (v == NULL)
		DG_PANIC("json_string failed");
	return v;
}

static void j_set(json_t *obj, const char *key, json_t *val)
{
	if (val == NULL || json_object_set_new(obj, key, val) != 0)
		DG_PANIC("json: cannot set \"%s\"", key);
}

static void j_append(json_t *arr, json_t *val)
{
	if (val == NULL || json_array_append_new(arr, val) != 0)
		DG_PANIC("json: cannot append to an array");
}

static json_t *j_new_object(void)
{
	json_t *o = json_object();

	if (o == NULL)
		DG_PANIC("json_object failed");
	return o;
}

static json_t *j_new_array(void)
{
	json_t *a = json_array();

	if (a == NULL)
		DG_PANIC("json_array failed");
	return a;
}

/* ---- pieces ------------------------------------------------------------------------------- */

static json_t *j_reasons(const struct dg_reasons *r)
{
	json_t *arr = j_new_array();
	size_t n = r->n < DG_MAX_REASONS ? r->n : DG_MAX_REASONS;

	for (size_t i = 0; i < n; i++)
		if (r->text[i] != NULL)
			j_append(arr, j_str(r->text[i]));
	return arr;
}

/* One DNS lookup: null when it was not made. */
static json_t *j_rrset(const struct dg_rrset_info *ri)
{
	json_t *o;

	if (!ri->done)
		return json_null();
	o = j_new_object();
	j_set(o, "name", j_str(ri->name));
	j_set(o, "status", j_str(dg_dns_security_str(ri->security)));
	j_set(o, "outcome", j_str(dg_dns_outcome_str(ri->outcome)));
	j_set(o, "ttl", json_integer(ri->ttl_s));
	j_set(o, "orig_ttl", ri->orig_ttl_s != 0 ? json_integer(ri->orig_ttl_s) : json_null());
	j_set(o, "canonical", j_str(ri->canonical));
	j_set(o, "why", j_str(ri->why));
	return o;
}

/* Record i of the host's TLSA set, with its usability (SPEC TLSA-2, TLSA-3). */
static json_t *j_tlsa_rr(const struct dg_host_result *host, size_t i)
{
	const struct dg_tlsa_rr *rr = &host->tlsa_set->rr[i];
	enum dg_tlsa_usability u = report_rr_usability(host, i);
	char note[DG_TLSA_DESCR_MAX];
	char *hex = report_hex(rr->data, rr->len);
	json_t *o = j_new_object();

	dg_tlsa_rr_describe(rr, i + 1, note, sizeof(note));
	j_set(o, "index", json_integer((json_int_t)i + 1));
	j_set(o, "usage", json_integer(rr->usage));
	j_set(o, "selector", json_integer(rr->selector));
	j_set(o, "mtype", json_integer(rr->mtype));
	j_set(o, "data", j_str(hex));
	j_set(o, "usable", json_boolean(u == DG_TLSA_USABLE));
	j_set(o, "usability", j_str(dg_tlsa_usability_str(u)));
	j_set(o, "note", j_str(note));
	free(hex);
	return o;
}

static json_t *j_tlsa(const struct dg_host_result *host)
{
	json_t *arr = j_new_array();

	if (host->tlsa_set == NULL)
		return arr;
	for (size_t i = 0; i < host->tlsa_set->count; i++)
		j_append(arr, j_tlsa_rr(host, i));
	return arr;
}

static json_t *j_advice(const struct dg_tlsa_advice *adv)
{
	json_t *arr = j_new_array();

	for (size_t i = 0; i < adv->count; i++) {
		const struct dg_tlsa_advice_item *it = &adv->item[i];
		json_t *o = j_new_object();

		j_set(o, "code", j_str(it->code));
		j_set(o, "severity", j_str(dg_tlsa_severity_str(it->severity)));
		j_set(o, "spec", j_str(it->spec));
		j_set(o, "record", json_integer((json_int_t)it->record));
		j_set(o, "text", j_str(it->text));
		j_append(arr, o);
	}
	return arr;
}

static json_t *j_cert(const struct dg_cert_info *ci)
{
	char nb[REPORT_TIME_MAX], na[REPORT_TIME_MAX];
	json_t *o = j_new_object();
	json_t *names = j_new_array();

	for (size_t i = 0; i < ci->n_names; i++)
		j_append(names, j_str(ci->names[i]));
	j_set(o, "subject", j_str(ci->subject));
	j_set(o, "issuer", j_str(ci->issuer));
	j_set(o, "spki_sha256", j_str(ci->spki_sha256));
	j_set(o, "cert_sha256", j_str(ci->cert_sha256));
	j_set(o, "not_before", j_str(dg_report_time(ci->not_before, nb, sizeof(nb))));
	j_set(o, "not_after", j_str(dg_report_time(ci->not_after, na, sizeof(na))));
	j_set(o, "key", j_str(ci->key_desc));
	j_set(o, "names", names);
	j_set(o, "ca", json_boolean(ci->is_ca));
	j_set(o, "self_signed", json_boolean(ci->self_signed));
	return o;
}

/* The DANE verdict on a probe's chain (SPEC OSSL-8: matched record and depth). */
static json_t *j_dane(const struct dg_host_result *host, const struct dg_probe_report *pr)
{
	json_t *o = j_new_object();
	bool checked = pr->dane_checked;

	j_set(o, "checked", json_boolean(checked));
	j_set(o, "verified", json_boolean(checked && pr->verified));
	j_set(o, "fail",
	      checked ? j_str(dg_dane_fail_str((enum dg_dane_fail)pr->dane_fail)) : json_null());
	j_set(o, "depth", checked && pr->depth >= 0 ? json_integer(pr->depth) : json_null());
	j_set(o, "matched",
	      checked && report_matched_rr(host, pr) != NULL
	          ? j_tlsa_rr(host, (size_t)pr->matched_index)
	          : json_null());
	j_set(o, "peername", j_str(pr->peername));
	j_set(o, "reason", j_str(pr->dane_reason));
	return o;
}

/* --days N: only when asked (days_ok != -1). */
static json_t *j_days(const struct dg_probe_report *pr, const struct dg_report_opts *opts)
{
	json_t *o = j_new_object();

	j_set(o, "ahead", opts->days >= 0 ? json_integer(opts->days) : json_null());
	j_set(o, "ok", json_boolean(pr->days_ok == 1));
	j_set(o, "reason", j_str(pr->days_reason));
	return o;
}

static json_t *j_probe(const struct dg_host_result *host, const struct dg_probe_report *pr,
                       const struct dg_report_opts *opts)
{
	json_t *o = j_new_object();
	json_t *chain = j_new_array();
	size_t n_chain = pr->n_chain < DG_MAX_CHAIN ? pr->n_chain : DG_MAX_CHAIN;

	for (size_t i = 0; i < n_chain; i++)
		j_append(chain, j_cert(&pr->chain[i]));
	j_set(o, "key", j_str(dg_probe_key_str(pr->key)));
	j_set(o, "done", json_boolean(pr->done));
	j_set(o, "outcome", pr->done ? j_str(report_probe_outcome_str(pr->outcome)) : json_null());
	j_set(o, "stage", j_str(pr->stage));
	j_set(o, "error", j_str(pr->error));
	j_set(o, "sni", j_str(pr->sni));
	j_set(o, "tls_version", j_str(pr->tls_version));
	j_set(o, "cipher", j_str(pr->cipher));
	j_set(o, "peer_key", j_str(pr->peer_key));
	j_set(o, "absent_key_type", json_boolean(pr->absent_key_type));
	j_set(o, "chain", chain);
	j_set(o, "dane", j_dane(host, pr));
	if (pr->days_ok != -1)
		j_set(o, "days", j_days(pr, opts));
	if (opts->verbose && pr->transcript != NULL)
		j_set(o, "transcript", j_str(pr->transcript));
	return o;
}

static json_t *j_addr(const struct dg_host_result *host, const struct dg_addr_result *a,
                      const struct dg_report_opts *opts)
{
	json_t *o = j_new_object();
	json_t *probes = j_new_array();
	size_t n = a->n_probes < 3 ? a->n_probes : 3;

	for (size_t i = 0; i < n; i++)
		j_append(probes, j_probe(host, &a->probes[i], opts));
	j_set(o, "address", j_str(a->addr));
	j_set(o, "family", json_integer(a->family));
	j_set(o, "status", j_str(dg_host_status_str(a->status)));
	j_set(o, "code", j_str(a->code));
	j_set(o, "reasons", j_reasons(&a->reasons));
	j_set(o, "probes", probes);
	return o;
}

static json_t *j_host(const struct dg_host_result *host, const struct dg_report_opts *opts)
{
	json_t *o = j_new_object();
	json_t *dnssec = j_new_object();
	json_t *refs = j_new_array();
	json_t *addrs = j_new_array();
	size_t n_refs = host->n_ref_ids < 4 ? host->n_ref_ids : 4;

	j_set(dnssec, "a", j_rrset(&host->a));
	j_set(dnssec, "aaaa", j_rrset(&host->aaaa));
	j_set(dnssec, "cname", j_rrset(&host->cname));
	j_set(dnssec, "tlsa", j_rrset(&host->tlsa));
	for (size_t i = 0; i < n_refs; i++)
		j_append(refs, j_str(host->ref_ids[i]));
	for (size_t i = 0; i < host->n_addrs; i++)
		j_append(addrs, j_addr(host, &host->addrs[i], opts));
	j_set(o, "name", j_str(host->name));
	j_set(o, "expanded", j_str(host->expanded));
	j_set(o, "preference", json_integer(host->preference));
	j_set(o, "implicit", json_boolean(host->implicit));
	j_set(o, "status", j_str(dg_host_status_str(host->status)));
	j_set(o, "code", j_str(host->code));
	j_set(o, "reasons", j_reasons(&host->reasons));
	j_set(o, "dnssec", dnssec);
	j_set(o, "tlsa_base", j_str(host->tlsa_base));
	j_set(o, "reference_ids", refs);
	j_set(o, "tlsa", j_tlsa(host));
	j_set(o, "advice", j_advice(&host->advice));
	j_set(o, "addresses", addrs);
	j_set(o, "mta_sts_match", j_tri(host->mta_sts_match));
	j_set(o, "pkix_valid", j_tri(host->pkix_valid));
	return o;
}

/* ---- MTA-STS, TLS-RPT, senders (issue #5) -------------------------------------------------- */

static json_t *j_tri(enum dg_tri t)
{
	return t == DG_TRI_NULL ? json_null() : json_boolean(t == DG_TRI_YES);
}

static json_t *j_strings(const char *const *s, size_t n)
{
	json_t *arr = j_new_array();

	for (size_t i = 0; i < n; i++)
		j_append(arr, j_str(s[i]));
	return arr;
}

/* SPEC section 10; null when the stage did not run (--no-mta-sts). */
static json_t *j_mta_sts(const struct dg_sts_result *m)
{
	json_t *o;

	if (!m->checked)
		return json_null();
	o = j_new_object();
	j_set(o, "txt", j_str(dg_sts_txt_status_str(m->txt)));
	j_set(o, "id", j_str(m->id));
	j_set(o, "policy", j_str(dg_sts_policy_status_str(m->policy)));
	j_set(o, "mode", m->has_policy ? j_str(dg_sts_mode_str(m->mode)) : json_null());
	j_set(o, "max_age", m->has_policy ? json_integer(m->max_age_s) : json_null());
	j_set(o, "mx", j_strings(m->mx, m->n_mx));
	j_set(o, "reasons", j_reasons(&m->reasons));
	return o;
}

/* SPEC RPT-1 */
static json_t *j_tlsrpt(const struct dg_tlsrpt_result *t)
{
	json_t *o;

	if (!t->checked)
		return json_null();
	o = j_new_object();
	j_set(o, "status", j_str(dg_tlsrpt_status_str(t->status)));
	j_set(o, "rua", j_strings(t->rua, t->n_rua));
	j_set(o, "reasons", j_reasons(&t->reasons));
	return o;
}

static json_t *j_senders(const struct dg_senders *s)
{
	json_t *o = j_new_object();

	j_set(o, "dane", j_str(dg_sender_action_str(s->dane)));
	j_set(o, "mta_sts", j_str(dg_sender_action_str(s->mta_sts)));
	j_set(o, "both", j_str(dg_sender_action_str(s->both)));
	return o;
}

json_t *dg_report_json(const struct dg_domain_result *res, const struct dg_report_opts *opts)
{
	struct dg_report_opts defaults;
	char when[REPORT_TIME_MAX];
	json_t *o = j_new_object();
	json_t *hosts = j_new_array();

	if (opts == NULL) {
		dg_report_opts_init(&defaults);
		opts = &defaults;
	}
	for (size_t i = 0; i < res->n_hosts; i++)
		j_append(hosts, j_host(&res->hosts[i], opts));
	j_set(o, "schema", j_str(DG_REPORT_SCHEMA));
	j_set(o, "domain", j_str(res->domain));
	j_set(o, "verdict", j_str(dg_verdict_str(res->verdict)));
	j_set(o, "code", j_str(res->code));
	j_set(o, "reasons", j_reasons(&res->reasons));
	j_set(o, "mx", j_rrset(&res->mx));
	j_set(o, "null_mx", json_boolean(res->null_mx));
	j_set(o, "implicit_mx", json_boolean(res->implicit_mx));
	j_set(o, "checked_at", j_str(dg_report_time(res->checked_at, when, sizeof(when))));
	j_set(o, "elapsed_ms", json_integer((json_int_t)res->elapsed_ms));
	j_set(o, "hosts", hosts);
	j_set(o, "mta_sts", j_mta_sts(&res->mta_sts));
	j_set(o, "tlsrpt", j_tlsrpt(&res->tlsrpt));
	j_set(o, "senders", j_senders(&res->senders));
	return o;
}
