/*
 * mtasts_txt.c - the _mta-sts TXT record (RFC 8461 3.1).
 *
 * Public: dg_sts_txt_parse, dg_sts_txt_select, dg_sts_txt_status_str.
 * Internal (mtasts_int.h): sts_field_name_len, sts_ext_value_len, sts_is_wsp.
 *
 * Pure functions over (pointer, length): no allocation, no I/O (STYLE.md section 7). Errors
 * name the offset and what was found there.
 * Implements SPEC STS-1: `v=STSv1` first; fields separated by *WSP ";" *WSP; `id=` with 1..32
 * letters or digits; extensions `name=value` ignored; records that are not MTA-STS records
 * dropped; exactly one must be left.
 */
#include "mtasts/mtasts_int.h"

#include <stdio.h>
#include <string.h>

static enum dg_status txt_fail(struct dg_err *err, const char *p, size_t len, size_t off,
                               const char *why);
static enum dg_status txt_field(const char *p, size_t len, size_t *pos, struct dg_sts_txt *out,
                                bool *have_id, struct dg_err *err);

static enum dg_status txt_parse_any(const char *p, size_t len, void *out, struct dg_err *err);

static const char STS_VERSION[] = "v=STSv1";

bool sts_is_wsp(int c)
{
	return c == ' ' || c == '\t';
}

/* RFC 8461 3.1 sts-ext-name: (ALPHA / DIGIT) *31(ALPHA / DIGIT / "_" / "-" / "."). */
size_t sts_field_name_len(const char *p, size_t len)
{
	size_t n = 0;

	if (len == 0 || !dg_ascii_isalnum((unsigned char)p[0]))
		return 0;
	while (n < len && n < 32 &&
	       (dg_ascii_isalnum((unsigned char)p[n]) || p[n] == '_' || p[n] == '-' || p[n] == '.'))
		n++;
	return n;
}

/* sts-ext-value: 1*(%x21-3A / %x3C / %x3E-7E): no space, ';', '=' or control byte. */
size_t sts_ext_value_len(const char *p, size_t len)
{
	size_t n = 0;

	while (n < len) {
		unsigned char c = (unsigned char)p[n];

		if (c < 0x21 || c > 0x7e || c == ';' || c == '=')
			break;
		n++;
	}
	return n;
}

static enum dg_status txt_fail(struct dg_err *err, const char *p, size_t len, size_t off,
                               const char *why)
{
	char shown[24];

	dg_str_escape(shown, sizeof(shown), p + off, len - off < 8 ? len - off : 8);
	dg_err_set(err, DG_E_PARSE, "MTA-STS TXT record: offset %zu (\"%s\"): %s", off, shown, why);
	if (err != NULL)
		err->offset = off;
	return DG_E_PARSE;
}

/* One field after a delimiter: id=... or an extension. */
static enum dg_status txt_field(const char *p, size_t len, size_t *pos, struct dg_sts_txt *out,
                                bool *have_id, struct dg_err *err)
{
	size_t at = *pos, n = sts_field_name_len(p + at, len - at), v;

	if (n == 0 || at + n >= len || p[at + n] != '=')
		return txt_fail(err, p, len, at, "expected a field name=value");
	if (n == 2 && memcmp(p + at, "id", 2) == 0) {
		at += 3;
		for (v = 0; at + v < len && dg_ascii_isalnum((unsigned char)p[at + v]); v++)
			;
		if (v == 0 || v > DG_STS_ID_MAX)
			return txt_fail(err, p, len, at, "id must be 1 to 32 letters or digits");
		if (*have_id)
			return txt_fail(err, p, len, *pos, "a second id= field");
		memcpy(out->id, p + at, v);
		out->id[v] = '\0';
		*have_id = true;
	} else {
		at += n + 1;
		v = sts_ext_value_len(p + at, len - at);
		if (v == 0)
			return txt_fail(err, p, len, at, "empty or malformed extension value");
	}
	*pos = at + v;
	return DG_OK;
}

enum dg_status dg_sts_txt_parse(const char *p, size_t len, struct dg_sts_txt *out,
                                struct dg_err *err)
{
	size_t vl = sizeof(STS_VERSION) - 1, pos = vl;
	bool have_id = false;
	enum dg_status st;
	int more;

	memset(out, 0, sizeof(*out));
	if (len < vl || memcmp(p, STS_VERSION, vl) != 0 ||
	    (len > vl && !sts_is_wsp(p[vl]) && p[vl] != ';')) {
		dg_err_set(err, DG_E_NOTFOUND,
		           "not an MTA-STS record (does not start with v=STSv1)");
		return DG_E_NOTFOUND;
	}
	while ((more = dg_txt_next_field(p, len, &pos)) > 0)
		if ((st = txt_field(p, len, &pos, out, &have_id, err)) != DG_OK)
			return st;
	if (more < 0)
		return txt_fail(err, p, len, pos, "expected ';' between fields");
	if (!have_id)
		return txt_fail(err, p, len, len, "no id= field (RFC 8461 3.1 requires one)");
	return DG_OK;
}

static enum dg_status txt_parse_any(const char *p, size_t len, void *out, struct dg_err *err)
{
	return dg_sts_txt_parse(p, len, out, err);
}

enum dg_sts_txt_status dg_sts_txt_select(const char *const *txt, const size_t *lens, size_t n,
                                         struct dg_sts_txt *out, struct dg_err *err)
{
	struct dg_sts_txt one;
	struct dg_err first;
	enum dg_status st_first;
	size_t found;

	found = dg_txt_select_one(txt, lens, n, txt_parse_any, &one, out, sizeof(*out), &st_first,
	                          &first);
	if (found == 0)
		return DG_STS_TXT_ABSENT;
	if (found > 1) {
		dg_err_set(err, DG_E_PARSE,
		           "%zu TXT records start with v=STSv1; exactly one is "
		           "allowed, so there is no policy (RFC 8461 3.1)",
		           found);
		return DG_STS_TXT_INVALID;
	}
	if (st_first != DG_OK) {
		if (err != NULL)
			*err = first;
		return DG_STS_TXT_INVALID;
	}
	return DG_STS_TXT_PRESENT;
}

const char *dg_sts_txt_status_str(enum dg_sts_txt_status st)
{
	switch (st) {
	case DG_STS_TXT_ABSENT: return "absent";
	case DG_STS_TXT_PRESENT: return "present";
	case DG_STS_TXT_INVALID: return "invalid";
	}
	return "unknown";
}
