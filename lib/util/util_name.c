/*
 * util_name.c - DNS name validation and normalization.
 *
 * Public: dg_name_is_valid, dg_name_normalize.
 * Names are checked before they reach a DNS query, a path or a log line
 * (STYLE.md section 7): ASCII letter-digit-hyphen labels of 1..63 bytes,
 * optionally starting with '_' (service labels), IDNs only as A-labels
 * (SPEC HOST-8), at most 253 characters without the optional trailing dot,
 * no root name and no all-numeric last label (an IP address, SPEC MX-9).
 * Nothing here allocates; errors name the (escaped) input and the offset.
 */
#include <daneguard/util.h>

#include <stdio.h>
#include <string.h>

enum { NAME_SHOW_MAX = 80 };

static bool name_fail(struct dg_err *err, const char *name, size_t len, size_t off, const char *fmt,
                      ...) DG_PRINTF(5, 6);
static bool name_check_label(const char *name, size_t len, size_t start, size_t end,
                             struct dg_err *err);

/* Fill err with 'DNS name "<escaped>": <why>' and the offset; return false. */
static bool name_fail(struct dg_err *err, const char *name, size_t len, size_t off, const char *fmt,
                      ...)
{
	char shown[NAME_SHOW_MAX];
	char why[160];
	va_list ap;

	if (err == NULL)
		return false;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	dg_str_escape(shown, sizeof(shown), name, len);
	dg_err_set(err, DG_E_PARSE, "DNS name \"%s\": %s", shown, why);
	err->offset = off;
	err->where = "name";
	return false;
}

/* Check the label name[start, end). */
static bool name_check_label(const char *name, size_t len, size_t start, size_t end,
                             struct dg_err *err)
{
	size_t n = end - start;

	if (n == 0)
		return name_fail(err, name, len, start, "empty label at offset %zu", start);
	if (n > DG_NAME_LABEL_MAX)
		return name_fail(err, name, len, start,
		                 "label at offset %zu is %zu bytes long, more than %d", start, n,
		                 DG_NAME_LABEL_MAX);
	for (size_t i = start; i < end; i++) {
		unsigned char c = (unsigned char)name[i];

		if (c >= 0x80)
			return name_fail(err, name, len, i,
			                 "non-ASCII byte 0x%02x at offset %zu (IDNs must be "
			                 "A-labels)",
			                 c, i);
		if (c == '_' && i == start)
			continue;
		if (c == '-' && (i == start || i == end - 1))
			return name_fail(err, name, len, i, "label at offset %zu %s with a hyphen",
			                 start, i == start ? "starts" : "ends");
		if (!dg_ascii_isalnum(c) && c != '-')
			return name_fail(err, name, len, i,
			                 "character '%s' at offset %zu not allowed (letters, "
			                 "digits, hyphen; '_' only at the start of a label)",
			                 dg_str_escape((char[8]){0}, 8, &name[i], 1), i);
	}
	if (name[start] == '_' && n == 1)
		return name_fail(err, name, len, start, "label at offset %zu is only '_'", start);
	return true;
}

bool dg_name_is_valid(const char *name, struct dg_err *err)
{
	size_t len, text_len, start = 0;
	bool numeric = true;

	if (name == NULL || name[0] == '\0')
		return name_fail(err, "", 0, 0, "empty name");
	len = strlen(name);
	if (len == 1 && name[0] == '.')
		return name_fail(err, name, len, 0, "the root name is not a host name");
	text_len = name[len - 1] == '.' ? len - 1 : len;
	if (text_len > DG_NAME_MAX)
		return name_fail(err, name, len, DG_NAME_MAX, "%zu characters long, more than %d",
		                 text_len, DG_NAME_MAX);
	for (size_t i = 0; i <= text_len; i++) {
		if (i < text_len && name[i] != '.')
			continue;
		if (!name_check_label(name, len, start, i, err))
			return false;
		start = i + 1;
	}
	/* The last label (the TLD) must not be all digits: that is an address. */
	start = text_len;
	while (start > 0 && name[start - 1] != '.')
		start--;
	for (size_t i = start; i < text_len; i++)
		numeric = numeric && dg_ascii_isdigit((unsigned char)name[i]);
	if (numeric)
		return name_fail(err, name, len, start,
		                 "all-numeric last label (an IP address is not a DNS name)");
	return true;
}

enum dg_status dg_name_normalize(const char *name, char *out, size_t out_size, struct dg_err *err)
{
	size_t len;

	if (!dg_name_is_valid(name, err))
		return DG_E_PARSE;
	len = strlen(name);
	if (name[len - 1] == '.')
		len--;
	if (out_size <= len) {
		char shown[NAME_SHOW_MAX];

		dg_err_set(err, DG_E_LIMIT, "DNS name \"%s\": needs %zu bytes, buffer has %zu",
		           dg_str_escape(shown, sizeof(shown), name, strlen(name)), len + 1,
		           out_size);
		return DG_E_LIMIT;
	}
	for (size_t i = 0; i < len; i++)
		out[i] = (char)dg_ascii_tolower((unsigned char)name[i]);
	out[len] = '\0';
	return DG_OK;
}
