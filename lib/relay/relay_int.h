/*
 * relay_int.h - private structures of the relay daemon (lib/relay).
 *
 * The relay runs as cooperating processes (STYLE 6): a supervisor that owns the listening
 * sockets and restarts its children, a receiver that speaks SMTP and writes the queue
 * (relay_smtpd.c), and a scheduler that decides and delivers (relay_sched.c,
 * relay_deliver.c). They exchange typed messages over socketpairs (relay_ipc.c).
 *
 * Delivery decisions (relay_decide.c) are made from the engine's result for the next-hop
 * domain (lib/scan, dns_only: MX, addresses, TLSA, MTA-STS), the policy table entry and the
 * mode, then verified on the delivery connection itself: the chain each delivery session
 * receives goes through the same OpenSSL DANE code as `check` (lib/dane).
 */
#ifndef DG_RELAY_INT_H
#define DG_RELAY_INT_H

#include <daneguard/relay.h>
#include <daneguard/scan.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- delivery decision (relay_decide.c) ------------------------------------------------ */

/** What a delivery connection to one MX host must achieve. */
enum relay_req {
	RELAY_REQ_NONE = 0, /**< cleartext only (policy "none") */
	RELAY_REQ_MAY,      /**< STARTTLS when offered, unauthenticated; cleartext retry */
	RELAY_REQ_ENCRYPT,  /**< TLS mandatory, unauthenticated (also TLSA all unusable) */
	RELAY_REQ_DANE,     /**< TLS mandatory, chain must match the usable TLSA records */
	RELAY_REQ_STS       /**< TLS mandatory, PKIX-valid for the MX name (MTA-STS enforce) */
};

/** How the whole domain is to be handled. */
enum relay_plan_kind {
	RELAY_PLAN_DELIVER = 0, /**< try the hosts in order */
	RELAY_PLAN_DEFER,       /**< temporary: keep queued with the reason */
	RELAY_PLAN_BOUNCE       /**< permanent: return to the sender */
};

#define RELAY_REASON_MAX 320
#define RELAY_MAX_HOSTS 32

/** One MX host as the delivery will treat it. */
struct relay_host_plan {
	const struct dg_host_result *h; /**< borrowed from the engine result */
	enum relay_req req;             /**< what a connection to it must achieve */
	bool usable;                    /**< false: skipped, with @c why */
	char why[RELAY_REASON_MAX];     /**< why skipped, or "" */
	bool sts_testing;               /**< MTA-STS testing: failures only reported */
};

/** The decision for one destination domain. */
struct relay_plan {
	enum relay_plan_kind kind;
	const char *policy;           /**< "dane", "dane-only", "mta-sts", "may", "encrypt",
	                                   "none" (static): what ruled the decision */
	char status[8];               /**< RFC 3463 status for defer/bounce ("4.7.5") */
	char reason[RELAY_REASON_MAX]; /**< for defer/bounce: the reason with names */
	bool log_only;                /**< enforce nothing: deliver with the best TLS, log what
	                                   enforce mode would have done */
	char would_defer[RELAY_REASON_MAX]; /**< log-only: why enforce mode would defer the
	                                        whole domain, "" if it would not */
	struct relay_host_plan hosts[RELAY_MAX_HOSTS]; /**< in preference order */
	size_t n_hosts;
};

/**
 * Decide how to deliver to a domain (SPEC 3, 4, 5, 7, 8, 10). Pure: no I/O.
 * @param res      engine result for the next-hop domain (borrowed; must outlive @p out)
 * @param entry    policy table entry for the domain, or NULL (borrowed)
 * @param log_only the global mode is log-only (a table entry's mode overrides it)
 * @param out      the plan (borrowed, overwritten)
 */
void relay_decide(const struct dg_domain_result *res, const struct dg_relay_policy_entry *entry,
		  bool log_only, struct relay_plan *out);

/** @return "none", "may", "encrypt", "dane", "mta-sts" (static) */
const char *relay_req_str(enum relay_req r);

/* ---- delivery of a batch of messages to one domain (relay_deliver.c) ------------------- */

#include <daneguard/dane.h>
#include <daneguard/queue.h>
#include <daneguard/smtp.h>

#include <openssl/x509_vfy.h>

struct event_base;
struct dg_sts_cache;

struct relay_attempt;

/** Something that wants to see every delivery attempt (TLS-RPT, metrics). */
struct relay_observer {
	void (*attempt)(void *arg, const struct relay_attempt *a); /**< called synchronously */
	void *arg;
};

#define RELAY_OBSERVERS_MAX 4

/** What the scheduler process shares with every delivery job (all borrowed by jobs). */
struct relay_ctx {
	struct event_base *base;
	struct dg_engine *engine;          /**< dns_only engine (MX, addresses, TLSA, MTA-STS) */
	struct dg_dane_ctx *dane;          /**< DANE verification of delivery chains */
	X509_STORE *sts_store;             /**< PKIX store for MTA-STS hosts */
	SSL_CTX *ssl_ctx;                  /**< client context of delivery sessions */
	const struct dg_relay_conf *conf;  /**< configuration */
	const struct dg_relay_policy_map *policy; /**< policy table, or NULL */
	const struct dg_log *log;
	void (*would_defer)(void *arg, const char *domain, const char *id, const char *reason);
	void *would_defer_arg;             /**< log-only journal (relay_sched.c) */
	struct relay_observer obs[RELAY_OBSERVERS_MAX]; /**< see every attempt */
	size_t n_obs;
};

/**
 * One delivery attempt as observers see it: a connection to one MX address, or a decision
 * about the whole domain without a connection (host == NULL). Everything is borrowed for the
 * duration of the observer call.
 */
struct relay_attempt {
	const char *id;                     /**< queue id of the message being sent */
	const char *domain;                 /**< next-hop domain (the TLS-RPT/MTA-STS policy
	                                         domain, SPEC RPT-2) */
	const struct dg_domain_result *res; /**< engine result: MX, TLSA RRsets, MTA-STS */
	const struct relay_plan *plan;      /**< the decision */
	const struct relay_host_plan *host; /**< the MX host tried, NULL for a domain decision */
	const char *addr;                   /**< receiving IP, NULL without a connection */
	const char *local;                  /**< our source IP, NULL if unknown */
	bool first_on_conn;                 /**< the first message of its connection (or a
	                                         decision without one): a new TLS session, so
	                                         session counts (TLS-RPT, metrics) use only these */
	const char *result;                 /**< "sent", "host-failed", "deferred", "bounced" */
	bool tls;                           /**< a TLS session was established */
	bool verified;                      /**< DANE or MTA-STS authentication succeeded */
	const char *rpt_type;               /**< RFC 8460 result type of the failure (SPEC RPT-5,
	                                         RPT-6), NULL when none applies */
	const char *rpt_code;               /**< failure-reason-code, or NULL */
	const char *reason;                 /**< sentence, "" on success */
	size_t n_rcpt_ok;                   /**< recipients the server accepted */
	size_t n_rcpt;                      /**< recipients tried */
	uint64_t arrival_s;                 /**< arrival of the message in the queue */
	uint64_t elapsed_ms;                /**< start of the connection to its end */
};

/** Final disposition of one recipient after a job. */
enum relay_disp {
	RELAY_DISP_NONE = 0,  /**< not handled by this job */
	RELAY_DISP_DELIVERED, /**< accepted by the next hop */
	RELAY_DISP_DEFERRED,  /**< temporary failure: reason kept, retried later */
	RELAY_DISP_BOUNCED    /**< permanent failure: DSN to the sender */
};

struct relay_rcpt_out {
	enum relay_disp disp;
	char status[12];                       /**< RFC 3463 status */
	char reason[DG_QUEUE_REASON_MAX + 1];  /**< what happened, with names */
	char remote_mta[DG_NAME_BUF_SIZE];     /**< host that answered, "" if none */
};

/** One message of a job: the recipients of this domain. */
struct relay_job_msg {
	const struct dg_queue_msg *msg; /**< borrowed from the scheduler for the job's life */
	size_t *ri;                     /**< indexes into msg->rcpt (owned by the job) */
	size_t n;
	struct relay_rcpt_out *out;     /**< n results (owned by the job) */
	bool done;                      /**< every recipient has a final answer for this job */
	bool reported;                  /**< handed to msg_cb already */
};

struct relay_job;
/** Called once when a job ends; the job is freed by the caller with relay_job_free(). */
typedef void relay_job_cb(void *arg, struct relay_job *job);

struct relay_job {
	const struct relay_ctx *ctx;
	char domain[DG_NAME_BUF_SIZE];
	struct relay_job_msg *m;
	size_t n_m;
	relay_job_cb *cb;
	void *cb_arg;
	/** Called as soon as one message has its final answers from a server (index into m),
	 *  so the scheduler records it at once and a crash cannot deliver it twice; may be
	 *  NULL. Messages not reported this way are settled by @c cb. */
	void (*msg_cb)(void *arg, struct relay_job *job, size_t i);
	/* state */
	struct dg_domain_result *res;   /**< engine result (owned) */
	struct relay_plan plan;
	size_t host_i, addr_i, msg_i;
	bool clear_retry;               /**< MAY: this address is being retried in clear */
	struct dg_smtp_deliver *sess;
	const char **rcpt_tmp;          /**< recipients of the message being sent */
	char last_fail[RELAY_REASON_MAX];
	char verify_note[RELAY_REASON_MAX];  /**< what the verify callback found */
	char log_only_note[RELAY_REASON_MAX];
	const char *rpt_type;           /**< RFC 8460 result type found by the verify step */
	char rpt_code[96];              /**< its failure-reason-code */
	uint64_t conn_start_ms;         /**< monotonic start of the current connection */
	size_t msgs_on_conn;            /**< attempts reported on the current connection */
	bool verified;
	bool finished;
};

/**
 * Start delivering @p m (taken: the job frees the ri/out arrays) to @p domain.
 * @return DG_OK; the callback runs later, from the loop, exactly once.
 */
enum dg_status relay_job_start(const struct relay_ctx *ctx, const char *domain,
			       struct relay_job_msg *m, size_t n_m, relay_job_cb *cb, void *arg,
			       struct relay_job **out, struct dg_err *err);
/** Cancel without callback (shutdown). */
void relay_job_cancel(struct relay_job *job);
/** Free a finished job. */
void relay_job_free(struct relay_job *job);

/* ---- scheduler (relay_sched.c) ---------------------------------------------------------- */

struct relay_sched;

/** Counters of the scheduler process since it started. */
struct relay_sched_stats {
	uint64_t delivered, deferred, bounced; /**< recipients by outcome of their attempts */
	size_t messages;                       /**< messages in the index (queued) */
	unsigned active_jobs;                  /**< deliveries running */
	uint64_t oldest_arrival_s;             /**< arrival of the oldest message, 0 if none */
};

/** Create the scheduler on ctx->base and index the queue @p q (both borrowed). */
enum dg_status relay_sched_new(struct relay_ctx *ctx, struct dg_queue *q,
			       struct relay_sched **out, struct dg_err *err);
/** Cancel running jobs (messages stay queued) and free. NULL ok. */
void relay_sched_free(struct relay_sched *s);
/** A message was queued (receiver notification): index it and try it now. */
void relay_sched_notify(struct relay_sched *s, const char *id);
/** Retry every deferred recipient now (`relay queue flush`). */
void relay_sched_flush(struct relay_sched *s);
/** Remove a message from the queue and the index (`relay queue delete`). */
enum dg_status relay_sched_delete(struct relay_sched *s, const char *id, struct dg_err *err);
/** Start no new job (shutdown). */
void relay_sched_stop(struct relay_sched *s);
/** Current counters. */
void relay_sched_stats(const struct relay_sched *s, struct relay_sched_stats *out);
#ifdef DG_TESTING
/** Next-hop domain of a recipient address, A-label form (tests; static otherwise). */
char *relay_rcpt_domain(const char *addr);
#endif

/* ---- inter-process messages (relay_ipc.c) ---------------------------------------------- */

/** Message types between the relay's processes (STYLE 6). */
enum relay_ipc_type {
	RELAY_IPC_READY = 1,  /**< child -> supervisor: started; payload: role (u8) */
	RELAY_IPC_QUEUED = 2, /**< receiver -> scheduler: payload: queue id (20 bytes) */
	RELAY_IPC_FLUSH = 3,  /**< control -> scheduler: no payload */
	RELAY_IPC_DELETE = 4  /**< control -> scheduler: payload: queue id */
};

#define RELAY_IPC_MAX 64 /**< largest message on the wire, header included */

/** One decoded message. */
struct relay_ipc_msg {
	enum relay_ipc_type type;
	uint8_t role;                  /**< READY */
	char id[DG_QUEUE_ID_SIZE];     /**< QUEUED, DELETE */
};

/**
 * Encode @p m: 2-byte big-endian length of the whole message, 1-byte type, payload.
 * @return bytes written to @p buf (at most RELAY_IPC_MAX), 0 if @p m is invalid
 */
size_t relay_ipc_pack(const struct relay_ipc_msg *m, uint8_t *buf, size_t size);

/**
 * Decode one message from the start of @p p (pure). Every byte of the declared length must be
 * consumed by the fields of its type.
 * @param used receives the bytes consumed when DG_OK
 * @return DG_OK; DG_E_LIMIT when @p len is shorter than the declared length (more bytes
 *         are needed) or the declared length exceeds RELAY_IPC_MAX; DG_E_PARSE with the
 *         reason for a malformed message
 */
enum dg_status relay_ipc_unpack(const uint8_t *p, size_t len, struct relay_ipc_msg *m,
				size_t *used, struct dg_err *err);

#endif /* DG_RELAY_INT_H */
