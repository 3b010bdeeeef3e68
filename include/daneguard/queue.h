/*
 * queue.h - durable on-disk message queue of the relay (lib/queue, docs/internals/queue.md).
 *
 * One file per message under DIR/queue/, named by its id, holding a versioned text
 * envelope and the body. Writes go to DIR/incoming/, are fsynced and renamed into place,
 * then the directory is fsynced (STYLE.md section 6); dg_queue_put() returns DG_OK only
 * after that, so the relay may answer 250. Opening a queue removes what was left in
 * incoming/ and moves unparsable files of queue/ aside to corrupt/.
 */
#ifndef DANEGUARD_QUEUE_H
#define DANEGUARD_QUEUE_H

#include <daneguard/err.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** Length of a queue id: 8 hex digits of arrival time + 12 hex digits of randomness. */
#define DG_QUEUE_ID_LEN 20
/** Buffer size for an id and its NUL. */
#define DG_QUEUE_ID_SIZE (DG_QUEUE_ID_LEN + 1)
/** Longest sender or recipient address (bytes, without angle brackets). */
#define DG_QUEUE_ADDR_MAX 320
/** Longest deferral or bounce reason (bytes). */
#define DG_QUEUE_REASON_MAX 256
/** Hard cap on recipients of one message (the record parser refuses more). */
#define DG_QUEUE_RCPT_MAX 1000
/** Hard cap on a message body (the record parser refuses more). */
#define DG_QUEUE_BODY_MAX (64u * 1024u * 1024u)
/** Hard cap on the envelope part of a record (everything before the body). */
#define DG_QUEUE_HEADER_MAX (1024u * 1024u)
/** Current record format version (first line "daneguard-queue: 1"); the optional
 *  "smtputf8: yes" line and UTF-8 addresses are additions readable in version 1. */
#define DG_QUEUE_VERSION 1

/** Delivery state of one recipient. */
enum dg_queue_rcpt_state {
	DG_QUEUE_RCPT_PENDING = 0,   /**< not tried yet */
	DG_QUEUE_RCPT_DELIVERED = 1, /**< accepted by the next hop */
	DG_QUEUE_RCPT_DEFERRED = 2,  /**< temporary failure: reason, next_try_s, attempts */
	DG_QUEUE_RCPT_BOUNCED = 3    /**< permanent failure: reason */
};

/** One recipient and its own state. */
struct dg_queue_rcpt {
	char addr[DG_QUEUE_ADDR_MAX + 1];     /**< address (dg_queue_addr_ok): printable ASCII or
	                                           UTF-8, no controls, spaces or <> */
	enum dg_queue_rcpt_state state;       /**< delivery state */
	uint32_t attempts;                    /**< delivery attempts so far */
	uint64_t next_try_s;                  /**< epoch seconds of next try (deferred), else 0 */
	char reason[DG_QUEUE_REASON_MAX + 1]; /**< why deferred/bounced; "" for none */
};

/** A message: envelope plus body. */
struct dg_queue_msg {
	char id[DG_QUEUE_ID_SIZE];          /**< queue id ("" before dg_queue_put) */
	uint64_t arrival_s;                 /**< epoch seconds of arrival */
	char sender[DG_QUEUE_ADDR_MAX + 1]; /**< reverse path; "" is the null sender */
	bool smtputf8;                      /**< the client's MAIL carried SMTPUTF8 (RFC 6531):
	                                         deliver with SMTPUTF8 or not at all */
	struct dg_queue_rcpt *rcpt;         /**< recipients (owned by the message) */
	size_t n_rcpt;                      /**< number of recipients */
	const uint8_t *body;                /**< body bytes (points into raw, or borrowed) */
	size_t body_len;                    /**< body length = message size */
	uint8_t *raw;                       /**< record bytes owned by the message, or NULL */
};

/** Limits and reserve of a queue; zero fields select the defaults. */
struct dg_queue_opts {
	size_t max_message_bytes; /**< body cap, default 32 MiB, at most DG_QUEUE_BODY_MAX */
	size_t max_rcpts;         /**< recipients cap, default 100, at most DG_QUEUE_RCPT_MAX */
	uint64_t reserve_bytes;   /**< free space to keep beyond the message, default 64 MiB */
	bool no_recover;          /**< attach to a queue another process owns: no removal of
	                               incoming/, no move to corrupt/ (the relay's children,
	                               `relay queue list` while the relay runs) */
};

struct dg_queue;

/**
 * Open (creating DIR, incoming/, queue/, deferred/ and corrupt/ as needed) and recover:
 * every file in incoming/ is removed (it was never acknowledged) and every file in queue/
 * is parsed; an unparsable one is moved to corrupt/ with a warning, never deleted.
 * With opts->no_recover nothing is removed or moved: only one process (the one that owns
 * the queue, at start-up) may recover, or it would delete another's messages in writing.
 * @param dir  queue directory (borrowed, copied)
 * @param opts limits (borrowed, copied); NULL selects the defaults
 * @param out  receives the queue, freed by the caller with dg_queue_free()
 * @param err  error detail (may be NULL)
 * @return DG_OK, DG_E_IO or DG_E_CONFIG (path too long)
 */
enum dg_status dg_queue_open(const char *dir, const struct dg_queue_opts *opts,
                             struct dg_queue **out, struct dg_err *err);

/** Close @p q. @param q queue (taken), may be NULL */
void dg_queue_free(struct dg_queue *q);

/** @param q queue (borrowed) @return files moved to corrupt/ by the last open */
size_t dg_queue_corrupt_count(const struct dg_queue *q);

/**
 * Write a new message durably: free-space check, temp file in incoming/, fsync, rename
 * into queue/, fsync of queue/. Only a DG_OK return means the message is safe.
 * @param q    queue (borrowed)
 * @param env  envelope (borrowed): sender, smtputf8, rcpt and n_rcpt are used; arrival_s 0
 *             means now;
 *             body fields and id are ignored
 * @param body message body (borrowed); may be NULL if @p len is 0
 * @param len  body length
 * @param id   receives the new id (DG_QUEUE_ID_SIZE bytes, borrowed)
 * @param err  error detail (may be NULL)
 * @return DG_OK; DG_E_LIMIT (too big, too many recipients, too little free space:
 *         "queue DIR: only N MiB free"); DG_E_PARSE (bad address); DG_E_IO
 */
enum dg_status dg_queue_put(struct dg_queue *q, const struct dg_queue_msg *env, const uint8_t *body,
                            size_t len, char id[DG_QUEUE_ID_SIZE], struct dg_err *err);

/**
 * Replace the recipient states of message @p id atomically (new file, fsync, rename over,
 * fsync of queue/): a crash leaves either the old or the new states.
 * @param q      queue (borrowed)
 * @param id     message id (borrowed; validated)
 * @param rcpt   new recipients (borrowed): same count and addresses, in the same order
 * @param n_rcpt number of recipients
 * @param err    error detail (may be NULL)
 * @return DG_OK, DG_E_NOTFOUND, DG_E_PARSE (bad id, mismatched recipients), DG_E_IO
 */
enum dg_status dg_queue_update(struct dg_queue *q, const char *id, const struct dg_queue_rcpt *rcpt,
                               size_t n_rcpt, struct dg_err *err);

/**
 * Read message @p id.
 * @param q   queue (borrowed)
 * @param id  message id (borrowed; validated)
 * @param msg receives the message; release with dg_queue_msg_cleanup()
 * @param err error detail (may be NULL)
 * @return DG_OK, DG_E_NOTFOUND, DG_E_PARSE, DG_E_IO
 */
enum dg_status dg_queue_get(struct dg_queue *q, const char *id, struct dg_queue_msg *msg,
                            struct dg_err *err);

/**
 * Remove message @p id (unlink and fsync of queue/).
 * @param q   queue (borrowed)
 * @param id  message id (borrowed; validated)
 * @param err error detail (may be NULL)
 * @return DG_OK, DG_E_NOTFOUND, DG_E_PARSE (bad id), DG_E_IO
 */
enum dg_status dg_queue_remove(struct dg_queue *q, const char *id, struct dg_err *err);

/**
 * List the ids in queue/, sorted.
 * @param q   queue (borrowed)
 * @param ids receives an array of ids, freed by the caller with free()
 * @param n   receives the number of ids
 * @param err error detail (may be NULL)
 * @return DG_OK or DG_E_IO
 */
enum dg_status dg_queue_list(struct dg_queue *q, char (**ids)[DG_QUEUE_ID_SIZE], size_t *n,
                             struct dg_err *err);

/**
 * @param id NUL-terminated text (borrowed); NULL is invalid
 * @return true if @p id is exactly DG_QUEUE_ID_LEN lowercase hex digits
 */
bool dg_queue_id_ok(const char *id);

/**
 * Whether the queue can store @p addr as a sender or recipient: 1..DG_QUEUE_ADDR_MAX bytes
 * of printable ASCII or well-formed UTF-8 (RFC 6531 mailboxes; no overlong forms,
 * surrogates or code points over U+10FFFF), without controls (C0, DEL, C1), space, '<' or
 * '>'. An address that passes is also safe between <> on the wire and in a log line.
 * @param addr NUL-terminated address without angle brackets (borrowed); NULL is invalid
 * @return true if the address may be queued
 */
bool dg_queue_addr_ok(const char *addr);

/**
 * @param addr NUL-terminated text (borrowed)
 * @return true if @p addr holds a byte >= 0x80 (so it needs SMTPUTF8 on the wire)
 */
bool dg_queue_addr_is_utf8(const char *addr);

/**
 * Parse one queue record (pure: no I/O, no logging). On success msg->body points into
 * @p p and msg->raw is NULL; msg->rcpt is allocated.
 * @param p   record bytes (borrowed, must outlive msg->body)
 * @param len record length
 * @param msg receives the message; release with dg_queue_msg_cleanup() (also on error)
 * @param err DG_E_PARSE or DG_E_LIMIT with the byte offset (may be NULL)
 * @return DG_OK, DG_E_PARSE or DG_E_LIMIT
 */
enum dg_status dg_queue_record_parse(const uint8_t *p, size_t len, struct dg_queue_msg *msg,
                                     struct dg_err *err);

/**
 * Serialise @p msg (id, arrival, sender, smtputf8, recipients, body) in canonical form.
 * @param msg message (borrowed)
 * @param out receives a malloc'd record, freed by the caller
 * @param len receives its length
 * @param err error detail (may be NULL)
 * @return DG_OK, DG_E_PARSE (a field that would not parse back) or DG_E_LIMIT
 */
enum dg_status dg_queue_record_format(const struct dg_queue_msg *msg, uint8_t **out, size_t *len,
                                      struct dg_err *err);

/** Release what @p msg owns and zero it. @param msg message (borrowed), may be NULL */
void dg_queue_msg_cleanup(struct dg_queue_msg *msg);

/**
 * @param st a recipient state
 * @return "pending", "delivered", "deferred" or "bounced" (static)
 */
const char *dg_queue_rcpt_state_str(enum dg_queue_rcpt_state st);

/* ------------------------------------------------------------------------ */
/* Delivery status notifications, RFC 3464 / RFC 6522 (queue_dsn.c)        */
/* ------------------------------------------------------------------------ */

/** Most bytes of the original header section copied into a DSN (text/rfc822-headers). */
#define DG_DSN_HEADERS_MAX (32u * 1024u)
/** Longest diagnostic kept per recipient (bytes, before folding). */
#define DG_DSN_DIAG_MAX 512u
/** Largest DSN built (the original headers are capped, so this is never reached in use). */
#define DG_DSN_MAX_BYTES (4u * 1024u * 1024u)

/** One recipient reported in a DSN. Every string is borrowed. */
struct dg_dsn_rcpt {
	const char *addr;        /**< recipient address (dg_queue_addr_ok): ASCII, or UTF-8
	                            reported as "utf-8; " xtext (RFC 6533 3) */
	const char *status;      /**< RFC 3463 status "5.7.1": class 4 or 5 */
	const char *action;      /**< "failed" (status 4.x.x or 5.x.x) or "delayed" (4.x.x) */
	const char *remote_mta;  /**< host name of the server that answered, or NULL */
	const char *diagnostic;  /**< "smtp; 550 5.7.1 ..." or NULL; control bytes become
	                            spaces, capped at DG_DSN_DIAG_MAX, folded */
	uint64_t last_attempt_s; /**< epoch seconds of the last attempt, 0: not reported */
};

/** The DSN's own data. Every string is borrowed. */
struct dg_dsn_params {
	const char *reporting_mta; /**< host name of the relay ("Reporting-MTA: dns; X") */
	const char *from;          /**< "MAILER-DAEMON@host" (header From) */
	const char *queue_id;      /**< queue id of the original message, or NULL */
	uint64_t arrival_s;        /**< arrival of the original; 0: use orig->arrival_s */
	uint64_t now_s;            /**< the DSN's Date */
};

/**
 * Build a delivery status notification (RFC 3464, RFC 6522) to the original sender: the
 * headers (From, To, Subject, Date, Message-ID, MIME-Version, Auto-Submitted: auto-replied,
 * Content-Type: multipart/report; report-type=delivery-status), a text/plain part naming
 * each recipient and its reason, a message/delivery-status part (per-message and
 * per-recipient fields), and a text/rfc822-headers part with the original header section
 * (never the body; capped at DG_DSN_HEADERS_MAX, 8-bit bytes replaced by '?'). Lines end in
 * CRLF and are at most 998 octets; the boundary does not occur in the content. The subject
 * is "Undelivered Mail Returned to Sender" when a recipient failed, else "Delayed Mail
 * (still being retried)". The DSN is sent with the null reverse path (the caller's job).
 * @param p    the DSN's data (borrowed)
 * @param orig the original message (borrowed): sender and body (headers + body) are used
 * @param rcpt recipients to report (borrowed), 1..DG_QUEUE_RCPT_MAX of them
 * @param n    their number
 * @param out  receives the message (malloc'd, freed by the caller)
 * @param len  receives its length
 * @param err  error detail (may be NULL)
 * @return DG_OK; DG_E_CONFIG when the original has the null sender (never bounce a
 *         bounce) or a parameter is missing; DG_E_PARSE for a malformed address, status or
 *         action; DG_E_LIMIT
 */
enum dg_status dg_dsn_build(const struct dg_dsn_params *p, const struct dg_queue_msg *orig,
                            const struct dg_dsn_rcpt *rcpt, size_t n, uint8_t **out, size_t *len,
                            struct dg_err *err);

#endif /* DANEGUARD_QUEUE_H */
