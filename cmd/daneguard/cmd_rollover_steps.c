/*
 * cmd_rollover_steps.c - the steps of the stateful rollover (`daneguard rollover
 * publish|advance|run --state DIR`): observe, publish, advance, recover.
 *
 * Public (cmd_rollover_int.h): rs_prepare, rs_release, rs_observe, rs_publish, rs_advance,
 * rs_recover, rs_recovery_needed, rs_save, rs_say.
 *
 * Each network step (authoritative check and UPDATE from lib/publish, validated lookup from
 * lib/dns, live STARTTLS fetch and deploy guard from lib/deploy) runs on the command's one
 * event_base until its callback fires (one loop run per step); every library operation has
 * its own deadline. The journal (state.json) is committed before each irreversible action:
 * obtaining -> installing -> installed -> idle (promoted), so a kill anywhere is resolved by
 * dg_rollover_recovery() on the next run. A failure before promotion leaves (or puts back)
 * the old certificate and says why in one line.
 *
 * Test hook: DANEGUARD_ROLLOVER_CRASH_AFTER=obtained|installing|installed|reloaded|promote-key
 * makes the process SIGKILL itself after that point (tests/integration/rollover_cycle).
 *
 * SPEC section 12 PUB-6 (publish 2 TTLs before the change, remove the old record after it).
 */
#include "cmd_rollover_int.h"

#include <daneguard/util.h>

#include <event2/event.h>

#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define RS_LIVE_TRIES 40 /* live check after reload: 40 x 250 ms */

static void rs_run_loop(struct rs_ctx *c);
static void rs_crash_point(const char *name);
static void on_report(void *arg, struct dg_publish_report *rep);
static void on_lookup(void *arg, const struct dg_dns_answer *ans);
static void on_update(void *arg, enum dg_status st, const struct dg_publish_result *res,
                      const struct dg_err *err);
static void on_fetch(void *arg, struct dg_deploy_fetch *f);
static void on_verdict(void *arg, struct dg_deploy_verdict *v);
static bool rs_check_host(struct rs_ctx *c, size_t i);
static void rs_lookup_host(struct rs_ctx *c, size_t i);
static void rs_live_host(struct rs_ctx *c, size_t i);
static int rs_send(struct rs_ctx *c, size_t i);
static bool rs_needs_update(const struct rs_ctx *c, size_t i);
static int rs_hook_publish(struct rs_ctx *c, size_t i);
static int rs_obtain(struct rs_ctx *c, STACK_OF(X509) * *chain);
static int rs_guard(struct rs_ctx *c, STACK_OF(X509) * chain);
static int rs_copy(const char *from, const char *to, unsigned mode);
static int rs_finish(struct rs_ctx *c);
static bool rs_live_is_next(struct rs_ctx *c);
static int rs_restore(struct rs_ctx *c, const char *why);
static int rs_promote(struct rs_ctx *c);
static void rs_work(const struct rs_ctx *c, const char *name, char *out, size_t size);

void rs_say(const char *fmt, ...)
{
	va_list ap;

	fputs("daneguard: rollover: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static void rs_crash_point(const char *name)
{
	const char *want = getenv("DANEGUARD_ROLLOVER_CRASH_AFTER");

	if (want != NULL && strcmp(want, name) == 0) {
		fflush(NULL);
		raise(SIGKILL);
	}
}

static void rs_work(const struct rs_ctx *c, const char *name, char *out, size_t size)
{
	snprintf(out, size, "%s/work/%s", c->dir, name);
}

static void rs_run_loop(struct rs_ctx *c)
{
	while (!c->done && event_base_loop(c->net.base, EVLOOP_ONCE) == 0)
		;
	if (!c->done)
		DG_PANIC("rollover: event loop ran dry before the step finished");
}

int rs_save(struct rs_ctx *c)
{
	struct dg_err err = {0};

	if (dg_rollover_save(c->dir, &c->st, &err) == DG_OK)
		return CMD_CONTINUE;
	rs_say("%s", err.msg);
	return CMD_EXIT_INTERNAL;
}

/* ---- preparation ----------------------------------------------------------------------- */

int rs_prepare(struct rs_ctx *c)
{
	struct dg_err err = {0};
	STACK_OF(X509) *chain = NULL;

	if (dg_rollover_key_load(c->dir, c->st.current, &c->cur, &err) != DG_OK ||
	    dg_rollover_key_load(c->dir, c->st.next, &c->next, &err) != DG_OK) {
		rs_say("%s", err.msg);
		return CMD_EXIT_DATAERR;
	}
	if (c->conf.scheme == DG_ROLLOVER_EE_TA &&
	    dg_tlsa_load_certs(c->conf.cert_file, &chain, &err) == DG_OK && sk_X509_num(chain) > 1)
		c->issuer = X509_dup(sk_X509_value(chain, 1));
	sk_X509_pop_free(chain, X509_free);
	c->desired = dg_tlsa_set_new();
	if (dg_rollover_desired(c->conf.scheme, c->cur, c->next, c->issuer, c->desired, &err) !=
	    DG_OK) {
		rs_say("%s", err.msg);
		return CMD_EXIT_DATAERR;
	}
	dg_rollover_set_digest(c->desired, c->digest);
	dg_rollover_retarget(&c->st, c->digest);
	return CMD_CONTINUE;
}

void rs_release(struct rs_ctx *c)
{
	for (size_t i = 0; i < DG_ROLLOVER_MAX_HOSTS; i++) {
		dg_publish_report_free(c->host[i].rep);
		dg_tlsa_set_free(c->host[i].resolved);
		memset(&c->host[i], 0, sizeof(c->host[i]));
	}
	EVP_PKEY_free(c->cur);
	EVP_PKEY_free(c->next);
	X509_free(c->issuer);
	dg_tlsa_set_free(c->desired);
	c->cur = c->next = NULL;
	c->issuer = NULL;
	c->desired = NULL;
}

/* ---- observing ------------------------------------------------------------------------- */

static void on_report(void *arg, struct dg_publish_report *rep)
{
	struct rs_ctx *c = arg;

	c->op_res = rep;
	c->done = true;
}

static bool rs_check_host(struct rs_ctx *c, size_t i)
{
	struct dg_publish_check_opts o = {.zone = c->conf.zone,
	                                  .host = c->conf.hosts[i],
	                                  .port = c->conf.port,
	                                  .want = c->desired,
	                                  .dns_port = c->dns_port,
	                                  .timeout_ms = c->timeout_s * 1000u};
	struct rs_host *h = &c->host[i];
	struct dg_publish_report *rep;

	c->done = false;
	if (dg_publish_check_start(c->net.base, c->net.dns, &o, on_report, c, NULL,
	                           &c->op_err) != DG_OK) {
		rs_say("%s", c->op_err.msg);
		return false;
	}
	rs_run_loop(c);
	dg_publish_report_free(h->rep);
	h->rep = rep = c->op_res;
	for (size_t k = 0; k < rep->n_srv; k++) {
		char who[64];
		snprintf(who, sizeof(who), "%.20s %.22s/%.16s", c->conf.hosts[i], rep->srv[k].ns,
		         rep->srv[k].addr);
		dg_rollover_note_seen(&c->st, who, rep->srv[k].state == DG_PUBLISH_SRV_OK,
		                      dg_clock_wall());
		if (rep->srv[k].state == DG_PUBLISH_SRV_OK && rep->srv[k].ttl_s > c->st.ttl_seen_s)
			c->st.ttl_seen_s = rep->srv[k].ttl_s;
	}
	return rep->status == DG_OK && rep->published;
}

static void on_lookup(void *arg, const struct dg_dns_answer *ans)
{
	struct rs_ctx *c = arg;
	struct rs_host *h = c->op_res;

	dg_tlsa_set_free(h->resolved);
	h->resolved = dg_tlsa_set_new();
	h->resolved_secure = ans->security == DG_DNS_SECURE && ans->outcome == DG_DNS_ANSWER;
	h->resolved_ttl_s = ans->orig_ttl_s > 0 ? ans->orig_ttl_s : ans->ttl_s;
	for (size_t k = 0; k < ans->n_rrs; k++)
		dg_tlsa_set_add(h->resolved, ans->rrs[k].u.tlsa.usage, ans->rrs[k].u.tlsa.selector,
		                ans->rrs[k].u.tlsa.mtype, ans->rrs[k].u.tlsa.data,
		                ans->rrs[k].u.tlsa.len, NULL);
	snprintf(h->resolver_why, sizeof(h->resolver_why), "%s",
	         !h->resolved_secure ? "the validated lookup gave no secure TLSA RRset"
	         : dg_publish_tlsa_set_equal(h->resolved, c->desired)
	             ? ""
	             : "the validated lookup still gives another RRset");
	c->done = true;
}

static void rs_lookup_host(struct rs_ctx *c, size_t i)
{
	struct rs_host *h = &c->host[i];
	char name[DG_NAME_BUF_SIZE + 16], who[64];

	snprintf(name, sizeof(name), "_%u._tcp.%s", (unsigned)c->conf.port, c->conf.hosts[i]);
	c->done = false;
	c->op_res = h;
	if (dg_dns_lookup(c->net.dns, name, DG_DNS_T_TLSA, on_lookup, c, NULL, &c->op_err) != DG_OK) {
		snprintf(h->resolver_why, sizeof(h->resolver_why), "%s", c->op_err.msg);
		return;
	}
	rs_run_loop(c);
	h->resolved_ok = h->resolved_secure && dg_publish_tlsa_set_equal(h->resolved, c->desired);
	snprintf(who, sizeof(who), "%.40s resolver", c->conf.hosts[i]);
	dg_rollover_note_seen(&c->st, who, h->resolved_ok, dg_clock_wall());
	if (h->resolved_ok && h->resolved_ttl_s > c->st.ttl_seen_s)
		c->st.ttl_seen_s = h->resolved_ttl_s;
}

static void on_fetch(void *arg, struct dg_deploy_fetch *f)
{
	struct rs_ctx *c = arg;

	c->op_res = f;
	c->done = true;
}

static void rs_live_host(struct rs_ctx *c, size_t i)
{
	struct rs_host *h = &c->host[i];
	struct dg_deploy_fetch *f;

	h->live_id[0] = '\0';
	c->done = false;
	if (dg_deploy_fetch_start(c->net.base, c->net.dns, c->conf.hosts[i], c->conf.port,
	                          c->timeout_s * 1000u, on_fetch, c, &c->op_err) != DG_OK) {
		snprintf(h->live_why, sizeof(h->live_why), "%s", c->op_err.msg);
		return;
	}
	rs_run_loop(c);
	f = c->op_res;
	if (f->status == DG_OK && sk_X509_num(f->chain) > 0)
		dg_rollover_key_id(X509_get0_pubkey(sk_X509_value(f->chain, 0)), h->live_id, NULL);
	snprintf(h->live_why, sizeof(h->live_why), "%s", f->status == DG_OK ? "" : f->reason);
	dg_deploy_fetch_free(f);
}

bool rs_observe(struct rs_ctx *c, bool live)
{
	bool all = true;

	for (size_t i = 0; i < c->conf.n_hosts; i++) {
		all = rs_check_host(c, i) && all;
		rs_lookup_host(c, i);
		all = c->host[i].resolved_ok && all;
		if (live)
			rs_live_host(c, i);
	}
	return all;
}

/* ---- publishing ------------------------------------------------------------------------ */

static void on_update(void *arg, enum dg_status st, const struct dg_publish_result *res,
                      const struct dg_err *err)
{
	struct rs_ctx *c = arg;

	(void)res;
	c->op_st = st;
	if (st != DG_OK)
		c->op_err = *err;
	c->done = true;
}

static bool rs_needs_update(const struct rs_ctx *c, size_t i)
{
	const struct dg_publish_report *rep = c->host[i].rep;

	if (rep == NULL || rep->status != DG_OK)
		return true;
	for (size_t k = 0; k < rep->n_srv; k++)
		if (strcmp(rep->srv[k].addr, c->conf.primary) == 0)
			return rep->srv[k].state != DG_PUBLISH_SRV_OK;
	return !rep->published; /* hidden primary */
}

static int rs_send(struct rs_ctx *c, size_t i)
{
	struct dg_publish_change ch = {.zone = c->conf.zone,
	                               .host = c->conf.hosts[i],
	                               .port = c->conf.port,
	                               .ttl_s = c->conf.ttl_s,
	                               .set = c->desired};

	c->done = false;
	c->op_st = DG_OK;
	if (dg_publish_update_start(c->net.base, c->conf.primary, c->conf.primary_port, &ch, &c->key,
	                            c->timeout_s * 1000u, on_update, c, NULL, &c->op_err) != DG_OK) {
		rs_say("%s", c->op_err.msg);
		return CMD_EXIT_FAIL;
	}
	rs_run_loop(c);
	if (c->op_st != DG_OK) {
		rs_say("%s", c->op_err.msg);
		return c->op_st == DG_E_TIMEOUT || c->op_st == DG_E_DNS_TEMP ? CMD_EXIT_TEMP
		                                                              : CMD_EXIT_FAIL;
	}
	printf("updated: %zu TLSA record(s) at _%u._tcp.%s via %s (ttl %u)\n", c->desired->count,
	       (unsigned)c->conf.port, c->conf.hosts[i], c->conf.primary, c->conf.ttl_s);
	c->st.published_at = dg_clock_wall();
	return CMD_CONTINUE;
}

static int rs_hook_publish(struct rs_ctx *c, size_t i)
{
	struct dg_buf b;
	struct dg_err err = {0};
	char owner[DG_NAME_BUF_SIZE + 16];
	enum dg_status st = DG_OK;

	snprintf(owner, sizeof(owner), "_%u._tcp.%s", (unsigned)c->conf.port, c->conf.hosts[i]);
	dg_buf_init(&b, 1 << 20);
	for (size_t k = 0; k < c->desired->count; k++) {
		char *t = dg_tlsa_rr_format(&c->desired->rr[k], DG_TLSA_FMT_DEFAULT);
		dg_buf_printf(&b, "%s\n", t);
		free(t);
	}
	if (c->conf.publish_command[0] != '\0') {
		struct dg_rollover_env env[] = {{"DANEGUARD_OWNER", owner},
		                                {"DANEGUARD_RECORDS", dg_buf_str(&b)},
		                                {"DANEGUARD_ZONE", c->conf.zone}};
		st = dg_rollover_hook_run(c->conf.publish_command, env, 3, c->conf.command_timeout_s,
		                          &err);
		if (st != DG_OK)
			rs_say("publish-command: %s", err.msg);
	} else {
		printf("publish at %s (ttl %u):\n%s", owner, c->conf.ttl_s, dg_buf_str(&b));
	}
	dg_buf_cleanup(&b);
	return st == DG_OK ? CMD_CONTINUE : CMD_EXIT_FAIL;
}

int rs_publish(struct rs_ctx *c)
{
	uint64_t deadline = dg_clock_mono_ms() + (uint64_t)c->wait_s * 1000u;
	bool sent = false, all;
	int rc;

	for (;;) {
		all = rs_observe(c, false);
		bool auth = true;
		for (size_t i = 0; i < c->conf.n_hosts; i++) {
			auth = auth && c->host[i].rep != NULL && c->host[i].rep->published;
			if (sent || !rs_needs_update(c, i))
				continue;
			if (c->host[i].rep != NULL && c->host[i].rep->status == DG_E_NOTFOUND) {
				/* unsigned zone (or no NS): records there are ignored by every
				 * DANE sender, so publishing would only mislead */
				rs_say("%s; nothing changed", c->host[i].rep->reason);
				return CMD_EXIT_FAIL;
			}
			rc = c->conf.primary[0] != '\0' && c->conf.publish_command[0] == '\0'
			         ? rs_send(c, i)
			         : rs_hook_publish(c, i);
			if (rc != CMD_CONTINUE)
				return rs_save(c) == CMD_CONTINUE ? rc : CMD_EXIT_INTERNAL;
		}
		sent = true;
		if ((rc = rs_save(c)) != CMD_CONTINUE)
			return rc;
		if (all || (auth && dg_clock_mono_ms() + 1000 >= deadline))
			break;
		if (dg_clock_mono_ms() + 1000 >= deadline) {
			rs_say("not yet served by every authoritative server after %u s (see status)",
			       c->wait_s);
			return DG_ROLLOVER_EXIT_TOO_EARLY;
		}
		usleep(500 * 1000);
	}
	printf("published: %zu record(s) on every authoritative server; %s\n", c->desired->count,
	       all ? "validated lookup sees it" : "validated lookup does not see it yet");
	return CMD_EXIT_OK;
}

/* ---- advancing ------------------------------------------------------------------------- */

static int rs_obtain(struct rs_ctx *c, STACK_OF(X509) * *chain)
{
	char csr[PATH_MAX], crt[PATH_MAX], id[DG_ROLLOVER_ID_LEN + 1] = "";
	struct dg_err err = {0};
	struct dg_rollover_env env[] = {{"DANEGUARD_CSR", csr},
	                                {"DANEGUARD_CERT", crt},
	                                {"DANEGUARD_HOST", c->conf.hosts[0]}};

	rs_work(c, "next.csr", csr, sizeof(csr));
	rs_work(c, "next.pem", crt, sizeof(crt));
	unlink(crt);
	if (dg_rollover_csr_write(c->next, (const char(*)[DG_NAME_BUF_SIZE])c->conf.hosts,
	                          c->conf.n_hosts, csr, &err) != DG_OK ||
	    dg_rollover_hook_run(c->conf.cert_command, env, 3, c->conf.command_timeout_s, &err) !=
	        DG_OK ||
	    dg_tlsa_load_certs(crt, chain, &err) != DG_OK) {
		rs_say("cannot obtain a certificate for the next key: %s", err.msg);
		return CMD_EXIT_FAIL;
	}
	dg_rollover_key_id(X509_get0_pubkey(sk_X509_value(*chain, 0)), id, NULL);
	if (strcmp(id, c->st.next) != 0) {
		rs_say("the certificate command's certificate %s is not for the next key", crt);
		return CMD_EXIT_FAIL;
	}
	return CMD_CONTINUE;
}

static void on_verdict(void *arg, struct dg_deploy_verdict *v)
{
	struct rs_ctx *c = arg;

	c->op_res = v;
	c->done = true;
}

static int rs_guard(struct rs_ctx *c, STACK_OF(X509) * chain)
{
	for (size_t i = 0; i < c->conf.n_hosts; i++) {
		struct dg_deploy_verify_opts o = {.host = c->conf.hosts[i], .port = c->conf.port};
		struct dg_deploy_verdict *v;
		bool ok;

		c->done = false;
		if (dg_deploy_verify_start(c->net.base, c->net.dns, c->net.dane, &o, chain, on_verdict,
		                           c, &c->op_err) != DG_OK) {
			rs_say("deploy guard: %s", c->op_err.msg);
			return CMD_EXIT_FAIL;
		}
		rs_run_loop(c);
		v = c->op_res;
		ok = v->outcome == DG_DEPLOY_ACCEPT;
		if (!ok)
			rs_say("deploy guard refuses the new certificate for %s: %s (%s)",
			       c->conf.hosts[i], dg_deploy_outcome_str(v->outcome), v->reason);
		dg_deploy_verdict_free(v);
		if (!ok)
			return CMD_EXIT_FAIL;
	}
	return CMD_CONTINUE;
}

static int rs_copy(const char *from, const char *to, unsigned mode)
{
	char *text = NULL;
	size_t len = 0;
	struct dg_err err = {0};
	enum dg_status st = dg_rollover_read_file(from, DG_TLSA_FILE_MAX, &text, &len, &err);

	if (st == DG_OK)
		st = dg_rollover_write_atomic(to, text, len, mode, &err);
	if (text != NULL) {
		memset(text, 0, len);
		free(text);
	}
	if (st != DG_OK)
		rs_say("%s", err.msg);
	return st == DG_OK ? CMD_CONTINUE : CMD_EXIT_FAIL;
}

static bool rs_live_is_next(struct rs_ctx *c)
{
	for (int t = 0; t < RS_LIVE_TRIES; t++) {
		bool all = true;
		for (size_t i = 0; i < c->conf.n_hosts; i++) {
			rs_live_host(c, i);
			all = all && strcmp(c->host[i].live_id, c->st.next) == 0;
		}
		if (all)
			return true;
		usleep(250 * 1000);
	}
	return false;
}

static int rs_restore(struct rs_ctx *c, const char *why)
{
	char b[PATH_MAX];
	struct dg_err err = {0};
	int rc = CMD_CONTINUE;

	rs_work(c, "backup.key", b, sizeof(b));
	if (strcmp(c->conf.key_file, c->conf.cert_file) != 0)
		rc = rs_copy(b, c->conf.key_file, 0600);
	rs_work(c, "backup.cert", b, sizeof(b));
	if (rc == CMD_CONTINUE)
		rc = rs_copy(b, c->conf.cert_file,
		             strcmp(c->conf.key_file, c->conf.cert_file) == 0 ? 0600 : 0644);
	if (rc != CMD_CONTINUE) {
		rs_say("%s; and the old certificate could not be put back (work/backup.*)", why);
		return CMD_EXIT_INTERNAL;
	}
	if (c->conf.reload_command[0] != '\0' &&
	    dg_rollover_hook_run(c->conf.reload_command, NULL, 0, c->conf.command_timeout_s, &err) !=
	        DG_OK)
		rs_say("reload after restoring: %s", err.msg);
	c->st.step = DG_ROLLOVER_IDLE;
	c->st.step_at = dg_clock_wall();
	if (rs_save(c) != CMD_CONTINUE)
		return CMD_EXIT_INTERNAL;
	dg_rollover_gc(c->dir, &c->st);
	rs_say("%s; the old certificate is back in place", why);
	return CMD_EXIT_FAIL;
}

static int rs_promote(struct rs_ctx *c)
{
	struct dg_err err = {0};
	char id[DG_ROLLOVER_ID_LEN + 1];
	EVP_PKEY *key = dg_rollover_key_generate(c->conf.key_type, c->conf.rsa_bits, &err);

	if (key == NULL || dg_rollover_key_store(c->dir, key, id, &err) != DG_OK) {
		EVP_PKEY_free(key);
		rs_say("cannot make the new next key: %s (the next run retries)", err.msg);
		return CMD_EXIT_INTERNAL;
	}
	rs_crash_point("promote-key");
	printf("advanced: key %.16s is current now, new next key %.16s\n", c->st.next, id);
	memcpy(c->st.current, c->st.next, sizeof(c->st.current));
	memcpy(c->st.next, id, sizeof(c->st.next));
	c->st.step = DG_ROLLOVER_IDLE;
	c->st.step_at = c->st.last_advance = dg_clock_wall();
	c->st.rollovers++;
	if (rs_save(c) != CMD_CONTINUE) {
		EVP_PKEY_free(key);
		return CMD_EXIT_INTERNAL;
	}
	dg_rollover_gc(c->dir, &c->st);
	EVP_PKEY_free(c->cur);
	c->cur = c->next;
	c->next = key;
	dg_tlsa_set_free(c->desired);
	c->desired = dg_tlsa_set_new();
	if (dg_rollover_desired(c->conf.scheme, c->cur, c->next, c->issuer, c->desired, &err) !=
	    DG_OK) {
		rs_say("%s", err.msg);
		return CMD_EXIT_INTERNAL;
	}
	dg_rollover_set_digest(c->desired, c->digest);
	dg_rollover_retarget(&c->st, c->digest);
	return rs_publish(c); /* the old record goes only now (SPEC PUB-6) */
}

/* Reload, check the live server, promote; restore on failure. From "installed". */
static int rs_finish(struct rs_ctx *c)
{
	struct dg_err err = {0};
	char why[600];

	if (c->conf.reload_command[0] != '\0' &&
	    dg_rollover_hook_run(c->conf.reload_command, NULL, 0, c->conf.command_timeout_s, &err) !=
	        DG_OK) {
		snprintf(why, sizeof(why), "reload failed: %s", err.msg);
		return rs_restore(c, why);
	}
	rs_crash_point("reloaded");
	if (!rs_live_is_next(c)) {
		snprintf(why, sizeof(why), "%s does not present the next key after the reload (%s)",
		         c->conf.hosts[0], c->host[0].live_why[0] ? c->host[0].live_why : "other key");
		return rs_restore(c, why);
	}
	return rs_promote(c);
}

int rs_advance(struct rs_ctx *c)
{
	STACK_OF(X509) *chain = NULL;
	char b[PATH_MAX], crt[PATH_MAX], *pem = NULL;
	struct dg_err err = {0};
	time_t safe, now;
	int rc;

	rs_observe(c, false);
	if ((rc = rs_save(c)) != CMD_CONTINUE)
		return rc;
	safe = dg_rollover_safe_at(c->st.seen, c->st.n_seen, c->st.ttl_seen_s);
	now = dg_clock_wall();
	if (safe == 0 || now < safe) {
		if (safe == 0)
			rs_say("too early: the next key's record is not yet served by every "
			       "authoritative server and the validated lookup (run publish)");
		else
			rs_say("too early: safe at %lld (in %lld s): 2 x TTL %u s after it was seen "
			       "everywhere",
			       (long long)safe, (long long)(safe - now), c->st.ttl_seen_s);
		return DG_ROLLOVER_EXIT_TOO_EARLY;
	}
	c->st.step = DG_ROLLOVER_OBTAINING;
	c->st.step_at = now;
	if ((rc = rs_save(c)) != CMD_CONTINUE)
		return rc;
	if ((rc = rs_obtain(c, &chain)) != CMD_CONTINUE || (rc = rs_guard(c, chain)) != CMD_CONTINUE)
		goto fail;
	rs_crash_point("obtained");
	rs_work(c, "backup.cert", b, sizeof(b));
	if ((rc = rs_copy(c->conf.cert_file, b, 0600)) != CMD_CONTINUE)
		goto fail;
	rs_work(c, "backup.key", b, sizeof(b));
	if ((rc = rs_copy(c->conf.key_file, b, 0600)) != CMD_CONTINUE)
		goto fail;
	c->st.step = DG_ROLLOVER_INSTALLING;
	if ((rc = rs_save(c)) != CMD_CONTINUE)
		goto fail;
	rs_crash_point("installing");
	sk_X509_pop_free(chain, X509_free);
	rs_work(c, "next.pem", crt, sizeof(crt));
	if (dg_rollover_read_file(crt, DG_TLSA_FILE_MAX, &pem, NULL, &err) != DG_OK ||
	    dg_rollover_install(c->conf.cert_file, c->conf.key_file, pem, c->next, &err) != DG_OK) {
		free(pem);
		snprintf(b, sizeof(b), "install failed: %s", err.msg);
		return rs_restore(c, b);
	}
	free(pem);
	c->st.step = DG_ROLLOVER_INSTALLED;
	if ((rc = rs_save(c)) != CMD_CONTINUE)
		return rc;
	rs_crash_point("installed");
	return rs_finish(c);
fail:
	sk_X509_pop_free(chain, X509_free);
	c->st.step = DG_ROLLOVER_IDLE;
	if (rs_save(c) == CMD_CONTINUE)
		dg_rollover_gc(c->dir, &c->st);
	rs_say("advance abandoned; the old certificate is still in place");
	return rc;
}

/* ---- recovery -------------------------------------------------------------------------- */

enum dg_rollover_recovery rs_recovery_needed(struct rs_ctx *c)
{
	struct dg_rollover_disk d = {0};
	char path[PATH_MAX], id[DG_ROLLOVER_ID_LEN + 1];
	STACK_OF(X509) *chain = NULL;
	bool key_ok = false;

	rs_work(c, "next.pem", path, sizeof(path));
	if (dg_tlsa_load_certs(path, &chain, NULL) == DG_OK && sk_X509_num(chain) > 0 &&
	    dg_rollover_key_id(X509_get0_pubkey(sk_X509_value(chain, 0)), id, NULL) == DG_OK)
		d.has_next_cert = strcmp(id, c->st.next) == 0;
	sk_X509_pop_free(chain, X509_free);
	rs_work(c, "backup.cert", path, sizeof(path));
	d.has_backup = access(path, R_OK) == 0;
	dg_rollover_installed_id(c->conf.cert_file, c->conf.key_file, id, &key_ok);
	d.installed_is_next = key_ok && strcmp(id, c->st.next) == 0;
	d.installed_is_current = key_ok && strcmp(id, c->st.current) == 0;
	return dg_rollover_recovery(c->st.step, &d);
}

int rs_recover(struct rs_ctx *c)
{
	enum dg_rollover_recovery r = rs_recovery_needed(c);
	char crt[PATH_MAX], *pem = NULL;
	struct dg_err err = {0};
	int rc;

	if (r == DG_ROLLOVER_RECOVER_NONE)
		return CMD_CONTINUE;
	rs_say("recovering an interrupted advance (step %s): %s", dg_rollover_step_str(c->st.step),
	       dg_rollover_recovery_str(r));
	switch (r) {
	case DG_ROLLOVER_RECOVER_DISCARD:
		c->st.step = DG_ROLLOVER_IDLE;
		if ((rc = rs_save(c)) != CMD_CONTINUE)
			return rc;
		dg_rollover_gc(c->dir, &c->st);
		return CMD_CONTINUE;
	case DG_ROLLOVER_RECOVER_RESTORE:
		rc = rs_restore(c, "interrupted install rolled back");
		return rc == CMD_EXIT_FAIL ? CMD_CONTINUE : rc;
	case DG_ROLLOVER_RECOVER_REINSTALL:
		rs_work(c, "next.pem", crt, sizeof(crt));
		if (dg_rollover_read_file(crt, DG_TLSA_FILE_MAX, &pem, NULL, &err) != DG_OK ||
		    dg_rollover_install(c->conf.cert_file, c->conf.key_file, pem, c->next, &err) !=
		        DG_OK) {
			free(pem);
			return rs_restore(c, err.msg);
		}
		free(pem);
		c->st.step = DG_ROLLOVER_INSTALLED;
		if ((rc = rs_save(c)) != CMD_CONTINUE)
			return rc;
		/* fall into reload */
		return rs_finish(c);
	case DG_ROLLOVER_RECOVER_RELOAD: return rs_finish(c);
	case DG_ROLLOVER_RECOVER_NONE: break;
	}
	return CMD_CONTINUE;
}
