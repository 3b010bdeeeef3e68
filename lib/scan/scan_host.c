/*
 * scan_host.c - per MX host: address lookups, CNAME rules, TLSA lookups.
 *
 * Internal: scan_host_start.
 * Implements SPEC HOST-1 (addresses before TLSA), HOST-2/3 (no address or an
 * address lookup error: skip), HOST-4 (insecure, no CNAME: no TLSA lookup),
 * HOST-5/6/7 (TLSA base domain candidates), DNS-6 (a separate CNAME query tells
 * whether the first link of an insecure chain was secure), HOST-8 (_port._tcp),
 * HOST-9 (CNAME at the TLSA name: the base domain stays the candidate), HOST-10
 * (TLSA lookup error: never connect), TLSA-1 (insecure TLSA = absent), MX-9, and
 * the reference identifiers of AUTH-5.
 */
#include "scan_int.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void addr_done(struct scan_host *sh, struct dg_dns_answer *slot, uint64_t *q,
		      const struct dg_dns_answer *ans);
static void a_done(void *arg, const struct dg_dns_answer *ans);
static void aaaa_done(void *arg, const struct dg_dns_answer *ans);
static void addrs_ready(struct scan_host *sh);
static bool addrs_collect(struct scan_host *sh);
static void cname_done(void *arg, const struct dg_dns_answer *ans);
static void tlsa_next(struct scan_host *sh);
static void tlsa_done(void *arg, const struct dg_dns_answer *ans);
static void tlsa_found(struct scan_host *sh, const struct dg_dns_answer *ans);
static void host_set(struct scan_host *sh, enum dg_host_status st, const char *code);
static void host_ref_ids(struct scan_host *sh);
static void tlsa_explain_unusable(struct scan_host *sh);
static void host_probe(struct scan_host *sh);
static bool lookup(struct scan_host *sh, const char *name, uint16_t type, dg_dns_cb *cb,
		   uint64_t *q);
static bool is_addr_literal(const char *name);
static int tlsa_cmp(const void *a, const void *b);
static int addr_cmp(const void *a, const void *b);

void scan_host_start(struct scan_host *sh)
{
	struct scan_check *chk = sh->chk;
	const struct dg_engine_opts *o = &chk->eng->opts;

	dg_tlsa_advice_init(&sh->h->advice);
	if (is_addr_literal(sh->h->name)) { /* SPEC MX-9 */
		host_set(sh, DG_HOST_UNREACHABLE, "H-ADDR-LITERAL");
		scan_reason(chk, &sh->h->reasons, "MX target %s is an IP address, not a host "
			    "name: senders do not use it and DANE cannot apply (RFC 7672 2.2)",
			    sh->h->name);
		return;
	}
	scan_hold(chk);
	if (o->ipv4 && lookup(sh, sh->h->name, DG_DNS_T_A, a_done, &sh->q_a))
		sh->addr_waits++;
	if (o->ipv6 && lookup(sh, sh->h->name, DG_DNS_T_AAAA, aaaa_done, &sh->q_aaaa))
		sh->addr_waits++;
	if (sh->addr_waits == 0)
		addrs_ready(sh);
}

static bool lookup(struct scan_host *sh, const char *name, uint16_t type, dg_dns_cb *cb,
		   uint64_t *q)
{
	struct dg_err err = {0};

	if (dg_dns_lookup(sh->chk->eng->dns, name, type, cb, sh, q, &err) == DG_OK)
		return true;
	scan_reason(sh->chk, &sh->h->reasons, "%s %s lookup could not start: %s", name,
		    dg_dns_type_str(type), err.msg);
	return false;
}

static void a_done(void *arg, const struct dg_dns_answer *ans)
{
	struct scan_host *sh = arg;

	scan_rrset_set(sh->chk, &sh->h->a, ans);
	addr_done(sh, &sh->ans_a, &sh->q_a, ans);
}

static void aaaa_done(void *arg, const struct dg_dns_answer *ans)
{
	struct scan_host *sh = arg;

	scan_rrset_set(sh->chk, &sh->h->aaaa, ans);
	addr_done(sh, &sh->ans_aaaa, &sh->q_aaaa, ans);
}

static void addr_done(struct scan_host *sh, struct dg_dns_answer *slot, uint64_t *q,
		      const struct dg_dns_answer *ans)
{
	*q = 0;
	dg_dns_answer_copy(slot, ans);
	if (--sh->addr_waits == 0)
		addrs_ready(sh);
}

/* Both address answers are in: decide reachability and the TLSA candidates. */
static void addrs_ready(struct scan_host *sh)
{
	struct scan_check *chk = sh->chk;
	struct dg_host_result *h = sh->h;
	const struct dg_dns_answer *first = sh->ans_a.qname != NULL ? &sh->ans_a : &sh->ans_aaaa;

	if (!addrs_collect(sh))
		goto out;
	if (first->n_chain > 0)
		h->expanded = scan_strdup(chk, first->canonical);
	if (sh->addr_secure) {
		/* SPEC HOST-5, HOST-7: expanded name first, then the original */
		if (h->expanded != NULL)
			sh->cands[sh->n_cands++] = h->expanded;
		sh->cands[sh->n_cands++] = h->name;
		tlsa_next(sh);
	} else if (h->expanded != NULL) {
		/* SPEC HOST-6, DNS-6: was the first CNAME secure? Ask for it alone. */
		scan_hold(chk);
		if (!lookup(sh, h->name, DG_DNS_T_CNAME, cname_done, &sh->q_cname)) {
			host_set(sh, DG_HOST_DNS_ERROR, "H-ADDR-ERROR");
			scan_release(chk);
		}
	} else { /* SPEC HOST-4 */
		host_set(sh, DG_HOST_INSECURE, "H-INSECURE-HOST");
		scan_reason(chk, &h->reasons, "the address records of %s are not DNSSEC-signed "
			    "(insecure): DANE does not apply, senders use opportunistic TLS "
			    "(RFC 7672 2.2.2)", h->name);
		host_probe(sh);
	}
out:
	dg_dns_answer_cleanup(&sh->ans_a);
	dg_dns_answer_cleanup(&sh->ans_aaaa);
	scan_release(chk);
}

/* Gather the addresses; false (with the status set) when the host is skipped. */
static bool addrs_collect(struct scan_host *sh)
{
	struct scan_check *chk = sh->chk;
	const struct dg_dns_answer *ans[2] = {&sh->ans_a, &sh->ans_aaaa};
	bool bogus = false, error = false, secure = true;
	const struct dg_dns_rr *rrs[DG_MAX_ADDRS];
	size_t n = 0;

	for (size_t i = 0; i < 2; i++) {
		if (ans[i]->qname == NULL)
			continue;
		if (ans[i]->security == DG_DNS_BOGUS) {
			bogus = true;
			scan_reason(chk, &sh->h->reasons, "%s %s lookup failed DNSSEC validation: %s",
				    sh->h->name, dg_dns_type_str(ans[i]->qtype),
				    ans[i]->why_bogus ? ans[i]->why_bogus : "no reason given");
			continue;
		}
		if (dg_dns_answer_is_error(ans[i])) {
			error = true;
			scan_reason(chk, &sh->h->reasons, "%s %s lookup failed: %s%s%s", sh->h->name,
				    dg_dns_type_str(ans[i]->qtype),
				    dg_dns_outcome_str(ans[i]->outcome), ans[i]->reason ? ": " : "",
				    ans[i]->reason ? ans[i]->reason : "");
			continue;
		}
		if (ans[i]->outcome != DG_DNS_ANSWER)
			continue;
		secure = secure && ans[i]->security == DG_DNS_SECURE;
		for (size_t j = 0; j < ans[i]->n_rrs && n < DG_MAX_ADDRS; j++)
			rrs[n++] = &ans[i]->rrs[j];
	}
	/* exactly n results (each is several KB: a whole DG_MAX_ADDRS array per host made
	 * in-flight domains the bulk of a scan's memory, issue #7) */
	sh->h->addrs = dg_arena_alloc(chk->arena, (n > 0 ? n : 1) * sizeof(*sh->h->addrs));
	memset(sh->h->addrs, 0, (n > 0 ? n : 1) * sizeof(*sh->h->addrs));
	for (size_t k = 0; k < n; k++) {
		struct dg_addr_result *a = &sh->h->addrs[k];

		snprintf(a->addr, sizeof(a->addr), "%s", rrs[k]->u.addr.text);
		a->family = rrs[k]->u.addr.len == 4 ? 4 : 6;
	}
	sh->h->n_addrs = n;
	qsort(sh->h->addrs, n, sizeof(sh->h->addrs[0]), addr_cmp);
	sh->addr_secure = secure;
	if (n > 0)
		return true;
	/* SPEC HOST-2, HOST-3, MX-6 */
	if (bogus)
		host_set(sh, DG_HOST_BOGUS, "H-ADDR-ERROR");
	else if (error)
		host_set(sh, DG_HOST_DNS_ERROR, "H-ADDR-ERROR");
	else {
		host_set(sh, DG_HOST_UNREACHABLE, "H-NO-ADDRESS");
		scan_reason(chk, &sh->h->reasons, "%s has no address records: senders skip it",
			    sh->h->name);
	}
	return false;
}

static void cname_done(void *arg, const struct dg_dns_answer *ans)
{
	struct scan_host *sh = arg;
	struct scan_check *chk = sh->chk;

	sh->q_cname = 0;
	scan_rrset_set(chk, &sh->h->cname, ans);
	if (ans->outcome == DG_DNS_ANSWER && ans->security == DG_DNS_SECURE) {
		/* SPEC HOST-6: secure first link, insecure end: only the original name */
		sh->cands[sh->n_cands++] = sh->h->name;
		tlsa_next(sh);
	} else if (dg_dns_answer_is_error(ans) || ans->security == DG_DNS_BOGUS) {
		host_set(sh, ans->security == DG_DNS_BOGUS ? DG_HOST_BOGUS : DG_HOST_DNS_ERROR,
			 "H-ADDR-ERROR");
		scan_reason(chk, &sh->h->reasons, "CNAME lookup for %s failed: %s", sh->h->name,
			    ans->why_bogus ? ans->why_bogus
					   : (ans->reason ? ans->reason
							  : dg_dns_outcome_str(ans->outcome)));
	} else {
		host_set(sh, DG_HOST_INSECURE, "H-INSECURE-HOST");
		scan_reason(chk, &sh->h->reasons, "%s is an alias whose first CNAME is %s: DANE "
			    "does not apply, senders use opportunistic TLS (RFC 7672 2.2.2)",
			    sh->h->name, ans->outcome == DG_DNS_ANSWER ? "not DNSSEC-signed"
								 : "no longer there (NODATA)");
		host_probe(sh);
	}
	scan_release(chk);
}

/* Look up TLSA at the next candidate base domain (SPEC HOST-8). */
static void tlsa_next(struct scan_host *sh)
{
	char qname[DG_NAME_BUF_SIZE + 16];

	snprintf(qname, sizeof(qname), "_%u._tcp.%s", (unsigned)sh->chk->eng->opts.port,
		 sh->cands[sh->cand_i]);
	scan_hold(sh->chk);
	if (!lookup(sh, qname, DG_DNS_T_TLSA, tlsa_done, &sh->q_tlsa)) {
		host_set(sh, DG_HOST_DNS_ERROR, "H-TLSA-LOOKUP-ERROR");
		scan_release(sh->chk);
	}
}

static void tlsa_done(void *arg, const struct dg_dns_answer *ans)
{
	struct scan_host *sh = arg;
	struct scan_check *chk = sh->chk;
	struct dg_host_result *h = sh->h;

	sh->q_tlsa = 0;
	scan_rrset_set(chk, &h->tlsa, ans);
	if (ans->security == DG_DNS_BOGUS || dg_dns_answer_is_error(ans)) { /* SPEC HOST-10 */
		bool bogus = ans->security == DG_DNS_BOGUS;

		host_set(sh, bogus ? DG_HOST_BOGUS : DG_HOST_DNS_ERROR, "H-TLSA-LOOKUP-ERROR");
		scan_reason(chk, &h->reasons, "TLSA lookup for %s %s: %s; DANE senders treat "
			    "%s as unreachable and never connect (RFC 7672 2.1.2)", ans->qname,
			    bogus ? "failed DNSSEC validation" : "failed",
			    bogus ? (ans->why_bogus ? ans->why_bogus : "no reason given")
				  : (ans->reason ? ans->reason : dg_dns_outcome_str(ans->outcome)),
			    h->name);
	} else if (ans->outcome == DG_DNS_ANSWER && ans->security == DG_DNS_SECURE) {
		tlsa_found(sh, ans);
	} else if (++sh->cand_i < sh->n_cands) { /* SPEC HOST-7, HOST-9: next candidate */
		tlsa_next(sh);
	} else {
		host_set(sh, DG_HOST_NO_TLSA, "H-NO-TLSA");
		scan_reason(chk, &h->reasons, "%s: %s; DANE senders use opportunistic TLS with "
			    "%s", ans->qname,
			    ans->outcome == DG_DNS_ANSWER
				    ? "the TLSA records are not DNSSEC-signed, so they do not count"
				    : (ans->security == DG_DNS_SECURE
					       ? "no TLSA records (DNSSEC-validated denial)"
					       : "no TLSA records"),
			    h->name);
		host_probe(sh);
	}
	scan_release(chk);
}

/* A secure TLSA RRset: classify it and probe every address (SPEC TLSA-4 A/B). */
static void tlsa_found(struct scan_host *sh, const struct dg_dns_answer *ans)
{
	struct scan_check *chk = sh->chk;
	struct dg_host_result *h = sh->h;
	struct dg_err err = {0};

	h->tlsa_base = sh->cands[sh->cand_i];
	h->tlsa_set = dg_tlsa_set_new();
	for (size_t i = 0; i < ans->n_rrs; i++) {
		const struct dg_dns_rr *rr = &ans->rrs[i];

		if (dg_tlsa_set_add(h->tlsa_set, rr->u.tlsa.usage, rr->u.tlsa.selector,
				    rr->u.tlsa.mtype, rr->u.tlsa.data, rr->u.tlsa.len, &err) != DG_OK)
			scan_reason(chk, &h->reasons, "TLSA record #%zu of %s skipped: %s", i + 1,
				    ans->qname, err.msg);
	}
	/* an RRset has no order: sort it so reports are the same from run to run */
	qsort(h->tlsa_set->rr, h->tlsa_set->count, sizeof(h->tlsa_set->rr[0]), tlsa_cmp);
	if (ans->n_skipped > 0)
		scan_reason(chk, &h->reasons, "%zu TLSA record(s) of %s could not be read: %s",
			    ans->n_skipped, ans->qname, ans->skip_reason ? ans->skip_reason : "");
	dg_tlsa_set_classify(h->tlsa_set, &h->tlsa_summary);
	dg_tlsa_set_advise(h->tlsa_set, &h->advice);
	/* the published TTL, not what a cache has left of it (SPEC PUB-7) */
	dg_tlsa_ttl_advise(ans->orig_ttl_s != 0 ? ans->orig_ttl_s : ans->ttl_s, &h->advice);
	sh->dane = h->tlsa_summary.outcome == DG_TLSA_OUTCOME_USABLE ? SCAN_DANE_USABLE
								    : SCAN_DANE_UNUSABLE;
	if (sh->dane == SCAN_DANE_UNUSABLE)
		tlsa_explain_unusable(sh);
	host_ref_ids(sh);
	host_probe(sh);
}

/* SPEC TLSA-4 B: say that TLS is mandatory without authentication, and why each
 * record is unusable. */
static void tlsa_explain_unusable(struct scan_host *sh)
{
	struct dg_host_result *h = sh->h;
	char buf[DG_TLSA_DESCR_MAX];

	scan_reason(sh->chk, &h->reasons, "none of the %zu TLSA records at _%u._tcp.%s is usable "
		    "by a DANE sender: TLS is mandatory but the server is not authenticated "
		    "(RFC 7672 2.2)", h->tlsa_set->count, (unsigned)sh->chk->eng->opts.port,
		    h->tlsa_base);
	for (size_t i = 0; i < h->tlsa_set->count; i++) {
		dg_tlsa_rr_describe(&h->tlsa_set->rr[i], i + 1, buf, sizeof(buf));
		scan_reason(sh->chk, &h->reasons, "%s", buf);
	}
}

/* SPEC AUTH-5: the base domain is primary; a secure MX adds the next-hop domain
 * (original and CNAME-expanded); insecure-MX DANE uses the MX hostname only. */
static void host_ref_ids(struct scan_host *sh)
{
	struct scan_check *chk = sh->chk;
	struct dg_host_result *h = sh->h;

	h->ref_ids[h->n_ref_ids++] = h->tlsa_base;
	if (!chk->res->mx_secure && !h->implicit)
		return;
	if (strcmp(chk->res->domain, h->tlsa_base) != 0)
		h->ref_ids[h->n_ref_ids++] = chk->res->domain;
	if (chk->mx_canonical != NULL && strcmp(chk->mx_canonical, h->tlsa_base) != 0 &&
	    strcmp(chk->mx_canonical, chk->res->domain) != 0)
		h->ref_ids[h->n_ref_ids++] = chk->mx_canonical;
}

static void host_probe(struct scan_host *sh)
{
	struct scan_check *chk = sh->chk;

	if (chk->eng->opts.dns_only ||
	    (sh->dane == SCAN_DANE_NONE && !chk->eng->opts.probe_non_dane))
		return;
	sh->addrs = dg_xcalloc(sh->h->n_addrs ? sh->h->n_addrs : 1, sizeof(*sh->addrs));
	for (size_t i = 0; i < sh->h->n_addrs; i++) {
		sh->addrs[i].sh = sh;
		sh->addrs[i].a = &sh->h->addrs[i];
		scan_addr_start(&sh->addrs[i]);
	}
}

static void host_set(struct scan_host *sh, enum dg_host_status st, const char *code)
{
	sh->h->status = st;
	sh->h->code = code;
}

static int tlsa_cmp(const void *a, const void *b)
{
	const struct dg_tlsa_rr *x = a, *y = b;
	int d;

	if (x->usage != y->usage)
		return x->usage - y->usage;
	if (x->selector != y->selector)
		return x->selector - y->selector;
	if (x->mtype != y->mtype)
		return x->mtype - y->mtype;
	d = memcmp(x->data, y->data, x->len < y->len ? x->len : y->len);
	return d != 0 ? d : (x->len > y->len) - (x->len < y->len);
}

/* Same family first (A before AAAA), then by address text: stable reports. */
static int addr_cmp(const void *a, const void *b)
{
	const struct dg_addr_result *x = a, *y = b;

	if (x->family != y->family)
		return x->family - y->family;
	return strcmp(x->addr, y->addr);
}

static bool is_addr_literal(const char *name)
{
	unsigned char buf[16];
	char tmp[DG_NAME_BUF_SIZE];
	size_t len = strlen(name);

	if (len == 0 || len >= sizeof(tmp))
		return false;
	memcpy(tmp, name, len + 1);
	if (tmp[len - 1] == '.')
		tmp[len - 1] = '\0';
	return inet_pton(AF_INET, tmp, buf) == 1 || inet_pton(AF_INET6, tmp, buf) == 1;
}
