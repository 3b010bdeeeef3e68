/*
 * relay_policy.c - the relay's per-domain TLS policy table, in Postfix smtp_tls_policy_maps
 * source syntax.
 *
 * Public: dg_relay_policy_map_parse, dg_relay_policy_map_load, dg_relay_policy_lookup,
 * dg_relay_policy_map_count, dg_relay_policy_map_get, dg_relay_policy_map_free,
 * dg_relay_level_str, dg_relay_mode_str.
 *
 * Format: `KEY LEVEL [NAME=VALUE ...]` per logical line; '#' comment lines and blank lines are
 * skipped; a line starting with whitespace continues the previous logical line (Postfix map
 * source rule), so an entry's line is the line where it starts. KEY is a next-hop domain
 * (exact) or ".domain" (every subdomain). This is where an operator disables DANE for a
 * destination (`may`, SPEC 8 FAIL-5) or audits it (`mode=log-only`, SPEC 8 FAIL-3); a domain
 * without an entry gets DANE, else MTA-STS, else may (SPEC 10 STS-9; STS-7 for testing).
 * The parser is pure and keeps the first error; entries are sorted once, so a lookup is a
 * few binary searches (exact name, then each parent as ".parent", nearest first).
 *
 * Ownership: the map owns its entries and their domain strings (one arena); lookups return
 * borrowed pointers valid until dg_relay_policy_map_free().
 */
#include <daneguard/relay.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct dg_relay_policy_map {
	struct dg_relay_policy_entry *v; /* sorted by (domain, subdomains) after parsing */
	size_t n, cap;
	struct dg_arena names; /* domain strings */
};

/* State of one parse. */
struct pol_parse {
	struct dg_relay_policy_map *m;
	const char *source;
	size_t warnings;
	struct dg_err *err;
};

static const struct {
	const char *name;
	enum dg_relay_level level; /* DG_RELAY_LEVEL_DEFAULT: recognised, not supported */
} pol_levels[] = {
    {"none", DG_RELAY_LEVEL_NONE},           {"may", DG_RELAY_LEVEL_MAY},
    {"encrypt", DG_RELAY_LEVEL_ENCRYPT},     {"dane", DG_RELAY_LEVEL_DANE},
    {"dane-only", DG_RELAY_LEVEL_DANE_ONLY}, {"verify", DG_RELAY_LEVEL_DEFAULT},
    {"secure", DG_RELAY_LEVEL_DEFAULT},      {"fingerprint", DG_RELAY_LEVEL_DEFAULT},
};

static enum dg_status pol_fail(struct pol_parse *p, unsigned line, enum dg_status code,
                               const char *fmt, ...) DG_PRINTF(4, 5);
static char *pol_token(char **s);
static enum dg_status pol_key(struct pol_parse *p, const char *key, unsigned line,
                              struct dg_relay_policy_entry *e, char *name);
static enum dg_status pol_level(struct pol_parse *p, const char *key, const char *tok,
                                unsigned line, struct dg_relay_policy_entry *e);
static enum dg_status pol_attrs(struct pol_parse *p, char *s, unsigned line,
                                struct dg_relay_policy_entry *e);
static enum dg_status pol_entry(struct pol_parse *p, char *s, unsigned line);
static enum dg_status pol_lines(struct pol_parse *p, const char *text, size_t len);
static int pol_cmp(const void *a, const void *b);
static int pol_cmp_line(const void *a, const void *b);
static enum dg_status pol_sort(struct pol_parse *p);
static const struct dg_relay_policy_entry *pol_find(const struct dg_relay_policy_map *m,
                                                    const char *domain, bool subdomains);

static enum dg_status pol_fail(struct pol_parse *p, unsigned line, enum dg_status code,
                               const char *fmt, ...)
{
	char why[DG_ERR_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	return dg_err_set(p->err, code, "%s:%u: %s", p->source, line, why);
}

/* Next whitespace-separated token of *s (NUL-terminated in place), or NULL at the end. */
static char *pol_token(char **s)
{
	char *t = *s;

	while (dg_ascii_isspace((unsigned char)*t))
		t++;
	if (*t == '\0')
		return NULL;
	*s = t;
	while (**s != '\0' && !dg_ascii_isspace((unsigned char)**s))
		(*s)++;
	if (**s != '\0')
		*(*s)++ = '\0';
	return t;
}

static enum dg_status pol_key(struct pol_parse *p, const char *key, unsigned line,
                              struct dg_relay_policy_entry *e, char *name)
{
	char shown[80];
	struct dg_err ne = {0};

	dg_str_escape(shown, sizeof(shown), key, strlen(key));
	if (key[0] == '[' || strchr(key, ':') != NULL)
		return pol_fail(p, line, DG_E_PARSE,
		                "key '%s': daneguard keys policy by next-hop domain, not by [host] "
		                "or host:port",
		                shown);
	e->subdomains = key[0] == '.';
	if (dg_name_normalize(key + (e->subdomains ? 1 : 0), name, DG_NAME_BUF_SIZE, &ne) != DG_OK)
		return pol_fail(p, line, DG_E_PARSE, "key '%s': %s", shown, ne.msg);
	return DG_OK;
}

static enum dg_status pol_level(struct pol_parse *p, const char *key, const char *tok,
                                unsigned line, struct dg_relay_policy_entry *e)
{
	char shown[64];

	if (tok == NULL)
		return pol_fail(p, line, DG_E_PARSE, "key '%s' has no TLS security level", key);
	for (size_t i = 0; i < sizeof(pol_levels) / sizeof(pol_levels[0]); i++) {
		if (dg_ascii_strcasecmp(tok, pol_levels[i].name) != 0)
			continue;
		if (pol_levels[i].level == DG_RELAY_LEVEL_DEFAULT)
			return pol_fail(p, line, DG_E_PARSE,
			                "%s: TLS security level '%s' is not supported by daneguard "
			                "(use dane-only, dane, encrypt, may or none)",
			                key, pol_levels[i].name);
		e->level = pol_levels[i].level;
		return DG_OK;
	}
	dg_str_escape(shown, sizeof(shown), tok, strlen(tok));
	return pol_fail(p, line, DG_E_PARSE,
	                "%s: unknown TLS security level '%s' (want dane-only, dane, encrypt, may "
	                "or none)",
	                key, shown);
}

/*
 * NAME=VALUE attributes. mode= is daneguard's per-domain audit switch (SPEC 8 FAIL-3); any
 * other attribute is Postfix's (ciphers=, protocols=, match=, ...) and is ignored with a
 * warning. A value in braces ("{ ... }", Postfix 3.0 syntax) may hold spaces.
 */
static enum dg_status pol_attrs(struct pol_parse *p, char *s, unsigned line,
                                struct dg_relay_policy_entry *e)
{
	char *tok, *eq, shown[64];

	while ((tok = pol_token(&s)) != NULL) {
		dg_str_escape(shown, sizeof(shown), tok, strlen(tok));
		eq = strchr(tok, '=');
		if (tok[0] == '{' || (eq != NULL && eq[1] == '{')) {
			while (tok[strlen(tok) - 1] != '}')
				if ((tok = pol_token(&s)) == NULL)
					return pol_fail(p, line, DG_E_PARSE,
					                "attribute '%s': no closing '}'", shown);
			p->warnings++;
			continue;
		}
		if (eq == NULL || eq == tok)
			return pol_fail(p, line, DG_E_PARSE, "attribute '%s' is not NAME=VALUE",
			                shown);
		*eq = '\0';
		if (strcmp(tok, "mode") != 0) {
			p->warnings++;
			continue;
		}
		if (e->mode != DG_RELAY_MODE_INHERIT)
			return pol_fail(p, line, DG_E_PARSE, "mode= given twice");
		if (strcmp(eq + 1, "enforce") == 0)
			e->mode = DG_RELAY_MODE_ENFORCE;
		else if (strcmp(eq + 1, "log-only") == 0)
			e->mode = DG_RELAY_MODE_LOG_ONLY;
		else
			return pol_fail(p, line, DG_E_PARSE,
			                "'%s': want mode=enforce or mode=log-only", shown);
	}
	return DG_OK;
}

/* One logical line: KEY LEVEL [NAME=VALUE ...]. */
static enum dg_status pol_entry(struct pol_parse *p, char *s, unsigned line)
{
	struct dg_relay_policy_map *m = p->m;
	struct dg_relay_policy_entry e = {0};
	char name[DG_NAME_BUF_SIZE], *key;
	enum dg_status st;

	key = pol_token(&s);
	if (key == NULL)
		return DG_OK;
	if ((st = pol_key(p, key, line, &e, name)) != DG_OK)
		return st;
	if ((st = pol_level(p, key, pol_token(&s), line, &e)) != DG_OK)
		return st;
	if ((st = pol_attrs(p, s, line, &e)) != DG_OK)
		return st;
	if (m->n == DG_RELAY_POLICY_ENTRIES_MAX)
		return pol_fail(p, line, DG_E_LIMIT, "more than %u entries",
		                DG_RELAY_POLICY_ENTRIES_MAX);
	if (m->n == m->cap) {
		m->cap = m->cap == 0 ? 64 : m->cap * 2;
		m->v = dg_xrealloc(m->v, m->cap * sizeof(*m->v));
	}
	e.domain = dg_arena_strdup(&m->names, name);
	e.line = line;
	m->v[m->n++] = e;
	return DG_OK;
}

/*
 * Split @p text into logical lines: comment and blank lines are skipped, a line starting with
 * whitespace is joined to the current logical line with one space.
 */
static enum dg_status pol_lines(struct pol_parse *p, const char *text, size_t len)
{
	struct dg_buf logical;
	unsigned line = 0, start = 0;
	size_t off = 0;
	enum dg_status st = DG_OK;

	dg_buf_init(&logical, DG_RELAY_POLICY_LINE_MAX);
	while (st == DG_OK && off < len) {
		const char *l = text + off, *nl = memchr(l, '\n', len - off);
		size_t n = nl != NULL ? (size_t)(nl - l) : len - off, i = 0;

		off += n + (nl != NULL ? 1 : 0);
		line++;
		if (n > 0 && l[n - 1] == '\r')
			n--;
		if (memchr(l, '\0', n) != NULL) {
			st = pol_fail(p, line, DG_E_PARSE, "NUL byte");
			break;
		}
		while (i < n && dg_ascii_isspace((unsigned char)l[i]))
			i++;
		if (i == n || l[i] == '#')
			continue;
		if (i > 0 && start == 0) {
			st = pol_fail(p, line, DG_E_PARSE, "continuation line without an entry");
			break;
		}
		if (i == 0 && start != 0) {
			st = pol_entry(p, logical.data, start);
			dg_buf_reset(&logical);
			if (st != DG_OK)
				break;
		}
		if (i == 0)
			start = line;
		if ((i > 0 && dg_buf_putc(&logical, ' ') != DG_OK) ||
		    dg_buf_append(&logical, l + i, n - i) != DG_OK)
			st = pol_fail(p, start, DG_E_LIMIT, "entry longer than %u bytes",
			              DG_RELAY_POLICY_LINE_MAX);
	}
	if (st == DG_OK && start != 0)
		st = pol_entry(p, logical.data, start);
	dg_buf_cleanup(&logical);
	return st;
}

static int pol_cmp(const void *a, const void *b)
{
	const struct dg_relay_policy_entry *x = a, *y = b;
	int c = strcmp(x->domain, y->domain);

	return c != 0 ? c : (int)x->subdomains - (int)y->subdomains;
}

static int pol_cmp_line(const void *a, const void *b)
{
	const struct dg_relay_policy_entry *x = a, *y = b;
	int c = pol_cmp(a, b);

	return c != 0 ? c : (x->line > y->line) - (x->line < y->line);
}

/* Sort for lookups; a key given twice is an error naming the earliest repeat. */
static enum dg_status pol_sort(struct pol_parse *p)
{
	struct dg_relay_policy_map *m = p->m;
	const struct dg_relay_policy_entry *dup = NULL, *first = NULL;

	if (m->n > 1)
		qsort(m->v, m->n, sizeof(*m->v), pol_cmp_line);
	for (size_t i = 1; i < m->n; i++) {
		if (pol_cmp(&m->v[i - 1], &m->v[i]) != 0 ||
		    (dup != NULL && dup->line < m->v[i].line))
			continue;
		dup = &m->v[i];
		first = &m->v[i - 1];
	}
	if (dup == NULL)
		return DG_OK;
	return pol_fail(p, dup->line, DG_E_PARSE, "duplicate key '%s%s' (first at line %u)",
	                dup->subdomains ? "." : "", dup->domain, first->line);
}

enum dg_status dg_relay_policy_map_parse(const char *text, size_t len, const char *source,
                                         struct dg_relay_policy_map **out, size_t *n_warnings,
                                         struct dg_err *err)
{
	struct pol_parse p = {NULL, source != NULL ? source : "policy-map", 0, err};
	enum dg_status st;

	*out = NULL;
	if (n_warnings != NULL)
		*n_warnings = 0;
	if (len > DG_RELAY_POLICY_FILE_MAX)
		return dg_err_set(err, DG_E_LIMIT, "%s: larger than %u bytes", p.source,
		                  DG_RELAY_POLICY_FILE_MAX);
	p.m = dg_xcalloc(1, sizeof(*p.m));
	dg_arena_init(&p.m->names, 0);
	st = pol_lines(&p, text != NULL ? text : "", text != NULL ? len : 0);
	if (st == DG_OK)
		st = pol_sort(&p);
	if (st != DG_OK) {
		dg_relay_policy_map_free(p.m);
		return st;
	}
	if (n_warnings != NULL)
		*n_warnings = p.warnings;
	*out = p.m;
	return DG_OK;
}

enum dg_status dg_relay_policy_map_load(const char *path, struct dg_relay_policy_map **out,
                                        size_t *n_warnings, struct dg_err *err)
{
	char *text = NULL;
	size_t len = 0;
	enum dg_status st;

	*out = NULL;
	if (n_warnings != NULL)
		*n_warnings = 0;
	st = dg_relay_read_file(path, DG_RELAY_POLICY_FILE_MAX, &text, &len, err);
	if (st == DG_OK)
		st = dg_relay_policy_map_parse(text, len, path, out, n_warnings, err);
	free(text);
	return st;
}

static const struct dg_relay_policy_entry *pol_find(const struct dg_relay_policy_map *m,
                                                    const char *domain, bool subdomains)
{
	struct dg_relay_policy_entry key = {0};

	key.domain = domain;
	key.subdomains = subdomains;
	return m->n == 0 ? NULL : bsearch(&key, m->v, m->n, sizeof(*m->v), pol_cmp);
}

const struct dg_relay_policy_entry *dg_relay_policy_lookup(const struct dg_relay_policy_map *m,
                                                           const char *domain)
{
	char name[DG_NAME_BUF_SIZE];
	const struct dg_relay_policy_entry *e;
	const char *dot;

	if (m == NULL || domain == NULL ||
	    dg_name_normalize(domain, name, sizeof(name), NULL) != DG_OK)
		return NULL;
	if ((e = pol_find(m, name, false)) != NULL)
		return e;
	for (dot = strchr(name, '.'); dot != NULL; dot = strchr(dot + 1, '.'))
		if ((e = pol_find(m, dot + 1, true)) != NULL)
			return e;
	return NULL;
}

size_t dg_relay_policy_map_count(const struct dg_relay_policy_map *m)
{
	return m != NULL ? m->n : 0;
}

const struct dg_relay_policy_entry *dg_relay_policy_map_get(const struct dg_relay_policy_map *m,
                                                            size_t i)
{
	return m != NULL && i < m->n ? &m->v[i] : NULL;
}

void dg_relay_policy_map_free(struct dg_relay_policy_map *m)
{
	if (m == NULL)
		return;
	free(m->v);
	dg_arena_cleanup(&m->names);
	free(m);
}

const char *dg_relay_level_str(enum dg_relay_level l)
{
	switch (l) {
	case DG_RELAY_LEVEL_DEFAULT: return "default";
	case DG_RELAY_LEVEL_NONE: return "none";
	case DG_RELAY_LEVEL_MAY: return "may";
	case DG_RELAY_LEVEL_ENCRYPT: return "encrypt";
	case DG_RELAY_LEVEL_DANE: return "dane";
	case DG_RELAY_LEVEL_DANE_ONLY: return "dane-only";
	}
	return "?";
}

const char *dg_relay_mode_str(enum dg_relay_mode m)
{
	switch (m) {
	case DG_RELAY_MODE_INHERIT: return "inherit";
	case DG_RELAY_MODE_ENFORCE: return "enforce";
	case DG_RELAY_MODE_LOG_ONLY: return "log-only";
	}
	return "?";
}
