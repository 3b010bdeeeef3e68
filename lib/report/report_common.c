/*
 * report_common.c - options and small helpers shared by the JSON and text renderers.
 *
 * Public: dg_report_opts_init, dg_report_time.
 * Internal (report_int.h): report_hex, report_matched_rr, report_rr_usability,
 * report_probe_outcome_str.
 *
 * Ownership: results are borrowed; report_hex() returns a heap string the caller frees.
 */
#include "report/report_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

void dg_report_opts_init(struct dg_report_opts *opts)
{
	opts->verbose = false;
	opts->days = -1;
	opts->color = false;
}

char *dg_report_time(time_t t, char *buf, size_t size)
{
	struct tm tm;

	if (size == 0)
		return buf;
	if (gmtime_r(&t, &tm) == NULL || strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(buf, size, "%lld", (long long)t);
	return buf;
}

char *report_hex(const uint8_t *p, size_t len)
{
	static const char digits[] = "0123456789abcdef";
	char *s = dg_xmalloc(2 * len + 1);

	for (size_t i = 0; i < len; i++) {
		s[2 * i] = digits[p[i] >> 4];
		s[2 * i + 1] = digits[p[i] & 0x0f];
	}
	s[2 * len] = '\0';
	return s;
}

const struct dg_tlsa_rr *report_matched_rr(const struct dg_host_result *host,
                                           const struct dg_probe_report *pr)
{
	if (host->tlsa_set == NULL || pr->matched_index < 0 ||
	    (size_t)pr->matched_index >= host->tlsa_set->count)
		return NULL;
	return &host->tlsa_set->rr[pr->matched_index];
}

enum dg_tlsa_usability report_rr_usability(const struct dg_host_result *host, size_t i)
{
	if (host->tlsa_summary.count == host->tlsa_set->count && i < DG_TLSA_SET_MAX)
		return host->tlsa_summary.reason[i];
	return dg_tlsa_rr_classify(&host->tlsa_set->rr[i]);
}

const char *report_probe_outcome_str(int outcome)
{
	return dg_smtp_probe_outcome_str((enum dg_smtp_probe_outcome)outcome);
}
