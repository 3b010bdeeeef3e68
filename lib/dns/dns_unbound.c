/*
 * dns_unbound.c - the libunbound backend of struct dg_dns.
 *
 * Private: dns_unbound_ops, dns_unbound_setup. No public functions: dg_dns_new() in
 * dns_ctx.c selects this backend.
 *
 * One struct ub_ctx per struct dg_dns, created with ub_ctx_create_event() on the caller's
 * event_base and released with ub_ctx_delete() in destroy (which cancels every query without
 * calling back). Queries go out with ub_resolve_event() only (never the blocking ub_resolve),
 * keep their async id for ub_cancel(), and come back through ub_done_cb(), which may run
 * inside ub_resolve_event() for answers libunbound already has; dns_ctx.c copes with that.
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
 */
#include "dns/dns_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
	struct ub_ctx *ctx;
	enum dg_status st;
	int r;

	if (opts->ta_file != NULL && (st = ta_check_file(opts->ta_file, err)) != DG_OK)
		return st;
	for (size_t i = 0; i < opts->n_forwarders; i++)
		if ((st = fwd_check(opts->forwarders[i], err)) != DG_OK)
			return st;
	ctx = ub_ctx_create_event(dns->base);
	if (ctx == NULL)
		return dg_err_set(err, DG_E_INTERNAL, "ub_ctx_create_event failed");
	dns->backend = ctx;
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

static enum dg_status ub_submit(struct dg_dns *dns, struct dns_entry *e, struct dg_err *err)
{
	int id = 0;
	int r = ub_resolve_event(dns->backend, e->name, e->type, 1 /* IN */, e, ub_done_cb, &id);

	if (r != 0)
		return dg_err_set(err, DG_E_DNS_TEMP, "resolver: %s", ub_strerror(r));
	if (e->state == DNS_Q_INFLIGHT) /* not already answered inside ub_resolve_event */
		e->async_id = id;
	return DG_OK;
}

static void ub_abort(struct dg_dns *dns, struct dns_entry *e)
{
	if (e->async_id != 0)
		(void)ub_cancel(dns->backend, e->async_id);
	e->async_id = 0;
}

static void ub_destroy(struct dg_dns *dns)
{
	if (dns->backend != NULL)
		ub_ctx_delete(dns->backend);
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
