/*
 * history_pg_query.c - the read side of the PostgreSQL history: changes between two runs
 * and the fail list, with the same decisions as SQLite (history_diff.c).
 *
 * Internal (history_int.h): history_pg_changes, history_pg_fail_runs, history_pg_fail_obs.
 *
 * Changes: one FULL OUTER JOIN of both runs' results on the domain, ordered by the domain
 * in byte order (COLLATE "C", as strcmp), read in libpq's single-row mode, so memory grows
 * with the changes, not with the domains; each pair goes through dg_history_diff_pair().
 * Fail list: the newest complete runs (DG_HISTORY_LOOKBACK at most) and their failing
 * results, handed to dg_history_fail_select().
 *
 * Ownership: struct dg_fail_list owns copies of the strings its entries point to.
 */
#include "history_int.h"

#include <daneguard/util.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { PGQ_NUM_LEN = 24 };

static void pair_rows(PGresult *res, struct dg_history_row *a, struct dg_history_row *b);

/* Columns 0-4: the previous run's row, 5-9: this run's; NULL domain means absent. */
static void pair_rows(PGresult *res, struct dg_history_row *a, struct dg_history_row *b)
{
	struct dg_history_row *rows[2] = {a, b};

	for (int r = 0; r < 2; r++) {
		rows[r]->domain = PQgetvalue(res, 0, r * 5);
		rows[r]->verdict = PQgetvalue(res, 0, r * 5 + 1);
		rows[r]->codes = PQgetvalue(res, 0, r * 5 + 2);
		rows[r]->mx_set = PQgetvalue(res, 0, r * 5 + 3);
		rows[r]->tlsa_digests = PQgetvalue(res, 0, r * 5 + 4);
	}
}

enum dg_status history_pg_changes(struct dg_history *h, int64_t prev, int64_t run,
                                  struct dg_changes *out, struct dg_err *err)
{
	char a[PGQ_NUM_LEN], b[PGQ_NUM_LEN];
	const char *p[] = {a, b};
	enum dg_status st = DG_OK;
	PGresult *res;

	memset(out, 0, sizeof(*out));
	out->prev_run = prev;
	out->run = run;
	if (prev <= 0)
		return DG_OK;
	snprintf(a, sizeof(a), "%" PRId64, prev);
	snprintf(b, sizeof(b), "%" PRId64, run);
	if (!PQsendQueryParams(h->pg,
	                       "SELECT a.domain, a.verdict, a.codes, a.mx_set, a.tlsa_digests,"
	                       " b.domain, b.verdict, b.codes, b.mx_set, b.tlsa_digests FROM"
	                       " (SELECT * FROM results WHERE run_id = $1) a FULL OUTER JOIN"
	                       " (SELECT * FROM results WHERE run_id = $2) b ON a.domain = b.domain"
	                       " ORDER BY COALESCE(a.domain, b.domain) COLLATE \"C\"",
	                       2, NULL, p, NULL, NULL, 0) ||
	    !PQsetSingleRowMode(h->pg))
		return history_pg_fail(h, "reading results", err);
	while ((res = PQgetResult(h->pg)) != NULL) {
		ExecStatusType rs = PQresultStatus(res);

		if (rs == PGRES_SINGLE_TUPLE) {
			struct dg_history_row ra, rb;

			pair_rows(res, &ra, &rb);
			dg_history_diff_pair(PQgetisnull(res, 0, 0) ? NULL : &ra,
			                     PQgetisnull(res, 0, 5) ? NULL : &rb, out);
		} else if (rs != PGRES_TUPLES_OK && st == DG_OK) {
			st = history_pg_fail(h, "reading results", err);
		}
		PQclear(res);
	}
	return st;
}

/* The newest complete runs, newest first. */
enum dg_status history_pg_fail_runs(struct dg_history *h, struct dg_history_run *runs, size_t *n,
                                   struct dg_err *err)
{
	char num[PGQ_NUM_LEN];
	const char *p[] = {num};
	PGresult *res;

	snprintf(num, sizeof(num), "%d", DG_HISTORY_LOOKBACK);
	res = PQexecParams(
	    h->pg, "SELECT id, started FROM runs WHERE complete = 1 ORDER BY id DESC LIMIT $1", 1,
	    NULL, p, NULL, NULL, 0);
	*n = 0;
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		PQclear(res);
		return history_pg_fail(h, "reading the runs", err);
	}
	for (int i = 0; i < PQntuples(res) && *n < DG_HISTORY_LOOKBACK; i++) {
		runs[*n].id = strtoll(PQgetvalue(res, i, 0), NULL, 10);
		runs[*n].started = (time_t)strtoll(PQgetvalue(res, i, 1), NULL, 10);
		(*n)++;
	}
	PQclear(res);
	return DG_OK;
}

/* The failing results of the newest @p n_runs complete runs. */
enum dg_status history_pg_fail_obs(struct dg_history *h, size_t n_runs, struct dg_fail_list *l,
                                  struct dg_history_obs **obs, size_t *n_obs, struct dg_err *err)
{
	char num[PGQ_NUM_LEN];
	const char *p[] = {num};
	PGresult *res;
	int n;

	snprintf(num, sizeof(num), "%zu", n_runs);
	res = PQexecParams(h->pg,
	                   "SELECT domain, run_id, verdict, codes FROM results WHERE verdict IN"
	                   " ('dane-fail', 'dnssec-bogus') AND run_id IN (SELECT id FROM runs WHERE"
	                   " complete = 1 ORDER BY id DESC LIMIT $1)"
	                   " ORDER BY domain COLLATE \"C\", run_id DESC",
	                   1, NULL, p, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		PQclear(res);
		return history_pg_fail(h, "reading results", err);
	}
	n = PQntuples(res);
	*obs = dg_xcalloc((size_t)n + 1, sizeof(**obs));
	for (int i = 0; i < n; i++) {
		(*obs)[i].domain = history_list_keep(l, PQgetvalue(res, i, 0));
		(*obs)[i].run_id = strtoll(PQgetvalue(res, i, 1), NULL, 10);
		(*obs)[i].verdict = history_list_keep(l, PQgetvalue(res, i, 2));
		(*obs)[i].codes = history_list_keep(l, PQgetvalue(res, i, 3));
	}
	*n_obs = (size_t)n;
	PQclear(res);
	return DG_OK;
}

