/*
 * test_relay_policy.c - unit tests of the relay's TLS policy table (lib/relay/relay_policy.c)
 * and client networks (lib/relay/relay_cidr.c).
 *
 * Tables of table text and expected entries or exact error; every level, attributes,
 * continuation lines, lookup precedence (exact beats .parent, nearest parent wins, no match),
 * the literal output format of `daneguard report fail-list --format postfix`, caps; CIDR
 * parsing and matching edge cases (/0, /32, /128, IPv4-mapped IPv6, host bits).
 * Failures print "got X, want Y".
 */
#include <daneguard/relay.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cmocka.h>

/* ---- parsing ------------------------------------------------------------------------------ */

struct map_case {
	const char *text;
	enum dg_status want_st;
	const char *want; /* DG_OK: entries "KEY LEVEL MODE LINE;..." in table order; else msg */
	size_t want_warnings;
};

static const struct map_case map_cases[] = {
    {"", DG_OK, "", 0},
    {"# nothing\n\n  \n", DG_OK, "", 0},
    {"example.com none\nexample.net may\nexample.org encrypt\nexample.de dane\n"
     "example.nl dane-only\n",
     DG_OK,
     "example.com none inherit 1;example.de dane inherit 4;example.net may inherit 2;"
     "example.nl dane-only inherit 5;example.org encrypt inherit 3;",
     0},
    {"Example.COM. DANE-ONLY\n", DG_OK, "example.com dane-only inherit 1;", 0},
    {".example.com may\nexample.com dane-only\n", DG_OK,
     "example.com dane-only inherit 2;.example.com may inherit 1;", 0},
    {"a.example may mode=log-only\nb.example dane-only mode=enforce\n", DG_OK,
     "a.example may log-only 1;b.example dane-only enforce 2;", 0},
    {"a.example encrypt ciphers=high protocols=!SSLv2,!SSLv3 mode=log-only match=nexthop\n", DG_OK,
     "a.example encrypt log-only 1;", 3},
    {"a.example may protocols={ !SSLv2, !SSLv3 } { tls_ciphers = high }\n", DG_OK,
     "a.example may inherit 1;", 2},
    /* continuation lines (Postfix map source rule) */
    {"a.example\n  dane-only\n\tmode=log-only\nb.example may\n", DG_OK,
     "a.example dane-only log-only 1;b.example may inherit 4;", 0},
    {"a.example\n# a comment between\n\n   dane\n", DG_OK, "a.example dane inherit 1;", 0},
    {"a.example may\r\nb.example none\r\n", DG_OK,
     "a.example may inherit 1;b.example none inherit 2;", 0},
    {"  a.example may\n", DG_E_PARSE, "t:1: continuation line without an entry", 0},
    /* errors */
    {"a.example\n", DG_E_PARSE, "t:1: key 'a.example' has no TLS security level", 0},
    {"a.example verify\n", DG_E_PARSE,
     "t:1: a.example: TLS security level 'verify' is not supported by daneguard (use "
     "dane-only, dane, encrypt, may or none)",
     0},
    {"a.example secure match=nexthop\n", DG_E_PARSE,
     "t:1: a.example: TLS security level 'secure' is not supported by daneguard (use "
     "dane-only, dane, encrypt, may or none)",
     0},
    {"\n\na.example fingerprint match=AA:BB\n", DG_E_PARSE,
     "t:3: a.example: TLS security level 'fingerprint' is not supported by daneguard (use "
     "dane-only, dane, encrypt, may or none)",
     0},
    {"a.example strict\n", DG_E_PARSE,
     "t:1: a.example: unknown TLS security level 'strict' (want dane-only, dane, encrypt, may "
     "or none)",
     0},
    {"[mx.example.com] dane\n", DG_E_PARSE,
     "t:1: key '[mx.example.com]': daneguard keys policy by next-hop domain, not by [host] or "
     "host:port",
     0},
    {"a.example may\n[mx.example.com]:587 encrypt\n", DG_E_PARSE,
     "t:2: key '[mx.example.com]:587': daneguard keys policy by next-hop domain, not by [host] "
     "or host:port",
     0},
    {"mx.example.com:25 encrypt\n", DG_E_PARSE,
     "t:1: key 'mx.example.com:25': daneguard keys policy by next-hop domain, not by [host] or "
     "host:port",
     0},
    {"a.example may\nb.example none\nA.Example. dane\n", DG_E_PARSE,
     "t:3: duplicate key 'a.example' (first at line 1)", 0},
    {".a.example may\nx.example may\n.a.example none\nx.example dane\n", DG_E_PARSE,
     "t:3: duplicate key '.a.example' (first at line 1)", 0},
    {"a.example may mode=audit\n", DG_E_PARSE,
     "t:1: 'mode=audit': want mode=enforce or mode=log-only", 0},
    {"a.example may mode=enforce mode=log-only\n", DG_E_PARSE, "t:1: mode= given twice", 0},
    {"a.example may nonsense\n", DG_E_PARSE, "t:1: attribute 'nonsense' is not NAME=VALUE", 0},
    {"a.example may =x\n", DG_E_PARSE, "t:1: attribute '=x' is not NAME=VALUE", 0},
    {"a.example may protocols={ !SSLv2\n", DG_E_PARSE,
     "t:1: attribute 'protocols={': no closing '}'", 0},
    {"bad_domain! may\n", DG_E_PARSE, NULL, 0},
    {". may\n", DG_E_PARSE, NULL, 0},
    {"192.0.2.1 may\n", DG_E_PARSE, NULL, 0},
    {"a.example may\nb.ex\x01mple may\n", DG_E_PARSE, NULL, 0},
};

static void entries_str(const struct dg_relay_policy_map *m, char *out, size_t size)
{
	size_t used = 0;

	out[0] = '\0';
	for (size_t i = 0; i < dg_relay_policy_map_count(m) && used < size; i++) {
		const struct dg_relay_policy_entry *e = dg_relay_policy_map_get(m, i);

		used += (size_t)snprintf(
		    out + used, size - used, "%s%s %s %s %u;", e->subdomains ? "." : "", e->domain,
		    dg_relay_level_str(e->level), dg_relay_mode_str(e->mode), e->line);
	}
}

static void test_map_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(map_cases) / sizeof(map_cases[0]); i++) {
		const struct map_case *tc = &map_cases[i];
		struct dg_relay_policy_map *m = (void *)1;
		struct dg_err err = {0};
		size_t warnings = 99;
		char got[1024];
		enum dg_status st;

		st =
		    dg_relay_policy_map_parse(tc->text, strlen(tc->text), "t", &m, &warnings, &err);
		if (st != tc->want_st) {
			print_error("case %zu: got %s (%s), want %s\n", i, dg_status_str(st),
			            err.msg, dg_status_str(tc->want_st));
			fail();
		}
		if (st != DG_OK) {
			assert_null(m);
			if (tc->want != NULL && strcmp(err.msg, tc->want) != 0) {
				print_error("case %zu: got \"%s\", want \"%s\"\n", i, err.msg,
				            tc->want);
				fail();
			}
			if (tc->want == NULL && strncmp(err.msg, "t:", 2) != 0) {
				print_error("case %zu: got \"%s\", want a t:LINE: message\n", i,
				            err.msg);
				fail();
			}
			continue;
		}
		entries_str(m, got, sizeof(got));
		if (strcmp(got, tc->want) != 0 || warnings != tc->want_warnings) {
			print_error("case %zu: got \"%s\" %zu warnings, want \"%s\" %zu\n", i, got,
			            warnings, tc->want, tc->want_warnings);
			fail();
		}
		dg_relay_policy_map_free(m);
	}
}

/* ---- lookup ------------------------------------------------------------------------------- */

static const char lookup_table[] = "# lookup precedence\n"
                                   ".example.com may\n"
                                   "example.com dane-only\n"
                                   "mail.example.com encrypt\n"
                                   ".b.example.com none\n"
                                   "c.example.net dane mode=log-only\n";

struct lookup_case {
	const char *domain;
	const char *want; /* "LEVEL LINE" or NULL for no entry */
};

static const struct lookup_case lookup_cases[] = {
    {"example.com", "dane-only 3"},    /* exact, not .example.com */
    {"EXAMPLE.com.", "dane-only 3"},   /* case and trailing dot */
    {"mail.example.com", "encrypt 4"}, /* exact beats .example.com */
    {"x.mail.example.com", "may 2"},   /* no .mail.example.com: .example.com */
    {"a.b.example.com", "none 5"},     /* nearest parent wins */
    {"x.a.b.example.com", "none 5"},   /* nearest parent wins, deeper */
    {"b.example.com", "may 2"},        /* .b.example.com is not b.example.com */
    {"other.example.com", "may 2"},    /* subdomain */
    {"c.example.net", "dane 6"},       /* exact */
    {"d.c.example.net", NULL},         /* exact entries do not cover subdomains */
    {"example.net", NULL},             /* no parent match downwards */
    {"notexample.com", NULL},          /* suffix but not a label boundary */
    {"com", NULL},
    {"bad_name!", NULL},
    {"", NULL},
};

static void test_lookup(void **state)
{
	struct dg_relay_policy_map *m = NULL;
	struct dg_err err = {0};
	size_t warnings = 1;

	(void)state;
	assert_int_equal(
	    dg_relay_policy_map_parse(lookup_table, strlen(lookup_table), "t", &m, &warnings, &err),
	    DG_OK);
	assert_int_equal(warnings, 0);
	assert_int_equal(dg_relay_policy_map_count(m), 5);
	for (size_t i = 0; i < sizeof(lookup_cases) / sizeof(lookup_cases[0]); i++) {
		const struct lookup_case *tc = &lookup_cases[i];
		const struct dg_relay_policy_entry *e = dg_relay_policy_lookup(m, tc->domain);
		char got[64] = "(none)";

		if (e != NULL)
			snprintf(got, sizeof(got), "%s %u", dg_relay_level_str(e->level), e->line);
		if (strcmp(got, tc->want != NULL ? tc->want : "(none)") != 0) {
			print_error("lookup %s: got %s, want %s\n", tc->domain, got,
			            tc->want != NULL ? tc->want : "(none)");
			fail();
		}
	}
	assert_int_equal(dg_relay_policy_lookup(m, "c.example.net")->mode, DG_RELAY_MODE_LOG_ONLY);
	assert_null(dg_relay_policy_lookup(NULL, "example.com"));
	assert_null(dg_relay_policy_lookup(m, NULL));
	assert_null(dg_relay_policy_map_get(m, 5));
	dg_relay_policy_map_free(m);
	dg_relay_policy_map_free(NULL);
}

/* A literal sample of `daneguard report fail-list --format postfix` (cmd_report.c). */
static const char fail_list[] =
    "# daneguard fail-list (database /var/lib/daneguard/history.db, 2026-11-20T04:00:00Z): DANE "
    "broken in each of the last 3\n"
    "# complete scans; these destinations are downgraded to TLS security level may.\n"
    "# Use: postmap this file; smtp_tls_policy_maps = hash:/etc/postfix/THIS_FILE\n"
    "# broken.example: dane-fail (TLSA_MISMATCH) in 3 consecutive complete scans since "
    "2026-11-18T04:00:00Z\n"
    "broken.example\tmay\n"
    "# expired.example.org: dane-fail (CERT_EXPIRED,TLSA_MISMATCH) in 5 consecutive complete "
    "scans since 2026-11-16T04:00:00Z\n"
    "expired.example.org\tmay\n";

static void test_fail_list(void **state)
{
	struct dg_relay_policy_map *m = NULL;
	struct dg_err err = {0};
	size_t warnings = 1;
	const struct dg_relay_policy_entry *e;

	(void)state;
	if (dg_relay_policy_map_parse(fail_list, strlen(fail_list), "fail-list", &m, &warnings,
	                              &err) != DG_OK) {
		print_error("got %s, want the fail list to load\n", err.msg);
		fail();
	}
	assert_int_equal(warnings, 0);
	assert_int_equal(dg_relay_policy_map_count(m), 2);
	e = dg_relay_policy_lookup(m, "broken.example");
	assert_non_null(e);
	assert_int_equal(e->level, DG_RELAY_LEVEL_MAY);
	assert_int_equal(e->mode, DG_RELAY_MODE_INHERIT);
	assert_int_equal(e->line, 5);
	e = dg_relay_policy_lookup(m, "expired.example.org");
	assert_non_null(e);
	assert_int_equal(e->level, DG_RELAY_LEVEL_MAY);
	assert_int_equal(e->line, 7);
	assert_null(dg_relay_policy_lookup(m, "mx.broken.example"));
	dg_relay_policy_map_free(m);
}

static void test_levels_and_modes_str(void **state)
{
	(void)state;
	assert_string_equal(dg_relay_level_str(DG_RELAY_LEVEL_DEFAULT), "default");
	assert_string_equal(dg_relay_level_str(DG_RELAY_LEVEL_NONE), "none");
	assert_string_equal(dg_relay_level_str(DG_RELAY_LEVEL_MAY), "may");
	assert_string_equal(dg_relay_level_str(DG_RELAY_LEVEL_ENCRYPT), "encrypt");
	assert_string_equal(dg_relay_level_str(DG_RELAY_LEVEL_DANE), "dane");
	assert_string_equal(dg_relay_level_str(DG_RELAY_LEVEL_DANE_ONLY), "dane-only");
	assert_string_equal(dg_relay_mode_str(DG_RELAY_MODE_INHERIT), "inherit");
	assert_string_equal(dg_relay_mode_str(DG_RELAY_MODE_ENFORCE), "enforce");
	assert_string_equal(dg_relay_mode_str(DG_RELAY_MODE_LOG_ONLY), "log-only");
}

static void test_map_caps_and_load(void **state)
{
	struct dg_relay_policy_map *m = (void *)1;
	struct dg_err err = {0};
	struct dg_buf b;
	char path[] = "/tmp/dg-relay-policy-XXXXXX";
	size_t warnings = 0;
	int fd;

	(void)state;
	/* over the file cap: refused before parsing (no read of the bytes) */
	assert_int_equal(dg_relay_policy_map_parse("", DG_RELAY_POLICY_FILE_MAX + 1u, "big", &m,
	                                           &warnings, &err),
	                 DG_E_LIMIT);
	assert_null(m);
	assert_string_equal(err.msg, "big: larger than 67108864 bytes");
	/* a logical line over the cap, built from continuation lines */
	dg_buf_init(&b, 4 * DG_RELAY_POLICY_LINE_MAX);
	assert_int_equal(dg_buf_append_str(&b, "a.example may"), DG_OK);
	while (dg_buf_len(&b) <= 2 * DG_RELAY_POLICY_LINE_MAX)
		assert_int_equal(dg_buf_append_str(&b, "\n ciphers=high"), DG_OK);
	assert_int_equal(
	    dg_relay_policy_map_parse(dg_buf_str(&b), dg_buf_len(&b), "long", &m, &warnings, &err),
	    DG_E_LIMIT);
	assert_string_equal(err.msg, "long:1: entry longer than 8192 bytes");
	dg_buf_cleanup(&b);

	/* load: a missing file, then a real one (many entries, sorted for lookup) */
	assert_int_equal(dg_relay_policy_map_load("/nonexistent/policy", &m, &warnings, &err),
	                 DG_E_NOTFOUND);
	assert_null(m);
	fd = mkstemp(path);
	assert_true(fd >= 0);
	dg_buf_init(&b, 1u << 20);
	for (unsigned i = 2000; i-- > 0;)
		assert_int_equal(
		    dg_buf_printf(&b, "d%u.example %s\n", i, i % 2 ? "may" : "dane-only"), DG_OK);
	assert_int_equal(write(fd, dg_buf_str(&b), dg_buf_len(&b)), (ssize_t)dg_buf_len(&b));
	close(fd);
	dg_buf_cleanup(&b);
	assert_int_equal(dg_relay_policy_map_load(path, &m, &warnings, &err), DG_OK);
	assert_int_equal(dg_relay_policy_map_count(m), 2000);
	for (unsigned i = 0; i < 2000; i++) {
		char d[32];
		const struct dg_relay_policy_entry *e;

		snprintf(d, sizeof(d), "d%u.example", i);
		e = dg_relay_policy_lookup(m, d);
		if (e == NULL ||
		    e->level != (i % 2 ? DG_RELAY_LEVEL_MAY : DG_RELAY_LEVEL_DANE_ONLY) ||
		    e->line != 2000 - i) {
			print_error("%s: got %s line %u, want line %u\n", d,
			            e != NULL ? dg_relay_level_str(e->level) : "(none)",
			            e != NULL ? e->line : 0, 2000 - i);
			fail();
		}
	}
	dg_relay_policy_map_free(m);
	/* a parse error from a file names the file */
	fd = open(path, O_WRONLY | O_TRUNC);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "a.example verify\n", 17), 17);
	close(fd);
	assert_int_equal(dg_relay_policy_map_load(path, &m, &warnings, &err), DG_E_PARSE);
	assert_true(strncmp(err.msg, path, strlen(path)) == 0);
	assert_null(m);
	unlink(path);
}

/* ---- client networks ---------------------------------------------------------------------- */

struct cidr_case {
	const char *text;
	enum dg_status want_st;
	const char *want; /* DG_OK: dg_cidr_format(); else the exact message */
};

static const struct cidr_case cidr_cases[] = {
    {"0.0.0.0/0", DG_OK, "0.0.0.0/0"},
    {"::/0", DG_OK, "::/0"},
    {"192.0.2.1", DG_OK, "192.0.2.1/32"},
    {"192.0.2.1/32", DG_OK, "192.0.2.1/32"},
    {"2001:db8::1", DG_OK, "2001:db8::1/128"},
    {"2001:DB8::1/128", DG_OK, "2001:db8::1/128"},
    {"10.0.0.0/8", DG_OK, "10.0.0.0/8"},
    {"192.0.2.128/25", DG_OK, "192.0.2.128/25"},
    {"2001:db8:8000::/33", DG_OK, "2001:db8:8000::/33"},
    {"::ffff:192.0.2.0/120", DG_OK, "::ffff:192.0.2.0/120"},
    {"10.0.0.1/8", DG_E_PARSE,
     "network '10.0.0.1/8': host bits set beyond /8 (did you mean 10.0.0.0/8?)"},
    {"192.0.2.129/25", DG_E_PARSE,
     "network '192.0.2.129/25': host bits set beyond /25 (did you mean 192.0.2.128/25?)"},
    {"1.2.3.4/0", DG_E_PARSE,
     "network '1.2.3.4/0': host bits set beyond /0 (did you mean 0.0.0.0/0?)"},
    {"2001:db8::1/64", DG_E_PARSE,
     "network '2001:db8::1/64': host bits set beyond /64 (did you mean 2001:db8::/64?)"},
    {"10.0.0.0/33", DG_E_PARSE, "network '10.0.0.0/33': prefix is not in 0..32"},
    {"::/129", DG_E_PARSE, "network '::/129': prefix is not in 0..128"},
    {"10.0.0.0/", DG_E_PARSE, "network '10.0.0.0/': prefix is not in 0..32"},
    {"10.0.0.0/+8", DG_E_PARSE, "network '10.0.0.0/+8': prefix is not in 0..32"},
    {"10.0.0.0/8/8", DG_E_PARSE, "network '10.0.0.0/8/8': prefix is not in 0..32"},
    {"10.0.0/8", DG_E_PARSE, "network '10.0.0/8': not an IP address"},
    {"[::1]/128", DG_E_PARSE, "network '[::1]/128': not an IP address"},
    {" 10.0.0.0/8", DG_E_PARSE, "network ' 10.0.0.0/8': not an IP address"},
    {"/8", DG_E_PARSE, "network '/8': not an IP address"},
    {"", DG_E_PARSE, "network '': not an IP address"},
    {"localhost", DG_E_PARSE, "network 'localhost': not an IP address"},
};

static void test_cidr_parse(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cidr_cases) / sizeof(cidr_cases[0]); i++) {
		const struct cidr_case *tc = &cidr_cases[i];
		struct dg_cidr c = {0};
		struct dg_err err = {0};
		char got[DG_CIDR_STR_SIZE];
		enum dg_status st = dg_cidr_parse(tc->text, &c, &err);
		const char *g = st == DG_OK ? dg_cidr_format(&c, got, sizeof(got)) : err.msg;

		if (st != tc->want_st || strcmp(g, tc->want) != 0) {
			print_error("%s: got %s \"%s\", want %s \"%s\"\n", tc->text,
			            dg_status_str(st), g, dg_status_str(tc->want_st), tc->want);
			fail();
		}
	}
}

/* Build a sockaddr from text: "v4:ADDR" or "v6:ADDR". */
static const struct sockaddr *sa_from(const char *text, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (strncmp(text, "v4:", 3) == 0) {
		struct sockaddr_in *sin = (struct sockaddr_in *)ss;

		sin->sin_family = AF_INET;
		assert_int_equal(inet_pton(AF_INET, text + 3, &sin->sin_addr), 1);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

		sin6->sin6_family = AF_INET6;
		assert_int_equal(inet_pton(AF_INET6, text + 3, &sin6->sin6_addr), 1);
	}
	return (const struct sockaddr *)ss;
}

struct match_case {
	const char *nets; /* space-separated networks */
	const char *client;
	bool want;
};

static const struct match_case match_cases[] = {
    {"127.0.0.0/8 ::1/128", "v4:127.0.0.1", true},
    {"127.0.0.0/8 ::1/128", "v4:127.255.255.254", true},
    {"127.0.0.0/8 ::1/128", "v4:128.0.0.1", false},
    {"127.0.0.0/8 ::1/128", "v6:::1", true},
    {"127.0.0.0/8 ::1/128", "v6:::2", false},
    {"127.0.0.0/8 ::1/128", "v6:::ffff:127.0.0.1", true}, /* mapped client, v4 entry */
    {"127.0.0.0/8 ::1/128", "v6:::ffff:10.0.0.1", false},
    {"127.0.0.0/8", "v6:::127.0.0.1", false}, /* IPv4-compatible is not mapped */
    {"127.0.0.0/8", "v6:64:ff9b::7f00:1", false},
    {"0.0.0.0/0", "v4:203.0.113.9", true},
    {"0.0.0.0/0", "v6:2001:db8::1", false}, /* an IPv4 /0 covers IPv4 only */
    {"0.0.0.0/0", "v6:::ffff:203.0.113.9", true},
    {"::/0", "v6:2001:db8::1", true},
    {"::/0", "v4:203.0.113.9", false},
    {"192.0.2.7/32", "v4:192.0.2.7", true},
    {"192.0.2.7/32", "v4:192.0.2.6", false},
    {"192.0.2.7", "v6:::ffff:192.0.2.7", true},
    {"192.0.2.128/25", "v4:192.0.2.128", true},
    {"192.0.2.128/25", "v4:192.0.2.255", true},
    {"192.0.2.128/25", "v4:192.0.2.127", false},
    {"2001:db8::1/128", "v6:2001:db8::1", true},
    {"2001:db8::1/128", "v6:2001:db8::", false},
    {"2001:db8:8000::/33", "v6:2001:db8:ffff::1", true},
    {"2001:db8:8000::/33", "v6:2001:db8:7fff::1", false},
    {"::ffff:192.0.2.0/120", "v6:::ffff:192.0.2.99", true}, /* v6 entry for mapped space */
    {"", "v4:127.0.0.1", false},                            /* empty list: never open */
};

static void test_cidr_match(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(match_cases) / sizeof(match_cases[0]); i++) {
		const struct match_case *tc = &match_cases[i];
		struct dg_cidr list[4];
		struct sockaddr_storage ss;
		char nets[128], *tok, *save = NULL;
		size_t n = 0;
		bool got;

		snprintf(nets, sizeof(nets), "%s", tc->nets);
		for (tok = strtok_r(nets, " ", &save); tok != NULL;
		     tok = strtok_r(NULL, " ", &save))
			assert_int_equal(dg_cidr_parse(tok, &list[n++], NULL), DG_OK);
		got = dg_cidr_match(list, n, sa_from(tc->client, &ss));
		if (got != tc->want) {
			print_error("%s in [%s]: got %d, want %d\n", tc->client, tc->nets, got,
			            tc->want);
			fail();
		}
	}
}

static void test_cidr_other(void **state)
{
	struct dg_cidr c;
	struct sockaddr_storage ss = {0};
	char buf[8];

	(void)state;
	assert_int_equal(dg_cidr_parse("0.0.0.0/0", &c, NULL), DG_OK);
	assert_false(dg_cidr_match(&c, 1, NULL));
	ss.ss_family = AF_UNIX;
	assert_false(dg_cidr_match(&c, 1, (struct sockaddr *)&ss));
	assert_int_equal(dg_cidr_parse(NULL, &c, NULL), DG_E_PARSE);
	/* a small buffer is truncated, still terminated */
	assert_int_equal(strlen(dg_cidr_format(&c, buf, sizeof(buf))), sizeof(buf) - 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_map_table),         cmocka_unit_test(test_lookup),
	    cmocka_unit_test(test_fail_list),         cmocka_unit_test(test_levels_and_modes_str),
	    cmocka_unit_test(test_map_caps_and_load), cmocka_unit_test(test_cidr_parse),
	    cmocka_unit_test(test_cidr_match),        cmocka_unit_test(test_cidr_other),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
