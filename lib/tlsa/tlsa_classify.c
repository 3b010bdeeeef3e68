/*
 * tlsa_classify.c - record usability for SMTP and the RRset outcome.
 *
 * Public: dg_tlsa_rr_classify, dg_tlsa_usability_str, dg_tlsa_rr_describe,
 *         dg_tlsa_set_classify, dg_tlsa_outcome_str.
 *
 * Pure functions over borrowed records; nothing is allocated that outlives a call. Full(0) data
 * is parsed with OpenSSL (d2i_X509 / d2i_PUBKEY) inside an error-queue mark, so the caller's
 * OpenSSL error queue is left as it was.
 *
 * SPEC: TLSA-2 (record-level usability: unknown fields, empty data, digest length, Full(0)
 * data that does not parse), TLSA-3 (PKIX-TA/PKIX-EE unusable for SMTP, 255 private use),
 * TLSA-4 (set outcome: usable / all-unusable; empty).
 */
#include "tlsa/tlsa_int.h"

#include <limits.h>
#include <stdio.h>

#include <openssl/err.h>

static bool full_data_parses(const struct dg_tlsa_rr *rr);
static const char *private_field(const struct dg_tlsa_rr *rr);

/* SPEC TLSA-2: Full(0) data must be exactly one DER certificate or SPKI. */
static bool full_data_parses(const struct dg_tlsa_rr *rr)
{
	const unsigned char *p = rr->data;
	bool ok = false;

	if (rr->len > LONG_MAX)
		return false;
	ERR_set_mark();
	if (rr->selector == DG_TLSA_SEL_CERT) {
		X509 *x = d2i_X509(NULL, &p, (long)rr->len);

		ok = x != NULL && p == rr->data + rr->len;
		X509_free(x);
	} else {
		EVP_PKEY *k = d2i_PUBKEY(NULL, &p, (long)rr->len);

		ok = k != NULL && p == rr->data + rr->len;
		EVP_PKEY_free(k);
	}
	ERR_pop_to_mark();
	return ok;
}

enum dg_tlsa_usability dg_tlsa_rr_classify(const struct dg_tlsa_rr *rr)
{
	size_t want;

	/* SPEC TLSA-3: PKIX usages are unusable for SMTP; 255 is private use. */
	if (rr->usage == DG_TLSA_USAGE_PKIX_TA || rr->usage == DG_TLSA_USAGE_PKIX_EE)
		return DG_TLSA_UNUSABLE_PKIX_USAGE;
	if (rr->usage == DG_TLSA_USAGE_PRIV || rr->selector == DG_TLSA_SEL_PRIV ||
	    rr->mtype == DG_TLSA_MTYPE_PRIV)
		return DG_TLSA_UNUSABLE_PRIVATE;
	/* SPEC TLSA-2: unknown usage, selector or matching type. */
	if (rr->usage != DG_TLSA_USAGE_DANE_TA && rr->usage != DG_TLSA_USAGE_DANE_EE)
		return DG_TLSA_UNUSABLE_UNKNOWN_USAGE;
	if (rr->selector > DG_TLSA_SEL_SPKI)
		return DG_TLSA_UNUSABLE_UNKNOWN_SELECTOR;
	if (rr->mtype > DG_TLSA_MTYPE_SHA512)
		return DG_TLSA_UNUSABLE_UNKNOWN_MTYPE;
	/* SPEC TLSA-2: malformed association data. */
	if (rr->len == 0)
		return DG_TLSA_UNUSABLE_EMPTY;
	want = tlsa_digest_len(rr->mtype);
	if (want != 0 && rr->len != want)
		return DG_TLSA_UNUSABLE_DIGEST_LEN;
	if (rr->mtype == DG_TLSA_MTYPE_FULL && !full_data_parses(rr))
		return rr->selector == DG_TLSA_SEL_CERT ? DG_TLSA_UNUSABLE_BAD_CERT
		                                        : DG_TLSA_UNUSABLE_BAD_SPKI;
	return DG_TLSA_USABLE;
}

const char *dg_tlsa_usability_str(enum dg_tlsa_usability u)
{
	switch (u) {
	case DG_TLSA_USABLE: return "usable";
	case DG_TLSA_UNUSABLE_PKIX_USAGE: return "pkix-usage";
	case DG_TLSA_UNUSABLE_PRIVATE: return "private";
	case DG_TLSA_UNUSABLE_UNKNOWN_USAGE: return "unknown-usage";
	case DG_TLSA_UNUSABLE_UNKNOWN_SELECTOR: return "unknown-selector";
	case DG_TLSA_UNUSABLE_UNKNOWN_MTYPE: return "unknown-mtype";
	case DG_TLSA_UNUSABLE_EMPTY: return "empty-data";
	case DG_TLSA_UNUSABLE_DIGEST_LEN: return "digest-length";
	case DG_TLSA_UNUSABLE_BAD_CERT: return "bad-cert";
	case DG_TLSA_UNUSABLE_BAD_SPKI: return "bad-spki";
	}
	return "unknown";
}

/* Name the first field that holds 255. */
static const char *private_field(const struct dg_tlsa_rr *rr)
{
	if (rr->usage == DG_TLSA_USAGE_PRIV)
		return "usage 255 (PrivCert)";
	if (rr->selector == DG_TLSA_SEL_PRIV)
		return "selector 255 (PrivSel)";
	return "matching type 255 (PrivMatch)";
}

enum dg_tlsa_usability dg_tlsa_rr_describe(const struct dg_tlsa_rr *rr, size_t num, char *buf,
                                           size_t size)
{
	enum dg_tlsa_usability u = dg_tlsa_rr_classify(rr);
	size_t n;

	if (size == 0)
		return u;
	n = tlsa_rr_label(rr, num, buf, size);
	buf += n;
	size -= n;
	switch (u) {
	case DG_TLSA_USABLE:
		snprintf(buf, size, ": usable (%s %s %s, %zu octets)",
		         dg_tlsa_usage_name(rr->usage), dg_tlsa_selector_name(rr->selector),
		         dg_tlsa_mtype_name(rr->mtype), rr->len);
		break;
	case DG_TLSA_UNUSABLE_PKIX_USAGE:
		snprintf(buf, size, ": usage %u (%s) is not used for SMTP, senders ignore it",
		         rr->usage, dg_tlsa_usage_name(rr->usage));
		break;
	case DG_TLSA_UNUSABLE_PRIVATE:
		snprintf(buf, size, ": %s is for private use, senders ignore it",
		         private_field(rr));
		break;
	case DG_TLSA_UNUSABLE_UNKNOWN_USAGE:
		snprintf(buf, size, ": usage %u is unassigned", rr->usage);
		break;
	case DG_TLSA_UNUSABLE_UNKNOWN_SELECTOR:
		snprintf(buf, size, ": selector %u is unassigned", rr->selector);
		break;
	case DG_TLSA_UNUSABLE_UNKNOWN_MTYPE:
		snprintf(buf, size, ": matching type %u is unassigned", rr->mtype);
		break;
	case DG_TLSA_UNUSABLE_EMPTY:
		snprintf(buf, size, ": no association data (RDATA of 3 octets)");
		break;
	case DG_TLSA_UNUSABLE_DIGEST_LEN:
		snprintf(buf, size, ": digest is %zu octets, %s needs %zu", rr->len,
		         dg_tlsa_mtype_name(rr->mtype), tlsa_digest_len(rr->mtype));
		break;
	case DG_TLSA_UNUSABLE_BAD_CERT:
		snprintf(buf, size, ": data (%zu octets) is not a DER certificate", rr->len);
		break;
	case DG_TLSA_UNUSABLE_BAD_SPKI:
		snprintf(buf, size, ": data (%zu octets) is not a DER SubjectPublicKeyInfo",
		         rr->len);
		break;
	}
	return u;
}

void dg_tlsa_set_classify(const struct dg_tlsa_set *set, struct dg_tlsa_summary *out)
{
	out->count = set != NULL ? set->count : 0;
	out->usable = 0;
	if (out->count > DG_TLSA_SET_MAX)
		DG_PANIC("TLSA set holds %zu records, more than %d", out->count, DG_TLSA_SET_MAX);
	for (size_t i = 0; i < out->count; i++) {
		out->reason[i] = dg_tlsa_rr_classify(&set->rr[i]);
		if (out->reason[i] == DG_TLSA_USABLE)
			out->usable++;
	}
	/* SPEC TLSA-4: A (usable) or B (all unusable). */
	if (out->count == 0)
		out->outcome = DG_TLSA_OUTCOME_EMPTY;
	else if (out->usable > 0)
		out->outcome = DG_TLSA_OUTCOME_USABLE;
	else
		out->outcome = DG_TLSA_OUTCOME_ALL_UNUSABLE;
}

const char *dg_tlsa_outcome_str(enum dg_tlsa_outcome o)
{
	switch (o) {
	case DG_TLSA_OUTCOME_EMPTY: return "empty";
	case DG_TLSA_OUTCOME_USABLE: return "usable";
	case DG_TLSA_OUTCOME_ALL_UNUSABLE: return "all-unusable";
	}
	return "unknown";
}
