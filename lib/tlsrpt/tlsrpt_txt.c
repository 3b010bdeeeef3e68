/*
 * tlsrpt_txt.c - the TLS-RPT policy record at _smtp._tls.<domain> (RFC 8460 3).
 *
 * Public: dg_tlsrpt_parse, dg_tlsrpt_select, dg_tlsrpt_status_str.
 *
 * Pure functions over (pointer, length): no allocation, no I/O (STYLE.md section 7). Errors
 * name the offset and what was found there.
 * Implements SPEC RPT-1: `v=TLSRPTv1` first, fields separated by *WSP ";" *WSP, `rua=` exactly
 * once with comma-separated `mailto:` or `https:` URIs in which `,` `!` `;` are
 * percent-encoded, extensions ignored; records that are not TLS-RPT records dropped; exactly
 * one must be left.
 */
#include <daneguard/tlsrpt.h>
#include <daneguard/util.h>

#include <stdio.h>
#include <string.h>

static bool rpt_is_wsp(int c);
static size_t rpt_name_len(const char *p, size_t len);
static size_t rpt_value_len(const char *p, size_t len);
static size_t rpt_uri_len(const char *p, size_t len);
static enum dg_status rpt_fail(struct dg_err *err, const char *p, size_t len, size_t off,
                               const char *why);
static const char *uri_check(const char *uri, size_t len);
static const char *host_check(const char *p, size_t len);
static enum dg_status rpt_rua(const char *p, size_t len, size_t *pos, struct dg_tlsrpt *out,
                              struct dg_err *err);
static enum dg_status rpt_parse_any(const char *p, size_t len, void *out, struct dg_err *err);
static enum dg_status rpt_field(const char *p, size_t len, size_t *pos, struct dg_tlsrpt *out,
                                bool *have_rua, struct dg_err *err);

static const char RPT_VERSION[] = "v=TLSRPTv1";

static bool rpt_is_wsp(int c)
{
	return c == ' ' || c == '\t';
}

/* tlsrpt-ext-name: (ALPHA / DIGIT) *31(ALPHA / DIGIT / "_" / "-" / "."). */
static size_t rpt_name_len(const char *p, size_t len)
{
	size_t n = 0;

	if (len == 0 || !dg_ascii_isalnum((unsigned char)p[0]))
		return 0;
	while (n < len && n < 32 &&
	       (dg_ascii_isalnum((unsigned char)p[n]) || p[n] == '_' || p[n] == '-' || p[n] == '.'))
		n++;
	return n;
}

/* tlsrpt-ext-value: 1*(%x21-3A / %x3C / %x3E-7E). */
static size_t rpt_value_len(const char *p, size_t len)
{
	size_t n = 0;

	while (n < len && (unsigned char)p[n] >= 0x21 && (unsigned char)p[n] <= 0x7e &&
	       p[n] != ';' && p[n] != '=')
		n++;
	return n;
}

/* A URI runs until a byte that must be percent-encoded in it: , ! ; space, control. */
static size_t rpt_uri_len(const char *p, size_t len)
{
	size_t n = 0;

	while (n < len && (unsigned char)p[n] >= 0x21 && (unsigned char)p[n] <= 0x7e &&
	       p[n] != ',' && p[n] != ';' && p[n] != '!')
		n++;
	return n;
}

static enum dg_status rpt_fail(struct dg_err *err, const char *p, size_t len, size_t off,
                               const char *why)
{
	char shown[24];

	dg_str_escape(shown, sizeof(shown), p + off, len - off < 8 ? len - off : 8);
	dg_err_set(err, DG_E_PARSE, "TLS-RPT TXT record: offset %zu (\"%s\"): %s", off, shown, why);
	if (err != NULL)
		err->offset = off;
	return DG_E_PARSE;
}

/* A host name of a URI: a valid DNS name (no address literals). NULL if fine. */
static const char *host_check(const char *p, size_t len)
{
	char name[DG_NAME_BUF_SIZE];

	if (len == 0)
		return "no host name";
	if (len >= sizeof(name))
		return "host name too long";
	memcpy(name, p, len);
	name[len] = '\0';
	return dg_name_is_valid(name, NULL) ? NULL : "host name is not a valid domain name";
}

/* mailto:local@domain[?query] or https://host[:port][/path]; NULL if fine, else why. */
static const char *uri_check(const char *uri, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (uri[i] == '%' &&
		    (i + 2 >= len || !dg_ascii_isxdigit((unsigned char)uri[i + 1]) ||
		     !dg_ascii_isxdigit((unsigned char)uri[i + 2])))
			return "'%' not followed by two hex digits";
	if (len > 7 && dg_ascii_strncasecmp(uri, "mailto:", 7) == 0) {
		const char *at, *end = memchr(uri, '?', len);
		size_t n = (end != NULL ? (size_t)(end - uri) : len) - 7;

		at = memchr(uri + 7, '@', n);
		if (at == NULL || at == uri + 7)
			return "mailto: needs local-part@domain";
		return host_check(at + 1, n - (size_t)(at + 1 - (uri + 7)));
	}
	if (len > 8 && dg_ascii_strncasecmp(uri, "https://", 8) == 0) {
		size_t h = 8;
		const char *why;

		while (h < len && uri[h] != '/' && uri[h] != ':' && uri[h] != '?' && uri[h] != '#')
			h++;
		if ((why = host_check(uri + 8, h - 8)) != NULL)
			return why;
		if (h < len && uri[h] == ':') {
			size_t d = h + 1;

			while (d < len && dg_ascii_isdigit((unsigned char)uri[d]))
				d++;
			if (d == h + 1 || (d < len && uri[d] != '/'))
				return "bad port";
		}
		return NULL;
	}
	return "scheme is not mailto: or https: (RFC 8460 3)";
}

/* rua=URI *(*WSP "," *WSP URI) */
static enum dg_status rpt_rua(const char *p, size_t len, size_t *pos, struct dg_tlsrpt *out,
                              struct dg_err *err)
{
	size_t at = *pos;

	for (;;) {
		size_t n = rpt_uri_len(p + at, len - at);
		const char *why;
		char msg[96];

		if (n == 0)
			return rpt_fail(err, p, len, at, "expected a URI");
		if ((why = uri_check(p + at, n)) != NULL) {
			snprintf(msg, sizeof(msg), "rua URI: %s", why);
			return rpt_fail(err, p, len, at, msg);
		}
		if (out->n_rua == DG_TLSRPT_RUA_MAX || n >= DG_TLSRPT_URI_MAX) {
			rpt_fail(err, p, len, at, "too many or too long rua URIs");
			if (err != NULL)
				err->code = DG_E_LIMIT;
			return DG_E_LIMIT;
		}
		memcpy(out->rua[out->n_rua], p + at, n);
		out->rua[out->n_rua++][n] = '\0';
		at += n;
		n = at;
		while (n < len && rpt_is_wsp(p[n]))
			n++;
		if (n == len || p[n] != ',')
			break;
		for (at = n + 1; at < len && rpt_is_wsp(p[at]); at++)
			;
	}
	*pos = at;
	return DG_OK;
}

static enum dg_status rpt_field(const char *p, size_t len, size_t *pos, struct dg_tlsrpt *out,
                                bool *have_rua, struct dg_err *err)
{
	size_t at = *pos, n = rpt_name_len(p + at, len - at), v;

	if (n == 0 || at + n >= len || p[at + n] != '=')
		return rpt_fail(err, p, len, at, "expected a field name=value");
	if (n == 3 && memcmp(p + at, "rua", 3) == 0) {
		if (*have_rua)
			return rpt_fail(err, p, len, at, "a second rua= field");
		*have_rua = true;
		*pos = at + 4;
		return rpt_rua(p, len, pos, out, err);
	}
	at += n + 1;
	v = rpt_value_len(p + at, len - at);
	if (v == 0)
		return rpt_fail(err, p, len, at, "empty or malformed extension value");
	*pos = at + v;
	return DG_OK;
}

enum dg_status dg_tlsrpt_parse(const char *p, size_t len, struct dg_tlsrpt *out, struct dg_err *err)
{
	size_t vl = sizeof(RPT_VERSION) - 1, pos = vl;
	bool have_rua = false;
	enum dg_status st;
	int more;

	memset(out, 0, sizeof(*out));
	if (len < vl || memcmp(p, RPT_VERSION, vl) != 0 ||
	    (len > vl && !rpt_is_wsp(p[vl]) && p[vl] != ';')) {
		dg_err_set(err, DG_E_NOTFOUND,
		           "not a TLS-RPT record (does not start with "
		           "v=TLSRPTv1)");
		return DG_E_NOTFOUND;
	}
	while ((more = dg_txt_next_field(p, len, &pos)) > 0)
		if ((st = rpt_field(p, len, &pos, out, &have_rua, err)) != DG_OK)
			return st;
	if (more < 0)
		return rpt_fail(err, p, len, pos, "expected ';' between fields");
	if (!have_rua)
		return rpt_fail(err, p, len, len, "no rua= field (RFC 8460 3 requires one)");
	return DG_OK;
}

static enum dg_status rpt_parse_any(const char *p, size_t len, void *out, struct dg_err *err)
{
	return dg_tlsrpt_parse(p, len, out, err);
}

enum dg_tlsrpt_status dg_tlsrpt_select(const char *const *txt, const size_t *lens, size_t n,
                                       struct dg_tlsrpt *out, struct dg_err *err)
{
	struct dg_tlsrpt one;
	struct dg_err first;
	enum dg_status st_first;
	size_t found;

	found = dg_txt_select_one(txt, lens, n, rpt_parse_any, &one, out, sizeof(*out), &st_first,
	                          &first);
	if (found == 0)
		return DG_TLSRPT_ABSENT;
	if (found > 1) {
		dg_err_set(err, DG_E_PARSE,
		           "%zu TXT records start with v=TLSRPTv1; exactly one is "
		           "allowed, so there is no TLS-RPT policy (RFC 8460 3)",
		           found);
		return DG_TLSRPT_INVALID;
	}
	if (st_first != DG_OK) {
		if (err != NULL)
			*err = first;
		return DG_TLSRPT_INVALID;
	}
	return DG_TLSRPT_VALID;
}

const char *dg_tlsrpt_status_str(enum dg_tlsrpt_status st)
{
	switch (st) {
	case DG_TLSRPT_ABSENT: return "absent";
	case DG_TLSRPT_VALID: return "valid";
	case DG_TLSRPT_INVALID: return "invalid";
	}
	return "unknown";
}
