/*
 * dns_unbound.c - the libunbound backend of struct dg_dns.
 *
 * Private: dns_unbound_ops, dns_unbound_setup. No public functions: dg_dns_new() in
 * dns_ctx.c selects this backend.
 *
 * By default one struct ub_ctx per struct dg_dns, created with ub_ctx_create_event() on the
 * caller's event_base and released with ub_ctx_delete() in destroy (which cancels every query
 * without calling back). Queries go out with ub_resolve_event() (never the blocking
 * ub_resolve), keep their async id for ub_cancel(), and come back through ub_done_cb(), which
 * may run inside ub_resolve_event() for answers libunbound already has; dns_ctx.c copes.
 *
 * Trust anchors: the IANA root KSK-2017 (tag 20326) and KSK-2024 (tag 38696) DS records are
 * built in; a trust-anchor file (DS or DNSKEY records in zone-file form) replaces them. The
 * file is read and checked here with ldns, so a bad file fails dg_dns_new() with
 * "trust anchor FILE: ..." instead of failing every later query. Forwarders are "ADDR" or
 * "ADDR@PORT"; validation stays local in forward mode (SPEC DNS-2).
 *
 * Security mapping (libunbound event callback: sec 2 secure, 1 bogus, 0 insecure; a nonzero
 * rcode means the answer could not be had and carries no verdict): see dns_entry_complete_pkt
 * and docs/internals/dns.md. SPEC: DNS-1, DNS-2, DNS-3, DNS-4.
 *
 * Worker threads (opts.resolver_threads N > 0, used by `scan`): N contexts made with
 * ub_ctx_create and ub_ctx_async(ctx, 1), each with the same trust anchors and forwarders; an
 * entry goes to the context the last two labels of its name select (ub_ctx_of). Queries go
 * out with ub_resolve_async and libunbound resolves and validates in the context's thread;
 * answers come back through its pipe (ub_fd), which an event on the loop drains with
 * ub_process (non-blocking once the fd is readable). The callback gets the same packet,
 * security and why_bogus as in event mode and completes the entry the same way, always from
 * the loop, never inside submit. DNSSEC signature checks (most of a scan's CPU) then run
 * beside the loop, on the other cores. Each context has its own caches.
 */
#include "dns/dns_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <ldns/ldns.h>
#include <unbound-event.h>
#include <unbound.h>

/* IANA root trust anchors (https://data.iana.org/root-anchors/root-anchors.xml). */
static const char *const dns_root_ds[] = {
    ". IN DS 20326 8 2 E06D44B80B8F1D39A95C0B0D7C65D08458E880409BBC683457104237C7F8EC8D",
    ". IN DS 38696 8 2 683D2D0ACB8C9B712A1948B27F741219298D0A450D612C483AF444A4C0FB2B16",
};

static enum dg_status ub_submit(struct dg_dns *dns, struct dns_entry *e, struct dg_err *err);
static void ub_abort(struct dg_dns *dns, struct dns_entry *e);
static void ub_destroy(struct dg_dns *dns);
static void ub_done_cb(void *arg, int rcode, void *pkt, int len, int sec, char *why_bogus,
                       int was_ratelimited);
static void ub_async_cb(void *arg, int err, struct ub_result *r);
static void ub_fd_cb(evutil_socket_t fd, short what, void *arg);
static enum dg_status ub_configure(struct ub_ctx *ctx, const struct dg_dns_opts *opts,
                                   struct dg_err *err);
static enum dg_status ub_start_thread(struct dg_dns *dns, size_t i, struct dg_err *err);
static struct ub_ctx *ub_ctx_of(struct dg_dns *dns, const struct dns_entry *e);

/* The libunbound side of a struct dg_dns (dns->backend): one context on the loop, or
 * n contexts with a worker thread each (opts.resolver_threads). */
struct ub_backend {
	struct ub_ctx *ctx[DG_DNS_MAX_RESOLVER_THREADS];
	struct event *ev[DG_DNS_MAX_RESOLVER_THREADS]; /* worker threads: answer pipes */
	size_t n;
	bool threaded;
};
static enum dg_status ta_check_file(const char *path, struct dg_err *err);
static enum dg_status fwd_check(const char *fwd, struct dg_err *err);
/* RFC 6761 special-use names served locally by default, released for a private root
 * ("nodefault" is not honoured through ub_ctx_set_option; "transparent" is). */
static const char *const dns_private_tlds[] = {"test. transparent", "invalid. transparent"};

static enum dg_status ub_option(struct ub_ctx *ctx, const char *opt, const char *val,
                                struct dg_err *err);

const struct dns_backend_ops dns_unbound_ops = {
    .name = "unbound",
    .submit = ub_submit,
    .abort = ub_abort,
    .destroy = ub_destroy,
};

/** Check that @p path is a readable zone file of DS/DNSKEY records only (at least one).
 *  Read record by record (ldns_zone_new_frm_fp_l leaks on syntax errors). */
static enum dg_status ta_check_file(const char *path, struct dg_err *err)
{
	FILE *f = fopen(path, "r");
	ldns_rdf *origin = NULL, *prev = NULL;
	enum dg_status st = DG_OK;
	uint32_t ttl = 3600;
	size_t n = 0;
	int line = 1;

	if (f == NULL)
		return dg_err_set_errno(err, DG_E_CONFIG, errno, "trust anchor %s", path);
	while (st == DG_OK && !feof(f)) {
		ldns_rr *rr = NULL;
		ldns_status ls = ldns_rr_new_frm_fp_l(&rr, f, &ttl, &origin, &prev, &line);
		ldns_rr_type t;

		if (ls == LDNS_STATUS_SYNTAX_EMPTY || ls == LDNS_STATUS_SYNTAX_TTL ||
		    ls == LDNS_STATUS_SYNTAX_ORIGIN)
			continue;
		if (ls != LDNS_STATUS_OK) {
			st = dg_err_set(err, DG_E_CONFIG, "trust anchor %s: line %d: %s", path,
			                line, ldns_get_errorstr_by_id(ls));
			break;
		}
		t = ldns_rr_get_type(rr);
		ldns_rr_free(rr);
		if (t != LDNS_RR_TYPE_DS && t != LDNS_RR_TYPE_DNSKEY)
			st = dg_err_set(err, DG_E_CONFIG,
			                "trust anchor %s: line %d: type %s is not DS or DNSKEY",
			                path, line, dg_dns_type_str((uint16_t)t));
		n++;
	}
	fclose(f);
	ldns_rdf_deep_free(origin);
	ldns_rdf_deep_free(prev);
	if (st == DG_OK && n == 0)
		st = dg_err_set(err, DG_E_CONFIG, "trust anchor %s: no DS or DNSKEY records", path);
	return st;
}

/** Check "ADDR" or "ADDR@PORT" (IPv4 or IPv6, port 1..65535). */
static enum dg_status fwd_check(const char *fwd, struct dg_err *err)
{
	char addr[INET6_ADDRSTRLEN + 1];
	const char *at = strchr(fwd, '@');
	size_t alen = at != NULL ? (size_t)(at - fwd) : strlen(fwd);
	uint8_t bin[16];
	uint32_t port;

	if (alen == 0 || alen >= sizeof(addr))
		return dg_err_set(err, DG_E_CONFIG, "forwarder %s: not an IP address", fwd);
	memcpy(addr, fwd, alen);
	addr[alen] = '\0';
	if (inet_pton(AF_INET, addr, bin) != 1 && inet_pton(AF_INET6, addr, bin) != 1)
		return dg_err_set(err, DG_E_CONFIG, "forwarder %s: not an IP address", fwd);
	if (at != NULL && dg_parse_u32(at + 1, 1, 65535, &port) != DG_OK)
		return dg_err_set(err, DG_E_CONFIG, "forwarder %s: bad port", fwd);
	return DG_OK;
}

static enum dg_status ub_option(struct ub_ctx *ctx, const char *opt, const char *val,
                                struct dg_err *err)
{
	int r = ub_ctx_set_option(ctx, opt, val);

	if (r != 0)
		return dg_err_set(err, DG_E_CONFIG, "resolver option %s %s: %s", opt, val,
		                  ub_strerror(r));
	return DG_OK;
}

enum dg_status dns_unbound_setup(struct dg_dns *dns, const struct dg_dns_opts *opts,
                                 struct dg_err *err)
{
	struct ub_backend *ub;
	enum dg_status st;

	if (opts->ta_file != NULL && (st = ta_check_file(opts->ta_file, err)) != DG_OK)
		return st;
	for (size_t i = 0; i < opts->n_forwarders; i++)
		if ((st = fwd_check(opts->forwarders[i], err)) != DG_OK)
			return st;
	ub = dg_xcalloc(1, sizeof(*ub));
	dns->backend = ub;
	ub->threaded = opts->resolver_threads > 0;
	ub->n = !ub->threaded ? 1
	        : opts->resolver_threads < DG_DNS_MAX_RESOLVER_THREADS
	            ? opts->resolver_threads
	            : DG_DNS_MAX_RESOLVER_THREADS;
	for (size_t i = 0; i < ub->n; i++) {
		ub->ctx[i] = ub->threaded ? ub_ctx_create() : ub_ctx_create_event(dns->base);
		if (ub->ctx[i] == NULL)
			return dg_err_set(err, DG_E_INTERNAL, "ub_ctx_create%s failed",
			                  ub->threaded ? "" : "_event");
		if ((st = ub_configure(ub->ctx[i], opts, err)) != DG_OK ||
		    (st = ub_start_thread(dns, i, err)) != DG_OK)
			return st;
	}
	return DG_OK;
}

/* Trust anchors, cache sizes, root hints and forwarders of one context. */
static enum dg_status ub_configure(struct ub_ctx *ctx, const struct dg_dns_opts *opts,
                                   struct dg_err *err)
{
	char bytes[32];
	enum dg_status st;
	int r;

	if (opts->ta_file != NULL) {
		r = ub_ctx_add_ta_file(ctx, opts->ta_file);
		if (r != 0)
			return dg_err_set(err, DG_E_CONFIG, "trust anchor %s: %s", opts->ta_file,
			                  ub_strerror(r));
		/* A private root (own trust anchor) is a private namespace: the RFC 6761
		 * names that unbound otherwise answers locally with NXDOMAIN are real there. */
		for (size_t i = 0; i < sizeof(dns_private_tlds) / sizeof(dns_private_tlds[0]); i++)
			if ((st = ub_option(ctx, "local-zone:", dns_private_tlds[i], err)) != DG_OK)
				return st;
	} else {
		for (size_t i = 0; i < sizeof(dns_root_ds) / sizeof(dns_root_ds[0]); i++) {
			r = ub_ctx_add_ta(ctx, dns_root_ds[i]);
			if (r != 0)
				return dg_err_set(err, DG_E_INTERNAL, "built-in trust anchor: %s",
				                  ub_strerror(r));
		}
	}
	if (opts->ub_cache_bytes > 0) {
		snprintf(bytes, sizeof(bytes), "%zu", opts->ub_cache_bytes);
		if ((st = ub_option(ctx, "msg-cache-size:", bytes, err)) != DG_OK ||
		    (st = ub_option(ctx, "rrset-cache-size:", bytes, err)) != DG_OK)
			return st;
	}
	if (opts->root_hints_file != NULL &&
	    (st = ub_option(ctx, "root-hints:", opts->root_hints_file, err)) != DG_OK)
		return st;
	for (size_t i = 0; i < opts->n_forwarders; i++) {
		r = ub_ctx_set_fwd(ctx, opts->forwarders[i]);
		if (r != 0)
			return dg_err_set(err, DG_E_CONFIG, "forwarder %s: %s", opts->forwarders[i],
			                  ub_strerror(r));
	}
	/* A forwarder on loopback (a local validating resolver, SPEC DNS-2) must be usable. */
	if (opts->n_forwarders > 0 &&
	    (st = ub_option(ctx, "do-not-query-localhost:", "no", err)) != DG_OK)
		return st;
	return DG_OK;
}

/* Worker-thread mode: give context i its thread and watch its answer pipe on the loop. */
static enum dg_status ub_start_thread(struct dg_dns *dns, size_t i, struct dg_err *err)
{
	struct ub_backend *ub = dns->backend;
	int r;

	if (!ub->threaded)
		return DG_OK;
	if ((r = ub_ctx_async(ub->ctx[i], 1)) != 0)
		return dg_err_set(err, DG_E_INTERNAL, "ub_ctx_async: %s", ub_strerror(r));
	ub->ev[i] =
	    event_new(dns->base, ub_fd(ub->ctx[i]), EV_READ | EV_PERSIST, ub_fd_cb, ub->ctx[i]);
	if (ub->ev[i] == NULL || event_add(ub->ev[i], NULL) != 0)
		return dg_err_set(err, DG_E_INTERNAL, "cannot watch the resolver thread's pipe");
	return DG_OK;
}

/* The context an entry goes to, fixed by the last two labels of its name (so ub_cancel finds
 * it): every name of one domain (MX, _smtp._tls TXT, mta-sts, _25._tcp TLSA) and of its
 * subdomains meets the same context, and with it the same key cache. A zone whose DNSKEY
 * failed validation is then remembered as such ("marked as invalid because of a previous
 * validation failure") exactly as in a single context, so reasons match `check`'s. */
static struct ub_ctx *ub_ctx_of(struct dg_dns *dns, const struct dns_entry *e)
{
	struct ub_backend *ub = dns->backend;
	const char *p, *start = e->name;
	int dots = 0;
	uint32_t h = 2166136261u;

	if (ub->n == 1)
		return ub->ctx[0];
	for (p = e->name + strlen(e->name); p > e->name; p--)
		if (p[-1] == '.' && ++dots == 2) {
			start = p;
			break;
		}
	for (p = start; *p != '\0'; p++)
		h = (h ^ (unsigned char)*p) * 16777619u;
	return ub->ctx[h % ub->n];
}

static enum dg_status ub_submit(struct dg_dns *dns, struct dns_entry *e, struct dg_err *err)
{
	struct ub_backend *ub = dns->backend;
	int id = 0;
	int r = ub->threaded ? ub_resolve_async(ub_ctx_of(dns, e), e->name, e->type, 1 /* IN */, e,
	                                        ub_async_cb, &id)
	                     : ub_resolve_event(ub_ctx_of(dns, e), e->name, e->type, 1 /* IN */, e,
	                                        ub_done_cb, &id);

	if (r != 0)
		return dg_err_set(err, DG_E_DNS_TEMP, "resolver: %s", ub_strerror(r));
	if (e->state == DNS_Q_INFLIGHT) /* not already answered inside ub_resolve_event */
		e->async_id = id;
	return DG_OK;
}

static void ub_abort(struct dg_dns *dns, struct dns_entry *e)
{
	if (e->async_id != 0)
		(void)ub_cancel(ub_ctx_of(dns, e), e->async_id);
	e->async_id = 0;
}

static void ub_destroy(struct dg_dns *dns)
{
	struct ub_backend *ub = dns->backend;

	if (ub == NULL)
		return;
	for (size_t i = 0; i < ub->n; i++) {
		if (ub->ev[i] != NULL)
			event_free(ub->ev[i]);
		if (ub->ctx[i] != NULL)
			ub_ctx_delete(ub->ctx[i]);
	}
	free(ub);
	dns->backend = NULL;
}

static void ub_done_cb(void *arg, int rcode, void *pkt, int len, int sec, char *why_bogus,
                       int was_ratelimited)
{
	struct dns_entry *e = arg;
	enum dg_dns_security s;

	(void)was_ratelimited;
	switch (sec) {
	case 2: s = DG_DNS_SECURE; break;
	case 1: s = DG_DNS_BOGUS; break;
	case 0: s = DG_DNS_INSECURE; break;
	default: s = DG_DNS_INDETERMINATE; break;
	}
	e->async_id = 0;
	dns_entry_complete_pkt(e->dns, e, rcode, pkt, len > 0 ? (size_t)len : 0, s, why_bogus);
}

/* The worker thread's pipe is readable: take the answers it holds (callbacks: ub_async_cb). */
static void ub_fd_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)ub_process(arg);
}

/* Worker-thread answer: the same packet, security and reason as ub_done_cb gets. */
static void ub_async_cb(void *arg, int err, struct ub_result *r)
{
	struct dns_entry *e = arg;
	enum dg_dns_security s = DG_DNS_INSECURE;

	e->async_id = 0;
	if (err != 0 || r == NULL) {
		dns_entry_complete_fail(e->dns, e, DG_DNS_ERROR, -1, ub_strerror(err));
	} else {
		if (r->secure)
			s = DG_DNS_SECURE;
		else if (r->bogus)
			s = DG_DNS_BOGUS;
		dns_entry_complete_pkt(e->dns, e, r->rcode, r->answer_packet,
		                       r->answer_len > 0 ? (size_t)r->answer_len : 0, s,
		                       r->why_bogus);
	}
	ub_resolve_free(r);
}
