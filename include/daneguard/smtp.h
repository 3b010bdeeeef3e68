/*
 * daneguard/smtp.h - SMTP client: reply and EHLO parsers (this section), and
 * later the client session state machine (its own section below).
 *
 * The parsers are pure functions over bytes: no I/O, no logging (STYLE.md
 * section 7). Contracts and limits: docs/internals/smtp-parsers.md.
 */
#ifndef DANEGUARD_SMTP_H
#define DANEGUARD_SMTP_H

#include <daneguard/err.h>
#include <daneguard/util.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ======================================================================== */
/* SMTP reply parser (lib/smtp/smtp_reply.c)                                */
/* ======================================================================== */

/*
 * Default caps. RFC 5321 section 4.5.3.1.5 allows 512 octets per reply line,
 * but real servers send longer lines (long EHLO AUTH lists, policy URLs in
 * 5xx texts), so a line may have up to 2048 bytes counting its CRLF (or LF).
 */
#define DG_SMTP_REPLY_LINE_MAX 2048     /**< bytes per line, including CRLF/LF */
#define DG_SMTP_REPLY_LINES_MAX 100     /**< lines per reply */
#define DG_SMTP_REPLY_BYTES_MAX 65536   /**< wire bytes per reply */
#define DG_SMTP_REPLY_PENDING_MAX 65536 /**< unparsed bytes the parser buffers */

/** Caps of one parser; a field of 0 selects the default above. */
struct dg_smtp_reply_limits {
	size_t line_max;    /**< bytes per line incl. CRLF/LF (at least 8) */
	size_t lines_max;   /**< lines per reply (at most 10000) */
	size_t bytes_max;   /**< wire bytes per reply */
	size_t pending_max; /**< bytes fed but not yet parsed */
};

/** RFC 3463 enhanced status code, e.g. 4.7.0. */
struct dg_smtp_status {
	unsigned cls;     /**< 2, 4 or 5; equals the reply code's first digit */
	unsigned subject; /**< 0..999 */
	unsigned detail;  /**< 0..999 */
};

/**
 * One complete reply. Everything it points to is borrowed from the parser
 * and stays valid until the next call of dg_smtp_reply_parser_next(),
 * dg_smtp_reply_parser_reset() or dg_smtp_reply_parser_cleanup() (feeding
 * more bytes does not invalidate it).
 */
struct dg_smtp_reply {
	unsigned code;                /**< 200..599, the same on every line */
	bool has_status;              /**< the first line starts with an enhanced status */
	struct dg_smtp_status status; /**< valid if has_status */
	char status_str[12];          /**< "4.7.0", or "" */
	size_t nlines;                /**< >= 1 */
	const char *const *lines;     /**< text after "NNN-"/"NNN " per line, no CRLF */
	size_t bytes;                 /**< wire bytes of the reply, line ends included */
	size_t offset;                /**< stream offset of the reply's first byte */
};

/**
 * Incremental reply parser, one per connection. Feed it whatever arrives
 * from the socket (split anywhere, even inside CRLF), then call
 * dg_smtp_reply_parser_next() until it reports no complete reply. Bytes
 * after a complete reply stay buffered for the next one (pipelining). After
 * an error the parser stays failed (the connection should be closed) until
 * dg_smtp_reply_parser_reset(). Embed it; fields are private.
 */
struct dg_smtp_reply_parser {
	struct dg_smtp_reply_limits lim;
	struct dg_buf in;      /* fed bytes; in.data[in_off..] not yet parsed */
	size_t in_off;         /* start of the current (incomplete) line */
	size_t scan;           /* bytes of the current line searched for LF */
	size_t stream_off;     /* stream offset of in.data[0] */
	unsigned code;         /* code of the reply being built, 0 if none */
	size_t nlines;         /* lines of the reply being built */
	size_t reply_bytes;    /* wire bytes of the reply being built */
	size_t reply_off;      /* stream offset of the reply being built */
	struct dg_buf text;    /* line texts, each followed by a NUL */
	size_t *line_at;       /* lim.lines_max offsets into text */
	const char **lines;    /* lim.lines_max pointers, set per complete reply */
	bool delivered;        /* the last next() returned a reply */
	enum dg_status failed; /* sticky status, DG_OK while healthy */
	struct dg_err err;     /* sticky error detail */
};

/**
 * Initialise a parser (allocates its line tables).
 * @param p   parser (borrowed)
 * @param lim caps (borrowed, copied); NULL or 0 fields select the defaults
 */
void dg_smtp_reply_parser_init(struct dg_smtp_reply_parser *p,
                               const struct dg_smtp_reply_limits *lim);

/** Free all memory of @p p. @param p parser (borrowed), may be NULL */
void dg_smtp_reply_parser_cleanup(struct dg_smtp_reply_parser *p);

/**
 * Drop all buffered bytes, any partial reply and a sticky error, keeping
 * the caps; stream offsets restart at 0 (use after STARTTLS, where buffered
 * cleartext must not be carried into the TLS session).
 * @param p parser (borrowed)
 */
void dg_smtp_reply_parser_reset(struct dg_smtp_reply_parser *p);

/**
 * Buffer bytes received from the peer.
 * @param p    parser (borrowed)
 * @param data bytes (borrowed, copied); may be NULL if len is 0
 * @param len  number of bytes
 * @param err  error detail (may be NULL)
 * @return DG_OK; DG_E_LIMIT if more than lim.pending_max bytes would be
 *         waiting; or the sticky error of an earlier failure
 */
enum dg_status dg_smtp_reply_parser_feed(struct dg_smtp_reply_parser *p, const uint8_t *data,
                                         size_t len, struct dg_err *err);

/**
 * Parse the buffered bytes up to the end of the next complete reply.
 * @param p        parser (borrowed)
 * @param reply    filled when *complete is true (points into @p p, see
 *                 struct dg_smtp_reply)
 * @param complete set to true if a reply was produced, false if more bytes
 *                 are needed
 * @param err      error detail (may be NULL); err->offset is the stream
 *                 offset of the offending byte or line
 * @return DG_OK; DG_E_PROTO for a malformed reply (bad code, bad separator,
 *         code change inside a multi-line reply, NUL byte); DG_E_LIMIT when a
 *         line, the line count or the reply size exceeds its cap. Errors are
 *         sticky.
 */
enum dg_status dg_smtp_reply_parser_next(struct dg_smtp_reply_parser *p,
                                         struct dg_smtp_reply *reply, bool *complete,
                                         struct dg_err *err);

/**
 * Bytes received but not yet returned as part of a complete reply (partial
 * lines and lines of an unfinished reply included). A client checks it is
 * 0 after the reply to STARTTLS (no cleartext injection before TLS).
 * @param p parser (borrowed)
 * @return number of bytes
 */
size_t dg_smtp_reply_parser_pending(const struct dg_smtp_reply_parser *p);

/**
 * Text of line @p i without the reply's enhanced status prefix, when that
 * line starts with the same status followed by a space or the end.
 * @param reply reply (borrowed)
 * @param i     line index, < reply->nlines
 * @return borrowed from the reply's parser (same lifetime as reply->lines)
 */
const char *dg_smtp_reply_line_text(const struct dg_smtp_reply *reply, size_t i);

/* ======================================================================== */
/* EHLO reply parser (lib/smtp/smtp_ehlo.c)                                 */
/* ======================================================================== */

/** Known EHLO extensions (bits of struct dg_smtp_ehlo.ext). */
enum dg_smtp_ext {
	DG_SMTP_EXT_STARTTLS = 1u << 0,            /**< RFC 3207 */
	DG_SMTP_EXT_PIPELINING = 1u << 1,          /**< RFC 2920 */
	DG_SMTP_EXT_SIZE = 1u << 2,                /**< RFC 1870 */
	DG_SMTP_EXT_8BITMIME = 1u << 3,            /**< RFC 6152 */
	DG_SMTP_EXT_ENHANCEDSTATUSCODES = 1u << 4, /**< RFC 2034 */
	DG_SMTP_EXT_SMTPUTF8 = 1u << 5,            /**< RFC 6531 */
	DG_SMTP_EXT_CHUNKING = 1u << 6,            /**< RFC 3030 */
	DG_SMTP_EXT_BINARYMIME = 1u << 7,          /**< RFC 3030 */
	DG_SMTP_EXT_DSN = 1u << 8,                 /**< RFC 3461 */
	DG_SMTP_EXT_AUTH = 1u << 9,                /**< RFC 4954 (also "AUTH=...") */
	DG_SMTP_EXT_REQUIRETLS = 1u << 10,         /**< RFC 8689 */
	DG_SMTP_EXT_ETRN = 1u << 11,               /**< RFC 1985 */
	DG_SMTP_EXT_DELIVERBY = 1u << 12,          /**< RFC 2852 */
	DG_SMTP_EXT_VRFY = 1u << 13                /**< RFC 5321 */
};

#define DG_SMTP_EHLO_KW_MAX 64        /**< keywords kept in the list */
#define DG_SMTP_EHLO_KW_LEN 32        /**< longest keyword kept */
#define DG_SMTP_EHLO_PARAMS_LEN 128   /**< params bytes kept per keyword */
#define DG_SMTP_EHLO_GREETING_LEN 256 /**< greeting bytes kept */

/** One advertised keyword, for reporting. */
struct dg_smtp_ehlo_kw {
	char name[DG_SMTP_EHLO_KW_LEN + 1];       /**< uppercased keyword */
	char params[DG_SMTP_EHLO_PARAMS_LEN + 1]; /**< parameters, single spaces; '?' for
	                                             non-printable bytes */
	bool params_truncated;                    /**< params were longer than kept */
};

/**
 * The parsed EHLO reply. Self-contained (no pointers, no heap), so it can be
 * copied; about 11 KiB.
 */
struct dg_smtp_ehlo {
	char domain[DG_NAME_BUF_SIZE];                  /**< first word of line 1, as sent
	                                                     ('?' for non-printable bytes,
	                                                     truncated); not validated */
	char greeting[DG_SMTP_EHLO_GREETING_LEN];       /**< rest of line 1, sanitized */
	unsigned ext;                                   /**< enum dg_smtp_ext bits */
	uint32_t size_max;                              /**< SIZE value; 0 if absent, no
	                                                     limit, or invalid */
	size_t nkw;                                     /**< entries used in kw */
	struct dg_smtp_ehlo_kw kw[DG_SMTP_EHLO_KW_MAX]; /**< in order of the reply */
	size_t nkw_dropped;                             /**< valid keywords beyond the cap */
	size_t nbad;                                    /**< lines skipped as malformed or
	                                                     oversized; bad SIZE values */
};

/**
 * Extract the extensions from a complete reply to EHLO (RFC 5321 section
 * 4.1.1.1). Malformed keyword lines are skipped and counted, never fatal.
 * @param reply complete reply (borrowed)
 * @param ehlo  result (borrowed), fully overwritten
 * @param err   error detail (may be NULL)
 * @return DG_OK, or DG_E_PROTO if the reply code is not 250 (the caller
 *         decides about HELO fallback)
 */
enum dg_status dg_smtp_ehlo_parse(const struct dg_smtp_reply *reply, struct dg_smtp_ehlo *ehlo,
                                  struct dg_err *err);

/**
 * @param ehlo parsed reply (borrowed)
 * @param ext  one or more enum dg_smtp_ext bits
 * @return true if every bit in @p ext was advertised
 */
bool dg_smtp_ehlo_has(const struct dg_smtp_ehlo *ehlo, unsigned ext);

/**
 * Find a keyword in the kept list, ignoring case.
 * @param ehlo    parsed reply (borrowed)
 * @param keyword keyword to look for (borrowed)
 * @return the first entry (borrowed from @p ehlo) or NULL
 */
const struct dg_smtp_ehlo_kw *dg_smtp_ehlo_find(const struct dg_smtp_ehlo *ehlo,
                                                const char *keyword);

/**
 * @param ext exactly one enum dg_smtp_ext bit
 * @return its keyword ("STARTTLS", ...), or "UNKNOWN" (static)
 */
const char *dg_smtp_ext_name(unsigned ext);

/* ======================================================================== */
/* SMTP STARTTLS probe: client session state machine                       */
/* (lib/smtp/smtp_session.c, smtp_probe.c, smtp_tls.c)                     */
/* ======================================================================== */

/*
 * One asynchronous connection to one server address that collects what a
 * DANE check needs: banner, EHLO keywords, STARTTLS, the TLS handshake
 * (version, cipher, peer key, signature algorithm) and the peer chain, then
 * EHLO again and QUIT. It never sends MAIL, RCPT or DATA. Certificates are
 * NOT verified during the handshake (SSL_VERIFY_NONE); the chain is handed
 * to the caller for DANE verification (SPEC OSSL-7, second form). Contract,
 * states and limits: docs/internals/smtp-session.md.
 */
#include <openssl/ssl.h>
#include <openssl/x509.h>

struct event_base;

/** An SMTP probe in progress (opaque). */
struct dg_smtp_probe;

/** Which server certificate to ask for. */
enum dg_smtp_keytype {
	DG_SMTP_KEY_ANY = 0, /**< no restriction */
	DG_SMTP_KEY_ECDSA,   /**< ECDSA-only signature algorithms and aECDSA TLS 1.2 suites */
	DG_SMTP_KEY_RSA      /**< RSA-PSS/PKCS#1 signature algorithms and aRSA TLS 1.2 suites */
};

/*
 * Defaults set by dg_smtp_probe_opts_init() (one table in smtp_probe.c).
 * RFC 5321 section 4.5.3.2 allows a 5 minute greeting wait; a checker waits less.
 */
#define DG_SMTP_PROBE_CONNECT_TIMEOUT_MS 10000u /**< TCP connect */
#define DG_SMTP_PROBE_BANNER_TIMEOUT_MS 30000u  /**< 220 greeting */
#define DG_SMTP_PROBE_CMD_TIMEOUT_MS 30000u     /**< reply to EHLO, HELO, STARTTLS */
#define DG_SMTP_PROBE_TLS_TIMEOUT_MS 30000u     /**< TLS handshake */
#define DG_SMTP_PROBE_QUIT_TIMEOUT_MS 2000u     /**< wait for 221 after QUIT */
#define DG_SMTP_PROBE_TOTAL_TIMEOUT_MS 120000u  /**< whole probe */

/** Most certificates of the peer chain kept in a result. */
#define DG_SMTP_PROBE_CHAIN_MAX 32
/** Largest transcript kept (bytes); then a truncation line ends it. */
#define DG_SMTP_PROBE_TRANSCRIPT_MAX 65536

/** Options of one probe; initialise with dg_smtp_probe_opts_init(). */
struct dg_smtp_probe_opts {
	const char *addr;             /**< numeric IPv4 or IPv6 text, no DNS (borrowed, copied) */
	uint16_t port;                /**< TCP port, 25 by default */
	const char *sni;              /**< SNI HostName = TLSA base domain (SPEC TLS-3), or NULL
	                                   for none (borrowed, copied) */
	const char *helo;             /**< EHLO/HELO argument (borrowed, copied); default
	                                   "localhost" */
	enum dg_smtp_keytype keytype; /**< certificate type to ask the server for */
	SSL_CTX *ssl_ctx;             /**< client context (borrowed, up-ref'd while the probe
	                                   lives); NULL: the probe makes one with
	                                   dg_smtp_tls_ctx_new(). Pass a shared one when
	                                   probing many hosts */
	unsigned connect_timeout_ms;  /**< each stage's deadline (0 = the default) */
	unsigned banner_timeout_ms;
	unsigned cmd_timeout_ms;
	unsigned tls_timeout_ms;
	unsigned quit_timeout_ms;
	unsigned total_timeout_ms; /**< overall deadline from dg_smtp_probe_start() */
	bool transcript;           /**< keep a "C: "/"S: "/"TLS: " transcript */
	const char *log_id;        /**< id first on each log line (borrowed, copied, at most
	                                31 bytes); NULL: a process-wide counter */
	const struct dg_log *log;  /**< logger (borrowed, must outlive the probe); NULL:
	                                dg_log_global() */
};

/** How a probe ended. Only DG_SMTP_PROBE_TLS_OK means the TLS session and EHLO worked. */
enum dg_smtp_probe_outcome {
	DG_SMTP_PROBE_TLS_OK = 0,       /**< STARTTLS, handshake and EHLO over TLS done */
	DG_SMTP_PROBE_CONNECT_FAILED,   /**< TCP connect failed (refused, unreachable) */
	DG_SMTP_PROBE_TIMEOUT,          /**< a stage deadline or the total deadline passed */
	DG_SMTP_PROBE_REJECTED,         /**< 4xx/5xx banner, EHLO 4xx, EHLO 5xx + HELO
	                                     failing, or EHLO after TLS failing */
	DG_SMTP_PROBE_NO_STARTTLS,      /**< STARTTLS not advertised, or only HELO worked
	                                     (SPEC TLS-1) */
	DG_SMTP_PROBE_STARTTLS_REFUSED, /**< STARTTLS answered with other than 220 (SPEC TLS-1) */
	DG_SMTP_PROBE_TLS_FAILED,       /**< TLS handshake failed (SPEC TLS-2) */
	DG_SMTP_PROBE_PROTOCOL          /**< malformed or oversized reply, unexpected close,
	                                     cleartext after 220 to STARTTLS */
};

/** Stages in order; also the states of the session state machine. */
enum dg_smtp_probe_stage {
	DG_SMTP_STAGE_CONNECT = 0,
	DG_SMTP_STAGE_BANNER,
	DG_SMTP_STAGE_EHLO,
	DG_SMTP_STAGE_HELO, /**< only after EHLO got 5xx */
	DG_SMTP_STAGE_STARTTLS,
	DG_SMTP_STAGE_TLS_HANDSHAKE,
	DG_SMTP_STAGE_EHLO_TLS,
	DG_SMTP_STAGE_QUIT,
	DG_SMTP_STAGE_DONE
};

/**
 * What a probe found. Handed to the callback, borrowed for the call; take
 * pieces with dg_smtp_probe_result_take_chain() / _take_transcript() or
 * copy them. TLS fields are filled whenever the handshake completed
 * (tls_done), whatever the final outcome.
 */
struct dg_smtp_probe_result {
	enum dg_smtp_probe_outcome outcome;
	enum dg_smtp_probe_stage stage; /**< stage reached (DONE on success) or where it failed */
	char reason[DG_ERR_MSG_MAX];    /**< "127.0.5.1:25: STARTTLS refused: 454 4.7.0 ..." */
	char peer[64];                  /**< "192.0.2.1:25" or "[2001:db8::1]:25" */
	int reply_code;                 /**< last SMTP reply code, 0 if none */
	char *banner;                   /**< first banner line, escaped printable; NULL if none */
	bool ehlo_ok;                   /**< the cleartext EHLO got 250; ehlo is valid */
	bool helo_used;                 /**< EHLO got 5xx and HELO was tried */
	struct dg_smtp_ehlo ehlo;       /**< cleartext EHLO keywords */
	bool starttls_offered;          /**< STARTTLS was in the cleartext EHLO reply */
	bool tls_done;                  /**< the TLS handshake completed */
	char tls_version[16];           /**< "TLSv1.3", "" before the handshake */
	char cipher[64];                /**< OpenSSL cipher name */
	char peer_key[32];              /**< "ECDSA P-256", "RSA 2048", "Ed25519" */
	int peer_key_bits;              /**< key size in bits, 0 if unknown */
	char sigalg[64];                /**< server signature: "ECDSA+SHA256", "RSA-PSS+SHA256";
	                                     "" when not known (TLS 1.0/1.1) */
	STACK_OF(X509) *chain;          /**< peer chain as sent, leaf first, at most
	                                     DG_SMTP_PROBE_CHAIN_MAX; NULL if no handshake */
	bool chain_truncated;           /**< the server sent more certificates */
	bool ehlo_tls_ok;               /**< EHLO after TLS got 250; ehlo_tls is valid */
	struct dg_smtp_ehlo ehlo_tls;   /**< EHLO keywords inside TLS */
	char *transcript;               /**< NULL unless opts.transcript */
	uint64_t connect_ms;            /**< TCP connect time, 0 if not connected */
	uint64_t total_ms;              /**< start to end of the probe */
};

/**
 * Receives the result of a probe, exactly once unless the probe was
 * cancelled. The probe frees itself when the callback returns: the handle
 * must not be used afterwards (dg_smtp_probe_cancel() inside the callback is
 * allowed and does nothing more).
 * @param arg the argument given to dg_smtp_probe_start() (borrowed)
 * @param res the result (borrowed for the call; take or copy what you keep)
 */
typedef void dg_smtp_probe_cb(void *arg, struct dg_smtp_probe_result *res);

/**
 * Fill @p o with the defaults (DG_SMTP_PROBE_*_TIMEOUT_MS, port 25, helo
 * "localhost", no SNI, DG_SMTP_KEY_ANY, no transcript, addr NULL).
 * @param o options to initialise (borrowed)
 */
void dg_smtp_probe_opts_init(struct dg_smtp_probe_opts *o);

/**
 * Start a probe on @p base. The callback never runs before this returns.
 * @param base event loop (borrowed, must outlive the probe)
 * @param opts options (borrowed; strings copied, ssl_ctx up-ref'd)
 * @param cb   result callback, not NULL
 * @param arg  passed to @p cb (borrowed)
 * @param out  set to the probe handle (owned by the probe itself: it is
 *             freed after the callback returns or by dg_smtp_probe_cancel())
 * @param err  error detail (may be NULL)
 * @return DG_OK; DG_E_CONFIG for a bad address, port, HELO name or SNI;
 *         DG_E_INTERNAL if libevent or OpenSSL fails. Connection failures
 *         are not errors: they arrive through the callback.
 */
enum dg_status dg_smtp_probe_start(struct event_base *base, const struct dg_smtp_probe_opts *opts,
                                   dg_smtp_probe_cb *cb, void *arg, struct dg_smtp_probe **out,
                                   struct dg_err *err);

/**
 * Stop a probe: no callback after this. Safe inside any callback, including
 * the probe's own (the memory is then released after the callback returns).
 * @param p probe (taken), may be NULL; must not be used afterwards
 */
void dg_smtp_probe_cancel(struct dg_smtp_probe *p);

/**
 * Take the peer chain out of a result.
 * @param res result (borrowed); res->chain is NULL afterwards
 * @return the chain (leaf first) or NULL; the caller frees it with
 *         sk_X509_pop_free(chain, X509_free)
 */
STACK_OF(X509) *dg_smtp_probe_result_take_chain(struct dg_smtp_probe_result *res);

/**
 * Take the transcript out of a result.
 * @param res result (borrowed); res->transcript is NULL afterwards
 * @return NUL-terminated text or NULL; the caller frees it with free()
 */
char *dg_smtp_probe_result_take_transcript(struct dg_smtp_probe_result *res);

/** @return "tls-ok", "connect-failed", "timeout", ... (static) */
const char *dg_smtp_probe_outcome_str(enum dg_smtp_probe_outcome outcome);

/** @return "connect", "banner", "ehlo", ... (static) */
const char *dg_smtp_probe_stage_str(enum dg_smtp_probe_stage stage);

/**
 * Create the default client context used when opts.ssl_ctx is NULL:
 * TLS 1.0 or later (SPEC TLS-4; security level 0 because OpenSSL 3 refuses
 * TLS < 1.2 above it), no anonymous or NULL suites (SPEC TLS-5),
 * SSL_VERIFY_NONE (the chain is verified later, SPEC OSSL-7), no session
 * cache (SPEC TLS-7).
 * @param err error detail (may be NULL)
 * @return new context, the caller frees it with SSL_CTX_free(); NULL on
 *         failure (DG_E_TLS in @p err)
 */
SSL_CTX *dg_smtp_tls_ctx_new(struct dg_err *err);

/* ======================================================================== */
/* SMTP server side: command line parser and DATA reader (issue #8)         */
/* (lib/smtp/smtp_cmd.c, lib/smtp/smtp_data.c)                              */
/* ======================================================================== */

/*
 * Pure parsers for the relay's receiving side: no I/O, no logging. Every
 * error carries the reply a server should send (code, enhanced status,
 * text). Contract, caps and the SMTP smuggling policy:
 * docs/internals/smtp-server-parsers.md.
 */

#define DG_SMTP_CMD_LINE_MAX 512        /**< RFC 5321 4.5.3.1.4, incl. CRLF */
#define DG_SMTP_CMD_EXT_LINE_LIMIT 4096 /**< largest MAIL/RCPT line cap accepted */
#define DG_SMTP_CMD_PARAMS_MAX 16       /**< ESMTP parameters kept per command */
#define DG_SMTP_CMD_KW_LEN 32           /**< longest ESMTP keyword */
#define DG_SMTP_CMD_VALUE_LEN 256       /**< longest ESMTP value */
#define DG_SMTP_PATH_MAX 256            /**< RFC 5321 4.5.3.1.3, without <> */
#define DG_SMTP_LOCAL_MAX 64            /**< RFC 5321 4.5.3.1.1 */
#define DG_SMTP_DOMAIN_MAX 255          /**< RFC 5321 4.5.3.1.2 */

/** Command verbs (case-insensitive on the wire). */
enum dg_smtp_verb {
	DG_SMTP_VERB_UNKNOWN = 0,
	DG_SMTP_VERB_EHLO,
	DG_SMTP_VERB_HELO,
	DG_SMTP_VERB_MAIL,
	DG_SMTP_VERB_RCPT,
	DG_SMTP_VERB_DATA,
	DG_SMTP_VERB_BDAT, /**< recognised, reported as unsupported (502) */
	DG_SMTP_VERB_RSET,
	DG_SMTP_VERB_NOOP,
	DG_SMTP_VERB_QUIT,
	DG_SMTP_VERB_VRFY,
	DG_SMTP_VERB_STARTTLS,
	DG_SMTP_VERB_AUTH /**< recognised, reported as unsupported (502) */
};

/** BODY= parameter of MAIL (RFC 6152). */
enum dg_smtp_body { DG_SMTP_BODY_NONE = 0, DG_SMTP_BODY_7BIT, DG_SMTP_BODY_8BITMIME };

/** What the server allows; initialise with dg_smtp_cmd_opts_init(). */
struct dg_smtp_cmd_opts {
	size_t line_max;     /**< bytes per command line incl. CRLF (default 512) */
	size_t ext_line_max; /**< same for MAIL/RCPT, which carry parameters
	                          (default 2048, at most DG_SMTP_CMD_EXT_LINE_LIMIT) */
	uint32_t size_max;   /**< largest SIZE= accepted; 0 = no limit */
	bool smtputf8;       /**< the server advertises SMTPUTF8 (MAIL may use it) */
	bool utf8_txn;       /**< this transaction's MAIL carried SMTPUTF8 (RCPT may
	                          use UTF-8) */
};

/** One ESMTP parameter as sent (keyword uppercased). */
struct dg_smtp_param {
	char kw[DG_SMTP_CMD_KW_LEN + 1];
	char value[DG_SMTP_CMD_VALUE_LEN + 1]; /**< "" when has_value is false */
	bool has_value;
};

/** Reply a server should send for a rejected command. */
struct dg_smtp_cmd_reply {
	unsigned code;     /**< 500, 501, 502, 552, 553, 555; 0 when the command is good */
	const char *status; /**< "5.5.2", ... (static), "" when code is 0 */
	const char *text;   /**< short reason (static), "" when code is 0 */
};

/**
 * A parsed command line. Self-contained (no pointers into the input except
 * the static reply strings), about 11 KiB.
 */
struct dg_smtp_cmd {
	enum dg_smtp_verb verb;
	char arg[DG_SMTP_CMD_EXT_LINE_LIMIT]; /**< text after "VERB " without line end */
	char domain[DG_SMTP_DOMAIN_MAX + 1];  /**< EHLO/HELO: domain or address literal */
	bool is_literal;                      /**< domain is "[...]" */
	bool null_path;                       /**< MAIL FROM:<> */
	char mailbox[DG_SMTP_PATH_MAX + 1];   /**< MAIL/RCPT: "local@domain" (source route
	                                           dropped, quoted local part as sent), or
	                                           "Postmaster" for RCPT TO:<Postmaster> */
	char local[DG_SMTP_LOCAL_MAX + 1];    /**< local part of mailbox */
	char mdomain[DG_SMTP_DOMAIN_MAX + 1]; /**< domain of mailbox, "" for Postmaster */
	bool has_size;                        /**< SIZE= given */
	uint32_t size;                        /**< SIZE value */
	enum dg_smtp_body body;               /**< BODY= value */
	bool smtputf8;                        /**< SMTPUTF8 given */
	size_t nparams;                       /**< entries used in params */
	struct dg_smtp_param params[DG_SMTP_CMD_PARAMS_MAX]; /**< all parameters, in order */
	size_t bad_param;                     /**< index of the offending parameter on 555 */
	struct dg_smtp_cmd_reply reply;       /**< the reply to send when rejected */
};

/**
 * Defaults: 512-byte lines, 2048 for MAIL/RCPT, no SIZE cap, no SMTPUTF8.
 * @param opts options (borrowed)
 */
void dg_smtp_cmd_opts_init(struct dg_smtp_cmd_opts *opts);

/**
 * Find the end of the next command line.
 * @param p        received bytes (borrowed); may be NULL if len is 0
 * @param len      number of bytes
 * @param max      line cap incl. line end (use the larger of the two caps)
 * @param line_len set to the line length incl. CRLF/LF when found
 * @return DG_OK (found), DG_E_NOTFOUND (no LF yet, read more) or DG_E_LIMIT
 *         (no LF in the first @p max bytes: answer 500 5.5.2 and discard
 *         through the next LF)
 */
enum dg_status dg_smtp_cmd_line_end(const uint8_t *p, size_t len, size_t max, size_t *line_len);

/**
 * Parse one command line (RFC 5321 section 4.1), ending in CRLF or LF.
 * @param p    the line incl. its line end (borrowed); may be NULL if len is 0
 * @param len  line length
 * @param opts options (borrowed); NULL selects dg_smtp_cmd_opts_init()
 * @param cmd  result (borrowed), fully overwritten; cmd->reply is set on error
 * @param err  error detail (may be NULL); err->offset is the offending byte
 * @return DG_OK; DG_E_PARSE (syntax: 500/501/553, or 555 unknown parameter);
 *         DG_E_LIMIT (line, path or parameter count over its cap: 500/501/553;
 *         SIZE over opts->size_max: 552); DG_E_PROTO (BDAT, AUTH: 502)
 */
enum dg_status dg_smtp_cmd_parse(const uint8_t *p, size_t len, const struct dg_smtp_cmd_opts *opts,
                                 struct dg_smtp_cmd *cmd, struct dg_err *err);

/** @return "EHLO", ..., "UNKNOWN" (static) @param verb a verb */
const char *dg_smtp_verb_str(enum dg_smtp_verb verb);

/** States of the DATA reader (private). */
enum dg_smtp_data_state {
	DG_SMTP_DATA_BOL = 0, /* at the start of a line (after CRLF) */
	DG_SMTP_DATA_TEXT,    /* inside a line */
	DG_SMTP_DATA_CR,      /* after a CR inside a line */
	DG_SMTP_DATA_DOT,     /* after a '.' at the start of a line */
	DG_SMTP_DATA_DOT_CR,  /* after ".\r" at the start of a line */
	DG_SMTP_DATA_END      /* CRLF.CRLF seen */
};

/**
 * Incremental DATA body reader (RFC 5321 section 4.5.2). Only CRLF "."
 * CRLF ends the data; bare CR and bare LF never do (SMTP smuggling, 2023),
 * and a message containing one is rejected once the real end is read.
 * Embed it; fields are read-only for the caller.
 */
struct dg_smtp_data {
	struct dg_buf *out;            /**< borrowed; body appended, CRLF line ends,
	                                    dots unstuffed, cut at out->max_bytes */
	enum dg_smtp_data_state state; /**< private */
	size_t body_bytes;             /**< body bytes after unstuffing (even past the cap) */
	size_t lines;                  /**< CRLF-terminated lines of the body */
	size_t bare_cr;                /**< CR not followed by LF */
	size_t bare_lf;                /**< LF not preceded by CR */
	size_t stream_off;             /**< bytes consumed so far */
	bool over;                     /**< body exceeded out->max_bytes */
};

/**
 * Start reading one message body after the 354 reply.
 * @param d   reader (borrowed)
 * @param out destination (borrowed, must outlive the reader); its max_bytes
 *            is the message size cap
 */
void dg_smtp_data_init(struct dg_smtp_data *d, struct dg_buf *out);

/**
 * Feed received bytes (split anywhere).
 * @param d        reader (borrowed)
 * @param p        bytes (borrowed); may be NULL if len is 0
 * @param len      number of bytes
 * @param consumed set to the bytes used; bytes after the end marker are not
 *                 consumed and belong to the next command (pipelining)
 * @param done     set to true once CRLF.CRLF was read
 * @param reply    set when done and the message is rejected (may be NULL)
 * @param err      error detail (may be NULL)
 * @return DG_OK (read more, or done and acceptable); when done: DG_E_LIMIT
 *         (body over out->max_bytes: 552 5.3.4) or DG_E_PROTO (bare CR or
 *         LF: 550 5.5.2). Feeding after done consumes nothing.
 */
enum dg_status dg_smtp_data_feed(struct dg_smtp_data *d, const uint8_t *p, size_t len,
                                 size_t *consumed, bool *done, struct dg_smtp_cmd_reply *reply,
                                 struct dg_err *err);

/* ======================================================================== */
/* SMTP delivery client (lib/smtp/smtp_deliver.c, smtp_deliver_session.c,   */
/* smtp_deliver_io.c)                                                       */
/* ======================================================================== */

/*
 * One asynchronous connection to one server address that delivers one or
 * more messages (issue #8, `daneguard relay`): banner, EHLO (HELO fallback),
 * STARTTLS as the TLS policy says, the TLS handshake, a caller-supplied
 * verification of the peer chain (DANE or MTA-STS), EHLO again, then per
 * message MAIL, RCPT..., DATA and the dot-stuffed body, with PIPELINING
 * (RFC 2920) when offered. Contract, states, deadlines and limits:
 * docs/internals/smtp-deliver.md. SPEC TLS-1..TLS-7, FAIL-1, FAIL-4.
 *
 * Lifecycle: dg_smtp_deliver_start() connects and delivers the first
 * envelope; its callback runs once per message. After HOST_FAILED the object
 * frees itself when the callback returns. After DONE the caller owns it and
 * must call dg_smtp_deliver_next(), dg_smtp_deliver_close() or
 * dg_smtp_deliver_cancel(). Callbacks never run inside _start() or _next();
 * _close() and _cancel() are allowed inside the callback.
 */

/** An SMTP delivery connection (opaque). */
struct dg_smtp_deliver;

/** When to use STARTTLS (the destination's policy decides, SPEC TLS-1, FAIL-1). */
enum dg_smtp_tls_policy {
	DG_SMTP_TLS_NONE = 0, /**< never STARTTLS (policy "none", or a cleartext retry) */
	DG_SMTP_TLS_MAY,      /**< STARTTLS when offered; not offered or refused: deliver in
	                           clear; handshake failure: HOST_FAILED (no cleartext on that
	                           connection; the caller may retry with NONE, SPEC TLS-2) */
	DG_SMTP_TLS_REQUIRE   /**< STARTTLS mandatory: not offered, refused or handshake
	                           failed = HOST_FAILED (SPEC TLS-1, TLS-2) */
};

/**
 * Verifies the peer after the TLS handshake, before anything else is sent
 * inside TLS (DANE: SPEC OSSL-*, FAIL-1; log the match per FAIL-4).
 * @param arg         opts.verify_arg (borrowed)
 * @param ssl         the connection (borrowed for the call)
 * @param chain       the peer chain as sent, leaf first (borrowed for the call;
 *                    up-ref what you keep); may be NULL if the server sent none
 * @param reason      buffer for the failure reason (filled by the callee)
 * @param reason_size its size
 * @return true to go on; false to QUIT and fail the host with @p reason
 */
typedef bool dg_smtp_deliver_verify_cb(void *arg, SSL *ssl, STACK_OF(X509) *chain, char *reason,
                                       size_t reason_size);

/*
 * Default deadlines (RFC 5321 section 4.5.3.2; connect and TLS from common
 * MTA practice). A 0 field in the options selects the default.
 */
#define DG_SMTP_DELIVER_CONNECT_TIMEOUT_MS 30000u     /**< TCP connect */
#define DG_SMTP_DELIVER_BANNER_TIMEOUT_MS 300000u     /**< 220 greeting: 5 min */
#define DG_SMTP_DELIVER_EHLO_TIMEOUT_MS 300000u       /**< EHLO, HELO, STARTTLS, RSET */
#define DG_SMTP_DELIVER_TLS_TIMEOUT_MS 300000u        /**< TLS handshake */
#define DG_SMTP_DELIVER_MAIL_TIMEOUT_MS 300000u       /**< MAIL: 5 min */
#define DG_SMTP_DELIVER_RCPT_TIMEOUT_MS 300000u       /**< each RCPT: 5 min */
#define DG_SMTP_DELIVER_DATA_TIMEOUT_MS 120000u       /**< DATA initiation: 2 min */
#define DG_SMTP_DELIVER_DATA_BLOCK_TIMEOUT_MS 180000u /**< each body block sent: 3 min */
#define DG_SMTP_DELIVER_DATA_DONE_TIMEOUT_MS 600000u  /**< reply to ".": 10 min */
#define DG_SMTP_DELIVER_QUIT_TIMEOUT_MS 300000u       /**< reply to QUIT */

/** Recipients per envelope accepted by dg_smtp_deliver_start()/_next(). */
#define DG_SMTP_DELIVER_RCPT_MAX 1000

/** Options of one connection; initialise with dg_smtp_deliver_opts_init(). */
struct dg_smtp_deliver_opts {
	const char *addr; /**< numeric IPv4 or IPv6 text, no DNS (borrowed, copied) */
	uint16_t port;    /**< TCP port, 25 by default */
	const char *sni;  /**< SNI HostName = TLSA base domain (SPEC TLS-3), or NULL for
	                       none (borrowed, copied) */
	const char *helo; /**< EHLO/HELO argument (borrowed, copied); default "localhost" */
	enum dg_smtp_tls_policy tls; /**< default DG_SMTP_TLS_MAY */
	SSL_CTX *ssl_ctx;            /**< client context (borrowed, up-ref'd while the connection
	                                  lives); NULL: one made with dg_smtp_tls_ctx_new() */
	dg_smtp_deliver_verify_cb *verify; /**< NULL: accept any chain */
	void *verify_arg;                  /**< passed to verify (borrowed) */
	unsigned connect_timeout_ms;       /**< deadlines, 0 = the DG_SMTP_DELIVER_* default */
	unsigned banner_timeout_ms;
	unsigned ehlo_timeout_ms; /**< also HELO, STARTTLS and RSET */
	unsigned tls_timeout_ms;
	unsigned mail_timeout_ms;
	unsigned rcpt_timeout_ms;
	unsigned data_timeout_ms;
	unsigned data_block_timeout_ms; /**< no write progress for this long while sending
	                                     the body */
	unsigned data_done_timeout_ms;
	unsigned quit_timeout_ms;
	const char *log_id;       /**< id first on each log line (borrowed, copied, at most 31
	                               bytes); NULL: a process-wide counter */
	const struct dg_log *log; /**< logger (borrowed, must outlive the connection); NULL:
	                               dg_log_global() */
};

/** One message. Everything is borrowed until the message's callback returns. */
struct dg_smtp_envelope {
	const char *sender;      /**< reverse path without <>; "" = null sender */
	const char *const *rcpt; /**< forward paths without <> */
	size_t n_rcpt;           /**< 1..DG_SMTP_DELIVER_RCPT_MAX */
	const uint8_t *body;     /**< message as received after DATA (not dot-stuffed),
	                              CRLF lines; may be NULL if body_len is 0 */
	size_t body_len;
	bool smtputf8; /**< needs SMTPUTF8 (address or header UTF-8) */
};

/** How one message ended on this connection. */
enum dg_smtp_deliver_outcome {
	DG_SMTP_DELIVER_DONE = 0,   /**< the server answered for the message: see rcpt[] */
	DG_SMTP_DELIVER_HOST_FAILED /**< connection-level failure before any recipient got a
	                                 final answer: try the next host or defer */
};

/** States of a delivery connection, in order (also res.stage). */
enum dg_smtp_deliver_stage {
	DG_SMTP_DELIVER_STAGE_CONNECT = 0,
	DG_SMTP_DELIVER_STAGE_BANNER,
	DG_SMTP_DELIVER_STAGE_EHLO,
	DG_SMTP_DELIVER_STAGE_HELO,
	DG_SMTP_DELIVER_STAGE_STARTTLS,
	DG_SMTP_DELIVER_STAGE_TLS_HANDSHAKE,
	DG_SMTP_DELIVER_STAGE_EHLO_TLS,
	DG_SMTP_DELIVER_STAGE_RSET,
	DG_SMTP_DELIVER_STAGE_MAIL,
	DG_SMTP_DELIVER_STAGE_RCPT,
	DG_SMTP_DELIVER_STAGE_DATA,
	DG_SMTP_DELIVER_STAGE_BODY,      /**< sending the body */
	DG_SMTP_DELIVER_STAGE_DATA_DONE, /**< waiting for the reply to "." */
	DG_SMTP_DELIVER_STAGE_IDLE,      /**< between messages */
	DG_SMTP_DELIVER_STAGE_QUIT,
	DG_SMTP_DELIVER_STAGE_CLOSED
};

/** Final reply for one recipient (a remote reply, or a local one, see the doc). */
struct dg_smtp_rcpt_reply {
	unsigned code;   /**< 250, 450, 550, ...; never 0 in a DONE result */
	char status[12]; /**< RFC 3463 status "5.1.1", or "" */
	char text[256];  /**< first reply line without code and status, escaped */
};

/**
 * The result of one message. Handed to the callback, borrowed for the call.
 */
struct dg_smtp_deliver_result {
	enum dg_smtp_deliver_outcome outcome;
	int stage;                       /**< enum dg_smtp_deliver_stage where it ended */
	char reason[DG_ERR_MSG_MAX];     /**< "127.0.5.1:25: STARTTLS not offered", ... */
	char peer[64];                   /**< "192.0.2.1:25" or "[2001:db8::1]:25" */
	char local[48];                  /**< our source address once connected (TLS-RPT
	                                      sending-mta-ip), "" before */
	bool starttls_offered;           /**< STARTTLS was in the cleartext EHLO reply */
	bool tls_done;                   /**< the TLS handshake completed */
	char tls_version[16];            /**< "TLSv1.3", "" without TLS */
	char cipher[64];                 /**< OpenSSL cipher name, "" without TLS */
	struct dg_smtp_rcpt_reply *rcpt; /**< n_rcpt entries: final reply per recipient (MAIL
	                                      or DATA rejections copied to every recipient
	                                      concerned); on HOST_FAILED a local 4xx each */
	size_t n_rcpt;
	char last_reply[256]; /**< remote reply to end-of-data, or the failing
	                           reply; escaped, "" if none */
	bool reusable;        /**< dg_smtp_deliver_next() may be called */
};

/**
 * Receives the result of one message, exactly once per message unless the
 * connection was closed or cancelled first.
 * @param arg the argument given with the envelope (borrowed)
 * @param res the result (borrowed for the call; copy what you keep)
 */
typedef void dg_smtp_deliver_cb(void *arg, struct dg_smtp_deliver_result *res);

/**
 * Fill @p o with the defaults (DG_SMTP_DELIVER_*_TIMEOUT_MS, port 25, helo
 * "localhost", DG_SMTP_TLS_MAY, no SNI, no verify callback, addr NULL).
 * @param o options to initialise (borrowed)
 */
void dg_smtp_deliver_opts_init(struct dg_smtp_deliver_opts *o);

/**
 * Connect and deliver @p env. The callback never runs before this returns.
 * @param base event loop (borrowed, must outlive the connection)
 * @param o    options (borrowed; strings copied, ssl_ctx up-ref'd)
 * @param env  first message (borrowed until its callback returns)
 * @param cb   result callback, not NULL
 * @param arg  passed to @p cb (borrowed)
 * @param out  set to the handle; see the lifecycle above
 * @param err  error detail (may be NULL)
 * @return DG_OK; DG_E_CONFIG for a bad address, port, HELO, SNI, policy or
 *         envelope (CR/LF or '<>' in a path, no recipient, too many);
 *         DG_E_INTERNAL / DG_E_TLS if libevent or OpenSSL fails. Connection
 *         failures are not errors: they arrive through the callback.
 */
enum dg_status dg_smtp_deliver_start(struct event_base *base, const struct dg_smtp_deliver_opts *o,
                                     const struct dg_smtp_envelope *env, dg_smtp_deliver_cb *cb,
                                     void *arg, struct dg_smtp_deliver **out, struct dg_err *err);

/**
 * After a DONE result with reusable set: send RSET, then deliver @p env on
 * the same connection. May be called inside the previous message's callback.
 * If the server closed the idle connection meanwhile, HOST_FAILED arrives
 * through the callback.
 * @param d   connection (borrowed)
 * @param env message (borrowed until its callback returns)
 * @param cb  result callback, not NULL
 * @param arg passed to @p cb (borrowed)
 * @param err error detail (may be NULL)
 * @return DG_OK; DG_E_CONFIG for a bad envelope; DG_E_PROTO if the
 *         connection is not reusable or a message is still in progress
 *         (nothing sent, no callback)
 */
enum dg_status dg_smtp_deliver_next(struct dg_smtp_deliver *d, const struct dg_smtp_envelope *env,
                                    dg_smtp_deliver_cb *cb, void *arg, struct dg_err *err);

/**
 * Say QUIT if the connection is idle and usable (waiting at most the QUIT
 * deadline in the background), then free; otherwise as
 * dg_smtp_deliver_cancel(). No callback after this.
 * @param d connection (taken), may be NULL; must not be used afterwards
 */
void dg_smtp_deliver_close(struct dg_smtp_deliver *d);

/**
 * Abort now and free (after the current callback returns when called inside
 * one). No callback after this.
 * @param d connection (taken), may be NULL; must not be used afterwards
 */
void dg_smtp_deliver_cancel(struct dg_smtp_deliver *d);

/** @return "connect", "banner", ..., "closed" (static) @param stage a stage */
const char *dg_smtp_deliver_stage_str(enum dg_smtp_deliver_stage stage);

/** @return "done" or "host-failed" (static) @param outcome an outcome */
const char *dg_smtp_deliver_outcome_str(enum dg_smtp_deliver_outcome outcome);

#endif /* DANEGUARD_SMTP_H */
