/*
 * daneguard/publish.h - publishing TLSA records: RFC 2136 DNS UPDATE signed with TSIG
 * (RFC 8945), and the authoritative check that every name server serves the result.
 *
 * Three parts, all at the tlsa/dns layer (STYLE.md section 1):
 *
 *   - TSIG keys: a pure parser of the BIND/Knot key file format
 *     (key "name" { algorithm hmac-sha256; secret "base64"; };) and of the command-line
 *     form "name:algorithm:secret".
 *   - UPDATE: dg_publish_build_update() builds and signs one UPDATE that replaces the TLSA
 *     RRset at _PORT._tcp.HOST (delete the RRset, add the records, one message, SPEC PUB-6);
 *     dg_publish_check_reply() verifies the reply's TSIG and maps its rcode to a clear error;
 *     dg_publish_update_start() does both over TCP to the zone's primary on a libevent
 *     event_base, with a deadline.
 *   - Authoritative check: dg_publish_check_start() finds the zone's NS set and their
 *     addresses through a validating struct dg_dns, asks every address directly (RD=0, DO=1,
 *     UDP then TCP on TC) for SOA, DNSKEY and the TLSA RRset, and reports per server what it
 *     serves, the TTL, whether the RRSIGs verify against the validated DNSKEY set, and
 *     whether the RRset equals the desired one. "Published" means every address of every
 *     name server serves exactly the desired RRset with valid signatures.
 *
 * Ownership: pointer parameters are borrowed unless said otherwise; results handed to
 * callbacks are either borrowed for the call or taken by the receiver, as documented. The
 * TSIG secret never appears in messages or logs (STYLE.md section 8).
 *
 * See docs/internals/publish.md for the states, limits and error messages.
 */
#ifndef DANEGUARD_PUBLISH_H
#define DANEGUARD_PUBLISH_H

#include <daneguard/dns.h>
#include <daneguard/err.h>
#include <daneguard/tlsa.h>
#include <daneguard/util.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct event_base;

/* ---- TSIG keys (publish_tsig.c), pure parsers ------------------------------------------ */

/** Largest key file read, in bytes. */
#define DG_TSIG_FILE_MAX 65536
/** Longest decoded TSIG secret, in octets (a 1024-bit HMAC key). */
#define DG_TSIG_SECRET_MAX 128
/** Longest algorithm name kept ("hmac-sha512"). */
#define DG_TSIG_ALG_MAX 32

/** A TSIG key. Embedded; holds no heap memory; wipe it with dg_tsig_key_cleanup(). */
struct dg_tsig_key {
	char name[DG_NAME_BUF_SIZE];        /**< key name, lowercase, no trailing dot */
	char algorithm[DG_TSIG_ALG_MAX];    /**< "hmac-sha256", ... (lowercase) */
	uint8_t secret[DG_TSIG_SECRET_MAX]; /**< decoded secret */
	size_t secret_len;                  /**< octets in secret, 1..DG_TSIG_SECRET_MAX */
};

/**
 * Parse a BIND/Knot key file: one or more blocks
 * `key "NAME" { algorithm ALG; secret "BASE64"; };` with #, // and C comments. The name may be
 * unquoted; the secret may be split over several quoted strings. Algorithms: hmac-md5
 * (also hmac-md5.sig-alg.reg.int), hmac-sha1, hmac-sha256, hmac-sha384, hmac-sha512, any case.
 * @param p         file contents (borrowed), at most DG_TSIG_FILE_MAX octets
 * @param len       octets in @p p
 * @param want_name key to pick when the file has several (borrowed), NULL for the first
 * @param out       key to fill (borrowed); zeroed on failure
 * @param err       error detail with byte offset (may be NULL); the secret is never quoted
 * @return DG_OK, DG_E_PARSE (syntax, bad base64, missing field, unknown algorithm,
 *         key not found), DG_E_LIMIT (file or secret too large)
 */
enum dg_status dg_tsig_key_parse(const uint8_t *p, size_t len, const char *want_name,
                                 struct dg_tsig_key *out, struct dg_err *err);

/**
 * Parse the command-line form "NAME:ALGORITHM:SECRET" (or "NAME:SECRET", hmac-sha256).
 * @param s   text (borrowed)
 * @param out key to fill (borrowed); zeroed on failure
 * @param err error detail (may be NULL)
 * @return DG_OK, DG_E_PARSE, DG_E_LIMIT
 */
enum dg_status dg_tsig_key_parse_arg(const char *s, struct dg_tsig_key *out, struct dg_err *err);

/**
 * Read and parse a key file (dg_tsig_key_parse()).
 * @param path      file name (borrowed)
 * @param want_name key name or NULL (borrowed)
 * @param out       key to fill (borrowed)
 * @param err       error detail naming @p path (may be NULL)
 * @return DG_OK, DG_E_IO, DG_E_PARSE, DG_E_LIMIT
 */
enum dg_status dg_tsig_key_load(const char *path, const char *want_name, struct dg_tsig_key *out,
                                struct dg_err *err);

/**
 * Zero a key, secret included. @param key key (borrowed), may be NULL
 */
void dg_tsig_key_cleanup(struct dg_tsig_key *key);

/* ---- UPDATE message (publish_update.c) ------------------------------------------------- */

/** Most records added by one UPDATE (the TLSA set cap). */
#define DG_PUBLISH_MAX_RRS DG_TLSA_SET_MAX

/** What one UPDATE changes. Strings and sets are borrowed for the call. */
struct dg_publish_change {
	const char *zone;              /**< zone to update, e.g. "example.net" */
	const char *host;              /**< TLSA base domain (MX host), e.g. "mx1.example.net" */
	uint16_t port;                 /**< 25 */
	uint32_t ttl_s;                /**< TTL of the added records */
	const struct dg_tlsa_set *set; /**< the records that replace the RRset (1..64) */
	const struct dg_tlsa_set *prereq_current; /**< if not NULL: RFC 2136 §2.4.2 prerequisite
	                                               that the RRset is exactly this now */
	bool prereq_absent; /**< RFC 2136 §2.4.3 prerequisite: no TLSA RRset exists now */
};

/** A built, signed UPDATE and what is needed to verify its reply. Embedded. */
struct dg_publish_msg {
	uint8_t *wire; /**< message (heap) */
	size_t len;
	uint16_t id;  /**< DNS message id */
	uint8_t *mac; /**< request MAC (TSIG MAC field, with its 2-octet length) */
	size_t mac_len;
	char owner[DG_NAME_BUF_SIZE]; /**< "_25._tcp.mx1.example.net" */
	char zone[DG_NAME_BUF_SIZE];  /**< normalized zone */
};

/**
 * Build and sign an UPDATE: zone section @c zone SOA; optional prerequisites; update
 * section "delete all TLSA at owner" (class ANY) then one add per record (class IN, ttl).
 * Signed with ldns_pkt_tsig_sign (fudge 300 s, time now). Records with empty association
 * data are refused. The owner must be at or below the zone.
 * @param ch  the change (borrowed)
 * @param key TSIG key (borrowed)
 * @param id  message id
 * @param out message to fill (borrowed); release with dg_publish_msg_cleanup(), also on error
 * @param err error detail (may be NULL)
 * @return DG_OK, DG_E_CONFIG (bad name, owner outside zone, empty set, empty data),
 *         DG_E_LIMIT, DG_E_INTERNAL (ldns failure)
 */
enum dg_status dg_publish_build_update(const struct dg_publish_change *ch,
                                       const struct dg_tsig_key *key, uint16_t id,
                                       struct dg_publish_msg *out, struct dg_err *err);

/** Release a message. @param msg message (borrowed), may be NULL */
void dg_publish_msg_cleanup(struct dg_publish_msg *msg);

/** RFC 2136 / RFC 8945 codes that UPDATE replies carry. */
enum dg_publish_rcode {
	DG_PUBLISH_RC_NOERROR = 0,
	DG_PUBLISH_RC_FORMERR = 1,
	DG_PUBLISH_RC_SERVFAIL = 2,
	DG_PUBLISH_RC_NXDOMAIN = 3,
	DG_PUBLISH_RC_NOTIMP = 4,
	DG_PUBLISH_RC_REFUSED = 5,
	DG_PUBLISH_RC_YXDOMAIN = 6,
	DG_PUBLISH_RC_YXRRSET = 7,
	DG_PUBLISH_RC_NXRRSET = 8,
	DG_PUBLISH_RC_NOTAUTH = 9,
	DG_PUBLISH_RC_NOTZONE = 10,
	DG_PUBLISH_TSIG_BADSIG = 16,
	DG_PUBLISH_TSIG_BADKEY = 17,
	DG_PUBLISH_TSIG_BADTIME = 18,
	DG_PUBLISH_TSIG_BADTRUNC = 22
};

/**
 * Name an rcode or TSIG error: "NOERROR", "REFUSED", "BADKEY", ..., "RCODE<n>".
 * @param code value
 * @return static string
 */
const char *dg_publish_rcode_str(int code);

/** The server's verdict on an UPDATE. */
struct dg_publish_result {
	int rcode;       /**< reply rcode, -1 if no reply was read */
	int tsig_error;  /**< TSIG error field of the reply, 0 if none or no TSIG */
	bool signed_ok;  /**< the reply's TSIG verified with the key and request MAC */
	char server[64]; /**< "ADDR@PORT" */
};

/**
 * Check an UPDATE reply (pure: no I/O): id and opcode match the request, the TSIG RR is
 * present and verifies (ldns_pkt_tsig_verify), and the rcode is NOERROR. Failures give one
 * line each, e.g. "TSIG key update.example rejected by 127.0.0.1@53: BADKEY",
 * "update of zone example.net refused by 127.0.0.1@53 (REFUSED)".
 * @param p      reply (borrowed)
 * @param len    octets in @p p
 * @param req    the request it answers (borrowed)
 * @param key    the key that signed it (borrowed)
 * @param server "ADDR@PORT" for messages (borrowed)
 * @param res    result to fill (borrowed), may be NULL
 * @param err    error detail (may be NULL)
 * @return DG_OK; DG_E_PROTO (TSIG rejected, bad or missing TSIG, NOTAUTH, NOTZONE, FORMERR,
 *         prerequisite failed, id mismatch), DG_E_CONFIG (REFUSED, NOTIMP), DG_E_DNS_TEMP
 *         (SERVFAIL), DG_E_PARSE (not a DNS message)
 */
enum dg_status dg_publish_check_reply(const uint8_t *p, size_t len,
                                      const struct dg_publish_msg *req,
                                      const struct dg_tsig_key *key, const char *server,
                                      struct dg_publish_result *res, struct dg_err *err);

/* ---- sending an UPDATE (publish_send.c) ------------------------------------------------ */

struct dg_publish_op;

/**
 * Called once with the outcome of dg_publish_update_start(), from the event loop. The
 * operation is released after the callback returns; do not cancel it from inside.
 * @param arg argument given at start (borrowed)
 * @param st  DG_OK when the server applied the update, else the error class
 * @param res result (borrowed for the call)
 * @param err error detail (borrowed for the call)
 */
typedef void dg_publish_update_cb(void *arg, enum dg_status st, const struct dg_publish_result *res,
                                  const struct dg_err *err);

/**
 * Build, sign and send one UPDATE over TCP to @p addr @p port (non-blocking, on @p base) and
 * check the reply with dg_publish_check_reply().
 * @param base       event base (borrowed; must outlive the operation)
 * @param addr       IPv4 or IPv6 address of the primary (borrowed, copied)
 * @param port       its port (53)
 * @param ch         change (borrowed for the call)
 * @param key        TSIG key (borrowed, copied)
 * @param timeout_ms deadline for connect + send + reply
 * @param cb         callback (borrowed)
 * @param arg        its argument (borrowed)
 * @param out        receives the operation for dg_publish_op_cancel() (may be NULL)
 * @param err        error detail (may be NULL)
 * @return DG_OK (the callback will fire), or an error from building or a bad address (no
 *         callback then)
 */
enum dg_status dg_publish_update_start(struct event_base *base, const char *addr, uint16_t port,
                                       const struct dg_publish_change *ch,
                                       const struct dg_tsig_key *key, unsigned timeout_ms,
                                       dg_publish_update_cb *cb, void *arg,
                                       struct dg_publish_op **out, struct dg_err *err);

/**
 * Cancel an operation: its callback never fires. @param op operation (taken), may be NULL
 */
void dg_publish_op_cancel(struct dg_publish_op *op);

/* ---- authoritative check (publish_auth.c, publish_serve.c) ------------------------------ */

/** Most name servers and addresses looked at (STYLE.md section 7). */
#define DG_PUBLISH_MAX_NS 16
#define DG_PUBLISH_MAX_ADDRS_PER_NS 8
#define DG_PUBLISH_MAX_SERVERS 32

/** What one authoritative server address serves. */
enum dg_publish_srv_state {
	DG_PUBLISH_SRV_OK = 0,          /**< desired RRset, signatures valid */
	DG_PUBLISH_SRV_DIFFERENT,       /**< serves another RRset (lagging or stale) */
	DG_PUBLISH_SRV_UNSIGNED,        /**< the RRset has no RRSIG */
	DG_PUBLISH_SRV_BAD_SIGNATURE,   /**< no RRSIG verifies with the zone's DNSKEY set */
	DG_PUBLISH_SRV_DNSKEY_MISMATCH, /**< its DNSKEY set differs from the validated one */
	DG_PUBLISH_SRV_NOT_AUTH,        /**< answer without AA, or REFUSED/NOTAUTH */
	DG_PUBLISH_SRV_ERROR,           /**< SERVFAIL, malformed answer */
	DG_PUBLISH_SRV_TIMEOUT          /**< no answer in time */
};

/** Per-address report. Strings and the set are owned by the report. */
struct dg_publish_server {
	char ns[DG_NAME_BUF_SIZE]; /**< name server name */
	char addr[48];             /**< its address */
	enum dg_publish_srv_state state;
	uint32_t soa_serial; /**< SOA serial it serves (0 if unknown) */
	bool has_soa;
	struct dg_tlsa_set *served; /**< TLSA records served (empty set for NODATA/NXDOMAIN) */
	uint32_t ttl_s;             /**< TTL of the served RRset */
	bool has_rrsig;             /**< RRSIGs over the TLSA RRset present */
	bool rrsig_valid;           /**< one of them verifies with the zone's DNSKEY set */
	bool dnskey_match;          /**< the DNSKEY RRset it serves equals the validated one */
	bool matches;               /**< served set equals the desired set */
	char reason[512];           /**< one sentence when state != OK */
};

/** The whole check. Owned by the callback's receiver: dg_publish_report_free(). */
struct dg_publish_report {
	char zone[DG_NAME_BUF_SIZE];
	char owner[DG_NAME_BUF_SIZE];
	struct dg_publish_server srv[DG_PUBLISH_MAX_SERVERS];
	size_t n_srv;
	size_t n_ok;           /**< servers in state OK */
	bool published;        /**< n_srv > 0 and every server OK */
	enum dg_status status; /**< DG_OK, or why the check could not run (NS/DNSKEY lookup) */
	char reason[512];      /**< when status != DG_OK or not published: one sentence */
};

/** Options of dg_publish_check_start(). Strings and the set are borrowed for the call. */
struct dg_publish_check_opts {
	const char *zone;               /**< zone holding the TLSA RRset */
	const char *host;               /**< TLSA base domain */
	uint16_t port;                  /**< service port (25) */
	const struct dg_tlsa_set *want; /**< desired RRset (copied) */
	uint16_t dns_port;              /**< port of the authoritative servers (53) */
	unsigned timeout_ms;            /**< per query to a server */
};

struct dg_publish_check;

/**
 * Called once with the report, from the event loop.
 * @param arg argument given at start (borrowed)
 * @param rep report (taken: free it with dg_publish_report_free())
 */
typedef void dg_publish_check_cb(void *arg, struct dg_publish_report *rep);

/**
 * Start the authoritative check (SPEC PUB-6: the new association must be served everywhere
 * before the key changes). NS and DNSKEY of the zone and each NS's A/AAAA come from @p dns
 * and must validate as secure; the servers are then asked directly.
 * @param base event base (borrowed; must outlive the check)
 * @param dns  validating DNS context (borrowed; must outlive the check)
 * @param opts options (borrowed; copied)
 * @param cb   callback (borrowed)
 * @param arg  its argument (borrowed)
 * @param out  receives the check for dg_publish_check_cancel() (may be NULL); invalid
 *             once the callback has fired
 * @param err  error detail (may be NULL)
 * @return DG_OK (callback will fire), DG_E_CONFIG (bad names)
 */
enum dg_status dg_publish_check_start(struct event_base *base, struct dg_dns *dns,
                                      const struct dg_publish_check_opts *opts,
                                      dg_publish_check_cb *cb, void *arg,
                                      struct dg_publish_check **out, struct dg_err *err);

/** Cancel a check; no callback fires. @param chk check (taken), may be NULL */
void dg_publish_check_cancel(struct dg_publish_check *chk);

/** Free a report. @param rep report (taken), may be NULL */
void dg_publish_report_free(struct dg_publish_report *rep);

/** @param s state @return "ok", "different", "unsigned", "bad-signature",
 *  "dnskey-mismatch", "not-authoritative", "error", "timeout" (static) */
const char *dg_publish_srv_state_str(enum dg_publish_srv_state s);

/**
 * Analyse one server's answers (pure: no I/O). Used by the check; exposed for tests.
 * @param soa      SOA answer (borrowed), may be NULL
 * @param soa_len  its length
 * @param key      DNSKEY answer (borrowed), may be NULL
 * @param key_len  its length
 * @param tlsa     TLSA answer (borrowed)
 * @param tlsa_len its length
 * @param zone     zone name (borrowed)
 * @param owner    TLSA owner name (borrowed)
 * @param validated_keys DNSKEY RDATA of the validated set: array of @p n_keys answers'
 *                 raw rdata (borrowed)
 * @param n_keys   records in @p validated_keys
 * @param want     desired set (borrowed)
 * @param now      validation time for RRSIG inception/expiration
 * @param out      server entry to fill (its ns/addr are kept; borrowed)
 */
void dg_publish_serve_analyse(const uint8_t *soa, size_t soa_len, const uint8_t *key,
                              size_t key_len, const uint8_t *tlsa, size_t tlsa_len,
                              const char *zone, const char *owner,
                              const struct dg_dns_rr *validated_keys, size_t n_keys,
                              const struct dg_tlsa_set *want, time_t now,
                              struct dg_publish_server *out);

/**
 * Whether two TLSA sets hold the same records, in any order (duplicates count once).
 * @param a set (borrowed), NULL is empty
 * @param b set (borrowed), NULL is empty
 * @return true when equal as sets
 */
bool dg_publish_tlsa_set_equal(const struct dg_tlsa_set *a, const struct dg_tlsa_set *b);

#endif /* DANEGUARD_PUBLISH_H */
