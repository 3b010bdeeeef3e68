/*
 * scan_addr.c - per address: ask for the shared TLS probes, verify their chains
 * with this domain's TLSA set and reference identifiers, decide the status.
 *
 * Public: dg_host_dane_input. Internal: scan_addr_start, scan_addr_probe_done (which
 * also feeds the engine's TLS latency histogram, stats.tls_ms).
 * Implements SPEC TLSA-4 (what each TLSA outcome requires), TLSA-5 (a secure
 * TLSA RRset means no cleartext), TLS-1/TLS-2 (STARTTLS missing, handshake
 * failure), AUTH-1..AUTH-7 through dg_dane_verify, TLS-3 (SNI = TLSA base
 * domain), FAIL-4 (matched record and depth kept for the report). A server
 * holding RSA and ECDSA certificates is verified for each key type, since a
 * sender may negotiate either. Certificate descriptions come from the probe (described
 * once per probe, scan_probe.c) and are copied into each domain's report.
 */
#include "scan_int.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

static void probe_report_fill(struct scan_addr *sa, struct dg_probe_report *pr,
			      const struct scan_probe *p);
static void probe_verify(struct scan_addr *sa, struct dg_probe_report *pr,
			 STACK_OF(X509) *chain);
static void addr_decide_first(struct scan_addr *sa, const struct dg_probe_report *pr);
static void addr_decide_other(struct scan_addr *sa, const struct dg_probe_report *pr);
static enum dg_probe_key other_key(const char *peer_key);
static const char *addr_sni(const struct scan_addr *sa);
static void cert_info_copy(struct dg_cert_info *dst, const struct dg_cert_info *src);

void scan_addr_start(struct scan_addr *sa)
{
	struct scan_check *chk = sa->sh->chk;

	sa->a->status = sa->sh->h->status;
	scan_hold(chk);
	sa->asked_ms = dg_clock_mono_ms();
	scan_probe_request(chk->eng, sa, 0, sa->a->addr, addr_sni(sa), DG_PROBE_KEY_ANY);
}

/* SPEC TLS-3: SNI is the TLSA base domain; without DANE, the MX host name. */
static const char *addr_sni(const struct scan_addr *sa)
{
	const struct dg_host_result *h = sa->sh->h;

	return h->tlsa_base != NULL ? h->tlsa_base : (h->expanded ? h->expanded : h->name);
}

void scan_addr_probe_done(struct scan_addr *sa, size_t slot, const struct scan_probe *p)
{
	struct scan_check *chk = sa->sh->chk;
	struct dg_addr_result *a = sa->a;
	struct dg_probe_report *pr = &a->probes[slot];
	enum dg_probe_key next;

	pr->key = p->keytype;
	if (a->n_probes < slot + 1)
		a->n_probes = slot + 1;
	probe_report_fill(sa, pr, p);
	if (slot == 0) {
		dg_latency_observe(&chk->eng->stats.tls_ms, dg_clock_mono_ms() - sa->asked_ms);
		sa->probe0 = p; /* the engine keeps it: its chain serves the MTA-STS check */
		addr_decide_first(sa, pr);
		next = other_key(pr->peer_key);
		if (chk->eng->opts.both_key_types && sa->sh->dane == SCAN_DANE_USABLE &&
		    p->outcome == DG_SMTP_PROBE_TLS_OK && next != DG_PROBE_KEY_ANY) {
			scan_hold(chk);
			scan_probe_request(chk->eng, sa, 1, a->addr, addr_sni(sa), next);
		}
	} else {
		addr_decide_other(sa, pr);
	}
	scan_release(chk);
}

static void probe_report_fill(struct scan_addr *sa, struct dg_probe_report *pr,
			      const struct scan_probe *p)
{
	struct scan_check *chk = sa->sh->chk;
	int n;

	pr->done = true;
	pr->outcome = p->outcome;
	pr->stage = dg_smtp_probe_stage_str(p->stage);
	pr->stage_id = p->stage;
	pr->sni = scan_strdup(chk, p->sni);
	pr->error = p->outcome == DG_SMTP_PROBE_TLS_OK ? NULL : scan_strdup(chk, p->reason);
	pr->tls_version = scan_strdup(chk, p->tls_version);
	pr->cipher = scan_strdup(chk, p->cipher);
	pr->peer_key = scan_strdup(chk, p->peer_key);
	pr->transcript = chk->eng->opts.transcript ? scan_strdup(chk, p->transcript) : NULL;
	pr->depth = -1;
	pr->matched_index = -1;
	pr->days_ok = -1;
	n = p->chain != NULL ? sk_X509_num(p->chain) : 0;
	for (size_t i = 0; i < p->n_certs && pr->n_chain < DG_MAX_CHAIN; i++)
		cert_info_copy(&pr->chain[pr->n_chain++], &p->certs[i]);
	if (sa->sh->dane != SCAN_DANE_NONE && p->chain != NULL && n > 0) {
		probe_verify(sa, pr, p->chain);
		if (!sa->sh->chain_advised) { /* SPEC PUB-3, PUB-5, AUTH-4: once per host */
			sa->sh->chain_advised = true;
			dg_tlsa_set_advise_chain(sa->sh->h->tlsa_set, p->chain, &sa->sh->h->advice);
			dg_tlsa_chain_expiry_advise(sa->sh->h->tlsa_set, p->chain, dg_clock_wall(),
						    SCAN_EXPIRY_WARN_DAYS, &sa->sh->h->advice);
		}
	}
}

/* SPEC AUTH-5: the base domain first, the other reference identifiers after it. */
void dg_host_dane_input(const struct dg_host_result *h, struct dg_dane_input *in)
{
	memset(in, 0, sizeof(*in));
	in->tlsa = h->tlsa_set;
	in->base_domain = h->tlsa_base;
	in->ref_ids = h->n_ref_ids > 1 ? &h->ref_ids[1] : NULL;
	in->n_ref_ids = h->n_ref_ids > 1 ? h->n_ref_ids - 1 : 0;
}

/* Verify a chain the way a DANE sender does, for this domain (SPEC AUTH-1..7). */
static void probe_verify(struct scan_addr *sa, struct dg_probe_report *pr,
			 STACK_OF(X509) *chain)
{
	struct scan_check *chk = sa->sh->chk;
	struct dg_dane_input in;
	struct dg_dane_result r;
	struct dg_err err = {0};

	dg_host_dane_input(sa->sh->h, &in);
	memset(&r, 0, sizeof(r));
	if (dg_dane_verify(chk->eng->dane, &in, chain, &r, &err) != DG_OK) {
		pr->dane_reason = scan_strdup(chk, err.msg);
		pr->dane_fail = DG_DANE_FAIL_CHAIN;
		return;
	}
	pr->dane_checked = true;
	pr->verified = r.authenticated;
	pr->dane_fail = r.fail;
	pr->depth = r.depth;
	pr->matched_index = r.matched_index;
	pr->peername = scan_strdup(chk, r.peername);
	pr->dane_reason = scan_strdup(chk, r.reason);
	pr->agility = r.agility_ignored_match;
	dg_dane_result_cleanup(&r);
	if (chk->eng->opts.days < 0 || !pr->verified)
		return;
	in.when = dg_clock_wall() + (time_t)chk->eng->opts.days * 86400;
	memset(&r, 0, sizeof(r));
	if (dg_dane_verify(chk->eng->dane, &in, chain, &r, &err) == DG_OK) {
		pr->days_ok = r.authenticated ? 1 : 0;
		pr->days_reason = scan_strdup(chk, r.reason);
		dg_dane_result_cleanup(&r);
	}
}

static void addr_decide_first(struct scan_addr *sa, const struct dg_probe_report *pr)
{
	struct scan_check *chk = sa->sh->chk;
	struct dg_addr_result *a = sa->a;
	enum dg_host_status st;

	st = scan_addr_status_from_probe(sa->sh->dane, sa->sh->h->status, pr->outcome,
					 pr->stage_id, &a->code);
	if (st == DG_HOST_VERIFIED) { /* TLS up under usable TLSA: did it authenticate? */
		if (!pr->verified) {
			st = DG_HOST_TLSA_MISMATCH;
			a->code = scan_dane_code(pr->dane_fail, pr->agility, chk->res->mx_secure);
			scan_reason(chk, &a->reasons, "%s: %s", a->addr,
				    pr->dane_reason ? pr->dane_reason : "DANE authentication failed");
		} else {
			a->code = scan_dane_code(DG_DANE_FAIL_NONE, false, chk->res->mx_secure);
			if (pr->dane_reason != NULL)
				scan_reason(chk, &a->reasons, "%s: %s", a->addr, pr->dane_reason);
		}
	} else if (pr->error != NULL) {
		scan_reason(chk, &a->reasons, "%s", pr->error);
	}
	if (pr->days_ok == 0)
		scan_reason(chk, &a->reasons, "in %d days this chain no longer verifies: %s",
			    chk->eng->opts.days, pr->days_reason ? pr->days_reason : "");
	a->status = st;
}

/* The key type the server did not prefer (SPEC: both RSA and ECDSA chains). */
static void addr_decide_other(struct scan_addr *sa, const struct dg_probe_report *pr)
{
	struct scan_check *chk = sa->sh->chk;
	struct dg_addr_result *a = sa->a;
	struct dg_probe_report *q = &a->probes[1];

	if (pr->outcome != DG_SMTP_PROBE_TLS_OK) {
		q->absent_key_type = true; /* no certificate of that type: nothing to verify */
		return;
	}
	if (pr->verified || a->status != DG_HOST_VERIFIED)
		return;
	a->status = DG_HOST_TLSA_MISMATCH;
	a->code = scan_dane_code(pr->dane_fail, pr->agility, chk->res->mx_secure);
	scan_reason(chk, &a->reasons, "%s: the server's %s certificate (%s) fails DANE while "
		    "its %s one passes; senders that negotiate %s cannot deliver: %s",
		    a->addr, dg_probe_key_str(pr->key), pr->peer_key ? pr->peer_key : "?",
		    a->probes[0].peer_key ? a->probes[0].peer_key : "other",
		    dg_probe_key_str(pr->key), pr->dane_reason ? pr->dane_reason : "");
}

static enum dg_probe_key other_key(const char *peer_key)
{
	if (peer_key == NULL)
		return DG_PROBE_KEY_ANY;
	if (strncasecmp(peer_key, "ECDSA", 5) == 0)
		return DG_PROBE_KEY_RSA;
	if (strncasecmp(peer_key, "RSA", 3) == 0)
		return DG_PROBE_KEY_ECDSA;
	return DG_PROBE_KEY_ANY;
}

/* A deep copy of a probe's certificate description; the report owns it (released by
 * dg_cert_info_cleanup in dg_domain_result_free). */
static void cert_info_copy(struct dg_cert_info *dst, const struct dg_cert_info *src)
{
	*dst = *src;
	dst->subject = src->subject != NULL ? dg_xstrdup(src->subject) : NULL;
	dst->issuer = src->issuer != NULL ? dg_xstrdup(src->issuer) : NULL;
	dst->names = NULL;
	if (src->n_names == 0)
		return;
	dst->names = dg_xcalloc(src->n_names, sizeof(*dst->names));
	for (size_t i = 0; i < src->n_names; i++)
		dst->names[i] = dg_xstrdup(src->names[i]);
}
