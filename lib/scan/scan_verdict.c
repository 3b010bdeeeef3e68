/*
 * scan_verdict.c - pure decisions: address status from a probe, host status
 * from its addresses, domain verdict from its hosts (no I/O; unit-tested in
 * tests/unit/test_scan_verdict.c).
 *
 * Internal: scan_addr_status_from_probe, scan_host_status, scan_domain_verdict,
 * scan_dane_code, scan_senders_decide.
 * Implements SPEC TLSA-4 (the four outcomes), TLS-1/TLS-2, FAIL-1, MX-5 (an
 * insecure MX RRset is never "dane-ok"), section 13 (result codes) and the
 * verdict precedence of issue #3: null MX, bogus MX, any DANE failure, any bogus
 * host, all verified, some verified, all unreachable, otherwise no DANE; and what a DANE
 * sender, an MTA-STS sender and a sender doing both do with the mail (SPEC STS-7, STS-8,
 * STS-9: DANE decides for hosts with usable TLSA records or a failed TLSA lookup, MTA-STS
 * for the others; hosts are tried in MX order, a host that fails validation is skipped).
 */
#include "scan_int.h"

#include <string.h>

static bool host_is_dane_failure(enum dg_host_status st);
static int status_rank(enum dg_host_status st);

/* What one sender does at one host. */
enum host_act { ACT_SKIP = 0, ACT_UNAUTH, ACT_AUTH };

static enum host_act dane_act(const struct scan_sender_domain *d, const struct scan_sender_host *h);
static enum host_act sts_act(const struct scan_sender_domain *d, const struct scan_sender_host *h);
static enum dg_sender_action first_act(const struct scan_sender_domain *d,
				       const struct scan_sender_host *h, size_t n,
				       enum host_act (*act)(const struct scan_sender_domain *,
							    const struct scan_sender_host *));
static enum host_act both_act(const struct scan_sender_domain *d, const struct scan_sender_host *h);

enum dg_host_status scan_addr_status_from_probe(enum scan_dane_state dane,
						enum dg_host_status nodane, int outcome, int stage,
						const char **code)
{
	bool reached_smtp = stage > DG_SMTP_STAGE_EHLO || outcome == DG_SMTP_PROBE_NO_STARTTLS;

	switch (outcome) {
	case DG_SMTP_PROBE_TLS_OK:
		break;
	case DG_SMTP_PROBE_NO_STARTTLS:
	case DG_SMTP_PROBE_STARTTLS_REFUSED:
		if (dane != SCAN_DANE_NONE) { /* SPEC TLS-1, TLSA-5 */
			*code = "H-TLSA-NO-STARTTLS";
			return DG_HOST_STARTTLS_MISSING;
		}
		*code = nodane == DG_HOST_INSECURE ? "H-INSECURE-HOST" : "H-NO-TLSA";
		return nodane;
	default:
		if (!reached_smtp) { /* connect, banner or EHLO failed: nobody to talk to */
			*code = "H-UNREACHABLE";
			return DG_HOST_UNREACHABLE;
		}
		if (dane != SCAN_DANE_NONE) { /* SPEC TLS-2 */
			*code = "H-TLSA-HANDSHAKE-FAIL";
			return DG_HOST_TLS_FAILED;
		}
		*code = nodane == DG_HOST_INSECURE ? "H-INSECURE-HOST" : "H-NO-TLSA";
		return nodane;
	}
	switch (dane) {
	case SCAN_DANE_USABLE:
		*code = NULL; /* the caller decides from the DANE verification */
		return DG_HOST_VERIFIED;
	case SCAN_DANE_UNUSABLE: /* SPEC TLSA-4 B: encrypted, not authenticated */
		*code = "H-TLSA-UNUSABLE";
		return DG_HOST_TLSA_UNUSABLE;
	default:
		*code = nodane == DG_HOST_INSECURE ? "H-INSECURE-HOST" : "H-NO-TLSA";
		return nodane;
	}
}

const char *scan_dane_code(enum dg_dane_fail fail, bool agility, bool mx_secure)
{
	switch (fail) {
	case DG_DANE_FAIL_NONE:
		return mx_secure ? "H-DANE-VERIFIED" : "H-DANE-TRUSTED-INSECURE-MX";
	case DG_DANE_FAIL_NAME:
		return "H-DANE-NAME-MISMATCH";
	case DG_DANE_FAIL_EXPIRED:
	case DG_DANE_FAIL_NOT_YET_VALID:
		return "H-DANE-EXPIRED";
	case DG_DANE_FAIL_NO_USABLE:
		return "H-TLSA-UNUSABLE";
	case DG_DANE_FAIL_NO_MATCH:
		return agility ? "H-DANE-AGILITY-FAIL" : "H-DANE-MISMATCH";
	default:
		return "H-DANE-MISMATCH";
	}
}

/* Which address outcome speaks for the host: DANE failures first (a sender that
 * reaches that address defers), then success, then the rest. */
static int status_rank(enum dg_host_status st)
{
	switch (st) {
	case DG_HOST_TLSA_MISMATCH: return 0;
	case DG_HOST_STARTTLS_MISSING: return 1;
	case DG_HOST_TLS_FAILED: return 2;
	case DG_HOST_VERIFIED: return 3;
	case DG_HOST_TLSA_UNUSABLE: return 4;
	case DG_HOST_NO_TLSA: return 5;
	case DG_HOST_INSECURE: return 6;
	case DG_HOST_BOGUS: return 7;
	case DG_HOST_DNS_ERROR: return 8;
	case DG_HOST_UNREACHABLE: return 9;
	}
	return 10;
}

enum dg_host_status scan_host_status(const struct dg_host_result *h, const char **code)
{
	const struct dg_addr_result *best = NULL;

	for (size_t i = 0; i < h->n_addrs; i++) {
		const struct dg_addr_result *a = &h->addrs[i];

		if (a->code == NULL) /* not probed */
			continue;
		if (best == NULL || status_rank(a->status) < status_rank(best->status))
			best = a;
	}
	if (best == NULL) {
		*code = h->code;
		return h->status;
	}
	*code = best->code;
	return best->status;
}

static bool host_is_dane_failure(enum dg_host_status st)
{
	return st == DG_HOST_TLSA_MISMATCH || st == DG_HOST_STARTTLS_MISSING ||
	       st == DG_HOST_TLS_FAILED;
}

enum dg_verdict scan_domain_verdict(const struct dg_domain_result *res, const char **code)
{
	size_t verified = 0, down = 0, failed = 0, bogus = 0;

	if (res->null_mx) {
		*code = res->n_hosts > 0 ? "D-NULL-MX-CONFLICT" : "D-NULL-MX";
		return DG_VERDICT_NULL_MX;
	}
	if (res->mx.security == DG_DNS_BOGUS) {
		*code = "D-MX-LOOKUP-ERROR";
		return DG_VERDICT_DNSSEC_BOGUS;
	}
	if (res->mx.outcome == DG_DNS_NXDOMAIN) {
		*code = "D-NXDOMAIN";
		return DG_VERDICT_NO_DANE;
	}
	if (res->n_hosts == 0) { /* SPEC MX-1: SERVFAIL, timeout, malformed */
		*code = "D-MX-LOOKUP-ERROR";
		return DG_VERDICT_TEMP_FAIL;
	}
	for (size_t i = 0; i < res->n_hosts; i++) {
		enum dg_host_status st = res->hosts[i].status;

		failed += host_is_dane_failure(st);
		verified += st == DG_HOST_VERIFIED;
		bogus += st == DG_HOST_BOGUS;
		down += st == DG_HOST_UNREACHABLE || st == DG_HOST_DNS_ERROR;
	}
	if (failed > 0) {
		*code = failed + bogus + down == res->n_hosts ? "D-DANE-BROKEN" : "D-DANE-DEGRADED";
		return DG_VERDICT_DANE_FAIL;
	}
	if (bogus > 0) {
		*code = bogus + down == res->n_hosts ? "D-DANE-BROKEN" : "D-DANE-DEGRADED";
		return DG_VERDICT_DNSSEC_BOGUS;
	}
	if (verified > 0 && !res->mx_secure) { /* SPEC MX-5 */
		*code = "D-MX-INSECURE";
		return DG_VERDICT_NO_DANE;
	}
	if (verified == res->n_hosts) {
		*code = "D-DANE-FULL";
		return DG_VERDICT_DANE_OK;
	}
	if (verified > 0) {
		*code = down > 0 ? "D-DANE-DEGRADED" : "D-DANE-PARTIAL";
		return DG_VERDICT_DANE_PARTIAL;
	}
	if (down == res->n_hosts) {
		*code = "D-DANE-BROKEN";
		return DG_VERDICT_TEMP_FAIL;
	}
	*code = res->mx.security != DG_DNS_SECURE ? "D-MX-INSECURE"
						  : (res->implicit_mx ? "D-IMPLICIT-MX" : "D-NO-DANE");
	return DG_VERDICT_NO_DANE;
}

/* A DANE sender (SPEC section 13, per-host table, opportunistic DANE). */
static enum host_act dane_act(const struct scan_sender_domain *d, const struct scan_sender_host *h)
{
	switch (h->status) {
	case DG_HOST_VERIFIED: /* insecure MX: "Trusted", the MX could have been replaced */
		return d->mx_secure ? ACT_AUTH : ACT_UNAUTH;
	case DG_HOST_TLSA_UNUSABLE:
	case DG_HOST_NO_TLSA:
	case DG_HOST_INSECURE:
		return h->reachable ? ACT_UNAUTH : ACT_SKIP;
	default: /* mismatch, no STARTTLS, handshake failure, lookup errors, unreachable */
		return ACT_SKIP;
	}
}

/* An MTA-STS sender (SPEC STS-4, STS-6, STS-7): no valid policy, mode none or testing:
 * opportunistic; enforce: only hosts that pass validation. */
static enum host_act sts_act(const struct scan_sender_domain *d, const struct scan_sender_host *h)
{
	if (!d->sts_valid || d->mode != DG_STS_MODE_ENFORCE)
		return h->reachable ? ACT_UNAUTH : ACT_SKIP;
	if (h->reachable && h->sts_match == DG_TRI_YES && h->tls_ok && h->pkix == DG_TRI_YES)
		return ACT_AUTH;
	return ACT_SKIP;
}

/* SPEC STS-9: DANE is authoritative where it applies; MTA-STS never overrides it. */
static enum host_act both_act(const struct scan_sender_domain *d, const struct scan_sender_host *h)
{
	return h->dane_policy ? dane_act(d, h) : sts_act(d, h);
}

/* SPEC STS-8: walk the hosts in MX order; the first one not skipped gets the mail. */
static enum dg_sender_action first_act(const struct scan_sender_domain *d,
				       const struct scan_sender_host *h, size_t n,
				       enum host_act (*act)(const struct scan_sender_domain *,
							    const struct scan_sender_host *))
{
	if (!d->has_hosts)
		return DG_SEND_DEFER;
	for (size_t i = 0; i < n; i++) {
		switch (act(d, &h[i])) {
		case ACT_AUTH: return DG_SEND_AUTHENTICATED;
		case ACT_UNAUTH: return DG_SEND_UNAUTHENTICATED;
		case ACT_SKIP: break;
		}
	}
	return DG_SEND_DEFER;
}

void scan_senders_decide(const struct scan_sender_domain *d, const struct scan_sender_host *h,
			 size_t n, struct dg_senders *out)
{
	out->dane = first_act(d, h, n, dane_act);
	out->mta_sts = first_act(d, h, n, sts_act);
	out->both = first_act(d, h, n, both_act);
}
