/*
 * rollover_keys.c - keys and records of a rollover: key generation (OpenSSL EVP), key ids,
 * the CSR for the next key, the desired RRset per scheme, and the renewal warnings.
 *
 * Public: dg_rollover_key_generate, dg_rollover_key_id, dg_rollover_csr_write,
 * dg_rollover_desired, dg_rollover_renewal_warnings.
 *
 * Ownership: keys returned belong to the caller (EVP_PKEY_free); sets are filled in place.
 * Private keys never reach a log line or a message (STYLE.md section 8).
 * SPEC section 12: PUB-1 (3 1 1), PUB-6 (schemes "3 1 1 + 3 1 1" and "3 1 1 + 2 1 1").
 */
#include <daneguard/rollover.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static enum dg_status tls_fail(struct dg_err *err, const char *what);
static bool rr_is_key(const struct dg_tlsa_rr *rr, EVP_PKEY *key);
static enum dg_status csr_names(X509_REQ *req, const char (*hosts)[DG_NAME_BUF_SIZE], size_t n);

static enum dg_status tls_fail(struct dg_err *err, const char *what)
{
	unsigned long e = ERR_peek_last_error();
	char buf[160] = "";

	if (e != 0)
		ERR_error_string_n(e, buf, sizeof(buf));
	ERR_clear_error();
	dg_err_set(err, DG_E_TLS, "%s failed%s%s", what, buf[0] ? ": " : "", buf);
	if (err != NULL)
		err->ssl_err = e;
	return DG_E_TLS;
}

EVP_PKEY *dg_rollover_key_generate(enum dg_rollover_keytype type, uint32_t rsa_bits,
                                   struct dg_err *err)
{
	EVP_PKEY *key = type == DG_ROLLOVER_KEY_RSA ? EVP_RSA_gen(rsa_bits)
	                                            : EVP_EC_gen("P-256");

	if (key == NULL)
		tls_fail(err, type == DG_ROLLOVER_KEY_RSA ? "RSA key generation"
		                                          : "ECDSA P-256 key generation");
	return key;
}

enum dg_status dg_rollover_key_id(EVP_PKEY *key, char *out, struct dg_err *err)
{
	unsigned char *der = NULL, md[32];
	int len = i2d_PUBKEY(key, &der);

	out[0] = '\0';
	if (len <= 0)
		return tls_fail(err, "encoding the public key");
	SHA256(der, (size_t)len, md);
	OPENSSL_free(der);
	for (size_t i = 0; i < sizeof(md); i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
	return DG_OK;
}

static enum dg_status csr_names(X509_REQ *req, const char (*hosts)[DG_NAME_BUF_SIZE], size_t n)
{
	X509_NAME *name = X509_REQ_get_subject_name(req);
	STACK_OF(X509_EXTENSION) *exts = sk_X509_EXTENSION_new_null();
	GENERAL_NAMES *gens = GENERAL_NAMES_new();
	X509_EXTENSION *ext;
	enum dg_status st = DG_E_TLS;

	if (X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)hosts[0],
	                               -1, -1, 0) != 1)
		goto out;
	for (size_t i = 0; i < n; i++) {
		GENERAL_NAME *g = GENERAL_NAME_new();
		ASN1_IA5STRING *s = ASN1_IA5STRING_new();
		ASN1_STRING_set(s, hosts[i], -1);
		GENERAL_NAME_set0_value(g, GEN_DNS, s);
		sk_GENERAL_NAME_push(gens, g);
	}
	ext = X509V3_EXT_i2d(NID_subject_alt_name, 0, gens);
	if (ext != NULL && sk_X509_EXTENSION_push(exts, ext) > 0 &&
	    X509_REQ_add_extensions(req, exts) == 1)
		st = DG_OK;
out:
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	GENERAL_NAMES_free(gens);
	return st;
}

enum dg_status dg_rollover_csr_write(EVP_PKEY *key, const char (*hosts)[DG_NAME_BUF_SIZE],
                                     size_t n_hosts, const char *path, struct dg_err *err)
{
	X509_REQ *req = X509_REQ_new();
	BIO *bio = BIO_new(BIO_s_mem());
	char *pem = NULL;
	long len;
	enum dg_status st;

	if (req == NULL || bio == NULL || n_hosts == 0 || X509_REQ_set_version(req, 0) != 1 ||
	    csr_names(req, hosts, n_hosts) != DG_OK || X509_REQ_set_pubkey(req, key) != 1 ||
	    X509_REQ_sign(req, key, EVP_sha256()) <= 0 || PEM_write_bio_X509_REQ(bio, req) != 1) {
		st = tls_fail(err, "building the CSR");
		goto out;
	}
	len = BIO_get_mem_data(bio, &pem);
	st = dg_rollover_write_atomic(path, pem, (size_t)len, 0644, err);
out:
	BIO_free(bio);
	X509_REQ_free(req);
	return st;
}

enum dg_status dg_rollover_desired(enum dg_rollover_scheme scheme, EVP_PKEY *cur, EVP_PKEY *next,
                                   X509 *issuer, struct dg_tlsa_set *out, struct dg_err *err)
{
	struct dg_tlsa_rr rr;

	if (dg_tlsa_rr_from_pkey(cur, 3, 1, &rr, err) != DG_OK)
		return DG_E_TLS;
	if (dg_tlsa_set_take_rr(out, &rr, err) != DG_OK) {
		dg_tlsa_rr_cleanup(&rr);
		return DG_E_LIMIT;
	}
	if (scheme == DG_ROLLOVER_EE_TA) {
		if (issuer == NULL)
			return dg_err_set(err, DG_E_CONFIG,
			                  "scheme ee-ta: the installed chain has no issuer certificate");
		if (dg_tlsa_rr_from_cert(issuer, 2, 1, 1, &rr, err) != DG_OK)
			return DG_E_TLS;
	} else if (dg_tlsa_rr_from_pkey(next, 3, 1, &rr, err) != DG_OK) {
		return DG_E_TLS;
	}
	if (dg_tlsa_set_take_rr(out, &rr, err) != DG_OK) {
		dg_tlsa_rr_cleanup(&rr);
		return DG_E_LIMIT;
	}
	return DG_OK;
}

static bool rr_is_key(const struct dg_tlsa_rr *rr, EVP_PKEY *key)
{
	struct dg_tlsa_rr mine;
	bool eq;

	if (key == NULL || rr->selector != 1 || rr->mtype > 2)
		return false;
	if (dg_tlsa_rr_from_pkey(key, rr->usage, rr->mtype, &mine, NULL) != DG_OK)
		return false;
	eq = dg_tlsa_rr_is_equal(&mine, rr);
	dg_tlsa_rr_cleanup(&mine);
	return eq;
}

size_t dg_rollover_renewal_warnings(const struct dg_tlsa_set *set, EVP_PKEY *cur, EVP_PKEY *next,
                                    bool fresh_key, struct dg_rollover_warning *out, size_t max)
{
	size_t n = 0;
	bool has_next = false;

	for (size_t i = 0; set != NULL && i < set->count; i++)
		has_next = has_next || (set->rr[i].usage == 3 && rr_is_key(&set->rr[i], next));
	for (size_t i = 0; set != NULL && i < set->count && n < max; i++) {
		const struct dg_tlsa_rr *rr = &set->rr[i];
		const char *why = NULL;
		if (rr->usage == 3 && rr->selector == 0)
			why = "matches the whole certificate: it breaks when the certificate is "
			      "renewed, even with the same key; publish 3 1 1 instead (SPEC PUB-1)";
		else if (rr->usage == 3 && fresh_key && !has_next && rr_is_key(rr, cur))
			why = "matches the current key and no record the next: it breaks at the next renewal if the "
			      "renewal tool makes a fresh key (certbot without --reuse-key, or "
			      "--csr with another key); publish the next key's record too (SPEC PUB-6)";
		else if (rr->usage == 3 && rr->selector == 1 && (cur != NULL || next != NULL) &&
		         !rr_is_key(rr, cur) && !rr_is_key(rr, next))
			why = "matches neither the current nor the next key: stale, remove it";
		if (why == NULL)
			continue;
		out[n].index = i;
		snprintf(out[n].text, sizeof(out[n].text), "record %zu (%u %u %u): %s", i + 1,
		         rr->usage, rr->selector, rr->mtype, why);
		n++;
	}
	return n;
}
