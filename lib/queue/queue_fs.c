/*
 * queue_fs.c - file-system primitives of the queue: the fault-injection hook table, path
 * building, the atomic write (temp file in incoming/, fsync, rename into queue/, fsync of
 * queue/), whole-file reads and the free-space check (STYLE.md section 6, as in OpenSMTPD
 * queue_fs.c fsqueue_envelope_dump).
 *
 * Internal to lib/queue (queue_int.h); nothing here logs.
 */
#include "queue/queue_int.h"

#include <daneguard/util.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static ssize_t queue_sys_write(int fd, const void *p, size_t n);
static enum dg_status queue_write_all(int fd, const uint8_t *p, size_t len, const char *path,
                                      struct dg_err *err);
static enum dg_status queue_write_temp(const char *tmp, const uint8_t *p, size_t len,
                                       struct dg_err *err);

struct dg_queue_hooks queue_hooks = {queue_sys_write, fsync, rename, statvfs, NULL};

static ssize_t queue_sys_write(int fd, const void *p, size_t n)
{
	return write(fd, p, n);
}

void dg_queue_hooks_set(const struct dg_queue_hooks *h)
{
	struct dg_queue_hooks def = {queue_sys_write, fsync, rename, statvfs, NULL};

	if (h == NULL) {
		queue_hooks = def;
		return;
	}
	queue_hooks.write = h->write ? h->write : def.write;
	queue_hooks.fsync = h->fsync ? h->fsync : def.fsync;
	queue_hooks.rename = h->rename ? h->rename : def.rename;
	queue_hooks.statvfs = h->statvfs ? h->statvfs : def.statvfs;
	queue_hooks.crash = h->crash;
}

enum dg_status queue_path(const struct dg_queue *q, const char *sub, const char *name,
                          char out[QUEUE_PATH_MAX], struct dg_err *err)
{
	int n = snprintf(out, QUEUE_PATH_MAX, "%s/%s%s%s", q->dir, sub, name ? "/" : "",
	                 name ? name : "");

	if (n < 0 || n >= QUEUE_PATH_MAX)
		return dg_err_set(err, DG_E_CONFIG, "queue %s: path too long", q->dir);
	return DG_OK;
}

enum dg_status queue_fsync_dir(const char *path, struct dg_err *err)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	enum dg_status st = DG_OK;

	if (fd < 0)
		return dg_err_set_errno(err, DG_E_IO, errno, "queue %s: open directory", path);
	if (queue_hooks.fsync(fd) != 0)
		st = dg_err_set_errno(err, DG_E_IO, errno, "queue %s: fsync directory", path);
	close(fd);
	return st;
}

/* Write everything, retrying short writes; a write of 0 bytes counts as an I/O error. */
static enum dg_status queue_write_all(int fd, const uint8_t *p, size_t len, const char *path,
                                      struct dg_err *err)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = queue_hooks.write(fd, p + done, len - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return dg_err_set_errno(err, DG_E_IO, n == 0 ? EIO : errno,
			                        "queue %s: write at byte %zu of %zu", path, done,
			                        len);
		done += (size_t)n;
	}
	return DG_OK;
}

/* Create @p tmp exclusively, write, fsync, close; on failure the file is removed. */
static enum dg_status queue_write_temp(const char *tmp, const uint8_t *p, size_t len,
                                       struct dg_err *err)
{
	int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	enum dg_status st;

	if (fd < 0)
		return dg_err_set_errno(err, DG_E_IO, errno, "queue %s: create", tmp);
	st = queue_write_all(fd, p, len, tmp, err);
	if (st == DG_OK && queue_hooks.fsync(fd) != 0)
		st = dg_err_set_errno(err, DG_E_IO, errno, "queue %s: fsync", tmp);
	if (close(fd) != 0 && st == DG_OK)
		st = dg_err_set_errno(err, DG_E_IO, errno, "queue %s: close", tmp);
	if (st != DG_OK)
		unlink(tmp);
	return st;
}

enum dg_status queue_write_atomic(struct dg_queue *q, const char *id, const uint8_t *p, size_t len,
                                  bool is_new, struct dg_err *err)
{
	char tmp[QUEUE_PATH_MAX], dst[QUEUE_PATH_MAX], qdir[QUEUE_PATH_MAX];
	enum dg_status st;

	if (!dg_queue_id_ok(id))
		DG_PANIC("queue: unchecked id reached a path");
	if ((st = queue_path(q, "incoming", id, tmp, err)) != DG_OK ||
	    (st = queue_path(q, "queue", id, dst, err)) != DG_OK ||
	    (st = queue_path(q, "queue", NULL, qdir, err)) != DG_OK)
		return st;
	if ((st = queue_write_temp(tmp, p, len, err)) != DG_OK)
		return st;
	if (queue_hooks.crash != NULL)
		queue_hooks.crash(QUEUE_STAGE_TEMP_WRITTEN);
	if (queue_hooks.rename(tmp, dst) != 0) {
		st = dg_err_set_errno(err, DG_E_IO, errno, "queue %s: rename into queue/", tmp);
		unlink(tmp);
		return st;
	}
	if (queue_hooks.crash != NULL)
		queue_hooks.crash(QUEUE_STAGE_RENAMED);
	st = queue_fsync_dir(qdir, err);
	if (st != DG_OK && is_new)
		unlink(dst); /* not durable, so not acknowledged: take it back */
	return st;
}

enum dg_status queue_read_file(const char *path, uint8_t **out, size_t *len, struct dg_err *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat sb;
	enum dg_status st = DG_OK;
	size_t done = 0;

	if (fd < 0)
		return dg_err_set_errno(err, errno == ENOENT ? DG_E_NOTFOUND : DG_E_IO, errno,
		                        "queue %s: open", path);
	if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
		close(fd);
		return dg_err_set(err, DG_E_IO, "queue %s: not a regular file", path);
	}
	if ((uint64_t)sb.st_size > (uint64_t)DG_QUEUE_HEADER_MAX + DG_QUEUE_BODY_MAX) {
		close(fd);
		return dg_err_set(err, DG_E_LIMIT, "queue %s: record of %jd bytes", path,
		                  (intmax_t)sb.st_size);
	}
	*out = dg_xmalloc((size_t)sb.st_size + 1);
	while (st == DG_OK && done < (size_t)sb.st_size) {
		ssize_t n = read(fd, *out + done, (size_t)sb.st_size - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			st = dg_err_set_errno(err, DG_E_IO, n == 0 ? EIO : errno, "queue %s: read",
			                      path);
		else
			done += (size_t)n;
	}
	close(fd);
	if (st != DG_OK) {
		free(*out);
		*out = NULL;
	}
	*len = done;
	return st;
}

enum dg_status queue_space_check(struct dg_queue *q, size_t len, struct dg_err *err)
{
	struct statvfs sv;
	uint64_t avail;

	if (queue_hooks.statvfs(q->dir, &sv) != 0)
		return dg_err_set_errno(err, DG_E_IO, errno, "queue %s: statvfs", q->dir);
	avail = (uint64_t)sv.f_bavail * (uint64_t)sv.f_frsize;
	if (avail < q->opts.reserve_bytes || avail - q->opts.reserve_bytes < len)
		return dg_err_set(err, DG_E_LIMIT, "queue %s: only %" PRIu64 " MiB free", q->dir,
		                  avail / (1024 * 1024));
	return DG_OK;
}
