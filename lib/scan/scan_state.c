/*
 * scan_state.c - the resume state of "daneguard scan": an append-only file of finished
 * input line numbers.
 *
 * Public: dg_scan_state_load, dg_scan_state_create, dg_scan_state_is_done,
 * dg_scan_state_loaded, dg_scan_state_mark, dg_scan_state_sync, dg_scan_state_remove,
 * dg_scan_state_free.
 *
 * Format (docs/scan.md): a header "daneguard-scan-state 1 run=N", then one decimal line
 * number per finished input line (domains, malformed lines, blanks and comments alike),
 * in completion order. Marks are buffered and written with one write(2) per sync, then
 * fsync'd, so a killed scan leaves whole lines only; a torn last line is ignored on load.
 * Loading keeps a watermark W (lines 1..W finished) and a sorted array of the finished
 * lines above W+1: memory in the disorder of completion, not in the size of the input.
 *
 * Ownership: struct dg_scan_state owns its file descriptor, path and buffers.
 */
#include <daneguard/scan.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define STATE_MAGIC "daneguard-scan-state 1 run="

struct dg_scan_state {
	char *path;
	int fd;
	uint64_t watermark; /* lines 1..watermark are finished */
	uint64_t *above;    /* finished lines > watermark + 1, sorted */
	size_t n_above, cap_above;
	uint64_t loaded;
	struct dg_buf pending; /* marks not yet written */
};

static struct dg_scan_state *state_new(const char *path, int fd);
static void state_insert(struct dg_scan_state *s, uint64_t line);
static enum dg_status state_parse(struct dg_scan_state *s, FILE *f, int64_t *run_id,
                                  struct dg_err *err);
static enum dg_status write_all(struct dg_scan_state *s, const char *p, size_t len,
                                struct dg_err *err);

static struct dg_scan_state *state_new(const char *path, int fd)
{
	struct dg_scan_state *s = dg_xcalloc(1, sizeof(*s));

	s->path = dg_xstrdup(path);
	s->fd = fd;
	dg_buf_init(&s->pending, (size_t)1 << 30);
	return s;
}

/* Record @p line as finished, advancing the watermark over a contiguous run. */
static void state_insert(struct dg_scan_state *s, uint64_t line)
{
	size_t lo = 0, hi = s->n_above;

	if (line <= s->watermark)
		return;
	if (line == s->watermark + 1) {
		size_t k = 0;

		s->watermark = line;
		while (k < s->n_above && s->above[k] == s->watermark + 1) {
			s->watermark++;
			k++;
		}
		if (k > 0) {
			memmove(s->above, s->above + k, (s->n_above - k) * sizeof(*s->above));
			s->n_above -= k;
		}
		return;
	}
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (s->above[mid] < line)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < s->n_above && s->above[lo] == line)
		return;
	if (s->n_above == s->cap_above) {
		s->cap_above = s->cap_above == 0 ? 256 : s->cap_above * 2;
		s->above = realloc(s->above, s->cap_above * sizeof(*s->above));
		if (s->above == NULL)
			DG_PANIC("out of memory (resume state)");
	}
	memmove(s->above + lo + 1, s->above + lo, (s->n_above - lo) * sizeof(*s->above));
	s->above[lo] = line;
	s->n_above++;
}

static enum dg_status state_parse(struct dg_scan_state *s, FILE *f, int64_t *run_id,
                                  struct dg_err *err)
{
	char line[128];
	uint64_t lineno = 1;

	if (fgets(line, sizeof(line), f) == NULL ||
	    strncmp(line, STATE_MAGIC, sizeof(STATE_MAGIC) - 1) != 0)
		return dg_err_set(err, DG_E_PARSE, "resume state %s: not a daneguard scan state",
		                  s->path);
	*run_id = strtoll(line + sizeof(STATE_MAGIC) - 1, NULL, 10);
	while (fgets(line, sizeof(line), f) != NULL) {
		char *end;
		unsigned long long v;

		lineno++;
		if (strchr(line, '\n') == NULL)
			break; /* torn last line of a killed scan */
		errno = 0;
		v = strtoull(line, &end, 10);
		if (errno != 0 || end == line || *end != '\n' || v == 0)
			return dg_err_set(err, DG_E_PARSE,
			                  "resume state %s: line %" PRIu64 ": not a line number",
			                  s->path, lineno);
		state_insert(s, (uint64_t)v);
		s->loaded++;
	}
	return DG_OK;
}

enum dg_status dg_scan_state_load(const char *path, int64_t *run_id, struct dg_scan_state **out,
                                  struct dg_err *err)
{
	int fd = open(path, O_RDWR | O_APPEND | O_CLOEXEC);
	struct dg_scan_state *s;
	FILE *f;
	enum dg_status st;

	*out = NULL;
	if (fd < 0)
		return errno == ENOENT ? DG_E_NOTFOUND
		                       : dg_err_set_errno(err, DG_E_IO, errno,
		                                          "resume state %s: cannot open", path);
	s = state_new(path, fd);
	f = fopen(path, "r");
	if (f == NULL) {
		st = dg_err_set_errno(err, DG_E_IO, errno, "resume state %s: cannot read", path);
	} else {
		st = state_parse(s, f, run_id, err);
		fclose(f);
	}
	if (st != DG_OK) {
		dg_scan_state_free(s);
		return st;
	}
	*out = s;
	return DG_OK;
}

enum dg_status dg_scan_state_create(const char *path, int64_t run_id, struct dg_scan_state **out,
                                    struct dg_err *err)
{
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
	struct dg_scan_state *s;
	char head[64];
	enum dg_status st;

	*out = NULL;
	if (fd < 0)
		return dg_err_set_errno(err, DG_E_IO, errno, "resume state %s: cannot create",
		                        path);
	s = state_new(path, fd);
	snprintf(head, sizeof(head), STATE_MAGIC "%" PRId64 "\n", run_id);
	st = write_all(s, head, strlen(head), err);
	if (st == DG_OK && fsync(fd) != 0)
		st = dg_err_set_errno(err, DG_E_IO, errno, "resume state %s: fsync", path);
	if (st != DG_OK) {
		dg_scan_state_free(s);
		return st;
	}
	*out = s;
	return DG_OK;
}

bool dg_scan_state_is_done(const struct dg_scan_state *s, uint64_t lineno)
{
	size_t lo = 0, hi;

	if (s == NULL)
		return false;
	if (lineno <= s->watermark)
		return true;
	hi = s->n_above;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (s->above[mid] == lineno)
			return true;
		if (s->above[mid] < lineno)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

uint64_t dg_scan_state_loaded(const struct dg_scan_state *s)
{
	return s != NULL ? s->loaded : 0;
}

void dg_scan_state_mark(struct dg_scan_state *s, uint64_t lineno)
{
	if (s != NULL && dg_buf_printf(&s->pending, "%" PRIu64 "\n", lineno) != DG_OK)
		DG_PANIC("resume state %s: buffer full", s->path);
}

static enum dg_status write_all(struct dg_scan_state *s, const char *p, size_t len,
                                struct dg_err *err)
{
	while (len > 0) {
		ssize_t n = write(s->fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return dg_err_set_errno(err, DG_E_IO, errno, "resume state %s: write",
			                        s->path);
		p += n;
		len -= (size_t)n;
	}
	return DG_OK;
}

enum dg_status dg_scan_state_sync(struct dg_scan_state *s, struct dg_err *err)
{
	enum dg_status st;

	if (s == NULL || s->pending.len == 0)
		return DG_OK;
	st = write_all(s, s->pending.data, s->pending.len, err);
	dg_buf_reset(&s->pending);
	if (st == DG_OK && fsync(s->fd) != 0)
		st = dg_err_set_errno(err, DG_E_IO, errno, "resume state %s: fsync", s->path);
	return st;
}

enum dg_status dg_scan_state_remove(struct dg_scan_state *s, struct dg_err *err)
{
	if (s != NULL && unlink(s->path) != 0)
		return dg_err_set_errno(err, DG_E_IO, errno, "resume state %s: cannot remove",
		                        s->path);
	return DG_OK;
}

void dg_scan_state_free(struct dg_scan_state *s)
{
	if (s == NULL)
		return;
	if (s->fd >= 0)
		close(s->fd);
	dg_buf_cleanup(&s->pending);
	free(s->above);
	free(s->path);
	free(s);
}
