/*
 * daneguard/report.h - render the result of a domain check (struct dg_domain_result, scan.h)
 * as versioned JSON (jansson) or as a readable text report.
 *
 * The library returns data; this module turns data into output and does no other I/O than
 * writing to the FILE * it is given (STYLE.md sections 1 and 8). The JSON document is the
 * "daneguard/check/1" schema described field by field in docs/json.md: field names are stable
 * within schema version 1; fields may be added, never renamed or removed.
 *
 * Ownership: results are borrowed and never modified; the json_t returned by dg_report_json()
 * belongs to the caller (json_decref()).
 */
#ifndef DANEGUARD_REPORT_H
#define DANEGUARD_REPORT_H

#include <daneguard/scan.h>

#include <stdbool.h>
#include <stdio.h>

#include <jansson.h>

/** Schema identifier written as "schema" in every domain object. */
#define DG_REPORT_SCHEMA "daneguard/check/1"

/** Rendering options; dg_report_opts_init() sets the defaults. */
struct dg_report_opts {
	bool verbose; /**< include SMTP/TLS transcripts (when the result has them) */
	int days;     /**< the --days N the check ran with, -1 when not asked */
	bool color;   /**< text only: ANSI colours for verdicts and statuses */
};

/**
 * Set the defaults: not verbose, days -1, no colour.
 * @param opts options to fill (borrowed)
 */
void dg_report_opts_init(struct dg_report_opts *opts);

/**
 * Build the JSON object of one domain ("schema": "daneguard/check/1", see docs/json.md).
 * @param res  result to render (borrowed)
 * @param opts options (borrowed); NULL means dg_report_opts_init() defaults
 * @return new JSON object, never NULL (allocation failure aborts); the caller releases it
 *         with json_decref()
 */
json_t *dg_report_json(const struct dg_domain_result *res, const struct dg_report_opts *opts);

/**
 * Write the text report of one domain: verdict, reasons, the MX RRset, then per MX host the
 * DNSSEC status of each RRset, the TLSA records, advice, and per address each probe with its
 * certificate chain and the DANE outcome (matched record and depth).
 * @param res  result to render (borrowed)
 * @param opts options (borrowed); NULL means dg_report_opts_init() defaults
 * @param out  stream to write to (borrowed); write errors are left in ferror(out)
 */
void dg_report_text(const struct dg_domain_result *res, const struct dg_report_opts *opts,
                    FILE *out);

/**
 * Format a time as RFC 3339 UTC ("2025-01-31T12:00:00Z").
 * @param t    seconds since the epoch
 * @param buf  output (borrowed), always NUL-terminated when @p size > 0
 * @param size size of @p buf; 21 bytes are enough for years 0..9999
 * @return @p buf
 */
char *dg_report_time(time_t t, char *buf, size_t size);

/* ---- the HTML overview of a scan history (report_html.c) ---------------------------- */

/** Verdict buckets of the HTML report: the dg_verdict values, then "other". */
#define DG_HTML_VERDICTS (DG_VERDICT_NULL_MX + 2)

/** One scan run: its verdict counts. */
struct dg_html_run {
	int64_t id;
	time_t started;
	bool complete;
	size_t count[DG_HTML_VERDICTS]; /**< per dg_verdict, last: unknown verdict names */
};

/** One domain of the newest run. Strings borrowed; any bytes (they are escaped). */
struct dg_html_domain {
	const char *domain;
	const char *verdict;
	const char *codes;   /**< domain code, then host codes */
	const char *mx_set;  /**< MX host names, comma-separated */
	const char *reasons; /**< the failure's reasons, one sentence after another */
};

/** One fail-list entry (as dg_fail_list of history.h). Strings borrowed. */
struct dg_html_fail {
	const char *domain, *verdict, *codes;
	time_t since;
	size_t runs;
};

/** Everything the HTML page shows. All arrays and strings borrowed. */
struct dg_html_report {
	const char *db_name;               /**< shown in the title */
	time_t generated;
	const struct dg_html_run *runs;    /**< oldest first */
	size_t n_runs;
	int64_t domains_run;               /**< run the domain table shows, 0 none */
	const struct dg_html_domain *domains;
	size_t n_domains;
	const struct dg_html_fail *fails;
	size_t n_fails;
};

/**
 * The verdict bucket of a verdict name ("dane-ok" -> DG_VERDICT_DANE_OK); unknown names give
 * DG_HTML_VERDICTS - 1.
 */
size_t dg_report_html_verdict_index(const char *verdict);

/**
 * Write one self-contained HTML page (inline CSS, JavaScript and SVG; a Content-Security-
 * Policy forbids every fetch): verdict counts over the runs as a chart, DANE coverage of the
 * newest run, the top MX operators (registered-domain part of the MX host names: the last
 * two labels) by number of domains with their status, the fail list, and a sortable,
 * filterable table of the domains with each failure's reasons. Every string from the report
 * is HTML-escaped; the script reads the table from the DOM and embeds no data.
 * @param r   what to show (borrowed)
 * @param out stream (borrowed)
 * @return DG_OK, or DG_E_IO when writing failed (ferror)
 */
enum dg_status dg_report_html(const struct dg_html_report *r, FILE *out, struct dg_err *err);

#endif /* DANEGUARD_REPORT_H */
