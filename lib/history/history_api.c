/*
 * history_api.c - the public history functions, dispatched to the backend of the open
 * database (struct history_ops in history_int.h): SQLite for a file, PostgreSQL for a
 * postgresql:// URL.
 *
 * Public: dg_history_open, dg_history_free, dg_history_run_begin, dg_history_run_reopen,
 * dg_history_add, dg_history_commit, dg_history_run_finish, dg_history_complete_before,
 * dg_history_changes, dg_history_fail_list, dg_history_target_is_pg, dg_history_enqueue,
 * dg_history_claim, dg_history_work_left, dg_history_batch_cleanup.
 *
 * The work queue exists on PostgreSQL only; on SQLite its functions fail with DG_E_CONFIG
 * naming the file. Ownership as in history.h.
 */
#include "history_int.h"

#include <stdlib.h>
#include <string.h>

static enum dg_status no_queue(struct dg_history *h, struct dg_err *err);

static enum dg_status no_queue(struct dg_history *h, struct dg_err *err)
{
	return dg_err_set(err, DG_E_CONFIG,
	                  "database %s: the shared work queue needs a postgresql:// database",
	                  h->path);
}

bool dg_history_target_is_pg(const char *target)
{
	return strncmp(target, "postgresql://", 13) == 0 || strncmp(target, "postgres://", 11) == 0;
}

enum dg_status dg_history_open(const char *path, bool create, struct dg_history **out,
                               struct dg_err *err)
{
	if (dg_history_target_is_pg(path))
		return history_pg_open(path, create, out, err);
	return history_sqlite_open(path, create, out, err);
}

void dg_history_free(struct dg_history *h)
{
	if (h != NULL)
		h->ops->free(h);
}

enum dg_status dg_history_run_begin(struct dg_history *h, time_t started, int64_t *run_id,
                                    struct dg_err *err)
{
	return h->ops->run_begin(h, started, run_id, err);
}

enum dg_status dg_history_run_reopen(struct dg_history *h, int64_t run_id, struct dg_err *err)
{
	return h->ops->run_reopen(h, run_id, err);
}

enum dg_status dg_history_add(struct dg_history *h, int64_t run_id,
                              const struct dg_history_row *row, const char *json,
                              struct dg_err *err)
{
	return h->ops->add(h, run_id, row, json, err);
}

enum dg_status dg_history_commit(struct dg_history *h, struct dg_err *err)
{
	return h->ops->commit(h, err);
}

enum dg_status dg_history_run_finish(struct dg_history *h, int64_t run_id, time_t finished,
                                     struct dg_err *err)
{
	return h->ops->run_finish(h, run_id, finished, err);
}

enum dg_status dg_history_complete_before(struct dg_history *h, int64_t before, int64_t *out,
                                          struct dg_err *err)
{
	return h->ops->complete_before(h, before, out, err);
}

enum dg_status dg_history_changes(struct dg_history *h, int64_t prev, int64_t run,
                                  struct dg_changes *out, struct dg_err *err)
{
	return h->ops->changes(h, prev, run, out, err);
}

/* The same for every backend: the last complete runs, the broken observations in them,
 * then the pure selection (dg_history_fail_select). */
enum dg_status dg_history_fail_list(struct dg_history *h, unsigned min_runs,
                                    struct dg_fail_list *out, struct dg_err *err)
{
	struct dg_history_run *runs = dg_xcalloc(DG_HISTORY_LOOKBACK, sizeof(*runs));
	struct dg_history_obs *obs = NULL;
	size_t n_runs = 0, n_obs = 0;
	enum dg_status st;

	memset(out, 0, sizeof(*out));
	st = h->ops->fail_runs(h, runs, &n_runs, err);
	if (st == DG_OK && n_runs > 0)
		st = h->ops->fail_obs(h, n_runs, out, &obs, &n_obs, err);
	if (st == DG_OK) {
		out->v = dg_xcalloc(n_obs + 1, sizeof(*out->v));
		out->n = dg_history_fail_select(runs, n_runs, obs, n_obs, min_runs, out->v);
		out->n_complete_runs = n_runs;
	}
	free(obs);
	free(runs);
	return st;
}

enum dg_status dg_history_enqueue(struct dg_history *h, int64_t run_id, const char *domain,
                                  struct dg_err *err)
{
	return h->ops->enqueue != NULL ? h->ops->enqueue(h, run_id, domain, err) : no_queue(h, err);
}

enum dg_status dg_history_claim(struct dg_history *h, const char *worker, unsigned max,
                                unsigned lease_s, struct dg_history_batch *out, struct dg_err *err)
{
	memset(out, 0, sizeof(*out));
	if (h->ops->claim == NULL)
		return no_queue(h, err);
	if (max == 0 || max > DG_HISTORY_BATCH_MAX)
		max = DG_HISTORY_BATCH_MAX;
	return h->ops->claim(h, worker, max, lease_s, out, err);
}

enum dg_status dg_history_work_left(struct dg_history *h, bool *left, int64_t *completed,
                                    struct dg_err *err)
{
	*left = false;
	*completed = 0;
	return h->ops->work_left != NULL ? h->ops->work_left(h, left, completed, err)
	                                 : no_queue(h, err);
}

void dg_history_batch_cleanup(struct dg_history_batch *b)
{
	for (size_t i = 0; i < b->n; i++)
		free(b->domains[i]);
	free(b->domains);
	memset(b, 0, sizeof(*b));
}
