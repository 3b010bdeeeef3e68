/*
 * test_net_relay_metrics.c - the relay's Prometheus endpoint (lib/relay/relay_metrics.c) and
 * queue alarm (lib/relay/relay_alarm.c). ctest runs it in a private network namespace
 * (tests/in-netns), so the endpoint can listen on a fixed loopback port.
 *
 * Metrics: a table of delivery attempts, each fed alone to a fresh metrics object; the
 * exposition must hold the wanted lines exactly (counters, session outcomes, histogram buckets
 * with their cumulative counts, sums and counts) and be well-formed (every sample after its
 * TYPE line). Then the endpoint itself: a real scheduler indexing a real queue, GET /metrics
 * over a socket from a client thread, 404 and 501 for other requests, a busy port refused.
 *
 * Alarm: a fake counters callback crosses the thresholds; the command writes its stdin to a
 * file whose JSON is checked; no second run while the alarm stays raised; recovery logs and
 * re-arms; the periodic timer raises it by itself; a command that hangs (with a child of its
 * own) is killed, whole group, after a short bound. Failures print "got X, want Y".
 */
#include "relay/relay_metrics.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <ftw.h>
#include <jansson.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define PORT 19191
#define T0 1790000000ull /* 2026-09-21T...Z: a fixed wall clock */
#define GUARD_MS 10000u
#define LOG_LINES 64

/* ---- helpers ---------------------------------------------------------------------------- */

struct log_cap {
	char line[LOG_LINES][DG_LOG_LINE_MAX];
	enum dg_log_level level[LOG_LINES];
	size_t n;
};

static void cap_cb(void *arg, enum dg_log_level level, const char *line)
{
	struct log_cap *c = arg;

	if (c->n < LOG_LINES) {
		snprintf(c->line[c->n], sizeof(c->line[c->n]), "%s", line);
		c->level[c->n++] = level;
	}
}

static void cap_log(struct dg_log *log, struct log_cap *c)
{
	memset(c, 0, sizeof(*c));
	dg_log_init(log);
	log->level = DG_LOG_DEBUG;
	log->cb = cap_cb;
	log->arg = c;
}

/* Lines of @p c containing @p sub at @p level. */
static size_t cap_count(const struct log_cap *c, enum dg_log_level level, const char *sub)
{
	size_t n = 0;

	for (size_t i = 0; i < c->n; i++)
		n += c->level[i] == level && strstr(c->line[i], sub) != NULL;
	return n;
}

/* Whether @p text holds @p line as a whole line. */
static bool has_line(const char *text, const char *line)
{
	size_t n = strlen(line);

	for (const char *p = text; (p = strstr(p, line)) != NULL; p++)
		if ((p == text || p[-1] == '\n') && p[n] == '\n')
			return true;
	return false;
}

static size_t count_prefix(const char *text, const char *prefix)
{
	size_t n = 0, len = strlen(prefix);

	for (const char *p = text; *p != '\0';) {
		n += strncmp(p, prefix, len) == 0;
		p = strchr(p, '\n');
		if (p == NULL)
			break;
		p++;
	}
	return n;
}

/* Every sample line comes after the TYPE line of its family (histograms: _bucket, _sum,
   _count belong to the family), and every family has HELP before TYPE. */
static void check_well_formed(const char *text)
{
	char typed[64][96];
	size_t n_typed = 0;
	const char *p = text;

	while (*p != '\0') {
		const char *e = strchr(p, '\n');
		char line[512], name[96];
		size_t len;

		assert_non_null(e);
		len = (size_t)(e - p);
		assert_true(len < sizeof(line));
		memcpy(line, p, len);
		line[len] = '\0';
		p = e + 1;
		if (strncmp(line, "# HELP ", 7) == 0)
			continue;
		if (sscanf(line, "# TYPE %95s", name) == 1) {
			assert_true(n_typed < 64);
			snprintf(typed[n_typed++], sizeof(typed[0]), "%s", name);
			continue;
		}
		sscanf(line, "%95[a-z_]", name);
		bool found = false;
		for (size_t i = 0; i < n_typed && !found; i++) {
			size_t tl = strlen(typed[i]);
			found =
			    strcmp(name, typed[i]) == 0 ||
			    (strncmp(name, typed[i], tl) == 0 &&
			     (strcmp(name + tl, "_bucket") == 0 || strcmp(name + tl, "_sum") == 0 ||
			      strcmp(name + tl, "_count") == 0));
		}
		if (!found)
			fail_msg("sample before its TYPE line: got \"%s\"", line);
	}
}

static char *render(struct relay_metrics *m, uint64_t now)
{
	struct evbuffer *b = evbuffer_new();
	size_t n;
	char *s;

	relay_metrics_render(m, now, b);
	n = evbuffer_get_length(b);
	s = malloc(n + 1);
	assert_non_null(s);
	evbuffer_remove(b, s, n);
	s[n] = '\0';
	evbuffer_free(b);
	check_well_formed(s);
	return s;
}

static void want_lines(const char *text, const char *const *lines, const char *row)
{
	for (size_t i = 0; lines[i] != NULL; i++)
		if (!has_line(text, lines[i]))
			fail_msg("%s: line missing: want \"%s\", got:\n%s", row, lines[i], text);
}

static struct relay_sched_stats fake_stats;

static void fake_stats_fn(void *arg, struct relay_sched_stats *out)
{
	(void)arg;
	*out = fake_stats;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* ---- metrics: one attempt per row -------------------------------------------------------- */

struct attempt_case {
	const char *name;
	const char *result, *policy, *rpt_type;
	bool has_host;
	enum relay_req req;
	bool sts_testing, verified;
	uint64_t elapsed_ms;
	size_t n_rcpt_ok;
	uint64_t age_s; /* arrival = T0 - age_s */
	const char *want[16];
	size_t want_attempt_series; /* attempts_total lines */
};

#define DLY "daneguard_relay_delivery_duration_seconds"
#define QD "daneguard_relay_queue_delay_seconds"
#define DANE "daneguard_relay_dane_sessions_total"
#define STS "daneguard_relay_sts_sessions_total"
#define ATT "daneguard_relay_attempts_total"

static const struct attempt_case attempt_cases[] = {
    {"DANE host verified, message sent",
     "sent",
     "dane",
     NULL,
     true,
     RELAY_REQ_DANE,
     false,
     true,
     120,
     1,
     30,
     {ATT "{result=\"sent\",policy=\"dane\",rpt_type=\"none\"} 1",
      DANE "{policy=\"dane\",outcome=\"verified\"} 1",
      DANE "{policy=\"dane\",outcome=\"failed\"} 0", DLY "_bucket{le=\"0.1\"} 0",
      DLY "_bucket{le=\"0.25\"} 1", DLY "_bucket{le=\"+Inf\"} 1", DLY "_sum 0.120", DLY "_count 1",
      QD "_bucket{le=\"10\"} 0", QD "_bucket{le=\"60\"} 1", QD "_bucket{le=\"432000\"} 1",
      QD "_sum 30.000", QD "_count 1", NULL},
     1},
    {"dane-only host fails verification",
     "host-failed",
     "dane-only",
     "certificate-not-trusted",
     true,
     RELAY_REQ_DANE,
     false,
     false,
     40,
     0,
     30,
     {ATT "{result=\"host-failed\",policy=\"dane-only\",rpt_type=\"certificate-not-trusted\"} 1",
      DANE "{policy=\"dane-only\",outcome=\"failed\"} 1",
      DANE "{policy=\"dane\",outcome=\"failed\"} 0", DLY "_bucket{le=\"0.05\"} 1", DLY "_count 1",
      QD "_count 0", QD "_bucket{le=\"+Inf\"} 0", NULL},
     1},
    {"domain deferred without a connection (bogus TLSA)",
     "deferred",
     "dane",
     "dnssec-invalid",
     false,
     RELAY_REQ_NONE,
     false,
     false,
     0,
     0,
     30,
     {ATT "{result=\"deferred\",policy=\"dane\",rpt_type=\"dnssec-invalid\"} 1", DLY "_count 0",
      QD "_count 0", DANE "{policy=\"dane\",outcome=\"failed\"} 0", NULL},
     1},
    {"unknown labels fold into the catch-alls",
     "weird",
     "strange",
     "made-up-type",
     false,
     RELAY_REQ_NONE,
     false,
     false,
     0,
     0,
     0,
     {ATT "{result=\"other\",policy=\"other\",rpt_type=\"validation-failure\"} 1", NULL},
     1},
    {"MTA-STS testing host, certificate expired, delivered anyway",
     "sent",
     "mta-sts",
     "certificate-expired",
     true,
     RELAY_REQ_MAY,
     true,
     false,
     700,
     2,
     7200,
     {ATT "{result=\"sent\",policy=\"mta-sts\",rpt_type=\"certificate-expired\"} 1",
      STS "{mode=\"testing\",outcome=\"failed\"} 1", STS "{mode=\"enforce\",outcome=\"failed\"} 0",
      DLY "_bucket{le=\"0.5\"} 0", DLY "_bucket{le=\"1\"} 1", QD "_bucket{le=\"3600\"} 0",
      QD "_bucket{le=\"14400\"} 1", QD "_sum 7200.000", NULL},
     1},
    {"MTA-STS enforce host verified",
     "sent",
     "mta-sts",
     NULL,
     true,
     RELAY_REQ_STS,
     false,
     true,
     3000,
     1,
     0,
     {STS "{mode=\"enforce\",outcome=\"verified\"} 1",
      STS "{mode=\"testing\",outcome=\"verified\"} 0", DLY "_bucket{le=\"2.5\"} 0",
      DLY "_bucket{le=\"5\"} 1", QD "_bucket{le=\"1\"} 1", QD "_sum 0.000", NULL},
     1},
    {"opportunistic host refused the connection: no TLS session counted",
     "host-failed",
     "may",
     NULL,
     true,
     RELAY_REQ_MAY,
     false,
     false,
     10,
     0,
     0,
     {ATT "{result=\"host-failed\",policy=\"may\",rpt_type=\"none\"} 1",
      STS "{mode=\"testing\",outcome=\"failed\"} 0", STS "{mode=\"enforce\",outcome=\"failed\"} 0",
      DANE "{policy=\"dane\",outcome=\"failed\"} 0", DLY "_count 1", NULL},
     1},
    {"a session longer than the last bucket",
     "sent",
     "encrypt",
     "tlsa-invalid",
     true,
     RELAY_REQ_ENCRYPT,
     false,
     false,
     200000,
     1,
     0,
     {ATT "{result=\"sent\",policy=\"encrypt\",rpt_type=\"tlsa-invalid\"} 1",
      DLY "_bucket{le=\"120\"} 0", DLY "_bucket{le=\"+Inf\"} 1", DLY "_sum 200.000", NULL},
     1},
};

static void test_attempts(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(attempt_cases) / sizeof(attempt_cases[0]); i++) {
		const struct attempt_case *c = &attempt_cases[i];
		struct event_base *base = event_base_new();
		struct dg_relay_conf conf;
		struct dg_log log;
		struct log_cap cap;
		struct relay_metrics *m = NULL;
		struct relay_plan plan;
		struct relay_host_plan host;
		struct relay_attempt a;
		struct dg_err err = {0};
		size_t n;
		char *text;

		dg_relay_conf_init(&conf);
		cap_log(&log, &cap);
		assert_int_equal(relay_metrics_new(base, &conf, NULL, NULL, &log, &m, &err), DG_OK);
		memset(&plan, 0, sizeof(plan));
		memset(&host, 0, sizeof(host));
		memset(&a, 0, sizeof(a));
		plan.policy = c->policy;
		host.req = c->req;
		host.sts_testing = c->sts_testing;
		a.id = "0123456789abcdef0123";
		a.domain = "example.test";
		a.plan = &plan;
		a.host = c->has_host ? &host : NULL;
		a.addr = c->has_host ? "192.0.2.25" : NULL;
		a.result = c->result;
		a.first_on_conn = true;
		a.verified = c->verified;
		a.tls = c->verified;
		a.rpt_type = c->rpt_type;
		a.reason = "";
		a.n_rcpt_ok = c->n_rcpt_ok;
		a.n_rcpt = c->n_rcpt_ok > 0 ? c->n_rcpt_ok : 1;
		a.arrival_s = T0 - c->age_s;
		a.elapsed_ms = c->elapsed_ms;
		dg_clock_set_wall((time_t)T0);
		relay_metrics_attempt(m, &a);
		dg_clock_reset_wall();
		text = render(m, T0);
		want_lines(text, c->want, c->name);
		n = count_prefix(text, ATT "{");
		if (n != c->want_attempt_series)
			fail_msg("%s: attempts_total series: got %zu, want %zu", c->name, n,
			         c->want_attempt_series);
		free(text);
		relay_metrics_free(m);
		dg_relay_conf_cleanup(&conf);
		event_base_free(base);
	}
}

/* Counters add up across attempts; stats and the alarm gauge come from their sources. */
static void test_totals_and_gauges(void **state)
{
	static const char *const want[] = {
	    "daneguard_relay_messages_accepted_total 3",
	    "daneguard_relay_accepted_bytes_total 4096",
	    "daneguard_relay_recipients_total{result=\"delivered\"} 17",
	    "daneguard_relay_recipients_total{result=\"deferred\"} 4",
	    "daneguard_relay_recipients_total{result=\"bounced\"} 2",
	    "daneguard_relay_queue_messages 9",
	    "daneguard_relay_queue_oldest_age_seconds 125",
	    "daneguard_relay_deliveries_in_flight 3",
	    ATT "{result=\"sent\",policy=\"dane\",rpt_type=\"none\"} 3",
	    ATT "{result=\"host-failed\",policy=\"dane\",rpt_type=\"certificate-host-mismatch\"} 1",
	    /* the second message of a connection is an attempt, not a new session */
	    DANE "{policy=\"dane\",outcome=\"verified\"} 2",
	    DANE "{policy=\"dane\",outcome=\"failed\"} 1",
	    DLY "_bucket{le=\"0.05\"} 2",
	    DLY "_bucket{le=\"0.1\"} 3",
	    DLY "_bucket{le=\"0.25\"} 4",
	    DLY "_sum 0.330",
	    DLY "_count 4",
	    "daneguard_relay_alarm_active{alarm=\"queue-size\"} 1",
	    "daneguard_relay_alarm_active{alarm=\"queue-age\"} 0",
	    NULL};
	struct event_base *base = event_base_new();
	struct dg_relay_conf conf;
	struct dg_log log;
	struct log_cap cap;
	struct relay_metrics *m = NULL;
	struct relay_alarm *al = NULL;
	struct relay_plan plan;
	struct relay_host_plan host;
	struct relay_attempt a;
	static const uint64_t ms[3] = {30, 100, 200};
	char *text;

	(void)state;
	dg_relay_conf_init(&conf);
	conf.alarm_queue_size = 5;
	cap_log(&log, &cap);
	assert_int_equal(relay_metrics_new(base, &conf, NULL, NULL, &log, &m, NULL), DG_OK);
	/* without a scheduler and an alarm: zeros */
	text = render(m, T0);
	assert_true(has_line(text, "daneguard_relay_queue_messages 0"));
	assert_true(has_line(text, "daneguard_relay_queue_oldest_age_seconds 0"));
	assert_true(has_line(text, "daneguard_relay_alarm_active{alarm=\"queue-size\"} 0"));
	assert_int_equal(count_prefix(text, ATT "{"), 0);
	free(text);

	relay_metrics_accepted(m, 1000);
	relay_metrics_accepted(m, 3096);
	relay_metrics_accepted(m, 0);
	memset(&plan, 0, sizeof(plan));
	memset(&host, 0, sizeof(host));
	plan.policy = "dane";
	host.req = RELAY_REQ_DANE;
	for (int i = 0; i < 3; i++) {
		memset(&a, 0, sizeof(a));
		a.plan = &plan;
		a.host = &host;
		a.result = i == 1 ? "host-failed" : "sent";
		a.first_on_conn = true;
		a.rpt_type = i == 1 ? "certificate-host-mismatch" : NULL;
		a.verified = i != 1;
		a.elapsed_ms = ms[i];
		relay_metrics_attempt(m, &a);
	}
	a.first_on_conn = false; /* a later message on the last connection */
	a.elapsed_ms = 0;
	relay_metrics_attempt(m, &a);
	fake_stats.delivered = 17;
	fake_stats.deferred = 4;
	fake_stats.bounced = 2;
	fake_stats.messages = 9;
	fake_stats.active_jobs = 3;
	fake_stats.oldest_arrival_s = T0 - 125;
	relay_metrics_set_stats_fn(m, fake_stats_fn, NULL);
	assert_int_equal(relay_alarm_new(base, &conf, fake_stats_fn, NULL, &log, &al, NULL), DG_OK);
	relay_alarm_check(al); /* 9 >= 5: raised */
	relay_metrics_set_alarm(m, al);
	text = render(m, T0);
	want_lines(text, want, "totals");
	free(text);
	relay_metrics_set_alarm(m, NULL);
	relay_alarm_free(al);
	relay_metrics_free(m);
	dg_relay_conf_cleanup(&conf);
	event_base_free(base);
	memset(&fake_stats, 0, sizeof(fake_stats));
}

/* ---- the endpoint, over a socket ------------------------------------------------------- */

struct http_req {
	const char *request; /* full request bytes */
	char reply[65536];
	size_t len;
	atomic_bool done;
};

static void *http_thread(void *arg)
{
	struct http_req *r = arg;
	struct sockaddr_in sa;
	struct timeval tv = {GUARD_MS / 1000, 0};
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons(PORT);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
	    write(fd, r->request, strlen(r->request)) == (ssize_t)strlen(r->request)) {
		ssize_t n;

		while (r->len + 1 < sizeof(r->reply) &&
		       (n = read(fd, r->reply + r->len, sizeof(r->reply) - 1 - r->len)) > 0)
			r->len += (size_t)n;
	}
	r->reply[r->len] = '\0';
	close(fd);
	atomic_store(&r->done, true);
	return NULL;
}

/* Run one request against the endpoint on @p base; the loop turns until the client is done. */
static void http_run(struct event_base *base, struct http_req *r)
{
	pthread_t t;
	uint64_t deadline = dg_clock_mono_ms() + GUARD_MS;

	r->len = 0;
	atomic_store(&r->done, false);
	assert_int_equal(pthread_create(&t, NULL, http_thread, r), 0);
	while (!atomic_load(&r->done) && dg_clock_mono_ms() < deadline) {
		event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
		usleep(1000);
	}
	pthread_join(t, NULL);
	if (!atomic_load(&r->done))
		fail_msg("HTTP client: got no answer within %u ms, want one", GUARD_MS);
}

static struct relay_sched *get_sched(void *arg)
{
	return arg;
}

static void put_msg(struct dg_queue *q, uint64_t arrival)
{
	struct dg_queue_rcpt rc;
	struct dg_queue_msg env;
	char id[DG_QUEUE_ID_SIZE];
	struct dg_err err = {0};
	static const uint8_t body[] = "Subject: t\r\n\r\nhello\r\n";

	memset(&rc, 0, sizeof(rc));
	memset(&env, 0, sizeof(env));
	snprintf(rc.addr, sizeof(rc.addr), "user@example.test");
	snprintf(env.sender, sizeof(env.sender), "sender@example.org");
	env.rcpt = &rc;
	env.n_rcpt = 1;
	env.arrival_s = arrival;
	if (dg_queue_put(q, &env, body, sizeof(body) - 1, id, &err) != DG_OK)
		fail_msg("dg_queue_put: got %s, want success", err.msg);
}

static void test_endpoint(void **state)
{
	char dir[] = "/tmp/dg-relay-metrics-XXXXXX";
	struct event_base *base = event_base_new();
	struct dg_relay_conf conf;
	struct dg_log log;
	struct log_cap cap;
	struct dg_queue *q = NULL;
	struct relay_ctx ctx;
	struct relay_sched *s = NULL;
	struct relay_metrics *m = NULL, *m2 = NULL;
	struct dg_err err = {0};
	struct http_req *r = calloc(1, sizeof(*r));
	const char *body;

	(void)state;
	assert_non_null(r);
	assert_non_null(mkdtemp(dir));
	dg_relay_conf_init(&conf);
	cap_log(&log, &cap);
	assert_int_equal(dg_queue_open(dir, NULL, &q, &err), DG_OK);
	put_msg(q, T0 - 100);
	put_msg(q, T0 - 40);
	memset(&ctx, 0, sizeof(ctx));
	ctx.base = base;
	ctx.conf = &conf;
	ctx.log = &log;
	assert_int_equal(relay_sched_new(&ctx, q, &s, &err), DG_OK);
	relay_sched_stop(s); /* index only: no engine here to deliver with */

	snprintf(conf.metrics.ip, sizeof(conf.metrics.ip), "127.0.0.1");
	conf.metrics.family = AF_INET;
	conf.metrics.port = PORT;
	conf.has_metrics = true;
	assert_int_equal(relay_metrics_new(base, &conf, get_sched, s, &log, &m, &err), DG_OK);
	relay_metrics_accepted(m, 22);

	dg_clock_set_wall((time_t)T0);
	r->request = "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
	http_run(base, r);
	body = strstr(r->reply, "\r\n\r\n");
	if (strncmp(r->reply, "HTTP/1.1 200", 12) != 0 || body == NULL)
		fail_msg("GET /metrics: got \"%.80s\", want 200 with a body", r->reply);
	assert_non_null(strstr(r->reply, "Content-Type: text/plain; version=0.0.4; charset=utf-8"));
	body += 4;
	check_well_formed(body);
	{
		static const char *const want[] = {"daneguard_relay_queue_messages 2",
		                                   "daneguard_relay_queue_oldest_age_seconds 100",
		                                   "daneguard_relay_messages_accepted_total 1",
		                                   "daneguard_relay_accepted_bytes_total 22",
		                                   "daneguard_relay_deliveries_in_flight 0",
		                                   NULL};
		want_lines(body, want, "GET /metrics");
	}

	r->request = "GET /other HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
	http_run(base, r);
	if (strncmp(r->reply, "HTTP/1.1 404", 12) != 0)
		fail_msg("GET /other: got \"%.40s\", want 404", r->reply);
	r->request = "POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n"
	             "Connection: close\r\n\r\n";
	http_run(base, r);
	/* evhttp answers a method outside evhttp_set_allowed_methods() with 501 */
	if (strncmp(r->reply, "HTTP/1.1 501", 12) != 0)
		fail_msg("POST /metrics: got \"%.40s\", want 501", r->reply);
	dg_clock_reset_wall();

	/* the port is taken: an error naming the address, no object */
	assert_int_equal(relay_metrics_new(base, &conf, get_sched, s, &log, &m2, &err), DG_E_IO);
	assert_null(m2);
	if (strstr(err.msg, "127.0.0.1:19191") == NULL)
		fail_msg("busy port: got \"%s\", want the address in it", err.msg);

	relay_metrics_free(m);
	relay_sched_free(s);
	dg_queue_free(q);
	dg_relay_conf_cleanup(&conf);
	event_base_free(base);
	free(r);
	nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* ---- alarm ------------------------------------------------------------------------------- */

struct alarm_world {
	char dir[64];
	char out[128];
	struct event_base *base;
	struct dg_relay_conf conf;
	struct dg_log log;
	struct log_cap cap;
	struct relay_alarm *a;
};

static void alarm_setup(struct alarm_world *w, const char *cmd_fmt)
{
	char cmd[512];

	memset(w, 0, sizeof(*w));
	snprintf(w->dir, sizeof(w->dir), "/tmp/dg-relay-alarm-XXXXXX");
	assert_non_null(mkdtemp(w->dir));
	snprintf(w->out, sizeof(w->out), "%s/out", w->dir);
	w->base = event_base_new();
	dg_relay_conf_init(&w->conf);
	if (cmd_fmt != NULL) {
		const char *at = strstr(cmd_fmt, "@D"); /* @D: the world's directory */

		assert_non_null(at);
		snprintf(cmd, sizeof(cmd), "%.*s%s%s", (int)(at - cmd_fmt), cmd_fmt, w->dir,
		         at + 2);
		w->conf.alarm_command = dg_xstrdup(cmd);
	}
	cap_log(&w->log, &w->cap);
	memset(&fake_stats, 0, sizeof(fake_stats));
	assert_int_equal(
	    relay_alarm_new(w->base, &w->conf, fake_stats_fn, NULL, &w->log, &w->a, NULL), DG_OK);
}

static void alarm_teardown(struct alarm_world *w)
{
	relay_alarm_free(w->a);
	dg_relay_conf_cleanup(&w->conf);
	event_base_free(w->base);
	nftw(w->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	memset(&fake_stats, 0, sizeof(fake_stats));
}

/* Turn the loop until no alarm command runs; @return the milliseconds it took. */
static uint64_t alarm_wait(struct alarm_world *w)
{
	uint64_t start = dg_clock_mono_ms(), deadline = start + GUARD_MS;

	while (relay_alarm_cmd_running(w->a) && dg_clock_mono_ms() < deadline)
		event_base_loop(w->base, EVLOOP_ONCE);
	if (relay_alarm_cmd_running(w->a))
		fail_msg("alarm command: still running after %u ms, want it reaped", GUARD_MS);
	return dg_clock_mono_ms() - start;
}

static size_t file_lines(const char *path, char lines[][256], size_t max)
{
	FILE *f = fopen(path, "r");
	size_t n = 0;

	if (f == NULL)
		return 0;
	while (n < max && fgets(lines[n], 256, f) != NULL)
		n++;
	fclose(f);
	return n;
}

static void check_json(const char *line, const char *alarm, json_int_t value, json_int_t threshold,
                       const char *time_want)
{
	json_error_t je;
	json_t *j = json_loads(line, 0, &je);
	const char *got_alarm, *got_time;
	json_int_t v, t;

	if (j == NULL)
		fail_msg("alarm JSON: got \"%s\" (%s), want an object", line, je.text);
	if (json_unpack(j, "{s:s, s:I, s:I, s:s !}", "alarm", &got_alarm, "value", &v, "threshold",
	                &t, "time", &got_time) != 0)
		fail_msg("alarm JSON: got \"%s\", want exactly alarm, value, threshold, time",
		         line);
	if (strcmp(got_alarm, alarm) != 0 || v != value || t != threshold ||
	    strcmp(got_time, time_want) != 0)
		fail_msg("alarm JSON: got %s %lld/%lld at %s, want %s %lld/%lld at %s", got_alarm,
		         (long long)v, (long long)t, got_time, alarm, (long long)value,
		         (long long)threshold, time_want);
	json_decref(j);
}

/* T0 = 1790000000 */
#define T0_ISO "2026-09-21T14:13:20Z"

static void test_alarm_size(void **state)
{
	struct alarm_world w;
	char lines[8][256];

	(void)state;
	alarm_setup(&w, "cat >> @D/out");
	w.conf.alarm_queue_size = 5;
	dg_clock_set_wall((time_t)T0);

	fake_stats.messages = 4; /* below: nothing */
	relay_alarm_check(w.a);
	assert_false(relay_alarm_is_active(w.a, RELAY_ALARM_QUEUE_SIZE));
	assert_false(relay_alarm_cmd_running(w.a));
	assert_int_equal(cap_count(&w.cap, DG_LOG_WARN, "alarm"), 0);

	fake_stats.messages = 7; /* crossed: one warning, one run */
	relay_alarm_check(w.a);
	assert_true(relay_alarm_is_active(w.a, RELAY_ALARM_QUEUE_SIZE));
	assert_false(relay_alarm_is_active(w.a, RELAY_ALARM_QUEUE_AGE));
	assert_int_equal(cap_count(&w.cap, DG_LOG_WARN,
	                           "alarm queue-size raised value=7 threshold=5 unit=messages"),
	                 1);
	alarm_wait(&w);
	assert_int_equal(file_lines(w.out, lines, 8), 1);
	check_json(lines[0], "queue-size", 7, 5, T0_ISO);
	assert_int_equal(cap_count(&w.cap, DG_LOG_INFO, "alarm queue-size command ended"), 1);

	fake_stats.messages = 9; /* still raised: no repeat */
	relay_alarm_check(w.a);
	relay_alarm_check(w.a);
	assert_false(relay_alarm_cmd_running(w.a));
	assert_int_equal(cap_count(&w.cap, DG_LOG_WARN, "raised"), 1);
	assert_int_equal(file_lines(w.out, lines, 8), 1);

	fake_stats.messages = 2; /* recovery: one info line */
	relay_alarm_check(w.a);
	relay_alarm_check(w.a);
	assert_false(relay_alarm_is_active(w.a, RELAY_ALARM_QUEUE_SIZE));
	assert_int_equal(
	    cap_count(&w.cap, DG_LOG_INFO, "alarm queue-size cleared value=2 threshold=5"), 1);

	fake_stats.messages = 5; /* re-armed: value == threshold raises it again */
	relay_alarm_check(w.a);
	assert_true(relay_alarm_is_active(w.a, RELAY_ALARM_QUEUE_SIZE));
	alarm_wait(&w);
	assert_int_equal(cap_count(&w.cap, DG_LOG_WARN, "raised"), 2);
	assert_int_equal(file_lines(w.out, lines, 8), 2);
	check_json(lines[1], "queue-size", 5, 5, T0_ISO);

	/* the threshold switched off (SIGHUP): cleared */
	w.conf.alarm_queue_size = 0;
	relay_alarm_check(w.a);
	assert_false(relay_alarm_is_active(w.a, RELAY_ALARM_QUEUE_SIZE));
	assert_int_equal(cap_count(&w.cap, DG_LOG_INFO, "cleared"), 2);
	dg_clock_reset_wall();
	alarm_teardown(&w);
}

static void test_alarm_age_timer(void **state)
{
	struct alarm_world w;
	char lines[8][256];
	uint64_t deadline;

	(void)state;
	alarm_setup(&w, "cat >> @D/out");
	w.conf.alarm_queue_age_s = 3600;
	w.conf.alarm_queue_size = 1000;
	dg_clock_set_wall((time_t)T0);
	fake_stats.messages = 3;
	fake_stats.oldest_arrival_s = T0 - 3599;
	relay_alarm_set_timing(w.a, 20, RELAY_ALARM_CMD_LIMIT_MS);
	/* the timer checks by itself: one period passes without an alarm */
	deadline = dg_clock_mono_ms() + 100;
	while (dg_clock_mono_ms() < deadline)
		event_base_loop(w.base, EVLOOP_ONCE);
	assert_false(relay_alarm_is_active(w.a, RELAY_ALARM_QUEUE_AGE));
	fake_stats.oldest_arrival_s = T0 - 3700;
	deadline = dg_clock_mono_ms() + GUARD_MS;
	while (!relay_alarm_is_active(w.a, RELAY_ALARM_QUEUE_AGE) && dg_clock_mono_ms() < deadline)
		event_base_loop(w.base, EVLOOP_ONCE);
	assert_true(relay_alarm_is_active(w.a, RELAY_ALARM_QUEUE_AGE));
	assert_false(relay_alarm_is_active(w.a, RELAY_ALARM_QUEUE_SIZE));
	assert_int_equal(cap_count(&w.cap, DG_LOG_WARN,
	                           "alarm queue-age raised value=3700 threshold=3600 unit=s"),
	                 1);
	alarm_wait(&w);
	assert_int_equal(file_lines(w.out, lines, 8), 1);
	check_json(lines[0], "queue-age", 3700, 3600, T0_ISO);
	fake_stats.oldest_arrival_s = 0; /* queue drained */
	deadline = dg_clock_mono_ms() + GUARD_MS;
	while (relay_alarm_is_active(w.a, RELAY_ALARM_QUEUE_AGE) && dg_clock_mono_ms() < deadline)
		event_base_loop(w.base, EVLOOP_ONCE);
	assert_int_equal(
	    cap_count(&w.cap, DG_LOG_INFO, "alarm queue-age cleared value=0 threshold=3600"), 1);
	dg_clock_reset_wall();
	alarm_teardown(&w);
}

/* Whether process @p pid is gone (or a zombie nobody cares about). */
static bool proc_gone(long pid)
{
	char path[64], buf[512];
	FILE *f;
	const char *p;
	bool gone = true;

	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	f = fopen(path, "r");
	if (f == NULL)
		return true;
	if (fgets(buf, sizeof(buf), f) != NULL && (p = strrchr(buf, ')')) != NULL)
		gone = p[1] == ' ' && (p[2] == 'Z' || p[2] == 'X');
	fclose(f);
	return gone;
}

static void test_alarm_hang_killed(void **state)
{
	struct alarm_world w;
	char lines[4][256];
	uint64_t took, deadline;
	long grandchild = 0;

	(void)state;
	/* the shell starts a child of its own and waits: killing only sh would leave sleep
	   (its output goes to /dev/null so a survivor cannot hold ctest's pipe open) */
	alarm_setup(&w, "sleep 20 >/dev/null 2>&1 & echo $! > @D/pid; wait");
	w.conf.alarm_queue_size = 1;
	relay_alarm_set_timing(w.a, RELAY_ALARM_CHECK_MS, 300);
	fake_stats.messages = 1;
	relay_alarm_check(w.a);
	assert_true(relay_alarm_cmd_running(w.a));
	took = alarm_wait(&w);
	if (took < 250 || took > 5000)
		fail_msg("hanging command: got reaped after %llu ms, want about 300",
		         (unsigned long long)took);
	assert_int_equal(cap_count(&w.cap, DG_LOG_WARN, "alarm queue-size command killed"), 1);
	assert_int_equal(cap_count(&w.cap, DG_LOG_INFO, "signal=9"), 1);
	snprintf(w.out, sizeof(w.out), "%s/pid", w.dir);
	assert_int_equal(file_lines(w.out, lines, 4), 1);
	grandchild = strtol(lines[0], NULL, 10);
	assert_true(grandchild > 1);
	deadline = dg_clock_mono_ms() + 2000;
	while (!proc_gone(grandchild) && dg_clock_mono_ms() < deadline)
		usleep(10000);
	if (!proc_gone(grandchild)) {
		kill((pid_t)grandchild, SIGKILL); /* leave nothing behind */
		fail_msg("sleep (pid %ld) of the killed command: got running, want killed",
		         grandchild);
	}
	alarm_teardown(&w);
}

/* No command configured: the alarm logs only; a command that fails is logged as a warning;
   freeing with a command still running kills it. */
static void test_alarm_no_command_and_free(void **state)
{
	struct alarm_world w;

	(void)state;
	alarm_setup(&w, NULL);
	w.conf.alarm_queue_size = 3;
	fake_stats.messages = 3;
	relay_alarm_check(w.a);
	assert_true(relay_alarm_is_active(w.a, RELAY_ALARM_QUEUE_SIZE));
	assert_false(relay_alarm_cmd_running(w.a));
	assert_int_equal(cap_count(&w.cap, DG_LOG_INFO, "command started"), 0);
	alarm_teardown(&w);

	alarm_setup(&w, "cat > /dev/null; exit 3 # @D");
	w.conf.alarm_queue_size = 3;
	fake_stats.messages = 4;
	relay_alarm_check(w.a);
	alarm_wait(&w);
	assert_int_equal(cap_count(&w.cap, DG_LOG_WARN, "command ended"), 1);
	assert_int_equal(cap_count(&w.cap, DG_LOG_WARN, "status=3"), 1);
	alarm_teardown(&w);

	alarm_setup(&w, "echo $$ > @D/pid; exec sleep 20 >/dev/null 2>&1");
	w.conf.alarm_queue_size = 3;
	fake_stats.messages = 4;
	relay_alarm_check(w.a);
	{
		char path[128], lines[2][256];
		uint64_t deadline = dg_clock_mono_ms() + GUARD_MS;
		long pid;

		snprintf(path, sizeof(path), "%s/pid", w.dir);
		while (file_lines(path, lines, 2) == 0 && dg_clock_mono_ms() < deadline)
			usleep(10000);
		assert_int_equal(file_lines(path, lines, 2), 1);
		pid = strtol(lines[0], NULL, 10);
		assert_true(relay_alarm_cmd_running(w.a));
		alarm_teardown(&w); /* kills and reaps */
		if (!proc_gone(pid)) {
			kill((pid_t)pid, SIGKILL); /* leave nothing behind */
			fail_msg("command after relay_alarm_free: got pid %ld alive, want gone",
			         pid);
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_attempts),
	    cmocka_unit_test(test_totals_and_gauges),
	    cmocka_unit_test(test_endpoint),
	    cmocka_unit_test(test_alarm_size),
	    cmocka_unit_test(test_alarm_age_timer),
	    cmocka_unit_test(test_alarm_hang_killed),
	    cmocka_unit_test(test_alarm_no_command_and_free),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
