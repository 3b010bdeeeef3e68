/*
 * relay_sched.c - the scheduler: which queued recipients are due, grouped by destination
 * domain, delivered by jobs (relay_deliver.c) within the concurrency limits; results written
 * back to the queue; bounces returned to the sender as delivery status notifications.
 *
 * Public (relay_int.h): relay_sched_new, relay_sched_free, relay_sched_notify,
 * relay_sched_flush, relay_sched_delete, relay_sched_stop, relay_sched_stats.
 *
 * State: an in-memory index of the queue (one entry per message: arrival, per-recipient state
 * and domain, a busy mark while a job holds the recipient), rebuilt from the queue directory
 * at start and refreshed by a periodic rescan, so a notification lost between the receiver and
 * the scheduler only delays a message. The queue file stays the truth: every result is written
 * with dg_queue_update() (atomic replace) before the next attempt can depend on it; a message
 * whose recipients are all final is removed. A crash between a delivery and its update can
 * only deliver a message twice, never lose it.
 *
 * Retries: per destination domain, a deferral sets the domain's next try to now + backoff,
 * growing from retry-min and doubling to retry-max; a delivery resets it. A recipient deferred
 * for longer than queue-lifetime since arrival is bounced with its last reason (SPEC FAIL-2:
 * DANE holds are temporary until then). Bounces of messages with a sender produce one DSN
 * (lib/queue dg_dsn_build, RFC 3464) queued like any message; a null-sender message never
 * produces one.
 */
#include "relay_int.h"

#include <event2/event.h>
#include <idn2.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SCHED_TICK_MS 1000u
#define SCHED_RESCAN_S 30u
#define SCHED_BATCH_MAX 50u   /* messages per job (one connection reused for all) */
#define SCHED_INDEX_MAX 200000u /* messages the index holds; beyond, files wait for a rescan */

struct sched_rcpt {
	struct dg_queue_rcpt q;   /* copy of the queue record's state */
	char *domain;             /* lowercased domain of the address */
	bool busy;                /* held by a running job */
};

struct sched_msg {
	char id[DG_QUEUE_ID_SIZE];
	uint64_t arrival_s;
	bool null_sender;
	struct sched_rcpt *r;
	size_t n;
	unsigned jobs;            /* running jobs holding recipients of this message */
	bool deleted;             /* removed by an operator while a job held it */
	struct sched_msg *next;
};

struct sched_dest {
	char *domain;
	unsigned active;          /* running jobs */
	uint64_t next_try_s;      /* 0: now */
	unsigned fails;           /* consecutive deferred jobs */
	struct sched_dest *next;
};

struct sched_jobref {
	struct relay_sched *s;
	struct sched_dest *d;
	struct sched_msg **msgs;  /* index entries, parallel to job->m */
	struct dg_queue_msg *loaded; /* loaded records (owned) */
	size_t n;
	struct relay_job *job;
	struct sched_jobref *next;
};

struct relay_sched {
	struct relay_ctx *ctx;
	struct dg_queue *q;
	struct event *tick;
	struct sched_msg *msgs;
	size_t n_msgs;
	struct sched_dest *dests;
	struct sched_jobref *jobs;
	unsigned active;
	uint64_t last_rescan_s;
	bool stopping;
	struct relay_sched_stats st;
};

static void sched_tick_cb(evutil_socket_t fd, short what, void *arg);
static void sched_pump(struct relay_sched *s);
static void sched_rescan(struct relay_sched *s);
static struct sched_msg *sched_find(struct relay_sched *s, const char *id);
static struct sched_msg *sched_load(struct relay_sched *s, const char *id);
static struct sched_dest *sched_dest(struct relay_sched *s, const char *domain);
static void sched_start_job(struct relay_sched *s, struct sched_dest *d, uint64_t now);
static void sched_job_done(void *arg, struct relay_job *job);
static void sched_job_msg(void *arg, struct relay_job *job, size_t i);
static void sched_settle(struct relay_sched *s, struct sched_jobref *jr, struct relay_job *job,
			 size_t i);
static void sched_apply(struct relay_sched *s, struct sched_msg *m, const struct relay_job_msg *jm);
static void sched_commit(struct relay_sched *s, struct sched_msg *m, const struct dg_queue_msg *full);
static void sched_bounce_dsn(struct relay_sched *s, struct sched_msg *m,
			     const struct dg_queue_msg *full);
static void sched_expire(struct relay_sched *s, struct sched_msg *m, uint64_t now);
static void sched_unlink(struct relay_sched *s, struct sched_msg *m);
static void sched_msg_free(struct sched_msg *m);
static bool rcpt_due(const struct sched_rcpt *r, uint64_t now);

/* What the queue record accepts (lib/queue): printable ASCII, no space at either end. */
static void reason_clean(char *s)
{
	size_t n, i = 0;

	for (char *p = s; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
			*p = '?';
	while (s[i] == ' ')
		i++;
	if (i > 0)
		memmove(s, s + i, strlen(s + i) + 1);
	n = strlen(s);
	while (n > 0 && s[n - 1] == ' ')
		s[--n] = '\0';
}

static uint64_t now_s(void)
{
	return (uint64_t)dg_clock_wall();
}

/*
 * The next-hop domain of an address, lowercased. A domain with U-labels (SMTPUTF8 mail, RFC
 * 6531) becomes its A-label form (IDNA2008, RFC 5891 via libidn2): DNS, the TLSA base domain
 * and DANE-TA name checks all use A-labels (SPEC RPT-3 too). A domain libidn2 refuses stays as
 * it is; the engine then refuses it and the recipient bounces (5.1.2).
 */
DG_TESTABLE char *relay_rcpt_domain(const char *addr)
{
	const char *at = strrchr(addr, '@');
	char *d = dg_xstrdup(at != NULL ? at + 1 : ""), *alabel = NULL;
	bool utf8 = false;

	for (const char *p = d; *p != '\0'; p++)
		utf8 |= (unsigned char)*p >= 0x80;
	if (utf8 && idn2_to_ascii_8z(d, &alabel, IDN2_NFC_INPUT | IDN2_NONTRANSITIONAL) ==
			IDN2_OK) {
		free(d);
		d = dg_xstrdup(alabel);
		idn2_free(alabel);
	}
	for (char *p = d; *p != '\0'; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	return d;
}

enum dg_status relay_sched_new(struct relay_ctx *ctx, struct dg_queue *q,
			       struct relay_sched **out, struct dg_err *err)
{
	struct relay_sched *s = dg_xcalloc(1, sizeof(*s));
	struct timeval tv = {SCHED_TICK_MS / 1000, (SCHED_TICK_MS % 1000) * 1000};

	s->ctx = ctx;
	s->q = q;
	s->tick = event_new(ctx->base, -1, EV_PERSIST, sched_tick_cb, s);
	if (s->tick == NULL || event_add(s->tick, &tv) != 0) {
		dg_err_set(err, DG_E_INTERNAL, "scheduler: cannot arm its timer");
		relay_sched_free(s);
		return DG_E_INTERNAL;
	}
	sched_rescan(s);
	*out = s;
	return DG_OK;
}

void relay_sched_free(struct relay_sched *s)
{
	if (s == NULL)
		return;
	while (s->jobs != NULL) {
		struct sched_jobref *jr = s->jobs;

		s->jobs = jr->next;
		relay_job_cancel(jr->job);
		for (size_t i = 0; i < jr->n; i++)
			dg_queue_msg_cleanup(&jr->loaded[i]);
		free(jr->loaded);
		free(jr->msgs);
		free(jr);
	}
	while (s->msgs != NULL) {
		struct sched_msg *m = s->msgs;

		s->msgs = m->next;
		sched_msg_free(m);
	}
	while (s->dests != NULL) {
		struct sched_dest *d = s->dests;

		s->dests = d->next;
		free(d->domain);
		free(d);
	}
	if (s->tick != NULL)
		event_free(s->tick);
	free(s);
}

void relay_sched_stop(struct relay_sched *s)
{
	s->stopping = true;
}

void relay_sched_stats(const struct relay_sched *s, struct relay_sched_stats *out)
{
	*out = s->st;
	out->messages = s->n_msgs;
	out->active_jobs = s->active;
	out->oldest_arrival_s = 0;
	for (const struct sched_msg *m = s->msgs; m != NULL; m = m->next)
		if (out->oldest_arrival_s == 0 || m->arrival_s < out->oldest_arrival_s)
			out->oldest_arrival_s = m->arrival_s;
}

static void sched_msg_free(struct sched_msg *m)
{
	for (size_t i = 0; i < m->n; i++)
		free(m->r[i].domain);
	free(m->r);
	free(m);
}

static struct sched_msg *sched_find(struct relay_sched *s, const char *id)
{
	for (struct sched_msg *m = s->msgs; m != NULL; m = m->next)
		if (strcmp(m->id, id) == 0)
			return m;
	return NULL;
}

/* Read a queue file into the index (its recipients' states as the file says). */
static struct sched_msg *sched_load(struct relay_sched *s, const char *id)
{
	struct dg_queue_msg msg;
	struct sched_msg *m;
	struct dg_err err = {0};

	if (s->n_msgs >= SCHED_INDEX_MAX)
		return NULL;
	memset(&msg, 0, sizeof(msg));
	if (dg_queue_get(s->q, id, &msg, &err) != DG_OK) {
		if (err.code != DG_E_NOTFOUND)
			DG_LOG(s->ctx->log, DG_LOG_WARN, "%s queue read failed: %s", id, err.msg);
		dg_queue_msg_cleanup(&msg);
		return NULL;
	}
	m = dg_xcalloc(1, sizeof(*m));
	snprintf(m->id, sizeof(m->id), "%s", id);
	m->arrival_s = msg.arrival_s;
	m->null_sender = msg.sender[0] == '\0';
	m->n = msg.n_rcpt;
	m->r = dg_xcalloc(m->n ? m->n : 1, sizeof(*m->r));
	for (size_t i = 0; i < m->n; i++) {
		m->r[i].q = msg.rcpt[i];
		m->r[i].domain = relay_rcpt_domain(msg.rcpt[i].addr);
	}
	dg_queue_msg_cleanup(&msg);
	m->next = s->msgs;
	s->msgs = m;
	s->n_msgs++;
	return m;
}

void relay_sched_notify(struct relay_sched *s, const char *id)
{
	if (!dg_queue_id_ok(id) || sched_find(s, id) != NULL)
		return;
	if (sched_load(s, id) != NULL)
		sched_pump(s);
}

/* Pick up files the index does not know (lost notifications, DSNs, a restart). */
static void sched_rescan(struct relay_sched *s)
{
	char (*ids)[DG_QUEUE_ID_SIZE] = NULL;
	size_t n = 0;
	struct dg_err err = {0};

	s->last_rescan_s = now_s();
	if (dg_queue_list(s->q, &ids, &n, &err) != DG_OK) {
		DG_LOG(s->ctx->log, DG_LOG_WARN, "queue scan failed: %s", err.msg);
		return;
	}
	for (size_t i = 0; i < n; i++)
		if (sched_find(s, ids[i]) == NULL)
			sched_load(s, ids[i]);
	free(ids);
}

void relay_sched_flush(struct relay_sched *s)
{
	for (struct sched_dest *d = s->dests; d != NULL; d = d->next)
		d->next_try_s = 0;
	for (struct sched_msg *m = s->msgs; m != NULL; m = m->next)
		for (size_t i = 0; i < m->n; i++)
			if (m->r[i].q.state == DG_QUEUE_RCPT_DEFERRED)
				m->r[i].q.next_try_s = 0;
	sched_rescan(s);
	sched_pump(s);
}

enum dg_status relay_sched_delete(struct relay_sched *s, const char *id, struct dg_err *err)
{
	struct sched_msg *m;
	enum dg_status st;

	if (!dg_queue_id_ok(id)) {
		dg_err_set(err, DG_E_PARSE, "not a queue id: %s", id);
		return DG_E_PARSE;
	}
	st = dg_queue_remove(s->q, id, err);
	m = sched_find(s, id);
	if (m != NULL) {
		if (m->jobs > 0)
			m->deleted = true; /* freed when its last job returns */
		else
			sched_unlink(s, m);
	}
	return st;
}

static void sched_unlink(struct relay_sched *s, struct sched_msg *m)
{
	for (struct sched_msg **pp = &s->msgs; *pp != NULL; pp = &(*pp)->next)
		if (*pp == m) {
			*pp = m->next;
			s->n_msgs--;
			sched_msg_free(m);
			return;
		}
}

static struct sched_dest *sched_dest(struct relay_sched *s, const char *domain)
{
	struct sched_dest *d;

	for (d = s->dests; d != NULL; d = d->next)
		if (strcmp(d->domain, domain) == 0)
			return d;
	d = dg_xcalloc(1, sizeof(*d));
	d->domain = dg_xstrdup(domain);
	d->next = s->dests;
	s->dests = d;
	return d;
}

static bool rcpt_due(const struct sched_rcpt *r, uint64_t now)
{
	if (r->busy)
		return false;
	return r->q.state == DG_QUEUE_RCPT_PENDING ||
	       (r->q.state == DG_QUEUE_RCPT_DEFERRED && r->q.next_try_s <= now);
}

static void sched_tick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct relay_sched *s = arg;

	(void)fd;
	(void)what;
	if (now_s() >= s->last_rescan_s + SCHED_RESCAN_S)
		sched_rescan(s);
	sched_pump(s);
}

/* A recipient deferred past the queue lifetime is bounced with its last reason. */
static void sched_expire(struct relay_sched *s, struct sched_msg *m, uint64_t now)
{
	bool changed = false;

	if (m->jobs > 0 || now < m->arrival_s + s->ctx->conf->queue_lifetime_s)
		return;
	for (size_t i = 0; i < m->n; i++) {
		struct dg_queue_rcpt *q = &m->r[i].q;
		char why[DG_QUEUE_REASON_MAX + 1];

		if (q->state != DG_QUEUE_RCPT_DEFERRED && q->state != DG_QUEUE_RCPT_PENDING)
			continue;
		snprintf(why, sizeof(why), "queue lifetime expired; last: %.220s",
			 q->reason[0] ? q->reason : "never attempted");
		snprintf(q->reason, sizeof(q->reason), "%s", why);
		reason_clean(q->reason);
		q->state = DG_QUEUE_RCPT_BOUNCED;
		s->st.bounced++;
		changed = true;
	}
	if (changed) {
		DG_LOG(s->ctx->log, DG_LOG_INFO, "%s expired after %llu s in the queue", m->id,
		       (unsigned long long)(now - m->arrival_s));
		sched_commit(s, m, NULL);
	}
}

static void sched_pump(struct relay_sched *s)
{
	uint64_t now = now_s();
	struct sched_msg *m, *next;

	if (s->stopping)
		return;
	for (m = s->msgs; m != NULL; m = next) {
		next = m->next; /* sched_expire may remove m */
		sched_expire(s, m, now);
	}
	for (m = s->msgs; m != NULL && s->active < s->ctx->conf->max_deliveries; m = m->next) {
		for (size_t i = 0; i < m->n && s->active < s->ctx->conf->max_deliveries; i++) {
			struct sched_dest *d;

			if (!rcpt_due(&m->r[i], now) || m->deleted)
				continue;
			d = sched_dest(s, m->r[i].domain);
			if (d->next_try_s > now || d->active >= s->ctx->conf->dest_concurrency)
				continue;
			sched_start_job(s, d, now);
		}
	}
}

/* Gather up to SCHED_BATCH_MAX due messages for @p d and start one job. */
static void sched_start_job(struct relay_sched *s, struct sched_dest *d, uint64_t now)
{
	struct sched_jobref *jr = dg_xcalloc(1, sizeof(*jr));
	struct relay_job_msg *jm = dg_xcalloc(SCHED_BATCH_MAX, sizeof(*jm));
	struct dg_err err = {0};
	size_t n = 0;

	jr->s = s;
	jr->d = d;
	jr->msgs = dg_xcalloc(SCHED_BATCH_MAX, sizeof(*jr->msgs));
	jr->loaded = dg_xcalloc(SCHED_BATCH_MAX, sizeof(*jr->loaded));
	for (struct sched_msg *m = s->msgs; m != NULL && n < SCHED_BATCH_MAX; m = m->next) {
		size_t cnt = 0;

		if (m->deleted)
			continue;
		for (size_t i = 0; i < m->n; i++)
			cnt += rcpt_due(&m->r[i], now) && strcmp(m->r[i].domain, d->domain) == 0;
		if (cnt == 0)
			continue;
		if (dg_queue_get(s->q, m->id, &jr->loaded[n], &err) != DG_OK) {
			dg_queue_msg_cleanup(&jr->loaded[n]);
			continue; /* deleted under us: the next rescan drops it */
		}
		jm[n].msg = &jr->loaded[n];
		jm[n].ri = dg_xcalloc(cnt, sizeof(*jm[n].ri));
		jm[n].out = dg_xcalloc(cnt, sizeof(*jm[n].out));
		for (size_t i = 0; i < m->n; i++)
			if (rcpt_due(&m->r[i], now) && strcmp(m->r[i].domain, d->domain) == 0) {
				jm[n].ri[jm[n].n++] = i;
				m->r[i].busy = true;
			}
		m->jobs++;
		jr->msgs[n++] = m;
	}
	jr->n = n;
	if (n == 0) {
		free(jm);
		free(jr->msgs);
		free(jr->loaded);
		free(jr);
		return;
	}
	d->active++;
	s->active++;
	jr->next = s->jobs;
	s->jobs = jr;
	if (relay_job_start(s->ctx, d->domain, jm, n, sched_job_done, jr, &jr->job, &err) != DG_OK)
		DG_LOG(s->ctx->log, DG_LOG_WARN, "delivery to %s could not start: %s", d->domain,
		       err.msg);
	else if (jr->job != NULL)
		jr->job->msg_cb = sched_job_msg;
}

static uint64_t backoff_s(const struct dg_relay_conf *c, unsigned fails)
{
	uint64_t b = c->retry_min_s ? c->retry_min_s : 60;

	for (unsigned i = 1; i < fails && b < c->retry_max_s; i++)
		b *= 2;
	return b > c->retry_max_s && c->retry_max_s > 0 ? c->retry_max_s : b;
}

static void sched_apply(struct relay_sched *s, struct sched_msg *m, const struct relay_job_msg *jm)
{
	uint64_t now = now_s();

	for (size_t k = 0; k < jm->n; k++) {
		struct sched_rcpt *r = &m->r[jm->ri[k]];
		const struct relay_rcpt_out *o = &jm->out[k];

		r->busy = false;
		r->q.attempts++;
		snprintf(r->q.reason, sizeof(r->q.reason), "%.11s%s%.240s", o->status,
			 o->status[0] ? " " : "", o->reason);
		reason_clean(r->q.reason);
		switch (o->disp) {
		case RELAY_DISP_DELIVERED:
			r->q.state = DG_QUEUE_RCPT_DELIVERED;
			r->q.next_try_s = 0;
			s->st.delivered++;
			break;
		case RELAY_DISP_BOUNCED:
			r->q.state = DG_QUEUE_RCPT_BOUNCED;
			r->q.next_try_s = 0;
			s->st.bounced++;
			break;
		case RELAY_DISP_DEFERRED:
		case RELAY_DISP_NONE:
		default:
			r->q.state = DG_QUEUE_RCPT_DEFERRED;
			r->q.next_try_s = now + backoff_s(s->ctx->conf, r->q.attempts);
			s->st.deferred++;
			break;
		}
	}
}

/* Record message @p i of a job: states into the index, then into the queue file. */
static void sched_settle(struct relay_sched *s, struct sched_jobref *jr, struct relay_job *job,
			 size_t i)
{
	struct sched_msg *m = jr->msgs[i];

	if (m == NULL)
		return; /* settled already */
	jr->msgs[i] = NULL;
	sched_apply(s, m, &job->m[i]);
	m->jobs--;
	if (m->deleted) {
		if (m->jobs == 0)
			sched_unlink(s, m);
		return;
	}
	sched_commit(s, m, &jr->loaded[i]);
}

/* One message of a running job has its answers: record it now (at most one message can
 * then be delivered twice by a crash, the one in flight). */
static void sched_job_msg(void *arg, struct relay_job *job, size_t i)
{
	struct sched_jobref *jr = arg;

	sched_settle(jr->s, jr, job, i);
}

static void sched_job_done(void *arg, struct relay_job *job)
{
	struct sched_jobref *jr = arg;
	struct relay_sched *s = jr->s;
	bool any_deferred = false, any_ok = false;

	for (size_t i = 0; i < jr->n; i++) {
		for (size_t k = 0; k < job->m[i].n; k++) {
			any_deferred |= job->m[i].out[k].disp == RELAY_DISP_DEFERRED;
			any_ok |= job->m[i].out[k].disp == RELAY_DISP_DELIVERED;
		}
		sched_settle(s, jr, job, i);
	}
	if (any_ok)
		jr->d->fails = 0;
	if (any_deferred && !any_ok) {
		jr->d->fails++;
		jr->d->next_try_s = now_s() + backoff_s(s->ctx->conf, jr->d->fails);
	}
	jr->d->active--;
	s->active--;
	for (struct sched_jobref **pp = &s->jobs; *pp != NULL; pp = &(*pp)->next)
		if (*pp == jr) {
			*pp = jr->next;
			break;
		}
	for (size_t i = 0; i < jr->n; i++)
		dg_queue_msg_cleanup(&jr->loaded[i]);
	free(jr->loaded);
	free(jr->msgs);
	free(jr);
	relay_job_free(job);
	sched_pump(s);
}

/* Write the recipients' states; remove a message that is finished (after its DSN). */
static void sched_commit(struct relay_sched *s, struct sched_msg *m, const struct dg_queue_msg *full)
{
	struct dg_queue_rcpt *rc = dg_xcalloc(m->n ? m->n : 1, sizeof(*rc));
	bool open = false, bounced = false;
	struct dg_err err = {0};

	for (size_t i = 0; i < m->n; i++) {
		rc[i] = m->r[i].q;
		open |= rc[i].state == DG_QUEUE_RCPT_PENDING || rc[i].state == DG_QUEUE_RCPT_DEFERRED;
		bounced |= rc[i].state == DG_QUEUE_RCPT_BOUNCED;
	}
	if (open) {
		if (dg_queue_update(s->q, m->id, rc, m->n, &err) != DG_OK)
			DG_LOG(s->ctx->log, DG_LOG_ERROR, "%s queue update failed: %s", m->id, err.msg);
		free(rc);
		return;
	}
	free(rc);
	if (bounced && !m->null_sender)
		sched_bounce_dsn(s, m, full);
	if (dg_queue_remove(s->q, m->id, &err) != DG_OK && err.code != DG_E_NOTFOUND)
		DG_LOG(s->ctx->log, DG_LOG_ERROR, "%s queue remove failed: %s", m->id, err.msg);
	else
		DG_LOG(s->ctx->log, DG_LOG_INFO, "%s removed", m->id);
	sched_unlink(s, m);
}

/* RFC 3464 notification to the sender for the bounced recipients. */
static void sched_bounce_dsn(struct relay_sched *s, struct sched_msg *m,
			     const struct dg_queue_msg *full)
{
	struct dg_queue_msg loaded, env;
	struct dg_queue_rcpt to;
	struct dg_dsn_rcpt *dr = dg_xcalloc(m->n ? m->n : 1, sizeof(*dr));
	struct dg_dsn_params p = {0};
	char (*status)[12] = dg_xcalloc(m->n ? m->n : 1, sizeof(*status));
	char (*diag)[DG_QUEUE_REASON_MAX + 16] = dg_xcalloc(m->n ? m->n : 1, sizeof(*diag));
	uint8_t *out = NULL;
	size_t len = 0, nd = 0;
	char id[DG_QUEUE_ID_SIZE];
	struct dg_err err = {0};

	memset(&loaded, 0, sizeof(loaded));
	if (full == NULL) {
		if (dg_queue_get(s->q, m->id, &loaded, &err) != DG_OK) {
			DG_LOG(s->ctx->log, DG_LOG_ERROR, "%s DSN: cannot read the message: %s",
			       m->id, err.msg);
			goto out;
		}
		full = &loaded;
	}
	for (size_t i = 0; i < m->n; i++) {
		const struct dg_queue_rcpt *q = &m->r[i].q;

		if (q->state != DG_QUEUE_RCPT_BOUNCED)
			continue;
		/* the stored reason starts with its RFC 3463 status when there is one */
		if (q->reason[0] >= '2' && q->reason[0] <= '5' && q->reason[1] == '.')
			sscanf(q->reason, "%11s", status[nd]);
		else
			snprintf(status[nd], sizeof(status[nd]), "5.0.0");
		if (status[nd][0] != '5')
			status[nd][0] = '5';
		snprintf(diag[nd], sizeof(diag[nd]), "smtp; %s", q->reason);
		dr[nd].addr = q->addr;
		dr[nd].status = status[nd];
		dr[nd].action = "failed";
		dr[nd].diagnostic = diag[nd];
		dr[nd].last_attempt_s = now_s();
		nd++;
	}
	p.reporting_mta = s->ctx->conf->helo;
	p.from = s->ctx->conf->dsn_from;
	p.queue_id = m->id;
	p.arrival_s = m->arrival_s;
	p.now_s = now_s();
	if (dg_dsn_build(&p, full, dr, nd, &out, &len, &err) != DG_OK) {
		DG_LOG(s->ctx->log, DG_LOG_ERROR, "%s DSN not built: %s", m->id, err.msg);
		goto out;
	}
	memset(&env, 0, sizeof(env));
	memset(&to, 0, sizeof(to));
	snprintf(to.addr, sizeof(to.addr), "%s", full->sender);
	env.sender[0] = '\0';
	env.rcpt = &to;
	env.n_rcpt = 1;
	if (dg_queue_put(s->q, &env, out, len, id, &err) != DG_OK) {
		DG_LOG(s->ctx->log, DG_LOG_ERROR, "%s DSN not queued: %s", m->id, err.msg);
		goto out;
	}
	DG_LOG(s->ctx->log, DG_LOG_INFO, "%s bounce DSN queued as %s to=%s", m->id, id,
	       full->sender);
	sched_load(s, id);
out:
	dg_queue_msg_cleanup(&loaded);
	free(out);
	free(dr);
	free(status);
	free(diag);
}
