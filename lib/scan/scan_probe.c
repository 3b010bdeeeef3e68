/*
 * scan_probe.c - the table of TLS probes shared by every domain of a run.
 *
 * Internal: scan_probe_request, scan_probe_table_free, scan_probe_forget_check.
 * Each (address, port, SNI, key type) is probed at most once per engine; later
 * requests join the waiters of a running probe or get the stored outcome on
 * the next loop turn. The chain is kept so that each domain re-verifies it with
 * its own TLSA set and reference identifiers (SPEC AUTH-5). At most
 * opts.max_probes run at once, and at most opts.max_probes_per_addr to one
 * address (a hoster's MX shared by thousands of domains sees a few connections,
 * never a burst); the rest wait in FIFO order, a probe blocked by its address's
 * cap letting later probes to other addresses pass. Two more limits (STYLE 6):
 * at most opts.max_probes_per_host run to the addresses of one MX host name (the
 * name of the first check's host that asked for the probe), and two probe starts
 * to one address are at least opts.conn_delay_ms apart; a probe held back by the
 * delay is retried by a timer when the delay ends. dg_engine_get_stats() counts
 * requests, entries and starts, the peaks per address and per host and the
 * shortest gap between starts to one address, so tests prove each limit.
 *
 * Ownership: the engine owns every entry; waiters point at scan_addr objects
 * owned by their check, removed by scan_probe_forget_check() on abort.
 */
#include "scan_int.h"

#include <event2/event.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

static struct scan_probe *probe_find(struct dg_engine *eng, const char *key, size_t *bucket);
static void probe_run_queue(struct dg_engine *eng);
static void probe_start(struct scan_probe *p);
static void probe_done(void *arg, struct dg_smtp_probe_result *res);
static void probe_notify(struct scan_probe *p);
static void probe_later_cb(evutil_socket_t fd, short what, void *arg);
static size_t hash_str(const char *s);
static struct scan_load *load_get(struct scan_load **table, const char *key);
static void load_free(struct scan_load **table);
static struct scan_probe *queue_take_eligible(struct dg_engine *eng, uint64_t now,
					      uint64_t *due);
static bool probe_is_eligible(struct dg_engine *eng, const struct scan_probe *p,
			      uint64_t now, uint64_t *due);
static void queue_arm_timer(struct dg_engine *eng, uint64_t now, uint64_t due);
static void queue_timer_cb(evutil_socket_t fd, short what, void *arg);
static void probe_count_start(struct dg_engine *eng, struct scan_probe *p);
static void probe_describe_chain(struct scan_probe *p);

/* A waiter for a probe that is already done: answered on the next loop turn. */
struct probe_later {
	struct scan_probe *p;
	struct scan_waiter w;
	struct event *ev;
	struct probe_later *next;
};

void scan_probe_request(struct dg_engine *eng, struct scan_addr *sa, size_t slot,
			const char *addr, const char *sni, enum dg_probe_key key)
{
	char kbuf[512];
	size_t b;
	struct scan_probe *p;
	struct scan_waiter *w;

	snprintf(kbuf, sizeof(kbuf), "%s|%u|%s|%d", addr, (unsigned)eng->opts.port,
		 sni ? sni : "", (int)key);
	eng->stats.probe_requests++;
	p = probe_find(eng, kbuf, &b);
	if (p == NULL) {
		eng->stats.probes_created++;
		p = dg_xcalloc(1, sizeof(*p));
		p->key = dg_xstrdup(kbuf);
		snprintf(p->addr, sizeof(p->addr), "%s", addr);
		p->sni = sni ? dg_xstrdup(sni) : NULL;
		p->host = dg_xstrdup(sa->sh->h->expanded ? sa->sh->h->expanded : sa->sh->h->name);
		p->keytype = key;
		p->eng = eng;
		p->state = SCAN_PROBE_QUEUED;
		p->hnext = eng->probes[b];
		eng->probes[b] = p;
		if (eng->queue_tail != NULL)
			eng->queue_tail->qnext = p;
		else
			eng->queue_head = p;
		eng->queue_tail = p;
	}
	if (p->state == SCAN_PROBE_DONE) {
		struct probe_later *l = dg_xcalloc(1, sizeof(*l));

		l->p = p;
		l->w.sa = sa;
		l->w.slot = slot;
		l->ev = event_new(eng->base, -1, 0, probe_later_cb, l);
		l->next = eng->later;
		eng->later = l;
		event_active(l->ev, 0, 0);
		return;
	}
	w = dg_xcalloc(1, sizeof(*w));
	w->sa = sa;
	w->slot = slot;
	w->next = p->waiters;
	p->waiters = w;
	probe_run_queue(eng);
}

static struct scan_probe *probe_find(struct dg_engine *eng, const char *key, size_t *bucket)
{
	*bucket = hash_str(key) % SCAN_PROBE_BUCKETS;
	for (struct scan_probe *p = eng->probes[*bucket]; p != NULL; p = p->hnext)
		if (strcmp(p->key, key) == 0)
			return p;
	return NULL;
}

static void probe_run_queue(struct dg_engine *eng)
{
	uint64_t now = dg_clock_mono_ms(), due = UINT64_MAX;
	struct scan_probe *p;

	while (eng->probes_running < eng->opts.max_probes &&
	       (p = queue_take_eligible(eng, now, &due)) != NULL)
		probe_start(p);
	if (eng->probes_running < eng->opts.max_probes && due != UINT64_MAX)
		queue_arm_timer(eng, now, due);
}

/* The first queued probe under every limit, unlinked; NULL if none. @p due gets the
 * earliest time a probe held back only by conn_delay_ms becomes eligible. */
static struct scan_probe *queue_take_eligible(struct dg_engine *eng, uint64_t now,
					      uint64_t *due)
{
	struct scan_probe *prev = NULL;

	for (struct scan_probe *p = eng->queue_head; p != NULL; prev = p, p = p->qnext) {
		if (!probe_is_eligible(eng, p, now, due))
			continue;
		if (prev != NULL)
			prev->qnext = p->qnext;
		else
			eng->queue_head = p->qnext;
		if (eng->queue_tail == p)
			eng->queue_tail = prev;
		p->qnext = NULL;
		return p;
	}
	return NULL;
}

/* Under the per-address and per-host caps, and conn_delay_ms after the address's last
 * start (else lower *due to when it will be). */
static bool probe_is_eligible(struct dg_engine *eng, const struct scan_probe *p,
			      uint64_t now, uint64_t *due)
{
	unsigned cap_a = eng->opts.max_probes_per_addr > 0 ? eng->opts.max_probes_per_addr : 1;
	unsigned cap_h = eng->opts.max_probes_per_host > 0 ? eng->opts.max_probes_per_host : 1;
	const struct scan_load *la = load_get(eng->addr_load, p->addr);

	if (la->running >= cap_a || load_get(eng->host_load, p->host)->running >= cap_h)
		return false;
	if (la->started && eng->opts.conn_delay_ms > 0 &&
	    now < la->last_start_ms + eng->opts.conn_delay_ms) {
		if (la->last_start_ms + eng->opts.conn_delay_ms < *due)
			*due = la->last_start_ms + eng->opts.conn_delay_ms;
		return false;
	}
	return true;
}

/* Run the queue again at @p due (monotonic ms), unless a timer is already pending. */
static void queue_arm_timer(struct dg_engine *eng, uint64_t now, uint64_t due)
{
	uint64_t wait = due > now ? due - now : 1;
	struct timeval tv = {.tv_sec = (time_t)(wait / 1000),
			     .tv_usec = (suseconds_t)(wait % 1000) * 1000};

	if (eng->queue_timer == NULL)
		eng->queue_timer = evtimer_new(eng->base, queue_timer_cb, eng);
	if (evtimer_pending(eng->queue_timer, NULL))
		return;
	evtimer_add(eng->queue_timer, &tv);
}

static void queue_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	probe_run_queue(arg);
}

/* The running-probe count of @p key in @p table, created at zero. */
static struct scan_load *load_get(struct scan_load **table, const char *key)
{
	size_t b = hash_str(key) % SCAN_ADDR_BUCKETS;
	struct scan_load *l;

	for (l = table[b]; l != NULL; l = l->next)
		if (strcmp(l->key, key) == 0)
			return l;
	l = dg_xcalloc(1, sizeof(*l));
	snprintf(l->key, sizeof(l->key), "%s", key);
	l->next = table[b];
	table[b] = l;
	return l;
}

static void load_free(struct scan_load **table)
{
	for (size_t b = 0; b < SCAN_ADDR_BUCKETS; b++)
		while (table[b] != NULL) {
			struct scan_load *l = table[b];

			table[b] = l->next;
			free(l);
		}
}

/* Count a start against the address and host loads and the statistics. */
static void probe_count_start(struct dg_engine *eng, struct scan_probe *p)
{
	struct scan_load *la = load_get(eng->addr_load, p->addr);
	struct scan_load *lh = load_get(eng->host_load, p->host);
	uint64_t now = dg_clock_mono_ms();

	p->state = SCAN_PROBE_RUNNING;
	eng->probes_running++;
	la->running++;
	lh->running++;
	if (la->started && now - la->last_start_ms < eng->stats.min_addr_gap_ms)
		eng->stats.min_addr_gap_ms = now - la->last_start_ms;
	la->started = true;
	la->last_start_ms = now;
	eng->stats.probes_started++;
	if (la->running > eng->stats.peak_per_addr)
		eng->stats.peak_per_addr = la->running;
	if (lh->running > eng->stats.peak_per_host)
		eng->stats.peak_per_host = lh->running;
	if (eng->probes_running > eng->stats.peak_running)
		eng->stats.peak_running = (unsigned)eng->probes_running;
}

void dg_engine_get_stats(const struct dg_engine *eng, struct dg_engine_stats *out)
{
	*out = eng->stats;
}

static void probe_start(struct scan_probe *p)
{
	struct dg_engine *eng = p->eng;
	struct dg_smtp_probe_opts o;
	struct dg_err err = {0};
	static const enum dg_smtp_keytype kt[] = {DG_SMTP_KEY_ANY, DG_SMTP_KEY_ECDSA,
						  DG_SMTP_KEY_RSA};

	dg_smtp_probe_opts_init(&o);
	o.addr = p->addr;
	o.port = eng->opts.port;
	o.sni = p->sni;
	o.helo = eng->opts.helo;
	o.keytype = kt[p->keytype];
	o.ssl_ctx = dg_dane_ctx_ssl_ctx(eng->dane);
	o.connect_timeout_ms = eng->opts.timeout_ms;
	o.banner_timeout_ms = eng->opts.timeout_ms;
	o.cmd_timeout_ms = eng->opts.timeout_ms;
	o.tls_timeout_ms = eng->opts.timeout_ms;
	o.total_timeout_ms = eng->opts.timeout_ms * 4;
	o.transcript = eng->opts.transcript;
	probe_count_start(eng, p);
	if (dg_smtp_probe_start(eng->base, &o, probe_done, p, &p->probe, &err) != DG_OK) {
		struct dg_smtp_probe_result res;

		memset(&res, 0, sizeof(res));
		res.outcome = DG_SMTP_PROBE_CONNECT_FAILED;
		res.stage = DG_SMTP_STAGE_CONNECT;
		snprintf(res.reason, sizeof(res.reason), "%s:%u: probe could not start: %.160s",
			 p->addr, (unsigned)eng->opts.port, err.msg);
		p->probe = NULL;
		probe_done(p, &res);
	}
}

static void probe_done(void *arg, struct dg_smtp_probe_result *res)
{
	struct scan_probe *p = arg;
	struct dg_engine *eng = p->eng;

	p->probe = NULL;
	p->state = SCAN_PROBE_DONE;
	eng->probes_running--;
	load_get(eng->addr_load, p->addr)->running--;
	load_get(eng->host_load, p->host)->running--;
	p->outcome = res->outcome;
	p->stage = res->stage;
	p->reason = dg_xstrdup(res->reason);
	p->tls_version = res->tls_done ? dg_xstrdup(res->tls_version) : NULL;
	p->cipher = res->tls_done ? dg_xstrdup(res->cipher) : NULL;
	p->peer_key = res->tls_done ? dg_xstrdup(res->peer_key) : NULL;
	p->chain = dg_smtp_probe_result_take_chain(res);
	p->transcript = dg_smtp_probe_result_take_transcript(res);
	probe_describe_chain(p);
	probe_notify(p);
	probe_run_queue(eng);
}

/* Describe the first DG_MAX_CHAIN certificates that can be described, once for every
 * domain that reuses this probe (scan_addr.c copies them). */
static void probe_describe_chain(struct scan_probe *p)
{
	int n = p->chain != NULL ? sk_X509_num(p->chain) : 0;

	if (n <= 0)
		return;
	p->certs = dg_xcalloc(n < DG_MAX_CHAIN ? (size_t)n : DG_MAX_CHAIN, sizeof(*p->certs));
	for (int i = 0; i < n && p->n_certs < DG_MAX_CHAIN; i++) {
		struct dg_err err = {0};

		if (dg_cert_info_get(sk_X509_value(p->chain, i), &p->certs[p->n_certs], &err) ==
		    DG_OK)
			p->n_certs++;
		else
			dg_cert_info_cleanup(&p->certs[p->n_certs]);
	}
}

static void probe_notify(struct scan_probe *p)
{
	struct scan_waiter *w = p->waiters;

	p->waiters = NULL;
	while (w != NULL) {
		struct scan_waiter *next = w->next;

		scan_addr_probe_done(w->sa, w->slot, p);
		free(w);
		w = next;
	}
}

static void probe_later_cb(evutil_socket_t fd, short what, void *arg)
{
	struct probe_later *l = arg;
	struct dg_engine *eng = l->p->eng;

	(void)fd;
	(void)what;
	for (struct probe_later **pp = &eng->later; *pp != NULL; pp = &(*pp)->next)
		if (*pp == l) {
			*pp = l->next;
			break;
		}
	event_free(l->ev);
	scan_addr_probe_done(l->w.sa, l->w.slot, l->p);
	free(l);
}

/* A check is aborted: drop its waiters so no callback reaches freed memory. */
void scan_probe_forget_check(struct dg_engine *eng, struct scan_check *chk)
{
	for (size_t b = 0; b < SCAN_PROBE_BUCKETS; b++)
		for (struct scan_probe *p = eng->probes[b]; p != NULL; p = p->hnext)
			for (struct scan_waiter **pw = &p->waiters; *pw != NULL;) {
				if ((*pw)->sa->sh->chk == chk) {
					struct scan_waiter *dead = *pw;

					*pw = dead->next;
					free(dead);
				} else {
					pw = &(*pw)->next;
				}
			}
	for (struct probe_later **pl = &eng->later; *pl != NULL;) {
		if ((*pl)->w.sa->sh->chk == chk) {
			struct probe_later *dead = *pl;

			*pl = dead->next;
			event_free(dead->ev);
			free(dead);
		} else {
			pl = &(*pl)->next;
		}
	}
}

void scan_probe_table_free(struct dg_engine *eng)
{
	while (eng->later != NULL) {
		struct probe_later *l = eng->later;

		eng->later = l->next;
		event_free(l->ev);
		free(l);
	}
	for (size_t b = 0; b < SCAN_PROBE_BUCKETS; b++) {
		while (eng->probes[b] != NULL) {
			struct scan_probe *p = eng->probes[b];

			eng->probes[b] = p->hnext;
			dg_smtp_probe_cancel(p->probe);
			while (p->waiters != NULL) {
				struct scan_waiter *w = p->waiters;

				p->waiters = w->next;
				free(w);
			}
			if (p->chain != NULL)
				sk_X509_pop_free(p->chain, X509_free);
			for (size_t i = 0; i < p->n_certs; i++)
				dg_cert_info_cleanup(&p->certs[i]);
			free(p->certs);
			free(p->key);
			free(p->sni);
			free(p->host);
			free(p->reason);
			free(p->tls_version);
			free(p->cipher);
			free(p->peer_key);
			free(p->transcript);
			free(p);
		}
	}
	load_free(eng->addr_load);
	load_free(eng->host_load);
	if (eng->queue_timer != NULL)
		event_free(eng->queue_timer);
	eng->queue_timer = NULL;
}

/* FNV-1a */
static size_t hash_str(const char *s)
{
	size_t h = 1469598103934665603ULL;

	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}
