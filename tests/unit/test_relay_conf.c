/*
 * test_relay_conf.c - unit tests of the relay configuration (lib/relay/relay_conf.c).
 *
 * A table of key, value and expected result for every key (good values with what is
 * stored, bad values with the exact message), the defaults, sources (file then CLI), a
 * full sample file, file:line errors, caps, the whole-configuration check and the derived
 * defaults. Failures print "got X, want Y".
 */
#include <daneguard/relay.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

/* ---- helpers ------------------------------------------------------------------------------ */

static void hp_str(const struct dg_relay_hostport *hp, char *out, size_t size)
{
	snprintf(out, size, "%s%s%s|%u|%s", hp->family == AF_INET6 ? "[" : "", hp->ip,
	         hp->family == AF_INET6 ? "]" : "", hp->port,
	         hp->family == AF_INET    ? "v4"
	         : hp->family == AF_INET6 ? "v6"
	                                  : "?");
}

static const char *opt(const char *s)
{
	return s != NULL ? s : "(null)";
}

/* What the configuration holds for @p key, written independently of the parser. */
static void conf_show(const struct dg_relay_conf *c, const char *key, char *out, size_t size)
{
	char tmp[DG_CIDR_STR_SIZE];

	if ((strcmp(key, "resolver") == 0 && c->n_resolver == 0) ||
	    (strcmp(key, "client-cert-sha256") == 0 && c->n_client_cert == 0)) {
		snprintf(out, size, "-");
		return;
	}

	if (strcmp(key, "listen") == 0)
		hp_str(&c->listen[c->n_listen - 1], out, size);
	else if (strcmp(key, "resolver") == 0)
		hp_str(&c->resolver[c->n_resolver - 1], out, size);
	else if (strcmp(key, "metrics") == 0)
		hp_str(&c->metrics, out, size);
	else if (strcmp(key, "allow") == 0)
		snprintf(out, size, "%s",
		         dg_cidr_format(&c->allow[c->n_allow - 1], tmp, sizeof(tmp)));
	else if (strcmp(key, "queue") == 0)
		snprintf(out, size, "%s", opt(c->queue_dir));
	else if (strcmp(key, "mode") == 0)
		snprintf(out, size, "%s", dg_relay_mode_str(c->mode));
	else if (strcmp(key, "trust-anchor") == 0)
		snprintf(out, size, "%s", opt(c->trust_anchor));
	else if (strcmp(key, "ca-file") == 0)
		snprintf(out, size, "%s", opt(c->ca_file));
	else if (strcmp(key, "policy-map") == 0)
		snprintf(out, size, "%s", opt(c->policy_map));
	else if (strcmp(key, "helo") == 0)
		snprintf(out, size, "%s", c->helo);
	else if (strcmp(key, "max-message-size") == 0)
		snprintf(out, size, "%llu", (unsigned long long)c->max_message_bytes);
	else if (strcmp(key, "max-recipients") == 0)
		snprintf(out, size, "%u", c->max_recipients);
	else if (strcmp(key, "queue-lifetime") == 0)
		snprintf(out, size, "%u", c->queue_lifetime_s);
	else if (strcmp(key, "retry-min") == 0)
		snprintf(out, size, "%u", c->retry_min_s);
	else if (strcmp(key, "retry-max") == 0)
		snprintf(out, size, "%u", c->retry_max_s);
	else if (strcmp(key, "dest-concurrency") == 0)
		snprintf(out, size, "%u", c->dest_concurrency);
	else if (strcmp(key, "max-deliveries") == 0)
		snprintf(out, size, "%u", c->max_deliveries);
	else if (strcmp(key, "timeout") == 0)
		snprintf(out, size, "%u", c->timeout_s);
	else if (strcmp(key, "tls-cert") == 0)
		snprintf(out, size, "%s", opt(c->tls_cert));
	else if (strcmp(key, "tls-key") == 0)
		snprintf(out, size, "%s", opt(c->tls_key));
	else if (strcmp(key, "client-cert-sha256") == 0) {
		const uint8_t *f = c->client_cert_sha256[c->n_client_cert - 1];

		snprintf(out, size, "%02x%02x..%02x%02x", f[0], f[1], f[30], f[31]);
	} else if (strcmp(key, "log-level") == 0)
		snprintf(out, size, "%d", (int)c->log_level);
	else if (strcmp(key, "pid-file") == 0)
		snprintf(out, size, "%s", opt(c->pid_file));
	else if (strcmp(key, "dsn-from") == 0)
		snprintf(out, size, "%s", c->dsn_from);
	else if (strcmp(key, "sts-cache") == 0)
		snprintf(out, size, "%s", opt(c->sts_cache));
	else if (strcmp(key, "delivery-port") == 0)
		snprintf(out, size, "%u", c->delivery_port);
	else if (strcmp(key, "tlsrpt-org") == 0)
		snprintf(out, size, "%s", opt(c->tlsrpt_org));
	else if (strcmp(key, "tlsrpt-contact") == 0)
		snprintf(out, size, "%s", opt(c->tlsrpt_contact));
	else if (strcmp(key, "tlsrpt-hour") == 0)
		snprintf(out, size, "%u", c->tlsrpt_hour);
	else if (strcmp(key, "tlsrpt-dir") == 0)
		snprintf(out, size, "%s", opt(c->tlsrpt_dir));
	else if (strcmp(key, "alarm-queue-size") == 0)
		snprintf(out, size, "%u", c->alarm_queue_size);
	else if (strcmp(key, "alarm-queue-age") == 0)
		snprintf(out, size, "%u", c->alarm_queue_age_s);
	else if (strcmp(key, "user") == 0)
		snprintf(out, size, "%s", opt(c->user));
	else if (strcmp(key, "alarm-command") == 0)
		snprintf(out, size, "%s", opt(c->alarm_command));
	else if (strcmp(key, "tlsrpt-dkim-key") == 0)
		snprintf(out, size, "%s", opt(c->tlsrpt_dkim_key));
	else if (strcmp(key, "tlsrpt-dkim-selector") == 0)
		snprintf(out, size, "%s", opt(c->tlsrpt_dkim_selector));
	else if (strcmp(key, "tlsrpt-dkim-domain") == 0)
		snprintf(out, size, "%s", opt(c->tlsrpt_dkim_domain));
	else
		snprintf(out, size, "?");
}

/* ---- every key: good and bad values -------------------------------------------------------- */

struct set_case {
	const char *key, *value;
	enum dg_status want_st;
	const char *want; /* DG_OK: conf_show() of the key; else the exact message */
};

#define FPR64 "00112233445566778899aabbccddeeff00112233445566778899AABBCCDDEEFF"
#define FPRBAD "g0112233445566778899aabbccddeeff00112233445566778899AABBCCDDEEFF"
#define FPRCOLON                                                                                   \
	"AB:01:02:03:04:05:06:07:08:09:0A:0B:0C:0D:0E:0F:10:11:12:13:14:15:16:17:18:19:1A:1B:1C:"  \
	"1D:1E:CD"

static const struct set_case set_cases[] = {
    {"listen", "192.0.2.1:25", DG_OK, "192.0.2.1|25|v4"},
    {"listen", "[2001:db8::1]:2525", DG_OK, "[2001:db8::1]|2525|v6"},
    {"listen", "0.0.0.0:65535", DG_OK, "0.0.0.0|65535|v4"},
    {"listen", "192.0.2.1", DG_E_CONFIG, "listen: '192.0.2.1' is not IPv4:PORT or [IPv6]:PORT"},
    {"listen", "2001:db8::1:25", DG_E_CONFIG,
     "listen: '2001:db8::1:25' is not IPv4:PORT or [IPv6]:PORT"},
    {"listen", "[2001:db8::1]25", DG_E_CONFIG,
     "listen: '[2001:db8::1]25' is not IPv4:PORT or [IPv6]:PORT"},
    {"listen", "localhost:25", DG_E_CONFIG,
     "listen: 'localhost:25' is not IPv4:PORT or [IPv6]:PORT"},
    {"listen", "192.0.2.1:0", DG_E_CONFIG, "listen: port '0' is not in 1..65535"},
    {"listen", "192.0.2.1:65536", DG_E_CONFIG, "listen: port '65536' is not in 1..65535"},
    {"listen", "192.0.2.1:", DG_E_CONFIG, "listen: port '' is not in 1..65535"},
    {"queue", "/var/spool/daneguard", DG_OK, "/var/spool/daneguard"},
    {"queue", "", DG_E_CONFIG, "queue: empty value"},
    {"queue", "/var/\tspool", DG_E_CONFIG, "queue: control character at offset 5"},
    {"allow", "10.0.0.0/8", DG_OK, "10.0.0.0/8"},
    {"allow", "2001:db8::/32", DG_OK, "2001:db8::/32"},
    {"allow", "192.0.2.7", DG_OK, "192.0.2.7/32"},
    {"allow", "10.1.0.0/8", DG_E_CONFIG,
     "allow: network '10.1.0.0/8': host bits set beyond /8 (did you mean 10.0.0.0/8?)"},
    {"allow", "10.0.0.0/33", DG_E_CONFIG, "allow: network '10.0.0.0/33': prefix is not in 0..32"},
    {"allow", "example.org", DG_E_CONFIG, "allow: network 'example.org': not an IP address"},
    {"mode", "enforce", DG_OK, "enforce"},
    {"mode", "log-only", DG_OK, "log-only"},
    {"mode", "testing", DG_E_CONFIG, "mode: 'testing': want enforce or log-only"},
    {"mode", "Enforce", DG_E_CONFIG, "mode: 'Enforce': want enforce or log-only"},
    {"resolver", "127.0.0.53", DG_OK, "127.0.0.53|53|v4"},
    {"resolver", "192.0.2.53@5353", DG_OK, "192.0.2.53|5353|v4"},
    {"resolver", "2001:db8::53@53", DG_OK, "[2001:db8::53]|53|v6"},
    {"resolver", "::1", DG_OK, "[::1]|53|v6"},
    {"resolver", "ns.example@53", DG_E_CONFIG,
     "resolver: 'ns.example@53' is not an IP address, optionally @PORT"},
    {"resolver", "192.0.2.53@0", DG_E_CONFIG, "resolver: port '0' is not in 1..65535"},
    {"trust-anchor", "/etc/unbound/root.key", DG_OK, "/etc/unbound/root.key"},
    {"ca-file", "/etc/ssl/certs/ca-certificates.crt", DG_OK, "/etc/ssl/certs/ca-certificates.crt"},
    {"policy-map", "/etc/daneguard/tls_policy", DG_OK, "/etc/daneguard/tls_policy"},
    {"helo", "Relay.Example.NET.", DG_OK, "relay.example.net"},
    {"helo", "bad_host!", DG_E_CONFIG, NULL /* message from dg_name_normalize: checked below */},
    {"max-message-size", "1048576", DG_OK, "1048576"},
    {"max-message-size", "512k", DG_OK, "524288"},
    {"max-message-size", "10M", DG_OK, "10485760"},
    {"max-message-size", "64M", DG_OK, "67108864"},
    {"max-message-size", "65M", DG_E_CONFIG, "max-message-size: 65M is not in 1k..64M"},
    {"max-message-size", "1023", DG_E_CONFIG, "max-message-size: 1023 is not in 1k..64M"},
    {"max-message-size", "10G", DG_E_CONFIG,
     "max-message-size: '10G' is not a number with an optional unit (kM)"},
    {"max-message-size", "M", DG_E_CONFIG,
     "max-message-size: 'M' is not a number with an optional unit (kM)"},
    {"max-message-size", "99999999999", DG_E_CONFIG,
     "max-message-size: 99999999999 is not in 1k..64M"},
    {"max-recipients", "1000", DG_OK, "1000"},
    {"max-recipients", "0", DG_E_CONFIG, "max-recipients: 0 is not in 1..1000"},
    {"max-recipients", "1001", DG_E_CONFIG, "max-recipients: 1001 is not in 1..1000"},
    {"max-recipients", "-1", DG_E_CONFIG, "max-recipients: '-1' is not a number"},
    {"max-recipients", "10k", DG_E_CONFIG, "max-recipients: '10k' is not a number"},
    {"queue-lifetime", "3d", DG_OK, "259200"},
    {"queue-lifetime", "36h", DG_OK, "129600"},
    {"queue-lifetime", "90m", DG_OK, "5400"},
    {"queue-lifetime", "45", DG_OK, "45"},
    {"queue-lifetime", "45s", DG_OK, "45"},
    {"queue-lifetime", "91d", DG_E_CONFIG, "queue-lifetime: 91d is not in 1s..90d"},
    {"queue-lifetime", "0s", DG_E_CONFIG, "queue-lifetime: 0s is not in 1s..90d"},
    {"queue-lifetime", "5w", DG_E_CONFIG,
     "queue-lifetime: '5w' is not a number with an optional unit (smhd)"},
    {"queue-lifetime", "1.5d", DG_E_CONFIG,
     "queue-lifetime: '1.5d' is not a number with an optional unit (smhd)"},
    {"retry-min", "1m", DG_OK, "60"},
    {"retry-min", "2d", DG_E_CONFIG, "retry-min: 2d is not in 1s..1d"},
    {"retry-max", "7d", DG_OK, "604800"},
    {"retry-max", "8d", DG_E_CONFIG, "retry-max: 8d is not in 1s..7d"},
    {"dest-concurrency", "1", DG_OK, "1"},
    {"dest-concurrency", "0", DG_E_CONFIG, "dest-concurrency: 0 is not in 1..1000"},
    {"dest-concurrency", " 4", DG_E_CONFIG, "dest-concurrency: ' 4' is not a number"},
    {"max-deliveries", "10000", DG_OK, "10000"},
    {"max-deliveries", "10001", DG_E_CONFIG, "max-deliveries: 10001 is not in 1..10000"},
    {"tlsrpt-org", "Example Mail Ops", DG_OK, "Example Mail Ops"},
    {"tlsrpt-contact", "tlsrpt@example.org", DG_OK, "tlsrpt@example.org"},
    {"tlsrpt-hour", "0", DG_OK, "0"},
    {"tlsrpt-hour", "23", DG_OK, "23"},
    {"tlsrpt-hour", "24", DG_E_CONFIG, "tlsrpt-hour: 24 is not in 0..23"},
    {"tlsrpt-dir", "/var/lib/daneguard/tlsrpt", DG_OK, "/var/lib/daneguard/tlsrpt"},
    {"tlsrpt-dkim-key", "/etc/daneguard/dkim.pem", DG_OK, "/etc/daneguard/dkim.pem"},
    {"tlsrpt-dkim-key", "", DG_E_CONFIG, "tlsrpt-dkim-key: empty value"},
    {"tlsrpt-dkim-selector", "tlsrpt2026", DG_OK, "tlsrpt2026"},
    {"tlsrpt-dkim-selector", "a\tb", DG_E_CONFIG,
     "tlsrpt-dkim-selector: control character at offset 1"},
    {"tlsrpt-dkim-domain", "sender.example", DG_OK, "sender.example"},
    {"tlsrpt-dkim-domain", "", DG_E_CONFIG, "tlsrpt-dkim-domain: empty value"},
    {"alarm-queue-size", "0", DG_OK, "0"},
    {"alarm-queue-size", "5000", DG_OK, "5000"},
    {"alarm-queue-size", "x", DG_E_CONFIG, "alarm-queue-size: 'x' is not a number"},
    {"alarm-queue-age", "0", DG_OK, "0"},
    {"alarm-queue-age", "4h", DG_OK, "14400"},
    {"alarm-queue-age", "91d", DG_E_CONFIG, "alarm-queue-age: 91d is not in 0..90d"},
    {"alarm-command", "logger -t relay-alarm", DG_OK, "logger -t relay-alarm"},
    {"user", "daneguard", DG_OK, "daneguard"},
    {"timeout", "1h", DG_OK, "3600"},
    {"timeout", "2h", DG_E_CONFIG, "timeout: 2h is not in 1s..1h"},
    {"timeout", "", DG_E_CONFIG, "timeout: empty value"},
    {"tls-cert", "/etc/daneguard/cert.pem", DG_OK, "/etc/daneguard/cert.pem"},
    {"tls-key", "/etc/daneguard/key.pem", DG_OK, "/etc/daneguard/key.pem"},
    {"client-cert-sha256", FPR64, DG_OK, "0011..eeff"},
    {"client-cert-sha256", FPRCOLON, DG_OK, "ab01..1ecd"},
    {"client-cert-sha256", "0011", DG_E_CONFIG,
     "client-cert-sha256: '0011' is not a SHA-256 fingerprint (64 hex digits, ':' allowed)"},
    {"client-cert-sha256", FPRBAD, DG_E_CONFIG,
     "client-cert-sha256: '" FPRBAD "' is not a SHA-256 fingerprint (64 hex digits, ':' "
     "allowed)"},
    {"client-cert-sha256", FPR64 "0", DG_E_CONFIG,
     "client-cert-sha256: '" FPR64 "0' is not a SHA-256 fingerprint (64 hex digits, ':' "
     "allowed)"},
    {"metrics", "127.0.0.1:9100", DG_OK, "127.0.0.1|9100|v4"},
    {"metrics", "[::1]:9100", DG_OK, "[::1]|9100|v6"},
    {"metrics", ":9100", DG_E_CONFIG, "metrics: ':9100' is not IPv4:PORT or [IPv6]:PORT"},
    {"log-level", "error", DG_OK, "0"},
    {"log-level", "warn", DG_OK, "1"},
    {"log-level", "debug", DG_OK, "3"},
    {"log-level", "trace", DG_E_CONFIG, "log-level: 'trace': want error, warn, info or debug"},
    {"pid-file", "/run/daneguard-relay.pid", DG_OK, "/run/daneguard-relay.pid"},
    {"dsn-from", "postmaster@relay.example.net", DG_OK, "postmaster@relay.example.net"},
    {"dsn-from", "postmaster", DG_E_CONFIG,
     "dsn-from: 'postmaster' is not an address local@domain"},
    {"dsn-from", "@relay.example", DG_E_CONFIG,
     "dsn-from: '@relay.example' is not an address local@domain"},
    {"dsn-from", "post master@relay.example", DG_E_CONFIG,
     "dsn-from: 'post master@relay.example': local part has a character not allowed"},
    {"dsn-from", "<pm@relay.example>", DG_E_CONFIG,
     "dsn-from: '<pm@relay.example>': local part has a character not allowed"},
    {"sts-cache", "/var/cache/daneguard-sts", DG_OK, "/var/cache/daneguard-sts"},
    {"delivery-port", "2525", DG_OK, "2525"},
    {"delivery-port", "0", DG_E_CONFIG, "delivery-port: 0 is not in 1..65535"},
    {"delivery-port", "70000", DG_E_CONFIG, "delivery-port: 70000 is not in 1..65535"},
    {"no-such-key", "1", DG_E_CONFIG, "unknown key 'no-such-key'"},
    {"--listen", "127.0.0.1:25", DG_E_CONFIG, "unknown key '--listen'"},
};

static void test_set_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(set_cases) / sizeof(set_cases[0]); i++) {
		const struct set_case *tc = &set_cases[i];
		struct dg_relay_conf c;
		struct dg_err err = {0};
		char got[512], before[512];
		enum dg_status st;

		dg_relay_conf_init(&c);
		conf_show(&c, tc->key, before, sizeof(before));
		st = dg_relay_conf_set(&c, tc->key, tc->value, &err);
		if (st != tc->want_st) {
			print_error("%s = '%s': got %s (%s), want %s\n", tc->key, tc->value,
			            dg_status_str(st), err.msg, dg_status_str(tc->want_st));
			fail();
		}
		if (st == DG_OK) {
			conf_show(&c, tc->key, got, sizeof(got));
			if (strcmp(got, tc->want) != 0) {
				print_error("%s = '%s': got %s, want %s\n", tc->key, tc->value, got,
				            tc->want);
				fail();
			}
		} else {
			if (tc->want != NULL && strcmp(err.msg, tc->want) != 0) {
				print_error("%s = '%s': got message \"%s\", want \"%s\"\n", tc->key,
				            tc->value, err.msg, tc->want);
				fail();
			}
			/* a refused value leaves the earlier one in place */
			conf_show(&c, tc->key, got, sizeof(got));
			if (strcmp(got, before) != 0) {
				print_error("%s = '%s': value changed to %s after an error\n",
				            tc->key, tc->value, got);
				fail();
			}
		}
		dg_relay_conf_cleanup(&c);
	}
}

static void test_helo_bad(void **state)
{
	struct dg_relay_conf c;
	struct dg_err err = {0};

	(void)state;
	dg_relay_conf_init(&c);
	assert_int_equal(dg_relay_conf_set(&c, "helo", "bad_host!", &err), DG_E_CONFIG);
	assert_true(strncmp(err.msg, "helo: ", 6) == 0);
	assert_non_null(strstr(err.msg, "bad_host!"));
	assert_int_equal(dg_relay_conf_set(&c, "helo", "192.0.2.1", &err), DG_E_CONFIG);
	dg_relay_conf_cleanup(&c);
}

/* Every key of dg_relay_conf_keys() is accepted by the setter (with a value it refuses
 * differently from an unknown key) and has help text. */
static void test_keys_and_help(void **state)
{
	size_t n = 0;
	const char *const *keys = dg_relay_conf_keys(&n);
	struct dg_relay_conf c;
	struct dg_err err = {0};

	(void)state;
	assert_int_equal(n, 37);
	dg_relay_conf_init(&c);
	for (size_t i = 0; i < n; i++) {
		const char *help = dg_relay_conf_key_help(keys[i]);

		if (help == NULL || help[0] == '\0') {
			print_error("key %s: got no help, want some\n", keys[i]);
			fail();
		}
		dg_relay_conf_set(&c, keys[i], "\x01", &err);
		if (strstr(err.msg, "unknown key") != NULL) {
			print_error("key %s: got \"%s\", want a known key\n", keys[i], err.msg);
			fail();
		}
		for (size_t j = 0; j < i; j++)
			assert_string_not_equal(keys[i], keys[j]);
	}
	assert_null(dg_relay_conf_key_help("nope"));
	assert_non_null(strstr(dg_relay_conf_key_help("queue-lifetime"), "5d"));
	dg_relay_conf_cleanup(&c);
}

/* ---- defaults and sources ----------------------------------------------------------------- */

static void test_defaults(void **state)
{
	struct dg_relay_conf c;
	char buf[64], host[256] = "", want_helo[DG_NAME_BUF_SIZE];
	struct sockaddr_in sin = {0};

	(void)state;
	dg_relay_conf_init(&c);
	assert_int_equal(c.n_listen, 1);
	hp_str(&c.listen[0], buf, sizeof(buf));
	assert_string_equal(buf, "127.0.0.1|10025|v4");
	assert_int_equal(c.n_allow, 2);
	assert_string_equal(dg_cidr_format(&c.allow[0], buf, sizeof(buf)), "127.0.0.0/8");
	assert_string_equal(dg_cidr_format(&c.allow[1], buf, sizeof(buf)), "::1/128");
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(0x7f000101);
	assert_true(dg_cidr_match(c.allow, c.n_allow, (struct sockaddr *)&sin));
	assert_null(c.queue_dir);
	assert_int_equal(c.mode, DG_RELAY_MODE_ENFORCE);
	assert_int_equal(c.n_resolver, 0);
	assert_int_equal(c.max_message_bytes, 32u * 1024 * 1024);
	assert_int_equal(c.max_recipients, 100);
	assert_int_equal(c.queue_lifetime_s, 5 * 86400);
	assert_int_equal(c.retry_min_s, 300);
	assert_int_equal(c.retry_max_s, 3600);
	assert_int_equal(c.dest_concurrency, 4);
	assert_int_equal(c.max_deliveries, 32);
	assert_int_equal(c.timeout_s, 30);
	assert_false(c.has_metrics);
	assert_int_equal(c.log_level, DG_LOG_INFO);
	assert_int_equal(c.delivery_port, 25);
	assert_string_equal(c.dsn_from, "");
	assert_null(c.sts_cache);
	assert_int_equal(gethostname(host, sizeof(host) - 1), 0);
	if (dg_name_normalize(host, want_helo, sizeof(want_helo), NULL) != DG_OK)
		strcpy(want_helo, "localhost");
	assert_string_equal(c.helo, want_helo);
	dg_relay_conf_cleanup(&c);
}

static void test_lists_and_sources(void **state)
{
	struct dg_relay_conf c;
	struct dg_err err = {0};
	char buf[64];

	(void)state;
	dg_relay_conf_init(&c);
	/* the first value of a list replaces the defaults, later ones accumulate */
	assert_int_equal(dg_relay_conf_set(&c, "allow", "192.0.2.0/24", &err), DG_OK);
	assert_int_equal(dg_relay_conf_set(&c, "allow", "2001:db8::/48", &err), DG_OK);
	assert_int_equal(c.n_allow, 2);
	assert_string_equal(dg_cidr_format(&c.allow[0], buf, sizeof(buf)), "192.0.2.0/24");
	/* a non-list key twice in one source */
	assert_int_equal(dg_relay_conf_set(&c, "mode", "log-only", &err), DG_OK);
	assert_int_equal(dg_relay_conf_set(&c, "mode", "enforce", &err), DG_E_CONFIG);
	assert_string_equal(err.msg, "mode: given twice");
	assert_int_equal(c.mode, DG_RELAY_MODE_LOG_ONLY);
	/* a new source overrides scalars and replaces lists */
	dg_relay_conf_begin_source(&c);
	assert_int_equal(dg_relay_conf_set(&c, "mode", "enforce", &err), DG_OK);
	assert_int_equal(c.mode, DG_RELAY_MODE_ENFORCE);
	assert_int_equal(dg_relay_conf_set(&c, "allow", "198.51.100.0/24", &err), DG_OK);
	assert_int_equal(c.n_allow, 1);
	assert_string_equal(dg_cidr_format(&c.allow[0], buf, sizeof(buf)), "198.51.100.0/24");
	/* a list is capped */
	for (int i = 0; i < DG_RELAY_LISTEN_MAX; i++) {
		snprintf(buf, sizeof(buf), "127.0.0.1:%d", 2000 + i);
		assert_int_equal(dg_relay_conf_set(&c, "listen", buf, &err), DG_OK);
	}
	assert_int_equal(dg_relay_conf_set(&c, "listen", "127.0.0.1:3000", &err), DG_E_LIMIT);
	assert_string_equal(err.msg, "listen: more than 16 values");
	assert_int_equal(c.n_listen, DG_RELAY_LISTEN_MAX);
	/* a path given in a later source replaces (and frees) the earlier one */
	assert_int_equal(dg_relay_conf_set(&c, "queue", "/q1", &err), DG_OK);
	dg_relay_conf_begin_source(&c);
	assert_int_equal(dg_relay_conf_set(&c, "queue", "/q2", &err), DG_OK);
	assert_string_equal(c.queue_dir, "/q2");
	dg_relay_conf_cleanup(&c);
	assert_null(c.queue_dir);
}

static void test_value_cap(void **state)
{
	struct dg_relay_conf c;
	struct dg_err err = {0};
	char *big = malloc(DG_RELAY_CONF_VALUE_MAX + 1);

	(void)state;
	assert_non_null(big);
	memset(big, 'a', DG_RELAY_CONF_VALUE_MAX);
	big[DG_RELAY_CONF_VALUE_MAX] = '\0';
	dg_relay_conf_init(&c);
	assert_int_equal(dg_relay_conf_set(&c, "queue", big, &err), DG_E_LIMIT);
	assert_string_equal(err.msg, "queue: value longer than 1023 bytes");
	big[DG_RELAY_CONF_VALUE_MAX - 1] = '\0';
	assert_int_equal(dg_relay_conf_set(&c, "queue", big, &err), DG_OK);
	assert_int_equal(strlen(c.queue_dir), DG_RELAY_CONF_VALUE_MAX - 1);
	dg_relay_conf_cleanup(&c);
	free(big);
}

/* ---- the file -------------------------------------------------------------------------------- */

static const char sample[] =
    "# daneguard relay configuration\n"
    "\n"
    "listen = 127.0.0.1:10025\n"
    "listen = [::1]:10025\n"
    "queue = /var/spool/daneguard\n"
    "allow = 127.0.0.0/8\n"
    "allow=::1/128\n"
    "allow =\t10.20.0.0/16   \n"
    "  mode = log-only\n"
    "resolver = 127.0.0.53@53\r\n"
    "trust-anchor = /var/lib/unbound/root.key\n"
    "ca-file = /etc/ssl/certs/ca-certificates.crt\n"
    "policy-map = /etc/daneguard/tls_policy\n"
    "helo = relay.example.net\n"
    "max-message-size = 50M\n"
    "max-recipients = 500\n"
    "queue-lifetime = 3d\n"
    "retry-min = 2m\n"
    "retry-max = 2h\n"
    "dest-concurrency = 8\n"
    "max-deliveries = 64\n"
    "timeout = 45s\n"
    "tls-cert = /etc/daneguard/relay.crt\n"
    "tls-key = /etc/daneguard/relay.key\n"
    "client-cert-sha256 = " FPR64 "\n"
    "metrics = 127.0.0.1:9187\n"
    "log-level = debug\n"
    "pid-file = /run/daneguard/relay.pid\n"
    "dsn-from = postmaster@relay.example.net\n"
    "sts-cache = /var/cache/daneguard/sts # a '#' after a value belongs to it\n"
    "delivery-port = 2525";

static void test_sample_file(void **state)
{
	struct dg_relay_conf c;
	struct dg_err err = {0};
	char buf[64];

	(void)state;
	dg_relay_conf_init(&c);
	if (dg_relay_conf_parse(&c, sample, strlen(sample), "relay.conf", &err) != DG_OK) {
		print_error("got %s, want a parse\n", err.msg);
		fail();
	}
	assert_int_equal(c.n_listen, 2);
	hp_str(&c.listen[1], buf, sizeof(buf));
	assert_string_equal(buf, "[::1]|10025|v6");
	assert_string_equal(c.queue_dir, "/var/spool/daneguard");
	assert_int_equal(c.n_allow, 3);
	assert_string_equal(dg_cidr_format(&c.allow[2], buf, sizeof(buf)), "10.20.0.0/16");
	assert_int_equal(c.mode, DG_RELAY_MODE_LOG_ONLY);
	assert_int_equal(c.n_resolver, 1);
	assert_string_equal(c.trust_anchor, "/var/lib/unbound/root.key");
	assert_string_equal(c.ca_file, "/etc/ssl/certs/ca-certificates.crt");
	assert_string_equal(c.policy_map, "/etc/daneguard/tls_policy");
	assert_string_equal(c.helo, "relay.example.net");
	assert_int_equal(c.max_message_bytes, 50u * 1024 * 1024);
	assert_int_equal(c.max_recipients, 500);
	assert_int_equal(c.queue_lifetime_s, 3 * 86400);
	assert_int_equal(c.retry_min_s, 120);
	assert_int_equal(c.retry_max_s, 7200);
	assert_int_equal(c.dest_concurrency, 8);
	assert_int_equal(c.max_deliveries, 64);
	assert_int_equal(c.timeout_s, 45);
	assert_string_equal(c.tls_cert, "/etc/daneguard/relay.crt");
	assert_string_equal(c.tls_key, "/etc/daneguard/relay.key");
	assert_int_equal(c.n_client_cert, 1);
	assert_int_equal(c.client_cert_sha256[0][31], 0xff);
	{
		uint8_t want[32];

		for (int i = 0; i < 16; i++)
			want[i] = want[16 + i] = (uint8_t)(i * 0x11);
		assert_true(dg_relay_conf_client_cert_allowed(&c, want));
		want[31] ^= 1;
		assert_false(dg_relay_conf_client_cert_allowed(&c, want));
	}
	assert_true(c.has_metrics);
	assert_int_equal(c.metrics.port, 9187);
	assert_int_equal(c.log_level, DG_LOG_DEBUG);
	assert_string_equal(c.pid_file, "/run/daneguard/relay.pid");
	assert_string_equal(c.dsn_from, "postmaster@relay.example.net");
	assert_string_equal(c.sts_cache,
	                    "/var/cache/daneguard/sts # a '#' after a value belongs to it");
	assert_int_equal(c.delivery_port, 2525);
	/* then the command line: overrides a scalar, replaces a list */
	dg_relay_conf_begin_source(&c);
	assert_int_equal(dg_relay_conf_set(&c, "mode", "enforce", &err), DG_OK);
	assert_int_equal(dg_relay_conf_set(&c, "listen", "192.0.2.1:25", &err), DG_OK);
	assert_int_equal(c.mode, DG_RELAY_MODE_ENFORCE);
	assert_int_equal(c.n_listen, 1);
	dg_relay_conf_cleanup(&c);
}

struct file_case {
	const char *text;
	enum dg_status want_st;
	const char *want_msg;
	size_t len; /* 0: strlen(text) */
};

static const struct file_case file_cases[] = {
    {"", DG_OK, "", 0},
    {"# only a comment\n\n   \n\t# indented comment\n", DG_OK, "", 0},
    {"queue = /q\nmode = enforce\nmode = log-only\n", DG_E_CONFIG,
     "r.conf:3: mode: given twice (first at line 2)", 0},
    {"queue = /q\nfoo = bar\n", DG_E_CONFIG, "r.conf:2: unknown key 'foo'", 0},
    {"queue /q\n", DG_E_CONFIG, "r.conf:1: want 'key = value'", 0},
    {"\n\nqueue =\n", DG_E_CONFIG, "r.conf:3: queue: empty value", 0},
    {"= /q\n", DG_E_CONFIG, "r.conf:1: unknown key ''", 0},
    {"dest-concurrency = 0\n", DG_E_CONFIG, "r.conf:1: dest-concurrency: 0 is not in 1..1000", 0},
    {"allow = 10.0.0.1/8\n", DG_E_CONFIG,
     "r.conf:1: allow: network '10.0.0.1/8': host bits set beyond /8 (did you mean "
     "10.0.0.0/8?)",
     0},
    {"queue = /a\0"
     "b\n",
     DG_E_CONFIG, "r.conf:1: NUL byte", 13},
    {"allow = 10.0.0.0/8\nallow = 10.0.0.0/8\n", DG_OK, "", 0},
    {"MODE = enforce\n", DG_E_CONFIG, "r.conf:1: unknown key 'MODE'", 0},
};

static void test_file_cases(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(file_cases) / sizeof(file_cases[0]); i++) {
		const struct file_case *tc = &file_cases[i];
		size_t len = strlen(tc->text);
		struct dg_relay_conf c;
		struct dg_err err = {0};
		enum dg_status st;

		if (tc->len != 0)
			len = tc->len;
		dg_relay_conf_init(&c);
		st = dg_relay_conf_parse(&c, tc->text, len, "r.conf", &err);
		if (st != tc->want_st || strcmp(err.msg, tc->want_msg) != 0) {
			print_error("case %zu: got %s \"%s\", want %s \"%s\"\n", i,
			            dg_status_str(st), err.msg, dg_status_str(tc->want_st),
			            tc->want_msg);
			fail();
		}
		dg_relay_conf_cleanup(&c);
	}
}

static void test_file_caps(void **state)
{
	struct dg_relay_conf c;
	struct dg_err err = {0};
	size_t big = DG_RELAY_CONF_FILE_MAX + 1;
	char *text = malloc(big);

	(void)state;
	assert_non_null(text);
	memset(text, '#', big);
	dg_relay_conf_init(&c);
	assert_int_equal(dg_relay_conf_parse(&c, text, big, "big.conf", &err), DG_E_LIMIT);
	assert_string_equal(err.msg, "big.conf: larger than 262144 bytes");
	/* one line just over the line cap, in a file under the file cap */
	text[DG_RELAY_CONF_LINE_MAX + 1] = '\n';
	assert_int_equal(dg_relay_conf_parse(&c, text, DG_RELAY_CONF_LINE_MAX + 2, "l.conf", &err),
	                 DG_E_LIMIT);
	assert_string_equal(err.msg, "l.conf:1: line longer than 4096 bytes");
	/* a comment line of exactly the cap is fine */
	assert_int_equal(
	    dg_relay_conf_parse(&c, text + 1, DG_RELAY_CONF_LINE_MAX + 1, "l.conf", &err), DG_OK);
	dg_relay_conf_cleanup(&c);
	free(text);
}

/* ---- load, check, finish ----------------------------------------------------------------- */

static char tmpdir[64];

static void write_file(const char *name, const char *text, char *path, size_t size)
{
	FILE *f;

	snprintf(path, size, "%s/%s", tmpdir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void test_load_check_finish(void **state)
{
	struct dg_relay_conf c;
	struct dg_err err = {0};
	char conf[128], cert[128], key[128], text[512], want[256];

	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/dg-relay-conf-XXXXXX");
	assert_non_null(mkdtemp(tmpdir));
	write_file("cert.pem", "x", cert, sizeof(cert));
	write_file("key.pem", "x", key, sizeof(key));

	dg_relay_conf_init(&c);
	assert_int_equal(dg_relay_conf_load(&c, "/nonexistent/relay.conf", &err), DG_E_NOTFOUND);
	assert_non_null(strstr(err.msg, "/nonexistent/relay.conf"));
	/* check: queue is required */
	assert_int_equal(dg_relay_conf_check(&c, &err), DG_E_CONFIG);
	assert_string_equal(err.msg, "queue: required (the queue directory)");

	snprintf(text, sizeof(text), "queue = %s\nhelo = mx.example.org\ntls-cert = %s\n", tmpdir,
	         cert);
	write_file("relay.conf", text, conf, sizeof(conf));
	assert_int_equal(dg_relay_conf_load(&c, conf, &err), DG_OK);
	assert_int_equal(dg_relay_conf_check(&c, &err), DG_E_CONFIG);
	assert_string_equal(err.msg, "tls-cert is set but tls-key is not");
	dg_relay_conf_begin_source(&c);
	assert_int_equal(dg_relay_conf_set(&c, "tls-key", key, &err), DG_OK);
	assert_int_equal(dg_relay_conf_check(&c, &err), DG_OK);
	/* free-text keys are not files: a shell command or a name passes the check */
	assert_int_equal(dg_relay_conf_set(&c, "alarm-command", "cat > /nonexistent/x", &err),
			 DG_OK);
	assert_int_equal(dg_relay_conf_set(&c, "tlsrpt-org", "Example Mail", &err), DG_OK);
	assert_int_equal(dg_relay_conf_set(&c, "tlsrpt-dir", "/nonexistent/tlsrpt", &err), DG_OK);
	assert_int_equal(dg_relay_conf_check(&c, &err), DG_OK);

	/* SPEC RPT-7 DKIM: key, selector and domain go together; names are checked */
	assert_int_equal(dg_relay_conf_set(&c, "tlsrpt-dkim-key", key, &err), DG_OK);
	assert_int_equal(dg_relay_conf_check(&c, &err), DG_E_CONFIG);
	assert_string_equal(err.msg, "tlsrpt-dkim-key is set but tlsrpt-dkim-selector is not");
	assert_int_equal(dg_relay_conf_set(&c, "tlsrpt-dkim-selector", "-bad", &err), DG_OK);
	assert_int_equal(dg_relay_conf_check(&c, &err), DG_E_CONFIG);
	assert_string_equal(err.msg, "tlsrpt-dkim-selector: '-bad' is not a DNS name");
	dg_relay_conf_begin_source(&c);
	assert_int_equal(dg_relay_conf_set(&c, "tlsrpt-dkim-selector", "2026.tlsrpt", &err), DG_OK);
	assert_int_equal(dg_relay_conf_check(&c, &err), DG_OK);
	assert_int_equal(dg_relay_conf_set(&c, "tlsrpt-dkim-domain", "bad_domain!", &err), DG_OK);
	assert_int_equal(dg_relay_conf_check(&c, &err), DG_E_CONFIG);
	assert_true(strncmp(err.msg, "tlsrpt-dkim-domain: ", 20) == 0);
	dg_relay_conf_begin_source(&c);
	assert_int_equal(dg_relay_conf_set(&c, "tlsrpt-dkim-domain", "Sender.Example", &err),
	                 DG_OK);
	assert_int_equal(dg_relay_conf_check(&c, &err), DG_OK);
	/* an unreadable key file is named like every other file */
	dg_relay_conf_begin_source(&c);
	assert_int_equal(dg_relay_conf_set(&c, "tlsrpt-dkim-key", "/nonexistent/dkim.pem", &err),
	                 DG_OK);
	assert_int_equal(dg_relay_conf_check(&c, &err), DG_E_CONFIG);
	assert_string_equal(err.msg, "tlsrpt-dkim-key: cannot read '/nonexistent/dkim.pem': "
	                             "No such file or directory");
	/* without the key, a selector alone is refused */
	dg_relay_conf_cleanup(&c);
	dg_relay_conf_init(&c);
	assert_int_equal(dg_relay_conf_set(&c, "queue", tmpdir, &err), DG_OK);
	assert_int_equal(dg_relay_conf_set(&c, "tlsrpt-dkim-selector", "s1", &err), DG_OK);
	assert_int_equal(dg_relay_conf_check(&c, &err), DG_E_CONFIG);
	assert_string_equal(err.msg, "tlsrpt-dkim-selector is set but tlsrpt-dkim-key is not");
	dg_relay_conf_cleanup(&c);
	dg_relay_conf_init(&c);
	assert_int_equal(dg_relay_conf_load(&c, conf, &err), DG_OK);
	dg_relay_conf_begin_source(&c);
	assert_int_equal(dg_relay_conf_set(&c, "tls-key", key, &err), DG_OK);
	dg_relay_conf_begin_source(&c);

	/* an unreadable file is named */
	assert_int_equal(dg_relay_conf_set(&c, "ca-file", "/nonexistent/ca.pem", &err), DG_OK);
	assert_int_equal(dg_relay_conf_check(&c, &err), DG_E_CONFIG);
	assert_string_equal(
	    err.msg, "ca-file: cannot read '/nonexistent/ca.pem': No such file or directory");
	dg_relay_conf_begin_source(&c);
	assert_int_equal(dg_relay_conf_set(&c, "ca-file", tmpdir, &err), DG_OK);
	assert_int_equal(dg_relay_conf_check(&c, &err), DG_E_CONFIG);
	snprintf(want, sizeof(want), "ca-file: '%s' is not a regular file", tmpdir);
	assert_string_equal(err.msg, want);
	dg_relay_conf_begin_source(&c);
	assert_int_equal(dg_relay_conf_set(&c, "ca-file", cert, &err), DG_OK);

	/* retry-min above retry-max */
	assert_int_equal(dg_relay_conf_set(&c, "retry-min", "2h", &err), DG_OK);
	assert_int_equal(dg_relay_conf_check(&c, &err), DG_E_CONFIG);
	assert_string_equal(err.msg, "retry-min (2h) is greater than retry-max (1h)");
	assert_int_equal(dg_relay_conf_set(&c, "retry-max", "1d", &err), DG_OK);

	/* finish fills the derived defaults */
	assert_int_equal(dg_relay_conf_finish(&c, &err), DG_OK);
	assert_string_equal(c.dsn_from, "MAILER-DAEMON@mx.example.org");
	snprintf(want, sizeof(want), "%s/sts-cache", tmpdir);
	assert_string_equal(c.sts_cache, want);
	dg_relay_conf_cleanup(&c);

	/* client certificates need a TLS listener; tls-key alone is refused */
	dg_relay_conf_init(&c);
	assert_int_equal(dg_relay_conf_set(&c, "queue", tmpdir, &err), DG_OK);
	assert_int_equal(dg_relay_conf_set(&c, "client-cert-sha256", FPR64, &err), DG_OK);
	assert_int_equal(dg_relay_conf_check(&c, &err), DG_E_CONFIG);
	assert_string_equal(err.msg, "client-cert-sha256 needs tls-cert and tls-key (clients "
	                             "authenticate over STARTTLS)");
	dg_relay_conf_cleanup(&c);
	dg_relay_conf_init(&c);
	assert_int_equal(dg_relay_conf_set(&c, "queue", tmpdir, &err), DG_OK);
	assert_int_equal(dg_relay_conf_set(&c, "tls-key", key, &err), DG_OK);
	assert_int_equal(dg_relay_conf_check(&c, &err), DG_E_CONFIG);
	assert_string_equal(err.msg, "tls-key is set but tls-cert is not");
	/* explicit values are kept by finish */
	assert_int_equal(dg_relay_conf_set(&c, "tls-cert", cert, &err), DG_OK);
	assert_int_equal(dg_relay_conf_set(&c, "dsn-from", "bounces@example.org", &err), DG_OK);
	assert_int_equal(dg_relay_conf_set(&c, "sts-cache", "/var/cache/sts", &err), DG_OK);
	assert_int_equal(dg_relay_conf_finish(&c, &err), DG_OK);
	assert_string_equal(c.dsn_from, "bounces@example.org");
	assert_string_equal(c.sts_cache, "/var/cache/sts");
	dg_relay_conf_cleanup(&c);

	/* a file over the cap is refused before parsing */
	{
		FILE *f;
		char big[128];

		snprintf(big, sizeof(big), "%s/big.conf", tmpdir);
		f = fopen(big, "w");
		assert_non_null(f);
		while (ftell(f) <= (long)DG_RELAY_CONF_FILE_MAX)
			fputs("# padding padding padding padding padding padding padding\n", f);
		fclose(f);
		dg_relay_conf_init(&c);
		assert_int_equal(dg_relay_conf_load(&c, big, &err), DG_E_LIMIT);
		dg_relay_conf_cleanup(&c);
		unlink(big);
	}
	/* a bad line names the file */
	write_file("bad.conf", "queue = /q\n\ntimeout = 0\n", conf, sizeof(conf));
	dg_relay_conf_init(&c);
	assert_int_equal(dg_relay_conf_load(&c, conf, &err), DG_E_CONFIG);
	snprintf(want, sizeof(want), "%s:3: timeout: 0 is not in 1s..1h", conf);
	assert_string_equal(err.msg, want);
	dg_relay_conf_cleanup(&c);

	unlink(conf);
	snprintf(conf, sizeof(conf), "%s/relay.conf", tmpdir);
	unlink(conf);
	unlink(cert);
	unlink(key);
	rmdir(tmpdir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_set_table),         cmocka_unit_test(test_helo_bad),
	    cmocka_unit_test(test_keys_and_help),     cmocka_unit_test(test_defaults),
	    cmocka_unit_test(test_lists_and_sources), cmocka_unit_test(test_value_cap),
	    cmocka_unit_test(test_sample_file),       cmocka_unit_test(test_file_cases),
	    cmocka_unit_test(test_file_caps),         cmocka_unit_test(test_load_check_finish),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
