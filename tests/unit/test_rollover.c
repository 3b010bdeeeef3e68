/*
 * test_rollover.c - unit tests of lib/rollover: rollover.conf and state.json parsers and
 * serializers, the journal recovery decision and the timing rule (tables), observations,
 * the set digest, renewal warnings, atomic writes and key storage.
 */
#include <daneguard/rollover.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#define ID_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define ID_B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"

static const char base_conf[] = "zone example.net\nhost mx1.example.net\n"
                                "cert-file /etc/c.pem\nkey-file /etc/k.pem\n"
                                "cert-command sign $DANEGUARD_CSR\n";

static void test_conf_table(void **state)
{
	static const struct {
		const char *extra;
		enum dg_status want;
	} cases[] = {
	    {"primary 192.0.2.1@5353\ntsig-key /k\n", DG_OK},
	    {"publish-command echo\n", DG_OK},
	    {"", DG_E_CONFIG},                              /* neither primary nor hook */
	    {"primary 192.0.2.1\n", DG_E_CONFIG},            /* primary without key */
	    {"publish-command x\nttl 0\n", DG_E_PARSE},      /* out of range */
	    {"publish-command x\nscheme ee-xx\n", DG_E_PARSE},
	    {"publish-command x\nbogus 1\n", DG_E_PARSE},
	    {"publish-command x\nhost bad..name\n", DG_E_PARSE},
	    {"publish-command x\nport\n", DG_E_PARSE},
	    {"publish-command x\n# comment\n\n  ttl 5  \n", DG_OK},
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char text[1024];
		struct dg_rollover_conf c;
		struct dg_err err = {0};
		snprintf(text, sizeof(text), "%s%s", base_conf, cases[i].extra);
		enum dg_status got = dg_rollover_conf_parse(text, strlen(text), &c, &err);
		if (got != cases[i].want)
			fail_msg("case %zu: got %d, want %d (%s)", i, got, cases[i].want, err.msg);
	}
}

static void test_conf_roundtrip(void **state)
{
	const char *text = "zone example.net\nhost mx1.example.net\nhost mx2.example.net\n"
	                   "primary 192.0.2.1@5353\ntsig-key /k\nttl 300\nscheme ee-ta\n"
	                   "key-type rsa\nrsa-bits 3072\ncert-file /c\nkey-file /c\n"
	                   "cert-command certbot certonly --csr \"$DANEGUARD_CSR\"\n"
	                   "reload-command postfix reload\n";
	struct dg_rollover_conf a, b;
	char *out;

	(void)state;
	assert_int_equal(dg_rollover_conf_parse(text, strlen(text), &a, NULL), DG_OK);
	assert_int_equal(a.n_hosts, 2);
	assert_int_equal(a.primary_port, 5353);
	assert_string_equal(a.primary, "192.0.2.1");
	assert_int_equal(a.scheme, DG_ROLLOVER_EE_TA);
	assert_int_equal(a.key_type, DG_ROLLOVER_KEY_RSA);
	assert_string_equal(a.cert_command, "certbot certonly --csr \"$DANEGUARD_CSR\"");
	out = dg_rollover_conf_format(&a);
	assert_int_equal(dg_rollover_conf_parse(out, strlen(out), &b, NULL), DG_OK);
	assert_memory_equal(&a, &b, sizeof(a));
	free(out);
}

static void test_state_roundtrip(void **state)
{
	struct dg_rollover_state a = {0}, b;
	char *text;

	(void)state;
	a.step = DG_ROLLOVER_INSTALLING;
	a.step_at = 1700000000;
	memcpy(a.current, ID_A, 65);
	memcpy(a.next, ID_B, 65);
	memcpy(a.desired_digest, ID_A, 65);
	a.published_at = 1700000001;
	a.ttl_seen_s = 3;
	a.rollovers = 7;
	a.last_advance = 1700000002;
	dg_rollover_note_seen(&a, "mx ns1/192.0.2.1", true, 1700000010);
	dg_rollover_note_seen(&a, "mx resolver", false, 1700000011);
	text = dg_rollover_state_format(&a);
	assert_int_equal(dg_rollover_state_parse(text, strlen(text), &b, NULL), DG_OK);
	assert_memory_equal(&a, &b, sizeof(a));
	free(text);
}

static void test_state_bad(void **state)
{
	static const char *const bad[] = {
	    "",
	    "[]",
	    "{\"version\":2,\"step\":\"idle\",\"current\":\"" ID_A "\",\"next\":\"" ID_B "\"}",
	    "{\"version\":1,\"step\":\"flying\",\"current\":\"" ID_A "\",\"next\":\"" ID_B "\"}",
	    "{\"version\":1,\"step\":\"idle\",\"current\":\"abc\",\"next\":\"" ID_B "\"}",
	    "{\"version\":1,\"step\":\"idle\",\"current\":\"" ID_A "\"}",
	    "{\"version\":1,\"step\":\"idle\",\"current\":\"" ID_A "\",\"next\":\"" ID_B
	    "\",\"seen\":[{\"first_seen\":1}]}",
	    "{\"version\":1,\"step\":\"idle\",\"current\":\"" ID_A "\",\"next\":\"" ID_B
	    "\",\"step_at\":-5}",
	    "{\"version\":1,\"version\":1}",
	};
	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct dg_rollover_state s;
		if (dg_rollover_state_parse(bad[i], strlen(bad[i]), &s, NULL) == DG_OK)
			fail_msg("bad state %zu: got DG_OK, want an error", i);
	}
}

static void test_recovery_table(void **state)
{
	static const struct {
		enum dg_rollover_step step;
		struct dg_rollover_disk disk; /* has_next_cert, has_backup, is_next, is_current */
		enum dg_rollover_recovery want;
	} cases[] = {
	    {DG_ROLLOVER_IDLE, {false, false, false, true}, DG_ROLLOVER_RECOVER_NONE},
	    {DG_ROLLOVER_IDLE, {true, true, true, false}, DG_ROLLOVER_RECOVER_NONE},
	    {DG_ROLLOVER_OBTAINING, {false, false, false, true}, DG_ROLLOVER_RECOVER_DISCARD},
	    {DG_ROLLOVER_OBTAINING, {true, false, false, true}, DG_ROLLOVER_RECOVER_DISCARD},
	    {DG_ROLLOVER_INSTALLING, {true, true, false, true}, DG_ROLLOVER_RECOVER_REINSTALL},
	    {DG_ROLLOVER_INSTALLING, {true, true, false, false}, DG_ROLLOVER_RECOVER_REINSTALL},
	    {DG_ROLLOVER_INSTALLING, {false, true, false, true}, DG_ROLLOVER_RECOVER_DISCARD},
	    {DG_ROLLOVER_INSTALLING, {false, true, false, false}, DG_ROLLOVER_RECOVER_RESTORE},
	    {DG_ROLLOVER_INSTALLED, {true, true, true, false}, DG_ROLLOVER_RECOVER_RELOAD},
	    {DG_ROLLOVER_INSTALLED, {false, true, true, false}, DG_ROLLOVER_RECOVER_RELOAD},
	    {DG_ROLLOVER_INSTALLED, {true, true, false, false}, DG_ROLLOVER_RECOVER_REINSTALL},
	    {DG_ROLLOVER_INSTALLED, {false, true, false, false}, DG_ROLLOVER_RECOVER_RESTORE},
	    {DG_ROLLOVER_INSTALLED, {false, true, false, true}, DG_ROLLOVER_RECOVER_DISCARD},
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		enum dg_rollover_recovery got = dg_rollover_recovery(cases[i].step, &cases[i].disk);
		if (got != cases[i].want)
			fail_msg("case %zu (%s): got %s, want %s", i,
			         dg_rollover_step_str(cases[i].step), dg_rollover_recovery_str(got),
			         dg_rollover_recovery_str(cases[i].want));
	}
}

static void test_safe_at_table(void **state)
{
	static const struct {
		time_t seen[3];
		size_t n;
		uint32_t ttl;
		time_t want;
	} cases[] = {
	    {{0}, 0, 300, 0},               /* nobody observed */
	    {{1000}, 1, 300, 1600},         /* one server */
	    {{1000, 1200, 1100}, 3, 60, 1320}, /* the last first-seen counts */
	    {{1000, 0, 1100}, 3, 60, 0},    /* one observer has not seen it */
	    {{1000, 1000}, 2, 0, 1000},     /* TTL 0 */
	    {{5, 7}, 2, 3, 13},
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct dg_rollover_seen s[3] = {0};
		for (size_t k = 0; k < cases[i].n; k++)
			s[k].first_seen = cases[i].seen[k];
		time_t got = dg_rollover_safe_at(s, cases[i].n, cases[i].ttl);
		if (got != cases[i].want)
			fail_msg("case %zu: got %lld, want %lld", i, (long long)got,
			         (long long)cases[i].want);
	}
}

static void test_note_and_retarget(void **state)
{
	struct dg_rollover_state s = {0};

	(void)state;
	dg_rollover_note_seen(&s, "a", true, 100);
	dg_rollover_note_seen(&s, "a", true, 200); /* keeps the first sighting */
	dg_rollover_note_seen(&s, "b", true, 150);
	assert_int_equal(s.n_seen, 2);
	assert_int_equal(s.seen[0].first_seen, 100);
	dg_rollover_note_seen(&s, "b", false, 160); /* a miss restarts the wait */
	assert_int_equal(s.seen[1].first_seen, 0);
	assert_int_equal(dg_rollover_safe_at(s.seen, s.n_seen, 10), 0);
	dg_rollover_note_seen(&s, "b", true, 170);
	assert_int_equal(dg_rollover_safe_at(s.seen, s.n_seen, 10), 190);
	s.ttl_seen_s = 10;
	assert_true(dg_rollover_retarget(&s, ID_A));
	assert_int_equal(s.n_seen, 0);
	assert_int_equal(s.ttl_seen_s, 0);
	dg_rollover_note_seen(&s, "a", true, 300);
	assert_false(dg_rollover_retarget(&s, ID_A));
	assert_int_equal(s.n_seen, 1);
}

static void test_digest_and_desired(void **state)
{
	EVP_PKEY *k1 = dg_rollover_key_generate(DG_ROLLOVER_KEY_EC_P256, 0, NULL);
	EVP_PKEY *k2 = dg_rollover_key_generate(DG_ROLLOVER_KEY_EC_P256, 0, NULL);
	struct dg_tlsa_set *a = dg_tlsa_set_new(), *b = dg_tlsa_set_new();
	char da[65], db[65];
	struct dg_rollover_warning w[4];
	struct dg_err err = {0};

	(void)state;
	assert_non_null(k1);
	assert_int_equal(dg_rollover_desired(DG_ROLLOVER_EE_EE, k1, k2, NULL, a, NULL), DG_OK);
	assert_int_equal(dg_rollover_desired(DG_ROLLOVER_EE_EE, k2, k1, NULL, b, NULL), DG_OK);
	assert_int_equal(a->count, 2);
	assert_int_equal(a->rr[0].usage, 3);
	assert_int_equal(a->rr[0].selector, 1);
	dg_rollover_set_digest(a, da);
	dg_rollover_set_digest(b, db);
	assert_string_equal(da, db); /* order does not matter */
	assert_int_equal(dg_rollover_renewal_warnings(a, k1, k2, true, w, 4), 0);
	dg_tlsa_set_free(b);
	b = dg_tlsa_set_new();
	assert_int_equal(dg_rollover_desired(DG_ROLLOVER_EE_TA, k1, NULL, NULL, b, &err),
	                 DG_E_CONFIG);
	dg_tlsa_set_free(b);
	b = dg_tlsa_set_new();
	dg_tlsa_set_add(b, 3, 0, 1, a->rr[0].data, a->rr[0].len, NULL); /* 3 0 1 */
	dg_tlsa_set_add_rr(b, &a->rr[0], NULL);                         /* current only */
	assert_int_equal(dg_rollover_renewal_warnings(b, k1, k2, true, w, 4), 2);
	assert_non_null(strstr(w[0].text, "renewed"));
	assert_non_null(strstr(w[1].text, "fresh key"));
	assert_int_equal(dg_rollover_renewal_warnings(b, k1, k2, false, w, 4), 1);
	dg_rollover_set_digest(b, db);
	assert_string_not_equal(da, db);
	dg_tlsa_set_free(a);
	dg_tlsa_set_free(b);
	EVP_PKEY_free(k1);
	EVP_PKEY_free(k2);
}

static void test_store(void **state)
{
	char dir[] = "/tmp/dg-rollover-unit.XXXXXX", path[256], id[65], *text = NULL;
	EVP_PKEY *k = dg_rollover_key_generate(DG_ROLLOVER_KEY_EC_P256, 0, NULL), *back = NULL;
	struct dg_rollover_state s = {0}, t;
	struct stat sb;
	size_t len = 0;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/f", dir);
	assert_int_equal(dg_rollover_write_atomic(path, "hello", 5, 0600, NULL), DG_OK);
	assert_int_equal(dg_rollover_read_file(path, 100, &text, &len, NULL), DG_OK);
	assert_string_equal(text, "hello");
	free(text);
	assert_int_equal(dg_rollover_read_file(path, 3, &text, &len, NULL), DG_E_LIMIT);
	snprintf(path, sizeof(path), "%s/none", dir);
	assert_int_equal(dg_rollover_read_file(path, 3, &text, &len, NULL), DG_E_NOTFOUND);
	assert_int_equal(dg_rollover_key_store(dir, k, id, NULL), DG_OK);
	snprintf(path, sizeof(path), "%s/keys/%s.key", dir, id);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
	assert_int_equal(dg_rollover_key_load(dir, id, &back, NULL), DG_OK);
	assert_int_equal(EVP_PKEY_eq(k, back), 1);
	memcpy(s.current, id, 65);
	memcpy(s.next, ID_B, 65);
	assert_int_equal(dg_rollover_save(dir, &s, NULL), DG_OK);
	snprintf(path, sizeof(path), "%s/state.json", dir);
	assert_int_equal(dg_rollover_read_file(path, 65536, &text, &len, NULL), DG_OK);
	assert_int_equal(dg_rollover_state_parse(text, len, &t, NULL), DG_OK);
	assert_string_equal(t.current, id);
	free(text);
	memcpy(s.current, ID_A, 65); /* the key is no longer named: gc removes it */
	dg_rollover_gc(dir, &s);
	snprintf(path, sizeof(path), "%s/keys/%s.key", dir, id);
	assert_int_not_equal(stat(path, &sb), 0);
	EVP_PKEY_free(k);
	EVP_PKEY_free(back);
	snprintf(path, sizeof(path), "rm -rf %s", dir);
	assert_int_equal(system(path), 0);
}

static void test_hook(void **state)
{
	struct dg_rollover_env env[] = {{"DG_T", "x"}};
	struct dg_err err = {0};

	(void)state;
	assert_int_equal(dg_rollover_hook_run("test \"$DG_T\" = x", env, 1, 5, &err), DG_OK);
	assert_int_equal(dg_rollover_hook_run("exit 3", NULL, 0, 5, &err), DG_E_IO);
	assert_non_null(strstr(err.msg, "status 3"));
	assert_int_equal(dg_rollover_hook_run("sleep 5", NULL, 0, 1, &err), DG_E_TIMEOUT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_conf_table),     cmocka_unit_test(test_conf_roundtrip),
	    cmocka_unit_test(test_state_roundtrip), cmocka_unit_test(test_state_bad),
	    cmocka_unit_test(test_recovery_table), cmocka_unit_test(test_safe_at_table),
	    cmocka_unit_test(test_note_and_retarget), cmocka_unit_test(test_digest_and_desired),
	    cmocka_unit_test(test_store),          cmocka_unit_test(test_hook),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
