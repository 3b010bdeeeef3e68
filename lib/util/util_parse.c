/*
 * util_parse.c - strict decimal number parsing.
 *
 * Public: dg_parse_u32, dg_parse_u32n.
 * Digits only: empty input, a sign, whitespace or any other junk is
 * DG_E_PARSE; overflow or a value outside [min, max] is DG_E_LIMIT. The
 * output is written only on success (STYLE.md section 7, as OpenSMTPD's use
 * of strtonum). Nothing here allocates.
 */
#include <daneguard/util.h>

#include <string.h>

enum dg_status dg_parse_u32n(const char *p, size_t len, uint32_t min, uint32_t max, uint32_t *out)
{
	uint64_t v = 0;
	bool big = false;

	if (p == NULL || len == 0)
		return DG_E_PARSE;
	for (size_t i = 0; i < len; i++) {
		if (!dg_ascii_isdigit((unsigned char)p[i]))
			return DG_E_PARSE;
		if (!big) {
			v = v * 10 + (uint64_t)(p[i] - '0');
			big = v > UINT32_MAX;
		}
	}
	if (big || v < min || v > max)
		return DG_E_LIMIT;
	*out = (uint32_t)v;
	return DG_OK;
}

enum dg_status dg_parse_u32(const char *s, uint32_t min, uint32_t max, uint32_t *out)
{
	if (s == NULL)
		return DG_E_PARSE;
	return dg_parse_u32n(s, strlen(s), min, max, out);
}
