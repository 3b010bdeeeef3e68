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
/** Current record format version (first line "daneguard-queue: 1"). */
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
	char addr[DG_QUEUE_ADDR_MAX + 1];     /**< address, printable ASCII, no spaces or <> */
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
};

struct dg_queue;

/**
 * Open (creating DIR, incoming/, queue/, deferred/ and corrupt/ as needed) and recover:
 * every file in incoming/ is removed (it was never acknowledged) and every file in queue/
 * is parsed; an unparsable one is moved to corrupt/ with a warning, never deleted.
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
 * @param env  envelope (borrowed): sender, rcpt and n_rcpt are used; arrival_s 0 means now;
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
 * Serialise @p msg (id, arrival, sender, recipients, body) in canonical form.
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

#endif /* DANEGUARD_QUEUE_H */
