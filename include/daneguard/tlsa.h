/*
 * daneguard/tlsa.h - TLSA record model (RFC 6698, RFC 7218, RFC 7671, RFC 7672).
 *
 * A struct dg_tlsa_rr is one record (usage, selector, matching type, association data); a
 * struct dg_tlsa_set is one RRset of at most DG_TLSA_SET_MAX records. On top of the model:
 *
 *   - pure parsers from wire RDATA and from presentation text (RFC 6698 §2.1, §2.2, RFC 7218);
 *   - formatters to presentation text and to the TLS-RPT policy-string form (SPEC RPT-4);
 *   - record usability per SPEC TLSA-2/TLSA-3 with a reason and a human sentence per record;
 *   - digest algorithm agility per SPEC AUTH-7 (RFC 7671 §9), mirroring OpenSSL's
 *     SSL_CTX_dane_mtype_set ordinals;
 *   - generation of association data from certificates and keys, record/certificate matching,
 *     and loading of PEM/DER certificates and keys;
 *   - publishing advice (SPEC PUB-1..PUB-7) as a list of coded items.
 *
 * Ownership: every pointer parameter is documented as borrowed, copied or taken. Objects from
 * dg_..._new() are released with the matching _free(); embedded objects filled by a function are
 * released with the matching _cleanup(). Every _free() and _cleanup() accepts NULL. Allocation
 * failure aborts (STYLE.md section 4), so functions only fail on bad input or library errors.
 *
 * See docs/internals/tlsa.md.
 */
#ifndef DANEGUARD_TLSA_H
#define DANEGUARD_TLSA_H

#include <daneguard/err.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

/** Most records kept in one RRset; adding more returns DG_E_LIMIT (STYLE.md section 7). */
#define DG_TLSA_SET_MAX 64
/** Most association-data octets: RDATA is at most 65535 octets, 3 of them are the header. */
#define DG_TLSA_DATA_MAX 65532
/** Longest presentation text dg_tlsa_parse_text() accepts, in characters. */
#define DG_TLSA_TEXT_MAX (4 * DG_TLSA_DATA_MAX)
/** Most certificates dg_tlsa_load_certs() reads from one file (chain depth cap). */
#define DG_TLSA_CHAIN_MAX 16
/** Largest certificate or key file the loaders read, in bytes. */
#define DG_TLSA_FILE_MAX (1024 * 1024)
/** Buffer size that always holds a dg_tlsa_rr_describe() sentence. */
#define DG_TLSA_DESCR_MAX 192
/** Most matching types in a struct dg_tlsa_strength order. */
#define DG_TLSA_STRENGTH_MAX 8

/** Certificate usage field (RFC 6698 §2.1.1, RFC 7218 §2.1). */
enum dg_tlsa_usage {
	DG_TLSA_USAGE_PKIX_TA = 0,
	DG_TLSA_USAGE_PKIX_EE = 1,
	DG_TLSA_USAGE_DANE_TA = 2,
	DG_TLSA_USAGE_DANE_EE = 3,
	DG_TLSA_USAGE_PRIV = 255
};

/** Selector field (RFC 6698 §2.1.2, RFC 7218 §2.2). */
enum dg_tlsa_selector { DG_TLSA_SEL_CERT = 0, DG_TLSA_SEL_SPKI = 1, DG_TLSA_SEL_PRIV = 255 };

/** Matching type field (RFC 6698 §2.1.3, RFC 7218 §2.3). */
enum dg_tlsa_mtype {
	DG_TLSA_MTYPE_FULL = 0,
	DG_TLSA_MTYPE_SHA256 = 1,
	DG_TLSA_MTYPE_SHA512 = 2,
	DG_TLSA_MTYPE_PRIV = 255
};

/**
 * One TLSA record. @c data is owned by the record (heap, may be NULL when @c len is 0) and
 * released with dg_tlsa_rr_cleanup(); a record inside a set is owned by the set.
 */
struct dg_tlsa_rr {
	uint8_t usage;
	uint8_t selector;
	uint8_t mtype;
	uint8_t *data;
	size_t len;
};

/** One TLSA RRset: @c count records in @c rr[0..count-1], at most DG_TLSA_SET_MAX. */
struct dg_tlsa_set {
	struct dg_tlsa_rr *rr;
	size_t count;
	size_t cap;
};

/* ---- model (tlsa_set.c) ---------------------------------------------------------------- */

/**
 * Create an empty set.
 * @return new set; the caller frees it with dg_tlsa_set_free()
 */
struct dg_tlsa_set *dg_tlsa_set_new(void);

/**
 * Free a set and every record in it.
 * @param set set to free (taken), may be NULL
 */
void dg_tlsa_set_free(struct dg_tlsa_set *set);

/**
 * Append a record built from its fields.
 * @param set      set to grow (borrowed)
 * @param usage    certificate usage
 * @param selector selector
 * @param mtype    matching type
 * @param data     association data (copied), may be NULL when @p len is 0
 * @param len      octets in @p data, at most DG_TLSA_DATA_MAX
 * @param err      error detail (borrowed), may be NULL
 * @return DG_OK; DG_E_LIMIT when the set already holds DG_TLSA_SET_MAX records or @p len is
 *         too large
 */
enum dg_status dg_tlsa_set_add(struct dg_tlsa_set *set, uint8_t usage, uint8_t selector,
                               uint8_t mtype, const uint8_t *data, size_t len, struct dg_err *err);

/**
 * Append a copy of a record.
 * @param set set to grow (borrowed)
 * @param rr  record (copied, including its data)
 * @param err error detail (borrowed), may be NULL
 * @return as dg_tlsa_set_add()
 */
enum dg_status dg_tlsa_set_add_rr(struct dg_tlsa_set *set, const struct dg_tlsa_rr *rr,
                                  struct dg_err *err);

/**
 * Append a record, taking its data. On success @p rr is emptied (data NULL, len 0); on
 * failure @p rr is left untouched and still owned by the caller.
 * @param set set to grow (borrowed)
 * @param rr  record whose data is taken on success
 * @param err error detail (borrowed), may be NULL
 * @return as dg_tlsa_set_add()
 */
enum dg_status dg_tlsa_set_take_rr(struct dg_tlsa_set *set, struct dg_tlsa_rr *rr,
                                   struct dg_err *err);

/**
 * Deep copy of a set.
 * @param set set to copy (borrowed)
 * @return new set; the caller frees it with dg_tlsa_set_free()
 */
struct dg_tlsa_set *dg_tlsa_set_copy(const struct dg_tlsa_set *set);

/**
 * Deep copy of one record into @p dst (which must not own data yet).
 * @param dst record to fill; release with dg_tlsa_rr_cleanup()
 * @param src record (borrowed)
 */
void dg_tlsa_rr_copy(struct dg_tlsa_rr *dst, const struct dg_tlsa_rr *src);

/**
 * Release a record's data and zero it.
 * @param rr record (its data is freed), may be NULL
 */
void dg_tlsa_rr_cleanup(struct dg_tlsa_rr *rr);

/**
 * Compare two records field by field and data octet by octet.
 * @param a record (borrowed)
 * @param b record (borrowed)
 * @return true when equal
 */
bool dg_tlsa_rr_is_equal(const struct dg_tlsa_rr *a, const struct dg_tlsa_rr *b);

/* ---- parsers (tlsa_parse.c), pure: no I/O, no logging ----------------------------------- */

/**
 * Parse wire RDATA (RFC 6698 §2.1): usage, selector, matching type octets, then the data up to
 * the end. RDATA of exactly 3 octets parses (empty data; dg_tlsa_rr_classify() calls it
 * unusable).
 * @param name label for error messages, e.g. "_25._tcp.mx.example.net record #2" (borrowed),
 *             may be NULL ("TLSA rdata")
 * @param p    RDATA (borrowed)
 * @param len  octets in @p p
 * @param out  record to fill (its data is allocated; release with dg_tlsa_rr_cleanup()); left
 *             zeroed on failure
 * @param err  error detail with byte offset (borrowed), may be NULL
 * @return DG_OK, DG_E_PARSE when shorter than 3 octets, DG_E_LIMIT when longer than 65535
 */
enum dg_status dg_tlsa_parse_rdata(const char *name, const uint8_t *p, size_t len,
                                   struct dg_tlsa_rr *out, struct dg_err *err);

/**
 * Parse presentation text (RFC 6698 §2.2): three fields, each a decimal 0..255 or an RFC 7218
 * acronym in any case (PKIX-TA PKIX-EE DANE-TA DANE-EE PrivCert / Cert SPKI PrivSel / Full
 * SHA2-256 SHA2-512 PrivMatch), then hex digits in any case with blanks (space, tab, CR, LF)
 * allowed between digits. Leading and trailing blanks are ignored. Empty data parses (see
 * dg_tlsa_parse_rdata()). Zone-file parentheses, comments and the RFC 3597 "\#" form are
 * rejected.
 * @param name label for error messages (borrowed), may be NULL ("TLSA text")
 * @param s    text (borrowed), need not be NUL-terminated
 * @param len  characters in @p s, at most DG_TLSA_TEXT_MAX
 * @param out  record to fill (release with dg_tlsa_rr_cleanup()); left zeroed on failure
 * @param err  error detail with character offset (borrowed), may be NULL
 * @return DG_OK, DG_E_PARSE (junk, value > 255, odd number of hex digits, ...), DG_E_LIMIT
 */
enum dg_status dg_tlsa_parse_text(const char *name, const char *s, size_t len,
                                  struct dg_tlsa_rr *out, struct dg_err *err);

/* ---- formatters and names (tlsa_format.c) -------------------------------------------- */

/** Formatting flags for dg_tlsa_rr_format(). */
enum dg_tlsa_fmt_flags {
	DG_TLSA_FMT_DEFAULT = 0,  /**< "3 1 1 <lowercase hex>" */
	DG_TLSA_FMT_ACRONYMS = 1, /**< "DANE-EE SPKI SHA2-256 ..." where the value has one */
	DG_TLSA_FMT_UPPER = 2     /**< uppercase hex digits */
};

/**
 * Presentation text of a record: "u s m hex" on one line, hex in lowercase unless
 * DG_TLSA_FMT_UPPER. Empty data gives "u s m" with no trailing blank. The result parses back
 * with dg_tlsa_parse_text() to an equal record.
 * @param rr    record (borrowed)
 * @param flags OR of enum dg_tlsa_fmt_flags
 * @return NUL-terminated string; the caller frees it with free()
 */
char *dg_tlsa_rr_format(const struct dg_tlsa_rr *rr, unsigned flags);

/**
 * TLS-RPT policy-string element for a record (SPEC RPT-4, RFC 8460 §4.5): "u s m hex" with
 * decimal fields and the data as one run of lowercase hex (no blanks, no parentheses), the
 * "%d %d %d <hex>" form Postfix writes. RFC 8460 does not fix the hex case; compare it
 * case-insensitively. Empty data gives "u s m".
 * @param rr record (borrowed)
 * @return NUL-terminated string; the caller frees it with free()
 */
char *dg_tlsa_rr_policy_string(const struct dg_tlsa_rr *rr);

/**
 * RFC 7218 acronym of a usage value.
 * @param usage usage value
 * @return static string ("DANE-EE", "PrivCert", ...) or NULL when unassigned
 */
const char *dg_tlsa_usage_name(uint8_t usage);

/**
 * RFC 7218 acronym of a selector value.
 * @param selector selector value
 * @return static string ("Cert", "SPKI", "PrivSel") or NULL when unassigned
 */
const char *dg_tlsa_selector_name(uint8_t selector);

/**
 * RFC 7218 acronym of a matching type value.
 * @param mtype matching type value
 * @return static string ("Full", "SHA2-256", "SHA2-512", "PrivMatch") or NULL when unassigned
 */
const char *dg_tlsa_mtype_name(uint8_t mtype);

/* ---- usability (tlsa_classify.c), SPEC TLSA-2, TLSA-3, TLSA-4 --------------------------- */

/** Why a record is (un)usable for SMTP; first failing check wins, in this order. */
enum dg_tlsa_usability {
	DG_TLSA_USABLE = 0,
	DG_TLSA_UNUSABLE_PKIX_USAGE,       /**< usage 0/1: ignored for SMTP (TLSA-3) */
	DG_TLSA_UNUSABLE_PRIVATE,          /**< a field is 255 (private use) */
	DG_TLSA_UNUSABLE_UNKNOWN_USAGE,    /**< usage 4..254 */
	DG_TLSA_UNUSABLE_UNKNOWN_SELECTOR, /**< selector 2..254 */
	DG_TLSA_UNUSABLE_UNKNOWN_MTYPE,    /**< matching type 3..254 */
	DG_TLSA_UNUSABLE_EMPTY,            /**< no data octets (RDATA <= 3 octets) */
	DG_TLSA_UNUSABLE_DIGEST_LEN,       /**< not 32 octets for SHA2-256 / 64 for SHA2-512 */
	DG_TLSA_UNUSABLE_BAD_CERT,         /**< 0 0 data is not one DER certificate */
	DG_TLSA_UNUSABLE_BAD_SPKI          /**< 1 0 data is not one DER SubjectPublicKeyInfo */
};

/** Outcome of a whole RRset (SPEC TLSA-4 A/B, and empty). */
enum dg_tlsa_outcome {
	DG_TLSA_OUTCOME_EMPTY = 0,   /**< no records */
	DG_TLSA_OUTCOME_USABLE,      /**< at least one usable record (TLSA-4 A) */
	DG_TLSA_OUTCOME_ALL_UNUSABLE /**< records, none usable (TLSA-4 B) */
};

/** Result of dg_tlsa_set_classify(): one reason per record. */
struct dg_tlsa_summary {
	size_t count;  /**< records in the set */
	size_t usable; /**< records classified DG_TLSA_USABLE */
	enum dg_tlsa_outcome outcome;
	enum dg_tlsa_usability reason[DG_TLSA_SET_MAX]; /**< per record, [0..count-1] */
};

/**
 * Classify one record (SPEC TLSA-2, TLSA-3). Full(0) data is parsed with d2i_X509 (selector
 * 0) or d2i_PUBKEY (selector 1) and must be consumed completely.
 * @param rr record (borrowed)
 * @return DG_TLSA_USABLE or the first reason it is unusable
 */
enum dg_tlsa_usability dg_tlsa_rr_classify(const struct dg_tlsa_rr *rr);

/**
 * Short stable code of a reason: "usable", "pkix-usage", "private", "unknown-usage",
 * "unknown-selector", "unknown-mtype", "empty-data", "digest-length", "bad-cert", "bad-spki".
 * @param u reason
 * @return static string
 */
const char *dg_tlsa_usability_str(enum dg_tlsa_usability u);

/**
 * Human sentence about one record, e.g.
 * "TLSA 3 1 1 record #2: digest is 31 octets, SHA2-256 needs 32".
 * @param rr   record (borrowed)
 * @param num  1-based record number shown to users (0: no number)
 * @param buf  output (borrowed), always NUL-terminated when @p size > 0
 * @param size size of @p buf; DG_TLSA_DESCR_MAX is always enough
 * @return the reason, as dg_tlsa_rr_classify()
 */
enum dg_tlsa_usability dg_tlsa_rr_describe(const struct dg_tlsa_rr *rr, size_t num, char *buf,
                                           size_t size);

/**
 * Classify every record of a set.
 * @param set set (borrowed), may be NULL (empty)
 * @param out summary to fill (borrowed)
 */
void dg_tlsa_set_classify(const struct dg_tlsa_set *set, struct dg_tlsa_summary *out);

/**
 * Name an outcome: "empty", "usable", "all-unusable".
 * @param o outcome
 * @return static string
 */
const char *dg_tlsa_outcome_str(enum dg_tlsa_outcome o);

/* ---- digest algorithm agility (tlsa_agility.c), SPEC AUTH-7 ----------------------------- */

/**
 * Digest strength order: matching types, strongest first. Full(0) never appears (it is always
 * kept); a digest matching type absent from the order is treated as disabled, like an OpenSSL
 * mtype with ordinal 0 (Postfix tls_dane_digests).
 */
struct dg_tlsa_strength {
	uint8_t mtype[DG_TLSA_STRENGTH_MAX];
	size_t count;
};

/** Per-record verdict of dg_tlsa_set_agility(). */
enum dg_tlsa_auth {
	DG_TLSA_AUTH_KEEP = 0, /**< authoritative: Full(0) or strongest digest of its pair */
	DG_TLSA_AUTH_UNUSABLE, /**< dropped first: dg_tlsa_rr_classify() said unusable */
	DG_TLSA_AUTH_DISABLED, /**< matching type not in the strength order */
	DG_TLSA_AUTH_WEAKER    /**< a stronger digest exists for the same (usage, selector) */
};

/** Result of dg_tlsa_set_agility(). */
struct dg_tlsa_agility {
	size_t kept;                              /**< records with DG_TLSA_AUTH_KEEP */
	enum dg_tlsa_auth state[DG_TLSA_SET_MAX]; /**< per record, [0..count-1] */
};

/**
 * The default order: SHA2-512 > SHA2-256 (OpenSSL ordinals 2 and 1; SPEC AUTH-7).
 * @param out order to fill (borrowed)
 */
void dg_tlsa_strength_default(struct dg_tlsa_strength *out);

/**
 * Parse a strength order, strongest first, separated by blanks or commas. Items: "sha512",
 * "sha256" (Postfix names), RFC 7218 acronyms ("SHA2-512") or decimal matching types 1..254,
 * any case. Full(0), 255, duplicates and more than DG_TLSA_STRENGTH_MAX items are rejected.
 * @param s   text (borrowed, NUL-terminated)
 * @param out order to fill (borrowed); unchanged on failure
 * @param err error detail (borrowed), may be NULL
 * @return DG_OK, DG_E_CONFIG
 */
enum dg_status dg_tlsa_strength_parse(const char *s, struct dg_tlsa_strength *out,
                                      struct dg_err *err);

/**
 * Apply RFC 7671 §9 (SPEC AUTH-7): drop unusable records, then per (usage, selector) pair keep
 * the Full(0) records and the records with the strongest digest present among the usable ones.
 * This is what OpenSSL does after SSL_CTX_dane_mtype_set() with the same order.
 * @param set   set (borrowed), may be NULL
 * @param order strength order (borrowed); NULL means dg_tlsa_strength_default()
 * @param out   result (borrowed)
 */
void dg_tlsa_set_agility(const struct dg_tlsa_set *set, const struct dg_tlsa_strength *order,
                         struct dg_tlsa_agility *out);

/**
 * Name an agility verdict: "keep", "unusable", "disabled-digest", "weaker-digest".
 * @param a verdict
 * @return static string
 */
const char *dg_tlsa_auth_str(enum dg_tlsa_auth a);

/* ---- generation and matching (tlsa_gen.c) ----------------------------------------------- */

/**
 * Association data for a certificate: selector 0 = DER certificate, 1 = DER SPKI; matching type
 * 0 = as is, 1 = SHA-256, 2 = SHA-512.
 * @param cert     certificate (borrowed)
 * @param selector 0 or 1
 * @param mtype    0, 1 or 2
 * @param out      receives the data; the caller frees it with free()
 * @param out_len  receives its length
 * @param err      error detail (borrowed), may be NULL
 * @return DG_OK, DG_E_CONFIG (unsupported selector/mtype), DG_E_TLS (encoding/digest failed)
 */
enum dg_status dg_tlsa_data_from_cert(X509 *cert, uint8_t selector, uint8_t mtype, uint8_t **out,
                                      size_t *out_len, struct dg_err *err);

/**
 * Association data for a public (or private) key, selector 1 (DER SPKI).
 * @param pkey    key (borrowed); only its public part is used
 * @param mtype   0, 1 or 2
 * @param out     receives the data; the caller frees it with free()
 * @param out_len receives its length
 * @param err     error detail (borrowed), may be NULL
 * @return as dg_tlsa_data_from_cert()
 */
enum dg_status dg_tlsa_data_from_pkey(EVP_PKEY *pkey, uint8_t mtype, uint8_t **out, size_t *out_len,
                                      struct dg_err *err);

/**
 * Build a record for a certificate.
 * @param cert     certificate (borrowed)
 * @param usage    certificate usage stored in the record (not checked)
 * @param selector 0 or 1
 * @param mtype    0, 1 or 2
 * @param out      record to fill; release with dg_tlsa_rr_cleanup()
 * @param err      error detail (borrowed), may be NULL
 * @return as dg_tlsa_data_from_cert()
 */
enum dg_status dg_tlsa_rr_from_cert(X509 *cert, uint8_t usage, uint8_t selector, uint8_t mtype,
                                    struct dg_tlsa_rr *out, struct dg_err *err);

/**
 * Build a selector 1 record for a key.
 * @param pkey  key (borrowed)
 * @param usage certificate usage stored in the record (not checked)
 * @param mtype 0, 1 or 2
 * @param out   record to fill; release with dg_tlsa_rr_cleanup()
 * @param err   error detail (borrowed), may be NULL
 * @return as dg_tlsa_data_from_pkey()
 */
enum dg_status dg_tlsa_rr_from_pkey(EVP_PKEY *pkey, uint8_t usage, uint8_t mtype,
                                    struct dg_tlsa_rr *out, struct dg_err *err);

/**
 * Whether a record's selector/matching type applied to @p cert gives its data. The usage is
 * not looked at (the caller decides which chain position applies).
 * @param rr   record (borrowed)
 * @param cert certificate (borrowed)
 * @return true on match; false on mismatch or when the record's selector/mtype is unsupported
 */
bool dg_tlsa_rr_is_match(const struct dg_tlsa_rr *rr, X509 *cert);

/**
 * Match every record of a set against one certificate.
 * @param set     set (borrowed)
 * @param cert    certificate (borrowed)
 * @param matched array of set->count flags to fill (borrowed), may be NULL
 * @return number of matching records
 */
size_t dg_tlsa_set_match_cert(const struct dg_tlsa_set *set, X509 *cert, bool *matched);

/* ---- loading certificates and keys (tlsa_load.c) ---------------------------------------- */

/**
 * Read certificates from PEM (one or more "CERTIFICATE" blocks, other blocks skipped) or DER
 * (exactly one certificate).
 * @param name label for messages, e.g. the file name (borrowed)
 * @param p    file contents (borrowed)
 * @param len  octets in @p p, at most DG_TLSA_FILE_MAX
 * @param out  receives a new stack in file order; free with
 *             sk_X509_pop_free(*out, X509_free)
 * @param err  error detail (borrowed), may be NULL
 * @return DG_OK, DG_E_PARSE (nothing usable), DG_E_LIMIT (more than DG_TLSA_CHAIN_MAX)
 */
enum dg_status dg_tlsa_load_certs_mem(const char *name, const uint8_t *p, size_t len,
                                      STACK_OF(X509) * *out, struct dg_err *err);

/**
 * As dg_tlsa_load_certs_mem() for a file.
 * @param path file name (borrowed)
 * @param out  receives a new stack; free with sk_X509_pop_free(*out, X509_free)
 * @param err  error detail naming @p path (borrowed), may be NULL
 * @return DG_OK, DG_E_IO, DG_E_PARSE, DG_E_LIMIT
 */
enum dg_status dg_tlsa_load_certs(const char *path, STACK_OF(X509) * *out, struct dg_err *err);

/**
 * Read one public or private key in PEM or DER (SPKI, PKCS#8, or traditional RSA/EC forms).
 * Encrypted private keys are rejected (no passphrase prompt). A certificate is not a key: use
 * dg_tlsa_load_certs().
 * @param name label for messages (borrowed)
 * @param p    contents (borrowed)
 * @param len  octets in @p p, at most DG_TLSA_FILE_MAX
 * @param out  receives the key; the caller frees it with EVP_PKEY_free()
 * @param err  error detail (borrowed), may be NULL
 * @return DG_OK, DG_E_PARSE, DG_E_LIMIT
 */
enum dg_status dg_tlsa_load_pkey_mem(const char *name, const uint8_t *p, size_t len, EVP_PKEY **out,
                                     struct dg_err *err);

/**
 * As dg_tlsa_load_pkey_mem() for a file.
 * @param path file name (borrowed)
 * @param out  receives the key; the caller frees it with EVP_PKEY_free()
 * @param err  error detail naming @p path (borrowed), may be NULL
 * @return DG_OK, DG_E_IO, DG_E_PARSE, DG_E_LIMIT
 */
enum dg_status dg_tlsa_load_pkey(const char *path, EVP_PKEY **out, struct dg_err *err);

/* ---- publishing advice (tlsa_advice.c), SPEC PUB-1..PUB-7 ------------------------------- */

/** Severity of an advice item. */
enum dg_tlsa_severity { DG_TLSA_SEV_INFO = 0, DG_TLSA_SEV_WARN, DG_TLSA_SEV_ERROR };

#define DG_TLSA_ADVICE_TEXT_MAX 224

/** One piece of advice. */
struct dg_tlsa_advice_item {
	const char *code; /**< static, stable: "single-record-no-rollover", ... */
	const char *spec; /**< static SPEC id: "PUB-6" */
	enum dg_tlsa_severity severity;
	size_t record;                      /**< 1-based record number, 0 for the whole set */
	char text[DG_TLSA_ADVICE_TEXT_MAX]; /**< human sentence */
};

/** A growing list of advice items; embed it, dg_tlsa_advice_init() then _cleanup(). */
struct dg_tlsa_advice {
	struct dg_tlsa_advice_item *item;
	size_t count;
	size_t cap;
};

/**
 * Start an empty list.
 * @param adv list (borrowed)
 */
void dg_tlsa_advice_init(struct dg_tlsa_advice *adv);

/**
 * Release the items of a list and empty it.
 * @param adv list (borrowed), may be NULL
 */
void dg_tlsa_advice_cleanup(struct dg_tlsa_advice *adv);

/**
 * Find the first item with a code.
 * @param adv  list (borrowed)
 * @param code code to look for (borrowed)
 * @return item inside @p adv (borrowed, valid until the list changes) or NULL
 */
const struct dg_tlsa_advice_item *dg_tlsa_advice_find(const struct dg_tlsa_advice *adv,
                                                      const char *code);

/**
 * Name a severity: "info", "warn", "error".
 * @param s severity
 * @return static string
 */
const char *dg_tlsa_severity_str(enum dg_tlsa_severity s);

/**
 * internet.nl rollover check (SPEC PUB-6): usages 0/1 ignored; passes when count(3 x x) >= 2,
 * or count(3 x x) >= 1 and count(2 x x) >= 1. Records are counted as published, usable or not.
 * @param set set (borrowed), may be NULL
 * @return true when the check passes
 */
bool dg_tlsa_set_has_rollover(const struct dg_tlsa_set *set);

/**
 * Advice about an RRset alone (SPEC PUB-1, PUB-2, PUB-3, PUB-4, PUB-5 digest part, PUB-6,
 * TLSA-2, TLSA-4, AUTH-7). Appends to @p adv. Codes: "empty-set", "all-unusable",
 * "unusable-record", "pkix-usage-ignored", "full-match-not-recommended", "sha512-only",
 * "weaker-digest-ignored", "ta-cert-selector", "ee-cert-selector", "ta-chain-required",
 * "duplicate-record", "rrset-size", "single-record-no-rollover", "no-rollover",
 * "rollover-check-caveat".
 * @param set set (borrowed), may be NULL (empty)
 * @param adv list to append to (borrowed)
 */
void dg_tlsa_set_advise(const struct dg_tlsa_set *set, struct dg_tlsa_advice *adv);

/**
 * Advice comparing an RRset with the chain a server presents (SPEC PUB-3, PUB-5): every
 * (usage, selector, mtype) combination of usable DANE records needs a record matching the
 * current chain (3 x x: the leaf; 2 x x: a certificate at depth > 0). Codes:
 * "combination-not-matching", "ta-not-in-chain", "no-record-matches".
 * @param set   set (borrowed)
 * @param chain chain as presented, leaf first (borrowed)
 * @param adv   list to append to (borrowed)
 */
/**
 * Advice on certificate lifetimes under DANE-TA (SPEC AUTH-4, RFC 7671 5.1): with usable
 * 2 x x records the validity of the chain up to the trust anchor is enforced, so a
 * certificate that has expired, or expires within @p warn_days of @p now, breaks
 * delivery from DANE senders. Under DANE-EE only, dates do not matter (AUTH-2) and
 * nothing is said. Code: "certificate-expiring" (warn), "certificate-expired" (error).
 * @param set       set (borrowed)
 * @param chain     chain as presented, leaf first (borrowed)
 * @param now       current time
 * @param warn_days how far ahead to look
 * @param adv       list to append to (borrowed)
 */
void dg_tlsa_chain_expiry_advise(const struct dg_tlsa_set *set, STACK_OF(X509) * chain,
				 time_t now, int warn_days, struct dg_tlsa_advice *adv);

void dg_tlsa_set_advise_chain(const struct dg_tlsa_set *set, STACK_OF(X509) * chain,
                              struct dg_tlsa_advice *adv);

/**
 * TTL advice (SPEC PUB-7): "ttl-too-short" below 300 s, "ttl-too-long" above 86400 s (WARN).
 * @param ttl_s TTL of the TLSA RRset in seconds
 * @param adv   list to append to (borrowed)
 */
void dg_tlsa_ttl_advise(uint32_t ttl_s, struct dg_tlsa_advice *adv);

#endif /* DANEGUARD_TLSA_H */
