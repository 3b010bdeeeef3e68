/*
 * relay_decide.c - how the relay delivers to one destination domain: which MX hosts, in which
 * order, each with what security requirement; or defer, or bounce.
 *
 * Public (relay_int.h): relay_decide, relay_req_str.
 *
 * Input is the engine's result for the next-hop domain (lib/scan in dns_only mode: MX,
 * addresses, TLSA and MTA-STS, no TLS probe), the policy table entry and the global mode.
 * The decision is pure; the delivery session then enforces the requirement on its own TLS
 * connection (relay_deliver.c).
 *
 * Rules implemented:
 *   SPEC MX-1 (MX lookup failure or bogus MX: defer), RFC 7505 null MX (bounce 5.1.10),
 *   HOST-10 (a failed or bogus address/TLSA lookup: never connect to that host),
 *   TLSA-4 A (usable TLSA: DANE mandatory), TLSA-4 B (all unusable: TLS mandatory, no
 *   authentication), AUTH-8 (DANE hosts are never rescued by PKIX), FAIL-1 (a host that
 *   cannot be used is skipped, the next one tried, defer when none is left), FAIL-2 (holds
 *   are temporary), FAIL-3 (log-only: decide as in enforce mode, then deliver with the best
 *   TLS available and log what enforce mode would have done), STS-6 step 1 (MX pattern),
 *   STS-7 (enforce / testing / none), STS-8 (MX order kept, a non-matching host is treated as
 *   unusable, no pre-filtering of the list), STS-9 (DANE where usable TLSA exists, MTA-STS only
 *   for hosts without DANE; a TLSA lookup failure never falls back to MTA-STS).
 *
 * Levels of the policy table (docs/internals/relay-conf.md): none, may, encrypt, dane (DANE
 * where usable, else may), dane-only (DANE or defer); no entry = DANE, else MTA-STS, else may.
 */
#include "relay_int.h"

#include <daneguard/mtasts.h>

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static void plan_set(struct relay_plan *p, enum relay_plan_kind kind, const char *status,
		     const char *fmt, ...) DG_PRINTF(4, 5);
static bool decide_domain(const struct dg_domain_result *res, struct relay_plan *out);
static void decide_host(const struct dg_domain_result *res, enum dg_relay_level level,
			struct relay_host_plan *hp, bool *security);
static void decide_sts(const struct dg_domain_result *res, struct relay_host_plan *hp,
		       bool *security);
static void skip(struct relay_host_plan *hp, const char *fmt, ...) DG_PRINTF(2, 3);
static void collect_reasons(struct relay_plan *p, char *buf, size_t size);
static void apply_log_only(struct relay_plan *p);
static const char *plan_policy(const struct relay_plan *p, enum dg_relay_level level);

const char *relay_req_str(enum relay_req r)
{
	switch (r) {
	case RELAY_REQ_NONE:
		return "none";
	case RELAY_REQ_MAY:
		return "may";
	case RELAY_REQ_ENCRYPT:
		return "encrypt";
	case RELAY_REQ_DANE:
		return "dane";
	case RELAY_REQ_STS:
		return "mta-sts";
	}
	return "unknown";
}

static void plan_set(struct relay_plan *p, enum relay_plan_kind kind, const char *status,
		     const char *fmt, ...)
{
	va_list ap;

	p->kind = kind;
	snprintf(p->status, sizeof(p->status), "%s", status);
	va_start(ap, fmt);
	vsnprintf(p->reason, sizeof(p->reason), fmt, ap);
	va_end(ap);
}

static void skip(struct relay_host_plan *hp, const char *fmt, ...)
{
	va_list ap;

	hp->usable = false;
	va_start(ap, fmt);
	vsnprintf(hp->why, sizeof(hp->why), fmt, ap);
	va_end(ap);
}

static const char *first_reason(const struct dg_reasons *r, const char *dflt)
{
	return r->n > 0 && r->text[0] != NULL ? r->text[0] : dflt;
}

/* Domain-level outcomes (MX lookup, null MX). Returns true when the plan is final. */
static bool decide_domain(const struct dg_domain_result *res, struct relay_plan *out)
{
	const struct dg_rrset_info *mx = &res->mx;

	if (res->null_mx) {
		plan_set(out, RELAY_PLAN_BOUNCE, "5.1.10",
			 "%s publishes a null MX (RFC 7505): it accepts no mail", res->domain);
		return true;
	}
	if (mx->done && mx->security == DG_DNS_BOGUS) { /* SPEC MX-1 */
		plan_set(out, RELAY_PLAN_DEFER, "4.7.5", "MX lookup for %s failed DNSSEC "
			 "validation: %s", res->domain, mx->why ? mx->why : "no reason given");
		return true;
	}
	if (mx->done && mx->outcome == DG_DNS_NXDOMAIN && mx->security == DG_DNS_SECURE) {
		plan_set(out, RELAY_PLAN_BOUNCE, "5.1.2",
			 "%s does not exist (DNSSEC-validated NXDOMAIN)", res->domain);
		return true;
	}
	if (mx->done && mx->outcome == DG_DNS_NXDOMAIN) {
		/* unsigned NXDOMAIN: still permanent, as every MTA treats it */
		plan_set(out, RELAY_PLAN_BOUNCE, "5.1.2", "%s does not exist (NXDOMAIN)",
			 res->domain);
		return true;
	}
	if (mx->done && mx->outcome >= DG_DNS_SERVFAIL) { /* SPEC MX-1, FAIL-2 */
		plan_set(out, RELAY_PLAN_DEFER, "4.4.3", "MX lookup for %s failed: %s",
			 res->domain, mx->why ? mx->why : dg_dns_outcome_str(mx->outcome));
		return true;
	}
	if (res->n_hosts == 0) {
		plan_set(out, RELAY_PLAN_DEFER, "4.4.3", "no MX host for %s: %s", res->domain,
			 first_reason(&res->reasons, "no reason recorded"));
		return true;
	}
	return false;
}

/* SPEC STS-6 step 1, STS-7: a host without DANE under the domain's MTA-STS policy. */
static void decide_sts(const struct dg_domain_result *res, struct relay_host_plan *hp,
		       bool *security)
{
	const struct dg_sts_result *s = &res->mta_sts;
	const char *name = hp->h->name;
	bool match = false;

	hp->req = RELAY_REQ_MAY;
	if (!s->checked || s->policy != DG_STS_POLICY_VALID || !s->has_policy ||
	    s->mode == DG_STS_MODE_NONE)
		return; /* STS-4: no usable policy, deliver as without MTA-STS */
	for (size_t i = 0; i < s->n_mx && !match; i++)
		match = dg_sts_mx_match(s->mx[i], name);
	if (s->mode == DG_STS_MODE_TESTING) {
		hp->sts_testing = true;
		return;
	}
	if (!match) { /* STS-8: treated as unusable, the list is not filtered beforehand */
		*security = true;
		skip(hp, "%s is not listed in the MTA-STS policy of %s (mode enforce)", name,
		     res->domain);
		return;
	}
	hp->req = RELAY_REQ_STS;
}

static void decide_host(const struct dg_domain_result *res, enum dg_relay_level level,
			struct relay_host_plan *hp, bool *security)
{
	const struct dg_host_result *h = hp->h;
	bool dane_level = level == DG_RELAY_LEVEL_DEFAULT || level == DG_RELAY_LEVEL_DANE ||
			  level == DG_RELAY_LEVEL_DANE_ONLY;

	hp->usable = true;
	if (h->status == DG_HOST_BOGUS && (dane_level || h->n_addrs == 0)) { /* SPEC HOST-10 */
		*security = true;
		skip(hp, "%s: %s", h->name, first_reason(&h->reasons, "DNSSEC validation failed"));
		return;
	}
	if (h->status == DG_HOST_DNS_ERROR && (dane_level || h->n_addrs == 0)) {
		skip(hp, "%s: %s", h->name, first_reason(&h->reasons, "lookup failed"));
		return;
	}
	if (h->n_addrs == 0) {
		skip(hp, "%s: %s", h->name, first_reason(&h->reasons, "no address records"));
		return;
	}
	switch (level) {
	case DG_RELAY_LEVEL_NONE:
		hp->req = RELAY_REQ_NONE;
		return;
	case DG_RELAY_LEVEL_MAY:
		hp->req = RELAY_REQ_MAY;
		return;
	case DG_RELAY_LEVEL_ENCRYPT:
		hp->req = RELAY_REQ_ENCRYPT;
		return;
	default:
		break;
	}
	if (h->tlsa_set != NULL && h->tlsa_summary.outcome == DG_TLSA_OUTCOME_USABLE) {
		hp->req = RELAY_REQ_DANE; /* SPEC TLSA-4 A, AUTH-1 */
		return;
	}
	if (h->tlsa_set != NULL && h->tlsa_summary.outcome == DG_TLSA_OUTCOME_ALL_UNUSABLE) {
		hp->req = RELAY_REQ_ENCRYPT; /* SPEC TLSA-4 B */
		return;
	}
	if (level == DG_RELAY_LEVEL_DANE_ONLY) {
		*security = true;
		skip(hp, "%s has no usable TLSA records (%s) and the policy table says "
		     "dane-only", h->name, first_reason(&h->reasons, "no secure TLSA RRset"));
		return;
	}
	if (level == DG_RELAY_LEVEL_DANE) {
		hp->req = RELAY_REQ_MAY;
		return;
	}
	decide_sts(res, hp, security); /* SPEC STS-9: MTA-STS only for hosts without DANE */
}

static void collect_reasons(struct relay_plan *p, char *buf, size_t size)
{
	size_t off = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < p->n_hosts && off + 1 < size; i++) {
		int n;

		if (p->hosts[i].usable)
			continue;
		n = snprintf(buf + off, size - off, "%s%s", off ? "; " : "", p->hosts[i].why);
		if (n < 0)
			break;
		off += (size_t)n < size - off ? (size_t)n : size - off - 1;
	}
}

/* SPEC FAIL-3: every host with an address becomes usable with the best TLS it offers. */
static void apply_log_only(struct relay_plan *p)
{
	char why[RELAY_REASON_MAX];

	if (p->kind == RELAY_PLAN_DEFER) {
		snprintf(p->would_defer, sizeof(p->would_defer), "%s", p->reason);
		p->kind = RELAY_PLAN_DELIVER;
		p->reason[0] = '\0';
		p->status[0] = '\0';
	} else {
		collect_reasons(p, why, sizeof(why));
		if (why[0] != '\0')
			snprintf(p->would_defer, sizeof(p->would_defer), "would skip: %.300s", why);
	}
	for (size_t i = 0; i < p->n_hosts; i++) {
		struct relay_host_plan *hp = &p->hosts[i];

		if (!hp->usable && hp->h->n_addrs > 0) {
			hp->usable = true;
			hp->req = RELAY_REQ_MAY;
		}
	}
}

static const char *plan_policy(const struct relay_plan *p, enum dg_relay_level level)
{
	bool dane = false, sts = false;

	for (size_t i = 0; i < p->n_hosts; i++) {
		dane |= p->hosts[i].req == RELAY_REQ_DANE;
		sts |= p->hosts[i].req == RELAY_REQ_STS || p->hosts[i].sts_testing;
	}
	switch (level) {
	case DG_RELAY_LEVEL_NONE:
		return "none";
	case DG_RELAY_LEVEL_MAY:
		return "may";
	case DG_RELAY_LEVEL_ENCRYPT:
		return "encrypt";
	case DG_RELAY_LEVEL_DANE_ONLY:
		return "dane-only";
	case DG_RELAY_LEVEL_DANE:
		return dane ? "dane" : "may";
	default:
		return dane ? "dane" : (sts ? "mta-sts" : "may");
	}
}

static int host_pref_cmp(const void *a, const void *b)
{
	const struct relay_host_plan *x = a, *y = b;

	return (int)x->h->preference - (int)y->h->preference;
}

void relay_decide(const struct dg_domain_result *res, const struct dg_relay_policy_entry *entry,
		  bool log_only, struct relay_plan *out)
{
	enum dg_relay_level level = entry != NULL ? entry->level : DG_RELAY_LEVEL_DEFAULT;
	bool security = false, any = false;
	char why[RELAY_REASON_MAX];

	memset(out, 0, sizeof(*out));
	if (entry != NULL && entry->mode == DG_RELAY_MODE_LOG_ONLY)
		log_only = true;
	else if (entry != NULL && entry->mode == DG_RELAY_MODE_ENFORCE)
		log_only = false;
	out->log_only = log_only;
	out->policy = "none";
	if (decide_domain(res, out))
		return; /* MX-level failures are not softened by log-only: no trustworthy MX */
	for (size_t i = 0; i < res->n_hosts && out->n_hosts < RELAY_MAX_HOSTS; i++)
		out->hosts[out->n_hosts++].h = &res->hosts[i];
	/* SPEC MX-3: preference order (stable for equal preferences) */
	for (size_t i = 1; i < out->n_hosts; i++)
		for (size_t j = i; j > 0 && host_pref_cmp(&out->hosts[j - 1], &out->hosts[j]) > 0;
		     j--) {
			struct relay_host_plan t = out->hosts[j];

			out->hosts[j] = out->hosts[j - 1];
			out->hosts[j - 1] = t;
		}
	for (size_t i = 0; i < out->n_hosts; i++) {
		decide_host(res, level, &out->hosts[i], &security);
		any |= out->hosts[i].usable;
	}
	out->policy = plan_policy(out, level);
	if (!any) { /* SPEC FAIL-1, FAIL-2 */
		collect_reasons(out, why, sizeof(why));
		plan_set(out, RELAY_PLAN_DEFER, security ? "4.7.5" : "4.4.3",
			 "no MX host of %s can be used: %s", res->domain, why);
	}
	if (log_only)
		apply_log_only(out);
}
