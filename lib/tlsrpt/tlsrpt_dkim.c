/*
 * tlsrpt_dkim.c - DKIM signatures on TLS-RPT report mails (libopendkim).
 *
 * Public: dg_tlsrpt_dkim_load, dg_tlsrpt_dkim_cleanup, dg_tlsrpt_dkim_sign.
 *
 * SPEC RPT-7 (RFC 8460 3): a report sent by mail MUST carry a DKIM signature without l=.
 * dg_tlsrpt_dkim_sign() hands the composed message (tlsrpt_mail.c) to libopendkim, which
 * canonicalises it (relaxed/relaxed, RFC 6376 3.4.2, 3.4.4), hashes the body in full and signs
 * the headers listed in sign_hdrs[] with the key's algorithm (rsa-sha256, or ed25519-sha256 of
 * RFC 8463). The signature header is prepended with CRLF line ends. The key is parsed once with
 * OpenSSL to pick the algorithm and to refuse weak or unusable keys with a clear message; the
 * PEM text is what libopendkim signs with.
 * Ownership: dg_tlsrpt_dkim_load() owns the copies it makes (freed by dg_tlsrpt_dkim_cleanup());
 * each signature uses its own DKIM_LIB and DKIM handles, released before returning, so the
 * function is pure apart from reading the clock for t=.
 */
#include <daneguard/tlsrpt.h>
#include <daneguard/util.h>

#include <opendkim/dkim.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/** Smallest RSA key accepted (RFC 8301 3.2: signers MUST use at least 1024 bits). */
#define DKIM_RSA_MIN_BITS 1024
#define DKIM_HDR_NAME "DKIM-Signature: "

/* The headers of a report mail that the signature covers (SPEC RPT-7). */
/* clang-format off */
static const char *const sign_hdrs[] = {
    "From", "To", "Subject", "Date", "Message-ID", "MIME-Version", "Content-Type",
    "TLS-Report-Domain", "TLS-Report-Submitter", NULL,
};
/* clang-format on */

struct dkim_store {
	char *domain, *selector, *key_pem;
};

static enum dg_status key_alg(const char *pem, const char *what, dkim_alg_t *alg,
                              struct dg_err *err);
static bool name_ok(const char *v);
static bool has_from(const uint8_t *msg, size_t len);
static enum dg_status read_key(const char *path, char **out, struct dg_err *err);
static enum dg_status dkim_fail(struct dg_err *err, DKIM *d, DKIM_STAT st, const char *step,
                                const char *domain);

static bool name_ok(const char *v)
{
	size_t n = v != NULL ? strlen(v) : 0;

	if (n == 0 || n > 253 || v[0] == '.' || v[n - 1] == '.')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!dg_ascii_isalnum((unsigned char)v[i]) && v[i] != '-' && v[i] != '_' &&
		    v[i] != '.')
			return false;
	return true;
}

/* Does the header section (up to the first empty line) hold a From field? */
static bool has_from(const uint8_t *msg, size_t len)
{
	for (size_t i = 0; i + 5 <= len; i++) {
		if (i > 0 && msg[i - 1] != '\n')
			continue;
		if (msg[i] == '\r' || msg[i] == '\n')
			return false; /* end of the header section */
		if (dg_ascii_strncasecmp((const char *)msg + i, "From:", 5) == 0)
			return true;
	}
	return false;
}

/* Pick the signing algorithm from the key type; @p what names the key in errors. */
static enum dg_status key_alg(const char *pem, const char *what, dkim_alg_t *alg,
                              struct dg_err *err)
{
	BIO *bio = BIO_new_mem_buf(pem, -1);
	EVP_PKEY *pk = bio != NULL ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
	enum dg_status st = DG_OK;
	int bits;

	BIO_free(bio);
	if (pk == NULL) {
		st = dg_err_set(err, DG_E_CONFIG, "DKIM key %s: not a PEM private key", what);
		if (err != NULL)
			err->ssl_err = ERR_peek_last_error();
		ERR_clear_error();
		return st;
	}
	switch (EVP_PKEY_get_base_id(pk)) {
	case EVP_PKEY_RSA:
		bits = EVP_PKEY_get_bits(pk);
		if (bits < DKIM_RSA_MIN_BITS)
			st = dg_err_set(err, DG_E_CONFIG,
			                "DKIM key %s: RSA key of %d bits, want %d or more", what,
			                bits, DKIM_RSA_MIN_BITS);
		*alg = DKIM_SIGN_RSASHA256;
		break;
	case EVP_PKEY_ED25519: *alg = DKIM_SIGN_ED25519SHA256; break;
	default:
		st = dg_err_set(err, DG_E_CONFIG, "DKIM key %s: %s key, want RSA or Ed25519", what,
		                OBJ_nid2sn(EVP_PKEY_get_base_id(pk)));
		break;
	}
	EVP_PKEY_free(pk);
	return st;
}

static enum dg_status read_key(const char *path, char **out, struct dg_err *err)
{
	FILE *f = fopen(path, "rb");
	struct dg_buf b;
	char chunk[4096];
	size_t n;
	enum dg_status st = DG_OK;

	*out = NULL;
	if (f == NULL)
		return dg_err_set_errno(err, DG_E_IO, errno, "DKIM key %s: cannot open", path);
	dg_buf_init(&b, DG_TLSRPT_DKIM_KEY_MAX);
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		if (dg_buf_append(&b, chunk, n) != DG_OK) {
			st = dg_err_set(err, DG_E_LIMIT, "DKIM key %s: larger than %u bytes", path,
			                DG_TLSRPT_DKIM_KEY_MAX);
			break;
		}
	if (st == DG_OK && ferror(f))
		st = dg_err_set_errno(err, DG_E_IO, errno, "DKIM key %s: read failed", path);
	fclose(f);
	if (st != DG_OK) {
		dg_buf_cleanup(&b);
		return st;
	}
	*out = dg_buf_take(&b);
	return DG_OK;
}

enum dg_status dg_tlsrpt_dkim_load(const char *path, const char *domain, const char *selector,
                                   struct dg_tlsrpt_dkim *out, struct dg_err *err)
{
	struct dkim_store *s;
	char *pem = NULL;
	dkim_alg_t alg;
	enum dg_status st;

	memset(out, 0, sizeof(*out));
	if (!name_ok(domain) || !name_ok(selector))
		return dg_err_set(err, DG_E_CONFIG,
		                  "DKIM key %s: bad domain '%.64s' or selector '%.64s'", path,
		                  domain != NULL ? domain : "", selector != NULL ? selector : "");
	if ((st = read_key(path, &pem, err)) != DG_OK)
		return st;
	if ((st = key_alg(pem, path, &alg, err)) != DG_OK) {
		OPENSSL_cleanse(pem, strlen(pem));
		free(pem);
		return st;
	}
	s = dg_xcalloc(1, sizeof(*s));
	s->domain = dg_xstrdup(domain);
	s->selector = dg_xstrdup(selector);
	s->key_pem = pem;
	out->domain = s->domain;
	out->selector = s->selector;
	out->key_pem = s->key_pem;
	out->priv = s;
	return DG_OK;
}

void dg_tlsrpt_dkim_cleanup(struct dg_tlsrpt_dkim *k)
{
	struct dkim_store *s;

	if (k == NULL || k->priv == NULL)
		return;
	s = k->priv;
	OPENSSL_cleanse(s->key_pem, strlen(s->key_pem)); /* keys stay out of freed memory */
	free(s->key_pem);
	free(s->domain);
	free(s->selector);
	free(s);
	memset(k, 0, sizeof(*k));
}

static enum dg_status dkim_fail(struct dg_err *err, DKIM *d, DKIM_STAT st, const char *step,
                                const char *domain)
{
	const char *why = d != NULL ? dkim_geterror(d) : NULL;

	return dg_err_set(err, DG_E_INTERNAL, "DKIM signature for %s: %s: %s", domain, step,
	                  why != NULL && why[0] != '\0' ? why : dkim_getresultstr(st));
}

enum dg_status dg_tlsrpt_dkim_sign(const struct dg_tlsrpt_dkim *k, const uint8_t *msg, size_t len,
                                   uint8_t **out, size_t *out_len, struct dg_err *err)
{
	DKIM_LIB *lib = NULL;
	DKIM *d = NULL;
	DKIM_STAT ds = DKIM_STAT_OK;
	dkim_alg_t alg;
	unsigned char *sig = NULL;
	size_t sig_len = 0;
	struct dg_buf b;
	enum dg_status st;

	*out = NULL;
	*out_len = 0;
	if (k->key_pem == NULL || !name_ok(k->domain) || !name_ok(k->selector))
		return dg_err_set(err, DG_E_CONFIG, "DKIM: no key, or bad domain or selector");
	if (len > DG_TLSRPT_DKIM_MSG_MAX)
		return dg_err_set(err, DG_E_LIMIT, "DKIM: message of %zu bytes, at most %u", len,
		                  DG_TLSRPT_DKIM_MSG_MAX);
	if ((st = key_alg(k->key_pem, k->selector, &alg, err)) != DG_OK)
		return st;
	/* RFC 6376 5.4: From MUST be signed; a mail without one is not a report mail */
	if (!has_from(msg, len))
		return dg_err_set(err, DG_E_PARSE, "DKIM signature for %s: no From header",
		                  k->domain);
	if ((lib = dkim_init(NULL, NULL)) == NULL)
		return dg_err_set(err, DG_E_INTERNAL, "DKIM: dkim_init failed");
	if (alg == DKIM_SIGN_ED25519SHA256 && !dkim_libfeature(lib, DKIM_FEATURE_ED25519)) {
		dkim_close(lib);
		return dg_err_set(err, DG_E_CONFIG,
		                  "DKIM: this libopendkim cannot sign with Ed25519");
	}
	/* the option takes the NULL-terminated list itself; its size is that of the pointer */
	if (dkim_options(lib, DKIM_OP_SETOPT, DKIM_OPTS_SIGNHDRS, (void *)(uintptr_t)sign_hdrs,
	                 sizeof(const char **)) != DKIM_STAT_OK) {
		st = dkim_fail(err, NULL, DKIM_STAT_INTERNAL, "setting the signed headers",
		               k->domain);
		goto out;
	}
	/* length -1: the whole body, no l= tag (SPEC RPT-7) */
	d = dkim_sign(lib, (const unsigned char *)"tlsrpt", NULL,
	              (dkim_sigkey_t)(uintptr_t)k->key_pem, (const unsigned char *)k->selector,
	              (const unsigned char *)k->domain, DKIM_CANON_RELAXED, DKIM_CANON_RELAXED, alg,
	              -1, &ds);
	if (d == NULL) {
		st = dkim_fail(err, NULL, ds, "dkim_sign", k->domain);
		goto out;
	}
	if ((ds = dkim_chunk(d, (u_char *)(uintptr_t)msg, len)) != DKIM_STAT_OK ||
	    (ds = dkim_chunk(d, NULL, 0)) != DKIM_STAT_OK) {
		st = dkim_fail(err, d, ds, "reading the message", k->domain);
		goto out;
	}
	if ((ds = dkim_eom(d, NULL)) != DKIM_STAT_OK) {
		st = dkim_fail(err, d, ds, "signing", k->domain);
		goto out;
	}
	if ((ds = dkim_getsighdr_d(d, strlen(DKIM_HDR_NAME), &sig, &sig_len)) != DKIM_STAT_OK) {
		st = dkim_fail(err, d, ds, "formatting the header", k->domain);
		goto out;
	}
	dg_buf_init(&b, DG_TLSRPT_DKIM_MSG_MAX + 65536u);
	(void)dg_buf_append_str(&b, DKIM_HDR_NAME);
	/* libopendkim folds with bare LF; the message uses CRLF throughout */
	for (size_t i = 0; i < sig_len; i++) {
		if (sig[i] == '\n' && (i == 0 || sig[i - 1] != '\r'))
			(void)dg_buf_append(&b, "\r", 1);
		(void)dg_buf_append(&b, &sig[i], 1);
	}
	(void)dg_buf_append_str(&b, "\r\n");
	if (dg_buf_append(&b, msg, len) != DG_OK) {
		dg_buf_cleanup(&b);
		st = dg_err_set(err, DG_E_LIMIT, "DKIM: signed message too large");
		goto out;
	}
	*out_len = dg_buf_len(&b);
	*out = (uint8_t *)dg_buf_take(&b);
	st = DG_OK;
out:
	if (d != NULL)
		dkim_free(d);
	dkim_close(lib);
	return st;
}
