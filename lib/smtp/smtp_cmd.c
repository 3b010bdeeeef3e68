/*
 * smtp_cmd.c - SMTP command line parser for the relay's receiving side.
 *
 * Public: dg_smtp_cmd_opts_init, dg_smtp_cmd_line_end, dg_smtp_cmd_parse,
 * dg_smtp_verb_str.
 *
 * One line (CRLF or LF terminated) becomes a struct dg_smtp_cmd: the verb
 * (case-insensitive), its argument, and for EHLO/HELO the domain or address
 * literal, for MAIL/RCPT the path (RFC 5321 section 4.1.2: null path for
 * MAIL only, source routes accepted and dropped, dot-string or quoted-string
 * local part, UTF-8 only with SMTPUTF8, RFC 6531) and the ESMTP parameters
 * (SIZE, RFC 1870; BODY, RFC 6152; SMTPUTF8; others reported for 555).
 * Lines, paths, parts and parameters are capped (STYLE.md section 7). Every
 * rejection carries the reply to send. The result is self-contained; the
 * parser keeps no state. See docs/internals/smtp-server-parsers.md.
 */
#include <daneguard/smtp.h>

#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

enum { CMD_EXT_LINE_DEFAULT = 2048, CMD_VERB_MAX = 8 };

struct cmd_ctx {
	const struct dg_smtp_cmd_opts *opts;
	struct dg_smtp_cmd *cmd;
	struct dg_err *err;
	size_t arg_off; /* offset of the argument in the line */
};

static enum dg_status cmd_fail(struct cmd_ctx *c, enum dg_status st, unsigned code,
                               const char *status, const char *text, size_t off, const char *fmt,
                               ...) DG_PRINTF(7, 8);
static enum dg_status cmd_check_line(struct cmd_ctx *c, const uint8_t *p, size_t n);
static enum dg_status cmd_dispatch(struct cmd_ctx *c, size_t n);
static enum dg_status cmd_helo(struct cmd_ctx *c, const char *a, size_t n);
static enum dg_status cmd_mail_rcpt(struct cmd_ctx *c, const char *a, size_t n, bool is_mail);
static enum dg_status cmd_path(struct cmd_ctx *c, const char *s, size_t n, size_t off,
                               bool is_mail, bool utf8);
static size_t cmd_path_end(const char *s, size_t n);
static bool cmd_local_ok(const char *s, size_t n, bool utf8);
static bool cmd_domain_ok(const char *s, size_t n, bool utf8, bool *literal);
static bool cmd_literal_ok(const char *s, size_t n);
static enum dg_status cmd_params(struct cmd_ctx *c, const char *s, size_t n, size_t off,
                                 bool is_mail);
static enum dg_status cmd_param_one(struct cmd_ctx *c, const char *s, size_t n, size_t off,
                                    bool is_mail);
static enum dg_status cmd_param_known(struct cmd_ctx *c, struct dg_smtp_param *pm, size_t off,
                                      bool is_mail);

static const struct {
	const char *name;
	enum dg_smtp_verb verb;
} cmd_verbs[] = {
    {"EHLO", DG_SMTP_VERB_EHLO}, {"HELO", DG_SMTP_VERB_HELO},
    {"MAIL", DG_SMTP_VERB_MAIL}, {"RCPT", DG_SMTP_VERB_RCPT},
    {"DATA", DG_SMTP_VERB_DATA}, {"BDAT", DG_SMTP_VERB_BDAT},
    {"RSET", DG_SMTP_VERB_RSET}, {"NOOP", DG_SMTP_VERB_NOOP},
    {"QUIT", DG_SMTP_VERB_QUIT}, {"VRFY", DG_SMTP_VERB_VRFY},
    {"STARTTLS", DG_SMTP_VERB_STARTTLS}, {"AUTH", DG_SMTP_VERB_AUTH},
};

/* Set the reply and the error detail; return st. */
static enum dg_status cmd_fail(struct cmd_ctx *c, enum dg_status st, unsigned code,
                               const char *status, const char *text, size_t off, const char *fmt,
                               ...)
{
	va_list ap;

	c->cmd->reply = (struct dg_smtp_cmd_reply){code, status, text};
	if (c->err == NULL)
		return st;
	dg_err_clear(c->err);
	c->err->code = st;
	c->err->offset = off;
	c->err->where = "smtp command";
	va_start(ap, fmt);
	vsnprintf(c->err->msg, sizeof(c->err->msg), fmt, ap);
	va_end(ap);
	return st;
}

void dg_smtp_cmd_opts_init(struct dg_smtp_cmd_opts *opts)
{
	memset(opts, 0, sizeof(*opts));
	opts->line_max = DG_SMTP_CMD_LINE_MAX;
	opts->ext_line_max = CMD_EXT_LINE_DEFAULT;
}

enum dg_status dg_smtp_cmd_line_end(const uint8_t *p, size_t len, size_t max, size_t *line_len)
{
	size_t n = len < max ? len : max;
	const uint8_t *lf = n > 0 ? memchr(p, '\n', n) : NULL;

	if (lf != NULL) {
		*line_len = (size_t)(lf - p) + 1;
		return DG_OK;
	}
	return len >= max ? DG_E_LIMIT : DG_E_NOTFOUND;
}

const char *dg_smtp_verb_str(enum dg_smtp_verb verb)
{
	for (size_t i = 0; i < sizeof(cmd_verbs) / sizeof(cmd_verbs[0]); i++)
		if (cmd_verbs[i].verb == verb)
			return cmd_verbs[i].name;
	return "UNKNOWN";
}

/* Refuse control bytes (NUL, bare CR, ...) inside the line proper. */
static enum dg_status cmd_check_line(struct cmd_ctx *c, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((p[i] < 0x20 && p[i] != '\t') || p[i] == 0x7f)
			return cmd_fail(c, DG_E_PARSE, 500, "5.5.2", "syntax error", i,
			                "command line: control byte 0x%02x at offset %zu", p[i], i);
	return DG_OK;
}

enum dg_status dg_smtp_cmd_parse(const uint8_t *p, size_t len, const struct dg_smtp_cmd_opts *opts,
                                 struct dg_smtp_cmd *cmd, struct dg_err *err)
{
	struct dg_smtp_cmd_opts def;
	struct cmd_ctx c = {opts, cmd, err, 0};
	size_t n = len, v = 0, cap;
	enum dg_status st;

	memset(cmd, 0, sizeof(*cmd));
	cmd->reply = (struct dg_smtp_cmd_reply){0, "", ""};
	if (opts == NULL) {
		dg_smtp_cmd_opts_init(&def);
		c.opts = &def;
	}
	if (n == 0 || p[n - 1] != '\n')
		return cmd_fail(&c, DG_E_PARSE, 500, "5.5.2", "syntax error", n,
		                "command line does not end in LF");
	n -= (n >= 2 && p[n - 2] == '\r') ? 2 : 1;
	if ((st = cmd_check_line(&c, p, n)) != DG_OK)
		return st;
	while (v < n && v <= CMD_VERB_MAX && dg_ascii_isalpha(p[v]))
		v++;
	for (size_t i = 0; i < sizeof(cmd_verbs) / sizeof(cmd_verbs[0]); i++)
		if (strlen(cmd_verbs[i].name) == v &&
		    dg_ascii_strncasecmp((const char *)p, cmd_verbs[i].name, v) == 0)
			cmd->verb = cmd_verbs[i].verb;
	if (cmd->verb == DG_SMTP_VERB_UNKNOWN || (v < n && p[v] != ' '))
		return cmd_fail(&c, DG_E_PARSE, 500, "5.5.2", "command unrecognized", 0,
		                "unknown command verb");
	cap = c.opts->line_max;
	if (cmd->verb == DG_SMTP_VERB_MAIL || cmd->verb == DG_SMTP_VERB_RCPT)
		cap = c.opts->ext_line_max < DG_SMTP_CMD_EXT_LINE_LIMIT ? c.opts->ext_line_max
		                                                        : DG_SMTP_CMD_EXT_LINE_LIMIT;
	if (len > cap || n >= sizeof(cmd->arg))
		return cmd_fail(&c, DG_E_LIMIT, 500, "5.5.2", "line too long", cap,
		                "%s line of %zu bytes exceeds the cap of %zu",
		                dg_smtp_verb_str(cmd->verb), len, cap);
	c.arg_off = v < n ? v + 1 : n;
	memcpy(cmd->arg, p + c.arg_off, n - c.arg_off);
	cmd->arg[n - c.arg_off] = '\0';
	return cmd_dispatch(&c, n - c.arg_off);
}

/* Check the argument of the verb; n is the argument length. */
static enum dg_status cmd_dispatch(struct cmd_ctx *c, size_t n)
{
	const char *a = c->cmd->arg;

	switch (c->cmd->verb) {
	case DG_SMTP_VERB_EHLO:
	case DG_SMTP_VERB_HELO:
		return cmd_helo(c, a, n);
	case DG_SMTP_VERB_MAIL:
	case DG_SMTP_VERB_RCPT:
		return cmd_mail_rcpt(c, a, n, c->cmd->verb == DG_SMTP_VERB_MAIL);
	case DG_SMTP_VERB_BDAT:
	case DG_SMTP_VERB_AUTH:
		return cmd_fail(c, DG_E_PROTO, 502, "5.5.1", "command not implemented", 0,
		                "%s is not supported", dg_smtp_verb_str(c->cmd->verb));
	case DG_SMTP_VERB_VRFY:
		if (n == 0)
			return cmd_fail(c, DG_E_PARSE, 501, "5.5.4", "argument required",
			                c->arg_off, "VRFY without an argument");
		return DG_OK;
	case DG_SMTP_VERB_NOOP:
		return DG_OK;
	case DG_SMTP_VERB_DATA:
	case DG_SMTP_VERB_RSET:
	case DG_SMTP_VERB_QUIT:
	case DG_SMTP_VERB_STARTTLS:
	case DG_SMTP_VERB_UNKNOWN:
		break;
	}
	if (n > 0)
		return cmd_fail(c, DG_E_PARSE, 501, "5.5.4", "no parameters allowed", c->arg_off,
		                "%s takes no argument", dg_smtp_verb_str(c->cmd->verb));
	return DG_OK;
}

/* EHLO/HELO: a domain or an address literal, nothing else. */
static enum dg_status cmd_helo(struct cmd_ctx *c, const char *a, size_t n)
{
	bool literal = false;

	if (n == 0)
		return cmd_fail(c, DG_E_PARSE, 501, "5.5.4", "domain name required", c->arg_off,
		                "%s without a domain", dg_smtp_verb_str(c->cmd->verb));
	if (n > DG_SMTP_DOMAIN_MAX || !cmd_domain_ok(a, n, false, &literal))
		return cmd_fail(c, DG_E_PARSE, 501, "5.5.4", "invalid domain name", c->arg_off,
		                "%s argument is not a domain or address literal",
		                dg_smtp_verb_str(c->cmd->verb));
	memcpy(c->cmd->domain, a, n);
	c->cmd->domain[n] = '\0';
	c->cmd->is_literal = literal;
	return DG_OK;
}

/* Offset of the '>' closing a path that starts with '<' (quotes honoured), or 0. */
static size_t cmd_path_end(const char *s, size_t n)
{
	bool quoted = false;

	for (size_t i = 1; i < n; i++) {
		if (quoted && s[i] == '\\' && i + 1 < n)
			i++;
		else if (s[i] == '"')
			quoted = !quoted;
		else if (!quoted && s[i] == '>')
			return i;
	}
	return 0;
}

/* MAIL FROM:<path> [params] / RCPT TO:<path> [params]. */
static enum dg_status cmd_mail_rcpt(struct cmd_ctx *c, const char *a, size_t n, bool is_mail)
{
	const char *pfx = is_mail ? "FROM:" : "TO:";
	size_t i = strlen(pfx), end;
	enum dg_status st;

	if (n < i || dg_ascii_strncasecmp(a, pfx, i) != 0)
		return cmd_fail(c, DG_E_PARSE, 501, "5.5.4", "syntax error in parameters",
		                c->arg_off, "%s without %s", dg_smtp_verb_str(c->cmd->verb), pfx);
	while (i < n && a[i] == ' ')
		i++; /* "MAIL FROM: <a@b>" is common; tolerated */
	if (i >= n || a[i] != '<' || (end = cmd_path_end(a + i, n - i)) == 0)
		return cmd_fail(c, DG_E_PARSE, 553, "5.1.3", "bad address syntax", c->arg_off + i,
		                "%s path is not enclosed in <>", dg_smtp_verb_str(c->cmd->verb));
	end += i;
	if (end + 1 < n && a[end + 1] != ' ')
		return cmd_fail(c, DG_E_PARSE, 501, "5.5.4", "syntax error in parameters",
		                c->arg_off + end + 1, "junk after the path");
	if (end + 1 < n &&
	    (st = cmd_params(c, a + end + 1, n - end - 1, c->arg_off + end + 1, is_mail)) != DG_OK)
		return st;
	return cmd_path(c, a + i + 1, end - i - 1, c->arg_off + i + 1, is_mail,
	                is_mail ? c->cmd->smtputf8 : c->opts->utf8_txn);
}

#define CMD_BAD_PATH(c, off, ...)                                                                  \
	cmd_fail((c), DG_E_PARSE, 553, "5.1.3", "bad address syntax", (off), __VA_ARGS__)

/* The path between < and >: [source route ":"] mailbox, or empty. */
static enum dg_status cmd_path(struct cmd_ctx *c, const char *s, size_t n, size_t off,
                               bool is_mail, bool utf8)
{
	struct dg_smtp_cmd *cmd = c->cmd;
	size_t at, i = 0;
	bool lit;

	if (n == 0 && is_mail) {
		cmd->null_path = true;
		return DG_OK;
	}
	if (n > DG_SMTP_PATH_MAX)
		return cmd_fail(c, DG_E_LIMIT, 553, "5.1.3", "path too long", off,
		                "path of %zu bytes exceeds %d", n, DG_SMTP_PATH_MAX);
	for (size_t k = 0; k < n; k++)
		if ((unsigned char)s[k] >= 0x80 && !utf8)
			return cmd_fail(c, DG_E_PARSE, 553, "5.6.7",
			                "non-ASCII address requires SMTPUTF8", off + k,
			                "non-ASCII byte in path without SMTPUTF8");
	while (i < n && s[i] == '@') { /* source route: accepted and dropped */
		size_t j = i + 1;

		while (j < n && s[j] != ',' && s[j] != ':')
			j++;
		if (j >= n || !cmd_domain_ok(s + i + 1, j - i - 1, utf8, &lit))
			return CMD_BAD_PATH(c, off + i, "bad source route");
		i = j + 1;
		if (s[j] == ':')
			break;
		if (i >= n || s[i] != '@')
			return CMD_BAD_PATH(c, off + i, "bad source route");
	}
	s += i, n -= i, off += i;
	if (!is_mail && n == 10 && dg_ascii_strncasecmp(s, "postmaster", 10) == 0) {
		memcpy(cmd->mailbox, s, n);
		memcpy(cmd->local, s, n);
		return DG_OK;
	}
	at = n;
	if (n > 0 && s[0] == '"') {
		for (at = 1; at < n && s[at] != '"'; at++)
			if (s[at] == '\\')
				at++;
		at++;
	} else {
		for (at = 0; at < n && s[at] != '@'; at++)
			;
	}
	if (at >= n || s[at] != '@' || at == 0 || at > DG_SMTP_LOCAL_MAX ||
	    !cmd_local_ok(s, at, utf8))
		return CMD_BAD_PATH(c, off, "bad local part");
	if (n - at - 1 > DG_SMTP_DOMAIN_MAX || !cmd_domain_ok(s + at + 1, n - at - 1, utf8, &lit))
		return CMD_BAD_PATH(c, off + at + 1, "bad domain");
	memcpy(cmd->mailbox, s, n);
	memcpy(cmd->local, s, at);
	memcpy(cmd->mdomain, s + at + 1, n - at - 1);
	return DG_OK;
}

/* Dot-string or quoted-string (RFC 5321 4.1.2), UTF-8 allowed if utf8. */
static bool cmd_local_ok(const char *s, size_t n, bool utf8)
{
	const unsigned char *u = (const unsigned char *)s;
	bool quoted = n >= 2 && s[0] == '"' && s[n - 1] == '"';
	size_t i = quoted ? 1 : 0, end = quoted ? n - 1 : n;

	if (!quoted && (s[0] == '.' || s[n - 1] == '.'))
		return false;
	while (i < end) {
		size_t k;

		if (u[i] >= 0x80) {
			if (!utf8 || (k = dg_utf8_seq_len(u + i, end - i)) == 0)
				return false;
			i += k;
			continue;
		}
		if (quoted && u[i] == '\\') {
			if (i + 1 >= end || u[i + 1] < 32 || u[i + 1] > 126)
				return false;
			i += 2;
			continue;
		}
		if (quoted ? (u[i] < 32 || u[i] == '"' || u[i] > 126)
		           : !(dg_ascii_isalnum(u[i]) || strchr("!#$%&'*+-/=?^_`{|}~", u[i]) ||
		               (u[i] == '.' && i + 1 < end && u[i + 1] != '.')))
			return false;
		if (!quoted && u[i] == 0)
			return false;
		i++;
	}
	return true;
}

/* [IPv4] or [IPv6:...] (RFC 5321 4.1.3); general literals are refused. */
static bool cmd_literal_ok(const char *s, size_t n)
{
	char buf[64];
	unsigned char addr[16];

	if (n < 3 || s[n - 1] != ']' || n - 2 >= sizeof(buf))
		return false;
	memcpy(buf, s + 1, n - 2);
	buf[n - 2] = '\0';
	if (dg_ascii_strncasecmp(buf, "IPv6:", 5) == 0)
		return inet_pton(AF_INET6, buf + 5, addr) == 1;
	return inet_pton(AF_INET, buf, addr) == 1;
}

/* A domain (dg_name_is_valid, or U-labels when utf8) or an address literal. */
static bool cmd_domain_ok(const char *s, size_t n, bool utf8, bool *literal)
{
	char buf[DG_SMTP_DOMAIN_MAX + 1];
	const unsigned char *u = (const unsigned char *)s;
	size_t label = 0;
	bool ascii = true;

	*literal = n > 0 && s[0] == '[';
	if (*literal)
		return cmd_literal_ok(s, n);
	if (n == 0 || n > DG_SMTP_DOMAIN_MAX || s[n - 1] == '.')
		return false;
	for (size_t i = 0; i < n; i++)
		ascii = ascii && u[i] < 0x80;
	if (ascii) {
		memcpy(buf, s, n);
		buf[n] = '\0';
		return dg_name_is_valid(buf, NULL);
	}
	for (size_t i = 0; utf8 && i <= n; i++) {
		size_t k = 1;

		if (i == n || s[i] == '.') {
			if (label == 0 || label > DG_NAME_LABEL_MAX || s[i - 1] == '-' ||
			    s[i - label] == '-')
				return false;
			label = 0;
			continue;
		}
		if (u[i] >= 0x80 && (k = dg_utf8_seq_len(u + i, n - i)) == 0)
			return false;
		if (u[i] < 0x80 && !dg_ascii_isalnum(u[i]) && u[i] != '-')
			return false;
		label += k;
		i += k - 1;
	}
	return utf8;
}

/* SP-separated ESMTP parameters after the path (s starts with the SP). */
static enum dg_status cmd_params(struct cmd_ctx *c, const char *s, size_t n, size_t off,
                                 bool is_mail)
{
	size_t i = 0;
	enum dg_status st;

	while (i < n) {
		size_t j;

		while (i < n && s[i] == ' ')
			i++;
		if (i >= n)
			break;
		for (j = i; j < n && s[j] != ' '; j++)
			;
		if (c->cmd->nparams >= DG_SMTP_CMD_PARAMS_MAX)
			return cmd_fail(c, DG_E_LIMIT, 501, "5.5.4", "too many parameters",
			                off + i, "more than %d ESMTP parameters",
			                DG_SMTP_CMD_PARAMS_MAX);
		if ((st = cmd_param_one(c, s + i, j - i, off + i, is_mail)) != DG_OK)
			return st;
		i = j;
	}
	return DG_OK;
}

/* keyword[=value] (RFC 5321 4.1.2 esmtp-param; UTF-8 values per RFC 6531). */
static enum dg_status cmd_param_one(struct cmd_ctx *c, const char *s, size_t n, size_t off,
                                    bool is_mail)
{
	struct dg_smtp_param *pm = &c->cmd->params[c->cmd->nparams];
	const unsigned char *u = (const unsigned char *)s;
	size_t k = 0, v;

	while (k < n && s[k] != '=' &&
	       (dg_ascii_isalnum(u[k]) || (k > 0 && s[k] == '-')))
		k++;
	if (k == 0 || k > DG_SMTP_CMD_KW_LEN || (k < n && s[k] != '=') || k + 1 == n ||
	    n - k > DG_SMTP_CMD_VALUE_LEN + 1)
		return cmd_fail(c, DG_E_PARSE, 501, "5.5.4", "syntax error in parameters", off,
		                "malformed ESMTP parameter");
	for (v = k + 1; v < n; v++) {
		size_t m = 1;

		if (u[v] >= 0x80 && (!c->opts->smtputf8 || (m = dg_utf8_seq_len(u + v, n - v)) == 0))
			return cmd_fail(c, DG_E_PARSE, 501, "5.5.4", "syntax error in parameters",
			                off + v, "bad byte in ESMTP parameter value");
		if (u[v] < 33 || u[v] == '=' || u[v] == 127)
			return cmd_fail(c, DG_E_PARSE, 501, "5.5.4", "syntax error in parameters",
			                off + v, "bad byte in ESMTP parameter value");
		v += m - 1;
	}
	for (size_t i = 0; i < k; i++)
		pm->kw[i] = (char)dg_ascii_toupper(u[i]);
	pm->kw[k] = '\0';
	pm->has_value = k < n;
	if (pm->has_value)
		memcpy(pm->value, s + k + 1, n - k - 1);
	pm->value[pm->has_value ? n - k - 1 : 0] = '\0';
	c->cmd->nparams++;
	return cmd_param_known(c, pm, off, is_mail);
}

/* Interpret SIZE, BODY, SMTPUTF8 on MAIL; anything else is unknown (555). */
static enum dg_status cmd_param_known(struct cmd_ctx *c, struct dg_smtp_param *pm, size_t off,
                                      bool is_mail)
{
	struct dg_smtp_cmd *cmd = c->cmd;
	enum dg_status st;

	cmd->bad_param = cmd->nparams - 1;
	if (is_mail && strcmp(pm->kw, "SIZE") == 0 && pm->has_value && !cmd->has_size) {
		st = dg_parse_u32(pm->value, 0, UINT32_MAX, &cmd->size);
		if (st == DG_E_PARSE)
			return cmd_fail(c, st, 501, "5.5.4", "bad SIZE value", off, "bad SIZE value");
		if (st != DG_OK || (c->opts->size_max > 0 && cmd->size > c->opts->size_max))
			return cmd_fail(c, DG_E_LIMIT, 552, "5.3.4", "message size exceeds fixed limit",
			                off, "SIZE=%s exceeds the limit of %u", pm->value,
			                (unsigned)c->opts->size_max);
		cmd->has_size = true;
		return DG_OK;
	}
	if (is_mail && strcmp(pm->kw, "BODY") == 0 && pm->has_value && cmd->body == DG_SMTP_BODY_NONE) {
		if (dg_ascii_strcasecmp(pm->value, "7BIT") == 0)
			cmd->body = DG_SMTP_BODY_7BIT;
		else if (dg_ascii_strcasecmp(pm->value, "8BITMIME") == 0)
			cmd->body = DG_SMTP_BODY_8BITMIME;
		else
			return cmd_fail(c, DG_E_PARSE, 555, "5.5.4", "unsupported BODY value", off,
			                "unsupported BODY value");
		return DG_OK;
	}
	if (is_mail && strcmp(pm->kw, "SMTPUTF8") == 0 && !pm->has_value && !cmd->smtputf8 &&
	    c->opts->smtputf8) {
		cmd->smtputf8 = true;
		return DG_OK;
	}
	return cmd_fail(c, DG_E_PARSE, 555, "5.5.4", "parameter not recognized", off,
	                "ESMTP parameter %s not recognized or repeated", pm->kw);
}
