/*
 * scan_domain.c - the per-domain stage: MX lookup and the list of MX hosts.
 *
 * Internal: scan_domain_start. The MX answer also starts the domain's TLS-RPT and
 * MTA-STS lookups (scan_sts_start), so that they find the zone's keys validated.
 * Implements SPEC MX-1 (lookup error: defer), MX-2 (CNAME'd next hop, security
 * of the whole chain), MX-3 (sort by preference, stable), MX-5 (insecure MX
 * RRset: hosts still checked with their own TLSA, never "dane-ok"), MX-7 (null
 * MX), MX-8 (NODATA: the domain is its own implicit MX; NXDOMAIN kept apart),
 * MX-9 (address literals).
 */
#include "scan_int.h"

#include <stdlib.h>
#include <string.h>

static void mx_done(void *arg, const struct dg_dns_answer *ans);
static void mx_plan_hosts(struct scan_check *chk, const struct dg_dns_answer *ans);
static void hosts_alloc(struct scan_check *chk, size_t n);
static int mx_cmp(const void *a, const void *b);

enum dg_status scan_domain_start(struct scan_check *chk, struct dg_err *err)
{
	enum dg_status st;

	scan_hold(chk);
	st = dg_dns_lookup(chk->eng->dns, chk->res->domain, DG_DNS_T_MX, mx_done, chk,
			   &chk->mx_query, err);
	if (st != DG_OK)
		chk->pending--; /* nothing was started; the caller aborts the check */
	return st;
}

static void mx_done(void *arg, const struct dg_dns_answer *ans)
{
	struct scan_check *chk = arg;
	struct dg_domain_result *res = chk->res;

	chk->mx_query = 0;
	dg_latency_observe(&chk->eng->stats.dns_ms, dg_clock_mono_ms() - chk->started_ms);
	/* TLS-RPT and MTA-STS lookups of the same zone go out now, not beside the MX lookup:
	 * the zone's DNSKEY RRset is then validated once, by this answer, instead of once per
	 * parallel query (the costliest part of a scan, issue #7). */
	scan_sts_start(chk);
	scan_rrset_set(chk, &res->mx, ans);
	res->mx_secure = ans->security == DG_DNS_SECURE;
	if (ans->n_chain > 0)
		chk->mx_canonical = scan_strdup(chk, ans->canonical); /* SPEC MX-2, AUTH-5 (3) */
	switch (ans->security == DG_DNS_BOGUS ? DG_DNS_SERVFAIL : ans->outcome) {
	case DG_DNS_ANSWER:
		mx_plan_hosts(chk, ans);
		break;
	case DG_DNS_NODATA: /* SPEC MX-8: the domain is its own (implicit) MX, preference 0 */
		res->implicit_mx = true;
		hosts_alloc(chk, 1);
		res->hosts[0].name = scan_strdup(chk, chk->mx_canonical != NULL ? chk->mx_canonical
										: res->domain);
		res->hosts[0].implicit = true;
		scan_reason(chk, &res->reasons,
			    "%s has no MX records (%s NODATA): the domain itself is the mail host "
			    "(RFC 5321 5.1 implicit MX)",
			    res->domain, dg_dns_security_str(ans->security));
		break;
	case DG_DNS_NXDOMAIN:
		scan_reason(chk, &res->reasons, "%s does not exist (%s NXDOMAIN): no mail can be "
			    "delivered to it", res->domain, dg_dns_security_str(ans->security));
		break;
	default: /* SPEC MX-1: a lookup error means the MX hosts cannot be determined */
		if (ans->security == DG_DNS_BOGUS)
			scan_reason(chk, &res->reasons,
				    "MX lookup for %s failed DNSSEC validation: %s; DANE senders "
				    "defer all mail (RFC 7672 2.1.2)", res->domain,
				    ans->why_bogus != NULL ? ans->why_bogus : "no reason given");
		else
			scan_reason(chk, &res->reasons,
				    "MX lookup for %s failed (%s%s%s); senders defer mail until "
				    "it answers", res->domain, dg_dns_outcome_str(ans->outcome),
				    ans->reason != NULL ? ": " : "",
				    ans->reason != NULL ? ans->reason : "");
		break;
	}
	if (res->n_hosts > 0 && !res->mx_secure && ans->security == DG_DNS_INSECURE)
		scan_reason(chk, &res->reasons,
			    "the MX RRset of %s is not DNSSEC-signed (insecure): an attacker can "
			    "replace the MX hosts, so the domain is not DANE-protected even where "
			    "its MX hosts publish TLSA records (RFC 7672 2.2.1)", res->domain);
	for (size_t i = 0; i < res->n_hosts; i++)
		scan_host_start(&chk->hosts[i]);
	scan_release(chk);
}

static void mx_plan_hosts(struct scan_check *chk, const struct dg_dns_answer *ans)
{
	struct dg_domain_result *res = chk->res;
	const struct dg_dns_rr **mx;
	size_t n = 0, nulls = 0;

	mx = dg_xcalloc(ans->n_rrs + 1, sizeof(*mx));
	for (size_t i = 0; i < ans->n_rrs; i++) {
		if (ans->rrs[i].type != DG_DNS_T_MX)
			continue;
		if (strcmp(ans->rrs[i].u.mx.exchange, ".") == 0) {
			nulls++;
			continue;
		}
		mx[n++] = &ans->rrs[i];
	}
	if (nulls > 0) { /* SPEC MX-7 */
		res->null_mx = true;
		if (n == 0)
			scan_reason(chk, &res->reasons, "%s publishes a null MX (RFC 7505): it "
				    "accepts no mail", res->domain);
		else
			scan_reason(chk, &res->reasons, "%s publishes a null MX together with %zu "
				    "other MX record(s): RFC 7505 3 forbids this; senders treat "
				    "the domain as accepting no mail", res->domain, n);
		free(mx);
		return;
	}
	qsort(mx, n, sizeof(*mx), mx_cmp); /* SPEC MX-3 */
	hosts_alloc(chk, n);
	for (size_t i = 0; i < n; i++) {
		res->hosts[i].name = scan_strdup(chk, mx[i]->u.mx.exchange);
		res->hosts[i].preference = mx[i]->u.mx.preference;
	}
	free(mx);
}

/* Sort by preference (SPEC MX-3); equal preferences by name, so that reports do
 * not change with the order a resolver happens to return the RRset in. */
static int mx_cmp(const void *a, const void *b)
{
	const struct dg_dns_rr *x = *(const struct dg_dns_rr *const *)a;
	const struct dg_dns_rr *y = *(const struct dg_dns_rr *const *)b;

	if (x->u.mx.preference != y->u.mx.preference)
		return x->u.mx.preference < y->u.mx.preference ? -1 : 1;
	return strcmp(x->u.mx.exchange, y->u.mx.exchange);
}

static void hosts_alloc(struct scan_check *chk, size_t n)
{
	struct dg_domain_result *res = chk->res;

	res->n_hosts = n;
	res->hosts = dg_arena_alloc(chk->arena, (n ? n : 1) * sizeof(*res->hosts));
	memset(res->hosts, 0, (n ? n : 1) * sizeof(*res->hosts));
	chk->hosts = dg_xcalloc(n ? n : 1, sizeof(*chk->hosts));
	for (size_t i = 0; i < n; i++) {
		chk->hosts[i].chk = chk;
		chk->hosts[i].h = &res->hosts[i];
		dg_dns_answer_init(&chk->hosts[i].ans_a);
		dg_dns_answer_init(&chk->hosts[i].ans_aaaa);
	}
}
