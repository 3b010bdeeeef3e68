/*
 * report_int.h - helpers shared by report_json.c and report_text.c.
 *
 * Everything here reads a borrowed result and allocates nothing that outlives a call, except
 * report_hex(), whose string the caller frees.
 */
#ifndef DG_REPORT_INT_H
#define DG_REPORT_INT_H

#include <daneguard/report.h>
#include <daneguard/smtp.h>
#include <daneguard/util.h>

#include <stddef.h>
#include <stdint.h>

/** Size of a buffer for one dg_report_time() string. */
#define REPORT_TIME_MAX 32

/**
 * Lowercase hex of @p len octets.
 * @return NUL-terminated string; the caller frees it with free()
 */
char *report_hex(const uint8_t *p, size_t len);

/**
 * The record of the host's TLSA set a probe matched.
 * @return record borrowed from @p host, or NULL when none or the index is out of range
 */
const struct dg_tlsa_rr *report_matched_rr(const struct dg_host_result *host,
                                           const struct dg_probe_report *pr);

/**
 * Usability of record @p i of the host's set: from the summary when it covers the set,
 * else classified now.
 */
enum dg_tlsa_usability report_rr_usability(const struct dg_host_result *host, size_t i);

/** @return "tls-ok", "connect-failed", ... for a probe's outcome (static) */
const char *report_probe_outcome_str(int outcome);

#endif /* DG_REPORT_INT_H */
