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

#endif /* DANEGUARD_REPORT_H */
