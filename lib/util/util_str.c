/*
 * util_str.c - locale-independent ASCII string helpers.
 *
 * Public: dg_ascii_strcasecmp, dg_ascii_strncasecmp, dg_str_escape, dg_utf8_seq_len (the
 * character classes are static inline functions in daneguard/util.h).
 * Nothing here allocates; dg_str_escape writes into a caller buffer.
 */
#include <daneguard/util.h>

#include <string.h>

static size_t escape_one(uint8_t c, char tmp[4]);

/* Write the escaped form of c into tmp; return its length (1, 2 or 4). */
static size_t escape_one(uint8_t c, char tmp[4])
{
	static const char hex[] = "0123456789abcdef";

	if (c == '"' || c == '\\') {
		tmp[0] = '\\';
		tmp[1] = (char)c;
		return 2;
	}
	if (c >= 0x20 && c < 0x7f) {
		tmp[0] = (char)c;
		return 1;
	}
	tmp[0] = '\\';
	tmp[1] = 'x';
	tmp[2] = hex[c >> 4];
	tmp[3] = hex[c & 0xf];
	return 4;
}

int dg_ascii_strcasecmp(const char *a, const char *b)
{
	return dg_ascii_strncasecmp(a, b, SIZE_MAX);
}

int dg_ascii_strncasecmp(const char *a, const char *b, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int ca = dg_ascii_tolower((unsigned char)a[i]);
		int cb = dg_ascii_tolower((unsigned char)b[i]);

		if (ca != cb)
			return ca - cb;
		if (ca == '\0')
			return 0;
	}
	return 0;
}

char *dg_str_escape(char *out, size_t out_size, const void *p, size_t len)
{
	const uint8_t *in = p;
	size_t o = 0, total = 0, room;
	char tmp[4];

	if (out_size == 0)
		return out;
	for (size_t i = 0; i < len && total < out_size; i++)
		total += escape_one(in[i], tmp);
	/* If everything fits, copy all; else stop early and end with "...". */
	room = total < out_size ? out_size - 1 : (out_size > 4 ? out_size - 4 : 0);
	for (size_t i = 0; i < len; i++) {
		size_t n = escape_one(in[i], tmp);

		if (o + n > room)
			break;
		memcpy(out + o, tmp, n);
		o += n;
	}
	if (total >= out_size && out_size >= 4) {
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o] = '\0';
	return out;
}

size_t dg_utf8_seq_len(const unsigned char *s, size_t n)
{
	unsigned lo = 0x80, hi = 0xbf;
	size_t len;

	if (n == 0)
		return 0;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		len = 2;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		len = 3;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		len = 4;
	else
		return 0;
	if (s[0] == 0xe0)
		lo = 0xa0; /* no overlong 3-byte form */
	else if (s[0] == 0xed)
		hi = 0x9f; /* no surrogates */
	else if (s[0] == 0xf0)
		lo = 0x90; /* no overlong 4-byte form */
	else if (s[0] == 0xf4)
		hi = 0x8f; /* at most U+10FFFF */
	if (n < len || s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < len; i++)
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	return len;
}
