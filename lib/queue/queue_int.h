/*
 * queue_int.h - private interface of lib/queue: the queue object, the fault-injection
 * hook table (STYLE.md section 9, as in SQLite fault.c) and the file helpers of
 * queue_fs.c used by queue_api.c.
 */
#ifndef DANEGUARD_QUEUE_INT_H
#define DANEGUARD_QUEUE_INT_H

#include <daneguard/queue.h>

#include <limits.h>
#include <sys/statvfs.h>
#include <sys/types.h>

/** Stages at which the crash hook is called (a test may _exit() there). */
enum queue_stage {
	QUEUE_STAGE_TEMP_WRITTEN = 0, /**< temp file written and fsynced, not renamed */
	QUEUE_STAGE_RENAMED = 1       /**< renamed into queue/, directory not fsynced */
};

/**
 * System calls the queue makes through this table; tests replace entries to inject
 * short writes, failed fsync, ENOSPC, failed rename, low free space, or a crash.
 */
struct dg_queue_hooks {
	ssize_t (*write)(int fd, const void *p, size_t n);
	int (*fsync)(int fd);
	int (*rename)(const char *from, const char *to);
	int (*statvfs)(const char *path, struct statvfs *st);
	void (*crash)(enum queue_stage stage); /**< NULL: no crash point */
};

/**
 * Replace the hooks (tests only); NULL restores the system calls.
 * @param h hooks (borrowed, copied); NULL entries mean the system call
 */
void dg_queue_hooks_set(const struct dg_queue_hooks *h);

/** The queue object. */
struct dg_queue {
	char *dir;                 /**< queue directory (owned) */
	struct dg_queue_opts opts; /**< limits with defaults applied */
	size_t n_corrupt;          /**< files moved to corrupt/ by the last open */
};

/** Path buffer size used everywhere in the module. */
#define QUEUE_PATH_MAX PATH_MAX

extern struct dg_queue_hooks queue_hooks;

/* DIR/sub[/name] into @p out; DG_E_CONFIG when too long. */
enum dg_status queue_path(const struct dg_queue *q, const char *sub, const char *name,
                          char out[QUEUE_PATH_MAX], struct dg_err *err);
/* fsync a directory (through the hook). */
enum dg_status queue_fsync_dir(const char *path, struct dg_err *err);
/* Write @p p as queue/<id> through incoming/<id>; @p is_new: unlink again if the
 * directory fsync fails (a new message that was never acknowledged). */
enum dg_status queue_write_atomic(struct dg_queue *q, const char *id, const uint8_t *p, size_t len,
                                  bool is_new, struct dg_err *err);
/* Read a whole record file (capped); *out is malloc'd, freed by the caller. */
enum dg_status queue_read_file(const char *path, uint8_t **out, size_t *len, struct dg_err *err);
/* DG_E_LIMIT "queue DIR: only N MiB free" unless len + reserve fit. */
enum dg_status queue_space_check(struct dg_queue *q, size_t len, struct dg_err *err);

#endif /* DANEGUARD_QUEUE_INT_H */
