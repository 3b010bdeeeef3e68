/*
 * mtasts_cache.c - the on-disk MTA-STS policy cache of a sending MTA (the relay) and the
 * pure caching decision (docs/internals/mtasts.md "Policy cache").
 *
 * Public: dg_sts_cache_open, dg_sts_cache_free, dg_sts_cache_get, dg_sts_cache_put,
 * dg_sts_cache_entry_cleanup, dg_sts_cache_entry_parse, dg_sts_cache_entry_format,
 * dg_sts_cache_decide, dg_sts_cache_action_str.
 *
 * A cache is a directory with one file per policy domain, named by the domain after
 * dg_name_normalize() (no '/', no empty label, never "." or ".."), holding a versioned text
 * record in a fixed order, then the policy body whose length is explicit:
 *
 *   daneguard-sts-cache: 1
 *   domain: example.com
 *   id: 20240101T000000      ("-" when no policy is cached, only a failure)
 *   fetched: 1700000000      (epoch seconds, 0 when no policy is cached)
 *   fail-id: -               (TXT id of the last failed fetch, "-" if none)
 *   last-fail: 0             (epoch seconds of that failure, 0 if none)
 *   policy: <length>
 *   <length bytes>
 *
 * The parser is pure (STYLE.md section 7): numbers are canonical, unknown keys, other
 * versions and trailing bytes are refused, and the policy text must parse as a policy, so
 * format(parse(x)) == x. Writes go to a temporary file (".tmp-PID-N", which no domain name
 * can be), fsync, rename over the domain's file, fsync of the directory (STYLE.md section 6).
 * Ownership: the entry owns its policy text (dg_sts_cache_entry_cleanup()).
 * Implements SPEC STS-1 (a missing TXT record does not remove a cached policy), STS-2 (no
 * refetch for the same id within 5 minutes of a failure) and STS-4 (cache up to max_age,
 * a new id means fetch, daily refresh, a valid cached policy applies when nothing live is
 * found).
 */
#include "mtasts/mtasts_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/** Longest header line of a cache file (the domain line is the longest). */
#define CACHE_LINE_MAX (DG_NAME_MAX + 16)
/** Largest cache file read: the header lines and the largest policy. */
#define CACHE_FILE_MAX (DG_STS_POLICY_MAX_BYTES + 4096)
/** Largest time stamp accepted (far beyond any real clock; keeps fetched + max_age exact). */
#define CACHE_TIME_MAX ((uint64_t)1 << 48)
/** Prefix of temporary files; no normalized domain name starts with a dot. */
#define CACHE_TMP_PREFIX ".tmp-"

struct dg_sts_cache {
	char *dir;    /* directory (owned) */
	unsigned seq; /* temp file counter */
};

/** One header line: bytes without the newline, borrowed from the input. */
struct cache_line {
	const char *p;
	size_t len;
};

static bool cache_take_value(struct dg_cursor *c, const char *key, struct cache_line *val);
static bool cache_num(const struct cache_line *v, uint64_t max, uint64_t *out);
static bool cache_id(const struct cache_line *v, char out[DG_STS_ID_MAX + 1]);
static bool cache_id_ok(const char *id, bool may_be_empty);
static void cache_parse_head(struct dg_cursor *c, struct dg_sts_cache_entry *out);
static enum dg_status cache_check(const struct dg_sts_cache_entry *e, struct dg_err *err);
static enum dg_status cache_path(const struct dg_sts_cache *c, const char *name, char *out,
                                 size_t out_size, struct dg_err *err);
static enum dg_status cache_read(const char *path, uint8_t **out, size_t *len, struct dg_err *err);
static enum dg_status cache_write_temp(const char *tmp, const uint8_t *p, size_t len,
                                       struct dg_err *err);
static enum dg_status cache_fsync_dir(const char *dir, struct dg_err *err);
static void cache_remove_temps(const char *dir);
static bool cache_policy_valid(const struct dg_sts_cache_entry *e, uint64_t now_s,
                               uint32_t *max_age_s);
static void why_set(char *why, size_t why_size, const char *fmt, ...) DG_PRINTF(3, 4);

/* ---- file format ------------------------------------------------------------------- */

void dg_sts_cache_entry_cleanup(struct dg_sts_cache_entry *e)
{
	if (e == NULL)
		return;
	free(e->policy_text);
	memset(e, 0, sizeof(*e));
}

/* Take a line that must read "<key>: <value>" (at most CACHE_LINE_MAX bytes). */
static bool cache_take_value(struct dg_cursor *c, const char *key, struct cache_line *val)
{
	size_t start = dg_cursor_offset(c), klen = strlen(key), left = dg_cursor_remaining(c);
	size_t scan = left < CACHE_LINE_MAX + 1 ? left : CACHE_LINE_MAX + 1, n;
	const uint8_t *nl;
	const char *p;

	if (!dg_cursor_ok(c))
		return false;
	nl = memchr(c->p + c->off, '\n', scan);
	if (nl == NULL) {
		dg_cursor_fail(c,
		               scan > CACHE_LINE_MAX ? "header line too long" : "truncated header");
		return false;
	}
	n = (size_t)(nl - (c->p + c->off));
	p = (const char *)dg_cursor_bytes(c, n + 1);
	if (p == NULL)
		return false;
	if (n < klen + 2 || memcmp(p, key, klen) != 0 || p[klen] != ':' || p[klen + 1] != ' ') {
		c->off = start; /* report the offset of the line */
		dg_cursor_fail(c, "unexpected header line");
		return false;
	}
	val->p = p + klen + 2;
	val->len = n - klen - 2;
	return true;
}

/* Canonical decimal: digits only, no leading zero (except "0"), at most @p max. */
static bool cache_num(const struct cache_line *v, uint64_t max, uint64_t *out)
{
	uint64_t n = 0;

	if (v->len == 0 || v->len > 20 || (v->len > 1 && v->p[0] == '0'))
		return false;
	for (size_t i = 0; i < v->len; i++) {
		unsigned d = (unsigned)(v->p[i] - '0');

		if (!dg_ascii_isdigit(v->p[i]) || n > (max - d) / 10)
			return false;
		n = n * 10 + d;
	}
	*out = n;
	return true;
}

/* A policy id (SPEC STS-1: 1..32 letters or digits), or "-" for none (out = ""). */
static bool cache_id(const struct cache_line *v, char out[DG_STS_ID_MAX + 1])
{
	if (v->len == 1 && v->p[0] == '-') {
		out[0] = '\0';
		return true;
	}
	if (v->len == 0 || v->len > DG_STS_ID_MAX)
		return false;
	for (size_t i = 0; i < v->len; i++)
		if (!dg_ascii_isalnum(v->p[i]))
			return false;
	memcpy(out, v->p, v->len);
	out[v->len] = '\0';
	return true;
}

static bool cache_id_ok(const char *id, bool may_be_empty)
{
	size_t n = strnlen(id, DG_STS_ID_MAX + 1);

	if (n == 0)
		return may_be_empty;
	if (n > DG_STS_ID_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!dg_ascii_isalnum(id[i]))
			return false;
	return true;
}

/* The header lines up to and including "policy: N"; leaves the body length in policy_len. */
static void cache_parse_head(struct dg_cursor *c, struct dg_sts_cache_entry *out)
{
	struct cache_line v;
	uint64_t n;
	char name[DG_NAME_BUF_SIZE];

	if (cache_take_value(c, "daneguard-sts-cache", &v) && !(v.len == 1 && v.p[0] == '1'))
		dg_cursor_fail(c, "unknown version");
	if (cache_take_value(c, "domain", &v)) {
		memcpy(name, v.p, v.len < DG_NAME_MAX ? v.len : DG_NAME_MAX);
		name[v.len < DG_NAME_MAX ? v.len : DG_NAME_MAX] = '\0';
		if (v.len > DG_NAME_MAX || memchr(v.p, '\0', v.len) != NULL ||
		    dg_name_normalize(name, out->domain, sizeof(out->domain), NULL) != DG_OK ||
		    strcmp(name, out->domain) != 0)
			dg_cursor_fail(c, "bad domain (not a normalized DNS name)");
	}
	if (cache_take_value(c, "id", &v) && !cache_id(&v, out->id))
		dg_cursor_fail(c, "bad id");
	if (cache_take_value(c, "fetched", &v) && !cache_num(&v, CACHE_TIME_MAX, &out->fetched_s))
		dg_cursor_fail(c, "bad fetched time");
	if (cache_take_value(c, "fail-id", &v) && !cache_id(&v, out->fail_id))
		dg_cursor_fail(c, "bad fail-id");
	if (cache_take_value(c, "last-fail", &v) &&
	    !cache_num(&v, CACHE_TIME_MAX, &out->last_fail_s))
		dg_cursor_fail(c, "bad last-fail time");
	if (cache_take_value(c, "policy", &v)) {
		if (!cache_num(&v, DG_STS_POLICY_MAX_BYTES, &n))
			dg_cursor_fail(c, "bad policy length");
		else
			out->policy_len = (size_t)n;
	}
}

enum dg_status dg_sts_cache_entry_parse(const uint8_t *p, size_t len,
                                        struct dg_sts_cache_entry *out, struct dg_err *err)
{
	struct dg_cursor c;
	const uint8_t *body;

	memset(out, 0, sizeof(*out));
	if (len > CACHE_FILE_MAX)
		return dg_err_set(err, DG_E_LIMIT, "MTA-STS cache file of %zu bytes (at most %d)",
		                  len, CACHE_FILE_MAX);
	dg_cursor_init(&c, p, len);
	cache_parse_head(&c, out);
	body = dg_cursor_bytes(&c, out->policy_len);
	dg_cursor_expect_end(&c);
	if (dg_cursor_err(&c, "MTA-STS cache file", err) != DG_OK) {
		out->policy_len = 0;
		return DG_E_PARSE;
	}
	if (out->policy_len > 0) {
		out->policy_text = dg_xmalloc(out->policy_len + 1);
		memcpy(out->policy_text, body, out->policy_len);
		out->policy_text[out->policy_len] = '\0';
	}
	return cache_check(out, err);
}

/* The rules between fields, shared by the parser and the writer. */
static enum dg_status cache_check(const struct dg_sts_cache_entry *e, struct dg_err *err)
{
	struct dg_sts_policy pol;
	struct dg_err perr;
	enum dg_status st;
	bool has = e->policy_len > 0;

	if (!cache_id_ok(e->id, true) || !cache_id_ok(e->fail_id, true))
		return dg_err_set(err, DG_E_PARSE, "MTA-STS cache %s: bad policy id", e->domain);
	if (has != (e->id[0] != '\0') || has != (e->fetched_s != 0) ||
	    (has && e->policy_text == NULL))
		return dg_err_set(err, DG_E_PARSE,
		                  "MTA-STS cache %s: id, fetched time and policy "
		                  "must be all set or all empty",
		                  e->domain);
	if ((e->fail_id[0] != '\0') != (e->last_fail_s != 0))
		return dg_err_set(err, DG_E_PARSE,
		                  "MTA-STS cache %s: fail-id and last-fail must "
		                  "be both set or both empty",
		                  e->domain);
	if (e->fetched_s > CACHE_TIME_MAX || e->last_fail_s > CACHE_TIME_MAX)
		return dg_err_set(err, DG_E_PARSE, "MTA-STS cache %s: time out of range",
		                  e->domain);
	if (!has)
		return DG_OK;
	dg_err_clear(&perr);
	st = dg_sts_policy_parse((const uint8_t *)e->policy_text, e->policy_len, &pol, &perr);
	dg_sts_policy_cleanup(&pol);
	if (st != DG_OK)
		return dg_err_set(err, DG_E_PARSE, "MTA-STS cache %s: cached policy: %s", e->domain,
		                  perr.msg);
	return DG_OK;
}

enum dg_status dg_sts_cache_entry_format(const struct dg_sts_cache_entry *e, uint8_t **out,
                                         size_t *len, struct dg_err *err)
{
	struct dg_buf b;
	char name[DG_NAME_BUF_SIZE];
	enum dg_status st;

	*out = NULL;
	*len = 0;
	if (dg_name_normalize(e->domain, name, sizeof(name), NULL) != DG_OK ||
	    strcmp(name, e->domain) != 0)
		return dg_err_set(err, DG_E_PARSE, "MTA-STS cache: bad domain");
	if (e->policy_len > DG_STS_POLICY_MAX_BYTES)
		return dg_err_set(err, DG_E_LIMIT, "MTA-STS cache %s: policy of %zu bytes",
		                  e->domain, e->policy_len);
	if ((st = cache_check(e, err)) != DG_OK)
		return st;
	dg_buf_init(&b, CACHE_FILE_MAX);
	st = dg_buf_printf(&b,
	                   "daneguard-sts-cache: %d\ndomain: %s\nid: %s\nfetched: %" PRIu64
	                   "\nfail-id: %s\nlast-fail: %" PRIu64 "\npolicy: %zu\n",
	                   DG_STS_CACHE_VERSION, e->domain, e->id[0] ? e->id : "-", e->fetched_s,
	                   e->fail_id[0] ? e->fail_id : "-", e->last_fail_s, e->policy_len);
	if (st == DG_OK && e->policy_len > 0)
		st = dg_buf_append(&b, e->policy_text, e->policy_len);
	if (st != DG_OK) {
		dg_buf_cleanup(&b);
		return dg_err_set(err, DG_E_LIMIT, "MTA-STS cache %s: entry too large", e->domain);
	}
	*len = dg_buf_len(&b);
	*out = (uint8_t *)dg_buf_take(&b);
	return DG_OK;
}

/* ---- the directory ----------------------------------------------------------------- */

static enum dg_status cache_path(const struct dg_sts_cache *c, const char *name, char *out,
                                 size_t out_size, struct dg_err *err)
{
	int n = snprintf(out, out_size, "%s/%s", c->dir, name);

	if (n < 0 || (size_t)n >= out_size)
		return dg_err_set(err, DG_E_CONFIG, "MTA-STS cache %s: path too long", c->dir);
	return DG_OK;
}

/* Remove temporary files of writes that never reached their rename. */
static void cache_remove_temps(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char path[PATH_MAX];

	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if (strncmp(de->d_name, CACHE_TMP_PREFIX, strlen(CACHE_TMP_PREFIX)) != 0)
			continue;
		if (snprintf(path, sizeof(path), "%s/%s", dir, de->d_name) >= (int)sizeof(path))
			continue;
		if (unlink(path) == 0)
			DG_LOG(NULL, DG_LOG_INFO, "sts-cache recover removed=%s", path);
	}
	closedir(d);
}

enum dg_status dg_sts_cache_open(const char *dir, struct dg_sts_cache **out, struct dg_err *err)
{
	struct stat sb;

	*out = NULL;
	if (dir == NULL || dir[0] == '\0' || strlen(dir) > PATH_MAX - DG_NAME_BUF_SIZE - 2)
		return dg_err_set(err, DG_E_CONFIG, "MTA-STS cache directory: empty or too long");
	if (mkdir(dir, 0700) != 0 && errno != EEXIST)
		return dg_err_set_errno(err, DG_E_IO, errno, "MTA-STS cache %s: mkdir", dir);
	if (stat(dir, &sb) != 0)
		return dg_err_set_errno(err, DG_E_IO, errno, "MTA-STS cache %s: stat", dir);
	if (!S_ISDIR(sb.st_mode))
		return dg_err_set(err, DG_E_IO, "MTA-STS cache %s: not a directory", dir);
	cache_remove_temps(dir);
	*out = dg_xcalloc(1, sizeof(**out));
	(*out)->dir = dg_xstrdup(dir);
	return DG_OK;
}

void dg_sts_cache_free(struct dg_sts_cache *c)
{
	if (c == NULL)
		return;
	free(c->dir);
	free(c);
}

/* Read a whole cache file (regular, not a symlink, capped). */
static enum dg_status cache_read(const char *path, uint8_t **out, size_t *len, struct dg_err *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	struct stat sb;
	enum dg_status st = DG_OK;
	size_t done = 0;

	*out = NULL;
	*len = 0;
	if (fd < 0)
		return dg_err_set_errno(err, errno == ENOENT ? DG_E_NOTFOUND : DG_E_IO, errno,
		                        "MTA-STS cache %s: open", path);
	if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) || sb.st_size > CACHE_FILE_MAX) {
		close(fd);
		return dg_err_set(err, DG_E_PARSE,
		                  "MTA-STS cache %s: not a regular file of at "
		                  "most %d bytes",
		                  path, CACHE_FILE_MAX);
	}
	*out = dg_xmalloc((size_t)sb.st_size + 1);
	while (st == DG_OK && done < (size_t)sb.st_size) {
		ssize_t n = read(fd, *out + done, (size_t)sb.st_size - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			st = dg_err_set_errno(err, DG_E_IO, errno, "MTA-STS cache %s: read", path);
		else if (n == 0)
			break; /* shrank under us: the parser sees a short file */
		else
			done += (size_t)n;
	}
	close(fd);
	if (st != DG_OK) {
		free(*out);
		*out = NULL;
		return st;
	}
	*len = done;
	return DG_OK;
}

enum dg_status dg_sts_cache_get(struct dg_sts_cache *c, const char *domain,
                                struct dg_sts_cache_entry *out, struct dg_err *err)
{
	char name[DG_NAME_BUF_SIZE], path[PATH_MAX];
	uint8_t *data = NULL;
	size_t len = 0;
	enum dg_status st;
	struct dg_err e;

	memset(out, 0, sizeof(*out));
	dg_err_clear(&e);
	if (domain == NULL || dg_name_normalize(domain, name, sizeof(name), NULL) != DG_OK)
		return dg_err_set(err, DG_E_PARSE, "MTA-STS cache: bad policy domain");
	if ((st = cache_path(c, name, path, sizeof(path), err)) != DG_OK)
		return st;
	st = cache_read(path, &data, &len, &e);
	if (st == DG_OK) {
		st = dg_sts_cache_entry_parse(data, len, out, &e);
		if (st == DG_OK && strcmp(out->domain, name) != 0)
			st = dg_err_set(&e, DG_E_PARSE, "MTA-STS cache: file holds domain %s",
			                out->domain);
	}
	free(data);
	if (st == DG_OK)
		return DG_OK;
	dg_sts_cache_entry_cleanup(out);
	if (st == DG_E_PARSE || st == DG_E_LIMIT) {
		DG_LOG(NULL, DG_LOG_WARN, "sts-cache corrupt file=%s reason=\"%s\" treated=absent",
		       path, e.msg);
		return dg_err_set(err, DG_E_NOTFOUND,
		                  "MTA-STS cache %s: corrupt (%s), treated as "
		                  "absent",
		                  path, e.msg);
	}
	if (err != NULL)
		*err = e;
	return st;
}

/* Create @p tmp exclusively, write, fsync, close; on failure the file is removed. */
static enum dg_status cache_write_temp(const char *tmp, const uint8_t *p, size_t len,
                                       struct dg_err *err)
{
	int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	enum dg_status st = DG_OK;
	size_t done = 0;

	if (fd < 0)
		return dg_err_set_errno(err, DG_E_IO, errno, "MTA-STS cache %s: create", tmp);
	while (st == DG_OK && done < len) {
		ssize_t n = write(fd, p + done, len - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			st = dg_err_set_errno(err, DG_E_IO, n == 0 ? EIO : errno,
			                      "MTA-STS cache %s: write", tmp);
		else
			done += (size_t)n;
	}
	if (st == DG_OK && fsync(fd) != 0)
		st = dg_err_set_errno(err, DG_E_IO, errno, "MTA-STS cache %s: fsync", tmp);
	if (close(fd) != 0 && st == DG_OK)
		st = dg_err_set_errno(err, DG_E_IO, errno, "MTA-STS cache %s: close", tmp);
	if (st != DG_OK)
		unlink(tmp);
	return st;
}

static enum dg_status cache_fsync_dir(const char *dir, struct dg_err *err)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	enum dg_status st = DG_OK;

	if (fd < 0)
		return dg_err_set_errno(err, DG_E_IO, errno, "MTA-STS cache %s: open", dir);
	if (fsync(fd) != 0)
		st = dg_err_set_errno(err, DG_E_IO, errno, "MTA-STS cache %s: fsync", dir);
	close(fd);
	return st;
}

enum dg_status dg_sts_cache_put(struct dg_sts_cache *c, const struct dg_sts_cache_entry *e,
                                struct dg_err *err)
{
	char tmpname[64], tmp[PATH_MAX], dst[PATH_MAX];
	uint8_t *data = NULL;
	size_t len = 0;
	enum dg_status st;

	if ((st = dg_sts_cache_entry_format(e, &data, &len, err)) != DG_OK)
		return st;
	snprintf(tmpname, sizeof(tmpname), CACHE_TMP_PREFIX "%ld-%u", (long)getpid(), c->seq++);
	if ((st = cache_path(c, tmpname, tmp, sizeof(tmp), err)) != DG_OK ||
	    (st = cache_path(c, e->domain, dst, sizeof(dst), err)) != DG_OK ||
	    (st = cache_write_temp(tmp, data, len, err)) != DG_OK)
		goto out;
	if (rename(tmp, dst) != 0) {
		st = dg_err_set_errno(err, DG_E_IO, errno, "MTA-STS cache %s: rename to %s", tmp,
		                      dst);
		unlink(tmp);
		goto out;
	}
	st = cache_fsync_dir(c->dir, err);
out:
	free(data);
	return st;
}

/* ---- the decision ------------------------------------------------------------------ */

static void why_set(char *why, size_t why_size, const char *fmt, ...)
{
	va_list ap;

	if (why == NULL || why_size == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(why, why_size, fmt, ap);
	va_end(ap);
}

/* SPEC STS-4: the cached policy parses and now < fetched + max_age. */
static bool cache_policy_valid(const struct dg_sts_cache_entry *e, uint64_t now_s,
                               uint32_t *max_age_s)
{
	struct dg_sts_policy pol;
	bool ok;

	*max_age_s = 0;
	if (e == NULL || e->policy_text == NULL || e->policy_len == 0 || e->fetched_s == 0 ||
	    e->fetched_s > now_s || e->fetched_s > CACHE_TIME_MAX)
		return false;
	ok = dg_sts_policy_parse((const uint8_t *)e->policy_text, e->policy_len, &pol, NULL) ==
	     DG_OK;
	*max_age_s = pol.max_age_s;
	dg_sts_policy_cleanup(&pol);
	return ok && now_s < e->fetched_s + *max_age_s;
}

enum dg_sts_cache_action dg_sts_cache_decide(const struct dg_sts_cache_entry *cached,
                                             bool txt_valid, const char *txt_id, uint64_t now_s,
                                             char *why, size_t why_size)
{
	uint32_t max_age_s;
	bool valid = cache_policy_valid(cached, now_s, &max_age_s), same_id;
	uint64_t age = valid ? now_s - cached->fetched_s : 0;

	if (txt_valid && (txt_id == NULL || txt_id[0] == '\0' || !cache_id_ok(txt_id, false)))
		txt_valid = false; /* not an id SPEC STS-1 allows: the record cannot be valid */
	same_id = valid && txt_valid && strcmp(cached->id, txt_id) == 0;
	if (!txt_valid) { /* SPEC STS-1, STS-4 */
		if (valid) {
			why_set(why, why_size,
			        "no valid _mta-sts TXT record, but the policy cached "
			        "%" PRIu64 " s ago (id %s, max_age %" PRIu32 ") has not expired "
			        "(RFC 8461 3.1, 5.1)",
			        age, cached->id, max_age_s);
			return DG_STS_USE_CACHED;
		}
		why_set(why, why_size,
		        "no valid _mta-sts TXT record and no unexpired cached policy");
		return DG_STS_NONE;
	}
	if (same_id && age < DG_STS_CACHE_REFRESH_S) {
		why_set(why, why_size,
		        "policy id %s unchanged, cached %" PRIu64 " s ago (max_age "
		        "%" PRIu32 ")",
		        txt_id, age, max_age_s);
		return DG_STS_USE_CACHED;
	}
	/* SPEC STS-2: at most one fetch per 5 minutes for an id whose fetch failed */
	if (cached != NULL && cached->last_fail_s != 0 && cached->last_fail_s <= now_s &&
	    now_s - cached->last_fail_s < DG_STS_CACHE_RETRY_S &&
	    strcmp(cached->fail_id, txt_id) == 0) {
		if (valid) {
			why_set(why, why_size,
			        "fetch for policy id %s failed %" PRIu64 " s ago, not "
			        "retried within %u s; the cached policy (id %s) has not expired "
			        "(RFC 8461 3.3, 5.1)",
			        txt_id, now_s - cached->last_fail_s, DG_STS_CACHE_RETRY_S,
			        cached->id);
			return DG_STS_USE_CACHED;
		}
		why_set(why, why_size,
		        "fetch for policy id %s failed %" PRIu64 " s ago, not "
		        "retried within %u s, and no unexpired policy is cached (RFC 8461 3.3)",
		        txt_id, now_s - cached->last_fail_s, DG_STS_CACHE_RETRY_S);
		return DG_STS_NONE;
	}
	if (!valid)
		why_set(why, why_size, "policy id %s: no unexpired policy cached", txt_id);
	else if (!same_id)
		why_set(why, why_size, "policy id changed from %s to %s (RFC 8461 5.1)", cached->id,
		        txt_id);
	else
		why_set(why, why_size, "policy id %s cached %" PRIu64 " s ago: daily refresh",
		        txt_id, age);
	return DG_STS_FETCH;
}

const char *dg_sts_cache_action_str(enum dg_sts_cache_action a)
{
	switch (a) {
	case DG_STS_USE_CACHED: return "use-cached";
	case DG_STS_FETCH: return "fetch";
	case DG_STS_NONE: return "none";
	}
	return "unknown";
}
