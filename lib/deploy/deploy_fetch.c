/*
 * deploy_fetch.c - fetch the certificate chain a mail server presents.
 *
 * Public: dg_deploy_fetch_start, dg_deploy_fetch_free.
 * Resolves the host through the caller's validating DNS context (A first, then
 * AAAA; a literal address is used directly), then runs one STARTTLS probe
 * (lib/smtp) with SNI = the host name (SPEC TLS-3) and keeps the chain exactly
 * as sent, leaf first. Each wait is bounded by the given timeout.
 *
 * Ownership: the fetch result belongs to the callback's receiver.
 */
#include <daneguard/deploy.h>
#include <daneguard/smtp.h>
#include <daneguard/util.h>

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct deploy_fetch_job {
	struct event_base *base;
	struct dg_dns *dns;
	char host[DG_NAME_BUF_SIZE];
	uint16_t port;
	unsigned timeout_ms;
	bool tried_aaaa;
	dg_deploy_fetch_cb *cb;
	void *arg;
	struct dg_deploy_fetch *res;
};

static void fetch_addr_done(void *arg, const struct dg_dns_answer *ans);
static void fetch_probe(struct deploy_fetch_job *j, const char *addr);
static void fetch_probe_done(void *arg, struct dg_smtp_probe_result *res);
static void fetch_finish(struct deploy_fetch_job *j);

enum dg_status dg_deploy_fetch_start(struct event_base *base, struct dg_dns *dns,
				     const char *host, uint16_t port, unsigned timeout_ms,
				     dg_deploy_fetch_cb *cb, void *arg, struct dg_err *err)
{
	struct deploy_fetch_job *j = dg_xcalloc(1, sizeof(*j));
	unsigned char bin[16];
	enum dg_status st;

	j->base = base;
	j->dns = dns;
	j->port = port;
	j->timeout_ms = timeout_ms;
	j->cb = cb;
	j->arg = arg;
	j->res = dg_xcalloc(1, sizeof(*j->res));
	if (inet_pton(AF_INET, host, bin) == 1 || inet_pton(AF_INET6, host, bin) == 1) {
		snprintf(j->host, sizeof(j->host), "%s", host);
		fetch_probe(j, host);
		return DG_OK;
	}
	st = dg_name_normalize(host, j->host, sizeof(j->host), err);
	if (st == DG_OK)
		st = dg_dns_lookup(dns, j->host, DG_DNS_T_A, fetch_addr_done, j, NULL, err);
	if (st != DG_OK) {
		dg_deploy_fetch_free(j->res);
		free(j);
	}
	return st;
}

static void fetch_addr_done(void *arg, const struct dg_dns_answer *ans)
{
	struct deploy_fetch_job *j = arg;

	if (ans->outcome == DG_DNS_ANSWER && ans->security != DG_DNS_BOGUS && ans->n_rrs > 0) {
		fetch_probe(j, ans->rrs[0].u.addr.text);
		return;
	}
	if (!j->tried_aaaa) {
		j->tried_aaaa = true;
		if (dg_dns_lookup(j->dns, j->host, DG_DNS_T_AAAA, fetch_addr_done, j, NULL, NULL) ==
		    DG_OK)
			return;
	}
	j->res->status = DG_E_DNS_TEMP;
	snprintf(j->res->reason, sizeof(j->res->reason), "%.120s: no usable address (%s %s%s%.80s)",
		 j->host, dg_dns_security_str(ans->security), dg_dns_outcome_str(ans->outcome),
		 ans->why_bogus || ans->reason ? ": " : "",
		 ans->why_bogus ? ans->why_bogus : (ans->reason ? ans->reason : ""));
	fetch_finish(j);
}

static void fetch_probe(struct deploy_fetch_job *j, const char *addr)
{
	struct dg_smtp_probe_opts o;
	struct dg_smtp_probe *p;
	struct dg_err err = {0};
	unsigned char bin[16];
	bool literal = inet_pton(AF_INET, j->host, bin) == 1 ||
		       inet_pton(AF_INET6, j->host, bin) == 1;

	snprintf(j->res->addr, sizeof(j->res->addr), "%s", addr);
	dg_smtp_probe_opts_init(&o);
	o.addr = addr;
	o.port = j->port;
	o.sni = literal ? NULL : j->host;
	o.connect_timeout_ms = o.banner_timeout_ms = o.cmd_timeout_ms = j->timeout_ms;
	o.tls_timeout_ms = j->timeout_ms;
	o.total_timeout_ms = 4 * j->timeout_ms;
	if (dg_smtp_probe_start(j->base, &o, fetch_probe_done, j, &p, &err) != DG_OK) {
		j->res->status = DG_E_CONFIG;
		snprintf(j->res->reason, sizeof(j->res->reason), "%s", err.msg);
		fetch_finish(j);
	}
}

static void fetch_probe_done(void *arg, struct dg_smtp_probe_result *res)
{
	struct deploy_fetch_job *j = arg;

	if (res->tls_done && res->chain != NULL) {
		j->res->status = DG_OK;
		j->res->chain = dg_smtp_probe_result_take_chain(res);
	} else {
		j->res->status = DG_E_TLS;
		snprintf(j->res->reason, sizeof(j->res->reason), "%s", res->reason);
	}
	fetch_finish(j);
}

static void fetch_finish(struct deploy_fetch_job *j)
{
	j->cb(j->arg, j->res);
	free(j);
}

void dg_deploy_fetch_free(struct dg_deploy_fetch *f)
{
	if (f == NULL)
		return;
	if (f->chain != NULL)
		sk_X509_pop_free(f->chain, X509_free);
	free(f);
}
