/*
 * daneguard/scan.h - the engine: check mail domains as a DANE-validating sender
 * sees them (RFC 7672), one domain or a hundred thousand, on one event loop.
 *
 * A struct dg_engine owns the DNS context (one libunbound context for the run),
 * the DANE verification context and a table of TLS probes shared by every domain
 * of the run: each (address, port, SNI, key type) is probed once, and the chain
 * it returned is re-verified per domain with that domain's reference identifiers
 * (SPEC AUTH-5), so `scan` and `check` are the same code.
 *
 * dg_engine_check() starts one domain; its callback receives the struct
 * dg_domain_result and owns it from then on.
 * Verdicts are data (STYLE section 4): a bogus domain is a successful check.
 */
#ifndef DANEGUARD_SCAN_H
#define DANEGUARD_SCAN_H

#include <daneguard/dane.h>
#include <daneguard/dns.h>
#include <daneguard/err.h>
#include <daneguard/mtasts.h>
#include <daneguard/tlsa.h>
#include <daneguard/tlsrpt.h>
#include <daneguard/util.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct event_base;
struct dg_engine;

#define DG_MAX_REASONS 12  /**< reasons kept per domain, host or address */
#define DG_MAX_ADDRS 16    /**< addresses probed per MX host (A + AAAA) */
#define DG_MAX_CHAIN 10    /**< certificates described per chain */
#define DG_ENGINE_SCAN_CONN_DELAY_MS 100 /**< conn_delay_ms that `scan` uses (STYLE 6) */

/** Domain verdicts (issue #3 contract; SPEC section 13 per-domain codes). */
enum dg_verdict {
	DG_VERDICT_DANE_OK = 0,  /**< every MX host DANE-verified, MX RRset secure */
	DG_VERDICT_DANE_PARTIAL, /**< some hosts verified, others opportunistic or down */
	DG_VERDICT_DANE_FAIL,    /**< a host with usable TLSA fails: DANE senders defer */
	DG_VERDICT_NO_DANE,      /**< no host DANE-protected (or the MX RRset is insecure) */
	DG_VERDICT_DNSSEC_BOGUS, /**< a lookup a sender needs fails validation */
	DG_VERDICT_TEMP_FAIL,    /**< lookups or connections failed temporarily */
	DG_VERDICT_NULL_MX       /**< RFC 7505 null MX: the domain accepts no mail */
};

/** Per-host (and per-address) status (issue #3 contract; SPEC section 13). */
enum dg_host_status {
	DG_HOST_VERIFIED = 0,
	DG_HOST_TLSA_MISMATCH,    /**< every authentication failure; code tells which */
	DG_HOST_STARTTLS_MISSING, /**< TLSA present, STARTTLS not offered or refused */
	DG_HOST_TLS_FAILED,       /**< TLSA present, TLS handshake failed */
	DG_HOST_TLSA_UNUSABLE,    /**< secure TLSA, all records unusable: encrypt only */
	DG_HOST_NO_TLSA,          /**< secure denial (or insecure TLSA): pre-DANE TLS */
	DG_HOST_INSECURE,         /**< address records insecure: DANE does not apply */
	DG_HOST_BOGUS,            /**< an address or TLSA lookup failed validation */
	DG_HOST_UNREACHABLE,      /**< no address, or no connection could be made */
	DG_HOST_DNS_ERROR         /**< SERVFAIL/timeout on an address or TLSA lookup */
};

/** A yes/no answer that may not have been tested (JSON true/false/null). */
enum dg_tri { DG_TRI_NULL = 0, DG_TRI_NO, DG_TRI_YES };

/** The MTA-STS policy as a sender would use it (SPEC STS-1..STS-4). */
enum dg_sts_policy_status {
	DG_STS_POLICY_ABSENT = 0,  /**< no valid _mta-sts TXT record: senders never fetch */
	DG_STS_POLICY_VALID,       /**< fetched and parsed */
	DG_STS_POLICY_FETCH_ERROR, /**< HTTP status, TLS/PKIX, redirect, timeout, oversize */
	DG_STS_POLICY_INVALID      /**< the body fails the grammar */
};

/** What a sender does with the domain's mail (issue #5 "senders"). */
enum dg_sender_action {
	DG_SEND_AUTHENTICATED = 0, /**< delivers over TLS to an authenticated server */
	DG_SEND_UNAUTHENTICATED,   /**< delivers opportunistically (or in testing mode) */
	DG_SEND_DEFER              /**< does not deliver */
};

/** Which certificate a probe asked the server for. */
enum dg_probe_key {
	DG_PROBE_KEY_ANY = 0, /**< whatever the server prefers */
	DG_PROBE_KEY_ECDSA,
	DG_PROBE_KEY_RSA
};

/** What one DNS lookup gave, for the report. Strings live in the result's arena. */
struct dg_rrset_info {
	bool done;                     /**< the lookup was made */
	const char *name;              /**< query name */
	enum dg_dns_security security;
	enum dg_dns_outcome outcome;
	uint32_t ttl_s;             /**< TTL as received (a cache may have counted it down) */
	uint32_t orig_ttl_s;        /**< TTL the zone publishes (RRSIG original TTL), 0 unknown */
	const char *canonical;         /**< after CNAMEs, NULL if none were followed */
	const char *why;               /**< why_bogus or the failure reason, NULL if none */
};

/** A list of human sentences (STYLE section 4: never a failure without its reason). */
struct dg_reasons {
	const char *text[DG_MAX_REASONS];
	size_t n;
};

/** One TLS connection attempt to one address, and the DANE verdict on its chain. */
struct dg_probe_report {
	enum dg_probe_key key;
	bool done;
	int outcome;                /**< enum dg_probe_outcome of smtp.h */
	const char *stage;          /**< where it stopped ("connect", "starttls", ...) */
	int stage_id;               /**< enum dg_smtp_probe_stage of smtp.h */
	const char *sni;            /**< SNI sent, NULL if none */
	const char *error;          /**< sentence, NULL on success */
	const char *tls_version, *cipher, *peer_key;
	struct dg_cert_info chain[DG_MAX_CHAIN];
	size_t n_chain;
	bool verified;              /**< DANE authentication succeeded */
	bool dane_checked;          /**< a DANE verification was run on this chain */
	int dane_fail;              /**< enum dg_dane_fail of dane.h */
	bool agility;               /**< only a weaker digest matched (SPEC AUTH-7) */
	int depth;                  /**< 0 EE match, >0 TA depth, -1 none */
	long matched_index;         /**< index into the host's TLSA set, -1 none */
	const char *peername;       /**< reference identifier matched (DANE-TA) */
	const char *dane_reason;    /**< DANE verification sentence */
	int days_ok;                /**< --days: 1 still verifies then, 0 not, -1 not asked */
	const char *days_reason;
	const char *transcript;     /**< -v only */
	bool absent_key_type;       /**< a forced key type the server does not have */
};

/** One address of one MX host. */
struct dg_addr_result {
	char addr[46];
	int family;                 /**< 4 or 6 */
	enum dg_host_status status;
	const char *code;           /**< SPEC section 13 host code */
	struct dg_reasons reasons;
	struct dg_probe_report probes[3]; /**< ANY, then the other key type */
	size_t n_probes;
};

/** One MX host (or the implicit MX). */
struct dg_host_result {
	const char *name;           /**< MX target as published ("." never appears) */
	const char *expanded;       /**< CNAME-expanded name, NULL if not an alias */
	uint16_t preference;
	bool implicit;              /**< the domain itself (no MX RRset, SPEC MX-8) */
	struct dg_rrset_info a, aaaa, cname, tlsa;
	const char *tlsa_base;      /**< TLSA base domain, NULL if none (SPEC HOST-5..9) */
	struct dg_tlsa_set *tlsa_set; /**< secure TLSA RRset, NULL if none (owned) */
	struct dg_tlsa_summary tlsa_summary;
	struct dg_tlsa_advice advice; /**< publishing advice for this host (owned) */
	const char *ref_ids[4];     /**< DANE-TA reference identifiers (SPEC AUTH-5) */
	size_t n_ref_ids;
	enum dg_host_status status;
	const char *code;
	struct dg_reasons reasons;
	struct dg_addr_result *addrs;
	size_t n_addrs;
	enum dg_tri mta_sts_match;  /**< matches a pattern of a valid policy (SPEC STS-6 1) */
	enum dg_tri pkix_valid;     /**< certificate PKIX-valid for the MX name (STS-6 3);
	                               tested in enforce and testing mode only */
};

/** MTA-STS of the domain (SPEC section 10). Strings live in the result's arena. */
struct dg_sts_result {
	bool checked;               /**< false with opts.mta_sts off (JSON null) */
	enum dg_sts_txt_status txt;
	const char *id;             /**< policy id of a valid TXT record, NULL otherwise */
	enum dg_sts_policy_status policy;
	bool has_policy;            /**< mode and max_age are set (policy valid) */
	enum dg_sts_mode mode;
	uint32_t max_age_s;
	const char **mx;            /**< patterns of a valid policy */
	size_t n_mx;
	struct dg_reasons reasons;
	bool from_cache;            /**< the policy is the cached one (opts.sts_cache), not fetched */
};

/** TLS-RPT of the domain (SPEC RPT-1). */
struct dg_tlsrpt_result {
	bool checked;               /**< the lookup ran (JSON null otherwise) */
	enum dg_tlsrpt_status status;
	const char **rua;
	size_t n_rua;
	struct dg_reasons reasons;
};

/** What each kind of sender does (SPEC STS-7, STS-9; section 13). */
struct dg_senders {
	enum dg_sender_action dane;    /**< a DANE sender without MTA-STS */
	enum dg_sender_action mta_sts; /**< an MTA-STS sender without DANE */
	enum dg_sender_action both;    /**< DANE where usable TLSA exists, else MTA-STS */
};

/** The result of checking one domain. */
struct dg_domain_result {
	const char *domain;         /**< normalized next-hop domain */
	enum dg_verdict verdict;
	const char *code;           /**< SPEC section 13 domain code */
	struct dg_rrset_info mx;
	bool mx_secure;
	bool null_mx;
	bool implicit_mx;
	struct dg_reasons reasons;
	struct dg_host_result *hosts;
	size_t n_hosts;
	struct dg_sts_result mta_sts;
	struct dg_tlsrpt_result tlsrpt;
	struct dg_senders senders;
	time_t checked_at;          /**< wall clock at start */
	uint64_t elapsed_ms;
	void *arena;                /**< struct dg_arena holding the strings (owned) */
};

/** Engine options; dg_engine_opts_init() sets the documented defaults. */
struct dg_engine_opts {
	struct dg_dns_opts dns;     /**< resolver options (trust anchor, forwarders, ...) */
	uint16_t port;              /**< SMTP port, 25 (SPEC HOST-8) */
	const char *helo;           /**< EHLO name */
	unsigned timeout_ms;        /**< each wait: connect, banner, command, handshake */
	bool ipv4, ipv6;            /**< address families to look up and probe */
	bool both_key_types;        /**< also probe the key type the server did not prefer */
	bool transcript;            /**< keep SMTP/TLS transcripts (-v) */
	int days;                   /**< also verify N days ahead; -1 = not asked */
	unsigned max_probes;        /**< TLS probes in flight at once */
	unsigned max_probes_per_addr; /**< TLS probes in flight to one address at once (4), so a
	                                 hoster's shared MX is never hammered; 0 means 1 */
	unsigned max_probes_per_host; /**< TLS probes in flight to the addresses of one MX host
	                                 name at once (8); 0 means 1 */
	unsigned conn_delay_ms;     /**< least time between two probe starts to one address:
	                               0 (check); scan passes DG_ENGINE_SCAN_CONN_DELAY_MS */
	bool probe_non_dane;        /**< probe hosts without DANE too (STARTTLS, chain) */
	bool dns_only;              /**< resolve only (MX, addresses, TLSA, MTA-STS): no TLS
	                               probe at all. The relay uses this: it verifies the chain
	                               of its own delivery connection. Host statuses that need a
	                               probe (verified, mismatch, ...) are then not decided and
	                               the verdict is not meaningful. */
	bool mta_sts;               /**< look up and fetch MTA-STS policies (default on) */
	const char *ca_file;        /**< PEM CAs for MTA-STS (HTTPS and MX certificates);
	                               NULL: the system store */
	uint16_t sts_port;          /**< HTTPS port of policy hosts, 443 */
	struct dg_sts_cache *sts_cache; /**< MTA-STS policy cache of a sender (borrowed; must
	                                   outlive the engine): decide by dg_sts_cache_decide(),
	                                   store fetched policies, record failed fetches (SPEC
	                                   STS-4). NULL (check, scan): always fetch, never cache */
};

/**
 * Called once per dg_engine_check(), from the event loop.
 * @param res the result (taken: free it with dg_domain_result_free())
 */
typedef void dg_engine_cb(void *arg, struct dg_domain_result *res);

/** Set defaults: port 25, timeout 10 s, both families, both key types, days -1, MTA-STS on
 *  with the system CA store. */
void dg_engine_opts_init(struct dg_engine_opts *opts);

/**
 * Create an engine on @p base.
 * @param base event loop (borrowed; must outlive the engine)
 * @param opts options (copied; strings borrowed for the engine's life)
 * @param dns a DNS context to use instead of creating one (taken), or NULL
 * @param out the engine, freed with dg_engine_free()
 * @return DG_OK, or DG_E_CONFIG (bad trust anchor, bad forwarder) with @p err filled
 */
enum dg_status dg_engine_new(struct event_base *base, const struct dg_engine_opts *opts,
			     struct dg_dns *dns, struct dg_engine **out, struct dg_err *err);

/** Free the engine; checks still running are cancelled without callbacks. NULL ok. */
void dg_engine_free(struct dg_engine *eng);

/**
 * Start checking @p domain. The callback runs once, from the event loop.
 * @param domain next-hop domain (copied); validated with dg_name_is_valid()
 * @return DG_OK, or DG_E_PARSE for a malformed name (no callback then)
 */
enum dg_status dg_engine_check(struct dg_engine *eng, const char *domain, dg_engine_cb *cb,
			       void *arg, struct dg_err *err);

/** Number of checks still running. */
size_t dg_engine_pending(const struct dg_engine *eng);

/** Number of finite buckets of a latency histogram (dg_latency_bounds_ms). */
#define DG_LATENCY_BUCKETS 10

/** Upper bounds, in milliseconds, of the finite latency buckets (ascending). */
extern const unsigned dg_latency_bounds_ms[DG_LATENCY_BUCKETS];

/** A latency histogram: per-bucket (not cumulative) counts, the last one above every bound. */
struct dg_latency_hist {
	uint64_t bucket[DG_LATENCY_BUCKETS + 1]; /**< count with ms <= bound i (and > bound i-1) */
	uint64_t count;                          /**< observations */
	uint64_t sum_ms;                         /**< their sum */
};

/**
 * Count one observation of @p ms milliseconds in @p h.
 * @param h the histogram (borrowed, updated)
 */
void dg_latency_observe(struct dg_latency_hist *h, uint64_t ms);

/** Counters of the shared probe table, for tests and progress (dg_engine_get_stats()). */
struct dg_engine_stats {
	uint64_t probe_requests;    /**< probes asked for by addresses of checks */
	uint64_t probes_created;    /**< distinct (address, port, SNI, key type) entries */
	uint64_t probes_started;    /**< TLS probes actually started (one per entry) */
	unsigned peak_running;      /**< most probes in flight at once */
	unsigned peak_per_addr;     /**< most probes in flight to one address at once */
	unsigned peak_per_host;     /**< most probes in flight to one MX host's addresses */
	uint64_t min_addr_gap_ms;   /**< shortest time between two probe starts to one
	                               address; UINT64_MAX if no address was probed twice */
	uint64_t checks_started;    /**< dg_engine_check() calls accepted */
	struct dg_latency_hist dns_ms; /**< MX lookup of each check, from start to answer */
	struct dg_latency_hist tls_ms; /**< first TLS probe of each address, asked to answered
	                                  (queueing behind per-address limits included) */
};

/**
 * Copy the engine's counters.
 * @param eng the engine (borrowed)
 * @param out filled
 */
void dg_engine_get_stats(const struct dg_engine *eng, struct dg_engine_stats *out);

/* ---- the scan input: one domain per line (scan_input.c) ------------------------------ */

#define DG_SCAN_LINE_MAX 1024 /**< longest input line kept; longer lines are malformed */

/** What dg_scan_input_feed() found. */
enum dg_scan_line_kind {
	DG_SCAN_LINE_NONE = 0,  /**< no complete line yet: feed more (or finish at EOF) */
	DG_SCAN_LINE_DOMAIN,    /**< a valid domain, normalized, in @c domain */
	DG_SCAN_LINE_SKIP,      /**< a blank line or a # comment */
	DG_SCAN_LINE_MALFORMED  /**< not a domain: @c why says why, @c domain the text shown */
};

/** One line of the input, as dg_scan_input_feed() hands it out. */
struct dg_scan_line {
	enum dg_scan_line_kind kind;
	uint64_t lineno;                   /**< 1-based line number */
	char domain[DG_NAME_BUF_SIZE + 64]; /**< normalized domain, or the escaped bad text */
	char why[160];                     /**< reason for DG_SCAN_LINE_MALFORMED */
};

/** Line reader state (embedded; dg_scan_input_init()). Holds one line at most. */
struct dg_scan_input {
	char buf[DG_SCAN_LINE_MAX];
	size_t len;      /**< bytes of the current line kept */
	bool overlong;   /**< the current line passed DG_SCAN_LINE_MAX */
	uint64_t lineno; /**< lines completed so far */
};

/** Start reading at line 1. */
void dg_scan_input_init(struct dg_scan_input *in);

/**
 * Consume input bytes up to and including the first line end ("\n"; a "\r" before it is
 * dropped). Pure: no I/O. Leading/trailing blanks are ignored; "#" starts a comment line
 * (a "#" after a domain starts a trailing comment); a trailing dot is accepted.
 * @param p bytes (borrowed), @p len of them
 * @param out the line found, kind DG_SCAN_LINE_NONE when @p p ended inside a line
 * @return the number of bytes consumed (<= @p len)
 */
size_t dg_scan_input_feed(struct dg_scan_input *in, const uint8_t *p, size_t len,
			  struct dg_scan_line *out);

/**
 * At end of input: hand out a last line without a line end, if any.
 * @return true when @p out holds a line
 */
bool dg_scan_input_finish(struct dg_scan_input *in, struct dg_scan_line *out);

/* ---- the resume state of a scan (scan_state.c) ------------------------------------- */

struct dg_scan_state;

/**
 * Load the state file of an interrupted scan: which input lines are finished. Memory
 * holds a watermark (every line up to it is finished) and the finished lines above it,
 * which are few: results complete out of order only within the concurrency window.
 * @param path state file (copied)
 * @param run_id out: the history run it belongs to (0: none)
 * @param out the state, appended to from now on; dg_scan_state_free()
 * @return DG_OK, DG_E_NOTFOUND (no such file: start a new one), DG_E_PARSE, DG_E_IO
 */
enum dg_status dg_scan_state_load(const char *path, int64_t *run_id,
				  struct dg_scan_state **out, struct dg_err *err);

/**
 * Create (truncate) a state file for a new scan, header written and fsync'd.
 * @param run_id history run of the scan, 0 for none
 */
enum dg_status dg_scan_state_create(const char *path, int64_t run_id,
				    struct dg_scan_state **out, struct dg_err *err);

/** true if input line @p lineno was finished by an earlier attempt. */
bool dg_scan_state_is_done(const struct dg_scan_state *s, uint64_t lineno);

/** Lines the loaded file marked finished. */
uint64_t dg_scan_state_loaded(const struct dg_scan_state *s);

/** Mark line @p lineno finished (buffered until dg_scan_state_sync()). */
void dg_scan_state_mark(struct dg_scan_state *s, uint64_t lineno);

/** Append the buffered marks and fsync. @return DG_OK or DG_E_IO naming the file */
enum dg_status dg_scan_state_sync(struct dg_scan_state *s, struct dg_err *err);

/** The scan completed: remove the file. @return DG_OK or DG_E_IO */
enum dg_status dg_scan_state_remove(struct dg_scan_state *s, struct dg_err *err);

/** Close (without syncing). NULL ok. */
void dg_scan_state_free(struct dg_scan_state *s);

/** Free a result handed to a dg_engine_cb. NULL ok. */
void dg_domain_result_free(struct dg_domain_result *res);

/**
 * What a DANE sender verifies a chain of MX host @p h against: its usable TLSA RRset, the TLSA
 * base domain (SNI, primary reference identifier) and the other reference identifiers of SPEC
 * AUTH-5. Used by the engine's probes and by the relay's delivery connections alike.
 * @param h  host (borrowed; @p in points into it, so it must outlive @p in)
 * @param in filled (time 0: verify now)
 */
void dg_host_dane_input(const struct dg_host_result *h, struct dg_dane_input *in);

/** Stable names used in JSON: "dane-ok", "verified", "ecdsa", ... */
const char *dg_verdict_str(enum dg_verdict v);
const char *dg_host_status_str(enum dg_host_status s);
const char *dg_probe_key_str(enum dg_probe_key k);
/** "valid", "absent", "fetch-error", "invalid" */
const char *dg_sts_policy_status_str(enum dg_sts_policy_status s);
/** "deliver-authenticated", "deliver-unauthenticated", "defer" */
const char *dg_sender_action_str(enum dg_sender_action a);

#endif /* DANEGUARD_SCAN_H */
