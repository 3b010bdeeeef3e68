/*
 * dane_int.h - private definitions shared by lib/dane/dane_*.c.
 *
 * The context struct behind the opaque struct dg_dane_ctx, the state of one verification run
 * (a throwaway SSL carrying the SSL_DANE, the X509_STORE_CTX that verified the chain) handed
 * from dane_verify.c to dane_result.c, and small string helpers. Nothing here is exported from
 * the library's public header.
 */
#ifndef DANEGUARD_DANE_INT_H
#define DANEGUARD_DANE_INT_H

#include <daneguard/dane.h>
#include <daneguard/util.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

/** The opaque context of dane.h: one DANE-enabled SSL_CTX and the order it was built with. */
struct dg_dane_ctx {
	SSL_CTX *ssl_ctx;              /**< owned; empty certificate store (SPEC AUTH-8) */
	struct dg_tlsa_strength order; /**< digest strength order, strongest first (AUTH-7) */
};

/** One dg_dane_verify() call: everything dane_result.c needs to read the outcome. */
struct dane_run {
	struct dg_dane_ctx *ctx;        /**< borrowed */
	const struct dg_dane_input *in; /**< borrowed */
	STACK_OF(X509) * chain;         /**< borrowed, leaf first, not empty when verified */
	SSL *ssl;                       /**< owned by the run; holds the SSL_DANE */
	X509_STORE_CTX *sctx;           /**< owned by the run; NULL until the chain is verified */
	int verify_ret;                 /**< X509_verify_cert() return value */
	bool loaded[DG_TLSA_SET_MAX];   /**< per record: accepted by SSL_dane_tlsa_add() */
};

/**
 * Fill @p out from a finished run (SPEC OSSL-8, FAIL-4): x509 error, authority (depth, matched
 * record, mspki), peer name, verdict, agility hint and the reason sentence.
 * @param run finished run (borrowed); run->sctx is not NULL
 * @param out result (borrowed); notes and n_usable are already set
 */
void dane_result_read(struct dane_run *run, struct dg_dane_result *out);

/**
 * Write a sentence into out->reason (truncated to fit).
 * @param out result (borrowed)
 * @param fmt printf format
 */
void dane_reason_set(struct dg_dane_result *out, const char *fmt, ...) DG_PRINTF(2, 3);

/**
 * Copy a NUL-terminated string into a fixed buffer, truncating.
 * @param dst  destination (borrowed), always NUL-terminated when @p size > 0
 * @param size size of @p dst
 * @param src  string (borrowed)
 */
void dane_strlcpy(char *dst, size_t size, const char *src);

/**
 * OpenSSL ordinal of a digest matching type under an order (SPEC AUTH-7): the first item gets
 * the highest ordinal, a matching type absent from the order gets 0 (disabled).
 * @param order strength order (borrowed)
 * @param mtype matching type
 * @return ordinal, 0 when disabled
 */
uint8_t dane_order_ordinal(const struct dg_tlsa_strength *order, uint8_t mtype);

/**
 * Record an OpenSSL failure in @p err: DG_E_TLS, the last OpenSSL error, "dane" as where.
 * @param err  error detail (borrowed), may be NULL
 * @param what the call that failed and its input, for the message (borrowed)
 * @return DG_E_TLS
 */
enum dg_status dane_tls_fail(struct dg_err *err, const char *what);

#endif /* DANEGUARD_DANE_INT_H */
