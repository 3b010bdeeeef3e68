/*
 * tlsa_load.c - load certificates and keys (PEM or DER) from files or memory.
 *
 * Public: dg_tlsa_load_certs_mem, dg_tlsa_load_certs, dg_tlsa_load_pkey_mem, dg_tlsa_load_pkey.
 *
 * Ownership: input buffers and names are borrowed. Certificates come back in a new
 * STACK_OF(X509) the caller frees with sk_X509_pop_free(stack, X509_free); keys in an EVP_PKEY
 * the caller frees with EVP_PKEY_free(). Nothing is returned on failure.
 * Caps: files of at most DG_TLSA_FILE_MAX bytes, at most DG_TLSA_CHAIN_MAX certificates.
 * Error messages name the file (or label), the PEM block number and what failed. Encrypted keys
 * are refused rather than prompting for a passphrase.
 *
 * SPEC: supports AUTH-2/PUB-5 checks (records generated from, or matched against, the
 * certificates an operator deploys); STYLE.md section 7 (input caps).
 */
#include "tlsa/tlsa_int.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/decoder.h>
#include <openssl/err.h>
#include <openssl/pem.h>

static enum dg_status read_file(const char *path, uint8_t **out, size_t *out_len,
                                struct dg_err *err);
static enum dg_status tls_fail(struct dg_err *err, enum dg_status code, const char *name,
                               const char *what);
static bool looks_pem(const uint8_t *p, size_t len);
static bool contains(const uint8_t *p, size_t len, const char *needle);
static enum dg_status certs_pem(const char *name, BIO *bio, STACK_OF(X509) * sk,
                                struct dg_err *err);
static enum dg_status certs_der(const char *name, const uint8_t *p, size_t len, STACK_OF(X509) * sk,
                                struct dg_err *err);
static bool is_cert_der(const uint8_t *p, size_t len);

static enum dg_status tls_fail(struct dg_err *err, enum dg_status code, const char *name,
                               const char *what)
{
	unsigned long e = ERR_peek_last_error();
	const char *reason = e != 0 ? ERR_reason_error_string(e) : NULL;

	dg_err_set(err, code, "%s: %s%s%s", name, what, reason != NULL ? ": " : "",
	           reason != NULL ? reason : "");
	if (err != NULL) {
		err->ssl_err = e;
		err->where = "tlsa_load";
	}
	return code;
}

static enum dg_status read_file(const char *path, uint8_t **out, size_t *out_len,
                                struct dg_err *err)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf;
	size_t n;

	*out = NULL;
	*out_len = 0;
	if (f == NULL)
		return dg_err_set_errno(err, DG_E_IO, errno, "%s: cannot open", path);
	buf = dg_xmalloc(DG_TLSA_FILE_MAX + 1);
	n = fread(buf, 1, DG_TLSA_FILE_MAX + 1, f);
	if (ferror(f)) {
		int e = errno;

		fclose(f);
		free(buf);
		return dg_err_set_errno(err, DG_E_IO, e, "%s: read failed", path);
	}
	fclose(f);
	if (n > DG_TLSA_FILE_MAX) {
		free(buf);
		return dg_err_set(err, DG_E_LIMIT, "%s: larger than %d bytes", path,
		                  DG_TLSA_FILE_MAX);
	}
	*out = buf;
	*out_len = n;
	return DG_OK;
}

static bool contains(const uint8_t *p, size_t len, const char *needle)
{
	return memmem(p, len, needle, strlen(needle)) != NULL;
}

static bool looks_pem(const uint8_t *p, size_t len)
{
	return contains(p, len, "-----BEGIN ");
}

static bool is_cert_der(const uint8_t *p, size_t len)
{
	const unsigned char *q = p;
	X509 *x;

	if (len > LONG_MAX)
		return false;
	x = d2i_X509(NULL, &q, (long)len);
	X509_free(x);
	return x != NULL && q == p + len;
}

/* Every CERTIFICATE block of a PEM stream, other blocks skipped. */
static enum dg_status certs_pem(const char *name, BIO *bio, STACK_OF(X509) * sk, struct dg_err *err)
{
	char *type = NULL, *header = NULL;
	unsigned char *data = NULL;
	long dlen = 0;
	int block = 0;

	for (;;) {
		const unsigned char *q;
		X509 *x = NULL;
		bool trusted, plain;

		ERR_set_mark();
		if (!PEM_read_bio(bio, &type, &header, &data, &dlen)) {
			unsigned long e = ERR_peek_last_error();
			const char *reason = ERR_reason_error_string(e);

			ERR_pop_to_mark();
			if (ERR_GET_REASON(e) == PEM_R_NO_START_LINE)
				return DG_OK; /* end of input */
			return dg_err_set(err, DG_E_PARSE,
			                  "%s: malformed PEM block after block #%d: %s", name,
			                  block, reason != NULL ? reason : "unknown error");
		}
		ERR_pop_to_mark();
		block++;
		trusted = strcmp(type, PEM_STRING_X509_TRUSTED) == 0;
		plain =
		    strcmp(type, PEM_STRING_X509) == 0 || strcmp(type, PEM_STRING_X509_OLD) == 0;
		q = data;
		if (plain)
			x = d2i_X509(NULL, &q, dlen);
		else if (trusted)
			x = d2i_X509_AUX(NULL, &q, dlen);
		OPENSSL_free(type);
		OPENSSL_free(header);
		OPENSSL_free(data);
		if ((plain || trusted) && x == NULL) {
			char what[64];

			snprintf(what, sizeof(what), "PEM block #%d is not a valid certificate",
			         block);
			return tls_fail(err, DG_E_PARSE, name, what);
		}
		if (x == NULL)
			continue;
		if (sk_X509_num(sk) >= DG_TLSA_CHAIN_MAX) {
			X509_free(x);
			return dg_err_set(err, DG_E_LIMIT, "%s: more than %d certificates", name,
			                  DG_TLSA_CHAIN_MAX);
		}
		if (!sk_X509_push(sk, x))
			DG_PANIC("out of memory growing a certificate stack");
	}
}

static enum dg_status certs_der(const char *name, const uint8_t *p, size_t len, STACK_OF(X509) * sk,
                                struct dg_err *err)
{
	const unsigned char *q = p;
	X509 *x = d2i_X509(NULL, &q, (long)len);

	if (x == NULL)
		return tls_fail(err, DG_E_PARSE, name, "neither PEM nor a DER certificate");
	if (q != p + len) {
		X509_free(x);
		return dg_err_set(err, DG_E_PARSE,
		                  "%s: %zu bytes of junk after the DER certificate at byte %zu",
		                  name, (size_t)(p + len - q), (size_t)(q - p));
	}
	if (!sk_X509_push(sk, x))
		DG_PANIC("out of memory growing a certificate stack");
	return DG_OK;
}

enum dg_status dg_tlsa_load_certs_mem(const char *name, const uint8_t *p, size_t len,
                                      STACK_OF(X509) * *out, struct dg_err *err)
{
	STACK_OF(X509) * sk;
	enum dg_status st;

	*out = NULL;
	if (len > DG_TLSA_FILE_MAX)
		return dg_err_set(err, DG_E_LIMIT, "%s: larger than %d bytes", name,
		                  DG_TLSA_FILE_MAX);
	if (len == 0)
		return dg_err_set(err, DG_E_PARSE, "%s: empty, no certificate", name);
	sk = sk_X509_new_null();
	if (sk == NULL)
		DG_PANIC("out of memory allocating a certificate stack");
	if (looks_pem(p, len)) {
		BIO *bio = BIO_new_mem_buf(p, (int)len);

		if (bio == NULL)
			DG_PANIC("out of memory allocating a memory BIO");
		st = certs_pem(name, bio, sk, err);
		BIO_free(bio);
		if (st == DG_OK && sk_X509_num(sk) == 0)
			st = dg_err_set(err, DG_E_PARSE, "%s: PEM without a CERTIFICATE block",
			                name);
	} else {
		st = certs_der(name, p, len, sk, err);
	}
	if (st != DG_OK) {
		sk_X509_pop_free(sk, X509_free);
		return st;
	}
	*out = sk;
	return DG_OK;
}

enum dg_status dg_tlsa_load_certs(const char *path, STACK_OF(X509) * *out, struct dg_err *err)
{
	uint8_t *buf;
	size_t len;
	enum dg_status st = read_file(path, &buf, &len, err);

	*out = NULL;
	if (st != DG_OK)
		return st;
	st = dg_tlsa_load_certs_mem(path, buf, len, out, err);
	free(buf);
	return st;
}

enum dg_status dg_tlsa_load_pkey_mem(const char *name, const uint8_t *p, size_t len, EVP_PKEY **out,
                                     struct dg_err *err)
{
	OSSL_DECODER_CTX *dctx;
	EVP_PKEY *pkey = NULL;
	const unsigned char *q = p;
	size_t left = len;
	int ok;

	*out = NULL;
	if (len > DG_TLSA_FILE_MAX)
		return dg_err_set(err, DG_E_LIMIT, "%s: larger than %d bytes", name,
		                  DG_TLSA_FILE_MAX);
	if (len == 0)
		return dg_err_set(err, DG_E_PARSE, "%s: empty, no key", name);
	dctx = OSSL_DECODER_CTX_new_for_pkey(&pkey, NULL, NULL, NULL, 0, NULL, NULL);
	if (dctx == NULL)
		return tls_fail(err, DG_E_INTERNAL, name, "cannot create a key decoder");
	ERR_set_mark();
	ok = OSSL_DECODER_from_data(dctx, &q, &left);
	OSSL_DECODER_CTX_free(dctx);
	if (ok && pkey != NULL) {
		ERR_pop_to_mark();
		*out = pkey;
		return DG_OK;
	}
	ERR_pop_to_mark();
	EVP_PKEY_free(pkey);
	if ((looks_pem(p, len) && contains(p, len, "CERTIFICATE-----")) || is_cert_der(p, len))
		return dg_err_set(err, DG_E_PARSE,
		                  "%s: holds a certificate, not a key (load it as a certificate)",
		                  name);
	if (looks_pem(p, len) && contains(p, len, "ENCRYPTED"))
		return dg_err_set(err, DG_E_PARSE,
		                  "%s: the private key is encrypted; decrypt it first", name);
	return dg_err_set(err, DG_E_PARSE, "%s: not a PEM or DER public or private key", name);
}

enum dg_status dg_tlsa_load_pkey(const char *path, EVP_PKEY **out, struct dg_err *err)
{
	uint8_t *buf;
	size_t len;
	enum dg_status st = read_file(path, &buf, &len, err);

	*out = NULL;
	if (st != DG_OK)
		return st;
	st = dg_tlsa_load_pkey_mem(path, buf, len, out, err);
	free(buf);
	return st;
}
