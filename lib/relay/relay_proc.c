/*
 * relay_proc.c - the relay's processes: supervisor, receiver and scheduler (STYLE 6).
 *
 * Public (relay.h): dg_relay_run, dg_relay_ctl.
 *
 * The supervisor (the process the operator starts) checks the configuration, binds the
 * listening sockets (so a busy port is reported at once, by name), opens the queue once to
 * recover it, then forks:
 *   - the receiver: SMTP on the inherited listening sockets (relay_smtpd.c); it writes the
 *     queue and tells the scheduler about each message over a SOCK_SEQPACKET socketpair
 *     (relay_ipc.c);
 *   - the scheduler: the engine (dns_only), the delivery jobs and the control socket
 *     QUEUE/control that `daneguard relay queue flush|delete` talk to.
 * Each child reports READY; when both have, the supervisor tells systemd (sd_notify READY=1
 * on $NOTIFY_SOCKET, Type=notify). SIGTERM/SIGINT: the children stop (the receiver finishes
 * the transactions in progress, the scheduler cancels its deliveries: their messages stay
 * queued) and the supervisor exits 0. SIGHUP: the configuration file is read again; if it
 * is valid the children re-read it (mode and policy table change live; listen addresses and
 * the queue need a restart). A child that dies is restarted after a second, at most 10 times
 * a minute. Children die with the supervisor (PR_SET_PDEATHSIG).
 */
#include "relay_int.h"
#include "relay_metrics.h"
#include "relay_smtpd.h"
#include "relay_tlsrpt.h"

#include <daneguard/mtasts.h>

#include <errno.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <event2/bufferevent.h>
#include <event2/buffer.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <pwd.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum { ROLE_RECEIVER = 1, ROLE_SCHEDULER = 2 };

static void ctl_read_cb(struct bufferevent *bev, void *arg);
static void ctl_write_cb(struct bufferevent *bev, void *arg);
static void ctl_event_cb(struct bufferevent *bev, short what, void *arg);
#define CTL_LINE_MAX 128
#define STOP_GRACE_S 10

/* ---- shared helpers ------------------------------------------------------------------ */

static int bind_listener(const struct dg_relay_hostport *hp, struct dg_err *err)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	int fd, one = 1;

	memset(&ss, 0, sizeof(ss));
	if (hp->family == AF_INET6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(hp->port);
		inet_pton(AF_INET6, hp->ip, &s6->sin6_addr);
		sl = sizeof(*s6);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

		s4->sin_family = AF_INET;
		s4->sin_port = htons(hp->port);
		inet_pton(AF_INET, hp->ip, &s4->sin_addr);
		sl = sizeof(*s4);
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		dg_err_set_errno(err, DG_E_IO, errno, "listen %s:%u: socket", hp->ip, hp->port);
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (hp->family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, sl) != 0 || listen(fd, 128) != 0) {
		dg_err_set_errno(err, DG_E_IO, errno, "listen %s%s%s:%u", hp->family == AF_INET6 ? "[" : "",
			   hp->ip, hp->family == AF_INET6 ? "]" : "", hp->port);
		close(fd);
		return -1;
	}
	return fd;
}

static void ipc_send(int fd, const struct relay_ipc_msg *m)
{
	uint8_t buf[RELAY_IPC_MAX];
	size_t n = relay_ipc_pack(m, buf, sizeof(buf));

	if (n > 0 && fd >= 0)
		(void)send(fd, buf, n, MSG_DONTWAIT | MSG_NOSIGNAL); /* a lost QUEUED is found
									 by the next rescan */
}

static void ctl_path(const char *queue_dir, char *out, size_t size)
{
	snprintf(out, size, "%s/control", queue_dir);
}

/* ---- child context --------------------------------------------------------------------- */

struct child {
	int role;
	const char *conf_path;           /* re-read on SIGHUP, or NULL */
	struct dg_relay_conf *conf;
	struct event_base *base;
	struct dg_log log;
	int sup_fd;                      /* to the supervisor */
	int peer_fd;                     /* receiver <-> scheduler */
	int *listen_fds;
	size_t n_listen;
	uid_t run_uid;                   /* drop to these (conf "user"), or 0: stay */
	gid_t run_gid;
	/* receiver */
	struct dg_queue *q;
	struct dg_relay_smtpd *smtpd;
	SSL_CTX *server_tls;
	struct event *stop_timer;
	/* scheduler */
	struct relay_ctx rctx;
	struct dg_relay_policy_map *policy;
	struct relay_sched *sched;
	struct relay_metrics *metrics;
	struct relay_alarm *alarm;
	struct relay_tlsrpt *tlsrpt;
	struct evconnlistener *ctl;
	FILE *journal;
	bool stopping;
};

static void child_log_cb(void *arg, enum dg_log_level level, const char *line)
{
	struct child *c = arg;

	fprintf(stderr, "daneguard relay[%s]: %s: %s\n",
		c->role == ROLE_RECEIVER ? "receiver" : "scheduler", dg_log_level_str(level), line);
}

/* ---- receiver ------------------------------------------------------------------------- */

static bool recv_allow(void *arg, const struct sockaddr *peer, X509 *cert)
{
	struct child *c = arg;
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;

	if (dg_cidr_match(c->conf->allow, c->conf->n_allow, peer))
		return true;
	if (cert == NULL || c->conf->n_client_cert == 0)
		return false;
	if (X509_digest(cert, EVP_sha256(), md, &mdlen) != 1 || mdlen != 32)
		return false;
	return dg_relay_conf_client_cert_allowed(c->conf, md);
}

static void recv_queued(void *arg, const char *id, const struct dg_queue_msg *env)
{
	struct child *c = arg;
	struct relay_ipc_msg m = {.type = RELAY_IPC_QUEUED};

	(void)env;
	snprintf(m.id, sizeof(m.id), "%s", id);
	ipc_send(c->peer_fd, &m);
}

static void recv_stop_check(evutil_socket_t fd, short what, void *arg)
{
	struct child *c = arg;
	static unsigned ticks;

	(void)fd;
	(void)what;
	if (dg_relay_smtpd_sessions(c->smtpd) == 0 || ++ticks > STOP_GRACE_S * 10)
		event_base_loopbreak(c->base);
}

static void child_signal_cb(evutil_socket_t sig, short what, void *arg);

static SSL_CTX *server_tls_new(const struct dg_relay_conf *conf, struct dg_err *err)
{
	SSL_CTX *ctx;

	if (conf->tls_cert == NULL)
		return NULL;
	ctx = SSL_CTX_new(TLS_server_method());
	if (ctx == NULL || SSL_CTX_use_certificate_chain_file(ctx, conf->tls_cert) != 1 ||
	    SSL_CTX_use_PrivateKey_file(ctx, conf->tls_key, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1) {
		dg_err_set(err, DG_E_TLS, "tls-cert %s / tls-key %s: cannot be loaded as a "
			   "matching certificate chain and key", conf->tls_cert, conf->tls_key);
		SSL_CTX_free(ctx);
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	return ctx;
}

/* Attach to the queue the supervisor recovered (the other child may be writing it). */
static bool child_open_queue(struct child *c)
{
	struct dg_queue_opts qo = {0};
	struct dg_err err = {0};

	qo.max_message_bytes = c->conf->max_message_bytes + 4096;
	qo.max_rcpts = c->conf->max_recipients;
	qo.no_recover = true;
	if (dg_queue_open(c->conf->queue_dir, &qo, &c->q, &err) != DG_OK) {
		DG_LOG(&c->log, DG_LOG_ERROR, "queue %s: %s", c->conf->queue_dir, err.msg);
		return false;
	}
	return true;
}

static int receiver_main(struct child *c)
{
	struct dg_relay_smtpd_opts o;
	struct dg_err err = {0};
	struct relay_ipc_msg ready = {.type = RELAY_IPC_READY, .role = ROLE_RECEIVER};

	if (!child_open_queue(c))
		return 1;
	if (c->conf->tls_cert != NULL && c->server_tls == NULL &&
	    (c->server_tls = server_tls_new(c->conf, &err)) == NULL) {
		DG_LOG(&c->log, DG_LOG_ERROR, "%s", err.msg);
		return 1;
	}
	memset(&o, 0, sizeof(o));
	o.hostname = c->conf->helo;
	o.queue = c->q;
	o.max_message_bytes = c->conf->max_message_bytes;
	o.max_rcpts = c->conf->max_recipients;
	o.timeout_ms = 300000;
	o.tls = c->server_tls;
	o.allow = recv_allow;
	o.allow_arg = c;
	o.queued = recv_queued;
	o.queued_arg = c;
	o.log = &c->log;
	if (dg_relay_smtpd_new(c->base, &o, &c->smtpd, &err) != DG_OK) {
		DG_LOG(&c->log, DG_LOG_ERROR, "receiver: %s", err.msg);
		return 1;
	}
	for (size_t i = 0; i < c->n_listen; i++) {
		int fd = dup(c->listen_fds[i]); /* the supervisor keeps its copy for restarts */

		if (fd < 0 || dg_relay_smtpd_listen_fd(c->smtpd, fd, &err) != DG_OK) {
			DG_LOG(&c->log, DG_LOG_ERROR, "receiver: %s", err.msg);
			return 1;
		}
	}
	ipc_send(c->sup_fd, &ready);
	event_base_dispatch(c->base);
	dg_relay_smtpd_free(c->smtpd);
	if (c->stop_timer != NULL)
		event_free(c->stop_timer);
	SSL_CTX_free(c->server_tls);
	dg_queue_free(c->q);
	return 0;
}

/* ---- scheduler ------------------------------------------------------------------------ */

static void sched_would_defer(void *arg, const char *domain, const char *id, const char *reason)
{
	struct child *c = arg;
	char esc[2 * RELAY_REASON_MAX];
	size_t o = 0;

	DG_LOG(&c->log, DG_LOG_WARN, "%s log-only domain=%s would defer: %s", id, domain, reason);
	if (c->journal == NULL)
		return;
	for (const char *p = reason; *p != '\0' && o + 3 < sizeof(esc); p++) {
		if (*p == '"' || *p == '\\')
			esc[o++] = '\\';
		esc[o++] = (unsigned char)*p < 0x20 ? ' ' : *p;
	}
	esc[o] = '\0';
	fprintf(c->journal, "{\"time\":%lld,\"domain\":\"%s\",\"id\":\"%s\",\"reason\":\"%s\"}\n",
		(long long)dg_clock_wall(), domain, id, esc);
	fflush(c->journal);
}

static void sched_peer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct child *c = arg;
	uint8_t buf[RELAY_IPC_MAX + 1];
	struct relay_ipc_msg m;
	struct dg_err err = {0};
	size_t used;

	(void)what;
	for (int i = 0; i < 256; i++) {
		ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);

		if (n <= 0)
			return;
		if (relay_ipc_unpack(buf, (size_t)n, &m, &used, &err) != DG_OK ||
		    used != (size_t)n) {
			DG_LOG(&c->log, DG_LOG_WARN, "IPC from the receiver dropped: %s",
			       err.msg[0] ? err.msg : "trailing bytes");
			continue;
		}
		if (m.type == RELAY_IPC_QUEUED) {
			relay_sched_notify(c->sched, m.id);
			relay_metrics_accepted(c->metrics, 0);
		}
	}
}

/* Control socket: one command line, one reply line. */
static void ctl_read_cb(struct bufferevent *bev, void *arg)
{
	struct child *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	char *line;
	size_t len;
	struct dg_err err = {0};

	if (evbuffer_get_length(in) > CTL_LINE_MAX) {
		bufferevent_free(bev);
		return;
	}
	line = evbuffer_readln(in, &len, EVBUFFER_EOL_LF);
	if (line == NULL)
		return;
	DG_LOG(&c->log, DG_LOG_INFO, "control command \"%s\"", line);
	if (strcmp(line, "flush") == 0) {
		relay_sched_flush(c->sched);
		bufferevent_write(bev, "ok flushed\n", 11);
	} else if (strncmp(line, "delete ", 7) == 0) {
		if (relay_sched_delete(c->sched, line + 7, &err) == DG_OK)
			evbuffer_add_printf(bufferevent_get_output(bev), "ok deleted %s\n", line + 7);
		else
			evbuffer_add_printf(bufferevent_get_output(bev), "error %s\n", err.msg);
	} else if (strncmp(line, "tlsrpt-send ", 12) == 0) {
		if (relay_tlsrpt_run_now(c->tlsrpt, line + 12) == DG_OK)
			evbuffer_add_printf(bufferevent_get_output(bev), "ok tlsrpt %s\n", line + 12);
		else
			evbuffer_add_printf(bufferevent_get_output(bev), "error tlsrpt %s failed\n",
					    line + 12);
	} else if (strcmp(line, "status") == 0) {
		struct relay_sched_stats st;

		relay_sched_stats(c->sched, &st);
		evbuffer_add_printf(bufferevent_get_output(bev),
				    "ok messages=%zu active=%u delivered=%llu deferred=%llu "
				    "bounced=%llu oldest=%llu\n",
				    st.messages, st.active_jobs, (unsigned long long)st.delivered,
				    (unsigned long long)st.deferred, (unsigned long long)st.bounced,
				    (unsigned long long)st.oldest_arrival_s);
	} else {
		bufferevent_write(bev, "error unknown command\n", 22);
	}
	free(line);
	/* close once the reply is out (a write callback set earlier would fire at once) */
	bufferevent_setcb(bev, NULL, ctl_write_cb, ctl_event_cb, c);
}

static void ctl_write_cb(struct bufferevent *bev, void *arg)
{
	(void)arg;
	if (evbuffer_get_length(bufferevent_get_output(bev)) == 0)
		bufferevent_free(bev);
}

static void ctl_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct child *c = arg;

	DG_LOG(&c->log, DG_LOG_DEBUG, "control connection closed (events 0x%x)", (unsigned)what);
	bufferevent_free(bev);
}

static void ctl_accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
			  int socklen, void *arg)
{
	struct child *c = arg;
	struct bufferevent *bev = bufferevent_socket_new(c->base, fd, BEV_OPT_CLOSE_ON_FREE);
	struct timeval tv = {5, 0};

	(void)l;
	(void)sa;
	(void)socklen;
	if (bev == NULL) {
		close(fd);
		return;
	}
	bufferevent_setcb(bev, ctl_read_cb, NULL, ctl_event_cb, c);
	bufferevent_set_timeouts(bev, &tv, &tv);
	bufferevent_enable(bev, EV_READ | EV_WRITE);
}

static int ctl_listen(struct child *c, struct dg_err *err)
{
	struct sockaddr_un sun;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	ctl_path(c->conf->queue_dir, sun.sun_path, sizeof(sun.sun_path));
	if (strlen(sun.sun_path) + 1 >= sizeof(sun.sun_path)) {
		dg_err_set(err, DG_E_CONFIG, "queue %s: path too long for its control socket",
			   c->conf->queue_dir);
		return -1;
	}
	unlink(sun.sun_path);
	c->ctl = evconnlistener_new_bind(c->base, ctl_accept_cb, c,
					 LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 16,
					 (struct sockaddr *)&sun, sizeof(sun));
	if (c->ctl == NULL) {
		dg_err_set_errno(err, DG_E_IO, errno, "control socket %s", sun.sun_path);
		return -1;
	}
	chmod(sun.sun_path, 0600);
	return 0;
}

static enum dg_status sched_reload_policy(struct child *c, struct dg_err *err)
{
	struct dg_relay_policy_map *m = NULL;
	size_t warn = 0;

	if (c->conf->policy_map != NULL &&
	    dg_relay_policy_map_load(c->conf->policy_map, &m, &warn, err) != DG_OK)
		return err != NULL ? err->code : DG_E_CONFIG;
	dg_relay_policy_map_free(c->policy);
	c->policy = m;
	c->rctx.policy = m;
	if (m != NULL)
		DG_LOG(&c->log, DG_LOG_INFO, "policy table %s: %zu entries, %zu warnings",
		       c->conf->policy_map, dg_relay_policy_map_count(m), warn);
	return DG_OK;
}

static struct relay_sched *sched_of(void *arg)
{
	return ((struct child *)arg)->sched;
}

static void stats_of(void *arg, struct relay_sched_stats *out)
{
	relay_sched_stats(((struct child *)arg)->sched, out);
}

static void tlsrpt_queued(void *arg, const char *id)
{
	relay_sched_notify(((struct child *)arg)->sched, id);
}

/* Operations around the scheduler: metrics endpoint and observer, queue alarms, TLS-RPT. */
static enum dg_status sched_ops_start(struct child *c, struct dg_err *err)
{
	enum dg_status st;

	st = relay_tlsrpt_new(c->base, c->conf, c->q, tlsrpt_queued, c, &c->log, &c->tlsrpt, err);
	if (st != DG_OK)
		return st;
	c->rctx.obs[c->rctx.n_obs++] = (struct relay_observer){relay_tlsrpt_attempt, c->tlsrpt};

	st = relay_metrics_new(c->base, c->conf, sched_of, c, &c->log, &c->metrics, err);
	if (st != DG_OK)
		return st;
	c->rctx.obs[c->rctx.n_obs++] = (struct relay_observer){relay_metrics_attempt, c->metrics};
	st = relay_alarm_new(c->base, c->conf, stats_of, c, &c->log, &c->alarm, err);
	if (st != DG_OK)
		return st;
	relay_metrics_set_alarm(c->metrics, c->alarm);
	return DG_OK;
}

static int scheduler_main(struct child *c)
{
	struct dg_engine_opts eo;
	struct dg_err err = {0};
	const char *fwd[DG_RELAY_RESOLVER_MAX];
	char fwdbuf[DG_RELAY_RESOLVER_MAX][DG_RELAY_IP_SIZE + 8];
	struct event *peer_ev;
	struct dg_sts_cache *cache = NULL;
	char path[4096];
	struct relay_ipc_msg ready = {.type = RELAY_IPC_READY, .role = ROLE_SCHEDULER};
	int rc = 1;

	if (!child_open_queue(c))
		return 1;
	dg_engine_opts_init(&eo);
	for (size_t i = 0; i < c->conf->n_resolver; i++) {
		snprintf(fwdbuf[i], sizeof(fwdbuf[i]), "%s@%u", c->conf->resolver[i].ip,
			 (unsigned)c->conf->resolver[i].port);
		fwd[i] = fwdbuf[i];
	}
	eo.dns.forwarders = fwd;
	eo.dns.n_forwarders = c->conf->n_resolver;
	eo.dns.ta_file = c->conf->trust_anchor;
	eo.dns_only = true;
	eo.mta_sts = true;
	eo.ca_file = c->conf->ca_file;
	eo.port = c->conf->delivery_port;
	eo.timeout_ms = c->conf->timeout_s * 1000u;
	eo.helo = c->conf->helo;
	if (c->conf->sts_cache != NULL &&
	    dg_sts_cache_open(c->conf->sts_cache, &cache, &err) != DG_OK) {
		DG_LOG(&c->log, DG_LOG_ERROR, "sts-cache %s: %s", c->conf->sts_cache, err.msg);
		goto out;
	}
	eo.sts_cache = cache;
	if (dg_engine_new(c->base, &eo, NULL, &c->rctx.engine, &err) != DG_OK ||
	    dg_dane_ctx_new(NULL, &c->rctx.dane, &err) != DG_OK ||
	    dg_sts_ca_store_new(c->conf->ca_file, &c->rctx.sts_store, &err) != DG_OK ||
	    (c->rctx.ssl_ctx = dg_smtp_tls_ctx_new(&err)) == NULL ||
	    sched_reload_policy(c, &err) != DG_OK) {
		DG_LOG(&c->log, DG_LOG_ERROR, "scheduler: %s", err.msg);
		goto out;
	}
	c->rctx.base = c->base;
	c->rctx.conf = c->conf;
	c->rctx.log = &c->log;
	c->rctx.would_defer = sched_would_defer;
	c->rctx.would_defer_arg = c;
	snprintf(path, sizeof(path), "%s/log-only.jsonl", c->conf->queue_dir);
	c->journal = fopen(path, "a");
	if (ctl_listen(c, &err) != 0 || relay_sched_new(&c->rctx, c->q, &c->sched, &err) != DG_OK ||
	    sched_ops_start(c, &err) != DG_OK) {
		DG_LOG(&c->log, DG_LOG_ERROR, "scheduler: %s", err.msg);
		goto out;
	}
	peer_ev = event_new(c->base, c->peer_fd, EV_READ | EV_PERSIST, sched_peer_cb, c);
	event_add(peer_ev, NULL);
	ipc_send(c->sup_fd, &ready);
	event_base_dispatch(c->base);
	event_free(peer_ev);
	rc = 0;
out:
	relay_tlsrpt_free(c->tlsrpt);
	relay_metrics_set_alarm(c->metrics, NULL);
	relay_alarm_free(c->alarm);
	relay_metrics_free(c->metrics);
	relay_sched_free(c->sched);
	if (c->ctl != NULL) {
		evconnlistener_free(c->ctl);
		ctl_path(c->conf->queue_dir, path, sizeof(path));
		unlink(path);
	}
	dg_engine_free(c->rctx.engine);
	dg_sts_cache_free(cache);
	dg_dane_ctx_free(c->rctx.dane);
	X509_STORE_free(c->rctx.sts_store);
	SSL_CTX_free(c->rctx.ssl_ctx);
	dg_relay_policy_map_free(c->policy);
	if (c->journal != NULL)
		fclose(c->journal);
	dg_queue_free(c->q);
	return rc;
}

/* ---- signals in the children ------------------------------------------------------------ */

static void child_reload(struct child *c)
{
	struct dg_relay_conf nc;
	struct dg_err err = {0};

	if (c->conf_path == NULL)
		return;
	dg_relay_conf_init(&nc);
	if (dg_relay_conf_load(&nc, c->conf_path, &err) != DG_OK ||
	    dg_relay_conf_finish(&nc, &err) != DG_OK) {
		DG_LOG(&c->log, DG_LOG_ERROR, "reload of %s refused: %s", c->conf_path, err.msg);
		dg_relay_conf_cleanup(&nc);
		return;
	}
	/* live: mode, policy table, allowed clients, alarm thresholds; the rest needs a restart */
	c->conf->mode = nc.mode;
	memcpy(c->conf->allow, nc.allow, sizeof(nc.allow));
	c->conf->n_allow = nc.n_allow;
	c->conf->alarm_queue_size = nc.alarm_queue_size;
	c->conf->alarm_queue_age_s = nc.alarm_queue_age_s;
	{
		char *old_cmd = c->conf->alarm_command;

		c->conf->alarm_command = nc.alarm_command;
		nc.alarm_command = old_cmd; /* freed with nc */
	}
	if (c->role == ROLE_SCHEDULER) {
		char *old = c->conf->policy_map;

		c->conf->policy_map = nc.policy_map;
		nc.policy_map = old;
		if (sched_reload_policy(c, &err) != DG_OK)
			DG_LOG(&c->log, DG_LOG_ERROR, "reload: policy table: %s", err.msg);
	}
	DG_LOG(&c->log, DG_LOG_INFO, "configuration %s reloaded (mode %s)", c->conf_path,
	       dg_relay_mode_str(c->conf->mode));
	dg_relay_conf_cleanup(&nc);
}

static void child_signal_cb(evutil_socket_t sig, short what, void *arg)
{
	struct child *c = arg;
	struct timeval tv = {0, 100000};

	(void)what;
	if (sig == SIGHUP) {
		child_reload(c);
		return;
	}
	if (c->stopping)
		return;
	c->stopping = true;
	DG_LOG(&c->log, DG_LOG_INFO, "stopping");
	if (c->role == ROLE_RECEIVER) {
		dg_relay_smtpd_stop_accepting(c->smtpd);
		c->stop_timer = event_new(c->base, -1, EV_PERSIST, recv_stop_check, c);
		event_add(c->stop_timer, &tv);
	} else {
		relay_sched_stop(c->sched);
		event_base_loopbreak(c->base);
	}
}

/* STYLE 6: the receiver and the scheduler run unprivileged (conf "user"). */
static int child_drop(struct child *c)
{
	if (setgroups(1, &c->run_gid) != 0 || setgid(c->run_gid) != 0 ||
	    setuid(c->run_uid) != 0 || getuid() != c->run_uid || geteuid() != c->run_uid) {
		DG_LOG_ERRNO(&c->log, DG_LOG_ERROR, errno, "cannot become uid %ld gid %ld",
			     (long)c->run_uid, (long)c->run_gid);
		return -1;
	}
	if (setuid(0) == 0) { /* must not be able to come back */
		DG_LOG(&c->log, DG_LOG_ERROR, "privileges could be regained after dropping them");
		return -1;
	}
	return 0;
}

static int child_run(struct child *c)
{
	struct event *sigs[3];
	int rc, signos[3] = {SIGTERM, SIGINT, SIGHUP};
	pid_t parent = getppid();
	struct dg_err err = {0};

	dg_log_init(&c->log);
	c->log.level = c->conf->log_level;
	c->log.cb = child_log_cb;
	c->log.arg = c;
	*dg_log_global() = c->log;
	/* what needs the starting user: the receiver's TLS key (often readable by root only) */
	if (c->role == ROLE_RECEIVER && c->conf->tls_cert != NULL &&
	    (c->server_tls = server_tls_new(c->conf, &err)) == NULL) {
		DG_LOG(&c->log, DG_LOG_ERROR, "%s", err.msg);
		return 1;
	}
	if (c->run_uid != 0 && child_drop(c) != 0)
		return 1;
	/* after the credential change, which clears it; the parent may be gone already */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		return 1;
	signal(SIGPIPE, SIG_IGN);
	c->base = event_base_new();
	if (c->base == NULL)
		return 1;
	for (int i = 0; i < 3; i++) {
		sigs[i] = evsignal_new(c->base, signos[i], child_signal_cb, c);
		event_add(sigs[i], NULL);
	}
	rc = c->role == ROLE_RECEIVER ? receiver_main(c) : scheduler_main(c);
	for (int i = 0; i < 3; i++)
		event_free(sigs[i]);
	event_base_free(c->base);
	return rc;
}

/* ---- supervisor --------------------------------------------------------------------------- */

struct sup {
	const char *conf_path;
	struct dg_relay_conf *conf;
	int listen_fds[DG_RELAY_LISTEN_MAX];
	size_t n_listen;
	int sup_fd[2];        /* [0] supervisor end, [1] children's end */
	int peer_fd[2];       /* [0] receiver end, [1] scheduler end */
	pid_t pid[3];         /* by role */
	unsigned restarts;
	time_t restart_window;
	bool ready[3];
	bool notified;
	sigset_t old_mask;    /* signal mask to give the children */
	uid_t run_uid;        /* conf "user", 0 when not set */
	gid_t run_gid;
	volatile sig_atomic_t stop, hup, chld;
};

static struct sup *g_sup;

static void sup_sig(int sig)
{
	if (g_sup == NULL)
		return;
	if (sig == SIGHUP)
		g_sup->hup = 1;
	else if (sig == SIGCHLD)
		g_sup->chld = 1;
	else
		g_sup->stop = 1;
}

static pid_t sup_fork(struct sup *s, int role)
{
	pid_t pid = fork();

	if (pid != 0)
		return pid;
	/* child */
	{
		struct child c;

		memset(&c, 0, sizeof(c));
		signal(SIGTERM, SIG_DFL);
		signal(SIGINT, SIG_DFL);
		signal(SIGHUP, SIG_DFL);
		signal(SIGCHLD, SIG_DFL);
		sigprocmask(SIG_SETMASK, &s->old_mask, NULL); /* the supervisor blocks them */
		c.role = role;
		c.conf_path = s->conf_path;
		c.conf = s->conf;
		c.sup_fd = s->sup_fd[1];
		c.peer_fd = role == ROLE_RECEIVER ? s->peer_fd[0] : s->peer_fd[1];
		c.listen_fds = s->listen_fds;
		c.run_uid = s->run_uid;
		c.run_gid = s->run_gid;
		c.n_listen = role == ROLE_RECEIVER ? s->n_listen : 0;
		if (role == ROLE_SCHEDULER)
			for (size_t i = 0; i < s->n_listen; i++)
				close(s->listen_fds[i]);
		_exit(child_run(&c));
	}
}

static void sd_notify_ready(void)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sun;
	int fd;
	socklen_t len;

	if (path == NULL || (path[0] != '/' && path[0] != '@') || strlen(path) >= sizeof(sun.sun_path))
		return;
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, path, strlen(path));
	if (sun.sun_path[0] == '@')
		sun.sun_path[0] = '\0';
	len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(path));
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return;
	(void)sendto(fd, "READY=1", 7, MSG_NOSIGNAL, (struct sockaddr *)&sun, len);
	close(fd);
}

static void sup_read_ready(struct sup *s)
{
	uint8_t buf[RELAY_IPC_MAX + 1];
	struct relay_ipc_msg m;
	size_t used;

	for (int i = 0; i < 16; i++) {
		ssize_t n = recv(s->sup_fd[0], buf, sizeof(buf), MSG_DONTWAIT);

		if (n <= 0)
			break;
		if (relay_ipc_unpack(buf, (size_t)n, &m, &used, NULL) == DG_OK &&
		    m.type == RELAY_IPC_READY && (m.role == ROLE_RECEIVER || m.role == ROLE_SCHEDULER))
			s->ready[m.role] = true;
	}
	if (!s->notified && s->ready[ROLE_RECEIVER] && s->ready[ROLE_SCHEDULER]) {
		s->notified = true;
		fprintf(stderr, "daneguard relay: ready (pid %ld)\n", (long)getpid());
		sd_notify_ready();
	}
}

static void sup_reap(struct sup *s)
{
	int status;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		for (int role = ROLE_RECEIVER; role <= ROLE_SCHEDULER; role++) {
			time_t now = time(NULL);

			if (pid != s->pid[role])
				continue;
			s->pid[role] = 0;
			s->ready[role] = false;
			if (s->stop)
				continue;
			fprintf(stderr, "daneguard relay: %s (pid %ld) ended unexpectedly (%s %d); "
				"restarting\n", role == ROLE_RECEIVER ? "receiver" : "scheduler",
				(long)pid, WIFSIGNALED(status) ? "signal" : "exit status",
				WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
			if (now - s->restart_window > 60) {
				s->restart_window = now;
				s->restarts = 0;
			}
			if (++s->restarts > 10) {
				fprintf(stderr, "daneguard relay: more than 10 restarts in a minute; "
					"stopping\n");
				s->stop = 1;
				continue;
			}
			sleep(1);
			s->pid[role] = sup_fork(s, role);
		}
	}
}

static void sup_stop_children(struct sup *s)
{
	time_t until = time(NULL) + STOP_GRACE_S + 2;

	for (int role = ROLE_RECEIVER; role <= ROLE_SCHEDULER; role++)
		if (s->pid[role] > 0)
			kill(s->pid[role], SIGTERM);
	while ((s->pid[ROLE_RECEIVER] > 0 || s->pid[ROLE_SCHEDULER] > 0) && time(NULL) < until) {
		int status;
		pid_t pid = waitpid(-1, &status, WNOHANG);

		if (pid < 0 && errno != EINTR)
			break;
		if (pid == 0) {
			usleep(50000);
			continue;
		}
		for (int role = ROLE_RECEIVER; role <= ROLE_SCHEDULER; role++)
			if (pid == s->pid[role])
				s->pid[role] = 0;
	}
	for (int role = ROLE_RECEIVER; role <= ROLE_SCHEDULER; role++)
		if (s->pid[role] > 0) {
			kill(s->pid[role], SIGKILL);
			waitpid(s->pid[role], NULL, 0);
		}
}

static void sup_reload(struct sup *s)
{
	struct dg_relay_conf nc;
	struct dg_err err = {0};

	if (s->conf_path == NULL) {
		fprintf(stderr, "daneguard relay: SIGHUP: no --config file to re-read\n");
		return;
	}
	dg_relay_conf_init(&nc);
	if (dg_relay_conf_load(&nc, s->conf_path, &err) != DG_OK ||
	    dg_relay_conf_finish(&nc, &err) != DG_OK || dg_relay_conf_check(&nc, &err) != DG_OK) {
		fprintf(stderr, "daneguard relay: SIGHUP: %s not reloaded: %s\n", s->conf_path,
			err.msg);
	} else {
		for (int role = ROLE_RECEIVER; role <= ROLE_SCHEDULER; role++)
			if (s->pid[role] > 0)
				kill(s->pid[role], SIGHUP);
	}
	dg_relay_conf_cleanup(&nc);
}

static uid_t g_chown_uid;
static gid_t g_chown_gid;

static int chown_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return lchown(path, g_chown_uid, g_chown_gid) == 0 ? 0 : -1;
}

/* Resolve conf "user" and give it the queue (and what lives in it). */
static enum dg_status sup_user(struct sup *s, struct dg_err *err)
{
	const struct passwd *pw;

	if (s->conf->user == NULL)
		return DG_OK;
	if ((pw = getpwnam(s->conf->user)) == NULL)
		return dg_err_set(err, DG_E_CONFIG, "user %s: no such user", s->conf->user);
	if (pw->pw_uid == 0)
		return dg_err_set(err, DG_E_CONFIG, "user %s: is root, which drops nothing",
				  s->conf->user);
	if (geteuid() != 0)
		return dg_err_set(err, DG_E_CONFIG, "user %s: the relay must be started as root to "
				  "switch users", s->conf->user);
	s->run_uid = pw->pw_uid;
	s->run_gid = pw->pw_gid;
	g_chown_uid = pw->pw_uid;
	g_chown_gid = pw->pw_gid;
	if (nftw(s->conf->queue_dir, chown_one, 16, FTW_PHYS) != 0)
		return dg_err_set_errno(err, DG_E_IO, errno, "queue %s: cannot give it to user %s",
					s->conf->queue_dir, s->conf->user);
	if (s->conf->sts_cache != NULL) {
		mkdir(s->conf->sts_cache, 0700);
		nftw(s->conf->sts_cache, chown_one, 16, FTW_PHYS);
	}
	if (s->conf->tlsrpt_dir != NULL) {
		mkdir(s->conf->tlsrpt_dir, 0700);
		nftw(s->conf->tlsrpt_dir, chown_one, 16, FTW_PHYS);
	}
	return DG_OK;
}

static int write_pid_file(const char *path, struct dg_err *err)
{
	FILE *f = fopen(path, "w");

	if (f == NULL) {
		dg_err_set_errno(err, DG_E_IO, errno, "pid-file %s", path);
		return -1;
	}
	fprintf(f, "%ld\n", (long)getpid());
	fclose(f);
	return 0;
}

enum dg_status dg_relay_run(const char *conf_path, struct dg_relay_conf *conf, struct dg_err *err)
{
	struct sup s;
	struct dg_queue *q = NULL;
	struct dg_queue_opts qo = {0};
	struct sigaction sa;
	sigset_t mask, old;

	memset(&s, 0, sizeof(s));
	s.conf_path = conf_path;
	s.conf = conf;
	s.sup_fd[0] = s.sup_fd[1] = s.peer_fd[0] = s.peer_fd[1] = -1;
	/* recover the queue once, here, before anything is accepted (STYLE 6) */
	qo.max_message_bytes = conf->max_message_bytes + 4096;
	qo.max_rcpts = conf->max_recipients;
	if (dg_queue_open(conf->queue_dir, &qo, &q, err) != DG_OK)
		return err != NULL ? err->code : DG_E_IO;
	if (dg_queue_corrupt_count(q) > 0)
		fprintf(stderr, "daneguard relay: queue %s: %zu unreadable file(s) moved to "
			"corrupt/\n", conf->queue_dir, dg_queue_corrupt_count(q));
	dg_queue_free(q);
	if (sup_user(&s, err) != DG_OK)
		return err != NULL ? err->code : DG_E_CONFIG;
	for (size_t i = 0; i < conf->n_listen; i++) {
		int fd = bind_listener(&conf->listen[i], err);

		if (fd < 0) {
			for (size_t j = 0; j < s.n_listen; j++)
				close(s.listen_fds[j]);
			return DG_E_IO;
		}
		s.listen_fds[s.n_listen++] = fd;
	}
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, s.sup_fd) != 0 ||
	    socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, s.peer_fd) != 0) {
		dg_err_set_errno(err, DG_E_IO, errno, "socketpair");
		return DG_E_IO;
	}
	if (conf->pid_file != NULL && write_pid_file(conf->pid_file, err) != 0)
		return DG_E_IO;
	g_sup = &s;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = sup_sig;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGCHLD, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGCHLD);
	sigprocmask(SIG_BLOCK, &mask, &old);
	s.old_mask = old;
	s.pid[ROLE_SCHEDULER] = sup_fork(&s, ROLE_SCHEDULER);
	s.pid[ROLE_RECEIVER] = sup_fork(&s, ROLE_RECEIVER);
	while (!s.stop) {
		struct timespec ts = {0, 200000000};
		fd_set rf;
		int fd = s.sup_fd[0];

		FD_ZERO(&rf);
		FD_SET(fd, &rf);
		if (pselect(fd + 1, &rf, NULL, NULL, &ts, &old) > 0)
			sup_read_ready(&s);
		if (s.chld) {
			s.chld = 0;
			sup_reap(&s);
		}
		if (s.hup) {
			s.hup = 0;
			sup_reload(&s);
		}
	}
	fprintf(stderr, "daneguard relay: stopping\n");
	sup_stop_children(&s);
	sigprocmask(SIG_SETMASK, &old, NULL);
	g_sup = NULL;
	for (size_t i = 0; i < s.n_listen; i++)
		close(s.listen_fds[i]);
	close(s.sup_fd[0]);
	close(s.sup_fd[1]);
	close(s.peer_fd[0]);
	close(s.peer_fd[1]);
	if (conf->pid_file != NULL)
		unlink(conf->pid_file);
	fprintf(stderr, "daneguard relay: stopped\n");
	return DG_OK;
}

enum dg_status dg_relay_ctl(const char *queue_dir, const char *cmd, char *reply, size_t size,
			    struct dg_err *err)
{
	struct sockaddr_un sun;
	struct timeval tv = {10, 0};
	size_t off = 0;
	int fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	ctl_path(queue_dir, sun.sun_path, sizeof(sun.sun_path));
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0) {
		dg_err_set(err, DG_E_NOTFOUND, "no relay is running on queue %s (%s)", queue_dir,
			   strerror(errno));
		if (fd >= 0)
			close(fd);
		return DG_E_NOTFOUND;
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (write(fd, cmd, strlen(cmd)) < 0 || write(fd, "\n", 1) < 0) {
		dg_err_set_errno(err, DG_E_IO, errno, "control socket %s", sun.sun_path);
		close(fd);
		return DG_E_IO;
	}
	while (off + 1 < size) {
		ssize_t n = read(fd, reply + off, size - off - 1);

		if (n <= 0)
			break;
		off += (size_t)n;
		if (memchr(reply, '\n', off) != NULL)
			break;
	}
	reply[off] = '\0';
	close(fd);
	if (off == 0) {
		dg_err_set(err, DG_E_IO, "control socket %s: no reply", sun.sun_path);
		return DG_E_IO;
	}
	reply[strcspn(reply, "\n")] = '\0';
	return strncmp(reply, "ok", 2) == 0 ? DG_OK : DG_E_PROTO;
}
