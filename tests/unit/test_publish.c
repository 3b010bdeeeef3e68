/*
 * test_publish.c - unit tests for lib/publish: the TSIG key parsers (table-driven: good
 * files, comments, several keys, the command-line form, bad base64, unknown algorithm,
 * missing fields, unterminated input), the UPDATE builder (the wire is parsed back with
 * ldns: sections, classes, TTLs, TSIG present and verifying), the reply check and rcode
 * mapping (replies built and signed with ldns), and the per-server analysis (answers signed
 * with an ldns-generated ECDSA key: ok, different, unsigned, bad signature, DNSKEY mismatch,
 * expired signature). Failures print "got X, want Y".
 */
#include <daneguard/publish.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <ldns/ldns.h>

#define CHECK(cond, ...)                                                                           \
	do {                                                                                       \
		if (!(cond))                                                                       \
			fail_msg(__VA_ARGS__);                                                     \
	} while (0)

#define SECRET_B64 "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LTMyYg=="

struct key_case {
	const char *name;
	const char *text;
	const char *want_name; /* key asked for, NULL for the first */
	enum dg_status st;
	const char *key_name; /* expected key name on success */
	const char *alg;      /* expected algorithm on success */
	const char *msg;      /* substring of the error message on failure */
};

static const struct key_case key_cases[] = {
    {"bind",
     "key \"update.example\" {\n\talgorithm hmac-sha256;\n\tsecret \"" SECRET_B64 "\";\n};\n", NULL,
     DG_OK, "update.example", "hmac-sha256", NULL},
    {"unquoted name, upper case, dot",
     "key Update.Example. { algorithm HMAC-SHA512; secret \"" SECRET_B64 "\"; };", NULL, DG_OK,
     "update.example", "hmac-sha512", NULL},
    {"comments",
     "# tsig-keygen\n// c++\n/* c\n */ key \"k\" { algorithm hmac-sha1; # x\n"
     "secret \"" SECRET_B64 "\"; };",
     NULL, DG_OK, "k", "hmac-sha1", NULL},
    {"split secret",
     "key k { algorithm hmac-sha256; secret \"c2VjcmV0LXNlY3JldC1z\" "
     "\"ZWNyZXQtc2VjcmV0LTMyYg==\"; };",
     NULL, DG_OK, "k", "hmac-sha256", NULL},
    {"md5 long name", "key k { algorithm hmac-md5.sig-alg.reg.int; secret \"" SECRET_B64 "\"; };",
     NULL, DG_OK, "k", "hmac-md5", NULL},
    {"second key by name",
     "key a { algorithm hmac-sha256; secret \"" SECRET_B64 "\"; };\n"
     "key b { algorithm hmac-sha384; secret \"" SECRET_B64 "\"; };",
     "b", DG_OK, "b", "hmac-sha384", NULL},
    {"other statements skipped",
     "options { directory \"/x\"; };\nkey k { algorithm "
     "hmac-sha256; secret \"" SECRET_B64 "\"; };",
     NULL, DG_OK, "k", "hmac-sha256", NULL},
    {"bad base64", "key k { algorithm hmac-sha256; secret \"c2Vj*mV0\"; };", NULL, DG_E_PARSE, NULL,
     NULL, "not valid base64"},
    {"bad padding", "key k { algorithm hmac-sha256; secret \"c2V=cmV0\"; };", NULL, DG_E_PARSE,
     NULL, NULL, "not valid base64"},
    {"base64 length", "key k { algorithm hmac-sha256; secret \"c2Vjc\"; };", NULL, DG_E_PARSE, NULL,
     NULL, "not valid base64"},
    {"unknown algorithm", "key k { algorithm hmac-sha3; secret \"" SECRET_B64 "\"; };", NULL,
     DG_E_PARSE, NULL, NULL, "unknown algorithm \"hmac-sha3\""},
    {"no secret", "key k { algorithm hmac-sha256; };", NULL, DG_E_PARSE, NULL, NULL, "no secret"},
    {"no algorithm", "key k { secret \"" SECRET_B64 "\"; };", NULL, DG_E_PARSE, NULL, NULL,
     "no algorithm"},
    {"unknown statement", "key k { algorithm hmac-sha256; color blue; };", NULL, DG_E_PARSE, NULL,
     NULL, "unknown statement"},
    {"missing semicolon", "key k { algorithm hmac-sha256; secret \"" SECRET_B64 "\" };", NULL,
     DG_E_PARSE, NULL, NULL, "want a value then ';'"},
    {"missing closing", "key k { algorithm hmac-sha256; secret \"" SECRET_B64 "\";", NULL,
     DG_E_PARSE, NULL, NULL, "want a statement"},
    {"unterminated string", "key \"k { algorithm", NULL, DG_E_PARSE, NULL, NULL,
     "unterminated quoted string"},
    {"unterminated comment", "/* key k", NULL, DG_E_PARSE, NULL, NULL, "unterminated comment"},
    {"empty", "", NULL, DG_E_PARSE, NULL, NULL, "no key statement"},
    {"wanted key absent", "key a { algorithm hmac-sha256; secret \"" SECRET_B64 "\"; };", "b",
     DG_E_PARSE, NULL, NULL, "no key named b"},
    {"bad name", "key \"a..b\" { algorithm hmac-sha256; secret \"" SECRET_B64 "\"; };", NULL,
     DG_E_PARSE, NULL, NULL, "TSIG key name"},
    {"secret too long",
     "key k { algorithm hmac-sha256; secret \""
     "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFB"
     "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFB"
     "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFB"
     "\"; };",
     NULL, DG_E_LIMIT, NULL, NULL, "secret longer than"},
};

struct arg_case {
	const char *text;
	enum dg_status st;
	const char *alg;
};

static const struct arg_case arg_cases[] = {
    {"update.example:hmac-sha256:" SECRET_B64, DG_OK, "hmac-sha256"},
    {"update.example:hmac-sha512:" SECRET_B64, DG_OK, "hmac-sha512"},
    {"update.example:" SECRET_B64, DG_OK, "hmac-sha256"},
    {"update.example", DG_E_PARSE, NULL},
    {"update.example:hmac-foo:" SECRET_B64, DG_E_PARSE, NULL},
    {"update.example:hmac-sha256:***", DG_E_PARSE, NULL},
    {":hmac-sha256:" SECRET_B64, DG_E_PARSE, NULL},
};

static void key_of(struct dg_tsig_key *key, const char *alg);
static struct dg_tlsa_set *set_of(size_t n, uint8_t first_byte);
static ldns_pkt *wire_to_pkt(const uint8_t *wire, size_t len);
static void build(struct dg_publish_msg *msg, const struct dg_tlsa_set *set, bool absent);
static size_t make_reply(const struct dg_publish_msg *req, int rcode, const char *sign_secret,
                         int tsig_error, uint16_t id, uint8_t **out);
struct signed_zone;
static void zone_init(struct signed_zone *z);
static void zone_cleanup(struct signed_zone *z);
static size_t answer(struct signed_zone *z, const char *qname, ldns_rr_type type, ldns_rr_list *rrs,
                     bool sign, bool corrupt, uint8_t **out);
static ldns_rr_list *tlsa_rrs(const struct dg_tlsa_set *set);
static void analyse(struct signed_zone *z, const struct dg_tlsa_set *served, bool sign,
                    bool corrupt, bool other_key, time_t now, const struct dg_tlsa_set *want,
                    struct dg_publish_server *out);

static void key_of(struct dg_tsig_key *key, const char *alg)
{
	char arg[256];

	snprintf(arg, sizeof(arg), "update.example:%s:%s", alg, SECRET_B64);
	assert_int_equal(dg_tsig_key_parse_arg(arg, key, NULL), DG_OK);
}

static struct dg_tlsa_set *set_of(size_t n, uint8_t first_byte)
{
	struct dg_tlsa_set *set = dg_tlsa_set_new();
	uint8_t data[32];

	for (size_t i = 0; i < n; i++) {
		memset(data, (int)(first_byte + i), sizeof(data));
		assert_int_equal(dg_tlsa_set_add(set, 3, 1, 1, data, sizeof(data), NULL), DG_OK);
	}
	return set;
}

static ldns_pkt *wire_to_pkt(const uint8_t *wire, size_t len)
{
	ldns_pkt *pkt = NULL;

	CHECK(ldns_wire2pkt(&pkt, wire, len) == LDNS_STATUS_OK, "built wire does not parse");
	return pkt;
}

/* ---- TSIG key parser --------------------------------------------------------------------- */

static void test_tsig_key_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(key_cases) / sizeof(key_cases[0]); i++) {
		const struct key_case *kc = &key_cases[i];
		struct dg_tsig_key key;
		struct dg_err err = {0};
		enum dg_status st = dg_tsig_key_parse((const uint8_t *)kc->text, strlen(kc->text),
		                                      kc->want_name, &key, &err);
		CHECK(st == kc->st, "%s: got status %d (%s), want %d", kc->name, st, err.msg,
		      kc->st);
		if (st == DG_OK) {
			CHECK(strcmp(key.name, kc->key_name) == 0, "%s: got name %s, want %s",
			      kc->name, key.name, kc->key_name);
			CHECK(strcmp(key.algorithm, kc->alg) == 0, "%s: got alg %s, want %s",
			      kc->name, key.algorithm, kc->alg);
			CHECK(key.secret_len == 31 && memcmp(key.secret, "secret-", 7) == 0,
			      "%s: got secret length %zu, want 31", kc->name, key.secret_len);
		} else {
			CHECK(strstr(err.msg, kc->msg) != NULL,
			      "%s: got message \"%s\", want \"%s\"", kc->name, err.msg, kc->msg);
			CHECK(strstr(err.msg, SECRET_B64) == NULL, "%s: secret in message",
			      kc->name);
			CHECK(key.secret_len == 0, "%s: key not zeroed on failure", kc->name);
		}
	}
}

static void test_tsig_key_arg(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(arg_cases) / sizeof(arg_cases[0]); i++) {
		struct dg_tsig_key key;
		struct dg_err err = {0};
		enum dg_status st = dg_tsig_key_parse_arg(arg_cases[i].text, &key, &err);
		CHECK(st == arg_cases[i].st, "\"%s\": got %d (%s), want %d", arg_cases[i].text, st,
		      err.msg, arg_cases[i].st);
		if (st == DG_OK)
			CHECK(strcmp(key.algorithm, arg_cases[i].alg) == 0, "\"%s\": got alg %s",
			      arg_cases[i].text, key.algorithm);
	}
}

static void test_tsig_key_load(void **state)
{
	struct dg_tsig_key key;
	struct dg_err err = {0};

	(void)state;
	assert_int_equal(dg_tsig_key_load("/nonexistent/key", NULL, &key, &err), DG_E_IO);
	CHECK(strstr(err.msg, "/nonexistent/key") != NULL, "got \"%s\", want the path", err.msg);
	assert_int_equal(
	    dg_tsig_key_parse((const uint8_t *)"x", DG_TSIG_FILE_MAX + 1, NULL, &key, &err),
	    DG_E_LIMIT);
}

/* ---- UPDATE builder ---------------------------------------------------------------------- */

static void build(struct dg_publish_msg *msg, const struct dg_tlsa_set *set, bool absent)
{
	struct dg_tsig_key key;
	struct dg_publish_change ch = {.zone = "Example.NET.",
	                               .host = "mx1.example.net",
	                               .port = 25,
	                               .ttl_s = 300,
	                               .set = set,
	                               .prereq_absent = absent};
	struct dg_err err = {0};

	key_of(&key, "hmac-sha256");
	CHECK(dg_publish_build_update(&ch, &key, 0x1234, msg, &err) == DG_OK, "build: %s", err.msg);
}

static void test_update_sections(void **state)
{
	struct dg_tlsa_set *set = set_of(2, 0xa0);
	struct dg_publish_msg msg;
	ldns_pkt *pkt;
	ldns_rr_list *up;
	ldns_rdf *zone;

	(void)state;
	build(&msg, set, true);
	assert_string_equal(msg.owner, "_25._tcp.mx1.example.net");
	assert_string_equal(msg.zone, "example.net");
	pkt = wire_to_pkt(msg.wire, msg.len);
	assert_int_equal(ldns_pkt_get_opcode(pkt), LDNS_PACKET_UPDATE);
	assert_int_equal(ldns_pkt_id(pkt), 0x1234);
	assert_false(ldns_pkt_rd(pkt));
	/* zone section: example.net. SOA */
	assert_int_equal(ldns_pkt_qdcount(pkt), 1);
	zone = ldns_rr_owner(ldns_rr_list_rr(ldns_pkt_question(pkt), 0));
	char *zs = ldns_rdf2str(zone);
	assert_string_equal(zs, "example.net.");
	free(zs);
	assert_int_equal(ldns_rr_get_type(ldns_rr_list_rr(ldns_pkt_question(pkt), 0)),
	                 LDNS_RR_TYPE_SOA);
	/* prerequisite: RRset does not exist (class NONE) */
	assert_int_equal(ldns_pkt_ancount(pkt), 1);
	assert_int_equal(ldns_rr_get_class(ldns_rr_list_rr(ldns_pkt_answer(pkt), 0)),
	                 LDNS_RR_CLASS_NONE);
	/* update: delete RRset (ANY, ttl 0, no rdata), then two adds (IN, ttl 300) */
	up = ldns_pkt_authority(pkt);
	assert_int_equal(ldns_rr_list_rr_count(up), 3);
	assert_int_equal(ldns_rr_get_class(ldns_rr_list_rr(up, 0)), LDNS_RR_CLASS_ANY);
	assert_int_equal(ldns_rr_get_type(ldns_rr_list_rr(up, 0)), LDNS_RR_TYPE_TLSA);
	assert_int_equal(ldns_rr_ttl(ldns_rr_list_rr(up, 0)), 0);
	for (size_t i = 1; i < 3; i++) {
		ldns_rr *rr = ldns_rr_list_rr(up, i);
		assert_int_equal(ldns_rr_get_class(rr), LDNS_RR_CLASS_IN);
		assert_int_equal(ldns_rr_ttl(rr), 300);
		assert_int_equal(ldns_rdf2native_int8(ldns_rr_rdf(rr, 0)), 3);
		assert_int_equal(ldns_rdf_size(ldns_rr_rdf(rr, 3)), 32);
		assert_int_equal(ldns_rdf_data(ldns_rr_rdf(rr, 3))[0], 0xa0 + i - 1);
	}
	/* TSIG present, named, and verifies with the key */
	CHECK(ldns_pkt_tsig(pkt) != NULL, "no TSIG record");
	char *kn = ldns_rdf2str(ldns_rr_owner(ldns_pkt_tsig(pkt)));
	assert_string_equal(kn, "update.example.");
	free(kn);
	CHECK(ldns_pkt_tsig_verify(pkt, msg.wire, msg.len, "update.example.", SECRET_B64, NULL),
	      "TSIG of the built UPDATE does not verify");
	assert_true(msg.mac_len > 2);
	ldns_pkt_free(pkt);
	dg_publish_msg_cleanup(&msg);
	dg_tlsa_set_free(set);
}

static void test_update_refusals(void **state)
{
	struct dg_tsig_key key;
	struct dg_tlsa_set *set = set_of(1, 1), *empty = dg_tlsa_set_new();
	struct dg_tlsa_set *nodata = dg_tlsa_set_new();
	struct dg_publish_msg msg;
	struct dg_err err = {0};
	struct {
		const char *zone, *host;
		const struct dg_tlsa_set *set;
		enum dg_status st;
		const char *msg;
	} cases[] = {
	    {"example.net", "mx.example.org", set, DG_E_CONFIG, "not inside zone"},
	    {"example.net", "mx..example.net", set, DG_E_CONFIG, "host"},
	    {"ex ample", "mx.example.net", set, DG_E_CONFIG, "zone"},
	    {"example.net", "mx.example.net", empty, DG_E_CONFIG, "no TLSA records"},
	    {"example.net", "mx.example.net", nodata, DG_E_CONFIG, "no association data"},
	};

	(void)state;
	assert_int_equal(dg_tlsa_set_add(nodata, 3, 1, 1, NULL, 0, NULL), DG_OK);
	key_of(&key, "hmac-sha256");
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct dg_publish_change ch = {.zone = cases[i].zone,
		                               .host = cases[i].host,
		                               .port = 25,
		                               .ttl_s = 60,
		                               .set = cases[i].set};
		enum dg_status st = dg_publish_build_update(&ch, &key, 1, &msg, &err);
		CHECK(st == cases[i].st && strstr(err.msg, cases[i].msg) != NULL,
		      "case %zu: got %d \"%s\", want %d \"%s\"", i, st, err.msg, cases[i].st,
		      cases[i].msg);
		dg_publish_msg_cleanup(&msg);
	}
	dg_tlsa_set_free(set);
	dg_tlsa_set_free(empty);
	dg_tlsa_set_free(nodata);
}

/* ---- reply check ------------------------------------------------------------------------- */

static size_t make_reply(const struct dg_publish_msg *req, int rcode, const char *sign_secret,
                         int tsig_error, uint16_t id, uint8_t **out)
{
	ldns_pkt *pkt = ldns_pkt_new();
	ldns_rdf *mac = ldns_rdf_new_frm_data(LDNS_RDF_TYPE_INT16_DATA, req->mac_len, req->mac);
	size_t len = 0;

	ldns_pkt_set_id(pkt, id);
	ldns_pkt_set_qr(pkt, true);
	ldns_pkt_set_opcode(pkt, LDNS_PACKET_UPDATE);
	ldns_pkt_set_rcode(pkt, (uint8_t)rcode);
	if (sign_secret != NULL) {
		assert_int_equal(ldns_pkt_tsig_sign(pkt, "update.example.", sign_secret, 300,
		                                    "hmac-sha256.", mac),
		                 LDNS_STATUS_OK);
		if (tsig_error != 0) {
			ldns_rdf *old = ldns_rr_set_rdf(
			    ldns_pkt_tsig(pkt),
			    ldns_native2rdf_int16(LDNS_RDF_TYPE_INT16, (uint16_t)tsig_error), 5);
			ldns_rdf_deep_free(old);
		}
	}
	assert_int_equal(ldns_pkt2wire(out, pkt, &len), LDNS_STATUS_OK);
	ldns_rdf_deep_free(mac);
	ldns_pkt_free(pkt);
	return len;
}

static void test_reply_mapping(void **state)
{
	static const char other_secret[] = "b3RoZXItb3RoZXItb3RoZXItb3RoZXItMzJieXQ=";
	struct {
		const char *what;
		int rcode;
		const char *secret;
		int tsig_error;
		int id_delta;
		enum dg_status st;
		const char *msg;
	} cases[] = {
	    {"applied", 0, SECRET_B64, 0, 0, DG_OK, ""},
	    {"unsigned", 0, NULL, 0, 0, DG_E_PROTO, "is not signed"},
	    {"bad reply signature", 0, other_secret, 0, 0, DG_E_PROTO, "does not verify"},
	    {"badkey", 9, SECRET_B64, 17, 0, DG_E_PROTO,
	     "TSIG key update.example rejected by 127.0.0.1@53: BADKEY"},
	    {"badsig", 9, SECRET_B64, 16, 0, DG_E_PROTO, "rejected by 127.0.0.1@53: BADSIG"},
	    {"badtime", 9, SECRET_B64, 18, 0, DG_E_PROTO, "BADTIME (clocks differ"},
	    {"notauth", 9, NULL, 0, 0, DG_E_PROTO, "NOTAUTH"},
	    {"refused", 5, SECRET_B64, 0, 0, DG_E_CONFIG, "update of zone example.net refused"},
	    {"refused unsigned", 5, NULL, 0, 0, DG_E_CONFIG, "refused"},
	    {"notzone", 10, SECRET_B64, 0, 0, DG_E_PROTO, "(NOTZONE)"},
	    {"servfail", 2, SECRET_B64, 0, 0, DG_E_DNS_TEMP, "(SERVFAIL)"},
	    {"nxrrset", 8, SECRET_B64, 0, 0, DG_E_PROTO, "prerequisite failed"},
	    {"notimp", 4, NULL, 0, 0, DG_E_CONFIG, "NOTIMP"},
	    {"formerr", 1, NULL, 0, 0, DG_E_PROTO, "FORMERR"},
	    {"wrong id", 0, SECRET_B64, 0, 1, DG_E_PROTO, "does not answer the UPDATE"},
	};
	struct dg_tlsa_set *set = set_of(1, 7);
	struct dg_tsig_key key;
	struct dg_publish_msg msg;

	(void)state;
	key_of(&key, "hmac-sha256");
	build(&msg, set, false);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct dg_publish_result res;
		struct dg_err err = {0};
		uint8_t *wire = NULL;
		size_t len = make_reply(&msg, cases[i].rcode, cases[i].secret, cases[i].tsig_error,
		                        (uint16_t)(msg.id + cases[i].id_delta), &wire);
		enum dg_status st =
		    dg_publish_check_reply(wire, len, &msg, &key, "127.0.0.1@53", &res, &err);
		CHECK(st == cases[i].st && strstr(err.msg, cases[i].msg) != NULL,
		      "%s: got %d \"%s\", want %d \"%s\"", cases[i].what, st, err.msg, cases[i].st,
		      cases[i].msg);
		CHECK(strchr(err.msg, '\n') == NULL, "%s: message is not one line", cases[i].what);
		free(wire);
	}
	struct dg_err err = {0};
	assert_int_equal(
	    dg_publish_check_reply((const uint8_t *)"junk", 4, &msg, &key, "x", NULL, &err),
	    DG_E_PARSE);
	assert_string_equal(dg_publish_rcode_str(17), "BADKEY");
	assert_string_equal(dg_publish_rcode_str(5), "REFUSED");
	assert_string_equal(dg_publish_rcode_str(99), "RCODE99");
	dg_publish_msg_cleanup(&msg);
	dg_tlsa_set_free(set);
}

/* ---- per-server analysis ----------------------------------------------------------------- */

struct signed_zone {
	ldns_key_list *keys;
	ldns_rr *dnskey;
	struct dg_dns_rr validated;
};

static void zone_init(struct signed_zone *z)
{
	ldns_key *k = ldns_key_new_frm_algorithm(LDNS_SIGN_ECDSAP256SHA256, 256);
	ldns_buffer *b = ldns_buffer_new(512);

	assert_non_null(k);
	ldns_key_set_pubkey_owner(k, ldns_dname_new_frm_str("example.net."));
	ldns_key_set_flags(k, 257);
	ldns_key_set_inception(k, 0);
	ldns_key_set_expiration(k, 0);
	z->keys = ldns_key_list_new();
	ldns_key_list_push_key(z->keys, k);
	z->dnskey = ldns_key2rr(k);
	ldns_key_set_keytag(k, ldns_calc_keytag(z->dnskey));
	assert_int_equal(ldns_rr_rdata2buffer_wire(b, z->dnskey), LDNS_STATUS_OK);
	memset(&z->validated, 0, sizeof(z->validated));
	z->validated.type = DG_DNS_T_DNSKEY;
	z->validated.u.raw.len = ldns_buffer_position(b);
	z->validated.u.raw.data = malloc(z->validated.u.raw.len);
	memcpy(z->validated.u.raw.data, ldns_buffer_begin(b), z->validated.u.raw.len);
	ldns_buffer_free(b);
}

static void zone_cleanup(struct signed_zone *z)
{
	ldns_key_list_free(z->keys); /* frees the keys too */
	ldns_rr_free(z->dnskey);
	free(z->validated.u.raw.data);
}

/* An authoritative answer (AA) holding @p rrs and, if @p sign, their RRSIGs. */
static size_t answer(struct signed_zone *z, const char *qname, ldns_rr_type type, ldns_rr_list *rrs,
                     bool sign, bool corrupt, uint8_t **out)
{
	ldns_pkt *pkt = NULL;
	size_t len = 0;

	assert_int_equal(ldns_pkt_query_new_frm_str(&pkt, qname, type, LDNS_RR_CLASS_IN, LDNS_AA),
	                 LDNS_STATUS_OK);
	ldns_pkt_set_qr(pkt, true);
	for (size_t i = 0; i < ldns_rr_list_rr_count(rrs); i++)
		ldns_pkt_push_rr(pkt, LDNS_SECTION_ANSWER, ldns_rr_clone(ldns_rr_list_rr(rrs, i)));
	if (sign && ldns_rr_list_rr_count(rrs) > 0) {
		ldns_rr_list *sigs = ldns_sign_public(rrs, z->keys);
		assert_non_null(sigs);
		if (corrupt) {
			ldns_rdf *sig = ldns_rr_rdf(ldns_rr_list_rr(sigs, 0), 8);
			ldns_rdf_data(sig)[5] ^= 0x55;
		}
		for (size_t i = 0; i < ldns_rr_list_rr_count(sigs); i++)
			ldns_pkt_push_rr(pkt, LDNS_SECTION_ANSWER,
			                 ldns_rr_clone(ldns_rr_list_rr(sigs, i)));
		ldns_rr_list_deep_free(sigs);
	}
	assert_int_equal(ldns_pkt2wire(out, pkt, &len), LDNS_STATUS_OK);
	ldns_pkt_free(pkt);
	return len;
}

static ldns_rr_list *tlsa_rrs(const struct dg_tlsa_set *set)
{
	ldns_rr_list *l = ldns_rr_list_new();

	for (size_t i = 0; i < set->count; i++) {
		char text[256], *hex = dg_tlsa_rr_format(&set->rr[i], 0);
		ldns_rr *rr = NULL;
		snprintf(text, sizeof(text), "_25._tcp.mx1.example.net. 300 IN TLSA %s", hex);
		free(hex);
		assert_int_equal(ldns_rr_new_frm_str(&rr, text, 0, NULL, NULL), LDNS_STATUS_OK);
		ldns_rr_list_push_rr(l, rr);
	}
	return l;
}

static void analyse(struct signed_zone *z, const struct dg_tlsa_set *served, bool sign,
                    bool corrupt, bool other_key, time_t now, const struct dg_tlsa_set *want,
                    struct dg_publish_server *out)
{
	ldns_rr_list *keys = ldns_rr_list_new(), *t = tlsa_rrs(served), *soa = ldns_rr_list_new();
	uint8_t *kw = NULL, *tw = NULL, *sw = NULL;
	ldns_rr *s = NULL;
	size_t kl, tl, sl;
	struct signed_zone other;

	if (other_key)
		zone_init(&other);
	ldns_rr_list_push_rr(keys, ldns_rr_clone(other_key ? other.dnskey : z->dnskey));
	assert_int_equal(ldns_rr_new_frm_str(&s,
	                                     "example.net. 300 IN SOA ns1.example.net. h."
	                                     "example.net. 42 300 60 86400 60",
	                                     0, NULL, NULL),
	                 LDNS_STATUS_OK);
	ldns_rr_list_push_rr(soa, s);
	sl = answer(z, "example.net.", LDNS_RR_TYPE_SOA, soa, true, false, &sw);
	kl = answer(z, "example.net.", LDNS_RR_TYPE_DNSKEY, keys, true, false, &kw);
	tl = answer(z, "_25._tcp.mx1.example.net.", LDNS_RR_TYPE_TLSA, t, sign, corrupt, &tw);
	memset(out, 0, sizeof(*out));
	dg_publish_serve_analyse(sw, sl, kw, kl, tw, tl, "example.net", "_25._tcp.mx1.example.net",
	                         &z->validated, 1, want, now, out);
	free(sw);
	free(kw);
	free(tw);
	ldns_rr_list_deep_free(keys);
	ldns_rr_list_deep_free(t);
	ldns_rr_list_deep_free(soa);
	if (other_key)
		zone_cleanup(&other);
}

static void test_serve_analyse(void **state)
{
	struct signed_zone z;
	struct dg_tlsa_set *want = set_of(2, 0x10), *old = set_of(1, 0x10);
	time_t now = time(NULL);
	struct {
		const char *what;
		const struct dg_tlsa_set *served;
		bool sign, corrupt, other_key;
		time_t when;
		enum dg_publish_srv_state state;
	} cases[] = {
	    {"ok", want, true, false, false, 0, DG_PUBLISH_SRV_OK},
	    {"lagging", old, true, false, false, 0, DG_PUBLISH_SRV_DIFFERENT},
	    {"unsigned", want, false, false, false, 0, DG_PUBLISH_SRV_UNSIGNED},
	    {"bad signature", want, true, true, false, 0, DG_PUBLISH_SRV_BAD_SIGNATURE},
	    {"other DNSKEY", want, true, false, true, 0, DG_PUBLISH_SRV_DNSKEY_MISMATCH},
	    {"signature expired", want, true, false, false, 60L * 86400 * 365,
	     DG_PUBLISH_SRV_BAD_SIGNATURE},
	};

	(void)state;
	zone_init(&z);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct dg_publish_server s;
		analyse(&z, cases[i].served, cases[i].sign, cases[i].corrupt, cases[i].other_key,
		        now + cases[i].when, want, &s);
		CHECK(s.state == cases[i].state, "%s: got %s (%s), want %s", cases[i].what,
		      dg_publish_srv_state_str(s.state), s.reason,
		      dg_publish_srv_state_str(cases[i].state));
		assert_int_equal(s.soa_serial, 42);
		assert_int_equal(s.ttl_s, 300);
		assert_int_equal(s.served->count, cases[i].served->count);
		dg_tlsa_set_free(s.served);
	}
	zone_cleanup(&z);
	dg_tlsa_set_free(want);
	dg_tlsa_set_free(old);
}

static void test_set_equal(void **state)
{
	struct dg_tlsa_set *a = set_of(2, 1), *b = dg_tlsa_set_new(), *c = set_of(1, 1);

	(void)state;
	assert_int_equal(dg_tlsa_set_add_rr(b, &a->rr[1], NULL), DG_OK);
	assert_int_equal(dg_tlsa_set_add_rr(b, &a->rr[0], NULL), DG_OK);
	assert_true(dg_publish_tlsa_set_equal(a, b));
	assert_false(dg_publish_tlsa_set_equal(a, c));
	assert_false(dg_publish_tlsa_set_equal(c, a));
	assert_true(dg_publish_tlsa_set_equal(NULL, NULL));
	assert_false(dg_publish_tlsa_set_equal(NULL, c));
	dg_tlsa_set_free(a);
	dg_tlsa_set_free(b);
	dg_tlsa_set_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_tsig_key_table),  cmocka_unit_test(test_tsig_key_arg),
	    cmocka_unit_test(test_tsig_key_load),   cmocka_unit_test(test_update_sections),
	    cmocka_unit_test(test_update_refusals), cmocka_unit_test(test_reply_mapping),
	    cmocka_unit_test(test_serve_analyse),   cmocka_unit_test(test_set_equal),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
