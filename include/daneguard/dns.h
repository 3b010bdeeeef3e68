/*
 * daneguard/dns.h - DNSSEC-validating asynchronous DNS lookups (RFC 7672 §2.1).
 *
 * One struct dg_dns per process or run. It wraps a libunbound context attached to the
 * caller's libevent event_base (ub_ctx_create_event), validates locally against the IANA
 * root trust anchors (or a trust-anchor file), may forward to upstream resolvers, bounds
 * the queries in flight, coalesces identical queries and keeps a per-context answer cache.
 * A fake backend (dg_dns_new_fake) answers from canned data through the same interface
 * and the same event_base, for unit tests (STYLE.md section 9).
 *
 * Every answer keeps apart the DNSSEC security status (secure/insecure/bogus/indeterminate,
 * SPEC DNS-1) and the outcome (data, NODATA, NXDOMAIN, SERVFAIL, timeout, error), so callers
 * can apply SPEC DNS-3..DNS-6, MX-1..MX-8 and HOST-1..HOST-10.
 *
 * Names in answers are written lowercase, without the trailing dot ("mx1.example.net"; the
 * root is "."), with bytes outside [a-z0-9-_*] as \DDD escapes.
 *
 * See docs/internals/dns.md for the contract, states, limits and ownership.
 */
#ifndef DANEGUARD_DNS_H
#define DANEGUARD_DNS_H

#include <daneguard/err.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct event_base;
struct dg_dns;

/** RR type codes used by daneguard (host order). Other codes may be passed as numbers. */
enum dg_dns_type {
	DG_DNS_T_A = 1,
	DG_DNS_T_NS = 2,
	DG_DNS_T_CNAME = 5,
	DG_DNS_T_SOA = 6,
	DG_DNS_T_MX = 15,
	DG_DNS_T_TXT = 16,
	DG_DNS_T_AAAA = 28,
	DG_DNS_T_DNAME = 39,
	DG_DNS_T_DS = 43,
	DG_DNS_T_RRSIG = 46,
	DG_DNS_T_DNSKEY = 48,
	DG_DNS_T_TLSA = 52
};

/** Most records of the asked type kept per answer; the rest are counted as skipped. */
#define DG_DNS_MAX_RRS 64
/** Longest CNAME chain followed in one answer (SPEC DNS-5 recursion limit). */
#define DG_DNS_MAX_CHAIN 16
/** Buffer size that holds any name as written in answers (255 octets, escaped). */
#define DG_DNS_NAME_TEXT_MAX 1024

/** DNSSEC security status of an answer (RFC 7672 §2.1.1, SPEC DNS-1). */
enum dg_dns_security {
	DG_DNS_INDETERMINATE = 0, /**< no verdict: lookup failed or could not be read (DNS-3) */
	DG_DNS_INSECURE = 1,      /**< validated as insecure (no anchor / insecure delegation) */
	DG_DNS_SECURE = 2,        /**< validated as secure */
	DG_DNS_BOGUS = 3          /**< validation failed; see why_bogus */
};

/** What the lookup produced, independent of the security status. */
enum dg_dns_outcome {
	DG_DNS_ANSWER = 0,   /**< the RRset of the asked type exists at the canonical name */
	DG_DNS_NODATA = 1,   /**< NOERROR, no RRset of that type (denial of existence) */
	DG_DNS_NXDOMAIN = 2, /**< the (canonical) name does not exist (denial of existence) */
	DG_DNS_SERVFAIL = 3, /**< the resolver failed (SERVFAIL); reason set */
	DG_DNS_TIMEOUT = 4,  /**< no answer within the per-query timeout; reason set */
	DG_DNS_ERROR = 5     /**< malformed packet, other rcode, resolver error; reason set */
};

/** One CNAME link seen in the answer section, in chain order. */
struct dg_dns_cname {
	char *owner;    /**< alias (owned by the answer) */
	char *target;   /**< canonical name it points to (owned by the answer) */
	uint32_t ttl_s; /**< TTL of the CNAME record */
};

/** One record of the asked type. Which union member is valid depends on @c type. */
struct dg_dns_rr {
	uint16_t type;  /**< RR type (== the answer's qtype) */
	uint32_t ttl_s; /**< TTL of this record */
	union {
		struct {
			uint16_t preference;
			char *exchange; /**< "." for a null MX (SPEC MX-7); owned by the answer */
		} mx;
		struct {
			char text[46];   /**< "192.0.2.1" or "2001:db8::1" */
			uint8_t bin[16]; /**< network order, 4 or 16 bytes */
			uint8_t len;     /**< 4 (A) or 16 (AAAA) */
		} addr;
		struct {
			uint8_t usage, selector, mtype;
			uint8_t *data; /**< association data (owned by the answer), NULL if len 0 */
			size_t len;
		} tlsa;
		struct {
			char *target; /**< CNAME target, or NS name server name (owned by the answer) */
		} cname;
		struct {
			char *text; /**< character-strings joined without separator, NUL-terminated;
			               may contain NUL bytes, see len (owned by the answer) */
			size_t len;
		} txt;
		struct {
			uint8_t *data; /**< raw RDATA of any other type (owned by the answer) */
			size_t len;
		} raw;
	} u;
};

/**
 * A parsed lookup result. Delivered to callbacks as a borrowed pointer valid for the duration
 * of the callback; copy it with dg_dns_answer_copy() to keep it. Filled by
 * dg_dns_parse_answer() for tests and tools; then released with dg_dns_answer_cleanup().
 */
struct dg_dns_answer {
	char *qname;                   /**< query name, normalized */
	uint16_t qtype;                /**< query type */
	enum dg_dns_security security; /**< DNSSEC status (SPEC DNS-1) */
	enum dg_dns_outcome outcome;   /**< what the lookup produced */
	int rcode;                     /**< DNS rcode of the response, -1 if none was received */
	char *why_bogus;               /**< validator's reason when BOGUS, else NULL */
	char *reason;                  /**< why SERVFAIL/TIMEOUT/ERROR, else NULL */
	char *canonical;               /**< name reached after the CNAME chain (qname if none) */
	struct dg_dns_cname *chain;    /**< CNAME links from qname to canonical (SPEC DNS-5) */
	size_t n_chain;
	uint32_t ttl_s;        /**< TTL of the final RRset; for NODATA/NXDOMAIN the SOA
	                          negative TTL, 0 if none */
	uint32_t orig_ttl_s;  /**< original TTL from the RRSIG covering the final RRset (RFC
				 4034 3.1.4): what the zone publishes, not what a cache has
				 left; 0 when the answer carried no RRSIG */
	struct dg_dns_rr *rrs; /**< records of qtype owned by canonical, at most DG_DNS_MAX_RRS */
	size_t n_rrs;
	size_t n_skipped;  /**< records of the RRset not in rrs (malformed rdata or over cap) */
	char *skip_reason; /**< why the first one was skipped, NULL if none */
};

#define DG_DNS_MAX_RESOLVER_THREADS 8 /**< most libunbound worker threads of one context */

/** Options for dg_dns_new() and dg_dns_new_fake(); start from dg_dns_opts_init(). */
struct dg_dns_opts {
	const char *ta_file;           /**< DS/DNSKEY zone file replacing the built-in root anchors;
	                                  NULL for the built-in IANA root KSKs (borrowed, copied) */
	const char *root_hints_file;   /**< root hints for full recursion, NULL for built-in */
	const char *const *forwarders; /**< "ADDR" or "ADDR@PORT" each (borrowed, copied) */
	size_t n_forwarders;           /**< 0: full recursion from the root */
	unsigned timeout_ms;           /**< per query, from hand-off to the resolver */
	unsigned max_inflight;         /**< resolver queries at once; the rest wait in FIFO */
	size_t cache_max;              /**< answer cache entries; 0 disables the cache */
	uint32_t cache_max_ttl_s;      /**< an answer is cached at most this long */
	uint32_t cache_error_ttl_s;    /**< SERVFAIL/TIMEOUT/ERROR answers are cached this long */
	unsigned resolver_threads;     /**< 0 (default): libunbound runs on the event loop; N (at
	                                  most DG_DNS_MAX_RESOLVER_THREADS): N libunbound contexts,
	                                  each resolving and validating in its own worker thread
	                                  (ub_ctx_async), queries spread by the last two labels
	                                  of their name; answers reach the loop through pipes, so
	                                  DNSSEC signature checks use the other cores (scan) */
	size_t ub_cache_bytes;         /**< libunbound msg and rrset cache size each, 0 keeps
	                                  libunbound's default (4 MB each) */
};

/** Counters of one context, for tests, benchmarks and progress lines. */
struct dg_dns_stats {
	uint64_t lookups;         /**< dg_dns_lookup() calls accepted */
	uint64_t backend_queries; /**< queries handed to the resolver (or the fake) */
	uint64_t cache_hits;      /**< lookups answered from the answer cache */
	uint64_t coalesced;       /**< lookups joined to an identical query in flight */
	uint64_t timeouts;        /**< queries that hit timeout_ms */
	uint64_t cancelled;       /**< waiters removed by dg_dns_cancel() */
	size_t inflight;          /**< queries at the resolver now */
	size_t queued;            /**< queries waiting for a slot now */
	size_t cached;            /**< answers in the cache now */
};

/**
 * Called once per lookup with its answer, from the event loop, never from inside
 * dg_dns_lookup(). The callback may call dg_dns_lookup(), dg_dns_cancel() and dg_dns_free().
 * @param arg the argument given to dg_dns_lookup() (borrowed)
 * @param ans the answer, borrowed for the duration of the call
 */
typedef void dg_dns_cb(void *arg, const struct dg_dns_answer *ans);

/**
 * Fill @p opts with defaults: built-in root anchors, no forwarders, timeout 15000 ms,
 * 256 queries in flight, 100000 cache entries, cache TTL cap 3600 s, error TTL 30 s.
 * @param opts options to fill (borrowed)
 */
void dg_dns_opts_init(struct dg_dns_opts *opts);

/**
 * Create a validating libunbound context on @p base (SPEC DNS-1, DNS-2: validation is always
 * local, also when forwarding). A trust-anchor file is read and checked here, so an unreadable
 * or malformed file fails now with "trust anchor FILE: ...".
 * @param base event base that runs the queries (borrowed; must outlive the context)
 * @param opts options (borrowed; strings copied); NULL means dg_dns_opts_init() defaults
 * @param out  receives the context; the caller frees it with dg_dns_free()
 * @param err  error detail (may be NULL)
 * @return DG_OK, DG_E_CONFIG (bad option, forwarder or trust anchor), DG_E_INTERNAL
 */
enum dg_status dg_dns_new(struct event_base *base, const struct dg_dns_opts *opts,
                          struct dg_dns **out, struct dg_err *err);

/**
 * Create a fake resolver that answers from data registered with dg_dns_fake_add(), through
 * the same lookup, coalescing, cache, queue and timeout logic. Unregistered names give
 * SERVFAIL with reason "fake: no answer for NAME/TYPE".
 * @param base event base that fires the callbacks (borrowed; must outlive the context)
 * @param opts options (borrowed); resolver fields are ignored; NULL means defaults
 * @return new context, never NULL; the caller frees it with dg_dns_free()
 */
struct dg_dns *dg_dns_new_fake(struct event_base *base, const struct dg_dns_opts *opts);

/**
 * Cancel every query (no callback fires afterwards) and free the context. Called from inside
 * a dg_dns callback, the context is marked closing and freed when the callback returns.
 * @param dns context (taken), may be NULL
 */
void dg_dns_free(struct dg_dns *dns);

/**
 * Start a lookup of @p name / @p rrtype (class IN). The callback fires exactly once from
 * the event loop unless the lookup is cancelled. Identical lookups in flight share one
 * resolver query; completed answers are served from the context's cache.
 * @param dns    context (borrowed)
 * @param name   query name, absolute, trailing dot optional (borrowed, copied); checked
 *               with dg_name_is_valid()
 * @param rrtype RR type (enum dg_dns_type or any other code except 0)
 * @param cb     callback (borrowed)
 * @param arg    callback argument (borrowed)
 * @param id     receives a nonzero id for dg_dns_cancel() (may be NULL)
 * @param err    error detail (may be NULL)
 * @return DG_OK, or DG_E_PARSE for an invalid name or type (no callback then)
 */
enum dg_status dg_dns_lookup(struct dg_dns *dns, const char *name, uint16_t rrtype, dg_dns_cb *cb,
                             void *arg, uint64_t *id, struct dg_err *err);

/**
 * Cancel one lookup: its callback will not fire. The shared resolver query is cancelled
 * (ub_cancel) when no other lookup waits for it.
 * @param dns context (borrowed)
 * @param id  id from dg_dns_lookup()
 * @return true if the lookup was pending, false if unknown or already delivered
 */
bool dg_dns_cancel(struct dg_dns *dns, uint64_t id);

/**
 * Read the context's counters.
 * @param dns context (borrowed)
 * @param out counters to fill (borrowed)
 */
void dg_dns_get_stats(const struct dg_dns *dns, struct dg_dns_stats *out);

/** A canned answer for the fake resolver. Unused fields stay zero. */
struct dg_dns_fake_answer {
	const char *name;              /**< query name (copied) */
	uint16_t rrtype;               /**< query type */
	enum dg_dns_security security; /**< status delivered with the answer */
	enum dg_dns_outcome outcome;   /**< ANSWER/NODATA: NOERROR packet with @c rrs;
	                                  NXDOMAIN: NXDOMAIN packet with @c rrs (a chain);
	                                  SERVFAIL/ERROR: no packet; TIMEOUT: never answers,
	                                  the per-query timeout fires */
	const char *const *rrs;        /**< answer section in zone-file form, absolute names,
	                                  "a.example. 300 IN CNAME b.example." (copied) */
	size_t n_rrs;
	const char *const *authority; /**< authority section (e.g. a SOA), as @c rrs */
	size_t n_authority;
	const char *why_bogus; /**< for BOGUS (copied) */
	const uint8_t *packet; /**< raw response used instead of rrs (copied) */
	size_t packet_len;
	unsigned delay_ms; /**< answer after this delay (0: next loop turn) */
};

/**
 * Register (or replace) the canned answer for (name, rrtype) in a fake context.
 * @param dns fake context from dg_dns_new_fake() (borrowed)
 * @param fa  canned answer (borrowed, everything copied)
 * @param err error detail (may be NULL)
 * @return DG_OK, DG_E_PARSE (bad name or record text), DG_E_CONFIG (not a fake context)
 */
enum dg_status dg_dns_fake_add(struct dg_dns *dns, const struct dg_dns_fake_answer *fa,
                               struct dg_err *err);

/**
 * Initialise an empty answer (outcome ERROR, security INDETERMINATE, rcode -1).
 * @param ans answer to initialise (borrowed)
 */
void dg_dns_answer_init(struct dg_dns_answer *ans);

/**
 * Release what an answer owns and re-initialise it.
 * @param ans answer (borrowed), may be NULL
 */
void dg_dns_answer_cleanup(struct dg_dns_answer *ans);

/**
 * Deep-copy an answer.
 * @param dst answer to fill (borrowed; previous content is not freed)
 * @param src answer to copy (borrowed)
 */
void dg_dns_answer_copy(struct dg_dns_answer *dst, const struct dg_dns_answer *src);

/**
 * Parse a DNS response (pure: no I/O, no logging). Checks the header and that the question
 * matches; follows the CNAME chain in the answer section from the query name (at most
 * DG_DNS_MAX_CHAIN links, SPEC DNS-5); collects the records of @p qtype owned by the
 * canonical name (at most DG_DNS_MAX_RRS; malformed RDATA is skipped one record at a time
 * with a reason, STYLE.md section 7); takes the negative TTL from an authority SOA.
 * The security status is left INDETERMINATE: the caller sets it from the validator.
 * @param pkt   response bytes (borrowed)
 * @param len   response length
 * @param qname expected query name (borrowed); NULL takes it from the question
 * @param qtype expected query type; 0 takes it from the question
 * @param ans   answer to fill (borrowed; initialised here, previous content is not freed);
 *              release it with dg_dns_answer_cleanup(), also on error
 * @param err   error detail with byte offset (may be NULL)
 * @return DG_OK (also for SERVFAIL and other rcodes, which set the outcome), or DG_E_PARSE
 *         with ans->outcome DG_DNS_ERROR and ans->reason set
 */
enum dg_status dg_dns_parse_answer(const uint8_t *pkt, size_t len, const char *qname,
                                   uint16_t qtype, struct dg_dns_answer *ans, struct dg_err *err);

/**
 * Is this a lookup error in the sense of RFC 7672 §2.1.1 (SPEC DNS-3, MX-1, HOST-10)?
 * @param ans answer (borrowed)
 * @return true for BOGUS or INDETERMINATE status, SERVFAIL, TIMEOUT or ERROR outcomes;
 *         false for secure/insecure data, NODATA and NXDOMAIN
 */
bool dg_dns_answer_is_error(const struct dg_dns_answer *ans);

/** @param sec status @return "secure", "insecure", "bogus", "indeterminate" (static) */
const char *dg_dns_security_str(enum dg_dns_security sec);

/** @param outcome outcome @return "answer", "nodata", "nxdomain", ... (static) */
const char *dg_dns_outcome_str(enum dg_dns_outcome outcome);

/** @param rrtype RR type @return "MX", "TLSA", ... (static), "unknown" for other codes */
const char *dg_dns_type_str(uint16_t rrtype);

#endif /* DANEGUARD_DNS_H */
