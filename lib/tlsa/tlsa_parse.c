/*
 * tlsa_parse.c - pure TLSA parsers: wire RDATA and presentation text.
 *
 * Public: dg_tlsa_parse_rdata, dg_tlsa_parse_text.
 *
 * Both parsers do no I/O and no logging (STYLE.md section 7). On success the caller owns the
 * record's data (release with dg_tlsa_rr_cleanup()); on failure the output record is zeroed and
 * struct dg_err names the record label and the byte (rdata) or character (text) offset, which
 * is also stored in err->offset. Untrusted text echoed in messages goes through dg_str_escape().
 * Caps: RDATA at most 65535 octets; text at most DG_TLSA_TEXT_MAX characters; each field token
 * at most TEXT_TOKEN_MAX characters.
 *
 * SPEC: section 1 (wire form RFC 6698 §2.1, presentation form RFC 6698 §2.2, RFC 7218 acronyms
 * accepted in any case).
 */
#include "tlsa/tlsa_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

enum {
	RDATA_MAX = 65535, /* RDLENGTH is 16 bits */
	TEXT_TOKEN_MAX = 16
};

/* A text cursor: input, length, position (STYLE.md section 7). */
struct text_cur {
	const char *s;
	size_t len;
	size_t pos;
};

static enum dg_status parse_fail(struct dg_err *err, enum dg_status code, const char *name,
                                 size_t off, const char *unit, const char *fmt, ...)
    DG_PRINTF(6, 7);
static bool is_blank(char c);
static int hex_value(char c);
static void cur_skip_blanks(struct text_cur *c);
static int field_acronym(int field, const char *tok, size_t len);
static enum dg_status text_field(struct text_cur *c, const char *name, int field, uint8_t *out,
                                 struct dg_err *err);
static enum dg_status text_hex(struct text_cur *c, const char *name, struct dg_tlsa_rr *out,
                               struct dg_err *err);

static const char *const field_names[3] = {"usage", "selector", "matching type"};

static enum dg_status parse_fail(struct dg_err *err, enum dg_status code, const char *name,
                                 size_t off, const char *unit, const char *fmt, ...)
{
	char why[DG_ERR_MSG_MAX];
	va_list ap;

	if (err == NULL)
		return code;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	dg_err_set(err, code, "%s: %s %zu: %s", name, unit, off, why);
	err->offset = off;
	err->where = "tlsa_parse";
	return code;
}

/* SPEC 1: white space allowed inside the hex (zone-file blanks and line ends). */
static bool is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static int hex_value(char c)
{
	if (!dg_ascii_isxdigit(c))
		return -1;
	if (dg_ascii_isdigit(c))
		return c - '0';
	return dg_ascii_tolower(c) - 'a' + 10;
}

enum dg_status dg_tlsa_parse_rdata(const char *name, const uint8_t *p, size_t len,
                                   struct dg_tlsa_rr *out, struct dg_err *err)
{
	const char *label = name != NULL ? name : "TLSA rdata";
	struct dg_cursor c;
	const uint8_t *data;
	size_t n;

	memset(out, 0, sizeof(*out));
	if (len > RDATA_MAX)
		return parse_fail(err, DG_E_LIMIT, label, RDATA_MAX, "byte",
		                  "RDATA of %zu octets is longer than %d", len, RDATA_MAX);
	/* SPEC 1: usage, selector and matching type octets, then data up to the end. */
	dg_cursor_init(&c, p, len);
	out->usage = dg_cursor_u8(&c);
	out->selector = dg_cursor_u8(&c);
	out->mtype = dg_cursor_u8(&c);
	n = dg_cursor_remaining(&c);
	data = dg_cursor_bytes(&c, n);
	if (!dg_cursor_ok(&c)) {
		memset(out, 0, sizeof(*out));
		return parse_fail(err, DG_E_PARSE, label, len, "byte",
		                  "truncated RDATA, %zu of the 3 header octets present", len);
	}
	out->len = n;
	out->data = tlsa_xmemdup(data, n);
	return DG_OK;
}

static void cur_skip_blanks(struct text_cur *c)
{
	while (c->pos < c->len && is_blank(c->s[c->pos]))
		c->pos++;
}

/* Map an RFC 7218 acronym of field 0/1/2 to its value, or -1. */
static int field_acronym(int field, const char *tok, size_t len)
{
	static const uint8_t values[] = {0, 1, 2, 3, 255};

	for (size_t i = 0; i < sizeof(values); i++) {
		const char *n = field == 0   ? dg_tlsa_usage_name(values[i])
		                : field == 1 ? dg_tlsa_selector_name(values[i])
		                             : dg_tlsa_mtype_name(values[i]);

		if (n != NULL && strlen(n) == len && dg_ascii_strncasecmp(tok, n, len) == 0)
			return values[i];
	}
	return -1;
}

/* One of the three leading fields: decimal 0..255 or an acronym (SPEC 1, RFC 7218 §2). */
static enum dg_status text_field(struct text_cur *c, const char *name, int field, uint8_t *out,
                                 struct dg_err *err)
{
	char shown[4 * TEXT_TOKEN_MAX + 8];
	size_t start, len;
	const char *tok;
	uint32_t value = 0;
	int v;

	cur_skip_blanks(c);
	start = c->pos;
	while (c->pos < c->len && !is_blank(c->s[c->pos]) && c->pos - start <= TEXT_TOKEN_MAX)
		c->pos++;
	tok = c->s + start;
	len = c->pos - start;
	if (len == 0)
		return parse_fail(err, DG_E_PARSE, name, start, "char", "missing %s field",
		                  field_names[field]);
	if (len > TEXT_TOKEN_MAX)
		return parse_fail(err, DG_E_PARSE, name, start, "char",
		                  "%s field longer than %d characters", field_names[field],
		                  TEXT_TOKEN_MAX);
	if (!dg_ascii_isdigit(tok[0])) {
		v = field_acronym(field, tok, len);
		if (v < 0)
			return parse_fail(err, DG_E_PARSE, name, start, "char",
			                  "%s \"%s\" is neither a number nor an RFC 7218 acronym",
			                  field_names[field],
			                  dg_str_escape(shown, sizeof(shown), tok, len));
		*out = (uint8_t)v;
		return DG_OK;
	}
	for (size_t i = 0; i < len; i++)
		if (!dg_ascii_isdigit(tok[i]))
			return parse_fail(
			    err, DG_E_PARSE, name, start + i, "char", "junk \"%s\" in %s field",
			    dg_str_escape(shown, sizeof(shown), tok + i, 1), field_names[field]);
	if (dg_parse_u32n(tok, len, 0, 255, &value) != DG_OK)
		return parse_fail(err, DG_E_PARSE, name, start, "char",
		                  "%s \"%s\" is out of range 0..255", field_names[field],
		                  dg_str_escape(shown, sizeof(shown), tok, len));
	*out = (uint8_t)value;
	return DG_OK;
}

/* The association data: hex digits, blanks allowed between them (RFC 6698 §2.2). */
static enum dg_status text_hex(struct text_cur *c, const char *name, struct dg_tlsa_rr *out,
                               struct dg_err *err)
{
	size_t digits = 0, last = 0, n = 0;
	int hi = -1;

	for (size_t i = c->pos; i < c->len; i++) {
		char ch = c->s[i];

		if (is_blank(ch))
			continue;
		if (hex_value(ch) < 0) {
			char shown[8];

			return parse_fail(err, DG_E_PARSE, name, i, "char",
			                  "\"%s\" is not a hex digit",
			                  dg_str_escape(shown, sizeof(shown), &ch, 1));
		}
		digits++;
		last = i;
	}
	if (digits % 2 != 0)
		return parse_fail(err, DG_E_PARSE, name, last, "char",
		                  "odd number of hex digits (%zu) in the association data", digits);
	if (digits / 2 > DG_TLSA_DATA_MAX)
		return parse_fail(err, DG_E_LIMIT, name, c->pos, "char",
		                  "%zu data octets, at most %d fit in RDATA", digits / 2,
		                  DG_TLSA_DATA_MAX);
	out->len = digits / 2;
	out->data = out->len > 0 ? dg_xmalloc(out->len) : NULL;
	for (size_t i = c->pos; i < c->len; i++) {
		int v = hex_value(c->s[i]);

		if (v < 0)
			continue;
		if (hi < 0) {
			hi = v;
		} else {
			out->data[n++] = (uint8_t)(hi << 4 | v);
			hi = -1;
		}
	}
	c->pos = c->len;
	return DG_OK;
}

enum dg_status dg_tlsa_parse_text(const char *name, const char *s, size_t len,
                                  struct dg_tlsa_rr *out, struct dg_err *err)
{
	struct text_cur c = {s, len, 0};
	const char *label = name != NULL ? name : "TLSA text";
	uint8_t fields[3];
	enum dg_status st;

	memset(out, 0, sizeof(*out));
	if (len > DG_TLSA_TEXT_MAX)
		return parse_fail(err, DG_E_LIMIT, label, DG_TLSA_TEXT_MAX, "char",
		                  "text of %zu characters is longer than %d", len,
		                  DG_TLSA_TEXT_MAX);
	for (int f = 0; f < 3; f++) {
		st = text_field(&c, label, f, &fields[f], err);
		if (st != DG_OK)
			return st;
	}
	st = text_hex(&c, label, out, err);
	if (st != DG_OK)
		return st;
	out->usage = fields[0];
	out->selector = fields[1];
	out->mtype = fields[2];
	return DG_OK;
}
