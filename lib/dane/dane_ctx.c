/*
 * dane_ctx.c - the DANE-enabled TLS client context.
 *
 * Public: dg_dane_ctx_new, dg_dane_ctx_free, dg_dane_ctx_ssl_ctx, dg_dane_ctx_order.
 * Private (dane_int.h): dane_tls_fail, dane_order_ordinal.
 *
 * Ownership: struct dg_dane_ctx owns one SSL_CTX, released in dg_dane_ctx_free(); SSL objects
 * made from it hold their own reference. The strength order is copied.
 *
 * SPEC: OSSL-1 (SSL_CTX_dane_enable once per client context, then SSL_CTX_dane_mtype_set before
 * any SSL exists), AUTH-7 (configurable digest strength order; a larger ordinal is stronger; a
 * digest left out of the order is disabled), AUTH-8 (no WebPKI fallback: the certificate store
 * is never given CA certificates, not even the system default paths).
 */
#include "dane/dane_int.h"

#include <stdio.h>
#include <stdlib.h>

#include <openssl/err.h>

static enum dg_status ctx_set_digests(SSL_CTX *ssl_ctx, const struct dg_tlsa_strength *order,
                                      struct dg_err *err);

enum dg_status dane_tls_fail(struct dg_err *err, const char *what)
{
	unsigned long e = ERR_peek_last_error();
	char buf[128] = "no OpenSSL error";

	if (e != 0)
		ERR_error_string_n(e, buf, sizeof(buf));
	dg_err_set(err, DG_E_TLS, "DANE: %s failed: %s", what, buf);
	if (err != NULL) {
		err->ssl_err = e;
		err->where = "dane";
	}
	return DG_E_TLS;
}

/* OpenSSL ordinal for @p mtype: first item of the order = highest, absent = 0 (disabled). */
uint8_t dane_order_ordinal(const struct dg_tlsa_strength *order, uint8_t mtype)
{
	size_t n = order->count < DG_TLSA_STRENGTH_MAX ? order->count : DG_TLSA_STRENGTH_MAX;

	for (size_t i = 0; i < n; i++)
		if (order->mtype[i] == mtype)
			return (uint8_t)(n - i);
	return 0;
}

/*
 * SPEC OSSL-1, AUTH-7: OpenSSL knows SHA2-256 (1) and SHA2-512 (2). Each gets its ordinal from
 * the order, or is disabled (NULL digest) when the order leaves it out. Other matching types in
 * the order have no digest in OpenSSL; records using them are refused by SSL_dane_tlsa_add().
 */
static enum dg_status ctx_set_digests(SSL_CTX *ssl_ctx, const struct dg_tlsa_strength *order,
                                      struct dg_err *err)
{
	static const struct {
		uint8_t mtype;
		const char *name;
	} known[] = {{DG_TLSA_MTYPE_SHA256, "SHA2-256"}, {DG_TLSA_MTYPE_SHA512, "SHA2-512"}};

	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
		uint8_t ord = dane_order_ordinal(order, known[i].mtype);
		const EVP_MD *md = NULL;

		if (ord > 0)
			md = known[i].mtype == DG_TLSA_MTYPE_SHA256 ? EVP_sha256() : EVP_sha512();
		if (SSL_CTX_dane_mtype_set(ssl_ctx, md, known[i].mtype, ord) <= 0) {
			char what[64];

			snprintf(what, sizeof(what), "SSL_CTX_dane_mtype_set(%s, ordinal %u)",
			         known[i].name, ord);
			return dane_tls_fail(err, what);
		}
	}
	return DG_OK;
}

enum dg_status dg_dane_ctx_new(const struct dg_tlsa_strength *order, struct dg_dane_ctx **out,
                               struct dg_err *err)
{
	struct dg_dane_ctx *ctx = dg_xcalloc(1, sizeof(*ctx));
	enum dg_status st;

	*out = NULL;
	if (order != NULL)
		ctx->order = *order;
	else
		dg_tlsa_strength_default(&ctx->order);
	if (ctx->order.count > DG_TLSA_STRENGTH_MAX)
		ctx->order.count = DG_TLSA_STRENGTH_MAX;

	ctx->ssl_ctx = SSL_CTX_new(TLS_client_method());
	if (ctx->ssl_ctx == NULL) {
		st = dane_tls_fail(err, "SSL_CTX_new(TLS_client_method())");
		goto fail;
	}
	/* SPEC OSSL-1: before any SSL exists. */
	if (SSL_CTX_dane_enable(ctx->ssl_ctx) <= 0) {
		st = dane_tls_fail(err, "SSL_CTX_dane_enable");
		goto fail;
	}
	st = ctx_set_digests(ctx->ssl_ctx, &ctx->order, err);
	if (st != DG_OK)
		goto fail;
	/* SPEC AUTH-8: SSL_CTX_set_default_verify_paths() is deliberately never called. */
	*out = ctx;
	return DG_OK;

fail:
	dg_dane_ctx_free(ctx);
	return st;
}

void dg_dane_ctx_free(struct dg_dane_ctx *ctx)
{
	if (ctx == NULL)
		return;
	SSL_CTX_free(ctx->ssl_ctx);
	free(ctx);
}

SSL_CTX *dg_dane_ctx_ssl_ctx(struct dg_dane_ctx *ctx)
{
	return ctx->ssl_ctx;
}

const struct dg_tlsa_strength *dg_dane_ctx_order(const struct dg_dane_ctx *ctx)
{
	return &ctx->order;
}
