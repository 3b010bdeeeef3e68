/*
 * daneguard/dane.h - OpenSSL DANE glue: offline verification of a peer chain against a TLSA
 * RRset (RFC 7672 §3, RFC 7671, RFC 6698), and certificate details for reports.
 *
 * The probe module does the TLS handshake with SSL_VERIFY_NONE and hands over the peer chain
 * exactly as the server sent it, leaf first. dg_dane_verify() checks that chain OFFLINE with
 * OpenSSL's own DANE code (X509_verify_cert with an SSL_DANE attached, as OpenSSL's
 * test/danetest.c does), so a bulk scanner can re-verify one cached chain per domain with that
 * domain's reference identifiers, and `--days N` can re-verify at a future time.
 *
 * struct dg_dane_ctx owns one TLS-client SSL_CTX with DANE enabled and the digest strength
 * order applied (SPEC OSSL-1, AUTH-7). Its certificate store is empty and stays empty: no
 * system CAs, no WebPKI rescue (SPEC AUTH-8). The probe creates its SSL objects from the same
 * SSL_CTX (dg_dane_ctx_ssl_ctx()).
 *
 * Ownership: every pointer parameter is documented as borrowed, copied or taken. Objects from
 * _new() are released with _free(); structs filled by a function are released with _cleanup().
 * Every _free() and _cleanup() accepts NULL. Allocation failure aborts (STYLE.md section 4).
 *
 * See docs/internals/dane.md.
 */
#ifndef DANEGUARD_DANE_H
#define DANEGUARD_DANE_H

#include <daneguard/err.h>
#include <daneguard/tlsa.h>

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include <openssl/ssl.h>
#include <openssl/x509.h>

/** Longest chain dg_dane_verify() looks at; longer chains fail with DG_DANE_FAIL_CHAIN. */
#define DG_DANE_CHAIN_MAX DG_TLSA_CHAIN_MAX
/** Most extra reference identifiers in struct dg_dane_input (SPEC AUTH-5 needs at most 2). */
#define DG_DANE_REF_IDS_MAX 8
/** Size of struct dg_dane_record_note.reason. */
#define DG_DANE_NOTE_MAX 160
/** Size of struct dg_dane_result.reason. */
#define DG_DANE_REASON_MAX 256
/** Size of struct dg_dane_result.x509_err_str. */
#define DG_DANE_X509_ERR_MAX 128
/** Most names dg_cert_info_get() collects from one certificate. */
#define DG_CERT_NAMES_MAX 64

/* ---- context (dane_ctx.c), SPEC OSSL-1, AUTH-7, AUTH-8 ------------------------------------ */

/** A DANE-enabled TLS-client SSL_CTX with its digest order; opaque. */
struct dg_dane_ctx;

/**
 * Create the context: SSL_CTX_new(TLS_client_method()), SSL_CTX_dane_enable(), then
 * SSL_CTX_dane_mtype_set() for SHA2-256 (1) and SHA2-512 (2) from @p order: the first entry
 * gets the highest ordinal, a digest absent from the order is disabled (SPEC OSSL-1, AUTH-7).
 * Matching types in the order that OpenSSL has no digest for are ignored. The certificate
 * store is left empty (SPEC AUTH-8).
 * @param order strength order, strongest first (borrowed); NULL means the default, SHA2-512
 *              stronger than SHA2-256 (dg_tlsa_strength_default())
 * @param out   receives the context; the caller frees it with dg_dane_ctx_free()
 * @param err   error detail (borrowed), may be NULL
 * @return DG_OK, DG_E_TLS (an OpenSSL call failed)
 */
enum dg_status dg_dane_ctx_new(const struct dg_tlsa_strength *order, struct dg_dane_ctx **out,
                               struct dg_err *err);

/**
 * Free a context and its SSL_CTX (SSL objects made from it hold their own reference).
 * @param ctx context (taken), may be NULL
 */
void dg_dane_ctx_free(struct dg_dane_ctx *ctx);

/**
 * The DANE-enabled SSL_CTX, for the probe's SSL_new().
 * @param ctx context (borrowed)
 * @return SSL_CTX borrowed from @p ctx; valid until dg_dane_ctx_free() (take a reference with
 *         SSL_CTX_up_ref() to keep it longer). Do not add trust anchors to its store.
 */
SSL_CTX *dg_dane_ctx_ssl_ctx(struct dg_dane_ctx *ctx);

/**
 * The digest strength order the context was built with.
 * @param ctx context (borrowed)
 * @return order borrowed from @p ctx
 */
const struct dg_tlsa_strength *dg_dane_ctx_order(const struct dg_dane_ctx *ctx);

/* ---- verification (dane_verify.c, dane_result.c), SPEC AUTH-1..AUTH-7, OSSL-2..OSSL-9 ----- */

/** What to verify a chain against. */
struct dg_dane_input {
	/** The secure TLSA RRset, all records as published (borrowed); NULL = empty. */
	const struct dg_tlsa_set *tlsa;
	/** TLSA base domain: SNI and primary reference identifier (SPEC OSSL-2, AUTH-5). */
	const char *base_domain;
	/** Extra reference identifiers (next-hop domain etc.; SPEC AUTH-5, OSSL-4), borrowed. */
	const char *const *ref_ids;
	/** Entries in @c ref_ids, at most DG_DANE_REF_IDS_MAX. */
	size_t n_ref_ids;
	/** Verification time; 0 means dg_clock_wall(). */
	time_t when;
};

/**
 * One record of the RRset that was NOT given to OpenSSL or that OpenSSL refused (SPEC OSSL-5,
 * TLSA-2, TLSA-3): PKIX usages 0/1 and matching type 255 are skipped before
 * SSL_dane_tlsa_add(); a record SSL_dane_tlsa_add() returns 0 for is unusable.
 */
struct dg_dane_record_note {
	size_t index;                     /**< 0-based index into dg_dane_input.tlsa */
	enum dg_tlsa_usability usability; /**< why (never DG_TLSA_USABLE) */
	char reason[DG_DANE_NOTE_MAX];    /**< human sentence, "TLSA 0 0 1 record #1: ..." */
};

/** Verdict of dg_dane_verify(); maps to the SPEC §13 per-host codes. */
enum dg_dane_fail {
	DG_DANE_FAIL_NONE = 0,      /**< authenticated: H-DANE-VERIFIED (or -TRUSTED-INSECURE-MX) */
	DG_DANE_FAIL_NO_MATCH,      /**< no usable record matched: H-DANE-MISMATCH (or
	                                 H-DANE-AGILITY-FAIL when agility_ignored_match) */
	DG_DANE_FAIL_NAME,          /**< DANE-TA chain ok, no reference identifier matched:
	                                 H-DANE-NAME-MISMATCH */
	DG_DANE_FAIL_EXPIRED,       /**< DANE-TA path has an expired certificate: H-DANE-EXPIRED */
	DG_DANE_FAIL_NOT_YET_VALID, /**< DANE-TA path has a not-yet-valid certificate:
	                                 H-DANE-EXPIRED (TLS-RPT certificate-expired) */
	DG_DANE_FAIL_CHAIN,         /**< other path failure: untrusted path, bad signature, path
	                                 length, purpose, key too weak, chain too long:
	                                 H-DANE-MISMATCH (TLS-RPT validation-failure) */
	DG_DANE_FAIL_NO_USABLE,     /**< no record was usable: H-TLSA-UNUSABLE (SPEC TLSA-4 B,
	                                 OSSL-6; never DANE-verified) */
	DG_DANE_FAIL_NO_CHAIN       /**< the chain is empty: nothing to verify */
};

/** Result of dg_dane_verify(); release with dg_dane_result_cleanup(). */
struct dg_dane_result {
	size_t n_usable;                   /**< records accepted by SSL_dane_tlsa_add() */
	struct dg_dane_record_note *notes; /**< one per record not loaded (owned) */
	size_t n_notes;
	bool authenticated; /**< X509_verify_cert() succeeded with DANE and n_usable > 0 */
	int x509_err;       /**< X509_V_OK or the verify error (X509_V_ERR_DANE_NO_MATCH, ...) */
	char x509_err_str[DG_DANE_X509_ERR_MAX]; /**< X509_verify_cert_error_string(), "" if not run
	                                          */
	int error_depth;                         /**< chain depth of the error, -1 when none */
	/** DANE authority as SSL_get0_dane_authority(): 0 = DANE-EE match at the leaf, > 0 = depth
	 *  of the DANE-TA match (index into the verified chain), -1 = none (SPEC OSSL-8). Set only
	 *  when authenticated. */
	int depth;
	long matched_index;     /**< index into dg_dane_input.tlsa of the matched record, -1 none */
	bool matched_spki_only; /**< a "2 1 0" bare key signed the top of the chain (mspki) */
	char *peername;         /**< DANE-TA: the certificate name that matched, as
	                             SSL_get0_peername() (may be a wildcard); NULL for DANE-EE.
	                             Owned. */
	char *matched_ref_id;   /**< DANE-TA: the reference identifier (base domain or one of
	                             ref_ids) that @c peername matched; NULL for DANE-EE. Owned. */
	/** True when verification failed but a record that digest agility ignored (a weaker digest,
	 *  SPEC AUTH-7) would have matched: report H-DANE-AGILITY-FAIL. */
	bool agility_ignored_match;
	enum dg_dane_fail fail;
	char reason[DG_DANE_REASON_MAX]; /**< one sentence: record, depth, name, X509 error */
};

/**
 * Verify @p chain against the TLSA records in @p in, offline, with OpenSSL's DANE code:
 * a throwaway SSL from @p ctx gets SSL_dane_enable(base_domain) (OSSL-2),
 * DANE_FLAG_NO_DANE_EE_NAMECHECKS (OSSL-3, AUTH-2), X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS and
 * SSL_add1_host() per extra reference identifier (OSSL-4, AUTH-5, AUTH-6), and each record
 * except usages 0/1 and matching type 255 (OSSL-5, TLSA-3); then X509_verify_cert() runs at
 * @c in->when as the handshake would (OSSL-7, OSSL-9) and the authority is read back (OSSL-8).
 *
 * A verification failure is a verdict in @p out (fail, reason), not an error. When no record
 * is usable the chain is not verified at all and fail is DG_DANE_FAIL_NO_USABLE (OSSL-6); that
 * check comes before the empty-chain check (DG_DANE_FAIL_NO_CHAIN).
 * @param ctx   context (borrowed)
 * @param in    records, names and time (borrowed)
 * @param chain peer chain as sent, leaf first (borrowed); NULL or empty gives NO_CHAIN
 * @param out   result to fill (borrowed); release with dg_dane_result_cleanup() whatever the
 *              return value
 * @param err   error detail (borrowed), may be NULL
 * @return DG_OK (verdict in @p out); DG_E_CONFIG (no base domain, an empty or NULL ref id,
 *         too many ref ids, a name OpenSSL refuses); DG_E_LIMIT (more than DG_TLSA_SET_MAX
 *         records); DG_E_TLS (SSL_dane_tlsa_add() < 0 or another OpenSSL failure)
 */
enum dg_status dg_dane_verify(struct dg_dane_ctx *ctx, const struct dg_dane_input *in,
                              STACK_OF(X509) * chain, struct dg_dane_result *out,
                              struct dg_err *err);

/**
 * Release what a result owns and zero it.
 * @param r result (borrowed), may be NULL
 */
void dg_dane_result_cleanup(struct dg_dane_result *r);

/**
 * Name a verdict: "none", "no-match", "name-mismatch", "expired", "not-yet-valid", "chain",
 * "no-usable", "no-chain".
 * @param f verdict
 * @return static string
 */
const char *dg_dane_fail_str(enum dg_dane_fail f);

/* ---- certificate details (dane_cert.c) -------------------------------------------------- */

/** Details of one certificate for reports; release with dg_cert_info_cleanup(). */
struct dg_cert_info {
	char *subject;        /**< RFC 2253 distinguished name, escaped (owned) */
	char *issuer;         /**< RFC 2253 distinguished name, escaped (owned) */
	char spki_sha256[65]; /**< lowercase hex SHA-256 of the DER SubjectPublicKeyInfo */
	char cert_sha256[65]; /**< lowercase hex SHA-256 of the DER certificate */
	time_t not_before;
	time_t not_after;
	char key_desc[32]; /**< "ECDSA P-256", "RSA 2048", "Ed25519", ... */
	char **names;      /**< SAN DNS-IDs, else the subject CNs (SPEC AUTH-6); escaped,
	                        owned, at most DG_CERT_NAMES_MAX */
	size_t n_names;
	bool is_ca;       /**< basicConstraints CA:TRUE */
	bool self_signed; /**< issuer == subject and the signature verifies with its key */
};

/**
 * Collect the details of a certificate. Untrusted strings are escaped with dg_str_escape().
 * @param x   certificate (borrowed)
 * @param out details to fill (borrowed); release with dg_cert_info_cleanup() whatever the
 *            return value
 * @param err error detail (borrowed), may be NULL
 * @return DG_OK, DG_E_PARSE (a field cannot be decoded), DG_E_TLS (an OpenSSL call failed)
 */
enum dg_status dg_cert_info_get(X509 *x, struct dg_cert_info *out, struct dg_err *err);

/**
 * Release what a dg_cert_info owns and zero it.
 * @param ci details (borrowed), may be NULL
 */
void dg_cert_info_cleanup(struct dg_cert_info *ci);

#endif /* DANEGUARD_DANE_H */
