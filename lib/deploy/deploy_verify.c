/*
 * deploy_verify.c - the deploy guard: would a DANE sender accept this new chain?
 *
 * Public: dg_deploy_verify_start, dg_deploy_verdict_free, dg_deploy_outcome_str,
 * dg_deploy_records_for_chain.
 * The published RRset is looked up with DNSSEC validation (SPEC TLSA-1: an
 * insecure RRset does not count; HOST-10: a lookup error means "cannot say"),
 * then the new chain is verified with OpenSSL's DANE code exactly as the engine
 * verifies a live server (dg_dane_verify: SPEC AUTH-1..AUTH-7). When it fails,
 * the records to publish are the new key's 3 1 1, and 2 1 1 for its issuer when
 * the published set already relies on DANE-TA (SPEC PUB-1, PUB-6).
 *
 * Ownership: the check holds a reference on the chain until its callback; the
 * verdict belongs to the callback's receiver.
 */
#include <daneguard/deploy.h>
#include <daneguard/util.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct deploy_check {
	struct dg_dane_ctx *dane;
	struct dg_deploy_verify_opts opts;
	STACK_OF(X509) *chain;
	dg_deploy_verify_cb *cb;
	void *arg;
	struct dg_deploy_verdict *v;
};

static void verify_tlsa_done(void *arg, const struct dg_dns_answer *ans);
static void verify_decide(struct deploy_check *dc, const struct dg_dns_answer *ans);
static void verify_suggest(struct deploy_check *dc);
static bool set_has_usage(const struct dg_tlsa_set *set, uint8_t usage);
static enum dg_status add_from_cert(struct dg_tlsa_set *out, X509 *cert, uint8_t usage,
				    struct dg_err *err);

enum dg_status dg_deploy_verify_start(struct event_base *base, struct dg_dns *dns,
				      struct dg_dane_ctx *dane,
				      const struct dg_deploy_verify_opts *opts,
				      STACK_OF(X509) * chain, dg_deploy_verify_cb *cb, void *arg,
				      struct dg_err *err)
{
	char name[DG_NAME_BUF_SIZE + 16], host[DG_NAME_BUF_SIZE];
	struct deploy_check *dc;
	enum dg_status st;

	(void)base;
	if ((st = dg_name_normalize(opts->host, host, sizeof(host), err)) != DG_OK)
		return st;
	if (chain == NULL || sk_X509_num(chain) == 0)
		return dg_err_set(err, DG_E_CONFIG, "no certificate to check for %s", host);
	snprintf(name, sizeof(name), "_%u._tcp.%s", (unsigned)opts->port, host);
	dc = dg_xcalloc(1, sizeof(*dc));
	dc->dane = dane;
	dc->opts = *opts;
	dc->chain = X509_chain_up_ref(chain);
	dc->cb = cb;
	dc->arg = arg;
	dc->v = dg_xcalloc(1, sizeof(*dc->v));
	dc->v->tlsa_name = dg_xstrdup(name);
	dc->v->suggest = dg_tlsa_set_new();
	st = dg_dns_lookup(dns, name, DG_DNS_T_TLSA, verify_tlsa_done, dc, NULL, err);
	if (st != DG_OK) {
		sk_X509_pop_free(dc->chain, X509_free);
		dg_deploy_verdict_free(dc->v);
		free(dc);
	}
	return st;
}

static void verify_tlsa_done(void *arg, const struct dg_dns_answer *ans)
{
	struct deploy_check *dc = arg;
	struct dg_deploy_verdict *v = dc->v;

	v->security = ans->security;
	v->dns_outcome = ans->outcome;
	verify_decide(dc, ans);
	sk_X509_pop_free(dc->chain, X509_free);
	dc->cb(dc->arg, v);
	free(dc);
}

static void verify_decide(struct deploy_check *dc, const struct dg_dns_answer *ans)
{
	struct dg_deploy_verdict *v = dc->v;
	struct dg_dane_input in = {.base_domain = dc->opts.host, .ref_ids = dc->opts.ref_ids,
				   .n_ref_ids = dc->opts.n_ref_ids, .when = dc->opts.when};
	struct dg_tlsa_summary sum;
	struct dg_err err = {0};

	if (ans->security == DG_DNS_BOGUS || dg_dns_answer_is_error(ans)) { /* SPEC HOST-10 */
		v->outcome = DG_DEPLOY_DNS_ERROR;
		snprintf(v->reason, sizeof(v->reason), "TLSA lookup for %s failed (%s): a DANE "
			 "sender cannot deliver to this host at all right now", v->tlsa_name,
			 ans->why_bogus ? ans->why_bogus
					: (ans->reason ? ans->reason : dg_dns_outcome_str(ans->outcome)));
		return;
	}
	if (ans->outcome != DG_DNS_ANSWER || ans->security != DG_DNS_SECURE) { /* TLSA-1 */
		v->outcome = DG_DEPLOY_NO_DANE;
		snprintf(v->reason, sizeof(v->reason), "%s has no DNSSEC-validated TLSA records "
			 "(%s, %s): DANE senders do not authenticate this host, any certificate "
			 "is accepted", v->tlsa_name, dg_dns_security_str(ans->security),
			 dg_dns_outcome_str(ans->outcome));
		verify_suggest(dc);
		return;
	}
	v->published = dg_tlsa_set_new();
	for (size_t i = 0; i < ans->n_rrs; i++)
		(void)dg_tlsa_set_add(v->published, ans->rrs[i].u.tlsa.usage,
				      ans->rrs[i].u.tlsa.selector, ans->rrs[i].u.tlsa.mtype,
				      ans->rrs[i].u.tlsa.data, ans->rrs[i].u.tlsa.len, NULL);
	dg_tlsa_set_classify(v->published, &sum);
	if (sum.outcome != DG_TLSA_OUTCOME_USABLE) {
		v->outcome = DG_DEPLOY_NO_DANE;
		snprintf(v->reason, sizeof(v->reason), "none of the %zu TLSA records at %s is "
			 "usable: senders require TLS but authenticate nothing", sum.count,
			 v->tlsa_name);
		verify_suggest(dc);
		return;
	}
	in.tlsa = v->published;
	if (dg_dane_verify(dc->dane, &in, dc->chain, &v->dane, &err) != DG_OK) {
		v->outcome = DG_DEPLOY_DNS_ERROR;
		snprintf(v->reason, sizeof(v->reason), "cannot verify: %s", err.msg);
		return;
	}
	v->dane_run = true;
	v->outcome = v->dane.authenticated ? DG_DEPLOY_ACCEPT : DG_DEPLOY_REJECT;
	snprintf(v->reason, sizeof(v->reason), "%s", v->dane.reason);
	if (!v->dane.authenticated)
		verify_suggest(dc);
}

/* What to publish (at least 2 TTLs before installing, SPEC PUB-6). */
static void verify_suggest(struct deploy_check *dc)
{
	bool ta = dc->v->published != NULL && set_has_usage(dc->v->published, 2) &&
		  sk_X509_num(dc->chain) > 1;

	(void)dg_deploy_records_for_chain(dc->chain, ta, dc->v->suggest, NULL);
}

static bool set_has_usage(const struct dg_tlsa_set *set, uint8_t usage)
{
	for (size_t i = 0; i < set->count; i++)
		if (set->rr[i].usage == usage)
			return true;
	return false;
}

enum dg_status dg_deploy_records_for_chain(STACK_OF(X509) * chain, bool issuer,
					   struct dg_tlsa_set *out, struct dg_err *err)
{
	enum dg_status st;

	if (chain == NULL || sk_X509_num(chain) == 0)
		return dg_err_set(err, DG_E_CONFIG, "no certificate given");
	if (issuer && sk_X509_num(chain) < 2)
		return dg_err_set(err, DG_E_CONFIG, "an issuer record needs the issuer "
				  "certificate after the leaf in the chain");
	st = add_from_cert(out, sk_X509_value(chain, 0), 3, err);
	if (st != DG_OK || !issuer)
		return st;
	return add_from_cert(out, sk_X509_value(chain, 1), 2, err);
}

/* usage 3: the leaf's key (3 1 1); usage 2: the issuer's key (2 1 1). */
static enum dg_status add_from_cert(struct dg_tlsa_set *out, X509 *cert, uint8_t usage,
				    struct dg_err *err)
{
	struct dg_tlsa_rr rr;
	enum dg_status st;

	memset(&rr, 0, sizeof(rr));
	st = dg_tlsa_rr_from_cert(cert, usage, 1, 1, &rr, err);
	if (st == DG_OK && (st = dg_tlsa_set_take_rr(out, &rr, err)) != DG_OK)
		dg_tlsa_rr_cleanup(&rr);
	return st;
}

void dg_deploy_verdict_free(struct dg_deploy_verdict *v)
{
	if (v == NULL)
		return;
	free(v->tlsa_name);
	dg_tlsa_set_free(v->published);
	dg_tlsa_set_free(v->suggest);
	if (v->dane_run)
		dg_dane_result_cleanup(&v->dane);
	free(v);
}

const char *dg_deploy_outcome_str(enum dg_deploy_outcome o)
{
	switch (o) {
	case DG_DEPLOY_ACCEPT: return "accept";
	case DG_DEPLOY_REJECT: return "reject";
	case DG_DEPLOY_NO_DANE: return "no-dane";
	case DG_DEPLOY_DNS_ERROR: return "dns-error";
	}
	return "unknown";
}
