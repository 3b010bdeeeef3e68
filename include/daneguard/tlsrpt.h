/*
 * daneguard/tlsrpt.h - TLS-RPT (RFC 8460): the _smtp._tls TXT policy record.
 *
 * Pure parsers over (pointer, length): no I/O, no logging (STYLE.md section 7). SPEC RPT-1.
 * Report building and delivery (RPT-3..RPT-7) belong to the relay (issue #8), not here.
 */
#ifndef DANEGUARD_TLSRPT_H
#define DANEGUARD_TLSRPT_H

#include <daneguard/err.h>

#include <stdbool.h>
#include <stddef.h>

/** Most rua URIs kept per record; a record with more is invalid. */
#define DG_TLSRPT_RUA_MAX 8
/** Longest rua URI kept. */
#define DG_TLSRPT_URI_MAX 512

/** What the _smtp._tls TXT RRset says, after SPEC RPT-1 selection. */
enum dg_tlsrpt_status {
	DG_TLSRPT_ABSENT = 0, /**< no record starting with v=TLSRPTv1 */
	DG_TLSRPT_VALID,      /**< exactly one, and it is valid */
	DG_TLSRPT_INVALID     /**< several v=TLSRPTv1 records, or the one is malformed */
};

/** A parsed TLS-RPT record. */
struct dg_tlsrpt {
	char rua[DG_TLSRPT_RUA_MAX][DG_TLSRPT_URI_MAX]; /**< report URIs, in order */
	size_t n_rua;
};

/**
 * Parse one TXT record (strings joined without separator, SPEC RPT-1): `v=TLSRPTv1` first,
 * fields separated by *WSP ";" *WSP, `rua=` exactly once with comma-separated URIs, each
 * `mailto:local@domain` or `https://host[...]` with `,` `!` `;` percent-encoded; extensions
 * `name=value` are checked for their syntax and ignored.
 * @param p   record text (borrowed)
 * @param len length of @p p
 * @param out filled on success (borrowed)
 * @param err what is wrong and at which offset (may be NULL)
 * @return DG_OK; DG_E_NOTFOUND when the record does not start with "v=TLSRPTv1" (not a
 *         TLS-RPT record: the caller drops it); DG_E_PARSE or DG_E_LIMIT for a malformed one
 */
enum dg_status dg_tlsrpt_parse(const char *p, size_t len, struct dg_tlsrpt *out,
			       struct dg_err *err);

/**
 * Apply SPEC RPT-1 to a whole TXT RRset: drop records that are not TLS-RPT records; exactly
 * one must be left, and it must be valid.
 * @param txt  record texts (borrowed), @p n of them
 * @param lens their lengths
 * @param n    number of records (0 for NODATA/NXDOMAIN)
 * @param out  the record when the result is DG_TLSRPT_VALID (borrowed)
 * @param err  why the set is invalid (may be NULL)
 * @return the status of the set
 */
enum dg_tlsrpt_status dg_tlsrpt_select(const char *const *txt, const size_t *lens, size_t n,
				       struct dg_tlsrpt *out, struct dg_err *err);

/** @param st status @return "valid", "invalid", "absent" (static) */
const char *dg_tlsrpt_status_str(enum dg_tlsrpt_status st);

#endif /* DANEGUARD_TLSRPT_H */
