/*
 * relay_tlsrpt.h - private to lib/relay: TLS-RPT (RFC 8460) aggregate reports of the relay's
 * own deliveries (issue 9). The scheduler process creates one and registers
 * relay_tlsrpt_attempt() as a struct relay_observer; see docs/internals/tlsrpt.md.
 */
#ifndef DG_RELAY_TLSRPT_H
#define DG_RELAY_TLSRPT_H

#include "relay_int.h"

#include <daneguard/queue.h>
#include <daneguard/tlsrpt.h>

struct event_base;
struct relay_tlsrpt;

/** Period of the housekeeping timer: journal fsync, finished HTTPS posts, the daily run. */
#define RELAY_TLSRPT_TICK_S 5
/** Longest HTTPS POST of one report (connect included), seconds. */
#define RELAY_TLSRPT_POST_TIMEOUT_S 60
/** First retry delay after a failed delivery of a report; doubles per failure. */
#define RELAY_TLSRPT_RETRY_MIN_S 300
/** Largest retry delay. */
#define RELAY_TLSRPT_RETRY_MAX_S (6 * 3600)
/** Retries end this long after the first attempt (SPEC RPT-7: up to 24 h). */
#define RELAY_TLSRPT_RETRY_WINDOW_S DG_RELAY_TLSRPT_RETRY_WINDOW_S
/** The daily run starts at tlsrpt-hour plus a random delay below this (RFC 8460 4.1). */
#define RELAY_TLSRPT_JITTER_S 900
/** HTTPS posts in flight at once; more wait for the next tick. */
#define RELAY_TLSRPT_POSTS_MAX 8

/**
 * Create the reporter: open the store (conf->tlsrpt_dir, else QUEUE/tlsrpt) and start the
 * timer on @p base.
 * @param base       event loop of the scheduler process (borrowed; outlives the reporter)
 * @param conf       configuration (borrowed; outlives the reporter)
 * @param q          the relay's queue, where report mails go (borrowed; outlives it)
 * @param queued     called with the id of each queued report mail so the scheduler picks
 *                   it up (relay_sched_notify); may be NULL
 * @param queued_arg its argument
 * @param log        logger (borrowed)
 * @param out        receives the reporter; free with relay_tlsrpt_free()
 * @param err        error detail (may be NULL)
 * @return DG_OK, DG_E_IO, DG_E_CONFIG or DG_E_INTERNAL
 */
enum dg_status relay_tlsrpt_new(struct event_base *base, const struct dg_relay_conf *conf,
                                struct dg_queue *q, void (*queued)(void *arg, const char *id),
                                void *queued_arg, const struct dg_log *log,
                                struct relay_tlsrpt **out, struct dg_err *err);

/**
 * Observer (struct relay_observer.attempt): record one delivery attempt for TLS-RPT. Only
 * domains whose engine result has a valid TLS-RPT record with rua are recorded. A session
 * over TLS without a result type counts as a success of the policy applied (verified for
 * tlsa and sts); an attempt with a->rpt_type (also a domain decision, a->host == NULL) is a
 * failure row; other attempts (transient, cleartext without a policy) are not reported
 * (RFC 8460 4.3.4).
 * @param arg the struct relay_tlsrpt
 * @param a   the attempt (borrowed for the call)
 */
void relay_tlsrpt_attempt(void *arg, const struct relay_attempt *a);

/**
 * Build and send the reports of @p day now, whatever the hour, skipping what was delivered
 * already (the record of sent reports) and HTTPS posts still running; backoff is ignored.
 * @param t   reporter (borrowed)
 * @param day "YYYY-MM-DD" (borrowed)
 * @return DG_OK, DG_E_PARSE (bad day) or the first error met (logged too)
 */
enum dg_status relay_tlsrpt_run_now(struct relay_tlsrpt *t, const char *day);

/** Stop the timer, abort and join running posts, sync and free. @param t taken, NULL ok */
void relay_tlsrpt_free(struct relay_tlsrpt *t);

#endif /* DG_RELAY_TLSRPT_H */
