/*
 * daneguard/mtasts.h - MTA-STS (RFC 8461): the _mta-sts TXT record, the policy file, MX
 * pattern matching, the HTTPS policy fetch on the caller's event loop, and the offline PKIX
 * check of an MX host's certificate.
 *
 * The parsers are pure functions over (pointer, length): no I/O, no logging; errors name the
 * input, the line and what is wrong (STYLE.md section 7). The fetch uses the libcurl multi
 * socket interface driven by a libevent event_base (STYLE.md section 6), never the system
 * resolver: the caller resolves the policy host and hands the addresses over.
 *
 * Contracts, states and limits: docs/internals/mtasts.md. SPEC sections 10 (STS-1..STS-9).
 */
#ifndef DANEGUARD_MTASTS_H
#define DANEGUARD_MTASTS_H

#include <daneguard/err.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <openssl/x509.h>

struct event_base;

/** Longest policy id (SPEC STS-1: 1..32 letters or digits). */
#define DG_STS_ID_MAX 32
/** Most mx patterns kept from one policy; a policy with more is invalid. */
#define DG_STS_MX_MAX 64
/** Largest policy body accepted (SPEC STS-2: 64 KiB). */
#define DG_STS_POLICY_MAX_BYTES 65536
/** Largest max_age (SPEC STS-3). */
#define DG_STS_MAX_AGE_MAX 31557600u

/* ------------------------------------------------------------------------ */
/* TXT record (mtasts_txt.c)                                                */
/* ------------------------------------------------------------------------ */

/** What the _mta-sts TXT RRset says, after SPEC STS-1 selection. */
enum dg_sts_txt_status {
	DG_STS_TXT_ABSENT = 0, /**< no record starting with v=STSv1 */
	DG_STS_TXT_PRESENT,    /**< exactly one, and it is valid */
	DG_STS_TXT_INVALID     /**< several v=STSv1 records, or the one is malformed */
};

/** A parsed _mta-sts TXT record. */
struct dg_sts_txt {
	char id[DG_STS_ID_MAX + 1]; /**< the policy id, NUL-terminated */
};

/**
 * Parse one TXT record (its strings already joined without separator, SPEC STS-1):
 * `v=STSv1` first, fields separated by *WSP ";" *WSP, `id=` with 1..32 letters or digits
 * exactly once, other fields `name=value` per RFC 8461 3.1 and otherwise ignored.
 * @param p   record text (borrowed); may contain NUL bytes, which are invalid
 * @param len length of @p p
 * @param out filled on success (borrowed)
 * @param err what is wrong and at which offset (may be NULL)
 * @return DG_OK; DG_E_NOTFOUND when the record does not start with "v=STSv1" (not an
 *         MTA-STS record: the caller drops it); DG_E_PARSE for a malformed MTA-STS record
 */
enum dg_status dg_sts_txt_parse(const char *p, size_t len, struct dg_sts_txt *out,
				struct dg_err *err);

/**
 * Apply SPEC STS-1 to a whole TXT RRset: drop records that are not MTA-STS records; exactly
 * one must be left, and it must be valid.
 * @param txt  record texts (borrowed), @p n of them
 * @param lens their lengths
 * @param n    number of records (0 for NODATA/NXDOMAIN)
 * @param out  the record when the result is DG_STS_TXT_PRESENT (borrowed)
 * @param err  why the set is invalid (may be NULL)
 * @return the status of the set
 */
enum dg_sts_txt_status dg_sts_txt_select(const char *const *txt, const size_t *lens, size_t n,
					 struct dg_sts_txt *out, struct dg_err *err);

/** @param st status @return "present", "absent", "invalid" (static) */
const char *dg_sts_txt_status_str(enum dg_sts_txt_status st);

/* ------------------------------------------------------------------------ */
/* Policy (mtasts_policy.c)                                                 */
/* ------------------------------------------------------------------------ */

/** Policy modes (SPEC STS-7). */
enum dg_sts_mode { DG_STS_MODE_NONE = 0, DG_STS_MODE_TESTING, DG_STS_MODE_ENFORCE };

/** A parsed policy. Embedded by its owner; release with dg_sts_policy_cleanup(). */
struct dg_sts_policy {
	enum dg_sts_mode mode;
	uint32_t max_age_s;
	char *mx[DG_STS_MX_MAX]; /**< patterns, lowercased, no trailing dot (owned) */
	size_t n_mx;
	size_t err_line;         /**< 1-based line of the first error, 0 if none */
};

/**
 * Parse a policy body strictly (SPEC STS-3, RFC 8461 3.2): `key: value` lines ending in LF
 * or CRLF; version STSv1, mode and max_age each required (the first occurrence counts);
 * mx at least once unless the mode is none; mx values `[*.]domain` in A-label form;
 * extension keys are checked for their syntax and ignored. Trailing empty lines are allowed,
 * an empty line followed by more fields is not.
 * @param p   body (borrowed); at most DG_STS_POLICY_MAX_BYTES
 * @param len body length
 * @param out policy (borrowed; initialised here); release with dg_sts_policy_cleanup(),
 *            also on error. On error out->err_line names the line.
 * @param err "line N: what" with the byte offset (may be NULL)
 * @return DG_OK, DG_E_PARSE (syntax, missing field) or DG_E_LIMIT (too big, too many mx)
 */
enum dg_status dg_sts_policy_parse(const uint8_t *p, size_t len, struct dg_sts_policy *out,
				   struct dg_err *err);

/** Free the patterns and reset. @param pol policy (borrowed), may be NULL */
void dg_sts_policy_cleanup(struct dg_sts_policy *pol);

/** @param m mode @return "none", "testing", "enforce" (static) */
const char *dg_sts_mode_str(enum dg_sts_mode m);

/**
 * Does MX host @p host match policy pattern @p pattern (SPEC STS-6 step 1)? ASCII case is
 * ignored, a trailing dot on either side too. `*.example.com` matches exactly one left-most
 * label: `mail.example.com`, not `example.com`, not `a.b.example.com`.
 * @param pattern mx pattern (borrowed)
 * @param host    MX host name (borrowed)
 * @return true on a match
 */
bool dg_sts_mx_match(const char *pattern, const char *host);

/**
 * @param pol  policy (borrowed)
 * @param host MX host name (borrowed)
 * @return true if some pattern of @p pol matches @p host
 */
bool dg_sts_policy_matches(const struct dg_sts_policy *pol, const char *host);

/* ------------------------------------------------------------------------ */
/* HTTPS fetch (mtasts_fetch.c)                                             */
/* ------------------------------------------------------------------------ */

struct dg_sts_fetcher;
struct dg_sts_fetch;

/** How a fetch ended. Everything except DG_STS_FETCH_OK is a "fetch-error". */
enum dg_sts_fetch_outcome {
	DG_STS_FETCH_OK = 0,    /**< HTTP 200 with a text/plain body within the limit */
	DG_STS_FETCH_HTTP,      /**< another HTTP status (3xx: a redirect, never followed) */
	DG_STS_FETCH_MEDIA,     /**< 200, but the media type is not text/plain */
	DG_STS_FETCH_TLS,       /**< TLS handshake or PKIX validation failed */
	DG_STS_FETCH_TIMEOUT,   /**< the time limit passed */
	DG_STS_FETCH_OVERSIZE,  /**< the body exceeds the size limit */
	DG_STS_FETCH_NETWORK    /**< connect failed, or another transfer error */
};

/** Options of one fetch. */
struct dg_sts_fetch_opts {
	const char *host;              /**< "mta-sts.<domain>" (borrowed, copied) */
	uint16_t port;                 /**< 443 */
	const char *const *addrs;      /**< addresses of @c host, "192.0.2.1" / "2001:db8::1"
	                                  (borrowed, copied); the system resolver is never used */
	size_t n_addrs;
	const char *ca_file;           /**< PEM CA bundle, NULL for the system store (borrowed) */
	unsigned timeout_ms;           /**< whole transfer, connect included */
	size_t max_bytes;              /**< body limit, DG_STS_POLICY_MAX_BYTES */
};

/** What a fetch gave. Borrowed by the callback for the duration of the call. */
struct dg_sts_fetch_result {
	enum dg_sts_fetch_outcome outcome;
	long http_status;       /**< 0 if no response was read */
	const char *url;        /**< the URL fetched */
	const char *content_type; /**< as sent, NULL if none */
	const char *redirect;   /**< Location of a 3xx, NULL if none */
	const uint8_t *body;    /**< the body (outcome OK), NUL-terminated */
	size_t len;
	char reason[256];       /**< sentence for every outcome except OK */
};

/**
 * Called once per fetch, from the event loop (never from inside dg_sts_fetch_start()). It may
 * start and cancel fetches; it must not free the fetcher.
 * @param arg argument given to dg_sts_fetch_start() (borrowed)
 * @param res the result, borrowed for the duration of the call
 */
typedef void dg_sts_fetch_cb(void *arg, const struct dg_sts_fetch_result *res);

/**
 * Create a fetcher: one libcurl multi handle driven by @p base.
 * @param base event loop (borrowed; must outlive the fetcher)
 * @param out  the fetcher; the caller frees it with dg_sts_fetcher_free()
 * @param err  error detail (may be NULL)
 * @return DG_OK or DG_E_INTERNAL
 */
enum dg_status dg_sts_fetcher_new(struct event_base *base, struct dg_sts_fetcher **out,
				  struct dg_err *err);

/** Cancel every fetch (no callbacks) and free. @param f fetcher (taken), may be NULL */
void dg_sts_fetcher_free(struct dg_sts_fetcher *f);

/**
 * Start `GET https://HOST/.well-known/mta-sts.txt` (SPEC STS-2): PKIX validation against
 * @c ca_file or the system store, SNI = HOST, TLS 1.2 or later, no redirects followed, no
 * proxy, no cache, the size and time limits of @p o.
 * @param f   fetcher (borrowed)
 * @param o   options (borrowed, copied)
 * @param cb  callback (borrowed)
 * @param arg callback argument (borrowed)
 * @param out receives the fetch for dg_sts_fetch_cancel() (may be NULL); valid until the
 *            callback runs
 * @param err error detail (may be NULL)
 * @return DG_OK; DG_E_CONFIG for a bad host or no address (no callback then)
 */
enum dg_status dg_sts_fetch_start(struct dg_sts_fetcher *f, const struct dg_sts_fetch_opts *o,
				  dg_sts_fetch_cb *cb, void *arg, struct dg_sts_fetch **out,
				  struct dg_err *err);

/** Cancel a fetch: its callback will not run. @param fe fetch (taken), may be NULL */
void dg_sts_fetch_cancel(struct dg_sts_fetch *fe);

/** @param o outcome @return "ok", "http-status", "media-type", "tls", ... (static) */
const char *dg_sts_fetch_outcome_str(enum dg_sts_fetch_outcome o);

/* ------------------------------------------------------------------------ */
/* PKIX check of an MX host certificate (mtasts_pkix.c)                     */
/* ------------------------------------------------------------------------ */

/**
 * Load the CA store MTA-STS validation uses: @p ca_file, or the system default paths.
 * @param ca_file PEM file (borrowed), NULL for the system store
 * @param out     the store; the caller frees it with X509_STORE_free()
 * @param err     "CA file F: why" (may be NULL)
 * @return DG_OK or DG_E_CONFIG
 */
enum dg_status dg_sts_ca_store_new(const char *ca_file, X509_STORE **out, struct dg_err *err);

/**
 * SPEC STS-6 step 3: is the chain a server sent PKIX-valid for MX host @p host? It must chain
 * to a CA of @p store, be within its validity at @p when, be fit for TLS servers, and carry a
 * SAN DNS-ID matching @p host (wildcard only as the whole left-most label; the subject CN is
 * not used).
 * @param store   trust store (borrowed)
 * @param chain   the chain as sent, leaf first (borrowed)
 * @param host    MX host name (borrowed)
 * @param when    the time to validate at (dg_clock_wall())
 * @param why     sentence when not valid (borrowed buffer)
 * @param why_len size of @p why
 * @return true if valid
 */
bool dg_sts_cert_is_valid(X509_STORE *store, STACK_OF(X509) *chain, const char *host, time_t when,
			  char *why, size_t why_len);

/* ------------------------------------------------------------------------ */
/* On-disk policy cache of a sending MTA (mtasts_cache.c)                   */
/* ------------------------------------------------------------------------ */

#include <daneguard/util.h>

/** Current cache file format version (first line "daneguard-sts-cache: 1"). */
#define DG_STS_CACHE_VERSION 1
/** Refresh a cached policy whose id still matches once it is this old (SPEC STS-4: daily). */
#define DG_STS_CACHE_REFRESH_S 86400u
/** Least time between two fetches for the same policy id after a failure (SPEC STS-2). */
#define DG_STS_CACHE_RETRY_S 300u

struct dg_sts_cache;

/**
 * One cached policy domain: the last policy fetched (if any) with its id and time, and the
 * last failed fetch (if any) with the id it was made for. Embedded by its owner; release
 * with dg_sts_cache_entry_cleanup().
 */
struct dg_sts_cache_entry {
	char domain[DG_NAME_BUF_SIZE];  /**< policy domain, normalized (lowercase, no dot) */
	char id[DG_STS_ID_MAX + 1];     /**< id of the cached policy, "" when none is cached */
	uint64_t fetched_s;             /**< epoch seconds of that fetch, 0 when none */
	uint64_t last_fail_s;           /**< epoch seconds of the last failed fetch, 0 if none */
	char fail_id[DG_STS_ID_MAX + 1]; /**< TXT id that failed fetch was for, "" if none */
	char *policy_text;              /**< policy body, NUL-terminated, NULL when none (owned) */
	size_t policy_len;              /**< its length */
};

/** What to do about a policy domain (dg_sts_cache_decide()). */
enum dg_sts_cache_action {
	DG_STS_USE_CACHED = 0, /**< apply the cached policy, do not fetch */
	DG_STS_FETCH,          /**< fetch the policy over HTTPS */
	DG_STS_NONE            /**< no policy applies: deliver as without MTA-STS */
};

/**
 * Open (creating it, mode 0700) a cache directory: one file per policy domain. Temporary
 * files left by an interrupted dg_sts_cache_put() are removed.
 * @param dir directory (borrowed, copied)
 * @param out the cache; the caller frees it with dg_sts_cache_free()
 * @param err error detail naming the directory (may be NULL)
 * @return DG_OK, DG_E_IO or DG_E_CONFIG (path too long)
 */
enum dg_status dg_sts_cache_open(const char *dir, struct dg_sts_cache **out, struct dg_err *err);

/** @param c cache (taken), may be NULL */
void dg_sts_cache_free(struct dg_sts_cache *c);

/**
 * Read the entry of @p domain. A file that does not parse is treated as absent: a warning
 * is logged, DG_E_NOTFOUND is returned with the reason in @p err, and the next put
 * replaces it.
 * @param c      cache (borrowed)
 * @param domain policy domain (borrowed); validated and normalized before it becomes a path
 * @param out    the entry (initialised here); release with dg_sts_cache_entry_cleanup(),
 *               also on error
 * @param err    error detail (may be NULL)
 * @return DG_OK, DG_E_NOTFOUND (none, or corrupt), DG_E_PARSE (bad domain), DG_E_IO
 */
enum dg_status dg_sts_cache_get(struct dg_sts_cache *c, const char *domain,
				struct dg_sts_cache_entry *out, struct dg_err *err);

/**
 * Write the entry of e->domain durably and atomically: temp file, fsync, rename over the
 * old file, fsync of the directory. A crash leaves the old entry or the new one.
 * @param c   cache (borrowed)
 * @param e   entry (borrowed); checked as the parser would check it
 * @param err error detail (may be NULL)
 * @return DG_OK, DG_E_PARSE (a field that would not parse back), DG_E_LIMIT, DG_E_IO
 */
enum dg_status dg_sts_cache_put(struct dg_sts_cache *c, const struct dg_sts_cache_entry *e,
				struct dg_err *err);

/** Free the policy text and zero the entry. @param e entry (borrowed), may be NULL */
void dg_sts_cache_entry_cleanup(struct dg_sts_cache_entry *e);

/**
 * Parse one cache file (pure: no I/O, no logging). The policy text must itself be a valid
 * policy (SPEC STS-3), so a file that parses holds a policy the cache may apply.
 * @param p   file bytes (borrowed), @p len of them
 * @param out the entry (initialised here); release with dg_sts_cache_entry_cleanup(), also
 *            on error
 * @param err DG_E_PARSE or DG_E_LIMIT with the byte offset (may be NULL)
 * @return DG_OK, DG_E_PARSE or DG_E_LIMIT
 */
enum dg_status dg_sts_cache_entry_parse(const uint8_t *p, size_t len,
					struct dg_sts_cache_entry *out, struct dg_err *err);

/**
 * Serialise @p e in canonical form: parse(format(e)) gives @p e back, format(parse(x)) is x.
 * @param e   entry (borrowed)
 * @param out a malloc'd file image, freed by the caller
 * @param len its length
 * @param err error detail (may be NULL)
 * @return DG_OK, DG_E_PARSE (a field that would not parse back) or DG_E_LIMIT
 */
enum dg_status dg_sts_cache_entry_format(const struct dg_sts_cache_entry *e, uint8_t **out,
					 size_t *len, struct dg_err *err);

/**
 * The caching decision of a sending MTA (SPEC STS-1, STS-2, STS-4; RFC 8461 3.3, 5.1). Pure.
 * A cached policy is valid while now < fetched + max_age (max_age of the parsed cached text).
 * - TXT valid, same id, cache valid, fetched less than 24 h ago: use the cached policy;
 * - TXT valid otherwise (id differs, cache stale or absent, or due for its daily refresh):
 *   fetch, unless a fetch for this same id failed less than 5 min ago; then use a valid
 *   cached policy, else none;
 * - TXT missing or invalid: use a valid cached policy, else none.
 * Times in the future (a clock that went back) make a policy not valid and a failure not
 * recent.
 * @param cached    the entry, NULL when none (borrowed)
 * @param txt_valid the live _mta-sts TXT RRset gave exactly one valid record
 * @param txt_id    its id (borrowed); ignored unless @p txt_valid
 * @param now_s     wall clock, epoch seconds
 * @param why       receives a sentence explaining the decision (borrowed buffer), may be NULL
 * @param why_size  size of @p why
 * @return the action
 */
enum dg_sts_cache_action dg_sts_cache_decide(const struct dg_sts_cache_entry *cached,
					     bool txt_valid, const char *txt_id, uint64_t now_s,
					     char *why, size_t why_size);

/** @param a action @return "use-cached", "fetch", "none" (static) */
const char *dg_sts_cache_action_str(enum dg_sts_cache_action a);

#endif /* DANEGUARD_MTASTS_H */
