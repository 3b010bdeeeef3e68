/*
 * relay_conf.c - the relay's configuration: one key table for the config file and the CLI.
 *
 * Public: dg_relay_conf_init, dg_relay_conf_cleanup, dg_relay_conf_begin_source,
 * dg_relay_conf_set, dg_relay_conf_parse, dg_relay_conf_load, dg_relay_conf_check,
 * dg_relay_conf_finish, dg_relay_conf_client_cert_allowed, dg_relay_conf_keys,
 * dg_relay_conf_key_help, dg_relay_read_file.
 *
 * Every key is one row of conf_keys[]: its kind (how the value is read), where it is stored,
 * its bounds and its help text. The config file (`key = value` lines) and `--key value` both
 * end in dg_relay_conf_set(), so a value means the same from either place. Values are capped
 * (DG_RELAY_CONF_VALUE_MAX, lines DG_RELAY_CONF_LINE_MAX, the file DG_RELAY_CONF_FILE_MAX),
 * numbers are read with dg_parse_u32n() and bounded, names validated, addresses parsed with
 * inet_pton(). `mode` is the global audit switch (SPEC 8 FAIL-3); `policy-map` names the
 * per-domain table (relay_policy.c, SPEC 8 FAIL-5, SPEC 10 STS-9).
 *
 * Sources: each dg_relay_conf_parse() (and each dg_relay_conf_begin_source()) starts a source.
 * Within a source a non-list key may be given once; a later source overrides it. The first
 * value of a list key in a source replaces the earlier list (defaults included).
 *
 * Ownership: struct dg_relay_conf is embedded by the caller; its path strings are heap copies
 * freed by dg_relay_conf_cleanup(). Parsing is pure; only _load, _check (access to the named
 * files), _init (gethostname) and dg_relay_read_file touch the system.
 */
#include <daneguard/relay.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define WHY_MAX DG_ERR_MSG_MAX
#define MIB (1024u * 1024u)
#define DAY_S 86400u
/* Largest message the queue stores (DG_QUEUE_BODY_MAX in queue.h). */
#define CONF_MESSAGE_MAX (64u * MIB)

/* How a key's value is read. */
enum conf_kind {
	K_LISTEN,   /* ADDR:PORT list */
	K_PATH,     /* char * at off, a file checked by dg_relay_conf_check() */
	K_TEXT,     /* char * at off, free text (a name, an address, a shell command) */
	K_ALLOW,    /* CIDR list */
	K_MODE,     /* enforce | log-only */
	K_RESOLVER, /* ADDR[@PORT] list */
	K_HELO,     /* DNS name */
	K_SIZE,     /* bytes with k/M suffix, uint64_t */
	K_U32,      /* uint32_t at off */
	K_DURATION, /* seconds with s/m/h/d suffix, uint32_t at off */
	K_FPR,      /* SHA-256 fingerprint list */
	K_METRICS,  /* ADDR:PORT */
	K_LOGLEVEL, /* error | warn | info | debug */
	K_DSNFROM,  /* local@domain */
	K_PORT      /* 1..65535 */
};

struct conf_key {
	const char *name;
	enum conf_kind kind;
	bool list;
	size_t off;        /* K_PATH, K_TEXT, K_U32, K_DURATION */
	uint32_t min, max; /* K_U32, K_DURATION (seconds) */
	const char *help;
};

#define OFF(f) offsetof(struct dg_relay_conf, f)

static const struct conf_key conf_keys[] = {
    {"listen", K_LISTEN, true, 0, 0, 0,
     "ADDR:PORT or [IPv6]:PORT to accept mail on, repeatable (default 127.0.0.1:10025)"},
    {"queue", K_PATH, false, OFF(queue_dir), 0, 0, "DIR, the queue directory (required)"},
    {"allow", K_ALLOW, true, 0, 0, 0,
     "CIDR allowed to relay, repeatable (default 127.0.0.0/8 and ::1/128)"},
    {"mode", K_MODE, false, 0, 0, 0, "enforce|log-only (default enforce)"},
    {"resolver", K_RESOLVER, true, 0, 0, 0,
     "ADDR[@PORT] of a resolver to forward to (answers are still validated), repeatable (default: recursion from the root)"},
    {"trust-anchor", K_PATH, false, OFF(trust_anchor), 0, 0, "FILE, DNSSEC trust anchor"},
    {"ca-file", K_PATH, false, OFF(ca_file), 0, 0, "FILE, CA bundle for MTA-STS (PKIX)"},
    {"policy-map", K_PATH, false, OFF(policy_map), 0, 0,
     "FILE, per-domain TLS policy table (Postfix smtp_tls_policy_maps syntax)"},
    {"helo", K_HELO, false, 0, 0, 0, "NAME sent in EHLO (default: the host name)"},
    {"max-message-size", K_SIZE, false, 0, 1024, CONF_MESSAGE_MAX,
     "BYTES[k|M], largest message accepted (default 32M)"},
    {"max-recipients", K_U32, false, OFF(max_recipients), 1, 1000,
     "N recipients per message (default 100)"},
    {"queue-lifetime", K_DURATION, false, OFF(queue_lifetime_s), 1, 90 * DAY_S,
     "DURATION[s|m|h|d] before a message is returned (default 5d)"},
    {"retry-min", K_DURATION, false, OFF(retry_min_s), 1, DAY_S,
     "DURATION, first retry delay (default 5m)"},
    {"retry-max", K_DURATION, false, OFF(retry_max_s), 1, 7 * DAY_S,
     "DURATION, longest retry delay (default 1h)"},
    {"dest-concurrency", K_U32, false, OFF(dest_concurrency), 1, 1000,
     "N deliveries at once per destination domain (default 4)"},
    {"max-deliveries", K_U32, false, OFF(max_deliveries), 1, 10000,
     "N deliveries at once in all (default 32)"},
    {"timeout", K_DURATION, false, OFF(timeout_s), 1, 3600,
     "DURATION of each network wait (default 30s)"},
    {"tls-cert", K_PATH, false, OFF(tls_cert), 0, 0, "FILE, certificate chain for STARTTLS"},
    {"tls-key", K_PATH, false, OFF(tls_key), 0, 0, "FILE, private key for STARTTLS"},
    {"client-cert-sha256", K_FPR, true, 0, 0, 0,
     "HEX SHA-256 fingerprint of a client certificate allowed to relay, repeatable"},
    {"metrics", K_METRICS, false, 0, 0, 0, "ADDR:PORT of the Prometheus endpoint (default off)"},
    {"log-level", K_LOGLEVEL, false, 0, 0, 0, "error|warn|info|debug (default info)"},
    {"pid-file", K_PATH, false, OFF(pid_file), 0, 0, "FILE to write the process id to"},
    {"dsn-from", K_DSNFROM, false, 0, 0, 0, "ADDRESS of bounces (default MAILER-DAEMON@<helo>)"},
    {"sts-cache", K_PATH, false, OFF(sts_cache), 0, 0,
     "DIR of cached MTA-STS policies (default QUEUE/sts-cache)"},
    {"delivery-port", K_PORT, false, 0, 0, 0, "PORT to deliver to (default 25; tests only)"},
    {"tlsrpt-org", K_TEXT, false, OFF(tlsrpt_org), 0, 0,
     "NAME, organization-name of TLS-RPT reports (default: the helo name)"},
    {"tlsrpt-contact", K_TEXT, false, OFF(tlsrpt_contact), 0, 0,
     "ADDRESS, contact-info of TLS-RPT reports (default postmaster@<helo>)"},
    {"tlsrpt-hour", K_U32, false, OFF(tlsrpt_hour), 0, 23,
     "HOUR (UTC) at which the previous day's TLS-RPT reports are sent (default 1)"},
    {"tlsrpt-dir", K_PATH, false, OFF(tlsrpt_dir), 0, 0,
     "DIR of recorded TLS-RPT results and sent reports (default QUEUE/tlsrpt)"},
    {"alarm-queue-size", K_U32, false, OFF(alarm_queue_size), 0, 10000000,
     "N queued messages that raise the queue alarm (default 0: off)"},
    {"alarm-queue-age", K_DURATION, false, OFF(alarm_queue_age_s), 0, 90 * DAY_S,
     "DURATION the oldest message may wait before the queue alarm (default 0: off)"},
    {"user", K_TEXT, false, OFF(user), 0, 0,
     "NAME of the unprivileged user the receiver and scheduler run as (needs start as root)"},
    {"alarm-command", K_TEXT, false, OFF(alarm_command), 0, 0,
     "COMMAND run by /bin/sh when the queue alarm is raised (JSON on stdin)"},
    /* SPEC RPT-7 (RFC 8460 3): report mails MUST be DKIM-signed */
    {"tlsrpt-dkim-key", K_PATH, false, OFF(tlsrpt_dkim_key), 0, 0,
     "FILE, PEM private key (RSA or Ed25519) that DKIM-signs TLS-RPT report mails"},
    {"tlsrpt-dkim-selector", K_TEXT, false, OFF(tlsrpt_dkim_selector), 0, 0,
     "SELECTOR of the DKIM key (required with tlsrpt-dkim-key)"},
    {"tlsrpt-dkim-domain", K_TEXT, false, OFF(tlsrpt_dkim_domain), 0, 0,
     "DOMAIN of the DKIM signature (default: the domain of tlsrpt-contact)"},
};

#define N_KEYS (sizeof(conf_keys) / sizeof(conf_keys[0]))

static const char *const conf_key_names[] = {
    "listen",         "queue",          "allow",      "mode",      "resolver",
    "trust-anchor",   "ca-file",        "policy-map", "helo",      "max-message-size",
    "max-recipients", "queue-lifetime", "retry-min",  "retry-max", "dest-concurrency",
    "max-deliveries", "timeout",        "tls-cert",   "tls-key",   "client-cert-sha256",
    "metrics",        "log-level",      "pid-file",   "dsn-from",  "sts-cache",
    "delivery-port",  "tlsrpt-org",     "tlsrpt-contact", "tlsrpt-hour", "tlsrpt-dir",
    "alarm-queue-size", "alarm-queue-age", "user", "alarm-command",
    "tlsrpt-dkim-key", "tlsrpt-dkim-selector", "tlsrpt-dkim-domain",
};

_Static_assert(sizeof(conf_key_names) / sizeof(conf_key_names[0]) == N_KEYS,
               "conf_key_names and conf_keys differ");
_Static_assert(N_KEYS <= 64, "struct dg_relay_conf.given has 64 bits");

static const struct conf_key *conf_find(const char *key, size_t *idx);
static enum dg_status conf_hostport(const char *v, bool need_port, char sep,
                                    struct dg_relay_hostport *out, char *why);
static enum dg_status conf_scaled(const char *v, const char *units, const uint64_t *mult,
                                  uint64_t min, uint64_t max, uint64_t *out, char *why);
static char *conf_fmt_scaled(uint64_t v, const char *units, const uint64_t *mult, char *buf,
                             size_t size);
static enum dg_status conf_fpr(const char *v, uint8_t *out, char *why);
static enum dg_status conf_dsn_from(const char *v, char *out, char *why);
static enum dg_status conf_value(struct dg_relay_conf *c, const struct conf_key *k, const char *v,
                                 bool replace, char *why);
static enum dg_status conf_line(struct dg_relay_conf *c, char *s, unsigned line, const char *source,
                                unsigned *first_line, struct dg_err *err);
static enum dg_status conf_file_check(const char *key, const char *path, struct dg_err *err);
static bool conf_selector_ok(const char *v);
static enum dg_status conf_dkim_check(const struct dg_relay_conf *c, struct dg_err *err);

static const char dur_units[] = "smhd";
static const uint64_t dur_mult[] = {1, 60, 3600, DAY_S};
static const char size_units[] = "kM";
static const uint64_t size_mult[] = {1024, MIB};

void dg_relay_conf_init(struct dg_relay_conf *c)
{
	char host[256] = "";

	memset(c, 0, sizeof(*c));
	c->n_listen = 1;
	snprintf(c->listen[0].ip, sizeof(c->listen[0].ip), "127.0.0.1");
	c->listen[0].family = AF_INET;
	c->listen[0].port = 10025;
	if (dg_cidr_parse("127.0.0.0/8", &c->allow[0], NULL) != DG_OK ||
	    dg_cidr_parse("::1/128", &c->allow[1], NULL) != DG_OK)
		DG_PANIC("default allow networks do not parse");
	c->n_allow = 2;
	c->mode = DG_RELAY_MODE_ENFORCE;
	c->max_message_bytes = 32u * MIB;
	c->max_recipients = 100;
	c->queue_lifetime_s = 5 * DAY_S;
	c->retry_min_s = 300;
	c->retry_max_s = 3600;
	c->dest_concurrency = 4;
	c->tlsrpt_hour = 1;
	c->max_deliveries = 32;
	c->timeout_s = 30;
	c->log_level = DG_LOG_INFO;
	c->delivery_port = 25;
	if (gethostname(host, sizeof(host) - 1) != 0 ||
	    dg_name_normalize(host, c->helo, sizeof(c->helo), NULL) != DG_OK)
		snprintf(c->helo, sizeof(c->helo), "localhost");
}

void dg_relay_conf_cleanup(struct dg_relay_conf *c)
{
	if (c == NULL)
		return;
	for (size_t i = 0; i < N_KEYS; i++) {
		if (conf_keys[i].kind == K_PATH || conf_keys[i].kind == K_TEXT) {
			char **p = (char **)(void *)((char *)c + conf_keys[i].off);

			free(*p);
			*p = NULL;
		}
	}
}

void dg_relay_conf_begin_source(struct dg_relay_conf *c)
{
	c->given = 0;
}

static const struct conf_key *conf_find(const char *key, size_t *idx)
{
	for (size_t i = 0; i < N_KEYS; i++) {
		if (strcmp(conf_keys[i].name, key) == 0) {
			*idx = i;
			return &conf_keys[i];
		}
	}
	return NULL;
}

/*
 * "ADDR:PORT" / "[IPv6]:PORT" (sep ':'), or "ADDR[@PORT]" (sep '@', port optional, IPv6
 * without brackets). @p why receives the reason (WHY_MAX bytes) on error.
 */
static enum dg_status conf_hostport(const char *v, bool need_port, char sep,
                                    struct dg_relay_hostport *out, char *why)
{
	struct dg_relay_hostport hp = {0};
	const char *ip = v, *ip_end, *port = NULL;
	uint8_t bin[16];
	uint32_t n = 53;

	if (sep == ':' && v[0] == '[') {
		ip = v + 1;
		ip_end = strchr(ip, ']');
		if (ip_end == NULL || ip_end[1] != ':')
			goto bad;
		port = ip_end + 2;
	} else {
		ip_end = strrchr(v, sep);
		if (ip_end != NULL)
			port = ip_end + 1;
		else if (need_port)
			goto bad;
		else
			ip_end = v + strlen(v);
	}
	if (ip_end == ip || (size_t)(ip_end - ip) >= sizeof(hp.ip))
		goto bad;
	memcpy(hp.ip, ip, (size_t)(ip_end - ip));
	hp.family = inet_pton(AF_INET, hp.ip, bin) == 1    ? AF_INET
	            : inet_pton(AF_INET6, hp.ip, bin) == 1 ? AF_INET6
	                                                   : 0;
	if (hp.family == 0 || (sep == ':' && hp.family == AF_INET6 && v[0] != '['))
		goto bad;
	if (port != NULL && dg_parse_u32(port, 1, 65535, &n) != DG_OK) {
		snprintf(why, WHY_MAX, "port '%.16s' is not in 1..65535", port);
		return DG_E_CONFIG;
	}
	hp.port = (uint16_t)n;
	*out = hp;
	return DG_OK;
bad:
	snprintf(why, WHY_MAX, "'%.80s' is not %s", v,
	         sep == ':' ? "IPv4:PORT or [IPv6]:PORT" : "an IP address, optionally @PORT");
	return DG_E_CONFIG;
}

/* Digits with an optional unit letter from @p units (NULL: no unit means multiplier 1). */
static enum dg_status conf_scaled(const char *v, const char *units, const uint64_t *mult,
                                  uint64_t min, uint64_t max, uint64_t *out, char *why)
{
	size_t len = strlen(v);
	const char *u = len > 0 ? strchr(units, v[len - 1]) : NULL;
	uint64_t m = 1;
	uint32_t n = 0;
	char lo[24], hi[24];
	enum dg_status st;

	if (u != NULL && *u != '\0') {
		m = mult[u - units];
		len--;
	}
	st = dg_parse_u32n(v, len, 0, UINT32_MAX, &n);
	if (st == DG_E_PARSE) {
		if (units[0] == '\0')
			snprintf(why, WHY_MAX, "'%.40s' is not a number", v);
		else
			snprintf(why, WHY_MAX, "'%.40s' is not a number with an optional unit (%s)",
			         v, units);
		return DG_E_CONFIG;
	}
	if (st != DG_OK || (uint64_t)n * m < min || (uint64_t)n * m > max) {
		snprintf(why, WHY_MAX, "%.40s is not in %s..%s", v,
		         conf_fmt_scaled(min, units, mult, lo, sizeof(lo)),
		         conf_fmt_scaled(max, units, mult, hi, sizeof(hi)));
		return DG_E_CONFIG;
	}
	*out = (uint64_t)n * m;
	return DG_OK;
}

/* Write @p v with the largest unit that divides it ("5d", "90s", "64M", "1000"). */
static char *conf_fmt_scaled(uint64_t v, const char *units, const uint64_t *mult, char *buf,
                             size_t size)
{
	for (size_t i = strlen(units); i-- > 0;) {
		if (v != 0 && v % mult[i] == 0) {
			snprintf(buf, size, "%llu%c", (unsigned long long)(v / mult[i]), units[i]);
			return buf;
		}
	}
	snprintf(buf, size, "%llu", (unsigned long long)v);
	return buf;
}

/* 64 hex digits, optionally as 32 pairs separated by ':' (openssl x509 -fingerprint). */
static enum dg_status conf_fpr(const char *v, uint8_t *out, char *why)
{
	size_t len = strlen(v), step = len == 95 ? 3 : 2;

	if (len != 64 && len != 95)
		goto bad;
	for (size_t i = 0; i < 32; i++) {
		const char *p = v + i * step;
		char hex[3] = {p[0], p[1], '\0'};

		if (!dg_ascii_isxdigit((unsigned char)p[0]) ||
		    !dg_ascii_isxdigit((unsigned char)p[1]) || (step == 3 && i < 31 && p[2] != ':'))
			goto bad;
		out[i] = (uint8_t)strtoul(hex, NULL, 16);
	}
	return DG_OK;
bad:
	snprintf(why, WHY_MAX, "'%.100s' is not a SHA-256 fingerprint (64 hex digits, ':' allowed)",
	         v);
	return DG_E_CONFIG;
}

static enum dg_status conf_dsn_from(const char *v, char *out, char *why)
{
	const char *at = strrchr(v, '@');
	struct dg_err ne = {0};

	if (at == NULL || at == v || strlen(v) > DG_RELAY_ADDR_MAX) {
		snprintf(why, WHY_MAX, "'%.80s' is not an address local@domain", v);
		return DG_E_CONFIG;
	}
	for (const char *p = v; p < at; p++) {
		if (*p <= ' ' || *p >= 0x7f || strchr("<>()[]\\,;:\"", *p) != NULL) {
			snprintf(why, WHY_MAX, "'%.80s': local part has a character not allowed",
			         v);
			return DG_E_CONFIG;
		}
	}
	if (!dg_name_is_valid(at + 1, &ne)) {
		snprintf(why, WHY_MAX, "%s", ne.msg);
		return DG_E_CONFIG;
	}
	memcpy(out, v, strlen(v) + 1);
	return DG_OK;
}

/* Read @p v for key @p k into @p c; @p replace empties a list before adding. */
static enum dg_status conf_value(struct dg_relay_conf *c, const struct conf_key *k, const char *v,
                                 bool replace, char *why)
{
	struct dg_relay_hostport hp;
	struct dg_cidr cidr;
	struct dg_err e = {0};
	uint8_t fpr[32];
	char name[DG_NAME_BUF_SIZE];
	uint64_t n;
	enum dg_status st = DG_OK;
	char **path;

	switch (k->kind) {
	case K_LISTEN:
		if ((st = conf_hostport(v, true, ':', &hp, why)) != DG_OK)
			return st;
		if (replace)
			c->n_listen = 0;
		if (c->n_listen == DG_RELAY_LISTEN_MAX)
			goto full;
		c->listen[c->n_listen++] = hp;
		return DG_OK;
	case K_ALLOW:
		if (dg_cidr_parse(v, &cidr, &e) != DG_OK) {
			snprintf(why, WHY_MAX, "%s", e.msg);
			return DG_E_CONFIG;
		}
		if (replace)
			c->n_allow = 0;
		if (c->n_allow == DG_RELAY_ALLOW_MAX)
			goto full;
		c->allow[c->n_allow++] = cidr;
		return DG_OK;
	case K_RESOLVER:
		if ((st = conf_hostport(v, false, '@', &hp, why)) != DG_OK)
			return st;
		if (replace)
			c->n_resolver = 0;
		if (c->n_resolver == DG_RELAY_RESOLVER_MAX)
			goto full;
		c->resolver[c->n_resolver++] = hp;
		return DG_OK;
	case K_FPR:
		if ((st = conf_fpr(v, fpr, why)) != DG_OK)
			return st;
		if (replace)
			c->n_client_cert = 0;
		if (c->n_client_cert == DG_RELAY_CLIENT_CERT_MAX)
			goto full;
		memcpy(c->client_cert_sha256[c->n_client_cert++], fpr, sizeof(fpr));
		return DG_OK;
	case K_METRICS:
		if ((st = conf_hostport(v, true, ':', &c->metrics, why)) == DG_OK)
			c->has_metrics = true;
		return st;
	case K_PATH:
	case K_TEXT:
		path = (char **)(void *)((char *)c + k->off);
		free(*path);
		*path = dg_xstrdup(v);
		return DG_OK;
	case K_MODE:
		if (strcmp(v, "enforce") == 0 || strcmp(v, "log-only") == 0) {
			c->mode = v[0] == 'e' ? DG_RELAY_MODE_ENFORCE : DG_RELAY_MODE_LOG_ONLY;
			return DG_OK;
		}
		snprintf(why, WHY_MAX, "'%.40s': want enforce or log-only", v);
		return DG_E_CONFIG;
	case K_LOGLEVEL:
		for (int l = DG_LOG_ERROR; l <= DG_LOG_DEBUG; l++) {
			if (strcmp(v, dg_log_level_str((enum dg_log_level)l)) == 0) {
				c->log_level = (enum dg_log_level)l;
				return DG_OK;
			}
		}
		snprintf(why, WHY_MAX, "'%.40s': want error, warn, info or debug", v);
		return DG_E_CONFIG;
	case K_HELO:
		if (dg_name_normalize(v, name, sizeof(name), &e) == DG_OK) {
			memcpy(c->helo, name, sizeof(name));
			return DG_OK;
		}
		snprintf(why, WHY_MAX, "%s", e.msg);
		return DG_E_CONFIG;
	case K_DSNFROM: return conf_dsn_from(v, c->dsn_from, why);
	case K_SIZE:
		if ((st = conf_scaled(v, size_units, size_mult, k->min, k->max, &n, why)) == DG_OK)
			c->max_message_bytes = n;
		return st;
	case K_U32:
	case K_DURATION:
		st = conf_scaled(v, k->kind == K_U32 ? "" : dur_units, dur_mult, k->min, k->max, &n,
		                 why);
		if (st == DG_OK)
			*(uint32_t *)(void *)((char *)c + k->off) = (uint32_t)n;
		return st;
	case K_PORT:
		st = conf_scaled(v, "", dur_mult, 1, 65535, &n, why);
		if (st == DG_OK)
			c->delivery_port = (uint16_t)n;
		return st;
	}
	DG_PANIC("relay conf: key kind %d", (int)k->kind);
full:
	snprintf(why, WHY_MAX, "more than %d values",
	         k->kind == K_LISTEN     ? DG_RELAY_LISTEN_MAX
	         : k->kind == K_ALLOW    ? DG_RELAY_ALLOW_MAX
	         : k->kind == K_RESOLVER ? DG_RELAY_RESOLVER_MAX
	                                 : DG_RELAY_CLIENT_CERT_MAX);
	return DG_E_LIMIT;
}

enum dg_status dg_relay_conf_set(struct dg_relay_conf *c, const char *key, const char *value,
                                 struct dg_err *err)
{
	char why[WHY_MAX] = "", shown[80];
	const struct conf_key *k;
	size_t idx = 0, len;
	enum dg_status st;

	if (key == NULL || (k = conf_find(key, &idx)) == NULL) {
		dg_str_escape(shown, sizeof(shown), key != NULL ? key : "",
		              key != NULL ? strlen(key) : 0);
		return dg_err_set(err, DG_E_CONFIG, "unknown key '%s'", shown);
	}
	if (value == NULL || value[0] == '\0')
		return dg_err_set(err, DG_E_CONFIG, "%s: empty value", key);
	len = strlen(value);
	if (len >= DG_RELAY_CONF_VALUE_MAX)
		return dg_err_set(err, DG_E_LIMIT, "%s: value longer than %u bytes", key,
		                  DG_RELAY_CONF_VALUE_MAX - 1);
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)value[i] < 0x20 || value[i] == 0x7f)
			return dg_err_set(err, DG_E_CONFIG, "%s: control character at offset %zu",
			                  key, i);
	if (!k->list && (c->given & (1ull << idx)) != 0)
		return dg_err_set(err, DG_E_CONFIG, "%s: given twice", key);
	st = conf_value(c, k, value, (c->given & (1ull << idx)) == 0, why);
	if (st != DG_OK)
		return dg_err_set(err, st, "%s: %s", key, why);
	c->given |= 1ull << idx;
	return DG_OK;
}

/* One physical line: blank, comment, or `key = value`. */
static enum dg_status conf_line(struct dg_relay_conf *c, char *s, unsigned line, const char *source,
                                unsigned *first_line, struct dg_err *err)
{
	char *key, *eq, *end;
	const struct conf_key *k;
	struct dg_err e = {0};
	size_t idx = 0;

	while (dg_ascii_isspace((unsigned char)*s))
		s++;
	if (*s == '\0' || *s == '#')
		return DG_OK;
	key = s;
	eq = strchr(s, '=');
	if (eq == NULL)
		return dg_err_set(err, DG_E_CONFIG, "%s:%u: want 'key = value'", source, line);
	for (end = eq; end > key && dg_ascii_isspace((unsigned char)end[-1]);)
		end--;
	*end = '\0';
	for (s = eq + 1; dg_ascii_isspace((unsigned char)*s);)
		s++;
	for (end = s + strlen(s); end > s && dg_ascii_isspace((unsigned char)end[-1]);)
		*--end = '\0';
	if ((k = conf_find(key, &idx)) != NULL && !k->list && first_line[idx] != 0)
		return dg_err_set(err, DG_E_CONFIG, "%s:%u: %s: given twice (first at line %u)",
		                  source, line, key, first_line[idx]);
	if (dg_relay_conf_set(c, key, s, &e) != DG_OK)
		return dg_err_set(err, e.code, "%s:%u: %s", source, line, e.msg);
	first_line[idx] = line;
	return DG_OK;
}

enum dg_status dg_relay_conf_parse(struct dg_relay_conf *c, const char *text, size_t len,
                                   const char *source, struct dg_err *err)
{
	char buf[DG_RELAY_CONF_LINE_MAX + 1];
	unsigned first_line[N_KEYS] = {0}, line = 0;
	size_t off = 0;
	enum dg_status st = DG_OK;

	if (source == NULL)
		source = "config";
	if (len > DG_RELAY_CONF_FILE_MAX)
		return dg_err_set(err, DG_E_LIMIT, "%s: larger than %u bytes", source,
		                  DG_RELAY_CONF_FILE_MAX);
	dg_relay_conf_begin_source(c);
	while (st == DG_OK && off < len) {
		const char *l = text + off, *nl = memchr(l, '\n', len - off);
		size_t n = nl != NULL ? (size_t)(nl - l) : len - off;

		off += n + (nl != NULL ? 1 : 0);
		line++;
		if (n > 0 && l[n - 1] == '\r')
			n--;
		if (n > DG_RELAY_CONF_LINE_MAX)
			return dg_err_set(err, DG_E_LIMIT, "%s:%u: line longer than %u bytes",
			                  source, line, DG_RELAY_CONF_LINE_MAX);
		if (memchr(l, '\0', n) != NULL)
			return dg_err_set(err, DG_E_CONFIG, "%s:%u: NUL byte", source, line);
		memcpy(buf, l, n);
		buf[n] = '\0';
		st = conf_line(c, buf, line, source, first_line, err);
	}
	return st;
}

enum dg_status dg_relay_conf_load(struct dg_relay_conf *c, const char *path, struct dg_err *err)
{
	char *text = NULL;
	size_t len = 0;
	enum dg_status st;

	st = dg_relay_read_file(path, DG_RELAY_CONF_FILE_MAX, &text, &len, err);
	if (st == DG_OK)
		st = dg_relay_conf_parse(c, text, len, path, err);
	free(text);
	return st;
}

/* A file the relay will open later must be readable now, so the error comes at start-up. */
static enum dg_status conf_file_check(const char *key, const char *path, struct dg_err *err)
{
	struct stat sb;
	int fd;

	if (path == NULL)
		return DG_OK;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return dg_err_set_errno(err, DG_E_CONFIG, errno, "%s: cannot read '%s'", key, path);
	if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
		close(fd);
		return dg_err_set(err, DG_E_CONFIG, "%s: '%s' is not a regular file", key, path);
	}
	close(fd);
	return DG_OK;
}

/* RFC 6376 3.1: selector = sub-domain *("." sub-domain); labels of letters, digits, '-'. */
static bool conf_selector_ok(const char *v)
{
	size_t label = 0, len = strlen(v);

	if (len == 0 || len > 200)
		return false;
	for (size_t i = 0; i <= len; i++) {
		if (v[i] == '.' || v[i] == '\0') {
			if (label == 0 || label > 63 || v[i - 1] == '-')
				return false;
			label = 0;
		} else if (dg_ascii_isalnum((unsigned char)v[i]) || (v[i] == '-' && label > 0)) {
			label++;
		} else {
			return false;
		}
	}
	return true;
}

/* SPEC RPT-7: the DKIM key, its selector and domain go together and must be DNS names. */
static enum dg_status conf_dkim_check(const struct dg_relay_conf *c, struct dg_err *err)
{
	char name[DG_NAME_BUF_SIZE];
	struct dg_err e = {0};

	if (c->tlsrpt_dkim_key == NULL) {
		if (c->tlsrpt_dkim_selector != NULL || c->tlsrpt_dkim_domain != NULL)
			return dg_err_set(err, DG_E_CONFIG, "%s is set but tlsrpt-dkim-key is not",
			                  c->tlsrpt_dkim_selector != NULL ? "tlsrpt-dkim-selector"
			                                                  : "tlsrpt-dkim-domain");
		return DG_OK;
	}
	if (c->tlsrpt_dkim_selector == NULL)
		return dg_err_set(err, DG_E_CONFIG,
		                  "tlsrpt-dkim-key is set but tlsrpt-dkim-selector is not");
	if (!conf_selector_ok(c->tlsrpt_dkim_selector))
		return dg_err_set(err, DG_E_CONFIG, "tlsrpt-dkim-selector: '%.64s' is not a DNS name",
		                  c->tlsrpt_dkim_selector);
	if (c->tlsrpt_dkim_domain != NULL &&
	    dg_name_normalize(c->tlsrpt_dkim_domain, name, sizeof(name), &e) != DG_OK)
		return dg_err_set(err, DG_E_CONFIG, "tlsrpt-dkim-domain: %s", e.msg);
	return DG_OK;
}

enum dg_status dg_relay_conf_check(const struct dg_relay_conf *c, struct dg_err *err)
{
	char a[24], b[24];
	enum dg_status st;

	if (c->queue_dir == NULL)
		return dg_err_set(err, DG_E_CONFIG, "queue: required (the queue directory)");
	if ((c->tls_cert == NULL) != (c->tls_key == NULL))
		return dg_err_set(err, DG_E_CONFIG, "%s is set but %s is not",
		                  c->tls_cert != NULL ? "tls-cert" : "tls-key",
		                  c->tls_cert != NULL ? "tls-key" : "tls-cert");
	if (c->n_client_cert > 0 && c->tls_cert == NULL)
		return dg_err_set(err, DG_E_CONFIG,
		                  "client-cert-sha256 needs tls-cert and tls-key (clients "
		                  "authenticate over STARTTLS)");
	if (c->retry_min_s > c->retry_max_s)
		return dg_err_set(
		    err, DG_E_CONFIG, "retry-min (%s) is greater than retry-max (%s)",
		    conf_fmt_scaled(c->retry_min_s, dur_units, dur_mult, a, sizeof(a)),
		    conf_fmt_scaled(c->retry_max_s, dur_units, dur_mult, b, sizeof(b)));
	if ((st = conf_dkim_check(c, err)) != DG_OK)
		return st;
	for (size_t i = 0; i < N_KEYS; i++) {
		const struct conf_key *k = &conf_keys[i];

		if (k->kind != K_PATH || strcmp(k->name, "queue") == 0 ||
		    strcmp(k->name, "pid-file") == 0 || strcmp(k->name, "sts-cache") == 0 ||
		    strcmp(k->name, "tlsrpt-dir") == 0)
			continue;
		st = conf_file_check(k->name,
		                     *(char *const *)(const void *)((const char *)c + k->off), err);
		if (st != DG_OK)
			return st;
	}
	return DG_OK;
}

enum dg_status dg_relay_conf_finish(struct dg_relay_conf *c, struct dg_err *err)
{
	int n;

	if (c->dsn_from[0] == '\0') {
		n = snprintf(c->dsn_from, sizeof(c->dsn_from), "MAILER-DAEMON@%s", c->helo);
		if (n < 0 || (size_t)n >= sizeof(c->dsn_from))
			return dg_err_set(err, DG_E_LIMIT, "dsn-from: MAILER-DAEMON@%s is too long",
			                  c->helo);
	}
	if (c->sts_cache == NULL && c->queue_dir != NULL) {
		size_t len = strlen(c->queue_dir) + sizeof("/sts-cache");

		if (len > DG_RELAY_CONF_VALUE_MAX)
			return dg_err_set(err, DG_E_LIMIT, "sts-cache: %s/sts-cache is too long",
			                  c->queue_dir);
		c->sts_cache = dg_xmalloc(len);
		snprintf(c->sts_cache, len, "%s/sts-cache", c->queue_dir);
	}
	return dg_relay_conf_check(c, err);
}

bool dg_relay_conf_client_cert_allowed(const struct dg_relay_conf *c, const uint8_t *sha256)
{
	bool found = false;

	for (size_t i = 0; i < c->n_client_cert; i++) {
		uint8_t diff = 0;

		for (size_t j = 0; j < sizeof(c->client_cert_sha256[i]); j++)
			diff |= (uint8_t)(c->client_cert_sha256[i][j] ^ sha256[j]);
		found |= diff == 0;
	}
	return found;
}

const char *const *dg_relay_conf_keys(size_t *n)
{
	*n = N_KEYS;
	return conf_key_names;
}

const char *dg_relay_conf_key_help(const char *key)
{
	size_t idx;
	const struct conf_key *k = key != NULL ? conf_find(key, &idx) : NULL;

	return k != NULL ? k->help : NULL;
}

enum dg_status dg_relay_read_file(const char *path, size_t max, char **out, size_t *len,
                                  struct dg_err *err)
{
	struct dg_buf b;
	char chunk[8192];
	ssize_t r;
	int fd;

	*out = NULL;
	*len = 0;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return dg_err_set_errno(err, errno == ENOENT ? DG_E_NOTFOUND : DG_E_IO, errno,
		                        "cannot open '%s'", path);
	dg_buf_init(&b, max);
	for (;;) {
		r = read(fd, chunk, sizeof(chunk));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		if (dg_buf_append(&b, chunk, (size_t)r) != DG_OK) {
			close(fd);
			dg_buf_cleanup(&b);
			return dg_err_set(err, DG_E_LIMIT, "'%s' is larger than %zu bytes", path,
			                  max);
		}
	}
	if (r < 0) {
		int e = errno;

		close(fd);
		dg_buf_cleanup(&b);
		return dg_err_set_errno(err, DG_E_IO, e, "cannot read '%s'", path);
	}
	close(fd);
	*len = dg_buf_len(&b);
	*out = dg_buf_take(&b);
	return DG_OK;
}
