/*
 * smtp_ehlo.c - EHLO reply parser.
 *
 * Public: dg_smtp_ehlo_parse, dg_smtp_ehlo_has, dg_smtp_ehlo_find,
 * dg_smtp_ext_name.
 *
 * Input is a complete 250 reply from the reply parser. Line 1 is
 * "<domain> [greeting]"; every later line is "keyword [params]" (RFC 5321
 * section 4.1.1.1: keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-")), plus
 * the old "AUTH=..." form. Known keywords set bits in a mask (complete, even
 * past the list cap); at most DG_SMTP_EHLO_KW_MAX keywords are kept for
 * reporting. Malformed lines are skipped one at a time and counted
 * (STYLE.md section 7). STARTTLS presence feeds SPEC TLS-1. The result is
 * a self-contained struct filled in the caller's memory; nothing here
 * allocates.
 */
#include <daneguard/smtp.h>

#include <string.h>

struct ehlo_known {
	const char *name;
	unsigned bit;
};

static const struct ehlo_known ehlo_known[] = {
    {"STARTTLS", DG_SMTP_EXT_STARTTLS},
    {"PIPELINING", DG_SMTP_EXT_PIPELINING},
    {"SIZE", DG_SMTP_EXT_SIZE},
    {"8BITMIME", DG_SMTP_EXT_8BITMIME},
    {"ENHANCEDSTATUSCODES", DG_SMTP_EXT_ENHANCEDSTATUSCODES},
    {"SMTPUTF8", DG_SMTP_EXT_SMTPUTF8},
    {"CHUNKING", DG_SMTP_EXT_CHUNKING},
    {"BINARYMIME", DG_SMTP_EXT_BINARYMIME},
    {"DSN", DG_SMTP_EXT_DSN},
    {"AUTH", DG_SMTP_EXT_AUTH},
    {"REQUIRETLS", DG_SMTP_EXT_REQUIRETLS},
    {"ETRN", DG_SMTP_EXT_ETRN},
    {"DELIVERBY", DG_SMTP_EXT_DELIVERBY},
    {"VRFY", DG_SMTP_EXT_VRFY},
};

static size_t ehlo_sanitize(char *out, size_t out_size, const char *in, size_t len, bool *cut);
static void ehlo_first_line(struct dg_smtp_ehlo *ehlo, const char *line);
static void ehlo_keyword_line(struct dg_smtp_ehlo *ehlo, const char *line);
static unsigned ehlo_known_bit(const char *name);
static void ehlo_size(struct dg_smtp_ehlo *ehlo, const char *params);

/*
 * Copy in[0..len) to out, collapsing runs of spaces/tabs to one space and
 * replacing other bytes outside 0x21..0x7e with '?'; NUL-terminate.
 */
static size_t ehlo_sanitize(char *out, size_t out_size, const char *in, size_t len, bool *cut)
{
	size_t o = 0;

	*cut = false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)in[i];

		if (c == ' ' || c == '\t') {
			if (o == 0 || out[o - 1] == ' ')
				continue;
			c = ' ';
		} else if (c < 0x21 || c > 0x7e) {
			c = '?';
		}
		if (o + 1 >= out_size) {
			*cut = true;
			break;
		}
		out[o++] = (char)c;
	}
	while (o > 0 && out[o - 1] == ' ')
		o--;
	out[o] = '\0';
	return o;
}

static void ehlo_first_line(struct dg_smtp_ehlo *ehlo, const char *line)
{
	size_t n = strcspn(line, " \t");
	const char *rest = line + n;
	bool cut;

	ehlo_sanitize(ehlo->domain, sizeof(ehlo->domain), line, n, &cut);
	rest += strspn(rest, " \t");
	ehlo_sanitize(ehlo->greeting, sizeof(ehlo->greeting), rest, strlen(rest), &cut);
}

static unsigned ehlo_known_bit(const char *name)
{
	for (size_t i = 0; i < sizeof(ehlo_known) / sizeof(ehlo_known[0]); i++)
		if (strcmp(name, ehlo_known[i].name) == 0)
			return ehlo_known[i].bit;
	return 0;
}

/* SIZE [n] (RFC 1870): 0 or absent means no fixed limit. */
static void ehlo_size(struct dg_smtp_ehlo *ehlo, const char *params)
{
	size_t n = strcspn(params, " ");
	uint32_t v;

	ehlo->size_max = 0;
	if (n == 0)
		return;
	if (dg_parse_u32n(params, n, 0, UINT32_MAX, &v) != DG_OK) {
		ehlo->nbad++;
		return;
	}
	ehlo->size_max = v;
}

static void ehlo_keyword_line(struct dg_smtp_ehlo *ehlo, const char *line)
{
	char name[DG_SMTP_EHLO_KW_LEN + 1];
	struct dg_smtp_ehlo_kw *kw;
	const char *params;
	size_t n = 0;
	unsigned bit;

	/* keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-") */
	while (dg_ascii_isalnum((unsigned char)line[n]) || (n > 0 && line[n] == '-')) {
		if (n == DG_SMTP_EHLO_KW_LEN) {
			ehlo->nbad++;
			return;
		}
		name[n] = (char)dg_ascii_toupper((unsigned char)line[n]);
		n++;
	}
	name[n] = '\0';
	params = line + n;
	if (n == 0 || (*params != '\0' && *params != ' ' && *params != '\t' &&
	               !(*params == '=' && strcmp(name, "AUTH") == 0))) {
		ehlo->nbad++;
		return;
	}
	if (*params == '=')
		params++;
	params += strspn(params, " \t");
	bit = ehlo_known_bit(name);
	ehlo->ext |= bit;
	if (bit == DG_SMTP_EXT_SIZE)
		ehlo_size(ehlo, params);
	if (ehlo->nkw == DG_SMTP_EHLO_KW_MAX) {
		ehlo->nkw_dropped++;
		return;
	}
	kw = &ehlo->kw[ehlo->nkw++];
	memcpy(kw->name, name, n + 1);
	ehlo_sanitize(kw->params, sizeof(kw->params), params, strlen(params),
	              &kw->params_truncated);
}

enum dg_status dg_smtp_ehlo_parse(const struct dg_smtp_reply *reply, struct dg_smtp_ehlo *ehlo,
                                  struct dg_err *err)
{
	memset(ehlo, 0, sizeof(*ehlo));
	if (reply->code != 250 || reply->nlines == 0) {
		dg_err_set(err, DG_E_PROTO, "EHLO reply code %u, want 250", reply->code);
		if (err != NULL) {
			err->offset = reply->offset;
			err->where = "smtp ehlo";
		}
		return DG_E_PROTO;
	}
	ehlo_first_line(ehlo, reply->lines[0]);
	for (size_t i = 1; i < reply->nlines; i++)
		ehlo_keyword_line(ehlo, reply->lines[i]);
	return DG_OK;
}

bool dg_smtp_ehlo_has(const struct dg_smtp_ehlo *ehlo, unsigned ext)
{
	return ext != 0 && (ehlo->ext & ext) == ext;
}

const struct dg_smtp_ehlo_kw *dg_smtp_ehlo_find(const struct dg_smtp_ehlo *ehlo,
                                                const char *keyword)
{
	for (size_t i = 0; i < ehlo->nkw; i++)
		if (dg_ascii_strcasecmp(ehlo->kw[i].name, keyword) == 0)
			return &ehlo->kw[i];
	return NULL;
}

const char *dg_smtp_ext_name(unsigned ext)
{
	for (size_t i = 0; i < sizeof(ehlo_known) / sizeof(ehlo_known[0]); i++)
		if (ehlo_known[i].bit == ext)
			return ehlo_known[i].name;
	return "UNKNOWN";
}
