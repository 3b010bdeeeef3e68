/*
 * test_net_smtp_deliver.c - the SMTP delivery client (lib/smtp/smtp_deliver.c,
 * smtp_deliver_session.c) against an in-process scripted SMTP server.
 *
 * The server runs on the same event_base (evconnlistener on 127.0.0.1 with
 * an ephemeral port; ctest runs this file in a private network namespace,
 * tests/in-netns). It holds a self-signed ECDSA certificate made at start-up,
 * answers from a per-case script, undoes dot-stuffing itself and records
 * what it saw: the verbs, the MAIL and RCPT lines, each message body, the
 * SNI, and how many commands arrived in the read that carried MAIL (one
 * batch with PIPELINING). Each table row is one scenario; failures print
 * "got X, want Y".
 */
#include <daneguard/smtp.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define SILENT "\001silent" /* send nothing */
#define CLOSE "\001close"   /* close the connection instead of replying */
#define CERT_CN "mx.example.test"
#define TEST_SNI "mx.example.test"
#define GUARD_MS 8000 /* a run that never ends fails the test */
#define MAX_MSGS 4    /* bodies the server keeps */
#define BODY_CAP (4u << 20)

enum body_kind { BODY_STD = 0, BODY_8BIT, BODY_BIG, BODY_EMPTY };

/* What the scripted server says; NULL fields use the defaults below. */
struct script {
	const char *banner;
	const char *ehlo;
	const char *ehlo_tls;
	const char *helo;
	const char *starttls;
	const char *mail;
	const char *rcpt[2]; /* per recipient index in a transaction */
	const char *data;
	const char *data_done;
	const char *rset;
	bool data_always;      /* answer DATA with .data even without accepted recipients */
	bool close_after_data; /* close once the reply to "." has left */
};

static const char def_banner[] = "220 mx.example.test ESMTP test\r\n";
static const char ehlo_tls_pipe[] = "250-mx.example.test hello\r\n250-PIPELINING\r\n"
                                    "250-SIZE 10240000\r\n250-8BITMIME\r\n"
                                    "250-STARTTLS\r\n250 ENHANCEDSTATUSCODES\r\n";
static const char ehlo_pipe[] = "250-mx.example.test hello\r\n250-PIPELINING\r\n"
                                "250-SIZE 10240000\r\n250-8BITMIME\r\n250 ENHANCEDSTATUSCODES\r\n";
static const char ehlo_nopipe[] = "250-mx.example.test hello\r\n250-SIZE 10240000\r\n"
                                  "250 ENHANCEDSTATUSCODES\r\n";
static const char ehlo_utf8[] = "250-mx.example.test hello\r\n250-PIPELINING\r\n"
                                "250 SMTPUTF8\r\n";
static const char ehlo_small[] = "250-mx.example.test hello\r\n250 SIZE 100\r\n";
static const char def_ehlo_tls[] = "250-mx.example.test hello again\r\n250-PIPELINING\r\n"
                                   "250 8BITMIME\r\n";

/* Message 1 (two recipients) and message 2 (null sender, one recipient). */
static const char *const rcpts1[] = {"a@example.net", "b@example.net"};
static const char *const rcpts2[] = {"c@example.net"};
static const char body_std[] = "Subject: t\r\n\r\nline1\r\n.\r\n..x\r\n.end"; /* no final CRLF */
static const char body_std_want[] = "Subject: t\r\n\r\nline1\r\n.\r\n..x\r\n.end\r\n";
static const char body_8bit[] = "Subject: caf\xc3\xa9\r\n\r\nna\xc3\xafve\r\n";
static const char body2[] = "Subject: second\r\n\r\nsecond\r\n";

/* One table row. */
struct dcase {
	const char *name;
	struct script sc;
	enum dg_smtp_tls_policy tls;
	bool verify_reject; /* the verify callback says no */
	enum body_kind body;
	bool smtputf8;
	bool one_rcpt;      /* only a@example.net */
	bool two_msgs;      /* a second message via dg_smtp_deliver_next() */
	bool cancel_in_cb;  /* dg_smtp_deliver_cancel() inside a HOST_FAILED callback */
	unsigned banner_ms; /* 0: 1500 */
	/* wanted */
	enum dg_smtp_deliver_outcome outcome;
	const char *reason_has;
	unsigned code[2];      /* per recipient; 0: not checked */
	const char *status[2]; /* NULL: not checked */
	const char *seen;      /* verbs the server saw, exactly; NULL: not checked */
	int bodies;            /* bodies the server received */
	int batch;             /* commands in the read with MAIL; 0: not checked */
	bool want_tls;
	const char *mail_has;   /* substring of the server's (first) MAIL line */
	const char *mail_lacks; /* must not be in it */
	int stage;              /* -1: not checked */
	bool not_reusable;      /* a DONE result must say reusable = false */
	bool second_failed;     /* the second message ends HOST_FAILED */
	bool next_later;        /* call dg_smtp_deliver_next() 200 ms after the first result */
};

struct world;

/* One server-side connection. */
struct srv_conn {
	struct world *w;
	struct bufferevent *bev;
	bool tls;
	bool in_data;
	bool close_flushed; /* shut down once the output is empty */
	bool mail_ok;       /* the transaction's MAIL got 2xx */
	size_t rcpt_i;      /* RCPT index in the transaction */
	size_t accepted;    /* RCPTs answered 2xx */
	struct srv_conn *next;
};

/* Server, client and what the callbacks saw, for one test. */
struct world {
	struct event_base *base;
	struct evconnlistener *lis;
	uint16_t port;
	const struct dcase *tc;
	SSL_CTX *srv_ctx;
	struct srv_conn *conns;
	char seen[512];
	char srv_sni[256];
	char mail_line[2][600];
	char rcpt_lines[512];
	int nmail;
	int batch;
	uint8_t *body[MAX_MSGS];
	size_t body_len[MAX_MSGS];
	int nbodies;
	uint8_t *cur; /* body being received */
	size_t cur_len;
	bool quit_seen;
	struct event *guard;
	bool guard_fired;
	struct event *next_ev;
	/* client */
	struct dg_smtp_deliver *d;
	struct dg_smtp_envelope env1, env2;
	uint8_t *big;
	int ncb;
	bool verify_called;
	int verify_chain_len;
	char verify_cn[128];
	struct dg_smtp_deliver_result res[2];
	struct dg_smtp_rcpt_reply rcpt[2][2];
	uint64_t t0_ms, t_cb_ms;
};

static EVP_PKEY *srv_key;
static X509 *srv_cert;

static X509 *make_cert(EVP_PKEY *key, const char *cn);
static SSL_CTX *srv_ctx_new(void);
static void srv_accept_cb(struct evconnlistener *lis, evutil_socket_t fd, struct sockaddr *sa,
                          int salen, void *arg);
static void srv_read_cb(struct bufferevent *bev, void *arg);
static void srv_event_cb(struct bufferevent *bev, short what, void *arg);
static void srv_write_cb(struct bufferevent *bev, void *arg);
static void next_cb(evutil_socket_t fd, short what, void *arg);
static void srv_say(struct srv_conn *c, const char *text, const char *dflt);
static bool srv_command(struct srv_conn *c, const char *line);
static void srv_data_line(struct srv_conn *c, const char *line, size_t len);
static void srv_start_tls(struct srv_conn *c);
static void world_init(struct world *w, const struct dcase *tc);
static void world_cleanup(struct world *w);
static void on_result(void *arg, struct dg_smtp_deliver_result *res);
static bool on_verify(void *arg, SSL *ssl, STACK_OF(X509) * chain, char *reason, size_t size);
static void guard_cb(evutil_socket_t fd, short what, void *arg);
/* The second message of a next_later case, on a connection closed while idle. */
static void next_cb(evutil_socket_t fd, short what, void *arg)
{
	struct world *w = arg;

	(void)fd;
	(void)what;
	assert_int_equal(dg_smtp_deliver_next(w->d, &w->env2, on_result, w, NULL), DG_OK);
	assert_int_equal(w->ncb, 1); /* reported from the loop, not from inside _next */
}

static void test_opts(struct dg_smtp_deliver_opts *o, struct world *w);
static uint64_t now_ms(void);

/* ------------------------------------------------------------------------ */
/* Certificate                                                              */
/* ------------------------------------------------------------------------ */

static X509 *make_cert(EVP_PKEY *key, const char *cn)
{
	X509 *x = X509_new();
	X509_NAME *name;

	assert_non_null(x);
	assert_int_equal(X509_set_version(x, 2), 1);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 7);
	X509_gmtime_adj(X509_getm_notBefore(x), -3600);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400);
	assert_int_equal(X509_set_pubkey(x, key), 1);
	name = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
	assert_int_equal(X509_set_issuer_name(x, name), 1);
	assert_true(X509_sign(x, key, EVP_sha256()) > 0);
	return x;
}

static int group_setup(void **state)
{
	(void)state;
	if (getenv("DG_TEST_VERBOSE") != NULL) {
		dg_log_global()->level = DG_LOG_DEBUG;
		dg_log_global()->trace = DG_LOG_TRACE_SMTP | DG_LOG_TRACE_TLS;
	}
	srv_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	if (srv_key == NULL)
		return -1;
	srv_cert = make_cert(srv_key, CERT_CN);
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	X509_free(srv_cert);
	EVP_PKEY_free(srv_key);
	return 0;
}

static SSL_CTX *srv_ctx_new(void)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

	assert_non_null(ctx);
	assert_int_equal(SSL_CTX_use_certificate(ctx, srv_cert), 1);
	assert_int_equal(SSL_CTX_use_PrivateKey(ctx, srv_key), 1);
	return ctx;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* ------------------------------------------------------------------------ */
/* Scripted SMTP server                                                     */
/* ------------------------------------------------------------------------ */

static void srv_accept_cb(struct evconnlistener *lis, evutil_socket_t fd, struct sockaddr *sa,
                          int salen, void *arg)
{
	struct world *w = arg;
	struct srv_conn *c = calloc(1, sizeof(*c));
	int one = 1;

	(void)lis;
	(void)sa;
	(void)salen;
	assert_non_null(c);
	c->w = w;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c->bev =
	    bufferevent_socket_new(w->base, fd, BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
	assert_non_null(c->bev);
	bufferevent_setcb(c->bev, srv_read_cb, srv_write_cb, srv_event_cb, c);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	c->next = w->conns;
	w->conns = c;
	srv_say(c, w->tc->sc.banner, def_banner);
}

static void srv_say(struct srv_conn *c, const char *text, const char *dflt)
{
	if (text == NULL)
		text = dflt;
	if (strcmp(text, CLOSE) == 0)
		shutdown(bufferevent_getfd(c->bev), SHUT_RDWR);
	else if (strcmp(text, SILENT) != 0)
		bufferevent_write(c->bev, text, strlen(text));
}

static void srv_start_tls(struct srv_conn *c)
{
	SSL *ssl = SSL_new(c->w->srv_ctx);
	struct bufferevent *filter;

	assert_non_null(ssl);
	filter = bufferevent_openssl_filter_new(c->w->base, c->bev, ssl, BUFFEREVENT_SSL_ACCEPTING,
	                                        BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
	assert_non_null(filter);
	c->bev = filter;
	c->tls = true;
	bufferevent_setcb(filter, srv_read_cb, NULL, srv_event_cb, c);
	bufferevent_enable(filter, EV_READ | EV_WRITE);
}

/* One line of DATA (CRLF removed): "." ends it, a leading dot is removed. */
static void srv_data_line(struct srv_conn *c, const char *line, size_t len)
{
	struct world *w = c->w;

	if (len == 1 && line[0] == '.') {
		c->in_data = false;
		if (w->nbodies < MAX_MSGS) {
			w->body[w->nbodies] = w->cur;
			w->body_len[w->nbodies++] = w->cur_len;
		} else {
			free(w->cur);
		}
		w->cur = NULL;
		w->cur_len = 0;
		srv_say(c, w->tc->sc.data_done, "250 2.0.0 Ok: queued as X1\r\n");
		c->close_flushed = w->tc->sc.close_after_data;
		return;
	}
	if (line[0] == '.') {
		line++;
		len--;
	}
	if (w->cur == NULL)
		w->cur = malloc(BODY_CAP);
	assert_non_null(w->cur);
	assert_true(w->cur_len + len + 2 <= BODY_CAP);
	memcpy(w->cur + w->cur_len, line, len);
	memcpy(w->cur + w->cur_len + len, "\r\n", 2);
	w->cur_len += len + 2;
}

/* Returns true if the command was MAIL. */
static bool srv_command(struct srv_conn *c, const char *line)
{
	struct world *w = c->w;
	const struct script *sc = &w->tc->sc;
	char verb[16];

	snprintf(verb, sizeof(verb), "%.*s", (int)strcspn(line, " "), line);
	if (strlen(w->seen) + strlen(verb) + 2 < sizeof(w->seen)) {
		strcat(w->seen, verb);
		strcat(w->seen, "|");
	}
	if (strcasecmp(verb, "EHLO") == 0) {
		srv_say(c, c->tls ? sc->ehlo_tls : sc->ehlo, c->tls ? def_ehlo_tls : ehlo_tls_pipe);
	} else if (strcasecmp(verb, "HELO") == 0) {
		srv_say(c, sc->helo, "250 mx.example.test\r\n");
	} else if (strcasecmp(verb, "STARTTLS") == 0) {
		const char *r = sc->starttls != NULL ? sc->starttls : "220 2.0.0 go ahead\r\n";

		srv_say(c, r, NULL);
		if (strncmp(r, "220", 3) == 0)
			srv_start_tls(c);
	} else if (strcasecmp(verb, "MAIL") == 0) {
		if (w->nmail < 2)
			snprintf(w->mail_line[w->nmail], sizeof(w->mail_line[0]), "%s", line);
		w->nmail++;
		c->rcpt_i = 0;
		c->accepted = 0;
		c->mail_ok = sc->mail == NULL || sc->mail[0] == '2';
		srv_say(c, sc->mail, "250 2.1.0 Ok\r\n");
		return true;
	} else if (strcasecmp(verb, "RCPT") == 0) {
		const char *r = c->rcpt_i < 2 && sc->rcpt[c->rcpt_i] != NULL ? sc->rcpt[c->rcpt_i]
		                                                             : "250 2.1.5 Ok\r\n";

		if (!c->mail_ok)
			r = "503 5.5.1 Error: need MAIL command\r\n";

		if (strlen(w->rcpt_lines) + strlen(line) + 2 < sizeof(w->rcpt_lines)) {
			strcat(w->rcpt_lines, line);
			strcat(w->rcpt_lines, "|");
		}
		c->rcpt_i++;
		if (r[0] == '2')
			c->accepted++;
		srv_say(c, r, NULL);
	} else if (strcasecmp(verb, "DATA") == 0) {
		const char *r =
		    sc->data != NULL ? sc->data : "354 End data with <CR><LF>.<CR><LF>\r\n";

		if (c->accepted == 0 && !sc->data_always)
			r = "554 5.5.1 Error: no valid recipients\r\n";
		srv_say(c, r, NULL);
		c->in_data = strncmp(r, "354", 3) == 0;
	} else if (strcasecmp(verb, "RSET") == 0) {
		srv_say(c, sc->rset, "250 2.0.0 Ok\r\n");
	} else if (strcasecmp(verb, "QUIT") == 0) {
		w->quit_seen = true;
		srv_say(c, NULL, "221 2.0.0 Bye\r\n");
	} else {
		srv_say(c, "500 5.5.1 command unrecognized\r\n", NULL);
	}
	return false;
}

static void srv_read_cb(struct bufferevent *bev, void *arg)
{
	struct srv_conn *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	bool mail_here = false;
	int ncmd = 0;
	size_t len;
	char *line;

	while (bev == c->bev &&
	       (line = evbuffer_readln(in, &len, EVBUFFER_EOL_CRLF_STRICT)) != NULL) {
		if (c->in_data) {
			srv_data_line(c, line, len);
		} else {
			ncmd++;
			mail_here = srv_command(c, line) || mail_here;
		}
		free(line);
	}
	if (mail_here && c->w->batch == 0)
		c->w->batch = ncmd;
}

static void srv_write_cb(struct bufferevent *bev, void *arg)
{
	struct srv_conn *c = arg;

	if (c->close_flushed && evbuffer_get_length(bufferevent_get_output(bev)) == 0) {
		c->close_flushed = false;
		shutdown(bufferevent_getfd(bev), SHUT_RDWR);
	}
}

static void srv_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct srv_conn *c = arg;

	if ((what & BEV_EVENT_CONNECTED) && c->tls) {
		const char *sni =
		    SSL_get_servername(bufferevent_openssl_get_ssl(bev), TLSEXT_NAMETYPE_host_name);

		snprintf(c->w->srv_sni, sizeof(c->w->srv_sni), "%s", sni != NULL ? sni : "");
	}
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
		bufferevent_disable(bev, EV_READ | EV_WRITE);
		ERR_clear_error();
		if (c->w->ncb > 0 && c->w->d == NULL)
			event_base_loopbreak(c->w->base);
	}
}

/* ------------------------------------------------------------------------ */
/* World                                                                    */
/* ------------------------------------------------------------------------ */

static void guard_cb(evutil_socket_t fd, short what, void *arg)
{
	struct world *w = arg;

	(void)fd;
	(void)what;
	w->guard_fired = true;
	event_base_loopbreak(w->base);
}

static void world_init(struct world *w, const struct dcase *tc)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);

	memset(w, 0, sizeof(*w));
	w->tc = tc;
	w->base = event_base_new();
	assert_non_null(w->base);
	w->srv_ctx = srv_ctx_new();
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	w->lis = evconnlistener_new_bind(w->base, srv_accept_cb, w,
	                                 LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, 16,
	                                 (struct sockaddr *)&sin, sizeof(sin));
	assert_non_null(w->lis);
	assert_int_equal(getsockname(evconnlistener_get_fd(w->lis), (struct sockaddr *)&sin, &len),
	                 0);
	w->port = ntohs(sin.sin_port);
	w->guard = evtimer_new(w->base, guard_cb, w);
	w->next_ev = evtimer_new(w->base, next_cb, w);
	assert_true(w->guard != NULL && w->next_ev != NULL);
}

static void world_cleanup(struct world *w)
{
	if (w->d != NULL)
		dg_smtp_deliver_cancel(w->d);
	while (w->conns != NULL) {
		struct srv_conn *c = w->conns;

		w->conns = c->next;
		bufferevent_free(c->bev);
		free(c);
	}
	evconnlistener_free(w->lis);
	event_free(w->guard);
	event_free(w->next_ev);
	for (int i = 0; i < 4; i++) /* let deferred bufferevent teardown finish */
		event_base_loop(w->base, EVLOOP_NONBLOCK);
	event_base_free(w->base);
	SSL_CTX_free(w->srv_ctx);
	for (int i = 0; i < w->nbodies; i++)
		free(w->body[i]);
	free(w->cur);
	free(w->big);
	ERR_clear_error();
}

static bool on_verify(void *arg, SSL *ssl, STACK_OF(X509) * chain, char *reason, size_t size)
{
	struct world *w = arg;

	(void)ssl;
	w->verify_called = true;
	w->verify_chain_len = chain != NULL ? sk_X509_num(chain) : 0;
	if (w->verify_chain_len > 0)
		X509_NAME_get_text_by_NID(X509_get_subject_name(sk_X509_value(chain, 0)),
		                          NID_commonName, w->verify_cn, sizeof(w->verify_cn));
	if (w->tc->verify_reject) {
		snprintf(reason, size, "no TLSA record matched the chain");
		return false;
	}
	return true;
}

/*
 * Copy the result. After the first DONE of a two-message case, deliver the
 * second message; after the last DONE, close politely (QUIT) and let the
 * run end when the server sees the connection go; HOST_FAILED ends at once.
 */
static void on_result(void *arg, struct dg_smtp_deliver_result *res)
{
	struct world *w = arg;
	int i = w->ncb++;
	struct dg_err err;

	assert_true(i < 2);
	w->t_cb_ms = now_ms();
	w->res[i] = *res;
	for (size_t k = 0; k < res->n_rcpt && k < 2; k++)
		w->rcpt[i][k] = res->rcpt[k];
	w->res[i].rcpt = w->rcpt[i];
	if (res->outcome == DG_SMTP_DELIVER_DONE && i == 0 && w->tc->next_later) {
		struct timeval tv = {0, 200000};

		evtimer_add(w->next_ev, &tv); /* the server closes meanwhile */
		return;
	}
	if (res->outcome == DG_SMTP_DELIVER_DONE && i == 0 && w->tc->two_msgs) {
		assert_true(res->reusable);
		assert_int_equal(dg_smtp_deliver_next(w->d, &w->env2, on_result, w, &err), DG_OK);
		/* a second call while busy is refused */
		assert_int_equal(dg_smtp_deliver_next(w->d, &w->env2, on_result, w, &err),
		                 DG_E_PROTO);
		return;
	}
	if (res->outcome == DG_SMTP_DELIVER_HOST_FAILED && w->tc->cancel_in_cb)
		dg_smtp_deliver_cancel(w->d); /* allowed; it frees itself after the return */
	if (res->outcome == DG_SMTP_DELIVER_DONE) {
		if (res->reusable) {
			dg_smtp_deliver_close(w->d); /* QUIT, then frees itself */
			w->d = NULL;
			return; /* the server's EOF or QUIT ends the run */
		}
		assert_int_equal(dg_smtp_deliver_next(w->d, &w->env2, on_result, w, &err),
		                 DG_E_PROTO); /* not reusable: refused, no callback */
		dg_smtp_deliver_cancel(w->d);
	}
	w->d = NULL; /* HOST_FAILED: frees itself after this returns */
	event_base_loopbreak(w->base);
}

static void test_opts(struct dg_smtp_deliver_opts *o, struct world *w)
{
	dg_smtp_deliver_opts_init(o);
	o->addr = "127.0.0.1";
	o->port = w->port;
	o->sni = TEST_SNI;
	o->helo = "client.example.test";
	o->tls = w->tc->tls;
	o->banner_timeout_ms = w->tc->banner_ms != 0 ? w->tc->banner_ms : 1500;
	o->ehlo_timeout_ms = 1500;
	o->tls_timeout_ms = 1500;
	o->mail_timeout_ms = 1500;
	o->rcpt_timeout_ms = 1500;
	o->data_timeout_ms = 1500;
	o->data_block_timeout_ms = 3000;
	o->data_done_timeout_ms = 1500;
	o->quit_timeout_ms = 300;
	o->verify = on_verify;
	o->verify_arg = w;
}

/* A 1 MiB body: 100-byte lines, every seventh starting with '.'. */
static uint8_t *big_body(size_t *len)
{
	size_t n = 1u << 20, off = 0;
	uint8_t *b = malloc(n);
	int line = 0;

	assert_non_null(b);
	while (off + 100 <= n) {
		memset(b + off, 'a' + line % 26, 98);
		if (line % 7 == 0)
			b[off] = '.';
		memcpy(b + off + 98, "\r\n", 2);
		off += 100;
		line++;
	}
	*len = off;
	return b;
}

/* ------------------------------------------------------------------------ */
/* The table                                                                */
/* ------------------------------------------------------------------------ */

#define R550 "550 5.1.1 <b@example.net>: no such user\r\n"

static const struct dcase cases[] = {
    {.name = "plain-may-no-starttls",
     .sc = {.ehlo = ehlo_pipe},
     .tls = DG_SMTP_TLS_MAY,
     .outcome = DG_SMTP_DELIVER_DONE,
     .reason_has = "delivered to 2 of 2 recipients: 250 2.0.0 Ok: queued as X1",
     .code = {250, 250},
     .status = {"2.0.0", "2.0.0"},
     .seen = "EHLO|MAIL|RCPT|RCPT|DATA|QUIT|",
     .bodies = 1,
     .batch = 4,
     .mail_has = "MAIL FROM:<sender@example.org> SIZE=41", /* stuffed, CRLF, "." */
     .mail_lacks = "BODY=",
     .stage = DG_SMTP_DELIVER_STAGE_DATA_DONE},
    {.name = "starttls-sni",
     .tls = DG_SMTP_TLS_MAY,
     .outcome = DG_SMTP_DELIVER_DONE,
     .code = {250, 250},
     .seen = "EHLO|STARTTLS|EHLO|MAIL|RCPT|RCPT|DATA|QUIT|",
     .bodies = 1,
     .batch = 4,
     .want_tls = true,
     .mail_has = "MAIL FROM:<sender@example.org>",
     .mail_lacks = "SIZE=", /* the EHLO inside TLS replaces the cleartext one */
     .stage = DG_SMTP_DELIVER_STAGE_DATA_DONE},
    {.name = "require-starttls-ok",
     .tls = DG_SMTP_TLS_REQUIRE,
     .outcome = DG_SMTP_DELIVER_DONE,
     .code = {250, 250},
     .seen = "EHLO|STARTTLS|EHLO|MAIL|RCPT|RCPT|DATA|QUIT|",
     .bodies = 1,
     .want_tls = true,
     .stage = -1},
    {.name = "verify-rejects",
     .tls = DG_SMTP_TLS_REQUIRE,
     .verify_reject = true,
     .outcome = DG_SMTP_DELIVER_HOST_FAILED,
     .reason_has = "peer verification failed: no TLSA record matched the chain",
     .code = {451, 451},
     .status = {"4.4.2", "4.4.2"},
     .seen = "EHLO|STARTTLS|QUIT|",
     .want_tls = true,
     .stage = DG_SMTP_DELIVER_STAGE_TLS_HANDSHAKE},
    {.name = "require-not-offered",
     .sc = {.ehlo = ehlo_pipe},
     .tls = DG_SMTP_TLS_REQUIRE,
     .outcome = DG_SMTP_DELIVER_HOST_FAILED,
     .reason_has = "STARTTLS not offered",
     .seen = "EHLO|QUIT|",
     .stage = DG_SMTP_DELIVER_STAGE_EHLO},
    {.name = "require-starttls-454",
     .sc = {.starttls = "454 4.7.0 TLS not available due to local problem\r\n"},
     .tls = DG_SMTP_TLS_REQUIRE,
     .outcome = DG_SMTP_DELIVER_HOST_FAILED,
     .reason_has = "STARTTLS refused: 454 4.7.0 TLS not available",
     .seen = "EHLO|STARTTLS|QUIT|",
     .stage = DG_SMTP_DELIVER_STAGE_STARTTLS},
    {.name = "may-starttls-454-clear",
     .sc = {.starttls = "454 4.7.0 TLS not available\r\n"},
     .tls = DG_SMTP_TLS_MAY,
     .outcome = DG_SMTP_DELIVER_DONE,
     .code = {250, 250},
     .seen = "EHLO|STARTTLS|MAIL|RCPT|RCPT|DATA|QUIT|",
     .bodies = 1,
     .stage = -1},
    {.name = "none-ignores-starttls",
     .tls = DG_SMTP_TLS_NONE,
     .outcome = DG_SMTP_DELIVER_DONE,
     .code = {250, 250},
     .seen = "EHLO|MAIL|RCPT|RCPT|DATA|QUIT|",
     .bodies = 1,
     .stage = -1},
    {.name = "starttls-injection",
     .sc = {.starttls = "220 2.0.0 go ahead\r\n250 2.1.0 injected\r\n"},
     .tls = DG_SMTP_TLS_MAY,
     .outcome = DG_SMTP_DELIVER_HOST_FAILED,
     .reason_has = "bytes of cleartext after \"220 2.0.0 go ahead\" to STARTTLS",
     .stage = DG_SMTP_DELIVER_STAGE_STARTTLS},
    {.name = "one-of-two-rejected-pipelined",
     .sc = {.ehlo = ehlo_pipe, .rcpt = {NULL, R550}},
     .outcome = DG_SMTP_DELIVER_DONE,
     .code = {250, 550},
     .status = {"2.0.0", "5.1.1"},
     .seen = "EHLO|MAIL|RCPT|RCPT|DATA|QUIT|",
     .bodies = 1,
     .batch = 4,
     .stage = -1},
    {.name = "one-of-two-rejected-no-pipelining",
     .sc = {.ehlo = ehlo_nopipe, .rcpt = {NULL, R550}},
     .outcome = DG_SMTP_DELIVER_DONE,
     .code = {250, 550},
     .status = {"2.0.0", "5.1.1"},
     .seen = "EHLO|MAIL|RCPT|RCPT|DATA|QUIT|",
     .bodies = 1,
     .batch = 1,
     .stage = -1},
    {.name = "all-rejected-no-pipelining",
     .sc = {.ehlo = ehlo_nopipe, .rcpt = {R550, R550}},
     .outcome = DG_SMTP_DELIVER_DONE,
     .reason_has = "no recipient accepted",
     .code = {550, 550},
     .status = {"5.1.1", "5.1.1"},
     .seen = "EHLO|MAIL|RCPT|RCPT|QUIT|", /* no DATA at all */
     .bodies = 0,
     .batch = 1,
     .stage = DG_SMTP_DELIVER_STAGE_RCPT},
    {.name = "all-rejected-pipelined",
     .sc = {.ehlo = ehlo_pipe, .rcpt = {R550, R550}},
     .outcome = DG_SMTP_DELIVER_DONE,
     .reason_has = "no recipient accepted",
     .code = {550, 550},
     .seen = "EHLO|MAIL|RCPT|RCPT|DATA|QUIT|",
     .bodies = 0,
     .batch = 4,
     .stage = DG_SMTP_DELIVER_STAGE_DATA},
    {.name = "mail-451-pipelined",
     .sc = {.ehlo = ehlo_pipe, .mail = "451 4.3.0 try again later\r\n"},
     .outcome = DG_SMTP_DELIVER_DONE,
     .reason_has = "MAIL rejected",
     .code = {451, 451},
     .status = {"4.3.0", "4.3.0"},
     .seen = "EHLO|MAIL|RCPT|RCPT|DATA|QUIT|",
     .bodies = 0,
     .stage = -1},
    {.name = "mail-451-no-pipelining",
     .sc = {.ehlo = ehlo_nopipe, .mail = "451 4.3.0 try again later\r\n"},
     .outcome = DG_SMTP_DELIVER_DONE,
     .reason_has = "MAIL rejected: 451 4.3.0 try again later",
     .code = {451, 451},
     .status = {"4.3.0", "4.3.0"},
     .seen = "EHLO|MAIL|QUIT|",
     .bodies = 0,
     .stage = DG_SMTP_DELIVER_STAGE_MAIL},
    {.name = "data-end-rejected",
     .sc = {.ehlo = ehlo_pipe, .data_done = "554 5.7.1 spam\r\n"},
     .outcome = DG_SMTP_DELIVER_DONE,
     .reason_has = "refused for 2 of 2 recipients: 554 5.7.1 spam",
     .code = {554, 554},
     .status = {"5.7.1", "5.7.1"},
     .bodies = 1,
     .stage = -1},
    {.name = "two-messages-rset",
     .sc = {.ehlo = ehlo_pipe},
     .two_msgs = true,
     .outcome = DG_SMTP_DELIVER_DONE,
     .code = {250, 250},
     .seen = "EHLO|MAIL|RCPT|RCPT|DATA|RSET|MAIL|RCPT|DATA|QUIT|",
     .bodies = 2,
     .stage = -1},
    {.name = "silent-banner-timeout",
     .sc = {.banner = SILENT},
     .banner_ms = 300,
     .outcome = DG_SMTP_DELIVER_HOST_FAILED,
     .reason_has = "timeout after 300 ms waiting for the banner",
     .code = {451, 451},
     .seen = "",
     .stage = DG_SMTP_DELIVER_STAGE_BANNER},
    {.name = "smtputf8-not-offered",
     .sc = {.ehlo = ehlo_pipe},
     .smtputf8 = true,
     .outcome = DG_SMTP_DELIVER_DONE,
     .reason_has = "SMTPUTF8 required",
     .code = {553, 553},
     .status = {"5.6.7", "5.6.7"},
     .seen = "EHLO|QUIT|",
     .bodies = 0,
     .stage = DG_SMTP_DELIVER_STAGE_MAIL},
    {.name = "smtputf8-offered",
     .sc = {.ehlo = ehlo_utf8},
     .smtputf8 = true,
     .outcome = DG_SMTP_DELIVER_DONE,
     .code = {250, 250},
     .bodies = 1,
     .mail_has = "MAIL FROM:<sender@example.org> SMTPUTF8",
     .stage = -1},
    {.name = "8bit-body-8bitmime",
     .sc = {.ehlo = ehlo_pipe},
     .body = BODY_8BIT,
     .outcome = DG_SMTP_DELIVER_DONE,
     .code = {250, 250},
     .bodies = 1,
     .mail_has = " BODY=8BITMIME",
     .stage = -1},
    {.name = "8bit-body-no-8bitmime",
     .sc = {.ehlo = ehlo_nopipe},
     .body = BODY_8BIT,
     .outcome = DG_SMTP_DELIVER_DONE,
     .code = {250, 250},
     .bodies = 1,
     .mail_lacks = "BODY=",
     .stage = -1},
    {.name = "size-over-server-limit",
     .sc = {.ehlo = ehlo_small},
     .body = BODY_BIG,
     .outcome = DG_SMTP_DELIVER_DONE,
     .reason_has = "exceeds the server's SIZE 100",
     .code = {552, 552},
     .status = {"5.3.4", "5.3.4"},
     .seen = "EHLO|QUIT|",
     .stage = -1},
    {.name = "ehlo-502-helo-fallback",
     .sc = {.ehlo = "502 5.5.2 no EHLO here\r\n"},
     .outcome = DG_SMTP_DELIVER_DONE,
     .code = {250, 250},
     .seen = "EHLO|HELO|MAIL|RCPT|RCPT|DATA|QUIT|",
     .bodies = 1,
     .batch = 1,
     .mail_lacks = "SIZE",
     .stage = -1},
    {.name = "ehlo-502-require-fails",
     .sc = {.ehlo = "502 5.5.2 no EHLO here\r\n"},
     .tls = DG_SMTP_TLS_REQUIRE,
     .outcome = DG_SMTP_DELIVER_HOST_FAILED,
     .reason_has = "EHLO rejected: 502 5.5.2",
     .seen = "EHLO|QUIT|",
     .stage = DG_SMTP_DELIVER_STAGE_EHLO},
    {.name = "banner-554",
     .sc = {.banner = "554 5.7.1 go away\r\n"},
     .cancel_in_cb = true,
     .outcome = DG_SMTP_DELIVER_HOST_FAILED,
     .reason_has = "banner rejected: 554 5.7.1 go away",
     .seen = "QUIT|",
     .stage = DG_SMTP_DELIVER_STAGE_BANNER},
    {.name = "big-body-tls",
     .body = BODY_BIG,
     .tls = DG_SMTP_TLS_REQUIRE,
     .outcome = DG_SMTP_DELIVER_DONE,
     .code = {250, 250},
     .bodies = 1,
     .want_tls = true,
     .stage = -1},
    {.name = "big-body-clear",
     .sc = {.ehlo = ehlo_pipe},
     .body = BODY_BIG,
     .outcome = DG_SMTP_DELIVER_DONE,
     .code = {250, 250},
     .bodies = 1,
     .stage = -1},
    {.name = "empty-body",
     .sc = {.ehlo = ehlo_pipe},
     .body = BODY_EMPTY,
     .one_rcpt = true,
     .outcome = DG_SMTP_DELIVER_DONE,
     .code = {250, 0},
     .seen = "EHLO|MAIL|RCPT|DATA|QUIT|",
     .bodies = 1,
     .batch = 3,
     .stage = -1},
    {.name = "data-silent-timeout",
     .sc = {.ehlo = ehlo_pipe, .data_done = SILENT},
     .outcome = DG_SMTP_DELIVER_HOST_FAILED,
     .reason_has = "timeout after 1500 ms waiting for the reply to the end of data",
     .code = {451, 451},
     .bodies = 1,
     .stage = DG_SMTP_DELIVER_STAGE_DATA_DONE},
    {.name = "rcpt-421-server-closing",
     .sc = {.ehlo = ehlo_pipe, .rcpt = {"421 4.3.2 shutting down\r\n", NULL}},
     .outcome = DG_SMTP_DELIVER_DONE,
     .reason_has = "server closing: 421 4.3.2 shutting down",
     .code = {421, 421},
     .status = {"4.3.2", "4.3.2"},
     .seen = "EHLO|MAIL|RCPT|RCPT|DATA|", /* no QUIT after 421 */
     .not_reusable = true,
     .stage = DG_SMTP_DELIVER_STAGE_RCPT},
    {.name = "pipelined-354-without-recipients",
     .sc = {.ehlo = ehlo_pipe, .rcpt = {R550, R550}, .data_always = true},
     .outcome = DG_SMTP_DELIVER_DONE,
     .reason_has = "no recipient accepted",
     .code = {550, 550},
     .seen = "EHLO|MAIL|RCPT|RCPT|DATA|QUIT|",
     .bodies = 1, /* an empty one, to end the DATA */
     .stage = DG_SMTP_DELIVER_STAGE_DATA_DONE},
    {.name = "two-messages-server-closes",
     .sc = {.ehlo = ehlo_pipe, .rset = CLOSE},
     .two_msgs = true,
     .second_failed = true,
     .outcome = DG_SMTP_DELIVER_HOST_FAILED,
     .code = {250, 250},
     .seen = "EHLO|MAIL|RCPT|RCPT|DATA|RSET|",
     .bodies = 1,
     .stage = DG_SMTP_DELIVER_STAGE_DATA_DONE},
    {.name = "closed-while-idle",
     .sc = {.ehlo = ehlo_pipe, .close_after_data = true},
     .two_msgs = true,
     .next_later = true,
     .second_failed = true,
     .outcome = DG_SMTP_DELIVER_HOST_FAILED,
     .code = {250, 250},
     .seen = "EHLO|MAIL|RCPT|RCPT|DATA|", /* nothing after the close */
     .bodies = 1,
     .stage = DG_SMTP_DELIVER_STAGE_DATA_DONE},
};

static void want_str(const char *name, const char *what, const char *got, const char *want)
{
	if (strcmp(got, want) != 0)
		fail_msg("%s: %s: got \"%s\", want \"%s\"", name, what, got, want);
}

static void want_has(const char *name, const char *what, const char *got, const char *want)
{
	if (strstr(got, want) == NULL)
		fail_msg("%s: %s: got \"%s\", want it to contain \"%s\"", name, what, got, want);
}

static void want_int(const char *name, const char *what, long got, long want)
{
	if (got != want)
		fail_msg("%s: %s: got %ld, want %ld", name, what, got, want);
}

/* Set up the envelopes of a case (bodies borrowed from static data or w->big). */
static void case_envs(struct world *w, const struct dcase *tc)
{
	w->env1.sender = "sender@example.org";
	w->env1.rcpt = rcpts1;
	w->env1.n_rcpt = tc->one_rcpt ? 1 : 2;
	w->env1.smtputf8 = tc->smtputf8;
	switch (tc->body) {
	case BODY_STD:
		w->env1.body = (const uint8_t *)body_std;
		w->env1.body_len = sizeof(body_std) - 1;
		break;
	case BODY_8BIT:
		w->env1.body = (const uint8_t *)body_8bit;
		w->env1.body_len = sizeof(body_8bit) - 1;
		break;
	case BODY_BIG: w->env1.body = w->big = big_body(&w->env1.body_len); break;
	case BODY_EMPTY:
		w->env1.body = NULL;
		w->env1.body_len = 0;
		break;
	}
	w->env2.sender = "";
	w->env2.rcpt = rcpts2;
	w->env2.n_rcpt = 1;
	w->env2.body = (const uint8_t *)body2;
	w->env2.body_len = sizeof(body2) - 1;
}

/* The body the server must have stored for message 1. */
static void want_body1(const struct dcase *tc, const struct world *w)
{
	const uint8_t *want = w->env1.body;
	size_t want_len = w->env1.body_len;

	if (tc->sc.data_always) { /* only "." was sent */
		want = NULL;
		want_len = 0;
	} else if (tc->body == BODY_STD) {
		want = (const uint8_t *)body_std_want;
		want_len = sizeof(body_std_want) - 1;
	}
	want_int(tc->name, "body length", (long)w->body_len[0], (long)want_len);
	if (want_len > 0 && memcmp(w->body[0], want, want_len) != 0)
		fail_msg("%s: body differs from the envelope's", tc->name);
}

static void check_case(const struct dcase *tc, struct world *w)
{
	const struct dg_smtp_deliver_result *r = &w->res[w->ncb - 1];
	const char *seen_want = tc->seen;

	want_int(tc->name, "outcome", r->outcome, tc->outcome);
	if (w->res[0].outcome == DG_SMTP_DELIVER_DONE)
		want_int(tc->name, "reusable", w->res[0].reusable, !tc->not_reusable);
	if (tc->reason_has != NULL)
		want_has(tc->name, "reason", w->res[0].reason, tc->reason_has);
	if (tc->stage >= 0)
		want_str(tc->name, "stage", dg_smtp_deliver_stage_str(w->res[0].stage),
		         dg_smtp_deliver_stage_str(tc->stage));
	for (int k = 0; k < 2; k++) {
		if (tc->code[k] != 0)
			want_int(tc->name, "rcpt code", w->rcpt[0][k].code, tc->code[k]);
		if (tc->status[k] != NULL)
			want_str(tc->name, "rcpt status", w->rcpt[0][k].status, tc->status[k]);
	}
	want_int(tc->name, "n_rcpt", (long)w->res[0].n_rcpt, tc->one_rcpt ? 1 : 2);
	if (seen_want != NULL)
		want_str(tc->name, "commands seen", w->seen, seen_want);
	want_int(tc->name, "bodies", w->nbodies, tc->bodies);
	if (tc->bodies > 0)
		want_body1(tc, w);
	if (tc->batch != 0)
		want_int(tc->name, "commands in the MAIL read", w->batch, tc->batch);
	want_int(tc->name, "tls_done", w->res[0].tls_done, tc->want_tls);
	if (w->res[0].outcome == DG_SMTP_DELIVER_DONE) /* TLS-RPT sending-mta-ip */
		want_str(tc->name, "local address", w->res[0].local, "127.0.0.1");
	if (tc->want_tls) {
		want_str(tc->name, "SNI seen by the server", w->srv_sni, TEST_SNI);
		want_int(tc->name, "verify called", w->verify_called, 1);
		want_int(tc->name, "verify chain length", w->verify_chain_len, 1);
		want_str(tc->name, "verify leaf CN", w->verify_cn, CERT_CN);
		if (w->res[0].tls_version[0] == '\0' || w->res[0].cipher[0] == '\0')
			fail_msg("%s: no TLS version or cipher in the result", tc->name);
	} else {
		want_int(tc->name, "verify called", w->verify_called, 0);
	}
	if (tc->mail_has != NULL)
		want_has(tc->name, "MAIL line", w->mail_line[0], tc->mail_has);
	if (tc->mail_lacks != NULL && strstr(w->mail_line[0], tc->mail_lacks) != NULL)
		fail_msg("%s: MAIL line: got \"%s\", want no \"%s\"", tc->name, w->mail_line[0],
		         tc->mail_lacks);
	want_has(tc->name, "peer", w->res[0].peer, "127.0.0.1:");
}

static void run_case_in(const struct dcase *tc, struct world *w)
{
	struct dg_smtp_deliver_opts o;
	struct timeval tv = {GUARD_MS / 1000, 0};
	struct dg_err err;

	world_init(w, tc);
	case_envs(w, tc);
	test_opts(&o, w);
	w->t0_ms = now_ms();
	assert_int_equal(dg_smtp_deliver_start(w->base, &o, &w->env1, on_result, w, &w->d, &err),
	                 DG_OK);
	assert_int_equal(w->ncb, 0); /* never called from inside _start */
	event_add(w->guard, &tv);
	event_base_dispatch(w->base);
	if (w->guard_fired)
		fail_msg("%s: no end within %d ms (callbacks %d, seen \"%s\")", tc->name, GUARD_MS,
		         w->ncb, w->seen);
	want_int(tc->name, "callbacks", w->ncb, tc->two_msgs ? 2 : 1);
	check_case(tc, w);
	if (tc->two_msgs && tc->second_failed) {
		want_int(tc->name, "first outcome", w->res[0].outcome, DG_SMTP_DELIVER_DONE);
		want_has(tc->name, "second reason", w->res[1].reason,
		         tc->next_later
		             ? "connection closed by server while idle"
		             : "connection closed by server while waiting for the reply to RSET");
		want_str(tc->name, "second stage", dg_smtp_deliver_stage_str(w->res[1].stage),
		         "rset");
		want_int(tc->name, "second rcpt code", w->rcpt[1][0].code, 451);
	} else if (tc->two_msgs) {
		want_int(tc->name, "second outcome", w->res[1].outcome, DG_SMTP_DELIVER_DONE);
		want_int(tc->name, "second rcpt code", w->rcpt[1][0].code, 250);
		want_int(tc->name, "second n_rcpt", (long)w->res[1].n_rcpt, 1);
		want_str(tc->name, "second MAIL", w->mail_line[1], "MAIL FROM:<> SIZE=30");
		want_has(tc->name, "RCPT lines", w->rcpt_lines, "RCPT TO:<c@example.net>");
		want_int(tc->name, "second body length", (long)w->body_len[1],
		         (long)sizeof(body2) - 1);
		assert_memory_equal(w->body[1], body2, sizeof(body2) - 1);
	}
	if (strcmp(tc->name, "silent-banner-timeout") == 0) {
		uint64_t ms = w->t_cb_ms - w->t0_ms;

		if (ms < 290 || ms > 1500)
			fail_msg("%s: result after %llu ms, want about 300", tc->name,
			         (unsigned long long)ms);
	}
	if (tc->outcome == DG_SMTP_DELIVER_DONE && tc->bodies > 0 && !tc->two_msgs)
		want_int(tc->name, "QUIT seen after close", w->quit_seen, 1);
}

static void run_case(const struct dcase *tc)
{
	struct world w;

	run_case_in(tc, &w);
	world_cleanup(&w);
}

static void test_cases(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		run_case(&cases[i]);
}

/* Pipelining on and off give the same per-recipient result. */
static void test_pipelining_same_result(void **state)
{
	const struct dcase *on = NULL, *off = NULL;
	struct world won, woff;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (strcmp(cases[i].name, "one-of-two-rejected-pipelined") == 0)
			on = &cases[i];
		if (strcmp(cases[i].name, "one-of-two-rejected-no-pipelining") == 0)
			off = &cases[i];
	}
	assert_non_null(on);
	assert_non_null(off);
	run_case_in(on, &won);
	run_case_in(off, &woff);
	want_int("pipelining", "outcome", won.res[0].outcome, woff.res[0].outcome);
	for (int k = 0; k < 2; k++) {
		want_int("pipelining", "code", won.rcpt[0][k].code, woff.rcpt[0][k].code);
		want_str("pipelining", "status", won.rcpt[0][k].status, woff.rcpt[0][k].status);
		want_str("pipelining", "text", won.rcpt[0][k].text, woff.rcpt[0][k].text);
	}
	want_str("pipelining", "last reply", won.res[0].last_reply, woff.res[0].last_reply);
	want_str("pipelining", "MAIL line", won.mail_line[0], woff.mail_line[0]);
	want_str("pipelining", "RCPT lines", won.rcpt_lines, woff.rcpt_lines);
	want_int("pipelining", "bodies", won.nbodies, woff.nbodies);
	want_int("pipelining", "body length", (long)won.body_len[0], (long)woff.body_len[0]);
	assert_memory_equal(won.body[0], woff.body[0], won.body_len[0]);
	want_int("pipelining on", "commands in the MAIL read", won.batch, 4);
	want_int("pipelining off", "commands in the MAIL read", woff.batch, 1);
	world_cleanup(&won);
	world_cleanup(&woff);
}

/* A closed port: HOST_FAILED with a connect reason, from the loop. */
static void test_connect_refused(void **state)
{
	static const struct dcase tc = {.name = "connect-refused"};
	struct world w;
	struct dg_smtp_deliver_opts o;
	struct timeval tv = {GUARD_MS / 1000, 0};
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	(void)state;
	world_init(&w, &tc);
	case_envs(&w, &tc);
	test_opts(&o, &w);
	assert_true(fd >= 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	close(fd);
	o.port = ntohs(sin.sin_port);
	assert_int_equal(dg_smtp_deliver_start(w.base, &o, &w.env1, on_result, &w, &w.d, NULL),
	                 DG_OK);
	event_add(w.guard, &tv);
	event_base_dispatch(w.base);
	want_int(tc.name, "callbacks", w.ncb, 1);
	want_int(tc.name, "outcome", w.res[0].outcome, DG_SMTP_DELIVER_HOST_FAILED);
	want_has(tc.name, "reason", w.res[0].reason, "connect failed");
	want_int(tc.name, "rcpt code", w.rcpt[0][0].code, 451);
	world_cleanup(&w);
}

/* Cancel while the client waits for the banner: no callback, nothing leaks (ASan). */
static void cancel_cb(evutil_socket_t fd, short what, void *arg)
{
	struct world *w = arg;

	(void)fd;
	(void)what;
	dg_smtp_deliver_cancel(w->d);
	w->d = NULL;
	event_base_loopbreak(w->base);
}

static void test_cancel_while_waiting(void **state)
{
	static const struct dcase tc = {.name = "cancel-while-waiting", .sc = {.banner = SILENT}};
	struct world w;
	struct dg_smtp_deliver_opts o;
	struct timeval tv = {0, 100000}, guard = {GUARD_MS / 1000, 0};
	struct event *ev;

	(void)state;
	world_init(&w, &tc);
	case_envs(&w, &tc);
	test_opts(&o, &w);
	ev = evtimer_new(w.base, cancel_cb, &w);
	assert_non_null(ev);
	assert_int_equal(dg_smtp_deliver_start(w.base, &o, &w.env1, on_result, &w, &w.d, NULL),
	                 DG_OK);
	evtimer_add(ev, &tv);
	event_add(w.guard, &guard);
	event_base_dispatch(w.base);
	want_int(tc.name, "guard fired", w.guard_fired, 0);
	want_int(tc.name, "callbacks", w.ncb, 0);
	want_int(tc.name, "connections accepted", w.conns != NULL, 1);
	event_free(ev);
	world_cleanup(&w);
}

/* Bad options and envelopes are refused up front, with no callback. */
static void test_bad_input(void **state)
{
	static const struct dcase tc = {.name = "bad-input"};
	static const char *const bad_rcpt[] = {"a@example.net\r\nDATA"};
	static const char *const utf8_rcpt[] = {"j\xc3\xb6rg@example.net"};
	struct world w;
	struct dg_smtp_deliver_opts o;
	struct dg_smtp_envelope env;
	struct dg_smtp_deliver *d = (struct dg_smtp_deliver *)&w;
	struct dg_err err;

	(void)state;
	world_init(&w, &tc);
	case_envs(&w, &tc);
	test_opts(&o, &w);
	o.addr = "mx.example.net";
	assert_int_equal(dg_smtp_deliver_start(w.base, &o, &w.env1, on_result, &w, &d, &err),
	                 DG_E_CONFIG);
	assert_null(d);
	want_has("bad-addr", "err", err.msg, "not a numeric");
	test_opts(&o, &w);
	o.helo = "bad helo";
	assert_int_equal(dg_smtp_deliver_start(w.base, &o, &w.env1, on_result, &w, &d, &err),
	                 DG_E_CONFIG);
	test_opts(&o, &w);
	env = w.env1;
	env.rcpt = bad_rcpt;
	env.n_rcpt = 1;
	assert_int_equal(dg_smtp_deliver_start(w.base, &o, &env, on_result, &w, &d, &err),
	                 DG_E_CONFIG);
	want_has("crlf-rcpt", "err", err.msg, "bad recipient 0");
	env.rcpt = utf8_rcpt;
	assert_int_equal(dg_smtp_deliver_start(w.base, &o, &env, on_result, &w, &d, &err),
	                 DG_E_CONFIG); /* UTF-8 without smtputf8 */
	env.smtputf8 = true;
	assert_int_equal(dg_smtp_deliver_start(w.base, &o, &env, on_result, &w, &d, &err), DG_OK);
	dg_smtp_deliver_cancel(d); /* before the loop ran: no callback */
	env.n_rcpt = 0;
	assert_int_equal(dg_smtp_deliver_start(w.base, &o, &env, on_result, &w, &d, &err),
	                 DG_E_CONFIG);
	for (int i = 0; i < 4; i++)
		event_base_loop(w.base, EVLOOP_NONBLOCK);
	want_int("bad-input", "callbacks", w.ncb, 0);
	world_cleanup(&w);
}

static void test_names(void **state)
{
	(void)state;
	want_str("names", "stage", dg_smtp_deliver_stage_str(DG_SMTP_DELIVER_STAGE_DATA_DONE),
	         "data-done");
	want_str("names", "stage", dg_smtp_deliver_stage_str(DG_SMTP_DELIVER_STAGE_CLOSED),
	         "closed");
	want_str("names", "stage", dg_smtp_deliver_stage_str((enum dg_smtp_deliver_stage)99),
	         "unknown");
	want_str("names", "outcome", dg_smtp_deliver_outcome_str(DG_SMTP_DELIVER_HOST_FAILED),
	         "host-failed");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_names),
	    cmocka_unit_test(test_bad_input),
	    cmocka_unit_test(test_connect_refused),
	    cmocka_unit_test(test_cancel_while_waiting),
	    cmocka_unit_test(test_pipelining_same_result),
	    cmocka_unit_test(test_cases),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
