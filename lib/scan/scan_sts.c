/*
 * scan_sts.c - the per-domain MTA-STS and TLS-RPT stage of the engine, and what each kind of
 * sender does with the domain's mail.
 *
 * Internal: scan_sts_start, scan_sts_finish, scan_sts_release.
 *
 * Started when the MX answer is in (so the zone's DNSKEY RRset is validated once, not once per
 * parallel query): `_smtp._tls.DOMAIN` TXT (TLS-RPT), and unless opts.mta_sts is
 * off `_mta-sts.DOMAIN` TXT and the A/AAAA records of `mta-sts.DOMAIN`, all through the
 * engine's DNS context. When these are in, the policy is fetched over HTTPS (lib/mtasts, libcurl
 * on the engine's event loop) with the addresses just resolved, so no system resolver is used.
 * When every stage of the check is done, scan_sts_finish() matches each MX host against the
 * policy's patterns, verifies the chain the host's STARTTLS probe captured against the MTA-STS
 * CA store for the MX name, and computes the senders' actions (scan_senders_decide).
 *
 * With opts.sts_cache (the relay, SPEC STS-4) the stage first asks dg_sts_cache_decide():
 * a cached policy is applied without a fetch (parsed by the same parser, so the result reads
 * as after a fetch, with from_cache set), a policy fetched for a valid TXT record is stored
 * with its id, and a failed fetch is recorded (no refetch for that id within 5 minutes,
 * STS-2) and falls back to a cached policy that has not expired (RFC 8461 5.1). Without a
 * cache nothing of this runs.
 *
 * Ownership: strings go into the check's arena; the parsed policy belongs to the check until
 * scan_sts_release(); the fetch is cancelled there if still running.
 * Implements SPEC STS-1 (TXT selection), STS-2 (fetch), STS-3 (policy), STS-4 (a failed fetch
 * without a cached policy: deliver as without MTA-STS), STS-5 (the policy domain is the
 * next-hop domain), STS-6 (pattern, STARTTLS, PKIX for the MX name), STS-7, STS-9 and RPT-1.
 *
 * SNI: MTA-STS wants SNI = the MX host name. The probe whose chain is checked used the TLSA
 * base domain (DANE hosts) or the CNAME-expanded name (aliases); for hosts that are not
 * aliases both equal the MX name. Where they differ, a reason says which SNI the certificate
 * was obtained with (docs/internals/mtasts.md).
 */
#include "scan_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool sts_lookup(struct scan_check *chk, const char *name, uint16_t type, dg_dns_cb *cb,
		       uint64_t *q, struct dg_reasons *why);
static size_t txt_collect(const struct dg_dns_answer *ans, const char **txt, size_t *lens);
static const char *ans_failure(const struct dg_dns_answer *ans);
static void rpt_done(void *arg, const struct dg_dns_answer *ans);
static void sts_txt_done(void *arg, const struct dg_dns_answer *ans);
static void sts_a_done(void *arg, const struct dg_dns_answer *ans);
static void sts_aaaa_done(void *arg, const struct dg_dns_answer *ans);
static void sts_addr_done(struct scan_check *chk, const struct dg_dns_answer *ans);
static void sts_maybe_fetch(struct scan_check *chk);
static void sts_fetch_done(void *arg, const struct dg_sts_fetch_result *r);
static void sts_policy_set(struct scan_check *chk, const struct dg_sts_fetch_result *r);
static bool sts_policy_use(struct scan_check *chk, const uint8_t *body, size_t len,
			   const char *src);
static bool sts_cache_decide(struct scan_check *chk);
static bool sts_cache_apply(struct scan_check *chk, const struct dg_sts_cache_entry *e);
static void sts_cache_store(struct scan_check *chk, const struct dg_sts_fetch_result *r);
static void sts_cache_failed(struct scan_check *chk);
static void sts_host(struct scan_check *chk, size_t i, struct scan_sender_host *in);
static enum dg_tri sts_host_pkix(struct scan_check *chk, struct scan_host *sh);

enum { STS_MAX_TXT = DG_DNS_MAX_RRS };

void scan_sts_start(struct scan_check *chk)
{
	struct dg_domain_result *res = chk->res;
	const struct dg_engine_opts *o = &chk->eng->opts;
	struct scan_sts *s = &chk->sts;
	char name[DG_NAME_BUF_SIZE + 16];

	res->tlsrpt.checked = true;
	snprintf(name, sizeof(name), "_smtp._tls.%s", res->domain);
	sts_lookup(chk, name, DG_DNS_T_TXT, rpt_done, &s->q_rpt, &res->tlsrpt.reasons);
	if (!o->mta_sts || chk->eng->sts_fetcher == NULL)
		return;
	res->mta_sts.checked = true;
	snprintf(name, sizeof(name), "_mta-sts.%s", res->domain);
	if (sts_lookup(chk, name, DG_DNS_T_TXT, sts_txt_done, &s->q_txt, &res->mta_sts.reasons))
		s->waits++;
	snprintf(name, sizeof(name), "mta-sts.%s", res->domain);
	if (o->ipv4 && sts_lookup(chk, name, DG_DNS_T_A, sts_a_done, &s->q_a, &res->mta_sts.reasons))
		s->waits++;
	if (o->ipv6 &&
	    sts_lookup(chk, name, DG_DNS_T_AAAA, sts_aaaa_done, &s->q_aaaa, &res->mta_sts.reasons))
		s->waits++;
}

static bool sts_lookup(struct scan_check *chk, const char *name, uint16_t type, dg_dns_cb *cb,
		       uint64_t *q, struct dg_reasons *why)
{
	struct dg_err err = {0};

	if (dg_dns_lookup(chk->eng->dns, name, type, cb, chk, q, &err) != DG_OK) {
		scan_reason(chk, why, "%s %s lookup could not start: %s", name,
			    dg_dns_type_str(type), err.msg);
		return false;
	}
	scan_hold(chk); /* callbacks never run from inside dg_dns_lookup() */
	return true;
}

/* The TXT records of an answer (strings joined without separator by lib/dns, STS-1). */
static size_t txt_collect(const struct dg_dns_answer *ans, const char **txt, size_t *lens)
{
	size_t n = 0;

	for (size_t i = 0; i < ans->n_rrs && n < STS_MAX_TXT; i++)
		if (ans->rrs[i].type == DG_DNS_T_TXT) {
			txt[n] = ans->rrs[i].u.txt.text;
			lens[n++] = ans->rrs[i].u.txt.len;
		}
	return n;
}

/* NULL for an answer or a denial, else why the lookup failed. */
static const char *ans_failure(const struct dg_dns_answer *ans)
{
	if (ans->security == DG_DNS_BOGUS)
		return ans->why_bogus != NULL ? ans->why_bogus : "DNSSEC validation failed";
	if (dg_dns_answer_is_error(ans))
		return ans->reason != NULL ? ans->reason : dg_dns_outcome_str(ans->outcome);
	return NULL;
}

/* SPEC RPT-1 */
static void rpt_done(void *arg, const struct dg_dns_answer *ans)
{
	struct scan_check *chk = arg;
	struct dg_tlsrpt_result *t = &chk->res->tlsrpt;
	const char *txt[STS_MAX_TXT], *fail = ans_failure(ans);
	size_t lens[STS_MAX_TXT], n;
	struct dg_tlsrpt *rec = dg_xcalloc(1, sizeof(*rec));
	struct dg_err err;

	chk->sts.q_rpt = 0;
	dg_err_clear(&err);
	n = fail == NULL && ans->outcome == DG_DNS_ANSWER ? txt_collect(ans, txt, lens) : 0;
	t->status = dg_tlsrpt_select(txt, lens, n, rec, &err);
	if (fail != NULL)
		scan_reason(chk, &t->reasons, "TXT lookup for %s failed: %s; there is no TLS-RPT "
			    "policy a sender can use", ans->qname, fail);
	else if (t->status == DG_TLSRPT_ABSENT)
		scan_reason(chk, &t->reasons, "%s has no v=TLSRPTv1 record: senders do not report "
			    "TLS failures to the domain (RFC 8460)", ans->qname);
	else if (t->status == DG_TLSRPT_INVALID)
		scan_reason(chk, &t->reasons, "%s: %s", ans->qname, err.msg);
	if (t->status == DG_TLSRPT_VALID) {
		t->rua = dg_arena_alloc(chk->arena, rec->n_rua * sizeof(*t->rua) + 1);
		for (size_t i = 0; i < rec->n_rua; i++)
			t->rua[i] = scan_strdup(chk, rec->rua[i]);
		t->n_rua = rec->n_rua;
	}
	free(rec);
	scan_release(chk);
}

/* SPEC STS-1 */
static void sts_txt_done(void *arg, const struct dg_dns_answer *ans)
{
	struct scan_check *chk = arg;
	struct dg_sts_result *m = &chk->res->mta_sts;
	const char *txt[STS_MAX_TXT], *fail = ans_failure(ans);
	size_t lens[STS_MAX_TXT], n;
	struct dg_sts_txt rec;
	struct dg_err err;

	chk->sts.q_txt = 0;
	dg_err_clear(&err);
	n = fail == NULL && ans->outcome == DG_DNS_ANSWER ? txt_collect(ans, txt, lens) : 0;
	m->txt = dg_sts_txt_select(txt, lens, n, &rec, &err);
	if (fail != NULL)
		scan_reason(chk, &m->reasons, "TXT lookup for %s failed: %s; senders find no "
			    "MTA-STS policy", ans->qname, fail);
	else if (m->txt == DG_STS_TXT_ABSENT)
		scan_reason(chk, &m->reasons, "%s has no v=STSv1 record: the domain has no MTA-STS "
			    "policy (RFC 8461 3.1)", ans->qname);
	else if (m->txt == DG_STS_TXT_INVALID)
		scan_reason(chk, &m->reasons, "%s: %s; senders treat the domain as having no "
			    "MTA-STS policy", ans->qname, err.msg);
	else
		m->id = scan_strdup(chk, rec.id);
	chk->sts.waits--;
	sts_maybe_fetch(chk);
	scan_release(chk);
}

static void sts_a_done(void *arg, const struct dg_dns_answer *ans)
{
	struct scan_check *chk = arg;

	chk->sts.q_a = 0;
	sts_addr_done(chk, ans);
}

static void sts_aaaa_done(void *arg, const struct dg_dns_answer *ans)
{
	struct scan_check *chk = arg;

	chk->sts.q_aaaa = 0;
	sts_addr_done(chk, ans);
}

/* Addresses of mta-sts.DOMAIN: insecure is fine (MTA-STS relies on PKIX), bogus is not. */
static void sts_addr_done(struct scan_check *chk, const struct dg_dns_answer *ans)
{
	struct scan_sts *s = &chk->sts;
	const char *fail = ans_failure(ans);
	char buf[256];

	if (fail != NULL) {
		snprintf(buf, sizeof(buf), "%s %s lookup failed: %s", ans->qname,
			 dg_dns_type_str(ans->qtype), fail);
		s->addr_why = scan_strdup(chk, buf);
	}
	for (size_t i = 0; fail == NULL && i < ans->n_rrs && s->n_addrs < DG_MAX_ADDRS; i++)
		if (ans->rrs[i].type == DG_DNS_T_A || ans->rrs[i].type == DG_DNS_T_AAAA)
			s->addrs[s->n_addrs++] = scan_strdup(chk, ans->rrs[i].u.addr.text);
	s->waits--;
	sts_maybe_fetch(chk);
	scan_release(chk);
}

/* Once the TXT record and the addresses are in: fetch (SPEC STS-2). Without a valid TXT
 * record senders never fetch; the checker still does, to say so when a policy is served. */
static void sts_maybe_fetch(struct scan_check *chk)
{
	struct scan_sts *s = &chk->sts;
	struct dg_sts_result *m = &chk->res->mta_sts;
	const struct dg_engine_opts *o = &chk->eng->opts;
	char host[DG_NAME_BUF_SIZE + 16];
	struct dg_sts_fetch_opts fo = {0};
	struct dg_err err = {0};

	if (s->waits > 0)
		return;
	if (o->sts_cache != NULL && !sts_cache_decide(chk))
		return;
	snprintf(host, sizeof(host), "mta-sts.%s", chk->res->domain);
	if (s->n_addrs == 0) {
		if (m->txt == DG_STS_TXT_PRESENT) {
			m->policy = DG_STS_POLICY_FETCH_ERROR;
			scan_reason(chk, &m->reasons, "the policy host %s has no usable address%s%s",
				    host, s->addr_why != NULL ? ": " : "",
				    s->addr_why != NULL ? s->addr_why : "");
			sts_cache_failed(chk);
		}
		return;
	}
	fo.host = host;
	fo.port = o->sts_port;
	fo.addrs = s->addrs;
	fo.n_addrs = s->n_addrs;
	fo.ca_file = o->ca_file;
	fo.timeout_ms = o->timeout_ms;
	fo.max_bytes = DG_STS_POLICY_MAX_BYTES;
	if (dg_sts_fetch_start(chk->eng->sts_fetcher, &fo, sts_fetch_done, chk, &s->fetch, &err) !=
	    DG_OK) {
		if (m->txt == DG_STS_TXT_PRESENT) {
			m->policy = DG_STS_POLICY_FETCH_ERROR;
			scan_reason(chk, &m->reasons, "policy fetch could not start: %s", err.msg);
			sts_cache_failed(chk);
		}
		return;
	}
	scan_hold(chk);
}

static void sts_fetch_done(void *arg, const struct dg_sts_fetch_result *r)
{
	struct scan_check *chk = arg;
	struct dg_sts_result *m = &chk->res->mta_sts;

	chk->sts.fetch = NULL;
	if (m->txt == DG_STS_TXT_PRESENT) {
		sts_policy_set(chk, r);
		if (chk->eng->opts.sts_cache != NULL && m->policy == DG_STS_POLICY_VALID)
			sts_cache_store(chk, r);
		else if (chk->eng->opts.sts_cache != NULL)
			sts_cache_failed(chk);
	} else if (r->outcome == DG_STS_FETCH_OK) {
		struct dg_sts_policy pol;

		if (dg_sts_policy_parse(r->body, r->len, &pol, NULL) == DG_OK)
			scan_reason(chk, &m->reasons, "%s serves a valid policy (mode %s), but "
				    "without a valid _mta-sts TXT record senders never fetch it "
				    "(RFC 8461 3.1)", r->url, dg_sts_mode_str(pol.mode));
		dg_sts_policy_cleanup(&pol);
	}
	scan_release(chk);
}

/* The fetched policy of a domain with a valid TXT record (SPEC STS-2, STS-3, STS-4, STS-7). */
static void sts_policy_set(struct scan_check *chk, const struct dg_sts_fetch_result *r)
{
	struct dg_sts_result *m = &chk->res->mta_sts;

	if (r->outcome != DG_STS_FETCH_OK) {
		m->policy = DG_STS_POLICY_FETCH_ERROR;
		scan_reason(chk, &m->reasons, "%s; without a cached policy senders deliver as if "
			    "the domain had no MTA-STS (RFC 8461 5.1)", r->reason);
		return;
	}
	sts_policy_use(chk, r->body, r->len, r->url);
}

/* Parse a policy body (fetched, or cached) into the check's result; false if invalid. */
static bool sts_policy_use(struct scan_check *chk, const uint8_t *body, size_t len,
			   const char *src)
{
	struct dg_sts_result *m = &chk->res->mta_sts;
	struct dg_sts_policy *pol = &chk->sts.policy;
	struct dg_err err = {0};

	dg_sts_policy_cleanup(pol);
	if (dg_sts_policy_parse(body, len, pol, &err) != DG_OK) {
		dg_sts_policy_cleanup(pol);
		m->policy = DG_STS_POLICY_INVALID;
		scan_reason(chk, &m->reasons, "%s: %s", src, err.msg);
		return false;
	}
	m->policy = DG_STS_POLICY_VALID;
	m->has_policy = true;
	m->mode = pol->mode;
	m->max_age_s = pol->max_age_s;
	m->mx = dg_arena_alloc(chk->arena, (pol->n_mx + 1) * sizeof(*m->mx));
	for (size_t i = 0; i < pol->n_mx; i++)
		m->mx[i] = scan_strdup(chk, pol->mx[i]);
	m->n_mx = pol->n_mx;
	if (pol->mode == DG_STS_MODE_NONE)
		scan_reason(chk, &m->reasons, "mode none: senders treat the domain as having no "
			    "MTA-STS policy (RFC 8461 5)");
	else if (pol->mode == DG_STS_MODE_TESTING)
		scan_reason(chk, &m->reasons, "mode testing: senders report failures through "
			    "TLS-RPT but deliver anyway (RFC 8461 5)");
	return true;
}

/* SPEC STS-4 with a cache: apply a cached policy or give up without a fetch (false), or
 * let the caller fetch (true). */
static bool sts_cache_decide(struct scan_check *chk)
{
	struct dg_sts_result *m = &chk->res->mta_sts;
	struct dg_sts_cache_entry e;
	struct dg_err err = {0};
	enum dg_status st;
	enum dg_sts_cache_action a;
	char why[320];

	st = dg_sts_cache_get(chk->eng->opts.sts_cache, chk->res->domain, &e, &err);
	if (st != DG_OK && st != DG_E_NOTFOUND)
		scan_reason(chk, &m->reasons, "MTA-STS cache not readable, treated as empty: %s",
			    err.msg);
	a = dg_sts_cache_decide(st == DG_OK ? &e : NULL, m->txt == DG_STS_TXT_PRESENT, m->id,
				(uint64_t)dg_clock_wall(), why, sizeof(why));
	if (a == DG_STS_USE_CACHED) {
		sts_cache_apply(chk, &e);
		scan_reason(chk, &m->reasons, "MTA-STS policy from the cache: %s", why);
	} else if (a == DG_STS_NONE && m->txt == DG_STS_TXT_PRESENT) {
		m->policy = DG_STS_POLICY_FETCH_ERROR;
		scan_reason(chk, &m->reasons, "%s; senders deliver as if the domain had no MTA-STS "
			    "(RFC 8461 5.1)", why);
	}
	dg_sts_cache_entry_cleanup(&e);
	return a == DG_STS_FETCH;
}

/* Apply a cached policy: the same parser as for a fetched one, so the fields match. */
static bool sts_cache_apply(struct scan_check *chk, const struct dg_sts_cache_entry *e)
{
	char src[DG_NAME_BUF_SIZE + 32];

	snprintf(src, sizeof(src), "cached policy of %s", e->domain);
	if (!sts_policy_use(chk, (const uint8_t *)e->policy_text, e->policy_len, src))
		return false;
	chk->res->mta_sts.from_cache = true;
	return true;
}

/* A valid policy fetched for a valid TXT record: store it with its id (mode none too). */
static void sts_cache_store(struct scan_check *chk, const struct dg_sts_fetch_result *r)
{
	struct dg_sts_result *m = &chk->res->mta_sts;
	struct dg_sts_cache_entry e;
	struct dg_err err = {0};

	memset(&e, 0, sizeof(e));
	snprintf(e.domain, sizeof(e.domain), "%s", chk->res->domain);
	snprintf(e.id, sizeof(e.id), "%s", m->id);
	e.fetched_s = (uint64_t)dg_clock_wall();
	e.policy_text = (char *)r->body; /* borrowed for the put; never freed here */
	e.policy_len = r->len;
	if (dg_sts_cache_put(chk->eng->opts.sts_cache, &e, &err) != DG_OK) {
		scan_reason(chk, &m->reasons, "MTA-STS policy not cached: %s", err.msg);
		DG_LOG(NULL, DG_LOG_WARN, "sts-cache domain=%s result=put-failed reason=\"%s\"",
		       chk->res->domain, err.msg);
	}
}

/* A failed fetch for a valid TXT record: remember it (SPEC STS-2: no refetch for this id
 * within 5 minutes) and fall back to a cached policy that has not expired (STS-4). */
static void sts_cache_failed(struct scan_check *chk)
{
	struct dg_sts_result *m = &chk->res->mta_sts;
	struct dg_sts_cache *c = chk->eng->opts.sts_cache;
	struct dg_sts_cache_entry e;
	struct dg_err err = {0};
	uint64_t now = (uint64_t)dg_clock_wall();
	char why[320];

	if (c == NULL || m->id == NULL)
		return;
	if (dg_sts_cache_get(c, chk->res->domain, &e, NULL) != DG_OK) {
		memset(&e, 0, sizeof(e));
		snprintf(e.domain, sizeof(e.domain), "%s", chk->res->domain);
	}
	e.last_fail_s = now;
	snprintf(e.fail_id, sizeof(e.fail_id), "%s", m->id);
	if (dg_sts_cache_put(c, &e, &err) != DG_OK)
		DG_LOG(NULL, DG_LOG_WARN, "sts-cache domain=%s result=put-failed reason=\"%s\"",
		       chk->res->domain, err.msg);
	if (dg_sts_cache_decide(&e, false, NULL, now, why, sizeof(why)) == DG_STS_USE_CACHED &&
	    sts_cache_apply(chk, &e))
		scan_reason(chk, &m->reasons, "the fetch failed, so senders apply the cached "
			    "policy: %s", why);
	dg_sts_cache_entry_cleanup(&e);
}

/* Every stage is done: per-host MTA-STS results and the senders' actions. */
void scan_sts_finish(struct scan_check *chk)
{
	struct dg_domain_result *res = chk->res;
	struct scan_sender_host *in = dg_xcalloc(res->n_hosts + 1, sizeof(*in));
	struct scan_sender_domain d = {
		.has_hosts = res->n_hosts > 0 && !res->null_mx,
		.mx_secure = res->mx_secure,
		.sts_valid = res->mta_sts.policy == DG_STS_POLICY_VALID,
		.mode = res->mta_sts.mode,
	};

	for (size_t i = 0; i < res->n_hosts; i++)
		sts_host(chk, i, &in[i]);
	scan_senders_decide(&d, in, res->n_hosts, &res->senders);
	free(in);
}

/* One MX host: pattern match, TLS, PKIX (SPEC STS-6), and the inputs of the decision. */
static void sts_host(struct scan_check *chk, size_t i, struct scan_sender_host *in)
{
	struct dg_domain_result *res = chk->res;
	struct dg_host_result *h = &res->hosts[i];
	struct scan_host *sh = chk->hosts != NULL ? &chk->hosts[i] : NULL;
	const struct dg_sts_result *m = &res->mta_sts;
	bool pkix = m->policy == DG_STS_POLICY_VALID && m->mode != DG_STS_MODE_NONE;

	in->status = h->status;
	in->dane_policy = (sh != NULL && sh->dane == SCAN_DANE_USABLE) ||
			  (h->code != NULL && strcmp(h->code, "H-TLSA-LOOKUP-ERROR") == 0);
	in->reachable = h->n_addrs > 0 && h->status != DG_HOST_UNREACHABLE &&
			!(h->code != NULL && strcmp(h->code, "H-ADDR-ERROR") == 0);
	for (size_t j = 0; sh != NULL && sh->addrs != NULL && j < h->n_addrs; j++)
		if (sh->addrs[j].probe0 != NULL &&
		    sh->addrs[j].probe0->outcome == DG_SMTP_PROBE_TLS_OK)
			in->tls_ok = true;
	if (m->policy == DG_STS_POLICY_VALID) {
		h->mta_sts_match = dg_sts_policy_matches(&chk->sts.policy, h->name) ? DG_TRI_YES
										    : DG_TRI_NO;
		if (h->mta_sts_match == DG_TRI_NO && pkix)
			scan_reason(chk, &res->mta_sts.reasons, "MX host %s matches no mx pattern of "
				    "the policy: in enforce mode senders do not deliver to it "
				    "(RFC 8461 4.1)", h->name);
	}
	if (pkix && sh != NULL) {
		h->pkix_valid = sts_host_pkix(chk, sh);
		if (h->pkix_valid == DG_TRI_NULL)
			scan_reason(chk, &res->mta_sts.reasons, "MX host %s: no TLS connection, so "
				    "its certificate could not be checked (RFC 8461 4.2)", h->name);
	}
	in->sts_match = h->mta_sts_match;
	in->pkix = h->pkix_valid;
}

/* Every address that completed a handshake must present a PKIX-valid chain for the MX name. */
static enum dg_tri sts_host_pkix(struct scan_check *chk, struct scan_host *sh)
{
	struct dg_host_result *h = sh->h;
	struct dg_reasons *r = &chk->res->mta_sts.reasons;
	enum dg_tri got = DG_TRI_NULL;
	char why[256];

	for (size_t j = 0; sh->addrs != NULL && j < h->n_addrs; j++) {
		const struct scan_probe *p = sh->addrs[j].probe0;

		if (p == NULL || p->outcome != DG_SMTP_PROBE_TLS_OK || p->chain == NULL)
			continue;
		if (p->sni != NULL && dg_ascii_strcasecmp(p->sni, h->name) != 0)
			scan_reason(chk, r, "%s (%s): the certificate checked was obtained with SNI %s, "
				    "not the MX name", h->name, h->addrs[j].addr, p->sni);
		if (dg_sts_cert_is_valid(chk->eng->sts_store, p->chain, h->name, dg_clock_wall(),
					 why, sizeof(why))) {
			if (got == DG_TRI_NULL)
				got = DG_TRI_YES;
		} else {
			got = DG_TRI_NO;
			scan_reason(chk, r, "MX host %s (%s): certificate not PKIX-valid for %s: %s",
				    h->name, h->addrs[j].addr, h->name, why);
		}
	}
	return got;
}

void scan_sts_release(struct scan_check *chk)
{
	struct scan_sts *s = &chk->sts;
	uint64_t *q[] = {&s->q_txt, &s->q_rpt, &s->q_a, &s->q_aaaa};

	for (size_t k = 0; k < sizeof(q) / sizeof(q[0]); k++)
		if (*q[k] != 0) {
			dg_dns_cancel(chk->eng->dns, *q[k]);
			*q[k] = 0;
		}
	dg_sts_fetch_cancel(s->fetch);
	s->fetch = NULL;
	dg_sts_policy_cleanup(&s->policy);
}
