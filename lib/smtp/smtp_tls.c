/*
 * smtp_tls.c - OpenSSL side of the STARTTLS probe: the default client
 * context, the per-connection SSL (SNI, key type restriction) and what is
 * captured after the handshake (version, cipher, peer key, signature
 * algorithm, peer chain).
 *
 * Public: dg_smtp_tls_ctx_new.
 * Private (smtp_int.h): dg_smtp_tls_ssl_new, dg_smtp_tls_capture,
 * dg_smtp_tls_error_str.
 *
 * Ownership: dg_smtp_tls_ctx_new() and dg_smtp_tls_ssl_new() return new
 * objects the caller frees (SSL_CTX_free, SSL_free). dg_smtp_tls_capture()
 * stores an up-ref'd copy of the peer chain in the result, which then owns
 * it. Verification is not done here: SSL_VERIFY_NONE, the chain is checked
 * later (SPEC OSSL-7 second form, OSSL-9: no cert verify callback).
 * SPEC TLS-3 (SNI = TLSA base domain), TLS-4 (TLS >= 1.0), TLS-5 (no
 * anonymous suites), TLS-7 (no session cache).
 */
#include "smtp/smtp_int.h"

#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>

#include <stdio.h>
#include <string.h>

/* Non-anonymous suites (TLS-5); security level 0 lets TLS 1.0/1.1 through (TLS-4). */
static const char tls_ciphers_any[] = "DEFAULT:!aNULL:!eNULL";

/* Per key type: TLS 1.2 and older suites, and signature algorithms (1.2 and 1.3). */
struct tls_keytype_conf {
	const char *ciphers;
	const char *sigalgs;
};

static const struct tls_keytype_conf tls_keytype_confs[] = {
    [DG_SMTP_KEY_ANY] = {NULL, NULL},
    [DG_SMTP_KEY_ECDSA] = {"aECDSA:!aNULL:!eNULL",
                           "ECDSA+SHA256:ECDSA+SHA384:ECDSA+SHA512:ECDSA+SHA224:ECDSA+SHA1"},
    [DG_SMTP_KEY_RSA] = {"aRSA:!aNULL:!eNULL",
                         "RSA-PSS+SHA256:RSA-PSS+SHA384:RSA-PSS+SHA512:"
                         "rsa_pss_pss_sha256:rsa_pss_pss_sha384:rsa_pss_pss_sha512:"
                         "RSA+SHA256:RSA+SHA384:RSA+SHA512:RSA+SHA224:RSA+SHA1"},
};

static enum dg_status tls_fail(struct dg_err *err, const char *what);
static enum dg_status tls_restrict(SSL *ssl, enum dg_smtp_keytype kt, struct dg_err *err);
static void tls_describe_key(EVP_PKEY *pk, char *out, size_t size, int *bits);
static void tls_describe_sigalg(SSL *ssl, char *out, size_t size);
static void tls_copy_chain(SSL *ssl, struct dg_smtp_probe_result *res);

/* DG_E_TLS with the last OpenSSL error appended; clears the error queue. */
static enum dg_status tls_fail(struct dg_err *err, const char *what)
{
	unsigned long e = ERR_peek_last_error();
	char buf[160];

	dg_smtp_tls_error_str(e, buf, sizeof(buf));
	dg_err_set(err, DG_E_TLS, "%s: %s", what, buf);
	if (err != NULL)
		err->ssl_err = e;
	ERR_clear_error();
	return DG_E_TLS;
}

void dg_smtp_tls_error_str(unsigned long e, char *buf, size_t size)
{
	if (e == 0) {
		snprintf(buf, size, "no OpenSSL error");
		return;
	}
	ERR_error_string_n(e, buf, size);
}

SSL_CTX *dg_smtp_tls_ctx_new(struct dg_err *err)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

	if (ctx == NULL) {
		tls_fail(err, "SSL_CTX_new");
		return NULL;
	}
	SSL_CTX_set_security_level(ctx, 0);
	if (SSL_CTX_set_min_proto_version(ctx, TLS1_VERSION) != 1 ||
	    SSL_CTX_set_cipher_list(ctx, tls_ciphers_any) != 1) {
		tls_fail(err, "client TLS context setup");
		SSL_CTX_free(ctx);
		return NULL;
	}
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET | SSL_OP_NO_COMPRESSION);
	return ctx;
}

/* Force an ECDSA or RSA server certificate (TLS 1.3 via sigalgs, 1.2 also via suites). */
static enum dg_status tls_restrict(SSL *ssl, enum dg_smtp_keytype kt, struct dg_err *err)
{
	const struct tls_keytype_conf *c = &tls_keytype_confs[kt];

	if (c->ciphers == NULL)
		return DG_OK;
	if (SSL_set_cipher_list(ssl, c->ciphers) != 1)
		return tls_fail(err, "SSL_set_cipher_list");
	if (SSL_set1_sigalgs_list(ssl, c->sigalgs) != 1)
		return tls_fail(err, "SSL_set1_sigalgs_list");
	return DG_OK;
}

enum dg_status dg_smtp_tls_ssl_new(SSL_CTX *ctx, const char *sni, enum dg_smtp_keytype kt,
                                   SSL **out, struct dg_err *err)
{
	SSL *ssl = SSL_new(ctx);
	enum dg_status st;

	*out = NULL;
	if (ssl == NULL)
		return tls_fail(err, "SSL_new");
	SSL_set_verify(ssl, SSL_VERIFY_NONE, NULL);
	/* A probe never resumes a session, so it asks for no tickets (SPEC TLS-7 does not
	 * arise); whatever context it was given. */
	SSL_set_options(ssl, SSL_OP_NO_TICKET);
	if (sni != NULL && SSL_set_tlsext_host_name(ssl, sni) != 1) {
		st = tls_fail(err, "SSL_set_tlsext_host_name");
		goto fail;
	}
	st = tls_restrict(ssl, kt, err);
	if (st != DG_OK)
		goto fail;
	*out = ssl;
	return DG_OK;
fail:
	SSL_free(ssl);
	return st;
}

/* "ECDSA P-256", "RSA 2048", "Ed25519", ... */
static void tls_describe_key(EVP_PKEY *pk, char *out, size_t size, int *bits)
{
	char group[64] = "";
	const char *nist;
	int id = EVP_PKEY_get_base_id(pk);

	*bits = EVP_PKEY_get_bits(pk);
	switch (id) {
	case EVP_PKEY_EC:
		if (EVP_PKEY_get_group_name(pk, group, sizeof(group), NULL) != 1)
			snprintf(group, sizeof(group), "unknown-curve");
		nist = EC_curve_nid2nist(OBJ_sn2nid(group));
		snprintf(out, size, "ECDSA %s", nist != NULL ? nist : group);
		break;
	case EVP_PKEY_RSA: snprintf(out, size, "RSA %d", *bits); break;
	case EVP_PKEY_RSA_PSS: snprintf(out, size, "RSA-PSS %d", *bits); break;
	case EVP_PKEY_DSA: snprintf(out, size, "DSA %d", *bits); break;
	case EVP_PKEY_ED25519: snprintf(out, size, "Ed25519"); break;
	case EVP_PKEY_ED448: snprintf(out, size, "Ed448"); break;
	default:
		snprintf(out, size, "%s %d", id != NID_undef ? OBJ_nid2sn(id) : "unknown", *bits);
		break;
	}
}

/* "ECDSA+SHA256", "RSA-PSS+SHA384", "RSA+SHA256", "Ed25519"; "" if unknown. */
static void tls_describe_sigalg(SSL *ssl, char *out, size_t size)
{
	int type = NID_undef, md = NID_undef;
	const char *tname;

	out[0] = '\0';
	if (SSL_version(ssl) < TLS1_2_VERSION || SSL_get_peer_signature_type_nid(ssl, &type) != 1)
		return;
	(void)SSL_get_peer_signature_nid(ssl, &md);
	switch (type) {
	case EVP_PKEY_EC: tname = "ECDSA"; break;
	case EVP_PKEY_RSA: tname = "RSA"; break;
	case EVP_PKEY_RSA_PSS: tname = "RSA-PSS"; break;
	case EVP_PKEY_ED25519: tname = "Ed25519"; break;
	case EVP_PKEY_ED448: tname = "Ed448"; break;
	default: tname = OBJ_nid2sn(type); break;
	}
	if (md == NID_undef || type == EVP_PKEY_ED25519 || type == EVP_PKEY_ED448)
		snprintf(out, size, "%s", tname);
	else
		snprintf(out, size, "%s+%s", tname, OBJ_nid2sn(md));
}

/* Up-ref'd copy of the chain as sent (client side: leaf first), capped. */
static void tls_copy_chain(SSL *ssl, struct dg_smtp_probe_result *res)
{
	STACK_OF(X509) *sent = SSL_get_peer_cert_chain(ssl);
	int n;

	if (sent == NULL)
		return;
	res->chain = sk_X509_new_null();
	if (res->chain == NULL)
		DG_PANIC("sk_X509_new_null: out of memory");
	n = sk_X509_num(sent);
	if (n > DG_SMTP_PROBE_CHAIN_MAX) {
		n = DG_SMTP_PROBE_CHAIN_MAX;
		res->chain_truncated = true;
	}
	for (int i = 0; i < n; i++) {
		X509 *c = sk_X509_value(sent, i);

		if (X509_up_ref(c) != 1 || sk_X509_push(res->chain, c) <= 0)
			DG_PANIC("cannot keep peer certificate %d", i);
	}
}

void dg_smtp_tls_capture(SSL *ssl, struct dg_smtp_probe_result *res)
{
	const SSL_CIPHER *cipher = SSL_get_current_cipher(ssl);
	X509 *leaf = SSL_get0_peer_certificate(ssl);

	res->tls_done = true;
	snprintf(res->tls_version, sizeof(res->tls_version), "%s", SSL_get_version(ssl));
	snprintf(res->cipher, sizeof(res->cipher), "%s",
	         cipher != NULL ? SSL_CIPHER_get_name(cipher) : "");
	if (leaf != NULL && X509_get0_pubkey(leaf) != NULL)
		tls_describe_key(X509_get0_pubkey(leaf), res->peer_key, sizeof(res->peer_key),
		                 &res->peer_key_bits);
	tls_describe_sigalg(ssl, res->sigalg, sizeof(res->sigalg));
	tls_copy_chain(ssl, res);
}
