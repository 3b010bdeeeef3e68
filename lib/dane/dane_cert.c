/*
 * dane_cert.c - certificate details for reports and logs.
 *
 * Public: dg_cert_info_get, dg_cert_info_cleanup.
 *
 * Reads subject and issuer (RFC 2253), the SHA-256 of the DER SubjectPublicKeyInfo (what a
 * "x 1 1" TLSA record holds) and of the DER certificate ("x 0 1"), the validity dates, a short
 * key description, the names a DANE-TA name check looks at (SAN DNS-IDs, else the subject CNs),
 * and the CA and self-signed flags.
 *
 * Ownership: the certificate is borrowed. struct dg_cert_info owns its strings and name array
 * (heap), released by dg_cert_info_cleanup(). Strings taken from the certificate are untrusted
 * and escaped with dg_str_escape() before they are stored.
 *
 * SPEC: AUTH-6 (DNS-IDs first, the CN only without any DNS-ID), AUTH-2/AUTH-3 (SPKI and
 * certificate digests as TLSA data), AUTH-4 (validity dates).
 */
#include "dane/dane_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

enum { DN_TEXT_MAX = 1024, NAME_TEXT_MAX = 512 };

static char *name_text(const X509_NAME *name, struct dg_err *err);
static void hex_digest(const unsigned char *md, unsigned int len, char *out);
static enum dg_status spki_sha256(X509 *x, char *out, struct dg_err *err);
static enum dg_status asn1_time_get(const ASN1_TIME *t, const char *which, time_t *out,
                                    struct dg_err *err);
static void key_describe(X509 *x, char *buf, size_t size);
static void names_add(struct dg_cert_info *ci, const unsigned char *p, int len);
static size_t names_from_san(X509 *x, struct dg_cert_info *ci);
static void names_from_cn(X509 *x, struct dg_cert_info *ci);
static enum dg_status cert_info_fill(X509 *x, struct dg_cert_info *out, struct dg_err *err);

/* RFC 2253 text of a distinguished name, escaped; NULL (and err set) on failure. */
static char *name_text(const X509_NAME *name, struct dg_err *err)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *data = NULL, esc[DN_TEXT_MAX];
	long len;

	if (bio == NULL || X509_NAME_print_ex(bio, name, 0, XN_FLAG_RFC2253) < 0) {
		BIO_free(bio);
		dane_tls_fail(err, "X509_NAME_print_ex");
		return NULL;
	}
	len = BIO_get_mem_data(bio, &data);
	dg_str_escape(esc, sizeof(esc), data, len > 0 ? (size_t)len : 0);
	BIO_free(bio);
	return dg_xstrdup(esc);
}

static void hex_digest(const unsigned char *md, unsigned int len, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (unsigned int i = 0; i < len; i++) {
		out[2 * i] = digits[md[i] >> 4];
		out[2 * i + 1] = digits[md[i] & 0x0f];
	}
	out[2 * len] = '\0';
}

/* SHA-256 of the DER SubjectPublicKeyInfo (the "x 1 1" TLSA data), not of the key bits only. */
static enum dg_status spki_sha256(X509 *x, char *out, struct dg_err *err)
{
	unsigned char *der = NULL, md[EVP_MAX_MD_SIZE];
	unsigned int md_len = 0;
	int der_len = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(x), &der);
	int ok;

	if (der_len <= 0)
		return dane_tls_fail(err, "i2d_X509_PUBKEY");
	ok = EVP_Digest(der, (size_t)der_len, md, &md_len, EVP_sha256(), NULL);
	OPENSSL_free(der);
	if (!ok || md_len != 32)
		return dane_tls_fail(err, "EVP_Digest(SHA-256, SPKI)");
	hex_digest(md, md_len, out);
	return DG_OK;
}

static enum dg_status asn1_time_get(const ASN1_TIME *t, const char *which, time_t *out,
                                    struct dg_err *err)
{
	struct tm tm;

	memset(&tm, 0, sizeof(tm));
	if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1)
		return dg_err_set(err, DG_E_PARSE, "certificate %s date does not parse", which);
	*out = timegm(&tm);
	return DG_OK;
}

/* "ECDSA P-256", "RSA 2048", "Ed25519", or the algorithm's short name and size. */
static void key_describe(X509 *x, char *buf, size_t size)
{
	EVP_PKEY *pkey = X509_get0_pubkey(x);
	char group[64] = "";
	const char *nist;

	if (pkey == NULL) {
		dane_strlcpy(buf, size, "unknown");
		return;
	}
	switch (EVP_PKEY_get_base_id(pkey)) {
	case EVP_PKEY_RSA: snprintf(buf, size, "RSA %d", EVP_PKEY_get_bits(pkey)); return;
	case EVP_PKEY_EC:
		if (EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, group,
		                                   sizeof(group), NULL) != 1)
			dane_strlcpy(group, sizeof(group), "unknown curve");
		nist = EC_curve_nid2nist(OBJ_sn2nid(group));
		snprintf(buf, size, "ECDSA %s", nist != NULL ? nist : group);
		return;
	case EVP_PKEY_ED25519: dane_strlcpy(buf, size, "Ed25519"); return;
	case EVP_PKEY_ED448: dane_strlcpy(buf, size, "Ed448"); return;
	default:
		snprintf(buf, size, "%s %d", OBJ_nid2sn(EVP_PKEY_get_base_id(pkey)),
		         EVP_PKEY_get_bits(pkey));
	}
}

static void names_add(struct dg_cert_info *ci, const unsigned char *p, int len)
{
	char esc[NAME_TEXT_MAX];

	if (ci->n_names >= DG_CERT_NAMES_MAX || p == NULL || len < 0)
		return;
	if (ci->names == NULL)
		ci->names = dg_xcalloc(DG_CERT_NAMES_MAX, sizeof(*ci->names));
	dg_str_escape(esc, sizeof(esc), p, (size_t)len);
	ci->names[ci->n_names++] = dg_xstrdup(esc);
}

/* SPEC AUTH-6: the DNS-IDs of the subjectAltName; returns how many were found. */
static size_t names_from_san(X509 *x, struct dg_cert_info *ci)
{
	GENERAL_NAMES *gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	size_t found = 0;

	for (int i = 0; gens != NULL && i < sk_GENERAL_NAME_num(gens); i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);

		if (g->type != GEN_DNS)
			continue;
		names_add(ci, ASN1_STRING_get0_data(g->d.dNSName),
		          ASN1_STRING_length(g->d.dNSName));
		found++;
	}
	GENERAL_NAMES_free(gens);
	return found;
}

/* SPEC AUTH-6: without any DNS-ID, the subject's CommonNames. */
static void names_from_cn(X509 *x, struct dg_cert_info *ci)
{
	const X509_NAME *subj = X509_get_subject_name(x);
	int pos = -1;

	while ((pos = X509_NAME_get_index_by_NID(subj, NID_commonName, pos)) >= 0) {
		const ASN1_STRING *s = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subj, pos));
		unsigned char *utf8 = NULL;
		int len = ASN1_STRING_to_UTF8(&utf8, s);

		if (len >= 0)
			names_add(ci, utf8, len);
		OPENSSL_free(utf8);
	}
}

static enum dg_status cert_info_fill(X509 *x, struct dg_cert_info *out, struct dg_err *err)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int md_len = 0;
	enum dg_status st;

	out->subject = name_text(X509_get_subject_name(x), err);
	out->issuer = name_text(X509_get_issuer_name(x), err);
	if (out->subject == NULL || out->issuer == NULL)
		return DG_E_TLS;
	st = spki_sha256(x, out->spki_sha256, err);
	if (st != DG_OK)
		return st;
	if (X509_digest(x, EVP_sha256(), md, &md_len) != 1 || md_len != 32)
		return dane_tls_fail(err, "X509_digest(SHA-256)");
	hex_digest(md, md_len, out->cert_sha256);
	st = asn1_time_get(X509_get0_notBefore(x), "notBefore", &out->not_before, err);
	if (st == DG_OK)
		st = asn1_time_get(X509_get0_notAfter(x), "notAfter", &out->not_after, err);
	if (st != DG_OK)
		return st;
	key_describe(x, out->key_desc, sizeof(out->key_desc));
	if (names_from_san(x, out) == 0)
		names_from_cn(x, out);
	out->is_ca = (X509_get_extension_flags(x) & EXFLAG_CA) != 0;
	out->self_signed = X509_self_signed(x, 1) == 1;
	return DG_OK;
}

enum dg_status dg_cert_info_get(X509 *x, struct dg_cert_info *out, struct dg_err *err)
{
	enum dg_status st;

	memset(out, 0, sizeof(*out));
	ERR_set_mark();
	st = cert_info_fill(x, out, err);
	ERR_pop_to_mark(); /* leave the caller's OpenSSL error queue as it was */
	return st;
}

void dg_cert_info_cleanup(struct dg_cert_info *ci)
{
	if (ci == NULL)
		return;
	free(ci->subject);
	free(ci->issuer);
	for (size_t i = 0; i < ci->n_names; i++)
		free(ci->names[i]);
	free(ci->names);
	memset(ci, 0, sizeof(*ci));
}
