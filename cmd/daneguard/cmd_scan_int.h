/*
 * cmd_scan_int.h - private to "daneguard scan": the --metrics endpoint (cmd_scan_metrics.c)
 * and the snapshot of counters cmd_scan.c hands it on each scrape; the shared work queue
 * on PostgreSQL (cmd_scan_worker.c: --enqueue, --worker).
 */
#ifndef DG_CMD_SCAN_INT_H
#define DG_CMD_SCAN_INT_H

#include <daneguard/err.h>
#include <daneguard/report.h>
#include <daneguard/scan.h>

#include <stddef.h>
#include <stdint.h>

struct event_base;
struct evbuffer;
struct scan_metrics;

/** What one scrape shows: the scan's counters and the engine's. */
struct scan_metrics_snap {
	uint64_t verdicts[DG_VERDICT_NULL_MX + 1]; /**< domains checked, per verdict */
	uint64_t malformed;                        /**< malformed input lines */
	size_t in_flight;                          /**< domains being checked now */
	struct dg_engine_stats eng;                /**< probes and latency histograms */
};

/** Fill @p out with the counters now; called from the loop on each scrape. */
typedef void scan_metrics_snap_fn(void *arg, struct scan_metrics_snap *out);

/**
 * Serve Prometheus text exposition on GET /metrics at @p addr_port, on @p base.
 * @param base the scan's loop (borrowed; outlives the endpoint)
 * @param addr_port "ADDR:PORT" or "[ADDR6]:PORT" (borrowed); bound to that address only
 * @param fn, arg called on each scrape (borrowed)
 * @param out the endpoint, freed with scan_metrics_free()
 * @return DG_OK, DG_E_CONFIG (bad ADDR:PORT), DG_E_IO (cannot bind), @p err filled
 */
enum dg_status scan_metrics_start(struct event_base *base, const char *addr_port,
                                  scan_metrics_snap_fn *fn, void *arg, struct scan_metrics **out,
                                  struct dg_err *err);

/** Stop serving and free the endpoint. NULL ok. */
void scan_metrics_free(struct scan_metrics *m);

/**
 * Render @p s as Prometheus text exposition (version 0.0.4) into @p out.
 * @param s the counters (borrowed)
 * @param out appended to (borrowed)
 */
void scan_metrics_render(const struct scan_metrics_snap *s, struct evbuffer *out);

/** What --worker needs from the command line (all borrowed). */
struct scan_worker_opts {
	const struct dg_engine_opts *eo;
	const struct dg_report_opts *ropts;
	const char *db;       /**< postgresql:// URL */
	unsigned concurrency; /**< domains in flight at once */
	unsigned batch;       /**< domains per claim */
	unsigned lease_s;     /**< a claim's lease; an expired one is taken over */
};

/**
 * "scan --db URL --enqueue FILE": create a run and queue every domain of @p file for the
 * workers; malformed lines are reported on stderr and skipped. Prints
 * {"run":N,"queued":N,"malformed":N} on stdout.
 * @return exit code (0, 66 unreadable input, 74 database)
 */
int scan_enqueue_main(const char *db, const char *file);

/**
 * "scan --db URL --worker": claim batches of queued domains, check them, record each
 * result (and print it as JSON Lines) until no domain of an incomplete run is left; mark
 * runs complete when every domain has its result.
 * @return exit code (0, 3 interrupted, 64 usage, 70 internal, 74 database)
 */
int scan_worker_main(const struct scan_worker_opts *o);

#endif /* DG_CMD_SCAN_INT_H */
