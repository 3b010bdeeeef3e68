/*
 * cmd_scan_metrics.c - "daneguard scan --metrics ADDR:PORT": Prometheus text exposition of
 * the running scan, served by libevent's evhttp on the scan's own loop.
 *
 * Internal (cmd_scan_int.h): scan_metrics_start, scan_metrics_free, scan_metrics_render.
 *
 * GET (or HEAD) /metrics answers text/plain version 0.0.4 with:
 *   daneguard_scan_domains_total{verdict}   counter, domains checked per verdict
 *   daneguard_scan_malformed_lines_total    counter
 *   daneguard_scan_in_flight_domains        gauge
 *   daneguard_scan_probes_started_total     counter, TLS probes started
 *   daneguard_scan_dns_latency_seconds      histogram, MX lookup per domain
 *   daneguard_scan_tls_latency_seconds      histogram, first TLS probe per address
 * Any other path is 404, any other method 405. The listener is bound to the given address
 * only; requests are capped (headers 8 KiB, no body) and idle connections time out after
 * METRICS_TIMEOUT_S, so a slow client cannot hold the scan.
 *
 * Ownership: struct scan_metrics owns the evhttp server; the snapshot callback and its
 * argument are borrowed.
 */
#include "cmd_scan_int.h"

#include <daneguard/util.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include <stdlib.h>
#include <string.h>

enum { METRICS_TIMEOUT_S = 10, METRICS_MAX_HEADERS = 8192, METRICS_ADDR_MAX = 64 };

struct scan_metrics {
	struct evhttp *http;
	scan_metrics_snap_fn *fn;
	void *arg;
};

static enum dg_status split_addr(const char *addr_port, char *host, size_t host_len, uint16_t *port,
                                 struct dg_err *err);
static void serve_cb(struct evhttp_request *req, void *arg);
static void render_hist(struct evbuffer *b, const char *name, const char *help,
                        const struct dg_latency_hist *h);

/* "ADDR:PORT" or "[ADDR6]:PORT" into @p host and @p port. */
static enum dg_status split_addr(const char *addr_port, char *host, size_t host_len, uint16_t *port,
                                 struct dg_err *err)
{
	const char *colon = strrchr(addr_port, ':');
	const char *h = addr_port;
	size_t n;
	uint32_t v;

	if (colon == NULL || dg_parse_u32(colon + 1, 1, 65535, &v) != DG_OK)
		return dg_err_set(err, DG_E_CONFIG, "--metrics %s: want ADDR:PORT", addr_port);
	n = (size_t)(colon - addr_port);
	if (n >= 2 && h[0] == '[' && h[n - 1] == ']') {
		h++;
		n -= 2;
	}
	if (n == 0 || n >= host_len)
		return dg_err_set(err, DG_E_CONFIG, "--metrics %s: want ADDR:PORT", addr_port);
	memcpy(host, h, n);
	host[n] = '\0';
	*port = (uint16_t)v;
	return DG_OK;
}

enum dg_status scan_metrics_start(struct event_base *base, const char *addr_port,
                                  scan_metrics_snap_fn *fn, void *arg, struct scan_metrics **out,
                                  struct dg_err *err)
{
	char host[METRICS_ADDR_MAX];
	uint16_t port = 0;
	struct scan_metrics *m;
	enum dg_status st = split_addr(addr_port, host, sizeof(host), &port, err);

	*out = NULL;
	if (st != DG_OK)
		return st;
	m = dg_xcalloc(1, sizeof(*m));
	m->fn = fn;
	m->arg = arg;
	m->http = evhttp_new(base);
	if (m->http == NULL || evhttp_bind_socket(m->http, host, port) != 0) {
		scan_metrics_free(m);
		return dg_err_set(err, DG_E_IO, "--metrics %s: cannot listen there", addr_port);
	}
	evhttp_set_timeout(m->http, METRICS_TIMEOUT_S);
	evhttp_set_max_headers_size(m->http, METRICS_MAX_HEADERS);
	evhttp_set_max_body_size(m->http, 0);
	evhttp_set_allowed_methods(m->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD);
	evhttp_set_gencb(m->http, serve_cb, m);
	*out = m;
	return DG_OK;
}

void scan_metrics_free(struct scan_metrics *m)
{
	if (m == NULL)
		return;
	if (m->http != NULL)
		evhttp_free(m->http);
	free(m);
}

static void serve_cb(struct evhttp_request *req, void *arg)
{
	struct scan_metrics *m = arg;
	const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
	struct scan_metrics_snap snap;
	struct evbuffer *b;

	if (path == NULL || strcmp(path, "/metrics") != 0) {
		evhttp_send_error(req, HTTP_NOTFOUND, "only /metrics is served");
		return;
	}
	memset(&snap, 0, sizeof(snap));
	m->fn(m->arg, &snap);
	b = evbuffer_new();
	if (b == NULL) {
		evhttp_send_error(req, HTTP_INTERNAL, NULL);
		return;
	}
	scan_metrics_render(&snap, b);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
	                  "text/plain; version=0.0.4; charset=utf-8");
	evhttp_add_header(evhttp_request_get_output_headers(req), "Connection", "close");
	evhttp_send_reply(req, HTTP_OK, "OK", b);
	evbuffer_free(b);
}

void scan_metrics_render(const struct scan_metrics_snap *s, struct evbuffer *b)
{
	evbuffer_add_printf(b, "# HELP daneguard_scan_domains_total Domains checked, per "
	                       "verdict.\n# TYPE daneguard_scan_domains_total counter\n");
	for (int v = 0; v <= DG_VERDICT_NULL_MX; v++)
		evbuffer_add_printf(b, "daneguard_scan_domains_total{verdict=\"%s\"} %llu\n",
		                    dg_verdict_str((enum dg_verdict)v),
		                    (unsigned long long)s->verdicts[v]);
	evbuffer_add_printf(b,
	                    "# HELP daneguard_scan_malformed_lines_total Malformed input lines.\n"
	                    "# TYPE daneguard_scan_malformed_lines_total counter\n"
	                    "daneguard_scan_malformed_lines_total %llu\n"
	                    "# HELP daneguard_scan_in_flight_domains Domains being checked now.\n"
	                    "# TYPE daneguard_scan_in_flight_domains gauge\n"
	                    "daneguard_scan_in_flight_domains %zu\n"
	                    "# HELP daneguard_scan_probes_started_total TLS probes started.\n"
	                    "# TYPE daneguard_scan_probes_started_total counter\n"
	                    "daneguard_scan_probes_started_total %llu\n",
	                    (unsigned long long)s->malformed, s->in_flight,
	                    (unsigned long long)s->eng.probes_started);
	render_hist(b, "daneguard_scan_dns_latency_seconds",
	            "MX lookup latency per domain, start to answer.", &s->eng.dns_ms);
	render_hist(b, "daneguard_scan_tls_latency_seconds",
	            "First TLS probe per address, asked to answered.", &s->eng.tls_ms);
}

/* Prometheus buckets are cumulative; ours are not. */
static void render_hist(struct evbuffer *b, const char *name, const char *help,
                        const struct dg_latency_hist *h)
{
	uint64_t cum = 0;

	evbuffer_add_printf(b, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
	for (size_t i = 0; i < DG_LATENCY_BUCKETS; i++) {
		cum += h->bucket[i];
		evbuffer_add_printf(b, "%s_bucket{le=\"%.3f\"} %llu\n", name,
		                    dg_latency_bounds_ms[i] / 1000.0, (unsigned long long)cum);
	}
	evbuffer_add_printf(b, "%s_bucket{le=\"+Inf\"} %llu\n%s_sum %.3f\n%s_count %llu\n", name,
	                    (unsigned long long)h->count, name, (double)h->sum_ms / 1000.0, name,
	                    (unsigned long long)h->count);
}
