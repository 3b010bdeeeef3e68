/*
 * tlsrpt_report.c - one UTC day of TLS-RPT results aggregated, and its RFC 8460 JSON reports.
 *
 * Public: dg_tlsrpt_day_new, dg_tlsrpt_day_add, dg_tlsrpt_day_load, dg_tlsrpt_day_free,
 * dg_tlsrpt_day_count, dg_tlsrpt_day_domain, dg_tlsrpt_day_rua, dg_tlsrpt_day_dropped,
 * dg_tlsrpt_report_id, dg_tlsrpt_report_build.
 *
 * A report is made per report domain (the next-hop domain whose _smtp._tls record gave the
 * rua, TLS-Report-Domain); it holds one policies[] element per distinct applied policy
 * (type, policy-domain, policy strings, mx patterns), since a DANE policy's policy-domain is
 * the TLSA base domain of each MX host (SPEC RPT-2). Counting: SPEC RPT-3 summary and
 * failure-details rows keyed by (result-type, sending-mta-ip, receiving-mx-hostname,
 * receiving-ip, failure-reason-code). Report domains are found through a hash table of
 * indexes; policies and rows by linear search (bounded by DG_TLSRPT_POLICIES_MAX,
 * DG_TLSRPT_DETAILS_MAX). Everything is copied into the aggregation, which owns it.
 */
#include "tlsrpt_int.h"

#include <daneguard/util.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct agg_detail {
	char *f[5]; /**< result-type, sending-mta-ip, receiving-mx-hostname, receiving-ip, code */
	uint64_t count;
};

struct agg_policy {
	enum dg_tlsrpt_policy_type type;
	char *domain;
	char **strings;
	size_t n_strings;
	char **mx;
	size_t n_mx;
	uint64_t ok, failed;
	struct agg_detail *det;
	size_t n_det, cap_det;
};

struct agg_domain {
	char *name;
	char *rua[DG_TLSRPT_RUA_MAX];
	size_t n_rua;
	struct agg_policy *pol;
	size_t n_pol, cap_pol;
};

struct dg_tlsrpt_day {
	char day[DG_TLSRPT_DAY_SIZE];
	uint64_t start_s;
	struct agg_domain *dom;
	size_t n, cap;
	size_t *slot;  /**< hash of domain names: index + 1, 0 empty */
	size_t n_slot; /**< power of two */
	uint64_t dropped;
};

static uint64_t name_hash(const char *s);
static struct agg_domain *day_domain(struct dg_tlsrpt_day *d, const char *name);
static void day_rehash(struct dg_tlsrpt_day *d);
static bool str_eq(const char *a, const char *b);
static bool list_eq(char *const *a, size_t na, const char *const *b, size_t nb);
static char **list_dup(const char *const *v, size_t n);
static void list_free(char **v, size_t n);
static struct agg_policy *dom_policy(struct agg_domain *dm, const struct dg_tlsrpt_event *ev);
static json_t *policy_json(const struct agg_policy *p);
static json_t *str_array(char *const *v, size_t n);

static uint64_t name_hash(const char *s)
{
	uint64_t h = 1469598103934665603ull; /* FNV-1a */

	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

struct dg_tlsrpt_day *dg_tlsrpt_day_new(const char *day)
{
	struct dg_tlsrpt_day *d;
	uint64_t start;

	if (dg_tlsrpt_day_parse(day, &start) != DG_OK)
		return NULL;
	d = dg_xcalloc(1, sizeof(*d));
	snprintf(d->day, sizeof(d->day), "%s", day);
	d->start_s = start;
	d->n_slot = 64;
	d->slot = dg_xcalloc(d->n_slot, sizeof(*d->slot));
	return d;
}

static void day_rehash(struct dg_tlsrpt_day *d)
{
	free(d->slot);
	d->n_slot *= 2;
	d->slot = dg_xcalloc(d->n_slot, sizeof(*d->slot));
	for (size_t i = 0; i < d->n; i++) {
		size_t k = (size_t)name_hash(d->dom[i].name) & (d->n_slot - 1);

		while (d->slot[k] != 0)
			k = (k + 1) & (d->n_slot - 1);
		d->slot[k] = i + 1;
	}
}

/* Find or add the report domain @p name; NULL when DG_TLSRPT_DOMAINS_MAX is reached. */
static struct agg_domain *day_domain(struct dg_tlsrpt_day *d, const char *name)
{
	size_t k = (size_t)name_hash(name) & (d->n_slot - 1);

	while (d->slot[k] != 0) {
		if (strcmp(d->dom[d->slot[k] - 1].name, name) == 0)
			return &d->dom[d->slot[k] - 1];
		k = (k + 1) & (d->n_slot - 1);
	}
	if (d->n >= DG_TLSRPT_DOMAINS_MAX)
		return NULL;
	if (d->n == d->cap) {
		d->cap = d->cap ? d->cap * 2 : 16;
		d->dom = dg_xrealloc(d->dom, d->cap * sizeof(*d->dom));
	}
	memset(&d->dom[d->n], 0, sizeof(d->dom[0]));
	d->dom[d->n].name = dg_xstrdup(name);
	d->slot[k] = ++d->n;
	if (d->n * 2 > d->n_slot)
		day_rehash(d);
	/* the rehash moved slots, not entries */
	return &d->dom[d->n - 1];
}

static bool str_eq(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return strcmp(a, b) == 0;
}

static bool list_eq(char *const *a, size_t na, const char *const *b, size_t nb)
{
	if (na != nb)
		return false;
	for (size_t i = 0; i < na; i++)
		if (!str_eq(a[i], b[i]))
			return false;
	return true;
}

static char **list_dup(const char *const *v, size_t n)
{
	char **out = dg_xcalloc(n ? n : 1, sizeof(*out));

	for (size_t i = 0; i < n; i++)
		out[i] = dg_xstrdup(v[i] != NULL ? v[i] : "");
	return out;
}

static void list_free(char **v, size_t n)
{
	for (size_t i = 0; v != NULL && i < n; i++)
		free(v[i]);
	free(v);
}

/* The policy of @p ev in @p dm, added if new; NULL at DG_TLSRPT_POLICIES_MAX. */
static struct agg_policy *dom_policy(struct agg_domain *dm, const struct dg_tlsrpt_event *ev)
{
	struct agg_policy *p;

	for (size_t i = 0; i < dm->n_pol; i++) {
		p = &dm->pol[i];
		if (p->type == ev->policy_type && strcmp(p->domain, ev->policy_domain) == 0 &&
		    list_eq(p->strings, p->n_strings, ev->strings, ev->n_strings) &&
		    list_eq(p->mx, p->n_mx, ev->mx, ev->n_mx))
			return p;
	}
	if (dm->n_pol >= DG_TLSRPT_POLICIES_MAX)
		return NULL;
	if (dm->n_pol == dm->cap_pol) {
		dm->cap_pol = dm->cap_pol ? dm->cap_pol * 2 : 4;
		dm->pol = dg_xrealloc(dm->pol, dm->cap_pol * sizeof(*dm->pol));
	}
	p = &dm->pol[dm->n_pol++];
	memset(p, 0, sizeof(*p));
	p->type = ev->policy_type;
	p->domain = dg_xstrdup(ev->policy_domain);
	p->strings = list_dup(ev->strings, ev->n_strings);
	p->n_strings = ev->n_strings;
	p->mx = list_dup(ev->mx, ev->n_mx);
	p->n_mx = ev->n_mx;
	return p;
}

enum dg_status dg_tlsrpt_day_add(struct dg_tlsrpt_day *d, const struct dg_tlsrpt_event *ev)
{
	struct agg_domain *dm = day_domain(d, ev->report_domain);
	struct agg_policy *p;
	const char *f[5] = {ev->result_type, ev->sending_ip, ev->mx_host, ev->receiving_ip,
	                    ev->reason_code};
	struct agg_detail *row = NULL;

	if (dm == NULL || (p = dom_policy(dm, ev)) == NULL) {
		d->dropped++;
		return DG_E_LIMIT;
	}
	/* the rua list is the latest the engine saw for the domain */
	for (size_t i = 0; i < dm->n_rua; i++)
		free(dm->rua[i]);
	dm->n_rua = 0;
	for (size_t i = 0; i < ev->n_rua && i < DG_TLSRPT_RUA_MAX; i++)
		dm->rua[dm->n_rua++] = dg_xstrdup(ev->rua[i]);
	if (ev->success) {
		p->ok++;
		return DG_OK;
	}
	for (size_t i = 0; i < p->n_det && row == NULL; i++) {
		bool same = true;

		for (size_t k = 0; k < 5 && same; k++)
			same = str_eq(p->det[i].f[k], f[k] != NULL && f[k][0] ? f[k] : NULL);
		if (same)
			row = &p->det[i];
	}
	if (row == NULL) {
		if (p->n_det >= DG_TLSRPT_DETAILS_MAX) {
			p->failed++; /* still counted in the summary */
			d->dropped++;
			return DG_E_LIMIT;
		}
		if (p->n_det == p->cap_det) {
			p->cap_det = p->cap_det ? p->cap_det * 2 : 4;
			p->det = dg_xrealloc(p->det, p->cap_det * sizeof(*p->det));
		}
		row = &p->det[p->n_det++];
		memset(row, 0, sizeof(*row));
		for (size_t k = 0; k < 5; k++)
			row->f[k] = f[k] != NULL && f[k][0] ? dg_xstrdup(f[k]) : NULL;
	}
	row->count++;
	p->failed++;
	return DG_OK;
}

enum dg_status dg_tlsrpt_day_load(const char *dir, const char *day, struct dg_tlsrpt_day **out,
                                  size_t *skipped, struct dg_err *err)
{
	char *text = NULL;
	size_t len = 0, pos = 0, bad = 0;
	struct dg_tlsrpt_day *d;
	enum dg_status st;

	*out = NULL;
	if (skipped != NULL)
		*skipped = 0;
	if ((st = tlsrpt_journal_read(dir, day, &text, &len, err)) != DG_OK)
		return st;
	d = dg_tlsrpt_day_new(day);
	while (pos < len) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t n = nl != NULL ? (size_t)(nl - (text + pos)) : len - pos;
		struct dg_tlsrpt_event ev;

		/* SPEC-independent crash rule: a line without its newline is torn, skip it */
		if (nl != NULL && dg_tlsrpt_event_parse(text + pos, n, &ev, NULL) == DG_OK) {
			(void)dg_tlsrpt_day_add(d, &ev);
			dg_tlsrpt_event_cleanup(&ev);
		} else if (n > 0) {
			bad++;
		}
		pos += n + 1;
	}
	free(text);
	if (skipped != NULL)
		*skipped = bad;
	*out = d;
	return DG_OK;
}

void dg_tlsrpt_day_free(struct dg_tlsrpt_day *d)
{
	if (d == NULL)
		return;
	for (size_t i = 0; i < d->n; i++) {
		struct agg_domain *dm = &d->dom[i];

		for (size_t r = 0; r < dm->n_rua; r++)
			free(dm->rua[r]);
		for (size_t k = 0; k < dm->n_pol; k++) {
			struct agg_policy *p = &dm->pol[k];

			free(p->domain);
			list_free(p->strings, p->n_strings);
			list_free(p->mx, p->n_mx);
			for (size_t j = 0; j < p->n_det; j++)
				for (size_t f = 0; f < 5; f++)
					free(p->det[j].f[f]);
			free(p->det);
		}
		free(dm->pol);
		free(dm->name);
	}
	free(d->dom);
	free(d->slot);
	free(d);
}

size_t dg_tlsrpt_day_count(const struct dg_tlsrpt_day *d)
{
	return d->n;
}

const char *dg_tlsrpt_day_domain(const struct dg_tlsrpt_day *d, size_t i)
{
	return i < d->n ? d->dom[i].name : NULL;
}

char *const *dg_tlsrpt_day_rua(const struct dg_tlsrpt_day *d, size_t i, size_t *n)
{
	*n = i < d->n ? d->dom[i].n_rua : 0;
	return i < d->n ? d->dom[i].rua : NULL;
}

uint64_t dg_tlsrpt_day_dropped(const struct dg_tlsrpt_day *d)
{
	return d->dropped;
}

/* ---- the JSON report (SPEC RPT-3) -------------------------------------------------------- */

enum dg_status dg_tlsrpt_report_id(const char *day, const char *domain,
                                   const struct dg_tlsrpt_meta *meta, char *out, size_t size)
{
	int n = snprintf(out, size, "%sT00:00:00Z_%s@%s", day, domain, meta->submitter);

	return n < 0 || (size_t)n >= size ? DG_E_LIMIT : DG_OK;
}

static json_t *str_array(char *const *v, size_t n)
{
	json_t *a = json_array();

	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, json_string(v[i]));
	return a;
}

static json_t *policy_json(const struct agg_policy *p)
{
	static const char *const keys[5] = {"result-type", "sending-mta-ip",
	                                    "receiving-mx-hostname", "receiving-ip",
	                                    "failure-reason-code"};
	json_t *el = json_object(), *pol = json_object(), *sum = json_object();
	json_t *fd = json_array();

	json_object_set_new(pol, "policy-type", json_string(dg_tlsrpt_policy_type_str(p->type)));
	/* SPEC RPT-4: one element per TLSA RR or STS policy line; nothing without a policy */
	if (p->type != DG_TLSRPT_POLICY_NONE)
		json_object_set_new(pol, "policy-string", str_array(p->strings, p->n_strings));
	json_object_set_new(pol, "policy-domain", json_string(p->domain));
	if (p->type == DG_TLSRPT_POLICY_STS) /* SPEC RPT-3 UNCERTAIN: the key is "mx-host" */
		json_object_set_new(pol, "mx-host", str_array(p->mx, p->n_mx));
	json_object_set_new(el, "policy", pol);
	json_object_set_new(sum, "total-successful-session-count", json_integer((json_int_t)p->ok));
	json_object_set_new(sum, "total-failure-session-count",
	                    json_integer((json_int_t)p->failed));
	json_object_set_new(el, "summary", sum);
	for (size_t i = 0; i < p->n_det; i++) {
		json_t *row = json_object();

		for (size_t k = 0; k < 5; k++)
			if (p->det[i].f[k] != NULL)
				json_object_set_new(row, keys[k], json_string(p->det[i].f[k]));
		json_object_set_new(row, "failed-session-count",
		                    json_integer((json_int_t)p->det[i].count));
		json_array_append_new(fd, row);
	}
	json_object_set_new(el, "failure-details", fd);
	return el;
}

enum dg_status dg_tlsrpt_report_build(const struct dg_tlsrpt_day *d, size_t i,
                                      const struct dg_tlsrpt_meta *meta, char **out,
                                      struct dg_err *err)
{
	char id[1024], t0[32], t1[32];
	json_t *o, *range, *pols;
	char *text;

	*out = NULL;
	if (i >= d->n)
		return dg_err_set(err, DG_E_NOTFOUND, "no report domain %zu for %s", i, d->day);
	if (dg_tlsrpt_report_id(d->day, d->dom[i].name, meta, id, sizeof(id)) != DG_OK)
		return dg_err_set(err, DG_E_LIMIT, "report id for %s too long", d->dom[i].name);
	/* RFC 8460 4.1: a whole UTC day, RFC 3339 */
	snprintf(t0, sizeof(t0), "%sT00:00:00Z", d->day);
	snprintf(t1, sizeof(t1), "%sT23:59:59Z", d->day);
	o = json_object();
	json_object_set_new(o, "organization-name", json_string(meta->org));
	range = json_object();
	json_object_set_new(range, "start-datetime", json_string(t0));
	json_object_set_new(range, "end-datetime", json_string(t1));
	json_object_set_new(o, "date-range", range);
	json_object_set_new(o, "contact-info", json_string(meta->contact));
	json_object_set_new(o, "report-id", json_string(id));
	pols = json_array(); /* SPEC RPT-3: MUST be an array */
	for (size_t k = 0; k < d->dom[i].n_pol; k++)
		json_array_append_new(pols, policy_json(&d->dom[i].pol[k]));
	json_object_set_new(o, "policies", pols);
	text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(o);
	if (text == NULL)
		return dg_err_set(err, DG_E_INTERNAL, "report for %s: not encodable (bad UTF-8?)",
		                  d->dom[i].name);
	*out = text;
	return DG_OK;
}
