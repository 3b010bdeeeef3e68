/*
 * queue_api.c - the public queue operations: open with recovery, put, update, get, list,
 * remove (docs/internals/queue.md, STYLE.md section 6; as in OpenSMTPD queue_fs.c and
 * Postfix mail_queue.c).
 *
 * Public: dg_queue_open(), dg_queue_free(), dg_queue_corrupt_count(), dg_queue_put(),
 * dg_queue_update(), dg_queue_get(), dg_queue_remove(), dg_queue_list().
 *
 * The queue object owns only its directory name and limits; every operation goes to the
 * file system, so a crash at any point leaves what the last completed rename left.
 * Ids are validated with dg_queue_id_ok() before they become paths.
 */
#include "queue/queue_int.h"

#include <daneguard/util.h>

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

static void queue_apply_defaults(struct dg_queue_opts *o);
static enum dg_status queue_mkdirs(struct dg_queue *q, struct dg_err *err);
static enum dg_status queue_clear_incoming(struct dg_queue *q, struct dg_err *err);
static enum dg_status queue_move_corrupt(struct dg_queue *q, const char *name, const char *why,
                                         struct dg_err *err);
static enum dg_status queue_check_one(struct dg_queue *q, const char *name, struct dg_err *err);
static enum dg_status queue_scan(struct dg_queue *q, struct dg_err *err);
static enum dg_status queue_new_id(struct dg_queue *q, char id[DG_QUEUE_ID_SIZE],
                                   struct dg_err *err);
static enum dg_status queue_check_env(const struct dg_queue *q, const struct dg_queue_msg *env,
                                      size_t len, struct dg_err *err);
static int queue_id_cmp(const void *a, const void *b);

static void queue_apply_defaults(struct dg_queue_opts *o)
{
	if (o->max_message_bytes == 0 || o->max_message_bytes > DG_QUEUE_BODY_MAX)
		o->max_message_bytes = o->max_message_bytes ? DG_QUEUE_BODY_MAX : 32u * 1024 * 1024;
	if (o->max_rcpts == 0 || o->max_rcpts > DG_QUEUE_RCPT_MAX)
		o->max_rcpts = o->max_rcpts ? DG_QUEUE_RCPT_MAX : 100;
	if (o->reserve_bytes == 0)
		o->reserve_bytes = 64u * 1024 * 1024;
}

static enum dg_status queue_mkdirs(struct dg_queue *q, struct dg_err *err)
{
	static const char *const subs[] = {"incoming", "queue", "deferred", "corrupt"};
	char path[QUEUE_PATH_MAX];
	enum dg_status st;

	if (mkdir(q->dir, 0700) != 0 && errno != EEXIST)
		return dg_err_set_errno(err, DG_E_IO, errno, "queue %s: mkdir", q->dir);
	for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++) {
		if ((st = queue_path(q, subs[i], NULL, path, err)) != DG_OK)
			return st;
		if (mkdir(path, 0700) != 0 && errno != EEXIST)
			return dg_err_set_errno(err, DG_E_IO, errno, "queue %s: mkdir", path);
	}
	return DG_OK;
}

/* Remove everything in incoming/: none of it was ever acknowledged. */
static enum dg_status queue_clear_incoming(struct dg_queue *q, struct dg_err *err)
{
	char dir[QUEUE_PATH_MAX], path[QUEUE_PATH_MAX];
	enum dg_status st = queue_path(q, "incoming", NULL, dir, err);
	DIR *d;
	struct dirent *de;

	if (st != DG_OK)
		return st;
	if ((d = opendir(dir)) == NULL)
		return dg_err_set_errno(err, DG_E_IO, errno, "queue %s: opendir", dir);
	while (st == DG_OK && (de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.' &&
		    (de->d_name[1] == '\0' || (de->d_name[1] == '.' && de->d_name[2] == '\0')))
			continue;
		st = queue_path(q, "incoming", de->d_name, path, err);
		if (st == DG_OK && unlink(path) != 0)
			st = dg_err_set_errno(err, DG_E_IO, errno, "queue %s: unlink", path);
		else if (st == DG_OK)
			DG_LOG(NULL, DG_LOG_INFO, "queue recover removed=incoming/%s", de->d_name);
	}
	closedir(d);
	return st;
}

/* Move queue/<name> to corrupt/<name>[.N] (never over another file) and log it. */
static enum dg_status queue_move_corrupt(struct dg_queue *q, const char *name, const char *why,
                                         struct dg_err *err)
{
	char from[QUEUE_PATH_MAX], to[QUEUE_PATH_MAX], leaf[NAME_MAX + 1];
	enum dg_status st = queue_path(q, "queue", name, from, err);

	for (unsigned n = 0; st == DG_OK && n < 100; n++) {
		int k = n ? snprintf(leaf, sizeof(leaf), "%s.%u", name, n)
		          : snprintf(leaf, sizeof(leaf), "%s", name);

		if (k < 0 || (size_t)k >= sizeof(leaf))
			break;
		if ((st = queue_path(q, "corrupt", leaf, to, err)) != DG_OK)
			return st;
		if (access(to, F_OK) == 0)
			continue;
		if (queue_hooks.rename(from, to) != 0)
			return dg_err_set_errno(err, DG_E_IO, errno, "queue %s: move aside", from);
		q->n_corrupt++;
		DG_LOG(NULL, DG_LOG_WARN,
		       "queue corrupt file=queue/%s moved=corrupt/%s reason=\"%s\"", name, leaf,
		       why);
		return DG_OK;
	}
	return st != DG_OK ? st : dg_err_set(err, DG_E_IO, "queue %s: cannot move aside", from);
}

/* Parse queue/<name>; move it aside when it is not a valid record named by its id. */
static enum dg_status queue_check_one(struct dg_queue *q, const char *name, struct dg_err *err)
{
	char path[QUEUE_PATH_MAX];
	struct dg_queue_msg msg;
	struct dg_err perr;
	uint8_t *raw = NULL;
	size_t len = 0;
	enum dg_status st;

	if (!dg_queue_id_ok(name))
		return queue_move_corrupt(q, name, "file name is not a queue id", err);
	if ((st = queue_path(q, "queue", name, path, err)) != DG_OK)
		return st;
	memset(&msg, 0, sizeof(msg));
	dg_err_clear(&perr);
	st = queue_read_file(path, &raw, &len, &perr);
	if (st == DG_OK)
		st = dg_queue_record_parse(raw, len, &msg, &perr);
	if (st == DG_OK && strcmp(msg.id, name) != 0)
		st = dg_err_set(&perr, DG_E_PARSE, "id does not match the file name");
	dg_queue_msg_cleanup(&msg);
	free(raw);
	if (st == DG_E_IO) {
		if (err != NULL)
			*err = perr;
		return st;
	}
	return st == DG_OK ? DG_OK : queue_move_corrupt(q, name, perr.msg, err);
}

static enum dg_status queue_scan(struct dg_queue *q, struct dg_err *err)
{
	char dir[QUEUE_PATH_MAX];
	enum dg_status st = queue_path(q, "queue", NULL, dir, err);
	DIR *d;
	struct dirent *de;

	if (st != DG_OK)
		return st;
	if ((d = opendir(dir)) == NULL)
		return dg_err_set_errno(err, DG_E_IO, errno, "queue %s: opendir", dir);
	while (st == DG_OK && (de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.' &&
		    (de->d_name[1] == '\0' || (de->d_name[1] == '.' && de->d_name[2] == '\0')))
			continue;
		st = queue_check_one(q, de->d_name, err);
	}
	closedir(d);
	return st;
}

enum dg_status dg_queue_open(const char *dir, const struct dg_queue_opts *opts,
                             struct dg_queue **out, struct dg_err *err)
{
	struct dg_queue *q = dg_xcalloc(1, sizeof(*q));
	enum dg_status st;

	*out = NULL;
	q->dir = dg_xstrdup(dir);
	if (opts != NULL)
		q->opts = *opts;
	queue_apply_defaults(&q->opts);
	st = queue_mkdirs(q, err);
	if (st == DG_OK && !q->opts.no_recover)
		st = queue_clear_incoming(q, err);
	if (st == DG_OK && !q->opts.no_recover)
		st = queue_scan(q, err);
	if (st != DG_OK) {
		dg_queue_free(q);
		return st;
	}
	*out = q;
	return DG_OK;
}

void dg_queue_free(struct dg_queue *q)
{
	if (q == NULL)
		return;
	free(q->dir);
	free(q);
}

size_t dg_queue_corrupt_count(const struct dg_queue *q)
{
	return q->n_corrupt;
}

/* 8 hex digits of time, 12 of randomness; not in use in incoming/ or queue/. */
static enum dg_status queue_new_id(struct dg_queue *q, char id[DG_QUEUE_ID_SIZE],
                                   struct dg_err *err)
{
	char p1[QUEUE_PATH_MAX], p2[QUEUE_PATH_MAX];
	uint8_t rnd[6];
	enum dg_status st;

	for (int tries = 0; tries < 8; tries++) {
		if (getentropy(rnd, sizeof(rnd)) != 0)
			return dg_err_set_errno(err, DG_E_INTERNAL, errno, "queue: getentropy");
		snprintf(id, DG_QUEUE_ID_SIZE, "%08x%02x%02x%02x%02x%02x%02x",
		         (unsigned)((uint64_t)dg_clock_wall() & 0xffffffffu), rnd[0], rnd[1],
		         rnd[2], rnd[3], rnd[4], rnd[5]);
		if ((st = queue_path(q, "incoming", id, p1, err)) != DG_OK ||
		    (st = queue_path(q, "queue", id, p2, err)) != DG_OK)
			return st;
		if (access(p1, F_OK) != 0 && access(p2, F_OK) != 0)
			return DG_OK;
	}
	return dg_err_set(err, DG_E_INTERNAL, "queue %s: no free id", q->dir);
}

static enum dg_status queue_check_env(const struct dg_queue *q, const struct dg_queue_msg *env,
                                      size_t len, struct dg_err *err)
{
	if (len > q->opts.max_message_bytes)
		return dg_err_set(err, DG_E_LIMIT, "queue %s: message of %zu bytes over %zu",
		                  q->dir, len, q->opts.max_message_bytes);
	if (env->n_rcpt == 0 || env->n_rcpt > q->opts.max_rcpts)
		return dg_err_set(err, DG_E_LIMIT, "queue %s: %zu recipients (1..%zu)", q->dir,
		                  env->n_rcpt, q->opts.max_rcpts);
	return DG_OK;
}

enum dg_status dg_queue_put(struct dg_queue *q, const struct dg_queue_msg *env, const uint8_t *body,
                            size_t len, char id[DG_QUEUE_ID_SIZE], struct dg_err *err)
{
	struct dg_queue_msg m = *env;
	uint8_t *rec = NULL;
	size_t rec_len = 0;
	enum dg_status st;

	id[0] = '\0';
	if ((st = queue_check_env(q, env, len, err)) != DG_OK)
		return st;
	if ((st = queue_new_id(q, m.id, err)) != DG_OK)
		return st;
	if (m.arrival_s == 0)
		m.arrival_s = (uint64_t)dg_clock_wall();
	m.body = body;
	m.body_len = len;
	m.raw = NULL;
	if ((st = dg_queue_record_format(&m, &rec, &rec_len, err)) != DG_OK)
		return st;
	st = queue_space_check(q, rec_len, err);
	if (st == DG_OK)
		st = queue_write_atomic(q, m.id, rec, rec_len, true, err);
	free(rec);
	if (st == DG_OK) {
		memcpy(id, m.id, DG_QUEUE_ID_SIZE);
		DG_TRACE(NULL, DG_LOG_TRACE_QUEUE, "%s queue accepted size=%zu rcpts=%zu", id, len,
		         env->n_rcpt);
	}
	return st;
}

enum dg_status dg_queue_update(struct dg_queue *q, const char *id, const struct dg_queue_rcpt *rcpt,
                               size_t n_rcpt, struct dg_err *err)
{
	struct dg_queue_msg msg;
	uint8_t *rec = NULL;
	size_t rec_len = 0;
	enum dg_status st = dg_queue_get(q, id, &msg, err);

	if (st != DG_OK)
		return st;
	if (n_rcpt != msg.n_rcpt)
		st = dg_err_set(err, DG_E_PARSE, "queue %s: %zu recipients, want %zu", id, n_rcpt,
		                msg.n_rcpt);
	for (size_t i = 0; st == DG_OK && i < n_rcpt; i++) {
		if (strcmp(rcpt[i].addr, msg.rcpt[i].addr) != 0)
			st = dg_err_set(err, DG_E_PARSE, "queue %s: recipient %zu is not %s", id, i,
			                msg.rcpt[i].addr);
		else
			msg.rcpt[i] = rcpt[i];
	}
	if (st == DG_OK)
		st = dg_queue_record_format(&msg, &rec, &rec_len, err);
	if (st == DG_OK)
		st = queue_write_atomic(q, id, rec, rec_len, false, err);
	free(rec);
	dg_queue_msg_cleanup(&msg);
	return st;
}

enum dg_status dg_queue_get(struct dg_queue *q, const char *id, struct dg_queue_msg *msg,
                            struct dg_err *err)
{
	char path[QUEUE_PATH_MAX];
	uint8_t *raw = NULL;
	size_t len = 0;
	enum dg_status st;

	memset(msg, 0, sizeof(*msg));
	if (!dg_queue_id_ok(id))
		return dg_err_set(err, DG_E_PARSE, "queue %s: bad id", q->dir);
	if ((st = queue_path(q, "queue", id, path, err)) != DG_OK)
		return st;
	if ((st = queue_read_file(path, &raw, &len, err)) != DG_OK)
		return st;
	st = dg_queue_record_parse(raw, len, msg, err);
	msg->raw = raw;
	if (st == DG_OK && strcmp(msg->id, id) != 0)
		st = dg_err_set(err, DG_E_PARSE, "queue %s: record holds id %s", path, msg->id);
	if (st != DG_OK)
		dg_queue_msg_cleanup(msg);
	return st;
}

enum dg_status dg_queue_remove(struct dg_queue *q, const char *id, struct dg_err *err)
{
	char path[QUEUE_PATH_MAX], dir[QUEUE_PATH_MAX];
	enum dg_status st;

	if (!dg_queue_id_ok(id))
		return dg_err_set(err, DG_E_PARSE, "queue %s: bad id", q->dir);
	if ((st = queue_path(q, "queue", id, path, err)) != DG_OK ||
	    (st = queue_path(q, "queue", NULL, dir, err)) != DG_OK)
		return st;
	if (unlink(path) != 0)
		return dg_err_set_errno(err, errno == ENOENT ? DG_E_NOTFOUND : DG_E_IO, errno,
		                        "queue %s: unlink", path);
	return queue_fsync_dir(dir, err);
}

static int queue_id_cmp(const void *a, const void *b)
{
	return strcmp((const char *)a, (const char *)b);
}

enum dg_status dg_queue_list(struct dg_queue *q, char (**ids)[DG_QUEUE_ID_SIZE], size_t *n,
                             struct dg_err *err)
{
	char dir[QUEUE_PATH_MAX];
	enum dg_status st = queue_path(q, "queue", NULL, dir, err);
	size_t cap = 0;
	DIR *d;
	struct dirent *de;

	*ids = NULL;
	*n = 0;
	if (st != DG_OK)
		return st;
	if ((d = opendir(dir)) == NULL)
		return dg_err_set_errno(err, DG_E_IO, errno, "queue %s: opendir", dir);
	while ((de = readdir(d)) != NULL) {
		if (!dg_queue_id_ok(de->d_name))
			continue;
		if (*n == cap) {
			cap = cap ? cap * 2 : 16;
			*ids = dg_xrealloc(*ids, cap * sizeof(**ids));
		}
		memcpy((*ids)[(*n)++], de->d_name, DG_QUEUE_ID_SIZE);
	}
	closedir(d);
	if (*n > 1)
		qsort(*ids, *n, sizeof(**ids), queue_id_cmp);
	return DG_OK;
}
