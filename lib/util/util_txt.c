/*
 * util_txt.c - choose the one record of a kind among a name's TXT records.
 *
 * Public: dg_txt_select_one, dg_txt_next_field.
 * RFC 8461 3.1 (MTA-STS) and RFC 8460 3 (TLS-RPT) share a rule: records that do
 * not start with the version tag are ignored, and unless exactly one is left
 * there is no policy. The per-kind parser says "not mine" with DG_E_NOTFOUND.
 * Pure: no I/O, no allocation; the caller owns every buffer.
 */
#include <daneguard/util.h>

#include <string.h>

size_t dg_txt_select_one(const char *const *txt, const size_t *lens, size_t n,
			 dg_txt_parse_fn *parse, void *scratch, void *out, size_t out_size,
			 enum dg_status *st_first, struct dg_err *first)
{
	size_t found = 0;

	*st_first = DG_OK;
	dg_err_clear(first);
	for (size_t i = 0; i < n; i++) {
		struct dg_err e;
		enum dg_status st;

		dg_err_clear(&e);
		st = parse(txt[i], lens[i], scratch, &e);
		if (st == DG_E_NOTFOUND)
			continue;
		if (found++ == 0) {
			*st_first = st;
			*first = e;
			if (st == DG_OK)
				memcpy(out, scratch, out_size);
		}
	}
	return found;
}

/* RFC 8461 3.1 / RFC 8460 3: fields are separated by *WSP ";" *WSP; a trailing
 * delimiter is allowed. */
int dg_txt_next_field(const char *p, size_t len, size_t *pos)
{
	size_t at = *pos;

	while (at < len && (p[at] == ' ' || p[at] == '\t'))
		at++;
	if (at == len) {
		*pos = at;
		return 0;
	}
	if (p[at] != ';') {
		*pos = at;
		return -1;
	}
	at++;
	while (at < len && (p[at] == ' ' || p[at] == '\t'))
		at++;
	*pos = at;
	return at == len ? 0 : 1;
}
