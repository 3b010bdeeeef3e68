/*
 * dns_fake.c - the fake backend of struct dg_dns, for tests (STYLE.md section 9).
 *
 * Public: dg_dns_fake_add. Private: dns_fake_ops, dns_fake_setup.
 *
 * Tests register canned answers per (name, type): a security status, an outcome and the
 * records in zone-file form, or a raw response packet. Records are turned into a response
 * packet with ldns at registration, so the fake goes through the same parser, coalescing,
 * cache, queue and timeout code as the libunbound backend. Answers fire from the context's
 * event_base after delay_ms (0: the next loop turn), never from inside dg_dns_lookup().
 * Outcome TIMEOUT never answers: the context's per-query timeout fires.
 *
 * Ownership: the fake (struct dns_fake, owned by struct dg_dns) owns its canned answers;
 * dg_dns_fake_add() copies everything it is given. SPEC: none directly; it lets the SPEC
 * DNS-*, MX-* and HOST-* logic of the engine be tested without a network.
 */
#include "dns/dns_int.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ldns/ldns.h>

/** One canned answer. */
struct fake_canned {
	struct dns_hnode hn; /* first member */
	char *name;
	uint16_t type;
	enum dg_dns_security security;
	enum dg_dns_outcome outcome;
	char *why_bogus;
	uint8_t *pkt;
	size_t pkt_len;
	unsigned delay_ms;
};

struct dns_fake {
	struct dns_htab canned;
};

static enum dg_status fake_submit(struct dg_dns *dns, struct dns_entry *e, struct dg_err *err);
static void fake_abort(struct dg_dns *dns, struct dns_entry *e);
static void fake_destroy(struct dg_dns *dns);
static void fake_fire(evutil_socket_t fd, short what, void *arg);
static struct fake_canned *canned_find(struct dns_fake *f, const char *name, uint16_t type);
static void canned_free(struct fake_canned *c);
static enum dg_status fake_build_packet(const char *name, const struct dg_dns_fake_answer *fa,
                                        struct fake_canned *c, struct dg_err *err);
static enum dg_status fake_push_rrs(ldns_pkt *p, ldns_pkt_section sec, const char *const *rrs,
                                    size_t n, struct dg_err *err);

const struct dns_backend_ops dns_fake_ops = {
    .name = "fake",
    .submit = fake_submit,
    .abort = fake_abort,
    .destroy = fake_destroy,
};

void dns_fake_setup(struct dg_dns *dns)
{
	dns->backend = dg_xcalloc(1, sizeof(struct dns_fake));
}

static struct fake_canned *canned_find(struct dns_fake *f, const char *name, uint16_t type)
{
	uint64_t h = dns_hash_key(name, type);

	for (struct dns_hnode *n = dns_htab_first(&f->canned, h); n != NULL;
	     n = dns_htab_next(n, h)) {
		struct fake_canned *c = (struct fake_canned *)n;

		if (c->type == type && strcmp(c->name, name) == 0)
			return c;
	}
	return NULL;
}

static void canned_free(struct fake_canned *c)
{
	if (c == NULL)
		return;
	free(c->name);
	free(c->why_bogus);
	free(c->pkt);
	free(c);
}

static enum dg_status fake_push_rrs(ldns_pkt *p, ldns_pkt_section sec, const char *const *rrs,
                                    size_t n, struct dg_err *err)
{
	for (size_t i = 0; i < n; i++) {
		ldns_rr *rr = NULL;
		ldns_status ls = ldns_rr_new_frm_str(&rr, rrs[i], 0, NULL, NULL);

		if (ls != LDNS_STATUS_OK)
			return dg_err_set(err, DG_E_PARSE, "fake record \"%s\": %s", rrs[i],
			                  ldns_get_errorstr_by_id(ls));
		ldns_pkt_push_rr(p, sec, rr);
	}
	return DG_OK;
}

/** Build a response packet for @p fa (NOERROR or NXDOMAIN) into c->pkt. */
static enum dg_status fake_build_packet(const char *name, const struct dg_dns_fake_answer *fa,
                                        struct fake_canned *c, struct dg_err *err)
{
	ldns_rdf *owner = ldns_dname_new_frm_str(name);
	ldns_pkt *p;
	enum dg_status st;
	uint8_t *wire = NULL;
	size_t wire_len = 0;

	if (owner == NULL)
		return dg_err_set(err, DG_E_PARSE, "fake answer %s: bad name", name);
	p = ldns_pkt_query_new(owner, (ldns_rr_type)fa->rrtype, LDNS_RR_CLASS_IN, LDNS_RD);
	ldns_pkt_set_qr(p, true);
	ldns_pkt_set_ra(p, true);
	ldns_pkt_set_rcode(p, fa->outcome == DG_DNS_NXDOMAIN ? LDNS_RCODE_NXDOMAIN
	                                                     : LDNS_RCODE_NOERROR);
	st = fake_push_rrs(p, LDNS_SECTION_ANSWER, fa->rrs, fa->n_rrs, err);
	if (st == DG_OK)
		st = fake_push_rrs(p, LDNS_SECTION_AUTHORITY, fa->authority, fa->n_authority, err);
	if (st == DG_OK && ldns_pkt2wire(&wire, p, &wire_len) != LDNS_STATUS_OK)
		st = dg_err_set(err, DG_E_INTERNAL, "fake answer %s: ldns_pkt2wire failed", name);
	ldns_pkt_free(p);
	if (st != DG_OK) {
		free(wire);
		return st;
	}
	c->pkt = dg_xmalloc(wire_len);
	memcpy(c->pkt, wire, wire_len);
	c->pkt_len = wire_len;
	free(wire); /* ldns allocates with malloc */
	return DG_OK;
}

enum dg_status dg_dns_fake_add(struct dg_dns *dns, const struct dg_dns_fake_answer *fa,
                               struct dg_err *err)
{
	struct dns_fake *f = dns->backend;
	struct fake_canned *c, *old;
	char key[DG_NAME_BUF_SIZE];
	enum dg_status st;

	if (dns->ops != &dns_fake_ops)
		return dg_err_set(err, DG_E_CONFIG, "dg_dns_fake_add: not a fake resolver");
	if (fa->rrtype == 0)
		return dg_err_set(err, DG_E_PARSE, "fake answer %s: type 0", fa->name);
	if ((st = dg_name_normalize(fa->name, key, sizeof(key), err)) != DG_OK)
		return st;
	c = dg_xcalloc(1, sizeof(*c));
	c->name = dg_xstrdup(key);
	c->type = fa->rrtype;
	c->security = fa->security;
	c->outcome = fa->outcome;
	c->delay_ms = fa->delay_ms;
	c->why_bogus = fa->why_bogus != NULL ? dg_xstrdup(fa->why_bogus) : NULL;
	if (fa->packet != NULL && fa->packet_len > 0) {
		c->pkt = dg_xmalloc(fa->packet_len);
		memcpy(c->pkt, fa->packet, fa->packet_len);
		c->pkt_len = fa->packet_len;
	} else if (fa->outcome == DG_DNS_ANSWER || fa->outcome == DG_DNS_NODATA ||
	           fa->outcome == DG_DNS_NXDOMAIN) {
		st = fake_build_packet(key, fa, c, err);
		if (st != DG_OK) {
			canned_free(c);
			return st;
		}
	}
	old = canned_find(f, key, fa->rrtype);
	if (old != NULL) {
		dns_htab_remove(&f->canned, &old->hn);
		canned_free(old);
	}
	c->hn.hash = dns_hash_key(key, fa->rrtype);
	dns_htab_insert(&f->canned, &c->hn);
	return DG_OK;
}

static enum dg_status fake_submit(struct dg_dns *dns, struct dns_entry *e, struct dg_err *err)
{
	struct fake_canned *c = canned_find(dns->backend, e->name, e->type);
	unsigned delay = c != NULL ? c->delay_ms : 0;
	struct timeval tv = {(time_t)(delay / 1000), (suseconds_t)(delay % 1000) * 1000};

	(void)err;
	if (c != NULL && c->outcome == DG_DNS_TIMEOUT)
		return DG_OK; /* never answers; the query timer fires */
	e->fake_ev = evtimer_new(dns->base, fake_fire, e);
	if (e->fake_ev == NULL)
		DG_PANIC("evtimer_new failed for a fake dns answer");
	evtimer_add(e->fake_ev, &tv);
	return DG_OK;
}

static void fake_fire(evutil_socket_t fd, short what, void *arg)
{
	struct dns_entry *e = arg;
	struct dg_dns *dns = e->dns;
	struct fake_canned *c = canned_find(dns->backend, e->name, e->type);
	char why[DG_NAME_BUF_SIZE + 48];

	(void)fd;
	(void)what;
	event_free(e->fake_ev);
	e->fake_ev = NULL;
	if (c == NULL) {
		snprintf(why, sizeof(why), "fake: no answer for %s/%s", e->name,
		         dg_dns_type_str(e->type));
		dns_entry_complete_fail(dns, e, DG_DNS_SERVFAIL, -1, why);
	} else if (c->pkt != NULL) {
		dns_entry_complete_pkt(dns, e, 0, c->pkt, c->pkt_len, c->security, c->why_bogus);
	} else {
		snprintf(why, sizeof(why), "fake: %s", dg_dns_outcome_str(c->outcome));
		dns_entry_complete_fail(
		    dns, e, c->outcome == DG_DNS_SERVFAIL ? DG_DNS_SERVFAIL : DG_DNS_ERROR,
		    c->outcome == DG_DNS_SERVFAIL ? 2 : -1, why);
	}
}

static void fake_abort(struct dg_dns *dns, struct dns_entry *e)
{
	(void)dns;
	if (e->fake_ev != NULL)
		event_free(e->fake_ev);
	e->fake_ev = NULL;
}

static void fake_destroy(struct dg_dns *dns)
{
	struct dns_fake *f = dns->backend;

	if (f == NULL)
		return;
	for (size_t i = 0; i < f->canned.n_buckets; i++) {
		struct dns_hnode *n = f->canned.buckets[i], *next;

		for (; n != NULL; n = next) {
			next = n->next;
			canned_free((struct fake_canned *)n);
		}
	}
	dns_htab_cleanup(&f->canned);
	free(f);
	dns->backend = NULL;
}
