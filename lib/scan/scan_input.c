/*
 * scan_input.c - the input of "daneguard scan": one domain per line.
 *
 * Public: dg_scan_input_init, dg_scan_input_feed, dg_scan_input_finish.
 *
 * A push parser (STYLE section 7): the caller reads bytes however it likes (a regular file,
 * a non-blocking pipe) and feeds them; each call consumes at most one line, so the caller
 * starts only as many checks as it has room for and memory stays flat in the size of the
 * input. A line holds a domain, a blank, or a comment ("#" first, or after the domain).
 * Lines longer than DG_SCAN_LINE_MAX are malformed; the rest of such a line is consumed
 * without being kept. A "\r" before the "\n" is dropped (CRLF files); NUL bytes and other
 * control characters make the line malformed. Names are validated and normalized with
 * dg_name_normalize() before they reach a DNS query (STYLE section 7).
 *
 * Ownership: struct dg_scan_input is embedded by the caller; nothing is allocated.
 */
#include <daneguard/scan.h>

#include <stdio.h>
#include <string.h>

static void line_classify(const char *p, size_t len, struct dg_scan_line *out);
static void line_malformed(struct dg_scan_line *out, const char *p, size_t len, const char *why);
static void line_emit(struct dg_scan_input *in, struct dg_scan_line *out);
static const char *name_reason(const struct dg_err *err);

void dg_scan_input_init(struct dg_scan_input *in)
{
	memset(in, 0, sizeof(*in));
}

size_t dg_scan_input_feed(struct dg_scan_input *in, const uint8_t *p, size_t len,
                          struct dg_scan_line *out)
{
	const uint8_t *nl = len > 0 ? memchr(p, '\n', len) : NULL;
	size_t take = nl != NULL ? (size_t)(nl - p) : len;
	size_t room = sizeof(in->buf) - in->len;

	out->kind = DG_SCAN_LINE_NONE;
	if (take > room) {
		in->overlong = true;
		take = room;
	}
	if (take > 0) {
		memcpy(in->buf + in->len, p, take);
		in->len += take;
	}
	if (nl != NULL)
		take = (size_t)(nl - p);
	if (nl == NULL)
		return len;
	line_emit(in, out);
	return take + 1;
}

bool dg_scan_input_finish(struct dg_scan_input *in, struct dg_scan_line *out)
{
	out->kind = DG_SCAN_LINE_NONE;
	if (in->len == 0 && !in->overlong)
		return false;
	line_emit(in, out);
	return true;
}

/* The current line is complete: classify it and start the next one. */
static void line_emit(struct dg_scan_input *in, struct dg_scan_line *out)
{
	size_t len = in->len;

	in->lineno++;
	out->lineno = in->lineno;
	if (len > 0 && in->buf[len - 1] == '\r')
		len--;
	if (in->overlong)
		line_malformed(out, in->buf, 40, "line longer than 1024 bytes");
	else
		line_classify(in->buf, len, out);
	in->len = 0;
	in->overlong = false;
}

/* One complete line without its line end. */
static void line_classify(const char *p, size_t len, struct dg_scan_line *out)
{
	char name[DG_NAME_BUF_SIZE + 2];
	struct dg_err err;
	const char *hash = memchr(p, '#', len);
	size_t s = 0, e = hash != NULL ? (size_t)(hash - p) : len;

	while (s < e && (p[s] == ' ' || p[s] == '\t'))
		s++;
	while (e > s && (p[e - 1] == ' ' || p[e - 1] == '\t'))
		e--;
	if (s == e) {
		out->kind = DG_SCAN_LINE_SKIP;
		return;
	}
	for (size_t i = s; i < e; i++)
		if ((unsigned char)p[i] <= ' ' || (unsigned char)p[i] >= 0x7f) {
			line_malformed(out, p + s, e - s,
			               "control character, blank or non-ASCII byte in the name");
			return;
		}
	if (e - s > DG_NAME_MAX + 1) {
		line_malformed(out, p + s, e - s, "name longer than 253 characters");
		return;
	}
	memcpy(name, p + s, e - s);
	name[e - s] = '\0';
	dg_err_clear(&err);
	if (dg_name_normalize(name, out->domain, sizeof(out->domain), &err) != DG_OK) {
		line_malformed(out, p + s, e - s, name_reason(&err));
		return;
	}
	out->kind = DG_SCAN_LINE_DOMAIN;
	out->why[0] = '\0';
}

static void line_malformed(struct dg_scan_line *out, const char *p, size_t len, const char *why)
{
	out->kind = DG_SCAN_LINE_MALFORMED;
	dg_str_escape(out->domain, sizeof(out->domain), p, len > 200 ? 200 : len);
	snprintf(out->why, sizeof(out->why), "%.150s", why);
}

/* dg_name_normalize() writes 'DNS name "x": why'; keep the why. */
static const char *name_reason(const struct dg_err *err)
{
	const char *p = strstr(err->msg, "\": ");

	return p != NULL ? p + 3 : err->msg;
}
