/*
 * history_pg.c - the PostgreSQL backend of the scan history (libpq): the same runs and
 * results tables as SQLite, plus the shared work queue of distributed workers.
 *
 * Internal (history_int.h): history_pg_open, history_pg_fail and the backend table
 * history_pg_ops (free, run_begin, run_reopen, add, commit, run_finish, complete_before,
 * enqueue, claim, work_left; changes and fail_list are in history_pg_query.c).
 *
 * The work table has a row per (run, domain): enqueued by "scan --enqueue", claimed in
 * batches with FOR UPDATE SKIP LOCKED and a lease (lease_until), marked done in the same
 * transaction that writes the domain's result (INSERT ... ON CONFLICT DO UPDATE: exactly
 * one result per domain even when a lease expired under a slow worker and another took
 * over). A run is marked complete by work_left() once every work row is done. The schema
 * is created under a transaction-scoped advisory lock so workers starting together do not
 * race. Waits are bounded: connect_timeout, statement_timeout and lock_timeout. Every
 * statement has bound parameters; no SQL is built from data. Errors name the database by
 * its URL without the password, with the first line of libpq's message.
 *
 * Ownership: struct dg_history owns the PGconn and the name.
 */
#include "history_int.h"

#include <daneguard/util.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { PG_NUM_LEN = 24 };

static const char pg_schema[] =
    "SELECT pg_advisory_xact_lock(7277);"
    "CREATE TABLE IF NOT EXISTS runs("
    " id BIGSERIAL PRIMARY KEY, started BIGINT NOT NULL, finished BIGINT,"
    " complete INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE IF NOT EXISTS results("
    " run_id BIGINT NOT NULL REFERENCES runs(id), domain TEXT NOT NULL,"
    " verdict TEXT NOT NULL, codes TEXT NOT NULL, mx_set TEXT NOT NULL,"
    " tlsa_digests TEXT NOT NULL, json TEXT NOT NULL, PRIMARY KEY(run_id, domain));"
    "CREATE INDEX IF NOT EXISTS results_fail ON results(verdict, run_id);"
    "CREATE TABLE IF NOT EXISTS work("
    " run_id BIGINT NOT NULL REFERENCES runs(id), domain TEXT NOT NULL,"
    " lease_until TIMESTAMPTZ, worker TEXT, done BOOLEAN NOT NULL DEFAULT false,"
    " PRIMARY KEY(run_id, domain));"
    "CREATE INDEX IF NOT EXISTS work_todo ON work(run_id) WHERE NOT done;";

static char *pg_name(const char *url);
static void pg_quiet(void *arg, const char *msg);
static enum dg_status pg_run(struct dg_history *h, const char *sql, int n, const char **params,
                             const char *what, PGresult **out, struct dg_err *err);
static enum dg_status pg_tx(struct dg_history *h, struct dg_err *err);
static void pg_free(struct dg_history *h);
static enum dg_status pg_run_begin(struct dg_history *h, time_t started, int64_t *run_id,
                                   struct dg_err *err);
static enum dg_status pg_run_reopen(struct dg_history *h, int64_t run_id, struct dg_err *err);
static enum dg_status pg_add(struct dg_history *h, int64_t run_id, const struct dg_history_row *row,
                             const char *json, struct dg_err *err);
static enum dg_status pg_commit(struct dg_history *h, struct dg_err *err);
static enum dg_status pg_run_finish(struct dg_history *h, int64_t run_id, time_t finished,
                                    struct dg_err *err);
static enum dg_status pg_complete_before(struct dg_history *h, int64_t before, int64_t *out,
                                         struct dg_err *err);
static enum dg_status pg_enqueue(struct dg_history *h, int64_t run_id, const char *domain,
                                 struct dg_err *err);
static enum dg_status pg_claim(struct dg_history *h, const char *worker, unsigned max,
                               unsigned lease_s, struct dg_history_batch *out, struct dg_err *err);
static enum dg_status pg_work_left(struct dg_history *h, bool *left, int64_t *completed,
                                   struct dg_err *err);

const struct history_ops history_pg_ops = {
    .name = "postgresql",
    .free = pg_free,
    .run_begin = pg_run_begin,
    .run_reopen = pg_run_reopen,
    .add = pg_add,
    .commit = pg_commit,
    .run_finish = pg_run_finish,
    .complete_before = pg_complete_before,
    .changes = history_pg_changes,
    .fail_runs = history_pg_fail_runs,
    .fail_obs = history_pg_fail_obs,
    .enqueue = pg_enqueue,
    .claim = pg_claim,
    .work_left = pg_work_left,
};

/* The URL without the password of its user info ("postgresql://u:pw@h/db" -> "u@h/db"). */
static char *pg_name(const char *url)
{
	char *s = dg_xstrdup(url);
	char *auth = strstr(s, "://");
	char *end, *at, *colon;

	if (auth == NULL)
		return s;
	auth += 3;
	end = auth + strcspn(auth, "/?");
	at = memchr(auth, '@', (size_t)(end - auth));
	colon = at != NULL ? memchr(auth, ':', (size_t)(at - auth)) : NULL;
	if (colon != NULL)
		memmove(colon, at, strlen(at) + 1);
	return s;
}

enum dg_status history_pg_fail(struct dg_history *h, const char *what, struct dg_err *err)
{
	const char *msg = h->pg != NULL ? PQerrorMessage(h->pg) : "out of memory";
	size_t len = strcspn(msg, "\n");

	if (len == 0)
		msg = "connection lost", len = strlen(msg);
	return dg_err_set(err, DG_E_IO, "database %s: %.*s%s%s", h->path, (int)len, msg,
	                  what != NULL ? " while " : "", what != NULL ? what : "");
}

/* Server notices (a shutdown WARNING, NOTICEs) are not ours to print: errors say it all. */
static void pg_quiet(void *arg, const char *msg)
{
	(void)arg;
	(void)msg;
}

/* Run @p sql with text parameters; keep the result in @p out (NULL: cleared). */
static enum dg_status pg_run(struct dg_history *h, const char *sql, int n, const char **params,
                             const char *what, PGresult **out, struct dg_err *err)
{
	PGresult *res = PQexecParams(h->pg, sql, n, NULL, params, NULL, NULL, 0);
	ExecStatusType rs = PQresultStatus(res);

	if (out != NULL)
		*out = NULL;
	if (rs != PGRES_COMMAND_OK && rs != PGRES_TUPLES_OK) {
		enum dg_status st = history_pg_fail(h, what, err);

		PQclear(res);
		if (h->in_tx && PQstatus(h->pg) == CONNECTION_OK)
			PQclear(PQexec(h->pg, "ROLLBACK"));
		h->in_tx = false;
		return st;
	}
	if (out != NULL)
		*out = res;
	else
		PQclear(res);
	return DG_OK;
}

enum dg_status history_pg_open(const char *url, bool create, struct dg_history **out,
                               struct dg_err *err)
{
	static const char *const keys[] = {"dbname", "connect_timeout", "options", NULL};
	const char *vals[] = {url, "10",
	                      "-c statement_timeout=30000 -c lock_timeout=10000"
	                      " -c client_min_messages=warning",
	                      NULL};
	struct dg_history *h = dg_xcalloc(1, sizeof(*h));
	enum dg_status st = DG_OK;
	PGresult *res;

	*out = NULL;
	h->ops = &history_pg_ops;
	h->path = pg_name(url);
	h->pg = PQconnectdbParams(keys, vals, 1);
	if (h->pg == NULL || PQstatus(h->pg) != CONNECTION_OK) {
		st = history_pg_fail(h, NULL, err);
		goto fail;
	}
	PQsetNoticeProcessor(h->pg, pg_quiet, NULL);
	if (create) {
		res = PQexec(h->pg, pg_schema); /* one implicit transaction: the lock holds */
		if (PQresultStatus(res) != PGRES_COMMAND_OK &&
		    PQresultStatus(res) != PGRES_TUPLES_OK)
			st = history_pg_fail(h, "creating the tables", err);
		PQclear(res);
		if (st != DG_OK)
			goto fail;
	}
	*out = h;
	return DG_OK;
fail:
	pg_free(h);
	return st;
}

static void pg_free(struct dg_history *h)
{
	if (h->in_tx && PQstatus(h->pg) == CONNECTION_OK)
		(void)pg_commit(h, NULL);
	PQfinish(h->pg);
	free(h->path);
	free(h);
}

static enum dg_status pg_tx(struct dg_history *h, struct dg_err *err)
{
	enum dg_status st;

	if (h->in_tx)
		return DG_OK;
	st = pg_run(h, "BEGIN", 0, NULL, "starting a batch", NULL, err);
	h->in_tx = st == DG_OK;
	return st;
}

static enum dg_status pg_commit(struct dg_history *h, struct dg_err *err)
{
	if (!h->in_tx)
		return DG_OK;
	h->in_tx = false;
	return pg_run(h, "COMMIT", 0, NULL, "committing results", NULL, err);
}

static enum dg_status pg_run_begin(struct dg_history *h, time_t started, int64_t *run_id,
                                   struct dg_err *err)
{
	char num[PG_NUM_LEN];
	const char *p[] = {num};
	PGresult *res;
	enum dg_status st = pg_commit(h, err);

	snprintf(num, sizeof(num), "%" PRId64, (int64_t)started);
	if (st == DG_OK)
		st = pg_run(h, "INSERT INTO runs(started) VALUES($1) RETURNING id", 1, p,
		            "recording the run", &res, err);
	if (st != DG_OK)
		return st;
	*run_id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	return DG_OK;
}

static enum dg_status pg_run_reopen(struct dg_history *h, int64_t run_id, struct dg_err *err)
{
	char num[PG_NUM_LEN];
	const char *p[] = {num};
	PGresult *res;
	enum dg_status st;

	snprintf(num, sizeof(num), "%" PRId64, run_id);
	st = pg_run(h, "UPDATE runs SET finished = NULL WHERE id = $1 AND complete = 0", 1, p,
	            "reopening the run", &res, err);
	if (st != DG_OK)
		return st;
	if (strcmp(PQcmdTuples(res), "0") == 0)
		st = dg_err_set(err, DG_E_NOTFOUND, "database %s: no incomplete run %" PRId64,
		                h->path, run_id);
	PQclear(res);
	return st;
}

static enum dg_status pg_add(struct dg_history *h, int64_t run_id, const struct dg_history_row *row,
                             const char *json, struct dg_err *err)
{
	char num[PG_NUM_LEN];
	const char *p[] = {num,         row->domain,       row->verdict, row->codes,
	                   row->mx_set, row->tlsa_digests, json};
	enum dg_status st = pg_tx(h, err);

	snprintf(num, sizeof(num), "%" PRId64, run_id);
	for (size_t i = 1; i < sizeof(p) / sizeof(p[0]); i++)
		p[i] = p[i] != NULL ? p[i] : "";
	if (st == DG_OK)
		st = pg_run(
		    h,
		    "INSERT INTO results(run_id, domain, verdict, codes, mx_set, tlsa_digests,"
		    " json) VALUES($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (run_id, domain) DO"
		    " UPDATE SET verdict = $3, codes = $4, mx_set = $5, tlsa_digests = $6,"
		    " json = $7",
		    7, p, "recording a result", NULL, err);
	if (st == DG_OK)
		st = pg_run(h,
		            "UPDATE work SET done = true, lease_until = NULL"
		            " WHERE run_id = $1 AND domain = $2",
		            2, p, "recording a result", NULL, err);
	return st;
}

static enum dg_status pg_run_finish(struct dg_history *h, int64_t run_id, time_t finished,
                                    struct dg_err *err)
{
	char a[PG_NUM_LEN], b[PG_NUM_LEN];
	const char *p[] = {a, b};
	enum dg_status st = pg_commit(h, err);

	snprintf(a, sizeof(a), "%" PRId64, run_id);
	snprintf(b, sizeof(b), "%" PRId64, (int64_t)finished);
	if (st == DG_OK)
		st = pg_run(h, "UPDATE runs SET complete = 1, finished = $2 WHERE id = $1", 2, p,
		            "completing the run", NULL, err);
	return st;
}

static enum dg_status pg_complete_before(struct dg_history *h, int64_t before, int64_t *out,
                                         struct dg_err *err)
{
	char num[PG_NUM_LEN];
	const char *p[] = {num};
	PGresult *res;
	enum dg_status st;

	snprintf(num, sizeof(num), "%" PRId64, before);
	st =
	    pg_run(h, "SELECT id FROM runs WHERE complete = 1 AND id < $1 ORDER BY id DESC LIMIT 1",
	           1, p, "reading the runs", &res, err);
	if (st != DG_OK)
		return st;
	if (PQntuples(res) == 1)
		*out = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	else
		st = dg_err_set(err, DG_E_NOTFOUND, "database %s: no complete run", h->path);
	PQclear(res);
	return st;
}

static enum dg_status pg_enqueue(struct dg_history *h, int64_t run_id, const char *domain,
                                 struct dg_err *err)
{
	char num[PG_NUM_LEN];
	const char *p[] = {num, domain};
	enum dg_status st = pg_tx(h, err);

	snprintf(num, sizeof(num), "%" PRId64, run_id);
	if (st == DG_OK)
		st = pg_run(
		    h, "INSERT INTO work(run_id, domain) VALUES($1, $2) ON CONFLICT DO NOTHING", 2,
		    p, "queueing a domain", NULL, err);
	return st;
}

/* Claimable: not done, lease free or expired, of the oldest run with such rows. */
static enum dg_status pg_claim(struct dg_history *h, const char *worker, unsigned max,
                               unsigned lease_s, struct dg_history_batch *out, struct dg_err *err)
{
	char a[PG_NUM_LEN], b[PG_NUM_LEN];
	const char *p[] = {a, b, worker};
	PGresult *res;
	enum dg_status st = pg_commit(h, err);
	int n;

	snprintf(a, sizeof(a), "%u", max);
	snprintf(b, sizeof(b), "%u", lease_s);
	if (st == DG_OK)
		st = pg_run(
		    h,
		    "WITH c AS (SELECT run_id, domain FROM work WHERE NOT done AND"
		    " (lease_until IS NULL OR lease_until < now()) AND run_id = (SELECT"
		    " min(run_id) FROM work WHERE NOT done AND (lease_until IS NULL OR"
		    " lease_until < now())) ORDER BY domain LIMIT $1 FOR UPDATE SKIP LOCKED)"
		    " UPDATE work w SET lease_until = now() + make_interval(secs => $2::int),"
		    " worker = $3 FROM c WHERE w.run_id = c.run_id AND w.domain = c.domain"
		    " RETURNING w.run_id, w.domain",
		    3, p, "claiming domains", &res, err);
	if (st != DG_OK)
		return st;
	n = PQntuples(res);
	out->domains = dg_xcalloc((size_t)n + 1, sizeof(*out->domains));
	for (int i = 0; i < n && i < (int)max; i++) {
		out->run_id = strtoll(PQgetvalue(res, i, 0), NULL, 10);
		out->domains[out->n++] = dg_xstrdup(PQgetvalue(res, i, 1));
	}
	PQclear(res);
	return DG_OK;
}

static enum dg_status pg_work_left(struct dg_history *h, bool *left, int64_t *completed,
                                   struct dg_err *err)
{
	char num[PG_NUM_LEN];
	const char *p[] = {num};
	PGresult *res;
	enum dg_status st = pg_commit(h, err);

	snprintf(num, sizeof(num), "%" PRId64, (int64_t)dg_clock_wall());
	if (st == DG_OK)
		st = pg_run(
		    h,
		    "UPDATE runs r SET complete = 1, finished = $1 WHERE complete = 0 AND"
		    " EXISTS (SELECT 1 FROM work w WHERE w.run_id = r.id) AND NOT EXISTS"
		    " (SELECT 1 FROM work w WHERE w.run_id = r.id AND NOT w.done) RETURNING id",
		    1, p, "completing runs", &res, err);
	if (st != DG_OK)
		return st;
	if (PQntuples(res) > 0)
		*completed = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	st = pg_run(h,
	            "SELECT EXISTS (SELECT 1 FROM work w JOIN runs r ON r.id = w.run_id"
	            " WHERE NOT w.done AND r.complete = 0)",
	            0, NULL, "reading the work", &res, err);
	if (st != DG_OK)
		return st;
	*left = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
	PQclear(res);
	return DG_OK;
}
