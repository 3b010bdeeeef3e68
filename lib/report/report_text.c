/*
 * report_text.c - one domain result as a readable terminal report.
 *
 * Public: dg_report_text.
 *
 * Layout (two-space indentation per level, labels in a 13-column field):
 *   domain line with the verdict, its meaning in words and every reason; the MX RRset;
 *   per MX host: status and reasons, the DNSSEC status of each RRset looked up (CNAME, A,
 *   AAAA, TLSA), TLSA base and reference identifiers, each TLSA record with its usability,
 *   the advice items; per address: status and reasons, each TLS probe, the certificate chain
 *   (subject, issuer, SPKI SHA-256, validity, names), the DANE outcome (which record matched
 *   at which depth, SPEC OSSL-8), the --days outcome, and with verbose the transcript;
 *   then MTA-STS (TXT, policy, mode, patterns, per-host match and PKIX), TLS-RPT and what a
 *   DANE, an MTA-STS and a dual sender do with the mail (issue #5).
 * Colour (ANSI) only when opts->color; it never changes the words.
 *
 * Ownership: the result is borrowed; nothing allocated here outlives a call.
 */
#include "report/report_int.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define LABEL_W 13   /* label column */
#define HEX_SHOWN 64 /* hex digits of TLSA data shown unless verbose */

enum colour { C_NONE = 0, C_GOOD, C_WARN, C_BAD };

struct tctx {
	FILE *out;
	const struct dg_report_opts *opts;
};

static void t_kv(const struct tctx *t, int indent, const char *label, const char *fmt, ...)
    DG_PRINTF(4, 5);
static const char *t_on(const struct tctx *t, enum colour c);
static const char *t_off(const struct tctx *t, enum colour c);
static enum colour verdict_colour(enum dg_verdict v);
static enum colour status_colour(enum dg_host_status s);
static const char *verdict_words(enum dg_verdict v);
static void t_reasons(const struct tctx *t, int indent, const struct dg_reasons *r);
static void t_rrset(const struct tctx *t, int indent, const char *label,
                    const struct dg_rrset_info *ri);
static void t_rr_line(const struct tctx *t, int indent, const char *label,
                      const struct dg_host_result *host, size_t i);
static void t_tlsa(const struct tctx *t, const struct dg_host_result *host);
static void t_advice(const struct tctx *t, const struct dg_tlsa_advice *adv);
static void t_cert(const struct tctx *t, size_t depth, const struct dg_cert_info *ci);
static void t_dane(const struct tctx *t, const struct dg_host_result *host,
                   const struct dg_probe_report *pr);
static void t_probe(const struct tctx *t, const struct dg_host_result *host,
                    const struct dg_probe_report *pr);
static void t_transcript(const struct tctx *t, const char *text);
static void t_addr(const struct tctx *t, const struct dg_host_result *host,
                   const struct dg_addr_result *a);
static void t_host(const struct tctx *t, const struct dg_host_result *host);
static const char *tri_words(enum dg_tri v);
static void t_mta_sts(const struct tctx *t, const struct dg_domain_result *res);
static void t_tlsrpt(const struct tctx *t, const struct dg_tlsrpt_result *r);
static void t_senders(const struct tctx *t, const struct dg_senders *s);

/* ---- primitives --------------------------------------------------------------------------- */

/* One "label  value" line; label and value aligned in columns. */
static void t_kv(const struct tctx *t, int indent, const char *label, const char *fmt, ...)
{
	va_list ap;

	fprintf(t->out, "%*s%-*s ", indent, "", LABEL_W, label);
	va_start(ap, fmt);
	vfprintf(t->out, fmt, ap);
	va_end(ap);
	fputc('\n', t->out);
}

static const char *t_on(const struct tctx *t, enum colour c)
{
	static const char *const seq[] = {"", "\033[32m", "\033[33m", "\033[1;31m"};

	return t->opts->color ? seq[c] : "";
}

static const char *t_off(const struct tctx *t, enum colour c)
{
	return t->opts->color && c != C_NONE ? "\033[0m" : "";
}

static enum colour verdict_colour(enum dg_verdict v)
{
	switch (v) {
	case DG_VERDICT_DANE_OK: return C_GOOD;
	case DG_VERDICT_DANE_FAIL:
	case DG_VERDICT_DNSSEC_BOGUS: return C_BAD;
	default: return C_WARN;
	}
}

static enum colour status_colour(enum dg_host_status s)
{
	switch (s) {
	case DG_HOST_VERIFIED: return C_GOOD;
	case DG_HOST_TLSA_UNUSABLE:
	case DG_HOST_NO_TLSA:
	case DG_HOST_INSECURE: return C_WARN;
	default: return C_BAD;
	}
}

/* The verdict in words, as a sending MTA that validates DANE sees it (SPEC section 13). */
static const char *verdict_words(enum dg_verdict v)
{
	switch (v) {
	case DG_VERDICT_DANE_OK: return "every MX host authenticates with DANE";
	case DG_VERDICT_DANE_PARTIAL: return "DANE protects only some of the MX hosts";
	case DG_VERDICT_DANE_FAIL:
		return "an MX host with usable TLSA records fails DANE: DANE senders skip it or "
		       "defer";
	case DG_VERDICT_NO_DANE: return "no MX host is protected by DANE";
	case DG_VERDICT_DNSSEC_BOGUS:
		return "a lookup senders need fails DNSSEC validation: DANE senders defer";
	case DG_VERDICT_TEMP_FAIL:
		return "the check did not complete: lookups or connections failed temporarily";
	case DG_VERDICT_NULL_MX: return "the domain publishes a null MX: it accepts no mail";
	}
	return "unknown verdict";
}

static void t_reasons(const struct tctx *t, int indent, const struct dg_reasons *r)
{
	size_t n = r->n < DG_MAX_REASONS ? r->n : DG_MAX_REASONS;

	for (size_t i = 0; i < n; i++)
		if (r->text[i] != NULL)
			fprintf(t->out, "%*s- %s\n", indent, "", r->text[i]);
}

/* "secure, answer, TTL 300 (name -> canonical) why" */
static void t_rrset(const struct tctx *t, int indent, const char *label,
                    const struct dg_rrset_info *ri)
{
	enum colour c = ri->security == DG_DNS_SECURE  ? C_GOOD
	                : ri->security == DG_DNS_BOGUS ? C_BAD
	                                               : C_NONE;

	if (!ri->done)
		return;
	t_kv(t, indent, label, "%s%s%s, %s, TTL %lu%s%s%s%s%s%s", t_on(t, c),
	     dg_dns_security_str(ri->security), t_off(t, c), dg_dns_outcome_str(ri->outcome),
	     (unsigned long)ri->ttl_s, ri->name != NULL ? " at " : "",
	     ri->name != NULL ? ri->name : "", ri->canonical != NULL ? " -> " : "",
	     ri->canonical != NULL ? ri->canonical : "", ri->why != NULL ? ": " : "",
	     ri->why != NULL ? ri->why : "");
}

/* ---- TLSA and advice ---------------------------------------------------------------------- */

/* "#1 3 1 1 <hex>  usable" */
static void t_rr_line(const struct tctx *t, int indent, const char *label,
                      const struct dg_host_result *host, size_t i)
{
	const struct dg_tlsa_rr *rr = &host->tlsa_set->rr[i];
	enum dg_tlsa_usability u = report_rr_usability(host, i);
	char *hex = report_hex(rr->data, rr->len);
	bool cut = !t->opts->verbose && strlen(hex) > HEX_SHOWN;

	if (cut)
		hex[HEX_SHOWN] = '\0';
	t_kv(t, indent, label, "#%zu %u %u %u %s%s  %s%s%s", i + 1, rr->usage, rr->selector,
	     rr->mtype, hex, cut ? "..." : "", t_on(t, u == DG_TLSA_USABLE ? C_GOOD : C_WARN),
	     dg_tlsa_usability_str(u), t_off(t, C_GOOD));
	free(hex);
}

static void t_tlsa(const struct tctx *t, const struct dg_host_result *host)
{
	char note[DG_TLSA_DESCR_MAX];

	if (host->tlsa_set == NULL || host->tlsa_set->count == 0)
		return;
	for (size_t i = 0; i < host->tlsa_set->count; i++) {
		t_rr_line(t, 2, i == 0 ? "TLSA records" : "", host, i);
		if (report_rr_usability(host, i) != DG_TLSA_USABLE) {
			dg_tlsa_rr_describe(&host->tlsa_set->rr[i], i + 1, note, sizeof(note));
			t_kv(t, 2, "", "  %s", note);
		}
	}
}

static void t_advice(const struct tctx *t, const struct dg_tlsa_advice *adv)
{
	for (size_t i = 0; i < adv->count; i++) {
		const struct dg_tlsa_advice_item *it = &adv->item[i];
		enum colour c = it->severity == DG_TLSA_SEV_ERROR  ? C_BAD
		                : it->severity == DG_TLSA_SEV_WARN ? C_WARN
		                                                   : C_NONE;

		t_kv(t, 2, i == 0 ? "advice" : "", "%s[%s]%s %s %s: %s", t_on(t, c),
		     dg_tlsa_severity_str(it->severity), t_off(t, c),
		     it->spec != NULL ? it->spec : "-", it->code != NULL ? it->code : "-",
		     it->text);
	}
}

/* ---- probes ------------------------------------------------------------------------------- */

static void t_cert(const struct tctx *t, size_t depth, const struct dg_cert_info *ci)
{
	char nb[REPORT_TIME_MAX], na[REPORT_TIME_MAX], label[16];

	snprintf(label, sizeof(label), "cert %zu", depth);
	t_kv(t, 6, label, "%s%s%s", ci->subject != NULL ? ci->subject : "(no subject)",
	     ci->is_ca ? " [CA]" : "", ci->self_signed ? " [self-signed]" : "");
	t_kv(t, 6, "  issuer", "%s", ci->issuer != NULL ? ci->issuer : "(no issuer)");
	t_kv(t, 6, "  key", "%s", ci->key_desc);
	t_kv(t, 6, "  spki sha256", "%s", ci->spki_sha256);
	t_kv(t, 6, "  cert sha256", "%s", ci->cert_sha256);
	t_kv(t, 6, "  valid", "%s to %s", dg_report_time(ci->not_before, nb, sizeof(nb)),
	     dg_report_time(ci->not_after, na, sizeof(na)));
	for (size_t i = 0; i < ci->n_names; i++)
		t_kv(t, 6, i == 0 ? "  names" : "", "%s", ci->names[i]);
}

/* Which record matched at which depth (SPEC OSSL-8), or why none did. */
static void t_dane(const struct tctx *t, const struct dg_host_result *host,
                   const struct dg_probe_report *pr)
{
	const struct dg_tlsa_rr *rr = report_matched_rr(host, pr);
	enum colour c = pr->verified ? C_GOOD : C_BAD;

	if (!pr->dane_checked) {
		if (pr->dane_reason != NULL)
			t_kv(t, 6, "DANE", "not checked: %s", pr->dane_reason);
		return;
	}
	if (pr->verified && rr != NULL)
		t_kv(t, 6, "DANE", "%sverified%s: record #%ld (%u %u %u) matched at depth %d%s%s",
		     t_on(t, c), t_off(t, c), pr->matched_index + 1, rr->usage, rr->selector,
		     rr->mtype, pr->depth, pr->peername != NULL ? ", name " : "",
		     pr->peername != NULL ? pr->peername : "");
	else
		t_kv(t, 6, "DANE", "%s%s%s%s%s", t_on(t, c), pr->verified ? "verified" : "failed",
		     t_off(t, c), pr->verified ? "" : ": ",
		     pr->verified ? "" : dg_dane_fail_str((enum dg_dane_fail)pr->dane_fail));
	if (pr->dane_reason != NULL)
		t_kv(t, 6, "", "%s", pr->dane_reason);
}

static void t_probe(const struct tctx *t, const struct dg_host_result *host,
                    const struct dg_probe_report *pr)
{
	char label[24];
	size_t n_chain = pr->n_chain < DG_MAX_CHAIN ? pr->n_chain : DG_MAX_CHAIN;

	snprintf(label, sizeof(label), "probe %s", dg_probe_key_str(pr->key));
	if (!pr->done) {
		t_kv(t, 4, label, "not run%s%s", pr->error != NULL ? ": " : "",
		     pr->error != NULL ? pr->error : "");
		return;
	}
	t_kv(t, 4, label, "%s%s%s%s%s%s", report_probe_outcome_str(pr->outcome),
	     pr->stage != NULL ? " at " : "", pr->stage != NULL ? pr->stage : "",
	     pr->sni != NULL ? ", SNI " : "", pr->sni != NULL ? pr->sni : "",
	     pr->absent_key_type ? ", server has no such key" : "");
	if (pr->error != NULL)
		t_kv(t, 6, "error", "%s", pr->error);
	if (pr->tls_version != NULL)
		t_kv(t, 6, "TLS", "%s %s%s%s", pr->tls_version,
		     pr->cipher != NULL ? pr->cipher : "", pr->peer_key != NULL ? ", key " : "",
		     pr->peer_key != NULL ? pr->peer_key : "");
	for (size_t i = 0; i < n_chain; i++)
		t_cert(t, i, &pr->chain[i]);
	t_dane(t, host, pr);
	if (pr->days_ok != -1) {
		snprintf(label, sizeof(label), t->opts->days >= 0 ? "in %d days" : "in days",
		         t->opts->days);
		t_kv(t, 6, label, "%s%s%s", pr->days_ok == 1 ? "still verifies" : "does not verify",
		     pr->days_reason != NULL ? ": " : "",
		     pr->days_reason != NULL ? pr->days_reason : "");
	}
	if (t->opts->verbose && pr->transcript != NULL)
		t_transcript(t, pr->transcript);
}

/* The SMTP/TLS transcript, each line indented under its probe. */
static void t_transcript(const struct tctx *t, const char *text)
{
	fprintf(t->out, "%*stranscript\n", 6, "");
	while (*text != '\0') {
		size_t n = strcspn(text, "\n");

		fprintf(t->out, "%*s%.*s\n", 8, "", (int)n, text);
		text += n;
		if (*text == '\n')
			text++;
	}
}

/* ---- hosts and domain ----------------------------------------------------------------------- */

static void t_addr(const struct tctx *t, const struct dg_host_result *host,
                   const struct dg_addr_result *a)
{
	enum colour c = status_colour(a->status);
	size_t n = a->n_probes < 3 ? a->n_probes : 3;

	fprintf(t->out, "  %s (IPv%d): %s%s%s%s%s%s\n", a->addr, a->family, t_on(t, c),
	        dg_host_status_str(a->status), t_off(t, c), a->code != NULL ? " (" : "",
	        a->code != NULL ? a->code : "", a->code != NULL ? ")" : "");
	t_reasons(t, 4, &a->reasons);
	for (size_t i = 0; i < n; i++)
		t_probe(t, host, &a->probes[i]);
}

static void t_host(const struct tctx *t, const struct dg_host_result *host)
{
	enum colour c = status_colour(host->status);

	fprintf(t->out, "\n%s %u %s%s%s%s: %s%s%s%s%s%s\n", host->implicit ? "implicit MX" : "MX",
	        (unsigned)host->preference, host->name != NULL ? host->name : "?",
	        host->expanded != NULL ? " (CNAME -> " : "",
	        host->expanded != NULL ? host->expanded : "", host->expanded != NULL ? ")" : "",
	        t_on(t, c), dg_host_status_str(host->status), t_off(t, c),
	        host->code != NULL ? " (" : "", host->code != NULL ? host->code : "",
	        host->code != NULL ? ")" : "");
	t_reasons(t, 2, &host->reasons);
	t_rrset(t, 2, "CNAME", &host->cname);
	t_rrset(t, 2, "A", &host->a);
	t_rrset(t, 2, "AAAA", &host->aaaa);
	t_rrset(t, 2, "TLSA", &host->tlsa);
	if (host->tlsa_base != NULL)
		t_kv(t, 2, "TLSA base", "%s", host->tlsa_base);
	for (size_t i = 0; i < host->n_ref_ids && i < 4; i++)
		t_kv(t, 2, i == 0 ? "reference ids" : "", "%s", host->ref_ids[i]);
	t_tlsa(t, host);
	t_advice(t, &host->advice);
	for (size_t i = 0; i < host->n_addrs; i++)
		t_addr(t, host, &host->addrs[i]);
}

void dg_report_text(const struct dg_domain_result *res, const struct dg_report_opts *opts,
                    FILE *out)
{
	struct dg_report_opts defaults;
	struct tctx t = {out, opts};
	enum colour c = verdict_colour(res->verdict);
	char when[REPORT_TIME_MAX];

	if (opts == NULL) {
		dg_report_opts_init(&defaults);
		t.opts = &defaults;
	}
	fprintf(out, "%s: %s%s%s%s%s%s\n", res->domain != NULL ? res->domain : "?", t_on(&t, c),
	        dg_verdict_str(res->verdict), t_off(&t, c), res->code != NULL ? " (" : "",
	        res->code != NULL ? res->code : "", res->code != NULL ? ")" : "");
	fprintf(out, "  %s\n", verdict_words(res->verdict));
	t_reasons(&t, 2, &res->reasons);
	if (res->mx.done)
		t_rrset(&t, 2, "MX RRset", &res->mx);
	if (res->null_mx)
		t_kv(&t, 2, "null MX", "yes (RFC 7505)");
	if (res->implicit_mx)
		t_kv(&t, 2, "implicit MX", "yes: no MX RRset, the domain is its own MX host");
	t_kv(&t, 2, "checked", "%s in %llu ms", dg_report_time(res->checked_at, when, sizeof(when)),
	     (unsigned long long)res->elapsed_ms);
	for (size_t i = 0; i < res->n_hosts; i++)
		t_host(&t, &res->hosts[i]);
	t_mta_sts(&t, res);
	t_tlsrpt(&t, &res->tlsrpt);
	t_senders(&t, &res->senders);
}

/* ---- MTA-STS, TLS-RPT, senders -------------------------------------------------------------- */

static const char *tri_words(enum dg_tri v)
{
	return v == DG_TRI_YES ? "yes" : v == DG_TRI_NO ? "no" : "not tested";
}

static void t_mta_sts(const struct tctx *t, const struct dg_domain_result *res)
{
	const struct dg_sts_result *m = &res->mta_sts;

	if (!m->checked)
		return;
	fprintf(t->out, "\nMTA-STS\n");
	t_kv(t, 2, "TXT", "%s%s%s", dg_sts_txt_status_str(m->txt), m->id != NULL ? ", id " : "",
	     m->id != NULL ? m->id : "");
	t_kv(t, 2, "policy", "%s", dg_sts_policy_status_str(m->policy));
	if (m->has_policy) {
		t_kv(t, 2, "mode", "%s", dg_sts_mode_str(m->mode));
		t_kv(t, 2, "max_age", "%lu s", (unsigned long)m->max_age_s);
	}
	for (size_t i = 0; i < m->n_mx; i++)
		t_kv(t, 2, i == 0 ? "mx patterns" : "", "%s", m->mx[i]);
	for (size_t i = 0; i < res->n_hosts; i++) {
		const struct dg_host_result *h = &res->hosts[i];

		if (h->mta_sts_match != DG_TRI_NULL || h->pkix_valid != DG_TRI_NULL)
			t_kv(t, 2, "MX host", "%s: matches a pattern %s, PKIX-valid %s", h->name,
			     tri_words(h->mta_sts_match), tri_words(h->pkix_valid));
	}
	t_reasons(t, 2, &m->reasons);
}

static void t_tlsrpt(const struct tctx *t, const struct dg_tlsrpt_result *r)
{
	if (!r->checked)
		return;
	fprintf(t->out, "\nTLS-RPT\n");
	t_kv(t, 2, "status", "%s", dg_tlsrpt_status_str(r->status));
	for (size_t i = 0; i < r->n_rua; i++)
		t_kv(t, 2, i == 0 ? "rua" : "", "%s", r->rua[i]);
	t_reasons(t, 2, &r->reasons);
}

/* What each kind of sender does with the mail (SPEC STS-9). */
static void t_senders(const struct tctx *t, const struct dg_senders *s)
{
	fprintf(t->out, "\nsenders\n");
	t_kv(t, 2, "DANE", "%s", dg_sender_action_str(s->dane));
	t_kv(t, 2, "MTA-STS", "%s", dg_sender_action_str(s->mta_sts));
	t_kv(t, 2, "both", "%s", dg_sender_action_str(s->both));
}
