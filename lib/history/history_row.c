/*
 * history_row.c - the columns the history keeps per domain, made from a check result.
 *
 * Public: dg_history_row_make, dg_history_row_cleanup.
 *
 * codes: the domain's SPEC section 13 code, then each host's code, in MX order.
 * mx_set: the MX host names, sorted and comma-separated ("" for none or null MX), so a
 * reordering of preferences is no change. tlsa_digests: every secure TLSA record of every
 * host as "host:U S M hex", sorted and space-separated. Strings are allocated here and
 * freed by dg_history_row_cleanup().
 */
#include <daneguard/history.h>
#include <daneguard/util.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int cmp_str(const void *a, const void *b);
static char *join_sorted(char **items, size_t n, const char *sep);
static char *tlsa_item(const char *host, const struct dg_tlsa_rr *rr);

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sort @p items, join them with @p sep into a new string, free the items. */
static char *join_sorted(char **items, size_t n, const char *sep)
{
	size_t len = 1;
	char *out;

	if (n > 1)
		qsort(items, n, sizeof(*items), cmp_str);
	for (size_t i = 0; i < n; i++)
		len += strlen(items[i]) + strlen(sep);
	out = dg_xmalloc(len);
	out[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			strcat(out, sep);
		strcat(out, items[i]);
		free(items[i]);
	}
	return out;
}

static char *tlsa_item(const char *host, const struct dg_tlsa_rr *rr)
{
	size_t len = strlen(host) + 16 + rr->len * 2;
	char *s = dg_xmalloc(len);
	int off = snprintf(s, len, "%s:%u %u %u ", host, rr->usage, rr->selector, rr->mtype);

	for (size_t i = 0; i < rr->len; i++)
		off += snprintf(s + off, len - (size_t)off, "%02x", rr->data[i]);
	return s;
}

void dg_history_row_make(const struct dg_domain_result *res, struct dg_history_row *row)
{
	size_t n_tlsa = 0, k = 0, clen = strlen(res->code != NULL ? res->code : "-") + 1;
	char **names = dg_xcalloc(res->n_hosts + 1, sizeof(*names));
	char **tlsa, *codes;

	for (size_t i = 0; i < res->n_hosts; i++) {
		const struct dg_host_result *h = &res->hosts[i];

		names[i] = dg_xstrdup(h->name);
		n_tlsa += h->tlsa_set != NULL ? h->tlsa_set->count : 0;
		clen += strlen(h->code != NULL ? h->code : "-") + 1;
	}
	tlsa = dg_xcalloc(n_tlsa + 1, sizeof(*tlsa));
	for (size_t i = 0; i < res->n_hosts; i++) {
		const struct dg_host_result *h = &res->hosts[i];

		for (size_t j = 0; h->tlsa_set != NULL && j < h->tlsa_set->count; j++)
			tlsa[k++] = tlsa_item(h->name, &h->tlsa_set->rr[j]);
	}
	codes = dg_xmalloc(clen);
	snprintf(codes, clen, "%s", res->code != NULL ? res->code : "-");
	for (size_t i = 0; i < res->n_hosts; i++) {
		strcat(codes, " ");
		strcat(codes, res->hosts[i].code != NULL ? res->hosts[i].code : "-");
	}
	row->domain = dg_xstrdup(res->domain);
	row->verdict = dg_xstrdup(dg_verdict_str(res->verdict));
	row->codes = codes;
	row->mx_set = join_sorted(names, res->n_hosts, ",");
	row->tlsa_digests = join_sorted(tlsa, n_tlsa, " ");
	free(names);
	free(tlsa);
}

void dg_history_row_cleanup(struct dg_history_row *row)
{
	free((char *)row->domain);
	free((char *)row->verdict);
	free((char *)row->codes);
	free((char *)row->mx_set);
	free((char *)row->tlsa_digests);
	memset(row, 0, sizeof(*row));
}
