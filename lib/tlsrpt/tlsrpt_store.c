/*
 * tlsrpt_store.c - the crash-safe store of TLS-RPT session results (RFC 8460, issue 9).
 *
 * Public: dg_tlsrpt_event_parse, dg_tlsrpt_event_cleanup, dg_tlsrpt_event_format,
 * dg_tlsrpt_policy_type_str, dg_tlsrpt_day_name, dg_tlsrpt_day_parse, dg_tlsrpt_store_open,
 * dg_tlsrpt_store_append, dg_tlsrpt_store_sync, dg_tlsrpt_store_dir, dg_tlsrpt_store_free,
 * dg_tlsrpt_sent_load, dg_tlsrpt_sent_record, dg_tlsrpt_sent_state, dg_tlsrpt_sent_free.
 *
 * Layout: DIR/YYYY-MM-DD.events is an append-only journal, one JSON object per line per
 * session outcome, each line self-contained (report domain, rua, policy, outcome), written
 * with one write(2) on an O_APPEND descriptor and fsynced in batches (dg_tlsrpt_store_sync).
 * DIR/YYYY-MM-DD.sent records each delivery attempt of a report, fsynced per line, so a
 * restart neither resends nor forgets a failure (SPEC RPT-7 retry). Readers skip lines that
 * do not parse: after a machine crash the last line may be torn; that is never fatal.
 * The line parser is pure (STYLE 7) and fuzzed (tests/fuzz/fuzz_tlsrpt_store.c).
 * Ownership: the store owns its descriptor and directory path; parsed events own their
 * JSON tree (ev->priv) and point into it.
 */
#include "tlsrpt_int.h"

#include <daneguard/util.h>

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define STORE_PATH_MAX 4096
#define SENT_ENTRIES_MAX 100000u
#define SENT_FILE_MAX (64u * 1024u * 1024u)

struct dg_tlsrpt_store {
	char *dir;
	int fd; /**< journal of @c fd_day, -1 if none open */
	char fd_day[DG_TLSRPT_DAY_SIZE];
	bool dirty; /**< written since the last fsync */
};

struct sent_entry {
	char *domain, *rua;
	bool ok;
	unsigned failures;
	uint64_t first_s, last_s;
};

struct dg_tlsrpt_sent {
	char *path;
	struct sent_entry *e;
	size_t n, cap;
};

static enum dg_status ev_str(json_t *o, const char *key, bool required, const char **out,
                             struct dg_err *err);
static enum dg_status ev_list(json_t *o, const char *key, size_t max, const char **out, size_t *n,
                              struct dg_err *err);
static enum dg_status ev_check(const struct dg_tlsrpt_event *ev, struct dg_err *err);
static json_t *ev_json_list(const char *const *v, size_t n);
static enum dg_status store_path(const char *dir, const char *day, const char *ext, char *out,
                                 size_t size, struct dg_err *err);
static enum dg_status read_file(const char *path, size_t max, char **out, size_t *len,
                                struct dg_err *err);
static enum dg_status journal_end_line(int fd, const char *path, struct dg_err *err);
static struct sent_entry *sent_find(const struct dg_tlsrpt_sent *s, const char *domain,
                                    const char *rua, bool create);
static void sent_count(struct dg_tlsrpt_sent *s, const char *domain, const char *rua, bool ok,
                       uint64_t t);
static void sent_line(struct dg_tlsrpt_sent *s, const char *p, size_t len);

const char *dg_tlsrpt_policy_type_str(enum dg_tlsrpt_policy_type t)
{
	switch (t) {
	case DG_TLSRPT_POLICY_TLSA: return "tlsa";
	case DG_TLSRPT_POLICY_STS: return "sts";
	case DG_TLSRPT_POLICY_NONE: break;
	}
	return "no-policy-found";
}

void dg_tlsrpt_day_name(uint64_t t, char out[DG_TLSRPT_DAY_SIZE])
{
	time_t tt = (time_t)t;
	struct tm tm;
	unsigned y, m, d;

	if (gmtime_r(&tt, &tm) == NULL || tm.tm_year + 1900 > 9999 || tm.tm_year + 1900 < 0) {
		memcpy(out, "1970-01-01", DG_TLSRPT_DAY_SIZE);
		return;
	}
	y = (unsigned)(tm.tm_year + 1900) % 10000u;
	m = (unsigned)(tm.tm_mon + 1) % 100u;
	d = (unsigned)tm.tm_mday % 100u;
	snprintf(out, DG_TLSRPT_DAY_SIZE, "%04u-%02u-%02u", y, m, d);
}

enum dg_status dg_tlsrpt_day_parse(const char *day, uint64_t *start)
{
	uint32_t y, m, d;
	struct tm tm;
	time_t t;
	char back[DG_TLSRPT_DAY_SIZE];

	if (day == NULL || strlen(day) != 10 || day[4] != '-' || day[7] != '-' ||
	    dg_parse_u32n(day, 4, 1970, 9999, &y) != DG_OK ||
	    dg_parse_u32n(day + 5, 2, 1, 12, &m) != DG_OK ||
	    dg_parse_u32n(day + 8, 2, 1, 31, &d) != DG_OK)
		return DG_E_PARSE;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = (int)y - 1900;
	tm.tm_mon = (int)m - 1;
	tm.tm_mday = (int)d;
	t = timegm(&tm);
	if (t < 0)
		return DG_E_PARSE;
	dg_tlsrpt_day_name((uint64_t)t, back); /* 2025-02-30 normalises to March: refuse */
	if (strcmp(back, day) != 0)
		return DG_E_PARSE;
	*start = (uint64_t)t;
	return DG_OK;
}

/* ---- journal lines ---------------------------------------------------------------------- */

static enum dg_status ev_str(json_t *o, const char *key, bool required, const char **out,
                             struct dg_err *err)
{
	json_t *v = json_object_get(o, key);

	*out = NULL;
	if (v == NULL || json_is_null(v))
		return required ? dg_err_set(err, DG_E_PARSE, "journal: \"%s\" missing", key)
		                : DG_OK;
	if (!json_is_string(v) || json_string_length(v) == 0 ||
	    json_string_length(v) > DG_TLSRPT_FIELD_MAX ||
	    strlen(json_string_value(v)) != json_string_length(v))
		return dg_err_set(err, DG_E_PARSE, "journal: \"%s\" is not a string of 1..%d bytes",
		                  key, DG_TLSRPT_FIELD_MAX);
	*out = json_string_value(v);
	return DG_OK;
}

static enum dg_status ev_list(json_t *o, const char *key, size_t max, const char **out, size_t *n,
                              struct dg_err *err)
{
	json_t *a = json_object_get(o, key), *v;
	size_t i;

	*n = 0;
	if (a == NULL)
		return DG_OK;
	if (!json_is_array(a))
		return dg_err_set(err, DG_E_PARSE, "journal: \"%s\" is not an array", key);
	if (json_array_size(a) > max)
		return dg_err_set(err, DG_E_LIMIT, "journal: \"%s\" has more than %zu elements",
		                  key, max);
	json_array_foreach(a, i, v)
	{
		if (!json_is_string(v) || json_string_length(v) == 0 ||
		    json_string_length(v) > DG_TLSRPT_FIELD_MAX ||
		    strlen(json_string_value(v)) != json_string_length(v))
			return dg_err_set(err, DG_E_PARSE, "journal: \"%s\"[%zu] is not a string",
			                  key, i);
		out[(*n)++] = json_string_value(v);
	}
	return DG_OK;
}

enum dg_status dg_tlsrpt_event_parse(const char *p, size_t len, struct dg_tlsrpt_event *ev,
                                     struct dg_err *err)
{
	json_error_t jerr;
	json_t *root, *v;
	const char *pt = NULL;
	enum dg_status st;

	memset(ev, 0, sizeof(*ev));
	if (len > DG_TLSRPT_LINE_MAX)
		return dg_err_set(err, DG_E_LIMIT, "journal line of %zu bytes (max %u)", len,
		                  DG_TLSRPT_LINE_MAX);
	root = json_loadb(p, len, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL)
		return dg_err_set(err, DG_E_PARSE, "journal line: %s at byte %d", jerr.text,
		                  jerr.position);
	ev->priv = root;
	st = DG_E_PARSE;
	if (!json_is_object(root)) {
		dg_err_set(err, DG_E_PARSE, "journal line is not an object");
		goto fail;
	}
	v = json_object_get(root, "v");
	if (!json_is_integer(v) || json_integer_value(v) != 1) {
		dg_err_set(err, DG_E_PARSE, "journal line: version is not 1");
		goto fail;
	}
	v = json_object_get(root, "t");
	if (!json_is_integer(v) || json_integer_value(v) < 0) {
		dg_err_set(err, DG_E_PARSE, "journal line: \"t\" is not a time");
		goto fail;
	}
	ev->time_s = (uint64_t)json_integer_value(v);
	v = json_object_get(root, "ok");
	if (!json_is_boolean(v)) {
		dg_err_set(err, DG_E_PARSE, "journal line: \"ok\" is not a boolean");
		goto fail;
	}
	ev->success = json_is_true(v);
	if ((st = ev_str(root, "d", true, &ev->report_domain, err)) != DG_OK ||
	    (st = ev_str(root, "pt", true, &pt, err)) != DG_OK ||
	    (st = ev_str(root, "pd", true, &ev->policy_domain, err)) != DG_OK ||
	    (st = ev_str(root, "rt", false, &ev->result_type, err)) != DG_OK ||
	    (st = ev_str(root, "smip", false, &ev->sending_ip, err)) != DG_OK ||
	    (st = ev_str(root, "mxh", false, &ev->mx_host, err)) != DG_OK ||
	    (st = ev_str(root, "rip", false, &ev->receiving_ip, err)) != DG_OK ||
	    (st = ev_str(root, "code", false, &ev->reason_code, err)) != DG_OK ||
	    (st = ev_list(root, "rua", DG_TLSRPT_RUA_MAX, ev->rua, &ev->n_rua, err)) != DG_OK ||
	    (st = ev_list(root, "ps", DG_TLSRPT_STRINGS_MAX, ev->strings, &ev->n_strings, err)) !=
	        DG_OK ||
	    (st = ev_list(root, "mx", DG_TLSRPT_MX_MAX, ev->mx, &ev->n_mx, err)) != DG_OK)
		goto fail;
	if (strcmp(pt, "tlsa") == 0)
		ev->policy_type = DG_TLSRPT_POLICY_TLSA;
	else if (strcmp(pt, "sts") == 0)
		ev->policy_type = DG_TLSRPT_POLICY_STS;
	else if (strcmp(pt, "no-policy-found") == 0)
		ev->policy_type = DG_TLSRPT_POLICY_NONE;
	else {
		st = dg_err_set(err, DG_E_PARSE, "journal line: unknown policy type");
		goto fail;
	}
	if ((st = ev_check(ev, err)) != DG_OK)
		goto fail;
	return DG_OK;
fail:
	dg_tlsrpt_event_cleanup(ev);
	return st;
}

void dg_tlsrpt_event_cleanup(struct dg_tlsrpt_event *ev)
{
	if (ev == NULL)
		return;
	json_decref(ev->priv);
	memset(ev, 0, sizeof(*ev));
}

/* What both the writer and the reader insist on. */
static enum dg_status ev_check(const struct dg_tlsrpt_event *ev, struct dg_err *err)
{
	if (ev->report_domain == NULL || ev->report_domain[0] == '\0' ||
	    ev->policy_domain == NULL || ev->policy_domain[0] == '\0')
		return dg_err_set(err, DG_E_PARSE, "event: report and policy domain required");
	if (ev->n_rua == 0 || ev->n_rua > DG_TLSRPT_RUA_MAX)
		return dg_err_set(err, DG_E_PARSE, "event: 1..%d rua required", DG_TLSRPT_RUA_MAX);
	if (ev->n_strings > DG_TLSRPT_STRINGS_MAX || ev->n_mx > DG_TLSRPT_MX_MAX)
		return dg_err_set(err, DG_E_LIMIT, "event: too many policy strings or mx patterns");
	if (!ev->success && (ev->result_type == NULL || ev->result_type[0] == '\0'))
		return dg_err_set(err, DG_E_PARSE, "event: a failure needs a result type");
	return DG_OK;
}

static json_t *ev_json_list(const char *const *v, size_t n)
{
	json_t *a = json_array();

	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, json_string(v[i] != NULL ? v[i] : ""));
	return a;
}

enum dg_status dg_tlsrpt_event_format(const struct dg_tlsrpt_event *ev, char **out,
                                      struct dg_err *err)
{
	json_t *o;
	char *text;
	size_t n;
	enum dg_status st;

	*out = NULL;
	if ((st = ev_check(ev, err)) != DG_OK)
		return st;
	o = json_object();
	json_object_set_new(o, "v", json_integer(1));
	json_object_set_new(o, "t", json_integer((json_int_t)ev->time_s));
	json_object_set_new(o, "d", json_string(ev->report_domain));
	json_object_set_new(o, "rua", ev_json_list(ev->rua, ev->n_rua));
	json_object_set_new(o, "pt", json_string(dg_tlsrpt_policy_type_str(ev->policy_type)));
	json_object_set_new(o, "pd", json_string(ev->policy_domain));
	if (ev->n_strings > 0)
		json_object_set_new(o, "ps", ev_json_list(ev->strings, ev->n_strings));
	if (ev->n_mx > 0)
		json_object_set_new(o, "mx", ev_json_list(ev->mx, ev->n_mx));
	json_object_set_new(o, "ok", json_boolean(ev->success));
	if (!ev->success) {
		const char *keys[] = {"rt", "smip", "mxh", "rip", "code"};
		const char *vals[] = {ev->result_type, ev->sending_ip, ev->mx_host,
		                      ev->receiving_ip, ev->reason_code};

		for (size_t i = 0; i < 5; i++)
			if (vals[i] != NULL && vals[i][0] != '\0')
				json_object_set_new(o, keys[i], json_string(vals[i]));
	}
	text = json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII);
	json_decref(o);
	if (text == NULL)
		return dg_err_set(err, DG_E_PARSE, "event for %s: not encodable (bad UTF-8?)",
		                  ev->report_domain);
	n = strlen(text);
	if (n > DG_TLSRPT_LINE_MAX) {
		free(text);
		return dg_err_set(err, DG_E_LIMIT, "event for %s: line of %zu bytes (max %u)",
		                  ev->report_domain, n, DG_TLSRPT_LINE_MAX);
	}
	*out = dg_xmalloc(n + 2);
	memcpy(*out, text, n);
	(*out)[n] = '\n';
	(*out)[n + 1] = '\0';
	free(text);
	return DG_OK;
}

/* ---- the store --------------------------------------------------------------------------- */

static enum dg_status store_path(const char *dir, const char *day, const char *ext, char *out,
                                 size_t size, struct dg_err *err)
{
	int n = snprintf(out, size, "%s/%s.%s", dir, day, ext);

	if (n < 0 || (size_t)n >= size)
		return dg_err_set(err, DG_E_CONFIG, "TLS-RPT store %s: path too long", dir);
	return DG_OK;
}

enum dg_status dg_tlsrpt_store_open(const char *dir, struct dg_tlsrpt_store **out,
                                    struct dg_err *err)
{
	struct dg_tlsrpt_store *s;

	*out = NULL;
	if (strlen(dir) > STORE_PATH_MAX - 32)
		return dg_err_set(err, DG_E_CONFIG, "TLS-RPT store %s: path too long", dir);
	if (mkdir(dir, 0750) != 0 && errno != EEXIST)
		return dg_err_set_errno(err, DG_E_IO, errno, "TLS-RPT store %s: mkdir", dir);
	s = dg_xcalloc(1, sizeof(*s));
	s->dir = dg_xstrdup(dir);
	s->fd = -1;
	*out = s;
	return DG_OK;
}

const char *dg_tlsrpt_store_dir(const struct dg_tlsrpt_store *s)
{
	return s->dir;
}

/*
 * A journal whose last line was torn by a crash gets a newline first, so the torn fragment
 * stays one unreadable line and the next event is not glued to it.
 */
static enum dg_status journal_end_line(int fd, const char *path, struct dg_err *err)
{
	struct stat sb;
	char last = '\n';

	if (fstat(fd, &sb) != 0)
		return dg_err_set_errno(err, DG_E_IO, errno, "TLS-RPT journal %s: stat", path);
	if (sb.st_size > 0 && pread(fd, &last, 1, sb.st_size - 1) != 1)
		return dg_err_set_errno(err, DG_E_IO, errno, "TLS-RPT journal %s: read", path);
	if (last != '\n' && write(fd, "\n", 1) != 1)
		return dg_err_set_errno(err, DG_E_IO, errno, "TLS-RPT journal %s: write", path);
	return DG_OK;
}

enum dg_status dg_tlsrpt_store_append(struct dg_tlsrpt_store *s, const struct dg_tlsrpt_event *ev,
                                      struct dg_err *err)
{
	char day[DG_TLSRPT_DAY_SIZE], path[STORE_PATH_MAX];
	char *line = NULL;
	size_t len;
	ssize_t w;
	enum dg_status st;

	if ((st = dg_tlsrpt_event_format(ev, &line, err)) != DG_OK)
		return st;
	dg_tlsrpt_day_name(ev->time_s, day);
	if (s->fd < 0 || strcmp(day, s->fd_day) != 0) {
		if (s->fd >= 0) {
			(void)dg_tlsrpt_store_sync(s, NULL);
			close(s->fd);
			s->fd = -1;
		}
		if ((st = store_path(s->dir, day, "events", path, sizeof(path), err)) != DG_OK)
			goto out;
		s->fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
		if (s->fd < 0) {
			st =
			    dg_err_set_errno(err, DG_E_IO, errno, "TLS-RPT journal %s: open", path);
			goto out;
		}
		snprintf(s->fd_day, sizeof(s->fd_day), "%s", day);
		if ((st = journal_end_line(s->fd, path, err)) != DG_OK) {
			close(s->fd);
			s->fd = -1;
			goto out;
		}
	}
	len = strlen(line);
	/* one write per line: a torn line can only come from a machine crash */
	w = write(s->fd, line, len);
	if (w < 0 || (size_t)w != len) {
		st = dg_err_set_errno(err, DG_E_IO, w < 0 ? errno : ENOSPC,
		                      "TLS-RPT journal %s/%s.events: write", s->dir, day);
		goto out;
	}
	s->dirty = true;
out:
	free(line);
	return st;
}

enum dg_status dg_tlsrpt_store_sync(struct dg_tlsrpt_store *s, struct dg_err *err)
{
	if (s->fd < 0 || !s->dirty)
		return DG_OK;
	if (fsync(s->fd) != 0)
		return dg_err_set_errno(err, DG_E_IO, errno, "TLS-RPT journal %s/%s.events: fsync",
		                        s->dir, s->fd_day);
	s->dirty = false;
	return DG_OK;
}

void dg_tlsrpt_store_free(struct dg_tlsrpt_store *s)
{
	if (s == NULL)
		return;
	if (s->fd >= 0) {
		(void)dg_tlsrpt_store_sync(s, NULL);
		close(s->fd);
	}
	free(s->dir);
	free(s);
}

static enum dg_status read_file(const char *path, size_t max, char **out, size_t *len,
                                struct dg_err *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat sb;
	size_t got = 0;
	char *buf;

	*out = NULL;
	*len = 0;
	if (fd < 0) {
		if (errno == ENOENT)
			return DG_E_NOTFOUND;
		return dg_err_set_errno(err, DG_E_IO, errno, "%s: open", path);
	}
	if (fstat(fd, &sb) != 0 || sb.st_size < 0) {
		close(fd);
		return dg_err_set_errno(err, DG_E_IO, errno, "%s: stat", path);
	}
	if ((uint64_t)sb.st_size > max) {
		close(fd);
		return dg_err_set(err, DG_E_LIMIT, "%s: %lld bytes (max %zu)", path,
		                  (long long)sb.st_size, max);
	}
	buf = dg_xmalloc((size_t)sb.st_size + 1);
	while (got < (size_t)sb.st_size) {
		ssize_t r = read(fd, buf + got, (size_t)sb.st_size - got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int e = errno;

			free(buf);
			close(fd);
			return dg_err_set_errno(err, DG_E_IO, e, "%s: read", path);
		}
		if (r == 0)
			break; /* shrank while reading: use what is there */
		got += (size_t)r;
	}
	close(fd);
	buf[got] = '\0';
	*out = buf;
	*len = got;
	return DG_OK;
}

enum dg_status tlsrpt_journal_read(const char *dir, const char *day, char **out, size_t *len,
                                   struct dg_err *err)
{
	char path[STORE_PATH_MAX];
	uint64_t start;
	enum dg_status st;

	*out = NULL;
	*len = 0;
	if (dg_tlsrpt_day_parse(day, &start) != DG_OK)
		return dg_err_set(err, DG_E_PARSE, "bad day '%s' (want YYYY-MM-DD)", day);
	if ((st = store_path(dir, day, "events", path, sizeof(path), err)) != DG_OK)
		return st;
	st = read_file(path, DG_TLSRPT_JOURNAL_MAX, out, len, err);
	return st == DG_E_NOTFOUND ? DG_OK : st;
}

/* ---- sent reports ------------------------------------------------------------------------ */

static struct sent_entry *sent_find(const struct dg_tlsrpt_sent *s_c, const char *domain,
                                    const char *rua, bool create)
{
	struct dg_tlsrpt_sent *s = (struct dg_tlsrpt_sent *)s_c;

	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->e[i].domain, domain) == 0 && strcmp(s->e[i].rua, rua) == 0)
			return &s->e[i];
	if (!create || s->n >= SENT_ENTRIES_MAX)
		return NULL;
	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 16;
		s->e = dg_xrealloc(s->e, s->cap * sizeof(*s->e));
	}
	memset(&s->e[s->n], 0, sizeof(s->e[0]));
	s->e[s->n].domain = dg_xstrdup(domain);
	s->e[s->n].rua = dg_xstrdup(rua);
	return &s->e[s->n++];
}

static void sent_count(struct dg_tlsrpt_sent *s, const char *domain, const char *rua, bool ok,
                       uint64_t t)
{
	struct sent_entry *e = sent_find(s, domain, rua, true);

	if (e == NULL)
		return;
	if (e->first_s == 0)
		e->first_s = t;
	e->last_s = t;
	if (ok)
		e->ok = true;
	else
		e->failures++;
}

static void sent_line(struct dg_tlsrpt_sent *s, const char *p, size_t len)
{
	json_t *o = json_loadb(p, len, JSON_REJECT_DUPLICATES, NULL);
	json_t *d, *r, *ok, *t;

	if (o == NULL)
		return; /* torn or damaged: skipped */
	d = json_object_get(o, "d");
	r = json_object_get(o, "rua");
	ok = json_object_get(o, "ok");
	t = json_object_get(o, "t");
	if (json_is_string(d) && json_is_string(r) && json_is_boolean(ok) && json_is_integer(t) &&
	    json_integer_value(t) > 0)
		sent_count(s, json_string_value(d), json_string_value(r), json_is_true(ok),
		           (uint64_t)json_integer_value(t));
	json_decref(o);
}

enum dg_status dg_tlsrpt_sent_load(const char *dir, const char *day, struct dg_tlsrpt_sent **out,
                                   struct dg_err *err)
{
	char path[STORE_PATH_MAX];
	uint64_t start;
	char *text = NULL;
	size_t len = 0, pos = 0;
	enum dg_status st;
	struct dg_tlsrpt_sent *s;

	*out = NULL;
	if (dg_tlsrpt_day_parse(day, &start) != DG_OK)
		return dg_err_set(err, DG_E_PARSE, "bad day '%s' (want YYYY-MM-DD)", day);
	if ((st = store_path(dir, day, "sent", path, sizeof(path), err)) != DG_OK)
		return st;
	st = read_file(path, SENT_FILE_MAX, &text, &len, err);
	if (st != DG_OK && st != DG_E_NOTFOUND)
		return st;
	s = dg_xcalloc(1, sizeof(*s));
	s->path = dg_xstrdup(path);
	while (pos < len) {
		const char *nl = memchr(text + pos, '\n', len - pos);

		if (nl == NULL)
			break; /* torn last line */
		sent_line(s, text + pos, (size_t)(nl - (text + pos)));
		pos = (size_t)(nl - text) + 1;
	}
	free(text);
	*out = s;
	return DG_OK;
}

enum dg_status dg_tlsrpt_sent_record(struct dg_tlsrpt_sent *s, const char *domain, const char *rua,
                                     bool ok, uint64_t now_s, struct dg_err *err)
{
	json_t *o = json_object();
	char *text;
	int fd;
	size_t n;
	ssize_t w;
	enum dg_status st = DG_OK;

	json_object_set_new(o, "d", json_string(domain));
	json_object_set_new(o, "rua", json_string(rua));
	json_object_set_new(o, "ok", json_boolean(ok));
	json_object_set_new(o, "t", json_integer((json_int_t)now_s));
	text = json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII);
	json_decref(o);
	if (text == NULL)
		return dg_err_set(err, DG_E_PARSE, "sent record for %s: not encodable", domain);
	n = strlen(text);
	text = dg_xrealloc(text, n + 2);
	text[n++] = '\n';
	text[n] = '\0';
	fd = open(s->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (fd < 0) {
		st = dg_err_set_errno(err, DG_E_IO, errno, "%s: open", s->path);
		goto out;
	}
	w = write(fd, text, n);
	if (w < 0 || (size_t)w != n || fsync(fd) != 0)
		st = dg_err_set_errno(err, DG_E_IO, w < 0 ? errno : ENOSPC, "%s: write", s->path);
	close(fd);
	if (st == DG_OK)
		sent_count(s, domain, rua, ok, now_s);
out:
	free(text);
	return st;
}

bool dg_tlsrpt_sent_state(const struct dg_tlsrpt_sent *s, const char *domain, const char *rua,
                          unsigned *failures, uint64_t *first_s, uint64_t *last_s)
{
	const struct sent_entry *e = sent_find(s, domain, rua, false);

	if (failures != NULL)
		*failures = e != NULL ? e->failures : 0;
	if (first_s != NULL)
		*first_s = e != NULL ? e->first_s : 0;
	if (last_s != NULL)
		*last_s = e != NULL ? e->last_s : 0;
	return e != NULL && e->ok;
}

void dg_tlsrpt_sent_free(struct dg_tlsrpt_sent *s)
{
	if (s == NULL)
		return;
	for (size_t i = 0; i < s->n; i++) {
		free(s->e[i].domain);
		free(s->e[i].rua);
	}
	free(s->e);
	free(s->path);
	free(s);
}
