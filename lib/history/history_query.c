/*
 * history_query.c - the history's read side: changes between two runs, and the fail list.
 *
 * Internal (history_int.h): history_sqlite_changes, history_sqlite_fail_runs, history_sqlite_fail_obs (the SQLite
 * backend), history_list_keep.
 * Public: dg_fail_list_cleanup.
 *
 * Changes are streamed: two prepared statements walk the results of both runs in domain
 * order, side by side, and each pair goes through dg_history_diff_pair(); memory grows
 * with the changes, not with the domains. The fail list reads only the failing results of
 * the newest complete runs (DG_HISTORY_LOOKBACK at most) and hands them to
 * dg_history_fail_select().
 *
 * Ownership: struct dg_fail_list owns copies of the strings its entries point to.
 */
#include "history_int.h"

#include <daneguard/util.h>

#include <stdlib.h>
#include <string.h>

struct row_cursor {
	sqlite3_stmt *st;
	int rc;                    /* SQLITE_ROW while on a row */
	struct dg_history_row row; /* columns of the current row (borrowed from st) */
};

static const char rows_sql[] = "SELECT domain, verdict, codes, mx_set, tlsa_digests FROM results"
                               " WHERE run_id = ?1 ORDER BY domain";

static enum dg_status cursor_open(struct dg_history *h, int64_t run, struct row_cursor *c,
                                  struct dg_err *err);
static void cursor_step(struct row_cursor *c);

static enum dg_status cursor_open(struct dg_history *h, int64_t run, struct row_cursor *c,
                                  struct dg_err *err)
{
	enum dg_status st = history_prepare(h, rows_sql, &c->st, err);

	if (st != DG_OK)
		return st;
	sqlite3_bind_int64(c->st, 1, run);
	cursor_step(c);
	return DG_OK;
}

static void cursor_step(struct row_cursor *c)
{
	c->rc = sqlite3_step(c->st);
	if (c->rc != SQLITE_ROW)
		return;
	c->row.domain = (const char *)sqlite3_column_text(c->st, 0);
	c->row.verdict = (const char *)sqlite3_column_text(c->st, 1);
	c->row.codes = (const char *)sqlite3_column_text(c->st, 2);
	c->row.mx_set = (const char *)sqlite3_column_text(c->st, 3);
	c->row.tlsa_digests = (const char *)sqlite3_column_text(c->st, 4);
}

enum dg_status history_sqlite_changes(struct dg_history *h, int64_t prev, int64_t run,
                                      struct dg_changes *out, struct dg_err *err)
{
	struct row_cursor a = {0}, b = {0};
	enum dg_status st = DG_OK;

	memset(out, 0, sizeof(*out));
	out->prev_run = prev;
	out->run = run;
	if (prev <= 0)
		return DG_OK;
	if ((st = cursor_open(h, prev, &a, err)) != DG_OK ||
	    (st = cursor_open(h, run, &b, err)) != DG_OK)
		goto out;
	while (a.rc == SQLITE_ROW || b.rc == SQLITE_ROW) {
		int c = a.rc != SQLITE_ROW   ? 1
		        : b.rc != SQLITE_ROW ? -1
		                             : strcmp(a.row.domain, b.row.domain);

		dg_history_diff_pair(c <= 0 ? &a.row : NULL, c >= 0 ? &b.row : NULL, out);
		if (c <= 0)
			cursor_step(&a);
		if (c >= 0)
			cursor_step(&b);
	}
	if (a.rc != SQLITE_DONE || b.rc != SQLITE_DONE)
		st = history_fail(h, a.rc != SQLITE_DONE ? a.rc : b.rc, "reading results", err);
out:
	sqlite3_finalize(a.st);
	sqlite3_finalize(b.st);
	return st;
}

/* Keep a copy of @p s in @p l (shared with history_pg_query.c). */
char *history_list_keep(struct dg_fail_list *l, const char *s)
{
	l->strings = realloc(l->strings, (l->n_strings + 1) * sizeof(*l->strings));
	if (l->strings == NULL)
		DG_PANIC("out of memory (fail list)");
	l->strings[l->n_strings] = dg_xstrdup(s != NULL ? s : "");
	return l->strings[l->n_strings++];
}

/* The newest complete runs, newest first. */
enum dg_status history_sqlite_fail_runs(struct dg_history *h, struct dg_history_run *runs,
                                        size_t *n, struct dg_err *err)
{
	sqlite3_stmt *st = NULL;
	enum dg_status s = history_prepare(
	    h, "SELECT id, started FROM runs WHERE complete = 1 ORDER BY id DESC LIMIT ?1", &st,
	    err);
	int rc;

	if (s != DG_OK)
		return s;
	sqlite3_bind_int64(st, 1, DG_HISTORY_LOOKBACK);
	*n = 0;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW && *n < DG_HISTORY_LOOKBACK) {
		runs[*n].id = sqlite3_column_int64(st, 0);
		runs[*n].started = (time_t)sqlite3_column_int64(st, 1);
		(*n)++;
	}
	if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		s = history_fail(h, rc, "reading the runs", err);
	sqlite3_finalize(st);
	return s;
}

/* The failing results of the runs at or above the oldest of @p n_runs. */
enum dg_status history_sqlite_fail_obs(struct dg_history *h, size_t n_runs, struct dg_fail_list *l,
                                       struct dg_history_obs **obs, size_t *n_obs,
                                       struct dg_err *err)
{
	sqlite3_stmt *st = NULL;
	size_t cap = 0;
	int rc;
	enum dg_status s = history_prepare(
	    h,
	    "SELECT domain, run_id, verdict, codes FROM results WHERE verdict IN"
	    " ('dane-fail', 'dnssec-bogus') AND run_id IN (SELECT id FROM runs WHERE"
	    " complete = 1 ORDER BY id DESC LIMIT ?1) ORDER BY domain, run_id DESC",
	    &st, err);

	if (s != DG_OK)
		return s;
	sqlite3_bind_int64(st, 1, (int64_t)n_runs);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (*n_obs == cap) {
			cap = cap == 0 ? 64 : cap * 2;
			*obs = realloc(*obs, cap * sizeof(**obs));
			if (*obs == NULL)
				DG_PANIC("out of memory (fail list)");
		}
		(*obs)[*n_obs].domain =
		    history_list_keep(l, (const char *)sqlite3_column_text(st, 0));
		(*obs)[*n_obs].run_id = sqlite3_column_int64(st, 1);
		(*obs)[*n_obs].verdict =
		    history_list_keep(l, (const char *)sqlite3_column_text(st, 2));
		(*obs)[*n_obs].codes =
		    history_list_keep(l, (const char *)sqlite3_column_text(st, 3));
		(*n_obs)++;
	}
	if (rc != SQLITE_DONE)
		s = history_fail(h, rc, "reading results", err);
	sqlite3_finalize(st);
	return s;
}


void dg_fail_list_cleanup(struct dg_fail_list *l)
{
	for (size_t i = 0; i < l->n_strings; i++)
		free(l->strings[i]);
	free(l->strings);
	free(l->v);
	memset(l, 0, sizeof(*l));
}
