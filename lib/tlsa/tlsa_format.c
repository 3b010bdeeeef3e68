/*
 * tlsa_format.c - TLSA records to text, and RFC 7218 acronyms.
 *
 * Public: dg_tlsa_rr_format, dg_tlsa_rr_policy_string, dg_tlsa_usage_name,
 *         dg_tlsa_selector_name, dg_tlsa_mtype_name.
 *
 * Ownership: formatted strings are heap-allocated; the caller frees them with free(). Names
 * are static strings.
 *
 * Hex case: presentation text uses lowercase hex unless DG_TLSA_FMT_UPPER is given; the TLS-RPT
 * policy string always uses lowercase (RFC 8460 leaves the case open; Postfix writes lowercase).
 *
 * SPEC: section 1 (presentation form RFC 6698 §2.2, RFC 7218 acronyms), RPT-4 (policy-string).
 */
#include "tlsa/tlsa_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { FIELD_TEXT_MAX = 3 * 12 }; /* three fields ("PrivMatch", "255") plus blanks */

static size_t format_field(char *out, size_t size, uint8_t value, const char *name, unsigned flags);
static char *format_rr(const struct dg_tlsa_rr *rr, unsigned flags);

const char *dg_tlsa_usage_name(uint8_t usage)
{
	switch (usage) {
	case DG_TLSA_USAGE_PKIX_TA: return "PKIX-TA";
	case DG_TLSA_USAGE_PKIX_EE: return "PKIX-EE";
	case DG_TLSA_USAGE_DANE_TA: return "DANE-TA";
	case DG_TLSA_USAGE_DANE_EE: return "DANE-EE";
	case DG_TLSA_USAGE_PRIV: return "PrivCert";
	default: return NULL;
	}
}

const char *dg_tlsa_selector_name(uint8_t selector)
{
	switch (selector) {
	case DG_TLSA_SEL_CERT: return "Cert";
	case DG_TLSA_SEL_SPKI: return "SPKI";
	case DG_TLSA_SEL_PRIV: return "PrivSel";
	default: return NULL;
	}
}

const char *dg_tlsa_mtype_name(uint8_t mtype)
{
	switch (mtype) {
	case DG_TLSA_MTYPE_FULL: return "Full";
	case DG_TLSA_MTYPE_SHA256: return "SHA2-256";
	case DG_TLSA_MTYPE_SHA512: return "SHA2-512";
	case DG_TLSA_MTYPE_PRIV: return "PrivMatch";
	default: return NULL;
	}
}

/* One field as its acronym (when asked and assigned) or as a decimal number. */
static size_t format_field(char *out, size_t size, uint8_t value, const char *name, unsigned flags)
{
	int n;

	if ((flags & DG_TLSA_FMT_ACRONYMS) && name != NULL)
		n = snprintf(out, size, "%s", name);
	else
		n = snprintf(out, size, "%u", value);
	return n < 0 ? 0 : (size_t)n;
}

static char *format_rr(const struct dg_tlsa_rr *rr, unsigned flags)
{
	char head[FIELD_TEXT_MAX];
	size_t n = 0, total;
	char *out;

	n += format_field(head + n, sizeof(head) - n, rr->usage, dg_tlsa_usage_name(rr->usage),
	                  flags);
	head[n++] = ' ';
	n += format_field(head + n, sizeof(head) - n, rr->selector,
	                  dg_tlsa_selector_name(rr->selector), flags);
	head[n++] = ' ';
	n += format_field(head + n, sizeof(head) - n, rr->mtype, dg_tlsa_mtype_name(rr->mtype),
	                  flags);
	total = n + (rr->len > 0 ? 1 + 2 * rr->len : 0) + 1;
	out = dg_xmalloc(total);
	memcpy(out, head, n);
	if (rr->len > 0) {
		out[n++] = ' ';
		tlsa_hex_encode(rr->data, rr->len, (flags & DG_TLSA_FMT_UPPER) != 0, out + n);
		n += 2 * rr->len;
	}
	out[n] = '\0';
	return out;
}

char *dg_tlsa_rr_format(const struct dg_tlsa_rr *rr, unsigned flags)
{
	return format_rr(rr, flags);
}

char *dg_tlsa_rr_policy_string(const struct dg_tlsa_rr *rr)
{
	/* SPEC RPT-4: decimal fields, one run of hex, no blanks or parentheses inside it. */
	return format_rr(rr, DG_TLSA_FMT_DEFAULT);
}
