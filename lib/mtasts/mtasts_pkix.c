/*
 * mtasts_pkix.c - offline PKIX validation of an MX host's certificate chain for MTA-STS.
 *
 * Public: dg_sts_ca_store_new, dg_sts_cert_is_valid.
 *
 * The engine's STARTTLS probes capture each server's chain; MTA-STS validation (SPEC STS-6
 * step 3, RFC 8461 4.2) re-verifies it here with X509_verify_cert against a CA store (the
 * system store, or a private CA file), at a given time, for the TLS server purpose, with the
 * MX host name as the only reference identifier: SAN DNS-IDs only (the subject CN is never
 * used), a wildcard only as the whole left-most label (no partial wildcards).
 * Ownership: the store belongs to the caller (X509_STORE_free); chains are borrowed.
 */
#include "mtasts/mtasts_int.h"

#include <openssl/err.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include <stdio.h>
#include <string.h>

enum dg_status dg_sts_ca_store_new(const char *ca_file, X509_STORE **out, struct dg_err *err)
{
	X509_STORE *s = X509_STORE_new();

	*out = NULL;
	if (s == NULL)
		return dg_err_set(err, DG_E_INTERNAL, "X509_STORE_new failed");
	if (ca_file != NULL) {
		if (X509_STORE_load_file(s, ca_file) != 1) {
			unsigned long e = ERR_peek_last_error();

			X509_STORE_free(s);
			dg_err_set(err, DG_E_CONFIG, "CA file %s: %s", ca_file,
			           e != 0 ? ERR_reason_error_string(e) : "cannot be loaded");
			ERR_clear_error();
			return DG_E_CONFIG;
		}
	} else if (X509_STORE_set_default_paths(s) != 1) {
		X509_STORE_free(s);
		ERR_clear_error();
		return dg_err_set(err, DG_E_CONFIG, "the system CA store cannot be loaded");
	}
	*out = s;
	return DG_OK;
}

bool dg_sts_cert_is_valid(X509_STORE *store, STACK_OF(X509) * chain, const char *host, time_t when,
                          char *why, size_t why_len)
{
	X509_STORE_CTX *ctx;
	X509_VERIFY_PARAM *vp;
	size_t hl = strlen(host);
	bool ok;

	if (chain == NULL || sk_X509_num(chain) < 1) {
		snprintf(why, why_len, "no certificate to check");
		return false;
	}
	if (hl > 0 && host[hl - 1] == '.')
		hl--;
	ctx = X509_STORE_CTX_new();
	if (ctx == NULL || X509_STORE_CTX_init(ctx, store, sk_X509_value(chain, 0), chain) != 1) {
		X509_STORE_CTX_free(ctx);
		snprintf(why, why_len, "cannot set up the verification");
		ERR_clear_error();
		return false;
	}
	vp = X509_STORE_CTX_get0_param(ctx);
	X509_VERIFY_PARAM_set_time(vp, when);
	X509_VERIFY_PARAM_set_hostflags(vp, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS |
	                                        X509_CHECK_FLAG_NEVER_CHECK_SUBJECT);
	X509_VERIFY_PARAM_set1_host(vp, host, hl);
	X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_SERVER);
	ok = X509_verify_cert(ctx) == 1;
	if (!ok) {
		int e = X509_STORE_CTX_get_error(ctx);

		snprintf(why, why_len, "%s (X.509 error %d at depth %d)",
		         X509_verify_cert_error_string(e), e, X509_STORE_CTX_get_error_depth(ctx));
	}
	X509_STORE_CTX_free(ctx);
	ERR_clear_error();
	return ok;
}
