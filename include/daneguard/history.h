/*
 * daneguard/history.h - the history of "daneguard scan" runs in an SQLite database (WAL)
 * or in PostgreSQL (with a shared work queue for workers on many machines), and what it
 * tells: the changes since the previous complete run, and the domains whose
 * DANE has been broken for several complete runs in a row (the fail list).
 *
 * Tables (docs/internals/history.md): runs(id, started, finished, complete) and
 * results(run_id, domain, verdict, codes, mx_set, tlsa_digests, json). A run becomes
 * complete only by dg_history_run_finish(); an interrupted run stays incomplete and is
 * ignored by every comparison.
 *
 * The decisions are pure functions over rows (dg_history_diff, dg_history_fail_select),
 * unit-tested without a database; the database functions feed them. Every error names the
 * database file: "database /x/y.db: locked". Every wait on a lock is bounded (busy timeout).
 */
#ifndef DANEGUARD_HISTORY_H
#define DANEGUARD_HISTORY_H

#include <daneguard/err.h>
#include <daneguard/scan.h>

#include <jansson.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct dg_history;

/** Default number of consecutive complete runs a domain must fail to enter the fail list. */
#define DG_HISTORY_FAIL_RUNS 2
/** How many complete runs the fail list looks back for "since when". */
#define DG_HISTORY_LOOKBACK 100

/** What one run recorded about one domain. Strings are owned by whoever filled the row. */
struct dg_history_row {
	const char *domain;
	const char *verdict;      /**< dg_verdict_str() */
	const char *codes;        /**< domain code, then host codes, space-separated */
	const char *mx_set;       /**< MX host names, sorted, comma-separated */
	const char *tlsa_digests; /**< "host:U S M hex" sorted, space-separated */
};

/** Kinds of change between two complete runs. */
enum dg_change_kind {
	DG_CHANGE_NEW_FAILURE = 0, /**< fails now (dane-fail, dnssec-bogus), did not before */
	DG_CHANGE_RECOVERED,       /**< failed before, a definite non-failing verdict now */
	DG_CHANGE_MX,              /**< the MX host set changed */
	DG_CHANGE_TLSA,            /**< the TLSA records changed */
	DG_CHANGE_ADDED,           /**< in this run only */
	DG_CHANGE_REMOVED          /**< in the previous run only */
};

/** One change; strings owned by the struct dg_changes. */
struct dg_change {
	enum dg_change_kind kind;
	char *domain;
	char *before; /**< verdict, MX set or TLSA digests before (NULL for added) */
	char *after;  /**< ... now (NULL for removed) */
};

/** The changes between run @c prev_run and run @c run (dg_changes_cleanup()). */
struct dg_changes {
	int64_t prev_run; /**< 0: there was no previous complete run */
	int64_t run;
	struct dg_change *v;
	size_t n, cap;
	size_t count[DG_CHANGE_REMOVED + 1]; /**< per kind */
};

/** A complete run, for the fail list. */
struct dg_history_run {
	int64_t id;
	time_t started;
};

/** A failing result of a complete run, for the fail list. Strings borrowed. */
struct dg_history_obs {
	const char *domain;
	int64_t run_id;
	const char *verdict;
	const char *codes;
};

/** One entry of the fail list. Strings borrow the observations (or the list). */
struct dg_fail_entry {
	const char *domain;
	const char *verdict; /**< in the newest run */
	const char *codes;
	time_t since; /**< start of the oldest run of the streak */
	size_t runs;  /**< consecutive complete runs failed (capped by the lookback) */
};

/** A fail list read from a database (dg_fail_list_cleanup()). */
struct dg_fail_list {
	struct dg_fail_entry *v;
	size_t n;
	size_t n_complete_runs; /**< complete runs looked at */
	char **strings;         /**< owned copies behind the entries */
	size_t n_strings;
};

/* ---- pure decisions (history_diff.c) -------------------------------------------------- */

/** true for the verdicts that make DANE senders defer: dane-fail, dnssec-bogus. */
bool dg_history_verdict_fails(const char *verdict);

/** "new-failure", "recovered", "mx-changed", "tlsa-changed", "added", "removed" */
const char *dg_change_kind_str(enum dg_change_kind k);

/**
 * Compare two runs. Rows of each run sorted by domain (strcmp), one row per domain.
 * New failures include added domains that fail; temp-fail is neither a failure nor a
 * recovery, and a temp-fail on either side hides MX and TLSA changes.
 * @param prev rows of the previous complete run (borrowed), @p cur rows of this run
 * @param out appended to (strings copied); initialise with memset 0
 */
void dg_history_diff(const struct dg_history_row *prev, size_t n_prev,
                     const struct dg_history_row *cur, size_t n_cur, struct dg_changes *out);

/**
 * Compare one domain across two runs (@p prev or @p cur NULL for added/removed).
 * The building block of dg_history_diff() and of the streaming database diff.
 */
void dg_history_diff_pair(const struct dg_history_row *prev, const struct dg_history_row *cur,
                          struct dg_changes *out);

/** Free what @p c holds (not @p c). */
void dg_changes_cleanup(struct dg_changes *c);

/**
 * The changes as JSON: {"schema":"daneguard/changes/1","run":N,"previous_run":N|null,
 * "counts":{...},"changes":[{"kind","domain","before","after"}]}.
 * @return new reference (caller json_decref()s)
 */
json_t *dg_changes_json(const struct dg_changes *c);

/**
 * Select the fail list: domains with a failing result in each of the @p min_runs newest
 * complete runs, without a gap. Pure.
 * @param runs complete runs, newest first (borrowed)
 * @param obs failing results of those runs, sorted by domain then run id descending
 *            (borrowed)
 * @param out room for @p n_obs entries; entries borrow @p obs strings
 * @return the number of entries written, in domain order
 */
size_t dg_history_fail_select(const struct dg_history_run *runs, size_t n_runs,
                              const struct dg_history_obs *obs, size_t n_obs, unsigned min_runs,
                              struct dg_fail_entry *out);

/* ---- rows from results (history_row.c) ------------------------------------------------ */

/**
 * Fill @p row from a check result. Strings are allocated; free with
 * dg_history_row_cleanup().
 * @param res the result (borrowed)
 */
void dg_history_row_make(const struct dg_domain_result *res, struct dg_history_row *row);

/** Free the strings of a row made by dg_history_row_make(). */
void dg_history_row_cleanup(struct dg_history_row *row);

/* ---- the database (history_db.c, history_query.c) ------------------------------------- */

/**
 * Open (with @p create, create) the database and its tables: an SQLite file (WAL journal,
 * bounded busy wait) or, for a postgresql:// URL, a PostgreSQL database with the same
 * tables plus the work queue (docs/internals/history.md).
 * @param path file name or URL (copied; named in every error, without a password)
 * @param create create the file and tables if missing (scan); false for reports
 * @param out the handle, freed with dg_history_free()
 * @return DG_OK, DG_E_IO (cannot open, locked, not a database) with @p err filled
 */
enum dg_status dg_history_open(const char *path, bool create, struct dg_history **out,
                               struct dg_err *err);

/** Commit what is pending (best effort) and close. NULL ok. */
void dg_history_free(struct dg_history *h);

/**
 * Record a new, incomplete run.
 * @param started wall-clock start
 * @param run_id out: its id
 */
enum dg_status dg_history_run_begin(struct dg_history *h, time_t started, int64_t *run_id,
                                    struct dg_err *err);

/**
 * Continue an incomplete run (--resume).
 * @return DG_OK, DG_E_NOTFOUND (no such run, or already complete), DG_E_IO
 */
enum dg_status dg_history_run_reopen(struct dg_history *h, int64_t run_id, struct dg_err *err);

/**
 * Record one result of run @p run_id (replacing an earlier one of the same domain). Writes
 * are batched in one transaction until dg_history_commit().
 * @param row the row (borrowed), @p json the report object as text (borrowed)
 */
enum dg_status dg_history_add(struct dg_history *h, int64_t run_id,
                              const struct dg_history_row *row, const char *json,
                              struct dg_err *err);

/** Commit the pending batch (durable: WAL, synchronous=FULL). */
enum dg_status dg_history_commit(struct dg_history *h, struct dg_err *err);

/** Commit, then mark run @p run_id complete, finished at @p finished. */
enum dg_status dg_history_run_finish(struct dg_history *h, int64_t run_id, time_t finished,
                                     struct dg_err *err);

/**
 * The newest complete run with an id below @p before (INT64_MAX: the newest of all).
 * @return DG_OK, DG_E_NOTFOUND (none), DG_E_IO
 */
enum dg_status dg_history_complete_before(struct dg_history *h, int64_t before, int64_t *out,
                                          struct dg_err *err);

/**
 * The changes between complete run @p prev and run @p run, streamed from the database in
 * domain order (memory in the number of changes, not of domains).
 * @param prev 0 when there is no previous complete run (no changes then)
 * @param out initialised here; dg_changes_cleanup() it
 */
enum dg_status dg_history_changes(struct dg_history *h, int64_t prev, int64_t run,
                                  struct dg_changes *out, struct dg_err *err);

/**
 * The fail list of the database (dg_history_fail_select() over its newest complete runs).
 * @param out initialised here; dg_fail_list_cleanup() it
 */
enum dg_status dg_history_fail_list(struct dg_history *h, unsigned min_runs,
                                    struct dg_fail_list *out, struct dg_err *err);

/** Free what @p l holds (not @p l). */
void dg_fail_list_cleanup(struct dg_fail_list *l);

/* ---- the shared work queue (PostgreSQL only; history_pg.c) ---------------------------- */

/** Most domains one dg_history_claim() hands out. */
#define DG_HISTORY_BATCH_MAX 1000

/** Domains claimed by one worker (dg_history_batch_cleanup()). */
struct dg_history_batch {
	int64_t run_id;  /**< the run they belong to */
	char **domains;  /**< owned */
	size_t n;
};

/**
 * true when @p target names a PostgreSQL database ("postgresql://..." or "postgres://..."),
 * which dg_history_open() then opens instead of an SQLite file.
 */
bool dg_history_target_is_pg(const char *target);

/**
 * Add @p domain to the work of run @p run_id (once: a second time is ignored). Batched
 * like dg_history_add() until dg_history_commit().
 * @return DG_OK, DG_E_CONFIG (not PostgreSQL), DG_E_IO
 */
enum dg_status dg_history_enqueue(struct dg_history *h, int64_t run_id, const char *domain,
                                  struct dg_err *err);

/**
 * Claim up to @p max domains without a result, of the oldest incomplete run, that no
 * other worker holds (FOR UPDATE SKIP LOCKED), for @p lease_s seconds; a claim whose lease
 * expired is taken over. Commits what is pending first.
 * @param worker a name for the claim (borrowed), @p max 1..DG_HISTORY_BATCH_MAX
 * @param out filled (n 0: nothing claimable now); dg_history_batch_cleanup() it
 * @return DG_OK, DG_E_CONFIG (not PostgreSQL), DG_E_IO
 */
enum dg_status dg_history_claim(struct dg_history *h, const char *worker, unsigned max,
                                unsigned lease_s, struct dg_history_batch *out,
                                struct dg_err *err);

/**
 * Whether some domain of an incomplete run still has no result (claimed or not); runs
 * whose every domain has its result are marked complete here, finished now.
 * @param left out
 * @param completed out: the id of a run completed by this call, 0 none
 */
enum dg_status dg_history_work_left(struct dg_history *h, bool *left, int64_t *completed,
                                    struct dg_err *err);

/** Free what @p b holds (not @p b). */
void dg_history_batch_cleanup(struct dg_history_batch *b);

#endif /* DANEGUARD_HISTORY_H */
