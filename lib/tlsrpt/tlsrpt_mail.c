/*
 * tlsrpt_mail.c - packaging of a TLS-RPT report: gzip, file name and the report mail.
 *
 * Public: dg_tlsrpt_gzip, dg_tlsrpt_file_name, dg_tlsrpt_mailto_addr, dg_tlsrpt_mail_compose.
 *
 * SPEC RPT-7 (RFC 8460 5.1, 5.3): the report is gzipped (zlib, gzip framing) and named
 * "submitter!policy-domain!begin!end[!unique].json.gz"; a mailto: rua gets a
 * multipart/report; report-type="tlsrpt" message with a text/plain part and the
 * application/tlsrpt+gzip part in base64, the TLS-Report-Domain and TLS-Report-Submitter
 * headers, the fixed Subject form and "TLS-Required: No" (RFC 8689) so that a TLS failure
 * towards the report's receiver does not keep the report from it. DKIM signing (RFC 8460 3
 * MUST) is a separate step on the composed message (tlsrpt_dkim.c), done by the relay when a
 * key is configured.
 * Every function is pure apart from the random boundary and Message-ID token.
 */
#include <daneguard/tlsrpt.h>
#include <daneguard/util.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <zlib.h>

#define MAIL_B64_LINE 76 /* RFC 2045 6.8 */

static bool hdr_ok(const char *v);
static void b64_lines(struct dg_buf *b, const uint8_t *p, size_t len);
static void rand_hex(char *out, size_t n_bytes);
static int hex_val(int c);

enum dg_status dg_tlsrpt_gzip(const void *p, size_t len, uint8_t **out, size_t *out_len,
                              struct dg_err *err)
{
	z_stream z;
	uLong cap;
	uint8_t *buf;
	int rc;

	*out = NULL;
	*out_len = 0;
	memset(&z, 0, sizeof(z));
	/* windowBits 15 + 16: gzip header and trailer (RFC 1952) */
	if (deflateInit2(&z, Z_BEST_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) !=
	    Z_OK)
		return dg_err_set(err, DG_E_INTERNAL, "gzip: deflateInit2 failed");
	cap = deflateBound(&z, (uLong)len) + 32;
	buf = dg_xmalloc(cap);
	z.next_in = (Bytef *)(uintptr_t)p;
	z.avail_in = (uInt)len;
	z.next_out = buf;
	z.avail_out = (uInt)cap;
	rc = deflate(&z, Z_FINISH);
	if (rc != Z_STREAM_END) {
		deflateEnd(&z);
		free(buf);
		return dg_err_set(err, DG_E_INTERNAL, "gzip: deflate returned %d", rc);
	}
	*out_len = z.total_out;
	*out = buf;
	deflateEnd(&z);
	return DG_OK;
}

enum dg_status dg_tlsrpt_file_name(const char *submitter, const char *domain, uint64_t begin,
                                   uint64_t end, const char *unique, char *out, size_t size)
{
	const char *parts[3] = {submitter, domain, unique};
	int n;

	for (size_t i = 0; i < 3; i++)
		if (parts[i] != NULL &&
		    (parts[i][0] == '\0' || strpbrk(parts[i], "!/\\\"\r\n") != NULL))
			return DG_E_PARSE;
	if (unique != NULL)
		n = snprintf(out, size, "%s!%s!%llu!%llu!%s.json.gz", submitter, domain,
		             (unsigned long long)begin, (unsigned long long)end, unique);
	else
		n = snprintf(out, size, "%s!%s!%llu!%llu.json.gz", submitter, domain,
		             (unsigned long long)begin, (unsigned long long)end);
	return n < 0 || (size_t)n >= size ? DG_E_LIMIT : DG_OK;
}

static int hex_val(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = dg_ascii_tolower(c);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

enum dg_status dg_tlsrpt_mailto_addr(const char *uri, char *out, size_t size)
{
	size_t o = 0;
	const char *at = NULL;

	if (dg_ascii_strncasecmp(uri, "mailto:", 7) != 0 || size == 0)
		return DG_E_PARSE;
	for (const char *p = uri + 7; *p != '\0' && *p != '?'; p++) {
		int c = (unsigned char)*p;

		if (c == '%') {
			int h = hex_val((unsigned char)p[1]), l;

			if (h < 0 || (l = hex_val((unsigned char)p[2])) < 0)
				return DG_E_PARSE;
			c = h * 16 + l;
			p += 2;
		}
		if (c <= 0x20 || c >= 0x7f || c == '<' || c == '>')
			return DG_E_PARSE;
		if (o + 1 >= size)
			return DG_E_PARSE;
		out[o++] = (char)c;
	}
	out[o] = '\0';
	at = strrchr(out, '@');
	if (at == NULL || at == out || at[1] == '\0' || o > DG_TLSRPT_URI_MAX)
		return DG_E_PARSE;
	return DG_OK;
}

static bool hdr_ok(const char *v)
{
	return v != NULL && v[0] != '\0' && strpbrk(v, "\r\n") == NULL;
}

static void b64_lines(struct dg_buf *b, const uint8_t *p, size_t len)
{
	static const char tab[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t col = 0;

	for (size_t i = 0; i < len; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16;
		char q[4];

		if (i + 1 < len)
			v |= (uint32_t)p[i + 1] << 8;
		if (i + 2 < len)
			v |= p[i + 2];
		q[0] = tab[(v >> 18) & 63];
		q[1] = tab[(v >> 12) & 63];
		q[2] = i + 1 < len ? tab[(v >> 6) & 63] : '=';
		q[3] = i + 2 < len ? tab[v & 63] : '=';
		(void)dg_buf_append(b, q, 4);
		col += 4;
		if (col >= MAIL_B64_LINE) {
			(void)dg_buf_append_str(b, "\r\n");
			col = 0;
		}
	}
	if (col > 0)
		(void)dg_buf_append_str(b, "\r\n");
}

static void rand_hex(char *out, size_t n_bytes)
{
	uint8_t r[32];
	size_t got = 0;

	if (n_bytes > sizeof(r))
		n_bytes = sizeof(r);
	while (got < n_bytes) {
		ssize_t k = getrandom(r + got, n_bytes - got, 0);

		if (k <= 0)
			DG_PANIC("getrandom failed");
		got += (size_t)k;
	}
	for (size_t i = 0; i < n_bytes; i++)
		snprintf(out + 2 * i, 3, "%02x", r[i]);
}

enum dg_status dg_tlsrpt_mail_compose(const struct dg_tlsrpt_mail *m, char **out, size_t *len,
                                      struct dg_err *err)
{
	struct dg_buf b;
	char boundary[64], token[33], date[64];
	struct tm tm;

	*out = NULL;
	*len = 0;
	if (!hdr_ok(m->from) || !hdr_ok(m->to) || !hdr_ok(m->report_domain) ||
	    !hdr_ok(m->submitter) || !hdr_ok(m->report_id) || !hdr_ok(m->file_name) ||
	    strchr(m->file_name, '"') != NULL)
		return dg_err_set(err, DG_E_PARSE,
		                  "report mail for %s: empty header value or CR/LF",
		                  m->report_domain != NULL ? m->report_domain : "?");
	rand_hex(token, 16);
	/* base64, the text part and the headers never hold "=_" next to a 32-digit token */
	snprintf(boundary, sizeof(boundary), "=_tlsrpt_%s", token);
	if (gmtime_r(&m->date, &tm) == NULL)
		return dg_err_set(err, DG_E_PARSE, "report mail: bad date");
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", &tm);
	rand_hex(token, 8);
	dg_buf_init(&b, 96u * 1024u * 1024u);
	dg_buf_printf(&b,
	              "From: %s\r\n"
	              "To: %s\r\n"
	              "Date: %s\r\n"
	              "Subject: Report Domain: %s Submitter: %s Report-ID: <%s>\r\n"
	              "Message-ID: <tlsrpt.%s@%s>\r\n"
	              "MIME-Version: 1.0\r\n"
	              "TLS-Report-Domain: %s\r\n"
	              "TLS-Report-Submitter: %s\r\n"
	              "TLS-Required: No\r\n"
	              "Auto-Submitted: auto-generated\r\n"
	              "Content-Type: multipart/report; report-type=\"tlsrpt\";\r\n"
	              "\tboundary=\"%s\"\r\n"
	              "\r\n"
	              "This is a multipart message in MIME format.\r\n"
	              "\r\n"
	              "--%s\r\n"
	              "Content-Type: text/plain; charset=\"us-ascii\"\r\n"
	              "Content-Transfer-Encoding: 7bit\r\n"
	              "\r\n"
	              "This is an aggregate TLS report (RFC 8460) from %s\r\n"
	              "for the domain %s. The report is attached, gzipped.\r\n"
	              "\r\n"
	              "--%s\r\n"
	              "Content-Type: application/tlsrpt+gzip;\r\n"
	              "\tname=\"%s\"\r\n"
	              "Content-Disposition: attachment;\r\n"
	              "\tfilename=\"%s\"\r\n"
	              "Content-Transfer-Encoding: base64\r\n"
	              "\r\n",
	              m->from, m->to, date, m->report_domain, m->submitter, m->report_id, token,
	              m->submitter, m->report_domain, m->submitter, boundary, boundary,
	              m->submitter, m->report_domain, boundary, m->file_name, m->file_name);
	b64_lines(&b, m->gz, m->gz_len);
	dg_buf_printf(&b, "\r\n--%s--\r\n", boundary);
	*len = dg_buf_len(&b);
	*out = dg_buf_take(&b);
	return DG_OK;
}
