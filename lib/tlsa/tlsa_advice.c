/*
 * tlsa_advice.c - publishing advice for a TLSA RRset.
 *
 * Public: dg_tlsa_advice_init, dg_tlsa_advice_cleanup, dg_tlsa_advice_find,
 *         dg_tlsa_severity_str, dg_tlsa_set_has_rollover, dg_tlsa_set_advise,
 *         dg_tlsa_set_advise_chain, dg_tlsa_ttl_advise.
 *
 * Pure functions over borrowed sets and chains; they append items (code, SPEC id, severity,
 * record number, sentence) to a caller-embedded struct dg_tlsa_advice, which owns its item
 * array until dg_tlsa_advice_cleanup(). Codes are stable strings for JSON output and tests.
 *
 * SPEC: PUB-1 (preferred records), PUB-2 (Full(0) matching, RRset size), PUB-3 (DANE-TA needs
 * the TA in the chain), PUB-4 (PKIX usages), PUB-5 (combinations match the current chain; no
 * SHA2-512-only), PUB-6 (internet.nl rollover rule), PUB-7 (TTL), TLSA-2, TLSA-4, AUTH-7.
 */
#include "tlsa/tlsa_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
	TTL_MIN_S = 300,       /* SPEC PUB-7: roughly 5 minutes .. */
	TTL_MAX_S = 86400,     /* .. to 1 day */
	UDP_SAFE_BYTES = 1232, /* DNS flag day 2020 EDNS buffer size */
	RR_OVERHEAD_BYTES = 12 /* compressed owner (2) + type, class, TTL, RDLENGTH (10) */
};

static void advice_add(struct dg_tlsa_advice *adv, const char *code, const char *spec,
                       enum dg_tlsa_severity sev, size_t record, const char *fmt, ...)
    DG_PRINTF(6, 7);
static void advise_record(const struct dg_tlsa_set *set, size_t i, enum dg_tlsa_usability u,
                          struct dg_tlsa_advice *adv);
static void advise_digests(const struct dg_tlsa_set *set, const struct dg_tlsa_summary *sum,
                           struct dg_tlsa_advice *adv);
static void advise_rollover(const struct dg_tlsa_set *set, struct dg_tlsa_advice *adv);
static void advise_size(const struct dg_tlsa_set *set, struct dg_tlsa_advice *adv);
static void count_dane(const struct dg_tlsa_set *set, size_t *ee, size_t *ta);
static bool chain_matches(const struct dg_tlsa_rr *rr, STACK_OF(X509) * chain, int *depth);
static bool combo_seen(const struct dg_tlsa_set *set, size_t i);
static void advise_combinations(const struct dg_tlsa_set *set, const bool *usable,
                                const bool *match, struct dg_tlsa_advice *adv);

void dg_tlsa_advice_init(struct dg_tlsa_advice *adv)
{
	memset(adv, 0, sizeof(*adv));
}

void dg_tlsa_advice_cleanup(struct dg_tlsa_advice *adv)
{
	if (adv == NULL)
		return;
	free(adv->item);
	memset(adv, 0, sizeof(*adv));
}

const struct dg_tlsa_advice_item *dg_tlsa_advice_find(const struct dg_tlsa_advice *adv,
                                                      const char *code)
{
	for (size_t i = 0; i < adv->count; i++)
		if (strcmp(adv->item[i].code, code) == 0)
			return &adv->item[i];
	return NULL;
}

const char *dg_tlsa_severity_str(enum dg_tlsa_severity s)
{
	switch (s) {
	case DG_TLSA_SEV_INFO: return "info";
	case DG_TLSA_SEV_WARN: return "warn";
	case DG_TLSA_SEV_ERROR: return "error";
	}
	return "unknown";
}

static void advice_add(struct dg_tlsa_advice *adv, const char *code, const char *spec,
                       enum dg_tlsa_severity sev, size_t record, const char *fmt, ...)
{
	struct dg_tlsa_advice_item *it;
	va_list ap;

	if (adv->count == adv->cap) {
		size_t cap = adv->cap == 0 ? 8 : adv->cap * 2;
		adv->item = dg_xrealloc(adv->item, cap * sizeof(*adv->item));
		adv->cap = cap;
	}
	it = &adv->item[adv->count++];
	it->code = code;
	it->spec = spec;
	it->severity = sev;
	it->record = record;
	va_start(ap, fmt);
	vsnprintf(it->text, sizeof(it->text), fmt, ap);
	va_end(ap);
}

static void count_dane(const struct dg_tlsa_set *set, size_t *ee, size_t *ta)
{
	*ee = 0;
	*ta = 0;
	for (size_t i = 0; set != NULL && i < set->count; i++) {
		if (set->rr[i].usage == DG_TLSA_USAGE_DANE_EE)
			(*ee)++;
		else if (set->rr[i].usage == DG_TLSA_USAGE_DANE_TA)
			(*ta)++;
	}
}

bool dg_tlsa_set_has_rollover(const struct dg_tlsa_set *set)
{
	size_t ee, ta;

	/* SPEC PUB-6 (internet.nl): usages 0/1 ignored. */
	count_dane(set, &ee, &ta);
	return ee >= 2 || (ee >= 1 && ta >= 1);
}

/* Per-record advice: unusable reasons, Full(0), selector choice, duplicates. */
static void advise_record(const struct dg_tlsa_set *set, size_t i, enum dg_tlsa_usability u,
                          struct dg_tlsa_advice *adv)
{
	const struct dg_tlsa_rr *rr = &set->rr[i];
	char d[DG_TLSA_DESCR_MAX];

	dg_tlsa_rr_describe(rr, i + 1, d, sizeof(d));
	if (u == DG_TLSA_UNUSABLE_PKIX_USAGE) {
		advice_add(adv, "pkix-usage-ignored", "PUB-4", DG_TLSA_SEV_WARN, i + 1,
		           "%s; publish DANE-EE(3) or DANE-TA(2) records for port 25", d);
	} else if (u != DG_TLSA_USABLE) {
		advice_add(adv, "unusable-record", "TLSA-2", DG_TLSA_SEV_WARN, i + 1, "%s", d);
		return;
	}
	for (size_t j = 0; j < i; j++) {
		if (dg_tlsa_rr_is_equal(&set->rr[j], rr)) {
			advice_add(adv, "duplicate-record", "PUB-5", DG_TLSA_SEV_INFO, i + 1,
			           "TLSA record #%zu repeats record #%zu", i + 1, j + 1);
			break;
		}
	}
	if (u != DG_TLSA_USABLE)
		return;
	if (rr->mtype == DG_TLSA_MTYPE_FULL)
		advice_add(adv, "full-match-not-recommended", "PUB-2", DG_TLSA_SEV_WARN, i + 1,
		           "TLSA %u %u 0 record #%zu: Full(0) matching is NOT RECOMMENDED%s; "
		           "publish a SHA2-256 digest (%u %u 1) instead",
		           rr->usage, rr->selector, i + 1,
		           rr->selector == DG_TLSA_SEL_CERT
		               ? " and \"x 0 0\" SHOULD NOT be published"
		               : "",
		           rr->usage, rr->selector);
	if (rr->usage == DG_TLSA_USAGE_DANE_TA && rr->selector == DG_TLSA_SEL_SPKI)
		advice_add(adv, "ta-cert-selector", "PUB-1", DG_TLSA_SEV_INFO, i + 1,
		           "TLSA 2 1 %u record #%zu: RFC 7672 says DANE-TA SHOULD use selector "
		           "Cert(0) (2 0 1); 2 1 1 is common practice and works",
		           rr->mtype, i + 1);
	if (rr->usage == DG_TLSA_USAGE_DANE_EE && rr->selector == DG_TLSA_SEL_CERT)
		advice_add(adv, "ee-cert-selector", "PUB-1", DG_TLSA_SEV_INFO, i + 1,
		           "TLSA 3 0 %u record #%zu: changes at every certificate renewal; "
		           "3 1 1 (SPKI) survives renewals that keep the key",
		           rr->mtype, i + 1);
}

/* SPEC PUB-5 (no SHA2-512 only) and AUTH-7 (weaker digests are ignored by senders). */
static void advise_digests(const struct dg_tlsa_set *set, const struct dg_tlsa_summary *sum,
                           struct dg_tlsa_advice *adv)
{
	struct dg_tlsa_agility ag;
	bool has256 = false, has512 = false;

	for (size_t i = 0; i < set->count; i++) {
		if (sum->reason[i] != DG_TLSA_USABLE)
			continue;
		has256 |= set->rr[i].mtype == DG_TLSA_MTYPE_SHA256;
		has512 |= set->rr[i].mtype == DG_TLSA_MTYPE_SHA512;
	}
	if (has512 && !has256)
		advice_add(adv, "sha512-only", "PUB-5", DG_TLSA_SEV_WARN, 0,
		           "only SHA2-512 digests are published; servers SHOULD NOT publish only "
		           "SHA2-512, add SHA2-256 (x x 1) records for the same keys");
	dg_tlsa_set_agility(set, NULL, &ag);
	for (size_t i = 0; i < set->count; i++) {
		const struct dg_tlsa_rr *rr = &set->rr[i];

		if (ag.state[i] != DG_TLSA_AUTH_WEAKER)
			continue;
		advice_add(adv, "weaker-digest-ignored", "AUTH-7", DG_TLSA_SEV_INFO, i + 1,
		           "TLSA %u %u %u record #%zu: senders ignore it because a stronger digest "
		           "is published for %u %u; both digests must cover the same certificates",
		           rr->usage, rr->selector, rr->mtype, i + 1, rr->usage, rr->selector);
	}
}

/* SPEC PUB-6: the internet.nl rollover rule. */
static void advise_rollover(const struct dg_tlsa_set *set, struct dg_tlsa_advice *adv)
{
	size_t ee, ta;

	count_dane(set, &ee, &ta);
	if (ee + ta == 0)
		return;
	if (dg_tlsa_set_has_rollover(set)) {
		if (ta == 0)
			advice_add(adv, "rollover-check-caveat", "PUB-6", DG_TLSA_SEV_INFO, 0,
			           "%zu DANE-EE records pass the rollover check; make sure they "
			           "are current + next key, not one record per certificate of a "
			           "dual RSA/ECDSA server",
			           ee);
		return;
	}
	if (ee + ta == 1)
		advice_add(adv, "single-record-no-rollover", "PUB-6", DG_TLSA_SEV_INFO, 0,
		           "a single DANE record leaves no room for a key rollover; publish "
		           "3 1 1 for the next key too, or 2 1 1 for the issuing CA");
	else
		advice_add(adv, "no-rollover", "PUB-6", DG_TLSA_SEV_INFO, 0,
		           "no rollover scheme (3 1 1 + 3 1 1, or 3 1 1 + 2 1 1): %zu DANE-EE and "
		           "%zu DANE-TA records",
		           ee, ta);
}

/* SPEC PUB-2: avoid RRsets that do not fit an unfragmented UDP answer. */
static void advise_size(const struct dg_tlsa_set *set, struct dg_tlsa_advice *adv)
{
	size_t bytes = 0;

	for (size_t i = 0; i < set->count; i++)
		bytes += RR_OVERHEAD_BYTES + 3 + set->rr[i].len;
	if (bytes > UDP_SAFE_BYTES)
		advice_add(adv, "rrset-size", "PUB-2", DG_TLSA_SEV_WARN, 0,
		           "the RRset is about %zu bytes before signatures, more than %d; "
		           "answers may be truncated or fragmented, prefer digests over Full(0)",
		           bytes, UDP_SAFE_BYTES);
}

void dg_tlsa_set_advise(const struct dg_tlsa_set *set, struct dg_tlsa_advice *adv)
{
	struct dg_tlsa_summary sum;
	bool ta_chain = false;

	dg_tlsa_set_classify(set, &sum);
	if (sum.outcome == DG_TLSA_OUTCOME_EMPTY) {
		advice_add(adv, "empty-set", "TLSA-4", DG_TLSA_SEV_INFO, 0,
		           "no TLSA records: DANE senders fall back to opportunistic TLS");
		return;
	}
	for (size_t i = 0; i < set->count; i++) {
		advise_record(set, i, sum.reason[i], adv);
		if (sum.reason[i] == DG_TLSA_USABLE && set->rr[i].usage == DG_TLSA_USAGE_DANE_TA &&
		    !(set->rr[i].selector == DG_TLSA_SEL_CERT &&
		      set->rr[i].mtype == DG_TLSA_MTYPE_FULL))
			ta_chain = true;
	}
	if (sum.outcome == DG_TLSA_OUTCOME_ALL_UNUSABLE)
		advice_add(adv, "all-unusable", "TLSA-4", DG_TLSA_SEV_ERROR, 0,
		           "none of the %zu TLSA records is usable: DANE senders require TLS but "
		           "cannot authenticate the server",
		           sum.count);
	if (ta_chain)
		advice_add(adv, "ta-chain-required", "PUB-3", DG_TLSA_SEV_INFO, 0,
		           "DANE-TA records: the server's chain MUST include the trust-anchor "
		           "certificate, even a self-signed root");
	advise_digests(set, &sum, adv);
	advise_size(set, adv);
	advise_rollover(set, adv);
}

/* Does @p rr match the chain where its usage applies (3: leaf, 2: depth > 0)? */
static bool chain_matches(const struct dg_tlsa_rr *rr, STACK_OF(X509) * chain, int *depth)
{
	int n = sk_X509_num(chain);

	if (rr->usage == DG_TLSA_USAGE_DANE_EE) {
		*depth = 0;
		return n > 0 && dg_tlsa_rr_is_match(rr, sk_X509_value(chain, 0));
	}
	for (int d = 1; d < n; d++) {
		if (dg_tlsa_rr_is_match(rr, sk_X509_value(chain, d))) {
			*depth = d;
			return true;
		}
	}
	return false;
}

/* Whether an earlier record has the same (usage, selector, mtype) as record @p i. */
static bool combo_seen(const struct dg_tlsa_set *set, size_t i)
{
	for (size_t j = 0; j < i; j++)
		if (set->rr[j].usage == set->rr[i].usage &&
		    set->rr[j].selector == set->rr[i].selector &&
		    set->rr[j].mtype == set->rr[i].mtype)
			return true;
	return false;
}

/* SPEC PUB-5: each (usage, selector, mtype) combination needs a record matching the chain. */
static void advise_combinations(const struct dg_tlsa_set *set, const bool *usable,
                                const bool *match, struct dg_tlsa_advice *adv)
{
	for (size_t i = 0; i < set->count; i++) {
		const struct dg_tlsa_rr *rr = &set->rr[i];
		bool any = false;

		if (!usable[i] || combo_seen(set, i))
			continue;
		for (size_t j = i; j < set->count; j++)
			if (set->rr[j].usage == rr->usage && set->rr[j].selector == rr->selector &&
			    set->rr[j].mtype == rr->mtype)
				any |= match[j];
		if (!any)
			advice_add(adv, "combination-not-matching", "PUB-5", DG_TLSA_SEV_ERROR,
			           i + 1,
			           "no TLSA %u %u %u record matches the current chain; records for "
			           "past or future certificates must not be the only ones of a "
			           "combination",
			           rr->usage, rr->selector, rr->mtype);
	}
}

void dg_tlsa_set_advise_chain(const struct dg_tlsa_set *set, STACK_OF(X509) * chain,
                              struct dg_tlsa_advice *adv)
{
	bool match[DG_TLSA_SET_MAX] = {false}, usable[DG_TLSA_SET_MAX] = {false};
	size_t matches = 0, ta_usable = 0, ta_matches = 0, n_usable = 0;
	int depth = 0;
	char where[32];

	if (set == NULL || chain == NULL || sk_X509_num(chain) == 0)
		return;
	for (size_t i = 0; i < set->count; i++) {
		const struct dg_tlsa_rr *rr = &set->rr[i];

		usable[i] = dg_tlsa_rr_classify(rr) == DG_TLSA_USABLE;
		if (!usable[i])
			continue;
		n_usable++;
		match[i] = chain_matches(rr, chain, &depth);
		if (rr->usage == DG_TLSA_USAGE_DANE_TA &&
		    !(rr->selector == DG_TLSA_SEL_CERT && rr->mtype == DG_TLSA_MTYPE_FULL)) {
			ta_usable++;
			ta_matches += match[i];
		}
		if (!match[i])
			continue;
		matches++;
		if (depth == 0)
			snprintf(where, sizeof(where), "leaf");
		else
			snprintf(where, sizeof(where), "certificate at depth %d", depth);
		advice_add(adv, "record-matches", "AUTH-1", DG_TLSA_SEV_INFO, i + 1,
		           "TLSA %u %u %u record #%zu matches the %s", rr->usage, rr->selector,
		           rr->mtype, i + 1, where);
	}
	if (n_usable > 0 && matches == 0)
		advice_add(
		    adv, "no-record-matches", "AUTH-1", DG_TLSA_SEV_ERROR, 0,
		    "no usable TLSA record matches the server's chain: DANE senders will not "
		    "deliver to this server");
	if (ta_usable > 0 && ta_matches == 0)
		advice_add(adv, "ta-not-in-chain", "PUB-3", DG_TLSA_SEV_WARN, 0,
		           "no certificate the server sends above the leaf matches a DANE-TA "
		           "record: the trust anchor must be in the chain");
	if (matches > 0)
		advise_combinations(set, usable, match, adv);
}

void dg_tlsa_ttl_advise(uint32_t ttl_s, struct dg_tlsa_advice *adv)
{
	/* SPEC PUB-7: no RFC number; warn outside roughly 5 minutes .. 1 day. */
	if (ttl_s < TTL_MIN_S)
		advice_add(adv, "ttl-too-short", "PUB-7", DG_TLSA_SEV_WARN, 0,
		           "TTL %u s is below %d s: more queries and more exposure to resolver "
		           "failures for little gain",
		           ttl_s, TTL_MIN_S);
	else if (ttl_s > TTL_MAX_S)
		advice_add(adv, "ttl-too-long", "PUB-7", DG_TLSA_SEV_WARN, 0,
		           "TTL %u s is above %d s: an unplanned key change would break delivery "
		           "for that long; an hour or two is fine",
		           ttl_s, TTL_MAX_S);
}

void dg_tlsa_chain_expiry_advise(const struct dg_tlsa_set *set, STACK_OF(X509) * chain,
				 time_t now, int warn_days, struct dg_tlsa_advice *adv)
{
	size_t ee = 0, ta = 0;
	time_t soon = now + (time_t)warn_days * 86400;

	count_dane(set, &ee, &ta);
	if (ta == 0 || chain == NULL)
		return;
	for (int i = 0; i < sk_X509_num(chain); i++) {
		const ASN1_TIME *na = X509_get0_notAfter(sk_X509_value(chain, i));
		char subj[128] = "";

		X509_NAME_oneline(X509_get_subject_name(sk_X509_value(chain, i)), subj,
				  sizeof(subj));
		if (X509_cmp_time(na, &now) < 0) {
			advice_add(adv, "certificate-expired", "AUTH-4", DG_TLSA_SEV_ERROR, 0,
				   "certificate at depth %d (%s) has expired: DANE-TA records "
				   "enforce its validity, DANE senders reject the chain", i, subj);
			return;
		}
		if (X509_cmp_time(na, &soon) < 0) {
			advice_add(adv, "certificate-expiring", "AUTH-4", DG_TLSA_SEV_WARN, 0,
				   "certificate at depth %d (%s) expires within %d days: under "
				   "DANE-TA records its validity is enforced, renew it in time",
				   i, subj, warn_days);
			return;
		}
	}
}
