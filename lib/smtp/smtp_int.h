/*
 * smtp_int.h - private declarations of the smtp module's STARTTLS probe,
 * shared by smtp_probe.c (lifecycle, results, transcript), smtp_session.c
 * (state machine and I/O) and smtp_tls.c (OpenSSL setup and capture).
 * Not installed; only lib/smtp/ and its unit tests include it.
 */
#ifndef DANEGUARD_SMTP_INT_H
#define DANEGUARD_SMTP_INT_H

#include <daneguard/smtp.h>

#include <sys/socket.h>

struct bufferevent;
struct event;

/*
 * One probe. Resources are listed in creation order; probe_free() releases
 * them in reverse. The probe owns everything here except base, cb/arg and
 * log (borrowed) and ssl once the TLS filter exists (the filter owns it).
 */
struct dg_smtp_probe {
	struct event_base *base;  /* borrowed */
	dg_smtp_probe_cb *cb;     /* result callback */
	void *arg;                /* callback argument (borrowed) */
	const struct dg_log *log; /* borrowed, NULL = global */
	char id[32];              /* log id */
	char *helo;               /* owned copy */
	char *sni;                /* owned copy or NULL */
	enum dg_smtp_keytype keytype;
	unsigned tmo_ms[DG_SMTP_STAGE_DONE + 1]; /* per-stage deadlines */
	unsigned total_ms;                       /* overall deadline */
	struct sockaddr_storage sa;              /* parsed address */
	socklen_t salen;
	bool want_transcript;

	enum dg_smtp_probe_stage state;          /* current state */
	uint64_t start_ms;                       /* dg_clock_mono_ms() at start */
	unsigned in_cb;                          /* depth of our own callbacks on the stack */
	bool finished;                           /* the result is final */
	bool closing;                            /* free when in_cb drops to 0 */
	bool cancelled;                          /* no user callback any more */
	bool transcript_full;                    /* lines were dropped */
	bool quit_then_fail;                     /* a failure waits for the polite QUIT to finish */
	enum dg_smtp_probe_outcome fail_outcome; /* that failure ... */
	enum dg_smtp_probe_stage fail_stage;     /* ... the state it happened in */
	int fail_code;                           /* ... the reply code that caused it */
	char fail_reason[DG_ERR_MSG_MAX];        /* ... and its reason */

	/* resources, in creation order */
	struct dg_smtp_reply_parser parser;
	struct dg_buf transcript;
	SSL_CTX *ssl_ctx;        /* up-ref'd or created here */
	struct event *ev_total;  /* overall deadline */
	struct event *ev_stage;  /* current stage deadline */
	struct event *ev_defer;  /* delivers a failure found in start */
	struct event *ev_ack;    /* quick ACK shortly after the TLS handshake */
	struct bufferevent *bev; /* socket bev; later the TLS filter owning it */
	SSL *ssl;                /* owned until the TLS filter takes it, then NULL */

	struct dg_smtp_probe_result res;
};

/* smtp_probe.c */
void dg_smtp_probe_enter(struct dg_smtp_probe *p);
void dg_smtp_probe_leave(struct dg_smtp_probe *p);
void dg_smtp_probe_finish(struct dg_smtp_probe *p, enum dg_smtp_probe_outcome outcome,
                          const char *fmt, ...) DG_PRINTF(3, 4);
void dg_smtp_probe_note(struct dg_smtp_probe *p, const char *prefix, const char *text);

/* smtp_session.c */
enum dg_status dg_smtp_session_begin(struct dg_smtp_probe *p, struct dg_err *err);

/* smtp_tls.c */
enum dg_status dg_smtp_tls_ssl_new(SSL_CTX *ctx, const char *sni, enum dg_smtp_keytype kt,
                                   SSL **out, struct dg_err *err);
void dg_smtp_tls_capture(SSL *ssl, struct dg_smtp_probe_result *res);
void dg_smtp_tls_error_str(unsigned long e, char *buf, size_t size);

/* ------------------------------------------------------------------------ */
/* SMTP delivery client (smtp_deliver.c, smtp_deliver_session.c,            */
/* smtp_deliver_io.c)                                                       */
/* ------------------------------------------------------------------------ */

/*
 * One delivery connection. Resources are listed in creation order and
 * released in reverse by deliver_free() (smtp_deliver.c). The object owns
 * everything here except base, log, verify_arg, the current envelope's
 * strings and body, cb/arg (borrowed), and ssl once the TLS filter exists.
 */
struct dg_smtp_deliver {
	struct event_base *base;  /* borrowed */
	const struct dg_log *log; /* borrowed, NULL = global */
	char id[32];              /* log id */
	char *helo;               /* owned copy */
	char *sni;                /* owned copy or NULL */
	enum dg_smtp_tls_policy tls;
	dg_smtp_deliver_verify_cb *verify;
	void *verify_arg;
	unsigned tmo_ms[DG_SMTP_DELIVER_STAGE_CLOSED + 1]; /* per-state deadlines */
	unsigned block_ms;                                 /* body write progress deadline */
	struct sockaddr_storage sa;
	socklen_t salen;

	enum dg_smtp_deliver_stage state;
	unsigned in_cb;      /* depth of our own callbacks on the stack */
	bool closing;        /* free when in_cb drops to 0 */
	bool user_gone;      /* close/cancel called: no callback any more */
	bool dead;           /* the connection is unusable (closed, failed, 421) */
	bool quit_then_fail; /* a host failure waits for the polite QUIT */
	enum dg_smtp_deliver_stage fail_stage;
	char fail_reason[DG_ERR_MSG_MAX];
	bool helo_used;           /* EHLO got 5xx, HELO worked: no extensions */
	struct dg_smtp_ehlo ehlo; /* the EHLO reply in force (inside TLS after STARTTLS) */

	/* the current message */
	bool msg_active;             /* a callback is owed */
	struct dg_smtp_envelope env; /* borrowed pointers */
	dg_smtp_deliver_cb *cb;
	void *arg;
	bool *accepted;    /* per recipient: RCPT got 2xx */
	bool *answered;    /* per recipient: rcpt[i] holds a final reply */
	size_t rcpt_idx;   /* next RCPT reply expected */
	size_t n_accepted; /* recipients with 2xx to RCPT */
	bool mail_failed;  /* MAIL got other than 2xx */
	bool pipelined;    /* MAIL, RCPTs, DATA went out in one write */
	bool discard_data; /* "." sent only to end a DATA nobody needs */
	bool eight_bit;    /* the body has bytes >= 0x80 */
	size_t wire_len;   /* body bytes on the wire, dot-stuffing and CRLF included */
	size_t body_off;   /* next body byte to queue */
	bool body_tail;    /* final CRLF "." CRLF queued */

	/* resources, in creation order */
	struct dg_smtp_reply_parser parser;
	SSL_CTX *ssl_ctx;        /* up-ref'd or created here */
	struct event *ev_stage;  /* current state's deadline */
	struct event *ev_defer;  /* delivers a failure found outside the loop */
	struct bufferevent *bev; /* socket bev; later the TLS filter owning it */
	SSL *ssl;                /* owned until the TLS filter takes it, then NULL */

	struct dg_smtp_deliver_result res; /* res.rcpt owned */
};

/* smtp_deliver.c */
void dg_smtp_deliver_enter(struct dg_smtp_deliver *d);
void dg_smtp_deliver_leave(struct dg_smtp_deliver *d);
void dg_smtp_deliver_msg_begin(struct dg_smtp_deliver *d);
void dg_smtp_deliver_msg_done(struct dg_smtp_deliver *d, enum dg_smtp_deliver_outcome outcome,
                              const char *fmt, ...) DG_PRINTF(3, 4);
void dg_smtp_deliver_rcpt_local(struct dg_smtp_rcpt_reply *rr, unsigned code, const char *status,
                                const char *text);
void dg_smtp_deliver_rcpt_remote(struct dg_smtp_rcpt_reply *rr, const struct dg_smtp_reply *r);
const char *dg_smtp_deliver_reply_str(const struct dg_smtp_reply *r, char *buf, size_t size);

/* smtp_deliver_session.c: the state machine */
void dg_smtp_deliver_session_rset(struct dg_smtp_deliver *d);
void dg_smtp_deliver_session_quit(struct dg_smtp_deliver *d);
void dg_smtp_deliver_state_enter(struct dg_smtp_deliver *d, enum dg_smtp_deliver_stage state);
void dg_smtp_deliver_response(struct dg_smtp_deliver *d, const struct dg_smtp_reply *r);
void dg_smtp_deliver_fail(struct dg_smtp_deliver *d, const char *fmt, ...) DG_PRINTF(2, 3);
void dg_smtp_deliver_fail_quit(struct dg_smtp_deliver *d, const struct dg_smtp_reply *r,
                               const char *fmt, ...) DG_PRINTF(3, 4);
void dg_smtp_deliver_closed(struct dg_smtp_deliver *d);

/* smtp_deliver_io.c: connection, deadlines, TLS, body writing */
enum dg_status dg_smtp_deliver_session_begin(struct dg_smtp_deliver *d, struct dg_err *err);
void dg_smtp_deliver_session_abort(struct dg_smtp_deliver *d);
void dg_smtp_deliver_arm(struct dg_smtp_deliver *d, unsigned ms);
void dg_smtp_deliver_stop_io(struct dg_smtp_deliver *d);
void dg_smtp_deliver_tls_start(struct dg_smtp_deliver *d);
void dg_smtp_deliver_body_pump(struct dg_smtp_deliver *d);
const char *dg_smtp_deliver_waiting_for(enum dg_smtp_deliver_stage s);

#endif /* DANEGUARD_SMTP_INT_H */
