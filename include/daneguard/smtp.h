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
/* SMTP client session (to be added by the session module)                 */
/* ======================================================================== */

#endif /* DANEGUARD_SMTP_H */
