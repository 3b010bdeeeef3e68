/*
 * dane_result.c - reading the outcome of an offline DANE verification.
 *
 * Public: dg_dane_result_cleanup, dg_dane_fail_str.
 * Private (dane_int.h): dane_result_read, dane_reason_set, dane_strlcpy.
 *
 * After X509_verify_cert() the SSL_DANE inside the run's SSL holds the match: depth, record,
 * matched certificate or bare key. The public getters SSL_get0_dane_authority() and
 * SSL_get0_dane_tlsa() read it; they hide it unless the SSL's verify result is X509_V_OK, so the
 * run sets the result to X509_V_OK around the read and restores it (as OpenSSL's
 * test/danetest.c does). The matched record is mapped back to its index in the caller's RRset
 * by comparing usage, selector, matching type and data with the records that were loaded. The
 * peer name comes from the verify parameters of the X509_STORE_CTX that did the name check
 * (X509_VERIFY_PARAM_get0_peername), since the SSL's own parameters were only copied.
 *
 * Ownership: the result owns its notes, peername and matched_ref_id (heap, released by
 * dg_dane_result_cleanup()). Everything else here is borrowed from the run.
 *
 * SPEC: OSSL-8 (authority: 0 = EE at the leaf, > 0 = TA depth, mspki; matched record; peer
 * name), FAIL-4 (log the matched record and depth, or why nothing matched), AUTH-5/AUTH-6 (the
 * reference identifier that matched), AUTH-7 (a weaker digest that would have matched),
 * section 13 (verdict codes).
 */
#include "dane/dane_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { LABEL_MAX = 48, NAMES_TEXT_MAX = 160 };

static void read_x509_error(const struct dane_run *run, struct dg_dane_result *out);
static int read_authority(const struct dane_run *run, long *index, bool *spki_only);
static long find_record(const struct dane_run *run, uint8_t u, uint8_t s, uint8_t m,
                        const unsigned char *data, size_t dlen);
static enum dg_dane_fail fail_from_x509(int x509_err);
static void read_names(const struct dane_run *run, struct dg_dane_result *out);
static const char *first_ref_id_match(const struct dg_dane_input *in, X509 *leaf);
static long agility_ignored(const struct dane_run *run);
static bool rr_matches_chain(const struct dg_tlsa_rr *rr, STACK_OF(X509) * chain);
static void record_label(const struct dane_run *run, long index, char *buf, size_t size);
static void ref_ids_text(const struct dg_dane_input *in, char *buf, size_t size);
static void reason_success(const struct dane_run *run, struct dg_dane_result *out);
static void reason_failure(const struct dane_run *run, struct dg_dane_result *out, int ta_depth,
                           long ta_index, long ignored);

void dane_strlcpy(char *dst, size_t size, const char *src)
{
	size_t n;

	if (size == 0)
		return;
	n = strlen(src);
	if (n >= size)
		n = size - 1;
	memcpy(dst, src, n);
	dst[n] = '\0';
}

void dane_reason_set(struct dg_dane_result *out, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(out->reason, sizeof(out->reason), fmt, ap);
	va_end(ap);
}

static void read_x509_error(const struct dane_run *run, struct dg_dane_result *out)
{
	out->x509_err = X509_STORE_CTX_get_error(run->sctx);
	out->error_depth = X509_STORE_CTX_get_error_depth(run->sctx);
	dane_strlcpy(out->x509_err_str, sizeof(out->x509_err_str),
	             X509_verify_cert_error_string(out->x509_err));
}

/*
 * SPEC OSSL-8: depth of the DANE match (-1 none), its record index and whether it was a bare
 * "2 1 0" key. Read even after a failure, so a reason can say "trusted via record #n, but...".
 */
static int read_authority(const struct dane_run *run, long *index, bool *spki_only)
{
	long saved = SSL_get_verify_result(run->ssl);
	uint8_t u = 0, s = 0, m = 0;
	const unsigned char *data = NULL;
	size_t dlen = 0;
	X509 *mcert = NULL;
	EVP_PKEY *mspki = NULL;
	int depth;

	*index = -1;
	*spki_only = false;
	SSL_set_verify_result(run->ssl, X509_V_OK);
	depth = SSL_get0_dane_tlsa(run->ssl, &u, &s, &m, &data, &dlen);
	if (depth >= 0 && data != NULL) {
		*index = find_record(run, u, s, m, data, dlen);
		if (SSL_get0_dane_authority(run->ssl, &mcert, &mspki) >= 0)
			*spki_only = mcert == NULL && mspki != NULL;
	}
	SSL_set_verify_result(run->ssl, saved);
	return depth;
}

/* Index of the first loaded record equal to OpenSSL's matched record, -1 if none. */
static long find_record(const struct dane_run *run, uint8_t u, uint8_t s, uint8_t m,
                        const unsigned char *data, size_t dlen)
{
	const struct dg_tlsa_set *set = run->in->tlsa;

	for (size_t i = 0; set != NULL && i < set->count; i++) {
		const struct dg_tlsa_rr *rr = &set->rr[i];

		if (run->loaded[i] && rr->usage == u && rr->selector == s && rr->mtype == m &&
		    rr->len == dlen && (dlen == 0 || memcmp(rr->data, data, dlen) == 0))
			return (long)i;
	}
	return -1;
}

/* SPEC §13: X509 errors to verdicts. */
static enum dg_dane_fail fail_from_x509(int x509_err)
{
	switch (x509_err) {
	case X509_V_ERR_DANE_NO_MATCH: return DG_DANE_FAIL_NO_MATCH;
	case X509_V_ERR_HOSTNAME_MISMATCH: return DG_DANE_FAIL_NAME;
	case X509_V_ERR_CERT_HAS_EXPIRED: return DG_DANE_FAIL_EXPIRED;
	case X509_V_ERR_CERT_NOT_YET_VALID: return DG_DANE_FAIL_NOT_YET_VALID;
	default: return DG_DANE_FAIL_CHAIN;
	}
}

/* SPEC AUTH-5, AUTH-6: the reference identifiers in OpenSSL's order (base domain first). */
static const char *first_ref_id_match(const struct dg_dane_input *in, X509 *leaf)
{
	const unsigned int flags = X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS;

	if (X509_check_host(leaf, in->base_domain, 0, flags, NULL) == 1)
		return in->base_domain;
	for (size_t i = 0; i < in->n_ref_ids; i++)
		if (X509_check_host(leaf, in->ref_ids[i], 0, flags, NULL) == 1)
			return in->ref_ids[i];
	return NULL;
}

/* SPEC OSSL-8: the certificate name that matched (DANE-TA only; DANE-EE skips name checks). */
static void read_names(const struct dane_run *run, struct dg_dane_result *out)
{
	const char *peer = X509_VERIFY_PARAM_get0_peername(X509_STORE_CTX_get0_param(run->sctx));
	const char *id;
	char esc[DG_NAME_BUF_SIZE];

	if (peer == NULL || out->depth == 0)
		return;
	out->peername = dg_xstrdup(dg_str_escape(esc, sizeof(esc), peer, strlen(peer)));
	id = first_ref_id_match(run->in, sk_X509_value(run->chain, 0));
	if (id != NULL)
		out->matched_ref_id = dg_xstrdup(dg_str_escape(esc, sizeof(esc), id, strlen(id)));
}

/* Does the record match where its usage says: 3 = the leaf, 2 = a certificate above it. */
static bool rr_matches_chain(const struct dg_tlsa_rr *rr, STACK_OF(X509) * chain)
{
	int n = sk_X509_num(chain);

	if (rr->usage == DG_TLSA_USAGE_DANE_EE)
		return dg_tlsa_rr_is_match(rr, sk_X509_value(chain, 0));
	for (int i = 1; i < n; i++)
		if (dg_tlsa_rr_is_match(rr, sk_X509_value(chain, i)))
			return true;
	return false;
}

/*
 * SPEC AUTH-7: after a mismatch, find a loaded record that OpenSSL ignored because a stronger
 * digest is published for its (usage, selector) but that matches the chain: the server would
 * pass with a weaker-digest-only client (H-DANE-AGILITY-FAIL). -1 when none.
 */
static long agility_ignored(const struct dane_run *run)
{
	const struct dg_tlsa_set *set = run->in->tlsa;
	struct dg_tlsa_agility ag;

	dg_tlsa_set_agility(set, &run->ctx->order, &ag);
	for (size_t i = 0; i < set->count; i++)
		if (run->loaded[i] && ag.state[i] == DG_TLSA_AUTH_WEAKER &&
		    rr_matches_chain(&set->rr[i], run->chain))
			return (long)i;
	return -1;
}

/* "2 0 1 record #3", or "?" for an index of -1. */
static void record_label(const struct dane_run *run, long index, char *buf, size_t size)
{
	const struct dg_tlsa_rr *rr;

	if (index < 0) {
		dane_strlcpy(buf, size, "(unknown record)");
		return;
	}
	rr = &run->in->tlsa->rr[index];
	snprintf(buf, size, "%u %u %u record #%ld", rr->usage, rr->selector, rr->mtype, index + 1);
}

/* "mx1.example.test, example.test" (escaped, truncated). */
static void ref_ids_text(const struct dg_dane_input *in, char *buf, size_t size)
{
	size_t off = 0;

	buf[0] = '\0';
	for (size_t i = 0; i <= in->n_ref_ids && off + 1 < size; i++) {
		const char *id = i == 0 ? in->base_domain : in->ref_ids[i - 1];

		if (i > 0 && off + 2 < size) {
			memcpy(buf + off, ", ", 3);
			off += 2;
		}
		dg_str_escape(buf + off, size - off, id, strlen(id));
		off += strlen(buf + off);
	}
}

/* SPEC FAIL-4: which record matched, at which depth, which name. */
static void reason_success(const struct dane_run *run, struct dg_dane_result *out)
{
	char label[LABEL_MAX];

	record_label(run, out->matched_index, label, sizeof(label));
	if (out->depth == 0) {
		dane_reason_set(
		    out,
		    "TLSA %s matched the leaf certificate at depth 0 (DANE-EE: names and "
		    "dates are not checked, SPEC AUTH-2)",
		    label);
		return;
	}
	dane_reason_set(out,
	                "TLSA %s %s at depth %d; peer name \"%s\" matched reference "
	                "identifier \"%s\"",
	                label,
	                out->matched_spki_only ? "is a bare key that signed the certificate"
	                                       : "matched the certificate",
	                out->depth, out->peername != NULL ? out->peername : "?",
	                out->matched_ref_id != NULL ? out->matched_ref_id : "?");
}

/* SPEC FAIL-4: why nothing authenticated; mentions a DANE-TA match when there was one. */
static void reason_failure(const struct dane_run *run, struct dg_dane_result *out, int ta_depth,
                           long ta_index, long ignored)
{
	char label[LABEL_MAX], names[NAMES_TEXT_MAX];

	if (out->fail != DG_DANE_FAIL_NO_MATCH && ta_depth < 0) {
		dane_reason_set(out,
		                "path validation failed before any TLSA record matched: X509 error "
		                "%d at depth %d (%s)",
		                out->x509_err, out->error_depth, out->x509_err_str);
		return;
	}
	if (out->fail == DG_DANE_FAIL_NO_MATCH) {
		record_label(run, ignored, label, sizeof(label));
		dane_reason_set(
		    out,
		    "no usable TLSA record (%zu loaded) matched the %d-certificate chain: X509 "
		    "error %d at depth %d (%s)%s%s%s",
		    out->n_usable, sk_X509_num(run->chain), out->x509_err, out->error_depth,
		    out->x509_err_str, ignored >= 0 ? "; TLSA " : "", ignored >= 0 ? label : "",
		    ignored >= 0 ? " matches but a stronger digest is published for its "
		                   "usage and selector (SPEC AUTH-7)"
		                 : "");
		return;
	}
	record_label(run, ta_index, label, sizeof(label));
	if (out->fail == DG_DANE_FAIL_NAME) {
		ref_ids_text(run->in, names, sizeof(names));
		dane_reason_set(out,
		                "trusted through TLSA %s at depth %d, but no leaf name matches the "
		                "reference identifiers (%s): X509 error %d (%s)",
		                label, ta_depth, names, out->x509_err, out->x509_err_str);
		return;
	}
	dane_reason_set(out,
	                "trusted through TLSA %s at depth %d, but the certificate at depth %d "
	                "failed: X509 error %d (%s)",
	                label, ta_depth, out->error_depth, out->x509_err, out->x509_err_str);
}

void dane_result_read(struct dane_run *run, struct dg_dane_result *out)
{
	long index = -1, ignored = -1;
	bool spki_only = false;
	int depth;

	read_x509_error(run, out);
	depth = read_authority(run, &index, &spki_only);
	if (run->verify_ret > 0 && out->x509_err == X509_V_OK && depth >= 0) {
		/* SPEC AUTH-1: any usable record matching is enough. */
		out->authenticated = true;
		out->fail = DG_DANE_FAIL_NONE;
		out->error_depth = -1;
		out->depth = depth;
		out->matched_index = index;
		out->matched_spki_only = spki_only;
		read_names(run, out);
		reason_success(run, out);
		return;
	}
	out->fail = fail_from_x509(out->x509_err);
	if (out->fail == DG_DANE_FAIL_NO_MATCH)
		ignored = agility_ignored(run);
	out->agility_ignored_match = ignored >= 0;
	reason_failure(run, out, depth, index, ignored);
}

void dg_dane_result_cleanup(struct dg_dane_result *r)
{
	if (r == NULL)
		return;
	free(r->notes);
	free(r->peername);
	free(r->matched_ref_id);
	memset(r, 0, sizeof(*r));
}

const char *dg_dane_fail_str(enum dg_dane_fail f)
{
	switch (f) {
	case DG_DANE_FAIL_NONE: return "none";
	case DG_DANE_FAIL_NO_MATCH: return "no-match";
	case DG_DANE_FAIL_NAME: return "name-mismatch";
	case DG_DANE_FAIL_EXPIRED: return "expired";
	case DG_DANE_FAIL_NOT_YET_VALID: return "not-yet-valid";
	case DG_DANE_FAIL_CHAIN: return "chain";
	case DG_DANE_FAIL_NO_USABLE: return "no-usable";
	case DG_DANE_FAIL_NO_CHAIN: return "no-chain";
	}
	return "unknown";
}
