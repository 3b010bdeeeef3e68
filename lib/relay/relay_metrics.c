/*
 * relay_metrics.c - the relay's counters and their Prometheus endpoint (`metrics =
 * ADDR:PORT`): text exposition format 0.0.4, served by libevent's evhttp on the scheduler's
 * own loop, the way `scan --metrics` does it (cmd/daneguard/cmd_scan_metrics.c).
 *
 * Private (relay_metrics.h): relay_metrics_new, relay_metrics_free, relay_metrics_attempt,
 * relay_metrics_accepted, relay_metrics_set_alarm, relay_metrics_set_stats_fn,
 * relay_metrics_render.
 *
 * Counters are fed from two places: relay_metrics_attempt() is a struct relay_observer that
 * sees every delivery attempt (relay_deliver.c job_observe), relay_metrics_accepted() is
 * called for each message the receiver queued. Queue gauges and recipient counters are read
 * from relay_sched_stats() when a scrape arrives, so they cannot drift from the scheduler.
 *
 * Every label takes its value from a fixed list (result, policy, RFC 8460 result type from
 * SPEC RPT-5, outcome), anything else maps to "other" (or, for a result type not in the
 * registry, the generic "validation-failure"), so no input can grow the number of series.
 * Histograms keep per-bucket counts and are rendered cumulatively.
 *
 * Ownership: struct relay_metrics owns its evhttp server; conf, log, the scheduler callback
 * and the alarm are borrowed.
 */
#include "relay_metrics.h"

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

enum { METRICS_TIMEOUT_S = 10, METRICS_MAX_HEADERS = 8192, HIST_MAX = 16 };

/* Label value lists; the last entry of each is the catch-all. */
static const char *const result_names[] = {"sent", "host-failed", "deferred", "bounced", "other"};
static const char *const policy_names[] = {"dane",    "dane-only", "mta-sts", "may",
                                           "encrypt", "none",      "other"};
/* SPEC RPT-5: the RFC 8460 section 4.3 result types, then "none" for a clean attempt */
static const char *const rpt_names[] = {"starttls-not-supported", "certificate-host-mismatch",
                                        "certificate-expired",    "certificate-not-trusted",
                                        "validation-failure",     "tlsa-invalid",
                                        "dnssec-invalid",         "dane-required",
                                        "sts-policy-fetch-error", "sts-policy-invalid",
                                        "sts-webpki-invalid",     "none"};

#define N_RESULT (sizeof(result_names) / sizeof(result_names[0]))
#define N_POLICY (sizeof(policy_names) / sizeof(policy_names[0]))
#define N_RPT (sizeof(rpt_names) / sizeof(rpt_names[0]))
#define RPT_GENERIC 4u /* validation-failure */

/* Bucket upper bounds in milliseconds (rendered in seconds). */
static const uint64_t delivery_bounds_ms[] = {50,   100,   250,   500,   1000,  2500,
                                              5000, 10000, 30000, 60000, 120000};
static const uint64_t delay_bounds_ms[] = {1000,     10000,     60000,    300000,
                                           900000,   3600000,   14400000, 43200000,
                                           86400000, 259200000, 432000000};

struct relay_hist {
	const uint64_t *bounds; /* ascending, n finite buckets */
	size_t n;
	uint64_t bucket[HIST_MAX]; /* per bucket (not cumulative); [n] is above every bound */
	uint64_t count;
	uint64_t sum_ms;
};

struct relay_metrics {
	struct evhttp *http; /* NULL without conf->has_metrics */
	const struct dg_relay_conf *conf;
	const struct dg_log *log;
	struct relay_sched *(*get_sched)(void *);
	void *get_sched_arg;
	relay_alarm_stats_fn *stats_fn; /* tests: replaces get_sched */
	void *stats_arg;
	const struct relay_alarm *alarm;
	uint64_t accepted, accepted_bytes;
	uint64_t attempts[N_RESULT][N_POLICY][N_RPT];
	uint64_t dane[N_POLICY][2]; /* [policy][0 verified, 1 failed] */
	uint64_t sts[2][2];         /* [0 enforce, 1 testing][0 verified, 1 failed] */
	struct relay_hist delivery; /* attempt elapsed_ms */
	struct relay_hist delay;    /* arrival to delivery */
};

static void serve_cb(struct evhttp_request *req, void *arg);
static size_t name_index(const char *const *names, size_t n, const char *v, size_t dflt);
static void hist_observe(struct relay_hist *h, uint64_t ms);
static void render_hist(struct evbuffer *b, const char *name, const char *help,
                        const struct relay_hist *h);
static void render_attempts(const struct relay_metrics *m, struct evbuffer *b);
static void render_sessions(const struct relay_metrics *m, struct evbuffer *b);

enum dg_status relay_metrics_new(struct event_base *base, const struct dg_relay_conf *conf,
                                 struct relay_sched *(*get_sched)(void *), void *arg,
                                 const struct dg_log *log, struct relay_metrics **out,
                                 struct dg_err *err)
{
	struct relay_metrics *m = dg_xcalloc(1, sizeof(*m));

	*out = NULL;
	m->conf = conf;
	m->log = log;
	m->get_sched = get_sched;
	m->get_sched_arg = arg;
	m->delivery.bounds = delivery_bounds_ms;
	m->delivery.n = sizeof(delivery_bounds_ms) / sizeof(delivery_bounds_ms[0]);
	m->delay.bounds = delay_bounds_ms;
	m->delay.n = sizeof(delay_bounds_ms) / sizeof(delay_bounds_ms[0]);
	if (conf->has_metrics) {
		m->http = evhttp_new(base);
		if (m->http == NULL ||
		    evhttp_bind_socket(m->http, conf->metrics.ip, conf->metrics.port) != 0) {
			relay_metrics_free(m);
			return dg_err_set(err, DG_E_IO, "metrics %s%s%s:%u: cannot listen there",
			                  conf->metrics.family == AF_INET6 ? "[" : "",
			                  conf->metrics.ip,
			                  conf->metrics.family == AF_INET6 ? "]" : "",
			                  (unsigned)conf->metrics.port);
		}
		/* a slow or hostile scraper cannot hold the scheduler's loop */
		evhttp_set_timeout(m->http, METRICS_TIMEOUT_S);
		evhttp_set_max_headers_size(m->http, METRICS_MAX_HEADERS);
		evhttp_set_max_body_size(m->http, 0);
		evhttp_set_allowed_methods(m->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD);
		evhttp_set_gencb(m->http, serve_cb, m);
		DG_LOG(log, DG_LOG_INFO, "metrics listening addr=%s port=%u", conf->metrics.ip,
		       (unsigned)conf->metrics.port);
	}
	*out = m;
	return DG_OK;
}

void relay_metrics_free(struct relay_metrics *m)
{
	if (m == NULL)
		return;
	if (m->http != NULL)
		evhttp_free(m->http);
	free(m);
}

void relay_metrics_set_alarm(struct relay_metrics *m, const struct relay_alarm *a)
{
	m->alarm = a;
}

void relay_metrics_set_stats_fn(struct relay_metrics *m, relay_alarm_stats_fn *fn, void *arg)
{
	m->stats_fn = fn;
	m->stats_arg = arg;
}

void relay_metrics_accepted(struct relay_metrics *m, size_t bytes)
{
	m->accepted++;
	m->accepted_bytes += bytes;
}

/* Index of @p v in @p names[0..n-1), else @p dflt. */
static size_t name_index(const char *const *names, size_t n, const char *v, size_t dflt)
{
	if (v == NULL)
		return dflt;
	for (size_t i = 0; i + 1 < n; i++)
		if (strcmp(names[i], v) == 0)
			return i;
	return dflt;
}

static void hist_observe(struct relay_hist *h, uint64_t ms)
{
	size_t i = 0;

	while (i < h->n && ms > h->bounds[i])
		i++;
	h->bucket[i]++;
	h->count++;
	h->sum_ms += ms;
}

void relay_metrics_attempt(void *arg, const struct relay_attempt *a)
{
	struct relay_metrics *m = arg;
	size_t res = name_index(result_names, N_RESULT, a->result, N_RESULT - 1);
	size_t pol = name_index(policy_names, N_POLICY, a->plan != NULL ? a->plan->policy : NULL,
	                        N_POLICY - 1);
	/* SPEC RPT-5: a type outside the registry is counted as the generic one */
	size_t rpt = a->rpt_type == NULL ? N_RPT - 1
	                                 : name_index(rpt_names, N_RPT, a->rpt_type, RPT_GENERIC);

	m->attempts[res][pol][rpt]++;
	if (a->host == NULL)
		return; /* a decision about the whole domain: no session */
	hist_observe(&m->delivery, a->elapsed_ms);
	if (a->n_rcpt_ok > 0 && a->arrival_s > 0) {
		uint64_t now = (uint64_t)dg_clock_wall();

		hist_observe(&m->delay, now > a->arrival_s ? (now - a->arrival_s) * 1000u : 0);
	}
	/* a session either authenticated the server or failed with an RFC 8460 type; a
	   connection that never reached TLS for network reasons is neither (SPEC RPT-5 4.3.4) */
	if ((!a->verified && a->rpt_type == NULL) || !a->first_on_conn)
		return; /* sessions: the first message of each connection stands for it */
	if (a->host->req == RELAY_REQ_DANE)
		m->dane[pol][a->verified ? 0 : 1]++;
	else if (a->host->req == RELAY_REQ_STS || a->host->sts_testing)
		m->sts[a->host->sts_testing ? 1 : 0][a->verified ? 0 : 1]++;
}

static void serve_cb(struct evhttp_request *req, void *arg)
{
	struct relay_metrics *m = arg;
	const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
	struct evbuffer *b;

	if (path == NULL || strcmp(path, "/metrics") != 0) {
		evhttp_send_error(req, HTTP_NOTFOUND, "only /metrics is served");
		return;
	}
	b = evbuffer_new();
	if (b == NULL) {
		evhttp_send_error(req, HTTP_INTERNAL, NULL);
		return;
	}
	relay_metrics_render(m, (uint64_t)dg_clock_wall(), b);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
	                  "text/plain; version=0.0.4; charset=utf-8");
	evhttp_add_header(evhttp_request_get_output_headers(req), "Connection", "close");
	evhttp_send_reply(req, HTTP_OK, "OK", b);
	evbuffer_free(b);
}

void relay_metrics_render(struct relay_metrics *m, uint64_t now_s, struct evbuffer *b)
{
	struct relay_sched_stats st;
	struct relay_sched *s;
	uint64_t age = 0;

	memset(&st, 0, sizeof(st));
	if (m->stats_fn != NULL)
		m->stats_fn(m->stats_arg, &st);
	else if (m->get_sched != NULL && (s = m->get_sched(m->get_sched_arg)) != NULL)
		relay_sched_stats(s, &st);
	if (st.oldest_arrival_s != 0 && now_s > st.oldest_arrival_s)
		age = now_s - st.oldest_arrival_s;

	evbuffer_add_printf(b,
	                    "# HELP daneguard_relay_messages_accepted_total Messages the "
	                    "receiver wrote to the queue.\n"
	                    "# TYPE daneguard_relay_messages_accepted_total counter\n"
	                    "daneguard_relay_messages_accepted_total %llu\n"
	                    "# HELP daneguard_relay_accepted_bytes_total Bytes of the accepted "
	                    "messages.\n"
	                    "# TYPE daneguard_relay_accepted_bytes_total counter\n"
	                    "daneguard_relay_accepted_bytes_total %llu\n",
	                    (unsigned long long)m->accepted, (unsigned long long)m->accepted_bytes);
	evbuffer_add_printf(b,
	                    "# HELP daneguard_relay_recipients_total Recipients by the outcome "
	                    "of their delivery attempts.\n"
	                    "# TYPE daneguard_relay_recipients_total counter\n"
	                    "daneguard_relay_recipients_total{result=\"delivered\"} %llu\n"
	                    "daneguard_relay_recipients_total{result=\"deferred\"} %llu\n"
	                    "daneguard_relay_recipients_total{result=\"bounced\"} %llu\n",
	                    (unsigned long long)st.delivered, (unsigned long long)st.deferred,
	                    (unsigned long long)st.bounced);
	render_attempts(m, b);
	render_sessions(m, b);
	evbuffer_add_printf(b,
	                    "# HELP daneguard_relay_queue_messages Messages in the queue.\n"
	                    "# TYPE daneguard_relay_queue_messages gauge\n"
	                    "daneguard_relay_queue_messages %zu\n"
	                    "# HELP daneguard_relay_queue_oldest_age_seconds Age of the oldest "
	                    "queued message, 0 when the queue is empty.\n"
	                    "# TYPE daneguard_relay_queue_oldest_age_seconds gauge\n"
	                    "daneguard_relay_queue_oldest_age_seconds %llu\n"
	                    "# HELP daneguard_relay_deliveries_in_flight Delivery jobs running.\n"
	                    "# TYPE daneguard_relay_deliveries_in_flight gauge\n"
	                    "daneguard_relay_deliveries_in_flight %u\n",
	                    st.messages, (unsigned long long)age, st.active_jobs);
	evbuffer_add_printf(b, "# HELP daneguard_relay_alarm_active Queue alarm raised (1) or "
	                       "not (0).\n# TYPE daneguard_relay_alarm_active gauge\n");
	for (int k = 0; k < RELAY_ALARM_KINDS; k++)
		evbuffer_add_printf(b, "daneguard_relay_alarm_active{alarm=\"%s\"} %d\n",
		                    relay_alarm_kind_str((enum relay_alarm_kind)k),
		                    relay_alarm_is_active(m->alarm, (enum relay_alarm_kind)k) ? 1
		                                                                              : 0);
	render_hist(b, "daneguard_relay_delivery_duration_seconds",
	            "Delivery sessions, connection start to the end of the message's attempt.",
	            &m->delivery);
	render_hist(b, "daneguard_relay_queue_delay_seconds",
	            "Arrival in the queue to delivery, per message accepted by a server.",
	            &m->delay);
}

/* Only combinations seen so far: up to 5 x 7 x 12 series, most of them never used. */
static void render_attempts(const struct relay_metrics *m, struct evbuffer *b)
{
	evbuffer_add_printf(b, "# HELP daneguard_relay_attempts_total Delivery attempts by "
	                       "result, policy and RFC 8460 result type.\n"
	                       "# TYPE daneguard_relay_attempts_total counter\n");
	for (size_t r = 0; r < N_RESULT; r++)
		for (size_t p = 0; p < N_POLICY; p++)
			for (size_t t = 0; t < N_RPT; t++)
				if (m->attempts[r][p][t] != 0)
					evbuffer_add_printf(
					    b,
					    "daneguard_relay_attempts_total{result=\"%s\","
					    "policy=\"%s\",rpt_type=\"%s\"} %llu\n",
					    result_names[r], policy_names[p], rpt_names[t],
					    (unsigned long long)m->attempts[r][p][t]);
}

static void render_sessions(const struct relay_metrics *m, struct evbuffer *b)
{
	static const char *const outcome[2] = {"verified", "failed"};
	static const char *const sts_mode[2] = {"enforce", "testing"};

	evbuffer_add_printf(b, "# HELP daneguard_relay_dane_sessions_total Sessions to DANE "
	                       "hosts: server authenticated or not, per policy.\n"
	                       "# TYPE daneguard_relay_dane_sessions_total counter\n");
	/* "dane" and "dane-only" are the DANE destination classes; always shown */
	for (size_t p = 0; p < N_POLICY; p++)
		for (size_t o = 0; o < 2; o++)
			if (p <= 1 || m->dane[p][o] != 0)
				evbuffer_add_printf(
				    b,
				    "daneguard_relay_dane_sessions_total{policy=\"%s\","
				    "outcome=\"%s\"} %llu\n",
				    policy_names[p], outcome[o], (unsigned long long)m->dane[p][o]);
	evbuffer_add_printf(b, "# HELP daneguard_relay_sts_sessions_total Sessions to MTA-STS "
	                       "hosts: server authenticated or not, per policy mode.\n"
	                       "# TYPE daneguard_relay_sts_sessions_total counter\n");
	for (size_t md = 0; md < 2; md++)
		for (size_t o = 0; o < 2; o++)
			evbuffer_add_printf(b,
			                    "daneguard_relay_sts_sessions_total{mode=\"%s\","
			                    "outcome=\"%s\"} %llu\n",
			                    sts_mode[md], outcome[o],
			                    (unsigned long long)m->sts[md][o]);
}

/* Prometheus buckets are cumulative; ours are not. */
static void render_hist(struct evbuffer *b, const char *name, const char *help,
                        const struct relay_hist *h)
{
	uint64_t cum = 0;

	evbuffer_add_printf(b, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
	for (size_t i = 0; i < h->n; i++) {
		cum += h->bucket[i];
		evbuffer_add_printf(b, "%s_bucket{le=\"%g\"} %llu\n", name,
		                    (double)h->bounds[i] / 1000.0, (unsigned long long)cum);
	}
	evbuffer_add_printf(b, "%s_bucket{le=\"+Inf\"} %llu\n%s_sum %.3f\n%s_count %llu\n", name,
	                    (unsigned long long)h->count, name, (double)h->sum_ms / 1000.0, name,
	                    (unsigned long long)h->count);
}
