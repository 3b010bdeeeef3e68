/*
 * relay_smtpd.h - the relay's receiving side: an SMTP server on one libevent base that
 * accepts mail from allowed clients and writes it to the durable queue (lib/queue).
 *
 * Private API of lib/relay (the integrator may merge it into relay_int.h). Contract, states,
 * replies and limits: docs/internals/relay-smtpd.md. Files: relay_smtpd.c (listeners,
 * sessions, I/O, TLS, timeouts), relay_smtpd_proto.c (command state machine, DATA, queueing).
 */
#ifndef DG_RELAY_SMTPD_H
#define DG_RELAY_SMTPD_H

#include <daneguard/err.h>
#include <daneguard/queue.h>
#include <daneguard/util.h>

#include <event2/event.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

/** Defaults for zero fields of struct dg_relay_smtpd_opts. */
#define DG_RELAY_SMTPD_MAX_MESSAGE_DEFAULT (10u * 1024u * 1024u)
#define DG_RELAY_SMTPD_MAX_RCPTS_DEFAULT 100u
#define DG_RELAY_SMTPD_TIMEOUT_MS_DEFAULT 300000u
#define DG_RELAY_SMTPD_MAX_SESSIONS_DEFAULT 100u
#define DG_RELAY_SMTPD_MAX_OUTPUT_DEFAULT (256u * 1024u)

struct dg_relay_smtpd; /* a set of listeners and their sessions on one event_base */

/**
 * Decide whether a client may relay. Called at connect (client_cert NULL) and again after
 * a STARTTLS handshake (client_cert is the certificate the client presented, or NULL); the
 * latest answer rules the session.
 * @param arg         allow_arg (borrowed)
 * @param peer        client address (borrowed for the call)
 * @param client_cert client certificate (borrowed for the call), NULL if none
 * @return true if the client may send mail through the relay
 */
typedef bool dg_relay_smtpd_allow_cb(void *arg, const struct sockaddr *peer, X509 *client_cert);

/**
 * Told about each message once dg_queue_put() returned DG_OK, before the 250 reply is
 * written.
 * @param arg queued_arg (borrowed)
 * @param id  the queue id (borrowed for the call)
 * @param env envelope as queued (borrowed for the call; body fields unset, id set)
 */
typedef void dg_relay_smtpd_queued_cb(void *arg, const char *id, const struct dg_queue_msg *env);

/** Options; zero numeric fields select the defaults above. */
struct dg_relay_smtpd_opts {
	const char *hostname;           /**< greeting and EHLO name (borrowed, copied) */
	struct dg_queue *queue;         /**< borrowed: accepted messages go here */
	size_t max_message_bytes;       /**< body cap (SIZE, 552); keep it under the queue's
	                                     own cap minus 1 KiB for the Received: header */
	size_t max_rcpts;               /**< recipients per message (452 4.5.3 beyond) */
	unsigned timeout_ms;            /**< per command wait (default 300 s) */
	size_t max_sessions;            /**< concurrent sessions; more get 421 */
	size_t max_output_bytes;        /**< unread replies kept per session before it is
	                                     dropped (default 256 KiB) */
	SSL_CTX *tls;                   /**< borrowed; NULL: no STARTTLS offered */
	dg_relay_smtpd_allow_cb *allow; /**< NULL refuses every client (never an open relay) */
	void *allow_arg;
	dg_relay_smtpd_queued_cb *queued; /**< may be NULL */
	void *queued_arg;
	const struct dg_log *log; /**< borrowed; NULL: dg_log_global() */
};

/**
 * Create a receiver on @p base (no listener yet).
 * @param base event base (borrowed, must outlive the receiver)
 * @param o    options (borrowed; hostname copied, queue, tls and log borrowed)
 * @param out  receives the receiver, freed with dg_relay_smtpd_free()
 * @param err  error detail (may be NULL)
 * @return DG_OK or DG_E_CONFIG (no queue, bad hostname)
 */
enum dg_status dg_relay_smtpd_new(struct event_base *base, const struct dg_relay_smtpd_opts *o,
                                  struct dg_relay_smtpd **out, struct dg_err *err);

/**
 * Bind and listen on "IPv4:port" or "[IPv6]:port" (may be called more than once).
 * @param s         receiver (borrowed)
 * @param addr_port address text (borrowed)
 * @param err       error detail (may be NULL)
 * @return DG_OK, DG_E_CONFIG (bad address) or DG_E_IO (bind/listen)
 */
enum dg_status dg_relay_smtpd_listen(struct dg_relay_smtpd *s, const char *addr_port,
                                     struct dg_err *err);

/**
 * Accept on an already bound and listening socket (from the supervisor).
 * @param s   receiver (borrowed)
 * @param fd  listening socket (taken: closed by dg_relay_smtpd_free or stop_accepting;
 *            made non-blocking)
 * @param err error detail (may be NULL)
 * @return DG_OK or DG_E_IO (not a listening socket)
 */
enum dg_status dg_relay_smtpd_listen_fd(struct dg_relay_smtpd *s, int fd, struct dg_err *err);

/**
 * Graceful stop: close the listeners; idle sessions get 421 now, a session inside a
 * transaction finishes it (its 250/4xx/5xx reply is sent) and then gets 421.
 * @param s receiver (borrowed)
 */
void dg_relay_smtpd_stop_accepting(struct dg_relay_smtpd *s);

/** @param s receiver (borrowed) @return number of open sessions */
size_t dg_relay_smtpd_sessions(const struct dg_relay_smtpd *s);

/** Close every session and listener and free @p s. @param s receiver (taken), may be NULL */
void dg_relay_smtpd_free(struct dg_relay_smtpd *s);

/* ---- internal to relay_smtpd.c and relay_smtpd_proto.c ---------------------------------- */

#include <daneguard/smtp.h>

#include <event2/bufferevent.h>
#include <event2/listener.h>
#include <netinet/in.h>

#define SMTPD_LISTEN_MAX 8 /* listeners per receiver */
#define SMTPD_ID_LEN 8     /* hex digits of a session id */

/** Where a session is (STYLE.md section 6: explicit states). */
enum smtpd_state {
	SMTPD_ST_CMD = 0, /* reading command lines */
	SMTPD_ST_DATA,    /* the DATA reader owns the input */
	SMTPD_ST_TLS,     /* STARTTLS handshake running; input waits */
	SMTPD_ST_CLOSING, /* last reply being flushed, then the session is freed */
	SMTPD_ST_DEAD     /* free at once (injection, flood, error) */
};

/** One client connection. */
struct smtpd_sess {
	struct dg_relay_smtpd *srv;     /* owner */
	struct smtpd_sess *prev, *next; /* srv->sessions list */
	struct bufferevent *bev;        /* socket bev, later the TLS filter owning it */
	struct event *close_ev;         /* CLOSING: fires when flushed, or at the timeout */
	char id[SMTPD_ID_LEN + 1];      /* session id for log lines and Received: */
	struct sockaddr_storage peer;
	char addr[INET6_ADDRSTRLEN];
	enum smtpd_state state;
	bool allowed;   /* allow() said yes (at connect, or after TLS) */
	bool tls;       /* STARTTLS handshake done */
	bool cert_auth; /* a client certificate was presented and allowed */
	bool greeted;   /* EHLO or HELO seen (since the last STARTTLS) */
	bool esmtp;     /* ... and it was EHLO */
	bool discard;   /* skipping the rest of an over-long line */
	bool draining;  /* stop_accepting: 421 once the transaction ends */
	char helo[DG_SMTP_DOMAIN_MAX + 1];
	/* the transaction */
	bool mail;                          /* MAIL accepted */
	bool utf8;                          /* MAIL carried SMTPUTF8 */
	char sender[DG_QUEUE_ADDR_MAX + 1]; /* "" for the null sender */
	struct dg_queue_rcpt *rcpt;         /* opts.max_rcpts entries (owned) */
	size_t n_rcpt;                      /* accepted recipients */
	size_t txn;                         /* DATA commands so far (Received: id) */
	size_t n_queued;                    /* messages queued in this session */
	struct dg_buf body;                 /* Received: header + body */
	struct dg_smtp_data data;           /* DATA reader */
	struct dg_smtp_cmd cmd;             /* scratch for the parser (11 KiB) */
	const char *close_reason;           /* for the disconnect line */
};

/** The receiver. */
struct dg_relay_smtpd {
	struct event_base *base;
	struct dg_relay_smtpd_opts o; /* defaults applied; hostname points at hostname */
	char *hostname;               /* owned */
	const struct dg_log *log;
	struct evconnlistener *lis[SMTPD_LISTEN_MAX];
	size_t n_lis;
	struct smtpd_sess *sessions;
	size_t n_sessions;
	bool stopping;
	uint32_t next_id;
};

/* relay_smtpd.c */

/**
 * Append one reply line "CODE STATUS TEXT\r\n" to the session's output (sent in batches).
 * @param ss session (borrowed) @param code reply code @param status enhanced status or NULL
 * @param fmt printf format of the text
 */
void smtpd_reply(struct smtpd_sess *ss, unsigned code, const char *status, const char *fmt, ...)
    DG_PRINTF(4, 5);
/** Stack a TLS filter on the session's bev (the 220 is already queued). @param ss borrowed */
void smtpd_starttls(struct smtpd_sess *ss);

/* relay_smtpd_proto.c */

/** Queue the 220 greeting. @param ss session (borrowed) */
void smtpd_greet(struct smtpd_sess *ss);
/** Consume buffered input in order (commands, DATA); may set CLOSING/DEAD. @param ss borrowed */
void smtpd_input(struct smtpd_sess *ss);
/** Forget MAIL, recipients and body. @param ss session (borrowed) */
void smtpd_txn_reset(struct smtpd_sess *ss);
/** TLS is up: reset the session (RFC 3207 4.2) and ask allow() with the cert. @param ss borrowed */
void smtpd_after_tls(struct smtpd_sess *ss);
/** @param addr address (borrowed) @return true if the queue can store it */
bool smtpd_addr_storable(const char *addr);

#endif /* DG_RELAY_SMTPD_H */
