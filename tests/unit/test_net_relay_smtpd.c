/*
 * test_net_relay_smtpd.c - the relay's SMTP receiver (lib/relay/relay_smtpd*.c) against a
 * real client over 127.0.0.1 (ctest runs it in a private network namespace, tests/in-netns).
 *
 * The receiver runs on an event_base in the main thread; the client is a thread speaking
 * through a plain blocking socket (and OpenSSL for STARTTLS), following a script of steps:
 * send these bytes, then read N replies (or: expect the connection to close). Each table row
 * is one scenario: receiver options, the script, the reply codes wanted in order, the
 * messages wanted in the queue with their exact envelope and body, and a log line wanted.
 * Special rows inject queue faults (lib/queue hooks), fill a real tmpfs (when the test runs
 * as root and can make a private mount namespace; otherwise the statvfs hook reports the
 * space as insufficient), or run their own client (session cap, flood, graceful stop).
 * Failures print "got X, want Y".
 */
#include "queue/queue_int.h"
#include "relay/relay_smtpd.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define PORT 10025
#define PORT6 10026
#define HOST "relay.example.test"
#define MAX_STEPS 16
#define MAX_REPLIES 40
#define CLOSED (-1)                 /* a "reply code": the server closed the connection */
#define STEP_TLS "\001tls"          /* start TLS without a client certificate */
#define STEP_TLS_CERT "\001tlscert" /* start TLS presenting the client certificate */
#define STEP_STOP "\001stop"        /* ask the main thread to stop accepting, wait */
#define STEP_CONNECT2 "\001conn2"   /* open a second connection, read its replies */
#define STEP_FLOOD "\001flood"      /* send NOOPs without reading until dropped */
#define DRIP "\002"                 /* prefix: send the rest one byte per write */
#define GUARD_MS 20000

enum fault { F_NONE = 0, F_FSYNC_EIO, F_LOW_SPACE, F_TMPFS_FULL };
/* How the receiver listens: address text, IPv6 address text, or a ready socket. */
enum listen_kind { L_ADDR = 0, L_V6, L_FD };

struct step {
	const char *send; /* bytes, or one of the STEP_ markers; NULL: send nothing */
	int n;            /* replies to read after sending; CLOSED: expect a close */
};

struct text_want {
	int idx;         /* reply index; -1 ends the list */
	const char *sub; /* wanted substring */
	bool absent;     /* wanted absent instead */
};

struct smtpd_case {
	const char *name;
	bool allow_addr;     /* allow() answer for the client address (no certificate) */
	size_t max_message;  /* 0: default */
	size_t max_rcpts;    /* 0: default */
	unsigned timeout_ms; /* 0: 3000 */
	size_t max_sessions; /* 0: default */
	size_t max_output;   /* 0: default */
	bool no_tls;         /* no SSL_CTX */
	enum fault fault;
	enum listen_kind listen;
	struct step steps[MAX_STEPS];
	int want[MAX_REPLIES]; /* reply codes in order, 0 ends */
	struct text_want text[6];
	size_t want_queued;
	const char *want_sender; /* of the (first) queued message; NULL: not checked */
	const char *want_rcpts;  /* "a,b" */
	const char *want_body;   /* body after the Received: header, exact */
	const char *want_proto;  /* "with ESMTP id", "with ESMTPSA id", ... */
	const char *want_log;    /* substring of some log line; NULL: not checked */
	bool want_cert_seen;     /* allow() saw a client certificate */
	bool want_smtputf8;      /* the queued message (and queued()'s env) carry SMTPUTF8 */
};

/* What the client thread saw; written by it, read after join. */
struct client {
	const struct smtpd_case *tc;
	int codes[MAX_REPLIES];
	char text[MAX_REPLIES][1024];
	size_t n;
	char note[256]; /* first client-side failure */
	atomic_bool done;
	atomic_int stop_req; /* 1: asked, 2: done */
};

struct world {
	struct event_base *base;
	struct dg_relay_smtpd *s;
	struct dg_queue *q;
	char dir[64];
	bool tmpfs;
	struct dg_log log;
	char logbuf[16384];
	size_t loglen;
	struct client cl;
	/* queued callback */
	int queued_calls;
	char queued_id[DG_QUEUE_ID_SIZE];
	size_t queued_nrcpt;
	bool queued_smtputf8;
	bool queued_reply_pending; /* "queued as" already in an output buffer at callback time */
	bool queued_durable;       /* dg_queue_get() found the message at callback time */
	int allow_calls;
	bool cert_seen;
	bool allow_addr;
	bool stop_fail;
};

static EVP_PKEY *srv_key, *cli_key;
static X509 *srv_cert, *cli_cert;
static SSL_CTX *srv_ctx;
static bool can_mount;

static X509 *make_cert(EVP_PKEY *key, const char *cn);
static bool allow_cb(void *arg, const struct sockaddr *peer, X509 *cert);
static void queued_cb(void *arg, const char *id, const struct dg_queue_msg *env);
static void log_cb(void *arg, enum dg_log_level level, const char *line);
static void *client_main(void *arg);
static int cl_connect(uint16_t port, bool v6);
static bool cl_reply(int fd, SSL *ssl, struct client *c);
static bool cl_closed(int fd, SSL *ssl);
static bool cl_send(int fd, SSL *ssl, const char *p, size_t n);
static SSL *cl_tls(int fd, bool cert);
static void tick_cb(evutil_socket_t fd, short what, void *arg);
static void world_run(struct world *w, const struct smtpd_case *tc);
static void check_case(const struct smtpd_case *tc, struct world *w);

/* ------------------------------------------------------------------------ */
/* Fixtures                                                                 */
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

/* Address: as the row says. Certificate: only the test client's, by SHA-256 fingerprint. */
static bool allow_cb(void *arg, const struct sockaddr *peer, X509 *cert)
{
	struct world *w = arg;
	unsigned char a[EVP_MAX_MD_SIZE], b[EVP_MAX_MD_SIZE];
	unsigned la = 0, lb = 0;

	w->allow_calls++;
	if (peer->sa_family != AF_INET && peer->sa_family != AF_INET6)
		return false;
	if (cert == NULL)
		return w->allow_addr;
	w->cert_seen = true;
	X509_digest(cert, EVP_sha256(), a, &la);
	X509_digest(cli_cert, EVP_sha256(), b, &lb);
	return la == lb && memcmp(a, b, la) == 0;
}

/* Told after the put: is the message durable, and is the 250 still unwritten? */
static void queued_cb(void *arg, const char *id, const struct dg_queue_msg *env)
{
	struct world *w = arg;
	struct dg_queue_msg m;

	w->queued_calls++;
	snprintf(w->queued_id, sizeof(w->queued_id), "%s", id);
	w->queued_nrcpt = env->n_rcpt;
	w->queued_smtputf8 = env->smtputf8;
	memset(&m, 0, sizeof(m));
	w->queued_durable = dg_queue_get(w->q, id, &m, NULL) == DG_OK;
	dg_queue_msg_cleanup(&m);
	for (struct smtpd_sess *ss = w->s->sessions; ss != NULL; ss = ss->next) {
		struct evbuffer *out = bufferevent_get_output(ss->bev);

		if (evbuffer_search(out, "queued as", 9, NULL).pos >= 0)
			w->queued_reply_pending = true;
	}
}

static void log_cb(void *arg, enum dg_log_level level, const char *line)
{
	struct world *w = arg;
	int n;

	(void)level;
	if (getenv("DG_TEST_VERBOSE") != NULL)
		fprintf(stderr, "log: %s\n", line);
	n = snprintf(w->logbuf + w->loglen, sizeof(w->logbuf) - w->loglen, "%s\n", line);
	if (n > 0 && w->loglen + (size_t)n < sizeof(w->logbuf))
		w->loglen += (size_t)n;
}

/* ------------------------------------------------------------------------ */
/* The client thread                                                        */
/* ------------------------------------------------------------------------ */

static int cl_connect(uint16_t port, bool v6)
{
	struct timeval tv = {5, 0};
	int fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM, 0);
	int rc;

	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (v6) {
		struct sockaddr_in6 sa6 = {.sin6_family = AF_INET6, .sin6_port = htons(port)};

		inet_pton(AF_INET6, "::1", &sa6.sin6_addr);
		rc = connect(fd, (struct sockaddr *)&sa6, sizeof(sa6));
	} else {
		struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};

		sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		rc = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	}
	if (rc != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static int cl_read1(int fd, SSL *ssl, char *ch)
{
	return ssl != NULL ? SSL_read(ssl, ch, 1) : (int)recv(fd, ch, 1, 0);
}

/* Read one (possibly multi-line) reply into the transcript. @return false: closed/timeout. */
static bool cl_reply(int fd, SSL *ssl, struct client *c)
{
	char line[1024], *t;
	size_t len = 0, lines = 0;

	if (c->n >= MAX_REPLIES)
		return false;
	t = c->text[c->n];
	t[0] = '\0';
	while (lines < 50) {
		char ch;

		if (cl_read1(fd, ssl, &ch) != 1)
			return false;
		if (len + 1 < sizeof(line))
			line[len++] = ch;
		if (ch != '\n')
			continue;
		line[len] = '\0';
		lines++;
		if (strlen(t) + len < sizeof(c->text[0]))
			strcat(t, line);
		if (len >= 4 && line[3] == ' ') {
			c->codes[c->n++] = atoi(line);
			return true;
		}
		len = 0;
	}
	return false;
}

/* Read until EOF or reset (anything before is discarded). @return true if closed. */
static bool cl_closed(int fd, SSL *ssl)
{
	char buf[4096];

	for (int i = 0; i < 100000; i++) {
		int n = ssl != NULL ? SSL_read(ssl, buf, sizeof(buf))
		                    : (int)recv(fd, buf, sizeof(buf), 0);

		if (n == 0)
			return true;
		if (n < 0)
			return ssl != NULL || (errno != EAGAIN && errno != EWOULDBLOCK);
	}
	return false;
}

static bool cl_send(int fd, SSL *ssl, const char *p, size_t n)
{
	if (ssl != NULL)
		return SSL_write(ssl, p, (int)n) == (int)n;
	while (n > 0) {
		ssize_t k = send(fd, p, n, MSG_NOSIGNAL);

		if (k <= 0)
			return false;
		p += k;
		n -= (size_t)k;
	}
	return true;
}

static SSL *cl_tls(int fd, bool cert)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	SSL *ssl;

	if (ctx == NULL)
		return NULL;
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	if (cert && (SSL_CTX_use_certificate(ctx, cli_cert) != 1 ||
	             SSL_CTX_use_PrivateKey(ctx, cli_key) != 1)) {
		SSL_CTX_free(ctx);
		return NULL;
	}
	ssl = SSL_new(ctx);
	SSL_CTX_free(ctx); /* the SSL keeps a reference */
	if (ssl == NULL)
		return NULL;
	SSL_set_fd(ssl, fd);
	if (SSL_connect(ssl) != 1) {
		SSL_free(ssl);
		return NULL;
	}
	return ssl;
}

/* Pipeline NOOPs without reading replies until the server drops us (bounded: 64 MiB). */
static bool cl_flood(int fd)
{
	static char chunk[6 * 1024];

	for (size_t i = 0; i + 6 <= sizeof(chunk); i += 6)
		memcpy(chunk + i, "NOOP\r\n", 6);
	for (size_t sent = 0; sent < 64u * 1024u * 1024u; sent += sizeof(chunk))
		if (!cl_send(fd, NULL, chunk, sizeof(chunk)))
			return true;
	return false;
}

static void cl_fail(struct client *c, const char *what, const char *arg)
{
	if (c->note[0] == '\0')
		snprintf(c->note, sizeof(c->note), "%s%s", what, arg);
}

/* One script step; @return false to stop the script. */
static bool cl_step(struct client *c, const struct step *st, int fd, SSL **ssl, int *fd2)
{
	if (st->send == NULL) {
	} else if (strcmp(st->send, STEP_TLS) == 0 || strcmp(st->send, STEP_TLS_CERT) == 0) {
		if ((*ssl = cl_tls(fd, strcmp(st->send, STEP_TLS_CERT) == 0)) == NULL) {
			cl_fail(c, "TLS handshake failed", "");
			return false;
		}
	} else if (strcmp(st->send, STEP_STOP) == 0) {
		atomic_store(&c->stop_req, 1);
		for (int i = 0; i < 500 && atomic_load(&c->stop_req) != 2; i++)
			usleep(10000);
	} else if (strcmp(st->send, STEP_CONNECT2) == 0) {
		if ((*fd2 = cl_connect(PORT, false)) < 0) {
			c->codes[c->n++] = CLOSED; /* refused counts as closed */
			return true;
		}
		for (int i = 0; i < st->n; i++)
			if (!cl_reply(*fd2, NULL, c))
				return false;
		if (st->n >= 0 && cl_closed(*fd2, NULL) && c->n < MAX_REPLIES)
			c->codes[c->n++] = CLOSED;
		return true;
	} else if (strcmp(st->send, STEP_FLOOD) == 0) {
		if (cl_flood(fd) && c->n < MAX_REPLIES)
			c->codes[c->n++] = CLOSED;
		return false;
	} else if (st->send[0] == DRIP[0]) {
		for (const char *b = st->send + 1; *b != '\0'; b++) {
			if (!cl_send(fd, *ssl, b, 1)) {
				cl_fail(c, "send failed: ", strerror(errno));
				break;
			}
			usleep(200); /* separate segments, separate reads */
		}
	} else if (!cl_send(fd, *ssl, st->send, strlen(st->send))) {
		cl_fail(c, "send failed: ", strerror(errno));
	}
	if (st->n == CLOSED) {
		if (cl_closed(fd, *ssl) && c->n < MAX_REPLIES)
			c->codes[c->n++] = CLOSED;
		return false;
	}
	for (int i = 0; i < st->n; i++)
		if (!cl_reply(fd, *ssl, c)) {
			cl_fail(c, "reply missing (closed or timeout)", "");
			return false;
		}
	return true;
}

static void *client_main(void *arg)
{
	struct client *c = arg;
	int fd = cl_connect(PORT, c->tc->listen == L_V6), fd2 = -1;
	SSL *ssl = NULL;

	if (fd < 0) {
		cl_fail(c, "connect: ", strerror(errno));
	} else {
		for (size_t i = 0;
		     i < MAX_STEPS && (c->tc->steps[i].send != NULL || c->tc->steps[i].n != 0); i++)
			if (!cl_step(c, &c->tc->steps[i], fd, &ssl, &fd2))
				break;
	}
	if (ssl != NULL)
		SSL_free(ssl);
	if (fd >= 0)
		close(fd);
	if (fd2 >= 0)
		close(fd2);
	atomic_store(&c->done, true);
	return NULL;
}

/* ------------------------------------------------------------------------ */
/* The receiver side                                                        */
/* ------------------------------------------------------------------------ */

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

struct tick {
	struct world *w;
	uint64_t start_ms;
	bool expired;
};

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct tick *t = arg;
	struct world *w = t->w;

	(void)fd;
	(void)what;
	if (atomic_load(&w->cl.stop_req) == 1) {
		dg_relay_smtpd_stop_accepting(w->s);
		atomic_store(&w->cl.stop_req, 2);
	}
	if (atomic_load(&w->cl.done))
		event_base_loopbreak(w->base);
	if (dg_clock_mono_ms() - t->start_ms > GUARD_MS) {
		t->expired = true;
		event_base_loopbreak(w->base);
	}
}

/* Fill the tmpfs under w->dir: one file taking every free block. */
static void fill_fs(const char *dir)
{
	char path[128], buf[4096];
	int fd;

	snprintf(path, sizeof(path), "%s/filler", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	memset(buf, 'x', sizeof(buf));
	for (int i = 0; i < 100000; i++)
		if (write(fd, buf, sizeof(buf)) <= 0)
			break;
	close(fd);
}

static ssize_t fault_write(int fd, const void *p, size_t n)
{
	return write(fd, p, n);
}

static int fault_fsync(int fd)
{
	(void)fd;
	errno = EIO;
	return -1;
}

static int fault_statvfs(const char *path, struct statvfs *sv)
{
	int rc = statvfs(path, sv);

	sv->f_bavail = 16; /* 64 KiB: below the 64 MiB default reserve */
	sv->f_frsize = 4096;
	return rc;
}

static void world_open_queue(struct world *w, const struct smtpd_case *tc)
{
	struct dg_queue_opts qo;
	struct dg_err err;

	memset(&qo, 0, sizeof(qo));
	snprintf(w->dir, sizeof(w->dir), "/tmp/dg-smtpd-XXXXXX");
	assert_non_null(mkdtemp(w->dir));
	if (tc->fault == F_TMPFS_FULL) {
		assert_int_equal(mount("tmpfs", w->dir, "tmpfs", 0, "size=256k"), 0);
		w->tmpfs = true;
		qo.reserve_bytes = 1; /* the message itself must fit, nothing more */
	}
	if (dg_queue_open(w->dir, &qo, &w->q, &err) != DG_OK)
		fail_msg("queue open: %s", err.msg);
	if (tc->fault == F_TMPFS_FULL) { /* one message fits, then the disk is full */
		struct dg_queue_rcpt r = {.addr = "x@example.net"};
		struct dg_queue_msg env = {.rcpt = &r, .n_rcpt = 1};
		char id[DG_QUEUE_ID_SIZE];

		assert_int_equal(dg_queue_put(w->q, &env, (const uint8_t *)"x\r\n", 3, id, NULL),
		                 DG_OK);
		fill_fs(w->dir);
	}
}

static void world_run(struct world *w, const struct smtpd_case *tc)
{
	struct dg_relay_smtpd_opts o;
	struct dg_err err;
	struct tick t = {w, 0, false};
	struct timeval tv = {0, 10000};
	struct event *tick;
	pthread_t th;

	memset(&o, 0, sizeof(o));
	w->base = event_base_new();
	assert_non_null(w->base);
	world_open_queue(w, tc);
	dg_log_init(&w->log);
	w->log.level = DG_LOG_DEBUG;
	w->log.cb = log_cb;
	w->log.arg = w;
	w->allow_addr = tc->allow_addr;
	o.hostname = HOST;
	o.queue = w->q;
	o.max_message_bytes = tc->max_message;
	o.max_rcpts = tc->max_rcpts;
	o.timeout_ms = tc->timeout_ms ? tc->timeout_ms : 3000;
	o.max_sessions = tc->max_sessions;
	o.max_output_bytes = tc->max_output;
	o.tls = tc->no_tls ? NULL : srv_ctx;
	o.allow = allow_cb;
	o.allow_arg = w;
	o.queued = queued_cb;
	o.queued_arg = w;
	o.log = &w->log;
	if (dg_relay_smtpd_new(w->base, &o, &w->s, &err) != DG_OK)
		fail_msg("new: %s", err.msg);
	if (tc->listen == L_FD) { /* as the supervisor would hand it over */
		struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(PORT)};
		int fd = socket(AF_INET, SOCK_STREAM, 0), on = 1;

		sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
		assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
		assert_int_equal(listen(fd, 16), 0);
		if (dg_relay_smtpd_listen_fd(w->s, fd, &err) != DG_OK)
			fail_msg("listen_fd: %s", err.msg);
	} else if (dg_relay_smtpd_listen(w->s,
	                                 tc->listen == L_V6 ? "[::1]:10025" : "127.0.0.1:10025",
	                                 &err) != DG_OK) {
		fail_msg("listen: %s", err.msg);
	}
	if (tc->fault == F_FSYNC_EIO) {
		struct dg_queue_hooks h = {fault_write, fault_fsync, NULL, NULL, NULL};

		dg_queue_hooks_set(&h);
	} else if (tc->fault == F_LOW_SPACE) {
		struct dg_queue_hooks h = {NULL, NULL, NULL, fault_statvfs, NULL};

		dg_queue_hooks_set(&h);
	}
	w->cl.tc = tc;
	t.start_ms = dg_clock_mono_ms();
	tick = event_new(w->base, -1, EV_PERSIST, tick_cb, &t);
	event_add(tick, &tv);
	assert_int_equal(pthread_create(&th, NULL, client_main, &w->cl), 0);
	event_base_dispatch(w->base);
	pthread_join(th, NULL);
	/* let the server see the client's close and log the disconnect (bounded) */
	for (int i = 0; i < 50 && dg_relay_smtpd_sessions(w->s) > 0; i++) {
		struct timeval once = {0, 10000};

		event_base_loopexit(w->base, &once);
		event_base_dispatch(w->base);
	}
	dg_queue_hooks_set(NULL);
	event_free(tick);
	if (t.expired)
		fail_msg("guard: the scenario did not end within %d ms", GUARD_MS);
}

static void world_cleanup(struct world *w)
{
	dg_relay_smtpd_free(w->s);
	dg_queue_free(w->q);
	if (w->base != NULL)
		event_base_free(w->base);
	if (w->tmpfs)
		umount(w->dir);
	if (w->dir[0] != '\0')
		nftw(w->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* ------------------------------------------------------------------------ */
/* Checks                                                                   */
/* ------------------------------------------------------------------------ */

static void check_queue(const struct smtpd_case *tc, struct world *w)
{
	char(*ids)[DG_QUEUE_ID_SIZE] = NULL;
	size_t n = 0;
	struct dg_queue_msg m;
	char rcpts[1024] = "";
	const char *body, *end;
	size_t blen, want_calls;

	assert_int_equal(dg_queue_list(w->q, &ids, &n, NULL), DG_OK);
	if (n != tc->want_queued)
		fail_msg("%s: queued: got %zu messages, want %zu", tc->name, n, tc->want_queued);
	want_calls = tc->fault == F_TMPFS_FULL ? 0 : tc->want_queued; /* one put directly */
	if (w->queued_calls != (int)want_calls)
		fail_msg("%s: queued(): got %d calls, want %zu", tc->name, w->queued_calls,
		         want_calls);
	if (tc->want_sender == NULL || n == 0) {
		free(ids);
		return;
	}
	memset(&m, 0, sizeof(m));
	assert_int_equal(dg_queue_get(w->q, ids[0], &m, NULL), DG_OK);
	free(ids);
	if (strcmp(m.sender, tc->want_sender) != 0)
		fail_msg("%s: sender: got \"%s\", want \"%s\"", tc->name, m.sender,
		         tc->want_sender);
	for (size_t i = 0; i < m.n_rcpt; i++)
		snprintf(rcpts + strlen(rcpts), sizeof(rcpts) - strlen(rcpts), "%s%s", i ? "," : "",
		         m.rcpt[i].addr);
	if (strcmp(rcpts, tc->want_rcpts) != 0)
		fail_msg("%s: rcpts: got \"%s\", want \"%s\"", tc->name, rcpts, tc->want_rcpts);
	if (m.smtputf8 != tc->want_smtputf8 || w->queued_smtputf8 != tc->want_smtputf8)
		fail_msg("%s: smtputf8: got %d (queued() %d), want %d", tc->name, m.smtputf8,
		         w->queued_smtputf8, tc->want_smtputf8);
	body = (const char *)m.body;
	blen = m.body_len;
	if (blen < 15 || memcmp(body, "Received: from ", 15) != 0)
		fail_msg("%s: body does not start with a Received: header", tc->name);
	end = memmem(body, blen, "+0000\r\n", 7);
	if (end == NULL)
		fail_msg("%s: Received: header has no date", tc->name);
	end += 7;
	if ((size_t)(body + blen - end) != strlen(tc->want_body) ||
	    memcmp(end, tc->want_body, strlen(tc->want_body)) != 0)
		fail_msg("%s: body: got \"%.*s\", want \"%s\"", tc->name, (int)(body + blen - end),
		         end, tc->want_body);
	if (tc->want_proto != NULL &&
	    memmem(body, (size_t)(end - body), tc->want_proto, strlen(tc->want_proto)) == NULL)
		fail_msg("%s: Received: got \"%.*s\", want \"%s\"", tc->name, (int)(end - body),
		         body, tc->want_proto);
	/* the 250 carries the same id, and queued() got it before the reply was written */
	for (size_t i = 0; i < w->cl.n; i++) {
		const char *q = strstr(w->cl.text[i], "queued as ");

		if (q != NULL && strncmp(q + 10, m.id, DG_QUEUE_ID_LEN) != 0)
			fail_msg("%s: 250 id: got \"%s\", want %s", tc->name, q + 10, m.id);
	}
	if (strcmp(w->queued_id, m.id) != 0)
		fail_msg("%s: queued() id: got %s, want %s", tc->name, w->queued_id, m.id);
	if (w->queued_nrcpt != m.n_rcpt)
		fail_msg("%s: queued() nrcpt: got %zu, want %zu", tc->name, w->queued_nrcpt,
		         m.n_rcpt);
	if (!w->queued_durable || w->queued_reply_pending)
		fail_msg("%s: queued(): durable %d, 250 already written %d; want 1, 0", tc->name,
		         w->queued_durable, w->queued_reply_pending);
	dg_queue_msg_cleanup(&m);
}

static void check_case(const struct smtpd_case *tc, struct world *w)
{
	char got[512] = "", want[512] = "";
	size_t nw = 0;

	while (nw < MAX_REPLIES && tc->want[nw] != 0)
		nw++;
	for (size_t i = 0; i < w->cl.n; i++)
		snprintf(got + strlen(got), sizeof(got) - strlen(got), "%d ", w->cl.codes[i]);
	for (size_t i = 0; i < nw; i++)
		snprintf(want + strlen(want), sizeof(want) - strlen(want), "%d ", tc->want[i]);
	if (strcmp(got, want) != 0)
		fail_msg("%s: replies: got [%s], want [%s] (client: %s; last reply \"%s\")",
		         tc->name, got, want, w->cl.note[0] ? w->cl.note : "ok",
		         w->cl.n > 0 ? w->cl.text[w->cl.n - 1] : "");
	for (size_t i = 0; i < 6 && tc->text[i].sub != NULL; i++) {
		const struct text_want *t = &tc->text[i];
		bool has = (size_t)t->idx < w->cl.n && strstr(w->cl.text[t->idx], t->sub) != NULL;

		if (has == t->absent)
			fail_msg("%s: reply %d: got \"%s\", want %s\"%s\"", tc->name, t->idx,
			         (size_t)t->idx < w->cl.n ? w->cl.text[t->idx] : "(none)",
			         t->absent ? "no " : "", t->sub);
	}
	if (tc->want_log != NULL && strstr(w->logbuf, tc->want_log) == NULL)
		fail_msg("%s: log: got\n%s\nwant a line with \"%s\"", tc->name, w->logbuf,
		         tc->want_log);
	if (tc->want_cert_seen != w->cert_seen)
		fail_msg("%s: allow() saw a certificate: got %d, want %d", tc->name, w->cert_seen,
		         tc->want_cert_seen);
	check_queue(tc, w);
	/* never the body in the log (STYLE.md section 8) */
	if (strstr(w->logbuf, "secret-body-text") != NULL)
		fail_msg("%s: log contains the message body", tc->name);
	if (dg_relay_smtpd_sessions(w->s) != 0)
		fail_msg("%s: sessions after the client left: got %zu, want 0", tc->name,
		         dg_relay_smtpd_sessions(w->s));
}

/* ------------------------------------------------------------------------ */
/* Scenarios                                                                */
/* ------------------------------------------------------------------------ */

/* clang-format off */
#define GREET {NULL, 1}
#define EHLO {"EHLO client.example.test\r\n", 1}
#define MAIL_RCPT {"MAIL FROM:<alice@example.org>\r\nRCPT TO:<bob@example.net>\r\n", 2}
#define BODY "Subject: hi\r\n\r\nsecret-body-text\r\n"
#define QUIT {"QUIT\r\n", 1}
#define X64 "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
#define X1K X64 X64 X64 X64 X64 X64 X64 X64 X64 X64 X64 X64 X64 X64 X64 X64
#define LONG_LINE "NOOP " X1K X1K X1K X1K /* 4101 bytes: over the 2048-byte read cap */
/* clang-format on */

static const struct smtpd_case cases[] = {
    {.name = "full transaction, dot-unstuffed body, id in 250",
     .allow_addr = true,
     .steps = {GREET,
               EHLO,
               MAIL_RCPT,
               {"DATA\r\n", 1},
               {"Subject: hi\r\n\r\n..leading dot\r\nsecret-body-text\r\n.\r\n", 1},
               QUIT},
     .want = {220, 250, 250, 250, 354, 250, 221},
     .text = {{0, "220 " HOST " ESMTP", false},
              {1, "250-PIPELINING\r\n", false},
              {1, "250-SIZE 10485760\r\n", false},
              {1, "250-8BITMIME\r\n250-SMTPUTF8\r\n250-STARTTLS\r\n250 ENHANCEDSTATUSCODES\r\n",
               false},
              {5, "250 2.0.0 Ok: queued as ", false},
              {-1, NULL, false}},
     .want_queued = 1,
     .want_sender = "alice@example.org",
     .want_rcpts = "bob@example.net",
     .want_body = "Subject: hi\r\n\r\n.leading dot\r\nsecret-body-text\r\n",
     .want_proto = "Received: from client.example.test (127.0.0.1)\r\n\tby " HOST
                   " (daneguard) with ESMTP id ",
     .want_log = " smtpd queued id="},
    {.name = "pipelined MAIL RCPT RCPT DATA body QUIT in one write each",
     .allow_addr = true,
     .steps = {GREET,
               EHLO,
               {"MAIL FROM:<> SIZE=100 BODY=8BITMIME\r\nRCPT TO:<bob@example.net>\r\n"
                "RCPT TO:<carol@example.com>\r\nDATA\r\n",
                4},
               {BODY ".\r\nQUIT\r\n", 2}},
     .want = {220, 250, 250, 250, 250, 354, 250, 221},
     .want_queued = 1,
     .want_sender = "",
     .want_rcpts = "bob@example.net,carol@example.com",
     .want_body = BODY},
    {.name = "DATA reader takes over at the byte after DATA CRLF",
     .allow_addr = true,
     .steps = {GREET, EHLO, MAIL_RCPT, {"DATA\r\nQUIT\r\nNOOP\r\n.\r\nNOOP\r\n", 3}, QUIT},
     .want = {220, 250, 250, 250, 354, 250, 250, 221},
     .want_queued = 1,
     .want_sender = "alice@example.org",
     .want_rcpts = "bob@example.net",
     .want_body = "QUIT\r\nNOOP\r\n"},
    {.name = "HELO works, no ESMTP",
     .allow_addr = true,
     .steps = {GREET,
               {"HELO client.example.test\r\n", 1},
               MAIL_RCPT,
               {"DATA\r\n", 1},
               {BODY ".\r\n", 1},
               QUIT},
     .want = {220, 250, 250, 250, 354, 250, 221},
     .text = {{1, "250 " HOST "\r\n", false}, {-1, NULL, false}},
     .want_queued = 1,
     .want_sender = "alice@example.org",
     .want_rcpts = "bob@example.net",
     .want_body = BODY,
     .want_proto = " with SMTP id "},
    {.name = "SMTPUTF8: UTF-8 sender and recipient queued with the flag, UTF8SMTP",
     .allow_addr = true,
     .steps = {GREET,
               EHLO,
               {"MAIL FROM:<j\xc3\xb6rg@b\xc3\xbc\x63her.example> SMTPUTF8\r\n"
                "RCPT TO:<b\xc3\xa9\x61@example.net>\r\nRCPT TO:<bob@example.net>\r\n"
                "RCPT TO:<\"j \xc3\xb6\"@x.example>\r\nDATA\r\n",
                5},
               {BODY ".\r\n", 1},
               QUIT},
     .want = {220, 250, 250, 250, 250, 553, 354, 250, 221},
     .text = {{5, "553 5.1.3 ", false}, {-1, NULL, false}},
     .want_queued = 1,
     .want_sender = "j\xc3\xb6rg@b\xc3\xbc\x63her.example",
     .want_rcpts = "b\xc3\xa9\x61@example.net,bob@example.net",
     .want_body = BODY,
     .want_proto = " with UTF8SMTP id ",
     .want_smtputf8 = true},
    {.name = "SMTPUTF8 with ASCII addresses: the flag is kept",
     .allow_addr = true,
     .steps = {GREET,
               EHLO,
               {"MAIL FROM:<a@b.example> SMTPUTF8\r\nRCPT TO:<c@d.example>\r\nDATA\r\n", 3},
               {BODY ".\r\n", 1},
               QUIT},
     .want = {220, 250, 250, 250, 354, 250, 221},
     .want_queued = 1,
     .want_sender = "a@b.example",
     .want_rcpts = "c@d.example",
     .want_body = BODY,
     .want_proto = " with UTF8SMTP id ",
     .want_smtputf8 = true},
    {.name = "UTF-8 addresses without SMTPUTF8: 553 5.6.7, ASCII ones queued, no flag",
     .allow_addr = true,
     .steps = {GREET,
               EHLO,
               {"MAIL FROM:<j\xc3\xb6rg@example.org>\r\nMAIL FROM:<a@b.example>\r\n"
                "RCPT TO:<b\xc3\xa9\x61@example.net>\r\nRCPT TO:<c@d.example>\r\nDATA\r\n",
                5},
               {BODY ".\r\n", 1},
               QUIT},
     .want = {220, 250, 553, 250, 553, 250, 354, 250, 221},
     .text = {{2, "553 5.6.7 ", false}, {4, "553 5.6.7 ", false}, {-1, NULL, false}},
     .want_queued = 1,
     .want_sender = "a@b.example",
     .want_rcpts = "c@d.example",
     .want_body = BODY,
     .want_proto = " with ESMTP id "},
    {.name = "disallowed client: 554 on MAIL and RCPT, nothing queued",
     .allow_addr = false,
     .steps = {GREET, EHLO, MAIL_RCPT, {"DATA\r\n", 1}, QUIT},
     .want = {220, 250, 554, 554, 503, 221},
     .text = {{2, "554 5.7.1 ", false}, {3, "554 5.7.1 ", false}, {-1, NULL, false}},
     .want_log = "reply=554 status=5.7.1"},
    {.name = "NOOP RSET VRFY BDAT AUTH unknown, bad syntax",
     .allow_addr = true,
     .steps = {GREET,
               EHLO,
               {"NOOP\r\nRSET\r\nVRFY bob\r\nBDAT 10 LAST\r\nAUTH PLAIN\r\nFOO\r\n"
                "MAIL FROM:bob\r\nMAIL FROM:<a@b.example> FOO=1\r\nMAIL FROM:<a@b.example>\r\n"
                "RCPT TO:<b\xc3\xa9@x.example>\r\n",
                10},
               QUIT},
     .want = {220, 250, 250, 250, 252, 502, 502, 500, 553, 555, 250, 553, 221},
     .text = {{4, "252 2.5.0 ", false},
              {5, "502 5.5.1 ", false},
              {7, "500 5.5.2 ", false},
              {-1, NULL, false}}},
    {.name = "commands and body one byte per write",
     .allow_addr = true,
     .steps = {GREET,
               {DRIP "EHLO client.example.test\r\n", 1},
               {DRIP "MAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nDATA\r\n", 3},
               {DRIP "x\r\n..\r\n.x\r\n\r\n.\r\n", 1},
               QUIT},
     .want = {220, 250, 250, 250, 354, 250, 221},
     .want_queued = 1,
     .want_sender = "a@b.example",
     .want_rcpts = "c@d.example",
     .want_body = "x\r\n.\r\nx\r\n\r\n"},
    {.name = "over-long command line: one 500, discarded through its LF, still in step",
     .allow_addr = true,
     .steps = {GREET, EHLO, {LONG_LINE "\r\nNOOP\r\n", 2}, QUIT},
     .want = {220, 250, 500, 250, 221},
     .text = {{2, "500 5.5.2 line too long", false}, {-1, NULL, false}}},
    {.name = "commands out of sequence: 503 5.5.1",
     .allow_addr = true,
     .steps = {GREET,
               {"MAIL FROM:<a@b.example>\r\n", 1},
               EHLO,
               {"RCPT TO:<b@c.example>\r\nDATA\r\n", 2},
               {"MAIL FROM:<a@b.example>\r\nMAIL FROM:<a@b.example>\r\nDATA\r\n", 3},
               QUIT},
     .want = {220, 503, 250, 503, 503, 250, 503, 503, 221},
     .text = {{1, "503 5.5.1 ", false}, {-1, NULL, false}}},
    {.name = "MAIL SIZE over the limit: 552 5.3.4",
     .allow_addr = true,
     .max_message = 1000,
     .steps = {GREET, EHLO, {"MAIL FROM:<a@b.example> SIZE=1001\r\n", 1}, QUIT},
     .want = {220, 250, 552, 221},
     .text = {{1, "250-SIZE 1000\r\n", false}, {2, "552 5.3.4 ", false}, {-1, NULL, false}}},
    {.name = "too many recipients: 452 4.5.3, the others are kept",
     .allow_addr = true,
     .max_rcpts = 2,
     .steps = {GREET,
               EHLO,
               {"MAIL FROM:<a@b.example>\r\nRCPT TO:<r1@c.example>\r\nRCPT TO:<r2@c.example>\r\n"
                "RCPT TO:<r3@c.example>\r\nDATA\r\n",
                5},
               {BODY ".\r\n", 1},
               QUIT},
     .want = {220, 250, 250, 250, 250, 452, 354, 250, 221},
     .text = {{5, "452 4.5.3 ", false}, {-1, NULL, false}},
     .want_queued = 1,
     .want_sender = "a@b.example",
     .want_rcpts = "r1@c.example,r2@c.example",
     .want_body = BODY},
    {.name = "body over the limit: read to the end, 552, nothing queued, still in step",
     .allow_addr = true,
     .max_message = 40,
     .steps = {GREET,
               EHLO,
               MAIL_RCPT,
               {"DATA\r\n", 1},
               {"0123456789012345678901234567890123456789\r\nmore\r\n.\r\nNOOP\r\n", 2},
               QUIT},
     .want = {220, 250, 250, 250, 354, 552, 250, 221},
     .text = {{5, "552 5.3.4 ", false}, {-1, NULL, false}}},
    {.name = "bare LF in DATA (smuggling): 550, nothing queued",
     .allow_addr = true,
     .steps = {GREET,
               EHLO,
               MAIL_RCPT,
               {"DATA\r\n", 1},
               {"Subject: x\r\n\r\nhi\n.\nMAIL FROM:<evil@x.example>\r\n.\r\nNOOP\r\n", 2},
               QUIT},
     .want = {220, 250, 250, 250, 354, 550, 250, 221},
     .text = {{5, "550 5.5.2 ", false}, {-1, NULL, false}},
     .want_log = "smuggling"},
    {.name = "STARTTLS with cleartext injected after it: dropped",
     .allow_addr = true,
     .steps = {GREET, EHLO, {"STARTTLS\r\nMAIL FROM:<evil@x.example>\r\n", CLOSED}},
     .want = {220, 250, CLOSED},
     .want_log = "cleartext bytes after STARTTLS"},
    {.name = "STARTTLS, client certificate allowed: ESMTPSA, queued",
     .allow_addr = false,
     .steps = {GREET,
               EHLO,
               {"STARTTLS\r\n", 1},
               {STEP_TLS_CERT, 0},
               EHLO,
               MAIL_RCPT,
               {"DATA\r\n", 1},
               {BODY ".\r\n", 1},
               QUIT},
     .want = {220, 250, 220, 250, 250, 250, 354, 250, 221},
     .text = {{1, "250-STARTTLS", false},
              {2, "220 2.0.0 ", false},
              {3, "STARTTLS", true},
              {-1, NULL, false}},
     .want_queued = 1,
     .want_sender = "alice@example.org",
     .want_rcpts = "bob@example.net",
     .want_body = BODY,
     .want_proto = " with ESMTPSA id ",
     .want_log = "client-cert=yes allowed=yes",
     .want_cert_seen = true},
    {.name = "STARTTLS without a client certificate: still refused",
     .allow_addr = false,
     .steps = {GREET, EHLO, {"STARTTLS\r\n", 1}, {STEP_TLS, 0}, EHLO, MAIL_RCPT, QUIT},
     .want = {220, 250, 220, 250, 554, 554, 221},
     .want_log = "client-cert=no allowed=no"},
    {.name = "STARTTLS from an allowed address: ESMTPS; EHLO needed again",
     .allow_addr = true,
     .steps = {GREET,
               EHLO,
               {"STARTTLS\r\n", 1},
               {STEP_TLS, 0},
               {"MAIL FROM:<a@b.example>\r\n", 1},
               EHLO,
               MAIL_RCPT,
               {"DATA\r\n", 1},
               {BODY ".\r\n", 1},
               {"STARTTLS\r\n", 1},
               QUIT},
     .want = {220, 250, 220, 503, 250, 250, 250, 354, 250, 503, 221},
     .want_queued = 1,
     .want_sender = "alice@example.org",
     .want_rcpts = "bob@example.net",
     .want_body = BODY,
     .want_proto = " with ESMTPS id "},
    {.name = "no TLS context: STARTTLS not offered, 502",
     .allow_addr = true,
     .no_tls = true,
     .steps = {GREET, EHLO, {"STARTTLS\r\n", 1}, QUIT},
     .want = {220, 250, 502, 221},
     .text = {{1, "STARTTLS", true}, {-1, NULL, false}}},
    {.name = "silent client: 421 after the timeout, closed",
     .allow_addr = true,
     .timeout_ms = 300,
     .steps = {GREET, EHLO, {NULL, 1}, {NULL, CLOSED}},
     .want = {220, 250, 421, CLOSED},
     .text = {{2, "421 4.4.2 ", false}, {-1, NULL, false}},
     .want_log = "smtpd timeout"},
    {.name = "silent in the middle of DATA: 421, nothing queued",
     .allow_addr = true,
     .timeout_ms = 300,
     .steps = {GREET, EHLO, MAIL_RCPT, {"DATA\r\n", 1}, {"Subject: half\r\n", 1}, {NULL, CLOSED}},
     .want = {220, 250, 250, 250, 354, 421, CLOSED},
     .want_log = "smtpd timeout addr=127.0.0.1 state=DATA"},
    {.name = "silent after STARTTLS (no handshake): dropped at the timeout",
     .allow_addr = true,
     .timeout_ms = 300,
     .steps = {GREET, EHLO, {"STARTTLS\r\n", 1}, {NULL, CLOSED}},
     .want = {220, 250, 220, CLOSED},
     .want_log = "smtpd timeout addr=127.0.0.1 state=TLS"},
    {.name = "queue fsync fails: 451 4.3.0, nothing queued",
     .allow_addr = true,
     .fault = F_FSYNC_EIO,
     .steps = {GREET, EHLO, MAIL_RCPT, {"DATA\r\n", 1}, {BODY ".\r\nNOOP\r\n", 2}, QUIT},
     .want = {220, 250, 250, 250, 354, 451, 250, 221},
     .text = {{5, "451 4.3.0 ", false}, {-1, NULL, false}},
     .want_log = "queue-failed"},
    {.name = "queue reports too little free space (statvfs hook): 452 4.3.1",
     .allow_addr = true,
     .fault = F_LOW_SPACE,
     .steps = {GREET, EHLO, MAIL_RCPT, {"DATA\r\n", 1}, {BODY ".\r\n", 1}, QUIT},
     .want = {220, 250, 250, 250, 354, 452, 221},
     .text = {{5, "452 4.3.1 ", false}, {-1, NULL, false}}},
    {.name = "session cap: the second connection gets 421",
     .allow_addr = true,
     .max_sessions = 1,
     .steps = {GREET, {STEP_CONNECT2, 1}, QUIT},
     .want = {220, 421, CLOSED, 221},
     .text = {{1, "421 4.7.0 ", false}, {-1, NULL, false}},
     .want_log = "session limit 1"},
    {.name = "client pipelining without reading replies: dropped",
     .allow_addr = true,
     .max_output = 16384,
     .steps = {GREET, {STEP_FLOOD, 0}},
     .want = {220, CLOSED},
     .want_log = "replies unread"},
    {.name = "stop_accepting: the transaction finishes, then 421; no new sessions",
     .allow_addr = true,
     .steps = {GREET,
               EHLO,
               MAIL_RCPT,
               {STEP_STOP, 0},
               {STEP_CONNECT2, 0},
               {"DATA\r\n", 1},
               {BODY ".\r\n", 2},
               {NULL, CLOSED}},
     .want = {220, 250, 250, 250, CLOSED, 354, 250, 421, CLOSED},
     .text = {{7, "421 4.3.2 ", false}, {-1, NULL, false}},
     .want_queued = 1,
     .want_sender = "alice@example.org",
     .want_rcpts = "bob@example.net",
     .want_body = BODY,
     .want_log = "stop-accepting"},
    {.name = "listen_fd: a socket bound by the supervisor",
     .allow_addr = true,
     .listen = L_FD,
     .steps = {GREET, EHLO, MAIL_RCPT, {"DATA\r\n", 1}, {BODY ".\r\n", 1}, QUIT},
     .want = {220, 250, 250, 250, 354, 250, 221},
     .want_queued = 1,
     .want_sender = "alice@example.org",
     .want_rcpts = "bob@example.net",
     .want_body = BODY,
     .want_proto = "Received: from client.example.test (127.0.0.1)"},
    {.name = "listen on [::1]: IPv6 client address in Received:",
     .allow_addr = true,
     .listen = L_V6,
     .steps = {GREET, EHLO, MAIL_RCPT, {"DATA\r\n", 1}, {BODY ".\r\n", 1}, QUIT},
     .want = {220, 250, 250, 250, 354, 250, 221},
     .want_queued = 1,
     .want_sender = "alice@example.org",
     .want_rcpts = "bob@example.net",
     .want_body = BODY,
     .want_proto = "Received: from client.example.test (::1)"},
};

static const struct smtpd_case tmpfs_case = {
    .name = "tmpfs full: 452 4.3.1, only the earlier message is queued",
    .allow_addr = true,
    .fault = F_TMPFS_FULL,
    .steps = {GREET, EHLO, MAIL_RCPT, {"DATA\r\n", 1}, {BODY ".\r\n", 1}, QUIT},
    .want = {220, 250, 250, 250, 354, 452, 221},
    .text = {{5, "452 4.3.1 ", false}, {-1, NULL, false}},
    .want_queued = 1};

static struct world the_world; /* released by world_teardown even when a check fails */

static int world_teardown(void **state)
{
	(void)state;
	dg_queue_hooks_set(NULL);
	world_cleanup(&the_world);
	memset(&the_world, 0, sizeof(the_world));
	return 0;
}

static void test_case(void **state)
{
	const struct smtpd_case *tc = *state;

	memset(&the_world, 0, sizeof(the_world));
	world_run(&the_world, tc);
	check_case(tc, &the_world);
}

/* A real full file system (tmpfs in a private mount namespace): 452, nothing lost. */
static void test_tmpfs_full(void **state)
{
	(void)state;
	if (!can_mount)
		skip(); /* not root or no mount namespace: the statvfs-hook row covers 452 */
	memset(&the_world, 0, sizeof(the_world));
	world_run(&the_world, &tmpfs_case);
	check_case(&tmpfs_case, &the_world);
}

static void test_listen_errors(void **state)
{
	struct event_base *base = event_base_new();
	struct dg_relay_smtpd_opts o;
	struct dg_relay_smtpd *s = NULL;
	struct dg_queue *q = NULL;
	char dir[] = "/tmp/dg-smtpd-XXXXXX";
	struct dg_err err;
	int fd;

	(void)state;
	assert_non_null(mkdtemp(dir));
	assert_int_equal(dg_queue_open(dir, NULL, &q, NULL), DG_OK);
	memset(&o, 0, sizeof(o));
	o.hostname = HOST;
	assert_int_equal(dg_relay_smtpd_new(base, &o, &s, &err), DG_E_CONFIG); /* no queue */
	o.queue = q;
	o.hostname = "bad host";
	assert_int_equal(dg_relay_smtpd_new(base, &o, &s, &err), DG_E_CONFIG);
	o.hostname = HOST;
	assert_int_equal(dg_relay_smtpd_new(base, &o, &s, &err), DG_OK);
	assert_int_equal(dg_relay_smtpd_listen(s, "127.0.0.1", &err), DG_E_CONFIG);
	assert_int_equal(dg_relay_smtpd_listen(s, "nonsense:25", &err), DG_E_CONFIG);
	assert_int_equal(dg_relay_smtpd_listen(s, "127.0.0.1:0", &err), DG_E_CONFIG);
	assert_int_equal(dg_relay_smtpd_listen(s, "127.0.0.1:10027", &err), DG_OK);
	assert_int_equal(dg_relay_smtpd_listen(s, "127.0.0.1:10027", &err), DG_E_IO); /* in use */
	if (dg_relay_smtpd_listen(s, "[::1]:10026", &err) != DG_OK)
		print_message("IPv6 loopback unavailable: %s\n", err.msg);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_int_equal(dg_relay_smtpd_listen_fd(s, fd, &err), DG_E_IO); /* not listening */
	assert_int_equal(dg_relay_smtpd_sessions(s), 0);
	dg_relay_smtpd_free(s);
	dg_queue_free(q);
	event_base_free(base);
	nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static int group_setup(void **state)
{
	(void)state;
	srv_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	cli_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	if (srv_key == NULL || cli_key == NULL)
		return -1;
	srv_cert = make_cert(srv_key, HOST);
	cli_cert = make_cert(cli_key, "client.example.test");
	srv_ctx = SSL_CTX_new(TLS_server_method());
	if (srv_ctx == NULL || SSL_CTX_use_certificate(srv_ctx, srv_cert) != 1 ||
	    SSL_CTX_use_PrivateKey(srv_ctx, srv_key) != 1)
		return -1;
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	SSL_CTX_free(srv_ctx);
	X509_free(srv_cert);
	X509_free(cli_cert);
	EVP_PKEY_free(srv_key);
	EVP_PKEY_free(cli_key);
	return 0;
}

#define N_CASES (sizeof(cases) / sizeof(cases[0]))

int main(void)
{
	static const struct CMUnitTest fixed[] = {
	    cmocka_unit_test(test_listen_errors),
	    cmocka_unit_test_teardown(test_tmpfs_full, world_teardown),
	};
	struct CMUnitTest tests[N_CASES + sizeof(fixed) / sizeof(fixed[0])];
	size_t n = 0;

	/* a private mount namespace (before any thread) for the full-tmpfs test */
	can_mount = geteuid() == 0 && unshare(CLONE_NEWNS) == 0 &&
	            mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0;
	for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
		tests[n++] = fixed[i];
	for (size_t i = 0; i < N_CASES; i++)
		tests[n++] = (struct CMUnitTest){.name = cases[i].name,
		                                 .test_func = test_case,
		                                 .teardown_func = world_teardown,
		                                 .initial_state = (void *)&cases[i]};
	return _cmocka_run_group_tests("relay_smtpd", tests, n, group_setup, group_teardown);
}
