/*
 * cmd_report_html.c - "daneguard report html --db FILE -o OUT.html": read a scan history
 * and hand it to dg_report_html() (lib/report/report_html.c).
 *
 * Public (cmd.h): cmd_report_html.
 *
 * Reads, with the database opened read-only: the newest HTML_RUNS runs and their verdict
 * counts, every result (domain, verdict, codes, MX set, and the reasons from the stored
 * report JSON) of the newest complete run (the newest run if none is complete), and the
 * fail list (dg_history_fail_list). The read-only queries follow the schema of
 * docs/internals/history.md; they belong in lib/history as a "run summary" call once that
 * module has one. The page is written to OUT.tmp and renamed, so OUT is never half
 * written.
 *
 * Ownership: strings of the results live in one arena freed before returning.
 */
#include "cmd.h"

#include <daneguard/history.h>
#include <daneguard/report.h>
#include <daneguard/util.h>

#include <errno.h>
#include <jansson.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { HTML_RUNS = 30, HTML_MAX_DOMAINS = 500000, HTML_REASONS_MAX = 2048,
       HTML_BUSY_MS = 5000 };

/** What the page shows, with the storage behind it. */
struct html_data {
	struct dg_html_run runs[HTML_RUNS];
	struct dg_html_domain *domains;
	size_t n_domains, cap;
	struct dg_html_fail *fails;
	struct dg_fail_list fail_list;
	struct dg_arena arena;
	struct dg_html_report rep;
};

static int read_runs(sqlite3 *db, struct html_data *d);
static int read_counts(sqlite3 *db, struct dg_html_run *run);
static int read_domains(sqlite3 *db, int64_t run_id, struct html_data *d);
static const char *col(struct html_data *d, sqlite3_stmt *st, int i);
static const char *reasons_of(struct html_data *d, const char *json);
static void append_reasons(char *buf, size_t size, const char *prefix, json_t *arr);
static int read_fails(const char *path, struct html_data *d);
static int write_page(const char *out_path, const struct dg_html_report *rep);
static int db_error(sqlite3 *db, const char *path, const char *what);

int cmd_report_html(const char *db_path, const char *out_path)
{
	struct html_data d;
	sqlite3 *db = NULL;
	int rc;

	memset(&d, 0, sizeof(d));
	dg_arena_init(&d.arena, 65536);
	if (sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
		rc = db_error(db, db_path, "cannot open");
		goto out;
	}
	sqlite3_busy_timeout(db, HTML_BUSY_MS);
	rc = read_runs(db, &d);
	if (rc == CMD_CONTINUE && d.rep.domains_run > 0)
		rc = read_domains(db, d.rep.domains_run, &d);
	if (rc == CMD_CONTINUE)
		rc = read_fails(db_path, &d);
	if (rc != CMD_CONTINUE)
		goto out;
	d.rep.db_name = db_path;
	d.rep.generated = time(NULL);
	d.rep.runs = d.runs;
	d.rep.domains = d.domains;
	d.rep.n_domains = d.n_domains;
	rc = write_page(out_path, &d.rep);
out:
	sqlite3_close(db);
	dg_fail_list_cleanup(&d.fail_list);
	free(d.fails);
	free(d.domains);
	dg_arena_cleanup(&d.arena);
	return rc;
}

static int db_error(sqlite3 *db, const char *path, const char *what)
{
	fprintf(stderr, "daneguard: database %s: %s: %s\n", path, what,
		db != NULL ? sqlite3_errmsg(db) : "out of memory");
	return CMD_EXIT_IOERR;
}

/* The newest HTML_RUNS runs, oldest first; the run of the domain table. */
static int read_runs(sqlite3 *db, struct html_data *d)
{
	sqlite3_stmt *st = NULL;
	struct dg_html_run tmp[HTML_RUNS];
	size_t n = 0;
	int rc = CMD_CONTINUE;

	if (sqlite3_prepare_v2(db, "SELECT id, started, complete FROM runs ORDER BY id DESC "
			       "LIMIT ?1", -1, &st, NULL) != SQLITE_OK)
		return db_error(db, sqlite3_db_filename(db, "main"), "reading runs");
	sqlite3_bind_int(st, 1, HTML_RUNS);
	while (n < HTML_RUNS && sqlite3_step(st) == SQLITE_ROW) {
		memset(&tmp[n], 0, sizeof(tmp[n]));
		tmp[n].id = sqlite3_column_int64(st, 0);
		tmp[n].started = (time_t)sqlite3_column_int64(st, 1);
		tmp[n].complete = sqlite3_column_int(st, 2) != 0;
		if (d->rep.domains_run == 0 && tmp[n].complete)
			d->rep.domains_run = tmp[n].id;
		n++;
	}
	sqlite3_finalize(st);
	if (d->rep.domains_run == 0 && n > 0)
		d->rep.domains_run = tmp[0].id; /* no complete run: the newest one */
	for (size_t i = 0; i < n && rc == CMD_CONTINUE; i++) {
		d->runs[i] = tmp[n - 1 - i];
		rc = read_counts(db, &d->runs[i]);
	}
	d->rep.n_runs = n;
	return rc;
}

static int read_counts(sqlite3 *db, struct dg_html_run *run)
{
	sqlite3_stmt *st = NULL;

	if (sqlite3_prepare_v2(db, "SELECT verdict, COUNT(*) FROM results WHERE run_id = ?1 "
			       "GROUP BY verdict", -1, &st, NULL) != SQLITE_OK)
		return db_error(db, sqlite3_db_filename(db, "main"), "counting verdicts");
	sqlite3_bind_int64(st, 1, run->id);
	for (size_t guard = 0; guard < 1000 && sqlite3_step(st) == SQLITE_ROW; guard++) {
		const char *v = (const char *)sqlite3_column_text(st, 0);

		run->count[dg_report_html_verdict_index(v)] += (size_t)sqlite3_column_int64(st, 1);
	}
	sqlite3_finalize(st);
	return CMD_CONTINUE;
}

static const char *col(struct html_data *d, sqlite3_stmt *st, int i)
{
	const char *s = (const char *)sqlite3_column_text(st, i);

	return dg_arena_strdup(&d->arena, s != NULL ? s : "");
}

static int read_domains(sqlite3 *db, int64_t run_id, struct html_data *d)
{
	sqlite3_stmt *st = NULL;

	if (sqlite3_prepare_v2(db, "SELECT domain, verdict, codes, mx_set, json FROM results "
			       "WHERE run_id = ?1 ORDER BY domain LIMIT ?2", -1, &st,
			       NULL) != SQLITE_OK)
		return db_error(db, sqlite3_db_filename(db, "main"), "reading results");
	sqlite3_bind_int64(st, 1, run_id);
	sqlite3_bind_int(st, 2, HTML_MAX_DOMAINS);
	while (d->n_domains < HTML_MAX_DOMAINS && sqlite3_step(st) == SQLITE_ROW) {
		struct dg_html_domain *x;

		if (d->n_domains == d->cap) {
			d->cap = d->cap ? d->cap * 2 : 256;
			d->domains = dg_xrealloc(d->domains, d->cap * sizeof(*d->domains));
		}
		x = &d->domains[d->n_domains++];
		x->domain = col(d, st, 0);
		x->verdict = col(d, st, 1);
		x->codes = col(d, st, 2);
		x->mx_set = col(d, st, 3);
		x->reasons = reasons_of(d, (const char *)sqlite3_column_text(st, 4));
	}
	sqlite3_finalize(st);
	return CMD_CONTINUE;
}

/* The domain's reasons, then each host's (which name their host), from the stored report. */
static const char *reasons_of(struct html_data *d, const char *json)
{
	char buf[HTML_REASONS_MAX] = "";
	json_t *doc = json != NULL ? json_loads(json, 0, NULL) : NULL;
	json_t *hosts = json_object_get(doc, "hosts");
	size_t i;
	json_t *h;

	append_reasons(buf, sizeof(buf), NULL, json_object_get(doc, "reasons"));
	json_array_foreach(hosts, i, h)
	{
		if (i >= 64)
			break;
		append_reasons(buf, sizeof(buf), NULL, json_object_get(h, "reasons"));
	}
	json_decref(doc);
	return dg_arena_strdup(&d->arena, buf);
}

/* Append the strings of @p arr to @p buf, " | "-separated, each after "prefix: " if any. */
static void append_reasons(char *buf, size_t size, const char *prefix, json_t *arr)
{
	size_t i;
	json_t *r;

	json_array_foreach(arr, i, r)
	{
		size_t len = strlen(buf);

		if (i >= DG_MAX_REASONS || len + 1 >= size || !json_is_string(r))
			break;
		snprintf(buf + len, size - len, "%s%s%s%s", len > 0 ? " | " : "",
			 prefix != NULL ? prefix : "", prefix != NULL ? ": " : "",
			 json_string_value(r));
	}
}

static int read_fails(const char *path, struct html_data *d)
{
	struct dg_history *h = NULL;
	struct dg_err err = {0};
	enum dg_status st = dg_history_open(path, false, &h, &err);

	if (st == DG_OK)
		st = dg_history_fail_list(h, DG_HISTORY_FAIL_RUNS, &d->fail_list, &err);
	dg_history_free(h);
	if (st != DG_OK) {
		fprintf(stderr, "daneguard: %s\n", err.msg);
		return CMD_EXIT_IOERR;
	}
	d->fails = dg_xcalloc(d->fail_list.n + 1, sizeof(*d->fails));
	for (size_t i = 0; i < d->fail_list.n; i++) {
		const struct dg_fail_entry *e = &d->fail_list.v[i];

		d->fails[i] = (struct dg_html_fail){.domain = e->domain, .verdict = e->verdict,
						    .codes = e->codes, .since = e->since,
						    .runs = e->runs};
	}
	d->rep.fails = d->fails;
	d->rep.n_fails = d->fail_list.n;
	return CMD_CONTINUE;
}

/* Write to OUT.tmp, then rename over OUT. */
static int write_page(const char *out_path, const struct dg_html_report *rep)
{
	char tmp[4096];
	struct dg_err err = {0};
	FILE *f;
	enum dg_status st;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", out_path) >= (int)sizeof(tmp))
		return cmd_usage_error("report", "-o: path too long");
	f = fopen(tmp, "w");
	if (f == NULL) {
		fprintf(stderr, "daneguard: %s: %s\n", tmp, strerror(errno));
		return CMD_EXIT_IOERR;
	}
	st = dg_report_html(rep, f, &err);
	if (fclose(f) != 0 && st == DG_OK)
		st = dg_err_set(&err, DG_E_IO, "closing the report failed");
	if (st == DG_OK && rename(tmp, out_path) != 0)
		st = dg_err_set(&err, DG_E_IO, "rename to %s: %s", out_path, strerror(errno));
	if (st != DG_OK) {
		fprintf(stderr, "daneguard: %s: %s\n", out_path, err.msg);
		(void)remove(tmp);
		return CMD_EXIT_IOERR;
	}
	return CMD_EXIT_OK;
}
