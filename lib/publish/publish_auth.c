/*
 * publish_auth.c - the authoritative check: does every address of every name server of
 * the zone serve exactly the desired TLSA RRset, with valid signatures?
 *
 * Public: dg_publish_check_start, dg_publish_check_cancel, dg_publish_report_free.
 *
 * States: LOOKUP (zone NS and DNSKEY through the validating struct dg_dns, both must be
 * secure) -> ADDRS (A and AAAA of each NS name, secure or insecure) -> QUERY (SOA, DNSKEY
 * and TLSA asked of every address directly, RD=0 DO=1, UDP, TCP when truncated; one
 * deadline per exchange) -> DONE (publish_serve.c judges each server; the report goes to
 * the callback). Caps: DG_PUBLISH_MAX_NS names, DG_PUBLISH_MAX_ADDRS_PER_NS addresses per
 * name, DG_PUBLISH_MAX_SERVERS in all; extra ones are left out and said so in the reason.
 * Ownership: the check owns its lookups, exchanges, copies of the options and the report
 * until the callback, which takes the report. Before the callback every pending lookup and
 * exchange is cancelled, so the callback may free the DNS context or the base's users.
 *
 * SPEC: section 12 PUB-6 (publish at least 2 TTLs before the key change, on every server),
 * PUB-7 (TTL per server), PUB-8 (the TLSA RRset must validate on every server).
 */
#include "publish/publish_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <openssl/rand.h>

enum { Q_SOA = 0, Q_DNSKEY = 1, Q_TLSA = 2, Q_KINDS = 3 };
enum { LK_NS = 0, LK_KEYS = 1, LK_A = 2, LK_AAAA = 3 };

struct dg_publish_check;

/* One dg_dns lookup in flight: which one and for whom. */
struct auth_lookup {
	struct dg_publish_check *chk;
	int kind;
	size_t ns; /* index of the NS name for LK_A / LK_AAAA */
	uint64_t id;
	bool pending;
};

/* One direct query to one server address. */
struct auth_query {
	struct dg_publish_check *chk;
	size_t srv;
	int kind;
	uint8_t *msg;
	size_t msg_len;
	struct pub_xfer *xfer;
	bool tcp;
	enum dg_status st;
	char why[DG_ERR_MSG_MAX];
	uint8_t *reply;
	size_t reply_len;
};

struct dg_publish_check {
	struct event_base *base;
	struct dg_dns *dns;
	struct dg_tlsa_set *want;
	uint16_t dns_port;
	unsigned timeout_ms;
	dg_publish_check_cb *cb;
	void *arg;
	struct dg_publish_report *rep;
	struct dg_dns_answer keys; /* validated DNSKEY RRset */
	struct auth_lookup lk_ns, lk_keys;
	char ns[DG_PUBLISH_MAX_NS][DG_NAME_BUF_SIZE];
	size_t n_ns;
	struct auth_lookup lk_addr[DG_PUBLISH_MAX_NS][2];
	size_t lookups_pending;
	size_t dropped; /* servers over the caps */
	struct auth_query q[DG_PUBLISH_MAX_SERVERS][Q_KINDS];
	size_t queries_pending;
};

static enum dg_status lookup(struct dg_publish_check *chk, struct auth_lookup *lk, const char *name,
                             uint16_t type, int kind, size_t ns);
static void on_lookup(void *arg, const struct dg_dns_answer *ans);
static void on_ns(struct dg_publish_check *chk, const struct dg_dns_answer *ans);
static void on_keys(struct dg_publish_check *chk, const struct dg_dns_answer *ans);
static void on_addr(struct dg_publish_check *chk, size_t ns, const struct dg_dns_answer *ans);
static void stage_queries(struct dg_publish_check *chk);
static void query_send(struct auth_query *q);
static void on_query(void *arg, enum dg_status st, const uint8_t *reply, size_t len,
                     const struct dg_err *err);
static void finish_servers(struct dg_publish_check *chk);
static void mark_lagging(struct dg_publish_report *rep);
static void finish(struct dg_publish_check *chk, enum dg_status st, const char *fmt, ...)
    DG_PRINTF(3, 4);
static void cancel_all(struct dg_publish_check *chk);
static void check_free(struct dg_publish_check *chk);

/* ---- start, cancel, free ----------------------------------------------------------------- */

enum dg_status dg_publish_check_start(struct event_base *base, struct dg_dns *dns,
                                      const struct dg_publish_check_opts *opts,
                                      dg_publish_check_cb *cb, void *arg,
                                      struct dg_publish_check **out, struct dg_err *err)
{
	struct dg_publish_check *chk = dg_xcalloc(1, sizeof(*chk));
	struct dg_publish_report *rep = dg_xcalloc(1, sizeof(*rep));
	struct dg_err e;
	enum dg_status st;

	chk->rep = rep;
	if (opts->zone == NULL ||
	    dg_name_normalize(opts->zone, rep->zone, sizeof(rep->zone), &e) != DG_OK)
		st = dg_err_set(err, DG_E_CONFIG, "zone: %s", opts->zone ? e.msg : "missing");
	else
		st = pub_owner_name(opts->host, opts->port, rep->owner, sizeof(rep->owner), err);
	if (st == DG_OK && !pub_name_in_zone(rep->owner, rep->zone))
		st =
		    dg_err_set(err, DG_E_CONFIG, "%s is not inside zone %s", rep->owner, rep->zone);
	if (st != DG_OK) {
		check_free(chk);
		return st;
	}
	chk->base = base;
	chk->dns = dns;
	chk->want = dg_tlsa_set_copy(opts->want);
	chk->dns_port = opts->dns_port != 0 ? opts->dns_port : 53;
	chk->timeout_ms = opts->timeout_ms != 0 ? opts->timeout_ms : 5000;
	chk->cb = cb;
	chk->arg = arg;
	dg_dns_answer_init(&chk->keys);
	if ((st = lookup(chk, &chk->lk_ns, rep->zone, DG_DNS_T_NS, LK_NS, 0)) != DG_OK ||
	    (st = lookup(chk, &chk->lk_keys, rep->zone, DG_DNS_T_DNSKEY, LK_KEYS, 0)) != DG_OK) {
		if (err != NULL && chk->rep != NULL)
			dg_err_set(err, st, "%s", chk->rep->reason);
		cancel_all(chk);
		check_free(chk);
		return st;
	}
	if (out != NULL)
		*out = chk;
	return DG_OK;
}

void dg_publish_check_cancel(struct dg_publish_check *chk)
{
	if (chk == NULL)
		return;
	cancel_all(chk);
	check_free(chk);
}

void dg_publish_report_free(struct dg_publish_report *rep)
{
	if (rep == NULL)
		return;
	for (size_t i = 0; i < rep->n_srv; i++)
		dg_tlsa_set_free(rep->srv[i].served);
	free(rep);
}

static void cancel_all(struct dg_publish_check *chk)
{
	struct auth_lookup *one[2] = {&chk->lk_ns, &chk->lk_keys};

	for (size_t i = 0; i < 2; i++)
		if (one[i]->pending)
			dg_dns_cancel(chk->dns, one[i]->id);
	for (size_t i = 0; i < chk->n_ns; i++)
		for (size_t j = 0; j < 2; j++)
			if (chk->lk_addr[i][j].pending)
				dg_dns_cancel(chk->dns, chk->lk_addr[i][j].id);
	for (size_t i = 0; i < DG_PUBLISH_MAX_SERVERS; i++)
		for (size_t k = 0; k < Q_KINDS; k++) {
			pub_xfer_cancel(chk->q[i][k].xfer);
			chk->q[i][k].xfer = NULL;
		}
}

static void check_free(struct dg_publish_check *chk)
{
	for (size_t i = 0; i < DG_PUBLISH_MAX_SERVERS; i++)
		for (size_t k = 0; k < Q_KINDS; k++) {
			free(chk->q[i][k].msg);
			free(chk->q[i][k].reply);
		}
	dg_dns_answer_cleanup(&chk->keys);
	dg_tlsa_set_free(chk->want);
	dg_publish_report_free(chk->rep);
	free(chk);
}

static void finish(struct dg_publish_check *chk, enum dg_status st, const char *fmt, ...)
{
	struct dg_publish_report *rep = chk->rep;
	va_list ap;

	cancel_all(chk);
	rep->status = st;
	if (fmt != NULL) {
		va_start(ap, fmt);
		vsnprintf(rep->reason, sizeof(rep->reason), fmt, ap);
		va_end(ap);
	}
	chk->rep = NULL;
	chk->cb(chk->arg, rep);
	check_free(chk);
}

/* ---- LOOKUP and ADDRS -------------------------------------------------------------------- */

static enum dg_status lookup(struct dg_publish_check *chk, struct auth_lookup *lk, const char *name,
                             uint16_t type, int kind, size_t ns)
{
	struct dg_err e;
	enum dg_status st;

	lk->chk = chk;
	lk->kind = kind;
	lk->ns = ns;
	st = dg_dns_lookup(chk->dns, name, type, on_lookup, lk, &lk->id, &e);
	if (st != DG_OK) {
		snprintf(chk->rep->reason, sizeof(chk->rep->reason), "%s", e.msg);
		return st;
	}
	lk->pending = true;
	chk->lookups_pending++;
	return DG_OK;
}

static void on_lookup(void *arg, const struct dg_dns_answer *ans)
{
	struct auth_lookup *lk = arg;
	struct dg_publish_check *chk = lk->chk;

	lk->pending = false;
	chk->lookups_pending--;
	switch (lk->kind) {
	case LK_NS: on_ns(chk, ans); return;
	case LK_KEYS: on_keys(chk, ans); return;
	default: on_addr(chk, lk->ns, ans); return;
	}
}

static void on_ns(struct dg_publish_check *chk, const struct dg_dns_answer *ans)
{
	const char *zone = chk->rep->zone;

	if (ans->security == DG_DNS_INSECURE && ans->outcome == DG_DNS_ANSWER) {
		finish(chk, DG_E_NOTFOUND, "zone %s is not DNSSEC-signed (its NS RRset is "
		       "insecure): DANE senders ignore TLSA records there (SPEC TLSA-1)", zone);
		return;
	}
	if (ans->security != DG_DNS_SECURE || ans->outcome != DG_DNS_ANSWER) {
		finish(chk, dg_dns_answer_is_error(ans) ? DG_E_DNS_TEMP : DG_E_NOTFOUND,
		       "NS of %s: %s %s%s%s", zone, dg_dns_security_str(ans->security),
		       dg_dns_outcome_str(ans->outcome), ans->reason || ans->why_bogus ? ": " : "",
		       ans->why_bogus ? ans->why_bogus
		       : ans->reason  ? ans->reason
		                      : "");
		return;
	}
	for (size_t i = 0; i < ans->n_rrs; i++) {
		if (chk->n_ns == DG_PUBLISH_MAX_NS) {
			chk->dropped += ans->n_rrs - i;
			break;
		}
		snprintf(chk->ns[chk->n_ns], DG_NAME_BUF_SIZE, "%s", ans->rrs[i].u.cname.target);
		chk->n_ns++;
	}
	for (size_t i = 0; i < chk->n_ns; i++)
		if (lookup(chk, &chk->lk_addr[i][0], chk->ns[i], DG_DNS_T_A, LK_A, i) != DG_OK ||
		    lookup(chk, &chk->lk_addr[i][1], chk->ns[i], DG_DNS_T_AAAA, LK_AAAA, i) !=
		        DG_OK) {
			finish(chk, DG_E_DNS_TEMP, "NS %s of %s: %s", chk->ns[i], zone,
			       chk->rep->reason);
			return;
		}
	if (chk->lookups_pending == 0)
		stage_queries(chk);
}

static void on_keys(struct dg_publish_check *chk, const struct dg_dns_answer *ans)
{
	if (ans->security != DG_DNS_SECURE || ans->outcome != DG_DNS_ANSWER) {
		finish(chk, dg_dns_answer_is_error(ans) ? DG_E_DNS_TEMP : DG_E_NOTFOUND,
		       "DNSKEY of %s: %s %s: the zone must be signed and validate", chk->rep->zone,
		       dg_dns_security_str(ans->security), dg_dns_outcome_str(ans->outcome));
		return;
	}
	dg_dns_answer_copy(&chk->keys, ans);
	if (chk->lookups_pending == 0 && chk->n_ns > 0)
		stage_queries(chk);
}

static void on_addr(struct dg_publish_check *chk, size_t ns, const struct dg_dns_answer *ans)
{
	struct dg_publish_report *rep = chk->rep;
	size_t added = 0;

	if (ans->security == DG_DNS_SECURE || ans->security == DG_DNS_INSECURE) {
		for (size_t i = 0; i < ans->n_rrs && ans->outcome == DG_DNS_ANSWER; i++) {
			if (rep->n_srv == DG_PUBLISH_MAX_SERVERS ||
			    added == DG_PUBLISH_MAX_ADDRS_PER_NS) {
				chk->dropped++;
				continue;
			}
			struct dg_publish_server *s = &rep->srv[rep->n_srv++];
			snprintf(s->ns, sizeof(s->ns), "%s", chk->ns[ns]);
			snprintf(s->addr, sizeof(s->addr), "%s", ans->rrs[i].u.addr.text);
			added++;
		}
	}
	if (chk->lookups_pending == 0 && chk->keys.n_rrs > 0)
		stage_queries(chk);
}

/* ---- QUERY ------------------------------------------------------------------------------- */

static void stage_queries(struct dg_publish_check *chk)
{
	static const uint16_t types[Q_KINDS] = {DG_DNS_T_SOA, DG_DNS_T_DNSKEY, DG_DNS_T_TLSA};
	struct dg_publish_report *rep = chk->rep;

	if (rep->n_srv == 0) {
		finish(chk, DG_E_DNS_TEMP, "no address found for any name server of %s", rep->zone);
		return;
	}
	for (size_t i = 0; i < rep->n_srv; i++)
		for (int k = 0; k < Q_KINDS; k++) {
			struct auth_query *q = &chk->q[i][k];
			uint16_t id = 0;
			q->chk = chk;
			q->srv = i;
			q->kind = k;
			(void)RAND_bytes((unsigned char *)&id, sizeof(id));
			if (pub_query_build(k == Q_TLSA ? rep->owner : rep->zone, types[k], id,
			                    &q->msg, &q->msg_len, NULL) != DG_OK)
				DG_PANIC("cannot build a query for %s", rep->zone);
			chk->queries_pending++;
		}
	for (size_t i = 0; i < rep->n_srv; i++)
		for (int k = 0; k < Q_KINDS; k++)
			query_send(&chk->q[i][k]);
}

static void query_send(struct auth_query *q)
{
	struct dg_publish_check *chk = q->chk;
	struct dg_err e;

	q->st = pub_xfer_start(chk->base, q->tcp ? PUB_XFER_TCP : PUB_XFER_UDP,
	                       chk->rep->srv[q->srv].addr, chk->dns_port, q->msg, q->msg_len,
	                       chk->timeout_ms, on_query, q, &q->xfer, &e);
	if (q->st != DG_OK) {
		/* counted as answered; judged as an error when everything is in */
		snprintf(q->why, sizeof(q->why), "%s", e.msg);
		if (--chk->queries_pending == 0)
			finish_servers(chk);
	}
}

static void on_query(void *arg, enum dg_status st, const uint8_t *reply, size_t len,
                     const struct dg_err *err)
{
	struct auth_query *q = arg;
	struct dg_publish_check *chk = q->chk;

	q->xfer = NULL;
	q->st = st;
	if (st != DG_OK) {
		snprintf(q->why, sizeof(q->why), "%s", err->msg);
	} else if (!q->tcp && (reply[2] & 0x02)) { /* TC: ask again over TCP */
		q->tcp = true;
		query_send(q);
		return;
	} else {
		q->reply = dg_xmalloc(len);
		memcpy(q->reply, reply, len);
		q->reply_len = len;
	}
	if (--chk->queries_pending == 0)
		finish_servers(chk);
}

/* Servers that serve another RRset at an older SOA serial than some other server lag. */
static void mark_lagging(struct dg_publish_report *rep)
{
	uint32_t newest = 0;
	bool any = false;

	for (size_t i = 0; i < rep->n_srv; i++)
		if (rep->srv[i].has_soa &&
		    (!any || (int32_t)(rep->srv[i].soa_serial - newest) > 0)) {
			newest = rep->srv[i].soa_serial;
			any = true;
		}
	for (size_t i = 0; i < rep->n_srv; i++) {
		struct dg_publish_server *s = &rep->srv[i];
		if (s->state == DG_PUBLISH_SRV_DIFFERENT && s->has_soa && s->soa_serial != newest)
			snprintf(s->reason, sizeof(s->reason),
			         "lags behind: serves %zu TLSA record(s) "
			         "at SOA serial %u while another server is at serial %u",
			         s->served->count, s->soa_serial, newest);
	}
}

static void finish_servers(struct dg_publish_check *chk)
{
	struct dg_publish_report *rep = chk->rep;
	time_t now = dg_clock_wall();

	for (size_t i = 0; i < rep->n_srv; i++) {
		struct dg_publish_server *s = &rep->srv[i];
		struct auth_query *q = chk->q[i];
		const struct auth_query *bad = NULL;
		for (int k = 0; k < Q_KINDS && bad == NULL; k++)
			bad = q[k].st != DG_OK ? &q[k] : NULL;
		if (bad != NULL) {
			s->served = dg_tlsa_set_new();
			s->state =
			    bad->st == DG_E_TIMEOUT ? DG_PUBLISH_SRV_TIMEOUT : DG_PUBLISH_SRV_ERROR;
			snprintf(s->reason, sizeof(s->reason), "%s", bad->why);
			continue;
		}
		dg_publish_serve_analyse(q[Q_SOA].reply, q[Q_SOA].reply_len, q[Q_DNSKEY].reply,
		                         q[Q_DNSKEY].reply_len, q[Q_TLSA].reply,
		                         q[Q_TLSA].reply_len, rep->zone, rep->owner, chk->keys.rrs,
		                         chk->keys.n_rrs, chk->want, now, s);
		rep->n_ok += s->state == DG_PUBLISH_SRV_OK;
	}
	mark_lagging(rep);
	rep->published = rep->n_srv > 0 && rep->n_ok == rep->n_srv && chk->dropped == 0;
	if (!rep->published)
		snprintf(rep->reason, sizeof(rep->reason),
		         "%zu of %zu server address(es) serve the "
		         "desired TLSA RRset at %s%s",
		         rep->n_ok, rep->n_srv, rep->owner,
		         chk->dropped ? " (some servers over the caps were not checked)" : "");
	finish(chk, DG_OK, NULL);
}
