/*
 * dns_ctx.c - the dns context shared by both backends: lookups, coalescing, queue, per-query
 * timeouts, answer cache and delivery of callbacks on the event loop.
 *
 * Public: dg_dns_opts_init, dg_dns_new, dg_dns_new_fake, dg_dns_free, dg_dns_lookup,
 * dg_dns_cancel, dg_dns_get_stats. Private: dns_ctx_new, dns_entry_complete_pkt,
 * dns_entry_complete_fail.
 *
 * Ownership: struct dg_dns owns every entry (one per (name, type) query) through its table,
 * and every waiter (one per dg_dns_lookup call). An entry is reference-counted: the table
 * holds one reference, each waiter one; it is freed when the last goes. Answers handed to
 * callbacks are borrowed from the entry for the duration of the callback. Callbacks run only
 * from the delivery event, never from inside dg_dns_lookup(), so callers see one behaviour
 * whether the answer came from the cache, a coalesced query or the resolver. dg_dns_free()
 * from inside a callback marks the context closing; the delivery loop frees it on return
 * (STYLE.md section 5).
 *
 * SPEC: DNS-1/DNS-3 (security status and lookup errors kept apart from outcomes; failures
 * are delivered as INDETERMINATE), MX-1/HOST-10 (a timeout is a lookup error, not a denial).
 */
#include "dns/dns_int.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
	DNS_DEFAULT_TIMEOUT_MS = 15000,
	DNS_DEFAULT_MAX_INFLIGHT = 256,
	DNS_DEFAULT_CACHE_MAX = 100000,
	DNS_DEFAULT_CACHE_MAX_TTL_S = 3600,
	DNS_DEFAULT_CACHE_ERROR_TTL_S = 30
};

static struct dns_entry *entry_find(struct dg_dns *dns, const char *name, uint16_t type);
static struct dns_entry *entry_new(struct dg_dns *dns, const char *name, uint16_t type);
static void entry_unref(struct dg_dns *dns, struct dns_entry *e);
static void entry_destroy(struct dns_entry *e);
static void entry_unlink(struct dg_dns *dns, struct dns_entry *e);
static void entry_submit(struct dg_dns *dns, struct dns_entry *e);
static void entry_finish(struct dg_dns *dns, struct dns_entry *e);
static void entry_abandon(struct dg_dns *dns, struct dns_entry *e);
static uint32_t entry_cache_ttl(const struct dg_dns *dns, const struct dns_entry *e);
static void list_append(struct dns_entry **head, struct dns_entry **tail, struct dns_entry *e);
static void list_remove(struct dns_entry **head, struct dns_entry **tail, struct dns_entry *e);
static void waiter_attach(struct dns_entry *e, struct dns_waiter *w);
static void deliver_append(struct dg_dns *dns, struct dns_waiter *w);
static void dns_pump(struct dg_dns *dns);
static void dns_destroy(struct dg_dns *dns);
static void timeout_cb(evutil_socket_t fd, short what, void *arg);
static void deliver_cb(evutil_socket_t fd, short what, void *arg);

void dg_dns_opts_init(struct dg_dns_opts *opts)
{
	memset(opts, 0, sizeof(*opts));
	opts->timeout_ms = DNS_DEFAULT_TIMEOUT_MS;
	opts->max_inflight = DNS_DEFAULT_MAX_INFLIGHT;
	opts->cache_max = DNS_DEFAULT_CACHE_MAX;
	opts->cache_max_ttl_s = DNS_DEFAULT_CACHE_MAX_TTL_S;
	opts->cache_error_ttl_s = DNS_DEFAULT_CACHE_ERROR_TTL_S;
}

struct dg_dns *dns_ctx_new(struct event_base *base, const struct dg_dns_opts *opts)
{
	struct dg_dns *dns = dg_xcalloc(1, sizeof(*dns));
	struct dg_dns_opts defaults;

	if (opts == NULL) {
		dg_dns_opts_init(&defaults);
		opts = &defaults;
	}
	dns->base = base;
	dns->timeout_ms = opts->timeout_ms > 0 ? opts->timeout_ms : DNS_DEFAULT_TIMEOUT_MS;
	dns->max_inflight = opts->max_inflight > 0 ? opts->max_inflight : 1;
	dns->cache_max = opts->cache_max;
	dns->cache_max_ttl_s = opts->cache_max_ttl_s;
	dns->cache_error_ttl_s = opts->cache_error_ttl_s;
	dns->next_id = 1;
	dns->deliver_ev = event_new(base, -1, 0, deliver_cb, dns);
	if (dns->deliver_ev == NULL)
		DG_PANIC("event_new failed for the dns delivery event");
	return dns;
}

enum dg_status dg_dns_new(struct event_base *base, const struct dg_dns_opts *opts,
                          struct dg_dns **out, struct dg_err *err)
{
	struct dg_dns_opts defaults;
	struct dg_dns *dns;
	enum dg_status st;

	*out = NULL;
	if (opts == NULL) {
		dg_dns_opts_init(&defaults);
		opts = &defaults;
	}
	dns = dns_ctx_new(base, opts);
	dns->ops = &dns_unbound_ops;
	st = dns_unbound_setup(dns, opts, err);
	if (st != DG_OK) {
		dg_dns_free(dns);
		return st;
	}
	*out = dns;
	return DG_OK;
}

struct dg_dns *dg_dns_new_fake(struct event_base *base, const struct dg_dns_opts *opts)
{
	struct dg_dns *dns = dns_ctx_new(base, opts);

	dns->ops = &dns_fake_ops;
	dns_fake_setup(dns);
	return dns;
}

/* ---- lists and entries ---------------------------------------------------------------- */

static void list_append(struct dns_entry **head, struct dns_entry **tail, struct dns_entry *e)
{
	e->next = NULL;
	e->prev = *tail;
	if (*tail != NULL)
		(*tail)->next = e;
	else
		*head = e;
	*tail = e;
	e->in_list = true;
}

static void list_remove(struct dns_entry **head, struct dns_entry **tail, struct dns_entry *e)
{
	if (e->prev != NULL)
		e->prev->next = e->next;
	else
		*head = e->next;
	if (e->next != NULL)
		e->next->prev = e->prev;
	else
		*tail = e->prev;
	e->prev = e->next = NULL;
	e->in_list = false;
}

static struct dns_entry *entry_find(struct dg_dns *dns, const char *name, uint16_t type)
{
	uint64_t h = dns_hash_key(name, type);

	for (struct dns_hnode *n = dns_htab_first(&dns->entries, h); n != NULL;
	     n = dns_htab_next(n, h)) {
		struct dns_entry *e = (struct dns_entry *)n; /* hn is the first member */

		if (e->type == type && strcmp(e->name, name) == 0)
			return e;
	}
	return NULL;
}

static struct dns_entry *entry_new(struct dg_dns *dns, const char *name, uint16_t type)
{
	struct dns_entry *e = dg_xcalloc(1, sizeof(*e));

	e->dns = dns;
	e->name = dg_xstrdup(name);
	e->type = type;
	e->state = DNS_Q_QUEUED;
	e->refs = 1;
	e->in_table = true;
	e->hn.hash = dns_hash_key(name, type);
	dg_dns_answer_init(&e->ans);
	dns_htab_insert(&dns->entries, &e->hn);
	return e;
}

static void entry_unref(struct dg_dns *dns, struct dns_entry *e)
{
	(void)dns;
	if (e->refs == 0)
		DG_PANIC("dns entry %s refcount underflow", e->name);
	if (--e->refs > 0)
		return;
	entry_destroy(e);
}

/** Free an entry and its events and answer; its waiters are the caller's business. */
static void entry_destroy(struct dns_entry *e)
{
	if (e->timer != NULL)
		event_free(e->timer);
	if (e->fake_ev != NULL)
		event_free(e->fake_ev);
	dg_dns_answer_cleanup(&e->ans);
	free(e->name);
	free(e);
}

/** Take the entry out of the table and its list, dropping the table's reference. */
static void entry_unlink(struct dg_dns *dns, struct dns_entry *e)
{
	if (e->in_list) {
		if (e->state == DNS_Q_QUEUED) {
			list_remove(&dns->queue_head, &dns->queue_tail, e);
			dns->stats.queued--;
		} else {
			list_remove(&dns->lru_head, &dns->lru_tail, e);
			dns->stats.cached--;
		}
	}
	if (!e->in_table)
		return;
	dns_htab_remove(&dns->entries, &e->hn);
	e->in_table = false;
	entry_unref(dns, e);
}

static void waiter_attach(struct dns_entry *e, struct dns_waiter *w)
{
	w->entry = e;
	e->refs++;
	if (e->state == DNS_Q_DONE)
		return;
	e->live_waiters++;
	w->next = NULL;
	if (e->wait_tail != NULL)
		e->wait_tail->next = w;
	else
		e->wait_head = w;
	e->wait_tail = w;
}

static void deliver_append(struct dg_dns *dns, struct dns_waiter *w)
{
	w->next = NULL;
	if (dns->dl_tail != NULL)
		dns->dl_tail->next = w;
	else
		dns->dl_head = w;
	dns->dl_tail = w;
	event_active(dns->deliver_ev, 0, 0);
}

/* ---- running queries ------------------------------------------------------------------ */

static void entry_submit(struct dg_dns *dns, struct dns_entry *e)
{
	struct timeval tv = {(time_t)(dns->timeout_ms / 1000),
	                     (suseconds_t)(dns->timeout_ms % 1000) * 1000};
	struct dg_err err;

	e->state = DNS_Q_INFLIGHT;
	dns->stats.inflight++;
	dns->stats.backend_queries++;
	e->timer = evtimer_new(dns->base, timeout_cb, e);
	if (e->timer == NULL)
		DG_PANIC("evtimer_new failed for the dns query timer");
	evtimer_add(e->timer, &tv);
	dg_err_clear(&err);
	e->refs++; /* the backend may complete (and uncache) the entry inside submit() */
	if (dns->ops->submit(dns, e, &err) != DG_OK && e->state == DNS_Q_INFLIGHT)
		dns_entry_complete_fail(dns, e, DG_DNS_ERROR, -1, err.msg);
	entry_unref(dns, e);
}

/** Hand queued entries to the backend while slots are free. */
static void dns_pump(struct dg_dns *dns)
{
	while (dns->queue_head != NULL && dns->stats.inflight < dns->max_inflight &&
	       !dns->closing) {
		struct dns_entry *e = dns->queue_head;

		list_remove(&dns->queue_head, &dns->queue_tail, e);
		dns->stats.queued--;
		entry_submit(dns, e);
	}
}

static void timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	struct dns_entry *e = arg;
	struct dg_dns *dns = e->dns;
	char why[64];

	(void)fd;
	(void)what;
	if (e->state != DNS_Q_INFLIGHT)
		return;
	dns->ops->abort(dns, e);
	dns->stats.timeouts++;
	snprintf(why, sizeof(why), "no answer within %u ms", dns->timeout_ms);
	dns_entry_complete_fail(dns, e, DG_DNS_TIMEOUT, -1, why);
}

/** Seconds to keep a finished entry; 0 means do not cache. */
static uint32_t entry_cache_ttl(const struct dg_dns *dns, const struct dns_entry *e)
{
	const struct dg_dns_answer *a = &e->ans;
	uint32_t ttl = a->ttl_s;

	if (dns->cache_max == 0)
		return 0;
	if (a->security == DG_DNS_INDETERMINATE || a->security == DG_DNS_BOGUS ||
	    a->outcome == DG_DNS_SERVFAIL || a->outcome == DG_DNS_TIMEOUT ||
	    a->outcome == DG_DNS_ERROR)
		return dns->cache_error_ttl_s;
	for (size_t i = 0; i < a->n_chain; i++)
		if (a->chain[i].ttl_s < ttl)
			ttl = a->chain[i].ttl_s;
	return ttl < dns->cache_max_ttl_s ? ttl : dns->cache_max_ttl_s;
}

/** The answer in e->ans is final: hand it to the waiters and cache it. */
static void entry_finish(struct dg_dns *dns, struct dns_entry *e)
{
	struct dns_waiter *w, *next;
	uint32_t ttl;

	if (e->timer != NULL) {
		event_free(e->timer);
		e->timer = NULL;
	}
	e->state = DNS_Q_DONE;
	e->async_id = 0;
	dns->stats.inflight--;
	for (w = e->wait_head; w != NULL; w = next) {
		next = w->next;
		if (w->cancelled) {
			e->refs--; /* the table still holds one */
			free(w);
		} else {
			deliver_append(dns, w);
		}
	}
	e->wait_head = e->wait_tail = NULL;
	e->live_waiters = 0;
	ttl = entry_cache_ttl(dns, e);
	if (ttl == 0) {
		entry_unlink(dns, e);
	} else {
		e->expires_ms = dg_clock_mono_ms() + (uint64_t)ttl * 1000;
		list_append(&dns->lru_head, &dns->lru_tail, e);
		dns->stats.cached++;
		while (dns->stats.cached > dns->cache_max)
			entry_unlink(dns, dns->lru_head);
	}
	event_active(dns->deliver_ev, 0, 0); /* also pumps the queue: a slot is free */
}

void dns_entry_complete_pkt(struct dg_dns *dns, struct dns_entry *e, int rcode, const uint8_t *pkt,
                            size_t len, enum dg_dns_security sec, const char *why_bogus)
{
	struct dg_dns_answer *a = &e->ans;
	char why[64];

	if (e->state != DNS_Q_INFLIGHT)
		return;
	if ((rcode == 0 || rcode == 3) && pkt != NULL && len > 0) {
		if (dg_dns_parse_answer(pkt, len, e->name, e->type, a, NULL) != DG_OK ||
		    a->outcome == DG_DNS_SERVFAIL || a->outcome == DG_DNS_ERROR) {
			a->security = DG_DNS_INDETERMINATE; /* SPEC DNS-3 */
		} else {
			a->security = sec;
			if (sec == DG_DNS_BOGUS)
				a->why_bogus =
				    dg_xstrdup(why_bogus != NULL ? why_bogus : "validation failed");
		}
		entry_finish(dns, e);
		return;
	}
	snprintf(why, sizeof(why), "resolver answered rcode %d%s", rcode,
	         rcode == 2 ? " (SERVFAIL)" : "");
	dns_entry_complete_fail(dns, e, rcode == 2 ? DG_DNS_SERVFAIL : DG_DNS_ERROR, rcode, why);
}

void dns_entry_complete_fail(struct dg_dns *dns, struct dns_entry *e, enum dg_dns_outcome outcome,
                             int rcode, const char *reason)
{
	struct dg_dns_answer *a = &e->ans;

	if (e->state != DNS_Q_INFLIGHT)
		return;
	dg_dns_answer_cleanup(a);
	a->qname = dg_xstrdup(e->name);
	a->qtype = e->type;
	a->canonical = dg_xstrdup(e->name);
	a->security = DG_DNS_INDETERMINATE;
	a->outcome = outcome;
	a->rcode = rcode;
	a->reason = dg_xstrdup(reason != NULL ? reason : dg_dns_outcome_str(outcome));
	entry_finish(dns, e);
}

/** No waiter is left: stop the query and forget the entry. */
static void entry_abandon(struct dg_dns *dns, struct dns_entry *e)
{
	struct dns_waiter *w, *next;

	if (e->state == DNS_Q_INFLIGHT) {
		dns->ops->abort(dns, e);
		if (e->timer != NULL) {
			event_free(e->timer);
			e->timer = NULL;
		}
		dns->stats.inflight--;
		e->state = DNS_Q_DONE; /* never completes now */
	} else if (e->state == DNS_Q_QUEUED && e->in_list) {
		list_remove(&dns->queue_head, &dns->queue_tail, e);
		dns->stats.queued--;
	}
	for (w = e->wait_head; w != NULL; w = next) {
		next = w->next;
		e->refs--;
		free(w);
	}
	e->wait_head = e->wait_tail = NULL;
	entry_unlink(dns, e);
}

/* ---- delivery ------------------------------------------------------------------------- */

static void deliver_cb(evutil_socket_t fd, short what, void *arg)
{
	struct dg_dns *dns = arg;
	struct dns_waiter *w, *next;

	(void)fd;
	(void)what;
	dns_pump(dns);
	w = dns->dl_head; /* this batch; callbacks may append a new one */
	dns->dl_head = dns->dl_tail = NULL;
	dns->in_callback++;
	for (; w != NULL; w = next) {
		next = w->next;
		if (!w->cancelled && !dns->closing) {
			dns_htab_remove(&dns->waiters, &w->hn);
			w->cb(w->arg, &w->entry->ans);
		}
		entry_unref(dns, w->entry);
		free(w);
	}
	dns->in_callback--;
	if (dns->closing && dns->in_callback == 0)
		dns_destroy(dns);
}

/* ---- public lookups ------------------------------------------------------------------- */

enum dg_status dg_dns_lookup(struct dg_dns *dns, const char *name, uint16_t rrtype, dg_dns_cb *cb,
                             void *arg, uint64_t *id, struct dg_err *err)
{
	char key[DG_NAME_BUF_SIZE];
	struct dns_entry *e;
	struct dns_waiter *w;
	enum dg_status st;

	if (id != NULL)
		*id = 0;
	if (dns->closing)
		return dg_err_set(err, DG_E_INTERNAL, "DNS lookup of %s: context is closing",
		                  name != NULL ? name : "(null)");
	if (rrtype == 0 || cb == NULL)
		return dg_err_set(err, DG_E_PARSE, "DNS lookup of %s: type 0 or no callback",
		                  name != NULL ? name : "(null)");
	st = dg_name_normalize(name, key, sizeof(key), err);
	if (st != DG_OK)
		return st;
	e = entry_find(dns, key, rrtype);
	if (e != NULL && e->state == DNS_Q_DONE && e->expires_ms <= dg_clock_mono_ms()) {
		entry_unlink(dns, e); /* stale */
		e = NULL;
	}
	w = dg_xcalloc(1, sizeof(*w));
	w->id = dns->next_id++;
	w->cb = cb;
	w->arg = arg;
	w->hn.hash = dns_hash_id(w->id);
	dns_htab_insert(&dns->waiters, &w->hn);
	dns->stats.lookups++;
	if (id != NULL)
		*id = w->id;
	if (e == NULL) {
		e = entry_new(dns, key, rrtype);
		waiter_attach(e, w);
		list_append(&dns->queue_head, &dns->queue_tail, e);
		dns->stats.queued++;
		dns_pump(dns);
	} else if (e->state == DNS_Q_DONE) {
		dns->stats.cache_hits++;
		list_remove(&dns->lru_head, &dns->lru_tail, e); /* most recently used last */
		list_append(&dns->lru_head, &dns->lru_tail, e);
		waiter_attach(e, w);
		deliver_append(dns, w);
	} else {
		dns->stats.coalesced++;
		waiter_attach(e, w);
	}
	return DG_OK;
}

bool dg_dns_cancel(struct dg_dns *dns, uint64_t id)
{
	uint64_t h = dns_hash_id(id);
	struct dns_waiter *w = NULL;
	struct dns_entry *e;

	if (dns == NULL || id == 0)
		return false;
	for (struct dns_hnode *n = dns_htab_first(&dns->waiters, h); n != NULL;
	     n = dns_htab_next(n, h)) {
		if (((struct dns_waiter *)n)->id == id) {
			w = (struct dns_waiter *)n;
			break;
		}
	}
	if (w == NULL || w->cancelled)
		return false;
	dns_htab_remove(&dns->waiters, &w->hn);
	w->cancelled = true;
	dns->stats.cancelled++;
	e = w->entry;
	if (e->state != DNS_Q_DONE && --e->live_waiters == 0) {
		entry_abandon(dns, e);
		dns_pump(dns);
	}
	return true;
}

void dg_dns_get_stats(const struct dg_dns *dns, struct dg_dns_stats *out)
{
	*out = dns->stats;
}

/* ---- teardown ------------------------------------------------------------------------- */

static void dns_destroy(struct dg_dns *dns)
{
	struct dns_waiter *w, *wnext;

	/* Stop every query first, so that no backend completion can follow. */
	for (size_t i = 0; i < dns->entries.n_buckets; i++) {
		for (struct dns_hnode *n = dns->entries.buckets[i]; n != NULL; n = n->next) {
			struct dns_entry *e = (struct dns_entry *)n;

			if (e->state == DNS_Q_INFLIGHT)
				dns->ops->abort(dns, e);
		}
	}
	if (dns->ops != NULL && dns->ops->destroy != NULL)
		dns->ops->destroy(dns);
	for (w = dns->dl_head; w != NULL; w = wnext) {
		wnext = w->next;
		entry_unref(dns, w->entry);
		free(w);
	}
	for (size_t i = 0; i < dns->entries.n_buckets; i++) {
		struct dns_hnode *n = dns->entries.buckets[i], *nnext;

		for (; n != NULL; n = nnext) {
			struct dns_entry *e = (struct dns_entry *)n;

			nnext = n->next;
			for (w = e->wait_head; w != NULL; w = wnext) {
				wnext = w->next;
				free(w);
			}
			entry_destroy(e);
		}
	}
	dns_htab_cleanup(&dns->entries);
	dns_htab_cleanup(&dns->waiters);
	event_free(dns->deliver_ev);
	free(dns);
}

void dg_dns_free(struct dg_dns *dns)
{
	if (dns == NULL)
		return;
	if (dns->in_callback > 0) {
		dns->closing = true; /* freed by deliver_cb when the callback returns */
		return;
	}
	dns_destroy(dns);
}
