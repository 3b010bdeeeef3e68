/*
 * history_int.h - private structure of the scan history (lib/history): one struct
 * dg_history per open database, and the backend table (struct history_ops) behind the
 * public dg_history_* functions (history_api.c dispatches): SQLite (history_db.c,
 * history_query.c) and PostgreSQL (history_pg.c, history_pg_query.c).
 *
 * The struct holds the name every error uses (the file, or the PostgreSQL URL without
 * its password), and per backend its connection and whether a batch transaction is open.
 */
#ifndef DG_HISTORY_INT_H
#define DG_HISTORY_INT_H

#include <daneguard/history.h>

#include <libpq-fe.h>
#include <sqlite3.h>

/* What a backend implements; NULL entries (the work queue on SQLite) are DG_E_CONFIG. */
struct history_ops {
	const char *name;
	void (*free)(struct dg_history *h);
	enum dg_status (*run_begin)(struct dg_history *h, time_t started, int64_t *run_id,
	                            struct dg_err *err);
	enum dg_status (*run_reopen)(struct dg_history *h, int64_t run_id, struct dg_err *err);
	enum dg_status (*add)(struct dg_history *h, int64_t run_id,
	                      const struct dg_history_row *row, const char *json,
	                      struct dg_err *err);
	enum dg_status (*commit)(struct dg_history *h, struct dg_err *err);
	enum dg_status (*run_finish)(struct dg_history *h, int64_t run_id, time_t finished,
	                             struct dg_err *err);
	enum dg_status (*complete_before)(struct dg_history *h, int64_t before, int64_t *out,
	                                  struct dg_err *err);
	enum dg_status (*changes)(struct dg_history *h, int64_t prev, int64_t run,
	                          struct dg_changes *out, struct dg_err *err);
	/* the fail list's two queries; dg_history_fail_list() combines them */
	enum dg_status (*fail_runs)(struct dg_history *h, struct dg_history_run *runs, size_t *n,
	                            struct dg_err *err);
	enum dg_status (*fail_obs)(struct dg_history *h, size_t n_runs, struct dg_fail_list *l,
	                           struct dg_history_obs **obs, size_t *n_obs, struct dg_err *err);
	enum dg_status (*enqueue)(struct dg_history *h, int64_t run_id, const char *domain,
	                          struct dg_err *err);
	enum dg_status (*claim)(struct dg_history *h, const char *worker, unsigned max,
	                        unsigned lease_s, struct dg_history_batch *out, struct dg_err *err);
	enum dg_status (*work_left)(struct dg_history *h, bool *left, int64_t *completed,
	                            struct dg_err *err);
};

struct dg_history {
	const struct history_ops *ops;
	char *path;             /* named in every error (a URL without its password) */
	bool in_tx;             /* BEGIN issued, COMMIT pending */
	sqlite3 *db;            /* SQLite */
	sqlite3_stmt *add_stmt; /* SQLite: INSERT OR REPLACE INTO results, prepared once */
	PGconn *pg;             /* PostgreSQL */
};

/* history_db.c, history_query.c: SQLite */
extern const struct history_ops history_sqlite_ops;
enum dg_status history_sqlite_open(const char *path, bool create, struct dg_history **out,
                                   struct dg_err *err);
void history_sqlite_free(struct dg_history *h);
enum dg_status history_sqlite_run_begin(struct dg_history *h, time_t started, int64_t *run_id,
                                        struct dg_err *err);
enum dg_status history_sqlite_run_reopen(struct dg_history *h, int64_t run_id, struct dg_err *err);
enum dg_status history_sqlite_add(struct dg_history *h, int64_t run_id,
                                  const struct dg_history_row *row, const char *json,
                                  struct dg_err *err);
enum dg_status history_sqlite_commit(struct dg_history *h, struct dg_err *err);
enum dg_status history_sqlite_run_finish(struct dg_history *h, int64_t run_id, time_t finished,
                                         struct dg_err *err);
enum dg_status history_sqlite_complete_before(struct dg_history *h, int64_t before, int64_t *out,
                                              struct dg_err *err);
enum dg_status history_sqlite_changes(struct dg_history *h, int64_t prev, int64_t run,
                                      struct dg_changes *out, struct dg_err *err);
enum dg_status history_sqlite_fail_runs(struct dg_history *h, struct dg_history_run *runs,
                                        size_t *n, struct dg_err *err);
enum dg_status history_sqlite_fail_obs(struct dg_history *h, size_t n_runs, struct dg_fail_list *l,
                                       struct dg_history_obs **obs, size_t *n_obs,
                                       struct dg_err *err);
enum dg_status history_fail(struct dg_history *h, int rc, const char *what, struct dg_err *err);
enum dg_status history_prepare(struct dg_history *h, const char *sql, sqlite3_stmt **st,
                               struct dg_err *err);
char *history_list_keep(struct dg_fail_list *l, const char *s);

/* history_pg.c, history_pg_query.c: PostgreSQL */
extern const struct history_ops history_pg_ops;
enum dg_status history_pg_open(const char *url, bool create, struct dg_history **out,
                               struct dg_err *err);
enum dg_status history_pg_fail(struct dg_history *h, const char *what, struct dg_err *err);
enum dg_status history_pg_changes(struct dg_history *h, int64_t prev, int64_t run,
                                  struct dg_changes *out, struct dg_err *err);
enum dg_status history_pg_fail_runs(struct dg_history *h, struct dg_history_run *runs, size_t *n,
                                    struct dg_err *err);
enum dg_status history_pg_fail_obs(struct dg_history *h, size_t n_runs, struct dg_fail_list *l,
                                   struct dg_history_obs **obs, size_t *n_obs, struct dg_err *err);

#endif /* DG_HISTORY_INT_H */
