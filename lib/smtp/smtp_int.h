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

#endif /* DANEGUARD_SMTP_INT_H */
