/*
 * test_dane.c - unit tests for the OpenSSL DANE glue (lib/dane/).
 *
 * Table-driven (STYLE.md section 9). The fixtures come from tests/data/gen-dane-fixtures.sh:
 * certificates issued by `openssl ca` with fixed dates, and the TLSA association data computed
 * by the openssl CLI (tests/data/dane/expected.txt), so no record here is computed by daneguard.
 * Verification runs at the fixed reference time T0 (the wall clock is pinned with
 * dg_clock_set_wall and most cases leave dg_dane_input.when at 0), or at T0 + days.
 *
 * Covers SPEC AUTH-1..AUTH-8, OSSL-1..OSSL-8, TLSA-2/TLSA-3/TLSA-4 B and SPEC §14 rows 1-4 and
 * 11. Failures print "got X, want Y".
 */
#include <daneguard/dane.h>
#include <daneguard/util.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define CHECK(cond, ...)                                                                           \
	do {                                                                                       \
		if (!(cond))                                                                       \
			fail_msg(__VA_ARGS__);                                                     \
	} while (0)

/* 2025-06-01T00:00:00Z, as in gen-dane-fixtures.sh: every leaf is valid then. */
#define T0 ((time_t)1748736000)
#define DAY ((time_t)86400)

enum { EXPECT_MAX = 96, HEX_MAX = 4096, CHAIN_LEN = 4, RECS_MAX = 4, INFO_MAX = 32 };

/* How a test record's data is derived from the fixture value. */
enum mangle { AS_IS = 0, TRUNC_31, FLIP_LAST };

struct expect_line {
	char cert[24];
	unsigned s, m;
	char hex[HEX_MAX];
};

struct info_line {
	char cert[24], field[24], value[256];
};

/* One TLSA record: usage, and the (selector, mtype) data of a fixture certificate. */
struct rec {
	unsigned u;
	const char *cert;
	unsigned s, m;
	enum mangle mangle;
};

struct vcase {
	const char *name;
	const char *chain[CHAIN_LEN]; /* fixture names, leaf first */
	struct rec recs[RECS_MAX];    /* terminated by cert == NULL */
	const char *base;
	const char *ref_id; /* one extra reference identifier, or NULL */
	int days;           /* when = T0 + days (0: when = 0, the pinned wall clock) */
	bool want_auth;
	enum dg_dane_fail want_fail;
	int want_x509; /* -1: not checked */
	int want_depth;
	long want_index;
	const char *want_peer; /* NULL: expect NULL */
	const char *want_ref;  /* NULL: expect NULL */
	bool want_spki_only;
	size_t want_usable;
	size_t want_notes;
	bool want_agility;
	const char *want_reason; /* substring of the reason */
};

static struct expect_line expected[EXPECT_MAX];
static size_t n_expected;
static struct info_line infos[INFO_MAX];
static size_t n_infos;

static const char *data_path(const char *file);
static void load_expected(void);
static void load_infos(void);
static const char *want_hex(const char *cert, unsigned s, unsigned m);
static const char *want_info(const char *cert, const char *field);
static X509 *load_cert(const char *name);
static STACK_OF(X509) * chain_of(const char *const *names);
static void hex_to_bytes(const char *hex, uint8_t **out, size_t *len);
static struct dg_tlsa_set *set_of(const struct rec *recs);
static struct dg_dane_ctx *ctx_of(const char *order);
static void run_case(struct dg_dane_ctx *ctx, const struct vcase *c);
static void check_case(const struct vcase *c, const struct dg_dane_result *r);
static int group_setup(void **state);
static int group_teardown(void **state);

/* ---- fixtures --------------------------------------------------------------------------- */

static const char *data_path(const char *file)
{
	static char path[4096];
	const char *dir = getenv("DG_TEST_DATA");

	snprintf(path, sizeof(path), "%s/dane/%s", dir != NULL ? dir : "tests/data", file);
	return path;
}

static void load_expected(void)
{
	FILE *f;

	if (n_expected > 0)
		return;
	f = fopen(data_path("expected.txt"), "r");
	CHECK(f != NULL, "cannot open %s (DG_TEST_DATA unset?)", data_path("expected.txt"));
	while (n_expected < EXPECT_MAX) {
		struct expect_line *e = &expected[n_expected];

		if (fscanf(f, "%23s %u %u %4095s", e->cert, &e->s, &e->m, e->hex) != 4)
			break;
		n_expected++;
	}
	fclose(f);
	CHECK(n_expected == 72, "expected.txt: got %zu lines, want 72", n_expected);
}

static void load_infos(void)
{
	FILE *f;
	char line[512];

	if (n_infos > 0)
		return;
	f = fopen(data_path("info.txt"), "r");
	CHECK(f != NULL, "cannot open %s", data_path("info.txt"));
	while (n_infos < INFO_MAX && fgets(line, sizeof(line), f) != NULL) {
		struct info_line *e = &infos[n_infos];

		line[strcspn(line, "\n")] = '\0';
		if (sscanf(line, "%23s %23s %255[^\n]", e->cert, e->field, e->value) == 3)
			n_infos++;
	}
	fclose(f);
	CHECK(n_infos == 12, "info.txt: got %zu lines, want 12", n_infos);
}

static const char *want_hex(const char *cert, unsigned s, unsigned m)
{
	load_expected();
	for (size_t i = 0; i < n_expected; i++)
		if (strcmp(expected[i].cert, cert) == 0 && expected[i].s == s && expected[i].m == m)
			return expected[i].hex;
	fail_msg("no expected value for %s %u %u", cert, s, m);
	return NULL;
}

static const char *want_info(const char *cert, const char *field)
{
	load_infos();
	for (size_t i = 0; i < n_infos; i++)
		if (strcmp(infos[i].cert, cert) == 0 && strcmp(infos[i].field, field) == 0)
			return infos[i].value;
	fail_msg("no info %s %s", cert, field);
	return NULL;
}

static X509 *load_cert(const char *name)
{
	char file[64];
	STACK_OF(X509) *sk = NULL;
	struct dg_err err = {0};
	X509 *x;

	snprintf(file, sizeof(file), "%s.crt", name);
	CHECK(dg_tlsa_load_certs(data_path(file), &sk, &err) == DG_OK, "load %s: got \"%s\"", file,
	      err.msg);
	x = sk_X509_shift(sk);
	sk_X509_pop_free(sk, X509_free);
	return x;
}

static STACK_OF(X509) * chain_of(const char *const *names)
{
	STACK_OF(X509) *sk = sk_X509_new_null();

	for (size_t i = 0; i < CHAIN_LEN && names[i] != NULL; i++)
		sk_X509_push(sk, load_cert(names[i]));
	return sk;
}

static void hex_to_bytes(const char *hex, uint8_t **out, size_t *len)
{
	size_t n = strlen(hex) / 2;

	*out = malloc(n);
	for (size_t i = 0; i < n; i++) {
		unsigned v;

		CHECK(sscanf(hex + 2 * i, "%2x", &v) == 1, "bad hex in expected.txt");
		(*out)[i] = (uint8_t)v;
	}
	*len = n;
}

static struct dg_tlsa_set *set_of(const struct rec *recs)
{
	struct dg_tlsa_set *set = dg_tlsa_set_new();

	for (size_t i = 0; i < RECS_MAX && recs[i].cert != NULL; i++) {
		const struct rec *r = &recs[i];
		struct dg_err err = {0};
		uint8_t *data;
		size_t len;

		hex_to_bytes(want_hex(r->cert, r->s, r->m == 255 ? 1 : r->m), &data, &len);
		if (r->mangle == TRUNC_31)
			len = 31;
		else if (r->mangle == FLIP_LAST)
			data[len - 1] ^= 0x01;
		CHECK(dg_tlsa_set_add(set, (uint8_t)r->u, (uint8_t)r->s, (uint8_t)r->m, data, len,
		                      &err) == DG_OK,
		      "dg_tlsa_set_add: %s", err.msg);
		free(data);
	}
	return set;
}

static struct dg_dane_ctx *ctx_of(const char *order)
{
	struct dg_tlsa_strength st;
	struct dg_dane_ctx *ctx = NULL;
	struct dg_err err = {0};

	if (order != NULL)
		CHECK(dg_tlsa_strength_parse(order, &st, &err) == DG_OK, "order: %s", err.msg);
	CHECK(dg_dane_ctx_new(order != NULL ? &st : NULL, &ctx, &err) == DG_OK,
	      "dg_dane_ctx_new: got \"%s\"", err.msg);
	return ctx;
}

static int group_setup(void **state)
{
	(void)state;
	dg_clock_set_wall(T0);
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	dg_clock_reset_wall();
	return 0;
}

/* ---- verification table ----------------------------------------------------------------- */

/* One case per block, fields in struct vcase order; kept out of clang-format on purpose. */
/* clang-format off */
#define ROOT_CHAIN(leaf) {leaf, "inter", "root", NULL}
#define SHORT_CHAIN(leaf) {leaf, "inter", NULL}
#define NO_NOTES 0

static const struct vcase vcases[] = {
	/* SPEC AUTH-2: DANE-EE, selector/mtype combinations, EC and RSA. */
	{"3 1 1 EC leaf", {"ee-ec"}, {{3, "ee-ec", 1, 1, AS_IS}}, "mx1.example.test", NULL, 0, true,
	 DG_DANE_FAIL_NONE, X509_V_OK, 0, 0, NULL, NULL, false, 1, NO_NOTES, false,
	 "3 1 1 record #1 matched the leaf certificate at depth 0"},
	{"3 0 1 EC leaf", {"ee-ec"}, {{3, "ee-ec", 0, 1, AS_IS}}, "mx1.example.test", NULL, 0, true,
	 DG_DANE_FAIL_NONE, X509_V_OK, 0, 0, NULL, NULL, false, 1, NO_NOTES, false, "depth 0"},
	{"3 1 2 RSA leaf", {"ee-rsa"}, {{3, "ee-rsa", 1, 2, AS_IS}}, "mx1.example.test", NULL, 0, true,
	 DG_DANE_FAIL_NONE, X509_V_OK, 0, 0, NULL, NULL, false, 1, NO_NOTES, false, "depth 0"},
	{"3 1 0 RSA leaf", {"ee-rsa"}, {{3, "ee-rsa", 1, 0, AS_IS}}, "mx1.example.test", NULL, 0, true,
	 DG_DANE_FAIL_NONE, X509_V_OK, 0, 0, NULL, NULL, false, 1, NO_NOTES, false, "depth 0"},
	{"3 0 2 RSA leaf", {"ee-rsa"}, {{3, "ee-rsa", 0, 2, AS_IS}}, "mx1.example.test", NULL, 0, true,
	 DG_DANE_FAIL_NONE, X509_V_OK, 0, 0, NULL, NULL, false, 1, NO_NOTES, false, "depth 0"},
	{"3 1 1 leaf under a CA, chain ignored", SHORT_CHAIN("leaf-unrelated"),
	 {{3, "leaf-unrelated", 1, 1, AS_IS}}, "mx1.example.test", NULL, 0, true, DG_DANE_FAIL_NONE,
	 X509_V_OK, 0, 0, NULL, NULL, false, 1, NO_NOTES, false, "depth 0"},
	/* SPEC AUTH-2, §14 row 1: expiry and names are ignored for DANE-EE. */
	{"3 1 1 expired self-signed, name matches nothing", {"ee-expired"},
	 {{3, "ee-expired", 1, 1, AS_IS}}, "mx1.example.test", NULL, 0, true, DG_DANE_FAIL_NONE,
	 X509_V_OK, 0, 0, NULL, NULL, false, 1, NO_NOTES, false, "names and dates are not checked"},
	{"3 1 1 wrong key", {"ee-ec"}, {{3, "ee-rsa", 1, 1, AS_IS}}, "mx1.example.test", NULL, 0, false,
	 DG_DANE_FAIL_NO_MATCH, X509_V_ERR_DANE_NO_MATCH, -1, -1, NULL, NULL, false, 1, NO_NOTES,
	 false, "no usable TLSA record (1 loaded) matched"},
	{"3 1 1 one bit off", {"ee-ec"}, {{3, "ee-ec", 1, 1, FLIP_LAST}}, "mx1.example.test", NULL,
	 0, false, DG_DANE_FAIL_NO_MATCH, X509_V_ERR_DANE_NO_MATCH, -1, -1, NULL, NULL, false, 1,
	 NO_NOTES, false, "X509 error 65"},
	{"3 1 1 on the intermediate only", ROOT_CHAIN("leaf-mx1"), {{3, "inter", 1, 1, AS_IS}},
	 "mx1.example.test", NULL, 0, false, DG_DANE_FAIL_NO_MATCH, X509_V_ERR_DANE_NO_MATCH, -1,
	 -1, NULL, NULL, false, 1, NO_NOTES, false, "no usable TLSA record"},
	/* SPEC AUTH-3, AUTH-5: DANE-TA with the base domain as primary identifier. */
	{"2 0 1 intermediate, leaf = base domain", ROOT_CHAIN("leaf-mx1"), {{2, "inter", 0, 1, AS_IS}},
	 "mx1.example.test", NULL, 0, true, DG_DANE_FAIL_NONE, X509_V_OK, 1, 0,
	 "mx1.example.test", "mx1.example.test", false, 1, NO_NOTES, false,
	 "2 0 1 record #1 matched the certificate at depth 1"},
	{"2 0 1 intermediate, base domain in other case", ROOT_CHAIN("leaf-mx1"),
	 {{2, "inter", 0, 1, AS_IS}}, "MX1.Example.TEST", NULL, 0, true, DG_DANE_FAIL_NONE, X509_V_OK, 1,
	 0, "mx1.example.test", "MX1.Example.TEST", false, 1, NO_NOTES, false, "depth 1"},
	/* SPEC AUTH-5 2., §14 row 2: leaf named after the next-hop domain. */
	{"2 0 1, leaf = next-hop ref id", SHORT_CHAIN("leaf-domain"), {{2, "inter", 0, 1, AS_IS}},
	 "mx1.example.test", "example.test", 0, true, DG_DANE_FAIL_NONE, X509_V_OK, 1, 0,
	 "example.test", "example.test", false, 1, NO_NOTES, false,
	 "matched reference identifier \"example.test\""},
	{"2 0 1, leaf = next-hop, ref id not given", SHORT_CHAIN("leaf-domain"),
	 {{2, "inter", 0, 1, AS_IS}}, "mx1.example.test", NULL, 0, false, DG_DANE_FAIL_NAME,
	 X509_V_ERR_HOSTNAME_MISMATCH, -1, -1, NULL, NULL, false, 1, NO_NOTES, false,
	 "trusted through TLSA 2 0 1 record #1 at depth 1, but no leaf name matches"},
	/* SPEC AUTH-6: wildcards. */
	{"2 0 1, wildcard *.wild.test", SHORT_CHAIN("leaf-wild"), {{2, "inter", 0, 1, AS_IS}},
	 "mx1.wild.test", NULL, 0, true, DG_DANE_FAIL_NONE, X509_V_OK, 1, 0, "*.wild.test",
	 "mx1.wild.test", false, 1, NO_NOTES, false, "peer name \"*.wild.test\""},
	{"2 0 1, wildcard does not cover two labels", SHORT_CHAIN("leaf-wild"),
	 {{2, "inter", 0, 1, AS_IS}}, "a.mx1.wild.test", NULL, 0, false, DG_DANE_FAIL_NAME,
	 X509_V_ERR_HOSTNAME_MISMATCH, -1, -1, NULL, NULL, false, 1, NO_NOTES, false,
	 "(a.mx1.wild.test)"},
	{"2 0 1, partial wildcard mx*.partial.test", SHORT_CHAIN("leaf-partial"),
	 {{2, "inter", 0, 1, AS_IS}}, "mx1.partial.test", NULL, 0, false, DG_DANE_FAIL_NAME,
	 X509_V_ERR_HOSTNAME_MISMATCH, -1, -1, NULL, NULL, false, 1, NO_NOTES, false,
	 "(mx1.partial.test)"},
	/* SPEC §14 row 2: unrelated leaf name. */
	{"2 0 1, unrelated leaf name", ROOT_CHAIN("leaf-unrelated"), {{2, "inter", 0, 1, AS_IS}},
	 "mx1.example.test", "example.test", 0, false, DG_DANE_FAIL_NAME,
	 X509_V_ERR_HOSTNAME_MISMATCH, -1, -1, NULL, NULL, false, 1, NO_NOTES, false,
	 "(mx1.example.test, example.test)"},
	/* SPEC AUTH-3, §14 row 3: the TA is not in the chain -> OpenSSL says DANE_NO_MATCH. */
	{"2 0 1 root, root not sent", SHORT_CHAIN("leaf-mx1"), {{2, "root", 0, 1, AS_IS}},
	 "mx1.example.test", NULL, 0, false, DG_DANE_FAIL_NO_MATCH, X509_V_ERR_DANE_NO_MATCH, -1,
	 -1, NULL, NULL, false, 1, NO_NOTES, false, "no usable TLSA record"},
	{"2 0 1 root, root sent", ROOT_CHAIN("leaf-mx1"), {{2, "root", 0, 1, AS_IS}}, "mx1.example.test",
	 NULL, 0, true, DG_DANE_FAIL_NONE, X509_V_OK, 2, 0, "mx1.example.test",
	 "mx1.example.test", false, 1, NO_NOTES, false, "at depth 2"},
	/* SPEC AUTH-3: "2 0 0" works even when the TA is only in DNS. */
	{"2 0 0 intermediate in chain", ROOT_CHAIN("leaf-mx1"), {{2, "inter", 0, 0, AS_IS}},
	 "mx1.example.test", NULL, 0, true, DG_DANE_FAIL_NONE, X509_V_OK, 1, 0,
	 "mx1.example.test", "mx1.example.test", false, 1, NO_NOTES, false, "2 0 0 record #1"},
	{"2 0 0 intermediate only in DNS", {"leaf-mx1"}, {{2, "inter", 0, 0, AS_IS}}, "mx1.example.test",
	 NULL, 0, true, DG_DANE_FAIL_NONE, X509_V_OK, 1, 0, "mx1.example.test",
	 "mx1.example.test", false, 1, NO_NOTES, false, "depth 1"},
	{"2 1 1 root key, root sent", ROOT_CHAIN("leaf-mx1"), {{2, "root", 1, 1, AS_IS}},
	 "mx1.example.test", NULL, 0, true, DG_DANE_FAIL_NONE, X509_V_OK, 2, 0,
	 "mx1.example.test", "mx1.example.test", false, 1, NO_NOTES, false,
	 "2 1 1 record #1 matched the certificate at depth 2"},
	/* SPEC AUTH-3: the path below the TA must verify; a look-alike TA with another key. */
	{"2 0 1 look-alike intermediate, bad signature", {"leaf-mx1", "fake-inter", NULL},
	 {{2, "fake-inter", 0, 1, AS_IS}}, "mx1.example.test", NULL, 0, false, DG_DANE_FAIL_CHAIN,
	 X509_V_ERR_CERT_SIGNATURE_FAILURE, -1, -1, NULL, NULL, false, 1, NO_NOTES, false,
	 "trusted through TLSA 2 0 1 record #1 at depth 1, but the certificate at depth 0 failed"},
	/* SPEC AUTH-3 "2 1 0": bare key that signed the top of the chain (mspki). */
	{"2 1 0 root key, root not sent", SHORT_CHAIN("leaf-mx1"), {{2, "root", 1, 0, AS_IS}},
	 "mx1.example.test", NULL, 0, true, DG_DANE_FAIL_NONE, X509_V_OK, 1, 0,
	 "mx1.example.test", "mx1.example.test", true, 1, NO_NOTES, false,
	 "is a bare key that signed the certificate at depth 1"},
	/* SPEC AUTH-4: DANE-TA enforces validity. */
	{"2 0 1, expired leaf", ROOT_CHAIN("leaf-expired"), {{2, "inter", 0, 1, AS_IS}},
	 "mx1.example.test", NULL, 0, false, DG_DANE_FAIL_EXPIRED, X509_V_ERR_CERT_HAS_EXPIRED,
	 -1, -1, NULL, NULL, false, 1, NO_NOTES, false,
	 "but the certificate at depth 0 failed: X509 error 10"},
	{"2 0 1, 400 days ahead", ROOT_CHAIN("leaf-mx1"), {{2, "inter", 0, 1, AS_IS}},
	 "mx1.example.test", NULL, 400, false, DG_DANE_FAIL_EXPIRED, X509_V_ERR_CERT_HAS_EXPIRED,
	 -1, -1, NULL, NULL, false, 1, NO_NOTES, false, "certificate has expired"},
	{"2 0 1, 1000 days before", ROOT_CHAIN("leaf-mx1"), {{2, "inter", 0, 1, AS_IS}},
	 "mx1.example.test", NULL, -1000, false, DG_DANE_FAIL_NOT_YET_VALID,
	 X509_V_ERR_CERT_NOT_YET_VALID, -1, -1, NULL, NULL, false, 1, NO_NOTES, false,
	 "not yet valid"},
	{"3 1 1, 400 days ahead", {"ee-ec"}, {{3, "ee-ec", 1, 1, AS_IS}}, "mx1.example.test", NULL, 400,
	 true, DG_DANE_FAIL_NONE, X509_V_OK, 0, 0, NULL, NULL, false, 1, NO_NOTES, false,
	 "depth 0"},
	/* SPEC TLSA-3, TLSA-4 B, OSSL-6, §14 row 4: only PKIX usages. */
	{"only 0 0 1 and 1 1 1", ROOT_CHAIN("leaf-mx1"), {{0, "root", 0, 1, AS_IS}, {1, "leaf-mx1", 1, 1, AS_IS}},
	 "mx1.example.test", NULL, 0, false, DG_DANE_FAIL_NO_USABLE, -1, -1, -1, NULL, NULL,
	 false, 0, 2, false, "none of the 2 TLSA records is usable"},
	/* SPEC AUTH-7, §14 row 11: agility. */
	{"3 1 1 matches, 3 1 2 does not", {"ee-ec"},
	 {{3, "ee-ec", 1, 1, AS_IS}, {3, "ee-rsa", 1, 2, AS_IS}}, "mx1.example.test", NULL, 0, false,
	 DG_DANE_FAIL_NO_MATCH, X509_V_ERR_DANE_NO_MATCH, -1, -1, NULL, NULL, false, 2, NO_NOTES,
	 true, "TLSA 3 1 1 record #1 matches but a stronger digest is published"},
	{"3 1 1 and 3 1 2 both match: SHA2-512 wins", {"ee-ec"},
	 {{3, "ee-ec", 1, 1, AS_IS}, {3, "ee-ec", 1, 2, AS_IS}}, "mx1.example.test", NULL, 0, true,
	 DG_DANE_FAIL_NONE, X509_V_OK, 0, 1, NULL, NULL, false, 2, NO_NOTES, false,
	 "3 1 2 record #2"},
	{"3 1 1 matches, 2 0 2 does not (other pair)", ROOT_CHAIN("leaf-mx1"),
	 {{2, "root", 0, 2, FLIP_LAST}, {3, "leaf-mx1", 1, 1, AS_IS}}, "mx1.example.test", NULL, 0, true,
	 DG_DANE_FAIL_NONE, X509_V_OK, 0, 1, NULL, NULL, false, 2, NO_NOTES, false, "record #2"},
	/* SPEC TLSA-2, §14 row 11: a 31-octet SHA2-256 digest is unusable, the rest still works. */
	{"3 1 1 with 31 octets + good 3 1 2", {"ee-rsa"},
	 {{3, "ee-rsa", 1, 1, TRUNC_31}, {3, "ee-rsa", 1, 2, AS_IS}}, "mx1.example.test", NULL, 0, true,
	 DG_DANE_FAIL_NONE, X509_V_OK, 0, 1, NULL, NULL, false, 1, 1, false, "record #2"},
	{"3 1 255 private + good 3 1 1", {"ee-ec"}, {{3, "ee-ec", 1, 255, AS_IS}, {3, "ee-ec", 1, 1, AS_IS}},
	 "mx1.example.test", NULL, 0, true, DG_DANE_FAIL_NONE, X509_V_OK, 0, 1, NULL, NULL, false,
	 1, 1, false, "record #2"},
	{"empty chain", {NULL}, {{3, "ee-ec", 1, 1, AS_IS}}, "mx1.example.test", NULL, 0, false,
	 DG_DANE_FAIL_NO_CHAIN, X509_V_OK, -1, -1, NULL, NULL, false, 1, NO_NOTES, false,
	 "no certificate"},
};
/* clang-format on */

static void check_case(const struct vcase *c, const struct dg_dane_result *r)
{
	CHECK(r->authenticated == c->want_auth, "%s: authenticated got %d, want %d (%s)", c->name,
	      r->authenticated, c->want_auth, r->reason);
	CHECK(r->fail == c->want_fail, "%s: fail got %s, want %s (%s)", c->name,
	      dg_dane_fail_str(r->fail), dg_dane_fail_str(c->want_fail), r->reason);
	CHECK(c->want_x509 < 0 || r->x509_err == c->want_x509, "%s: x509_err got %d, want %d",
	      c->name, r->x509_err, c->want_x509);
	CHECK(r->depth == c->want_depth, "%s: depth got %d, want %d", c->name, r->depth,
	      c->want_depth);
	CHECK(r->matched_index == c->want_index, "%s: matched_index got %ld, want %ld", c->name,
	      r->matched_index, c->want_index);
	CHECK((r->peername == NULL) == (c->want_peer == NULL) &&
	          (c->want_peer == NULL || strcmp(r->peername, c->want_peer) == 0),
	      "%s: peername got %s, want %s", c->name, r->peername ? r->peername : "(null)",
	      c->want_peer ? c->want_peer : "(null)");
	CHECK((r->matched_ref_id == NULL) == (c->want_ref == NULL) &&
	          (c->want_ref == NULL || strcmp(r->matched_ref_id, c->want_ref) == 0),
	      "%s: matched_ref_id got %s, want %s", c->name,
	      r->matched_ref_id ? r->matched_ref_id : "(null)",
	      c->want_ref ? c->want_ref : "(null)");
	CHECK(r->matched_spki_only == c->want_spki_only, "%s: matched_spki_only got %d, want %d",
	      c->name, r->matched_spki_only, c->want_spki_only);
	CHECK(r->n_usable == c->want_usable, "%s: n_usable got %zu, want %zu", c->name, r->n_usable,
	      c->want_usable);
	CHECK(r->n_notes == c->want_notes, "%s: n_notes got %zu, want %zu", c->name, r->n_notes,
	      c->want_notes);
	CHECK(r->agility_ignored_match == c->want_agility,
	      "%s: agility_ignored_match got %d, want %d", c->name, r->agility_ignored_match,
	      c->want_agility);
	CHECK(strstr(r->reason, c->want_reason) != NULL, "%s: reason got \"%s\", want \"...%s...\"",
	      c->name, r->reason, c->want_reason);
}

static void run_case(struct dg_dane_ctx *ctx, const struct vcase *c)
{
	struct dg_tlsa_set *set = set_of(c->recs);
	STACK_OF(X509) *chain = chain_of(c->chain);
	const char *ids[1] = {c->ref_id};
	struct dg_dane_input in = {set, c->base, ids, c->ref_id != NULL ? 1 : 0, 0};
	struct dg_dane_result r;
	struct dg_err err = {0};
	enum dg_status st;

	if (c->days != 0)
		in.when = T0 + c->days * DAY;
	st = dg_dane_verify(ctx, &in, chain, &r, &err);
	CHECK(st == DG_OK, "%s: status got %s (%s), want ok", c->name, dg_status_str(st), err.msg);
	check_case(c, &r);
	dg_dane_result_cleanup(&r);
	sk_X509_pop_free(chain, X509_free);
	dg_tlsa_set_free(set);
}

static void test_verify_table(void **state)
{
	struct dg_dane_ctx *ctx = ctx_of(NULL);

	(void)state;
	for (size_t i = 0; i < sizeof(vcases) / sizeof(vcases[0]); i++)
		run_case(ctx, &vcases[i]);
	dg_dane_ctx_free(ctx);
}

/* ---- notes, context, input errors ------------------------------------------------------- */

/* SPEC OSSL-5, TLSA-2, TLSA-3: one note per record not loaded, with index and reason. */
static void test_notes(void **state)
{
	static const struct {
		struct rec rec;
		enum dg_tlsa_usability want;
		const char *want_reason;
	} tab[] = {
	    {{0, "root", 0, 1, AS_IS}, DG_TLSA_UNUSABLE_PKIX_USAGE, "TLSA 0 0 1 record #1"},
	    {{1, "leaf-mx1", 1, 1, AS_IS}, DG_TLSA_UNUSABLE_PKIX_USAGE, "not used for SMTP"},
	    {{3, "ee-ec", 1, 1, TRUNC_31}, DG_TLSA_UNUSABLE_DIGEST_LEN, "31"},
	    {{3, "ee-ec", 1, 255, AS_IS}, DG_TLSA_UNUSABLE_PRIVATE, "private"},
	};
	struct dg_dane_ctx *ctx = ctx_of(NULL);
	STACK_OF(X509) *chain = chain_of((const char *const[]){"ee-ec", NULL});

	(void)state;
	for (size_t i = 0; i < sizeof(tab) / sizeof(tab[0]); i++) {
		struct rec recs[3] = {tab[i].rec, {3, "ee-ec", 1, 1, AS_IS}, {0}};
		struct dg_tlsa_set *set = set_of(recs);
		struct dg_dane_input in = {set, "mx.ec.example.test", NULL, 0, 0};
		struct dg_dane_result r;

		CHECK(dg_dane_verify(ctx, &in, chain, &r, NULL) == DG_OK, "case %zu: status", i);
		CHECK(r.authenticated, "case %zu: got not authenticated (%s), want authenticated",
		      i, r.reason);
		CHECK(r.n_notes == 1, "case %zu: n_notes got %zu, want 1", i, r.n_notes);
		CHECK(r.notes[0].index == 0, "case %zu: index got %zu, want 0", i,
		      r.notes[0].index);
		CHECK(r.notes[0].usability == tab[i].want, "case %zu: usability got %s, want %s", i,
		      dg_tlsa_usability_str(r.notes[0].usability),
		      dg_tlsa_usability_str(tab[i].want));
		CHECK(strstr(r.notes[0].reason, tab[i].want_reason) != NULL,
		      "case %zu: reason got \"%s\", want \"...%s...\"", i, r.notes[0].reason,
		      tab[i].want_reason);
		CHECK(r.matched_index == 1, "case %zu: matched_index got %ld, want 1", i,
		      r.matched_index);
		dg_dane_result_cleanup(&r);
		dg_tlsa_set_free(set);
	}
	sk_X509_pop_free(chain, X509_free);
	dg_dane_ctx_free(ctx);
}

/* SPEC AUTH-7, OSSL-1: a digest left out of the order is disabled; the order decides. */
static void test_order(void **state)
{
	static const struct {
		const char *order;
		struct rec recs[3]; /* terminated by cert == NULL */
		bool want_auth;
		enum dg_dane_fail want_fail;
		long want_index;
		size_t want_notes;
	} tab[] = {
	    {"sha256", {{3, "ee-ec", 1, 2, AS_IS}}, false, DG_DANE_FAIL_NO_USABLE, -1, 1},
	    {"sha512",
	     {{3, "ee-ec", 1, 1, AS_IS}, {3, "ee-ec", 1, 2, AS_IS}},
	     true,
	     DG_DANE_FAIL_NONE,
	     1,
	     1},
	    /* SHA2-256 stronger: the matching 3 1 1 is authoritative, the bad 3 1 2 ignored */
	    {"sha256 sha512",
	     {{3, "ee-ec", 1, 1, AS_IS}, {3, "ee-rsa", 1, 2, AS_IS}},
	     true,
	     DG_DANE_FAIL_NONE,
	     0,
	     0},
	    {"sha512 sha256",
	     {{3, "ee-ec", 1, 1, AS_IS}, {3, "ee-rsa", 1, 2, AS_IS}},
	     false,
	     DG_DANE_FAIL_NO_MATCH,
	     -1,
	     0},
	};
	STACK_OF(X509) *chain = chain_of((const char *const[]){"ee-ec", NULL});

	(void)state;
	for (size_t i = 0; i < sizeof(tab) / sizeof(tab[0]); i++) {
		struct dg_dane_ctx *ctx = ctx_of(tab[i].order);
		struct dg_tlsa_set *set = set_of(tab[i].recs);
		struct dg_dane_input in = {set, "mx.ec.example.test", NULL, 0, 0};
		struct dg_dane_result r;

		CHECK(dg_dane_verify(ctx, &in, chain, &r, NULL) == DG_OK, "%s: status",
		      tab[i].order);
		CHECK(r.authenticated == tab[i].want_auth && r.fail == tab[i].want_fail,
		      "order \"%s\": got %s (%s), want %s", tab[i].order, dg_dane_fail_str(r.fail),
		      r.reason, dg_dane_fail_str(tab[i].want_fail));
		CHECK(r.matched_index == tab[i].want_index,
		      "order \"%s\": matched_index got %ld, want %ld", tab[i].order,
		      r.matched_index, tab[i].want_index);
		CHECK(r.n_notes == tab[i].want_notes, "order \"%s\": n_notes got %zu, want %zu",
		      tab[i].order, r.n_notes, tab[i].want_notes);
		if (r.n_notes > 0)
			CHECK(strstr(r.notes[0].reason, "disabled by the local digest order") !=
			          NULL,
			      "order \"%s\": note got \"%s\"", tab[i].order, r.notes[0].reason);
		dg_dane_result_cleanup(&r);
		dg_tlsa_set_free(set);
		dg_dane_ctx_free(ctx);
	}
	sk_X509_pop_free(chain, X509_free);
}

/* SPEC AUTH-8, OSSL-1: the store is empty; the SSL_CTX is DANE-enabled and usable. */
static void test_ctx(void **state)
{
	struct dg_dane_ctx *ctx = ctx_of(NULL);
	SSL_CTX *sc = dg_dane_ctx_ssl_ctx(ctx);
	STACK_OF(X509_OBJECT) * objs;
	SSL *ssl;

	(void)state;
	CHECK(sc != NULL, "ssl_ctx got NULL");
	objs = X509_STORE_get0_objects(SSL_CTX_get_cert_store(sc));
	CHECK(sk_X509_OBJECT_num(objs) <= 0, "cert store got %d objects, want 0",
	      sk_X509_OBJECT_num(objs));
	CHECK(dg_dane_ctx_order(ctx)->count == 2 &&
	          dg_dane_ctx_order(ctx)->mtype[0] == DG_TLSA_MTYPE_SHA512,
	      "default order got count %zu, want sha512 first", dg_dane_ctx_order(ctx)->count);
	ssl = SSL_new(sc);
	CHECK(ssl != NULL && SSL_dane_enable(ssl, "mx1.example.test") > 0,
	      "SSL_dane_enable on the context's SSL: got failure, want success");
	SSL_free(ssl);
	dg_dane_ctx_free(ctx);
	dg_dane_ctx_free(NULL);
	dg_dane_result_cleanup(NULL);
	dg_cert_info_cleanup(NULL);
}

/* Bad input is an error, not a verdict. */
static void test_input_errors(void **state)
{
	struct dg_dane_ctx *ctx = ctx_of(NULL);
	struct rec recs[] = {{3, "ee-ec", 1, 1, AS_IS}, {0}};
	struct dg_tlsa_set *set = set_of(recs);
	STACK_OF(X509) *chain = chain_of((const char *const[]){"ee-ec", NULL});
	const char *empty_id[1] = {""};
	const struct {
		struct dg_dane_input in;
		enum dg_status want;
	} tab[] = {
	    {{set, NULL, NULL, 0, 0}, DG_E_CONFIG},
	    {{set, "", NULL, 0, 0}, DG_E_CONFIG},
	    {{set, "mx1.example.test", empty_id, 1, 0}, DG_E_CONFIG},
	    {{set, "mx1.example.test", NULL, 1, 0}, DG_E_CONFIG},
	    {{set, "mx1.example.test", empty_id, DG_DANE_REF_IDS_MAX + 1, 0}, DG_E_CONFIG},
	};
	(void)state;
	for (size_t i = 0; i < sizeof(tab) / sizeof(tab[0]); i++) {
		struct dg_dane_result r;
		struct dg_err err = {0};
		enum dg_status st = dg_dane_verify(ctx, &tab[i].in, chain, &r, &err);

		CHECK(st == tab[i].want, "case %zu: got %s, want %s", i, dg_status_str(st),
		      dg_status_str(tab[i].want));
		CHECK(err.msg[0] != '\0', "case %zu: got empty message", i);
		dg_dane_result_cleanup(&r);
	}
	{
		/* NULL chain and NULL RRset are verdicts */
		struct dg_dane_input in = {set, "mx1.example.test", NULL, 0, 0};
		struct dg_dane_input none = {NULL, "mx1.example.test", NULL, 0, 0};
		struct dg_dane_result r;

		CHECK(dg_dane_verify(ctx, &in, NULL, &r, NULL) == DG_OK &&
		          r.fail == DG_DANE_FAIL_NO_CHAIN,
		      "NULL chain: got %s, want no-chain", dg_dane_fail_str(r.fail));
		dg_dane_result_cleanup(&r);
		CHECK(dg_dane_verify(ctx, &none, chain, &r, NULL) == DG_OK &&
		          r.fail == DG_DANE_FAIL_NO_USABLE && !r.authenticated,
		      "NULL RRset: got %s, want no-usable", dg_dane_fail_str(r.fail));
		CHECK(strstr(r.reason, "empty") != NULL, "NULL RRset: reason got \"%s\"", r.reason);
		dg_dane_result_cleanup(&r);
	}
	sk_X509_pop_free(chain, X509_free);
	dg_tlsa_set_free(set);
	dg_dane_ctx_free(ctx);
}

/* One cached chain, many domains: the same context and chain verified repeatedly. */
static void test_reuse(void **state)
{
	struct dg_dane_ctx *ctx = ctx_of(NULL);
	struct rec recs[] = {{2, "inter", 0, 1, AS_IS}, {0}};
	struct dg_tlsa_set *set = set_of(recs);
	STACK_OF(X509) *chain = chain_of((const char *const[]){"leaf-domain", "inter", NULL});
	static const struct {
		const char *base, *ref;
		bool want;
	} tab[] = {
	    {"mx1.example.test", "example.test", true},
	    {"mx1.example.test", "other.test", false},
	    {"example.test", NULL, true},
	    {"mx1.example.test", "example.test", true},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(tab) / sizeof(tab[0]); i++) {
		const char *ids[1] = {tab[i].ref};
		struct dg_dane_input in = {set, tab[i].base, ids, tab[i].ref ? 1 : 0, 0};
		struct dg_dane_result r;

		CHECK(dg_dane_verify(ctx, &in, chain, &r, NULL) == DG_OK, "case %zu: status", i);
		CHECK(r.authenticated == tab[i].want, "case %zu (%s): got %d, want %d (%s)", i,
		      tab[i].base, r.authenticated, tab[i].want, r.reason);
		dg_dane_result_cleanup(&r);
	}
	CHECK(sk_X509_num(chain) == 2, "chain length got %d after reuse, want 2",
	      sk_X509_num(chain));
	sk_X509_pop_free(chain, X509_free);
	dg_tlsa_set_free(set);
	dg_dane_ctx_free(ctx);
}

/* STYLE.md section 7: the chain length is capped before OpenSSL sees it. */
static void test_chain_cap(void **state)
{
	struct dg_dane_ctx *ctx = ctx_of(NULL);
	struct rec recs[] = {{3, "ee-ec", 1, 1, AS_IS}, {0}};
	struct dg_tlsa_set *set = set_of(recs);
	STACK_OF(X509) *chain = chain_of((const char *const[]){"ee-ec", NULL});
	X509 *leaf = sk_X509_value(chain, 0);
	struct dg_dane_input in = {set, "mx.ec.example.test", NULL, 0, 0};
	struct dg_dane_result r;

	(void)state;
	while (sk_X509_num(chain) < DG_DANE_CHAIN_MAX) {
		X509_up_ref(leaf);
		sk_X509_push(chain, leaf);
	}
	CHECK(dg_dane_verify(ctx, &in, chain, &r, NULL) == DG_OK && r.authenticated,
	      "%d certificates: got %s (%s), want authenticated", sk_X509_num(chain),
	      dg_dane_fail_str(r.fail), r.reason);
	dg_dane_result_cleanup(&r);
	X509_up_ref(leaf);
	sk_X509_push(chain, leaf);
	CHECK(dg_dane_verify(ctx, &in, chain, &r, NULL) == DG_OK && r.fail == DG_DANE_FAIL_CHAIN,
	      "%d certificates: got %s, want chain", sk_X509_num(chain), dg_dane_fail_str(r.fail));
	CHECK(strstr(r.reason, "more than the cap") != NULL, "reason got \"%s\"", r.reason);
	dg_dane_result_cleanup(&r);
	sk_X509_pop_free(chain, X509_free);
	dg_tlsa_set_free(set);
	dg_dane_ctx_free(ctx);
}

/* ---- certificate details ---------------------------------------------------------------- */

static void test_cert_info(void **state)
{
	static const struct {
		const char *cert;
		const char *key_desc;
		const char *name0;
		size_t n_names;
		bool is_ca, self_signed, check_info;
	} tab[] = {
	    {"ee-rsa", "RSA 2048", "mx.rsa.example.test", 1, false, true, true},
	    {"leaf-mx1", "ECDSA P-256", "mx1.example.test", 1, false, false, true},
	    {"leaf-wild", "ECDSA P-256", "*.wild.test", 1, false, false, false},
	    /* no SAN: the CN is used (SPEC AUTH-6) */
	    {"root", "ECDSA P-256", "daneguard DANE test root", 1, true, true, false},
	    {"inter", "ECDSA P-256", "daneguard DANE test intermediate", 1, true, false, false},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(tab) / sizeof(tab[0]); i++) {
		X509 *x = load_cert(tab[i].cert);
		struct dg_cert_info ci;
		struct dg_err err = {0};
		const char *c = tab[i].cert;

		CHECK(dg_cert_info_get(x, &ci, &err) == DG_OK, "%s: got \"%s\"", c, err.msg);
		CHECK(strcmp(ci.key_desc, tab[i].key_desc) == 0, "%s: key_desc got %s, want %s", c,
		      ci.key_desc, tab[i].key_desc);
		CHECK(ci.n_names == tab[i].n_names && strcmp(ci.names[0], tab[i].name0) == 0,
		      "%s: names got %zu (%s), want %zu (%s)", c, ci.n_names,
		      ci.n_names ? ci.names[0] : "-", tab[i].n_names, tab[i].name0);
		CHECK(ci.is_ca == tab[i].is_ca, "%s: is_ca got %d, want %d", c, ci.is_ca,
		      tab[i].is_ca);
		CHECK(ci.self_signed == tab[i].self_signed, "%s: self_signed got %d, want %d", c,
		      ci.self_signed, tab[i].self_signed);
		CHECK(strcmp(ci.spki_sha256, want_hex(c, 1, 1)) == 0,
		      "%s: spki_sha256 got %s, want %s", c, ci.spki_sha256, want_hex(c, 1, 1));
		CHECK(strcmp(ci.cert_sha256, want_hex(c, 0, 1)) == 0,
		      "%s: cert_sha256 got %s, want %s", c, ci.cert_sha256, want_hex(c, 0, 1));
		if (tab[i].check_info) {
			/* values printed by the openssl CLI in gen-dane-fixtures.sh */
			CHECK(strcmp(ci.spki_sha256, want_info(c, "spki_sha256")) == 0,
			      "%s: spki_sha256 got %s, want %s (info.txt)", c, ci.spki_sha256,
			      want_info(c, "spki_sha256"));
			CHECK(strcmp(ci.cert_sha256, want_info(c, "cert_sha256")) == 0,
			      "%s: cert_sha256 got %s, want %s (info.txt)", c, ci.cert_sha256,
			      want_info(c, "cert_sha256"));
			CHECK((long long)ci.not_before == atoll(want_info(c, "not_before")),
			      "%s: not_before got %lld, want %s", c, (long long)ci.not_before,
			      want_info(c, "not_before"));
			CHECK((long long)ci.not_after == atoll(want_info(c, "not_after")),
			      "%s: not_after got %lld, want %s", c, (long long)ci.not_after,
			      want_info(c, "not_after"));
			CHECK(strcmp(ci.subject, want_info(c, "subject")) == 0,
			      "%s: subject got \"%s\", want \"%s\"", c, ci.subject,
			      want_info(c, "subject"));
			CHECK(strcmp(ci.issuer, want_info(c, "issuer")) == 0,
			      "%s: issuer got \"%s\", want \"%s\"", c, ci.issuer,
			      want_info(c, "issuer"));
		}
		dg_cert_info_cleanup(&ci);
		CHECK(ci.subject == NULL && ci.names == NULL, "%s: cleanup left pointers", c);
		X509_free(x);
	}
}

static void test_fail_str(void **state)
{
	static const struct {
		enum dg_dane_fail f;
		const char *want;
	} tab[] = {
	    {DG_DANE_FAIL_NONE, "none"},
	    {DG_DANE_FAIL_NO_MATCH, "no-match"},
	    {DG_DANE_FAIL_NAME, "name-mismatch"},
	    {DG_DANE_FAIL_EXPIRED, "expired"},
	    {DG_DANE_FAIL_NOT_YET_VALID, "not-yet-valid"},
	    {DG_DANE_FAIL_CHAIN, "chain"},
	    {DG_DANE_FAIL_NO_USABLE, "no-usable"},
	    {DG_DANE_FAIL_NO_CHAIN, "no-chain"},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(tab) / sizeof(tab[0]); i++)
		CHECK(strcmp(dg_dane_fail_str(tab[i].f), tab[i].want) == 0, "%d: got %s, want %s",
		      (int)tab[i].f, dg_dane_fail_str(tab[i].f), tab[i].want);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_verify_table), cmocka_unit_test(test_notes),
	    cmocka_unit_test(test_order),        cmocka_unit_test(test_ctx),
	    cmocka_unit_test(test_input_errors), cmocka_unit_test(test_reuse),
	    cmocka_unit_test(test_chain_cap),    cmocka_unit_test(test_cert_info),
	    cmocka_unit_test(test_fail_str),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
