/*
 * relay_metrics.h - the relay's operational signals: a Prometheus endpoint
 * (relay_metrics.c) and the queue alarm (relay_alarm.c), both living in the scheduler
 * process on its event_base.
 *
 * Private API of lib/relay (the integrator may merge it into relay_int.h). Contract, metric
 * names and limits: docs/internals/relay-metrics.md; operator view: docs/relay.md sections
 * "Metrics" and "Queue alarms".
 */
#ifndef DG_RELAY_METRICS_H
#define DG_RELAY_METRICS_H

#include "relay_int.h"

#include <daneguard/err.h>
#include <daneguard/relay.h>
#include <daneguard/util.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct event_base;
struct evbuffer;

/* ---- queue alarm (relay_alarm.c) ------------------------------------------------------- */

/** The two queue alarms; each is raised and cleared on its own. */
enum relay_alarm_kind {
	RELAY_ALARM_QUEUE_SIZE = 0, /**< queued messages >= alarm-queue-size */
	RELAY_ALARM_QUEUE_AGE = 1,  /**< age of the oldest message >= alarm-queue-age */
	RELAY_ALARM_KINDS = 2
};

/** Default period of the check (ms) and run-time bound of the alarm command (ms). */
#define RELAY_ALARM_CHECK_MS 10000u
#define RELAY_ALARM_CMD_LIMIT_MS 30000u

struct relay_alarm;

/**
 * Fill @p out with the scheduler's current counters (relay_sched_stats() in the daemon).
 * @param arg the argument given to relay_alarm_new() (borrowed)
 * @param out counters (borrowed, overwritten)
 */
typedef void relay_alarm_stats_fn(void *arg, struct relay_sched_stats *out);

/**
 * Start the periodic queue check on @p base (every RELAY_ALARM_CHECK_MS). With both
 * thresholds of @p conf at 0 the object exists but never raises an alarm.
 * @param base      event loop (borrowed; must outlive the alarm)
 * @param conf      alarm_queue_size, alarm_queue_age_s, alarm_command (borrowed; must
 *                  outlive the alarm; a SIGHUP re-read is seen at the next check)
 * @param get_stats counters source (called from the loop)
 * @param arg       its argument (borrowed)
 * @param log       where the warning and info lines go (borrowed)
 * @param out       the alarm, freed with relay_alarm_free(); NULL after an error
 * @return DG_OK, or DG_E_INTERNAL when the timer cannot be armed
 */
enum dg_status relay_alarm_new(struct event_base *base, const struct dg_relay_conf *conf,
                               relay_alarm_stats_fn *get_stats, void *arg, const struct dg_log *log,
                               struct relay_alarm **out, struct dg_err *err);

/**
 * Stop the check; an alarm command still running is killed (SIGKILL to its process group)
 * and reaped. NULL is ignored.
 */
void relay_alarm_free(struct relay_alarm *a);

/** @return whether alarm @p kind is raised now (false for NULL @p a). */
bool relay_alarm_is_active(const struct relay_alarm *a, enum relay_alarm_kind kind);

/** @return "queue-size" or "queue-age" (static). */
const char *relay_alarm_kind_str(enum relay_alarm_kind kind);

/**
 * Run one check now (the timer calls this every period). Exposed for the daemon to check at
 * start-up and for tests.
 */
void relay_alarm_check(struct relay_alarm *a);

/**
 * Change the check period and the alarm command's run-time bound (tests use short ones).
 * @param check_ms period of the check, > 0
 * @param limit_ms a command still running after this long is killed, > 0
 */
void relay_alarm_set_timing(struct relay_alarm *a, unsigned check_ms, unsigned limit_ms);

/** @return whether an alarm command is running now (tests, shutdown). */
bool relay_alarm_cmd_running(const struct relay_alarm *a);

/* ---- Prometheus endpoint (relay_metrics.c) -------------------------------------------- */

struct relay_metrics;

/**
 * Create the relay's counters and, when conf->has_metrics, serve them as Prometheus text
 * (format 0.0.4) on GET /metrics at conf->metrics. Counters are kept even without the
 * endpoint, so the observer can always be registered.
 * @param base     event loop (borrowed; must outlive the object)
 * @param conf     configuration (borrowed; must outlive the object)
 * @param get_sched returns the scheduler whose relay_sched_stats() feed the queue gauges and
 *                 recipient counters, or NULL when there is none (yet): they read 0
 * @param arg      its argument (borrowed)
 * @param log      diagnostics (borrowed)
 * @param out      the object, freed with relay_metrics_free(); NULL after an error
 * @return DG_OK; DG_E_IO when the address cannot be bound (the message names it)
 */
enum dg_status relay_metrics_new(struct event_base *base, const struct dg_relay_conf *conf,
                                 struct relay_sched *(*get_sched)(void *), void *arg,
                                 const struct dg_log *log, struct relay_metrics **out,
                                 struct dg_err *err);

/** Stop serving and free. NULL is ignored. */
void relay_metrics_free(struct relay_metrics *m);

/**
 * Observer of delivery attempts (struct relay_observer, arg = the struct relay_metrics).
 * @param arg the metrics object (borrowed)
 * @param a   the attempt (borrowed for the call)
 */
void relay_metrics_attempt(void *arg, const struct relay_attempt *a);

/**
 * Count one message accepted into the queue (the scheduler calls it for each QUEUED
 * notification of the receiver).
 * @param bytes its size, 0 when unknown
 */
void relay_metrics_accepted(struct relay_metrics *m, size_t bytes);

/**
 * Let the endpoint show daneguard_relay_alarm_active for @p a (borrowed; NULL: both 0).
 * Call relay_metrics_set_alarm(m, NULL) before freeing the alarm.
 */
void relay_metrics_set_alarm(struct relay_metrics *m, const struct relay_alarm *a);

/**
 * Replace the source of the scheduler counters (tests; the daemon uses get_sched).
 * @param fn  fills the counters; NULL restores get_sched
 * @param arg its argument (borrowed)
 */
void relay_metrics_set_stats_fn(struct relay_metrics *m, relay_alarm_stats_fn *fn, void *arg);

/**
 * Append the whole exposition to @p out as the endpoint serves it.
 * @param now_s wall-clock seconds for queue_oldest_age_seconds
 */
void relay_metrics_render(struct relay_metrics *m, uint64_t now_s, struct evbuffer *out);

#endif /* DG_RELAY_METRICS_H */
