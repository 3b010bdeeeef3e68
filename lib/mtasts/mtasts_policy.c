/*
 * mtasts_policy.c - the MTA-STS policy file (RFC 8461 3.2) and MX pattern matching (4.1).
 *
 * Public: dg_sts_policy_parse, dg_sts_policy_cleanup, dg_sts_mode_str, dg_sts_mx_match,
 * dg_sts_policy_matches.
 *
 * The parser is a pure function over (bytes, length); it walks the body line by line (LF or
 * CRLF), checks each `key: value` line against the RFC 8461 grammar and stops at the first
 * error with its line number, byte offset and what is wrong (STYLE.md section 7).
 * Ownership: the mx patterns are heap strings owned by the struct dg_sts_policy, released by
 * dg_sts_policy_cleanup().
 * Implements SPEC STS-3 (fields, first occurrence of a non-mx key counts, unknown keys
 * ignored, mx required unless mode none, A-label patterns) and STS-6 step 1 (a wildcard
 * matches exactly one left-most label).
 */
#include "mtasts/mtasts_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Parse state: which required fields were seen. */
struct pol_state {
	struct dg_sts_policy *pol;
	bool version, mode, max_age;
	size_t line;
	size_t off; /* offset of the current line */
};

static enum dg_status pol_fail(struct pol_state *s, struct dg_err *err, enum dg_status code,
                               const char *fmt, ...) DG_PRINTF(4, 5);
static size_t utf8_seq_len(const uint8_t *p, size_t len);
static bool value_is_valid(const uint8_t *p, size_t len, size_t *bad);
static enum dg_status pol_line(struct pol_state *s, const uint8_t *p, size_t len,
                               struct dg_err *err);
static enum dg_status pol_field(struct pol_state *s, const char *key, size_t klen, const char *val,
                                size_t vlen, struct dg_err *err);
static enum dg_status pol_mx(struct pol_state *s, const char *val, size_t vlen, struct dg_err *err);
static enum dg_status pol_finish(struct pol_state *s, struct dg_err *err);
static size_t name_len_nodot(const char *s);

static enum dg_status pol_fail(struct pol_state *s, struct dg_err *err, enum dg_status code,
                               const char *fmt, ...)
{
	char why[200];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	s->pol->err_line = s->line;
	if (s->line > 0)
		dg_err_set(err, code, "MTA-STS policy line %zu: %s", s->line, why);
	else
		dg_err_set(err, code, "MTA-STS policy: %s", why);
	if (err != NULL)
		err->offset = s->off;
	return code;
}

/* Length of a well-formed UTF-8 sequence of 2..4 bytes at p (RFC 3629), 0 if none. */
static size_t utf8_seq_len(const uint8_t *p, size_t len)
{
	size_t n = p[0] >= 0xf0 && p[0] <= 0xf4 ? 4 : p[0] >= 0xe0 ? 3 : p[0] >= 0xc2 ? 2 : 0;

	if (n == 0 || n > len || (p[0] >= 0xf0 && n != 4))
		return 0;
	for (size_t i = 1; i < n; i++)
		if ((p[i] & 0xc0) != 0x80)
			return 0;
	if ((p[0] == 0xe0 && p[1] < 0xa0) || (p[0] == 0xf0 && p[1] < 0x90) ||
	    (p[0] == 0xf4 && p[1] > 0x8f) || (p[0] == 0xed && p[1] > 0x9f))
		return 0; /* overlong, beyond U+10FFFF, surrogates */
	return n;
}

/* sts-policy-ext-value: vchar [*(SP / vchar) vchar], vchar = %x21-7E / UTF-8 2..4. */
static bool value_is_valid(const uint8_t *p, size_t len, size_t *bad)
{
	size_t i = 0;

	while (i < len) {
		size_t n = 1;

		if (p[i] >= 0x80)
			n = utf8_seq_len(p + i, len - i);
		else if (p[i] < 0x20 || p[i] == 0x7f || (p[i] == ' ' && (i == 0 || i + 1 == len)))
			n = 0;
		if (n == 0) {
			*bad = i;
			return false;
		}
		i += n;
	}
	return len > 0;
}

enum dg_status dg_sts_policy_parse(const uint8_t *p, size_t len, struct dg_sts_policy *out,
                                   struct dg_err *err)
{
	struct pol_state s = {.pol = out};
	size_t pos = 0, blank_line = 0;
	enum dg_status st;

	memset(out, 0, sizeof(*out));
	if (len > DG_STS_POLICY_MAX_BYTES)
		return pol_fail(&s, err, DG_E_LIMIT, "%zu bytes, more than the %d allowed", len,
		                DG_STS_POLICY_MAX_BYTES);
	if (len == 0)
		return pol_fail(&s, err, DG_E_PARSE, "the policy is empty");
	while (pos < len) {
		const uint8_t *nl = memchr(p + pos, '\n', len - pos);
		size_t end = nl != NULL ? (size_t)(nl - p) : len, l = end - pos;

		s.line++;
		s.off = pos;
		if (nl != NULL && l > 0 && p[end - 1] == '\r')
			l--; /* CRLF */
		if (l == 0) {
			if (blank_line == 0)
				blank_line = s.line;
		} else if (blank_line != 0) {
			s.line = blank_line;
			return pol_fail(&s, err, DG_E_PARSE, "empty line before more fields");
		} else if ((st = pol_line(&s, p + pos, l, err)) != DG_OK) {
			return st;
		}
		pos = end + 1;
	}
	return pol_finish(&s, err);
}

/* One `key: value` line (without its terminator). */
static enum dg_status pol_line(struct pol_state *s, const uint8_t *p, size_t len,
                               struct dg_err *err)
{
	const char *c = (const char *)p;
	size_t klen = sts_field_name_len(c, len), v, vend, bad = 0;

	if (klen == 0)
		return pol_fail(s, err, DG_E_PARSE,
		                "expected a field name at the start of the line");
	if (klen >= len || c[klen] != ':')
		return pol_fail(s, err, DG_E_PARSE, "expected ':' after the field name \"%.*s\"",
		                (int)klen, c);
	for (v = klen + 1; v < len && sts_is_wsp(c[v]); v++)
		;
	for (vend = len; vend > v && sts_is_wsp(c[vend - 1]); vend--)
		;
	if (vend == v)
		return pol_fail(s, err, DG_E_PARSE, "field \"%.*s\" has no value", (int)klen, c);
	if (!value_is_valid(p + v, vend - v, &bad))
		return pol_fail(
		    s, err, DG_E_PARSE,
		    "field \"%.*s\": byte 0x%02x at column %zu is not allowed in a value",
		    (int)klen, c, p[v + bad], v + bad + 1);
	return pol_field(s, c, klen, c + v, vend - v, err);
}

static enum dg_status pol_field(struct pol_state *s, const char *key, size_t klen, const char *val,
                                size_t vlen, struct dg_err *err)
{
	struct dg_sts_policy *pol = s->pol;
	uint32_t age;

#define KEY_IS(lit) (klen == sizeof(lit) - 1 && memcmp(key, lit, klen) == 0)
#define VAL_IS(lit) (vlen == sizeof(lit) - 1 && memcmp(val, lit, vlen) == 0)
	if (KEY_IS("mx"))
		return pol_mx(s, val, vlen, err);
	if (KEY_IS("version") && !s->version) {
		if (!VAL_IS("STSv1"))
			return pol_fail(s, err, DG_E_PARSE, "version \"%.*s\" is not STSv1",
			                (int)(vlen > 40 ? 40 : vlen), val);
		s->version = true;
	} else if (KEY_IS("mode") && !s->mode) {
		if (VAL_IS("enforce"))
			pol->mode = DG_STS_MODE_ENFORCE;
		else if (VAL_IS("testing"))
			pol->mode = DG_STS_MODE_TESTING;
		else if (VAL_IS("none"))
			pol->mode = DG_STS_MODE_NONE;
		else
			return pol_fail(s, err, DG_E_PARSE,
			                "mode \"%.*s\" is not enforce, testing or none",
			                (int)(vlen > 40 ? 40 : vlen), val);
		s->mode = true;
	} else if (KEY_IS("max_age") && !s->max_age) {
		if (vlen > 10 || dg_parse_u32n(val, vlen, 0, DG_STS_MAX_AGE_MAX, &age) != DG_OK)
			return pol_fail(s, err, DG_E_PARSE,
			                "max_age \"%.*s\" is not 1 to 10 digits in 0..%u",
			                (int)(vlen > 40 ? 40 : vlen), val, DG_STS_MAX_AGE_MAX);
		pol->max_age_s = age;
		s->max_age = true;
	}
	/* duplicates of version/mode/max_age and unknown keys: ignored (SPEC STS-3) */
	return DG_OK;
#undef KEY_IS
#undef VAL_IS
}

/* mx: ["*."] Domain, A-labels (SPEC STS-3). */
static enum dg_status pol_mx(struct pol_state *s, const char *val, size_t vlen, struct dg_err *err)
{
	struct dg_sts_policy *pol = s->pol;
	char name[DG_NAME_BUF_SIZE + 2];
	struct dg_err e;
	size_t skip = vlen > 2 && val[0] == '*' && val[1] == '.' ? 2 : 0;

	if (vlen >= sizeof(name))
		return pol_fail(s, err, DG_E_PARSE, "mx value is longer than a domain name");
	memcpy(name, val, vlen);
	name[vlen] = '\0';
	dg_err_clear(&e);
	if (!dg_name_is_valid(name + skip, &e) || name[vlen - 1] == '.')
		return pol_fail(s, err, DG_E_PARSE,
		                "mx \"%s\" is not [*.]domain in A-label form%s%s", name,
		                e.msg[0] != '\0' ? ": " : "", e.msg);
	if (pol->n_mx == DG_STS_MX_MAX)
		return pol_fail(s, err, DG_E_LIMIT, "more than %d mx lines", DG_STS_MX_MAX);
	for (size_t i = 0; i < vlen; i++)
		name[i] = (char)dg_ascii_tolower((unsigned char)name[i]);
	pol->mx[pol->n_mx++] = dg_xstrdup(name);
	return DG_OK;
}

static enum dg_status pol_finish(struct pol_state *s, struct dg_err *err)
{
	s->line = 0;
	s->off = 0;
	if (!s->version)
		return pol_fail(s, err, DG_E_PARSE, "no \"version: STSv1\" line");
	if (!s->mode)
		return pol_fail(s, err, DG_E_PARSE, "no \"mode:\" line");
	if (!s->max_age)
		return pol_fail(s, err, DG_E_PARSE, "no \"max_age:\" line");
	if (s->pol->mode != DG_STS_MODE_NONE && s->pol->n_mx == 0)
		return pol_fail(s, err, DG_E_PARSE, "mode %s needs at least one \"mx:\" line",
		                dg_sts_mode_str(s->pol->mode));
	return DG_OK;
}

void dg_sts_policy_cleanup(struct dg_sts_policy *pol)
{
	if (pol == NULL)
		return;
	for (size_t i = 0; i < pol->n_mx; i++)
		free(pol->mx[i]);
	memset(pol, 0, sizeof(*pol));
}

const char *dg_sts_mode_str(enum dg_sts_mode m)
{
	switch (m) {
	case DG_STS_MODE_NONE: return "none";
	case DG_STS_MODE_TESTING: return "testing";
	case DG_STS_MODE_ENFORCE: return "enforce";
	}
	return "unknown";
}

/* Length of a name without one trailing dot. */
static size_t name_len_nodot(const char *s)
{
	size_t n = strlen(s);

	return n > 0 && s[n - 1] == '.' ? n - 1 : n;
}

bool dg_sts_mx_match(const char *pattern, const char *host)
{
	size_t pl = name_len_nodot(pattern), hl = name_len_nodot(host);
	const char *dot;

	if (pl == 0 || hl == 0)
		return false;
	if (pl > 2 && pattern[0] == '*' && pattern[1] == '.') {
		/* SPEC STS-6: exactly one left-most label, which must not be empty */
		dot = memchr(host, '.', hl);
		if (dot == NULL || dot == host)
			return false;
		return hl - (size_t)(dot + 1 - host) == pl - 2 &&
		       dg_ascii_strncasecmp(dot + 1, pattern + 2, pl - 2) == 0;
	}
	return pl == hl && dg_ascii_strncasecmp(pattern, host, pl) == 0;
}

bool dg_sts_policy_matches(const struct dg_sts_policy *pol, const char *host)
{
	for (size_t i = 0; i < pol->n_mx; i++)
		if (dg_sts_mx_match(pol->mx[i], host))
			return true;
	return false;
}
