/*
 * rollover_conf.c - rollover.conf: the configuration of one rollover state directory.
 *
 * Public: dg_rollover_conf_init, dg_rollover_conf_parse, dg_rollover_conf_format.
 *
 * Format: one "key value" per line, '#' starts a comment line, the value runs to the end of
 * the line (commands may hold spaces). The parser is pure (no I/O, no logging) and names the
 * line of the first error (STYLE.md section 7). Values are capped (DG_ROLLOVER_STR_MAX), host
 * and zone names validated, numbers read with dg_parse_u32().
 *
 * Ownership: the configuration is embedded and holds no heap memory; the formatted text
 * belongs to the caller. SPEC section 12 PUB-6 (scheme), PUB-7 (TTL).
 */
#include <daneguard/rollover.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CONF_LINE_MAX 2048

static enum dg_status conf_str(char *dst, size_t size, const char *v, unsigned line,
                               struct dg_err *err);
static enum dg_status conf_name(char *dst, const char *v, unsigned line, struct dg_err *err);
static enum dg_status conf_server(struct dg_rollover_conf *c, const char *v, unsigned line,
                                  struct dg_err *err);
static enum dg_status conf_num(const char *v, uint32_t min, uint32_t max, uint32_t *out,
                               const char *key, unsigned line, struct dg_err *err);
static enum dg_status conf_enum(struct dg_rollover_conf *c, const char *k, const char *v,
                                unsigned line, struct dg_err *err);
static enum dg_status conf_set(struct dg_rollover_conf *c, const char *k, const char *v,
                               unsigned line, struct dg_err *err);
static enum dg_status conf_line(struct dg_rollover_conf *c, char *s, unsigned line,
                                struct dg_err *err);
static enum dg_status conf_complete(const struct dg_rollover_conf *c, struct dg_err *err);

void dg_rollover_conf_init(struct dg_rollover_conf *c)
{
	memset(c, 0, sizeof(*c));
	c->port = 25;
	c->primary_port = 53;
	c->ttl_s = 3600;
	c->scheme = DG_ROLLOVER_EE_EE;
	c->key_type = DG_ROLLOVER_KEY_EC_P256;
	c->rsa_bits = 2048;
	c->command_timeout_s = 300;
}

static enum dg_status conf_str(char *dst, size_t size, const char *v, unsigned line,
                               struct dg_err *err)
{
	if (strlen(v) >= size)
		return dg_err_set(err, DG_E_LIMIT, "rollover.conf line %u: value longer than %zu",
		                  line, size - 1);
	memcpy(dst, v, strlen(v) + 1);
	return DG_OK;
}

static enum dg_status conf_name(char *dst, const char *v, unsigned line, struct dg_err *err)
{
	struct dg_err e = {0};

	if (dg_name_normalize(v, dst, DG_NAME_BUF_SIZE, &e) != DG_OK)
		return dg_err_set(err, DG_E_PARSE, "rollover.conf line %u: %s", line, e.msg);
	return DG_OK;
}

static enum dg_status conf_server(struct dg_rollover_conf *c, const char *v, unsigned line,
                                  struct dg_err *err)
{
	const char *at = strrchr(v, '@');
	size_t n = at != NULL ? (size_t)(at - v) : strlen(v);
	uint32_t port = 53;

	if (n == 0 || n >= sizeof(c->primary))
		return dg_err_set(err, DG_E_PARSE, "rollover.conf line %u: bad primary '%s'", line,
		                  v);
	if (at != NULL && conf_num(at + 1, 1, 65535, &port, "primary port", line, err) != DG_OK)
		return DG_E_PARSE;
	memcpy(c->primary, v, n);
	c->primary[n] = '\0';
	c->primary_port = (uint16_t)port;
	return DG_OK;
}

static enum dg_status conf_num(const char *v, uint32_t min, uint32_t max, uint32_t *out,
                               const char *key, unsigned line, struct dg_err *err)
{
	if (dg_parse_u32(v, min, max, out) != DG_OK)
		return dg_err_set(err, DG_E_PARSE, "rollover.conf line %u: %s '%s' is not in %u..%u",
		                  line, key, v, min, max);
	return DG_OK;
}

static enum dg_status conf_enum(struct dg_rollover_conf *c, const char *k, const char *v,
                                unsigned line, struct dg_err *err)
{
	if (strcmp(k, "scheme") == 0) {
		if (strcmp(v, "ee-ee") == 0 || strcmp(v, "ee-ta") == 0) {
			c->scheme = v[3] == 'e' ? DG_ROLLOVER_EE_EE : DG_ROLLOVER_EE_TA;
			return DG_OK;
		}
		return dg_err_set(err, DG_E_PARSE,
		                  "rollover.conf line %u: scheme '%s': want ee-ee or ee-ta", line, v);
	}
	if (strcmp(v, "ec") == 0 || strcmp(v, "rsa") == 0) {
		c->key_type = v[0] == 'e' ? DG_ROLLOVER_KEY_EC_P256 : DG_ROLLOVER_KEY_RSA;
		return DG_OK;
	}
	return dg_err_set(err, DG_E_PARSE, "rollover.conf line %u: key-type '%s': want ec or rsa",
	                  line, v);
}

static enum dg_status conf_set(struct dg_rollover_conf *c, const char *k, const char *v,
                               unsigned line, struct dg_err *err)
{
	uint32_t n = 0;
	enum dg_status st;

	if (strcmp(k, "zone") == 0)
		return conf_name(c->zone, v, line, err);
	if (strcmp(k, "host") == 0) {
		if (c->n_hosts == DG_ROLLOVER_MAX_HOSTS)
			return dg_err_set(err, DG_E_LIMIT, "rollover.conf line %u: more than %d hosts",
			                  line, DG_ROLLOVER_MAX_HOSTS);
		return conf_name(c->hosts[c->n_hosts++], v, line, err);
	}
	if (strcmp(k, "primary") == 0)
		return conf_server(c, v, line, err);
	if (strcmp(k, "scheme") == 0 || strcmp(k, "key-type") == 0)
		return conf_enum(c, k, v, line, err);
	if (strcmp(k, "port") == 0) {
		st = conf_num(v, 1, 65535, &n, k, line, err);
		c->port = (uint16_t)n;
		return st;
	}
	if (strcmp(k, "ttl") == 0)
		return conf_num(v, 1, 604800, &c->ttl_s, k, line, err);
	if (strcmp(k, "rsa-bits") == 0)
		return conf_num(v, 2048, 8192, &c->rsa_bits, k, line, err);
	if (strcmp(k, "command-timeout") == 0)
		return conf_num(v, 1, 86400, &c->command_timeout_s, k, line, err);
	if (strcmp(k, "tsig-key") == 0)
		return conf_str(c->tsig_key_file, sizeof(c->tsig_key_file), v, line, err);
	if (strcmp(k, "cert-file") == 0)
		return conf_str(c->cert_file, sizeof(c->cert_file), v, line, err);
	if (strcmp(k, "key-file") == 0)
		return conf_str(c->key_file, sizeof(c->key_file), v, line, err);
	if (strcmp(k, "cert-command") == 0)
		return conf_str(c->cert_command, sizeof(c->cert_command), v, line, err);
	if (strcmp(k, "reload-command") == 0)
		return conf_str(c->reload_command, sizeof(c->reload_command), v, line, err);
	if (strcmp(k, "publish-command") == 0)
		return conf_str(c->publish_command, sizeof(c->publish_command), v, line, err);
	return dg_err_set(err, DG_E_PARSE, "rollover.conf line %u: unknown key '%s'", line, k);
}

static enum dg_status conf_line(struct dg_rollover_conf *c, char *s, unsigned line,
                                struct dg_err *err)
{
	char *k, *v, *end;

	while (dg_ascii_isspace(*s))
		s++;
	if (*s == '\0' || *s == '#')
		return DG_OK;
	k = s;
	while (*s != '\0' && !dg_ascii_isspace(*s))
		s++;
	if (*s == '\0')
		return dg_err_set(err, DG_E_PARSE, "rollover.conf line %u: '%s' has no value", line,
		                  k);
	*s++ = '\0';
	while (dg_ascii_isspace(*s))
		s++;
	v = s;
	end = v + strlen(v);
	while (end > v && dg_ascii_isspace(end[-1]))
		*--end = '\0';
	if (*v == '\0')
		return dg_err_set(err, DG_E_PARSE, "rollover.conf line %u: '%s' has no value", line,
		                  k);
	return conf_set(c, k, v, line, err);
}

static enum dg_status conf_complete(const struct dg_rollover_conf *c, struct dg_err *err)
{
	const char *miss = c->zone[0] == '\0'           ? "zone"
	                   : c->n_hosts == 0            ? "host"
	                   : c->cert_file[0] == '\0'    ? "cert-file"
	                   : c->key_file[0] == '\0'     ? "key-file"
	                   : c->cert_command[0] == '\0' ? "cert-command"
	                                                : NULL;

	if (miss != NULL)
		return dg_err_set(err, DG_E_CONFIG, "rollover.conf: '%s' is missing", miss);
	if (c->publish_command[0] == '\0' && (c->primary[0] == '\0' || c->tsig_key_file[0] == '\0'))
		return dg_err_set(err, DG_E_CONFIG,
		                  "rollover.conf: want 'primary' and 'tsig-key', or 'publish-command'");
	return DG_OK;
}

enum dg_status dg_rollover_conf_parse(const char *p, size_t len, struct dg_rollover_conf *out,
                                      struct dg_err *err)
{
	char buf[CONF_LINE_MAX];
	unsigned line = 0;
	size_t i = 0;

	dg_rollover_conf_init(out);
	if (len > DG_ROLLOVER_FILE_MAX)
		return dg_err_set(err, DG_E_LIMIT, "rollover.conf: larger than %d octets",
		                  DG_ROLLOVER_FILE_MAX);
	while (i < len) {
		size_t n = 0;
		line++;
		while (i < len && p[i] != '\n') {
			if (n + 1 >= sizeof(buf) || p[i] == '\0')
				return dg_err_set(err, DG_E_PARSE, "rollover.conf line %u: %s", line,
				                  p[i] == '\0' ? "NUL octet" : "line too long");
			buf[n++] = p[i++];
		}
		buf[n] = '\0';
		i++;
		if (conf_line(out, buf, line, err) != DG_OK)
			return err != NULL ? err->code : DG_E_PARSE;
	}
	return conf_complete(out, err);
}

char *dg_rollover_conf_format(const struct dg_rollover_conf *c)
{
	struct dg_buf b;

	dg_buf_init(&b, 4 * DG_ROLLOVER_FILE_MAX);
	dg_buf_printf(&b, "# daneguard rollover configuration (docs/rollover.md)\nzone %s\n",
	              c->zone);
	for (size_t i = 0; i < c->n_hosts; i++)
		dg_buf_printf(&b, "host %s\n", c->hosts[i]);
	dg_buf_printf(&b, "port %u\nttl %u\nscheme %s\nkey-type %s\nrsa-bits %u\n",
	              (unsigned)c->port, c->ttl_s, c->scheme == DG_ROLLOVER_EE_EE ? "ee-ee" : "ee-ta",
	              c->key_type == DG_ROLLOVER_KEY_RSA ? "rsa" : "ec", c->rsa_bits);
	if (c->primary[0] != '\0')
		dg_buf_printf(&b, "primary %s@%u\n", c->primary, (unsigned)c->primary_port);
	if (c->tsig_key_file[0] != '\0')
		dg_buf_printf(&b, "tsig-key %s\n", c->tsig_key_file);
	dg_buf_printf(&b, "cert-file %s\nkey-file %s\ncert-command %s\n", c->cert_file, c->key_file,
	              c->cert_command);
	if (c->reload_command[0] != '\0')
		dg_buf_printf(&b, "reload-command %s\n", c->reload_command);
	if (c->publish_command[0] != '\0')
		dg_buf_printf(&b, "publish-command %s\n", c->publish_command);
	dg_buf_printf(&b, "command-timeout %u\n", c->command_timeout_s);
	return dg_buf_take(&b);
}
