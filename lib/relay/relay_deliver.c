/*
 * relay_deliver.c - deliver a batch of queued messages to one destination domain.
 *
 * Public (relay_int.h): relay_job_start, relay_job_cancel, relay_job_free.
 *
 * A job asks the engine about the domain (dns_only: MX, addresses, TLSA, MTA-STS), turns the
 * answer into a plan (relay_decide.c), then walks the MX hosts in preference order and each
 * host's addresses (SPEC MX-3, FAIL-1), opening a delivery session (lib/smtp
 * dg_smtp_deliver) with the host's requirement: STARTTLS mandatory for DANE, MTA-STS enforce
 * and encrypt; the chain the session receives is verified before anything is sent inside TLS,
 * with the same OpenSSL DANE code as `check` (SPEC AUTH-1..AUTH-8, OSSL-2..OSSL-8) or the
 * MTA-STS PKIX check for the MX name (STS-6 step 3). SNI is the TLSA base domain for DANE
 * hosts (TLS-3) and the MX name otherwise (STS-6). One connection carries every message of
 * the batch (RSET between them) while the server lets it.
 *
 * Under `may`, a failed handshake is retried once on the same address in cleartext (SPEC
 * TLS-2 allows that only without a mandatory policy). In log-only mode (FAIL-3) a failed
 * verification or missing STARTTLS is logged as "would defer" and delivery goes on.
 *
 * Every attempt is logged on one line: queue id, domain, MX host, address, policy, TLS
 * version and cipher, DANE/MTA-STS status with the matched record or the failure, and the
 * remote reply (STYLE 8, SPEC FAIL-4).
 */
#include "relay_int.h"

#include <daneguard/mtasts.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void job_engine_done(void *arg, struct dg_domain_result *res);
static void job_connect(struct relay_job *job);
static void job_next_target(struct relay_job *job);
static void job_finish(struct relay_job *job);
static void job_defer_rest(struct relay_job *job, const char *status, const char *fmt, ...)
    DG_PRINTF(3, 4);
static bool job_verify(void *arg, SSL *ssl, STACK_OF(X509) *chain, char *reason, size_t size);
static void job_sent(void *arg, struct dg_smtp_deliver_result *r);
static void job_envelope(struct relay_job *job, struct dg_smtp_envelope *env);
static size_t job_next_msg(const struct relay_job *job, size_t from);
static void job_log_attempt(struct relay_job *job, const struct dg_smtp_deliver_result *r,
			    const char *result);
static bool needs_smtputf8(const struct dg_queue_msg *msg);
static void job_observe(struct relay_job *job, const struct dg_smtp_deliver_result *r,
			const char *result, const char *rpt_type, const char *reason);
static const char *dane_rpt_type(int fail);
static const char *pkix_rpt_type(const char *why);

static const struct relay_host_plan *cur_host(const struct relay_job *job)
{
	return &job->plan.hosts[job->host_i];
}

enum dg_status relay_job_start(const struct relay_ctx *ctx, const char *domain,
			       struct relay_job_msg *m, size_t n_m, relay_job_cb *cb, void *arg,
			       struct relay_job **out, struct dg_err *err)
{
	struct relay_job *job = dg_xcalloc(1, sizeof(*job));
	enum dg_status st;

	job->ctx = ctx;
	snprintf(job->domain, sizeof(job->domain), "%s", domain);
	job->m = m;
	job->n_m = n_m;
	job->cb = cb;
	job->cb_arg = arg;
	*out = job;
	st = dg_engine_check(ctx->engine, domain, job_engine_done, job, err);
	if (st != DG_OK) {
		/* a name the engine refuses cannot be delivered to: permanent */
		job_defer_rest(job, "5.1.2", "bad destination domain %s: %s", domain,
			       err != NULL ? err->msg : dg_status_str(st));
		for (size_t i = 0; i < n_m; i++)
			for (size_t k = 0; k < m[i].n; k++)
				m[i].out[k].disp = RELAY_DISP_BOUNCED;
		job->finished = true;
		*out = NULL;
		relay_job_free(job);
		return st;
	}
	return DG_OK;
}

void relay_job_cancel(struct relay_job *job)
{
	if (job == NULL)
		return;
	if (job->sess != NULL) {
		dg_smtp_deliver_cancel(job->sess);
		job->sess = NULL;
	}
	if (job->res == NULL && !job->finished) {
		/* the engine still holds the job as its callback argument: free it there */
		job->cb = NULL;
		job->finished = true;
		return;
	}
	job->cb = NULL;
	relay_job_free(job);
}

void relay_job_free(struct relay_job *job)
{
	if (job == NULL)
		return;
	for (size_t i = 0; i < job->n_m; i++) {
		free(job->m[i].ri);
		free(job->m[i].out);
	}
	free(job->m);
	free(job->rcpt_tmp);
	dg_domain_result_free(job->res);
	free(job);
}

static void job_engine_done(void *arg, struct dg_domain_result *res)
{
	struct relay_job *job = arg;

	if (job->finished && job->cb == NULL) { /* cancelled while resolving */
		dg_domain_result_free(res);
		relay_job_free(job);
		return;
	}
	job->res = res;
	relay_decide(res, dg_relay_policy_lookup(job->ctx->policy, job->domain),
		     job->ctx->conf->mode == DG_RELAY_MODE_LOG_ONLY, &job->plan);
	if (job->plan.would_defer[0] != '\0' && job->ctx->would_defer != NULL)
		for (size_t i = 0; i < job->n_m; i++)
			job->ctx->would_defer(job->ctx->would_defer_arg, job->domain,
					      job->m[i].msg->id, job->plan.would_defer);
	if (job->plan.kind == RELAY_PLAN_BOUNCE || job->plan.kind == RELAY_PLAN_DEFER) {
		DG_LOG(job->ctx->log, DG_LOG_INFO, "%s deliver domain=%s policy=%s result=%s "
		       "status=%s reason=\"%s\"", job->m[0].msg->id, job->domain, job->plan.policy,
		       job->plan.kind == RELAY_PLAN_BOUNCE ? "bounced" : "deferred",
		       job->plan.status, job->plan.reason);
		job_defer_rest(job, job->plan.status, "%s", job->plan.reason);
		job_observe(job, NULL,
			    job->plan.kind == RELAY_PLAN_BOUNCE ? "bounced" : "deferred",
			    strcmp(job->plan.status, "4.7.5") == 0
				    ? (strstr(job->plan.reason, "dane-only") ? "dane-required"
									 : "dnssec-invalid")
				    : NULL,
			    job->plan.reason);
		if (job->plan.kind == RELAY_PLAN_BOUNCE)
			for (size_t i = 0; i < job->n_m; i++)
				for (size_t k = 0; k < job->m[i].n; k++)
					if (job->m[i].out[k].disp == RELAY_DISP_DEFERRED)
						job->m[i].out[k].disp = RELAY_DISP_BOUNCED;
		job_finish(job);
		return;
	}
	job->host_i = 0;
	job->addr_i = 0;
	job->msg_i = job_next_msg(job, 0);
	while (job->host_i < job->plan.n_hosts && !cur_host(job)->usable) {
		DG_LOG(job->ctx->log, DG_LOG_INFO, "%s deliver domain=%s mx=%s result=skipped "
		       "reason=\"%s\"", job->m[0].msg->id, job->domain, cur_host(job)->h->name,
		       cur_host(job)->why);
		job->host_i++;
	}
	job_connect(job);
}

/* The first message at or after @p from that still has recipients without an answer. */
static size_t job_next_msg(const struct relay_job *job, size_t from)
{
	while (from < job->n_m && job->m[from].done)
		from++;
	return from;
}

/* RFC 6531 3.4: SMTPUTF8 when the client asked for it or an address is UTF-8. */
static bool needs_smtputf8(const struct dg_queue_msg *msg)
{
	if (msg->smtputf8)
		return true;
	for (const char *p = msg->sender; *p != '\0'; p++)
		if ((unsigned char)*p >= 0x80)
			return true;
	for (size_t i = 0; i < msg->n_rcpt; i++)
		for (const char *p = msg->rcpt[i].addr; *p != '\0'; p++)
			if ((unsigned char)*p >= 0x80)
				return true;
	return false;
}

static void job_envelope(struct relay_job *job, struct dg_smtp_envelope *env)
{
	struct relay_job_msg *jm = &job->m[job->msg_i];

	free(job->rcpt_tmp);
	job->rcpt_tmp = dg_xcalloc(jm->n ? jm->n : 1, sizeof(*job->rcpt_tmp));
	for (size_t k = 0; k < jm->n; k++)
		job->rcpt_tmp[k] = jm->msg->rcpt[jm->ri[k]].addr;
	memset(env, 0, sizeof(*env));
	env->sender = jm->msg->sender;
	env->rcpt = job->rcpt_tmp;
	env->n_rcpt = jm->n;
	env->body = jm->msg->body;
	env->body_len = jm->msg->body_len;
	env->smtputf8 = needs_smtputf8(jm->msg);
}

static void job_connect(struct relay_job *job)
{
	const struct relay_ctx *ctx = job->ctx;
	struct dg_smtp_deliver_opts o;
	struct dg_smtp_envelope env;
	const struct relay_host_plan *hp;
	struct dg_err err = {0};

	if (job->msg_i >= job->n_m) {
		job_finish(job);
		return;
	}
	if (job->host_i >= job->plan.n_hosts) {
		job_defer_rest(job, "4.4.1", "no MX host of %s took the message: %s", job->domain,
			       job->last_fail[0] ? job->last_fail : "no usable host");
		job_finish(job);
		return;
	}
	hp = cur_host(job);
	dg_smtp_deliver_opts_init(&o);
	o.addr = hp->h->addrs[job->addr_i].addr;
	o.port = ctx->conf->delivery_port;
	o.helo = ctx->conf->helo;
	/* SPEC TLS-3: SNI = TLSA base domain under DANE; STS-6: the MX name otherwise */
	o.sni = hp->req == RELAY_REQ_DANE && hp->h->tlsa_base ? hp->h->tlsa_base
							      : (hp->h->expanded ? hp->h->expanded
										  : hp->h->name);
	if (job->clear_retry || hp->req == RELAY_REQ_NONE)
		o.tls = DG_SMTP_TLS_NONE;
	else if (hp->req == RELAY_REQ_MAY || job->plan.log_only)
		o.tls = DG_SMTP_TLS_MAY;
	else
		o.tls = DG_SMTP_TLS_REQUIRE;
	o.ssl_ctx = ctx->ssl_ctx;
	o.verify = job_verify;
	o.verify_arg = job;
	if (ctx->conf->timeout_s > 0) {
		unsigned ms = ctx->conf->timeout_s * 1000u;

		o.connect_timeout_ms = o.banner_timeout_ms = o.ehlo_timeout_ms = ms;
		o.tls_timeout_ms = o.mail_timeout_ms = o.rcpt_timeout_ms = ms;
		o.data_timeout_ms = o.data_block_timeout_ms = ms;
		o.data_done_timeout_ms = 2 * ms;
	}
	o.log_id = job->m[job->msg_i].msg->id;
	o.log = ctx->log;
	job->verified = false;
	job->verify_note[0] = '\0';
	job->log_only_note[0] = '\0';
	job->rpt_type = NULL;
	job->rpt_code[0] = '\0';
	job->conn_start_ms = dg_clock_mono_ms();
	job->msgs_on_conn = 0;
	job_envelope(job, &env);
	if (dg_smtp_deliver_start(ctx->base, &o, &env, job_sent, job, &job->sess, &err) !=
	    DG_OK) {
		snprintf(job->last_fail, sizeof(job->last_fail), "%s (%s): %s", hp->h->name,
			 o.addr, err.msg);
		job->sess = NULL;
		job_next_target(job);
	}
}

/* Move to the next address, then the next usable host (SPEC FAIL-1). */
static void job_next_target(struct relay_job *job)
{
	job->clear_retry = false;
	if (job->host_i < job->plan.n_hosts && ++job->addr_i < cur_host(job)->h->n_addrs) {
		job_connect(job);
		return;
	}
	job->addr_i = 0;
	do
		job->host_i++;
	while (job->host_i < job->plan.n_hosts && !cur_host(job)->usable);
	job_connect(job);
}

/* Called by the session after the handshake: enforce the host's requirement. */
static bool job_verify(void *arg, SSL *ssl, STACK_OF(X509) *chain, char *reason, size_t size)
{
	struct relay_job *job = arg;
	const struct relay_host_plan *hp = cur_host(job);
	const struct dg_host_result *h = hp->h;
	bool ok = true;

	(void)ssl;
	if (hp->req == RELAY_REQ_DANE) { /* SPEC AUTH-1..AUTH-7, FAIL-4 */
		struct dg_dane_input in;
		struct dg_dane_result r;
		struct dg_err err = {0};

		dg_host_dane_input(h, &in);
		memset(&r, 0, sizeof(r));
		if (dg_dane_verify(job->ctx->dane, &in, chain, &r, &err) != DG_OK) {
			snprintf(job->verify_note, sizeof(job->verify_note),
				 "dane=error reason=\"%s\"", err.msg);
			job->rpt_type = "validation-failure";
			snprintf(job->rpt_code, sizeof(job->rpt_code), "dane-verify-error");
			ok = false;
		} else if (r.authenticated) {
			char *rec = r.matched_index >= 0
					? dg_tlsa_rr_format(&h->tlsa_set->rr[r.matched_index], 0)
					: NULL;

			snprintf(job->verify_note, sizeof(job->verify_note),
				 "dane=%s matched=\"%s\" depth=%d%s%s",
				 job->res->mx_secure || h->implicit ? "verified" : "trusted",
				 rec ? rec : "?", r.depth, r.peername ? " peername=" : "",
				 r.peername ? r.peername : "");
			free(rec);
			job->verified = true;
		} else {
			snprintf(job->verify_note, sizeof(job->verify_note),
				 "dane=failed reason=\"%s\"", r.reason);
			job->rpt_type = dane_rpt_type(r.fail); /* SPEC RPT-6 */
			snprintf(job->rpt_code, sizeof(job->rpt_code), "%.90s",
				 r.x509_err_str[0] ? r.x509_err_str : dg_dane_fail_str(r.fail));
			ok = false;
		}
		dg_dane_result_cleanup(&r);
	} else if (hp->req == RELAY_REQ_STS || hp->sts_testing) { /* SPEC STS-6 step 3 */
		char why[256];
		const char *name = h->name;

		if (dg_sts_cert_is_valid(job->ctx->sts_store, chain, name, dg_clock_wall(), why,
					 sizeof(why))) {
			snprintf(job->verify_note, sizeof(job->verify_note), "mta-sts=verified");
			job->verified = true;
		} else {
			snprintf(job->verify_note, sizeof(job->verify_note),
				 "mta-sts=%s reason=\"certificate not PKIX-valid for %.60s: %.150s\"",
				 hp->sts_testing ? "testing-failed" : "failed", name, why);
			job->rpt_type = pkix_rpt_type(why);
			snprintf(job->rpt_code, sizeof(job->rpt_code), "%.90s", why);
			ok = hp->sts_testing; /* STS-7: testing delivers anyway */
		}
	} else {
		snprintf(job->verify_note, sizeof(job->verify_note), "auth=none");
	}
	if (!ok && job->plan.log_only) { /* SPEC FAIL-3 */
		snprintf(job->log_only_note, sizeof(job->log_only_note), "%s", job->verify_note);
		if (job->ctx->would_defer != NULL)
			job->ctx->would_defer(job->ctx->would_defer_arg, job->domain,
					      job->m[job->msg_i].msg->id, job->verify_note);
		return true;
	}
	if (!ok) {
		/* the session's reason is a plain sentence: no key="..." nesting in log lines */
		const char *q = strstr(job->verify_note, "reason=\"");
		const char *what = strncmp(job->verify_note, "mta-sts", 7) == 0
					   ? "MTA-STS authentication failed"
					   : "DANE authentication failed";

		if (q != NULL)
			snprintf(reason, size, "%s: %.*s", what, (int)strcspn(q + 8, "\""), q + 8);
		else
			snprintf(reason, size, "%s", what);
	}
	return ok;
}

/* SPEC RPT-6: a DANE verification failure as an RFC 8460 result type. */
static const char *dane_rpt_type(int fail)
{
	switch (fail) {
	case DG_DANE_FAIL_NAME:
		return "certificate-host-mismatch";
	case DG_DANE_FAIL_EXPIRED:
	case DG_DANE_FAIL_NOT_YET_VALID:
		return "certificate-expired";
	case DG_DANE_FAIL_NO_MATCH:
		return "certificate-not-trusted";
	case DG_DANE_FAIL_NO_USABLE:
		return "tlsa-invalid";
	default:
		return "validation-failure";
	}
}

/* SPEC RPT-5: an MTA-STS (PKIX) failure of the MX certificate, from the X.509 reason. */
static const char *pkix_rpt_type(const char *why)
{
	if (strstr(why, "expired") != NULL || strstr(why, "not yet valid") != NULL)
		return "certificate-expired";
	if (strstr(why, "match") != NULL || strstr(why, "name") != NULL)
		return "certificate-host-mismatch";
	if (strstr(why, "self-signed") != NULL || strstr(why, "issuer") != NULL ||
	    strstr(why, "untrusted") != NULL)
		return "certificate-not-trusted";
	return "validation-failure";
}

/* Hand one attempt to every observer (TLS-RPT, metrics). @p r is NULL for a decision. */
static void job_observe(struct relay_job *job, const struct dg_smtp_deliver_result *r,
			const char *result, const char *rpt_type, const char *reason)
{
	struct relay_attempt a;
	const struct relay_job_msg *jm = &job->m[job->msg_i < job->n_m ? job->msg_i : 0];

	if (job->ctx->n_obs == 0)
		return;
	memset(&a, 0, sizeof(a));
	a.id = jm->msg->id;
	a.domain = job->domain;
	a.res = job->res;
	a.plan = &job->plan;
	a.result = result;
	a.rpt_type = rpt_type;
	a.rpt_code = rpt_type != NULL && job->rpt_code[0] ? job->rpt_code : NULL;
	a.reason = reason != NULL ? reason : "";
	a.arrival_s = jm->msg->arrival_s;
	a.n_rcpt = jm->n;
	a.first_on_conn = r == NULL || job->msgs_on_conn++ == 0;
	if (r != NULL) {
		a.host = cur_host(job);
		a.addr = a.host->h->addrs[job->addr_i].addr;
		a.local = r->local[0] ? r->local : NULL;
		a.tls = r->tls_done;
		a.verified = job->verified;
		a.elapsed_ms = dg_clock_mono_ms() - job->conn_start_ms;
		for (size_t k = 0; k < r->n_rcpt; k++)
			a.n_rcpt_ok += r->rcpt[k].code >= 200 && r->rcpt[k].code < 300;
	}
	for (size_t i = 0; i < job->ctx->n_obs; i++)
		job->ctx->obs[i].attempt(job->ctx->obs[i].arg, &a);
}

static void job_log_attempt(struct relay_job *job, const struct dg_smtp_deliver_result *r,
			    const char *result)
{
	const struct relay_host_plan *hp = cur_host(job);
	const char *rpt = job->rpt_type;

	/* SPEC RPT-6: STARTTLS missing where TLS was required */
	if (rpt == NULL && !r->tls_done && hp->req >= RELAY_REQ_ENCRYPT &&
	    (r->stage == DG_SMTP_DELIVER_STAGE_EHLO || r->stage == DG_SMTP_DELIVER_STAGE_STARTTLS) &&
	    strstr(r->reason, "STARTTLS") != NULL)
		rpt = "starttls-not-supported";
	else if (rpt == NULL && hp->req == RELAY_REQ_ENCRYPT && hp->h->tlsa_set != NULL)
		rpt = "tlsa-invalid"; /* SPEC RPT-6: all records unusable, encrypt only */
	job_observe(job, r, result, rpt, r->reason);

	DG_LOG(job->ctx->log, DG_LOG_INFO,
	       "%s deliver domain=%s mx=%s addr=%s policy=%s req=%s tls=%s cipher=%s %s%s%s%s "
	       "result=%s reply=\"%s\"%s%s%s",
	       job->m[job->msg_i].msg->id, job->domain, hp->h->name, hp->h->addrs[job->addr_i].addr,
	       job->plan.policy, relay_req_str(hp->req), r->tls_done ? r->tls_version : "none",
	       r->tls_done ? r->cipher : "none", job->verify_note[0] ? job->verify_note : "auth=none",
	       job->log_only_note[0] || job->plan.would_defer[0] ? " would-defer=\"" : "",
	       job->log_only_note[0] ? job->log_only_note : job->plan.would_defer,
	       job->log_only_note[0] || job->plan.would_defer[0] ? "\"" : "", result,
	       r->last_reply, r->reason[0] ? " reason=\"" : "", r->reason,
	       r->reason[0] ? "\"" : "");
}

static void job_sent(void *arg, struct dg_smtp_deliver_result *r)
{
	struct relay_job *job = arg;
	const struct relay_host_plan *hp = cur_host(job);
	struct relay_job_msg *jm = &job->m[job->msg_i];
	struct dg_smtp_envelope env;
	struct dg_err err = {0};

	if (r->outcome == DG_SMTP_DELIVER_HOST_FAILED) {
		job_log_attempt(job, r, "host-failed");
		job->sess = NULL; /* the session frees itself after this callback */
		snprintf(job->last_fail, sizeof(job->last_fail), "%s (%s): %s", hp->h->name,
			 hp->h->addrs[job->addr_i].addr, r->reason);
		/* SPEC TLS-2: a cleartext retry only without a mandatory TLS requirement */
		if (!job->clear_retry && r->tls_done == false && r->starttls_offered &&
		    (hp->req == RELAY_REQ_MAY || job->plan.log_only) &&
		    r->stage == DG_SMTP_DELIVER_STAGE_TLS_HANDSHAKE) {
			job->clear_retry = true;
			job_connect(job);
			return;
		}
		job_next_target(job);
		return;
	}
	for (size_t k = 0; k < jm->n && k < r->n_rcpt; k++) {
		struct relay_rcpt_out *o = &jm->out[k];
		const struct dg_smtp_rcpt_reply *rr = &r->rcpt[k];

		o->disp = rr->code >= 200 && rr->code < 300   ? RELAY_DISP_DELIVERED
			  : rr->code >= 500 && rr->code < 600 ? RELAY_DISP_BOUNCED
							      : RELAY_DISP_DEFERRED;
		snprintf(o->status, sizeof(o->status), "%s",
			 rr->status[0] ? rr->status
				       : (o->disp == RELAY_DISP_DELIVERED
						  ? "2.0.0"
						  : (o->disp == RELAY_DISP_BOUNCED ? "5.0.0" : "4.0.0")));
		snprintf(o->reason, sizeof(o->reason), "%.60s[%.46s] said: %u %.120s", hp->h->name,
			 hp->h->addrs[job->addr_i].addr, rr->code, rr->text);
		snprintf(o->remote_mta, sizeof(o->remote_mta), "%s", hp->h->name);
	}
	jm->done = true;
	job_log_attempt(job, r, "sent");
	if (job->msg_cb != NULL) {
		jm->reported = true;
		job->msg_cb(job->cb_arg, job, job->msg_i);
	}
	job->msg_i = job_next_msg(job, job->msg_i + 1);
	if (job->msg_i >= job->n_m) {
		if (job->sess != NULL && r->reusable)
			dg_smtp_deliver_close(job->sess);
		job->sess = NULL;
		job_finish(job);
		return;
	}
	if (r->reusable && job->sess != NULL) {
		job->log_only_note[0] = '\0';
		job_envelope(job, &env);
		if (dg_smtp_deliver_next(job->sess, &env, job_sent, job, &err) == DG_OK)
			return;
		dg_smtp_deliver_close(job->sess);
	} else if (job->sess != NULL) {
		dg_smtp_deliver_close(job->sess);
	}
	job->sess = NULL;
	job_connect(job); /* same host and address, a new connection */
}

static void job_defer_rest(struct relay_job *job, const char *status, const char *fmt, ...)
{
	char buf[DG_QUEUE_REASON_MAX + 1];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	for (size_t i = 0; i < job->n_m; i++) {
		if (job->m[i].done)
			continue;
		for (size_t k = 0; k < job->m[i].n; k++) {
			struct relay_rcpt_out *o = &job->m[i].out[k];

			o->disp = RELAY_DISP_DEFERRED;
			snprintf(o->status, sizeof(o->status), "%s", status);
			snprintf(o->reason, sizeof(o->reason), "%s", buf);
		}
		job->m[i].done = true;
	}
}

static void job_finish(struct relay_job *job)
{
	relay_job_cb *cb = job->cb;

	job->finished = true;
	if (cb != NULL)
		cb(job->cb_arg, job);
}
