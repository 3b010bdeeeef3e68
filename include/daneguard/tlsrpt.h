/*
 * daneguard/tlsrpt.h - TLS-RPT (RFC 8460): the _smtp._tls TXT policy record.
 *
 * Pure parsers over (pointer, length): no I/O, no logging (STYLE.md section 7). SPEC RPT-1.
 * The second half (issue 9) is the sender side of RFC 8460: a crash-safe store of session
 * results per UTC day, the aggregate JSON report (RPT-3), gzip and the file name (RPT-7), and
 * the RFC 8460 5.3 mail. It knows nothing of the relay: lib/relay/relay_tlsrpt.c feeds it and
 * sends what it builds (docs/internals/tlsrpt.md).
 */
#ifndef DANEGUARD_TLSRPT_H
#define DANEGUARD_TLSRPT_H

#include <daneguard/err.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

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


/* ------------------------------------------------------------------------ */
/* Aggregate reports: store, report, gzip, mail (tlsrpt_store.c,           */
/* tlsrpt_report.c, tlsrpt_mail.c)                                          */
/* ------------------------------------------------------------------------ */

/** Longest journal line (bytes, newline excluded); longer lines are skipped as corrupt. */
#define DG_TLSRPT_LINE_MAX 16384u
/** Most policy-string elements kept per policy (TLSA records, STS lines). */
#define DG_TLSRPT_STRINGS_MAX 64
/** Most mx-host patterns per STS policy. */
#define DG_TLSRPT_MX_MAX 32
/** Longest string field of an event (names, result types, codes, strings). */
#define DG_TLSRPT_FIELD_MAX 1024
/** Most report domains aggregated for one day; events for more are counted as dropped. */
#define DG_TLSRPT_DOMAINS_MAX 100000u
/** Most policies per report domain (distinct TLSA RRsets, STS policies). */
#define DG_TLSRPT_POLICIES_MAX 64
/** Most distinct failure-details rows per policy; further rows are counted as dropped. */
#define DG_TLSRPT_DETAILS_MAX 256
/** Largest journal file read for one day (bytes). */
#define DG_TLSRPT_JOURNAL_MAX (512u * 1024u * 1024u)
/** Buffer size of a day name "YYYY-MM-DD" and its NUL. */
#define DG_TLSRPT_DAY_SIZE 11

/** policy-type of RFC 8460 4.4 (SPEC RPT-3). */
enum dg_tlsrpt_policy_type {
	DG_TLSRPT_POLICY_NONE = 0, /**< "no-policy-found" */
	DG_TLSRPT_POLICY_TLSA,     /**< "tlsa" (DANE) */
	DG_TLSRPT_POLICY_STS       /**< "sts" (MTA-STS) */
};

/**
 * One session outcome as recorded and read back. All pointers are borrowed: from the caller
 * for dg_tlsrpt_store_append(), from the event itself (freed by dg_tlsrpt_event_cleanup())
 * after dg_tlsrpt_event_parse().
 */
struct dg_tlsrpt_event {
	uint64_t time_s;            /**< epoch seconds: selects the UTC day */
	const char *report_domain;  /**< next-hop domain whose _smtp._tls record holds @c rua
	                                 (TLS-Report-Domain) */
	const char *rua[DG_TLSRPT_RUA_MAX]; /**< its report URIs */
	size_t n_rua;
	enum dg_tlsrpt_policy_type policy_type;
	const char *policy_domain;  /**< SPEC RPT-2: TLSA base domain (tlsa), the recipient
	                                 domain (sts, no-policy-found) */
	const char *strings[DG_TLSRPT_STRINGS_MAX]; /**< policy-string elements (SPEC RPT-4) */
	size_t n_strings;
	const char *mx[DG_TLSRPT_MX_MAX]; /**< mx-host patterns (sts) */
	size_t n_mx;
	bool success;               /**< a successful session; else a failure row */
	const char *result_type;    /**< failure: RFC 8460 4.3 result type (SPEC RPT-5) */
	const char *sending_ip;     /**< failure: sending-mta-ip, or NULL (omitted) */
	const char *mx_host;        /**< failure: receiving-mx-hostname, or NULL */
	const char *receiving_ip;   /**< failure: receiving-ip, or NULL */
	const char *reason_code;    /**< failure: failure-reason-code, or NULL */
	void *priv;                 /**< parsed form: the storage (owned) */
};

/**
 * Parse one journal line (without its newline): a JSON object written by
 * dg_tlsrpt_store_append(). Pure; every field is checked (types, lengths, known policy
 * type, a result type on failures, at most the documented counts).
 * @param p   line bytes (borrowed), need not be NUL-terminated
 * @param len bytes (at most DG_TLSRPT_LINE_MAX)
 * @param ev  filled on success; release with dg_tlsrpt_event_cleanup() (borrowed)
 * @param err what is wrong (may be NULL)
 * @return DG_OK, DG_E_PARSE or DG_E_LIMIT; @p ev holds nothing to free on error
 */
enum dg_status dg_tlsrpt_event_parse(const char *p, size_t len, struct dg_tlsrpt_event *ev,
				     struct dg_err *err);

/** Free what dg_tlsrpt_event_parse() allocated. @param ev event (borrowed), may be NULL */
void dg_tlsrpt_event_cleanup(struct dg_tlsrpt_event *ev);

/**
 * Format @p ev as one journal line (JSON object, then "\n").
 * @param ev  event (borrowed)
 * @param out receives the line; the caller frees it with free()
 * @param err why the event cannot be written (field too long, no result type) (may be NULL)
 * @return DG_OK, DG_E_LIMIT or DG_E_PARSE
 */
enum dg_status dg_tlsrpt_event_format(const struct dg_tlsrpt_event *ev, char **out,
				      struct dg_err *err);

/** @param t policy type @return "tlsa", "sts", "no-policy-found" (static) */
const char *dg_tlsrpt_policy_type_str(enum dg_tlsrpt_policy_type t);

/**
 * The UTC day of an epoch time.
 * @param t   epoch seconds
 * @param out receives "YYYY-MM-DD" (DG_TLSRPT_DAY_SIZE bytes, borrowed)
 */
void dg_tlsrpt_day_name(uint64_t t, char out[DG_TLSRPT_DAY_SIZE]);

/**
 * Read a day name.
 * @param day  "YYYY-MM-DD" (borrowed)
 * @param start receives the epoch seconds of its 00:00:00 UTC
 * @return DG_OK or DG_E_PARSE (not a valid date)
 */
enum dg_status dg_tlsrpt_day_parse(const char *day, uint64_t *start);

/** The append side of the store (one directory, a journal per UTC day). */
struct dg_tlsrpt_store;

/**
 * Open (create) the store directory @p dir. Journal files are DIR/YYYY-MM-DD.events, the
 * record of sent reports DIR/YYYY-MM-DD.sent.
 * @param dir directory (borrowed, copied); its parent must exist
 * @param out receives the store; free with dg_tlsrpt_store_free()
 * @param err error detail (may be NULL)
 * @return DG_OK, DG_E_IO or DG_E_CONFIG (path too long)
 */
enum dg_status dg_tlsrpt_store_open(const char *dir, struct dg_tlsrpt_store **out,
				    struct dg_err *err);

/**
 * Append one event to the journal of its day with a single write(2) on an O_APPEND file, so
 * a crash of the process loses nothing written and at worst a machine crash leaves a torn
 * last line, which readers skip. Durable after the next dg_tlsrpt_store_sync().
 * @param s   store (borrowed)
 * @param ev  event (borrowed)
 * @param err error detail (may be NULL)
 * @return DG_OK, DG_E_IO, DG_E_LIMIT, DG_E_PARSE (see dg_tlsrpt_event_format())
 */
enum dg_status dg_tlsrpt_store_append(struct dg_tlsrpt_store *s, const struct dg_tlsrpt_event *ev,
				      struct dg_err *err);

/** fsync the journal written since the last sync (batching). @return DG_OK or DG_E_IO */
enum dg_status dg_tlsrpt_store_sync(struct dg_tlsrpt_store *s, struct dg_err *err);

/** @param s store (borrowed) @return its directory (borrowed) */
const char *dg_tlsrpt_store_dir(const struct dg_tlsrpt_store *s);

/** Sync and close. @param s store (taken), may be NULL */
void dg_tlsrpt_store_free(struct dg_tlsrpt_store *s);

/** One day of events aggregated per report domain and policy (opaque). */
struct dg_tlsrpt_day;

/** @return a new empty aggregation for @p day ("YYYY-MM-DD", copied); NULL if invalid */
struct dg_tlsrpt_day *dg_tlsrpt_day_new(const char *day);

/**
 * Count one event (its day is not checked): a success adds to its policy's successful
 * sessions, a failure to the failure-details row (result-type, sending-mta-ip,
 * receiving-mx-hostname, receiving-ip, failure-reason-code). The rua list of the report
 * domain is the last one seen.
 * @param d  aggregation (borrowed)
 * @param ev event (borrowed, copied)
 * @return DG_OK or DG_E_LIMIT (counted in dg_tlsrpt_day_dropped())
 */
enum dg_status dg_tlsrpt_day_add(struct dg_tlsrpt_day *d, const struct dg_tlsrpt_event *ev);

/**
 * Read DIR/DAY.events into a new aggregation. A missing journal gives an empty day; lines
 * that do not parse (a torn last line after a crash, damage) are skipped and counted.
 * @param dir     store directory (borrowed)
 * @param day     "YYYY-MM-DD" (borrowed)
 * @param out     receives the aggregation; free with dg_tlsrpt_day_free()
 * @param skipped receives the number of skipped lines (may be NULL)
 * @param err     error detail (may be NULL)
 * @return DG_OK, DG_E_PARSE (bad day), DG_E_IO or DG_E_LIMIT (journal too large)
 */
enum dg_status dg_tlsrpt_day_load(const char *dir, const char *day, struct dg_tlsrpt_day **out,
				  size_t *skipped, struct dg_err *err);

/** @param d aggregation (taken), may be NULL */
void dg_tlsrpt_day_free(struct dg_tlsrpt_day *d);

/** @return number of report domains, in order of first appearance */
size_t dg_tlsrpt_day_count(const struct dg_tlsrpt_day *d);

/** @return report domain @p i (borrowed from @p d), NULL out of range */
const char *dg_tlsrpt_day_domain(const struct dg_tlsrpt_day *d, size_t i);

/**
 * @param d aggregation, @param i domain index
 * @param n receives the number of rua URIs
 * @return the URIs (borrowed from @p d)
 */
char *const *dg_tlsrpt_day_rua(const struct dg_tlsrpt_day *d, size_t i, size_t *n);

/** @return events not counted because a limit was reached */
uint64_t dg_tlsrpt_day_dropped(const struct dg_tlsrpt_day *d);

/** Who reports (SPEC RPT-3, RPT-7). */
struct dg_tlsrpt_meta {
	const char *org;       /**< organization-name (borrowed) */
	const char *contact;   /**< contact-info, an addr-spec (borrowed) */
	const char *submitter; /**< TLS-Report-Submitter: the domain of @c contact (borrowed) */
};

/**
 * The report-id of a report: "<day>T00:00:00Z_<report-domain>@<submitter>", the same each
 * time it is rebuilt, so a resent report is recognisably the same one.
 * @param out receives the id (borrowed)
 * @param size its size
 * @return DG_OK or DG_E_LIMIT
 */
enum dg_status dg_tlsrpt_report_id(const char *day, const char *domain,
				   const struct dg_tlsrpt_meta *meta, char *out, size_t size);

/**
 * Build the RFC 8460 JSON report of domain @p i of @p d (SPEC RPT-3): organization-name,
 * date-range (the whole UTC day: 00:00:00Z to 23:59:59Z), contact-info, report-id and
 * policies[] with policy, summary and failure-details.
 * @param d    aggregation (borrowed)
 * @param i    domain index
 * @param meta reporter (borrowed)
 * @param out  receives the compact JSON text; the caller frees it with free()
 * @param err  error detail (may be NULL)
 * @return DG_OK, DG_E_NOTFOUND (@p i out of range) or DG_E_LIMIT
 */
enum dg_status dg_tlsrpt_report_build(const struct dg_tlsrpt_day *d, size_t i,
				      const struct dg_tlsrpt_meta *meta, char **out,
				      struct dg_err *err);

/**
 * gzip @p len bytes (RFC 1952 framing, SPEC RPT-7 "gzip SHOULD be used").
 * @param out receives the compressed bytes; the caller frees them with free()
 * @return DG_OK or DG_E_INTERNAL (zlib failed)
 */
enum dg_status dg_tlsrpt_gzip(const void *p, size_t len, uint8_t **out, size_t *out_len,
			      struct dg_err *err);

/**
 * The report file name of SPEC RPT-7: "submitter!policy-domain!begin!end!unique.json.gz"
 * (begin and end in epoch seconds; @p unique may be NULL to leave it out).
 * @return DG_OK, DG_E_PARSE (a name holds '!' or '/') or DG_E_LIMIT
 */
enum dg_status dg_tlsrpt_file_name(const char *submitter, const char *domain, uint64_t begin,
				   uint64_t end, const char *unique, char *out, size_t size);

/** What goes into a report mail (all borrowed). */
struct dg_tlsrpt_mail {
	const char *from;          /**< From: address */
	const char *to;            /**< To: the rua address (mailto: removed, decoded) */
	const char *report_domain; /**< TLS-Report-Domain */
	const char *submitter;     /**< TLS-Report-Submitter */
	const char *report_id;     /**< Subject and Message-ID */
	const char *file_name;     /**< attachment name (dg_tlsrpt_file_name()) */
	const uint8_t *gz;         /**< gzipped report */
	size_t gz_len;
	time_t date;               /**< Date: */
};

/**
 * Compose the RFC 8460 5.3 message (SPEC RPT-7): multipart/report; report-type="tlsrpt"
 * with a text/plain part and the application/tlsrpt+gzip part in base64, headers From, To,
 * Date, Subject "Report Domain: D Submitter: S Report-ID: <id>", Message-ID, MIME-Version,
 * TLS-Report-Domain, TLS-Report-Submitter and "TLS-Required: No" (RFC 8689). CRLF line ends.
 * Not DKIM-signed.
 * @param m   contents (borrowed)
 * @param out receives the message; the caller frees it with free()
 * @param len receives its length
 * @param err error detail (a header value with CR/LF) (may be NULL)
 * @return DG_OK or DG_E_PARSE
 */
enum dg_status dg_tlsrpt_mail_compose(const struct dg_tlsrpt_mail *m, char **out, size_t *len,
				      struct dg_err *err);

/**
 * The mail address of a mailto: rua ("mailto:a%2Cb@x" -> "a,b@x"; a "?query" is dropped).
 * @return DG_OK or DG_E_PARSE (not mailto:, bad escape, not local@domain, too long)
 */
enum dg_status dg_tlsrpt_mailto_addr(const char *uri, char *out, size_t size);

/** Sent reports of one day: DIR/DAY.sent, one line per attempt (opaque). */
struct dg_tlsrpt_sent;

/**
 * Read the record of sent reports (missing file: nothing sent; torn lines skipped).
 * @param out receives the record; free with dg_tlsrpt_sent_free()
 * @return DG_OK, DG_E_PARSE (bad day) or DG_E_IO
 */
enum dg_status dg_tlsrpt_sent_load(const char *dir, const char *day, struct dg_tlsrpt_sent **out,
				   struct dg_err *err);

/**
 * Append one delivery attempt of the report for @p domain to @p rua and fsync it, then count
 * it in @p s.
 * @param ok true: delivered (queued for mailto:, 200/201 for https:)
 * @param now_s epoch seconds of the attempt
 * @return DG_OK or DG_E_IO
 */
enum dg_status dg_tlsrpt_sent_record(struct dg_tlsrpt_sent *s, const char *domain,
				     const char *rua, bool ok, uint64_t now_s, struct dg_err *err);

/**
 * State of the report for (@p domain, @p rua).
 * @param failures receives the failed attempts so far (may be NULL)
 * @param first_s  receives the epoch of the first attempt, 0 if none (may be NULL)
 * @param last_s   receives the epoch of the last attempt, 0 if none (may be NULL)
 * @return true if it was delivered
 */
bool dg_tlsrpt_sent_state(const struct dg_tlsrpt_sent *s, const char *domain, const char *rua,
			  unsigned *failures, uint64_t *first_s, uint64_t *last_s);

/** @param s record (taken), may be NULL */
void dg_tlsrpt_sent_free(struct dg_tlsrpt_sent *s);


/* ------------------------------------------------------------------------ */
/* DKIM signing of report mails (tlsrpt_dkim.c, SPEC RPT-7, RFC 6376)       */
/* ------------------------------------------------------------------------ */

/** Largest DKIM private key file read (bytes). */
#define DG_TLSRPT_DKIM_KEY_MAX (64u * 1024u)
/** Largest message dg_tlsrpt_dkim_sign() signs (bytes). */
#define DG_TLSRPT_DKIM_MSG_MAX (96u * 1024u * 1024u)

/**
 * A DKIM signing identity. Filled by dg_tlsrpt_dkim_load() (which owns the strings through
 * @c priv), or by a caller that points the fields at its own strings and leaves @c priv NULL.
 */
struct dg_tlsrpt_dkim {
	const char *domain;   /**< d= (SDID), e.g. the submitter domain */
	const char *selector; /**< s=; the key is published at SELECTOR._domainkey.DOMAIN */
	const char *key_pem;  /**< PEM private key (RSA or Ed25519), NUL-terminated */
	void *priv;           /**< storage of dg_tlsrpt_dkim_load() (owned), or NULL */
};

/**
 * Read a PEM private key file and check that it is an RSA (at least 1024 bits) or Ed25519
 * key, so a bad key is found at start-up rather than at the first report.
 * @param path     PEM file (borrowed); named in every error
 * @param domain   d= (borrowed, copied)
 * @param selector s= (borrowed, copied)
 * @param out      filled on success; release with dg_tlsrpt_dkim_cleanup() (borrowed)
 * @param err      error detail (may be NULL)
 * @return DG_OK, DG_E_IO (unreadable), DG_E_LIMIT (too large) or DG_E_CONFIG (not a usable
 *         key); @p out holds nothing to free on error
 */
enum dg_status dg_tlsrpt_dkim_load(const char *path, const char *domain, const char *selector,
				   struct dg_tlsrpt_dkim *out, struct dg_err *err);

/** Free what dg_tlsrpt_dkim_load() allocated. @param k identity (borrowed), may be NULL */
void dg_tlsrpt_dkim_cleanup(struct dg_tlsrpt_dkim *k);

/**
 * DKIM-sign a complete CRLF message with libopendkim (SPEC RPT-7, RFC 8460 3, RFC 6376):
 * a DKIM-Signature header is prepended with a=rsa-sha256 or a=ed25519-sha256 (from the key
 * type), c=relaxed/relaxed, no l= tag, and h= naming those of From, To, Subject, Date,
 * Message-ID, MIME-Version, Content-Type, TLS-Report-Domain and TLS-Report-Submitter that
 * the message holds (From is required).
 * @param k       identity (borrowed)
 * @param msg     the message (borrowed), headers, empty line, body, CRLF line ends
 * @param len     its length (at most DG_TLSRPT_DKIM_MSG_MAX)
 * @param out     receives the signed message; the caller frees it with free()
 * @param out_len receives its length
 * @param err     error detail (may be NULL)
 * @return DG_OK, DG_E_CONFIG (bad key, selector or domain), DG_E_PARSE (no From header),
 *         DG_E_LIMIT or DG_E_INTERNAL (libopendkim failed)
 */
enum dg_status dg_tlsrpt_dkim_sign(const struct dg_tlsrpt_dkim *k, const uint8_t *msg, size_t len,
				   uint8_t **out, size_t *out_len, struct dg_err *err);

#endif /* DANEGUARD_TLSRPT_H */
