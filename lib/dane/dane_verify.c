/*
 * dane_verify.c - offline DANE verification of a peer chain with OpenSSL's own DANE code.
 *
 * Public: dg_dane_verify.
 *
 * One call builds a throwaway SSL from the context's DANE-enabled SSL_CTX, gives it the base
 * domain, the flags, the extra reference identifiers and the TLSA records, and then runs
 * X509_verify_cert() over the chain exactly as libssl's ssl_verify_cert_chain() does during a
 * handshake (the SSL_DANE attached with X509_STORE_CTX_set0_dane, purpose "ssl_server", the
 * SSL's verify parameters, its security level as auth level), at the requested time. OpenSSL's
 * test/danetest.c verifies offline the same way. dane_result.c then reads the outcome.
 *
 * Ownership: the input, the records and the chain are borrowed; the SSL and X509_STORE_CTX live
 * for the call only. The result owns its notes (and names, see dane_result.c). The caller's
 * OpenSSL error queue is left as it was (ERR_set_mark / ERR_pop_to_mark).
 *
 * SPEC: OSSL-2 (SSL_dane_enable with the TLSA base domain), OSSL-3 (DANE_FLAG_NO_DANE_EE_
 * NAMECHECKS, AUTH-2), OSSL-4 (SSL_add1_host, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS; AUTH-5,
 * AUTH-6), OSSL-5 (skip usages 0/1 and matching type 255 before SSL_dane_tlsa_add; 0 = unusable,
 * < 0 = abort; TLSA-2, TLSA-3), OSSL-6 (no usable record: never DANE-verified; TLSA-4 B),
 * OSSL-7/OSSL-9 (X509_verify_cert with DANE, result X509_V_OK or the error), AUTH-8 (empty
 * store).
 */
#include "dane/dane_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>

static void result_init(struct dg_dane_result *out);
static enum dg_status check_input(const struct dg_dane_input *in, struct dg_err *err);
static enum dg_status name_fail(struct dg_err *err, const char *call, const char *name);
static enum dg_status run_ssl_setup(struct dane_run *run, struct dg_err *err);
static bool rr_is_skipped(const struct dg_tlsa_rr *rr);
static enum dg_status load_records(struct dane_run *run, struct dg_dane_result *out,
                                   struct dg_err *err);
static void add_note(struct dg_dane_result *out, size_t index, enum dg_tlsa_usability u,
                     const char *reason);
static enum dg_tlsa_usability refused_reason(const struct dane_run *run,
                                             const struct dg_tlsa_rr *rr, size_t index, char *buf,
                                             size_t size);
static void no_usable_verdict(const struct dane_run *run, struct dg_dane_result *out);
static enum dg_status run_verify(struct dane_run *run, struct dg_err *err);

static void result_init(struct dg_dane_result *out)
{
	memset(out, 0, sizeof(*out));
	out->x509_err = X509_V_OK;
	out->error_depth = -1;
	out->depth = -1;
	out->matched_index = -1;
	out->fail = DG_DANE_FAIL_NONE;
}

static enum dg_status check_input(const struct dg_dane_input *in, struct dg_err *err)
{
	if (in == NULL || in->base_domain == NULL || in->base_domain[0] == '\0')
		return dg_err_set(err, DG_E_CONFIG, "DANE verify: no TLSA base domain given");
	if (in->n_ref_ids > DG_DANE_REF_IDS_MAX)
		return dg_err_set(err, DG_E_CONFIG,
		                  "DANE verify: %zu extra reference identifiers, at most %d",
		                  in->n_ref_ids, DG_DANE_REF_IDS_MAX);
	for (size_t i = 0; i < in->n_ref_ids; i++)
		if (in->ref_ids == NULL || in->ref_ids[i] == NULL || in->ref_ids[i][0] == '\0')
			return dg_err_set(err, DG_E_CONFIG,
			                  "DANE verify: reference identifier #%zu is empty", i + 1);
	if (in->tlsa != NULL && in->tlsa->count > DG_TLSA_SET_MAX)
		return dg_err_set(err, DG_E_LIMIT, "DANE verify: %zu TLSA records, at most %d",
		                  in->tlsa->count, DG_TLSA_SET_MAX);
	return DG_OK;
}

static enum dg_status name_fail(struct dg_err *err, const char *call, const char *name)
{
	char esc[DG_NAME_BUF_SIZE];

	dg_str_escape(esc, sizeof(esc), name, strlen(name));
	dg_err_set(err, DG_E_CONFIG, "DANE verify: %s refuses the name \"%s\"", call, esc);
	if (err != NULL) {
		err->ssl_err = ERR_peek_last_error();
		err->where = "dane";
	}
	return DG_E_CONFIG;
}

/* SPEC OSSL-2, OSSL-3, OSSL-4: the throwaway SSL that carries the SSL_DANE and the names. */
static enum dg_status run_ssl_setup(struct dane_run *run, struct dg_err *err)
{
	const struct dg_dane_input *in = run->in;

	run->ssl = SSL_new(run->ctx->ssl_ctx);
	if (run->ssl == NULL)
		return dane_tls_fail(err, "SSL_new");
	SSL_set_connect_state(run->ssl);
	/* SPEC OSSL-2: primary reference identifier and default SNI. */
	if (SSL_dane_enable(run->ssl, in->base_domain) <= 0)
		return name_fail(err, "SSL_dane_enable", in->base_domain);
	/* SPEC OSSL-3, AUTH-2: no name checks for DANE-EE. */
	SSL_dane_set_flags(run->ssl, DANE_FLAG_NO_DANE_EE_NAMECHECKS);
	/* SPEC OSSL-4, AUTH-6: a wildcard only as the whole first label. */
	SSL_set_hostflags(run->ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
	for (size_t i = 0; i < in->n_ref_ids; i++)
		if (SSL_add1_host(run->ssl, in->ref_ids[i]) != 1)
			return name_fail(err, "SSL_add1_host", in->ref_ids[i]);
	return DG_OK;
}

/* SPEC OSSL-5, TLSA-3: PKIX-TA/PKIX-EE and PrivMatch never reach OpenSSL. */
static bool rr_is_skipped(const struct dg_tlsa_rr *rr)
{
	return rr->usage == DG_TLSA_USAGE_PKIX_TA || rr->usage == DG_TLSA_USAGE_PKIX_EE ||
	       rr->mtype == DG_TLSA_MTYPE_PRIV;
}

static void add_note(struct dg_dane_result *out, size_t index, enum dg_tlsa_usability u,
                     const char *reason)
{
	struct dg_dane_record_note *n = &out->notes[out->n_notes++];

	n->index = index;
	n->usability = u;
	dane_strlcpy(n->reason, sizeof(n->reason), reason);
}

/*
 * Why OpenSSL refused a record. dg_tlsa_rr_describe() explains records that are malformed by
 * the RFCs; a record valid by the RFCs is refused when the local digest order disables its
 * matching type (SPEC AUTH-7, TLSA-2 "too weak by local policy") or when OpenSSL cannot parse
 * its Full(0) data.
 */
static enum dg_tlsa_usability refused_reason(const struct dane_run *run,
                                             const struct dg_tlsa_rr *rr, size_t index, char *buf,
                                             size_t size)
{
	enum dg_tlsa_usability u = dg_tlsa_rr_describe(rr, index + 1, buf, size);
	unsigned long e = ERR_peek_last_error();
	const char *why = e != 0 ? ERR_reason_error_string(e) : NULL;

	if (u != DG_TLSA_USABLE)
		return u;
	if (rr->mtype != DG_TLSA_MTYPE_FULL &&
	    dane_order_ordinal(&run->ctx->order, rr->mtype) == 0) {
		snprintf(
		    buf, size,
		    "TLSA %u %u %u record #%zu: matching type %u is disabled by the local digest "
		    "order (SPEC AUTH-7)",
		    rr->usage, rr->selector, rr->mtype, index + 1, rr->mtype);
		return DG_TLSA_UNUSABLE_UNKNOWN_MTYPE;
	}
	snprintf(buf, size, "TLSA %u %u %u record #%zu: refused by OpenSSL (%s)", rr->usage,
	         rr->selector, rr->mtype, index + 1, why != NULL ? why : "no reason given");
	if (rr->mtype != DG_TLSA_MTYPE_FULL)
		return DG_TLSA_UNUSABLE_UNKNOWN_MTYPE;
	return rr->selector == DG_TLSA_SEL_CERT ? DG_TLSA_UNUSABLE_BAD_CERT
	                                        : DG_TLSA_UNUSABLE_BAD_SPKI;
}

/* SPEC OSSL-5: every record except the skipped ones goes to SSL_dane_tlsa_add(). */
static enum dg_status load_records(struct dane_run *run, struct dg_dane_result *out,
                                   struct dg_err *err)
{
	const struct dg_tlsa_set *set = run->in->tlsa;
	char buf[DG_TLSA_DESCR_MAX];

	if (set == NULL || set->count == 0)
		return DG_OK;
	out->notes = dg_xcalloc(set->count, sizeof(*out->notes));
	for (size_t i = 0; i < set->count; i++) {
		const struct dg_tlsa_rr *rr = &set->rr[i];
		enum dg_tlsa_usability u;
		int ret;

		if (rr_is_skipped(rr)) {
			u = dg_tlsa_rr_describe(rr, i + 1, buf, sizeof(buf));
			add_note(out, i, u, buf);
			continue;
		}
		ret = SSL_dane_tlsa_add(run->ssl, rr->usage, rr->selector, rr->mtype, rr->data,
		                        rr->len);
		if (ret < 0) {
			snprintf(buf, sizeof(buf), "SSL_dane_tlsa_add(record #%zu)", i + 1);
			return dane_tls_fail(err, buf);
		}
		if (ret == 0) {
			u = refused_reason(run, rr, i, buf, sizeof(buf));
			add_note(out, i, u, buf);
			ERR_pop_to_mark(); /* drop this record's errors, keep the caller's */
			ERR_set_mark();
			continue;
		}
		run->loaded[i] = true;
		out->n_usable++;
	}
	return DG_OK;
}

/* SPEC TLSA-4 B, OSSL-6: with no usable record the chain is not verified. */
static void no_usable_verdict(const struct dane_run *run, struct dg_dane_result *out)
{
	size_t count = run->in->tlsa != NULL ? run->in->tlsa->count : 0;

	out->fail = DG_DANE_FAIL_NO_USABLE;
	if (count == 0)
		dane_reason_set(out, "the TLSA RRset is empty, nothing to authenticate with");
	else
		dane_reason_set(
		    out,
		    "none of the %zu TLSA records is usable (see the record notes): TLS "
		    "is still required but the server is not authenticated (SPEC "
		    "TLSA-4 B, OSSL-6)",
		    count);
}

/* SPEC OSSL-7, OSSL-9: X509_verify_cert() as libssl's ssl_verify_cert_chain() runs it. */
static enum dg_status run_verify(struct dane_run *run, struct dg_err *err)
{
	X509_VERIFY_PARAM *param;
	time_t when = run->in->when != 0 ? run->in->when : dg_clock_wall();

	run->sctx = X509_STORE_CTX_new();
	if (run->sctx == NULL)
		return dane_tls_fail(err, "X509_STORE_CTX_new");
	/* SPEC AUTH-8: the store is empty; only the chain and "2 0 0" data can anchor a path. */
	if (X509_STORE_CTX_init(run->sctx, SSL_CTX_get_cert_store(run->ctx->ssl_ctx),
	                        sk_X509_value(run->chain, 0), run->chain) != 1)
		return dane_tls_fail(err, "X509_STORE_CTX_init");
	if (X509_STORE_CTX_set_ex_data(run->sctx, SSL_get_ex_data_X509_STORE_CTX_idx(), run->ssl) !=
	    1)
		return dane_tls_fail(err, "X509_STORE_CTX_set_ex_data");
	X509_STORE_CTX_set0_dane(run->sctx, SSL_get0_dane(run->ssl));
	param = X509_STORE_CTX_get0_param(run->sctx);
	if (X509_STORE_CTX_set_default(run->sctx, "ssl_server") != 1 ||
	    X509_VERIFY_PARAM_set1(param, SSL_get0_param(run->ssl)) != 1)
		return dane_tls_fail(err, "X509_VERIFY_PARAM_set1");
	X509_VERIFY_PARAM_set_auth_level(param, SSL_get_security_level(run->ssl));
	X509_VERIFY_PARAM_set_time(param, when);
	run->verify_ret = X509_verify_cert(run->sctx);
	if (run->verify_ret < 0)
		return dane_tls_fail(err, "X509_verify_cert");
	SSL_set_verify_result(run->ssl, X509_STORE_CTX_get_error(run->sctx));
	return DG_OK;
}

enum dg_status dg_dane_verify(struct dg_dane_ctx *ctx, const struct dg_dane_input *in,
                              STACK_OF(X509) * chain, struct dg_dane_result *out,
                              struct dg_err *err)
{
	struct dane_run run;
	int n_chain = chain != NULL ? sk_X509_num(chain) : 0;
	enum dg_status st;

	result_init(out);
	st = check_input(in, err);
	if (st != DG_OK)
		return st;
	memset(&run, 0, sizeof(run));
	run.ctx = ctx;
	run.in = in;
	run.chain = chain;
	ERR_set_mark();
	st = run_ssl_setup(&run, err);
	if (st == DG_OK)
		st = load_records(&run, out, err);
	if (st != DG_OK)
		goto done;
	if (out->n_usable == 0) {
		no_usable_verdict(&run, out);
	} else if (n_chain <= 0) {
		out->fail = DG_DANE_FAIL_NO_CHAIN;
		dane_reason_set(out, "the server sent no certificate, nothing to verify");
	} else if (n_chain > DG_DANE_CHAIN_MAX) {
		out->fail = DG_DANE_FAIL_CHAIN;
		dane_reason_set(out, "the server sent %d certificates, more than the cap of %d",
		                n_chain, DG_DANE_CHAIN_MAX);
	} else {
		st = run_verify(&run, err);
		if (st == DG_OK)
			dane_result_read(&run, out);
	}
done:
	X509_STORE_CTX_free(run.sctx);
	SSL_free(run.ssl);
	ERR_pop_to_mark();
	return st;
}
