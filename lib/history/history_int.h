/*
 * history_int.h - private structure of the scan history (lib/history).
 *
 * One struct dg_history per open database: the SQLite handle, the file name every error
 * names, and whether a write transaction (the batch of dg_history_add) is open.
 */
#ifndef DG_HISTORY_INT_H
#define DG_HISTORY_INT_H

#include <daneguard/history.h>

#include <sqlite3.h>

struct dg_history {
	sqlite3 *db;
	char *path;
	bool in_tx;             /* BEGIN issued, COMMIT pending */
	sqlite3_stmt *add_stmt; /* INSERT OR REPLACE INTO results, prepared once */
};

/* history_db.c */
enum dg_status history_fail(struct dg_history *h, int rc, const char *what, struct dg_err *err);
enum dg_status history_prepare(struct dg_history *h, const char *sql, sqlite3_stmt **st,
                               struct dg_err *err);

#endif /* DG_HISTORY_INT_H */
