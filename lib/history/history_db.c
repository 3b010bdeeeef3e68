/*
 * history_db.c - the SQLite backend of the scan history: open, schema, runs and results.
 *
 * Internal (history_int.h): history_sqlite_open and the backend table history_sqlite_ops (free,
 * run_begin, run_reopen, add, commit, run_finish, complete_before; changes and fail_list
 * are in history_query.c), history_fail (error mapping), history_prepare. The public
 * dg_history_* functions dispatch to it from history_api.c.
 *
 * SQLite in WAL mode with synchronous=FULL: a committed batch survives a crash, and a
 * report can read while a scan writes. Lock waits are bounded by a busy timeout
 * (HISTORY_BUSY_MS). Every statement is prepared with bound parameters. Results are
 * written in one transaction per batch (dg_history_commit), so a killed scan loses at most
 * one batch, which --resume checks again (INSERT OR REPLACE keeps one row per domain).
 * Errors name the file: "database /x/y.db: locked".
 *
 * Ownership: struct dg_history owns the connection, its prepared statement and the path.
 */
#include "history_int.h"

#include <daneguard/util.h>

#include <stdlib.h>
#include <string.h>

enum { HISTORY_BUSY_MS = 5000 };

const struct history_ops history_sqlite_ops = {
    .name = "sqlite",
    .free = history_sqlite_free,
    .run_begin = history_sqlite_run_begin,
    .run_reopen = history_sqlite_run_reopen,
    .add = history_sqlite_add,
    .commit = history_sqlite_commit,
    .run_finish = history_sqlite_run_finish,
    .complete_before = history_sqlite_complete_before,
    .changes = history_sqlite_changes,
    .fail_runs = history_sqlite_fail_runs,
    .fail_obs = history_sqlite_fail_obs,
};

static const char history_schema[] =
    "PRAGMA journal_mode=WAL;"
    "PRAGMA synchronous=FULL;"
    "CREATE TABLE IF NOT EXISTS runs("
    " id INTEGER PRIMARY KEY, started INTEGER NOT NULL, finished INTEGER,"
    " complete INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE IF NOT EXISTS results("
    " run_id INTEGER NOT NULL REFERENCES runs(id), domain TEXT NOT NULL,"
    " verdict TEXT NOT NULL, codes TEXT NOT NULL, mx_set TEXT NOT NULL,"
    " tlsa_digests TEXT NOT NULL, json TEXT NOT NULL, PRIMARY KEY(run_id, domain));"
    "CREATE INDEX IF NOT EXISTS results_fail ON results(verdict, run_id);";

static enum dg_status exec_simple(struct dg_history *h, const char *sql, const char *what,
                                  struct dg_err *err);
static enum dg_status run_update(struct dg_history *h, const char *sql, int64_t a, int64_t b,
                                 const char *what, struct dg_err *err);

enum dg_status history_fail(struct dg_history *h, int rc, const char *what, struct dg_err *err)
{
	int base = rc & 0xff;
	const char *why = base == SQLITE_BUSY || base == SQLITE_LOCKED ? "locked"
	                  : h->db != NULL                              ? sqlite3_errmsg(h->db)
	                                                               : sqlite3_errstr(rc);

	return dg_err_set(err, DG_E_IO, "database %s: %s%s%s", h->path, why,
	                  what != NULL ? " while " : "", what != NULL ? what : "");
}

enum dg_status history_prepare(struct dg_history *h, const char *sql, sqlite3_stmt **st,
                               struct dg_err *err)
{
	int rc = sqlite3_prepare_v2(h->db, sql, -1, st, NULL);

	return rc == SQLITE_OK ? DG_OK : history_fail(h, rc, "preparing a query", err);
}

enum dg_status history_sqlite_open(const char *path, bool create, struct dg_history **out,
                                   struct dg_err *err)
{
	struct dg_history *h = dg_xcalloc(1, sizeof(*h));
	int flags = SQLITE_OPEN_READWRITE | (create ? SQLITE_OPEN_CREATE : 0);
	int rc;
	enum dg_status st;

	*out = NULL;
	h->ops = &history_sqlite_ops;
	h->path = dg_xstrdup(path);
	rc = sqlite3_open_v2(path, &h->db, flags | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		st = history_fail(h, rc, NULL, err);
		goto fail;
	}
	sqlite3_busy_timeout(h->db, HISTORY_BUSY_MS);
	st = exec_simple(h, history_schema, "creating the tables", err);
	if (st != DG_OK)
		goto fail;
	st = history_prepare(h,
	                     "INSERT OR REPLACE INTO results(run_id, domain, verdict, codes,"
	                     " mx_set, tlsa_digests, json) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)",
	                     &h->add_stmt, err);
	if (st != DG_OK)
		goto fail;
	*out = h;
	return DG_OK;
fail:
	history_sqlite_free(h);
	return st;
}

void history_sqlite_free(struct dg_history *h)
{
	if (h == NULL)
		return;
	if (h->in_tx)
		(void)history_sqlite_commit(h, NULL);
	sqlite3_finalize(h->add_stmt);
	sqlite3_close(h->db);
	free(h->path);
	free(h);
}

static enum dg_status exec_simple(struct dg_history *h, const char *sql, const char *what,
                                  struct dg_err *err)
{
	int rc = sqlite3_exec(h->db, sql, NULL, NULL, NULL);

	return rc == SQLITE_OK ? DG_OK : history_fail(h, rc, what, err);
}

/* Run an UPDATE/INSERT with up to two integer parameters; DG_E_NOTFOUND if no row. */
static enum dg_status run_update(struct dg_history *h, const char *sql, int64_t a, int64_t b,
                                 const char *what, struct dg_err *err)
{
	sqlite3_stmt *st = NULL;
	enum dg_status s = history_prepare(h, sql, &st, err);
	int rc;

	if (s != DG_OK)
		return s;
	sqlite3_bind_int64(st, 1, a);
	if (sqlite3_bind_parameter_count(st) >= 2)
		sqlite3_bind_int64(st, 2, b);
	rc = sqlite3_step(st);
	if (rc != SQLITE_DONE)
		s = history_fail(h, rc, what, err);
	else if (sqlite3_changes(h->db) == 0)
		s = dg_err_set(err, DG_E_NOTFOUND, "database %s: no incomplete run %lld", h->path,
		               (long long)a);
	sqlite3_finalize(st);
	return s;
}

enum dg_status history_sqlite_run_begin(struct dg_history *h, time_t started, int64_t *run_id,
                                        struct dg_err *err)
{
	enum dg_status st = history_sqlite_commit(h, err);

	if (st == DG_OK)
		st = run_update(h, "INSERT INTO runs(started, complete) VALUES(?1, 0)",
		                (int64_t)started, 0, "recording the run", err);
	if (st == DG_OK)
		*run_id = sqlite3_last_insert_rowid(h->db);
	return st;
}

enum dg_status history_sqlite_run_reopen(struct dg_history *h, int64_t run_id, struct dg_err *err)
{
	return run_update(h, "UPDATE runs SET finished = NULL WHERE id = ?1 AND complete = 0",
	                  run_id, 0, "reopening the run", err);
}

enum dg_status history_sqlite_add(struct dg_history *h, int64_t run_id,
                                  const struct dg_history_row *row, const char *json,
                                  struct dg_err *err)
{
	const char *text[] = {row->domain, row->verdict,      row->codes,
	                      row->mx_set, row->tlsa_digests, json};
	sqlite3_stmt *st = h->add_stmt;
	int rc;

	if (!h->in_tx) {
		enum dg_status s = exec_simple(h, "BEGIN IMMEDIATE", "starting a batch", err);

		if (s != DG_OK)
			return s;
		h->in_tx = true;
	}
	sqlite3_reset(st);
	sqlite3_bind_int64(st, 1, run_id);
	for (int i = 0; i < 6; i++)
		sqlite3_bind_text(st, i + 2, text[i] != NULL ? text[i] : "", -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rc == SQLITE_DONE ? DG_OK : history_fail(h, rc, "recording a result", err);
}

enum dg_status history_sqlite_commit(struct dg_history *h, struct dg_err *err)
{
	if (!h->in_tx)
		return DG_OK;
	h->in_tx = false;
	return exec_simple(h, "COMMIT", "committing results", err);
}

enum dg_status history_sqlite_run_finish(struct dg_history *h, int64_t run_id, time_t finished,
                                         struct dg_err *err)
{
	enum dg_status st = history_sqlite_commit(h, err);

	if (st != DG_OK)
		return st;
	return run_update(h, "UPDATE runs SET complete = 1, finished = ?2 WHERE id = ?1", run_id,
	                  (int64_t)finished, "completing the run", err);
}

enum dg_status history_sqlite_complete_before(struct dg_history *h, int64_t before, int64_t *out,
                                              struct dg_err *err)
{
	sqlite3_stmt *st = NULL;
	enum dg_status s = history_prepare(
	    h, "SELECT id FROM runs WHERE complete = 1 AND id < ?1 ORDER BY id DESC LIMIT 1", &st,
	    err);
	int rc;

	if (s != DG_OK)
		return s;
	sqlite3_bind_int64(st, 1, before);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*out = sqlite3_column_int64(st, 0);
	else if (rc == SQLITE_DONE)
		s = dg_err_set(err, DG_E_NOTFOUND, "database %s: no complete run", h->path);
	else
		s = history_fail(h, rc, "reading the runs", err);
	sqlite3_finalize(st);
	return s;
}
