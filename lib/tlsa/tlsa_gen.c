/*
 * tlsa_gen.c - association data from certificates and keys, and record matching.
 *
 * Public: dg_tlsa_data_from_cert, dg_tlsa_data_from_pkey, dg_tlsa_rr_from_cert,
 *         dg_tlsa_rr_from_pkey, dg_tlsa_rr_is_match, dg_tlsa_set_match_cert.
 *
 * Ownership: certificates and keys are borrowed; generated data is heap memory the caller frees
 * with free() (or with dg_tlsa_rr_cleanup() when it sits in a record). OpenSSL failures record
 * ERR_peek_last_error() in struct dg_err.
 *
 * SPEC: AUTH-2 (selector 0 = DER certificate, 1 = DER SubjectPublicKeyInfo; hash with the
 * matching type and compare), section 1 (matching types 0 Full, 1 SHA2-256, 2 SHA2-512).
 */
#include "tlsa/tlsa_int.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>

static enum dg_status tls_fail(struct dg_err *err, const char *what);
static enum dg_status der_digest(uint8_t *der, size_t der_len, uint8_t mtype, uint8_t **out,
                                 size_t *out_len, struct dg_err *err);
static enum dg_status check_mtype(uint8_t mtype, struct dg_err *err);

static enum dg_status tls_fail(struct dg_err *err, const char *what)
{
	unsigned long e = ERR_peek_last_error();
	char buf[128] = "no OpenSSL error";

	if (e != 0)
		ERR_error_string_n(e, buf, sizeof(buf));
	dg_err_set(err, DG_E_TLS, "TLSA generation: %s failed: %s", what, buf);
	if (err != NULL) {
		err->ssl_err = e;
		err->where = "tlsa_gen";
	}
	return DG_E_TLS;
}

static enum dg_status check_mtype(uint8_t mtype, struct dg_err *err)
{
	if (mtype > DG_TLSA_MTYPE_SHA512)
		return dg_err_set(err, DG_E_CONFIG,
		                  "TLSA generation: matching type %u is not 0 (Full), 1 (SHA2-256) "
		                  "or 2 (SHA2-512)",
		                  mtype);
	return DG_OK;
}

/* Take @p der (malloc'd) and turn it into the matching type's data. */
static enum dg_status der_digest(uint8_t *der, size_t der_len, uint8_t mtype, uint8_t **out,
                                 size_t *out_len, struct dg_err *err)
{
	const EVP_MD *md = mtype == DG_TLSA_MTYPE_SHA512 ? EVP_sha512() : EVP_sha256();
	unsigned char md_buf[EVP_MAX_MD_SIZE];
	unsigned int md_len = 0;

	if (mtype == DG_TLSA_MTYPE_FULL) {
		*out = der;
		*out_len = der_len;
		return DG_OK;
	}
	if (EVP_Digest(der, der_len, md_buf, &md_len, md, NULL) != 1) {
		free(der);
		return tls_fail(err, mtype == DG_TLSA_MTYPE_SHA512 ? "SHA-512" : "SHA-256");
	}
	free(der);
	*out = tlsa_xmemdup(md_buf, md_len);
	*out_len = md_len;
	return DG_OK;
}

enum dg_status dg_tlsa_data_from_cert(X509 *cert, uint8_t selector, uint8_t mtype, uint8_t **out,
                                      size_t *out_len, struct dg_err *err)
{
	unsigned char *der = NULL, *p;
	X509_PUBKEY *spki = X509_get_X509_PUBKEY(cert);
	int n;
	enum dg_status st = check_mtype(mtype, err);

	*out = NULL;
	*out_len = 0;
	if (st != DG_OK)
		return st;
	/* SPEC AUTH-2: the certificate's own SPKI encoding, not a re-encoded key (as OpenSSL). */
	if (selector == DG_TLSA_SEL_SPKI)
		n = i2d_X509_PUBKEY(spki, NULL);
	else if (selector == DG_TLSA_SEL_CERT)
		n = i2d_X509(cert, NULL);
	else
		return dg_err_set(err, DG_E_CONFIG,
		                  "TLSA generation: selector %u is not 0 (Cert) or 1 (SPKI)",
		                  selector);
	if (n <= 0)
		return tls_fail(err, selector == 0 ? "DER encoding of the certificate"
		                                   : "DER encoding of the SubjectPublicKeyInfo");
	der = dg_xmalloc((size_t)n);
	p = der;
	if ((selector == DG_TLSA_SEL_SPKI ? i2d_X509_PUBKEY(spki, &p) : i2d_X509(cert, &p)) != n) {
		free(der);
		return tls_fail(err, "DER encoding");
	}
	return der_digest(der, (size_t)n, mtype, out, out_len, err);
}

enum dg_status dg_tlsa_data_from_pkey(EVP_PKEY *pkey, uint8_t mtype, uint8_t **out, size_t *out_len,
                                      struct dg_err *err)
{
	unsigned char *der = NULL, *p;
	int n;
	enum dg_status st = check_mtype(mtype, err);

	*out = NULL;
	*out_len = 0;
	if (st != DG_OK)
		return st;
	if (pkey == NULL)
		return tls_fail(err, "getting the public key");
	/* SPEC AUTH-2: selector 1 is the DER SubjectPublicKeyInfo. */
	n = i2d_PUBKEY(pkey, NULL);
	if (n <= 0)
		return tls_fail(err, "DER encoding of the SubjectPublicKeyInfo");
	der = dg_xmalloc((size_t)n);
	p = der;
	if (i2d_PUBKEY(pkey, &p) != n) {
		free(der);
		return tls_fail(err, "DER encoding of the SubjectPublicKeyInfo");
	}
	return der_digest(der, (size_t)n, mtype, out, out_len, err);
}

enum dg_status dg_tlsa_rr_from_cert(X509 *cert, uint8_t usage, uint8_t selector, uint8_t mtype,
                                    struct dg_tlsa_rr *out, struct dg_err *err)
{
	memset(out, 0, sizeof(*out));
	out->usage = usage;
	out->selector = selector;
	out->mtype = mtype;
	return dg_tlsa_data_from_cert(cert, selector, mtype, &out->data, &out->len, err);
}

enum dg_status dg_tlsa_rr_from_pkey(EVP_PKEY *pkey, uint8_t usage, uint8_t mtype,
                                    struct dg_tlsa_rr *out, struct dg_err *err)
{
	memset(out, 0, sizeof(*out));
	out->usage = usage;
	out->selector = DG_TLSA_SEL_SPKI;
	out->mtype = mtype;
	return dg_tlsa_data_from_pkey(pkey, mtype, &out->data, &out->len, err);
}

bool dg_tlsa_rr_is_match(const struct dg_tlsa_rr *rr, X509 *cert)
{
	uint8_t *data = NULL;
	size_t len = 0;
	bool match;

	if (rr->selector > DG_TLSA_SEL_SPKI || rr->mtype > DG_TLSA_MTYPE_SHA512 || rr->len == 0)
		return false;
	ERR_set_mark();
	if (dg_tlsa_data_from_cert(cert, rr->selector, rr->mtype, &data, &len, NULL) != DG_OK) {
		ERR_pop_to_mark();
		return false;
	}
	ERR_pop_to_mark();
	match = len == rr->len && memcmp(data, rr->data, len) == 0;
	free(data);
	return match;
}

size_t dg_tlsa_set_match_cert(const struct dg_tlsa_set *set, X509 *cert, bool *matched)
{
	size_t n = 0;

	for (size_t i = 0; i < set->count; i++) {
		bool m = dg_tlsa_rr_is_match(&set->rr[i], cert);

		if (matched != NULL)
			matched[i] = m;
		n += m;
	}
	return n;
}
