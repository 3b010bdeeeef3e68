/*
 * relay_tlsrpt.c - TLS-RPT (RFC 8460) for the relay's deliveries: record, report, send.
 *
 * Private (relay_tlsrpt.h): relay_tlsrpt_new, relay_tlsrpt_attempt, relay_tlsrpt_run_now,
 * relay_tlsrpt_free. Public (relay.h): dg_relay_tlsrpt_meta, dg_relay_tlsrpt_dir.
 *
 * Recording: every delivery attempt the scheduler's jobs report (struct relay_attempt) to a
 * domain with a valid _smtp._tls record is appended to the day's journal of lib/tlsrpt with
 * its applied policy: DANE when the host had a TLSA RRset and TLS was required (policy-domain
 * the TLSA base domain, SPEC RPT-2; one policy string per record, SPEC RPT-4), MTA-STS when
 * the host was held to the STS policy (policy lines as strings, mx patterns), else
 * no-policy-found. The journal is fsynced by the timer (batches of RELAY_TLSRPT_TICK_S).
 *
 * Sending: a timer ticks every RELAY_TLSRPT_TICK_S seconds. Once the UTC clock is past
 * tlsrpt-hour (plus a random delay below RELAY_TLSRPT_JITTER_S) the previous UTC day's
 * reports are built (one per report domain, SPEC RPT-3), gzipped and sent to each rua
 * (SPEC RPT-7): mailto: as an RFC 8460 5.3 message put into the relay's own queue (envelope
 * sender tlsrpt-contact, else dsn-from, i.e. MAILER-DAEMON@helo; never the null sender) and
 * announced through the queued() callback; https: by POST with libcurl's easy interface in a
 * short-lived thread per post (bounded by RELAY_TLSRPT_POST_TIMEOUT_S, aborted at shutdown
 * through the progress callback), reaped by the timer. Each attempt is written to the store's
 * record of sent reports before the next decision depends on it, so a restart neither sends
 * a delivered report again nor forgets failures: failed deliveries are retried with doubling
 * delays from RELAY_TLSRPT_RETRY_MIN_S for RELAY_TLSRPT_RETRY_WINDOW_S (SPEC RPT-7).
 * DKIM (SPEC RPT-7, RFC 8460 3 MUST): with tlsrpt-dkim-key set, the key is loaded and checked
 * once by relay_tlsrpt_new() (a bad key stops the start) and every report mail is signed by
 * dg_tlsrpt_dkim_sign() before it is queued, with d= tlsrpt-dkim-domain, else the domain of
 * the contact address (the submitter). Without a key, mails are queued unsigned and one
 * warning at start says so; a signing failure is a failed attempt, retried like the others.
 * Ownership: the reporter owns the store, the cached day and record, the timer, the posts
 * and the DKIM key; conf, queue, base and log are borrowed.
 */
#include "relay_tlsrpt.h"

#include <daneguard/tlsa.h>

#include <curl/curl.h>
#include <event2/event.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

struct rpt_post {
	struct rpt_post *next;
	pthread_t th;
	atomic_bool done;
	atomic_bool *abort; /**< the reporter's shutdown flag */
	char day[DG_TLSRPT_DAY_SIZE];
	char *domain, *rua, *ca_file;
	uint8_t *gz;
	size_t gz_len;
	long http_code;
	char why[CURL_ERROR_SIZE];
};

struct relay_tlsrpt {
	struct event_base *base;
	const struct dg_relay_conf *conf;
	struct dg_queue *q;
	void (*queued)(void *arg, const char *id);
	void *queued_arg;
	const struct dg_log *log;
	struct dg_tlsrpt_store *store;
	struct event *tick;
	char contact[DG_RELAY_ADDR_MAX + 1];
	struct dg_tlsrpt_meta meta;
	struct dg_tlsrpt_dkim dkim; /**< loaded key when @c has_dkim */
	bool has_dkim;
	uint32_t jitter_s;
	/* the day being sent and its record of sent reports */
	char day[DG_TLSRPT_DAY_SIZE];
	struct dg_tlsrpt_day *agg;
	struct dg_tlsrpt_sent *sent;
	uint64_t next_run_s; /**< nothing to do for @c day before this */
	struct rpt_post *posts;
	size_t n_posts;
	atomic_bool abort;
};

static void tick_cb(int fd, short what, void *arg);
static void rpt_policy(const struct relay_attempt *a, struct dg_tlsrpt_event *ev, char **owned,
                       size_t *n_owned);
static enum dg_status day_open(struct relay_tlsrpt *t, const char *day, struct dg_err *err);
static enum dg_status run_day(struct relay_tlsrpt *t, const char *day, bool force);
static enum dg_status send_one(struct relay_tlsrpt *t, size_t i, const char *rua, const uint8_t *gz,
                               size_t gz_len, const char *file_name, const char *report_id);
static enum dg_status send_mail(struct relay_tlsrpt *t, const char *domain, const char *rua,
                                const uint8_t *gz, size_t gz_len, const char *file_name,
                                const char *report_id, struct dg_err *err);
static enum dg_status post_start(struct relay_tlsrpt *t, const char *domain, const char *rua,
                                 const uint8_t *gz, size_t gz_len, struct dg_err *err);
static void *post_thread(void *arg);
static int post_progress(void *arg, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un);
static size_t post_discard(char *p, size_t size, size_t n, void *arg);
static void posts_reap(struct relay_tlsrpt *t, bool wait);
static bool post_running(const struct relay_tlsrpt *t, const char *day, const char *domain,
                         const char *rua);
static void post_free(struct rpt_post *p);
static uint64_t backoff_s(unsigned failures);
static enum dg_status dkim_setup(struct relay_tlsrpt *t, struct dg_err *err);

void dg_relay_tlsrpt_meta(const struct dg_relay_conf *conf, char contact[DG_RELAY_ADDR_MAX + 1],
                          struct dg_tlsrpt_meta *meta)
{
	const char *at;

	if (conf->tlsrpt_contact != NULL && conf->tlsrpt_contact[0] != '\0')
		snprintf(contact, DG_RELAY_ADDR_MAX + 1, "%s", conf->tlsrpt_contact);
	else
		snprintf(contact, DG_RELAY_ADDR_MAX + 1, "postmaster@%s", conf->helo);
	meta->org =
	    conf->tlsrpt_org != NULL && conf->tlsrpt_org[0] != '\0' ? conf->tlsrpt_org : conf->helo;
	meta->contact = contact;
	at = strrchr(contact, '@');
	meta->submitter = at != NULL && at[1] != '\0' ? at + 1 : conf->helo;
}

enum dg_status dg_relay_tlsrpt_dir(const struct dg_relay_conf *conf, char *out, size_t size)
{
	int n;

	if (conf->tlsrpt_dir != NULL)
		n = snprintf(out, size, "%s", conf->tlsrpt_dir);
	else if (conf->queue_dir != NULL)
		n = snprintf(out, size, "%s/tlsrpt", conf->queue_dir);
	else
		return DG_E_CONFIG;
	return n < 0 || (size_t)n >= size ? DG_E_CONFIG : DG_OK;
}

/* SPEC RPT-7: load the DKIM key once, or warn that reports go out unsigned. */
static enum dg_status dkim_setup(struct relay_tlsrpt *t, struct dg_err *err)
{
	const struct dg_relay_conf *c = t->conf;
	const char *domain;
	enum dg_status st;

	if (c->tlsrpt_dkim_key == NULL) {
		DG_LOG(t->log, DG_LOG_WARN,
		       "tlsrpt dkim=none reason=\"RFC 8460 wants report mails DKIM-signed; set "
		       "tlsrpt-dkim-key and tlsrpt-dkim-selector\"");
		return DG_OK;
	}
	if (c->tlsrpt_dkim_selector == NULL)
		return dg_err_set(err, DG_E_CONFIG,
		                  "tlsrpt-dkim-key is set but tlsrpt-dkim-selector is not");
	domain = c->tlsrpt_dkim_domain != NULL ? c->tlsrpt_dkim_domain : t->meta.submitter;
	if ((st = dg_tlsrpt_dkim_load(c->tlsrpt_dkim_key, domain, c->tlsrpt_dkim_selector, &t->dkim,
	                              err)) != DG_OK)
		return st;
	t->has_dkim = true;
	DG_LOG(t->log, DG_LOG_INFO, "tlsrpt dkim=on domain=%s selector=%s", t->dkim.domain,
	       t->dkim.selector);
	return DG_OK;
}

enum dg_status relay_tlsrpt_new(struct event_base *base, const struct dg_relay_conf *conf,
                                struct dg_queue *q, void (*queued)(void *arg, const char *id),
                                void *queued_arg, const struct dg_log *log,
                                struct relay_tlsrpt **out, struct dg_err *err)
{
	struct relay_tlsrpt *t;
	char dir[4096];
	struct timeval tv = {RELAY_TLSRPT_TICK_S, 0};
	enum dg_status st;
	uint32_t r = 0;

	*out = NULL;
	if (dg_relay_tlsrpt_dir(conf, dir, sizeof(dir)) != DG_OK)
		return dg_err_set(err, DG_E_CONFIG, "tlsrpt-dir: no queue or path too long");
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return dg_err_set(err, DG_E_INTERNAL, "curl_global_init failed");
	t = dg_xcalloc(1, sizeof(*t));
	t->base = base;
	t->conf = conf;
	t->q = q;
	t->queued = queued;
	t->queued_arg = queued_arg;
	t->log = log;
	atomic_init(&t->abort, false);
	dg_relay_tlsrpt_meta(conf, t->contact, &t->meta);
	if (getrandom(&r, sizeof(r), 0) != (ssize_t)sizeof(r))
		r = (uint32_t)dg_clock_mono_ms();
	t->jitter_s = r % RELAY_TLSRPT_JITTER_S;
	if ((st = dkim_setup(t, err)) != DG_OK) {
		free(t);
		return st;
	}
	if ((st = dg_tlsrpt_store_open(dir, &t->store, err)) != DG_OK) {
		dg_tlsrpt_dkim_cleanup(&t->dkim);
		free(t);
		return st;
	}
	t->tick = event_new(base, -1, EV_PERSIST, tick_cb, t);
	if (t->tick == NULL || event_add(t->tick, &tv) != 0) {
		relay_tlsrpt_free(t);
		return dg_err_set(err, DG_E_INTERNAL, "TLS-RPT timer: event_add failed");
	}
	*out = t;
	return DG_OK;
}

void relay_tlsrpt_free(struct relay_tlsrpt *t)
{
	if (t == NULL)
		return;
	if (t->tick != NULL)
		event_free(t->tick);
	atomic_store(&t->abort, true);
	posts_reap(t, true);
	dg_tlsrpt_store_free(t->store);
	dg_tlsrpt_day_free(t->agg);
	dg_tlsrpt_sent_free(t->sent);
	dg_tlsrpt_dkim_cleanup(&t->dkim);
	free(t);
}

/* ---- recording --------------------------------------------------------------------------- */

/* The policy applied to the attempt (SPEC RPT-2, RPT-4); strings allocated go to @p owned. */
static void rpt_policy(const struct relay_attempt *a, struct dg_tlsrpt_event *ev, char **owned,
                       size_t *n_owned)
{
	const struct relay_host_plan *hp = a->host;
	const struct dg_sts_result *sts = &a->res->mta_sts;
	bool sts_applied;

	ev->policy_type = DG_TLSRPT_POLICY_NONE;
	ev->policy_domain = a->domain;
	if (hp != NULL && hp->h->tlsa_set != NULL &&
	    (hp->req == RELAY_REQ_DANE || hp->req == RELAY_REQ_ENCRYPT)) {
		const struct dg_tlsa_set *set = hp->h->tlsa_set;

		ev->policy_type = DG_TLSRPT_POLICY_TLSA;
		ev->policy_domain = hp->h->tlsa_base != NULL ? hp->h->tlsa_base : hp->h->name;
		for (size_t i = 0; i < set->count && ev->n_strings < DG_TLSRPT_STRINGS_MAX; i++) {
			owned[(*n_owned)++] = dg_tlsa_rr_policy_string(&set->rr[i]);
			ev->strings[ev->n_strings++] = owned[*n_owned - 1];
		}
		return;
	}
	if (hp == NULL && a->plan->policy != NULL && strncmp(a->plan->policy, "dane", 4) == 0) {
		ev->policy_type = DG_TLSRPT_POLICY_TLSA; /* no RRset known: no strings */
		return;
	}
	sts_applied = hp != NULL
	                  ? hp->req == RELAY_REQ_STS || hp->sts_testing
	                  : a->plan->policy != NULL && strcmp(a->plan->policy, "mta-sts") == 0;
	if (!sts_applied || !sts->has_policy)
		return;
	ev->policy_type = DG_TLSRPT_POLICY_STS;
	/* SPEC RPT-4: one string per policy line, each mx: its own element */
	owned[(*n_owned)++] = dg_xstrdup("version: STSv1");
	ev->strings[ev->n_strings++] = owned[*n_owned - 1];
	owned[*n_owned] = dg_xmalloc(32);
	snprintf(owned[*n_owned], 32, "mode: %s", dg_sts_mode_str(sts->mode));
	ev->strings[ev->n_strings++] = owned[(*n_owned)++];
	for (size_t i = 0; i < sts->n_mx && ev->n_strings < DG_TLSRPT_STRINGS_MAX - 1 &&
	                   ev->n_mx < DG_TLSRPT_MX_MAX;
	     i++) {
		size_t n = strlen(sts->mx[i]) + 5;

		owned[*n_owned] = dg_xmalloc(n);
		snprintf(owned[*n_owned], n, "mx: %s", sts->mx[i]);
		ev->strings[ev->n_strings++] = owned[(*n_owned)++];
		ev->mx[ev->n_mx++] = sts->mx[i];
	}
	owned[*n_owned] = dg_xmalloc(32);
	snprintf(owned[*n_owned], 32, "max_age: %u", (unsigned)sts->max_age_s);
	ev->strings[ev->n_strings++] = owned[(*n_owned)++];
}

void relay_tlsrpt_attempt(void *arg, const struct relay_attempt *a)
{
	struct relay_tlsrpt *t = arg;
	struct dg_tlsrpt_event ev;
	char *owned[DG_TLSRPT_STRINGS_MAX + 1];
	size_t n_owned = 0;
	struct dg_err err = {0};
	const struct dg_tlsrpt_result *rpt;

	if (a->res == NULL || !a->first_on_conn)
		return; /* RFC 8460 counts sessions: later messages of a connection are not new */
	rpt = &a->res->tlsrpt;
	if (rpt->status != DG_TLSRPT_VALID || rpt->n_rua == 0)
		return;
	memset(&ev, 0, sizeof(ev));
	rpt_policy(a, &ev, owned, &n_owned);
	if (a->rpt_type != NULL) {
		ev.success = false;
		ev.result_type = a->rpt_type;
		ev.reason_code = a->rpt_code;
		if (a->host != NULL) {
			ev.mx_host = a->host->h->name;
			ev.receiving_ip = a->addr;
			ev.sending_ip = a->local;
		}
	} else if (a->host != NULL && a->tls &&
	           (a->verified || ev.policy_type == DG_TLSRPT_POLICY_NONE)) {
		ev.success = true;
	} else {
		goto out; /* transient or cleartext: not reported (RFC 8460 4.3.4) */
	}
	ev.time_s = (uint64_t)dg_clock_wall();
	ev.report_domain = a->domain;
	for (size_t i = 0; i < rpt->n_rua && i < DG_TLSRPT_RUA_MAX; i++)
		ev.rua[ev.n_rua++] = rpt->rua[i];
	if (dg_tlsrpt_store_append(t->store, &ev, &err) != DG_OK)
		DG_LOG(t->log, DG_LOG_WARN, "%s tlsrpt domain=%s result=not-recorded reason=\"%s\"",
		       a->id != NULL ? a->id : "-", a->domain, err.msg);
out:
	for (size_t i = 0; i < n_owned; i++)
		free(owned[i]);
}

/* ---- sending ----------------------------------------------------------------------------- */

static uint64_t backoff_s(unsigned failures)
{
	uint64_t d = RELAY_TLSRPT_RETRY_MIN_S;

	for (unsigned i = 1; i < failures && d < RELAY_TLSRPT_RETRY_MAX_S; i++)
		d *= 2;
	return d < RELAY_TLSRPT_RETRY_MAX_S ? d : RELAY_TLSRPT_RETRY_MAX_S;
}

/* Make @p day the cached day: its aggregation and its record of sent reports. */
static enum dg_status day_open(struct relay_tlsrpt *t, const char *day, struct dg_err *err)
{
	struct dg_tlsrpt_day *agg = NULL;
	struct dg_tlsrpt_sent *sent = NULL;
	size_t skipped = 0;
	enum dg_status st;

	if (t->agg != NULL && strcmp(t->day, day) == 0)
		return DG_OK;
	(void)dg_tlsrpt_store_sync(t->store, NULL);
	if ((st = dg_tlsrpt_day_load(dg_tlsrpt_store_dir(t->store), day, &agg, &skipped, err)) !=
	        DG_OK ||
	    (st = dg_tlsrpt_sent_load(dg_tlsrpt_store_dir(t->store), day, &sent, err)) != DG_OK) {
		dg_tlsrpt_day_free(agg);
		return st;
	}
	if (skipped > 0)
		DG_LOG(t->log, DG_LOG_WARN,
		       "tlsrpt day=%s skipped=%zu reason=\"unreadable journal "
		       "lines (torn by a crash?)\"",
		       day, skipped);
	dg_tlsrpt_day_free(t->agg);
	dg_tlsrpt_sent_free(t->sent);
	t->agg = agg;
	t->sent = sent;
	snprintf(t->day, sizeof(t->day), "%s", day);
	t->next_run_s = 0;
	return DG_OK;
}

/*
 * Send every report of @p day that is due: not delivered, not being posted, not given up,
 * and (unless @p force) past its retry time. Sets t->next_run_s to the next retry.
 */
static enum dg_status run_day(struct relay_tlsrpt *t, const char *day, bool force)
{
	struct dg_err err = {0};
	enum dg_status st, first = DG_OK;
	uint64_t now = (uint64_t)dg_clock_wall(), next = UINT64_MAX, start;

	if ((st = day_open(t, day, &err)) != DG_OK) {
		DG_LOG(t->log, DG_LOG_WARN, "tlsrpt day=%s result=failed reason=\"%s\"", day,
		       err.msg);
		return st;
	}
	(void)dg_tlsrpt_day_parse(day, &start);
	for (size_t i = 0; i < dg_tlsrpt_day_count(t->agg); i++) {
		const char *domain = dg_tlsrpt_day_domain(t->agg, i);
		size_t n_rua = 0;
		char *const *rua = dg_tlsrpt_day_rua(t->agg, i, &n_rua);
		char *json = NULL, id[1024], name[1024];
		uint8_t *gz = NULL;
		size_t gz_len = 0;

		for (size_t r = 0; r < n_rua; r++) {
			unsigned fails = 0;
			uint64_t first_s = 0, last_s = 0;

			if (dg_tlsrpt_sent_state(t->sent, domain, rua[r], &fails, &first_s,
			                         &last_s) ||
			    post_running(t, day, domain, rua[r]))
				continue;
			if (fails > 0 && !force && now > first_s + RELAY_TLSRPT_RETRY_WINDOW_S)
				continue; /* given up (SPEC RPT-7: 24 h) */
			if (fails > 0 && !force && now < last_s + backoff_s(fails)) {
				if (last_s + backoff_s(fails) < next)
					next = last_s + backoff_s(fails);
				continue;
			}
			if (json == NULL) {
				if ((st = dg_tlsrpt_report_build(t->agg, i, &t->meta, &json,
				                                 &err)) != DG_OK ||
				    (st = dg_tlsrpt_gzip(json, strlen(json), &gz, &gz_len, &err)) !=
				        DG_OK ||
				    (st = dg_tlsrpt_report_id(day, domain, &t->meta, id,
				                              sizeof(id))) != DG_OK ||
				    (st = dg_tlsrpt_file_name(t->meta.submitter, domain, start,
				                              start + 86399, NULL, name,
				                              sizeof(name))) != DG_OK) {
					DG_LOG(t->log, DG_LOG_WARN,
					       "tlsrpt day=%s domain=%s "
					       "result=failed reason=\"report: %s\"",
					       day, domain,
					       err.msg[0] ? err.msg : dg_status_str(st));
					if (first == DG_OK)
						first = st;
					break;
				}
			}
			st = send_one(t, i, rua[r], gz, gz_len, name, id);
			if (st == DG_E_LIMIT) {
				if (now + RELAY_TLSRPT_TICK_S < next)
					next = now + RELAY_TLSRPT_TICK_S;
			} else if (st != DG_OK && first == DG_OK) {
				first = st;
			}
		}
		free(json);
		free(gz);
	}
	t->next_run_s = next;
	return first;
}

static enum dg_status send_one(struct relay_tlsrpt *t, size_t i, const char *rua, const uint8_t *gz,
                               size_t gz_len, const char *file_name, const char *report_id)
{
	const char *domain = dg_tlsrpt_day_domain(t->agg, i);
	struct dg_err err = {0};
	enum dg_status st;

	if (dg_ascii_strncasecmp(rua, "https:", 6) == 0) {
		if (t->n_posts >= RELAY_TLSRPT_POSTS_MAX)
			return DG_E_LIMIT; /* not an attempt: the next tick tries again */
		st = post_start(t, domain, rua, gz, gz_len, &err);
		if (st == DG_OK)
			return DG_OK; /* recorded when the thread ends */
	} else {
		st = send_mail(t, domain, rua, gz, gz_len, file_name, report_id, &err);
	}
	DG_LOG(t->log, st == DG_OK ? DG_LOG_INFO : DG_LOG_WARN,
	       "tlsrpt day=%s domain=%s rua=%s result=%s%s%s%s", t->day, domain, rua,
	       st == DG_OK ? "queued" : "failed", st == DG_OK ? "" : " reason=\"",
	       st == DG_OK ? "" : err.msg, st == DG_OK ? "" : "\"");
	if (dg_tlsrpt_sent_record(t->sent, domain, rua, st == DG_OK, (uint64_t)dg_clock_wall(),
	                          &err) != DG_OK)
		DG_LOG(t->log, DG_LOG_ERROR, "tlsrpt day=%s domain=%s reason=\"%s\"", t->day,
		       domain, err.msg);
	return st;
}

static enum dg_status send_mail(struct relay_tlsrpt *t, const char *domain, const char *rua,
                                const uint8_t *gz, size_t gz_len, const char *file_name,
                                const char *report_id, struct dg_err *err)
{
	struct dg_tlsrpt_mail m;
	struct dg_queue_msg env;
	struct dg_queue_rcpt rcpt;
	char to[DG_TLSRPT_URI_MAX + 1], id[DG_QUEUE_ID_SIZE];
	char *text = NULL;
	size_t len = 0;
	enum dg_status st;

	if (dg_tlsrpt_mailto_addr(rua, to, sizeof(to)) != DG_OK || strlen(to) > DG_QUEUE_ADDR_MAX)
		return dg_err_set(err, DG_E_PARSE, "rua %s: not a usable mailto: address", rua);
	memset(&m, 0, sizeof(m));
	m.from = t->conf->tlsrpt_contact != NULL ? t->conf->tlsrpt_contact : t->conf->dsn_from;
	m.to = to;
	m.report_domain = domain;
	m.submitter = t->meta.submitter;
	m.report_id = report_id;
	m.file_name = file_name;
	m.gz = gz;
	m.gz_len = gz_len;
	m.date = dg_clock_wall();
	if (strlen(m.from) >= sizeof(env.sender))
		return dg_err_set(err, DG_E_CONFIG, "report sender %s too long", m.from);
	if ((st = dg_tlsrpt_mail_compose(&m, &text, &len, err)) != DG_OK)
		return st;
	if (t->has_dkim) {
		/* SPEC RPT-7: the report mail MUST carry a DKIM signature without l= */
		uint8_t *signed_msg = NULL;
		size_t signed_len = 0;

		st = dg_tlsrpt_dkim_sign(&t->dkim, (const uint8_t *)text, len, &signed_msg,
		                         &signed_len, err);
		free(text);
		if (st != DG_OK)
			return st;
		text = (char *)signed_msg;
		len = signed_len;
	}
	memset(&env, 0, sizeof(env));
	memset(&rcpt, 0, sizeof(rcpt));
	/* SPEC RPT-7: a report has a real sender (its bounces must reach someone), never <> */
	memcpy(env.sender, m.from, strlen(m.from) + 1);
	memcpy(rcpt.addr, to, strlen(to) + 1); /* checked above: at most DG_QUEUE_ADDR_MAX */
	env.rcpt = &rcpt;
	env.n_rcpt = 1;
	st = dg_queue_put(t->q, &env, (const uint8_t *)text, len, id, err);
	free(text);
	if (st == DG_OK && t->queued != NULL)
		t->queued(t->queued_arg, id);
	return st;
}

/* ---- HTTPS posts ------------------------------------------------------------------------- */

static size_t post_discard(char *p, size_t size, size_t n, void *arg)
{
	(void)p;
	(void)arg;
	return size * n;
}

static int post_progress(void *arg, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
	struct rpt_post *p = arg;

	(void)dt;
	(void)dn;
	(void)ut;
	(void)un;
	return atomic_load(p->abort) ? 1 : 0;
}

static void *post_thread(void *arg)
{
	struct rpt_post *p = arg;
	CURL *c = curl_easy_init();
	struct curl_slist *h = NULL;
	CURLcode rc;

	p->why[0] = '\0';
	if (c == NULL) {
		snprintf(p->why, sizeof(p->why), "curl_easy_init failed");
		atomic_store(&p->done, true);
		return NULL;
	}
	h = curl_slist_append(h, "Content-Type: application/tlsrpt+gzip");
	curl_easy_setopt(c, CURLOPT_URL, p->rua);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https");
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, (const char *)p->gz);
	curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)p->gz_len);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, (long)RELAY_TLSRPT_POST_TIMEOUT_S);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 20L);
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, post_progress);
	curl_easy_setopt(c, CURLOPT_XFERINFODATA, p);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, post_discard);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, p->why);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "daneguard-tlsrpt");
	if (p->ca_file != NULL)
		curl_easy_setopt(c, CURLOPT_CAINFO, p->ca_file);
	rc = curl_easy_perform(c);
	if (rc == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &p->http_code);
	else if (p->why[0] == '\0')
		snprintf(p->why, sizeof(p->why), "%s", curl_easy_strerror(rc));
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	atomic_store(&p->done, true);
	return NULL;
}

static enum dg_status post_start(struct relay_tlsrpt *t, const char *domain, const char *rua,
                                 const uint8_t *gz, size_t gz_len, struct dg_err *err)
{
	struct rpt_post *p = dg_xcalloc(1, sizeof(*p));

	atomic_init(&p->done, false);
	p->abort = &t->abort;
	snprintf(p->day, sizeof(p->day), "%s", t->day);
	p->domain = dg_xstrdup(domain);
	p->rua = dg_xstrdup(rua);
	p->ca_file = t->conf->ca_file != NULL ? dg_xstrdup(t->conf->ca_file) : NULL;
	p->gz = dg_xmalloc(gz_len ? gz_len : 1);
	memcpy(p->gz, gz, gz_len);
	p->gz_len = gz_len;
	if (pthread_create(&p->th, NULL, post_thread, p) != 0) {
		post_free(p);
		return dg_err_set(err, DG_E_INTERNAL, "rua %s: pthread_create failed", rua);
	}
	p->next = t->posts;
	t->posts = p;
	t->n_posts++;
	return DG_OK;
}

static bool post_running(const struct relay_tlsrpt *t, const char *day, const char *domain,
                         const char *rua)
{
	for (const struct rpt_post *p = t->posts; p != NULL; p = p->next)
		if (strcmp(p->day, day) == 0 && strcmp(p->domain, domain) == 0 &&
		    strcmp(p->rua, rua) == 0)
			return true;
	return false;
}

static void post_free(struct rpt_post *p)
{
	free(p->domain);
	free(p->rua);
	free(p->ca_file);
	free(p->gz);
	free(p);
}

/* Join finished posts (all of them with @p wait) and record their outcome (SPEC RPT-7). */
static void posts_reap(struct relay_tlsrpt *t, bool wait)
{
	struct rpt_post **pp = &t->posts;

	while (*pp != NULL) {
		struct rpt_post *p = *pp;
		bool ok;
		struct dg_err err = {0};

		if (!wait && !atomic_load(&p->done)) {
			pp = &p->next;
			continue;
		}
		pthread_join(p->th, NULL);
		*pp = p->next;
		t->n_posts--;
		ok = p->http_code == 200 || p->http_code == 201;
		DG_LOG(t->log, ok ? DG_LOG_INFO : DG_LOG_WARN,
		       "tlsrpt day=%s domain=%s rua=%s result=%s http=%ld%s%s%s", p->day, p->domain,
		       p->rua, ok ? "posted" : "failed", p->http_code,
		       p->why[0] ? " reason=\"" : "", p->why, p->why[0] ? "\"" : "");
		if (!atomic_load(&t->abort) || ok) {
			/* an aborted post is neither delivered nor a failure: retried after restart
			 */
			if (t->sent != NULL && strcmp(p->day, t->day) == 0)
				(void)dg_tlsrpt_sent_record(t->sent, p->domain, p->rua, ok,
				                            (uint64_t)dg_clock_wall(), &err);
			else {
				struct dg_tlsrpt_sent *s = NULL;

				if (dg_tlsrpt_sent_load(dg_tlsrpt_store_dir(t->store), p->day, &s,
				                        &err) == DG_OK)
					(void)dg_tlsrpt_sent_record(s, p->domain, p->rua, ok,
					                            (uint64_t)dg_clock_wall(),
					                            &err);
				dg_tlsrpt_sent_free(s);
			}
			if (!ok && t->next_run_s > (uint64_t)dg_clock_wall() + backoff_s(1))
				t->next_run_s = (uint64_t)dg_clock_wall() + backoff_s(1);
		}
		post_free(p);
	}
}

/* ---- the timer --------------------------------------------------------------------------- */

static void tick_cb(int fd, short what, void *arg)
{
	struct relay_tlsrpt *t = arg;
	uint64_t now = (uint64_t)dg_clock_wall(), today;
	char day[DG_TLSRPT_DAY_SIZE], yday[DG_TLSRPT_DAY_SIZE];
	struct dg_err err = {0};

	(void)fd;
	(void)what;
	if (dg_tlsrpt_store_sync(t->store, &err) != DG_OK)
		DG_LOG(t->log, DG_LOG_WARN, "tlsrpt reason=\"%s\"", err.msg);
	posts_reap(t, false);
	dg_tlsrpt_day_name(now, day);
	(void)dg_tlsrpt_day_parse(day, &today);
	if (now < today + (uint64_t)t->conf->tlsrpt_hour * 3600u + t->jitter_s)
		return;
	dg_tlsrpt_day_name(today - 86400u, yday);
	if (t->agg != NULL && strcmp(t->day, yday) == 0 && now < t->next_run_s)
		return;
	(void)run_day(t, yday, false);
}

enum dg_status relay_tlsrpt_run_now(struct relay_tlsrpt *t, const char *day)
{
	uint64_t start;

	if (dg_tlsrpt_day_parse(day, &start) != DG_OK)
		return DG_E_PARSE;
	/* reload: events of @p day may have been added since it was cached */
	dg_tlsrpt_day_free(t->agg);
	t->agg = NULL;
	return run_day(t, day, true);
}
