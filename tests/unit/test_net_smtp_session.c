/*
 * test_net_smtp_session.c - the SMTP STARTTLS probe (lib/smtp/smtp_session.c,
 * smtp_probe.c, smtp_tls.c) against an in-process scripted SMTP server.
 *
 * The server runs on the same event_base (evconnlistener on 127.0.0.1 with
 * an ephemeral port; ctest runs this file in a private network namespace,
 * tests/in-netns). It holds an ECDSA P-256 and an RSA 2048 certificate,
 * generated in memory at start-up, so tests can check which one the probe
 * forced. Each table row is one scenario: a script of server replies, probe
 * options, and the expected outcome, stage, reason text, chain and key.
 * Failures print "got X, want Y".
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
#include <unistd.h>

/* Script reply values besides literal text (NULL selects the default reply). */
#define SILENT "\001silent" /* send nothing */
#define CLOSE "\001close"   /* close the connection instead of replying */

#define EC_CN "mx-ecdsa.example.test"
#define RSA_CN "mx-rsa.example.test"
#define TEST_SNI "mx.example.test"
#define GUARD_MS 5000 /* a probe that never calls back fails the test */

enum srv_tls { SRV_TLS_NORMAL = 0, SRV_TLS_GARBAGE };
enum target { TARGET_SERVER = 0, TARGET_CLOSED_V4, TARGET_CLOSED_V6 };

/* What the scripted server says; NULL fields use the defaults below. */
struct script {
	const char *banner;
	const char *ehlo;
	const char *helo;
	const char *starttls;
	const char *ehlo_tls;
	const char *quit;
	enum srv_tls tls;
	int tls_max; /* server's highest TLS version, 0 = library maximum */
	bool drip;   /* write one byte per millisecond */
};

static const char def_banner[] = "220 mx.example.test ESMTP test server\r\n";
static const char def_ehlo[] = "250-mx.example.test hello\r\n250-PIPELINING\r\n"
                               "250-SIZE 10240000\r\n250-STARTTLS\r\n250 ENHANCEDSTATUSCODES\r\n";
static const char def_helo[] = "250 mx.example.test\r\n";
static const char def_starttls[] = "220 2.0.0 Ready to start TLS\r\n";
static const char def_ehlo_tls[] = "250-mx.example.test hello again\r\n250-PIPELINING\r\n"
                                   "250 SIZE 10240000\r\n";
static const char def_quit[] = "221 2.0.0 Bye\r\n";
static const char ehlo_no_tls[] = "250-mx.example.test hello\r\n250-PIPELINING\r\n"
                                  "250 SIZE 10240000\r\n";

/* One table row. */
struct probe_case {
	const char *name;
	struct script sc;
	enum dg_smtp_keytype keytype;
	enum target target;
	unsigned banner_ms; /* 0: 300 */
	unsigned total_ms;  /* 0: 4000 */
	bool cancel_in_cb;
	/* wanted */
	enum dg_smtp_probe_outcome outcome;
	enum dg_smtp_probe_stage stage;
	const char *reason_has;
	int reply_code;      /* -1: not checked */
	const char *leaf_cn; /* NULL: no chain wanted */
	const char *key_has; /* substring of peer_key, NULL: not checked */
	const char *version; /* tls_version, NULL: not checked */
	const char *seen;    /* commands the server saw, NULL: not checked */
};

struct world;

/* One server-side connection. */
struct srv_conn {
	struct world *w;
	struct bufferevent *bev; /* socket bufferevent, later the TLS filter owning it */
	evutil_socket_t fd;
	bool tls;
	bool garbage_next; /* answer the next bytes (the ClientHello) with junk */
	bool tls_after_drip;
	bool dead;
	struct evbuffer *drip;
	struct event *drip_ev;
	struct srv_conn *next;
};

/* Server, client and what the callback saw, for one test. */
struct world {
	struct event_base *base;
	struct evconnlistener *lis;
	uint16_t port;
	const struct script *sc;
	SSL_CTX *srv_ctx;
	struct srv_conn *conns;
	char seen[256];    /* "EHLO|STARTTLS|..." as received by the server */
	char srv_sni[256]; /* SNI the server got */
	struct event *guard;
	struct event *cancel_ev;
	bool cancel_on_accept;
	/* client */
	struct dg_smtp_probe *probe;
	bool cancel_in_cb;
	int ncb;
	bool guard_fired;
	enum dg_smtp_probe_outcome outcome;
	enum dg_smtp_probe_stage stage;
	char reason[DG_ERR_MSG_MAX];
	int reply_code;
	bool starttls_offered;
	bool helo_used;
	bool tls_done;
	char version[16];
	char peer_key[32];
	char sigalg[64];
	char leaf_cn[128];
	int nchain;
	char *transcript;
	char banner[256];
};

static EVP_PKEY *ec_key, *rsa_key;
static char long_banner[3000]; /* "220 xxx...\r\n", longer than the 2048-byte line cap */
static X509 *ec_cert, *rsa_cert;

static X509 *make_cert(EVP_PKEY *key, const char *cn);
static SSL_CTX *srv_ctx_new(int tls_max);
static void srv_accept_cb(struct evconnlistener *lis, evutil_socket_t fd, struct sockaddr *sa,
                          int salen, void *arg);
static void srv_read_cb(struct bufferevent *bev, void *arg);
static void srv_event_cb(struct bufferevent *bev, short what, void *arg);
static void srv_drip_cb(evutil_socket_t fd, short what, void *arg);
static void srv_say(struct srv_conn *c, const char *text, const char *dflt);
static void srv_command(struct srv_conn *c, const char *line);
static void srv_start_tls(struct srv_conn *c);
static void world_init(struct world *w, const struct script *sc);
static void world_cleanup(struct world *w);
static void world_run(struct world *w, const struct dg_smtp_probe_opts *o);
static void on_result(void *arg, struct dg_smtp_probe_result *res);
static uint16_t closed_port(void);
static void test_opts(struct dg_smtp_probe_opts *o, const struct world *w);
static void guard_cb(evutil_socket_t fd, short what, void *arg);
static void cancel_cb(evutil_socket_t fd, short what, void *arg);
static void want_has(const struct probe_case *tc, const char *what, const char *got,
                     const char *want);
static void check_case(const struct probe_case *tc, const struct world *w);

/* ------------------------------------------------------------------------ */
/* Certificates                                                             */
/* ------------------------------------------------------------------------ */

static X509 *make_cert(EVP_PKEY *key, const char *cn)
{
	X509 *x = X509_new();
	X509_NAME *name;

	assert_non_null(x);
	assert_int_equal(X509_set_version(x, 2), 1);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
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
	if (getenv("DG_TEST_VERBOSE") != NULL) { /* log every probe line to stderr */
		dg_log_global()->level = DG_LOG_DEBUG;
		dg_log_global()->trace = DG_LOG_TRACE_SMTP | DG_LOG_TRACE_TLS;
	}
	memset(long_banner, 'x', sizeof(long_banner) - 3);
	memcpy(long_banner, "220 ", 4);
	memcpy(long_banner + sizeof(long_banner) - 3, "\r\n", 3);
	ec_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	rsa_key = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	if (ec_key == NULL || rsa_key == NULL)
		return -1;
	ec_cert = make_cert(ec_key, EC_CN);
	rsa_cert = make_cert(rsa_key, RSA_CN);
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	X509_free(ec_cert);
	X509_free(rsa_cert);
	EVP_PKEY_free(ec_key);
	EVP_PKEY_free(rsa_key);
	return 0;
}

/* A server context with both certificates; TLS 1.0 and up to tls_max. */
static SSL_CTX *srv_ctx_new(int tls_max)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

	assert_non_null(ctx);
	SSL_CTX_set_security_level(ctx, 0);
	assert_int_equal(SSL_CTX_set_min_proto_version(ctx, TLS1_VERSION), 1);
	if (tls_max != 0)
		assert_int_equal(SSL_CTX_set_max_proto_version(ctx, tls_max), 1);
	assert_int_equal(SSL_CTX_set_cipher_list(ctx, "DEFAULT:@SECLEVEL=0"), 1);
	assert_int_equal(SSL_CTX_use_certificate(ctx, ec_cert), 1);
	assert_int_equal(SSL_CTX_use_PrivateKey(ctx, ec_key), 1);
	assert_int_equal(SSL_CTX_use_certificate(ctx, rsa_cert), 1);
	assert_int_equal(SSL_CTX_use_PrivateKey(ctx, rsa_key), 1);
	return ctx;
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
	c->fd = fd;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c->bev =
	    bufferevent_socket_new(w->base, fd, BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
	c->drip = evbuffer_new();
	c->drip_ev = evtimer_new(w->base, srv_drip_cb, c);
	assert_true(c->bev != NULL && c->drip != NULL && c->drip_ev != NULL);
	bufferevent_setcb(c->bev, srv_read_cb, NULL, srv_event_cb, c);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	c->next = w->conns;
	w->conns = c;
	if (w->cancel_on_accept) {
		struct timeval tv = {0, 20000};

		event_add(w->cancel_ev, &tv);
	}
	srv_say(c, w->sc->banner, def_banner);
}

/* Send a scripted reply (or the default, nothing, or close). */
static void srv_say(struct srv_conn *c, const char *text, const char *dflt)
{
	struct timeval tv = {0, 1000};

	if (text == NULL)
		text = dflt;
	if (strcmp(text, SILENT) == 0 || c->dead)
		return;
	if (strcmp(text, CLOSE) == 0) {
		shutdown(c->fd, SHUT_RDWR);
		c->dead = true;
		return;
	}
	if (!c->w->sc->drip) {
		bufferevent_write(c->bev, text, strlen(text));
		return;
	}
	evbuffer_add(c->drip, text, strlen(text));
	if (!evtimer_pending(c->drip_ev, NULL))
		evtimer_add(c->drip_ev, &tv);
}

/* One byte per tick, so the client sees replies split everywhere. */
static void srv_drip_cb(evutil_socket_t fd, short what, void *arg)
{
	struct srv_conn *c = arg;
	struct timeval tv = {0, 1000};
	char byte;

	(void)fd;
	(void)what;
	if (evbuffer_remove(c->drip, &byte, 1) == 1)
		bufferevent_write(c->bev, &byte, 1);
	if (evbuffer_get_length(c->drip) > 0)
		evtimer_add(c->drip_ev, &tv);
	else if (c->tls_after_drip) {
		c->tls_after_drip = false;
		srv_start_tls(c);
	}
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

static void srv_command(struct srv_conn *c, const char *line)
{
	const struct script *sc = c->w->sc;
	char verb[16];

	snprintf(verb, sizeof(verb), "%.*s", (int)strcspn(line, " "), line);
	if (strlen(c->w->seen) + strlen(verb) + 2 < sizeof(c->w->seen)) {
		strcat(c->w->seen, verb);
		strcat(c->w->seen, "|");
	}
	if (strcasecmp(verb, "EHLO") == 0) {
		srv_say(c, c->tls ? sc->ehlo_tls : sc->ehlo, c->tls ? def_ehlo_tls : def_ehlo);
	} else if (strcasecmp(verb, "HELO") == 0) {
		srv_say(c, sc->helo, def_helo);
	} else if (strcasecmp(verb, "QUIT") == 0) {
		srv_say(c, sc->quit, def_quit);
	} else if (strcasecmp(verb, "STARTTLS") == 0) {
		const char *r = sc->starttls != NULL ? sc->starttls : def_starttls;

		srv_say(c, r, def_starttls);
		if (strncmp(r, "220", 3) != 0)
			return;
		if (sc->tls == SRV_TLS_GARBAGE)
			c->garbage_next = true;
		else if (sc->drip)
			c->tls_after_drip = true;
		else
			srv_start_tls(c);
	} else {
		srv_say(c, "500 5.5.1 command unrecognized\r\n", NULL);
	}
}

static void srv_read_cb(struct bufferevent *bev, void *arg)
{
	struct srv_conn *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	char *line;

	if (c->dead) {
		evbuffer_drain(in, evbuffer_get_length(in));
		return;
	}
	if (c->garbage_next) {
		static const char junk[] = "HTTP/1.1 400 Bad Request\r\n\r\nthis is not TLS\r\n";

		evbuffer_drain(in, evbuffer_get_length(in));
		c->garbage_next = false;
		bufferevent_write(bev, junk, sizeof(junk) - 1);
		return;
	}
	while (bev == c->bev && !c->dead &&
	       (line = evbuffer_readln(in, NULL, EVBUFFER_EOL_CRLF)) != NULL) {
		srv_command(c, line);
		free(line);
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
		c->dead = true;
		bufferevent_disable(bev, EV_READ | EV_WRITE);
		ERR_clear_error();
	}
}

/* ------------------------------------------------------------------------ */
/* World: event base, server, probe run                                     */
/* ------------------------------------------------------------------------ */

static void guard_cb(evutil_socket_t fd, short what, void *arg)
{
	struct world *w = arg;

	(void)fd;
	(void)what;
	w->guard_fired = true;
	event_base_loopbreak(w->base);
}

static void cancel_cb(evutil_socket_t fd, short what, void *arg)
{
	struct world *w = arg;

	(void)fd;
	(void)what;
	dg_smtp_probe_cancel(w->probe);
	w->probe = NULL;
	event_base_loopbreak(w->base);
}

static void world_init(struct world *w, const struct script *sc)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);

	memset(w, 0, sizeof(*w));
	w->sc = sc;
	w->base = event_base_new();
	assert_non_null(w->base);
	w->srv_ctx = srv_ctx_new(sc->tls_max);
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
	w->cancel_ev = evtimer_new(w->base, cancel_cb, w);
	assert_true(w->guard != NULL && w->cancel_ev != NULL);
}

static void world_cleanup(struct world *w)
{
	while (w->conns != NULL) {
		struct srv_conn *c = w->conns;

		w->conns = c->next;
		event_free(c->drip_ev);
		evbuffer_free(c->drip);
		bufferevent_free(c->bev);
		free(c);
	}
	evconnlistener_free(w->lis);
	event_free(w->guard);
	event_free(w->cancel_ev);
	for (int i = 0; i < 4; i++) /* let deferred bufferevent teardown finish */
		event_base_loop(w->base, EVLOOP_NONBLOCK);
	event_base_free(w->base);
	SSL_CTX_free(w->srv_ctx);
	free(w->transcript);
	ERR_clear_error();
}

static void on_result(void *arg, struct dg_smtp_probe_result *res)
{
	struct world *w = arg;
	STACK_OF(X509) * chain;

	w->ncb++;
	w->outcome = res->outcome;
	w->stage = res->stage;
	snprintf(w->reason, sizeof(w->reason), "%s", res->reason);
	w->reply_code = res->reply_code;
	w->starttls_offered = res->starttls_offered;
	w->helo_used = res->helo_used;
	w->tls_done = res->tls_done;
	snprintf(w->version, sizeof(w->version), "%s", res->tls_version);
	snprintf(w->peer_key, sizeof(w->peer_key), "%s", res->peer_key);
	snprintf(w->sigalg, sizeof(w->sigalg), "%s", res->sigalg);
	snprintf(w->banner, sizeof(w->banner), "%s", res->banner != NULL ? res->banner : "");
	chain = dg_smtp_probe_result_take_chain(res);
	if (chain != NULL) {
		w->nchain = sk_X509_num(chain);
		X509_NAME_get_text_by_NID(X509_get_subject_name(sk_X509_value(chain, 0)),
		                          NID_commonName, w->leaf_cn, sizeof(w->leaf_cn));
		sk_X509_pop_free(chain, X509_free);
	}
	free(w->transcript);
	w->transcript = dg_smtp_probe_result_take_transcript(res);
	if (w->cancel_in_cb)
		dg_smtp_probe_cancel(w->probe); /* allowed: the probe frees itself after return */
	w->probe = NULL;
	event_base_loopbreak(w->base);
}

static void world_run(struct world *w, const struct dg_smtp_probe_opts *o)
{
	struct timeval tv = {GUARD_MS / 1000, 0};
	struct dg_err err;

	assert_int_equal(dg_smtp_probe_start(w->base, o, on_result, w, &w->probe, &err), DG_OK);
	assert_non_null(w->probe);
	event_add(w->guard, &tv);
	event_base_dispatch(w->base);
}

/* A port on 127.0.0.1 nobody listens on. */
static uint16_t closed_port(void)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	close(fd);
	return ntohs(sin.sin_port);
}

static void test_opts(struct dg_smtp_probe_opts *o, const struct world *w)
{
	dg_smtp_probe_opts_init(o);
	o->addr = "127.0.0.1";
	o->port = w->port;
	o->sni = TEST_SNI;
	o->helo = "client.example.test";
	o->banner_timeout_ms = 300;
	o->cmd_timeout_ms = 1500;
	o->tls_timeout_ms = 1500;
	o->quit_timeout_ms = 300;
	o->total_timeout_ms = 4000;
	o->transcript = true;
}

/* ------------------------------------------------------------------------ */
/* The table                                                                */
/* ------------------------------------------------------------------------ */

static const struct probe_case probe_cases[] = {
    {.name = "tls-ok-any",
     .outcome = DG_SMTP_PROBE_TLS_OK,
     .stage = DG_SMTP_STAGE_DONE,
     .reason_has = "STARTTLS ok: TLSv1.3",
     .reply_code = 221,
     .leaf_cn = "*",
     .version = "TLSv1.3",
     .seen = "EHLO|STARTTLS|EHLO|QUIT|"},
    {.name = "tls13-force-ecdsa",
     .keytype = DG_SMTP_KEY_ECDSA,
     .outcome = DG_SMTP_PROBE_TLS_OK,
     .stage = DG_SMTP_STAGE_DONE,
     .reason_has = "ECDSA P-256",
     .reply_code = 221,
     .leaf_cn = EC_CN,
     .key_has = "ECDSA P-256",
     .version = "TLSv1.3"},
    {.name = "tls13-force-rsa",
     .keytype = DG_SMTP_KEY_RSA,
     .outcome = DG_SMTP_PROBE_TLS_OK,
     .stage = DG_SMTP_STAGE_DONE,
     .reason_has = "RSA 2048",
     .reply_code = 221,
     .leaf_cn = RSA_CN,
     .key_has = "RSA 2048",
     .version = "TLSv1.3"},
    {.name = "tls12-force-ecdsa",
     .sc = {.tls_max = TLS1_2_VERSION},
     .keytype = DG_SMTP_KEY_ECDSA,
     .outcome = DG_SMTP_PROBE_TLS_OK,
     .stage = DG_SMTP_STAGE_DONE,
     .reason_has = "TLSv1.2 ECDHE-ECDSA",
     .reply_code = 221,
     .leaf_cn = EC_CN,
     .key_has = "ECDSA",
     .version = "TLSv1.2"},
    {.name = "tls12-force-rsa",
     .sc = {.tls_max = TLS1_2_VERSION},
     .keytype = DG_SMTP_KEY_RSA,
     .outcome = DG_SMTP_PROBE_TLS_OK,
     .stage = DG_SMTP_STAGE_DONE,
     .reason_has = "RSA",
     .reply_code = 221,
     .leaf_cn = RSA_CN,
     .key_has = "RSA 2048",
     .version = "TLSv1.2"},
    {.name = "tls10-allowed-ecdsa",
     .sc = {.tls_max = TLS1_VERSION},
     .keytype = DG_SMTP_KEY_ECDSA,
     .outcome = DG_SMTP_PROBE_TLS_OK,
     .stage = DG_SMTP_STAGE_DONE,
     .reason_has = "TLSv1 ",
     .reply_code = 221,
     .leaf_cn = EC_CN,
     .key_has = "ECDSA",
     .version = "TLSv1"},
    {.name = "no-starttls",
     .sc = {.ehlo = ehlo_no_tls},
     .outcome = DG_SMTP_PROBE_NO_STARTTLS,
     .stage = DG_SMTP_STAGE_EHLO,
     .reason_has = "STARTTLS not offered in the EHLO reply",
     .reply_code = 250,
     .seen = "EHLO|QUIT|"},
    {.name = "starttls-454",
     .sc = {.starttls = "454 4.7.0 TLS not available\r\n"},
     .outcome = DG_SMTP_PROBE_STARTTLS_REFUSED,
     .stage = DG_SMTP_STAGE_STARTTLS,
     .reason_has = "STARTTLS refused: 454 4.7.0 TLS not available",
     .reply_code = 454,
     .seen = "EHLO|STARTTLS|QUIT|"},
    {.name = "banner-never-sent",
     .sc = {.banner = SILENT},
     .outcome = DG_SMTP_PROBE_TIMEOUT,
     .stage = DG_SMTP_STAGE_BANNER,
     .reason_has = "timeout after 300 ms waiting for the banner",
     .reply_code = 0},
    {.name = "total-deadline",
     .sc = {.banner = SILENT},
     .banner_ms = 3000,
     .total_ms = 200,
     .outcome = DG_SMTP_PROBE_TIMEOUT,
     .stage = DG_SMTP_STAGE_BANNER,
     .reason_has = "total time limit of 200 ms",
     .reply_code = 0},
    {.name = "banner-421",
     .sc = {.banner = "421 4.3.2 Service not available\r\n"},
     .outcome = DG_SMTP_PROBE_REJECTED,
     .stage = DG_SMTP_STAGE_BANNER,
     .reason_has = "banner rejects mail: 421 4.3.2 Service not available",
     .reply_code = 421},
    {.name = "ehlo-5xx-helo-ok",
     .sc = {.ehlo = "502 5.5.2 EHLO not implemented\r\n"},
     .outcome = DG_SMTP_PROBE_NO_STARTTLS,
     .stage = DG_SMTP_STAGE_HELO,
     .reason_has = "HELO accepted",
     .reply_code = 250,
     .seen = "EHLO|HELO|QUIT|"},
    {.name = "ehlo-5xx-helo-5xx",
     .sc = {.ehlo = "500 5.5.1 no\r\n", .helo = "550 5.7.1 go away\r\n"},
     .outcome = DG_SMTP_PROBE_REJECTED,
     .stage = DG_SMTP_STAGE_HELO,
     .reason_has = "HELO rejected after EHLO failed: 550 5.7.1 go away",
     .reply_code = 550,
     .seen = "EHLO|HELO|QUIT|"},
    {.name = "ehlo-450-quit",
     .sc = {.ehlo = "450 4.7.1 greylisted\r\n", .quit = SILENT},
     .outcome = DG_SMTP_PROBE_REJECTED,
     .stage = DG_SMTP_STAGE_EHLO,
     .reason_has = "EHLO rejected: 450 4.7.1 greylisted",
     .reply_code = 450,
     .seen = "EHLO|QUIT|"},
    {.name = "ehlo-4xx-no-helo",
     .sc = {.ehlo = "421 4.7.0 try later\r\n"},
     .outcome = DG_SMTP_PROBE_REJECTED,
     .stage = DG_SMTP_STAGE_EHLO,
     .reason_has = "EHLO rejected: 421",
     .reply_code = 421,
     .seen = "EHLO|"},
    {.name = "banner-554-quit",
     .sc = {.banner = "554 5.3.2 no service here\r\n"},
     .outcome = DG_SMTP_PROBE_REJECTED,
     .stage = DG_SMTP_STAGE_BANNER,
     .reason_has = "banner rejects mail: 554 5.3.2",
     .reply_code = 554,
     .seen = "QUIT|"},
    {.name = "one-byte-writes",
     .sc = {.drip = true},
     .outcome = DG_SMTP_PROBE_TLS_OK,
     .stage = DG_SMTP_STAGE_DONE,
     .reason_has = "STARTTLS ok",
     .reply_code = 221,
     .leaf_cn = "*",
     .seen = "EHLO|STARTTLS|EHLO|QUIT|"},
    {.name = "garbage-after-220",
     .sc = {.tls = SRV_TLS_GARBAGE},
     .outcome = DG_SMTP_PROBE_TLS_FAILED,
     .stage = DG_SMTP_STAGE_TLS_HANDSHAKE,
     .reason_has = "TLS handshake failed",
     .reply_code = 220},
    {.name = "cleartext-after-220",
     .sc = {.starttls = "220 2.0.0 go ahead\r\n250 2.0.0 injected\r\n"},
     .outcome = DG_SMTP_PROBE_PROTOCOL,
     .stage = DG_SMTP_STAGE_STARTTLS,
     .reason_has = "bytes of cleartext after",
     .reply_code = 220},
    {.name = "connect-refused",
     .target = TARGET_CLOSED_V4,
     .outcome = DG_SMTP_PROBE_CONNECT_FAILED,
     .stage = DG_SMTP_STAGE_CONNECT,
     .reason_has = "connect failed: Connection refused",
     .reply_code = 0},
    {.name = "connect-refused-v6",
     .target = TARGET_CLOSED_V6,
     .outcome = DG_SMTP_PROBE_CONNECT_FAILED,
     .stage = DG_SMTP_STAGE_CONNECT,
     .reason_has = "[::1]:",
     .reply_code = 0},
    {.name = "oversized-banner-line",
     .sc = {.banner = long_banner},
     .outcome = DG_SMTP_PROBE_PROTOCOL,
     .stage = DG_SMTP_STAGE_BANNER,
     .reason_has = "longer than 2048 bytes",
     .reply_code = 0},
    {.name = "close-after-banner",
     .sc = {.ehlo = CLOSE},
     .outcome = DG_SMTP_PROBE_PROTOCOL,
     .stage = DG_SMTP_STAGE_EHLO,
     .reason_has = "connection closed by server while waiting for the reply to EHLO",
     .reply_code = 220},
    {.name = "malformed-ehlo-reply",
     .sc = {.ehlo = "250-ok\r\n251 mixed codes\r\n"},
     .outcome = DG_SMTP_PROBE_PROTOCOL,
     .stage = DG_SMTP_STAGE_EHLO,
     .reason_has = "differs from first line",
     .reply_code = 220},
    {.name = "ehlo-after-tls-rejected",
     .sc = {.ehlo_tls = "554 5.7.0 no thanks\r\n"},
     .outcome = DG_SMTP_PROBE_REJECTED,
     .stage = DG_SMTP_STAGE_EHLO_TLS,
     .reason_has = "EHLO after STARTTLS rejected: 554",
     .reply_code = 554,
     .leaf_cn = "*",
     .seen = "EHLO|STARTTLS|EHLO|QUIT|"},
    {.name = "quit-unanswered",
     .sc = {.quit = SILENT},
     .outcome = DG_SMTP_PROBE_TLS_OK,
     .stage = DG_SMTP_STAGE_DONE,
     .reason_has = "STARTTLS ok",
     .reply_code = 250,
     .leaf_cn = "*",
     .seen = "EHLO|STARTTLS|EHLO|QUIT|"},
    {.name = "cancel-in-callback",
     .cancel_in_cb = true,
     .outcome = DG_SMTP_PROBE_TLS_OK,
     .stage = DG_SMTP_STAGE_DONE,
     .reason_has = "STARTTLS ok",
     .reply_code = 221,
     .leaf_cn = "*"},
};

#define N_PROBE_CASES (sizeof(probe_cases) / sizeof(probe_cases[0]))

#define WANT_EQ(tc, what, got, want, fmt)                                                          \
	do {                                                                                       \
		if ((got) != (want))                                                               \
			fail_msg("%s: %s: got " fmt ", want " fmt, (tc)->name, what, got, want);   \
	} while (0)

static void want_has(const struct probe_case *tc, const char *what, const char *got,
                     const char *want)
{
	if (want != NULL && strstr(got, want) == NULL)
		fail_msg("%s: %s: got \"%s\", want it to contain \"%s\"", tc->name, what, got,
		         want);
}

/* Everything a successful or failed row must show. */
static void check_case(const struct probe_case *tc, const struct world *w)
{
	if (getenv("DG_TEST_VERBOSE") != NULL)
		print_message("%s: %s at %s: %s [%s %s %s]\n", tc->name,
		              dg_smtp_probe_outcome_str(w->outcome),
		              dg_smtp_probe_stage_str(w->stage), w->reason, w->version, w->peer_key,
		              w->sigalg);
	if (w->guard_fired)
		fail_msg("%s: no callback within %d ms", tc->name, GUARD_MS);
	WANT_EQ(tc, "callbacks", w->ncb, 1, "%d");
	if (w->outcome != tc->outcome)
		fail_msg("%s: outcome: got %s, want %s (reason \"%s\")", tc->name,
		         dg_smtp_probe_outcome_str(w->outcome),
		         dg_smtp_probe_outcome_str(tc->outcome), w->reason);
	if (w->stage != tc->stage)
		fail_msg("%s: stage: got %s, want %s", tc->name, dg_smtp_probe_stage_str(w->stage),
		         dg_smtp_probe_stage_str(tc->stage));
	want_has(tc, "reason", w->reason, tc->reason_has);
	if (strncmp(w->reason, "127.0.0.1:", 10) != 0 && strncmp(w->reason, "[::1]:", 6) != 0)
		fail_msg("%s: reason: got \"%s\", want it to start with the address", tc->name,
		         w->reason);
	if (tc->reply_code >= 0)
		WANT_EQ(tc, "reply code", w->reply_code, tc->reply_code, "%d");
	if (tc->leaf_cn == NULL) {
		WANT_EQ(tc, "chain length", w->nchain, 0, "%d");
	} else {
		WANT_EQ(tc, "chain length", w->nchain, 1, "%d");
		if (strcmp(tc->leaf_cn, "*") != 0 && strcmp(w->leaf_cn, tc->leaf_cn) != 0)
			fail_msg("%s: leaf CN: got \"%s\", want \"%s\"", tc->name, w->leaf_cn,
			         tc->leaf_cn);
	}
	want_has(tc, "peer key", w->peer_key, tc->key_has);
	if (tc->version != NULL && strcmp(w->version, tc->version) != 0)
		fail_msg("%s: TLS version: got \"%s\", want \"%s\"", tc->name, w->version,
		         tc->version);
	if (tc->seen != NULL && strcmp(w->seen, tc->seen) != 0)
		fail_msg("%s: server saw: got \"%s\", want \"%s\"", tc->name, w->seen, tc->seen);
	want_has(tc, "server saw", strstr(w->seen, "MAIL") == NULL ? "no MAIL" : "MAIL", "no MAIL");
}

static void test_probe_case(void **state)
{
	const struct probe_case *tc = *state;
	struct dg_smtp_probe_opts o;
	struct world w;

	world_init(&w, &tc->sc);
	test_opts(&o, &w);
	o.keytype = tc->keytype;
	if (tc->banner_ms != 0)
		o.banner_timeout_ms = tc->banner_ms;
	if (tc->total_ms != 0)
		o.total_timeout_ms = tc->total_ms;
	if (tc->target == TARGET_CLOSED_V4)
		o.port = closed_port();
	if (tc->target == TARGET_CLOSED_V6) {
		o.addr = "::1";
		o.port = closed_port();
	}
	w.cancel_in_cb = tc->cancel_in_cb;
	world_run(&w, &o);
	check_case(tc, &w);
	if (tc->leaf_cn != NULL) {
		if (strcmp(w.srv_sni, TEST_SNI) != 0)
			fail_msg("%s: server got SNI \"%s\", want \"%s\"", tc->name, w.srv_sni,
			         TEST_SNI);
		want_has(tc, "transcript", w.transcript, "C: STARTTLS\nS: 220 ");
		want_has(tc, "transcript", w.transcript, "TLS: handshake done");
	}
	if (tc->outcome == DG_SMTP_PROBE_TLS_OK && tc->keytype != DG_SMTP_KEY_ANY &&
	    strcmp(w.version, "TLSv1") != 0)
		want_has(tc, "sigalg", w.sigalg,
		         tc->keytype == DG_SMTP_KEY_ECDSA ? "ECDSA" : "RSA");
	world_cleanup(&w);
}

/* ------------------------------------------------------------------------ */
/* Other tests                                                              */
/* ------------------------------------------------------------------------ */

/* Cancel right after start: no callback, nothing leaks. */
static void test_cancel_before_loop(void **state)
{
	static const struct script sc = {.banner = SILENT};
	struct dg_smtp_probe_opts o;
	struct world w;
	struct dg_smtp_probe *p;

	(void)state;
	world_init(&w, &sc);
	test_opts(&o, &w);
	assert_int_equal(dg_smtp_probe_start(w.base, &o, on_result, &w, &p, NULL), DG_OK);
	dg_smtp_probe_cancel(p);
	dg_smtp_probe_cancel(NULL);
	for (int i = 0; i < 10; i++)
		event_base_loop(w.base, EVLOOP_NONBLOCK);
	WANT_EQ(&(struct probe_case){.name = "cancel-before-loop"}, "callbacks", w.ncb, 0, "%d");
	world_cleanup(&w);
}

/* Cancel from another event while the probe waits for the banner. */
static void test_cancel_while_waiting(void **state)
{
	static const struct script sc = {.banner = SILENT};
	struct dg_smtp_probe_opts o;
	struct world w;

	(void)state;
	world_init(&w, &sc);
	w.cancel_on_accept = true;
	test_opts(&o, &w);
	world_run(&w, &o);
	assert_false(w.guard_fired);
	WANT_EQ(&(struct probe_case){.name = "cancel-while-waiting"}, "callbacks", w.ncb, 0, "%d");
	assert_null(w.probe);
	world_cleanup(&w);
}

struct bad_opts_case {
	const char *name;
	const char *addr;
	uint16_t port;
	const char *helo;
	const char *sni;
	const char *msg_has;
};

/* Bad options fail in start with DG_E_CONFIG, never through the callback. */
static void test_bad_opts(void **state)
{
	static const struct bad_opts_case cases[] = {
	    {"hostname", "mx.example.test", 25, "c.test", NULL, "not a numeric"},
	    {"five-octets", "1.2.3.4.5", 25, "c.test", NULL, "not a numeric"},
	    {"no-addr", NULL, 25, "c.test", NULL, "no server address"},
	    {"port-0", "127.0.0.1", 0, "c.test", NULL, "port 0"},
	    {"helo-space", "127.0.0.1", 25, "bad name", NULL, "bad EHLO name"},
	    {"helo-crlf", "127.0.0.1", 25, "x\r\nMAIL", NULL, "bad EHLO name"},
	    {"helo-empty", "127.0.0.1", 25, "", NULL, "bad EHLO name"},
	    {"sni-address", "127.0.0.1", 25, "c.test", "192.0.2.1", "bad SNI"},
	    {"sni-empty-label", "127.0.0.1", 25, "c.test", "a..b", "bad SNI"},
	};
	struct event_base *base = event_base_new();

	(void)state;
	assert_non_null(base);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct bad_opts_case *c = &cases[i];
		struct dg_smtp_probe_opts o;
		struct dg_smtp_probe *p = (struct dg_smtp_probe *)&o;
		struct dg_err err;
		enum dg_status st;

		dg_smtp_probe_opts_init(&o);
		o.addr = c->addr;
		o.port = c->port;
		o.helo = c->helo;
		o.sni = c->sni;
		st = dg_smtp_probe_start(base, &o, on_result, NULL, &p, &err);
		if (st != DG_E_CONFIG)
			fail_msg("%s: got status %s, want %s", c->name, dg_status_str(st),
			         dg_status_str(DG_E_CONFIG));
		if (p != NULL)
			fail_msg("%s: got a probe handle, want NULL", c->name);
		if (strstr(err.msg, c->msg_has) == NULL)
			fail_msg("%s: got message \"%s\", want it to contain \"%s\"", c->name,
			         err.msg, c->msg_has);
	}
	event_base_free(base);
}

static void test_opts_defaults(void **state)
{
	struct dg_smtp_probe_opts o;

	(void)state;
	memset(&o, 0xff, sizeof(o));
	dg_smtp_probe_opts_init(&o);
	assert_int_equal(o.port, 25);
	assert_null(o.addr);
	assert_null(o.sni);
	assert_null(o.ssl_ctx);
	assert_string_equal(o.helo, "localhost");
	assert_int_equal(o.keytype, DG_SMTP_KEY_ANY);
	assert_int_equal(o.connect_timeout_ms, 10000);
	assert_int_equal(o.banner_timeout_ms, 30000);
	assert_int_equal(o.cmd_timeout_ms, 30000);
	assert_int_equal(o.tls_timeout_ms, 30000);
	assert_int_equal(o.quit_timeout_ms, 2000);
	assert_int_equal(o.total_timeout_ms, 120000);
	assert_false(o.transcript);
}

/* Every outcome and stage has its own name. */
static void test_names(void **state)
{
	(void)state;
	for (int i = DG_SMTP_PROBE_TLS_OK; i <= DG_SMTP_PROBE_PROTOCOL; i++) {
		const char *a = dg_smtp_probe_outcome_str((enum dg_smtp_probe_outcome)i);

		assert_string_not_equal(a, "unknown");
		for (int j = 0; j < i; j++)
			assert_string_not_equal(
			    a, dg_smtp_probe_outcome_str((enum dg_smtp_probe_outcome)j));
	}
	for (int i = DG_SMTP_STAGE_CONNECT; i <= DG_SMTP_STAGE_DONE; i++) {
		const char *a = dg_smtp_probe_stage_str((enum dg_smtp_probe_stage)i);

		assert_string_not_equal(a, "unknown");
		for (int j = 0; j < i; j++)
			assert_string_not_equal(
			    a, dg_smtp_probe_stage_str((enum dg_smtp_probe_stage)j));
	}
	assert_string_equal(dg_smtp_probe_outcome_str((enum dg_smtp_probe_outcome)99), "unknown");
	assert_string_equal(dg_smtp_probe_stage_str((enum dg_smtp_probe_stage)99), "unknown");
}

/* A caller-supplied SSL_CTX is used (and only borrowed). */
static void test_shared_ctx(void **state)
{
	static const struct script sc = {0};
	static const struct probe_case tc = {.name = "shared-ctx",
	                                     .outcome = DG_SMTP_PROBE_TLS_OK,
	                                     .stage = DG_SMTP_STAGE_DONE,
	                                     .reason_has = "STARTTLS ok",
	                                     .reply_code = 221,
	                                     .leaf_cn = "*"};
	struct dg_smtp_probe_opts o;
	struct world w;
	SSL_CTX *ctx = dg_smtp_tls_ctx_new(NULL);

	(void)state;
	assert_non_null(ctx);
	world_init(&w, &sc);
	test_opts(&o, &w);
	o.ssl_ctx = ctx;
	world_run(&w, &o);
	check_case(&tc, &w);
	world_cleanup(&w);
	SSL_CTX_free(ctx); /* still ours: the probe dropped its reference */
}

int main(void)
{
	static const struct CMUnitTest fixed[] = {
	    cmocka_unit_test(test_opts_defaults),
	    cmocka_unit_test(test_names),
	    cmocka_unit_test(test_bad_opts),
	    cmocka_unit_test(test_cancel_before_loop),
	    cmocka_unit_test(test_cancel_while_waiting),
	    cmocka_unit_test(test_shared_ctx),
	};
	struct CMUnitTest tests[N_PROBE_CASES + sizeof(fixed) / sizeof(fixed[0])];
	size_t n = 0;

	for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
		tests[n++] = fixed[i];
	for (size_t i = 0; i < N_PROBE_CASES; i++)
		tests[n++] = (struct CMUnitTest){.name = probe_cases[i].name,
		                                 .test_func = test_probe_case,
		                                 .initial_state = (void *)&probe_cases[i]};
	return _cmocka_run_group_tests("smtp_session", tests, n, group_setup, group_teardown);
}
