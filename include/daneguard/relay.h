/*
 * daneguard/relay.h - public API of the relay module (lib/relay, docs/internals/relay-conf.md).
 *
 * `daneguard relay` is an outbound smarthost that delivers each message only as the
 * destination's DANE / MTA-STS policy allows (issue 8). This header holds its pure parsing
 * layer, in three sections:
 *   - the configuration (struct dg_relay_conf): one key table drives both the config file
 *     (`key = value` lines) and the command line (`--key value`, through dg_relay_conf_set());
 *   - the per-domain TLS policy table, in Postfix smtp_tls_policy_maps source syntax
 *     (SPEC 8 FAIL-3, FAIL-5; SPEC 10 STS-7, STS-9);
 *   - the client networks allowed to relay (struct dg_cidr).
 * The parsers do no logging; only the *_load() functions read a file.
 */
#ifndef DANEGUARD_RELAY_H
#define DANEGUARD_RELAY_H

#include <daneguard/err.h>
#include <daneguard/tlsrpt.h>
#include <daneguard/util.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sockaddr;

/* ------------------------------------------------------------------------ */
/* Client networks (relay_cidr.c)                                           */
/* ------------------------------------------------------------------------ */

/** One network: an address family, the address (network byte order) and a prefix length. */
struct dg_cidr {
	int family;       /**< AF_INET or AF_INET6 */
	uint8_t addr[16]; /**< 4 bytes used for AF_INET; bits beyond prefix are zero */
	unsigned prefix;  /**< 0..32 (AF_INET) or 0..128 (AF_INET6) */
};

/** Buffer size for dg_cidr_format(): an IPv6 address, '/', three digits and the NUL. */
#define DG_CIDR_STR_SIZE 50

/**
 * Parse "ADDR/PREFIX" or a bare "ADDR" (meaning /32 or /128). IPv6 addresses are written
 * without brackets. An address with host bits set beyond the prefix is refused, naming the
 * network it probably meant ("10.1.2.3/8: host bits set beyond /8 (did you mean 10.0.0.0/8?)").
 * @param text NUL-terminated text (borrowed)
 * @param out  result, written only on success (borrowed)
 * @param err  error detail naming @p text (may be NULL)
 * @return DG_OK or DG_E_PARSE
 */
enum dg_status dg_cidr_parse(const char *text, struct dg_cidr *out, struct dg_err *err);

/**
 * Does the client address @p sa fall into any network of @p list? An IPv4-mapped IPv6
 * client (::ffff:192.0.2.1) matches IPv4 entries as the IPv4 address it carries.
 * @param list networks (borrowed); may be NULL when n is 0
 * @param n    number of networks
 * @param sa   client address, struct sockaddr_in or sockaddr_in6 (borrowed); NULL or
 *             another family never matches
 * @return true if some network contains the address
 */
bool dg_cidr_match(const struct dg_cidr *list, size_t n, const struct sockaddr *sa);

/**
 * Write "ADDR/PREFIX" for logs and --help.
 * @param c    network (borrowed)
 * @param out  destination (borrowed), always NUL-terminated if size > 0
 * @param size size of @p out; DG_CIDR_STR_SIZE always suffices
 * @return @p out
 */
char *dg_cidr_format(const struct dg_cidr *c, char *out, size_t size);

/* ------------------------------------------------------------------------ */
/* TLS policy table (relay_policy.c)                                        */
/* ------------------------------------------------------------------------ */

/**
 * Per-domain TLS security level (Postfix smtp_tls_security_level names). What each one means
 * for a delivery is in docs/internals/relay-conf.md.
 */
enum dg_relay_level {
	DG_RELAY_LEVEL_DEFAULT = 0, /**< no entry: DANE where usable TLSA, else MTA-STS, else may
	                                 (SPEC 10 STS-9) */
	DG_RELAY_LEVEL_NONE,        /**< cleartext only */
	DG_RELAY_LEVEL_MAY,         /**< STARTTLS when offered, unauthenticated */
	DG_RELAY_LEVEL_ENCRYPT,     /**< TLS mandatory, unauthenticated */
	DG_RELAY_LEVEL_DANE,        /**< DANE where usable TLSA, else may (no MTA-STS) */
	DG_RELAY_LEVEL_DANE_ONLY    /**< DANE mandatory; no usable TLSA: defer */
};

/** Enforce or only log (SPEC 8 FAIL-3 audit mode); per table entry or global. */
enum dg_relay_mode {
	DG_RELAY_MODE_INHERIT = 0, /**< table entry without mode=: the global --mode applies */
	DG_RELAY_MODE_ENFORCE,     /**< defer what the policy does not allow */
	DG_RELAY_MODE_LOG_ONLY     /**< decide as enforce, log "would defer", deliver anyway */
};

/** Largest policy table file accepted by dg_relay_policy_map_load() (bytes). */
#define DG_RELAY_POLICY_FILE_MAX (64u * 1024u * 1024u)
/** Most entries in one policy table. */
#define DG_RELAY_POLICY_ENTRIES_MAX 1000000u
/** Longest logical line (continuations joined) of a policy table (bytes). */
#define DG_RELAY_POLICY_LINE_MAX 8192u

/** One table entry. */
struct dg_relay_policy_entry {
	const char *domain;        /**< lowercase, no trailing dot, no leading '.' (owned by the
	                                map, valid until dg_relay_policy_map_free()) */
	bool subdomains;           /**< key was ".domain": matches every subdomain, not domain */
	enum dg_relay_level level; /**< never DG_RELAY_LEVEL_DEFAULT */
	enum dg_relay_mode mode;   /**< from mode=, else DG_RELAY_MODE_INHERIT */
	unsigned line;             /**< line of the table where the entry starts */
};

/** A parsed policy table (opaque). */
struct dg_relay_policy_map;

/**
 * Parse a policy table: lines `KEY LEVEL [NAME=VALUE ...]`, '#' comment lines, blank lines,
 * and lines starting with whitespace that continue the previous line. KEY is a domain or
 * ".domain"; "[host]" and "host:port" keys are refused (daneguard keys policy by next-hop
 * domain). LEVEL is none, may, encrypt, dane or dane-only; verify, secure and fingerprint are
 * refused as not supported. mode=enforce|log-only is read; every other NAME=VALUE is ignored
 * and counted in @p n_warnings. A duplicate KEY is an error. Pure: no I/O, no logging.
 * @param text       table text (borrowed); may be NULL if len is 0; need not end in NUL
 * @param len        bytes of @p text (at most DG_RELAY_POLICY_FILE_MAX)
 * @param source     names the input in messages ("/etc/daneguard/policy") (borrowed)
 * @param out        receives the new map; the caller frees it with
 *                   dg_relay_policy_map_free(); NULL after an error
 * @param n_warnings receives the number of ignored attributes (may be NULL)
 * @param err        "SOURCE:LINE: ..." for the first error (may be NULL)
 * @return DG_OK, DG_E_PARSE or DG_E_LIMIT (file too large, too many entries, line too long)
 */
enum dg_status dg_relay_policy_map_parse(const char *text, size_t len, const char *source,
                                         struct dg_relay_policy_map **out, size_t *n_warnings,
                                         struct dg_err *err);

/**
 * Read a policy table file (at most DG_RELAY_POLICY_FILE_MAX bytes) and parse it as
 * dg_relay_policy_map_parse(), the path naming the source.
 * @param path file (borrowed)
 * @param out  receives the new map (the caller frees it); NULL after an error
 * @param n_warnings receives the number of ignored attributes (may be NULL)
 * @param err  error detail (may be NULL)
 * @return DG_OK, DG_E_IO, DG_E_NOTFOUND, DG_E_LIMIT or DG_E_PARSE
 */
enum dg_status dg_relay_policy_map_load(const char *path, struct dg_relay_policy_map **out,
                                        size_t *n_warnings, struct dg_err *err);

/**
 * Find the entry for a next-hop domain: the exact entry first, then ".parent" entries from
 * the nearest parent up ("a.b.example" tries a.b.example, .b.example, .example).
 * @param m      map (borrowed); NULL finds nothing
 * @param domain next-hop domain, any case, optional trailing dot (borrowed)
 * @return the entry (borrowed from @p m), or NULL when no entry applies or @p domain is not
 *         a valid name
 */
const struct dg_relay_policy_entry *dg_relay_policy_lookup(const struct dg_relay_policy_map *m,
                                                           const char *domain);

/** @param m map (borrowed); NULL counts 0 @return number of entries */
size_t dg_relay_policy_map_count(const struct dg_relay_policy_map *m);

/**
 * The entries in table order of domain (for listing and tests).
 * @param m map (borrowed)
 * @param i index below dg_relay_policy_map_count()
 * @return entry @p i (borrowed from @p m), or NULL when @p i is out of range
 */
const struct dg_relay_policy_entry *dg_relay_policy_map_get(const struct dg_relay_policy_map *m,
                                                            size_t i);

/** Free a map and its entries. @param m map (taken), may be NULL */
void dg_relay_policy_map_free(struct dg_relay_policy_map *m);

/** @param l level @return "default", "none", "may", "encrypt", "dane", "dane-only" (static) */
const char *dg_relay_level_str(enum dg_relay_level l);

/** @param m mode @return "inherit", "enforce" or "log-only" (static) */
const char *dg_relay_mode_str(enum dg_relay_mode m);

/* ------------------------------------------------------------------------ */
/* Configuration (relay_conf.c)                                             */
/* ------------------------------------------------------------------------ */

/** Largest configuration file (bytes). */
#define DG_RELAY_CONF_FILE_MAX (256u * 1024u)
/** Longest configuration line (bytes, without the newline). */
#define DG_RELAY_CONF_LINE_MAX 4096u
/** Longest value (a path, a name, an address), bytes. */
#define DG_RELAY_CONF_VALUE_MAX 1024u
/** Most listen addresses. */
#define DG_RELAY_LISTEN_MAX 16
/** Most allow networks. */
#define DG_RELAY_ALLOW_MAX 256
/** Most resolvers. */
#define DG_RELAY_RESOLVER_MAX 8
/** Most client certificate fingerprints. */
#define DG_RELAY_CLIENT_CERT_MAX 64
/** Longest dsn-from address (bytes). */
#define DG_RELAY_ADDR_MAX 320
/** Buffer size for an IP address literal and its NUL (INET6_ADDRSTRLEN). */
#define DG_RELAY_IP_SIZE 46

/** An IP address literal and a port: a listen, metrics or resolver address. */
struct dg_relay_hostport {
	char ip[DG_RELAY_IP_SIZE]; /**< numeric IPv4 or IPv6 address, without brackets */
	int family;                /**< AF_INET or AF_INET6 */
	uint16_t port;             /**< 1..65535 */
};

/**
 * The relay's configuration. Embedded by the caller: dg_relay_conf_init() sets the defaults,
 * dg_relay_conf_cleanup() frees the strings. Paths are heap strings owned by the struct (NULL
 * when not set); everything else is inline.
 */
struct dg_relay_conf {
	struct dg_relay_hostport listen[DG_RELAY_LISTEN_MAX]; /**< default 127.0.0.1:10025 */
	size_t n_listen;
	char *queue_dir;                          /**< required */
	struct dg_cidr allow[DG_RELAY_ALLOW_MAX]; /**< default 127.0.0.0/8 and ::1/128 */
	size_t n_allow;
	enum dg_relay_mode mode; /**< ENFORCE (default) or LOG_ONLY */
	struct dg_relay_hostport resolver[DG_RELAY_RESOLVER_MAX]; /**< none: recursion from the root */
	size_t n_resolver;
	char *trust_anchor;          /**< DNSSEC trust anchor file, or NULL */
	char *ca_file;               /**< PKIX CA bundle for MTA-STS, or NULL */
	char *policy_map;            /**< TLS policy table file, or NULL */
	char helo[DG_NAME_BUF_SIZE]; /**< default: gethostname(), else "localhost" */
	uint64_t max_message_bytes;  /**< default 32 MiB */
	uint32_t max_recipients;     /**< default 100 */
	uint32_t queue_lifetime_s;   /**< default 5 days */
	uint32_t retry_min_s;        /**< default 5 minutes */
	uint32_t retry_max_s;        /**< default 1 hour */
	uint32_t dest_concurrency;   /**< per destination domain, default 4 */
	uint32_t max_deliveries;     /**< global, default 32 */
	uint32_t timeout_s;          /**< per network wait, default 30 */
	char *tls_cert;              /**< STARTTLS for receiving, or NULL */
	char *tls_key;               /**< its key, or NULL */
	uint8_t client_cert_sha256[DG_RELAY_CLIENT_CERT_MAX][32]; /**< allowed client certs */
	size_t n_client_cert;
	struct dg_relay_hostport metrics; /**< valid when has_metrics */
	bool has_metrics;
	enum dg_log_level log_level;          /**< default DG_LOG_INFO */
	char *pid_file;                       /**< or NULL */
	char dsn_from[DG_RELAY_ADDR_MAX + 1]; /**< "" until set or dg_relay_conf_finish() */
	char *sts_cache;                      /**< NULL until set or dg_relay_conf_finish() */
	uint16_t delivery_port;               /**< default 25 (tests only) */
	char *tlsrpt_org;                     /**< TLS-RPT organization-name, or NULL */
	char *tlsrpt_contact;                 /**< TLS-RPT contact-info, or NULL */
	uint32_t tlsrpt_hour;                 /**< UTC hour of the daily send, default 1 */
	char *tlsrpt_dir;                     /**< TLS-RPT store, NULL: QUEUE/tlsrpt */
	uint32_t alarm_queue_size;            /**< queue alarm: messages, 0 = off */
	uint32_t alarm_queue_age_s;           /**< queue alarm: oldest age, 0 = off */
	char *alarm_command;                  /**< run on alarm (sh -c), or NULL */
	char *user;                           /**< run the children as this user, or NULL */
	uint64_t given; /**< keys given since the current source began (bit = key index) */
	char *tlsrpt_dkim_key;      /**< PEM private key that DKIM-signs report mails, or NULL */
	char *tlsrpt_dkim_selector; /**< its DKIM selector (s=), required with the key */
	char *tlsrpt_dkim_domain;   /**< DKIM d=, NULL: the domain of tlsrpt-contact */
};

/**
 * Set every default (SPEC-independent values listed in docs/internals/relay-conf.md); helo
 * comes from gethostname() when that is a valid DNS name, else "localhost".
 * @param c configuration (borrowed, overwritten; holds no heap memory afterwards)
 */
void dg_relay_conf_init(struct dg_relay_conf *c);

/** Free the strings of @p c. @param c configuration (borrowed), may be NULL */
void dg_relay_conf_cleanup(struct dg_relay_conf *c);

/**
 * Start a new source of settings (the command line after the config file): keys given
 * from now on override earlier values, and the first value of a list key replaces the
 * earlier list instead of adding to it. dg_relay_conf_parse() starts a source itself.
 * @param c configuration (borrowed)
 */
void dg_relay_conf_begin_source(struct dg_relay_conf *c);

/**
 * Set one key from the config file or the command line. A list key (listen, allow,
 * resolver, client-cert-sha256) adds a value; its first value in a source replaces the
 * defaults. A non-list key given twice in one source is an error.
 * @param c     configuration (borrowed)
 * @param key   key without "--" (borrowed)
 * @param value value text, already trimmed (borrowed, copied)
 * @param err   "KEY: why", e.g. "dest-concurrency: 0 is not in 1..1000" (may be NULL)
 * @return DG_OK, DG_E_CONFIG (unknown key, bad value, duplicate) or DG_E_LIMIT (too long,
 *         list full); @p c keeps its earlier value on error
 */
enum dg_status dg_relay_conf_set(struct dg_relay_conf *c, const char *key, const char *value,
                                 struct dg_err *err);

/**
 * Parse config file text: `key = value` lines, '#' comment lines and blank lines (a '#' after
 * a value is part of the value). Starts a new source (dg_relay_conf_begin_source()).
 * Pure: no I/O, no logging.
 * @param c      configuration (borrowed; keys before the error stay set)
 * @param text   file text (borrowed); may be NULL if len is 0; need not end in NUL
 * @param len    bytes (at most DG_RELAY_CONF_FILE_MAX)
 * @param source names the input in messages (borrowed)
 * @param err    "SOURCE:LINE: KEY: why" (may be NULL)
 * @return DG_OK, DG_E_CONFIG or DG_E_LIMIT
 */
enum dg_status dg_relay_conf_parse(struct dg_relay_conf *c, const char *text, size_t len,
                                   const char *source, struct dg_err *err);

/**
 * Read @p path (at most DG_RELAY_CONF_FILE_MAX bytes) and parse it with dg_relay_conf_parse().
 * @param c    configuration (borrowed)
 * @param path file (borrowed)
 * @param err  error detail (may be NULL)
 * @return DG_OK, DG_E_IO, DG_E_NOTFOUND, DG_E_LIMIT or DG_E_CONFIG
 */
enum dg_status dg_relay_conf_load(struct dg_relay_conf *c, const char *path, struct dg_err *err);

/**
 * Check the whole configuration: queue is set, tls-cert and tls-key come together,
 * client-cert-sha256 needs tls-cert, retry-min <= retry-max, and each named file
 * (trust-anchor, ca-file, policy-map, tls-cert, tls-key) is readable (the message names it).
 * @param c   configuration (borrowed)
 * @param err error detail (may be NULL)
 * @return DG_OK or DG_E_CONFIG
 */
enum dg_status dg_relay_conf_check(const struct dg_relay_conf *c, struct dg_err *err);

/**
 * Fill the defaults that depend on other keys (dsn-from "MAILER-DAEMON@<helo>", sts-cache
 * "QUEUE/sts-cache"), then dg_relay_conf_check(). Call once after every source is applied.
 * @param c   configuration (borrowed)
 * @param err error detail (may be NULL)
 * @return DG_OK, DG_E_CONFIG or DG_E_LIMIT (derived value too long)
 */
enum dg_status dg_relay_conf_finish(struct dg_relay_conf *c, struct dg_err *err);

/**
 * Is a client certificate one of the client-cert-sha256 fingerprints?
 * @param c      configuration (borrowed)
 * @param sha256 SHA-256 of the client certificate's DER encoding (32 bytes, borrowed)
 * @return true if listed (constant time per entry)
 */
bool dg_relay_conf_client_cert_allowed(const struct dg_relay_conf *c, const uint8_t *sha256);

/**
 * The known keys, in table order, for --help.
 * @param n receives the number of keys (borrowed)
 * @return static array of @p n static strings
 */
const char *const *dg_relay_conf_keys(size_t *n);

/**
 * One line of help for a key: its value syntax and default ("DURATION (default 5d)").
 * @param key a key (borrowed)
 * @return static string, or NULL for an unknown key
 */
const char *dg_relay_conf_key_help(const char *key);

/**
 * Read a whole text file of at most @p max bytes (shared by the config and the policy table).
 * @param path file (borrowed)
 * @param max  cap in bytes
 * @param out  receives a NUL-terminated heap copy (the caller frees it)
 * @param len  receives its length (borrowed)
 * @param err  error naming @p path (may be NULL)
 * @return DG_OK, DG_E_NOTFOUND, DG_E_IO or DG_E_LIMIT
 */
enum dg_status dg_relay_read_file(const char *path, size_t max, char **out, size_t *len,
                                  struct dg_err *err);

/* ======================================================================== */
/* The daemon (lib/relay/relay_proc.c; docs/internals/relay.md)             */
/* ======================================================================== */

/**
 * Run the relay in the foreground: bind the listen addresses, recover the queue, start the
 * receiver and scheduler processes, notify systemd when both are ready, and return after
 * SIGTERM/SIGINT once they have stopped. SIGHUP re-reads @p conf_path.
 * @param conf_path configuration file to re-read on SIGHUP, or NULL (borrowed)
 * @param conf      finished and checked configuration (borrowed for the call)
 * @param err       why it could not start: the address that cannot be bound, the queue
 *                  directory (may be NULL)
 * @return DG_OK after a clean stop; DG_E_IO or DG_E_CONFIG when it could not start
 */
enum dg_status dg_relay_run(const char *conf_path, struct dg_relay_conf *conf,
                            struct dg_err *err);

/**
 * Send one command to the running relay of a queue (its QUEUE/control socket) and read the
 * one-line reply: "flush", "delete ID", "status".
 * @param queue_dir queue directory (borrowed)
 * @param cmd       the command (borrowed)
 * @param reply     receives the reply line without its newline (borrowed buffer)
 * @param size      size of @p reply
 * @param err       error detail (may be NULL)
 * @return DG_OK for an "ok" reply; DG_E_PROTO for an "error" reply (in @p reply);
 *         DG_E_NOTFOUND when no relay is running on that queue; DG_E_IO
 */
enum dg_status dg_relay_ctl(const char *queue_dir, const char *cmd, char *reply, size_t size,
                            struct dg_err *err);

/* ======================================================================== */
/* TLS-RPT identity and store of the relay (lib/relay/relay_tlsrpt.c)       */
/* ======================================================================== */

/** How long a report is retried after its first failed attempt (SPEC RPT-7: 24 h). */
#define DG_RELAY_TLSRPT_RETRY_WINDOW_S (24 * 3600)

/**
 * The reporter identity from the configuration (the relay and `relay tlsrpt show`):
 * organization-name tlsrpt-org, else helo; contact-info tlsrpt-contact, else
 * postmaster@helo; submitter the domain of the contact.
 * @param conf    configuration (borrowed)
 * @param contact buffer for the contact (DG_RELAY_ADDR_MAX + 1 bytes)
 * @param meta    filled, pointing into @p conf and @p contact (borrowed)
 */
void dg_relay_tlsrpt_meta(const struct dg_relay_conf *conf, char contact[DG_RELAY_ADDR_MAX + 1],
                          struct dg_tlsrpt_meta *meta);

/**
 * The TLS-RPT store directory of @p conf: tlsrpt-dir, else QUEUE/tlsrpt.
 * @return DG_OK or DG_E_CONFIG (no queue, too long)
 */
enum dg_status dg_relay_tlsrpt_dir(const struct dg_relay_conf *conf, char *out, size_t size);

#endif /* DANEGUARD_RELAY_H */
